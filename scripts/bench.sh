#!/usr/bin/env bash
# bench.sh - performance figures (never a test: it prints and writes a CSV).
#   scripts/bench.sh [OUTDIR]       (make bench)
# Machine facts first, then each benchmark as rows of bench.csv:
#   benchmark,setting,value,unit
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/bench}
mkdir -p "$OUT"
CSV="$OUT/bench.csv"
echo "benchmark,setting,value,unit" > "$CSV"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
row() { echo "$1,$2,$3,$4" >> "$CSV"; printf '  %-28s %-40s %12s %s\n' "$1" "$2" "$3" "$4"; }
# figures of whatever bench.csv holds when this script ends (also after a
# failed benchmark): strong/weak scaling and moments plots + bench.md (issue 8)
draw_figures() {
  "${PYTHON:-/usr/bin/python3}" analysis/plot_bench.py "$CSV" -o "$OUT/figures" >/dev/null \
    && echo "figures: $OUT/figures/ (bench.md, bench_*.png)" \
    || echo "analysis/plot_bench.py failed: no figures (bench.csv is intact)"
}
trap draw_figures EXIT

echo "machine: $(grep -c ^processor /proc/cpuinfo) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "tsim: $(bin/tsim --version)"

# --- load balance (issue: scheduler) ---------------------------------------
# The Fig. 9 grid (10 step sizes x K in {1,3,10}) at n = 1e5 samples, 4
# seeds and 100 iterations (the full 20 seeds x 20000 iterations at this n
# would take hours), on 2 ranks as 2 teams: the divergent cells end in a few
# iterations, K = 10 cells cost 10x K = 1 ones. Ideal = sum of cell times /
# number of teams.
echo "load balance: Fig. 9 grid at n = 1e5, 120 cells, 2 ranks"
rm -rf "$OUT/fig9_n1e5"
mpirun -q --oversubscribe -np 2 bin/tsim run configs/wang2021_fig9.yaml -q \
  --set data.n=100000 --set data.n_test=1000 --set 'init.seed=[0,1,2,3]' \
  --set train.iterations=100 --set train.log_points=10 -o "$OUT/fig9_n1e5" >/dev/null
wall=$(sed -n 's/.*"wall_s": \([0-9.]*\).*/\1/p' "$OUT/fig9_n1e5/manifest.json")
teams=$(sed -n 's/.*"teams": \([0-9]*\).*/\1/p' "$OUT/fig9_n1e5/manifest.json")
sum=$(awk -F, 'NR > 1 { s += $NF } END { printf "%.3f", s }' "$OUT/fig9_n1e5/cells.csv")
ideal=$(awk -v s="$sum" -v t="$teams" 'BEGIN { printf "%.3f", s / t }')
row load_balance "fig9 n=1e5 120 cells, 2 ranks: wall" "$wall" s
row load_balance "sum of cell times / $teams teams (ideal)" "$ideal" s
row load_balance "wall / ideal" "$(awk -v w="$wall" -v i="$ideal" 'BEGIN { printf "%.3f", w / i }')" ratio
echo "wrote $CSV"
