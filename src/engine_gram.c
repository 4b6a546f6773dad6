/* engine_gram.c - the Gram engine (data.engine: gram): the quadratic
 * student as f(x) = C x^T A x with A = sum_k w_k w_k^T, formed once per
 * evaluation, and its gradient grad_k = 4 s C (1/n) M w_k with
 * M = sum_i r_i x_i x_i^T (model.h's formula, summed in another order):
 * about d^2 multiply-adds per sample instead of the sharded pass's 2 d K,
 * fewer whenever K is above d / 2. Quantity (9) along V is two more
 * quadratic forms: sum_i r_i ||V^T x_i||^2 = <M, V^T V> and
 * x_i^T W^T V x_i per sample.
 *
 * Each chunk's partials (M's upper triangle, sum r_i^2, the (9) sum) are
 * added exactly over the team (reduce.h), so the bits do not depend on the
 * rank count; they differ from the sharded engine's in the last bits.
 * Within a chunk every number is a fixed sequence of IEEE operations (sums
 * over coordinates ascending, over rows in row order); the vector loops
 * only run independent entries side by side, so every vector width gives
 * the same bits. */
#include "tsim/engine_gram.h"

#include <stdlib.h>
#include <string.h>

#include "tsim/fused.h"

#define GROUP DATA_GROUP /* rows per group (data.h): one gvec per coordinate */
#define JT 8             /* coordinates per tile of the quadratic form */
#define INLINE static inline __attribute__((always_inline))

typedef double gvec __attribute__((vector_size(GROUP * sizeof(double))));

typedef struct gram_work {
  int64_t d, K, np; /* np: entries of a full partial, d(d+1)/2 + 2 */
  double *A, *S, *B; /* d x d upper triangles: A = W^T W, S = sym(W^T V), B = V^T V */
  double *M;         /* d x d upper: one chunk's sum r_i x_i x_i^T, then the total */
  double *xr;        /* a group's rows, row-major */
  double *part, *total;
  esum *full, *loss_only;
} gram_work;

static const char *unsupported(const tsim_params *p) {
  if (p->regime == REGIME_POPULATION) return "data.regime: population has no samples";
  if (p->activation != ACT_QUADRATIC)
    return "the student activation is not quadratic (x^T W^T W x needs act(z) = z^2)";
  if (p->norm_tied)
    return "the norm-tied output C sum_k ||w_k|| (w_k.x)^2 is not C x^T W^T W x";
  return NULL;
}

static void cost(const tsim_params *p, engine_cost *c) {
  const double n = (double)p->n, nt = (double)p->n_test, d = (double)p->d;
  const double K = (double)p->K, T = (double)p->iterations;
  const double make = ENGINE_RNG_COST * d; /* one sample's inputs */
  const int regen = p->storage == STORAGE_REGENERATE;
  c->build = regen ? 0.0 : (n + nt) * make;
  /* per sample: the form and M's update, d(d+1)/2 each; per evaluation: A
   * (K d(d+1)/2) and M W (K d^2) */
  c->iteration = n * (d * (d + 1.0) + 2.0 * d) + 1.5 * K * d * d + (regen ? n * make : 0.0);
  c->total = c->build + T * c->iteration;
}

static void *prepare(const tsim_model *m, const tsim_teacher *t, const tsim_params *p) {
  (void)t, (void)p;
  gram_work *w = tsim_xcalloc(1, sizeof *w);
  const size_t dd = (size_t)(m->d * m->d);
  w->d = m->d;
  w->K = m->K;
  w->np = m->d * (m->d + 1) / 2 + 2;
  w->A = tsim_xcalloc(dd, sizeof(double));
  w->S = tsim_xcalloc(dd, sizeof(double));
  w->B = tsim_xcalloc(dd, sizeof(double));
  w->M = tsim_xcalloc(dd, sizeof(double));
  w->xr = tsim_xcalloc((size_t)(GROUP * m->d), sizeof(double));
  w->part = tsim_xcalloc((size_t)w->np, sizeof(double));
  w->total = tsim_xcalloc((size_t)w->np, sizeof(double));
  w->full = esum_create(w->np);
  w->loss_only = esum_create(1);
  return w;
}

static void release(void *work) {
  gram_work *w = work;
  if (!w) return;
  free(w->A);
  free(w->S);
  free(w->B);
  free(w->M);
  free(w->xr);
  free(w->part);
  free(w->total);
  esum_destroy(&w->full);
  esum_destroy(&w->loss_only);
  free(w);
}

/* OUT's upper triangle (d x d): the matrix of the quadratic form
 * x -> sum_k (p_k.x)(q_k.x) with its off-diagonal entries doubled, so that
 * the form is sum_j x_j sum_{l >= j} OUT_jl x_l (k ascending in each
 * entry). Q = P: x^T P^T P x. */
static void form_upper(const double *P, const double *Q, int64_t K, int64_t d, double *out) {
  memset(out, 0, (size_t)(d * d) * sizeof(double));
  for (int64_t k = 0; k < K; ++k) {
    const double *pk = P + k * d, *qk = Q + k * d;
    for (int64_t j = 0; j < d; ++j) {
      double *o = out + j * d;
      const double pj = pk[j], qj = qk[j];
      if (P == Q)
        for (int64_t l = j; l < d; ++l) o[l] += pj * pk[l];
      else
        for (int64_t l = j; l < d; ++l) o[l] += pj * qk[l] + qj * pk[l];
    }
  }
  for (int64_t j = 0; j < d; ++j) /* exact: a power of 2 */
    for (int64_t l = j; l < d; ++l) out[j * d + l] *= P == Q ? (l == j ? 1.0 : 2.0)
                                                                : (l == j ? 0.5 : 1.0);
}

/* V = the GROUP doubles at P (a macro: no vector crosses a call) */
#define GLOAD(v, p) memcpy(&(v), (p), sizeof(gvec))

/* Q[i] = x_i^T F x_i for the GROUP rows at X (a row group: coordinate j at
 * X + j GROUP), F from form_upper: per row, sum over j ascending of
 * x_j (F_jj x_j + sum_{l > j} F_jl x_l), l ascending. */
INLINE void quad_group(const double *restrict X, const double *restrict F, int64_t d,
                       double *Q) {
  gvec q = {0}, x;
  for (int64_t j0 = 0; j0 < d; j0 += JT) {
    const int nt = d - j0 < JT ? (int)(d - j0) : JT;
    gvec a[JT];
    for (int t = 0; t < nt; ++t) {
      GLOAD(x, X + (j0 + t) * GROUP);
      a[t] = F[(j0 + t) * d + j0 + t] * x;
    }
    for (int64_t l = j0 + 1; l < j0 + nt; ++l) { /* the tile's triangle */
      GLOAD(x, X + l * GROUP);
      for (int t = 0; t < l - j0; ++t) a[t] += F[(j0 + t) * d + l] * x;
    }
    for (int64_t l = j0 + nt; l < d; ++l) {
      GLOAD(x, X + l * GROUP);
      for (int t = 0; t < nt; ++t) a[t] += F[(j0 + t) * d + l] * x;
    }
    for (int t = 0; t < nt; ++t) {
      GLOAD(x, X + (j0 + t) * GROUP);
      q += x * a[t];
    }
  }
  memcpy(Q, &q, sizeof q);
}

/* The partial of the ROWS samples at X (row groups), Y into PART: full:
 * M's upper triangle row by row, sum r_i^2, sum (x_i^T S x_i)^2 (0 without
 * DIR); else part[0] = sum r_i^2. */
INLINE void chunk_body(gram_work *w, const double *X, const double *Y, int64_t rows, double C,
                       int full, int dir, double *part) {
  const int64_t d = w->d;
  double loss = 0.0, q9 = 0.0;
  if (full) memset(w->M, 0, (size_t)(d * d) * sizeof(double));
  for (int64_t g0 = 0; g0 < rows; g0 += GROUP) {
    const double *Xg = X + g0 * d;
    const int nr = rows - g0 < GROUP ? (int)(rows - g0) : GROUP;
    double r[GROUP];
    quad_group(Xg, w->A, d, r);
    for (int i = 0; i < GROUP; ++i) r[i] = C * r[i] - Y[g0 + i];
    for (int i = 0; i < nr; ++i) loss += r[i] * r[i];
    if (!full) continue;
    if (dir) {
      double s[GROUP];
      quad_group(Xg, w->S, d, s);
      for (int i = 0; i < nr; ++i) q9 += s[i] * s[i];
    }
    /* M_jl += r_i x_ij x_il, rows in order (past the data: r = 0, x = 0) */
    double *restrict xr = w->xr;
    for (int64_t l = 0; l < d; ++l)
      for (int i = 0; i < GROUP; ++i) xr[i * d + l] = Xg[l * GROUP + i];
    for (int64_t j = 0; j < d; ++j) {
      double z[GROUP];
      for (int i = 0; i < GROUP; ++i) z[i] = r[i] * xr[i * d + j];
      double *restrict Mj = w->M + j * d;
      for (int64_t l = j; l < d; ++l) {
        double mv = Mj[l];
        for (int i = 0; i < GROUP; ++i) mv += z[i] * xr[i * d + l];
        Mj[l] = mv;
      }
    }
  }
  if (!full) {
    part[0] = loss;
    return;
  }
  int64_t e = 0;
  for (int64_t j = 0; j < d; ++j)
    for (int64_t l = j; l < d; ++l) part[e++] = w->M[j * d + l];
  part[e] = loss;
  part[e + 1] = q9;
}

typedef void chunk_fn(gram_work *, const double *, const double *, int64_t, double, int, int,
                      double *);

static void chunk_w2(gram_work *w, const double *X, const double *Y, int64_t rows, double C,
                     int full, int dir, double *part) {
  chunk_body(w, X, Y, rows, C, full, dir, part);
}

/* the same loops compiled for AVX2 and AVX-512 (fused.c's choice of width) */
#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx2"))) static void chunk_w4(gram_work *w, const double *X,
                                                     const double *Y, int64_t rows, double C,
                                                     int full, int dir, double *part) {
  chunk_body(w, X, Y, rows, C, full, dir, part);
}
__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw"))) static void chunk_w8(
    gram_work *w, const double *X, const double *Y, int64_t rows, double C, int full, int dir,
    double *part) {
  chunk_body(w, X, Y, rows, C, full, dir, part);
}
#endif

static chunk_fn *chunk_of_width(int width) {
#if defined(__GNUC__) && defined(__x86_64__)
  if (width == 8) return chunk_w8;
  if (width == 4) return chunk_w4;
#endif
  (void)width;
  return chunk_w2;
}

/* Loss, gradient (OUT->grad) and quantity (9) along V (if non-NULL) of W
 * over DS, reduced exactly over TEAM. */
static void gram_evaluate(gram_work *w, const tsim_model *m, const tsim_dataset *ds,
                          const double *W, const double *V, const par_comm *team,
                          model_eval *out) {
  const int64_t d = w->d, K = w->K, P = w->np - 2;
  const int full = out->grad != NULL || V != NULL;
  chunk_fn *chunk = chunk_of_width(fused_vector_width());
  form_upper(W, W, K, d, w->A);
  if (V) {
    form_upper(W, V, K, d, w->S);
    form_upper(V, V, K, d, w->B);
  }
  esum *acc = full ? w->full : w->loss_only;
  esum_begin(acc);
  for (int64_t c = ds->chunk_begin; c < ds->chunk_end; ++c) {
    const double *x, *y;
    int64_t rows;
    data_chunk(ds, c, &x, &y, &rows);
    chunk(w, x, y, rows, m->C, full, V != NULL, w->part);
    esum_add(acc, w->part);
  }
  esum_finish(acc, team, ds->nchunks, w->total);
  const double s = m->loss_scale, inv_n = ds->n > 0 ? 1.0 / (double)ds->n : 0.0;
  out->hess_quad = 0.0;
  if (!full) {
    out->loss = s * w->total[0] * inv_n;
    return;
  }
  out->loss = s * w->total[P] * inv_n;
  /* M, the total, as a whole symmetric matrix */
  int64_t e = 0;
  for (int64_t j = 0; j < d; ++j)
    for (int64_t l = j; l < d; ++l, ++e) w->M[j * d + l] = w->M[l * d + j] = w->total[e];
  if (V) { /* s (1/n) [4 C <M, V^T V> + 8 C^2 sum_i (x_i^T W^T V x_i)^2] */
    double mb = 0.0;
    for (int64_t j = 0; j < d; ++j)
      for (int64_t l = j; l < d; ++l) mb += w->M[j * d + l] * w->B[j * d + l];
    out->hess_quad = s * (4.0 * m->C * mb + 8.0 * m->C * m->C * w->total[P + 1]) * inv_n;
  }
  if (out->grad) { /* grad_k = 4 s C (1/n) M w_k, l ascending in each entry */
    const double g = 4.0 * s * m->C * inv_n;
    for (int64_t k = 0; k < K; ++k) {
      double *gk = out->grad + k * d;
      const double *wk = W + k * d;
      memset(gk, 0, (size_t)d * sizeof(double));
      for (int64_t l = 0; l < d; ++l) {
        const double c = wk[l], *Ml = w->M + l * d;
        for (int64_t j = 0; j < d; ++j) gk[j] += Ml[j] * c;
      }
      for (int64_t j = 0; j < d; ++j) gk[j] *= g;
    }
  }
}

static void evaluate(void *batch, const engine_job *jobs, int n, const engine_data *d,
                     const par_comm *team) {
  (void)batch; /* no batches: one job */
  for (int q = 0; q < n; ++q)
    gram_evaluate(jobs[q].work, jobs[q].m, d->train, jobs[q].W,
                  jobs[q].dir ? jobs[q].dir->V : NULL, team, jobs[q].out);
}

static int test_loss(void *work, const tsim_model *m, const double *W, const engine_data *d,
                     const par_comm *team, double *loss) {
  if (d->test->n <= 0) return 0;
  model_eval test = {0};
  gram_evaluate(work, m, d->test, W, NULL, team, &test);
  *loss = test.loss;
  return 1;
}

const engine_kind engine_gram = {
    .name = "gram",
    .id = ENGINE_GRAM,
    .caps = ENGINE_SAMPLES | ENGINE_DIRECTION | ENGINE_SPECTRA | ENGINE_NAMED,
    .unsupported = unsupported,
    .cost = cost,
    .prepare = prepare,
    .release = release,
    .evaluate = evaluate,
    .test_loss = test_loss,
};
