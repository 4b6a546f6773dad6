/* sched.h - runs the cells of a grid over the ranks and hands their results
 * to the run directory in cell-id order. */
#ifndef TSIM_SCHED_H
#define TSIM_SCHED_H

#include "tsim/config.h"
#include "tsim/parallel.h"

typedef struct sched_options {
  const char *outdir;
  int force;
  int quiet;
  const char *command_line;
} sched_options;

/* Collective over the world. Returns the exit status (0, 1, 2). */
int sched_run(const tsim_config *cfg, const sched_options *opt,
              tsim_error *err);

#endif
