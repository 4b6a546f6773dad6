/* common.c - error records, checked allocation, clock. */
#define _POSIX_C_SOURCE 200809L
#include "tsim/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int tsim_fail(tsim_error *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
  }
  return code;
}

int tsim_fail_at(tsim_error *err, const char *func, const char *file, int line,
                 const char *fmt, ...) {
  if (err) {
    int n = snprintf(err->msg, sizeof err->msg, "internal error in %s (%s:%d): ", func, file,
                     line);
    if (n < 0 || (size_t)n >= sizeof err->msg) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
    va_end(ap);
    err->code = TSIM_EFAIL;
  }
  return TSIM_EFAIL;
}

static void out_of_memory(size_t bytes) {
  fprintf(stderr, "tsim: out of memory (asked for %zu bytes)\n", bytes);
  abort();
}

void *tsim_xmalloc(size_t bytes) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) out_of_memory(bytes);
  return p;
}

void *tsim_xcalloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p) out_of_memory(count * size);
  return p;
}

void *tsim_malloc_lines(size_t bytes) {
  if (bytes > SIZE_MAX - 64) return NULL;
  const size_t whole = (bytes + 63) / 64 * 64; /* aligned_alloc wants a multiple */
  return aligned_alloc(64, whole ? whole : 64);
}

void *tsim_xmalloc_lines(size_t bytes) {
  void *p = tsim_malloc_lines(bytes);
  if (!p) out_of_memory(bytes);
  return p;
}

void *tsim_xrealloc(void *ptr, size_t bytes) {
  void *p = realloc(ptr, bytes ? bytes : 1);
  if (!p) out_of_memory(bytes);
  return p;
}

char *tsim_xstrdup(const char *s) {
  size_t len = strlen(s) + 1;
  char *p = tsim_xmalloc(len);
  memcpy(p, s, len);
  return p;
}

double tsim_wtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int64_t tsim_find_sorted(const int64_t *v, int64_t n, int64_t x) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (v[mid] < x) lo = mid + 1; else hi = mid;
  }
  return lo < n && v[lo] == x ? lo : -1;
}
