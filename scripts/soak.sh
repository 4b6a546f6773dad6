#!/usr/bin/env bash
# soak.sh - run test suites again and again, on a quiet machine or with every
# core kept busy by another process, to show that they do not depend on the
# machine's speed (tests stop runs at chosen points, never after a delay).
#
#   scripts/soak.sh [-n ROUNDS] [--busy] SUITE...   e.g. checkpoint batch sched
#   scripts/soak.sh -n 3 --busy check               # the whole `make check`
#
# SUITE is a tests/test_SUITE.sh or `check`. --busy starts one spinning
# process per core (nice 0, like the tests) for the whole soak. Prints one
# line per run and a closing line "soak: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
rounds=10 busy=0 suites=()
while [ $# -gt 0 ]; do
  case $1 in
    -n) rounds=$2; shift 2 ;;
    --busy) busy=1; shift ;;
    *) suites+=("$1"); shift ;;
  esac
done
[ ${#suites[@]} -gt 0 ] || { echo "usage: scripts/soak.sh [-n ROUNDS] [--busy] SUITE..." >&2; exit 2; }
spinners=()
stop_spinners() { [ ${#spinners[@]} -gt 0 ] && kill "${spinners[@]}" 2>/dev/null; }
trap stop_spinners EXIT
if [ $busy = 1 ]; then
  for _ in $(seq "$(nproc)"); do (while :; do :; done) & spinners+=($!); done
  echo "soak: ${#spinners[@]} spinning processes keep the cores busy"
fi
passed=0 failed=0 log=$(mktemp)
for r in $(seq "$rounds"); do
  for s in "${suites[@]}"; do
    t0=$(date +%s)
    if [ "$s" = check ]; then make check >"$log" 2>&1; else bash "tests/test_$s.sh" >"$log" 2>&1; fi
    rc=$?
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    if [ $rc -eq 0 ] && ! grep -q '^FAIL' "$log"; then
      passed=$((passed + 1)); echo "round $r $s: ok ($(( $(date +%s) - t0 )) s) $line"
    else
      failed=$((failed + 1)); echo "round $r $s: FAIL (exit $rc, $(( $(date +%s) - t0 )) s) $line"
      grep -E '^ *FAIL' "$log" | head -5 | sed 's/^/  /'
    fi
  done
done
rm -f "$log"
echo "soak: $passed passed, $failed failed"
[ $failed -eq 0 ]
