#!/usr/bin/env bash
# test_checkpoint.sh - checkpoints and exact resume: stop requests (STOP
# file, SIGTERM, SIGUSR1, time limit) exit 3 and resume to the bits of an
# uninterrupted run on another rank count; kill -9 at chosen points (in a
# cell, at each step of a checkpoint's commit), resumed at other rank
# counts, gives identical tables; damaged
# checkpoints fall back to the previous generation; a changed config is
# refused; a failing checkpoint write leaves the previous one intact.
SUITE=checkpoint
source "$(dirname "$0")/lib.sh"

cat > "$TMP/long.yaml" <<'YAML'
name: long
model: {d: 5, K: [1, 4]}
data:  {n: 3000, n_test: 300, seed: 2, chunk: 256, engine: sharded}
init:  {scale: 0.3, seed: [0, 1]}
train: {eta: [0.02, 3.0, 0.05], iterations: 20000, log_every: 200}
YAML
# Stops land at chosen points (TSIM_FAULT, src/fault.h), never after a
# delay: cells 6, 8, 9 and 11 (K = 4, eta 0.02 and 0.05) run all 20000
# iterations, so a stop at one of them falls in the middle of the run.
# TSIM_FAKE_CLOCK makes the periodic checkpoints and time limits count
# rank 0's iteration boundaries instead of seconds.
run_np 2 run "$TMP/long.yaml" -q -o "$TMP/ref" >"$TMP/ref.out" 2>&1
check "uninterrupted reference run" test -s "$TMP/ref/metrics.csv"
same_run() { # same_run DIR: all three tables equal the reference's
  local f
  for f in cells.csv metrics.csv neurons.csv; do same_csv "$TMP/ref/$f" "$1/$f" || return 1; done
}
export TSIM_FAKE_CLOCK=0.001 # run.checkpoint_seconds 1 = every 1000 boundaries

# STOP file right after the second periodic checkpoint: exit 3 with three
# generations written (two kept), then resume on another rank count
TSIM_FAULT=checkpoint=2,do=stop run_np 3 run "$TMP/long.yaml" -o "$TMP/stop" --progress log \
  --checkpoint-seconds 1 >"$TMP/stop.log" 2>&1
check "STOP file: exit status 3" test $? = 3
check "STOP file: the log says why" grep -q 'stop requested (STOP file)' "$TMP/stop.log"
check "STOP file: the manifest says stopped" grep -q '"status": "stopped"' "$TMP/stop/manifest.json"
rm -f "$TMP/stop/STOP"
run_np 2 resume "$TMP/stop" -q >"$TMP/stop2.out" 2>"$TMP/stop2.err"
check "resume on 2 ranks: exit 0" test $? -eq 0
check "STOP + resume: tables byte-identical to the uninterrupted run" same_run "$TMP/stop"
# the tally of a resumed run counts all its cells, saying how many ran now
tally_counts() { sed -n 's/^tally: \(.*skipped(invalid)\).*/\1/p' "$1"; }
check "resume: the tally counts every cell, as the uninterrupted run's ($(tally_counts "$TMP/ref.out"))" \
  test -n "$(tally_counts "$TMP/ref.out")" -a "$(tally_counts "$TMP/stop2.out")" = "$(tally_counts "$TMP/ref.out")"
resumed_split() { # "(A run in this resume, B finished before it)", A + B = 12, B > 0
  local a b
  read -r a b < <(sed -n 's/^tally: .*(\([0-9]*\) run in this resume, \([0-9]*\) finished before it).*/\1 \2/p' "$1")
  [ -n "$b" ] && [ "$b" -gt 0 ] && [ $((a + b)) -eq 12 ]
}
check "resume: the tally says how many cells ran in the resume and how many before" \
  resumed_split "$TMP/stop2.out"
check "no pending/ left" test ! -e "$TMP/stop/pending"
# the STOP file touched by the team running cell 8 at t = 3000 (that team
# holds the cell there until the stop reaches it)
TSIM_FAULT=cell=8,iter=3000,do=stop run_np 3 run "$TMP/long.yaml" -o "$TMP/stop8" -q >/dev/null 2>&1
check "STOP file at cell 8, t = 3000: exit status 3" test $? = 3
rm -f "$TMP/stop8/STOP"
run_np 1 resume "$TMP/stop8" --progress log >"$TMP/stop8.out" 2>&1
check "... resumed on 1 rank: identical tables" same_run "$TMP/stop8"
check "... says '1 rank', '1 team'" \
  bash -c "grep -qE '^tsim: [0-9]+ cells? on 1 rank as 1 team of 1' '$TMP/stop8.out' && ! grep -qE '\b1 (rank|team|cell)s\b' '$TMP/stop8.out'"

# SIGTERM to every rank (as srun and Slurm deliver it), while the team of
# cell 6 holds it at t = 2000; resume on 1 rank
(TSIM_FAULT="cell=6,iter=2000,do=hold,file=$TMP/term.held" run_np 2 run "$TMP/long.yaml" \
   -o "$TMP/term" -q >/dev/null 2>&1; echo $? > "$TMP/term.rc") &
wait_for "$TMP/term.held"; pkill -TERM -f "^$TSIM run $TMP/long.yaml -o $TMP/term" ; wait
check "SIGTERM: exit status 3" test "$(cat "$TMP/term.rc")" = 3
run_np 1 run "$TMP/long.yaml" -o "$TMP/term" --resume -q >/dev/null 2>&1
check "SIGTERM + resume on 1 rank: identical tables" same_run "$TMP/term"
# SIGUSR1 to mpirun, which forwards it to the ranks (the job scripts' signal)
TSIM_FAULT=cell=9,iter=5000,do=USR1,to=parent run_np 3 run "$TMP/long.yaml" -o "$TMP/usr1" -q >/dev/null 2>&1
check "SIGUSR1 through mpirun: exit status 3" test $? = 3
run_np 2 resume "$TMP/usr1" -q >/dev/null 2>&1
check "SIGUSR1 + resume on 2 ranks: identical tables" same_run "$TMP/usr1"
# SIGTERM to mpirun: Open MPI's mpirun exits 1 whatever its ranks return,
# so the record of the stop is tsim's manifest (jobs/ read it)
TSIM_FAULT=cell=11,iter=1000,do=TERM,to=parent run_np 2 run "$TMP/long.yaml" -o "$TMP/mterm" -q >/dev/null 2>&1
check "SIGTERM to mpirun: the manifest says stopped" grep -q '"status": "stopped"' "$TMP/mterm/manifest.json"
run_np 2 resume "$TMP/mterm" -q >/dev/null 2>&1
check "... and the resume gives identical tables" same_run "$TMP/mterm"

# --time-limit 5 (5000 boundaries of the fake clock): stops by itself with
# 3, resumes with a team of 2
run_np 2 run "$TMP/long.yaml" -o "$TMP/tl" -q --time-limit 5 >/dev/null 2>&1; rc=$?
check "--time-limit: exit status 3 (got $rc)" test $rc -eq 3
run_np 2 run "$TMP/long.yaml" -o "$TMP/tl" -q --resume --team-size 2 >/dev/null 2>&1
check "time limit + resume with a team of 2: identical tables" same_run "$TMP/tl"

# kill -9 at chosen points (mpirun with SIGKILL, then its ranks; or rank 0
# alone, which takes the job down), among them every step of a checkpoint's
# commit, each resumed on another rank count
kills=("cell=6,iter=1500,do=kill,to=parent" "checkpoint=2,step=written,do=kill"
       "checkpoint=1,step=synced,do=kill,to=parent" "checkpoint=2,step=renamed,do=kill"
       "checkpoint=3,step=committed,do=kill,to=parent")
nps=(3 1 2 4 2)
for i in 0 1 2 3 4; do
  TSIM_FAULT=${kills[$i]} run_np ${nps[$i]} run "$TMP/long.yaml" -o "$TMP/k9" --resume -q \
    --checkpoint-seconds 0.5 >/dev/null 2>&1
  rc=$?
  pkill -KILL -f "^$TSIM run $TMP/long.yaml -o $TMP/k9" # ranks left by a killed mpirun
  n=0; while pgrep -f "^$TSIM run $TMP/long.yaml -o $TMP/k9" >/dev/null && [ $n -lt 300 ]; do
    sleep 0.1; n=$((n + 1)); done # gone (else the resume finds their lock held)
  check "kill -9 at ${kills[$i]} on ${nps[$i]} ranks: the run died (exit $rc)" test $rc -ne 0 -a $rc -ne 3
done
unset TSIM_FAKE_CLOCK
run_np 4 run "$TMP/long.yaml" -o "$TMP/k9" --resume -q >/dev/null 2>&1
check "five kill -9 at chosen points, resumed on 1-4 ranks: identical tables" same_run "$TMP/k9"

# damaged checkpoints: the newest broken three ways, the previous one used
cp -r "$TMP/stop" "$TMP/dmg"
gens=$(ls "$TMP/dmg/checkpoint")
newest=$(ls "$TMP/dmg/checkpoint" | tail -1)
check "two generations are kept" test "$(echo "$gens" | wc -l)" -eq 2
for how in truncate flip missing; do
  rm -rf "$TMP/d-$how"; cp -r "$TMP/stop" "$TMP/d-$how"
  f="$TMP/d-$how/checkpoint/$newest/state.bin"
  case $how in
    truncate) truncate -s -7 "$f" ;;
    flip) printf '\xff' | dd of="$f" bs=1 seek=20 conv=notrunc status=none ;;
    missing) rm "$TMP/d-$how/checkpoint/$newest/config.yaml" ;;
  esac
  run_np 1 resume "$TMP/d-$how" -q >/dev/null 2>"$TMP/d-$how.err"; rc=$?
  check "damaged newest checkpoint ($how): reported in one line, previous used, exit 0" \
    bash -c "[ $rc -eq 0 ] && grep -q 'newest generation is damaged' '$TMP/d-$how.err' && [ \$(wc -l < '$TMP/d-$how.err') -eq 1 ]"
done
rm -rf "$TMP/none"; cp -r "$TMP/stop" "$TMP/none"
for g in "$TMP"/none/checkpoint/gen-*; do truncate -s 10 "$g/state.bin"; done
before=$(find "$TMP/none" -type f | sort | xargs md5sum | md5sum)
run_np 1 resume "$TMP/none" -q >/dev/null 2>"$TMP/none.err"; rc=$?
check "no valid checkpoint: exit 2 with a clear message" \
  bash -c "[ $rc -eq 2 ] && grep -q 'no valid checkpoint' '$TMP/none.err'"
check "no valid checkpoint: nothing deleted or changed" \
  test "$(find "$TMP/none" -type f | sort | xargs md5sum | md5sum)" = "$before"

# a changed config is refused, naming the keys
run_np 1 run "$TMP/long.yaml" -o "$TMP/stop" --resume -q --set model.C=2 --set data.seed=5 >/dev/null 2>"$TMP/chg.err"; rc=$?
check "changed config: exit 2 naming model.C and data.seed" \
  bash -c "[ $rc -eq 2 ] && grep -q 'model.C (1.0 -> 2.0)' '$TMP/chg.err' && grep -q 'data.seed (2 -> 5)' '$TMP/chg.err'"
run_np 1 run "$TMP/long.yaml" -o "$TMP/stop" --resume -q --set run.checkpoint_seconds=5 >/dev/null 2>&1
check "a run-only setting may change on resume (nothing left to do: exit 0)" test $? -eq 0

# growing train.iterations extends the max_iterations cells: the result is
# the run made with the larger limit from the start
run_np 2 run "$TMP/long.yaml" -q -o "$TMP/grow" --set train.iterations=300 >/dev/null 2>&1
run_np 3 run "$TMP/long.yaml" -q -o "$TMP/grow" --resume --set train.iterations=900 >/dev/null 2>"$TMP/grow.err"
check "train.iterations 300 -> 900 on resume is accepted" test $? -eq 0
run_np 2 run "$TMP/long.yaml" -q -o "$TMP/grow_ref" --set train.iterations=900 >/dev/null 2>&1
for f in cells.csv metrics.csv neurons.csv; do
  check "... and $f equals a run with 900 from the start" same_csv "$TMP/grow_ref/$f" "$TMP/grow/$f"
done
run_np 1 run "$TMP/long.yaml" -q -o "$TMP/grow" --resume --set train.iterations=600 >/dev/null 2>"$TMP/shrink.err"; rc=$?
check "shrinking train.iterations is refused, naming it" \
  bash -c "[ $rc -eq 2 ] && grep -q 'train.iterations (900 -> 600)' '$TMP/shrink.err'"

# ... also for cells that finished before the old limit, when their run
# under the new one differs from the start: rows at train.log_points
# (log-spaced up to the limit; cells converge at 16 and 25, diverge at 2
# and 3 of 40), and data.engine: auto choosing another engine (sharded for
# 6 iterations, moments for 300; a cell diverges at 2)
cat > "$TMP/lp.yaml" <<'YAML'
name: lp
model: {d: 5, K: [1, 4]}
data:  {n: 3000, n_test: 100, seed: 2, engine: sharded}
init:  {scale: 0.3, seed: 0}
train: {eta: [3.0, 0.05], iterations: 40, log_points: 8, loss_tol: 0.05}
YAML
cat > "$TMP/sw.yaml" <<'YAML'
name: sw
model: {d: 10, K: 3}
data:  {n: 4000, n_test: 100, seed: 2}
init:  {scale: 0.3, seed: 0}
train: {eta: [6.0, 0.02], iterations: 6, log_every: 1}
YAML
check "the engine test's cells: sharded at 6 iterations, moments at 300" \
  bash -c "'$TSIM' validate '$TMP/sw.yaml' | grep -q 'cell 0: .*engine=sharded' &&
           '$TSIM' validate '$TMP/sw.yaml' --set train.iterations=300 | grep -q 'cell 0: .*engine=moments'"
for c in lp:400 sw:300; do
  name=${c%%:*} limit=${c#*:}
  run_np 1 run "$TMP/$name.yaml" -q -o "$TMP/$name-ref" --set train.iterations=$limit >/dev/null 2>&1
  run_np 2 run "$TMP/$name.yaml" -q -o "$TMP/$name" >/dev/null 2>&1
  check "$name: a cell finished before the old limit" grep -q -E 'converged|diverged' "$TMP/$name/cells.csv"
  run_np 2 run "$TMP/$name.yaml" -q -o "$TMP/$name" --resume --set train.iterations=$limit >/dev/null 2>&1
  for f in cells.csv metrics.csv; do
    check "$name: grown to $limit iterations on resume, $f equals a run with $limit from the start" \
      same_csv "$TMP/$name-ref/$f" "$TMP/$name/$f"
  done
done

# a checkpoint write that fails: the run directory on a small tmpfs that is
# then filled up; the previous generation stays intact and usable
mnt="$TMP/small"
mkdir -p "$mnt"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=8m tmpfs "$mnt" 2>/dev/null; then
  trap 'umount "$mnt" 2>/dev/null; rm -rf "$TMP"' EXIT
  TSIM_FAKE_CLOCK=0.001 TSIM_FAULT=checkpoint=2,do=stop run_np 2 run "$TMP/long.yaml" \
    -o "$mnt/run" -q --checkpoint-seconds 1 >/dev/null 2>&1
  rm -f "$mnt/run/STOP"
  prev=$(ls "$mnt/run/checkpoint" | tail -1)
  sum_prev=$(cat "$mnt/run/checkpoint/$prev"/* | md5sum)
  dd if=/dev/zero of="$mnt/filler" bs=4k status=none 2>/dev/null
  run_np 1 resume "$mnt/run" -q >/dev/null 2>"$TMP/full.err"; rc=$?
  check "a write that fails on a full disk: exit 1 with one clear line ($(head -c 120 "$TMP/full.err"))" \
    bash -c "[ $rc -eq 1 ] && grep -q 'No space left on device' '$TMP/full.err' && [ \$(wc -l < '$TMP/full.err') -eq 1 ]"
  check "... the previous checkpoint is intact" test "$(cat "$mnt/run/checkpoint/$prev"/* | md5sum)" = "$sum_prev"
  check "... and no temporary generation is left" bash -c "! ls -a '$mnt/run/checkpoint' | grep -q tmp"
  rm -f "$mnt/filler"
  run_np 2 resume "$mnt/run" -q >/dev/null 2>&1
  check "... and once there is room the run resumes from it to the same bits" same_run "$mnt/run"
  umount "$mnt"
else
  echo "skip $SUITE: full-disk checkpoint test needs root to mount a tmpfs"
fi
# a run that died before its first checkpoint (here: a finished run whose
# checkpoint/ is removed): --resume keeps its finished cells (test_recover),
# but only with the same config; a changed one is refused, naming the keys,
# and the tables stay
run_np 1 run "$TMP/lp.yaml" -q -o "$TMP/nock" >/dev/null 2>&1
rm -rf "$TMP/nock/checkpoint"
cp "$TMP/nock/cells.csv" "$TMP/nock-cells.csv"
out=$(run_np 2 run "$TMP/lp.yaml" -q -o "$TMP/nock" --resume --set train.eta=0.01 2>&1 >/dev/null); rc=$?
check "no checkpoint, changed config: exit 2 naming train.eta ($out)" \
  bash -c "[ $rc -eq 2 ] && echo '$out' | grep -q 'train.eta (\[3.0, 0.05\] -> 0.01) changed'"
check "... and the earlier tables are kept" cmp -s "$TMP/nock/cells.csv" "$TMP/nock-cells.csv"
run_np 2 run "$TMP/lp.yaml" -q -o "$TMP/nock" --resume >/dev/null 2>&1; rc=$?
check "no checkpoint, same config: --resume keeps the same tables (exit $rc)" \
  bash -c "[ $rc -eq 0 ] && cmp -s <(sed 's/,[^,]*\$//' '$TMP/nock/cells.csv') <(sed 's/,[^,]*\$//' '$TMP/nock-cells.csv')"
# a gradient flow whose step size underflows in its first interval (it
# diverges at t = 1): a time limit that lands during that interval must not
# lose the fact on resume (the cell went on to t = 2 with an extra row)
cat > "$TMP/fb.yaml" <<'YAML'
model: {activation: relu, d: 10, K: 10, C: 1.0, loss_scale: 0.5}
teacher: {norm: 1.0, direction: e1}
data: {regime: empirical, n: 200000, n_test: 0, seed: 1}
init: {method: gaussian, sigma: 0.1, seed: 0}
train: {method: flow, T: 10, log_every: 1, rtol: 1e-20, atol: 1e-300, tol: 0}
output: {neurons: false}
YAML
run_np 1 run "$TMP/fb.yaml" -q -o "$TMP/fb-ref" >/dev/null 2>&1
# (a flow counts no iterations: its time is metrics.csv's last t)
check "flow underflow: the reference cell diverges at t = 1" \
  bash -c "grep -q ',diverged,,' '$TMP/fb-ref/cells.csv' &&
           [ \"\$(tail -1 '$TMP/fb-ref/metrics.csv' | cut -d, -f2)\" = 1 ]"
# (the fake clock passes 1 s at each boundary: the limit of 1.5 s falls in
# the first interval, so the stop comes at t = 1, where the step size has
# underflowed; it must not be taken there)
TSIM_FAKE_CLOCK=1 run_np 1 run "$TMP/fb.yaml" -q -o "$TMP/fb" --time-limit 1.5 >/dev/null 2>&1
run_np 2 run "$TMP/fb.yaml" -q -o "$TMP/fb" --resume >/dev/null 2>&1
for f in cells.csv metrics.csv teachers.csv; do
  check "flow underflow, time limit on the way + resume: $f byte-identical" \
    same_csv "$TMP/fb-ref/$f" "$TMP/fb/$f"
done
# `tsim resume OUTDIR` reads OUTDIR/config.yaml: every shipped config's
# written copy must load back, and keep the keys that change results
# (train.log_points, which refuses a train.log_every beside it, and
# metrics.match_angle, which was left out without Hessian spectra)
for c in "$ROOT"/configs/*.yaml; do
  b=$(basename "$c" .yaml)
  run_np 1 run "$c" -q --set data.n=2000 --time-limit 0.01 -o "$TMP/written/$b" >/dev/null 2>&1
  out=$("$TSIM" validate "$TMP/written/$b/config.yaml" 2>&1 >/dev/null); rc=$?
  check "$b: the written config.yaml is a valid config ($out)" test $rc -eq 0
done
cat > "$TMP/zl.yaml" <<'YAML'
name: zl
model:   {activation: abs, d: 10, K: [3, 5], C: 1.0, loss_scale: 0.5, norm_tied: true}
teacher: {neurons: 3, norm: 1.0, direction: separated, min_angle: 60, seed: 1}
data:    {regime: population}
init:    {method: near_teacher, scale: 0.05, seed: 0}
train:   {eta: 0.05, iterations: 300000, log_points: 30, tol: 0}
metrics: {match_angle: 0.001}
YAML
# (at 0.001 degrees n_matched differs from the default 10's up to the last
# row, so a resume that lost the angle changes teachers.csv after the stop)
run_np 1 run "$TMP/zl.yaml" -q -o "$TMP/zl-ref" >/dev/null 2>&1
# (fake clock: the limit falls at rank 0's 100000th boundary, a checkpoint
# every 20000)
TSIM_FAKE_CLOCK=0.001 run_np 2 run "$TMP/zl.yaml" -q -o "$TMP/zl" --time-limit 100 \
  --checkpoint-seconds 20 >/dev/null 2>&1; rc=$?
check "log_points + match_angle run stopped by its time limit (exit 3, got $rc)" test $rc -eq 3
run_np 1 resume "$TMP/zl" -q >"$TMP/zl.log" 2>&1; rc=$?
check "tsim resume OUTDIR (log_points, match_angle 0.001): exit 0 ($(head -1 "$TMP/zl.log"))" test $rc -eq 0
for f in cells.csv metrics.csv teachers.csv; do
  check "tsim resume OUTDIR: $f byte-identical to the uninterrupted run" \
    same_csv "$TMP/zl-ref/$f" "$TMP/zl/$f"
done
finish
