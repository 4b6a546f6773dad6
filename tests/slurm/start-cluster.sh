#!/usr/bin/env bash
# start-cluster.sh - a private two-node Slurm on this one machine for the
# tests, run as root: each node is a network namespace with its own
# hostname (UTS namespace), /etc/hosts (a bind mount in its own mount
# namespace) and address on a bridge, and runs its own slurmd (spool dir,
# pidfile, log: -%n); slurmctld and munged run outside, on the bridge's
# address. Everything else lives under $PREFIX; nothing under /etc is
# touched.
#
#   PREFIX=/tmp/x bash tests/slurm/start-cluster.sh   # install if needed, start
#   source $PREFIX/env.sh        # SLURM_CONF for sbatch/squeue/scontrol
#   source $PREFIX/cluster.env   # CLUSTER_NODES, CLUSTER_NETNS, CLUSTER_SUBNET, ...
#   PREFIX=/tmp/x bash tests/slurm/stop-cluster.sh    # stop, remove the namespaces
#
# A node's processes are those of its namespace: `ip netns pids NETNS`
# (slurmd and everything it starts). Killing them all is a node loss.
#
# Env: PREFIX, CTLD_PORT, SLURMD_PORT, SKIP_INSTALL, CRED_EXPIRE as for start.sh
#      SLURMD_TIMEOUT (10)  seconds before slurmctld sets a silent node DOWN
#      NODES (2)            number of nodes, tsimn1 .. tsimnN
# Exit status: 0 up; 77 cannot run here (not root, Slurm missing and no
# apt-get, no network namespaces), with one line "start-cluster.sh: REASON"
# on stderr; 1 failed to start. Prints "PREFIX=..." on success, last.
set -euo pipefail
ME=start-cluster.sh
# shellcheck source=tests/slurm/common.sh
source "$(dirname "$0")/common.sh"

[ "$(id -u)" -eq 0 ] || skip "not root (the daemons run as root with SlurmUser=root; namespaces)"
NODES=${NODES:-2}
for c in ip unshare nsenter; do command -v $c >/dev/null || skip "no $c (iproute2, util-linux)"; done
install_slurm
setup_prefix

# ---------------------------------------------------------------- network
# names: a fresh 4-hex-digit id (interface names have 15 characters at most)
id=
for _ in $(seq 20); do
  c=$(printf '%04x' $((RANDOM % 65536)))
  if ! ip netns list | grep -q "^tsim-$c-" && ! ip link show "tsbr$c" >/dev/null 2>&1; then id=$c; break; fi
done
[ -n "$id" ] || die "no free namespace name"
# a /24 of 10.213.0.0/16 no interface here uses yet
net=
for b in $(seq 1 254); do
  ip -4 addr | grep -q " 10\.213\.$b\." || { net=10.213.$b; break; }
done
[ -n "$net" ] || die "no free subnet in 10.213.0.0/16"
BRIDGE=tsbr$id
names=() spaces=() addrs=()
for i in $(seq "$NODES"); do
  names+=("tsimn$i"); spaces+=("tsim-$id-n$i"); addrs+=("$net.$((10 + i))")
done
# written first: stop-cluster.sh removes what it lists, also after a failure here
cat > "$PREFIX/cluster.env" <<EOF
CLUSTER_NODES="${names[*]}"
CLUSTER_NETNS="${spaces[*]}"
CLUSTER_ADDRS="${addrs[*]}"
CLUSTER_BRIDGE=$BRIDGE
CLUSTER_SUBNET=$net.0/24
CLUSTER_HOST_ADDR=$net.1
EOF
err=$(ip netns add "${spaces[0]}" 2>&1) || skip "cannot create a network namespace: $err"
err=$(ip link add "$BRIDGE" type bridge 2>&1) || skip "cannot create a bridge: $err"
ip addr add "$net.1/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
HOST=$(hostname -s)
{ echo "127.0.0.1 localhost"; echo "$net.1 $HOST"
  for i in "${!names[@]}"; do echo "${addrs[$i]} ${names[$i]}"; done; } > "$PREFIX/etc/hosts"
for i in "${!names[@]}"; do
  ns=${spaces[$i]} veth=tsve$id-$((i + 1))
  [ "$i" -eq 0 ] || ip netns add "$ns"
  err=$(ip link add "$veth" type veth peer name eth0 netns "$ns" 2>&1) \
    || skip "cannot create a veth pair: $err"
  ip link set "$veth" master "$BRIDGE" up
  ip -n "$ns" addr add "${addrs[$i]}/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
done
log "network: bridge $BRIDGE $net.1/24, nodes ${names[*]} at ${addrs[*]} in ${spaces[*]}"

# ---------------------------------------------------------------- slurm
start_munge
# TmpFS: each node its own (PMIx makes its client directory there, named
# after the job step only)
lines=("SlurmdTimeout=${SLURMD_TIMEOUT:-10}" "TmpFS=$PREFIX/tmp/%n")
# the real hardware line from slurmd -C for each node (they share the CPUs)
for i in "${!names[@]}"; do
  lines+=("$(slurmd -C | head -1 | sed -e "s/^NodeName=[^ ]*/NodeName=${names[$i]} NodeHostname=${names[$i]} NodeAddr=${addrs[$i]}/") State=UNKNOWN")
done
write_conf "$HOST($net.1)" "-%n" "${lines[@]}"

log "starting slurmctld (port $CTLD_PORT)"
slurmctld -f "$CONF" || die "slurmctld did not start ($PREFIX/log/slurmctld.log)"
for i in "${!names[@]}"; do
  log "starting slurmd on ${names[$i]} (${addrs[$i]}:$SLURMD_PORT)"
  mkdir -p "$PREFIX/state/slurmd-${names[$i]}" "$PREFIX/tmp/${names[$i]}"
  # nsenter, not `ip netns exec`: that mounts a new /sys, without the
  # cgroup tree slurmd looks at even with proctrack/linuxproc
  nsenter --net="/run/netns/${spaces[$i]}" unshare --uts --mount --propagation private sh -c \
    'hostname "$1" && mount --bind "$2" /etc/hosts && exec slurmd -f "$3" -N "$1"' \
    sh "${names[$i]}" "$PREFIX/etc/hosts" "$CONF" \
    || die "slurmd on ${names[$i]} did not start ($PREFIX/log/slurmd-${names[$i]}.log)"
done
wait_idle "${names[@]}"
got=$(timeout 60 srun -N "$NODES" -n "$NODES" -t 1 hostname 2>&1 | sort | tr '\n' ' ') \
  || die "srun smoke test failed: $got"
[ "$got" = "${names[*]} " ] || die "srun -N $NODES hostname printed '$got', not '${names[*]}'"
wait_idle "${names[@]}"   # the smoke test's step has ended everywhere
pids=
for n in "${names[@]}"; do pids+=" slurmd@$n=$(cat "$PREFIX/run/slurmd-$n.pid")"; done
log "up: $(sinfo -h -o '%P %a %D %t %N %c') pids munged=$(cat "$PREFIX/run/munged.pid") slurmctld=$(cat "$PREFIX/run/slurmctld.pid")$pids"
echo "PREFIX=$PREFIX"
