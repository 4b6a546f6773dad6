/* cellkind.h - what kind of cell a setting makes, as pure functions of its
 * tsim_params: whether it is of Wang & Abernethy's model or of the wider
 * model family (which rows and closed forms it gets) and whether the moments engine can
 * compute it (engine.h). config.c checks a config with these, so they call
 * nothing above data.h. */
#ifndef TSIM_CELLKIND_H
#define TSIM_CELLKIND_H

#include "tsim/config.h"

/* Is cell P of the model family (record.h): anything but Wang &
 * Abernethy's empirical gradient descent with a quadratic student, one
 * quadratic teacher, noiseless labels and the scaled init? */
int cellkind_family(const tsim_params *p);

/* Largest d the moments engine takes: its exact accumulator holds
 * C(d+3,4) entries of 552 bytes each (68 MB at d = 40). */
#define CELLKIND_MOMENTS_MAX_D 40

/* NULL when the moments engine computes cell P exactly, else why not
 * ("the student activation is not quadratic", ...). */
const char *cellkind_moments_unsupported(const tsim_params *p);

#endif
