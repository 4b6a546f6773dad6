#!/usr/bin/env bash
# test_sched.sh - the grid scheduler: byte-identical outputs for world sizes
# 1-4 and team sizes 1-2; cells of very different lengths all present once;
# slices merged equal the whole; a failing or dying rank ends the job with a
# clear error and no hang.
SUITE=sched
source "$(dirname "$0")/lib.sh"

# 12 cells: eta = 3 diverges within a few iterations, the others run to the
# end; n spans several chunks so teams of 2 really shard the samples
cat > "$TMP/grid.yaml" <<'YAML'
name: grid
model: {d: 5, K: [1, 4]}
data:  {n: 1500, n_test: 300, seed: 2, chunk: 256, engine: sharded}
init:  {scale: 0.3, seed: [0, 1]}
train: {eta: [0.02, 3.0, 0.05], iterations: 150, log_every: 25}
YAML
cells=12
ref="$TMP/ref"
run_np 1 run "$TMP/grid.yaml" -q -o "$ref" >/dev/null 2>&1
check "reference run on 1 rank" test -s "$ref/cells.csv"
for spec in "2 1" "2 2" "3 1" "3 2" "4 1" "4 2"; do
  set -- $spec
  out="$TMP/w$1g$2"
  run_np "$1" run "$TMP/grid.yaml" -q --team-size "$2" -o "$out" >/dev/null 2>"$out.err"
  for f in cells.csv metrics.csv neurons.csv; do
    check "world $1, team size $2: $f byte-identical to 1 rank" same_csv "$ref/$f" "$out/$f"
  done
done
check "every cell present once, in id order" \
  test "$(tail -n +2 "$ref/cells.csv" | cut -d, -f1 | tr '\n' ' ')" = "$(seq -s ' ' 0 $((cells - 1))) "
check "the eta = 3 cells diverged within 5 iterations, no other did" \
  bash -c "test \$(grep -cE ',diverged,[1-5],' '$ref/cells.csv') -eq 4 && test \$(grep -c ',diverged,' '$ref/cells.csv') -eq 4"
check "no pending/ left behind" test ! -e "$TMP/w4g1/pending"
check "manifest records teams" grep -q '"teams": 2' "$TMP/w4g2/manifest.json"
# the hosts are gathered on every rank (a collective) before rank 0 writes
hosts=$(sed -n 's/^  "hosts": "\(.*\)",$/\1/p' "$TMP/w4g2/manifest.json")
check "manifest names the host of each of the 4 ranks ($hosts)" \
  test "$(tr ',' '\n' <<<"$hosts" | grep -c .)" -eq 4
# the library whose log and sincos made the samples, and the vector width
# of the pass (the one tsim --version names)
width=$("$TSIM" --version | sed -n 's/.*fused pass: \([0-9]*\) doubles.*/\1/p')
check "manifest records the libm (glibc and its version) and the pass's vector width ($width)" \
  bash -c "grep -qE '\"libm\": \"glibc [0-9]+\\.[0-9]+' '$TMP/w4g2/manifest.json' &&
           grep -q '\"fused_vector_width\": $width,' '$TMP/w4g2/manifest.json'"

# a non-terminal run prints one line per cell and a closing tally
run_np 2 run "$TMP/grid.yaml" -o "$TMP/log" --progress log --progress-seconds 0.001 >"$TMP/log.txt" 2>&1
check "log output: a line per finished cell" test "$(grep -c '^cell [0-9]* (' "$TMP/log.txt")" -eq $cells
check "log output: progress lines" grep -qE '^cells [0-9]+/12 \| running [0-9]+ \| [0-9]+ diverged \| [0-9.]+ cells/s \| ETA' "$TMP/log.txt"
check "log output: HPL-style tally" grep -qE '^tally: 12 cells: 2 converged, 6 max_iterations, 0 reached_T, 0 evaluated, 4 diverged, 0 skipped\(invalid\)' "$TMP/log.txt"

# a captured run with the default progress mode: mpirun gives rank 0 a
# pseudo-terminal for stdout but a pipe for stderr, so tsim prints plain
# lines (no carriage return or escape code to collide with later lines)
run_np 1 run "$TMP/grid.yaml" -o "$TMP/auto" >"$TMP/auto.txt" 2>&1
plain_lines() { ! grep -q $'[\r\033]' "$1"; }
check "captured run: no carriage return or escape code" plain_lines "$TMP/auto.txt"
check "captured run: a line per finished cell" \
  test "$(grep -c '^cell [0-9]* (' "$TMP/auto.txt")" -eq $cells

# slices: i/N and a:b, merged, equal the whole
for i in 0 1 2; do run_np 2 run "$TMP/grid.yaml" -q --cells $i/3 -o "$TMP/slice$i" >/dev/null 2>&1; done
check "slice 1/3 holds cells 1, 4, 7, 10" \
  test "$(tail -n +2 "$TMP/slice1/cells.csv" | cut -d, -f1 | tr '\n' ' ')" = "1 4 7 10 "
"$TSIM" merge -o "$TMP/merged" "$TMP/slice2" "$TMP/slice0" "$TMP/slice1" >/dev/null 2>"$TMP/merge.err"
check "merge of three i/N slices succeeds" test $? -eq 0
merged_provenance() { # ranks 2+2+2, the earliest start, the host
  local m="$TMP/merged/manifest.json" first
  first=$(sed -n 's/^  "start": "\(.*\)",$/\1/p' "$TMP"/slice*/manifest.json | sort | head -1)
  [ -n "$first" ] && grep -qF "  \"start\": \"$first\"," "$m" && grep -qx '  "ranks": 6,' "$m" &&
    grep -qxF "  \"hosts\": \"$(hostname)\"," "$m"
}
check "the merged manifest carries the slices' provenance" merged_provenance
for f in cells.csv metrics.csv neurons.csv; do
  check "merged $f equals the whole run's" same_csv "$ref/$f" "$TMP/merged/$f"
done
run_np 1 run "$TMP/grid.yaml" -q --cells 0:5 -o "$TMP/a" >/dev/null 2>&1
run_np 1 run "$TMP/grid.yaml" -q --cells 5:12 -o "$TMP/b" >/dev/null 2>&1
"$TSIM" merge -o "$TMP/merged2" "$TMP/a" "$TMP/b" >/dev/null 2>&1
check "merge of a:b slices equals the whole run" same_csv "$ref/metrics.csv" "$TMP/merged2/metrics.csv"
"$TSIM" merge -o "$TMP/merged3" "$TMP/a" "$TMP/slice1" >/dev/null 2>"$TMP/merge3.err"; rc=$?
check "overlapping slices are refused" \
  bash -c "[ $rc -eq 2 ] && grep -q 'more than one slice' '$TMP/merge3.err'"
"$TSIM" merge -o "$TMP/merged4" "$TMP/slice0" "$TMP/slice1" >/dev/null 2>"$TMP/merge4.err"; rc=$?
check "a missing slice is refused, naming the first missing cell" \
  bash -c "[ $rc -eq 2 ] && grep -q 'cell 2 is in no slice' '$TMP/merge4.err'"
check "... and leaves no table behind" test ! -e "$TMP/merged4/cells.csv" -a ! -e "$TMP/merged4/.merge-tmp"
"$TSIM" merge -o "$TMP/merged4" "$TMP/slice0" "$TMP/slice1" "$TMP/slice2" >/dev/null 2>&1; rc=$?
check "the corrected merge into the same OUTDIR succeeds without --force (exit $rc)" \
  bash -c "[ $rc -eq 0 ] && cmp -s <(cut -d, -f1-5 '$ref/cells.csv') <(cut -d, -f1-5 '$TMP/merged4/cells.csv')"
"$TSIM" merge --force -o "$TMP/merged4" "$TMP/slice0" "$TMP/a" >/dev/null 2>&1; rc=$?
check "a failed --force merge leaves the earlier merge's tables as they were (exit $rc)" \
  bash -c "[ $rc -eq 2 ] && cmp -s <(cut -d, -f1-5 '$ref/cells.csv') <(cut -d, -f1-5 '$TMP/merged4/cells.csv')"
# a write that fails (a full disk: /dev/full in place of the file merge
# writes aside in OUTDIR/.merge-tmp) is an error naming the file, exit 1,
# for the tables, config.yaml and manifest.json, and leaves OUTDIR empty
for f in neurons.csv config.yaml manifest.json; do
  mkdir -p "$TMP/full_$f/.merge-tmp" && ln -s /dev/full "$TMP/full_$f/.merge-tmp/$f"
  "$TSIM" merge --force -o "$TMP/full_$f" "$TMP/a" "$TMP/b" >/dev/null 2>"$TMP/full_$f.err"; rc=$?
  check "merge into a full $f: exit $rc, one line naming it ($(head -c 120 "$TMP/full_$f.err"))" \
    bash -c "[ $rc -eq 1 ] && [ \$(wc -l < '$TMP/full_$f.err') -eq 1 ] &&
             grep -qx '$TMP/full_$f/.merge-tmp/$f: write failed: No space left on device' '$TMP/full_$f.err'"
  check "... nothing left in OUTDIR" test -z "$(ls -A "$TMP/full_$f")"
done
"$TSIM" run "$TMP/grid.yaml" -q --cells 7/3 -o "$TMP/bad" >/dev/null 2>"$TMP/bad.err"; rc=$?
check "--cells 7/3 is refused" bash -c "[ $rc -eq 2 ] && grep -q 'need i/N with 0 <= i < N' '$TMP/bad.err'"

# a rank that fails (TSIM_FAULT, src/fault.h): world rank 2 fails as it
# starts its first batch, as an unreadable file on that rank would. In a
# team of 3 (every rank in team 0) that is the run's first batch; as the
# leader of team 2 of 3, rank 2 asks for a batch at its start, long before
# the 48 cells are gone.
TSIM_FAULT=rank=2,batch=1,do=fail run_np 3 run "$TMP/grid.yaml" -q --team-size 3 --set run.batch=1 \
  -o "$TMP/fault0" >/dev/null 2>"$TMP/fault0.err"; rc=$?
check "injected failure in team 0: exit 1 with one line naming the rank" \
  bash -c "[ $rc -eq 1 ] && grep -qE '^rank 2: TSIM_FAULT: injected failure in cell [0-9]+$' '$TMP/fault0.err' && [ \$(wc -l < '$TMP/fault0.err') -eq 1 ]"
TSIM_FAULT=rank=2,batch=1,do=fail run_np 3 run "$TMP/grid.yaml" -q --set run.batch=1 \
  --set 'init.seed=[0, 1, 2, 3, 4, 5, 6, 7]' -o "$TMP/fault" >"$TMP/fault.out" 2>"$TMP/fault.err"; rc=$?
check "injected failure in team 2: exit 1 with one line naming the rank" \
  bash -c "[ $rc -eq 1 ] && grep -qE '^rank 2: TSIM_FAULT: injected failure in cell [0-9]+$' '$TMP/fault.err' && [ \$(wc -l < '$TMP/fault.err') -eq 1 ]"
export TSIM_FAULT=rank=2,batch=1,do=fail
run_np 4 run "$TMP/grid.yaml" -q --team-size 2 --set run.batch=1 -o "$TMP/fault2" >/dev/null 2>"$TMP/fault2.err"; rc=$?
unset TSIM_FAULT
check "injected failure inside a team of 2: exit 1, message names world rank 2" \
  bash -c "[ $rc -eq 1 ] && grep -q '^rank 2: TSIM_FAULT' '$TMP/fault2.err'"
check "the failed run's manifest says failed" grep -q '"status": "failed"' "$TMP/fault/manifest.json"

# a rank that dies: mpirun reports it, nothing hangs, finished cells stay.
# Rank 0 exits as it starts its third batch: it wrote its first two cells
# (tables or pending/) before it took the next.
SECONDS=0
TSIM_FAULT=rank=0,batch=3,do=exit TSIM_TEST_TIMEOUT=120 run_np 2 run "$TMP/grid.yaml" -q --set run.batch=1 -o "$TMP/dead" >/dev/null 2>"$TMP/dead.err"; rc=$?
check "a dying rank 0 ends the job (exit $rc, ${SECONDS} s, no hang)" bash -c "[ $rc -ne 0 ] && [ $rc -ne 124 ]"
check "the dying rank said so" grep -qE 'rank 0 exits at batch 3' "$TMP/dead.err"
rows=$(( $(tail -n +2 "$TMP/dead/cells.csv" | wc -l) + $(ls "$TMP/dead/pending" 2>/dev/null | grep -c cells || true) ))
check "the cells rank 0 finished before its death are on disk ($rows)" test "$rows" -ge 2
SECONDS=0
TSIM_FAULT=rank=1,batch=1,do=exit TSIM_TEST_TIMEOUT=120 run_np 2 run "$TMP/grid.yaml" -q --team-size 2 -o "$TMP/dead1" >/dev/null 2>"$TMP/dead1.err"; rc=$?
check "a dying rank 1 ends the job (exit $rc, ${SECONDS} s, no hang)" bash -c "[ $rc -ne 0 ] && [ $rc -ne 124 ]"
check "rank 1 said so" grep -qE 'rank 1 exits at batch 1' "$TMP/dead1.err"
check "a malformed TSIM_FAULT is exit 2 naming it" \
  bash -c "TSIM_FAULT=cell=1,do=boom '$TSIM' run '$TMP/grid.yaml' -q -o '$TMP/badfault' 2>&1 >/dev/null | grep -q \"^TSIM_FAULT: 'cell=1,do=boom': do is\"; [ \${PIPESTATUS[0]} -eq 2 ] && [ ! -e '$TMP/badfault' ]"
finish
