/* output.c - the run directory's files (see output.h). Only rank 0 calls
 * these. Each finished cell is flushed at once, so a crash loses no
 * finished cell's rows. */
#define _POSIX_C_SOURCE 200809L
#include "tsim/evolve.h"
#include "tsim/output.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tsim/fused.h"
#include "tsim/spectrum.h"
#include "tsim/version.h"
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

/* The C library whose libm made the samples (data.c: Box-Muller on log and
 * sincos, whose last bits may differ between libm versions): recorded so a
 * run's data can be matched to the library it needs. */
static const char *libm_name(char *buf, size_t cap) {
#ifdef __GLIBC__
  snprintf(buf, cap, "glibc %s", gnu_get_libc_version());
#else
  snprintf(buf, cap, "unknown");
#endif
  return buf;
}

/* Cells are written to the three tables in increasing id order. A cell
 * that finishes before a lower id is parked as CSV fragments in
 * OUTDIR/pending/ (so a crash loses no finished cell) and appended once the
 * cells before it are in. */
struct run_output {
  char *dir;
  FILE *table[NTABLES]; /* NULL for a table this run does not write */
  const tsim_config *cfg;
  time_t start;
  int64_t *ids;      /* the run's cells, ascending */
  int64_t nids, next; /* ids[next] is the next cell the tables expect */
  char *parked;      /* parked[i]: ids[i] waits in pending/ */
};

/* The tables (enum output_table): name, header after "cell,", number of
 * double columns, how many of them (leading) are integers. */
typedef struct table_desc {
  const char *name, *header;
  int cols, int_cols;
} table_desc;
static const table_desc tables[NTABLES] = {
    [TABLE_CELLS] = {"cells", NULL, 0, 0},
    [TABLE_METRICS] = {"metrics", "t,train_loss,test_loss,pop_loss,dist,q9,grad_norm",
                       METRIC_COLS, 1},
    [TABLE_NEURONS] = {"neurons", "t,k,par,perp_norm,norm,comp_A,comp_B,comp_C,comp_D",
                       NEURON_COLS, 2},
    [TABLE_TEACHERS] = {"teachers", "t,teacher,best_cos,n_matched,energy", TEACHER_COLS, 2},
    [TABLE_SPECTRUM] = {"spectrum", "t,index,eigenvalue,overlap_v", SPECTRUM_COLS, 2},
    [TABLE_HESSIAN] = {"hessian",
                       "t,min_eig,max_eig,n_negative,restricted_min,q9_over_v2",
                       HESSIAN_COLS, 1},
};

const char *output_table_name(int table) { return tables[table].name; }
int output_table_cols(int table) { return tables[table].cols; }

int output_table_enabled(const tsim_config *cfg, int table) {
  switch (table) {
    case TABLE_NEURONS: return cfg->out_neurons;
    case TABLE_TEACHERS: return evolve_config_uses(cfg);
    case TABLE_SPECTRUM:
    case TABLE_HESSIAN: return spectrum_enabled(&cfg->base);
    default: return 1;
  }
}

/* Files of a finished run besides the tables. */
static const char *const other_files[] = {"manifest.json", "config.yaml", "pending"};
#define NOTHER_FILES 3

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
  for (int t = 0; t < NTABLES; ++t) {
    free(r->rows[t].v);
    r->rows[t] = (table_rows){0, 0, NULL};
  }
  free(r->W);
  r->W = NULL;
  r->nW = 0;
}

double *cell_result_row(cell_result *r, int table) {
  table_rows *t = &r->rows[table];
  const int cols = tables[table].cols;
  if (t->count == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 64;
    t->v = tsim_xrealloc(t->v, (size_t)(t->cap * cols) * sizeof(double));
  }
  return t->v + (t->count++) * cols;
}

void output_format_double(char *buf, size_t cap, double v) {
  if (isnan(v))
    buf[0] = '\0';
  else if (isinf(v))
    snprintf(buf, cap, "%s", v > 0 ? "inf" : "-inf");
  else
    snprintf(buf, cap, "%.17g", v + 0.0); /* + 0.0: no "-0" in the tables */
}

/* The shortest text that reads back to V, for parameters (0.05, not
 * 0.050000000000000003). */
static void put_shortest(FILE *f, double v) {
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    snprintf(buf, sizeof buf, "%.*g", prec, v + 0.0);
    if (strtod(buf, NULL) == v) break;
  }
  fputs(buf, f);
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

static FILE *open_in(const char *dir, const char *name, const char *mode,
                     tsim_error *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, mode);
  if (!f) tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
  return f;
}

static int is_fixed_column(const char *column) {
  static const char *fixed[] = {"K", "seed", "eta", "C", "n", "d"};
  for (int i = 0; i < 6; ++i)
    if (!strcmp(column, fixed[i])) return 1;
  return 0;
}

static int remove_pending(const char *dir, tsim_error *err);

static void pending_path(const run_output *o, int64_t cell, int table,
                         char *buf, size_t cap) {
  snprintf(buf, cap, "%s/pending/%lld.%s.csv", o->dir, (long long)cell,
           tables[table].name);
}

static void write_headers(run_output *o, const tsim_config *cfg) {
  FILE *cells = o->table[TABLE_CELLS];
  fprintf(cells, "cell,K,seed,eta,C,n,d");
  for (int a = 0; a < cfg->naxes; ++a)
    if (!is_fixed_column(cfg->axes[a].column))
      fprintf(cells, ",%s", cfg->axes[a].column);
  fprintf(cells,
          ",status,iterations,t_q9_positive,t_lemma1,t_gamma,t_gamma_bound,"
          "final_train_loss,final_test_loss,final_dist,wall_s\n");
  for (int t = 1; t < NTABLES; ++t)
    if (o->table[t]) fprintf(o->table[t], "cell,%s\n", tables[t].header);
}

static void close_tables(run_output *o) {
  for (int t = 0; t < NTABLES; ++t)
    if (o->table[t]) fclose(o->table[t]);
}

/* Shared by a new run and a resumed one: the state, config.yaml, tables
 * opened with MODE ("w" new, "a" resumed). */
static int open_tables(const tsim_config *cfg, const char *outdir,
                       const int64_t *ids, int64_t nids, const char *mode,
                       run_output **out, tsim_error *err) {
  TSIM_TRY(mkdir_p(outdir, err));
  run_output *o = tsim_xcalloc(1, sizeof *o);
  o->dir = tsim_xstrdup(outdir);
  o->cfg = cfg;
  o->start = time(NULL);
  o->nids = nids;
  o->ids = tsim_xmalloc((size_t)(nids ? nids : 1) * sizeof(int64_t));
  memcpy(o->ids, ids, (size_t)nids * sizeof(int64_t));
  o->parked = tsim_xcalloc((size_t)(nids ? nids : 1), 1);
  FILE *yaml = open_in(outdir, "config.yaml", "w", err);
  if (!yaml) goto fail;
  config_write_yaml(cfg, yaml);
  if (fclose(yaml)) {
    tsim_fail(err, TSIM_EFAIL, "%s/config.yaml: write failed", outdir);
    goto fail;
  }
  for (int t = 0; t < NTABLES; ++t) {
    if (!output_table_enabled(cfg, t)) continue;
    char name[64];
    snprintf(name, sizeof name, "%s.csv", tables[t].name);
    if (!(o->table[t] = open_in(outdir, name, mode, err))) goto fail;
  }
  *out = o;
  return TSIM_OK;
fail:
  close_tables(o);
  free(o->ids);
  free(o->parked);
  free(o->dir);
  free(o);
  return err->code;
}

int output_open(const tsim_config *cfg, const char *outdir, int force,
                const int64_t *ids, int64_t nids, run_output **out,
                tsim_error *err) {
  *out = NULL;
  struct stat st;
  for (int i = 0; i < NTABLES + NOTHER_FILES; ++i) {
    char path[4200];
    if (i < NTABLES)
      snprintf(path, sizeof path, "%s/%s.csv", outdir, tables[i].name);
    else
      snprintf(path, sizeof path, "%s/%s", outdir, other_files[i - NTABLES]);
    if (stat(path, &st) != 0) continue;
    if (!force)
      return tsim_fail(err, TSIM_EINPUT,
                       "%s: holds the results of an earlier run (%s); use "
                       "--force to replace them, --resume to continue them, or -o "
                       "to choose another directory",
                       outdir, strrchr(path, '/') + 1);
    if (S_ISDIR(st.st_mode)) {
      TSIM_TRY(remove_pending(path, err));
    } else if (unlink(path))
      return tsim_fail(err, TSIM_EFAIL, "%s: cannot remove: %s", path,
                       strerror(errno));
  }
  TSIM_TRY(open_tables(cfg, outdir, ids, nids, "w", out, err));
  write_headers(*out, cfg);
  return TSIM_OK;
}

/* A cell the checkpoint saw parked may have reached the tables since (and
 * its fragments gone from pending/): before the tables are cut back, copy
 * its rows from past the cut into pending/ again. */
static int recover_parked(const char *outdir, int table, const char *path,
                          int64_t keep_bytes, const int64_t *ids, int64_t nids,
                          const unsigned char *done, int64_t written,
                          tsim_error *err) {
  FILE *in = fopen(path, "r");
  if (!in) return tsim_fail(err, TSIM_EINPUT, "%s: cannot read: %s", path, strerror(errno));
  if (fseeko(in, (off_t)keep_bytes, SEEK_SET)) {
    fclose(in);
    return tsim_fail(err, TSIM_EINPUT, "%s: shorter than its checkpoint says", path);
  }
  char *line = NULL, frag[4400], dir[4300];
  size_t cap = 0;
  long long current = -1;
  FILE *out = NULL;
  int rc = TSIM_OK;
  snprintf(dir, sizeof dir, "%s/pending", outdir);
  while (!rc && getline(&line, &cap, in) > 0) {
    const long long cell = strtoll(line, NULL, 10);
    if (cell != current) {
      if (out) fclose(out);
      out = NULL;
      current = cell;
      int64_t lo = 0, hi = nids; /* position of the cell among the run's */
      while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (ids[mid] < cell) lo = mid + 1; else hi = mid;
      }
      if (lo < nids && ids[lo] == cell && lo >= written && done[cell]) {
        snprintf(frag, sizeof frag, "%s/%lld.%s.csv", dir, cell, tables[table].name);
        if (access(frag, F_OK)) {
          mkdir(dir, 0777);
          if (!(out = fopen(frag, "w")))
            rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", frag, strerror(errno));
        }
      }
    }
    if (out && fputs(line, out) == EOF)
      rc = tsim_fail(err, TSIM_EFAIL, "%s: write failed: %s", frag, strerror(errno));
  }
  if (out && fclose(out) && !rc)
    rc = tsim_fail(err, TSIM_EFAIL, "%s: write failed: %s", frag, strerror(errno));
  free(line);
  fclose(in);
  return rc;
}

int output_resume(const tsim_config *cfg, const char *outdir,
                  const int64_t *ids, int64_t nids, const unsigned char *done,
                  int64_t written, const int64_t table_bytes[NTABLES],
                  run_output **out, tsim_error *err) {
  *out = NULL;
  char path[4400];
  for (int t = 0; t < NTABLES; ++t) { /* drop rows written after the checkpoint */
    if (!output_table_enabled(cfg, t)) continue;
    snprintf(path, sizeof path, "%s/%s.csv", outdir, tables[t].name);
    TSIM_TRY(recover_parked(outdir, t, path, table_bytes[t], ids, nids, done, written, err));
    if (truncate(path, (off_t)table_bytes[t]))
      return tsim_fail(err, TSIM_EINPUT, "%s: cannot cut back to the checkpoint: %s",
                       path, strerror(errno));
  }
  TSIM_TRY(open_tables(cfg, outdir, ids, nids, "a", out, err));
  run_output *o = *out;
  o->next = written;
  /* finished cells past the tables wait in pending/; anything else there
   * was written after the checkpoint and goes */
  for (int64_t i = 0; i < nids; ++i) {
    const int keep = i >= written && done[ids[i]];
    for (int t = 0; t < NTABLES; ++t) {
      pending_path(o, ids[i], t, path, sizeof path);
      if (keep && o->table[t] && access(path, R_OK))
        return tsim_fail(err, TSIM_EINPUT, "%s: missing, but the checkpoint counts cell %lld as done",
                         path, (long long)ids[i]);
      if (!keep) unlink(path);
    }
    o->parked[i] = (unsigned char)keep;
  }
  return TSIM_OK;
}

int output_tables_state(run_output *o, int64_t *written, int64_t table_bytes[NTABLES],
                        tsim_error *err) {
  FILE **files = o->table;
  for (int t = 0; t < NTABLES; ++t) {
    table_bytes[t] = 0;
    if (!files[t]) continue;
    if (fflush(files[t]))
      return tsim_fail(err, TSIM_EFAIL, "%s/%s.csv: write failed: %s", o->dir,
                       tables[t].name, strerror(errno));
    if (fsync(fileno(files[t])))
      return tsim_fail(err, TSIM_EFAIL, "%s/%s.csv: fsync failed: %s", o->dir,
                       tables[t].name, strerror(errno));
    table_bytes[t] = (int64_t)ftello(files[t]);
  }
  *written = o->next;
  return TSIM_OK;
}

static int remove_pending(const char *dir, tsim_error *err) {
  char path[4608];
  DIR *d = opendir(dir);
  if (!d) return tsim_fail(err, TSIM_EFAIL, "%s: cannot list: %s", dir, strerror(errno));
  struct dirent *e;
  int rc = TSIM_OK;
  while ((e = readdir(d)) && !rc) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (unlink(path))
      rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot remove: %s", path, strerror(errno));
  }
  closedir(d);
  if (!rc && rmdir(dir))
    rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot remove: %s", dir, strerror(errno));
  return rc;
}

/* The cell's row in cells.csv and its rows of every other table in FILES
 * (NULL: that table is not written) as CSV text. */
static void format_cell(const tsim_config *cfg, const cell_result *r, FILE *const *files) {
  FILE *cells = files[TABLE_CELLS];
  tsim_params p;
  config_cell(cfg, r->cell, &p);
  FILE *f = cells;
  fprintf(f, "%lld,%lld,%llu,", (long long)r->cell, (long long)p.K,
          (unsigned long long)p.init_seed);
  put_shortest(f, p.eta);
  fputc(',', f);
  put_shortest(f, p.C);
  fprintf(f, ",%lld,%lld", (long long)p.n, (long long)p.d);
  for (int a = 0; a < cfg->naxes; ++a) {
    if (is_fixed_column(cfg->axes[a].column)) continue;
    int64_t stride = 1;
    for (int b = cfg->naxes - 1; b > a; --b) stride *= cfg->axes[b].count;
    fprintf(f, ",%s", cfg->axes[a].values[(r->cell / stride) % cfg->axes[a].count]);
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
  for (int t = 1; t < NTABLES; ++t) {
    FILE *out = files[t];
    const int cols = tables[t].cols;
    for (int64_t i = 0; out && i < r->rows[t].count; ++i) {
      const double *row = r->rows[t].v + i * cols;
      fprintf(out, "%lld", (long long)r->cell);
      for (int c = 0; c < cols; ++c) {
        fputc(',', out);
        /* integer columns hold whole numbers, but a gradient flow's t is a
         * time: written as a double when it is not a whole number */
        if (c < tables[t].int_cols && row[c] == floor(row[c]) && fabs(row[c]) < 9e15)
          fprintf(out, "%lld", (long long)row[c]);
        else
          put_double(out, row[c]);
      }
      fputc('\n', out);
    }
  }
}

/* Append a parked cell's fragments to the tables; the caller removes them
 * (remove_parked) once the tables are flushed, so a failing write (full
 * disk) leaves them for the resume. */
static int unpark(run_output *o, int64_t cell, tsim_error *err) {
  char path[4400], buf[65536];
  for (int t = 0; t < NTABLES; ++t) {
    if (!o->table[t]) continue;
    pending_path(o, cell, t, path, sizeof path);
    FILE *in = fopen(path, "r");
    if (!in)
      return tsim_fail(err, TSIM_EFAIL, "%s: cannot read: %s", path, strerror(errno));
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, got, o->table[t]);
    fclose(in);
  }
  return TSIM_OK;
}

static void remove_parked(run_output *o, int64_t cell) {
  char path[4400];
  for (int t = 0; t < NTABLES; ++t) {
    pending_path(o, cell, t, path, sizeof path);
    unlink(path);
  }
}

static int64_t position_of(const run_output *o, int64_t cell) {
  int64_t lo = 0, hi = o->nids;
  while (lo < hi) {
    int64_t mid = (lo + hi) / 2;
    if (o->ids[mid] < cell) lo = mid + 1; else hi = mid;
  }
  return lo < o->nids && o->ids[lo] == cell ? lo : -1;
}

int output_write_cell(run_output *o, const tsim_config *cfg,
                      const cell_result *r, tsim_error *err) {
  const int64_t pos = position_of(o, r->cell);
  if (pos < 0 || pos < o->next || o->parked[pos])
    return tsim_fail(err, TSIM_EFAIL, "internal: cell %lld delivered twice or not in this run",
                     (long long)r->cell);
  if (pos > o->next) { /* park it until the cells before it are in */
    char path[4400], dir[4200];
    snprintf(dir, sizeof dir, "%s/pending", o->dir);
    if (mkdir(dir, 0777) && errno != EEXIST)
      return tsim_fail(err, TSIM_EFAIL, "%s: cannot create: %s", dir, strerror(errno));
    FILE *f[NTABLES] = {NULL};
    int rc = TSIM_OK;
    for (int t = 0; t < NTABLES && !rc; ++t) {
      if (!o->table[t]) continue;
      pending_path(o, r->cell, t, path, sizeof path);
      if (!(f[t] = fopen(path, "w")))
        rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
    }
    if (!rc) format_cell(cfg, r, f);
    for (int t = 0; t < NTABLES; ++t)
      if (f[t] && fclose(f[t]) && !rc)
        rc = tsim_fail(err, TSIM_EFAIL, "%s/pending: write failed: %s", o->dir,
                       strerror(errno));
    o->parked[pos] = 1;
    return rc;
  }
  format_cell(cfg, r, o->table);
  o->next += 1;
  const int64_t first_unparked = o->next;
  while (o->next < o->nids && o->parked[o->next]) {
    TSIM_TRY(unpark(o, o->ids[o->next], err));
    o->parked[o->next] = 0;
    o->next += 1;
  }
  for (int t = 0; t < NTABLES; ++t)
    if (o->table[t] && (fflush(o->table[t]) || ferror(o->table[t])))
      return tsim_fail(err, TSIM_EFAIL, "%s: writing results failed: %s",
                       o->dir, strerror(errno));
  for (int64_t p = first_unparked; p < o->next; ++p) remove_parked(o, o->ids[p]);
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
  for (int t = 0; t < NTABLES; ++t)
    if (o->table[t] && fclose(o->table[t]) && !rc)
      rc = tsim_fail(err, TSIM_EFAIL, "%s: closing results failed: %s", o->dir,
                     strerror(errno));
  FILE *m = open_in(o->dir, "manifest.json", "w", err);
  if (!m) {
    rc = err->code;
  } else {
    char start[32], end[32], libm[64];
    iso_time(o->start, start, sizeof start);
    iso_time(time(NULL), end, sizeof end);
    fprintf(m,
            "{\n  \"tsim_version\": \"%s\",\n  \"git_commit\": \"%s\",\n"
            "  \"compiler\": \"%s\",\n  \"cflags\": \"%s\",\n"
            "  \"start\": \"%s\",\n  \"end\": \"%s\",\n"
            "  \"config_hash\": \"%016llx\",\n"
            "  \"libm\": \"%s\",\n  \"fused_vector_width\": %d,\n",
            TSIM_VERSION, TSIM_GIT_COMMIT, TSIM_COMPILER, TSIM_CFLAGS, start,
            end, (unsigned long long)config_hash(o->cfg), libm_name(libm, sizeof libm),
            fused_vector_width());
    if (manifest_extra && *manifest_extra) fprintf(m, "%s,\n", manifest_extra);
    fprintf(m, "  \"config\": ");
    config_write_json(o->cfg, m, 2);
    fprintf(m, "\n}\n");
    if (fclose(m) && !rc)
      rc = tsim_fail(err, TSIM_EFAIL, "%s/manifest.json: write failed", o->dir);
  }
  if (!rc && o->next == o->nids) { /* every cell is in the tables */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/pending", o->dir);
    rmdir(dir);
  }
  free(o->ids);
  free(o->parked);
  free(o->dir);
  free(o);
  *op = NULL;
  return rc;
}

/* A cell result as one message: PACK_INTS int64 header words (cell,
 * status, iterations, three events, nW, then the row count of every table),
 * PACK_REALS doubles, every table's rows in table order, then W. */
#define PACK_FIXED_INTS 7
#define PACK_INTS (PACK_FIXED_INTS + NTABLES)
#define PACK_REALS 5
void cell_result_copy(const cell_result *from, cell_result *res) {
  void *buf = NULL;
  size_t cap = 0;
  const size_t len = cell_result_pack(from, &buf, &cap);
  cell_result_unpack(buf, len, res);
  free(buf);
}

size_t cell_result_pack(const cell_result *r, void **buf, size_t *cap) {
  size_t values = (size_t)r->nW;
  for (int t = 0; t < NTABLES; ++t) values += (size_t)(r->rows[t].count * tables[t].cols);
  const size_t bytes = PACK_INTS * sizeof(int64_t) + (PACK_REALS + values) * sizeof(double);
  if (*cap < bytes) {
    *buf = tsim_xrealloc(*buf, bytes);
    *cap = bytes;
  }
  int64_t h[PACK_INTS] = {r->cell, r->status, r->iterations, r->t_q9_positive,
                          r->t_lemma1, r->t_gamma, r->nW};
  for (int t = 0; t < NTABLES; ++t) h[PACK_FIXED_INTS + t] = r->rows[t].count;
  const double hd[PACK_REALS] = {r->t_gamma_bound, r->final_train_loss,
                                 r->final_test_loss, r->final_dist, r->wall_s};
  char *at = *buf;
  memcpy(at, h, sizeof h);
  at += sizeof h;
  memcpy(at, hd, sizeof hd);
  at += sizeof hd;
  for (int t = 0; t < NTABLES; ++t) {
    const size_t n = (size_t)(r->rows[t].count * tables[t].cols) * sizeof(double);
    if (n) memcpy(at, r->rows[t].v, n);
    at += n;
  }
  if (r->nW) memcpy(at, r->W, (size_t)r->nW * sizeof(double));
  return bytes;
}

int cell_result_unpack(const void *buf, size_t len, cell_result *r) {
  /* BUF may sit at any offset of a checkpoint file or message buffer, so
   * everything is copied out rather than loaded in place (alignment). */
  int64_t h[PACK_INTS];
  double hd[PACK_REALS];
  if (len < sizeof h + sizeof hd) return TSIM_EFAIL;
  memcpy(h, buf, sizeof h);
  memcpy(hd, (const char *)buf + sizeof h, sizeof hd);
  cell_result_init(r, h[0]);
  const int64_t nW = h[6];
  size_t values = (size_t)nW;
  if (nW < 0) return TSIM_EFAIL;
  for (int t = 0; t < NTABLES; ++t) {
    if (h[PACK_FIXED_INTS + t] < 0) return TSIM_EFAIL;
    values += (size_t)(h[PACK_FIXED_INTS + t] * tables[t].cols);
  }
  if (len != sizeof h + sizeof hd + values * sizeof(double)) return TSIM_EFAIL;
  r->status = (int)h[1];
  r->iterations = h[2];
  r->t_q9_positive = h[3];
  r->t_lemma1 = h[4];
  r->t_gamma = h[5];
  r->t_gamma_bound = hd[0];
  r->final_train_loss = hd[1];
  r->final_test_loss = hd[2];
  r->final_dist = hd[3];
  r->wall_s = hd[4];
  const char *at = (const char *)buf + sizeof h + sizeof hd;
  for (int t = 0; t < NTABLES; ++t) {
    const int64_t count = h[PACK_FIXED_INTS + t];
    const size_t n = (size_t)(count * tables[t].cols) * sizeof(double);
    r->rows[t].count = r->rows[t].cap = count;
    r->rows[t].v = tsim_xmalloc(n + sizeof(double));
    if (n) memcpy(r->rows[t].v, at, n);
    at += n;
  }
  r->nW = nW;
  r->W = tsim_xmalloc((size_t)(nW + 1) * sizeof(double));
  if (nW) memcpy(r->W, at, (size_t)nW * sizeof(double));
  return TSIM_OK;
}

/* Mark in MARK (by cell id) the cells whose cells.csv row, in the table or
 * in pending/, has status STATUS. */
static void mark_rows(FILE *in, int status_col, const char *status, int64_t ncells,
                      unsigned char *mark) {
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, in) > 0) {
    const long long cell = strtoll(line, NULL, 10);
    const char *field = line;
    for (int c = 0; c < status_col && field; ++c) {
      field = strchr(field, ',');
      if (field) ++field;
    }
    if (field && cell >= 0 && cell < ncells && !strncmp(field, status, strlen(status)) &&
        field[strlen(status)] == ',')
      mark[cell] = 1;
  }
  free(line);
}

int output_mark_status(const char *outdir, const char *status, int64_t ncells,
                       unsigned char *mark, tsim_error *err) {
  char path[4400];
  snprintf(path, sizeof path, "%s/cells.csv", outdir);
  FILE *in = fopen(path, "r");
  if (!in) return tsim_fail(err, TSIM_EINPUT, "%s: cannot read: %s", path, strerror(errno));
  char *header = NULL;
  size_t cap = 0;
  int col = -1;
  if (getline(&header, &cap, in) > 0) {
    int c = 0;
    for (char *tok = strtok(header, ",\n"); tok; tok = strtok(NULL, ",\n"), ++c)
      if (!strcmp(tok, "status")) col = c;
  }
  free(header);
  if (col < 0) {
    fclose(in);
    return tsim_fail(err, TSIM_EINPUT, "%s: no status column", path);
  }
  mark_rows(in, col, status, ncells, mark);
  fclose(in);
  snprintf(path, sizeof path, "%s/pending", outdir);
  DIR *d = opendir(path);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (!strstr(e->d_name, ".cells.csv")) continue;
    char frag[4700];
    snprintf(frag, sizeof frag, "%s/%s", path, e->d_name);
    FILE *f = fopen(frag, "r");
    if (f) {
      mark_rows(f, col, status, ncells, mark);
      fclose(f);
    }
  }
  if (d) closedir(d);
  return TSIM_OK;
}

int64_t output_table_offset(const char *outdir, int table, int64_t first_cell) {
  char path[4400];
  snprintf(path, sizeof path, "%s/%s.csv", outdir, tables[table].name);
  FILE *in = fopen(path, "r");
  if (!in) return -1;
  char *line = NULL;
  size_t cap = 0;
  int64_t at = 0;
  ssize_t n = getline(&line, &cap, in); /* header */
  if (n > 0) at = n;
  while ((n = getline(&line, &cap, in)) > 0) {
    if (strtoll(line, NULL, 10) >= first_cell) break;
    at += n;
  }
  free(line);
  fclose(in);
  return at;
}
