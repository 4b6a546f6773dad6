/* rng.c - Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random
 * numbers: as easy as 1, 2, 3", SC'11) and normal variates from it.
 *
 * Counter layout for item INDEX of STREAM: {pair, index lo, index hi,
 * stream}; key = the 64-bit seed.  Box-Muller turns the four 32-bit outputs
 * (two 53-bit uniforms) into two normals.  Only correctly specified
 * operations are used (no fast-math), so the bits are the same on every
 * rank. */
#include "tsim/rng.h"

#include "tsim/common.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi,
                           uint32_t *lo) {
  uint64_t p = (uint64_t)a * (uint64_t)b;
  *hi = (uint32_t)(p >> 32);
  *lo = (uint32_t)p;
}

void rng_philox(const uint32_t counter[4], const uint32_t key[2],
                uint32_t out[4]) {
  uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(PHILOX_M0, c0, &hi0, &lo0);
    mulhilo(PHILOX_M1, c2, &hi1, &lo1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

static void philox_item(uint64_t seed, uint32_t stream, uint64_t index,
                        uint32_t pair, uint32_t out[4]) {
  const uint32_t counter[4] = {pair, (uint32_t)index, (uint32_t)(index >> 32),
                               stream};
  const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  rng_philox(counter, key, out);
}

/* 53 random bits to a uniform in (0, 1): never 0, so log() is finite. */
static inline double unit_open(uint32_t hi, uint32_t lo) {
  uint64_t bits = ((uint64_t)hi << 32) | lo;
  return ((double)(bits >> 11) + 0.5) * 0x1.0p-53;
}

void rng_normal_pair(uint64_t seed, uint32_t stream, uint64_t index,
                     uint32_t pair, double out[2]) {
  uint32_t r[4];
  philox_item(seed, stream, index, pair, r);
  const double u1 = unit_open(r[0], r[1]);
  const double u2 = unit_open(r[2], r[3]);
  const double radius = sqrt(-2.0 * log(u1));
  const double angle = 6.283185307179586 * u2;
  out[0] = radius * cos(angle);
  out[1] = radius * sin(angle);
}

void rng_normals(uint64_t seed, uint32_t stream, uint64_t index, int64_t count,
                 double *out) {
  int64_t j = 0;
  for (; j + 1 < count; j += 2)
    rng_normal_pair(seed, stream, index, (uint32_t)(j / 2), out + j);
  if (j < count) {
    double pair[2];
    rng_normal_pair(seed, stream, index, (uint32_t)(j / 2), pair);
    out[j] = pair[0];
  }
}

#define RNG_LANES 32

/* Philox4x32-10 on RNG_LANES counters at once: the loop over lanes has no
 * dependences, so it becomes vector multiplies; integer arithmetic, so the
 * bits are those of rng_philox. */
TSIM_HOT
static void philox_lanes(uint32_t *restrict c0, uint32_t *restrict c1,
                         uint32_t *restrict c2, uint32_t *restrict c3,
                         uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    for (int l = 0; l < RNG_LANES; ++l) {
      const uint64_t p0 = (uint64_t)PHILOX_M0 * c0[l];
      const uint64_t p1 = (uint64_t)PHILOX_M1 * c2[l];
      const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0;
      const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
      c1[l] = (uint32_t)p1;
      c3[l] = (uint32_t)p0;
      c0[l] = n0;
      c2[l] = n2;
    }
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
}

/* Box-Muller's cheap steps on all lanes: integer-to-double conversions,
 * products and sqrt are correctly rounded, so vector code gives the bits
 * of the scalar rng_normal_pair; log, cos and sin stay libm calls. */
TSIM_HOT
static void uniforms_lanes(const uint32_t *restrict c0, const uint32_t *restrict c1,
                           const uint32_t *restrict c2, const uint32_t *restrict c3,
                           double *restrict u1, double *restrict angle) {
  for (int l = 0; l < RNG_LANES; ++l) {
    u1[l] = unit_open(c0[l], c1[l]);
    angle[l] = 6.283185307179586 * unit_open(c2[l], c3[l]);
  }
}

TSIM_HOT
static void radius_lanes(double *restrict v) {
  for (int l = 0; l < RNG_LANES; ++l) v[l] = sqrt(-2.0 * v[l]);
}

void rng_normals_rows(uint64_t seed, uint32_t stream, uint64_t first,
                      int64_t rows, int64_t count, double *out) {
  const int64_t npairs = (count + 1) / 2, total = rows * npairs;
  const uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  uint32_t c0[RNG_LANES], c1[RNG_LANES], c2[RNG_LANES], c3[RNG_LANES];
  double u1[RNG_LANES], angle[RNG_LANES];
  int64_t row = 0, pair = 0; /* the item of lane 0 */
  for (int64_t base = 0; base < total; base += RNG_LANES) {
    const int lanes = total - base < RNG_LANES ? (int)(total - base) : RNG_LANES;
    int64_t r = row, q = pair;
    for (int l = 0; l < RNG_LANES; ++l) {
      /* lanes past the end repeat the last item; their output is dropped */
      const uint64_t index = first + (uint64_t)r;
      c0[l] = (uint32_t)q;
      c1[l] = (uint32_t)index;
      c2[l] = (uint32_t)(index >> 32);
      c3[l] = stream;
      if (l + 1 < lanes && ++q == npairs) {
        q = 0;
        ++r;
      }
    }
    philox_lanes(c0, c1, c2, c3, k0, k1);
    uniforms_lanes(c0, c1, c2, c3, u1, angle);
    for (int l = 0; l < lanes; ++l) u1[l] = log(u1[l]);
    radius_lanes(u1);
    for (int l = 0; l < lanes; ++l) {
      /* rng_normal_pair's radius * cos(angle), radius * sin(angle) */
      double *o = out + row * count + 2 * pair;
      o[0] = u1[l] * cos(angle[l]);
      if (2 * pair + 1 < count) o[1] = u1[l] * sin(angle[l]);
      if (++pair == npairs) {
        pair = 0;
        ++row;
      }
    }
  }
}

double rng_uniform(uint64_t seed, uint32_t stream, uint64_t index,
                   uint32_t pair) {
  uint32_t r[4];
  philox_item(seed, stream, index, pair, r);
  return unit_open(r[0], r[1]);
}
