/* test_flow.c - the Dormand-Prince integrator against closed forms: the
 * K = 1 quadratic population flow along e1 is the logistic equation
 * x' = 6 x (1 - x) for x = a^2 (s = 1/4, C = 1: L = 3/4 (a^2 - 1)^2), and
 * a linear flow; errors within the tolerance, fewer steps for looser ones. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tsim/data.h"
#include "tsim/schedule.h"
#include "tsim/flow.h"
#include "tsim/population.h"

static double pop_grad(void *ctx, const double *W, double *g) {
  return population_loss((population *)ctx, W, g);
}

/* L = 1/2 sum_i lambda_i w_i^2: w_i(t) = w_i(0) exp(-lambda_i t) */
static double quad_grad(void *ctx, const double *W, double *g) {
  (void)ctx;
  double L = 0;
  for (int i = 0; i < 3; ++i) {
    const double lam = (double)(i + 1);
    g[i] = lam * W[i];
    L += 0.5 * lam * W[i] * W[i];
  }
  return L;
}

int main(void) {
  check_suite = "flow";
  tsim_params p;
  memset(&p, 0, sizeof p);
  p.activation = ACT_QUADRATIC;
  p.d = 3;
  p.K = 1;
  p.C = 1.0;
  p.loss_scale = 0.25;
  p.teacher_norm = 1.0;
  p.teacher_neurons = 1;
  tsim_model m;
  tsim_teacher t;
  tsim_error err;
  model_from_params(&p, &m);
  teacher_make(&p, &t, &err);
  population *pop = population_create(&m, &t, 0.0);
  const double rtols[2] = {1e-6, 1e-10};
  int64_t steps[2];
  for (int r = 0; r < 2; ++r) {
    const double a0 = 0.01, x0 = a0 * a0;
    double W[3] = {a0, 0, 0}, worst = 0, tt = 0;
    flow_stats st = {0};
    const double times[] = {0.5, 1, 2, 3, 5, 10};
    for (int i = 0; i < 6; ++i) {
      flow_integrate(pop_grad, pop, 3, W, tt, times[i], rtols[r], 1e-14, &st);
      tt = times[i];
      const double x = 1.0 / (1.0 + (1.0 / x0 - 1.0) * exp(-6.0 * tt));
      worst = fmax(worst, fabs(W[0] * W[0] - x) / x);
    }
    steps[r] = st.accepted;
    CHECK(worst < 100 * rtols[r] && W[1] == 0 && W[2] == 0,
          "logistic flow a^2(t), rtol %g: max rel err %.2e over t <= 10 (%lld steps, %lld rejected)",
          rtols[r], worst, (long long)st.accepted, (long long)st.rejected);
  }
  CHECK(steps[1] > steps[0], "tighter tolerance takes more steps (%lld > %lld)",
        (long long)steps[1], (long long)steps[0]);
  {
    double W[3] = {1, 1, 1};
    flow_stats st = {0};
    flow_integrate(quad_grad, NULL, 3, W, 0, 4, 1e-11, 1e-14, &st);
    double worst = 0;
    for (int i = 0; i < 3; ++i)
      worst = fmax(worst, fabs(W[i] / exp(-(i + 1) * 4.0) - 1));
    CHECK(worst < 1e-8, "linear flow exp(-lambda t): max rel err %.2e", worst);
  }
  /* the logged times: 0, then P log-spaced points on [1, T] */
  {
    tsim_params q = p;
    q.T = 1e5;
    q.log_points = 6;
    int last = 0;
    double ts[7];
    for (int j = 0; j < 7; ++j) ts[j] = schedule_flow_time(&q, j, &last);
    CHECK(ts[0] == 0 && ts[1] == 1 && fabs(ts[2] - 10) < 1e-12 &&
              ts[6] == 1e5 && last,
          "flow times: %g %g %g ... %g (last %d)", ts[0], ts[1], ts[2], ts[6], last);
  }
  population_destroy(&pop);
  teacher_free(&t);
  return check_summary();
}
