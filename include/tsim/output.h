/* output.h - the run directory (docs/outputs.md): config.yaml,
 * manifest.json, cells.csv, metrics.csv, neurons.csv.
 *
 * Rows are formatted from doubles with 17 significant digits, so they read
 * back to the same double; the text depends only on the numbers, so equal
 * trajectories give byte-identical files. Only rank 0 writes. */
#ifndef TSIM_OUTPUT_H
#define TSIM_OUTPUT_H

#include <stdint.h>
#include <stdio.h>
#include "tsim/common.h"
#include "tsim/config.h"
#include "tsim/result.h"

/* "converged", "max_iterations", "diverged" (enum cell_status), "pending" */
const char *output_status_name(int status);

/* "metrics": the table's file is OUTDIR/metrics.csv. Rows are written as
 * "cell," and then the row's columns (the first few, per table, as
 * integers, the rest with 17 significant digits). */
const char *output_table_name(int table);
/* Is TABLE written for runs of CFG? (cells and metrics always.) */
int output_table_enabled(const tsim_config *cfg, int table);

typedef struct run_output run_output;

/* Open OUTDIR for a new run of the cells IDS[0..nids) (ascending): refuses
 * (TSIM_EINPUT) a directory that already holds results unless FORCE, writes
 * config.yaml and the tables' headers, synced. */
int output_open(const tsim_config *cfg, const char *outdir, int force,
                const int64_t *ids, int64_t nids, run_output **out,
                tsim_error *err);
/* What a run left in OUTDIR, for a resume (reads only). A cell of IDS
 * (ascending) is finished when its rows are whole in the tables (its
 * cells.csv row is written after its other rows, so the cells whose rows
 * there are whole, in id order, and whose rows in every other table are
 * too) or when pending/ holds a whole fragment of each table for it,
 * stamped with this config's hash or PREVIOUS_HASH (that of the run that
 * left them). On entry *WRITTEN and TABLE_BYTES are where a checkpoint says
 * the tables' whole cells end (0: none), trusted while the tables still
 * hold them; on return how many of IDS the tables hold whole and where. DONE
 * (by cell id) becomes the finished cells. What is dropped is said on LOG
 * (may be NULL), fragments not taken on stderr. */
void output_scan(const tsim_config *cfg, const char *outdir, const int64_t *ids, int64_t nids,
                 uint64_t previous_hash, unsigned char *done, int64_t *written,
                 int64_t table_bytes[NTABLES], FILE *log);
/* Continue the run in OUTDIR: the tables are cut back to TABLE_BYTES, the
 * first WRITTEN of IDS are in them, and the other cells marked in DONE
 * (indexed by cell id) wait in pending/ (output_scan's findings; a cell
 * whose rows are cut off keeps them there). Everything else in pending/
 * goes. */
int output_resume(const tsim_config *cfg, const char *outdir,
                  const int64_t *ids, int64_t nids, const unsigned char *done,
                  int64_t written, const int64_t table_bytes[NTABLES], uint64_t previous_hash,
                  run_output **out, tsim_error *err);
/* Mark (by cell id) the finished cells of OUTDIR whose status is STATUS. */
int output_mark_status(const char *outdir, const char *status, int64_t ncells,
                       unsigned char *mark, tsim_error *err);
/* Byte offset in TABLE (enum result_table) of the first row of a
 * cell with id >= FIRST_CELL (the length if none); -1 if unreadable. */
int64_t output_table_offset(const char *outdir, int table, int64_t first_cell);
/* Flush and fsync the tables; how many cells and bytes they hold. */
int output_tables_state(run_output *o, int64_t *written, int64_t table_bytes[NTABLES],
                        tsim_error *err);
/* Hand over one finished cell, in any order: the tables receive cells in
 * increasing id order; a cell that arrives early waits as CSV fragments in
 * OUTDIR/pending/ (synced) until the cells before it are written. A failed
 * write is an error naming the file; nothing more is written after it. */
int output_write_cell(run_output *o, const tsim_config *cfg,
                      const cell_result *r, tsim_error *err);
/* Write manifest.json and close everything. EXTRA is a JSON fragment of
 * further manifest members (may be NULL). */
int output_close(run_output **o, const char *manifest_extra, tsim_error *err);

/* Format a double so it reads back exactly ("" for NaN when EMPTY_NAN). */
void output_format_double(char *buf, size_t cap, double v);

#endif
