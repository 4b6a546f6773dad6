/* resume.h - checkpoints and resumes, read in one place: the checkpoint
 * transaction (SCR's: the states of the running cells gathered from the
 * teams, then the tables' lengths, the finished cells and those states
 * written as a new generation, checkpoint.h), and what a resume accepts
 * (the same config and cells; train.iterations may grow) and takes over
 * (the tables and pending/ read back and cut to their whole cells, the
 * saved states). Rank 0 only; the coordinator carries the messages. */
#ifndef TSIM_RESUME_H
#define TSIM_RESUME_H

#include <stdint.h>
#include "tsim/common.h"
#include "tsim/config.h"
#include "tsim/output.h"
#include "tsim/result.h"

/* The checkpoint under way: a stop request or checkpoint_seconds start one
 * (resume_round_start), every busy team's states are awaited, kept as they
 * come (resume_round_take; a team whose batch ended first is not awaited,
 * resume_round_skip), and once none is awaited (resume_round_ready) the
 * generation is written (resume_round_write) and the round ends. */
typedef struct resume_round {
  int nteams;
  int active, stop;    /* a checkpoint is under way; the run stops after it */
  int *waiting;        /* per team: its states are still to come */
  cell_result **snap;  /* per team: the states it sent */
  int *nsnap, *have_snap;
  double last;         /* fault_clock() when the last one ended (or the run began) */
  int64_t written;     /* generations this run wrote */
} resume_round;

void resume_round_init(resume_round *r, int nteams);
void resume_round_free(resume_round *r);
/* Have SECONDS passed since the last checkpoint? */
int resume_round_due(const resume_round *r, double seconds);
/* Start one: await the states of every team whose BUSY is set; STOP: the
 * run stops after it. */
void resume_round_start(resume_round *r, const int *busy, int stop);
/* Team T's states STATES[0..n) (deep copies are kept); not awaited any more. */
void resume_round_take(resume_round *r, int t, const cell_result *const *states, int n);
/* Team T's batch ended before it saw the request: not awaited. */
void resume_round_skip(resume_round *r, int t);
/* Is one under way with no state awaited? */
int resume_round_ready(const resume_round *r);
/* The next generation in OUTDIR: the config of the run (CELLS: its
 * selection, NULL: all), the FINISHED cells (by cell id), the tables' state
 * (OUT flushed and synced) and the kept states of the unfinished cells. */
int resume_round_write(resume_round *r, const tsim_config *cfg, const char *outdir,
                       const char *cells, const unsigned char *finished, run_output *out,
                       tsim_error *err);
/* Forget the kept states. */
void resume_round_drop(resume_round *r);
/* The one under way is over (written or not). */
void resume_round_end(resume_round *r);

typedef struct resume_options {
  const char *outdir;
  const char *cells; /* the selection (--cells), NULL: all */
  int resume;        /* continue OUTDIR, else start anew */
  int force;         /* a new run replaces what OUTDIR holds */
  int log;           /* say on stdout what a resume found */
} resume_options;

/* Open the run directory for the cells IDS[0..nids) (ascending) of CFG. A
 * new run refuses a directory holding results unless FORCE (which removes
 * its checkpoints too). A resume continues from the checkpoint, if any, and
 * the cells finished since, refusing another config or selection: FINISHED
 * (by cell id) marks the finished cells, RESUME_FROM (by cell id) gets the
 * saved states of the cells that were running, ORDER[0..*NORDER) keeps only
 * the cells still to run and *EARLIER counts those left out, BY_STATUS[st]
 * (st < NSTATUS, enum cell_status) those of each status. */
int resume_open(const tsim_config *cfg, const resume_options *opt, const int64_t *ids,
                int64_t nids, run_output **out, unsigned char *finished,
                cell_result **resume_from, int64_t *order, int64_t *norder, int64_t *earlier,
                int64_t *by_status, int nstatus, tsim_error *err);

#endif
