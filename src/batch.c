/* batch.c - several students in one pass over the data (see batch.h). */
#include "tsim/batch.h"

#include <stdlib.h>

#include "tsim/fused.h"

struct batch_work {
  int64_t d, kmax;
  int nmax;
  fused_work *fused;
  fused_job *jobs;
  int *slot;      /* job -> student */
  int64_t *at;    /* student -> offset of its partial in part / total */
  double *part;   /* the chunk partials of all fused students, concatenated */
  double *total;
  esum *acc;      /* one exact accumulator over all of them */
};

batch_work *batch_work_create(int64_t d, int64_t kmax, int nmax) {
  batch_work *w = tsim_xcalloc(1, sizeof *w);
  w->d = d;
  w->kmax = kmax;
  w->nmax = nmax;
  const int64_t len = (int64_t)nmax * (kmax * d + 2 + kmax); /* model_part_size at most */
  w->fused = fused_work_create(d, kmax);
  w->jobs = tsim_xcalloc((size_t)nmax, sizeof(fused_job));
  w->slot = tsim_xcalloc((size_t)nmax, sizeof(int));
  w->at = tsim_xcalloc((size_t)nmax, sizeof(int64_t));
  w->part = tsim_xcalloc((size_t)len, sizeof(double));
  w->total = tsim_xcalloc((size_t)len, sizeof(double));
  w->acc = esum_create(len);
  return w;
}

void batch_work_destroy(batch_work **wp) {
  if (!wp || !*wp) return;
  batch_work *w = *wp;
  fused_work_destroy(&w->fused);
  free(w->jobs);
  free(w->slot);
  free(w->at);
  free(w->part);
  free(w->total);
  esum_destroy(&w->acc);
  free(w);
  *wp = NULL;
}

void batch_evaluate(batch_work *w, const tsim_model *const *m, const tsim_dataset *ds,
                    const double *const *W, const model_direction *const *dir,
                    const par_comm *comm, model_work *const *single, model_eval *out, int n) {
  int nj = 0;
  int64_t len = 0;
  /* samples not held in memory (made on the fly by model_evaluate) */
  const int stored = ds->x != NULL || ds->row_end == ds->row_begin;
  for (int q = 0; q < n; ++q) {
    if (!stored || !out[q].grad || m[q]->K > w->kmax || m[q]->d != w->d) {
      model_evaluate(m[q], ds, W[q], dir[q], comm, single[q], &out[q]);
      continue;
    }
    w->slot[nj] = q;
    w->at[q] = len;
    w->jobs[nj] = (fused_job){.m = m[q], .W = W[q], .dir = dir[q], .part = w->part + len};
    len += model_part_size(m[q]);
    ++nj;
  }
  if (nj == 0) return;
  if (w->acc->n != len) { /* students drop out as they finish */
    esum_destroy(&w->acc);
    w->acc = esum_create(len);
  }
  esum_begin(w->acc);
  for (int64_t c = ds->chunk_begin; c < ds->chunk_end; ++c) {
    const double *x, *y;
    int64_t rows;
    data_chunk(ds, c, &x, &y, &rows);
    fused_chunk(w->fused, x, y, rows, w->jobs, nj, 0);
    esum_add(w->acc, w->part);
  }
  esum_finish(w->acc, comm, ds->nchunks, w->total);
  for (int j = 0; j < nj; ++j) {
    const int q = w->slot[j];
    model_finish(m[q], W[q], w->total + w->at[q], ds->n, dir[q] != NULL, &out[q]);
  }
}
