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

# --- Hessian spectrum (issue 7) ---------------------------------------------
# Distributed assembly of the empirical Hessian (d = 100, K = dK / 100,
# n = 8192 samples = 4 chunks, random W) and its spectrum: eigenvalues only
# (pdsyev) and eigenvalues + eigenvectors (pdsyevd), on 1, 2 and 4 ranks.
# This machine's cores are few: 4 ranks on 2 cores are oversubscribed, so
# the 4-rank rows measure overhead, not speed-up.
echo "Hessian: assemble + diagonalise, d = 100, n = 8192 ($(nproc) cores; ranks > cores are oversubscribed)"
for dk in ${HESSIAN_SIZES:-1000 2000 4000}; do
  for np in 1 2 4; do
    line=$(mpirun -q --oversubscribe -np $np build/bench_hessian 100 $((dk / 100)) 8192)
    set -- $line
    row hessian "dK=$dk n=8192 ranks=$np: assemble" "$4" s
    row hessian "dK=$dk n=8192 ranks=$np: eigenvalues (pdsyev)" "$5" s
    row hessian "dK=$dk n=8192 ranks=$np: + eigenvectors (pdsyevd)" "$6" s
  done
done
echo "wrote $CSV"

# --- fourth-moment engine (issue 6, part 3) ---------------------------------
# One cell (d = 10, K = 10, Fig. 1's settings) on 2 ranks, samples
# regenerated, data.engine: moments: the time to build the tensor (sharded
# over the ranks, exact sum) and the time per iteration (all metrics
# included), which should not depend on n. Then the whole Fig. 9 grid
# (600 cells, up to 20000 iterations each) at n = 1e7 (target: < 60 s).
echo "moments engine: tensor build and time per iteration, d = 10, K = 10, 2 ranks"
manifest_num() { sed -n "s/.*\"$1\": \([0-9.e+-]*\).*/\1/p" "$2"; }
for n in 100000 1000000 10000000 100000000; do
  rm -rf "$OUT/moments_n$n"
  mpirun -q --oversubscribe -np 2 bin/tsim run configs/wang2021_fig1.yaml -q \
    --set data.n=$n --set data.n_test=1000 --set model.K=10 --set init.seed=0 \
    --set data.engine=moments --set data.storage=regenerate --set output.neurons=false \
    --set train.iterations=2000 --set train.log_every=100 -o "$OUT/moments_n$n" >/dev/null
  row moments "tensor build n=$n d=10 (2 ranks)" "$(manifest_num moments_build_s "$OUT/moments_n$n/manifest.json")" s
  per=$(manifest_num moments_s_per_iteration "$OUT/moments_n$n/manifest.json")
  row moments "per iteration n=$n d=10 K=10" "$(awk -v s="$per" 'BEGIN { printf "%.2f", s * 1e6 }')" us
done
echo "moments engine: the Fig. 9 grid at n = 1e7, 600 cells, 2 ranks"
rm -rf "$OUT/fig9_n1e7"
mpirun -q --oversubscribe -np 2 bin/tsim run configs/wang2021_fig9.yaml -q \
  --set data.n=10000000 --set data.engine=moments -o "$OUT/fig9_n1e7" >/dev/null
row moments "fig9 n=1e7 600 cells, 2 ranks: wall" "$(manifest_num wall_s "$OUT/fig9_n1e7/manifest.json")" s
row moments "fig9 n=1e7: tensor build (per team)" "$(manifest_num moments_build_s "$OUT/fig9_n1e7/manifest.json")" s
