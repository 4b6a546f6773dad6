/* machine.c - the two hardware limits the benchmark compares tsim with
 * (scripts/bench.sh, never a test):
 *   triad   STREAM's triad a[i] = b[i] + s c[i] over arrays far larger than
 *           the caches; bandwidth counted as STREAM does, 24 bytes per
 *           element (no write-allocate traffic), best of the repetitions.
 *   peak    double-precision multiply + add throughput: 24 independent
 *           vector chains of x = x * m + c with -ffp-contract=off, i.e. the
 *           separate multiply and add that tsim's kernels must use (no FMA,
 *           so the bits do not depend on the CPU).
 * Times are CPU times of this process (best of several repetitions), so a
 * machine shared with other work still gives its own limits.
 * Usage: machine triad [MiB per array] | machine peak [repetitions, 10] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int triad(long mib) {
  const long n = mib * 1024 * 1024 / 8;
  double *a = malloc((size_t)n * 8), *b = malloc((size_t)n * 8), *c = malloc((size_t)n * 8);
  if (!a || !b || !c) return 1;
  for (long i = 0; i < n; ++i) {
    a[i] = 0.0;
    b[i] = 1.0 + (double)(i % 7);
    c[i] = 2.0;
  }
  const double s = 3.0;
  double best = 1e30;
  for (int rep = 0; rep < 8; ++rep) {
    const double t0 = now();
    for (long i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
    const double t = now() - t0;
    if (t < best) best = t;
  }
  double check = 0.0;
  for (long i = 0; i < n; i += 4096) check += a[i];
  printf("triad_GBps %.3f (arrays %ld MiB, check %g)\n", 24.0 * (double)n / best * 1e-9, mib,
         check);
  free(a);
  free(b);
  free(c);
  return 0;
}

typedef double v8 __attribute__((vector_size(64)));
#define CHAINS 24

static int peak(int reps) {
  v8 x[CHAINS];
  for (int t = 0; t < CHAINS; ++t)
    for (int l = 0; l < 8; ++l) x[t][l] = 1.0 + 1e-3 * (t + l);
  const v8 m = {0.999999, 0.999999, 0.999999, 0.999999, 0.999999, 0.999999, 0.999999, 0.999999};
  const v8 c = {1e-6, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6};
  const long iters = 20000000;
  double best = 1e30;
  for (int rep = 0; rep < reps; ++rep) { /* the best of REPS: the VM's speed drifts */
    const double t0 = now();
    for (long it = 0; it < iters; ++it)
      for (int t = 0; t < CHAINS; ++t) x[t] = x[t] * m + c;
    const double t = now() - t0;
    if (t < best) best = t;
  }
  double check = 0.0;
  for (int t = 0; t < CHAINS; ++t) check += x[t][0];
  printf("peak_GFLOPs %.3f (multiply + add, no FMA, check %g)\n",
         2.0 * 8.0 * CHAINS * (double)iters / best * 1e-9, check);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "triad")) return triad(argc >= 3 ? atol(argv[2]) : 256);
  if (argc >= 2 && !strcmp(argv[1], "peak")) {
    const int reps = argc >= 3 ? atoi(argv[2]) : 10;
    return peak(reps > 0 ? reps : 1);
  }
  fprintf(stderr, "usage: machine triad [MiB] | machine peak\n");
  return 2;
}
