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

T0=$(date +%s%N)
log() { local ms=$(( ($(date +%s%N) - T0) / 1000000 )); printf '[slurm-start %d.%03ds] %s\n' $((ms/1000)) $((ms%1000)) "$*"; }
skip() { echo "start.sh: $*" >&2; exit 77; }
die() { echo "start.sh: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || skip "not root (the daemons run as root with SlurmUser=root)"

# ---------------------------------------------------------------- packages
need=()
command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null || need+=(slurm-wlm)
command -v munged >/dev/null || need+=(munge)
if [ ${#need[@]} -gt 0 ]; then
  [ "${SKIP_INSTALL:-0}" = 1 ] && skip "${need[*]} not installed and SKIP_INSTALL=1"
  command -v apt-get >/dev/null || skip "${need[*]} not installed and no apt-get"
  log "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  # in containers policy-rc.d stops postinst from starting the services: fine,
  # the daemons are started below with our own config
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
fi
command -v slurmctld >/dev/null || die "slurmctld still missing after install"
command -v ss >/dev/null || die "ss (iproute2) missing"

# ---------------------------------------------------------------- prefix, ports
if [ -z "${PREFIX:-}" ]; then PREFIX=$(mktemp -d "${TMPDIR:-/tmp}/tsim-slurm.XXXXXX"); fi
mkdir -p "$PREFIX"
PREFIX=$(cd "$PREFIX" && pwd)
for f in "$PREFIX"/run/slurmctld.pid "$PREFIX"/run/slurmd.pid "$PREFIX"/run/munged.pid; do
  if [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
    die "already running (pid $(cat "$f") from $f); run stop.sh first"
  fi
done
port_free() { ! ss -Htan "( sport = :$1 )" 2>/dev/null | grep -q .; }
if [ -z "${CTLD_PORT:-}" ] || [ -z "${SLURMD_PORT:-}" ]; then
  p=16817
  while [ $p -lt 17817 ]; do
    if port_free $p && port_free $((p + 1)); then break; fi
    p=$((p + 2))
  done
  [ $p -lt 17817 ] || die "no free port pair in 16817-17816"
  CTLD_PORT=${CTLD_PORT:-$p}
  SLURMD_PORT=${SLURMD_PORT:-$((p + 1))}
fi
for port in "$CTLD_PORT" "$SLURMD_PORT"; do
  port_free "$port" || die "TCP port $port already in use; set CTLD_PORT/SLURMD_PORT"
done
# the munge socket path must fit in sun_path (108 bytes)
[ ${#PREFIX} -le 80 ] || die "PREFIX path too long for a unix socket: $PREFIX"
mkdir -p "$PREFIX"/{etc,run,log,state/ctld,state/slurmd,munge}
# munged refuses a socket directory that others cannot search, and a key
# directory that others can read
chmod 755 "$PREFIX" "$PREFIX/run"
chmod 700 "$PREFIX/munge"
d=$PREFIX
while [ "$d" != / ]; do
  d=$(dirname "$d")
  [ -n "$(find "$d" -maxdepth 0 -perm -o+x)" ] \
    || die "munged needs search (x) permission for all on every directory above its socket: chmod o+x $d (or another PREFIX)"
done

# ---------------------------------------------------------------- munge
KEY="$PREFIX/munge/munge.key"
if [ ! -s "$KEY" ]; then
  if command -v mungekey >/dev/null; then mungekey --create --keyfile="$KEY" --bits=1024
  else dd if=/dev/urandom of="$KEY" bs=128 count=1 status=none; fi
fi
chown root:root "$KEY"; chmod 400 "$KEY"     # munged wants owner == its own uid
MSOCK="$PREFIX/run/munge.socket"
log "starting munged"
munged --socket="$MSOCK" --key-file="$KEY" --pid-file="$PREFIX/run/munged.pid" \
       --log-file="$PREFIX/log/munged.log" --seed-file="$PREFIX/munge/munged.seed" \
  || die "munged did not start ($PREFIX/log/munged.log)"
for _ in $(seq 50); do [ -S "$MSOCK" ] && break; sleep 0.1; done
munge -S "$MSOCK" -n | unmunge -S "$MSOCK" >/dev/null || die "munge self-test failed ($PREFIX/log/munged.log)"

# ---------------------------------------------------------------- slurm.conf
HOST=$(hostname -s)
# the real hardware line from slurmd -C, named after this host, on loopback
NODELINE=$(slurmd -C | head -1 | sed -e "s/^NodeName=[^ ]*/NodeName=$HOST NodeAddr=127.0.0.1/")
CONF="$PREFIX/etc/slurm.conf"
cat > "$CONF" <<EOF
# generated by tsim tests/slurm/start.sh on $(date -Is)
ClusterName=tsimtest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# private munged socket; cred_expire is also about how long a requeued job
# waits before it can start again (default 120 s)
AuthInfo=socket=$MSOCK,cred_expire=${CRED_EXPIRE:-30}
StateSaveLocation=$PREFIX/state/ctld
SlurmdSpoolDir=$PREFIX/state/slurmd
SlurmctldPidFile=$PREFIX/run/slurmctld.pid
SlurmdPidFile=$PREFIX/run/slurmd.pid
SlurmctldLogFile=$PREFIX/log/slurmctld.log
SlurmdLogFile=$PREFIX/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups (containers and VMs without a delegated cgroup tree)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/none
# one line per finished job (JobState=, ExitCode=): the tests read it
JobCompType=jobcomp/filetxt
JobCompLoc=$PREFIX/log/jobcomp.txt
SchedulerType=sched/backfill
# schedule every 5 s instead of 60/30 s
SchedulerParameters=sched_interval=5,bf_interval=5
# cancel jobs whose dependency can never be met (default: pend forever)
DependencyParameters=kill_invalid_depend
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Debian's Open MPI 4.1 and Slurm 22.05 share PMIx: plain srun works
MpiDefault=pmix
SwitchType=switch/none
ReturnToService=2
JobRequeue=1
MinJobAge=600
KillWait=10
InactiveLimit=0
MailProg=/bin/true
$NODELINE State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
echo "export SLURM_CONF=$CONF" > "$PREFIX/env.sh"
export SLURM_CONF="$CONF"

# ---------------------------------------------------------------- daemons
log "starting slurmctld (port $CTLD_PORT)"
slurmctld -f "$CONF" || die "slurmctld did not start ($PREFIX/log/slurmctld.log)"
log "starting slurmd (port $SLURMD_PORT)"
slurmd -f "$CONF" -N "$HOST" || die "slurmd did not start ($PREFIX/log/slurmd.log)"
st=
for _ in $(seq 150); do
  st=$(sinfo -h -n "$HOST" -o %t 2>/dev/null || true)
  [ "$st" = idle ] && break; sleep 0.2
done
[ "$st" = idle ] || { tail -n 20 "$PREFIX"/log/slurm*.log >&2; die "node not idle (state '$st')"; }
timeout 60 srun -N1 -n1 -t 1 true || die "srun smoke test failed"
log "up: $(sinfo -h -o '%P %a %D %t %N %c') pids munged=$(cat "$PREFIX/run/munged.pid") slurmctld=$(cat "$PREFIX/run/slurmctld.pid") slurmd=$(cat "$PREFIX/run/slurmd.pid")"
echo "PREFIX=$PREFIX"
