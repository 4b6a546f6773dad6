/* common.h - error reporting shared by every tsim module.
 *
 * Every function that can fail returns an int status (0 = success) and fills a
 * tsim_error with a one-line message that says who and where (PETSc's
 * call-and-check habit, HPL's "who and where" messages).  Exit statuses are
 * the documented ones of the command line. */
#ifndef TSIM_COMMON_H
#define TSIM_COMMON_H

#include <stddef.h>
#include <stdint.h>

enum tsim_status {
  TSIM_OK = 0,
  TSIM_EFAIL = 1,  /* runtime failure (I/O, numerical, internal) */
  TSIM_EINPUT = 2, /* bad input: config, command line, data files */
  TSIM_ESTOP = 3   /* stopped on request with a checkpoint: requeue me */
};

#define TSIM_MSG_MAX 1024

typedef struct tsim_error {
  int code;
  char msg[TSIM_MSG_MAX];
} tsim_error;

/* Record an error (printf-style) and return its code, so callers can write
 * `return tsim_fail(err, TSIM_EINPUT, "...")`. */
int tsim_fail(tsim_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An internal error: a broken invariant, never the user's input. The
 * message names the function, file and line (as PETSc's SETERRQ does):
 * "internal error in FUNC (src/FILE.c:LINE): ...", status TSIM_EFAIL. */
#define TSIM_INTERNAL(err, ...) tsim_fail_at((err), __func__, __FILE__, __LINE__, __VA_ARGS__)
int tsim_fail_at(tsim_error *err, const char *func, const char *file, int line,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Propagate a non-zero status to the caller. */
#define TSIM_TRY(call)                                                       \
  do {                                                                       \
    int tsim_rc_ = (call);                                                   \
    if (tsim_rc_ != TSIM_OK) return tsim_rc_;                                \
  } while (0)

/* Allocation that never returns NULL: an out-of-memory condition is not an
 * input error a caller can recover from, so it aborts with a message. */
void *tsim_xmalloc(size_t bytes);
void *tsim_xcalloc(size_t count, size_t size);
void *tsim_xrealloc(void *ptr, size_t bytes);
/* The same on a 64-byte (cache line) boundary, freed with free(): the
 * kernels' lane vectors then never straddle two lines (measured 1.2x on the
 * fused pass, docs/performance.md). */
void *tsim_xmalloc_lines(size_t bytes);
/* The same, but NULL when the memory is not there: for the one allocation
 * whose size the user chooses (a rank's samples), which is reported as an
 * error naming the keys instead. */
void *tsim_malloc_lines(size_t bytes);
char *tsim_xstrdup(const char *s);

/* Hot loops: optimized harder and compiled for several x86-64 levels, the
 * widest the CPU has picked at run time. Only the vector width changes:
 * these loops never reorder additions, and -ffp-contract=off forbids FMA,
 * so every variant gives the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TSIM_HOT \
  __attribute__((optimize("O3"), target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TSIM_HOT
#endif

/* Monotonic wall clock in seconds. */
double tsim_wtime(void);

/* The position of X in the ascending V[0..n), -1 if it is not there. */
int64_t tsim_find_sorted(const int64_t *v, int64_t n, int64_t x);

#endif
