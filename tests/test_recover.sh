#!/usr/bin/env bash
# test_recover.sh - no finished cell is lost: the table headers are on disk
# before the first cell runs; a full disk names the file in one line, exit
# 1. Kills land at chosen cells (TSIM_FAULT).
SUITE=recover
source "$(dirname "$0")/lib.sh"

# 12 cells of equal cost, handed out in id order; no batches, so on one
# rank the cells run one after another
cat > "$TMP/g.yaml" <<'YAML'
name: rec
model: {d: 5, K: 2}
data:  {n: 1000, n_test: 100, seed: 2, chunk: 256, engine: sharded}
init:  {scale: 0.3, seed: [0, 1, 2]}
train: {eta: [0.02, 0.05, 0.1, 0.2], iterations: 150, log_every: 25}
run:   {batch: 1}
YAML
export TSIM_FAULT_HOLD=120
run_np 2 run "$TMP/g.yaml" -q -o "$TMP/ref" >/dev/null 2>&1
check "uninterrupted reference run" test -s "$TMP/ref/neurons.csv"
same_run() { # same_run DIR [REF]: the tables equal the reference's
  local f
  for f in cells.csv metrics.csv neurons.csv; do same_csv "${2:-$TMP/ref}/$f" "$1/$f" || return 1; done
}
computed() { grep -c '^cell [0-9]* (' "$1"; } # cells a --progress log run computed
# killed DIR NP FAULT [ARGS]: a run killed by TSIM_FAULT, no checkpoint due
killed() {
  local dir=$1 np=$2 fault=$3; shift 3
  TSIM_FAULT=$fault run_np "$np" run "$TMP/g.yaml" -o "$dir" --progress log \
    --checkpoint-seconds 1e9 "$@" >"$dir.log" 2>&1
}

# headers are on disk before the first cell runs
killed "$TMP/h" 1 "cell=0,do=kill"
check "killed as cell 0 starts: the table headers are on disk" \
  bash -c "head -1 '$TMP/h/cells.csv' | grep -q '^cell,K,seed' && head -1 '$TMP/h/metrics.csv' | grep -q '^cell,t,' && head -1 '$TMP/h/neurons.csv' | grep -q '^cell,t,k,'"

# a real full disk: a small tmpfs fills up during the run (rows at every
# iteration, about 65 kB a cell). The error names the file in one line,
# exit 1
mnt="$TMP/small"
mkdir -p "$mnt"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=256k tmpfs "$mnt" 2>/dev/null; then
  trap 'umount "$mnt" 2>/dev/null; rm -rf "$TMP"' EXIT
  run_np 2 run "$TMP/g.yaml" -q -o "$TMP/fref" --set train.log_every=1 >/dev/null 2>&1
  run_np 2 run "$TMP/g.yaml" -q -o "$mnt/run" --set train.log_every=1 \
    --checkpoint-seconds 1e9 >/dev/null 2>"$TMP/full.err"; rc=$?
  check "disk full during the run: exit 1, one line naming the file ($(head -c 160 "$TMP/full.err"))" \
    bash -c "[ $rc -eq 1 ] && [ \$(wc -l < '$TMP/full.err') -eq 1 ] &&
             grep -qE '^$mnt/run/[^ ]+: write failed: No space left on device\$' '$TMP/full.err'"
  umount "$mnt"
else
  echo "skip $SUITE: the full-disk test needs root to mount a tmpfs"
fi
finish
