/* moments.h - the fourth-moment engine (docs/engines.md):
 * exact loss, gradient, quantity (9) and test loss of a quadratic student
 * and a quadratic teacher from the empirical fourth-moment tensor of the
 * samples, so that an iteration costs O(d^4) whatever n is.
 *
 * With f_W(x) = C sum_k (w_k^T x)^2 and y = x^T A* x (A* = w* w*^T for
 * Wang & Abernethy's teacher), every residual is a quadratic form
 *   r_i = x_i^T A x_i,   A = C W W^T - A*   (W = [w_1 .. w_K], d x K),
 * so with M = sum_i x_i (x) x_i (x) x_i (x) x_i and M[A]_ab = sum_cd M_abcd A_cd
 * (objective (13), gradient (5), quantity (9) of Wang & Abernethy):
 *   loss  = s/n <A, M[A]>
 *   grad_k = 4 s C/n M[A] w_k
 *   q9    = s/n (4 C <M[A], V V^T> + 8 C^2 <M[S], S>),  S = (W V^T + V W^T)/2.
 * These are the sharded engine's sums (model.h) regrouped, not an
 * approximation: only the rounding differs.
 *
 * Storage. M is symmetric: only the C(d+3,4) entries with a <= b <= c <= d
 * are kept (715 at d = 10).  Pairs P = (a,b), a <= b, are numbered
 * lexicographically (d(d+1)/2 of them); entry (a,b,c,d) of M is the product
 * monomial of pairs (a,b) and (c,d), and for a fixed first pair (a,b) the
 * second pairs (c,d) with b <= c <= d are the contiguous tail of the pair
 * list that starts at (b,b).  So the packed tensor is, for each pair
 * P = (a,b) in order, the segment x_a x_b * [pairs from (b,b) on]: a sample
 * adds its pair monomials p (d(d+1)/2 products) to the segments with one
 * multiply-add per entry.
 *
 * Exactness across ranks: the tensor is summed over the same fixed chunks of
 * global sample indices as the sharded engine (data.chunk), each chunk's
 * partial computed one way, the partials added exactly (reduce.h), so M has
 * the same bits for any number of ranks; every later operation is a fixed
 * sequence of double operations on data every rank holds. */
#ifndef TSIM_MOMENTS_H
#define TSIM_MOMENTS_H

#include <stdint.h>
#include "tsim/data.h"
#include "tsim/model.h"
#include "tsim/parallel.h"

/* C(d+3,4): distinct entries of a symmetric 4-tensor in d dimensions. */
int64_t moments_entries(int64_t d);
/* d(d+1)/2: pairs a <= b. */
int64_t moments_pairs(int64_t d);
/* Number of pair (a, b), a <= b (lexicographic). */
int64_t moments_pair_index(int64_t d, int64_t a, int64_t b);

typedef struct moments_tensor {
  int64_t d, n;      /* dimension, samples summed */
  int64_t npairs;    /* d(d+1)/2 */
  int64_t nentries;  /* C(d+3,4) */
  double *sum;       /* packed sum_i x_i^(x)4 (not divided by n) */
  int64_t *segment;  /* per pair (a,b): index in sum of entry (a,b,b,b) */
  double *gram;      /* npairs x npairs: gram[P*npairs+Q] = sum[(P,Q)] */
  double build_seconds;
} moments_tensor;

/* An empty (zero) tensor for dimension D, with its index tables. */
moments_tensor *moments_create(int64_t d);
void moments_destroy(moments_tensor **t);

/* Packed index of entry (a, b, c, d) in any order of the four indices. */
int64_t moments_index(const moments_tensor *t, int64_t a, int64_t b,
                      int64_t c, int64_t e);

/* PART[0..nentries) = sum over ROWS samples X (row-major, rows x d) of
 * x^(x)4, packed. The kernel of the build; exposed for tests and benches. */
void moments_chunk(const moments_tensor *t, const double *x, int64_t rows,
                   double *part);

/* Build the tensor of split SPLIT of cell P over the ranks of COMM (NULL:
 * one process): each rank makes its chunks' samples from the seed, sums
 * them chunk by chunk, and the chunk partials are added exactly. Samples are
 * made one chunk at a time and never kept, so memory does not grow with n.
 * Collective over COMM. A long build stays responsive: every
 * MOMENTS_POLL_CHUNKS chunk steps (the same number of calls on every rank)
 * POLL(POLL_CTX) is called if non-NULL, collectively; when it returns
 * non-zero (on every rank alike) the build is abandoned with TSIM_ESTOP. */
#define MOMENTS_POLL_CHUNKS 64
int moments_build(const tsim_params *p, tsim_split split, const par_comm *comm,
                  int (*poll)(void *ctx), void *poll_ctx,
                  moments_tensor **out, tsim_error *err);

/* The teacher as the symmetric d x d matrix A* with y = x^T A* x
 * (row-major, d*d entries). */
void moments_teacher_matrix(const tsim_teacher *t, double *Astar);

/* Work space of moments_evaluate for one model. */
typedef struct moments_work moments_work;
moments_work *moments_work_create(const tsim_model *m);
void moments_work_destroy(moments_work **w);

/* Loss, gradient (if OUT->grad) and Hessian form along V (if V) over the
 * data set whose tensor is T, for teacher matrix ASTAR: the same quantities
 * as model_evaluate, in O(d^4 + d^2 K) operations. Purely local: every rank
 * holds T and gets the same bits. */
void moments_evaluate(const tsim_model *m, const moments_tensor *t,
                      const double *Astar, const double *W, const double *V,
                      moments_work *work, model_eval *out);

#endif
