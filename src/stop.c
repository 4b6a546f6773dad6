/* stop.c - see stop.h. */
#define _POSIX_C_SOURCE 200809L
#include "tsim/stop.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tsim/common.h"
#include "tsim/fault.h"

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig) { stop_signal = sig; }

int stop_signalled(void) { return (int)stop_signal; }

void stop_install_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
}

/* Seconds until the Slurm job ends (squeue's %e), or -1. */
static double slurm_seconds_left(void) {
  const char *job = getenv("SLURM_JOB_ID");
  if (!job || !*job) return -1;
  char cmd[256], line[128] = "";
  snprintf(cmd, sizeof cmd, "squeue -h -j %.64s -o %%e 2>/dev/null", job);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  if (!fgets(line, sizeof line, p)) line[0] = '\0';
  pclose(p);
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  if (sscanf(line, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return -1; /* "N/A", "UNLIMITED" or no squeue */
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_isdst = -1;
  return difftime(mktime(&tm), time(NULL));
}

void stop_watch_init(stop_watch *w, const char *stop_file, double time_limit,
                     double margin) {
  memset(w, 0, sizeof *w);
  w->stop_file = stop_file;
  const double now = fault_clock();
  if (time_limit > 0) w->deadline = now + time_limit;
  const double left = slurm_seconds_left();
  if (left > 0) {
    const double slurm = now + (left > 2 * margin ? left - margin : left / 2);
    if (w->deadline == 0 || slurm < w->deadline) w->deadline = slurm;
  }
}

int stop_check(stop_watch *w) {
  if (w->requested) return 1;
  if (stop_signal) {
    snprintf(w->reason, sizeof w->reason, "signal %d", (int)stop_signal);
    return w->requested = 1;
  }
  const double now = fault_clock();
  if (w->deadline > 0 && now >= w->deadline) {
    snprintf(w->reason, sizeof w->reason, "time limit");
    return w->requested = 1;
  }
  if (w->stop_file && now >= w->next_check) {
    w->next_check = now + 0.5;
    if (access(w->stop_file, F_OK) == 0) {
      snprintf(w->reason, sizeof w->reason, "STOP file");
      return w->requested = 1;
    }
  }
  return 0;
}
