/* version.h - build provenance, filled in by the Makefile (CoMD writes the
 * same into every run's record). */
#ifndef TSIM_VERSION_H
#define TSIM_VERSION_H

#define TSIM_VERSION "0.1.0"
#ifndef TSIM_GIT_COMMIT
#define TSIM_GIT_COMMIT "unknown"
#endif
#ifndef TSIM_CFLAGS
#define TSIM_CFLAGS "unknown"
#endif
/* the compiler that built this binary (clang defines __GNUC__ too) */
#if defined(__clang__)
#define TSIM_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define TSIM_COMPILER "gcc " __VERSION__
#else
#define TSIM_COMPILER "an unknown C compiler"
#endif

#endif
