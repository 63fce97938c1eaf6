/* core/nn/noise.h - the noise eps of q_sample (diffusion.noise), one function
 * for the trainer and the scorer, so both draw the same kind of noise.
 *
 *     ddad_tensor_t *eps;
 *     int64_t shape[4] = {B, 3, S, S};
 *     ddad_noise_draw(&eps, DDAD_NOISE_PYRAMID, 0.8, shape, 4, dev, gen);   // (B, 3, S, S)
 *
 * white:   one ddad_randn of the shape (bit for bit the same numbers as
 *          before the key existed).
 * pyramid: eps = w_0 + sum_k discount^k up(w_k), k = 1, 2, ... while the
 *          level is at least 1 x 1 px, where w_0 ~ N(0, I) has the full shape
 *          and w_k ~ N(0, I) has (N, C, floor(H / 2^k), floor(W / 2^k)),
 *          up() resizes bilinearly to (H, W) (align_corners false); drawn
 *          from gen in that order (w_0 first). Each image (the leading index;
 *          a 3-d shape is one image) is then divided by its unbiased std over
 *          (C, H, W), so every draw has unit variance as white noise has.
 *          Low-frequency power: at a small timestep the noise already
 *          covers soft, wide structures (stains) that white noise buries only
 *          where it also destroys the texture.
 *
 * Ownership: *out follows the scope rules of tensor.h. Nothing is returned on
 * failure.
 */
#ifndef DDAD_NN_NOISE_H
#define DDAD_NN_NOISE_H

#include <stdint.h>

#include "config.h"
#include "status.h"
#include "../torch/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Float32 noise of `shape` (ndim 3 = (C, H, W) or 4 = (N, C, H, W)) on dev,
 * drawn from gen. discount (0, 1] is used by pyramid noise only. */
ddad_status_t ddad_noise_draw(ddad_tensor_t **out, ddad_noise_t kind, double discount, const int64_t *shape, int ndim,
                              ddad_device_t dev, ddad_generator_t *gen);

#ifdef __cplusplus
}
#endif

#endif
