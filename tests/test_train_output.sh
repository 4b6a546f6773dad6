#!/usr/bin/env bash
# test_train_output.sh - model.train_output (f = C sum_k a_k act(w_k.x), the
# a_k trained too, step train.eta_output), against an independent NumPy
# gradient descent on the samples and initial weights of `tsim export-data`
# (w0.npy, and a0.npy of the output weights):
#   relu and quadratic students, plain and with momentum + weight decay
#   (which covers the a_k): 100 iterations, every row's train_loss and
#   grad_norm (w and a) within 1e-10 of NumPy's;
#   init.output sign: export-data's a0.npy is +-1 and the run is NumPy's from it;
#   1 and 2 ranks, stop (TSIM_FAULT) + resume byte-identical; a batch of
#   cells as each alone; gradient flow runs (1 and 2 ranks identical);
#   train_output false: the tables without the key;
#   the population regime (the closed form with c_k = C a_k): its trajectory
#   against NumPy's descent on the arc-cosine kernel (gradient by central
#   differences), and the sharded runs' pop_loss against that closed form;
#   the moments engine refuses it with a located line, and so do the
#   population source's Hessian and the norm tie (the sample Hessian:
#   test_hessian_output.sh).
SUITE=train-output
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! "$PY" -c 'import numpy' 2>/dev/null; then
  fail "$PY with numpy (apt-get install python3-numpy)"
  finish; exit
fi

cat > "$TMP/b.yaml" <<'YAML'
name: out
model:   {activation: relu, d: 4, K: 3, C: 1.0, loss_scale: 0.25, train_output: true}
teacher: {neurons: 2, direction: orthonormal, norm: 1.0}
data:    {n: 512, n_test: 0, seed: 3, chunk: 256}
init:    {scale: 0.5, seed: 1}
train:   {eta: 0.05, eta_output: 0.02, iterations: 100, log_every: 1, tol: 0}
YAML
run_np 1 export-data "$TMP/b.yaml" -o "$TMP/exp" >"$TMP/exp.log" 2>&1 ||
  fail "export-data: $(tail -2 "$TMP/exp.log")"
run_np 1 export-data "$TMP/b.yaml" --set model.activation=quadratic --set teacher.neurons=1 \
  --set teacher.direction=e1 -o "$TMP/expq" >"$TMP/expq.log" 2>&1 ||
  fail "export-data quadratic: $(tail -2 "$TMP/expq.log")"
run_np 1 export-data "$TMP/b.yaml" --set init.output=sign -o "$TMP/exps" >"$TMP/exps.log" 2>&1 ||
  fail "export-data sign: $(tail -2 "$TMP/exps.log")"
QUAD=(--set model.activation=quadratic --set teacher.neurons=1 --set teacher.direction=e1)
EXTRA=(--set train.momentum=0.6 --set train.weight_decay=0.01)

# same A B: A has rows, and B is byte-identical
same() { test "$(wc -l < "$1")" -gt 1 && same_csv "$1" "$2"; }
# name SETS...: one run on 1 rank
one() {
  local name=$1; shift
  run_np 1 run "$TMP/b.yaml" -q "$@" -o "$TMP/$name" >"$TMP/$name.log" 2>&1 ||
    fail "$name: $(tail -2 "$TMP/$name.log")"
}
one relu
one relu_x "${EXTRA[@]}"
one quad "${QUAD[@]}"
one quad_x "${QUAD[@]}" "${EXTRA[@]}"
one sign --set init.output=sign
one off --set model.train_output=false
sed 's/, train_output: true//; s/, eta_output: 0.02//' "$TMP/b.yaml" > "$TMP/plain.yaml"
run_np 1 run "$TMP/plain.yaml" -q -o "$TMP/plain" >"$TMP/plain.log" 2>&1 ||
  fail "plain: $(tail -2 "$TMP/plain.log")"
for f in cells.csv metrics.csv neurons.csv teachers.csv; do
  check "train_output false: $f byte-identical to the config without the keys" \
    same "$TMP/plain/$f" "$TMP/off/$f"
done

cat > "$TMP/check.py" <<'PY'
import csv, sys
import numpy as np
exp, run, act, lam, mu, signs = sys.argv[1:7]
lam, mu = float(lam), float(mu)
d, K, C, s, eta, eta_a = 4, 3, 1.0, 0.25, 0.05, 0.02
X = np.load(f"{exp}/x.npy"); y = np.load(f"{exp}/y.npy")
W = np.load(f"{exp}/w0.npy").T.copy()
n = len(y)
if act == "relu":
    f_, df = (lambda u: np.maximum(u, 0)), (lambda u: (u > 0).astype(float))
else:
    f_, df = (lambda u: u * u), (lambda u: 2 * u)
def loss(W, a):
    r = C * f_(X @ W.T) @ a - y
    return s * np.mean(r * r)
def grad(W, a):
    U = X @ W.T
    r = C * f_(U) @ a - y
    gw = s * 2 * C * ((r[:, None] * df(U) * a[None, :]).T @ X) / n
    ga = s * 2 * C * (f_(U).T @ r) / n
    return gw, ga
rows = list(csv.DictReader(open(f"{run}/metrics.csv")))
assert len(rows) == 101, len(rows)
a = np.load(f"{exp}/a0.npy"); vw = np.zeros_like(W); va = np.zeros(K)
assert a.shape == (K,) and (signs == "ones") == (a == 1).all() and (np.abs(a) == 1).all(), a
for t in range(101):
    gw, ga = grad(W, a)
    gw, ga = gw + lam * W, ga + lam * a
    for what, got, want in (("train_loss", float(rows[t]["train_loss"]), loss(W, a)),
                            ("grad_norm", float(rows[t]["grad_norm"]),
                             np.sqrt((gw ** 2).sum() + (ga ** 2).sum()))):
        if abs(got - want) > 1e-10 * abs(want):
            sys.exit(f"{run}: t = {t}: {what} {got!r}, NumPy {want!r}")
    vw = mu * vw + gw; va = mu * va + ga
    W = W - eta * vw; a = a - eta_a * va
PY
check "relu: 100 iterations = NumPy's (w and a trained)" \
  "$PY" "$TMP/check.py" "$TMP/exp" "$TMP/relu" relu 0 0 ones
check "relu, momentum + weight decay: = NumPy's" \
  "$PY" "$TMP/check.py" "$TMP/exp" "$TMP/relu_x" relu 0.01 0.6 ones
check "quadratic: = NumPy's" \
  "$PY" "$TMP/check.py" "$TMP/expq" "$TMP/quad" quadratic 0 0 ones
check "quadratic, momentum + weight decay: = NumPy's" \
  "$PY" "$TMP/check.py" "$TMP/expq" "$TMP/quad_x" quadratic 0.01 0.6 ones
check "init.output sign: a0.npy of export-data is +-1, not all 1, and the run = NumPy's from it" \
  "$PY" "$TMP/check.py" "$TMP/exps" "$TMP/sign" relu 0 0 sign
check "init.output sign: a trajectory of its own" \
  test "$(sed -n 2p "$TMP/sign/metrics.csv")" != "$(sed -n 2p "$TMP/relu/metrics.csv")"
check "quadratic: dist and q9 empty (their a_k = 1 formulas)" \
  test "$(tail -n +2 "$TMP/quad/metrics.csv" | cut -d, -f6-7 | sort -u)" = ","

# the population regime, and pop_loss of the sharded runs: NumPy's closed form
one pop --set data.regime=population --set 'train.eta_output=0.02'
one pop_x --set data.regime=population "${EXTRA[@]}"
cat > "$TMP/pop.py" <<'PY'
import csv, sys
import numpy as np
exp, run, which, lam, mu = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
d, K, m, C, s, eta, eta_a = 4, 3, 2, 1.0, 0.25, 0.05, 0.02
V = np.eye(m, d)
def kernel(u, w):  # E relu(u.x) relu(w.x), x ~ N(0, I)
    nu, nw = np.linalg.norm(u), np.linalg.norm(w)
    if nu == 0 or nw == 0: return 0.0
    t = np.arccos(np.clip(u @ w / (nu * nw), -1.0, 1.0))
    return nu * nw * (np.sin(t) + (np.pi - t) * np.cos(t)) / (2 * np.pi)
def loss(th):
    W, a = th[:K * d].reshape(K, d), th[K * d:]
    Z = np.vstack([W, V]); c = np.r_[C * a, -np.ones(m)]
    return s * sum(c[i] * c[j] * kernel(Z[i], Z[j]) for i in range(K + m) for j in range(K + m))
def grad(th, h=1e-6):
    g = np.zeros_like(th)
    for i in range(th.size):
        e = np.zeros_like(th); e[i] = h
        g[i] = (loss(th + e) - loss(th - e)) / (2 * h)
    return g
rows = list(csv.DictReader(open(f"{run}/metrics.csv")))
W0 = np.load(f"{exp}/w0.npy").T.copy()
th = np.r_[W0.ravel(), np.ones(K)]
if which == "pop_loss":  # the sharded run: replay on the samples, compare pop_loss
    X = np.load(f"{exp}/x.npy"); y = np.load(f"{exp}/y.npy"); n = len(y)
    for t in range(101):
        W, a = th[:K * d].reshape(K, d), th[K * d:]
        got = float(rows[t]["pop_loss"])
        if abs(got - loss(th)) > 1e-12 * loss(th):
            sys.exit(f"t = {t}: pop_loss {got!r}, NumPy {loss(th)!r}")
        U = X @ W.T; r = C * np.maximum(U, 0) @ a - y
        gw = s * 2 * C * ((r[:, None] * (U > 0) * a[None, :]).T @ X) / n
        ga = s * 2 * C * (np.maximum(U, 0).T @ r) / n
        th = th - np.r_[eta * gw.ravel(), eta_a * ga]
    sys.exit(0)
v = np.zeros_like(th); step = np.r_[np.full(K * d, eta), np.full(K, eta_a)]
for t in range(101):
    g = grad(th) + lam * th
    for what, got, want in (("train_loss", float(rows[t]["train_loss"]), loss(th)),
                            ("grad_norm", float(rows[t]["grad_norm"]), np.linalg.norm(g))):
        if abs(got - want) > 1e-7 * abs(want):
            sys.exit(f"{run}: t = {t}: {what} {got!r}, NumPy {want!r}")
    v = mu * v + g
    th = th - step * v
PY
check "population regime: 100 iterations = NumPy's closed-form descent (w and a)" \
  "$PY" "$TMP/pop.py" "$TMP/exp" "$TMP/pop" traj 0 0
check "population regime, momentum + weight decay: = NumPy's" \
  "$PY" "$TMP/pop.py" "$TMP/exp" "$TMP/pop_x" traj 0.01 0.6
check "sharded: pop_loss = NumPy's closed form with the a_k, every row" \
  "$PY" "$TMP/pop.py" "$TMP/exp" "$TMP/relu" pop_loss 0 0

# ranks, stop + resume, batches, flow
for v in "relu_x:${EXTRA[*]}" "gauss:--set init.output=gaussian" \
         "pop:--set data.regime=population --set init.output=sign" \
         "flow:--set train.method=flow --set train.T=2"; do
  name=${v%%:*}; read -r -a sets <<< "${v#*:}"
  for np in 1 2; do
    run_np $np run "$TMP/b.yaml" -q "${sets[@]}" -o "$TMP/r$name$np" >"$TMP/r$name$np.log" 2>&1 ||
      fail "$name on $np ranks: $(tail -2 "$TMP/r$name$np.log")"
  done
  check "$name: 2 ranks: metrics.csv byte-identical to 1 rank's" \
    same "$TMP/r${name}1/metrics.csv" "$TMP/r${name}2/metrics.csv"
  [ "$name" = flow ] && continue
  TSIM_FAULT=cell=0,iter=37,do=stop run_np 1 run "$TMP/b.yaml" -q "${sets[@]}" \
    -o "$TMP/s$name" >"$TMP/s$name.log" 2>&1; rc=$?
  check "$name: stopped at t = 37 (exit 3, got $rc)" test $rc -eq 3
  rm -f "$TMP/s$name/STOP"
  run_np 2 resume "$TMP/s$name" -q >>"$TMP/s$name.log" 2>&1 ||
    fail "$name: resume: $(tail -2 "$TMP/s$name.log")"
  check "$name: stopped + resumed on 2 ranks: metrics.csv byte-identical" \
    same "$TMP/r${name}1/metrics.csv" "$TMP/s$name/metrics.csv"
done
for b in 0 1; do
  run_np 1 run "$TMP/b.yaml" -q --set 'init.output=[ones, sign]' --set 'train.eta_output=[0.02, 0.05]' \
    --set run.batch=$b -o "$TMP/grid$b" >"$TMP/grid$b.log" 2>&1 ||
    fail "grid run.batch $b: $(tail -2 "$TMP/grid$b.log")"
done
check "a batch of 4 cells: metrics.csv as each cell alone" \
  same "$TMP/grid0/metrics.csv" "$TMP/grid1/metrics.csv"
awk -F, 'NR > 1 && $1 == 0' "$TMP/grid0/metrics.csv" | cut -d, -f2- > "$TMP/g0"
tail -n +2 "$TMP/relu/metrics.csv" | cut -d, -f2- > "$TMP/relu_rows"
check "grid: cell 0 (ones, eta_output 0.02) has the rows of the single run" \
  same "$TMP/g0" "$TMP/relu_rows"

# refused: one located line, exit 2, nothing written
refuse() { # name regex sets...
  local name=$1 want=$2; shift 2
  run_np 1 run "$TMP/b.yaml" -q "$@" -o "$TMP/no$name" >"$TMP/no$name.log" 2>&1; local rc=$?
  check "$name: exit 2, one line: $(head -c 160 "$TMP/no$name.log")" \
    test $rc -eq 2 -a "$(wc -l < "$TMP/no$name.log")" -eq 1
  check "$name: the line names the key and why" grep -qE "$want" "$TMP/no$name.log"
  check "$name: nothing written" test ! -e "$TMP/no$name"
}
refuse moments "data.engine: moments cannot compute this model: its residuals" "${QUAD[@]}" \
  --set data.engine=moments
refuse hessian "metrics.hessian: no spectra for this cell: source population .*trained output" \
  --set 'metrics.hessian.at=[0]' --set metrics.hessian.source=population
refuse norm_tied "model.train_output: trained output weights and model.norm_tied" \
  --set model.norm_tied=true
finish
