/* engine_moments.c - the moments engine: the data set's fourth-moment
 * tensor (moments.h), built once, then O(d^4) per evaluation. */
#include "tsim/engine_moments.h"

#include "tsim/cellkind.h"

static const char *unsupported(const tsim_params *p) {
  /* Residuals are quadratic forms x^T A x only for a quadratic student
   * and a quadratic teacher with noiseless labels; labels read from a file
   * can be anything. Every new model setting that breaks this (another
   * teacher activation, label noise) must return a reason here: then auto
   * falls back to sharded and data.engine: moments is a config error. */
  if (p->activation != ACT_QUADRATIC) return "the student activation is not quadratic";
  if (p->train_output) return "its residuals x^T A x take every output weight 1";
  if (p->y_file) return "labels from data.y_file are not a quadratic form of x";
  if (cellkind_family(p))
    return "only the single quadratic teacher with noiseless labels, scaled init and "
           "gradient descent on samples is wired to it";
  if (p->d > CELLKIND_MOMENTS_MAX_D)
    return "model.d is above 40 (the tensor's exact accumulator would not fit)";
  return NULL;
}

static void cost(const tsim_params *p, engine_cost *c) {
  const double n = (double)p->n, nt = (double)p->n_test, d = (double)p->d;
  const double K = (double)p->K, T = (double)p->iterations;
  const double pairs = (double)moments_pairs(p->d);
  const double make = ENGINE_RNG_COST * d; /* one sample's inputs */
  c->build = (n + nt) * ((double)moments_entries(p->d) + make);
  c->iteration = 2.0 * pairs * pairs + 3.0 * d * d * K;
  c->total = c->build + T * c->iteration;
}

static void *prepare(const tsim_model *m, const tsim_teacher *t, const tsim_params *p) {
  (void)t, (void)p; /* the tensor holds the data; the work is per model */
  return moments_work_create(m);
}

static void release(void *work) {
  moments_work *w = work;
  moments_work_destroy(&w);
}

static void evaluate(void *batch, const engine_job *jobs, int n, const engine_data *d,
                     const par_comm *team) {
  (void)batch, (void)team; /* each rank holds the whole tensor: no reduction */
  for (int q = 0; q < n; ++q)
    moments_evaluate(jobs[q].m, d->mtrain, d->Astar, jobs[q].W,
                     jobs[q].dir ? jobs[q].dir->V : NULL, jobs[q].work, jobs[q].out);
}

static int test_loss(void *work, const tsim_model *m, const double *W, const engine_data *d,
                     const par_comm *team, double *loss) {
  (void)team;
  if (!d->mtest) return 0;
  model_eval test = {0};
  moments_evaluate(m, d->mtest, d->Astar, W, NULL, work, &test);
  *loss = test.loss;
  return 1;
}

const engine_kind engine_moments = {
    .name = "moments",
    .id = ENGINE_MOMENTS,
    .caps = ENGINE_TENSORS | ENGINE_DIRECTION | ENGINE_SPECTRA,
    .unsupported = unsupported,
    .cost = cost,
    .prepare = prepare,
    .release = release,
    .evaluate = evaluate,
    .test_loss = test_loss,
};
