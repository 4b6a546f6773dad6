/* test_fused.c - the fused chunk kernel against a plain per-row loop, and
 * a cell's bits unchanged when other cells share the pass (batching). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tsim/activation.h"
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

/* relu, abs, the others by the table and the norm tie row by row (model.h): f = C sum_k a_k act(u_k),
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
      act[k] = m->activation == ACT_RELU        ? fmax(u[k], 0.0)
               : m->activation == ACT_ABS       ? fabs(u[k])
               : m->activation == ACT_QUADRATIC ? u[k] * u[k]
                                                : activation_info(m->activation)->value(u[k]);
      f += a[k] * act[k];
    }
    const double r = m->C * f - y[i];
    part[Kd] += r * r;
    for (int64_t k = 0; k < K; ++k) {
      const double slope = m->activation == ACT_QUADRATIC ? 2 * u[k]
                           : m->activation != ACT_RELU && m->activation != ACT_ABS
                               ? activation_info(m->activation)->slope(u[k])
                           : u[k] > 0                     ? 1.0
                           : u[k] < 0 && m->activation == ACT_ABS ? -1.0
                                                                  : 0.0;
      for (int64_t j = 0; j < d; ++j) part[k * d + j] += r * a[k] * slope * xi[j];
      if (m->norm_tied) part[Kd + 2 + k] += r * act[k];
    }
  }
}

/* A test's data: ROWS samples x (row-major) and labels y, NW weights W,
 * normals of seeds SX, SY, SW; once the test has edited x, samples_group
 * puts it in row groups (data.h) into xg, as fused_chunk reads it. */
typedef struct samples {
  int64_t rows, d;
  double *x, *y, *W, *xg;
} samples;

static samples samples_make(uint64_t sx, uint64_t sy, uint64_t sw, int64_t rows, int64_t d,
                            int64_t nw) {
  samples s = {rows, d, malloc((size_t)(rows * d) * sizeof(double)),
               malloc((size_t)rows * sizeof(double)), malloc((size_t)nw * sizeof(double)),
               malloc((size_t)data_group_size(rows, d) * sizeof(double))};
  rng_normals(sx, 1, 0, rows * d, s.x);
  rng_normals(sy, 1, 0, rows, s.y);
  rng_normals(sw, 1, 0, nw, s.W);
  return s;
}

static void samples_group(samples *s) { data_group_rows(s->x, s->rows, s->d, s->xg); }

static void samples_free(samples *s) {
  free(s->x);
  free(s->y);
  free(s->W);
  free(s->xg);
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
      {ACT_ABS, 1, "abs, norm tie"}, {ACT_QUADRATIC, 1, "quadratic, norm tie"},
      {ACT_LINEAR, 0, "linear"}, {ACT_TANH, 0, "tanh"}, {ACT_SIGMOID, 0, "sigmoid"},
      {ACT_SOFTPLUS, 0, "softplus"}, {ACT_TANH, 1, "tanh, norm tie"}, {ACT_ERF, 0, "erf"},
      {ACT_GELU, 0, "gelu"}, {ACT_GELU, 1, "gelu, norm tie"}};
  const int nmodels = (int)(sizeof models / sizeof models[0]);
  for (int c = 0; c < 4; ++c)
    for (int a = 0; a < nmodels; ++a) {
      const int64_t d = shapes[c][0], K = shapes[c][1], rows = shapes[c][2], Kd = K * d;
      const int64_t len = Kd + 2 + K;
      tsim_model m = {.activation = models[a].act, .d = d, .K = K, .C = 0.7 + 0.2 * a,
                      .loss_scale = 0.5, .norm_tied = models[a].tied};
      samples S = samples_make(20 + (uint64_t)c, 21 + (uint64_t)c, 22 + (uint64_t)(c * 5 + a),
                               rows, d, 2 * Kd);
      double *x = S.x, *y = S.y, *W = S.W, *W2 = W + Kd, *xg = S.xg;
      if (d >= 2) /* rows on the kink of neuron 0 */
        for (int64_t i = 3; i < rows; i += 7) {
          for (int64_t j = 0; j < d; ++j) x[i * d + j] = 0.0;
          x[i * d] = W[1];
          x[i * d + 1] = -W[0];
        }
      samples_group(&S);
      double *parts = malloc((size_t)(5 * len) * sizeof(double));
      double *ref = parts, *alone = ref + len, *batched = alone + len, *other = batched + len;
      double *quad = other + len;
      reference_general(&m, x, y, rows, W, ref);
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
      samples_free(&S);
      free(parts);
    }
}

/* Every vector width this CPU runs (fused_kernel.inc: 8, 4, 2 doubles)
 * gives the same bits: a batch of quadratic (general V and TOWARD), relu,
 * abs, norm-tied, linear, tanh, sigmoid, softplus, erf and gelu cells, and loss-only
 * passes, over shapes with every
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
    samples S = samples_make(40 + (uint64_t)c, 41 + (uint64_t)c, 42 + (uint64_t)c, rows, d,
                             2 * Kd + d + K);
    double *y = S.y, *W = S.W, *V = W + Kd, *toward = V + Kd, *coef = toward + d, *xg = S.xg;
    for (int64_t i = 5; i < rows; i += 11)
      for (int64_t j = 0; j < d; ++j) S.x[i * d + j] = 0.0;
    samples_group(&S);
    const tsim_model quad = {.activation = ACT_QUADRATIC, .d = d, .K = K, .C = 1.3, .loss_scale = 0.25};
    tsim_model relu = quad, abs_tied = quad, quad_tied = quad;
    relu.activation = ACT_RELU;
    abs_tied.activation = ACT_ABS;
    abs_tied.norm_tied = quad_tied.norm_tied = 1;
    tsim_model smooth[6] = {quad, quad, quad, quad, quad, quad};
    smooth[0].activation = ACT_LINEAR;
    smooth[1].activation = ACT_TANH;
    smooth[2].activation = ACT_SIGMOID;
    smooth[3].activation = ACT_SOFTPLUS;
    smooth[4].activation = ACT_ERF;
    smooth[5].activation = ACT_GELU;
    smooth[1].norm_tied = 1;
    const model_direction general = {.V = V}, structured = {.toward = toward, .coef = coef};
    double *parts[3];
    int same = 1;
    for (int t = 0; t < nwidths; ++t) {
      fused_use_vector_width(widths[t]);
      double *p = parts[t] = malloc((size_t)(13 * len) * sizeof(double));
      fused_job jobs[11] = {{.m = &quad, .W = W, .dir = &general, .part = p},
                           {.m = &quad, .W = V, .dir = &structured, .part = p + len},
                           {.m = &relu, .W = W, .part = p + 2 * len},
                           {.m = &abs_tied, .W = V, .part = p + 3 * len},
                           {.m = &quad_tied, .W = W, .part = p + 4 * len},
                           {.m = &smooth[0], .W = V, .part = p + 5 * len},
                           {.m = &smooth[1], .W = W, .part = p + 6 * len},
                           {.m = &smooth[2], .W = V, .part = p + 7 * len},
                           {.m = &smooth[3], .W = W, .part = p + 8 * len},
                           {.m = &smooth[4], .W = V, .part = p + 9 * len},
                           {.m = &smooth[5], .W = W, .part = p + 10 * len}};
      for (int q = 0; q < 11; ++q) memset(jobs[q].part, 0, (size_t)len * sizeof(double));
      fused_work *w = fused_work_create(d, K);
      fused_chunk(w, xg, y, rows, jobs, 11, 0);
      fused_job lo[2] = {{.m = &relu, .W = W, .part = p + 11 * len},
                         {.m = &smooth[5], .W = V, .part = p + 12 * len}};
      fused_chunk(w, xg, y, rows, &lo[0], 1, 1);
      fused_chunk(w, xg, y, rows, &lo[1], 1, 1);
      fused_work_destroy(&w);
      same = same && !memcmp(p, parts[0], (size_t)(11 * len + 1) * sizeof(double)) &&
             p[12 * len] == parts[0][12 * len];
    }
    CHECK(same, "d=%lld K=%lld rows=%lld: vector widths %d..%d of this CPU (%d of them) give "
                "the same bits", (long long)d, (long long)K, (long long)rows, widths[0],
          widths[nwidths - 1], nwidths);
    for (int t = 0; t < nwidths; ++t) free(parts[t]);
    samples_free(&S);
  }
  fused_use_vector_width(native);
  CHECK(fused_vector_width() == native && native >= 2, "the pass of width %d is used again",
        native);
}

/* data.h's row groups: coordinate j of row i at (i - i % 8) d + 8 j + i % 8,
 * padding rows zero, and back. */
static void test_row_groups(void) {
  const int64_t rows = 13, d = 3;
  double x[13 * 3], back[13 * 3], g[16 * 3];
  for (int64_t e = 0; e < rows * d; ++e) x[e] = 1.0 + (double)e;
  CHECK(data_group_size(rows, d) == 16 * 3, "13 rows take 2 whole groups");
  data_group_rows(x, rows, d, g);
  int placed = 1;
  for (int64_t i = 0; i < 16; ++i)
    for (int64_t j = 0; j < d; ++j)
      placed &= g[(i - i % 8) * d + 8 * j + i % 8] == (i < rows ? x[i * d + j] : 0.0);
  data_ungroup_rows(g, rows, d, back);
  CHECK(placed && !memcmp(back, x, sizeof x),
        "row groups: each coordinate in its place, padding rows zero, ungrouped back");
}

int main(void) {
  check_suite = "fused";
  test_row_groups();
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
    samples S = samples_make(5 + (uint64_t)c, 6 + (uint64_t)c, 7 + (uint64_t)c, rows, d, 3 * Kd);
    samples_group(&S);
    double *x = S.x, *y = S.y, *W = S.W, *V = W + Kd, *W2 = V + Kd, *xg = S.xg;
    for (int64_t e = 0; e < 3 * Kd; ++e) W[e] *= 0.3;
    double *parts = malloc((size_t)(4 * (Kd + 2)) * sizeof(double));
    double *ref = parts, *alone = ref + Kd + 2, *batched = alone + Kd + 2, *other = batched + Kd + 2;
    reference(&m, x, y, rows, W, V, ref);
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
    samples_free(&S);
    free(parts);
  }
  return check_summary();
}
