/* result.h - everything one cell produces: its summary (status, events,
 * final values), the rows it collects for each table while it runs, and
 * its weights. A result travels (between ranks, into a checkpoint) as one
 * message made by cell_result_pack. Which file a table is, and how its rows
 * are written, is output.h's. */
#ifndef TSIM_RESULT_H
#define TSIM_RESULT_H

#include <stddef.h>
#include <stdint.h>
#include "tsim/common.h"

/* How a cell ended: converged, diverged, or it ran out of budget: gradient
 * descent at train.iterations (max_iterations), a flow at its final time
 * (reached_T), or nothing run at all, only W0 evaluated (evaluated). */
enum cell_status {
  CELL_PENDING = 0,
  CELL_CONVERGED = 1,
  CELL_MAX_ITERATIONS = 2,
  CELL_DIVERGED = 3,
  CELL_REACHED_T = 4,
  CELL_EVALUATED = 5,
  CELL_NSTATUS
};

/* The run's tables. cells.csv holds one summary row per cell, made from the
 * result's fields; every other table holds rows of doubles that the cell
 * collects while it runs. A module that adds a table adds an entry here,
 * its column count in result.c and a descriptor in output.c's table list
 * (file name, header, when it is written). */
enum result_table {
  TABLE_CELLS = 0,
  TABLE_METRICS,  /* metrics.csv: one row per logged iteration */
  TABLE_NEURONS,  /* neurons.csv (output.neurons): one row per neuron and log */
  TABLE_TEACHERS, /* teachers.csv (the model family, record.h): per teacher and log */
  TABLE_SPECTRUM, /* spectrum.csv (metrics.hessian): eigenvalues, spectrum.h */
  TABLE_HESSIAN,  /* hessian.csv (metrics.hessian): one row per spectrum */
  NTABLES
};
#define METRIC_COLS 7   /* t, train_loss, test_loss, pop_loss, dist, q9, grad_norm */
#define NEURON_COLS 9   /* t, k, par, perp_norm, norm, comp_A..comp_D */
#define TEACHER_COLS 5  /* t, teacher, best_cos, n_matched, energy */
#define SPECTRUM_COLS 4 /* t, index, eigenvalue, overlap_v */
#define HESSIAN_COLS 6  /* t, min_eig, max_eig, n_negative, restricted_min, q9_over_v2 */

/* Number of double columns of a row of TABLE (the cell id not counted; 0
 * for cells.csv, whose row is made from the summary). */
int result_table_cols(int table);

typedef struct table_rows {
  int64_t count, cap;
  double *v; /* count x result_table_cols(table) */
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
  /* output.weights: the weights at every logged row, each row t (the
   * iteration or flow time) then W_t as in W (snap_cols = 1 + nW; a trained
   * output layer would append its weights to the row and to snap_cols) */
  int64_t nsnap, snap_cap, snap_cols;
  double *snap;
  /* With train.momentum: the heavy ball's velocity v_t next to W_t (nV = nW,
   * else 0). With a penalty column (tsim_config): the penalty of each
   * metrics row, penalty.count = rows[TABLE_METRICS].count (else 0). */
  int64_t nV;
  double *V;
  table_rows penalty;
} cell_result;

void cell_result_init(cell_result *r, int64_t cell);
void cell_result_free(cell_result *r);
/* A new row at the end of TABLE (result_table_cols(TABLE) doubles). */
double *cell_result_row(cell_result *r, int table);

/* A new row of the weights snapshots at T (W and nW as the result's). */
void cell_result_snapshot(cell_result *r, double t);

/* The penalty of the metrics row just made (cell_result_row). */
void cell_result_penalty(cell_result *r, double penalty);

/* One message holding a whole result (grows *BUF to fit; returns bytes).
 * V and the penalties follow W only when there are any, so a result without
 * them has the bytes it had before they existed. */
size_t cell_result_pack(const cell_result *r, void **buf, size_t *cap);
/* The result packed in BUF (LEN bytes) into R; TSIM_EFAIL when BUF is not
 * one. R is initialised first, so cell_result_free(R) is right either way. */
int cell_result_unpack(const void *buf, size_t len, cell_result *r);
/* RES becomes a deep copy of FROM (through pack and unpack). */
void cell_result_copy(const cell_result *from, cell_result *res);

#endif
