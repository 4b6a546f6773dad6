#!/usr/bin/env bash
# test_docs.sh - README.md fits on a screen, and scripts/check_docs.py passes
# on README.md and docs/*.md: measured values under a 'Measured on' stamp,
# every page linked from README, every relative link resolves. The checker
# itself is tried on scratch trees: each thing it is for must fail there.
# DOCS_ROOT checks another tree (an older checkout) instead of this one.
SUITE=docs
source "$(dirname "$0")/lib.sh"
DOCS_ROOT=${DOCS_ROOT:-$ROOT}
PY=/usr/bin/python3
CHECK="$ROOT/scripts/check_docs.py"

out=$("$PY" "$CHECK" "$DOCS_ROOT" 2>&1); rc=$?
check "check_docs.py passes on $DOCS_ROOT: $(tail -1 <<<"$out")" test $rc -eq 0
[ $rc -eq 0 ] || head -n 20 <<<"$out"
n=$(wc -l < "$DOCS_ROOT/README.md")
check "README.md is under 150 lines ($n)" test "$n" -lt 150

# ---- the checker on scratch trees: README.md links docs/a.md; PAGE is a.md's text
HASH=$(git -C "$ROOT" rev-parse --short=7 HEAD 2>/dev/null)
STAMP="_Measured on ${HASH:-abcdef0}, 2-core test VM, 2026-12-03._"
T="$TMP/tree"
scratch() { # scratch PAGE: write the tree, run the checker, leave its output in $out
  rm -rf "$T"; mkdir -p "$T/docs"
  printf '# x\n\n- [docs/a.md](docs/a.md): a page\n' > "$T/README.md"
  printf '%s\n' "$1" > "$T/docs/a.md"
  out=$("$PY" "$CHECK" "$T" 2>&1); rc=$?
}
passes() { scratch "$1"; [ $rc -eq 0 ] || { echo "$out"; return 1; }; }
fails() { # fails PAGE PATTERN: exit 1 and a line matching PATTERN
  scratch "$1"; [ $rc -eq 1 ] && grep -q -- "$2" <<<"$out" || { echo "rc=$rc: $out"; return 1; }
}

check "a page without measured values needs no stamp" passes "# a

Every table is the same at any rank count."
check "a time with no stamp above it fails, naming the page and line" \
  fails "# a

A run took 1.5 s on 2 ranks." "^check_docs: docs/a.md:3: measured value ('1.5 s')"
check "... and passes under a stamp" passes "# a

$STAMP

A run took 1.5 s on 2 ranks."
check "a stamp below the value is not enough" fails "# a

A run took 1.5 s on 2 ranks.

$STAMP" "docs/a.md:3: measured value"
scratch "# a

| n | time |
|---|---|
| 1e5 | 4.0 us |
Triad 22.5 GB/s.
Batched 1.37x faster.
This was measured by hand."
check "a table row, GB/s, a ratio and the word 'measured' each count (4 lines)" \
  test $rc -eq 1 -a "$(grep -c 'measured value' <<<"$out")" = 4
check "durations that are settings and code are not measurements" passes "# a

The heartbeat is refreshed every 10 s; a lock older than 120 s is stale;
a requeue waits up to 30 s; Slurm's stop comes 60 s before the end.
The progress line reads \`41.2 cells/s\`.

\`\`\`sh
time make   # 0.5 s
\`\`\`"
check "a stamp in another form fails" fails "# a

_Measured on 2026-11-24._

A run took 1.5 s." "stamp not in the form"
check "a stamp with a scope note passes" passes "# a

_Measured on an unrecorded build (written in ${HASH:-abcdef0}), 2-core test VM, 2026-12-03; the runs below._

A run took 1.5 s."
if [ -n "$HASH" ]; then
  check "a stamp naming no commit of the repository fails" fails "# a

_Measured on 0000000, 2-core test VM, 2026-12-03._

A run took 1.5 s." "0000000, not a commit"
fi
# A commit that exists only on a side branch (or in the reflog, as after a
# rebase) is absent from a fresh clone: the stamp must name HEAD's history.
G="$TMP/repo"
if command -v git >/dev/null; then
  mkdir -p "$G/scripts" "$G/docs" && cp "$CHECK" "$G/scripts/"
  printf '# x\n\n- [docs/a.md](docs/a.md): a page\n' > "$G/README.md"
  printf '# a\n' > "$G/docs/a.md"
  gitq() { git -C "$G" -c user.name=t -c user.email=t@t -c init.defaultBranch=main "$@" >/dev/null 2>&1; }
  gitq init && gitq add -A && gitq commit -m a && gitq checkout -b side && gitq commit --allow-empty -m b
  side=$(git -C "$G" rev-parse --short=7 HEAD); gitq checkout main
  main=$(git -C "$G" rev-parse --short=7 HEAD)
  page() { printf '# a\n\n_Measured on %s, 2-core test VM, 2026-12-03._\n\nA run took 1.5 s.\n' "$1" > "$G/docs/a.md"; }
  page "$side"; out=$("$PY" "$G/scripts/check_docs.py" "$G" 2>&1); rc=$?
  check "a stamp naming a commit off HEAD's history (a side branch) fails" \
    bash -c '[ "$1" = 1 ] && grep -q "stamp names $3, not a commit in the history of HEAD" <<<"$2"' _ "$rc" "$out" "$side"
  page "$main"; out=$("$PY" "$G/scripts/check_docs.py" "$G" 2>&1); rc=$?
  check "... and one in HEAD's history passes" test "$rc" = 0
fi
scratch "# a"
printf '# b\n' > "$T/docs/b.md"
out=$("$PY" "$CHECK" "$T" 2>&1); rc=$?
check "a docs page not linked from README fails" \
  bash -c '[ "$1" = 1 ] && grep -q "^check_docs: docs/b.md:1: page not linked from README.md" <<<"$2"' _ "$rc" "$out"
check "a relative link to a missing file fails" fails "# a

See [the layout](layout.md) and ![a figure](gallery/fig.png)." "docs/a.md:3: link to layout.md: no such file"
check "links to existing files, with a #fragment, and URLs pass" passes "# a

See [README](../README.md#documentation), [this page](a.md) and <https://example.org> [x](https://example.org/y.md)."
finish
