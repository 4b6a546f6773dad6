#!/usr/bin/env bash
# test_hessian.sh - the distributed Hessian on 2 and 4 ranks (oversubscribed):
# the unit test's checks (finite differences, LAPACK, quantity (9), zero
# modes) on a BLACS grid of all ranks, plus the same matrix built on rank 0
# alone: identical bits for the matrix and V^T H V, eigenvalues within
# 1e-12 relative.
SUITE=hessian-ranks
source "$(dirname "$0")/lib.sh"
UNIT="$ROOT/$BUILD/tests/test_hessian"
for np in 2 4; do
  fwd=()
  for v in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS OMPI_MCA_mca_base_component_disable_dlclose; do
    [ -n "${!v:-}" ] && fwd+=(-x "$v")
  done
  if timeout -k 5 "${TSIM_TEST_TIMEOUT:-300}" mpirun -q --oversubscribe -np $np \
      "${fwd[@]}" -x OPENBLAS_NUM_THREADS "$UNIT" >"$TMP/np$np.log" 2>&1; then
    ok "unit checks pass on $np ranks ($(grep -c '^ok' "$TMP/np$np.log") checks)"
  else
    fail "unit checks on $np ranks: $(grep -m3 -E '^FAIL|rror' "$TMP/np$np.log")"
  fi
  check "$np ranks: the matrix has the bits of 1 rank's" \
    grep -q "^ok .*$np ranks: the assembled matrix has the bits" "$TMP/np$np.log"
  check "$np ranks: eigenvalues within 1e-12 of 1 rank's" \
    grep -q "^ok .*$np ranks: eigenvalues within" "$TMP/np$np.log"
done
finish
