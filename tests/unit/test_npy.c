/* test_npy.c - .npy files: our writer read back, the headers numpy writes,
 * and a clear error for every kind of file and header tsim does not take. */
#include <math.h>
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
  /* numpy's own headers (numpy 1.24 np.save and format.write_array with
   * versions 1.0, 2.0 and 3.0): the dict padded with spaces so that the data
   * start at byte 128, then '\n' */
  static const struct {
    int major;
    const char *dict;
    int ndim;
    int64_t rows, cols;
  } numpy_writes[] = {
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 1, 3, 1},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 2, 2, 3},
      {2, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 2, 2, 3},
      {3, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 2, 2, 3},
      {3, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 1, 3, 1},
  };
  for (size_t i = 0; i < sizeof numpy_writes / sizeof *numpy_writes; ++i) {
    char padded[256];
    const int prefix = numpy_writes[i].major == 1 ? 10 : 12;
    const int len = snprintf(padded, sizeof padded, "%s", numpy_writes[i].dict);
    const int total = 128 - prefix; /* numpy pads to 64-byte multiples */
    memset(padded + len, ' ', (size_t)(total - len - 1));
    padded[total - 1] = '\n';
    padded[total] = '\0';
    write_raw("numpy.npy", numpy_writes[i].major, padded, 48);
    memset(&info, 0, sizeof info);
    err.msg[0] = '\0';
    CHECK(npy_read_header(path_of("numpy.npy"), &info, &err) == 0 &&
              info.ndim == numpy_writes[i].ndim && info.shape[0] == numpy_writes[i].rows &&
              info.shape[1] == numpy_writes[i].cols && info.data_offset == 128,
          "numpy's version %d.0 header %s read: ndim %d, shape (%lld, %lld) %s",
          numpy_writes[i].major, numpy_writes[i].dict, info.ndim, (long long)info.shape[0],
          (long long)info.shape[1], err.msg);
  }
  /* what Python's literal syntax allows beside that */
  static const struct {
    int major;
    const char *dict;
    int ndim;
  } good[] = {
      {1, " { 'descr' : '<f8' ,\n 'fortran_order' : False ,\t'shape' : ( 2 ,\n 3 , ) , } \n", 2},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}", 2},
      {1, "{'shape': (2L, 3L), 'fortran_order': False, 'descr': \"<f8\"}\n", 2},
      {2, "{'descr':'<f8','fortran_order':False,'shape':(6,)}", 1},
  };
  for (size_t i = 0; i < sizeof good / sizeof *good; ++i) {
    write_raw("good.npy", good[i].major, good[i].dict, 48);
    memset(&info, 0, sizeof info);
    err.msg[0] = '\0';
    CHECK(npy_read_header(path_of("good.npy"), &info, &err) == 0 && info.ndim == good[i].ndim,
          "legal header %zu read (ndim %d) %s", i, info.ndim, err.msg);
  }
  /* malformed dicts: each refused with one line naming the file and what is
   * wrong (a substring search read some of them, with a wrong shape) */
  static const struct {
    int major;
    const char *dict, *want;
  } malformed[] = {
      {1, "{'junk': \"'shape': (1, 3)\", 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
       "unknown key 'junk'"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}",
       "unknown key 'extra'"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'shape': (1, 3), }",
       "key 'shape' appears twice"},
      {1, "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}",
       "key 'descr' appears twice"},
      {1, "{'descr': '<f8', 'fortran_order': Falsehood, 'shape': (2, 3), }",
       "fortran_order must be True or False, not 'Falsehood'"},
      {1, "{'descr': '<f8', 'fortran_order': false, 'shape': (2, 3), }",
       "fortran_order must be True or False"},
      {1, "{'descr': '<f8', 'shape': (2, 3), }", "key 'fortran_order' is missing"},
      {1, "{}", "key 'descr' is missing"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), } junk", "text after"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }}", "text after"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)", "expected ',' or '}'"},
      {1, "{'descr': '<f8' 'fortran_order': False, 'shape': (2, 3)}", "expected ',' or '}'"},
      {1, "{'descr': '<f8',, 'fortran_order': False, 'shape': (2, 3)}", "a key must be a quoted"},
      {1, "{descr: '<f8', 'fortran_order': False, 'shape': (2, 3)}", "a key must be a quoted"},
      {1, "{'descr' '<f8', 'fortran_order': False, 'shape': (2, 3)}", "expected ':'"},
      {1, "{'descr\": '<f8', 'fortran_order': False, 'shape': (2, 3)}", "unknown key"},
      {1, "{'descr': '<f8, 'fortran_order': False, 'shape': (2, 3)}", "expected ',' or '}'"},
      {1, "{'descr': 8, 'fortran_order': False, 'shape': (2, 3)}", "descr must be a quoted"},
      {1, "{'descr': '<\\x66\\x38', 'fortran_order': False, 'shape': (2, 3)}", "escapes"},
      {1, "['descr', '<f8']", "expected '{'"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (6)}", "not a tuple: write (n,)"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': 6}", "shape must be a tuple"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': [2, 3]}", "shape must be a tuple"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (-2, 3)}", "non-negative integers"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2.0, 3)}", "non-negative integers"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 0x3)}", "non-negative integers"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2 3)}", "expected ',' or ')'"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,,3)}", "non-negative integers"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (,)}", "non-negative integers"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (02, 3)}", "leading zeros"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999, 1)}",
       "larger than 2^63"},
      {3, "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L)}", "non-negative integers"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)\x01}", "expected ',' or '}'"},
  };
  for (size_t i = 0; i < sizeof malformed / sizeof *malformed; ++i) {
    write_raw("bad_dict.npy", malformed[i].major, malformed[i].dict, 48);
    memset(&info, 0, sizeof info);
    err.msg[0] = '\0';
    const int rc = npy_read_header(path_of("bad_dict.npy"), &info, &err);
    CHECK(rc == TSIM_EINPUT && strstr(err.msg, "bad_dict.npy: ") &&
              strstr(err.msg, malformed[i].want) && !strchr(err.msg, '\n'),
          "malformed %s: refused with \"%s\" (rc %d: %s)", malformed[i].dict, malformed[i].want,
          rc, err.msg);
  }
  /* the first NaN or inf of a row range, as a flat index */
  double c[21];
  memcpy(c, a, sizeof c);
  c[4 * 3 + 2] = NAN;
  c[6 * 3 + 0] = -INFINITY;
  CHECK(npy_write(path_of("nan.npy"), 2, shape2, c, &err) == 0 &&
            npy_read_header(path_of("nan.npy"), &info, &err) == 0, "write 7x3 with NaN, -inf");
  int64_t found = 99;
  CHECK(npy_first_nonfinite(path_of("nan.npy"), &info, 0, 7, &found, &err) == 0 && found == 14,
        "NaN at [4, 2] found as element 14 (got %lld)", (long long)found);
  CHECK(npy_first_nonfinite(path_of("nan.npy"), &info, 5, 7, &found, &err) == 0 && found == 18,
        "rows [5, 7): -inf at [6, 0], element 18 (got %lld)", (long long)found);
  CHECK(npy_first_nonfinite(path_of("nan.npy"), &info, 0, 4, &found, &err) == 0 && found == -1,
        "rows [0, 4): none (got %lld)", (long long)found);
  CHECK(npy_first_nonfinite(path_of("nan.npy"), &info, 5, 9, &found, &err) == TSIM_EINPUT &&
            strstr(err.msg, "out of range"),
        "a range past the end is refused: %s", err.msg);
  const char *names[] = {"nan.npy", "a2.npy", "a1.npy", "v2.npy", "v3.npy", "f4.npy",
                         "fo.npy", "3d.npy", "0d.npy", "huge.npy", "short.npy",
                         "junk.npy", "numpy.npy", "good.npy", "bad_dict.npy"};
  for (size_t i = 0; i < sizeof names / sizeof *names; ++i) unlink(path_of(names[i]));
  rmdir(dir);
  return check_summary();
}
