/* flow.c - Dormand-Prince 5(4) with step-size control (see flow.h). */
#include "tsim/flow.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/common.h"

/* Butcher tableau of DOPRI5 (Dormand & Prince 1980; Hairer et al. Table 5.2) */
/* (the nodes c_i are not needed: the flow does not depend on t) */
static const double a_[7][6] = {
    {0},
    {1.0 / 5},
    {3.0 / 40, 9.0 / 40},
    {44.0 / 45, -56.0 / 15, 32.0 / 9},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
    {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}};
/* fifth-order weights minus the embedded fourth-order ones */
static const double e_[7] = {71.0 / 57600,      0.0,         -71.0 / 16695,
                             71.0 / 1920,       -17253.0 / 339200,
                             22.0 / 525,        -1.0 / 40};

/* the right-hand side: -grad L */
static int rhs(flow_gradient grad, void *ctx, int64_t n, const double *W,
               double *k, flow_stats *st) {
  grad(ctx, W, k);
  ++st->evaluations;
  int finite = 1;
  for (int64_t i = 0; i < n; ++i) {
    k[i] = -k[i];
    finite = finite && isfinite(k[i]);
  }
  return finite;
}

/* RMS of V_i / (atol + rtol max(|a_i|, |b_i|)) */
static double scaled_norm(int64_t n, const double *v, const double *a,
                          const double *b, double rtol, double atol) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double sc = atol + rtol * fmax(fabs(a[i]), fabs(b[i]));
    const double q = v[i] / sc;
    s += q * q;
  }
  return sqrt(s / (double)(n > 0 ? n : 1));
}

int flow_integrate(flow_gradient grad, void *ctx, int64_t n, double *W,
                   double t0, double t1, double rtol, double atol,
                   flow_stats *st) {
  if (!(t1 > t0)) return 0;
  double *k[7], *y = tsim_xmalloc((size_t)n * sizeof(double));
  double *err = tsim_xmalloc((size_t)n * sizeof(double));
  for (int s = 0; s < 7; ++s) k[s] = tsim_xmalloc((size_t)n * sizeof(double));
  int rc = 0;
  if (!rhs(grad, ctx, n, W, k[0], st)) {
    rc = -1;
    goto done;
  }
  /* starting step (Hairer et al. II.4, "automatic step size control") */
  double h;
  {
    const double d0 = scaled_norm(n, W, W, W, rtol, atol);
    const double d1 = scaled_norm(n, k[0], W, W, rtol, atol);
    double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    h0 = fmin(h0, t1 - t0);
    for (int64_t i = 0; i < n; ++i) y[i] = W[i] + h0 * k[0][i];
    if (!rhs(grad, ctx, n, y, k[1], st)) {
      h = h0 * 1e-3;
    } else {
      for (int64_t i = 0; i < n; ++i) err[i] = k[1][i] - k[0][i];
      const double d2 = scaled_norm(n, err, W, W, rtol, atol) / h0;
      const double big = fmax(d1, d2);
      const double h1 = big <= 1e-15 ? fmax(1e-6, h0 * 1e-3) : pow(0.01 / big, 0.2);
      h = fmin(100.0 * h0, h1);
    }
  }
  double t = t0;
  int last_rejected = 0;
  while (t < t1) {
    if (h >= t1 - t || t + h >= t1) h = t1 - t;
    if (!(h > 1e-14 * fmax(fabs(t), 1.0))) {
      rc = -1; /* underflow: the flow blows up or the tolerances are too tight */
      break;
    }
    int finite = 1;
    for (int s = 1; s < 7 && finite; ++s) {
      for (int64_t i = 0; i < n; ++i) {
        double acc = 0.0;
        for (int r = 0; r < s; ++r) acc += a_[s][r] * k[r][i];
        y[i] = W[i] + h * acc;
      }
      finite = rhs(grad, ctx, n, y, k[s], st);
    }
    double e = INFINITY;
    if (finite) { /* y = W + h sum b_r k_r (stage 7 is the new point: FSAL) */
      for (int64_t i = 0; i < n; ++i) {
        double acc = 0.0;
        for (int r = 0; r < 7; ++r) acc += e_[r] * k[r][i];
        err[i] = h * acc;
      }
      e = scaled_norm(n, err, W, y, rtol, atol);
    }
    if (e <= 1.0) {
      t = (h == t1 - t) ? t1 : t + h;
      memcpy(W, y, (size_t)n * sizeof(double));
      double *tmp = k[0];
      k[0] = k[6];
      k[6] = tmp;
      ++st->accepted;
      double f = e == 0.0 ? 5.0 : fmin(5.0, fmax(0.2, 0.9 * pow(e, -0.2)));
      if (last_rejected) f = fmin(f, 1.0);
      h *= f;
      last_rejected = 0;
    } else {
      ++st->rejected;
      h *= isfinite(e) ? fmax(0.2, 0.9 * pow(e, -0.2)) : 0.2;
      last_rejected = 1;
    }
  }
done:
  for (int s = 0; s < 7; ++s) free(k[s]);
  free(y);
  free(err);
  return rc;
}
