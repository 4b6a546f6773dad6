/* model.c - the sharded engine: one fused pass over a chunk of samples
 * computes the forward pass, the residuals, the loss, the gradient and the
 * Hessian quadratic form while the chunk's rows are in cache (docs/engines.md);
 * chunk partials are summed exactly (reduce.h). */
#include "tsim/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/fused.h"

struct model_work {
  int64_t nvec;     /* model_part_size */
  double *part;     /* one chunk's partial sums */
  double *total;
  fused_work *fused; /* the block pass's buffers */
  esum *full, *loss_only;
};

void model_from_params(const tsim_params *p, tsim_model *m) {
  m->activation = activation_info(p->activation)->id; /* one in the table */
  m->d = p->d;
  m->K = p->K;
  m->C = params_output_scale(p);
  m->loss_scale = p->loss_scale;
  m->norm_tied = p->norm_tied;
  m->train_output = p->train_output;
}

int64_t model_part_size(const tsim_model *m) {
  return m->K * m->d + 2 + (fused_is_quadratic(m) ? 0 : m->K);
}

model_work *model_work_create(const tsim_model *m) {
  model_work *w = tsim_xcalloc(1, sizeof *w);
  w->nvec = model_part_size(m);
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

/* Every student by the fused block pass (fused.c: U = X_b W, the
 * activation's elementwise step, G += X_b^T A per block of rows):
 *   quadratic, Wang & Abernethy (5) and (9): grad part sum_i r_i u_ik x_i,
 *     loss part sum_i r_i^2, Hessian form part
 *     sum_i 4 C r_i ||V^T x_i||^2 + 8 C^2 (u_i . V^T x_i)^2;
 *   relu, abs, the norm tie: grad part sum_i r_i a_k act'(u_ik) x_i, loss
 *     part sum_i r_i^2, norm-tie part sum_i r_i act(u_ik). */
static void chunk_full(const tsim_model *m, const double *x, const double *y, int64_t rows,
                       const double *W, const model_direction *dir, double *part,
                       fused_work *fw) {
  fused_job job = {.m = m, .W = W, .dir = dir, .part = part};
  fused_chunk(fw, x, y, rows, &job, 1, 0);
}

static double chunk_loss(const tsim_model *m, const double *x, const double *y, int64_t rows,
                         const double *W, fused_work *fw) {
  double loss = 0.0;
  fused_job job = {.m = m, .W = W, .part = &loss};
  fused_chunk(fw, x, y, rows, &job, 1, 1);
  return loss;
}

void model_evaluate(const tsim_model *m, const tsim_dataset *ds,
                    const double *W, const model_direction *dir, const par_comm *comm,
                    model_work *w, model_eval *out) {
  const int full = out->grad != NULL || dir != NULL;
  esum *acc = full ? w->full : w->loss_only;
  esum_begin(acc);
  for (int64_t c = ds->chunk_begin; c < ds->chunk_end; ++c) {
    const double *x, *y;
    int64_t rows;
    data_chunk(ds, c, &x, &y, &rows); /* stored, or made again (regenerate) */
    if (full)
      chunk_full(m, x, y, rows, W, dir, w->part, w->fused);
    else
      w->part[0] = chunk_loss(m, x, y, rows, W, w->fused);
    esum_add(acc, w->part);
  }
  esum_finish(acc, comm, ds->nchunks, w->total);
  if (!full) {
    out->loss = m->loss_scale * w->total[0] * (ds->n > 0 ? 1.0 / (double)ds->n : 0.0);
    out->hess_quad = 0.0;
    return;
  }
  model_finish(m, W, w->total, ds->n, dir != NULL, out);
}

void model_finish(const tsim_model *m, const double *W, const double *total, int64_t n,
                  int has_dir, model_eval *out) {
  const int64_t Kd = m->K * m->d;
  const double s = m->loss_scale, inv_n = n > 0 ? 1.0 / (double)n : 0.0;
  out->loss = s * total[Kd] * inv_n;
  if (!fused_is_quadratic(m)) {
    out->hess_quad = has_dir ? NAN : 0.0;
    if (out->grad) {
      const double g = 2.0 * s * m->C * inv_n, *self = total + Kd + 2;
      for (int64_t k = 0; k < m->K; ++k) {
        const double *wk = W + k * m->d;
        const double nk = m->norm_tied ? fused_output_weight(m, wk) : 0.0;
        const double tie = nk > 0.0 ? self[k] / nk : 0.0; /* 0 at w_k = 0 */
        for (int64_t j = 0; j < m->d; ++j)
          out->grad[k * m->d + j] = g * (total[k * m->d + j] + tie * wk[j]);
        if (m->train_output) out->grad[Kd + k] = g * self[k];
      }
    }
    return;
  }
  out->hess_quad = has_dir ? s * total[Kd + 1] * inv_n : 0.0;
  if (out->grad) {
    const double g = 4.0 * s * m->C * inv_n;
    for (int64_t e = 0; e < Kd; ++e) out->grad[e] = g * total[e];
  }
}
