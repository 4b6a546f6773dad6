#!/usr/bin/env bash
# stop-cluster.sh - stop the cluster of tests/slurm/start-cluster.sh: the
# daemons as stop.sh does, then whatever still runs in the nodes' network
# namespaces (by PID, from `ip netns pids`: slurmstepd, job steps left by a
# lost node), then the namespaces and the bridge listed in
# $PREFIX/cluster.env (nothing else).
#
#   PREFIX=/tmp/x bash tests/slurm/stop-cluster.sh          # stop
#   WIPE=1 PREFIX=/tmp/x bash tests/slurm/stop-cluster.sh   # ... and delete $PREFIX
set -uo pipefail
[ -n "${PREFIX:-}" ] || { echo "stop-cluster.sh: set PREFIX (the directory given to start-cluster.sh)" >&2; exit 2; }
rc=0
if [ -f "$PREFIX/etc/slurm.conf" ]; then
  PREFIX="$PREFIX" WIPE=0 bash "$(dirname "$0")/stop.sh" || rc=1
fi
[ -f "$PREFIX/cluster.env" ] || { echo "no $PREFIX/cluster.env: no namespaces to remove"; exit $rc; }
# shellcheck source=/dev/null
source "$PREFIX/cluster.env"
for ns in $CLUSTER_NETNS; do
  ip netns list | grep -q "^$ns\b" || continue
  pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
  if [ -n "${pids// /}" ]; then
    echo "$ns: killing what still runs there: $pids"
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    for _ in $(seq 50); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.1; done
  fi
  ip netns del "$ns" && echo "$ns: removed" || rc=1
done
if ip link show "$CLUSTER_BRIDGE" >/dev/null 2>&1; then
  ip link del "$CLUSTER_BRIDGE" && echo "$CLUSTER_BRIDGE: removed" || rc=1
fi
if [ "${WIPE:-0}" = 1 ] && [ $rc -eq 0 ]; then rm -rf "$PREFIX"; echo "wiped $PREFIX"; fi
exit $rc
