/* flow.h - gradient flow dW/dt = -grad L(W) by the adaptive embedded
 * Runge-Kutta pair of Dormand & Prince, 5(4) (Hairer, Norsett & Wanner,
 * Solving ODEs I, sec. II.4-5: the coefficients, the error norm, the step
 * controller and the starting step used here).
 *
 * The integrator is a pure function of (W, t0, t1, tolerances): it picks
 * its own first step at t0, so integrating [t0, t1] then [t1, t2] gives the
 * same bits whether or not the process stopped and resumed at t1. Train
 * uses the logged times as these boundaries. */
#ifndef TSIM_FLOW_H
#define TSIM_FLOW_H

#include <stdint.h>

/* L(W) and, into GRAD (N entries), its gradient. */
typedef double (*flow_gradient)(void *ctx, const double *W, double *grad);

typedef struct flow_stats {
  int64_t accepted, rejected, evaluations;
} flow_stats;

/* Integrate dW/dt = -grad L from T0 to T1 in place on W (N entries), each
 * step keeping the local error estimate within ATOL + RTOL |W| (RMS over
 * entries). Returns 0, or -1 when the step size underflows or the gradient
 * is not finite (W is then the last accepted state). STATS accumulates. */
int flow_integrate(flow_gradient grad, void *ctx, int64_t n, double *W,
                   double t0, double t1, double rtol, double atol,
                   flow_stats *stats);

#endif
