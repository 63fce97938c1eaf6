// core/torch/tensor.cpp - handles, scopes, the exception firewall, creation,
// views and the elementwise / reduction / neural-network operations of the
// C API declared in tensor.h.
#include "tensor_internal.hpp"

#include <ATen/Parallel.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <vector>

// ---------------------------------------------------------------------------
// handles and scopes

namespace {

std::atomic<size_t> g_live{0};

// The handles recorded by open scopes; scope_marks[i] is where scope i starts.
thread_local std::vector<ddad_tensor_t *> tl_scoped;
thread_local std::vector<size_t> tl_marks;

void destroy(ddad_tensor_t *h)
{
    delete h;
    g_live.fetch_sub(1, std::memory_order_relaxed);
}

} // namespace

namespace ddad {

ddad_tensor_t *wrap(at::Tensor t)
{
    auto *h = new ddad_tensor;
    h->t = std::move(t);
    g_live.fetch_add(1, std::memory_order_relaxed);
    if (!tl_marks.empty()) {
        h->scoped = true;
        tl_scoped.push_back(h);
    }
    return h;
}

static const char *dtype_short(at::ScalarType st)
{
    switch (st) {
    case at::kFloat: return "f32";
    case at::kHalf: return "f16";
    case at::kBFloat16: return "bf16";
    case at::kDouble: return "f64";
    case at::kLong: return "i64";
    case at::kInt: return "i32";
    case at::kByte: return "u8";
    case at::kBool: return "bool";
    default: return c10::toString(st);
    }
}

std::string describe_tensor(const at::Tensor &t)
{
    if (!t.defined())
        return "undefined";
    std::string s = "(";
    for (int64_t i = 0; i < t.dim(); i++) {
        if (i)
            s += ", ";
        s += std::to_string(t.size(i));
    }
    if (t.dim() == 1)
        s += ",";
    s += ") ";
    s += dtype_short(t.scalar_type());
    s += " ";
    s += t.device().str();
    return s;
}

std::string describe(const ddad_tensor_t *t)
{
    if (!t)
        return "NULL";
    if (t->dead)
        return "freed";
    return describe_tensor(t->t);
}

at::ScalarType to_scalar_type(ddad_dtype_t dt)
{
    switch (dt) {
    case DDAD_DTYPE_F32: return at::kFloat;
    case DDAD_DTYPE_F16: return at::kHalf;
    case DDAD_DTYPE_BF16: return at::kBFloat16;
    case DDAD_DTYPE_F64: return at::kDouble;
    case DDAD_DTYPE_I64: return at::kLong;
    case DDAD_DTYPE_I32: return at::kInt;
    case DDAD_DTYPE_U8: return at::kByte;
    case DDAD_DTYPE_BOOL: return at::kBool;
    }
    throw std::invalid_argument("unknown ddad_dtype_t value " + std::to_string((int)dt));
}

ddad_dtype_t from_scalar_type(at::ScalarType st)
{
    switch (st) {
    case at::kFloat: return DDAD_DTYPE_F32;
    case at::kHalf: return DDAD_DTYPE_F16;
    case at::kBFloat16: return DDAD_DTYPE_BF16;
    case at::kDouble: return DDAD_DTYPE_F64;
    case at::kLong: return DDAD_DTYPE_I64;
    case at::kInt: return DDAD_DTYPE_I32;
    case at::kByte: return DDAD_DTYPE_U8;
    case at::kBool: return DDAD_DTYPE_BOOL;
    default: return DDAD_DTYPE_F32;
    }
}

at::Device to_device(ddad_device_t dev)
{
    if (dev.type == DDAD_DEVICE_TYPE_CUDA)
        return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(dev.index < 0 ? 0 : dev.index));
    if (dev.type != DDAD_DEVICE_TYPE_CPU)
        throw std::invalid_argument("unknown device type " + std::to_string(dev.type));
    return at::Device(at::kCPU);
}

ddad_device_t from_device(const at::Device &dev)
{
    ddad_device_t d;
    d.type = dev.is_cuda() ? DDAD_DEVICE_TYPE_CUDA : DDAD_DEVICE_TYPE_CPU;
    d.index = dev.has_index() ? dev.index() : -1;
    return d;
}

ddad_status_t check_args(const char *op, std::initializer_list<Arg> args)
{
    for (const Arg &a : args) {
        if (!a.t)
            return ddad_fail(DDAD_STATUS_USAGE, "%s: argument '%s' is NULL", op, a.name);
        if (a.t->dead)
            return ddad_fail(DDAD_STATUS_USAGE, "%s: argument '%s' was already freed", op, a.name);
        if (!a.t->t.defined())
            return ddad_fail(DDAD_STATUS_USAGE, "%s: argument '%s' is an undefined tensor", op, a.name);
    }
    return DDAD_OK;
}

static std::string first_line(const char *what)
{
    std::string s(what ? what : "");
    size_t nl = s.find('\n');
    if (nl != std::string::npos)
        s.resize(nl);
    return s;
}

ddad_status_t fail_from_exception(const char *op, std::initializer_list<Arg> args)
{
    std::string shapes;
    for (const Arg &a : args) {
        shapes += shapes.empty() ? " [" : "; ";
        shapes += a.name;
        shapes += " ";
        shapes += describe(a.t);
    }
    if (!shapes.empty())
        shapes += "]";
    try {
        throw;
    } catch (const c10::OutOfMemoryError &e) {
        return ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory: %s%s", op, first_line(e.what_without_backtrace()).c_str(),
                         shapes.c_str());
    } catch (const c10::Error &e) {
        std::string msg = first_line(e.what_without_backtrace());
        ddad_status_t st = DDAD_STATUS_SHAPE;
        if (msg.find("CUDA") != std::string::npos || msg.find("device") != std::string::npos)
            st = DDAD_STATUS_DEVICE;
        return ddad_fail(st, "%s: %s%s", op, msg.c_str(), shapes.c_str());
    } catch (const std::bad_alloc &) {
        return ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory%s", op, shapes.c_str());
    } catch (const std::invalid_argument &e) {
        return ddad_fail(DDAD_STATUS_USAGE, "%s: %s%s", op, e.what(), shapes.c_str());
    } catch (const std::exception &e) {
        // libtorch reports some invalid arguments (e.g. reshape sizes) with
        // plain standard exceptions
        return ddad_fail(DDAD_STATUS_SHAPE, "%s: %s%s", op, first_line(e.what()).c_str(), shapes.c_str());
    } catch (...) {
        return ddad_fail(DDAD_STATUS_INTERNAL, "%s: unknown exception%s", op, shapes.c_str());
    }
}

} // namespace ddad

using ddad::Arg;
using ddad::dims_ref;
using ddad::guard;
using ddad::run;

extern "C" {

// ---------------------------------------------------------------------------
// library

const char *ddad_torch_version(void)
{
    static char buf[32];
    snprintf(buf, sizeof buf, "%d.%d.%d", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
    return buf;
}

size_t ddad_dtype_size(ddad_dtype_t dt)
{
    switch (dt) {
    case DDAD_DTYPE_F32: return 4;
    case DDAD_DTYPE_F16: return 2;
    case DDAD_DTYPE_BF16: return 2;
    case DDAD_DTYPE_F64: return 8;
    case DDAD_DTYPE_I64: return 8;
    case DDAD_DTYPE_I32: return 4;
    case DDAD_DTYPE_U8: return 1;
    case DDAD_DTYPE_BOOL: return 1;
    }
    return 0;
}

const char *ddad_dtype_str(ddad_dtype_t dt)
{
    static const char *const names[] = {"f32", "f16", "bf16", "f64", "i64", "i32", "u8", "bool"};
    return (unsigned)dt < sizeof names / sizeof names[0] ? names[dt] : "unknown";
}

ddad_status_t ddad_device_parse(ddad_device_t *out, const char *text)
{
    if (!out || !text)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_device_parse: NULL argument");
    if (!strcmp(text, "cpu")) {
        *out = DDAD_CPU;
        return DDAD_OK;
    }
    if (!strncmp(text, "cuda", 4)) {
        ddad_device_t d = {DDAD_DEVICE_TYPE_CUDA, -1};
        if (text[4] == '\0') {
            *out = d;
            return DDAD_OK;
        }
        if (text[4] == ':' && text[5] >= '0' && text[5] <= '9') {
            char *end = nullptr;
            long idx = strtol(text + 5, &end, 10);
            if (*end == '\0' && idx < 1024) {
                d.index = (int)idx;
                *out = d;
                return DDAD_OK;
            }
        }
    }
    return ddad_fail(DDAD_STATUS_USAGE, "device '%s' is not valid: use cpu, cuda or cuda:N", text);
}

bool ddad_cuda_is_available(void)
{
    try {
        return torch::cuda::is_available();
    } catch (...) {
        return false;
    }
}

int ddad_cuda_device_count(void)
{
    try {
        return (int)torch::cuda::device_count();
    } catch (...) {
        return 0;
    }
}

ddad_status_t ddad_device_check(ddad_device_t dev)
{
    if (dev.type == DDAD_DEVICE_TYPE_CPU)
        return DDAD_OK;
    if (dev.type != DDAD_DEVICE_TYPE_CUDA)
        return ddad_fail(DDAD_STATUS_DEVICE, "unknown device type %d", dev.type);
    if (!ddad_cuda_is_available())
        return ddad_fail(DDAD_STATUS_DEVICE,
                         "device cuda requested but this libtorch (%s) has no usable CUDA device; "
                         "use device: cpu, or build against a CUDA libtorch (README, 'CUDA')",
                         ddad_torch_version());
    int n = ddad_cuda_device_count();
    if (dev.index >= n)
        return ddad_fail(DDAD_STATUS_DEVICE, "device cuda:%d requested but only %d CUDA device(s) are visible", dev.index,
                         n);
    return DDAD_OK;
}

void ddad_device_str(ddad_device_t dev, char *buf, size_t cap)
{
    if (dev.type == DDAD_DEVICE_TYPE_CUDA) {
        if (dev.index >= 0)
            snprintf(buf, cap, "cuda:%d", dev.index);
        else
            snprintf(buf, cap, "cuda");
    } else {
        snprintf(buf, cap, "cpu");
    }
}

ddad_status_t ddad_cuda_synchronize(void)
{
    return guard("ddad_cuda_synchronize", {}, [&] {
        if (ddad_cuda_is_available())
            torch::cuda::synchronize();
    });
}

void ddad_set_num_threads(int n)
{
    if (n > 0)
        at::set_num_threads(n);
}

int ddad_get_num_threads(void) { return at::get_num_threads(); }

ddad_status_t ddad_set_deterministic(bool on)
{
    return guard("ddad_set_deterministic", {}, [&] {
        at::globalContext().setDeterministicAlgorithms(on, /*warn_only=*/false);
        at::globalContext().setDeterministicCuDNN(on);
        at::globalContext().setBenchmarkCuDNN(!on);
    });
}

void ddad_manual_seed(uint64_t seed) { torch::manual_seed(seed); }

// ---------------------------------------------------------------------------
// scopes

size_t ddad_scope_begin(void)
{
    // the token is the nesting depth before this scope: robust to handles
    // being moved between scopes by keep/persist
    size_t depth = tl_marks.size();
    tl_marks.push_back(tl_scoped.size());
    return depth;
}

void ddad_scope_end(size_t depth)
{
    while (tl_marks.size() > depth) {
        size_t start = tl_marks.back();
        tl_marks.pop_back();
        for (size_t i = start; i < tl_scoped.size(); i++)
            destroy(tl_scoped[i]);
        if (start < tl_scoped.size())
            tl_scoped.resize(start);
    }
}

ddad_tensor_t *ddad_tensor_keep(ddad_tensor_t *t)
{
    if (!t || !t->scoped || tl_marks.empty())
        return t;
    size_t inner = tl_marks.back();
    for (size_t i = tl_scoped.size(); i-- > inner;) {
        if (tl_scoped[i] != t)
            continue;
        tl_scoped.erase(tl_scoped.begin() + (ptrdiff_t)i);
        if (tl_marks.size() >= 2) {
            // hand it to the enclosing scope: place it just below the
            // innermost scope's start
            tl_scoped.insert(tl_scoped.begin() + (ptrdiff_t)inner, t);
            tl_marks.back() = inner + 1;
        } else {
            t->scoped = false;
        }
        return t;
    }
    return t; // recorded in an outer scope: ownership stays there
}

ddad_tensor_t *ddad_tensor_persist(ddad_tensor_t *t)
{
    if (!t || !t->scoped)
        return t;
    for (size_t i = tl_scoped.size(); i-- > 0;) {
        if (tl_scoped[i] != t)
            continue;
        tl_scoped.erase(tl_scoped.begin() + (ptrdiff_t)i);
        for (size_t &m : tl_marks)
            if (m > i)
                m--;
        break;
    }
    t->scoped = false;
    return t;
}

size_t ddad_tensor_live_count(void) { return g_live.load(std::memory_order_relaxed); }

// ---------------------------------------------------------------------------
// handles and metadata

void ddad_tensor_free(ddad_tensor_t *t)
{
    if (!t)
        return;
    if (t->scoped) {
        t->t = at::Tensor();
        t->dead = true;
        return;
    }
    destroy(t);
}

ddad_status_t ddad_tensor_ref(ddad_tensor_t **out, const ddad_tensor_t *t)
{
    return run("ddad_tensor_ref", out, {{"t", t}}, [&] { return t->t; });
}

int ddad_tensor_dim(const ddad_tensor_t *t) { return t && t->t.defined() ? (int)t->t.dim() : -1; }

int64_t ddad_tensor_size(const ddad_tensor_t *t, int dim)
{
    if (!t || !t->t.defined())
        return -1;
    int64_t n = t->t.dim();
    int64_t d = dim < 0 ? dim + n : dim;
    return (d >= 0 && d < n) ? t->t.size(d) : -1;
}

int ddad_tensor_shape(const ddad_tensor_t *t, int64_t *shape, int cap)
{
    if (!t || !t->t.defined())
        return -1;
    int n = (int)t->t.dim();
    for (int i = 0; i < n && i < cap; i++)
        shape[i] = t->t.size(i);
    return n;
}

int64_t ddad_tensor_numel(const ddad_tensor_t *t) { return t && t->t.defined() ? t->t.numel() : 0; }

ddad_dtype_t ddad_tensor_dtype(const ddad_tensor_t *t)
{
    return t && t->t.defined() ? ddad::from_scalar_type(t->t.scalar_type()) : DDAD_DTYPE_F32;
}

ddad_device_t ddad_tensor_device(const ddad_tensor_t *t)
{
    return t && t->t.defined() ? ddad::from_device(t->t.device()) : DDAD_CPU;
}

bool ddad_tensor_defined(const ddad_tensor_t *t) { return t && !t->dead && t->t.defined(); }

void ddad_tensor_describe(const ddad_tensor_t *t, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", ddad::describe(t).c_str());
}

ddad_status_t ddad_tensor_item(double *out, const ddad_tensor_t *t)
{
    if (!out)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_tensor_item: output pointer is NULL");
    return guard("ddad_tensor_item", {{"t", t}}, [&] { *out = t->t.item<double>(); });
}

// ---------------------------------------------------------------------------
// creation

static at::TensorOptions opts(ddad_dtype_t dt, ddad_device_t dev)
{
    return at::TensorOptions().dtype(ddad::to_scalar_type(dt)).device(ddad::to_device(dev));
}

ddad_status_t ddad_zeros(ddad_tensor_t **out, const int64_t *shape, int ndim, ddad_dtype_t dt, ddad_device_t dev)
{
    return run("ddad_zeros", out, {}, [&] { return at::zeros(dims_ref(shape, ndim), opts(dt, dev)); });
}

ddad_status_t ddad_ones(ddad_tensor_t **out, const int64_t *shape, int ndim, ddad_dtype_t dt, ddad_device_t dev)
{
    return run("ddad_ones", out, {}, [&] { return at::ones(dims_ref(shape, ndim), opts(dt, dev)); });
}

ddad_status_t ddad_full(ddad_tensor_t **out, const int64_t *shape, int ndim, double value, ddad_dtype_t dt,
                        ddad_device_t dev)
{
    return run("ddad_full", out, {}, [&] { return at::full(dims_ref(shape, ndim), value, opts(dt, dev)); });
}

ddad_status_t ddad_arange(ddad_tensor_t **out, double start, double end, double step, ddad_dtype_t dt,
                          ddad_device_t dev)
{
    return run("ddad_arange", out, {}, [&] { return at::arange(start, end, step, opts(dt, dev)); });
}

static c10::optional<at::Generator> gen_of(ddad_generator_t *g)
{
    if (!g)
        return c10::nullopt;
    return g->g;
}

ddad_status_t ddad_randn(ddad_tensor_t **out, const int64_t *shape, int ndim, ddad_dtype_t dt, ddad_device_t dev,
                         ddad_generator_t *gen)
{
    return run("ddad_randn", out, {}, [&] { return at::randn(dims_ref(shape, ndim), gen_of(gen), opts(dt, dev)); });
}

ddad_status_t ddad_rand(ddad_tensor_t **out, const int64_t *shape, int ndim, ddad_dtype_t dt, ddad_device_t dev,
                        ddad_generator_t *gen)
{
    return run("ddad_rand", out, {}, [&] { return at::rand(dims_ref(shape, ndim), gen_of(gen), opts(dt, dev)); });
}

ddad_status_t ddad_randint(ddad_tensor_t **out, int64_t low, int64_t high, const int64_t *shape, int ndim,
                           ddad_device_t dev, ddad_generator_t *gen)
{
    return run("ddad_randint", out, {}, [&] {
        return at::randint(low, high, dims_ref(shape, ndim), gen_of(gen), opts(DDAD_DTYPE_I64, dev));
    });
}

ddad_status_t ddad_randperm(ddad_tensor_t **out, int64_t n, ddad_generator_t *gen)
{
    return run("ddad_randperm", out, {}, [&] { return at::randperm(n, gen_of(gen), opts(DDAD_DTYPE_I64, DDAD_CPU)); });
}

ddad_status_t ddad_from_buffer(ddad_tensor_t **out, const void *data, const int64_t *shape, int ndim, ddad_dtype_t dt)
{
    if (!data)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_from_buffer: data is NULL");
    return run("ddad_from_buffer", out, {}, [&] {
        at::Tensor t = at::empty(dims_ref(shape, ndim), opts(dt, DDAD_CPU));
        std::memcpy(t.data_ptr(), data, (size_t)t.numel() * ddad_dtype_size(dt));
        return t;
    });
}

ddad_status_t ddad_to_buffer(const ddad_tensor_t *t, void *data, size_t nbytes, ddad_dtype_t dt)
{
    if (!data)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_to_buffer: data is NULL");
    return guard("ddad_to_buffer", {{"t", t}}, [&] {
        size_t want = (size_t)t->t.numel() * ddad_dtype_size(dt);
        if (want != nbytes)
            throw std::invalid_argument("buffer holds " + std::to_string(nbytes) + " bytes, tensor needs " +
                                        std::to_string(want) + " as " + ddad_dtype_str(dt));
        at::Tensor c = t->t.detach().to(at::kCPU, ddad::to_scalar_type(dt)).contiguous();
        std::memcpy(data, c.data_ptr(), want);
    });
}

ddad_status_t ddad_scalar_tensor(ddad_tensor_t **out, double value, ddad_dtype_t dt, ddad_device_t dev)
{
    return run("ddad_scalar_tensor", out, {}, [&] { return at::scalar_tensor(value, opts(dt, dev)); });
}

// ---------------------------------------------------------------------------
// dtype, device, layout

ddad_status_t ddad_to_dtype(ddad_tensor_t **out, const ddad_tensor_t *t, ddad_dtype_t dt)
{
    return run("ddad_to_dtype", out, {{"t", t}}, [&] { return t->t.to(ddad::to_scalar_type(dt)); });
}

ddad_status_t ddad_to_device(ddad_tensor_t **out, const ddad_tensor_t *t, ddad_device_t dev)
{
    return run("ddad_to_device", out, {{"t", t}}, [&] { return t->t.to(ddad::to_device(dev)); });
}

ddad_status_t ddad_contiguous(ddad_tensor_t **out, const ddad_tensor_t *t)
{
    return run("ddad_contiguous", out, {{"t", t}}, [&] { return t->t.contiguous(); });
}

ddad_status_t ddad_channels_last(ddad_tensor_t **out, const ddad_tensor_t *t)
{
    return run("ddad_channels_last", out, {{"t", t}}, [&] { return t->t.contiguous(at::MemoryFormat::ChannelsLast); });
}

ddad_status_t ddad_clone(ddad_tensor_t **out, const ddad_tensor_t *t)
{
    return run("ddad_clone", out, {{"t", t}}, [&] { return t->t.clone(); });
}

ddad_status_t ddad_detach(ddad_tensor_t **out, const ddad_tensor_t *t)
{
    return run("ddad_detach", out, {{"t", t}}, [&] { return t->t.detach(); });
}

// ---------------------------------------------------------------------------
// views and shape

ddad_status_t ddad_reshape(ddad_tensor_t **out, const ddad_tensor_t *t, const int64_t *shape, int ndim)
{
    return run("ddad_reshape", out, {{"t", t}}, [&] { return t->t.reshape(dims_ref(shape, ndim)); });
}

ddad_status_t ddad_permute(ddad_tensor_t **out, const ddad_tensor_t *t, const int64_t *dims, int ndim)
{
    return run("ddad_permute", out, {{"t", t}}, [&] { return t->t.permute(dims_ref(dims, ndim)); });
}

ddad_status_t ddad_transpose(ddad_tensor_t **out, const ddad_tensor_t *t, int64_t d0, int64_t d1)
{
    return run("ddad_transpose", out, {{"t", t}}, [&] { return t->t.transpose(d0, d1); });
}

ddad_status_t ddad_slice(ddad_tensor_t **out, const ddad_tensor_t *t, int64_t dim, int64_t start, int64_t end,
                         int64_t step)
{
    return run("ddad_slice", out, {{"t", t}}, [&] { return t->t.slice(dim, start, end, step); });
}

ddad_status_t ddad_select(ddad_tensor_t **out, const ddad_tensor_t *t, int64_t dim, int64_t index)
{
    return run("ddad_select", out, {{"t", t}}, [&] { return t->t.select(dim, index); });
}

static std::vector<at::Tensor> gather_list(const char *op, const ddad_tensor_t *const *ts, size_t n)
{
    if (!ts || n == 0)
        throw std::invalid_argument("empty tensor list");
    std::vector<at::Tensor> v;
    v.reserve(n);
    for (size_t i = 0; i < n; i++) {
        if (!ts[i] || ts[i]->dead || !ts[i]->t.defined())
            throw std::invalid_argument("list element " + std::to_string(i) + " is NULL or undefined");
        v.push_back(ts[i]->t);
    }
    return v;
}

static std::string list_shapes(const ddad_tensor_t *const *ts, size_t n)
{
    std::string s;
    for (size_t i = 0; ts && i < n && i < 8; i++) {
        s += i ? "; " : " [";
        s += ddad::describe(ts[i]);
    }
    if (!s.empty())
        s += n > 8 ? "; ...]" : "]";
    return s;
}

extern "C++" { template <class F>
ddad_status_t run_list(const char *op, ddad_tensor_t **out, const ddad_tensor_t *const *ts, size_t n, F &&f)
{
    ddad_status_t st = run(op, out, {}, [&] { return f(gather_list(op, ts, n)); });
    if (st != DDAD_OK)
        ddad_fail(st, "%s%s", ddad_last_error(), list_shapes(ts, n).c_str());
    return st;
}
}

ddad_status_t ddad_cat(ddad_tensor_t **out, const ddad_tensor_t *const *ts, size_t n, int64_t dim)
{
    return run_list("ddad_cat", out, ts, n, [&](std::vector<at::Tensor> v) { return at::cat(v, dim); });
}

ddad_status_t ddad_stack(ddad_tensor_t **out, const ddad_tensor_t *const *ts, size_t n, int64_t dim)
{
    return run_list("ddad_stack", out, ts, n, [&](std::vector<at::Tensor> v) { return at::stack(v, dim); });
}

ddad_status_t ddad_chunk(ddad_tensor_t **outs, const ddad_tensor_t *t, int64_t n, int64_t dim)
{
    if (!outs)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_chunk: output array is NULL");
    std::vector<at::Tensor> parts;
    ddad_status_t st = guard("ddad_chunk", {{"t", t}}, [&] {
        if (n <= 0)
            throw std::invalid_argument("number of chunks must be positive");
        int64_t size = t->t.size(dim);
        if (size % n != 0)
            throw std::invalid_argument("dimension " + std::to_string(dim) + " of size " + std::to_string(size) +
                                        " does not split into " + std::to_string(n) + " equal chunks");
        parts = t->t.chunk(n, dim);
    });
    if (st != DDAD_OK)
        return st;
    for (int64_t i = 0; i < n; i++)
        outs[i] = ddad::wrap(parts[(size_t)i]);
    return DDAD_OK;
}

ddad_status_t ddad_unsqueeze(ddad_tensor_t **out, const ddad_tensor_t *t, int64_t dim)
{
    return run("ddad_unsqueeze", out, {{"t", t}}, [&] { return t->t.unsqueeze(dim); });
}

ddad_status_t ddad_squeeze(ddad_tensor_t **out, const ddad_tensor_t *t, int64_t dim)
{
    return run("ddad_squeeze", out, {{"t", t}}, [&] { return t->t.squeeze(dim); });
}

ddad_status_t ddad_flatten(ddad_tensor_t **out, const ddad_tensor_t *t, int64_t start_dim, int64_t end_dim)
{
    return run("ddad_flatten", out, {{"t", t}}, [&] { return t->t.flatten(start_dim, end_dim); });
}

ddad_status_t ddad_expand(ddad_tensor_t **out, const ddad_tensor_t *t, const int64_t *shape, int ndim)
{
    return run("ddad_expand", out, {{"t", t}}, [&] { return t->t.expand(dims_ref(shape, ndim)); });
}

ddad_status_t ddad_index_select(ddad_tensor_t **out, const ddad_tensor_t *t, int64_t dim, const ddad_tensor_t *index)
{
    return run("ddad_index_select", out, {{"t", t}, {"index", index}},
               [&] { return at::index_select(t->t, dim, index->t); });
}

ddad_status_t ddad_embedding(ddad_tensor_t **out, const ddad_tensor_t *weight, const ddad_tensor_t *indices)
{
    return run("ddad_embedding", out, {{"weight", weight}, {"indices", indices}}, [&] {
        if (indices->t.scalar_type() != at::kLong)
            throw std::invalid_argument("indices must be i64");
        int64_t v = weight->t.size(0);
        if (indices->t.numel() > 0) {
            int64_t lo = indices->t.min().item<int64_t>(), hi = indices->t.max().item<int64_t>();
            if (lo < 0 || hi >= v)
                throw std::invalid_argument("class index out of range [0, " + std::to_string(v) + "): saw " +
                                            std::to_string(lo < 0 ? lo : hi));
        }
        return at::embedding(weight->t, indices->t);
    });
}

ddad_status_t ddad_rotate(ddad_tensor_t **out, const ddad_tensor_t *x, const double *angles_deg, int64_t n)
{
    if (!angles_deg)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_rotate: angles is NULL");
    return run("ddad_rotate", out, {{"x", x}}, [&] {
        if (x->t.dim() != 4 || x->t.size(0) != n)
            throw std::invalid_argument("x must be (N, C, H, W) with N = number of angles (" + std::to_string(n) + ")");
        std::vector<float> theta((size_t)n * 6);
        for (int64_t i = 0; i < n; i++) {
            double a = angles_deg[i] * M_PI / 180.0;
            float c = (float)std::cos(a), s = (float)std::sin(a);
            float *th = &theta[(size_t)i * 6];
            th[0] = c, th[1] = -s, th[2] = 0, th[3] = s, th[4] = c, th[5] = 0;
        }
        at::Tensor th = at::from_blob(theta.data(), {n, 2, 3}, at::kFloat).clone().to(x->t.device(), x->t.scalar_type());
        at::Tensor grid = at::affine_grid_generator(th, x->t.sizes(), /*align_corners=*/false);
        return at::grid_sampler(x->t, grid, /*bilinear*/ 0, /*zeros*/ 0, /*align_corners=*/false);
    });
}

// ---------------------------------------------------------------------------
// arithmetic

#define DDAD_BINARY(fn, expr)                                                                         \
    ddad_status_t fn(ddad_tensor_t **out, const ddad_tensor_t *a, const ddad_tensor_t *b)             \
    {                                                                                                 \
        return run(#fn, out, {{"a", a}, {"b", b}}, [&] { return expr; });                             \
    }

DDAD_BINARY(ddad_add, a->t + b->t)
DDAD_BINARY(ddad_sub, a->t - b->t)
DDAD_BINARY(ddad_mul, a->t * b->t)
DDAD_BINARY(ddad_div, a->t / b->t)
DDAD_BINARY(ddad_matmul, at::matmul(a->t, b->t))
DDAD_BINARY(ddad_bmm, at::bmm(a->t, b->t))

ddad_status_t ddad_add_scaled(ddad_tensor_t **out, const ddad_tensor_t *a, const ddad_tensor_t *b, double alpha)
{
    return run("ddad_add_scaled", out, {{"a", a}, {"b", b}}, [&] { return at::add(a->t, b->t, alpha); });
}

#define DDAD_SCALAR(fn, expr)                                                                         \
    ddad_status_t fn(ddad_tensor_t **out, const ddad_tensor_t *a, double s)                           \
    {                                                                                                 \
        return run(#fn, out, {{"a", a}}, [&] { return expr; });                                       \
    }

DDAD_SCALAR(ddad_add_scalar, a->t + s)
DDAD_SCALAR(ddad_mul_scalar, a->t * s)
DDAD_SCALAR(ddad_pow_scalar, at::pow(a->t, s))
DDAD_SCALAR(ddad_rsub_scalar, s - a->t)
DDAD_SCALAR(ddad_clamp_min, at::clamp_min(a->t, s))

ddad_status_t ddad_clamp(ddad_tensor_t **out, const ddad_tensor_t *a, double lo, double hi)
{
    return run("ddad_clamp", out, {{"a", a}}, [&] { return at::clamp(a->t, lo, hi); });
}

static at::Tensor apply_unary(const at::Tensor &a, ddad_unary_t op)
{
    switch (op) {
    case DDAD_UNARY_NEG: return -a;
    case DDAD_UNARY_ABS: return at::abs(a);
    case DDAD_UNARY_EXP: return at::exp(a);
    case DDAD_UNARY_LOG: return at::log(a);
    case DDAD_UNARY_SQRT: return at::sqrt(a);
    case DDAD_UNARY_RSQRT: return at::rsqrt(a);
    case DDAD_UNARY_SQUARE: return at::square(a);
    case DDAD_UNARY_TANH: return at::tanh(a);
    case DDAD_UNARY_SIGMOID: return at::sigmoid(a);
    case DDAD_UNARY_SILU: return at::silu(a);
    case DDAD_UNARY_RELU: return at::relu(a);
    case DDAD_UNARY_GELU: return at::gelu(a);
    case DDAD_UNARY_SIN: return at::sin(a);
    case DDAD_UNARY_COS: return at::cos(a);
    case DDAD_UNARY_FLOOR: return at::floor(a);
    case DDAD_UNARY_RECIPROCAL: return at::reciprocal(a);
    }
    throw std::invalid_argument("unknown unary operation " + std::to_string((int)op));
}

ddad_status_t ddad_unary(ddad_tensor_t **out, const ddad_tensor_t *a, ddad_unary_t op)
{
    return run("ddad_unary", out, {{"a", a}}, [&] { return apply_unary(a->t, op); });
}

#define DDAD_UNARY_FN(fn, op)                                                                         \
    ddad_status_t fn(ddad_tensor_t **out, const ddad_tensor_t *a)                                     \
    {                                                                                                 \
        return run(#fn, out, {{"a", a}}, [&] { return apply_unary(a->t, op); });                      \
    }

DDAD_UNARY_FN(ddad_exp, DDAD_UNARY_EXP)
DDAD_UNARY_FN(ddad_tensor_log, DDAD_UNARY_LOG)
DDAD_UNARY_FN(ddad_sqrt, DDAD_UNARY_SQRT)
DDAD_UNARY_FN(ddad_silu, DDAD_UNARY_SILU)
DDAD_UNARY_FN(ddad_relu, DDAD_UNARY_RELU)
DDAD_UNARY_FN(ddad_sigmoid, DDAD_UNARY_SIGMOID)

ddad_status_t ddad_where(ddad_tensor_t **out, const ddad_tensor_t *cond, const ddad_tensor_t *a, const ddad_tensor_t *b)
{
    return run("ddad_where", out, {{"cond", cond}, {"a", a}, {"b", b}}, [&] {
        at::Tensor c = cond->t.scalar_type() == at::kBool ? cond->t : cond->t.to(at::kBool);
        return at::where(c, a->t, b->t);
    });
}

ddad_status_t ddad_compare_scalar(ddad_tensor_t **out, const ddad_tensor_t *a, ddad_cmp_t op, double s)
{
    return run("ddad_compare_scalar", out, {{"a", a}}, [&] {
        switch (op) {
        case DDAD_CMP_LT: return at::lt(a->t, s);
        case DDAD_CMP_LE: return at::le(a->t, s);
        case DDAD_CMP_GT: return at::gt(a->t, s);
        case DDAD_CMP_GE: return at::ge(a->t, s);
        case DDAD_CMP_EQ: return at::eq(a->t, s);
        case DDAD_CMP_NE: return at::ne(a->t, s);
        }
        throw std::invalid_argument("unknown comparison " + std::to_string((int)op));
    });
}

ddad_status_t ddad_all_finite(bool *out, const ddad_tensor_t *a)
{
    if (!out)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_all_finite: output pointer is NULL");
    return guard("ddad_all_finite", {{"a", a}}, [&] { *out = at::isfinite(a->t.detach()).all().item<bool>(); });
}

ddad_status_t ddad_softmax(ddad_tensor_t **out, const ddad_tensor_t *a, int64_t dim)
{
    return run("ddad_softmax", out, {{"a", a}}, [&] { return at::softmax(a->t, dim); });
}

ddad_status_t ddad_log_softmax(ddad_tensor_t **out, const ddad_tensor_t *a, int64_t dim)
{
    return run("ddad_log_softmax", out, {{"a", a}}, [&] { return at::log_softmax(a->t, dim); });
}

// ---------------------------------------------------------------------------
// reductions

ddad_status_t ddad_sum(ddad_tensor_t **out, const ddad_tensor_t *a)
{
    return run("ddad_sum", out, {{"a", a}}, [&] { return a->t.sum(); });
}

ddad_status_t ddad_mean(ddad_tensor_t **out, const ddad_tensor_t *a)
{
    return run("ddad_mean", out, {{"a", a}}, [&] { return a->t.mean(); });
}

ddad_status_t ddad_sum_dims(ddad_tensor_t **out, const ddad_tensor_t *a, const int64_t *dims, int ndims, bool keepdim)
{
    return run("ddad_sum_dims", out, {{"a", a}}, [&] { return a->t.sum(dims_ref(dims, ndims), keepdim); });
}

ddad_status_t ddad_mean_dims(ddad_tensor_t **out, const ddad_tensor_t *a, const int64_t *dims, int ndims, bool keepdim)
{
    return run("ddad_mean_dims", out, {{"a", a}}, [&] { return a->t.mean(dims_ref(dims, ndims), keepdim); });
}

ddad_status_t ddad_var_dims(ddad_tensor_t **out, const ddad_tensor_t *a, const int64_t *dims, int ndims, bool unbiased,
                            bool keepdim)
{
    return run("ddad_var_dims", out, {{"a", a}}, [&] {
        return at::var(a->t, at::OptionalIntArrayRef(dims_ref(dims, ndims)), unbiased, keepdim);
    });
}

ddad_status_t ddad_std_dims(ddad_tensor_t **out, const ddad_tensor_t *a, const int64_t *dims, int ndims, bool unbiased,
                            bool keepdim)
{
    return run("ddad_std_dims", out, {{"a", a}}, [&] {
        return at::std(a->t, at::OptionalIntArrayRef(dims_ref(dims, ndims)), unbiased, keepdim);
    });
}

ddad_status_t ddad_max(ddad_tensor_t **out, const ddad_tensor_t *a)
{
    return run("ddad_max", out, {{"a", a}}, [&] { return a->t.max(); });
}

ddad_status_t ddad_min(ddad_tensor_t **out, const ddad_tensor_t *a)
{
    return run("ddad_min", out, {{"a", a}}, [&] { return a->t.min(); });
}

ddad_status_t ddad_max_dim(ddad_tensor_t **values, ddad_tensor_t **indices, const ddad_tensor_t *a, int64_t dim,
                           bool keepdim)
{
    if (!values)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_max_dim: values pointer is NULL");
    at::Tensor v, i;
    ddad_status_t st = guard("ddad_max_dim", {{"a", a}}, [&] { std::tie(v, i) = a->t.max(dim, keepdim); });
    if (st != DDAD_OK)
        return st;
    *values = ddad::wrap(v);
    if (indices)
        *indices = ddad::wrap(i);
    return DDAD_OK;
}

ddad_status_t ddad_topk(ddad_tensor_t **values, ddad_tensor_t **indices, const ddad_tensor_t *a, int64_t k, int64_t dim,
                        bool largest)
{
    if (!values)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_topk: values pointer is NULL");
    at::Tensor v, i;
    ddad_status_t st = guard("ddad_topk", {{"a", a}}, [&] {
        int64_t n = a->t.size(dim);
        if (k <= 0 || k > n)
            throw std::invalid_argument("k = " + std::to_string(k) + " is outside [1, " + std::to_string(n) + "]");
        std::tie(v, i) = a->t.topk(k, dim, largest, /*sorted=*/true);
    });
    if (st != DDAD_OK)
        return st;
    *values = ddad::wrap(v);
    if (indices)
        *indices = ddad::wrap(i);
    return DDAD_OK;
}

// ---------------------------------------------------------------------------
// neural-network operations

static c10::optional<at::Tensor> opt_tensor(const ddad_tensor_t *t)
{
    if (!t)
        return c10::nullopt;
    return t->t;
}

ddad_status_t ddad_conv2d(ddad_tensor_t **out, const ddad_tensor_t *x, const ddad_tensor_t *w, const ddad_tensor_t *b,
                          int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dil_h,
                          int64_t dil_w, int64_t groups)
{
    return run("ddad_conv2d", out, {{"x", x}, {"w", w}}, [&] {
        return at::conv2d(x->t, w->t, opt_tensor(b), {stride_h, stride_w}, {pad_h, pad_w}, {dil_h, dil_w}, groups);
    });
}

ddad_status_t ddad_conv1d(ddad_tensor_t **out, const ddad_tensor_t *x, const ddad_tensor_t *w, const ddad_tensor_t *b,
                          int64_t stride, int64_t pad, int64_t dil, int64_t groups)
{
    return run("ddad_conv1d", out, {{"x", x}, {"w", w}}, [&] {
        return at::conv1d(x->t, w->t, opt_tensor(b), {stride}, {pad}, {dil}, groups);
    });
}

ddad_status_t ddad_linear(ddad_tensor_t **out, const ddad_tensor_t *x, const ddad_tensor_t *w, const ddad_tensor_t *b)
{
    return run("ddad_linear", out, {{"x", x}, {"w", w}}, [&] { return at::linear(x->t, w->t, opt_tensor(b)); });
}

ddad_status_t ddad_group_norm(ddad_tensor_t **out, const ddad_tensor_t *x, int64_t groups, const ddad_tensor_t *w,
                              const ddad_tensor_t *b, double eps)
{
    return run("ddad_group_norm", out, {{"x", x}}, [&] {
        if (x->t.dim() < 2 || groups <= 0 || x->t.size(1) % groups != 0)
            throw std::invalid_argument("channels (" + std::to_string(x->t.dim() >= 2 ? x->t.size(1) : -1) +
                                        ") must be divisible by groups (" + std::to_string(groups) + ")");
        // A bf16/f16 x with f32 affine parameters (autocast's conv -> GroupNorm):
        // normalise in float32 and return float32, as CUDA autocast's fp32 rule
        // for group_norm (and guided-diffusion's GroupNorm32) does. libtorch
        // 1.13's CPU autocast has no rule for group_norm and its CPU kernel
        // refuses mixed dtypes.
        const at::ScalarType xs = x->t.scalar_type();
        if ((xs == at::kBFloat16 || xs == at::kHalf) && w && w->t.scalar_type() == at::kFloat)
            return at::group_norm(x->t.to(at::kFloat), groups, opt_tensor(w), opt_tensor(b), eps);
        return at::group_norm(x->t, groups, opt_tensor(w), opt_tensor(b), eps);
    });
}

ddad_status_t ddad_batch_norm_eval(ddad_tensor_t **out, const ddad_tensor_t *x, const ddad_tensor_t *w,
                                   const ddad_tensor_t *b, const ddad_tensor_t *running_mean,
                                   const ddad_tensor_t *running_var, double eps)
{
    return run("ddad_batch_norm_eval", out, {{"x", x}, {"running_mean", running_mean}, {"running_var", running_var}},
               [&] {
                   return at::batch_norm(x->t, opt_tensor(w), opt_tensor(b), running_mean->t, running_var->t,
                                         /*training=*/false, 0.0, eps, /*cudnn_enabled=*/true);
               });
}

ddad_status_t ddad_layer_norm(ddad_tensor_t **out, const ddad_tensor_t *x, const int64_t *normalized_shape, int ndim,
                              const ddad_tensor_t *w, const ddad_tensor_t *b, double eps)
{
    return run("ddad_layer_norm", out, {{"x", x}}, [&] {
        return at::layer_norm(x->t, dims_ref(normalized_shape, ndim), opt_tensor(w), opt_tensor(b), eps);
    });
}

ddad_status_t ddad_attention(ddad_tensor_t **out, const ddad_tensor_t *q, const ddad_tensor_t *k, const ddad_tensor_t *v,
                             double scale)
{
    return run("ddad_attention", out, {{"q", q}, {"k", k}, {"v", v}}, [&] {
        const at::Tensor &Q = q->t, &K = k->t, &V = v->t;
        if (Q.dim() != 3 || K.dim() != 3 || V.dim() != 3)
            throw std::invalid_argument("q, k, v must be (B, T, D)");
        double d = (double)Q.size(2);
        double s = scale > 0 ? scale : 1.0 / std::sqrt(d);
#if TORCH_VERSION_MAJOR >= 2
        if (std::abs(s * std::sqrt(d) - 1.0) < 1e-12 && Q.scalar_type() == K.scalar_type())
            return at::scaled_dot_product_attention(Q, K, V);
#endif
        // softmax in float32 as guided-diffusion does, result in v's dtype
        at::Tensor w = at::baddbmm(at::empty({Q.size(0), Q.size(1), K.size(1)}, Q.options()), Q, K.transpose(1, 2),
                                   /*beta=*/0.0, /*alpha=*/s);
        w = at::softmax(w.to(at::kFloat), -1).to(V.scalar_type());
        return at::bmm(w, V);
    });
}

ddad_status_t ddad_interpolate(ddad_tensor_t **out, const ddad_tensor_t *x, int64_t out_h, int64_t out_w,
                               ddad_interp_t mode, bool align_corners)
{
    return run("ddad_interpolate", out, {{"x", x}}, [&] {
        if (x->t.dim() != 4)
            throw std::invalid_argument("x must be (N, C, H, W)");
        if (out_h <= 0 || out_w <= 0)
            throw std::invalid_argument("output size must be positive");
        std::vector<int64_t> size{out_h, out_w};
        switch (mode) {
        case DDAD_INTERP_NEAREST: return at::upsample_nearest2d(x->t, at::IntArrayRef(size));
        case DDAD_INTERP_BILINEAR: return at::upsample_bilinear2d(x->t, at::IntArrayRef(size), align_corners);
        case DDAD_INTERP_BICUBIC: return at::upsample_bicubic2d(x->t, at::IntArrayRef(size), align_corners);
        case DDAD_INTERP_AREA: return at::adaptive_avg_pool2d(x->t, size);
        }
        throw std::invalid_argument("unknown interpolation mode " + std::to_string((int)mode));
    });
}

ddad_status_t ddad_avg_pool2d(ddad_tensor_t **out, const ddad_tensor_t *x, int64_t kernel, int64_t stride, int64_t pad)
{
    return run("ddad_avg_pool2d", out, {{"x", x}},
               [&] { return at::avg_pool2d(x->t, {kernel, kernel}, {stride, stride}, {pad, pad}); });
}

ddad_status_t ddad_max_pool2d(ddad_tensor_t **out, const ddad_tensor_t *x, int64_t kernel, int64_t stride, int64_t pad)
{
    return run("ddad_max_pool2d", out, {{"x", x}},
               [&] { return at::max_pool2d(x->t, {kernel, kernel}, {stride, stride}, {pad, pad}); });
}

ddad_status_t ddad_adaptive_avg_pool2d(ddad_tensor_t **out, const ddad_tensor_t *x, int64_t out_h, int64_t out_w)
{
    return run("ddad_adaptive_avg_pool2d", out, {{"x", x}},
               [&] { return at::adaptive_avg_pool2d(x->t, {out_h, out_w}); });
}

ddad_status_t ddad_pad2d(ddad_tensor_t **out, const ddad_tensor_t *x, int64_t left, int64_t right, int64_t top,
                         int64_t bottom, ddad_pad_mode_t mode, double value)
{
    return run("ddad_pad2d", out, {{"x", x}}, [&] {
        std::vector<int64_t> p{left, right, top, bottom};
        switch (mode) {
        case DDAD_PAD_CONSTANT: return at::constant_pad_nd(x->t, p, value);
        case DDAD_PAD_REFLECT: return at::reflection_pad2d(x->t, p);
        case DDAD_PAD_REPLICATE: return at::replication_pad2d(x->t, p);
        }
        throw std::invalid_argument("unknown padding mode " + std::to_string((int)mode));
    });
}

// ---------------------------------------------------------------------------
// in-place updates

extern "C++" { template <class F>
ddad_status_t inplace(const char *op, ddad_tensor_t *dst, const ddad_tensor_t *src, F &&f)
{
    auto body = [&] {
        at::NoGradGuard no_grad;
        f();
    };
    if (src)
        return guard(op, {{"dst", dst}, {"src", src}}, body);
    return guard(op, {{"dst", dst}}, body);
}
}

ddad_status_t ddad_copy_(ddad_tensor_t *dst, const ddad_tensor_t *src)
{
    if (!src)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_copy_: argument 'src' is NULL");
    return inplace("ddad_copy_", dst, src, [&] {
        if (!dst->t.sizes().equals(src->t.sizes()))
            throw std::invalid_argument("shapes differ");
        dst->t.copy_(src->t);
    });
}

ddad_status_t ddad_fill_(ddad_tensor_t *dst, double value)
{
    return inplace("ddad_fill_", dst, nullptr, [&] { dst->t.fill_(value); });
}

ddad_status_t ddad_zero_(ddad_tensor_t *dst)
{
    return inplace("ddad_zero_", dst, nullptr, [&] { dst->t.zero_(); });
}

ddad_status_t ddad_mul_scalar_(ddad_tensor_t *dst, double s)
{
    return inplace("ddad_mul_scalar_", dst, nullptr, [&] { dst->t.mul_(s); });
}

ddad_status_t ddad_add_scaled_(ddad_tensor_t *dst, const ddad_tensor_t *src, double alpha)
{
    if (!src)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_add_scaled_: argument 'src' is NULL");
    return inplace("ddad_add_scaled_", dst, src, [&] { dst->t.add_(src->t, alpha); });
}

ddad_status_t ddad_lerp_(ddad_tensor_t *dst, const ddad_tensor_t *src, double weight)
{
    if (!src)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_lerp_: argument 'src' is NULL");
    return inplace("ddad_lerp_", dst, src, [&] { dst->t.lerp_(src->t, weight); });
}

ddad_status_t ddad_normal_(ddad_tensor_t *dst, double mean, double std, ddad_generator_t *gen)
{
    return inplace("ddad_normal_", dst, nullptr, [&] { dst->t.normal_(mean, std, gen_of(gen)); });
}

ddad_status_t ddad_uniform_(ddad_tensor_t *dst, double lo, double hi, ddad_generator_t *gen)
{
    return inplace("ddad_uniform_", dst, nullptr, [&] { dst->t.uniform_(lo, hi, gen_of(gen)); });
}

} // extern "C"
