/* record.h - the rows a cell writes: metrics.csv, neurons.csv and
 * teachers.csv, formed from W_t and the evaluation at it (cell.h runs the
 * loop and decides when).
 *
 * metrics.csv, per logged iteration (or flow time) t: train_loss (the loss
 * being minimised: the population loss in the population regime, where
 * test_loss is empty), test_loss, pop_loss, dist, q9, grad_norm. pop_loss
 * is Wang & Abernethy's closed form for their model and cells of it, else
 * the population loss when teacher and student share an activation; dist,
 * q9 and the neuron components are Wang & Abernethy's notions, left empty
 * unless the model is theirs (quadratic, no norm tie, one teacher).
 *
 * neurons.csv: par / perp_norm / norm of each student along teacher 0's
 * direction for every model, with the components of the next population
 * step for Wang & Abernethy's model.
 *
 * teachers.csv (cells of the model family, cellkind_family), per logged row
 * and teacher l: best_cos = the largest cosine between v_l and a student,
 * n_matched = the number of students within metrics.match_angle degrees of
 * v_l (for abs and quadratic neurons, whose w and -w are the same function,
 * the angle between lines: |cos|), and energy = sum_k (v_l^ . w_k)^2 /
 * sum_k ||w_k||^2, the share of the students' weight along v_l (summed over
 * orthonormal teachers: the overlap of the students with the teacher
 * subspace, Martin, Bach & Biroli). */
#ifndef TSIM_RECORD_H
#define TSIM_RECORD_H

#include "tsim/data.h"
#include "tsim/metrics.h"
#include "tsim/model.h"
#include "tsim/result.h"

/* One metrics.csv row's values (the cell's columns after `cell`). */
typedef struct record_metrics {
  double t, train_loss, test_loss, pop_loss, dist, q9, grad_norm;
} record_metrics;
void record_metrics_row(const record_metrics *row, cell_result *res);

/* ||V|| (N entries). */
double record_norm2(const double *v, int64_t n);

/* The K neurons' rows at T: Wang & Abernethy's statistics (metrics_neurons,
 * step ETA) when WANG_LIKE, else the parts along teacher 0 only (only the
 * norm without a teacher: TEACHER NULL). NS: K
 * entries of work space (it holds the statistics after the call). */
void record_neuron_rows(const tsim_model *m, const tsim_teacher *teacher, int wang_like,
                        const double *W, double eta, double t, neuron_stats *ns,
                        cell_result *res);

/* The teachers' rows at T (MATCH_DEGREES: metrics.match_angle). */
void record_teacher_rows(const tsim_model *m, const tsim_teacher *teacher, const double *W,
                         double t, double match_degrees, cell_result *res);

#endif
