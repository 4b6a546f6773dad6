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

#include <float.h>
#include <lapacke.h>
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

/* relu and abs. relu(z) = z 1{z > 0}, relu' = 1{z > 0}, so every
 * expectation is a second moment over an orthant,
 *   m(p, q; D) = E[X_p X_q 1{X_i > 0, i in D}],  X ~ N(0, C),
 * over "slots" X (fields of u, possibly repeated):
 *   I2(a, b)       = m(a, b; {a, b}),
 *   I3(a, b, c)    = m(b, c; {a, c}),
 *   I4(a, b, c, e) = m(c, e; {a, b, c, e}).
 * abs(z) = relu(z) + relu(-z) and abs' = 1{z > 0} - 1{-z > 0}: the abs forms
 * are sums over the signs s_i of the non-linear slots of the relu forms of
 * the slots s_i u_i, weighted by the signs of the act' slots.
 *
 * Derivation of m (Tallis's second moment of a truncated normal). Stein's
 * lemma E[X_p g(X)] = sum_k C_pk E[d_k g(X)] with g = X_q 1_D gives
 *   m = C_pq P(D) + sum_{k in D} C_pk E[X_q delta(X_k) 1_{D\k}];
 * given X_k = 0 (density 1/sqrt(2 pi C_kk) there) the rest is Gaussian with
 * covariance C^k = C - C_.k C_k. / C_kk, and Stein's lemma once more gives
 *   E[X_q delta(X_k) 1_{D\k}] = sum_{r in D\k} C^k_qr phi_kr P(D\{k,r} | X_k = X_r = 0),
 * phi_kr = 1 / (2 pi sqrt(C_kk C_rr - C_kr^2)), the density of (X_k, X_r) at
 * 0. The orthant probabilities, rho_ij the correlations:
 *   P(0 slots) = 1, P(1) = 1/2, P(2) = 1/4 + asin(rho_12) / (2 pi),
 *   P(3) = 1/8 + (asin rho_12 + asin rho_13 + asin rho_23) / (4 pi),
 * and the conditional ones (at most 2 slots) the same with the partial
 * correlation. So I2, I3 and I4 with fewer than 4 distinct slots are closed
 * forms (I2 is Cho & Saul's arc-cosine kernel
 * sqrt(C_aa C_bb) (sin t + (pi - t) cos t) / (2 pi), cos t = rho_ab;
 * I3 = C_ab sqrt(C_aa C_cc - C_ac^2) / (2 pi C_aa) + C_bc (pi - t_ac) / (2 pi)).
 * The one 4-D orthant P(4) is a one-dimensional integral (Plackett's
 * identity dP/drho_ij = phi_ij P(the other two | X_i = X_j = 0)) along the
 * correlations t rho, t in [0, 1], from P = 1/16 at t = 0:
 *   P(4) = 1/16 + int_0^1 sum_{i<j} rho_ij / (2 pi sqrt(1 - t^2 rho_ij^2))
 *                 (1/4 + asin(rho_kl.ij(t)) / (2 pi)) dt,
 * by tanh-sinh quadrature (robust to the 1/sqrt peaks near t = 1 when a
 * pair is nearly collinear), halving the step until two levels agree to
 * 1e-14.
 *
 * Singular covariances, exactly: a slot of D with C_ii = 0 is 0, so its
 * indicator is 0 and m = 0; two slots of D that are collinear (C_ij^2 =
 * C_ii C_jj to rounding, 4 eps) have the same indicator (C_ij > 0: one is
 * dropped from D) or disjoint ones (C_ij < 0: m = 0). A student equal to a
 * teacher (or a multiple) is such a pair. Not exact: a linear dependence of
 * three or four slots without a collinear pair (a degenerate conditional
 * variance is then taken as uncorrelated). */
#define MAXS 4

static int collinear(double C[MAXS][MAXS], int i, int j) {
  return C[i][i] * C[j][j] - C[i][j] * C[i][j] <= 4.0 * DBL_EPSILON * C[i][i] * C[j][j];
}

/* det(C_{ij,ij}) times the covariance of X_x, X_y given X_i, X_j */
static double cond_scaled(double C[MAXS][MAXS], int i, int j, int x, int y) {
  const double det = C[i][i] * C[j][j] - C[i][j] * C[i][j];
  return C[x][y] * det - (C[x][i] * C[j][j] * C[i][y] - C[x][i] * C[i][j] * C[j][y] -
                          C[x][j] * C[i][j] * C[i][y] + C[x][j] * C[i][i] * C[j][y]);
}

static double orthant2(double cxy, double cxx, double cyy) {
  const double v = cxx * cyy;
  return 0.25 + (v > 0.0 ? asin(clamp1(cxy / sqrt(v))) : 0.0) / (2.0 * PI);
}

/* P(X_rest > 0 | X_i = X_j = 0), REST of NR <= 2 slots */
static double cond_orthant(double C[MAXS][MAXS], int i, int j, const int *rest, int nr) {
  if (nr == 0) return 1.0;
  if (nr == 1) return 0.5;
  const int x = rest[0], y = rest[1];
  return orthant2(cond_scaled(C, i, j, x, y), cond_scaled(C, i, j, x, x),
                  cond_scaled(C, i, j, y, y));
}

/* Plackett's integrand at t (s = 1 - t) for the correlations R (4 x 4),
 * OMR[i][j] = 1 - R_ij^2 */
static double plackett_integrand(double R[MAXS][MAXS], double omr[MAXS][MAXS],
                                 double t, double s) {
  double Rt[MAXS][MAXS];
  for (int x = 0; x < 4; ++x)
    for (int y = 0; y < 4; ++y) Rt[x][y] = x == y ? 1.0 : t * R[x][y];
  double g = 0.0;
  for (int i = 0; i < 4; ++i)
    for (int j = i + 1; j < 4; ++j) {
      int rest[2], nr = 0;
      for (int x = 0; x < 4; ++x)
        if (x != i && x != j) rest[nr++] = x;
      const double om = omr[i][j] + s * (2.0 - s) * R[i][j] * R[i][j]; /* 1 - t^2 R_ij^2 */
      g += R[i][j] / (2.0 * PI * sqrt(om)) * cond_orthant(Rt, i, j, rest, 2);
    }
  return g;
}

/* P(X_i > 0, i in D), D of ND <= 4 slots, none collinear */
static double orthant(double C[MAXS][MAXS], const int *D, int nd) {
  if (nd == 0) return 1.0;
  if (nd == 1) return 0.5;
  double rho[MAXS][MAXS];
  for (int x = 0; x < nd; ++x)
    for (int y = 0; y < nd; ++y)
      rho[x][y] = clamp1(C[D[x]][D[y]] / sqrt(C[D[x]][D[x]] * C[D[y]][D[y]]));
  if (nd == 2) return 0.25 + asin(rho[0][1]) / (2.0 * PI);
  if (nd == 3) return 0.125 + (asin(rho[0][1]) + asin(rho[0][2]) + asin(rho[1][2])) / (4.0 * PI);
  double omr[MAXS][MAXS];
  for (int x = 0; x < 4; ++x)
    for (int y = 0; y < 4; ++y) {
      const double cxx = C[D[x]][D[x]], cyy = C[D[y]][D[y]], cxy = C[D[x]][D[y]];
      omr[x][y] = fmax(cxx * cyy - cxy * cxy, 0.0) / (cxx * cyy);
    }
  /* tanh-sinh: t = 1 / (1 + e^-v), v = pi sinh u, dt = t (1 - t) pi cosh u du */
  double prev = 0.0, sum = 0.0, h = 1.0;
  for (int level = 0; level < 12; ++level) {
    double add = 0.0;
    const int64_t step = level == 0 ? 1 : 2; /* the new nodes only, after level 0 */
    for (int64_t i = level == 0 ? 0 : 1; i * h <= 4.0; i += step)
      for (int sg = (i == 0 ? 1 : -1); sg <= 1; sg += 2) {
        const double u = sg * (double)i * h, v = PI * sinh(u);
        const double t = 1.0 / (1.0 + exp(-v)), s = 1.0 / (1.0 + exp(v));
        add += plackett_integrand(rho, omr, t, s) * t * s * PI * cosh(u);
      }
    sum += add;
    const double est = sum * h;
    if (level > 2 && fabs(est - prev) <= 1e-14) return 0.0625 + est;
    prev = est;
    h *= 0.5;
  }
  return 0.0625 + prev;
}

/* m(p, q; D): E[X_p X_q 1{X_i > 0, i in D}], D the slots with IND set */
static double orthant_moment(double C[MAXS][MAXS], int ns, const int *ind, int p, int q) {
  int D[MAXS], nd = 0;
  for (int i = 0; i < ns; ++i) {
    if (!ind[i]) continue;
    if (!(C[i][i] > 0.0)) return 0.0;
    int keep = 1;
    for (int r = 0; r < nd && keep; ++r)
      if (collinear(C, i, D[r])) {
        if (C[i][D[r]] < 0.0) return 0.0;
        keep = 0;
      }
    if (keep) D[nd++] = i;
  }
  double m = C[p][q] * orthant(C, D, nd);
  for (int x = 0; x < nd; ++x) {
    const int k = D[x];
    for (int y = 0; y < nd; ++y) {
      if (y == x) continue;
      const int r = D[y];
      int rest[2], nr = 0;
      for (int z = 0; z < nd; ++z)
        if (z != x && z != y) rest[nr++] = D[z];
      const double det = C[k][k] * C[r][r] - C[k][r] * C[k][r];
      const double cq = C[q][r] - C[q][k] * C[k][r] / C[k][k];
      m += C[p][k] * cq / (2.0 * PI * sqrt(det)) * cond_orthant(C, k, r, rest, nr);
    }
  }
  return m;
}

/* The relu (EVEN 0) or abs (EVEN 1) form over the NS fields IDX of u (S the
 * covariance, row stride n): the first NSLOPE slots carry act', slot LIN (or
 * -1) is linear, the others act; the moment is of slots P, Q. */
static double relu_form(const double *S, int64_t n, int even, int ns, const int64_t *idx,
                        int nslope, int lin, int p, int q) {
  int ind[MAXS];
  for (int i = 0; i < ns; ++i) ind[i] = i != lin;
  double total = 0.0;
  const int patterns = even ? 1 << ns : 1;
  for (int pat = 0; pat < patterns; ++pat) {
    double sg[MAXS], w = 1.0, C[MAXS][MAXS];
    for (int i = 0; i < ns; ++i) {
      sg[i] = (i != lin && (pat >> i & 1)) ? -1.0 : 1.0;
      if (i < nslope) w *= sg[i];
    }
    if (even && lin >= 0 && (pat >> lin & 1)) continue; /* the linear slot has no sign */
    for (int x = 0; x < ns; ++x)
      for (int y = 0; y < ns; ++y) C[x][y] = sg[x] * sg[y] * S[idx[x] * n + idx[y]];
    total += w * orthant_moment(C, ns, ind, p, q);
  }
  return total;
}

static double relu_i2(const double *S, int64_t n, int64_t a, int64_t b) {
  const int64_t idx[2] = {a, b};
  return relu_form(S, n, 0, 2, idx, 0, -1, 0, 1);
}
static double relu_i3(const double *S, int64_t n, int64_t a, int64_t b, int64_t c) {
  const int64_t idx[3] = {a, c, b};
  return relu_form(S, n, 0, 3, idx, 1, 2, 2, 1);
}
static double relu_i4(const double *S, int64_t n, int64_t a, int64_t b, int64_t c, int64_t e) {
  const int64_t idx[4] = {a, b, c, e};
  return relu_form(S, n, 0, 4, idx, 2, -1, 2, 3);
}
static double abs_i2(const double *S, int64_t n, int64_t a, int64_t b) {
  const int64_t idx[2] = {a, b};
  return relu_form(S, n, 1, 2, idx, 0, -1, 0, 1);
}
static double abs_i3(const double *S, int64_t n, int64_t a, int64_t b, int64_t c) {
  const int64_t idx[3] = {a, c, b};
  return relu_form(S, n, 1, 3, idx, 1, 2, 2, 1);
}
static double abs_i4(const double *S, int64_t n, int64_t a, int64_t b, int64_t c, int64_t e) {
  const int64_t idx[4] = {a, b, c, e};
  return relu_form(S, n, 1, 4, idx, 2, -1, 2, 3);
}

/* The smooth activations (tanh, sigmoid, softplus, gelu) by Gauss-Hermite.
 * I2, I3, I4 are expectations over at most 4 fields with covariance C (the
 * slots' rows of S). With C = U diag(l) U^T (LAPACKE_dsyev) and the
 * eigenvalues l_i <= 1e-13 max l dropped, the slots are u = U_r sqrt(l_r) z,
 * z ~ N(0, I_r) over the r kept eigenvalues: exact for a singular C (a
 * student equal to a teacher, or a repeated field, loses a dimension), and
 * the product rule with GH_N nodes per dimension integrates z. The rule:
 * GH_N = 56, so that erf through this path matches its closed forms to
 * 1e-10 at the test's points; the slowest of them is w_0 = v_0, a field of
 * variance 1 under act'^2 = (2/pi) e^{-u^2} (32, 40, 48 nodes: 2e-7, 6e-9,
 * 2e-10 off; fields of larger variance need more). The activation table's
 * value and slope are the integrands, as in the simulation. Cost: 56^r
 * points a form, r <= 4 (the eta^2 term's 4-field forms: 9.8e6 each). */
#define GH_N 56

typedef struct gh_rule {
  int act;
  double node[GH_N], weight[GH_N]; /* for N(0, 1) */
} gh_rule;

/* Golub-Welsch: the nodes are the eigenvalues of the Jacobi matrix of the
 * Hermite polynomials He_n, the weights the squared first components */
static void gh_init(gh_rule *g, int act) {
  double e[GH_N], z[GH_N * GH_N];
  g->act = act;
  for (int i = 0; i < GH_N; ++i) g->node[i] = 0.0;
  for (int i = 0; i + 1 < GH_N; ++i) e[i] = sqrt(i + 1.0);
  if (LAPACKE_dstev(LAPACK_COL_MAJOR, 'V', GH_N, g->node, e, z, GH_N) != 0) {
    fprintf(stderr, "tsim: internal: ode: Gauss-Hermite nodes failed\n");
    abort();
  }
  for (int i = 0; i < GH_N; ++i) g->weight[i] = z[i * GH_N] * z[i * GH_N];
}

/* E prod_s g_s(u_idx[s]) over the NS slots IDX (S the covariance, row stride
 * n), g_s = act' for the first NSLOPE slots, the identity for slot LIN (or
 * -1), act for the others */
static double gh_form(const gh_rule *g, const double *S, int64_t n, int ns, const int64_t *idx,
                      int nslope, int lin) {
  const tsim_activation_info *ai = activation_info(g->act);
  double C[MAXS * MAXS], l[MAXS], B[MAXS][MAXS]; /* B: slot s = sum_i B[s][i] z_i */
  for (int x = 0; x < ns; ++x)
    for (int y = 0; y < ns; ++y) C[x * ns + y] = S[idx[x] * n + idx[y]];
  if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', ns, C, ns, l) != 0) {
    fprintf(stderr, "tsim: internal: ode: eigen-decomposition failed\n");
    abort();
  }
  const double lmax = fmax(l[ns - 1], 0.0);
  int r = 0;
  for (int i = 0; i < ns; ++i)
    if (l[i] > 1e-13 * lmax) {
      for (int s = 0; s < ns; ++s) B[s][r] = C[s * ns + i] * sqrt(l[i]);
      ++r;
    }
  int64_t total = 1;
  for (int i = 0; i < r; ++i) total *= GH_N;
  double sum = 0.0;
  for (int64_t p = 0; p < total; ++p) {
    double w = 1.0, z[MAXS], f = 1.0;
    int64_t q = p;
    for (int i = 0; i < r; ++i) {
      z[i] = g->node[q % GH_N];
      w *= g->weight[q % GH_N];
      q /= GH_N;
    }
    for (int s = 0; s < ns; ++s) {
      double u = 0.0;
      for (int i = 0; i < r; ++i) u += B[s][i] * z[i];
      f *= s < nslope ? ai->slope(u) : (s == lin ? u : ai->value(u));
    }
    sum += w * f;
  }
  return sum;
}

static double gh_i2(const gh_rule *g, const double *S, int64_t n, int64_t a, int64_t b) {
  const int64_t idx[2] = {a, b};
  return gh_form(g, S, n, 2, idx, 0, -1);
}
static double gh_i3(const gh_rule *g, const double *S, int64_t n, int64_t a, int64_t b,
                    int64_t c) {
  const int64_t idx[3] = {a, b, c};
  return gh_form(g, S, n, 3, idx, 1, 1);
}
static double gh_i4(const gh_rule *g, const double *S, int64_t n, int64_t a, int64_t b, int64_t c,
                    int64_t e) {
  const int64_t idx[4] = {a, b, c, e};
  return gh_form(g, S, n, 4, idx, 2, -1);
}

static const closed *closed_of(int act) {
  static const closed erf_c = {erf_i2, erf_i3, erf_i4};
  static const closed lin_c = {lin_i2, lin_i3, lin_i4};
  static const closed quad_c = {quad_i2, quad_i3, quad_i4};
  static const closed relu_c = {relu_i2, relu_i3, relu_i4};
  static const closed abs_c = {abs_i2, abs_i3, abs_i4};
  switch ((tsim_activation)act) {
    case ACT_ERF: return &erf_c;
    case ACT_LINEAR: return &lin_c;
    case ACT_QUADRATIC: return &quad_c;
    case ACT_RELU: return &relu_c;
    case ACT_ABS: return &abs_c;
    case ACT_TANH:
    case ACT_SIGMOID:
    case ACT_SOFTPLUS:
    case ACT_GELU: return NULL;
  }
  return NULL;
}

static int smooth(int act) {
  return act == ACT_TANH || act == ACT_SIGMOID || act == ACT_SOFTPLUS || act == ACT_GELU ||
         act == ACT_ERF || act == ACT_LINEAR || act == ACT_QUADRATIC;
}

int ode_supported(int act) {
  return act >= 0 && act < ACT_COUNT && (closed_of(act) != NULL || smooth(act));
}

/* The forms of M's activation: its closed forms, else (or with
 * m->quadrature) Gauss-Hermite */
typedef struct forms {
  const closed *cl;
  gh_rule gh;
} forms;

static void forms_init(forms *f, const ode_model *m) {
  f->cl = m->quadrature ? NULL : closed_of(m->activation);
  if (f->cl) return;
  if (!(m->activation >= 0 && m->activation < ACT_COUNT && smooth(m->activation))) {
    /* a caller's error: ode_supported says which have them */
    fprintf(stderr, "tsim: internal: ode: activation %d: no closed forms, not smooth\n",
            m->activation);
    abort();
  }
  gh_init(&f->gh, m->activation);
}

static double f_i2(const forms *f, const double *S, int64_t n, int64_t a, int64_t b) {
  return f->cl ? f->cl->i2(S, n, a, b) : gh_i2(&f->gh, S, n, a, b);
}
static double f_i3(const forms *f, const double *S, int64_t n, int64_t a, int64_t b, int64_t c) {
  return f->cl ? f->cl->i3(S, n, a, b, c) : gh_i3(&f->gh, S, n, a, b, c);
}
static double f_i4(const forms *f, const double *S, int64_t n, int64_t a, int64_t b, int64_t c,
                   int64_t e) {
  return f->cl ? f->cl->i4(S, n, a, b, c, e) : gh_i4(&f->gh, S, n, a, b, c, e);
}

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

void ode_expectations(const ode_model *m, const double *state, double *edn, double *edl,
                      double *edd) {
  forms fm;
  forms_init(&fm, m);
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
      for (int64_t a = 0; a < n; ++a) acc += GAMMA(a) * f_i3(&fm, S, n, k, b, a);
      *out = 2.0 * s * c * acc;
    }
  if (edd)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j <= k; ++j) {
        double acc = 0.0;
        for (int64_t a = 0; a < n; ++a)
          for (int64_t b = 0; b < n; ++b) acc += GAMMA(a) * GAMMA(b) * f_i4(&fm, S, n, k, j, a, b);
        edd[k * K + j] = edd[j * K + k] = 4.0 * s * s * c * c * acc;
      }
#undef GAMMA
  free(S);
}

double ode_eg(const ode_model *m, const double *state) {
  forms fm;
  forms_init(&fm, m);
  const int64_t K = m->K, M = m->M, n = K + M;
  double *S = tsim_xmalloc((size_t)(n * n) * sizeof(double));
  covariance(m, state, S);
  /* students' and teachers' sums apart: at W = V with c = c_teacher the
   * three are the same bits and eg is exactly 0 */
  double ss = 0.0, st = 0.0, tt = 0.0;
  for (int64_t a = 0; a < K; ++a)
    for (int64_t b = 0; b < K; ++b) ss += f_i2(&fm, S, n, a, b);
  for (int64_t a = 0; a < K; ++a)
    for (int64_t l = 0; l < M; ++l) st += f_i2(&fm, S, n, a, K + l);
  for (int64_t l = 0; l < M; ++l)
    for (int64_t j = 0; j < M; ++j) tt += f_i2(&fm, S, n, K + l, K + j);
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
  forms fm;
  forms_init(&fm, m); /* an unsupported activation aborts here, not mid-integration */
  return flow_integrate(negated_rhs, (void *)m, ode_state_size(m), state, a0, a1, rtol, atol,
                        stats);
}
