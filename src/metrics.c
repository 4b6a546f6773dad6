/* metrics.c - closed-form quantities of Wang & Abernethy (see metrics.h).
 * All are O(K^2 d) through the Gram matrix W^T W; no d x d matrix is made. */
#include "tsim/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double dot(const double *a, const double *b, int64_t n) {
  double s = 0.0;
  for (int64_t j = 0; j < n; ++j) s += a[j] * b[j];
  return s;
}

double metrics_pop_loss(const tsim_model *m, const tsim_teacher *t,
                        const double *W) {
  const int64_t d = m->d, K = m->K;
  const double C = m->C, ws2 = t->norm * t->norm;
  /* ||A||_F^2 = C^2 ||W^T W||_F^2 - 2 C ||W^T w*||^2 + ||w*||^4 */
  double gram2 = 0.0, proj2 = 0.0, fro2 = 0.0;
  for (int64_t k = 0; k < K; ++k) {
    const double *wk = W + k * d;
    for (int64_t j = 0; j < K; ++j) {
      const double g = dot(wk, W + j * d, d);
      gram2 += g * g;
    }
    const double p = dot(wk, t->w, d);
    proj2 += p * p;
    fro2 += dot(wk, wk, d);
  }
  const double a_fro2 = C * C * gram2 - 2.0 * C * proj2 + ws2 * ws2;
  const double a_tr = C * fro2 - ws2;
  return m->loss_scale * (2.0 * a_fro2 + a_tr * a_tr);
}

void metrics_pop_grad(const tsim_model *m, const tsim_teacher *t,
                      const double *W, double *grad) {
  const int64_t d = m->d, K = m->K;
  const double C = m->C, s = m->loss_scale;
  double fro2 = 0.0;
  for (int64_t k = 0; k < K; ++k) fro2 += dot(W + k * d, W + k * d, d);
  const double a_tr = C * fro2 - t->norm * t->norm;
  for (int64_t k = 0; k < K; ++k) {
    const double *wk = W + k * d;
    double *gk = grad + k * d;
    /* A w_k = C sum_j (w_j . w_k) w_j - (w* . w_k) w* */
    const double p = dot(t->w, wk, d);
    for (int64_t i = 0; i < d; ++i) gk[i] = -p * t->w[i];
    for (int64_t j = 0; j < K; ++j) {
      const double g = C * dot(W + j * d, wk, d);
      for (int64_t i = 0; i < d; ++i) gk[i] += g * W[j * d + i];
    }
    for (int64_t i = 0; i < d; ++i)
      gk[i] = s * (8.0 * C * gk[i] + 4.0 * C * a_tr * wk[i]);
  }
}

double metrics_dist(const tsim_model *m, const tsim_teacher *t,
                    const double *W, double *q) {
  const int64_t d = m->d, K = m->K;
  const double inv_sqrt_c = 1.0 / sqrt(m->C);
  double bnorm2 = 0.0;
  for (int64_t k = 0; k < K; ++k) {
    q[k] = dot(W + k * d, t->w, d) * inv_sqrt_c; /* b = W^T a */
    bnorm2 += q[k] * q[k];
  }
  if (bnorm2 > 0.0) {
    const double inv = 1.0 / sqrt(bnorm2);
    for (int64_t k = 0; k < K; ++k) q[k] *= inv;
  } else { /* every unit q is a minimiser: take the first neuron's axis */
    memset(q, 0, (size_t)K * sizeof(double));
    q[0] = 1.0;
  }
  /* ||W - a q^T||_F summed directly: no cancellation near the optimum */
  double s = 0.0;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < d; ++j) {
      const double e = W[k * d + j] - t->w[j] * inv_sqrt_c * q[k];
      s += e * e;
    }
  return sqrt(s);
}

model_direction metrics_direction(const tsim_model *m, const tsim_teacher *t,
                                  const double *W, const double *q, double *V, double *coef) {
  const int64_t d = m->d, K = m->K;
  const double inv_sqrt_c = 1.0 / sqrt(m->C);
  for (int64_t k = 0; k < K; ++k) coef[k] = q[k] * inv_sqrt_c;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < d; ++j)
      V[k * d + j] = t->w[j] * inv_sqrt_c * q[k] - W[k * d + j];
  return (model_direction){.V = V, .toward = t->w, .coef = coef};
}

void metrics_neurons(const tsim_model *m, const tsim_teacher *t,
                     const double *W, double eta, neuron_stats *out) {
  const int64_t d = m->d, K = m->K;
  const double C = m->C, s = m->loss_scale, ws2 = t->norm * t->norm;
  double *perp = tsim_xmalloc((size_t)(K * d) * sizeof(double));
  double *par = tsim_xmalloc((size_t)K * 2 * sizeof(double));
  double *norm2 = par + K;
  for (int64_t k = 0; k < K; ++k) {
    const double *wk = W + k * d;
    par[k] = dot(wk, t->u, d);
    norm2[k] = dot(wk, wk, d);
    for (int64_t j = 0; j < d; ++j) perp[k * d + j] = wk[j] - par[k] * t->u[j];
  }
  double *dvec = tsim_xmalloc((size_t)d * sizeof(double));
  for (int64_t k = 0; k < K; ++k) {
    neuron_stats *o = &out[k];
    const double *pk = perp + k * d;
    o->par = par[k];
    o->perp_norm = sqrt(dot(pk, pk, d));
    o->norm = sqrt(norm2[k]);
    /* eq. (8) with loss scale s and output scale C: the population step
     * w - eta grad splits into a self part and an interaction part */
    o->comp_A = par[k] * (1.0 + 12.0 * s * C * eta * (ws2 - C * norm2[k]));
    const double c_self = 1.0 + 4.0 * s * C * eta * (ws2 - 3.0 * C * norm2[k]);
    o->comp_C = fabs(c_self) * o->perp_norm;
    double others2 = 0.0, b = 0.0;
    memset(dvec, 0, (size_t)d * sizeof(double));
    for (int64_t j = 0; j < K; ++j) {
      if (j == k) continue;
      const double g = dot(W + j * d, W + k * d, d);
      others2 += norm2[j];
      b += 2.0 * g * par[j];
      for (int64_t i = 0; i < d; ++i) dvec[i] += 2.0 * g * perp[j * d + i];
    }
    const double f = -4.0 * s * C * C * eta;
    o->comp_B = f * (b + par[k] * others2);
    for (int64_t i = 0; i < d; ++i) dvec[i] = f * (dvec[i] + pk[i] * others2);
    o->comp_D = sqrt(dot(dvec, dvec, d));
  }
  free(dvec);
  free(perp);
  free(par);
}

double metrics_t_gamma_bound(const tsim_model *m, const tsim_teacher *t,
                             double eta, double gamma, double w0_par) {
  const double C = m->C, target = t->norm / sqrt(C);
  const double delta = 6.0 * gamma * C * (sqrt(C) * t->norm - C * gamma);
  const double eta_paper = 4.0 * m->loss_scale * eta;
  const double start = fabs(w0_par);
  if (delta <= 0.0 || start <= 0.0 || start >= target - gamma) return NAN;
  return log((target - gamma) / start) / log(1.0 + eta_paper * delta);
}

void metrics_neuron_rows(const neuron_stats *ns, int64_t K, double t, cell_result *res) {
  for (int64_t k = 0; k < K; ++k) {
    double *nr = cell_result_row(res, TABLE_NEURONS);
    nr[0] = t;
    nr[1] = (double)k;
    nr[2] = ns[k].par;
    nr[3] = ns[k].perp_norm;
    nr[4] = ns[k].norm;
    nr[5] = ns[k].comp_A;
    nr[6] = ns[k].comp_B;
    nr[7] = ns[k].comp_C;
    nr[8] = ns[k].comp_D;
  }
}
