#!/usr/bin/env bash
# test_multinode.sh - jobs/tsim.sbatch on a real two-node Slurm made on this
# machine (tests/slurm/start-cluster.sh, as root: each node a network
# namespace with its own hostname, address and slurmd; stopped in the EXIT
# trap). a: --nodes=1-2 jobs run their ranks on both nodes, Open MPI over
# TCP between the namespaces (mpirun, and srun --mpi=pmix); b: one node is
# lost mid-run (all its processes killed: slurmd, slurmstepd, orted, its
# tsim rank), the job script requeues the job, which resumes on the node
# left; c: a rank that crashes at every start is requeued only
# TSIM_MAX_REQUEUES times; c1: a failure tsim records is not requeued.
# Every run's tables must equal a direct mpirun run's byte for byte. Tests
# that cannot run here print "skip ... (reason)"; the closing line is
# "multinode: N passed, N failed, N skipped".
# TSIM_SKIP_SLURM=1 skips everything.
SUITE=multinode
source "$(dirname "$0")/lib.sh"
SKIPPED=0
skip() { SKIPPED=$((SKIPPED + 1)); echo "skip $SUITE: $1 ($2)"; }
done_() {
  echo "# $SUITE took $SECONDS s"
  echo "$SUITE: $PASSED passed, $FAILED failed, $SKIPPED skipped"; [ "$FAILED" -eq 0 ]
}
TESTS=("a: --nodes=1-2 jobs (mpirun, srun) run on both nodes and equal a direct run"
       "b: a node lost mid-run: the job requeues, resumes on the other node and equals a direct run"
       "c: a rank crashing at every start is requeued TSIM_MAX_REQUEUES times, then the job fails"
       "c1: a failure tsim records itself is not requeued")
skip_all() { local t; for t in "${TESTS[@]}"; do skip "$t" "$1"; done; done_; exit; }
SECONDS=0

[ "${TSIM_SKIP_SLURM:-0}" = 1 ] && skip_all "TSIM_SKIP_SLURM=1"
# as test_slurm.sh: the job scripts are the same in both passes of `make
# check`, the code they run is covered under the sanitizers elsewhere
[ "${TSIM_SANITIZE:-0}" = 1 ] && skip_all "sanitizer pass: Slurm jobs are tested in the normal pass"
command -v mpirun >/dev/null || skip_all "no mpirun"
"$TSIM" run --help 2>/dev/null | grep -q -- --resume || skip_all "bin/tsim run has no --resume yet"

PREFIX="$TMP/slurm"
cleanup() {
  if [ -f "$PREFIX/cluster.env" ]; then
    PREFIX="$PREFIX" bash "$ROOT/tests/slurm/stop-cluster.sh" >"$TMP/stop.log" 2>&1 \
      || { echo "slurm stop-cluster.sh failed:"; cat "$TMP/stop.log"; }
  fi
  # TSIM_TEST_KEEP=DIR: keep the job logs and Slurm's logs for a post-mortem
  [ -n "${TSIM_TEST_KEEP:-}" ] && mkdir -p "$TSIM_TEST_KEEP" \
    && cp -r "$TMP/jobs" "$PREFIX/log" "$TSIM_TEST_KEEP/" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
mkdir -p "$PREFIX" "$TMP/jobs"
chmod 711 "$TMP"   # munged wants every directory above its socket searchable by all
PREFIX="$PREFIX" bash "$ROOT/tests/slurm/start-cluster.sh" >"$TMP/start.log" 2>&1
rc=$?
if [ $rc -eq 77 ]; then
  skip_all "$(grep -h '^start-cluster.sh:' "$TMP/start.log" | tail -1 | sed 's/^start-cluster.sh: //')"
elif [ $rc -ne 0 ]; then
  fail "two-node Slurm starts (tests/slurm/start-cluster.sh exit $rc)"
  sed 's/^/  | /' "$TMP/start.log" | tail -n 20
  skip_all "Slurm did not start"
fi
echo "# two-node Slurm up in ${SECONDS} s: $(grep -h 'up:' "$TMP/start.log" | sed 's/^\[[^]]*\] //')"
source "$PREFIX/env.sh"
source "$PREFIX/cluster.env"
read -r -a NODE <<<"$CLUSTER_NODES"
read -r -a NETNS <<<"$CLUSTER_NETNS"
export TSIM_ROOT="$ROOT" TSIM_BIN="$TSIM"
# Each namespace sees both cores: mpirun would bind each node's rank to
# core 0. Open MPI's TCP traffic (daemons, ranks) stays on the bridge.
export TSIM_MPIRUN_ARGS="--bind-to none"
jobenv=(env OMPI_MCA_oob_tcp_if_include="$CLUSTER_SUBNET" OMPI_MCA_btl_tcp_if_include="$CLUSTER_SUBNET")

# --- helpers (tests/slurm/jobs.sh: job_states, wait_jobs, all_completed, same_tables, show_log)
source "$ROOT/tests/slurm/jobs.sh"
hosts_of() { sed -n 's/^  "hosts": "\(.*\)",$/\1/p' "$1/manifest.json" 2>/dev/null; }
rows() { echo $(($(wc -l < "$1/cells.csv" 2>/dev/null || echo 1) - 1)); }
has() { # has FILE PATTERN...: every pattern (grep -E) occurs in FILE
  local f=$1 p; shift
  for p in "$@"; do grep -qE -- "$p" "$f" || return 1; done
}
starts() { grep -c 'start: SLURM_RESTART_COUNT' "$1"; }

# --- configs
cat > "$TMP/small.yaml" <<'YAML'
name: small
model: {d: 5, K: [1, 3]}
data:  {n: 2000, n_test: 200, chunk: 256, engine: sharded}
init:  {seed: [0, 1]}
train: {eta: 0.02, iterations: 2000, log_every: 100}
YAML
# 4 cells of several seconds each on a rank. The first start holds cell 0
# at t = 200 (TSIM_FAULT, src/fault.h) and checkpoints every second
# (--checkpoint-seconds 1) meanwhile: the node is lost once the cell is
# held and a checkpoint is there, so no cell can have finished (cells.csv
# is written in cell order). Restarts run without the hold (tsim-first).
cat > "$TMP/mid.yaml" <<'YAML'
name: mid
model: {d: 20, K: [2, 4]}
data:  {n: 24000, n_test: 500, chunk: 1024, engine: sharded}
init:  {seed: [0, 1]}
train: {eta: 0.005, iterations: 20000, log_every: 400}
YAML
MID_CELLS=4

cd "$TMP/jobs" || exit 1   # the jobs' log files land here
cat > "$TMP/tsim-first" <<EOF
#!/usr/bin/env bash
# a job's first start runs with TSIM_FAULT, a restart without
[ "\${SLURM_RESTART_COUNT:-0}" = 0 ] || unset TSIM_FAULT
exec "$TSIM" "\$@"
EOF
chmod +x "$TMP/tsim-first"

# a. both launchers on --nodes=1-2 -n 2
ja=$("${jobenv[@]}" sbatch --parsable --nodes=1-2 -n 2 "$ROOT/jobs/tsim.sbatch" \
       "$TMP/small.yaml" "$TMP/a_mpirun")
ja2=$("${jobenv[@]}" TSIM_LAUNCHER=srun sbatch --parsable --nodes=1-2 -n 2 "$ROOT/jobs/tsim.sbatch" \
       "$TMP/small.yaml" "$TMP/a_srun")
# b. the node-loss job
jb=$("${jobenv[@]}" TSIM_BIN="$TMP/tsim-first" TSIM_FAULT="cell=0,iter=200,do=hold,file=$TMP/b.held" \
       sbatch --parsable --nodes=1-2 -n 2 "$ROOT/jobs/tsim.sbatch" \
       "$TMP/mid.yaml" "$TMP/b" --checkpoint-seconds 1)
check "a, b: sbatch --nodes=1-2 -n 2 jobs/tsim.sbatch accepted (jobs ${ja:-none} ${ja2:-none} ${jb:-none})" \
  test -n "$ja" -a -n "$ja2" -a -n "$jb"

# c. runs stopped by their STOP file at once (a checkpoint, no cell done),
# then resumed by jobs whose rank exits at its first cell at every start
# (c), or fails there with tsim's own record (c1: exit 1, manifest "failed")
for d in c c1; do
  mkdir -p "$TMP/$d" && touch "$TMP/$d/STOP"
  run_np 1 run "$TMP/small.yaml" -q -o "$TMP/$d" >/dev/null 2>&1
  rc=$?
  rm -f "$TMP/$d/STOP"
  check "$d: a direct run stopped by OUTDIR/STOP at once leaves a checkpoint (exit $rc)" \
    bash -c "[ $rc -eq 3 ] && ls -d '$TMP'/$d/checkpoint/gen-* >/dev/null"
done

# b: wait until the first start holds cell 0 and has a checkpoint, then
# lose the node that does not run the batch script (a hang guard of 120 s)
lost= kept= killed= rows_at_kill=
t0=$SECONDS
while [ $((SECONDS - t0)) -lt 120 ]; do
  if [ -e "$TMP/b.held" ] && ls -d "$TMP"/b/checkpoint/gen-* >/dev/null 2>&1; then
    kept=$(scontrol show job "$jb" | sed -n 's/.*BatchHost=\([^ ]*\).*/\1/p')
    for i in "${!NODE[@]}"; do [ "${NODE[$i]}" != "$kept" ] && { lost=${NODE[$i]}; ns=${NETNS[$i]}; }; done
    rows_at_kill=$(rows "$TMP/b")
    pids=$(ip netns pids "$ns" | paste -sd ' ')
    killed=$(ps -o comm= -p "${pids// /,}" 2>/dev/null | sort | paste -sd ' ')
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -KILL $pids
    break
  fi
  st=$(job_states "$jb")
  [ -n "$st" ] && grep -qE "$TERMINAL" <<<"$st" && break
  sleep 0.2
done
echo "# b: killed every process of $lost after $((SECONDS - t0)) s: $killed"
check "b: first checkpoint written, then node $lost lost: its slurmd and its tsim rank killed" \
  bash -c "[ -n '$lost' ] && grep -qw slurmd <<<'$killed' && grep -qw tsim <<<'$killed'"
check "b: no cell had finished when the node was lost ($rows_at_kill of $MID_CELLS rows)" \
  test "${rows_at_kill:-$MID_CELLS}" -lt "$MID_CELLS"
# c, on the node left
jc=$(TSIM_FAULT=rank=0,batch=1,do=exit TSIM_MAX_REQUEUES=1 sbatch --parsable -n 1 -w "${kept:-${NODE[0]}}" \
       "$ROOT/jobs/tsim.sbatch" "$TMP/small.yaml" "$TMP/c")
jc1=$(TSIM_FAULT=rank=0,batch=1,do=fail sbatch --parsable -n 1 -w "${kept:-${NODE[0]}}" \
       "$ROOT/jobs/tsim.sbatch" "$TMP/small.yaml" "$TMP/c1")

# direct reference runs (1 node, 2 ranks) beside the jobs
run_np 2 run "$TMP/small.yaml" -q -o "$TMP/ref_small" >/dev/null 2>&1
check "direct mpirun -np 2 run of the small grid" test -s "$TMP/ref_small/neurons.csv"
run_np 2 run "$TMP/mid.yaml" -q -o "$TMP/ref_mid" >/dev/null 2>&1
check "direct mpirun -np 2 run of the mid grid" test -s "$TMP/ref_mid/neurons.csv"

wait_jobs 60 "$ja" "$ja2"
for j in "$ja:a_mpirun" "$ja2:a_srun"; do
  id=${j%%:*} dir=$TMP/${j#*:}
  check "a: job $id (${j#*:}) COMPLETED" all_completed "$id"
  check "a: ${j#*:}: the ranks ran on both nodes (manifest hosts: $(hosts_of "$dir"))" \
    test "$(hosts_of "$dir" | tr ',' '\n' | sort -u | tr '\n' ' ')" = "${NODE[*]} "
  check "a: ${j#*:}: cells.csv (but wall_s), metrics.csv, neurons.csv equal the direct run's" \
    same_tables "$TMP/ref_small" "$dir"
  all_completed "$id" && same_tables "$TMP/ref_small" "$dir" >/dev/null || show_log "$TMP/jobs/tsim-$id.out"
done

wait_jobs 180 "$jb" "$jc" "$jc1"
logb="$TMP/jobs/tsim-$jb.out" logc="$TMP/jobs/tsim-$jc.out" logc1="$TMP/jobs/tsim-$jc1.out"
check "b: job $jb COMPLETED" all_completed "$jb"
both=$(scontrol show hostlist "$(IFS=,; echo "${NODE[*]}")")
check "b: its first start had both nodes ($both)" \
  grep -qF "restart 0: start: SLURM_RESTART_COUNT=0, nodes $both," "$logb"
check "b: the script saw ranks lost without a manifest and requeued the job" \
  has "$logb" 'restart 0: launcher ended with status .* ranks lost' 'restart 0: requeue 1 of at most 5'
lost_state=$(sinfo -h -n "$lost" -o %T)
check "b: Slurm set $lost DOWN ($lost_state)" test "${lost_state#down}" != "$lost_state"
hb=$(hosts_of "$TMP/b")
second_alone() { has "$logb" "restart 1: start: SLURM_RESTART_COUNT=1, nodes $kept," && [ "$hb" = "$kept,$kept" ]; }
check "b: the second start ran on $kept alone (manifest hosts: $hb)" second_alone
resumed=$(grep -m1 'resuming .* from checkpoint' "$logb")
echo "# b: ${resumed:-no resume line}"
check "b: it resumed from a checkpoint with cells left to run" \
  has "$logb" 'resuming .* from checkpoint gen-[0-9]+: [0-9]+ cells? finished, [1-9][0-9]* to run'
check "b: tables equal the direct run's" same_tables "$TMP/ref_mid" "$TMP/b"
all_completed "$jb" && same_tables "$TMP/ref_mid" "$TMP/b" >/dev/null || show_log "$logb" 40

check "c: job $jc FAILED (st: $(job_states "$jc"))" test "$(job_states "$jc")" = FAILED
capped() {
  [ "$(starts "$logc")" -eq 2 ] && has "$logc" 'restart 0: requeue 1 of at most 1' \
    'restart 1: SLURM_RESTART_COUNT=1 reached TSIM_MAX_REQUEUES=1: not requeueing'
}
check "c: it started twice: requeued once after lost ranks, then stopped at TSIM_MAX_REQUEUES=1" capped
[ "$(job_states "$jc")" = FAILED ] || show_log "$logc" 30
once() { [ "$(job_states "$jc1")" = FAILED ] && [ "$(starts "$logc1")" -eq 1 ] && has "$logc1" 'restart 0: tsim exit 1 \(failure'; }
check "c1: job $jc1 with a failure tsim recorded FAILED at once, not requeued" once
done_
