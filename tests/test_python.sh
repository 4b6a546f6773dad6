#!/usr/bin/env bash
# test_python.sh - the Python package python/tsim (docs/python.md): every
# shipped config run at its small size (tests/small_sets.sh) and loaded
# (row counts, values and dtypes against the CSVs, the grid axes joined
# onto every row, config.yaml against manifest.json); a run still going
# (held in a cell), stopped with cells in pending/, dead without a manifest
# (a half-written line) or after a resume, failed, resumed, --cells slices
# and their merge; tsim.plot and make plot (PNG, median/IQR by hand,
# facets, refusals). The checks themselves are in tests/python_checks.py.
SUITE=python
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
export PYTHONPATH="$ROOT/python" PYTHONDONTWRITEBYTECODE=1
if ! "$PY" -c 'import numpy, pandas, yaml, matplotlib' 2>/dev/null; then
  fail "$PY with numpy, pandas, yaml, matplotlib (scripts/deps.sh installs them)"
  finish; exit
fi
# pycheck CASE ARGS...: relay python_checks.py's ok/FAIL lines
pycheck() {
  local line rc
  "$PY" "$ROOT/tests/python_checks.py" "$@" >"$TMP/py.out" 2>"$TMP/py.err"; rc=$?
  while IFS= read -r line; do
    case $line in
      "ok "*) ok "${line#ok }" ;;
      "FAIL "*) fail "${line#FAIL }" ;;
    esac
  done <"$TMP/py.out"
  [ $rc -eq 0 ] || fail "python_checks.py $1 did not run to its end: $(tail -1 "$TMP/py.err")"
}

# ---- every shipped config at its small size (tests/small_sets.sh)
source "$ROOT/tests/small_sets.sh"
for cfg in "$ROOT"/configs/*.yaml; do
  name=$(basename "$cfg" .yaml)
  sets=$(small_sets "$name") || { fail "$name: no small size in tests/small_sets.sh"; continue; }
  # shellcheck disable=SC2086
  run_np 2 run "$cfg" $sets -o "$TMP/$name" -q >"$TMP/$name.log" 2>&1 || {
    fail "$name: tsim run failed: $(tail -1 "$TMP/$name.log")"; continue; }
  "$TSIM" validate "$TMP/$name/config.yaml" >"$TMP/$name.axes" 2>&1
  pycheck run "$TMP/$name" "$TMP/$name.axes"
done

# ---- runs of their own for the states and the plots: Fig. 1 with its 5
# seeds, Fig. 4 with 2 seeds per (K, C), Fig. 9 with all 10 step sizes
FIG1="$ROOT/configs/wang2021_fig1.yaml" FIG4="$ROOT/configs/wang2021_fig4.yaml"
SET1=(--set train.iterations=300 --set train.log_every=25)
SET4=(--set 'init.seed=[0,1]' --set train.iterations=100)
run_np 2 run "$FIG1" "${SET1[@]}" -o "$TMP/fig1" -q >/dev/null 2>&1
run_np 2 run "$FIG4" "${SET4[@]}" -o "$TMP/fig4" -q >/dev/null 2>&1
run_np 2 run "$ROOT/configs/wang2021_fig9.yaml" --set 'init.seed=[0,1,2]' \
  --set train.iterations=300 -o "$TMP/fig9" -q >/dev/null 2>&1
check "the runs for states and plots" test -s "$TMP/fig1/cells.csv" -a -s "$TMP/fig4/cells.csv" \
  -a -s "$TMP/fig9/cells.csv"

# ---- the state of a run
# held at cell 3, t = 5 (one cell at a time) until a stop: still running,
# its lock live; then stopped there: cells 0-2 in the tables, 3 and 4
# unfinished, 5-14 finished and waiting in pending/
(TSIM_FAULT="cell=3,iter=5,do=hold,file=$TMP/held" run_np 1 run "$FIG1" "${SET1[@]}" \
   --set run.batch=1 -o "$TMP/stop" -q >/dev/null 2>&1; echo $? >"$TMP/stop.rc") &
wait_for "$TMP/held"
pycheck running "$TMP/stop" "run held in cell 3"
touch "$TMP/stop/STOP"
wait
check "stopped run: exit status 3" test "$(cat "$TMP/stop.rc")" = 3
pycheck stopped "$TMP/stop"
# the same without a manifest (died before writing it), a foreign cell's
# row and a half-written line at the end of metrics.csv
cp -r "$TMP/stop" "$TMP/nomani"
rm "$TMP/nomani/manifest.json"
printf '9,0,1,1,1,1,1,1\n9,25,0.6922' >>"$TMP/nomani/metrics.csv"
pycheck crashed "$TMP/nomani" "no manifest, no lock"
pycheck lock "$TMP/nomani" "$(hostname)" $$ 0 running
pycheck lock "$TMP/nomani" "$(hostname)" 999999999 0 crashed
pycheck lock "$TMP/nomani" elsewhere.example 1 30 running
pycheck lock "$TMP/nomani" elsewhere.example 1 300 crashed
# resumed and died: the manifest of the stop is older than the tables
cp -r "$TMP/stop" "$TMP/stale"
touch -d '2001-01-01' "$TMP/stale/manifest.json"
pycheck crashed "$TMP/stale" "manifest older than the tables, no lock"
rm -f "$TMP/stop/STOP"
run_np 2 resume "$TMP/stop" -q >/dev/null 2>&1
check "resume: exit status 0" test $? = 0
pycheck same "$TMP/stop" "$TMP/fig1" "stopped + resumed run"
TSIM_FAULT=batch=1,do=fail run_np 1 run "$FIG1" "${SET1[@]}" -o "$TMP/failed" -q >/dev/null 2>&1
check "failing run: exit status 1" test $? = 1
pycheck failed "$TMP/failed"
# slices and their merge (tsim merge)
for i in 0 1; do
  run_np 1 run "$FIG4" "${SET4[@]}" --cells $i/2 -o "$TMP/slice$i" -q >/dev/null 2>&1
  pycheck slice "$TMP/slice$i" $i 2
done
"$TSIM" merge -o "$TMP/merged" "$TMP/slice0" "$TMP/slice1" >/dev/null 2>&1
check "tsim merge: exit status 0" test $? = 0
pycheck same "$TMP/merged" "$TMP/fig4" "merged run"
# train.iterations as an axis: cells.csv names it and the count alike
run_np 1 run "$FIG1" --set 'train.iterations=[20,30]' --set init.seed=0 -o "$TMP/iters" -q \
  >/dev/null 2>&1
pycheck iteraxis "$TMP/iters"

# ---- the loader's copy of the config schema
"$TSIM" run --help >"$TMP/help.txt" 2>&1
pycheck schema "$TMP/help.txt"
mapfile -t SETS < <("$PY" "$ROOT/tests/python_checks.py" singleton-sets "$TMP/fig1")
run_np 1 run "$FIG1" "${SETS[@]}" --set train.iterations=[20] -o "$TMP/single" -q \
  >"$TMP/single.log" 2>&1 ||
  fail "every gridable key a list: tsim run: $(tail -1 "$TMP/single.log")"
pycheck singleton "$TMP/single"

# ---- plots
pycheck summarise
pycheck plots "$TMP/fig1" "$TMP/fig4" "$TMP/fig9" "$TMP/xu2023_fig1"
out=$(cd "$ROOT" && make -s plot RUN="$TMP/fig1" Y=q9 X=t BY=K 2>&1)
png="$TMP/fig1/figures/q9_vs_t_by_K.png"
check "make plot RUN=... Y=q9 X=t BY=K prints the PNG it wrote" test "$out" = "$png" -a -s "$png"
out=$(cd "$ROOT" && make -s plot RUN="$TMP/fig9" Y=train_loss BY=seed 2>&1); rc=$?
check "make plot refuses 30 panels in one line, status 2" \
  test $rc -ne 0 -a "$(grep -c '^tsim plot: .*30 panels' <<<"$out")" = 1
# the README's one-liner, with Debian's python3 and with the python3 on PATH
ext() { "$1" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null; }
ONE="import tsim; r = tsim.load('fig1')"
ONE="$ONE; print(r.cells.groupby('K').final_train_loss.mean())"
for py in "$PY" "$(command -v python3)"; do
  [ -n "$py" ] || continue
  if [ "$py" != "$PY" ]; then
    [ "$(readlink -f "$py")" = "$(readlink -f "$PY")" ] && continue
    if [ "$(ext "$py")" != "$(ext "$PY")" ] && ! "$py" -c 'import pandas' 2>/dev/null; then
      echo "skip $SUITE: $py: another Python version, without pandas"; continue
    fi
  fi
  out=$(cd "$TMP" && "$py" -c "$ONE" 2>&1)
  check "$py: tsim.load(...).cells.groupby('K').final_train_loss.mean() gives 3 rows" \
    test "$(grep -cE '^(1|3|10) +[0-9.e-]+$' <<<"$out")" = 3
done
finish
