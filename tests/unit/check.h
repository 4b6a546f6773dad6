/* check.h - a minimal test harness: CHECK prints one line per check and
 * counts; check_summary prints the "N passed, N failed" line and returns the
 * exit status. */
#ifndef TSIM_CHECK_H
#define TSIM_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;
static const char *check_suite = "test";

#define CHECK(cond, ...)                                                    \
  do {                                                                      \
    if (cond) {                                                             \
      ++check_passed;                                                       \
      printf("ok   %s: ", check_suite);                                     \
    } else {                                                                \
      ++check_failed;                                                       \
      printf("FAIL %s (%s:%d): ", check_suite, __FILE__, __LINE__);         \
    }                                                                       \
    printf(__VA_ARGS__);                                                    \
    printf("\n");                                                           \
  } while (0)

static int check_summary(void) {
  printf("%s: %d passed, %d failed\n", check_suite, check_passed, check_failed);
  return check_failed ? 1 : 0;
}

#endif
