/* engine.c - engine choice and cost model (see engine.h). */
#include "tsim/engine.h"

#include <stdio.h>

#include "tsim/cellkind.h"
#include "tsim/moments.h"

void engine_costs_of(const tsim_params *p, engine_costs *c) {
  const double n = (double)p->n, nt = (double)p->n_test, d = (double)p->d;
  const double K = (double)p->K, T = (double)p->iterations;
  const double pairs = (double)moments_pairs(p->d);
  const double make = ENGINE_RNG_COST * d; /* one sample's inputs */
  c->sharded = T * 3.0 * n * d * K +
               (p->storage == STORAGE_REGENERATE ? T * n * make : (n + nt) * make);
  c->moments_build = (n + nt) * ((double)moments_entries(p->d) + make);
  c->moments_iteration = 2.0 * pairs * pairs + 3.0 * d * d * K;
  c->moments = c->moments_build + T * c->moments_iteration;
}

int engine_choose(const tsim_params *p) {
  if (p->engine == ENGINE_SHARDED || cellkind_moments_unsupported(p))
    return ENGINE_SHARDED;
  if (p->engine == ENGINE_MOMENTS) return ENGINE_MOMENTS;
  engine_costs c;
  engine_costs_of(p, &c);
  return c.moments < c.sharded ? ENGINE_MOMENTS : ENGINE_SHARDED;
}

const char *engine_name(int engine) {
  return engine == ENGINE_MOMENTS ? "moments" : engine == ENGINE_SHARDED ? "sharded" : "auto";
}

void engine_describe(const tsim_params *p, char *buf, size_t cap) {
  const char *why = cellkind_moments_unsupported(p);
  const int chosen = engine_choose(p);
  if (why) {
    snprintf(buf, cap, "%s (%s; moments engine not applicable: %s)", engine_name(chosen),
             p->engine == ENGINE_AUTO ? "auto" : "set", why);
    return;
  }
  engine_costs c;
  engine_costs_of(p, &c);
  snprintf(buf, cap,
           "%s (%s; cost in multiply-adds: sharded %.2g, moments %.2g = build %.2g + %lld x %.2g)",
           engine_name(chosen), p->engine == ENGINE_AUTO ? "auto" : "set", c.sharded,
           c.moments, c.moments_build, (long long)p->iterations, c.moments_iteration);
}
