/* engine_population.h - the population engine's row of the engine table (engine.h; only
 * engine.c refers to it). */
#ifndef TSIM_ENGINE_POPULATION_H
#define TSIM_ENGINE_POPULATION_H

#include "tsim/engine.h"

extern const engine_kind engine_population;

#endif
