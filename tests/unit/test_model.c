/* test_model.c - the quadratic model against finite differences, closed
 * forms against brute force, population against empirical. Runs on one process (no MPI needed: a NULL communicator). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tsim/data.h"
#include "tsim/metrics.h"
#include "tsim/model.h"
#include "tsim/rng.h"

static tsim_params params(int64_t d, int64_t K, double C, int64_t n,
                          uint64_t seed) {
  return check_params(d, K, C, n, 64, seed);
}


static double loss_at(check_cell *f, const double *W) {
  model_eval ev = {0};
  model_evaluate(&f->m, f->ds, W, NULL, NULL, f->work, &ev);
  return ev.loss;
}

int main(void) {
  check_suite = "model";
  /* gradient (5) against central differences, several (d, K, C) */
  const int64_t dims[][2] = {{3, 1}, {5, 3}, {10, 10}, {4, 2}};
  const double cs[] = {1.0, 2.0, 0.5, 8.0};
  for (int c = 0; c < 4; ++c) {
    check_cell f;
    check_cell_make(&f, params(dims[c][0], dims[c][1], cs[c], 300, 11 + (uint64_t)c), 0, 1);
    const int64_t Kd = f.p.K * f.p.d;
    double *g = calloc((size_t)Kd, sizeof(double));
    double *Wp = malloc((size_t)Kd * sizeof(double));
    model_eval ev = {.grad = g};
    model_evaluate(&f.m, f.ds, f.W, NULL, NULL, f.work, &ev);
    double worst = 0.0;
    for (int64_t e = 0; e < Kd; ++e) {
      const double h = 1e-5;
      memcpy(Wp, f.W, (size_t)Kd * sizeof(double));
      Wp[e] += h;
      const double up = loss_at(&f, Wp);
      Wp[e] -= 2 * h;
      const double down = loss_at(&f, Wp);
      const double fd = (up - down) / (2 * h);
      const double rel = fabs(fd - g[e]) / fmax(fabs(g[e]), 1e-3);
      if (rel > worst) worst = rel;
    }
    CHECK(worst < 1e-6, "gradient vs central differences d=%lld K=%lld C=%g: max rel err %.2e",
          (long long)f.p.d, (long long)f.p.K, f.p.C, worst);
    /* quantity (9): the Hessian form along V = a q^T - W against a second
     * difference of f along V */
    double *q = calloc((size_t)f.p.K, sizeof(double));
    double *V = malloc((size_t)Kd * sizeof(double));
    metrics_dist(&f.m, &f.t, f.W, q);
    double *coef = calloc((size_t)f.p.K, sizeof(double));
    const model_direction dir = metrics_direction(&f.m, &f.t, f.W, q, V, coef);
    model_eval hv = {0};
    model_evaluate(&f.m, f.ds, f.W, &dir, NULL, f.work, &hv);
    const double h = 1e-4;
    for (int64_t e = 0; e < Kd; ++e) Wp[e] = f.W[e] + h * V[e];
    const double fp = loss_at(&f, Wp);
    for (int64_t e = 0; e < Kd; ++e) Wp[e] = f.W[e] - h * V[e];
    const double fm = loss_at(&f, Wp);
    const double second = (fp - 2 * loss_at(&f, f.W) + fm) / (h * h);
    CHECK(fabs(second - hv.hess_quad) <= 1e-5 * fmax(1.0, fabs(second)),
          "quantity (9) vs second difference d=%lld K=%lld C=%g: %.9g vs %.9g",
          (long long)f.p.d, (long long)f.p.K, f.p.C, hv.hess_quad, second);
    free(q);
    free(coef);
    free(V);
    free(g);
    free(Wp);
    check_cell_free(&f);
  }
  /* population gradient against differences of the population loss */
  {
    check_cell f;
    check_cell_make(&f, params(6, 4, 2.0, 10, 3), 0, 1);
    const int64_t Kd = 24;
    double g[24], Wp[24], worst = 0;
    metrics_pop_grad(&f.m, &f.t, f.W, g);
    for (int64_t e = 0; e < Kd; ++e) {
      memcpy(Wp, f.W, sizeof Wp);
      Wp[e] += 1e-6;
      double up = metrics_pop_loss(&f.m, &f.t, Wp);
      Wp[e] -= 2e-6;
      double fd = (up - metrics_pop_loss(&f.m, &f.t, Wp)) / 2e-6;
      worst = fmax(worst, fabs(fd - g[e]) / fmax(fabs(g[e]), 1e-3));
    }
    CHECK(worst < 1e-6, "population gradient vs differences: max rel err %.2e", worst);
    /* (6) for s = 1/4, C = 1 */
    f.m.C = 1.0;
    metrics_pop_grad(&f.m, &f.t, f.W, g);
    double ref[24], worst6 = 0;
    for (int k = 0; k < 4; ++k) {
      const double *wk = f.W + k * 6;
      double nk = 0, ws = 0;
      for (int j = 0; j < 6; ++j) nk += wk[j] * wk[j], ws += wk[j] * f.t.w[j];
      for (int j = 0; j < 6; ++j) ref[k * 6 + j] = (3 * nk - 1) * wk[j] - 2 * ws * f.t.w[j];
      for (int o = 0; o < 4; ++o) {
        if (o == k) continue;
        const double *wo = f.W + o * 6;
        double g_ok = 0, no = 0;
        for (int j = 0; j < 6; ++j) g_ok += wo[j] * wk[j], no += wo[j] * wo[j];
        for (int j = 0; j < 6; ++j) ref[k * 6 + j] += 2 * g_ok * wo[j] + no * wk[j];
      }
    }
    for (int e = 0; e < 24; ++e) worst6 = fmax(worst6, fabs(ref[e] - g[e]));
    CHECK(worst6 < 1e-13, "population gradient equals eq. (6): max err %.2e", worst6);
    check_cell_free(&f);
  }
  /* empirical -> population as n grows: error ~ n^-1/2 (mean over 6 seeds) */
  {
    const int64_t ns[3] = {1000, 10000, 100000};
    double err_loss[3] = {0}, err_grad[3] = {0};
    for (int i = 0; i < 3; ++i) {
      for (uint64_t seed = 0; seed < 6; ++seed) {
        check_cell f;
        tsim_params p = params(5, 3, 1.0, ns[i], 50 + seed);
        p.chunk = 4096;
        check_cell_make(&f, p, 0, 1);
        double g[15], gp[15];
        model_eval ev = {.grad = g};
        model_evaluate(&f.m, f.ds, f.W, NULL, NULL, f.work, &ev);
        metrics_pop_grad(&f.m, &f.t, f.W, gp);
        const double pl = metrics_pop_loss(&f.m, &f.t, f.W);
        double gd = 0, gn = 0;
        for (int e = 0; e < 15; ++e) gd += (g[e] - gp[e]) * (g[e] - gp[e]), gn += gp[e] * gp[e];
        err_loss[i] += fabs(ev.loss - pl) / pl / 6;
        err_grad[i] += sqrt(gd / gn) / 6;
        check_cell_free(&f);
      }
    }
    const double r1 = err_loss[0] / err_loss[2], r2 = err_grad[0] / err_grad[2];
    CHECK(r1 > 4 && r1 < 25 && r2 > 4 && r2 < 25,
          "population vs empirical: loss err %.3g %.3g %.3g, grad err %.3g %.3g %.3g "
          "(n = 1e3, 1e4, 1e5; ratio over 100x n = %.1f, %.1f; n^-1/2 gives 10)",
          err_loss[0], err_loss[1], err_loss[2], err_grad[0], err_grad[1],
          err_grad[2], r1, r2);
  }
  /* dist: closed form against brute force over unit q (K = 2 by angle,
   * K = 3 by a fine random search), with C = 1 and C = 4 */
  for (int c = 0; c < 2; ++c) {
    check_cell f;
    check_cell_make(&f, params(4, 2, c ? 4.0 : 1.0, 10, 9), 0, 1);
    double q[3];
    const double closed = metrics_dist(&f.m, &f.t, f.W, q);
    const double a = 1.0 / sqrt(f.m.C);
    double best = INFINITY;
    for (int i = 0; i < 200000; ++i) {
      const double th = 2 * M_PI * i / 200000.0, qq[2] = {cos(th), sin(th)};
      double s = 0;
      for (int k = 0; k < 2; ++k)
        for (int j = 0; j < 4; ++j) {
          double e = f.W[k * 4 + j] - a * f.t.w[j] * qq[k];
          s += e * e;
        }
      best = fmin(best, sqrt(s));
    }
    CHECK(closed <= best + 1e-12 && best - closed < 1e-8,
          "dist K=2 C=%g: closed form %.12f, brute force %.12f", f.m.C, closed, best);
    check_cell_free(&f);
  }
  {
    check_cell f;
    check_cell_make(&f, params(5, 3, 1.0, 10, 21), 0, 1);
    double q[3];
    const double closed = metrics_dist(&f.m, &f.t, f.W, q);
    double best = INFINITY;
    for (int i = 0; i < 400000; ++i) {
      double qq[3], z[2], nn = 0;
      rng_normal_pair(8, 1, (uint64_t)i, 0, z);
      qq[0] = z[0], qq[1] = z[1];
      rng_normal_pair(8, 1, (uint64_t)i, 1, z);
      qq[2] = z[0];
      for (int k = 0; k < 3; ++k) nn += qq[k] * qq[k];
      double s = 0;
      for (int k = 0; k < 3; ++k)
        for (int j = 0; j < 5; ++j) {
          double e = f.W[k * 5 + j] - f.t.w[j] * qq[k] / sqrt(nn);
          s += e * e;
        }
      best = fmin(best, sqrt(s));
    }
    CHECK(closed <= best + 1e-12 && best - closed < 1e-3,
          "dist K=3: closed form %.9f, random search %.9f", closed, best);
    check_cell_free(&f);
  }
  /* eq. (8): A + B is the next population-GD parallel part */
  {
    check_cell f;
    check_cell_make(&f, params(6, 3, 2.0, 10, 4), 0, 1);
    double g[18];
    neuron_stats ns[3];
    const double eta = 0.01;
    metrics_pop_grad(&f.m, &f.t, f.W, g);
    metrics_neurons(&f.m, &f.t, f.W, eta, ns);
    double worst = 0, worst_perp = 0;
    for (int k = 0; k < 3; ++k) {
      double next_par = 0, next[6], perp2 = 0;
      for (int j = 0; j < 6; ++j) next[j] = f.W[k * 6 + j] - eta * g[k * 6 + j];
      for (int j = 0; j < 6; ++j) next_par += next[j] * f.t.u[j];
      for (int j = 0; j < 6; ++j) {
        double pj = next[j] - next_par * f.t.u[j];
        perp2 += pj * pj;
      }
      worst = fmax(worst, fabs(ns[k].comp_A + ns[k].comp_B - next_par));
      /* |C - D| <= ||perp_{t+1}|| <= C + D (triangle inequality) */
      const double pn = sqrt(perp2);
      if (pn > ns[k].comp_C + ns[k].comp_D + 1e-14 ||
          pn < fabs(ns[k].comp_C - ns[k].comp_D) - 1e-14)
        worst_perp = 1;
    }
    CHECK(worst < 1e-14, "eq. (8): A + B equals the next parallel part (err %.1e)", worst);
    CHECK(worst_perp == 0, "eq. (8): the next perpendicular norm lies within C -+ D");
    check_cell_free(&f);
  }
  return check_summary();
}
