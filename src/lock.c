/* lock.c - see lock.h. */
#include "tsim/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct tsim_lock {
  char *dir, *path;
  int fd;
  char *made; /* the outermost directory lock_acquire made, or NULL */
  int beating; /* the heartbeat thread runs */
  int quit;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

/* What a lock file says about its holder. */
typedef struct holder {
  int parsed; /* host and pid were read */
  char host[256], job[128], started[64];
  long pid;
  int fcntl_lock; /* the holder took the OFD lock */
  struct stat st; /* the file: identity and heartbeat (mtime) */
} holder;

static void lock_path(const char *dir, const char *name, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/%s", dir, name);
}

static void this_host(char *buf, size_t cap) {
  if (gethostname(buf, cap)) snprintf(buf, cap, "unknown");
  buf[cap - 1] = '\0';
}

static const char *slurm_job(void) {
  const char *job = getenv("SLURM_JOB_ID");
  return job ? job : "";
}

/* An errno that says the directory given cannot hold a run (a file in the
 * way, no permission, a read-only file system): bad input, not a failure. */
static int given_code(int e) {
  return e == ENOTDIR || e == EACCES || e == EPERM || e == EROFS ? TSIM_EINPUT : TSIM_EFAIL;
}

/* mkdir -p PATH; the outermost directory it made goes into *MADE (if none
 * is there yet). */
static int mkdir_p(const char *path, char **made, tsim_error *err) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  if (!buf[0]) return tsim_fail(err, TSIM_EINPUT, "an empty directory name");
  for (char *p = buf + 1;; ++p) {
    if (*p && *p != '/') continue;
    const char end = *p;
    *p = '\0';
    if (mkdir(buf, 0777) == 0) {
      if (!*made) *made = tsim_xstrdup(buf);
    } else if (errno != EEXIST) {
      const int e = errno;
      return tsim_fail(err, given_code(e), "%s: cannot create directory: %s", buf, strerror(e));
    }
    if (!end) return TSIM_OK;
    *p = '/';
  }
}

/* Remove the directories of DIR up to MADE that are empty. */
static void rmdir_made(const char *dir, const char *made) {
  if (!made) return;
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", dir);
  for (size_t n = strlen(buf); n > 1 && buf[n - 1] == '/'; --n) buf[n - 1] = '\0';
  while (strlen(buf) >= strlen(made) && rmdir(buf) == 0) {
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf) return;
    *slash = '\0';
  }
}

/* ------------------------------------------------------ OFD lock */

static int fcntl_lock(int fd) {
#ifdef F_OFD_SETLK
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  return fcntl(fd, F_OFD_SETLK, &fl) == 0;
#else
  return flock(fd, LOCK_EX | LOCK_NB) == 0;
#endif
}

/* 1: another open file holds a lock on PATH; 0: none; -1: the file system
 * cannot tell. */
static int fcntl_held(const char *path) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int held;
#ifdef F_OFD_GETLK
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  held = fcntl(fd, F_OFD_GETLK, &fl) ? -1 : fl.l_type != F_UNLCK;
#else
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
    held = 0;
    flock(fd, LOCK_UN);
  } else {
    held = errno == EWOULDBLOCK ? 1 : -1;
  }
#endif
  close(fd);
  return held;
}

/* ------------------------------------------------------ the file */

/* Read PATH into H. Returns 1, 0 when there is no lock, -1 (errno) when it
 * cannot be read. A lock just created may not hold its text yet: it is
 * read again for up to a second. */
static int read_holder(const char *path, holder *h) {
  for (int tries = 0;; ++tries) {
    memset(h, 0, sizeof *h);
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : -1;
    char text[4096];
    ssize_t n = fstat(fd, &h->st) ? -1 : read(fd, text, sizeof text - 1);
    close(fd);
    if (n < 0) return -1;
    text[n] = '\0';
    int have_host = 0, have_pid = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
      if (!strncmp(line, "host: ", 6))
        have_host = snprintf(h->host, sizeof h->host, "%s", line + 6) >= 0;
      else if (!strncmp(line, "pid: ", 5))
        have_pid = sscanf(line + 5, "%ld", &h->pid) == 1;
      else if (!strncmp(line, "slurm_job_id: ", 14))
        snprintf(h->job, sizeof h->job, "%s", line + 14);
      else if (!strncmp(line, "started: ", 9))
        snprintf(h->started, sizeof h->started, "%s", line + 9);
      else if (!strcmp(line, "fcntl_lock: yes"))
        h->fcntl_lock = 1;
    }
    h->parsed = have_host && have_pid;
    if (h->parsed || tries == 100) return 1;
    usleep(10000);
  }
}

static long heartbeat_age(const holder *h) {
  const long age = (long)difftime(time(NULL), h->st.st_mtime);
  return age > 0 ? age : 0;
}

/* "Slurm job J, started S" */
static void job_started(const holder *h, char *buf, size_t cap) {
  snprintf(buf, cap, "%s%s, started %s", h->job[0] ? "Slurm job " : "no Slurm job", h->job,
           h->started[0] ? h->started : "?");
}

/* "host H, pid P, Slurm job J, started S" */
static void describe(const holder *h, char *buf, size_t cap) {
  char rest[256];
  job_started(h, rest, sizeof rest);
  if (h->parsed) snprintf(buf, cap, "host %s, pid %ld, %s", h->host, h->pid, rest);
  else snprintf(buf, cap, "holder unknown: an unreadable lock");
}

/* Create the lock: 1 done, 0 another lock is there, -1 error (ERR). */
static int create_lock(tsim_lock *lk, const char *command, tsim_error *err) {
  const int fd = open(lk->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST || errno == ENOENT) return 0; /* ENOENT: DIR removed meanwhile */
    const int e = errno;
    tsim_fail(err, given_code(e), "%s: cannot create: %s", lk->path, strerror(e));
    return -1;
  }
  const int locked = fcntl_lock(fd);
  char host[256], started[64], text[8192], line[4096];
  this_host(host, sizeof host);
  snprintf(line, sizeof line, "%s", command ? command : "");
  for (char *q = line; *q; ++q) /* the command stays one line */
    if (*q == '\n') *q = ' ';
  const time_t now = time(NULL);
  struct tm tm;
  strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%S%z", localtime_r(&now, &tm));
  const int n = snprintf(text, sizeof text,
                         "tsim run directory lock (tsim unlock DIR removes it)\n"
                         "host: %s\npid: %ld\nslurm_job_id: %s\nstarted: %s\n"
                         "fcntl_lock: %s\ncommand: %s\n",
                         host, (long)getpid(), slurm_job(), started, locked ? "yes" : "no",
                         line);
  const size_t len = n < (int)sizeof text ? (size_t)n : sizeof text - 1;
  if (write(fd, text, len) != (ssize_t)len || fsync(fd)) {
    tsim_fail(err, TSIM_EFAIL, "%s: cannot write: %s", lk->path, strerror(errno));
    unlink(lk->path);
    close(fd);
    return -1;
  }
  lk->fd = fd;
  return 1;
}

typedef enum { LIVE, STALE } verdict;
static verdict judge(const char *path, const holder *h, int requeue, char *why, size_t cap);

/* Take over a lock judged stale, one takeover at a time: under the mutex
 * the lock there is read and judged again into H and WHY (another takeover
 * may have replaced it by a live one), removed if stale, and ours created.
 * Returns 1 done, 0 a live lock is there, -1 error. */
static int take_over(tsim_lock *lk, int requeue, const char *command, holder *h, char *why,
                     size_t cap, tsim_error *err) {
  char mutex[4200];
  lock_path(lk->dir, ".lock.takeover", mutex, sizeof mutex);
  for (;;) {
    const int fd = open(mutex, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      close(fd);
      break;
    }
    struct stat st;
    if (errno != EEXIST) {
      tsim_fail(err, TSIM_EFAIL, "%s: cannot create: %s", mutex, strerror(errno));
      return -1;
    }
    if (stat(mutex, &st) == 0 && difftime(time(NULL), st.st_mtime) > 10)
      unlink(mutex); /* left by a takeover that died */
    else
      usleep(10000);
  }
  int rc = 0; /* no lock there (released meanwhile), or a live one */
  const int found = read_holder(lk->path, h);
  if (found < 0) {
    tsim_fail(err, TSIM_EFAIL, "%s: cannot read: %s", lk->path, strerror(errno));
    rc = -1;
  } else if (found && judge(lk->path, h, requeue, why, cap) == STALE) {
    if (unlink(lk->path) == 0 || errno == ENOENT) {
      rc = create_lock(lk, command, err);
    } else {
      tsim_fail(err, TSIM_EFAIL, "%s: cannot remove: %s", lk->path, strerror(errno));
      rc = -1;
    }
  }
  unlink(mutex);
  return rc;
}

/* ------------------------------------------------------ heartbeat */

static void *heartbeat(void *arg) {
  tsim_lock *lk = arg;
  pthread_mutex_lock(&lk->mu);
  while (!lk->quit) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += LOCK_HEARTBEAT_SECONDS;
    while (!lk->quit && pthread_cond_timedwait(&lk->cv, &lk->mu, &until) != ETIMEDOUT) {
    }
    if (!lk->quit) futimens(lk->fd, NULL);
  }
  pthread_mutex_unlock(&lk->mu);
  return NULL;
}

static void start_heartbeat(tsim_lock *lk) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&lk->cv, &attr);
  pthread_condattr_destroy(&attr);
  pthread_mutex_init(&lk->mu, NULL);
  sigset_t all, old; /* signals stay with the main thread (stop.h) */
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  lk->beating = pthread_create(&lk->thread, NULL, heartbeat, lk) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (!lk->beating)
    fprintf(stderr, "tsim: warning: %s: no heartbeat (cannot start a thread)\n", lk->path);
}

/* ------------------------------------------------------ acquire */

/* Is PID a process of this host (other than this one), not a zombie? */
static int pid_exists(long pid) {
  if (pid <= 0 || pid == (long)getpid()) return 0;
  if (kill((pid_t)pid, 0) != 0 && errno != EPERM) return 0;
  char path[64], text[512];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return 1; /* no /proc: kill's word */
  const size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  const char *paren = strrchr(text, ')'); /* "pid (comm) S ..." */
  return !(paren && (paren[1] == ' ') && (paren[2] == 'Z' || paren[2] == 'X'));
}

/* Is H's holder live (lock.h)? REQUEUE: the same Slurm job, whose holder on
 * another host counts as gone. The reason of a stale verdict goes to WHY. */
static verdict judge(const char *path, const holder *h, int requeue, char *why, size_t cap) {
  const int held = fcntl_held(path);
  if (held == 1) return LIVE;
  char host[256];
  this_host(host, sizeof host);
  if (h->parsed && !strcmp(h->host, host)) {
    const int exists = pid_exists(h->pid);
    if (exists && !(h->fcntl_lock && held == 0)) return LIVE;
    snprintf(why, cap, "that process is gone");
    return STALE;
  }
  if (requeue) {
    snprintf(why, cap, "a requeue of Slurm job %s", h->job);
    return STALE;
  }
  const long age = heartbeat_age(h);
  if (age < LOCK_STALE_SECONDS) return LIVE;
  snprintf(why, cap, "its heartbeat is %ld s old (stale after %d s)", age, LOCK_STALE_SECONDS);
  return STALE;
}

int lock_acquire(const char *dir, const char *command, tsim_lock **out, tsim_error *err) {
  *out = NULL;
  tsim_lock *lk = tsim_xcalloc(1, sizeof *lk);
  lk->fd = -1;
  lk->dir = tsim_xstrdup(dir);
  char path[4200];
  lock_path(dir, ".lock", path, sizeof path);
  lk->path = tsim_xstrdup(path);
  const char *job = slurm_job();
  double wait_until = 0;
  int rc = mkdir_p(dir, &lk->made, err), got = 0, vanished = 0;
  while (!rc && !got) {
    got = create_lock(lk, command, err);
    if (got) break;
    holder h;
    const int found = read_holder(path, &h);
    if (found < 0) {
      rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot read: %s", path, strerror(errno));
      break;
    }
    if (found == 0) { /* released meanwhile, perhaps with DIR */
      if (++vanished < 100) rc = mkdir_p(dir, &lk->made, err);
      else rc = tsim_fail(err, TSIM_EFAIL, "%s: cannot create: it keeps vanishing", path);
      continue;
    }
    const int requeue = h.parsed && job[0] && !strcmp(job, h.job);
    char why[160] = "", who[600];
    if (judge(path, &h, requeue, why, sizeof why) == STALE) {
      got = take_over(lk, requeue, command, &h, why, sizeof why, err);
      job_started(&h, who, sizeof who);
      if (got > 0 && h.parsed)
        fprintf(stderr, "tsim: %s: taking over the lock of pid %ld on host %s (%s): %s\n", dir,
                h.pid, h.host, who, why);
      else if (got > 0)
        fprintf(stderr, "tsim: %s: taking over an unreadable lock: %s\n", dir, why);
      continue;
    }
    describe(&h, who, sizeof who);
    const double now = tsim_wtime();
    if (requeue && wait_until == 0) {
      fprintf(stderr, "tsim: %s: waiting up to %d s for pid %ld of the previous run (Slurm job "
              "%s) to exit\n", dir, LOCK_WAIT_SECONDS, h.pid, h.job);
      fflush(stderr);
      wait_until = now + LOCK_WAIT_SECONDS;
    }
    if (requeue && now < wait_until) {
      usleep(50000);
      continue;
    }
    rc = tsim_fail(err, TSIM_EINPUT,
                   "%s: in use by another tsim (%s, heartbeat %ld s ago)%s; wait for it to "
                   "end, or if you are sure it is gone: tsim unlock %s",
                   dir, who, heartbeat_age(&h),
                   requeue ? ", still running after the wait" : "", dir);
  }
  if (got < 0) rc = err->code;
  if (rc) {
    rmdir_made(dir, lk->made);
    free(lk->made);
    free(lk->dir);
    free(lk->path);
    free(lk);
    return rc;
  }
  start_heartbeat(lk);
  *out = lk;
  return TSIM_OK;
}

void lock_release(tsim_lock **lp) {
  tsim_lock *lk = *lp;
  if (!lk) return;
  *lp = NULL;
  if (lk->beating) {
    pthread_mutex_lock(&lk->mu);
    lk->quit = 1;
    pthread_cond_signal(&lk->cv);
    pthread_mutex_unlock(&lk->mu);
    pthread_join(lk->thread, NULL);
  }
  pthread_mutex_destroy(&lk->mu);
  pthread_cond_destroy(&lk->cv);
  struct stat mine, there; /* tsim unlock and another run may have replaced it */
  if (fstat(lk->fd, &mine) == 0 && stat(lk->path, &there) == 0 &&
      mine.st_dev == there.st_dev && mine.st_ino == there.st_ino)
    unlink(lk->path);
  close(lk->fd);
  rmdir_made(lk->dir, lk->made); /* if nothing else was written */
  free(lk->made);
  free(lk->dir);
  free(lk->path);
  free(lk);
}

int lock_remove(const char *dir, char *what, size_t cap, tsim_error *err) {
  char path[4200], mutex[4200];
  lock_path(dir, ".lock", path, sizeof path);
  lock_path(dir, ".lock.takeover", mutex, sizeof mutex);
  what[0] = '\0';
  holder h;
  const int found = read_holder(path, &h);
  if (found < 0)
    return tsim_fail(err, errno == ENOTDIR ? TSIM_EINPUT : TSIM_EFAIL, "%s: cannot read: %s",
                     path, strerror(errno));
  unlink(mutex);
  if (found == 0) return TSIM_OK;
  if (unlink(path) && errno != ENOENT)
    return tsim_fail(err, TSIM_EFAIL, "%s: cannot remove: %s", path, strerror(errno));
  describe(&h, what, cap);
  return TSIM_OK;
}
