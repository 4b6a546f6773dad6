#!/usr/bin/env bash
# test_build.sh - the binary names the commit it was built from (tsim
# --version, and so manifest.json's git_commit), also after a commit on top
# of an earlier build, and its objects follow the flags: make's stamps
# (build/commit.stamp, build/flags.stamp; Makefile). Works on a clone of this
# checkout with the working tree's changes, built in the clone's own build
# directory (about 20 s on 2 cores).
# Runs in the normal pass only: the sanitizer pass would build the same.
SUITE=build
source "$(dirname "$0")/lib.sh"
SKIPPED=0
skip() { SKIPPED=$((SKIPPED + 1)); echo "skip $SUITE: $1 ($2)"; }
done_() { echo "$SUITE: $PASSED passed, $FAILED failed, $SKIPPED skipped"; [ "$FAILED" -eq 0 ]; }
TESTS=("a fresh build names HEAD" "a second make rebuilds nothing"
       "a rebuild after a commit names the new HEAD" "a rebuild with an edit says -dirty"
       "new flags rebuild every object" "make clean bin/tsim (one make) builds"
       "manifest.json has the binary's commit" "a clang build names clang"
       "the clang build runs the vector pass the gcc build runs")
skip_all() { local t; for t in "${TESTS[@]}"; do skip "$t" "$1"; done; done_; exit; }
[ "${TSIM_SANITIZE:-0}" = 1 ] && skip_all "sanitizer pass: the normal pass builds and checks the same"
git -C "$ROOT" rev-parse HEAD >/dev/null 2>&1 ||
  skip_all "not a git checkout: the build says 'unknown-dirty'"

# a clone of HEAD with this working tree's changes committed on top: the
# Makefile under test is the one in the working tree
R="$TMP/repo"
git clone -q "$ROOT" "$R" || { fail "git clone of the checkout"; done_; exit; }
gitr() { git -C "$R" -c user.email=test@tsim.invalid -c user.name="tsim test" \
           -c commit.gpgsign=false "$@"; }
git -C "$ROOT" diff HEAD --binary > "$TMP/wt.patch"
if [ -s "$TMP/wt.patch" ]; then
  gitr apply "$TMP/wt.patch" && gitr commit -q --no-verify -am "the working tree" ||
    { fail "the working tree's changes apply to the clone"; done_; exit; }
fi
# make as a user would type it: nothing inherited from the make or the
# test runner that started this test (MAKEFLAGS, BIN, BUILD)
mk() {
  env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BIN -u BUILD make -C "$R" "$@" >"$TMP/make.log" 2>&1 ||
    { echo "make $* failed:"; tail -30 "$TMP/make.log"; return 1; }
}
version_commit() { "$R/bin/tsim" --version | sed -n 's/.*(commit \([^;]*\);.*/\1/p'; }
head12() { git -C "$R" rev-parse --short=12 HEAD; }
compiled() { grep -c ' -c src/' "$TMP/make.log"; }

mk -j2 bin/tsim
check "${TESTS[0]}" test "$(version_commit)" = "$(head12)"
mk -j2 bin/tsim
check "${TESTS[1]}" test "$(compiled)" -eq 0

gitr commit -q --no-verify --allow-empty -m "an empty commit on top of the build"
mk -j2 bin/tsim
check "${TESTS[2]}" test "$(version_commit)" = "$(head12)"

echo "# an edit" >> "$R/README.md"
mk -j2 bin/tsim
check "${TESTS[3]}" test "$(version_commit)" = "$(head12)-dirty"

nobj=$(ls "$R"/src/*.c | wc -l)
mk -j2 bin/tsim CFLAGS="-O1 -g"
check "${TESTS[4]}" test "$(compiled)" -eq "$nobj"

mk clean bin/tsim # one make: the stamps are gone after clean
check "${TESTS[5]}" test -x "$R/bin/tsim"

cat > "$TMP/tiny.yaml" <<'YAML'
name: tiny
model:   {activation: quadratic, d: 3, K: 1}
teacher: {norm: 1.0, direction: e1}
data:    {n: 16, n_test: 0, seed: 1}
init:    {scale: 0.1, seed: 0}
train:   {eta: 0.01, iterations: 2}
YAML
"$R/bin/tsim" run "$TMP/tiny.yaml" -q -o "$TMP/run" >/dev/null 2>&1
check "${TESTS[6]}" grep -q "\"git_commit\": \"$(head12)-dirty\"" "$TMP/run/manifest.json"

# clang through Open MPI's wrapper (OMPI_CC): --version and manifest.json
# name the real compiler, and the AVX2 / AVX-512 passes are built for it too
width() { "$R/bin/tsim" --version | sed -n 's/.*fused pass: \([0-9]*\) doubles.*/\1/p'; }
if command -v clang >/dev/null; then
  gcc_width=$(width)
  OMPI_CC=clang mk clean bin/tsim CFLAGS="-O2" || true
  check "${TESTS[7]}" bash -c "'$R/bin/tsim' --version | grep -q '; clang '"
  check "${TESTS[8]} (gcc $gcc_width, clang $(width))" test -n "$gcc_width" -a "$(width)" = "$gcc_width"
else
  skip "${TESTS[7]}" "no clang here"; skip "${TESTS[8]}" "no clang here"
fi
done_
