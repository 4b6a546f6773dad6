/* npy.c - NumPy .npy files (numpy.lib.format, versions 1.0-3.0): a magic
 * string, a version, a header length, and a Python dict literal
 * {'descr': '<f8', 'fortran_order': False, 'shape': (n, d), } padded with
 * spaces to a multiple of 64 bytes and ending in '\n'. tsim reads and writes
 * only little-endian float64 in C order, 1-d or 2-d. */
#define _FILE_OFFSET_BITS 64
#define _POSIX_C_SOURCE 200809L
#include "tsim/npy.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* The value text after 'key': in the header dict, or NULL. */
static const char *dict_value(const char *dict, const char *key) {
  char pattern[64];
  for (int quote = 0; quote < 2; ++quote) {
    snprintf(pattern, sizeof pattern, quote ? "\"%s\"" : "'%s'", key);
    const char *at = strstr(dict, pattern);
    if (!at) continue;
    at += strlen(pattern);
    while (isspace((unsigned char)*at)) ++at;
    if (*at != ':') return NULL;
    ++at;
    while (isspace((unsigned char)*at)) ++at;
    return at;
  }
  return NULL;
}

static int parse_dict(const char *path, const char *dict, npy_info *info,
                      tsim_error *err) {
  const char *descr = dict_value(dict, "descr");
  const char *order = dict_value(dict, "fortran_order");
  const char *shape = dict_value(dict, "shape");
  if (!descr || !order || !shape)
    return tsim_fail(err, TSIM_EINPUT,
                     "%s: malformed .npy header (need descr, fortran_order, shape)",
                     path);
  char q = *descr;
  if (q == '[')
    return tsim_fail(err, TSIM_EINPUT,
                     "%s: structured dtype is not supported (need float64 '<f8')",
                     path);
  if (q != '\'' && q != '"')
    return tsim_fail(err, TSIM_EINPUT, "%s: malformed .npy header (descr)", path);
  const char *end = strchr(descr + 1, q);
  if (!end)
    return tsim_fail(err, TSIM_EINPUT, "%s: malformed .npy header (descr)", path);
  int dlen = (int)(end - descr - 1);
  if (dlen != 3 || strncmp(descr + 1, "<f8", 3))
    return tsim_fail(err, TSIM_EINPUT,
                     "%s: dtype '%.*s' is not supported (need float64 '<f8')",
                     path, dlen, descr + 1);
  if (!strncmp(order, "True", 4))
    return tsim_fail(err, TSIM_EINPUT,
                     "%s: Fortran order is not supported (need C order)", path);
  if (strncmp(order, "False", 5))
    return tsim_fail(err, TSIM_EINPUT, "%s: malformed .npy header (fortran_order)",
                     path);
  if (*shape != '(')
    return tsim_fail(err, TSIM_EINPUT, "%s: malformed .npy header (shape)", path);
  int64_t dims[8];
  int ndim = 0;
  const char *p = shape + 1;
  for (;;) {
    while (isspace((unsigned char)*p)) ++p;
    if (*p == ')') break;
    char *stop;
    errno = 0;
    long long v = strtoll(p, &stop, 10);
    if (stop == p || errno || v < 0)
      return tsim_fail(err, TSIM_EINPUT, "%s: malformed .npy header (shape)", path);
    if (ndim < 8) dims[ndim] = v;
    ++ndim;
    p = stop;
    if (*p == 'L') ++p; /* Python 2 long, as numpy's own reader allows */
    while (isspace((unsigned char)*p)) ++p;
    if (*p == ',') ++p;
    else if (*p != ')')
      return tsim_fail(err, TSIM_EINPUT, "%s: malformed .npy header (shape)", path);
  }
  if (ndim < 1 || ndim > 2)
    return tsim_fail(err, TSIM_EINPUT,
                     "%s: %d-d array is not supported (need 1-d or 2-d)", path,
                     ndim);
  info->ndim = ndim;
  info->shape[0] = dims[0];
  info->shape[1] = ndim == 2 ? dims[1] : 1;
  /* rows * cols * 8 must fit in int64_t (and so in off_t) */
  const int64_t limit = INT64_MAX / 8;
  if (info->shape[1] > limit ||
      (info->shape[1] > 0 && info->shape[0] > limit / info->shape[1]))
    return tsim_fail(err, TSIM_EINPUT,
                     "%s: shape (%lld, %lld) is too large (more than 2^60 values)",
                     path, (long long)info->shape[0], (long long)info->shape[1]);
  return TSIM_OK;
}

int npy_read_header(const char *path, npy_info *info, tsim_error *err) {
  memset(info, 0, sizeof *info);
  FILE *f = fopen(path, "rb");
  if (!f)
    return tsim_fail(err, TSIM_EINPUT, "%s: cannot open: %s", path,
                     strerror(errno));
  unsigned char pre[12];
  int rc = TSIM_OK;
  size_t got = fread(pre, 1, 10, f);
  if (got < 10 || memcmp(pre, magic, 6)) {
    fclose(f);
    return tsim_fail(err, TSIM_EINPUT, "%s: not a .npy file (bad magic)", path);
  }
  const int major = pre[6];
  uint32_t hlen;
  int64_t prefix;
  if (major == 1) {
    hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
    prefix = 10;
  } else if (major == 2 || major == 3) {
    if (fread(pre + 10, 1, 2, f) != 2) {
      fclose(f);
      return tsim_fail(err, TSIM_EINPUT, "%s: truncated .npy header", path);
    }
    hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 |
           (uint32_t)pre[11] << 24;
    prefix = 12;
  } else {
    fclose(f);
    return tsim_fail(err, TSIM_EINPUT,
                     "%s: .npy format version %d is not supported (1, 2 or 3)",
                     path, major);
  }
  if (hlen > (1u << 24)) {
    fclose(f);
    return tsim_fail(err, TSIM_EINPUT, "%s: malformed .npy header (length)", path);
  }
  char *dict = tsim_xmalloc(hlen + 1);
  if (fread(dict, 1, hlen, f) != hlen) {
    rc = tsim_fail(err, TSIM_EINPUT, "%s: truncated .npy header", path);
  } else {
    dict[hlen] = '\0';
    rc = parse_dict(path, dict, info, err);
  }
  free(dict);
  if (!rc) {
    info->data_offset = prefix + hlen;
    struct stat st;
    const int64_t need = info->shape[0] * info->shape[1] * 8;
    char dims[64];
    if (info->ndim == 2)
      snprintf(dims, sizeof dims, "%lldx%lld", (long long)info->shape[0],
               (long long)info->shape[1]);
    else
      snprintf(dims, sizeof dims, "%lld", (long long)info->shape[0]);
    if (fstat(fileno(f), &st) != 0)
      rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot stat: %s", path, strerror(errno));
    else if (st.st_size - info->data_offset < need)
      rc = tsim_fail(err, TSIM_EINPUT,
                     "%s: file is truncated (header says %s float64, "
                     "file holds %lld bytes of data)",
                     path, dims, (long long)(st.st_size - info->data_offset));
  }
  fclose(f);
  return rc;
}

int npy_read_rows(const char *path, const npy_info *info, int64_t row_begin,
                  int64_t row_end, double *out, tsim_error *err) {
  if (row_begin < 0 || row_end < row_begin || row_end > info->shape[0])
    return tsim_fail(err, TSIM_EINPUT, "%s: rows [%lld, %lld) out of range (%lld rows)",
                     path, (long long)row_begin, (long long)row_end,
                     (long long)info->shape[0]);
  const uint16_t probe = 1; /* the data are little-endian doubles */
  if (*(const unsigned char *)&probe != 1)
    return tsim_fail(err, TSIM_EFAIL, "%s: big-endian hosts are not supported", path);
  const size_t count = (size_t)((row_end - row_begin) * info->shape[1]);
  if (count == 0) return TSIM_OK;
  FILE *f = fopen(path, "rb");
  if (!f)
    return tsim_fail(err, TSIM_EFAIL, "%s: cannot open: %s", path, strerror(errno));
  int rc = TSIM_OK;
  const off_t at = (off_t)(info->data_offset + row_begin * info->shape[1] * 8);
  if (fseeko(f, at, SEEK_SET) || fread(out, sizeof(double), count, f) != count)
    rc = tsim_fail(err, TSIM_EFAIL, "%s: read of rows [%lld, %lld) failed%s%s", path,
                   (long long)row_begin, (long long)row_end,
                   ferror(f) ? ": " : " (file shorter than its header says)",
                   ferror(f) ? strerror(errno) : "");
  fclose(f);
  return rc;
}

int npy_write(const char *path, int ndim, const int64_t *shape,
              const double *data, tsim_error *err) {
  if (ndim < 1 || ndim > 2)
    return tsim_fail(err, TSIM_EFAIL, "%s: npy_write supports 1-d and 2-d", path);
  const int64_t cols = ndim == 2 ? shape[1] : 1;
  if (shape[0] < 0 || cols < 0 ||
      (cols > 0 && shape[0] > (int64_t)(SIZE_MAX / 8) / cols))
    return tsim_fail(err, TSIM_EFAIL, "%s: npy_write: bad shape (%lld, %lld)", path,
                     (long long)shape[0], (long long)cols);
  char dict[256];
  int len;
  if (ndim == 1)
    len = snprintf(dict, sizeof dict,
                   "{'descr': '<f8', 'fortran_order': False, 'shape': (%lld,), }",
                   (long long)shape[0]);
  else
    len = snprintf(dict, sizeof dict,
                   "{'descr': '<f8', 'fortran_order': False, 'shape': (%lld, %lld), }",
                   (long long)shape[0], (long long)shape[1]);
  /* pad with spaces so that magic + version + length + dict + '\n' is a
   * multiple of 64 bytes, as numpy does */
  const int total = ((10 + len + 1 + 63) / 64) * 64;
  const int hlen = total - 10;
  char header[512];
  memcpy(header, magic, 6);
  header[6] = 1;
  header[7] = 0;
  header[8] = (char)(hlen & 0xFF);
  header[9] = (char)(hlen >> 8);
  memcpy(header + 10, dict, (size_t)len);
  memset(header + 10 + len, ' ', (size_t)(hlen - len - 1));
  header[total - 1] = '\n';
  FILE *f = fopen(path, "wb");
  if (!f)
    return tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
  const size_t count = (size_t)(shape[0] * cols);
  int ok = fwrite(header, 1, (size_t)total, f) == (size_t)total &&
           fwrite(data, sizeof(double), count, f) == count;
  ok = (fclose(f) == 0) && ok;
  if (!ok)
    return tsim_fail(err, TSIM_EFAIL, "%s: write failed: %s", path, strerror(errno));
  return TSIM_OK;
}
