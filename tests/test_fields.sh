#!/usr/bin/env bash
# test_fields.sh - no field that means nothing: a setting a cell does not
# read is empty in cells.csv (eta of a gradient flow, n of the population
# regime, the seed of init.method claim2), a finished cell's status says
# what happened (reached_T for a flow at its final time, evaluated for
# train.iterations: 0), the log line of a finished cell gives a flow's time
# and names t_q9_positive only for a model that forms quantity (9), and a
# grid axis over a key a cell does not read is bad input (exit 2, nothing
# written), so an emptied column never merges distinct rows.
SUITE=fields
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# col FILE CELL NAME: the field NAME of CELL's row of a CSV with a header
col() {
  awk -F, -v cell="$2" -v name="$3" 'NR == 1 { for (i = 1; i <= NF; ++i) c[$i] = i; next }
    $1 == cell { print $c[name]; exit }' "$1"
}
# every CSV NAME VALUE: NAME is VALUE in every row (and there is a row)
every() {
  awk -F, -v name="$2" -v want="$3" 'NR == 1 { for (i = 1; i <= NF; ++i) c[$i] = i; next }
    $c[name] != want { bad = 1 } END { exit bad || NR < 2 }' "$1"
}

both() { every "$1" "$2" "$3" && every "$1" "$4" "$5"; }
# both_grep RE LOG: a line matches RE and none names t_q9_positive
both_grep() { grep -q "$1" "$2" && ! grep -q t_q9_positive "$2"; }
none() { ! grep -q "$1" "$2"; }
quiet() { "$@" >/dev/null 2>&1; }

# ---- a gradient flow on samples (Wang & Abernethy's model: quantity (9))
cat > "$TMP/flow.yaml" <<'YAML'
name: flow
model: {d: 4, K: 2}
data:  {n: 300, n_test: 50}
init:  {scale: 0.5, seed: [0, 1]}
train: {method: flow, T: 20, log_points: 5}
YAML
run_np 1 run "$TMP/flow.yaml" -o "$TMP/flow" --progress log >"$TMP/flow.log" 2>&1
f="$TMP/flow/cells.csv"
check "flow: the run succeeds" test -s "$f"
check "flow: eta is empty (a flow has no step size)" every "$f" eta ""
check "flow: n is the 300 samples it used" every "$f" n 300
check "flow: status reached_T" every "$f" status reached_T
check "flow: iterations is empty (a flow counts no iterations)" every "$f" iterations ""
# t_q9_positive of a flow is the logged time it was first seen, a t of metrics.csv
tq=$(col "$f" 1 t_q9_positive)
check "flow: t_q9_positive ($tq) is a logged time of the cell, not a row index" \
  awk -F, -v t="$tq" 'NR > 1 && $1 == 1 && $2 == t && t != int(t) { hit = 1 } END { exit !hit }' \
  "$TMP/flow/metrics.csv"
check "flow: the log line says reached_T at the final time t=20" \
  grep -q '^cell 0 ([^)]*) [^:]*: reached_T at t=20, t_q9_positive=' "$TMP/flow.log"
check "flow: no line says max_iterations at" none 'max_iterations at' "$TMP/flow.log"
check "flow: the tally counts reached_T" \
  grep -qE '^tally: 2 cells: 0 converged, 0 max_iterations, 2 reached_T, 0 evaluated, 0 diverged' \
  "$TMP/flow.log"
check "flow: manifest.json counts reached_T" grep -q '"reached_T": 2,' "$TMP/flow/manifest.json"

# ---- gradient descent in the population regime (relu: no quantity (9))
cat > "$TMP/pop.yaml" <<'YAML'
name: pop
model: {activation: relu, d: 4, K: 3}
teacher: {neurons: 2, direction: orthonormal}
data:  {regime: population}
init:  {method: gaussian, sigma: 0.1, seed: 0}
train: {eta: 0.05, iterations: 30, log_every: 10, tol: 0}
YAML
run_np 1 run "$TMP/pop.yaml" -o "$TMP/pop" --progress log >"$TMP/pop.log" 2>&1
f="$TMP/pop/cells.csv"
check "population: the run succeeds" test -s "$f"
check "population: n is empty (no samples)" every "$f" n ""
check "population: eta is the step size 0.05" every "$f" eta 0.05
check "population: status max_iterations, at iteration 30" \
  both "$f" status max_iterations iterations 30
check "population: the log line has no t_q9_positive (the model has no quantity (9))" \
  both_grep '^cell 0 ([^)]*) [^:]*: max_iterations at t=30, train_loss=' "$TMP/pop.log"

# ---- train.iterations: 0 and a seed nothing reads (Zhou, Ge & Jin's Claim 2)
run_np 1 run "$ROOT/configs/zhou2021_claim2.yaml" -o "$TMP/claim2" --progress log \
  >"$TMP/claim2.log" 2>&1
f="$TMP/claim2/cells.csv"
check "iterations 0: the run succeeds" test -s "$f"
check "iterations 0: status evaluated" every "$f" status evaluated
check "iterations 0: iterations is 0" every "$f" iterations 0
check "iterations 0: eta is empty (no step is taken)" every "$f" eta ""
check "claim2: seed is empty (the init draws nothing)" every "$f" seed ""
check "claim2: n is empty (population)" every "$f" n ""
check "iterations 0: the log lines say evaluated at t=0" \
  test "$(grep -c '^cell [0-9]* ([^)]*) [^:]*: evaluated at t=0, train_loss=' "$TMP/claim2.log")" -eq 14
check "iterations 0: the tally counts evaluated" \
  grep -qE '^tally: 14 cells: 0 converged, 0 max_iterations, 0 reached_T, 14 evaluated, 0 diverged' \
  "$TMP/claim2.log"

# growing train.iterations from 0 on resume runs the evaluated cells on: the
# tables are those of a run with the new limit from the start
cat > "$TMP/zero.yaml" <<'YAML'
name: zero
model: {d: 3, K: 2}
data:  {n: 60, n_test: 10}
init:  {seed: [0, 1]}
train: {iterations: 0, eta: 0.05}
YAML
run_np 1 run "$TMP/zero.yaml" -q -o "$TMP/grow" >/dev/null 2>&1
run_np 1 run "$TMP/zero.yaml" -q -o "$TMP/grow" --resume --set train.iterations=6 \
  >/dev/null 2>"$TMP/grow.err"
check "train.iterations 0 -> 6 on resume is accepted" test $? -eq 0
run_np 1 run "$TMP/zero.yaml" -q -o "$TMP/grow_ref" --set train.iterations=6 >/dev/null 2>&1
for t in cells metrics; do
  check "... and $t.csv equals a run with 6 from the start (max_iterations, eta 0.05)" \
    same_csv "$TMP/grow_ref/$t.csv" "$TMP/grow/$t.csv"
done
check "... whose cells ran 6 iterations" every "$TMP/grow/cells.csv" iterations 6

# ---- the loader reads the empty fields as missing values
if "$PY" -c 'import pandas' 2>/dev/null; then
  check "python: eta, n and seed load as missing where empty, also joined onto rows" \
    env PYTHONPATH="$ROOT/python" "$PY" -c "
import sys, tsim
f = tsim.load('$TMP/flow'); p = tsim.load('$TMP/pop'); c = tsim.load('$TMP/claim2')
assert f.cells.eta.isna().all() and f.cells.iterations.isna().all(), f.cells
assert (f.cells.status == 'reached_T').all() and f.cells.n.eq(300).all()
assert f.metrics.eta.isna().all() and f.params.eta.isna().all()
assert p.cells.n.isna().all() and p.metrics.n.isna().all() and p.params.n.isna().all()
assert str(p.cells.n.dtype) == 'Int64', p.cells.n.dtype
assert c.cells.seed.isna().all() and c.cells.eta.isna().all() and c.params.seed.isna().all()
assert (c.cells.status == 'evaluated').all() and c.cells.iterations.eq(0).all()
"
fi

# ---- an axis over a key the cell does not read: exit 2, nothing written
# axis NAME KEY-REGEX CONFIG: `tsim run` on CONFIG fails with one line
# naming the file, a line:col and the key, and creates no run directory
axis() {
  printf '%s\n' "$3" >"$TMP/$1.yaml"
  timeout 60 "$TSIM" run "$TMP/$1.yaml" -o "$TMP/out-$1" >"$TMP/$1.out" 2>"$TMP/$1.err"
  local rc=$?
  check "axis $1: exit 2 (got $rc), one line 'FILE:LINE:COL: $2: ...', nothing written" \
    bash -c "[ $rc -eq 2 ] && [ \$(wc -l <'$TMP/$1.err') -eq 1 ] &&
             grep -qE '^$TMP/$1.yaml:[0-9]+:[0-9]+: $2: ' '$TMP/$1.err' && [ ! -e '$TMP/out-$1' ]"
}
axis flow_eta 'train\.eta' 'model: {d: 3}
train: {method: flow, T: 5, eta: [0.1, 0.2]}'
axis pop_n 'data\.n' 'model: {d: 3}
data: {regime: population, n: [100, 200]}'
axis pop_data_seed 'data\.seed' 'model: {d: 3}
data: {regime: [empirical, population], seed: [1, 2]}'
axis gd_T 'train\.T' 'model: {d: 3}
train: {T: [5, 10]}'
axis zero_eta 'train\.eta' 'model: {d: 3}
train: {iterations: 0, eta: [0.1, 0.2]}'
axis claim2_seed 'init\.seed' 'model: {activation: abs, d: 3, K: 2, norm_tied: true}
data: {regime: population}
init: {method: claim2, seed: [0, 1]}'
axis scaled_sigma 'init\.sigma' 'model: {d: 3}
init: {method: scaled, sigma: [0.1, 0.2]}'
axis e1_teacher_seed 'teacher\.seed' 'model: {d: 3}
teacher: {direction: e1, seed: [1, 2]}'
# where every cell reads it, the same axis is fine
printf 'model: {d: 3}\ninit: {method: gaussian, sigma: [0.1, 0.2]}\n' >"$TMP/ok.yaml"
check "an axis every cell reads is accepted" quiet "$TSIM" validate "$TMP/ok.yaml"
# a one-value list cannot merge rows: accepted, and empty where not read
printf 'model: {d: 3}\ndata: {n: 50, n_test: 10}\ninit: {sigma: [0.2]}\ntrain: {iterations: 3}\n' \
  >"$TMP/one.yaml"
run_np 1 run "$TMP/one.yaml" -q -o "$TMP/one" >/dev/null 2>&1
check "a one-value list over a key the cell does not read: accepted, its column empty" \
  every "$TMP/one/cells.csv" init_sigma ""
finish
