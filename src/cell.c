/* cell.c - a cell or a batch of cells, every model (see cell.h).
 *
 * Every rank of the team holds the same W and receives the same exactly
 * reduced sums (or computes the same closed form), so every rank takes the
 * same decisions without further messages: the control flow of a cell is
 * a pure function of its settings. */
#include "tsim/cell.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/cellkind.h"
#include "tsim/data.h"
#include "tsim/engine.h"
#include "tsim/flow.h"
#include "tsim/metrics.h"
#include "tsim/model.h"
#include "tsim/population.h"
#include "tsim/quadrature.h"
#include "tsim/record.h"
#include "tsim/schedule.h"
#include "tsim/spectrum.h"

train_cache *train_cache_create(void) { return data_cache_create(); }
void train_cache_destroy(train_cache **c) { data_cache_destroy(c); }
void train_cache_stats(const train_cache *c, train_engine_stats *s) { data_cache_stats_of(c, s); }

int cell_batchable(const tsim_params *p) {
  return (engine_of(p)->caps & ENGINE_BATCHES) && p->method == METHOD_GD &&
         p->storage == STORAGE_MEMORY;
}

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

/* One cell of a (possibly one-cell) batch: its settings, state and
 * buffers. The loop body below is the same for every cell whether it runs
 * alone or in a batch, so a batch changes nothing but what shares the pass
 * over the samples. */
typedef struct cell_run {
  tsim_params p;
  tsim_model m;
  cell_result *res;
  const engine_kind *engine;
  int taught;    /* it has a teacher (cellkind_no_teacher): else no teacher-based output */
  int family;    /* cellkind_family: teachers.csv rows, pop_loss by population.h */
  int wang_like; /* quadratic, no norm tie, one quadratic teacher: dist, q9, t_gamma */
  int has_q9;    /* wang_like on an engine that forms quantity (9) */
  int flow;      /* train.method: flow */
  int64_t t, np; /* np: the trained numbers, K d weights (and K output weights) */
  double time; /* t, or the flow's time t_j */
  int last;    /* flow: t_j is the last time */
  double wall_before, target, lemma_radius, gamma, dist;
  double eta; /* train.eta, NaN where the cell takes no steps */
  double *G, *V, *q, *coef;
  model_direction dir; /* V, and V = coef w*^T - W for the fused pass */
  neuron_stats *ns;
  void *work;             /* the engine's */
  population *pop;        /* pop_loss of the model family, when the activations match */
  spectrum_plan *spectra; /* metrics.hessian, NULL: none */
  const engine_data *bd;
  const par_comm *team;
  model_eval ev;
  int with_q9; /* this iteration's evaluation forms quantity (9) */
  int blown;   /* the flow's step size underflowed */
  flow_stats fs;
  int active;
} cell_run;

static int run_open(const tsim_config *cfg, int64_t cell, const par_comm *team,
                    const engine_data *bd, const cell_result *resume, cell_result *res,
                    cell_run *r, tsim_error *err) {
  memset(r, 0, sizeof *r);
  config_cell(cfg, cell, &r->p);
  cell_result_init(res, cell);
  r->res = res;
  r->bd = bd;
  r->team = team;
  model_from_params(&r->p, &r->m);
  const tsim_params *p = &r->p;
  const tsim_teacher *teacher = bd->teacher;
  r->engine = engine_of(p);
  r->taught = !cellkind_no_teacher(p);
  r->family = cellkind_family(p);
  r->flow = p->method == METHOD_FLOW;
  r->wang_like = r->taught && !p->train_output && p->activation == ACT_QUADRATIC &&
                 !p->norm_tied && teacher->m == 1 && teacher->activation == ACT_QUADRATIC &&
                 !teacher->a;
  r->has_q9 = r->wang_like && (r->engine->caps & ENGINE_DIRECTION);
  r->work = r->engine->prepare(&r->m, teacher, p);
  if (!r->work) {
    const char *why = r->engine->unsupported(p);
    return par_agree(team,
                     tsim_fail(err, TSIM_EINPUT, "cell %lld: the %s engine cannot take it: %s",
                               (long long)cell, r->engine->name, why ? why : "?"),
                     err);
  }
  /* pop_loss where a teacher and a closed form exist (else its column stays empty) */
  if (r->taught && teacher->activation == p->activation && r->family &&
      r->engine->id != ENGINE_POPULATION &&
      activation_info(p->activation)->population != ACT_POP_NONE)
    r->pop = population_create(&r->m, teacher, p->label_noise);
  const int64_t d = p->d, K = p->K;
  r->np = K * d + (p->train_output ? K : 0);
  if (resume && resume->nW == r->np && resume->cell == cell) {
    cell_result_copy(resume, res); /* rows, events and W_t of the saved state */
    r->t = res->iterations;
    r->wall_before = res->wall_s;
  } else {
    res->W = tsim_xcalloc((size_t)r->np, sizeof(double));
    res->nW = r->np;
    const int rc = par_agree(team, data_init_weights(p, res->W, err), err);
    if (rc) return rc;
    if (p->train_output) data_init_output(p, res->W + K * d);
  }
  if (p->momentum > 0.0 && res->nV != r->np) { /* v_0 = 0 (a saved state has its v_t) */
    if (r->t > 0)
      return TSIM_INTERNAL(err, "cell %lld: the saved state has no momentum buffer",
                           (long long)cell);
    free(res->V);
    res->V = tsim_xcalloc((size_t)r->np, sizeof(double));
    res->nV = r->np;
  }
  r->G = tsim_xcalloc((size_t)r->np, sizeof(double));
  r->V = tsim_xcalloc((size_t)r->np, sizeof(double));
  r->q = tsim_xcalloc((size_t)K, sizeof(double));
  r->coef = tsim_xcalloc((size_t)K, sizeof(double));
  r->ns = tsim_xcalloc((size_t)K, sizeof(neuron_stats));
  r->spectra = spectrum_plan_create(p, team);
  r->target = teacher->norm / sqrt(r->m.C);       /* ||w*|| / sqrt(C) */
  r->lemma_radius = p->nu * r->target;            /* Lemma 1 */
  r->gamma = p->nu * teacher->norm / sqrt(2.0);   /* Theorems 1, 3 */
  /* eq. (8)'s step: none for a flow or without iterations (NaN: the
   * quantities made of it stay empty) */
  r->eta = cellkind_unread(p, "train.eta") ? NAN : p->eta;
  if (r->wang_like && K == 1 && r->t == 0 && !isnan(r->eta)) {
    double par0 = 0.0;
    for (int64_t j = 0; j < d; ++j) par0 += res->W[j] * teacher->u[j];
    res->t_gamma_bound = metrics_t_gamma_bound(&r->m, teacher, r->eta, r->gamma, par0);
  }
  r->active = 1;
  return TSIM_OK;
}

static void run_close(cell_run *r) {
  if (r->work) r->engine->release(r->work);
  r->work = NULL;
  population_destroy(&r->pop);
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
  return r->res->t_q9_positive < 0 || r->flow || r->t >= p->iterations ||
         schedule_log_due(p, r->t) || spectrum_due(r->spectra, r->t, 0, 0);
}

/* Before the evaluation at W_t: the time, dist and the direction V of
 * quantity (9). */
static void run_prepare(cell_run *r) {
  const double *W = r->res->W;
  r->time = r->flow ? schedule_flow_time(&r->p, r->t, &r->last) : (double)r->t;
  r->dist = NAN;
  r->with_q9 = 0;
  r->ev = (model_eval){.grad = r->G};
  if (r->wang_like) r->dist = metrics_dist(&r->m, r->bd->teacher, W, r->q);
  if (r->has_q9) {
    r->dir = metrics_direction(&r->m, r->bd->teacher, W, r->q, r->V, r->coef);
    r->with_q9 = q9_wanted(r);
  }
}

/* The loss at W and its gradient into GRAD (flow_gradient), from the cell's
 * engine. */
static double run_loss(void *ctx, const double *W, double *grad) {
  cell_run *r = ctx;
  model_eval ev = {.grad = grad};
  const engine_job job = {&r->m, W, NULL, r->work, &ev};
  r->engine->evaluate(NULL, &job, 1, r->bd, r->team);
  return ev.loss;
}

/* The evaluation at W_t of the runs ACT[0..NA) (prepared, one engine): in
 * one pass over the samples when the engine batches. */
static void evaluate(cell_run *runs, const int *act, int na, const engine_data *bd,
                     const par_comm *team, void *batch, engine_job *jobs) {
  for (int a = 0; a < na; ++a) {
    cell_run *r = &runs[act[a]];
    jobs[a] = (engine_job){&r->m, r->res->W, r->with_q9 ? &r->dir : NULL, r->work, &r->ev};
  }
  runs[act[0]].engine->evaluate(batch, jobs, na, bd, team);
}

/* Quantity (9) at W_t for a cell that stops at an iteration that skipped
 * it: the same evaluation again, with V (the same loss and gradient bits:
 * the pass forms (9) in sums of its own). */
static double run_q9(cell_run *r) {
  model_eval again = {.grad = r->G};
  const engine_job job = {&r->m, r->res->W, &r->dir, r->work, &again};
  r->engine->evaluate(NULL, &job, 1, r->bd, r->team);
  return again.hess_quad;
}

/* After it: events, the spectra, the logged rows, the stop rules. Returns 1
 * when the cell is finished (RES final), 0 when W steps to W_{t+1}, or a
 * negative error code (a spectrum failed; ERR says why). */
static int run_record(const tsim_config *cfg, cell_run *r, tsim_error *err) {
  const engine_data *bd = r->bd;
  const tsim_teacher *teacher = bd->teacher;
  cell_result *res = r->res;
  const tsim_params *p = &r->p;
  const int64_t t = r->t, K = p->K;
  const double *W = res->W;
  const double dist = r->dist, loss = r->ev.loss;
  double q9 = r->has_q9 ? r->ev.hess_quad : NAN;
  neuron_stats *ns = r->ns;
  if (res->t_q9_positive < 0 && q9 > 0.0) res->t_q9_positive = t;
  if (res->t_lemma1 < 0 && dist <= r->lemma_radius) res->t_lemma1 = t;
  if (r->wang_like && K == 1 && res->t_gamma < 0) {
    metrics_neurons(&r->m, teacher, W, p->eta, ns);
    if (fabs(fabs(ns[0].par) - r->target) <= r->gamma && ns[0].perp_norm <= r->gamma)
      res->t_gamma = t;
  }
  int status = CELL_PENDING;
  if (r->blown || !isfinite(loss) || loss > p->diverge_above)
    status = CELL_DIVERGED;
  else if (dist < p->tol || (p->loss_tol > 0.0 && loss < p->loss_tol))
    status = CELL_CONVERGED;
  else if (r->flow ? r->last : t >= p->iterations)
    status = t == 0 ? CELL_EVALUATED : r->flow ? CELL_REACHED_T : CELL_MAX_ITERATIONS;
  if (status != CELL_PENDING && r->has_q9 && !r->with_q9) q9 = run_q9(r);
  /* weight decay: the objective's gradient, the same on every rank (after
   * the exact sums); the loss and the stop rules stay the data loss's */
  const double lambda = p->weight_decay;
  double penalty = 0.0;
  if (lambda > 0.0) {
    double w2 = 0.0;
    for (int64_t e = 0; e < r->np; ++e) {
      r->G[e] += lambda * W[e];
      w2 += W[e] * W[e];
    }
    penalty = 0.5 * lambda * w2;
  }
  if (spectrum_due(r->spectra, t, res->t_q9_positive == t, status != CELL_PENDING)) {
    const unsigned caps = r->engine->caps;
    const int rc = spectrum_record(r->spectra, &r->m, teacher,
                                   caps & ENGINE_SAMPLES ? bd->train : NULL,
                                   caps & ENGINE_TENSORS ? bd->mtrain : NULL, W, r->V, q9, t,
                                   res, err);
    if (rc) return -rc;
  }
  if (r->flow || status != CELL_PENDING || schedule_log_due(p, t)) {
    double test_loss = NAN;
    if (!r->engine->test_loss(r->work, &r->m, W, bd, r->team, &test_loss)) test_loss = NAN;
    double pop_loss = NAN; /* Wang & Abernethy's closed form for their cells */
    if (!r->taught)
      pop_loss = NAN;
    else if (!r->family) /* (never with model.train_output) */
      pop_loss = metrics_pop_loss(&r->m, teacher, W);
    else if (r->engine->id == ENGINE_POPULATION)
      pop_loss = loss;
    else if (r->pop)
      pop_loss = population_loss(r->pop, W, NULL);
    else if (p->pop_quadrature)
      pop_loss = quadrature_loss(&r->m, teacher, p->label_noise, W, NULL);
    const record_metrics row = {r->time, loss, test_loss, pop_loss, dist, q9,
                                record_norm2(r->G, r->np)};
    record_metrics_row(&row, res);
    if (cfg->penalty_column) cell_result_penalty(res, penalty);
    if (cfg->out_neurons)
      record_neuron_rows(&r->m, r->taught ? teacher : NULL, r->wang_like, W, r->eta, r->time,
                         ns, res);
    if (r->family && r->taught) record_teacher_rows(&r->m, teacher, W, r->time, p->match_angle, res);
    if (cfg->out_weights) cell_result_snapshot(res, r->time);
    if (status != CELL_PENDING) {
      res->status = status;
      res->iterations = t;
      res->final_train_loss = loss;
      res->final_test_loss = test_loss;
      res->final_dist = dist;
      return 1;
    }
  }
  return 0;
}

/* W_t to W_{t+1}: a gradient step, or the flow from t_j to t_{j+1}. */
static void run_step(cell_run *r) {
  double *W = r->res->W;
  if (r->flow) {
    int next_last;
    const double t_next = schedule_flow_time(&r->p, r->t + 1, &next_last);
    r->blown = flow_integrate(run_loss, r, r->np, W, r->time, t_next, r->p.rtol, r->p.atol,
                              &r->fs) != 0;
  } else {
    /* the output weights (after the K d weights) with their own step */
    const int64_t Kd = r->p.K * r->p.d;
    const double eta = r->p.eta, eta_a = r->p.eta_output > 0.0 ? r->p.eta_output : eta;
    if (r->p.momentum > 0.0) { /* heavy ball: v <- mu v + g, W <- W - eta v */
      double *v = r->res->V;
      const double mu = r->p.momentum;
      for (int64_t e = 0; e < r->np; ++e) {
        v[e] = mu * v[e] + r->G[e];
        W[e] -= (e < Kd ? eta : eta_a) * v[e];
      }
    } else {
      for (int64_t e = 0; e < r->np; ++e) W[e] -= (e < Kd ? eta : eta_a) * r->G[e];
    }
  }
  r->t += 1;
}

int train_batch(const tsim_config *cfg, const int64_t *cells, int n, const par_comm *team,
                train_cache *cache, const train_hooks *hooks,
                const cell_result *const *resume, cell_result *res, tsim_error *err) {
  const double t_start = tsim_wtime();
  tsim_params p0;
  config_cell(cfg, cells[0], &p0);
  const engine_kind *engine = engine_of(&p0);
  cell_run *runs = tsim_xcalloc((size_t)n, sizeof *runs);
  for (int i = 0; i < n; ++i) cell_result_init(&res[i], cells[i]);
  engine_data data = {0};
  int rc = data_cache_teacher(cache, &p0, team, &data.teacher, err);
  int64_t kmax = 1;
  for (int i = 0; i < n && !rc; ++i) {
    tsim_params p;
    config_cell(cfg, cells[i], &p);
    if (!config_same_data(&p, &p0))
      rc = TSIM_INTERNAL(err, "cells %lld and %lld do not share a data set",
                         (long long)cells[0], (long long)cells[i]);
    else if (n > 1 && (!cell_batchable(&p) || engine_of(&p) != engine))
      rc = TSIM_INTERNAL(err, "cell %lld cannot share a batch", (long long)cells[i]);
    else
      rc = run_open(cfg, cells[i], team, &data, resume ? resume[i] : NULL, &res[i], &runs[i],
                    err);
    if (p.K > kmax) kmax = p.K;
  }
  const cell_result **progress = tsim_xcalloc((size_t)n, sizeof *progress);
  if (!rc) { /* the samples or tensors; a tensor build polls the hook */
    for (int i = 0; i < n; ++i) progress[i] = &res[i];
    build_poll poll = {hooks, progress, n};
    if (engine->caps & ENGINE_TENSORS)
      rc = data_cache_tensors(cache, &p0, team, hooks && hooks->interrupt ? poll_build : NULL,
                              &poll, &data.mtrain, &data.mtest, &data.Astar, err);
    if (!rc && (engine->caps & ENGINE_SAMPLES))
      rc = data_cache_samples(cache, &p0, team, &data.train, &data.test, err);
  }
  const double t_loop = tsim_wtime();
  int64_t t_first = runs[0].t;
  engine_job *jobs = tsim_xcalloc((size_t)n, sizeof *jobs);
  int *act = tsim_xcalloc((size_t)n, sizeof *act);
  void *batch = rc || n == 1 || !engine->batch_create ? NULL : engine->batch_create(p0.d, kmax, n);
  while (!rc) {
    int na = 0, blown = 0;
    for (int i = 0; i < n; ++i) {
      if (!runs[i].active) continue;
      act[na] = i;
      runs[i].res->iterations = runs[i].t; /* the state the hook sees: W_t, rows before t */
      runs[i].res->wall_s = runs[i].wall_before + tsim_wtime() - t_start;
      blown |= runs[i].blown;
      progress[na++] = runs[i].res;
    }
    if (na == 0) break;
    /* Once a flow's step size has underflowed this iteration is its last
     * (diverged): no stop or saved state here, which would lose that flag
     * and go on one more interval on resume. */
    if (!blown && hooks && hooks->interrupt && hooks->interrupt(hooks->ctx, progress, na)) {
      rc = TSIM_ESTOP;
      break;
    }
    for (int a = 0; a < na; ++a) run_prepare(&runs[act[a]]);
    evaluate(runs, act, na, &data, team, batch, jobs);
    for (int a = 0; a < na; ++a) {
      cell_run *r = &runs[act[a]];
      const int done = run_record(cfg, r, err);
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
      run_step(r);
    }
  }
  if (data.mtrain) /* the moments engine ran (one cell) */
    data_cache_note_moments(cache, runs[0].t - t_first + (rc == TSIM_OK), tsim_wtime() - t_loop);
  for (int i = 0; i < n; ++i) {
    if (runs[i].active) runs[i].res->wall_s = runs[i].wall_before + tsim_wtime() - t_start;
    run_close(&runs[i]);
  }
  if (batch) engine->batch_release(batch);
  free(runs);
  free(jobs);
  free(progress);
  free(act);
  return rc;
}
