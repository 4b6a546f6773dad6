/* population.h - the population (n = infinity) loss and its exact gradient
 * under x ~ N(0, I_d), for every model of the family (docs/model.md).
 *
 * With student coefficients c_k = C s(w_k) and teacher ones c_l = -coef,
 * z ranging over students and teachers,
 *   L = s E (f - y)^2 = s sum_ij c_i c_j k(z_i, z_j) (+ s sigma^2 label noise)
 * where k(u, w) = E act(u.x) act(w.x) is, with t the angle between u and w
 * and h(t) = sin t - t cos t (>= 0, ~ t^3 / 3):
 *   quadratic  |u|^2 |w|^2 + 2 (u.w)^2
 *   relu       u.w / 2 + |u||w| h(t) / (2 pi)   (arc-cosine kernel, Cho & Saul;
 *              = |u||w| (sin t + (pi - t) cos t) / (2 pi), Xu & Du sec. 3)
 *   abs        u.w + 2 |u||w| h(t) / pi         (= (2/pi)|u||w|(sin t +
 *              (pi/2 - t) cos t), Zhou, Ge & Jin)
 *   linear     u.w                              (alpha, beta = 1, 0)
 *   erf        (2/pi) asin(u.w / sqrt((1 + |u|^2)(1 + |w|^2)))
 *              (act = erf(z/sqrt 2): the arcsine kernel, Williams; summed
 *              pair by pair, so a loss near zero is a difference of O(1)
 *              numbers: its absolute rounding error is ~1e-16 E y^2)
 * The linear part of relu and abs is summed as |sum_i c_i z_i|^2 (Xu & Du's
 * form of L), so a loss near zero is not the difference of O(1) numbers.
 * Gradients: d k(u, w) / du = alpha w + beta (|w| sin t u/|u| - t w) for
 * relu (alpha, beta = 1/2, 1/(2 pi)) and abs (1, 2/pi), 2|w|^2 u + 4 (u.w) w
 * for the quadratic. Angles come from t = 2 atan2(|u^ - w^|, |u^ + w^|)
 * (accurate at small angles, unlike acos of a cosine), h from its series
 * below t = 0.1. A student at the origin: k = 0, and its gradient is the
 * subgradient with act'(0) = 0 and w/|w| = 0, i.e. the limit the empirical
 * engine gives (linear: its gradient 2 c alpha sum_i c_i z_i); no NaN.
 *
 * Cost O((K + m)^2 d) per evaluation: only inner products and differences of
 * pairs of vectors, never a d x d matrix (Martin, Bach & Biroli at d in the
 * thousands). */
#ifndef TSIM_POPULATION_H
#define TSIM_POPULATION_H

#include "tsim/data.h"
#include "tsim/model.h"

typedef struct population population;

/* Work space for model M against teacher T (both kept by pointer). The
 * activations must agree (the closed forms are for matching pairs). */
population *population_create(const tsim_model *m, const tsim_teacher *t,
                              double label_noise);
void population_destroy(population **pop);

/* The population loss at W (neuron-major), and its gradient into GRAD
 * (K*d entries) if GRAD is non-NULL. With trained output weights
 * (model.train_output) W and GRAD hold K d + K numbers, c_k = C a_k, and
 * dL/da_k = 2 s C sum_j c_j k(w_k, z_j). */
double population_loss(population *pop, const double *W, double *grad);

/* The Hessian of the population loss, block (K, L): BLOCK[a d + b] =
 * d^2 L / dw_ka dw_lb (d x d), at the W of the last population_loss call,
 * for a student without the norm tie and with a closed form (quadratic,
 * relu, abs, linear, erf; not the ones quadrature.h serves). For relu and
 * abs this is the true Hessian of the closed form: besides the Gauss-Newton term
 * 2 s C^2 E act'(w_k.x) act'(w_l.x) x x^T, each diagonal block has the kinks'
 * term 2 s C E r(x) act''(w_k.x) x x^T (act'' a Dirac delta at 0) wherever
 * the residual r is non-zero on the plane w_k.x = 0 - which the sample
 * Hessian (hessian.h), act'' = 0 almost everywhere, never sees. Formulas
 * and their derivation at the definition. A neuron at the origin gets no
 * direction terms (the kinks' term is unbounded there). */
void population_hessian_block(const population *pop, int64_t k, int64_t l, double *block);

#endif
