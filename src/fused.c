/* fused.c - the fused, cache-blocked chunk pass (see fused.h).
 *
 * The samples come in row groups (data.h): LANES rows coordinate-major, so
 * the loops over rows are unit-stride and vectorise across rows straight
 * from the stored samples, with no copy or transpose per iteration (the
 * transpose of row-major blocks cost about 3 ns of 16 per sample at
 * d = K = 10). The vectorised arithmetic is the scalar arithmetic of each
 * row (no sum is split across vector lanes except the row sums, whose lane
 * layout is fixed by LANES in the source), so any vector width gives the
 * same bits.
 *
 * Hand-written loops rather than OpenBLAS dgemm: measured 1.3-1.5x faster
 * than three dgemm calls per 2048-row chunk at d = 10, K = 10 and about
 * 1.25x at d = 100 (README, Exactness), and dgemm's bits would depend on
 * the CPU's kernel and on the number of columns in the call (a cell in a
 * batch would not get its unbatched bits). */
#include "tsim/fused.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/config.h"
#include "tsim/data.h"

/* vlanes values never cross a call boundary (all helpers are inlined) */
#pragma GCC diagnostic ignored "-Wpsabi"

/* Row sums are kept in LANES accumulators (row i in lane i % LANES): the
 * vectorisable form of a sum over rows, fixed in the source so the bits do
 * not depend on the vector width. Blocks are multiples of LANES rows. */
#define LANES DATA_GROUP
#define BLOCK_MAX 512
#define BLOCK_DOUBLES 2048
#define STRIPS 4 /* row strips of LANES per register tile */
#define TILE (STRIPS * LANES)
#define PROJ_COLS 4   /* projection tiles: PROJ_COLS columns x PROJ_STRIPS strips */
#define PROJ_STRIPS 2
#define GRAD_J 10   /* gradient tiles: 2 neurons x up to GRAD_J coordinates */
#define AHEAD_BLOCKS 2 /* samples prefetched this many blocks ahead */
#define LINE 64
#define SACC(kmax) ((2 + (kmax)) * LANES) /* lane sums per job in sacc */

/* Built once per CPU family: x86-64-v4 (AVX-512), v3 (AVX2) and baseline
 * clones of the hot loops, chosen at load time. No clone reassociates or
 * contracts (-ffp-contract=off), so all give identical bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    !defined(TSIM_NO_CLONES) && !defined(__SANITIZE_ADDRESS__)
#define HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HOT
#endif
#define INLINE static inline __attribute__((always_inline))

struct fused_work {
  int64_t d, kmax, block;
  double *xt;      /* a last, partial block's row groups, zero-padded */
  double *y;       /* its labels, zero-padded */
  double *u, *v;   /* kmax x block: X_b W and X_b V */
  double *z;       /* block: X_b toward (a job's structured direction) */
  double *r;       /* block residuals */
  double *dl;      /* kmax x block: dloss/du (relu, abs, norm tie) */
  double *outw;    /* per job: kmax output weights a_k (relu, abs, norm tie) */
  double *gacc;    /* per job: K*d*LANES gradient lane sums */
  double *sacc;    /* per job: (2 + kmax)*LANES loss, Hessian-form and
                    * norm-tie lane sums */
  int jobs_cap;
};

static double *doubles(int64_t n) {
  return tsim_xmalloc_lines((size_t)(n > 0 ? n : 1) * sizeof(double));
}

fused_work *fused_work_create(int64_t d, int64_t kmax) {
  fused_work *w = tsim_xcalloc(1, sizeof *w);
  w->d = d;
  w->kmax = kmax;
  /* a block's X_b, U, X_b V and r (d + 2 kmax + 1 doubles per row) in
   * about half of a 32 KB L1 data cache: measured 1.5x faster at d = 10,
   * K = 10 than blocks sized for L2. Bits do not depend on the block. */
  int64_t b = (BLOCK_DOUBLES / (d + 2 * kmax + 1)) / TILE * TILE;
  if (b < TILE) b = TILE;
  if (b > BLOCK_MAX) b = BLOCK_MAX;
  w->block = b;
  w->xt = doubles(d * b);
  w->y = doubles(b);
  w->u = doubles(kmax * b);
  w->v = doubles(kmax * b);
  w->z = doubles(b);
  w->r = doubles(b);
  w->dl = doubles(kmax * b);
  return w;
}

void fused_work_destroy(fused_work **wp) {
  if (!wp || !*wp) return;
  fused_work *w = *wp;
  free(w->xt);
  free(w->y);
  free(w->u);
  free(w->v);
  free(w->z);
  free(w->r);
  free(w->dl);
  free(w->outw);
  free(w->gacc);
  free(w->sacc);
  free(w);
  *wp = NULL;
}

static void reserve_jobs(fused_work *w, int njobs) {
  if (njobs <= w->jobs_cap) return;
  free(w->gacc);
  free(w->sacc);
  free(w->outw);
  w->gacc = doubles((int64_t)njobs * w->kmax * w->d * LANES);
  w->sacc = doubles((int64_t)njobs * SACC(w->kmax));
  w->outw = doubles((int64_t)njobs * w->kmax);
  w->jobs_cap = njobs;
}

/* Software prefetch of the samples AHEAD_BLOCKS blocks ahead, a few cache
 * lines at each step of the projection and gradient loops, so that the
 * misses overlap the arithmetic instead of stalling the start of each new
 * block. The hardware prefetcher alone left about 5 ns per sample of
 * memory stall at n = 1e6, d = K = 10 (samples in DRAM: 21 ns per sample
 * against 16 ns with them in cache); issuing a whole block's lines at once
 * fills the miss buffers and stalls the same way. Hints only: no bits
 * change. */
typedef struct ahead {
  uintptr_t next, end; /* addresses of the lines still to prefetch (may lie
                        * past the samples: integers, not pointers) */
  int64_t per_step;
} ahead;

INLINE void ahead_step(ahead *a) {
  for (int64_t l = 0; l < a->per_step && a->next < a->end; ++l, a->next += LINE)
    __builtin_prefetch((const void *)a->next, 0, 3);
}

/* LANES doubles as one value of GCC's vector extension: elementwise IEEE
 * operations, so the bits are those of the scalar loops, on any ISA. */
typedef double vlanes __attribute__((vector_size(LANES * sizeof(double))));

INLINE vlanes vload(const double *p) {
  vlanes v;
  memcpy(&v, p, sizeof v);
  return v;
}
INLINE void vstore(double *p, vlanes v) { memcpy(p, &v, sizeof v); }

typedef long long vidx __attribute__((vector_size(LANES * sizeof(long long))));

/* A block of row groups: coordinate j of rows i0 .. i0 + LANES - 1 (i0 a
 * multiple of LANES) as one vector (data.h's layout). */
INLINE const double *group(const double *X, int64_t d, int64_t i0, int64_t j) {
  return X + i0 * d + j * LANES;
}

/* The last block of a chunk when its rows are not a whole number of
 * register tiles: its ROWS rows (whole row groups, as data_chunk gives
 * them) copied into the work space, rows from ROWS to B zero, labels
 * likewise. Copies only: the bits are the samples'. */
static void load_tail(fused_work *w, const double *restrict x, const double *restrict y,
                      int64_t rows, int64_t B) {
  const int64_t d = w->d, full = rows / LANES * LANES;
  memcpy(w->xt, x, (size_t)(full * d) * sizeof(double));
  memset(w->xt + full * d, 0, (size_t)((B - full) * d) * sizeof(double));
  for (int64_t j = 0; j < d; ++j)
    for (int64_t l = 0; l < rows - full; ++l)
      w->xt[full * d + j * LANES + l] = x[full * d + j * LANES + l];
  memcpy(w->y, y, (size_t)rows * sizeof(double));
  memset(w->y + rows, 0, (size_t)(B - rows) * sizeof(double));
}

/* U[k][i] = sum_j W[k][j] x_ij (j ascending) for K columns of the block
 * of row groups X: a tile of NC columns x PROJ_STRIPS groups stays in
 * registers while j runs (independent chains hide the add latency; the
 * broadcast W[k][j] is a memory operand). */
INLINE void project_tile(const double *restrict X, int64_t B, int64_t d,
                         const double *restrict W, int64_t k, int nc,
                         double *restrict U, int64_t i0) {
  vlanes a[PROJ_COLS][PROJ_STRIPS];
  for (int t = 0; t < PROJ_STRIPS; ++t) {
    const vlanes x = vload(group(X, d, i0 + t * LANES, 0));
    for (int c = 0; c < nc; ++c) a[c][t] = W[(k + c) * d] * x;
  }
  for (int64_t j = 1; j < d; ++j)
    for (int t = 0; t < PROJ_STRIPS; ++t) {
      const vlanes x = vload(group(X, d, i0 + t * LANES, j));
      for (int c = 0; c < nc; ++c) a[c][t] += W[(k + c) * d + j] * x;
    }
  for (int c = 0; c < nc; ++c)
    for (int t = 0; t < PROJ_STRIPS; ++t) vstore(U + (k + c) * B + i0 + t * LANES, a[c][t]);
}

INLINE void project(const double *restrict X, int64_t B, int64_t d,
                    const double *restrict W, int64_t K, double *restrict U, ahead *pf) {
  for (int64_t i0 = 0; i0 < B; i0 += PROJ_STRIPS * LANES) {
    ahead_step(pf);
    int64_t k = 0;
    for (; k + PROJ_COLS <= K; k += PROJ_COLS) project_tile(X, B, d, W, k, PROJ_COLS, U, i0);
    switch (K - k) {
      case 3: project_tile(X, B, d, W, k, 3, U, i0); break;
      case 2: project_tile(X, B, d, W, k, 2, U, i0); break;
      case 1: project_tile(X, B, d, W, k, 1, U, i0); break;
      default: break;
    }
  }
}

/* gacc[(k*d + j)*LANES ..] += sum over row groups of x_j A_k
 * for NK (1 or 2) neurons from k and NJ (1..GRAD_J) coordinates from j:
 * NK x NJ lane vectors stay in registers over the block, independent
 * chains. Quadratic (R set): A_k = r u_k is formed here, as the scalar loop
 * would (r * u, then times x); otherwise U holds A itself (step_general).
 * Called with constant NK, NJ, so the loops unroll. */
INLINE void grad_tile(const double *restrict X, int64_t B, int64_t d,
                      const double *restrict r, const double *restrict U, int64_t k,
                      int nk, int64_t j, int nj, double *restrict gacc) {
  vlanes g[2][GRAD_J];
  for (int a = 0; a < nk; ++a)
    for (int b = 0; b < nj; ++b) g[a][b] = vload(gacc + ((k + a) * d + j + b) * LANES);
  for (int64_t i0 = 0; i0 < B; i0 += LANES) {
    vlanes ak[2];
    if (r) {
      const vlanes ri = vload(r + i0);
      for (int a = 0; a < nk; ++a) ak[a] = ri * vload(U + (k + a) * B + i0);
    } else {
      for (int a = 0; a < nk; ++a) ak[a] = vload(U + (k + a) * B + i0);
    }
    for (int b = 0; b < nj; ++b) {
      const vlanes x = vload(group(X, d, i0, j + b));
      for (int a = 0; a < nk; ++a) g[a][b] += x * ak[a];
    }
  }
  for (int a = 0; a < nk; ++a)
    for (int b = 0; b < nj; ++b) vstore(gacc + ((k + a) * d + j + b) * LANES, g[a][b]);
}

INLINE void grad_row(const double *restrict X, int64_t B, int64_t d,
                     const double *restrict r, const double *restrict U, int64_t k, int nk,
                     double *restrict gacc, ahead *pf) {
  int64_t j = 0;
  for (; j + GRAD_J <= d; j += GRAD_J) {
    ahead_step(pf);
    grad_tile(X, B, d, r, U, k, nk, j, GRAD_J, gacc);
  }
  ahead_step(pf);
  switch (d - j) {
    case 9: grad_tile(X, B, d, r, U, k, nk, j, 9, gacc); break;
    case 8: grad_tile(X, B, d, r, U, k, nk, j, 8, gacc); break;
    case 7: grad_tile(X, B, d, r, U, k, nk, j, 7, gacc); break;
    case 6: grad_tile(X, B, d, r, U, k, nk, j, 6, gacc); break;
    case 5: grad_tile(X, B, d, r, U, k, nk, j, 5, gacc); break;
    case 4: grad_tile(X, B, d, r, U, k, nk, j, 4, gacc); break;
    case 3: grad_tile(X, B, d, r, U, k, nk, j, 3, gacc); break;
    case 2: grad_tile(X, B, d, r, U, k, nk, j, 2, gacc); break;
    case 1: grad_tile(X, B, d, r, U, k, nk, j, 1, gacc); break;
    default: break;
  }
}

/* Prefetch steps of one job's pass over a block: one per projection strip
 * group and one per gradient tile row (grad_row). */
static int64_t ahead_steps(int64_t B, int64_t d, int64_t K, int loss_only) {
  const int64_t proj = B / (PROJ_STRIPS * LANES);
  return loss_only ? proj : proj + (K + 1) / 2 * (d / GRAD_J + 1);
}

INLINE void accumulate_grad(const double *restrict X, int64_t B, int64_t d,
                            const double *restrict r, const double *restrict U,
                            int64_t K, double *restrict gacc, ahead *pf) {
  int64_t k = 0;
  for (; k + 2 <= K; k += 2) grad_row(X, B, d, r, U, k, 2, gacc, pf);
  if (k < K) grad_row(X, B, d, r, U, k, 1, gacc, pf);
}

/* The quadratic activation's elementwise step, Wang & Abernethy (5), (9):
 *   r_i = C sum_k u_ik^2 - y_i,  loss term r_i^2,  A_ik = r_i u_ik,
 *   Hessian-form term 4 C r_i sum_k v_ik^2 + 8 C^2 (sum_k u_ik v_ik)^2,
 * v_ik = x_i.V_k read from VX, or formed as coef_k z_i - u_ik from
 * Z = X_b toward (COEF set). Padding rows (x = 0, y = 0) give r = 0 and
 * add exact zeros. The gradient kernel forms A_ik = r_i u_ik as it goes. */
INLINE void step_quadratic(const tsim_model *m, int64_t B, const double *restrict y,
                           const double *restrict U, const double *restrict Vx,
                           const double *restrict Z, const double *restrict coef,
                           double *restrict rout, double *restrict sacc) {
  const int64_t K = m->K;
  const double C = m->C, c4 = 4.0 * C, c8 = 8.0 * C * C;
  vlanes lsum = vload(sacc), hsum = vload(sacc + LANES);
  for (int64_t i0 = 0; i0 < B; i0 += TILE) { /* STRIPS independent chains */
    vlanes s2[STRIPS], r[STRIPS];
    for (int t = 0; t < STRIPS; ++t) s2[t] = (vlanes){0};
    for (int64_t k = 0; k < K; ++k)
      for (int t = 0; t < STRIPS; ++t) {
        const vlanes u = vload(U + k * B + i0 + t * LANES);
        s2[t] += u * u;
      }
    for (int t = 0; t < STRIPS; ++t) {
      r[t] = C * s2[t] - vload(y + i0 + t * LANES);
      vstore(rout + i0 + t * LANES, r[t]);
    }
    for (int t = 0; t < STRIPS; ++t) lsum += r[t] * r[t];
    if (Vx || coef) {
      vlanes vv[STRIPS], uv[STRIPS], z[STRIPS];
      for (int t = 0; t < STRIPS; ++t) {
        vv[t] = uv[t] = (vlanes){0};
        if (coef) z[t] = vload(Z + i0 + t * LANES);
      }
      for (int64_t k = 0; k < K; ++k)
        for (int t = 0; t < STRIPS; ++t) {
          const vlanes u = vload(U + k * B + i0 + t * LANES);
          const vlanes v = coef ? coef[k] * z[t] - u : vload(Vx + k * B + i0 + t * LANES);
          vv[t] += v * v;
          uv[t] += u * v;
        }
      for (int t = 0; t < STRIPS; ++t) hsum += c4 * r[t] * vv[t] + c8 * uv[t] * uv[t];
    }
  }
  vstore(sacc, lsum);
  vstore(sacc + LANES, hsum);
}

/* relu, abs and the norm tie (model.h): f_i = sum_k a_k act(u_ik) (k
 * ascending from 0), r_i = C f_i - y_i, loss term r_i^2, dloss/du
 * A_ik = (r_i a_k) act'(u_ik) into DL (unless LOSS_ONLY), and with the norm
 * tie the terms r_i act(u_ik) of its second gradient part. The same
 * operations as a scalar loop: act and act' by masks, with act'(0) = 0 and
 * relu(-0) = +0. Padding rows (x = 0, y = 0) give u = 0 and r = 0. */
INLINE vlanes act_value(int act, vlanes u) {
  const vlanes zero = {0};
  if (act == ACT_RELU) return (vlanes)((vidx)u & (vidx)(u > zero));
  if (act == ACT_ABS) {
    const vidx magnitude = (vidx){0} + 0x7fffffffffffffffLL;
    return (vlanes)((vidx)u & magnitude);
  }
  return u * u;
}

INLINE vlanes act_slope(int act, vlanes u) {
  const vlanes zero = {0}, one = zero + 1.0, minus = zero - 1.0;
  if (act == ACT_RELU) return (vlanes)((vidx)one & (vidx)(u > zero));
  if (act == ACT_ABS) return (vlanes)(((vidx)one & (vidx)(u > zero)) | ((vidx)minus & (vidx)(u < zero)));
  return 2.0 * u;
}

INLINE void step_general(const tsim_model *m, int act, int64_t B, const double *restrict y,
                         const double *restrict U, const double *restrict a,
                         double *restrict DL, double *restrict sacc, int loss_only) {
  const int64_t K = m->K;
  const double C = m->C;
  vlanes lsum = vload(sacc);
  for (int64_t i0 = 0; i0 < B; i0 += TILE) {
    vlanes f[STRIPS], r[STRIPS];
    for (int t = 0; t < STRIPS; ++t) f[t] = (vlanes){0};
    for (int64_t k = 0; k < K; ++k)
      for (int t = 0; t < STRIPS; ++t)
        f[t] += a[k] * act_value(act, vload(U + k * B + i0 + t * LANES));
    for (int t = 0; t < STRIPS; ++t) {
      r[t] = C * f[t] - vload(y + i0 + t * LANES);
      lsum += r[t] * r[t];
    }
    if (loss_only) continue;
    for (int64_t k = 0; k < K; ++k) {
      for (int t = 0; t < STRIPS; ++t)
        vstore(DL + k * B + i0 + t * LANES,
               r[t] * a[k] * act_slope(act, vload(U + k * B + i0 + t * LANES)));
      if (!m->norm_tied) continue;
      vlanes tie = vload(sacc + (2 + k) * LANES); /* rows in order, as lsum */
      for (int t = 0; t < STRIPS; ++t)
        tie += r[t] * act_value(act, vload(U + k * B + i0 + t * LANES));
      vstore(sacc + (2 + k) * LANES, tie);
    }
  }
  vstore(sacc, lsum);
}

/* Sum of LANES accumulators in a fixed tree. */
static double lanes_sum(const double *a) {
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

HOT static void chunk_pass(fused_work *w, const double *x, const double *y, int64_t rows,
                           fused_job *jobs, int njobs, int loss_only) {
  if (njobs < 1) return;
  const int64_t d = w->d, B = w->block;
  /* the first job of a pass spreads the next blocks' lines over its steps */
  const int64_t steps = ahead_steps(B, d, jobs[0].m->K, loss_only);
  const int64_t lines = (B * d * (int64_t)sizeof(double) + LINE - 1) / LINE;
  for (int64_t i = 0; i < rows; i += B) {
    const int64_t nb = rows - i < B ? rows - i : B;
    const int64_t bpad = (nb + TILE - 1) / TILE * TILE;
    ahead pf = {0, 0, (lines + steps - 1) / steps};
    /* past the end of the chunk too: stored chunks follow each other in
     * memory, and a prefetch is a hint that never faults */
    const uintptr_t i_ahead = (uintptr_t)(i + AHEAD_BLOCKS * B) * sizeof(double);
    pf.next = (uintptr_t)x + i_ahead * (uintptr_t)d;
    pf.end = pf.next + (uintptr_t)(B * d) * sizeof(double);
    for (uintptr_t l = 0; l < (uintptr_t)B * sizeof(double); l += LINE)
      __builtin_prefetch((const void *)((uintptr_t)y + i_ahead + l), 0, 3);
    /* whole register tiles are read where they are stored */
    const double *X = x + i * d, *Y = y + i;
    if (nb != bpad) {
      load_tail(w, X, Y, nb, bpad);
      X = w->xt;
      Y = w->y;
    }
    const double *z_of = NULL; /* the TOWARD whose X_b toward is in w->z */
    for (int q = 0; q < njobs; ++q) {
      const tsim_model *m = jobs[q].m;
      const model_direction *dir = loss_only ? NULL : jobs[q].dir;
      const double *toward = dir ? dir->toward : NULL;
      const double *V = dir && !toward ? dir->V : NULL;
      double *sacc = w->sacc + (size_t)q * SACC(w->kmax);
      double *gacc = w->gacc + (size_t)q * (size_t)(w->kmax * d * LANES);
      project(X, bpad, d, jobs[q].W, m->K, w->u, &pf);
      if (!fused_is_quadratic(m)) {
        const double *a = w->outw + (size_t)q * (size_t)w->kmax;
        switch (m->activation) { /* constant activations: the masks inline */
          case ACT_RELU: step_general(m, ACT_RELU, bpad, Y, w->u, a, w->dl, sacc, loss_only); break;
          case ACT_ABS: step_general(m, ACT_ABS, bpad, Y, w->u, a, w->dl, sacc, loss_only); break;
          default: step_general(m, ACT_QUADRATIC, bpad, Y, w->u, a, w->dl, sacc, loss_only); break;
        }
        if (!loss_only) accumulate_grad(X, bpad, d, NULL, w->dl, m->K, gacc, &pf);
        continue;
      }
      if (V) project(X, bpad, d, V, m->K, w->v, &pf);
      if (toward && toward != z_of) {
        project(X, bpad, d, toward, 1, w->z, &pf);
        z_of = toward;
      }
      step_quadratic(m, bpad, Y, w->u, V ? w->v : NULL, w->z, toward ? dir->coef : NULL,
                     w->r, sacc);
      if (!loss_only) accumulate_grad(X, bpad, d, w->r, w->u, m->K, gacc, &pf);
    }
  }
}

void fused_chunk(fused_work *w, const double *x, const double *y, int64_t rows,
                 fused_job *jobs, int njobs, int loss_only) {
  reserve_jobs(w, njobs);
  const int64_t d = w->d;
  const size_t gstride = (size_t)(w->kmax * d * LANES);
  const size_t sstride = (size_t)SACC(w->kmax);
  for (int q = 0; q < njobs; ++q) {
    const tsim_model *m = jobs[q].m;
    if (!loss_only)
      memset(w->gacc + (size_t)q * gstride, 0, (size_t)(m->K * d * LANES) * sizeof(double));
    memset(w->sacc + (size_t)q * sstride, 0, sstride * sizeof(double));
    if (!fused_is_quadratic(m))
      for (int64_t k = 0; k < m->K; ++k)
        w->outw[(size_t)q * (size_t)w->kmax + (size_t)k] = fused_output_weight(m, jobs[q].W + k * d);
  }
  chunk_pass(w, x, y, rows, jobs, njobs, loss_only);
  for (int q = 0; q < njobs; ++q) {
    const tsim_model *m = jobs[q].m;
    const int64_t Kd = m->K * d;
    const double *sacc = w->sacc + (size_t)q * sstride;
    double *part = jobs[q].part;
    if (loss_only) {
      part[0] = lanes_sum(sacc);
      continue;
    }
    const double *gacc = w->gacc + (size_t)q * gstride;
    for (int64_t e = 0; e < Kd; ++e) part[e] = lanes_sum(gacc + e * LANES);
    part[Kd] = lanes_sum(sacc);
    if (fused_is_quadratic(m)) {
      part[Kd + 1] = jobs[q].dir ? lanes_sum(sacc + LANES) : 0.0;
    } else {
      part[Kd + 1] = 0.0;
      for (int64_t k = 0; k < m->K; ++k)
        part[Kd + 2 + k] = m->norm_tied ? lanes_sum(sacc + (2 + k) * LANES) : 0.0;
    }
  }
}

int fused_is_quadratic(const tsim_model *m) {
  return m->activation == ACT_QUADRATIC && !m->norm_tied;
}

double fused_output_weight(const tsim_model *m, const double *wk) {
  if (!m->norm_tied) return 1.0;
  double s = 0.0;
  for (int64_t j = 0; j < m->d; ++j) s += wk[j] * wk[j];
  return sqrt(s);
}
