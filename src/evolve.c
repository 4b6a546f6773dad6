/* evolve.c - one cell of the wider model family: gradient descent or
 * gradient flow on the empirical (sharded) or population loss (see
 * evolve.h). Every rank of the team holds the same W and receives the same
 * exactly reduced sums (or computes the same closed form), so the control
 * flow is a pure function of the cell's settings, as in train.c. */
#include "tsim/evolve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/data.h"
#include "tsim/flow.h"
#include "tsim/metrics.h"
#include "tsim/model.h"
#include "tsim/population.h"
#include "tsim/schedule.h"

/* The loss being minimised and what the metrics need. */
typedef struct objective {
  tsim_model m;
  tsim_teacher teacher;
  int population_regime, wang_like;
  tsim_dataset *train, *test;
  model_work *work;
  population *pop; /* the closed form, when the activations match */
  const par_comm *team;
} objective;

static int objective_make(objective *o, const tsim_params *p,
                          const par_comm *team, tsim_error *err) {
  memset(o, 0, sizeof *o);
  model_from_params(p, &o->m);
  o->team = team;
  o->population_regime = p->regime == REGIME_POPULATION;
  TSIM_TRY(teacher_make(p, &o->teacher, err));
  o->wang_like = p->activation == ACT_QUADRATIC && !p->norm_tied &&
                 o->teacher.m == 1 && o->teacher.activation == ACT_QUADRATIC;
  if (o->teacher.activation == p->activation)
    o->pop = population_create(&o->m, &o->teacher, p->label_noise);
  if (o->population_regime) {
    if (!o->pop)
      return tsim_fail(err, TSIM_EINPUT,
                       "data.regime: population needs teacher.activation equal "
                       "to model.activation (the closed forms are for matching pairs)");
    return TSIM_OK;
  }
  o->work = model_work_create(&o->m);
  const int rank = par_rank(team), size = par_size(team);
  int rc = data_make(p, &o->teacher, DATA_TRAIN, rank, size, &o->train, err);
  if (!rc) rc = data_make(p, &o->teacher, DATA_TEST, rank, size, &o->test, err);
  return rc;
}

static void objective_free(objective *o) {
  if (o->teacher.V) teacher_free(&o->teacher);
  population_destroy(&o->pop);
  model_work_destroy(&o->work);
  data_destroy(&o->train);
  data_destroy(&o->test);
}

/* L(W) and its gradient (flow_gradient) */
static double objective_loss(void *ctx, const double *W, double *grad) {
  objective *o = ctx;
  if (o->population_regime) return population_loss(o->pop, W, grad);
  model_eval ev = {.grad = grad};
  model_evaluate(&o->m, o->train, W, NULL, o->team, o->work, &ev);
  return ev.loss;
}

static double norm2(const double *v, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += v[i] * v[i];
  return sqrt(s);
}

/* neurons.csv rows: Wang & Abernethy's statistics for their model, else
 * the parallel and perpendicular parts along teacher 0 only. */
static void neuron_rows(const objective *o, const double *W, double eta,
                        double t, neuron_stats *ns, cell_result *res) {
  const int64_t K = o->m.K, d = o->m.d;
  if (o->wang_like) {
    metrics_neurons(&o->m, &o->teacher, W, eta, ns);
  } else {
    for (int64_t k = 0; k < K; ++k) {
      const double *wk = W + k * d;
      double par = 0.0, perp = 0.0;
      for (int64_t j = 0; j < d; ++j) par += wk[j] * o->teacher.u[j];
      for (int64_t j = 0; j < d; ++j) {
        const double e = wk[j] - par * o->teacher.u[j];
        perp += e * e;
      }
      ns[k] = (neuron_stats){par, sqrt(perp), norm2(wk, d), NAN, NAN, NAN, NAN};
    }
  }
  metrics_neuron_rows(ns, K, t, res);
}

/* teachers.csv rows (see evolve.h) */
static void teacher_rows(const objective *o, const double *W, double t,
                         double match_degrees, cell_result *res) {
  const int64_t K = o->m.K, d = o->m.d;
  const int lines = activation_info(o->m.activation)->even; /* w, -w: one neuron */
  const double PI_ = 3.14159265358979323846, match = match_degrees * PI_ / 180.0;
  double total = 0.0;
  for (int64_t e = 0; e < K * d; ++e) total += W[e] * W[e];
  for (int64_t l = 0; l < o->teacher.m; ++l) {
    const double *v = o->teacher.V + l * d, nv = norm2(v, d);
    double best = NAN, along = 0.0;
    int64_t matched = 0;
    for (int64_t k = 0; k < K; ++k) {
      const double *wk = W + k * d;
      double a = population_angle(wk, v, d);
      if (norm2(wk, d) == 0.0) continue; /* no direction */
      if (lines && a > PI_ / 2) a = PI_ - a;
      const double c = cos(a);
      if (isnan(best) || c > best) best = c;
      if (a <= match) ++matched;
      double pv = 0.0;
      for (int64_t j = 0; j < d; ++j) pv += wk[j] * v[j];
      along += (pv / nv) * (pv / nv);
    }
    double *row = cell_result_row(res, TABLE_TEACHERS);
    row[0] = t;
    row[1] = (double)l;
    row[2] = best;
    row[3] = (double)matched;
    row[4] = total > 0.0 ? along / total : NAN;
  }
}

int evolve_cell(const tsim_config *cfg, int64_t cell, const par_comm *team,
                const train_hooks *hooks, const cell_result *resume,
                cell_result *res, tsim_error *err) {
  const double t_start = tsim_wtime();
  tsim_params p;
  config_cell(cfg, cell, &p);
  cell_result_init(res, cell);
  objective o;
  int rc = par_agree(team, objective_make(&o, &p, team, err), err);
  if (rc) {
    objective_free(&o);
    return rc;
  }
  const int64_t d = p.d, K = p.K, Kd = K * d;
  const int flow = p.method == METHOD_FLOW;
  int64_t t_first = 0;
  double wall_before = 0.0;
  if (resume && resume->nW == Kd && resume->cell == cell) {
    cell_result_copy(resume, res);
    t_first = res->iterations;
    wall_before = res->wall_s;
  } else {
    res->W = tsim_xcalloc((size_t)Kd, sizeof(double));
    res->nW = Kd;
    rc = par_agree(team, data_init_weights(&p, res->W, err), err);
    if (rc) {
      objective_free(&o);
      return rc;
    }
  }
  double *W = res->W;
  double *G = tsim_xcalloc((size_t)Kd, sizeof(double));
  double *V = tsim_xcalloc((size_t)Kd, sizeof(double));
  double *q = tsim_xcalloc((size_t)K, sizeof(double));
  double *coef = tsim_xcalloc((size_t)K, sizeof(double));
  neuron_stats *ns = tsim_xcalloc((size_t)K, sizeof(neuron_stats));
  const tsim_teacher *teacher = &o.teacher;
  const double target = teacher->norm / sqrt(o.m.C);
  const double lemma_radius = p.nu * target;
  const double gamma = p.nu * teacher->norm / sqrt(2.0);
  if (o.wang_like && K == 1 && t_first == 0 && !flow) {
    double par0 = 0.0;
    for (int64_t j = 0; j < d; ++j) par0 += W[j] * teacher->u[j];
    res->t_gamma_bound = metrics_t_gamma_bound(&o.m, teacher, p.eta, gamma, par0);
  }
  int blown = 0; /* the flow's step size underflowed */
  flow_stats fs = {0};
  for (int64_t t = t_first;; ++t) {
    res->iterations = t;
    res->wall_s = wall_before + tsim_wtime() - t_start;
    const cell_result *progress[1] = {res};
    /* Once the flow's step size has underflowed this iteration is the
     * cell's last (diverged): no stop or saved state here, which would
     * lose that flag and go on one more interval on resume. */
    if (!blown && hooks && hooks->interrupt && hooks->interrupt(hooks->ctx, progress, 1)) {
      rc = TSIM_ESTOP;
      break;
    }
    int last = 0;
    const double time = flow ? schedule_flow_time(&p, t, &last) : (double)t;
    double dist = NAN, q9 = NAN, loss;
    if (o.wang_like) dist = metrics_dist(&o.m, teacher, W, q);
    if (o.wang_like && !o.population_regime) {
      const model_direction dir = metrics_direction(&o.m, teacher, W, q, V, coef);
      model_eval ev = {.grad = G};
      model_evaluate(&o.m, o.train, W, &dir, team, o.work, &ev);
      loss = ev.loss;
      q9 = ev.hess_quad;
    } else {
      loss = objective_loss(&o, W, G);
    }
    if (res->t_q9_positive < 0 && q9 > 0.0) res->t_q9_positive = t;
    if (res->t_lemma1 < 0 && dist <= lemma_radius) res->t_lemma1 = t;
    if (o.wang_like && K == 1 && res->t_gamma < 0) {
      metrics_neurons(&o.m, teacher, W, p.eta, ns);
      if (fabs(fabs(ns[0].par) - target) <= gamma && ns[0].perp_norm <= gamma)
        res->t_gamma = t;
    }
    int status = CELL_PENDING;
    if (blown || !isfinite(loss) || loss > p.diverge_above)
      status = CELL_DIVERGED;
    else if (dist < p.tol || (p.loss_tol > 0.0 && loss < p.loss_tol))
      status = CELL_CONVERGED;
    else if (flow ? last : t >= p.iterations)
      status = CELL_MAX_ITERATIONS;
    double test_loss = NAN;
    if (flow || status != CELL_PENDING || schedule_log_due(&p, t)) {
      if (!o.population_regime && o.test->n > 0) {
        model_eval test = {0};
        model_evaluate(&o.m, o.test, W, NULL, team, o.work, &test);
        test_loss = test.loss;
      }
      double *row = cell_result_row(res, TABLE_METRICS);
      row[0] = time;
      row[1] = loss;
      row[2] = test_loss;
      row[3] = o.population_regime ? loss
               : o.pop              ? population_loss(o.pop, W, NULL)
                                    : NAN;
      row[4] = dist;
      row[5] = q9;
      row[6] = norm2(G, Kd);
      if (cfg->out_neurons) neuron_rows(&o, W, p.eta, time, ns, res);
      teacher_rows(&o, W, time, p.match_angle, res);
    }
    if (status != CELL_PENDING) {
      res->status = status;
      res->iterations = t;
      res->final_train_loss = loss;
      res->final_test_loss = test_loss;
      res->final_dist = dist;
      break;
    }
    if (flow) {
      int next_last;
      const double t_next = schedule_flow_time(&p, t + 1, &next_last);
      blown = flow_integrate(objective_loss, &o, Kd, W, time, t_next, p.rtol,
                             p.atol, &fs) != 0;
    } else {
      for (int64_t e = 0; e < Kd; ++e) W[e] -= p.eta * G[e];
    }
  }
  objective_free(&o);
  free(G);
  free(V);
  free(coef);
  free(q);
  free(ns);
  res->wall_s = wall_before + tsim_wtime() - t_start;
  return rc;
}
