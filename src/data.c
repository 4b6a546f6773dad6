/* data.c - teacher, sample slices and initial weights (see data.h). */
#include "tsim/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/npy.h"
#include "tsim/rng.h"

static double vec_norm(const double *v, int64_t n) {
  double ss = 0.0;
  for (int64_t j = 0; j < n; ++j) ss += v[j] * v[j];
  return sqrt(ss);
}

static void unit_gaussian(uint64_t seed, uint32_t stream, uint64_t index,
                          int64_t d, double *out) {
  rng_normals(seed, stream, index, d, out);
  const double inv = 1.0 / vec_norm(out, d);
  for (int64_t j = 0; j < d; ++j) out[j] *= inv;
}

/* Rows 0..k-1 of Q (k x d) orthonormal: make row k orthonormal to them
 * (modified Gram-Schmidt, applied twice for orthogonality to rounding). */
static void orthonormalise_row(double *Q, int64_t k, int64_t d) {
  double *q = Q + k * d;
  for (int pass = 0; pass < 2; ++pass)
    for (int64_t i = 0; i < k; ++i) {
      double c = 0.0;
      for (int64_t j = 0; j < d; ++j) c += q[j] * Q[i * d + j];
      for (int64_t j = 0; j < d; ++j) q[j] -= c * Q[i * d + j];
    }
  const double inv = 1.0 / vec_norm(q, d);
  for (int64_t j = 0; j < d; ++j) q[j] *= inv;
}

int params_teacher_activation(const tsim_params *p) {
  return p->teacher_activation == 0 ? p->activation : p->teacher_activation - 1;
}

double params_output_scale(const tsim_params *p) {
  return p->normalisation == NORMALISATION_INV_M ? p->C / (double)p->K : p->C;
}

/* teacher.source file: V from teacher.w_file (d x m, column l is v_l), norms as they are;
 * w, u are column 0 (u is 0 when it is) */
static int teacher_read(const tsim_params *p, tsim_teacher *t, tsim_error *err) {
  const int64_t d = p->d, m = t->m;
  npy_info info;
  TSIM_TRY(npy_read_header(p->teacher_w_file, &info, err));
  if (info.ndim != 2 || info.shape[0] != d || info.shape[1] != m)
    return tsim_fail(err, TSIM_EINPUT, "%s: shape (%lld, %lld), need (%lld, %lld)",
                     p->teacher_w_file, (long long)info.shape[0], (long long)info.shape[1],
                     (long long)d, (long long)m);
  double *rows = tsim_xmalloc((size_t)(d * m) * sizeof(double));
  const int rc = npy_read_rows(p->teacher_w_file, &info, 0, d, rows, err);
  for (int64_t j = 0; j < d && !rc; ++j) /* d x m file -> neuron-major */
    for (int64_t l = 0; l < m; ++l) t->V[l * d + j] = rows[j * m + l];
  free(rows);
  if (rc) return rc;
  if (p->teacher_a_file) {
    t->a = tsim_xmalloc((size_t)m * sizeof(double));
    TSIM_TRY(npy_read_header(p->teacher_a_file, &info, err));
    if (info.ndim != 1 || info.shape[0] != m)
      return tsim_fail(err, TSIM_EINPUT, "%s: shape (%lld, %lld), need (%lld,)",
                       p->teacher_a_file, (long long)info.shape[0], (long long)info.shape[1],
                       (long long)m);
    TSIM_TRY(npy_read_rows(p->teacher_a_file, &info, 0, m, t->a, err));
  }
  t->norm = vec_norm(t->V, d);
  for (int64_t j = 0; j < d; ++j) {
    t->w[j] = t->V[j];
    t->u[j] = t->norm > 0.0 ? t->V[j] / t->norm : 0.0;
  }
  return TSIM_OK;
}

int params_teacher_weighted(const tsim_params *p) {
  return p->teacher_a_file || (p->teacher_output == TEACHER_OUTPUT_SIGN && p->teacher_neurons > 1);
}

/* teacher.output sign: a_l = +1, -1, +1, ... (ones, or sign of one neuron, leaves a NULL:
 * every weight coef) */
static void teacher_output_weights(const tsim_params *p, tsim_teacher *t) {
  if (p->teacher_output != TEACHER_OUTPUT_SIGN || t->m < 2) return;
  t->a = tsim_xmalloc((size_t)t->m * sizeof(double));
  for (int64_t l = 0; l < t->m; ++l) t->a[l] = l % 2 ? -1.0 : 1.0;
}

int teacher_make(const tsim_params *p, tsim_teacher *t, tsim_error *err) {
  memset(t, 0, sizeof *t);
  const int64_t d = p->d, m = p->teacher_neurons > 0 ? p->teacher_neurons : 1;
  t->d = d;
  t->m = m;
  t->norm = p->teacher_norm;
  t->activation = params_teacher_activation(p);
  t->coef = p->normalisation == NORMALISATION_INV_M ? 1.0 / (double)m : 1.0;
  t->w = tsim_xcalloc((size_t)d, sizeof(double));
  t->u = tsim_xcalloc((size_t)d, sizeof(double));
  t->V = tsim_xcalloc((size_t)(m * d), sizeof(double));
  if (p->teacher_source == TEACHER_FILE) {
    const int rc = teacher_read(p, t, err);
    if (rc) teacher_free(t);
    else teacher_output_weights(p, t);
    return rc;
  }
  double *U = t->V; /* unit directions first, scaled by the norm below */
  switch (p->teacher_direction) {
    case DIR_RANDOM: /* uniformly random unit vectors: normalised Gaussians */
      for (int64_t l = 0; l < m; ++l)
        unit_gaussian(p->teacher_seed, RNG_TEACHER, (uint64_t)l, d, U + l * d);
      break;
    case DIR_ORTHONORMAL:
      for (int64_t l = 0; l < m; ++l) U[l * d + l] = 1.0;
      break;
    case DIR_RANDOM_ORTHONORMAL:
      for (int64_t l = 0; l < m; ++l) {
        rng_normals(p->teacher_seed, RNG_TEACHER, (uint64_t)l, d, U + l * d);
        orthonormalise_row(U, l, d);
      }
      break;
    case DIR_SEPARATED: {
      /* candidate c is the c-th normalised Gaussian of the seed: accepted
       * when the angle between its line and every accepted one's is at
       * least min_angle (lines, so that v and -v, the same |.| neuron, count
       * as close) - deterministic for a given seed */
      const double max_cos = cos(p->teacher_min_angle * (3.14159265358979323846 / 180.0));
      const uint64_t tries = 1000000;
      int64_t have = 0;
      for (uint64_t c = 0; have < m && c < tries; ++c) {
        double *cand = U + have * d;
        unit_gaussian(p->teacher_seed, RNG_TEACHER, c, d, cand);
        int ok = 1;
        for (int64_t l = 0; l < have && ok; ++l) {
          double cs = 0.0;
          for (int64_t j = 0; j < d; ++j) cs += cand[j] * U[l * d + j];
          ok = fabs(cs) <= max_cos;
        }
        if (ok) ++have;
      }
      if (have < m) {
        teacher_free(t);
        return tsim_fail(err, TSIM_EINPUT,
                         "teacher.min_angle: found only %lld of %lld directions "
                         "%g degrees apart in d = %lld (lower the angle or m)",
                         (long long)have, (long long)m, p->teacher_min_angle,
                         (long long)d);
      }
      break;
    }
    case DIR_E1: U[0] = 1.0; break;
  }
  for (int64_t j = 0; j < d; ++j) t->u[j] = U[j];
  for (int64_t e = 0; e < m * d; ++e) t->V[e] = t->norm * U[e];
  for (int64_t j = 0; j < d; ++j) t->w[j] = t->norm * t->u[j];
  teacher_output_weights(p, t);
  return TSIM_OK;
}

void teacher_free(tsim_teacher *t) {
  free(t->w);
  free(t->u);
  free(t->V);
  free(t->a);
  t->w = t->u = t->V = t->a = NULL;
}

double teacher_weight(const tsim_teacher *t, int64_t l) {
  return t->a ? t->coef * t->a[l] : t->coef;
}

void teacher_labels(const tsim_teacher *t, const double *x, int64_t rows,
                    double *y) {
  if (t->m == 1 && t->activation == ACT_QUADRATIC && t->coef == 1.0 && !t->a) {
    /* Wang & Abernethy's teacher: y = (x^T w*)^2 (kept as it always was) */
    for (int64_t i = 0; i < rows; ++i) {
      const double *xi = x + i * t->d;
      double z = 0.0;
      for (int64_t j = 0; j < t->d; ++j) z += xi[j] * t->w[j];
      y[i] = z * z;
    }
    return;
  }
  double (*const act)(double) = activation_info(t->activation)->value;
  for (int64_t i = 0; i < rows; ++i) {
    const double *xi = x + i * t->d;
    double s = 0.0;
    for (int64_t l = 0; l < t->m; ++l) {
      const double *vl = t->V + l * t->d;
      double z = 0.0;
      for (int64_t j = 0; j < t->d; ++j) z += xi[j] * vl[j];
      s += t->a ? t->a[l] * act(z) : act(z);
    }
    y[i] = t->coef * s;
  }
}

void teacher_quadratic_matrix(const tsim_teacher *t, double *A) {
  const int64_t d = t->d;
  memset(A, 0, (size_t)(d * d) * sizeof(double));
  for (int64_t l = 0; l < t->m; ++l) {
    const double *v = t->V + l * d;
    for (int64_t a = 0; a < d; ++a)
      for (int64_t b = 0; b < d; ++b) A[a * d + b] += teacher_weight(t, l) * v[a] * v[b];
  }
}

void data_chunk_range(int64_t nchunks, int rank, int size, int64_t *begin,
                      int64_t *end) {
  /* nchunks * rank stays far below 2^63 for any sample count tsim runs */
  *begin = nchunks * rank / size;
  *end = nchunks * (rank + 1) / size;
}

/* data.label_noise: Gaussian noise on y from its own stream keyed by the
 * global sample index, so it is the same for any split over ranks and for
 * stored and regenerated samples. */
static void add_label_noise(const tsim_params *p, tsim_split split, int64_t row0,
                            int64_t rows, double *y) {
  if (p->label_noise <= 0.0) return;
  const uint32_t ns = split == DATA_TRAIN ? RNG_TRAIN_NOISE : RNG_TEST_NOISE;
  for (int64_t i = 0; i < rows; ++i) {
    double z;
    rng_normals(p->data_seed, ns, (uint64_t)(row0 + i), 1, &z);
    y[i] += p->label_noise * z;
  }
}

static double *zeros(int64_t n) {
  double *a = tsim_xmalloc_lines((size_t)n * sizeof(double));
  memset(a, 0, (size_t)n * sizeof(double));
  return a;
}

int64_t data_group_size(int64_t rows, int64_t d) {
  return (rows + DATA_GROUP - 1) / DATA_GROUP * DATA_GROUP * d;
}

void data_group_rows(const double *x, int64_t rows, int64_t d, double *g) {
  for (int64_t i0 = 0; i0 < rows; i0 += DATA_GROUP)
    for (int64_t j = 0; j < d; ++j)
      for (int64_t l = 0; l < DATA_GROUP; ++l)
        g[i0 * d + j * DATA_GROUP + l] = i0 + l < rows ? x[(i0 + l) * d + j] : 0.0;
}

void data_ungroup_rows(const double *g, int64_t rows, int64_t d, double *x) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < d; ++j)
      x[i * d + j] = g[(i - i % DATA_GROUP) * d + j * DATA_GROUP + i % DATA_GROUP];
}

/* Rows [ROW0, ROW0 + ROWS) of the split made from the seeds, row-major into
 * X, labels into Y: the rows of data_generate_x and the teacher's labels. */
static void make_rows(const tsim_params *p, const tsim_teacher *t, tsim_split split,
                      int64_t row0, int64_t rows, double *x, double *y) {
  data_generate_x(p, split, row0, rows, x);
  teacher_labels(t, x, rows, y);
  add_label_noise(p, split, row0, rows, y);
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
    ds->chunk_rows = tsim_xmalloc_lines((size_t)(ds->chunk * ds->d) * sizeof(double));
    ds->chunk_x = tsim_xmalloc_lines((size_t)data_group_size(ds->chunk, ds->d) * sizeof(double));
    ds->chunk_y = zeros(data_group_size(ds->chunk, 1));
    *out = ds;
    return TSIM_OK;
  }
  const double bytes = ((double)data_group_size(rows, ds->d) + 1.0) * sizeof(double);
  ds->x = bytes < 0x1p62 ? tsim_malloc_lines((size_t)bytes) : NULL;
  if (!ds->x) {
    data_destroy(&ds);
    return tsim_fail(err, TSIM_EFAIL,
                     "data.n = %lld, model.d = %lld: this rank's %lld %s samples need %.3g GB, "
                     "more than it could allocate; use data.storage: regenerate, or more ranks "
                     "per team (--team-size)",
                     (long long)(split == DATA_TRAIN ? p->n : p->n_test), (long long)p->d,
                     (long long)rows, split == DATA_TRAIN ? "training" : "test", bytes / 1e9);
  }
  ds->y = zeros(data_group_size(rows, 1) + 1); /* whole groups, padding 0 */
  const char *xf = split == DATA_TRAIN ? p->x_file : p->x_test_file;
  const char *yf = split == DATA_TRAIN ? p->y_file : p->y_test_file;
  npy_info xi, yi;
  int rc = TSIM_OK;
  if (xf) {
    rc = npy_read_header(xf, &xi, err);
    if (!rc) rc = npy_read_header(yf, &yi, err);
    if (!rc && (xi.shape[0] != ds->n || xi.shape[1] != ds->d ||
                yi.shape[0] != ds->n || yi.shape[1] != 1))
      rc = tsim_fail(err, TSIM_EINPUT, "%s, %s: shapes changed since the config was read",
                     xf, yf);
    if (!rc) rc = npy_read_rows(yf, &yi, ds->row_begin, ds->row_end, ds->y, err);
  }
  /* made (or read) row-major a slab of whole chunks at a time, then kept
   * in row groups */
  const int64_t slab = ds->chunk * (ds->chunk >= 65536 ? 1 : 65536 / ds->chunk);
  double *buf = tsim_xmalloc_lines((size_t)((rows < slab ? rows : slab) * ds->d + 1) *
                                   sizeof(double));
  for (int64_t r0 = 0; r0 < rows && !rc; r0 += slab) {
    const int64_t nr = rows - r0 < slab ? rows - r0 : slab, g0 = ds->row_begin + r0;
    if (xf)
      rc = npy_read_rows(xf, &xi, g0, g0 + nr, buf, err);
    else
      make_rows(p, t, split, g0, nr, buf, ds->y + r0);
    if (!rc) data_group_rows(buf, nr, ds->d, ds->x + r0 * ds->d);
  }
  free(buf);
  if (rc) {
    data_destroy(&ds);
    return rc;
  }
  *out = ds;
  return TSIM_OK;
}

void data_generate_x(const tsim_params *p, tsim_split split, int64_t row0,
                     int64_t rows, double *x) {
  const uint32_t stream = split == DATA_TRAIN ? RNG_TRAIN_X : RNG_TEST_X;
  rng_normals_rows(p->data_seed, stream, (uint64_t)row0, rows, p->d, x);
}

/* Global chunk C's first row; its row count into ROWS. */
static int64_t chunk_extent(const tsim_dataset *ds, int64_t c, int64_t *rows) {
  const int64_t row0 = c * ds->chunk;
  *rows = row0 + ds->chunk > ds->n ? ds->n - row0 : ds->chunk;
  return row0;
}

void data_chunk(const tsim_dataset *ds, int64_t c, const double **x,
                const double **y, int64_t *rows) {
  const int64_t row0 = chunk_extent(ds, c, rows);
  if (!ds->regenerate) {
    *x = ds->x + (row0 - ds->row_begin) * ds->d;
    *y = ds->y + (row0 - ds->row_begin);
    return;
  }
  make_rows(&ds->source, ds->teacher, ds->split, row0, *rows, ds->chunk_rows, ds->chunk_y);
  memset(ds->chunk_y + *rows, 0, (size_t)(data_group_size(*rows, 1) - *rows) * sizeof(double));
  data_group_rows(ds->chunk_rows, *rows, ds->d, ds->chunk_x);
  *x = ds->chunk_x;
  *y = ds->chunk_y;
}

void data_chunk_rows(const tsim_dataset *ds, int64_t c, double *x, const double **y,
                     int64_t *rows) {
  const int64_t row0 = chunk_extent(ds, c, rows);
  if (!ds->regenerate) {
    data_ungroup_rows(ds->x + (row0 - ds->row_begin) * ds->d, *rows, ds->d, x);
    *y = ds->y + (row0 - ds->row_begin);
    return;
  }
  make_rows(&ds->source, ds->teacher, ds->split, row0, *rows, x, ds->chunk_y);
  *y = ds->chunk_y;
}

void data_destroy(tsim_dataset **ds) {
  if (!ds || !*ds) return;
  free((*ds)->x);
  free((*ds)->y);
  free((*ds)->chunk_x);
  free((*ds)->chunk_y);
  free((*ds)->chunk_rows);
  free(*ds);
  *ds = NULL;
}

/* The initialisations built around the teacher (see data.h). */
static int init_from_teacher(const tsim_params *p, double *W, tsim_error *err) {
  const int64_t d = p->d, K = p->K;
  tsim_teacher t;
  TSIM_TRY(teacher_make(p, &t, err));
  if (p->init_method == INIT_CLAIM2) {
    if (K > 2 || d < 2) {
      teacher_free(&t);
      return tsim_fail(err, TSIM_EINPUT,
                       "init.method: claim2 needs model.K of 1 or 2 and d >= 2 (K = %lld, d = %lld)",
                       (long long)K, (long long)d);
    }
    /* p: the axis least aligned with u, made orthogonal to u */
    int64_t jmin = 0;
    for (int64_t j = 1; j < d; ++j)
      if (fabs(t.u[j]) < fabs(t.u[jmin])) jmin = j;
    double *perp = tsim_xcalloc((size_t)d, sizeof(double));
    for (int64_t j = 0; j < d; ++j) perp[j] = -t.u[jmin] * t.u[j];
    perp[jmin] += 1.0;
    const double inv = 1.0 / vec_norm(perp, d), delta = p->init_delta;
    const double len = K == 2 ? t.norm / sqrt(2.0 * cos(delta)) : t.norm;
    for (int64_t k = 0; k < K; ++k) {
      const double side = k == 0 ? 1.0 : -1.0;
      for (int64_t j = 0; j < d; ++j)
        W[k * d + j] = len * (cos(delta) * t.u[j] + side * sin(delta) * perp[j] * inv);
    }
    free(perp);
    teacher_free(&t);
    return TSIM_OK;
  }
  /* near_teacher: student k sits on teacher l = k mod m, scaled so that the
   * n_l students of teacher l together reproduce it: C' s(w) act(w.x) is
   * homogeneous of degree h in w (the activation's degree, +1 with the
   * norm tie), so C' ||w||^h n_l = coef ||v||^h */
  const int64_t m = t.m;
  const double h = activation_info(p->activation)->degree + (p->norm_tied ? 1.0 : 0.0);
  const double cs = params_output_scale(p);
  double *dir = tsim_xmalloc((size_t)d * sizeof(double));
  for (int64_t k = 0; k < K; ++k) {
    const int64_t l = k % m, nl = K / m + (l < K % m ? 1 : 0);
    const double f = pow(teacher_weight(&t, l) / (cs * (double)nl), 1.0 / h);
    unit_gaussian(p->init_seed, RNG_INIT_W, (uint64_t)k, d, dir);
    for (int64_t j = 0; j < d; ++j)
      W[k * d + j] = f * t.V[l * d + j] + p->init_scale * dir[j];
  }
  free(dir);
  teacher_free(&t);
  return TSIM_OK;
}

void data_init_output(const tsim_params *p, double *a) {
  for (int64_t k = 0; k < p->K; ++k) {
    switch (p->init_output) {
      case INIT_OUTPUT_ONES: a[k] = 1.0; break;
      case INIT_OUTPUT_GAUSSIAN: rng_normals(p->init_seed, RNG_INIT_A, (uint64_t)k, 1, &a[k]); break;
      case INIT_OUTPUT_SIGN:
        a[k] = rng_uniform(p->init_seed, RNG_INIT_A, (uint64_t)k, 0) < 0.5 ? -1.0 : 1.0;
        break;
    }
  }
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
  switch (p->init_method) {
    case INIT_GAUSSIAN:
      for (int64_t k = 0; k < K; ++k) {
        rng_normals(p->init_seed, RNG_INIT_W, (uint64_t)k, d, W + k * d);
        for (int64_t j = 0; j < d; ++j) W[k * d + j] *= p->init_sigma;
      }
      return TSIM_OK;
    case INIT_ORTHONORMAL:
      if (K > d)
        return tsim_fail(err, TSIM_EINPUT,
                         "init.method: orthonormal needs model.K <= model.d (K = %lld, d = %lld)",
                         (long long)K, (long long)d);
      for (int64_t k = 0; k < K; ++k) {
        rng_normals(p->init_seed, RNG_INIT_W, (uint64_t)k, d, W + k * d);
        orthonormalise_row(W, k, d);
      }
      for (int64_t e = 0; e < K * d; ++e) W[e] *= p->init_scale;
      return TSIM_OK;
    case INIT_NEAR_TEACHER:
    case INIT_CLAIM2:
      return init_from_teacher(p, W, err);
    case INIT_SCALED: break;
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
    double *rowmajor = tsim_xmalloc((size_t)(ds->n * ds->d + 1) * sizeof(double));
    data_ungroup_rows(ds->x, ds->n, ds->d, rowmajor);
    snprintf(path, sizeof path, "%s/%s", dir, names[split][0]);
    rc = npy_write(path, 2, xs, rowmajor, err);
    free(rowmajor);
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
  if (!rc && p->train_output) { /* a_0, the trained output weights' start */
    double *a = tsim_xmalloc((size_t)p->K * sizeof(double));
    data_init_output(p, a);
    const int64_t as[1] = {p->K};
    snprintf(path, sizeof path, "%s/a0.npy", dir);
    rc = npy_write(path, 1, as, a, err);
    free(a);
  }
  teacher_free(&t);
  return rc;
}
