#!/usr/bin/env bash
# test_teacher_output.sh - teacher.output (docs/config.md): sign weighs the teacher's neurons
# a_l = +1, -1, +1, ... (neuron 0 first), ones (the default) all 1.
#   labels of `tsim export-data` = NumPy's sum_l a_l act(v_l . x) (relu and tanh, a generated
#   teacher; relu, a file teacher);
#   pop_loss of a sharded relu run, every row, = NumPy's arc-cosine closed form with the a_l
#   (replaying the descent on the exported samples), and = the population engine's loss at t = 0;
#   teacher.output: ones gives the tables and config_hash of the config without the key, whose
#   config.yaml names it;
#   a grid over ones and sign: each cell's rows are its run's alone (the labels are not
#   shared), 1 and 2 ranks byte-identical, a stop and a resume from config.yaml too;
#   refusals, one located line: with teacher.a_file, with teacher.source none, sign with
#   init.method near_teacher.
SUITE=teacher-output
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! "$PY" -c 'import numpy' 2>/dev/null; then
  fail "$PY with numpy (apt-get install python3-numpy)"
  finish; exit
fi

cat > "$TMP/s.yaml" <<'YAML'
name: sign
model:   {activation: relu, d: 4, K: 3}
teacher: {neurons: 3, direction: orthonormal, output: sign}
data:    {n: 512, n_test: 0, seed: 3, chunk: 256, engine: sharded}
init:    {method: gaussian, sigma: 0.5, seed: 1}
train:   {eta: 0.05, iterations: 20, log_every: 1, tol: 0}
YAML
"$PY" -c "import numpy as np; np.save('$TMP/v.npy', np.eye(4, 3) * [[0.5, 1.0, 2.0]])
np.save('$TMP/a.npy', np.ones(3))"

# labels: numpy's from the exported inputs
labels() { # labels DIR ACT V.npy|eye
  "$PY" - "$@" <<'PY'
import sys
import numpy as np
exp, act, vfile = sys.argv[1:4]
x, y = np.load(exp + "/x.npy"), np.load(exp + "/y.npy")
V = np.eye(4, 3) if vfile == "eye" else np.load(vfile)
f = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh}[act]
ref = f(x @ V) @ np.array([1.0, -1.0, 1.0])
diff = np.linalg.norm(y - ref) / np.linalg.norm(ref)
sys.exit(int(diff > 1e-14))
PY
}
run_np 1 export-data "$TMP/s.yaml" -o "$TMP/exp" >"$TMP/exp.log" 2>&1 ||
  fail "export-data: $(tail -1 "$TMP/exp.log")"
check "relu: labels are sum_l a_l relu(v_l . x), a = (1, -1, 1), as numpy makes them" \
  labels "$TMP/exp" relu eye
run_np 1 export-data "$TMP/s.yaml" --set model.activation=tanh -o "$TMP/expt" \
  >"$TMP/expt.log" 2>&1 || fail "export-data tanh: $(tail -1 "$TMP/expt.log")"
check "tanh: labels are sum_l a_l tanh(v_l . x)" labels "$TMP/expt" tanh eye
run_np 1 export-data "$TMP/s.yaml" --set teacher.source=file --set teacher.w_file="$TMP/v.npy" \
  -o "$TMP/expf" >"$TMP/expf.log" 2>&1 || fail "export-data file: $(tail -1 "$TMP/expf.log")"
check "file teacher: labels are sum_l a_l relu(v_l . x) with teacher.w_file's v_l" \
  labels "$TMP/expf" relu "$TMP/v.npy"

# pop_loss of the sharded run: numpy's closed form, replaying gradient descent on the samples
run_np 1 run "$TMP/s.yaml" -q -o "$TMP/r1" >"$TMP/r1.log" 2>&1 ||
  fail "run: $(tail -1 "$TMP/r1.log")"
"$PY" - "$TMP/exp" "$TMP/r1" >"$TMP/pop.out" 2>&1 <<'PY'
import csv, sys
import numpy as np
exp, run = sys.argv[1:3]
d, K, m, s, eta = 4, 3, 3, 0.25, 0.05
V, a = np.eye(m, d), np.array([1.0, -1.0, 1.0])
def kernel(u, w):  # E relu(u.x) relu(w.x), x ~ N(0, I)
    nu, nw = np.linalg.norm(u), np.linalg.norm(w)
    t = np.arccos(np.clip(u @ w / (nu * nw), -1.0, 1.0))
    return nu * nw * (np.sin(t) + (np.pi - t) * np.cos(t)) / (2 * np.pi)
def pop(W):
    Z = np.vstack([W, V]); c = np.r_[np.ones(K), -a]
    return s * sum(c[i] * c[j] * kernel(Z[i], Z[j]) for i in range(K + m) for j in range(K + m))
rows = list(csv.DictReader(open(run + "/metrics.csv")))
X, y, W = np.load(exp + "/x.npy"), np.load(exp + "/y.npy"), np.load(exp + "/w0.npy").T.copy()
assert len(rows) == 21, len(rows)
worst = 0.0
for t in range(21):
    got, want = float(rows[t]["pop_loss"]), pop(W)
    worst = max(worst, abs(got - want) / want)
    U = X @ W.T; r = np.maximum(U, 0).sum(axis=1) - y
    W = W - eta * s * 2 * ((r[:, None] * (U > 0)).T @ X) / len(y)
print("worst relative difference %.3g" % worst)
sys.exit(int(worst > 1e-12))
PY
check "sharded: pop_loss = numpy's closed form, a = (1, -1, 1), every row ($(cat "$TMP/pop.out"))" \
  awk '/^worst/ { exit !($4 <= 1e-12) } END { if (NR != 1) exit 1 }' "$TMP/pop.out"
run_np 1 run "$TMP/s.yaml" -q --set data.regime=population --set data.engine=auto \
  -o "$TMP/pe" >"$TMP/pe.log" 2>&1 || fail "population: $(tail -1 "$TMP/pe.log")"
cat > "$TMP/first.py" <<'PY'
import csv, sys
a = float(next(csv.DictReader(open(sys.argv[1] + "/metrics.csv")))["pop_loss"])
b = float(next(csv.DictReader(open(sys.argv[2] + "/metrics.csv")))["train_loss"])
sys.exit(int(not abs(a - b) <= 1e-13 * b))
PY
check "population engine: its loss at t = 0 = the sharded run's pop_loss (1e-13)" \
  "$PY" "$TMP/first.py" "$TMP/r1" "$TMP/pe"

# ones: the config without the key, tables and hash
same() { test "$(wc -l < "$1")" -gt 1 && same_csv "$1" "$2"; } # rows, and byte-identical
teacher_keys() { sed -n '/^teacher:/,/^[a-z]/p' "$1/config.yaml"; }
sed '/^teacher:/s/, output: sign//' "$TMP/s.yaml" > "$TMP/plain.yaml"
run_np 1 run "$TMP/plain.yaml" -q -o "$TMP/plain" >/dev/null 2>&1
run_np 1 run "$TMP/s.yaml" -q --set teacher.output=ones -o "$TMP/ones" >/dev/null 2>&1
for f in cells metrics neurons teachers; do
  check "ones: $f.csv byte-identical to the config without the key" \
    same "$TMP/plain/$f.csv" "$TMP/ones/$f.csv"
done
hash_of() { grep -o '"config_hash": "[0-9a-f]*"' "$1/manifest.json"; }
check "ones: config_hash of the config without the key ($(hash_of "$TMP/plain"))" \
  test -n "$(hash_of "$TMP/plain")" -a "$(hash_of "$TMP/plain")" = "$(hash_of "$TMP/ones")"
check "sign: another config_hash and other labels" \
  bash -c "test '$(hash_of "$TMP/r1")' != '$(hash_of "$TMP/plain")' &&
           ! cmp -s '$TMP/r1/metrics.csv' '$TMP/plain/metrics.csv'"
check "config.yaml names it: sign, and ones without the key" \
  bash -c "grep -qx '  output: sign' <<< '$(teacher_keys "$TMP/r1")' &&
           grep -qx '  output: ones' <<< '$(teacher_keys "$TMP/plain")'"

# a grid over ones and sign (and K): 1 and 2 ranks
G=(--set 'teacher.output=[ones, sign]' --set 'model.K=[2, 3]' --set output.neurons=true)
run_np 1 run "$TMP/s.yaml" -q "${G[@]}" -o "$TMP/g1" >"$TMP/g1.log" 2>&1 ||
  fail "grid: $(tail -1 "$TMP/g1.log")"
run_np 2 run "$TMP/s.yaml" -q "${G[@]}" -o "$TMP/g2" >/dev/null 2>&1
check "grid: cells.csv has the teacher_output column (ones, sign)" \
  bash -c "head -1 '$TMP/g1/cells.csv' | grep -q teacher_output &&
           grep -q ',sign,' '$TMP/g1/cells.csv' && grep -q ',ones,' '$TMP/g1/cells.csv'"
# cells 2 (K 3, ones) and 3 (K 3, sign) share no labels: each is its run alone
rows() { awk -F, -v c="$2" 'NR > 1 && $1 == c' "$1" | cut -d, -f2-; }
check "grid: cell 2 (K 3, ones) has the metrics rows of the config without the key" \
  bash -c "test -n \"\$1\" -a \"\$1\" = \"\$2\"" _ "$(rows "$TMP/g1/metrics.csv" 2)" \
  "$(rows "$TMP/plain/metrics.csv" 0)"
check "grid: cell 3 (K 3, sign) has the metrics rows of the run with sign alone" \
  bash -c "test -n \"\$1\" -a \"\$1\" = \"\$2\"" _ "$(rows "$TMP/g1/metrics.csv" 3)" \
  "$(rows "$TMP/r1/metrics.csv" 0)"
for f in cells metrics neurons teachers; do
  check "grid: $f.csv on 2 ranks byte-identical to 1 rank's" \
    same "$TMP/g1/$f.csv" "$TMP/g2/$f.csv"
done

# a stop in cell 3 (sign) at t = 10, resumed from its config.yaml on 1 rank
TSIM_FAULT=cell=3,iter=10,do=stop run_np 2 run "$TMP/s.yaml" -q "${G[@]}" -o "$TMP/gs" \
  >/dev/null 2>&1; rc=$?
check "grid: stopped in cell 3 at t = 10 (exit $rc)" test $rc -eq 3
rm -f "$TMP/gs/STOP"
run_np 1 run "$TMP/gs/config.yaml" --resume -q -o "$TMP/gs" >"$TMP/gs.log" 2>&1 ||
  fail "grid: resume: $(tail -1 "$TMP/gs.log")"
for f in cells metrics neurons teachers; do
  check "grid: stop + resume from config.yaml: $f.csv byte-identical" \
    same "$TMP/g1/$f.csv" "$TMP/gs/$f.csv"
done

# refusals: one located line, exit 2, nothing written
refused() { # refused NAME PATTERN ARGS...
  local name=$1 pat=$2; shift 2
  run_np 1 run "$@" -o "$TMP/r_$name" >/dev/null 2>"$TMP/r_$name.err"; local rc=$?
  check "$name: exit 2, one line ($rc: $(head -1 "$TMP/r_$name.err"))" \
    bash -c "[ $rc -eq 2 ] && [ \$(wc -l < '$TMP/r_$name.err') -eq 1 ] && grep -qE '$pat' '$TMP/r_$name.err'"
  check "$name: nothing written" test ! -e "$TMP/r_$name"
}
refused with_a_file "^$TMP/s.yaml:3:55: teacher.output: and teacher.a_file both give the teacher.s output weights \(one of them\)\$" \
  "$TMP/s.yaml" --set teacher.source=file --set teacher.w_file="$TMP/v.npy" \
  --set teacher.a_file="$TMP/a.npy"
refused ones_with_a_file "^--set:4:16: teacher.output: and teacher.a_file both give" \
  "$TMP/plain.yaml" --set teacher.source=file --set teacher.w_file="$TMP/v.npy" \
  --set teacher.a_file="$TMP/a.npy" --set teacher.output=ones
cat > "$TMP/none.yaml" <<YAML
name: none
model:   {activation: relu, d: 4, K: 3}
teacher: {source: none, output: sign}
data:    {x_file: $TMP/exp/x.npy, y_file: $TMP/exp/y.npy, chunk: 256}
YAML
refused none "^$TMP/none.yaml:3:33: teacher.output: sign weighs a teacher.s neurons, and teacher.source is none \(ones, or teacher.source generated or file\)\$" \
  "$TMP/none.yaml"
refused near_teacher "^$TMP/s.yaml:3:55: teacher.output: sign makes a_1 = -1, and init.method near_teacher needs every output weight > 0" \
  "$TMP/s.yaml" --set init.method=near_teacher
finish
