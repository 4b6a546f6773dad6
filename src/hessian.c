/* hessian.c - distributed Hessian and its spectrum (see hessian.h).
 *
 * ScaLAPACK and BLACS are called here (the one exception to "MPI only in
 * parallel.c"); every MPI message goes through parallel.c's wrappers, and
 * the BLACS grid is made from the team's communicator as a Fortran handle.
 *
 * Assembly, one panel of nb columns at a time (the columns of one block
 * column of the block-cyclic layout), lower triangle only:
 *   1. each rank computes u = X W, r and act', act'' for its rows once;
 *   2. a bound on every chunk partial's entries (Cauchy-Schwarz: the largest
 *      diagonal entry of the chunk's Gauss-Newton term plus a bound on the
 *      residual term) gives one exponent E, the maximum over the team;
 *   3. per panel: each local chunk's partial (dK - j0) x nb block is made by
 *      dgemm from Z = act'(u_k) x_a in sub-blocks of rows, plus the residual
 *      term, and added on the grid 2^(E - 116) into 5 int64 words per entry
 *      (fixsum.h: 40 bytes per entry of a panel, instead of the 552 of
 *      reduce.h's superaccumulator, and only one panel at a time);
 *   4. the words are reduce-scattered straight to the nprow ranks owning the
 *      panel's blocks (packed in their local row order), which round them
 *      and scale by s/n into their local array.
 * Memory per rank: the local blocks (dK^2 / P doubles), one panel of
 * accumulators, the Z of one sub-block of rows and the residual matrices of
 * the local chunks (d^2 each, K d^2 for a smooth activation or trained output
 * weights, plus K d for the latter's (a_k, w_k) blocks); no rank holds all of
 * H. With trained output weights the order N is dK + K (row_factors), else dK. */
#include "tsim/hessian.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/config.h"
#include "tsim/fixsum.h"
#include "tsim/population.h"
#include "tsim/reduce.h"

/* BLACS, ScaLAPACK and BLAS through their Fortran entry points (Debian's
 * libscalapack-openmpi has no C header); hidden string lengths passed. */
void blacs_gridinit_(int *ctxt, const char *order, int *nprow, int *npcol);
void blacs_gridinfo_(const int *ctxt, int *nprow, int *npcol, int *myrow,
                     int *mycol);
void blacs_gridexit_(const int *ctxt);
int blacs_pnum_(const int *ctxt, const int *prow, const int *pcol);
int numroc_(const int *n, const int *nb, const int *iproc, const int *isrc,
            const int *nprocs);
void descinit_(int *desc, const int *m, const int *n, const int *mb,
               const int *nb, const int *irsrc, const int *icsrc,
               const int *ctxt, const int *lld, int *info);
void pdsyevd_(const char *jobz, const char *uplo, const int *n, double *a,
              const int *ia, const int *ja, const int *desca, double *w,
              double *z, const int *iz, const int *jz, const int *descz,
              double *work, const int *lwork, int *iwork, const int *liwork,
              int *info, size_t jobz_len, size_t uplo_len);
void pdsyev_(const char *jobz, const char *uplo, const int *n, double *a,
             const int *ia, const int *ja, const int *desca, double *w,
             double *z, const int *iz, const int *jz, const int *descz,
             double *work, const int *lwork, int *info, size_t jobz_len,
             size_t uplo_len);
void dgemm_(const char *ta, const char *tb, const int *m, const int *n,
            const int *k, const double *alpha, const double *a, const int *lda,
            const double *b, const int *ldb, const double *beta, double *c,
            const int *ldc, size_t ta_len, size_t tb_len);

/* OpenBLAS's own control, when the BLAS in use is OpenBLAS (weak: NULL
 * with any other BLAS). */
void openblas_set_num_threads(int threads) __attribute__((weak));

/* One BLAS thread per rank: OpenBLAS splits dgemm and the eigensolver's
 * level-3 calls over its threads in ways that change the last bits (with
 * OPENBLAS_NUM_THREADS=2 against 1, hessian.csv differed by about 2e-15 of
 * the largest eigenvalue), so the spectra would depend on the thread count
 * as well as on the process grid. Ranks, not threads, use the cores. */
static void blas_one_thread(void) {
  if (openblas_set_num_threads) openblas_set_num_threads(1);
}

/* rows of a chunk turned into Z at a time: Z is (dK - j0) x SUB doubles */
#define SUB_ROWS 256

struct hessian {
  const par_comm *team;
  int rank, size;
  int ctxt, nprow, npcol, myrow, mycol;
  int n, nb, nblocks, mloc, nloc, lld;
  int desc[9];
  int *rank_of; /* team rank of grid position (pr, pc): [pr * npcol + pc] */
  double *a;    /* local blocks, column-major, lld x nloc */
  int finite;   /* the assembled matrix has no NaN or infinity (team-wide) */
};

static void grid_shape(int size, int *nprow, int *npcol) {
  int r = 1;
  for (int f = 1; f * f <= size; ++f)
    if (size % f == 0) r = f;
  *nprow = r; /* the most square grid with nprow <= npcol */
  *npcol = size / r;
}

hessian *hessian_create(const par_comm *team, int64_t order, int block) {
  blas_one_thread();
  hessian *h = tsim_xcalloc(1, sizeof *h);
  h->team = team;
  h->rank = par_rank(team);
  h->size = par_size(team);
  h->n = (int)order;
  grid_shape(h->size, &h->nprow, &h->npcol);
  h->ctxt = par_comm_fortran(team);
  blacs_gridinit_(&h->ctxt, "R", &h->nprow, &h->npcol);
  blacs_gridinfo_(&h->ctxt, &h->nprow, &h->npcol, &h->myrow, &h->mycol);
  if (block <= 0) /* 64 (ScaLAPACK's usual) unless that leaves ranks idle */
    for (block = 64; block > 4 && (int64_t)block * h->npcol * 2 > order;)
      block /= 2;
  h->nb = block;
  h->nblocks = (h->n + h->nb - 1) / h->nb;
  h->rank_of = tsim_xcalloc((size_t)(h->nprow * h->npcol), sizeof(int));
  for (int pr = 0; pr < h->nprow; ++pr)
    for (int pc = 0; pc < h->npcol; ++pc)
      h->rank_of[pr * h->npcol + pc] = blacs_pnum_(&h->ctxt, &pr, &pc);
  const int zero = 0;
  h->mloc = numroc_(&h->n, &h->nb, &h->myrow, &zero, &h->nprow);
  h->nloc = numroc_(&h->n, &h->nb, &h->mycol, &zero, &h->npcol);
  h->lld = h->mloc > 1 ? h->mloc : 1;
  int info = 0;
  descinit_(h->desc, &h->n, &h->n, &h->nb, &h->nb, &zero, &zero, &h->ctxt,
            &h->lld, &info);
  h->a = tsim_xcalloc((size_t)h->lld * (size_t)(h->nloc > 0 ? h->nloc : 1),
                      sizeof(double));
  return h;
}

void hessian_destroy(hessian **hp) {
  if (!hp || !*hp) return;
  hessian *h = *hp;
  blacs_gridexit_(&h->ctxt);
  free(h->rank_of);
  free(h->a);
  free(h);
  *hp = NULL;
}

int64_t hessian_order(const hessian *h) { return h->n; }

/* global index of local row LI (or column, with the column grid) */
static int64_t global_of(const hessian *h, int li, int me, int nprocs) {
  return ((int64_t)(li / h->nb) * nprocs + me) * h->nb + li % h->nb;
}

static inline double dot(const double *a, const double *b, int64_t n) {
  double s = 0.0;
  for (int64_t j = 0; j < n; ++j) s += a[j] * b[j];
  return s;
}

/* --------------------------------------------------------- assembly */

/* Rows [r0, r0 + rows) of the local shard: chunk C, row-major into X;
 * returns its labels. */
static const double *chunk_rows(const tsim_dataset *ds, int64_t c, double *X, int64_t *r0,
                                int64_t *rows) {
  const double *y;
  data_chunk_rows(ds, c, X, &y, rows);
  *r0 = c * ds->chunk - ds->row_begin;
  return y;
}

/* Per local row i: D1[i K + k] = act'(u_ik) and RD2[i R + k], k < R, the
 * residual factor r_i act''. For a constant act'' (2 for the quadratic
 * activation, 0 away from the kinks for relu/abs) R = 1 and the residual
 * term of a chunk is one d x d matrix M = sum_i r_i act'' x_i x_i^T shared
 * by all diagonal blocks; a smooth activation has R = K, one M_k per neuron
 * from r_i act''(u_ik).
 *
 * With trained output weights (theta = (w_1..w_K, a_1..a_K), N = d K + K),
 * f = C sum_k a_k act(u_k), r = f - y and L = s mean r^2 give
 *   H = 2 s mean [df/dtheta df/dtheta^T + r d2f/dtheta2],
 *   df/dw_k = C a_k act'(u_k) x,   df/da_k = C act(u_k),
 *   d2f/dw_k2 = C a_k act''(u_k) x x^T,   d2f/dw_k da_k = C act'(u_k) x,
 * and d2f/da2 = 0, the other cross terms 0. So D1 holds a_k act'(u_k),
 * OUT (not NULL) act(u_k), RD2 (R = K) r_i a_k act''(u_ik) and RD1
 * r_i act'(u_ik), the factor of the (a_k, w_k) block. */
static void row_factors(const tsim_model *m, const tsim_dataset *ds,
                        const double *W, double *X, double *D1, double *RD2, double *OUT,
                        double *RD1) {
  const int64_t d = m->d, K = m->K;
  const tsim_activation_info *act = activation_info(m->activation);
  const double *aw = m->train_output ? W + K * d : NULL;
  double *u = tsim_xmalloc((size_t)K * sizeof(double));
  for (int64_t c = ds->chunk_begin; c < ds->chunk_end; ++c) {
    int64_t r0, rows;
    const double *y = chunk_rows(ds, c, X, &r0, &rows);
    for (int64_t i = 0; i < rows; ++i) {
      double f = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        u[k] = dot(X + i * d, W + k * d, d);
        f += aw ? aw[k] * act->value(u[k]) : act->value(u[k]);
      }
      const double r = m->C * f - y[i];
      if (aw) {
        for (int64_t k = 0; k < K; ++k) {
          const int64_t e = (r0 + i) * K + k;
          D1[e] = aw[k] * act->slope(u[k]);
          OUT[e] = act->value(u[k]);
          RD2[e] = r * aw[k] * (act->smooth ? act->second(u[k]) : act->curvature);
          RD1[e] = r * act->slope(u[k]);
        }
        continue;
      }
      for (int64_t k = 0; k < K; ++k) D1[(r0 + i) * K + k] = act->slope(u[k]);
      if (act->smooth)
        for (int64_t k = 0; k < K; ++k) RD2[(r0 + i) * K + k] = r * act->second(u[k]);
      else
        RD2[r0 + i] = r * act->curvature;
    }
  }
  free(u);
}


/* The chunk's residual matrix M (d x d, column-major) of factor column k of
 * RD2 (R columns), by dgemm over sub-blocks of rows in a fixed order: the
 * same bits on any rank. */
static void chunk_residual(const tsim_dataset *ds, const double *Xc, const double *RD2,
                           int64_t R, int64_t k, int64_t r0, int64_t rows, double *Y,
                           double *M) {
  const int d = (int)ds->d;
  const double one = 1.0;
  memset(M, 0, (size_t)d * (size_t)d * sizeof(double));
  for (int64_t s0 = 0; s0 < rows; s0 += SUB_ROWS) {
    const int rs = (int)(rows - s0 < SUB_ROWS ? rows - s0 : SUB_ROWS);
    const double *X = Xc + s0 * d; /* = X^T, column-major d x rs */
    for (int i = 0; i < rs; ++i)
      for (int a = 0; a < d; ++a)
        Y[(int64_t)i * d + a] = RD2[(r0 + s0 + i) * R + k] * X[(int64_t)i * d + a];
    dgemm_("N", "T", &d, &d, &rs, &one, X, &d, Y, &d, &one, M, &d, 1, 1);
  }
}

/* Bound on |entry| of one chunk's partial: with S_g = sum_i z_ig^2 and
 * T_ak = sum_i |RD2_ik| x_ia^2, Cauchy-Schwarz gives |2C^2 sum z_g z_h| <=
 * 2C^2 max S and |2C sum RD2 x_a x_b| <= 2C max T. With trained output
 * weights (OUT, RD1 not NULL) S also runs over z = act(u_k) and T over the
 * (a_k, w_k) block's sum_i |RD1_ik x_ia|. */
static double chunk_bound(const tsim_model *m, const double *Xc, const double *D1,
                          const double *RD2, int64_t R, const double *OUT, const double *RD1,
                          int64_t r0, int64_t rows) {
  const int64_t d = m->d, K = m->K;
  double smax = 0.0, tmax = 0.0;
  for (int64_t k = 0; OUT && k < K; ++k) {
    double S = 0.0;
    for (int64_t i = r0; i < r0 + rows; ++i) S += OUT[i * K + k] * OUT[i * K + k];
    if (!(S <= smax)) smax = S;
    for (int64_t a = 0; a < d; ++a) {
      double U = 0.0;
      for (int64_t i = r0; i < r0 + rows; ++i) U += fabs(RD1[i * K + k] * Xc[(i - r0) * d + a]);
      if (!(U <= tmax)) tmax = U;
    }
  }
  for (int64_t a = 0; a < d; ++a) {
    for (int64_t k = 0; k < R; ++k) {
      double T = 0.0;
      for (int64_t i = r0; i < r0 + rows; ++i) {
        const double x = Xc[(i - r0) * d + a];
        T += fabs(RD2[i * R + k]) * x * x;
      }
      if (!(T <= tmax)) tmax = T; /* NaN propagates */
    }
    for (int64_t k = 0; k < K; ++k) {
      double S = 0.0;
      for (int64_t i = r0; i < r0 + rows; ++i) {
        const double z = D1[i * K + k] * Xc[(i - r0) * d + a];
        S += z * z;
      }
      if (!(S <= smax)) smax = S;
    }
  }
  return 2.0 * m->C * m->C * smax + 2.0 * m->C * tmax;
}

void hessian_assemble_samples(hessian *h, const tsim_model *m,
                              const tsim_dataset *ds, const double *W) {
  const int64_t d = m->d, K = m->K, N = h->n, Kd = K * d; /* N = Kd + K with train_output */
  const int64_t nrows = ds->row_end - ds->row_begin;
  const int64_t nlocal = ds->chunk_end - ds->chunk_begin;
  const tsim_activation_info *act = activation_info(m->activation);
  const int residual = act->smooth || act->curvature != 0.0, out = m->train_output;
  const int64_t nres = act->smooth || out ? K : 1; /* residual matrices per chunk */
  double *D1 = tsim_xmalloc((size_t)(nrows * K + 1) * sizeof(double));
  double *RD2 = tsim_xmalloc((size_t)(nrows * nres + 1) * sizeof(double));
  double *OUT = out ? tsim_xmalloc((size_t)(nrows * K + 1) * sizeof(double)) : NULL;
  double *RD1 = out ? tsim_xmalloc((size_t)(nrows * K + 1) * sizeof(double)) : NULL;
  /* per local chunk, the (a_k, w_k) blocks sum_i r_i act'(u_ik) x_i (K d) */
  double *Vres = out ? tsim_xcalloc((size_t)(nlocal * Kd + 1), sizeof(double)) : NULL;
  double *Xc = tsim_xmalloc((size_t)(ds->chunk * d) * sizeof(double)); /* a chunk, row-major */
  row_factors(m, ds, W, Xc, D1, RD2, OUT, RD1);

  /* the team-wide scale of the fixed-point grid, and each local chunk's
   * residual matrices (nres d^2 per chunk of 2048 rows: less than the data
   * while nres d < 2048) */
  double bound = 0.0;
  double *Mres =
      residual ? tsim_xmalloc((size_t)(nlocal * nres * d * d + 1) * sizeof(double)) : NULL;
  double *Z = tsim_xmalloc((size_t)((N > d ? N : d) * SUB_ROWS) * sizeof(double));
  for (int64_t c = ds->chunk_begin; c < ds->chunk_end; ++c) {
    int64_t r0, rows;
    chunk_rows(ds, c, Xc, &r0, &rows);
    const double b = chunk_bound(m, Xc, D1, RD2, nres, OUT, RD1, r0, rows);
    if (!(b <= bound)) bound = b;
    for (int64_t k = 0; residual && k < nres; ++k)
      chunk_residual(ds, Xc, RD2, nres, k, r0, rows, Z,
                     Mres + ((c - ds->chunk_begin) * nres + k) * d * d);
    double *v = out ? Vres + (c - ds->chunk_begin) * Kd : NULL;
    for (int64_t i = 0; v && i < rows; ++i) /* in row order: the same bits on any rank */
      for (int64_t k = 0; k < K; ++k)
        for (int64_t a = 0; a < d; ++a) v[k * d + a] += RD1[(r0 + i) * K + k] * Xc[i * d + a];
  }
  const int64_t nonfinite = par_max_int64(h->team, !isfinite(bound));
  const int E = (int)par_max_int64(h->team, nlocal > 0 ? fixsum_exponent(bound) : -2000);
  const int lsb = fixsum_lsb(E);
  h->finite = !nonfinite;

  const double inv_n = 1.0 / (double)ds->n;
  const double gn = 2.0 * m->C * m->C, res = 2.0 * m->C;
  const int nb = h->nb;
  double *P = tsim_xmalloc((size_t)(N * nb) * sizeof(double));
  int64_t *acc = tsim_xmalloc((size_t)(N * nb * FIXSUM_WORDS) * sizeof(int64_t));
  int64_t *mine = tsim_xmalloc((size_t)(h->mloc * nb + 1) * FIXSUM_WORDS *
                               sizeof(int64_t));
  int64_t *pos = tsim_xmalloc((size_t)N * sizeof(int64_t));
  int64_t *counts = tsim_xcalloc((size_t)h->size, sizeof(int64_t));
  int64_t *start = tsim_xcalloc((size_t)h->size, sizeof(int64_t));
  memset(h->a, 0, (size_t)h->lld * (size_t)(h->nloc > 0 ? h->nloc : 1) *
                      sizeof(double));

  for (int jb = 0; jb < h->nblocks; ++jb) {
    const int64_t j0 = (int64_t)jb * nb;
    const int w = (int)(N - j0 < nb ? N - j0 : nb);
    const int R = (int)(N - j0);
    const int pcol = jb % h->npcol;
    /* packed position of panel row rho: owners in team-rank order, each
     * owner's rows in its local (= global) order */
    memset(counts, 0, (size_t)h->size * sizeof(int64_t));
    for (int rho = 0; rho < R; ++rho) {
      const int pr = (int)(((j0 + rho) / nb) % h->nprow);
      counts[h->rank_of[pr * h->npcol + pcol]] += 1;
    }
    for (int r = 0, run = 0; r < h->size; ++r) {
      start[r] = run;
      run += (int)counts[r];
    }
    for (int rho = 0; rho < R; ++rho) {
      const int pr = (int)(((j0 + rho) / nb) % h->nprow);
      pos[rho] = start[h->rank_of[pr * h->npcol + pcol]]++;
    }

    memset(acc, 0, (size_t)R * (size_t)w * FIXSUM_WORDS * sizeof(int64_t));
    int64_t pending = 0;
    for (int64_t c = ds->chunk_begin; c < ds->chunk_end; ++c) {
      int64_t c0, crows;
      chunk_rows(ds, c, Xc, &c0, &crows);
      memset(P, 0, (size_t)R * (size_t)w * sizeof(double));
      for (int64_t s0 = 0; s0 < crows; s0 += SUB_ROWS) {
        const int rs = (int)(crows - s0 < SUB_ROWS ? crows - s0 : SUB_ROWS);
        const double *X = Xc + s0 * d;
        const double *F1 = D1 + (c0 + s0) * K;
        /* Z^T: column i holds z_g = act'(u_ik) x_ia for g = j0..N-1 (with trained output
         * weights a_k act'(u_ik) x_ia, then act(u_ik) for g = Kd + k) */
        const int Rw = (int)(j0 < Kd ? Kd - j0 : 0);
        for (int i = 0; i < rs; ++i) {
          double *zc = Z + (int64_t)i * R;
          const double *f1 = F1 + i * K, *xi = X + i * d;
          int64_t k = j0 / d, a = j0 % d;
          for (int rho = 0; rho < Rw; ++rho) {
            zc[rho] = f1[k] * xi[a];
            if (++a == d) a = 0, ++k;
          }
          for (int rho = Rw; rho < R; ++rho) zc[rho] = OUT[(c0 + s0 + i) * K + (j0 + rho - Kd)];
        }
        const double one = 1.0;
        dgemm_("N", "T", &R, &w, &rs, &gn, Z, &R, Z, &R, &one, P, &R, 1, 1);
      }
      if (residual) { /* on the diagonal blocks k = l */
        for (int col = 0; col < w && j0 + col < Kd; ++col) {
          const int64_t hh = j0 + col, l = hh / d, b = hh % d;
          const double *Mc = Mres + ((c - ds->chunk_begin) * nres + (nres > 1 ? l : 0)) * d * d;
          for (int64_t a = 0; a < d; ++a) {
            const int64_t g = l * d + a;
            if (g >= j0) P[(g - j0) + (int64_t)col * R] += res * Mc[a + b * d];
          }
        }
      }
      if (out) { /* the (a_l, w_l) blocks: row Kd + l, column l d + b */
        const double *v = Vres + (c - ds->chunk_begin) * Kd;
        for (int col = 0; col < w && j0 + col < Kd; ++col) {
          const int64_t hh = j0 + col, l = hh / d;
          P[(Kd + l - j0) + (int64_t)col * R] += res * v[hh];
        }
      }
      for (int col = 0; col < w; ++col)
        for (int rho = 0; rho < R; ++rho)
          fixsum_add_one(acc + (pos[rho] * w + col) * FIXSUM_WORDS,
                         P[rho + (int64_t)col * R], lsb);
      if (++pending >= (1 << 29)) {
        fixsum_normalize(acc, (int64_t)R * w);
        pending = 0;
      }
    }
    fixsum_normalize(acc, (int64_t)R * w);
    for (int r = 0; r < h->size; ++r) counts[r] *= (int64_t)w * FIXSUM_WORDS;
    par_reduce_scatter_int64(h->team, acc, mine, counts);
    if (h->mycol != pcol) continue;
    /* my rows of this panel: the local rows from the first one >= j0 on */
    const int64_t nmine = counts[h->rank] / ((int64_t)w * FIXSUM_WORDS);
    fixsum_normalize(mine, nmine * w);
    const int li0 = h->mloc - (int)nmine;
    const int lj0 = (jb / h->npcol) * nb;
    for (int64_t q = 0; q < nmine; ++q)
      for (int col = 0; col < w; ++col) {
        const double v = fixsum_round(mine + (q * w + col) * FIXSUM_WORDS, lsb);
        h->a[(li0 + q) + (int64_t)(lj0 + col) * h->lld] =
            nonfinite ? NAN : m->loss_scale * v * inv_n;
      }
  }
  free(Xc);
  free(D1);
  free(RD2);
  free(OUT);
  free(RD1);
  free(Vres);
  free(Mres);
  free(Z);
  free(P);
  free(acc);
  free(mine);
  free(pos);
  free(counts);
  free(start);
}

/* Local index of global row (or column) G on grid row ME of NPROCS, -1 if
 * another row of the grid holds it. */
static int local_of(const hessian *h, int64_t g, int me, int nprocs) {
  const int64_t blk = g / h->nb;
  if (blk % nprocs != me) return -1;
  return (int)((blk / nprocs) * h->nb + g % h->nb);
}

/* The population Hessian from population.c's blocks (relu, abs, linear, erf): each rank
 * computes the blocks (k, l), k >= l, it holds entries of. */
static void assemble_population_blocks(hessian *h, const tsim_model *m,
                                       const tsim_teacher *t, const double *W) {
  const int64_t d = m->d, K = m->K;
  population *pop = population_create(m, t, 0.0);
  h->finite = isfinite(population_loss(pop, W, NULL)) != 0; /* W is the same on every rank */
  memset(h->a, 0, (size_t)h->lld * (size_t)(h->nloc > 0 ? h->nloc : 1) *
                      sizeof(double));
  double *B = tsim_xmalloc((size_t)(d * d) * sizeof(double));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t l = 0; l <= k; ++l) {
      int row = 0, col = 0; /* this rank holds rows, columns of the block */
      for (int64_t a = 0; a < d && !row; ++a) row = local_of(h, k * d + a, h->myrow, h->nprow) >= 0;
      for (int64_t b = 0; b < d && !col; ++b) col = local_of(h, l * d + b, h->mycol, h->npcol) >= 0;
      if (!row || !col) continue;
      population_hessian_block(pop, k, l, B);
      for (int64_t b = 0; b < d; ++b) {
        const int lj = local_of(h, l * d + b, h->mycol, h->npcol);
        if (lj < 0) continue;
        for (int64_t a = 0; a < d; ++a) {
          const int li = local_of(h, k * d + a, h->myrow, h->nprow);
          if (li >= 0 && k * d + a >= l * d + b) h->a[li + (int64_t)lj * h->lld] = B[a * d + b];
        }
      }
    }
  free(B);
  population_destroy(&pop);
}

void hessian_assemble_population(hessian *h, const tsim_model *m,
                                 const tsim_teacher *t, const double *W) {
  const tsim_activation_info *act = activation_info(m->activation);
  switch (act->population) {
    case ACT_POP_ISSERLIS: /* the one teacher w* of Wang & Abernethy below */
      if (t->m == 1 && t->coef == 1.0 && !t->a) break;
      assemble_population_blocks(h, m, t, W);
      return;
    case ACT_POP_ARCCOS: case ACT_POP_ARCSIN: assemble_population_blocks(h, m, t, W); return;
    case ACT_POP_NONE: /* refused by cellkind_hessian */
      fprintf(stderr, "tsim: internal: no population Hessian for activation %s\n", act->name);
      abort();
  }
  const int64_t d = m->d, K = m->K;
  const double C = m->C, s = m->loss_scale;
  double *gram = tsim_xmalloc((size_t)(K * K) * sizeof(double));
  double *A = tsim_xmalloc((size_t)(d * d) * sizeof(double));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t l = 0; l < K; ++l) gram[k * K + l] = dot(W + k * d, W + l * d, d);
  double trA = 0.0;
  for (int64_t a = 0; a < d; ++a)
    for (int64_t b = 0; b < d; ++b) {
      double ww = 0.0;
      for (int64_t k = 0; k < K; ++k) ww += W[k * d + a] * W[k * d + b];
      A[a * d + b] = C * ww - t->w[a] * t->w[b];
    }
  for (int64_t a = 0; a < d; ++a) trA += A[a * d + a];
  h->finite = isfinite(trA); /* W is the same on every rank */
  for (int64_t k = 0; k < K * K; ++k) h->finite &= isfinite(gram[k]) != 0;
  memset(h->a, 0, (size_t)h->lld * (size_t)(h->nloc > 0 ? h->nloc : 1) *
                      sizeof(double));
  for (int lj = 0; lj < h->nloc; ++lj) {
    const int64_t hh = global_of(h, lj, h->mycol, h->npcol);
    const int64_t l = hh / d, b = hh % d;
    for (int li = 0; li < h->mloc; ++li) {
      const int64_t g = global_of(h, li, h->myrow, h->nprow);
      if (g < hh) continue;
      const int64_t k = g / d, a = g % d;
      const double gn = (a == b ? gram[k * K + l] : 0.0) +
                        W[k * d + a] * W[l * d + b] + W[k * d + b] * W[l * d + a];
      const double rt = k == l ? (a == b ? trA : 0.0) + 2.0 * A[a * d + b] : 0.0;
      h->a[li + (int64_t)lj * h->lld] = s * (8.0 * C * C * gn + 4.0 * C * rt);
    }
  }
  free(gram);
  free(A);
}

void hessian_assemble_moments(hessian *h, const tsim_model *m,
                              const tsim_teacher *t, const double *W,
                              int64_t n, hessian_moment_fn moment,
                              const void *ctx) {
  const int64_t d = m->d, K = m->K;
  const double C = m->C, s = m->loss_scale, inv_n = 1.0 / (double)n;
  double *A = tsim_xmalloc((size_t)(d * d) * sizeof(double));
  double *Mab = tsim_xmalloc((size_t)(d * d) * sizeof(double));
  double *MW = tsim_xmalloc((size_t)(d * K) * sizeof(double));
  double *Q = tsim_xmalloc((size_t)(K * K) * sizeof(double));
  unsigned char *need = tsim_xcalloc((size_t)(d * d), 1);
  h->finite = 1;
  for (int64_t a = 0; a < d; ++a)
    for (int64_t b = 0; b < d; ++b) {
      double ww = 0.0;
      for (int64_t k = 0; k < K; ++k) ww += W[k * d + a] * W[k * d + b];
      A[a * d + b] = C * ww - t->w[a] * t->w[b];
      h->finite &= isfinite(A[a * d + b]) != 0;
    }
  memset(h->a, 0, (size_t)h->lld * (size_t)(h->nloc > 0 ? h->nloc : 1) *
                      sizeof(double));
  /* the (a, b) pairs this rank's lower-triangle entries use */
  for (int lj = 0; lj < h->nloc; ++lj) {
    const int64_t hh = global_of(h, lj, h->mycol, h->npcol);
    for (int li = 0; li < h->mloc; ++li) {
      const int64_t g = global_of(h, li, h->myrow, h->nprow);
      if (g >= hh) need[(g % d) * d + hh % d] = 1;
    }
  }
  for (int64_t a = 0; a < d; ++a)
    for (int64_t b = 0; b < d; ++b) {
      if (!need[a * d + b]) continue;
      double ma = 0.0; /* <M_ab, A> */
      for (int64_t c = 0; c < d; ++c)
        for (int64_t e = 0; e < d; ++e) {
          Mab[c * d + e] = moment(ctx, a, b, c, e);
          ma += Mab[c * d + e] * A[c * d + e];
        }
      for (int64_t l = 0; l < K; ++l) /* MW = M_ab w_l */
        for (int64_t c = 0; c < d; ++c) {
          double v = 0.0;
          for (int64_t e = 0; e < d; ++e) v += Mab[c * d + e] * W[l * d + e];
          MW[l * d + c] = v;
        }
      for (int64_t k = 0; k < K; ++k)
        for (int64_t l = 0; l < K; ++l) Q[k * K + l] = dot(W + k * d, MW + l * d, d);
      /* place into every local entry with this (a, b) */
      for (int lj = 0; lj < h->nloc; ++lj) {
        const int64_t hh = global_of(h, lj, h->mycol, h->npcol);
        if (hh % d != b) continue;
        const int64_t l = hh / d;
        for (int li = 0; li < h->mloc; ++li) {
          const int64_t g = global_of(h, li, h->myrow, h->nprow);
          if (g < hh || g % d != a) continue;
          const int64_t k = g / d;
          const double gn = 8.0 * C * C * Q[k * K + l];
          const double v = k == l ? gn + 4.0 * C * ma : gn;
          h->a[li + (int64_t)lj * h->lld] = s * v * inv_n;
        }
      }
    }
  free(A);
  free(Mab);
  free(MW);
  free(Q);
  free(need);
}

void hessian_shift(hessian *h, double lambda) {
  for (int lj = 0; lj < h->nloc; ++lj) {
    const int64_t hh = global_of(h, lj, h->mycol, h->npcol);
    for (int li = 0; li < h->mloc; ++li)
      if (global_of(h, li, h->myrow, h->nprow) == hh) h->a[li + (int64_t)lj * h->lld] += lambda;
  }
}

/* ----------------------------------------------------------- queries */

double hessian_quad(const hessian *h, const double *V) {
  if (!h->finite) return NAN;
  xsum_vec *acc = xsum_create(1);
  for (int lj = 0; lj < h->nloc; ++lj) {
    const int64_t hh = global_of(h, lj, h->mycol, h->npcol);
    for (int li = 0; li < h->mloc; ++li) {
      const int64_t g = global_of(h, li, h->myrow, h->nprow);
      if (g < hh) continue;
      double term = h->a[li + (int64_t)lj * h->lld] * V[g] * V[hh];
      if (g > hh) term *= 2.0; /* the upper triangle's mirror, exactly */
      xsum_add(acc, &term);
    }
  }
  xsum_normalize(acc);
  if (h->size > 1) {
    par_sum_int64(h->team, acc->words, XSUM_WORDS);
    xsum_normalize(acc);
  }
  double out = 0.0;
  xsum_round(acc, &out);
  xsum_destroy(&acc);
  return out;
}

int hessian_eigen(hessian *h, double *eig, const double *V, double *overlap,
                  tsim_error *err) {
  const int one = 1;
  int info = 0, lwork = -1, liwork = -1, iquery = 0;
  double wquery = 0.0;
  double *z = NULL, *work = NULL;
  int *iwork = NULL;
  if (!h->finite) { /* a diverged W: no solver run on NaNs (all ranks agree) */
    for (int64_t j = 0; j < h->n; ++j) {
      eig[j] = NAN;
      if (overlap) overlap[j] = NAN;
    }
    return TSIM_OK;
  }
  if (overlap) {
    z = tsim_xcalloc((size_t)h->lld * (size_t)(h->nloc > 0 ? h->nloc : 1),
                     sizeof(double));
    pdsyevd_("V", "L", &h->n, h->a, &one, &one, h->desc, eig, z, &one, &one,
             h->desc, &wquery, &lwork, &iquery, &liwork, &info, 1, 1);
    lwork = (int)wquery + 1;
    liwork = iquery > 7 * h->n + 8 * h->npcol + 2 ? iquery
                                                  : 7 * h->n + 8 * h->npcol + 2;
    work = tsim_xmalloc((size_t)lwork * sizeof(double));
    iwork = tsim_xmalloc((size_t)liwork * sizeof(int));
    pdsyevd_("V", "L", &h->n, h->a, &one, &one, h->desc, eig, z, &one, &one,
             h->desc, work, &lwork, iwork, &liwork, &info, 1, 1);
  } else {
    pdsyev_("N", "L", &h->n, h->a, &one, &one, h->desc, eig, h->a, &one, &one,
            h->desc, &wquery, &lwork, &info, 1, 1);
    /* pdsyev's query for JOBZ = 'N' can come out a little short */
    lwork = (int)wquery + 2 * h->n + 1024;
    work = tsim_xmalloc((size_t)lwork * sizeof(double));
    pdsyev_("N", "L", &h->n, h->a, &one, &one, h->desc, eig, h->a, &one, &one,
            h->desc, work, &lwork, &info, 1, 1);
  }
  free(work);
  free(iwork);
  int rc = TSIM_OK;
  if (info != 0)
    rc = tsim_fail(err, TSIM_EFAIL, "hessian: %s failed with info = %d",
                   overlap ? "pdsyevd" : "pdsyev", info);
  rc = par_agree(h->team, rc, err);
  if (!rc && overlap) {
    /* z_j . V: local partial dots summed exactly over the team */
    double *dots = tsim_xcalloc((size_t)h->n, sizeof(double));
    for (int lj = 0; lj < h->nloc; ++lj) {
      const int64_t j = global_of(h, lj, h->mycol, h->npcol);
      double sdot = 0.0;
      for (int li = 0; li < h->mloc; ++li)
        sdot += z[li + (int64_t)lj * h->lld] *
                V[global_of(h, li, h->myrow, h->nprow)];
      dots[j] = sdot;
    }
    esum *es = esum_create(h->n);
    esum_begin(es);
    esum_add(es, dots);
    esum_finish(es, h->team, h->size, dots);
    esum_destroy(&es);
    double vv = 0.0;
    for (int64_t g = 0; g < h->n; ++g) vv += V[g] * V[g];
    for (int64_t j = 0; j < h->n; ++j)
      overlap[j] = vv > 0.0 ? dots[j] * dots[j] / vv : NAN;
    free(dots);
  }
  free(z);
  return rc;
}

void hessian_gather(const hessian *h, double *full) {
  const int64_t N = h->n;
  memset(full, 0, (size_t)(N * N) * sizeof(double));
  for (int lj = 0; lj < h->nloc; ++lj) {
    const int64_t hh = global_of(h, lj, h->mycol, h->npcol);
    for (int li = 0; li < h->mloc; ++li) {
      const int64_t g = global_of(h, li, h->myrow, h->nprow);
      if (g < hh) continue;
      full[g * N + hh] = h->a[li + (int64_t)lj * h->lld];
    }
  }
  /* every entry is non-zero on one rank at most: the double sum is exact */
  if (h->size > 1) par_sum_double(h->team, full, N * N);
  for (int64_t g = 0; g < N; ++g)
    for (int64_t hh = g + 1; hh < N; ++hh) full[g * N + hh] = full[hh * N + g];
}
