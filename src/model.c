/* model.c - the sharded engine: one fused pass over a chunk of samples
 * computes the forward pass, the residuals, the loss, the gradient and the
 * Hessian quadratic form while the chunk's rows are in cache (DESIGN.md
 * section 3, path 1); chunk partials are summed exactly (reduce.h). */
#include "tsim/model.h"

#include "tsim/fused.h"

#include <stdlib.h>
#include <string.h>

struct model_work {
  int64_t nvec;     /* K*d + 2 */
  double *part;     /* one chunk's partial sums */
  double *total;
  fused_work *fused; /* the block pass's buffers */
  esum *full, *loss_only;
};

void model_from_params(const tsim_params *p, tsim_model *m) {
  m->activation = p->activation;
  m->d = p->d;
  m->K = p->K;
  m->C = p->C;
  m->loss_scale = p->loss_scale;
}

model_work *model_work_create(const tsim_model *m) {
  model_work *w = tsim_xcalloc(1, sizeof *w);
  w->nvec = m->K * m->d + 2;
  w->part = tsim_xcalloc((size_t)w->nvec, sizeof(double));
  w->total = tsim_xcalloc((size_t)w->nvec, sizeof(double));
  w->fused = fused_work_create(m->d, m->K);
  w->full = esum_create(w->nvec);
  w->loss_only = esum_create(1);
  return w;
}

void model_work_destroy(model_work **wp) {
  if (!wp || !*wp) return;
  model_work *w = *wp;
  free(w->part);
  free(w->total);
  fused_work_destroy(&w->fused);
  esum_destroy(&w->full);
  esum_destroy(&w->loss_only);
  free(w);
  *wp = NULL;
}

/* Quadratic student, Wang & Abernethy (5) and (9), by the fused block pass
 * (fused.c: U = X_b W, residuals, G += X_b^T (r .* U) per block of rows):
 *   grad part: sum_i r_i u_ik x_i;  loss part: sum_i r_i^2;
 *   Hessian form part: sum_i 4 C r_i ||V^T x_i||^2 + 8 C^2 (u_i . V^T x_i)^2. */
static void chunk_quadratic(const tsim_model *m, const double *x,
                            const double *y, int64_t rows, const double *W,
                            const double *V, double *part, fused_work *fw) {
  fused_job job = {m, W, V, part};
  fused_chunk(fw, x, y, rows, &job, 1, 0);
}

static double chunk_loss_quadratic(const tsim_model *m, const double *x,
                                   const double *y, int64_t rows,
                                   const double *W, fused_work *fw) {
  double loss = 0.0;
  fused_job job = {m, W, NULL, &loss};
  fused_chunk(fw, x, y, rows, &job, 1, 1);
  return loss;
}

void model_chunk(const tsim_model *m, const double *x, const double *y,
                 int64_t rows, const double *W, const double *V,
                 double *part) {
  fused_work *fw = fused_work_create(m->d, m->K);
  chunk_quadratic(m, x, y, rows, W, V, part, fw);
  fused_work_destroy(&fw);
}

void model_evaluate(const tsim_model *m, const tsim_dataset *ds,
                    const double *W, const double *V, const par_comm *comm,
                    model_work *w, model_eval *out) {
  const int64_t Kd = m->K * m->d;
  const int full = out->grad != NULL || V != NULL;
  esum *acc = full ? w->full : w->loss_only;
  esum_begin(acc);
  for (int64_t c = ds->chunk_begin; c < ds->chunk_end; ++c) {
    const int64_t r0 = c * ds->chunk - ds->row_begin;
    int64_t rows = ds->chunk;
    if (c * ds->chunk + rows > ds->n) rows = ds->n - c * ds->chunk;
    const double *x = ds->x + r0 * m->d, *y = ds->y + r0;
    if (full) {
      chunk_quadratic(m, x, y, rows, W, V, w->part, w->fused);
    } else {
      w->part[0] = chunk_loss_quadratic(m, x, y, rows, W, w->fused);
    }
    esum_add(acc, w->part);
  }
  esum_finish(acc, comm, ds->nchunks, w->total);
  const double s = m->loss_scale, inv_n = ds->n > 0 ? 1.0 / (double)ds->n : 0.0;
  if (!full) {
    out->loss = s * w->total[0] * inv_n;
    out->hess_quad = 0.0;
    return;
  }
  out->loss = s * w->total[Kd] * inv_n;
  out->hess_quad = V ? s * w->total[Kd + 1] * inv_n : 0.0;
  if (out->grad) {
    const double g = 4.0 * s * m->C * inv_n;
    for (int64_t e = 0; e < Kd; ++e) out->grad[e] = g * w->total[e];
  }
}
