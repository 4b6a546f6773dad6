/* npy.c - NumPy .npy files (numpy.lib.format, versions 1.0-3.0): a magic
 * string, a version, a header length, and a Python dict literal
 * {'descr': '<f8', 'fortran_order': False, 'shape': (n, d), } padded with
 * spaces to a multiple of 64 bytes and ending in '\n'. tsim reads and writes
 * only little-endian float64 in C order, 1-d or 2-d; the dict is parsed as
 * the Python literal it is, and any other content is refused. */
#define _FILE_OFFSET_BITS 64
#define _POSIX_C_SOURCE 200809L
#include "tsim/npy.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* The header dict, a Python literal, read token by token as numpy's
 * ast.literal_eval does for what numpy writes: exactly the keys 'descr',
 * 'fortran_order' and 'shape', once each, with string, True/False and
 * tuple-of-integers values; a trailing comma and whitespace between tokens
 * are allowed, anything else is refused (no substring search: a string
 * value that holds "'shape': (1, 3)" is not the shape). */
typedef struct hdr {
  const char *path, *text, *p, *end;
  int major;
  tsim_error *err;
} hdr;

static int hdr_bad(hdr *h, const char *what) {
  return tsim_fail(h->err, TSIM_EINPUT, "%s: malformed .npy header (byte %d of the dict): %s",
                   h->path, (int)(h->p - h->text), what);
}

static void hdr_space(hdr *h) {
  while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r' ||
                           *h->p == '\f' || *h->p == '\v'))
    ++h->p;
}

/* A quoted string without escapes: its text into [*s, *s + *n). */
static int hdr_string(hdr *h, const char *what, const char **s, int *n) {
  char msg[96];
  if (h->p >= h->end || (*h->p != '\'' && *h->p != '"')) {
    snprintf(msg, sizeof msg, "%s must be a quoted string", what);
    return hdr_bad(h, msg);
  }
  const char q = *h->p++;
  *s = h->p;
  while (h->p < h->end && *h->p != q) {
    if (*h->p == '\\' || *h->p == '\n' || *h->p == '\0') {
      snprintf(msg, sizeof msg, "%s: escapes, line breaks and NUL are not allowed in strings",
               what);
      return hdr_bad(h, msg);
    }
    ++h->p;
  }
  if (h->p >= h->end) {
    snprintf(msg, sizeof msg, "%s: unterminated string", what);
    return hdr_bad(h, msg);
  }
  *n = (int)(h->p++ - *s);
  return TSIM_OK;
}

/* (), (n,), (n, m), ... of non-negative decimal integers. */
static int hdr_shape(hdr *h, int64_t dims[2], int *ndim) {
  const char *start = h->p;
  if (h->p >= h->end || *h->p != '(')
    return hdr_bad(h, "shape must be a tuple such as (3,) or (2, 3)");
  ++h->p;
  int count = 0, comma = 0;
  for (;;) {
    hdr_space(h);
    if (h->p < h->end && *h->p == ')') break;
    if (count > 0 && !comma) return hdr_bad(h, "shape: expected ',' or ')'");
    if (h->p >= h->end || *h->p < '0' || *h->p > '9')
      return hdr_bad(h, "shape must hold non-negative integers");
    if (*h->p == '0' && h->p + 1 < h->end && h->p[1] >= '0' && h->p[1] <= '9')
      return hdr_bad(h, "shape: leading zeros are not allowed");
    int64_t v = 0;
    for (; h->p < h->end && *h->p >= '0' && *h->p <= '9'; ++h->p) {
      if (v > (INT64_MAX - (*h->p - '0')) / 10)
        return hdr_bad(h, "shape: a dimension is larger than 2^63 - 1");
      v = 10 * v + (*h->p - '0');
    }
    /* the Python 2 long suffix, which numpy drops from 1.0 and 2.0 headers */
    if (h->major < 3 && h->p < h->end && (*h->p == 'L' || *h->p == 'l')) ++h->p;
    if (h->p < h->end && (isalnum((unsigned char)*h->p) || *h->p == '_' || *h->p == '.'))
      return hdr_bad(h, "shape must hold non-negative integers");
    if (count < 2) dims[count] = v;
    if (count < 64) ++count;
    hdr_space(h);
    comma = h->p < h->end && *h->p == ',';
    if (comma) ++h->p;
  }
  if (count == 1 && !comma) {
    h->p = start;
    return hdr_bad(h, "shape (n) is a number, not a tuple: write (n,)");
  }
  ++h->p;
  *ndim = count;
  return TSIM_OK;
}

static int parse_dict(const char *path, const char *dict, size_t len, int major,
                      npy_info *info, tsim_error *err) {
  hdr h = {.path = path, .text = dict, .p = dict, .end = dict + len, .major = major, .err = err};
  static const char *const names[3] = {"descr", "fortran_order", "shape"};
  int seen[3] = {0, 0, 0}, fortran = 0, ndim = 0;
  const char *descr = NULL;
  int dlen = 0;
  int64_t dims[2] = {0, 0};
  hdr_space(&h);
  if (h.p >= h.end || *h.p != '{') return hdr_bad(&h, "expected '{'");
  ++h.p;
  for (;;) {
    hdr_space(&h);
    if (h.p < h.end && *h.p == '}') break;
    const char *key;
    int klen;
    TSIM_TRY(hdr_string(&h, "a key", &key, &klen));
    int k = 0;
    while (k < 3 && !((int)strlen(names[k]) == klen && !strncmp(names[k], key, (size_t)klen)))
      ++k;
    char msg[160];
    if (k == 3) {
      h.p = key - 1;
      snprintf(msg, sizeof msg, "unknown key '%.*s' (allowed: 'descr', 'fortran_order', 'shape')",
               klen > 40 ? 40 : klen, key);
      return hdr_bad(&h, msg);
    }
    if (seen[k]) {
      h.p = key - 1;
      snprintf(msg, sizeof msg, "key '%s' appears twice", names[k]);
      return hdr_bad(&h, msg);
    }
    seen[k] = 1;
    hdr_space(&h);
    if (h.p >= h.end || *h.p != ':') return hdr_bad(&h, "expected ':' after a key");
    ++h.p;
    hdr_space(&h);
    if (k == 0) {
      if (h.p < h.end && *h.p == '[')
        return tsim_fail(err, TSIM_EINPUT,
                         "%s: structured dtype is not supported (need float64 '<f8')", path);
      TSIM_TRY(hdr_string(&h, "descr", &descr, &dlen));
    } else if (k == 1) {
      const char *w = h.p;
      while (h.p < h.end && (isalnum((unsigned char)*h.p) || *h.p == '_')) ++h.p;
      if (h.p - w == 4 && !strncmp(w, "True", 4)) {
        fortran = 1;
      } else if (!(h.p - w == 5 && !strncmp(w, "False", 5))) {
        snprintf(msg, sizeof msg, "fortran_order must be True or False, not '%.*s'",
                 h.p - w > 40 ? 40 : (int)(h.p - w), w);
        h.p = w;
        return hdr_bad(&h, msg);
      }
    } else {
      TSIM_TRY(hdr_shape(&h, dims, &ndim));
    }
    hdr_space(&h);
    if (h.p < h.end && *h.p == ',') {
      ++h.p;
    } else if (h.p >= h.end || *h.p != '}') {
      return hdr_bad(&h, "expected ',' or '}' after a value");
    }
  }
  ++h.p;
  hdr_space(&h);
  if (h.p < h.end) return hdr_bad(&h, "text after the closing '}'");
  for (int k = 0; k < 3; ++k) {
    if (!seen[k]) {
      char msg[64];
      snprintf(msg, sizeof msg, "key '%s' is missing", names[k]);
      return hdr_bad(&h, msg);
    }
  }
  if (dlen != 3 || strncmp(descr, "<f8", 3))
    return tsim_fail(err, TSIM_EINPUT,
                     "%s: dtype '%.*s' is not supported (need float64 '<f8')",
                     path, dlen > 40 ? 40 : dlen, descr);
  if (fortran)
    return tsim_fail(err, TSIM_EINPUT,
                     "%s: Fortran order is not supported (need C order)", path);
  if (ndim < 1 || ndim > 2)
    return tsim_fail(err, TSIM_EINPUT,
                     "%s: %d-d array is not supported (need 1-d or 2-d)", path, ndim);
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
    rc = parse_dict(path, dict, hlen, major, info, err);
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

/* splitmix64's finaliser */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int npy_scan_rows(const char *path, const npy_info *info, int64_t row_begin, int64_t row_end,
                  int64_t *found, int64_t *sums, tsim_error *err) {
  *found = -1;
  const int64_t cols = info->shape[1];
  if (cols == 0) return TSIM_OK;
  const int64_t block = cols >= 65536 ? 1 : 65536 / cols; /* rows per read */
  double *buf = tsim_xmalloc((size_t)((row_end - row_begin < block ? row_end - row_begin : block) *
                                      cols + 1) * sizeof(double));
  int rc = TSIM_OK;
  for (int64_t r0 = row_begin; r0 < row_end && !rc && *found < 0; r0 += block) {
    const int64_t r1 = row_end - r0 < block ? row_end : r0 + block;
    rc = npy_read_rows(path, info, r0, r1, buf, err);
    for (int64_t e = 0; !rc && e < (r1 - r0) * cols; ++e)
      if (!isfinite(buf[e])) {
        *found = r0 * cols + e;
        break;
      }
    for (int64_t r = r0; sums && !rc && r < r1; ++r) {
      uint64_t h = mix64((uint64_t)r + 0x9e3779b97f4a7c15ull);
      for (int64_t j = 0; j < cols; ++j) {
        uint64_t bits;
        memcpy(&bits, &buf[(r - r0) * cols + j], sizeof bits);
        h = mix64(h ^ bits);
      }
      sums[0] += (int64_t)(h & 0x3fffff);
      sums[1] += (int64_t)((h >> 22) & 0x1fffff);
      sums[2] += (int64_t)(h >> 43);
    }
  }
  free(buf);
  return rc;
}

int npy_first_nonfinite(const char *path, const npy_info *info, int64_t row_begin,
                        int64_t row_end, int64_t *found, tsim_error *err) {
  return npy_scan_rows(path, info, row_begin, row_end, found, NULL, err);
}

int npy_put(FILE *f, int ndim, const int64_t *shape, const double *data) {
  if (ndim < 1 || ndim > 3) return 0;
  int64_t count = 1;
  char dims[128];
  int used = 0;
  for (int i = 0; i < ndim; ++i) {
    if (shape[i] < 0 || (shape[i] > 0 && count > (int64_t)(SIZE_MAX / 8) / shape[i])) return 0;
    count *= shape[i];
    used += snprintf(dims + used, sizeof dims - (size_t)used, "%s%lld", i ? ", " : "",
                     (long long)shape[i]);
  }
  char dict[256];
  const int len = snprintf(dict, sizeof dict,
                           "{'descr': '<f8', 'fortran_order': False, 'shape': (%s%s), }", dims,
                           ndim == 1 ? "," : "");
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
  return fwrite(header, 1, (size_t)total, f) == (size_t)total &&
         fwrite(data, sizeof(double), (size_t)count, f) == (size_t)count;
}

int npy_write(const char *path, int ndim, const int64_t *shape,
              const double *data, tsim_error *err) {
  if (ndim < 1 || ndim > 3)
    return tsim_fail(err, TSIM_EFAIL, "%s: npy_write supports 1 to 3 dimensions", path);
  FILE *f = fopen(path, "wb");
  if (!f)
    return tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", path, strerror(errno));
  int ok = npy_put(f, ndim, shape, data);
  ok = (fclose(f) == 0) && ok;
  if (!ok)
    return tsim_fail(err, TSIM_EFAIL, "%s: write failed: %s", path, strerror(errno));
  return TSIM_OK;
}
