/* ode.h - the order-parameter ODEs of online SGD for the committee machine
 * in the limit d -> infinity (Saad & Solla 1995; Goldt et al. 2019), in
 * tsim's units: pre-activations lambda = W x, nu = V x (W: K x d students,
 * V: M x d teachers, neuron-major), x ~ N(0, I_d), order parameters
 * Q = W W^T, R = W V^T, T = V V^T (all O(1), no 1/d),
 *   f = c sum_k act(lambda_k),  y = c_teacher sum_l act(nu_l),
 *   l = loss_scale (f - y)^2 per sample,
 * one step with B fresh samples W <- W - (eta/d) sum_batch grad_W l, and
 * time alpha = steps B / d. The ODEs (derivation in ode.c), with
 * delta_k = -dl/dlambda_k:
 *   dR_kl/dalpha = eta E[delta_k nu_l]
 *   dQ_kj/dalpha = eta E[delta_k lambda_j + delta_j lambda_k] + eta^2 E[delta_k delta_j]
 * and the generalisation error eg = loss_scale E (f - y)^2; T is fixed.
 *
 * Closed forms (ode_supported): linear, erf (= erf(z/sqrt 2)), quadratic,
 * relu and abs (orthant moments; the 4-field orthant probability of the
 * eta^2 term is a 1-D integral); tanh, sigmoid, softplus and gelu by
 * Gauss-Hermite over the eigen-decomposed covariance of at most 4 fields
 * (56^r nodes, r its rank: slow for the eta^2 term). Singular covariances
 * are exact.
 * The same activation for students and teacher. Not yet a train.method. */
#ifndef TSIM_ODE_H
#define TSIM_ODE_H

#include <stdint.h>

#include "tsim/flow.h"

typedef struct ode_model {
  int activation;      /* tsim_activation, of students and teachers alike */
  int64_t K, M;        /* student and teacher neurons */
  double c, c_teacher; /* f = c sum_k act(lambda_k), y = c_teacher sum_l act(nu_l) */
  double loss_scale, eta;
  const double *T;     /* M x M teacher overlaps V V^T (kept by pointer) */
  int quadrature;      /* 1: Gauss-Hermite even where closed forms exist (a cross-check) */
} ode_model;

/* 1 when ode.c can evaluate the expectations of ACT (a tsim_activation). */
int ode_supported(int act);

/* The state: Q (K x K, row-major, kept symmetric) then R (K x M). */
int64_t ode_state_size(const ode_model *m);

/* Q = W W^T and R = W V^T into STATE, T = V V^T into T (M x M) if non-NULL:
 * the state a simulation cell with these weights starts from. */
void ode_state_from_weights(int64_t K, int64_t M, int64_t d, const double *W, const double *V,
                            double *state, double *T);

/* The expectations of the right-hand side at STATE: EDN[k M + l] =
 * E[delta_k nu_l], EDL[k K + j] = E[delta_k lambda_j], EDD[k K + j] =
 * E[delta_k delta_j] (any may be NULL). */
void ode_expectations(const ode_model *m, const double *state, double *edn, double *edl,
                      double *edd);

/* The generalisation error loss_scale E (f - y)^2 at STATE. */
double ode_eg(const ode_model *m, const double *state);

/* d state / d alpha into DSTATE. */
void ode_rhs(const ode_model *m, const double *state, double *dstate);

/* Integrate the ODEs from alpha A0 to A1 in place on STATE by flow.c's
 * Dormand-Prince 5(4) (error per step within ATOL + RTOL |state|). Returns
 * 0, or -1 as flow_integrate does. STATS accumulates. */
int ode_integrate(const ode_model *m, double *state, double a0, double a1, double rtol,
                  double atol, flow_stats *stats);

#endif
