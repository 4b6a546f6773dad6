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
"$TSIM" export-data "$TMP/seeds.yaml" -o "$TMP/data" >/dev/null 2>"$TMP/export2.err"; rc=$?
check "export-data again without --force: exit 2 naming the earlier export ($rc)" \
  bash -c "[ $rc -eq 2 ] && grep -qx '$TMP/data: holds x.npy of an earlier export; use --force to replace it' '$TMP/export2.err'"
"$TSIM" export-data "$TMP/seeds.yaml" -o "$TMP/data" --force >/dev/null 2>&1
check "... with --force: replaced (exit $?)" test -s "$TMP/data/w0.npy"
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
before=$(cd "$TMP/a" && ls -A | sort | xargs md5sum)
"$TSIM" export-data "$TMP/seeds.yaml" -o "$TMP/a" >/dev/null 2>"$TMP/exrun.err"; rc=$?
check "export-data into a run directory: exit 2, one line ($rc)" \
  bash -c "[ $rc -eq 2 ] && grep -qx '$TMP/a: a run directory (it holds manifest.json); export-data writes into a directory of its own' '$TMP/exrun.err'"
check "... nothing written there" test "$(cd "$TMP/a" && ls -A | sort | xargs md5sum)" = "$before"
"$TSIM" export-data "$TMP/seeds.yaml" --set data.regime=population --set data.engine=auto \
  -o "$TMP/pop" >/dev/null 2>"$TMP/expop.err"; rc=$?
check "export-data of a population-regime cell: exit 2, nothing written ($rc)" \
  bash -c "[ $rc -eq 2 ] && grep -q 'cell 0 is in the population regime (data.regime: population): it uses no samples' '$TMP/expop.err' && [ ! -e '$TMP/pop' ]"
# labels from data.y_file have no teacher (teacher.source none): the
# teacher-based columns are empty there, every other one the same
blank() { # blank FILE COLUMNS...: those columns (from 1) emptied past the header
  local f=$1; shift
  strip_wall "$f" | awk -F, -v OFS=, -v cols="$*" \
    'BEGIN { n = split(cols, c, " ") } NR > 1 { for (i = 1; i <= n; ++i) $c[i] = "" } { print }'
}
check "metrics.csv from files (3 ranks) equals metrics.csv from seeds (2 ranks) but pop_loss, dist, q9" \
  cmp -s <(blank "$TMP/a/metrics.csv" 5 6 7) "$TMP/b/metrics.csv"
check "neurons.csv from files (3 ranks) equals neurons.csv from seeds (2 ranks) but par, perp_norm, comp_*" \
  cmp -s <(blank "$TMP/a/neurons.csv" 4 5 7 8 9 10) "$TMP/b/neurons.csv"
# init.seed is not read when the weights come from init.w_file: empty there
check "cells.csv from files (3 ranks) equals cells.csv from seeds (2 ranks) but the seed and events" \
  cmp -s <(blank "$TMP/a/cells.csv" 3 10 11 12 13 16) <(strip_wall "$TMP/b/cells.csv")
check "... which is empty from files" \
  bash -c "[ \"\$(tail -n +2 '$TMP/b/cells.csv' | cut -d, -f3 | sort -u)\" = '' ]"
check "n is taken from the file" grep -q '^  n: 3000$' "$TMP/b/config.yaml"

# relative paths: in the config file against the file's directory, given
# with --set against the current directory; the run's config.yaml holds
# them absolute, so a resume from another directory reads the same files
mkdir -p "$TMP/A/d" "$TMP/B"
cp "$TMP/data/x.npy" "$TMP/data/y.npy" "$TMP/A/d/"
(cd "$TMP/A" && TSIM_FAULT=cell=0,iter=40,do=stop run_np 2 run ../files.yaml -q -o out \
   --set data.x_file=d/x.npy --set data.y_file=d/y.npy >/dev/null 2>"$TMP/A.err"); rc=$?
check "relative paths: run from A with --set data.x_file=d/x.npy, stopped at t = 40 (exit $rc)" \
  test $rc -eq 3
abs_paths() { # the config.yaml of a run from A names the files by absolute paths
  grep -qx "  x_file: \"$(realpath "$TMP/A/d/x.npy")\"" "$1" &&
    grep -qx "  x_test_file: \"$(realpath "$TMP/data/x_test.npy")\"" "$1" &&
    grep -qx "  w_file: \"$(realpath "$TMP/data/w0.npy")\"" "$1"
}
check "... its config.yaml holds absolute paths (--set's from A, the file's from its directory)" \
  abs_paths "$TMP/A/out/config.yaml"
rm -f "$TMP/A/out/STOP"
(cd "$TMP/B" && run_np 1 resume ../A/out -q >/dev/null 2>"$TMP/B.err"); rc=$?
check "... resumed from B: exit 0 ($rc: $(head -1 "$TMP/B.err"))" test $rc -eq 0
for f in cells.csv metrics.csv neurons.csv; do
  check "... resumed from B: $f equals the run's from files" same_csv "$TMP/b/$f" "$TMP/A/out/$f"
done

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
# data.n_test as a grid axis beside test files (was let through, then failed
# mid-run with a message about changed files, after writing the directory)
"$TSIM" run "$TMP/files.yaml" --set 'data.n_test=[0, 16]' -o "$TMP/f" >/dev/null 2>"$TMP/f.err"; rc=$?
check "data.n_test as a list with data files: exit 2 naming data.n_test ($(head -1 "$TMP/f.err"))" \
  bash -c "[ $rc -eq 2 ] && grep -q '^--set:1:[0-9]*: data.n_test: cannot be a grid axis when the data come from files' '$TMP/f.err'"
# files with no rows (was a run with n = 0 whose config.yaml could not be resumed)
python3 - "$TMP/data" <<'PY'
import struct, sys
def save_empty(path, shape):  # .npy version 1.0, little-endian float64, no data
    head = "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }" % (shape,)
    head += " " * (63 - (10 + len(head)) % 64) + "\n"
    open(path, "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head.encode())
save_empty(sys.argv[1] + "/x0.npy", (0, 5))
save_empty(sys.argv[1] + "/y0.npy", (0,))
PY
"$TSIM" run "$TMP/files.yaml" --set data.x_file="$TMP/data/x0.npy" --set data.y_file="$TMP/data/y0.npy" \
  -o "$TMP/g" >/dev/null 2>"$TMP/g.err"; rc=$?
check "an x_file with no rows: exit 2 naming data.x_file ($(head -1 "$TMP/g.err"))" \
  bash -c "[ $rc -eq 2 ] && grep -q 'data.x_file: .*x0.npy has no rows' '$TMP/g.err'"
# the header as numpy writes it (format versions 1.0, 2.0 and 3.0) is read,
# and numpy reads tsim's export
PY=/usr/bin/python3
if "$PY" -c 'import numpy' 2>/dev/null; then
  "$PY" - "$TMP/data" <<'PY'
import sys
import numpy as np
from numpy.lib import format as F
d = sys.argv[1]
x, y = np.load(d + "/x.npy"), np.load(d + "/y.npy")
assert x.shape == (3000, 5) and y.shape == (3000,) and x.dtype == np.float64
for v in (1, 2, 3):
    for name, a in (("x", x), ("y", y)):
        with open("%s/%s_v%d.npy" % (d, name, v), "wb") as f:
            F.write_array(f, a, version=(v, 0))
PY
  for v in 1 2 3; do
    "$TSIM" run "$TMP/files.yaml" -q --set data.x_file="$TMP/data/x_v$v.npy" \
      --set data.y_file="$TMP/data/y_v$v.npy" -o "$TMP/v$v" >/dev/null 2>"$TMP/v$v.err"
    check "numpy's version $v.0 files (2-d x, 1-d y): the same tables ($(head -c 200 "$TMP/v$v.err"))" \
      same_csv "$TMP/b/metrics.csv" "$TMP/v$v/metrics.csv"
  done
else
  fail "$PY with numpy (apt-get install python3-numpy)"
fi
# a decoy: a string value holding "'shape': (1500, 5)" before the real
# shape (a substring search read 1500 rows of the 3000)
python3 - "$TMP/data" <<'PY'
import struct, sys
d = sys.argv[1]
raw = open(d + "/x.npy", "rb").read()
data = raw[10 + struct.unpack("<H", raw[8:10])[0]:]
head = "{'junk': \"'shape': (1500, 5)\", 'descr': '<f8', 'fortran_order': False, 'shape': (3000, 5), }"
head += " " * (63 - (10 + len(head)) % 64) + "\n"
open(d + "/decoy.npy", "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head.encode() + data)
PY
"$TSIM" run "$TMP/files.yaml" --set data.x_file="$TMP/data/decoy.npy" -o "$TMP/h" >/dev/null 2>"$TMP/h.err"; rc=$?
check "a header with an unknown key: exit 2, one line naming the file and the key ($(head -1 "$TMP/h.err"))" \
  bash -c "[ $rc -eq 2 ] && [ \$(wc -l < '$TMP/h.err') -eq 1 ] &&
           grep -q \"^--set:1:[0-9]*: data.x_file: .*decoy.npy: malformed .npy header (byte 1 of the dict): unknown key 'junk'\" '$TMP/h.err'"
check "none of the failed runs wrote a directory" \
  bash -c "for o in c d e f g h; do ! test -e '$TMP/'\$o || exit 1; done"

# NaN and inf in an input file: found before anything runs, one line naming
# the config key's position, the file, the row and column, exit 2 on 1 and
# on 3 ranks whichever rank's share of the rows holds it (3000 rows: rank 0
# has 0-999, rank 1 1000-1999, rank 2 2000-2999), nothing written
python3 - "$TMP/data" <<'PY'
import math, struct, sys
d = sys.argv[1]
def poke(src, dst, pokes):  # copy SRC to DST with elements (flat index) replaced
    raw = bytearray(open("%s/%s.npy" % (d, src), "rb").read())
    start = 10 + struct.unpack("<H", raw[8:10])[0]
    for at, v in pokes:
        raw[start + 8 * at:start + 8 * at + 8] = struct.pack("<d", v)
    open("%s/%s.npy" % (d, dst), "wb").write(raw)
poke("x", "x_nan", [(17 * 5 + 3, math.nan)])
poke("x", "x_inf_last", [(2999 * 5 + 4, math.inf)])
poke("x", "x_two", [(2500 * 5, math.inf), (5 * 5 + 1, -math.nan)])
poke("y", "y_minf", [(1500, -math.inf)])
poke("x_test", "x_test_nan", [(499 * 5 + 2, math.nan)])
poke("w0", "w0_inf", [(2 * 3 + 1, math.inf)])
PY
# nonfinite NAME FILE-KEY FILE NPS EXPECTED-REGEX: a config naming FILE for
# FILE-KEY, run (and validated) on NPS ranks
nonfinite() {
  local name=$1 key=$2 file=$3 nps=$4 want=$5 np rc
  sed "s|${key#*.}: data/[a-z0-9_]*.npy|${key#*.}: data/$file.npy|" "$TMP/files.yaml" > "$TMP/$name.yaml"
  for np in $nps; do
    for cmd in run validate; do
      if [ "$np" = 1 ]; then
        timeout 60 "$TSIM" $cmd "$TMP/$name.yaml" -o "$TMP/out-$name" >/dev/null 2>"$TMP/$name.err"; rc=$?
      else
        run_np "$np" $cmd "$TMP/$name.yaml" -o "$TMP/out-$name" >/dev/null 2>"$TMP/$name.err"; rc=$?
      fi
      check "$name: $cmd on $np rank(s): exit 2, one line: $(head -c 300 "$TMP/$name.err")" \
        bash -c "[ $rc -eq 2 ] && [ \$(wc -l < '$TMP/$name.err') -eq 1 ] &&
                 grep -qE '^$TMP/$name.yaml:[0-9]+:[0-9]+: $key: $TMP/data/$file.npy: $want \(input values must be finite\)$' '$TMP/$name.err'"
      check "$name: $cmd on $np rank(s): nothing written" test ! -e "$TMP/out-$name"
    done
  done
}
nonfinite x_nan data.x_file x_nan "1 3" 'row 17, column 3 \(from 0\) is NaN'
nonfinite x_inf_last data.x_file x_inf_last "1 3" 'row 2999, column 4 \(from 0\) is inf'
nonfinite x_two data.x_file x_two "3" 'row 5, column 1 \(from 0\) is NaN'
nonfinite y_minf data.y_file y_minf "1 3" 'element 1500 \(from 0\) is -inf'
nonfinite x_test_nan data.x_test_file x_test_nan "1" 'row 499, column 2 \(from 0\) is NaN'
nonfinite w0_inf init.w_file w0_inf "1 3" 'row 2, column 1 \(from 0\) is inf'
# the input files' contents are part of what a checkpoint records: a run
# stopped on 2 ranks resumes on 3 (the content hash is the same for any
# cutting of the rows), but not after data.x_file changed in place
mkdir -p "$TMP/chg" && cp "$TMP"/data/*.npy "$TMP/chg/"
sed "s|data/|$TMP/chg/|g" "$TMP/files.yaml" > "$TMP/chg.yaml"
run_np 2 run "$TMP/chg.yaml" -q -o "$TMP/chg1" >/dev/null 2>&1
for what in same changed; do
  TSIM_FAULT=cell=0,iter=40,do=stop run_np 2 run "$TMP/chg.yaml" -q -o "$TMP/chg_$what" \
    >/dev/null 2>&1; rc=$?
  check "$what: stopped at t = 40 with a checkpoint (exit 3, got $rc)" test $rc -eq 3
  rm -f "$TMP/chg_$what/STOP"
done
run_np 3 resume "$TMP/chg_same" -q >/dev/null 2>"$TMP/chg_same.err"; rc=$?
check "unchanged files, resumed on 3 ranks: exit 0 ($rc: $(head -c 200 "$TMP/chg_same.err"))" \
  test $rc -eq 0
for f in cells.csv metrics.csv neurons.csv; do
  check "... $f equals the uninterrupted run's" same_csv "$TMP/chg1/$f" "$TMP/chg_same/$f"
done
# one bit of x[0, 0] flipped (the lowest byte of the first value)
/usr/bin/python3 -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[10 + int.from_bytes(b[8:10], "little")] ^= 1
open(sys.argv[1], "wb").write(b)' "$TMP/chg/x.npy"
before=$(cd "$TMP/chg_changed" && find . -type f | sort | xargs md5sum)
run_np 3 resume "$TMP/chg_changed" -q >/dev/null 2>"$TMP/chg_changed.err"; rc=$?
check "x.npy changed since the checkpoint: exit 2, one line naming data.x_file ($rc: \
$(head -c 300 "$TMP/chg_changed.err"))" \
  bash -c "[ $rc -eq 2 ] && [ \$(wc -l < '$TMP/chg_changed.err') -eq 1 ] &&
    grep -qE '^[^ ]*/config.yaml:[0-9]+:[0-9]+: data.x_file: .*x.npy changed since the checkpoint' \
    '$TMP/chg_changed.err'"
check "... nothing in the run directory changed" \
  test "$(cd "$TMP/chg_changed" && find . -type f | sort | xargs md5sum)" = "$before"
finish
