/* test_npy.c - .npy files: our writer read back, numpy's v2 header, and a
 * clear error for every kind of file tsim does not take. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tsim/npy.h"

static char dir[64];

static const char *path_of(const char *name) {
  static char buf[128];
  snprintf(buf, sizeof buf, "%s/%s", dir, name);
  return buf;
}

/* a hand-made file: header dict DICT with version MAJOR, then BYTES of data */
static void write_raw(const char *name, int major, const char *dict, size_t bytes) {
  FILE *f = fopen(path_of(name), "wb");
  size_t len = strlen(dict);
  fwrite("\x93NUMPY", 1, 6, f);
  fputc(major, f);
  fputc(0, f);
  if (major == 1) {
    fputc((int)(len & 0xFF), f);
    fputc((int)(len >> 8), f);
  } else {
    for (int i = 0; i < 4; ++i) fputc((int)((len >> (8 * i)) & 0xFF), f);
  }
  fwrite(dict, 1, len, f);
  for (size_t i = 0; i < bytes; ++i) fputc(0, f);
  fclose(f);
}

static int fails_with(const char *name, const char *word) {
  npy_info info;
  tsim_error err = {0};
  int rc = npy_read_header(path_of(name), &info, &err);
  int ok = rc == TSIM_EINPUT && strstr(err.msg, word) && strstr(err.msg, name);
  if (!ok) printf("  got rc=%d msg=%s\n", rc, err.msg);
  return ok;
}

int main(void) {
  check_suite = "npy";
  snprintf(dir, sizeof dir, "/tmp/tsim-npy.XXXXXX");
  if (!mkdtemp(dir)) return 1;
  tsim_error err = {0};
  double a[21], b[21];
  for (int i = 0; i < 21; ++i) a[i] = i * 0.1 - 1.0 / (i + 1);
  const int64_t shape2[2] = {7, 3}, shape1[1] = {21};
  CHECK(npy_write(path_of("a2.npy"), 2, shape2, a, &err) == 0, "write 7x3");
  CHECK(npy_write(path_of("a1.npy"), 1, shape1, a, &err) == 0, "write 21");
  npy_info info;
  CHECK(npy_read_header(path_of("a2.npy"), &info, &err) == 0 && info.ndim == 2 &&
            info.shape[0] == 7 && info.shape[1] == 3 && info.data_offset % 64 == 0,
        "2-d header read back, data 64-byte aligned (offset %lld)",
        (long long)info.data_offset);
  memset(b, 0, sizeof b);
  CHECK(npy_read_rows(path_of("a2.npy"), &info, 2, 5, b, &err) == 0 &&
            !memcmp(b, a + 6, 9 * sizeof(double)),
        "rows [2, 5) read back bit for bit");
  CHECK(npy_read_header(path_of("a1.npy"), &info, &err) == 0 && info.ndim == 1 &&
            info.shape[0] == 21 && info.shape[1] == 1,
        "1-d header read back");
  CHECK(npy_read_rows(path_of("a1.npy"), &info, 0, 21, b, &err) == 0 &&
            !memcmp(a, b, sizeof a),
        "1-d data read back bit for bit");
  memset(b, 0, sizeof b);
  CHECK(npy_read_rows(path_of("a1.npy"), &info, 8, 13, b, &err) == 0 &&
            !memcmp(b, a + 8, 5 * sizeof(double)),
        "1-d rows [8, 13) read back bit for bit");
  err.msg[0] = '\0';
  CHECK(npy_read_rows(path_of("a1.npy"), &info, 5, 30, b, &err) == TSIM_EINPUT &&
            strstr(err.msg, "a1.npy") && strstr(err.msg, "out of range"),
        "a row range past the end is refused: %s", err.msg);
  CHECK(npy_read_rows(path_of("a1.npy"), &info, -1, 3, b, &err) == TSIM_EINPUT &&
            npy_read_rows(path_of("a1.npy"), &info, 4, 3, b, &err) == TSIM_EINPUT,
        "a negative or reversed row range is refused");
  FILE *hf = fopen(path_of("a2.npy"), "rb");
  unsigned char head[128];
  size_t hn = hf ? fread(head, 1, sizeof head, hf) : 0;
  if (hf) fclose(hf);
  CHECK(hn == 128 && head[6] == 1 && head[7] == 0 &&
            head[8] + 256 * head[9] == 118 && head[127] == '\n' &&
            !memcmp(head + 10, "{'descr': '<f8', 'fortran_order': False, "
                               "'shape': (7, 3), }", 59) &&
            head[69] == ' ' && head[126] == ' ',
        "v1.0 header as numpy writes it: dict, space padding, '\\n' at byte 127");
  write_raw("v2.npy", 2,
            "{\"shape\": (4, 2), \"fortran_order\": False, \"descr\": \"<f8\"}   \n", 64);
  CHECK(npy_read_header(path_of("v2.npy"), &info, &err) == 0 && info.shape[0] == 4 &&
            info.shape[1] == 2,
        "version 2.0 header, keys in another order, double quotes");
  write_raw("v3.npy", 3, "{'descr':'<f8','fortran_order':False,'shape':( 5 , ),}\n", 40);
  CHECK(npy_read_header(path_of("v3.npy"), &info, &err) == 0 && info.ndim == 1 &&
            info.shape[0] == 5 && info.shape[1] == 1 && info.data_offset == 12 + 55,
        "version 3.0 header, no spaces, 1-d");
  write_raw("f4.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), }\n", 32);
  CHECK(fails_with("f4.npy", "dtype '<f4'"), "float32 refused: %s", "dtype");
  write_raw("fo.npy", 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (4, 2), }\n", 64);
  CHECK(fails_with("fo.npy", "Fortran order"), "Fortran order refused");
  write_raw("3d.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2, 2), }\n", 64);
  CHECK(fails_with("3d.npy", "3-d array"), "3-d refused");
  write_raw("0d.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }\n", 8);
  CHECK(fails_with("0d.npy", "0-d array"), "0-d refused");
  write_raw("huge.npy", 1, "{'descr': '<f8', 'fortran_order': False, "
            "'shape': (4611686018427387904, 4611686018427387904), }\n", 8);
  CHECK(fails_with("huge.npy", "too large"), "a shape whose size overflows is refused");
  write_raw("short.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (100, 10), }\n", 80);
  CHECK(fails_with("short.npy", "truncated"), "truncated data refused");
  FILE *f = fopen(path_of("junk.npy"), "wb");
  fputs("this is not numpy at all", f);
  fclose(f);
  CHECK(fails_with("junk.npy", "bad magic"), "bad magic refused");
  CHECK(fails_with("missing.npy", "cannot open"), "missing file refused");
  const int64_t bad[2] = {-1, 3};
  CHECK(npy_write(path_of("bad.npy"), 2, bad, a, &err) == TSIM_EFAIL &&
            strstr(err.msg, "bad.npy"),
        "npy_write refuses a negative shape");
  const char *names[] = {"a2.npy", "a1.npy", "v2.npy", "v3.npy", "f4.npy",
                         "fo.npy", "3d.npy", "0d.npy", "huge.npy", "short.npy",
                         "junk.npy"};
  for (size_t i = 0; i < sizeof names / sizeof *names; ++i) unlink(path_of(names[i]));
  rmdir(dir);
  return check_summary();
}
