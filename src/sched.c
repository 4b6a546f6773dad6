/* sched.c - coordinator and teams (see sched.h).
 *
 * Messages (world communicator), between rank 0 and the team leaders:
 *   TAG_DONE   leader -> 0: ready for work; payload = the packed result of
 *              the cell just finished (empty the first time or after abort)
 *   TAG_FAIL   leader -> 0: the team failed; payload = the error message
 *   TAG_ASSIGN 0 -> leader: int64 cell id (-1 to stop), then the packed
 *              saved state to resume the cell from, if it has one
 *   TAG_ABORT  0 -> leader: stop the running cell (another team failed)
 *   TAG_SNAPSHOT 0 -> leader: send the running cell's state; int64 payload
 *              1 = and stop the cell (a stop was requested)
 *   TAG_STATE  leader -> 0: the packed state (t, W_t, rows, events)
 * Each leader broadcasts the assignment (and, at every iteration, the stop
 * flag) inside its team, so the ranks of a team always agree.
 *
 * Checkpoints (checkpoint.h): rank 0 asks every busy team for its cell's
 * state, takes team 0's own at its next iteration boundary, and once all
 * are in writes the tables' lengths, the finished cells and those states.
 * Cells that finish meanwhile are simply finished in the checkpoint. */
#include "tsim/sched.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tsim/checkpoint.h"
#include "tsim/output.h"
#include "tsim/stop.h"
#include "tsim/train.h"

enum {
  TAG_DONE = 11,
  TAG_FAIL = 12,
  TAG_ASSIGN = 13,
  TAG_ABORT = 14,
  TAG_SNAPSHOT = 15,
  TAG_STATE = 16
};

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
  /* checkpoints (rank 0) */
  unsigned char *finished;   /* per cell id of the grid */
  cell_result **resume_from; /* per cell id: saved state, or NULL */
  stop_watch watch;
  int stopping;              /* a stop was requested: hand out nothing */
  int ckpt_active, ckpt_stop;
  int *waiting;              /* per team: its state is still to come */
  cell_result *snap;         /* per team: the state it sent */
  int *have_snap;
  double last_ckpt;
  int64_t ckpt_written;      /* generations written by this run */
  int64_t finished_before;   /* cells a resumed run found finished */
  /* team members: the state their assignment came with */
  cell_result assigned_state;
  int have_assigned_state;
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

typedef struct costed {
  double cost;
  int64_t cell;
} costed;

static int by_cost_desc(const void *x, const void *y) {
  const costed *a = x, *b = y;
  if (a->cost != b->cost) return a->cost > b->cost ? -1 : 1;
  return a->cell < b->cell ? -1 : a->cell > b->cell;
}

/* Longest expected first (iterations x n x K), ties by id. */
static void order_by_cost(const tsim_config *cfg, int64_t *cells, int64_t n) {
  costed *c = tsim_xmalloc((size_t)(n ? n : 1) * sizeof *c);
  for (int64_t i = 0; i < n; ++i) c[i] = (costed){expected_cost(cfg, cells[i]), cells[i]};
  qsort(c, (size_t)n, sizeof *c, by_cost_desc);
  for (int64_t i = 0; i < n; ++i) cells[i] = c[i].cell;
  free(c);
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

static void maybe_finish_checkpoint(sched *s);

static void accept_result(sched *s, const cell_result *r) {
  tsim_error err = {0};
  s->by_status[r->status] += 1;
  s->done += 1;
  s->finished[r->cell] = 1;
  if (output_write_cell(s->out, s->cfg, r, &err)) record_failure(s, err.code, &err);
  cell_line(s, r);
}

static int64_t next_cell(sched *s) {
  if (s->failing || s->stopping || s->cursor >= s->norder) return -1;
  return s->order[s->cursor++];
}

/* ----------------------------------------------------------- checkpoint */

static void write_checkpoint(sched *s) {
  ckpt_data d;
  memset(&d, 0, sizeof d);
  tsim_error err = {0};
  d.config_hash = config_hash(s->cfg);
  d.ncells = s->cfg->ncells;
  d.done = s->finished;
  d.states = tsim_xcalloc((size_t)s->nteams + 1, sizeof(cell_result));
  for (int t = 0; t < s->nteams; ++t)
    if (s->have_snap[t] && !s->finished[s->snap[t].cell]) d.states[d.nstates++] = s->snap[t];
  char *text = config_results_text(s->cfg);
  const size_t len = strlen(text) + 64 + (s->opt->cells ? strlen(s->opt->cells) : 0);
  d.config_yaml = tsim_xmalloc(len);
  snprintf(d.config_yaml, len, "%scells: %s\n", text, s->opt->cells ? s->opt->cells : "all");
  free(text);
  int rc = output_tables_state(s->out, &d.written, d.table_bytes, &err);
  if (!rc) rc = ckpt_commit(s->opt->outdir, &d, &err);
  if (rc) record_failure(s, rc, &err);
  else s->ckpt_written += 1;
  free(d.states);
  free(d.config_yaml);
  if (s->stopping) return; /* the interrupted cells' states go in the final one too */
  for (int t = 0; t < s->nteams; ++t)
    if (s->have_snap[t]) {
      cell_result_free(&s->snap[t]);
      s->have_snap[t] = 0;
    }
}

static void maybe_finish_checkpoint(sched *s) {
  if (!s->ckpt_active) return;
  for (int t = 0; t < s->nteams; ++t)
    if (s->waiting[t]) return;
  write_checkpoint(s);
  s->ckpt_active = 0;
  s->last_ckpt = tsim_wtime();
}

static void start_checkpoint(sched *s, int stop) {
  s->ckpt_active = 1;
  s->ckpt_stop = stop;
  if (stop) s->stopping = 1;
  for (int t = 1; t < s->nteams; ++t) {
    if (s->running[t] < 0) continue;
    const int64_t flag = stop;
    s->waiting[t] = 1;
    par_send(s->world, &flag, sizeof flag, leader_of(s, t), TAG_SNAPSHOT);
  }
  s->waiting[0] = s->running[0] >= 0; /* taken at team 0's next boundary */
  maybe_finish_checkpoint(s);
}

/* A stop request or a due periodic checkpoint starts one (rank 0). */
static void check_triggers(sched *s) {
  if (s->ckpt_active || s->stopping || s->failing) return;
  if (stop_check(&s->watch)) {
    if (s->progress != PROGRESS_NONE)
      printf("%stsim: stop requested (%s): checkpointing\n",
             s->progress == PROGRESS_LIVE ? "\n" : "", s->watch.reason);
    start_checkpoint(s, 1);
  } else if (tsim_wtime() - s->last_ckpt >= s->opt->checkpoint_seconds) {
    start_checkpoint(s, 0);
  }
}

static void take_state(cell_result *into, const cell_result *from) {
  void *buf = NULL;
  size_t cap = 0;
  const size_t len = cell_result_pack(from, &buf, &cap);
  cell_result_unpack(buf, len, into);
  free(buf);
}

/* The assignment of CELL: its id, then its saved state if it has one. */
static void *assignment_message(const sched *s, int64_t cell, size_t *len) {
  void *msg = NULL;
  size_t cap = 0;
  *len = sizeof cell;
  if (cell >= 0 && s->resume_from[cell]) {
    *len = cell_result_pack(s->resume_from[cell], &msg, &cap);
    msg = tsim_xrealloc(msg, *len + sizeof cell);
    memmove((char *)msg + sizeof cell, msg, *len);
    *len += sizeof cell;
  } else {
    msg = tsim_xmalloc(sizeof cell);
  }
  memcpy(msg, &cell, sizeof cell);
  return msg;
}

/* Send team leader FROM its next cell (with the saved state to resume
 * from, if any), or -1 to stop. */
static void assign(sched *s, int from, int team) {
  const int64_t cell = next_cell(s);
  size_t len;
  void *msg = assignment_message(s, cell, &len);
  par_send(s->world, msg, len, from, TAG_ASSIGN);
  free(msg);
  if (cell < 0)
    s->stopped[team] = 1;
  else
    s->running[team] = cell;
}

/* Handle one message from a team leader. */
static void serve(sched *s) {
  int from = 0, tag = 0;
  const size_t len = par_recv(s->world, &s->buf, &s->cap, -1, -1, &from, &tag);
  const int team = team_of_rank(s, from);
  if (tag == TAG_STATE) {
    cell_result st;
    if (cell_result_unpack(s->buf, len, &st) == TSIM_OK && s->ckpt_active &&
        s->waiting[team] && st.cell == s->running[team] && !s->have_snap[team]) {
      s->snap[team] = st;
      s->have_snap[team] = 1;
      s->waiting[team] = 0;
      maybe_finish_checkpoint(s);
    } else {
      cell_result_free(&st);
    }
    return;
  }
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
  if (s->waiting[team]) { /* its cell ended before it saw the request */
    s->waiting[team] = 0;
    maybe_finish_checkpoint(s);
  }
  assign(s, from, team);
}

/* Team 0's interrupt hook on rank 0: serve every waiting message, print
 * progress, and stop team 0's cell if the run is failing. */
static int coordinator_poll(sched *s, const cell_result *progress) {
  while (par_iprobe(s->world, -1, -1)) serve(s);
  check_triggers(s);
  int stop_here = 0;
  if (s->ckpt_active && s->waiting[0]) {
    take_state(&s->snap[0], progress);
    s->have_snap[0] = 1;
    s->waiting[0] = 0;
    stop_here = s->ckpt_stop;
    maybe_finish_checkpoint(s);
  }
  maybe_progress(s);
  return s->failing || stop_here;
}

/* -------------------------------------------------------------- teams */

static int team_interrupt(void *ctx, const cell_result *progress) {
  sched *s = ctx;
  int64_t flag = 0;
  if (s->team_rank == 0) {
    if (s->rank == 0) {
      flag = coordinator_poll(s, progress);
    } else {
      if (par_iprobe(s->world, 0, TAG_ABORT)) {
        par_recv(s->world, &s->buf, &s->cap, 0, TAG_ABORT, NULL, NULL);
        flag = 1;
      }
      if (par_iprobe(s->world, 0, TAG_SNAPSHOT)) {
        int64_t stop = 0;
        par_recv(s->world, &s->buf, &s->cap, 0, TAG_SNAPSHOT, NULL, NULL);
        memcpy(&stop, s->buf, sizeof stop);
        void *msg = NULL;
        size_t cap = 0;
        const size_t len = cell_result_pack(progress, &msg, &cap);
        par_send(s->world, msg, len, 0, TAG_STATE);
        free(msg);
        if (stop) flag = 1;
      }
    }
  }
  if (s->team_size > 1) par_bcast(s->team, &flag, sizeof flag, 0);
  return (int)flag;
}

/* Run one cell on this team. Returns 0, TSIM_ESTOP (aborted) or an error
 * agreed over the team. */
static int run_cell(sched *s, int64_t cell, cell_result *res, tsim_error *err) {
  const train_hooks hooks = {team_interrupt, s};
  const cell_result *from = s->have_assigned_state ? &s->assigned_state : NULL;
  return train_cell(s->cfg, cell, s->team, s->cache, &hooks, from, res, err);
}

/* The leader's assignment message (cell id, optional state) to every rank
 * of the team; returns the cell id. */
static int64_t share_assignment(sched *s, const void *msg, size_t len) {
  int64_t header[2] = {-1, 0};
  if (s->team_rank == 0) {
    memcpy(&header[0], msg, sizeof(int64_t));
    header[1] = (int64_t)(len - sizeof(int64_t));
  }
  if (s->team_size > 1) par_bcast(s->team, header, sizeof header, 0);
  if (s->have_assigned_state) cell_result_free(&s->assigned_state);
  s->have_assigned_state = 0;
  if (header[0] < 0 || header[1] == 0) return header[0];
  void *state = tsim_xmalloc((size_t)header[1]);
  if (s->team_rank == 0) memcpy(state, (const char *)msg + sizeof(int64_t), (size_t)header[1]);
  if (s->team_size > 1) par_bcast(s->team, state, (size_t)header[1], 0);
  s->have_assigned_state =
      cell_result_unpack(state, (size_t)header[1], &s->assigned_state) == TSIM_OK;
  free(state);
  return header[0];
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
    size_t got = 0;
    if (s->team_rank == 0)
      got = par_recv(s->world, &s->buf, &s->cap, 0, TAG_ASSIGN, NULL, NULL);
    const int64_t cell = share_assignment(s, s->buf, got);
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
  /* an abort or snapshot request sent as the last cell finished */
  while (s->team_rank == 0 && (par_iprobe(s->world, 0, TAG_ABORT) ||
                               par_iprobe(s->world, 0, TAG_SNAPSHOT)))
    par_recv(s->world, &s->buf, &s->cap, 0, -1, NULL, NULL);
  if (s->have_assigned_state) cell_result_free(&s->assigned_state);
  return TSIM_OK;
}

/* Rank 0 (and team 0's other members). */
static int coordinator_loop(sched *s) {
  for (;;) {
    int64_t cell = -1;
    void *msg = NULL;
    size_t len = sizeof cell;
    if (s->team_rank == 0) {
      check_triggers(s);
      cell = next_cell(s);
      while (cell < 0) { /* team 0 is done: serve the others until all stop */
        int open = 0;
        for (int t = 1; t < s->nteams; ++t) open += !s->stopped[t];
        if (!open) break;
        if (par_iprobe(s->world, -1, -1)) {
          serve(s);
        } else {
          check_triggers(s);
          usleep(1000);
        }
        maybe_progress(s);
      }
      s->running[0] = cell;
      msg = assignment_message(s, cell, &len);
    }
    cell = share_assignment(s, msg, len);
    free(msg);
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

/* train.iterations grew: cells that stopped at the old limit
 * (max_iterations) run again to the new one. They are recomputed from the
 * start, so their rows are exactly those of an uninterrupted run with the new
 * limit; the tables are cut back to the first of them (later finished cells
 * wait in pending/ again). With log_points the log schedule depends on the
 * limit, so saved states are dropped too and those cells restart. */
static int extend_iterations(sched *s, ckpt_data *d, const int64_t *ids, int64_t nids,
                             tsim_error *err) {
  unsigned char *again = tsim_xcalloc((size_t)d->ncells + 1, 1);
  int rc = output_mark_status(s->opt->outdir, "max_iterations", d->ncells, again, err);
  int64_t first = -1, count = 0;
  for (int64_t i = 0; !rc && i < nids; ++i) {
    if (!again[ids[i]] || !d->done[ids[i]]) continue;
    d->done[ids[i]] = 0;
    ++count;
    if (first < 0) first = i;
  }
  if (!rc && first >= 0 && first < d->written) {
    d->written = first;
    for (int t = 0; t < NTABLES; ++t) {
      const int64_t at = output_table_offset(s->opt->outdir, t, ids[first]);
      if (at >= 0 && at < d->table_bytes[t]) d->table_bytes[t] = at;
    }
  }
  if (!rc && s->cfg->base.log_points > 0) {
    for (int64_t i = 0; i < d->nstates; ++i) cell_result_free(&d->states[i]);
    d->nstates = 0;
  }
  if (!rc && s->progress != PROGRESS_NONE)
    printf("tsim: train.iterations grew to %lld: %lld max_iterations cells run again\n",
           (long long)s->cfg->base.iterations, (long long)count);
  free(again);
  return rc;
}

/* Rank 0: continue OUTDIR from its checkpoint (or start afresh if it has
 * none): finished cells are left out of the order, running ones resume. */
static int open_resumed(sched *s, const int64_t *ids, int64_t nids, tsim_error *err) {
  const char *outdir = s->opt->outdir;
  if (!ckpt_any(outdir))
    return output_open(s->cfg, outdir, 1, ids, nids, &s->out, err);
  ckpt_data d;
  char warning[TSIM_MSG_MAX];
  TSIM_TRY(ckpt_load(outdir, &d, warning, sizeof warning, err));
  if (warning[0]) fprintf(stderr, "tsim: warning: %s\n", warning);
  char *text = config_results_text(s->cfg);
  const size_t len = strlen(text) + 64 + (s->opt->cells ? strlen(s->opt->cells) : 0);
  char *now = tsim_xmalloc(len), changed[TSIM_MSG_MAX / 2];
  snprintf(now, len, "%scells: %s\n", text, s->opt->cells ? s->opt->cells : "all");
  free(text);
  int rc = TSIM_OK;
  if (strcmp(now, d.config_yaml)) {
    const int n = config_changed_keys(d.config_yaml, now, changed, sizeof changed);
    long long before = 0;
    if (n == 1 && sscanf(changed, "train.iterations (%lld ->", &before) == 1 &&
        before < s->cfg->base.iterations && s->cfg->base.iterations > 0) {
      rc = extend_iterations(s, &d, ids, nids, err);
    } else {
      if (n == 0) snprintf(changed, sizeof changed, "--cells");
      rc = tsim_fail(err, TSIM_EINPUT,
                     "%s: the checkpoint was made with another config: %s changed; "
                     "resume with the same config (train.iterations may grow), or "
                     "start anew with -o or --force",
                     outdir, changed);
    }
  }
  free(now);
  if (!rc && d.ncells != s->cfg->ncells)
    rc = tsim_fail(err, TSIM_EINPUT, "%s: the checkpoint's grid has %lld cells, not %lld",
                   outdir, (long long)d.ncells, (long long)s->cfg->ncells);
  if (!rc)
    rc = output_resume(s->cfg, outdir, ids, nids, d.done, d.written, d.table_bytes,
                       &s->out, err);
  if (!rc) {
    memcpy(s->finished, d.done, (size_t)d.ncells);
    for (int64_t i = 0; i < d.nstates; ++i) {
      const int64_t cell = d.states[i].cell;
      if (cell < 0 || cell >= d.ncells || s->finished[cell] || s->resume_from[cell]) continue;
      s->resume_from[cell] = tsim_xmalloc(sizeof(cell_result));
      *s->resume_from[cell] = d.states[i];
      memset(&d.states[i], 0, sizeof d.states[i]);
    }
    int64_t kept = 0, earlier = 0;
    for (int64_t i = 0; i < s->norder; ++i) {
      if (s->finished[s->order[i]]) ++earlier;
      else s->order[kept++] = s->order[i];
    }
    s->norder = kept;
    s->finished_before = earlier;
    if (s->progress != PROGRESS_NONE)
      printf("tsim: resuming %s from checkpoint gen-%08lld: %lld cells finished, "
             "%lld to run (%lld from a saved state)\n",
             outdir, (long long)d.generation, (long long)earlier, (long long)kept,
             (long long)d.nstates);
  }
  ckpt_free(&d);
  return rc;
}

int sched_run(const tsim_config *cfg, const sched_options *opt,
              tsim_error *err) {
  sched s;
  memset(&s, 0, sizeof s);
  s.cfg = cfg;
  s.opt = opt;
  s.world = par_world();
  s.rank = par_rank(s.world);
  s.t0 = s.last_progress = s.last_ckpt = tsim_wtime();
  s.progress = opt->quiet ? PROGRESS_NONE : opt->progress;
  if (s.progress == PROGRESS_AUTO)
    s.progress = isatty(STDOUT_FILENO) ? PROGRESS_LIVE : PROGRESS_LOG;
  int64_t *ids = NULL, nids = 0;
  TSIM_TRY(sched_parse_cells(opt->cells, cfg->ncells, &ids, &nids, err));
  const int size = par_size(s.world);
  s.order = tsim_xmalloc((size_t)nids * sizeof(int64_t));
  memcpy(s.order, ids, (size_t)nids * sizeof(int64_t));
  s.norder = nids;
  order_by_cost(cfg, s.order, nids);
  s.g = choose_team_size(&s, opt->team_size > 0 ? opt->team_size : cfg->team_size, size);
  s.nteams = size / s.g;
  s.team_id = team_of_rank(&s, s.rank);
  s.team = par_split(s.world, s.team_id, s.rank);
  s.team_rank = par_rank(s.team);
  s.team_size = par_size(s.team);
  s.running = tsim_xmalloc((size_t)s.nteams * sizeof(int64_t));
  for (int t = 0; t < s.nteams; ++t) s.running[t] = -1;
  s.stopped = tsim_xcalloc((size_t)s.nteams, sizeof(int));
  s.waiting = tsim_xcalloc((size_t)s.nteams, sizeof(int));
  s.have_snap = tsim_xcalloc((size_t)s.nteams, sizeof(int));
  s.snap = tsim_xcalloc((size_t)s.nteams, sizeof(cell_result));
  s.finished = tsim_xcalloc((size_t)cfg->ncells + 1, 1);
  s.resume_from = tsim_xcalloc((size_t)cfg->ncells + 1, sizeof(cell_result *));
  s.cache = train_cache_create();
  char stop_file[4200];
  snprintf(stop_file, sizeof stop_file, "%s/STOP", opt->outdir);

  int rc = TSIM_OK;
  if (s.rank == 0) {
    stop_watch_init(&s.watch, stop_file, opt->time_limit, 60.0);
    if (opt->resume)
      rc = open_resumed(&s, ids, nids, err);
    else
      rc = output_open(cfg, opt->outdir, opt->force, ids, nids, &s.out, err);
    if (!rc && s.progress != PROGRESS_NONE)
      printf("tsim: %lld cells on %d ranks as %d team%s of %d%s\n", (long long)s.norder,
             size, s.nteams, s.nteams == 1 ? "" : "s", s.g,
             size % s.g ? " (the last team takes the remainder)" : "");
    fflush(stdout);
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
      if (!s.failing) write_checkpoint(&s); /* the final state of the run */
      const int unfinished = s.done < s.norder;
      write_manifest(&s, s.failing ? s.fail_rc : 0, wall);
      /* skipped(invalid) stays 0: a config is checked whole before any cell
       * runs, so no cell is ever skipped for its settings */
      printf("tally: %lld cells: %lld converged, %lld max_iterations, "
             "%lld diverged, 0 skipped(invalid)%s%s; wall %.2f s; %s\n",
             (long long)(s.norder + s.finished_before),
             (long long)s.by_status[CELL_CONVERGED],
             (long long)s.by_status[CELL_MAX_ITERATIONS],
             (long long)s.by_status[CELL_DIVERGED],
             s.finished_before ? ", the rest finished before the resume" : "",
             !unfinished ? "" : s.failing ? ", some not run (failure)"
                                          : ", some not run (stopped: resume with --resume)",
             wall, opt->outdir);
      fflush(stdout);
    } else {
      char hosts[16];
      par_hosts(s.world, hosts, sizeof hosts); /* collective in the manifest */
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
  for (int t = 0; t < s.nteams; ++t)
    if (s.have_snap[t]) cell_result_free(&s.snap[t]);
  free(s.resume_from);
  free(s.finished);
  free(s.snap);
  free(s.have_snap);
  free(s.waiting);
  train_cache_destroy(&s.cache);
  par_comm_free(&s.team);
  free(s.running);
  free(s.stopped);
  free(s.order);
  free(s.buf);
  free(ids);
  return rc;
}
