/* core/nn/params.h - named parameter tensors: the storage of every model.
 *
 * A model (UNet, EfficientNet, WideResNet) is a C struct of borrowed
 * ddad_tensor_t pointers; the tensors themselves are owned by one
 * ddad_params_t registry, in registration order, under their PyTorch
 * state_dict names ("input_blocks.1.0.in_layers.2.weight"), so that published
 * checkpoints map one to one and the optimizer, EMA, checkpoints and weight
 * import all work on the registry, not on the model.
 *
 *     ddad_params_t p;
 *     ddad_params_init(&p, DDAD_CPU);
 *     ddad_tensor_t *w;
 *     int64_t shape[4] = {32, 3, 3, 3};
 *     ddad_params_new(&p, &w, "input_blocks.0.0.weight", shape, 4);   // zeros
 *     ...
 *     ddad_params_load_h5(&p, file, "weights", DDAD_PARAMS_STRICT);
 *     ddad_params_free(&p);                      // frees every tensor
 *
 * Buffers (BatchNorm running statistics) are registered too, with
 * trainable = false, so they travel with the weights but are not optimised.
 */
#ifndef DDAD_NN_PARAMS_H
#define DDAD_NN_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "h5io.h"
#include "../torch/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DDAD_PARAM_NAME_MAX 160

typedef struct ddad_param {
    char name[DDAD_PARAM_NAME_MAX];
    ddad_tensor_t *tensor; /* owned by the registry                         */
    bool trainable;        /* false for buffers (running_mean, ...)         */
} ddad_param_t;

typedef struct ddad_params {
    ddad_param_t *items;   /* (n) in registration order                     */
    size_t n, cap;
    ddad_device_t device;  /* where new tensors are created                 */
    ddad_dtype_t dtype;    /* dtype of new tensors (f32)                    */
} ddad_params_t;

void ddad_params_init(ddad_params_t *p, ddad_device_t device);
/* Frees every tensor and the table; p may be NULL or already freed. */
void ddad_params_free(ddad_params_t *p);

/* Creates a zero tensor of the given shape, registers it under name (which
 * must be unique) and returns it borrowed through *out. */
ddad_status_t ddad_params_new(ddad_params_t *p, ddad_tensor_t **out, const char *name, const int64_t *shape, int ndim);
/* Same, for a non-trainable buffer. */
ddad_status_t ddad_params_new_buffer(ddad_params_t *p, ddad_tensor_t **out, const char *name, const int64_t *shape, int ndim);
/* printf-style name helper: ddad_params_newf(p, &w, shape, 4, "input_blocks.%d.0.weight", i). */
ddad_status_t ddad_params_newf(ddad_params_t *p, ddad_tensor_t **out, const int64_t *shape, int ndim, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Borrowed tensor of that name, or NULL. */
ddad_tensor_t *ddad_params_find(const ddad_params_t *p, const char *name);
/* Total number of elements (trainable only, or all). */
int64_t ddad_params_numel(const ddad_params_t *p, bool trainable_only);

/* Sets requires_grad on every trainable tensor (on) or on none. */
ddad_status_t ddad_params_set_requires_grad(ddad_params_t *p, bool on);
/* Converts, in place, every tensor of at least min_ndim dimensions to dt
 * (ddad_tensor_set_dtype_), except those named in keep (NULL-terminated;
 * NULL = none): min_ndim 2 takes the convolution and linear weights and
 * leaves biases and normalisation parameters as they are. *converted (may
 * be NULL) gets how many were converted. */
ddad_status_t ddad_params_set_dtype_(ddad_params_t *p, ddad_dtype_t dt, int min_ndim, const char *const *keep,
                                     size_t *converted);
/* Collects the trainable tensors into out (cap entries), returns the count. */
size_t ddad_params_trainable(const ddad_params_t *p, ddad_tensor_t **out, size_t cap);

/* PyTorch's default initialisation of nn.Conv / nn.Linear for a weight of
 * fan-in fan_in and its bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
ddad_status_t ddad_params_init_uniform(ddad_tensor_t *t, int64_t fan_in, ddad_generator_t *gen);

/* dst <- src tensor by tensor (same names, shapes; EMA initialisation). */
ddad_status_t ddad_params_copy(ddad_params_t *dst, const ddad_params_t *src);
/* EMA: dst <- decay * dst + (1 - decay) * src, trainable tensors only;
 * buffers are copied. */
ddad_status_t ddad_params_ema_update(ddad_params_t *dst, const ddad_params_t *src, double decay);
/* A new registry with clones of every tensor (same names), on the same device. */
ddad_status_t ddad_params_clone(ddad_params_t *out, const ddad_params_t *src);

typedef enum ddad_params_load_mode {
    DDAD_PARAMS_STRICT = 0,  /* every registered name must be in the file, no extra names */
    DDAD_PARAMS_PARTIAL,     /* missing names keep their values; extra names are ignored
                                (and listed at debug level); a name present with the
                                wrong shape is still an error                            */
    DDAD_PARAMS_REQUIRE_ALL  /* every registered name must be in the file (the error
                                counts the missing ones and names the first); extra
                                names are ignored (a full backbone checkpoint)           */
} ddad_params_load_mode_t;

/* Reads group/<name> for every parameter (float32 or float16 in the file),
 * checking shapes; errors name the parameter, both shapes and the file.
 * n_loaded (may be NULL) receives how many tensors were read. */
ddad_status_t ddad_params_load_h5(ddad_params_t *p, ddad_h5_t *f, const char *group, ddad_params_load_mode_t mode,
                                  size_t *n_loaded);
/* Writes every tensor as float32 group/<name> (with its PyTorch shape). */
ddad_status_t ddad_params_save_h5(const ddad_params_t *p, ddad_h5_t *f, const char *group);

#ifdef __cplusplus
}
#endif
#endif
