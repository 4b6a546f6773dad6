/* parallel.h - the only interface to MPI (CoMD's parallel.c habit).
 *
 * Everything else in tsim calls these wrappers.  A par_comm is a
 * communicator tsim owns (duplicated from the world, or split from it for a
 * team), so tsim's messages never mix with a library's. */
#ifndef TSIM_PARALLEL_H
#define TSIM_PARALLEL_H

#include <stddef.h>
#include <stdint.h>
#include "tsim/common.h"

typedef struct par_comm par_comm;

int par_init(int *argc, char ***argv);
void par_finalize(void);

/* tsim's duplicate of MPI_COMM_WORLD; valid between init and finalize. */
par_comm *par_world(void);
int par_rank(const par_comm *comm);
int par_size(const par_comm *comm);
/* Collective over COMM: ranks with equal COLOR form a new communicator,
 * ordered by KEY. */
par_comm *par_split(const par_comm *comm, int color, int key);
void par_comm_free(par_comm **comm);

void par_barrier(const par_comm *comm);
/* In-place sums over COMM.  Integer sums are exact and associative; the
 * double sum is only used where at most one rank holds a non-zero value. */
void par_sum_int64(const par_comm *comm, int64_t *buf, int64_t count);
void par_sum_double(const par_comm *comm, double *buf, int64_t count);
int64_t par_max_int64(const par_comm *comm, int64_t value);
int64_t par_min_int64(const par_comm *comm, int64_t value);
void par_bcast(const par_comm *comm, void *buf, size_t bytes, int root);

/* Sum the COUNTS[r] int64 words of SEND destined to rank r (SEND holds
 * them in rank order) over COMM and leave rank r's sums in RECV: an exact
 * reduce-to-owner, for the distributed Hessian (hessian.c). */
void par_reduce_scatter_int64(const par_comm *comm, const int64_t *send,
                              int64_t *recv, const int64_t *counts);
/* The communicator as a Fortran handle (MPI_Comm_c2f): what BLACS takes as
 * a system context, so ScaLAPACK can work on a team without hessian.c
 * calling MPI itself. */
int par_comm_fortran(const par_comm *comm);

/* Collective error agreement (HPL reduces its error flag with MAX so every
 * rank leaves together).  Every rank passes its local status; all receive
 * the largest one, and ERR holds the message of the lowest-numbered rank
 * with that status (prefixed with "rank R: ", R its world rank, when R is
 * not 0). */
int par_agree(const par_comm *comm, int status, tsim_error *err);

/* Point-to-point messages, for the coordinator and its teams. */
void par_send(const par_comm *comm, const void *buf, size_t bytes, int dest,
              int tag);
/* Receive from SOURCE (or any source if SOURCE < 0) with TAG (any if < 0);
 * returns the number of bytes received, sets *from and *tag_out. BUF is
 * grown with realloc to fit. */
size_t par_recv(const par_comm *comm, void **buf, size_t *cap, int source,
                int tag, int *from, int *tag_out);

/* Is a message from SOURCE with TAG (< 0: any) waiting? */
int par_iprobe(const par_comm *comm, int source, int tag);

/* The MPI library's version string (for the manifest). */
void par_library_version(char *buf, size_t cap);
/* Host name of every rank of COMM, gathered on all ranks: "h1,h2,...". */
void par_hosts(const par_comm *comm, char *buf, size_t cap);

#endif
