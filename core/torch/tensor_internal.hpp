// core/torch/tensor_internal.hpp - what the C++ files of the shim share: the
// handle layout, handle creation (with scope registration) and the exception
// firewall. Only included by core/torch/*.cpp.
#ifndef DDAD_TORCH_TENSOR_INTERNAL_HPP
#define DDAD_TORCH_TENSOR_INTERNAL_HPP

#include <torch/torch.h>

#include <initializer_list>
#include <string>

#include "tensor.h"

struct ddad_tensor {
    at::Tensor t;
    bool scoped = false; // recorded in an open scope, freed by ddad_scope_end
    bool dead = false;   // freed by the user while scoped: storage released
};

struct ddad_generator {
    at::Generator g;
    ddad_device_t dev;
};

namespace ddad {

// A named tensor argument, for error messages.
struct Arg {
    const char *name;
    const ddad_tensor_t *t;
};

// New handle owning t (registered in the innermost open scope, if any).
ddad_tensor_t *wrap(at::Tensor t);

// "(2, 3, 32, 32) f32 cpu" or "undefined" / "NULL".
std::string describe(const ddad_tensor_t *t);
std::string describe_tensor(const at::Tensor &t);

at::ScalarType to_scalar_type(ddad_dtype_t dt);
ddad_dtype_t from_scalar_type(at::ScalarType st);
at::Device to_device(ddad_device_t dev);
ddad_device_t from_device(const at::Device &dev);

// Validates that every argument is a defined tensor; sets the message.
ddad_status_t check_args(const char *op, std::initializer_list<Arg> args);

// Records the exception currently being handled as a failure of op.
ddad_status_t fail_from_exception(const char *op, std::initializer_list<Arg> args);

// Runs f (returning at::Tensor) behind the firewall and wraps the result.
template <class F>
ddad_status_t run(const char *op, ddad_tensor_t **out, std::initializer_list<Arg> args, F &&f)
{
    if (!out)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: output pointer is NULL", op);
    ddad_status_t st = check_args(op, args);
    if (st != DDAD_OK)
        return st;
    try {
        at::Tensor r = f();
        *out = wrap(std::move(r));
        return DDAD_OK;
    } catch (...) {
        return fail_from_exception(op, args);
    }
}

// Runs f (returning void) behind the firewall.
template <class F>
ddad_status_t guard(const char *op, std::initializer_list<Arg> args, F &&f)
{
    ddad_status_t st = check_args(op, args);
    if (st != DDAD_OK)
        return st;
    try {
        f();
        return DDAD_OK;
    } catch (...) {
        return fail_from_exception(op, args);
    }
}

inline at::IntArrayRef dims_ref(const int64_t *shape, int ndim)
{
    return at::IntArrayRef(shape, static_cast<size_t>(ndim < 0 ? 0 : ndim));
}

} // namespace ddad

#endif
