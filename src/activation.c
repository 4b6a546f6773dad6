/* activation.c - the table of activations (see activation.h). */
#include "tsim/activation.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

static double quadratic_value(double z) { return z * z; }
static double quadratic_slope(double z) { return 2.0 * z; }
static double relu_value(double z) { return z > 0.0 ? z : 0.0; } /* relu(-0) = +0 */
static double relu_slope(double z) { return z > 0.0 ? 1.0 : 0.0; }
static double abs_value(double z) { return fabs(z); }
static double abs_slope(double z) { return z > 0.0 ? 1.0 : (z < 0.0 ? -1.0 : 0.0); }
static double linear_value(double z) { return z; }
static double linear_slope(double z) {
  (void)z; /* the table's interface: act'(z) */
  return 1.0;
}

/* The smooth activations: the one-lane case of the kernel's vector code */
#define VW 1
#define KN(name) name##_w1
#define INLINE static inline
typedef double KN(vec) __attribute__((vector_size(VW * sizeof(double))));
typedef long long KN(vidx) __attribute__((vector_size(VW * sizeof(long long))));
#include "act_vector.inc"

#define ONE_LANE(name)                                          \
  static double name##_value(double z) {                        \
    return v##name##_w1((vec_w1){z}, NULL)[0];                  \
  }                                                             \
  static double name##_slope(double z) {                        \
    vec_w1 s;                                                   \
    (void)v##name##_w1((vec_w1){z}, &s);                        \
    return s[0];                                                \
  }
ONE_LANE(tanh)
ONE_LANE(sigmoid)
ONE_LANE(softplus)
ONE_LANE(erf)
ONE_LANE(gelu)

/* act''(z) of the smooth activations, for the Hessian (libm: not in the
 * kernel); e = exp(-|z|) keeps sigmoid' = e / (1 + e)^2 accurate in both tails */
static double tanh_second(double z) {
  const double t = tanh(z);
  return -2.0 * t * (1.0 - t * t);
}
static double sigmoid_second(double z) { /* s' (1 - 2 s), 1 - 2 s = -tanh(z / 2) */
  const double e = exp(-fabs(z));
  return -e / ((1.0 + e) * (1.0 + e)) * tanh(0.5 * z);
}
static double softplus_second(double z) { /* sigmoid'(z) */
  const double e = exp(-fabs(z));
  return e / ((1.0 + e) * (1.0 + e));
}
static double erf_second(double z) { /* d/dz sqrt(2/pi) exp(-z^2/2) */
  return -z * sqrt(2.0 / PI) * exp(-0.5 * z * z);
}
static double gelu_second(double z) { /* d/dz (Phi(z) + z phi(z)) = phi(z) (2 - z^2) */
  return exp(-0.5 * z * z) / sqrt(2.0 * PI) * (2.0 - z * z);
}

/* alpha, beta of the arc-cosine kernels: relu, Cho & Saul (degree 1),
 * |u||w| (sin t + (pi - t) cos t) / (2 pi); abs, Zhou, Ge & Jin,
 * (2/pi) |u||w| (sin t + (pi/2 - t) cos t); each is alpha u.w + beta |u||w| h(t). */
static const tsim_activation_info table[] = {
    [ACT_QUADRATIC] = {.id = ACT_QUADRATIC, .name = "quadratic", .formula = "z^2",
                       .value = quadratic_value, .slope = quadratic_slope, .curvature = 2.0,
                       .degree = 2.0, .even = 1, .population = ACT_POP_ISSERLIS},
    [ACT_RELU] = {.id = ACT_RELU, .name = "relu", .formula = "max(z, 0)", .value = relu_value,
                  .slope = relu_slope, .curvature = 0.0, .degree = 1.0, .even = 0,
                  .population = ACT_POP_ARCCOS, .alpha = 0.5, .beta = 1.0 / (2.0 * PI)},
    [ACT_ABS] = {.id = ACT_ABS, .name = "abs", .formula = "|z|", .value = abs_value,
                 .slope = abs_slope, .curvature = 0.0, .degree = 1.0, .even = 1,
                 .population = ACT_POP_ARCCOS, .alpha = 1.0, .beta = 2.0 / PI},
    [ACT_LINEAR] = {.id = ACT_LINEAR, .name = "linear", .formula = "z", .value = linear_value,
                    .slope = linear_slope, .curvature = 0.0, .degree = 1.0, .even = 0,
                    .population = ACT_POP_ARCCOS, .alpha = 1.0, .beta = 0.0}, /* u.w */
    /* max errors over |z| <= 750 (test_activation, against long double
     * libm): act within 2 ulp, act' within 3; gelu within 3 ulp (z >= -37,
     * nearer the subnormals up to 30), gelu' within 5 ulp of Phi(z) */
    [ACT_TANH] = {.id = ACT_TANH, .name = "tanh", .formula = "tanh(z)", .value = tanh_value,
                  .slope = tanh_slope, .smooth = 1, .second = tanh_second},
    [ACT_SIGMOID] = {.id = ACT_SIGMOID, .name = "sigmoid", .formula = "1/(1+e^-z)",
                     .value = sigmoid_value, .slope = sigmoid_slope, .smooth = 1,
                     .second = sigmoid_second},
    [ACT_SOFTPLUS] = {.id = ACT_SOFTPLUS, .name = "softplus", .formula = "log(1+e^z)",
                      .value = softplus_value, .slope = softplus_slope, .smooth = 1,
                      .second = softplus_second},
    [ACT_ERF] = {.id = ACT_ERF, .name = "erf", .formula = "erf(z/sqrt(2))", .value = erf_value,
                 .slope = erf_slope, .smooth = 1, .second = erf_second,
                 .population = ACT_POP_ARCSIN},
    [ACT_GELU] = {.id = ACT_GELU, .name = "gelu", .formula = "z Phi(z)", .value = gelu_value,
                  .slope = gelu_slope, .smooth = 1, .second = gelu_second},
};
_Static_assert(sizeof table / sizeof table[0] == ACT_COUNT,
               "one table entry per activation (ACT_COUNT)");

const tsim_activation_info *activation_info(int act) {
  if (act < 0 || act >= ACT_COUNT || !table[act].name || table[act].id != (tsim_activation)act) {
    fprintf(stderr, "tsim: internal: activation %d has no table entry\n", act);
    abort();
  }
  return &table[act];
}

const tsim_activation_info *activation_by_name(const char *name) {
  for (int a = 0; a < ACT_COUNT; ++a)
    if (table[a].name && !strcmp(table[a].name, name)) return &table[a];
  return NULL;
}

static double angle_dot(const double *a, const double *b, int64_t n) {
  double s = 0.0;
  for (int64_t j = 0; j < n; ++j) s += a[j] * b[j];
  return s;
}

double activation_angle(const double *u, const double *w, int64_t d) {
  const double nu = sqrt(angle_dot(u, u, d)), nw = sqrt(angle_dot(w, w, d));
  if (nu == 0.0 || nw == 0.0) return 0.0;
  double minus = 0.0, plus = 0.0;
  for (int64_t j = 0; j < d; ++j) {
    const double a = u[j] / nu, b = w[j] / nw;
    minus += (a - b) * (a - b);
    plus += (a + b) * (a + b);
  }
  return 2.0 * atan2(sqrt(minus), sqrt(plus));
}

