/* population.c - closed-form population loss and gradient (see
 * population.h for the formulas and their sources). */
#include "tsim/population.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/quadrature.h"

struct population {
  const tsim_model *m;
  const tsim_teacher *t;
  double noise, noise2; /* sigma and sigma^2 of the label noise */
  int64_t N;         /* K students + m teachers */
  const double **z;  /* the N vectors */
  double *c;         /* their output coefficients (teachers negative) */
  double *nrm;       /* their norms */
  double *dots;      /* N x N inner products */
  double *ang;       /* N x N angles (relu, abs) */
  double *S;         /* sum_i c_i z_i (d) */
};

population *population_create(const tsim_model *m, const tsim_teacher *t,
                              double label_noise) {
  population *p = tsim_xcalloc(1, sizeof *p);
  p->m = m;
  p->t = t;
  p->noise = label_noise;
  p->noise2 = label_noise * label_noise;
  p->N = m->K + t->m;
  const size_t N = (size_t)p->N;
  p->z = tsim_xcalloc(N, sizeof(double *));
  p->c = tsim_xcalloc(N, sizeof(double));
  p->nrm = tsim_xcalloc(N, sizeof(double));
  p->dots = tsim_xcalloc(N * N, sizeof(double));
  p->ang = tsim_xcalloc(N * N, sizeof(double));
  p->S = tsim_xcalloc((size_t)m->d, sizeof(double));
  return p;
}

void population_destroy(population **pp) {
  if (!pp || !*pp) return;
  population *p = *pp;
  free(p->z);
  free(p->c);
  free(p->nrm);
  free(p->dots);
  free(p->ang);
  free(p->S);
  free(p);
  *pp = NULL;
}

static double dotv(const double *a, const double *b, int64_t n) {
  double s = 0.0;
  for (int64_t j = 0; j < n; ++j) s += a[j] * b[j];
  return s;
}

__attribute__((noreturn)) static void no_closed_form(const tsim_activation_info *act) {
  fprintf(stderr, "tsim: internal: no population closed form for activation %s\n", act->name);
  abort();
}

/* h(t) = sin t - t cos t, by its Taylor series where the difference would
 * lose digits: sum_k (-1)^(k+1) 2k t^(2k+1) / (2k+1)!. */
static double h_angle(double t) {
  if (t < 0.1) {
    const double t2 = t * t;
    return t * t2 *
           (1.0 / 3.0 +
            t2 * (-1.0 / 30.0 +
                  t2 * (1.0 / 840.0 + t2 * (-1.0 / 45360.0 + t2 / 3991680.0))));
  }
  return sin(t) - t * cos(t);
}

/* erf(z/sqrt 2) (Williams' arcsine kernel): with a = 1 + |u|^2,
 * b = 1 + |w|^2, g = u.w, k(u, w) = (2/pi) asin(g / sqrt(ab)) and
 * dk/du = (2/pi) (w - (g/a) u) / sqrt(ab - g^2), ab - g^2 = 1 + |u|^2 +
 * |w|^2 + (|u|^2 |w|^2 - g^2) >= 1. L = s (sum_ij c_i c_j k(z_i, z_j) +
 * noise^2), dL/dz_i = 2 s c_i sum_j c_j dk/du(z_i, z_j) (j = i too: k is
 * symmetric), and the norm tie's 2 s C w^_i sum_j c_j k(z_i, z_j). */
static double arcsin_loss(population *p, const double *W, double *grad) {
  const tsim_model *m = p->m;
  const int64_t d = m->d, K = m->K, N = p->N;
  const double twopi = 2.0 / 3.14159265358979323846;
  for (int64_t i = 0; i < N; ++i) {
    p->z[i] = i < K ? W + i * d : p->t->V + (i - K) * d;
    p->nrm[i] = sqrt(dotv(p->z[i], p->z[i], d));
    p->c[i] = i < K ? m->C * model_output_weight(m, W, i, p->nrm[i])
                    : -teacher_weight(p->t, i - K);
  }
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = i; j < N; ++j)
      p->dots[i * N + j] = p->dots[j * N + i] = dotv(p->z[i], p->z[j], d);
  double loss = 0.0;
  for (int64_t i = 0; i < N; ++i) {
    const double ai = 1.0 + p->dots[i * N + i];
    double kc = 0.0;
    if (grad && i < K) memset(grad + i * d, 0, (size_t)d * sizeof(double));
    for (int64_t j = 0; j < N; ++j) {
      const double bj = 1.0 + p->dots[j * N + j], g = p->dots[i * N + j];
      const double k = twopi * asin(g / sqrt(ai * bj));
      kc += p->c[j] * k;
      if (!grad || i >= K) continue;
      const double cross = fmax((ai - 1.0) * (bj - 1.0) - g * g, 0.0);
      const double f = 2.0 * p->c[i] * p->c[j] * twopi / sqrt(ai + bj - 1.0 + cross);
      double *gi = grad + i * d;
      for (int64_t e = 0; e < d; ++e) gi[e] += f * (p->z[j][e] - g / ai * p->z[i][e]);
    }
    loss += p->c[i] * kc;
    if (grad && i < K && m->train_output) /* dL/da_i = 2 s C sum_j c_j k(z_i, z_j) */
      grad[K * d + i] = m->loss_scale * 2.0 * m->C * kc;
    if (grad && i < K && m->norm_tied && p->nrm[i] > 0.0) {
      const double f = 2.0 * m->C * kc / p->nrm[i];
      for (int64_t e = 0; e < d; ++e) grad[i * d + e] += f * p->z[i][e];
    }
  }
  if (grad)
    for (int64_t e = 0; e < K * d; ++e) grad[e] *= m->loss_scale;
  return m->loss_scale * (loss + p->noise2);
}

double population_loss(population *p, const double *W, double *grad) {
  const tsim_model *m = p->m;
  const int64_t d = m->d, K = m->K, N = p->N;
  const tsim_activation_info *act = activation_info(m->activation);
  int arccos = 0;
  switch (act->population) {
    case ACT_POP_ISSERLIS: break;
    case ACT_POP_ARCCOS: arccos = 1; break;
    case ACT_POP_ARCSIN: return arcsin_loss(p, W, grad);
    case ACT_POP_NONE: /* the smooth ones: by quadrature */
      if (!act->smooth) no_closed_form(act);
      return quadrature_loss_grad(m, p->t, p->noise, W, grad);
  }
  for (int64_t i = 0; i < N; ++i) {
    p->z[i] = i < K ? W + i * d : p->t->V + (i - K) * d;
    p->nrm[i] = sqrt(dotv(p->z[i], p->z[i], d));
    p->c[i] = i < K ? m->C * model_output_weight(m, W, i, p->nrm[i])
                    : -teacher_weight(p->t, i - K);
  }
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = i; j < N; ++j) {
      const double g = dotv(p->z[i], p->z[j], d);
      p->dots[i * N + j] = p->dots[j * N + i] = g;
      if (arccos) {
        const double a = j == i ? 0.0 : activation_angle(p->z[i], p->z[j], d);
        p->ang[i * N + j] = p->ang[j * N + i] = a;
      }
    }
  const double s = m->loss_scale;
  /* sum_j c_j k(z_i, z_j) for every i: the loss and the norm tie need it */
  double loss = 0.0;
  double *kc = tsim_xcalloc((size_t)N, sizeof(double));
  if (!arccos) {
    double trace = 0.0; /* tr A, A = sum_i c_i z_i z_i^T */
    for (int64_t i = 0; i < N; ++i) trace += p->c[i] * p->nrm[i] * p->nrm[i];
    double fro2 = 0.0;  /* ||A||_F^2 = sum_ij c_i c_j (z_i.z_j)^2 */
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < N; ++j) {
        const double g = p->dots[i * N + j];
        fro2 += p->c[i] * p->c[j] * g * g;
        kc[i] += p->c[j] * (p->nrm[i] * p->nrm[i] * p->nrm[j] * p->nrm[j] + 2.0 * g * g);
      }
    loss = 2.0 * fro2 + trace * trace; /* E (x^T A x)^2 */
    if (grad)
      for (int64_t i = 0; i < K; ++i) {
        /* 2 c_i sum_j c_j (2|z_j|^2 z_i + 4 (z_i.z_j) z_j) = 2 c_i (2 tr A z_i + 4 A z_i) */
        double *gi = grad + i * d;
        for (int64_t e = 0; e < d; ++e) gi[e] = 4.0 * p->c[i] * trace * p->z[i][e];
        for (int64_t j = 0; j < N; ++j) {
          const double f = 8.0 * p->c[i] * p->c[j] * p->dots[i * N + j];
          for (int64_t e = 0; e < d; ++e) gi[e] += f * p->z[j][e];
        }
      }
  } else {
    const double alpha = act->alpha, beta = act->beta;
    memset(p->S, 0, (size_t)d * sizeof(double));
    for (int64_t i = 0; i < N; ++i)
      for (int64_t e = 0; e < d; ++e) p->S[e] += p->c[i] * p->z[i][e];
    double curved = 0.0; /* sum_ij c_i c_j |z_i||z_j| h(t_ij) */
    for (int64_t i = 0; i < N; ++i) {
      double row = 0.0;
      for (int64_t j = 0; j < N; ++j)
        if (j != i) row += p->c[j] * p->nrm[j] * h_angle(p->ang[i * N + j]);
      curved += p->c[i] * p->nrm[i] * row;
      kc[i] = alpha * dotv(p->z[i], p->S, d) + beta * p->nrm[i] * row;
    }
    loss = alpha * dotv(p->S, p->S, d) + beta * curved;
    if (grad)
      for (int64_t i = 0; i < K; ++i) {
        double *gi = grad + i * d;
        if (p->nrm[i] == 0.0 && beta != 0.0) { /* act'(0) = 0: no gradient at the origin */
          memset(gi, 0, (size_t)d * sizeof(double));
          continue;
        }
        /* 2 c_i sum_j c_j g(z_i, z_j), g = alpha z_j + beta (|z_j| sin t z^_i - t z_j) */
        double radial = 0.0;
        for (int64_t e = 0; e < d; ++e) gi[e] = 2.0 * p->c[i] * alpha * p->S[e];
        for (int64_t j = 0; j < N; ++j) {
          if (j == i || p->nrm[j] == 0.0) continue;
          const double t = p->ang[i * N + j];
          radial += p->c[j] * p->nrm[j] * sin(t);
          const double f = -2.0 * p->c[i] * beta * p->c[j] * t;
          for (int64_t e = 0; e < d; ++e) gi[e] += f * p->z[j][e];
        }
        if (beta == 0.0) continue; /* linear: u.w alone */
        const double fr = 2.0 * p->c[i] * beta * radial / p->nrm[i];
        for (int64_t e = 0; e < d; ++e) gi[e] += fr * p->z[i][e];
      }
  }
  if (grad) {
    for (int64_t i = 0; i < K; ++i) {
      double *gi = grad + i * d;
      if (m->norm_tied && p->nrm[i] > 0.0) { /* d c_i / d w_i = C w^_i */
        const double f = 2.0 * m->C * kc[i] / p->nrm[i];
        for (int64_t e = 0; e < d; ++e) gi[e] += f * p->z[i][e];
      }
      for (int64_t e = 0; e < d; ++e) gi[e] *= s;
      if (m->train_output) grad[K * d + i] = s * 2.0 * m->C * kc[i]; /* dL/da_i */
    }
  }
  free(kc);
  return s * (loss + p->noise2);
}

/* B += f (c u w^T + c w u^T + e I) for d x d B */
static void add_pair(double *B, int64_t d, double f, const double *u, const double *w, double c,
                     double e) {
  for (int64_t a = 0; a < d; ++a)
    for (int64_t b = 0; b < d; ++b)
      B[a * d + b] += f * (c * (u[a] * w[b] + w[a] * u[b]) + (a == b ? e : 0.0));
}

/* The blocks of d^2 L / dw_k dw_l (population.h), from the second
 * derivatives of k(u, w). With L = s sum_ij c_i c_j k(z_i, z_j):
 *   k != l: 2 s C^2 d2k/du dw (w_k, w_l);
 *   k == l: s [C^2 Hess k(u, u) + 2 C sum_(j != k) c_j d2k/du2 (w_k, z_j)].
 * Quadratic (differentiating |u|^2 |w|^2 + 2 (u.w)^2): d2k/du dw =
 * 4 (u w^T + w u^T + (u.w) I), d2k/du2 = 2 |w|^2 I + 4 w w^T, Hess k(u, u) =
 * 12 |u|^2 I + 24 u u^T. Relu and abs (differentiating population.h's
 * gradient alpha w + beta (|w| sin t u^ - t w), with p = w^ - cos t u^,
 * q = u^ - cos t w^):
 *   d2k/du dw = alpha I + beta (sin t u^ w^^T - t I + p q^T / sin t)
 *             = E act'(u.x) act'(w.x) x x^T (no kink term),
 *   d2k/du2   = beta |w|/|u| (sin t (I - u^ u^^T) + p p^T / sin t)
 *             = E act''(u.x) act(w.x) x x^T, act'' = delta (relu), 2 delta (abs):
 * the kinks' term, zero only where act(w.x) vanishes on the plane u.x = 0;
 * Hess k(u, u) = 2 alpha I. Both vanish as sin t -> 0 (|p| = |q| = sin t). */
/* The arcsine kernel's blocks (C = m->C, a = 1 + |u|^2, b = 1 + |w|^2,
 * g = u.w, D = ab - g^2 >= 1, v = a w - g u, k_u = (2/pi)(w - (g/a) u) / sqrt D):
 *   d^2 k / du dw = (2/pi) ((I - u u^T / a) / sqrt D - v v^T / (a D^(3/2)))
 *   d^2 k / du du = (2/pi) ((-(g/a) I - u w^T / a + 2 g u u^T / a^2) / sqrt D
 *                           - (w - (g/a) u)(b u - g w)^T / D^(3/2))
 * and k(u, u) = phi(|u|^2), phi(r) = (2/pi) asin(r / (1 + r)): its Hessian
 * 2 phi' I + 4 phi'' u u^T, phi' = (2/pi) / ((1 + r) sqrt(1 + 2r)). Block
 * (k, l != k): 2 C^2 d^2k/dudw (w_k, w_l); (k, k): 2 C sum_{j != k} c_j
 * d^2k/dudu (w_k, z_j) + C^2 times the Hessian of k(u, u) (unscaled by s). */
static void arcsin_block(const population *p, int64_t k, int64_t l, double *B) {
  const int64_t d = p->m->d, N = p->N;
  const double C = p->m->C, tp = 2.0 / 3.14159265358979323846;
  const double *u = p->z[k], a = 1.0 + p->dots[k * N + k];
  if (k != l) {
    const double *w = p->z[l], b = 1.0 + p->dots[l * N + l], g = p->dots[k * N + l];
    const double D = a * b - g * g, rs = 1.0 / sqrt(D);
    for (int64_t x = 0; x < d; ++x)
      for (int64_t y = 0; y < d; ++y) {
        const double vx = a * w[x] - g * u[x], vy = a * w[y] - g * u[y];
        B[x * d + y] = 2.0 * C * C * tp *
                       (((x == y ? 1.0 : 0.0) - u[x] * u[y] / a) * rs - vx * vy / (a * D) * rs);
      }
    return;
  }
  const double r = a - 1.0, q = 1.0 / sqrt(1.0 + 2.0 * r);
  const double f1 = tp / (1.0 + r) * q;
  const double f2 = tp * (-q / ((1.0 + r) * (1.0 + r)) - q * q * q / (1.0 + r));
  for (int64_t x = 0; x < d; ++x)
    for (int64_t y = 0; y < d; ++y)
      B[x * d + y] = C * C * (2.0 * f1 * (x == y ? 1.0 : 0.0) + 4.0 * f2 * u[x] * u[y]);
  for (int64_t j = 0; j < N; ++j) {
    if (j == k) continue;
    const double *w = p->z[j], b = 1.0 + p->dots[j * N + j], g = p->dots[k * N + j];
    const double D = a * b - g * g, rs = 1.0 / sqrt(D), f = 2.0 * C * p->c[j] * tp;
    for (int64_t x = 0; x < d; ++x)
      for (int64_t y = 0; y < d; ++y) {
        const double first = (-(g / a) * (x == y ? 1.0 : 0.0) - u[x] * w[y] / a +
                               2.0 * g * u[x] * u[y] / (a * a)) * rs;
        const double second = (w[x] - g / a * u[x]) * (b * u[y] - g * w[y]) / D * rs;
        B[x * d + y] += f * (first - second);
      }
  }
}

void population_hessian_block(const population *p, int64_t k, int64_t l, double *B) {
  const tsim_model *m = p->m;
  const int64_t d = m->d, N = p->N;
  const double C = m->C;
  const tsim_activation_info *act = activation_info(m->activation);
  if (m->norm_tied) {
    fprintf(stderr, "tsim: internal: no population Hessian with the norm tie\n");
    abort();
  }
  memset(B, 0, (size_t)(d * d) * sizeof(double));
  const double *u = p->z[k], nu = p->nrm[k];
  switch (act->population) {
    case ACT_POP_NONE: no_closed_form(act); /* refused (cellkind_hessian) */
    case ACT_POP_ARCSIN: arcsin_block(p, k, l, B); break;
    case ACT_POP_ISSERLIS:
      if (k != l) {
        add_pair(B, d, 2.0 * C * C * 4.0, u, p->z[l], 1.0, p->dots[k * N + l]);
        break;
      }
      add_pair(B, d, C * C, u, u, 12.0, 12.0 * nu * nu);
      for (int64_t j = 0; j < N; ++j)
        if (j != k)
          add_pair(B, d, 2.0 * C * p->c[j], p->z[j], p->z[j], 2.0, 2.0 * p->nrm[j] * p->nrm[j]);
      break;
    case ACT_POP_ARCCOS: {
      const double alpha = act->alpha, beta = act->beta;
      if (k != l) {
        const double *w = p->z[l], nw = p->nrm[l], t = p->ang[k * N + l];
        for (int64_t a = 0; a < d; ++a) B[a * d + a] = 2.0 * C * C * alpha;
        if (nu == 0.0 || nw == 0.0) break; /* no direction: the alpha term only */
        const double st = sin(t), ct = cos(t);
        for (int64_t a = 0; a < d; ++a)
          for (int64_t b = 0; b < d; ++b) {
            const double ua = u[a] / nu, wa = w[a] / nw, ub = u[b] / nu, wb = w[b] / nw;
            const double pq = st > 0.0 ? (wa - ct * ua) * (ub - ct * wb) / st : 0.0;
            B[a * d + b] += 2.0 * C * C * beta * (st * ua * wb - (a == b ? t : 0.0) + pq);
          }
        break;
      }
      for (int64_t a = 0; a < d; ++a) B[a * d + a] = 2.0 * C * C * alpha;
      if (nu == 0.0) break; /* the kink term is unbounded at the origin: left out */
      for (int64_t j = 0; j < N; ++j) {
        const double *w = p->z[j], nw = p->nrm[j], t = p->ang[k * N + j];
        const double st = sin(t), ct = cos(t);
        if (j == k || nw == 0.0 || !(st > 0.0)) continue;
        const double f = 2.0 * C * p->c[j] * beta * nw / nu;
        for (int64_t a = 0; a < d; ++a)
          for (int64_t b = 0; b < d; ++b) {
            const double ua = u[a] / nu, ub = u[b] / nu;
            const double pa = w[a] / nw - ct * ua, pb = w[b] / nw - ct * ub;
            B[a * d + b] += f * (st * ((a == b ? 1.0 : 0.0) - ua * ub) + pa * pb / st);
          }
      }
      break;
    }
  }
  for (int64_t e = 0; e < d * d; ++e) B[e] *= m->loss_scale;
}
