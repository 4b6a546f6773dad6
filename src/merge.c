/* merge.c - k-way merge of slice tables by cell id (see merge.h).
 *
 * Every table of a run directory is sorted by cell id, and one cell's rows
 * are contiguous, so merging the slices is a k-way merge on the leading
 * integer of each line that copies whole cells. */
#define _POSIX_C_SOURCE 200809L
#include "tsim/merge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsim/output.h"
#include "tsim/version.h"

typedef struct slice {
  const char *dir;
  FILE *f;
  char *line;
  size_t cap;
  long long id; /* of the current line, -1 at the end */
} slice;

static int read_file(const char *path, char **text, tsim_error *err) {
  FILE *f = fopen(path, "r");
  if (!f) return tsim_fail(err, TSIM_EINPUT, "%s: cannot read: %s", path, strerror(errno));
  size_t len = 0, cap = 4096;
  *text = tsim_xmalloc(cap);
  size_t got;
  while ((got = fread(*text + len, 1, cap - len - 1, f)) > 0) {
    len += got;
    if (cap - len - 1 == 0) *text = tsim_xrealloc(*text, cap *= 2);
  }
  (*text)[len] = '\0';
  fclose(f);
  return TSIM_OK;
}

/* Close F, written to PATH: a failed write (a full disk) is an error
 * naming the file. */
static int close_written(FILE *f, const char *path, tsim_error *err) {
  const int bad = ferror(f);
  if (fclose(f) || bad)
    return tsim_fail(err, TSIM_EFAIL, "%s: write failed: %s", path,
                     strerror(errno ? errno : EIO));
  return TSIM_OK;
}

/* The text of "key": "value" or "key": number in a manifest. */
static int manifest_field(const char *json, const char *key, char *out, size_t cap) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\": ", key);
  const char *at = strstr(json, pattern);
  if (!at) return 0;
  at += strlen(pattern);
  if (*at == '"') ++at;
  size_t n = strcspn(at, "\",\n");
  if (n >= cap) n = cap - 1;
  memcpy(out, at, n);
  out[n] = '\0';
  return 1;
}

static void advance(slice *s) {
  if (getline(&s->line, &s->cap, s->f) < 0) {
    s->id = -1;
    return;
  }
  s->id = strtoll(s->line, NULL, 10);
}

/* Merge TABLE of every slice into OUT; counts cells when COUNT. */
static int merge_table(const char *outdir, const char *table, char *const *dirs,
                       int n, long long ncells, int count_cells, tsim_error *err) {
  slice *s = tsim_xcalloc((size_t)n, sizeof *s);
  char path[4400], *header = NULL;
  int rc = TSIM_OK;
  for (int i = 0; i < n && !rc; ++i) {
    s[i].dir = dirs[i];
    snprintf(path, sizeof path, "%s/%s", dirs[i], table);
    if (!(s[i].f = fopen(path, "r"))) {
      rc = tsim_fail(err, TSIM_EINPUT, "%s: cannot read: %s", path, strerror(errno));
      break;
    }
    if (getline(&s[i].line, &s[i].cap, s[i].f) < 0) {
      rc = tsim_fail(err, TSIM_EINPUT, "%s: empty table (no header)", path);
      break;
    }
    if (!header) header = tsim_xstrdup(s[i].line);
    else if (strcmp(header, s[i].line))
      rc = tsim_fail(err, TSIM_EINPUT, "%s: its columns differ from %s/%s", path,
                     dirs[0], table);
    advance(&s[i]);
  }
  FILE *out = NULL;
  if (!rc) {
    snprintf(path, sizeof path, "%s/%s", outdir, table);
    if (!(out = fopen(path, "w")))
      rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
    else
      fputs(header, out);
  }
  long long expect = 0, last = -1;
  while (!rc) {
    int best = -1;
    for (int i = 0; i < n; ++i)
      if (s[i].id >= 0 && (best < 0 || s[i].id < s[best].id)) best = i;
    if (best < 0) break;
    const long long id = s[best].id;
    if (id == last) {
      rc = tsim_fail(err, TSIM_EINPUT, "%s: cell %lld is in more than one slice (%s)",
                     table, id, s[best].dir);
      break;
    }
    if (count_cells && id != expect) {
      rc = tsim_fail(err, TSIM_EINPUT,
                     "cell %lld is in no slice: the slices do not cover the grid", expect);
      break;
    }
    while (s[best].id == id) {
      fputs(s[best].line, out);
      advance(&s[best]);
    }
    last = id;
    expect = id + 1;
  }
  if (!rc && count_cells && expect != ncells)
    rc = tsim_fail(err, TSIM_EINPUT,
                   "cell %lld is in no slice: the slices do not cover the grid (%lld cells)",
                   expect, ncells);
  if (out) {
    snprintf(path, sizeof path, "%s/%s", outdir, table);
    tsim_error werr = {0};
    if (close_written(out, path, &werr) && !rc) {
      rc = werr.code;
      *err = werr;
    }
  }
  for (int i = 0; i < n; ++i) {
    if (s[i].f) fclose(s[i].f);
    free(s[i].line);
  }
  free(s);
  free(header);
  return rc;
}

/* TMP/config.yaml: the config.yaml of slice FIRST, naming OUTDIR as its
 * output directory. */
static int write_config(const char *first, const char *tmp, const char *outdir,
                        tsim_error *err) {
  char *yaml = NULL, path[4400];
  snprintf(path, sizeof path, "%s/config.yaml", first);
  TSIM_TRY(read_file(path, &yaml, err));
  snprintf(path, sizeof path, "%s/config.yaml", tmp);
  FILE *f = fopen(path, "w");
  if (!f) {
    free(yaml);
    return tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
  }
  for (char *line = yaml; *line;) {
    char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line + 1) : strlen(line);
    if (!strncmp(line, "  dir: ", 7))
      fprintf(f, "  dir: \"%s\"\n", outdir);
    else
      fwrite(line, 1, len, f);
    line += len;
  }
  free(yaml);
  return close_written(f, path, err);
}

/* TMP/manifest.json of the merged run: complete, where it came from, and
 * the slices' provenance: the earliest start, the ranks and wall time
 * summed over the slices, their hosts. */
static int write_manifest(const char *tmp, const char *hash, long long ncells,
                          char *const *dirs, int n, tsim_error *err) {
  char path[4400], start[256] = "", hosts[1024] = "";
  long long ranks = 0;
  double wall = 0.0;
  for (int i = 0; i < n; ++i) {
    char *json = NULL, v[256];
    snprintf(path, sizeof path, "%s/manifest.json", dirs[i]);
    TSIM_TRY(read_file(path, &json, err));
    if (manifest_field(json, "start", v, sizeof v) && (!start[0] || strcmp(v, start) < 0))
      snprintf(start, sizeof start, "%s", v);
    if (manifest_field(json, "ranks", v, sizeof v)) ranks += strtoll(v, NULL, 10);
    if (manifest_field(json, "wall_s", v, sizeof v)) wall += strtod(v, NULL);
    if (manifest_field(json, "hosts", v, sizeof v)) /* each host once */
      for (char *h = strtok(v, ","); h; h = strtok(NULL, ",")) {
        char padded[1100], have[1100];
        snprintf(padded, sizeof padded, ",%s,", h);
        snprintf(have, sizeof have, ",%s,", hosts);
        if (!strstr(have, padded) && strlen(hosts) + strlen(h) + 2 < sizeof hosts)
          snprintf(hosts + strlen(hosts), sizeof hosts - strlen(hosts), "%s%s",
                   hosts[0] ? "," : "", h);
      }
    free(json);
  }
  snprintf(path, sizeof path, "%s/manifest.json", tmp);
  FILE *f = fopen(path, "w");
  if (!f) return tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
  fprintf(f, "{\n  \"tsim_version\": \"%s\",\n  \"git_commit\": \"%s\",\n"
             "  \"config_hash\": \"%s\",\n  \"cells_total\": %lld,\n"
             "  \"start\": \"%s\",\n  \"ranks\": %lld,\n  \"hosts\": \"%s\",\n"
             "  \"wall_s\": %.3f,\n"
             "  \"status\": \"complete\",\n  \"merged_from\": [",
          TSIM_VERSION, TSIM_GIT_COMMIT, hash, ncells, start, ranks, hosts, wall);
  for (int i = 0; i < n; ++i) fprintf(f, "%s\"%s\"", i ? ", " : "", dirs[i]);
  fprintf(f, "]\n}\n");
  return close_written(f, path, err);
}

/* DIR and the files in it removed (no error if there is no DIR). */
static int remove_dir(const char *dir, tsim_error *err) {
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT ? TSIM_OK
                                 : tsim_fail(err, TSIM_EFAIL, "%s: cannot list: %s", dir,
                                             strerror(errno));
  char path[4800];
  struct dirent *e;
  int rc = TSIM_OK;
  while ((e = readdir(d)) && !rc) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (unlink(path))
      rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot remove: %s", path, strerror(errno));
  }
  closedir(d);
  if (!rc && rmdir(dir))
    rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot remove: %s", dir, strerror(errno));
  return rc;
}

/* FROM copied to TO. */
static int copy_file(const char *from, const char *to, tsim_error *err) {
  FILE *in = fopen(from, "rb");
  if (!in) return tsim_fail(err, TSIM_EINPUT, "%s: cannot read: %s", from, strerror(errno));
  FILE *out = fopen(to, "wb");
  if (!out) {
    fclose(in);
    return tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", to, strerror(errno));
  }
  char buf[65536];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, got, out);
  const int bad = ferror(in);
  fclose(in);
  if (bad) {
    fclose(out);
    return tsim_fail(err, TSIM_EINPUT, "%s: read failed", from);
  }
  return close_written(out, to, err);
}

/* output.weights: the .npy files of every slice's weights/ copied into
 * TMP/weights (a cell's files come from the one slice that ran it). */
static int merge_weights(const char *tmp, char *const *dirs, int n, tsim_error *err) {
  char into[4300], from[4800], to[4800];
  snprintf(into, sizeof into, "%s/weights", tmp);
  if (mkdir(into, 0777) && errno != EEXIST)
    return tsim_fail(err, TSIM_EFAIL, "%s: cannot create: %s", into, strerror(errno));
  int rc = TSIM_OK;
  for (int i = 0; i < n && !rc; ++i) {
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/weights", dirs[i]);
    DIR *d = opendir(dir);
    if (!d) return tsim_fail(err, TSIM_EINPUT, "%s: cannot list: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) && !rc) {
      const size_t len = strlen(e->d_name);
      if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".npy")) continue;
      snprintf(from, sizeof from, "%s/%s", dir, e->d_name);
      snprintf(to, sizeof to, "%s/%s", into, e->d_name);
      struct stat st;
      if (!stat(to, &st))
        rc = tsim_fail(err, TSIM_EINPUT, "weights/%s is in more than one slice (%s)",
                       e->d_name, dirs[i]);
      else
        rc = copy_file(from, to, err);
    }
    closedir(d);
  }
  return rc;
}

int merge_runs(const char *outdir, char *const *dirs, int n, int force,
               tsim_error *err) {
  if (n < 1) return tsim_fail(err, TSIM_EINPUT, "tsim merge: no slice directories given");
  char hash0[64] = "", total0[64] = "", path[4400];
  int with_table[NTABLES] = {0}, with_weights = 0;
  for (int i = 0; i < n; ++i) {
    char *json = NULL, hash[64], total[64], status[64] = "";
    snprintf(path, sizeof path, "%s/manifest.json", dirs[i]);
    TSIM_TRY(read_file(path, &json, err));
    int ok = manifest_field(json, "config_hash", hash, sizeof hash) &&
             manifest_field(json, "cells_total", total, sizeof total);
    manifest_field(json, "status", status, sizeof status);
    free(json);
    if (!ok)
      return tsim_fail(err, TSIM_EINPUT, "%s: not a tsim manifest (no config_hash)", path);
    if (strcmp(status, "complete"))
      return tsim_fail(err, TSIM_EINPUT, "%s: the slice did not complete (status %s)",
                       dirs[i], status[0] ? status : "unknown");
    if (i == 0) {
      snprintf(hash0, sizeof hash0, "%s", hash);
      snprintf(total0, sizeof total0, "%s", total);
    } else if (strcmp(hash, hash0)) {
      return tsim_fail(err, TSIM_EINPUT,
                       "%s: comes from another config than %s (config_hash %s vs %s)",
                       dirs[i], dirs[0], hash, hash0);
    }
    for (int t = 0; t < NTABLES; ++t) {
      snprintf(path, sizeof path, "%s/%s.csv", dirs[i], output_table_name(t));
      const int has = access(path, R_OK) == 0;
      if (i == 0) with_table[t] = has;
      else if (has != with_table[t])
        return tsim_fail(err, TSIM_EINPUT, "%s: %s.csv %s, unlike %s", dirs[i],
                         output_table_name(t), has ? "present" : "missing", dirs[0]);
    }
    snprintf(path, sizeof path, "%s/weights", dirs[i]);
    const int has = access(path, R_OK) == 0;
    if (i == 0) with_weights = has;
    else if (has != with_weights)
      return tsim_fail(err, TSIM_EINPUT, "%s: weights/ %s, unlike %s", dirs[i],
                       has ? "present" : "missing", dirs[0]);
  }
  struct stat st;
  static const char *const others[] = {"config.yaml", "manifest.json", "weights"};
  for (int i = 0; i < NTABLES + 3; ++i) {
    if (i < NTABLES)
      snprintf(path, sizeof path, "%s/%s.csv", outdir, output_table_name(i));
    else
      snprintf(path, sizeof path, "%s/%s", outdir, others[i - NTABLES]);
    if (stat(path, &st) == 0 && !force)
      return tsim_fail(err, TSIM_EINPUT,
                       "%s: holds the results of an earlier run (%s); use --force",
                       outdir, strrchr(path, '/') + 1);
  }
  if (mkdir(outdir, 0777) && errno != EEXIST)
    return tsim_fail(err, TSIM_EFAIL, "%s: cannot create: %s", outdir, strerror(errno));
  if (!with_table[TABLE_CELLS])
    return tsim_fail(err, TSIM_EINPUT, "%s/cells.csv: cannot read: %s", dirs[0], strerror(ENOENT));
  /* Everything is written into OUTDIR/.merge-tmp and renamed into OUTDIR
   * only when all of it is whole: a failed merge (a missing or duplicated
   * slice, a full disk) leaves OUTDIR as it was. */
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s/.merge-tmp", outdir);
  if (mkdir(tmp, 0777) && errno != EEXIST)
    return tsim_fail(err, TSIM_EFAIL, "%s: cannot create: %s", tmp, strerror(errno));
  char names[NTABLES + 2][64];
  int nnames = 0, rc = TSIM_OK;
  const long long ncells = strtoll(total0, NULL, 10);
  for (int t = 0; t < NTABLES && !rc; ++t) {
    if (!with_table[t]) continue;
    snprintf(names[nnames], sizeof names[0], "%s.csv", output_table_name(t));
    rc = merge_table(tmp, names[nnames++], dirs, n, ncells, t == TABLE_CELLS, err);
  }
  if (!rc && with_weights) rc = merge_weights(tmp, dirs, n, err);
  if (!rc) {
    snprintf(names[nnames++], sizeof names[0], "config.yaml");
    rc = write_config(dirs[0], tmp, outdir, err);
  }
  if (!rc) {
    snprintf(names[nnames++], sizeof names[0], "manifest.json");
    rc = write_manifest(tmp, hash0, ncells, dirs, n, err);
  }
  char from[4800], to[4800];
  for (int i = 0; i < nnames && !rc; ++i) {
    snprintf(from, sizeof from, "%s/%s", tmp, names[i]);
    snprintf(to, sizeof to, "%s/%s", outdir, names[i]);
    if (rename(from, to))
      rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot rename to %s: %s", from, to, strerror(errno));
  }
  for (int t = 0; t < NTABLES && !rc; ++t) { /* --force: an earlier run's other tables go */
    if (with_table[t]) continue;
    snprintf(to, sizeof to, "%s/%s.csv", outdir, output_table_name(t));
    if (unlink(to) && errno != ENOENT)
      rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot remove: %s", to, strerror(errno));
  }
  snprintf(from, sizeof from, "%s/weights", tmp);
  snprintf(to, sizeof to, "%s/weights", outdir);
  if (!rc) rc = remove_dir(to, err); /* --force: an earlier run's go */
  if (!rc && with_weights && rename(from, to))
    rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot rename to %s: %s", from, to, strerror(errno));
  if (with_weights) remove_dir(from, &(tsim_error){0}); /* what a failure left */
  for (int i = 0; i < nnames; ++i) { /* what a failure left */
    snprintf(from, sizeof from, "%s/%s", tmp, names[i]);
    unlink(from);
  }
  rmdir(tmp);
  return rc;
}
