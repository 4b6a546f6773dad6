/* rng.h - counter-based random numbers (Philox4x32-10, Salmon et al., SC'11).
 *
 * Every random number tsim uses is a pure function of (seed, stream, index,
 * pair): sample i of the training set is the same whichever rank makes it,
 * so data never depend on how the samples are split (CoMD's mkSeed idea,
 * HPL's jump-ahead matrix generator). */
#ifndef TSIM_RNG_H
#define TSIM_RNG_H

#include <stdint.h>

/* Streams keep independent uses of one seed apart. */
enum rng_stream {
  RNG_TRAIN_X = 1,  /* training inputs x_i */
  RNG_TEST_X = 2,   /* test inputs */
  RNG_INIT_W = 3,   /* initial student weights */
  RNG_TEACHER = 4,  /* random teacher directions */
  RNG_TRAIN_NOISE = 5,
  RNG_TEST_NOISE = 6,
  RNG_INIT_A = 7 /* initial trained output weights (init.output) */
};

/* The Philox4x32-10 bijection: 128-bit counter, 64-bit key. */
void rng_philox(const uint32_t counter[4], const uint32_t key[2],
                uint32_t out[4]);

/* Two independent standard normals (Box-Muller on two 53-bit uniforms) for
 * item INDEX of STREAM under SEED; PAIR numbers the pairs within an item. */
void rng_normal_pair(uint64_t seed, uint32_t stream, uint64_t index,
                     uint32_t pair, double out[2]);

/* COUNT standard normals for item INDEX: out[j] is coordinate j, made from
 * pair j/2, so out[j] does not depend on COUNT. */
void rng_normals(uint64_t seed, uint32_t stream, uint64_t index, int64_t count,
                 double *out);

/* ROWS consecutive items FIRST, FIRST+1, ... of STREAM, COUNT normals each
 * (out[r*count + j]): the same bits as ROWS calls of rng_normals, with the
 * Philox rounds of many items run side by side (vectorized). */
void rng_normals_rows(uint64_t seed, uint32_t stream, uint64_t first,
                      int64_t rows, int64_t count, double *out);

/* A uniform double in (0, 1) for (seed, stream, index, pair). */
double rng_uniform(uint64_t seed, uint32_t stream, uint64_t index,
                   uint32_t pair);

#endif
