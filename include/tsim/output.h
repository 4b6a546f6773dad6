/* output.h - the run directory (DESIGN.md section 7): config.yaml,
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

enum cell_status {
  CELL_PENDING = 0,
  CELL_CONVERGED = 1,
  CELL_MAX_ITERATIONS = 2,
  CELL_DIVERGED = 3
};
const char *output_status_name(int status);

/* The run's tables. cells.csv holds one summary row per cell, made from the
 * result's fields; every other table holds rows of doubles that the cell
 * collects while it runs, written as "cell," and then the row's columns
 * (the first `int_cols` as integers, the rest with 17 significant digits).
 * A module that adds a table adds an entry here and a descriptor in
 * output.c's table list (file name, header, columns, when it is written). */
enum output_table {
  TABLE_CELLS = 0,
  TABLE_METRICS, /* metrics.csv: one row per logged iteration */
  TABLE_NEURONS, /* neurons.csv (output.neurons): one row per neuron and log */
  TABLE_TEACHERS, /* teachers.csv (the model family, evolve.h): per teacher and log */
  TABLE_SPECTRUM, /* spectrum.csv (metrics.hessian): eigenvalues, spectrum.h */
  TABLE_HESSIAN,  /* hessian.csv (metrics.hessian): one row per spectrum */
  NTABLES
};
#define METRIC_COLS 7  /* t, train_loss, test_loss, pop_loss, dist, q9, grad_norm */
#define NEURON_COLS 9  /* t, k, par, perp_norm, norm, comp_A..comp_D */
#define TEACHER_COLS 5 /* t, teacher, best_cos, n_matched, energy */

/* "metrics": the table's file is OUTDIR/metrics.csv. */
const char *output_table_name(int table);
/* Number of double columns of a row of TABLE (the cell id not counted). */
int output_table_cols(int table);
/* Is TABLE written for runs of CFG? (cells and metrics always.) */
int output_table_enabled(const tsim_config *cfg, int table);

typedef struct table_rows {
  int64_t count, cap;
  double *v; /* count x output_table_cols(table) */
} table_rows;

/* Everything one cell produces. Rows are flat doubles (t and k are exact
 * integers far below 2^53), so a result travels as one message. */
typedef struct cell_result {
  int64_t cell;
  int status;
  int64_t iterations;
  int64_t t_q9_positive, t_lemma1, t_gamma; /* -1: never happened */
  double t_gamma_bound;                     /* NaN: not applicable */
  double final_train_loss, final_test_loss, final_dist, wall_s;
  table_rows rows[NTABLES]; /* rows[TABLE_CELLS] stays empty */
  /* The weights: W_t at the last iteration evaluated, neuron-major. While a
   * cell runs (status CELL_PENDING) `iterations` is the next t to evaluate,
   * so (iterations, W, rows, events) is everything needed to resume it. */
  int64_t nW;
  double *W;
} cell_result;

void cell_result_init(cell_result *r, int64_t cell);
void cell_result_free(cell_result *r);
/* A new row at the end of TABLE (output_table_cols(TABLE) doubles). */
double *cell_result_row(cell_result *r, int table);

/* One message holding a whole result (grows *BUF to fit; returns bytes). */
size_t cell_result_pack(const cell_result *r, void **buf, size_t *cap);
int cell_result_unpack(const void *buf, size_t len, cell_result *r);
/* RES becomes a deep copy of FROM (through pack and unpack). */
void cell_result_copy(const cell_result *from, cell_result *res);

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
/* Byte offset in TABLE (enum output_table) of the first row of a
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
