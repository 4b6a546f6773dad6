/* test_ode.c - the order-parameter ODEs of online SGD (ode.h) against
 * references computed here, from the per-sample formulas and the
 * activation table only:
 * (a) linear: the integrated ODEs against the exact solution of the linear
 *     system (a matrix exponential), to 1e-10;
 * (b) erf, quadratic, linear: each expectation of the right-hand side and
 *     eg against Gauss-Hermite quadrature over x in R^(K+M) (1e-10) and
 *     Monte Carlo (within 4 standard errors), at random weights;
 * (c) a student equal to a teacher (singular covariance): finite values,
 *     and eg = 0 at W = V;
 * (d) an online-SGD loop at d = 2000, K = M = 2, erf: the eg and the order
 *     parameters of the simulation follow the ODEs within a few 1/sqrt(d). */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tsim/activation.h"
#include "tsim/ode.h"
#include "tsim/rng.h"

#define MAXN 8 /* K + M at most */
#define NQ (3 * MAXN * MAXN + 1)

/* The per-sample quantities at x (d = K + M here): delta_k nu_l (K x M),
 * delta_k lambda_j (K x K), delta_k delta_j (K x K), then s (f - y)^2. */
static int64_t quantities(const ode_model *m, const double *W, const double *V, int64_t d,
                          const double *x, double *q) {
  const tsim_activation_info *ai = activation_info(m->activation);
  const int64_t K = m->K, M = m->M;
  double lam[MAXN], nu[MAXN], delta[MAXN], f = 0.0, y = 0.0;
  for (int64_t k = 0; k < K; ++k) {
    lam[k] = 0.0;
    for (int64_t i = 0; i < d; ++i) lam[k] += W[k * d + i] * x[i];
    f += ai->value(lam[k]);
  }
  for (int64_t l = 0; l < M; ++l) {
    nu[l] = 0.0;
    for (int64_t i = 0; i < d; ++i) nu[l] += V[l * d + i] * x[i];
    y += ai->value(nu[l]);
  }
  f *= m->c;
  y *= m->c_teacher;
  for (int64_t k = 0; k < K; ++k)
    delta[k] = 2.0 * m->loss_scale * m->c * ai->slope(lam[k]) * (y - f);
  int64_t n = 0;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t l = 0; l < M; ++l) q[n++] = delta[k] * nu[l];
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < K; ++j) q[n++] = delta[k] * lam[j];
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < K; ++j) q[n++] = delta[k] * delta[j];
  q[n++] = m->loss_scale * (f - y) * (f - y);
  return n;
}

/* The module's values in the same order */
static int64_t module_values(const ode_model *m, const double *state, double *q) {
  const int64_t K = m->K, M = m->M;
  ode_expectations(m, state, q, q + K * M, q + K * M + K * K);
  q[K * M + 2 * K * K] = ode_eg(m, state);
  return K * M + 2 * K * K + 1;
}

/* Gauss-Hermite nodes and weights for N(0, 1) (Golub-Welsch: the
 * eigenvalues of the Jacobi matrix of the Hermite polynomials He_n) */
static void gauss_hermite(int n, double *node, double *weight) {
  double *e = calloc((size_t)n, sizeof(double)), *z = calloc((size_t)(n * n), sizeof(double));
  for (int i = 0; i < n; ++i) node[i] = 0.0;
  for (int i = 0; i + 1 < n; ++i) e[i] = sqrt(i + 1.0);
  if (LAPACKE_dstev(LAPACK_COL_MAJOR, 'V', n, node, e, z, n) != 0) abort();
  for (int i = 0; i < n; ++i) weight[i] = z[i * n] * z[i * n];
  free(e);
  free(z);
}

/* E quantities by the product rule with NP nodes per coordinate of x */
static void quadrature(const ode_model *m, const double *W, const double *V, int64_t d, int np,
                       double *out, int64_t *nq) {
  double node[64], weight[64], x[MAXN], q[NQ];
  gauss_hermite(np, node, weight);
  memset(out, 0, NQ * sizeof(double));
  int64_t idx[MAXN] = {0}, total = 1;
  for (int64_t i = 0; i < d; ++i) total *= np;
  for (int64_t p = 0; p < total; ++p) {
    double w = 1.0;
    int64_t r = p;
    for (int64_t i = 0; i < d; ++i) {
      idx[i] = r % np;
      r /= np;
      x[i] = node[idx[i]];
      w *= weight[idx[i]];
    }
    *nq = quantities(m, W, V, d, x, q);
    for (int64_t i = 0; i < *nq; ++i) out[i] += w * q[i];
  }
}

/* Monte Carlo means and standard errors over N samples */
static void monte_carlo(const ode_model *m, const double *W, const double *V, int64_t d,
                        int64_t N, uint64_t seed, double *mean, double *se, int64_t *nq) {
  double x[MAXN], q[NQ], sum[NQ] = {0}, sum2[NQ] = {0};
  for (int64_t s = 0; s < N; ++s) {
    rng_normals(seed, 7, (uint64_t)s, d, x);
    *nq = quantities(m, W, V, d, x, q);
    for (int64_t i = 0; i < *nq; ++i) {
      sum[i] += q[i];
      sum2[i] += q[i] * q[i];
    }
  }
  for (int64_t i = 0; i < *nq; ++i) {
    mean[i] = sum[i] / (double)N;
    se[i] = sqrt(fmax(sum2[i] / (double)N - mean[i] * mean[i], 0.0) / (double)N);
  }
}

/* Random students (norms in [0.4, 1]) and unit teachers in R^d, seed S */
static void random_weights(int64_t K, int64_t M, int64_t d, uint64_t s, double *W, double *V) {
  for (int64_t a = 0; a < K + M; ++a) {
    double *u = a < K ? W + a * d : V + (a - K) * d, nrm = 0.0;
    rng_normals(s, 3, (uint64_t)a, d, u);
    for (int64_t i = 0; i < d; ++i) nrm += u[i] * u[i];
    const double len = a < K ? 0.4 + 0.6 * rng_uniform(s, 4, (uint64_t)a, 0) : 1.0;
    for (int64_t i = 0; i < d; ++i) u[i] *= len / sqrt(nrm);
  }
}

static const char *qname(const ode_model *m, int64_t i, char *buf) {
  const int64_t K = m->K, M = m->M;
  if (i < K * M)
    sprintf(buf, "E[delta_%lld nu_%lld]", (long long)(i / M), (long long)(i % M));
  else if (i < K * M + K * K)
    sprintf(buf, "E[delta_%lld lambda_%lld]", (long long)((i - K * M) / K),
            (long long)((i - K * M) % K));
  else if (i < K * M + 2 * K * K)
    sprintf(buf, "E[delta_%lld delta_%lld]", (long long)((i - K * M - K * K) / K),
            (long long)((i - K * M - K * K) % K));
  else
    sprintf(buf, "eg");
  return buf;
}

/* (b): at random weights in R^(K+M), every expectation against quadrature
 * and Monte Carlo */
static void check_expectations(int act, int64_t K, int64_t M, uint64_t seed, int np, double c,
                               double ct) {
  const int64_t d = K + M;
  double W[MAXN * MAXN], V[MAXN * MAXN], T[MAXN * MAXN], state[2 * MAXN * MAXN];
  random_weights(K, M, d, seed, W, V);
  ode_state_from_weights(K, M, d, W, V, state, T);
  const ode_model m = {.activation = act, .K = K, .M = M, .c = c, .c_teacher = ct,
                       .loss_scale = 0.5, .eta = 1.0, .T = T};
  double mod[NQ], quad[NQ], mean[NQ], se[NQ];
  int64_t nq = module_values(&m, state, mod), nq2 = 0, nq3 = 0;
  quadrature(&m, W, V, d, np, quad, &nq2);
  monte_carlo(&m, W, V, d, 200000, seed + 1, mean, se, &nq3);
  const char *name = activation_info(act)->name;
  double qerr = 0.0, zmax = 0.0;
  int64_t qworst = 0, zworst = 0;
  for (int64_t i = 0; i < nq; ++i) {
    const double e = fabs(mod[i] - quad[i]), z = fabs(mod[i] - mean[i]) / se[i];
    if (e > qerr || isnan(e)) qerr = e, qworst = i;
    if (z > zmax || isnan(z)) zmax = z, zworst = i;
  }
  char b1[64], b2[64];
  CHECK(nq == nq2 && qerr <= 1e-10, "%s K=%lld M=%lld seed %llu: %lld expectations = %d^%lld-point "
        "Gauss-Hermite within 1e-10 (max %.1e at %s)", name, (long long)K, (long long)M,
        (unsigned long long)seed, (long long)nq, np, (long long)d, qerr, qname(&m, qworst, b1));
  CHECK(nq == nq3 && zmax <= 4.0, "%s K=%lld M=%lld seed %llu: = Monte Carlo (2e5 samples) within "
        "4 standard errors (max %.2f at %s)", name, (long long)K, (long long)M,
        (unsigned long long)seed, zmax, qname(&m, zworst, b2));
}

/* (a): the linear model's right-hand side written out from y - f = a.x,
 * a = c_t sum_l v_l - c sum_j w_j: E[delta_k nu_l] = 2sc a.v_l,
 * E[delta_k lambda_j] = 2sc a.w_j, E[delta_k delta_j] = 4 s^2 c^2 |a|^2 */
static void linear_rhs(const ode_model *m, const double *X, double *dX) {
  const int64_t K = m->K, M = m->M;
  const double *Q = X, *R = X + K * K, s = m->loss_scale, c = m->c, ct = m->c_teacher;
  double aw[MAXN], av[MAXN], aa = 0.0; /* a.w_j, a.v_l, |a|^2 */
  for (int64_t j = 0; j < K; ++j) {
    aw[j] = 0.0;
    for (int64_t l = 0; l < M; ++l) aw[j] += ct * R[j * M + l];
    for (int64_t i = 0; i < K; ++i) aw[j] -= c * Q[i * K + j];
  }
  for (int64_t l = 0; l < M; ++l) {
    av[l] = 0.0;
    for (int64_t p = 0; p < M; ++p) av[l] += ct * m->T[p * M + l];
    for (int64_t i = 0; i < K; ++i) av[l] -= c * R[i * M + l];
  }
  for (int64_t j = 0; j < K; ++j) aa -= c * aw[j];
  for (int64_t l = 0; l < M; ++l) aa += ct * av[l];
  const double g = 2.0 * s * c, e = m->eta;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < K; ++j) dX[k * K + j] = e * g * (aw[j] + aw[k]) + e * e * g * g * aa;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t l = 0; l < M; ++l) dX[K * K + k * M + l] = e * g * av[l];
}

/* exp(A) (n x n) by scaling and squaring of a Taylor series, in long double */
static void expm(int n, const long double *A, long double *E) {
  long double nrm = 0.0L;
  for (int i = 0; i < n * n; ++i) nrm = fmaxl(nrm, fabsl(A[i]));
  int sq = 0;
  while (nrm * n > 0.25L) nrm /= 2.0L, ++sq;
  const long double sc = ldexpl(1.0L, -sq);
  long double *term = calloc((size_t)(n * n), sizeof(long double));
  long double *tmp = calloc((size_t)(n * n), sizeof(long double));
  for (int i = 0; i < n * n; ++i) E[i] = term[i] = (i % (n + 1) == 0) ? 1.0L : 0.0L;
  for (int p = 1; p <= 30; ++p) {
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        long double acc = 0.0L;
        for (int r = 0; r < n; ++r) acc += term[i * n + r] * A[r * n + j] * sc;
        tmp[i * n + j] = acc / p;
      }
    for (int i = 0; i < n * n; ++i) E[i] += (term[i] = tmp[i]);
  }
  for (int s = 0; s < sq; ++s) {
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        long double acc = 0.0L;
        for (int r = 0; r < n; ++r) acc += E[i * n + r] * E[r * n + j];
        tmp[i * n + j] = acc;
      }
    memcpy(E, tmp, (size_t)(n * n) * sizeof(long double));
  }
  free(term);
  free(tmp);
}

static void check_linear_exact(void) {
  const int64_t K = 2, M = 2, d = 4, n = K * K + K * M, na = n + 1;
  double W[MAXN * MAXN], V[MAXN * MAXN], T[MAXN * MAXN], X0[2 * MAXN * MAXN];
  random_weights(K, M, d, 11, W, V);
  ode_state_from_weights(K, M, d, W, V, X0, T);
  const ode_model m = {.activation = ACT_LINEAR, .K = K, .M = M, .c = 0.5, .c_teacher = 0.5,
                       .loss_scale = 0.5, .eta = 0.8, .T = T};
  /* the affine map X -> A X + b as the linear system of (X, 1) */
  long double *A = calloc((size_t)(na * na), sizeof(long double));
  long double *E = calloc((size_t)(na * na), sizeof(long double));
  double zero[2 * MAXN * MAXN] = {0}, b[2 * MAXN * MAXN], col[2 * MAXN * MAXN];
  linear_rhs(&m, zero, b);
  for (int64_t i = 0; i < n; ++i) {
    double e[2 * MAXN * MAXN] = {0};
    e[i] = 1.0;
    linear_rhs(&m, e, col);
    for (int64_t r = 0; r < n; ++r) A[r * na + i] = (long double)col[r] - b[r];
  }
  for (int64_t r = 0; r < n; ++r) A[r * na + n] = b[r];
  double X[2 * MAXN * MAXN], rhs_err = 0.0, dm[2 * MAXN * MAXN], dl[2 * MAXN * MAXN];
  ode_rhs(&m, X0, dm);
  linear_rhs(&m, X0, dl);
  for (int64_t i = 0; i < n; ++i) rhs_err = fmax(rhs_err, fabs(dm[i] - dl[i]));
  CHECK(rhs_err <= 1e-14, "linear: ode_rhs = the written-out linear system at the initial state "
        "(max %.1e)", rhs_err);
  memcpy(X, X0, (size_t)n * sizeof(double));
  flow_stats st = {0};
  double a0 = 0.0, worst = 0.0;
  int rc = 0;
  const double ends[] = {0.5, 1.0, 2.0, 4.0};
  for (int s = 0; s < 4; ++s) {
    rc |= ode_integrate(&m, X, a0, ends[s], 1e-13, 1e-13, &st);
    a0 = ends[s];
    long double *At = calloc((size_t)(na * na), sizeof(long double));
    for (int64_t i = 0; i < na * na; ++i) At[i] = A[i] * ends[s];
    expm((int)na, At, E);
    for (int64_t r = 0; r < n; ++r) {
      long double acc = E[r * na + n];
      for (int64_t i = 0; i < n; ++i) acc += E[r * na + i] * X0[i];
      worst = fmax(worst, fabs(X[r] - (double)acc));
    }
    free(At);
  }
  CHECK(rc == 0 && worst <= 1e-10, "linear K=M=2: Q, R integrated to alpha = 0.5, 1, 2, 4 = "
        "exp(alpha A) of the linear system within 1e-10 (max %.1e, %lld steps)", worst,
        (long long)st.accepted);
  free(A);
  free(E);
}

/* (c): student 0 equal to teacher 0, then W = V */
static void check_singular(void) {
  const int64_t K = 2, M = 2, d = 4;
  double W[MAXN * MAXN], V[MAXN * MAXN], T[MAXN * MAXN], state[2 * MAXN * MAXN];
  random_weights(K, M, d, 21, W, V);
  memcpy(W, V, (size_t)d * sizeof(double));
  ode_state_from_weights(K, M, d, W, V, state, T);
  const ode_model m = {.activation = ACT_ERF, .K = K, .M = M, .c = 1.0, .c_teacher = 1.0,
                       .loss_scale = 0.5, .eta = 1.0, .T = T};
  double mod[NQ], quad[NQ], dst[2 * MAXN * MAXN];
  int64_t nq = module_values(&m, state, mod), nq2 = 0;
  quadrature(&m, W, V, d, 40, quad, &nq2);
  double qerr = 0.0;
  int finite = 1;
  for (int64_t i = 0; i < nq; ++i) {
    finite = finite && isfinite(mod[i]);
    qerr = fmax(qerr, fabs(mod[i] - quad[i]));
  }
  CHECK(finite && qerr <= 1e-10, "erf, w_0 = v_0 (singular covariance): the expectations are "
        "finite and = quadrature within 1e-10 (max %.1e)", qerr);
  memcpy(W, V, (size_t)(K * d) * sizeof(double));
  ode_state_from_weights(K, M, d, W, V, state, T);
  nq = module_values(&m, state, mod);
  ode_rhs(&m, state, dst);
  double big = 0.0;
  finite = 1;
  for (int64_t i = 0; i < nq; ++i) finite = finite && isfinite(mod[i]);
  for (int64_t i = 0; i < ode_state_size(&m); ++i) big = fmax(big, fabs(dst[i]));
  CHECK(finite && mod[nq - 1] == 0.0 && big <= 1e-15,
        "erf, W = V: eg = %g (exactly 0) and the right-hand side vanishes (max |.| %.1e)",
        mod[nq - 1], big);
  /* the linear and quadratic forms at W = V too */
  int ok = 1;
  for (int a = 0; a < 2; ++a) {
    ode_model m2 = m;
    m2.activation = a ? ACT_QUADRATIC : ACT_LINEAR;
    ok = ok && ode_eg(&m2, state) == 0.0;
  }
  CHECK(ok, "linear and quadratic, W = V: eg exactly 0");
}

/* (d): online SGD, one fresh sample a step (B = 1), at d = 2000 */
static void check_sgd(void) {
  const int64_t K = 2, M = 2, d = 2000, steps_per_log = d / 2, logs = 10;
  double *W = malloc((size_t)(K * d) * sizeof(double));
  double *V = malloc((size_t)(M * d) * sizeof(double)), *x = malloc((size_t)d * sizeof(double));
  for (int64_t l = 0; l < M; ++l) { /* unit teachers */
    double nrm = 0.0;
    rng_normals(31, 1, (uint64_t)l, d, V + l * d);
    for (int64_t i = 0; i < d; ++i) nrm += V[l * d + i] * V[l * d + i];
    for (int64_t i = 0; i < d; ++i) V[l * d + i] /= sqrt(nrm);
  }
  for (int64_t k = 0; k < K; ++k) { /* students ~ 0.5 N(0, I/d) */
    rng_normals(31, 2, (uint64_t)k, d, W + k * d);
    for (int64_t i = 0; i < d; ++i) W[k * d + i] *= 0.5 / sqrt((double)d);
  }
  double T[MAXN * MAXN], X[2 * MAXN * MAXN], Xs[2 * MAXN * MAXN];
  ode_state_from_weights(K, M, d, W, V, X, T);
  const ode_model m = {.activation = ACT_ERF, .K = K, .M = M, .c = 1.0, .c_teacher = 1.0,
                       .loss_scale = 0.5, .eta = 1.5, .T = T};
  const tsim_activation_info *ai = activation_info(ACT_ERF);
  const double step = m.eta / (double)d;
  flow_stats st = {0};
  double worst_eg = 0.0, worst_qr = 0.0, eg_end_sim = 0.0, eg_end_ode = 0.0, eg0 = ode_eg(&m, X);
  int rc = 0;
  uint64_t sample = 0;
  for (int64_t g = 1; g <= logs; ++g) {
    for (int64_t s = 0; s < steps_per_log; ++s) {
      rng_normals(31, 5, sample++, d, x);
      double lam[MAXN], f = 0.0, y = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        lam[k] = 0.0;
        for (int64_t i = 0; i < d; ++i) lam[k] += W[k * d + i] * x[i];
        f += m.c * ai->value(lam[k]);
      }
      for (int64_t l = 0; l < M; ++l) {
        double nu = 0.0;
        for (int64_t i = 0; i < d; ++i) nu += V[l * d + i] * x[i];
        y += m.c_teacher * ai->value(nu);
      }
      for (int64_t k = 0; k < K; ++k) {
        const double delta = 2.0 * m.loss_scale * m.c * ai->slope(lam[k]) * (y - f);
        for (int64_t i = 0; i < d; ++i) W[k * d + i] += step * delta * x[i];
      }
    }
    const double a1 = (double)(g * steps_per_log) / (double)d;
    rc |= ode_integrate(&m, X, a1 - (double)steps_per_log / (double)d, a1, 1e-10, 1e-12, &st);
    ode_state_from_weights(K, M, d, W, V, Xs, NULL);
    eg_end_sim = ode_eg(&m, Xs);
    eg_end_ode = ode_eg(&m, X);
    worst_eg = fmax(worst_eg, fabs(eg_end_sim - eg_end_ode));
    for (int64_t i = 0; i < ode_state_size(&m); ++i) worst_qr = fmax(worst_qr, fabs(Xs[i] - X[i]));
  }
  const double tol = 1.0 / sqrt((double)d);
  CHECK(rc == 0 && worst_eg <= 0.5 * tol,
        "erf K=M=2 d=%lld eta=%g: the SGD's eg follows the ODE's to alpha=%g within 0.5/sqrt(d) "
        "= %.4f (max %.4f; eg %.4f -> %.4f simulated, %.4f ODE)", (long long)d, m.eta,
        (double)(logs * steps_per_log) / (double)d, 0.5 * tol, worst_eg, eg0, eg_end_sim,
        eg_end_ode);
  CHECK(rc == 0 && worst_qr <= 3.0 * tol,
        "erf K=M=2 d=%lld: and Q, R within 3/sqrt(d) = %.4f (max %.4f)", (long long)d, 3.0 * tol,
        worst_qr);
  free(W);
  free(V);
  free(x);
}

int main(void) {
  check_suite = "ode";
  CHECK(ode_supported(ACT_ERF) && ode_supported(ACT_LINEAR) && ode_supported(ACT_QUADRATIC) &&
            !ode_supported(ACT_RELU) && !ode_supported(ACT_TANH) && !ode_supported(-1),
        "closed forms for erf, linear and quadratic only");
  check_linear_exact();
  check_expectations(ACT_ERF, 1, 1, 1, 48, 1.0, 1.0);
  check_expectations(ACT_ERF, 2, 2, 2, 40, 1.0, 1.0);
  check_expectations(ACT_ERF, 2, 2, 3, 40, 0.5, 0.5);
  check_expectations(ACT_ERF, 2, 1, 4, 40, 0.7, 1.3);
  check_expectations(ACT_LINEAR, 2, 2, 5, 4, 1.0, 1.0);
  check_expectations(ACT_QUADRATIC, 2, 2, 6, 8, 0.5, 0.5);
  check_expectations(ACT_QUADRATIC, 1, 2, 7, 8, 1.0, 0.5);
  check_singular();
  check_sgd();
  return check_summary();
}
