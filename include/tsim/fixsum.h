/* fixsum.h - order-independent sums on a fixed-point grid with a shared
 * scale: a 128-bit accumulator per entry, scaled by a shared power of two
 * from a max-exponent allreduce (docs/exactness.md).
 *
 * reduce.h's superaccumulator is exact for any double but costs 69 words per
 * entry: fine for a gradient, too much for a dK x dK Hessian (8.8 GB at
 * dK = 4000).  Here every addend is first put on the grid of multiples of
 * 2^lsb, with lsb = E - FIXSUM_WINDOW and 2^E above every addend of the sum
 * (E agreed over the team before summing), truncating toward zero the bits
 * below 2^lsb; the grid values are then added exactly as integers.  So the
 * result is the same for any order and any split over ranks (each addend is
 * rounded to the grid the same way everywhere, integer addition is
 * associative), and its error is below (number of addends) * 2^lsb: about
 * 1e-36 of the largest possible addend, far below the final rounding to a
 * double of any entry that is not 1e-20 times smaller than the largest.
 *
 * An entry is FIXSUM_WORDS int64 words: four 32-bit digits (bit 0 =
 * 2^lsb, the top digit signed and unbounded), and a count of non-finite
 * addends (and of addends at or above 2^E, which would not fit). About 2^30
 * additions fit between two carry propagations. */
#ifndef TSIM_FIXSUM_H
#define TSIM_FIXSUM_H

#include <stdint.h>
#include <string.h>

#define FIXSUM_DIGITS 4
#define FIXSUM_WORDS (FIXSUM_DIGITS + 1)
#define FIXSUM_WINDOW 116 /* bits between the bound 2^E and the grid 2^lsb */

/* The exponent E for addends bounded by BOUND: |BOUND| < 2^(E-1), a factor
 * 2 of margin for rounding in how the bound was computed. A team agrees on
 * the largest E of its ranks (an integer maximum), then every rank uses the
 * grid 2^fixsum_lsb(E). */
int fixsum_exponent(double bound);
static inline int fixsum_lsb(int exponent) { return exponent - FIXSUM_WINDOW; }

/* Add V (on the grid 2^LSB) to the entry W[0..FIXSUM_WORDS). */
static inline void fixsum_add_one(int64_t *w, double v, int lsb) {
  __extension__ typedef unsigned __int128 u128;
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  const int biased = (int)((bits >> 52) & 0x7FF);
  uint64_t m = bits & ((1ull << 52) - 1);
  if (biased == 0x7FF) {
    w[FIXSUM_DIGITS] += 1;
    return;
  }
  int e = -1074; /* v = m * 2^e */
  if (biased != 0) {
    m |= 1ull << 52;
    e = biased - 1075;
  }
  if (m == 0) return;
  const int shift = e - lsb;
  u128 t;
  if (shift >= 0) {
    if (shift + 53 > FIXSUM_WINDOW) { /* at or above 2^E: out of range */
      w[FIXSUM_DIGITS] += 1;
      return;
    }
    t = (u128)m << shift;
  } else {
    t = -shift >= 64 ? 0 : (u128)(m >> -shift); /* toward zero */
  }
  const int64_t d0 = (int64_t)(t & 0xFFFFFFFFu);
  const int64_t d1 = (int64_t)((t >> 32) & 0xFFFFFFFFu);
  const int64_t d2 = (int64_t)((t >> 64) & 0xFFFFFFFFu);
  const int64_t d3 = (int64_t)(t >> 96);
  if (bits >> 63) {
    w[0] -= d0; w[1] -= d1; w[2] -= d2; w[3] -= d3;
  } else {
    w[0] += d0; w[1] += d1; w[2] += d2; w[3] += d3;
  }
}

/* Carry propagation of N entries: digits 0..2 into [0, 2^32), so equal sums
 * have equal words (and 2^30 more additions fit). */
void fixsum_normalize(int64_t *w, int64_t n);
/* Correctly rounded double of one normalized entry times 2^LSB (NaN if a
 * non-finite or out-of-range addend was added). */
double fixsum_round(const int64_t *w, int lsb);

#endif
