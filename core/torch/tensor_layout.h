/* core/torch/tensor_layout.h - memory formats (the order in which a 4-D
 * tensor's elements lie in memory), part of the C API over libtorch
 * (implemented in tensor_layout.cpp, same handle and ownership rules as
 * tensor.h).
 *
 * A (N, C, H, W) tensor is CONTIGUOUS when W varies fastest (strides
 * (C*H*W, H*W, W, 1)) and CHANNELS_LAST when C does (strides (H*W*C, 1, W*C,
 * C), i.e. NHWC in memory with the NCHW shape kept). oneDNN and cuDNN have
 * kernels for both; a convolution's output follows its input's or its
 * weight's format, element-wise operations keep their input's. Shapes,
 * values and every other API call are the same in both formats.
 *
 *     ddad_tensor_t *xc;
 *     ddad_to_memory_format(&xc, x, DDAD_MEMORY_FORMAT_CHANNELS_LAST);   // (N, C, H, W)
 *     for (size_t i = 0; i < n_weights; i++)                 // parameters in place: optimizer,
 *         ddad_tensor_set_memory_format_(w[i], DDAD_MEMORY_FORMAT_CHANNELS_LAST); // registry keep them
 *     bool cl = ddad_tensor_is_memory_format(xc, DDAD_MEMORY_FORMAT_CHANNELS_LAST);   // true
 *     ddad_tensor_free(xc);
 */
#ifndef DDAD_TORCH_TENSOR_LAYOUT_H
#define DDAD_TORCH_TENSOR_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ddad_memory_format {
    DDAD_MEMORY_FORMAT_CONTIGUOUS = 0, /* row-major (N, C, H, W), any rank  */
    DDAD_MEMORY_FORMAT_CHANNELS_LAST   /* NHWC in memory, 4-D tensors only  */
} ddad_memory_format_t;

/* "contiguous", "channels_last" (static); "unknown" for other values. */
const char *ddad_memory_format_str(ddad_memory_format_t fmt);

/* t laid out in fmt: a new handle to the same storage when t already is,
 * else a copy (differentiable, like any other operation). CHANNELS_LAST on a
 * tensor that is not 4-D is a SHAPE error; an unknown fmt a USAGE error. */
ddad_status_t ddad_to_memory_format(ddad_tensor_t **out, const ddad_tensor_t *t, ddad_memory_format_t fmt);

/* Re-lays t's own data out in fmt, in place: the handle, and every other
 * handle or optimizer that shares the tensor, see the new layout; a leaf
 * parameter stays a leaf with its requires_grad (what PyTorch's
 * module.to(memory_format=...) does to parameters). No autograd history is
 * recorded. Same errors as ddad_to_memory_format. */
ddad_status_t ddad_tensor_set_memory_format_(ddad_tensor_t *t, ddad_memory_format_t fmt);

/* Converts t's own data to dtype dt, in place, like
 * ddad_tensor_set_memory_format_ (every handle sharing the tensor sees the
 * new dtype; no autograd history): what PyTorch's module.to(dtype) does to
 * parameters. A no-op when t already is dt. */
ddad_status_t ddad_tensor_set_dtype_(ddad_tensor_t *t, ddad_dtype_t dt);

/* Whether t's strides are those of fmt (libtorch's is_contiguous(fmt)).
 * False for NULL, an undefined tensor, or CHANNELS_LAST asked of a tensor
 * that is not 4-D. A (N, 1, H, W) or (N, C, 1, 1) tensor can be both. */
bool ddad_tensor_is_memory_format(const ddad_tensor_t *t, ddad_memory_format_t fmt);

/* Copies up to cap strides (in elements, dim 0 first) into strides; returns
 * the number of dims (0 for NULL or an undefined tensor). */
int ddad_tensor_strides(const ddad_tensor_t *t, int64_t *strides, int cap);

#ifdef __cplusplus
}
#endif
#endif
