/* core/nn/tensor_h5.h - HDF5 datasets <-> tensors (on top of core/io/h5io.h).
 *
 *     ddad_h5_t *f;
 *     ddad_h5_open(&f, "unet_small.h5", DDAD_H5_READ);
 *     ddad_tensor_t *x;
 *     ddad_tensor_h5_read(&x, f, "inputs/x", DDAD_DTYPE_F32);   // (2, 3, 32, 32) on the CPU
 *     ddad_tensor_h5_write(f2, "maps/kl", x, DDAD_DTYPE_F32, 0);
 *     ddad_tensor_free(x);
 *     ddad_h5_close(f);
 *
 * Supported dtypes: F32, F64, I64, I32, U8, F16 (values are converted to the
 * requested dtype on read and on write). The returned tensor is a new CPU
 * tensor owned by the caller.
 */
#ifndef DDAD_NN_TENSOR_H5_H
#define DDAD_NN_TENSOR_H5_H

#include "h5io.h"
#include "status.h"
#include "../torch/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads dataset `name` (any numeric type in the file) as dtype dt. */
ddad_status_t ddad_tensor_h5_read(ddad_tensor_t **out, ddad_h5_t *f, const char *name, ddad_dtype_t dt);
/* Writes t (any device or layout) as dataset `name` of dtype dt, replacing
 * an existing one; compress_level as ddad_h5_write. */
ddad_status_t ddad_tensor_h5_write(ddad_h5_t *f, const char *name, const ddad_tensor_t *t, ddad_dtype_t dt,
                                   int compress_level);

#ifdef __cplusplus
}
#endif
#endif
