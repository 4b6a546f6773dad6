/* datacache.h - the data a team keeps between the cells it runs.
 *
 * Cells with the same data identity (config_same_data: the settings that
 * determine the samples and labels) see the same teacher, samples and
 * moments tensors, whatever their model: these are made once, on first
 * use, and kept until a cell of another data set (or another team) comes.
 * Every function is collective over the team and agrees its errors. */
#ifndef TSIM_DATACACHE_H
#define TSIM_DATACACHE_H

#include "tsim/config.h"
#include "tsim/data.h"
#include "tsim/moments.h"
#include "tsim/parallel.h"

typedef struct data_cache data_cache;
data_cache *data_cache_create(void);
void data_cache_destroy(data_cache **c);

/* What making the data cost on this rank so far (for the manifest). */
typedef struct data_cache_stats {
  int64_t tensor_builds;      /* training tensors built */
  double build_seconds;       /* the longest build (train tensor) */
  int64_t build_n;            /* its sample count */
  int64_t moments_iterations; /* iterations run by the moments engine */
  double moments_seconds;     /* their wall time (all metrics included) */
  int64_t sample_sets;        /* sharded engine: data sets made (train + test) */
  double samples_seconds;     /* the longest making of one (train + test) */
} data_cache_stats;
void data_cache_stats_of(const data_cache *c, data_cache_stats *s);
/* The moments engine ran ITERATIONS iterations in SECONDS. */
void data_cache_note_moments(data_cache *c, int64_t iterations, double seconds);

/* The teacher of cell P's data set (the cache is emptied first when P's
 * data identity or the team differs from the cached one's). Valid until
 * the next call with another data set. */
int data_cache_teacher(data_cache *c, const tsim_params *p, const par_comm *team,
                       const tsim_teacher **teacher, tsim_error *err);

/* The samples of P's data set on this rank (after data_cache_teacher). */
int data_cache_samples(data_cache *c, const tsim_params *p, const par_comm *team,
                       const tsim_dataset **train, const tsim_dataset **test,
                       tsim_error *err);

/* The moments tensors of P's data set (test: NULL when n_test = 0) and the
 * teacher as y = x^T A* x (after data_cache_teacher). POLL (may be NULL)
 * keeps a long build interruptible (moments_build). */
int data_cache_tensors(data_cache *c, const tsim_params *p, const par_comm *team,
                       int (*poll)(void *), void *poll_ctx, const moments_tensor **train,
                       const moments_tensor **test, const double **Astar, tsim_error *err);

#endif
