/* record.c - a cell's rows (see record.h). */
#include "tsim/record.h"

#include <math.h>

#include "tsim/activation.h"
#include "tsim/population.h"

double record_norm2(const double *v, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += v[i] * v[i];
  return sqrt(s);
}

void record_metrics_row(const record_metrics *m, cell_result *res) {
  double *row = cell_result_row(res, TABLE_METRICS);
  row[0] = m->t;
  row[1] = m->train_loss;
  row[2] = m->test_loss;
  row[3] = m->pop_loss;
  row[4] = m->dist;
  row[5] = m->q9;
  row[6] = m->grad_norm;
}

void record_neuron_rows(const tsim_model *m, const tsim_teacher *teacher, int wang_like,
                        const double *W, double eta, double t, neuron_stats *ns,
                        cell_result *res) {
  const int64_t K = m->K, d = m->d;
  if (wang_like) {
    metrics_neurons(m, teacher, W, eta, ns);
  } else {
    for (int64_t k = 0; k < K; ++k) {
      const double *wk = W + k * d;
      if (!teacher) {
        ns[k] = (neuron_stats){NAN, NAN, record_norm2(wk, d), NAN, NAN, NAN, NAN};
        continue;
      }
      double par = 0.0, perp = 0.0;
      for (int64_t j = 0; j < d; ++j) par += wk[j] * teacher->u[j];
      for (int64_t j = 0; j < d; ++j) {
        const double e = wk[j] - par * teacher->u[j];
        perp += e * e;
      }
      ns[k] = (neuron_stats){par, sqrt(perp), record_norm2(wk, d), NAN, NAN, NAN, NAN};
    }
  }
  metrics_neuron_rows(ns, K, t, res);
}

void record_teacher_rows(const tsim_model *m, const tsim_teacher *teacher, const double *W,
                         double t, double match_degrees, cell_result *res) {
  const int64_t K = m->K, d = m->d;
  const int lines = activation_info(m->activation)->even; /* w, -w: one neuron */
  const double PI_ = 3.14159265358979323846, match = match_degrees * PI_ / 180.0;
  double total = 0.0;
  for (int64_t e = 0; e < K * d; ++e) total += W[e] * W[e];
  for (int64_t l = 0; l < teacher->m; ++l) {
    const double *v = teacher->V + l * d, nv = record_norm2(v, d);
    double best = NAN, along = 0.0;
    int64_t matched = 0;
    for (int64_t k = 0; k < K; ++k) {
      const double *wk = W + k * d;
      double a = activation_angle(wk, v, d);
      if (record_norm2(wk, d) == 0.0) continue; /* no direction */
      if (lines && a > PI_ / 2) a = PI_ - a;
      const double c = cos(a);
      if (isnan(best) || c > best) best = c;
      if (a <= match) ++matched;
      double pv = 0.0;
      for (int64_t j = 0; j < d; ++j) pv += wk[j] * v[j];
      along += (pv / nv) * (pv / nv);
    }
    double *row = cell_result_row(res, TABLE_TEACHERS);
    row[0] = t;
    row[1] = (double)l;
    row[2] = best;
    row[3] = (double)matched;
    row[4] = total > 0.0 ? along / total : NAN;
  }
}
