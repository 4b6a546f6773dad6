# lib.sh - shared helpers for the shell tests (sourced).
# Each test script prints "ok ..." / "FAIL ..." lines and ends with
# "NAME: N passed, N failed" through `finish`.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-bin}
BUILD=${BUILD:-build}
TSIM="$ROOT/$BIN/tsim"
PASSED=0
FAILED=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tsim-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Open MPI refuses root unless told; CI and the test machines run as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ "${TSIM_SANITIZE:-0}" = 1 ]; then
  # slow unwinding: Open MPI's libraries have no frame pointers, and without
  # it their (suppressed) leaks show as "<unknown module>"
  export ASAN_OPTIONS="detect_leaks=1:fast_unwind_on_malloc=0:exitcode=86"
  export OMPI_MCA_mca_base_component_disable_dlclose=1
  export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=86"
fi

ok()   { PASSED=$((PASSED + 1)); echo "ok   $SUITE: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $SUITE: $*"; }
check() { # check "description" command...
  local what=$1; shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
finish() { echo "$SUITE: $PASSED passed, $FAILED failed"; [ "$FAILED" -eq 0 ]; }

# run NP ARGS...: tsim under mpirun with NP ranks (oversubscribed), with a
# timeout so a hang fails the test instead of the suite.
run_np() {
  local np=$1; shift
  local fwd=() v
  for v in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS OMPI_MCA_mca_base_component_disable_dlclose TSIM_FAULT \
           TSIM_FAKE_CLOCK TSIM_FAULT_HOLD; do
    [ -n "${!v:-}" ] && fwd+=(-x "$v")
  done
  # -q: mpirun's own banner about a non-zero exit would bury tsim's one line
  timeout -k 5 "${TSIM_TEST_TIMEOUT:-300}" mpirun -q --oversubscribe -np "$np" \
    "${fwd[@]}" -x OPENBLAS_NUM_THREADS "$TSIM" "$@"
}

# same_csv A B: byte-identical, except that cells.csv's last column (wall_s,
# the one measured, not computed, field) is dropped first.
strip_wall() { if [ "$(basename "$1")" = cells.csv ]; then sed 's/,[^,]*$//' "$1"; else cat "$1"; fi; }
same_csv() { cmp -s <(strip_wall "$1") <(strip_wall "$2"); }

# Stops (signals, STOP files, time limits) land at chosen points, never
# after a delay: TSIM_FAULT and TSIM_FAKE_CLOCK (src/fault.h). wait_for FILE
# waits for a file that a run creates when it reaches such a point (a hang
# guard of 300 s, not a delay).
wait_for() {
  local n=0; while [ ! -e "$1" ] && [ $n -lt 3000 ]; do sleep 0.1; n=$((n + 1)); done; test -e "$1"
}
run_wall() { sed -n 's/.*"wall_s": \([0-9.]*\).*/\1/p' "$1/manifest.json" 2>/dev/null; }
