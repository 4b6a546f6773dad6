/* reduce.h - exact, order-independent sums (docs/exactness.md).
 *
 * Floating-point addition is not associative, so a plain MPI_Allreduce gives
 * different bits for different rank counts.  tsim cuts the samples into fixed
 * chunks aligned to global sample indices, computes each chunk's partial
 * sums the same way everywhere, and adds the chunk partials exactly in a
 * long fixed-point accumulator (a Kulisch-style superaccumulator covering
 * every double from 2^-1074 to beyond 2^1024).  Integer addition is
 * associative, so the total is the same integer for any split over ranks and
 * any reduction order, and its conversion back to a double is correctly
 * rounded: more accurate than any double sum, and identical bits. */
#ifndef TSIM_REDUCE_H
#define TSIM_REDUCE_H

#include <stdint.h>
#include "tsim/parallel.h"

/* 68 signed 64-bit words of 32-bit digits (bit 0 = 2^-1074) plus one
 * counter of non-finite addends per entry. */
#define XSUM_DIGITS 68
#define XSUM_WORDS (XSUM_DIGITS + 1)

typedef struct xsum_vec {
  int64_t n;          /* number of entries */
  int64_t *words;     /* n * XSUM_WORDS */
  int64_t pending;    /* additions since the last carry propagation */
} xsum_vec;

xsum_vec *xsum_create(int64_t n);
void xsum_destroy(xsum_vec **acc);
void xsum_clear(xsum_vec *acc);
/* Add VALUES[0..n) entry-wise, exactly. */
void xsum_add(xsum_vec *acc, const double *values);
/* Carry propagation to the canonical form (every digit in [0, 2^32) but the
 * signed top one): two equal sums have equal words after this. */
void xsum_normalize(xsum_vec *acc);
/* Correctly rounded double of each entry (NaN if a non-finite was added). */
void xsum_round(xsum_vec *acc, double *out);

/* Sum of chunk partials over a team: the one entry point the engines use.
 * Each rank adds its own chunks' partial vectors, then esum_finish sums over
 * COMM and gives every rank the same correctly rounded totals.  NCHUNKS is
 * the global number of chunks: with a single chunk the sum is that chunk's
 * value and a cheaper path gives the identical bits. */
typedef struct esum {
  int64_t n;
  int64_t local_chunks;
  xsum_vec *acc;
  double *single; /* the first local chunk's partial, for the 1-chunk path */
} esum;

esum *esum_create(int64_t n);
void esum_destroy(esum **s);
void esum_begin(esum *s);
void esum_add(esum *s, const double *partial);
void esum_finish(esum *s, const par_comm *comm, int64_t nchunks_global,
                 double *out);

#endif
