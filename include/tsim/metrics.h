/* metrics.h - closed-form quantities of Wang & Abernethy's analysis
 * (docs/outputs.md defines them), computed from W alone, O(d^2 K) or less.
 * W is neuron-major (W[k*d + j]); loss scale s and output scale C as in
 * objective (13). */
#ifndef TSIM_METRICS_H
#define TSIM_METRICS_H

#include <stdint.h>
#include "tsim/data.h"
#include "tsim/model.h"
#include "tsim/result.h"

/* Population loss s * E r^2 with A = C W W^T - w* w*^T:
 * E (x^T A x)^2 = 2 ||A||_F^2 + (tr A)^2 for x ~ N(0, I_d). */
double metrics_pop_loss(const tsim_model *m, const tsim_teacher *t,
                        const double *W);
/* Its gradient s (8 C A W + 4 C tr(A) W); with s = 1/4, C = 1 this is the
 * population gradient (6). GRAD has K*d entries. */
void metrics_pop_grad(const tsim_model *m, const tsim_teacher *t,
                      const double *W, double *grad);

/* dist(W, w*) = min over unit q of ||W - a q^T||_F with a = w* / sqrt(C)
 * (definition (4) on the sphere ||q|| = 1, where the paper's minimiser
 * q = W^T a / ||W^T a|| lives): dist^2 = ||W||^2 + ||a||^2 - 2 ||W^T a||.
 * Q (K entries) receives the minimiser. */
double metrics_dist(const tsim_model *m, const tsim_teacher *t,
                    const double *W, double *q);
/* V = a q^T - W, the direction of quantity (9), and COEF (K entries)
 * = q / sqrt(C), so that V_k = coef_k w* - w_k: returned as the
 * model_direction {V, w*, coef} that model_evaluate takes. */
model_direction metrics_direction(const tsim_model *m, const tsim_teacher *t,
                                  const double *W, const double *q, double *V, double *coef);

/* Per neuron k (Wang & Abernethy eq. (8), with s and C): the parallel part
 * par = w_k . u, perpendicular norm, norm, and the components of the next
 * population-GD iterate: A (self, parallel), B (interaction, parallel),
 * C (self, perpendicular, as a norm) and D (interaction, perpendicular, as a
 * norm), so that par_{t+1} = A + B under population gradient descent. */
typedef struct neuron_stats {
  double par, perp_norm, norm, comp_A, comp_B, comp_C, comp_D;
} neuron_stats;
void metrics_neurons(const tsim_model *m, const tsim_teacher *t,
                     const double *W, double eta, neuron_stats *out);
/* Append the K neurons' rows of iteration (or flow time) T to RES's
 * neurons.csv table. */
void metrics_neuron_rows(const neuron_stats *ns, int64_t K, double t, cell_result *res);

/* Theorems 1 and 3 (K = 1): the bound on the entry time T_gamma,
 * log((||w*||/sqrt(C) - gamma) / |w0_par|) / log(1 + eta' Delta_C) with
 * Delta_C = 6 gamma C (sqrt(C) ||w*|| - C gamma) and eta' = 4 s eta (the
 * step in the paper's s = 1/4 convention). NaN when the bound does not
 * apply (Delta_C <= 0 or |w0_par| >= ||w*||/sqrt(C) - gamma). */
double metrics_t_gamma_bound(const tsim_model *m, const tsim_teacher *t,
                             double eta, double gamma, double w0_par);

#endif
