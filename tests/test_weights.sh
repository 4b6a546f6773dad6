#!/usr/bin/env bash
# test_weights.sh - output.weights: weights/CELL.npy (rows, d, K) and
# weights/CELL.t.npy (rows,) at every logged row, the teacher's in
# weights/CELL.teacher.npy (d, m). NumPy replays gradient
# descent from `tsim export-data` and finds the same weights (1e-10); the
# files are byte-identical on 1 and 2 ranks (cells batched or not), after a
# stop and a kill -9 at a chosen cell and iteration (TSIM_FAULT) and a
# resume, and in a merge of two slices; tsim validate prints their size;
# without the key nothing changes.
SUITE=weights
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! "$PY" -c 'import numpy' 2>/dev/null; then
  fail "$PY with numpy (apt-get install python3-numpy)"
  finish; exit
fi

cat > "$TMP/w.yaml" <<'YAML'
name: weights
model:   {activation: relu, d: 4, K: [3, 2, 5], C: 1.0, loss_scale: 0.25}
teacher: {neurons: 2, direction: orthonormal, norm: 1.0}
data:    {n: 400, n_test: 0, seed: 3, chunk: 128, engine: sharded}
init:    {scale: 0.5, seed: 1}
train:   {eta: 0.05, iterations: 200, log_every: 9}
output:  {weights: true}
run:     {batch: 1}
YAML
same_weights() { # same_weights A B: the same files, byte for byte
  [ -d "$1/weights" ] && [ "$(ls "$1/weights")" = "$(ls "$2/weights" 2>/dev/null)" ] &&
    for f in "$1"/weights/*; do cmp -s "$f" "$2/weights/$(basename "$f")" || return 1; done
}

run_np 1 run "$TMP/w.yaml" -q -o "$TMP/one" >"$TMP/one.log" 2>&1 ||
  fail "1 rank: $(tail -2 "$TMP/one.log")"
check "weights/CELL.npy, CELL.t.npy and CELL.teacher.npy for each of the 3 cells" \
  test "$(ls "$TMP/one/weights" 2>/dev/null | tr '\n' ' ')" = "0.npy 0.t.npy 0.teacher.npy 1.npy 1.t.npy 1.teacher.npy 2.npy 2.t.npy 2.teacher.npy "

# NumPy: gradient descent from the exported samples and W0
run_np 1 export-data "$TMP/w.yaml" -o "$TMP/exp" >"$TMP/exp.log" 2>&1 ||
  fail "export-data: $(tail -2 "$TMP/exp.log")"
cat > "$TMP/replay.py" <<'PY'
import csv, sys
import numpy as np
run, exp = sys.argv[1], sys.argv[2]
C, s, eta, T, every = 1.0, 0.25, 0.05, 200, 9
X = np.load(f"{exp}/x.npy"); y = np.load(f"{exp}/y.npy")
W = np.load(f"{exp}/w0.npy").T.copy()  # d x K file -> K x d
n = len(y)
snap, t_snap = np.load(f"{run}/weights/0.npy"), np.load(f"{run}/weights/0.t.npy")
logged = [t for t in range(T + 1) if t % every == 0 or t == T]
assert snap.shape == (len(logged), 4, 3), snap.shape
assert list(t_snap) == logged, t_snap
metrics = [r for r in csv.DictReader(open(f"{run}/metrics.csv")) if r["cell"] == "0"]
assert [int(r["t"]) for r in metrics] == logged
worst, row = 0.0, 0
for t in range(T + 1):
    if t in logged:
        worst = max(worst, np.abs(snap[row] - W.T).max())
        row += 1
    U = X @ W.T
    r = C * np.maximum(U, 0).sum(1) - y
    W = W - eta * s * 2.0 * C * ((r[:, None] * (U > 0)).T @ X) / n
assert worst <= 1e-10, worst
V = np.load(f"{run}/weights/0.teacher.npy")  # orthonormal teachers of norm 1: e_1, e_2
assert V.shape == (4, 2) and (V == np.eye(4, 2)).all(), V
print(f"replayed {T} steps: {len(logged)} snapshots within {worst:.1e} of NumPy's")
PY
out=$("$PY" "$TMP/replay.py" "$TMP/one" "$TMP/exp" 2>&1); rc=$?
echo "$out" | tail -1
check "NumPy's gradient descent from export-data's w0.npy: weights/0.npy (rows, d, K) and 0.t.npy within 1e-10, 0.teacher.npy (d, m) the teachers" \
  test $rc -eq 0

out=$(PYTHONPATH="$ROOT/python" "$PY" -c '
import sys, numpy as np, tsim
t, W, V = tsim.load(sys.argv[1]).weights(2)
ok = (t == np.load(sys.argv[1] + "/weights/2.t.npy")).all() and W.shape == (24, 4, 5) and V.shape == (4, 2)
print("ok" if ok else "bad")' "$TMP/one" 2>&1)
check "python: tsim.load(run).weights(2) gives t, W (24, 4, 5) and V (4, 2) ($out)" test "$out" = ok
run_np 2 run "$TMP/w.yaml" -q -o "$TMP/two" >"$TMP/two.log" 2>&1 ||
  fail "2 ranks: $(tail -2 "$TMP/two.log")"
check "2 ranks: weights files byte-identical to 1 rank's" same_weights "$TMP/one" "$TMP/two"
run_np 2 run "$TMP/w.yaml" -q -o "$TMP/batch" --set run.batch=3 --set run.team_size=2 \
  >"$TMP/batch.log" 2>&1 || fail "batch: $(tail -2 "$TMP/batch.log")"
check "2 ranks, the 3 cells in one batch: byte-identical" same_weights "$TMP/one" "$TMP/batch"
for t in metrics neurons teachers; do
  check "... and $t.csv as 1 rank's" same_csv "$TMP/one/$t.csv" "$TMP/batch/$t.csv"
done

# stopped in the middle of cell 1 (its rows so far in the checkpoint), resumed
TSIM_FAULT=cell=1,iter=100,do=stop run_np 1 run "$TMP/w.yaml" -q -o "$TMP/stop" \
  >"$TMP/stop.log" 2>&1; rc=$?
check "stopped at cell 1, t = 100 with a checkpoint (exit 3, got $rc)" test $rc -eq 3
rm -f "$TMP/stop/STOP"
run_np 1 resume "$TMP/stop" >"$TMP/stop2.log" 2>&1 || fail "resume: $(tail -2 "$TMP/stop2.log")"
check "... resumed with cells 2 and 0 finished, cell 1 from its saved state" \
  grep -q "2 cells finished, 1 to run (1 from a saved state)" "$TMP/stop2.log"
check "stopped + resumed: weights byte-identical to the uninterrupted run" \
  same_weights "$TMP/one" "$TMP/stop"
# killed (-9) in the middle of cell 2, after checkpoints every 40 boundaries
TSIM_FAKE_CLOCK=1 TSIM_FAULT=cell=2,iter=130,do=kill run_np 1 run "$TMP/w.yaml" -q \
  -o "$TMP/kill" --set run.checkpoint_seconds=40 >"$TMP/kill.log" 2>&1; rc=$?
check "killed at cell 2, t = 130 (exit $rc != 0), a checkpoint there" \
  bash -c "[ $rc -ne 0 ] && [ -d '$TMP/kill/checkpoint' ]"
run_np 1 resume "$TMP/kill" >"$TMP/kill2.log" 2>&1 || fail "resume: $(tail -2 "$TMP/kill2.log")"
check "... resumed from the checkpoint, cell 2 from its saved state (its rows so far)" \
  grep -q "0 cells finished, 3 to run (1 from a saved state)" "$TMP/kill2.log"
check "killed + resumed: weights byte-identical to the uninterrupted run" \
  same_weights "$TMP/one" "$TMP/kill"
check "... and metrics.csv" same_csv "$TMP/one/metrics.csv" "$TMP/kill/metrics.csv"
# a resume may not switch output.weights
TSIM_FAULT=cell=1,iter=50,do=stop run_np 1 run "$TMP/w.yaml" -q -o "$TMP/sw" >/dev/null 2>&1
rm -f "$TMP/sw/STOP"
run_np 1 resume "$TMP/sw" -q --set output.weights=false >/dev/null 2>"$TMP/sw.err"; rc=$?
check "resume with output.weights switched off: exit 2, one line ($rc)" \
  bash -c "[ $rc -eq 2 ] && grep -qx '$TMP/sw: the checkpoint was made with output.weights: true; resume with the same, or start anew with -o or --force' '$TMP/sw.err'"

# slices and their merge
run_np 1 run "$TMP/w.yaml" -q -o "$TMP/s0" --cells 0/2 >/dev/null 2>&1
run_np 1 run "$TMP/w.yaml" -q -o "$TMP/s1" --cells 1/2 >/dev/null 2>&1
"$TSIM" merge "$TMP/s0" "$TMP/s1" -o "$TMP/merged" >"$TMP/merge.log" 2>&1 ||
  fail "merge: $(tail -2 "$TMP/merge.log")"
check "merge of two slices: weights byte-identical to the whole run's" \
  same_weights "$TMP/one" "$TMP/merged"

# validate: rows x d x K x 8 bytes summed (every cell runs to its limit here)
bytes=$("$PY" -c "
import numpy as np, sys
print(sum(np.load(f'$TMP/one/weights/{c}.npy').size * 8 for c in range(3)))")
"$TSIM" validate "$TMP/w.yaml" >"$TMP/validate.log" 2>&1
check "validate prints the disk weights/ takes ($bytes bytes)" \
  grep -q "^output.weights: weights/ takes at most .* ($bytes bytes: 72 logged rows of d x K doubles over 3 cells" \
  "$TMP/validate.log"

# off (the default): no weights/, config.yaml as before
run_np 1 run "$TMP/w.yaml" -q -o "$TMP/off" --set output.weights=false >/dev/null 2>&1
check "output.weights false: no weights/, config.yaml does not name it" \
  bash -c "[ ! -e '$TMP/off/weights' ] && ! grep -q '^  weights:' '$TMP/off/config.yaml'"
check "... the same tables" same_csv "$TMP/one/metrics.csv" "$TMP/off/metrics.csv"
finish
