/* evolve.h - one cell of the model family (cellkind_family) beyond Wang & Abernethy's
 * empirical gradient descent (train.c keeps that one, bit for bit): relu,
 * abs, the norm tie, several teachers, label noise, the other
 * initialisations, the population loss (data.regime: population) and
 * gradient flow (train.method: flow).
 *
 * Gradient descent: as in train.h (iteration t evaluates W_t, logs, checks
 * the stop rules, then steps). Gradient flow: the "iterations" are the
 * logged times t_0 = 0 < t_1 < ... (train.T, or train.iterations, as the
 * final time; train.log_points log-spaced times in [1, T], or every
 * train.log_every time units): segment j integrates from t_j to t_{j+1}
 * (flow.h), every t_j is logged, and t_j is where a cell can stop and
 * resume exactly. The `t` column of metrics.csv holds the time. A flow
 * whose step size underflows (a blow-up) or whose gradient is not finite is
 * reported diverged at the next logged time.
 *
 * Columns: train_loss is the loss being minimised (the population loss in
 * the population regime, where test_loss is empty); pop_loss is the closed
 * form when teacher and student share an activation; dist, q9 and the
 * neuron components are Wang & Abernethy's notions, left empty unless the
 * model is theirs (quadratic, no norm tie, one teacher), q9 also in the
 * population regime; par / perp_norm / norm of neurons.csv refer to
 * teacher 0's direction for every model.
 *
 * teachers.csv, per logged row and teacher l: best_cos = the largest cosine
 * between v_l and a student, n_matched = the number of students within
 * metrics.match_angle degrees of v_l (for abs and quadratic neurons, whose
 * w and -w are the same function, the angle between lines: |cos|), and
 * energy = sum_k (v_l^ . w_k)^2 / sum_k ||w_k||^2, the share of the
 * students' weight along v_l (summed over orthonormal teachers: the overlap
 * of the students with the teacher subspace, Martin, Bach & Biroli). */
#ifndef TSIM_EVOLVE_H
#define TSIM_EVOLVE_H

#include "tsim/train.h"

/* Run the cell as train_batch does a batch of one (same contract, hooks,
 * resume and cache). */
int evolve_cell(const tsim_config *cfg, int64_t cell, const par_comm *team,
                train_cache *cache, const train_hooks *hooks, const cell_result *resume,
                cell_result *res, tsim_error *err);

#endif
