/* coordinator.c - the coordinator and the teams (see coordinator.h).
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
#include "tsim/coordinator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tsim/fault.h"

enum {
  TAG_DONE = 11,
  TAG_FAIL = 12,
  TAG_ASSIGN = 13,
  TAG_ABORT = 14,
  TAG_SNAPSHOT = 15,
  TAG_STATE = 16,
  TAG_RESULT = 17
};

/* ---------------------------------------------------------- progress */

static void progress_now(coordinator *s, int final) {
  progress_counts c = {s->done, s->norder, s->by_status[CELL_DIVERGED], 0};
  for (int t = 0; t < s->nteams; ++t) c.running += s->team_ncells[t];
  progress_line(&s->prog, &c, final);
}

static void maybe_progress(coordinator *s) {
  if (progress_due(&s->prog)) progress_now(s, 0);
}

/* ------------------------------------------------------- coordinator */

static int team_of_rank(const coordinator *s, int rank) {
  return plan_team_of_rank(rank, s->g, s->nteams);
}

static int leader_of(const coordinator *s, int team) { return team * s->g; }

static void record_failure(coordinator *s, int rc, const tsim_error *err) {
  if (s->failing) return;
  s->failing = 1;
  s->fail_rc = rc;
  s->fail_err = *err;
  for (int t = 1; t < s->nteams; ++t) /* stop the cells still running */
    if (s->running[t] >= 0) par_send(s->world, NULL, 0, leader_of(s, t), TAG_ABORT);
}

static void maybe_finish_checkpoint(coordinator *s);

static void accept_result(coordinator *s, const cell_result *r) {
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
static int next_batch(coordinator *s, int64_t *cells) {
  if (s->failing || s->stopping) return 0;
  return plan_next_batch(s->handout, cells);
}

/* ----------------------------------------------------------- checkpoint */

/* The checkpoint under way is written (resume_round_write); a failure to
 * write it fails the run. */
static void write_checkpoint(coordinator *s) {
  tsim_error err = {0};
  const int rc = resume_round_write(&s->round, s->cfg, s->outdir, s->cells,
                                    s->finished, s->out, &err);
  if (rc) record_failure(s, rc, &err);
  s->watch.next_check = 0; /* a STOP file is looked for at once after a checkpoint */
  if (s->stopping) return; /* the interrupted cells' states go in the final one too */
  resume_round_drop(&s->round);
}

static void maybe_finish_checkpoint(coordinator *s) {
  if (!resume_round_ready(&s->round)) return;
  /* A run that failed meanwhile (say a finished cell's tables could not be
   * written) writes no checkpoint: it would count that cell as done. The
   * previous generation stays the one to resume from. */
  if (!s->failing) write_checkpoint(s);
  resume_round_end(&s->round);
}

/* Ask every busy team for its cells' states (team 0's are taken at its
 * next boundary, coordinator_poll). */
static void start_checkpoint(coordinator *s, int stop) {
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
static void check_triggers(coordinator *s) {
  if (s->round.active || s->stopping || s->failing) return;
  if (stop_check(&s->watch)) {
    if (s->prog.mode != PROGRESS_NONE)
      printf("%stsim: stop requested (%s): checkpointing\n",
             s->prog.mode == PROGRESS_LIVE ? "\n" : "", s->watch.reason);
    start_checkpoint(s, 1);
  } else if (resume_round_due(&s->round, s->checkpoint_seconds)) {
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
static void *assignment_message(const coordinator *s, const int64_t *cells, int n, size_t *len) {
  const cell_result **states = tsim_xcalloc((size_t)(n ? n : 1), sizeof *states);
  for (int i = 0; i < n; ++i) states[i] = s->resume_from[cells[i]];
  void *msg = states_message(states, n, cells, len);
  free(states);
  return msg;
}

/* Team TEAM now runs CELLS[0..n) (n = 0: idle). */
static void set_running(coordinator *s, int team, const int64_t *cells, int n) {
  s->running[team] = n ? cells[0] : -1;
  s->team_ncells[team] = n;
  if (n) memcpy(s->team_cells + (int64_t)team * s->bmax, cells, (size_t)n * sizeof(int64_t));
}

/* Send team leader FROM its next batch (with the saved states to resume
 * from), or an empty one to stop. */
static void assign(coordinator *s, int from, int team) {
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
static void serve(coordinator *s) {
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
static int coordinator_poll(coordinator *s, const cell_result *const *progress, int n) {
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
static int leader_poll(coordinator *s, const cell_result *const *progress, int n) {
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
static int injected_boundary(coordinator *s, const fault *f, const cell_result *const *progress,
                             int n) {
  if (f->action == FAULT_STOP) fault_touch_stop(s->outdir);
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
  coordinator *s = ctx;
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
  coordinator *s = ctx;
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
static int run_batch(coordinator *s, tsim_error *err) {
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

static void drop_assigned(coordinator *s) {
  for (int i = 0; i < s->nbatch; ++i)
    if (s->have_assigned_state[i]) cell_result_free(&s->assigned_state[i]);
  memset(s->have_assigned_state, 0, (size_t)s->bmax * sizeof(int));
  s->nbatch = 0;
}

/* The leader's assignment message (LEN bytes at MSG) to every rank of the
 * team: sets batch, nbatch and the assigned states; returns nbatch. */
static int share_assignment(coordinator *s, const void *msg, size_t len) {
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
static int injected_fault(int64_t cell, tsim_error *err) {
  const fault *f = fault_at_batch();
  if (!f) return TSIM_OK;
  fault_fire(f);
  if (f->action != FAULT_FAIL) return TSIM_OK;
  return tsim_fail(err, TSIM_EFAIL, "TSIM_FAULT: injected failure in cell %lld",
                   (long long)cell);
}

static int team_batch(coordinator *s, tsim_error *err) {
  int rc = par_agree(s->team, injected_fault(s->batch[0], err), err);
  if (!rc) rc = run_batch(s, err);
  return rc;
}

/* Leaders of teams 1.. and their members. */
static int team_loop(coordinator *s, tsim_error *err) {
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
static int coordinator_loop(coordinator *s) {
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

/* ------------------------------------------------------------- the run */

void coordinator_init(coordinator *c) {
  c->running = tsim_xmalloc((size_t)c->nteams * sizeof(int64_t));
  for (int t = 0; t < c->nteams; ++t) c->running[t] = -1;
  c->team_cells = tsim_xcalloc((size_t)c->nteams * (size_t)c->bmax, sizeof(int64_t));
  c->team_ncells = tsim_xcalloc((size_t)c->nteams, sizeof(int));
  c->batch = tsim_xcalloc((size_t)c->bmax, sizeof(int64_t));
  c->assigned_state = tsim_xcalloc((size_t)c->bmax, sizeof(cell_result));
  c->have_assigned_state = tsim_xcalloc((size_t)c->bmax, sizeof(int));
  c->stopped = tsim_xcalloc((size_t)c->nteams, sizeof(int));
  resume_round_init(&c->round, c->nteams);
}

void coordinator_free(coordinator *c) {
  resume_round_free(&c->round);
  free(c->team_cells);
  free(c->team_ncells);
  free(c->batch);
  free(c->assigned_state);
  free(c->have_assigned_state);
  free(c->running);
  free(c->stopped);
  free(c->buf);
  c->buf = NULL;
}

void coordinator_run(coordinator *c, tsim_error *err) {
  if (c->team_id == 0)
    coordinator_loop(c);
  else
    team_loop(c, err);
}

void coordinator_progress(coordinator *c, int final) { progress_now(c, final); }

void coordinator_checkpoint(coordinator *c) { write_checkpoint(c); }

void coordinator_fail(coordinator *c, int rc, const tsim_error *err) {
  record_failure(c, rc, err);
}
