/* data.c - teacher, sample slices and initial weights (see data.h). */
#include "tsim/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/npy.h"
#include "tsim/rng.h"

int teacher_make(const tsim_params *p, tsim_teacher *t, tsim_error *err) {
  (void)err;
  memset(t, 0, sizeof *t);
  t->d = p->d;
  t->norm = p->teacher_norm;
  t->w = tsim_xcalloc((size_t)p->d, sizeof(double));
  t->u = tsim_xcalloc((size_t)p->d, sizeof(double));
  if (p->teacher_direction == DIR_RANDOM) {
    /* a uniformly random unit vector: a normalised Gaussian */
    rng_normals(p->teacher_seed, RNG_TEACHER, 0, p->d, t->u);
    double ss = 0.0;
    for (int64_t j = 0; j < p->d; ++j) ss += t->u[j] * t->u[j];
    const double inv = 1.0 / sqrt(ss);
    for (int64_t j = 0; j < p->d; ++j) t->u[j] *= inv;
  } else {
    t->u[0] = 1.0;
  }
  for (int64_t j = 0; j < p->d; ++j) t->w[j] = t->norm * t->u[j];
  return TSIM_OK;
}

void teacher_free(tsim_teacher *t) {
  free(t->w);
  free(t->u);
  t->w = t->u = NULL;
}

/* Wang & Abernethy's teacher: y = (x^T w*)^2. */
void teacher_labels(const tsim_teacher *t, const double *x, int64_t rows,
                    double *y) {
  for (int64_t i = 0; i < rows; ++i) {
    const double *xi = x + i * t->d;
    double z = 0.0;
    for (int64_t j = 0; j < t->d; ++j) z += xi[j] * t->w[j];
    y[i] = z * z;
  }
}

void data_chunk_range(int64_t nchunks, int rank, int size, int64_t *begin,
                      int64_t *end) {
  /* nchunks * rank stays far below 2^63 for any sample count tsim runs */
  *begin = nchunks * rank / size;
  *end = nchunks * (rank + 1) / size;
}

int data_make(const tsim_params *p, const tsim_teacher *t, tsim_split split,
              int rank, int size, tsim_dataset **out, tsim_error *err) {
  *out = NULL;
  tsim_dataset *ds = tsim_xcalloc(1, sizeof *ds);
  ds->n = split == DATA_TRAIN ? p->n : p->n_test;
  ds->d = p->d;
  ds->chunk = p->chunk;
  ds->nchunks = (ds->n + ds->chunk - 1) / ds->chunk;
  data_chunk_range(ds->nchunks, rank, size, &ds->chunk_begin, &ds->chunk_end);
  ds->row_begin = ds->chunk_begin * ds->chunk;
  ds->row_end = ds->chunk_end * ds->chunk;
  if (ds->row_end > ds->n) ds->row_end = ds->n;
  if (ds->row_begin > ds->row_end) ds->row_begin = ds->row_end;
  const int64_t rows = ds->row_end - ds->row_begin;
  if (p->storage == STORAGE_REGENERATE && !p->x_file) {
    /* nothing kept: data_chunk makes each chunk again when it is needed */
    ds->regenerate = 1;
    ds->source = *p;
    ds->teacher = t;
    ds->split = split;
    ds->chunk_x = tsim_xmalloc((size_t)(ds->chunk * ds->d) * sizeof(double));
    ds->chunk_y = tsim_xmalloc((size_t)ds->chunk * sizeof(double));
    *out = ds;
    return TSIM_OK;
  }
  ds->x = tsim_xmalloc((size_t)(rows * ds->d) * sizeof(double));
  ds->y = tsim_xmalloc((size_t)rows * sizeof(double));
  const char *xf = split == DATA_TRAIN ? p->x_file : p->x_test_file;
  const char *yf = split == DATA_TRAIN ? p->y_file : p->y_test_file;
  if (xf) {
    npy_info xi, yi;
    int rc = npy_read_header(xf, &xi, err);
    if (!rc) rc = npy_read_header(yf, &yi, err);
    if (!rc && (xi.shape[0] != ds->n || xi.shape[1] != ds->d ||
                yi.shape[0] != ds->n || yi.shape[1] != 1))
      rc = tsim_fail(err, TSIM_EINPUT, "%s, %s: shapes changed since the config was read",
                     xf, yf);
    if (!rc) rc = npy_read_rows(xf, &xi, ds->row_begin, ds->row_end, ds->x, err);
    if (!rc) rc = npy_read_rows(yf, &yi, ds->row_begin, ds->row_end, ds->y, err);
    if (rc) {
      data_destroy(&ds);
      return rc;
    }
  } else {
    data_generate_x(p, split, ds->row_begin, rows, ds->x);
    teacher_labels(t, ds->x, rows, ds->y);
  }
  *out = ds;
  return TSIM_OK;
}

void data_generate_x(const tsim_params *p, tsim_split split, int64_t row0,
                     int64_t rows, double *x) {
  const uint32_t stream = split == DATA_TRAIN ? RNG_TRAIN_X : RNG_TEST_X;
  rng_normals_rows(p->data_seed, stream, (uint64_t)row0, rows, p->d, x);
}

void data_chunk(const tsim_dataset *ds, int64_t c, const double **x,
                const double **y, int64_t *rows) {
  const int64_t row0 = c * ds->chunk;
  *rows = row0 + ds->chunk > ds->n ? ds->n - row0 : ds->chunk;
  if (!ds->regenerate) {
    *x = ds->x + (row0 - ds->row_begin) * ds->d;
    *y = ds->y + (row0 - ds->row_begin);
    return;
  }
  data_generate_x(&ds->source, ds->split, row0, *rows, ds->chunk_x);
  teacher_labels(ds->teacher, ds->chunk_x, *rows, ds->chunk_y);
  *x = ds->chunk_x;
  *y = ds->chunk_y;
}

void data_destroy(tsim_dataset **ds) {
  if (!ds || !*ds) return;
  free((*ds)->x);
  free((*ds)->y);
  free((*ds)->chunk_x);
  free((*ds)->chunk_y);
  free(*ds);
  *ds = NULL;
}

int data_init_weights(const tsim_params *p, double *W, tsim_error *err) {
  const int64_t d = p->d, K = p->K;
  if (p->w_file) {
    npy_info info;
    TSIM_TRY(npy_read_header(p->w_file, &info, err));
    if (info.ndim != 2 || info.shape[0] != d || info.shape[1] != K)
      return tsim_fail(err, TSIM_EINPUT, "%s: shape (%lld, %lld), need (%lld, %lld)",
                       p->w_file, (long long)info.shape[0],
                       (long long)info.shape[1], (long long)d, (long long)K);
    double *rows = tsim_xmalloc((size_t)(d * K) * sizeof(double));
    int rc = npy_read_rows(p->w_file, &info, 0, d, rows, err);
    for (int64_t j = 0; j < d && !rc; ++j) /* d x K file -> neuron-major */
      for (int64_t k = 0; k < K; ++k) W[k * d + j] = rows[j * K + k];
    free(rows);
    return rc;
  }
  /* w_k ~ scale * N(0, I_d / d): entry (k, j) from (init seed, k, j) */
  const double sd = p->init_scale / sqrt((double)d);
  for (int64_t k = 0; k < K; ++k) {
    rng_normals(p->init_seed, RNG_INIT_W, (uint64_t)k, d, W + k * d);
    for (int64_t j = 0; j < d; ++j) W[k * d + j] *= sd;
  }
  return TSIM_OK;
}

int data_export(const tsim_params *p, const char *dir, tsim_error *err) {
  tsim_teacher t;
  TSIM_TRY(teacher_make(p, &t, err));
  char path[4200];
  int rc = TSIM_OK;
  const char *names[2][2] = {{"x.npy", "y.npy"}, {"x_test.npy", "y_test.npy"}};
  tsim_params stored = *p; /* the rows themselves, whatever data.storage says */
  stored.storage = STORAGE_MEMORY;
  for (int split = 0; split < 2 && !rc; ++split) {
    tsim_dataset *ds = NULL;
    rc = data_make(&stored, &t, split ? DATA_TEST : DATA_TRAIN, 0, 1, &ds, err);
    if (rc) break;
    const int64_t xs[2] = {ds->n, ds->d}, ys[1] = {ds->n};
    snprintf(path, sizeof path, "%s/%s", dir, names[split][0]);
    rc = npy_write(path, 2, xs, ds->x, err);
    snprintf(path, sizeof path, "%s/%s", dir, names[split][1]);
    if (!rc) rc = npy_write(path, 1, ys, ds->y, err);
    data_destroy(&ds);
  }
  if (!rc) { /* W0 as d x K, the layout init.w_file takes */
    double *W = tsim_xmalloc((size_t)(p->K * p->d) * sizeof(double));
    double *Wt = tsim_xmalloc((size_t)(p->K * p->d) * sizeof(double));
    rc = data_init_weights(p, W, err);
    for (int64_t j = 0; j < p->d; ++j)
      for (int64_t k = 0; k < p->K; ++k) Wt[j * p->K + k] = W[k * p->d + j];
    const int64_t ws[2] = {p->d, p->K};
    snprintf(path, sizeof path, "%s/w0.npy", dir);
    if (!rc) rc = npy_write(path, 2, ws, Wt, err);
    free(W);
    free(Wt);
  }
  teacher_free(&t);
  return rc;
}
