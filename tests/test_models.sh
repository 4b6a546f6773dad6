#!/usr/bin/env bash
# test_models.sh - the wider model family end to end: relu / abs / norm-tied
# students with several teachers and label noise, gradient descent and
# gradient flow, bitwise identical on 1, 2 and 3 ranks of one team (the
# samples really split); population runs: Xu & Du's separation of K = 1
# (exponential) from K = 2 (polynomial) and Zhou, Ge & Jin's Claim 2 point.
SUITE=models
source "$(dirname "$0")/lib.sh"

cat > "$TMP/fam.yaml" <<'YAML'
name: fam
model:   {d: 5, K: [2, 4], activation: [relu, abs], norm_tied: true, loss_scale: 0.5}
teacher: {neurons: 2, direction: separated, min_angle: 40, seed: 3}
data:    {n: 2500, n_test: 300, seed: 5, chunk: 256, label_noise: 0.05}
init:    {method: gaussian, sigma: 0.4, seed: 1}
train:   {method: [gd, flow], eta: 0.05, iterations: 40, T: 2, log_points: 5, rtol: 1e-5, atol: 1e-8}
output:  {neurons: true}
YAML
same_nonempty() { [ -s "$1" ] && [ -s "$2" ] && same_csv "$1" "$2"; }
for np in 1 2 3; do
  if run_np $np run "$TMP/fam.yaml" -q --set run.team_size=$np -o "$TMP/fam-np$np" >"$TMP/fam-np$np.log" 2>&1; then
    ok "relu/abs, gd/flow: ran on $np ranks (one team)"
  else
    fail "run on $np ranks failed: $(tail -3 "$TMP/fam-np$np.log")"
  fi
done
for np in 2 3; do
  for f in cells.csv metrics.csv neurons.csv; do
    check "$f on $np ranks is byte-identical to 1 rank" \
      same_nonempty "$TMP/fam-np1/$f" "$TMP/fam-np$np/$f"
  done
done
check "fam: 8 cells, metrics rows for every cell, losses decrease" \
  python3 - "$TMP/fam-np1" <<'PY'
import csv, sys
d = sys.argv[1]
cells = list(csv.DictReader(open(d + "/cells.csv")))
rows = list(csv.DictReader(open(d + "/metrics.csv")))
assert len(cells) == 8, len(cells)
for c in cells:
    r = [x for x in rows if x["cell"] == c["cell"]]
    assert len(r) >= 4, (c["cell"], len(r))
    first, last = float(r[0]["train_loss"]), float(r[-1]["train_loss"])
    assert last < first, (c["cell"], first, last)
    assert r[0]["dist"] == "" and r[0]["q9"] == ""  # Wang & Abernethy only
PY

# Xu & Du, population GD at eta = 0.05 to T = 4000: the effective exponent
# log L / log(eta T) of K = 1 is far below that of K = 2
cat > "$TMP/xu.yaml" <<'YAML'
name: xu
model:   {activation: relu, d: 5, K: [1, 2], loss_scale: 0.5}
data:    {regime: population}
init:    {method: gaussian, sigma: 0.1, seed: 0}
train:   {eta: 0.05, iterations: 4000, log_points: 20, tol: 0}
output:  {neurons: false}
YAML
run_np 1 run "$TMP/xu.yaml" -q -o "$TMP/xu" >"$TMP/xu.log" 2>&1 || fail "xu run: $(tail -2 "$TMP/xu.log")"
check "Xu & Du: exponent of K = 1 well below K = 2's, K = 2's between -5 and -1" \
  python3 - "$TMP/xu" <<'PY'
import csv, math, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/metrics.csv")))
ex = {}
for c in "01":
    last = [r for r in rows if r["cell"] == c][-1]
    ex[c] = math.log(float(last["train_loss"])) / math.log(0.05 * float(last["t"]))
print("exponents K=1 %.2f, K=2 %.2f" % (ex["0"], ex["1"]))
assert ex["0"] < 2 * ex["1"] and -5 < ex["1"] < -1, ex
PY

check "family_summary.py: one row per cell with the exponent" \
  bash -c "/usr/bin/python3 '$ROOT/analysis/family_summary.py' '$TMP/xu' --at 100 | grep -c '^| [12] |' | grep -qx 2"

# Zhou, Ge & Jin Claim 2 through the command line: the logged loss at t = 0
cat > "$TMP/claim2.yaml" <<'YAML'
name: claim2
model:   {activation: abs, d: 3, K: 2, norm_tied: true, loss_scale: 0.5}
data:    {regime: population}
init:    {method: claim2, delta: 0.01}
train:   {iterations: 0, tol: 0}
YAML
run_np 1 run "$TMP/claim2.yaml" -q -o "$TMP/claim2" >"$TMP/claim2.log" 2>&1 || fail "claim2 run"
check "Claim 2: L / delta^3 at delta = 0.01 within 2% of 2/(3 pi)" \
  python3 -c "
import csv, math
r = list(csv.DictReader(open('$TMP/claim2/metrics.csv')))[0]
v = float(r['pop_loss']) / 1e-6
print('L/delta^3 =', v)
assert abs(v / (2 / (3 * math.pi)) - 1) < 0.02"
# a population run with mismatched activations is a user error (exit 2)
run_np 1 run "$TMP/claim2.yaml" -q --set teacher.activation=relu -o "$TMP/bad" >"$TMP/bad.log" 2>&1
bad_rc=$?
check "population with teacher.activation != model.activation: exit 2, FILE:LINE:COL: key" \
  bash -c "[ $bad_rc -eq 2 ] && grep -q '^--set:1:[0-9]*: teacher.activation: differs' '$TMP/bad.log'"

# the shipped configs validate; inconsistent family settings are user errors
for c in xu2023_fig1 xu2023_empirical zhou2021_claim2 zhou2021_local martin2024_recovery; do
  check "configs/$c.yaml validates" bash -c "'$TSIM' validate '$ROOT/configs/$c.yaml' >/dev/null 2>&1"
done
bad_family() { # bad_family WHAT KEY SETS...
  local what=$1 key=$2; shift 2
  local sets=() s
  for s in "$@"; do sets+=(--set "$s"); done
  "$TSIM" validate "$TMP/claim2.yaml" "${sets[@]}" >"$TMP/bf.out" 2>&1
  local rc=$?
  check "$what: exit 2 naming $key" bash -c "[ $rc -eq 2 ] && grep -q ': $key: ' '$TMP/bf.out'"
}
bad_family "e1 with 3 teachers" teacher.direction teacher.neurons=3
bad_family "claim2 with K = 3" init.method model.K=3
bad_family "4 orthonormal teachers in d = 3" teacher.neurons teacher.neurons=4 teacher.direction=orthonormal

# stop (time limit) and resume in the middle of gradient flows: the logged
# times are the resume points, the tables equal an uninterrupted run's
cat > "$TMP/long.yaml" <<'YAML'
name: long
model:   {activation: [quadratic, relu], d: 400, K: 8, loss_scale: 0.5, normalisation: 1/m}
teacher: {neurons: 4, direction: random_orthonormal, seed: 2}
data:    {regime: population}
init:    {method: orthonormal, scale: 1.0, seed: 0}
train:   {method: flow, T: 3000, log_points: 80, tol: 0, rtol: 1e-11}
output:  {neurons: false}
YAML
run_np 1 run "$TMP/long.yaml" -o "$TMP/long-ref" -q >/dev/null 2>&1
# (fake clock: a tick per boundary, the limit at rank 0's 25th)
TSIM_FAKE_CLOCK=1 run_np 2 run "$TMP/long.yaml" -o "$TMP/long-tl" -q --time-limit 25 >/dev/null 2>&1; rc=$?
check "flow: --time-limit stops with exit 3 (got $rc)" test $rc -eq 3
run_np 1 run "$TMP/long.yaml" -o "$TMP/long-tl" -q --resume >/dev/null 2>&1
for f in cells.csv metrics.csv teachers.csv; do
  check "flow: stop + resume on 1 rank: $f identical" \
    same_nonempty "$TMP/long-ref/$f" "$TMP/long-tl/$f"
done
finish
