#!/usr/bin/env bash
# test_teacher_file.sh - teacher.source (docs/config.md). Labels from
# data.y_file made by a teacher tsim does not know (a random two-neuron relu
# teacher, made here with numpy) have no teacher by default (teacher.source
# none): every teacher-based column is empty, teachers.csv is not written,
# the start line and manifest.json say why; a generated teacher next to
# such labels is refused; the tables are the same on 1 and 2 ranks and
# after a stop and resume.
SUITE=teacher_file
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! "$PY" -c 'import numpy' 2>/dev/null; then
  fail "$PY with numpy (apt-get install python3-numpy)"
  finish
  exit
fi
"$PY" - "$TMP" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(7)
d, n, m = 4, 1000, 2
x = rng.standard_normal((n, d))
v = rng.standard_normal((d, m))  # one column per teacher neuron
np.save(sys.argv[1] + "/x.npy", x)
np.save(sys.argv[1] + "/y.npy", np.maximum(x @ v, 0.0).sum(axis=1))
np.save(sys.argv[1] + "/v.npy", v)
np.save(sys.argv[1] + "/w0.npy", v + 0.01 * rng.standard_normal((d, m)))
PY
cat > "$TMP/relu.yaml" <<YAML
name: relu
model: {d: 4, K: 2, activation: relu}
data: {x_file: $TMP/x.npy, y_file: $TMP/y.npy, chunk: 256}
init: {w_file: $TMP/w0.npy}
train: {eta: 0.05, iterations: 60, log_every: 10}
YAML
cat > "$TMP/quad.yaml" <<YAML
name: quad
model: {d: 4, K: [1, 3]}
data: {x_file: $TMP/x.npy, y_file: $TMP/y.npy, chunk: 256}
init: {seed: [0, 1], scale: 0.3}
train: {eta: 0.01, iterations: 60, log_every: 10}
YAML
# column N (from 1) of every data row of a table, as one sorted set
col_values() { tail -n +2 "$1" | cut -d, -f"$2" | sort -u | tr '\n' ' '; }
empty_cols() { # empty_cols FILE COLUMNS...: each of those columns is empty in every row
  local f=$1 c; shift
  for c in "$@"; do [ "$(col_values "$f" "$c")" = " " ] || return 1; done
}
filled_cols() { # filled_cols FILE COLUMNS...: none of those columns is empty in a row
  local f=$1 c; shift
  for c in "$@"; do tail -n +2 "$f" | cut -d, -f"$c" | grep -qx '' && return 1; done; return 0
}
REASON='no teacher (teacher.source none): the labels come from data.y_file'

for cfg in relu quad; do
  run_np 1 run "$TMP/$cfg.yaml" -o "$TMP/$cfg" >"$TMP/$cfg.out" 2>"$TMP/$cfg.err"; rc=$?
  check "$cfg: labels from data.y_file without a teacher: exit 0 ($rc: $(head -c 200 "$TMP/$cfg.err"))" \
    test $rc -eq 0
  check "$cfg: the start line says why ($(grep -m1 'no teacher' "$TMP/$cfg.out"))" \
    grep -q "^tsim: $REASON; dist, pop_loss, q9, .* teachers.csv is not written" "$TMP/$cfg.out"
  check "$cfg: manifest.json says why" grep -q "\"teacher\": \"$REASON; " "$TMP/$cfg/manifest.json"
  check "$cfg: config.yaml holds teacher.source: none (a resume knows it)" \
    grep -qx '  source: none' "$TMP/$cfg/config.yaml"
  check "$cfg: no teachers.csv" test ! -e "$TMP/$cfg/teachers.csv"
  check "$cfg: metrics.csv: pop_loss, dist, q9 empty; train_loss, grad_norm not" \
    bash -c "$(declare -f col_values empty_cols filled_cols); empty_cols '$TMP/$cfg/metrics.csv' 5 6 7 &&
             filled_cols '$TMP/$cfg/metrics.csv' 3 8"
  check "$cfg: cells.csv: t_q9_positive, t_lemma1, t_gamma, t_gamma_bound, final_dist empty" \
    bash -c "$(declare -f col_values empty_cols filled_cols); empty_cols '$TMP/$cfg/cells.csv' 10 11 12 13 16 &&
             filled_cols '$TMP/$cfg/cells.csv' 14"
  check "$cfg: neurons.csv: par, perp_norm, comp_* empty; norm not" \
    bash -c "$(declare -f col_values empty_cols filled_cols); empty_cols '$TMP/$cfg/neurons.csv' 4 5 7 8 9 10 &&
             filled_cols '$TMP/$cfg/neurons.csv' 6"
done

# convergence without a teacher: only train.loss_tol
run_np 1 run "$TMP/relu.yaml" -q -o "$TMP/tol" --set train.loss_tol=1e-3 >/dev/null 2>&1
check "train.loss_tol still stops a cell without a teacher ($(col_values "$TMP/tol/cells.csv" 8))" \
  test "$(col_values "$TMP/tol/cells.csv" 8)" = "converged "

# refusals: one located line, exit 2, nothing written
refused() { # refused NAME PATTERN ARGS...
  local name=$1 pat=$2; shift 2
  run_np 1 run "$@" -o "$TMP/r_$name" >/dev/null 2>"$TMP/r_$name.err"; local rc=$?
  check "$name: exit 2, one line ($rc: $(head -1 "$TMP/r_$name.err"))" \
    bash -c "[ $rc -eq 2 ] && [ \$(wc -l < '$TMP/r_$name.err') -eq 1 ] && grep -qE '$pat' '$TMP/r_$name.err'"
  check "$name: nothing written" test ! -e "$TMP/r_$name"
}
refused generated_with_y_file \
  '^--set:1:16: teacher.source: generated makes labels, but they come from data.y_file' \
  "$TMP/relu.yaml" --set teacher.source=generated
printf 'name: lone\nmodel: {d: 4}\nteacher: {source: none}\n' > "$TMP/lone.yaml"
refused none_without_y_file '^.*lone.yaml:3:19: teacher.source: none needs the labels from data.y_file' \
  "$TMP/lone.yaml"
refused near_teacher_without_teacher '^--set:1:13: init.method: near_teacher and claim2 start from a teacher' \
  "$TMP/quad.yaml" --set init.method=near_teacher
refused teacher_axis_without_teacher \
  '^--set:1:14: teacher.norm: cannot be a grid axis: cell 0 does not read it: no teacher' \
  "$TMP/quad.yaml" --set 'teacher.norm=[1, 2]'

# rank invariance, and a stop and resume
run_np 2 run "$TMP/quad.yaml" -q -o "$TMP/quad2" >/dev/null 2>&1
for f in cells metrics neurons; do
  check "quad: $f.csv on 2 ranks equals 1 rank's" same_csv "$TMP/quad/$f.csv" "$TMP/quad2/$f.csv"
done
TSIM_FAULT=cell=2,iter=30,do=stop run_np 2 run "$TMP/quad.yaml" -q -o "$TMP/quadr" >/dev/null 2>&1; rc=$?
check "quad: stopped in cell 2 at t = 30 (exit $rc)" test $rc -eq 3
rm -f "$TMP/quadr/STOP"
run_np 1 run "$TMP/quadr/config.yaml" --resume -q -o "$TMP/quadr" >/dev/null 2>"$TMP/quadr.err"; rc=$?
check "quad: resumed from its config.yaml (exit $rc: $(head -c 200 "$TMP/quadr.err"))" test $rc -eq 0
for f in cells metrics neurons; do
  check "quad: $f.csv after the resume equals the uninterrupted run's" \
    same_csv "$TMP/quad/$f.csv" "$TMP/quadr/$f.csv"
done
check "quad: still no teachers.csv after the resume" test ! -e "$TMP/quadr/teachers.csv"

# the Python loader and the figures
PYTHONPATH="$ROOT/python" PYTHONDONTWRITEBYTECODE=1 "$PY" - "$TMP/quad" >"$TMP/py.out" 2>&1 <<'PY'
import sys
import tsim
run = tsim.Run(sys.argv[1])
assert run.metrics["dist"].isna().all() and run.metrics["train_loss"].notna().all()
try:
    run.teachers
    print("teachers read")
except FileNotFoundError as e:
    print(e)
PY
check "python: teacher columns NaN, and the missing teachers.csv names the reason ($(tail -1 "$TMP/py.out"))" \
  grep -q "no teachers.csv (no teacher (teacher.source none)" "$TMP/py.out"
"$PY" "$ROOT/analysis/plot_run.py" "$TMP/quad" >"$TMP/plot.out" 2>&1; rc=$?
check "plot_run.py: exit 0, fig_loss only, no teacher panel ($rc: $(tail -1 "$TMP/plot.out"))" \
  bash -c "[ $rc -eq 0 ] && [ -s '$TMP/quad/figures/fig_loss.png' ] && [ ! -e '$TMP/quad/figures/fig1_wang.png' ] &&
           grep -q 'no teacher panel' '$TMP/quad/summary.md'"
finish
