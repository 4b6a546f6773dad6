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
#define TSIM_COMPILER "gcc " __VERSION__

#endif
