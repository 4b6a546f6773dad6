/* npy.h - NumPy .npy files (float64, C order), read by row slices.
 *
 * tsim reads user-supplied data and initial weights from .npy files so that a
 * run can be cross-checked against other tools.  Each rank reads only its own
 * rows (a contiguous range), never the whole array.  Format reference:
 * numpy.lib.format (versions 1.0, 2.0 and 3.0 headers). */
#ifndef TSIM_NPY_H
#define TSIM_NPY_H

#include <stdint.h>
#include <stdio.h>
#include "tsim/common.h"

typedef struct npy_info {
  int ndim;           /* 1 or 2 */
  int64_t shape[2];   /* shape[1] == 1 when ndim == 1 */
  int64_t data_offset; /* byte offset of element 0 in the file */
} npy_info;

/* Parse the header of PATH. Only little-endian float64 ('<f8'), C order, with
 * 1 or 2 dimensions is accepted; anything else is a TSIM_EINPUT error whose
 * message names the file and says what was found and what is allowed. */
int npy_read_header(const char *path, npy_info *info, tsim_error *err);

/* Read rows [row_begin, row_end) of a 1-d or 2-d float64 array into OUT
 * (row-major, (row_end - row_begin) * shape[1] doubles). */
int npy_read_rows(const char *path, const npy_info *info, int64_t row_begin,
                  int64_t row_end, double *out, tsim_error *err);

/* The first element of rows [row_begin, row_end) that is NaN or infinite,
 * as the flat index row * shape[1] + column, into *FOUND (-1: none). */
int npy_first_nonfinite(const char *path, const npy_info *info, int64_t row_begin,
                        int64_t row_end, int64_t *found, tsim_error *err);
/* The same scan, which also adds each row's content hash into SUMS (3
 * words; NULL: none): h_r = mix(r, bits of row r's values), split into
 * parts of 22, 21 and 21 bits added to SUMS[0..2] (exact integer sums, so
 * the total over any cutting of the rows is the same; it stops early at a
 * non-finite value, when the content is an error anyway). */
int npy_scan_rows(const char *path, const npy_info *info, int64_t row_begin, int64_t row_end,
                  int64_t *found, int64_t *sums, tsim_error *err);

/* Write a float64 C-order array of NDIM (1 to 3) dimensions: to PATH, or
 * to the open file F (npy_put: 1 when every byte went out). */
int npy_write(const char *path, int ndim, const int64_t *shape,
              const double *data, tsim_error *err);
int npy_put(FILE *f, int ndim, const int64_t *shape, const double *data);

#endif
