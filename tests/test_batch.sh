#!/usr/bin/env bash
# test_batch.sh - cells batched over a shared data set (run.batch): the
# tables are byte-identical to one cell at a time, on 1-3 ranks, in teams of
# 2, and after a stop and a resume in the middle of the batches.
SUITE=batch
source "$(dirname "$0")/lib.sh"

# two data sets (data.seed), K of 1 and 3 (the fused pass's remainders),
# quadratic and relu students (each with its own teacher's labels), a
# diverging eta (drops out of its batch early), n over several chunks
cat > "$TMP/grid.yaml" <<'YAML'
name: batch
model: {d: 6, K: [1, 3], activation: [quadratic, relu]}
data:  {n: 1100, n_test: 100, seed: [4, 5], chunk: 128, engine: sharded}
init:  {scale: 0.3, seed: [0, 1]}
train: {eta: [0.03, 4.0, 0.01], iterations: 200, log_every: 20}
YAML
run_np 1 run "$TMP/grid.yaml" -q --set run.batch=1 -o "$TMP/ref" >/dev/null 2>&1
check "unbatched reference run" test -s "$TMP/ref/metrics.csv"
same_run() { # same_run DIR: all three tables equal the reference's
  local f
  for f in cells.csv metrics.csv neurons.csv; do same_csv "$TMP/ref/$f" "$1/$f" || return 1; done
}
for spec in "1 1 5" "1 1 0" "2 1 3" "2 2 4" "3 1 0" "3 1 24"; do
  set -- $spec
  out="$TMP/np$1g$2b$3"
  run_np "$1" run "$TMP/grid.yaml" --progress log --team-size "$2" --set run.batch="$3" \
    -o "$out" >"$out.log" 2>&1
  check "$1 ranks, teams of $2, run.batch=$3: tables byte-identical to unbatched" same_run "$out"
done
check "run.batch=5 on 1 rank forms batches (start line says so)" \
  grep -q 'batches of up to 5 cells sharing a data set' "$TMP/np1g1b5.log"
check "run.batch=24 on 3 ranks: batches of up to 24 (a data set has 12 cells)" \
  grep -q 'batches of up to 24 cells' "$TMP/np3g1b24.log"

# stop in the middle of the batches (STOP file) on 2 ranks, resume on 3
cat > "$TMP/long.yaml" <<'YAML'
name: batch_long
model: {d: 5, K: [1, 4]}
data:  {n: 12000, n_test: 300, seed: 2, chunk: 256, engine: sharded}
init:  {scale: 0.3, seed: [0, 1]}
train: {eta: [0.02, 3.0, 0.05], iterations: 5000, log_every: 50}
run:   {batch: 4}
YAML
run_np 2 run "$TMP/long.yaml" -q --set run.batch=1 -o "$TMP/ref" --force >/dev/null 2>&1
# (the team running cell 6, 5000 iterations, touches STOP at t = 1000 and
# holds its batch there until the stop reaches it)
TSIM_FAULT=cell=6,iter=1000,do=stop run_np 2 run "$TMP/long.yaml" -q -o "$TMP/stop" >/dev/null 2>&1; rc=$?
check "a batched run stops with a checkpoint (exit 3)" test "$rc" -eq 3
rm -f "$TMP/stop/STOP"
run_np 3 run "$TMP/long.yaml" --progress log -o "$TMP/stop" --resume --set run.batch=3 \
  >"$TMP/resume.log" 2>&1; rc=$?
check "resumed on 3 ranks with another batch size: exit 0" test "$rc" -eq 0
check "the resume continued cells of the stopped batches from their saved states" \
  grep -qE 'to run \([1-9][0-9]* from a saved state\)' "$TMP/resume.log"
check "stopped + resumed batched run: tables byte-identical to unbatched" same_run "$TMP/stop"
# killed before any checkpoint with finished cells on disk: the resume
# leaves them out of the order, and its batches must not take them again
TSIM_FAULT=cell=6,iter=1000,do=kill run_np 2 run "$TMP/long.yaml" -q -o "$TMP/kill" \
  --checkpoint-seconds 1e9 >/dev/null 2>&1
run_np 2 run "$TMP/long.yaml" -q -o "$TMP/kill" --resume >/dev/null 2>"$TMP/kill.err"; rc=$?
check "killed batched run, resumed without a checkpoint: exit $rc ($(head -c 120 "$TMP/kill.err"))" test $rc -eq 0
check "... tables byte-identical to unbatched" same_run "$TMP/kill"
# Quantity (9) is formed only where it is read (cell.c q9_wanted): until
# it is first positive, at the logged rows and the spectra, and at the
# iteration a cell stops. Sparse log points (8 of 300 iterations) must give
# exactly the rows and cells of a run that logs, and so forms (9), at every
# iteration; here cells converge and diverge between log points after (9)
# turned positive, so their last rows need (9) formed again.
cat > "$TMP/q9.yaml" <<'YAML'
name: q9_skip
model:   {activation: quadratic, d: 6, K: [1, 3], C: 1.0, loss_scale: 0.25}
teacher: {norm: 1.0, direction: e1}
data:    {n: 1100, n_test: 100, seed: 7, chunk: 128, engine: sharded}
init:    {scale: 0.01, seed: [0, 1]}
train:   {eta: [1.0, 0.5, 0.2], iterations: 300, log_points: 8, loss_tol: 1.0e-8, diverge_above: 1.0e6}
output:  {neurons: false}
YAML
# rows of SPARSE equal to the rows of DENSE at the same (cell, t), and the
# same cells.csv
rows_within() { # rows_within SPARSE DENSE
  same_csv "$1/cells.csv" "$2/cells.csv" &&
    awk -F, 'NR == FNR { row[$1 "," $2] = $0; next }
      FNR > 1 && row[$1 "," $2] != $0 { bad = 1 } END { exit bad }' "$2/metrics.csv" "$1/metrics.csv"
}
# a cell stopped at an iteration that is no log point (the t of a cell run
# to the end's rows), after (9) turned positive
stops_between() {
  awk -F, 'NR == FNR { if (FNR > 1 && $1 == end) logged[$2] = 1; next }
    FNR > 1 && ($8 == "converged" || $8 == "diverged") && !($9 in logged) && $10 != "" && $10 < $9 { hit = 1 }
    END { exit !hit }' end="$(awk -F, '$8 == "max_iterations" { print $1; exit }' "$1/cells.csv")" \
    "$1/metrics.csv" "$1/cells.csv"
}
for engine in sharded moments; do
  run_np 2 run "$TMP/q9.yaml" -q --set data.engine=$engine -o "$TMP/q9_$engine" >/dev/null 2>&1
  run_np 1 run "$TMP/q9.yaml" -q --set data.engine=$engine --set run.batch=1 \
    --set train.log_points=0 --set train.log_every=1 -o "$TMP/q9_${engine}_every" >/dev/null 2>&1
  check "$engine: a cell stops between log points after (9) turned positive" stops_between "$TMP/q9_$engine"
  check "$engine: (9) formed where read only: the rows and cells of (9) at every iteration" \
    rows_within "$TMP/q9_$engine" "$TMP/q9_${engine}_every"
done
# Every model batches: relu, abs and quadratic students of two teachers
# (teacher.activation fixed, so the three activations share one data set
# and mix in a batch), label noise, the norm tie and another init. Tables,
# teachers.csv included, byte-identical to one cell at a time.
cat > "$TMP/family.yaml" <<'YAML'
name: batch_family
model:   {d: 5, K: [2, 3], activation: [relu, abs, quadratic], norm_tied: true}
teacher: {activation: relu, neurons: 2, direction: random, seed: 3}
data:    {n: 900, n_test: 100, seed: 4, chunk: 128, label_noise: 0.05, engine: sharded}
init:    {method: gaussian, sigma: 0.3, seed: [0, 1]}
train:   {eta: [0.05, 30.0], iterations: 150, log_every: 10}
YAML
run_np 1 run "$TMP/family.yaml" -q --set run.batch=1 -o "$TMP/fam_ref" >/dev/null 2>&1
check "model family: unbatched reference run" test -s "$TMP/fam_ref/teachers.csv"
same_family() {
  local f
  for f in cells.csv metrics.csv neurons.csv teachers.csv; do
    same_csv "$TMP/fam_ref/$f" "$1/$f" || return 1
  done
}
for spec in "1 1 0" "1 1 24" "2 1 5" "2 2 4"; do
  set -- $spec
  out="$TMP/fam_np$1g$2b$3"
  run_np "$1" run "$TMP/family.yaml" --progress log --team-size "$2" --set run.batch="$3" \
    -o "$out" >"$out.log" 2>&1
  check "model family, $1 ranks, teams of $2, run.batch=$3: tables byte-identical to unbatched" \
    same_family "$out"
done
check "relu, abs and quadratic students of one teacher form batches (start line says so)" \
  grep -q 'batches of up to 24 cells sharing a data set' "$TMP/fam_np1g1b24.log"
finish
