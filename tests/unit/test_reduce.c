/* test_reduce.c - the counter-based generator and the exact sums. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tsim/reduce.h"
#include "tsim/rng.h"

static double exact_sum(const double *v, int n, int order_seed) {
  /* sum V in a shuffled order through the accumulator */
  int *idx = malloc((size_t)n * sizeof(int));
  for (int i = 0; i < n; ++i) idx[i] = i;
  for (int i = n - 1; i > 0; --i) {
    int j = (int)(rng_uniform((uint64_t)order_seed, 9, (uint64_t)i, 0) * (i + 1));
    int t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  xsum_vec *acc = xsum_create(1);
  for (int i = 0; i < n; ++i) xsum_add(acc, &v[idx[i]]);
  xsum_normalize(acc);
  double out;
  xsum_round(acc, &out);
  xsum_destroy(&acc);
  free(idx);
  return out;
}

static double sum1(double a) { return exact_sum(&a, 1, 0); }

int main(void) {
  check_suite = "reduce";
  /* Philox4x32-10 known-answer vectors (Random123 kat_vectors) */
  {
    const uint32_t c0[4] = {0, 0, 0, 0}, k0[2] = {0, 0};
    const uint32_t c1[4] = {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                   k1[2] = {0xffffffff, 0xffffffff};
    const uint32_t c2[4] = {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
                   k2[2] = {0xa4093822, 0x299f31d0};
    uint32_t o[4];
    rng_philox(c0, k0, o);
    CHECK(o[0] == 0x6627e8d5 && o[1] == 0xe169c58d && o[2] == 0xbc57ac4c &&
              o[3] == 0x9b00dbd8,
          "philox zero vector");
    rng_philox(c1, k1, o);
    CHECK(o[0] == 0x408f276d && o[1] == 0x41c83b0e && o[2] == 0xa20bc7c6 &&
              o[3] == 0x6d5451fd,
          "philox all-ones vector");
    rng_philox(c2, k2, o);
    CHECK(o[0] == 0xd16cfe09 && o[1] == 0x94fdcceb && o[2] == 0x5001e420 &&
              o[3] == 0x24126ea1,
          "philox pi vector");
  }
  /* normals: moments of 200000 variates, and independence of count */
  {
    const int n = 200000;
    double m1 = 0, m2 = 0, m4 = 0;
    for (int i = 0; i < n; ++i) {
      double z[2];
      rng_normal_pair(42, 1, (uint64_t)i, 0, z);
      for (int j = 0; j < 2; ++j) {
        m1 += z[j];
        m2 += z[j] * z[j];
        m4 += z[j] * z[j] * z[j] * z[j];
      }
    }
    m1 /= 2 * n, m2 /= 2 * n, m4 /= 2 * n;
    CHECK(fabs(m1) < 0.01 && fabs(m2 - 1) < 0.01 && fabs(m4 - 3) < 0.05,
          "normal moments mean %.4f var %.4f fourth %.4f", m1, m2, m4);
    double a[7], b[3];
    rng_normals(5, 1, 77, 7, a);
    rng_normals(5, 1, 77, 3, b);
    CHECK(!memcmp(a, b, sizeof b), "coordinate j does not depend on the count");
  }
  /* exact sums */
  {
    double v[3] = {1e100, 1.0, -1e100};
    CHECK(exact_sum(v, 3, 1) == 1.0, "1e100 + 1 - 1e100 = 1 exactly");
    const double singles[] = {1.0, -2.5, 0x1p-1074, -0x1p-1074, 0x1.fffffffffffffp+1023,
                              3.141592653589793, -1e-300, 0x1p-1022, 0.0};
    int all = 1;
    for (size_t i = 0; i < sizeof singles / sizeof *singles; ++i)
      all &= sum1(singles[i]) == singles[i];
    CHECK(all, "a single addend comes back unchanged (subnormal, max, negative)");
    double t[2] = {1.0, 0x1p-53}; /* tie: rounds to even (1.0) */
    CHECK(exact_sum(t, 2, 0) == 1.0, "ties round to even");
    double u[3] = {1.0, 0x1p-53, 0x1p-200}; /* above the tie: rounds up */
    CHECK(exact_sum(u, 3, 0) == 1.0 + 0x1p-52, "sticky bits break the tie");
    double w[2] = {0x1.fffffffffffffp+1023, 0x1.fffffffffffffp+1023};
    CHECK(isinf(exact_sum(w, 2, 0)), "overflow gives inf");
    double nanv[2] = {1.0, NAN};
    CHECK(isnan(exact_sum(nanv, 2, 0)), "a NaN addend gives NaN");
    double z[2] = {-0.0, -0.0};
    double zs = exact_sum(z, 2, 0);
    CHECK(zs == 0.0 && !signbit(zs), "-0 + -0 gives +0");
  }
  /* order independence with 10000 values of wildly different sizes, and
   * agreement with a long double reference to rounding */
  {
    const int n = 10000;
    double *v = malloc((size_t)n * sizeof(double));
    long double ref = 0;
    for (int i = 0; i < n; ++i) {
      double z[2];
      rng_normal_pair(3, 1, (uint64_t)i, 0, z);
      v[i] = z[0] * pow(2.0, floor(z[1] * 20));
      ref += v[i];
    }
    double s1 = exact_sum(v, n, 1), s2 = exact_sum(v, n, 2), s3 = exact_sum(v, n, 3);
    CHECK(s1 == s2 && s2 == s3, "three summation orders give the same bits");
    CHECK(fabsl((long double)s1 - ref) <= 1e-9L * fabsl(ref) + 1e-300L,
          "agrees with a long double sum (%.17g vs %.17Lg)", s1, ref);
    /* split into "ranks": partial accumulators added word by word */
    xsum_vec *a = xsum_create(1), *b = xsum_create(1);
    for (int i = 0; i < n; ++i) xsum_add(i < 3333 ? a : b, &v[i]);
    xsum_normalize(a);
    xsum_normalize(b);
    for (int i = 0; i < XSUM_WORDS; ++i) a->words[i] += b->words[i];
    xsum_normalize(a);
    double split;
    xsum_round(a, &split);
    CHECK(split == s1, "two partial accumulators added as integers give the same bits");
    xsum_destroy(&a);
    xsum_destroy(&b);
    free(v);
  }
  /* esum: the one-chunk path gives the accumulator's bits */
  {
    esum *s = esum_create(2);
    double part[2] = {-0.0, 1.25}, out[2];
    esum_begin(s);
    esum_add(s, part);
    esum_finish(s, NULL, 1, out);
    CHECK(out[0] == 0.0 && !signbit(out[0]) && out[1] == 1.25,
          "one chunk: value passes through, -0 becomes +0");
    esum_destroy(&s);
  }
  return check_summary();
}
