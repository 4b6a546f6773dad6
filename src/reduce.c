/* reduce.c - exact sums in a long fixed-point accumulator (see reduce.h).
 *
 * A finite double is m * 2^e with an integer m < 2^53 and e >= -1074.  Its
 * bit position p = e + 1074 >= 0 picks digit p/32 of the accumulator; the
 * 53-bit m shifted by p%32 spans at most three 32-bit digits.  Digits live in
 * int64 words, so about 2^29 additions fit before carries must propagate. */
#include "tsim/reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DIGIT_BITS 32
#define DIGIT_MASK 0xFFFFFFFFll
#define NONFINITE_SLOT XSUM_DIGITS
#define PENDING_LIMIT (1ll << 28)

__extension__ typedef unsigned __int128 u128;

xsum_vec *xsum_create(int64_t n) {
  xsum_vec *acc = tsim_xcalloc(1, sizeof *acc);
  acc->n = n;
  acc->words = tsim_xcalloc((size_t)(n * XSUM_WORDS), sizeof(int64_t));
  return acc;
}

void xsum_destroy(xsum_vec **acc) {
  if (!acc || !*acc) return;
  free((*acc)->words);
  free(*acc);
  *acc = NULL;
}

void xsum_clear(xsum_vec *acc) {
  memset(acc->words, 0, (size_t)(acc->n * XSUM_WORDS) * sizeof(int64_t));
  acc->pending = 0;
}

static inline void add_one(int64_t *w, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  const int biased = (int)((bits >> 52) & 0x7FF);
  uint64_t m = bits & ((1ull << 52) - 1);
  if (biased == 0x7FF) { /* inf or NaN */
    w[NONFINITE_SLOT] += 1;
    return;
  }
  int p = 0; /* bit position of m's lowest bit above 2^-1074 */
  if (biased != 0) {
    m |= 1ull << 52;
    p = biased - 1;
  }
  if (m == 0) return;
  const u128 t = (u128)m << (p % DIGIT_BITS);
  const int i = p / DIGIT_BITS;
  const int64_t d0 = (int64_t)(t & DIGIT_MASK);
  const int64_t d1 = (int64_t)((t >> 32) & DIGIT_MASK);
  const int64_t d2 = (int64_t)(t >> 64);
  if (bits >> 63) {
    w[i] -= d0;
    w[i + 1] -= d1;
    w[i + 2] -= d2;
  } else {
    w[i] += d0;
    w[i + 1] += d1;
    w[i + 2] += d2;
  }
}

void xsum_add(xsum_vec *acc, const double *values) {
  if (acc->pending >= PENDING_LIMIT) xsum_normalize(acc);
  for (int64_t e = 0; e < acc->n; ++e)
    add_one(acc->words + e * XSUM_WORDS, values[e]);
  acc->pending += 1;
}

static void normalize_one(int64_t *w) {
  int64_t carry = 0;
  for (int i = 0; i < XSUM_DIGITS - 1; ++i) {
    const int64_t v = w[i] + carry;
    const int64_t low = v & DIGIT_MASK;
    carry = (v - low) / (DIGIT_MASK + 1); /* exact: floor(v / 2^32) */
    w[i] = low;
  }
  w[XSUM_DIGITS - 1] += carry;
}

void xsum_normalize(xsum_vec *acc) {
  for (int64_t e = 0; e < acc->n; ++e)
    normalize_one(acc->words + e * XSUM_WORDS);
  acc->pending = 0;
}

/* Correctly rounded (to nearest, ties to even) value of one normalized
 * entry.  Values below 2^-1021 are exact multiples of 2^-1074 with fewer
 * than 53 significant bits, so they never round twice. */
static double round_one(const int64_t *w) {
  if (w[NONFINITE_SLOT] != 0) return NAN;
  int64_t mag[XSUM_DIGITS];
  const int negative = w[XSUM_DIGITS - 1] < 0;
  if (negative) { /* two's complement negation, digit by digit */
    int64_t carry = 1;
    for (int i = 0; i < XSUM_DIGITS - 1; ++i) {
      const int64_t v = (DIGIT_MASK - w[i]) + carry;
      mag[i] = v & DIGIT_MASK;
      carry = v >> 32;
    }
    mag[XSUM_DIGITS - 1] = -w[XSUM_DIGITS - 1] - 1 + carry;
  } else {
    memcpy(mag, w, sizeof mag);
  }
  int h = XSUM_DIGITS - 1;
  while (h >= 0 && mag[h] == 0) --h;
  if (h < 0) return 0.0;
  if (mag[h] > DIGIT_MASK) return negative ? -INFINITY : INFINITY;
  const int lo = h >= 2 ? h - 2 : 0;
  u128 top = 0;
  for (int i = h; i >= lo; --i) top = (top << 32) | (uint64_t)mag[i];
  int sticky = 0;
  for (int i = lo - 1; i >= 0 && !sticky; --i) sticky = mag[i] != 0;
  int nbits = 0;
  for (u128 t = top; t; t >>= 1) ++nbits;
  int shift = nbits > 53 ? nbits - 53 : 0;
  uint64_t mant = (uint64_t)(top >> shift);
  if (shift > 0) {
    const u128 rem = top & (((u128)1 << shift) - 1);
    const u128 half = (u128)1 << (shift - 1);
    if (rem > half || (rem == half && (sticky || (mant & 1)))) mant += 1;
  }
  const double v = ldexp((double)mant, shift + DIGIT_BITS * lo - 1074);
  return negative ? -v : v;
}

void xsum_round(xsum_vec *acc, double *out) {
  for (int64_t e = 0; e < acc->n; ++e)
    out[e] = round_one(acc->words + e * XSUM_WORDS);
}

esum *esum_create(int64_t n) {
  esum *s = tsim_xcalloc(1, sizeof *s);
  s->n = n;
  s->acc = xsum_create(n);
  s->single = tsim_xcalloc((size_t)n, sizeof(double));
  return s;
}

void esum_destroy(esum **s) {
  if (!s || !*s) return;
  xsum_destroy(&(*s)->acc);
  free((*s)->single);
  free(*s);
  *s = NULL;
}

void esum_begin(esum *s) { s->local_chunks = 0; }

void esum_add(esum *s, const double *partial) {
  if (s->local_chunks == 0) {
    memcpy(s->single, partial, (size_t)s->n * sizeof(double));
  } else {
    if (s->local_chunks == 1) {
      xsum_clear(s->acc);
      xsum_add(s->acc, s->single);
    }
    xsum_add(s->acc, partial);
  }
  s->local_chunks += 1;
}

void esum_finish(esum *s, const par_comm *comm, int64_t nchunks_global,
                 double *out) {
  const int size = comm ? par_size(comm) : 1;
  if (nchunks_global <= 1) {
    /* One chunk: its owner's partial is the sum.  Adding +0.0 maps -0.0 to
     * +0.0, as the accumulator would, and the double sum over ranks is exact
     * because every other rank contributes zeros. */
    for (int64_t e = 0; e < s->n; ++e)
      out[e] = s->local_chunks ? s->single[e] + 0.0 : 0.0;
    if (size > 1) par_sum_double(comm, out, s->n);
    return;
  }
  if (s->local_chunks <= 1) {
    xsum_clear(s->acc);
    if (s->local_chunks == 1) xsum_add(s->acc, s->single);
  }
  xsum_normalize(s->acc);
  if (size > 1) {
    par_sum_int64(comm, s->acc->words, s->n * XSUM_WORDS);
    xsum_normalize(s->acc);
  }
  xsum_round(s->acc, out);
}
