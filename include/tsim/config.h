/* config.h - the YAML run description, its validation, and the grid.
 *
 * A config file names one value or a list of values for each setting; every
 * setting of model/init/train/data (and teacher) given as a list becomes an
 * axis of the grid, and the grid is the product of its axes.  Each grid point
 * is a cell with a stable integer id: a mixed-radix number over the axes in
 * the fixed order of the schema (model.K, init.seed, train.eta, model.C,
 * data.n, ...), the first axis varying slowest.
 *
 * Every user error is one line `FILE:LINE:COL: key.path: what is wrong (what
 * is allowed)` with status TSIM_EINPUT. */
#ifndef TSIM_CONFIG_H
#define TSIM_CONFIG_H

#include <stdint.h>
#include <stdio.h>
#include "tsim/activation.h"
#include "tsim/common.h"

/* Teacher directions: e1 (m = 1); random: independent uniform unit vectors;
 * orthonormal: the first m axes e_1..e_m; random_orthonormal: Gram-Schmidt of
 * Gaussian vectors from teacher.seed; separated: random unit vectors
 * rejection-sampled until every pair is at least teacher.min_angle apart. */
typedef enum {
  DIR_E1 = 0,
  DIR_RANDOM = 1,
  DIR_ORTHONORMAL = 2,
  DIR_RANDOM_ORTHONORMAL = 3,
  DIR_SEPARATED = 4
} tsim_direction;
/* Student initialisations (data_init_weights). */
typedef enum {
  INIT_SCALED = 0,       /* scale * N(0, I_d / d) (Wang & Abernethy) */
  INIT_GAUSSIAN = 1,     /* N(0, sigma^2 I_d) (Xu & Du) */
  INIT_ORTHONORMAL = 2,  /* random orthonormal family times scale (K <= d) */
  INIT_NEAR_TEACHER = 3, /* teacher k mod m plus a perturbation of norm scale */
  INIT_CLAIM2 = 4        /* Zhou, Ge & Jin Claim 2: two students at +-delta */
} tsim_init_method;
/* init.output: the trained output weights' start (model.train_output) */
typedef enum { INIT_OUTPUT_ONES = 0, INIT_OUTPUT_GAUSSIAN = 1, INIT_OUTPUT_SIGN = 2 } tsim_init_output;
/* teacher.source: a teacher made from the teacher.* keys (it makes the labels), read from
 * teacher.w_file (it makes the labels, or checks those of data.y_file), or none (the labels
 * come from data.y_file and nothing is compared with a teacher) */
typedef enum { TEACHER_GENERATED = 0, TEACHER_FILE = 1, TEACHER_NONE = 2 } tsim_teacher_source;
/* teacher.check: labels of data.y_file that the file teacher did not make are an error, or a
 * warning */
typedef enum { TEACHER_CHECK_ERROR = 0, TEACHER_CHECK_WARN = 1 } tsim_teacher_check;
/* teacher.output: every teacher output weight 1, or +1, -1, +1, ... by neuron (l even: +1) */
typedef enum { TEACHER_OUTPUT_ONES = 0, TEACHER_OUTPUT_SIGN = 1 } tsim_teacher_output;
typedef enum { REGIME_EMPIRICAL = 0, REGIME_POPULATION = 1 } tsim_regime;
typedef enum { METHOD_GD = 0, METHOD_FLOW = 1 } tsim_method;
typedef enum { NORMALISATION_NONE = 0, NORMALISATION_INV_M = 1 } tsim_normalisation;

/* data.engine: how a cell's sums over the samples are computed (moments.h) */
typedef enum { ENGINE_AUTO = 0, ENGINE_SHARDED = 1, ENGINE_MOMENTS = 2, ENGINE_GRAM = 3,
               ENGINE_POPULATION = 4 /* data.regime: population, not a data.engine value */
} tsim_engine;
/* data.storage: samples kept in memory, or made again when needed */
typedef enum { STORAGE_MEMORY = 0, STORAGE_REGENERATE = 1 } tsim_storage;
/* metrics.hessian.events: when quantity (9) first turns positive, at the end */
typedef enum { HESS_EVENT_Q9_POSITIVE = 0, HESS_EVENT_FINAL = 1 } tsim_hess_event;
/* metrics.hessian.source: the training loss's Hessian, or the population loss's */
typedef enum { HESS_SOURCE_SAMPLES = 0, HESS_SOURCE_POPULATION = 1 } tsim_hess_source;

/* Every setting of one cell. Strings point into the owning tsim_config;
 * enum settings have their enum types, but the activations (int: this
 * header does not see activation.h, and teacher_activation holds 0 for
 * `same`). */
typedef struct tsim_params {
  /* model: f_W(x) = C sum_k act(w_k^T x); loss = loss_scale mean (f - y)^2 */
  int activation;
  int64_t d, K;
  double C, loss_scale;
  /* teacher: y = sum_l act*(v_l^T x), ||v_l|| = norm (data.h) */
  double teacher_norm;
  tsim_direction teacher_direction;
  uint64_t teacher_seed;
  /* data */
  int64_t n, n_test, chunk;
  uint64_t data_seed;
  const char *x_file, *y_file, *x_test_file, *y_test_file;
  uint64_t files_hash; /* the data.*_file and teacher.w_file contents (config_set_input_hashes;
                        * 0 before) */
  tsim_engine engine;
  tsim_storage storage;
  /* init: w_k ~ scale * N(0, I_d / d), or by init_method (data.h) */
  double init_scale;
  uint64_t init_seed;
  const char *w_file;
  /* train: full-batch gradient descent with a constant step */
  double eta;
  int64_t iterations, log_every, log_points;
  double diverge_above, tol, loss_tol, nu;
  /* the model family beyond Wang & Abernethy (docs/model.md):
   * f_W(x) = C' sum_k s(w_k) act(w_k^T x), s(w) = ||w|| if norm_tied, and
   * C' = C / K under normalisation 1/m (the teacher then gets 1/m*) */
  int norm_tied;
  tsim_normalisation normalisation;
  int64_t teacher_neurons;
  int teacher_activation; /* 0: the student's; else activation + 1 */
  double teacher_min_angle; /* degrees */
  tsim_teacher_source teacher_source;
  const char *teacher_w_file; /* teacher.source file: d x m, one column per neuron */
  const char *teacher_a_file; /* and its m output weights (NULL: all ones) */
  tsim_teacher_output teacher_output; /* the output weights without teacher.a_file */
  tsim_teacher_check teacher_check;
  double label_noise;
  tsim_regime regime;
  tsim_init_method init_method;
  double init_sigma, init_delta;
  tsim_method method;
  double T, rtol, atol;
  /* gradient descent on loss + (weight_decay/2) |W|^2, heavy ball with momentum mu
   * (0, 0: plain gradient descent) */
  double weight_decay, momentum;
  /* model.train_output: f = C sum_k a_k act(w_k^T x), a trained with step
   * eta_output (0: eta), a_0 by init_output */
  int train_output;
  tsim_init_output init_output;
  double eta_output;
  double match_angle; /* degrees */
  int pop_quadrature; /* pop_loss by quadrature.h where no closed form exists */
  /* metrics.hessian: spectra along the trajectory (spectrum.h), at the
   * iterations hess_at[0..hess_nat) and the events hess_events[0..
   * hess_nevents), as listed (NULL and 0 when not given) */
  const int64_t *hess_at;
  int64_t hess_nat;
  const tsim_hess_event *hess_events;
  int64_t hess_nevents;
  int64_t hess_log_points, hess_top, hess_bottom;
  int hess_vectors;
  tsim_hess_source hess_source;
} tsim_params;

/* One axis of the grid: a setting given as a list. */
typedef struct tsim_axis {
  int field;          /* index into the schema */
  const char *key;    /* "model.K" */
  const char *column; /* "K": the column name in cells.csv */
  int64_t count;
  char **values;      /* the values as written (validated) */
} tsim_axis;

/* An input .npy file (data.*_file, init.w_file, teacher.w_file, a_file) and where the config
 * names it, for messages about its contents. */
typedef struct tsim_input {
  const char *key;  /* "data.x_file" */
  const char *path; /* as resolved (absolute) */
  char *at;         /* "cfg.yaml:4:11" or "--set:1:13" */
  uint64_t hash;    /* its contents (config_set_input_hashes; 0 before) */
} tsim_input;
#define CONFIG_MAX_INPUTS 7
/* The most cells one config may have (checked from the list lengths). */
#define CONFIG_MAX_CELLS 10000000

typedef struct tsim_config {
  char *path;     /* file the config came from */
  char *name;
  char *out_dir;
  int out_neurons;
  int out_weights; /* output.weights: weights/CELL.npy (output.h) */
  int64_t team_size; /* run.team_size: 0 = automatic */
  double checkpoint_seconds; /* run.checkpoint_seconds */
  int64_t batch; /* run.batch: 0 = automatic, 1 = off, N = at most N cells */
  int penalty_column; /* a cell has train.weight_decay > 0: metrics.csv has a penalty column */
  tsim_params base; /* every setting; axes override theirs per cell */
  int naxes;
  tsim_axis *axes;
  int64_t ncells;
  char **strings; /* owned strings (and the Hessian schedule's arrays) params point to */
  int nstrings;
  tsim_input inputs[CONFIG_MAX_INPUTS];
  int ninputs;
} tsim_config;

/* Read PATH, apply the --set overrides SETS[0..nsets) ("key.path=value",
 * value in YAML flow syntax: `--set model.K=[2,4]`), fill defaults, check
 * every key, type and range, and expand the grid. */
int config_load(const char *path, char *const *sets, int nsets,
                tsim_config **out, tsim_error *err);
void config_destroy(tsim_config **cfg);
/* The same for the command line: a stop signal (stop.h) that arrives while
 * the file is read or the grid expanded ends it with TSIM_ESTOP and
 * config_stopped's message (config_scan_inputs stops so too). */
int config_load_stoppable(const char *path, char *const *sets, int nsets,
                          tsim_config **out, tsim_error *err);
/* "tsim: stopped by signal 15 (Terminated) before any work; nothing
 * written", TSIM_ESTOP. */
int config_stopped(tsim_error *err);

/* NaN and inf in the input files, looked for before anything runs, each
 * rank a share: FIRST[i] is the first non-finite element (flat index) of
 * input i in share RANK of SIZE of its rows, INT64_MAX if none. Given the
 * minimum of FIRST over all ranks, config_nonfinite_error gives the same
 * error on every rank: "FILE:LINE:COL: data.x_file: x.npy: row 17, column 3
 * (from 0) is NaN (...)". A stop signal ends the scan (config_stopped). */
int config_scan_inputs(const tsim_config *cfg, int rank, int size, int64_t *first,
                       int64_t *sums, tsim_error *err);
/* SUMS[3 i .. 3 i + 3): input i's row hashes (npy_scan_rows) added over
 * every rank's share: each input's content hash, and the data files' one
 * into every cell's files_hash (the data identity). */
void config_set_input_hashes(tsim_config *cfg, const int64_t *sums);
int config_nonfinite_error(const tsim_config *cfg, const int64_t *first, tsim_error *err);

/* teacher.source file with data.y_file: the labels of the first chunk against the file
 * teacher's (without data.label_noise a relative mismatch above 1e-8, with it a residual
 * variance more than 5 sigma off label_noise^2 fails): an error naming both files
 * ("FILE:LINE:COL: data.y_file: ..."), or with teacher.check warn the same text in WARN
 * (empty when they agree) and TSIM_OK. The same answer on every rank (it reads the files). */
int config_check_labels(const tsim_config *cfg, char *warn, size_t cap, tsim_error *err);

/* Settings of cell ID (0 <= id < ncells). */
void config_cell(const tsim_config *cfg, int64_t id, tsim_params *p);
/* "K=3 seed=1 eta=0.001": the cell's axis values, for progress lines. */
void config_cell_label(const tsim_config *cfg, int64_t id, char *buf,
                       size_t cap);

/* The run directory actually used (-o), so config.yaml records it. */
void config_set_out_dir(tsim_config *cfg, const char *dir);

/* The effective config (defaults filled in, lists kept) as YAML / JSON. */
void config_write_yaml(const tsim_config *cfg, FILE *f);
void config_write_json(const tsim_config *cfg, FILE *f, int indent);

/* A 64-bit hash of everything that changes results (FNV-1a of the
 * effective YAML with the output and run sections left out). */
uint64_t config_hash(const tsim_config *cfg);
/* The text that hash is taken of (malloc'd): everything but output, run. */
char *config_results_text(const tsim_config *cfg);
/* A key whose value differs between two such texts. */
typedef struct config_change {
  const char *key;              /* "train.iterations" */
  char *before, *after;         /* the values as the texts write them; NULL: unset */
  int integer;                  /* an integer key set in both: its values as numbers */
  int64_t before_int, after_int;
} config_change;
/* Compare two such texts (a longer text may have lines of its own after
 * them): the keys whose values differ, in the schema's order, into *LIST
 * (config_changes_free); returns their number. */
int config_changed_keys(const char *old_text, const char *new_text, config_change **list);
void config_changes_free(config_change **list, int n);
/* "key (old -> new), ..." for a message, cut to CAP bytes. */
void config_changes_text(const config_change *list, int n, char *buf, size_t cap);

/* The data identity of a cell: the settings that determine its samples and
 * labels (the schema's keys marked DATA_KEY: d, n, n_test, chunk, storage,
 * data seed, files, the teacher, label noise, ...; teacher.activation
 * `same` taken as the student's), and the contents of the input files
 * (files_hash), so that cells of any model with equal identities see the
 * same samples. */
uint64_t config_data_hash(const tsim_params *p);
int config_same_data(const tsim_params *a, const tsim_params *b);

/* Every accepted key with its type, default and meaning (for --help). */
void config_print_keys(FILE *f);

#endif
