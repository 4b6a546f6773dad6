/* moments.c - the fourth-moment engine (see moments.h). */
#include "tsim/moments.h"

#include <stdlib.h>
#include <string.h>

#include "tsim/reduce.h"

int64_t moments_pairs(int64_t d) { return d * (d + 1) / 2; }

int64_t moments_entries(int64_t d) {
  return d * (d + 1) / 2 * (d + 2) / 3 * (d + 3) / 4;
}

int64_t moments_pair_index(int64_t d, int64_t a, int64_t b) {
  /* pairs (a, b) with a <= b, rows a = 0, 1, ...: row a starts after the
   * d + (d-1) + ... + (d-a+1) pairs of the rows before it */
  return a * d - a * (a - 1) / 2 + (b - a);
}

moments_tensor *moments_create(int64_t d) {
  moments_tensor *t = tsim_xcalloc(1, sizeof *t);
  t->d = d;
  t->npairs = moments_pairs(d);
  t->nentries = moments_entries(d);
  t->sum = tsim_xcalloc((size_t)t->nentries, sizeof(double));
  t->segment = tsim_xcalloc((size_t)t->npairs, sizeof(int64_t));
  int64_t at = 0;
  for (int64_t a = 0; a < d; ++a)
    for (int64_t b = a; b < d; ++b) {
      t->segment[moments_pair_index(d, a, b)] = at;
      at += t->npairs - moments_pair_index(d, b, b);
    }
  return t;
}

void moments_destroy(moments_tensor **tp) {
  if (!tp || !*tp) return;
  free((*tp)->sum);
  free((*tp)->segment);
  free((*tp)->gram);
  free(*tp);
  *tp = NULL;
}

static void sort4(int64_t v[4]) {
  for (int i = 1; i < 4; ++i)
    for (int j = i; j > 0 && v[j - 1] > v[j]; --j) {
      const int64_t s = v[j];
      v[j] = v[j - 1];
      v[j - 1] = s;
    }
}

int64_t moments_index(const moments_tensor *t, int64_t a, int64_t b,
                      int64_t c, int64_t e) {
  int64_t v[4] = {a, b, c, e};
  sort4(v);
  const int64_t d = t->d;
  return t->segment[moments_pair_index(d, v[0], v[1])] +
         moments_pair_index(d, v[2], v[3]) - moments_pair_index(d, v[1], v[1]);
}

/* The pair monomials x_a x_b (a <= b) of one sample, in pair order. */
static inline void pair_monomials(const double *x, int64_t d, double *p) {
  int64_t at = 0;
  for (int64_t a = 0; a < d; ++a)
    for (int64_t b = a; b < d; ++b) p[at++] = x[a] * x[b];
}

/* The chunk kernel works on a padded copy of the packed layout: each pair's
 * segment rounded up to a multiple of LANE entries, and each sample's pair
 * monomials followed by LANE zeros, so that every segment is whole vectors
 * (no scalar remainder loops); the padding entries are dropped at the end. */
#define LANE 8

/* One padded segment for four samples at once: seg[e] += a0 t0[e], then
 * a1 t1[e], ... - the additions happen in sample order, exactly as four
 * single-sample passes would do them, but the segment is loaded and stored
 * once per four samples. */
static inline void segment_add4(double *restrict seg, int64_t len, double a0,
                                const double *restrict t0, double a1,
                                const double *restrict t1, double a2,
                                const double *restrict t2, double a3,
                                const double *restrict t3) {
  for (int64_t e = 0; e < len; e += LANE)
    for (int j = 0; j < LANE; ++j) {
      double s = seg[e + j];
      s += a0 * t0[e + j];
      s += a1 * t1[e + j];
      s += a2 * t2[e + j];
      s += a3 * t3[e + j];
      seg[e + j] = s;
    }
}

static inline void segment_add1(double *restrict seg, int64_t len, double a0,
                                const double *restrict t0) {
  for (int64_t e = 0; e < len; e += LANE)
    for (int j = 0; j < LANE; ++j) seg[e + j] += a0 * t0[e + j];
}

/* The build's inner loop: ~C(d+3,4) multiply-adds per sample, which the
 * compiler vectorizes (each entry's sum stays in sample order, so the bits
 * do not depend on the vector width or the padding). */
TSIM_HOT
void moments_chunk(const moments_tensor *t, const double *x, int64_t rows,
                   double *part) {
  const int64_t d = t->d, np = t->npairs, ld = np + LANE;
  double *p = tsim_xcalloc((size_t)(4 * ld), sizeof(double)); /* pads stay 0 */
  int64_t *tail = tsim_xmalloc((size_t)(3 * np) * sizeof(int64_t));
  int64_t *len = tail + np, *at = tail + 2 * np, padded = 0;
  for (int64_t a = 0; a < d; ++a)
    for (int64_t b = a; b < d; ++b) {
      const int64_t P = moments_pair_index(d, a, b);
      tail[P] = moments_pair_index(d, b, b);
      len[P] = (np - tail[P] + LANE - 1) / LANE * LANE;
      at[P] = padded;
      padded += len[P];
    }
  double *acc = tsim_xcalloc((size_t)padded, sizeof(double));
  int64_t i = 0;
  for (; i + 4 <= rows; i += 4) {
    double *p0 = p, *p1 = p + ld, *p2 = p + 2 * ld, *p3 = p + 3 * ld;
    pair_monomials(x + i * d, d, p0);
    pair_monomials(x + (i + 1) * d, d, p1);
    pair_monomials(x + (i + 2) * d, d, p2);
    pair_monomials(x + (i + 3) * d, d, p3);
    for (int64_t P = 0; P < np; ++P) {
      const int64_t tb = tail[P];
      segment_add4(acc + at[P], len[P], p0[P], p0 + tb, p1[P], p1 + tb, p2[P],
                   p2 + tb, p3[P], p3 + tb);
    }
  }
  for (; i < rows; ++i) {
    pair_monomials(x + i * d, d, p);
    for (int64_t P = 0; P < np; ++P)
      segment_add1(acc + at[P], len[P], p[P], p + tail[P]);
  }
  for (int64_t P = 0; P < np; ++P)
    memcpy(part + t->segment[P], acc + at[P], (size_t)(np - tail[P]) * sizeof(double));
  free(acc);
  free(p);
  free(tail);
}

/* gram[P][Q] = sum[(P, Q)]: the tensor as a symmetric matrix over pairs,
 * so that a contraction is one matrix-vector product. */
static void make_gram(moments_tensor *t) {
  const int64_t d = t->d, np = t->npairs;
  t->gram = tsim_xmalloc((size_t)(np * np) * sizeof(double));
  for (int64_t a = 0; a < d; ++a)
    for (int64_t b = a; b < d; ++b)
      for (int64_t c = 0; c < d; ++c)
        for (int64_t e = c; e < d; ++e)
          t->gram[moments_pair_index(d, a, b) * np + moments_pair_index(d, c, e)] =
              t->sum[moments_index(t, a, b, c, e)];
}

int moments_build(const tsim_params *p, tsim_split split, const par_comm *comm,
                  int (*poll)(void *ctx), void *poll_ctx,
                  moments_tensor **out, tsim_error *err) {
  const double t0 = tsim_wtime();
  *out = NULL;
  moments_tensor *t = moments_create(p->d);
  t->n = split == DATA_TRAIN ? p->n : p->n_test;
  const int rank = comm ? par_rank(comm) : 0, size = comm ? par_size(comm) : 1;
  const int64_t chunk = p->chunk, nchunks = (t->n + chunk - 1) / chunk;
  int64_t c0, c1;
  data_chunk_range(nchunks, rank, size, &c0, &c1);
  double *x = tsim_xmalloc((size_t)(chunk * p->d) * sizeof(double));
  double *part = tsim_xmalloc((size_t)t->nentries * sizeof(double));
  esum *acc = esum_create(t->nentries);
  esum_begin(acc);
  /* every rank takes the largest share's number of steps, so that all
   * call POLL together */
  const int64_t steps = (nchunks + size - 1) / size;
  int stopped = 0;
  for (int64_t step = 0; step < steps && !stopped; ++step) {
    const int64_t c = c0 + step;
    if (c < c1) {
      const int64_t row0 = c * chunk;
      const int64_t rows = row0 + chunk > t->n ? t->n - row0 : chunk;
      data_generate_x(p, split, row0, rows, x);
      moments_chunk(t, x, rows, part);
      esum_add(acc, part);
    }
    if (poll && (step + 1) % MOMENTS_POLL_CHUNKS == 0) stopped = poll(poll_ctx);
  }
  if (stopped) {
    esum_destroy(&acc);
    free(part);
    free(x);
    moments_destroy(&t);
    return tsim_fail(err, TSIM_ESTOP, "tensor build interrupted");
  }
  esum_finish(acc, comm, nchunks, t->sum);
  esum_destroy(&acc);
  free(part);
  free(x);
  make_gram(t);
  t->build_seconds = tsim_wtime() - t0;
  *out = t;
  return TSIM_OK;
}

void moments_teacher_matrix(const tsim_teacher *t, double *Astar) {
  /* Wang & Abernethy's teacher y = (x^T w*)^2: A* = w* w*^T. (Teachers
   * y = c sum_j (v_j^T x)^2 give A* = c sum_j v_j v_j^T: the only place
   * the engine sees the teacher.) */
  for (int64_t a = 0; a < t->d; ++a)
    for (int64_t b = 0; b < t->d; ++b) Astar[a * t->d + b] = t->w[a] * t->w[b];
}

struct moments_work {
  int64_t d, K, npairs;
  double *cA, *B, *cS, *BS, *Bfull;
};

moments_work *moments_work_create(const tsim_model *m) {
  moments_work *w = tsim_xcalloc(1, sizeof *w);
  w->d = m->d;
  w->K = m->K;
  w->npairs = moments_pairs(m->d);
  const size_t np = (size_t)w->npairs;
  w->cA = tsim_xcalloc(np, sizeof(double));
  w->B = tsim_xcalloc(np, sizeof(double));
  w->cS = tsim_xcalloc(np, sizeof(double));
  w->BS = tsim_xcalloc(np, sizeof(double));
  w->Bfull = tsim_xcalloc((size_t)(m->d * m->d), sizeof(double));
  return w;
}

void moments_work_destroy(moments_work **wp) {
  if (!wp || !*wp) return;
  moments_work *w = *wp;
  free(w->cA);
  free(w->B);
  free(w->cS);
  free(w->BS);
  free(w->Bfull);
  free(w);
  *wp = NULL;
}

/* out = gram * v (gram symmetric): column by column, so the loop over
 * entries is a plain multiply-add that vectorizes without reordering. */
TSIM_HOT
static void gram_apply(const moments_tensor *t, const double *restrict v,
                       double *restrict out) {
  const int64_t np = t->npairs;
  memset(out, 0, (size_t)np * sizeof(double));
  for (int64_t Q = 0; Q < np; ++Q) {
    const double c = v[Q];
    const double *restrict col = t->gram + Q * np;
    for (int64_t P = 0; P < np; ++P) out[P] += c * col[P];
  }
}

void moments_evaluate(const tsim_model *m, const moments_tensor *t,
                      const double *Astar, const double *W, const double *V,
                      moments_work *w, model_eval *out) {
  const int64_t d = m->d, K = m->K, np = w->npairs;
  const double C = m->C, s = m->loss_scale;
  const double inv_n = t->n > 0 ? 1.0 / (double)t->n : 0.0;
  /* cA = A in pair coordinates, off-diagonal pairs weighted 2, so that
   * <X, Y> = sum_P cX_P Y_P for symmetric X, Y and M[A]_P = (gram cA)_P */
  int64_t P = 0;
  for (int64_t a = 0; a < d; ++a)
    for (int64_t b = a; b < d; ++b, ++P) {
      double ww = 0.0;
      for (int64_t k = 0; k < K; ++k) ww += W[k * d + a] * W[k * d + b];
      const double A = C * ww - Astar[a * d + b];
      w->cA[P] = a == b ? A : 2.0 * A;
    }
  gram_apply(t, w->cA, w->B);
  double quad = 0.0;
  for (P = 0; P < np; ++P) quad += w->cA[P] * w->B[P];
  out->loss = s * quad * inv_n;
  out->hess_quad = 0.0;
  if (out->grad) {
    /* grad_k = 4 s C/n M[A] w_k */
    P = 0;
    for (int64_t a = 0; a < d; ++a)
      for (int64_t b = a; b < d; ++b, ++P)
        w->Bfull[a * d + b] = w->Bfull[b * d + a] = w->B[P];
    const double g = 4.0 * s * C * inv_n;
    for (int64_t k = 0; k < K; ++k) {
      const double *wk = W + k * d;
      for (int64_t a = 0; a < d; ++a) {
        const double *row = w->Bfull + a * d;
        double acc = 0.0;
        for (int64_t b = 0; b < d; ++b) acc += row[b] * wk[b];
        out->grad[k * d + a] = g * acc;
      }
    }
  }
  if (V) {
    /* q9 = s/n (4 C <M[A], V V^T> + 8 C^2 <M[S], S>), S = sym(W V^T) */
    double first = 0.0;
    P = 0;
    for (int64_t a = 0; a < d; ++a)
      for (int64_t b = a; b < d; ++b, ++P) {
        double vv = 0.0, wv = 0.0;
        for (int64_t k = 0; k < K; ++k) {
          vv += V[k * d + a] * V[k * d + b];
          wv += W[k * d + a] * V[k * d + b] + V[k * d + a] * W[k * d + b];
        }
        first += (a == b ? vv : 2.0 * vv) * w->B[P];
        w->cS[P] = a == b ? 0.5 * wv : wv;
      }
    gram_apply(t, w->cS, w->BS);
    double second = 0.0;
    for (P = 0; P < np; ++P) second += w->cS[P] * w->BS[P];
    out->hess_quad = s * (4.0 * C * first + 8.0 * C * C * second) * inv_n;
  }
}
