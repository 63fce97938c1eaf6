/* core/nn/noise.c - white and pyramid noise (see noise.h). */
#include "noise.h"

/* pyramid noise drawn as the 4-d shape (N, C, H, W), returned as out_shape
 * (the same, or (C, H, W) for N = 1) */
static ddad_status_t pyramid(ddad_tensor_t **out, double discount, const int64_t *shape, const int64_t *out_shape,
                             int out_ndim, ddad_device_t dev, ddad_generator_t *gen)
{
    const int64_t N = shape[0], C = shape[1], H = shape[2], W = shape[3];
    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *eps, *sd;
    DDAD_TRY(ddad_randn(&eps, shape, 4, DDAD_DTYPE_F32, dev, gen)); // (N, C, H, W)
    double weight = 1.0;
    for (int64_t h = H / 2, w = W / 2; h >= 1 && w >= 1; h /= 2, w /= 2) {
        const int64_t ls[4] = {N, C, h, w};
        weight *= discount;
        size_t level_mark = ddad_scope_begin(); /* one level's temporaries at a time */
        ddad_tensor_t *level, *up;
        st = ddad_randn(&level, ls, 4, DDAD_DTYPE_F32, dev, gen);                        // (N, C, h, w)
        if (st == DDAD_OK)
            st = ddad_interpolate(&up, level, H, W, DDAD_INTERP_BILINEAR, false);        // (N, C, H, W)
        if (st == DDAD_OK)
            st = ddad_add_scaled_(eps, up, weight); /* eps += weight up */
        ddad_scope_end(level_mark);
        if (st != DDAD_OK)
            goto fail;
    }
    const int64_t dims[3] = {1, 2, 3};
    DDAD_TRY(ddad_std_dims(&sd, eps, dims, 3, true, true)); // (N, 1, 1, 1)
    DDAD_TRY(ddad_div(&eps, eps, sd));
    if (out_ndim == 3)
        DDAD_TRY(ddad_reshape(&eps, eps, out_shape, 3)); // (C, H, W)
    *out = ddad_tensor_keep(eps);
fail:
    ddad_scope_end(mark);
    return st;
}

ddad_status_t ddad_noise_draw(ddad_tensor_t **out, ddad_noise_t kind, double discount, const int64_t *shape, int ndim,
                              ddad_device_t dev, ddad_generator_t *gen)
{
    if (ndim != 3 && ndim != 4)
        return ddad_fail(DDAD_STATUS_SHAPE, "noise: shape of %d dimensions; (C, H, W) or (N, C, H, W) expected",
                         ndim);
    if (kind == DDAD_NOISE_WHITE)
        return ddad_randn(out, shape, ndim, DDAD_DTYPE_F32, dev, gen);
    if (kind != DDAD_NOISE_PYRAMID)
        return ddad_fail(DDAD_STATUS_USAGE, "noise: unknown kind %d", (int)kind);
    if (!(discount > 0 && discount <= 1))
        return ddad_fail(DDAD_STATUS_USAGE, "noise: pyramid discount %g outside (0, 1]", discount);
    const int64_t one[4] = {1, shape[0], shape[1], shape[2]}; /* a 3-d shape is one image */
    return pyramid(out, discount, ndim == 4 ? shape : one, shape, ndim, dev, gen);
}
