#!/usr/bin/env bash
# test_hessian.sh - the distributed Hessian on 2 and 4 ranks (oversubscribed):
# the unit test's checks (finite differences, LAPACK, quantity (9), zero
# modes) on a BLACS grid of all ranks, plus the same matrix built on rank 0
# alone: identical bits for the matrix and V^T H V (also with trained output
# weights), eigenvalues within 1e-12 relative.
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
  check "$np ranks: with trained output weights, the matrix has the bits of 1 rank's" \
    test "$(grep -c "^ok .*trained output, $np ranks: the assembled matrix has the bits" \
            "$TMP/np$np.log")" -eq 3
done

# end to end: metrics.hessian in a run on 1, 2 and 4 ranks (one team)
cat > "$TMP/h.yaml" <<'YAML'
name: h
model:   {d: 6, K: [1, 4]}
data:    {n: 900, n_test: 0, seed: 5, chunk: 128}
init:    {scale: 0.3, seed: 1}
train:   {eta: 0.02, iterations: 200, log_every: 50}
metrics:
  hessian: {at: [0, 30], log_points: 4, events: [q9_positive, final], top: 3, bottom: 4, vectors: true}
YAML
for np in 1 2 4; do
  if run_np $np run "$TMP/h.yaml" -q --team-size $np -o "$TMP/h$np" >"$TMP/h$np.log" 2>&1; then
    ok "metrics.hessian run on $np ranks"
  else
    fail "metrics.hessian run on $np ranks: $(tail -3 "$TMP/h$np.log")"
  fi
done
# several teams: cells finish out of id order and wait in pending/ as
# fragments of every table, spectra too, until the cells before them are in
for np in 1 3; do
  run_np $np run "$TMP/h.yaml" -q --team-size 1 --set 'init.seed=[1, 2, 3]' -o "$TMP/teams$np" \
    >"$TMP/teams$np.log" 2>&1 || fail "6 cells with spectra on $np teams: $(tail -2 "$TMP/teams$np.log")"
done
for f in cells.csv metrics.csv spectrum.csv hessian.csv; do
  check "3 teams: $f byte-identical to 1 team's" same_csv "$TMP/teams1/$f" "$TMP/teams3/$f"
done
check "3 teams: no pending/ left (spectrum and hessian fragments removed too)" \
  test ! -e "$TMP/teams3/pending"
check "spectrum.csv and hessian.csv have their headers" \
  grep -q '^cell,t,index,eigenvalue,overlap_v$' "$TMP/h1/spectrum.csv"
check "hessian.csv header" \
  grep -q '^cell,t,min_eig,max_eig,n_negative,restricted_min,q9_over_v2$' "$TMP/h1/hessian.csv"
# K = 1: d = 6 <= top + bottom, all 6 eigenvalues; K = 4: 3 + 4 of 24
rows_t0() { awk -F, -v c=$2 'NR > 1 && $1 == c && $2 == 0' "$1" | wc -l; }
check "all eigenvalues for dK = 6, top + bottom = 7 for dK = 24" \
  test "$(rows_t0 "$TMP/h1/spectrum.csv" 0)" -eq 6 -a "$(rows_t0 "$TMP/h1/spectrum.csv" 1)" -eq 7
# at: 0, 30; log_points 4: 0 and round(200^(i/3)) = 1, 6, 34, 200;
# events: q9_positive (16 for this cell, checked below) and final (200)
got=$(awk -F, 'NR > 1 && $1 == 1 { printf "%s ", $2 }' "$TMP/h1/hessian.csv")
check "spectra at the scheduled iterations of cell 1: $got" \
  test "$got" = "0 1 6 16 30 34 200 "
t_q9=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "t_q9_positive") c = i } NR == 3 { print $c }' "$TMP/h1/cells.csv")
check "a spectrum at cell 1's t_q9_positive ($t_q9)" \
  awk -F, -v t="$t_q9" 'NR > 1 && $1 == 1 && $2 == t { found = 1 } END { exit !found }' "$TMP/h1/hessian.csv"
check "a spectrum at the final iteration (200)" \
  awk -F, 'NR > 1 && $1 == 1 && $2 == 200 { found = 1 } END { exit !found }' "$TMP/h1/hessian.csv"
check "restricted_min (from the distributed H) = quantity (9) / ||V||^2 to 1e-10" \
  awk -F, 'NR > 1 { d = $6 - $7; if (d < 0) d = -d; s = $7 < 0 ? -$7 : $7; if (d > 1e-10 * s) bad = 1 } END { exit bad }' "$TMP/h1/hessian.csv"
for np in 2 4; do
  check "$np ranks: metrics.csv byte-identical to 1 rank's" \
    same_csv "$TMP/h1/metrics.csv" "$TMP/h$np/metrics.csv"
  check "$np ranks: restricted_min and q9_over_v2 bitwise equal to 1 rank's" \
    cmp -s <(cut -d, -f1,2,6,7 "$TMP/h1/hessian.csv") <(cut -d, -f1,2,6,7 "$TMP/h$np/hessian.csv")
  check "$np ranks: eigenvalues within 1e-12 relative of 1 rank's" \
    awk -F, 'NR == FNR { if (FNR > 1) { k = $1 "," $2 "," $3; v[k] = $4; m[$1 "," $2] = (($4 < 0 ? -$4 : $4) > m[$1 "," $2]) ? ($4 < 0 ? -$4 : $4) : m[$1 "," $2] } next }
             FNR > 1 { k = $1 "," $2 "," $3; n++; d = $4 - v[k]; if (d < 0) d = -d; if (!(k in v) || d > 1e-12 * m[$1 "," $2]) bad = 1 }
             END { exit bad || n == 0 }' "$TMP/h1/spectrum.csv" "$TMP/h$np/spectrum.csv"
done
# overlaps of V with the eigenvectors sum to 1 where all eigenvalues are listed
check "overlap_v sums to 1 over all eigenvectors (K = 1)" \
  awk -F, 'NR > 1 && $1 == 0 { s[$2] += $5 } END { for (t in s) if (s[t] < 1 - 1e-9 || s[t] > 1 + 1e-9) bad = 1; exit bad }' "$TMP/h1/spectrum.csv"
# the moments engine's Hessian (from the fourth-moment tensor) agrees with
# the one assembled from the samples
run_np 2 run "$TMP/h.yaml" -q --set data.engine=sharded -o "$TMP/hs" >/dev/null 2>&1
run_np 2 run "$TMP/h.yaml" -q --set data.engine=moments -o "$TMP/hm" >/dev/null 2>&1
check "moments engine: spectra equal the sample engine's to 1e-9 of the largest" \
  /usr/bin/python3 -c '
import sys, csv
a = list(csv.reader(open(sys.argv[1])))[1:]; b = list(csv.reader(open(sys.argv[2])))[1:]
assert len(a) == len(b) > 10
scale = max(abs(float(r[3])) for r in a)
assert all(abs(float(x[3]) - float(y[3])) <= 1e-9 * scale for x, y in zip(a, b))
' "$TMP/hs/spectrum.csv" "$TMP/hm/spectrum.csv"
# the spectra do not depend on OpenBLAS's thread count (tsim runs it on one
# thread per rank; with 2 threads the eigenvalues' last bits moved). Not
# under mpirun, which binds the rank to one core, so OpenBLAS would see one
for th in 1 2; do
  OPENBLAS_NUM_THREADS=$th timeout -k 5 "${TSIM_TEST_TIMEOUT:-300}" "$TSIM" run \
    "$ROOT/configs/wang2021_hessian.yaml" -q -o "$TMP/blas$th" >/dev/null 2>&1
done
for f in hessian.csv spectrum.csv; do
  check "OPENBLAS_NUM_THREADS=2: $f byte-identical to 1 thread's" \
    bash -c "[ -s '$TMP/blas1/$f' ] && cmp -s '$TMP/blas1/$f' '$TMP/blas2/$f'"
done
# a run stopped by its time limit and resumed has the tables of an
# uninterrupted one (spectra before the stop travel in the checkpoint)
cat > "$TMP/long.yaml" <<'YAML'
name: long
model:   {d: 6, K: 4}
data:    {n: 12000, n_test: 0, seed: 5, chunk: 256, engine: sharded}
init:    {scale: 0.3, seed: 1}
train:   {eta: 0.01, iterations: 6000, log_every: 500}
metrics: {hessian: {log_points: 12, events: [q9_positive, final], top: 2, bottom: 2}}
YAML
run_np 1 run "$TMP/long.yaml" -q -o "$TMP/ref" >/dev/null 2>&1
# (fake clock: the limit at the 2400th boundary of 6000, a checkpoint every 500)
TSIM_FAKE_CLOCK=0.001 run_np 1 run "$TMP/long.yaml" -q -o "$TMP/cut" --time-limit 2.4 \
  --checkpoint-seconds 0.5 >/dev/null 2>&1; rc=$?
check "time limit during a run with spectra: exit 3 (got $rc)" test $rc -eq 3
run_np 1 resume "$TMP/cut" -q >/dev/null 2>&1
for f in metrics.csv spectrum.csv hessian.csv; do
  check "stop + resume: $f byte-identical to the uninterrupted run" same_csv "$TMP/ref/$f" "$TMP/cut/$f"
done
check "the resumed run's spectra are not empty" test "$(wc -l < "$TMP/cut/hessian.csv")" -gt 10
# a diverging cell: the spectrum at its last, non-finite, iteration is empty
# (no eigensolver run on NaNs), the finite ones before it are there
cat > "$TMP/div.yaml" <<'YAML'
model:   {d: 4, K: 3}
data:    {n: 300, n_test: 0}
init:    {scale: 1.0}
train:   {eta: 2.0, iterations: 100, diverge_above: 1.0e300}
metrics: {hessian: {events: [final], log_points: 5}}
YAML
run_np 2 run "$TMP/div.yaml" -q -o "$TMP/div" >/dev/null 2>&1
check "diverged cell: finite spectra, then an empty row at the non-finite end" \
  test "$(tail -1 "$TMP/div/hessian.csv" | cut -d, -f3-)" = ",,,," -a \
       "$(awk -F, 'NR > 1 && $3 != ""' "$TMP/div/hessian.csv" | wc -l)" -ge 2
# user errors: one line with file:line:col, exit 2
printf 'model: {d: 4}\nmetrics:\n  hessian: {at: [5, 5]}\n' > "$TMP/bad.yaml"
out=$("$TSIM" validate "$TMP/bad.yaml" 2>&1); rc=$?
check "a repeated iteration in metrics.hessian.at is a one-line error, exit 2 ($out)" \
  test $rc -eq 2 -a "$(echo "$out" | wc -l)" -eq 1 -a -n "$(echo "$out" | grep "bad.yaml:3:.*metrics.hessian.at")"
printf 'model: {d: 4}\nmetrics: {hessian: {top: 3}}\n' > "$TMP/bad2.yaml"
out=$("$TSIM" validate "$TMP/bad2.yaml" 2>&1); rc=$?
check "metrics.hessian keys without a schedule are refused ($out)" \
  test $rc -eq 2 -a -n "$(echo "$out" | grep "bad2.yaml:2:.*metrics.hessian.top")"
# train.iterations grown on resume, with spectra at metrics.hessian
# log_points (their spacing follows the limit) and rows at a fixed
# log_every: cells stopped on the way restart (their saved states are
# dropped), so the spectra are those of a run with the new limit from the
# start
cat > "$TMP/grow.yaml" <<'YAML'
name: grow
model:   {d: 6, K: 4}
data:    {n: 30000, n_test: 0, seed: 5, chunk: 512, engine: sharded}
init:    {scale: 0.3, seed: [1, 2]}
train:   {eta: 0.02, iterations: 300, log_every: 50}
metrics:
  hessian: {log_points: 6, top: 2, bottom: 2}
YAML
run_np 1 run "$TMP/grow.yaml" -q -o "$TMP/g300" >/dev/null 2>&1
run_np 1 run "$TMP/grow.yaml" -q -o "$TMP/g900" --set train.iterations=900 >/dev/null 2>&1
TSIM_FAKE_CLOCK=0.001 run_np 1 run "$TMP/grow.yaml" -q -o "$TMP/gstop" --time-limit 0.4 \
  >/dev/null 2>&1; rc=$?
check "stopped on the way by --time-limit (exit 3)" test "$rc" -eq 3
run_np 2 run "$TMP/grow.yaml" --progress log -o "$TMP/gstop" --resume --set train.iterations=900 \
  >"$TMP/grow.log" 2>&1; rc=$?
check "resumed with train.iterations 300 -> 900: exit 0" test "$rc" -eq 0
for f in hessian.csv spectrum.csv metrics.csv cells.csv; do
  check "... $f equals a run with 900 iterations from the start" same_csv "$TMP/g900/$f" "$TMP/gstop/$f"
done
finish
