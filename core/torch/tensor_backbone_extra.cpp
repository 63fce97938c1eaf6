// core/torch/tensor_backbone_extra.cpp - batched linear algebra of the C API
// declared in tensor_backbone_extra.h.
#include "tensor_backbone_extra.h"

#include "tensor_internal.hpp"

#include <string>

using ddad::Arg;
using ddad::run;

namespace {

// Index of the first non-zero LAPACK info in a batch (info has the batch
// shape), or -1 when all are zero.
int64_t first_failure(const at::Tensor &info)
{
    at::Tensor flat = info.reshape({-1}).to(at::kCPU);
    at::Tensor nz = flat.nonzero();
    if (nz.numel() == 0)
        return -1;
    return nz[0][0].item<int64_t>();
}

ddad_status_t check_square(const char *op, const ddad_tensor_t *a)
{
    const at::Tensor &t = a->t;
    if (t.dim() < 2 || t.size(-1) != t.size(-2))
        return ddad_fail(DDAD_STATUS_SHAPE, "%s: expected a batch of square matrices (..., n, n), got %s", op,
                         ddad::describe(a).c_str());
    if (t.scalar_type() != at::kFloat && t.scalar_type() != at::kDouble)
        return ddad_fail(DDAD_STATUS_SHAPE, "%s: expected f32 or f64, got %s", op, ddad::describe(a).c_str());
    return DDAD_OK;
}

} // namespace

extern "C" {

ddad_status_t ddad_linalg_inv_spd(ddad_tensor_t **out, const ddad_tensor_t *a)
{
    const char *op = "ddad_linalg_inv_spd";
    ddad_status_t st = ddad::check_args(op, {{"a", a}});
    if (st != DDAD_OK || (st = check_square(op, a)) != DDAD_OK)
        return st;
    int64_t bad = -1;
    st = run(op, out, {{"a", a}}, [&] {
        at::NoGradGuard no_grad;
        at::Tensor L, info;
        std::tie(L, info) = at::linalg_cholesky_ex(a->t.detach());
        bad = first_failure(info);
        if (bad >= 0)
            return at::Tensor(); // reported below, nothing wrapped is used
        at::Tensor x = at::cholesky_inverse(L);
        return ((x + x.transpose(-2, -1)) * 0.5).contiguous();
    });
    if (st == DDAD_OK && bad >= 0) {
        ddad_tensor_free(*out);
        *out = nullptr;
        return ddad_fail(DDAD_STATUS_NUMERIC,
                         "%s: matrix %lld of the batch %s is not positive definite (Cholesky failed); "
                         "add a larger ridge (eps * I) or use more training images",
                         op, (long long)bad, ddad::describe(a).c_str());
    }
    return st;
}

ddad_status_t ddad_linalg_inv(ddad_tensor_t **out, const ddad_tensor_t *a)
{
    const char *op = "ddad_linalg_inv";
    ddad_status_t st = ddad::check_args(op, {{"a", a}});
    if (st != DDAD_OK || (st = check_square(op, a)) != DDAD_OK)
        return st;
    int64_t bad = -1;
    st = run(op, out, {{"a", a}}, [&] {
        at::Tensor x, info;
        std::tie(x, info) = at::linalg_inv_ex(a->t);
        bad = first_failure(info);
        return x;
    });
    if (st == DDAD_OK && bad >= 0) {
        ddad_tensor_free(*out);
        *out = nullptr;
        return ddad_fail(DDAD_STATUS_NUMERIC, "%s: matrix %lld of the batch %s is singular", op, (long long)bad,
                         ddad::describe(a).c_str());
    }
    return st;
}

} // extern "C"
