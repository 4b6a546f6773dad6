/* check.h - a minimal test harness: CHECK prints one line per check and
 * counts; check_summary prints the "N passed, N failed" line and returns the
 * exit status. */
#ifndef TSIM_CHECK_H
#define TSIM_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/config.h"
#include "tsim/data.h"
#include "tsim/model.h"

static int check_passed, check_failed;
static const char *check_suite = "test";

#define CHECK(cond, ...)                                                    \
  do {                                                                      \
    if (cond) {                                                             \
      ++check_passed;                                                       \
      printf("ok   %s: ", check_suite);                                     \
    } else {                                                                \
      ++check_failed;                                                       \
      printf("FAIL %s (%s:%d): ", check_suite, __FILE__, __LINE__);         \
    }                                                                       \
    printf(__VA_ARGS__);                                                    \
    printf("\n");                                                           \
  } while (0)

static int check_summary(void) {
  printf("%s: %d passed, %d failed\n", check_suite, check_passed, check_failed);
  return check_failed ? 1 : 0;
}

/* Settings of one Wang & Abernethy cell without a config file: quadratic
 * student and one quadratic teacher w* = e1, loss scale 1/4, init seed
 * SEED + 100, and the config's defaults for what a test does not set (one
 * teacher neuron, scaled init, empirical gradient descent). */
static inline tsim_params check_params(int64_t d, int64_t K, double C, int64_t n,
                                       int64_t chunk, uint64_t seed) {
  tsim_params p;
  memset(&p, 0, sizeof p);
  p.activation = ACT_QUADRATIC;
  p.d = d;
  p.K = K;
  p.C = C;
  p.loss_scale = 0.25;
  p.teacher_norm = 1.0;
  p.teacher_direction = DIR_E1;
  p.teacher_neurons = 1;
  p.n = n;
  p.chunk = chunk;
  p.data_seed = seed;
  p.init_scale = 0.5;
  p.init_seed = seed + 100;
  p.eta = 1e-3;
  return p;
}

/* One cell made from its settings P: model, teacher, rank RANK of SIZE's
 * training samples, work space and the initial weights W (N = K d). */
typedef struct check_cell {
  tsim_params p;
  tsim_model m;
  tsim_teacher t;
  tsim_dataset *ds;
  model_work *work;
  double *W;
  int64_t N;
} check_cell;

static inline void check_cell_make(check_cell *f, tsim_params p, int rank, int size) {
  tsim_error err;
  f->p = p;
  model_from_params(&p, &f->m);
  teacher_make(&p, &f->t, &err);
  data_make(&p, &f->t, DATA_TRAIN, rank, size, &f->ds, &err);
  f->work = model_work_create(&f->m);
  f->N = p.K * p.d + (p.train_output ? p.K : 0); /* the a_k after the w_k */
  f->W = calloc((size_t)f->N, sizeof(double));
  data_init_weights(&p, f->W, &err);
  if (p.train_output) data_init_output(&p, f->W + p.K * p.d);
}

static inline void check_cell_free(check_cell *f) {
  teacher_free(&f->t);
  data_destroy(&f->ds);
  model_work_destroy(&f->work);
  free(f->W);
}

#endif
