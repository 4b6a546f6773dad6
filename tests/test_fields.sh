#!/usr/bin/env bash
# test_fields.sh - no field that means nothing: a grid axis over a key a
# cell does not read (eta of a gradient flow, n of the population regime,
# the seed of init.method claim2, ...) is bad input (exit 2, nothing
# written): those cells would differ in nothing.
SUITE=fields
source "$(dirname "$0")/lib.sh"
quiet() { "$@" >/dev/null 2>&1; }

# ---- an axis over a key the cell does not read: exit 2, nothing written
# axis NAME KEY-REGEX CONFIG: `tsim run` on CONFIG fails with one line
# naming the file, a line:col and the key, and creates no run directory
axis() {
  printf '%s\n' "$3" >"$TMP/$1.yaml"
  timeout 60 "$TSIM" run "$TMP/$1.yaml" -o "$TMP/out-$1" >"$TMP/$1.out" 2>"$TMP/$1.err"
  local rc=$?
  check "axis $1: exit 2 (got $rc), one line 'FILE:LINE:COL: $2: ...', nothing written" \
    bash -c "[ $rc -eq 2 ] && [ \$(wc -l <'$TMP/$1.err') -eq 1 ] &&
             grep -qE '^$TMP/$1.yaml:[0-9]+:[0-9]+: $2: ' '$TMP/$1.err' && [ ! -e '$TMP/out-$1' ]"
}
axis flow_eta 'train\.eta' 'model: {d: 3}
train: {method: flow, T: 5, eta: [0.1, 0.2]}'
axis pop_n 'data\.n' 'model: {d: 3}
data: {regime: population, n: [100, 200]}'
axis pop_data_seed 'data\.seed' 'model: {d: 3}
data: {regime: [empirical, population], seed: [1, 2]}'
axis gd_T 'train\.T' 'model: {d: 3}
train: {T: [5, 10]}'
axis zero_eta 'train\.eta' 'model: {d: 3}
train: {iterations: 0, eta: [0.1, 0.2]}'
axis claim2_seed 'init\.seed' 'model: {activation: abs, d: 3, K: 2, norm_tied: true}
data: {regime: population}
init: {method: claim2, seed: [0, 1]}'
axis scaled_sigma 'init\.sigma' 'model: {d: 3}
init: {method: scaled, sigma: [0.1, 0.2]}'
axis e1_teacher_seed 'teacher\.seed' 'model: {d: 3}
teacher: {direction: e1, seed: [1, 2]}'
# where every cell reads it, the same axis is fine
printf 'model: {d: 3}\ninit: {method: gaussian, sigma: [0.1, 0.2]}\n' >"$TMP/ok.yaml"
check "an axis every cell reads is accepted" quiet "$TSIM" validate "$TMP/ok.yaml"

# a one-value list cannot merge rows: accepted
printf 'model: {d: 3}\ninit: {sigma: [0.2]}\n' >"$TMP/one.yaml"
check "a one-value list over a key the cell does not read is accepted" \
  quiet "$TSIM" validate "$TMP/one.yaml"
finish
