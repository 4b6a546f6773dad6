/* datacache.c - the team's data, kept by data identity (see datacache.h). */
#include "tsim/datacache.h"

#include <stdlib.h>

struct data_cache {
  int valid;
  tsim_params key; /* the settings the cached data were made with */
  int rank, size;
  tsim_teacher teacher;
  tsim_dataset *train, *test; /* sharded engine: made on first use */
  moments_tensor *mtrain, *mtest; /* moments engine: built on first use */
  double *Astar;                  /* the teacher as y = x^T A* x */
  data_cache_stats stats;
};

data_cache *data_cache_create(void) {
  return tsim_xcalloc(1, sizeof(data_cache));
}

static void cache_clear(data_cache *c) {
  if (c->valid) teacher_free(&c->teacher);
  data_destroy(&c->train);
  data_destroy(&c->test);
  moments_destroy(&c->mtrain);
  moments_destroy(&c->mtest);
  free(c->Astar);
  c->Astar = NULL;
  c->valid = 0;
}

void data_cache_destroy(data_cache **c) {
  if (!c || !*c) return;
  cache_clear(*c);
  free(*c);
  *c = NULL;
}

void data_cache_stats_of(const data_cache *c, data_cache_stats *s) {
  *s = c->stats;
}

void data_cache_note_moments(data_cache *c, int64_t iterations, double seconds) {
  c->stats.moments_iterations += iterations;
  c->stats.moments_seconds += seconds;
}

int data_cache_teacher(data_cache *c, const tsim_params *p, const par_comm *team,
                       const tsim_teacher **teacher, tsim_error *err) {
  const int rank = par_rank(team), size = par_size(team);
  int rc = TSIM_OK;
  if (!(c->valid && c->rank == rank && c->size == size && config_same_data(&c->key, p))) {
    cache_clear(c);
    rc = teacher_make(p, &c->teacher, err);
    c->valid = 1;
    c->key = *p;
    c->rank = rank;
    c->size = size;
  }
  rc = par_agree(team, rc, err);
  if (rc) cache_clear(c);
  *teacher = rc ? NULL : &c->teacher;
  return rc;
}

int data_cache_samples(data_cache *c, const tsim_params *p, const par_comm *team,
                       const tsim_dataset **train, const tsim_dataset **test,
                       tsim_error *err) {
  const int rank = par_rank(team), size = par_size(team);
  int rc = TSIM_OK;
  if (!c->train) {
    const double t0 = tsim_wtime();
    rc = data_make(p, &c->teacher, DATA_TRAIN, rank, size, &c->train, err);
    if (!rc) rc = data_make(p, &c->teacher, DATA_TEST, rank, size, &c->test, err);
    const double seconds = tsim_wtime() - t0;
    c->stats.sample_sets += 1;
    if (seconds > c->stats.samples_seconds) c->stats.samples_seconds = seconds;
  }
  rc = par_agree(team, rc, err);
  if (rc) cache_clear(c);
  *train = rc ? NULL : c->train;
  *test = rc ? NULL : c->test;
  return rc;
}

int data_cache_tensors(data_cache *c, const tsim_params *p, const par_comm *team,
                       int (*poll)(void *), void *poll_ctx, const moments_tensor **train,
                       const moments_tensor **test, const double **Astar, tsim_error *err) {
  int rc = TSIM_OK;
  if (!c->mtrain) {
    rc = moments_build(p, DATA_TRAIN, team, poll, poll_ctx, &c->mtrain, err);
    if (!rc && p->n_test > 0)
      rc = moments_build(p, DATA_TEST, team, poll, poll_ctx, &c->mtest, err);
    if (!rc) {
      c->Astar = tsim_xmalloc((size_t)(p->d * p->d) * sizeof(double));
      moments_teacher_matrix(&c->teacher, c->Astar);
      c->stats.tensor_builds += 1;
      if (c->mtrain->build_seconds > c->stats.build_seconds) {
        c->stats.build_seconds = c->mtrain->build_seconds;
        c->stats.build_n = c->mtrain->n;
      }
    }
  }
  rc = par_agree(team, rc, err);
  if (rc) cache_clear(c);
  *train = rc ? NULL : c->mtrain;
  *test = rc ? NULL : c->mtest;
  *Astar = rc ? NULL : c->Astar;
  return rc;
}
