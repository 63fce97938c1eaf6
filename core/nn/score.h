/* core/nn/score.h - anomaly maps and image scores for a batch of test images
 * or a whole test split (METHOD.md section 5), with the trained model's EMA
 * weights, without autograd.
 *
 *     ddad_model_t m;                      // created WITH_EMA | WITH_FEATURES, checkpoint loaded
 *     ddad_score_maps_t r;
 *     int64_t cls[2] = {0, 0}, ids[2] = {0, 1};
 *     if (ddad_score_images(&m, images, cls, ids, 2, &r)) ...   // images (2, 3, S, S) in [-1, 1]
 *     printf("%g %g\n", r.score[0], r.score[1]);                 // r.map (2, S, S)
 *     ddad_score_maps_free(&r);
 *
 * What is computed (m->cfg.score.*), for image x0 and each respaced t in
 * score.timesteps:
 *   x_t   = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, eps ~ N(0, I) (or
 *           pyramid noise, m->cfg.diffusion.noise; noise.h) drawn from
 *           libtorch's CPU generator seeded with
 *           ddad_score_noise_seed(seed, image_id, t) (splitmix64 of the three),
 *           so an image's maps depend only on (seed, its id, t): never on the
 *           batch it came in, the batch size or the device.
 *   With score.noise_draws = D > 1, D noises are drawn per (image, t)
 *   (seeds ddad_score_noise_seed_draw(seed, image_id, t, d), d = 0 .. D-1;
 *   draw 0 is the single-draw noise) and the kl / feat maps below are the
 *   mean over the D draws; the D triples go through the UNet in the same
 *   batches, so D draws cost D times the UNet work in fewer, larger calls.
 *   ONE UNet forward (EMA weights) at timestep_map[t] gives the output for the
 *   KL terms and the feature head; score.feature_timestep = respaced_quirk
 *   adds the authors' second forward for the head with the respaced index t.
 *   The (image, t) pairs of a call are stacked into UNet batches of up to
 *   score.batch_size pairs (image-major, t-minor; smaller batches loop).
 *   kl_steps[i, k]   = mean over RGB of the KL map in bits (the decoder NLL
 *                      at t = 0, as the reference), standardised per image and
 *                      timestep over (3, H, W) with the unbiased std;
 *   feat_steps[i, k] = mean over the 272 channels of (F_theta(x_t) - f(x0))^2
 *                      at features.score_size, bilinearly resized to (H, W)
 *                      (align_corners false).
 *   With score.normalize = good the KL maps are not standardised per image
 *   (raw bits); instead, when m->reference is set, pixel and feat below are
 *   normalised with the held-out good images' statistics (reference.h:
 *   (m - per-pixel mean) / std) before alpha combines them. Without a
 *   reference the raw maps are combined (that is how the reference itself is
 *   computed).
 *   pixel = mean over t of kl_steps; feat = mean over t of feat_steps;
 *   map   = alpha pixel + (1 - alpha) feat (score.alpha; the authors' script
 *           uses weights 1 and 1, ddad_anomaly_combine's w_pixel / w_feat),
 *   then optional Gaussian smoothing (score.smooth_sigma > 0; kernel
 *   score.smooth_kernel or, when 0, 2 ceil(4 sigma) + 1; reflect padding).
 *   score = mean of the score.topk largest map values (topk_mean) or the max.
 * score.method = rgb is the reconstruction ablation: kl_steps[i, k] holds
 *   mean over RGB of (x0_hat_t - x0)^2, x0_hat_t the clipped one-step
 *   prediction of x0 from x_t (the same UNet call), no standardisation, no
 *   feature map (feat_steps and feat are NULL), map = pixel.
 * Precision (score.precision):
 *   fp32 (default): everything in float32; no autocast state is touched.
 *   bf16 / fp16: autocast (thread-local, on only around these calls) in that
 *     dtype for the two network parts:
 *       - the EfficientNet feature target f(x0), and
 *       - the UNet forward(s) (eps, variance, feature head F_theta).
 *     Convolutions, linear layers and attention matmuls run in bf16 / fp16
 *     (on the CPU through oneDNN, native on AVX-512 BF16); the UNet's
 *     GroupNorm and the attention softmax run in float32, as under CUDA
 *     autocast (ddad_group_norm in core/torch does it on the CPU), and the
 *     timestep embedding is computed in float32; element-wise ops, the
 *     EfficientNet's BatchNorm (float32 statistics) and the resizes between
 *     follow their inputs' dtype (float32 if any input is). The outputs are
 *     cast to float32 before anything else, so noise, q_sample, the posterior, the KL
 *     terms and logs, the standardisation, the feature error and its resize,
 *     the timestep / draw averages, the map combination, smoothing and the
 *     image score are all float32. fp16 needs a CUDA device (status CONFIG
 *     otherwise, as the config validation says).
 * Everything is at the model resolution S x S; ddad_score_resize_bilinear
 * brings a map to an image's original size. Image scores are always taken on
 * the model-resolution map.
 *
 * Ownership: the arrays of ddad_score_maps_t are malloc'ed and owned by it
 * (ddad_score_maps_free, which accepts a zeroed struct). The model and the
 * inputs are borrowed.
 */
#ifndef DDAD_NN_SCORE_H
#define DDAD_NN_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "loader.h"
#include "anomaly_map.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ddad_score_maps {
    int64_t n, h, w;              /* images and map size (the model's S x S)         */
    int64_t n_t;                  /* timesteps                                        */
    int64_t n_draws;              /* noise draws averaged per timestep (score.noise_draws) */
    int64_t timesteps[DDAD_CONFIG_MAX_INTS]; /* (n_t) respaced indices               */
    float *kl_steps;              // (N, T, H, W) see above (rgb: squared error)
    float *feat_steps;            // (N, T, H, W) or NULL (rgb)
    float *pixel;                 // (N, H, W) mean over t of kl_steps
    float *feat;                  // (N, H, W) mean over t of feat_steps, or NULL
    float *map;                   // (N, H, W) anomaly map (combined, smoothed)
    float *score;                 // (N) image scores
    int64_t unet_calls;           /* UNet forwards made (batched calls count once)    */
} ddad_score_maps_t;

/* The noise seed of (image id, respaced t) under the config seed. */
uint64_t ddad_score_noise_seed(uint64_t seed, int64_t image_id, int64_t t);
/* ... of noise draw `draw` of that pair (draw 0 is ddad_score_noise_seed). */
uint64_t ddad_score_noise_seed_draw(uint64_t seed, int64_t image_id, int64_t t, int64_t draw);

/* Scores n images (N, 3, S, S) in [-1, 1] (host, S = m->cfg.data.image_size)
 * with class ids (N) (ignored by an unconditional model; NULL = all 0) and
 * image ids (N) for the noise (NULL = 0..N-1). The model needs EMA weights
 * and, for method ddad, the feature extractor. */
ddad_status_t ddad_score_images(const ddad_model_t *m, const float *images, const int64_t *class_ids,
                                const int64_t *image_ids, int64_t n, ddad_score_maps_t *out);
void ddad_score_maps_free(ddad_score_maps_t *r);

/* ---- a whole split ------------------------------------------------------------ */

/* One scored test image, handed to the callback in table order. Pointers are
 * valid during the call only. */
typedef struct ddad_score_row {
    int64_t index;                 /* position in the iterator                        */
    const ddad_test_item_t *item;  /* name, label, mask, original size                */
    const float *kl_steps;         // (T, H, W)
    const float *feat_steps;       // (T, H, W) or NULL
    const float *map;              // (H, W) model resolution
    float score;
    double seconds;                /* wall time of this image's share of its batch   */
} ddad_score_row_t;

typedef ddad_status_t (*ddad_score_row_fn)(void *user, const ddad_score_row_t *row);

/* Scores every item of the iterator (rewound first) in batches of
 * max(1, score.batch_size / T) images, image id = iterator position, class
 * id for all. Stops at the first error (the callback's included). */
ddad_status_t ddad_score_split(const ddad_model_t *m, ddad_testiter_t *it, int64_t class_id, ddad_score_row_fn fn,
                               void *user);

#ifdef __cplusplus
}
#endif
#endif
