/* train.c - one cell's gradient descent (see train.h).
 *
 * Every rank of the team holds the same W and receives the same exactly
 * reduced sums, so every rank takes the same decisions without further
 * messages: the control flow of a cell is a pure function of its settings. */
#include "tsim/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/batch.h"
#include "tsim/cellkind.h"
#include "tsim/data.h"
#include "tsim/datacache.h"
#include "tsim/engine.h"
#include "tsim/evolve.h"
#include "tsim/metrics.h"
#include "tsim/model.h"
#include "tsim/moments.h"
#include "tsim/schedule.h"
#include "tsim/spectrum.h"

train_cache *train_cache_create(void) { return data_cache_create(); }
void train_cache_destroy(train_cache **c) { data_cache_destroy(c); }
void train_cache_stats(const train_cache *c, train_engine_stats *s) { data_cache_stats_of(c, s); }

/* The interrupt hook during a tensor build: the cells' states are the ones
 * they started from (W_t, t = the first iteration to evaluate). */
typedef struct build_poll {
  const train_hooks *hooks;
  const cell_result *const *states;
  int n;
} build_poll;

static int poll_build(void *ctx) {
  build_poll *b = ctx;
  return b->hooks->interrupt(b->hooks->ctx, b->states, b->n);
}

/* What a batch reads from the team's cache: the teacher, and the samples
 * (sharded) or the tensors (moments) of its data set. */
typedef struct batch_data {
  const tsim_teacher *teacher;
  const tsim_dataset *train, *test;
  const moments_tensor *mtrain, *mtest;
  const double *Astar;
} batch_data;

static double norm2(const double *v, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += v[i] * v[i];
  return sqrt(s);
}

/* One cell of a (possibly one-cell) batch: its settings, state and
 * buffers. The loop body below is the same for every cell whether it runs
 * alone or in a batch, so a batch changes nothing but what shares the pass
 * over the samples. */
typedef struct cell_run {
  tsim_params p;
  tsim_model m;
  cell_result *res;
  int64_t t, Kd;
  double wall_before, target, lemma_radius, gamma, dist;
  double *G, *V, *q, *coef;
  model_direction dir; /* V, and V = coef w*^T - W for the fused pass */
  neuron_stats *ns;
  model_work *work;
  moments_work *mwork;    /* the moments engine's, NULL on the sharded one */
  spectrum_plan *spectra; /* metrics.hessian, NULL: none */
  model_eval ev;
  int with_q9; /* this iteration's evaluation forms quantity (9) */
  int active;
} cell_run;

static int run_open(const tsim_config *cfg, int64_t cell, const par_comm *team,
                    const tsim_teacher *teacher, const cell_result *resume,
                    cell_result *res, cell_run *r, tsim_error *err) {
  memset(r, 0, sizeof *r);
  config_cell(cfg, cell, &r->p);
  cell_result_init(res, cell);
  r->res = res;
  model_from_params(&r->p, &r->m);
  const int64_t d = r->p.d, K = r->p.K;
  r->Kd = K * d;
  if (resume && resume->nW == r->Kd && resume->cell == cell) {
    cell_result_copy(resume, res); /* rows, events and W_t of the saved state */
    r->t = res->iterations;
    r->wall_before = res->wall_s;
  } else {
    res->W = tsim_xcalloc((size_t)r->Kd, sizeof(double));
    res->nW = r->Kd;
    const int rc = par_agree(team, data_init_weights(&r->p, res->W, err), err);
    if (rc) return rc;
  }
  r->G = tsim_xcalloc((size_t)r->Kd, sizeof(double));
  r->V = tsim_xcalloc((size_t)r->Kd, sizeof(double));
  r->q = tsim_xcalloc((size_t)K, sizeof(double));
  r->coef = tsim_xcalloc((size_t)K, sizeof(double));
  r->ns = tsim_xcalloc((size_t)K, sizeof(neuron_stats));
  r->work = model_work_create(&r->m);
  r->spectra = spectrum_plan_create(&r->p, team);
  r->target = teacher->norm / sqrt(r->p.C);            /* ||w*|| / sqrt(C) */
  r->lemma_radius = r->p.nu * r->target;               /* Lemma 1 */
  r->gamma = r->p.nu * teacher->norm / sqrt(2.0);      /* Theorems 1, 3 */
  if (K == 1 && r->t == 0) {
    double par0 = 0.0;
    for (int64_t j = 0; j < d; ++j) par0 += res->W[j] * teacher->u[j];
    res->t_gamma_bound = metrics_t_gamma_bound(&r->m, teacher, r->p.eta, r->gamma, par0);
  }
  r->active = 1;
  return TSIM_OK;
}

static void run_close(cell_run *r) {
  model_work_destroy(&r->work);
  moments_work_destroy(&r->mwork);
  spectrum_plan_destroy(&r->spectra);
  free(r->G);
  free(r->V);
  free(r->q);
  free(r->coef);
  free(r->ns);
  r->G = r->V = r->q = r->coef = NULL;
  r->ns = NULL;
}

/* Does the evaluation at T need quantity (9) (Wang & Abernethy (9), the
 * Hessian form along V)? It decides nothing in the dynamics: it is read for
 * its first positive value (t_q9_positive), the logged rows and the
 * spectra. So once t_q9_positive is known, the iterations between those
 * skip it: 2d + 6K of the 4Kd + 2d + 9K + 9 flops per sample of the
 * quadratic pass (15% at d = K = 10, a third at K = 1). A cell that stops
 * at a skipped iteration (it converged or diverged there) has it formed
 * then (run_record). Whatever is skipped, every number written is the
 * same. */
static int q9_wanted(const cell_run *r) {
  const tsim_params *p = &r->p;
  return r->res->t_q9_positive < 0 || r->t >= p->iterations || schedule_log_due(p, r->t) ||
         spectrum_due(r->spectra, r->t, 0, 0);
}

/* Before the evaluation at W_t: dist and the direction V of quantity (9). */
static void run_prepare(cell_run *r, const tsim_teacher *teacher) {
  const double *W = r->res->W;
  r->dist = metrics_dist(&r->m, teacher, W, r->q);
  r->dir = metrics_direction(&r->m, teacher, W, r->q, r->V, r->coef);
  r->ev = (model_eval){.grad = r->G};
  r->with_q9 = q9_wanted(r);
}

/* Quantity (9) at W_t for a cell that stops at an iteration that skipped
 * it: the same evaluation again, with V (the same loss and gradient bits:
 * the pass forms (9) in sums of its own). */
static double run_q9(cell_run *r, const batch_data *bd, const par_comm *team) {
  model_eval again = {.grad = r->G};
  if (r->mwork)
    moments_evaluate(&r->m, bd->mtrain, bd->Astar, r->res->W, r->V, r->mwork, &again);
  else
    model_evaluate(&r->m, bd->train, r->res->W, &r->dir, team, r->work, &again);
  return again.hess_quad;
}

/* After it: events, the spectra, the logged rows, the stop rules. Returns 1
 * when the cell is finished (RES final), 0 when W steps to W_{t+1}, or a
 * negative error code (a spectrum failed; ERR says why). */
static int run_record(const tsim_config *cfg, cell_run *r, const batch_data *bd,
                      const par_comm *team, tsim_error *err) {
  const tsim_teacher *teacher = bd->teacher;
  cell_result *res = r->res;
  const tsim_params *p = &r->p;
  const int64_t t = r->t, K = p->K;
  const double *W = res->W;
  const double dist = r->dist;
  double q9 = r->ev.hess_quad;
  neuron_stats *ns = r->ns;
  if (res->t_q9_positive < 0 && q9 > 0.0) res->t_q9_positive = t;
  if (res->t_lemma1 < 0 && dist <= r->lemma_radius) res->t_lemma1 = t;
  if (K == 1 && res->t_gamma < 0) {
    metrics_neurons(&r->m, teacher, W, p->eta, ns);
    if (fabs(fabs(ns[0].par) - r->target) <= r->gamma && ns[0].perp_norm <= r->gamma)
      res->t_gamma = t;
  }
  int status = CELL_PENDING;
  if (!isfinite(r->ev.loss) || r->ev.loss > p->diverge_above)
    status = CELL_DIVERGED;
  else if (dist < p->tol || r->ev.loss < p->loss_tol)
    status = CELL_CONVERGED;
  else if (t >= p->iterations)
    status = CELL_MAX_ITERATIONS;
  if (status != CELL_PENDING && !r->with_q9) q9 = run_q9(r, bd, team);
  if (spectrum_due(r->spectra, t, res->t_q9_positive == t, status != CELL_PENDING)) {
    const int rc = spectrum_record(r->spectra, &r->m, teacher, r->mwork ? NULL : bd->train,
                                   r->mwork ? bd->mtrain : NULL, W, r->V, q9, t, res, err);
    if (rc) return -rc;
  }
  if (status != CELL_PENDING || schedule_log_due(p, t)) {
    model_eval test = {0};
    double test_loss = NAN;
    if (r->mwork && bd->mtest) {
      moments_evaluate(&r->m, bd->mtest, bd->Astar, W, NULL, r->mwork, &test);
      test_loss = test.loss;
    } else if (!r->mwork && bd->test->n > 0) {
      model_evaluate(&r->m, bd->test, W, NULL, team, r->work, &test);
      test_loss = test.loss;
    }
    double *row = cell_result_row(res, TABLE_METRICS);
    row[0] = (double)t;
    row[1] = r->ev.loss;
    row[2] = test_loss;
    row[3] = metrics_pop_loss(&r->m, teacher, W);
    row[4] = dist;
    row[5] = q9;
    row[6] = norm2(r->G, r->Kd);
    if (cfg->out_neurons) {
      metrics_neurons(&r->m, teacher, W, p->eta, ns);
      metrics_neuron_rows(ns, K, (double)t, res);
    }
    if (status != CELL_PENDING) {
      res->status = status;
      res->iterations = t;
      res->final_train_loss = r->ev.loss;
      res->final_test_loss = test_loss;
      res->final_dist = dist;
      return 1;
    }
  }
  return 0;
}

int train_batch(const tsim_config *cfg, const int64_t *cells, int n, const par_comm *team,
                train_cache *cache, const train_hooks *hooks,
                const cell_result *const *resume, cell_result *res, tsim_error *err) {
  const double t_start = tsim_wtime();
  tsim_params p0;
  config_cell(cfg, cells[0], &p0);
  if (cellkind_family(&p0)) { /* the wider model family: its own engine, one cell */
    if (n != 1)
      return tsim_fail(err, TSIM_EFAIL, "internal: cell %lld of the model family in a batch",
                       (long long)cells[0]);
    const int rc =
        evolve_cell(cfg, cells[0], team, cache, hooks, resume ? resume[0] : NULL, res, err);
    if (rc == TSIM_OK && hooks && hooks->finished) hooks->finished(hooks->ctx, res);
    return rc;
  }
  const int engine = engine_choose(&p0);
  if (engine == ENGINE_MOMENTS && n != 1)
    return tsim_fail(err, TSIM_EFAIL, "internal: cell %lld of the moments engine in a batch",
                     (long long)cells[0]);
  cell_run *runs = tsim_xcalloc((size_t)n, sizeof *runs);
  for (int i = 0; i < n; ++i) cell_result_init(&res[i], cells[i]);
  batch_data data = {0}, *bd = &data;
  int rc = data_cache_teacher(cache, &p0, team, &data.teacher, err);
  int64_t kmax = 1;
  for (int i = 0; i < n && !rc; ++i) {
    tsim_params p;
    config_cell(cfg, cells[i], &p);
    if (!config_same_data(&p, &p0))
      rc = tsim_fail(err, TSIM_EFAIL, "cells %lld and %lld do not share a data set",
                     (long long)cells[0], (long long)cells[i]);
    else
      rc = run_open(cfg, cells[i], team, bd->teacher, resume ? resume[i] : NULL,
                    &res[i], &runs[i], err);
    if (p.K > kmax) kmax = p.K;
  }
  const cell_result **progress = tsim_xcalloc((size_t)n, sizeof *progress);
  if (!rc) { /* the samples or tensors; a tensor build polls the hook */
    for (int i = 0; i < n; ++i) progress[i] = &res[i];
    build_poll poll = {hooks, progress, n};
    if (engine == ENGINE_MOMENTS)
      rc = data_cache_tensors(cache, &p0, team, hooks && hooks->interrupt ? poll_build : NULL,
                              &poll, &data.mtrain, &data.mtest, &data.Astar, err);
    else
      rc = data_cache_samples(cache, &p0, team, &data.train, &data.test, err);
  }
  if (!rc && engine == ENGINE_MOMENTS) runs[0].mwork = moments_work_create(&runs[0].m);
  const double t_loop = tsim_wtime();
  int64_t t_first = runs[0].t;
  const tsim_model **ms = tsim_xcalloc((size_t)n, sizeof *ms);
  const double **Ws = tsim_xcalloc((size_t)n, sizeof *Ws);
  const model_direction **dirs = tsim_xcalloc((size_t)n, sizeof *dirs);
  model_work **singles = tsim_xcalloc((size_t)n, sizeof *singles);
  model_eval *evs = tsim_xcalloc((size_t)n, sizeof *evs);
  int *act = tsim_xcalloc((size_t)n, sizeof *act);
  batch_work *bw = rc ? NULL : batch_work_create(p0.d, kmax, n);
  while (!rc) {
    int na = 0;
    for (int i = 0; i < n; ++i) {
      if (!runs[i].active) continue;
      act[na] = i;
      runs[i].res->iterations = runs[i].t; /* the state the hook sees: W_t, rows before t */
      runs[i].res->wall_s = runs[i].wall_before + tsim_wtime() - t_start;
      progress[na++] = runs[i].res;
    }
    if (na == 0) break;
    if (hooks && hooks->interrupt && hooks->interrupt(hooks->ctx, progress, na)) {
      rc = TSIM_ESTOP;
      break;
    }
    for (int a = 0; a < na; ++a) {
      cell_run *r = &runs[act[a]];
      run_prepare(r, bd->teacher);
      ms[a] = &r->m;
      Ws[a] = r->res->W;
      dirs[a] = r->with_q9 ? &r->dir : NULL;
      singles[a] = r->work;
      evs[a] = r->ev;
    }
    if (runs[act[0]].mwork)
      moments_evaluate(ms[0], bd->mtrain, bd->Astar, Ws[0], dirs[0] ? dirs[0]->V : NULL,
                       runs[act[0]].mwork, &evs[0]);
    else if (na == 1)
      model_evaluate(ms[0], bd->train, Ws[0], dirs[0], team, singles[0], &evs[0]);
    else
      batch_evaluate(bw, ms, bd->train, Ws, dirs, team, singles, evs, na);
    for (int a = 0; a < na; ++a) {
      cell_run *r = &runs[act[a]];
      r->ev = evs[a];
      const int done = run_record(cfg, r, bd, team, err);
      if (done < 0) { /* the same on every rank of the team */
        rc = -done;
        break;
      }
      if (done) {
        r->active = 0;
        r->res->wall_s = r->wall_before + tsim_wtime() - t_start;
        if (hooks && hooks->finished) hooks->finished(hooks->ctx, r->res);
        continue;
      }
      double *W = r->res->W;
      for (int64_t e = 0; e < r->Kd; ++e) W[e] -= r->p.eta * r->G[e];
      r->t += 1;
    }
  }
  if (runs[0].mwork)
    data_cache_note_moments(cache, runs[0].t - t_first + (rc == TSIM_OK), tsim_wtime() - t_loop);
  for (int i = 0; i < n; ++i) {
    if (runs[i].active) runs[i].res->wall_s = runs[i].wall_before + tsim_wtime() - t_start;
    run_close(&runs[i]);
  }
  batch_work_destroy(&bw);
  free(runs);
  free(ms);
  free(Ws);
  free(dirs);
  free(singles);
  free(evs);
  free(progress);
  free(act);
  return rc;
}
