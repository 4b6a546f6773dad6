/* fault.c - see fault.h. */
#define _POSIX_C_SOURCE 200809L
#include "tsim/fault.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SPECS 16

enum trigger { AT_CELL, AT_BATCH, AT_CHECKPOINT, AT_CONFIG };

typedef struct spec {
  enum trigger trigger;
  int64_t cell, iter, count; /* count: batch or checkpoint number */
  fault_ckpt_step step;
  long rank; /* -1: any */
  int fired;
  fault f;
} spec;

static spec specs[MAX_SPECS];
static int nspecs;
static int my_rank;
static long rank0_pid;
static int64_t batches, checkpoints;
static double tick, ticks; /* fake clock: tick > 0 */
static double hold_limit = 600.0;

static const char *const step_names[] = {"written", "synced", "renamed", "committed"};

static int parse_int(const char *v, int64_t *out) {
  char *end;
  errno = 0;
  const long long x = strtoll(v, &end, 10);
  if (errno || end == v || *end || x < 0) return 0;
  *out = x;
  return 1;
}

static int bad(tsim_error *err, const char *spec_text, const char *why) {
  return tsim_fail(err, TSIM_EINPUT, "TSIM_FAULT: '%s': %s", spec_text, why);
}

/* One spec TEXT (modified in place) into S. */
static int parse_spec(char *text, spec *s, tsim_error *err) {
  char shown[256];
  snprintf(shown, sizeof shown, "%s", text);
  memset(s, 0, sizeof *s);
  s->rank = -1;
  s->trigger = -1;
  s->f.action = -1;
  s->step = FAULT_CKPT_COMMITTED;
  int has_iter = 0, has_step = 0;
  for (char *save = NULL, *kv = strtok_r(text, ",", &save); kv;
       kv = strtok_r(NULL, ",", &save)) {
    char *v = strchr(kv, '=');
    if (!v) return bad(err, shown, "expected key=value");
    *v++ = '\0';
    int64_t x = 0;
    if (!strcmp(kv, "cell") || !strcmp(kv, "batch") || !strcmp(kv, "checkpoint") ||
        !strcmp(kv, "config")) {
      if ((int)s->trigger != -1) return bad(err, shown, "more than one trigger");
      if (!parse_int(v, &x)) return bad(err, shown, "a trigger takes an integer >= 0");
      s->trigger = !strcmp(kv, "cell")         ? AT_CELL
                   : !strcmp(kv, "checkpoint") ? AT_CHECKPOINT
                   : !strcmp(kv, "config")     ? AT_CONFIG
                                               : AT_BATCH;
      if (s->trigger == AT_CELL) s->cell = x;
      else s->count = x;
    } else if (!strcmp(kv, "iter")) {
      if (!parse_int(v, &s->iter)) return bad(err, shown, "iter takes an integer >= 0");
      has_iter = 1;
    } else if (!strcmp(kv, "step")) {
      int k = 0;
      while (k < 4 && strcmp(v, step_names[k])) ++k;
      if (k == 4) return bad(err, shown, "step is written, synced, renamed or committed");
      s->step = (fault_ckpt_step)k;
      has_step = 1;
    } else if (!strcmp(kv, "rank")) {
      if (!parse_int(v, &x)) return bad(err, shown, "rank takes an integer >= 0");
      s->rank = (long)x;
    } else if (!strcmp(kv, "file")) {
      snprintf(s->f.file, sizeof s->f.file, "%s", v);
    } else if (!strcmp(kv, "to")) {
      if (!strcmp(v, "self")) s->f.to = FAULT_TO_SELF;
      else if (!strcmp(v, "parent")) s->f.to = FAULT_TO_PARENT;
      else if (!strcmp(v, "rank0")) s->f.to = FAULT_TO_RANK0;
      else return bad(err, shown, "to is self, parent or rank0");
    } else if (!strcmp(kv, "do")) {
      static const struct { const char *name; fault_action a; int sig; } acts[] = {
          {"fail", FAULT_FAIL, 0},       {"exit", FAULT_EXIT, 0},
          {"kill", FAULT_KILL, SIGKILL}, {"TERM", FAULT_SIGNAL, SIGTERM},
          {"INT", FAULT_SIGNAL, SIGINT}, {"USR1", FAULT_SIGNAL, SIGUSR1},
          {"stop", FAULT_STOP, 0},       {"hold", FAULT_HOLD, 0}};
      size_t k = 0;
      while (k < sizeof acts / sizeof acts[0] && strcmp(v, acts[k].name)) ++k;
      if (k == sizeof acts / sizeof acts[0])
        return bad(err, shown, "do is fail, exit, kill, TERM, INT, USR1, stop or hold");
      s->f.action = acts[k].a;
      s->f.sig = acts[k].sig;
    } else {
      return bad(err, shown, "unknown key (cell, iter, batch, checkpoint, step, config, do, "
                             "to, rank, file)");
    }
  }
  if ((int)s->trigger == -1)
    return bad(err, shown, "no trigger (cell=, batch=, checkpoint= or config=)");
  if ((int)s->f.action == -1) return bad(err, shown, "no action (do=)");
  if (has_iter && s->trigger != AT_CELL) return bad(err, shown, "iter goes with cell=");
  if (has_step && s->trigger != AT_CHECKPOINT) return bad(err, shown, "step goes with checkpoint=");
  if ((s->trigger == AT_BATCH || s->trigger == AT_CONFIG) &&
      (s->f.action == FAULT_STOP || s->f.action == FAULT_HOLD))
    return bad(err, shown, "stop and hold go with cell= or checkpoint=");
  if (s->trigger == AT_CONFIG && s->f.action == FAULT_FAIL)
    return bad(err, shown, "fail goes with batch= or checkpoint=");
  if (s->trigger == AT_CHECKPOINT && s->f.action == FAULT_HOLD)
    return bad(err, shown, "hold goes with cell=");
  if (s->trigger == AT_CELL && s->f.action == FAULT_FAIL)
    return bad(err, shown, "fail goes with batch= or checkpoint=");
  if (s->trigger == AT_CELL)
    snprintf(s->f.where, sizeof s->f.where, "cell %lld at t = %lld", (long long)s->cell,
             (long long)s->iter);
  else if (s->trigger == AT_BATCH)
    snprintf(s->f.where, sizeof s->f.where, "batch %lld", (long long)s->count);
  else if (s->trigger == AT_CONFIG)
    snprintf(s->f.where, sizeof s->f.where, "the config's checks at cell %lld",
             (long long)s->count);
  else
    snprintf(s->f.where, sizeof s->f.where, "checkpoint %lld, %s", (long long)s->count,
             step_names[s->step]);
  return TSIM_OK;
}

int fault_init(int world_rank, tsim_error *err) {
  my_rank = world_rank;
  nspecs = 0;
  const char *clock = getenv("TSIM_FAKE_CLOCK");
  if (clock && *clock) {
    char *end;
    tick = strtod(clock, &end);
    if (end == clock || *end || !(tick > 0))
      return tsim_fail(err, TSIM_EINPUT, "TSIM_FAKE_CLOCK: '%s': need seconds per tick > 0",
                       clock);
  }
  const char *hold = getenv("TSIM_FAULT_HOLD");
  if (hold && *hold) {
    char *end;
    hold_limit = strtod(hold, &end);
    if (end == hold || *end || !(hold_limit > 0))
      return tsim_fail(err, TSIM_EINPUT, "TSIM_FAULT_HOLD: '%s': need seconds > 0", hold);
  }
  const char *env = getenv("TSIM_FAULT");
  if (!env || !*env) return TSIM_OK;
  char *copy = tsim_xstrdup(env);
  int rc = TSIM_OK;
  for (char *save = NULL, *one = strtok_r(copy, ";", &save); one && !rc;
       one = strtok_r(NULL, ";", &save)) {
    if (nspecs == MAX_SPECS) {
      rc = tsim_fail(err, TSIM_EINPUT, "TSIM_FAULT: more than %d specs", MAX_SPECS);
      break;
    }
    rc = parse_spec(one, &specs[nspecs], err);
    if (!rc) ++nspecs;
  }
  free(copy);
  if (rc) nspecs = 0;
  return rc;
}

void fault_set_rank0_pid(long pid) { rank0_pid = pid; }

static int mine(const spec *s) { return !s->fired && (s->rank < 0 || s->rank == my_rank); }

const fault *fault_at_boundary(int64_t cell, int64_t t) {
  for (int i = 0; i < nspecs; ++i) {
    spec *s = &specs[i];
    if (mine(s) && s->trigger == AT_CELL && s->cell == cell && t >= s->iter) {
      s->fired = 1;
      return &s->f;
    }
  }
  return NULL;
}

const fault *fault_at_batch(void) {
  if (!nspecs) return NULL;
  ++batches;
  for (int i = 0; i < nspecs; ++i) {
    spec *s = &specs[i];
    if (mine(s) && s->trigger == AT_BATCH && s->count == batches) {
      s->fired = 1;
      return &s->f;
    }
  }
  return NULL;
}

int fault_at_config(int64_t cell) {
  for (int i = 0; i < nspecs; ++i) {
    spec *s = &specs[i];
    if (mine(s) && s->trigger == AT_CONFIG && cell >= s->count) {
      s->fired = 1;
      fault_fire(&s->f);
    }
  }
  return 1;
}

void fault_checkpoint_begin(void) { ++checkpoints; }

int fault_at_checkpoint(const char *outdir, fault_ckpt_step step, tsim_error *err) {
  for (int i = 0; i < nspecs; ++i) {
    spec *s = &specs[i];
    if (!mine(s) || s->trigger != AT_CHECKPOINT || s->count != checkpoints || s->step != step)
      continue;
    s->fired = 1;
    if (s->f.action == FAULT_FAIL) {
      fault_fire(&s->f); /* the file only */
      return tsim_fail(err, TSIM_EFAIL, "TSIM_FAULT: injected failure at %s", s->f.where);
    }
    if (s->f.action == FAULT_STOP) fault_touch_stop(outdir);
    fault_fire(&s->f);
  }
  return TSIM_OK;
}

static void touch(const char *path) {
  const int fd = open(path, O_WRONLY | O_CREAT, 0666);
  if (fd >= 0) close(fd);
}

void fault_touch_stop(const char *outdir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/STOP", outdir);
  touch(path);
}

void fault_fire(const fault *f) {
  if (f->file[0]) touch(f->file);
  if (f->action == FAULT_EXIT) {
    fprintf(stderr, "tsim: TSIM_FAULT: rank %d exits at %s\n", my_rank, f->where);
    _exit(9);
  }
  if (f->action != FAULT_KILL && f->action != FAULT_SIGNAL) return;
  const pid_t pid = f->to == FAULT_TO_PARENT ? getppid()
                    : f->to == FAULT_TO_RANK0 && rank0_pid > 0 ? (pid_t)rank0_pid
                                                               : getpid();
  kill(pid, f->sig);
}

double fault_hold_limit(void) { return hold_limit; }

double fault_clock(void) { return tick > 0 ? ticks * tick : tsim_wtime(); }

void fault_clock_tick(void) {
  if (tick > 0) ticks += 1;
}
