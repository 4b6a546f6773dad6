/* test_fused.c - the fused chunk kernel against a plain per-row loop, and
 * a cell's bits unchanged when other cells share the pass (batching). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tsim/data.h"
#include "tsim/fused.h"
#include "tsim/rng.h"

/* Wang & Abernethy (5), (9) row by row: the formulas of model.h. */
static void reference(const tsim_model *m, const double *x, const double *y, int64_t rows,
                      const double *W, const double *V, double *part) {
  const int64_t d = m->d, K = m->K, Kd = K * d;
  memset(part, 0, (size_t)(Kd + 2) * sizeof(double));
  for (int64_t i = 0; i < rows; ++i) {
    const double *xi = x + i * d;
    double u[64], v[64], s = 0, vv = 0, uv = 0;
    for (int64_t k = 0; k < K; ++k) {
      u[k] = v[k] = 0;
      for (int64_t j = 0; j < d; ++j) {
        u[k] += xi[j] * W[k * d + j];
        v[k] += xi[j] * V[k * d + j];
      }
      s += u[k] * u[k];
      vv += v[k] * v[k];
      uv += u[k] * v[k];
    }
    const double r = m->C * s - y[i];
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < d; ++j) part[k * d + j] += r * u[k] * xi[j];
    part[Kd] += r * r;
    part[Kd + 1] += 4 * m->C * r * vv + 8 * m->C * m->C * uv * uv;
  }
}

/* relu, abs and the norm tie row by row (model.h): f = C sum_k a_k act(u_k),
 * a_k = ||w_k|| (tie) or 1, act'(0) = 0; part as fused.h lays it out. */
static void reference_general(const tsim_model *m, const double *x, const double *y,
                              int64_t rows, const double *W, double *part) {
  const int64_t d = m->d, K = m->K, Kd = K * d;
  memset(part, 0, (size_t)(Kd + 2 + K) * sizeof(double));
  double a[64];
  for (int64_t k = 0; k < K; ++k) {
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += W[k * d + j] * W[k * d + j];
    a[k] = m->norm_tied ? sqrt(s) : 1.0;
  }
  for (int64_t i = 0; i < rows; ++i) {
    const double *xi = x + i * d;
    double u[64], act[64], f = 0;
    for (int64_t k = 0; k < K; ++k) {
      u[k] = 0;
      for (int64_t j = 0; j < d; ++j) u[k] += xi[j] * W[k * d + j];
      act[k] = m->activation == ACT_RELU  ? fmax(u[k], 0.0)
               : m->activation == ACT_ABS ? fabs(u[k])
                                          : u[k] * u[k];
      f += a[k] * act[k];
    }
    const double r = m->C * f - y[i];
    part[Kd] += r * r;
    for (int64_t k = 0; k < K; ++k) {
      const double slope = m->activation == ACT_QUADRATIC ? 2 * u[k]
                           : u[k] > 0                     ? 1.0
                           : u[k] < 0 && m->activation == ACT_ABS ? -1.0
                                                                  : 0.0;
      for (int64_t j = 0; j < d; ++j) part[k * d + j] += r * a[k] * slope * xi[j];
      if (m->norm_tied) part[Kd + 2 + k] += r * act[k];
    }
  }
}

/* The ROWS row-major rows X in row groups (data.h), as fused_chunk reads
 * them; free() the result. */
static double *grouped(const double *x, int64_t rows, int64_t d) {
  double *g = malloc((size_t)data_group_size(rows, d) * sizeof(double));
  data_group_rows(x, rows, d, g);
  return g;
}

static double worst_rel(const double *a, const double *b, int64_t n) {
  double scale = 0, worst = 0;
  for (int64_t e = 0; e < n; ++e) scale = fmax(scale, fabs(b[e]));
  for (int64_t e = 0; e < n; ++e) worst = fmax(worst, fabs(a[e] - b[e]) / scale);
  return worst;
}

/* relu, abs and the norm tie through the fused pass: a plain loop's sums
 * (1e-12), the loss-only pass's bits, and a cell's bits unchanged second
 * in a batch with a quadratic cell and another activation. Rows with
 * u_0 = 0 exactly (x orthogonal to w_0) sit on the kink: act'(0) = 0. */
static void test_general(void) {
  const int64_t shapes[][3] = {{10, 10, 2048}, {3, 2, 77}, {13, 7, 1001}, {5, 1, 4099}};
  const struct { int act, tied; const char *name; } models[] = {
      {ACT_RELU, 0, "relu"},      {ACT_ABS, 0, "abs"}, {ACT_RELU, 1, "relu, norm tie"},
      {ACT_ABS, 1, "abs, norm tie"}, {ACT_QUADRATIC, 1, "quadratic, norm tie"}};
  for (int c = 0; c < 4; ++c)
    for (int a = 0; a < 5; ++a) {
      const int64_t d = shapes[c][0], K = shapes[c][1], rows = shapes[c][2], Kd = K * d;
      const int64_t len = Kd + 2 + K;
      tsim_model m = {.activation = models[a].act, .d = d, .K = K, .C = 0.7 + 0.2 * a,
                      .loss_scale = 0.5, .norm_tied = models[a].tied};
      double *x = malloc((size_t)(rows * d) * sizeof(double));
      double *y = malloc((size_t)rows * sizeof(double));
      double *W = malloc((size_t)(2 * Kd) * sizeof(double)), *W2 = W + Kd;
      rng_normals(20 + (uint64_t)c, 1, 0, rows * d, x);
      rng_normals(21 + (uint64_t)c, 1, 0, rows, y);
      rng_normals(22 + (uint64_t)(c * 5 + a), 1, 0, 2 * Kd, W);
      if (d >= 2) /* rows on the kink of neuron 0 */
        for (int64_t i = 3; i < rows; i += 7) {
          for (int64_t j = 0; j < d; ++j) x[i * d + j] = 0.0;
          x[i * d] = W[1];
          x[i * d + 1] = -W[0];
        }
      double *ref = malloc((size_t)len * sizeof(double));
      double *alone = malloc((size_t)len * sizeof(double));
      double *batched = malloc((size_t)len * sizeof(double));
      double *other = malloc((size_t)(Kd + 2 + K) * sizeof(double));
      double *quad = malloc((size_t)(Kd + 2) * sizeof(double));
      reference_general(&m, x, y, rows, W, ref);
      double *xg = grouped(x, rows, d);
      fused_work *w = fused_work_create(d, K);
      fused_job one = {.m = &m, .W = W, .part = alone};
      fused_chunk(w, xg, y, rows, &one, 1, 0);
      double err = worst_rel(alone, ref, Kd);
      if (m.norm_tied) err = fmax(err, worst_rel(alone + Kd + 2, ref + Kd + 2, K));
      int zeros = alone[Kd + 1] == 0.0;
      for (int64_t k = 0; k < K && !m.norm_tied; ++k) zeros = zeros && alone[Kd + 2 + k] == 0.0;
      CHECK(err < 1e-12 && fabs(alone[Kd] - ref[Kd]) <= 1e-12 * ref[Kd] && zeros,
            "%s d=%lld K=%lld rows=%lld: gradient, loss and norm-tie sums agree with a "
            "plain loop (rel err %.1e)",
            models[a].name, (long long)d, (long long)K, (long long)rows, err);
      double loss = 0;
      fused_job lo = {.m = &m, .W = W, .part = &loss};
      fused_chunk(w, xg, y, rows, &lo, 1, 1);
      CHECK(loss == alone[Kd], "%s d=%lld K=%lld: the loss-only pass gives the full pass's bits",
            models[a].name, (long long)d, (long long)K);
      tsim_model q = {.activation = ACT_QUADRATIC, .d = d, .K = K, .C = 1.0, .loss_scale = 0.25};
      tsim_model o = m;
      o.activation = m.activation == ACT_RELU ? ACT_ABS : ACT_RELU;
      o.norm_tied = !m.norm_tied;
      fused_job three[3] = {{.m = &q, .W = W2, .part = quad},
                            {.m = &m, .W = W, .part = batched},
                            {.m = &o, .W = W2, .part = other}};
      fused_work *w2 = fused_work_create(d, K);
      fused_chunk(w2, xg, y, rows, three, 3, 0);
      CHECK(!memcmp(batched, alone, (size_t)len * sizeof(double)),
            "%s d=%lld K=%lld: bitwise the same second in a batch of 3", models[a].name,
            (long long)d, (long long)K);
      fused_work_destroy(&w);
      fused_work_destroy(&w2);
      free(x);
      free(xg);
      free(y);
      free(W);
      free(ref);
      free(alone);
      free(batched);
      free(other);
      free(quad);
    }
}

/* Every vector width this CPU runs (fused_kernel.inc: 8, 4, 2 doubles)
 * gives the same bits: a batch of quadratic (general V and TOWARD), relu,
 * abs and norm-tied cells, and a loss-only pass, over shapes with every
 * remainder of the tiles and a tail block; rows of zeros sit on the kinks. */
static void test_widths(void) {
  const int64_t shapes[][3] = {{10, 10, 2048}, {13, 7, 1001}, {3, 1, 77}, {100, 3, 300},
                               {9, 5, 4099},   {18, 6, 700},  {7, 3, 1500}, {4, 2, 41},
                               {5, 2, 1000}};
  const int native = fused_vector_width();
  int widths[3], nwidths = 0;
  for (int width = 2; width <= 8; width *= 2)
    if (fused_use_vector_width(width)) widths[nwidths++] = width;
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  /* an x86-64 build with GCC has the 4-wide pass on any CPU with AVX2: the
   * comparison below must not be with width 2 alone there */
  CHECK(!__builtin_cpu_supports("avx2") || nwidths >= 2,
        "this AVX2 CPU runs %d vector widths of the pass (at least 2)", nwidths);
#endif
  for (int c = 0; c < (int)(sizeof shapes / sizeof shapes[0]); ++c) {
    const int64_t d = shapes[c][0], K = shapes[c][1], rows = shapes[c][2], Kd = K * d;
    const int64_t len = Kd + 2 + K;
    double *x = malloc((size_t)(rows * d) * sizeof(double));
    double *y = malloc((size_t)rows * sizeof(double));
    double *W = malloc((size_t)(2 * Kd + d + K) * sizeof(double));
    double *V = W + Kd, *toward = V + Kd, *coef = toward + d;
    rng_normals(40 + (uint64_t)c, 1, 0, rows * d, x);
    rng_normals(41 + (uint64_t)c, 1, 0, rows, y);
    rng_normals(42 + (uint64_t)c, 1, 0, 2 * Kd + d + K, W);
    for (int64_t i = 5; i < rows; i += 11)
      for (int64_t j = 0; j < d; ++j) x[i * d + j] = 0.0;
    double *xg = grouped(x, rows, d);
    const tsim_model quad = {.activation = ACT_QUADRATIC, .d = d, .K = K, .C = 1.3, .loss_scale = 0.25};
    tsim_model relu = quad, abs_tied = quad, quad_tied = quad;
    relu.activation = ACT_RELU;
    abs_tied.activation = ACT_ABS;
    abs_tied.norm_tied = quad_tied.norm_tied = 1;
    const model_direction general = {.V = V}, structured = {.toward = toward, .coef = coef};
    double *parts[3];
    int same = 1;
    for (int t = 0; t < nwidths; ++t) {
      fused_use_vector_width(widths[t]);
      double *p = parts[t] = malloc((size_t)(6 * len) * sizeof(double));
      fused_job jobs[5] = {{.m = &quad, .W = W, .dir = &general, .part = p},
                           {.m = &quad, .W = V, .dir = &structured, .part = p + len},
                           {.m = &relu, .W = W, .part = p + 2 * len},
                           {.m = &abs_tied, .W = V, .part = p + 3 * len},
                           {.m = &quad_tied, .W = W, .part = p + 4 * len}};
      for (int q = 0; q < 5; ++q) memset(jobs[q].part, 0, (size_t)len * sizeof(double));
      fused_work *w = fused_work_create(d, K);
      fused_chunk(w, xg, y, rows, jobs, 5, 0);
      fused_job lo = {.m = &relu, .W = W, .part = p + 5 * len};
      fused_chunk(w, xg, y, rows, &lo, 1, 1);
      fused_work_destroy(&w);
      same = same && !memcmp(p, parts[0], (size_t)(5 * len + 1) * sizeof(double));
    }
    CHECK(same, "d=%lld K=%lld rows=%lld: vector widths %d..%d of this CPU (%d of them) give "
                "the same bits", (long long)d, (long long)K, (long long)rows, widths[0],
          widths[nwidths - 1], nwidths);
    for (int t = 0; t < nwidths; ++t) free(parts[t]);
    free(x);
    free(xg);
    free(y);
    free(W);
  }
  fused_use_vector_width(native);
  CHECK(fused_vector_width() == native && native >= 2, "the pass of width %d is used again",
        native);
}

int main(void) {
  check_suite = "fused";
  test_widths();
  test_general();
  /* shapes that exercise every remainder: odd K, every d mod 10 (the
   * gradient tiles' width) and d mod 8 (the transpose), rows not a
   * multiple of the lane count or the block, several blocks (the
   * prefetch of the blocks ahead) */
  const int64_t shapes[][3] = {{10, 10, 2048}, {3, 1, 77},   {13, 7, 1001}, {100, 3, 300},
                               {1, 2, 5},      {9, 5, 4096 + 3}, {2, 3, 50},  {4, 2, 640},
                               {5, 4, 33},     {6, 1, 64},   {7, 3, 1500},  {8, 2, 129},
                               {18, 6, 700}};
  const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
  for (int c = 0; c < nshapes; ++c) {
    const int64_t d = shapes[c][0], K = shapes[c][1], rows = shapes[c][2], Kd = K * d;
    tsim_model m = {.activation = ACT_QUADRATIC, .d = d, .K = K, .C = 1.0 + 0.5 * c, .loss_scale = 0.25};
    double *x = malloc((size_t)(rows * d) * sizeof(double));
    double *y = malloc((size_t)rows * sizeof(double));
    double *W = malloc((size_t)(3 * Kd) * sizeof(double)), *V = W + Kd, *W2 = V + Kd;
    rng_normals(5 + (uint64_t)c, 1, 0, rows * d, x);
    rng_normals(6 + (uint64_t)c, 1, 0, rows, y);
    rng_normals(7 + (uint64_t)c, 1, 0, 3 * Kd, W);
    for (int64_t e = 0; e < 3 * Kd; ++e) W[e] *= 0.3;
    double *ref = malloc((size_t)(Kd + 2) * sizeof(double));
    double *alone = malloc((size_t)(Kd + 2) * sizeof(double));
    double *batched = malloc((size_t)(Kd + 2) * sizeof(double));
    double *other = malloc((size_t)(Kd + 2) * sizeof(double));
    reference(&m, x, y, rows, W, V, ref);
    double *xg = grouped(x, rows, d);
    fused_work *w = fused_work_create(d, K);
    const model_direction plain = {.V = V};
    fused_job one = {.m = &m, .W = W, .dir = &plain, .part = alone};
    fused_chunk(w, xg, y, rows, &one, 1, 0);
    const double err = worst_rel(alone, ref, Kd);
    CHECK(err < 1e-12 && fabs(alone[Kd] - ref[Kd]) <= 1e-12 * ref[Kd] &&
              fabs(alone[Kd + 1] - ref[Kd + 1]) <= 1e-12 * fabs(ref[Kd + 1]),
          "d=%lld K=%lld rows=%lld: gradient, loss, Hessian form agree with a "
          "plain loop (grad rel err %.1e)",
          (long long)d, (long long)K, (long long)rows, err);
    double loss = 0;
    fused_job lo = {.m = &m, .W = W, .part = &loss};
    fused_chunk(w, xg, y, rows, &lo, 1, 1);
    CHECK(loss == alone[Kd], "d=%lld K=%lld: the loss-only pass gives the full pass's loss bits",
          (long long)d, (long long)K);
    /* the same cell second in a batch, after one with a smaller K */
    tsim_model small = m;
    small.K = K > 1 ? K - 1 : 1;
    fused_job two[2] = {{.m = &small, .W = W2, .part = other},
                        {.m = &m, .W = W, .dir = &plain, .part = batched}};
    fused_work *w2 = fused_work_create(d, K);
    fused_chunk(w2, xg, y, rows, two, 2, 0);
    CHECK(!memcmp(batched, alone, (size_t)(Kd + 2) * sizeof(double)),
          "d=%lld K=%lld: a cell's partial in a batch of 2 is bitwise its partial alone",
          (long long)d, (long long)K);
    /* the direction of quantity (9) given as V_k = coef_k toward - w_k
     * (model_direction): the Hessian form of the plain loop on that V, the
     * gradient and loss bits of the general-V pass, and the same bits
     * alone and second in a batch sharing TOWARD */
    double *toward = malloc((size_t)d * sizeof(double)), *coef = malloc((size_t)K * sizeof(double));
    double *Vs = malloc((size_t)Kd * sizeof(double));
    rng_normals(8 + (uint64_t)c, 1, 0, d, toward);
    rng_normals(9 + (uint64_t)c, 1, 0, K, coef);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < d; ++j) Vs[k * d + j] = coef[k] * toward[j] - W[k * d + j];
    reference(&m, x, y, rows, W, Vs, ref);
    const model_direction general = {.V = Vs}, structured = {.toward = toward, .coef = coef};
    fused_job gen = {.m = &m, .W = W, .dir = &general, .part = alone};
    fused_chunk(w, xg, y, rows, &gen, 1, 0);
    double *sref = malloc((size_t)(Kd + 2) * sizeof(double));
    fused_job st = {.m = &m, .W = W, .part = sref, .dir = &structured};
    fused_chunk(w, xg, y, rows, &st, 1, 0);
    CHECK(fabs(sref[Kd + 1] - ref[Kd + 1]) <= 1e-12 * fabs(ref[Kd + 1]) &&
              !memcmp(sref, alone, (size_t)(Kd + 1) * sizeof(double)),
          "d=%lld K=%lld: V = coef toward^T - W: Hessian form %.1e from the plain loop's, "
          "gradient and loss bits unchanged",
          (long long)d, (long long)K, fabs(sref[Kd + 1] - ref[Kd + 1]) / fabs(ref[Kd + 1]));
    fused_job sbatch[3] = {{.m = &small, .W = W2, .part = other, .dir = &structured},
                           {.m = &m, .W = W, .part = batched, .dir = &structured},
                           {.m = &small, .W = W2, .dir = &plain, .part = other}};
    fused_chunk(w2, xg, y, rows, sbatch, 3, 0);
    CHECK(!memcmp(batched, sref, (size_t)(Kd + 2) * sizeof(double)),
          "d=%lld K=%lld: V = coef toward^T - W: bitwise the same second in a batch of 3",
          (long long)d, (long long)K);
    free(toward);
    free(coef);
    free(Vs);
    free(sref);
    fused_work_destroy(&w);
    fused_work_destroy(&w2);
    CHECK(w == NULL, "fused_work_destroy NULLs the pointer");
    free(x);
    free(xg);
    free(y);
    free(W);
    free(ref);
    free(alone);
    free(batched);
    free(other);
  }
  return check_summary();
}
