/* cell.h - one cell, or a batch of cells sharing a data set, run from W0
 * (or a saved state) to its stop, for every model: resume, the events
 * (t_q9_positive, t_lemma1, t_gamma where they apply), the logging
 * schedule, the stop rules, the rows (record.h), Hessian spectra, and the
 * step: gradient descent, or a segment of gradient flow.
 *
 * Gradient descent: iteration t evaluates the loss, gradient and quantity
 * (9) at W_t (in one pass over the samples for the whole batch), records
 * events and rows, checks the stop rules, and only then steps
 * W_{t+1} = W_t - eta grad f(W_t). So t runs from 0 to at most
 * train.iterations, and the reported `iterations` is the last t seen.
 *
 * Gradient flow: the "iterations" are the logged times t_0 = 0 < t_1 <
 * ... (train.T, or train.iterations, as the final time; train.log_points
 * log-spaced times in [1, T], or every train.log_every time units):
 * segment j integrates from t_j to t_{j+1} (flow.h) with the cell's own
 * loss and gradient (samples, tensor or closed form), every t_j is logged,
 * and t_j is where a cell can stop and resume exactly. The `t` column of
 * metrics.csv holds the time. A flow whose step size underflows (a
 * blow-up) or whose gradient is not finite is reported diverged at the
 * next logged time.
 *
 * The loss and gradient come from the cell's samples (sharded engine,
 * model.h; cells of a batch share one pass, batch.h), the fourth-moment
 * tensor (moments.h) or the closed form (data.regime: population,
 * population.h). */
#ifndef TSIM_CELL_H
#define TSIM_CELL_H

#include "tsim/config.h"
#include "tsim/datacache.h"
#include "tsim/result.h"
#include "tsim/parallel.h"

/* The data a team keeps between its cells (datacache.h): cells of the
 * same data set, of any model, reuse its samples instead of making them
 * again. */
typedef struct data_cache train_cache;
train_cache *train_cache_create(void);
void train_cache_destroy(train_cache **c);
/* What making the data cost on this rank so far (for the manifest). */
typedef data_cache_stats train_engine_stats;
void train_cache_stats(const train_cache *c, train_engine_stats *s);

/* INTERRUPT is called on every rank of the team at every iteration
 * boundary, with the state so far of each of the N cells still running
 * (PROGRESS[i]: status CELL_PENDING, `iterations` the next t, W = W_t, rows
 * and events before t), which it may save; a non-zero return stops them
 * there. It must return the same value on every rank of the team (the
 * scheduler's hook agrees over the team). FINISHED (may be NULL) is called
 * on every rank of the team with the final result of each cell as it
 * finishes (in a batch, the others go on). */
typedef struct train_hooks {
  int (*interrupt)(void *ctx, const cell_result *const *progress, int n);
  void (*finished)(void *ctx, const cell_result *res);
  void *ctx;
} train_hooks;

/* Can cell P share a batch (one pass over the samples for all its cells)?
 * Gradient descent on stored samples (sharded engine), any model. */
int cell_batchable(const tsim_params *p);

/* Run cells CELLS[0..N) of CFG on the ranks of TEAM, each from the start
 * or, if RESUME (may be NULL) holds a saved state of it (see train_hooks),
 * from there: a result has the bits of an uninterrupted run either way.
 * The cells must share one data set (config_same_data), and when N > 1 be
 * batchable (cell_batchable); they are advanced in lockstep with one pass
 * over the samples per iteration for all of them (batch.h); a cell drops
 * out when it finishes. RES[i] is bitwise what a batch of cell CELLS[i]
 * alone gives: only the measured wall_s differs. Every rank of the team
 * returns the same RES. Errors (unreadable data file on one rank, ...) are
 * agreed over the team before returning. Returns TSIM_ESTOP when HOOKS (may
 * be NULL) interrupted the cells; those not finished then hold their state
 * at that point. */
int train_batch(const tsim_config *cfg, const int64_t *cells, int n, const par_comm *team,
                train_cache *cache, const train_hooks *hooks,
                const cell_result *const *resume, cell_result *res, tsim_error *err);

#endif
