/* cellkind.c - the kind of a cell (see cellkind.h). */
#include "tsim/cellkind.h"

#include "tsim/activation.h"
#include "tsim/data.h"

int cellkind_family(const tsim_params *p) {
  return p->activation != ACT_QUADRATIC || p->norm_tied ||
         p->normalisation != NORMALISATION_NONE || p->teacher_neurons != 1 ||
         params_teacher_activation(p) != ACT_QUADRATIC ||
         p->label_noise != 0.0 || p->regime != REGIME_EMPIRICAL ||
         p->init_method != INIT_SCALED || p->method != METHOD_GD;
}

const char *cellkind_hessian(const tsim_params *p) {
  if (p->norm_tied)
    return "the Hessian does not model the norm-tied output "
           "f = C sum_k ||w_k|| act(w_k.x) (model.norm_tied)";
  if (activation_info(p->activation)->smooth) /* the teacher's only gives the labels */
    return "the Hessian of a smooth activation (tanh, sigmoid, softplus, erf, gelu: "
           "act'' varies with z) is not implemented yet";
  if (p->hess_source != HESS_SOURCE_POPULATION) return NULL;
  if (activation_info(p->activation)->population == ACT_POP_NONE)
    return "source population needs the activation's closed form, and it has none";
  if (params_teacher_activation(p) != p->activation)
    return "source population needs the closed form of a teacher with the student's "
           "activation (teacher.activation differs)";
  return NULL;
}
