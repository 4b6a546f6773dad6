/* sched.c - coordinator and teams (see sched.h).
 *
 * Messages (world communicator), between rank 0 and the team leaders:
 *   TAG_DONE   leader -> 0: ready for work; payload = the packed result of
 *              the cell just finished (empty the first time or after abort)
 *   TAG_FAIL   leader -> 0: the team failed; payload = the error message
 *   TAG_ASSIGN 0 -> leader: int64 cell id, or -1 to stop
 *   TAG_ABORT  0 -> leader: stop the running cell (another team failed)
 * Each leader broadcasts the assignment (and, at every iteration, the abort
 * flag) inside its team, so the ranks of a team always agree. */
#include "tsim/sched.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tsim/output.h"
#include "tsim/train.h"

enum { TAG_DONE = 11, TAG_FAIL = 12, TAG_ASSIGN = 13, TAG_ABORT = 14 };

typedef struct sched {
  const tsim_config *cfg;
  const sched_options *opt;
  par_comm *world, *team;
  int rank, nteams, team_id, team_rank, team_size, g;
  int64_t *order, norder, cursor; /* cells in the order they are handed out */
  train_cache *cache;
  int64_t cells_started; /* by this rank, for the fault-injection hook */
  int progress;          /* PROGRESS_LIVE, _LOG or _NONE */
  /* coordinator (rank 0) */
  run_output *out;
  int64_t *running;   /* per team: its cell, -1 idle */
  int *stopped;       /* per team: told to stop */
  int64_t by_status[4], done;
  int failing;        /* a team failed: hand out nothing more */
  int fail_rc;
  tsim_error fail_err;
  double t0, last_progress;
  void *buf;
  size_t cap;
} sched;

/* ---------------------------------------------------------- the cells */

int sched_parse_cells(const char *spec, int64_t ncells, int64_t **ids,
                      int64_t *nids, tsim_error *err) {
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

static const tsim_config *sort_cfg; /* qsort has no context argument */
static int by_cost_desc(const void *x, const void *y) {
  const int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  const double ca = expected_cost(sort_cfg, a), cb = expected_cost(sort_cfg, b);
  if (ca != cb) return ca > cb ? -1 : 1;
  return a < b ? -1 : a > b;
}

/* Team size: from the command line, else the config, else one rank per
 * cell while there are at least as many cells as ranks, and more ranks per
 * cell when cells are few or a rank could not hold a cell's samples. */
static int choose_team_size(const sched *s, int64_t requested, int size) {
  if (requested > 0) return (int)(requested < size ? requested : size);
  int g = 1;
  if (s->norder < size) g = (int)(size / s->norder);
  double max_bytes = 0;
  for (int64_t i = 0; i < s->norder; ++i) {
    tsim_params p;
    config_cell(s->cfg, s->order[i], &p);
    double bytes = (double)(p.n + p.n_test) * (double)(p.d + 1) * 8.0;
    if (bytes > max_bytes) max_bytes = bytes;
  }
  const double per_rank_limit = 4.0e9; /* keep a rank's samples under 4 GB */
  while (g < size && max_bytes / g > per_rank_limit) ++g;
  return g;
}

/* ---------------------------------------------------------- progress */

static void format_eta(double seconds, char *buf, size_t cap) {
  if (!isfinite(seconds) || seconds < 0) {
    snprintf(buf, cap, "-");
    return;
  }
  long s = lround(seconds);
  snprintf(buf, cap, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
}

static void progress_line(sched *s, int final) {
  const double now = tsim_wtime(), elapsed = now - s->t0;
  int running = 0;
  for (int t = 0; t < s->nteams; ++t) running += s->running[t] >= 0;
  const double rate = elapsed > 0 ? s->done / elapsed : 0;
  char eta[32];
  format_eta(rate > 0 ? (s->norder - s->done) / rate : NAN, eta, sizeof eta);
  const int live = s->progress == PROGRESS_LIVE;
  printf("%scells %lld/%lld | running %d | %lld diverged | %.1f cells/s | ETA %s%s",
         live ? "\r\033[K" : "", (long long)s->done, (long long)s->norder,
         running, (long long)s->by_status[CELL_DIVERGED], rate, eta,
         live && !final ? "" : "\n");
  fflush(stdout);
  s->last_progress = now;
}

static void maybe_progress(sched *s) {
  if (s->progress == PROGRESS_NONE) return;
  const double period = s->progress == PROGRESS_LIVE ? 0.5 : s->opt->progress_seconds;
  if (tsim_wtime() - s->last_progress >= period) progress_line(s, 0);
}

static void cell_line(sched *s, const cell_result *r) {
  if (s->progress != PROGRESS_LOG) return;
  char label[1024], q9[32];
  config_cell_label(s->cfg, r->cell, label, sizeof label);
  if (r->t_q9_positive >= 0)
    snprintf(q9, sizeof q9, "%lld", (long long)r->t_q9_positive);
  else
    snprintf(q9, sizeof q9, "-");
  printf("cell %lld (%lld/%lld) %s: %s at t=%lld, t_q9_positive=%s, "
         "train_loss=%.6g, %.2f s\n",
         (long long)r->cell, (long long)s->done, (long long)s->norder,
         label[0] ? label : "-", output_status_name(r->status),
         (long long)r->iterations, q9, r->final_train_loss, r->wall_s);
  fflush(stdout);
}

/* ------------------------------------------------------- coordinator */

static int team_of_rank(const sched *s, int rank) {
  int t = rank / s->g;
  return t < s->nteams ? t : s->nteams - 1;
}

static int leader_of(const sched *s, int team) { return team * s->g; }

static void record_failure(sched *s, int rc, const tsim_error *err) {
  if (s->failing) return;
  s->failing = 1;
  s->fail_rc = rc;
  s->fail_err = *err;
  for (int t = 1; t < s->nteams; ++t) /* stop the cells still running */
    if (s->running[t] >= 0) par_send(s->world, NULL, 0, leader_of(s, t), TAG_ABORT);
}

static void accept_result(sched *s, const cell_result *r) {
  tsim_error err = {0};
  s->by_status[r->status] += 1;
  s->done += 1;
  if (output_write_cell(s->out, s->cfg, r, &err)) record_failure(s, err.code, &err);
  cell_line(s, r);
}

static int64_t next_cell(sched *s) {
  if (s->failing || s->cursor >= s->norder) return -1;
  return s->order[s->cursor++];
}

/* Handle one message from a team leader. */
static void serve(sched *s) {
  int from = 0, tag = 0;
  const size_t len = par_recv(s->world, &s->buf, &s->cap, -1, -1, &from, &tag);
  const int team = team_of_rank(s, from);
  s->running[team] = -1;
  if (tag == TAG_FAIL) {
    tsim_error err = {TSIM_EFAIL, ""};
    const int64_t *code = s->buf;
    err.code = (int)code[0];
    snprintf(err.msg, sizeof err.msg, "%s", (const char *)s->buf + sizeof(int64_t));
    record_failure(s, err.code, &err);
  } else if (tag == TAG_DONE && len > 0) {
    cell_result r;
    if (cell_result_unpack(s->buf, len, &r) == TSIM_OK) accept_result(s, &r);
    cell_result_free(&r);
  }
  int64_t cell = next_cell(s);
  par_send(s->world, &cell, sizeof cell, from, TAG_ASSIGN);
  if (cell < 0)
    s->stopped[team] = 1;
  else
    s->running[team] = cell;
}

/* Team 0's interrupt hook on rank 0: serve every waiting message, print
 * progress, and stop team 0's cell if the run is failing. */
static int coordinator_poll(sched *s) {
  while (par_iprobe(s->world, -1, -1)) serve(s);
  maybe_progress(s);
  return s->failing;
}

/* -------------------------------------------------------------- teams */

static int team_interrupt(void *ctx) {
  sched *s = ctx;
  int64_t flag = 0;
  if (s->team_rank == 0) {
    if (s->rank == 0) {
      flag = coordinator_poll(s);
    } else if (par_iprobe(s->world, 0, TAG_ABORT)) {
      par_recv(s->world, &s->buf, &s->cap, 0, TAG_ABORT, NULL, NULL);
      flag = 1;
    }
  }
  if (s->team_size > 1) par_bcast(s->team, &flag, sizeof flag, 0);
  return (int)flag;
}

/* Run one cell on this team. Returns 0, TSIM_ESTOP (aborted) or an error
 * agreed over the team. */
static int run_cell(sched *s, int64_t cell, cell_result *res, tsim_error *err) {
  const train_hooks hooks = {team_interrupt, s};
  return train_cell(s->cfg, cell, s->team, s->cache, &hooks, res, err);
}

/* Test hook (fault injection for the test suite): TSIM_FAULT="RANK:N"
 * makes world rank RANK fail when it starts its N-th cell, as an unreadable
 * file on one rank would; TSIM_FAULT="RANK:N:exit" makes it exit instead.
 * Counting a rank's own cells keeps the hook independent of the schedule. */
static int injected_fault(sched *s, int64_t cell, tsim_error *err) {
  const char *f = getenv("TSIM_FAULT");
  long rank = -1;
  long long nth = -1;
  char kind[16] = "";
  if (!f || sscanf(f, "%ld:%lld:%15s", &rank, &nth, kind) < 2) return TSIM_OK;
  if (rank != s->rank || ++s->cells_started != nth) return TSIM_OK;
  if (!strcmp(kind, "exit")) {
    fprintf(stderr, "tsim: TSIM_FAULT: rank %d exits during cell %lld\n", s->rank,
            (long long)cell);
    _exit(9);
  }
  return tsim_fail(err, TSIM_EFAIL, "TSIM_FAULT: injected failure in cell %lld",
                   (long long)cell);
}

static int team_cell(sched *s, int64_t cell, cell_result *res, tsim_error *err) {
  int rc = par_agree(s->team, injected_fault(s, cell, err), err);
  if (!rc) rc = run_cell(s, cell, res, err);
  return rc;
}

/* Leaders of teams 1.. and their members. */
static int team_loop(sched *s, tsim_error *err) {
  size_t len = 0;
  int tag = TAG_DONE;
  for (;;) {
    if (s->team_rank == 0) par_send(s->world, s->buf, len, 0, tag);
    int64_t cell = -1;
    if (s->team_rank == 0) {
      par_recv(s->world, &s->buf, &s->cap, 0, TAG_ASSIGN, NULL, NULL);
      memcpy(&cell, s->buf, sizeof cell);
    }
    if (s->team_size > 1) par_bcast(s->team, &cell, sizeof cell, 0);
    if (cell < 0) break;
    cell_result res;
    int rc = team_cell(s, cell, &res, err);
    len = 0;
    tag = TAG_DONE;
    if (rc == TSIM_OK && s->team_rank == 0) {
      len = cell_result_pack(&res, &s->buf, &s->cap);
    } else if (rc != TSIM_OK && rc != TSIM_ESTOP && s->team_rank == 0) {
      const size_t n = sizeof(int64_t) + strlen(err->msg) + 1;
      if (s->cap < n) s->buf = tsim_xrealloc(s->buf, s->cap = n);
      const int64_t code = rc;
      memcpy(s->buf, &code, sizeof code);
      memcpy((char *)s->buf + sizeof code, err->msg, strlen(err->msg) + 1);
      len = n;
      tag = TAG_FAIL;
    }
    cell_result_free(&res);
  }
  /* an abort sent just as the last cell finished is still waiting */
  while (s->team_rank == 0 && par_iprobe(s->world, 0, TAG_ABORT))
    par_recv(s->world, &s->buf, &s->cap, 0, TAG_ABORT, NULL, NULL);
  return TSIM_OK;
}

/* Rank 0 (and team 0's other members). */
static int coordinator_loop(sched *s) {
  for (;;) {
    int64_t cell = -1;
    if (s->team_rank == 0) {
      cell = next_cell(s);
      while (cell < 0) { /* team 0 is done: serve the others until all stop */
        int open = 0;
        for (int t = 1; t < s->nteams; ++t) open += !s->stopped[t];
        if (!open) break;
        serve(s);
        maybe_progress(s);
      }
      s->running[0] = cell;
    }
    if (s->team_size > 1) par_bcast(s->team, &cell, sizeof cell, 0);
    if (cell < 0) break;
    cell_result res;
    tsim_error err = {0};
    int rc = team_cell(s, cell, &res, &err);
    if (s->team_rank == 0) {
      s->running[0] = -1;
      if (rc == TSIM_OK)
        accept_result(s, &res);
      else if (rc != TSIM_ESTOP)
        record_failure(s, rc, &err);
      maybe_progress(s);
    }
    cell_result_free(&res);
  }
  return TSIM_OK;
}

static void write_manifest(sched *s, int rc, double wall) {
  char extra[8192], hosts[4096], mpi[256];
  par_library_version(mpi, sizeof mpi);
  par_hosts(s->world, hosts, sizeof hosts);
  snprintf(extra, sizeof extra,
           "  \"mpi_library\": \"%s\",\n  \"ranks\": %d,\n  \"team_size\": %d,\n"
           "  \"teams\": %d,\n  \"hosts\": \"%s\",\n  \"command\": \"%s\",\n"
           "  \"cells_total\": %lld,\n  \"cells_selected\": \"%s\",\n"
           "  \"cells_done\": %lld,\n  \"converged\": %lld,\n"
           "  \"max_iterations\": %lld,\n  \"diverged\": %lld,\n"
           "  \"status\": \"%s\",\n  \"wall_s\": %.3f",
           mpi, par_size(s->world), s->g, s->nteams, hosts,
           s->opt->command_line ? s->opt->command_line : "",
           (long long)s->cfg->ncells, s->opt->cells ? s->opt->cells : "all",
           (long long)s->done, (long long)s->by_status[CELL_CONVERGED],
           (long long)s->by_status[CELL_MAX_ITERATIONS],
           (long long)s->by_status[CELL_DIVERGED], rc ? "failed" : "complete",
           wall);
  tsim_error err = {0};
  if (output_close(&s->out, extra, &err) && !rc && !s->failing)
    record_failure(s, err.code, &err);
}

int sched_run(const tsim_config *cfg, const sched_options *opt,
              tsim_error *err) {
  sched s;
  memset(&s, 0, sizeof s);
  s.cfg = cfg;
  s.opt = opt;
  s.world = par_world();
  s.rank = par_rank(s.world);
  s.t0 = s.last_progress = tsim_wtime();
  s.progress = opt->quiet ? PROGRESS_NONE : opt->progress;
  if (s.progress == PROGRESS_AUTO)
    s.progress = isatty(STDOUT_FILENO) ? PROGRESS_LIVE : PROGRESS_LOG;
  int64_t *ids = NULL, nids = 0;
  TSIM_TRY(sched_parse_cells(opt->cells, cfg->ncells, &ids, &nids, err));
  const int size = par_size(s.world);
  s.order = tsim_xmalloc((size_t)nids * sizeof(int64_t));
  memcpy(s.order, ids, (size_t)nids * sizeof(int64_t));
  s.norder = nids;
  sort_cfg = cfg;
  qsort(s.order, (size_t)nids, sizeof(int64_t), by_cost_desc);
  s.g = choose_team_size(&s, opt->team_size > 0 ? opt->team_size : cfg->team_size, size);
  s.nteams = size / s.g;
  s.team_id = team_of_rank(&s, s.rank);
  s.team = par_split(s.world, s.team_id, s.rank);
  s.team_rank = par_rank(s.team);
  s.team_size = par_size(s.team);
  s.running = tsim_xmalloc((size_t)s.nteams * sizeof(int64_t));
  for (int t = 0; t < s.nteams; ++t) s.running[t] = -1;
  s.stopped = tsim_xcalloc((size_t)s.nteams, sizeof(int));
  s.cache = train_cache_create();

  int rc = TSIM_OK;
  if (s.rank == 0) {
    rc = output_open(cfg, opt->outdir, opt->force, ids, nids, &s.out, err);
    if (!rc && !opt->quiet)
      printf("tsim: %lld cells on %d ranks as %d team%s of %d%s\n", (long long)nids,
             size, s.nteams, s.nteams == 1 ? "" : "s", s.g,
             size % s.g ? " (the last team takes the remainder)" : "");
  }
  rc = par_agree(s.world, rc, err);
  if (!rc) {
    if (s.team_id == 0)
      coordinator_loop(&s);
    else
      team_loop(&s, err);
    const double wall = tsim_wtime() - s.t0;
    if (s.rank == 0) {
      if (s.progress == PROGRESS_LIVE) progress_line(&s, 1);
      write_manifest(&s, s.failing ? s.fail_rc : 0, wall);
      /* skipped(invalid) stays 0: a config is checked whole before any cell
       * runs, so no cell is ever skipped for its settings */
      printf("tally: %lld cells: %lld converged, %lld max_iterations, "
             "%lld diverged, 0 skipped(invalid)%s; wall %.2f s; %s\n",
             (long long)s.norder, (long long)s.by_status[CELL_CONVERGED],
             (long long)s.by_status[CELL_MAX_ITERATIONS],
             (long long)s.by_status[CELL_DIVERGED],
             s.done < s.norder ? ", some not run (failure)" : "", wall, opt->outdir);
      fflush(stdout);
    } else {
      char hosts[16];
      par_hosts(s.world, hosts, sizeof hosts); /* collective in the manifest */
    }
    int mine = TSIM_OK;
    if (s.rank == 0 && s.failing) {
      mine = s.fail_rc;
      *err = s.fail_err;
    }
    rc = par_agree(s.world, mine, err);
  }
  train_cache_destroy(&s.cache);
  par_comm_free(&s.team);
  free(s.running);
  free(s.stopped);
  free(s.order);
  free(s.buf);
  free(ids);
  return rc;
}
