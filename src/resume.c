/* resume.c - checkpoints and resumes (see resume.h): the checkpoint
 * transaction, what a resume accepts, and the tables and pending/ read back
 * and cut to their whole cells. */
#define _POSIX_C_SOURCE 200809L
#include "tsim/resume.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "tsim/checkpoint.h"
#include "tsim/engine.h"
#include "tsim/fault.h"

/* -------------------------------------------- the checkpoint transaction */

void resume_round_init(resume_round *r, int nteams) {
  memset(r, 0, sizeof *r);
  r->nteams = nteams;
  r->waiting = tsim_xcalloc((size_t)nteams, sizeof(int));
  r->have_snap = tsim_xcalloc((size_t)nteams, sizeof(int));
  r->snap = tsim_xcalloc((size_t)nteams, sizeof(cell_result *));
  r->nsnap = tsim_xcalloc((size_t)nteams, sizeof(int));
  r->last = fault_clock();
}

static void drop_snap(resume_round *r, int t) {
  if (!r->have_snap[t]) return;
  for (int i = 0; i < r->nsnap[t]; ++i) cell_result_free(&r->snap[t][i]);
  free(r->snap[t]);
  r->snap[t] = NULL;
  r->nsnap[t] = 0;
  r->have_snap[t] = 0;
}

void resume_round_drop(resume_round *r) {
  for (int t = 0; t < r->nteams; ++t) drop_snap(r, t);
}

void resume_round_free(resume_round *r) {
  if (!r->waiting) return;
  resume_round_drop(r);
  free(r->waiting);
  free(r->have_snap);
  free(r->snap);
  free(r->nsnap);
  memset(r, 0, sizeof *r);
}

int resume_round_due(const resume_round *r, double seconds) {
  return fault_clock() - r->last >= seconds;
}

void resume_round_start(resume_round *r, const int *busy, int stop) {
  r->active = 1;
  r->stop = stop;
  for (int t = 0; t < r->nteams; ++t) r->waiting[t] = busy[t];
}

/* Team T's snapshot: deep copies of the N states. */
void resume_round_take(resume_round *r, int t, const cell_result *const *states, int n) {
  drop_snap(r, t);
  r->snap[t] = tsim_xcalloc((size_t)(n ? n : 1), sizeof(cell_result));
  for (int i = 0; i < n; ++i) {
    void *buf = NULL;
    size_t cap = 0;
    const size_t len = cell_result_pack(states[i], &buf, &cap);
    cell_result_unpack(buf, len, &r->snap[t][i]);
    free(buf);
  }
  r->nsnap[t] = n;
  r->have_snap[t] = 1;
  r->waiting[t] = 0;
}

void resume_round_skip(resume_round *r, int t) { r->waiting[t] = 0; }

int resume_round_ready(const resume_round *r) {
  if (!r->active) return 0;
  for (int t = 0; t < r->nteams; ++t)
    if (r->waiting[t]) return 0;
  return 1;
}

/* The effective config as a checkpoint records it: the results text,
 * output.weights when set (the saved states hold snapshots then) and the
 * selection (malloc'd). */
#define WEIGHTS_LINE "output.weights: true\n"

/* A resume keeps output.weights: the cells finished before have their
 * weights files, or none (HAD: what the earlier run had; WHAT: which). */
static int same_weights(const tsim_config *cfg, int had, const char *outdir, const char *what,
                        tsim_error *err) {
  if (had == cfg->out_weights) return TSIM_OK;
  return tsim_fail(err, TSIM_EINPUT,
                   "%s: %s was made with output.weights: %s; resume with the same, or start "
                   "anew with -o or --force", outdir, what, had ? "true" : "false");
}

static char *checkpoint_text(const tsim_config *cfg, const char *cells) {
  char *text = config_results_text(cfg);
  const size_t len = strlen(text) + 64 + (cells ? strlen(cells) : 0) + 64 * CONFIG_MAX_INPUTS;
  char *now = tsim_xmalloc(len);
  size_t used = (size_t)snprintf(now, len, "%s", text);
  for (int i = 0; i < cfg->ninputs; ++i) /* the input files' contents */
    used += (size_t)snprintf(now + used, len - used, "input %s: %016llx\n", cfg->inputs[i].key,
                             (unsigned long long)cfg->inputs[i].hash);
  if (cfg->out_weights) used += (size_t)snprintf(now + used, len - used, WEIGHTS_LINE);
  snprintf(now + used, len - used, "cells: %s\n", cells ? cells : "all");
  free(text);
  return now;
}

/* TEXT without its "input KEY: HASH" lines (in place): a checkpoint written
 * before they were recorded compares equal on the rest. */
static void drop_input_lines(char *text) {
  char *out = text;
  for (const char *line = text; *line;) {
    const char *nl = strchr(line, '\n');
    const size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
    if (strncmp(line, "input ", 6)) {
      memmove(out, line, len);
      out += len;
    }
    line += len;
  }
  *out = '\0';
}

/* The first input file of CFG whose content hash differs from the one the
 * checkpoint text OLD recorded, or -1 (also when OLD recorded none). */
static int changed_input(const tsim_config *cfg, const char *old, unsigned long long *was) {
  for (int i = 0; i < cfg->ninputs; ++i) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "\ninput %s: ", cfg->inputs[i].key);
    const char *at = strstr(old, prefix);
    if (at && sscanf(at + strlen(prefix), "%llx", was) == 1 &&
        *was != (unsigned long long)cfg->inputs[i].hash)
      return i;
  }
  return -1;
}

int resume_round_write(resume_round *r, const tsim_config *cfg, const char *outdir,
                       const char *cells, const unsigned char *finished, run_output *out,
                       tsim_error *err) {
  ckpt_data d;
  memset(&d, 0, sizeof d);
  d.config_hash = config_hash(cfg);
  d.ncells = cfg->ncells;
  d.done = (unsigned char *)finished;
  int64_t nstates = 1;
  for (int t = 0; t < r->nteams; ++t) nstates += r->have_snap[t] ? r->nsnap[t] : 0;
  d.states = tsim_xcalloc((size_t)nstates, sizeof(cell_result));
  for (int t = 0; t < r->nteams; ++t)
    for (int i = 0; r->have_snap[t] && i < r->nsnap[t]; ++i)
      if (!finished[r->snap[t][i].cell]) d.states[d.nstates++] = r->snap[t][i];
  d.config_yaml = checkpoint_text(cfg, cells);
  int rc = output_tables_state(out, &d.written, d.table_bytes, err);
  if (!rc) rc = ckpt_commit(outdir, &d, err);
  if (!rc) r->written += 1;
  free(d.states);
  free(d.config_yaml);
  return rc;
}

void resume_round_end(resume_round *r) {
  r->active = 0;
  r->last = fault_clock();
}

/* ------------------------------------------------ what a run left behind */

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
  int commas = 0, want = table == TABLE_CELLS ? 0 : output_table_cols(cfg, table) - 1;
  if (table == TABLE_CELLS) {
    char *params = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&params, &len);
    output_put_cell_params(cfg, cell, m);
    fclose(m);
    int ok = (ssize_t)len < n && !memcmp(line, params, len) && line[len] == ',';
    free(params);
    if (!ok) return 0;
    at = (ssize_t)len + 1;
    ok = 0;
    for (int s = CELL_CONVERGED; s < CELL_NSTATUS; ++s) {
      const size_t k = strlen(output_status_name(s));
      ok |= at + (ssize_t)k < n && !strncmp(line + at, output_status_name(s), k) &&
            line[at + (ssize_t)k] == ',';
    }
    if (!ok) return 0;
    want = OUTPUT_CELLS_RESULT_COLS - 1;
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
static int64_t scan_rows(const tsim_config *cfg, FILE *in, int table, int64_t off,
                         const int64_t *ids, int64_t nids, int64_t from, int64_t *whole,
                         int64_t *first) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int64_t last = from - 1, cut_short = -1; /* position of the last row seen */
  const int64_t upto = *whole;
  while ((n = getline(&line, &cap, in)) > 0) {
    const int64_t cell = row_cell(line, n);
    const int64_t pos = cell >= 0 ? tsim_find_sorted(ids, nids, cell) : -1;
    if (pos >= from && pos >= last && whole_row(cfg, table, cell, line, n)) {
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
  if (output_table_every_cell(table))
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
  output_fragment_path(outdir, cell, hash, table, "csv", path, cap);
  if (!access(path, F_OK)) return 1;
  output_fragment_path(outdir, cell, other, table, "csv", path, cap);
  return !access(path, F_OK);
}

/* What a run left in OUTDIR, for a resume (reads only). A cell of IDS
 * (ascending) is finished when its rows are whole in the tables (its
 * cells.csv row is written after its other rows, so the cells whose rows
 * there are whole, in id order, and whose rows in every other table are
 * too) or when pending/ holds a whole fragment of each table for it,
 * stamped with this config's hash or PREVIOUS_HASH (that of the run that
 * left them). On entry *WRITTEN and TABLE_BYTES are where a checkpoint says
 * the tables' whole cells end (0: none), trusted while the tables still
 * hold them; on return how many of IDS the tables hold whole and where. DONE
 * (by cell id) becomes the finished cells. What is dropped is said on LOG
 * (may be NULL), fragments not taken on stderr. */
static void scan_tables(const tsim_config *cfg, const char *outdir, const int64_t *ids,
                        int64_t nids, uint64_t previous_hash, unsigned char *done,
                        int64_t *written, int64_t table_bytes[NTABLES], FILE *log) {
  const uint64_t hash = config_hash(cfg);
  FILE *in[NTABLES] = {NULL};
  int64_t size[NTABLES] = {0}, start[NTABLES] = {0}, *first[NTABLES] = {NULL};
  int64_t from = *written;
  char path[4400];
  for (int t = 0; t < NTABLES; ++t) { /* the part a checkpoint vouches for, if intact */
    if (!output_table_enabled(cfg, t)) continue;
    output_table_path(outdir, t, path, sizeof path);
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
    output_put_header(cfg, t, m);
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
      const int64_t c = scan_rows(cfg, in[t], t, start[t], ids, nids, from, &whole,
                                 first[t]);
      if (c >= 0) cut_short = c, short_table = t;
    }
  }
  char dropped[512] = "";
  for (int t = 0; t < NTABLES; ++t) {
    table_bytes[t] = in[t] ? first[t][whole - from] : 0;
    const size_t used = strlen(dropped);
    if (in[t] && size[t] > table_bytes[t])
      snprintf(dropped + used, sizeof dropped - used, "%s%s.csv %lld", used ? ", " : "",
               output_table_name(t), (long long)(size[t] - table_bytes[t]));
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
            "runs again\n", outdir, output_table_name(short_table), (long long)cut_short);
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
    if (!output_parse_fragment(e->d_name, &cell, &h, &t) || t != TABLE_CELLS) continue;
    if (cell < 0 || cell >= cfg->ncells || done[cell] || tsim_find_sorted(ids, nids, cell) < 0)
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
    if (output_parse_fragment(e->d_name, &cell, &h, &t)) pos = tsim_find_sorted(ids, nids, cell);
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    const int keep = pos >= written && done[cell] && (h == hash || h == previous);
    if (keep && h != hash) {
      output_fragment_path(outdir, cell, hash, t, "csv", now, sizeof now);
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
      rc = output_commit_file(out, tmp, frag, err);
      out = NULL;
    }
    if (rc || cell < 0 || !whole_row(cfg, table, cell, line, n)) break;
    if (cell != current) {
      current = cell;
      const int64_t pos = tsim_find_sorted(ids, nids, cell);
      output_fragment_path(outdir, cell, hash, table, "csv", frag, sizeof frag);
      output_fragment_path(outdir, cell, hash, table, "tmp", tmp, sizeof tmp);
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
  if (out && !rc) rc = output_commit_file(out, tmp, frag, err);
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
    output_fragment_path(outdir, ids[i], hash, table, "csv", frag, sizeof frag);
    if (!access(frag, F_OK)) continue;
    output_fragment_path(outdir, ids[i], hash, table, "tmp", tmp, sizeof tmp);
    if (mkdir(dir, 0777) && errno != EEXIST)
      return tsim_fail(err, TSIM_EFAIL, "%s: cannot create: %s", dir, strerror(errno));
    FILE *out = fopen(tmp, "w");
    if (!out) return tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", frag, strerror(errno));
    TSIM_TRY(output_commit_file(out, tmp, frag, err));
  }
  return TSIM_OK;
}

/* Continue the run in OUTDIR: the tables are cut back to TABLE_BYTES, the
 * first WRITTEN of IDS are in them, and the other cells marked in DONE
 * (indexed by cell id) wait in pending/ (scan_tables' findings; a cell
 * whose rows are cut off keeps them there). Everything else in pending/
 * goes. */
static int cut_tables(const tsim_config *cfg, const char *outdir, const int64_t *ids,
                      int64_t nids, const unsigned char *done, int64_t written,
                      const int64_t table_bytes[NTABLES], uint64_t previous_hash,
                      run_output **out, tsim_error *err) {
  *out = NULL;
  const uint64_t hash = config_hash(cfg);
  char path[4400];
  TSIM_TRY(tidy_pending(outdir, ids, nids, done, written, hash, previous_hash, err));
  for (int i = 1; i <= NTABLES; ++i) { /* cells.csv's last: its fragment completes a set */
    const int t = i % NTABLES;
    if (!output_table_enabled(cfg, t)) continue;
    output_table_path(outdir, t, path, sizeof path);
    int whole = 0;
    TSIM_TRY(recover_parked(cfg, outdir, t, path, table_bytes[t], ids, nids, done, written,
                            hash, &whole, err));
    if (whole && t != TABLE_CELLS)
      TSIM_TRY(empty_fragments(outdir, t, ids, nids, done, written, hash, err));
  }
  snprintf(path, sizeof path, "%s/pending", outdir);
  if (!access(path, F_OK)) TSIM_TRY(output_fsync_dir(path, err));
  for (int t = 0; t < NTABLES; ++t) { /* rows past the whole cells go */
    if (!output_table_enabled(cfg, t)) continue;
    output_table_path(outdir, t, path, sizeof path);
    if (truncate(path, (off_t)table_bytes[t]) && !(errno == ENOENT && table_bytes[t] == 0))
      return tsim_fail(err, TSIM_EFAIL, "%s: cannot cut back to %lld bytes: %s", path,
                       (long long)table_bytes[t], strerror(errno));
  }
  return output_reopen(cfg, outdir, ids, nids, done, written, out, err);
}

/* Set MARK[cell] = VALUE for the cells whose cells.csv row, in the table or
 * in pending/, has status STATUS. */
static void mark_rows(FILE *in, int status_col, const char *status, int64_t ncells,
                      unsigned char *mark, unsigned char value) {
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
      mark[cell] = value;
  }
  free(line);
}

/* Set MARK[cell] = VALUE (by cell id) for the finished cells of OUTDIR whose
 * status is STATUS. */
static int mark_status(const char *outdir, const char *status, int64_t ncells,
                       unsigned char *mark, unsigned char value, tsim_error *err) {
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
  mark_rows(in, col, status, ncells, mark, value);
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
      mark_rows(f, col, status, ncells, mark, value);
      fclose(f);
    }
  }
  if (d) closedir(d);
  return TSIM_OK;
}

/* Byte offset in TABLE (enum result_table) of the first row of a
 * cell with id >= FIRST_CELL (the length if none); -1 if unreadable. */
static int64_t table_offset(const char *outdir, int table, int64_t first_cell) {
  char path[4400];
  snprintf(path, sizeof path, "%s/%s.csv", outdir, output_table_name(table));
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

/* ------------------------------------------------------- resume policy */

/* resume_open's arguments, for the steps below. */
typedef struct opening {
  const tsim_config *cfg;
  const resume_options *opt;
  run_output *out;
  unsigned char *finished;   /* per cell id */
  cell_result **resume_from; /* per cell id: saved state, or NULL */
  int64_t *order, norder;    /* the cells to run, in the order they are handed out */
  int64_t finished_before;   /* cells of the selection a resume found finished */
} opening;

/* Does cell ID's engine (data.engine: auto, whose cost model counts the
 * iterations) differ between train.iterations BEFORE and the new limit? */
static int engine_moves(const opening *s, int64_t id, int64_t before) {
  tsim_params p;
  config_cell(s->cfg, id, &p);
  const int now = engine_choose(&p);
  p.iterations = before;
  return engine_choose(&p) != now;
}

/* train.iterations grew from BEFORE: cells that stopped at the old limit
 * (max_iterations; evaluated when it was 0; reached_T for a flow whose final
 * time it is) run again to the new one. They are recomputed from the
 * start, so their rows are exactly those of an uninterrupted run with the
 * new limit; the tables are cut back to the first of them (later finished
 * cells wait in pending/ again). Every cell restarts, finished or saved,
 * whose run would differ from the start under the new limit: all of them
 * with train.log_points or metrics.hessian log_points (the schedule of rows
 * or spectra follows the limit), and those whose engine data.engine: auto
 * now chooses differently (the engines agree to 1e-12, not in the bits). */
static int extend_iterations(opening *s, ckpt_data *d, int64_t before, const int64_t *ids,
                             int64_t nids, tsim_error *err) {
  unsigned char *again = tsim_xcalloc((size_t)d->ncells + 1, 1);
  static const char *const at_limit[] = {"max_iterations", "evaluated", "reached_T"};
  int rc = TSIM_OK;
  for (int k = 0; k < 3 && !rc; ++k)
    rc = mark_status(s->opt->outdir, at_limit[k], d->ncells, again, 1, err);
  const int spaced = s->cfg->base.log_points > 0 || s->cfg->base.hess_log_points > 0;
  for (int64_t c = 0; !rc && c < d->ncells; ++c)
    if (spaced || engine_moves(s, c, before)) again[c] = 2; /* restart even if saved */
  int64_t first = -1, count = 0;
  for (int64_t i = 0; !rc && i < nids; ++i) {
    if (!again[ids[i]] || !d->done[ids[i]]) continue;
    d->done[ids[i]] = 0;
    ++count;
    if (first < 0) first = i;
  }
  if (!rc && first >= 0 && first < d->written) {
    d->written = first;
    for (int t = 0; t < NTABLES; ++t) {
      const int64_t at = table_offset(s->opt->outdir, t, ids[first]);
      if (at >= 0 && at < d->table_bytes[t]) d->table_bytes[t] = at;
    }
  }
  int64_t kept = 0;
  for (int64_t i = 0; !rc && i < d->nstates; ++i) {
    const int64_t cell = d->states[i].cell;
    if (cell >= 0 && cell < d->ncells && again[cell] == 2) cell_result_free(&d->states[i]);
    else d->states[kept++] = d->states[i];
  }
  if (!rc) d->nstates = kept;
  if (!rc && s->opt->log)
    printf("tsim: train.iterations grew to %lld: %lld finished cells run again\n",
           (long long)s->cfg->base.iterations, (long long)count);
  free(again);
  return rc;
}

/* Are the N CHANGES (config_changed_keys') train.iterations alone, grown
 * from a limit that goes into *BEFORE? The one change a resume takes. */
static int iterations_grew(const opening *s, const config_change *changes, int n,
                           long long *before) {
  if (n != 1 || strcmp(changes[0].key, "train.iterations") || !changes[0].integer) return 0;
  *before = changes[0].before_int;
  return *before < s->cfg->base.iterations && s->cfg->base.iterations > 0;
}

/* OUTDIR/cells.selection: the --cells of the run (or "all"), written when
 * its tables are opened, so that a resume without a checkpoint can refuse
 * another selection (its tables hold the rows of this one). */
static int write_selection(const opening *s, tsim_error *err) {
  char path[4400], tmp[4420];
  snprintf(path, sizeof path, "%s/cells.selection", s->opt->outdir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
  const int bad = fprintf(f, "%s\n", s->opt->cells ? s->opt->cells : "all") < 0;
  if (fclose(f) || bad || rename(tmp, path)) {
    unlink(tmp);
    return tsim_fail(err, TSIM_EFAIL, "%s: write failed: %s", path, strerror(errno));
  }
  return TSIM_OK;
}

/* The selection in OUTDIR/cells.selection into BUF ("" when there is none:
 * a run directory from before it was written). */
static void read_selection(const char *outdir, char *buf, size_t cap) {
  char path[4400];
  snprintf(path, sizeof path, "%s/cells.selection", outdir);
  buf[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) return;
  if (!fgets(buf, (int)cap, f)) buf[0] = '\0';
  fclose(f);
  buf[strcspn(buf, "\n")] = '\0';
}

/* Is the earlier run in OUTDIR, which left no checkpoint, one of this
 * config (train.iterations may grow, as on a resume from a checkpoint)?
 * Its cells are kept, so a changed config must be refused here too, not
 * added to them. D gets its config hash and an empty list of finished
 * cells, *BEFORE the old train.iterations if it grew (else -1). */
static int same_config_as_before(const opening *s, const char *outdir, ckpt_data *d,
                                 long long *before, tsim_error *err) {
  char path[4400];
  snprintf(path, sizeof path, "%s/config.yaml", outdir);
  tsim_config *old = NULL;
  tsim_error why = {0};
  if (config_load(path, NULL, 0, &old, &why))
    return tsim_fail(err, TSIM_EINPUT,
                     "%s: holds an earlier run whose config cannot be read (%s); start "
                     "anew with -o or --force", outdir, why.msg);
  char *old_text = config_results_text(old), *new_text = config_results_text(s->cfg);
  int rc = TSIM_OK;
  *before = -1;
  if (strcmp(old_text, new_text)) {
    char changed[TSIM_MSG_MAX / 2];
    config_change *changes = NULL;
    const int n = config_changed_keys(old_text, new_text, &changes);
    config_changes_text(changes, n, changed, sizeof changed);
    if (!iterations_grew(s, changes, n, before))
      rc = tsim_fail(err, TSIM_EINPUT,
                     "%s: the earlier run (no checkpoint yet) was made with another config: "
                     "%s changed; resume with the same config, or start anew with -o or "
                     "--force", outdir, n ? changed : "the grid");
    config_changes_free(&changes, n);
  }
  char was[256];
  read_selection(outdir, was, sizeof was);
  const char *now = s->opt->cells ? s->opt->cells : "all";
  if (!rc && was[0] && strcmp(was, now))
    rc = tsim_fail(err, TSIM_EINPUT,
                   "%s: the earlier run (no checkpoint yet) ran --cells %s, not %s; resume "
                   "with the same cells, or start anew with -o or --force", outdir, was, now);
  if (!rc)
    rc = same_weights(s->cfg, old->out_weights, outdir, "the earlier run (no checkpoint yet)",
                      err);
  d->config_hash = config_hash(old);
  d->ncells = s->cfg->ncells;
  d->done = tsim_xcalloc((size_t)d->ncells + 1, 1);
  free(old_text);
  free(new_text);
  config_destroy(&old);
  return rc;
}

/* Load OUTDIR's checkpoint into D and check that it was made with this
 * config and cells; *BEFORE: the old train.iterations if it grew (else -1). */
static int checkpoint_config(const opening *s, const char *outdir, ckpt_data *d,
                             long long *before, tsim_error *err) {
  char warning[TSIM_MSG_MAX];
  TSIM_TRY(ckpt_load(outdir, d, warning, sizeof warning, err));
  if (warning[0]) fprintf(stderr, "tsim: warning: %s\n", warning);
  char *now = checkpoint_text(s->cfg, s->opt->cells), changed[TSIM_MSG_MAX / 2];
  int rc = TSIM_OK;
  *before = -1;
  unsigned long long was = 0;
  const int input = changed_input(s->cfg, d->config_yaml, &was);
  if (input >= 0) {
    const tsim_input *in = &s->cfg->inputs[input];
    free(now);
    return tsim_fail(err, TSIM_EINPUT,
                     "%s: %s: %s changed since the checkpoint in %s (content hash %016llx, "
                     "now %016llx); resume with the same file, or start anew with -o or --force",
                     in->at, in->key, in->path, outdir, was, (unsigned long long)in->hash);
  }
  const int had = !strncmp(d->config_yaml, WEIGHTS_LINE, strlen(WEIGHTS_LINE)) ||
                  strstr(d->config_yaml, "\n" WEIGHTS_LINE);
  if (same_weights(s->cfg, had, outdir, "the checkpoint", err)) {
    free(now);
    return err->code;
  }
  drop_input_lines(now);
  drop_input_lines(d->config_yaml);
  if (strcmp(now, d->config_yaml)) {
    config_change *changes = NULL;
    const int n = config_changed_keys(d->config_yaml, now, &changes);
    config_changes_text(changes, n, changed, sizeof changed);
    if (!iterations_grew(s, changes, n, before)) {
      if (n == 0) snprintf(changed, sizeof changed, "--cells");
      rc = tsim_fail(err, TSIM_EINPUT,
                     "%s: the checkpoint was made with another config: %s changed; "
                     "resume with the same config (train.iterations may grow), or "
                     "start anew with -o or --force",
                     outdir, changed);
    }
    config_changes_free(&changes, n);
  }
  free(now);
  if (!rc && d->ncells != s->cfg->ncells)
    rc = tsim_fail(err, TSIM_EINPUT, "%s: the checkpoint's grid has %lld cells, not %lld",
                   outdir, (long long)d->ncells, (long long)s->cfg->ncells);
  return rc;
}

/* BY_STATUS[st] (st < NSTATUS): the finished cells of IDS of each status,
 * read from the tables and pending/ as a resume left them (for the tally
 * only: a table it cannot read leaves the counts at 0). */
static void count_finished(const opening *s, const int64_t *ids, int64_t nids,
                           int64_t *by_status, int nstatus) {
  const int64_t ncells = s->cfg->ncells;
  unsigned char *status = tsim_xcalloc((size_t)ncells + 1, 1);
  tsim_error ignored = {0};
  int rc = TSIM_OK;
  for (int st = CELL_PENDING + 1; st < nstatus && !rc; ++st)
    rc = mark_status(s->opt->outdir, output_status_name(st), ncells, status,
                     (unsigned char)st, &ignored);
  for (int64_t i = 0; i < nids && !rc; ++i)
    if (s->finished[ids[i]] && status[ids[i]] < nstatus) ++by_status[status[ids[i]]];
  free(status);
}

/* Continue OUTDIR from its checkpoint, if any, and from the cells finished
 * since (scan_tables): finished cells are left out of the order, running
 * ones resume from their saved state. */
static int open_resumed(opening *s, const int64_t *ids, int64_t nids, int64_t *by_status,
                        int nstatus, tsim_error *err) {
  const char *outdir = s->opt->outdir;
  char path[4400];
  snprintf(path, sizeof path, "%s/config.yaml", outdir);
  const int checkpoint = ckpt_any(outdir);
  if (!checkpoint && access(path, F_OK)) /* nothing there yet */
  {
    const int rc = output_open(s->cfg, outdir, 1, ids, nids, &s->out, err);
    return rc ? rc : write_selection(s, err);
  }
  ckpt_data d;
  memset(&d, 0, sizeof d);
  long long before = -1; /* train.iterations grew from it (0 too) */
  int rc = checkpoint ? checkpoint_config(s, outdir, &d, &before, err)
                      : same_config_as_before(s, outdir, &d, &before, err);
  if (!rc) {
    scan_tables(s->cfg, outdir, ids, nids, d.config_hash, d.done, &d.written, d.table_bytes,
                s->opt->log ? stdout : NULL);
    int64_t found = 0;
    for (int64_t i = 0; i < nids; ++i) found += d.done[ids[i]];
    if (before >= 0 && (found || d.nstates)) rc = extend_iterations(s, &d, before, ids, nids, err);
  }
  if (!rc)
    rc = cut_tables(s->cfg, outdir, ids, nids, d.done, d.written, d.table_bytes, d.config_hash,
                    &s->out, err);
  if (!rc) {
    memcpy(s->finished, d.done, (size_t)d.ncells);
    int64_t saved = 0;
    for (int64_t i = 0; i < d.nstates; ++i) {
      const int64_t cell = d.states[i].cell;
      if (cell < 0 || cell >= d.ncells || s->finished[cell] || s->resume_from[cell]) continue;
      s->resume_from[cell] = tsim_xmalloc(sizeof(cell_result));
      *s->resume_from[cell] = d.states[i];
      memset(&d.states[i], 0, sizeof d.states[i]);
      ++saved;
    }
    int64_t kept = 0, earlier = 0;
    for (int64_t i = 0; i < s->norder; ++i) {
      if (s->finished[s->order[i]]) ++earlier;
      else s->order[kept++] = s->order[i];
    }
    s->norder = kept;
    s->finished_before = earlier;
    if (earlier) count_finished(s, ids, nids, by_status, nstatus);
    if (s->opt->log && checkpoint)
      printf("tsim: resuming %s from checkpoint gen-%08lld: %lld cell%s finished, "
             "%lld to run (%lld from a saved state)\n",
             outdir, (long long)d.generation, (long long)earlier, earlier == 1 ? "" : "s",
             (long long)kept, (long long)saved);
    else if (s->opt->log)
      printf("tsim: resuming %s (no checkpoint): %lld cell%s finished, %lld to run\n", outdir,
             (long long)earlier, earlier == 1 ? "" : "s", (long long)kept);
  }
  ckpt_free(&d);
  return rc;
}

int resume_open(const tsim_config *cfg, const resume_options *opt, const int64_t *ids,
                int64_t nids, run_output **out, unsigned char *finished,
                cell_result **resume_from, int64_t *order, int64_t *norder, int64_t *earlier,
                int64_t *by_status, int nstatus, tsim_error *err) {
  opening s = {cfg, opt, NULL, finished, resume_from, order, *norder, 0};
  int rc = TSIM_OK;
  if (opt->resume) {
    rc = open_resumed(&s, ids, nids, by_status, nstatus, err);
  } else {
    if (opt->force) rc = ckpt_remove_all(opt->outdir, err);
    if (!rc) rc = output_open(cfg, opt->outdir, opt->force, ids, nids, &s.out, err);
    if (!rc) rc = write_selection(&s, err);
  }
  *out = s.out;
  *norder = s.norder;
  *earlier = s.finished_before;
  return rc;
}
