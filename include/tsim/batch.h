/* batch.h - several students evaluated in one pass over a shared data set
 * (cells that share a data set advance together; docs/running.md).
 *
 * Each block of samples is read from memory once and used by every student
 * (fused.h); each student's chunk partials are computed exactly as when it
 * is evaluated alone, and summed exactly (reduce.h) in one accumulator for
 * all, so every student gets the bits model_evaluate gives it alone, with
 * one reduction message per evaluation instead of one per student. */
#ifndef TSIM_BATCH_H
#define TSIM_BATCH_H

#include "tsim/model.h"

typedef struct batch_work batch_work;
/* Work space for up to NMAX students of dimension D, at most KMAX neurons. */
batch_work *batch_work_create(int64_t d, int64_t kmax, int nmax);
void batch_work_destroy(batch_work **w);

/* model_evaluate of student q (model M[q], weights W[q], direction DIR[q],
 * OUT[q]) for q < N over DS, reduced exactly over COMM. Students whose
 * activation the fused pass does not take are evaluated one by one with
 * SINGLE[q] (model_work for M[q]); the bits are the same either way. */
void batch_evaluate(batch_work *w, const tsim_model *const *m, const tsim_dataset *ds,
                    const double *const *W, const model_direction *const *dir,
                    const par_comm *comm,
                    model_work *const *single, model_eval *out, int n);

#endif
