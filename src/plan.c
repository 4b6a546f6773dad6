/* plan.c - the cells of a run, their order, the team and batch sizes, and
 * the hand-out of batches (see plan.h). */
#include "tsim/plan.h"

#include <stdlib.h>
#include <string.h>

#include "tsim/cell.h"
#include "tsim/engine.h"

int plan_parse_cells(const char *spec, int64_t ncells, int64_t **ids, int64_t *nids,
                     tsim_error *err) {
  int64_t a = 0, b = ncells, stride = 1, offset = 0;
  if (spec) {
    char *end;
    const char *colon = strchr(spec, ':'), *slash = strchr(spec, '/');
    if (colon) {
      a = colon == spec ? 0 : strtoll(spec, &end, 10);
      if (colon != spec && end != colon) goto bad;
      b = colon[1] ? strtoll(colon + 1, &end, 10) : ncells;
      if (colon[1] && *end) goto bad;
      if (a < 0 || b > ncells || a >= b)
        return tsim_fail(err, TSIM_EINPUT,
                         "--cells %s: the range must lie within 0:%lld and not be empty",
                         spec, (long long)ncells);
    } else if (slash) {
      offset = strtoll(spec, &end, 10);
      if (end != slash) goto bad;
      stride = strtoll(slash + 1, &end, 10);
      if (*end || stride < 1 || offset < 0 || offset >= stride)
        return tsim_fail(err, TSIM_EINPUT,
                         "--cells %s: need i/N with 0 <= i < N", spec);
    } else {
      goto bad;
    }
  }
  *ids = tsim_xmalloc((size_t)(ncells + 1) * sizeof(int64_t));
  *nids = 0;
  for (int64_t id = a; id < b; ++id)
    if (id % stride == offset) (*ids)[(*nids)++] = id;
  if (*nids == 0) {
    free(*ids);
    *ids = NULL;
    return tsim_fail(err, TSIM_EINPUT, "--cells %s selects no cell of %lld", spec,
                     (long long)ncells);
  }
  return TSIM_OK;
bad:
  return tsim_fail(err, TSIM_EINPUT,
                   "--cells %s: expected a:b (ids a <= id < b) or i/N (every id "
                   "with id %% N == i)", spec);
}

static double expected_cost(const tsim_config *cfg, int64_t id) {
  tsim_params p;
  config_cell(cfg, id, &p);
  return (double)p.iterations * (double)p.n * (double)p.K;
}

typedef struct costed {
  double cost;
  int64_t cell;
} costed;

static int by_cost_desc(const void *x, const void *y) {
  const costed *a = x, *b = y;
  if (a->cost != b->cost) return a->cost > b->cost ? -1 : 1;
  return a->cell < b->cell ? -1 : a->cell > b->cell;
}

void plan_order_by_cost(const tsim_config *cfg, int64_t *cells, int64_t n) {
  costed *c = tsim_xmalloc((size_t)(n ? n : 1) * sizeof *c);
  for (int64_t i = 0; i < n; ++i) c[i] = (costed){expected_cost(cfg, cells[i]), cells[i]};
  qsort(c, (size_t)n, sizeof *c, by_cost_desc);
  for (int64_t i = 0; i < n; ++i) cells[i] = c[i].cell;
  free(c);
}

/* Team size: from the command line, else the config, else one rank per
 * cell while there are at least as many cells as ranks, and more ranks per
 * cell when cells are few or a rank could not hold a cell's samples. */
int plan_team_size(const tsim_config *cfg, const int64_t *order, int64_t norder,
                   int64_t requested, int size) {
  if (requested > 0) return (int)(requested < size ? requested : size);
  int g = 1;
  if (norder < size) g = (int)(size / norder);
  double max_bytes = 0, max_build = 0, iterations_cost = 0;
  int all_moments = 1;
  for (int64_t i = 0; i < norder; ++i) {
    tsim_params p;
    config_cell(cfg, order[i], &p);
    /* the moments engine and regenerated samples keep no samples */
    const int moments = engine_choose(&p) == ENGINE_MOMENTS;
    double bytes = (double)(p.n + p.n_test) * (double)(p.d + 1) * 8.0;
    if (moments || p.storage == STORAGE_REGENERATE) bytes = 0;
    if (bytes > max_bytes) max_bytes = bytes;
    engine_costs c;
    engine_costs_of(&p, &c);
    all_moments &= moments;
    if (c.moments_build > max_build) max_build = c.moments_build;
    iterations_cost += (double)p.iterations * c.moments_iteration;
  }
  const double per_rank_limit = 4.0e9; /* keep a rank's samples under 4 GB */
  while (g < size && max_bytes / g > per_rank_limit) ++g;
  /* Moments cells: every team builds the tensors of the data sets it meets
   * (on its g ranks), then iterates without sharding. When building one
   * tensor costs more than all the iterations, one team of every rank
   * builds it fastest. */
  if (all_moments && max_build > iterations_cost) g = size;
  return g;
}

/* Can the fused pass advance cell P together with others (cell.h)? */
static int batchable(const tsim_params *p) { return cell_batchable(p); }

int plan_team_of_rank(int rank, int g, int nteams) {
  const int t = rank / g;
  return t < nteams ? t : nteams - 1;
}

/* Most cells per batch: run.batch, or automatically up to 16 while every
 * team still gets about two batches (a batch lasts as long as its longest
 * cell, so fewer, larger batches would balance the teams worse). */
int plan_batch_size(const tsim_config *cfg, const int64_t *order, int64_t norder, int nteams,
                    int64_t requested) {
  int any = 0; /* no batchable cell: no batches (and none announced) */
  for (int64_t i = 0; i < norder && !any; ++i) {
    tsim_params p;
    config_cell(cfg, order[i], &p);
    any = batchable(&p);
  }
  if (!any) return 1;
  if (requested > 0) return (int)requested;
  int64_t b = norder / (2 * (int64_t)nteams);
  if (b > 16) b = 16;
  return b < 1 ? 1 : (int)b;
}

struct plan_handout {
  const int64_t *order; /* the cells in the order they are handed out */
  int64_t norder, cursor;
  int bmax;
  unsigned char *taken; /* per cell id: handed out */
  /* cells that may share a batch, grouped once (group_cells): per order
   * position, the next position of its group (-1: none, or not batchable);
   * per group, the first position not yet handed out or passed over */
  int64_t *group_next, *group_head, *group_of;
};

/* When batching: the batchable cells grouped by data set, once, so that
 * plan_next_batch takes a batch in time independent of the cells left (it
 * looked at every remaining cell for every batch: quadratic in the grid). */
static void group_cells(plan_handout *s, const tsim_config *cfg) {
  const int64_t n = s->norder;
  s->group_next = tsim_xmalloc((size_t)(n ? n : 1) * sizeof(int64_t));
  s->group_of = tsim_xmalloc((size_t)(n ? n : 1) * sizeof(int64_t));
  s->group_head = tsim_xmalloc((size_t)(n ? n : 1) * sizeof(int64_t));
  int64_t *tail = tsim_xmalloc((size_t)(n ? n : 1) * sizeof(int64_t));
  tsim_params *rep = tsim_xmalloc((size_t)(n ? n : 1) * sizeof(tsim_params));
  uint64_t cap = 2;
  while (cap < 2 * (uint64_t)n) cap *= 2;
  int64_t *slot = tsim_xmalloc(cap * sizeof(int64_t)); /* group id, -1 empty */
  for (uint64_t i = 0; i < cap; ++i) slot[i] = -1;
  int64_t ngroups = 0;
  for (int64_t i = 0; i < n; ++i) {
    s->group_next[i] = -1;
    s->group_of[i] = -1;
    tsim_params p;
    config_cell(cfg, s->order[i], &p);
    if (!batchable(&p)) continue;
    uint64_t at = config_data_hash(&p) & (cap - 1);
    while (slot[at] >= 0 && !config_same_data(&rep[slot[at]], &p)) at = (at + 1) & (cap - 1);
    if (slot[at] < 0) {
      slot[at] = ngroups;
      rep[ngroups] = p;
      s->group_head[ngroups] = i;
      tail[ngroups++] = i;
    } else {
      s->group_next[tail[slot[at]]] = i;
      tail[slot[at]] = i;
    }
    s->group_of[i] = slot[at];
  }
  free(slot);
  free(rep);
  free(tail);
}

plan_handout *plan_handout_create(const tsim_config *cfg, const int64_t *order, int64_t norder,
                                  int bmax) {
  plan_handout *h = tsim_xcalloc(1, sizeof *h);
  h->order = order;
  h->norder = norder;
  h->bmax = bmax;
  h->taken = tsim_xcalloc((size_t)cfg->ncells + 1, 1);
  if (bmax > 1) group_cells(h, cfg);
  return h;
}

void plan_handout_destroy(plan_handout **hp) {
  plan_handout *h = *hp;
  if (!h) return;
  free(h->taken);
  free(h->group_next);
  free(h->group_head);
  free(h->group_of);
  free(h);
  *hp = NULL;
}

/* The next cell in the order and later cells of its group (config_same_data,
 * batchable), walked from the group's head. */
int plan_next_batch(plan_handout *s, int64_t *cells) {
  while (s->cursor < s->norder && s->taken[s->order[s->cursor]]) ++s->cursor;
  if (s->cursor >= s->norder) return 0;
  int n = 0;
  const int64_t first = s->cursor;
  cells[n++] = s->order[s->cursor];
  s->taken[s->order[s->cursor++]] = 1;
  if (s->bmax <= 1 || s->group_of[first] < 0) return n;
  /* every position of the group before the head is handed out */
  const int64_t g = s->group_of[first];
  int64_t i = s->group_head[g];
  for (; i >= 0 && n < s->bmax; i = s->group_next[i]) {
    const int64_t c = s->order[i];
    if (s->taken[c]) continue;
    cells[n++] = c;
    s->taken[c] = 1;
  }
  s->group_head[g] = i;
  return n;
}

