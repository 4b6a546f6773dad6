/* engine_population.c - the population engine: the closed-form loss and
 * gradient at n = infinity (population.h), data.regime: population. */
#include "tsim/engine_population.h"

#include "tsim/population.h"

static const char *unsupported(const tsim_params *p) {
  if (p->regime != REGIME_POPULATION) return "data.regime is empirical (n samples)";
  if (params_teacher_activation(p) != p->activation)
    return "the closed forms are for a matching teacher and student";
  return NULL;
}

static void cost(const tsim_params *p, engine_cost *c) {
  const double z = (double)(p->K + p->teacher_neurons);
  c->build = 0.0;
  c->iteration = z * z * (double)p->d;
  c->total = (double)p->iterations * c->iteration;
}

static void *prepare(const tsim_model *m, const tsim_teacher *t, const tsim_params *p) {
  return population_create(m, t, p->label_noise);
}

static void release(void *work) {
  population *pop = work;
  population_destroy(&pop);
}

static void evaluate(void *batch, const engine_job *jobs, int n, const engine_data *d,
                     const par_comm *team) {
  (void)batch, (void)d, (void)team; /* closed form: no samples, no reduction */
  for (int q = 0; q < n; ++q) jobs[q].out->loss = population_loss(jobs[q].work, jobs[q].W,
                                                                   jobs[q].out->grad);
}

static int test_loss(void *work, const tsim_model *m, const double *W, const engine_data *d,
                     const par_comm *team, double *loss) {
  (void)work, (void)m, (void)W, (void)d, (void)team, (void)loss;
  return 0; /* n = infinity: no test set */
}

const engine_kind engine_population = {
    .name = "population",
    .id = ENGINE_POPULATION,
    .caps = 0,
    .unsupported = unsupported,
    .cost = cost,
    .prepare = prepare,
    .release = release,
    .evaluate = evaluate,
    .test_loss = test_loss,
};
