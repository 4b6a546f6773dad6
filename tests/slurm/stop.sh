#!/usr/bin/env bash
# stop.sh - stop the Slurm started by tests/slurm/start.sh (or the daemons
# of start-cluster.sh): cancel its jobs, then stop every slurmd, slurmctld
# and munged by the PIDs in $PREFIX's pidfiles (checking /proc/PID/comm
# first), never by process name.
#
#   PREFIX=/tmp/x bash tests/slurm/stop.sh          # stop
#   WIPE=1 PREFIX=/tmp/x bash tests/slurm/stop.sh   # ... and delete $PREFIX
set -uo pipefail
[ -n "${PREFIX:-}" ] || { echo "stop.sh: set PREFIX (the directory given to start.sh)" >&2; exit 2; }
export SLURM_CONF="$PREFIX/etc/slurm.conf"

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

stop_pid() { # stop_pid PIDFILE EXPECTED_COMM
  local pf=$1 name=$2 pid comm
  [ -s "$pf" ] || { echo "$name: no pidfile ($pf)"; return 0; }
  pid=$(cat "$pf")
  case $pid in ''|*[!0-9]*) echo "$name: bad pidfile $pf"; return 1;; esac
  if ! alive "$pid"; then echo "$name: pid $pid not running"; rm -f "$pf"; return 0; fi
  comm=$(cat "/proc/$pid/comm" 2>/dev/null)
  if [ "$comm" != "$name" ]; then echo "$name: pid $pid is '$comm', not touching it"; return 1; fi
  kill -TERM "$pid"
  for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then echo "$name: pid $pid ignored SIGTERM, sending SIGKILL"; kill -KILL "$pid"; sleep 0.5; fi
  alive "$pid" && { echo "$name: pid $pid still alive"; return 1; }
  echo "$name: stopped pid $pid"; rm -f "$pf"
}

# 1. cancel every job first: stopping slurmd does not end the jobs'
#    slurmstepd processes (nor the programs they run)
ctld_pid=$(cat "$PREFIX/run/slurmctld.pid" 2>/dev/null || true)
if alive "$ctld_pid" && [ -f "$SLURM_CONF" ]; then
  jobs=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    echo "cancelling jobs: $jobs"
    # shellcheck disable=SC2086
    scancel $jobs
    for _ in $(seq 60); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
    left=$(squeue -h 2>/dev/null)
    [ -n "$left" ] && { echo "jobs still listed:"; echo "$left"; }
  fi
fi

# 2. the daemons, in reverse start order
rc=0
for f in "$PREFIX"/run/slurmd*.pid; do
  [ -e "$f" ] || continue
  stop_pid "$f" slurmd || rc=1
done
stop_pid "$PREFIX/run/slurmctld.pid" slurmctld || rc=1
stop_pid "$PREFIX/run/munged.pid"    munged    || rc=1

# 3. optionally the state
if [ "${WIPE:-0}" = 1 ] && [ $rc -eq 0 ]; then rm -rf "$PREFIX"; echo "wiped $PREFIX"; fi
exit $rc
