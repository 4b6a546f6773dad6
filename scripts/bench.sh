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

# --- sharded engine (issue 6 parts 1, 2, 4) ---------------------------------
# ms per iteration of the fused kernel (loss, gradient and quantity (9) at
# every iteration, as train.c does) at n in {1e5, 1e6, 1e7}, d in {10, 100},
# K = 10, on 1 rank and on 2 ranks as one team, next to
#   memory bound  = bytes of X and y per iteration / STREAM triad bandwidth
#                   (measured here: 1 process, or 2 at once for 2 ranks)
#   compute bound = flops per iteration / measured multiply+add peak (no FMA:
#                   tsim's kernels may not contract; x ranks)
#   numpy         = scripts/bench_numpy.py: the same step in plain NumPy on
#                   OpenBLAS, one thread, run right before tsim.
# Timing: a grid train.iterations [1, I] x init.seed [0, 1] on one team; the
# team reuses the samples, so the smaller wall_s of each pair has no data
# generation in it, and ms/iteration = (wall(I) - wall(1)) / (I - 1).
# n = 1e7 with d = 100 (8 GB of samples) is left out: it needs
# data.storage: regenerate. Peak resident memory is the largest VmHWM of
# the ranks (/usr/bin/time). BENCH_ACTIVATIONS="quadratic relu" (default)
# adds an activation as soon as tsim accepts it; BENCH_SIZES="1e5 ..." (as
# integers) picks the sample counts.
BUILD=${BUILD:-build}
MACHINE="$BUILD/bench/machine"
triad1=$("$MACHINE" triad 256 | awk '{print $2}')
peak1=$("$MACHINE" peak | awk '{print $2}')
"$MACHINE" triad 256 > "$OUT/triad_a.txt" & "$MACHINE" triad 256 > "$OUT/triad_b.txt"; wait
triad2=$(cat "$OUT/triad_a.txt" "$OUT/triad_b.txt" | awk '{s += $2} END {printf "%.3f", s}')
echo "sharded engine: STREAM triad $triad1 GB/s (1 process), $triad2 GB/s (2 at once); multiply+add peak $peak1 GFLOP/s per core"
row machine "STREAM triad, 1 process" "$triad1" GB/s
row machine "STREAM triad, 2 processes" "$triad2" GB/s
row machine "multiply+add peak, 1 core" "$peak1" GFLOP/s
cat > "$OUT/engine.yaml" <<'YAML'
name: bench_engine
model:   {activation: quadratic, d: 10, K: 10, C: 1.0, loss_scale: 0.25}
teacher: {norm: 1.0, direction: e1}
data:    {n: 100000, n_test: 100, seed: 7}
init:    {scale: 0.01, seed: [0, 1]}
train:   {eta: 0.0001, iterations: 10, log_every: 1000000000}
output:  {neurons: false}
YAML
K=10
for act in ${BENCH_ACTIVATIONS:-quadratic relu}; do
  if ! bin/tsim validate "$OUT/engine.yaml" --set model.activation="$act" >/dev/null 2>&1; then
    echo "  (activation $act: not accepted by this tsim yet, skipped)"
    continue
  fi
  for d in 10 100; do
    for n in ${BENCH_SIZES:-100000 1000000 10000000}; do
      if [ "$n" -ge 10000000 ] && [ "$d" -ge 100 ]; then
        echo "  ($act n=$n d=$d: 8 GB of samples, skipped: needs data.storage: regenerate)"
        continue
      fi
      iters=$(( n >= 10000000 ? 4 : n >= 1000000 ? 10 : 40 ))
      [ "$d" -ge 100 ] && iters=$(( iters / 2 > 3 ? iters / 2 : 3 ))
      # flops per sample: fused_flops_per_sample (src/fused.c) with V
      flops=$(awk -v n="$n" -v d="$d" -v K="$K" 'BEGIN { printf "%.6e", n * (6*K*d + 7*K + 9) }')
      bytes=$(awk -v n="$n" -v d="$d" 'BEGIN { printf "%.6e", n * (d + 1) * 8 }')
      np_ms=""
      if [ "$act" = quadratic ]; then
        np_ms=$(/usr/bin/python3 scripts/bench_numpy.py "$n" "$d" "$K" $(( n >= 10000000 ? 2 : 3 )) 2>/dev/null || echo "")
      fi
      one_ms=""
      for np in 1 2; do
        dir="$OUT/engine_${act}_d${d}_n${n}_np${np}"
        rm -rf "$dir"
        mpirun -q --oversubscribe -np "$np" sh -c \
          'exec /usr/bin/time -f "maxrss_kB %M" -o "$0.rss.$OMPI_COMM_WORLD_RANK" "$@"' "$dir" \
          bin/tsim run "$OUT/engine.yaml" -q --team-size "$np" -o "$dir" \
          --set model.activation="$act" --set model.d="$d" --set data.n="$n" \
          --set "train.iterations=[1, $iters]" >/dev/null
        # cells.csv: iterations column and wall_s (last); pair by iterations
        ms=$(awk -F, -v I="$iters" 'NR == 1 { for (c = 1; c <= NF; ++c) if ($c == "iterations") ic = c; next }
          { w = $NF; if ($ic == I) { if (a == "" || w < a) a = w } else { if (b == "" || w < b) b = w } }
          END { printf "%.3f", (a - b) / (I - 1) * 1000 }' "$dir/cells.csv")
        rss=$(cat "$dir".rss.* 2>/dev/null | awk '{ if ($2 > m) m = $2 } END { printf "%.0f", m / 1024 }')
        rm -f "$dir".rss.*
        triad=$([ "$np" = 1 ] && echo "$triad1" || echo "$triad2")
        set -- $(awk -v f="$flops" -v b="$bytes" -v ms="$ms" -v t="$triad" -v p="$peak1" -v np="$np" 'BEGIN {
          mem = b / (t * 1e9) * 1e3; comp = f / (p * 1e9 * np) * 1e3; bound = mem > comp ? mem : comp
          printf "%.3f %.3f %.3f %.2f %.3f", f / (ms * 1e6), mem, comp, ms / bound, bound }')
        gf=$1 mem=$2 comp=$3 ratio=$4
        s="$act d=$d n=$n ranks=$np"
        row engine "$s: ms/iteration" "$ms" ms
        row engine "$s: GFLOP/s" "$gf" GFLOP/s
        row engine "$s: memory bound" "$mem" ms
        row engine "$s: compute bound" "$comp" ms
        row engine "$s: time / max(bounds)" "$ratio" ratio
        row engine "$s: peak resident per rank" "$rss" MB
        if [ "$np" = 1 ]; then
          one_ms=$ms
        else
          row engine "$s: speedup over 1 rank" "$(awk -v a="$one_ms" -v b="$ms" 'BEGIN { printf "%.2f", a / b }')" ratio
        fi
      done
      if [ -n "$np_ms" ]; then
        row engine "$act d=$d n=$n: numpy step" "$np_ms" ms
        row engine "$act d=$d n=$n: numpy / tsim 1 rank" "$(awk -v a="$np_ms" -v b="$one_ms" 'BEGIN { printf "%.1f", a / b }')" ratio
      fi
    done
  done
done

# --- cells batched over shared data (issue 6 part 2) ------------------------
# The Fig. 9 grid at n = 1e6 reduced to 2 seeds and 50 iterations (60 cells:
# the full 600 cells x 20000 iterations at this n would take days), on 2
# ranks as 2 teams, one cell at a time (run.batch=1) and batched
# (run.batch=0, automatic), back to back; the tables must be identical.
echo "batching: Fig. 9 grid at n = 1e6, 2 seeds, 50 iterations (60 cells), 2 ranks"
for b in 1 0; do
  rm -rf "$OUT/fig9_batch$b"
  mpirun -q --oversubscribe -np 2 bin/tsim run configs/wang2021_fig9.yaml -q \
    --set data.n=1000000 --set data.n_test=1000 --set 'init.seed=[0,1]' \
    --set train.iterations=50 --set run.batch=$b -o "$OUT/fig9_batch$b" >/dev/null
done
w1=$(sed -n 's/.*"wall_s": \([0-9.]*\).*/\1/p' "$OUT/fig9_batch1/manifest.json")
w0=$(sed -n 's/.*"wall_s": \([0-9.]*\).*/\1/p' "$OUT/fig9_batch0/manifest.json")
same=yes
for f in cells.csv metrics.csv; do
  cmp -s <(sed 's/,[^,]*$//' "$OUT/fig9_batch1/$f") <(sed 's/,[^,]*$//' "$OUT/fig9_batch0/$f") || same=NO
done
row batching "fig9 n=1e6 60 cells 2 ranks: one cell at a time" "$w1" s
row batching "fig9 n=1e6 60 cells 2 ranks: batched (auto)" "$w0" s
row batching "speedup" "$(awk -v a="$w1" -v b="$w0" 'BEGIN { printf "%.2f", a / b }')" ratio
row batching "tables identical (wall_s aside)" "$same" -
echo "wrote $CSV"
