/* checkpoint.h - atomic, checksummed, rank-count independent checkpoints
 * (SCR's transaction: write, complete, then current; docs/checkpoints.md).
 *
 * A checkpoint holds only global state: the config (hash and text), which
 * cells are finished (their rows are in the tables or in pending/), how far
 * the tables go (byte lengths; a resume takes the cells finished after the
 * checkpoint from there on, resume.h), and the saved state (t, W_t, rows
 * and events so far) of every cell that was running. Samples are never saved: they are regenerated from their
 * seeds or re-read from the .npy files, so a run resumes on any rank count.
 *
 * Layout: OUTDIR/checkpoint/gen-NNNNNNNN/{state.bin, config.yaml, SUMS}.
 * A generation is written into a hidden temporary directory, every file and
 * the directory are fsynced, and only then is it renamed into place; SUMS
 * holds a checksum and size per file. The previous generation is kept. */
#ifndef TSIM_CHECKPOINT_H
#define TSIM_CHECKPOINT_H

#include <stdint.h>
#include "tsim/common.h"
#include "tsim/result.h"

typedef struct ckpt_data {
  uint64_t config_hash;
  int64_t generation;
  int64_t ncells;
  unsigned char *done;     /* per cell of the grid: 1 if finished */
  int64_t written;         /* how many of the run's cells are in the tables */
  int64_t table_bytes[NTABLES]; /* length of each table (enum result_table) */
  int64_t nstates;
  cell_result *states;     /* saved states of the cells that were running */
  char *config_yaml;       /* the effective config the run was made with */
} ckpt_data;

/* Write D as the next generation (D->generation is set). On failure the
 * earlier generations are untouched and the temporary directory removed. */
int ckpt_commit(const char *outdir, ckpt_data *d, tsim_error *err);

/* Does OUTDIR/checkpoint hold any generation (valid or not)? */
int ckpt_any(const char *outdir);
/* Remove OUTDIR/checkpoint and every generation in it (run --force: the
 * checkpoints of the run it replaces must not be resumed from). */
int ckpt_remove_all(const char *outdir, tsim_error *err);

/* Load the newest valid generation. A damaged newer one is skipped and
 * described in WARNING (one line; empty if none was skipped). No valid
 * generation: TSIM_EINPUT naming what was wrong with each. */
int ckpt_load(const char *outdir, ckpt_data *d, char *warning, size_t wcap,
              tsim_error *err);

void ckpt_free(ckpt_data *d);

#endif
