/* bench_hessian.c - time to assemble the distributed Hessian of the
 * empirical loss and to diagonalise it (scripts/bench.sh; not a test).
 *   mpirun -np P build/bench_hessian D K N
 * prints one line: ranks grid dK n assemble_s eigvals_s eigvecs_s
 * (eigenvalues only with pdsyev, then eigenvalues and vectors with pdsyevd;
 * each timed from a barrier to a barrier, on rank 0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/data.h"
#include "tsim/hessian.h"
#include "tsim/model.h"

int main(int argc, char **argv) {
  par_init(&argc, &argv);
  const par_comm *world = par_world();
  if (argc < 4) {
    if (par_rank(world) == 0) fprintf(stderr, "usage: bench_hessian D K N\n");
    par_finalize();
    return 2;
  }
  tsim_params p;
  memset(&p, 0, sizeof p);
  p.activation = ACT_QUADRATIC;
  p.d = atoll(argv[1]);
  p.K = atoll(argv[2]);
  p.n = atoll(argv[3]);
  p.C = 1.0;
  p.loss_scale = 0.25;
  p.teacher_norm = 1.0;
  p.chunk = 2048;
  p.data_seed = 1;
  p.init_scale = 1.0;
  p.init_seed = 2;
  tsim_error err;
  tsim_teacher t;
  tsim_model m;
  tsim_dataset *ds = NULL;
  model_from_params(&p, &m);
  teacher_make(&p, &t, &err);
  data_make(&p, &t, DATA_TRAIN, par_rank(world), par_size(world), &ds, &err);
  const int64_t N = p.d * p.K;
  double *W = malloc((size_t)N * sizeof(double)), *V = malloc((size_t)N * sizeof(double));
  data_init_weights(&p, W, &err);
  for (int64_t g = 0; g < N; ++g) V[g] = 1.0;
  double *eig = malloc((size_t)N * sizeof(double)), *ov = malloc((size_t)N * sizeof(double));
  hessian *h = hessian_create(world, N, 0);
  double times[3];
  for (int pass = 0; pass < 2; ++pass) {
    par_barrier(world);
    double t0 = tsim_wtime();
    hessian_assemble_samples(h, &m, ds, W);
    par_barrier(world);
    double t1 = tsim_wtime();
    hessian_eigen(h, eig, pass ? V : NULL, pass ? ov : NULL, &err);
    par_barrier(world);
    double t2 = tsim_wtime();
    if (pass == 0) times[0] = t1 - t0;
    times[1 + pass] = t2 - t1;
  }
  if (par_rank(world) == 0)
    printf("%d %lld %lld %.3f %.3f %.3f %.6g %.6g\n", par_size(world),
           (long long)N, (long long)p.n, times[0], times[1], times[2], eig[0],
           eig[N - 1]);
  hessian_destroy(&h);
  free(W);
  free(V);
  free(eig);
  free(ov);
  data_destroy(&ds);
  teacher_free(&t);
  par_finalize();
  return 0;
}
