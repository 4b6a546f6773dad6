/* quadrature.h - the population loss by Gauss-Hermite quadrature, for any
 * pair of student and teacher activations (activation.h), where
 * population.h has no closed form.
 *
 * For x ~ N(0, I_d), k(u, w) = E g(u.x) h(w.x) depends only on a = |u|,
 * b = |w| and the angle t between u and w: with Z1, Z2 independent N(0, 1),
 * u.x = a Z1 and w.x = b (cos t Z1 + sin t Z2) (the first variable and the
 * conditional of the second: valid at t = 0 and pi, where sin t = 0). The
 * tensor rule of the n-point Gauss-Hermite rule (weight e^{-s^2}) gives
 *   k = (1/pi) sum_i sum_j w_i w_j g(a sqrt2 s_i) h(b sqrt2 (cos t s_i + sin t s_j)),
 * exact for polynomials of degree < 2n in each variable, and converging
 * geometrically for the smooth activations. The nodes are the eigenvalues
 * of the Jacobi matrix (Golub-Welsch, LAPACK dstev) polished by Newton's
 * method on the orthonormal Hermite recurrence, which also gives the
 * weights 1 / (n p_{n-1}(s)^2); nodes of weight below 1e-40 are dropped
 * (their terms are below 1e-36 of k for |u|, |w| <= 3). relu and abs have a
 * kink, where the rule would converge only algebraically: pairs of relu,
 * abs and linear are in closed form, and a kinked activation against any
 * other is integrated with the Gauss-Laguerre rule on |Z1| (quadrature.c).
 *
 * The loss is a sum of such entries over pairs of neurons, a difference of
 * O(E y^2) terms: its absolute error is ~1e-15 E y^2, so a loss that falls
 * below ~1e-14 E y^2 (let alone to 1e-30) is not resolved; the closed forms
 * of relu/abs (population.h) are. */
#ifndef TSIM_QUADRATURE_H
#define TSIM_QUADRATURE_H

#include "tsim/data.h"
#include "tsim/model.h"

/* The node count for activations G, H and weight vectors of norm at most
 * SCALE (the rule and its measured accuracy at the definition). */
int quadrature_nodes(int g, int h, double scale);

/* k(u, w) = E g(u.x) h(w.x) for activations G, H (activation.h ids), from
 * |u| = A, |w| = B and the angle T in [0, pi] between them, by the N-node
 * tensor rule. */
double quadrature_kernel(int g, int h, double a, double b, double t, int n);

/* The population loss s (E (f - y)^2 + sigma^2) of model M at W (neuron-
 * major) against teacher T (any activations, the norm tie included), each
 * pair of neurons by the rule of quadrature_nodes(the activations, the
 * largest norm); that count into *NODES if non-NULL. */
double quadrature_loss(const tsim_model *m, const tsim_teacher *t, double label_noise,
                       const double *W, int *nodes);

/* The same loss for smooth student and teacher activations (activation.h's
 * second), and its gradient into GRAD (K*d) if non-NULL: d k(u, w) / du =
 * E g''(u.x) h(w.x) u + E g'(u.x) h'(w.x) w (Stein's lemma), 2-D integrals
 * by the same rule; the norm tie's 2 s C w^_k sum_j c_j k(w_k, z_j) too. */
double quadrature_loss_grad(const tsim_model *m, const tsim_teacher *t, double label_noise,
                            const double *W, double *grad);

#endif
