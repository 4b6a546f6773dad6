/* activation.h - the activations, one table entry each: what the data
 * generator, the engines, the population closed forms and the Hessian know
 * of act in f(x) = C sum_k act(w_k.x) (and the teacher's sum_l act(v_l.x)).
 *
 * Adding an activation: its enumerator and name below, its entry in
 * activation.c, its vector step in fused_kernel.inc (a switch over the enum
 * with no default: a forgotten case is a -Wswitch-enum warning), its
 * population closed form if it has one (population.c; without one the
 * population regime is refused), and tests (test_activation checks every
 * entry). */
#ifndef TSIM_ACTIVATION_H
#define TSIM_ACTIVATION_H

#include <stdint.h>

typedef enum {
  ACT_QUADRATIC = 0,
  ACT_RELU = 1,
  ACT_ABS = 2,
  ACT_LINEAR = 3,
  ACT_TANH = 4,
  ACT_SIGMOID = 5,
  ACT_SOFTPLUS = 6,
  ACT_ERF = 7,
  ACT_GELU = 8
} tsim_activation;
#define ACT_COUNT 9
/* The names in enum order: the choices of model.activation (and, after
 * "same", of teacher.activation); test_activation checks them against the
 * table. */
#define ACT_CHOICES "quadratic|relu|abs|linear|tanh|sigmoid|softplus|erf|gelu"

/* The closed form of k(u, w) = E act(u.x) act(w.x), x ~ N(0, I_d), that
 * the population engine uses (population.h has the formulas). */
typedef enum {
  ACT_POP_NONE = 0, /* none: data.regime population is refused */
  ACT_POP_ISSERLIS, /* |u|^2 |w|^2 + 2 (u.w)^2 (quadratic) */
  ACT_POP_ARCCOS,   /* alpha u.w + beta |u||w| h(t), h(t) = sin t - t cos t (linear: beta 0) */
  ACT_POP_ARCSIN    /* (2/pi) asin(u.w / sqrt((1 + |u|^2)(1 + |w|^2))) (erf(z/sqrt 2)) */
} tsim_act_population;

typedef struct tsim_activation_info {
  tsim_activation id;
  const char *name;          /* as model.activation and teacher.activation say it */
  const char *formula;       /* "max(z, 0)": act(z), for --help */
  double (*value)(double z); /* act(z) */
  double (*slope)(double z); /* act'(z), 0 at a kink (the subgradient every engine uses) */
  /* act''(z) away from the kinks, the same at every such z (the sample
   * Hessian's residual term is one d x d matrix per chunk because of it):
   * the almost-everywhere second derivative; 0 and unused when smooth */
  double curvature;
  /* act'' varies with z (tanh, sigmoid, softplus, erf, gelu): no constant curvature;
   * the sample Hessian takes act''(z) per sample and neuron from `second` */
  int smooth;
  double (*second)(double z); /* act''(z) of a smooth activation (libm); NULL otherwise */
  /* homogeneity: act(c z) = c^degree act(z) for c > 0; 0: not homogeneous
   * (init.method near_teacher, which scales by it, is refused) */
  double degree;
  int even;      /* act(-z) = act(z): w and -w are the same neuron */
  tsim_act_population population;
  double alpha, beta; /* ACT_POP_ARCCOS's constants (0 otherwise) */
} tsim_activation_info;

/* The entry of ACT; a value outside the enum (or without an entry) is an
 * internal error: a message and abort(). */
const tsim_activation_info *activation_info(int act);
/* The entry called NAME, NULL if none. */
const tsim_activation_info *activation_by_name(const char *name);

/* The angle between weight vectors U and W of length D, the argument of the
 * kernels' closed forms (0 if either is zero), computed as
 * 2 atan2(|u^ - w^|, |u^ + w^|), accurate near 0 and pi. */
double activation_angle(const double *u, const double *w, int64_t d);

#endif
