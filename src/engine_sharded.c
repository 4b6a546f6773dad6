/* engine_sharded.c - the sharded engine: a pass over the team's samples
 * (model.h), any model; cells of one data set share the pass (batch.h). */
#include "tsim/engine_sharded.h"

#include <stdlib.h>

#include "tsim/batch.h"

static const char *unsupported(const tsim_params *p) {
  return p->regime == REGIME_POPULATION ? "data.regime: population has no samples" : NULL;
}

static void cost(const tsim_params *p, engine_cost *c) {
  const double n = (double)p->n, nt = (double)p->n_test, d = (double)p->d;
  const double K = (double)p->K, T = (double)p->iterations;
  const double make = ENGINE_RNG_COST * d; /* one sample's inputs */
  c->build = p->storage == STORAGE_REGENERATE ? 0.0 : (n + nt) * make;
  c->iteration = 3.0 * n * d * K + (p->storage == STORAGE_REGENERATE ? n * make : 0.0);
  c->total = T * 3.0 * n * d * K +
             (p->storage == STORAGE_REGENERATE ? T * n * make : (n + nt) * make);
}

static void *prepare(const tsim_model *m, const tsim_teacher *t, const tsim_params *p) {
  (void)t, (void)p; /* the work is per model */
  return model_work_create(m);
}

static void release(void *work) {
  model_work *w = work;
  model_work_destroy(&w);
}

static void *batch_create(int64_t d, int64_t kmax, int n) {
  return batch_work_create(d, kmax, n);
}

static void batch_release(void *batch) {
  batch_work *b = batch;
  batch_work_destroy(&b);
}

static void evaluate(void *batch, const engine_job *jobs, int n, const engine_data *d,
                     const par_comm *team) {
  if (n == 1) {
    model_evaluate(jobs[0].m, d->train, jobs[0].W, jobs[0].dir, team, jobs[0].work,
                   jobs[0].out);
    return;
  }
  const tsim_model **ms = tsim_xcalloc((size_t)n, sizeof *ms);
  const double **Ws = tsim_xcalloc((size_t)n, sizeof *Ws);
  const model_direction **dirs = tsim_xcalloc((size_t)n, sizeof *dirs);
  model_work **singles = tsim_xcalloc((size_t)n, sizeof *singles);
  model_eval *evs = tsim_xcalloc((size_t)n, sizeof *evs);
  for (int q = 0; q < n; ++q) {
    ms[q] = jobs[q].m;
    Ws[q] = jobs[q].W;
    dirs[q] = jobs[q].dir;
    singles[q] = jobs[q].work;
    evs[q] = *jobs[q].out;
  }
  batch_evaluate(batch, ms, d->train, Ws, dirs, team, singles, evs, n);
  for (int q = 0; q < n; ++q) *jobs[q].out = evs[q];
  free(ms);
  free(Ws);
  free(dirs);
  free(singles);
  free(evs);
}

static int test_loss(void *work, const tsim_model *m, const double *W, const engine_data *d,
                     const par_comm *team, double *loss) {
  if (d->test->n <= 0) return 0;
  model_eval test = {0};
  model_evaluate(m, d->test, W, NULL, team, work, &test);
  *loss = test.loss;
  return 1;
}

const engine_kind engine_sharded = {
    .name = "sharded",
    .id = ENGINE_SHARDED,
    .caps = ENGINE_SAMPLES | ENGINE_BATCHES | ENGINE_DIRECTION | ENGINE_SPECTRA,
    .unsupported = unsupported,
    .cost = cost,
    .prepare = prepare,
    .release = release,
    .evaluate = evaluate,
    .batch_create = batch_create,
    .batch_release = batch_release,
    .test_loss = test_loss,
};
