/* result.c - a cell's result, its rows and its message form (see
 * result.h). */
#include "tsim/result.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int table_cols[NTABLES] = {
    [TABLE_CELLS] = 0,
    [TABLE_METRICS] = METRIC_COLS,
    [TABLE_NEURONS] = NEURON_COLS,
    [TABLE_TEACHERS] = TEACHER_COLS,
    [TABLE_SPECTRUM] = SPECTRUM_COLS,
    [TABLE_HESSIAN] = HESSIAN_COLS,
};

int result_table_cols(int table) { return table_cols[table]; }

void cell_result_init(cell_result *r, int64_t cell) {
  memset(r, 0, sizeof *r);
  r->cell = cell;
  r->t_q9_positive = r->t_lemma1 = r->t_gamma = -1;
  r->t_gamma_bound = NAN;
  r->final_train_loss = r->final_test_loss = r->final_dist = NAN;
}

void cell_result_free(cell_result *r) {
  for (int t = 0; t < NTABLES; ++t) {
    free(r->rows[t].v);
    r->rows[t] = (table_rows){0, 0, NULL};
  }
  free(r->W);
  r->W = NULL;
  r->nW = 0;
  free(r->V);
  r->V = NULL;
  r->nV = 0;
  free(r->penalty.v);
  r->penalty = (table_rows){0, 0, NULL};
  free(r->snap);
  r->snap = NULL;
  r->nsnap = r->snap_cap = r->snap_cols = 0;
}

void cell_result_snapshot(cell_result *r, double t) {
  r->snap_cols = 1 + r->nW;
  if (r->nsnap == r->snap_cap) {
    r->snap_cap = r->snap_cap ? 2 * r->snap_cap : 16;
    r->snap = tsim_xrealloc(r->snap, (size_t)(r->snap_cap * r->snap_cols) * sizeof(double));
  }
  double *row = r->snap + (r->nsnap++) * r->snap_cols;
  row[0] = t;
  if (r->nW) memcpy(row + 1, r->W, (size_t)r->nW * sizeof(double));
}

double *cell_result_row(cell_result *r, int table) {
  table_rows *t = &r->rows[table];
  const int cols = table_cols[table];
  if (t->count == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 64;
    t->v = tsim_xrealloc(t->v, (size_t)(t->cap * cols) * sizeof(double));
  }
  return t->v + (t->count++) * cols;
}

void cell_result_penalty(cell_result *r, double penalty) {
  table_rows *t = &r->penalty;
  if (t->count == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 64;
    t->v = tsim_xrealloc(t->v, (size_t)t->cap * sizeof(double));
  }
  t->v[t->count++] = penalty;
}

/* A cell result as one message: PACK_INTS int64 header words (cell,
 * status, iterations, three events, nW, then the row count of every table),
 * PACK_REALS doubles, every table's rows in table order, then W; then, only
 * when V, penalties or weights snapshots exist, PACK_TAIL_INTS words (nV,
 * the penalty count, the snapshot count and row length) and their doubles
 * in that order (a result without them packs as it did before they
 * existed). */
#define PACK_FIXED_INTS 7
#define PACK_INTS (PACK_FIXED_INTS + NTABLES)
#define PACK_REALS 5
#define PACK_TAIL_INTS 4
void cell_result_copy(const cell_result *from, cell_result *res) {
  void *buf = NULL;
  size_t cap = 0;
  const size_t len = cell_result_pack(from, &buf, &cap);
  cell_result_unpack(buf, len, res);
  free(buf);
}

size_t cell_result_pack(const cell_result *r, void **buf, size_t *cap) {
  size_t values = (size_t)r->nW;
  for (int t = 0; t < NTABLES; ++t) values += (size_t)(r->rows[t].count * table_cols[t]);
  const size_t snap = r->nsnap ? (size_t)(r->nsnap * r->snap_cols) : 0;
  const int tail = r->nV > 0 || r->penalty.count > 0 || snap > 0;
  const size_t tail_values = tail ? (size_t)(r->nV + r->penalty.count) + snap : 0;
  const size_t bytes = PACK_INTS * sizeof(int64_t) + (PACK_REALS + values) * sizeof(double) +
                       (tail ? PACK_TAIL_INTS * sizeof(int64_t) : 0) +
                       tail_values * sizeof(double);
  if (*cap < bytes) {
    *buf = tsim_xrealloc(*buf, bytes);
    *cap = bytes;
  }
  int64_t h[PACK_INTS] = {r->cell, r->status, r->iterations, r->t_q9_positive,
                          r->t_lemma1, r->t_gamma, r->nW};
  for (int t = 0; t < NTABLES; ++t) h[PACK_FIXED_INTS + t] = r->rows[t].count;
  const double hd[PACK_REALS] = {r->t_gamma_bound, r->final_train_loss,
                                 r->final_test_loss, r->final_dist, r->wall_s};
  char *at = *buf;
  memcpy(at, h, sizeof h);
  at += sizeof h;
  memcpy(at, hd, sizeof hd);
  at += sizeof hd;
  for (int t = 0; t < NTABLES; ++t) {
    const size_t n = (size_t)(r->rows[t].count * table_cols[t]) * sizeof(double);
    if (n) memcpy(at, r->rows[t].v, n);
    at += n;
  }
  if (r->nW) memcpy(at, r->W, (size_t)r->nW * sizeof(double));
  at += (size_t)r->nW * sizeof(double);
  if (tail) {
    const int64_t th[PACK_TAIL_INTS] = {r->nV, r->penalty.count, snap ? r->nsnap : 0,
                                        snap ? r->snap_cols : 0};
    memcpy(at, th, sizeof th);
    at += sizeof th;
    if (r->nV) memcpy(at, r->V, (size_t)r->nV * sizeof(double));
    at += (size_t)r->nV * sizeof(double);
    if (r->penalty.count)
      memcpy(at, r->penalty.v, (size_t)r->penalty.count * sizeof(double));
    at += (size_t)r->penalty.count * sizeof(double);
    if (snap) memcpy(at, r->snap, snap * sizeof(double));
  }
  return bytes;
}

int cell_result_unpack(const void *buf, size_t len, cell_result *r) {
  /* BUF may sit at any offset of a checkpoint file or message buffer, so
   * everything is copied out rather than loaded in place (alignment). */
  int64_t h[PACK_INTS];
  double hd[PACK_REALS];
  cell_result_init(r, -1);
  if (len < sizeof h + sizeof hd) return TSIM_EFAIL;
  memcpy(h, buf, sizeof h);
  memcpy(hd, (const char *)buf + sizeof h, sizeof hd);
  const int64_t nW = h[6];
  size_t values = (size_t)nW;
  if (nW < 0 || h[1] < 0 || h[1] >= CELL_NSTATUS) return TSIM_EFAIL;
  for (int t = 0; t < NTABLES; ++t) {
    if (h[PACK_FIXED_INTS + t] < 0) return TSIM_EFAIL;
    values += (size_t)(h[PACK_FIXED_INTS + t] * table_cols[t]);
  }
  const size_t base = sizeof h + sizeof hd + values * sizeof(double);
  int64_t th[PACK_TAIL_INTS] = {0, 0, 0, 0};
  if (len != base) { /* the tail: V, the penalties, the weights snapshots */
    if (len < base + sizeof th) return TSIM_EFAIL;
    memcpy(th, (const char *)buf + base, sizeof th);
    for (int i = 0; i < PACK_TAIL_INTS; ++i)
      if (th[i] < 0 || th[i] > (int64_t)len) return TSIM_EFAIL;
    if ((th[2] == 0) != (th[3] == 0) ||
        len != base + sizeof th + (size_t)(th[0] + th[1] + th[2] * th[3]) * sizeof(double))
      return TSIM_EFAIL;
  }
  r->cell = h[0];
  r->status = (int)h[1];
  r->iterations = h[2];
  r->t_q9_positive = h[3];
  r->t_lemma1 = h[4];
  r->t_gamma = h[5];
  r->t_gamma_bound = hd[0];
  r->final_train_loss = hd[1];
  r->final_test_loss = hd[2];
  r->final_dist = hd[3];
  r->wall_s = hd[4];
  const char *at = (const char *)buf + sizeof h + sizeof hd;
  for (int t = 0; t < NTABLES; ++t) {
    const int64_t count = h[PACK_FIXED_INTS + t];
    const size_t n = (size_t)(count * table_cols[t]) * sizeof(double);
    r->rows[t].count = r->rows[t].cap = count;
    r->rows[t].v = tsim_xmalloc(n + sizeof(double));
    if (n) memcpy(r->rows[t].v, at, n);
    at += n;
  }
  r->nW = nW;
  r->W = tsim_xmalloc((size_t)(nW + 1) * sizeof(double));
  if (nW) memcpy(r->W, at, (size_t)nW * sizeof(double));
  at += (size_t)nW * sizeof(double) + (len != base ? sizeof th : 0);
  if (th[0]) {
    r->nV = th[0];
    r->V = tsim_xmalloc((size_t)th[0] * sizeof(double));
    memcpy(r->V, at, (size_t)th[0] * sizeof(double));
    at += (size_t)th[0] * sizeof(double);
  }
  if (th[1]) {
    r->penalty.count = r->penalty.cap = th[1];
    r->penalty.v = tsim_xmalloc((size_t)th[1] * sizeof(double));
    memcpy(r->penalty.v, at, (size_t)th[1] * sizeof(double));
    at += (size_t)th[1] * sizeof(double);
  }
  if (th[2]) {
    r->nsnap = r->snap_cap = th[2];
    r->snap_cols = th[3];
    r->snap = tsim_xmalloc((size_t)(th[2] * th[3]) * sizeof(double));
    memcpy(r->snap, at, (size_t)(th[2] * th[3]) * sizeof(double));
  }
  return TSIM_OK;
}
