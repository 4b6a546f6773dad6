/* engine_sharded.h - the sharded engine's row of the engine table (engine.h; only
 * engine.c refers to it). */
#ifndef TSIM_ENGINE_SHARDED_H
#define TSIM_ENGINE_SHARDED_H

#include "tsim/engine.h"

extern const engine_kind engine_sharded;

#endif
