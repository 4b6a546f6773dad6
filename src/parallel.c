/* parallel.c - the only compilation unit that calls MPI (CoMD's rule;
 * ScaLAPACK/BLACS calls in hessian.c are the one other place).
 *
 * tsim works on its own duplicate of MPI_COMM_WORLD (SCR's habit), so its
 * messages never meet a library's.  The only global state is that handle. */
#include "tsim/parallel.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct par_comm {
  MPI_Comm comm;
  int rank, size;
  int world_rank; /* for messages: "rank R" always names the world rank */
};

static par_comm world_comm = {MPI_COMM_NULL, 0, 1, 0};

static par_comm *wrap(MPI_Comm c) {
  par_comm *p = tsim_xcalloc(1, sizeof *p);
  p->comm = c;
  MPI_Comm_rank(c, &p->rank);
  MPI_Comm_size(c, &p->size);
  p->world_rank = world_comm.rank;
  return p;
}

int par_init(int *argc, char ***argv) {
  if (MPI_Init(argc, argv) != MPI_SUCCESS) return TSIM_EFAIL;
  MPI_Comm_dup(MPI_COMM_WORLD, &world_comm.comm);
  MPI_Comm_rank(world_comm.comm, &world_comm.rank);
  MPI_Comm_size(world_comm.comm, &world_comm.size);
  world_comm.world_rank = world_comm.rank;
  return TSIM_OK;
}

void par_finalize(void) {
  if (world_comm.comm != MPI_COMM_NULL) MPI_Comm_free(&world_comm.comm);
  MPI_Finalize();
}

par_comm *par_world(void) { return &world_comm; }
int par_rank(const par_comm *c) { return c->rank; }
int par_size(const par_comm *c) { return c->size; }

par_comm *par_split(const par_comm *c, int color, int key) {
  MPI_Comm out;
  MPI_Comm_split(c->comm, color, key, &out);
  return wrap(out);
}

void par_comm_free(par_comm **c) {
  if (!c || !*c || *c == &world_comm) return;
  MPI_Comm_free(&(*c)->comm);
  free(*c);
  *c = NULL;
}

void par_barrier(const par_comm *c) { MPI_Barrier(c->comm); }

/* MPI counts are int: long vectors go in pieces. */
#define PIECE (1 << 28)

void par_sum_int64(const par_comm *c, int64_t *buf, int64_t count) {
  for (int64_t off = 0; off < count; off += PIECE) {
    int n = (int)(count - off < PIECE ? count - off : PIECE);
    MPI_Allreduce(MPI_IN_PLACE, buf + off, n, MPI_INT64_T, MPI_SUM, c->comm);
  }
}

void par_sum_double(const par_comm *c, double *buf, int64_t count) {
  for (int64_t off = 0; off < count; off += PIECE) {
    int n = (int)(count - off < PIECE ? count - off : PIECE);
    MPI_Allreduce(MPI_IN_PLACE, buf + off, n, MPI_DOUBLE, MPI_SUM, c->comm);
  }
}

void par_reduce_scatter_int64(const par_comm *c, const int64_t *send,
                              int64_t *recv, const int64_t *counts) {
  if (c->size == 1) {
    memcpy(recv, send, (size_t)counts[0] * sizeof(int64_t));
    return;
  }
  int *cnt = tsim_xmalloc((size_t)c->size * sizeof(int));
  for (int r = 0; r < c->size; ++r) {
    if (counts[r] > INT_MAX) {
      fprintf(stderr, "tsim: reduce-scatter piece of %lld words is too large\n",
              (long long)counts[r]);
      MPI_Abort(MPI_COMM_WORLD, TSIM_EFAIL);
    }
    cnt[r] = (int)counts[r];
  }
  MPI_Reduce_scatter(send, recv, cnt, MPI_INT64_T, MPI_SUM, c->comm);
  free(cnt);
}

int par_comm_fortran(const par_comm *c) { return (int)MPI_Comm_c2f(c->comm); }

int64_t par_max_int64(const par_comm *c, int64_t v) {
  MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT64_T, MPI_MAX, c->comm);
  return v;
}

int64_t par_min_int64(const par_comm *c, int64_t v) {
  MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT64_T, MPI_MIN, c->comm);
  return v;
}

void par_bcast(const par_comm *c, void *buf, size_t bytes, int root) {
  char *p = buf;
  while (bytes > 0) {
    int n = bytes < PIECE ? (int)bytes : PIECE;
    MPI_Bcast(p, n, MPI_BYTE, root, c->comm);
    p += n;
    bytes -= (size_t)n;
  }
}

int par_agree(const par_comm *c, int status, tsim_error *err) {
  int worst = status;
  MPI_Allreduce(MPI_IN_PLACE, &worst, 1, MPI_INT, MPI_MAX, c->comm);
  if (worst == TSIM_OK) return TSIM_OK;
  int first = status == worst ? c->rank : INT_MAX;
  MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, c->comm);
  char msg[TSIM_MSG_MAX];
  if (c->rank == first) {
    int used = 0;
    if (c->world_rank != 0 && strncmp(err->msg, "rank ", 5))
      used = snprintf(msg, sizeof msg, "rank %d: ", c->world_rank);
    memcpy(msg + used, err->msg, sizeof msg - (size_t)used);
    msg[sizeof msg - 1] = '\0';
  }
  MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, c->comm);
  memcpy(err->msg, msg, sizeof msg);
  err->code = worst;
  return worst;
}

void par_send(const par_comm *c, const void *buf, size_t bytes, int dest,
              int tag) {
  if (bytes > INT_MAX) {
    fprintf(stderr, "tsim: message of %zu bytes is too large\n", bytes);
    MPI_Abort(MPI_COMM_WORLD, TSIM_EFAIL);
  }
  MPI_Send(buf, (int)bytes, MPI_BYTE, dest, tag, c->comm);
}

size_t par_recv(const par_comm *c, void **buf, size_t *cap, int source,
                int tag, int *from, int *tag_out) {
  MPI_Status st;
  MPI_Probe(source < 0 ? MPI_ANY_SOURCE : source, tag < 0 ? MPI_ANY_TAG : tag,
            c->comm, &st);
  int count = 0;
  MPI_Get_count(&st, MPI_BYTE, &count);
  if ((size_t)count > *cap || !*buf) {
    *cap = (size_t)count > 64 ? (size_t)count : 64;
    *buf = tsim_xrealloc(*buf, *cap);
  }
  MPI_Recv(*buf, count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, c->comm,
           MPI_STATUS_IGNORE);
  if (from) *from = st.MPI_SOURCE;
  if (tag_out) *tag_out = st.MPI_TAG;
  return (size_t)count;
}

int par_iprobe(const par_comm *c, int source, int tag) {
  int flag = 0;
  MPI_Iprobe(source < 0 ? MPI_ANY_SOURCE : source, tag < 0 ? MPI_ANY_TAG : tag,
             c->comm, &flag, MPI_STATUS_IGNORE);
  return flag;
}

void par_library_version(char *buf, size_t cap) {
  char v[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(v, &len);
  char *nl = strchr(v, '\n'); /* first line only */
  if (nl) *nl = '\0';
  char *comma = strchr(v, ',');
  if (comma) *comma = '\0';
  snprintf(buf, cap, "%s", v);
}

void par_hosts(const par_comm *c, char *buf, size_t cap) {
  char name[MPI_MAX_PROCESSOR_NAME] = {0};
  int len = 0;
  MPI_Get_processor_name(name, &len);
  char *all = tsim_xcalloc((size_t)c->size, MPI_MAX_PROCESSOR_NAME);
  MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all,
                MPI_MAX_PROCESSOR_NAME, MPI_CHAR, c->comm);
  size_t used = 0;
  buf[0] = '\0';
  for (int r = 0; r < c->size && used + 1 < cap; ++r) {
    int n = snprintf(buf + used, cap - used, "%s%s", r ? "," : "",
                     all + (size_t)r * MPI_MAX_PROCESSOR_NAME);
    if (n < 0) break;
    used += (size_t)n;
  }
  free(all);
}
