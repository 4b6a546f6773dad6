/* cellkind.c - the kind of a cell (see cellkind.h). */
#include "tsim/cellkind.h"

#include <stddef.h>
#include <string.h>

#include "tsim/activation.h"
#include "tsim/data.h"

int cellkind_family(const tsim_params *p) {
  return p->activation != ACT_QUADRATIC || p->norm_tied ||
         p->normalisation != NORMALISATION_NONE || p->teacher_neurons != 1 ||
         params_teacher_activation(p) != ACT_QUADRATIC ||
         p->label_noise != 0.0 || p->regime != REGIME_EMPIRICAL ||
         p->init_method != INIT_SCALED || p->method != METHOD_GD || params_teacher_weighted(p) ||
         p->train_output;
}

const char *cellkind_hessian(const tsim_params *p) {
  if (p->norm_tied)
    return "the Hessian does not model the norm-tied output "
           "f = C sum_k ||w_k|| act(w_k.x) (model.norm_tied)";
  if (p->hess_source != HESS_SOURCE_POPULATION) return NULL;
  if (p->train_output)
    return "source population has no Hessian with trained output weights (model.train_output)";
  if (activation_info(p->activation)->population == ACT_POP_NONE)
    return "source population needs the activation's closed form, and it has none";
  if (params_teacher_activation(p) != p->activation)
    return "source population needs the closed form of a teacher with the student's "
           "activation (teacher.activation differs)";
  return NULL;
}

const char *cellkind_unread(const tsim_params *p, const char *key) {
  static const char *const samples[] = {"data.n", "data.n_test", "data.seed", "data.chunk",
                                        "data.storage", "data.engine"};
  if (!strcmp(key, "train.eta") && p->method == METHOD_FLOW)
    return "gradient flow takes no steps (train.method flow)";
  if (!strcmp(key, "train.eta") && p->iterations == 0)
    return "no step is taken (train.iterations 0)";
  if ((!strcmp(key, "init.output") || !strcmp(key, "train.eta_output")) && !p->train_output)
    return "only model.train_output takes it";
  if (!strcmp(key, "train.eta_output") && p->method == METHOD_FLOW)
    return "gradient flow takes no steps (train.method flow)";
  if ((!strcmp(key, "train.weight_decay") || !strcmp(key, "train.momentum")) &&
      p->method == METHOD_FLOW)
    return "gradient flow takes no steps (train.method flow)";
  if ((!strcmp(key, "train.T") || !strcmp(key, "train.rtol") || !strcmp(key, "train.atol")) &&
      p->method == METHOD_GD)
    return "gradient descent has no final time (train.method gd)";
  for (size_t i = 0; i < sizeof samples / sizeof samples[0]; ++i)
    if (!strcmp(key, samples[i]) && p->regime == REGIME_POPULATION)
      return "the population regime has no samples (data.regime population)";
  if (!strcmp(key, "data.seed") && p->x_file) return "the samples come from data.x_file";
  if ((!strcmp(key, "init.seed") || !strcmp(key, "init.scale") || !strcmp(key, "init.sigma") ||
       !strcmp(key, "init.delta")) && p->w_file)
    return "the initial weights come from init.w_file";
  if (!strcmp(key, "init.seed") && p->init_method == INIT_CLAIM2)
    return "init.method claim2 draws nothing";
  if (!strcmp(key, "init.scale") && p->init_method == INIT_GAUSSIAN)
    return "init.method gaussian takes init.sigma";
  if (!strcmp(key, "init.scale") && p->init_method == INIT_CLAIM2)
    return "init.method claim2 takes init.delta";
  if (!strcmp(key, "init.sigma") && p->init_method != INIT_GAUSSIAN)
    return "only init.method gaussian takes it";
  if (!strcmp(key, "init.delta") && p->init_method != INIT_CLAIM2)
    return "only init.method claim2 takes it";
  if (p->teacher_source == TEACHER_NONE &&
      ((!strncmp(key, "teacher.", 8) && strcmp(key, "teacher.source")) ||
       !strcmp(key, "train.tol") || !strcmp(key, "train.nu") ||
       !strcmp(key, "metrics.match_angle") || !strcmp(key, "metrics.pop_quadrature")))
    return cellkind_no_teacher(p);
  if (p->teacher_source == TEACHER_FILE &&
      (!strcmp(key, "teacher.norm") || !strcmp(key, "teacher.direction") ||
       !strcmp(key, "teacher.seed") || !strcmp(key, "teacher.min_angle")))
    return "the teacher comes from teacher.w_file (teacher.source file), norms included";
  if (!strcmp(key, "teacher.seed") &&
      (p->teacher_direction == DIR_E1 || p->teacher_direction == DIR_ORTHONORMAL))
    return "teacher.direction e1 or orthonormal draws nothing";
  if (!strcmp(key, "teacher.min_angle") && p->teacher_direction != DIR_SEPARATED)
    return "only teacher.direction separated takes it";
  return NULL;
}

const char *cellkind_no_teacher(const tsim_params *p) {
  if (p->teacher_source != TEACHER_NONE) return NULL;
  return "no teacher (teacher.source none): the labels come from data.y_file";
}

int cellkind_has_q9(const tsim_params *p) {
  return p->teacher_source != TEACHER_NONE && !p->train_output && p->activation == ACT_QUADRATIC &&
         !p->norm_tied && p->teacher_neurons == 1 && !params_teacher_weighted(p) &&
         params_teacher_activation(p) == ACT_QUADRATIC && p->regime == REGIME_EMPIRICAL;
}

/* The settings only gradient descent takes, off at 0. */
static const struct {
  const char *key;
  size_t offset;
} gd_only[] = {
    {"train.weight_decay", offsetof(tsim_params, weight_decay)},
    {"train.momentum", offsetof(tsim_params, momentum)},
};

const char *cellkind_refused(const tsim_params *p, const char **key) {
  for (size_t i = 0; i < sizeof gd_only / sizeof gd_only[0]; ++i) {
    const double v = *(const double *)(const void *)((const char *)p + gd_only[i].offset);
    if (v == 0.0 || p->method != METHOD_FLOW) continue;
    *key = gd_only[i].key;
    return "unsupported with train.method flow";
  }
  return NULL;
}
