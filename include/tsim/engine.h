/* engine.h - the engines that compute a cell's loss, its gradient and
 * quantity (9), as one table:
 *   sharded     a pass over the team's samples (model.h), any model; the
 *               cells of one data set share the pass (batch.h)
 *   moments     the fourth-moment tensor (moments.h), built once: quadratic
 *               student and teacher, labels from the teacher
 *   gram        a pass over the team's samples with the quadratic student
 *               as C x^T W^T W x: d^2 instead of 2 d K per sample (only
 *               when data.engine names it)
 *   population  the closed form at n = infinity (population.h,
 *               data.regime: population)
 * Config validation, the scheduler, the cell loop and `tsim validate` ask
 * the table (what an engine supports, costs and can do), never a chain of
 * tests on the settings. A way of stepping (gradient descent, the flow of
 * flow.h) works with any engine: it asks it for a loss and a gradient.
 *
 * The choice is a pure function of the cell's settings (never of the rank
 * count, the team or what a cache holds), because the engines round
 * differently: the same config gives the same bits everywhere. */
#ifndef TSIM_ENGINE_H
#define TSIM_ENGINE_H

#include <stddef.h>
#include "tsim/config.h"
#include "tsim/data.h"
#include "tsim/model.h"
#include "tsim/moments.h"
#include "tsim/parallel.h"

/* Estimated work of a whole cell in multiply-adds (sample generation
 * counted at ENGINE_RNG_COST per coordinate), at train.iterations:
 *   sharded:  iterations x 3 n d K (forward, gradient, q9 direction), plus
 *             the samples made once (memory) or every iteration (regenerate)
 *   moments:  build (n + n_test) C(d+3,4) plus the samples made once, then
 *             iterations x (2 (d(d+1)/2)^2 + 3 d^2 K)
 *   gram:     iterations x (n (d^2 + 3 d) + 1.5 K d^2), plus the samples as
 *             sharded
 *   population: iterations x (K + m)^2 d. */
#define ENGINE_RNG_COST 100.0 /* measured: ~18 ns per normal, ~0.2 ns per multiply-add */
typedef struct engine_cost {
  double total, build, iteration; /* total = build + iterations x iteration */
} engine_cost;

/* What an engine reads of a cell's data set (the team's cache holds it). */
typedef struct engine_data {
  const tsim_teacher *teacher;
  const tsim_dataset *train, *test;     /* ENGINE_SAMPLES */
  const moments_tensor *mtrain, *mtest; /* ENGINE_TENSORS (mtest: NULL without test set) */
  const double *Astar;                  /* ENGINE_TENSORS: the teacher as x^T A* x */
} engine_data;

/* One cell's evaluation: model, W, the direction of quantity (9) (NULL: not
 * formed), the engine's work space for the cell, and where the result goes
 * (OUT->grad, if non-NULL, receives the gradient). */
typedef struct engine_job {
  const tsim_model *m;
  const double *W;
  const model_direction *dir;
  void *work;
  model_eval *out;
} engine_job;

enum {
  ENGINE_SAMPLES = 1,   /* reads the team's samples */
  ENGINE_TENSORS = 2,   /* reads the data set's moments tensors */
  ENGINE_BATCHES = 4,   /* cells of one data set share an evaluation */
  ENGINE_DIRECTION = 8, /* forms quantity (9) along a direction */
  ENGINE_SPECTRA = 16,  /* Hessian spectra from its data (metrics.hessian.source: samples) */
  ENGINE_NAMED = 32     /* taken only when data.engine names it: auto never picks it */
};

typedef struct engine_kind {
  const char *name; /* "sharded" */
  int id;           /* ENGINE_SHARDED, ENGINE_MOMENTS, ENGINE_GRAM, ENGINE_POPULATION */
  unsigned caps;    /* ENGINE_* flags */
  /* NULL when the engine computes cell P exactly, else why not */
  const char *(*unsupported)(const tsim_params *p);
  void (*cost)(const tsim_params *p, engine_cost *c);
  /* work space for a cell of model M, teacher T, settings P (NULL: the
   * engine cannot take it; unsupported says why), and its release */
  void *(*prepare)(const tsim_model *m, const tsim_teacher *t, const tsim_params *p);
  void (*release)(void *work);
  /* the loss, gradient and quantity (9) of the N jobs over D (N = 1 unless
   * ENGINE_BATCHES; BATCH from batch_create then), the same bits whatever
   * N; collective over TEAM */
  void (*evaluate)(void *batch, const engine_job *jobs, int n, const engine_data *d,
                   const par_comm *team);
  void *(*batch_create)(int64_t d, int64_t kmax, int n); /* ENGINE_BATCHES */
  void (*batch_release)(void *batch);
  /* the loss on the test set into *LOSS: 1, or 0 when there is none */
  int (*test_loss)(void *work, const tsim_model *m, const double *W, const engine_data *d,
                   const par_comm *team, double *loss);
} engine_kind;

/* The engine of cell P: the population's for data.regime: population, else
 * the one data.engine names, or (auto, or one that cannot take P) the
 * cheapest that can among those without ENGINE_NAMED. */
const engine_kind *engine_of(const tsim_params *p);
/* The engine with id ID (ENGINE_SHARDED, ...), NULL if none. */
const engine_kind *engine_by_id(int id);
/* ENGINE_SHARDED ... ENGINE_POPULATION: engine_of(P)'s id. */
int engine_choose(const tsim_params *p);
const char *engine_name(int engine);

/* NULL when cell P's metrics.hessian can be computed, else why not: the
 * source samples needs an engine with ENGINE_SPECTRA, and either source a
 * Hessian that models the cell (cellkind_hessian). */
const char *engine_spectra_unsupported(const tsim_params *p);

/* The sharded and moments engines' costs of cell P (data.engine: auto
 * compares them). */
typedef struct engine_costs {
  double sharded;
  double moments_build, moments_iteration, moments; /* moments: the total */
} engine_costs;
void engine_costs_of(const tsim_params *p, engine_costs *c);
/* "moments (auto; cost sharded 1.5e+10, moments 1.4e+06 + 5000 x 6.2e+03)" */
void engine_describe(const tsim_params *p, char *buf, size_t cap);

#endif
