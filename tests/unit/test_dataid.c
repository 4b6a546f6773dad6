/* test_dataid.c - the data identity (config_same_data, config_data_hash):
 * cells of any model share a data set exactly when the settings that make
 * their samples and labels agree (the teacher's activation, label noise,
 * ...), whatever their students, steps and seeds. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"

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
  return check_summary();
}
