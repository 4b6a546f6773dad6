/* coordinator.h - the coordinator and the teams. Rank 0 hands batches of
 * cells to whichever team is free, takes the results as cells finish (it
 * alone writes the run directory), asks the teams for their cells' states
 * when a checkpoint is due, and computes inside team 0, serving messages at
 * every iteration boundary. Each team leader relays to its ranks, so the
 * ranks of a team always agree. The messages and their wire formats are
 * coordinator.c's; the caller (sched.c) sets the run up and closes it. */
#ifndef TSIM_COORDINATOR_H
#define TSIM_COORDINATOR_H

#include <stdint.h>
#include "tsim/common.h"
#include "tsim/config.h"
#include "tsim/output.h"
#include "tsim/parallel.h"
#include "tsim/plan.h"
#include "tsim/progress.h"
#include "tsim/result.h"
#include "tsim/resume.h"
#include "tsim/stop.h"
#include "tsim/cell.h"

typedef struct coordinator {
  /* set before coordinator_init, on every rank */
  const tsim_config *cfg;
  const char *outdir, *cells;  /* the run directory; the selection (NULL: all) */
  double checkpoint_seconds;
  par_comm *world, *team;
  int rank, nteams, team_id, team_rank, team_size, g;
  int bmax;                    /* most cells in a batch */
  train_cache *cache;
  progress_meter prog;
  /* set before coordinator_run, on rank 0 */
  int64_t norder;              /* cells to run */
  plan_handout *handout;       /* their batches */
  run_output *out;
  unsigned char *finished;     /* per cell id of the grid */
  cell_result **resume_from;   /* per cell id: saved state, or NULL */
  stop_watch watch;
  /* what the run came to (rank 0) */
  int64_t by_status[CELL_NSTATUS], done;
  int failing;                 /* a team failed: hand out nothing more */
  int fail_rc;
  tsim_error fail_err;
  int stopping;                /* a stop was requested: hand out nothing */
  /* coordinator_init's */
  int64_t *running;            /* per team: the first cell of its batch, -1 idle */
  int64_t *team_cells;         /* per team: bmax slots, the batch's unfinished cells */
  int *team_ncells;
  int *stopped;                /* per team: told to stop */
  resume_round round;          /* the checkpoint under way */
  void *buf;
  size_t cap;
  /* team members: the batch handed to this team, with the states it came with */
  int64_t *batch;
  int nbatch;
  cell_result *assigned_state;
  int *have_assigned_state;
} coordinator;

void coordinator_init(coordinator *c);
void coordinator_free(coordinator *c);
/* Collective over the world: run every cell (rank 0 coordinates inside team
 * 0, the other teams' leaders take batches from it) until all are done, a
 * stop was requested or a team failed (rank 0: failing, fail_rc, fail_err). */
void coordinator_run(coordinator *c, tsim_error *err);
/* Rank 0: the progress line now (FINAL: the last one). */
void coordinator_progress(coordinator *c, int final);
/* Rank 0: write a checkpoint of the run as it stands (at its end). */
void coordinator_checkpoint(coordinator *c);
/* Rank 0: the run fails with RC, ERR (the first failure is kept). */
void coordinator_fail(coordinator *c, int rc, const tsim_error *err);

#endif
