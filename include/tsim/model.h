/* model.h - the student network on a slice of samples: forward pass,
 * residuals, loss, gradient and the Hessian quadratic form, summed exactly
 * over the team (the sharded engine, docs/engines.md).
 *
 * Student f_W(x) = C sum_k act(w_k^T x), W neuron-major (W[k*d + j]).
 * Loss f(W) = s * (1/n) sum_i r_i^2 with r_i = f_W(x_i) - y_i, s = loss_scale.
 * For the quadratic activation (Wang & Abernethy eq. (5), objective (13)):
 *   grad_k = 4 s C (1/n) sum_i r_i (x_i^T w_k) x_i
 *   vec(V)^T Hess f vec(V)
 *        = s (1/n) sum_i [4 C r_i ||V^T x_i||^2 + 8 C^2 (x_i^T W V^T x_i)^2]
 * (quantity (9) when V = w* q^T - W), without forming the Hessian.
 * For relu, abs or the norm tie (f = C sum_k a_k act(u_k), a_k = ||w_k|| or
 * 1, u_k = w_k^T x):
 *   grad_k = 2 s C (1/n) sum_i r_i [a_k act'(u_ik) x_i + act(u_ik) w_k/||w_k||]
 * (second term with the norm tie only), with the subgradients act'(0) = 0
 * for relu and abs and w/||w|| = 0 at w = 0; no Hessian form (hess_quad = NaN
 * when V is given).
 * Trained output weights (model.train_output, any activation): W holds
 * K d + K numbers, the a_k after the w_k, f = C sum_k a_k act(u_k), and
 *   grad_k = 2 s C (1/n) sum_i r_i a_k act'(u_ik) x_i,
 *   grad_a_k = 2 s C (1/n) sum_i r_i act(u_ik)
 * (no Hessian form). */
#ifndef TSIM_MODEL_H
#define TSIM_MODEL_H

#include <stdint.h>
#include "tsim/data.h"
#include "tsim/parallel.h"
#include "tsim/reduce.h"

typedef struct tsim_model {
  int activation;
  int64_t d, K;
  double C, loss_scale; /* C: the output scale C' (C / K under 1/m) */
  int norm_tied;        /* f = C sum_k ||w_k|| act(w_k^T x) (Zhou, Ge & Jin) */
  int train_output;     /* f = C sum_k a_k act(w_k^T x), a_k = W[Kd + k] trained too */
} tsim_model;

void model_from_params(const tsim_params *p, tsim_model *m);

/* Student K's output coefficient besides C: its trained output weight a_k
 * (train_output: after the K d weights of W), ||w_k|| (norm tie, NRM), or 1. */
static inline double model_output_weight(const tsim_model *m, const double *W, int64_t k,
                                         double nrm) {
  if (m->train_output) return W[m->K * m->d + k];
  return m->norm_tied ? nrm : 1.0;
}

/* What one evaluation returns (all identical on every rank of the team). */
typedef struct model_eval {
  double loss;  /* s * mean r^2 */
  double hess_quad; /* vec(V)^T Hess vec(V), if V was given */
  double *grad; /* K*d, caller-owned, if non-NULL */
} model_eval;

/* The direction of quantity (9) (Wang & Abernethy eq. (9)): V, K x d.
 * When TOWARD is set, V is known to be V_k = coef_k toward - w_k row by row
 * (metrics_direction: toward = w*, coef_k = q_k / sqrt(C)), and the fused
 * pass forms x.V_k = coef_k (x.toward) - x.w_k from one extra column
 * instead of K: 4Kd + 2d instead of 6Kd multiply-adds per sample in all.
 * Its rounding differs from x.V_k's: near a minimum, where V is small
 * against W, q9 keeps about as many digits as the loss does (docs/exactness.md).
 * V itself serves the other engines. */
typedef struct model_direction {
  const double *V;
  const double *toward, *coef;
} model_direction;

/* Work space for model_evaluate, sized for one model. */
typedef struct model_work model_work;
model_work *model_work_create(const tsim_model *m);
void model_work_destroy(model_work **w);

/* Loss, gradient (if OUT->grad) and Hessian form along DIR (if DIR) over
 * the whole data set DS, reduced exactly over COMM. */
void model_evaluate(const tsim_model *m, const tsim_dataset *ds,
                    const double *W, const model_direction *dir, const par_comm *comm,
                    model_work *work, model_eval *out);

/* Entries of one chunk's partial sums: part[0..Kd) = sum r_i
 * (x_i^T w_k) x_i, part[Kd] = sum r_i^2, part[Kd+1] = Hessian-form terms
 * (quadratic); for the other models part[0..Kd) = sum r_i a_k act'(u_ik)
 * x_i, part[Kd+2+k] = sum r_i act(u_ik). */
int64_t model_part_size(const tsim_model *m);

/* OUT from TOTAL, the exact sum over all N samples of the chunk partials
 * (model_part_size entries): the loss, the gradient (if OUT->grad) and the
 * Hessian form (if HAS_DIR; NaN for relu, abs and the norm tie), scaled as
 * model.h's formulas say. Shared by model_evaluate and batch_evaluate, so a
 * batched student gets the unbatched bits. */
void model_finish(const tsim_model *m, const double *W, const double *total, int64_t n,
                  int has_dir, model_eval *out);

#endif
