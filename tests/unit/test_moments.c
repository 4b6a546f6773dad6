/* test_moments.c - the fourth-moment engine against the sharded engine
 * (loss, gradient, quantity (9), test loss), the packed tensor's index map
 * and symmetry against brute force, and the block normal generator against
 * rng_normals. One process (NULL communicator). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tsim/cellkind.h"
#include "tsim/data.h"
#include "tsim/engine.h"
#include "tsim/metrics.h"
#include "tsim/model.h"
#include "tsim/moments.h"
#include "tsim/rng.h"

static tsim_params params(int64_t d, int64_t K, double C, int64_t n,
                          int64_t n_test, uint64_t seed) {
  tsim_params p = check_params(d, K, C, n, 128, seed);
  p.teacher_direction = DIR_RANDOM;
  p.teacher_seed = seed + 7;
  p.n_test = n_test;
  p.iterations = 100;
  return p;
}

static double rel(double a, double b) {
  return fabs(a - b) / fmax(fabs(b), 1e-300);
}

/* Both engines on one cell's data at W (and V = a q^T - W). */
typedef struct both {
  double loss[2], q9[2], test[2], grad_err, grad_norm;
} both;

static both compare(const tsim_params *p, const double *W) {
  tsim_error err;
  tsim_model m;
  tsim_teacher t;
  model_from_params(p, &m);
  teacher_make(p, &t, &err);
  tsim_dataset *train = NULL, *test = NULL;
  data_make(p, &t, DATA_TRAIN, 0, 1, &train, &err);
  data_make(p, &t, DATA_TEST, 0, 1, &test, &err);
  moments_tensor *mt = NULL, *ms = NULL;
  moments_build(p, DATA_TRAIN, NULL, NULL, NULL, &mt, &err);
  moments_build(p, DATA_TEST, NULL, NULL, NULL, &ms, &err);
  const int64_t Kd = p->K * p->d;
  double *Astar = malloc((size_t)(p->d * p->d) * sizeof(double));
  double *g0 = calloc((size_t)Kd, sizeof(double)), *g1 = calloc((size_t)Kd, sizeof(double));
  double *V = calloc((size_t)Kd, sizeof(double)), *q = calloc((size_t)p->K, sizeof(double));
  double *coef = calloc((size_t)p->K, sizeof(double));
  moments_teacher_matrix(&t, Astar);
  metrics_dist(&m, &t, W, q);
  const model_direction dir = metrics_direction(&m, &t, W, q, V, coef);
  model_work *mw = model_work_create(&m);
  moments_work *ow = moments_work_create(&m);
  model_eval a = {.grad = g0}, b = {.grad = g1}, at = {0}, bt = {0};
  model_evaluate(&m, train, W, &dir, NULL, mw, &a);
  moments_evaluate(&m, mt, Astar, W, V, ow, &b);
  model_evaluate(&m, test, W, NULL, NULL, mw, &at);
  moments_evaluate(&m, ms, Astar, W, NULL, ow, &bt);
  both r = {{a.loss, b.loss}, {a.hess_quad, b.hess_quad}, {at.loss, bt.loss}, 0, 0};
  for (int64_t e = 0; e < Kd; ++e) {
    r.grad_err = fmax(r.grad_err, fabs(g0[e] - g1[e]));
    r.grad_norm += g0[e] * g0[e];
  }
  r.grad_norm = sqrt(r.grad_norm);
  model_work_destroy(&mw);
  moments_work_destroy(&ow);
  moments_destroy(&mt);
  moments_destroy(&ms);
  data_destroy(&train);
  data_destroy(&test);
  teacher_free(&t);
  free(Astar);
  free(g0);
  free(g1);
  free(V);
  free(q);
  free(coef);
  return r;
}

int main(void) {
  check_suite = "moments";

  /* index map: a bijection from sorted quadruples onto 0..C(d+3,4)-1,
   * invariant under permutations of the four indices */
  for (int64_t d = 1; d <= 10; d += 3) {
    moments_tensor *t = moments_create(d);
    const int64_t ne = moments_entries(d);
    int64_t expect = 1;
    for (int64_t i = 0; i < 4; ++i) expect = expect * (d + i) / (i + 1);
    char *seen = calloc((size_t)ne, 1);
    int bijective = ne == expect, invariant = 1;
    for (int64_t a = 0; a < d; ++a)
      for (int64_t b = a; b < d; ++b)
        for (int64_t c = b; c < d; ++c)
          for (int64_t e = c; e < d; ++e) {
            const int64_t i = moments_index(t, a, b, c, e);
            if (i < 0 || i >= ne || seen[i]) bijective = 0;
            else seen[i] = 1;
            invariant &= moments_index(t, e, c, b, a) == i &&
                         moments_index(t, c, a, e, b) == i &&
                         moments_index(t, b, e, a, c) == i;
          }
    CHECK(bijective && invariant,
          "d=%lld: %lld packed entries (C(d+3,4) = %lld), index map bijective and "
          "permutation invariant", (long long)d, (long long)ne, (long long)expect);
    free(seen);
    moments_destroy(&t);
  }

  /* the packed chunk sum against brute force over all d^4 ordered entries
   * (7 rows: the 4-sample blocks and the remainder) */
  {
    const int64_t d = 5, rows = 23;
    double x[115];
    rng_normals_rows(3, RNG_TRAIN_X, 0, rows, d, x);
    moments_tensor *t = moments_create(d);
    double *part = malloc((size_t)t->nentries * sizeof(double));
    moments_chunk(t, x, rows, part);
    double worst = 0;
    for (int64_t a = 0; a < d; ++a)
      for (int64_t b = 0; b < d; ++b)
        for (int64_t c = 0; c < d; ++c)
          for (int64_t e = 0; e < d; ++e) {
            double s = 0, sa = 0;
            for (int64_t i = 0; i < rows; ++i) {
              const double *xi = x + i * d;
              s += xi[a] * xi[b] * xi[c] * xi[e];
              sa += fabs(xi[a] * xi[b] * xi[c] * xi[e]);
            }
            worst = fmax(worst, fabs(part[moments_index(t, a, b, c, e)] - s) / sa);
          }
    CHECK(worst < 1e-15, "packed chunk sum equals sum x_a x_b x_c x_d for all %d ordered "
          "entries (max err %.1e of sum |terms|)", 625, worst);
    /* and bit for bit the plain loop: each entry (x_a x_b)(x_c x_d),
     * a <= b <= c <= d, added in sample order (so the vectorized kernel
     * neither reorders nor fuses, whatever the CPU) */
    int exact = 1;
    for (int64_t a = 0; a < d; ++a)
      for (int64_t b = a; b < d; ++b)
        for (int64_t c = b; c < d; ++c)
          for (int64_t e = c; e < d; ++e) {
            double s = 0.0;
            for (int64_t i = 0; i < rows; ++i) {
              const double *xi = x + i * d;
              const double ab = xi[a] * xi[b], ce = xi[c] * xi[e];
              s += ab * ce;
            }
            exact &= part[moments_index(t, a, b, c, e)] == s;
          }
    CHECK(exact, "the chunk kernel gives the bits of the plain sample-order loop");
    free(part);
    moments_destroy(&t);
  }

  /* the block generator makes rng_normals' bits (odd and even d, an index
   * above 2^32) */
  {
    int same = 1;
    const int64_t ds[3] = {1, 7, 10};
    const uint64_t firsts[2] = {5, (1ull << 32) - 3};
    for (int i = 0; i < 3; ++i)
      for (int f = 0; f < 2; ++f) {
        const int64_t d = ds[i], rows = 77;
        double *a = malloc((size_t)(rows * d) * sizeof(double));
        double b[10];
        rng_normals_rows(42, RNG_TEST_X, firsts[f], rows, d, a);
        for (int64_t r = 0; r < rows; ++r) {
          rng_normals(42, RNG_TEST_X, firsts[f] + (uint64_t)r, d, b);
          same &= !memcmp(a + r * d, b, (size_t)d * sizeof(double));
        }
        free(a);
      }
    CHECK(same, "rng_normals_rows gives the bits of rng_normals");
  }

  /* moments engine == sharded engine at random W, several (d, K, C) */
  const struct { int64_t d, K; double C; int64_t n; } cases[] = {
      {10, 10, 1.0, 3000}, {10, 1, 1.0, 1000}, {6, 3, 2.0, 2000},
      {3, 5, 0.5, 500}, {12, 4, 8.0, 1500}};
  for (int c = 0; c < 5; ++c) {
    tsim_params p = params(cases[c].d, cases[c].K, cases[c].C, cases[c].n, 300,
                           (uint64_t)c + 1);
    const int64_t Kd = p.K * p.d;
    double *W = malloc((size_t)Kd * sizeof(double));
    tsim_error err;
    data_init_weights(&p, W, &err);
    const both r = compare(&p, W);
    CHECK(rel(r.loss[1], r.loss[0]) < 1e-12 && rel(r.test[1], r.test[0]) < 1e-12 &&
              r.grad_err < 1e-12 * r.grad_norm && rel(r.q9[1], r.q9[0]) < 1e-12,
          "d=%lld K=%lld C=%g n=%lld: moments vs sharded rel. err: loss %.1e, test loss "
          "%.1e, grad %.1e, q9 %.1e", (long long)p.d, (long long)p.K, p.C, (long long)p.n,
          rel(r.loss[1], r.loss[0]), rel(r.test[1], r.test[0]), r.grad_err / r.grad_norm,
          rel(r.q9[1], r.q9[0]));
    free(W);
  }

  /* near the optimum the loss is tiny: both engines round A = C W W^T - A*
   * (moments: once; sharded: per sample as C||W^T x||^2 - y) at the scale of
   * A* and y, so they agree to ~1e-16 of that scale, i.e. to a relative
   * 1e-16 / |A| in the loss. Measured and bounded relative to the scale
   * s * mean y^2 = the loss at W = 0. */
  {
    tsim_params p = params(10, 1, 1.0, 2000, 300, 9);
    double W[10], W0[10];
    tsim_teacher t;
    tsim_error err;
    teacher_make(&p, &t, &err);
    data_init_weights(&p, W0, &err);
    const both zero = compare(&p, (double[10]){0});
    const double scale = zero.loss[0];
    for (int e = 2; e <= 10; e += 2) {
      const double eps = pow(10.0, -e);
      for (int j = 0; j < 10; ++j) W[j] = t.w[j] + eps * W0[j];
      const both r = compare(&p, W);
      CHECK(fabs(r.loss[1] - r.loss[0]) < 1e-14 * scale &&
                r.grad_err < 1e-14 * sqrt(scale) + 1e-12 * r.grad_norm,
            "W = w* + %.0e N: loss %.3e, moments vs sharded: rel. err %.1e, err / scale "
            "%.1e; grad rel. err %.1e", eps, r.loss[0], rel(r.loss[1], r.loss[0]),
            fabs(r.loss[1] - r.loss[0]) / scale, r.grad_err / r.grad_norm);
    }
    teacher_free(&t);
  }

  /* engine choice: moments needs the quadratic model and generated labels;
   * auto follows the cost model */
  {
    tsim_params p = params(10, 10, 1.0, 1000000, 1000, 1);
    p.engine = ENGINE_AUTO;
    CHECK(engine_choose(&p) == ENGINE_MOMENTS, "auto picks moments at n = 1e6, d = 10, K = 10");
    p.n = 50;
    p.K = 1;
    p.n_test = 0;
    CHECK(engine_choose(&p) == ENGINE_SHARDED, "auto picks sharded at n = 50, K = 1");
    p.n = 1000000;
    p.activation = ACT_RELU;
    CHECK(engine_choose(&p) == ENGINE_SHARDED && engine_by_id(ENGINE_MOMENTS)->unsupported(&p),
          "a relu student is never given to the moments engine");
    p.activation = ACT_QUADRATIC;
    p.y_file = "y.npy";
    CHECK(engine_choose(&p) == ENGINE_SHARDED, "labels from a file: sharded");
  }
  return check_summary();
}
