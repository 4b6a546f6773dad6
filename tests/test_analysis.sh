#!/usr/bin/env bash
# test_analysis.sh - analysis/plot_run.py on two tiny runs: a K x eta grid
# gets every Wang & Abernethy figure that applies (fig1, fig2, fig3 and
# fig9_entry) as non-blank PNGs plus PDFs and a summary.md with a row per K;
# a grid with one eta gets no fig9_entry.
SUITE=analysis
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
PLOT="$ROOT/analysis/plot_run.py"
if ! "$PY" -c 'import numpy, matplotlib' 2>/dev/null; then
  fail "$PY with numpy and matplotlib (apt-get install python3-numpy python3-matplotlib)"
  finish; exit
fi

cat > "$TMP/grid.yaml" <<'YAML'
name: analysis_grid
model: {d: 5, K: [1, 3]}
data:  {n: 100, n_test: 50, seed: 3}
init:  {seed: [0, 1]}
train: {eta: [0.01, 0.05], iterations: 300, log_every: 10}
output: {neurons: true}
YAML
"$TSIM" run "$TMP/grid.yaml" -q -o "$TMP/grid" >/dev/null 2>"$TMP/grid.err"
"$TSIM" run "$TMP/grid.yaml" --set train.eta=0.05 -q -o "$TMP/one" >/dev/null 2>"$TMP/one.err"
check "tsim wrote both tiny runs" test -s "$TMP/grid/neurons.csv" -a -s "$TMP/one/metrics.csv"

# the two plots in parallel: matplotlib's layout is the slow part
"$PY" "$PLOT" "$TMP/grid" >"$TMP/grid.plot.out" 2>"$TMP/grid.plot.err" & pid=$!
"$PY" "$PLOT" "$TMP/one" >"$TMP/one.plot.out" 2>"$TMP/one.plot.err"; rc_one=$?
wait "$pid"; rc_grid=$?
check "plot_run.py succeeds on the K x eta grid" \
  bash -c "[ $rc_grid -eq 0 ] && ! grep -qi 'warning\|error' '$TMP/grid.plot.err'"
check "plot_run.py succeeds on the one-eta grid" \
  bash -c "[ $rc_one -eq 0 ] && ! grep -qi 'warning\|error' '$TMP/one.plot.err'"

# png_ok FILE: a PNG signature, > 10 kB, and not blank (pixel std > 0.01)
png_ok() {
  [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || return 1
  [ "$(stat -c %s "$1")" -gt 10240 ] || return 1
  "$PY" -c 'import sys, matplotlib; matplotlib.use("Agg"); import matplotlib.image as im
sys.exit(0 if float(im.imread(sys.argv[1]).std()) > 0.01 else 1)' "$1"
}
pdf_ok() { [ -s "$1" ] && [ "$(head -c 5 "$1")" = "%PDF-" ]; }

for f in fig1_wang fig2_neurons fig3_components fig9_entry; do
  check "grid: $f.png is a non-blank PNG over 10 kB" png_ok "$TMP/grid/figures/$f.png"
  check "grid: $f.pdf is a PDF" pdf_ok "$TMP/grid/figures/$f.pdf"
done
check "grid: no fig4_scale (one C)" test ! -e "$TMP/grid/figures/fig4_scale.png"
S="$TMP/grid/summary.md"
check "summary.md names the run, the tsim version and the commit" \
  bash -c "grep -q 'analysis_grid' '$S' && grep -q '^- tsim version: [0-9]' '$S' && grep -q '^- git commit: ' '$S'"
for K in 1 3; do
  for eta in 0.01 0.05; do
    check "summary.md has a table row for K = $K, eta = $eta" grep -qE "^\| $K \| $eta \| 1 \|" "$S"
  done
done
check "summary.md has the K = 1 T_gamma table" grep -q 'T_gamma measured vs the bound' "$S"

for f in fig1_wang fig2_neurons fig3_components; do
  check "one eta: $f.png is a non-blank PNG over 10 kB" png_ok "$TMP/one/figures/$f.png"
done
check "one eta: no fig9_entry" test ! -e "$TMP/one/figures/fig9_entry.png" -a ! -e "$TMP/one/figures/fig9_entry.pdf"
check "one eta: summary.md says fig9_entry was not drawn" grep -q 'fig9_entry not drawn' "$TMP/one/summary.md"

# without neurons.csv the neuron figures are skipped, and said so
mkdir "$TMP/bare" && cp "$TMP/one/"{cells.csv,metrics.csv,manifest.json} "$TMP/bare/"
"$PY" "$PLOT" "$TMP/bare" >/dev/null 2>"$TMP/bare.err"; rc=$?
check "no neurons.csv: fig1 only, the skip stated in summary.md" \
  bash -c "[ $rc -eq 0 ] && test -s '$TMP/bare/figures/fig1_wang.png' && ! test -e '$TMP/bare/figures/fig2_neurons.png' && grep -q 'neurons.csv absent' '$TMP/bare/summary.md'"
"$PY" "$PLOT" "$TMP/nothing" >/dev/null 2>"$TMP/nothing.err"; rc=$?
check "not a run directory: exit 2 with one line" \
  bash -c "[ $rc -eq 2 ] && [ \$(wc -l < '$TMP/nothing.err') -eq 1 ]"
finish
