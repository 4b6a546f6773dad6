/* output.c - the run directory's files (see output.h). Only rank 0 calls
 * these. Each finished cell is flushed at once, its cells.csv row after its
 * other rows, so a crash loses no finished cell: a resume (resume.c) takes
 * every cell whose rows are whole. */
#define _POSIX_C_SOURCE 200809L
#include "tsim/output.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tsim/cellkind.h"
#include "tsim/data.h"
#include "tsim/fused.h"
#include "tsim/npy.h"
#include "tsim/schedule.h"
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

/* Cells are written to the tables in increasing id order. A cell that
 * finishes before a lower id is parked as CSV fragments in OUTDIR/pending/
 * (so a crash loses no finished cell) and appended once the cells before it
 * are in. A fragment's name carries the config hash:
 * pending/CELL.HASH.TABLE.csv. */
struct run_output {
  char *dir;
  FILE *table[NTABLES]; /* NULL for a table this run does not write */
  const tsim_config *cfg;
  uint64_t hash;     /* config_hash: stamps the fragments */
  time_t start;
  int64_t *ids;      /* the run's cells, ascending */
  int64_t nids, next; /* ids[next] is the next cell the tables expect */
  char *parked;      /* parked[i]: ids[i] waits in pending/ */
  int failed;        /* a write failed: nothing more goes to the tables */
};

/* The tables (enum result_table): name, header after "cell,", how many of
 * the columns (leading) are integers, whether every finished cell has rows
 * in it. */
typedef struct table_desc {
  const char *name, *header;
  int int_cols, every_cell;
} table_desc;
static const table_desc tables[NTABLES] = {
    [TABLE_CELLS] = {"cells", NULL, 0, 1},
    [TABLE_METRICS] = {"metrics", "t,train_loss,test_loss,pop_loss,dist,q9,grad_norm", 1, 1},
    [TABLE_NEURONS] = {"neurons", "t,k,par,perp_norm,norm,comp_A,comp_B,comp_C,comp_D", 2, 1},
    [TABLE_TEACHERS] = {"teachers", "t,teacher,best_cos,n_matched,energy", 2, 0},
    [TABLE_SPECTRUM] = {"spectrum", "t,index,eigenvalue,overlap_v", 2, 0},
    [TABLE_HESSIAN] = {"hessian", "t,min_eig,max_eig,n_negative,restricted_min,q9_over_v2", 1,
                       0},
};

const char *output_table_name(int table) { return tables[table].name; }
int output_table_every_cell(int table) { return tables[table].every_cell; }

/* Is a cell of CFG of the model family, with a teacher? (teachers.csv is
 * written then.) */
static int family_in(const tsim_config *cfg) {
  for (int64_t id = 0; id < cfg->ncells; ++id) {
    tsim_params p;
    config_cell(cfg, id, &p);
    if (cellkind_family(&p) && !cellkind_no_teacher(&p)) return 1;
  }
  return 0;
}

int output_table_enabled(const tsim_config *cfg, int table) {
  switch (table) {
    case TABLE_NEURONS: return cfg->out_neurons;
    case TABLE_TEACHERS: return family_in(cfg);
    case TABLE_SPECTRUM:
    case TABLE_HESSIAN: return schedule_spectra(&cfg->base);
    default: return 1;
  }
}

/* Files of a finished run besides the tables. */
static const char *const other_files[] = {"manifest.json", "config.yaml", "pending",
                                          "manifest.json.tmp", "config.yaml.tmp",
                                          "cells.selection", "weights"};
#define NOTHER_FILES 7

const char *output_status_name(int status) {
  switch (status) {
    case CELL_CONVERGED: return "converged";
    case CELL_MAX_ITERATIONS: return "max_iterations";
    case CELL_DIVERGED: return "diverged";
    case CELL_REACHED_T: return "reached_T";
    case CELL_EVALUATED: return "evaluated";
    default: return "pending";
  }
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

/* An event's t: the iteration, or for a gradient flow (P) the time of the
 * logged point T, written as metrics.csv writes it; nothing if it never
 * happened. */
static void put_event(FILE *f, const tsim_params *p, int64_t t) {
  if (t < 0) return;
  if (p->method != METHOD_FLOW) {
    fprintf(f, "%lld", (long long)t);
    return;
  }
  int last;
  const double time = schedule_flow_time(p, t, &last);
  if (time == floor(time) && fabs(time) < 9e15)
    fprintf(f, "%lld", (long long)time);
  else
    put_double(f, time);
}

static int remove_pending(const char *dir, tsim_error *err);

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

/* ------------------------------------------------------ writing files */

int output_fsync_dir(const char *dir, tsim_error *err) {
  const int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return tsim_fail(err, TSIM_EFAIL, "%s: cannot open: %s", dir, strerror(errno));
  const int rc = fsync(fd) ? tsim_fail(err, TSIM_EFAIL, "%s: fsync failed: %s", dir,
                                       strerror(errno))
                           : TSIM_OK;
  close(fd);
  return rc;
}

/* Flush F, the file PATH, and fsync it if SYNC. A failed write (a full
 * disk) is an error naming the file. */
int output_flush_file(FILE *f, const char *path, int sync, tsim_error *err) {
  if (fflush(f) || ferror(f))
    return tsim_fail(err, TSIM_EFAIL, "%s: write failed: %s", path,
                     strerror(errno ? errno : EIO));
  if (sync && fsync(fileno(f)))
    return tsim_fail(err, TSIM_EFAIL, "%s: fsync failed: %s", path, strerror(errno));
  return TSIM_OK;
}

/* F was written to TMP: sync and close it, then rename it to PATH. On
 * failure TMP goes and PATH is untouched. */
int output_commit_file(FILE *f, const char *tmp, const char *path, tsim_error *err) {
  int rc = output_flush_file(f, path, 1, err);
  if (fclose(f) && !rc)
    rc = tsim_fail(err, TSIM_EFAIL, "%s: write failed: %s", path, strerror(errno));
  if (!rc && rename(tmp, path))
    rc = tsim_fail(err, TSIM_EFAIL, "%s: rename failed: %s", path, strerror(errno));
  if (rc) unlink(tmp);
  return rc;
}

void output_table_path(const char *dir, int table, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/%s.csv", dir, tables[table].name);
}

/* pending/CELL.HASH.TABLE.EXT: EXT "csv", or "tmp" while it is written. */
void output_fragment_path(const char *dir, int64_t cell, uint64_t hash, int table,
                          const char *ext, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/pending/%lld.%016llx.%s.%s", dir, (long long)cell,
           (unsigned long long)hash, tables[table].name, ext);
}

/* A fragment's file NAME: its cell, hash and table; 0 if it is not one. */
int output_parse_fragment(const char *name, int64_t *cell, uint64_t *hash, int *table) {
  char *end;
  if (*name < '0' || *name > '9') return 0;
  *cell = strtoll(name, &end, 10);
  if (*end != '.') return 0;
  const char *h = end + 1;
  for (int i = 0; i < 16; ++i)
    if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f'))) return 0;
  if (h[16] != '.') return 0;
  *hash = strtoull(h, NULL, 16);
  for (int t = 0; t < NTABLES; ++t) {
    const size_t n = strlen(tables[t].name);
    if (!strncmp(h + 17, tables[t].name, n) && !strcmp(h + 17 + n, ".csv")) {
      *table = t;
      return 1;
    }
  }
  return 0;
}

/* ------------------------------------------------------------ the rows */

static int is_fixed_column(const char *column) {
  static const char *fixed[] = {"K", "seed", "eta", "C", "n", "d"};
  for (int i = 0; i < 6; ++i)
    if (!strcmp(column, fixed[i])) return 1;
  return 0;
}

void output_put_header(const tsim_config *cfg, int table, FILE *f) {
  if (table != TABLE_CELLS) {
    const int penalty = table == TABLE_METRICS && cfg->penalty_column;
    fprintf(f, "cell,%s%s\n", tables[table].header, penalty ? ",penalty" : "");
    return;
  }
  fprintf(f, "cell,K,seed,eta,C,n,d");
  for (int a = 0; a < cfg->naxes; ++a)
    if (!is_fixed_column(cfg->axes[a].column)) fprintf(f, ",%s", cfg->axes[a].column);
  fprintf(f,
          ",status,iterations,t_q9_positive,t_lemma1,t_gamma,t_gamma_bound,"
          "final_train_loss,final_test_loss,final_dist,wall_s\n");
}

/* The columns of a cells.csv row that the config fixes: cell, K, seed, eta,
 * C, n, d and the other axes' values; empty where the cell does not read
 * the key (cellkind_unread: eta of a gradient flow, n of the population
 * regime, ...). */
void output_put_cell_params(const tsim_config *cfg, int64_t cell, FILE *f) {
  tsim_params p;
  config_cell(cfg, cell, &p);
  fprintf(f, "%lld,%lld,", (long long)cell, (long long)p.K);
  if (!cellkind_unread(&p, "init.seed")) fprintf(f, "%llu", (unsigned long long)p.init_seed);
  fputc(',', f);
  if (!cellkind_unread(&p, "train.eta")) put_shortest(f, p.eta);
  fputc(',', f);
  put_shortest(f, p.C);
  fputc(',', f);
  if (!cellkind_unread(&p, "data.n")) fprintf(f, "%lld", (long long)p.n);
  fprintf(f, ",%lld", (long long)p.d);
  for (int a = 0; a < cfg->naxes; ++a) {
    if (is_fixed_column(cfg->axes[a].column)) continue;
    int64_t stride = 1;
    for (int b = cfg->naxes - 1; b > a; --b) stride *= cfg->axes[b].count;
    fputc(',', f);
    if (!cellkind_unread(&p, cfg->axes[a].key))
      fputs(cfg->axes[a].values[(cell / stride) % cfg->axes[a].count], f);
  }
}

/* The cell's row of cells.csv: a gradient flow counts no iterations (its
 * last time is metrics.csv's last t) and its events are times. */
static void format_summary(const tsim_config *cfg, const cell_result *r, FILE *f) {
  tsim_params p;
  config_cell(cfg, r->cell, &p);
  output_put_cell_params(cfg, r->cell, f);
  fprintf(f, ",%s,", output_status_name(r->status));
  if (p.method != METHOD_FLOW) fprintf(f, "%lld", (long long)r->iterations);
  fputc(',', f);
  put_event(f, &p, r->t_q9_positive);
  fputc(',', f);
  put_event(f, &p, r->t_lemma1);
  fputc(',', f);
  put_event(f, &p, r->t_gamma);
  fputc(',', f);
  put_double(f, r->t_gamma_bound);
  fputc(',', f);
  put_double(f, r->final_train_loss);
  fputc(',', f);
  put_double(f, r->final_test_loss);
  fputc(',', f);
  put_double(f, r->final_dist);
  fprintf(f, ",%.3f\n", r->wall_s);
}

int output_table_cols(const tsim_config *cfg, int table) {
  return result_table_cols(table) + (table == TABLE_METRICS && cfg->penalty_column);
}

/* The cell's rows of TABLE (not cells.csv); metrics rows end with their
 * penalty when the cell has them (penalty_column). */
static void format_rows(const cell_result *r, int table, FILE *out) {
  const int cols = result_table_cols(table);
  const int penalty = table == TABLE_METRICS && r->penalty.count == r->rows[table].count &&
                      r->penalty.count > 0;
  for (int64_t i = 0; i < r->rows[table].count; ++i) {
    const double *row = r->rows[table].v + i * cols;
    fprintf(out, "%lld", (long long)r->cell);
    for (int c = 0; c < cols; ++c) {
      fputc(',', out);
      /* integer columns hold whole numbers, but a gradient flow's t is a
       * time: written as a double when it is not a whole number */
      if (c < tables[table].int_cols && row[c] == floor(row[c]) && fabs(row[c]) < 9e15)
        fprintf(out, "%lld", (long long)row[c]);
      else
        put_double(out, row[c]);
    }
    if (penalty) {
      fputc(',', out);
      put_double(out, r->penalty.v[i]);
    }
    fputc('\n', out);
  }
}

/* ------------------------------------------------ opening the directory */

/* config.yaml, synced; left alone when it already says the same. */
static int write_config_yaml(const tsim_config *cfg, const char *outdir, tsim_error *err) {
  char path[4200], tmp[4300], *text = NULL, *old = NULL;
  size_t len = 0, old_len = 0;
  FILE *m = open_memstream(&text, &len);
  config_write_yaml(cfg, m);
  fclose(m);
  snprintf(path, sizeof path, "%s/config.yaml", outdir);
  snprintf(tmp, sizeof tmp, "%s/config.yaml.tmp", outdir);
  FILE *in = fopen(path, "r");
  if (in) {
    old = tsim_xmalloc(len + 2);
    old_len = fread(old, 1, len + 1, in);
    fclose(in);
  }
  int rc = TSIM_OK;
  if (!in || old_len != len || memcmp(old, text, len)) {
    FILE *f = fopen(tmp, "w");
    if (!f) {
      rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
    } else {
      fwrite(text, 1, len, f);
      rc = output_commit_file(f, tmp, path, err);
    }
  }
  free(old);
  free(text);
  return rc;
}

static void close_tables(run_output *o) {
  for (int t = 0; t < NTABLES; ++t)
    if (o->table[t]) fclose(o->table[t]);
}

/* Shared by a new run and a resumed one: the state, config.yaml, tables
 * opened for appending; an empty one gets its header. Everything is synced
 * before the first cell runs. */
static int open_tables(const tsim_config *cfg, const char *outdir,
                       const int64_t *ids, int64_t nids, run_output **out, tsim_error *err) {
  TSIM_TRY(mkdir_p(outdir, err));
  run_output *o = tsim_xcalloc(1, sizeof *o);
  o->dir = tsim_xstrdup(outdir);
  o->cfg = cfg;
  o->hash = config_hash(cfg);
  o->start = time(NULL);
  o->nids = nids;
  o->ids = tsim_xmalloc((size_t)(nids ? nids : 1) * sizeof(int64_t));
  memcpy(o->ids, ids, (size_t)nids * sizeof(int64_t));
  o->parked = tsim_xcalloc((size_t)(nids ? nids : 1), 1);
  if (write_config_yaml(cfg, outdir, err)) goto fail;
  for (int t = 0; t < NTABLES; ++t) {
    if (!output_table_enabled(cfg, t)) continue;
    char path[4400];
    output_table_path(outdir, t, path, sizeof path);
    struct stat st;
    if (!(o->table[t] = fopen(path, "a")) || fstat(fileno(o->table[t]), &st)) {
      tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
      goto fail;
    }
    if (st.st_size == 0) output_put_header(cfg, t, o->table[t]);
    if (output_flush_file(o->table[t], path, 1, err)) goto fail;
  }
  if (output_fsync_dir(outdir, err)) goto fail;
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
  return open_tables(cfg, outdir, ids, nids, out, err);
}

int output_reopen(const tsim_config *cfg, const char *outdir, const int64_t *ids, int64_t nids,
                  const unsigned char *done, int64_t written, run_output **out,
                  tsim_error *err) {
  *out = NULL;
  TSIM_TRY(open_tables(cfg, outdir, ids, nids, out, err));
  run_output *o = *out;
  o->next = written;
  for (int64_t i = written; i < nids; ++i) o->parked[i] = done[ids[i]];
  return TSIM_OK;
}

int output_tables_state(run_output *o, int64_t *written, int64_t table_bytes[NTABLES],
                        tsim_error *err) {
  char path[4400];
  for (int t = 0; t < NTABLES; ++t) {
    table_bytes[t] = 0;
    if (!o->table[t]) continue;
    output_table_path(o->dir, t, path, sizeof path);
    TSIM_TRY(output_flush_file(o->table[t], path, 1, err));
    table_bytes[t] = (int64_t)ftello(o->table[t]);
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

/* ------------------------------------------------------ writing a cell */

/* R finished before the cells ahead of it: its fragments, each written to
 * a temporary file, synced and renamed into place, cells.csv's last. */
static int park(run_output *o, const tsim_config *cfg, const cell_result *r, tsim_error *err) {
  char dir[4300], tmp[4400], path[4400];
  snprintf(dir, sizeof dir, "%s/pending", o->dir);
  if (!mkdir(dir, 0777))
    TSIM_TRY(output_fsync_dir(o->dir, err));
  else if (errno != EEXIST)
    return tsim_fail(err, TSIM_EFAIL, "%s: cannot create: %s", dir, strerror(errno));
  for (int i = 1; i <= NTABLES; ++i) {
    const int t = i % NTABLES;
    if (!o->table[t]) continue;
    output_fragment_path(o->dir, r->cell, o->hash, t, "tmp", tmp, sizeof tmp);
    output_fragment_path(o->dir, r->cell, o->hash, t, "csv", path, sizeof path);
    FILE *f = fopen(tmp, "w");
    if (!f) return tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
    if (t == TABLE_CELLS) format_summary(cfg, r, f);
    else format_rows(r, t, f);
    TSIM_TRY(output_commit_file(f, tmp, path, err));
  }
  return output_fsync_dir(dir, err);
}

/* Append a parked cell's fragment of TABLE to the table. */
static int unpark(run_output *o, int64_t cell, int table, tsim_error *err) {
  char path[4400], buf[65536];
  output_fragment_path(o->dir, cell, o->hash, table, "csv", path, sizeof path);
  FILE *in = fopen(path, "r");
  if (!in) return tsim_fail(err, TSIM_EFAIL, "%s: cannot read: %s", path, strerror(errno));
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, got, o->table[table]);
  const int bad = ferror(in);
  fclose(in);
  return bad ? tsim_fail(err, TSIM_EFAIL, "%s: read failed", path) : TSIM_OK;
}

/* R is the cell the tables expect: its rows and those of the parked cells
 * right after it go in, table by table, each flushed before the next and
 * cells.csv last, so a cell's row there says its other rows are whole; then
 * the parked cells' fragments go. */
static int write_in_order(run_output *o, const tsim_config *cfg, const cell_result *r,
                          tsim_error *err) {
  char path[4400];
  int64_t end = o->next + 1;
  while (end < o->nids && o->parked[end]) ++end;
  for (int i = 1; i <= NTABLES; ++i) {
    const int t = i % NTABLES;
    if (!o->table[t]) continue;
    if (t == TABLE_CELLS) format_summary(cfg, r, o->table[t]);
    else format_rows(r, t, o->table[t]);
    for (int64_t p = o->next + 1; p < end; ++p) TSIM_TRY(unpark(o, o->ids[p], t, err));
    output_table_path(o->dir, t, path, sizeof path);
    TSIM_TRY(output_flush_file(o->table[t], path, 0, err));
  }
  for (int64_t p = o->next + 1; p < end; ++p) {
    for (int t = 0; t < NTABLES; ++t) {
      output_fragment_path(o->dir, o->ids[p], o->hash, t, "csv", path, sizeof path);
      unlink(path);
    }
    o->parked[p] = 0;
  }
  o->next = end;
  return TSIM_OK;
}

void output_weights_path(const char *dir, int64_t cell, const char *what, char *buf,
                         size_t cap) {
  snprintf(buf, cap, "%s/weights/%lld%s.npy", dir, (long long)cell, what);
}

/* ARRAY written to weights/CELL[WHAT].npy through a temporary file. */
static int put_weights_file(const char *dir, int64_t cell, const char *what, int ndim,
                            const int64_t *shape, const double *array, tsim_error *err) {
  char path[4400], tmp[4410];
  output_weights_path(dir, cell, what, path, sizeof path);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) return tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
  if (!npy_put(f, ndim, shape, array)) {
    fclose(f);
    unlink(tmp);
    return tsim_fail(err, TSIM_EFAIL, "%s: write failed: %s", path, strerror(errno));
  }
  return output_commit_file(f, tmp, path, err);
}

/* output.weights: R's snapshots as weights/CELL.npy, (rows, d, K): the
 * student weights W_t as a d x K matrix (init.w_file's layout), and
 * weights/CELL.t.npy, (rows,): the t of each row; with a teacher, its
 * weights in weights/CELL.teacher.npy, (d, m). Written whole, synced and
 * renamed into place before the cell's rows go to the tables, so every
 * cell in cells.csv has them; a cell run again (a resume) rewrites the same
 * bytes. A trained output layer would add its own file here. */
static int write_weights(run_output *o, const tsim_config *cfg, const cell_result *r,
                         tsim_error *err) {
  char dir[4300];
  snprintf(dir, sizeof dir, "%s/weights", o->dir);
  if (!mkdir(dir, 0777))
    TSIM_TRY(output_fsync_dir(o->dir, err));
  else if (errno != EEXIST)
    return tsim_fail(err, TSIM_EFAIL, "%s: cannot create: %s", dir, strerror(errno));
  tsim_params p;
  config_cell(cfg, r->cell, &p);
  const int64_t d = p.d, K = p.K, rows = r->nsnap, cols = r->snap_cols;
  if (rows && cols < 1 + d * K)
    return TSIM_INTERNAL(err, "cell %lld: snapshots of %lld values, need %lld",
                         (long long)r->cell, (long long)cols, (long long)(1 + d * K));
  double *t = tsim_xmalloc((size_t)(rows + 1) * sizeof(double));
  double *W = tsim_xmalloc((size_t)(rows * d * K + 1) * sizeof(double));
  for (int64_t i = 0; i < rows; ++i) {
    const double *row = r->snap + i * cols;
    t[i] = row[0];
    for (int64_t j = 0; j < d; ++j) /* neuron-major -> d x K */
      for (int64_t k = 0; k < K; ++k) W[(i * d + j) * K + k] = row[1 + k * d + j];
  }
  const int64_t tshape[1] = {rows}, wshape[3] = {rows, d, K};
  int rc = TSIM_OK;
  if (!cellkind_no_teacher(&p)) { /* the teacher's weights v_l, d x m */
    tsim_teacher tt;
    rc = teacher_make(&p, &tt, err);
    if (!rc) {
      double *V = tsim_xmalloc((size_t)(d * tt.m) * sizeof(double));
      for (int64_t j = 0; j < d; ++j)
        for (int64_t l = 0; l < tt.m; ++l) V[j * tt.m + l] = tt.V[l * d + j];
      const int64_t vshape[2] = {d, tt.m};
      rc = put_weights_file(o->dir, r->cell, ".teacher", 2, vshape, V, err);
      free(V);
      teacher_free(&tt);
    }
  }
  if (!rc) rc = put_weights_file(o->dir, r->cell, ".t", 1, tshape, t, err);
  if (!rc && p.train_output && cols >= 1 + d * K + K) { /* the trained a_k, (rows, K) */
    double *a = tsim_xmalloc((size_t)(rows * K + 1) * sizeof(double));
    for (int64_t i = 0; i < rows; ++i)
      memcpy(a + i * K, r->snap + i * cols + 1 + d * K, (size_t)K * sizeof(double));
    const int64_t ashape[2] = {rows, K};
    rc = put_weights_file(o->dir, r->cell, ".a", 2, ashape, a, err);
    free(a);
  }
  if (!rc) rc = put_weights_file(o->dir, r->cell, "", 3, wshape, W, err);
  free(t);
  free(W);
  return rc ? rc : output_fsync_dir(dir, err);
}

int output_write_cell(run_output *o, const tsim_config *cfg,
                      const cell_result *r, tsim_error *err) {
  const int64_t pos = tsim_find_sorted(o->ids, o->nids, r->cell);
  if (pos < 0 || pos < o->next || o->parked[pos])
    return TSIM_INTERNAL(err, "cell %lld delivered twice or not in this run", (long long)r->cell);
  if (o->failed) /* the tables' state is unknown: the resume sorts it out */
    return tsim_fail(err, TSIM_EFAIL, "%s: cell %lld not written after a failed write",
                     o->dir, (long long)r->cell);
  int rc = cfg->out_weights ? write_weights(o, cfg, r, err) : TSIM_OK;
  if (!rc && pos > o->next) {
    rc = park(o, cfg, r, err);
    if (!rc) o->parked[pos] = 1;
  } else if (!rc) {
    rc = write_in_order(o, cfg, r, err);
  }
  if (rc) o->failed = 1;
  return rc;
}

static void iso_time(time_t t, char *buf, size_t cap) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int output_close(run_output **op, const char *manifest_extra, tsim_error *err) {
  run_output *o = *op;
  int rc = TSIM_OK;
  char path[4400], tmp[4400];
  for (int t = 0; t < NTABLES; ++t) {
    if (!o->table[t]) continue;
    output_table_path(o->dir, t, path, sizeof path);
    if (!rc && !o->failed) rc = output_flush_file(o->table[t], path, 1, err);
    if (fclose(o->table[t]) && !rc && !o->failed)
      rc = tsim_fail(err, TSIM_EFAIL, "%s: write failed: %s", path, strerror(errno));
  }
  snprintf(path, sizeof path, "%s/manifest.json", o->dir);
  snprintf(tmp, sizeof tmp, "%s/manifest.json.tmp", o->dir);
  FILE *m = fopen(tmp, "w");
  if (!m) {
    if (!rc) rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
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
            end, (unsigned long long)o->hash, libm_name(libm, sizeof libm),
            fused_vector_width());
    if (manifest_extra && *manifest_extra) fprintf(m, "%s,\n", manifest_extra);
    fprintf(m, "  \"config\": ");
    config_write_json(o->cfg, m, 2);
    fprintf(m, "\n}\n");
    tsim_error merr = {0};
    if (output_commit_file(m, tmp, path, &merr) && !rc) {
      rc = merr.code;
      *err = merr;
    }
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
