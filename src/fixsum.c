/* fixsum.c - fixed-point sums with a shared scale (see fixsum.h). */
#include "tsim/fixsum.h"

#include <math.h>

#define MASK 0xFFFFFFFFll

int fixsum_exponent(double bound) {
  int e = 0;
  if (!(bound > 0.0) || !isfinite(bound)) bound = 1.0;
  frexp(bound, &e); /* bound < 2^e; one more bit for rounding in the bound */
  return e + 1;
}

static void normalize_one(int64_t *w) {
  int64_t carry = 0;
  for (int i = 0; i < FIXSUM_DIGITS - 1; ++i) {
    const int64_t v = w[i] + carry;
    const int64_t low = v & MASK;
    carry = (v - low) / (MASK + 1); /* exact floor(v / 2^32) */
    w[i] = low;
  }
  w[FIXSUM_DIGITS - 1] += carry;
}

void fixsum_normalize(int64_t *w, int64_t n) {
  for (int64_t e = 0; e < n; ++e) normalize_one(w + e * FIXSUM_WORDS);
}

double fixsum_round(const int64_t *w, int lsb) {
  __extension__ typedef unsigned __int128 u128;
  if (w[FIXSUM_DIGITS] != 0) return NAN;
  int64_t v[FIXSUM_DIGITS];
  for (int i = 0; i < FIXSUM_DIGITS; ++i) v[i] = w[i];
  const int negative = v[FIXSUM_DIGITS - 1] < 0;
  if (negative) { /* the magnitude: negate every word, propagate again */
    for (int i = 0; i < FIXSUM_DIGITS; ++i) v[i] = -v[i];
    normalize_one(v);
  }
  /* five 32-bit digits of the magnitude (the top word holds up to 63 bits) */
  uint64_t mag[FIXSUM_DIGITS + 1];
  for (int i = 0; i < FIXSUM_DIGITS - 1; ++i) mag[i] = (uint64_t)v[i];
  mag[FIXSUM_DIGITS - 1] = (uint64_t)v[FIXSUM_DIGITS - 1] & MASK;
  mag[FIXSUM_DIGITS] = (uint64_t)v[FIXSUM_DIGITS - 1] >> 32;
  int h = FIXSUM_DIGITS;
  while (h >= 0 && mag[h] == 0) --h;
  if (h < 0) return 0.0;
  const int lo = h >= 2 ? h - 2 : 0;
  u128 top = 0;
  for (int i = h; i >= lo; --i) top = (top << 32) | mag[i];
  int sticky = 0;
  for (int i = lo - 1; i >= 0 && !sticky; --i) sticky = mag[i] != 0;
  int nbits = 0;
  for (u128 t = top; t; t >>= 1) ++nbits;
  const int shift = nbits > 53 ? nbits - 53 : 0;
  uint64_t mant = (uint64_t)(top >> shift);
  if (shift > 0) { /* to nearest, ties to even */
    const u128 rem = top & (((u128)1 << shift) - 1);
    const u128 half = (u128)1 << (shift - 1);
    if (rem > half || (rem == half && (sticky || (mant & 1)))) mant += 1;
  }
  const double r = ldexp((double)mant, shift + 32 * lo + lsb);
  return negative ? -r : r;
}
