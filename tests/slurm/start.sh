#!/usr/bin/env bash
# start.sh - a private single-node Slurm (munged + slurmctld + slurmd) for the
# tests, run as root without systemd. Everything (config, state, logs, munge
# key, pidfiles) lives under $PREFIX; nothing under /etc is touched.
#
#   PREFIX=/tmp/x bash tests/slurm/start.sh   # install if needed, configure, start
#   source $PREFIX/env.sh                     # SLURM_CONF for sbatch/squeue/scontrol
#   PREFIX=/tmp/x bash tests/slurm/stop.sh    # cancel jobs, stop the daemons by PID
#
# Env: PREFIX     state directory (default: a fresh mktemp -d; printed)
#      CTLD_PORT, SLURMD_PORT   TCP ports (default: the first free pair from
#                 16817 up, checked with ss)
#      SKIP_INSTALL=1           never call apt-get
#      CRED_EXPIRE (30)         seconds; also about how long a requeued job
#                 waits before it runs again (Slurm's default is 120)
# Exit status: 0 up; 77 cannot run here (not root, Slurm missing and no
# apt-get), with one line "start.sh: REASON" on stderr; 1 failed to start.
# Prints "PREFIX=..." on success, the last line of its output.
#
# Adapted from a recipe verified on Debian 12 (Slurm 22.05, Open MPI 4.1).
set -euo pipefail
ME=start.sh
# shellcheck source=tests/slurm/common.sh
source "$(dirname "$0")/common.sh"

[ "$(id -u)" -eq 0 ] || skip "not root (the daemons run as root with SlurmUser=root)"
install_slurm
setup_prefix
start_munge

# ---------------------------------------------------------------- slurm.conf
HOST=$(hostname -s)
# the real hardware line from slurmd -C, named after this host, on loopback
NODELINE=$(slurmd -C | head -1 | sed -e "s/^NodeName=[^ ]*/NodeName=$HOST NodeAddr=127.0.0.1/")
write_conf "$HOST(127.0.0.1)" "" "$NODELINE State=UNKNOWN"

# ---------------------------------------------------------------- daemons
log "starting slurmctld (port $CTLD_PORT)"
slurmctld -f "$CONF" || die "slurmctld did not start ($PREFIX/log/slurmctld.log)"
log "starting slurmd (port $SLURMD_PORT)"
slurmd -f "$CONF" -N "$HOST" || die "slurmd did not start ($PREFIX/log/slurmd.log)"
wait_idle "$HOST"
timeout 60 srun -N1 -n1 -t 1 true || die "srun smoke test failed"
log "up: $(sinfo -h -o '%P %a %D %t %N %c') pids munged=$(cat "$PREFIX/run/munged.pid") slurmctld=$(cat "$PREFIX/run/slurmctld.pid") slurmd=$(cat "$PREFIX/run/slurmd.pid")"
echo "PREFIX=$PREFIX"
