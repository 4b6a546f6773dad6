#!/usr/bin/env bash
# test_teacher_weights.sh - teacher.source file (docs/config.md): the teacher's weights from
# teacher.w_file (d x m, a random two-neuron relu teacher made here with numpy). It makes the
# labels (the very ones numpy computes), or checks those of data.y_file on the first chunk
# (another teacher's labels: exit 2 naming both files, nothing written; teacher.check: warn
# runs; with data.label_noise the residuals must fit the noise); every teacher-based output
# uses it (teachers.csv, pop_loss, dist: a quadratic file teacher's final_dist goes to 0 with
# the training loss); output weights teacher.a_file make sum_l a_l act(v_l . x), in the labels,
# the population closed forms (against the sample mean) and near_teacher; the same tables on 1
# and 2 ranks and after a stop and resume; a changed teacher file refuses the resume; bad
# files are one located line.
SUITE=teacher_weights
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
o = sys.argv[1] + "/"
rng = np.random.default_rng(11)
d, n, m = 4, 1000, 2
relu = lambda z: np.maximum(z, 0.0)
x = rng.standard_normal((n, d))
v = rng.standard_normal((d, m))        # one column per teacher neuron, norms included
other = rng.standard_normal((d, m))
vq = rng.standard_normal((d, 1))       # one quadratic teacher neuron
np.save(o + "x.npy", x)
np.save(o + "v.npy", v)
np.save(o + "other.npy", other)
np.save(o + "vq.npy", vq)
np.save(o + "y.npy", relu(x @ v).sum(axis=1))
np.save(o + "y_other.npy", relu(x @ other).sum(axis=1))
np.save(o + "y_noisy.npy", relu(x @ v).sum(axis=1) + 0.1 * rng.standard_normal(n))
np.save(o + "yq.npy", ((x @ vq) ** 2).sum(axis=1))
np.save(o + "w0.npy", v + 0.01 * rng.standard_normal((d, m)))
np.save(o + "w0q.npy", vq + 0.05 * rng.standard_normal((d, 1)))
np.save(o + "short.npy", v[:3])
np.save(o + "flat.npy", v[:, 0])
bad = v.copy(); bad[2, 1] = np.nan
np.save(o + "nan.npy", bad)
a = np.array([2.0, -0.5])               # output weights
np.save(o + "a.npy", a)
np.save(o + "a_pos.npy", np.array([2.0, 0.5]))
np.save(o + "a_ones.npy", np.ones(m))
np.save(o + "a3.npy", np.ones(3))
np.save(o + "y_a.npy", relu(x @ v) @ a)
PY
cat > "$TMP/gen.yaml" <<YAML
name: gen
model: {d: 4, K: 2, activation: relu}
teacher: {source: file, w_file: $TMP/v.npy}
data: {n: 1000, n_test: 0, chunk: 256, engine: sharded}
init: {w_file: $TMP/w0.npy}
train: {eta: 0.05, iterations: 60, log_every: 10}
YAML
cat > "$TMP/files.yaml" <<YAML
name: files
model: {d: 4, K: 2, activation: relu}
teacher: {source: file, w_file: $TMP/v.npy}
data: {x_file: $TMP/x.npy, y_file: $TMP/y.npy, chunk: 256}
init: {w_file: $TMP/w0.npy}
train: {eta: 0.05, iterations: 60, log_every: 10}
YAML
cat > "$TMP/grid.yaml" <<YAML
name: grid
model: {d: 4, K: [2, 3], activation: relu}
teacher: {source: file, w_file: $TMP/v.npy}
data: {x_file: $TMP/x.npy, y_file: $TMP/y.npy, chunk: 256}
init: {seed: [0, 1], scale: 0.3}
train: {eta: 0.05, iterations: 60, log_every: 10}
YAML
last_col() { tail -1 "$1" | cut -d, -f"$2"; }

# (a) labels made by the file teacher: numpy's labels of the exported inputs
run_np 1 export-data "$TMP/gen.yaml" -o "$TMP/exp" >/dev/null 2>"$TMP/exp.err"; rc=$?
check "export-data with a file teacher: exit 0 ($rc: $(head -c 200 "$TMP/exp.err"))" test $rc -eq 0
"$PY" - "$TMP" >"$TMP/labels.out" 2>&1 <<'PY'
import sys
import numpy as np
o = sys.argv[1] + "/"
x, y, v = np.load(o + "exp/x.npy"), np.load(o + "exp/y.npy"), np.load(o + "v.npy")
ref = np.maximum(x @ v, 0.0).sum(axis=1)
print("relative difference %.3g" % (np.linalg.norm(y - ref) / np.linalg.norm(ref)))
PY
check "(a) the labels are the file teacher's, as numpy makes them ($(cat "$TMP/labels.out"))" \
  awk '/^relative difference/ { exit !($3 < 1e-14) } END { if (NR != 1) exit 1 }' "$TMP/labels.out"
run_np 1 run "$TMP/gen.yaml" -q -o "$TMP/gen" >/dev/null 2>"$TMP/gen.err"; rc=$?
check "(a) run with labels from the file teacher: exit 0 ($rc: $(head -c 200 "$TMP/gen.err"))" \
  test $rc -eq 0
check "(a) config.yaml holds teacher.source: file, its w_file and teacher.neurons 2 from it" \
  bash -c "grep -qx '  source: file' '$TMP/gen/config.yaml' &&
           grep -qx '  w_file: \"$TMP/v.npy\"' '$TMP/gen/config.yaml' &&
           grep -qx '  neurons: 2' '$TMP/gen/config.yaml'"
check "(a) teachers.csv: both file teachers matched (best_cos $(tail -2 "$TMP/gen/teachers.csv" | cut -d, -f4 | tr '\n' ' ')> 0.999)" \
  bash -c "tail -2 '$TMP/gen/teachers.csv' | awk -F, '\$4 > 0.999 { k++ } END { exit k != 2 }'"

# the exported files with the same file teacher: the tables of the run from seeds
sed -e "s|n: 1000, n_test: 0, |x_file: $TMP/exp/x.npy, y_file: $TMP/exp/y.npy, |" \
  -e 's/name: gen/name: exp/' "$TMP/gen.yaml" > "$TMP/expf.yaml"
run_np 1 run "$TMP/expf.yaml" -q -o "$TMP/expf" >/dev/null 2>"$TMP/expf.err"; rc=$?
check "(b) data.y_file made by the file teacher: exit 0 ($rc: $(head -c 200 "$TMP/expf.err"))" \
  test $rc -eq 0
for f in metrics neurons teachers; do
  check "(b) $f.csv from the exported files equals the run from seeds" \
    same_csv "$TMP/gen/$f.csv" "$TMP/expf/$f.csv"
done

# (b) final_dist -> 0 as the training loss -> 0 (a quadratic file teacher: dist is defined)
cat > "$TMP/quad.yaml" <<YAML
name: quad
model: {d: 4, K: 1}
teacher: {source: file, w_file: $TMP/vq.npy}
data: {x_file: $TMP/x.npy, y_file: $TMP/yq.npy, chunk: 256}
init: {w_file: $TMP/w0q.npy}
train: {eta: 0.01, iterations: 400, log_every: 100, tol: 0}
YAML
run_np 1 run "$TMP/quad.yaml" -q -o "$TMP/quad" >/dev/null 2>"$TMP/quad.err"; rc=$?
check "(b) quadratic file teacher with its labels: exit 0 ($rc: $(head -c 200 "$TMP/quad.err"))" \
  test $rc -eq 0
check "(b) final_train_loss < 1e-12 and final_dist < 1e-6 ($(last_col "$TMP/quad/cells.csv" 14), $(last_col "$TMP/quad/cells.csv" 16))" \
  awk -F, 'NR == 2 { ok = $14 != "" && $14 < 1e-12 && $16 != "" && $16 < 1e-6 } END { exit !ok }' \
  "$TMP/quad/cells.csv"
check "(b) pop_loss and dist filled in every metrics row" \
  bash -c "tail -n +2 '$TMP/quad/metrics.csv' | cut -d, -f5,6 | grep -qE '^,|,\$' && exit 1 || exit 0"

# refusals: one located line, exit 2, nothing written
refused() { # refused NAME PATTERN ARGS...
  local name=$1 pat=$2; shift 2
  run_np 1 run "$@" -o "$TMP/r_$name" >/dev/null 2>"$TMP/r_$name.err"; local rc=$?
  check "$name: exit 2, one line ($rc: $(head -1 "$TMP/r_$name.err"))" \
    bash -c "[ $rc -eq 2 ] && [ \$(wc -l < '$TMP/r_$name.err') -eq 1 ] && grep -qE '$pat' '$TMP/r_$name.err'"
  check "$name: nothing written" test ! -e "$TMP/r_$name"
}
# (c) labels of another teacher
refused other_teacher "^--set:1:13: data.y_file: $TMP/y_other.npy: the labels of the first chunk \(256 rows\) are not those of teacher.w_file $TMP/v.npy: relative mismatch" \
  "$TMP/files.yaml" --set data.y_file="$TMP/y_other.npy"
run_np 2 run "$TMP/files.yaml" -o "$TMP/r_other2" --set data.y_file="$TMP/y_other.npy" \
  >/dev/null 2>"$TMP/r_other2.err"; rc=$?
check "(c) on 2 ranks: exit 2, the one line once, nothing written ($rc: $(head -1 "$TMP/r_other2.err"))" \
  bash -c "[ $rc -eq 2 ] && [ \$(wc -l < '$TMP/r_other2.err') -eq 1 ] &&
           grep -q 'not those of teacher.w_file' '$TMP/r_other2.err' && [ ! -e '$TMP/r_other2' ]"
# (d) teacher.check: warn runs with them, saying so
run_np 1 run "$TMP/files.yaml" -q -o "$TMP/warn" --set data.y_file="$TMP/y_other.npy" \
  --set teacher.check=warn >/dev/null 2>"$TMP/warn.err"; rc=$?
check "(d) teacher.check: warn: exit 0 and the warning line ($rc: $(head -1 "$TMP/warn.err"))" \
  bash -c "[ $rc -eq 0 ] && grep -q '^tsim: warning: .*data.y_file: .*y_other.npy: .* not those of teacher.w_file' '$TMP/warn.err'"
check "(d) config.yaml keeps teacher.check: warn" grep -qx '  check: warn' "$TMP/warn/config.yaml"
# (e) label noise: residuals consistent with it, or not
run_np 1 run "$TMP/files.yaml" -q -o "$TMP/noisy" --set data.y_file="$TMP/y_noisy.npy" \
  --set data.label_noise=0.1 >/dev/null 2>"$TMP/noisy.err"; rc=$?
check "(e) labels with noise 0.1 and data.label_noise 0.1: exit 0 ($rc: $(head -1 "$TMP/noisy.err"))" \
  test $rc -eq 0
refused noise_too_small 'data.y_file: .*y_noisy.npy: .* with data.label_noise 0.3: residual variance .* sigma from 0.09' \
  "$TMP/files.yaml" --set data.y_file="$TMP/y_noisy.npy" --set data.label_noise=0.3
refused clean_labels_with_noise 'data.y_file: .*y.npy: .* with data.label_noise 0.1: residual variance' \
  "$TMP/files.yaml" --set data.label_noise=0.1
# (h) bad teacher files and keys
refused wrong_rows "^--set:1:16: teacher.w_file: $TMP/short.npy has shape \(3, 2\), need \(d, teacher.neurons\) with d = 4\$" \
  "$TMP/files.yaml" --set teacher.w_file="$TMP/short.npy"
refused one_dimensional "^--set:1:16: teacher.w_file: $TMP/flat.npy has shape \(4,\), need" \
  "$TMP/files.yaml" --set teacher.w_file="$TMP/flat.npy"
refused nan "^--set:1:16: teacher.w_file: $TMP/nan.npy: row 2, column 1 \(from 0\) is NaN" \
  "$TMP/files.yaml" --set teacher.w_file="$TMP/nan.npy"
refused neurons_differ "files.yaml:3:33: teacher.w_file: $TMP/v.npy has 2 columns \(teacher neurons\), and teacher.neurons is 3" \
  "$TMP/files.yaml" --set teacher.neurons=3
refused file_without_w_file "files.yaml:3:19: teacher.source: file needs the teacher.s weights in teacher.w_file" \
  "$TMP/files.yaml" --set teacher.w_file=null
refused w_file_without_file "files.yaml:3:33: teacher.w_file: is read only with teacher.source: file" \
  "$TMP/files.yaml" --set teacher.source=none
refused norm_axis '^--set:1:14: teacher.norm: cannot be a grid axis: cell 0 does not read it: the teacher comes from teacher.w_file' \
  "$TMP/grid.yaml" --set 'teacher.norm=[1, 2]'

run_np 1 run "$TMP/grid.yaml" -q -o "$TMP/grid1" >/dev/null 2>&1
# output weights teacher.a_file: y = sum_l a_l act(v_l . x)
run_np 1 export-data "$TMP/gen.yaml" -o "$TMP/expa" --set teacher.a_file="$TMP/a.npy" >/dev/null 2>&1
"$PY" - "$TMP" >"$TMP/labels_a.out" 2>&1 <<'PY'
import sys
import numpy as np
o = sys.argv[1] + "/"
x, y = np.load(o + "expa/x.npy"), np.load(o + "expa/y.npy")
ref = np.maximum(x @ np.load(o + "v.npy"), 0.0) @ np.load(o + "a.npy")
print("relative difference %.3g" % (np.linalg.norm(y - ref) / np.linalg.norm(ref)))
PY
check "a_file: the labels are sum_l a_l relu(v_l . x), as numpy makes them ($(cat "$TMP/labels_a.out"))" \
  awk '/^relative difference/ { exit !($3 < 1e-14) } END { if (NR != 1) exit 1 }' "$TMP/labels_a.out"
run_np 1 run "$TMP/files.yaml" -q -o "$TMP/ya" --set data.y_file="$TMP/y_a.npy" \
  --set teacher.a_file="$TMP/a.npy" >/dev/null 2>"$TMP/ya.err"; rc=$?
check "a_file: labels made with the output weights pass the check ($rc: $(head -1 "$TMP/ya.err"))" \
  test $rc -eq 0
refused labels_without_a "data.y_file: .*y_a.npy: the labels of the first chunk .* not those of teacher.w_file" \
  "$TMP/files.yaml" --set data.y_file="$TMP/y_a.npy"
run_np 1 run "$TMP/grid.yaml" -q -o "$TMP/ones" --set teacher.a_file="$TMP/a_ones.npy" >/dev/null 2>&1
for f in cells metrics neurons teachers; do
  check "a_file of ones: $f.csv equals the run without it" same_csv "$TMP/ones/$f.csv" "$TMP/grid1/$f.csv"
done
# the population closed form with output weights against the sample mean (n = 2e5) at W0
for act in relu abs quadratic linear erf; do
  run_np 1 run "$TMP/gen.yaml" -q -o "$TMP/mc_$act" --set teacher.a_file="$TMP/a.npy" \
    --set model.activation=$act --set model.K=3 --set init.w_file=null --set init.method=gaussian \
    --set init.sigma=0.5 --set data.n=200000 --set train.iterations=0 >/dev/null 2>&1
  check "a_file, $act: pop_loss (closed form) within 2% of the train loss of 2e5 samples ($(tail -1 "$TMP/mc_$act/metrics.csv" | cut -d, -f3,5))" \
    awk -F, 'NR == 2 { ok = $5 != "" && ($3 - $5) / $5 < 0.02 && ($5 - $3) / $5 < 0.02 } END { exit !ok }' \
    "$TMP/mc_$act/metrics.csv"
done
run_np 1 run "$TMP/gen.yaml" -q -o "$TMP/near" --set teacher.a_file="$TMP/a_pos.npy" \
  --set init.w_file=null --set init.method=near_teacher --set init.scale=0 \
  --set train.iterations=0 >/dev/null 2>&1
check "a_file: near_teacher starts at zero loss ($(last_col "$TMP/near/cells.csv" 14))" \
  awk -F, 'NR == 2 { ok = $14 != "" && $14 < 1e-28 } END { exit !ok }' "$TMP/near/cells.csv"
refused a_wrong_shape "^--set:1:16: teacher.a_file: $TMP/a3.npy has shape \(3,\), need \(teacher.neurons,\) = \(2,\)\$" \
  "$TMP/files.yaml" --set teacher.a_file="$TMP/a3.npy"
refused a_near_negative "teacher.a_file: $TMP/a.npy: a\[1\] = -0.5, and init.method near_teacher needs every output weight > 0" \
  "$TMP/gen.yaml" --set teacher.a_file="$TMP/a.npy" --set init.w_file=null --set init.method=near_teacher
refused a_without_file "^--set:3:16: teacher.a_file: is read only with teacher.source: file \(teacher.source: file, or leave teacher.a_file out\)" \
  "$TMP/files.yaml" --set teacher.source=none --set teacher.w_file=null --set teacher.a_file="$TMP/a.npy"

# (f) rank invariance, (g) a stop and resume
run_np 2 run "$TMP/grid.yaml" -q -o "$TMP/grid2" >/dev/null 2>&1
for f in cells metrics neurons teachers; do
  check "(f) grid: $f.csv on 2 ranks equals 1 rank's" same_csv "$TMP/grid1/$f.csv" "$TMP/grid2/$f.csv"
done
TSIM_FAULT=cell=2,iter=30,do=stop run_np 2 run "$TMP/grid.yaml" -q -o "$TMP/gridr" >/dev/null 2>&1; rc=$?
check "(g) grid: stopped in cell 2 at t = 30 (exit $rc)" test $rc -eq 3
rm -f "$TMP/gridr/STOP"
run_np 1 run "$TMP/gridr/config.yaml" --resume -q -o "$TMP/gridr" >/dev/null 2>"$TMP/gridr.err"; rc=$?
check "(g) grid: resumed from its config.yaml (exit $rc: $(head -c 200 "$TMP/gridr.err"))" test $rc -eq 0
for f in cells metrics neurons teachers; do
  check "(g) grid: $f.csv after the resume equals the uninterrupted run's" \
    same_csv "$TMP/grid1/$f.csv" "$TMP/gridr/$f.csv"
done
# labels from the teacher (no data.y_file): the resume sees the changed file by its hash
TSIM_FAULT=cell=0,iter=30,do=stop run_np 1 run "$TMP/gen.yaml" -q -o "$TMP/genx" >/dev/null 2>&1
rm -f "$TMP/genx/STOP"
cp "$TMP/other.npy" "$TMP/v.npy" # the same path, another teacher
run_np 1 run "$TMP/genx/config.yaml" --resume -q -o "$TMP/genx" >/dev/null 2>"$TMP/genx.err"; rc=$?
check "(g) a changed teacher.w_file refuses the resume (exit $rc: $(head -1 "$TMP/genx.err"))" \
  bash -c "[ $rc -eq 2 ] && grep -q '^.*config.yaml:[0-9]*:[0-9]*: teacher.w_file: $TMP/v.npy changed since the checkpoint' '$TMP/genx.err'"
finish
