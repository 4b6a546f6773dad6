/* ode.c - the order-parameter ODEs of online SGD (see ode.h).
 *
 * Derivation (tsim's units). Per sample, grad_{w_k} l = -delta_k x with
 *   delta_k = -dl/dlambda_k = 2 s c act'(lambda_k) (y - f),  s = loss_scale,
 * so a step is w_k <- w_k + (eta/d) sum_i delta_k^i x^i (i over the B
 * samples). Then
 *   dR_kl = (eta/d) sum_i delta_k^i nu_l^i,
 *   dQ_kj = (eta/d) sum_i (delta_k^i lambda_j^i + delta_j^i lambda_k^i)
 *         + (eta/d)^2 sum_{i,i'} delta_k^i delta_j^{i'} x^i.x^{i'}.
 * The samples are fresh, so (lambda, nu) ~ N(0, [[Q, R], [R^T, T]]) given
 * the weights. In the last sum the B terms i = i' have x.x = d + O(sqrt d),
 * giving (eta^2/d) sum_i delta_k^i delta_j^i; the B(B-1) others have
 * expectation E[delta_k x].E[delta_j x] = O(1) (both vectors lie in the span
 * of the w's and v's), i.e. O(eta^2 B^2/d^2) per step. Dividing by the time
 * step dalpha = B/d and letting d -> infinity with B/d -> 0 (the sums
 * concentrate on their means):
 *   dR_kl/dalpha = eta E[delta_k nu_l],
 *   dQ_kj/dalpha = eta E[delta_k lambda_j + delta_j lambda_k] + eta^2 E[delta_k delta_j].
 *
 * With u = (lambda_1..K, nu_1..M), Sigma its covariance and gamma_a = -c for
 * a student, c_teacher for a teacher, y - f = sum_a gamma_a act(u_a), and
 *   E[delta_k u_b]     = 2 s c sum_a gamma_a I3(k, b, a),
 *   E[delta_k delta_j] = 4 s^2 c^2 sum_ab gamma_a gamma_b I4(k, j, a, b),
 *   eg                 = s sum_ab gamma_a gamma_b I2(a, b),
 * where I2(a, b) = E act(u_a) act(u_b), I3(a, b, c) = E act'(u_a) u_b act(u_c),
 * I4(a, b, c, e) = E act'(u_a) act'(u_b) act(u_c) act(u_e). */
#include "tsim/ode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/activation.h"
#include "tsim/common.h"

#define PI 3.14159265358979323846

static double clamp1(double t) { return t > 1.0 ? 1.0 : (t < -1.0 ? -1.0 : t); }

/* The closed forms, S the (K+M) x (K+M) covariance of u (row stride N).
 *
 * erf: act(z) = erf(z/sqrt 2) = 2 Phi(z) - 1, act'(z) = sqrt(2/pi) e^{-z^2/2}.
 * E act(u) act(w) = (2/pi) asin(S_uw / sqrt((1 + S_uu)(1 + S_ww))) (the
 * arcsine kernel). A factor e^{-u_a^2/2} (or e^{-(u_a^2 + u_b^2)/2}) under a
 * Gaussian expectation equals det(I + S_AA)^{-1/2} times the expectation
 * under the covariance S' = S - S_.A (I + S_AA)^{-1} S_A. (A = {a} or
 * {a, b}). So, with Stein's lemma E' u_b act(u_c) = S'_bc E' act'(u_c):
 *   I3 = (2/pi) (S_bc (1 + S_aa) - S_ab S_ac) / ((1 + S_aa) sqrt(L3)),
 *        L3 = (1 + S_aa)(1 + S_cc) - S_ac^2 = (1 + S_aa)(1 + S'_cc),
 *   I4 = (4 / (pi^2 sqrt(L4))) asin(L0 / sqrt(L1 L2)),
 *        L4 = (1 + S_aa)(1 + S_bb) - S_ab^2 = det(I + S_AA),
 *        L0 = L4 S'_ce,  L1 = L4 (1 + S'_cc),  L2 = L4 (1 + S'_ee)
 * (Saad & Solla's I2, I3, I4). Every denominator is >= 1 for any positive
 * semi-definite S (det(I + S_AA) >= 1, 1 + S'_cc >= 1): a singular S (a
 * student equal to a teacher) needs no factorisation; the arcsines'
 * arguments are clamped to [-1, 1] against rounding.
 *
 * linear: I2 = S_ab, I3 = S_bc, I4 = S_ce.
 *
 * quadratic (act = z^2, act' = 2z), Isserlis: I2 = S_aa S_bb + 2 S_ab^2,
 * I3 = 2 E u_a u_b u_c^2 = 2 (S_ab S_cc + 2 S_ac S_bc), and the eta^2 term's
 * sixth moment I4 = 4 E u_a u_b u_c^2 u_e^2, the 15 pairings of
 * (a, b, c, c, e, e) grouped by a's partner:
 *   a-b: S_ab (S_cc S_ee + 2 S_ce^2)        (3 pairings)
 *   a-c: 2 S_ac (S_bc S_ee + 2 S_be S_ce)   (6)
 *   a-e: 2 S_ae (S_be S_cc + 2 S_bc S_ce)   (6). */
typedef struct closed {
  double (*i2)(const double *S, int64_t n, int64_t a, int64_t b);
  double (*i3)(const double *S, int64_t n, int64_t a, int64_t b, int64_t c);
  double (*i4)(const double *S, int64_t n, int64_t a, int64_t b, int64_t c, int64_t e);
} closed;

#define S_(i, j) S[(i) * n + (j)]

static double erf_i2(const double *S, int64_t n, int64_t a, int64_t b) {
  return (2.0 / PI) * asin(clamp1(S_(a, b) / sqrt((1.0 + S_(a, a)) * (1.0 + S_(b, b)))));
}
static double erf_i3(const double *S, int64_t n, int64_t a, int64_t b, int64_t c) {
  const double pa = 1.0 + S_(a, a);
  const double l3 = pa * (1.0 + S_(c, c)) - S_(a, c) * S_(a, c);
  return (2.0 / PI) * (S_(b, c) * pa - S_(a, b) * S_(a, c)) / (pa * sqrt(l3));
}
static double erf_i4(const double *S, int64_t n, int64_t a, int64_t b, int64_t c, int64_t e) {
  const double pa = 1.0 + S_(a, a), pb = 1.0 + S_(b, b), ab = S_(a, b);
  const double l4 = pa * pb - ab * ab;
  const double ac = S_(a, c), ae = S_(a, e), bc = S_(b, c), be = S_(b, e);
  const double l0 = l4 * S_(c, e) - bc * be * pa - ac * ae * pb + ab * ac * be + ab * ae * bc;
  const double l1 = l4 * (1.0 + S_(c, c)) - bc * bc * pa - ac * ac * pb + 2.0 * ab * ac * bc;
  const double l2 = l4 * (1.0 + S_(e, e)) - be * be * pa - ae * ae * pb + 2.0 * ab * ae * be;
  return 4.0 / (PI * PI * sqrt(l4)) * asin(clamp1(l0 / sqrt(l1 * l2)));
}

static double lin_i2(const double *S, int64_t n, int64_t a, int64_t b) { return S_(a, b); }
static double lin_i3(const double *S, int64_t n, int64_t a, int64_t b, int64_t c) {
  (void)a; /* act' = 1 */
  return S_(b, c);
}
static double lin_i4(const double *S, int64_t n, int64_t a, int64_t b, int64_t c, int64_t e) {
  (void)a;
  (void)b;
  return S_(c, e);
}

static double quad_i2(const double *S, int64_t n, int64_t a, int64_t b) {
  return S_(a, a) * S_(b, b) + 2.0 * S_(a, b) * S_(a, b);
}
static double quad_i3(const double *S, int64_t n, int64_t a, int64_t b, int64_t c) {
  return 2.0 * (S_(a, b) * S_(c, c) + 2.0 * S_(a, c) * S_(b, c));
}
static double quad_i4(const double *S, int64_t n, int64_t a, int64_t b, int64_t c, int64_t e) {
  const double m6 = S_(a, b) * (S_(c, c) * S_(e, e) + 2.0 * S_(c, e) * S_(c, e)) +
                    2.0 * S_(a, c) * (S_(b, c) * S_(e, e) + 2.0 * S_(b, e) * S_(c, e)) +
                    2.0 * S_(a, e) * (S_(b, e) * S_(c, c) + 2.0 * S_(b, c) * S_(c, e));
  return 4.0 * m6;
}

#undef S_

static const closed *closed_of(int act) {
  static const closed erf_c = {erf_i2, erf_i3, erf_i4};
  static const closed lin_c = {lin_i2, lin_i3, lin_i4};
  static const closed quad_c = {quad_i2, quad_i3, quad_i4};
  switch ((tsim_activation)act) {
    case ACT_ERF: return &erf_c;
    case ACT_LINEAR: return &lin_c;
    case ACT_QUADRATIC: return &quad_c;
    case ACT_RELU:
    case ACT_ABS:
    case ACT_TANH:
    case ACT_SIGMOID:
    case ACT_SOFTPLUS:
    case ACT_GELU: return NULL;
  }
  return NULL;
}

int ode_supported(int act) { return act >= 0 && act < ACT_COUNT && closed_of(act) != NULL; }

int64_t ode_state_size(const ode_model *m) { return m->K * m->K + m->K * m->M; }

static double dot(const double *u, const double *w, int64_t d) {
  double s = 0.0;
  for (int64_t i = 0; i < d; ++i) s += u[i] * w[i];
  return s;
}

void ode_state_from_weights(int64_t K, int64_t M, int64_t d, const double *W, const double *V,
                            double *state, double *T) {
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j <= k; ++j)
      state[k * K + j] = state[j * K + k] = dot(W + k * d, W + j * d, d);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t l = 0; l < M; ++l) state[K * K + k * M + l] = dot(W + k * d, V + l * d, d);
  if (T)
    for (int64_t l = 0; l < M; ++l)
      for (int64_t j = 0; j <= l; ++j) T[l * M + j] = T[j * M + l] = dot(V + l * d, V + j * d, d);
}

/* the covariance of u = (lambda, nu): [[Q, R], [R^T, T]] into S */
static void covariance(const ode_model *m, const double *state, double *S) {
  const int64_t K = m->K, M = m->M, n = K + M;
  const double *Q = state, *R = state + K * K;
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t j = 0; j < K; ++j) S[k * n + j] = Q[k * K + j];
    for (int64_t l = 0; l < M; ++l) S[k * n + K + l] = S[(K + l) * n + k] = R[k * M + l];
  }
  for (int64_t l = 0; l < M; ++l)
    for (int64_t j = 0; j < M; ++j) S[(K + l) * n + K + j] = m->T[l * M + j];
}

static const closed *closed_or_abort(const ode_model *m) {
  const closed *cl = closed_of(m->activation);
  if (!cl) { /* a caller's error: ode_supported says which have them */
    fprintf(stderr, "tsim: internal: ode: activation %d has no closed forms\n", m->activation);
    abort();
  }
  return cl;
}

void ode_expectations(const ode_model *m, const double *state, double *edn, double *edl,
                      double *edd) {
  const closed *cl = closed_or_abort(m);
  const int64_t K = m->K, M = m->M, n = K + M;
  double *S = tsim_xmalloc((size_t)(n * n) * sizeof(double));
  covariance(m, state, S);
  const double s = m->loss_scale, c = m->c;
#define GAMMA(a) ((a) < K ? -c : m->c_teacher)
  for (int64_t k = 0; k < K; ++k)
    for (int64_t b = 0; b < n; ++b) {
      double *out = b < K ? (edl ? edl + k * K + b : NULL) : (edn ? edn + k * M + (b - K) : NULL);
      if (!out) continue;
      double acc = 0.0;
      for (int64_t a = 0; a < n; ++a) acc += GAMMA(a) * cl->i3(S, n, k, b, a);
      *out = 2.0 * s * c * acc;
    }
  if (edd)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j <= k; ++j) {
        double acc = 0.0;
        for (int64_t a = 0; a < n; ++a)
          for (int64_t b = 0; b < n; ++b) acc += GAMMA(a) * GAMMA(b) * cl->i4(S, n, k, j, a, b);
        edd[k * K + j] = edd[j * K + k] = 4.0 * s * s * c * c * acc;
      }
#undef GAMMA
  free(S);
}

double ode_eg(const ode_model *m, const double *state) {
  const closed *cl = closed_or_abort(m);
  const int64_t K = m->K, M = m->M, n = K + M;
  double *S = tsim_xmalloc((size_t)(n * n) * sizeof(double));
  covariance(m, state, S);
  /* students' and teachers' sums apart: at W = V with c = c_teacher the
   * three are the same bits and eg is exactly 0 */
  double ss = 0.0, st = 0.0, tt = 0.0;
  for (int64_t a = 0; a < K; ++a)
    for (int64_t b = 0; b < K; ++b) ss += cl->i2(S, n, a, b);
  for (int64_t a = 0; a < K; ++a)
    for (int64_t l = 0; l < M; ++l) st += cl->i2(S, n, a, K + l);
  for (int64_t l = 0; l < M; ++l)
    for (int64_t j = 0; j < M; ++j) tt += cl->i2(S, n, K + l, K + j);
  free(S);
  const double c = m->c, ct = m->c_teacher;
  return m->loss_scale * ((c * c * ss - 2.0 * c * ct * st) + ct * ct * tt);
}

void ode_rhs(const ode_model *m, const double *state, double *dstate) {
  const int64_t K = m->K, M = m->M;
  double *edl = tsim_xmalloc((size_t)(K * K) * sizeof(double));
  double *edd = tsim_xmalloc((size_t)(K * K) * sizeof(double));
  ode_expectations(m, state, dstate + K * K, edl, edd);
  const double eta = m->eta;
  for (int64_t i = 0; i < K * M; ++i) dstate[K * K + i] *= eta;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j <= k; ++j)
      dstate[k * K + j] = dstate[j * K + k] =
          eta * (edl[k * K + j] + edl[j * K + k]) + eta * eta * edd[k * K + j];
  free(edl);
  free(edd);
}

/* flow_integrate integrates dy/dt = -g(y): hand it g = -rhs (a negation,
 * exact, so the steps are the Dormand-Prince steps of the ODEs themselves) */
static double negated_rhs(void *ctx, const double *state, double *g) {
  const ode_model *m = ctx;
  ode_rhs(m, state, g);
  const int64_t n = ode_state_size(m);
  for (int64_t i = 0; i < n; ++i) g[i] = -g[i];
  return 0.0;
}

int ode_integrate(const ode_model *m, double *state, double a0, double a1, double rtol,
                  double atol, flow_stats *stats) {
  (void)closed_or_abort(m);
  return flow_integrate(negated_rhs, (void *)m, ode_state_size(m), state, a0, a1, rtol, atol,
                        stats);
}
