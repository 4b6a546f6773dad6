#!/usr/bin/env bash
# test_activations.sh - the activations beyond quadratic/relu/abs against an
# independent NumPy implementation (Python's math for act itself) on the
# samples and initial weights of `tsim export-data`: per activation a run
# of 30 iterations (d = 5, K = 3, n = 500) whose train_loss and grad_norm at
# every t and neurons' par and norm agree to 1e-10 relative; the labels
# within 2 ulp (gelu 3) of mpmath's act; the analytic gradient of the
# reference equals central finite differences of its loss (1e-7) and tsim's
# grad_norm at t = 0; 1 and 2 ranks give byte-identical tables.
SUITE=activations
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

cat > "$TMP/reference.py" <<'PY'
import csv, math, sys
import mpmath
import numpy as np

act, data, run = sys.argv[1:4]
C, scale, eta, norm, T = 0.8, 0.5, 0.2, 1.5, 30

def value(z):
    if act == "linear": return z
    if act == "erf": return math.erf(z / math.sqrt(2))
    if act == "gelu": return z * 0.5 * math.erfc(-z / math.sqrt(2))
    if act == "tanh": return math.tanh(z)
    if act == "sigmoid": return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))  # softplus

def slope(z):
    if act == "linear": return 1.0
    if act == "erf": return math.sqrt(2 / math.pi) * math.exp(-z * z / 2)
    if act == "gelu":
        return 0.5 * math.erfc(-z / math.sqrt(2)) + z * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    if act == "tanh": return 1 / math.cosh(z) ** 2
    s = 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))
    return s * (1 - s) if act == "sigmoid" else s

f_act, f_slope = np.vectorize(value), np.vectorize(slope)
x = np.load(data + "/x.npy")
y = np.load(data + "/y.npy")
W = np.load(data + "/w0.npy").T.copy()  # (K, d): a row per neuron
n = len(y)

def loss_grad(W):
    U = x @ W.T
    r = C * f_act(U).sum(axis=1) - y
    return scale * np.mean(r * r), (2 * scale / n) * C * ((r[:, None] * f_slope(U)).T @ x)

def say(ok, what):
    print(("ok " if ok else "FAIL ") + act + ": " + what)

# labels: act(norm x_0) with the teacher e1 (its output scale 1), against
# mpmath at 40 digits (the bounds of test_activation: 2 ulp, gelu 3)
mpmath.mp.dps = 40
def exact(z):
    z = mpmath.mpf(z)
    return {"linear": lambda: z, "tanh": lambda: mpmath.tanh(z),
            "sigmoid": lambda: 1 / (1 + mpmath.exp(-z)),
            "softplus": lambda: mpmath.log(1 + mpmath.exp(z)),
            "erf": lambda: mpmath.erf(z / mpmath.sqrt(2)),
            "gelu": lambda: z * mpmath.ncdf(z)}[act]()
ulps = max(float(abs(mpmath.mpf(yi) - exact(norm * xi[0]))) / np.spacing(abs(yi))
           for xi, yi in zip(x, y))
bound = 3 if act == "gelu" else 2
say(ulps <= bound, "labels within %d ulp of mpmath's act (max %.2f ulp)" % (bound, ulps))

# the reference's gradient = central finite differences of its loss
L0, G0 = loss_grad(W)
h, fd = 1e-6, np.zeros_like(W)
for k in range(W.shape[0]):
    for j in range(W.shape[1]):
        E = np.zeros_like(W); E[k, j] = h
        fd[k, j] = (loss_grad(W + E)[0] - loss_grad(W - E)[0]) / (2 * h)
err = np.max(np.abs(fd - G0)) / np.max(np.abs(G0))
say(err < 1e-7, "gradient = central finite differences of the loss (rel %.1e)" % err)

rows = {}
with open(run + "/metrics.csv") as f:
    for row in csv.DictReader(f):
        rows[int(row["t"])] = (float(row["train_loss"]), float(row["grad_norm"]))
neur = {}
with open(run + "/neurons.csv") as f:
    for row in csv.DictReader(f):
        neur[(int(row["t"]), int(row["k"]))] = (float(row["par"]), float(row["norm"]))
g0 = math.sqrt(float(np.sum(fd * fd)))
say(abs(rows[0][1] - g0) <= 1e-7 * g0,
    "tsim's grad_norm at t = 0 = the finite-difference gradient's norm (%.6g, %.6g)"
    % (rows[0][1], g0))
worst, wn = 0.0, 0.0
for t in range(T + 1):
    L, G = loss_grad(W)
    gl = math.sqrt(float(np.sum(G * G)))
    worst = max(worst, abs(rows[t][0] - L) / L, abs(rows[t][1] - gl) / gl)
    for k in range(W.shape[0]):
        nk = math.sqrt(float(W[k] @ W[k]))
        wn = max(wn, abs(neur[(t, k)][0] - W[k, 0]) / nk, abs(neur[(t, k)][1] - nk) / nk)
    W = W - eta * G
say(len(rows) == T + 1 and worst < 1e-10,
    "train_loss and grad_norm at t = 0..%d agree with NumPy (rel %.1e)" % (T, worst))
say(wn < 1e-10, "neurons' par (w_k[0]) and norm at t = 0..%d agree with NumPy (rel %.1e)"
    % (T, wn))
PY

for act in linear tanh sigmoid softplus erf gelu; do
  cat > "$TMP/$act.yaml" <<YAML
name: $act
model:   {activation: $act, d: 5, K: 3, C: 0.8, loss_scale: 0.5}
teacher: {norm: 1.5, direction: e1}
data:    {regime: empirical, n: 500, n_test: 0, seed: 3, engine: sharded}
init:    {method: gaussian, sigma: 0.6, seed: 5}
train:   {eta: 0.2, iterations: 30, log_every: 1, tol: 0}
output:  {neurons: true}
YAML
  "$TSIM" export-data "$TMP/$act.yaml" -o "$TMP/$act.data" >/dev/null 2>&1
  run_np 1 run "$TMP/$act.yaml" -q -o "$TMP/$act.1" >/dev/null 2>&1
  run_np 2 run "$TMP/$act.yaml" -q -o "$TMP/$act.2" >/dev/null 2>&1
  same=1
  for f in cells.csv metrics.csv neurons.csv; do same_csv "$TMP/$act.1/$f" "$TMP/$act.2/$f" || same=0; done
  check "$act: 1 and 2 ranks give byte-identical cells, metrics and neurons tables" \
    test "$same" = 1 -a -s "$TMP/$act.1/metrics.csv"
  n=0
  while read -r line; do
    n=$((n + 1))
    case $line in ok\ *) ok "${line#ok }" ;; *) fail "${line#FAIL }" ;; esac
  done < <("$PY" "$TMP/reference.py" "$act" "$TMP/$act.data" "$TMP/$act.1" 2>&1)
  [ "$n" -eq 5 ] || fail "$act: the reference printed $n lines, not its 5 checks"
done

# the Hessian of a smooth student (act'' per sample and neuron; the unit
# test checks it against differences of the gradient): on 1 and 2 ranks the
# same metrics bytes and eigenvalues within 1e-13 of the largest
for act in tanh erf sigmoid softplus gelu; do
  for np in 1 2; do
    run_np $np run "$TMP/$act.yaml" -q -o "$TMP/$act.h$np" \
      --set 'metrics.hessian.at=[0, 10, 30]' --set metrics.hessian.top=15 \
      --set metrics.hessian.bottom=0 >"$TMP/$act.h$np.log" 2>&1 ||
      fail "$act: metrics.hessian on $np ranks: $(tail -1 "$TMP/$act.h$np.log")"
  done
  check "$act: metrics.hessian: 2 ranks: metrics.csv byte-identical to 1 rank's" \
    same_csv "$TMP/$act.h1/metrics.csv" "$TMP/$act.h2/metrics.csv"
  check "$act: metrics.hessian: 2 ranks: eigenvalues within 1e-13 of 1 rank's largest" \
    "$PY" -c '
import csv, sys
a = list(csv.reader(open(sys.argv[1])))[1:]; b = list(csv.reader(open(sys.argv[2])))[1:]
assert len(a) == len(b) == 45 and all(x[:3] == y[:3] for x, y in zip(a, b))
m = max(abs(float(r[3])) for r in a)
assert m > 0 and all(abs(float(x[3]) - float(y[3])) <= 1e-13 * m for x, y in zip(a, b))
' "$TMP/$act.h1/spectrum.csv" "$TMP/$act.h2/spectrum.csv"
done

# metrics.pop_quadrature: pop_loss by Gauss-Hermite quadrature (no closed
# form for these; erf has one): every row filled, the other columns as without the key,
# the same bytes on 2 ranks, the rule in the manifest, and pop_loss at t = 0
# within 4 standard errors of NumPy's Monte Carlo (2e6 samples) at w0
cat > "$TMP/mc.py" <<'PY'
import csv, sys
import numpy as np
act, data, run = sys.argv[1:4]
f = {"tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
     "softplus": lambda z: np.logaddexp(0, z)}[act]
W = np.load(f"{data}/w0.npy").T
v = np.zeros(5); v[0] = 1.5
pop = float(list(csv.DictReader(open(f"{run}/metrics.csv")))[0]["pop_loss"])
rng = np.random.default_rng(1)
s1 = s2 = 0.0; n = 0
for _ in range(20):
    X = rng.standard_normal((100000, 5))
    l = 0.5 * (0.8 * f(X @ W.T).sum(1) - f(X @ v)) ** 2
    s1 += l.sum(); s2 += (l * l).sum(); n += len(l)
m = s1 / n; se = np.sqrt((s2 / n - m * m) / n)
z = abs(pop - m) / se
print(("ok" if z < 4 else "FAIL") + f" {act}: pop_loss at t = 0 {pop:.8f} vs Monte Carlo {m:.8f}: {z:.2f} standard errors")
PY
for act in tanh sigmoid softplus gelu; do
  for np in 1 2; do
    run_np $np run "$TMP/$act.yaml" -q -o "$TMP/$act.q$np" --set metrics.pop_quadrature=true \
      >"$TMP/$act.q$np.log" 2>&1 || fail "$act: metrics.pop_quadrature on $np ranks"
  done
  check "$act: metrics.pop_quadrature: pop_loss in every row, the other columns unchanged" \
    "$PY" -c '
import csv, sys
a = list(csv.DictReader(open(sys.argv[1]))); b = list(csv.DictReader(open(sys.argv[2])))
assert len(a) == len(b) == 31 and all(r["pop_loss"] == "" for r in a)
assert all(float(r["pop_loss"]) > 0 for r in b)
assert all({k: v for k, v in x.items() if k != "pop_loss"} ==
           {k: v for k, v in y.items() if k != "pop_loss"} for x, y in zip(a, b))
' "$TMP/$act.1/metrics.csv" "$TMP/$act.q1/metrics.csv"
  check "$act: metrics.pop_quadrature: 2 ranks: metrics.csv byte-identical, the rule in the manifest" \
    bash -c "cmp -s '$TMP/$act.q1/metrics.csv' '$TMP/$act.q2/metrics.csv' && grep -q '\"pop_quadrature\": \"pop_loss without a closed form: Gauss-Hermite' '$TMP/$act.q1/manifest.json'"
  [ $act = gelu ] && continue # (no erf in NumPy; test_quadrature has it)
  line=$("$PY" "$TMP/mc.py" "$act" "$TMP/$act.data" "$TMP/$act.q1" 2>&1 | tail -1)
  case $line in ok\ *) ok "${line#ok }" ;; *) fail "$act: Monte Carlo: ${line#FAIL }" ;; esac
done

# data.regime population for a smooth activation without a closed form:
# the loss and gradient by quadrature (test_quadrature checks the gradient
# against differences of the loss); at t = 0 the loss is the empirical run's
# quadrature pop_loss at the same w0, to the bit; 1 and 2 ranks the same bytes
for act in tanh gelu; do
  for np in 1 2; do
    run_np $np run "$TMP/$act.yaml" -q -o "$TMP/$act.p$np" --set data.regime=population \
      --set data.engine=auto --set train.iterations=10 >"$TMP/$act.p$np.log" 2>&1 ||
      fail "$act: data.regime population on $np ranks: $(tail -1 "$TMP/$act.p$np.log")"
  done
  check "$act: population regime: 2 ranks: metrics.csv byte-identical to 1 rank's" \
    same_csv "$TMP/$act.p1/metrics.csv" "$TMP/$act.p2/metrics.csv"
  check "$act: population regime: train_loss at t = 0 = the quadrature pop_loss at w0, falling" \
    "$PY" -c '
import csv, sys
p = list(csv.DictReader(open(sys.argv[1]))); q = list(csv.DictReader(open(sys.argv[2])))
assert len(p) == 11 and p[0]["train_loss"] == q[0]["pop_loss"] == p[0]["pop_loss"]
assert all(float(b["train_loss"]) < float(a["train_loss"]) for a, b in zip(p, p[1:]))
' "$TMP/$act.p1/metrics.csv" "$TMP/$act.q1/metrics.csv"
done

# erf's population Hessian (its arcsine closed form; test_hessian checks
# it against second differences of the loss): source population in the
# empirical and the population regime, on 1 and 2 ranks
for reg in empirical population; do
  for np in 1 2; do
    run_np $np run "$TMP/erf.yaml" -q -o "$TMP/erf.$reg$np" --set data.regime=$reg \
      --set data.engine=auto --set metrics.hessian.source=population \
      --set 'metrics.hessian.at=[0, 10, 30]' --set metrics.hessian.top=15 \
      --set metrics.hessian.bottom=0 >"$TMP/erf.$reg$np.log" 2>&1 ||
      fail "erf: source population, $reg regime, $np ranks: $(tail -1 "$TMP/erf.$reg$np.log")"
  done
  check "erf: source population, $reg regime: 2 ranks: metrics.csv byte-identical, eigenvalues within 1e-13" \
    "$PY" -c '
import csv, sys
assert open(sys.argv[3]).read() == open(sys.argv[4]).read()
a = list(csv.reader(open(sys.argv[1])))[1:]; b = list(csv.reader(open(sys.argv[2])))[1:]
assert len(a) == len(b) == 45 and all(x[:3] == y[:3] for x, y in zip(a, b))
m = max(abs(float(r[3])) for r in a)
assert m > 0 and all(abs(float(x[3]) - float(y[3])) <= 1e-13 * m for x, y in zip(a, b))
' "$TMP/erf.${reg}1/spectrum.csv" "$TMP/erf.${reg}2/spectrum.csv" \
    "$TMP/erf.${reg}1/metrics.csv" "$TMP/erf.${reg}2/metrics.csv"
done

# what the smooth activations cannot do yet is refused in one line (exit
# 2, nothing written; the key given by --set: located there)
refused() { # refused NAME PATTERN ARGS...: exit 2, PATTERN on stderr, no run directory
  local name=$1 pattern=$2; shift 2
  "$TSIM" run "$TMP/tanh.yaml" -q -o "$TMP/$name" "$@" >/dev/null 2>"$TMP/$name.err"; local rc=$?
  check "$name: exit 2 ($rc), one line naming the key, nothing written" \
    bash -c "[ $rc -eq 2 ] && [ \$(wc -l < '$TMP/$name.err') -eq 1 ] && grep -qE '$pattern' '$TMP/$name.err' && [ ! -e '$TMP/$name' ]"
}
refused hessian_pop_tanh "(tanh.yaml|--set):[0-9]+:[0-9]+: metrics.hessian: .*source population needs the activation.s closed form" \
  --set metrics.hessian.at=[10] --set metrics.hessian.source=population
refused near_teacher_sigmoid "(tanh.yaml|--set):[0-9]+:[0-9]+: init.method: near_teacher .* has none" \
  --set model.activation=sigmoid --set init.method=near_teacher
"$TSIM" run "$TMP/tanh.yaml" -q -o "$TMP/relu_hess" --set model.activation=relu \
  --set teacher.activation=tanh --set metrics.hessian.at=[10] >/dev/null 2>&1
check "a relu student of a tanh teacher gets its Hessian spectrum (exit $?)" \
  test -s "$TMP/relu_hess/spectrum.csv"
finish
