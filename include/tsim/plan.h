/* plan.h - which cells a run takes and how they are handed out: the slice
 * of the grid (--cells), the order (longest expected first), the team size,
 * the batch size and the batches themselves (cells sharing a data set that
 * a team advances together, batch.h). Pure functions of the config and the
 * world size, so every rank plans the same. */
#ifndef TSIM_PLAN_H
#define TSIM_PLAN_H

#include <stdint.h>
#include "tsim/common.h"
#include "tsim/config.h"

/* The cell ids a slice spec selects, ascending: "a:b" is a <= id < b,
 * "i/N" is every id with id % N == i (balanced slices for job arrays). */
int plan_parse_cells(const char *spec, int64_t ncells, int64_t **ids, int64_t *nids,
                     tsim_error *err);

/* CELLS[0..n) sorted longest expected first (iterations x n x K), ties by id. */
void plan_order_by_cost(const tsim_config *cfg, int64_t *cells, int64_t n);

/* Ranks per team for the cells ORDER[0..norder) on SIZE ranks: REQUESTED
 * (the command line's, else the config's) if > 0, else chosen. */
int plan_team_size(const tsim_config *cfg, const int64_t *order, int64_t norder,
                   int64_t requested, int size);

/* The team of RANK when the world is split into NTEAMS teams of G ranks
 * (the last team takes the remainder). */
int plan_team_of_rank(int rank, int g, int nteams);

/* Most cells per batch for those cells on NTEAMS teams: REQUESTED
 * (run.batch) if > 0, else automatic; 1 when no cell can share a batch. */
int plan_batch_size(const tsim_config *cfg, const int64_t *order, int64_t norder, int nteams,
                    int64_t requested);

/* Rank 0's hand-out of the cells ORDER[0..norder) (not copied: it must
 * outlive the hand-out) in batches of at most BMAX. */
typedef struct plan_handout plan_handout;
plan_handout *plan_handout_create(const tsim_config *cfg, const int64_t *order, int64_t norder,
                                  int bmax);
void plan_handout_destroy(plan_handout **h);
/* The next batch into CELLS (room for BMAX): the next cell in the order and,
 * when batching, later cells of the order that share its data set. Returns
 * its size, 0 when nothing is left. Time proportional to the batch
 * (amortised), whatever the number of cells left. */
int plan_next_batch(plan_handout *h, int64_t *cells);

#endif
