/* progress.c - progress lines on rank 0's stdout (see progress.h). */
#include "tsim/progress.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "tsim/cellkind.h"
#include "tsim/output.h"
#include "tsim/schedule.h"

void progress_init(progress_meter *p, int mode, int quiet, double period, double t0) {
  p->mode = quiet ? PROGRESS_NONE : mode;
  /* live only on a terminal: mpirun gives the ranks a pseudo-terminal for
   * stdout even when its own output goes to a file, but a pipe for stderr */
  if (p->mode == PROGRESS_AUTO)
    p->mode = isatty(STDOUT_FILENO) && isatty(STDERR_FILENO) ? PROGRESS_LIVE : PROGRESS_LOG;
  p->period = period;
  p->t0 = p->last = t0;
}

static void format_eta(double seconds, char *buf, size_t cap) {
  if (!isfinite(seconds) || seconds < 0) {
    snprintf(buf, cap, "-");
    return;
  }
  long s = lround(seconds);
  snprintf(buf, cap, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
}

void progress_line(progress_meter *p, const progress_counts *c, int final) {
  const double now = tsim_wtime(), elapsed = now - p->t0;
  const double rate = elapsed > 0 ? c->done / elapsed : 0;
  char eta[32];
  format_eta(rate > 0 ? (c->total - c->done) / rate : NAN, eta, sizeof eta);
  const int live = p->mode == PROGRESS_LIVE;
  printf("%scells %lld/%lld | running %d | %lld diverged | %.1f cells/s | ETA %s%s",
         live ? "\r\033[K" : "", (long long)c->done, (long long)c->total,
         c->running, (long long)c->diverged, rate, eta,
         live && !final ? "" : "\n");
  fflush(stdout);
  p->last = now;
}

int progress_due(const progress_meter *p) {
  if (p->mode == PROGRESS_NONE) return 0;
  const double period = p->mode == PROGRESS_LIVE ? 0.5 : p->period;
  return tsim_wtime() - p->last >= period;
}

/* T, an iteration or (a gradient flow) the time of logged point T. */
static void format_t(const tsim_params *p, int64_t t, char *buf, size_t cap) {
  int last;
  if (p->method == METHOD_FLOW)
    snprintf(buf, cap, "%.6g", schedule_flow_time(p, t, &last));
  else
    snprintf(buf, cap, "%lld", (long long)t);
}

void progress_cell(const progress_meter *p, const tsim_config *cfg, const cell_result *r,
                   int64_t done, int64_t total) {
  if (p->mode != PROGRESS_LOG) return;
  char label[1024], t[32], q9[64] = "";
  tsim_params cp;
  config_cell(cfg, r->cell, &cp);
  config_cell_label(cfg, r->cell, label, sizeof label);
  format_t(&cp, r->iterations, t, sizeof t);
  if (cellkind_has_q9(&cp)) { /* "-": never positive */
    char at[32] = "-";
    if (r->t_q9_positive >= 0) format_t(&cp, r->t_q9_positive, at, sizeof at);
    snprintf(q9, sizeof q9, ", t_q9_positive=%s", at);
  }
  printf("cell %lld (%lld/%lld) %s: %s at t=%s%s, train_loss=%.6g, %.2f s\n",
         (long long)r->cell, (long long)done, (long long)total,
         label[0] ? label : "-", output_status_name(r->status), t, q9,
         r->final_train_loss, r->wall_s);
  fflush(stdout);
}
