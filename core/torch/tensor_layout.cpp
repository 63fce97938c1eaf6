// core/torch/tensor_layout.cpp - memory formats of the C API, declared in
// tensor_layout.h.
#include "tensor_layout.h"

#include "tensor_internal.hpp"

#include <cstring>
#include <stdexcept>

using ddad::run;

namespace {

// A C caller may pass any int as the format. Reading a value outside the
// enumerators through the enum type is undefined in C++ (UBSan's enum check),
// so the entry points read its bytes as an int and work with that.
int format_code(const ddad_memory_format_t &fmt)
{
    int v = 0;
    static_assert(sizeof(ddad_memory_format_t) == sizeof(int), "C enums are int-sized here");
    std::memcpy(&v, &fmt, sizeof v);
    return v;
}

at::MemoryFormat to_memory_format(int fmt)
{
    if (fmt == DDAD_MEMORY_FORMAT_CONTIGUOUS)
        return at::MemoryFormat::Contiguous;
    if (fmt == DDAD_MEMORY_FORMAT_CHANNELS_LAST)
        return at::MemoryFormat::ChannelsLast;
    throw std::invalid_argument("unknown memory format " + std::to_string(fmt) +
                                " (DDAD_MEMORY_FORMAT_CONTIGUOUS or DDAD_MEMORY_FORMAT_CHANNELS_LAST)");
}

// libtorch's own message for a non-4-D tensor ("required rank 4 tensor to use
// channels_last format") does not say which call; say it before converting.
void check_rank(const at::Tensor &t, int fmt)
{
    if (fmt == DDAD_MEMORY_FORMAT_CHANNELS_LAST && t.dim() != 4)
        throw std::length_error("channels_last needs a 4-D (N, C, H, W) tensor, got " + std::to_string(t.dim()) +
                                " dims");
}

} // namespace

extern "C" {

const char *ddad_memory_format_str(ddad_memory_format_t fmt)
{
    int f = format_code(fmt);
    if (f == DDAD_MEMORY_FORMAT_CONTIGUOUS)
        return "contiguous";
    if (f == DDAD_MEMORY_FORMAT_CHANNELS_LAST)
        return "channels_last";
    return "unknown";
}

ddad_status_t ddad_to_memory_format(ddad_tensor_t **out, const ddad_tensor_t *t, ddad_memory_format_t fmt)
{
    const int f = format_code(fmt);
    return run("ddad_to_memory_format", out, {{"t", t}}, [&] {
        at::MemoryFormat mf = to_memory_format(f);
        check_rank(t->t, f);
        return t->t.contiguous(mf);
    });
}

ddad_status_t ddad_tensor_set_memory_format_(ddad_tensor_t *t, ddad_memory_format_t fmt)
{
    const int f = format_code(fmt);
    return ddad::guard("ddad_tensor_set_memory_format_", {{"t", t}}, [&] {
        at::MemoryFormat mf = to_memory_format(f);
        check_rank(t->t, f);
        if (t->t.is_contiguous(mf))
            return;
        at::NoGradGuard no_grad;
        // set_data swaps the TensorImpl's storage and strides: every at::Tensor
        // sharing this impl (optimizer, registry) sees the new layout
        t->t.set_data(t->t.detach().contiguous(mf));
    });
}

ddad_status_t ddad_tensor_set_dtype_(ddad_tensor_t *t, ddad_dtype_t dt)
{
    return ddad::guard("ddad_tensor_set_dtype_", {{"t", t}}, [&] {
        const at::ScalarType st = ddad::to_scalar_type(dt);
        if (t->t.scalar_type() == st)
            return;
        at::NoGradGuard no_grad;
        t->t.set_data(t->t.detach().to(st));
    });
}

bool ddad_tensor_is_memory_format(const ddad_tensor_t *t, ddad_memory_format_t fmt)
{
    if (!t || t->dead || !t->t.defined())
        return false;
    const int f = format_code(fmt);
    if (f == DDAD_MEMORY_FORMAT_CONTIGUOUS)
        return t->t.is_contiguous(at::MemoryFormat::Contiguous);
    if (f == DDAD_MEMORY_FORMAT_CHANNELS_LAST)
        return t->t.dim() == 4 && t->t.is_contiguous(at::MemoryFormat::ChannelsLast);
    return false;
}

int ddad_tensor_strides(const ddad_tensor_t *t, int64_t *strides, int cap)
{
    if (!t || t->dead || !t->t.defined())
        return 0;
    at::IntArrayRef s = t->t.strides();
    int n = static_cast<int>(s.size());
    for (int i = 0; i < n && i < cap; i++)
        strides[i] = s[static_cast<size_t>(i)];
    return n;
}

} // extern "C"
