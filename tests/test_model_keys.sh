#!/usr/bin/env bash
# test_model_keys.sh - issue 16's keys together in one small config: a tanh student
# (metrics.pop_quadrature) with trained output weights (model.train_output, init.output
# gaussian, train.eta_output), a file teacher with its output weights (teacher.source file,
# teacher.w_file and teacher.a_file, made here with numpy), train.weight_decay (a grid axis
# over two values), train.momentum and output.weights.
#   1, 2, 3 and 4 ranks: every table and weights/*.npy byte-identical;
#   kill -9 (TSIM_FAULT do=kill) in cell 1 at t = 100, after checkpoints every 20 boundaries
#   of the fake clock (TSIM_FAKE_CLOCK), resumed on 3 ranks from cell 1's saved state:
#   byte-identical to the uninterrupted run.
SUITE=model-keys
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! "$PY" -c 'import numpy' 2>/dev/null; then
  fail "$PY with numpy (apt-get install python3-numpy)"
  finish; exit
fi
"$PY" - "$TMP" <<'PY'
import sys
import numpy as np
o = sys.argv[1] + "/"
rng = np.random.default_rng(16)
np.save(o + "v.npy", rng.standard_normal((4, 2)))  # d x m, one column per teacher neuron
np.save(o + "a.npy", np.array([1.5, -0.5]))         # its output weights
PY
cat > "$TMP/k.yaml" <<YAML
name: keys
model:   {activation: tanh, d: 4, K: 3, train_output: true}
teacher: {source: file, w_file: $TMP/v.npy, a_file: $TMP/a.npy}
data:    {n: 256, n_test: 64, seed: 2, chunk: 64, engine: sharded}
init:    {method: gaussian, sigma: 0.5, seed: 1, output: gaussian}
train:   {eta: 0.05, eta_output: 0.02, weight_decay: [0, 0.01], momentum: 0.5,
          iterations: 200, log_every: 10, tol: 0}
metrics: {pop_quadrature: true}
output:  {weights: true, neurons: true}
YAML
TABLES="cells metrics neurons teachers"
same() { test "$(wc -l < "$1")" -gt 1 && same_csv "$1" "$2"; } # rows, and byte-identical
same_weights() { # same_weights A B: the same files, byte for byte
  [ -d "$1/weights" ] && [ "$(ls "$1/weights")" = "$(ls "$2/weights" 2>/dev/null)" ] &&
    for f in "$1"/weights/*; do cmp -s "$f" "$2/weights/$(basename "$f")" || return 1; done
}

run_np 1 run "$TMP/k.yaml" -q -o "$TMP/r1" >"$TMP/r1.log" 2>&1 ||
  fail "1 rank: $(tail -1 "$TMP/r1.log")"
check "the run: 2 cells, pop_loss filled (quadrature) in every row" \
  bash -c "[ \$(tail -n +2 '$TMP/r1/cells.csv' | wc -l) -eq 2 ] &&
           ! tail -n +2 '$TMP/r1/metrics.csv' | cut -d, -f5 | grep -qx ''"
check "weights/: W_t, t, a_t and the teacher for both cells" \
  test "$(ls "$TMP/r1/weights" 2>/dev/null | tr '\n' ' ')" = \
  "0.a.npy 0.npy 0.t.npy 0.teacher.npy 1.a.npy 1.npy 1.t.npy 1.teacher.npy "
check "weight_decay is the grid axis, cells differ" \
  bash -c "head -1 '$TMP/r1/cells.csv' | grep -q ',weight_decay,' &&
           ! cmp -s '$TMP/r1/weights/0.a.npy' '$TMP/r1/weights/1.a.npy'"
for np in 2 3 4; do
  run_np $np run "$TMP/k.yaml" -q -o "$TMP/r$np" >"$TMP/r$np.log" 2>&1 ||
    fail "$np ranks: $(tail -1 "$TMP/r$np.log")"
  for t in $TABLES; do
    check "$np ranks: $t.csv byte-identical to 1 rank's" same "$TMP/r1/$t.csv" "$TMP/r$np/$t.csv"
  done
  check "$np ranks: weights/*.npy byte-identical to 1 rank's" same_weights "$TMP/r1" "$TMP/r$np"
done

# kill -9 in cell 1 at t = 100 (one team of 2 ranks: cell 0 done, a checkpoint every 20
# boundaries of the fake clock), resumed on 3 ranks
TSIM_FAKE_CLOCK=0.001 TSIM_FAULT=cell=1,iter=100,do=kill run_np 2 run "$TMP/k.yaml" -q \
  --team-size 2 --checkpoint-seconds 0.02 -o "$TMP/kill" >/dev/null 2>&1; rc=$?
check "killed in cell 1 at t = 100 (exit $rc, not 0 or 3)" test $rc -ne 0 -a $rc -ne 3
check "a checkpoint exists before the kill" \
  bash -c "ls -d '$TMP/kill/checkpoint/'gen-* >/dev/null 2>&1"
run_np 3 run "$TMP/k.yaml" --progress log -o "$TMP/kill" --resume >"$TMP/resume.log" 2>&1 ||
  fail "resume on 3 ranks: $(tail -1 "$TMP/resume.log")"
resumed=$(grep -m1 '^tsim: resuming' "$TMP/resume.log")
check "resumed from a checkpoint: cell 0 finished, cell 1 from its saved state ($resumed)" \
  grep -qE '^tsim: resuming .* from checkpoint gen-[0-9]+: 1 cell finished, 1 to run \(1 from a saved state\)$' \
  "$TMP/resume.log"
for t in $TABLES; do
  check "kill -9 + resume on 3 ranks: $t.csv byte-identical" \
    same "$TMP/r1/$t.csv" "$TMP/kill/$t.csv"
done
check "kill -9 + resume on 3 ranks: weights/*.npy byte-identical" same_weights "$TMP/r1" "$TMP/kill"
finish
