/* config.c - the schema of a run description, its validation, the grid.
 *
 * Every accepted key is one row of the schema table below: its type, range,
 * default, whether it may be a grid axis, and where it lives in tsim_params.
 * Values are kept as canonical text (so config.yaml, the hash and the grid
 * labels agree) and converted per cell. */
#define _POSIX_C_SOURCE 200809L
#include "tsim/config.h"
#include "tsim/fault.h"
#include "tsim/data.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tsim/activation.h"
#include "tsim/cellkind.h"
#include "tsim/engine.h"
#include "tsim/npy.h"
#include "tsim/stop.h"
#include "tsim/yamltree.h"

typedef enum { F_INT, F_SEED, F_REAL, F_BOOL, F_ENUM, F_PATH, F_STR,
               F_INT_LIST, F_ENUM_LIST /* one value that is a list, not an axis */
} ftype;

#define NO_PARAM ((size_t)-1)
#define P(member) offsetof(tsim_params, member)

typedef struct field {
  const char *key;     /* "model.K" */
  const char *column;  /* column name in cells.csv when it is a grid axis */
  ftype type;
  const char *deflt;   /* default as text; NULL: unset unless given */
  double lo, hi;       /* inclusive range (lo exclusive if lo_open) */
  int lo_open;
  const char *choices; /* enum values, '|' separated */
  int gridable;
  size_t offset;       /* into tsim_params, or NO_PARAM */
  int data;            /* DATA_KEY: it determines samples or labels */
  const char *help;
  int64_t multiple;    /* F_INT: values must be multiples of it (0: any) */
} field;

#define BIG 9.2e18
/* Every row says whether its key determines a cell's samples or labels
 * (the data identity, config_data_hash): DATA_KEY or OTHER_KEY, before the
 * help text, so a row without it does not compile. */
#define DATA_KEY 1
#define OTHER_KEY 0
/* Order matters twice: grid axes are numbered in this order (first varies
 * slowest), and config.yaml lists keys in it. */
#pragma GCC diagnostic push /* rows give the trailing `multiple` only where it applies */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const field schema[] = {
    {"model.K", "K", F_INT, "1", 1, 100000, 0, NULL, 1, P(K), OTHER_KEY,
     "number of student neurons"},
    {"init.seed", "seed", F_SEED, "0", 0, 0, 0, NULL, 1, P(init_seed), OTHER_KEY,
     "seed of the initial weights"},
    {"train.eta", "eta", F_REAL, "0.001", 0, INFINITY, 1, NULL, 1, P(eta), OTHER_KEY,
     "gradient-descent step size"},
    {"model.C", "C", F_REAL, "1.0", 0, INFINITY, 1, NULL, 1, P(C), OTHER_KEY,
     "output scale C of objective (13) (ICLR 2021 submission; not in ACML)"},
    {"data.n", "n", F_INT, "200", 1, BIG, 0, NULL, 1, P(n), DATA_KEY,
     "number of training samples"},
    {"model.d", "d", F_INT, "10", 1, 100000, 0, NULL, 1, P(d), DATA_KEY,
     "input dimension"},
    {"model.activation", "activation", F_ENUM, "quadratic", 0, 0, 0,
     ACT_CHOICES, 1, P(activation), OTHER_KEY,
     "student activation (subgradient 0 at a kink)"},
    {"model.loss_scale", "loss_scale", F_REAL, "0.25", 0, INFINITY, 1, NULL, 1,
     P(loss_scale), OTHER_KEY, "loss = loss_scale * mean (f - y)^2 (1/4: Wang-Abernethy)"},
    {"teacher.source", NULL, F_ENUM, NULL, 0, 0, 0, "generated|file|none", 0, P(teacher_source),
     OTHER_KEY, "generated: the teacher.* keys make the teacher and the labels; file: the "
     "teacher is teacher.w_file's, and it makes the labels or checks data.y_file's; none: the "
     "labels come from data.y_file and every teacher-based output is empty"},
    {"teacher.w_file", NULL, F_PATH, NULL, 0, 0, 0, NULL, 0, P(teacher_w_file), DATA_KEY,
     "teacher.source file: the teacher, .npy float64 d x teacher.neurons, one column v_l per "
     "neuron, norms included (teacher.norm, direction, seed, min_angle unread; teacher.neurons "
     "taken from the file when not given)"},
    {"teacher.a_file", NULL, F_PATH, NULL, 0, 0, 0, NULL, 0, P(teacher_a_file), DATA_KEY,
     "teacher.source file: the output weights a_l, .npy float64 of teacher.neurons values "
     "(unset: all ones): y = sum_l a_l act*(v_l^T x)"},
    {"teacher.output", "teacher_output", F_ENUM, "ones", 0, 0, 0, "ones|sign", 1,
     P(teacher_output), DATA_KEY, "the teacher's output weights a_l without teacher.a_file "
     "(generated or file teacher): ones, or sign: a_l = +1, -1, +1, ... (+1 for even l, "
     "neurons counted from 0): y = sum_l a_l act*(v_l^T x)"},
    {"teacher.check", NULL, F_ENUM, "error", 0, 0, 0, "error|warn", 0, P(teacher_check),
     OTHER_KEY, "teacher.source file with data.y_file: labels of the first chunk that the "
     "teacher did not make (relative mismatch above 1e-8; with data.label_noise, residuals "
     "off its variance by 5 sigma) are an error (exit 2), or a warning line"},
    {"teacher.norm", "teacher_norm", F_REAL, "1.0", 0, INFINITY, 1, NULL, 1,
     P(teacher_norm), DATA_KEY, "||w*||"},
    {"teacher.direction", "teacher_direction", F_ENUM, "e1", 0, 0, 0,
     "e1|random|orthonormal|random_orthonormal|separated", 1,
     P(teacher_direction), DATA_KEY,
     "e1 (one teacher); random unit vectors, the first m axes, a random "
     "orthonormal family, or random directions at least teacher.min_angle "
     "apart, from teacher.seed"},
    {"teacher.seed", "teacher_seed", F_SEED, "0", 0, 0, 0, NULL, 1,
     P(teacher_seed), DATA_KEY, "seed of a random teacher direction"},
    {"data.seed", "data_seed", F_SEED, "0", 0, 0, 0, NULL, 1, P(data_seed), DATA_KEY,
     "seed of the samples"},
    {"data.n_test", "n_test", F_INT, "200", 0, BIG, 0, NULL, 1, P(n_test), DATA_KEY,
     "number of test samples (0: none)"},
    {"data.chunk", "chunk", F_INT, "2048", DATA_GROUP, 1 << 24, 0, NULL, 0, P(chunk), DATA_KEY,
     "samples per chunk of the exact sum, whole row groups of 8 samples "
     "(changes the last bits)", DATA_GROUP},
    {"data.engine", "engine", F_ENUM, "auto", 0, 0, 0, "auto|sharded|moments|gram", 1,
     P(engine), OTHER_KEY,
     "sharded: a pass over the samples every iteration; moments: the exact "
     "fourth-moment tensor, built once, then O(d^4) per iteration (quadratic "
     "model, labels from the teacher); gram: a pass over the samples with the "
     "quadratic student as C x^T W^T W x, d^2 instead of 2 d K per sample "
     "(quadratic student; auto never picks it); auto: the cheaper of sharded and "
     "moments by the cost model `tsim validate` prints (the engines differ in the "
     "last bits)"},
    {"data.storage", NULL, F_ENUM, "memory", 0, 0, 0, "memory|regenerate", 0,
     P(storage), DATA_KEY,
     "memory: each rank keeps its samples; regenerate: samples are made "
     "again chunk by chunk whenever needed and never kept (memory does not "
     "grow with n; same results)"},
    {"data.x_file", NULL, F_PATH, NULL, 0, 0, 0, NULL, 0, P(x_file), DATA_KEY,
     "training inputs, .npy float64 n x d"},
    {"data.y_file", NULL, F_PATH, NULL, 0, 0, 0, NULL, 0, P(y_file), DATA_KEY,
     "training labels, .npy float64 n"},
    {"data.x_test_file", NULL, F_PATH, NULL, 0, 0, 0, NULL, 0, P(x_test_file), DATA_KEY,
     "test inputs, .npy float64 n_test x d"},
    {"data.y_test_file", NULL, F_PATH, NULL, 0, 0, 0, NULL, 0, P(y_test_file), DATA_KEY,
     "test labels, .npy float64 n_test"},
    {"init.scale", "init_scale", F_REAL, "0.01", 0, INFINITY, 0, NULL, 1,
     P(init_scale), OTHER_KEY, "w_k ~ scale * N(0, I_d / d) (init.method scaled); the "
     "family's norm (orthonormal); the perturbation's norm (near_teacher)"},
    {"init.w_file", NULL, F_PATH, NULL, 0, 0, 0, NULL, 0, P(w_file), OTHER_KEY,
     "initial weights, .npy float64 d x K"},
    {"train.iterations", "iterations", F_INT, "5000", 0, BIG, 0, NULL, 1,
     P(iterations), OTHER_KEY, "maximum number of iterations"},
    {"train.log_every", NULL, F_INT, "1", 1, BIG, 0, NULL, 0, P(log_every), OTHER_KEY,
     "log a metrics row every N iterations"},
    {"train.log_points", NULL, F_INT, "0", 0, 1e7, 0, NULL, 0, P(log_points), OTHER_KEY,
     "log about P log-spaced iterations instead (0: use log_every)"},
    {"train.diverge_above", NULL, F_REAL, "1e6", 0, INFINITY, 1, NULL, 0,
     P(diverge_above), OTHER_KEY, "a loss above this (or non-finite) is divergence"},
    {"train.tol", NULL, F_REAL, "1e-6", 0, INFINITY, 0, NULL, 0, P(tol), OTHER_KEY,
     "converged once dist(W, w*) < tol"},
    {"train.loss_tol", NULL, F_REAL, "0", 0, INFINITY, 0, NULL, 0,
     P(loss_tol), OTHER_KEY, "converged once the train loss < loss_tol (0: off)"},
    {"train.nu", NULL, F_REAL, "0.14", 0, 1, 1, NULL, 0, P(nu), OTHER_KEY,
     "Lemma 1 radius: t_lemma1 is the first t with dist <= nu ||w*||/sqrt(C)"},
    {"model.norm_tied", NULL, F_BOOL, "false", 0, 0, 0, NULL, 0, P(norm_tied), OTHER_KEY,
     "output weight tied to the norm: f = C sum_k ||w_k|| act(w_k^T x) (Zhou-Ge-Jin)"},
    {"model.normalisation", "normalisation", F_ENUM, "none", 0, 0, 0, "none|1/m",
     1, P(normalisation), DATA_KEY,
     "1/m: student output scale C/K and teacher 1/m (A = W^T W / m, Martin-Bach-Biroli)"},
    {"teacher.neurons", "teacher_neurons", F_INT, "1", 1, 100000, 0, NULL, 1,
     P(teacher_neurons), DATA_KEY, "number m of teacher neurons, y = sum_l act*(v_l^T x)"},
    {"teacher.activation", NULL, F_ENUM, "same", 0, 0, 0, "same|" ACT_CHOICES,
     0, P(teacher_activation), DATA_KEY, "teacher activation (same: the student's)"},
    {"teacher.min_angle", "min_angle", F_REAL, "30", 0, 90, 0, NULL, 1,
     P(teacher_min_angle), DATA_KEY,
     "degrees between the lines of teacher directions (direction: separated)"},
    {"data.label_noise", "label_noise", F_REAL, "0", 0, INFINITY, 0, NULL, 1,
     P(label_noise), DATA_KEY, "y += label_noise * N(0, 1), keyed by sample index"},
    {"data.regime", "regime", F_ENUM, "empirical", 0, 0, 0, "empirical|population",
     1, P(regime), OTHER_KEY,
     "n samples, or the population loss (n = infinity: closed form or quadrature)"},
    {"init.method", "init_method", F_ENUM, "scaled", 0, 0, 0,
     "scaled|gaussian|orthonormal|near_teacher|claim2", 1, P(init_method), OTHER_KEY,
     "scaled: init.scale * N(0, I/d); gaussian: N(0, init.sigma^2 I); orthonormal: "
     "random orthonormal family * init.scale; near_teacher: teacher k mod m split "
     "evenly over its students, + init.scale * random unit vector; claim2: K = 2 "
     "students at +-init.delta from teacher 0 with norm |v|/sqrt(2 cos delta) (K = 1: "
     "one at delta, norm |v|)"},
    {"init.sigma", "init_sigma", F_REAL, "0.1", 0, INFINITY, 0, NULL, 1,
     P(init_sigma), OTHER_KEY, "standard deviation of init.method gaussian"},
    {"init.delta", "delta", F_REAL, "0.1", 0, 1.5, 1, NULL, 1, P(init_delta), OTHER_KEY,
     "angle (radians) of init.method claim2"},
    {"train.method", "method", F_ENUM, "gd", 0, 0, 0, "gd|flow", 1, P(method), OTHER_KEY,
     "gradient descent, or gradient flow (adaptive Dormand-Prince 5(4))"},
    {"train.T", "T", F_REAL, "0", 0, INFINITY, 0, NULL, 1, P(T), OTHER_KEY,
     "flow: final time (0: train.iterations); rows at t = 0 and log_points "
     "log-spaced times in [1, T], or every log_every time units"},
    {"train.rtol", NULL, F_REAL, "1e-8", 0, 1, 1, NULL, 0, P(rtol), OTHER_KEY,
     "flow: relative tolerance per step"},
    {"train.atol", NULL, F_REAL, "1e-12", 0, INFINITY, 1, NULL, 0, P(atol), OTHER_KEY,
     "flow: absolute tolerance per step"},
    {"train.weight_decay", "weight_decay", F_REAL, "0", 0, INFINITY, 0, NULL, 1,
     P(weight_decay), OTHER_KEY,
     "lambda: gradient descent on loss + (lambda/2) |W|^2; train_loss, loss_tol and "
     "diverge_above stay the loss, metrics.csv gets a penalty column, grad_norm and the "
     "Hessian spectra include the term (0: off; not with train.method flow)"},
    {"train.momentum", "momentum", F_REAL, "0", 0, 1, 0, NULL, 1, P(momentum), OTHER_KEY,
     "mu: heavy ball, v <- mu v + g, W <- W - eta v, v = 0 at t = 0 (0: plain gradient "
     "descent; not with train.method flow)"},
    {"model.train_output", NULL, F_BOOL, "false", 0, 0, 0, NULL, 0, P(train_output), OTHER_KEY,
     "f = C sum_k a_k act(w_k^T x) with the output weights a_k trained too (sharded and "
     "population engines; no Hessian spectra, dist or q9)"},
    {"init.output", "init_output", F_ENUM, "ones", 0, 0, 0, "ones|gaussian|sign", 1,
     P(init_output), OTHER_KEY,
     "model.train_output: a_k = 1, N(0, 1), or +-1 with equal odds, from init.seed"},
    {"train.eta_output", "eta_output", F_REAL, "0", 0, INFINITY, 0, NULL, 1, P(eta_output),
     OTHER_KEY, "model.train_output: the output weights' step size (0: train.eta)"},
    {"metrics.match_angle", NULL, F_REAL, "10", 0, 180, 1, NULL, 0,
     P(match_angle), OTHER_KEY, "teachers.csv: a student within this many degrees matches"},
    {"metrics.pop_quadrature", NULL, F_BOOL, "false", 0, 0, 0, NULL, 0, P(pop_quadrature),
     OTHER_KEY, "pop_loss by Gauss-Hermite quadrature where no closed form exists (about "
     "1e-15 E y^2: not below)"},
    {"metrics.hessian.at", NULL, F_INT_LIST, NULL, 0, BIG, 0, NULL, 0,
     P(hess_at), OTHER_KEY, "iterations at which to compute the Hessian spectrum"},
    {"metrics.hessian.log_points", NULL, F_INT, "0", 0, 1e6, 0, NULL, 0,
     P(hess_log_points), OTHER_KEY, "Hessian spectrum at about P log-spaced iterations"},
    {"metrics.hessian.events", NULL, F_ENUM_LIST, NULL, 0, 0, 0,
     "q9_positive|final", 0, P(hess_events), OTHER_KEY,
     "Hessian spectrum when quantity (9) first turns positive / at the end"},
    {"metrics.hessian.top", NULL, F_INT, "10", 0, 1e8, 0, NULL, 0, P(hess_top), OTHER_KEY,
     "largest eigenvalues written to spectrum.csv"},
    {"metrics.hessian.bottom", NULL, F_INT, "10", 0, 1e8, 0, NULL, 0,
     P(hess_bottom), OTHER_KEY, "smallest eigenvalues written to spectrum.csv"},
    {"metrics.hessian.vectors", NULL, F_BOOL, "false", 0, 0, 0, NULL, 0,
     P(hess_vectors), OTHER_KEY,
     "eigenvectors too (pdsyevd): spectrum.csv gets each one's overlap with V"},
    {"metrics.hessian.source", NULL, F_ENUM, "samples", 0, 0, 0,
     "samples|population", 0, P(hess_source), OTHER_KEY,
     "Hessian of the training loss, or of the population loss (n = infinity)"},
    {"output.dir", NULL, F_STR, NULL, 0, 0, 0, NULL, 0, NO_PARAM, OTHER_KEY,
     "run directory (default out/<name>)"},
    {"output.neurons", NULL, F_BOOL, "true", 0, 0, 0, NULL, 0, NO_PARAM, OTHER_KEY,
     "write neurons.csv"},
    {"output.weights", NULL, F_BOOL, "false", 0, 0, 0, NULL, 0, NO_PARAM, OTHER_KEY,
     "write weights/CELL.npy: the student weights at every logged row"},
    {"run.team_size", NULL, F_INT, "0", 0, 1e6, 0, NULL, 0, NO_PARAM, OTHER_KEY,
     "ranks per team (0: chosen from the world size and the cells)"},
    {"run.checkpoint_seconds", NULL, F_REAL, "600", 0, INFINITY, 1, NULL, 0,
     NO_PARAM, OTHER_KEY, "write a checkpoint this often (and whenever a stop is requested)"},
    {"run.batch", NULL, F_INT, "0", 0, 4096, 0, NULL, 0, NO_PARAM, OTHER_KEY,
     "cells sharing a data set that a team advances together in one pass over "
     "the samples (0: automatic, up to 16; 1: off; N: at most N); results are "
     "bitwise the same"},
};
#pragma GCC diagnostic pop
#define NFIELDS ((int)(sizeof schema / sizeof schema[0]))

static const char *const sections[] = {"model", "teacher", "data", "init",
                                       "train", "metrics", "output", "run"};
#define NSECTIONS ((int)(sizeof sections / sizeof sections[0]))

/* What the file (and --set) said for one field. */
typedef struct given {
  const ynode *node; /* value node, NULL if not given */
  int is_list;
  int count;
  char **texts; /* canonical texts */
  int64_t *list; /* a list value's items (F_INT_LIST, F_ENUM_LIST: by index) */
  int nlist;
} given;

/* ------------------------------------------------------------------ text */

static void shortest_double(char *buf, size_t cap, double v) {
  for (int prec = 1; prec <= 17; ++prec) {
    snprintf(buf, cap, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break;
  }
  /* keep reals recognisable as reals in the YAML we write */
  if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", cap - strlen(buf) - 1);
}

static const char *range_text(const field *f, char *buf, size_t cap) {
  switch (f->type) {
    case F_INT: {
      char kind[48] = "an integer";
      if (f->multiple) snprintf(kind, sizeof kind, "a multiple of %lld", (long long)f->multiple);
      if (f->hi >= BIG)
        snprintf(buf, cap, "%s >= %.0f", kind, f->lo);
      else
        snprintf(buf, cap, "%s from %.0f to %.0f", kind, f->lo, f->hi);
      break;
    }
    case F_SEED: snprintf(buf, cap, "an integer from 0 to 2^64-1"); break;
    case F_REAL:
      if (isinf(f->hi))
        snprintf(buf, cap, "a number %s %g", f->lo_open ? ">" : ">=", f->lo);
      else
        snprintf(buf, cap, "a number %s %g and <= %g",
                 f->lo_open ? ">" : ">=", f->lo, f->hi);
      break;
    case F_BOOL: snprintf(buf, cap, "true or false"); break;
    case F_ENUM: {
      size_t used = (size_t)snprintf(buf, cap, "one of: ");
      for (const char *c = f->choices; *c && used + 3 < cap; ++c) {
        if (*c == '|') {
          buf[used++] = ',';
          buf[used++] = ' ';
        } else {
          buf[used++] = *c;
        }
      }
      buf[used] = '\0';
      break;
    }
    case F_PATH: snprintf(buf, cap, "a path to a .npy file"); break;
    case F_STR: snprintf(buf, cap, "a string"); break;
    case F_INT_LIST:
      snprintf(buf, cap, "a list of distinct integers >= %.0f", f->lo);
      break;
    case F_ENUM_LIST: {
      char one[200];
      field e = *f;
      e.type = F_ENUM;
      snprintf(buf, cap, "a list of distinct values, each %s",
               range_text(&e, one, sizeof one));
      break;
    }
  }
  return buf;
}

static int fail_at(tsim_error *err, const ynode *at, const char *key,
                   const char *fmt, const char *what, const char *allowed) {
  char msg[TSIM_MSG_MAX];
  snprintf(msg, sizeof msg, fmt, what);
  if (allowed)
    return tsim_fail(err, TSIM_EINPUT, "%s:%d:%d: %s: %s (%s)", at->src,
                     at->line, at->col, key, msg, allowed);
  return tsim_fail(err, TSIM_EINPUT, "%s:%d:%d: %s: %s", at->src, at->line,
                   at->col, key, msg);
}

static int parse_int64(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (*s && !*end && !errno) {
    *out = v;
    return 1;
  }
  double d = strtod(s, &end); /* 1e6 is a fine way to write a count */
  if (*s && !*end && isfinite(d) && d == floor(d) && fabs(d) < 9.2e18) {
    *out = (int64_t)d;
    return 1;
  }
  return 0;
}

static int parse_seed(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  if (*s == '-') return 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (*s && !*end && !errno) {
    *out = v;
    return 1;
  }
  return 0;
}

static int parse_real(const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (!*s || *end || !isfinite(v)) return 0;
  *out = v;
  return 1;
}

/* A NaN or an infinity as YAML (.nan, .inf, -.inf) or C (nan, inf, 1e999)
 * writes it: the message for it (a format taking the text), or NULL. */
static const char *nonfinite_text(const char *s) {
  const char *t = s + (*s == '+' || *s == '-');
  if (*t == '.') ++t;
  if (!strcasecmp(t, "nan")) return "'%s' is NaN: values must be finite";
  if (!strcasecmp(t, "inf") || !strcasecmp(t, "infinity"))
    return "'%s' is infinite: values must be finite";
  char *end;
  const double v = strtod(s, &end);
  if (*s && !*end && isinf(v)) return "'%s' overflows to infinity: values must be finite";
  return NULL;
}

static int parse_bool(const char *s, int *out) {
  static const char *yes[] = {"true", "yes", "on"}, *no[] = {"false", "no", "off"};
  for (int i = 0; i < 3; ++i) {
    if (!strcasecmp(s, yes[i])) return *out = 1, 1;
    if (!strcasecmp(s, no[i])) return *out = 0, 1;
  }
  return 0;
}

static int enum_index(const field *f, const char *s) {
  int idx = 0;
  const char *c = f->choices;
  size_t len = strlen(s);
  while (*c) {
    const char *bar = strchr(c, '|');
    size_t n = bar ? (size_t)(bar - c) : strlen(c);
    if (n == len && !strncmp(c, s, n)) return idx;
    if (!bar) break;
    c = bar + 1;
    ++idx;
  }
  return -1;
}

/* Validate one scalar and return its canonical text (malloc'd). BASE_DIR
 * resolves relative paths written in the config file. */
static int canonical(const field *f, const ynode *v, const char *base_dir,
                     char **out, tsim_error *err) {
  char allowed[256], buf[4200];
  range_text(f, allowed, sizeof allowed);
  const char *s = v->value;
  switch (f->type) {
    case F_INT: {
      int64_t x;
      if (v->quoted || !parse_int64(s, &x))
        return fail_at(err, v, f->key, "'%s' is not an integer", s, allowed);
      if ((double)x < f->lo || (double)x > f->hi)
        return fail_at(err, v, f->key, "%s is out of range", s, allowed);
      if (f->multiple && x % f->multiple != 0) {
        char fmt[48];
        snprintf(fmt, sizeof fmt, "%%s is not a multiple of %lld", (long long)f->multiple);
        return fail_at(err, v, f->key, fmt, s, allowed);
      }
      snprintf(buf, sizeof buf, "%lld", (long long)x);
      break;
    }
    case F_SEED: {
      uint64_t x;
      if (v->quoted || !parse_seed(s, &x))
        return fail_at(err, v, f->key, "'%s' is not a seed", s, allowed);
      snprintf(buf, sizeof buf, "%llu", (unsigned long long)x);
      break;
    }
    case F_REAL: {
      double x;
      const char *nonfinite = nonfinite_text(s);
      if (!v->quoted && nonfinite)
        return fail_at(err, v, f->key, nonfinite, s, allowed);
      if (v->quoted || !parse_real(s, &x))
        return fail_at(err, v, f->key, "'%s' is not a number", s, allowed);
      if (x < f->lo || (f->lo_open && x == f->lo) || x > f->hi)
        return fail_at(err, v, f->key, "%s is out of range", s, allowed);
      shortest_double(buf, sizeof buf, x);
      break;
    }
    case F_BOOL: {
      int x;
      if (!parse_bool(s, &x))
        return fail_at(err, v, f->key, "'%s' is not a boolean", s, allowed);
      snprintf(buf, sizeof buf, "%s", x ? "true" : "false");
      break;
    }
    case F_ENUM:
      if (enum_index(f, s) < 0)
        return fail_at(err, v, f->key, "'%s' is not allowed", s, allowed);
      snprintf(buf, sizeof buf, "%s", s);
      break;
    case F_PATH: {
      /* absolute, so that config.yaml in the run directory (and `tsim
       * resume`) names the same file wherever it is read from */
      if (!*s) return fail_at(err, v, f->key, "%s", "empty path", allowed);
      char dir[4096];
      if (s[0] == '/' || !realpath(base_dir ? base_dir : ".", dir))
        snprintf(buf, sizeof buf, "%s", s);
      else
        snprintf(buf, sizeof buf, "%s/%s", dir, s);
      break;
    }
    case F_STR:
      if (!*s) return fail_at(err, v, f->key, "%s", "empty string", allowed);
      snprintf(buf, sizeof buf, "%s", s);
      break;
    case F_INT_LIST:
    case F_ENUM_LIST: { /* one item: checked as the item's type */
      field item = *f;
      item.type = f->type == F_INT_LIST ? F_INT : F_ENUM;
      TSIM_TRY(canonical(&item, v, base_dir, out, err));
      if (f->type == F_INT_LIST) return TSIM_OK;
      snprintf(buf, sizeof buf, "\"%s\"", *out); /* valid YAML and JSON */
      free(*out);
      break;
    }
  }
  *out = tsim_xstrdup(buf);
  return TSIM_OK;
}

/* ---------------------------------------------------------------- schema */

static int find_field(const char *section, const char *key) {
  char full[256];
  snprintf(full, sizeof full, "%s.%s", section, key);
  for (int i = 0; i < NFIELDS; ++i)
    if (!strcmp(schema[i].key, full)) return i;
  return -1;
}

static void section_keys(const char *section, char *buf, size_t cap) {
  size_t used = 0, len = strlen(section);
  buf[0] = '\0';
  for (int i = 0; i < NFIELDS; ++i) {
    if (strncmp(schema[i].key, section, len) || schema[i].key[len] != '.')
      continue;
    int n = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "",
                     schema[i].key + len + 1);
    if (n < 0 || (size_t)n >= cap - used) break;
    used += (size_t)n;
  }
}

/* The first of TEXTS[0..N) whose value came earlier in the list, or -1:
 * sorted, so that a list of a million values takes a second, not an hour. */
static const char *const *dup_texts;
static int by_text(const void *x, const void *y) {
  const int a = *(const int *)x, b = *(const int *)y;
  const int c = strcmp(dup_texts[a], dup_texts[b]);
  return c ? c : (a > b) - (a < b);
}
static int first_duplicate(char *const *texts, int n) {
  int *idx = tsim_xmalloc((size_t)(n ? n : 1) * sizeof(int)), first = -1;
  for (int i = 0; i < n; ++i) idx[i] = i;
  dup_texts = (const char *const *)texts;
  qsort(idx, (size_t)n, sizeof(int), by_text);
  for (int k = 0; k + 1 < n; ++k)
    if (!strcmp(texts[idx[k]], texts[idx[k + 1]]) && (first < 0 || idx[k + 1] < first))
      first = idx[k + 1];
  free(idx);
  return first;
}

/* A key whose one value is a list ("at: [100, 1000]", or a single item):
 * kept as the canonical text "[100, 1000]", never a grid axis. */
static int read_list_value(const field *f, const ynode *v,
                           const char *base_dir, given *g, tsim_error *err) {
  char allowed[256];
  range_text(f, allowed, sizeof allowed);
  if (v->kind == YNODE_MAP)
    return fail_at(err, v, f->key, "%s", "a mapping is not allowed here",
                   allowed);
  const int count = v->kind == YNODE_SEQ ? v->count : 1;
  if (count == 0)
    return fail_at(err, v, f->key, "%s", "empty list", allowed);
  char **items = tsim_xcalloc((size_t)count, sizeof(char *));
  int64_t *values = tsim_xcalloc((size_t)count, sizeof(int64_t));
  size_t len = 3;
  int rc = TSIM_OK;
  for (int i = 0; i < count && !rc; ++i) {
    const ynode *item = v->kind == YNODE_SEQ ? v->items[i] : v;
    if (item->kind != YNODE_SCALAR) {
      rc = fail_at(err, item, f->key, "%s", "nested lists are not allowed",
                   allowed);
      break;
    }
    rc = canonical(f, item, base_dir, &items[i], err);
    if (!rc) len += strlen(items[i]) + 2;
    if (!rc && f->type == F_INT_LIST) parse_int64(items[i], &values[i]);
    if (!rc && f->type == F_ENUM_LIST) values[i] = enum_index(f, item->value);
  }
  const int dup = rc ? -1 : first_duplicate(items, count);
  if (dup >= 0)
    rc = fail_at(err, v->kind == YNODE_SEQ ? v->items[dup] : v, f->key,
                 "value %s appears twice in the list", items[dup], allowed);
  if (!rc) {
    char *text = tsim_xmalloc(len + 1);
    size_t used = 0;
    text[used++] = '[';
    for (int i = 0; i < count; ++i)
      used += (size_t)sprintf(text + used, "%s%s", i ? ", " : "", items[i]);
    text[used++] = ']';
    text[used] = '\0';
    g->count = 1;
    g->texts = tsim_xcalloc(1, sizeof(char *));
    g->texts[0] = text;
    g->list = values;
    g->nlist = count;
    values = NULL;
  }
  for (int i = 0; i < count; ++i) free(items[i]);
  free(items);
  free(values);
  return rc;
}

static int read_field(const field *f, const ynode *v, const char *base_dir,
                      given *g, tsim_error *err) {
  for (int i = 0; i < g->count; ++i) free(g->texts[i]);
  free(g->texts);
  free(g->list);
  memset(g, 0, sizeof *g);
  if (v->kind == YNODE_SCALAR && !v->quoted && !f->deflt &&
      (!strcmp(v->value, "null") || !strcmp(v->value, "~") || !*v->value))
    return TSIM_OK; /* an optional key explicitly left unset */
  g->node = v;
  if (f->type == F_INT_LIST || f->type == F_ENUM_LIST)
    return read_list_value(f, v, base_dir, g, err);
  if (v->kind == YNODE_MAP)
    return fail_at(err, v, f->key, "%s", "a mapping is not allowed here",
                   f->gridable ? "a value or a list of values" : "one value");
  if (v->kind == YNODE_SEQ) {
    if (!f->gridable)
      return fail_at(err, v, f->key, "%s", "a list is not allowed here",
                     "one value: this key is not a grid axis");
    if (v->count == 0)
      return fail_at(err, v, f->key, "%s", "empty list",
                     "a value or a list of values");
    g->is_list = 1;
    g->count = v->count;
    g->texts = tsim_xcalloc((size_t)v->count, sizeof(char *));
    for (int i = 0; i < v->count; ++i) {
      const ynode *item = v->items[i];
      if (item->kind != YNODE_SCALAR)
        return fail_at(err, item, f->key, "%s", "nested lists are not allowed",
                       "a list of plain values");
      TSIM_TRY(canonical(f, item, base_dir, &g->texts[i], err));
    }
    const int dup = first_duplicate(g->texts, v->count);
    if (dup >= 0)
      return fail_at(err, v->items[dup], f->key, "value %s appears twice in the list",
                     g->texts[dup], "distinct values");
    return TSIM_OK;
  }
  g->count = 1;
  g->texts = tsim_xcalloc(1, sizeof(char *));
  return canonical(f, v, base_dir, &g->texts[0], err);
}

/* Is PREFIX a group of keys ("metrics.hessian" of "metrics.hessian.at")? */
static int is_group(const char *prefix) {
  const size_t len = strlen(prefix);
  for (int i = 0; i < NFIELDS; ++i)
    if (!strncmp(schema[i].key, prefix, len) && schema[i].key[len] == '.')
      return 1;
  return 0;
}

/* The keys of the mapping MAP under PREFIX (a section, or a group inside
 * one such as metrics.hessian, which may also be written flat:
 * `metrics: {hessian.at: [10]}` is `metrics: {hessian: {at: [10]}}`). */
static int read_keys(const char *prefix, const ynode *map,
                     const char *base_dir, given *gv, tsim_error *err) {
  for (int j = 0; j < map->count; ++j) {
    const ynode *kk = map->keys[j], *vv = map->items[j];
    char full[256];
    snprintf(full, sizeof full, "%s.%s", prefix, kk->value);
    int fi = find_field(prefix, kk->value);
    if (fi < 0 && vv->kind == YNODE_MAP && is_group(full)) {
      TSIM_TRY(read_keys(full, vv, base_dir, gv, err));
      continue;
    }
    if (fi < 0) {
      char allowed[512], text[600];
      section_keys(prefix, allowed, sizeof allowed);
      snprintf(text, sizeof text, "allowed: %s", allowed);
      return fail_at(err, kk, full, "%s", "unknown key", text);
    }
    const char *dir = vv->src && !strcmp(vv->src, "--set") ? "." : base_dir;
    TSIM_TRY(read_field(&schema[fi], vv, dir, &gv[fi], err));
  }
  return TSIM_OK;
}

static int read_tree(const ynode *root, const char *base_dir, given *gv,
                     const ynode **name_node, tsim_error *err) {
  if (root->kind != YNODE_MAP)
    return tsim_fail(err, TSIM_EINPUT,
                     "%s:%d:%d: the config must be a mapping of sections "
                     "(name, model, teacher, data, init, train, metrics, output, run)",
                     root->src, root->line, root->col);
  for (int i = 0; i < root->count; ++i) {
    const ynode *k = root->keys[i], *v = root->items[i];
    if (!strcmp(k->value, "name")) {
      /* it names the default run directory out/<name>: no path in it */
      if (v->kind != YNODE_SCALAR || !*v->value || strchr(v->value, '/') ||
          !strcmp(v->value, ".") || !strcmp(v->value, ".."))
        return fail_at(err, v, "name", "%s", "must be a run name",
                       "a non-empty string without '/', not . or ..");
      *name_node = v;
      continue;
    }
    int s = 0;
    while (s < NSECTIONS && strcmp(sections[s], k->value)) ++s;
    if (s == NSECTIONS)
      return fail_at(err, k, k->value, "%s", "unknown key",
                     "allowed: name, model, teacher, data, init, train, metrics, output, run");
    if (v->kind != YNODE_MAP)
      return fail_at(err, v, k->value, "%s", "must be a mapping of keys",
                     "e.g. model: {d: 10, K: [1, 3]}");
    TSIM_TRY(read_keys(k->value, v, base_dir, gv, err));
  }
  return TSIM_OK;
}

/* ------------------------------------------------------------ --set */

/* --set number N (from 1) of the command line, "key.path=value": its
 * messages are "--set:N:COL: key.path: what", COL counted in ARG. */
static int apply_set(ynode *root, int n, const char *arg, tsim_error *err) {
  const char *eq = strchr(arg, '=');
  const size_t plen = eq ? (size_t)(eq - arg) : strlen(arg);
  if (!eq)
    return tsim_fail(err, TSIM_EINPUT, "--set:%d:%d: %s: no '=' (write key.path=value, e.g. "
                     "--set model.K=[2,4])", n, (int)plen + 1, arg);
  if (plen == 0)
    return tsim_fail(err, TSIM_EINPUT, "--set:%d:1: empty key (write key.path=value, e.g. "
                     "--set model.K=[2,4])", n);
  char path[256];
  if (plen >= sizeof path)
    return tsim_fail(err, TSIM_EINPUT, "--set:%d:1: %.40s...: key too long", n, arg);
  memcpy(path, arg, plen);
  path[plen] = '\0';
  for (size_t i = 0; i <= plen; ++i) /* parts between dots are not empty */
    if ((i == plen || path[i] == '.') && (i == 0 || path[i - 1] == '.'))
      return tsim_fail(err, TSIM_EINPUT, "--set:%d:%d: %s: empty part in the key (write "
                       "section.key=value, e.g. --set model.K=3)", n, (int)i + 1, path);
  if (!eq[1 + strspn(eq + 1, " \t")])
    return tsim_fail(err, TSIM_EINPUT, "--set:%d:%d: %s: empty value (write null to unset "
                     "an optional key)", n, (int)plen + 2, path);
  ynode *value = NULL;
  TSIM_TRY(ytree_parse_text(eq + 1, "--set", n, (int)plen + 1, path, &value, err));
  if (root->kind != YNODE_MAP) {
    ytree_free(&value);
    return TSIM_OK; /* read_tree reports the bad root */
  }
  ynode *map = root;
  for (char *part = path;;) {
    char *dot = strchr(part, '.');
    const int col = (int)(part - path) + 1;
    if (!dot) {
      ytree_set(map, part, n, col, value);
      return TSIM_OK;
    }
    *dot = '\0';
    ynode *sub = ytree_get(map, part);
    if (!sub || sub->kind != YNODE_MAP) {
      sub = ytree_new_map("--set", n, col);
      ytree_set(map, part, n, col, sub);
    }
    map = sub;
    part = dot + 1;
  }
}

/* ---------------------------------------------------------- the config */

static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return tsim_xstrdup(".");
  size_t n = (size_t)(slash - path);
  char *d = tsim_xmalloc(n + 1);
  memcpy(d, path, n);
  d[n] = '\0';
  if (n == 0) strcpy(d, "/");
  return d;
}

static char *stem_of(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  char *s = tsim_xstrdup(base);
  char *dot = strrchr(s, '.');
  if (dot && dot != s) *dot = '\0';
  return s;
}

/* F_ENUM settings are stored through an int: their enum types have its size. */
_Static_assert(sizeof(tsim_engine) == sizeof(int) && sizeof(tsim_method) == sizeof(int) &&
                   sizeof(tsim_direction) == sizeof(int) &&
                   sizeof(tsim_init_method) == sizeof(int),
               "enum settings are stored as int");

static void store_value(const field *f, const char *text, tsim_params *p) {
  if (f->offset == NO_PARAM) return;
  char *at = (char *)p + f->offset;
  switch (f->type) {
    case F_INT: parse_int64(text, (int64_t *)(void *)at); break;
    case F_SEED: parse_seed(text, (uint64_t *)(void *)at); break;
    case F_REAL: parse_real(text, (double *)(void *)at); break;
    case F_BOOL: parse_bool(text, (int *)(void *)at); break;
    case F_ENUM: *(int *)(void *)at = enum_index(f, text); break;
    case F_PATH:
    case F_STR: *(const char **)(void *)at = text; break;
    case F_INT_LIST:
    case F_ENUM_LIST: break; /* store_list */
  }
}

static const ynode *where(const given *g, const ynode *fallback) {
  return g->node ? g->node : fallback;
}

static int check_npy(const field *f, const given *g, const ynode *root,
                     npy_info *info, tsim_error *err) {
  tsim_error e = {0};
  if (npy_read_header(g->texts[0], info, &e))
    return fail_at(err, where(g, root), f->key, "%s", e.msg, NULL);
  return TSIM_OK;
}

static int field_index(const char *key) {
  for (int i = 0; i < NFIELDS; ++i)
    if (!strcmp(schema[i].key, key)) return i;
  return -1;
}

/* Does P ask for Hessian spectra at all? */
static int cfg_hessian_on(const tsim_params *p) {
  return p->hess_nat > 0 || p->hess_nevents > 0 || p->hess_log_points > 0;
}

/* Do A and B ask for the same separated teacher directions? */
static int same_separated(const tsim_params *a, const tsim_params *b) {
  return a->teacher_direction == b->teacher_direction && a->d == b->d &&
         a->teacher_neurons == b->teacher_neurons && a->teacher_seed == b->teacher_seed &&
         a->teacher_min_angle == b->teacher_min_angle;
}

/* Checks that involve more than one key, or the data files. */
static int cross_check(tsim_config *cfg, given *gv, const ynode *root,
                       tsim_error *err) {
  const int ix = field_index("data.x_file"), iy = field_index("data.y_file");
  const int ixt = field_index("data.x_test_file"),
            iyt = field_index("data.y_test_file");
  const int iw = field_index("init.w_file"), in = field_index("data.n"),
            int_ = field_index("data.n_test"), id = field_index("model.d"),
            ik = field_index("model.K");
  const int ile = field_index("train.log_every"),
            ilp = field_index("train.log_points");
  if (gv[ile].node && gv[ilp].node && strcmp(gv[ilp].texts[0], "0"))
    return fail_at(err, gv[ilp].node, "train.log_points", "%s",
                   "cannot be combined with train.log_every",
                   "give one of them");
  if (!cfg_hessian_on(&cfg->base))
    for (int i = 0; i < NFIELDS; ++i)
      if (!strncmp(schema[i].key, "metrics.hessian.", 16) && gv[i].node)
        return fail_at(err, gv[i].node, schema[i].key, "%s",
                       "has no effect without a schedule",
                       "give metrics.hessian.at, log_points or events");
  const int pairs[2][2] = {{ix, iy}, {ixt, iyt}};
  for (int p = 0; p < 2; ++p) {
    const given *a = &gv[pairs[p][0]], *b = &gv[pairs[p][1]];
    if (!!a->node != !!b->node) {
      const given *have = a->node ? a : b;
      const char *missing = schema[pairs[p][a->node ? 1 : 0]].key;
      char msg[128];
      snprintf(msg, sizeof msg, "needs %s as well", missing);
      return fail_at(err, have->node, schema[pairs[p][a->node ? 0 : 1]].key,
                     "%s", msg, "inputs and labels come in pairs");
    }
  }
  if (gv[ixt].node && !gv[ix].node)
    return fail_at(err, gv[ixt].node, "data.x_test_file", "%s",
                   "test files need training files (data.x_file)", NULL);
  if (gv[ix].node) {
    const int axes[3] = {in, int_, id};
    for (int a = 0; a < 3; ++a)
      if (gv[axes[a]].is_list)
        return fail_at(err, where(&gv[axes[a]], root), schema[axes[a]].key, "%s",
                       "cannot be a grid axis when the data come from files",
                       "one value");
    npy_info xi, yi;
    TSIM_TRY(check_npy(&schema[ix], &gv[ix], root, &xi, err));
    TSIM_TRY(check_npy(&schema[iy], &gv[iy], root, &yi, err));
    char msg[512];
    if (xi.ndim != 2 || xi.shape[1] != cfg->base.d) {
      snprintf(msg, sizeof msg, "%s has shape (%lld, %lld), need (n, d) with d = %lld",
               gv[ix].texts[0], (long long)xi.shape[0], (long long)xi.shape[1],
               (long long)cfg->base.d);
      return fail_at(err, where(&gv[ix], root), "data.x_file", "%s", msg, NULL);
    }
    if (xi.shape[0] < 1) {
      snprintf(msg, sizeof msg, "%s has no rows (shape (0, %lld))", gv[ix].texts[0],
               (long long)xi.shape[1]);
      return fail_at(err, where(&gv[ix], root), "data.x_file", "%s", msg, NULL);
    }
    if (yi.shape[1] != 1 || yi.shape[0] != xi.shape[0]) {
      snprintf(msg, sizeof msg, "%s has shape (%lld, %lld), need (%lld,) to match data.x_file",
               gv[iy].texts[0], (long long)yi.shape[0], (long long)yi.shape[1],
               (long long)xi.shape[0]);
      return fail_at(err, where(&gv[iy], root), "data.y_file", "%s", msg, NULL);
    }
    if (gv[in].node && cfg->base.n != xi.shape[0]) {
      snprintf(msg, sizeof msg, "%lld differs from the %lld rows of %s",
               (long long)cfg->base.n, (long long)xi.shape[0], gv[ix].texts[0]);
      return fail_at(err, gv[in].node, "data.n", "%s", msg,
                     "leave data.n out to take it from the file");
    }
    cfg->base.n = xi.shape[0];
    cfg->base.n_test = 0;
    if (gv[ixt].node) {
      TSIM_TRY(check_npy(&schema[ixt], &gv[ixt], root, &xi, err));
      TSIM_TRY(check_npy(&schema[iyt], &gv[iyt], root, &yi, err));
      if (xi.ndim != 2 || xi.shape[1] != cfg->base.d ||
          yi.shape[1] != 1 || yi.shape[0] != xi.shape[0]) {
        snprintf(msg, sizeof msg,
                 "test files have shapes (%lld, %lld) and (%lld, %lld), need (n_test, %lld) and (n_test,)",
                 (long long)xi.shape[0], (long long)xi.shape[1],
                 (long long)yi.shape[0], (long long)yi.shape[1],
                 (long long)cfg->base.d);
        return fail_at(err, where(&gv[ixt], root), "data.x_test_file", "%s",
                       msg, NULL);
      }
      cfg->base.n_test = xi.shape[0];
    }
    if (gv[int_].node &&
        cfg->base.n_test != strtoll(gv[int_].texts[0], NULL, 10))
      return fail_at(err, gv[int_].node, "data.n_test", "%s",
                     "does not match the test files",
                     "leave data.n_test out when the data come from files");
  }
  const int itw = field_index("teacher.w_file"), itn = field_index("teacher.neurons");
  if (gv[itw].node) { /* d x m; m is teacher.neurons, taken from the file when not given */
    npy_info ti;
    TSIM_TRY(check_npy(&schema[itw], &gv[itw], root, &ti, err));
    for (int b = 0; b < gv[id].count; ++b) {
      const long long d = strtoll(gv[id].texts[b], NULL, 10);
      for (int a = 0; a < (gv[itn].node ? gv[itn].count : 1); ++a) {
        const long long m = gv[itn].node ? strtoll(gv[itn].texts[a], NULL, 10) : ti.shape[1];
        if (ti.ndim == 2 && ti.shape[0] == d && ti.shape[1] == m && m >= 1) continue;
        char msg[512];
        const long long rows = ti.shape[0], cols = ti.ndim == 2 ? ti.shape[1] : 1;
        if (ti.ndim != 2)
          snprintf(msg, sizeof msg, "%s has shape (%lld,), need (d, teacher.neurons) with "
                   "d = %lld", gv[itw].texts[0], rows, d);
        else if (rows != d)
          snprintf(msg, sizeof msg, "%s has shape (%lld, %lld), need (d, teacher.neurons) with "
                   "d = %lld", gv[itw].texts[0], rows, cols, d);
        else if (gv[itn].node)
          snprintf(msg, sizeof msg, "%s has %lld columns (teacher neurons), and teacher.neurons "
                   "is %lld", gv[itw].texts[0], cols, m);
        else
          snprintf(msg, sizeof msg, "%s has no columns (shape (%lld, 0))", gv[itw].texts[0], d);
        return fail_at(err, where(&gv[itw], root), "teacher.w_file", "%s", msg,
                       gv[itn].node && ti.ndim == 2 && rows == d
                           ? "leave teacher.neurons out to take it from the file" : NULL);
      }
    }
    if (!gv[itn].node) cfg->base.teacher_neurons = ti.shape[1];
  }
  const int ita = field_index("teacher.a_file");
  if (gv[ita].node && gv[itw].node) { /* m output weights */
    npy_info ai;
    TSIM_TRY(check_npy(&schema[ita], &gv[ita], root, &ai, err));
    const int64_t m = cfg->base.teacher_neurons;
    char msg[512];
    if (ai.ndim != 1 || ai.shape[0] != m) {
      if (ai.ndim == 1)
        snprintf(msg, sizeof msg, "%s has shape (%lld,), need (teacher.neurons,) = (%lld,)",
                 gv[ita].texts[0], (long long)ai.shape[0], (long long)m);
      else
        snprintf(msg, sizeof msg, "%s has shape (%lld, %lld), need (teacher.neurons,) = (%lld,)",
                 gv[ita].texts[0], (long long)ai.shape[0], (long long)ai.shape[1], (long long)m);
      return fail_at(err, where(&gv[ita], root), "teacher.a_file", "%s", msg, NULL);
    }
    /* near_teacher splits each teacher's output over its students: a_l > 0 only */
    const given *gm = &gv[field_index("init.method")];
    int near = 0;
    for (int a = 0; a < gm->count; ++a) near |= !strcmp(gm->texts[a], "near_teacher");
    double *av = tsim_xmalloc((size_t)m * sizeof(double));
    tsim_error e = {0};
    int rc = near ? npy_read_rows(gv[ita].texts[0], &ai, 0, m, av, &e) : TSIM_OK;
    int64_t l = 0;
    while (near && !rc && l < m && av[l] > 0.0) ++l;
    const double bad = near && !rc && l < m ? av[l] : 0.0;
    free(av);
    if (rc) return fail_at(err, where(&gv[ita], root), "teacher.a_file", "%s", e.msg, NULL);
    if (near && l < m) {
      snprintf(msg, sizeof msg, "%s: a[%lld] = %g, and init.method near_teacher needs every "
               "output weight > 0", gv[ita].texts[0], (long long)l, bad);
      return fail_at(err, where(&gv[ita], root), "teacher.a_file", "%s", msg,
                     "positive weights, or another init.method");
    }
  }
  if (gv[iw].node) {
    npy_info wi;
    TSIM_TRY(check_npy(&schema[iw], &gv[iw], root, &wi, err));
    for (int a = 0; a < gv[ik].count; ++a)
      for (int b = 0; b < gv[id].count; ++b) {
        long long K = strtoll(gv[ik].texts[a], NULL, 10);
        long long d = strtoll(gv[id].texts[b], NULL, 10);
        if (wi.ndim != 2 || wi.shape[0] != d || wi.shape[1] != K) {
          char msg[512];
          snprintf(msg, sizeof msg, "%s has shape (%lld, %lld), need (d, K) = (%lld, %lld)",
                   gv[iw].texts[0], (long long)wi.shape[0],
                   (long long)wi.shape[1], d, K);
          return fail_at(err, where(&gv[iw], root), "init.w_file", "%s", msg,
                         NULL);
        }
      }
  }
  return TSIM_OK;
}

/* Settings of the model family that only make sense together, checked per
 * cell (grid axes may combine them): the key named is where it is reported. */
static int check_family(const tsim_params *p, given *gv, const ynode *root,
                        tsim_error *err) {
  const char *key = NULL, *what = NULL, *allowed = NULL;
  const int tact = p->teacher_activation == 0 ? p->activation : p->teacher_activation - 1;
  const int none = p->teacher_source == TEACHER_NONE, files = p->y_file != NULL;
  const int from_file = p->teacher_source == TEACHER_FILE;
  if (from_file && !p->teacher_w_file) {
    key = "teacher.source";
    what = "file needs the teacher's weights in teacher.w_file";
    allowed = "give teacher.w_file (.npy, d x teacher.neurons)";
  } else if (!from_file && (p->teacher_w_file || p->teacher_a_file)) {
    key = p->teacher_w_file ? "teacher.w_file" : "teacher.a_file";
    what = "is read only with teacher.source: file";
    allowed = p->teacher_w_file ? "teacher.source: file, or leave teacher.w_file out"
                                : "teacher.source: file, or leave teacher.a_file out";
  } else if (gv[field_index("teacher.output")].node && p->teacher_a_file) {
    key = "teacher.output";
    what = "and teacher.a_file both give the teacher's output weights";
    allowed = "one of them";
  } else if (none && !files) {
    key = "teacher.source";
    what = "none needs the labels from data.y_file";
    allowed = "generated, or give data.x_file and data.y_file";
  } else if (none && p->teacher_output != TEACHER_OUTPUT_ONES) {
    key = "teacher.output";
    what = "sign weighs a teacher's neurons, and teacher.source is none";
    allowed = "ones, or teacher.source generated or file";
  } else if (p->teacher_output == TEACHER_OUTPUT_SIGN && p->init_method == INIT_NEAR_TEACHER &&
             p->teacher_neurons > 1) {
    key = "teacher.output";
    what = "sign makes a_1 = -1, and init.method near_teacher needs every output weight > 0";
    allowed = "ones, or another init.method";
  } else if (!none && !from_file && files) {
    key = "teacher.source";
    what = "generated makes labels, but they come from data.y_file";
    allowed = "none or file with data.y_file";
  } else if (none && (p->init_method == INIT_NEAR_TEACHER || p->init_method == INIT_CLAIM2)) {
    key = "init.method";
    what = "near_teacher and claim2 start from a teacher, and teacher.source is none";
    allowed = "scaled, gaussian or orthonormal, or init.w_file";
  } else if (none && p->hess_source == HESS_SOURCE_POPULATION) {
    key = "metrics.hessian.source";
    what = "population needs a teacher, and teacher.source is none";
    allowed = "samples";
  } else if (p->regime == REGIME_POPULATION && tact != p->activation) {
    key = "teacher.activation";
    what = "differs from model.activation in the population regime";
    allowed = "the closed forms are for a matching teacher and student";
  } else if (p->regime == REGIME_POPULATION &&
             activation_info(p->activation)->population == ACT_POP_NONE &&
             !activation_info(p->activation)->smooth) { /* the smooth ones by quadrature */
    key = "data.regime";
    what = "population has no closed form for this model.activation";
    allowed = "empirical";
  } else if (p->regime == REGIME_POPULATION && gv[field_index("data.x_file")].node) {
    key = "data.regime";
    what = "population cannot use data files";
    allowed = "empirical";
  } else if (!from_file && p->teacher_direction == DIR_E1 && p->teacher_neurons > 1) {
    key = "teacher.direction";
    what = "e1 is for one teacher neuron";
    allowed = "random, orthonormal, random_orthonormal or separated when teacher.neurons > 1";
  } else if (!from_file &&
             (p->teacher_direction == DIR_ORTHONORMAL ||
              p->teacher_direction == DIR_RANDOM_ORTHONORMAL) &&
             p->teacher_neurons > p->d) {
    key = "teacher.neurons";
    what = "more orthonormal teacher directions than model.d";
    allowed = "teacher.neurons <= model.d";
  } else if (p->init_method == INIT_ORTHONORMAL && p->K > p->d) {
    key = "init.method";
    what = "orthonormal needs model.K <= model.d";
    allowed = "scaled, gaussian or near_teacher";
  } else if (p->init_method == INIT_NEAR_TEACHER && activation_info(p->activation)->degree == 0.0) {
    key = "init.method";
    what = "near_teacher scales students by the activation's homogeneity, and model.activation "
           "has none";
    allowed = "scaled, gaussian, orthonormal or claim2; near_teacher with quadratic, relu, abs "
              "or linear";
  } else if (p->train_output && p->norm_tied) {
    key = "model.train_output";
    what = "trained output weights and model.norm_tied both set the output weight";
    allowed = "one of them";
  } else if (p->init_method == INIT_CLAIM2 && (p->K > 2 || p->d < 2)) {
    key = "init.method";
    what = "claim2 needs model.K of 1 or 2 (and d >= 2)";
    allowed = "model.K: 1 or 2";
  }
  if (!key) return TSIM_OK;
  return fail_at(err, where(&gv[field_index(key)], root), key, "%s", what, allowed);
}

/* Where the Hessian schedule was given, for messages about it. */
static const ynode *hessian_node(const given *gv, const ynode *root) {
  const char *keys[] = {"metrics.hessian.at", "metrics.hessian.log_points",
                        "metrics.hessian.events"};
  for (int i = 0; i < 3; ++i)
    if (gv[field_index(keys[i])].node) return gv[field_index(keys[i])].node;
  return root;
}

static char *keep(tsim_config *cfg, char *s) {
  cfg->strings = tsim_xrealloc(cfg->strings,
                               (size_t)(cfg->nstrings + 1) * sizeof(char *));
  cfg->strings[cfg->nstrings++] = s;
  return s;
}

/* A list value G of the field F (the Hessian schedule's: F_INT_LIST,
 * F_ENUM_LIST) into P as an array of CFG's, its items in the order given. */
static void store_list(tsim_config *cfg, const field *f, const given *g, tsim_params *p) {
  const size_t n = (size_t)g->nlist;
  if (f->type == F_INT_LIST) { /* metrics.hessian.at */
    int64_t *at = (int64_t *)(void *)keep(cfg, tsim_xmalloc(n * sizeof *at));
    memcpy(at, g->list, n * sizeof *at);
    p->hess_at = at;
    p->hess_nat = (int64_t)n;
  } else { /* metrics.hessian.events */
    tsim_hess_event *ev = (tsim_hess_event *)(void *)keep(cfg, tsim_xmalloc(n * sizeof *ev));
    for (size_t i = 0; i < n; ++i) ev[i] = (tsim_hess_event)g->list[i];
    p->hess_events = ev;
    p->hess_nevents = (int64_t)n;
  }
}

/* The number of cells, from the lengths of the lists alone (nothing is
 * expanded before it is known to be at most CONFIG_MAX_CELLS); the error is
 * put at the longest list. */
static int check_grid_size(const given *gv, tsim_error *err) {
  double cells = 1;
  int longest = -1;
  char axes[600] = "";
  size_t used = 0;
  for (int i = 0; i < NFIELDS; ++i) {
    if (!gv[i].is_list) continue;
    cells *= gv[i].count;
    if (longest < 0 || gv[i].count > gv[longest].count) longest = i;
    int n = snprintf(axes + used, sizeof axes - used, "%s%d (%s)", used ? " x " : "",
                     gv[i].count, schema[i].key);
    if (n > 0 && used + (size_t)n < sizeof axes) used += (size_t)n;
  }
  if (cells <= CONFIG_MAX_CELLS) return TSIM_OK;
  char what[800];
  if (cells < 1e18)
    snprintf(what, sizeof what, "grid too large: the list lengths %s make %.0f cells", axes, cells);
  else if (cells < 1e300)
    snprintf(what, sizeof what, "grid too large: the list lengths %s make %.3g cells", axes, cells);
  else
    snprintf(what, sizeof what, "grid too large: the list lengths %s make more than 1e300 cells",
             axes);
  return fail_at(err, gv[longest].node, schema[longest].key, "%s", what,
                 "at most 1e7 cells in one config: split the lists over several runs");
}

/* Where a list item (or the one value) of the integer key at GV was
 * written: the item equal to VALUE, else the key's value node, else ROOT. */
static const ynode *int_node(const given *g, int64_t value, const ynode *root) {
  if (g->is_list && g->node && g->node->kind == YNODE_SEQ)
    for (int i = 0; i < g->node->count; ++i) {
      int64_t x;
      if (parse_int64(g->node->items[i]->value, &x) && x == value) return g->node->items[i];
    }
  return where(g, root);
}

/* The loops over the cells look at the stop flag this often (cells). */
#define STOP_EVERY 65536

int config_stopped(tsim_error *err) {
  const int sig = stop_signalled();
  return tsim_fail(err, TSIM_ESTOP, "tsim: stopped by signal %d (%s) before any work; "
                   "nothing written", sig, strsignal(sig));
}

static int build(tsim_config *cfg, given *gv, const ynode *root,
                 const ynode *name_node, int stoppable, tsim_error *err) {
  TSIM_TRY(check_grid_size(gv, err));
  cfg->name = name_node ? tsim_xstrdup(name_node->value) : stem_of(cfg->path);
  for (int i = 0; i < NFIELDS; ++i) {
    const field *f = &schema[i];
    given *g = &gv[i];
    /* teacher.source's default: none when the labels come from data.y_file
     * (never a teacher that did not make them), else generated */
    if (!g->node && !strcmp(f->key, "teacher.source")) {
      g->count = 1;
      g->texts = tsim_xcalloc(1, sizeof(char *));
      g->texts[0] = tsim_xstrdup(gv[field_index("data.y_file")].node ? "none" : "generated");
    }
    if (!g->node && f->deflt) {
      g->count = 1;
      g->texts = tsim_xcalloc(1, sizeof(char *));
      g->texts[0] = tsim_xstrdup(f->deflt);
      if (f->type == F_REAL) { /* canonical form of the default */
        char buf[64];
        shortest_double(buf, sizeof buf, strtod(f->deflt, NULL));
        free(g->texts[0]);
        g->texts[0] = tsim_xstrdup(buf);
      }
    }
    if (g->count > 0 && (f->type == F_INT_LIST || f->type == F_ENUM_LIST))
      store_list(cfg, f, g, &cfg->base);
    else if (g->count > 0)
      store_value(f, g->texts[0], &cfg->base);
  }
  const int iod = field_index("output.dir"), ion = field_index("output.neurons");
  if (gv[iod].count) {
    cfg->out_dir = tsim_xstrdup(gv[iod].texts[0]);
  } else {
    cfg->out_dir = tsim_xmalloc(strlen(cfg->name) + 5);
    sprintf(cfg->out_dir, "out/%s", cfg->name);
  }
  parse_bool(gv[ion].texts[0], &cfg->out_neurons);
  parse_bool(gv[field_index("output.weights")].texts[0], &cfg->out_weights);
  parse_int64(gv[field_index("run.team_size")].texts[0], &cfg->team_size);
  parse_real(gv[field_index("run.checkpoint_seconds")].texts[0], &cfg->checkpoint_seconds);
  parse_int64(gv[field_index("run.batch")].texts[0], &cfg->batch);
  TSIM_TRY(cross_check(cfg, gv, root, err));
  /* the grid */
  cfg->ncells = 1;
  for (int i = 0; i < NFIELDS; ++i) {
    given *g = &gv[i];
    if (!g->is_list) continue;
    cfg->axes = tsim_xrealloc(cfg->axes, (size_t)(cfg->naxes + 1) * sizeof *cfg->axes);
    tsim_axis *a = &cfg->axes[cfg->naxes++];
    a->field = i;
    a->key = schema[i].key;
    a->column = schema[i].column;
    a->count = g->count;
    a->values = g->texts;
    g->texts = NULL;
    g->count = 0;
    cfg->ncells *= a->count; /* at most CONFIG_MAX_CELLS: check_grid_size */
  }
  /* scalar texts the params point to must outlive the given[] table */
  for (int i = 0; i < NFIELDS; ++i) {
    given *g = &gv[i];
    if (g->count == 1 && (schema[i].type == F_PATH || schema[i].type == F_STR)) {
      store_value(&schema[i], keep(cfg, g->texts[0]), &cfg->base);
      g->texts[0] = NULL;
    }
  }
  /* the input files, and where they were named, for config_scan_inputs */
  static const char *const input_keys[CONFIG_MAX_INPUTS] = {
      "data.x_file", "data.y_file", "data.x_test_file", "data.y_test_file", "init.w_file",
      "teacher.w_file", "teacher.a_file"};
  for (int k = 0; k < CONFIG_MAX_INPUTS; ++k) {
    const given *g = &gv[field_index(input_keys[k])];
    if (!g->node) continue;
    tsim_input *in = &cfg->inputs[cfg->ninputs++];
    char at[600];
    snprintf(at, sizeof at, "%s:%d:%d", g->node->src, g->node->line, g->node->col);
    in->key = input_keys[k];
    in->path = *(const char *const *)(const void *)((const char *)&cfg->base +
                                                    schema[field_index(input_keys[k])].offset);
    in->at = keep(cfg, tsim_xstrdup(at));
  }
  tsim_params last_separated = {0};
  for (int64_t id = 0; id < cfg->ncells; ++id) { /* cross-axis sanity */
    if (stoppable && id % STOP_EVERY == 0 && fault_at_config(id) && stop_signalled())
      return config_stopped(err);
    tsim_params p;
    config_cell(cfg, id, &p);
    TSIM_TRY(check_family(&p, gv, root, err));
    const char *refused_key = NULL, *refused = cellkind_refused(&p, &refused_key);
    if (refused)
      return fail_at(err, where(&gv[field_index(refused_key)], root), refused_key, "%s", refused,
                     "0, or train.method gd");
    if (p.weight_decay > 0.0) cfg->penalty_column = 1;
    const engine_kind *eng =
        p.regime == REGIME_POPULATION ? engine_by_id(ENGINE_POPULATION) : engine_of(&p);
    const char *no_engine = p.train_output ? eng->unsupported(&p) : NULL;
    if (no_engine)
      return fail_at(err, where(&gv[field_index("model.train_output")], root),
                     "model.train_output", "unsupported by the %s engine", eng->name, no_engine);
    /* cells.csv leaves a key empty where the cell does not read it: an
     * axis of two or more values over it would give equal rows */
    for (int a = 0; a < cfg->naxes; ++a) {
      const char *why = cfg->axes[a].count > 1 ? cellkind_unread(&p, cfg->axes[a].key) : NULL;
      if (!why) continue;
      char what[200];
      snprintf(what, sizeof what, "cannot be a grid axis: cell %lld does not read it: %s",
               (long long)id, why);
      return fail_at(err, where(&gv[cfg->axes[a].field], root), cfg->axes[a].key, "%s", what,
                     "one value, or a list only where every cell reads the key");
    }
    if ((double)p.d * (double)p.K > 1e8) {
      const int ik = field_index("model.K"), id_ = field_index("model.d");
      const int blame = gv[ik].is_list || (!gv[id_].is_list && (gv[ik].node || !gv[id_].node))
                            ? ik : id_; /* a list (the value that varies), else a key given */
      char what[96];
      snprintf(what, sizeof what, "model.d * model.K = %lld is too large", (long long)(p.d * p.K));
      return fail_at(err, int_node(&gv[blame], blame == ik ? p.K : p.d, root),
                     schema[blame].key, "%s", what, "at most 1e8");
    }
    /* separated teachers: that the directions exist is known only by
     * looking for them, so look now, not mid-run (once per setting) */
    if (p.teacher_direction == DIR_SEPARATED &&
        (id == 0 || !same_separated(&p, &last_separated))) {
      tsim_teacher t;
      tsim_error why = {0};
      const char *prefix = "teacher.min_angle: ";
      if (teacher_make(&p, &t, &why))
        return fail_at(err, where(&gv[field_index("teacher.min_angle")], root),
                       "teacher.min_angle", "%s",
                       why.msg + (strncmp(why.msg, prefix, strlen(prefix)) ? 0 : strlen(prefix)),
                       NULL);
      teacher_free(&t);
      last_separated = p;
    }
    if ((double)p.teacher_neurons * (double)p.d > 1e8)
      return fail_at(err, where(&gv[field_index("teacher.neurons")], root), "teacher.neurons",
                     "%s", "teacher.neurons * model.d is too large", "at most 1e8");
    /* beyond any memory, and past it the sample indices overflow int64 */
    if ((double)(p.n > p.n_test ? p.n : p.n_test) * (double)(p.d + 1) > 1e15)
      return fail_at(err, where(&gv[field_index(p.n > p.n_test ? "data.n" : "data.n_test")], root),
                     p.n > p.n_test ? "data.n" : "data.n_test", "%s",
                     "times (model.d + 1) is too large", "at most 1e15 numbers");
    const char *no_spectra = cfg_hessian_on(&p) ? engine_spectra_unsupported(&p) : NULL;
    if (no_spectra) {
      const int isrc = field_index("metrics.hessian.source");
      return fail_at(err, gv[isrc].node ? where(&gv[isrc], root) : hessian_node(gv, root),
                     "metrics.hessian", "no spectra for this cell: %s", no_spectra, NULL);
    }
    if (cfg_hessian_on(&p) && p.d * p.K + (p.train_output ? p.K : 0) > 65536) /* dense N x N */
      return fail_at(err, hessian_node(gv, root), "metrics.hessian", "%s",
                     p.train_output ? "model.d * model.K + model.K (model.train_output) is too "
                                      "large for a dense Hessian"
                                    : "model.d * model.K is too large for a dense Hessian",
                     "at most 65536: 32 GiB of doubles over the team");
  }
  const int ieng = field_index("data.engine"), isto = field_index("data.storage");
  for (int64_t id = 0; id < cfg->ncells; ++id) { /* the engine can do the cell */
    if (stoppable && id % STOP_EVERY == 0 && fault_at_config(id) && stop_signalled())
      return config_stopped(err);
    tsim_params p;
    config_cell(cfg, id, &p);
    const char *why = engine_by_id(ENGINE_MOMENTS)->unsupported(&p);
    if (p.engine == ENGINE_MOMENTS && why)
      return fail_at(err, where(&gv[ieng], root), "data.engine",
                     "moments cannot compute this model: %s", why,
                     "auto or sharded");
    why = engine_by_id(ENGINE_GRAM)->unsupported(&p);
    if (p.engine == ENGINE_GRAM && why)
      return fail_at(err, where(&gv[ieng], root), "data.engine",
                     "gram cannot compute this model: %s", why, "auto or sharded");
  }
  if (cfg->base.storage == STORAGE_REGENERATE && cfg->base.x_file)
    return fail_at(err, where(&gv[isto], root), "data.storage", "%s",
                   "regenerate makes samples from data.seed, not from data.x_file",
                   "memory when the data come from files");
  return TSIM_OK;
}

static int load(const char *path, char *const *sets, int nsets, int stoppable,
                tsim_config **out, tsim_error *err) {
  *out = NULL;
  ynode *root = NULL;
  int parsed = ytree_parse_file(path, &root, err);
  /* a signal interrupts a blocking read (a FIFO): a stop, not bad input */
  if (stoppable && stop_signalled()) {
    ytree_free(&root);
    return config_stopped(err);
  }
  TSIM_TRY(parsed);
  int rc = TSIM_OK;
  for (int i = 0; i < nsets && !rc; ++i) rc = apply_set(root, i + 1, sets[i], err);
  given gv[NFIELDS];
  memset(gv, 0, sizeof gv);
  tsim_config *cfg = tsim_xcalloc(1, sizeof *cfg);
  cfg->path = tsim_xstrdup(path);
  char *base_dir = dir_of(path);
  const ynode *name_node = NULL;
  if (!rc) rc = read_tree(root, base_dir, gv, &name_node, err);
  if (!rc) rc = build(cfg, gv, root, name_node, stoppable, err);
  for (int i = 0; i < NFIELDS; ++i) {
    for (int j = 0; j < gv[i].count; ++j) free(gv[i].texts ? gv[i].texts[j] : NULL);
    free(gv[i].texts);
    free(gv[i].list);
  }
  free(base_dir);
  ytree_free(&root);
  if (rc) {
    config_destroy(&cfg);
    return rc;
  }
  *out = cfg;
  return TSIM_OK;
}

int config_load(const char *path, char *const *sets, int nsets, tsim_config **out,
                tsim_error *err) {
  return load(path, sets, nsets, 0, out, err);
}

int config_load_stoppable(const char *path, char *const *sets, int nsets, tsim_config **out,
                          tsim_error *err) {
  const int rc = load(path, sets, nsets, 1, out, err);
  if (rc == TSIM_ESTOP || !stop_signalled()) return rc;
  config_destroy(out);
  return config_stopped(err);
}

void config_destroy(tsim_config **cfgp) {
  if (!cfgp || !*cfgp) return;
  tsim_config *cfg = *cfgp;
  for (int a = 0; a < cfg->naxes; ++a) {
    for (int64_t i = 0; i < cfg->axes[a].count; ++i) free(cfg->axes[a].values[i]);
    free(cfg->axes[a].values);
  }
  free(cfg->axes);
  for (int i = 0; i < cfg->nstrings; ++i) free(cfg->strings[i]);
  free(cfg->strings);
  free(cfg->path);
  free(cfg->name);
  free(cfg->out_dir);
  free(cfg);
  *cfgp = NULL;
}

int config_scan_inputs(const tsim_config *cfg, int rank, int size, int64_t *first,
                       int64_t *sums, tsim_error *err) {
  for (int i = 0; i < cfg->ninputs; ++i) {
    const tsim_input *in = &cfg->inputs[i];
    npy_info info;
    first[i] = INT64_MAX;
    sums[3 * i] = sums[3 * i + 1] = sums[3 * i + 2] = 0;
    tsim_error e = {0};
    int rc = npy_read_header(in->path, &info, &e);
    const int64_t rows = info.shape[0], rest = rows % size;
    const int64_t r0 = rows / size * rank + (rank < rest ? rank : rest);
    const int64_t r1 = r0 + rows / size + (rank < rest ? 1 : 0);
    /* a slab of about 2^20 values at a time, looking at the stop flag */
    const int64_t slab = info.shape[1] >= (1 << 20) ? 1 : (1 << 20) / (info.shape[1] + 1);
    for (int64_t s0 = r0; s0 < r1 && !rc && first[i] == INT64_MAX; s0 += slab) {
      if (stop_signalled()) return config_stopped(err);
      int64_t found = -1;
      rc = npy_scan_rows(in->path, &info, s0, r1 - s0 < slab ? r1 : s0 + slab, &found,
                         sums + 3 * i, &e);
      if (found >= 0) first[i] = found;
    }
    if (rc) return tsim_fail(err, rc, "%s: %s: %s", in->at, in->key, e.msg);
  }
  return TSIM_OK;
}

/* The first chunk's labels of cell settings P (teacher.source file, data.y_file) against the
 * teacher's: a message into MSG when they disagree (see config_check_labels). */
static int labels_disagree(const tsim_params *p, int *bad, char *msg, size_t cap,
                           tsim_error *err) {
  const int64_t rows = p->n < p->chunk ? p->n : p->chunk, d = p->d;
  double *x = tsim_xmalloc((size_t)(rows * d) * sizeof(double));
  double *y = tsim_xmalloc((size_t)rows * sizeof(double));
  double *f = tsim_xmalloc((size_t)rows * sizeof(double));
  npy_info xi, yi;
  tsim_teacher t;
  int rc = teacher_make(p, &t, err);
  if (!rc) {
    if (!(rc = npy_read_header(p->x_file, &xi, err)) &&
        !(rc = npy_read_header(p->y_file, &yi, err)) &&
        !(rc = npy_read_rows(p->x_file, &xi, 0, rows, x, err)))
      rc = npy_read_rows(p->y_file, &yi, 0, rows, y, err);
    if (!rc) teacher_labels(&t, x, rows, f);
    teacher_free(&t);
  }
  *bad = 0;
  if (!rc) {
    double r2 = 0.0, f2 = 0.0;
    for (int64_t i = 0; i < rows; ++i) {
      r2 += (y[i] - f[i]) * (y[i] - f[i]);
      f2 += f[i] * f[i];
    }
    const double noise2 = p->label_noise * p->label_noise;
    if (noise2 == 0.0) {
      const double rel = sqrt(r2) / (f2 > 0.0 ? sqrt(f2) : 1.0);
      *bad = !(rel <= 1e-8);
      snprintf(msg, cap, "%s: the labels of the first chunk (%lld rows) are not those of "
               "teacher.w_file %s: relative mismatch %.3g, above 1e-8", p->y_file,
               (long long)rows, p->teacher_w_file, rel);
    } else { /* mean r^2 / noise^2 - 1 has standard deviation sqrt(2 / rows) */
      const double z = (r2 / (double)rows / noise2 - 1.0) / sqrt(2.0 / (double)rows);
      *bad = !(fabs(z) <= 5.0);
      snprintf(msg, cap, "%s: the labels of the first chunk (%lld rows) are not those of "
               "teacher.w_file %s with data.label_noise %g: residual variance %.3g, %.1f sigma "
               "from %.3g", p->y_file, (long long)rows, p->teacher_w_file, p->label_noise,
               r2 / (double)rows, z, noise2);
    }
  }
  free(x);
  free(y);
  free(f);
  return rc;
}

int config_check_labels(const tsim_config *cfg, char *warn, size_t cap, tsim_error *err) {
  warn[0] = '\0';
  const char *at = NULL;
  for (int i = 0; i < cfg->ninputs; ++i)
    if (!strcmp(cfg->inputs[i].key, "data.y_file")) at = cfg->inputs[i].at;
  if (cfg->base.teacher_source != TEACHER_FILE || !at) return TSIM_OK;
  /* the labels vary with the teacher's activation, its 1/m and the noise: one look for each */
  tsim_params last = {0};
  for (int64_t id = 0; id < cfg->ncells; ++id) {
    tsim_params p;
    config_cell(cfg, id, &p);
    if (id > 0 && params_teacher_activation(&p) == params_teacher_activation(&last) &&
        p.normalisation == last.normalisation && p.label_noise == last.label_noise)
      continue;
    last = p;
    char msg[3000];
    tsim_error e = {0};
    int bad = 0;
    const int rc = labels_disagree(&p, &bad, msg, sizeof msg, &e);
    if (rc) return tsim_fail(err, rc, "%s: data.y_file: %s", at, e.msg);
    if (!bad) continue;
    if (p.teacher_check == TEACHER_CHECK_ERROR)
      return tsim_fail(err, TSIM_EINPUT, "%s: data.y_file: %s (teacher.check: warn runs with "
                       "them)", at, msg);
    snprintf(warn, cap, "tsim: warning: %s: data.y_file: %s (teacher.check: warn)", at, msg);
    return TSIM_OK;
  }
  return TSIM_OK;
}

static uint64_t fnv_bytes(uint64_t h, const void *data, size_t len);

void config_set_input_hashes(tsim_config *cfg, const int64_t *sums) {
  uint64_t files = 0; /* no data files */
  for (int i = 0; i < cfg->ninputs; ++i) {
    tsim_input *in = &cfg->inputs[i];
    in->hash = fnv_bytes(1469598103934665603ull, sums + 3 * i, 3 * sizeof(int64_t));
    if (!strncmp(in->key, "data.", 5) || !strncmp(in->key, "teacher.", 8)) {
      if (!files) files = 1469598103934665603ull; /* FNV-1a */
      files = fnv_bytes(files, in->key, strlen(in->key) + 1);
      files = fnv_bytes(files, &in->hash, sizeof in->hash);
    }
  }
  cfg->base.files_hash = files;
}

int config_nonfinite_error(const tsim_config *cfg, const int64_t *first, tsim_error *err) {
  for (int i = 0; i < cfg->ninputs; ++i) {
    if (first[i] == INT64_MAX) continue;
    const tsim_input *in = &cfg->inputs[i];
    npy_info info;
    double *row = NULL;
    tsim_error e = {0};
    int rc = npy_read_header(in->path, &info, &e);
    const int64_t r = info.shape[1] ? first[i] / info.shape[1] : 0;
    const int64_t c = first[i] - r * info.shape[1];
    if (!rc) {
      row = tsim_xmalloc((size_t)info.shape[1] * sizeof(double));
      rc = npy_read_rows(in->path, &info, r, r + 1, row, &e);
    }
    if (rc) {
      free(row);
      return tsim_fail(err, rc, "%s: %s: %s", in->at, in->key, e.msg);
    }
    const double v = row[c];
    free(row);
    char where[96];
    if (info.ndim == 2)
      snprintf(where, sizeof where, "row %lld, column %lld", (long long)r, (long long)c);
    else
      snprintf(where, sizeof where, "element %lld", (long long)r);
    return tsim_fail(err, TSIM_EINPUT,
                     "%s: %s: %s: %s (from 0) is %s (input values must be finite)",
                     in->at, in->key, in->path, where,
                     isnan(v) ? "NaN" : isinf(v) ? (v > 0 ? "inf" : "-inf")
                                              : "no longer NaN or inf (the file changed)");
  }
  return TSIM_OK;
}

static int64_t axis_index(const tsim_config *cfg, int64_t id, int a) {
  int64_t stride = 1;
  for (int b = cfg->naxes - 1; b > a; --b) stride *= cfg->axes[b].count;
  return (id / stride) % cfg->axes[a].count;
}

void config_cell(const tsim_config *cfg, int64_t id, tsim_params *p) {
  *p = cfg->base;
  for (int a = 0; a < cfg->naxes; ++a)
    store_value(&schema[cfg->axes[a].field],
                cfg->axes[a].values[axis_index(cfg, id, a)], p);
}

void config_cell_label(const tsim_config *cfg, int64_t id, char *buf,
                       size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (int a = 0; a < cfg->naxes && used + 1 < cap; ++a) {
    int n = snprintf(buf + used, cap - used, "%s%s=%s", a ? " " : "",
                     cfg->axes[a].column,
                     cfg->axes[a].values[axis_index(cfg, id, a)]);
    if (n < 0) break;
    used += (size_t)n;
  }
}

/* ------------------------------------------------------------- writing */

static const tsim_axis *axis_of(const tsim_config *cfg, int fi) {
  for (int a = 0; a < cfg->naxes; ++a)
    if (cfg->axes[a].field == fi) return &cfg->axes[a];
  return NULL;
}

/* The name of choice IDX of the enum field F. */
static void choice_text(const field *f, int idx, char *buf, size_t cap) {
  const char *c = f->choices;
  while (idx-- > 0) c = strchr(c, '|') + 1;
  const char *bar = strchr(c, '|');
  snprintf(buf, cap, "%.*s", bar ? (int)(bar - c) : (int)strlen(c), c);
}

/* The canonical text of the list field F of P, as read_list_value makes it
 * ("[10, 100]", "[\"q9_positive\", \"final\"]"); "" when it is not given. */
static void list_text(const field *f, const tsim_params *p, char *buf, size_t cap) {
  const int ints = f->type == F_INT_LIST;
  const int64_t n = ints ? p->hess_nat : p->hess_nevents;
  size_t used = 0;
  buf[0] = '\0';
  for (int64_t i = 0; i < n; ++i) {
    char item[64];
    if (ints) {
      snprintf(item, sizeof item, "%lld", (long long)p->hess_at[i]);
    } else {
      char name[48];
      choice_text(f, (int)p->hess_events[i], name, sizeof name);
      snprintf(item, sizeof item, "\"%s\"", name);
    }
    const int w = snprintf(buf + used, cap - used, "%s%s%s", i ? ", " : "[", item,
                           i + 1 == n ? "]" : "");
    if (w < 0 || (size_t)w >= cap - used) break; /* cut at CAP, as any text */
    used += (size_t)w;
  }
}

/* Canonical text of a scalar field from the base params. */
static void scalar_text(const tsim_config *cfg, int fi, char *buf, size_t cap) {
  const field *f = &schema[fi];
  buf[0] = '\0';
  if (!strcmp(f->key, "output.dir")) {
    snprintf(buf, cap, "%s", cfg->out_dir);
    return;
  }
  if (!strcmp(f->key, "output.neurons")) {
    snprintf(buf, cap, "%s", cfg->out_neurons ? "true" : "false");
    return;
  }
  if (!strcmp(f->key, "output.weights")) {
    snprintf(buf, cap, "%s", cfg->out_weights ? "true" : "false");
    return;
  }
  if (!strcmp(f->key, "run.team_size")) {
    snprintf(buf, cap, "%lld", (long long)cfg->team_size);
    return;
  }
  if (!strcmp(f->key, "run.checkpoint_seconds")) {
    shortest_double(buf, cap, cfg->checkpoint_seconds);
    return;
  }
  if (!strcmp(f->key, "run.batch")) {
    snprintf(buf, cap, "%lld", (long long)cfg->batch);
    return;
  }
  const char *at = (const char *)&cfg->base + f->offset;
  switch (f->type) {
    case F_INT: snprintf(buf, cap, "%lld", (long long)*(const int64_t *)(const void *)at); break;
    case F_SEED: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)(const void *)at); break;
    case F_REAL: shortest_double(buf, cap, *(const double *)(const void *)at); break;
    case F_BOOL: snprintf(buf, cap, "%s", *(const int *)(const void *)at ? "true" : "false"); break;
    case F_ENUM: choice_text(f, *(const int *)(const void *)at, buf, cap); break;
    case F_PATH:
    case F_STR: {
      const char *s = *(const char *const *)(const void *)at;
      if (s) snprintf(buf, cap, "%s", s);
      break;
    }
    case F_INT_LIST:
    case F_ENUM_LIST: list_text(f, &cfg->base, buf, cap); break;
  }
}

/* Is TEXT (scalar_text's) the field's default value? */
static int at_default(const field *f, const char *text) {
  if (!f->deflt) return !text[0];
  if (f->type == F_REAL) return strtod(text, NULL) == strtod(f->deflt, NULL);
  return !strcmp(text, f->deflt);
}

/* Keys newer than the runs whose hash they must not change. */
static int is_later_key(const field *f) {
  return !strcmp(f->key, "train.weight_decay") || !strcmp(f->key, "train.momentum") ||
         !strcmp(f->key, "model.train_output") || !strcmp(f->key, "init.output") ||
         !strcmp(f->key, "train.eta_output") || !strcmp(f->key, "metrics.pop_quadrature") ||
         !strcmp(f->key, "teacher.output");
}

static int needs_quotes(const field *f) {
  return f->type == F_PATH || f->type == F_STR;
}

static void put_quoted(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; ++s) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static void emit(const tsim_config *cfg, FILE *out, int json, int indent,
                 int with_output) {
  const char *nl = json ? "\n" : "\n";
  if (json) {
    fprintf(out, "{%s%*s\"name\": ", nl, indent + 2, "");
    put_quoted(out, cfg->name);
  } else {
    fprintf(out, "name: ");
    put_quoted(out, cfg->name);
    fputc('\n', out);
  }
  const int log_every = field_index("train.log_every");
  for (int s = 0; s < NSECTIONS; ++s) {
    /* output and run settings do not change results */
    if (!with_output && (!strcmp(sections[s], "output") || !strcmp(sections[s], "run")))
      continue;
    /* Without Hessian spectra only the metrics keys set away from their
     * defaults are written (metrics.match_angle), so configs that never
     * use the section keep the text (and hash) they had before it existed. */
    const int sparse = !strcmp(sections[s], "metrics") && !cfg_hessian_on(&cfg->base);
    size_t len = strlen(sections[s]);
    int first = 1;
    for (int i = 0; i < NFIELDS; ++i) {
      const field *f = &schema[i];
      if (strncmp(f->key, sections[s], len) || f->key[len] != '.') continue;
      const tsim_axis *ax = axis_of(cfg, i);
      char buf[4200];
      if (!ax) {
        scalar_text(cfg, i, buf, sizeof buf);
        if (!buf[0]) continue; /* unset optional file */
        if (sparse && at_default(f, buf)) continue;
        /* teacher.source generated (what every run was before the key
         * existed) stays out of the hash text, so those runs keep their hash
         * and resume; config.yaml and the manifest always name it */
        if (!with_output && !strcmp(f->key, "teacher.source") && !strcmp(buf, "generated"))
          continue;
        /* teacher.check at its default likewise (it says how a file teacher is checked) */
        if (!strcmp(f->key, "teacher.check") && !strcmp(buf, "error")) continue;
        /* so do keys added later, at their default (off): config.yaml
         * names them (with spectra, metrics is not sparse) */
        if (!with_output && is_later_key(f) && at_default(f, buf)) continue;
      }
      /* A written config is read back by `tsim resume`, which refuses
       * train.log_every next to train.log_points > 0: only the spacing in
       * effect is written (the hash text keeps both, as it always had). */
      if (with_output && i == log_every && cfg->base.log_points > 0)
        continue;
      /* output.weights is written only when set: other runs keep the text they had */
      if (with_output && !strcmp(f->key, "output.weights") && !cfg->out_weights) continue;
      if (first) {
        if (json)
          fprintf(out, ",\n%*s\"%s\": {\n", indent + 2, "", sections[s]);
        else
          fprintf(out, "%s:\n", sections[s]);
      } else if (json) {
        fprintf(out, ",\n");
      }
      first = 0;
      if (json)
        fprintf(out, "%*s\"%s\": ", indent + 4, "", f->key + len + 1);
      else
        fprintf(out, "  %s: ", f->key + len + 1);
      const int quote = json ? (needs_quotes(f) || f->type == F_ENUM) : needs_quotes(f);
      if (ax) {
        fputc('[', out);
        for (int64_t v = 0; v < ax->count; ++v) {
          if (v) fputs(", ", out);
          if (quote) put_quoted(out, ax->values[v]);
          else fputs(ax->values[v], out);
        }
        fputc(']', out);
      } else if (quote) {
        put_quoted(out, buf);
      } else {
        fputs(buf, out);
      }
      if (!json) fputc('\n', out);
    }
    if (!first && json) fprintf(out, "\n%*s}", indent + 2, "");
  }
  if (json) fprintf(out, "\n%*s}", indent, "");
}

void config_set_out_dir(tsim_config *cfg, const char *dir) {
  free(cfg->out_dir);
  cfg->out_dir = tsim_xstrdup(dir);
}

void config_write_yaml(const tsim_config *cfg, FILE *f) {
  fprintf(f, "# effective tsim config: every default filled in\n");
  emit(cfg, f, 0, 0, 1);
}

void config_write_json(const tsim_config *cfg, FILE *f, int indent) {
  emit(cfg, f, 1, indent, 1);
}

char *config_results_text(const tsim_config *cfg) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  emit(cfg, f, 0, 0, 0);
  fclose(f);
  return text;
}

/* "section.key" -> value lines of a results text, for comparing two. */
static const char *find_value(const char *text, const char *key, char *out,
                              size_t cap) {
  char section[64] = "";
  const char *line = text;
  while (*line) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    if (len && line[0] != ' ' && line[len - 1] == ':') {
      snprintf(section, sizeof section, "%.*s", (int)(len - 1), line);
    } else if (len > 2 && line[0] == ' ') {
      const char *colon = memchr(line, ':', len);
      if (colon) {
        char full[128];
        snprintf(full, sizeof full, "%s.%.*s", section, (int)(colon - line - 2), line + 2);
        if (!strcmp(full, key)) {
          snprintf(out, cap, "%.*s", (int)(len - (size_t)(colon - line) - 2), colon + 2);
          return out;
        }
      }
    } else if (len > 6 && !strncmp(line, "name: ", 6) && !strcmp(key, "name")) {
      snprintf(out, cap, "%.*s", (int)len - 6, line + 6);
      return out;
    }
    line += len + (nl ? 1 : 0);
  }
  return NULL;
}

int config_changed_keys(const char *old_text, const char *new_text, config_change **list) {
  int count = 0;
  *list = tsim_xcalloc((size_t)NFIELDS + 1, sizeof **list);
  for (int i = -1; i < NFIELDS; ++i) {
    const char *key = i < 0 ? "name" : schema[i].key;
    if (!strncmp(key, "output.", 7) || !strncmp(key, "run.", 4)) continue;
    char a[4200], b[4200];
    const char *va = find_value(old_text, key, a, sizeof a);
    const char *vb = find_value(new_text, key, b, sizeof b);
    if ((!va && !vb) || (va && vb && !strcmp(va, vb))) continue;
    config_change *c = &(*list)[count++];
    c->key = key;
    c->before = va ? tsim_xstrdup(va) : NULL;
    c->after = vb ? tsim_xstrdup(vb) : NULL;
    c->integer = i >= 0 && schema[i].type == F_INT && va && vb &&
                 parse_int64(va, &c->before_int) && parse_int64(vb, &c->after_int);
  }
  return count;
}

void config_changes_free(config_change **list, int n) {
  for (int i = 0; i < n && *list; ++i) {
    free((*list)[i].before);
    free((*list)[i].after);
  }
  free(*list);
  *list = NULL;
}

void config_changes_text(const config_change *list, int n, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < n; ++i) {
    const int len = snprintf(buf + used, cap - used, "%s%s (%s -> %s)", i ? ", " : "",
                             list[i].key, list[i].before ? list[i].before : "unset",
                             list[i].after ? list[i].after : "unset");
    if (len > 0 && used + (size_t)len < cap) used += (size_t)len;
  }
}

uint64_t config_hash(const tsim_config *cfg) {
  char *text = config_results_text(cfg);
  const size_t len = strlen(text);
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < len; ++i) {
    h ^= (unsigned char)text[i];
    h *= 1099511628211ull;
  }
  free(text);
  return h;
}

/* ------------------------------------------------------- data identity */

/* P's data keys in canonical form: teacher.activation `same` resolved to
 * the student's, so cells whose labels agree compare equal whatever their
 * students. */
static void data_canonical(const tsim_params *p, tsim_params *q) {
  *q = *p;
  q->teacher_activation = params_teacher_activation(p) + 1;
}

static uint64_t fnv_bytes(uint64_t h, const void *data, size_t len) {
  const unsigned char *b = data;
  for (size_t i = 0; i < len; ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

uint64_t config_data_hash(const tsim_params *p) {
  tsim_params q;
  data_canonical(p, &q);
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (int i = 0; i < NFIELDS; ++i) {
    const field *f = &schema[i];
    if (f->data != DATA_KEY) continue;
    /* teacher.output at ones hashes as before the key existed */
    if (f->offset == P(teacher_output) && q.teacher_output == TEACHER_OUTPUT_ONES) continue;
    const char *at = (const char *)&q + f->offset;
    switch (f->type) {
      case F_INT:
      case F_SEED: h = fnv_bytes(h, at, sizeof(int64_t)); break;
      case F_REAL: {
        double v = *(const double *)(const void *)at;
        if (v == 0.0) v = 0.0; /* -0 is 0 */
        h = fnv_bytes(h, &v, sizeof v);
        break;
      }
      case F_BOOL:
      case F_ENUM: h = fnv_bytes(h, at, sizeof(int)); break;
      case F_PATH:
      case F_STR: {
        const char *s = *(const char *const *)(const void *)at;
        h = s ? fnv_bytes(h, s, strlen(s) + 1) : fnv_bytes(h, "\377", 1); /* unset */
        break;
      }
      case F_INT_LIST:  /* the list keys (metrics.hessian.*) are no data keys */
      case F_ENUM_LIST: break;
    }
  }
  return fnv_bytes(h, &q.files_hash, sizeof q.files_hash);
}

int config_same_data(const tsim_params *a, const tsim_params *b) {
  tsim_params qa, qb;
  data_canonical(a, &qa);
  data_canonical(b, &qb);
  for (int i = 0; i < NFIELDS; ++i) {
    const field *f = &schema[i];
    if (f->data != DATA_KEY) continue;
    const void *x = (const char *)&qa + f->offset, *y = (const char *)&qb + f->offset;
    int same;
    switch (f->type) {
      case F_INT:
      case F_SEED: same = !memcmp(x, y, sizeof(int64_t)); break;
      case F_REAL: same = *(const double *)x == *(const double *)y; break;
      case F_BOOL:
      case F_ENUM: same = *(const int *)x == *(const int *)y; break;
      case F_PATH:
      case F_STR: {
        const char *s = *(const char *const *)x, *t = *(const char *const *)y;
        same = s == t || (s && t && !strcmp(s, t));
        break;
      }
      case F_INT_LIST:  /* the list keys (metrics.hessian.*) are no data keys */
      case F_ENUM_LIST: same = 1; break;
    }
    if (!same) return 0;
  }
  return qa.files_hash == qb.files_hash;
}

/* The schema as a help text, for `tsim run --help`. */
void config_print_keys(FILE *f) {
  fprintf(f, "  %-20s %s\n", "name",
          "a non-empty string without '/'; default the config file's name without .yaml; names the run "
          "(manifest.json) and its default directory out/<name>");
  for (int i = 0; i < NFIELDS; ++i) {
    char allowed[256];
    fprintf(f, "  %-20s %s%s; default %s; %s", schema[i].key,
            range_text(&schema[i], allowed, sizeof allowed),
            schema[i].gridable ? ", or a list (grid axis)" : "",
            schema[i].deflt                           ? schema[i].deflt
            : !strcmp(schema[i].key, "teacher.source") ? "none with data.y_file, else generated"
                                                       : "unset",
            schema[i].help);
    const char *c = schema[i].choices; /* the activations: act(z) from their table */
    const size_t nc = c ? strlen(c) : 0, na = strlen(ACT_CHOICES);
    for (int a = 0; nc >= na && !strcmp(c + nc - na, ACT_CHOICES) && a < ACT_COUNT; ++a)
      fprintf(f, "%s%s = %s", a ? ", " : "; act(z): ", activation_info(a)->name,
              activation_info(a)->formula);
    fputc('\n', f);
  }
}
