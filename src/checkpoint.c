/* checkpoint.c - see checkpoint.h. */
#define _POSIX_C_SOURCE 200809L
#include "tsim/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsim/fault.h"

#define MAGIC "TSIMCKP1"
#define KEEP_GENERATIONS 2

static uint64_t fnv1a(const unsigned char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

/* ------------------------------------------------------------ buffers */

typedef struct buf {
  unsigned char *p;
  size_t len, cap;
} buf;

static void put(buf *b, const void *data, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 256;
    b->p = tsim_xrealloc(b->p, b->cap);
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

static void put_i64(buf *b, int64_t v) { put(b, &v, sizeof v); }

typedef struct reader {
  const unsigned char *p;
  size_t len, at;
  int bad;
} reader;

static void get(reader *r, void *out, size_t n) {
  if (r->bad || r->at + n > r->len) {
    r->bad = 1;
    memset(out, 0, n);
    return;
  }
  memcpy(out, r->p + r->at, n);
  r->at += n;
}

static int64_t get_i64(reader *r) {
  int64_t v;
  get(r, &v, sizeof v);
  return v;
}

/* -------------------------------------------------------------- files */

static int write_synced(const char *path, const void *data, size_t n,
                        uint64_t *sum, tsim_error *err) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
  const unsigned char *p = data;
  size_t left = n;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return tsim_fail(err, TSIM_EFAIL, "%s: write failed: %s", path, strerror(e));
    }
    p += w;
    left -= (size_t)w;
  }
  if (fsync(fd)) {
    int e = errno;
    close(fd);
    return tsim_fail(err, TSIM_EFAIL, "%s: fsync failed: %s", path, strerror(e));
  }
  if (close(fd)) return tsim_fail(err, TSIM_EFAIL, "%s: close failed: %s", path, strerror(errno));
  if (sum) *sum = fnv1a(data, n);
  return TSIM_OK;
}

static int fsync_dir(const char *path, tsim_error *err) {
  int fd = open(path, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return tsim_fail(err, TSIM_EFAIL, "%s: cannot open: %s", path, strerror(errno));
  int rc = fsync(fd) ? tsim_fail(err, TSIM_EFAIL, "%s: fsync failed: %s", path, strerror(errno))
                     : TSIM_OK;
  close(fd);
  return rc;
}

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char path[4400];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (unlink(path) && errno == EISDIR) remove_tree(path); /* a generation */
  }
  closedir(d);
  rmdir(dir);
}

static int read_all(const char *path, unsigned char **data, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t cap = 65536;
  *data = tsim_xmalloc(cap);
  *n = 0;
  size_t got;
  while ((got = fread(*data + *n, 1, cap - *n, f)) > 0) {
    *n += got;
    if (*n == cap) *data = tsim_xrealloc(*data, cap *= 2);
  }
  fclose(f);
  return 0;
}

/* Generations present, newest first. */
static int64_t list_generations(const char *outdir, int64_t **gens) {
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/checkpoint", outdir);
  *gens = NULL;
  DIR *d = opendir(dir);
  if (!d) return 0;
  int64_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    long long g;
    char tail;
    if (sscanf(e->d_name, "gen-%lld%c", &g, &tail) != 1) continue;
    if (n == cap) *gens = tsim_xrealloc(*gens, (size_t)(cap = cap ? 2 * cap : 8) * sizeof(int64_t));
    (*gens)[n++] = g;
  }
  closedir(d);
  for (int64_t i = 0; i < n; ++i) /* newest first */
    for (int64_t j = i + 1; j < n; ++j)
      if ((*gens)[j] > (*gens)[i]) {
        int64_t t = (*gens)[i];
        (*gens)[i] = (*gens)[j];
        (*gens)[j] = t;
      }
  return n;
}

int ckpt_any(const char *outdir) {
  int64_t *gens;
  int64_t n = list_generations(outdir, &gens);
  free(gens);
  return n > 0;
}

int ckpt_remove_all(const char *outdir, tsim_error *err) {
  char root[4200];
  snprintf(root, sizeof root, "%s/checkpoint", outdir);
  remove_tree(root);
  if (!access(root, F_OK))
    return tsim_fail(err, TSIM_EFAIL, "%s: cannot remove the earlier run's checkpoints", root);
  return TSIM_OK;
}

/* --------------------------------------------------------------- write */

int ckpt_commit(const char *outdir, ckpt_data *d, tsim_error *err) {
  char root[4200], tmp[4300], final[4300], path[4400];
  snprintf(root, sizeof root, "%s/checkpoint", outdir);
  if (mkdir(root, 0777) && errno != EEXIST)
    return tsim_fail(err, TSIM_EFAIL, "%s: cannot create: %s", root, strerror(errno));
  int64_t *gens;
  int64_t ngens = list_generations(outdir, &gens);
  d->generation = ngens ? gens[0] + 1 : 0;
  snprintf(tmp, sizeof tmp, "%s/.tmp-gen-%08lld", root, (long long)d->generation);
  snprintf(final, sizeof final, "%s/gen-%08lld", root, (long long)d->generation);
  remove_tree(tmp); /* a leftover of a crash during an earlier write */
  fault_checkpoint_begin();
  if (mkdir(tmp, 0777)) {
    free(gens);
    return tsim_fail(err, TSIM_EFAIL, "%s: cannot create: %s", tmp, strerror(errno));
  }
  buf b = {0};
  put(&b, MAGIC, 8);
  put_i64(&b, (int64_t)d->config_hash);
  put_i64(&b, d->generation);
  put_i64(&b, d->ncells);
  put_i64(&b, d->written);
  put_i64(&b, NTABLES);
  for (int i = 0; i < NTABLES; ++i) put_i64(&b, d->table_bytes[i]);
  put(&b, d->done, (size_t)d->ncells);
  put_i64(&b, d->nstates);
  void *packed = NULL;
  size_t cap = 0;
  for (int64_t i = 0; i < d->nstates; ++i) {
    const size_t len = cell_result_pack(&d->states[i], &packed, &cap);
    put_i64(&b, (int64_t)len);
    put(&b, packed, len);
  }
  free(packed);
  uint64_t sum_state = 0, sum_config = 0;
  snprintf(path, sizeof path, "%s/state.bin", tmp);
  int rc = write_synced(path, b.p, b.len, &sum_state, err);
  const size_t ylen = d->config_yaml ? strlen(d->config_yaml) : 0;
  snprintf(path, sizeof path, "%s/config.yaml", tmp);
  if (!rc) rc = write_synced(path, d->config_yaml ? d->config_yaml : "", ylen, &sum_config, err);
  if (!rc) {
    char sums[256];
    int n = snprintf(sums, sizeof sums, "%016llx %zu state.bin\n%016llx %zu config.yaml\n",
                     (unsigned long long)sum_state, b.len,
                     (unsigned long long)sum_config, ylen);
    snprintf(path, sizeof path, "%s/SUMS", tmp);
    rc = write_synced(path, sums, (size_t)n, NULL, err);
  }
  free(b.p);
  if (!rc) rc = fault_at_checkpoint(outdir, FAULT_CKPT_WRITTEN, err);
  if (!rc) rc = fsync_dir(tmp, err);
  if (!rc) rc = fault_at_checkpoint(outdir, FAULT_CKPT_SYNCED, err);
  if (!rc && rename(tmp, final))
    rc = tsim_fail(err, TSIM_EFAIL, "%s: rename failed: %s", final, strerror(errno));
  if (!rc) rc = fault_at_checkpoint(outdir, FAULT_CKPT_RENAMED, err);
  if (!rc) rc = fsync_dir(root, err);
  if (rc) {
    remove_tree(tmp);
    free(gens);
    return rc;
  }
  /* keep the previous generation, drop older ones */
  for (int64_t i = KEEP_GENERATIONS - 1; i < ngens; ++i) {
    snprintf(path, sizeof path, "%s/gen-%08lld", root, (long long)gens[i]);
    remove_tree(path);
  }
  free(gens);
  return fault_at_checkpoint(outdir, FAULT_CKPT_COMMITTED, err);
}

/* ---------------------------------------------------------------- read */

/* Check SUMS and parse one generation; a one-line reason on failure. */
static int load_generation(const char *dir, ckpt_data *d, char *why, size_t cap) {
  char path[4400];
  unsigned char *sums = NULL, *state = NULL, *yaml = NULL;
  size_t nsums = 0, nstate = 0, nyaml = 0;
  int ok = 0;
  snprintf(path, sizeof path, "%s/SUMS", dir);
  if (read_all(path, &sums, &nsums)) {
    snprintf(why, cap, "SUMS missing");
    goto out;
  }
  sums = tsim_xrealloc(sums, nsums + 1);
  sums[nsums] = '\0';
  unsigned long long want_state, want_yaml;
  size_t len_state, len_yaml;
  if (sscanf((char *)sums, "%llx %zu state.bin\n%llx %zu config.yaml", &want_state,
             &len_state, &want_yaml, &len_yaml) != 4) {
    snprintf(why, cap, "SUMS unreadable");
    goto out;
  }
  snprintf(path, sizeof path, "%s/state.bin", dir);
  if (read_all(path, &state, &nstate)) {
    snprintf(why, cap, "state.bin missing");
    goto out;
  }
  if (nstate != len_state || fnv1a(state, nstate) != want_state) {
    snprintf(why, cap, "state.bin fails its checksum (%zu bytes, expected %zu)", nstate,
             len_state);
    goto out;
  }
  snprintf(path, sizeof path, "%s/config.yaml", dir);
  if (read_all(path, &yaml, &nyaml)) {
    snprintf(why, cap, "config.yaml missing");
    goto out;
  }
  if (nyaml != len_yaml || fnv1a(yaml, nyaml) != want_yaml) {
    snprintf(why, cap, "config.yaml fails its checksum");
    goto out;
  }
  reader r = {state, nstate, 0, 0};
  char magic[8];
  get(&r, magic, 8);
  if (memcmp(magic, MAGIC, 8)) {
    snprintf(why, cap, "state.bin: not a tsim checkpoint");
    goto out;
  }
  memset(d, 0, sizeof *d);
  d->config_hash = (uint64_t)get_i64(&r);
  d->generation = get_i64(&r);
  d->ncells = get_i64(&r);
  d->written = get_i64(&r);
  if (get_i64(&r) != NTABLES) r.bad = 1; /* another tsim version's tables */
  for (int i = 0; i < NTABLES && !r.bad; ++i) d->table_bytes[i] = get_i64(&r);
  if (r.bad || d->ncells < 0 || (size_t)d->ncells > nstate) {
    snprintf(why, cap, "state.bin: malformed");
    goto out;
  }
  d->done = tsim_xmalloc((size_t)d->ncells + 1);
  get(&r, d->done, (size_t)d->ncells);
  d->nstates = get_i64(&r);
  if (r.bad || d->nstates < 0 || (size_t)d->nstates > nstate) {
    snprintf(why, cap, "state.bin: malformed");
    goto out;
  }
  d->states = tsim_xcalloc((size_t)d->nstates + 1, sizeof(cell_result));
  for (int64_t i = 0; i < d->nstates && !r.bad; ++i) {
    const int64_t len = get_i64(&r);
    if (r.bad || len < 0 || r.at + (size_t)len > nstate ||
        cell_result_unpack(state + r.at, (size_t)len, &d->states[i])) {
      r.bad = 1;
      break;
    }
    r.at += (size_t)len;
  }
  if (r.bad || r.at != nstate) {
    snprintf(why, cap, "state.bin: malformed");
    goto out;
  }
  d->config_yaml = tsim_xmalloc(nyaml + 1);
  memcpy(d->config_yaml, yaml, nyaml);
  d->config_yaml[nyaml] = '\0';
  ok = 1;
out:
  free(sums);
  free(state);
  free(yaml);
  if (!ok) ckpt_free(d);
  return ok ? TSIM_OK : TSIM_EINPUT;
}

int ckpt_load(const char *outdir, ckpt_data *d, char *warning, size_t wcap,
              tsim_error *err) {
  memset(d, 0, sizeof *d);
  warning[0] = '\0';
  int64_t *gens;
  const int64_t n = list_generations(outdir, &gens);
  char reasons[TSIM_MSG_MAX] = "";
  size_t used = 0;
  for (int64_t i = 0; i < n; ++i) {
    char dir[4300], why[256];
    snprintf(dir, sizeof dir, "%s/checkpoint/gen-%08lld", outdir, (long long)gens[i]);
    if (load_generation(dir, d, why, sizeof why) == TSIM_OK) {
      if (i > 0)
        snprintf(warning, wcap,
                 "%s/checkpoint: newest generation is damaged (%s); resuming from gen-%08lld",
                 outdir, reasons, (long long)gens[i]);
      free(gens);
      return TSIM_OK;
    }
    int m = snprintf(reasons + used, sizeof reasons - used, "%sgen-%08lld: %s",
                     used ? "; " : "", (long long)gens[i], why);
    if (m > 0 && used + (size_t)m < sizeof reasons) used += (size_t)m;
  }
  free(gens);
  if (n == 0)
    return tsim_fail(err, TSIM_EINPUT, "%s/checkpoint: no checkpoint to resume from", outdir);
  return tsim_fail(err, TSIM_EINPUT, "%s/checkpoint: no valid checkpoint (%s); nothing was deleted",
                   outdir, reasons);
}

void ckpt_free(ckpt_data *d) {
  for (int64_t i = 0; i < d->nstates; ++i) cell_result_free(&d->states[i]);
  free(d->states);
  free(d->done);
  free(d->config_yaml);
  memset(d, 0, sizeof *d);
}
