#!/usr/bin/env bash
# test_lock.sh - a run directory belongs to one run (src/lock.c): while a run
# holds OUTDIR/.lock, run (fresh, --force, --resume), resume, merge -o and
# export-data -o are refused with exit 2 naming the holder, and change
# nothing; of two fresh runs started together exactly one runs; a stale lock
# (its process gone, or its heartbeat old) is taken over with a notice; a
# requeue of the same Slurm job waits for the previous run's rank 0 to exit;
# tsim unlock removes a lock; the lock is gone after exit 0, 2 and 3.
# Runs are held mid-run with TSIM_FAULT's hold (src/fault.h), never timed.
SUITE=lock
source "$(dirname "$0")/lib.sh"

cat > "$TMP/small.yaml" <<'YAML'
name: small
model: {d: 5, K: [1, 4]}
data:  {n: 2000, n_test: 200, seed: 2, chunk: 256, engine: sharded}
init:  {scale: 0.3, seed: [0, 1]}
train: {eta: [0.02, 3.0, 0.05], iterations: 2000, log_every: 100}
YAML
run_np 1 run "$TMP/small.yaml" -q -o "$TMP/ref" >/dev/null 2>&1
check "uninterrupted reference run" test -s "$TMP/ref/metrics.csv"
same_run() { # same_run DIR: all three tables equal the reference's
  local f
  for f in cells.csv metrics.csv neurons.csv; do same_csv "$TMP/ref/$f" "$1/$f" || return 1; done
}
wait_for() { # wait_for FILE PID: until FILE exists (true) or PID has ended (false)
  while [ ! -e "$1" ]; do
    kill -0 "$2" 2>/dev/null || { [ -e "$1" ]; return; }
    sleep 0.05
  done
}
wait_grep() { # wait_grep PATTERN FILE PID: until FILE holds PATTERN or PID has ended
  while ! grep -q "$1" "$2" 2>/dev/null; do
    kill -0 "$3" 2>/dev/null || { grep -q "$1" "$2" 2>/dev/null; return; }
    sleep 0.05
  done
}
# the files of DIR but the lock, with their checksums
listing() { (cd "$1" && find . -type f ! -name .lock | sort | xargs md5sum); }
lock_pid() { sed -n 's/^pid: //p' "$1/.lock" 2>/dev/null; }
# named DIR FILE: FILE is one line: DIR in use, naming the holder of DIR/.lock
# (this host, its pid) and tsim unlock
named() {
  local pid
  pid=$(lock_pid "$1")
  [ -n "$pid" ] && [ "$(wc -l < "$2")" -eq 1 ] &&
    grep -q "^$1: in use by another tsim (host $(hostname), pid $pid, no Slurm job, started .*, heartbeat [0-9]* s ago).*tsim unlock $1\$" "$2"
}
# fake_lock DIR HOST PID JOB: a lock written by hand
fake_lock() {
  mkdir -p "$1"
  printf 'tsim run directory lock\nhost: %s\npid: %s\nslurm_job_id: %s\nstarted: 2000-01-01T00:00:00+0000\ncommand: tsim run by hand\n' \
    "$2" "$3" "$4" > "$1/.lock"
}
refused() { [ "$1" -eq 2 ] && named "$2" "$3"; }  # refused RC DIR ERRFILE
# done_right RC DIR: exit 0, the reference's tables, no lock left
done_right() { [ "$1" -eq 0 ] && same_run "$2" && [ ! -e "$2/.lock" ]; }
HOLD="cell=6,iter=500,do=hold"


# --- a run held in the middle (1 rank): every other command on its OUTDIR is
# refused, and changes nothing
D="$TMP/busy"
(TSIM_FAULT="$HOLD,file=$TMP/busy.held" run_np 1 run "$TMP/small.yaml" -q -o "$D" \
   >"$TMP/busy.out" 2>&1; echo $? > "$TMP/busy.rc") &
held=$!
check "a held run has reached its hold" wait_for "$TMP/busy.held" $held
pid=$(lock_pid "$D")
check "the held run's $D/.lock names this host and its live rank 0" \
  bash -c "[ -n '$pid' ] && kill -0 '$pid' && grep -qx 'host: $(hostname)' '$D/.lock'"
before=$(listing "$D")
run_np 2 run "$TMP/small.yaml" -q -o "$D" --force >/dev/null 2>"$TMP/force.err"; rc=$?
check "--force on a running OUTDIR: exit 2 (got $rc), one line naming the holder and tsim unlock" \
  refused $rc "$D" "$TMP/force.err"
run_np 2 run "$TMP/small.yaml" -q -o "$D" >/dev/null 2>"$TMP/fresh.err"; rc=$?
check "a fresh run on a running OUTDIR: exit 2 (got $rc) naming the holder" \
  refused $rc "$D" "$TMP/fresh.err"
run_np 2 run "$TMP/small.yaml" -q -o "$D" --resume >/dev/null 2>"$TMP/resume.err"; rc=$?
check "--resume on a running OUTDIR: exit 2 (got $rc) naming the holder" \
  refused $rc "$D" "$TMP/resume.err"
run_np 2 resume "$D" -q >/dev/null 2>"$TMP/resume2.err"; rc=$?
check "tsim resume of a running OUTDIR: exit 2 (got $rc) naming the holder" \
  refused $rc "$D" "$TMP/resume2.err"
run_np 2 merge -o "$D" --force "$TMP/ref" >/dev/null 2>"$TMP/merge.err"; rc=$?
check "merge -o a running OUTDIR: exit 2 (got $rc) naming the holder" \
  refused $rc "$D" "$TMP/merge.err"
run_np 2 export-data "$TMP/small.yaml" -o "$D" >/dev/null 2>"$TMP/export.err"; rc=$?
check "export-data -o a running OUTDIR: exit 2 (got $rc) naming the holder" \
  refused $rc "$D" "$TMP/export.err"
# an old-looking heartbeat does not free a lock whose rank 0 lives here
touch -d '10 minutes ago' "$D/.lock"
run_np 2 run "$TMP/small.yaml" -q -o "$D" --force >/dev/null 2>"$TMP/old.err"; rc=$?
check "a live holder with an old heartbeat: still refused (got $rc)" \
  refused $rc "$D" "$TMP/old.err"
check "the refused commands changed nothing in $D" test "$(listing "$D")" = "$before"
touch -d '5 minutes ago' "$TMP/mark"
beats() { # the lock's mtime passes the mark (a hang guard of 60 s, the heartbeat is 10 s)
  local n=0
  while [ ! "$D/.lock" -nt "$TMP/mark" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
  [ "$D/.lock" -nt "$TMP/mark" ]
}
check "the held run's heartbeat renews its lock's mtime" beats
touch "$D/STOP"; wait $held
check "the held run, stopped, exits 3 (got $(cat "$TMP/busy.rc"))" test "$(cat "$TMP/busy.rc")" = 3
check "no lock left after exit 3" test ! -e "$D/.lock"
rm -f "$D/STOP"
run_np 2 resume "$D" -q >/dev/null 2>&1; rc=$?
check "its resume: exit 0 (got $rc), the uninterrupted run's tables, no lock left" \
  done_right $rc "$D"

# --- two fresh runs of a new OUTDIR started together: one runs (and holds
# at cell 6), the other is refused naming it
D="$TMP/two"
for i in 1 2; do
  (TSIM_FAULT="$HOLD,file=$TMP/two.held" run_np 1 run "$TMP/small.yaml" -q -o "$D" \
     >/dev/null 2>"$TMP/two.$i.err"; echo $? > "$TMP/two.$i.rc") &
  two[$i]=$!
done
wait -n "${two[@]}"        # the refused one ends; the other is held
wait_for "$TMP/two.held" "${two[1]}" || wait_for "$TMP/two.held" "${two[2]}"
touch "$D/STOP"; wait "${two[@]}"
rcs="$(cat "$TMP/two.1.rc") $(cat "$TMP/two.2.rc")"
check "two fresh runs at once: one stopped (3), one refused (2) (got $rcs)" \
  bash -c "[ '$rcs' = '2 3' ] || [ '$rcs' = '3 2' ]"
loser=1; [ "$(cat "$TMP/two.2.rc")" = 2 ] && loser=2
check "two fresh runs at once: the refused one names the holder" \
  grep -q "^$D: in use by another tsim (host $(hostname), pid [0-9]*, no Slurm job" "$TMP/two.$loser.err"
rm -f "$D/STOP"
run_np 2 resume "$D" -q >/dev/null 2>&1; rc=$?
check "two fresh runs at once: the resume gives the reference's tables (exit $rc)" done_right $rc "$D"

# --- exit 2 before the lock writes nothing; exit 2 after it leaves no lock
run_np 2 run "$TMP/small.yaml" -q --set model.K=0 -o "$TMP/bad" >/dev/null 2>&1; rc=$?
check "a bad config: exit 2 (got $rc), no OUTDIR created" test $rc -eq 2 -a ! -e "$TMP/bad"
before=$(listing "$TMP/ref")
run_np 2 run "$TMP/small.yaml" -q -o "$TMP/ref" >/dev/null 2>"$TMP/earlier.err"; rc=$?
check "a run over earlier results without --force: exit 2 (got $rc)" \
  grep -q 'holds the results of an earlier run' "$TMP/earlier.err"
check "... no lock left, nothing changed" \
  test ! -e "$TMP/ref/.lock" -a "$(listing "$TMP/ref")" = "$before"
TSIM_FAULT=rank=0,batch=1,do=fail run_np 2 run "$TMP/small.yaml" -q -o "$TMP/failed" \
  >/dev/null 2>&1; rc=$?
check "a failed run: exit 1 (got $rc), no lock left" test $rc -eq 1 -a ! -e "$TMP/failed/.lock"
run_np 2 export-data "$TMP/small.yaml" -o "$TMP/exp" >/dev/null 2>&1; rc=$?
check "export-data into a free DIR: exit 0 (got $rc), no lock left" \
  test $rc -eq 0 -a -s "$TMP/exp/x.npy" -a ! -e "$TMP/exp/.lock"
run_np 2 merge -o "$TMP/merged" "$TMP/ref" >/dev/null 2>&1; rc=$?
check "merge into a free OUTDIR: exit 0 (got $rc), no lock left" \
  done_right $rc "$TMP/merged"

# --- stale locks are taken over with a notice
true & dead=$!; wait $dead
fake_lock "$TMP/gone" "$(hostname)" $dead ""
run_np 2 run "$TMP/small.yaml" -q -o "$TMP/gone" >/dev/null 2>"$TMP/gone.err"; rc=$?
check "a lock of this host whose pid is gone: taken over (exit $rc), tables right" \
  done_right $rc "$TMP/gone"
check "... with a one-line notice naming it" grep -q \
  "^tsim: $TMP/gone: taking over the lock of pid $dead on host $(hostname) (.*): that process is gone$" \
  "$TMP/gone.err"
fake_lock "$TMP/far" elsewhere.invalid 1 ""
run_np 2 run "$TMP/small.yaml" -q -o "$TMP/far" >/dev/null 2>"$TMP/far.err"; rc=$?
check "a lock of another host with a fresh heartbeat: refused (exit $rc) naming it" \
  grep -q "^$TMP/far: in use by another tsim (host elsewhere.invalid, pid 1, no Slurm job" "$TMP/far.err"
check "... nothing written" test $rc -eq 2 -a ! -e "$TMP/far/cells.csv"
touch -d '10 minutes ago' "$TMP/far/.lock"
run_np 2 run "$TMP/small.yaml" -q -o "$TMP/far" >/dev/null 2>"$TMP/far2.err"; rc=$?
check "... with a heartbeat 10 minutes old: taken over (exit $rc), tables right" \
  done_right $rc "$TMP/far"
check "... with a notice" grep -q \
  "^tsim: $TMP/far: taking over the lock of pid 1 on host elsewhere.invalid (.*): its heartbeat is 6[0-9][0-9] s old" \
  "$TMP/far2.err"

# --- tsim unlock
fake_lock "$TMP/un" elsewhere.invalid 1 77
"$TSIM" unlock "$TMP/un" >"$TMP/un.out" 2>&1; rc=$?
check "tsim unlock: exit 0 (got $rc), the lock removed" test $rc -eq 0 -a ! -e "$TMP/un/.lock"
check "... naming its holder" grep -q "host elsewhere.invalid, pid 1, Slurm job 77" "$TMP/un.out"
check "tsim --help lists unlock" bash -c "'$TSIM' --help | grep -q '^  unlock OUTDIR'"

# --- a requeue of the same Slurm job waits for the previous run's rank 0
sleep 600 & holder=$!   # stands for a rank 0 that outlives its killed mpirun
fake_lock "$TMP/rq" "$(hostname)" $holder 4242
SLURM_JOB_ID=999 run_np 2 run "$TMP/small.yaml" -q -o "$TMP/rq" >/dev/null 2>"$TMP/rq0.err"; rc=$?
check "a live holder here of another Slurm job: refused at once (exit $rc)" \
  grep -q "^$TMP/rq: in use by another tsim (host $(hostname), pid $holder, Slurm job 4242" "$TMP/rq0.err"
(SLURM_JOB_ID=4242 run_np 2 run "$TMP/small.yaml" -q -o "$TMP/rq" >/dev/null 2>"$TMP/rq.err"
 echo $? > "$TMP/rq.rc") &
rq=$!
check "a requeue of its Slurm job waits, saying so" wait_grep \
  "^tsim: $TMP/rq: waiting up to 30 s for pid $holder of the previous run (Slurm job 4242) to exit$" \
  "$TMP/rq.err" $rq
kill $holder; wait $holder 2>/dev/null; wait $rq
check "... and runs once it has exited (exit $(cat "$TMP/rq.rc")), tables right" \
  done_right "$(cat "$TMP/rq.rc")" "$TMP/rq"

# --- kill -9 of mpirun (its ranks linger a moment), then at once a resume in
# the same Slurm job
SLURM_JOB_ID=4343 TSIM_FAULT="cell=6,iter=500,do=kill,to=parent" run_np 2 run "$TMP/small.yaml" \
  -q -o "$TMP/k9" >/dev/null 2>&1; rc=$?
check "kill -9 of mpirun: the run dies (exit $rc) leaving its lock" \
  test $rc -ne 0 -a $rc -ne 2 -a -e "$TMP/k9/.lock"
SLURM_JOB_ID=4343 run_np 2 resume "$TMP/k9" -q >/dev/null 2>"$TMP/k9.err"; rc=$?
check "... the resume of the same job at once: exit 0 (got $rc), tables right, no lock left" \
  done_right $rc "$TMP/k9"
finish
