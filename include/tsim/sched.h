/* sched.h - a run of the grid: the cells planned (plan.h), the run
 * directory opened or resumed (resume.h), the cells run by a coordinator and
 * teams of ranks (coordinator.h), the manifest and the tally written.
 *
 * The world is split into teams of g ranks. Rank 0 coordinates: it hands
 * the next cells (longest expected first) to whichever team is free,
 * receives the results and is the only writer of the run directory; it also
 * computes inside team 0, so no rank idles. Inside a team the samples are
 * sharded and summed exactly, so every output file is the same whatever the
 * world and team sizes. */
#ifndef TSIM_SCHED_H
#define TSIM_SCHED_H

#include "tsim/config.h"
#include "tsim/parallel.h"
#include "tsim/progress.h"

typedef struct sched_options {
  const char *outdir;
  int force;
  int quiet;
  const char *command_line;
  int64_t team_size;        /* 0: from the config or automatic */
  const char *cells;        /* "a:b" or "i/N" slice of the grid, or NULL */
  double progress_seconds;  /* progress line period in log mode */
  int progress;             /* PROGRESS_*; AUTO: live if stdout is a tty */
  int resume;               /* continue OUTDIR from its checkpoint */
  double checkpoint_seconds;
  double time_limit;        /* seconds; stop with a checkpoint after them */
} sched_options;

/* Collective over the world. Returns the exit status (0, 1, 2, 3). */
int sched_run(const tsim_config *cfg, const sched_options *opt,
              tsim_error *err);

#endif
