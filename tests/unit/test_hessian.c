/* test_hessian.c - the distributed Hessian (hessian.h) against a
 * finite-difference Hessian of the loss, LAPACK's dsyevd, the sharded
 * engine's quantity (9), the population closed form, and the zero modes of
 * the students' rotation symmetry at W = w* q^T.
 *
 * Runs as a plain binary (one rank) in the suite; tests/test_hessian.sh also
 * runs it under mpirun on 2 and 4 ranks, where every check runs on the
 * team of all ranks and the distributed matrix is compared with one built
 * on rank 0 alone from all the samples: bitwise for the matrix and its
 * quadratic form, 1e-12 relative for the eigenvalues. */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tsim/data.h"
#include "tsim/fixsum.h"
#include "tsim/hessian.h"
#include "tsim/metrics.h"
#include "tsim/model.h"
#include "tsim/population.h"
#include "tsim/reduce.h"
#include "tsim/rng.h"

static int me, nranks;

static tsim_params params(int64_t d, int64_t K, double C, int64_t n,
                          int64_t chunk, uint64_t seed) {
  tsim_params p = check_params(d, K, C, n, chunk, seed);
  p.init_scale = 0.7;
  return p;
}


static double max_abs(const double *a, int64_t n) {
  double m = 0.0;
  for (int64_t i = 0; i < n; ++i) m = fmax(m, fabs(a[i]));
  return m;
}

/* full symmetric matrix (row-major) and its eigenvalues by LAPACK dsyevd */
static void lapack_eigs(const double *H, int64_t N, double *eig) {
  double *copy = malloc((size_t)(N * N) * sizeof(double));
  memcpy(copy, H, (size_t)(N * N) * sizeof(double));
  LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'L', (lapack_int)N, copy,
                 (lapack_int)N, eig);
  free(copy);
}

static void test_fixsum(void) {
  /* the same addends in two orders give the same bits; the sum is as
   * accurate as the superaccumulator's at this magnitude */
  enum { COUNT = 2000 };
  double v[COUNT];
  for (int i = 0; i < COUNT; ++i) {
    double u[2];
    rng_normal_pair(5, 99, (uint64_t)i, 0, u);
    v[i] = u[0] * ldexp(1.0, (int)(u[1] * 8.0));
  }
  double bound = 0.0;
  for (int i = 0; i < COUNT; ++i) bound = fmax(bound, fabs(v[i]));
  const int lsb = fixsum_lsb(fixsum_exponent(bound));
  int64_t a[FIXSUM_WORDS] = {0}, b[FIXSUM_WORDS] = {0};
  for (int i = 0; i < COUNT; ++i) fixsum_add_one(a, v[i], lsb);
  for (int i = COUNT - 1; i >= 0; --i) fixsum_add_one(b, v[i], lsb);
  fixsum_normalize(a, 1);
  fixsum_normalize(b, 1);
  xsum_vec *x = xsum_create(1);
  for (int i = 0; i < COUNT; ++i) xsum_add(x, &v[i]);
  xsum_normalize(x);
  double exact = 0.0;
  xsum_round(x, &exact);
  xsum_destroy(&x);
  const double fa = fixsum_round(a, lsb), fb = fixsum_round(b, lsb);
  CHECK(memcmp(a, b, sizeof a) == 0 && fa == fb,
        "fixsum: two orders give the same words and bits");
  CHECK(fabs(fa - exact) <= 1e-15 * fabs(exact),
        "fixsum: %.17g vs exact %.17g", fa, exact);
  int64_t c[FIXSUM_WORDS] = {0};
  fixsum_add_one(c, -3.25, lsb);
  fixsum_add_one(c, 1.0, lsb);
  fixsum_normalize(c, 1);
  CHECK(fixsum_round(c, lsb) == -2.25, "fixsum: negative sums round back");
  fixsum_add_one(c, NAN, lsb);
  CHECK(isnan(fixsum_round(c, lsb)), "fixsum: a NaN addend gives NaN");
}

/* The largest |(g(W + eps e_c) - g(W - eps e_c)) / (2 eps) - H e_c| over
 * the columns c of the sample Hessian H of cell F (g: the model's gradient) */
static double sample_vs_differences(check_cell *f, const double *H, const par_comm *team) {
  const int64_t N = f->N;
  double *Wp = malloc((size_t)N * sizeof(double)), *gp = malloc((size_t)N * sizeof(double));
  double *gm = malloc((size_t)N * sizeof(double));
  double worst = 0.0;
  const double eps = 1e-5;
  for (int64_t c = 0; c < N; ++c) {
    memcpy(Wp, f->W, (size_t)N * sizeof(double));
    Wp[c] += eps;
    model_eval e1 = {.grad = gp};
    model_evaluate(&f->m, f->ds, Wp, NULL, team, f->work, &e1);
    Wp[c] -= 2.0 * eps;
    model_eval e2 = {.grad = gm};
    model_evaluate(&f->m, f->ds, Wp, NULL, team, f->work, &e2);
    for (int64_t r = 0; r < N; ++r)
      worst = fmax(worst, fabs((gp[r] - gm[r]) / (2.0 * eps) - H[r * N + c]));
  }
  free(Wp);
  free(gp);
  free(gm);
  return worst;
}

/* H against a central difference of the gradient, column by column */
static void test_finite_difference(const par_comm *team) {
  check_cell f;
  check_cell_make(&f, params(3, 2, 1.5, 90, 16, 1), me, nranks);
  const int64_t N = f.N;
  hessian *h = hessian_create(team, N, 2);
  hessian_assemble_samples(h, &f.m, f.ds, f.W);
  double *H = malloc((size_t)(N * N) * sizeof(double));
  hessian_gather(h, H);
  const double worst = sample_vs_differences(&f, H, team);
  const double scale = max_abs(H, N * N);
  CHECK(worst <= 1e-7 * scale,
        "finite differences: max |H - dgrad| = %.3g (max |H| = %.3g)", worst,
        scale);
  free(H);
  hessian_destroy(&h);
  check_cell_free(&f);
}

/* Smooth students (teacher alike): the sample Hessian, with the residual
 * term r_i C act''(u_ik) x_i x_i^T per neuron on the diagonal blocks,
 * against central differences of the model's gradient, column by column;
 * on the team against 1 rank alone from all the samples, bitwise. */
static void test_smooth(const par_comm *team) {
  const int acts[5] = {ACT_TANH, ACT_ERF, ACT_SIGMOID, ACT_SOFTPLUS, ACT_GELU};
  for (int ai = 0; ai < 5; ++ai) {
    tsim_params p = params(3, 2, 1.5, 90, 16, 4);
    p.activation = acts[ai];
    p.init_scale = 1.5; /* |u| up to a few: act'' far from its value at 0 */
    check_cell f;
    check_cell_make(&f, p, me, nranks);
    const int64_t N = f.N;
    const char *name = activation_info(acts[ai])->name;
    hessian *h = hessian_create(team, N, 2);
    hessian_assemble_samples(h, &f.m, f.ds, f.W);
    double *H = malloc((size_t)(N * N) * sizeof(double));
    hessian_gather(h, H);
    const double worst = sample_vs_differences(&f, H, team);
    const double scale = max_abs(H, N * N);
    CHECK(worst <= 1e-7 * scale, "%s student: sample H vs central differences of the "
          "gradient: max diff %.3g (max |H| %.3g)", name, worst, scale);
    if (nranks > 1) {
      par_comm *solo = par_split(team, me == 0 ? 0 : 1, me);
      if (me == 0) {
        check_cell g;
        check_cell_make(&g, p, 0, 1);
        hessian *h1 = hessian_create(solo, N, 2);
        hessian_assemble_samples(h1, &g.m, g.ds, g.W);
        double *H1 = malloc((size_t)(N * N) * sizeof(double));
        hessian_gather(h1, H1);
        CHECK(memcmp(H1, H, (size_t)(N * N) * sizeof(double)) == 0,
              "%s student, %d ranks: the assembled matrix has the bits of 1 rank's", name,
              nranks);
        free(H1);
        hessian_destroy(&h1);
        check_cell_free(&g);
      }
      par_comm_free(&solo);
    }
    free(H);
    hessian_destroy(&h);
    check_cell_free(&f);
  }
}

/* Trained output weights (N = dK + K: the w_k, then the a_k, a_0 Gaussian):
 * the sample Hessian against central differences of the model's gradient
 * (dL/dw and dL/da), column by column; relu at a W where no sample is within
 * the step of a kink; on the team against 1 rank alone, bitwise. */
static void test_train_output(const par_comm *team) {
  const int acts[3] = {ACT_TANH, ACT_QUADRATIC, ACT_RELU};
  for (int ai = 0; ai < 3; ++ai) {
    tsim_params p = params(3, 2, 1.5, 90, 16, 5);
    p.activation = acts[ai];
    p.train_output = 1;
    p.init_output = INIT_OUTPUT_GAUSSIAN;
    check_cell f;
    check_cell_make(&f, p, me, nranks);
    const int64_t N = f.N, d = p.d, K = p.K;
    const char *name = activation_info(acts[ai])->name;
    const double eps = acts[ai] == ACT_RELU ? 1e-7 : 1e-5;
    if (acts[ai] == ACT_RELU) { /* this rank's samples: none within the step of a kink */
      double umin = INFINITY, xmax = 0.0;
      double *x = malloc((size_t)(f.ds->chunk * d) * sizeof(double));
      for (int64_t c = f.ds->chunk_begin; c < f.ds->chunk_end; ++c) {
        const double *y;
        int64_t rows;
        data_chunk_rows(f.ds, c, x, &y, &rows); /* row-major */
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t k = 0; k < K; ++k) {
            double u = 0.0;
            for (int64_t a = 0; a < d; ++a) {
              u += x[i * d + a] * f.W[k * d + a];
              xmax = fmax(xmax, fabs(x[i * d + a]));
            }
            umin = fmin(umin, fabs(u));
          }
      }
      free(x);
      CHECK(umin > 10.0 * eps * xmax, "relu, trained output: min |w_k.x| = %.3g, step %.3g",
            umin, eps * xmax);
    }
    hessian *h = hessian_create(team, N, 2);
    CHECK(hessian_order(h) == 8, "%s, trained output: order d K + K = 8", name);
    hessian_assemble_samples(h, &f.m, f.ds, f.W);
    double *H = malloc((size_t)(N * N) * sizeof(double));
    hessian_gather(h, H);
    double *Wp = malloc((size_t)N * sizeof(double)), *gp = malloc((size_t)N * sizeof(double));
    double *gm = malloc((size_t)N * sizeof(double));
    double worst = 0.0, cross = 0.0;
    for (int64_t c = 0; c < N; ++c) {
      memcpy(Wp, f.W, (size_t)N * sizeof(double));
      Wp[c] += eps;
      model_eval e1 = {.grad = gp};
      model_evaluate(&f.m, f.ds, Wp, NULL, team, f.work, &e1);
      Wp[c] -= 2.0 * eps;
      model_eval e2 = {.grad = gm};
      model_evaluate(&f.m, f.ds, Wp, NULL, team, f.work, &e2);
      for (int64_t r = 0; r < N; ++r)
        worst = fmax(worst, fabs((gp[r] - gm[r]) / (2.0 * eps) - H[r * N + c]));
      if (c < K * d) cross = fmax(cross, fabs(H[(K * d + c / d) * N + c]));
    }
    const double scale = max_abs(H, N * N);
    CHECK(worst <= 1e-7 * scale && cross > 1e-3 * scale, "%s, trained output: sample H vs "
          "central differences of the gradient: max diff %.3g (max |H| %.3g, largest (a_k, "
          "w_k) entry %.3g)", name, worst, scale, cross);
    if (nranks > 1) {
      par_comm *solo = par_split(team, me == 0 ? 0 : 1, me);
      if (me == 0) {
        check_cell g;
        check_cell_make(&g, p, 0, 1);
        hessian *h1 = hessian_create(solo, N, 2);
        hessian_assemble_samples(h1, &g.m, g.ds, g.W);
        double *H1 = malloc((size_t)(N * N) * sizeof(double));
        hessian_gather(h1, H1);
        CHECK(memcmp(H1, H, (size_t)(N * N) * sizeof(double)) == 0,
              "%s, trained output, %d ranks: the assembled matrix has the bits of 1 rank's",
              name, nranks);
        free(H1);
        hessian_destroy(&h1);
        check_cell_free(&g);
      }
      par_comm_free(&solo);
    }
    free(H);
    free(Wp);
    free(gp);
    free(gm);
    hessian_destroy(&h);
    check_cell_free(&f);
  }
}

/* the Hessian from the fourth moments equals the one from the samples */
typedef struct dense4 {
  int64_t d;
  double *m;
} dense4;
static double dense_moment(const void *ctx, int64_t a, int64_t b, int64_t c,
                           int64_t e) {
  const dense4 *t = ctx;
  return t->m[((a * t->d + b) * t->d + c) * t->d + e];
}

static void test_moments(const par_comm *team) {
  check_cell f, all; /* this rank's shard, and every sample (for M) */
  check_cell_make(&f, params(4, 3, 1.2, 500, 64, 8), me, nranks);
  check_cell_make(&all, params(4, 3, 1.2, 500, 64, 8), 0, 1);
  const int64_t d = f.p.d, N = f.N;
  dense4 t4 = {d, calloc((size_t)(d * d * d * d), sizeof(double))};
  double *X = malloc((size_t)(f.p.n * d) * sizeof(double)); /* row-major */
  data_ungroup_rows(all.ds->x, f.p.n, d, X);
  for (int64_t i = 0; i < f.p.n; ++i) {
    const double *x = X + i * d;
    for (int64_t a = 0; a < d; ++a)
      for (int64_t b = 0; b < d; ++b)
        for (int64_t c = 0; c < d; ++c)
          for (int64_t e = 0; e < d; ++e)
            t4.m[((a * d + b) * d + c) * d + e] += x[a] * x[b] * x[c] * x[e];
  }
  hessian *h = hessian_create(team, N, 2);
  double *Hs = malloc((size_t)(N * N) * sizeof(double)), *Hm = malloc((size_t)(N * N) * sizeof(double));
  hessian_assemble_samples(h, &f.m, f.ds, f.W);
  hessian_gather(h, Hs);
  hessian_assemble_moments(h, &f.m, &f.t, f.W, f.p.n, dense_moment, &t4);
  hessian_gather(h, Hm);
  double worst = 0.0;
  for (int64_t j = 0; j < N * N; ++j) worst = fmax(worst, fabs(Hs[j] - Hm[j]));
  CHECK(worst <= 1e-12 * max_abs(Hs, N * N),
        "Hessian from the fourth moments = from the samples: max diff %.3g "
        "(max |H| %.3g)", worst, max_abs(Hs, N * N));
  free(Hs);
  free(Hm);
  free(t4.m);
  free(X);
  hessian_destroy(&h);
  check_cell_free(&f);
  check_cell_free(&all);
}

/* relu and abs students: the sample Hessian is the almost-everywhere one
 * (act'' = 0 off the kinks: the Gauss-Newton term alone). Off the kinks the
 * loss s (1/n) sum_i (C sum_k act(u_ik) - y_i)^2 is quadratic in W, so its
 * central second differences are exact but for rounding - as long as no
 * u_ik = w_k.x_i changes sign within the step, which is checked: a step
 * moves w_k by at most 2h, u_ik by at most 2h ||x_i||. */
static double act_loss(const tsim_model *m, const double *X, const double *y, int64_t n,
                       const double *W) {
  const int64_t d = m->d, K = m->K;
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double f = 0.0;
    for (int64_t k = 0; k < K; ++k) {
      double u = 0.0;
      for (int64_t a = 0; a < d; ++a) u += X[i * d + a] * W[k * d + a];
      f += m->activation == ACT_RELU ? fmax(u, 0.0) : fabs(u);
    }
    const double r = m->C * f - y[i];
    sum += r * r;
  }
  return m->loss_scale * sum / (double)n;
}

/* the central second difference of LOSS(CTX, W) in coordinates a, b */
typedef double (*loss_at)(void *ctx, const double *W);
static double second_difference(loss_at loss, void *ctx, const double *W, int64_t N,
                                int64_t a, int64_t b, double h) {
  double *Wp = malloc((size_t)N * sizeof(double)), L[4];
  for (int s = 0; s < 4; ++s) {
    memcpy(Wp, W, (size_t)N * sizeof(double));
    Wp[a] += s < 2 ? h : -h;
    Wp[b] += s % 2 ? -h : h;
    L[s] = loss(ctx, Wp);
  }
  free(Wp);
  return (L[0] - L[1] - L[2] + L[3]) / (4.0 * h * h);
}

typedef struct sample_loss {
  const tsim_model *m;
  const double *X, *y;
  int64_t n;
} sample_loss;
static double sample_loss_at(void *ctx, const double *W) {
  const sample_loss *c = ctx;
  return act_loss(c->m, c->X, c->y, c->n, W);
}

static void test_relu_abs(void) {
  par_comm *solo = par_split(par_world(), me, 0); /* every rank on its own */
  const int acts[2] = {ACT_RELU, ACT_ABS};
  for (int ai = 0; ai < 2; ++ai) {
    check_cell f;
    check_cell_make(&f, params(3, 2, 1.5, 60, 16, 6), 0, 1);
    f.m.activation = acts[ai];
    const int64_t N = f.N, d = f.p.d, K = f.p.K, n = f.p.n;
    const double h = 1e-4;
    double *X = malloc((size_t)(n * d) * sizeof(double)); /* row-major */
    data_ungroup_rows(f.ds->x, n, d, X);
    double margin = INFINITY; /* min over i, k of |w_k.x_i| / (h ||x_i||) */
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < K; ++k) {
        double u = 0.0, xx = 0.0;
        for (int64_t a = 0; a < d; ++a) {
          u += X[i * d + a] * f.W[k * d + a];
          xx += X[i * d + a] * X[i * d + a];
        }
        margin = fmin(margin, fabs(u) / (h * sqrt(xx)));
      }
    CHECK(margin > 4.0, "%s student: no sample within the step of a kink: min |w_k.x_i| = "
          "%.3g h ||x_i|| (> 2 x 2h)", ai ? "abs" : "relu", margin);
    hessian *hs = hessian_create(solo, N, 2);
    hessian_assemble_samples(hs, &f.m, f.ds, f.W);
    double *H = malloc((size_t)(N * N) * sizeof(double));
    hessian_gather(hs, H);
    sample_loss ctx = {&f.m, X, f.ds->y, n};
    double worst = 0.0;
    for (int64_t a = 0; a < N; ++a)
      for (int64_t b = 0; b <= a; ++b)
        worst = fmax(worst, fabs(second_difference(sample_loss_at, &ctx, f.W, N, a, b, h) -
                                 H[a * N + b]));
    const double scale = max_abs(H, N * N);
    CHECK(worst <= 1e-6 * scale, "%s student: sample H (a.e.) vs second differences of the "
          "loss %.3g (max |H| %.3g)", ai ? "abs" : "relu", worst, scale);
    free(H);
    free(X);
    hessian_destroy(&hs);
    check_cell_free(&f);
  }
  par_comm_free(&solo);
}

static double population_at(void *ctx, const double *W) {
  return population_loss((population *)ctx, W, NULL);
}

/* The population Hessian of cell F, assembled in H and gathered into HP
 * (N x N): its largest distance to second differences of
 * the closed-form population loss; *SCALE is max |HP|. */
static double population_vs_differences(hessian *h, check_cell *f, double *Hp, double *scale) {
  const int64_t N = f->N;
  hessian_assemble_population(h, &f->m, &f->t, f->W);
  hessian_gather(h, Hp);
  population *pop = population_create(&f->m, &f->t, 0.0);
  double worst = 0.0;
  for (int64_t a = 0; a < N; ++a)
    for (int64_t b = 0; b <= a; ++b)
      worst = fmax(worst, fabs(second_difference(population_at, pop, f->W, N, a, b, 1e-4) -
                               Hp[a * N + b]));
  population_destroy(&pop);
  *scale = max_abs(Hp, N * N);
  return worst;
}

/* relu and abs, teacher alike: the population Hessian (population.c's
 * blocks, assembled over the team) against second differences of the
 * closed-form population loss. Its diagonal blocks have the kinks' term the
 * sample Hessian has not, so the sample Hessian approaches it off the
 * diagonal blocks only as n grows. */
static void test_population_kinks(const par_comm *team) {
  const int acts[2] = {ACT_RELU, ACT_ABS};
  for (int ai = 0; ai < 2; ++ai) {
    const char *name = ai ? "abs" : "relu";
    tsim_params p = params(3, 2, 1.5, 100, 64, 9);
    p.activation = acts[ai];
    check_cell f;
    check_cell_make(&f, p, me, nranks);
    const int64_t N = f.N, d = f.p.d;
    hessian *h = hessian_create(team, N, 2);
    double *Hp = malloc((size_t)(N * N) * sizeof(double)), scale;
    const double worst = population_vs_differences(h, &f, Hp, &scale);
    CHECK(worst <= 1e-6 * scale, "%s: population H vs second differences of the population "
          "loss %.3g (max |H| %.3g)", name, worst, scale);
    /* relative distance of the sample Hessian to Hp, off and on the
     * diagonal blocks, at n = 4000 and 64000 */
    double off[2], on[2];
    const int64_t ns[2] = {4000, 64000};
    double *He = malloc((size_t)(N * N) * sizeof(double));
    for (int i = 0; i < 2; ++i) {
      check_cell g;
      p.n = ns[i];
      p.chunk = 2048;
      check_cell_make(&g, p, me, nranks);
      hessian_assemble_samples(h, &g.m, g.ds, f.W);
      hessian_gather(h, He);
      double e2[2] = {0.0, 0.0}, p2[2] = {0.0, 0.0};
      for (int64_t r = 0; r < N; ++r)
        for (int64_t c = 0; c < N; ++c) {
          const int diag = r / d == c / d;
          e2[diag] += (He[r * N + c] - Hp[r * N + c]) * (He[r * N + c] - Hp[r * N + c]);
          p2[diag] += Hp[r * N + c] * Hp[r * N + c];
        }
      off[i] = sqrt(e2[0] / p2[0]);
      on[i] = sqrt(e2[1] / p2[1]);
      check_cell_free(&g);
    }
    CHECK(off[1] < off[0] / 2.0 && on[1] > 0.05 && on[1] > on[0] / 2.0,
          "%s: sample -> population H off the diagonal blocks (relative distance %.4f at "
          "n = 4000, %.4f at 64000), not on them (the kinks' term: %.4f, %.4f)", name, off[0],
          off[1], on[0], on[1]);
    free(He);
    free(Hp);
    hessian_destroy(&h);
    check_cell_free(&f);
  }
}

/* The quadratic population Hessian beyond Wang & Abernethy's one teacher
 * (several teachers, output weight 1/m: population.c's blocks) against
 * second differences of the closed-form population loss. */
static void test_population_teachers(const par_comm *team) {
  tsim_params p = params(4, 3, 1.0, 100, 64, 11);
  p.teacher_neurons = 2;
  p.teacher_direction = DIR_RANDOM_ORTHONORMAL;
  p.normalisation = NORMALISATION_INV_M;
  check_cell f;
  check_cell_make(&f, p, me, nranks);
  const int64_t N = f.N;
  hessian *h = hessian_create(team, N, 2);
  double *Hp = malloc((size_t)(N * N) * sizeof(double)), scale;
  const double worst = population_vs_differences(h, &f, Hp, &scale);
  CHECK(worst <= 1e-6 * scale, "quadratic, 2 teachers, 1/m: population H vs second "
        "differences of the population loss %.3g (max |H| %.3g)", worst, scale);
  free(Hp);
  hessian_destroy(&h);
  check_cell_free(&f);
}

/* erf (the arcsine kernel), 2 teachers: the population Hessian against
 * second differences of the closed-form population loss */
static void test_population_erf(const par_comm *team) {
  tsim_params p = params(3, 2, 1.5, 100, 64, 12);
  p.activation = ACT_ERF;
  p.teacher_neurons = 2;
  p.teacher_direction = DIR_RANDOM_ORTHONORMAL;
  p.init_scale = 1.5;
  check_cell f;
  check_cell_make(&f, p, me, nranks);
  const int64_t N = f.N;
  hessian *h = hessian_create(team, N, 2);
  double *Hp = malloc((size_t)(N * N) * sizeof(double)), scale;
  const double worst = population_vs_differences(h, &f, Hp, &scale);
  CHECK(worst <= 1e-6 * scale, "erf, 2 teachers: population H vs second differences of the "
        "population loss %.3g (max |H| %.3g)", worst, scale);
  free(Hp);
  hessian_destroy(&h);
  check_cell_free(&f);
}

/* eigenvalues vs LAPACK dsyevd, vectors, and quantity (9) */
static void test_spectrum(const par_comm *team) {
  check_cell f;
  check_cell_make(&f, params(8, 5, 1.0, 700, 64, 2), me, nranks);
  const int64_t N = f.N;
  hessian *h = hessian_create(team, N, 4);
  hessian_assemble_samples(h, &f.m, f.ds, f.W);
  double *H = malloc((size_t)(N * N) * sizeof(double));
  hessian_gather(h, H);
  double *ref = malloc((size_t)N * sizeof(double)), *eig = malloc((size_t)N * sizeof(double));
  double *eigv = malloc((size_t)N * sizeof(double)), *ov = malloc((size_t)N * sizeof(double));
  lapack_eigs(H, N, ref);
  /* quantity (9): V = a q^T - W, against the sharded engine */
  double *q = malloc((size_t)f.p.K * sizeof(double)), *V = malloc((size_t)N * sizeof(double));
  metrics_dist(&f.m, &f.t, f.W, q);
  double *coef = malloc((size_t)f.p.K * sizeof(double));
  const model_direction dir = metrics_direction(&f.m, &f.t, f.W, q, V, coef);
  model_eval ev = {0};
  model_evaluate(&f.m, f.ds, f.W, &dir, team, f.work, &ev);
  const double quad = hessian_quad(h, V);
  CHECK(fabs(quad - ev.hess_quad) <= 1e-10 * fabs(ev.hess_quad),
        "vec(V)^T H vec(V) = %.15g, quantity (9) of model_evaluate = %.15g",
        quad, ev.hess_quad);
  tsim_error err = {0};
  int rc = hessian_eigen(h, eig, NULL, NULL, &err);
  const double top = fmax(fabs(ref[0]), fabs(ref[N - 1]));
  double worst = 0.0;
  for (int64_t j = 0; j < N; ++j) worst = fmax(worst, fabs(eig[j] - ref[j]));
  CHECK(rc == 0 && worst <= 1e-12 * top,
        "pdsyev eigenvalues vs LAPACK dsyevd: max diff %.3g (|lambda|max %.3g)",
        worst, top);
  hessian_assemble_samples(h, &f.m, f.ds, f.W);
  rc = hessian_eigen(h, eigv, V, ov, &err);
  worst = 0.0;
  double ovsum = 0.0, ray = 0.0, vv = 0.0;
  for (int64_t j = 0; j < N; ++j) {
    worst = fmax(worst, fabs(eigv[j] - ref[j]));
    ovsum += ov[j];
    ray += eigv[j] * ov[j];
  }
  for (int64_t g = 0; g < N; ++g) vv += V[g] * V[g];
  CHECK(rc == 0 && worst <= 1e-12 * top,
        "pdsyevd eigenvalues vs LAPACK dsyevd: max diff %.3g", worst);
  CHECK(fabs(ovsum - 1.0) <= 1e-12 && fabs(ray - quad / vv) <= 1e-10 * top,
        "eigenvector overlaps with V sum to %.15g, sum lambda_j overlap_j = "
        "%.12g vs V^T H V / ||V||^2 = %.12g", ovsum, ray, quad / vv);

  if (nranks > 1) {
    /* the same matrix on rank 0 alone, from all samples: same bits */
    par_comm *solo = par_split(team, me == 0 ? 0 : 1, me);
    double same = 1.0;
    if (me == 0) {
      check_cell g;
      check_cell_make(&g, params(8, 5, 1.0, 700, 64, 2), 0, 1);
      hessian *h1 = hessian_create(solo, N, 4);
      hessian_assemble_samples(h1, &g.m, g.ds, g.W);
      double *H1 = malloc((size_t)(N * N) * sizeof(double));
      hessian_gather(h1, H1);
      const double quad1 = hessian_quad(h1, V);
      double *eig1 = malloc((size_t)N * sizeof(double));
      hessian_eigen(h1, eig1, NULL, NULL, &err);
      double d1 = 0.0;
      for (int64_t j = 0; j < N; ++j) d1 = fmax(d1, fabs(eig1[j] - eig[j]));
      CHECK(memcmp(H1, H, (size_t)(N * N) * sizeof(double)) == 0,
            "%d ranks: the assembled matrix has the bits of 1 rank's", nranks);
      CHECK(quad1 == quad, "%d ranks: V^T H V has the bits of 1 rank's", nranks);
      CHECK(d1 <= 1e-12 * top,
            "%d ranks: eigenvalues within %.3g of 1 rank's (1e-12 relative)",
            nranks, d1);
      same = d1;
      free(H1);
      free(eig1);
      hessian_destroy(&h1);
      check_cell_free(&g);
    }
    (void)same;
    par_comm_free(&solo);
  }
  free(H);
  free(ref);
  free(eig);
  free(eigv);
  free(ov);
  free(q);
  free(coef);
  free(V);
  hessian_destroy(&h);
  check_cell_free(&f);
}

/* the population Hessian: against finite differences of the population
 * gradient, and the empirical Hessian approaches it as n grows */
static void test_population(const par_comm *team) {
  check_cell f;
  check_cell_make(&f, params(4, 3, 1.3, 100, 64, 3), me, nranks);
  const int64_t N = f.N;
  hessian *h = hessian_create(team, N, 2);
  hessian_assemble_population(h, &f.m, &f.t, f.W);
  double *Hp = malloc((size_t)(N * N) * sizeof(double));
  hessian_gather(h, Hp);
  double *Wp = malloc((size_t)N * sizeof(double)), *gp = malloc((size_t)N * sizeof(double));
  double *gm = malloc((size_t)N * sizeof(double));
  double worst = 0.0;
  const double eps = 1e-5;
  for (int64_t c = 0; c < N; ++c) {
    memcpy(Wp, f.W, (size_t)N * sizeof(double));
    Wp[c] += eps;
    metrics_pop_grad(&f.m, &f.t, Wp, gp);
    Wp[c] -= 2.0 * eps;
    metrics_pop_grad(&f.m, &f.t, Wp, gm);
    for (int64_t r = 0; r < N; ++r)
      worst = fmax(worst, fabs((gp[r] - gm[r]) / (2.0 * eps) - Hp[r * N + c]));
  }
  const double scale = max_abs(Hp, N * N);
  CHECK(worst <= 1e-7 * scale,
        "population Hessian vs finite differences of the population gradient: "
        "%.3g (max %.3g)", worst, scale);
  /* at W = 0: H = -4 C s (||w*||^2 I + 2 w* w*^T) on each neuron's block:
   * eigenvalues -4Cs ((d-1)K times) and -12Cs (K times), ||w*|| = 1 */
  double *W0 = calloc((size_t)N, sizeof(double)), *eig0 = malloc((size_t)N * sizeof(double));
  hessian_assemble_population(h, &f.m, &f.t, W0);
  tsim_error err = {0};
  hessian_eigen(h, eig0, NULL, NULL, &err);
  const double cs = f.m.C * f.m.loss_scale;
  int low = 0, rest = 0;
  for (int64_t j = 0; j < N; ++j) {
    if (fabs(eig0[j] + 12.0 * cs) <= 1e-13) ++low;
    if (fabs(eig0[j] + 4.0 * cs) <= 1e-13) ++rest;
  }
  CHECK(low == f.p.K && rest == (f.p.d - 1) * f.p.K,
        "population Hessian at W = 0: %d eigenvalues -12Cs, %d -4Cs", low, rest);
  free(W0);
  free(eig0);
  double err_n[2];
  const int64_t ns[2] = {2000, 128000};
  double *He = malloc((size_t)(N * N) * sizeof(double));
  for (int i = 0; i < 2; ++i) {
    check_cell g;
    check_cell_make(&g, params(4, 3, 1.3, ns[i], 2048, 3), me, nranks);
    hessian_assemble_samples(h, &g.m, g.ds, f.W);
    hessian_gather(h, He);
    double e2 = 0.0, p2 = 0.0;
    for (int64_t j = 0; j < N * N; ++j) {
      e2 += (He[j] - Hp[j]) * (He[j] - Hp[j]);
      p2 += Hp[j] * Hp[j];
    }
    err_n[i] = sqrt(e2 / p2);
    check_cell_free(&g);
  }
  /* sampling error ~ 1/sqrt(n): 64x the samples, about 8x smaller */
  CHECK(err_n[1] < err_n[0] / 3.0 && err_n[1] < 0.05,
        "empirical -> population Hessian: relative error %.4f at n = 2000, "
        "%.4f at n = 128000", err_n[0], err_n[1]);
  free(He);
  free(Hp);
  free(Wp);
  free(gp);
  free(gm);
  hessian_destroy(&h);
  check_cell_free(&f);
}

/* At W = w* q^T (C = 1, ||q|| = 1) the loss depends on W only through
 * W W^T = w* w*^T and every residual is zero, so H is the Gauss-Newton term
 * with vec(V)^T H vec(V) = 8 C^2 s mean (x^T w* (V q)^T x)^2: zero iff
 * sym(w* (Vq)^T) = 0, i.e. V q = 0 (for n >= d(d+1)/2 generic samples).
 * So the null space is {V : V q = 0}, of dimension d K - d = d (K - 1):
 * K - 1 directions W Omega from rotating the students among themselves
 * (Omega antisymmetric: W Omega = w* (Omega^T q)^T, Omega^T q ranging over
 * q's complement) and (d - 1)(K - 1) directions c p^T (c ⊥ w*, p ⊥ q) that
 * are flat to second order only (the loss grows as the fourth power).
 * The other d eigenvalues are positive. */
static void test_zero_modes(const par_comm *team) {
  const int64_t d = 5, K = 3, N = d * K;
  double q[3] = {2.0, -1.0, 2.0};
  for (int k = 0; k < 3; ++k) q[k] /= 3.0;
  for (int pass = 0; pass < 2; ++pass) {
    check_cell f;
    check_cell_make(&f, params(d, K, 1.0, 400, 64, 4), me, nranks);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t a = 0; a < d; ++a) f.W[k * d + a] = f.t.w[a] * q[k];
    hessian *h = hessian_create(team, N, 2);
    if (pass == 0)
      hessian_assemble_population(h, &f.m, &f.t, f.W);
    else
      hessian_assemble_samples(h, &f.m, f.ds, f.W);
    double eig[15];
    tsim_error err = {0};
    hessian_eigen(h, eig, NULL, NULL, &err);
    const double top = eig[N - 1];
    int zero = 0, positive = 0;
    for (int64_t j = 0; j < N; ++j) {
      if (fabs(eig[j]) <= 1e-10 * top) ++zero;
      else if (eig[j] > 0.0) ++positive;
    }
    CHECK(zero == d * (K - 1) && positive == d,
          "%s Hessian at W = w* q^T (d = 5, K = 3): %d zero eigenvalues "
          "(expected d(K-1) = 10), %d positive (expected d = 5); smallest "
          "non-zero %.4g", pass ? "empirical (n = 400)" : "population", zero,
          positive, eig[d * (K - 1)]);
    hessian_destroy(&h);
    check_cell_free(&f);
  }
}

int main(int argc, char **argv) {
  check_suite = "hessian";
  par_init(&argc, &argv);
  const par_comm *world = par_world();
  me = par_rank(world);
  nranks = par_size(world);
  if (me != 0) { /* one report: rank 0's */
    if (!freopen("/dev/null", "w", stdout)) return 1;
  }
  test_fixsum();
  test_finite_difference(world);
  test_spectrum(world);
  test_population(world);
  test_zero_modes(world);
  test_relu_abs();
  test_population_kinks(world);
  test_population_teachers(world);
  test_moments(world);
  test_smooth(world);
  test_train_output(world);
  test_population_erf(world);
  const int64_t failed = par_max_int64(world, check_failed);
  par_finalize();
  if (me == 0 && failed && !check_failed) printf("FAIL hessian: a check failed on another rank\n");
  return me == 0 ? check_summary() || failed != 0 : failed != 0;
}
