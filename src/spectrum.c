/* spectrum.c - the schedule of Hessian spectra and their rows (see
 * spectrum.h); the matrix and the eigensolver are hessian.c's. */
#include "tsim/spectrum.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsim/hessian.h"
#include "tsim/schedule.h"

struct spectrum_plan {
  tsim_params p;
  int64_t *at, nat; /* ascending */
  hessian *h;
  double *eig, *overlap;
};

static int cmp_int64(const void *a, const void *b) {
  const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

spectrum_plan *spectrum_plan_create(const tsim_params *p, const par_comm *team) {
  if (!schedule_spectra(p)) return NULL;
  spectrum_plan *sp = tsim_xcalloc(1, sizeof *sp);
  sp->p = *p;
  if (p->hess_nat > 0) { /* metrics.hessian.at, sorted */
    sp->nat = p->hess_nat;
    sp->at = tsim_xcalloc((size_t)sp->nat, sizeof(int64_t));
    memcpy(sp->at, p->hess_at, (size_t)sp->nat * sizeof(int64_t));
    qsort(sp->at, (size_t)sp->nat, sizeof(int64_t), cmp_int64);
  }
  const int64_t N = p->K * p->d + (p->train_output ? p->K : 0); /* the a_k after the w_k */
  sp->h = hessian_create(team, N, 0);
  sp->eig = tsim_xcalloc((size_t)N, sizeof(double));
  if (p->hess_vectors) sp->overlap = tsim_xcalloc((size_t)N, sizeof(double));
  return sp;
}

void spectrum_plan_destroy(spectrum_plan **spp) {
  if (!spp || !*spp) return;
  spectrum_plan *sp = *spp;
  hessian_destroy(&sp->h);
  free(sp->at);
  free(sp->eig);
  free(sp->overlap);
  free(sp);
  *spp = NULL;
}

int spectrum_due(const spectrum_plan *sp, int64_t t, int q9_event, int final) {
  if (!sp) return 0;
  if (schedule_spectrum_due(&sp->p, t, q9_event, final)) return 1;
  return sp->nat && bsearch(&t, sp->at, (size_t)sp->nat, sizeof(int64_t), cmp_int64);
}

/* hessian_moment_fn over moments.h's packed tensor (sums, not means). */
static double tensor_entry(const void *ctx, int64_t a, int64_t b, int64_t c,
                           int64_t e) {
  const moments_tensor *mt = ctx;
  return mt->sum[moments_index(mt, a, b, c, e)];
}

int spectrum_record(spectrum_plan *sp, const tsim_model *m,
                    const tsim_teacher *teacher, const tsim_dataset *ds,
                    const moments_tensor *mt, const double *W, const double *V,
                    double q9, int64_t t, cell_result *res, tsim_error *err) {
  const int64_t N = hessian_order(sp->h);
  if (sp->p.hess_source == HESS_SOURCE_POPULATION) /* config: engine_spectra_unsupported */
    hessian_assemble_population(sp->h, m, teacher, W);
  else if (mt)
    hessian_assemble_moments(sp->h, m, teacher, W, mt->n, tensor_entry, mt);
  else
    hessian_assemble_samples(sp->h, m, ds, W);
  if (sp->p.weight_decay > 0.0) hessian_shift(sp->h, sp->p.weight_decay); /* the objective's */
  double vv = 0.0;
  for (int64_t g = 0; g < N; ++g) vv += V[g] * V[g];
  const double quad = hessian_quad(sp->h, V);
  TSIM_TRY(hessian_eigen(sp->h, sp->eig, V, sp->overlap, err));
  const double *e = sp->eig;
  const double scale = fmax(fabs(e[0]), fabs(e[N - 1]));
  int64_t negative = 0;
  for (int64_t j = 0; j < N && e[j] < -1e-10 * scale; ++j) ++negative;
  double *row = cell_result_row(res, TABLE_HESSIAN);
  row[0] = (double)t;
  row[1] = e[0];
  row[2] = e[N - 1];
  row[3] = isnan(e[0]) ? NAN : (double)negative;
  row[4] = vv > 0.0 ? quad / vv : NAN;
  row[5] = vv > 0.0 ? q9 / vv : NAN;
  const int64_t bottom = sp->p.hess_bottom, top = sp->p.hess_top;
  for (int64_t j = 0; j < N; ++j) {
    if (bottom + top < N && j >= bottom && j < N - top) continue;
    double *sr = cell_result_row(res, TABLE_SPECTRUM);
    sr[0] = (double)t;
    sr[1] = (double)j;
    sr[2] = e[j];
    sr[3] = sp->overlap ? sp->overlap[j] : NAN;
  }
  return TSIM_OK;
}
