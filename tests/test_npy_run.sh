#!/usr/bin/env bash
# test_npy_run.sh - data and initial weights from .npy files. tsim's own
# samples exported with `tsim export-data` and read back through data.*_file
# and init.w_file give byte-identical results to the run from seeds (on
# other rank counts, too); wrong shapes and dtypes are clear errors.
SUITE=npy_run
source "$(dirname "$0")/lib.sh"

cat > "$TMP/seeds.yaml" <<'YAML'
name: seeds
model: {d: 5, K: 3, C: 1.5}
data:  {n: 3000, n_test: 500, seed: 11, chunk: 256, engine: sharded}
init:  {scale: 0.2, seed: 4}
train: {eta: 0.02, iterations: 80, log_every: 10}
YAML
# (engine: sharded: labels read from files always take the sharded engine,
# whose rounding differs from the moments engine's that auto picks here)
"$TSIM" export-data "$TMP/seeds.yaml" -o "$TMP/data" >/dev/null 2>"$TMP/export.err"
check "export-data writes the five files" \
  bash -c "for f in x y x_test y_test w0; do test -s '$TMP/data/'\$f.npy || exit 1; done"
cat > "$TMP/files.yaml" <<'YAML'
name: files
model: {d: 5, K: 3, C: 1.5}
data:  {x_file: data/x.npy, y_file: data/y.npy, x_test_file: data/x_test.npy,
        y_test_file: data/y_test.npy, chunk: 256}
init:  {w_file: data/w0.npy, seed: 4}
train: {eta: 0.02, iterations: 80, log_every: 10}
YAML
run_np 2 run "$TMP/seeds.yaml" -q -o "$TMP/a" >/dev/null 2>&1
run_np 3 run "$TMP/files.yaml" -q -o "$TMP/b" >/dev/null 2>"$TMP/b.err"
check "run from files succeeds on 3 ranks" test -s "$TMP/b/metrics.csv"
for f in cells.csv metrics.csv neurons.csv; do
  check "$f from files (3 ranks) equals $f from seeds (2 ranks)" same_csv "$TMP/a/$f" "$TMP/b/$f"
done
check "n is taken from the file" grep -q '^  n: 3000$' "$TMP/b/config.yaml"

# wrong shape: w0 is 5 x 3, ask for K = 2
"$TSIM" run "$TMP/files.yaml" --set model.K=2 -o "$TMP/c" >/dev/null 2>"$TMP/c.err"; rc=$?
check "a w_file of the wrong shape: exit 2 naming init.w_file and the shapes" \
  bash -c "[ $rc -eq 2 ] && grep -qE 'files.yaml:[0-9]+:[0-9]+: init.w_file: .*shape \(5, 3\), need \(d, K\) = \(5, 2\)' '$TMP/c.err'"
# wrong dtype: the same file claiming float32
sed '1s/<f8/<f4/' "$TMP/data/x.npy" > "$TMP/data/x32.npy"
"$TSIM" run "$TMP/files.yaml" --set data.x_file="$TMP/data/x32.npy" -o "$TMP/d" >/dev/null 2>"$TMP/d.err"; rc=$?
check "a float32 x_file: exit 2 naming data.x_file and the dtype" \
  bash -c "[ $rc -eq 2 ] && grep -q \"data.x_file: .*x32.npy: dtype '<f4' is not supported\" '$TMP/d.err'"
# wrong d
"$TSIM" run "$TMP/files.yaml" --set model.d=4 --set init.w_file=null -o "$TMP/e" >/dev/null 2>"$TMP/e.err"; rc=$?
check "an x_file with the wrong number of columns: exit 2" \
  bash -c "[ $rc -eq 2 ] && grep -q 'data.x_file: .*need (n, d) with d = 4' '$TMP/e.err'"
check "none of the failed runs wrote a directory" bash -c "! test -e '$TMP/c' && ! test -e '$TMP/d' && ! test -e '$TMP/e'"
finish
