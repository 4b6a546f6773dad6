/* progress.h - a run's progress on rank 0's stdout: a live line redrawn in
 * place (a terminal), or a line every period plus one per finished cell (a
 * log). Only prints: the counts come from the coordinator. */
#ifndef TSIM_PROGRESS_H
#define TSIM_PROGRESS_H

#include <stdint.h>
#include "tsim/config.h"
#include "tsim/result.h"

enum { PROGRESS_AUTO = 0, PROGRESS_LIVE, PROGRESS_LOG, PROGRESS_NONE };

typedef struct progress_meter {
  int mode;        /* PROGRESS_LIVE, _LOG or _NONE */
  double period;   /* seconds between two lines in log mode */
  double t0, last; /* tsim_wtime() at the start and at the last line */
} progress_meter;

/* What a progress line says. */
typedef struct progress_counts {
  int64_t done, total, diverged;
  int running;
} progress_counts;

/* MODE (PROGRESS_*; AUTO: live if stdout and stderr are terminals, else log), none
 * when QUIET; the run started at T0 (tsim_wtime). */
void progress_init(progress_meter *p, int mode, int quiet, double period, double t0);
/* Is a progress line due? (Never when the mode is none.) */
int progress_due(const progress_meter *p);
/* The progress line; FINAL: the last one (a live line ends its line). */
void progress_line(progress_meter *p, const progress_counts *c, int final);
/* Log mode: the line of a finished cell R, the DONE-th of TOTAL. */
void progress_cell(const progress_meter *p, const tsim_config *cfg, const cell_result *r,
                   int64_t done, int64_t total);

#endif
