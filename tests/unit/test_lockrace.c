/* test_lockrace.c - lock.h under contention: processes that start
 * lock_acquire on one directory together (a new one, or one whose lock is
 * stale: its pid gone) end with exactly one holder, the others refused
 * with TSIM_EINPUT; the holder's release leaves no lock. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "tsim/lock.h"

enum { NPROC = 6, ROUNDS = 15 };

/* NPROC children released together try DIR's lock; the one that gets it
 * holds it until all have answered. Returns the number that got it, the
 * number refused into *REFUSED. */
static int contend(const char *dir, int *refused) {
  int go[2], answers[2], release[2];
  if (pipe(go) || pipe(answers) || pipe(release)) return -1;
  pid_t kids[NPROC];
  for (int i = 0; i < NPROC; ++i) {
    kids[i] = fork();
    if (kids[i] == 0) {
      close(go[1]);
      close(answers[0]);
      close(release[1]);
      const int devnull = open("/dev/null", O_WRONLY); /* takeover notices */
      dup2(devnull, 2);
      char c;
      while (read(go[0], &c, 1) > 0) {
      }
      tsim_lock *lock = NULL;
      tsim_error err = {0};
      const int rc = lock_acquire(dir, "test_lockrace", &lock, &err);
      const char answer = rc == TSIM_OK ? 'y' : rc == TSIM_EINPUT ? 'n' : '?';
      if (write(answers[1], &answer, 1) != 1) _exit(1);
      while (read(release[0], &c, 1) > 0) {
      }
      lock_release(&lock);
      _exit(0);
    }
  }
  close(go[0]);
  close(answers[1]);
  close(release[0]);
  close(go[1]); /* all start */
  int got = 0;
  *refused = 0;
  for (int i = 0; i < NPROC; ++i) {
    char answer = '?';
    if (read(answers[0], &answer, 1) != 1) break;
    got += answer == 'y';
    *refused += answer == 'n';
  }
  close(release[1]);
  close(answers[0]);
  for (int i = 0; i < NPROC; ++i) waitpid(kids[i], NULL, 0);
  return got;
}

int main(void) {
  check_suite = "lockrace";
  char root[] = "/tmp/tsim-lockrace.XXXXXX";
  if (!mkdtemp(root)) return 1;
  char dir[256], path[300];
  int fresh_ok = 0, stale_ok = 0, released = 1;
  for (int r = 0; r < ROUNDS; ++r) {
    int refused = 0;
    snprintf(dir, sizeof dir, "%s/new%d/run", root, r); /* and its parent: new */
    fresh_ok += contend(dir, &refused) == 1 && refused == NPROC - 1;
    snprintf(path, sizeof path, "%s/.lock", dir);
    released &= access(path, F_OK) != 0;

    /* a lock of this host whose process is gone */
    const pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char host[256] = "";
    gethostname(host, sizeof host);
    snprintf(dir, sizeof dir, "%s/stale%d", root, r);
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/.lock", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "host: %s\npid: %ld\nslurm_job_id: \nstarted: ?\n", host, (long)dead);
    fclose(f);
    stale_ok += contend(dir, &refused) == 1 && refused == NPROC - 1;
    released &= access(path, F_OK) != 0;
  }
  CHECK(fresh_ok == ROUNDS, "%d processes on a new directory: one holder, the rest refused "
        "(%d of %d rounds)", NPROC, fresh_ok, ROUNDS);
  CHECK(stale_ok == ROUNDS, "%d processes taking over a stale lock: one holder, the rest "
        "refused (%d of %d rounds)", NPROC, stale_ok, ROUNDS);
  CHECK(released, "the holder's release leaves no lock");
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  if (system(cmd)) return 1;
  return check_summary();
}
