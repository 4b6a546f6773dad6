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
# would take hours), on 2 ranks as 2 teams, one cell at a time (batches
# would make the cell times overlap): the divergent cells end in a few
# iterations, K = 10 cells cost 10x K = 1 ones. Ideal = sum of cell times /
# number of teams.
echo "load balance: Fig. 9 grid at n = 1e5, 120 cells, 2 ranks"
rm -rf "$OUT/fig9_n1e5"
mpirun -q --oversubscribe -np 2 bin/tsim run configs/wang2021_fig9.yaml -q \
  --set data.n=100000 --set data.n_test=1000 --set 'init.seed=[0,1,2,3]' \
  --set train.iterations=100 --set train.log_points=10 --set run.batch=1 \
  --set data.engine=sharded \
  -o "$OUT/fig9_n1e5" >/dev/null
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
echo "Hessian: assemble + diagonalise, d = 100, n = 8192 ($(grep -c ^processor /proc/cpuinfo) cores; ranks > cores are oversubscribed)"
for dk in ${HESSIAN_SIZES:-1000 2000 4000}; do
  for np in 1 2 4; do
    line=$(mpirun -q --oversubscribe -np $np build/bench_hessian 100 $((dk / 100)) 8192)
    set -- $line
    row hessian "dK=$dk n=8192 ranks=$np: assemble" "$4" s
    row hessian "dK=$dk n=8192 ranks=$np: eigenvalues (pdsyev)" "$5" s
    row hessian "dK=$dk n=8192 ranks=$np: + eigenvectors (pdsyevd)" "$6" s
  done
done

# --- sharded engine (issue 6 parts 1, 2, 4) ---------------------------------
# ms per iteration of the fused kernel (loss, gradient and quantity (9) at
# every iteration: cell.c skips (9) between log points once it has been
# positive, which this cell's 16 iterations from a small init never reach,
# cells.csv t_q9_positive empty) at n in {1e5, 1e6, 1e7}, d in {10, 100},
# K = 10, on 1 rank and on 2 ranks as one team, next to
#   memory bound  = bytes of X and y per iteration / STREAM triad bandwidth
#                   (measured here: 1 process, or 2 at once for 2 ranks)
#   compute bound = flops per iteration / measured multiply+add peak (no FMA:
#                   tsim's kernels may not contract; x ranks)
#   numpy         = scripts/bench_numpy.py: the same step in plain NumPy on
#                   OpenBLAS, one thread, run right before tsim.
# Timing: two runs, train.iterations = 1 and = I, of one cell; their
# difference over I - 1 is the time of an iteration: wall time (cells.csv
# wall_s) and CPU time (the largest user+sys of the ranks, /usr/bin/time),
# the latter being what an iteration costs when other processes share the
# cores. Each run's making of the samples (manifest samples_s, which varies
# by a second or more at n = 1e7 on this VM) is taken out of both first
# (a wall time, taken out of the CPU time too: making samples is one
# thread's work, so the two agree to within the rounding of the figures). The bounds come
# from CPU-timed probes (bench/machine.c), the ratios are given for both. n = 1e7 with d = 100 (8 GB of samples) is left out: it
# needs data.storage: regenerate. Peak resident memory is the largest
# VmHWM of the ranks (/usr/bin/time %M). BENCH_ACTIVATIONS="quadratic relu"
# (default) adds an activation as soon as tsim accepts it; BENCH_SIZES
# ("100000 1000000 10000000") picks the sample counts.
BUILD=${BUILD:-build}
MACHINE="$BUILD/bench/machine"
triad1=$("$MACHINE" triad 256 | awk '{print $2}')
# the best of 60 runs of the probe (about 10 s): a core of this kind of VM
# can run at half speed for several seconds at a time
peak1=$("$MACHINE" peak 60 | awk '{print $2}')
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
data:    {n: 100000, n_test: 100, seed: 7, engine: sharded}
init:    {scale: 0.01, seed: 0}
train:   {eta: 0.0001, iterations: 10, log_every: 1000000000}
output:  {neurons: false}
YAML
# engine_run DIR NP ITERATIONS SETTINGS...: prints "wall_s cpu_s maxrss_MB",
# the time making the samples taken out of both
engine_run() {
  local dir=$1 np=$2 it=$3; shift 3
  rm -rf "$dir" "$dir".rss.*
  mpirun -q --oversubscribe -np "$np" sh -c \
    'exec /usr/bin/time -f "%U %S %M" -o "$0.rss.$OMPI_COMM_WORLD_RANK" "$@"' "$dir" \
    bin/tsim run "$OUT/engine.yaml" -q --team-size "$np" -o "$dir" \
    --set train.iterations="$it" "$@" >/dev/null
  local wall samples
  wall=$(tail -1 "$dir/cells.csv" | awk -F, '{print $NF}')
  samples=$(sed -n 's/.*"samples_s": \([0-9.]*\).*/\1/p' "$dir/manifest.json")
  cat "$dir".rss.* | awk -v w="$wall" -v s="${samples:-0}" '{ c = $1 + $2; if (c > cpu) cpu = c; if ($3 > m) m = $3 }
    END { printf "%.3f %.3f %.0f\n", w - s, cpu - s, m / 1024 }'
  rm -f "$dir".rss.*
}
# engine_best: engine_run BENCH_REPEATS times (default 3), the least wall
# and CPU time (noise on this kind of VM only ever adds time: a core's
# speed moves by 25% and more from one second to the next), the largest RSS
best_of() { # lines "wall cpu rss" on stdin -> the least wall, CPU, the largest RSS
  awk 'NR == 1 || $1 < w { w = $1 } NR == 1 || $2 < c { c = $2 } $3 > m { m = $3 }
    END { if (NR) printf "%.3f %.3f %.0f\n", w, c, m }'
}
engine_best() {
  for _ in $(seq "${BENCH_REPEATS:-3}"); do engine_run "$@"; done | best_of
}
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
      # enough iterations that they, not the noise of making the samples,
      # decide the difference
      iters=$(( n >= 10000000 ? 16 : n >= 1000000 ? 41 : 201 ))
      [ "$d" -ge 100 ] && iters=$(( (iters + 1) / 4 + 1 ))
      # flops per sample, as the kernels do them: quadratic, fused_job in
      # include/tsim/fused.h with V = coef w*^T - W (one extra column for
      # quantity (9)); relu, the same fused pass's forward, residual and
      # gradient (no quantity (9): not defined for relu)
      flops=$(awk -v n="$n" -v d="$d" -v K="$K" -v a="$act" 'BEGIN {
        f = a == "quadratic" ? 4*K*d + 2*d + 9*K + 9 : 4*K*d + 4*K + 3; printf "%.6e", n * f }')
      bytes=$(awk -v n="$n" -v d="$d" 'BEGIN { printf "%.6e", n * (d + 1) * 8 }')
      np_wall="" np_cpu=""
      if [ "$act" = quadratic ]; then
        set -- $(/usr/bin/python3 scripts/bench_numpy.py "$n" "$d" "$K" $(( n >= 10000000 ? 2 : 3 )) 2>/dev/null || echo "")
        np_wall=${1:-} np_cpu=${2:-}
      fi
      one_ms="" one_cpu=""
      # 1 and 2 ranks in alternation, BENCH_REPEATS rounds of both, so a
      # slow spell of the VM (it lasts minutes) falls on both rank counts
      # instead of on one of them and the speedup
      set -- --set model.activation="$act" --set model.d="$d" --set data.n="$n"
      base="$OUT/engine_${act}_d${d}_n${n}"
      rm -f "$base".times_*
      for _ in $(seq "${BENCH_REPEATS:-3}"); do
        for np in 1 2; do
          engine_run "${base}_np$np" "$np" 1 "$@" >> "$base.times_1_np$np"
          engine_run "${base}_np$np" "$np" "$iters" "$@" >> "$base.times_I_np$np"
        done
      done
      for np in 1 2; do
        dir="${base}_np$np"
        read -r wa ca _ < <(best_of < "$base.times_1_np$np")
        read -r wb cb rss < <(best_of < "$base.times_I_np$np")
        [ -n "$wa" ] && [ -n "$wb" ] || { echo "bench: tsim failed ($dir)" >&2; exit 1; }
        ms=$(awk -v a="$wa" -v b="$wb" -v I="$iters" 'BEGIN { printf "%.3f", (b - a) / (I - 1) * 1000 }')
        cpu=$(awk -v a="$ca" -v b="$cb" -v I="$iters" 'BEGIN { printf "%.3f", (b - a) / (I - 1) * 1000 }')
        triad=$([ "$np" = 1 ] && echo "$triad1" || echo "$triad2")
        set -- $(awk -v f="$flops" -v b="$bytes" -v ms="$ms" -v t="$triad" -v p="$peak1" -v np="$np" 'BEGIN {
          mem = b / (t * 1e9) * 1e3; comp = f / (p * 1e9 * np) * 1e3; bound = mem > comp ? mem : comp
          printf "%.3f %.3f %.3f %.2f", f / (ms * 1e6), mem, comp, ms / bound }')
        cpu_ratio=$(awk -v f="$flops" -v b="$bytes" -v c="$cpu" -v t="$triad" -v p="$peak1" -v np="$np" 'BEGIN {
          mem = b / (t * 1e9) * 1e3; comp = f / (p * 1e9 * np) * 1e3; bound = mem > comp ? mem : comp
          printf "%.2f", c / bound }')
        s="$act d=$d n=$n ranks=$np"
        row engine "$s: ms/iteration (wall)" "$ms" ms
        row engine "$s: ms/iteration (CPU, per rank)" "$cpu" ms
        row engine "$s: GFLOP/s (wall)" "$1" GFLOP/s
        row engine "$s: memory bound" "$2" ms
        row engine "$s: compute bound" "$3" ms
        row engine "$s: wall / max(bounds)" "$4" ratio
        row engine "$s: CPU / max(bounds)" "$cpu_ratio" ratio
        row engine "$s: peak resident per rank" "$rss" MB
        if [ "$np" = 1 ]; then
          one_ms=$ms one_cpu=$cpu
        else
          row engine "$s: speedup over 1 rank (wall)" "$(awk -v a="$one_ms" -v b="$ms" 'BEGIN { printf "%.2f", a / b }')" ratio
        fi
      done
      if [ -n "$np_wall" ]; then
        row engine "$act d=$d n=$n: numpy step (wall)" "$np_wall" ms
        row engine "$act d=$d n=$n: numpy step (CPU)" "$np_cpu" ms
        row engine "$act d=$d n=$n: numpy / tsim 1 rank (wall)" "$(awk -v a="$np_wall" -v b="$one_ms" 'BEGIN { printf "%.1f", a / b }')" ratio
        row engine "$act d=$d n=$n: numpy / tsim 1 rank (CPU)" "$(awk -v a="$np_cpu" -v b="$one_cpu" 'BEGIN { printf "%.1f", a / b }')" ratio
      fi
    done
  done
done

# --- the fused pass at each vector width this CPU has ------------------------
# Quadratic, d = 10, K = 10, n = 1e6, 1 rank: the AVX-512 (8 doubles), AVX2
# (4) and 2-wide passes (TSIM_VECTOR_WIDTH; same bits), as the kernel would
# run on a CPU of each kind (a cluster of AVX2 nodes gets the 4-wide pass).
echo "fused pass by vector width: quadratic d=10 K=10 n=1e6, 1 rank"
for width in 8 4 2; do
  used=$(TSIM_VECTOR_WIDTH=$width bin/tsim --version | sed -n 's/.*fused pass: \([0-9]*\) doubles.*/\1/p')
  [ "$used" = "$width" ] || { echo "  (width $width: not on this CPU, skipped)"; continue; }
  dir="$OUT/width$width"
  set -- --set data.n=1000000
  read -r wa _ < <(TSIM_VECTOR_WIDTH=$width engine_best "$dir" 1 1 "$@")
  read -r wb _ < <(TSIM_VECTOR_WIDTH=$width engine_best "$dir" 1 41 "$@")
  [ -n "$wa" ] && [ -n "$wb" ] || { echo "bench: tsim failed ($dir)" >&2; exit 1; }
  row width "quadratic d=10 K=10 n=1e6, $width doubles per vector: ms/iteration" \
    "$(awk -v a="$wa" -v b="$wb" 'BEGIN { printf "%.3f", (b - a) / 40 * 1000 }')" ms
done

# --- the Gram engine against the d K pass (issue 18, item 2) ----------------
# Quadratic, d = 300, K = 600 (extensive width K = 2d), n = 2e4, 1 rank:
# data.engine sharded (2 d K multiply-adds per sample) and gram (d^2), the
# time of an iteration as the difference of 2- and 7-iteration runs.
echo "gram engine: quadratic d=300 K=600 n=2e4, 1 rank, sharded vs gram"
sh_ms="" sh_cpu=""
for eng in sharded gram; do
  dir="$OUT/gram_$eng"
  set -- --set model.d=300 --set model.K=600 --set data.n=20000 --set data.engine=$eng
  read -r wa ca _ < <(engine_best "$dir" 1 2 "$@")
  read -r wb cb _ < <(engine_best "$dir" 1 7 "$@")
  [ -n "$wa" ] && [ -n "$wb" ] || { echo "bench: tsim failed ($dir)" >&2; exit 1; }
  ms=$(awk -v a="$wa" -v b="$wb" 'BEGIN { printf "%.3f", (b - a) / 5 * 1000 }')
  cpu=$(awk -v a="$ca" -v b="$cb" 'BEGIN { printf "%.3f", (b - a) / 5 * 1000 }')
  row gram "quadratic d=300 K=600 n=20000 ranks=1, $eng: ms/iteration (wall)" "$ms" ms
  row gram "quadratic d=300 K=600 n=20000 ranks=1, $eng: ms/iteration (CPU)" "$cpu" ms
  if [ "$eng" = sharded ]; then
    sh_ms=$ms sh_cpu=$cpu
  else
    row gram "quadratic d=300 K=600 n=20000 ranks=1: sharded / gram (wall)" \
      "$(awk -v a="$sh_ms" -v b="$ms" 'BEGIN { printf "%.2f", a / b }')" ratio
    row gram "quadratic d=300 K=600 n=20000 ranks=1: sharded / gram (CPU)" \
      "$(awk -v a="$sh_cpu" -v b="$cpu" 'BEGIN { printf "%.2f", a / b }')" ratio
  fi
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
    --set train.iterations=50 --set run.batch=$b --set data.engine=sharded -o "$OUT/fig9_batch$b" >/dev/null
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
# What batching can gain on this grid, from the probes above and each
# cell's iterations (cells.csv). Lower bounds on time, over 2 teams: one
# cell at a time, a pass costs at least max(bytes of X and y / a rank's
# share of the 2-process triad, the cell's flops / peak); batched, the
# samples are read once per batch and the X w* column of quantity (9) is
# made once, so at least the flops of each cell's own columns (4Kd + 9K + 9
# per sample). So the batched run can beat the measured one-at-a-time run
# by at most (measured one at a time) / (batched bound): the upper bound on
# batching's speedup here. The K = 10 cells are compute bound on their own
# (4Kd + 2d + 9K + 9 flops against 8(d + 1) bytes per sample), so sharing
# the samples saves them nothing.
set -- $(awk -F, -v t="$triad2" -v p="$peak1" -v w1="$w1" 'NR > 1 {
    K = $2; n = $6; d = $7; it = $9
    mem = 8 * (d + 1) / (t / 2 * 1e9)
    comp = (4*K*d + 2*d + 9*K + 9) / (p * 1e9); own = (4*K*d + 9*K + 9) / (p * 1e9)
    one += it * n * (mem > comp ? mem : comp); bat += it * n * own }
  END { printf "%.3f %.3f %.2f", one / 2, bat / 2, w1 / (bat / 2) }' "$OUT/fig9_batch1/cells.csv")
row batching "one cell at a time, lower bound" "$1" s
row batching "batched, lower bound" "$2" s
row batching "upper bound on the speedup (measured one at a time / batched bound)" "$3" ratio
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
