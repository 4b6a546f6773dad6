/* schedule.c - logged iterations, flow times, spectra (see schedule.h). */
#include "tsim/schedule.h"

#include <math.h>

int schedule_log_due(const tsim_params *p, int64_t t) {
  if (t == 0) return 1;
  if (p->log_points <= 0) return t % p->log_every == 0;
  /* about P points t_i = round(T^(i/(P-1))), i = 0..P-1, on [1, T] */
  const int64_t T = p->iterations, P = p->log_points;
  if (T <= 1 || P <= 1) return t == T;
  const double step = log((double)T) / (double)(P - 1);
  const int64_t guess = llround(log((double)t) / step);
  for (int64_t i = guess - 1; i <= guess + 1; ++i)
    if (i >= 0 && i < P && llround(exp(step * (double)i)) == t) return 1;
  return 0;
}

int64_t schedule_log_rows(const tsim_params *p) {
  if (p->method == METHOD_FLOW) {
    const double T = p->T > 0.0 ? p->T : (double)p->iterations;
    if (p->log_points > 0) return p->log_points + 1;
    return (int64_t)ceil(T / (double)p->log_every) + 1;
  }
  const int64_t T = p->iterations;
  if (T == 0) return 1;
  if (p->log_points <= 0) return T / p->log_every + 1 + (T % p->log_every != 0);
  int64_t rows = 1, last = 0; /* t = 0, then the distinct points in [1, T] */
  if (T <= 1 || p->log_points <= 1) return 2;
  const double step = log((double)T) / (double)(p->log_points - 1);
  for (int64_t i = 0; i < p->log_points; ++i) {
    const int64_t t = llround(exp(step * (double)i));
    if (t > last && t <= T) ++rows, last = t;
  }
  return rows + (last != T);
}

double schedule_flow_time(const tsim_params *p, int64_t j, int *last) {
  const double T = p->T > 0.0 ? p->T : (double)p->iterations;
  double t;
  if (j <= 0) {
    t = 0.0;
  } else if (p->log_points > 1 && T > 1.0) { /* P points on [1, T] */
    const int64_t P = p->log_points;
    t = j >= P ? T : pow(T, (double)(j - 1) / (double)(P - 1));
  } else if (p->log_points > 0) {
    t = j >= p->log_points ? T : T * (double)j / (double)p->log_points;
  } else {
    t = fmin(T, (double)j * (double)p->log_every);
  }
  *last = t >= T;
  return t;
}

int schedule_spectra(const tsim_params *p) {
  return p->hess_nat > 0 || p->hess_nevents > 0 || p->hess_log_points > 0;
}

/* Is EVENT among metrics.hessian.events? */
static int hess_event(const tsim_params *p, tsim_hess_event event) {
  for (int64_t i = 0; i < p->hess_nevents; ++i)
    if (p->hess_events[i] == event) return 1;
  return 0;
}

int schedule_spectrum_due(const tsim_params *p, int64_t t, int q9_event, int final) {
  if (q9_event && hess_event(p, HESS_EVENT_Q9_POSITIVE)) return 1;
  if (final && hess_event(p, HESS_EVENT_FINAL)) return 1;
  if (p->hess_log_points > 0) { /* train.log_points' spacing */
    tsim_params q = *p;
    q.log_points = p->hess_log_points;
    return schedule_log_due(&q, t);
  }
  return 0;
}
