/* output.c - the run directory's files (see output.h). Only rank 0 calls
 * these. Each finished cell is flushed at once, so a crash loses no
 * finished cell's rows. */
#define _POSIX_C_SOURCE 200809L
#include "tsim/output.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tsim/version.h"

struct run_output {
  char *dir;
  FILE *cells, *metrics, *neurons;
  const tsim_config *cfg;
  time_t start;
};

static const char *const result_files[] = {"cells.csv", "metrics.csv",
                                           "neurons.csv", "manifest.json",
                                           "config.yaml"};
#define NRESULT_FILES 5

const char *output_status_name(int status) {
  switch (status) {
    case CELL_CONVERGED: return "converged";
    case CELL_MAX_ITERATIONS: return "max_iterations";
    case CELL_DIVERGED: return "diverged";
    default: return "pending";
  }
}

void cell_result_init(cell_result *r, int64_t cell) {
  memset(r, 0, sizeof *r);
  r->cell = cell;
  r->t_q9_positive = r->t_lemma1 = r->t_gamma = -1;
  r->t_gamma_bound = NAN;
  r->final_train_loss = r->final_test_loss = r->final_dist = NAN;
}

void cell_result_free(cell_result *r) {
  free(r->metrics);
  free(r->neurons);
  r->metrics = r->neurons = NULL;
  r->metric_rows = r->neuron_rows = r->metric_cap = r->neuron_cap = 0;
}

static double *grow(double **rows, int64_t *count, int64_t *cap, int cols) {
  if (*count == *cap) {
    *cap = *cap ? 2 * *cap : 64;
    *rows = tsim_xrealloc(*rows, (size_t)(*cap * cols) * sizeof(double));
  }
  return *rows + (*count)++ * cols;
}

double *cell_result_metric_row(cell_result *r) {
  return grow(&r->metrics, &r->metric_rows, &r->metric_cap, METRIC_COLS);
}

double *cell_result_neuron_row(cell_result *r) {
  return grow(&r->neurons, &r->neuron_rows, &r->neuron_cap, NEURON_COLS);
}

void output_format_double(char *buf, size_t cap, double v) {
  if (isnan(v))
    buf[0] = '\0';
  else if (isinf(v))
    snprintf(buf, cap, "%s", v > 0 ? "inf" : "-inf");
  else
    snprintf(buf, cap, "%.17g", v + 0.0); /* + 0.0: no "-0" in the tables */
}

static void put_double(FILE *f, double v) {
  char buf[40];
  output_format_double(buf, sizeof buf, v);
  fputs(buf, f);
}

static void put_event(FILE *f, int64_t t) {
  if (t >= 0) fprintf(f, "%lld", (long long)t);
}

static int mkdir_p(const char *path, tsim_error *err) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; ++p) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0777) && errno != EEXIST)
      return tsim_fail(err, TSIM_EFAIL, "%s: cannot create directory: %s", buf,
                       strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0777) && errno != EEXIST)
    return tsim_fail(err, TSIM_EFAIL, "%s: cannot create directory: %s", buf,
                     strerror(errno));
  return TSIM_OK;
}

static FILE *open_in(const char *dir, const char *name, tsim_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
  return f;
}

static int is_fixed_column(const char *column) {
  static const char *fixed[] = {"K", "seed", "eta", "C", "n", "d"};
  for (int i = 0; i < 6; ++i)
    if (!strcmp(column, fixed[i])) return 1;
  return 0;
}

int output_open(const tsim_config *cfg, const char *outdir, int force,
                run_output **out, tsim_error *err) {
  *out = NULL;
  struct stat st;
  for (int i = 0; i < NRESULT_FILES; ++i) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", outdir, result_files[i]);
    if (stat(path, &st) != 0) continue;
    if (!force)
      return tsim_fail(err, TSIM_EINPUT,
                       "%s: holds the results of an earlier run (%s); use "
                       "--force to replace them or -o to choose another directory",
                       outdir, result_files[i]);
    if (unlink(path))
      return tsim_fail(err, TSIM_EFAIL, "%s: cannot remove: %s", path,
                       strerror(errno));
  }
  TSIM_TRY(mkdir_p(outdir, err));
  run_output *o = tsim_xcalloc(1, sizeof *o);
  o->dir = tsim_xstrdup(outdir);
  o->cfg = cfg;
  o->start = time(NULL);
  FILE *yaml = open_in(outdir, "config.yaml", err);
  if (!yaml) goto fail;
  config_write_yaml(cfg, yaml);
  if (fclose(yaml)) {
    tsim_fail(err, TSIM_EFAIL, "%s/config.yaml: write failed", outdir);
    goto fail;
  }
  if (!(o->cells = open_in(outdir, "cells.csv", err))) goto fail;
  if (!(o->metrics = open_in(outdir, "metrics.csv", err))) goto fail;
  if (cfg->out_neurons && !(o->neurons = open_in(outdir, "neurons.csv", err)))
    goto fail;
  fprintf(o->cells, "cell,K,seed,eta,C,n,d");
  for (int a = 0; a < cfg->naxes; ++a)
    if (!is_fixed_column(cfg->axes[a].column))
      fprintf(o->cells, ",%s", cfg->axes[a].column);
  fprintf(o->cells,
          ",status,iterations,t_q9_positive,t_lemma1,t_gamma,t_gamma_bound,"
          "final_train_loss,final_test_loss,final_dist,wall_s\n");
  fprintf(o->metrics, "cell,t,train_loss,test_loss,pop_loss,dist,q9,grad_norm\n");
  if (o->neurons)
    fprintf(o->neurons,
            "cell,t,k,par,perp_norm,norm,comp_A,comp_B,comp_C,comp_D\n");
  *out = o;
  return TSIM_OK;
fail:
  if (o->cells) fclose(o->cells);
  if (o->metrics) fclose(o->metrics);
  if (o->neurons) fclose(o->neurons);
  free(o->dir);
  free(o);
  return err->code;
}

int output_write_cell(run_output *o, const tsim_config *cfg,
                      const cell_result *r, tsim_error *err) {
  tsim_params p;
  config_cell(cfg, r->cell, &p);
  FILE *f = o->cells;
  fprintf(f, "%lld,%lld,%llu,", (long long)r->cell, (long long)p.K,
          (unsigned long long)p.init_seed);
  put_double(f, p.eta);
  fputc(',', f);
  put_double(f, p.C);
  fprintf(f, ",%lld,%lld", (long long)p.n, (long long)p.d);
  char label[4096];
  for (int a = 0; a < cfg->naxes; ++a) {
    if (is_fixed_column(cfg->axes[a].column)) continue;
    int64_t stride = 1;
    for (int b = cfg->naxes - 1; b > a; --b) stride *= cfg->axes[b].count;
    snprintf(label, sizeof label, "%s",
             cfg->axes[a].values[(r->cell / stride) % cfg->axes[a].count]);
    fprintf(f, ",%s", label);
  }
  fprintf(f, ",%s,%lld,", output_status_name(r->status),
          (long long)r->iterations);
  put_event(f, r->t_q9_positive);
  fputc(',', f);
  put_event(f, r->t_lemma1);
  fputc(',', f);
  put_event(f, r->t_gamma);
  fputc(',', f);
  put_double(f, r->t_gamma_bound);
  fputc(',', f);
  put_double(f, r->final_train_loss);
  fputc(',', f);
  put_double(f, r->final_test_loss);
  fputc(',', f);
  put_double(f, r->final_dist);
  fprintf(f, ",%.3f\n", r->wall_s);
  for (int64_t i = 0; i < r->metric_rows; ++i) {
    const double *row = r->metrics + i * METRIC_COLS;
    fprintf(o->metrics, "%lld,%lld", (long long)r->cell, (long long)row[0]);
    for (int c = 1; c < METRIC_COLS; ++c) {
      fputc(',', o->metrics);
      put_double(o->metrics, row[c]);
    }
    fputc('\n', o->metrics);
  }
  if (o->neurons) {
    for (int64_t i = 0; i < r->neuron_rows; ++i) {
      const double *row = r->neurons + i * NEURON_COLS;
      fprintf(o->neurons, "%lld,%lld,%lld", (long long)r->cell,
              (long long)row[0], (long long)row[1]);
      for (int c = 2; c < NEURON_COLS; ++c) {
        fputc(',', o->neurons);
        put_double(o->neurons, row[c]);
      }
      fputc('\n', o->neurons);
    }
  }
  FILE *files[3] = {o->cells, o->metrics, o->neurons};
  for (int i = 0; i < 3; ++i)
    if (files[i] && (fflush(files[i]) || ferror(files[i])))
      return tsim_fail(err, TSIM_EFAIL, "%s: writing results failed: %s",
                       o->dir, strerror(errno));
  return TSIM_OK;
}

static void iso_time(time_t t, char *buf, size_t cap) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int output_close(run_output **op, const char *manifest_extra, tsim_error *err) {
  run_output *o = *op;
  int rc = TSIM_OK;
  FILE *files[3] = {o->cells, o->metrics, o->neurons};
  for (int i = 0; i < 3; ++i)
    if (files[i] && fclose(files[i]) && !rc)
      rc = tsim_fail(err, TSIM_EFAIL, "%s: closing results failed: %s", o->dir,
                     strerror(errno));
  FILE *m = open_in(o->dir, "manifest.json", err);
  if (!m) {
    rc = err->code;
  } else {
    char start[32], end[32];
    iso_time(o->start, start, sizeof start);
    iso_time(time(NULL), end, sizeof end);
    fprintf(m,
            "{\n  \"tsim_version\": \"%s\",\n  \"git_commit\": \"%s\",\n"
            "  \"compiler\": \"%s\",\n  \"cflags\": \"%s\",\n"
            "  \"start\": \"%s\",\n  \"end\": \"%s\",\n"
            "  \"config_hash\": \"%016llx\",\n",
            TSIM_VERSION, TSIM_GIT_COMMIT, TSIM_COMPILER, TSIM_CFLAGS, start,
            end, (unsigned long long)config_hash(o->cfg));
    if (manifest_extra && *manifest_extra) fprintf(m, "%s,\n", manifest_extra);
    fprintf(m, "  \"config\": ");
    config_write_json(o->cfg, m, 2);
    fprintf(m, "\n}\n");
    if (fclose(m) && !rc)
      rc = tsim_fail(err, TSIM_EFAIL, "%s/manifest.json: write failed", o->dir);
  }
  free(o->dir);
  free(o);
  *op = NULL;
  return rc;
}
