/* fault.h - fault injection and a fake clock, so that tests stop, signal or
 * kill a run at a chosen point instead of racing the wall clock.
 *
 * TSIM_FAULT holds one or more specs separated by ';', each a list of
 * key=value separated by ',':
 *   trigger, one of
 *     cell=C[,iter=I]   the first iteration boundary of cell C at t >= I
 *                       (default 0), on the leader of the team running it
 *     batch=N           this rank starts its N-th batch (1-based)
 *     checkpoint=N[,step=S]  rank 0's N-th checkpoint of this process, at
 *                       step S of its commit: written (the temporary files
 *                       written), synced (their directory fsynced, before the
 *                       rename), renamed (before the fsync of checkpoint/),
 *                       committed (default: all done)
 *     config=N          the checks of a grid's cells while the config is
 *                       loaded reach cell N (looked at every 65536 cells)
 *   do=ACTION   fail (an error, as an unreadable file would give; with
 *               batch= or checkpoint=), exit
 *               (_exit(9)), kill (SIGKILL), TERM, INT, USR1 (that signal),
 *               stop (touch OUTDIR/STOP; with cell= or checkpoint=), hold
 *               (nothing: wait for a stop from outside; with cell=)
 *   to=WHO      for kill and signals: self (default), parent (mpirun, when
 *               it started the rank), rank0 (world rank 0's process; same
 *               host)
 *   rank=R      only on world rank R (default: any rank)
 *   file=PATH   created when the fault fires (a test waits for it)
 * At a cell trigger, after stop, hold or a signal the team holds the cell
 * at that boundary until a stop request reaches it (TSIM_FAULT_HOLD, 600 s
 * by default, bounds the wait; then the run fails), so the stop lands in
 * the middle of the run on any machine. Each spec fires once per process.
 *
 * TSIM_FAKE_CLOCK=TICK: the clock of the stop and checkpoint rules
 * (--time-limit, the Slurm end time, run.checkpoint_seconds)
 * advances TICK seconds at each of rank 0's iteration boundaries instead of
 * with the wall, so a time limit falls on the same boundary in every run.
 * wall_s and the manifest's times stay real. */
#ifndef TSIM_FAULT_H
#define TSIM_FAULT_H

#include <stdint.h>

#include "tsim/common.h"

typedef enum {
  FAULT_FAIL,
  FAULT_EXIT,
  FAULT_KILL,
  FAULT_SIGNAL,
  FAULT_STOP,
  FAULT_HOLD
} fault_action;

typedef enum { FAULT_TO_SELF, FAULT_TO_PARENT, FAULT_TO_RANK0 } fault_target;

typedef enum {
  FAULT_CKPT_WRITTEN,
  FAULT_CKPT_SYNCED,
  FAULT_CKPT_RENAMED,
  FAULT_CKPT_COMMITTED
} fault_ckpt_step;

typedef struct fault {
  fault_action action;
  int sig;         /* FAULT_SIGNAL */
  fault_target to; /* FAULT_KILL, FAULT_SIGNAL */
  char file[512];  /* "" or created when it fires */
  char where[96];  /* "cell 3 at t = 200": for messages */
} fault;

/* Read TSIM_FAULT and TSIM_FAKE_CLOCK (every rank, once, before any work).
 * A malformed spec is TSIM_EINPUT naming the variable. */
int fault_init(int world_rank, tsim_error *err);

/* World rank 0's process id, for to=rank0 (set by the scheduler). */
void fault_set_rank0_pid(long pid);

/* The fault due at an iteration boundary of CELL at iteration T, or NULL. */
const fault *fault_at_boundary(int64_t cell, int64_t t);
/* While the config's cells are checked, at cell CELL: a fault due there
 * is carried out (a signal or a kill). Returns 1. */
int fault_at_config(int64_t cell);
/* The fault due as this rank starts another batch, or NULL. */
const fault *fault_at_batch(void);
/* Within ckpt_commit on rank 0: _begin counts a checkpoint; a fault due at
 * STEP of it is carried out: do=fail returns TSIM_EFAIL with a message,
 * kill and exit do not return, stop and signals return TSIM_OK (the
 * scheduler looks at the STOP file right after every checkpoint). */
void fault_checkpoint_begin(void);
int fault_at_checkpoint(const char *outdir, fault_ckpt_step step, tsim_error *err);

/* Create OUTDIR/STOP (do=stop). */
void fault_touch_stop(const char *outdir);

/* Create F's file, then send its signal or kill; exit for FAULT_EXIT. */
void fault_fire(const fault *f);

/* Seconds to hold a cell for a stop before giving up (TSIM_FAULT_HOLD). */
double fault_hold_limit(void);

/* The clock of the stop and checkpoint rules (seconds, monotonic): the
 * wall, or under TSIM_FAKE_CLOCK the ticks so far times TICK. */
double fault_clock(void);
/* One of rank 0's iteration boundaries passed. */
void fault_clock_tick(void);

#endif
