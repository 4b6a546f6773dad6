#!/usr/bin/env bash
# test_gram.sh - the Gram engine (data.engine: gram) end to end: the
# trajectories of the sharded engine to 1e-12 (W through the neurons table,
# losses against the loss at W = 0); a NumPy replay of gradient descent on
# `tsim export-data`'s samples and w0 to 1e-10; Hessian spectra (with its
# q9) to 1e-12; byte-identical tables on 1, 2 and 3 ranks, at every vector
# width, with regenerated samples and after a stop and resume; the models it
# cannot take are one-line config errors.
SUITE=gram
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
"$PY" -c 'import numpy' 2>/dev/null || fail "$PY with numpy (apt-get install python3-numpy)"

# quadratic student and teacher, 100 iterations: the loss falls from 0.49
# to 0.2, far from rounding
cat > "$TMP/g.yaml" <<'YAML'
name: gram
model:   {d: 8, K: 16, C: 1.5, loss_scale: 0.25}
teacher: {direction: random, seed: 4}
data:    {n: 4000, n_test: 500, seed: 3, chunk: 256, engine: gram}
init:    {scale: 0.3, seed: 1}
train:   {eta: 0.01, iterations: 100, log_every: 10}
output:  {neurons: true}
YAML

out=$(run_np 1 validate "$TMP/g.yaml" --set 'data.engine=[sharded, gram, auto]' 2>&1)
check "validate: cell 1 on gram, with its cost next to sharded's" \
  bash -c "grep -q '^  cell 1: .*engine=gram' <<<'$out' &&
           grep -q 'gram (set; cost in multiply-adds: sharded .*, gram ' <<<'$out' &&
           grep -q '^  cell 2: .*engine=moments' <<<'$out'"
# auto never picks it, even where its cost is the lowest (d = 300, K = 600:
# gram 4.4e9, sharded 2.2e10 multiply-adds, moments not applicable)
out=$(run_np 1 validate "$TMP/g.yaml" --set model.d=300 --set model.K=600 --set data.n=20000 \
  --set data.engine=auto 2>&1)
check "validate: auto keeps sharded where gram would cost less" \
  grep -q '^  cell 0: .*engine=sharded' <<<"$out"

for np in 1 2 3; do
  run_np $np run "$TMP/g.yaml" -q -o "$TMP/g$np" >"$TMP/g$np.log" 2>&1 ||
    fail "gram on $np ranks: $(tail -2 "$TMP/g$np.log")"
done
check "11 logged rows" test "$(tail -n +2 "$TMP/g1/metrics.csv" | wc -l)" -eq 11
for np in 2 3; do
  for f in cells.csv metrics.csv neurons.csv; do
    check "$f on $np ranks is byte-identical to 1 rank's" \
      same_csv "$TMP/g1/$f" "$TMP/g$np/$f"
  done
done
for width in 2 4; do
  TSIM_VECTOR_WIDTH=$width run_np 1 run "$TMP/g.yaml" -q -o "$TMP/w$width" >/dev/null 2>&1
  check "vector width $width: metrics.csv byte-identical" \
    same_csv "$TMP/g1/metrics.csv" "$TMP/w$width/metrics.csv"
done
run_np 2 run "$TMP/g.yaml" -q --set data.storage=regenerate -o "$TMP/regen" >/dev/null 2>&1
for f in metrics.csv neurons.csv; do
  check "regenerated samples: $f byte-identical to stored samples'" \
    same_csv "$TMP/g1/$f" "$TMP/regen/$f"
done

TSIM_FAULT=cell=0,iter=40,do=stop run_np 2 run "$TMP/g.yaml" -q -o "$TMP/stop" \
  >"$TMP/stop.log" 2>&1; rc=$?
check "stopped at t = 40 with a checkpoint (exit 3, got $rc)" test $rc -eq 3
rm -f "$TMP/stop/STOP"
run_np 3 resume "$TMP/stop" -q >>"$TMP/stop.log" 2>&1 ||
  fail "gram: resume: $(tail -2 "$TMP/stop.log")"
for f in cells.csv metrics.csv neurons.csv; do
  check "stopped on 2 ranks, resumed on 3: $f byte-identical" \
    same_csv "$TMP/g1/$f" "$TMP/stop/$f"
done

# the sharded engine (the d K formulation) on the same cell
run_np 1 run "$TMP/g.yaml" -q --set data.engine=sharded -o "$TMP/s" >"$TMP/s.log" 2>&1 ||
  fail "sharded: $(tail -2 "$TMP/s.log")"
check "the engines round differently (the comparison is not of one engine with itself)" \
  bash -c "! cmp -s '$TMP/g1/metrics.csv' '$TMP/s/metrics.csv'"
run_np 1 export-data "$TMP/g.yaml" -o "$TMP/exp" >"$TMP/exp.log" 2>&1 ||
  fail "export-data: $(tail -2 "$TMP/exp.log")"

# gram vs sharded: train and test losses within 1e-12 of the loss at W = 0,
# dist and grad_norm within 1e-12 relative, q9 within 1e-12 of its largest
# |q9|; W through the neurons table: each neuron's norm, par, perp_norm and
# components within 1e-12 of |W|_F at that t
cat > "$TMP/engines.py" <<'PY'
import csv, sys
import numpy as np
tmp = sys.argv[1]
s = 0.25
L0 = s * np.mean(np.load(f"{tmp}/exp/y.npy") ** 2)
L0t = s * np.mean(np.load(f"{tmp}/exp/y_test.npy") ** 2)
rows = lambda d, f: list(csv.DictReader(open(f"{tmp}/{d}/{f}")))
g, h = rows("g1", "metrics.csv"), rows("s", "metrics.csv")
assert len(g) == len(h) == 11
q9max = max(abs(float(r["q9"])) for r in h)
worst, bad = {}, []
def cmp(key, u, v, scale):
    e = abs(float(u) - float(v)) / scale
    worst[key] = max(worst.get(key, 0.0), e)
    if not e <= 1e-12: bad.append(f"{key}: {u} vs {v}")
for x, y in zip(g, h):
    assert x["t"] == y["t"]
    cmp("train_loss", x["train_loss"], y["train_loss"], L0)
    cmp("test_loss", x["test_loss"], y["test_loss"], L0t)
    for k in ("dist", "grad_norm"): cmp(k, x[k], y[k], abs(float(y[k])))
    cmp("q9", x["q9"], y["q9"], q9max)
ng, nh = rows("g1", "neurons.csv"), rows("s", "neurons.csv")
assert len(ng) == len(nh) == 11 * 16
normW = {}
for r in nh: normW[r["t"]] = normW.get(r["t"], 0.0) + float(r["norm"]) ** 2
for x, y in zip(ng, nh):
    assert (x["t"], x["k"]) == (y["t"], y["k"])
    for k in x:
        if k in ("cell", "t", "k"): continue
        cmp("W:" + k, x[k], y[k], normW[x["t"]] ** 0.5)
print("max differences: " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
for b in bad[:5]: print(b)
sys.exit(1 if bad else 0)
PY
if out=$("$PY" "$TMP/engines.py" "$TMP" 2>&1); then ok "gram vs sharded to 1e-12: $out"
else fail "gram vs sharded: $out"; fi

# NumPy: gradient descent in the d K formulation on the exported samples
cat > "$TMP/replay.py" <<'PY'
import csv, sys
import numpy as np
tmp = sys.argv[1]
C, s, eta = 1.5, 0.25, 0.01
X = np.load(f"{tmp}/exp/x.npy"); y = np.load(f"{tmp}/exp/y.npy")
Xt = np.load(f"{tmp}/exp/x_test.npy"); yt = np.load(f"{tmp}/exp/y_test.npy")
W = np.load(f"{tmp}/exp/w0.npy").T.copy()  # d x K file -> K x d
assert X.shape == (4000, 8) and W.shape == (16, 8)
n = len(y)
loss = lambda W, X, y: s * np.mean((C * ((X @ W.T) ** 2).sum(1) - y) ** 2)
rows = list(csv.DictReader(open(f"{tmp}/g1/metrics.csv")))
worst = 0.0
for t in range(101):
    U = X @ W.T
    r = C * (U ** 2).sum(1) - y
    G = 4.0 * s * C * ((r[:, None] * U).T @ X) / n
    if t % 10 == 0:
        row = rows[t // 10]
        assert int(row["t"]) == t
        for got, want in ((row["train_loss"], loss(W, X, y)), (row["test_loss"], loss(W, Xt, yt)),
                          (row["grad_norm"], np.linalg.norm(G))):
            e = abs(float(got) - want) / abs(want)
            worst = max(worst, e)
            assert e <= 1e-10, (t, got, want)
    W = W - eta * G
print(f"max relative difference {worst:.1e}")
PY
if out=$("$PY" "$TMP/replay.py" "$TMP" 2>&1); then ok "gram vs a NumPy replay to 1e-10: $out"
else fail "gram vs NumPy replay: $(echo "$out" | tail -2)"; fi

# Hessian spectra (formed from the samples at W_t, with q9 from the engine)
# at t = 0 and 50: those of the sharded engine to 1e-12 of the largest value
for e in gram sharded; do
  run_np 1 run "$TMP/g.yaml" -q --set data.engine=$e --set 'metrics.hessian.at=[0, 50]' \
    -o "$TMP/h_$e" >"$TMP/h_$e.log" 2>&1 || fail "spectra with $e: $(tail -2 "$TMP/h_$e.log")"
done
check "spectrum.csv and hessian.csv of gram within 1e-12 of sharded's largest value" \
  "$PY" -c '
import csv, sys
for f in ("spectrum.csv", "hessian.csv"):
    a, b = (list(csv.reader(open(f"{d}/{f}"))) for d in sys.argv[1:3])
    assert a[0] == b[0] and len(a) == len(b) > 2
    num = lambda r: [float(v) for v in r[2:] if v != ""]
    m = max(abs(v) for r in b[1:] for v in num(r))
    for x, y in zip(a[1:], b[1:]):
        assert x[:2] == y[:2] and len(num(x)) == len(num(y))
        assert all(abs(u - v) <= 1e-12 * m for u, v in zip(num(x), num(y))), (f, x, y)
' "$TMP/h_gram" "$TMP/h_sharded"

# what it cannot take: a config error at data.engine, exit 2, nothing written
refuse() { # name SETS...
  local name=$1; shift
  run_np 2 run "$TMP/g.yaml" -q "$@" -o "$TMP/bad_$name" >"$TMP/bad_$name.log" 2>&1; local rc=$?
  check "gram refuses $name: exit 2 (got $rc)" test $rc -eq 2
  local want="^$TMP/g.yaml:4:[0-9]+: data.engine: gram cannot compute this model: "
  check "gram refuses $name: one located line at data.engine ($(head -1 "$TMP/bad_$name.log"))" \
    bash -c "[ \$(wc -l < '$TMP/bad_$name.log') -eq 1 ] &&
             grep -qE '$want.* \(auto or sharded\)\$' '$TMP/bad_$name.log'"
  check "gram refuses $name: nothing written" test ! -e "$TMP/bad_$name"
}
refuse relu --set model.activation=relu
refuse norm_tied --set model.norm_tied=true
refuse population --set data.regime=population
finish
