/* test_dataid.c - the data identity (config_same_data, config_data_hash):
 * cells of any model share a data set exactly when the settings that make
 * their samples and labels agree (the teacher's activation, label noise,
 * ...), whatever their students, steps and seeds. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "tsim/npy.h"

static tsim_config *load(const char *path, const char *set) {
  char *sets[1] = {(char *)set};
  tsim_config *cfg = NULL;
  tsim_error err = {0};
  if (config_load(path, sets, set ? 1 : 0, &cfg, &err)) {
    printf("config_load: %s\n", err.msg);
    return NULL;
  }
  return cfg;
}

/* Over every pair of cells: the pairs whose identities disagree with
 * EXPECTED(a, b), and the equal pairs whose hashes differ. */
static void pairs(const tsim_config *cfg, int (*expected)(const tsim_params *, const tsim_params *),
                  int64_t *wrong, int64_t *bad_hash, int64_t *same) {
  *wrong = *bad_hash = *same = 0;
  for (int64_t i = 0; i < cfg->ncells; ++i)
    for (int64_t j = 0; j < cfg->ncells; ++j) {
      tsim_params a, b;
      config_cell(cfg, i, &a);
      config_cell(cfg, j, &b);
      const int s = config_same_data(&a, &b);
      *wrong += s != expected(&a, &b);
      *same += s;
      *bad_hash += s && config_data_hash(&a) != config_data_hash(&b);
    }
}

static int same_noise(const tsim_params *a, const tsim_params *b) {
  return a->label_noise == b->label_noise && a->data_seed == b->data_seed;
}

static int same_noise_activation(const tsim_params *a, const tsim_params *b) {
  return same_noise(a, b) && a->activation == b->activation;
}

/* CFG's input files scanned as SIZE ranks would (their sums added), and
 * the hashes set; cell 0's settings into P. */
static void scan_as(tsim_config *cfg, int size, tsim_params *p) {
  int64_t total[3 * CONFIG_MAX_INPUTS] = {0};
  for (int r = 0; r < size; ++r) {
    int64_t first[CONFIG_MAX_INPUTS], sums[3 * CONFIG_MAX_INPUTS];
    tsim_error err = {0};
    config_scan_inputs(cfg, r, size, first, sums, &err);
    for (int i = 0; i < 3 * cfg->ninputs; ++i) total[i] += sums[i];
  }
  config_set_input_hashes(cfg, total);
  config_cell(cfg, 0, p);
}

/* Input files: their contents are part of the identity, the same whatever
 * the rank count that hashed them. */
static void test_files(void) {
  const char *dir = "/tmp";
  char x1[64], x2[64], y[64], cfgp[64];
  snprintf(x1, sizeof x1, "%s/tsim_dataid_x1_%d.npy", dir, (int)getpid());
  snprintf(x2, sizeof x2, "%s/tsim_dataid_x2_%d.npy", dir, (int)getpid());
  snprintf(y, sizeof y, "%s/tsim_dataid_y_%d.npy", dir, (int)getpid());
  snprintf(cfgp, sizeof cfgp, "%s/tsim_dataid_c_%d.yaml", dir, (int)getpid());
  double x[40 * 3], lab[40];
  for (int i = 0; i < 120; ++i) x[i] = 0.25 * (i % 7) - 0.5;
  for (int i = 0; i < 40; ++i) lab[i] = 0.1 * i;
  const int64_t xs[2] = {40, 3}, ys[1] = {40};
  tsim_error err = {0};
  npy_write(x1, 2, xs, x, &err);
  x[77] += 1e-12; /* one value differs */
  npy_write(x2, 2, xs, x, &err);
  npy_write(y, 1, ys, lab, &err);
  FILE *f = fopen(cfgp, "w");
  if (!f) return;
  fprintf(f, "model: {d: 3}\ndata: {x_file: %s, y_file: %s, n_test: 0, chunk: 8}\n", x1, y);
  fclose(f);
  char set2[128];
  snprintf(set2, sizeof set2, "data.x_file=%s", x2);
  tsim_config *a = load(cfgp, NULL), *a3 = load(cfgp, NULL), *b = load(cfgp, set2);
  CHECK(a && a3 && b, "a config naming .npy inputs loads");
  if (a && a3 && b) {
    tsim_params pa, pa3, pb, pb3;
    scan_as(a, 1, &pa);
    scan_as(a3, 3, &pa3);
    scan_as(b, 1, &pb);
    CHECK(pa.files_hash != 0 && pa.files_hash == pa3.files_hash &&
              config_same_data(&pa, &pa3) && config_data_hash(&pa) == config_data_hash(&pa3),
          "the files' content hash is the same scanned by 1 and by 3 ranks");
    /* another path, and the same path with other contents */
    pb3 = pb;
    pb3.x_file = pa.x_file;
    CHECK(!config_same_data(&pa, &pb) && !config_same_data(&pa, &pb3) &&
              config_data_hash(&pa) != config_data_hash(&pb3),
          "x_file contents differing in one value: another data identity, also under one path");
  }
  config_destroy(&a);
  config_destroy(&a3);
  config_destroy(&b);
  unlink(x1);
  unlink(x2);
  unlink(y);
  unlink(cfgp);
}

int main(void) {
  check_suite = "dataid";
  char path[] = "/tmp/tsim_dataid_XXXXXX";
  const int fd = mkstemp(path);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) return 1;
  fprintf(f, "name: dataid\n"
             "model: {d: 4, K: [1, 2], activation: [quadratic, relu, abs]}\n"
             "teacher: {activation: quadratic, neurons: 2, direction: random}\n"
             "data: {n: 64, n_test: 8, seed: [1, 2], label_noise: [0, 0.1]}\n"
             "init: {seed: [0, 1]}\n"
             "train: {eta: [0.01, 0.1], iterations: 3}\n");
  fclose(f);
  int64_t wrong, bad_hash, same;
  tsim_config *cfg = load(path, NULL);
  CHECK(cfg != NULL, "a grid over students, steps, seeds, data seeds and label noise loads");
  if (cfg) {
    pairs(cfg, same_noise, &wrong, &bad_hash, &same);
    CHECK(wrong == 0, "teacher.activation quadratic: cells share data exactly when data.seed "
                      "and data.label_noise agree, whatever the student (%lld wrong pairs of "
                      "%lld)", (long long)wrong, (long long)(cfg->ncells * cfg->ncells));
    CHECK(same == cfg->ncells * cfg->ncells / 4,
          "... a quarter of the pairs share (%lld)", (long long)same);
    CHECK(bad_hash == 0, "... cells that share data have one hash (%lld differ)",
          (long long)bad_hash);
    config_destroy(&cfg);
  }
  cfg = load(path, "teacher.activation=same");
  CHECK(cfg != NULL, "the same grid with teacher.activation same loads");
  if (cfg) {
    pairs(cfg, same_noise_activation, &wrong, &bad_hash, &same);
    CHECK(wrong == 0, "teacher.activation same: the student's activation makes the labels "
                      "too (%lld wrong pairs)", (long long)wrong);
    CHECK(bad_hash == 0, "... cells that share data have one hash (%lld differ)",
          (long long)bad_hash);
    config_destroy(&cfg);
  }
  unlink(path);
  test_files();
  return check_summary();
}
