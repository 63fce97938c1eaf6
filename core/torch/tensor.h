/* core/torch/tensor.h - the plain C API over libtorch (the only C++ in ddad is
 * behind this header, in tensor.cpp).
 *
 * Overview
 * --------
 * A ddad_tensor_t is an opaque handle to a libtorch tensor (reference-counted
 * storage: views share it). Every operation that can fail returns a
 * ddad_status_t and writes its result to an out-pointer only on success; on
 * failure the thread-local message (ddad_last_error()) says which operation
 * failed and with which shapes, dtypes and devices. No C++ exception ever
 * crosses this boundary.
 *
 * Ownership: every handle returned through an out-pointer is owned by the
 * caller and released with ddad_tensor_free() (NULL is accepted), unless a
 * scope is open (see below). Inputs are borrowed.
 *
 * Scopes: model code creates many temporaries. Between ddad_scope_begin() and
 * ddad_scope_end(token) every newly created handle is recorded and freed by
 * ddad_scope_end(), except handles passed to ddad_tensor_keep() (those move to
 * the enclosing scope, or to the caller when no scope encloses). Scopes nest;
 * ending a scope also ends any inner scope left open.
 *
 *     size_t mark = ddad_scope_begin();
 *     ddad_status_t st = DDAD_OK;
 *     ddad_tensor_t *h, *y;
 *     DDAD_TRY(ddad_conv2d(&h, x, w, b, 1, 1, 1, 1, 1, 1, 1));   // (N, C, H, W)
 *     DDAD_TRY(ddad_silu(&y, h));
 *     ddad_tensor_keep(y);
 *     *out = y;
 * fail:
 *     ddad_scope_end(mark);
 *     return st;
 *
 * Autograd follows libtorch: operations on tensors that require grad are
 * recorded unless grad mode is off (ddad_grad_set_enabled(false)).
 */
#ifndef DDAD_TORCH_TENSOR_H
#define DDAD_TORCH_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ddad_tensor ddad_tensor_t;       /* opaque, see above          */
typedef struct ddad_generator ddad_generator_t; /* seeded random generator    */
typedef struct ddad_adamw ddad_adamw_t;         /* AdamW optimizer state      */

typedef enum ddad_dtype {
    DDAD_DTYPE_F32 = 0,
    DDAD_DTYPE_F16,
    DDAD_DTYPE_BF16,
    DDAD_DTYPE_F64,
    DDAD_DTYPE_I64,
    DDAD_DTYPE_I32,
    DDAD_DTYPE_U8,
    DDAD_DTYPE_BOOL
} ddad_dtype_t;

/* A device: type 0 = CPU, 1 = CUDA; index -1 = default. */
typedef struct ddad_device {
    int type;
    int index;
} ddad_device_t;

#define DDAD_DEVICE_TYPE_CPU 0
#define DDAD_DEVICE_TYPE_CUDA 1
#define DDAD_MAX_DIMS 8

static const ddad_device_t DDAD_CPU = {DDAD_DEVICE_TYPE_CPU, -1};

/* ---- library ------------------------------------------------------------ */

const char *ddad_torch_version(void);          /* e.g. "1.13.0" (static)   */
size_t ddad_dtype_size(ddad_dtype_t dt);
const char *ddad_dtype_str(ddad_dtype_t dt);
/* Parses "cpu", "cuda", "cuda:N". */
ddad_status_t ddad_device_parse(ddad_device_t *out, const char *text);
/* Checks that the device exists (CUDA compiled in, index < count). */
ddad_status_t ddad_device_check(ddad_device_t dev);
void ddad_device_str(ddad_device_t dev, char *buf, size_t cap);
bool ddad_cuda_is_available(void);
int ddad_cuda_device_count(void);
ddad_status_t ddad_cuda_synchronize(void);

void ddad_set_num_threads(int n);              /* intra-op threads          */
int ddad_get_num_threads(void);
/* Deterministic algorithms (and cuDNN deterministic, no benchmark) on/off. */
ddad_status_t ddad_set_deterministic(bool on);
void ddad_manual_seed(uint64_t seed);          /* libtorch's global default */

/* ---- scopes ------------------------------------------------------------- */

/* Returns a token for ddad_scope_end (the nesting depth). */
size_t ddad_scope_begin(void);
void ddad_scope_end(size_t token);
/* Moves t from the innermost scope to the enclosing one (or to the caller
 * when no scope encloses). Returns t. */
ddad_tensor_t *ddad_tensor_keep(ddad_tensor_t *t);
/* Takes t out of all open scopes (for long-lived tensors such as
 * parameters created while model code has a scope open). Returns t. */
ddad_tensor_t *ddad_tensor_persist(ddad_tensor_t *t);
/* Number of live handles (for leak tests). */
size_t ddad_tensor_live_count(void);

/* ---- handles and metadata ------------------------------------------------ */

void ddad_tensor_free(ddad_tensor_t *t);
/* New handle to the same tensor (shares storage and autograd identity). */
ddad_status_t ddad_tensor_ref(ddad_tensor_t **out, const ddad_tensor_t *t);
int ddad_tensor_dim(const ddad_tensor_t *t);
int64_t ddad_tensor_size(const ddad_tensor_t *t, int dim); /* dim < 0 counts from the end */
/* Copies up to cap sizes into shape, returns the number of dims. */
int ddad_tensor_shape(const ddad_tensor_t *t, int64_t *shape, int cap);
int64_t ddad_tensor_numel(const ddad_tensor_t *t);
ddad_dtype_t ddad_tensor_dtype(const ddad_tensor_t *t);
ddad_device_t ddad_tensor_device(const ddad_tensor_t *t);
bool ddad_tensor_defined(const ddad_tensor_t *t);
/* "(2, 3, 32, 32) f32 cpu" into buf. */
void ddad_tensor_describe(const ddad_tensor_t *t, char *buf, size_t cap);
/* Value of a one-element tensor as double. */
ddad_status_t ddad_tensor_item(double *out, const ddad_tensor_t *t);

/* ---- creation ------------------------------------------------------------ */

ddad_status_t ddad_zeros(ddad_tensor_t **out, const int64_t *shape, int ndim, ddad_dtype_t dt, ddad_device_t dev);
ddad_status_t ddad_ones(ddad_tensor_t **out, const int64_t *shape, int ndim, ddad_dtype_t dt, ddad_device_t dev);
ddad_status_t ddad_full(ddad_tensor_t **out, const int64_t *shape, int ndim, double value, ddad_dtype_t dt, ddad_device_t dev);
/* start, start+step, ... < end */
ddad_status_t ddad_arange(ddad_tensor_t **out, double start, double end, double step, ddad_dtype_t dt, ddad_device_t dev);
/* Standard normal / uniform [0,1). gen NULL = libtorch's default generator. */
ddad_status_t ddad_randn(ddad_tensor_t **out, const int64_t *shape, int ndim, ddad_dtype_t dt, ddad_device_t dev, ddad_generator_t *gen);
ddad_status_t ddad_rand(ddad_tensor_t **out, const int64_t *shape, int ndim, ddad_dtype_t dt, ddad_device_t dev, ddad_generator_t *gen);
/* Uniform integers in [low, high). */
ddad_status_t ddad_randint(ddad_tensor_t **out, int64_t low, int64_t high, const int64_t *shape, int ndim, ddad_device_t dev, ddad_generator_t *gen);
/* A random permutation of 0..n-1 (i64, CPU). */
ddad_status_t ddad_randperm(ddad_tensor_t **out, int64_t n, ddad_generator_t *gen);
/* Copies a C-contiguous host buffer of dtype dt into a new CPU tensor. */
ddad_status_t ddad_from_buffer(ddad_tensor_t **out, const void *data, const int64_t *shape, int ndim, ddad_dtype_t dt);
/* Copies t (any device, any layout) into a host buffer as C-contiguous dtype
 * dt (converting); nbytes must equal numel * ddad_dtype_size(dt). */
ddad_status_t ddad_to_buffer(const ddad_tensor_t *t, void *data, size_t nbytes, ddad_dtype_t dt);
ddad_status_t ddad_scalar_tensor(ddad_tensor_t **out, double value, ddad_dtype_t dt, ddad_device_t dev);

/* ---- dtype, device, layout ----------------------------------------------- */

ddad_status_t ddad_to_dtype(ddad_tensor_t **out, const ddad_tensor_t *t, ddad_dtype_t dt);
ddad_status_t ddad_to_device(ddad_tensor_t **out, const ddad_tensor_t *t, ddad_device_t dev);
ddad_status_t ddad_contiguous(ddad_tensor_t **out, const ddad_tensor_t *t);
ddad_status_t ddad_channels_last(ddad_tensor_t **out, const ddad_tensor_t *t); /* 4-D only */
ddad_status_t ddad_clone(ddad_tensor_t **out, const ddad_tensor_t *t);
ddad_status_t ddad_detach(ddad_tensor_t **out, const ddad_tensor_t *t);

/* ---- views and shape ------------------------------------------------------ */

ddad_status_t ddad_reshape(ddad_tensor_t **out, const ddad_tensor_t *t, const int64_t *shape, int ndim);
ddad_status_t ddad_permute(ddad_tensor_t **out, const ddad_tensor_t *t, const int64_t *dims, int ndim);
ddad_status_t ddad_transpose(ddad_tensor_t **out, const ddad_tensor_t *t, int64_t d0, int64_t d1);
/* t[..., start:end:step, ...] along dim (end clamped like Python). */
ddad_status_t ddad_slice(ddad_tensor_t **out, const ddad_tensor_t *t, int64_t dim, int64_t start, int64_t end, int64_t step);
/* t.select(dim, index): drops dim. */
ddad_status_t ddad_select(ddad_tensor_t **out, const ddad_tensor_t *t, int64_t dim, int64_t index);
ddad_status_t ddad_cat(ddad_tensor_t **out, const ddad_tensor_t *const *ts, size_t n, int64_t dim);
ddad_status_t ddad_stack(ddad_tensor_t **out, const ddad_tensor_t *const *ts, size_t n, int64_t dim);
/* Splits into exactly n chunks along dim (outs must hold n handles). */
ddad_status_t ddad_chunk(ddad_tensor_t **outs, const ddad_tensor_t *t, int64_t n, int64_t dim);
ddad_status_t ddad_unsqueeze(ddad_tensor_t **out, const ddad_tensor_t *t, int64_t dim);
ddad_status_t ddad_squeeze(ddad_tensor_t **out, const ddad_tensor_t *t, int64_t dim);
ddad_status_t ddad_flatten(ddad_tensor_t **out, const ddad_tensor_t *t, int64_t start_dim, int64_t end_dim);
ddad_status_t ddad_expand(ddad_tensor_t **out, const ddad_tensor_t *t, const int64_t *shape, int ndim);
/* index is a 1-D i64 tensor. */
ddad_status_t ddad_index_select(ddad_tensor_t **out, const ddad_tensor_t *t, int64_t dim, const ddad_tensor_t *index);
/* Rows of weight (V, D) for i64 indices of any shape: (..., D). */
ddad_status_t ddad_embedding(ddad_tensor_t **out, const ddad_tensor_t *weight, const ddad_tensor_t *indices);
/* Rotation by angle degrees about the centre (bilinear, zero fill outside),
 * on a (N, C, H, W) batch, one angle per image (angles_deg has N values). */
ddad_status_t ddad_rotate(ddad_tensor_t **out, const ddad_tensor_t *x, const double *angles_deg, int64_t n);

/* ---- arithmetic and elementwise (broadcasting as in torch) ---------------- */

ddad_status_t ddad_add(ddad_tensor_t **out, const ddad_tensor_t *a, const ddad_tensor_t *b);
ddad_status_t ddad_sub(ddad_tensor_t **out, const ddad_tensor_t *a, const ddad_tensor_t *b);
ddad_status_t ddad_mul(ddad_tensor_t **out, const ddad_tensor_t *a, const ddad_tensor_t *b);
ddad_status_t ddad_div(ddad_tensor_t **out, const ddad_tensor_t *a, const ddad_tensor_t *b);
/* a + alpha * b */
ddad_status_t ddad_add_scaled(ddad_tensor_t **out, const ddad_tensor_t *a, const ddad_tensor_t *b, double alpha);
ddad_status_t ddad_add_scalar(ddad_tensor_t **out, const ddad_tensor_t *a, double s);
ddad_status_t ddad_mul_scalar(ddad_tensor_t **out, const ddad_tensor_t *a, double s);
ddad_status_t ddad_pow_scalar(ddad_tensor_t **out, const ddad_tensor_t *a, double p);
/* s - a */
ddad_status_t ddad_rsub_scalar(ddad_tensor_t **out, const ddad_tensor_t *a, double s);

typedef enum ddad_unary {
    DDAD_UNARY_NEG = 0,
    DDAD_UNARY_ABS,
    DDAD_UNARY_EXP,
    DDAD_UNARY_LOG,
    DDAD_UNARY_SQRT,
    DDAD_UNARY_RSQRT,
    DDAD_UNARY_SQUARE,
    DDAD_UNARY_TANH,
    DDAD_UNARY_SIGMOID,
    DDAD_UNARY_SILU,
    DDAD_UNARY_RELU,
    DDAD_UNARY_GELU,
    DDAD_UNARY_SIN,
    DDAD_UNARY_COS,
    DDAD_UNARY_FLOOR,
    DDAD_UNARY_RECIPROCAL
} ddad_unary_t;

ddad_status_t ddad_unary(ddad_tensor_t **out, const ddad_tensor_t *a, ddad_unary_t op);
/* Shorthands for the common ones. */
ddad_status_t ddad_exp(ddad_tensor_t **out, const ddad_tensor_t *a);
ddad_status_t ddad_tensor_log(ddad_tensor_t **out, const ddad_tensor_t *a); /* natural log */
ddad_status_t ddad_sqrt(ddad_tensor_t **out, const ddad_tensor_t *a);
ddad_status_t ddad_silu(ddad_tensor_t **out, const ddad_tensor_t *a);
ddad_status_t ddad_relu(ddad_tensor_t **out, const ddad_tensor_t *a);
ddad_status_t ddad_sigmoid(ddad_tensor_t **out, const ddad_tensor_t *a);

ddad_status_t ddad_clamp(ddad_tensor_t **out, const ddad_tensor_t *a, double lo, double hi);
ddad_status_t ddad_clamp_min(ddad_tensor_t **out, const ddad_tensor_t *a, double lo);
/* cond ? a : b (cond is bool or u8) */
ddad_status_t ddad_where(ddad_tensor_t **out, const ddad_tensor_t *cond, const ddad_tensor_t *a, const ddad_tensor_t *b);

typedef enum ddad_cmp {
    DDAD_CMP_LT = 0,
    DDAD_CMP_LE,
    DDAD_CMP_GT,
    DDAD_CMP_GE,
    DDAD_CMP_EQ,
    DDAD_CMP_NE
} ddad_cmp_t;
/* Elementwise comparison with a scalar, result bool. */
ddad_status_t ddad_compare_scalar(ddad_tensor_t **out, const ddad_tensor_t *a, ddad_cmp_t op, double s);
/* True when every element is finite. */
ddad_status_t ddad_all_finite(bool *out, const ddad_tensor_t *a);

ddad_status_t ddad_softmax(ddad_tensor_t **out, const ddad_tensor_t *a, int64_t dim);
ddad_status_t ddad_log_softmax(ddad_tensor_t **out, const ddad_tensor_t *a, int64_t dim);

/* ---- reductions ----------------------------------------------------------- */

ddad_status_t ddad_sum(ddad_tensor_t **out, const ddad_tensor_t *a); /* all elements -> 0-d */
ddad_status_t ddad_mean(ddad_tensor_t **out, const ddad_tensor_t *a);
ddad_status_t ddad_sum_dims(ddad_tensor_t **out, const ddad_tensor_t *a, const int64_t *dims, int ndims, bool keepdim);
ddad_status_t ddad_mean_dims(ddad_tensor_t **out, const ddad_tensor_t *a, const int64_t *dims, int ndims, bool keepdim);
/* Variance / standard deviation over dims (unbiased = Bessel's correction). */
ddad_status_t ddad_var_dims(ddad_tensor_t **out, const ddad_tensor_t *a, const int64_t *dims, int ndims, bool unbiased, bool keepdim);
ddad_status_t ddad_std_dims(ddad_tensor_t **out, const ddad_tensor_t *a, const int64_t *dims, int ndims, bool unbiased, bool keepdim);
ddad_status_t ddad_max(ddad_tensor_t **out, const ddad_tensor_t *a); /* all elements -> 0-d */
ddad_status_t ddad_min(ddad_tensor_t **out, const ddad_tensor_t *a);
/* Max along dim: values and (optional, may be NULL) i64 indices. */
ddad_status_t ddad_max_dim(ddad_tensor_t **values, ddad_tensor_t **indices, const ddad_tensor_t *a, int64_t dim, bool keepdim);
/* k largest (or smallest) along dim, sorted; indices may be NULL. */
ddad_status_t ddad_topk(ddad_tensor_t **values, ddad_tensor_t **indices, const ddad_tensor_t *a, int64_t k, int64_t dim, bool largest);

/* ---- neural-network operations ------------------------------------------- */

/* x (N, Cin, H, W), w (Cout, Cin/groups, kh, kw), b (Cout) or NULL. */
ddad_status_t ddad_conv2d(ddad_tensor_t **out, const ddad_tensor_t *x, const ddad_tensor_t *w, const ddad_tensor_t *b,
                          int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                          int64_t dil_h, int64_t dil_w, int64_t groups);
/* x (N, Cin, L), w (Cout, Cin/groups, k), b (Cout) or NULL. */
ddad_status_t ddad_conv1d(ddad_tensor_t **out, const ddad_tensor_t *x, const ddad_tensor_t *w, const ddad_tensor_t *b,
                          int64_t stride, int64_t pad, int64_t dil, int64_t groups);
/* x (..., in), w (out, in), b (out) or NULL -> (..., out). */
ddad_status_t ddad_linear(ddad_tensor_t **out, const ddad_tensor_t *x, const ddad_tensor_t *w, const ddad_tensor_t *b);
/* x (N, C, ...); w, b (C) or NULL. */
ddad_status_t ddad_group_norm(ddad_tensor_t **out, const ddad_tensor_t *x, int64_t groups, const ddad_tensor_t *w, const ddad_tensor_t *b, double eps);
/* Inference batch norm with running statistics; w, b may be NULL. */
ddad_status_t ddad_batch_norm_eval(ddad_tensor_t **out, const ddad_tensor_t *x, const ddad_tensor_t *w, const ddad_tensor_t *b,
                                   const ddad_tensor_t *running_mean, const ddad_tensor_t *running_var, double eps);
ddad_status_t ddad_layer_norm(ddad_tensor_t **out, const ddad_tensor_t *x, const int64_t *normalized_shape, int ndim,
                              const ddad_tensor_t *w, const ddad_tensor_t *b, double eps);
ddad_status_t ddad_matmul(ddad_tensor_t **out, const ddad_tensor_t *a, const ddad_tensor_t *b);
ddad_status_t ddad_bmm(ddad_tensor_t **out, const ddad_tensor_t *a, const ddad_tensor_t *b);
/* softmax(q k^T * scale) v for q (B, Tq, D), k (B, Tk, D), v (B, Tk, Dv);
 * scale <= 0 means 1/sqrt(D). Uses libtorch's fused kernel where available. */
ddad_status_t ddad_attention(ddad_tensor_t **out, const ddad_tensor_t *q, const ddad_tensor_t *k, const ddad_tensor_t *v, double scale);

typedef enum ddad_interp {
    DDAD_INTERP_NEAREST = 0,
    DDAD_INTERP_BILINEAR,
    DDAD_INTERP_BICUBIC,
    DDAD_INTERP_AREA
} ddad_interp_t;
/* x (N, C, H, W) -> (N, C, out_h, out_w), align_corners as torch has it
 * (ignored for nearest and area). antialias only where libtorch supports it. */
ddad_status_t ddad_interpolate(ddad_tensor_t **out, const ddad_tensor_t *x, int64_t out_h, int64_t out_w,
                               ddad_interp_t mode, bool align_corners);
ddad_status_t ddad_avg_pool2d(ddad_tensor_t **out, const ddad_tensor_t *x, int64_t kernel, int64_t stride, int64_t pad);
ddad_status_t ddad_max_pool2d(ddad_tensor_t **out, const ddad_tensor_t *x, int64_t kernel, int64_t stride, int64_t pad);
ddad_status_t ddad_adaptive_avg_pool2d(ddad_tensor_t **out, const ddad_tensor_t *x, int64_t out_h, int64_t out_w);

typedef enum ddad_pad_mode {
    DDAD_PAD_CONSTANT = 0,
    DDAD_PAD_REFLECT,
    DDAD_PAD_REPLICATE
} ddad_pad_mode_t;
/* Pads the last two dims: (left, right, top, bottom) as F.pad. */
ddad_status_t ddad_pad2d(ddad_tensor_t **out, const ddad_tensor_t *x, int64_t left, int64_t right, int64_t top, int64_t bottom,
                         ddad_pad_mode_t mode, double value);

/* ---- in-place updates (on parameters and buffers; no autograd) ----------- */

ddad_status_t ddad_copy_(ddad_tensor_t *dst, const ddad_tensor_t *src);   /* dst <- src   */
ddad_status_t ddad_fill_(ddad_tensor_t *dst, double value);
ddad_status_t ddad_zero_(ddad_tensor_t *dst);
ddad_status_t ddad_mul_scalar_(ddad_tensor_t *dst, double s);
ddad_status_t ddad_add_scaled_(ddad_tensor_t *dst, const ddad_tensor_t *src, double alpha); /* dst += alpha src */
ddad_status_t ddad_lerp_(ddad_tensor_t *dst, const ddad_tensor_t *src, double weight);      /* dst += w (src - dst) */
ddad_status_t ddad_normal_(ddad_tensor_t *dst, double mean, double std, ddad_generator_t *gen);
ddad_status_t ddad_uniform_(ddad_tensor_t *dst, double lo, double hi, ddad_generator_t *gen);

/* ---- autograd ------------------------------------------------------------- */

ddad_status_t ddad_set_requires_grad(ddad_tensor_t *t, bool on);
bool ddad_requires_grad(const ddad_tensor_t *t);
/* loss must be a one-element tensor. Accumulates into .grad of the leaves. */
ddad_status_t ddad_backward(const ddad_tensor_t *loss);
/* The gradient of a leaf, or *out = NULL when it has none. */
ddad_status_t ddad_grad(ddad_tensor_t **out, const ddad_tensor_t *t);
/* Drops the gradient of t (set_to_none). */
void ddad_zero_grad(ddad_tensor_t *t);
/* Grad mode (thread-local); returns the previous setting. */
bool ddad_grad_set_enabled(bool on);
bool ddad_grad_is_enabled(void);
/* Scales all gradients so that their global L2 norm is at most max_norm;
 * *total_norm (may be NULL) receives the norm before clipping. */
ddad_status_t ddad_clip_grad_norm(ddad_tensor_t *const *params, size_t n, double max_norm, double *total_norm);

/* ---- activation checkpointing --------------------------------------------- */

/* A piece of model code run by ddad_checkpoint: computes *out (an owned
 * handle) from inputs[0..n_inputs), reading its parameters through user. It
 * runs twice, so it must depend on nothing else (no random draws). */
typedef ddad_status_t (*ddad_checkpoint_fn)(void *user, const ddad_tensor_t *const *inputs, size_t n_inputs,
                                            ddad_tensor_t **out);

/* *out = fn(inputs), trading compute for memory like torch.utils.checkpoint
 * (guided-diffusion's use_checkpoint). When grad mode is on and an input or
 * a parameter requires grad, fn runs with grad mode off, so its intermediate
 * activations are freed at once; only the inputs (and the autocast state)
 * are kept, and the backward pass runs fn again with grad on to get the
 * gradients of the inputs and of params[0..n_params) - the parameters fn
 * reads, which then accumulate into their .grad as in a plain backward (to
 * float rounding: the recomputation is the same arithmetic). Otherwise fn is
 * simply called. user must stay valid until *out's backward has run or *out
 * is freed. An error of fn in the backward pass makes ddad_backward return
 * fn's status. */
ddad_status_t ddad_checkpoint(ddad_tensor_t **out, ddad_checkpoint_fn fn, void *user, const ddad_tensor_t *const *inputs,
                              size_t n_inputs, ddad_tensor_t *const *params, size_t n_params);

/* ---- mixed precision ------------------------------------------------------ */

/* Enables autocast for the device type of dev with dtype f16 or bf16, or
 * disables it (on = false). Thread-local; returns the previous state. */
ddad_status_t ddad_autocast_set(bool on, ddad_device_t dev, ddad_dtype_t dt, bool *was_on);

/* ---- generators ----------------------------------------------------------- */

ddad_status_t ddad_generator_create(ddad_generator_t **out, uint64_t seed, ddad_device_t dev);
void ddad_generator_free(ddad_generator_t *g);
ddad_status_t ddad_generator_seed(ddad_generator_t *g, uint64_t seed);
/* State as a u8 tensor on the CPU (for checkpoints) and back. */
ddad_status_t ddad_generator_get_state(ddad_generator_t *g, ddad_tensor_t **state);
ddad_status_t ddad_generator_set_state(ddad_generator_t *g, const ddad_tensor_t *state);

/* ---- AdamW ---------------------------------------------------------------- */

typedef struct ddad_adamw_options {
    double lr;           /* 1e-4 in the paper                         */
    double beta1, beta2; /* 0.9, 0.999                                */
    double eps;          /* 1e-8                                      */
    double weight_decay; /* decoupled, 0 in the paper                 */
} ddad_adamw_options_t;

/* Optimises the given leaf tensors (borrowed: they must outlive the
 * optimizer). The update is torch.optim.AdamW's (non-amsgrad). */
ddad_status_t ddad_adamw_create(ddad_adamw_t **out, ddad_tensor_t *const *params, size_t n, ddad_adamw_options_t opt);
void ddad_adamw_free(ddad_adamw_t *o);
void ddad_adamw_set_lr(ddad_adamw_t *o, double lr);
double ddad_adamw_get_lr(const ddad_adamw_t *o);
/* One update with the current gradients (parameters without a gradient are
 * skipped); then the step counter is incremented. */
ddad_status_t ddad_adamw_step(ddad_adamw_t *o);
void ddad_adamw_zero_grad(ddad_adamw_t *o);
int64_t ddad_adamw_get_step(const ddad_adamw_t *o);
void ddad_adamw_set_step(ddad_adamw_t *o, int64_t step);
/* Borrowed handles to the first and second moment of parameter i (for
 * checkpoints: read them, or copy_ into them to restore). */
ddad_tensor_t *ddad_adamw_exp_avg(ddad_adamw_t *o, size_t i);
ddad_tensor_t *ddad_adamw_exp_avg_sq(ddad_adamw_t *o, size_t i);

#ifdef __cplusplus
}
#endif
#endif
