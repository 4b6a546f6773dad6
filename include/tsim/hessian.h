/* hessian.h - the Hessian of the training loss as a ScaLAPACK matrix
 * distributed block-cyclically over a BLACS grid of the team's ranks, and
 * its spectrum (pdsyevd / pdsyev).  No rank ever holds the whole matrix.
 *
 * Loss f(W) = s (1/n) sum_i r_i^2, r_i = C sum_k act(u_ik) - y_i,
 * u_ik = x_i^T w_k (model.h).  Per sample, with g = (k, a), h = (l, b) the
 * indices of vec(W) (neuron-major: g = k d + a):
 *   H_gh = s (1/n) sum_i [ 2 C^2 act'(u_ik) act'(u_il) x_ia x_ib
 *                          + 2 C r_i delta_kl act''(u_ik) x_ia x_ib ]
 * the Gauss-Newton term plus the residual term.  For the quadratic
 * activation (act' = 2u, act'' = 2):
 *   H_gh = s (1/n) sum_i [ 8 C^2 u_ik u_il x_ia x_ib + 4 C r_i delta_kl x_ia x_ib ]
 * so vec(V)^T H vec(V) is model.h's Hessian form (Wang & Abernethy's
 * quantity (9) when V = w* q^T - W).  For relu/abs, act'' = 0 away from the
 * kinks (a set of measure zero), so only the Gauss-Newton term remains: the
 * almost-everywhere Hessian, which the population Hessian below is not the
 * limit of (its kinks' term, population.h).
 *
 * Rank invariance: the sum over samples is cut into the data set's fixed
 * chunks; each chunk's partial of a panel of columns is computed the same
 * way on whichever rank owns the chunk and added in a fixed-point
 * accumulator with a team-wide scale (fixsum.h), the integer sums are
 * reduced straight to the ranks owning the panel's blocks, and rounded
 * there.  So the assembled matrix has the same bits for any team size; the
 * eigenvalues then differ only by the eigensolver's rounding on different
 * process grids (about 1e-15 relative). */
#ifndef TSIM_HESSIAN_H
#define TSIM_HESSIAN_H

#include <stdint.h>
#include "tsim/common.h"
#include "tsim/data.h"
#include "tsim/model.h"
#include "tsim/parallel.h"

typedef struct hessian hessian;

/* A dK x dK distributed matrix over the ranks of TEAM (collective), in
 * square blocks of BLOCK rows and columns (<= 0: chosen from the order and
 * the grid). */
hessian *hessian_create(const par_comm *team, int64_t order, int block);
void hessian_destroy(hessian **h);
int64_t hessian_order(const hessian *h);

/* H of the empirical loss at W from the team's sample shards DS (the lower
 * triangle: what the eigensolver reads). With M->train_output the order is
 * d K + K: the w_k, then the output weights a_k (W[Kd + k]). Collective over
 * the team. */
void hessian_assemble_samples(hessian *h, const tsim_model *m,
                              const tsim_dataset *ds, const double *W);
/* The population Hessian (n = infinity, x ~ N(0, I_d)) of the quadratic
 * student and teacher T, from Isserlis' theorem
 * E[x_a x_b x_c x_e] = d_ab d_ce + d_ac d_be + d_ae d_bc:
 *   H = s [ 8 C^2 ((w_k.w_l) d_ab + w_ka w_lb + w_kb w_la)
 *           + 4 C d_kl (tr(A) d_ab + 2 A_ab) ],  A = C W W^T - w* w*^T.
 * Every other cell (relu and abs, several teachers, a teacher output weight
 * other than 1; teacher with the student's activation, no norm tie): the
 * true Hessian of population.c's closed form, its blocks by
 * population_hessian_block (for relu and abs with the kinks' term). */
void hessian_assemble_population(hessian *h, const tsim_model *m,
                                 const tsim_teacher *t, const double *W);

/* The empirical Hessian of the quadratic student and teacher T from the
 * fourth moments of the N samples (the moments engine, docs/engines.md), given as
 * MOMENT(CTX, a, b, c, e) = sum_i x_ia x_ib x_ic x_ie (e.g. a lookup in
 * moments.h's packed tensor). Every residual is r_i = x_i^T A x_i with
 * A = C W W^T - w* w*^T, so with M_ab the d x d matrix M_ab[c][e]:
 *   H_(k,a),(l,b) = s/n [ 8 C^2 w_k^T M_ab w_l + 4 C d_kl <M_ab, A> ],
 * the sample sums regrouped (equal to hessian_assemble_samples up to
 * rounding). Each rank evaluates only its own blocks, in a fixed order, so
 * the matrix has the same bits for any team size. Labels must be exactly
 * y = (x^T w*)^2 (no label noise). */
typedef double (*hessian_moment_fn)(const void *ctx, int64_t a, int64_t b,
                                    int64_t c, int64_t e);
void hessian_assemble_moments(hessian *h, const tsim_model *m,
                              const tsim_teacher *t, const double *W,
                              int64_t n, hessian_moment_fn moment,
                              const void *ctx);

/* H + LAMBDA I (train.weight_decay's term), after an assembly. */
void hessian_shift(hessian *h, double lambda);

/* vec(V)^T H vec(V) from the assembled matrix (a distributed matvec whose
 * entry products are summed exactly: the same bits for any team size). */
double hessian_quad(const hessian *h, const double *V);

/* All eigenvalues of the assembled H, ascending, into EIG (dK entries, on
 * every rank); all NaN (and hessian_quad NaN) when H is not finite, e.g.
 * at a diverged W. With OVERLAP non-NULL the eigenvectors z_j are computed too
 * (pdsyevd) and OVERLAP[j] = (z_j . vec(V))^2 / ||V||^2 (the share of V
 * along z_j; they sum to 1); without, eigenvalues only (pdsyev, much
 * cheaper). The matrix is consumed: assemble again before the next call.
 * Collective; a ScaLAPACK failure is an error agreed over the team. */
int hessian_eigen(hessian *h, double *eig, const double *V, double *overlap,
                  tsim_error *err);

/* The whole symmetric matrix (row-major, dK x dK) on every rank: for the
 * tests at small sizes only. */
void hessian_gather(const hessian *h, double *full);

#endif
