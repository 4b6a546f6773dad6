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

/* "converged", "max_iterations", "diverged", "reached_T", "evaluated" (enum
 * cell_status), "pending" */
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
/* Continue the run in OUTDIR (resume.h has cut the tables back): the
 * tables are opened for appending, the first WRITTEN of IDS are in them and
 * the other cells marked in DONE (by cell id) wait in pending/. */
int output_reopen(const tsim_config *cfg, const char *outdir, const int64_t *ids, int64_t nids,
                  const unsigned char *done, int64_t written, run_output **out,
                  tsim_error *err);
/* Flush and fsync the tables; how many cells and bytes they hold. */
int output_tables_state(run_output *o, int64_t *written, int64_t table_bytes[NTABLES],
                        tsim_error *err);
/* Hand over one finished cell, in any order: the tables receive cells in
 * increasing id order; a cell that arrives early waits as CSV fragments in
 * OUTDIR/pending/ (synced) until the cells before it are written. A failed
 * write is an error naming the file; nothing more is written after it. */
int output_write_cell(run_output *o, const tsim_config *cfg,
                      const cell_result *r, tsim_error *err);
/* output.weights: OUTDIR/weights/CELL.npy, (rows, d, K), the student
 * weights at every logged row of cell CELL, OUTDIR/weights/CELL.t.npy,
 * (rows,), their t, and OUTDIR/weights/CELL.teacher.npy, (d, m), the
 * teacher's weights (cells with one); written with the cell (WHAT "", ".t"
 * or ".teacher"). */
void output_weights_path(const char *dir, int64_t cell, const char *what, char *buf,
                         size_t cap);
/* Write manifest.json and close everything. EXTRA is a JSON fragment of
 * further manifest members (may be NULL). */
int output_close(run_output **o, const char *manifest_extra, tsim_error *err);

/* Format a double so it reads back exactly ("" for NaN when EMPTY_NAN). */
void output_format_double(char *buf, size_t cap, double v);

/* The layout of the run directory, for reading it back (resume.h). */
/* Has every finished cell rows in TABLE? (cells, metrics, neurons.) */
int output_table_every_cell(int table);
/* cells.csv's columns after the config's: status .. wall_s */
#define OUTPUT_CELLS_RESULT_COLS 10
/* OUTDIR/TABLE.csv */
void output_table_path(const char *dir, int table, char *buf, size_t cap);
/* OUTDIR/pending/CELL.HASH.TABLE.EXT, EXT "csv", or "tmp" while it is written. */
void output_fragment_path(const char *dir, int64_t cell, uint64_t hash, int table,
                          const char *ext, char *buf, size_t cap);
/* A fragment's file NAME: its cell, hash and table; 0 if it is not one. */
int output_parse_fragment(const char *name, int64_t *cell, uint64_t *hash, int *table);
/* TABLE's header line; the columns of cell CELL's cells.csv row that the
 * config fixes (cell, K, seed, eta, C, n, d and the other axes' values). */
void output_put_header(const tsim_config *cfg, int table, FILE *f);
/* The number of columns after `cell` of a row of TABLE (not cells.csv) in a
 * run of CFG: metrics.csv has a penalty column when a cell has weight decay. */
int output_table_cols(const tsim_config *cfg, int table);
void output_put_cell_params(const tsim_config *cfg, int64_t cell, FILE *f);
/* Flush F, the file PATH, and fsync it if SYNC; F written to TMP: synced,
 * closed and renamed to PATH (on failure TMP goes); fsync a directory. A
 * failure is an error naming the file. */
int output_flush_file(FILE *f, const char *path, int sync, tsim_error *err);
int output_commit_file(FILE *f, const char *tmp, const char *path, tsim_error *err);
int output_fsync_dir(const char *dir, tsim_error *err);

#endif
