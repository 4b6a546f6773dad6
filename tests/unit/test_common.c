/* test_common.c - error records: tsim_fail's message and code, and
 * TSIM_INTERNAL naming the function, file and line of a broken invariant. */
#include <string.h>

#include "check.h"
#include "tsim/common.h"

static int broken_invariant(tsim_error *err, long long cell) {
  return TSIM_INTERNAL(err, "cell %lld delivered twice", cell); /* line 9 */
}

int main(void) {
  check_suite = "common";
  tsim_error err = {0};
  int rc = tsim_fail(&err, TSIM_EINPUT, "cfg.yaml:3:12: model.K: %s", "not an integer");
  CHECK(rc == TSIM_EINPUT && err.code == TSIM_EINPUT &&
            !strcmp(err.msg, "cfg.yaml:3:12: model.K: not an integer"),
        "tsim_fail keeps the message and code (%d, '%s')", rc, err.msg);
  rc = broken_invariant(&err, 7);
  CHECK(rc == TSIM_EFAIL && err.code == TSIM_EFAIL &&
            !strcmp(err.msg, "internal error in broken_invariant (tests/unit/test_common.c:9): "
                             "cell 7 delivered twice"),
        "TSIM_INTERNAL names function, file and line, exit status 1 ('%s')", err.msg);
  char longmsg[2000];
  memset(longmsg, 'x', sizeof longmsg - 1);
  longmsg[sizeof longmsg - 1] = '\0';
  rc = TSIM_INTERNAL(&err, "%s", longmsg);
  CHECK(rc == TSIM_EFAIL && strlen(err.msg) == TSIM_MSG_MAX - 1 &&
            !strncmp(err.msg, "internal error in main (", 24),
        "a long internal message is cut at %d characters, its origin kept", TSIM_MSG_MAX - 1);
  CHECK(TSIM_INTERNAL(NULL, "no record") == TSIM_EFAIL, "TSIM_INTERNAL(NULL, ...) returns 1");
  return check_summary();
}
