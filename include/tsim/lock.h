/* lock.h - a run directory belongs to one run: OUTDIR/.lock.
 *
 * Rank 0 of run, resume, merge -o and export-data -o takes the lock before
 * it removes or writes anything in the directory (creating the directory if
 * need be) and removes it when the command returns, whatever its exit
 * status; the other ranks learn the verdict through par_agree. The lock is a
 * file created with O_CREAT|O_EXCL (what decides, on every file system),
 * holding the holder's host, pid (rank 0's), Slurm job id (SLURM_JOB_ID, ""
 * outside Slurm), start time and command. While it is held, a thread of the
 * holder refreshes the file's mtime every LOCK_HEARTBEAT_SECONDS (the
 * heartbeat: it beats while the process lives, however long the work
 * between two iteration boundaries) and holds an OFD lock on it, where the
 * file system honours one (on Lustre without flock or NFS without lockd
 * only the file counts).
 *
 * A lock found in the directory is
 *   live   when another process holds its OFD lock, or else its holder is on
 *          this host and its pid exists, or else on another host and its
 *          heartbeat is younger than LOCK_STALE_SECONDS;
 *   stale  otherwise (a dead pid here, an old heartbeat elsewhere, or here a
 *          pid that exists without the lock held: a reused pid). A stale
 *          lock is taken over with a one-line notice.
 * A live lock is refused (TSIM_EINPUT: one line naming the holder and
 * `tsim unlock DIR`), except for a requeue: SLURM_JOB_ID equal to the
 * holder's. Then the holder is the previous run of this job, killed: when
 * its rank 0 is on this host (mpirun killed -9 leaves its ranks alive for
 * about a second), rank 0 waits up to LOCK_WAIT_SECONDS, saying so, for that
 * pid to exit (refused if it does not), then takes over; on another host
 * Slurm has ended the job's processes before requeueing it, so it takes
 * over at once. Only rank 0 writes in the directory, so its pid is the one
 * waited for. Takeovers are serialised by a second file, .lock.takeover,
 * so two of them cannot both succeed. */
#ifndef TSIM_LOCK_H
#define TSIM_LOCK_H

#include <stddef.h>

#include "tsim/common.h"

#define LOCK_HEARTBEAT_SECONDS 10
#define LOCK_STALE_SECONDS 120
#define LOCK_WAIT_SECONDS 30

typedef struct tsim_lock tsim_lock;

/* Take DIR's lock for COMMAND (the command line, for the file), creating
 * DIR (and its parents) if it does not exist. */
int lock_acquire(const char *dir, const char *command, tsim_lock **out, tsim_error *err);

/* Stop the heartbeat and remove the lock (if it is still this one), and DIR
 * if lock_acquire created it and nothing else was written. NULL: nothing. */
void lock_release(tsim_lock **lock);

/* tsim unlock DIR: remove DIR/.lock whoever holds it, describing the holder
 * in WHAT ("" when DIR was not locked). */
int lock_remove(const char *dir, char *what, size_t cap, tsim_error *err);

#endif
