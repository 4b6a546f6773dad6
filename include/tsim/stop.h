/* stop.h - requests to stop cleanly: SIGTERM, SIGINT, SIGUSR1, a STOP file
 * in the run directory (SCR's halt file), or an approaching time limit
 * (--time-limit, or the Slurm job's end time). A request only sets a flag;
 * the scheduler acts on it at the next iteration boundary: checkpoint, then
 * exit status 3. The signal flag is tsim's one piece of global state besides
 * the MPI world handle. */
#ifndef TSIM_STOP_H
#define TSIM_STOP_H

/* Install the handlers (every rank: a signal must not kill a rank before
 * the checkpoint). main installs them first thing, and again after MPI is
 * initialised (an MPI library may have put its own in place). */
void stop_install_handlers(void);
/* The stop signal received so far (its number), or 0: a cheap look at the
 * flag for loops that run before any stop_watch exists (reading the
 * config, expanding the grid). */
int stop_signalled(void);

typedef struct stop_watch {
  const char *stop_file; /* OUTDIR/STOP */
  double deadline;       /* fault_clock() at which to stop; 0: none */
  double next_check;     /* the STOP file is looked at twice a second */
  int requested;
  char reason[128];
} stop_watch;

/* TIME_LIMIT seconds from now (0: none), and, inside a Slurm job, the job's
 * end time (from squeue) less MARGIN seconds, or half the time left when at
 * most 2 MARGIN are left, whichever comes first. */
void stop_watch_init(stop_watch *w, const char *stop_file, double time_limit,
                     double margin);
/* Has a stop been requested? Cheap enough to call every iteration. */
int stop_check(stop_watch *w);

#endif
