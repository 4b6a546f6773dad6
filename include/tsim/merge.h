/* merge.h - join the run directories of grid slices (tsim run --cells i/N)
 * into one whose tables are those of a single run over the whole grid. */
#ifndef TSIM_MERGE_H
#define TSIM_MERGE_H

#include "tsim/common.h"

/* Merge the NDIRS slice directories DIRS into OUTDIR (refused if it holds
 * results, unless FORCE). The slices must come from the same config (equal
 * config_hash), be complete, and together hold every cell exactly once. */
int merge_runs(const char *outdir, char *const *dirs, int ndirs, int force,
               tsim_error *err);

#endif
