/* engine_moments.h - the moments engine's row of the engine table (engine.h; only
 * engine.c refers to it). */
#ifndef TSIM_ENGINE_MOMENTS_H
#define TSIM_ENGINE_MOMENTS_H

#include "tsim/engine.h"

extern const engine_kind engine_moments;

#endif
