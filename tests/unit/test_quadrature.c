/* test_quadrature.c - the Gauss-Hermite kernel and population loss
 * (quadrature.h): kernel entries of the smooth activations against 4x the
 * node count, against the closed forms where they exist (erf, linear,
 * quadratic, relu x quadratic), the loss against population.c's closed
 * forms and against Monte Carlo at n = 1e7, and the gradient against
 * differences of the loss. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tsim/activation.h"
#include "tsim/population.h"
#include "tsim/quadrature.h"
#include "tsim/rng.h"

#define PI 3.14159265358979323846

static const int smooth[5] = {ACT_TANH, ACT_SIGMOID, ACT_SOFTPLUS, ACT_GELU, ACT_ERF};

/* entries at |u|, |w| <= 3, angles 0 and pi included: within 1e-12 of 4n nodes */
static void test_convergence(void) {
  const double norms[4][2] = {{0.3, 1.0}, {1.0, 1.0}, {2.0, 0.5}, {3.0, 3.0}};
  const double angles[4] = {0.0, 0.7, 2.5, PI};
  for (int ai = 0; ai < 5; ++ai) {
    const int g = smooth[ai], h = smooth[(ai + 1) % 5];
    double worst = 0.0, worst_same = 0.0;
    int nmax = 0;
    for (int q = 0; q < 4; ++q)
      for (int t = 0; t < 4; ++t) {
        const double a = norms[q][0], b = norms[q][1];
        const int n = quadrature_nodes(g, g, fmax(a, b));
        const int n2 = quadrature_nodes(g, h, fmax(a, b));
        nmax = n > nmax ? n : nmax;
        const double k = quadrature_kernel(g, g, a, b, angles[t], n);
        const double ref = quadrature_kernel(g, g, a, b, angles[t], 4 * n);
        worst_same = fmax(worst_same, fabs(k - ref) / fabs(ref));
        const double k2 = quadrature_kernel(g, h, a, b, angles[t], n2);
        const double ref2 = quadrature_kernel(g, h, a, b, angles[t], 4 * n2);
        worst = fmax(worst, fabs(k2 - ref2) / fabs(ref2));
      }
    CHECK(worst_same <= 1e-12 && worst <= 1e-12,
          "%s: E act(u.x) act(w.x) within %.1e of 4x the nodes (with %s: %.1e), |u|, |w| "
          "<= 3, t in {0, 0.7, 2.5, pi}, up to %d nodes", activation_info(g)->name, worst_same,
          activation_info(h)->name, worst, nmax);
  }
  /* a kinked activation (outside, by the Laguerre rule) with a smooth one,
   * |u|, |w| = 1 and 3 */
  for (int gi = 0; gi < 2; ++gi) {
    const int g = gi ? ACT_ABS : ACT_RELU;
    double worst = 0.0;
    for (int ai = 0; ai < 5; ++ai)
      for (int q = 1; q < 4; q += 2)
        for (int t = 0; t < 4; ++t) {
          const double a = norms[q][0], b = norms[q][1];
          const int n = quadrature_nodes(g, smooth[ai], fmax(a, b));
          const double k = quadrature_kernel(smooth[ai], g, a, b, angles[t], n);
          const double ref = quadrature_kernel(smooth[ai], g, a, b, angles[t], 4 * n);
          worst = fmax(worst, fabs(k - ref) / fabs(ref));
        }
    CHECK(worst <= 1e-12, "%s with each smooth activation: within %.1e of 4x the nodes",
          activation_info(g)->name, worst);
  }
}

/* against the closed forms of population.h, and E (u.x)^2 relu(w.x) =
 * |u|^2 |w| (1 + cos^2 t) / sqrt(2 pi) (relu inside, quadratic outside) */
static double closed(int act, double a, double b, double t) {
  const double g = a * b * cos(t);
  switch (act) {
    case ACT_LINEAR: return g;
    case ACT_QUADRATIC: return a * a * b * b + 2.0 * g * g;
    case ACT_ERF: return 2.0 / PI * asin(g / sqrt((1.0 + a * a) * (1.0 + b * b)));
    case ACT_RELU: return a * a * b * (1.0 + cos(t) * cos(t)) / sqrt(2.0 * PI);
    default: return NAN;
  }
}

static void test_closed_forms(void) {
  const int acts[4] = {ACT_LINEAR, ACT_QUADRATIC, ACT_ERF, ACT_RELU};
  for (int ai = 0; ai < 4; ++ai) {
    const int g = acts[ai] == ACT_RELU ? ACT_QUADRATIC : acts[ai];
    double worst = 0.0;
    for (double a = 0.5; a <= 3.0; a += 1.25)
      for (double t = 0.0; t <= PI; t += PI / 8.0) {
        const double b = 3.5 - a;
        const double k =
            quadrature_kernel(g, acts[ai], a, b, t, quadrature_nodes(g, acts[ai], 3.0));
        /* relative to the Cauchy-Schwarz bound (the value at t = 0: k may be 0) */
        worst = fmax(worst, fabs(k - closed(acts[ai], a, b, t)) / fabs(closed(acts[ai], a, b, 0)));
      }
    CHECK(worst <= 1e-14, "%s x %s: quadrature = the closed form within %.1e of k at t = 0",
          activation_info(g)->name, activation_info(acts[ai])->name, worst);
  }
}

/* a 2-neuron student, a 1- or 2-neuron teacher in d = 3 */
static const double Wt[6] = {0.9, -0.4, 0.3, -0.2, 1.1, 0.5};
static const double Vt[6] = {1.2, 0.0, 0.0, 0.0, 0.6, -0.8};

static double loss_of(int sa, int ta, int64_t m, const double *W, double *ey2) {
  tsim_model md = {.activation = sa, .d = 3, .K = 2, .C = 0.8, .loss_scale = 0.5};
  tsim_teacher t = {.d = 3, .m = m, .activation = ta, .coef = 1.0, .V = (double *)Vt};
  tsim_model zero = md;
  zero.C = 0.0; /* f = 0: the loss is s E y^2 */
  if (ey2) *ey2 = quadrature_loss(&zero, &t, 0.0, W, NULL) / md.loss_scale;
  return quadrature_loss(&md, &t, 0.0, W, NULL);
}

static void test_loss_closed(void) {
  const int acts[3] = {ACT_LINEAR, ACT_QUADRATIC, ACT_ERF};
  for (int ai = 0; ai < 3; ++ai) {
    tsim_model md = {.activation = acts[ai], .d = 3, .K = 2, .C = 0.8, .loss_scale = 0.5};
    tsim_teacher t = {.d = 3, .m = 2, .activation = acts[ai], .coef = 1.0, .V = (double *)Vt};
    population *pop = population_create(&md, &t, 0.0);
    double ey2 = 0.0;
    const double q = loss_of(acts[ai], acts[ai], 2, Wt, &ey2);
    const double c = population_loss(pop, Wt, NULL);
    CHECK(fabs(q - c) <= 1e-14 * ey2 * md.loss_scale,
          "%s: quadrature loss %.17g = closed form %.17g within %.1e s E y^2 (1e-14)",
          activation_info(acts[ai])->name, q, c, fabs(q - c) / (ey2 * md.loss_scale));
    population_destroy(&pop);
  }
}

/* The gradient (Stein's lemma) against central differences of the loss,
 * each smooth activation, with and without the norm tie; for erf also
 * against population.c's arcsine closed form */
static void test_gradient(void) {
  for (int ai = 0; ai < 5; ++ai)
    for (int tied = 0; tied < 2; ++tied) {
      tsim_model md = {.activation = smooth[ai], .d = 3, .K = 2, .C = 0.8, .loss_scale = 0.5,
                       .norm_tied = tied};
      tsim_teacher t = {.d = 3, .m = 2, .activation = smooth[ai], .coef = 1.0,
                        .V = (double *)Vt};
      double G[6], Wp[6], worst = 0.0, gmax = 0.0;
      const double L = quadrature_loss_grad(&md, &t, 0.1, Wt, G);
      const double h = 1e-5;
      for (int e = 0; e < 6; ++e) {
        memcpy(Wp, Wt, sizeof Wp);
        Wp[e] += h;
        const double lp = quadrature_loss_grad(&md, &t, 0.1, Wp, NULL);
        Wp[e] -= 2.0 * h;
        const double lm = quadrature_loss_grad(&md, &t, 0.1, Wp, NULL);
        worst = fmax(worst, fabs((lp - lm) / (2.0 * h) - G[e]));
        gmax = fmax(gmax, fabs(G[e]));
      }
      CHECK(worst <= 1e-8 * gmax && L == quadrature_loss(&md, &t, 0.1, Wt, NULL),
            "%s%s: population gradient vs central differences of the loss: %.1e of max |g|",
            activation_info(smooth[ai])->name, tied ? " (norm tie)" : "", worst / gmax);
      if (smooth[ai] != ACT_ERF) continue;
      population *pop = population_create(&md, &t, 0.1);
      double Gc[6], dg = 0.0;
      const double Lc = population_loss(pop, Wt, Gc);
      for (int e = 0; e < 6; ++e) dg = fmax(dg, fabs(Gc[e] - G[e]));
      CHECK(dg <= 1e-13 * gmax && fabs(Lc - L) <= 1e-14 * Lc,
            "erf%s: quadrature loss and gradient = the arcsine closed form (%.1e of max |g|)",
            tied ? " (norm tie)" : "", dg / gmax);
      population_destroy(&pop);
    }
}

/* Trained output weights a_k (after the K d weights) and a teacher's output
 * weights (teacher.a_file): the gradient over all K d + K parameters against
 * central differences, each smooth activation; erf also against
 * population.c's arcsine closed form */
static void test_gradient_output(void) {
  static const double Wa[8] = {0.9, -0.4, 0.3, -0.2, 1.1, 0.5, 1.3, -0.6};
  double ta[2] = {1.5, -0.7};
  for (int ai = 0; ai < 5; ++ai) {
    tsim_model md = {.activation = smooth[ai], .d = 3, .K = 2, .C = 0.8, .loss_scale = 0.5,
                     .train_output = 1};
    tsim_teacher t = {.d = 3, .m = 2, .activation = smooth[ai], .coef = 1.0,
                      .V = (double *)Vt, .a = ta};
    double G[8], Wp[8], worst = 0.0, gmax = 0.0;
    quadrature_loss_grad(&md, &t, 0.1, Wa, G);
    const double h = 1e-5;
    for (int e = 0; e < 8; ++e) {
      memcpy(Wp, Wa, sizeof Wp);
      Wp[e] += h;
      const double lp = quadrature_loss_grad(&md, &t, 0.1, Wp, NULL);
      Wp[e] -= 2.0 * h;
      const double lm = quadrature_loss_grad(&md, &t, 0.1, Wp, NULL);
      worst = fmax(worst, fabs((lp - lm) / (2.0 * h) - G[e]));
      gmax = fmax(gmax, fabs(G[e]));
    }
    CHECK(worst <= 1e-8 * gmax,
          "%s, trained output weights and teacher output weights: gradient (K d + K entries) "
          "vs central differences: %.1e of max |g|", activation_info(smooth[ai])->name,
          worst / gmax);
    if (smooth[ai] != ACT_ERF) continue;
    population *pop = population_create(&md, &t, 0.1);
    double Gc[8], dg = 0.0;
    population_loss(pop, Wa, Gc);
    for (int e = 0; e < 8; ++e) dg = fmax(dg, fabs(Gc[e] - G[e]));
    CHECK(dg <= 1e-13 * gmax, "erf, trained output weights: quadrature gradient = the arcsine "
          "closed form's (%.1e of max |g|)", dg / gmax);
    population_destroy(&pop);
  }
}

/* Monte Carlo at n = 1e7: within 3 standard errors, each smooth activation
 * as student and teacher, and two mixed pairs */
static double act_sum(int act, const double *Z, int64_t k, const double *x) {
  double f = 0.0;
  for (int64_t j = 0; j < k; ++j)
    f += activation_info(act)->value(Z[j * 3] * x[0] + Z[j * 3 + 1] * x[1] + Z[j * 3 + 2] * x[2]);
  return f;
}

static void test_monte_carlo(void) {
  const int64_t n = 10000000, rows = 4096;
  double *x = malloc((size_t)(rows * 4) * sizeof(double));
  const int pairs[7][2] = {{ACT_TANH, ACT_TANH},         {ACT_SIGMOID, ACT_SIGMOID},
                           {ACT_SOFTPLUS, ACT_SOFTPLUS}, {ACT_ERF, ACT_ERF},
                           {ACT_GELU, ACT_GELU},         {ACT_RELU, ACT_TANH},
                           {ACT_GELU, ACT_SIGMOID}};
  for (int a = 0; a < 7; ++a) {
    const int sa = pairs[a][0], ta = pairs[a][1];
    const double q = loss_of(sa, ta, 2, Wt, NULL);
    double s1 = 0.0, s2 = 0.0;
    for (int64_t i0 = 0; i0 < n; i0 += rows) {
      rng_normals_rows(17 + (uint64_t)a, 0, (uint64_t)i0, rows, 4, x);
      for (int64_t i = 0; i < rows; ++i) {
        const double *xi = x + i * 4;
        const double r = 0.8 * act_sum(sa, Wt, 2, xi) - act_sum(ta, Vt, 2, xi);
        const double l = 0.5 * r * r;
        s1 += l;
        s2 += l * l;
      }
    }
    const double mean = s1 / (double)n, se = sqrt((s2 / (double)n - mean * mean) / (double)n);
    CHECK(fabs(q - mean) <= 3.0 * se,
          "%s student, %s teacher: quadrature loss %.10g vs Monte Carlo (n = 1e7) %.10g: "
          "%.2f standard errors", activation_info(sa)->name, activation_info(ta)->name, q, mean,
          fabs(q - mean) / se);
  }
  free(x);
}

int main(void) {
  check_suite = "quadrature";
  test_convergence();
  test_closed_forms();
  test_loss_closed();
  test_gradient();
  test_gradient_output();
  test_monte_carlo();
  return check_summary();
}
