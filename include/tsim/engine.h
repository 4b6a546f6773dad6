/* engine.h - which engine computes a cell's sums over the samples: the
 * sharded pass over the samples (model.h, any model) or the fourth-moment
 * tensor (moments.h, quadratic student and teacher without label noise:
 * cellkind_moments_unsupported), and the cost model that data.engine: auto
 * decides with.
 *
 * The choice is a pure function of the cell's settings (never of the rank
 * count, the team or what a cache holds), because the two engines round
 * differently: the same config gives the same bits everywhere. */
#ifndef TSIM_ENGINE_H
#define TSIM_ENGINE_H

#include <stddef.h>
#include "tsim/config.h"

/* Estimated work of a whole cell in multiply-adds (sample generation
 * counted at ENGINE_RNG_COST per coordinate), at train.iterations:
 *   sharded:  iterations x 3 n d K (forward, gradient, q9 direction), plus
 *             the samples made once (memory) or every iteration (regenerate)
 *   moments:  build (n + n_test) C(d+3,4) plus the samples made once, then
 *             iterations x (2 (d(d+1)/2)^2 + 3 d^2 K). */
#define ENGINE_RNG_COST 100.0 /* measured: ~18 ns per normal, ~0.2 ns per multiply-add */
typedef struct engine_costs {
  double sharded;
  double moments_build, moments_iteration, moments; /* moments: the total */
} engine_costs;
void engine_costs_of(const tsim_params *p, engine_costs *c);

/* ENGINE_SHARDED or ENGINE_MOMENTS for cell P (data.engine: auto picks the
 * cheaper by the cost model, when the moments engine applies). */
int engine_choose(const tsim_params *p);
const char *engine_name(int engine);
/* "moments (auto; cost sharded 1.5e+10, moments 1.4e+06 + 5000 x 6.2e+03)" */
void engine_describe(const tsim_params *p, char *buf, size_t cap);

#endif
