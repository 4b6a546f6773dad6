#!/usr/bin/env bash
# test_decay_momentum.sh - train.weight_decay and train.momentum, against an
# independent NumPy gradient descent on the samples and initial weights of
# `tsim export-data`:
#   weight decay, momentum (heavy ball), both: 100 iterations, every row's
#     train_loss (the data loss), grad_norm (the objective's) and penalty
#     ((lambda/2) |W|^2) within 1e-10 of NumPy's, on the sharded engine and
#     (1e-9: other rounding) on the moments engine;
#   the Hessian spectra are the objective's: at t = 0 (the same W0) shifted by
#     lambda from those without decay, and at t = 50 NumPy's Hessian + lambda I;
#     for both sources (samples and population);
#   1 and 2 ranks byte-identical; stopped mid-cell (TSIM_FAULT) and resumed
#     byte-identical (the momentum buffer is in the checkpoint);
#   a grid axis over weight_decay, batched or not, gives every cell its own
#     run's rows;
#   no penalty column without decay (the tables of existing configs);
#   train.method flow refuses both keys with a one-line located error.
SUITE=decay-momentum
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! "$PY" -c 'import numpy' 2>/dev/null; then
  fail "$PY with numpy (apt-get install python3-numpy)"
  finish; exit
fi

cat > "$TMP/b.yaml" <<'YAML'
name: decay
model:   {activation: quadratic, d: 4, K: 3, C: 1.0, loss_scale: 0.25}
teacher: {neurons: 1, norm: 1.0}
data:    {n: 512, n_test: 0, seed: 3, chunk: 256, engine: sharded}
init:    {scale: 0.5, seed: 1}
train:   {eta: 0.05, iterations: 100, log_every: 1, tol: 0}
metrics: {hessian: {at: [0, 50, 100], top: 12, bottom: 0}}
YAML
run_np 1 export-data "$TMP/b.yaml" -o "$TMP/exp" >"$TMP/exp.log" 2>&1 ||
  fail "export-data: $(tail -2 "$TMP/exp.log")"

LAM=0.02 MU=0.7
# same A B: A has rows, and B is byte-identical
same() { test "$(wc -l < "$1")" -gt 1 && same_csv "$1" "$2"; }
# name SETS...: on 1 and 2 ranks, and on 1 rank stopped at t = 37 and resumed
runs() {
  local name=$1; shift
  for np in 1 2; do
    run_np $np run "$TMP/b.yaml" -q "$@" -o "$TMP/$name$np" >"$TMP/$name$np.log" 2>&1 ||
      fail "$name on $np ranks: $(tail -2 "$TMP/$name$np.log")"
  done
  TSIM_FAULT=cell=0,iter=37,do=stop run_np 1 run "$TMP/b.yaml" -q "$@" -o "$TMP/${name}r" \
    >"$TMP/${name}r.log" 2>&1; local rc=$?
  check "$name: stopped at t = 37 with a checkpoint (exit 3, got $rc)" test $rc -eq 3
  rm -f "$TMP/${name}r/STOP"
  run_np 1 resume "$TMP/${name}r" -q >>"$TMP/${name}r.log" 2>&1 ||
    fail "$name: resume: $(tail -2 "$TMP/${name}r.log")"
  check "$name: stopped + resumed: metrics.csv byte-identical to the uninterrupted run" \
    same "$TMP/${name}1/metrics.csv" "$TMP/${name}r/metrics.csv"
  check "$name: 2 ranks: metrics.csv byte-identical to 1 rank's" \
    same "$TMP/${name}1/metrics.csv" "$TMP/${name}2/metrics.csv"
}
runs plain
runs wd --set train.weight_decay=$LAM
runs mom --set train.momentum=$MU
runs both --set train.weight_decay=$LAM --set train.momentum=$MU
for name in plain mom; do
  check "$name: no penalty column without weight decay" \
    test "$(head -1 "$TMP/${name}1/metrics.csv")" = "cell,t,train_loss,test_loss,pop_loss,dist,q9,grad_norm"
done
run_np 1 run "$TMP/b.yaml" -q --set train.weight_decay=0 -o "$TMP/zero" >"$TMP/zero.log" 2>&1 ||
  fail "weight_decay 0: $(tail -2 "$TMP/zero.log")"
for f in metrics.csv spectrum.csv hessian.csv; do
  check "weight_decay 0: $f byte-identical to the run without the key" \
    same "$TMP/plain1/$f" "$TMP/zero/$f"
done
check "weight_decay 0: config.yaml as without the key" cmp -s \
  <(grep -v '^  dir:' "$TMP/plain1/config.yaml") <(grep -v '^  dir:' "$TMP/zero/config.yaml")
run_np 1 run "$TMP/b.yaml" -q --set train.weight_decay=$LAM --set train.momentum=$MU \
  --set data.engine=moments -o "$TMP/moments" >"$TMP/moments.log" 2>&1 ||
  fail "moments engine: $(tail -2 "$TMP/moments.log")"
# the population source at t = 0, with and without decay
for name in plain wd; do
  set_wd=(); [ $name = wd ] && set_wd=(--set train.weight_decay=$LAM)
  run_np 1 run "$TMP/b.yaml" -q "${set_wd[@]}" --set metrics.hessian.source=population \
    -o "$TMP/pop$name" >"$TMP/pop$name.log" 2>&1 || fail "pop $name: $(tail -2 "$TMP/pop$name.log")"
done

# NumPy: replay each trajectory, form the Hessian
cat > "$TMP/check.py" <<'PY'
import csv, sys
import numpy as np
tmp, which, lam, mu, tol = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
d, K, C, s, eta = 4, 3, 1.0, 0.25, 0.05
X = np.load(f"{tmp}/exp/x.npy"); y = np.load(f"{tmp}/exp/y.npy")
W = np.load(f"{tmp}/exp/w0.npy").T.copy()  # d x K file -> K x d
n = len(y)

def loss(W):
    r = C * ((X @ W.T) ** 2).sum(1) - y
    return s * np.mean(r * r)

def grad(W):
    U = X @ W.T
    r = C * (U ** 2).sum(1) - y
    return s * 2.0 * C * ((r[:, None] * 2.0 * U).T @ X) / n

def hess(W):  # Gauss-Newton + residual terms, act' = 2u, act'' = 2
    U = X @ W.T
    r = C * (U ** 2).sum(1) - y
    J = (2.0 * U)[:, :, None] * X[:, None, :]  # n x K x d
    J = J.reshape(n, K * d)
    H = s / n * (2 * C * C * J.T @ J)
    R = s / n * 4 * C * (X.T * r) @ X
    for k in range(K):
        H[k * d:(k + 1) * d, k * d:(k + 1) * d] += R
    return H

rows = list(csv.DictReader(open(f"{tmp}/{which}/metrics.csv")))
assert len(rows) == 101, len(rows)
v = np.zeros_like(W); Ws = {}
def close(a, b, what, t):
    if abs(a - b) > tol * max(abs(b), 1e-300):
        sys.exit(f"{which}: t = {t}: {what} {a!r}, NumPy {b!r}")
for t in range(101):
    Ws[t] = W.copy()
    g = grad(W) + lam * W
    row = rows[t]
    assert int(row["t"]) == t
    close(float(row["train_loss"]), loss(W), "train_loss", t)
    close(float(row["grad_norm"]), np.linalg.norm(g), "grad_norm", t)
    if lam > 0:
        close(float(row["penalty"]), lam / 2 * (W ** 2).sum(), "penalty", t)
    else:
        assert "penalty" not in row
    v = mu * v + g
    W = W - eta * v
spec = {}
for r in csv.DictReader(open(f"{tmp}/{which}/spectrum.csv")):
    spec.setdefault(int(r["t"]), []).append(float(r["eigenvalue"]))
for t in (0, 50, 100):
    e = np.linalg.eigvalsh(hess(Ws[t]) + lam * np.eye(K * d))
    got = np.array(spec[t])
    if np.max(np.abs(got - e)) > 1e-9 * np.max(np.abs(e)):
        sys.exit(f"{which}: spectrum at t = {t}: {got}, NumPy {e}")
PY
check "weight decay: 100 iterations, losses, grad_norm, penalty, spectra = NumPy's" \
  "$PY" "$TMP/check.py" "$TMP" wd1 $LAM 0 1e-10
check "momentum: 100 iterations, losses, grad_norm, spectra = NumPy's" \
  "$PY" "$TMP/check.py" "$TMP" mom1 0 $MU 1e-10
check "both: 100 iterations, losses, grad_norm, penalty, spectra = NumPy's" \
  "$PY" "$TMP/check.py" "$TMP" both1 $LAM $MU 1e-10
check "both on the moments engine: = NumPy's to 1e-9" \
  "$PY" "$TMP/check.py" "$TMP" moments $LAM $MU 1e-9
check "without either: = NumPy's (the replay itself)" \
  "$PY" "$TMP/check.py" "$TMP" plain1 0 0 1e-10

# spectra at t = 0 (W0 for every run): shifted by lambda exactly where decay is on
cat > "$TMP/shift.py" <<'PY'
import csv, sys
def at0(path):
    return [float(r["eigenvalue"]) for r in csv.DictReader(open(path)) if r["t"] == "0"]
a, b, lam = at0(sys.argv[1]), at0(sys.argv[2]), float(sys.argv[3])
assert len(a) == len(b) == 12, (len(a), len(b))
m = max(abs(x) for x in a)
bad = [(x, y) for x, y in zip(a, b) if abs(y - x - lam) > 1e-13 * max(m, 1.0)]
sys.exit(f"not shifted by {lam}: {bad}" if bad else 0)
PY
check "samples: spectrum at t = 0 with decay = without + lambda" \
  "$PY" "$TMP/shift.py" "$TMP/plain1/spectrum.csv" "$TMP/wd1/spectrum.csv" $LAM
check "population: spectrum at t = 0 with decay = without + lambda" \
  "$PY" "$TMP/shift.py" "$TMP/popplain/spectrum.csv" "$TMP/popwd/spectrum.csv" $LAM
check "momentum alone: spectrum at t = 0 = without (no shift)" \
  "$PY" "$TMP/shift.py" "$TMP/plain1/spectrum.csv" "$TMP/mom1/spectrum.csv" 0

# a grid axis over weight_decay: batched (one pass for both cells) or not,
# each cell has the rows of its own run
for b in 0 1; do
  run_np 1 run "$TMP/b.yaml" -q --set "train.weight_decay=[0, $LAM]" --set train.momentum=$MU \
    --set run.batch=$b -o "$TMP/grid$b" >"$TMP/grid$b.log" 2>&1 ||
    fail "grid run.batch $b: $(tail -2 "$TMP/grid$b.log")"
done
check "grid: run.batch 0 and 1 give the same metrics.csv" \
  same "$TMP/grid0/metrics.csv" "$TMP/grid1/metrics.csv"
awk -F, 'NR > 1 && $1 == 1' "$TMP/grid0/metrics.csv" | cut -d, -f2- > "$TMP/grid_1"
tail -n +2 "$TMP/both1/metrics.csv" | cut -d, -f2- > "$TMP/both_rows"
check "grid: cell 1 (weight_decay $LAM) has the rows of the run of both" \
  same "$TMP/grid_1" "$TMP/both_rows"
awk -F, 'NR > 1 && $1 == 0' "$TMP/grid0/metrics.csv" | cut -d, -f2- > "$TMP/grid_0"
tail -n +2 "$TMP/mom1/metrics.csv" | cut -d, -f2- | sed 's/$/,0/' > "$TMP/mom_rows"
check "grid: cell 0 (weight_decay 0) has momentum's rows and penalty 0" \
  same "$TMP/grid_0" "$TMP/mom_rows"
check "grid: cells.csv has the weight_decay column" \
  grep -q '^cell,K,seed,eta,C,n,d,weight_decay,' "$TMP/grid0/cells.csv"
# killed in cell 1 with no checkpoint: the resume keeps cell 0 from the tables
# (whole rows have the penalty column) and the tables are the uninterrupted ones
TSIM_FAULT=cell=1,iter=50,do=kill run_np 1 run "$TMP/b.yaml" -q --set "train.weight_decay=[0, $LAM]" \
  --set train.momentum=$MU --set run.batch=1 --checkpoint-seconds 1e9 -o "$TMP/kill" \
  >/dev/null 2>&1
run_np 1 run "$TMP/b.yaml" --progress log --set "train.weight_decay=[0, $LAM]" \
  --set train.momentum=$MU --set run.batch=1 -o "$TMP/kill" --resume >"$TMP/kill.log" 2>&1 ||
  fail "killed grid: resume: $(tail -2 "$TMP/kill.log")"
check "killed grid: the resume kept cell 0 from the tables (1 finished before it)" \
  grep -q '1 run in this resume, 1 finished before it' "$TMP/kill.log"
for f in cells.csv metrics.csv spectrum.csv; do
  check "killed grid, resumed from the tables: $f byte-identical" same "$TMP/grid1/$f" "$TMP/kill/$f"
done

# gradient flow refuses them: one located line, exit 2, nothing written
cat > "$TMP/flow.yaml" <<'YAML'
name: flow
model: {d: 4, K: 2}
data:  {n: 64, n_test: 0}
train: {method: flow, T: 1,
        weight_decay: 0.01}
YAML
for key in weight_decay momentum; do
  col=$((11 + ${#key})) # the value's column
  sed "s/weight_decay/$key/" "$TMP/flow.yaml" > "$TMP/flow_$key.yaml"
  run_np 1 run "$TMP/flow_$key.yaml" -q -o "$TMP/flow_$key" >"$TMP/flow_$key.log" 2>&1; rc=$?
  check "flow + $key: exit 2 (got $rc)" test $rc -eq 2
  check "flow + $key: one line, file:line:col: train.$key: unsupported" test "$(cat \
    "$TMP/flow_$key.log")" = "$TMP/flow_$key.yaml:5:$col: train.$key: unsupported with \
train.method flow (0, or train.method gd)"
  check "flow + $key: nothing written" test ! -e "$TMP/flow_$key"
done
finish
