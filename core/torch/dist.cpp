// core/torch/dist.cpp - see dist.h. The only file that talks to c10d.
//
// Built with DDAD_HAVE_GLOO (and USE_C10D_GLOO) when CMake found libtorch's
// ProcessGroupGloo.hpp and Gloo's headers, with DDAD_HAVE_NCCL (and
// USE_C10D_NCCL) for a CUDA libtorch with ProcessGroupNCCL.hpp and nccl.h.
// Without either, ddad_dist_init explains what is missing.
#include "dist.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tensor_internal.hpp"

#if defined(DDAD_HAVE_GLOO) || defined(DDAD_HAVE_NCCL)
#define DDAD_HAVE_C10D 1
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef DDAD_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef DDAD_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

struct ddad_dist {
    int rank = 0, world = 1;
    ddad_dist_backend_t backend = DDAD_DIST_GLOO;
    double timeout_s = 600;
    size_t bucket_bytes = 25u << 20;
    at::Device device = at::kCPU;
    bool broken = false;   // a collective failed: the group cannot be trusted
    std::string broken_msg;
#ifdef DDAD_HAVE_C10D
    c10::intrusive_ptr<c10d::Store> store;
#endif
#ifdef DDAD_HAVE_GLOO
    c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#endif
#ifdef DDAD_HAVE_NCCL
    c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
};

ddad_dist_opts_t ddad_dist_opts_default(void)
{
    ddad_dist_opts_t o;
    std::memset(&o, 0, sizeof o);
    o.rank = 0;
    o.world_size = 1;
    o.local_rank = 0;
    o.local_world_size = 0;
    std::snprintf(o.master_addr, sizeof o.master_addr, "127.0.0.1");
    o.master_port = 29500;
    o.backend = DDAD_DIST_AUTO;
    o.timeout_s = 600;
    o.bucket_mb = 25;
    o.device = DDAD_CPU;
    return o;
}

/* ---- environment ------------------------------------------------------------ */

// Parses the whole of an environment variable as an integer in [lo, hi].
static ddad_status_t env_int(const char *name, long lo, long hi, bool *set, long *out)
{
    const char *v = std::getenv(name);
    *set = v && *v;
    if (!*set)
        return DDAD_OK;
    char *end = nullptr;
    errno = 0;
    long x = std::strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return ddad_fail(DDAD_STATUS_USAGE, "environment variable %s=\"%s\" is not an integer in [%ld, %ld]", name, v,
                         lo, hi);
    *out = x;
    return DDAD_OK;
}

ddad_status_t ddad_dist_opts_from_env(ddad_dist_opts_t *o, bool *present)
{
    *present = false;
    bool has_world, has_rank, has_local, has_lws, has_port;
    long world = 1, rank = 0, local = 0, lws = 0, port = 0;
    ddad_status_t st = env_int("WORLD_SIZE", 1, 1 << 20, &has_world, &world);
    if (st == DDAD_OK)
        st = env_int("RANK", 0, 1 << 20, &has_rank, &rank);
    if (st == DDAD_OK)
        st = env_int("LOCAL_RANK", 0, 1 << 20, &has_local, &local);
    if (st == DDAD_OK)
        st = env_int("LOCAL_WORLD_SIZE", 1, 1 << 20, &has_lws, &lws);
    if (st == DDAD_OK)
        st = env_int("MASTER_PORT", 1, 65535, &has_port, &port);
    if (st != DDAD_OK)
        return st;
    if (!has_world) {
        if (has_rank)
            return ddad_fail(DDAD_STATUS_USAGE, "RANK=%ld is set but WORLD_SIZE is not: set both (or start the job "
                             "with scripts/ddad-launch)", rank);
        return DDAD_OK;
    }
    if (!has_rank && world > 1)
        return ddad_fail(DDAD_STATUS_USAGE, "WORLD_SIZE=%ld is set but RANK is not: every process needs its RANK "
                         "(0 .. %ld)", world, world - 1);
    if (rank >= world)
        return ddad_fail(DDAD_STATUS_USAGE, "RANK=%ld is not below WORLD_SIZE=%ld", rank, world);
    const char *file = std::getenv("DDAD_DIST_STORE_FILE");
    const char *addr = std::getenv("MASTER_ADDR");
    bool has_file = file && *file;
    if (world > 1 && !has_file && (!addr || !*addr || !has_port))
        return ddad_fail(DDAD_STATUS_USAGE, "WORLD_SIZE=%ld needs MASTER_ADDR and MASTER_PORT (the host and a free port "
                         "of rank 0) or DDAD_DIST_STORE_FILE (a path on a file system every rank sees)", world);
    if (has_file && std::strlen(file) >= sizeof o->store_file)
        return ddad_fail(DDAD_STATUS_USAGE, "DDAD_DIST_STORE_FILE is longer than %zu characters",
                         sizeof o->store_file - 1);
    if (addr && std::strlen(addr) >= sizeof o->master_addr)
        return ddad_fail(DDAD_STATUS_USAGE, "MASTER_ADDR is longer than %zu characters", sizeof o->master_addr - 1);
    o->world_size = (int)world;
    o->rank = (int)rank;
    o->local_rank = has_local ? (int)local : (int)rank;
    o->local_world_size = has_lws ? (int)lws : 0;
    if (addr && *addr)
        std::snprintf(o->master_addr, sizeof o->master_addr, "%s", addr);
    if (has_port)
        o->master_port = (int)port;
    const char *agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
    o->agent_store = agent && (std::strcmp(agent, "True") == 0 || std::strcmp(agent, "1") == 0);
    bool has_restart;
    long restart = 0;
    if ((st = env_int("TORCHELASTIC_RESTART_COUNT", 0, 1 << 30, &has_restart, &restart)) != DDAD_OK)
        return st;
    o->restart_count = (int)restart;
    o->store_file[0] = '\0';
    if (has_file)
        std::snprintf(o->store_file, sizeof o->store_file, "%s", file);
    *present = true;
    return DDAD_OK;
}

/* ---- backends ---------------------------------------------------------------- */

bool ddad_dist_backend_available(ddad_dist_backend_t b)
{
    switch (b) {
    case DDAD_DIST_GLOO:
#ifdef DDAD_HAVE_GLOO
        return true;
#else
        return false;
#endif
    case DDAD_DIST_NCCL:
#ifdef DDAD_HAVE_NCCL
        return true;
#else
        return false;
#endif
    case DDAD_DIST_AUTO:
        return ddad_dist_backend_available(DDAD_DIST_GLOO) || ddad_dist_backend_available(DDAD_DIST_NCCL);
    }
    return false;
}

const char *ddad_dist_backend_name(ddad_dist_backend_t b)
{
    switch (b) {
    case DDAD_DIST_AUTO: return "auto";
    case DDAD_DIST_GLOO: return "gloo";
    case DDAD_DIST_NCCL: return "nccl";
    }
    return "unknown";
}

ddad_status_t ddad_dist_backend_parse(const char *text, ddad_dist_backend_t *out)
{
    const ddad_dist_backend_t all[3] = {DDAD_DIST_AUTO, DDAD_DIST_GLOO, DDAD_DIST_NCCL};
    for (ddad_dist_backend_t b : all)
        if (text && std::strcmp(text, ddad_dist_backend_name(b)) == 0) {
            *out = b;
            return DDAD_OK;
        }
    return ddad_fail(DDAD_STATUS_CONFIG, "unknown distributed backend \"%s\" (use auto, gloo or nccl)",
                     text ? text : "(null)");
}

namespace {

// The first line of an exception's text (c10 appends a C++ backtrace).
std::string first_line(const char *what)
{
    std::string s(what ? what : "");
    size_t nl = s.find('\n');
    return nl == std::string::npos ? s : s.substr(0, nl);
}

std::string exception_text()
{
    try {
        throw;
    } catch (const c10::Error &e) {
        return first_line(e.what_without_backtrace());
    } catch (const std::exception &e) {
        return first_line(e.what());
    } catch (...) {
        return "unknown exception";
    }
}

// Runs f (which issues collectives and waits for them); any exception marks
// the group broken and becomes DDAD_STATUS_PEER with a message saying why.
template <class F>
ddad_status_t collective(ddad_dist_t *d, const char *op, F &&f)
{
    if (!d)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: process group is NULL", op);
    if (d->broken)
        return ddad_fail(DDAD_STATUS_PEER, "%s: the process group already failed (%s)", op, d->broken_msg.c_str());
    try {
        f();
        return DDAD_OK;
    } catch (...) {
        d->broken = true;
        d->broken_msg = exception_text();
        return ddad_fail(DDAD_STATUS_PEER,
                         "%s failed on rank %d of %d: %s. Another process of the job exited, was killed or did not "
                         "answer within dist.timeout_s = %g s; look at its output (ddad-launch prefixes the lines of "
                         "the other ranks with [rank N])",
                         op, d->rank, d->world, d->broken_msg.c_str(), d->timeout_s);
    }
}

#ifdef DDAD_HAVE_C10D
c10d::ReduceOp to_reduce_op(ddad_dist_op_t op)
{
    switch (op) {
    case DDAD_DIST_MAX: return c10d::ReduceOp::MAX;
    case DDAD_DIST_MIN: return c10d::ReduceOp::MIN;
    case DDAD_DIST_SUM: break;
    }
    return c10d::ReduceOp::SUM;
}

// Calls f with the group's backend (both backends offer the same collectives).
template <class F>
c10::intrusive_ptr<c10d::Work> on_backend(ddad_dist_t *d, F &&f)
{
#ifdef DDAD_HAVE_NCCL
    if (d->nccl)
        return f(*d->nccl);
#endif
#ifdef DDAD_HAVE_GLOO
    if (d->gloo)
        return f(*d->gloo);
#endif
    throw std::runtime_error("no backend");
}

c10::intrusive_ptr<c10d::Work> allreduce(ddad_dist_t *d, std::vector<at::Tensor> &v, c10d::ReduceOp op)
{
    c10d::AllreduceOptions o;
    o.reduceOp = op;
    return on_backend(d, [&](auto &pg) { return pg.allreduce(v, o); });
}

c10::intrusive_ptr<c10d::Work> broadcast(ddad_dist_t *d, std::vector<at::Tensor> &v, int root)
{
    c10d::BroadcastOptions o;
    o.rootRank = root;
    return on_backend(d, [&](auto &pg) { return pg.broadcast(v, o); });
}

void wait_or_throw(const c10::intrusive_ptr<c10d::Work> &w)
{
    if (!w->wait() && w->exception())
        std::rethrow_exception(w->exception());
}
#endif

// Groups consecutive tensors of one dtype into buckets of at most `cap`
// bytes (a bigger tensor gets a bucket of its own). Returns [begin, end).
std::vector<std::pair<size_t, size_t>> make_buckets(const std::vector<at::Tensor> &ts, size_t cap)
{
    std::vector<std::pair<size_t, size_t>> b;
    size_t begin = 0, bytes = 0;
    for (size_t i = 0; i < ts.size(); i++) {
        size_t nb = (size_t)ts[i].numel() * ts[i].element_size();
        bool split = i > begin && (bytes + nb > cap || ts[i].scalar_type() != ts[begin].scalar_type());
        if (split) {
            b.emplace_back(begin, i);
            begin = i;
            bytes = 0;
        }
        bytes += nb;
    }
    if (begin < ts.size())
        b.emplace_back(begin, ts.size());
    return b;
}

// A flat copy of ts[begin, end) (or ts[begin] itself when alone).
at::Tensor flatten_bucket(const std::vector<at::Tensor> &ts, size_t begin, size_t end)
{
    if (end - begin == 1)
        return ts[begin].view(-1);
    std::vector<at::Tensor> parts;
    for (size_t i = begin; i < end; i++)
        parts.push_back(ts[i].reshape(-1));
    return at::cat(parts);
}

void unflatten_bucket(const at::Tensor &flat, const std::vector<at::Tensor> &ts, size_t begin, size_t end)
{
    if (end - begin == 1)
        return; // reduced in place
    int64_t off = 0;
    for (size_t i = begin; i < end; i++) {
        int64_t n = ts[i].numel();
        ts[i].view(-1).copy_(flat.narrow(0, off, n));
        off += n;
    }
}

} // namespace

/* ---- the group --------------------------------------------------------------- */

ddad_status_t ddad_dist_init(ddad_dist_t **out, const ddad_dist_opts_t *o)
{
    *out = nullptr;
    if (!o || o->world_size < 1 || o->rank < 0 || o->rank >= o->world_size)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_dist_init: rank %d of world size %d", o ? o->rank : -1,
                         o ? o->world_size : 0);
    if (!(o->timeout_s > 0) || !(o->bucket_mb > 0))
        return ddad_fail(DDAD_STATUS_CONFIG, "dist.timeout_s (%g) and dist.bucket_mb (%g) must be positive",
                         o->timeout_s, o->bucket_mb);
    ddad_dist_backend_t b = o->backend;
    if (b == DDAD_DIST_AUTO)
        b = o->device.type == DDAD_DEVICE_TYPE_CUDA && ddad_dist_backend_available(DDAD_DIST_NCCL) ? DDAD_DIST_NCCL
                                                                                                : DDAD_DIST_GLOO;
    if (!ddad_dist_backend_available(b))
        return ddad_fail(DDAD_STATUS_DEVICE,
                         "this build of ddad has no %s backend for distributed training: %s when it was "
                         "configured; install them and re-run cmake (or use dist.backend: %s)",
                         ddad_dist_backend_name(b),
                         b == DDAD_DIST_GLOO ? "libtorch's c10d Gloo header or Gloo's own headers (Debian: "
                                               "libgloo-dev) were missing"
                                             : "a CUDA libtorch with ProcessGroupNCCL.hpp and nccl.h was not found",
                         b == DDAD_DIST_GLOO ? "nccl" : "gloo");
    if (b == DDAD_DIST_NCCL && o->device.type != DDAD_DEVICE_TYPE_CUDA)
        return ddad_fail(DDAD_STATUS_CONFIG, "dist.backend nccl needs a CUDA device; use gloo (or auto) on the CPU");
#ifndef DDAD_HAVE_C10D
    return ddad_fail(DDAD_STATUS_INTERNAL, "ddad_dist_init: no backend compiled in");
#else
    ddad_dist_t *d = new (std::nothrow) ddad_dist_t();
    if (!d)
        return ddad_fail(DDAD_STATUS_NOMEM, "out of memory (process group)");
    d->rank = o->rank;
    d->world = o->world_size;
    d->backend = b;
    d->timeout_s = o->timeout_s;
    d->bucket_bytes = (size_t)(o->bucket_mb * 1024 * 1024);
    if (d->bucket_bytes < 4096)
        d->bucket_bytes = 4096;
    auto timeout = std::chrono::milliseconds((int64_t)(o->timeout_s * 1000));
    const char *stage = "joining the rendezvous store";
    try {
        d->device = ddad::to_device(o->device);
        if (o->store_file[0]) {
            auto fs = c10::make_intrusive<c10d::FileStore>(std::string(o->store_file), o->world_size);
            fs->setTimeout(timeout);
            d->store = fs;
        } else {
            c10d::TCPStoreOptions so;
            so.port = (std::uint16_t)o->master_port;
            so.isServer = o->rank == 0 && !o->agent_store;
            so.numWorkers = (size_t)o->world_size; // every rank checks in; the server waits for all
            so.waitWorkers = true;
            so.timeout = timeout;
            auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(o->master_addr), so);
            if (o->agent_store) // torchrun's store outlives restarts: a fresh key space per attempt
                d->store = c10::make_intrusive<c10d::PrefixStore>(
                    "ddad/attempt_" + std::to_string(o->restart_count), tcp);
            else
                d->store = tcp;
        }
        stage = "connecting the ranks";
#ifdef DDAD_HAVE_NCCL
        if (b == DDAD_DIST_NCCL) {
            // without asynchronous error handling a dead peer hangs NCCL forever
            setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1", 0);
            setenv("NCCL_ASYNC_ERROR_HANDLING", "1", 0);
            // Work::wait blocks (and throws on a timeout) instead of only
            // ordering streams, so a failed peer becomes DDAD_STATUS_PEER
            setenv("TORCH_NCCL_BLOCKING_WAIT", "1", 0);
            setenv("NCCL_BLOCKING_WAIT", "1", 0);
            auto no = c10d::ProcessGroupNCCL::Options::create();
            no->timeout = timeout;
            d->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(d->store, o->rank, o->world_size, no);
        }
#endif
#ifdef DDAD_HAVE_GLOO
        if (b == DDAD_DIST_GLOO) {
            auto go = c10d::ProcessGroupGloo::Options::create(timeout);
            const char *ifname = std::getenv("GLOO_SOCKET_IFNAME");
            std::string addr(o->master_addr);
            // one machine: rank 0's store on loopback, or a store file with all ranks local
            bool loopback = o->store_file[0] ? o->local_world_size == o->world_size
                                             : addr == "127.0.0.1" || addr == "localhost" || addr == "::1";
            if (ifname && *ifname)
                go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
            else if (loopback)
                go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
            else
                go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
            go->threads = 2;
            d->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(d->store, o->rank, o->world_size, go);
        }
#endif
    } catch (...) {
        std::string why = exception_text();
        delete d;
        if (o->store_file[0])
            return ddad_fail(DDAD_STATUS_PEER,
                             "rank %d of %d: %s through %s failed within %g s: %s (every rank must use the same "
                             "fresh file on a shared file system)",
                             o->rank, o->world_size, stage, o->store_file, o->timeout_s, why.c_str());
        return ddad_fail(DDAD_STATUS_PEER,
                         "rank %d of %d: %s at %s:%d failed within %g s: %s (are all %d processes started, with the "
                         "same MASTER_ADDR/MASTER_PORT, and is the port free on rank 0's host?)",
                         o->rank, o->world_size, stage, o->master_addr, o->master_port, o->timeout_s, why.c_str(),
                         o->world_size);
    }
    *out = d;
    return DDAD_OK;
#endif
}

// Groups whose collectives failed: destroying one would first run the work
// still queued behind the failure, each waiting up to timeout_s for a peer
// that is gone or hung. The process is about to exit; they are parked here
// (reachable from a plain array that no destructor clears, so leak checkers
// stay quiet) instead; beyond its capacity they are destroyed after all.
static ddad_dist_t *g_parked[16];
static size_t g_n_parked;

void ddad_dist_free(ddad_dist_t *d)
{
    if (!d)
        return;
    if (d->broken && g_n_parked < sizeof g_parked / sizeof *g_parked) {
        g_parked[g_n_parked++] = d;
        return;
    }
    delete d;
}

int ddad_dist_rank(const ddad_dist_t *d) { return d ? d->rank : 0; }
int ddad_dist_world_size(const ddad_dist_t *d) { return d ? d->world : 1; }
ddad_dist_backend_t ddad_dist_backend(const ddad_dist_t *d) { return d ? d->backend : DDAD_DIST_GLOO; }

/* ---- collectives --------------------------------------------------------------- */

ddad_status_t ddad_dist_allreduce_grads(ddad_dist_t *d, ddad_tensor_t *const *params, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!params[i] || !params[i]->t.defined())
            return ddad_fail(DDAD_STATUS_USAGE, "ddad_dist_allreduce_grads: parameter %zu is NULL or freed", i);
    return collective(d, "all-reduce of the gradients", [&] {
#ifdef DDAD_HAVE_C10D
        at::NoGradGuard ng;
        // which parameters have a gradient on some rank: those without one
        // anywhere keep none (AdamW skips them, as in one process); the
        // others count a missing gradient as zeros
        std::vector<float> mine(n);
        for (size_t i = 0; i < n; i++)
            mine[i] = params[i]->t.grad().defined() ? 1.0f : 0.0f;
        at::Tensor has_wire = at::from_blob(mine.data(), {(int64_t)n}, at::kFloat).to(d->device, false, true);
        std::vector<at::Tensor> hv{has_wire};
        wait_or_throw(allreduce(d, hv, c10d::ReduceOp::MAX));
        at::Tensor has = has_wire.cpu().contiguous();
        const float *any = has.data_ptr<float>();
        std::vector<at::Tensor> grads;
        grads.reserve(n);
        for (size_t i = 0; i < n; i++) {
            at::Tensor &p = params[i]->t;
            if (any[i] == 0.0f)
                continue;
            if (!p.grad().defined())
                p.mutable_grad() = at::zeros_like(p);
            else if (!p.grad().is_contiguous())
                p.mutable_grad() = p.grad().contiguous();
            grads.push_back(p.grad());
        }
        auto buckets = make_buckets(grads, d->bucket_bytes);
        std::vector<at::Tensor> flats;
        std::vector<c10::intrusive_ptr<c10d::Work>> works;
        for (auto &bk : buckets) { // issue all, then wait: Gloo works on them in the background
            flats.push_back(flatten_bucket(grads, bk.first, bk.second));
            std::vector<at::Tensor> v{flats.back()};
            works.push_back(allreduce(d, v, c10d::ReduceOp::SUM));
        }
        for (size_t k = 0; k < buckets.size(); k++) {
            wait_or_throw(works[k]);
            flats[k].div_((double)d->world);
            unflatten_bucket(flats[k], grads, buckets[k].first, buckets[k].second);
        }
#endif
    });
}

ddad_status_t ddad_dist_allreduce_f64(ddad_dist_t *d, double *vals, size_t n, ddad_dist_op_t op)
{
    if (n == 0)
        return DDAD_OK;
    return collective(d, "all-reduce of the step's numbers", [&] {
#ifdef DDAD_HAVE_C10D
        at::Tensor t = at::from_blob(vals, {(int64_t)n}, at::kDouble).to(d->device, /*non_blocking=*/false,
                                                                         /*copy=*/true);
        std::vector<at::Tensor> v{t};
        wait_or_throw(allreduce(d, v, to_reduce_op(op)));
        at::Tensor h = t.cpu().contiguous();
        std::memcpy(vals, h.data_ptr<double>(), n * sizeof *vals);
#endif
    });
}

ddad_status_t ddad_dist_broadcast(ddad_dist_t *d, ddad_tensor_t *const *ts, size_t n, int root)
{
    for (size_t i = 0; i < n; i++)
        if (!ts[i] || !ts[i]->t.defined() || !ts[i]->t.is_contiguous())
            return ddad_fail(DDAD_STATUS_USAGE, "ddad_dist_broadcast: tensor %zu is NULL, freed or not contiguous", i);
    if (d && (root < 0 || root >= d->world))
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_dist_broadcast: root %d of world size %d", root, d->world);
    return collective(d, "broadcast of the training state", [&] {
#ifdef DDAD_HAVE_C10D
        at::NoGradGuard ng;
        std::vector<at::Tensor> xs;
        xs.reserve(n);
        for (size_t i = 0; i < n; i++)
            xs.push_back(ts[i]->t.detach()); // same storage, outside autograd
        auto buckets = make_buckets(xs, d->bucket_bytes);
        for (auto &bk : buckets) {
            at::Tensor flat = flatten_bucket(xs, bk.first, bk.second);
            // NCCL only moves tensors on its GPU (e.g. a CPU generator state)
            at::Tensor wire = flat.device() == d->device ? flat : flat.to(d->device);
            std::vector<at::Tensor> v{wire};
            wait_or_throw(broadcast(d, v, root));
            if (!wire.is_same(flat))
                flat.copy_(wire);
            unflatten_bucket(flat, xs, bk.first, bk.second);
        }
#endif
    });
}

ddad_status_t ddad_dist_broadcast_i64(ddad_dist_t *d, int64_t *vals, size_t n, int root)
{
    if (n == 0)
        return DDAD_OK;
    return collective(d, "broadcast of the run state", [&] {
#ifdef DDAD_HAVE_C10D
        at::Tensor t = at::from_blob(vals, {(int64_t)n}, at::kLong).to(d->device, false, true);
        std::vector<at::Tensor> v{t};
        wait_or_throw(broadcast(d, v, root));
        at::Tensor h = t.cpu().contiguous();
        std::memcpy(vals, h.data_ptr<int64_t>(), n * sizeof *vals);
#endif
    });
}

ddad_status_t ddad_dist_barrier(ddad_dist_t *d)
{
    return collective(d, "barrier", [&] {
#ifdef DDAD_HAVE_C10D
        // an all-reduce of one number: works the same on every backend
        double one = 1;
        at::Tensor t = at::from_blob(&one, {1}, at::kDouble).to(d->device, false, true);
        std::vector<at::Tensor> v{t};
        wait_or_throw(allreduce(d, v, c10d::ReduceOp::SUM));
#endif
    });
}
