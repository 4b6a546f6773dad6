#!/usr/bin/env bash
# test_build.sh - the binary names the commit it was built from (tsim
# --version, and so manifest.json's git_commit), also after a commit on top
# of an earlier build: make rebuilds what prints the commit
# (build/commit.stamp, Makefile). Works on a clone of this checkout, built
# in the clone's own build directory (about a minute on 2 cores).
# Runs in the normal pass only: the sanitizer pass would build the same.
SUITE=build
source "$(dirname "$0")/lib.sh"
SKIPPED=0
skip() { SKIPPED=$((SKIPPED + 1)); echo "skip $SUITE: $1 ($2)"; }
done_() { echo "$SUITE: $PASSED passed, $FAILED failed, $SKIPPED skipped"; [ "$FAILED" -eq 0 ]; }
TESTS=("a fresh build names HEAD" "a rebuild after a commit names the new HEAD"
       "a rebuild with an edit says -dirty" "manifest.json has the binary's commit")
skip_all() { local t; for t in "${TESTS[@]}"; do skip "$t" "$1"; done; done_; exit; }
[ "${TSIM_SANITIZE:-0}" = 1 ] && skip_all "sanitizer pass: the normal pass builds and checks the same"
git -C "$ROOT" rev-parse HEAD >/dev/null 2>&1 || skip_all "not a git checkout: the build says 'unknown'"

R="$TMP/repo"
git clone -q "$ROOT" "$R" || { fail "git clone of the checkout"; done_; exit; }
git -C "$R" config user.email test@tsim.invalid
git -C "$R" config user.name "tsim test"
build() { make -C "$R" -s -j2 bin/tsim >"$TMP/make.log" 2>&1; }
version_commit() { "$R/bin/tsim" --version | sed -n 's/.*(commit \([^;]*\);.*/\1/p'; }
head12() { git -C "$R" rev-parse --short=12 HEAD; }

build
check "${TESTS[0]}" test "$(version_commit)" = "$(head12)"

git -C "$R" commit -q --allow-empty -m "an empty commit on top of the build"
build
check "${TESTS[1]}" test "$(version_commit)" = "$(head12)"

echo "# an edit" >> "$R/README.md"
build
check "${TESTS[2]}" test "$(version_commit)" = "$(head12)-dirty"

cat > "$TMP/tiny.yaml" <<'YAML'
name: tiny
model:   {activation: quadratic, d: 3, K: 1}
teacher: {norm: 1.0, direction: e1}
data:    {n: 16, n_test: 0, seed: 1}
init:    {scale: 0.1, seed: 0}
train:   {eta: 0.01, iterations: 2}
YAML
"$R/bin/tsim" run "$TMP/tiny.yaml" -q -o "$TMP/run" >/dev/null 2>&1
check "${TESTS[3]}" grep -q "\"git_commit\": \"$(head12)-dirty\"" "$TMP/run/manifest.json"
done_
