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

const char *cellkind_moments_unsupported(const tsim_params *p) {
  /* Residuals are quadratic forms x^T A x only for a quadratic student
   * and a quadratic teacher with noiseless labels; labels read from a file
   * can be anything. Every new model setting that breaks this (another
   * teacher activation, label noise) must return a reason here: then auto
   * falls back to sharded and data.engine: moments is a config error. */
  if (p->activation != ACT_QUADRATIC)
    return "the student activation is not quadratic";
  if (p->y_file) return "labels from data.y_file are not a quadratic form of x";
  if (cellkind_family(p))
    return "only the single quadratic teacher with noiseless labels, scaled init and "
           "gradient descent on samples is wired to it";
  if (p->d > CELLKIND_MOMENTS_MAX_D)
    return "model.d is above 40 (the tensor's exact accumulator would not fit)";
  return NULL;
}
