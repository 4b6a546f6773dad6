/* sched.c - coordinator and teams (see sched.h).
 *
 * Messages (world communicator), between rank 0 and the team leaders:
 *   TAG_DONE   leader -> 0: ready for work (the first time, or the batch
 *              handed before has ended); a packed result, if any, is that
 *              of a cell just finished
 *   TAG_RESULT leader -> 0: the packed result of one cell of the running
 *              batch, sent as it finishes (the batch goes on)
 *   TAG_FAIL   leader -> 0: the team failed; payload = the error message
 *   TAG_ASSIGN 0 -> leader: a batch: int64 count (0 to stop), then per cell
 *              its int64 id, int64 length and packed saved state (length 0:
 *              none). A batch is one cell, or several cells sharing a data
 *              set that the team advances in lockstep (run.batch)
 *   TAG_ABORT  0 -> leader: stop the running batch (another team failed)
 *   TAG_SNAPSHOT 0 -> leader: send the running cells' states; int64 payload
 *              1 = and stop them (a stop was requested)
 *   TAG_STATE  leader -> 0: int64 count, then per running cell its int64
 *              length and packed state (t, W_t, rows, events)
 * Each leader broadcasts the assignment (and, at every iteration, the stop
 * flag) inside its team, so the ranks of a team always agree.
 *
 * Checkpoints (resume.h): rank 0 asks every busy team for its cells'
 * state, takes team 0's own at its next iteration boundary, and once all
 * are in writes the tables' lengths, the finished cells and those states.
 * Cells that finish meanwhile are simply finished in the checkpoint. */
#include "tsim/sched.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tsim/fault.h"
#include "tsim/output.h"
#include "tsim/plan.h"
#include "tsim/progress.h"
#include "tsim/resume.h"
#include "tsim/stop.h"
#include "tsim/cell.h"

enum {
  TAG_DONE = 11,
  TAG_FAIL = 12,
  TAG_ASSIGN = 13,
  TAG_ABORT = 14,
  TAG_SNAPSHOT = 15,
  TAG_STATE = 16,
  TAG_RESULT = 17
};

typedef struct sched {
  const tsim_config *cfg;
  const sched_options *opt;
  par_comm *world, *team;
  int rank, nteams, team_id, team_rank, team_size, g;
  int64_t *order, norder; /* cells in the order they are handed out */
  plan_handout *handout;   /* rank 0: the batches */
  train_cache *cache;
  char engine_json[512]; /* the moments engine's timings, for the manifest */
  progress_meter prog;
  /* coordinator (rank 0) */
  run_output *out;
  int64_t *running;   /* per team: the first cell of its batch, -1 idle */
  int64_t *team_cells; /* per team: bmax slots, the batch's unfinished cells */
  int *team_ncells;
  int *stopped;       /* per team: told to stop */
  int64_t by_status[4], done;
  int failing;        /* a team failed: hand out nothing more */
  int fail_rc;
  tsim_error fail_err;
  double t0;
  void *buf;
  size_t cap;
  /* checkpoints (rank 0) */
  unsigned char *finished;   /* per cell id of the grid */
  cell_result **resume_from; /* per cell id: saved state, or NULL */
  stop_watch watch;
  int stopping;              /* a stop was requested: hand out nothing */
  resume_round round;        /* the checkpoint under way */
  int64_t finished_before;   /* cells a resumed run found finished */
  /* team members: the state their assignment came with */
  int bmax;                  /* most cells in a batch */
  int64_t *batch;            /* the cells of the batch handed to this team */
  int nbatch;
  cell_result *assigned_state; /* per batch cell: the state it came with */
  int *have_assigned_state;
} sched;

/* ---------------------------------------------------------- progress */

static void progress_now(sched *s, int final) {
  progress_counts c = {s->done, s->norder, s->by_status[CELL_DIVERGED], 0};
  for (int t = 0; t < s->nteams; ++t) c.running += s->team_ncells[t];
  progress_line(&s->prog, &c, final);
}

static void maybe_progress(sched *s) {
  if (progress_due(&s->prog)) progress_now(s, 0);
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
  for (int t = 0; t < s->nteams; ++t) /* it no longer runs */
    for (int i = 0; i < s->team_ncells[t]; ++i)
      if (s->team_cells[(int64_t)t * s->bmax + i] == r->cell) {
        s->team_cells[(int64_t)t * s->bmax + i] =
            s->team_cells[(int64_t)t * s->bmax + --s->team_ncells[t]];
        break;
      }
  s->by_status[r->status] += 1;
  s->done += 1;
  s->finished[r->cell] = 1;
  if (output_write_cell(s->out, s->cfg, r, &err)) record_failure(s, err.code, &err);
  progress_cell(&s->prog, s->cfg, r, s->done, s->norder);
}

/* The next batch into CELLS (plan_next_batch), none once the run fails or
 * stops. */
static int next_batch(sched *s, int64_t *cells) {
  if (s->failing || s->stopping) return 0;
  return plan_next_batch(s->handout, cells);
}

/* ----------------------------------------------------------- checkpoint */

/* The checkpoint under way is written (resume_round_write); a failure to
 * write it fails the run. */
static void write_checkpoint(sched *s) {
  tsim_error err = {0};
  const int rc = resume_round_write(&s->round, s->cfg, s->opt->outdir, s->opt->cells,
                                    s->finished, s->out, &err);
  if (rc) record_failure(s, rc, &err);
  s->watch.next_check = 0; /* a STOP file is looked for at once after a checkpoint */
  if (s->stopping) return; /* the interrupted cells' states go in the final one too */
  resume_round_drop(&s->round);
}

static void maybe_finish_checkpoint(sched *s) {
  if (!resume_round_ready(&s->round)) return;
  /* A run that failed meanwhile (say a finished cell's tables could not be
   * written) writes no checkpoint: it would count that cell as done. The
   * previous generation stays the one to resume from. */
  if (!s->failing) write_checkpoint(s);
  resume_round_end(&s->round);
}

/* Ask every busy team for its cells' states (team 0's are taken at its
 * next boundary, coordinator_poll). */
static void start_checkpoint(sched *s, int stop) {
  int *busy = tsim_xcalloc((size_t)s->nteams, sizeof(int));
  for (int t = 0; t < s->nteams; ++t) busy[t] = s->running[t] >= 0;
  resume_round_start(&s->round, busy, stop);
  free(busy);
  if (stop) s->stopping = 1;
  for (int t = 1; t < s->nteams; ++t) {
    if (!s->round.waiting[t]) continue;
    const int64_t flag = stop;
    par_send(s->world, &flag, sizeof flag, leader_of(s, t), TAG_SNAPSHOT);
  }
  maybe_finish_checkpoint(s);
}

/* A stop request or a due periodic checkpoint starts one (rank 0). */
static void check_triggers(sched *s) {
  if (s->round.active || s->stopping || s->failing) return;
  if (stop_check(&s->watch)) {
    if (s->prog.mode != PROGRESS_NONE)
      printf("%stsim: stop requested (%s): checkpointing\n",
             s->prog.mode == PROGRESS_LIVE ? "\n" : "", s->watch.reason);
    start_checkpoint(s, 1);
  } else if (resume_round_due(&s->round, s->opt->checkpoint_seconds)) {
    start_checkpoint(s, 0);
  }
}

/* Append LEN bytes at SRC to the message *MSG of *USED bytes. */
static void append(void **msg, size_t *used, size_t *cap, const void *src, size_t len) {
  if (*used + len > *cap) {
    *cap = 2 * (*used + len) + 64;
    *msg = tsim_xrealloc(*msg, *cap);
  }
  memcpy((char *)*msg + *used, src, len);
  *used += len;
}

/* A list of packed states: int64 count, then per state int64 length and
 * bytes (length 0: none). */
static void *states_message(const cell_result *const *states, int n, const int64_t *ids,
                            size_t *len) {
  void *msg = NULL, *buf = NULL;
  size_t used = 0, cap = 0, bcap = 0;
  const int64_t count = n;
  append(&msg, &used, &cap, &count, sizeof count);
  for (int i = 0; i < n; ++i) {
    if (ids) append(&msg, &used, &cap, &ids[i], sizeof ids[i]);
    const int64_t blen = states[i] ? (int64_t)cell_result_pack(states[i], &buf, &bcap) : 0;
    append(&msg, &used, &cap, &blen, sizeof blen);
    if (blen) append(&msg, &used, &cap, buf, (size_t)blen);
  }
  free(buf);
  *len = used;
  return msg;
}

/* The assignment of the N cells CELLS: ids and saved states, if any. */
static void *assignment_message(const sched *s, const int64_t *cells, int n, size_t *len) {
  const cell_result **states = tsim_xcalloc((size_t)(n ? n : 1), sizeof *states);
  for (int i = 0; i < n; ++i) states[i] = s->resume_from[cells[i]];
  void *msg = states_message(states, n, cells, len);
  free(states);
  return msg;
}

/* Team TEAM now runs CELLS[0..n) (n = 0: idle). */
static void set_running(sched *s, int team, const int64_t *cells, int n) {
  s->running[team] = n ? cells[0] : -1;
  s->team_ncells[team] = n;
  if (n) memcpy(s->team_cells + (int64_t)team * s->bmax, cells, (size_t)n * sizeof(int64_t));
}

/* Send team leader FROM its next batch (with the saved states to resume
 * from), or an empty one to stop. */
static void assign(sched *s, int from, int team) {
  int64_t *cells = tsim_xmalloc((size_t)s->bmax * sizeof(int64_t));
  const int n = next_batch(s, cells);
  size_t len;
  void *msg = assignment_message(s, cells, n, &len);
  par_send(s->world, msg, len, from, TAG_ASSIGN);
  free(msg);
  if (n == 0) s->stopped[team] = 1;
  set_running(s, team, cells, n);
  free(cells);
}

/* The states of a TAG_STATE message into *OUT (allocated); returns their
 * number, -1 if the message is malformed. */
static int unpack_states(const void *buf, size_t len, cell_result **out) {
  const char *p = buf;
  int64_t n = 0;
  *out = NULL;
  if (len < sizeof n) return -1;
  memcpy(&n, p, sizeof n);
  size_t at = sizeof n;
  if (n < 0 || n > 1000000) return -1;
  *out = tsim_xcalloc((size_t)(n ? n : 1), sizeof(cell_result));
  for (int64_t i = 0; i < n; ++i) {
    int64_t blen = 0;
    if (at + sizeof blen > len) goto bad;
    memcpy(&blen, p + at, sizeof blen);
    at += sizeof blen;
    if (blen <= 0 || at + (size_t)blen > len ||
        cell_result_unpack(p + at, (size_t)blen, &(*out)[i]) != TSIM_OK) {
      for (int64_t j = 0; j < i; ++j) cell_result_free(&(*out)[j]);
      goto bad;
    }
    at += (size_t)blen;
  }
  return (int)n;
bad:
  free(*out);
  *out = NULL;
  return -1;
}

/* Handle one message from a team leader. */
static void serve(sched *s) {
  int from = 0, tag = 0;
  const size_t len = par_recv(s->world, &s->buf, &s->cap, -1, -1, &from, &tag);
  const int team = team_of_rank(s, from);
  if (tag == TAG_STATE) {
    if (s->round.active && s->round.waiting[team] && !s->round.have_snap[team]) {
      cell_result *states = NULL;
      const int n = unpack_states(s->buf, len, &states);
      int ok = n >= 0;
      for (int i = 0; ok && i < n; ++i) { /* states of this team's batch only */
        int mine = 0;
        for (int j = 0; j < s->team_ncells[team]; ++j)
          mine |= s->team_cells[(int64_t)team * s->bmax + j] == states[i].cell;
        ok = mine;
      }
      if (ok) {
        const cell_result **ptr = tsim_xcalloc((size_t)(n ? n : 1), sizeof *ptr);
        for (int i = 0; i < n; ++i) ptr[i] = &states[i];
        resume_round_take(&s->round, team, ptr, n);
        free(ptr);
        maybe_finish_checkpoint(s);
      }
      for (int i = 0; i < (n > 0 ? n : 0); ++i) cell_result_free(&states[i]);
      free(states);
    }
    return;
  }
  if (tag == TAG_RESULT) {
    cell_result r;
    if (cell_result_unpack(s->buf, len, &r) == TSIM_OK) accept_result(s, &r);
    cell_result_free(&r);
    return;
  }
  set_running(s, team, NULL, 0);
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
  if (s->round.waiting[team]) { /* its cell ended before it saw the request */
    resume_round_skip(&s->round, team);
    maybe_finish_checkpoint(s);
  }
  assign(s, from, team);
}

/* Team 0's interrupt hook on rank 0: serve every waiting message, print
 * progress, and stop team 0's cell if the run is failing. */
static int coordinator_poll(sched *s, const cell_result *const *progress, int n) {
  while (par_iprobe(s->world, -1, -1)) serve(s);
  check_triggers(s);
  int stop_here = 0;
  if (s->round.active && s->round.waiting[0]) {
    resume_round_take(&s->round, 0, progress, n);
    stop_here = s->round.stop;
    maybe_finish_checkpoint(s);
  }
  maybe_progress(s);
  return s->failing || stop_here;
}

/* -------------------------------------------------------------- teams */

/* A team leader's look at the world at an iteration boundary: rank 0
 * coordinates; another leader answers abort and snapshot requests. Returns
 * 1 when the team's batch must stop here. */
static int leader_poll(sched *s, const cell_result *const *progress, int n) {
  if (s->rank == 0) return coordinator_poll(s, progress, n);
  int flag = 0;
  if (par_iprobe(s->world, 0, TAG_ABORT)) {
    par_recv(s->world, &s->buf, &s->cap, 0, TAG_ABORT, NULL, NULL);
    flag = 1;
  }
  if (par_iprobe(s->world, 0, TAG_SNAPSHOT)) {
    int64_t stop = 0;
    par_recv(s->world, &s->buf, &s->cap, 0, TAG_SNAPSHOT, NULL, NULL);
    memcpy(&stop, s->buf, sizeof stop);
    size_t len;
    void *msg = states_message(progress, n, NULL, &len);
    par_send(s->world, msg, len, 0, TAG_STATE);
    free(msg);
    if (stop) flag = 1;
  }
  return flag;
}

/* A fault injected at this boundary (fault.h): carry it out, and after a
 * stop, a hold or a signal keep the batch at this boundary until a stop
 * request reaches the team, so the stop lands in the middle of the run
 * however fast the machine. Returns the leader's flag. */
static int injected_boundary(sched *s, const fault *f, const cell_result *const *progress,
                             int n) {
  if (f->action == FAULT_STOP) fault_touch_stop(s->opt->outdir);
  fault_fire(f); /* kill and exit do not come back */
  const double give_up = tsim_wtime() + fault_hold_limit();
  for (;;) {
    if (s->rank == 0) {
      s->watch.next_check = 0; /* look at the STOP file now */
      fault_clock_tick();      /* a millisecond of waiting, as in the idle loop */
    }
    const int flag = leader_poll(s, progress, n);
    if (flag) return flag;
    if (tsim_wtime() > give_up) {
      fprintf(stderr, "tsim: TSIM_FAULT: rank %d held %s for %.0f s and no stop came\n", s->rank,
              f->where, fault_hold_limit());
      _exit(9);
    }
    usleep(1000);
  }
}

static int team_interrupt(void *ctx, const cell_result *const *progress, int n) {
  sched *s = ctx;
  int64_t flag = 0;
  if (s->team_rank == 0) {
    if (s->rank == 0) fault_clock_tick();
    const fault *f = NULL;
    for (int i = 0; i < n && !f; ++i)
      f = fault_at_boundary(progress[i]->cell, progress[i]->iterations);
    flag = f ? injected_boundary(s, f, progress, n) : leader_poll(s, progress, n);
  }
  if (s->team_size > 1) par_bcast(s->team, &flag, sizeof flag, 0);
  return (int)flag;
}

/* A cell of the batch finished: rank 0 takes its result, another team's
 * leader sends it to rank 0 at once (so tables and checkpoints never wait
 * for the rest of the batch). */
static void team_finished(void *ctx, const cell_result *res) {
  sched *s = ctx;
  if (s->team_rank != 0) return;
  if (s->rank == 0) {
    accept_result(s, res);
    maybe_progress(s);
    return;
  }
  const size_t len = cell_result_pack(res, &s->buf, &s->cap);
  par_send(s->world, s->buf, len, 0, TAG_RESULT);
}

/* Run the batch this team was handed. Returns 0, TSIM_ESTOP (aborted or
 * stopped) or an error agreed over the team; results went out through
 * team_finished. */
static int run_batch(sched *s, tsim_error *err) {
  const train_hooks hooks = {team_interrupt, team_finished, s};
  const cell_result **from = tsim_xcalloc((size_t)s->nbatch, sizeof *from);
  cell_result *res = tsim_xcalloc((size_t)s->nbatch, sizeof *res);
  for (int i = 0; i < s->nbatch; ++i)
    from[i] = s->have_assigned_state[i] ? &s->assigned_state[i] : NULL;
  const int rc = train_batch(s->cfg, s->batch, s->nbatch, s->team, s->cache, &hooks, from,
                             res, err);
  for (int i = 0; i < s->nbatch; ++i) cell_result_free(&res[i]);
  free(res);
  free(from);
  return rc;
}

static void drop_assigned(sched *s) {
  for (int i = 0; i < s->nbatch; ++i)
    if (s->have_assigned_state[i]) cell_result_free(&s->assigned_state[i]);
  memset(s->have_assigned_state, 0, (size_t)s->bmax * sizeof(int));
  s->nbatch = 0;
}

/* The leader's assignment message (LEN bytes at MSG) to every rank of the
 * team: sets batch, nbatch and the assigned states; returns nbatch. */
static int share_assignment(sched *s, const void *msg, size_t len) {
  int64_t size = (int64_t)len;
  if (s->team_size > 1) par_bcast(s->team, &size, sizeof size, 0);
  char *copy = tsim_xmalloc((size_t)(size ? size : 1));
  if (s->team_rank == 0) memcpy(copy, msg, (size_t)size);
  if (s->team_size > 1) par_bcast(s->team, copy, (size_t)size, 0);
  drop_assigned(s);
  int64_t n = 0;
  size_t at = sizeof n;
  memcpy(&n, copy, sizeof n);
  for (int64_t i = 0; i < n && i < s->bmax; ++i) {
    int64_t blen = 0;
    memcpy(&s->batch[i], copy + at, sizeof(int64_t));
    memcpy(&blen, copy + at + sizeof(int64_t), sizeof blen);
    at += 2 * sizeof(int64_t);
    if (blen > 0)
      s->have_assigned_state[i] =
          cell_result_unpack(copy + at, (size_t)blen, &s->assigned_state[i]) == TSIM_OK;
    at += (size_t)blen;
    s->nbatch = (int)i + 1;
  }
  free(copy);
  return s->nbatch;
}

/* A fault of TSIM_FAULT due as this rank starts a batch (fault.h). */
static int injected_fault(sched *s, int64_t cell, tsim_error *err) {
  const fault *f = fault_at_batch();
  if (!f) return TSIM_OK;
  fault_fire(f);
  if (f->action != FAULT_FAIL) return TSIM_OK;
  return tsim_fail(err, TSIM_EFAIL, "TSIM_FAULT: injected failure in cell %lld",
                   (long long)cell);
}

static int team_batch(sched *s, tsim_error *err) {
  int rc = par_agree(s->team, injected_fault(s, s->batch[0], err), err);
  if (!rc) rc = run_batch(s, err);
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
    if (share_assignment(s, s->buf, got) == 0) break;
    const int rc = team_batch(s, err);
    len = 0;
    tag = TAG_DONE; /* the results went out as the cells finished */
    if (rc != TSIM_OK && rc != TSIM_ESTOP && s->team_rank == 0) {
      const size_t n = sizeof(int64_t) + strlen(err->msg) + 1;
      if (s->cap < n) s->buf = tsim_xrealloc(s->buf, s->cap = n);
      const int64_t code = rc;
      memcpy(s->buf, &code, sizeof code);
      memcpy((char *)s->buf + sizeof code, err->msg, strlen(err->msg) + 1);
      len = n;
      tag = TAG_FAIL;
    }
  }
  /* an abort or snapshot request sent as the last cell finished */
  while (s->team_rank == 0 && (par_iprobe(s->world, 0, TAG_ABORT) ||
                               par_iprobe(s->world, 0, TAG_SNAPSHOT)))
    par_recv(s->world, &s->buf, &s->cap, 0, -1, NULL, NULL);
  drop_assigned(s);
  return TSIM_OK;
}

/* Rank 0 (and team 0's other members). */
static int coordinator_loop(sched *s) {
  int64_t *cells = tsim_xmalloc((size_t)s->bmax * sizeof(int64_t));
  for (;;) {
    void *msg = NULL;
    size_t len = 0;
    if (s->team_rank == 0) {
      check_triggers(s);
      int n = next_batch(s, cells);
      while (n == 0) { /* team 0 is done: serve the others until all stop */
        int open = 0;
        for (int t = 1; t < s->nteams; ++t) open += !s->stopped[t];
        if (!open) break;
        if (par_iprobe(s->world, -1, -1)) {
          serve(s);
        } else {
          fault_clock_tick();
          check_triggers(s);
          usleep(1000);
        }
        maybe_progress(s);
      }
      set_running(s, 0, cells, n);
      msg = assignment_message(s, cells, n, &len);
    }
    const int n = share_assignment(s, msg, len);
    free(msg);
    if (n == 0) break;
    tsim_error err = {0};
    const int rc = team_batch(s, &err); /* results accepted as cells finish */
    if (s->team_rank == 0) {
      set_running(s, 0, NULL, 0);
      if (rc != TSIM_OK && rc != TSIM_ESTOP) record_failure(s, rc, &err);
      maybe_progress(s);
    }
  }
  drop_assigned(s);
  free(cells);
  return TSIM_OK;
}

/* Collective: the moments engine's tensor builds and iterations over all
 * ranks, printed on rank 0 and kept for the manifest, and the sharded
 * engine's longest making of a data set (manifest: samples_s, what a
 * benchmark subtracts from a cell's wall_s). */
static void engine_summary(sched *s) {
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
  s->engine_json[0] = '\0';
  if (sets)
    snprintf(s->engine_json, sizeof s->engine_json, "  \"samples_s\": %.3f%s",
             (double)samples_us * 1e-6, counts[0] ? ",\n" : "");
  if (counts[0] == 0) return;
  const double per_iter = counts[1] ? (double)iter_us[0] * 1e-6 / (double)counts[1] : 0.0;
  const size_t used = strlen(s->engine_json);
  snprintf(s->engine_json + used, sizeof s->engine_json - used,
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

/* Rank 0: manifest.json, with HOSTS (par_hosts, gathered on every rank). */
static void write_manifest(sched *s, int rc, double wall, const char *hosts) {
  char extra[8192], mpi[256];
  par_library_version(mpi, sizeof mpi);
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
           (long long)s->by_status[CELL_DIVERGED],
           rc ? "failed" : s->done < s->norder ? "stopped" : "complete", wall);
  if (s->engine_json[0])
    snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ",\n%s", s->engine_json);
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
  s.t0 = tsim_wtime();
  progress_init(&s.prog, opt->progress, opt->quiet, opt->progress_seconds, s.t0);
  int64_t *ids = NULL, nids = 0;
  TSIM_TRY(plan_parse_cells(opt->cells, cfg->ncells, &ids, &nids, err));
  const int size = par_size(s.world);
  s.order = tsim_xmalloc((size_t)nids * sizeof(int64_t));
  memcpy(s.order, ids, (size_t)nids * sizeof(int64_t));
  s.norder = nids;
  plan_order_by_cost(cfg, s.order, nids);
  s.g = plan_team_size(cfg, s.order, s.norder,
                       opt->team_size > 0 ? opt->team_size : cfg->team_size, size);
  s.nteams = size / s.g;
  s.team_id = team_of_rank(&s, s.rank);
  s.team = par_split(s.world, s.team_id, s.rank);
  s.team_rank = par_rank(s.team);
  s.team_size = par_size(s.team);
  s.bmax = plan_batch_size(cfg, s.order, s.norder, s.nteams, cfg->batch);
  s.running = tsim_xmalloc((size_t)s.nteams * sizeof(int64_t));
  for (int t = 0; t < s.nteams; ++t) s.running[t] = -1;
  s.team_cells = tsim_xcalloc((size_t)s.nteams * (size_t)s.bmax, sizeof(int64_t));
  s.team_ncells = tsim_xcalloc((size_t)s.nteams, sizeof(int));
  s.batch = tsim_xcalloc((size_t)s.bmax, sizeof(int64_t));
  s.assigned_state = tsim_xcalloc((size_t)s.bmax, sizeof(cell_result));
  s.have_assigned_state = tsim_xcalloc((size_t)s.bmax, sizeof(int));
  s.stopped = tsim_xcalloc((size_t)s.nteams, sizeof(int));
  resume_round_init(&s.round, s.nteams);
  s.finished = tsim_xcalloc((size_t)cfg->ncells + 1, 1);
  s.resume_from = tsim_xcalloc((size_t)cfg->ncells + 1, sizeof(cell_result *));
  s.cache = train_cache_create();
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
    rc = resume_open(cfg, &ro, ids, nids, &s.out, s.finished, s.resume_from, s.order, &s.norder,
                     &s.finished_before, err);
    if (!rc) /* the order a resume left */
      s.handout = plan_handout_create(cfg, s.order, s.norder, s.bmax);
    char batch_note[96] = "";
    if (s.bmax > 1)
      snprintf(batch_note, sizeof batch_note,
               ", batches of up to %d cells sharing a data set", s.bmax);
    if (!rc && s.prog.mode != PROGRESS_NONE)
      printf("tsim: %lld cells on %d ranks as %d team%s of %d%s%s\n", (long long)s.norder,
             size, s.nteams, s.nteams == 1 ? "" : "s", s.g,
             size % s.g ? " (the last team takes the remainder)" : "",
             batch_note);
    fflush(stdout);
  }
  rc = par_agree(s.world, rc, err);
  if (!rc) {
    if (s.team_id == 0)
      coordinator_loop(&s);
    else
      team_loop(&s, err);
    const double wall = tsim_wtime() - s.t0;
    engine_summary(&s);
    char hosts[4096]; /* collective: the ranks' hosts, for the manifest */
    par_hosts(s.world, hosts, sizeof hosts);
    if (s.rank == 0) {
      if (s.prog.mode == PROGRESS_LIVE) progress_now(&s, 1);
      if (!s.failing) write_checkpoint(&s); /* the final state of the run */
      const int unfinished = s.done < s.norder;
      write_manifest(&s, s.failing ? s.fail_rc : 0, wall, hosts);
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
  resume_round_free(&s.round);
  free(s.resume_from);
  free(s.finished);
  free(s.team_cells);
  free(s.team_ncells);
  plan_handout_destroy(&s.handout);
  free(s.batch);
  free(s.assigned_state);
  free(s.have_assigned_state);
  train_cache_destroy(&s.cache);
  par_comm_free(&s.team);
  free(s.running);
  free(s.stopped);
  free(s.order);
  free(s.buf);
  free(ids);
  return rc;
}
