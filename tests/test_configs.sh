#!/usr/bin/env bash
# test_configs.sh - bad input: each malformed config gives one line
# "FILE:LINE:COL: key: what (allowed)" on stderr, exit status 2, no crash,
# on 1 and on 3 ranks; an existing run directory is never touched.
SUITE=configs
source "$(dirname "$0")/lib.sh"

good='name: good
model:   {d: 4, K: [1, 2]}
data:    {n: 100, n_test: 50, seed: 1}
init:    {seed: 0}
train:   {eta: 0.01, iterations: 20, log_every: 5}'
echo "$good" > "$TMP/good.yaml"

# bad NAME EXPECTED-REGEX CONTENT: write, run validate + run, check.
bad() {
  local name=$1 want=$2 content=$3 f="$TMP/bad-$1.yaml"
  printf '%s\n' "$content" > "$f"
  # every case as a singleton; every third also on 3 ranks (all ranks must
  # leave together: the timeout in run_np catches a hang)
  local nps=1
  CASES=$((${CASES:-0} + 1))
  [ $((CASES % 3)) -eq 1 ] && nps="1 3"
  for np in $nps; do
    if [ $np -eq 1 ]; then
      timeout 60 "$TSIM" run "$f" -o "$TMP/out-$name" >"$TMP/$name.out" 2>"$TMP/$name.err"
    else
      run_np $np run "$f" -o "$TMP/out-$name" >"$TMP/$name.out" 2>"$TMP/$name.err"
    fi
    local rc=$? lines
    lines=$(grep -c . "$TMP/$name.err")
    if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && grep -qE "^$f:$want" "$TMP/$name.err"; then
      ok "$name ($np ranks): $(cat "$TMP/$name.err")"
    else
      fail "$name ($np ranks): exit $rc, stderr: $(head -c 400 "$TMP/$name.err")"
    fi
    check "$name ($np ranks): wrote nothing" test ! -e "$TMP/out-$name"
  done
}
bad unknown_key      '4:3: model.width: unknown key \(allowed: .*K.*\)' \
'name: x
model:
  d: 4
  width: 3'
bad unknown_section  '2:1: trian: unknown key \(allowed: name, model' \
'name: x
trian: {eta: 0.1}'
bad wrong_type       '2:12: model.d: .ten. is not an integer' \
'name: x
model: {d: ten}'
bad out_of_range     '2:29: train.eta: -0.5 is out of range \(a number > 0\)' \
'name: x
train: {iterations: 5, eta: -0.5}'
bad zero_K           '2:13: model.K: 0 is out of range \(an integer from 1' \
'name: x
model: {K: [0, 1]}'
bad chunk_not_groups  '2:24: data.chunk: 100 is not a multiple of 8 \(a multiple of 8 from 8 to' \
'name: x
data: {n: 1000, chunk: 100}'
bad list_not_allowed '2:20: train.log_every: a list is not allowed here' \
'name: x
train: {log_every: [1, 2]}'
bad bad_enum         '2:21: model.activation: .cubic. is not allowed \(one of: quadratic' \
'name: x
model: {activation: cubic}'
bad malformed_yaml   '3:[0-9]+: model: malformed YAML: .*flow mapping that began at 2:8' \
'name: x
model: {d: 4
train: {eta: 0.1}'
# a list typo names the key (and where an unclosed list began)
bad list_unclosed    '4:6: model.K: malformed YAML: did not find expected .,. or .]. while parsing a flow sequence that began at 3:6' \
'name: x
model:
  K: [3, 4
train: {eta: 0.1}'
bad list_two_commas  '3:9: model.K: malformed YAML: did not find expected node content' \
'name: x
model:
  K: [3,, 4]'
bad missing_file     '2:16: data.x_file: .*nope.npy.*(No such file|cannot open)' \
'name: x
data: {x_file: nope.npy, y_file: nope_y.npy}'
bad nested_list      '2:13: model.K: nested lists are not allowed' \
'name: x
model: {K: [[1, 2], 3]}'
bad duplicate_key    '3:3: model.d: duplicate key' \
'model:
  d: 4
  d: 5'
bad empty_list       '2:14: init.seed: empty list' \
'name: x
init: {seed: []}'
bad mapping_value    '2:14: train.eta: a mapping is not allowed here' \
'name: x
train: {eta: {a: 1}}'
bad both_logs        '2:35: train.log_points: cannot be combined with train.log_every' \
'name: x
train: {log_every: 3, log_points: 10}'
bad lone_x_file      '2:16: data.x_file: needs data.y_file as well' \
'name: x
data: {x_file: x.npy}'
bad deep_nesting     '1:[0-9]+: model.K: malformed YAML: nested deeper than 64 lists and mappings' \
"model: {K: $(printf '[%.0s' $(seq 100000))1$(printf ']%.0s' $(seq 100000))}"
bad name_path        '1:7: name: must be a run name \(a non-empty string without ./., not \. or \.\.\)' \
'name: ../..
model: {d: 4}'
bad no_separated     '3:56: teacher.min_angle: found only 2 of 3 directions 80 degrees apart in d = 2' \
'name: angle
model: {activation: relu, d: 2, K: 2}
teacher: {direction: separated, neurons: 3, min_angle: [10, 80]}'
bad huge_n           '2:11: data.n: times \(model.d \+ 1\) is too large \(at most 1e15 numbers\)' \
'name: x
data: {n: 4611686018427387904}'
bad not_a_mapping    '1:1: the config must be a mapping' \
'- just
- a list'
bad d_times_K        '2:27: model.K: model.d \* model.K = 200000000 is too large \(at most 1e8\)' \
'name: x
model: {d: 100000, K: [1, 2000]}'
bad d_times_K_d      '2:17: model.d: model.d \* model.K = 200000000 is too large \(at most 1e8\)' \
'name: x
model: {d: [10, 100000], K: 2000}'
bad too_many_cells   '3:14: init.seed: grid too large: the list lengths 1000 \(model.K\) x 10001 \(init.seed\) make 10001000 cells \(at most 1e7 cells in one config' \
"name: x
model: {K: [$(seq -s, 1 1000)]}
init: {seed: [$(seq -s, 1 10001)]}"
bad nan_real         "2:14: train.eta: '.nan' is NaN: values must be finite \\(a number > 0\\)" \
'name: x
train: {eta: .nan}'
bad inf_in_list      "2:16: model.C: '.inf' is infinite: values must be finite" \
'name: x
model: {C: [1, .inf]}'
bad minus_inf        "2:17: teacher.norm: '-.Inf' is infinite: values must be finite" \
'name: x
teacher: {norm: -.Inf}'
bad plain_inf        "2:24: train.diverge_above: 'inf' is infinite: values must be finite" \
'name: x
train: {diverge_above: inf}'
bad overflow_real    "2:14: train.tol: '1e999' overflows to infinity: values must be finite" \
'name: x
train: {tol: 1e999}'
bad flow_momentum    '2:39: train.momentum: unsupported with train.method flow \(0, or train' \
'name: x
train: {method: flow, T: 1, momentum: 0.5}'
bad flow_decay       '3:23: train.weight_decay: unsupported with train.method flow' \
'name: x
train: {method: [gd, flow], T: 1,
        weight_decay: 0.1}'

# samples beyond this machine's memory (8 TB): every rank leaves with one
# error naming the keys and the way out, exit 1, no abort (was: out of
# memory, abort() and mpirun's signal report)
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1" \
  run_np 3 run "$TMP/good.yaml" -q --set data.n=10000000000 --set model.d=100 --set data.engine=sharded \
  -o "$TMP/oom" >"$TMP/oom.out" 2>"$TMP/oom.err"; rc=$?
check "samples that cannot be allocated: exit 1, one message naming data.n and regenerate ($(head -c 300 "$TMP/oom.err"))" \
  bash -c "[ $rc -eq 1 ] && grep -q '^data.n = 10000000000, model.d = 100: .* need .* GB, more than it could allocate; use data.storage: regenerate' '$TMP/oom.err' &&
           ! grep -q -i -E 'out of memory|abort|signal' '$TMP/oom.err'"

# --set errors point into the --set text
run_np 1 validate "$TMP/good.yaml" --set 'model.K=[1, -3]' >/dev/null 2>"$TMP/set.err"
rc=$?
check "--set with a bad value: exit 2 and a located message" \
  bash -c "[ $rc -eq 2 ] && grep -qE '^--set:1:[0-9]+: model.K: -3 is out of range' '$TMP/set.err'"

# every --set error is "--set:N:COL: key: what", N the option's number, COL
# the column in its text (here the second --set; the first is fine)
set_case() { # set_case EXPECTED-REGEX ARGS...: validate on 1 rank, run on 3
  local want=$1; shift
  SETS=$((${SETS:-0} + 1))
  local out="$TMP/out-set-$SETS"
  for np in 1 3; do
    local cmd=validate
    [ $np -eq 3 ] && cmd=run
    if [ $np -eq 1 ]; then
      timeout 60 "$TSIM" $cmd "$TMP/good.yaml" --set train.eta=0.02 "$@" -o "$out" >/dev/null 2>"$TMP/set.err"
    else
      run_np $np $cmd "$TMP/good.yaml" --set train.eta=0.02 "$@" -o "$out" >/dev/null 2>"$TMP/set.err"
    fi
    local rc=$?
    check "$* ($cmd, $np ranks): exit 2, one line: $(head -c 200 "$TMP/set.err")" \
      bash -c "[ $rc -eq 2 ] && [ \$(wc -l < '$TMP/set.err') -eq 1 ] && grep -qE \"^$want\" '$TMP/set.err'"
    check "$* ($cmd, $np ranks): wrote nothing" test ! -e "$out"
  done
}
set_case '--set:2:7: model\.\.K: empty part in the key' --set 'model..K=3'
set_case '--set:2:7: model\.\.\.K: empty part in the key' --set 'model...K=[3,4]'
set_case '--set:2:1: \.model\.d: empty part in the key' --set '.model.d=5'
set_case '--set:2:9: model\.d\.: empty part in the key' --set 'model.d.=5'
set_case '--set:2:1: empty key' --set '=3'
set_case "--set:2:8: model\\.K: no '=' \\(did you mean --set model\\.K=3\\?\\)" --set model.K 3
set_case "--set:2:8: model\\.K: no '=' \\(did you mean --set model\\.K=VALUE\\?\\)" --set=model.K
set_case '--set:2:7: model\.width: unknown key \(allowed: K, ' --set 'model.width=3'
set_case '--set:2:1: trian: unknown key \(allowed: name, model' --set 'trian.eta=0.1'
set_case '--set:2:14: model\.K: malformed YAML: ' --set 'model.K=[1, 2'
set_case '--set:2:13: model\.K: -3 is out of range' --set 'model.K=[1, -3]'
set_case '--set:2:11: train\.eta: empty value' --set 'train.eta='

for v in nan .NaN -.inf '[0.1, .inf]'; do
  run_np 1 validate "$TMP/good.yaml" --set "train.eta=$v" >/dev/null 2>"$TMP/set.err"; rc=$?
  check "--set train.eta=$v: exit 2, located and named ($(head -c 200 "$TMP/set.err"))" \
    bash -c "[ $rc -eq 2 ] && grep -qE \"^--set:1:[0-9]+: train.eta: '[^']*' is (NaN|infinite): values must be finite\" '$TMP/set.err'"
done

# an existing run directory is never overwritten
run_np 2 run "$TMP/good.yaml" -q -o "$TMP/run" >/dev/null 2>&1
check "good config runs" test -s "$TMP/run/cells.csv"
sum_before=$(cat "$TMP"/run/* | md5sum)
printf 'name: x\nmodel: {d: 0}\n' > "$TMP/bad-over.yaml"
run_np 2 run "$TMP/bad-over.yaml" -q -o "$TMP/run" >/dev/null 2>&1
rc=$?
check "bad config into an existing run directory: exit 2" test $rc -eq 2
run_np 2 run "$TMP/good.yaml" -q -o "$TMP/run" >/dev/null 2>"$TMP/again.err"
rc=$?
check "rerun without --force is refused: exit 2, one line" \
  bash -c "[ $rc -eq 2 ] && grep -q 'use --force' '$TMP/again.err' && [ \$(wc -l < '$TMP/again.err') -eq 1 ]"
check "the earlier results are untouched" test "$(cat "$TMP"/run/* | md5sum)" = "$sum_before"
run_np 2 run "$TMP/good.yaml" -q --force -o "$TMP/run" >/dev/null 2>&1
check "--force replaces them" test $? -eq 0

# 1e10 cells: refused from the list lengths, before a cell is made (the
# message is the list-length check's own; timeout: a hang guard only)
L100=$(seq -s, 1 100)
for np in 1 3; do
  cmd=validate
  [ $np -eq 3 ] && cmd=run
  TSIM_TEST_TIMEOUT=60 run_np $np $cmd "$TMP/good.yaml" --set "model.K=[$L100]" --set "init.seed=[$L100]" \
    --set "data.seed=[$L100]" --set "teacher.seed=[$L100]" --set "train.eta=[$(seq -s, 0.001 0.001 0.1)]" \
    -o "$TMP/out-1e10" >/dev/null 2>"$TMP/1e10.err"; rc=$?
  check "1e10 cells ($cmd, $np ranks): exit 2, one line from the list lengths: $(head -c 300 "$TMP/1e10.err")" \
    bash -c "[ $rc -eq 2 ] && [ \$(wc -l < '$TMP/1e10.err') -eq 1 ] &&
             grep -q '^--set:1:9: model.K: grid too large: the list lengths 100 (model.K) x 100 (init.seed) x 100 (train.eta) x 100 (teacher.seed) x 100 (data.seed) make 10000000000 cells (at most 1e7 cells in one config' '$TMP/1e10.err'"
  check "1e10 cells ($cmd, $np ranks): wrote nothing" test ! -e "$TMP/out-1e10"
done
check "tsim run --help states the limit of cells" bash -c "'$TSIM' run --help | grep -q 'at most 1e7 cells'"
# a grid just under the limit, SIGTERM while its cells are checked (at cell
# 131072: TSIM_FAULT config=, src/fault.h): exit 3 at once, nothing written
# (timeout: a hang guard only; the whole check of 9.99e6 cells takes ~15 s)
for np in 1 3; do
  TSIM_FAULT=config=131072,do=TERM TSIM_TEST_TIMEOUT=120 run_np $np run "$TMP/good.yaml" \
    --set "model.K=[$L100]" --set "init.seed=[$L100]" --set "data.seed=[$(seq -s, 1 999)]" \
    -o "$TMP/out-9.99e6" >/dev/null 2>"$TMP/999.err"; rc=$?
  check "9.99e6 cells, SIGTERM while they are checked ($np ranks): exit 3, one line ($(head -c 200 "$TMP/999.err"))" \
    bash -c "[ $rc -eq 3 ] && grep -q 'before any work; nothing written' '$TMP/999.err'"
  check "... wrote nothing" test ! -e "$TMP/out-9.99e6"
done
# above 100 cells validate prints a summary, not a line per cell
out=$("$TSIM" validate "$TMP/good.yaml" --set "model.K=[$(seq -s, 1 10)]" --set "init.seed=[$L100]" 2>&1)
summary_ok() {
  grep -q '^  1000 cells = 10 (model.K) x 100 (init.seed)' <<<"$out" &&
    grep -q '^  axis init.seed  *100 values: \[1, 2, 3, 4, 5, \.\.\., 100\]' <<<"$out" &&
    grep -q '^  1000 cells on ' <<<"$out" && ! grep -q 'cell 999:' <<<"$out" &&
    [ "$(wc -l <<<"$out")" -lt 20 ]
}
check "validate of 1000 cells: a summary of the axes ($(wc -l <<<"$out") lines)" summary_ok
out=$("$TSIM" validate "$TMP/good.yaml" --set "model.K=[1]" --set "init.seed=[$L100]" 2>&1)
check "validate of 100 cells: a line per cell" grep -q '^  cell 99: K=1 seed=100  engine=' <<<"$out"

# A stop signal before any work: exit 3, one line, nothing written. No
# clock: the config comes from a FIFO, whose opening for writing returns only
# once tsim has opened it to read its config; then the signal goes to that
# process directly (pending at once), then the FIFO is closed (end of file,
# should the signal not have interrupted the read). On 3 ranks only rank 1
# reads the FIFO (the others good.yaml), so all leave on rank 1's stop.
fifo_stop() { # fifo_stop NAME SIGNAL NP COMMAND EXPECTED-REGEX
  local name=$1 sig=$2 np=$3 cmd=$4 want=$5 d="$TMP/$1" job rc
  mkdir -p "$d" && mkfifo "$d/fifo"
  cat > "$d/rank.sh" <<EOF
#!/bin/sh
cfg="$TMP/good.yaml"
if [ "\${OMPI_COMM_WORLD_RANK:-0}" = $((np > 1 ? 1 : 0)) ]; then
  echo \$\$ > "$d/pid"
  cfg="$d/fifo"
fi
exec "$TSIM" $cmd "\$cfg" -q -o "$d/out"
EOF
  if [ "$np" -eq 1 ]; then
    timeout -k 5 60 sh "$d/rank.sh" >/dev/null 2>"$d/err" &
  else
    timeout -k 5 60 mpirun -q --oversubscribe -np "$np" sh "$d/rank.sh" >/dev/null 2>"$d/err" &
  fi
  job=$!
  timeout 60 python3 - "$d/fifo" "$d/pid" "$sig" <<'PY'
import os, signal, sys
fd = os.open(sys.argv[1], os.O_WRONLY)  # returns once tsim has the FIFO open
os.kill(int(open(sys.argv[2]).read()), getattr(signal, "SIG" + sys.argv[3]))
os.close(fd)
PY
  wait $job; rc=$?
  check "SIG$sig while $cmd reads its config ($np ranks): exit 3, one line: $(head -c 200 "$d/err")" \
    bash -c "[ $rc -eq 3 ] && [ \$(wc -l < '$d/err') -eq 1 ] && grep -qE '^$want$' '$d/err'"
  check "SIG$sig while $cmd reads its config ($np ranks): nothing written" test ! -e "$d/out"
}
fifo_stop term_run TERM 1 run 'tsim: stopped by signal 15 \(Terminated\) before any work; nothing written'
fifo_stop usr1_validate USR1 1 validate 'tsim: stopped by signal 10 \(User defined signal 1\) before any work; nothing written'
fifo_stop int_run_3 INT 3 run 'rank 1: tsim: stopped by signal 2 \(Interrupt\) before any work; nothing written'

# validate prints the expanded grid; --set makes an axis
out=$(run_np 1 validate "$TMP/good.yaml" --set 'model.K=[2,4,8]' --set init.seed=[5,6] 2>&1)
check "validate: 6 cells from --set axes" grep -q '6 cells' <<<"$out"
check "validate: cell labels" grep -q 'cell 5: K=8 seed=6' <<<"$out"
check "tsim --help documents the commands" bash -c "'$TSIM' --help | grep -q 'validate CONFIG'"
check "tsim run --help documents every key" bash -c "'$TSIM' run --help | grep -q 'train.log_points'"
check "tsim run --help gives act(z) of each activation, from the activation table" \
  bash -c "'$TSIM' run --help | grep -F 'model.activation' |
    grep -qF 'act(z): quadratic = z^2, relu = max(z, 0), abs = |z|'"
"$TSIM" run >/dev/null 2>"$TMP/noarg.err"; rc=$?
check "run without CONFIG: exit 2" test $rc -eq 2
"$TSIM" frobnicate >/dev/null 2>&1; rc=$?
check "unknown command: exit 2" test $rc -eq 2
finish
