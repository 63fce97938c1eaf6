/* core/torch/dist.h - data-parallel collectives on libtorch's c10d process
 * groups (Gloo on CPU, NCCL on CUDA builds that have it), for ddad-train.
 *
 * Every process of a job ("rank" 0 .. world_size-1) creates one group; the
 * ranks meet through a key-value store: a TCP store hosted by rank 0 at
 * master_addr:master_port (the torchrun convention) or a file on a shared
 * file system. After that every rank must make the same collective calls in
 * the same order with tensors of the same shapes.
 *
 *     ddad_dist_opts_t o = ddad_dist_opts_default();
 *     bool present;
 *     if (ddad_dist_opts_from_env(&o, &present)) ...   // RANK, WORLD_SIZE, MASTER_ADDR, ...
 *     ddad_dist_t *d = NULL;
 *     if (present && ddad_dist_init(&d, &o)) ...      // rendezvous (waits up to timeout_s)
 *     ... after backward:
 *     ddad_dist_allreduce_grads(d, params, n);         // grads := mean over ranks
 *     double v[2] = {loss, stop};
 *     ddad_dist_allreduce_f64(d, v, 2, DDAD_DIST_MAX);
 *     ddad_dist_free(d);
 *
 * Network: Gloo connects the ranks over the interface named by
 * GLOO_SOCKET_IFNAME, else over loopback when master_addr is 127.0.0.1 or
 * localhost (one machine), else over the address this host's name resolves
 * to (several machines; with a store file set GLOO_SOCKET_IFNAME there).
 *
 * Failures: a peer that exits, is killed or stops answering for timeout_s
 * makes the pending collective fail with DDAD_STATUS_PEER and a message that
 * says so (never a hang longer than timeout_s); the group is unusable after
 * that and the process should exit. A build without the backend's headers
 * (Gloo: libgloo-dev) returns DDAD_STATUS_DEVICE from ddad_dist_init.
 *
 * Ownership: the group owns its store and backend; tensors passed in are
 * borrowed and modified in place. Not thread-safe: one thread per group.
 */
#ifndef DDAD_TORCH_DIST_H
#define DDAD_TORCH_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ddad_dist ddad_dist_t; /* opaque process group */

typedef enum ddad_dist_backend {
    DDAD_DIST_AUTO = 0, /* NCCL for a CUDA device when compiled in, else Gloo */
    DDAD_DIST_GLOO,
    DDAD_DIST_NCCL
} ddad_dist_backend_t;

typedef enum ddad_dist_op { DDAD_DIST_SUM = 0, DDAD_DIST_MAX, DDAD_DIST_MIN } ddad_dist_op_t;

typedef struct ddad_dist_opts {
    int rank;                /* 0 .. world_size-1                                     */
    int world_size;          /* >= 1                                                  */
    int local_rank;          /* rank on this machine (picks cuda:<local_rank>)        */
    int local_world_size;    /* processes on this machine (0: unknown)                */
    char master_addr[256];   /* host of rank 0's TCP store                            */
    int master_port;         /* its port                                              */
    char store_file[1024];   /* non-empty: rendezvous through this file instead       */
    bool agent_store;        /* torchrun's agent hosts the TCP store (rank 0 joins it
                                as a client), TORCHELASTIC_USE_AGENT_STORE=True      */
    int restart_count;       /* torchrun's TORCHELASTIC_RESTART_COUNT: keys of an
                                earlier attempt in the agent's store are not reused  */
    ddad_dist_backend_t backend;
    double timeout_s;        /* rendezvous and every collective                       */
    double bucket_mb;        /* size of the flat buffers gradients are reduced in     */
    ddad_device_t device;    /* where the reduced tensors live                        */
} ddad_dist_opts_t;

/* rank 0 of 1, 127.0.0.1:29500, no file, AUTO, 600 s, 25 MB buckets, CPU. */
ddad_dist_opts_t ddad_dist_opts_default(void);

/* Fills o from the environment torchrun and ddad-launch set: WORLD_SIZE,
 * RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
 * TORCHELASTIC_USE_AGENT_STORE, TORCHELASTIC_RESTART_COUNT and
 * DDAD_DIST_STORE_FILE. *present is false (and o untouched) when WORLD_SIZE
 * is unset. A malformed or inconsistent value fails with DDAD_STATUS_USAGE
 * naming the variable (e.g. RANK set without WORLD_SIZE, RANK >= WORLD_SIZE). */
ddad_status_t ddad_dist_opts_from_env(ddad_dist_opts_t *o, bool *present);

/* Whether the backend was compiled into this build. */
bool ddad_dist_backend_available(ddad_dist_backend_t b);
const char *ddad_dist_backend_name(ddad_dist_backend_t b); /* "auto", "gloo", "nccl" */
/* Parses "auto" / "gloo" / "nccl"; DDAD_STATUS_CONFIG otherwise. */
ddad_status_t ddad_dist_backend_parse(const char *text, ddad_dist_backend_t *out);

/* Joins the group: every rank blocks until all world_size ranks arrived or
 * timeout_s passed (DDAD_STATUS_PEER naming how many arrived). */
ddad_status_t ddad_dist_init(ddad_dist_t **out, const ddad_dist_opts_t *o);
/* Leaves the group (no collective; accepts NULL). */
void ddad_dist_free(ddad_dist_t *d);

int ddad_dist_rank(const ddad_dist_t *d);       /* 0 for NULL */
int ddad_dist_world_size(const ddad_dist_t *d); /* 1 for NULL */
ddad_dist_backend_t ddad_dist_backend(const ddad_dist_t *d);

/* The gradients of params (n) become their mean over the ranks, in flat
 * buckets of about bucket_mb. A parameter without a gradient on every rank
 * keeps none (an optimizer skips it, as in one process); one without a
 * gradient on some ranks only counts as zeros there (and gets one). Every
 * rank must pass the same parameters in the same order. */
ddad_status_t ddad_dist_allreduce_grads(ddad_dist_t *d, ddad_tensor_t *const *params, size_t n);

/* vals (n) := op over the ranks, in float64 (losses, flags, counters). */
ddad_status_t ddad_dist_allreduce_f64(ddad_dist_t *d, double *vals, size_t n, ddad_dist_op_t op);

/* Every tensor of ts (n, contiguous, same shapes everywhere) takes root's
 * values, in place (gradients are not tracked). */
ddad_status_t ddad_dist_broadcast(ddad_dist_t *d, ddad_tensor_t *const *ts, size_t n, int root);

/* vals (n) take root's values. */
ddad_status_t ddad_dist_broadcast_i64(ddad_dist_t *d, int64_t *vals, size_t n, int root);

/* Waits until every rank arrived. */
ddad_status_t ddad_dist_barrier(ddad_dist_t *d);

#ifdef __cplusplus
}
#endif
#endif
