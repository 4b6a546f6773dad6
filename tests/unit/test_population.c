/* test_population.c - the model family beyond the quadratic one: empirical
 * and population gradients against central differences (relu, abs,
 * quadratic, norm tie, several teachers), population against empirical as n
 * grows, small angles and the origin, and Zhou, Ge & Jin's Claim 2 limit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tsim/activation.h"
#include "tsim/data.h"
#include "tsim/metrics.h"
#include "tsim/model.h"
#include "tsim/population.h"
#include "tsim/rng.h"

/* the activations with a population closed form */
static const int acts[] = {ACT_QUADRATIC, ACT_RELU, ACT_ABS, ACT_LINEAR, ACT_ERF};

static tsim_params params(int act, int tied, int64_t d, int64_t K, int64_t m,
                          int64_t n, uint64_t seed) {
  tsim_params p = check_params(d, K, 1.0, n, 256, seed);
  p.activation = act;
  p.norm_tied = tied;
  p.loss_scale = 0.5;
  p.teacher_neurons = m;
  p.teacher_direction = m == 1 ? DIR_E1 : DIR_RANDOM;
  p.teacher_seed = seed + 7;
  p.init_method = INIT_GAUSSIAN;
  p.init_sigma = 0.7;
  return p;
}

/* max over entries of |fd - g| / max(|g|, 1e-3) for LOSS(W) with gradient G */
typedef double (*loss_fn)(void *ctx, const double *W);
static double fd_error(loss_fn f, void *ctx, const double *W, const double *g,
                       int64_t n, double h) {
  double *Wp = malloc((size_t)n * sizeof(double)), worst = 0.0;
  for (int64_t e = 0; e < n; ++e) {
    memcpy(Wp, W, (size_t)n * sizeof(double));
    Wp[e] += h;
    const double up = f(ctx, Wp);
    Wp[e] -= 2 * h;
    const double fd = (up - f(ctx, Wp)) / (2 * h);
    worst = fmax(worst, fabs(fd - g[e]) / fmax(fabs(g[e]), 1e-3));
  }
  free(Wp);
  return worst;
}

static double pop_at(void *ctx, const double *W) {
  return population_loss((population *)ctx, W, NULL);
}

typedef struct emp {
  tsim_model *m;
  tsim_dataset *ds;
  model_work *work;
} emp;
static double emp_at(void *ctx, const double *W) {
  emp *e = ctx;
  model_eval ev = {0};
  model_evaluate(e->m, e->ds, W, NULL, NULL, e->work, &ev);
  return ev.loss;
}

int main(void) {
  check_suite = "population";
  tsim_error err;
  /* gradients against central differences: every activation, with and
   * without the norm tie, one and three teachers */
  for (int ai = 0; ai < 5; ++ai)
    for (int tied = 0; tied < 2; ++tied)
      for (int m = 1; m <= 3; m += 2) {
        const int act = acts[ai];
        tsim_params p = params(act, tied, 5, 4, m, 400, (uint64_t)(act * 10 + tied * 3 + m));
        tsim_model mod;
        tsim_teacher t;
        model_from_params(&p, &mod);
        teacher_make(&p, &t, &err);
        const int64_t Kd = p.K * p.d;
        double *W = malloc((size_t)Kd * sizeof(double));
        double *g = malloc((size_t)Kd * sizeof(double));
        data_init_weights(&p, W, &err);
        population *pop = population_create(&mod, &t, 0.0);
        population_loss(pop, W, g);
        const double ep = fd_error(pop_at, pop, W, g, Kd, 1e-6);
        CHECK(ep < 1e-6, "population gradient vs differences: %s tied=%d m=%d: %.2e",
              activation_info(act)->name, tied, m, ep);
        tsim_dataset *ds = NULL;
        data_make(&p, &t, DATA_TRAIN, 0, 1, &ds, &err);
        emp e = {&mod, ds, model_work_create(&mod)};
        model_eval ev = {.grad = g};
        model_evaluate(&mod, ds, W, NULL, NULL, e.work, &ev);
        const double ee = fd_error(emp_at, &e, W, g, Kd, 1e-6);
        CHECK(ee < 1e-6, "empirical gradient vs differences: %s tied=%d m=%d: %.2e",
              activation_info(act)->name, tied, m, ee);
        model_work_destroy(&e.work);
        data_destroy(&ds);
        population_destroy(&pop);
        teacher_free(&t);
        free(W);
        free(g);
      }
  /* the quadratic closed form agrees with Wang & Abernethy's (one teacher)
   * and with 2||A||_F^2 + (tr A)^2 built from teacher_quadratic_matrix */
  {
    tsim_params p = params(ACT_QUADRATIC, 0, 4, 3, 1, 10, 5);
    p.loss_scale = 0.25;
    tsim_model mod;
    tsim_teacher t;
    model_from_params(&p, &mod);
    teacher_make(&p, &t, &err);
    double W[12], A[16];
    data_init_weights(&p, W, &err);
    population *pop = population_create(&mod, &t, 0.0);
    const double a = population_loss(pop, W, NULL), b = metrics_pop_loss(&mod, &t, W);
    CHECK(fabs(a - b) <= 1e-13 * b, "quadratic, one teacher: %.15g vs metrics %.15g", a, b);
    population_destroy(&pop);
    teacher_free(&t);
    p.teacher_neurons = 3;
    p.teacher_direction = DIR_RANDOM_ORTHONORMAL;
    teacher_make(&p, &t, &err);
    teacher_quadratic_matrix(&t, A);
    for (int k = 0; k < 3; ++k)
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) A[i * 4 + j] -= W[k * 4 + i] * W[k * 4 + j];
    double fro = 0, tr = 0;
    for (int i = 0; i < 16; ++i) fro += A[i] * A[i];
    for (int i = 0; i < 4; ++i) tr += A[i * 5];
    pop = population_create(&mod, &t, 0.0);
    const double c = population_loss(pop, W, NULL), ref = 0.25 * (2 * fro + tr * tr);
    CHECK(fabs(c - ref) <= 1e-13 * ref, "quadratic, 3 teachers: %.15g vs 2||A||^2 + tr^2: %.15g", c, ref);
    double ortho = 0;
    for (int l = 0; l < 3; ++l)
      for (int o = 0; o < 3; ++o) {
        double s = 0;
        for (int j = 0; j < 4; ++j) s += t.V[l * 4 + j] * t.V[o * 4 + j];
        ortho = fmax(ortho, fabs(s - (l == o)));
      }
    CHECK(ortho < 1e-14, "random orthonormal teachers: max |V V^T - I| = %.1e", ortho);
    population_destroy(&pop);
    teacher_free(&t);
  }
  /* the closed forms against Monte Carlo: loss_scale mean (f - y)^2 over
   * n = 1e6 fresh Gaussian x, act from the table; within 3 standard errors
   * (every activation with a closed form, 2 teachers, K = 3) */
  for (int ai = 0; ai < 5; ++ai) {
    const int act = acts[ai];
    tsim_params p = params(act, 0, 4, 3, 2, 10, 70 + (uint64_t)ai);
    tsim_model mod;
    tsim_teacher t;
    model_from_params(&p, &mod);
    teacher_make(&p, &t, &err);
    double W[12];
    data_init_weights(&p, W, &err);
    population *pop = population_create(&mod, &t, 0.0);
    const double pl = population_loss(pop, W, NULL);
    double (*f)(double) = activation_info(act)->value;
    const int64_t n = 1000000, blk = 10000;
    double *x = malloc((size_t)(blk * 4) * sizeof(double)), sum = 0, sum2 = 0;
    for (int64_t b = 0; b < n / blk; ++b) {
      rng_normals(900 + (uint64_t)ai, 1, (uint64_t)(b * blk * 4), blk * 4, x);
      for (int64_t i = 0; i < blk; ++i) {
        double r = 0;
        for (int k = 0; k < 3; ++k)
          r += mod.C * f(W[k * 4] * x[i * 4] + W[k * 4 + 1] * x[i * 4 + 1] +
                         W[k * 4 + 2] * x[i * 4 + 2] + W[k * 4 + 3] * x[i * 4 + 3]);
        for (int l = 0; l < 2; ++l) {
          const double *v = t.V + l * 4;
          r -= t.coef * f(v[0] * x[i * 4] + v[1] * x[i * 4 + 1] + v[2] * x[i * 4 + 2] +
                          v[3] * x[i * 4 + 3]);
        }
        const double term = mod.loss_scale * r * r;
        sum += term;
        sum2 += term * term;
      }
    }
    const double mean = sum / n, se = sqrt((sum2 / n - mean * mean) / n);
    CHECK(fabs(pl - mean) <= 3 * se, "%s: population loss %.8g, Monte Carlo (n = 1e6) %.8g "
          "+- %.2g (%.2f standard errors)", activation_info(act)->name, pl, mean, se,
          fabs(pl - mean) / se);
    free(x);
    population_destroy(&pop);
    teacher_free(&t);
  }
  /* population against empirical as n grows (relu and abs, 2 teachers,
   * mean over 12 seeds): error ~ n^-1/2 */
  for (int act = 1; act < 3; ++act) {
    const int64_t ns[3] = {1000, 10000, 100000};
    double el[3] = {0}, eg[3] = {0};
    for (int i = 0; i < 3; ++i)
      for (uint64_t seed = 0; seed < 12; ++seed) {
        tsim_params p = params(act, act == ACT_ABS, 4, 3, 2, ns[i], 40 + seed);
        p.chunk = 4096;
        tsim_model mod;
        tsim_teacher t;
        model_from_params(&p, &mod);
        teacher_make(&p, &t, &err);
        double W[12], g[12], gp[12];
        data_init_weights(&p, W, &err);
        tsim_dataset *ds = NULL;
        data_make(&p, &t, DATA_TRAIN, 0, 1, &ds, &err);
        model_work *work = model_work_create(&mod);
        model_eval ev = {.grad = g};
        model_evaluate(&mod, ds, W, NULL, NULL, work, &ev);
        population *pop = population_create(&mod, &t, 0.0);
        const double pl = population_loss(pop, W, gp);
        double gd = 0, gn = 0;
        for (int e = 0; e < 12; ++e) gd += (g[e] - gp[e]) * (g[e] - gp[e]), gn += gp[e] * gp[e];
        el[i] += fabs(ev.loss - pl) / pl / 12;
        eg[i] += sqrt(gd / gn) / 12;
        population_destroy(&pop);
        model_work_destroy(&work);
        data_destroy(&ds);
        teacher_free(&t);
      }
    const double r1 = el[0] / el[2], r2 = eg[0] / eg[2];
    CHECK(r1 > 3 && r1 < 33 && r2 > 3 && r2 < 33 && el[2] < 0.05,
          "%s population vs empirical: loss err %.3g %.3g %.3g, grad err %.3g %.3g %.3g "
          "(n = 1e3..1e5; ratios %.1f, %.1f; n^-1/2 gives 10)",
          activation_info(act)->name, el[0], el[1], el[2], eg[0], eg[1], eg[2], r1, r2);
  }
  /* Zhou, Ge & Jin Claim 2: abs, norm tie, one teacher, two students at
   * +-delta with norms 1/sqrt(2 cos delta): L / delta^3 -> 2 / (3 pi);
   * one student at angle delta: L / delta^2 -> 1/2 */
  {
    double r2 = 0, r1 = 0;
    const double delta = 1e-3;
    for (int K = 1; K <= 2; ++K) {
      tsim_params p = params(ACT_ABS, 1, 3, K, 1, 10, 1);
      p.init_method = INIT_CLAIM2;
      p.init_delta = delta;
      tsim_model mod;
      tsim_teacher t;
      model_from_params(&p, &mod);
      teacher_make(&p, &t, &err);
      double W[6];
      data_init_weights(&p, W, &err);
      population *pop = population_create(&mod, &t, 0.0);
      const double L = population_loss(pop, W, NULL);
      if (K == 2) r2 = L / (delta * delta * delta);
      else r1 = L / (delta * delta);
      population_destroy(&pop);
      teacher_free(&t);
    }
    const double target = 2.0 / (3.0 * M_PI);
    CHECK(fabs(r2 / target - 1) < 0.01, "Claim 2: L/delta^3 = %.6f at delta = 1e-3 (2/(3 pi) = %.6f)", r2, target);
    CHECK(fabs(r1 / 0.5 - 1) < 0.01, "one student: L/delta^2 = %.6f at delta = 1e-3 (1/2)", r1);
  }
  /* small angles and the origin: finite, and the angle accurate */
  {
    double u[3] = {1, 0, 0}, w[3] = {1, 1e-9, 0};
    const double a = activation_angle(u, w, 3);
    CHECK(fabs(a - 1e-9) < 1e-22, "angle at 1e-9 rad: %.17g", a);
    for (int act = 0; act < 3; ++act) {
      tsim_params p = params(act, act == ACT_ABS, 3, 2, 2, 10, 3);
      tsim_model mod;
      tsim_teacher t;
      model_from_params(&p, &mod);
      teacher_make(&p, &t, &err);
      double W[6] = {0, 0, 0, 1e-300, 0, 0}, g[6];
      population *pop = population_create(&mod, &t, 0.0);
      const double L = population_loss(pop, W, g);
      int finite = isfinite(L);
      for (int e = 0; e < 6; ++e) finite = finite && isfinite(g[e]);
      CHECK(finite && g[0] == 0 && g[1] == 0 && g[2] == 0,
            "%s: a student at the origin and one of norm 1e-300: finite, zero subgradient at 0",
            activation_info(act)->name);
      population_destroy(&pop);
      teacher_free(&t);
    }
  }
  return check_summary();
}
