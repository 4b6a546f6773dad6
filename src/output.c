/* output.c - the run directory's files (see output.h). Only rank 0 calls
 * these. Each finished cell is flushed at once, its cells.csv row after its
 * other rows, so a crash loses no finished cell: a resume (output_scan)
 * takes every cell whose rows are whole. */
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
#include "tsim/fused.h"
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
/* cells.csv's columns after the config's: status .. wall_s */
#define CELLS_RESULT_COLS 10

const char *output_table_name(int table) { return tables[table].name; }

/* Is a cell of CFG of the model family? (teachers.csv is written then.) */
static int family_in(const tsim_config *cfg) {
  for (int64_t id = 0; id < cfg->ncells; ++id) {
    tsim_params p;
    config_cell(cfg, id, &p);
    if (cellkind_family(&p)) return 1;
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
                                          "cells.selection"};
#define NOTHER_FILES 6

const char *output_status_name(int status) {
  switch (status) {
    case CELL_CONVERGED: return "converged";
    case CELL_MAX_ITERATIONS: return "max_iterations";
    case CELL_DIVERGED: return "diverged";
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

static void put_event(FILE *f, int64_t t) {
  if (t >= 0) fprintf(f, "%lld", (long long)t);
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

static int fsync_dir(const char *dir, tsim_error *err) {
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
static int flush_file(FILE *f, const char *path, int sync, tsim_error *err) {
  if (fflush(f) || ferror(f))
    return tsim_fail(err, TSIM_EFAIL, "%s: write failed: %s", path,
                     strerror(errno ? errno : EIO));
  if (sync && fsync(fileno(f)))
    return tsim_fail(err, TSIM_EFAIL, "%s: fsync failed: %s", path, strerror(errno));
  return TSIM_OK;
}

/* F was written to TMP: sync and close it, then rename it to PATH. On
 * failure TMP goes and PATH is untouched. */
static int commit_file(FILE *f, const char *tmp, const char *path, tsim_error *err) {
  int rc = flush_file(f, path, 1, err);
  if (fclose(f) && !rc)
    rc = tsim_fail(err, TSIM_EFAIL, "%s: write failed: %s", path, strerror(errno));
  if (!rc && rename(tmp, path))
    rc = tsim_fail(err, TSIM_EFAIL, "%s: rename failed: %s", path, strerror(errno));
  if (rc) unlink(tmp);
  return rc;
}

static void table_path(const char *dir, int table, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/%s.csv", dir, tables[table].name);
}

/* pending/CELL.HASH.TABLE.EXT: EXT "csv", or "tmp" while it is written. */
static void fragment_path(const char *dir, int64_t cell, uint64_t hash, int table,
                          const char *ext, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/pending/%lld.%016llx.%s.%s", dir, (long long)cell,
           (unsigned long long)hash, tables[table].name, ext);
}

/* A fragment's file NAME: its cell, hash and table; 0 if it is not one. */
static int parse_fragment(const char *name, int64_t *cell, uint64_t *hash, int *table) {
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

static void put_header(const tsim_config *cfg, int table, FILE *f) {
  if (table != TABLE_CELLS) {
    fprintf(f, "cell,%s\n", tables[table].header);
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
 * C, n, d and the other axes' values. */
static void put_cell_params(const tsim_config *cfg, int64_t cell, FILE *f) {
  tsim_params p;
  config_cell(cfg, cell, &p);
  fprintf(f, "%lld,%lld,%llu,", (long long)cell, (long long)p.K,
          (unsigned long long)p.init_seed);
  put_shortest(f, p.eta);
  fputc(',', f);
  put_shortest(f, p.C);
  fprintf(f, ",%lld,%lld", (long long)p.n, (long long)p.d);
  for (int a = 0; a < cfg->naxes; ++a) {
    if (is_fixed_column(cfg->axes[a].column)) continue;
    int64_t stride = 1;
    for (int b = cfg->naxes - 1; b > a; --b) stride *= cfg->axes[b].count;
    fprintf(f, ",%s", cfg->axes[a].values[(cell / stride) % cfg->axes[a].count]);
  }
}

/* The cell's row of cells.csv. */
static void format_summary(const tsim_config *cfg, const cell_result *r, FILE *f) {
  put_cell_params(cfg, r->cell, f);
  fprintf(f, ",%s,%lld,", output_status_name(r->status), (long long)r->iterations);
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
}

/* The cell's rows of TABLE (not cells.csv). */
static void format_rows(const cell_result *r, int table, FILE *out) {
  const int cols = result_table_cols(table);
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
      rc = commit_file(f, tmp, path, err);
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
    table_path(outdir, t, path, sizeof path);
    struct stat st;
    if (!(o->table[t] = fopen(path, "a")) || fstat(fileno(o->table[t]), &st)) {
      tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
      goto fail;
    }
    if (st.st_size == 0) put_header(cfg, t, o->table[t]);
    if (flush_file(o->table[t], path, 1, err)) goto fail;
  }
  if (fsync_dir(outdir, err)) goto fail;
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

/* ------------------------------------------------ what a run left behind */

static int64_t position_in(const int64_t *ids, int64_t nids, int64_t cell) {
  int64_t lo = 0, hi = nids;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (ids[mid] < cell) lo = mid + 1; else hi = mid;
  }
  return lo < nids && ids[lo] == cell ? lo : -1;
}

/* The cell id a row LINE (N bytes) starts with, or -1. */
static int64_t row_cell(const char *line, ssize_t n) {
  int64_t cell = 0;
  ssize_t i = 0;
  for (; i < n && i < 18 && line[i] >= '0' && line[i] <= '9'; ++i)
    cell = 10 * cell + (line[i] - '0');
  return i > 0 && i < n && line[i] == ',' ? cell : -1;
}

/* Is LINE (N bytes) a whole row of TABLE for CELL: ended by a newline, the
 * table's number of columns and, in cells.csv, the config's columns and a
 * status? */
static int whole_row(const tsim_config *cfg, int table, int64_t cell, const char *line,
                     ssize_t n) {
  if (n < 2 || line[n - 1] != '\n' || row_cell(line, n) != cell) return 0;
  ssize_t at = 0;
  int commas = 0, want = result_table_cols(table) - 1;
  if (table == TABLE_CELLS) {
    char *params = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&params, &len);
    put_cell_params(cfg, cell, m);
    fclose(m);
    int ok = (ssize_t)len < n && !memcmp(line, params, len) && line[len] == ',';
    free(params);
    if (!ok) return 0;
    at = (ssize_t)len + 1;
    ok = 0;
    for (int s = CELL_CONVERGED; s <= CELL_DIVERGED; ++s) {
      const size_t k = strlen(output_status_name(s));
      ok |= at + (ssize_t)k < n && !strncmp(line + at, output_status_name(s), k) &&
            line[at + (ssize_t)k] == ',';
    }
    if (!ok) return 0;
    want = CELLS_RESULT_COLS - 1;
  } else {
    while (line[at] != ',') ++at;
    ++at;
  }
  for (; at < n; ++at) commas += line[at] == ',';
  return commas == want;
}

/* Does LINE (N bytes, not a whole row) begin the row of CELL? */
static int begins_row_of(const char *line, ssize_t n, int64_t cell) {
  char id[32];
  const int len = snprintf(id, sizeof id, "%lld,", (long long)cell);
  return n > 0 && !strncmp(line, id, (size_t)(n < len ? n : len));
}

/* The rows of TABLE in IN from byte OFF on, of the cells at positions
 * FROM.. of IDS: FIRST[k - FROM] becomes the offset of the first row of a
 * cell at position >= k, for k up to *WHOLE. The rows of the cells before
 * *WHOLE must be whole: a line that is not a whole row ends the scan, and if
 * it belongs to one of them (by its id; else the last cell seen, unless it
 * may begin the row of the next cell to come), *WHOLE drops to that cell.
 * So it does to a cell without rows in a table every cell has rows in.
 * Returns the cell a line cut short belonged to (-1: none). */
static int64_t scan_rows(FILE *in, int table, int64_t off, const int64_t *ids, int64_t nids,
                         int64_t from, int64_t *whole, int64_t *first) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int64_t last = from - 1, cut_short = -1; /* position of the last row seen */
  const int64_t upto = *whole;
  while ((n = getline(&line, &cap, in)) > 0) {
    const int64_t cell = row_cell(line, n);
    const int64_t pos = cell >= 0 ? position_in(ids, nids, cell) : -1;
    if (pos >= from && pos >= last && whole_row(NULL, table, cell, line, n)) {
      if (pos >= *whole) break;
      while (last < pos) first[++last - from] = off;
      off += n;
      continue;
    }
    int64_t owner = pos >= from ? pos : last;
    if (pos < from && *whole < nids && begins_row_of(line, n, ids[*whole])) owner = *whole;
    if (owner < from) owner = from;
    if (owner < *whole) {
      *whole = owner;
      cut_short = ids[owner];
    }
    break;
  }
  free(line);
  while (last < upto) first[++last - from] = off;
  if (tables[table].every_cell)
    for (int64_t k = from; k < *whole; ++k)
      if (first[k - from] == first[k + 1 - from]) {
        *whole = k;
        break;
      }
  return cut_short;
}

/* Is PATH a whole fragment of TABLE for CELL (cells.csv: its one row)? */
static int whole_fragment(const tsim_config *cfg, int table, int64_t cell, const char *path) {
  FILE *in = fopen(path, "r");
  if (!in) return 0;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int64_t rows = 0;
  int ok = 1;
  while (ok && (n = getline(&line, &cap, in)) > 0) {
    ok = whole_row(cfg, table, cell, line, n);
    ++rows;
  }
  ok = ok && !ferror(in) && (table != TABLE_CELLS || rows == 1);
  free(line);
  fclose(in);
  return ok;
}

/* A fragment of TABLE for CELL in pending/ stamped with HASH, else OTHER:
 * its path into PATH; 0 if there is none. */
static int find_fragment(const char *outdir, int64_t cell, int table, uint64_t hash,
                         uint64_t other, char *path, size_t cap) {
  fragment_path(outdir, cell, hash, table, "csv", path, cap);
  if (!access(path, F_OK)) return 1;
  fragment_path(outdir, cell, other, table, "csv", path, cap);
  return !access(path, F_OK);
}

void output_scan(const tsim_config *cfg, const char *outdir, const int64_t *ids, int64_t nids,
                 uint64_t previous_hash, unsigned char *done, int64_t *written,
                 int64_t table_bytes[NTABLES], FILE *log) {
  const uint64_t hash = config_hash(cfg);
  FILE *in[NTABLES] = {NULL};
  int64_t size[NTABLES] = {0}, start[NTABLES] = {0}, *first[NTABLES] = {NULL};
  int64_t from = *written;
  char path[4400];
  for (int t = 0; t < NTABLES; ++t) { /* the part a checkpoint vouches for, if intact */
    if (!output_table_enabled(cfg, t)) continue;
    table_path(outdir, t, path, sizeof path);
    struct stat st;
    if ((in[t] = fopen(path, "r")) && !fstat(fileno(in[t]), &st)) size[t] = (int64_t)st.st_size;
    start[t] = table_bytes[t];
    if (size[t] < start[t] || start[t] <= 0) from = 0;
    else if (fseeko(in[t], (off_t)start[t] - 1, SEEK_SET) || fgetc(in[t]) != '\n') from = 0;
  }
  int headers = 1;
  for (int t = 0; t < NTABLES && from == 0; ++t) { /* else from the header on */
    start[t] = 0;
    if (!output_table_enabled(cfg, t)) continue;
    char *want = NULL, *line = NULL;
    size_t len = 0, cap = 0;
    FILE *m = open_memstream(&want, &len);
    put_header(cfg, t, m);
    fclose(m);
    if (in[t] && !fseeko(in[t], 0, SEEK_SET) && getline(&line, &cap, in[t]) == (ssize_t)len &&
        !memcmp(line, want, len))
      start[t] = (int64_t)len;
    else
      headers = 0;
    free(want);
    free(line);
  }
  int64_t whole = headers ? nids : 0, cut_short = -1, short_table = 0;
  for (int t = 0; t < NTABLES; ++t) {
    first[t] = tsim_xcalloc((size_t)(nids - from + 1), sizeof(int64_t));
    first[t][0] = start[t];
    if (!in[t] || !headers) continue;
    if (fseeko(in[t], (off_t)start[t], SEEK_SET)) { /* unreadable: nothing past START */
      whole = from;
      continue;
    }
    if (t == TABLE_CELLS) { /* a cell is in the tables when its row here is whole */
      char *line = NULL;
      size_t cap = 0;
      ssize_t n;
      int64_t k = from, off = start[t];
      while (k < nids && (n = getline(&line, &cap, in[t])) > 0 &&
             whole_row(cfg, t, ids[k], line, n)) {
        first[t][k - from] = off;
        off += n;
        ++k;
      }
      free(line);
      whole = k;
      first[t][whole - from] = off;
    } else {
      const int64_t c = scan_rows(in[t], t, start[t], ids, nids, from, &whole, first[t]);
      if (c >= 0) cut_short = c, short_table = t;
    }
  }
  char dropped[512] = "";
  for (int t = 0; t < NTABLES; ++t) {
    table_bytes[t] = in[t] ? first[t][whole - from] : 0;
    const size_t used = strlen(dropped);
    if (in[t] && size[t] > table_bytes[t])
      snprintf(dropped + used, sizeof dropped - used, "%s%s.csv %lld", used ? ", " : "",
               tables[t].name, (long long)(size[t] - table_bytes[t]));
    if (in[t]) fclose(in[t]);
    free(first[t]);
  }
  if (log && !headers)
    fprintf(log, "tsim: %s: a table's header is missing or damaged: the tables start "
            "again from their headers\n", outdir);
  if (log && dropped[0])
    fprintf(log, "tsim: %s: the tables are cut back to their last whole cell (bytes dropped: "
            "%s)\n", outdir, dropped);
  if (log && cut_short >= 0)
    fprintf(log, "tsim: %s/%s.csv: cell %lld's rows end in an incomplete or damaged line; it "
            "runs again\n", outdir, tables[short_table].name, (long long)cut_short);
  /* the cells past the tables: whole fragment sets in pending/ */
  unsigned char *before = tsim_xmalloc((size_t)cfg->ncells + 1);
  memcpy(before, done, (size_t)cfg->ncells);
  memset(done, 0, (size_t)cfg->ncells);
  for (int64_t i = 0; i < nids; ++i) {
    int ok = 1;
    for (int t = 0; t < NTABLES && ok && i >= whole; ++t) {
      if (!output_table_enabled(cfg, t)) continue;
      ok = find_fragment(outdir, ids[i], t, hash, previous_hash, path, sizeof path) &&
           whole_fragment(cfg, t, ids[i], path);
    }
    done[ids[i]] = (unsigned char)ok;
  }
  char dir[4300];
  snprintf(dir, sizeof dir, "%s/pending", outdir);
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d))) { /* say why a finished cell's fragments are not taken */
    int64_t cell;
    uint64_t h;
    int t;
    if (!parse_fragment(e->d_name, &cell, &h, &t) || t != TABLE_CELLS) continue;
    if (cell < 0 || cell >= cfg->ncells || done[cell] || position_in(ids, nids, cell) < 0)
      continue;
    if (h != hash && h != previous_hash)
      fprintf(stderr,
              "tsim: warning: %s/%s: written for another config (hash %016llx, not "
              "%016llx); cell %lld runs again\n",
              dir, e->d_name, (unsigned long long)h, (unsigned long long)hash, (long long)cell);
    else
      fprintf(stderr, "tsim: warning: %s/%s: its cell's fragments are incomplete; cell %lld "
              "runs again\n", dir, e->d_name, (long long)cell);
  }
  if (d) closedir(d);
  char lost[256] = "";
  int64_t nlost = 0;
  for (int64_t i = 0; i < nids; ++i) {
    if (!before[ids[i]] || done[ids[i]]) continue;
    const size_t used = strlen(lost);
    if (nlost++ < 8)
      snprintf(lost + used, sizeof lost - used, "%s%lld", used ? ", " : "", (long long)ids[i]);
  }
  if (nlost)
    fprintf(stderr, "tsim: warning: %s: %lld cell%s finished at the checkpoint (%s%s) %s neither "
            "in the tables nor in pending/: run again\n", outdir, (long long)nlost,
            nlost == 1 ? "" : "s", lost, nlost > 8 ? ", ..." : "", nlost == 1 ? "is" : "are");
  free(before);
  *written = whole;
}

/* ------------------------------------------------------------ resuming */

/* pending/ keeps the fragments of the finished cells past the tables (of
 * IDS[WRITTEN..]), stamped with HASH (those with PREVIOUS, the config of the
 * run that wrote them, are renamed); anything else there goes. */
static int tidy_pending(const char *outdir, const int64_t *ids, int64_t nids,
                        const unsigned char *done, int64_t written, uint64_t hash,
                        uint64_t previous, tsim_error *err) {
  char dir[4300], path[4700], now[4700];
  snprintf(dir, sizeof dir, "%s/pending", outdir);
  DIR *d = opendir(dir);
  if (!d) return TSIM_OK;
  struct dirent *e;
  int rc = TSIM_OK;
  while (!rc && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    int64_t cell = -1, pos = -1;
    uint64_t h = 0;
    int t = 0;
    if (parse_fragment(e->d_name, &cell, &h, &t)) pos = position_in(ids, nids, cell);
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    const int keep = pos >= written && done[cell] && (h == hash || h == previous);
    if (keep && h != hash) {
      fragment_path(outdir, cell, hash, t, "csv", now, sizeof now);
      if (!access(now, F_OK))
        unlink(path);
      else if (rename(path, now))
        rc = tsim_fail(err, TSIM_EFAIL, "%s: rename failed: %s", now, strerror(errno));
    } else if (!keep && unlink(path)) {
      rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot remove: %s", path, strerror(errno));
    }
  }
  closedir(d);
  return rc;
}

/* The rows of TABLE past byte KEEP_BYTES of the table at PATH that belong
 * to a finished cell past the tables (the tables are about to be cut back
 * before it: train.iterations grew) go to pending/ as its fragment, unless
 * it has one. */
static int recover_parked(const tsim_config *cfg, const char *outdir, int table,
                          const char *path, int64_t keep_bytes, const int64_t *ids, int64_t nids,
                          const unsigned char *done, int64_t written, uint64_t hash,
                          int *whole, tsim_error *err) {
  *whole = 0; /* read to its end, every row whole */
  FILE *in = fopen(path, "r");
  if (!in) return TSIM_OK;
  if (fseeko(in, (off_t)keep_bytes, SEEK_SET)) {
    fclose(in);
    return tsim_fail(err, TSIM_EINPUT, "%s: shorter than %lld bytes", path,
                     (long long)keep_bytes);
  }
  char *line = NULL, frag[4400], tmp[4400], dir[4300];
  size_t cap = 0;
  ssize_t n;
  int64_t current = -1;
  FILE *out = NULL;
  int rc = TSIM_OK;
  snprintf(dir, sizeof dir, "%s/pending", outdir);
  while (!rc && (n = getline(&line, &cap, in)) > 0) {
    const int64_t cell = row_cell(line, n);
    if (cell != current && out) {
      rc = commit_file(out, tmp, frag, err);
      out = NULL;
    }
    if (rc || cell < 0 || !whole_row(cfg, table, cell, line, n)) break;
    if (cell != current) {
      current = cell;
      const int64_t pos = position_in(ids, nids, cell);
      fragment_path(outdir, cell, hash, table, "csv", frag, sizeof frag);
      fragment_path(outdir, cell, hash, table, "tmp", tmp, sizeof tmp);
      if (pos >= written && done[cell] && access(frag, F_OK)) {
        if (mkdir(dir, 0777) && errno != EEXIST)
          rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot create: %s", dir, strerror(errno));
        else if (!(out = fopen(tmp, "w")))
          rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", frag, strerror(errno));
      }
    }
    if (out) fputs(line, out);
  }
  if (!rc && n <= 0 && !ferror(in)) *whole = 1;
  if (out && !rc) rc = commit_file(out, tmp, frag, err);
  else if (out) fclose(out), unlink(tmp);
  free(line);
  fclose(in);
  return rc;
}

/* After a whole scan of TABLE by recover_parked: a finished cell past the
 * written ones that had no row there gets an empty fragment, as park()
 * writes one, so its set of fragments is complete. */
static int empty_fragments(const char *outdir, int table, const int64_t *ids, int64_t nids,
                           const unsigned char *done, int64_t written, uint64_t hash,
                           tsim_error *err) {
  char frag[4400], tmp[4400], dir[4300];
  snprintf(dir, sizeof dir, "%s/pending", outdir);
  for (int64_t i = written; i < nids; ++i) {
    if (!done[ids[i]]) continue;
    fragment_path(outdir, ids[i], hash, table, "csv", frag, sizeof frag);
    if (!access(frag, F_OK)) continue;
    fragment_path(outdir, ids[i], hash, table, "tmp", tmp, sizeof tmp);
    if (mkdir(dir, 0777) && errno != EEXIST)
      return tsim_fail(err, TSIM_EFAIL, "%s: cannot create: %s", dir, strerror(errno));
    FILE *out = fopen(tmp, "w");
    if (!out) return tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", frag, strerror(errno));
    TSIM_TRY(commit_file(out, tmp, frag, err));
  }
  return TSIM_OK;
}

int output_resume(const tsim_config *cfg, const char *outdir,
                  const int64_t *ids, int64_t nids, const unsigned char *done,
                  int64_t written, const int64_t table_bytes[NTABLES], uint64_t previous_hash,
                  run_output **out, tsim_error *err) {
  *out = NULL;
  const uint64_t hash = config_hash(cfg);
  char path[4400];
  TSIM_TRY(tidy_pending(outdir, ids, nids, done, written, hash, previous_hash, err));
  for (int i = 1; i <= NTABLES; ++i) { /* cells.csv's last: its fragment completes a set */
    const int t = i % NTABLES;
    if (!output_table_enabled(cfg, t)) continue;
    table_path(outdir, t, path, sizeof path);
    int whole = 0;
    TSIM_TRY(recover_parked(cfg, outdir, t, path, table_bytes[t], ids, nids, done, written,
                            hash, &whole, err));
    if (whole && t != TABLE_CELLS)
      TSIM_TRY(empty_fragments(outdir, t, ids, nids, done, written, hash, err));
  }
  snprintf(path, sizeof path, "%s/pending", outdir);
  if (!access(path, F_OK)) TSIM_TRY(fsync_dir(path, err));
  for (int t = 0; t < NTABLES; ++t) { /* rows past the whole cells go */
    if (!output_table_enabled(cfg, t)) continue;
    table_path(outdir, t, path, sizeof path);
    if (truncate(path, (off_t)table_bytes[t]) && !(errno == ENOENT && table_bytes[t] == 0))
      return tsim_fail(err, TSIM_EFAIL, "%s: cannot cut back to %lld bytes: %s", path,
                       (long long)table_bytes[t], strerror(errno));
  }
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
    table_path(o->dir, t, path, sizeof path);
    TSIM_TRY(flush_file(o->table[t], path, 1, err));
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
    TSIM_TRY(fsync_dir(o->dir, err));
  else if (errno != EEXIST)
    return tsim_fail(err, TSIM_EFAIL, "%s: cannot create: %s", dir, strerror(errno));
  for (int i = 1; i <= NTABLES; ++i) {
    const int t = i % NTABLES;
    if (!o->table[t]) continue;
    fragment_path(o->dir, r->cell, o->hash, t, "tmp", tmp, sizeof tmp);
    fragment_path(o->dir, r->cell, o->hash, t, "csv", path, sizeof path);
    FILE *f = fopen(tmp, "w");
    if (!f) return tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
    if (t == TABLE_CELLS) format_summary(cfg, r, f);
    else format_rows(r, t, f);
    TSIM_TRY(commit_file(f, tmp, path, err));
  }
  return fsync_dir(dir, err);
}

/* Append a parked cell's fragment of TABLE to the table. */
static int unpark(run_output *o, int64_t cell, int table, tsim_error *err) {
  char path[4400], buf[65536];
  fragment_path(o->dir, cell, o->hash, table, "csv", path, sizeof path);
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
    table_path(o->dir, t, path, sizeof path);
    TSIM_TRY(flush_file(o->table[t], path, 0, err));
  }
  for (int64_t p = o->next + 1; p < end; ++p) {
    for (int t = 0; t < NTABLES; ++t) {
      fragment_path(o->dir, o->ids[p], o->hash, t, "csv", path, sizeof path);
      unlink(path);
    }
    o->parked[p] = 0;
  }
  o->next = end;
  return TSIM_OK;
}

int output_write_cell(run_output *o, const tsim_config *cfg,
                      const cell_result *r, tsim_error *err) {
  const int64_t pos = position_in(o->ids, o->nids, r->cell);
  if (pos < 0 || pos < o->next || o->parked[pos])
    return tsim_fail(err, TSIM_EFAIL, "internal: cell %lld delivered twice or not in this run",
                     (long long)r->cell);
  if (o->failed) /* the tables' state is unknown: the resume sorts it out */
    return tsim_fail(err, TSIM_EFAIL, "%s: cell %lld not written after a failed write",
                     o->dir, (long long)r->cell);
  int rc;
  if (pos > o->next) {
    rc = park(o, cfg, r, err);
    if (!rc) o->parked[pos] = 1;
  } else {
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
    table_path(o->dir, t, path, sizeof path);
    if (!rc && !o->failed) rc = flush_file(o->table[t], path, 1, err);
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
    if (commit_file(m, tmp, path, &merr) && !rc) {
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
