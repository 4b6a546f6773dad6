#!/usr/bin/env bash
# quickstart.sh - set up, build and run the main job: Wang & Abernethy's
# Figure 1 grid (configs/wang2021_fig1.yaml) on 2 MPI ranks into
# out/wang2021_fig1/, print entry times per K, and draw the figures.
#   ./quickstart.sh [extra tsim run options, e.g. --set init.seed=[0,1]]
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
make -j2 bin/tsim
export OPENBLAS_NUM_THREADS=1
# Open MPI refuses to start as root unless told so explicitly.
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun --oversubscribe -np 2 bin/tsim run configs/wang2021_fig1.yaml --force "$@"
scripts/entry_times.sh out/wang2021_fig1/cells.csv
/usr/bin/python3 analysis/plot_run.py out/wang2021_fig1 && echo "figures: out/wang2021_fig1/figures/"
