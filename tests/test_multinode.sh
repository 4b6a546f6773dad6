#!/usr/bin/env bash
# test_multinode.sh - jobs/tsim.sbatch on a real two-node Slurm made on this
# machine (tests/slurm/start-cluster.sh, as root: each node a network
# namespace with its own hostname, address and slurmd; stopped in the EXIT
# trap). a: --nodes=1-2 jobs run their ranks on both nodes, Open MPI over
# TCP between the namespaces (mpirun, and srun --mpi=pmix). Every run's
# tables must equal a direct mpirun run's byte for byte. Tests that cannot run here print "skip ... (reason)";
# the closing line is "multinode: N passed, N failed, N skipped".
# TSIM_SKIP_SLURM=1 skips everything.
SUITE=multinode
source "$(dirname "$0")/lib.sh"
SKIPPED=0
skip() { SKIPPED=$((SKIPPED + 1)); echo "skip $SUITE: $1 ($2)"; }
done_() {
  echo "# $SUITE took $SECONDS s"
  echo "$SUITE: $PASSED passed, $FAILED failed, $SKIPPED skipped"; [ "$FAILED" -eq 0 ]
}
TESTS=("a: --nodes=1-2 jobs (mpirun, srun) run on both nodes and equal a direct run")
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
export TSIM_ROOT="$ROOT" TSIM_BIN="$TSIM"
# Each namespace sees both cores: mpirun would bind each node's rank to
# core 0. Open MPI's TCP traffic (daemons, ranks) stays on the bridge.
export TSIM_MPIRUN_ARGS="--bind-to none"
jobenv=(env OMPI_MCA_oob_tcp_if_include="$CLUSTER_SUBNET" OMPI_MCA_btl_tcp_if_include="$CLUSTER_SUBNET")

# --- helpers (as in test_slurm.sh)
TERMINAL='^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)'
job_states() { squeue -h -t all -j "$1" -o %T 2>/dev/null; }
wait_jobs() { # wait_jobs SECONDS ID...: until every job has ended
  local limit=$1 t0=$SECONDS id st; shift
  while [ $((SECONDS - t0)) -lt "$limit" ]; do
    local busy=0
    for id in "$@"; do
      st=$(job_states "$id")
      if [ -z "$st" ] || grep -qvE "$TERMINAL" <<<"$st"; then busy=1; break; fi
    done
    [ $busy = 0 ] && return 0
    sleep 1
  done
  echo "# timeout after $limit s waiting for jobs $*:"; squeue -t all | sed 's/^/#   /'
  return 1
}
all_completed() { local st; st=$(job_states "$1"); [ -n "$st" ] && ! grep -qv '^COMPLETED' <<<"$st"; }
same_tables() { # same_tables REFDIR DIR
  local f
  for f in cells.csv metrics.csv neurons.csv; do
    same_csv "$1/$f" "$2/$f" || { echo "# $2/$f differs from $1/$f"; return 1; }
  done
}
show_log() { echo "# --- $1"; sed 's/^/#   /' "$1" 2>/dev/null | tail -n "${2:-30}"; }
hosts_of() { sed -n 's/^  "hosts": "\(.*\)",$/\1/p' "$1/manifest.json" 2>/dev/null; }

# --- configs
cat > "$TMP/small.yaml" <<'YAML'
name: small
model: {d: 5, K: [1, 3]}
data:  {n: 2000, n_test: 200, chunk: 256, engine: sharded}
init:  {seed: [0, 1]}
train: {eta: 0.02, iterations: 2000, log_every: 100}
YAML

cd "$TMP/jobs" || exit 1   # the jobs' log files land here

# a. both launchers on --nodes=1-2 -n 2
ja=$("${jobenv[@]}" sbatch --parsable --nodes=1-2 -n 2 "$ROOT/jobs/tsim.sbatch" \
       "$TMP/small.yaml" "$TMP/a_mpirun")
ja2=$("${jobenv[@]}" TSIM_LAUNCHER=srun sbatch --parsable --nodes=1-2 -n 2 "$ROOT/jobs/tsim.sbatch" \
       "$TMP/small.yaml" "$TMP/a_srun")
check "a: sbatch --nodes=1-2 -n 2 jobs/tsim.sbatch accepted (jobs ${ja:-none} ${ja2:-none})" \
  test -n "$ja" -a -n "$ja2"

# direct reference runs (1 node, 2 ranks) beside the jobs
run_np 2 run "$TMP/small.yaml" -q -o "$TMP/ref_small" >/dev/null 2>&1
check "direct mpirun -np 2 run of the small grid" test -s "$TMP/ref_small/neurons.csv"

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

done_
