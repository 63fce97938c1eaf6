/* core/torch/tensor_backbone_extra.h - batched linear algebra for the
 * backbone statistics (PaDiM's per-location inverse covariances), part of the
 * C API over libtorch (implemented in tensor_backbone_extra.cpp, same handle
 * and ownership rules as tensor.h).
 *
 *     ddad_tensor_t *inv;                       // (L, d, d)
 *     if (ddad_linalg_inv_spd(&inv, cov) != DDAD_OK)   // cov (L, d, d) SPD
 *         ... ddad_last_error() names the first non-positive-definite matrix
 *     ddad_tensor_free(inv);
 */
#ifndef DDAD_TORCH_TENSOR_BACKBONE_EXTRA_H
#define DDAD_TORCH_TENSOR_BACKBONE_EXTRA_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Inverse of a batch of symmetric positive-definite matrices a (..., n, n)
 * through their Cholesky factors (LAPACK / cuSOLVER); the result is exactly
 * symmetric ((X + X^T) / 2). Only the lower triangle of a is read. A matrix
 * that is not positive definite is a NUMERIC error naming its batch index.
 * Same dtype (f32 or f64) and device as a; no autograd. */
ddad_status_t ddad_linalg_inv_spd(ddad_tensor_t **out, const ddad_tensor_t *a);

/* General inverse of a batch of square matrices a (..., n, n) (LU with
 * pivoting); a singular matrix is a NUMERIC error naming its batch index.
 * Differentiable. */
ddad_status_t ddad_linalg_inv(ddad_tensor_t **out, const ddad_tensor_t *a);

#ifdef __cplusplus
}
#endif
#endif
