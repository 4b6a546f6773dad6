#!/usr/bin/env bash
# test_same_tables.sh - the safety net of a refactoring: every shipped
# config, at its small size (tests/small_sets.sh), run by the binary of a
# base commit (tests/base_commit, or TSIM_BASE_COMMIT), built here in a
# temporary clone, and by the current one, on 2 ranks. cells.csv (but
# wall_s), metrics.csv, neurons.csv and teachers.csv must be byte-identical;
# spectrum.csv and hessian.csv equal to 1e-13 relative (LAPACK's
# eigensolver may take another path for the same matrix when the calls
# around it change). Hashes kept in the repository would not do: the
# samples depend on glibc's log and sincos, the spectra on the LAPACK build.
SUITE=same_tables
source "$(dirname "$0")/lib.sh"
source "$ROOT/tests/small_sets.sh"
SKIPPED=0
skip() { SKIPPED=$((SKIPPED + 1)); echo "skip $SUITE: $1 ($2)"; }
done_() { echo "$SUITE: $PASSED passed, $FAILED failed, $SKIPPED skipped"; [ "$FAILED" -eq 0 ]; }

base=${TSIM_BASE_COMMIT:-$(cat "$ROOT/tests/base_commit")}
if [ "${TSIM_SANITIZE:-0}" = 1 ]; then
  skip "tables equal the base commit's" "sanitizer pass: checked in the normal pass"; done_; exit
fi
if ! git -C "$ROOT" cat-file -e "$base^{commit}" 2>/dev/null; then
  skip "tables equal the base commit's" "commit $base is not in this clone's history"; done_; exit
fi
git clone -q "$ROOT" "$TMP/base" && git -C "$TMP/base" checkout -q "$base" \
  && make -C "$TMP/base" -j2 bin/tsim >"$TMP/base.log" 2>&1
check "the base commit $base builds in a temporary clone" test -x "$TMP/base/bin/tsim"
[ -x "$TMP/base/bin/tsim" ] || { tail -20 "$TMP/base.log"; done_; exit; }

# same_eig A B: the CSVs have the same rows and every number equal to 1e-13
# relative (to the largest magnitude of its column)
same_eig() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import csv, sys
a, b = (list(csv.reader(open(f))) for f in sys.argv[1:3])
if len(a) != len(b) or a[:1] != b[:1]: sys.exit(1)
cols = len(a[0])
scale = [0.0] * cols
for r in a[1:]:
    for j, v in enumerate(r):
        try: scale[j] = max(scale[j], abs(float(v)))
        except ValueError: pass
for x, y in zip(a[1:], b[1:]):
    for j, (u, v) in enumerate(zip(x, y)):
        if u == v: continue
        try: fu, fv = float(u), float(v)
        except ValueError: sys.exit(1)
        if abs(fu - fv) > 1e-13 * max(scale[j], 1e-300): sys.exit(1)
PY
}

for c in "$ROOT"/configs/*.yaml; do
  name=$(basename "$c" .yaml)
  sets=$(small_sets "$name") || { fail "$name: no small size in tests/small_sets.sh"; continue; }
  # shellcheck disable=SC2086
  if ! "$TMP/base/bin/tsim" validate "$c" $sets >/dev/null 2>&1; then
    skip "$name: tables equal the base commit's" "the base commit does not know this config"
    continue
  fi
  # shellcheck disable=SC2086
  TSIM="$TMP/base/bin/tsim" run_np 2 run "$c" -q $sets -o "$TMP/old/$name" >/dev/null 2>&1
  rc_old=$?
  # shellcheck disable=SC2086
  run_np 2 run "$c" -q $sets -o "$TMP/new/$name" >/dev/null 2>"$TMP/$name.err"
  rc_new=$?
  check "$name: exit $rc_new as the base commit's $rc_old" test "$rc_new" = "$rc_old"
  for t in cells metrics neurons teachers; do
    f=$t.csv
    [ -e "$TMP/old/$name/$f" ] || [ -e "$TMP/new/$name/$f" ] || continue
    check "$name: $f byte-identical to the base commit's" same_csv "$TMP/old/$name/$f" "$TMP/new/$name/$f"
  done
  for t in spectrum hessian; do
    f=$t.csv
    [ -e "$TMP/old/$name/$f" ] || [ -e "$TMP/new/$name/$f" ] || continue
    check "$name: $f equal to 1e-13 relative" same_eig "$TMP/old/$name/$f" "$TMP/new/$name/$f"
  done
done
done_
