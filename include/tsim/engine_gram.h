/* engine_gram.h - the Gram engine's row of the engine table (engine.h; only
 * engine.c refers to it). */
#ifndef TSIM_ENGINE_GRAM_H
#define TSIM_ENGINE_GRAM_H

#include "tsim/engine.h"

extern const engine_kind engine_gram;

#endif
