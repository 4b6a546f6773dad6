/* schedule.h - when a cell does what, as pure functions of its settings:
 * the iterations it logs, the times a gradient flow stops at, whether and
 * when it takes Hessian spectra. They read tsim_params alone and call
 * nothing else of tsim's, so any module may ask them. */
#ifndef TSIM_SCHEDULE_H
#define TSIM_SCHEDULE_H

#include <stdint.h>
#include "tsim/config.h"

/* Is iteration T one to log? (train.log_every, or about train.log_points
 * log-spaced iterations; t = 0 always.) */
int schedule_log_due(const tsim_params *p, int64_t t);

/* The rows a cell logs when it runs to its limit (train.iterations, or a
 * flow's final time): logged iterations and the last one; a cell that
 * stops earlier logs fewer. */
int64_t schedule_log_rows(const tsim_params *p);

/* Gradient flow (train.method: flow, cell.h): the time of logged point
 * J, and whether it is the last one. */
double schedule_flow_time(const tsim_params *p, int64_t j, int *last);

/* Does P ask for Hessian spectra at all (metrics.hessian)? */
int schedule_spectra(const tsim_params *p);

/* Is a spectrum due at iteration T by metrics.hessian.events (Q9_EVENT: T
 * is the first iteration with quantity (9) > 0; FINAL: the cell stops at
 * T) or metrics.hessian.log_points? The iterations of metrics.hessian.at
 * are the spectrum plan's (spectrum_due). */
int schedule_spectrum_due(const tsim_params *p, int64_t t, int q9_event, int final);

#endif
