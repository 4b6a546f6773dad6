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
 * 1.25x at d = 100 (docs/exactness.md), and dgemm's bits would depend on
 * the CPU's kernel and on the number of columns in the call (a cell in a
 * batch would not get its unbatched bits). */
#include "tsim/fused.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/config.h"
#include "tsim/data.h"

/* vector values never cross a call boundary (all helpers are inlined) */
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

/* Row sums are kept in LANES accumulators (row i in lane i % LANES): the
 * vectorisable form of a sum over rows, fixed in the source so the bits do
 * not depend on the vector width. Blocks are multiples of LANES rows. */
#define LANES DATA_GROUP
#define BLOCK_MAX 512
#define BLOCK_DOUBLES 2048
#define TILE (4 * LANES) /* blocks are whole tiles of rows */
#define PROJ_COLS 4       /* columns per projection tile */
#define AHEAD_BLOCKS 2 /* samples prefetched this many blocks ahead */
#define LINE 64
#define SACC(kmax) ((2 + (kmax)) * LANES) /* lane sums per job in sacc */

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
 * block (the labels of a block, one line per 8 rows, are asked for at
 * once, chunk_pass). Without it, per sample at n = 1e6, d = 10, samples in
 * DRAM, one rank: K = 1 10.4 ns against 5.7, K = 10 18.0 against 12.7.
 * Issuing a whole block's lines at once fills the miss buffers and stalls
 * the same way. The lines go to L2 (prefetcht1), not L1: L2 has more
 * misses in flight, and the block's loads find them there. Into L1
 * (prefetcht0) cost: d = 10: K = 1 7.2 ns against 5.7, K = 3 7.8 against
 * 5.2, K = 10 13.1 against 12.7; d = 100, K = 10: 148 against 118. Hints
 * only: no bits change. */
typedef struct ahead {
  uintptr_t next, end; /* addresses of the lines still to prefetch (may lie
                        * past the samples: integers, not pointers) */
  int64_t per_step;
} ahead;

INLINE void ahead_step(ahead *a) {
  for (int64_t l = 0; l < a->per_step && a->next < a->end; ++l, a->next += LINE)
    __builtin_prefetch((const void *)a->next, 0, 2); /* prefetcht1 */
}

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

/* Sum of LANES accumulators in a fixed tree. */
_Static_assert(LANES == 8, "lanes_sum adds 8 lanes");
static double lanes_sum(const double *a) {
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* The vector loops, once per native vector width (fused_kernel.inc):
 * AVX-512 and AVX2 on x86-64 chosen at run time by what the CPU has, 2
 * doubles (SSE2, NEON, ...) everywhere. A vector type wider than the CPU's
 * registers would be kept in memory by GCC (measured 20-25x slower with
 * 8-double vectors on AVX2 and SSE2), so each width has its own. No width
 * reassociates or contracts (-ffp-contract=off): all give the same bits. */
#define VW 2
#define KN(name) name##_w2
#define GRAD_NK 1
#define GRAD_J 3
#define PROJ_RV 2
#include "fused_kernel.inc" /* undefines its parameters */

/* GCC and clang (which defines __GNUC__ too) on x86-64: the AVX2 and
 * AVX-512 passes, each compiled for its features alone. */
#if defined(__GNUC__) && defined(__x86_64__)
#define FUSED_X86 1
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif
#define VW 4
#define KN(name) name##_w4
#define GRAD_NK 2
#define GRAD_J 3
#define PROJ_RV 2
#include "fused_kernel.inc" /* undefines its parameters */
#ifdef __clang__
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw"))), \
                             apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw")
#endif
#define VW 8
#define KN(name) name##_w8
#define GRAD_NK 2
#define GRAD_J 10
#define PROJ_RV 4 /* 4 x 4 projection tiles: 5% faster than 4 x 2 */
#include "fused_kernel.inc" /* undefines its parameters */
#ifdef __clang__
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

typedef void pass_fn(fused_work *, const double *, const double *, int64_t, fused_job *, int,
                     int);

/* The pass of vector width WIDTH if this CPU runs it, else NULL. */
static pass_fn *pass_of_width(int width) {
  switch (width) {
    case 2: return chunk_pass_w2;
#ifdef FUSED_X86
    /* exactly the features each pass is compiled for (#pragma above) */
    case 4: return __builtin_cpu_supports("avx2") ? chunk_pass_w4 : NULL;
    case 8: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw")
                       ? chunk_pass_w8 : NULL;
#endif
    default: return NULL;
  }
}

static int pass_width; /* 0: not chosen yet */

int fused_vector_width(void) {
  if (!pass_width) {
    /* TSIM_VECTOR_WIDTH=4 or 2: a narrower pass (e.g. where AVX-512 lowers
     * the clock); a width the CPU lacks is ignored (tsim --version shows
     * the one in use). Same bits either way. */
    const char *want = getenv("TSIM_VECTOR_WIDTH");
    if (want && pass_of_width(atoi(want))) pass_width = atoi(want);
    for (int width = 8; !pass_width; width /= 2)
      if (width == 2 || pass_of_width(width)) pass_width = width;
  }
  return pass_width;
}

int fused_use_vector_width(int width) {
  if (!pass_of_width(width)) return 0;
  pass_width = width;
  return 1;
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
        w->outw[(size_t)q * (size_t)w->kmax + (size_t)k] =
            m->train_output ? jobs[q].W[m->K * d + k] : fused_output_weight(m, jobs[q].W + k * d);
  }
  pass_of_width(fused_vector_width())(w, x, y, rows, jobs, njobs, loss_only);
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
        part[Kd + 2 + k] =
            m->norm_tied || m->train_output ? lanes_sum(sacc + (2 + k) * LANES) : 0.0;
    }
  }
}

int fused_is_quadratic(const tsim_model *m) {
  return m->activation == ACT_QUADRATIC && !m->norm_tied && !m->train_output;
}

double fused_output_weight(const tsim_model *m, const double *wk) {
  if (!m->norm_tied) return 1.0;
  double s = 0.0;
  for (int64_t j = 0; j < m->d; ++j) s += wk[j] * wk[j];
  return sqrt(s);
}
