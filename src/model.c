/* model.c - the sharded engine: one fused pass over a chunk of samples
 * computes the forward pass, the residuals, the loss, the gradient and the
 * Hessian quadratic form while the chunk's rows are in cache (DESIGN.md
 * section 3, path 1); chunk partials are summed exactly (reduce.h). */
#include "tsim/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/fused.h"

struct model_work {
  int64_t nvec;     /* K*d + 2 */
  double *part;     /* one chunk's partial sums */
  double *total;
  fused_work *fused; /* the block pass's buffers (quadratic) */
  double *u, *v;     /* one sample's projections (the general kernels) */
  esum *full, *loss_only;
};

void model_from_params(const tsim_params *p, tsim_model *m) {
  m->activation = p->activation;
  m->d = p->d;
  m->K = p->K;
  m->C = params_output_scale(p);
  m->loss_scale = p->loss_scale;
  m->norm_tied = p->norm_tied;
}

static inline double dot(const double *a, const double *b, int64_t n) {
  double s = 0.0;
  for (int64_t j = 0; j < n; ++j) s += a[j] * b[j];
  return s;
}

/* Wang & Abernethy's quadratic engine, or the general one (relu, abs, the
 * norm tie) of model_general below? */
static int is_plain_quadratic(const tsim_model *m) {
  return m->activation == ACT_QUADRATIC && !m->norm_tied;
}

int64_t model_part_size(const tsim_model *m) {
  return m->K * m->d + 2 + (is_plain_quadratic(m) ? 0 : m->K);
}

model_work *model_work_create(const tsim_model *m) {
  model_work *w = tsim_xcalloc(1, sizeof *w);
  w->nvec = model_part_size(m);
  w->part = tsim_xcalloc((size_t)w->nvec, sizeof(double));
  w->total = tsim_xcalloc((size_t)w->nvec, sizeof(double));
  w->fused = fused_work_create(m->d, m->K);
  w->u = tsim_xcalloc((size_t)m->K, sizeof(double));
  w->v = tsim_xcalloc((size_t)m->K, sizeof(double));
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
  free(w->u);
  free(w->v);
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
                            const model_direction *dir, double *part, fused_work *fw) {
  fused_job job = {.m = m, .W = W, .dir = dir, .part = part};
  fused_chunk(fw, x, y, rows, &job, 1, 0);
}

static double chunk_loss_quadratic(const tsim_model *m, const double *x,
                                   const double *y, int64_t rows,
                                   const double *W, fused_work *fw) {
  double loss = 0.0;
  fused_job job = {.m = m, .W = W, .part = &loss};
  fused_chunk(fw, x, y, rows, &job, 1, 1);
  return loss;
}

/* act(z) and act'(z) with the subgradient act'(0) = 0 for relu and abs
 * (the kink: a sample exactly on it contributes nothing to the gradient). */
static inline double act_value(int activation, double z) {
  switch (activation) {
    case ACT_RELU: return z > 0.0 ? z : 0.0;
    case ACT_ABS: return fabs(z);
    default: return z * z;
  }
}

static inline double act_slope(int activation, double z) {
  switch (activation) {
    case ACT_RELU: return z > 0.0 ? 1.0 : 0.0;
    case ACT_ABS: return z > 0.0 ? 1.0 : (z < 0.0 ? -1.0 : 0.0);
    default: return 2.0 * z;
  }
}

/* Output weights a_k = ||w_k|| (norm tie) or 1. */
static void output_weights(const tsim_model *m, const double *W, double *a) {
  for (int64_t k = 0; k < m->K; ++k)
    a[k] = m->norm_tied ? sqrt(dot(W + k * m->d, W + k * m->d, m->d)) : 1.0;
}

/* relu, abs and norm-tied students (see model.h): one pass per chunk. */
static void chunk_general(const tsim_model *m, const double *x,
                          const double *y, int64_t rows, const double *W,
                          double *part, double *u, double *a) {
  const int64_t d = m->d, K = m->K;
  const double C = m->C;
  double loss = 0.0;
  double *self = part + K * d + 2;
  memset(part, 0, (size_t)model_part_size(m) * sizeof(double));
  output_weights(m, W, a);
  for (int64_t i = 0; i < rows; ++i) {
    const double *xi = x + i * d;
    double f = 0.0;
    for (int64_t k = 0; k < K; ++k) {
      u[k] = dot(xi, W + k * d, d);
      f += a[k] * act_value(m->activation, u[k]);
    }
    const double r = C * f - y[i];
    loss += r * r;
    for (int64_t k = 0; k < K; ++k) {
      const double g = r * a[k] * act_slope(m->activation, u[k]);
      if (m->norm_tied) self[k] += r * act_value(m->activation, u[k]);
      if (g == 0.0) continue;
      double *gk = part + k * d;
      for (int64_t j = 0; j < d; ++j) gk[j] += g * xi[j];
    }
  }
  part[K * d] = loss;
  part[K * d + 1] = 0.0;
}

static double chunk_loss_general(const tsim_model *m, const double *x,
                                 const double *y, int64_t rows,
                                 const double *W, double *a) {
  const int64_t d = m->d, K = m->K;
  double loss = 0.0;
  output_weights(m, W, a);
  for (int64_t i = 0; i < rows; ++i) {
    const double *xi = x + i * d;
    double f = 0.0;
    for (int64_t k = 0; k < K; ++k)
      f += a[k] * act_value(m->activation, dot(xi, W + k * d, d));
    const double r = m->C * f - y[i];
    loss += r * r;
  }
  return loss;
}

void model_evaluate(const tsim_model *m, const tsim_dataset *ds,
                    const double *W, const model_direction *dir, const par_comm *comm,
                    model_work *w, model_eval *out) {
  const int64_t Kd = m->K * m->d;
  const int full = out->grad != NULL || dir != NULL;
  esum *acc = full ? w->full : w->loss_only;
  esum_begin(acc);
  for (int64_t c = ds->chunk_begin; c < ds->chunk_end; ++c) {
    const double *x, *y;
    int64_t rows;
    data_chunk(ds, c, &x, &y, &rows); /* stored, or made again (regenerate) */
    if (!is_plain_quadratic(m)) {
      if (full)
        chunk_general(m, x, y, rows, W, w->part, w->u, w->v);
      else
        w->part[0] = chunk_loss_general(m, x, y, rows, W, w->v);
    } else if (full) {
      chunk_quadratic(m, x, y, rows, W, dir, w->part, w->fused);
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
  if (!is_plain_quadratic(m)) {
    out->hess_quad = dir ? NAN : 0.0;
    if (out->grad) {
      const double g = 2.0 * s * m->C * inv_n, *self = w->total + Kd + 2;
      for (int64_t k = 0; k < m->K; ++k) {
        const double *wk = W + k * m->d;
        const double nk = m->norm_tied ? sqrt(dot(wk, wk, m->d)) : 0.0;
        const double tie = nk > 0.0 ? self[k] / nk : 0.0; /* 0 at w_k = 0 */
        for (int64_t j = 0; j < m->d; ++j)
          out->grad[k * m->d + j] = g * (w->total[k * m->d + j] + tie * wk[j]);
      }
    }
    return;
  }
  out->hess_quad = dir ? s * w->total[Kd + 1] * inv_n : 0.0;
  if (out->grad) {
    const double g = 4.0 * s * m->C * inv_n;
    for (int64_t e = 0; e < Kd; ++e) out->grad[e] = g * w->total[e];
  }
}
