#!/usr/bin/env bash
# run_all.sh - every test: C unit tests, then the shell tests (MPI at several
# rank counts, configs, end to end). Prints one closing line
# "tests: N passed, N failed" summing every check.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD BIN=${BIN:-bin}
passed=0 failed=0 broken=()
log=$(mktemp)
t0=$(date +%s)
tally() { # add the "N passed, N failed" line of a test's output
  local line p f
  line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
}
run() { # run NAME COMMAND...
  local name=$1; shift
  local s=$(date +%s)
  "$@" >"$log" 2>&1; local rc=$?
  grep -E '^(ok|FAIL)' "$log" | sed "s/^/  /" | grep -v '^  ok' || true
  tally
  if [ $rc -ne 0 ] || grep -q '^FAIL' "$log"; then
    broken+=("$name"); echo "FAIL $name (exit $rc, $(( $(date +%s) - s )) s)"; tail -n 25 "$log" | sed 's/^/  | /'
    grep -qE '[0-9]+ passed, [0-9]+ failed' "$log" || failed=$((failed + 1))
  else
    echo "ok   $name ($(( $(date +%s) - s )) s): $(grep -E '[0-9]+ passed' "$log" | tail -1)"
  fi
}
if [ "${TSIM_SANITIZE:-0}" = 1 ]; then
  # unit tests that start MPI (test_hessian: BLACS) get the shell tests'
  # settings: Open MPI's own leaks are suppressed by name (tests/lib.sh)
  export ASAN_OPTIONS="detect_leaks=1:fast_unwind_on_malloc=0"
  export OMPI_MCA_mca_base_component_disable_dlclose=1
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  run "$(basename "$t")" env ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" "$t"
done
for t in tests/test_*.sh; do
  run "$(basename "$t" .sh)" bash "$t"
done
rm -f "$log"
echo "suite took $(( $(date +%s) - t0 )) s${TSIM_SANITIZE:+ (sanitizers on)}"
[ ${#broken[@]} -gt 0 ] && echo "failing: ${broken[*]}"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#broken[@]} -eq 0 ]
