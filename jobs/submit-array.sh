#!/usr/bin/env bash
# submit-array.sh - run a tsim grid as a Slurm job array of N tasks, then
# merge the slices (and plot them) in a job that waits for every task.
#
#   jobs/submit-array.sh CONFIG N [OUTDIR] [tsim run args...]
#
# Task i runs `tsim run CONFIG --cells i/N -o OUTDIR/slice-i --resume` under
# jobs/tsim-array.sbatch (checkpoint + requeue like jobs/tsim.sbatch); the
# merge job (jobs/tsim-merge.sbatch, --dependency=afterok:ARRAY) writes
# OUTDIR/merged. OUTDIR defaults to the config's output directory.
# Env: TSIM_SBATCH_ARGS   sbatch options for the array tasks (word-split),
#                         e.g. "-n 4 --time=2:00:00 -p short -A myproj"
#      TSIM_MERGE_SBATCH_ARGS   sbatch options for the merge job
#      TSIM_ROOT, TSIM_BIN, TSIM_LAUNCHER   as for jobs/tsim.sbatch
# Prints "array job ID (tasks 0-N-1)" and "merge job ID"; the last line is
# "ARRAYID MERGEID".
set -euo pipefail
usage() { echo "usage: jobs/submit-array.sh CONFIG N [OUTDIR] [tsim run args...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
config=$1 n=$2
shift 2
case $n in ''|*[!0-9]*|0) echo "submit-array.sh: N must be a positive integer, not '$n'" >&2; exit 2;; esac
root=${TSIM_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
tsim=${TSIM_BIN:-$root/bin/tsim}
[ -x "$tsim" ] || { echo "submit-array.sh: no tsim binary at $tsim (make, or set TSIM_BIN)" >&2; exit 2; }
[ -f "$config" ] || { echo "submit-array.sh: no config $config" >&2; exit 2; }
outdir=
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then outdir=$1; shift; fi
if [ -z "$outdir" ]; then
  outdir=$("$tsim" validate "$config" 2>/dev/null | sed -n '1s/.*, output \(.*\)$/\1/p')
  [ -n "$outdir" ] || { "$tsim" validate "$config" >/dev/null; exit 2; }
fi
# check the config (and the --set overrides) now rather than in N jobs
sets=() prev=
for a in "$@"; do
  [ "$prev" = --set ] && sets+=(--set "$a")
  case $a in --set=*) sets+=("$a");; esac
  prev=$a
done
"$tsim" validate "$config" ${sets[@]+"${sets[@]}"} >/dev/null || exit 2
# absolute paths: the jobs may run with another working directory
config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
export TSIM_ROOT=$root
# shellcheck disable=SC2086
arr=$(sbatch --parsable --array=0-$((n - 1)) ${TSIM_SBATCH_ARGS:-} \
        "$root/jobs/tsim-array.sbatch" "$config" "$n" "$outdir" "$@")
arr=${arr%%;*}
# shellcheck disable=SC2086
mrg=$(sbatch --parsable --dependency=afterok:"$arr" ${TSIM_MERGE_SBATCH_ARGS:-} \
        "$root/jobs/tsim-merge.sbatch" "$outdir")
mrg=${mrg%%;*}
echo "array job $arr (tasks 0-$((n - 1)), slices in $outdir/slice-*)"
echo "merge job $mrg (after every task succeeds: $outdir/merged)"
echo "$arr $mrg"
