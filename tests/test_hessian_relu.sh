#!/usr/bin/env bash
# test_hessian_relu.sh - metrics.hessian in runs of a relu student (several
# teachers, so on the model family's side), checked against NumPy:
#   source samples: the almost-everywhere Hessian of the empirical loss,
#     against central differences of its gradient on the samples of
#     `tsim export-data`, at a W where no sample is within the step of a
#     kink (checked);
#   source population: the Hessian of the closed-form population loss
#     (arc-cosine kernel), against its second differences; in the empirical
#     regime and in data.regime: population.
# W_t is not in the tables: NumPy replays gradient descent from the exported
# w0.npy (its losses and gradient norms must match metrics.csv), then forms
# the Hessians at the spectra's iterations. Each run on 1 and 2 ranks and
# stopped (TSIM_FAULT) and resumed: the same spectra.
SUITE=hessian-relu
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! "$PY" -c 'import numpy' 2>/dev/null; then
  fail "$PY with numpy (apt-get install python3-numpy)"
  finish; exit
fi

cat > "$TMP/r.yaml" <<'YAML'
name: relu_hessian
model:   {activation: relu, d: 4, K: 3, C: 1.0, loss_scale: 0.25}
teacher: {neurons: 2, direction: orthonormal, norm: 1.0}
data:    {n: 2000, n_test: 0, seed: 3, chunk: 256}
init:    {scale: 0.5, seed: 1}
train:   {eta: 0.05, iterations: 20, log_every: 1}
metrics: {hessian: {at: [0, 7, 20], top: 12, bottom: 0}}
YAML
run_np 1 export-data "$TMP/r.yaml" -o "$TMP/exp" >"$TMP/exp.log" 2>&1 ||
  fail "export-data: $(tail -2 "$TMP/exp.log")"
# the population regime from the same W0
sed -e 's/^data: .*/data:    {regime: population}/' \
    -e "s|^init: .*|init:    {w_file: $TMP/exp/w0.npy}|" "$TMP/r.yaml" > "$TMP/pop.yaml"

# name CONFIG SETS...: runs on 1 and 2 ranks, and on 1 rank stopped at
# t = 10 and resumed
runs() {
  local name=$1 cfg=$2; shift 2
  for np in 1 2; do
    run_np $np run "$cfg" -q "$@" -o "$TMP/$name$np" >"$TMP/$name$np.log" 2>&1 ||
      fail "$name on $np ranks: $(tail -2 "$TMP/$name$np.log")"
  done
  TSIM_FAULT=cell=0,iter=10,do=stop run_np 1 run "$cfg" -q "$@" -o "$TMP/${name}r" \
    >"$TMP/${name}r.log" 2>&1; local rc=$?
  check "$name: stopped at t = 10 with a checkpoint (exit 3, got $rc)" test $rc -eq 3
  rm -f "$TMP/${name}r/STOP"
  run_np 1 resume "$TMP/${name}r" -q >>"$TMP/${name}r.log" 2>&1 ||
    fail "$name: resume: $(tail -2 "$TMP/${name}r.log")"
  check "$name: spectra at t = 0, 7, 20" \
    test "$(awk -F, 'NR > 1 { printf "%s ", $2 }' "$TMP/${name}1/hessian.csv")" = "0 7 20 "
  for f in metrics.csv spectrum.csv hessian.csv; do
    check "$name: stopped + resumed: $f byte-identical to the uninterrupted run" \
      same_csv "$TMP/${name}1/$f" "$TMP/${name}r/$f"
  done
  check "$name: 2 ranks: metrics.csv byte-identical to 1 rank's" \
    same_csv "$TMP/${name}1/metrics.csv" "$TMP/${name}2/metrics.csv"
  check "$name: 2 ranks: eigenvalues within 1e-13 of 1 rank's largest" \
    "$PY" -c '
import csv, sys
a = list(csv.reader(open(sys.argv[1])))[1:]; b = list(csv.reader(open(sys.argv[2])))[1:]
assert len(a) == len(b) == 36 and all(x[:3] == y[:3] for x, y in zip(a, b))
m = max(abs(float(r[3])) for r in a)
assert all(abs(float(x[3]) - float(y[3])) <= 1e-13 * m for x, y in zip(a, b))
' "$TMP/${name}1/spectrum.csv" "$TMP/${name}2/spectrum.csv"
}
runs samples "$TMP/r.yaml"
runs popsrc "$TMP/r.yaml" --set metrics.hessian.source=population
runs popreg "$TMP/pop.yaml" --set metrics.hessian.source=population

# NumPy: replay the trajectories, form the Hessians by finite differences
cat > "$TMP/check.py" <<'PY'
import csv, sys
import numpy as np
tmp, which = sys.argv[1], sys.argv[2]
d, K, m, C, s, eta = 4, 3, 2, 1.0, 0.25, 0.05
X = np.load(f"{tmp}/exp/x.npy"); y = np.load(f"{tmp}/exp/y.npy")
W0 = np.load(f"{tmp}/exp/w0.npy").T.copy()  # d x K file -> K x d
V = np.eye(m, d)                            # orthonormal teachers, norm 1
n = len(y)
assert X.shape == (2000, d) and W0.shape == (K, d)

def loss_samples(W):
    r = C * np.maximum(X @ W.T, 0).sum(1) - y
    return s * np.mean(r * r)

def grad_samples(W):
    U = X @ W.T
    r = C * np.maximum(U, 0).sum(1) - y
    return s * 2.0 * C * ((r[:, None] * (U > 0)).T @ X) / n

def kernel(u, w):  # E relu(u.x) relu(w.x), x ~ N(0, I)
    nu, nw = np.linalg.norm(u), np.linalg.norm(w)
    if nu == 0 or nw == 0: return 0.0
    t = np.arccos(np.clip(u @ w / (nu * nw), -1.0, 1.0))
    return nu * nw * (np.sin(t) + (np.pi - t) * np.cos(t)) / (2 * np.pi)

def loss_pop(W):
    Z = np.vstack([W, V]); c = np.r_[np.full(K, C), -np.ones(m)]
    return s * sum(c[i] * c[j] * kernel(Z[i], Z[j]) for i in range(len(c)) for j in range(len(c)))

def grad_fd(f, W, h):
    g = np.zeros(W.size)
    for a in range(W.size):
        e = np.zeros(W.size); e[a] = h
        g[a] = (f(W + e.reshape(W.shape)) - f(W - e.reshape(W.shape))) / (2 * h)
    return g.reshape(W.shape)

def hess_from_grad(g, W, h):  # central differences of a gradient
    H = np.zeros((W.size, W.size))
    for a in range(W.size):
        e = np.zeros(W.size); e[a] = h
        H[:, a] = ((g(W + e.reshape(W.shape)) - g(W - e.reshape(W.shape))) / (2 * h)).ravel()
    return (H + H.T) / 2

def hess_from_loss(f, W, h):  # second differences of a loss
    N = W.size; H = np.zeros((N, N)); w = W.ravel()
    F = lambda v: f(v.reshape(W.shape))
    for a in range(N):
        for b in range(a, N):
            ea = np.zeros(N); ea[a] = h; eb = np.zeros(N); eb[b] = h
            H[a, b] = H[b, a] = (F(w + ea + eb) - F(w + ea - eb) - F(w - ea + eb)
                                 + F(w - ea - eb)) / (4 * h * h)
    return H

def table(path):
    return list(csv.DictReader(open(path)))

metrics = table(f"{tmp}/{which}1/metrics.csv")
spec = {}
for r in table(f"{tmp}/{which}1/spectrum.csv"):
    spec.setdefault(int(r["t"]), []).append(float(r["eigenvalue"]))
# replay gradient descent: on the samples, or on the population loss (its
# gradient by central differences of the closed form)
pop_regime = which == "popreg"
W = W0.copy(); traj = {}
for t in range(21):
    traj[t] = W.copy()
    L = loss_pop(W) if pop_regime else loss_samples(W)
    G = grad_fd(loss_pop, W, 1e-6) if pop_regime else grad_samples(W)
    row = metrics[t]
    assert int(row["t"]) == t
    tol = 1e-8 if pop_regime else 1e-11
    assert abs(L - float(row["train_loss"])) <= tol * abs(L), (t, L, row["train_loss"])
    assert abs(np.linalg.norm(G) - float(row["grad_norm"])) <= tol * np.linalg.norm(G), (t,)
    W = W - eta * G
print(f"replayed 20 steps: losses and gradient norms match metrics.csv")
worst = 0.0
for t in (0, 7, 20):
    W = traj[t]
    if which == "samples":
        h = 1e-6
        U = np.abs(X @ W.T)                                # |w_k . x_i|
        margin = (U / (h * np.abs(X).max(1)[:, None])).min()
        assert margin > 2.0, f"t={t}: a sample within the step of a kink ({margin})"
        H = hess_from_grad(grad_samples, W, h)
    else:
        H = hess_from_loss(loss_pop, W, 1e-4)
    ev = np.sort(np.linalg.eigvalsh(H))
    got = np.array(sorted(spec[t]))
    scale = np.abs(ev).max()
    err = np.abs(ev - got).max() / scale
    worst = max(worst, err)
    assert err < 1e-6, (t, err, ev, got)
print(f"eigenvalues within {worst:.1e} of the largest of NumPy's finite-difference Hessian")
PY
for name in samples popsrc popreg; do
  if out=$("$PY" "$TMP/check.py" "$TMP" $name 2>&1); then
    ok "$name: $(echo "$out" | tail -1)"
  else
    fail "$name: NumPy check: $(echo "$out" | tail -3)"
  fi
done
# the kinks' term: the population Hessian is not the sample one
check "source population differs from source samples at t = 0 (the kinks' term)" \
  "$PY" -c '
import csv, sys
a = [float(r[3]) for r in list(csv.reader(open(sys.argv[1])))[1:13]]
b = [float(r[3]) for r in list(csv.reader(open(sys.argv[2])))[1:13]]
assert min(b) < 0 < min(a)
' "$TMP/samples1/spectrum.csv" "$TMP/popsrc1/spectrum.csv"

# relu cells batched (one pass over the samples): the spectra of each alone
for b in 1 3; do
  run_np 1 run "$TMP/r.yaml" --set 'init.seed=[1, 2, 3]' --set run.batch=$b \
    --set data.engine=sharded -o "$TMP/batch$b" >"$TMP/batch$b.log" 2>&1 ||
    fail "3 cells, run.batch $b: $(tail -2 "$TMP/batch$b.log")"
done
check "run.batch 3 forms a batch of the 3 relu cells" \
  grep -q 'batches of up to 3 cells' "$TMP/batch3.log"
for f in spectrum.csv hessian.csv; do
  check "3 relu cells batched: $f byte-identical to unbatched" \
    same_csv "$TMP/batch1/$f" "$TMP/batch3/$f"
done

# what stays refused: one line naming file:line:col and key, exit 2
refused() { # description SETS...
  local what=$1; shift
  local out rc
  out=$("$TSIM" validate "$TMP/r.yaml" "$@" 2>&1); rc=$?
  check "refused, $what: exit 2, one line naming metrics.hessian ($out)" \
    test $rc -eq 2 -a "$(echo "$out" | wc -l)" -eq 1 -a -n "$(echo "$out" | grep -E ':[0-9]+:[0-9]+: metrics.hessian')"
}
refused "norm-tied output" --set model.norm_tied=true
refused "source samples without samples" --set data.regime=population
refused "source population with another teacher activation" \
  --set teacher.activation=abs --set metrics.hessian.source=population
finish
