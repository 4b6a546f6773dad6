#!/usr/bin/env bash
# test_slurm.sh - the Slurm job scripts in jobs/ against a real single-node
# Slurm started for the test (tests/slurm/start.sh, as root; stopped in the
# EXIT trap): a plain job, a job array with its merge job, a job requeued by
# force in the middle and a job that runs out of time, checkpoints and
# requeues itself. Every run's tables must equal a direct mpirun run's byte
# for byte. Tests that cannot run here print "skip ... (reason)"; the closing
# line is "slurm: N passed, N failed, N skipped".
# TSIM_SKIP_SLURM=1 skips everything.
SUITE=slurm
source "$(dirname "$0")/lib.sh"
SKIPPED=0
skip() { SKIPPED=$((SKIPPED + 1)); echo "skip $SUITE: $1 ($2)"; }
done_() { echo "$SUITE: $PASSED passed, $FAILED failed, $SKIPPED skipped"; [ "$FAILED" -eq 0 ]; }
TESTS=("a: tsim.sbatch -n 2 equals a direct run"
       "b: job array of 3 + merge job equals a direct run"
       "c: a job requeued by force in the middle resumes and equals a direct run"
       "d: a job out of time checkpoints, requeues itself and equals a direct run")
skip_all() { local t; for t in "${TESTS[@]}"; do skip "$t" "$1"; done; done_; exit; }

[ "${TSIM_SKIP_SLURM:-0}" = 1 ] && skip_all "TSIM_SKIP_SLURM=1"
# The job scripts are the same in both passes of `make check`; under ASan the
# 1-minute job of test d needs more restarts than the test waits for, and the
# code they run is covered under the sanitizers by test_checkpoint and
# test_sched. So the sanitizer pass reports these as skipped.
[ "${TSIM_SANITIZE:-0}" = 1 ] && skip_all "sanitizer pass: Slurm jobs are tested in the normal pass"
command -v mpirun >/dev/null || skip_all "no mpirun"

# The job script run directly (no Slurm): an OUTDIR tsim cannot create is
# bad input, exit 2, and the script says so; mpirun's abort banner does not
# bury tsim's one line
cat > "$TMP/tiny.yaml" <<'YAML'
name: tiny
model: {d: 3, K: 1}
data:  {n: 100, n_test: 0}
train: {eta: 0.02, iterations: 10, log_every: 5}
YAML
touch "$TMP/afile"
(unset SLURM_JOB_ID; TSIM_ROOT="$ROOT" TSIM_BIN="$TSIM" TSIM_MPIRUN_ARGS="-np 1" \
   timeout 120 bash "$ROOT/jobs/tsim.sbatch" "$TMP/tiny.yaml" "$TMP/afile/out" >"$TMP/afile.log" 2>&1)
rc=$?
check "an OUTDIR that cannot be created (under a file): the script exits 2 ($rc)" test $rc -eq 2
check "... tsim's one line names the directory" \
  grep -q "^$TMP/afile/out: cannot create directory: Not a directory" "$TMP/afile.log"
check "... the script's last line says bad input, and claims nothing about finished cells" \
  bash -c "tail -n 1 '$TMP/afile.log' | grep -q 'tsim exit 2 (bad input' && ! grep -q 'finished cells and the last checkpoint stay' '$TMP/afile.log'"
no_banner() { ! grep -qE 'mpirun detected that one or more processes exited|Primary job +terminated' "$1"; }
check "... no mpirun abort banner" no_banner "$TMP/afile.log"
stamped() { ! grep -q '^\[\] tsim.sbatch' "$1" && grep -q '^\[[0-9-]* [0-9:]*\] tsim.sbatch' "$1"; }
check "... every line of the script has its time stamp" stamped "$TMP/afile.log"

PREFIX="$TMP/slurm"
cleanup() {
  if [ -f "$PREFIX/etc/slurm.conf" ]; then
    PREFIX="$PREFIX" bash "$ROOT/tests/slurm/stop.sh" >"$TMP/stop.log" 2>&1 \
      || { echo "slurm stop.sh failed:"; cat "$TMP/stop.log"; }
  fi
  # TSIM_TEST_KEEP=DIR: keep the job logs and Slurm's logs for a post-mortem
  [ -n "${TSIM_TEST_KEEP:-}" ] && mkdir -p "$TSIM_TEST_KEEP" \
    && cp -r "$TMP/jobs" "$PREFIX/log" "$TSIM_TEST_KEEP/" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
mkdir -p "$PREFIX" "$TMP/jobs"
chmod 711 "$TMP"   # munged wants every directory above its socket searchable by all
SECONDS=0
PREFIX="$PREFIX" bash "$ROOT/tests/slurm/start.sh" >"$TMP/start.log" 2>&1
rc=$?
if [ $rc -eq 77 ]; then
  skip_all "$(grep -h '^start.sh:' "$TMP/start.log" | tail -1 | sed 's/^start.sh: //')"
elif [ $rc -ne 0 ]; then
  fail "local Slurm starts (tests/slurm/start.sh exit $rc)"
  sed 's/^/  | /' "$TMP/start.log" | tail -n 20
  skip_all "Slurm did not start"
fi
echo "# local Slurm up in ${SECONDS} s: $(grep -h 'up:' "$TMP/start.log" | sed 's/^\[[^]]*\] //')"
source "$PREFIX/env.sh"
export TSIM_ROOT="$ROOT" TSIM_BIN="$TSIM"

has_resume=0
"$TSIM" run --help 2>/dev/null | grep -q -- --resume && has_resume=1

# --- helpers
source "$ROOT/tests/slurm/jobs.sh"

# --- configs and direct reference runs
cat > "$TMP/small.yaml" <<'YAML'
name: small
model: {d: 5, K: [1, 3]}
data:  {n: 2000, n_test: 200, chunk: 256, engine: sharded}
init:  {seed: [0, 1]}
train: {eta: 0.02, iterations: 2000, log_every: 100}
YAML
# about 25 s on 2 ranks here; every cell runs all 20000 iterations. The
# jobs' first start is stopped at a chosen point, not after a delay
# (TSIM_FAULT, TSIM_FAKE_CLOCK: src/fault.h): c holds cell 3 at t = 2000
# until the test has requeued it; d's tsim stops itself at half the time
# left (under 2 minutes remain, from squeue), which the fake clock (5 ms a
# boundary: about 28 s = 5600 of rank 0's 20000 or more) puts in the middle
# of its first batch, unless Slurm's USR1 @45 comes first. Later starts run
# without them (tsim-first below), on the real clock.
cat > "$TMP/long.yaml" <<'YAML'
name: long
model: {d: 20, K: [2, 4]}
data:  {n: 24000, n_test: 500, chunk: 1024, engine: sharded}
init:  {seed: [0, 1, 2]}
train: {eta: 0.005, iterations: 20000, log_every: 400}
YAML

cd "$TMP/jobs" || exit 1   # the jobs' default log files land here
cat > "$TMP/tsim-first" <<EOF
#!/usr/bin/env bash
# a job's first start runs with TSIM_FAULT and TSIM_FAKE_CLOCK, a restart without
[ "\${SLURM_RESTART_COUNT:-0}" = 0 ] || unset TSIM_FAULT TSIM_FAKE_CLOCK
exec "$TSIM" "\$@"
EOF
chmod +x "$TMP/tsim-first"

# Everything is queued at once and the direct reference runs go on beside
# the jobs: Slurm runs the jobs (2 CPUs each) in turns, and after a requeue
# a job waits about 30 s (cred_expire) before it runs again.
# a. one job on 2 tasks (mpirun); b. an array of 3 tasks (srun) + merge
ja=$(sbatch --parsable -n 2 "$ROOT/jobs/tsim.sbatch" "$TMP/small.yaml" "$TMP/a" 2>"$TMP/a.err")
TSIM_LAUNCHER=srun TSIM_SBATCH_ARGS="-n 2" "$ROOT/jobs/submit-array.sh" \
  "$TMP/small.yaml" 3 "$TMP/b" >"$TMP/b.submit" 2>&1
read -r jb jm < <(tail -n 1 "$TMP/b.submit")
check "a: sbatch jobs/tsim.sbatch accepted (job ${ja:-none})" test -n "$ja"
check "b: submit-array.sh printed two job ids ($(tail -n 1 "$TMP/b.submit"))" \
  bash -c "[[ '${jb:-}' =~ ^[0-9]+\$ && '${jm:-}' =~ ^[0-9]+\$ ]]"
# c. requeued by force in the middle; d. a 1-minute job stopped by SIGUSR1
# 45 s before its end (or by tsim's own deadline from squeue), requeued by
# the script
if [ $has_resume = 1 ]; then
  jc=$(TSIM_BIN="$TMP/tsim-first" TSIM_FAULT="cell=3,iter=2000,do=hold,file=$TMP/c.held" \
         sbatch --parsable -n 2 "$ROOT/jobs/tsim.sbatch" "$TMP/long.yaml" "$TMP/c" --progress-seconds 5)
  jd=$(TSIM_BIN="$TMP/tsim-first" TSIM_FAKE_CLOCK=0.005 \
         sbatch --parsable -n 2 --time=1 --signal=B:USR1@45 "$ROOT/jobs/tsim.sbatch" \
         "$TMP/long.yaml" "$TMP/d" --progress-seconds 5)
  ( t0=$SECONDS
    run_np 2 run "$TMP/long.yaml" -q -o "$TMP/ref_long" >/dev/null 2>&1
    echo $((SECONDS - t0)) > "$TMP/ref_long.seconds" ) &
  ref_pid=$!
fi

run_np 2 run "$TMP/small.yaml" -q -o "$TMP/ref_small" >/dev/null 2>&1
check "direct mpirun -np 2 run of the small grid" test -s "$TMP/ref_small/neurons.csv"

if [ $has_resume = 1 ]; then
  requeued=0
  wait_for "$TMP/c.held" && scontrol requeue "$jc" && requeued=1
  check "c: job $jc held cell 3 at t = 2000, then scontrol requeue ($SECONDS s)" test $requeued = 1
fi

if [ -n "$ja" ]; then
  wait_jobs 120 "$ja"
  check "a: job $ja COMPLETED" all_completed "$ja"
  check "a: the log says tsim finished" grep -q 'tsim exit 0: all cells finished' "$TMP/jobs/tsim-$ja.out"
  check "a: submitted without --time, its log says 'no time limit' (no made-up end date)" \
    grep -q 'start: .*, no time limit$' "$TMP/jobs/tsim-$ja.out"
  check "a: cells.csv (but wall_s), metrics.csv, neurons.csv equal the direct run's" \
    same_tables "$TMP/ref_small" "$TMP/a"
  all_completed "$ja" && same_tables "$TMP/ref_small" "$TMP/a" >/dev/null || show_log "$TMP/jobs/tsim-$ja.out"
else
  show_log "$TMP/a.err"
fi

if [ -n "${jb:-}" ] && [ -n "${jm:-}" ]; then
  wait_jobs 180 "$jb" "$jm"
  check "b: the 3 array tasks COMPLETED" \
    bash -c "[ \$(squeue -h -t all -j $jb -o %T | grep -c '^COMPLETED') -eq 3 ]"
  check "b: slice i holds the cells with id % 3 == i" \
    test "$(tail -n +2 "$TMP/b/slice-1/cells.csv" | cut -d, -f1 | tr '\n' ' ')" = "1 "
  check "b: merge job $jm COMPLETED after the array" all_completed "$jm"
  check "b: merged tables equal the direct run's" same_tables "$TMP/ref_small" "$TMP/b/merged"
  all_completed "$jm" || { show_log "$TMP/b.submit"; for f in "$TMP"/jobs/tsim-"$jb"_*.out "$TMP/jobs/tsim-$jm.out"; do show_log "$f" 15; done; }
else
  show_log "$TMP/b.submit"
fi

if [ $has_resume = 0 ]; then
  skip "${TESTS[2]}" "bin/tsim run has no --resume yet"
  skip "${TESTS[3]}" "bin/tsim run has no --resume yet"
  done_; exit
fi

wait "$ref_pid"
long_s=$(cat "$TMP/ref_long.seconds" 2>/dev/null || echo '?')
check "direct mpirun -np 2 run of the long grid ($long_s s, beside the jobs)" test -s "$TMP/ref_long/neurons.csv"
wait_jobs 300 "$jc" "$jd"
logc="$TMP/jobs/tsim-$jc.out" logd="$TMP/jobs/tsim-$jd.out"
check "c: job $jc COMPLETED by itself" all_completed "$jc"
check "c: it ran again with SLURM_RESTART_COUNT >= 1" grep -qE 'SLURM_RESTART_COUNT=[1-9]' "$logc"
check "c: the first run saw the SIGTERM of the requeue and did not requeue itself" \
  grep -q 'ended by SIGTERM from Slurm' "$logc"
check "c: the log names the checkpoint tsim wrote on the SIGTERM" \
  grep -qE 'ended by SIGTERM from Slurm .*tsim wrote the checkpoint gen-[0-9]+' "$logc"
check "c: tables equal the direct run's" same_tables "$TMP/ref_long" "$TMP/c"
check "d: job $jd COMPLETED" all_completed "$jd"
check "d: tsim stopped with exit 3 and the script requeued the job" \
  grep -q 'tsim exit 3: stopped with a checkpoint.*scontrol requeue' "$logd"
how=$(grep -oE 'got SIGUSR1|stop requested \(time limit\)' "$logd" | head -n 1)
check "d: stopped by SIGUSR1 from Slurm or tsim's own deadline (${how:-neither})" test -n "$how"
check "d: resumed from a checkpoint with SLURM_RESTART_COUNT >= 1" \
  bash -c "grep -qE 'SLURM_RESTART_COUNT=[1-9]' '$logd' && grep -q 'resuming .* from checkpoint' '$logd'"
check "d: tables equal the direct run's" same_tables "$TMP/ref_long" "$TMP/d"
check "d: no mpirun abort banner after tsim's exit 3" no_banner "$logd"
check "c, d: every line of the script has its time stamp (after a requeue too)" \
  bash -c "$(declare -f stamped); stamped '$logc' && stamped '$logd'"
echo "# c started $(grep -c 'start: SLURM_RESTART_COUNT' "$logc") times, d $(grep -c 'start: SLURM_RESTART_COUNT' "$logd"); $SECONDS s since Slurm started"
if ! all_completed "$jc" || ! all_completed "$jd" || ! same_tables "$TMP/ref_long" "$TMP/c" >/dev/null \
   || ! same_tables "$TMP/ref_long" "$TMP/d" >/dev/null; then
  show_log "$logc" 40; show_log "$logd" 40
fi
done_
