/* sched.c - runs the grid's cells and hands results to the run directory.
 *
 * This version runs every cell on the whole world as one team, in cell-id
 * order; a cell's result does not depend on the schedule (train.h), so a
 * dynamic schedule can replace this loop without changing any output. */
#include "tsim/sched.h"

#include <stdio.h>
#include <string.h>

#include "tsim/output.h"
#include "tsim/train.h"

typedef struct tally {
  int64_t by_status[4];
  int64_t done;
} tally;

static void print_cell(const tsim_config *cfg, const cell_result *r,
                       const tally *t) {
  char label[1024], q9[32], loss[40];
  config_cell_label(cfg, r->cell, label, sizeof label);
  if (r->t_q9_positive >= 0)
    snprintf(q9, sizeof q9, "%lld", (long long)r->t_q9_positive);
  else
    snprintf(q9, sizeof q9, "-");
  output_format_double(loss, sizeof loss, r->final_train_loss);
  printf("cell %lld (%lld/%lld) %s: %s at t=%lld, t_q9_positive=%s, "
         "train_loss=%.6g, %.2f s\n",
         (long long)r->cell, (long long)t->done, (long long)cfg->ncells,
         label[0] ? label : "-", output_status_name(r->status),
         (long long)r->iterations, q9, r->final_train_loss, r->wall_s);
  fflush(stdout);
}

int sched_run(const tsim_config *cfg, const sched_options *opt,
              tsim_error *err) {
  par_comm *world = par_world();
  const int rank = par_rank(world);
  const double t0 = tsim_wtime();
  run_output *out = NULL;
  int rc = TSIM_OK;
  if (rank == 0) rc = output_open(cfg, opt->outdir, opt->force, &out, err);
  rc = par_agree(world, rc, err);
  if (rc) return rc;

  train_cache *cache = train_cache_create();
  tally t = {{0}, 0};
  for (int64_t cell = 0; cell < cfg->ncells && !rc; ++cell) {
    cell_result res;
    rc = train_cell(cfg, cell, world, cache, &res, err);
    if (!rc) {
      t.by_status[res.status] += 1;
      t.done += 1;
      if (rank == 0) {
        rc = output_write_cell(out, cfg, &res, err);
        if (!opt->quiet) print_cell(cfg, &res, &t);
      }
      rc = par_agree(world, rc, err);
    }
    cell_result_free(&res);
  }
  train_cache_destroy(&cache);

  const double wall = tsim_wtime() - t0;
  if (rank == 0) {
    char extra[8192], hosts[4096], mpi[256];
    par_hosts(world, hosts, sizeof hosts);
    par_library_version(mpi, sizeof mpi);
    snprintf(extra, sizeof extra,
             "  \"mpi_library\": \"%s\",\n  \"ranks\": %d,\n"
             "  \"hosts\": \"%s\",\n  \"command\": \"%s\",\n"
             "  \"cells\": %lld,\n  \"converged\": %lld,\n"
             "  \"max_iterations\": %lld,\n  \"diverged\": %lld,\n"
             "  \"wall_s\": %.3f",
             mpi, par_size(world), hosts,
             opt->command_line ? opt->command_line : "", (long long)t.done,
             (long long)t.by_status[CELL_CONVERGED],
             (long long)t.by_status[CELL_MAX_ITERATIONS],
             (long long)t.by_status[CELL_DIVERGED], wall);
    tsim_error close_err = {0};
    int crc = output_close(&out, extra, &close_err);
    if (!rc && crc) {
      rc = crc;
      *err = close_err;
    }
    if (!opt->quiet || rc == TSIM_OK)
      printf("tally: %lld cells: %lld converged, %lld max_iterations, "
             "%lld diverged, %lld skipped(invalid); wall %.2f s; %s\n",
             (long long)cfg->ncells, (long long)t.by_status[CELL_CONVERGED],
             (long long)t.by_status[CELL_MAX_ITERATIONS],
             (long long)t.by_status[CELL_DIVERGED], (long long)0, wall,
             opt->outdir);
  } else {
    char hosts[16];
    par_hosts(world, hosts, sizeof hosts); /* collective */
  }
  return par_agree(world, rc, err);
}
