/* cellkind.c - the kind of a cell (see cellkind.h). */
#include "tsim/cellkind.h"

#include "tsim/data.h"

int cellkind_family(const tsim_params *p) {
  return p->activation != ACT_QUADRATIC || p->norm_tied ||
         p->normalisation != NORMALISATION_NONE || p->teacher_neurons != 1 ||
         params_teacher_activation(p) != ACT_QUADRATIC ||
         p->label_noise != 0.0 || p->regime != REGIME_EMPIRICAL ||
         p->init_method != INIT_SCALED || p->method != METHOD_GD;
}
