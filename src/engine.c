/* engine.c - engine choice and cost model (see engine.h). */
#include "tsim/engine.h"
#include "tsim/evolve.h"

#include <stdio.h>

#include "tsim/moments.h"

const char *engine_moments_unsupported(const tsim_params *p) {
  /* Residuals are quadratic forms x^T A x only for a quadratic student
   * and a quadratic teacher with noiseless labels; labels read from a file
   * can be anything. Every new model setting that breaks this (another
   * teacher activation, label noise) must return a reason here: then auto
   * falls back to sharded and data.engine: moments is a config error. */
  if (p->activation != ACT_QUADRATIC)
    return "the student activation is not quadratic";
  if (p->y_file) return "labels from data.y_file are not a quadratic form of x";
  if (evolve_applies(p))
    return "only the single quadratic teacher with noiseless labels, scaled init and "
           "gradient descent on samples is wired to it (this cell runs on the evolve engine)";
  if (p->d > ENGINE_MOMENTS_MAX_D)
    return "model.d is above 40 (the tensor's exact accumulator would not fit)";
  return NULL;
}

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
  if (p->engine == ENGINE_SHARDED || engine_moments_unsupported(p))
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
  const char *why = engine_moments_unsupported(p);
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
