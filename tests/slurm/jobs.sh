# jobs.sh - watching Slurm jobs from a test, sourced by test_slurm.sh and
# test_multinode.sh after tests/lib.sh (same_csv) and with SLURM_CONF set.
TERMINAL='^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)'
# job_states ID: the state of the job (or of every task of an array)
job_states() { squeue -h -t all -j "$1" -o %T 2>/dev/null; }
# wait_jobs SECONDS ID...: until every job (and array task) has ended (a
# hang guard: Slurm's own scheduling decides when they run)
wait_jobs() {
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
# all_completed ID: the job (every task) COMPLETED
all_completed() { local st; st=$(job_states "$1"); [ -n "$st" ] && ! grep -qv '^COMPLETED' <<<"$st"; }
# same_tables REFDIR DIR: cells, metrics and neurons tables equal (same_csv)
same_tables() {
  local f
  for f in cells.csv metrics.csv neurons.csv; do
    same_csv "$1/$f" "$2/$f" || { echo "# $2/$f differs from $1/$f"; return 1; }
  done
}
# show_log FILE [LINES]: the end of a log, as comment lines of the test output
show_log() { echo "# --- $1"; sed 's/^/#   /' "$1" 2>/dev/null | tail -n "${2:-30}"; }
