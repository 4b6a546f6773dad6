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
