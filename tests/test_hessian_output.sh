#!/usr/bin/env bash
# test_hessian_output.sh - metrics.hessian (source samples) with
# model.train_output: the N = d K + K parameters (w_k, then a_k), against
# NumPy on the samples and initial weights of `tsim export-data` (x.npy,
# y.npy, w0.npy, a0.npy), at t = 0, for a relu and a tanh student:
#   the eigenvalues within 1e-8 of the largest of central differences of
#   NumPy's gradient (relu: no sample within the step of a kink, checked),
#   and within 1e-12 of the analytic Hessian; min_eig, max_eig and
#   n_negative of hessian.csv from the same eigenvalues; restricted_min,
#   q9_over_v2 and overlap_v empty (V is Wang & Abernethy's, not defined);
#   1 and 2 ranks: eigenvalues within 1e-13, metrics.csv byte-identical;
#   train.weight_decay lambda: every eigenvalue shifted by lambda;
#   stopped (TSIM_FAULT) and resumed: the tables byte-identical;
#   source population, and an order d K + K above 65536: refused with a
#   located line.
SUITE=hessian-output
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! "$PY" -c 'import numpy' 2>/dev/null; then
  fail "$PY with numpy (apt-get install python3-numpy)"
  finish; exit
fi

cat > "$TMP/b.yaml" <<'YAML'
name: out_hessian
model:   {activation: relu, d: 3, K: 2, C: 0.7, loss_scale: 0.25, train_output: true}
teacher: {neurons: 2, direction: orthonormal, norm: 1.0}
data:    {n: 96, n_test: 0, seed: 3, chunk: 32}
init:    {scale: 0.8, seed: 1, output: gaussian}
train:   {eta: 0.05, iterations: 2, log_every: 1, tol: 0}
metrics: {hessian: {at: [0], top: 8, bottom: 0}}
YAML

cat > "$TMP/check.py" <<'PY'
import csv, sys
import numpy as np
exp, run, act, what = sys.argv[1:5]
d, K, C, s = 3, 2, 0.7, 0.25
N = K * d + K
X = np.load(f"{exp}/x.npy"); y = np.load(f"{exp}/y.npy")
W0 = np.load(f"{exp}/w0.npy").T.copy(); a0 = np.load(f"{exp}/a0.npy")
assert W0.shape == (K, d) and a0.shape == (K,) and not (a0 == 1).all(), (W0.shape, a0)
n = len(y)
if act == "relu":
    f0 = lambda u: np.maximum(u, 0); f1 = lambda u: (u > 0).astype(float)
    f2 = lambda u: np.zeros_like(u); h = 1e-6
else:
    f0 = np.tanh; f1 = lambda u: 1 - np.tanh(u) ** 2
    f2 = lambda u: -2 * np.tanh(u) * (1 - np.tanh(u) ** 2); h = 1e-5
def grad(th):  # the gradient of L = s mean r^2, r = C sum_k a_k act(w_k.x) - y
    W, a = th[:K * d].reshape(K, d), th[K * d:]
    U = X @ W.T; r = C * f0(U) @ a - y
    gw = 2 * s * C * ((r[:, None] * f1(U) * a[None, :]).T @ X) / n
    ga = 2 * s * C * (f0(U).T @ r) / n
    return np.r_[gw.ravel(), ga]
th = np.r_[W0.ravel(), a0]
if act == "relu":  # no sample within the step of a kink
    U = X @ W0.T
    assert np.abs(U).min() > 10 * h * np.abs(X).max(), np.abs(U).min()
Hfd = np.zeros((N, N))
for j in range(N):
    e = np.zeros(N); e[j] = h
    Hfd[:, j] = (grad(th + e) - grad(th - e)) / (2 * h)
Hfd = (Hfd + Hfd.T) / 2
# the analytic one: 2 s mean [df df^T + r d2f]
U = X @ W0.T; r = C * f0(U) @ a0 - y
J = np.hstack([(C * (f1(U) * a0)[:, :, None] * X[:, None, :]).reshape(n, K * d), C * f0(U)])
Ha = 2 * s * J.T @ J / n
for k in range(K):
    Ha[k*d:(k+1)*d, k*d:(k+1)*d] += 2 * s * C * (X.T * (r * a0[k] * f2(U[:, k]))) @ X / n
    v = 2 * s * C * (r * f1(U[:, k])) @ X / n
    Ha[K*d + k, k*d:(k+1)*d] += v; Ha[k*d:(k+1)*d, K*d + k] += v
assert np.abs(Ha - Hfd).max() <= 1e-6 * np.abs(Ha).max(), np.abs(Ha - Hfd).max()
rows = [r for r in csv.DictReader(open(f"{run}/spectrum.csv")) if r["t"] == "0"]
got = np.array([float(r["eigenvalue"]) for r in sorted(rows, key=lambda r: int(r["index"]))])
assert len(got) == N, len(got)
if what == "overlap_empty":
    assert all(r["overlap_v"] == "" for r in rows), rows
    hr = [r for r in csv.DictReader(open(f"{run}/hessian.csv")) if r["t"] == "0"]
    assert len(hr) == 1 and hr[0]["restricted_min"] == "" and hr[0]["q9_over_v2"] == "", hr
    sys.exit(0)
want = np.linalg.eigvalsh(Hfd if what == "fd" else Ha)
top = np.abs(want).max()
tol = 1e-8 if what == "fd" else 1e-12
err = np.abs(got - want).max()
if err > tol * top:
    sys.exit(f"{run}: eigenvalues {got}, NumPy ({what}) {want}: off by {err / top:.3g}")
if what == "analytic":
    hr = [r for r in csv.DictReader(open(f"{run}/hessian.csv")) if r["t"] == "0"]
    assert len(hr) == 1 and float(hr[0]["min_eig"]) == got[0] and \
        float(hr[0]["max_eig"]) == got[-1], hr
    neg = int((want < -1e-8 * top).sum())
    assert float(hr[0]["n_negative"]) == neg, (hr, neg, want)
PY

cat > "$TMP/eq.py" <<'PY'
import csv, sys
a = list(csv.reader(open(sys.argv[1])))[1:]; b = list(csv.reader(open(sys.argv[2])))[1:]
shift, tol = float(sys.argv[3]), float(sys.argv[4])
assert len(a) == len(b) == 8 and all(x[:3] == y[:3] for x, y in zip(a, b)), (a, b)
m = max(abs(float(r[3])) for r in a)
err = max(abs(float(x[3]) + shift - float(y[3])) for x, y in zip(a, b))
assert err <= tol * m, (err / m, a, b)
PY
# same A B: A has rows, and B is byte-identical
same() { test "$(wc -l < "$1")" -gt 1 && same_csv "$1" "$2"; }

for act in relu tanh; do
  sets=(--set model.activation=$act)
  [ $act = tanh ] && sets+=(--set metrics.hessian.vectors=true)
  run_np 1 export-data "$TMP/b.yaml" "${sets[@]}" -o "$TMP/exp$act" >"$TMP/exp$act.log" 2>&1 ||
    fail "$act: export-data: $(tail -2 "$TMP/exp$act.log")"
  for np in 1 2; do
    run_np $np run "$TMP/b.yaml" -q "${sets[@]}" -o "$TMP/$act$np" >"$TMP/$act$np.log" 2>&1 ||
      fail "$act on $np ranks: $(tail -2 "$TMP/$act$np.log")"
  done
  run_np 1 run "$TMP/b.yaml" -q "${sets[@]}" --set train.weight_decay=0.01 -o "$TMP/${act}wd" \
    >"$TMP/${act}wd.log" 2>&1 || fail "$act, weight decay: $(tail -2 "$TMP/${act}wd.log")"
  check "$act: the d K + K eigenvalues = NumPy's central differences of the gradient (1e-8)" \
    "$PY" "$TMP/check.py" "$TMP/exp$act" "$TMP/${act}1" $act fd
  check "$act: = NumPy's analytic Hessian (1e-12); min, max, n_negative of hessian.csv" \
    "$PY" "$TMP/check.py" "$TMP/exp$act" "$TMP/${act}1" $act analytic
  check "$act: restricted_min, q9_over_v2 and overlap_v empty" \
    "$PY" "$TMP/check.py" "$TMP/exp$act" "$TMP/${act}1" $act overlap_empty
  check "$act: 2 ranks: eigenvalues within 1e-13 of 1 rank's" \
    "$PY" "$TMP/eq.py" "$TMP/${act}1/spectrum.csv" "$TMP/${act}2/spectrum.csv" 0 1e-13
  check "$act: 2 ranks: metrics.csv byte-identical to 1 rank's" \
    same "$TMP/${act}1/metrics.csv" "$TMP/${act}2/metrics.csv"
  check "$act: weight decay 0.01: every eigenvalue shifted by 0.01 (1e-13)" \
    "$PY" "$TMP/eq.py" "$TMP/${act}1/spectrum.csv" "$TMP/${act}wd/spectrum.csv" 0.01 1e-13
done

# stop + resume: the spectrum after the stop as the uninterrupted run's
R=(--set model.activation=tanh --set 'metrics.hessian.at=[0, 2]')
run_np 1 run "$TMP/b.yaml" -q "${R[@]}" -o "$TMP/full" >"$TMP/full.log" 2>&1 ||
  fail "at [0, 2]: $(tail -2 "$TMP/full.log")"
TSIM_FAULT=cell=0,iter=1,do=stop run_np 1 run "$TMP/b.yaml" -q "${R[@]}" -o "$TMP/stop" \
  >"$TMP/stop.log" 2>&1; rc=$?
check "stopped at t = 1 (exit 3, got $rc)" test $rc -eq 3
rm -f "$TMP/stop/STOP"
run_np 1 resume "$TMP/stop" -q >>"$TMP/stop.log" 2>&1 || fail "resume: $(tail -2 "$TMP/stop.log")"
check "spectra at t = 0 and 2" \
  test "$(awk -F, 'NR > 1 { printf "%s ", $2 }' "$TMP/full/hessian.csv")" = "0 2 "
for f in metrics.csv spectrum.csv hessian.csv; do
  check "stopped at t = 1, resumed: $f byte-identical to the uninterrupted run" \
    same "$TMP/full/$f" "$TMP/stop/$f"
done

run_np 1 run "$TMP/b.yaml" -q --set metrics.hessian.source=population -o "$TMP/nopop" \
  >"$TMP/nopop.log" 2>&1; rc=$?
check "source population: exit 2, one line: $(head -c 160 "$TMP/nopop.log")" \
  test $rc -eq 2 -a "$(wc -l < "$TMP/nopop.log")" -eq 1
check "source population: the line names metrics.hessian and the trained output weights" \
  grep -qE "metrics.hessian.*population.*trained output weights" "$TMP/nopop.log"
check "source population: nothing written" test ! -e "$TMP/nopop"
run_np 1 run "$TMP/b.yaml" -q --set model.d=32768 -o "$TMP/nobig" >"$TMP/nobig.log" 2>&1; rc=$?
check "d K + K = 65538 > 65536: exit 2, one line: $(head -c 160 "$TMP/nobig.log")" \
  test $rc -eq 2 -a "$(wc -l < "$TMP/nobig.log")" -eq 1
check "d K + K = 65538: the line names the order" \
  grep -q "metrics.hessian: model.d \* model.K + model.K (model.train_output) is too large" \
  "$TMP/nobig.log"
check "d K + K = 65538: nothing written" test ! -e "$TMP/nobig"
finish
