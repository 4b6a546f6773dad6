/* cellkind.h - what kind of cell a setting makes, as a pure function of
 * its tsim_params: Wang & Abernethy's model or the wider model family
 * (which rows and closed forms it gets, record.h). config.c and the engine
 * table check a config with it, so it calls nothing above data.h. */
#ifndef TSIM_CELLKIND_H
#define TSIM_CELLKIND_H

#include "tsim/config.h"

/* Is cell P of the model family: anything but Wang & Abernethy's
 * empirical gradient descent with a quadratic student, one quadratic
 * teacher, noiseless labels and the scaled init? */
int cellkind_family(const tsim_params *p);

/* NULL when hessian.h's matrix at metrics.hessian.source is the Hessian of
 * cell P's loss, else why not. The samples' Hessian holds for every
 * activation of the table (act'' constant off the kinks); the population's
 * needs the closed form of a matching teacher and student; neither models
 * the norm-tied output. */
const char *cellkind_hessian(const tsim_params *p);

/* Why cell P does not read the setting KEY ("train.eta": "gradient flow
 * takes no steps (train.method flow)"), or NULL when it does (every key not
 * named in cellkind.c). Such a key is empty in the cell's cells.csv row and
 * may not be a grid axis over it. */
const char *cellkind_unread(const tsim_params *p, const char *key);

/* Why cell P has no teacher (teacher.source none: its labels come from
 * data.y_file), or NULL when it has one. Every teacher-based output of such
 * a cell is empty (dist, pop_loss, q9, the events, final_dist, the
 * neurons' par, perp_norm and components) and it has no teachers.csv rows. */
const char *cellkind_no_teacher(const tsim_params *p);

/* Does cell P form quantity (9) (and so t_q9_positive)? Wang & Abernethy's
 * quadratic student with one quadratic teacher, on samples or the moment
 * tensors; the population closed form does not form it. */
int cellkind_has_q9(const tsim_params *p);

/* Why cell P cannot run a setting it was given, or NULL; *KEY is the setting.
 * train.weight_decay and train.momentum are gradient descent's (cell.h applies
 * them to any engine's gradient, so every engine takes them); a flow refuses
 * them. */
const char *cellkind_refused(const tsim_params *p, const char **key);

/* Largest d the moments engine (engine_moments.c) takes: its exact
 * accumulator holds C(d+3,4) entries of 552 bytes each (68 MB at d = 40). */
#define CELLKIND_MOMENTS_MAX_D 40

#endif
