/* sched.c - a run of the grid (see sched.h): the plan (plan.h), the run
 * directory opened anew or resumed (resume.h), the coordinator and the
 * teams (coordinator.h), then the manifest and the tally. */
#include "tsim/sched.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tsim/coordinator.h"
#include "tsim/fault.h"
#include "tsim/output.h"
#include "tsim/plan.h"
#include "tsim/progress.h"
#include "tsim/resume.h"
#include "tsim/stop.h"
#include "tsim/cell.h"
#include "tsim/cellkind.h"

/* Collective: the moments engine's tensor builds and iterations over all
 * ranks, printed on rank 0 and kept for the manifest, and the sharded
 * engine's longest making of a data set (manifest: samples_s, what a
 * benchmark subtracts from a cell's wall_s). */
static void engine_summary(const coordinator *s, char *json, size_t cap) {
  train_engine_stats st;
  train_cache_stats(s->cache, &st);
  if (s->team_rank != 0) /* a team's ranks build and iterate together: count once */
    st.tensor_builds = st.moments_iterations = 0, st.moments_seconds = 0.0,
    st.sample_sets = 0;
  const int64_t sets = par_max_int64(s->world, st.sample_sets > 0);
  const int64_t samples_us = par_max_int64(s->world, llround(st.samples_seconds * 1e6));
  int64_t counts[2] = {st.tensor_builds, st.moments_iterations};
  par_sum_int64(s->world, counts, 2);
  int64_t iter_us[1] = {llround(st.moments_seconds * 1e6)};
  par_sum_int64(s->world, iter_us, 1);
  const int64_t build_us = par_max_int64(s->world, llround(st.build_seconds * 1e6));
  const int64_t build_n = par_max_int64(s->world, st.build_n);
  json[0] = '\0';
  if (sets)
    snprintf(json, cap, "  \"samples_s\": %.3f%s",
             (double)samples_us * 1e-6, counts[0] ? ",\n" : "");
  if (counts[0] == 0) return;
  const double per_iter = counts[1] ? (double)iter_us[0] * 1e-6 / (double)counts[1] : 0.0;
  const size_t used = strlen(json);
  snprintf(json + used, cap - used,
           "  \"moments_tensor_builds\": %lld,\n  \"moments_build_s\": %.3f,\n"
           "  \"moments_build_n\": %lld,\n  \"moments_iterations\": %lld,\n"
           "  \"moments_s_per_iteration\": %.3e",
           (long long)counts[0], (double)build_us * 1e-6, (long long)build_n,
           (long long)counts[1], per_iter);
  if (s->rank == 0 && s->prog.mode != PROGRESS_NONE) {
    printf("moments engine: %lld tensor build%s on the ranks (longest %.3f s, n = %lld), "
           "%lld iterations at %.3g s each (all metrics included)\n",
           (long long)counts[0], counts[0] == 1 ? "" : "s", (double)build_us * 1e-6,
           (long long)build_n, (long long)counts[1], per_iter);
    fflush(stdout);
  }
}

/* What a run without a teacher leaves out (the start line, the manifest). */
static const char *const no_teacher_effects =
    "dist, pop_loss, q9, t_q9_positive, t_lemma1, t_gamma, t_gamma_bound, final_dist and "
    "the neurons' par, perp_norm and comp_* are empty, teachers.csv is not written, and a "
    "cell converges only by train.loss_tol";

/* Rank 0: manifest.json, with HOSTS (par_hosts, gathered on every rank) and
 * ENGINE_JSON (engine_summary's); DONE_BEFORE cells finished before a resume. */
static void write_manifest(coordinator *s, const sched_options *opt, int rc, double wall,
                           int64_t done_before, const char *hosts, const char *engine_json) {
  char extra[8192], mpi[256];
  par_library_version(mpi, sizeof mpi);
  snprintf(extra, sizeof extra,
           "  \"mpi_library\": \"%s\",\n  \"ranks\": %d,\n  \"team_size\": %d,\n"
           "  \"teams\": %d,\n  \"hosts\": \"%s\",\n  \"command\": \"%s\",\n"
           "  \"cells_total\": %lld,\n  \"cells_selected\": \"%s\",\n"
           "  \"cells_done\": %lld,\n  \"converged\": %lld,\n"
           "  \"max_iterations\": %lld,\n  \"reached_T\": %lld,\n  \"evaluated\": %lld,\n"
           "  \"diverged\": %lld,\n"
           "  \"status\": \"%s\",\n  \"wall_s\": %.3f",
           mpi, par_size(s->world), s->g, s->nteams, hosts,
           opt->command_line ? opt->command_line : "",
           (long long)s->cfg->ncells, opt->cells ? opt->cells : "all",
           (long long)(s->done + done_before), (long long)s->by_status[CELL_CONVERGED],
           (long long)s->by_status[CELL_MAX_ITERATIONS],
           (long long)s->by_status[CELL_REACHED_T], (long long)s->by_status[CELL_EVALUATED],
           (long long)s->by_status[CELL_DIVERGED],
           rc ? "failed" : s->done < s->norder ? "stopped" : "complete", wall);
  if (engine_json[0])
    snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ",\n%s", engine_json);
  if (s->cfg->base.pop_quadrature)
    snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
             ",\n  \"pop_quadrature\": \"pop_loss without a closed form: Gauss-Hermite, "
             "n = 24 + c z^2 nodes, z the largest weight norm of the row, c = 120 with tanh, "
             "else 30 (up to 4096)\"");
  const char *none = cellkind_no_teacher(&s->cfg->base);
  if (none)
    snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ",\n  \"teacher\": \"%s; %s\"",
             none, no_teacher_effects);
  tsim_error err = {0};
  if (output_close(&s->out, extra, &err) && !rc && !s->failing)
    coordinator_fail(s, err.code, &err);
}

int sched_run(const tsim_config *cfg, const sched_options *opt,
              tsim_error *err) {
  coordinator s;
  memset(&s, 0, sizeof s);
  s.cfg = cfg;
  s.outdir = opt->outdir;
  s.cells = opt->cells;
  s.checkpoint_seconds = opt->checkpoint_seconds;
  s.world = par_world();
  s.rank = par_rank(s.world);
  const double t0 = tsim_wtime();
  progress_init(&s.prog, opt->progress, opt->quiet, opt->progress_seconds, t0);
  int64_t *ids = NULL, nids = 0;
  TSIM_TRY(plan_parse_cells(opt->cells, cfg->ncells, &ids, &nids, err));
  const int size = par_size(s.world);
  int64_t *order = tsim_xmalloc((size_t)nids * sizeof(int64_t));
  memcpy(order, ids, (size_t)nids * sizeof(int64_t));
  s.norder = nids;
  plan_order_by_cost(cfg, order, nids);
  s.g = plan_team_size(cfg, order, s.norder,
                       opt->team_size > 0 ? opt->team_size : cfg->team_size, size);
  s.nteams = size / s.g;
  s.team_id = plan_team_of_rank(s.rank, s.g, s.nteams);
  s.team = par_split(s.world, s.team_id, s.rank);
  s.team_rank = par_rank(s.team);
  s.team_size = par_size(s.team);
  s.bmax = plan_batch_size(cfg, order, s.norder, s.nteams, cfg->batch);
  coordinator_init(&s);
  s.finished = tsim_xcalloc((size_t)cfg->ncells + 1, 1);
  s.resume_from = tsim_xcalloc((size_t)cfg->ncells + 1, sizeof(cell_result *));
  s.cache = train_cache_create();
  int64_t finished_before = 0; /* cells a resumed run found finished */
  int64_t before_status[sizeof s.by_status / sizeof s.by_status[0]] = {0}; /* by status */
  const int nstatus = (int)(sizeof before_status / sizeof before_status[0]);
  int64_t pid0 = (int64_t)getpid(); /* for TSIM_FAULT's to=rank0 */
  par_bcast(s.world, &pid0, sizeof pid0, 0);
  fault_set_rank0_pid((long)pid0);
  char stop_file[4200];
  snprintf(stop_file, sizeof stop_file, "%s/STOP", opt->outdir);

  /* a stop signal that came after the config was read (any rank's): still
   * before any work, so exit 3 with nothing written */
  int rc = par_agree(s.world, stop_signalled() ? config_stopped(err) : TSIM_OK, err);
  if (!rc && s.rank == 0) {
    stop_watch_init(&s.watch, stop_file, opt->time_limit, 60.0);
    const resume_options ro = {opt->outdir, opt->cells, opt->resume, opt->force,
                               s.prog.mode != PROGRESS_NONE};
    rc = resume_open(cfg, &ro, ids, nids, &s.out, s.finished, s.resume_from, order, &s.norder,
                     &finished_before, before_status, nstatus, err);
    if (!rc) /* the order a resume left */
      s.handout = plan_handout_create(cfg, order, s.norder, s.bmax);
    char batch_note[96] = "";
    if (s.bmax > 1)
      snprintf(batch_note, sizeof batch_note,
               ", batches of up to %d cells sharing a data set", s.bmax);
    if (!rc && s.prog.mode != PROGRESS_NONE)
      printf("tsim: %lld cell%s on %d rank%s as %d team%s of %d%s%s\n", (long long)s.norder,
             s.norder == 1 ? "" : "s", size, size == 1 ? "" : "s", s.nteams,
             s.nteams == 1 ? "" : "s", s.g,
             size % s.g ? " (the last team takes the remainder)" : "",
             batch_note);
    const char *none = cellkind_no_teacher(&cfg->base);
    if (!rc && none && s.prog.mode != PROGRESS_NONE)
      printf("tsim: %s; %s%s\n", none, no_teacher_effects,
             cfg->base.loss_tol > 0.0 ? ""
                                      : " (train.loss_tol is 0: every cell runs its budget)");
    fflush(stdout);
  }
  rc = par_agree(s.world, rc, err);
  if (!rc) {
    coordinator_run(&s, err);
    const double wall = tsim_wtime() - t0;
    char engine_json[512]; /* the moments engine's timings, for the manifest */
    engine_summary(&s, engine_json, sizeof engine_json);
    char hosts[4096]; /* collective: the ranks' hosts, for the manifest */
    par_hosts(s.world, hosts, sizeof hosts);
    if (s.rank == 0) {
      if (s.prog.mode == PROGRESS_LIVE) coordinator_progress(&s, 1);
      if (!s.failing) coordinator_checkpoint(&s); /* the final state of the run */
      const int unfinished = s.done < s.norder;
      for (int st = 0; st < nstatus; ++st) /* the manifest and the tally count every cell */
        s.by_status[st] += before_status[st];
      write_manifest(&s, opt, s.failing ? s.fail_rc : 0, wall, finished_before, hosts,
                     engine_json);
      char resumed[96] = "";
      if (finished_before)
        snprintf(resumed, sizeof resumed, " (%lld run in this resume, %lld finished before it)",
                 (long long)s.done, (long long)finished_before);
      const int64_t ncells = s.norder + finished_before;
      /* skipped(invalid) stays 0: a config is checked whole before any cell
       * runs, so no cell is ever skipped for its settings */
      printf("tally: %lld cell%s: %lld converged, %lld max_iterations, %lld reached_T, "
             "%lld evaluated, %lld diverged, 0 skipped(invalid)%s%s; wall %.2f s; %s\n",
             (long long)ncells, ncells == 1 ? "" : "s",
             (long long)s.by_status[CELL_CONVERGED],
             (long long)s.by_status[CELL_MAX_ITERATIONS],
             (long long)s.by_status[CELL_REACHED_T], (long long)s.by_status[CELL_EVALUATED],
             (long long)s.by_status[CELL_DIVERGED],
             resumed,
             !unfinished ? "" : s.failing ? ", some not run (failure)"
                                          : ", some not run (stopped: resume with --resume)",
             wall, opt->outdir);
      fflush(stdout);
    }
    int mine = TSIM_OK;
    if (s.rank == 0 && s.failing) {
      mine = s.fail_rc;
      *err = s.fail_err;
    } else if (s.rank == 0 && s.stopping && s.done < s.norder) {
      mine = TSIM_ESTOP;
      tsim_fail(err, TSIM_ESTOP, "tsim: stopped (%s) with a checkpoint in %s/checkpoint; "
                "continue with --resume", s.watch.reason, opt->outdir);
    }
    rc = par_agree(s.world, mine, err);
  }
  for (int64_t c = 0; c < cfg->ncells; ++c)
    if (s.resume_from[c]) {
      cell_result_free(s.resume_from[c]);
      free(s.resume_from[c]);
    }
  free(s.resume_from);
  free(s.finished);
  plan_handout_destroy(&s.handout);
  coordinator_free(&s);
  train_cache_destroy(&s.cache);
  par_comm_free(&s.team);
  free(order);
  free(ids);
  return rc;
}
