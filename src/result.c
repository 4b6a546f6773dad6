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

/* A cell result as one message: PACK_INTS int64 header words (cell,
 * status, iterations, three events, nW, then the row count of every table),
 * PACK_REALS doubles, every table's rows in table order, then W; with
 * weights snapshots, then their count and row length (two int64) and the
 * rows (a result without them packs as it did before they existed). */
#define PACK_FIXED_INTS 7
#define PACK_INTS (PACK_FIXED_INTS + NTABLES)
#define PACK_REALS 5
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
  const size_t bytes = PACK_INTS * sizeof(int64_t) + (PACK_REALS + values) * sizeof(double) +
                       (r->nsnap ? 2 * sizeof(int64_t) + snap * sizeof(double) : 0);
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
  if (r->nsnap) {
    const int64_t hs[2] = {r->nsnap, r->snap_cols};
    memcpy(at, hs, sizeof hs);
    memcpy(at + sizeof hs, r->snap, snap * sizeof(double));
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
  int64_t hs[2] = {0, 0};
  if (len < base) return TSIM_EFAIL;
  if (len > base) {
    if (len < base + sizeof hs) return TSIM_EFAIL;
    memcpy(hs, (const char *)buf + base, sizeof hs);
    if (hs[0] <= 0 || hs[1] <= 0 || len != base + sizeof hs + (size_t)(hs[0] * hs[1]) * 8)
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
  if (hs[0]) {
    at += (size_t)nW * sizeof(double) + sizeof hs;
    r->nsnap = r->snap_cap = hs[0];
    r->snap_cols = hs[1];
    r->snap = tsim_xmalloc((size_t)(hs[0] * hs[1]) * sizeof(double));
    memcpy(r->snap, at, (size_t)(hs[0] * hs[1]) * sizeof(double));
  }
  return TSIM_OK;
}
