#!/usr/bin/env bash
# test_moments.sh - the fourth-moment engine end to end: byte-identical
# outputs on 1, 2 and 3 ranks; the same trajectories as the sharded engine
# to rounding; regenerated samples give the stored samples' bits with memory
# that does not grow with n; the engine choice and its config errors.
SUITE=moments
source "$(dirname "$0")/lib.sh"
# sizes of the two runs that are stopped on the way (by the fake clock, so
# at the same boundary on any machine: their length does not matter)
LONG_ITERS=100000 BUILD_N=1000000

cat > "$TMP/grid.yaml" <<'YAML'
name: grid
model:   {d: 6, K: [1, 3], C: [1.0, 2.0]}
teacher: {direction: random, seed: 4}
data:    {n: 3000, n_test: 700, seed: 3, chunk: 256, engine: moments}
init:    {scale: 0.3, seed: [0, 1]}
train:   {eta: 0.01, iterations: 150, log_every: 10}
output:  {neurons: true}
YAML

for np in 1 2 3; do
  if run_np $np run "$TMP/grid.yaml" -q -o "$TMP/m$np" >"$TMP/m$np.log" 2>&1; then
    ok "moments engine ran on $np ranks"
  else
    fail "moments engine on $np ranks: $(tail -3 "$TMP/m$np.log")"
  fi
done
for np in 2 3; do
  for f in cells.csv metrics.csv neurons.csv; do
    check "moments: $f on $np ranks is byte-identical to 1 rank" \
      same_csv "$TMP/m1/$f" "$TMP/m$np/$f"
  done
done
check "moments: the manifest records the tensor build and the time per iteration" \
  grep -q '"moments_s_per_iteration"' "$TMP/m2/manifest.json"
check "moments: 8 cells x 16 rows" test "$(tail -n +2 "$TMP/m1/metrics.csv" | wc -l)" -eq 128

# the same grid with the sharded engine: same trajectories to rounding.
# Losses, dist and gradient norms to 1e-10 relative; q9 crosses zero, so it
# is compared relative to the largest |q9| of its cell; events exactly.
run_np 2 run "$TMP/grid.yaml" -q --set data.engine=sharded -o "$TMP/s2" >/dev/null 2>&1
check "sharded engine ran" test -s "$TMP/s2/metrics.csv"
check "the engines round differently (the comparison is not of one engine with itself)" \
  bash -c "! cmp -s '$TMP/m1/metrics.csv' '$TMP/s2/metrics.csv'"
compare() {
  python3 - "$TMP/m1" "$TMP/s2" <<'PY'
import csv, sys
a_dir, b_dir = sys.argv[1], sys.argv[2]
def rows(d, f): return list(csv.DictReader(open(f"{d}/{f}")))
bad, worst = [], {}
ma, mb = rows(a_dir, "metrics.csv"), rows(b_dir, "metrics.csv")
if len(ma) != len(mb) or not ma: bad.append("metrics row counts differ")
q9max, popmax = {}, {}
for r in mb:
    q9max[r["cell"]] = max(q9max.get(r["cell"], 0.0), abs(float(r["q9"])))
    popmax[r["cell"]] = max(popmax.get(r["cell"], 0.0), abs(float(r["pop_loss"])))
for x, y in zip(ma, mb):
    if (x["cell"], x["t"]) != (y["cell"], y["t"]): bad.append("rows differ"); break
    for k in ("train_loss", "test_loss", "pop_loss", "dist", "grad_norm", "q9"):
        u, v = float(x[k]), float(y[k])
        scale = q9max[x["cell"]] if k == "q9" else popmax[x["cell"]] if k == "pop_loss" else abs(v)
        e = abs(u - v) / scale
        worst[k] = max(worst.get(k, 0.0), e)
        if e > 1e-10: bad.append(f"metrics {k} cell {x['cell']} t {x['t']}: {u} vs {v}")
ca, cb = rows(a_dir, "cells.csv"), rows(b_dir, "cells.csv")
for x, y in zip(ca, cb):
    for k in ("status", "iterations", "t_q9_positive", "t_lemma1", "t_gamma"):
        if x[k] != y[k]: bad.append(f"cells {k} cell {x['cell']}: {x[k]} vs {y[k]}")
    for k in ("final_train_loss", "final_test_loss", "final_dist"):
        u, v = float(x[k]), float(y[k])
        worst["final:" + k] = max(worst.get("final:" + k, 0.0), abs(u - v) / abs(v))
        if abs(u - v) > 1e-10 * abs(v): bad.append(f"cells {k} cell {x['cell']}: {u} vs {v}")
print("max relative differences: " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
for b in bad[:5]: print(b)
sys.exit(1 if bad else 0)
PY
}
if out=$(compare 2>&1); then ok "moments vs sharded trajectories: $out"; else fail "moments vs sharded: $out"; fi

# regenerated samples: the sharded engine gives the stored samples' bits
run_np 2 run "$TMP/grid.yaml" -q --set data.engine=sharded --set data.storage=regenerate \
  -o "$TMP/r2" >/dev/null 2>&1
for f in cells.csv metrics.csv; do
  check "sharded, regenerate: $f byte-identical to memory storage" same_csv "$TMP/s2/$f" "$TMP/r2/$f"
done
"$TSIM" export-data "$TMP/grid.yaml" --set data.storage=regenerate -o "$TMP/exp" >/dev/null 2>&1
check "export-data writes the samples whatever data.storage says" \
  test "$(stat -c %s "$TMP/exp/x.npy")" -eq $((128 + 3000 * 6 * 8))
# ... and its memory does not grow with n (10x the samples; stored, they would
# add 8.8 MB per rank)
cat > "$TMP/big.yaml" <<'YAML'
name: big
model: {d: 10, K: 2}
data:  {n: 100000, n_test: 0, seed: 1, engine: sharded, storage: regenerate}
train: {eta: 0.001, iterations: 2, log_every: 1}
output: {neurons: false}
YAML
rss() { # peak resident KB of one-rank run with data.n=$1
  /usr/bin/time -f %M "$TSIM" run "$TMP/big.yaml" -q --set data.n="$1" -o "$TMP/big-$1" \
    2>&1 >/dev/null | tail -1
}
small=$(rss 100000) large=$(rss 1000000)
check "regenerate: peak memory $small KB at n = 1e5, $large KB at n = 1e6 (no growth)" \
  test $((large - small)) -lt 3000

# stop with a checkpoint and resume on another rank count: the tensor is
# built again from the seeds and the tables end with the uninterrupted bits
cat > "$TMP/long.yaml" <<'YAML'
name: long
model: {d: 6, K: [2, 3]}
data:  {n: 5000, n_test: 500, seed: 5, chunk: 512, engine: moments}
init:  {scale: 0.3}
train: {eta: 0.002, log_every: 5000, loss_tol: 1.0e-30, tol: 1.0e-30}
YAML
run_np 2 run "$TMP/long.yaml" -q --set train.iterations=$LONG_ITERS -o "$TMP/long-ref" >/dev/null 2>&1
TSIM_FAKE_CLOCK=0.001 run_np 2 run "$TMP/long.yaml" -q --set train.iterations=$LONG_ITERS \
  -o "$TMP/long" --time-limit 30 >/dev/null 2>&1; rc=$?
check "moments: --time-limit stops with a checkpoint (exit 3, got $rc)" test $rc -eq 3
run_np 1 resume "$TMP/long" -q >/dev/null 2>&1
for f in cells.csv metrics.csv neurons.csv; do
  check "moments: stop + resume on 1 rank: $f identical to the uninterrupted run" \
    same_csv "$TMP/long-ref/$f" "$TMP/long/$f"
done

# a stop request during a long tensor build is served at once (the build
# polls the scheduler), and the resumed run rebuilds it to the same bits
cat > "$TMP/build.yaml" <<'YAML'
name: build
model: {d: 10, K: 1}
data:  {n_test: 0, seed: 8, engine: moments, storage: regenerate}
train: {eta: 0.01, iterations: 30, log_every: 10}
YAML
run_np 2 run "$TMP/build.yaml" -q --set data.n=$BUILD_N -o "$TMP/build-ref" >/dev/null 2>&1
# (the fake clock passes 1 s at each of rank 0's polls: the limit of 2 s
# falls at the build's second poll, before any iteration)
TSIM_FAKE_CLOCK=1 run_np 2 run "$TMP/build.yaml" -q --set data.n=$BUILD_N -o "$TMP/build" \
  --time-limit 2 >/dev/null 2>&1; rc=$?
check "moments: a stop during the tensor build is served there: exit 3 ($rc), no row written" \
  bash -c "[ $rc -eq 3 ] && [ \$(cat '$TMP/build/metrics.csv' '$TMP'/build/pending/*metrics* 2>/dev/null | grep -vc '^cell') -eq 0 ]"
run_np 1 resume "$TMP/build" -q >/dev/null 2>&1
for f in cells.csv metrics.csv; do
  check "moments: resumed after a stop in the build: $f identical" \
    same_csv "$TMP/build-ref/$f" "$TMP/build/$f"
done

# the engine choice: printed by validate, with the cost model
out=$(run_np 1 validate "$TMP/grid.yaml" --set data.engine=auto --set data.n=1000000 2>&1)
check "validate prints each cell's engine" grep -q 'cell 7: .*engine=moments' <<<"$out"
check "validate prints the cost model" grep -q 'cost in multiply-adds: sharded .*, moments .* = build' <<<"$out"

# config errors: one located line, exit 2
"$TSIM" export-data "$TMP/grid.yaml" -o "$TMP/files" >/dev/null 2>&1
printf 'name: f\nmodel: {d: 6}\ndata: {x_file: %s/files/x.npy, y_file: %s/files/y.npy,\n       engine: moments}\n' \
  "$TMP" "$TMP" > "$TMP/files.yaml"
run_np 1 validate "$TMP/files.yaml" >/dev/null 2>"$TMP/files.err"; rc=$?
check "moments with labels from a file: exit 2, one line at data.engine" \
  bash -c "[ $rc -eq 2 ] && [ \$(wc -l < '$TMP/files.err') -eq 1 ] && grep -qE '^$TMP/files.yaml:4:16: data.engine: moments cannot compute' '$TMP/files.err'"
sed 's/engine: moments/storage: regenerate/' "$TMP/files.yaml" > "$TMP/files2.yaml"
run_np 1 validate "$TMP/files2.yaml" >/dev/null 2>"$TMP/files2.err"; rc=$?
check "regenerate with data files: exit 2, one line at data.storage" \
  bash -c "[ $rc -eq 2 ] && grep -qE '^$TMP/files2.yaml:4:17: data.storage: regenerate' '$TMP/files2.err'"
finish
