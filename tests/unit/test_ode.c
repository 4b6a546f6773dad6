/* test_ode.c - the order-parameter ODEs of online SGD (ode.h) against
 * references computed here, from the per-sample formulas and the
 * activation table only:
 * (a) linear: the integrated ODEs against the exact solution of the linear
 *     system (a matrix exponential), to 1e-10;
 * (b) erf, quadratic, linear: each expectation of the right-hand side and
 *     eg against Gauss-Hermite quadrature over x in R^(K+M) (1e-10; relu
 *     and abs 5e-3, the kink) and Monte Carlo (within 4 standard errors),
 *     at random weights;
 * (c) a student equal to a teacher (singular covariance): finite values,
 *     and eg = 0 at W = V;
 * (d) an online-SGD loop at d = 2000, K = M = 2, erf and relu: the eg and
 *     the order parameters of the simulation follow the ODEs within a few
 *     1/sqrt(d);
 * (e)-(g) relu and abs: the gradient identity against the arc-cosine eg,
 *     Monte Carlo, collinear and zero students, and the four-field eta^2
 *     term against a 1-D integral. */
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
static void check_expectations_tol(int act, int64_t K, int64_t M, uint64_t seed, int np, double c,
                                   double ct, double qtol, int64_t nmc) {
  const int64_t d = K + M;
  double W[MAXN * MAXN], V[MAXN * MAXN], T[MAXN * MAXN], state[2 * MAXN * MAXN];
  random_weights(K, M, d, seed, W, V);
  ode_state_from_weights(K, M, d, W, V, state, T);
  const ode_model m = {.activation = act, .K = K, .M = M, .c = c, .c_teacher = ct,
                       .loss_scale = 0.5, .eta = 1.0, .T = T};
  double mod[NQ], quad[NQ], mean[NQ], se[NQ];
  int64_t nq = module_values(&m, state, mod), nq2 = 0, nq3 = 0;
  quadrature(&m, W, V, d, np, quad, &nq2);
  monte_carlo(&m, W, V, d, nmc, seed + 1, mean, se, &nq3);
  const char *name = activation_info(act)->name;
  double qerr = 0.0, zmax = 0.0;
  int64_t qworst = 0, zworst = 0;
  for (int64_t i = 0; i < nq; ++i) {
    const double e = fabs(mod[i] - quad[i]), z = fabs(mod[i] - mean[i]) / se[i];
    if (e > qerr || isnan(e)) qerr = e, qworst = i;
    if (z > zmax || isnan(z)) zmax = z, zworst = i;
  }
  char b1[64], b2[64];
  CHECK(nq == nq2 && qerr <= qtol, "%s K=%lld M=%lld seed %llu: %lld expectations = %d^%lld-point "
        "Gauss-Hermite within %.0e (max %.1e at %s)", name, (long long)K, (long long)M,
        (unsigned long long)seed, (long long)nq, np, (long long)d, qtol, qerr,
        qname(&m, qworst, b1));
  CHECK(nq == nq3 && zmax <= 4.0, "%s K=%lld M=%lld seed %llu: = Monte Carlo (%.0e samples) within "
        "4 standard errors (max %.2f at %s)", name, (long long)K, (long long)M,
        (unsigned long long)seed, (double)nmc, zmax, qname(&m, zworst, b2));
}

static void check_expectations(int act, int64_t K, int64_t M, uint64_t seed, int np, double c,
                               double ct) {
  check_expectations_tol(act, K, M, seed, np, c, ct, 1e-10, 200000);
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


/* eg of relu or abs from the activation table's arc-cosine kernel
 * E act(w.x) act(u.x) = alpha w.u + beta |w||u| (sin t - t cos t), cos t the
 * cosine of w and u: s |c sum_k act(lambda_k) - c_t sum_l act(nu_l)|^2 */
static double arccos_eg(const ode_model *m, const double *W, const double *V, int64_t d) {
  const tsim_activation_info *ai = activation_info(m->activation);
  const int64_t K = m->K, M = m->M;
  double eg = 0.0;
  for (int64_t a = 0; a < K + M; ++a)
    for (int64_t b = 0; b < K + M; ++b) {
      const double *u = a < K ? W + a * d : V + (a - K) * d;
      const double *w = b < K ? W + b * d : V + (b - K) * d;
      double uw = 0.0, uu = 0.0, ww = 0.0;
      for (int64_t i = 0; i < d; ++i) uw += u[i] * w[i], uu += u[i] * u[i], ww += w[i] * w[i];
      const double nrm = sqrt(uu * ww), ct = fmax(-1.0, fmin(1.0, uw / nrm)), t = acos(ct);
      const double ga = a < K ? -m->c : m->c_teacher, gb = b < K ? -m->c : m->c_teacher;
      eg += ga * gb * (ai->alpha * uw + ai->beta * nrm * (sin(t) - t * ct));
    }
  return m->loss_scale * eg;
}

/* (e) relu, abs: E[delta_k x] = -grad_{w_k} eg, so E[delta_k nu_l] and
 * E[delta_k lambda_j] are minus the derivatives of the arc-cosine eg along
 * v_l and w_j (fourth-order central differences, step 1e-3), and eg is the
 * kernel's: the 2- and 3-field forms against a closed form derived apart */
static void check_gradient(int act, int64_t K, int64_t M, uint64_t seed, double c, double ct) {
  const int64_t d = K + M;
  double W[MAXN * MAXN], V[MAXN * MAXN], T[MAXN * MAXN], state[2 * MAXN * MAXN];
  random_weights(K, M, d, seed, W, V);
  ode_state_from_weights(K, M, d, W, V, state, T);
  const ode_model m = {.activation = act, .K = K, .M = M, .c = c, .c_teacher = ct,
                       .loss_scale = 0.5, .eta = 1.0, .T = T};
  double mod[NQ];
  module_values(&m, state, mod);
  double worst = 0.0, Wp[MAXN * MAXN];
  const double h = 1e-3, steps[4] = {-2.0, -1.0, 1.0, 2.0}, coef[4] = {1.0, -8.0, 8.0, -1.0};
  for (int64_t k = 0; k < K; ++k)
    for (int64_t b = 0; b < K + M; ++b) { /* direction v_l (b = K + l) or w_j (b = j) */
      double dir[MAXN], der = 0.0;
      memcpy(dir, b < K ? W + b * d : V + (b - K) * d, (size_t)d * sizeof(double));
      for (int s = 0; s < 4; ++s) {
        memcpy(Wp, W, (size_t)(K * d) * sizeof(double));
        for (int64_t i = 0; i < d; ++i) Wp[k * d + i] += steps[s] * h * dir[i];
        der += coef[s] * arccos_eg(&m, Wp, V, d);
      }
      der /= 12.0 * h;
      const double got = b < K ? mod[K * M + k * K + b] : mod[k * M + (b - K)];
      worst = fmax(worst, fabs(got + der));
    }
  const double eg_err = fabs(mod[K * M + 2 * K * K] - arccos_eg(&m, W, V, d));
  CHECK(worst <= 1e-9 && eg_err <= 1e-14, "%s K=%lld M=%lld seed %llu: E[delta_k nu_l], "
        "E[delta_k lambda_j] = -d eg/d w_k of the arc-cosine kernel within 1e-9 (max %.1e), eg "
        "= the kernel's within 1e-14 (%.1e)", activation_info(act)->name, (long long)K,
        (long long)M, (unsigned long long)seed, worst, eg_err);
}

/* (f) relu, singular covariances: K = M = 1 with w = r v (r = 1, 1/2, -1, 0)
 * against the exact values, then K = M = 2 with w_0 = v_0 against Monte
 * Carlo, and W = V */
static void check_singular_relu(void) {
  const int64_t d = 2;
  const double s = 0.5, c = 0.7, ct = 1.3, v[2] = {0.6, 0.8}; /* |v| = 1 */
  const double ratios[4] = {1.0, 0.5, -1.0, 0.0};
  double worst = 0.0;
  int finite = 1;
  for (int r = 0; r < 4; ++r) {
    const double q = ratios[r], w[2] = {q * v[0], q * v[1]};
    double T[1], state[2], mod[NQ], want[4];
    ode_state_from_weights(1, 1, d, w, v, state, T);
    const ode_model m = {.activation = ACT_RELU, .K = 1, .M = 1, .c = c, .c_teacher = ct,
                         .loss_scale = s, .eta = 1.0, .T = T};
    module_values(&m, state, mod);
    if (q >= 0.0) { /* lambda = q nu: delta = 2 s c (ct - q c) 1{nu > 0} relu(nu) */
      const double g = 2.0 * s * c * (q > 0.0 ? ct - q * c : 0.0);
      want[0] = g / 2.0;             /* E 1{nu > 0} nu relu(nu) = 1/2 */
      want[1] = q * g / 2.0;         /* E[delta lambda] */
      want[2] = g * g / 2.0;         /* E 1{nu > 0} relu(nu)^2 */
      want[3] = s * (ct - q * c) * (ct - q * c) / 2.0;
    } else { /* lambda = -nu: delta = -2 s c^2 1{nu < 0} relu(-nu), y f = 0 */
      want[0] = s * c * c;
      want[1] = -s * c * c;
      want[2] = 2.0 * s * s * c * c * c * c;
      want[3] = s * (ct * ct + c * c) / 2.0;
    }
    for (int i = 0; i < 4; ++i) {
      finite = finite && isfinite(mod[i]);
      worst = fmax(worst, fabs(mod[i] - want[i]));
    }
  }
  CHECK(finite && worst <= 1e-15, "relu K=M=1, w = r v for r = 1, 1/2, -1, 0 (collinear, "
        "opposite, zero): E[delta nu], E[delta lambda], E[delta^2], eg = the exact values within "
        "1e-15 (max %.1e)", worst);
  /* K = M = 2, w_0 = v_0: the 4-field eta^2 terms with a collinear pair */
  const int64_t K = 2, M = 2, d2 = 4;
  double W[MAXN * MAXN], V[MAXN * MAXN], T[MAXN * MAXN], state[2 * MAXN * MAXN], dst[NQ];
  for (int a = 0; a < 2; ++a) {
    const int act = a ? ACT_ABS : ACT_RELU;
    random_weights(K, M, d2, 22, W, V);
    memcpy(W, V, (size_t)d2 * sizeof(double));
    ode_state_from_weights(K, M, d2, W, V, state, T);
    const ode_model m = {.activation = act, .K = K, .M = M, .c = 1.0, .c_teacher = 1.0,
                         .loss_scale = 0.5, .eta = 1.0, .T = T};
    double mod[NQ], mean[NQ], se[NQ];
    int64_t nq = module_values(&m, state, mod), nq3 = 0;
    monte_carlo(&m, W, V, d2, 1000000, 23, mean, se, &nq3);
    double zmax = 0.0;
    finite = 1;
    for (int64_t i = 0; i < nq; ++i) {
      finite = finite && isfinite(mod[i]);
      const double z = fabs(mod[i] - mean[i]) / se[i];
      if (z > zmax || isnan(z)) zmax = z;
    }
    CHECK(finite && nq == nq3 && zmax <= 4.0, "%s K=M=2, w_0 = v_0 (singular covariance): the "
          "expectations are finite and = Monte Carlo (1e6 samples) within 4 standard errors "
          "(max %.2f)", activation_info(act)->name, zmax);
    memcpy(W, V, (size_t)(K * d2) * sizeof(double));
    ode_state_from_weights(K, M, d2, W, V, state, T);
    nq = module_values(&m, state, mod);
    ode_rhs(&m, state, dst);
    double big = 0.0;
    for (int64_t i = 0; i < ode_state_size(&m); ++i) big = fmax(big, fabs(dst[i]));
    CHECK(mod[nq - 1] == 0.0 && big <= 1e-15, "%s, W = V: eg = %g (exactly 0) and the "
          "right-hand side vanishes (max |.| %.1e)", activation_info(act)->name, mod[nq - 1], big);
  }
}

/* E h(X) for X ~ N(mu, sg^2), h = 1{X > 0} (q = 0), relu (1), relu^2 (2) */
static double relu_power(int q, double mu, double sg) {
  const double t = mu / sg, P = 0.5 * erfc(-t / sqrt(2.0));
  const double p = exp(-0.5 * t * t) / sqrt(2.0 * 3.14159265358979323846);
  return q == 0 ? P : (q == 1 ? mu * P + sg * p : (mu * mu + sg * sg) * P + mu * sg * p);
}

/* (g) relu, the eta^2 term with four distinct fields to high accuracy: in a
 * one-factor geometry (field i = n_i (a_i z + sqrt(1 - a_i^2) z_i), z, z_i
 * independent N(0, 1)) the fields are independent given z, so
 * E[1{lambda_k > 0} 1{lambda_j > 0} relu(u_a) relu(u_b)] is a 1-D integral
 * over z of products of E[relu^q | z] (smooth in z: NZ-node Gauss-Hermite) */
static void check_one_factor(void) {
  const int64_t K = 2, M = 2, d = 5, nz = 80;
  const double a[4] = {0.3, -0.5, 0.6, 0.8}, nrm[4] = {0.7, 0.9, 1.0, 1.0};
  double W[2 * 5], V[2 * 5], T[4], state[8], mod[NQ];
  memset(W, 0, sizeof W);
  memset(V, 0, sizeof V);
  for (int i = 0; i < 4; ++i) {
    double *u = i < K ? W + i * d : V + (i - K) * d;
    u[0] = nrm[i] * a[i];
    u[i + 1] = nrm[i] * sqrt(1.0 - a[i] * a[i]);
  }
  ode_state_from_weights(K, M, d, W, V, state, T);
  const ode_model m = {.activation = ACT_RELU, .K = K, .M = M, .c = 0.7, .c_teacher = 1.3,
                       .loss_scale = 0.5, .eta = 1.0, .T = T};
  module_values(&m, state, mod);
  double node[80], weight[80], worst = 0.0;
  gauss_hermite((int)nz, node, weight);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < K; ++j) {
      double ref = 0.0;
      for (int64_t p = 0; p < nz; ++p)
        for (int x = 0; x < 4; ++x)
          for (int y = 0; y < 4; ++y) {
            int q[4] = {-1, -1, -1, -1}; /* -1: absent, else the power of relu */
            q[k] = q[j] = 0;
            q[x] = q[x] < 0 ? 1 : q[x] + 1;
            q[y] = q[y] < 0 ? 1 : q[y] + 1; /* 1{u > 0} relu(u)^q = relu(u)^q */
            double prod = (x < K ? -m.c : m.c_teacher) * (y < K ? -m.c : m.c_teacher);
            for (int i = 0; i < 4; ++i)
              if (q[i] >= 0)
                prod *= relu_power(q[i], nrm[i] * a[i] * node[p],
                                   nrm[i] * sqrt(1.0 - a[i] * a[i]));
            ref += weight[p] * prod;
          }
      ref *= 4.0 * m.loss_scale * m.loss_scale * m.c * m.c;
      worst = fmax(worst, fabs(mod[K * M + K * K + k * K + j] - ref));
    }
  CHECK(worst <= 1e-10, "relu K=M=2, one-factor geometry (four distinct fields, a negative "
        "correlation): E[delta_k delta_j] = a %lld-node 1-D integral of conditional moments "
        "within 1e-10 (max %.1e)", (long long)nz, worst);
}

/* (h) Gauss-Hermite over the eigen-decomposed covariance (m.quadrature)
 * against the closed forms of erf, linear and quadratic, to 1e-10; with
 * SINGULAR, student 0 equals teacher 0 */
static void check_gh_closed(int act, int64_t K, int64_t M, uint64_t seed, int singular) {
  const int64_t d = K + M;
  double W[MAXN * MAXN], V[MAXN * MAXN], T[MAXN * MAXN], state[2 * MAXN * MAXN];
  random_weights(K, M, d, seed, W, V);
  if (singular) memcpy(W, V, (size_t)d * sizeof(double));
  ode_state_from_weights(K, M, d, W, V, state, T);
  ode_model m = {.activation = act, .K = K, .M = M, .c = 0.7, .c_teacher = 1.3,
                 .loss_scale = 0.5, .eta = 1.0, .T = T};
  double closed[NQ], gh[NQ], worst = 0.0;
  int64_t worst_i = 0;
  const int64_t nq = module_values(&m, state, closed);
  m.quadrature = 1;
  module_values(&m, state, gh);
  int finite = 1;
  for (int64_t i = 0; i < nq; ++i) {
    finite = finite && isfinite(gh[i]);
    const double e = fabs(gh[i] - closed[i]);
    if (e > worst || isnan(e)) worst = e, worst_i = i;
  }
  char b[64];
  CHECK(finite && worst <= 1e-10, "%s K=%lld M=%lld seed %llu%s: Gauss-Hermite on the "
        "eigen-decomposition = the closed forms within 1e-10 (max %.1e at %s)",
        activation_info(act)->name, (long long)K, (long long)M, (unsigned long long)seed,
        singular ? ", w_0 = v_0" : "", worst, qname(&m, worst_i, b));
}

/* (d): online SGD with ACT, one fresh sample a step (B = 1), at d = 2000 */
static void check_sgd(int act, double eta) {
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
  const ode_model m = {.activation = act, .K = K, .M = M, .c = 1.0, .c_teacher = 1.0,
                       .loss_scale = 0.5, .eta = eta, .T = T};
  const tsim_activation_info *ai = activation_info(act);
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
        "%s K=M=2 d=%lld eta=%g: the SGD's eg follows the ODE's to alpha=%g within 0.5/sqrt(d) "
        "= %.4f (max %.4f; eg %.4f -> %.4f simulated, %.4f ODE)", ai->name, (long long)d, m.eta,
        (double)(logs * steps_per_log) / (double)d, 0.5 * tol, worst_eg, eg0, eg_end_sim,
        eg_end_ode);
  CHECK(rc == 0 && worst_qr <= 3.0 * tol,
        "%s K=M=2 d=%lld: and Q, R within 3/sqrt(d) = %.4f (max %.4f)", ai->name, (long long)d,
        3.0 * tol, worst_qr);
  free(W);
  free(V);
  free(x);
}

int main(void) {
  check_suite = "ode";
  int all = 1;
  for (int a = 0; a < ACT_COUNT; ++a) all = all && ode_supported(a);
  CHECK(all && !ode_supported(-1) && !ode_supported(ACT_COUNT),
        "every activation supported (closed forms or Gauss-Hermite), nothing else");
  check_linear_exact();
  check_expectations(ACT_ERF, 1, 1, 1, 48, 1.0, 1.0);
  check_expectations(ACT_ERF, 2, 2, 2, 40, 1.0, 1.0);
  check_expectations(ACT_ERF, 2, 2, 3, 40, 0.5, 0.5);
  check_expectations(ACT_ERF, 2, 1, 4, 40, 0.7, 1.3);
  check_expectations(ACT_LINEAR, 2, 2, 5, 4, 1.0, 1.0);
  check_expectations(ACT_QUADRATIC, 2, 2, 6, 8, 0.5, 0.5);
  check_expectations(ACT_QUADRATIC, 1, 2, 7, 8, 1.0, 0.5);
  check_singular();
  check_gradient(ACT_RELU, 1, 1, 41, 1.0, 1.0);
  check_gradient(ACT_RELU, 2, 2, 42, 0.7, 1.3);
  check_gradient(ACT_RELU, 3, 2, 43, 0.5, 1.0);
  check_gradient(ACT_ABS, 2, 2, 44, 0.7, 1.3);
  check_expectations_tol(ACT_RELU, 1, 1, 45, 48, 1.0, 1.0, 5e-3, 1000000);
  check_expectations_tol(ACT_RELU, 2, 2, 46, 24, 0.7, 1.3, 5e-3, 1000000);
  check_expectations_tol(ACT_RELU, 3, 1, 47, 24, 0.5, 1.0, 5e-3, 1000000);
  check_expectations_tol(ACT_ABS, 2, 2, 48, 24, 0.5, 0.5, 5e-3, 1000000);
  check_singular_relu();
  check_one_factor();
  check_gh_closed(ACT_ERF, 1, 1, 51, 0);
  check_gh_closed(ACT_ERF, 2, 2, 52, 0);
  check_gh_closed(ACT_ERF, 2, 2, 53, 1);
  check_gh_closed(ACT_LINEAR, 2, 1, 54, 0);
  check_gh_closed(ACT_QUADRATIC, 2, 1, 55, 1);
  check_expectations_tol(ACT_TANH, 2, 1, 56, 64, 0.7, 1.3, 1e-6, 1000000);
  check_expectations_tol(ACT_SIGMOID, 2, 1, 57, 64, 0.7, 1.3, 1e-10, 200000);
  check_expectations_tol(ACT_SOFTPLUS, 1, 2, 58, 64, 0.7, 1.3, 1e-10, 200000);
  check_expectations_tol(ACT_GELU, 2, 1, 59, 64, 0.7, 1.3, 1e-10, 200000);
  check_sgd(ACT_ERF, 1.5);
  check_sgd(ACT_RELU, 1.0);
  return check_summary();
}
