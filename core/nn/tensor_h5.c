/* core/nn/tensor_h5.c - see tensor_h5.h. */
#include "tensor_h5.h"

#include <stdlib.h>

static ddad_status_t h5_type(ddad_h5_type_t *out, ddad_dtype_t dt)
{
    switch (dt) {
    case DDAD_DTYPE_F32: *out = DDAD_H5_F32; return DDAD_OK;
    case DDAD_DTYPE_F64: *out = DDAD_H5_F64; return DDAD_OK;
    case DDAD_DTYPE_I64: *out = DDAD_H5_I64; return DDAD_OK;
    case DDAD_DTYPE_I32: *out = DDAD_H5_I32; return DDAD_OK;
    case DDAD_DTYPE_U8: *out = DDAD_H5_U8; return DDAD_OK;
    case DDAD_DTYPE_F16: *out = DDAD_H5_F16; return DDAD_OK;
    default:
        return ddad_fail(DDAD_STATUS_USAGE, "tensor <-> HDF5: dtype %s is not supported (use f32, f64, i64, i32, "
                         "u8 or f16)", ddad_dtype_str(dt));
    }
}

ddad_status_t ddad_tensor_h5_read(ddad_tensor_t **out, ddad_h5_t *f, const char *name, ddad_dtype_t dt)
{
    ddad_h5_type_t ht = DDAD_H5_F32; /* set by h5_type; the initialiser quiets GCC 12 */
    ddad_status_t st = h5_type(&ht, dt);
    if (st != DDAD_OK)
        return st;
    void *data = NULL;
    int64_t shape[DDAD_H5_MAX_DIMS];
    int ndim = 0;
    st = ddad_h5_read(f, name, ht, &data, shape, &ndim);
    if (st != DDAD_OK)
        return st;
    st = ddad_from_buffer(out, data, shape, ndim, dt);
    free(data);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "%s: dataset %s", ddad_h5_path(f), name);
    return DDAD_OK;
}

ddad_status_t ddad_tensor_h5_write(ddad_h5_t *f, const char *name, const ddad_tensor_t *t, ddad_dtype_t dt,
                                   int compress_level)
{
    ddad_h5_type_t ht = DDAD_H5_F32; /* set by h5_type; the initialiser quiets GCC 12 */
    ddad_status_t st = h5_type(&ht, dt);
    if (st != DDAD_OK)
        return st;
    int64_t shape[DDAD_MAX_DIMS];
    int ndim = ddad_tensor_shape(t, shape, DDAD_MAX_DIMS);
    size_t nbytes = (size_t)ddad_tensor_numel(t) * ddad_dtype_size(dt);
    void *data = malloc(nbytes ? nbytes : 1);
    if (!data)
        return ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory writing %s (%zu bytes)", ddad_h5_path(f), name, nbytes);
    st = ddad_to_buffer(t, data, nbytes, dt);
    if (st == DDAD_OK)
        st = ddad_h5_write(f, name, ht, data, shape, ndim, compress_level);
    free(data);
    return st;
}
