/* data.h - the teacher, the samples of one rank, and the initial weights.
 *
 * Samples are cut into chunks of `chunk` consecutive global indices; a rank
 * owns a contiguous range of whole chunks, so each chunk's partial sums are
 * computed by exactly one rank in exactly one way (see reduce.h).  Sample i
 * is a pure function of (data seed, i): x_i ~ N(0, I_d) from the counter-based
 * generator, y_i = f*(x_i). No rank ever holds another rank's samples. */
#ifndef TSIM_DATA_H
#define TSIM_DATA_H

#include <stdint.h>
#include "tsim/common.h"
#include "tsim/config.h"

/* Teacher f*(x) = coef * sum_{l < m} a_l act(v_l^T x), every ||v_l|| = norm and a_l = 1
 * (teacher.source file: V and a from its files);
 * coef = 1, or 1/m under model.normalisation 1/m (A* = W*^T W* / m*,
 * Martin, Bach & Biroli). w, u are teacher 0 (the one Wang & Abernethy's
 * metrics refer to). */
typedef struct tsim_teacher {
  int64_t d;
  double norm;  /* ||w*|| */
  double *w;    /* w*, d entries (= V, teacher 0) */
  double *u;    /* w* / ||w*||: the direction "parallel" refers to */
  int64_t m;    /* number of teacher neurons */
  int activation;
  double coef;  /* output weight of every teacher neuron */
  double *V;    /* m x d, neuron-major: V[l*d + j] */
  double *a;    /* teacher.a_file or .output sign: neuron l's weight is coef * a[l]; NULL: coef */
} tsim_teacher;

int teacher_make(const tsim_params *p, tsim_teacher *t, tsim_error *err);
void teacher_free(tsim_teacher *t);
/* The output weight of teacher neuron L: coef, times a[L] when given. */
double teacher_weight(const tsim_teacher *t, int64_t l);
/* y = f*(x) for ROWS samples (no label noise: data_make adds it). */
void teacher_labels(const tsim_teacher *t, const double *x, int64_t rows,
                    double *y);
/* A* = coef sum_l v_l v_l^T (d x d, row-major): the quadratic teacher as
 * a matrix, y = x^T A* x (meaningful for a quadratic teacher only). */
void teacher_quadratic_matrix(const tsim_teacher *t, double *A);
/* The teacher's activation for cell settings P (teacher.activation, or the
 * student's when it says `same`). */
int params_teacher_activation(const tsim_params *p);
/* Has the teacher output weights other than 1 (teacher.a_file, teacher.output sign)? */
int params_teacher_weighted(const tsim_params *p);
/* The student's output scale C' (C, or C / K under normalisation 1/m). */
double params_output_scale(const tsim_params *p);

typedef enum { DATA_TRAIN = 0, DATA_TEST = 1 } tsim_split;

/* Samples are kept in row groups of DATA_GROUP rows, each group
 * coordinate-major: coordinate j of row i is at
 *   x[(i - i % DATA_GROUP) * d + j * DATA_GROUP + i % DATA_GROUP],
 * so one coordinate of a group's rows is one vector for the fused pass
 * (fused.c), read where it is stored with no transpose per iteration. A
 * last group is stored whole: its rows past the data are zero (labels too).
 * Chunks (data.chunk, a multiple of DATA_GROUP) are whole groups. */
#define DATA_GROUP 8
/* Storage (doubles) of ROWS rows of D coordinates in row groups. */
int64_t data_group_size(int64_t rows, int64_t d);
/* ROWS row-major rows (D coordinates) into row groups at G (rows past
 * ROWS in the last group set to zero), and back. */
void data_group_rows(const double *x, int64_t rows, int64_t d, double *g);
void data_ungroup_rows(const double *g, int64_t rows, int64_t d, double *x);

typedef struct tsim_dataset {
  int64_t n, d, chunk;
  int64_t nchunks;               /* global number of chunks */
  int64_t chunk_begin, chunk_end; /* this rank's chunks */
  int64_t row_begin, row_end;     /* this rank's rows */
  double *x;                      /* row_end - row_begin rows, row groups */
  double *y;                      /* (both NULL with data.storage: regenerate;
                                   * labels padded to whole groups) */
  /* data.storage: regenerate: no rows are kept; data_chunk makes a chunk's
   * rows again from the seeds into these one-chunk buffers when asked. */
  int regenerate;
  tsim_params source;
  const tsim_teacher *teacher;
  tsim_split split;
  double *chunk_x, *chunk_y;      /* a chunk in row groups, labels */
  double *chunk_rows;             /* a chunk row-major, as it is made */
} tsim_dataset;

/* This rank's contiguous share [*begin, *end) of NCHUNKS chunks when they
 * are split over SIZE ranks. */
void data_chunk_range(int64_t nchunks, int rank, int size, int64_t *begin,
                      int64_t *end);

/* Make (or read from the .npy files) rank RANK of SIZE's rows of the
 * training or test set. */
int data_make(const tsim_params *p, const tsim_teacher *t, tsim_split split,
              int rank, int size, tsim_dataset **out, tsim_error *err);
void data_destroy(tsim_dataset **ds);

/* Inputs x_i, i = ROW0 .. ROW0+ROWS-1, of split SPLIT made from the seed
 * (rows x d, row-major): the very rows data_make stores (in row groups). */
void data_generate_x(const tsim_params *p, tsim_split split, int64_t row0,
                     int64_t rows, double *x);

/* Rows of global chunk C (one of this rank's), in row groups: pointers
 * into the stored samples, or (data.storage: regenerate) the chunk made
 * again from the seeds into DS's one-chunk buffers (valid until the next
 * call). data_chunk_rows gives them row-major in X (chunk x d doubles). */
void data_chunk(const tsim_dataset *ds, int64_t c, const double **x,
                const double **y, int64_t *rows);
void data_chunk_rows(const tsim_dataset *ds, int64_t c, double *x, const double **y,
                     int64_t *rows);

/* Initial weights W0, neuron-major (W[k*d + j] = coordinate j of w_k),
 * from init.w_file (d x K) or by init.method: scaled: init.scale *
 * N(0, I_d / d) from (init seed, k, j); gaussian: N(0, init.sigma^2 I_d);
 * orthonormal: Gram-Schmidt of those Gaussian vectors times init.scale;
 * near_teacher: a zero-loss point (teacher l's output split evenly over the
 * students k = l mod m) plus init.scale times a random unit vector per
 * student; claim2: Zhou, Ge & Jin's Claim 2 point around teacher 0,
 * K = 2: w = ||v|| (cos delta u +- sin delta p) / sqrt(2 cos delta),
 * K = 1: w = ||v|| (cos delta u + sin delta p), p a unit vector orthogonal to
 * u. */
int data_init_weights(const tsim_params *p, double *W, tsim_error *err);
/* The K trained output weights' start (model.train_output) by init.output:
 * 1; N(0, 1); +1 or -1 with equal odds (a uniform below 1/2: -1); entry k
 * from (init.seed, k) of its own stream. */
void data_init_output(const tsim_params *p, double *a);

/* Write the samples and W0 of cell settings P as .npy files into DIR:
 * x.npy (n x d), y.npy (n), x_test.npy, y_test.npy, w0.npy (d x K) (a0.npy
 * (K), the output weights, with model.train_output) - the
 * layout data.*_file and init.w_file read, so a run from these files gives
 * the bits of the run from seeds with data.engine: sharded (labels from a
 * file never take the moments engine), and other tools can use the same data. */
int data_export(const tsim_params *p, const char *dir, tsim_error *err);

#endif
