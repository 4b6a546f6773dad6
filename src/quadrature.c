/* quadrature.c - Gauss-Hermite population loss (see quadrature.h). */
#include "tsim/quadrature.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/activation.h"
#include "tsim/population.h"

#define PI 3.14159265358979323846

void dstev_(const char *jobz, const int *n, double *d, double *e, double *z, const int *ldz,
            double *work, int *info, size_t jobz_len);

/* Kept nodes: x = sqrt2 s_i and w = w_i / sqrt(pi), so that E f(Z) = sum w f(x);
 * and the n-point Gauss-Laguerre rule (weight e^{-u}) as y = sqrt(2 u_l), v =
 * sqrt(2/pi) lambda_l, so that E |Z| f(Z) = sum v f(y) for an even f. */
typedef struct rule {
  int n, kept, lkept;
  double *x, *w, *y, *v;
} rule;

/* p_{n-1}(s) and p_n(s) of the orthonormal Hermite polynomials (weight
 * e^{-s^2}), p_j = s A_j p_{j-1} - B_j p_{j-2}, scaled by 2^-*E2 against
 * overflow */
static void hermite(int n, const double *A, const double *B, double s, double *pm1, double *pn,
                    int *e2) {
  double p0 = 0.0, p1 = pow(PI, -0.25);
  int e = 0;
  for (int j = 1; j <= n; ++j) {
    const double p2 = s * A[j] * p1 - B[j] * p0;
    p0 = p1;
    p1 = p2;
    if (fabs(p1) > 0x1p500) {
      p0 = ldexp(p0, -500);
      p1 = ldexp(p1, -500);
      e += 500;
    }
  }
  *pm1 = p0;
  *pn = p1;
  *e2 = e;
}

static void laguerre_make(rule *r, int n);

static void rule_make(rule *r, int n) {
  double *d = tsim_xcalloc((size_t)n, sizeof(double));
  double *off = tsim_xcalloc((size_t)n, sizeof(double));
  double *A = tsim_xcalloc((size_t)n + 1, sizeof(double));
  double *B = tsim_xcalloc((size_t)n + 1, sizeof(double));
  for (int j = 1; j < n; ++j) off[j - 1] = sqrt(j / 2.0); /* the Jacobi matrix */
  for (int j = 1; j <= n; ++j) A[j] = sqrt(2.0 / j), B[j] = sqrt((j - 1.0) / j);
  int info = 0, one = 1;
  dstev_("N", &n, d, off, NULL, &one, NULL, &info, 1); /* ascending eigenvalues */
  r->n = n;
  r->kept = 0;
  r->x = tsim_xcalloc((size_t)n, sizeof(double));
  r->w = tsim_xcalloc((size_t)n, sizeof(double));
  double *s = off; /* the nodes s >= 0, polished; the negative ones are their mirrors */
  const int half = (n + 1) / 2;
  for (int i = 0; i < half; ++i) {
    double z = n % 2 && i == 0 ? 0.0 : fabs(d[n / 2 + i]), pm1 = 0.0, pn = 0.0;
    int e2 = 0;
    if (z > 10.0) { /* weight below e^-100 */
      s[i] = z;
      d[i] = 0.0;
      continue;
    }
    for (int it = 0; it < 4 && z != 0.0; ++it) { /* p_n' = sqrt(2n) p_{n-1} */
      hermite(n, A, B, z, &pm1, &pn, &e2);
      z -= pn / (sqrt(2.0 * n) * pm1);
    }
    hermite(n, A, B, z, &pm1, &pn, &e2);
    s[i] = z;
    /* w = 1 / (n p_{n-1}^2), p_{n-1} = pm1 2^e2 */
    d[i] = exp(-log((double)n) - 2.0 * (log(fabs(pm1)) + e2 * log(2.0)));
  }
  /* ascending order, weights below 1e-40 dropped (symmetric: the same on both sides) */
  for (int i = half - 1; i >= (n % 2); --i)
    if (d[i] / sqrt(PI) >= 1e-40) {
      r->x[r->kept] = -sqrt(2.0) * s[i];
      r->w[r->kept++] = d[i] / sqrt(PI);
    }
  for (int i = 0; i < half; ++i)
    if (d[i] / sqrt(PI) >= 1e-40) {
      r->x[r->kept] = sqrt(2.0) * s[i];
      r->w[r->kept++] = d[i] / sqrt(PI);
    }
  free(d);
  free(off);
  free(A);
  free(B);
  laguerre_make(r, n);
}

/* The Laguerre nodes: Golub-Welsch (diagonal 2j + 1, off-diagonal j), then
 * Newton on L_n (L_n' = n (L_n - L_{n-1}) / u); weight 1 / sum_{j<n} L_j(u)^2
 * (Christoffel), for the nodes below 100 only (beyond, e^-u < 1e-43). */
static void laguerre_make(rule *r, int n) {
  double *d = tsim_xcalloc((size_t)n, sizeof(double));
  double *off = tsim_xcalloc((size_t)n, sizeof(double));
  for (int j = 0; j < n; ++j) d[j] = 2.0 * j + 1.0;
  for (int j = 1; j < n; ++j) off[j - 1] = j;
  int info = 0, one = 1;
  dstev_("N", &n, d, off, NULL, &one, NULL, &info, 1);
  r->y = tsim_xcalloc((size_t)n, sizeof(double));
  r->v = tsim_xcalloc((size_t)n, sizeof(double));
  r->lkept = 0;
  for (int i = 0; i < n && d[i] < 100.0; ++i) {
    double u = d[i], sum = 0.0;
    for (int it = 0; it <= 4; ++it) {
      double l0 = 0.0, l1 = 1.0;
      sum = 0.0;
      for (int j = 0; j < n; ++j) {
        sum += l1 * l1;
        const double l2 = ((2.0 * j + 1.0 - u) * l1 - j * l0) / (j + 1.0);
        l0 = l1;
        l1 = l2;
      }
      if (it < 4) u -= l1 * u / (n * (l1 - l0)); /* l1 = L_n, l0 = L_{n-1} */
    }
    const double w = 1.0 / sum;
    if (w < 1e-40) continue;
    r->y[r->lkept] = sqrt(2.0 * u);
    r->v[r->lkept++] = sqrt(2.0 / PI) * w;
  }
  free(d);
  free(off);
}

static void rule_free(rule *r) {
  free(r->x);
  free(r->w);
  free(r->y);
  free(r->v);
}

/* Neumaier's compensated sum */
typedef struct {
  double s, c;
} csum;
static void csum_add(csum *a, double v) {
  const double t = a->s + v;
  a->c += fabs(a->s) >= fabs(v) ? (a->s - t) + v : (v - t) + a->s;
  a->s = t;
}

/* act = al z + be |z|: relu (1/2, 1/2), abs (0, 1), linear (1, 0); 0 otherwise */
static int piecewise(int act, double *al, double *be) {
  *al = act == ACT_RELU ? 0.5 : act == ACT_LINEAR ? 1.0 : 0.0;
  *be = act == ACT_RELU ? 0.5 : act == ACT_ABS ? 1.0 : 0.0;
  return act == ACT_RELU || act == ACT_ABS || act == ACT_LINEAR;
}

/* G(z) = E h(b (cos t z + sin t Z2)) by the Hermite rule */
static double inner(const rule *r, const tsim_activation_info *h, double b, double ct,
                    double st, double z) {
  if (st == 0.0) return h->value(b * ct * z);
  csum in = {0.0, 0.0};
  for (int j = 0; j < r->kept; ++j)
    csum_add(&in, r->w[j] * h->value(b * (ct * z + st * r->x[j])));
  return in.s + in.c;
}

/* k for activations G, H. The kinks of relu and abs would make the rule
 * converge only algebraically: between two of relu, abs, linear k is closed
 * (al al' u.w + be be' E|u.x||w.x|, the cross terms odd); one kinked
 * activation g(a z) = a (al z + be |z|) is put in the outer variable, with
 * E |Z1| G(Z1) = E |Z1| (G(Z1) + G(-Z1)) / 2 by the Laguerre rule in
 * u = Z1^2 / 2, where the even part of G is smooth. */
static double kernel(const rule *r, int gid, int hid, double a, double b, double t) {
  double ct = cos(t), st = sin(t), al, be, al2, be2;
  if (t == PI) ct = -1.0, st = 0.0; /* exactly parallel, either way */
  const int pg = piecewise(gid, &al, &be), ph = piecewise(hid, &al2, &be2);
  if (pg && ph)
    return a * b * (al * al2 * ct + be * be2 * 2.0 / PI * (st + (PI / 2.0 - t) * ct));
  if (ph && be2 != 0.0) { /* k is symmetric: the kinked one outside */
    const int i = gid;
    const double x = a;
    gid = hid, hid = i, a = b, b = x, al = al2, be = be2;
  }
  const tsim_activation_info *g = activation_info(gid), *h = activation_info(hid);
  csum out = {0.0, 0.0};
  if ((gid == ACT_RELU || gid == ACT_ABS)) {
    for (int i = 0; i < r->kept && al != 0.0; ++i)
      csum_add(&out, a * al * r->w[i] * r->x[i] * inner(r, h, b, ct, st, r->x[i]));
    for (int l = 0; l < r->lkept; ++l)
      csum_add(&out, a * be * r->v[l] * 0.5 *
                         (inner(r, h, b, ct, st, r->y[l]) + inner(r, h, b, ct, st, -r->y[l])));
    return out.s + out.c;
  }
  for (int i = 0; i < r->kept; ++i) {
    const double gi = g->value(a * r->x[i]);
    if (gi != 0.0) csum_add(&out, r->w[i] * gi * inner(r, h, b, ct, st, r->x[i]));
  }
  return out.s + out.c;
}

/* Nodes for activations G, H at norms up to SCALE: n = 24 + c SCALE^2 (to
 * 4096), c = 120 with tanh, else 30. The poles of tanh at +-i pi/2 (twice
 * as far for sigmoid and softplus; erf and gelu are entire) bound the
 * geometric rate, which falls like exp(-pi sqrt(2n) / (2 sqrt2 SCALE)) for
 * tanh: n grows as SCALE^2. Measured against 4n nodes at |u|, |w| <= 3:
 * within 1e-14 relative (tanh near 1e-14 at SCALE 1, 2, 3 with c = 120). */
int quadrature_nodes(int g, int h, double scale) {
  const double c = g == ACT_TANH || h == ACT_TANH ? 120.0 : 30.0;
  const double n = 24.0 + c * scale * scale;
  return n < 4096.0 ? (int)n : 4096;
}

double quadrature_kernel(int g, int h, double a, double b, double t, int n) {
  rule r;
  rule_make(&r, n);
  const double k = kernel(&r, g, h, a, b, t);
  rule_free(&r);
  return k;
}

/* For smooth G, H: K[0] = E g(u.x) h(w.x), and by Stein's lemma
 * d/du E g(u.x) h(w.x) = E g'(u.x) h(w.x) x = K[1] u + K[2] w with
 * K[1] = E g''(u.x) h(w.x), K[2] = E g'(u.x) h'(w.x): one sweep of the rule. */
static void kernel_grad(const rule *r, const tsim_activation_info *g,
                        const tsim_activation_info *h, double a, double b, double t,
                        double K[3]) {
  double ct = cos(t), st = sin(t);
  if (t == PI) ct = -1.0, st = 0.0;
  csum o[3] = {{0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}};
  for (int i = 0; i < r->kept; ++i) {
    const double z = a * r->x[i];
    const double g0 = g->value(z), g1 = g->slope(z), g2 = g->second(z);
    csum h0 = {0.0, 0.0}, h1 = {0.0, 0.0};
    if (st == 0.0) {
      h0.s = h->value(b * ct * r->x[i]);
      h1.s = h->slope(b * ct * r->x[i]);
    } else {
      for (int j = 0; j < r->kept; ++j) {
        const double y = b * (ct * r->x[i] + st * r->x[j]);
        csum_add(&h0, r->w[j] * h->value(y));
        csum_add(&h1, r->w[j] * h->slope(y));
      }
    }
    const double H0 = h0.s + h0.c, H1 = h1.s + h1.c;
    csum_add(&o[0], r->w[i] * g0 * H0);
    csum_add(&o[1], r->w[i] * g2 * H0);
    csum_add(&o[2], r->w[i] * g1 * H1);
  }
  for (int q = 0; q < 3; ++q) K[q] = o[q].s + o[q].c;
}

double quadrature_loss_grad(const tsim_model *m, const tsim_teacher *t, double label_noise,
                            const double *W, double *grad) {
  const int64_t d = m->d, K = m->K, N = K + t->m;
  const tsim_activation_info *ga = activation_info(m->activation);
  const tsim_activation_info *ta = activation_info(t->activation);
  const double **z = tsim_xcalloc((size_t)N, sizeof(double *));
  double *nrm = tsim_xcalloc((size_t)N, sizeof(double));
  double *c = tsim_xcalloc((size_t)N, sizeof(double));
  double scale = 0.0;
  for (int64_t i = 0; i < N; ++i) {
    z[i] = i < K ? W + i * d : t->V + (i - K) * d;
    double q = 0.0;
    for (int64_t e = 0; e < d; ++e) q += z[i][e] * z[i][e];
    nrm[i] = sqrt(q);
    c[i] = i < K ? m->C * model_output_weight(m, W, i, nrm[i]) : -teacher_weight(t, i - K);
    if (!(nrm[i] <= scale)) scale = nrm[i];
  }
  const int64_t np = K * d + (m->train_output ? K : 0); /* the parameters */
  if (grad) memset(grad, 0, (size_t)np * sizeof(double));
  double loss = NAN;
  if (isfinite(scale)) {
    rule r;
    rule_make(&r, quadrature_nodes(ga->id, ta->id, scale));
    csum sum = {0.0, 0.0};
    for (int64_t i = 0; i < N; ++i) {
      csum kc = {0.0, 0.0}; /* sum_j c_j k(z_i, z_j) */
      for (int64_t j = i < K && grad ? 0 : i; j < N; ++j) {
        const tsim_activation_info *gi = i < K ? ga : ta, *gj = j < K ? ga : ta;
        const double tij = activation_angle(z[i], z[j], d);
        double Kq[3];
        if (i < K && grad) {
          kernel_grad(&r, gi, gj, nrm[i], nrm[j], tij, Kq);
          const double f1 = 2.0 * c[i] * c[j] * Kq[1], f2 = 2.0 * c[i] * c[j] * Kq[2];
          for (int64_t e = 0; e < d; ++e) grad[i * d + e] += f1 * z[i][e] + f2 * z[j][e];
          csum_add(&kc, c[j] * Kq[0]);
        } else {
          Kq[0] = kernel(&r, gi->id, gj->id, nrm[i], nrm[j], tij);
        }
        if (j >= i) csum_add(&sum, (i == j ? 1.0 : 2.0) * c[i] * c[j] * Kq[0]);
      }
      if (grad && i < K && m->train_output) /* dL/da_i = 2 s C sum_j c_j k(z_i, z_j) */
        grad[K * d + i] = 2.0 * m->C * (kc.s + kc.c);
      if (grad && i < K && m->norm_tied && nrm[i] > 0.0) {
        const double f = 2.0 * m->C * (kc.s + kc.c) / nrm[i];
        for (int64_t e = 0; e < d; ++e) grad[i * d + e] += f * z[i][e];
      }
    }
    rule_free(&r);
    loss = m->loss_scale * ((sum.s + sum.c) + label_noise * label_noise);
    if (grad)
      for (int64_t e = 0; e < np; ++e) grad[e] *= m->loss_scale;
  }
  free(z);
  free(nrm);
  free(c);
  return loss;
}

double quadrature_loss(const tsim_model *m, const tsim_teacher *t, double label_noise,
                       const double *W, int *nodes) {
  const int64_t d = m->d, K = m->K, N = K + t->m;
  const double **z = tsim_xcalloc((size_t)N, sizeof(double *));
  double *nrm = tsim_xcalloc((size_t)N, sizeof(double));
  double *c = tsim_xcalloc((size_t)N, sizeof(double));
  double scale = 0.0;
  const int ga = m->activation, ta = t->activation;
  for (int64_t i = 0; i < N; ++i) {
    z[i] = i < K ? W + i * d : t->V + (i - K) * d;
    double q = 0.0;
    for (int64_t e = 0; e < d; ++e) q += z[i][e] * z[i][e];
    nrm[i] = sqrt(q);
    c[i] = i < K ? m->C * model_output_weight(m, W, i, nrm[i]) : -teacher_weight(t, i - K);
    if (!(nrm[i] <= scale)) scale = nrm[i]; /* NaN propagates */
  }
  double loss = NAN;
  int n = 0;
  if (isfinite(scale)) {
    n = quadrature_nodes(ga, ta, scale);
    rule r;
    rule_make(&r, n);
    csum sum = {0.0, 0.0};
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = i; j < N; ++j) {
        const double k = kernel(&r, i < K ? ga : ta, j < K ? ga : ta, nrm[i], nrm[j],
                                activation_angle(z[i], z[j], d));
        csum_add(&sum, (i == j ? 1.0 : 2.0) * c[i] * c[j] * k);
      }
    rule_free(&r);
    loss = m->loss_scale * ((sum.s + sum.c) + label_noise * label_noise);
  }
  if (nodes) *nodes = n;
  free(z);
  free(nrm);
  free(c);
  return loss;
}
