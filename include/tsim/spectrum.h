/* spectrum.h - Hessian spectra along a cell's trajectory (metrics.hessian).
 *
 * At the iterations of `at`, about `log_points` log-spaced ones, and the
 * events `q9_positive` (the first t with quantity (9) > 0) and `final` (the
 * iteration the cell stops at), the Hessian of the loss at W_t is assembled
 * on the team's BLACS grid (hessian.h) and diagonalised. Two tables:
 *   spectrum.csv  cell,t,index,eigenvalue,overlap_v: the `bottom` smallest
 *                 and `top` largest eigenvalues (all when they cover the
 *                 dK), index 0 = the smallest; overlap_v = (z . V)^2/||V||^2
 *                 of the eigenvector when metrics.hessian.vectors, else empty;
 *   hessian.csv   cell,t,min_eig,max_eig,n_negative,restricted_min,q9_over_v2:
 *                 n_negative counts eigenvalues below -1e-10 max|eigenvalue|
 *                 (numerically zero modes are not negative), restricted_min =
 *                 vec(V)^T H vec(V) / ||V||^2 from the distributed matrix,
 *                 q9_over_v2 = the sharded engine's quantity (9) / ||V||^2,
 *                 with V = w* q^T / sqrt(C) - W (metrics.h).
 * With metrics.hessian.source: population the matrix is the population
 * Hessian at W_t (hessian_assemble_population), and restricted_min its
 * Hessian form. Cells outside Wang & Abernethy's have no V: those two
 * columns are empty. With model.train_output the
 * matrix is over the d K + K parameters (source samples only), index over
 * its eigenvalues. Which cells get spectra: engine_spectra_unsupported. */
#ifndef TSIM_SPECTRUM_H
#define TSIM_SPECTRUM_H

#include <stdint.h>
#include "tsim/config.h"
#include "tsim/data.h"
#include "tsim/model.h"
#include "tsim/moments.h"
#include "tsim/result.h"
#include "tsim/parallel.h"

typedef struct spectrum_plan spectrum_plan;
/* The schedule of P and an N x N distributed matrix on TEAM (N = dK, or
 * dK + K with trained output weights; collective);
 * NULL when P asks for no spectra (schedule_spectra). */
spectrum_plan *spectrum_plan_create(const tsim_params *p, const par_comm *team);
void spectrum_plan_destroy(spectrum_plan **sp);

/* Is a spectrum due at iteration T? Q9_EVENT: T is the first iteration with
 * quantity (9) > 0; FINAL: the cell stops at T. */
int spectrum_due(const spectrum_plan *sp, int64_t t, int q9_event, int final);

/* Assemble the Hessian at W (from the team's shard DS, or, when the cell
 * runs on the moments engine, from its fourth-moment tensor MT (DS is then
 * NULL), or the population closed form with teacher TEACHER), diagonalise,
 * append the rows of iteration T to RES. V is quantity (9)'s direction and
 * Q9 its value. */
int spectrum_record(spectrum_plan *sp, const tsim_model *m,
                    const tsim_teacher *teacher, const tsim_dataset *ds,
                    const moments_tensor *mt, const double *W, const double *V,
                    double q9, int64_t t, cell_result *res, tsim_error *err);

#endif
