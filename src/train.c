/* train.c - one cell's gradient descent (see train.h).
 *
 * Every rank of the team holds the same W and receives the same exactly
 * reduced sums, so every rank takes the same decisions without further
 * messages: the control flow of a cell is a pure function of its settings. */
#include "tsim/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/data.h"
#include "tsim/engine.h"
#include "tsim/evolve.h"
#include "tsim/metrics.h"
#include "tsim/model.h"
#include "tsim/moments.h"
#include "tsim/spectrum.h"

struct train_cache {
  int valid;
  tsim_params key; /* the data settings the cached samples were made with */
  int rank, size;
  tsim_teacher teacher;
  tsim_dataset *train, *test; /* sharded engine: made on first use */
  moments_tensor *mtrain, *mtest; /* moments engine: built on first use */
  double *Astar;                  /* the teacher as y = x^T A* x */
  train_engine_stats stats;
};

train_cache *train_cache_create(void) {
  return tsim_xcalloc(1, sizeof(train_cache));
}

static void cache_clear(train_cache *c) {
  if (c->valid) teacher_free(&c->teacher);
  data_destroy(&c->train);
  data_destroy(&c->test);
  moments_destroy(&c->mtrain);
  moments_destroy(&c->mtest);
  free(c->Astar);
  c->Astar = NULL;
  c->valid = 0;
}

void train_cache_stats(const train_cache *c, train_engine_stats *s) {
  *s = c->stats;
}

void train_cache_destroy(train_cache **c) {
  if (!c || !*c) return;
  cache_clear(*c);
  free(*c);
  *c = NULL;
}

static int same_str(const char *a, const char *b) {
  return a == b || (a && b && !strcmp(a, b));
}

/* Do two cells see the same samples? */
static int same_data(const tsim_params *a, const tsim_params *b) {
  return a->d == b->d && a->n == b->n && a->n_test == b->n_test &&
         a->chunk == b->chunk && a->data_seed == b->data_seed &&
         a->storage == b->storage &&
         a->teacher_norm == b->teacher_norm &&
         a->teacher_direction == b->teacher_direction &&
         a->teacher_seed == b->teacher_seed && same_str(a->x_file, b->x_file) &&
         same_str(a->y_file, b->y_file) &&
         same_str(a->x_test_file, b->x_test_file) &&
         same_str(a->y_test_file, b->y_test_file);
}

/* The interrupt hook during a tensor build: the cell's state is the one
 * it started from (W_t, t = the first iteration to evaluate). */
typedef struct build_poll {
  const train_hooks *hooks;
  cell_result *res;
  double wall_before, t_start;
} build_poll;

static int poll_build(void *ctx) {
  build_poll *b = ctx;
  b->res->wall_s = b->wall_before + tsim_wtime() - b->t_start;
  return b->hooks->interrupt(b->hooks->ctx, b->res);
}

/* What ENGINE needs for cell P: the samples (sharded) or the tensors
 * (moments), made once per data set and kept for the next cells. POLL
 * (may be NULL) keeps a long tensor build interruptible. */
static int cache_fill(train_cache *c, const tsim_params *p, int engine,
                      const par_comm *team, build_poll *poll, tsim_error *err) {
  int (*poll_fn)(void *) = poll ? poll_build : NULL;
  const int rank = par_rank(team), size = par_size(team);
  int rc = TSIM_OK;
  if (!(c->valid && c->rank == rank && c->size == size && same_data(&c->key, p))) {
    cache_clear(c);
    rc = teacher_make(p, &c->teacher, err);
    c->valid = 1;
  }
  if (!rc && engine == ENGINE_SHARDED && !c->train) {
    rc = data_make(p, &c->teacher, DATA_TRAIN, rank, size, &c->train, err);
    if (!rc) rc = data_make(p, &c->teacher, DATA_TEST, rank, size, &c->test, err);
  }
  if (!rc && engine == ENGINE_MOMENTS && !c->mtrain) {
    rc = moments_build(p, DATA_TRAIN, team, poll_fn, poll, &c->mtrain, err);
    if (!rc && p->n_test > 0)
      rc = moments_build(p, DATA_TEST, team, poll_fn, poll, &c->mtest, err);
    if (!rc) {
      c->Astar = tsim_xmalloc((size_t)(p->d * p->d) * sizeof(double));
      moments_teacher_matrix(&c->teacher, c->Astar);
      c->stats.tensor_builds += 1;
      if (c->mtrain->build_seconds > c->stats.build_seconds) {
        c->stats.build_seconds = c->mtrain->build_seconds;
        c->stats.build_n = c->mtrain->n;
      }
    }
  }
  rc = par_agree(team, rc, err);
  if (rc) {
    cache_clear(c);
    return rc;
  }
  c->key = *p;
  c->rank = rank;
  c->size = size;
  return TSIM_OK;
}

int train_log_due(const tsim_params *p, int64_t t) {
  if (t == 0) return 1;
  if (p->log_points <= 0) return t % p->log_every == 0;
  /* about P points t_i = round(T^(i/(P-1))), i = 0..P-1, on [1, T] */
  const int64_t T = p->iterations, P = p->log_points;
  if (T <= 1 || P <= 1) return t == T;
  const double step = log((double)T) / (double)(P - 1);
  const int64_t guess = llround(log((double)t) / step);
  for (int64_t i = guess - 1; i <= guess + 1; ++i)
    if (i >= 0 && i < P && llround(exp(step * (double)i)) == t) return 1;
  return 0;
}

static double norm2(const double *v, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += v[i] * v[i];
  return sqrt(s);
}

/* RES becomes a deep copy of the saved state FROM. */
static void copy_state(const cell_result *from, cell_result *res) {
  void *buf = NULL;
  size_t cap = 0;
  const size_t len = cell_result_pack(from, &buf, &cap);
  cell_result_unpack(buf, len, res);
  free(buf);
}

int train_cell(const tsim_config *cfg, int64_t cell, const par_comm *team,
               train_cache *cache, const train_hooks *hooks,
               const cell_result *resume, cell_result *res, tsim_error *err) {
  const double t_start = tsim_wtime();
  tsim_params p;
  config_cell(cfg, cell, &p);
  if (evolve_applies(&p)) /* the wider model family: its own engine */
    return evolve_cell(cfg, cell, team, hooks, resume, res, err);
  cell_result_init(res, cell);
  tsim_model m;
  model_from_params(&p, &m);
  const int64_t d = p.d, K = p.K, Kd = K * d;
  int64_t t_first = 0;
  double wall_before = 0.0;
  int rc = TSIM_OK;
  if (resume && resume->nW == Kd && resume->cell == cell) {
    copy_state(resume, res); /* rows, events and W_t of the saved state */
    t_first = res->iterations;
    wall_before = res->wall_s;
  } else {
    res->W = tsim_xcalloc((size_t)Kd, sizeof(double));
    res->nW = Kd;
    rc = par_agree(team, data_init_weights(&p, res->W, err), err);
    if (rc) return rc;
  }
  const int engine = engine_choose(&p);
  build_poll poll = {hooks, res, wall_before, t_start};
  rc = cache_fill(cache, &p, engine, team, hooks && hooks->interrupt ? &poll : NULL, err);
  if (rc) { /* failed, or stopped during a tensor build: RES is the start */
    res->wall_s = wall_before + tsim_wtime() - t_start;
    return rc;
  }
  const double t_loop = tsim_wtime();
  const tsim_teacher *teacher = &cache->teacher;
  double *W = res->W;
  double *G = tsim_xcalloc((size_t)Kd, sizeof(double));
  double *V = tsim_xcalloc((size_t)Kd, sizeof(double));
  double *q = tsim_xcalloc((size_t)K, sizeof(double));
  neuron_stats *ns = tsim_xcalloc((size_t)K, sizeof(neuron_stats));
  model_work *work = model_work_create(&m);
  moments_work *mwork = engine == ENGINE_MOMENTS ? moments_work_create(&m) : NULL;
  spectrum_plan *spectra = spectrum_plan_create(&p, team); /* NULL: none */

  const double target = teacher->norm / sqrt(p.C);   /* ||w*|| / sqrt(C) */
  const double lemma_radius = p.nu * target;         /* Lemma 1 */
  const double gamma = p.nu * teacher->norm / sqrt(2.0); /* Theorems 1, 3 */
  if (K == 1 && t_first == 0) {
    double par0 = 0.0;
    for (int64_t j = 0; j < d; ++j) par0 += W[j] * teacher->u[j];
    res->t_gamma_bound = metrics_t_gamma_bound(&m, teacher, p.eta, gamma, par0);
  }
  for (int64_t t = t_first;; ++t) {
    res->iterations = t; /* the state the hook sees: W_t, rows before t */
    res->wall_s = wall_before + tsim_wtime() - t_start;
    if (hooks && hooks->interrupt && hooks->interrupt(hooks->ctx, res)) {
      rc = TSIM_ESTOP;
      break;
    }
    const double dist = metrics_dist(&m, teacher, W, q);
    metrics_direction(&m, teacher, W, q, V);
    model_eval ev = {.grad = G};
    if (mwork)
      moments_evaluate(&m, cache->mtrain, cache->Astar, W, V, mwork, &ev);
    else
      model_evaluate(&m, cache->train, W, V, team, work, &ev);
    const double q9 = ev.hess_quad;
    if (res->t_q9_positive < 0 && q9 > 0.0) res->t_q9_positive = t;
    if (res->t_lemma1 < 0 && dist <= lemma_radius) res->t_lemma1 = t;
    if (K == 1 && res->t_gamma < 0) {
      metrics_neurons(&m, teacher, W, p.eta, ns);
      if (fabs(fabs(ns[0].par) - target) <= gamma && ns[0].perp_norm <= gamma)
        res->t_gamma = t;
    }
    int status = CELL_PENDING;
    if (!isfinite(ev.loss) || ev.loss > p.diverge_above)
      status = CELL_DIVERGED;
    else if (dist < p.tol || ev.loss < p.loss_tol)
      status = CELL_CONVERGED;
    else if (t >= p.iterations)
      status = CELL_MAX_ITERATIONS;
    if (spectrum_due(spectra, t, res->t_q9_positive == t,
                     status != CELL_PENDING)) {
      rc = spectrum_record(spectra, &m, teacher, mwork ? NULL : cache->train,
                           mwork ? cache->mtrain : NULL, W, V, q9, t, res, err);
      if (rc) break;
    }
    if (status != CELL_PENDING || train_log_due(&p, t)) {
      model_eval test = {0};
      double test_loss = NAN;
      if (mwork && cache->mtest) {
        moments_evaluate(&m, cache->mtest, cache->Astar, W, NULL, mwork, &test);
        test_loss = test.loss;
      } else if (!mwork && cache->test->n > 0) {
        model_evaluate(&m, cache->test, W, NULL, team, work, &test);
        test_loss = test.loss;
      }
      double *row = cell_result_row(res, TABLE_METRICS);
      row[0] = (double)t;
      row[1] = ev.loss;
      row[2] = test_loss;
      row[3] = metrics_pop_loss(&m, teacher, W);
      row[4] = dist;
      row[5] = q9;
      row[6] = norm2(G, Kd);
      if (cfg->out_neurons) {
        metrics_neurons(&m, teacher, W, p.eta, ns);
        for (int64_t k = 0; k < K; ++k) {
          double *nr = cell_result_row(res, TABLE_NEURONS);
          nr[0] = (double)t;
          nr[1] = (double)k;
          nr[2] = ns[k].par;
          nr[3] = ns[k].perp_norm;
          nr[4] = ns[k].norm;
          nr[5] = ns[k].comp_A;
          nr[6] = ns[k].comp_B;
          nr[7] = ns[k].comp_C;
          nr[8] = ns[k].comp_D;
        }
      }
      if (status != CELL_PENDING) {
        res->status = status;
        res->iterations = t;
        res->final_train_loss = ev.loss;
        res->final_test_loss = test_loss;
        res->final_dist = dist;
        break;
      }
    }
    for (int64_t e = 0; e < Kd; ++e) W[e] -= p.eta * G[e];
  }
  if (mwork) {
    cache->stats.moments_iterations += res->iterations - t_first + (rc == TSIM_OK);
    cache->stats.moments_seconds += tsim_wtime() - t_loop;
  }
  moments_work_destroy(&mwork);
  model_work_destroy(&work);
  spectrum_plan_destroy(&spectra);
  free(G);
  free(V);
  free(q);
  free(ns);
  res->wall_s = wall_before + tsim_wtime() - t_start;
  return rc;
}
