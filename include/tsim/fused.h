/* fused.h - the fused, cache-blocked pass over one chunk of samples
 * (the sharded engine, docs/engines.md): for each block of rows X_b it computes
 * U = X_b W (and X_b V), an activation-specific elementwise step giving the
 * residuals, the loss terms and A = dloss/dU, then G += X_b^T A, while the
 * block is in cache. No sample-sized temporaries.
 *
 * Exactness: every number a column produces is a fixed sequence of IEEE
 * operations on that column's own data (sums over the d coordinates in
 * ascending order; sums over rows in LANES interleaved accumulators, row i
 * into lane i % LANES, lanes combined in a fixed tree at the end of the
 * chunk). No reassociation and no FMA contraction (-ffp-contract=off), so
 * the result does not depend on the vector width the compiler or the CPU
 * picks, on the block size, or on which other cells share the pass: a cell
 * in a batch gets the bits it gets alone.
 *
 * Adding an activation (activation.h): its cases in fused_kernel.inc's
 * act_value and act_slope (step_general's masks) and in chunk_pass's switch
 * over the enum, which has no default. */
#ifndef TSIM_FUSED_H
#define TSIM_FUSED_H

#include <stdint.h>
#include "tsim/model.h"

/* One student evaluated in a pass: its model, weights, optional direction
 * of quantity (9) (read for the quadratic student only: the others have no
 * Hessian form here) and where its chunk partial goes (model_part_size
 * entries, model.h): part[0..Kd) = sum over rows of dloss/du_k x (the
 * gradient before scaling: r u_k x for the quadratic student, r a_k act'(u_k)
 * x for relu, abs and the norm tie), part[Kd] = sum r^2, part[Kd+1] =
 * Hessian-form terms (quadratic; 0 otherwise), part[Kd+2+k] = sum r act(u_k)
 * (norm tie; 0 for relu and abs without it; absent for the quadratic
 * student). With loss_only only part[0] is written: the sum of r^2. A
 * direction with TOWARD set is not read through its V: x.V_k is
 * coef_k (x.toward) - u_k, one projection for all K neurons (and for all
 * jobs of the pass with the same TOWARD).
 *
 * Floating-point operations per sample and job, quadratic: 2Kd + 2K + 3
 * (loss only), plus 2Kd + K (gradient), plus 2Kd + 4K + 6 (a general V) or
 * 2d + 6K + 6 (TOWARD); relu and abs: 2Kd + 2K + 3 (loss only), plus 2Kd +
 * 2K (gradient), plus 2K with the norm tie: the figures scripts/bench.sh
 * divides by. */
typedef struct fused_job {
  const tsim_model *m;
  const double *W;
  const model_direction *dir;
  double *part;
} fused_job;

typedef struct fused_work fused_work;
/* Work space for jobs of dimension D and at most KMAX neurons each. */
fused_work *fused_work_create(int64_t d, int64_t kmax);
void fused_work_destroy(fused_work **w);

/* Partials of NJOBS students over the ROWS samples at X (in row groups,
 * data.h: whole groups, as data_chunk gives them) and Y: each block of X
 * is read from memory once for all jobs. */
void fused_chunk(fused_work *w, const double *x, const double *y, int64_t rows,
                 fused_job *jobs, int njobs, int loss_only);

/* Doubles per vector of the pass this CPU runs (8: AVX-512, 4: AVX2, 2:
 * any other; the environment's TSIM_VECTOR_WIDTH may ask for a narrower
 * one the CPU has), chosen at the first call. fused_use_vector_width picks
 * another width the CPU has (returns 0 if it has not), for the tests that
 * check every width gives the same bits. */
int fused_vector_width(void);
int fused_use_vector_width(int width);

/* The quadratic student of Wang & Abernethy (no norm tie): the Hessian
 * form and quantity (9) are defined, the partial has K*d + 2 entries. */
int fused_is_quadratic(const tsim_model *m);

/* Output weight a_k of neuron WK (d entries): ||w_k|| (sum over j
 * ascending, then sqrt) with the norm tie, else 1. */
double fused_output_weight(const tsim_model *m, const double *wk);

#endif
