/* engine.c - the table of engines, the choice and the cost model (see
 * engine.h). The only object that references the engine files. */
#include "tsim/engine.h"

#include <stdio.h>

#include "tsim/cellkind.h"
#include "tsim/engine_gram.h"
#include "tsim/engine_moments.h"
#include "tsim/engine_population.h"
#include "tsim/engine_sharded.h"

/* In this order: a tie in cost goes to the first. */
static const engine_kind *const table[] = {&engine_sharded, &engine_moments, &engine_gram,
                                           &engine_population};
#define NENGINES ((int)(sizeof table / sizeof table[0]))

const engine_kind *engine_by_id(int id) {
  for (int e = 0; e < NENGINES; ++e)
    if (table[e]->id == id) return table[e];
  return NULL;
}

const engine_kind *engine_of(const tsim_params *p) {
  const engine_kind *named = engine_by_id(p->engine);
  if (named && !named->unsupported(p)) return named;
  const engine_kind *best = NULL;
  double best_cost = 0.0;
  for (int e = 0; e < NENGINES; ++e) {
    if (table[e]->unsupported(p) || (table[e]->caps & ENGINE_NAMED)) continue;
    engine_cost c;
    table[e]->cost(p, &c);
    if (!best || c.total < best_cost) best = table[e], best_cost = c.total;
  }
  return best ? best : table[0];
}

const char *engine_spectra_unsupported(const tsim_params *p) {
  if (p->hess_source == HESS_SOURCE_SAMPLES && !(engine_of(p)->caps & ENGINE_SPECTRA))
    return "data.regime: population has no samples to form it from "
           "(metrics.hessian.source: population gives the closed form's)";
  return cellkind_hessian(p);
}

int engine_choose(const tsim_params *p) { return engine_of(p)->id; }

const char *engine_name(int engine) {
  const engine_kind *e = engine_by_id(engine);
  return e ? e->name : "auto";
}

void engine_costs_of(const tsim_params *p, engine_costs *c) {
  engine_cost s, m;
  engine_sharded.cost(p, &s);
  engine_moments.cost(p, &m);
  c->sharded = s.total;
  c->moments_build = m.build;
  c->moments_iteration = m.iteration;
  c->moments = m.total;
}

void engine_describe(const tsim_params *p, char *buf, size_t cap) {
  const engine_kind *chosen = engine_of(p);
  const char *how = p->engine == ENGINE_AUTO ? "auto" : "set";
  if (chosen->id == ENGINE_POPULATION) {
    snprintf(buf, cap, "%s (data.regime: population; the closed form)", chosen->name);
    return;
  }
  if (chosen->id == ENGINE_GRAM) {
    engine_cost s, g;
    engine_sharded.cost(p, &s);
    engine_gram.cost(p, &g);
    snprintf(buf, cap, "%s (%s; cost in multiply-adds: sharded %.2g, gram %.2g)", chosen->name,
             how, s.total, g.total);
    return;
  }
  const char *why = engine_moments.unsupported(p);
  if (why) {
    snprintf(buf, cap, "%s (%s; moments engine not applicable: %s)", chosen->name, how, why);
    return;
  }
  engine_costs c;
  engine_costs_of(p, &c);
  snprintf(buf, cap,
           "%s (%s; cost in multiply-adds: sharded %.2g, moments %.2g = build %.2g + %lld x %.2g)",
           chosen->name, how, c.sharded, c.moments, c.moments_build, (long long)p->iterations,
           c.moments_iteration);
}
