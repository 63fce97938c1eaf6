/* core/report/anomaly_map.h - the host-side steps that turn per-timestep
 * maps into an anomaly map and an image score (METHOD.md section 5), in
 * plain C: the mean over timesteps and the alpha combination, Gaussian
 * smoothing, the image score, and the bilinear resize to an image's
 * original size. core/nn/score.c applies them after the network; the alpha
 * sweep redoes them from a maps file and ddad-eval --maps-dir resizes
 * foreign maps with them, neither of which needs libtorch.
 *
 *     ddad_score_combine(kl_steps, feat_steps, T, H * W, 0.5, pixel, feat, map);
 *     ddad_score_smooth(map, H, W, 4.0, 0);
 *     float s = ddad_score_image(map, H * W, DDAD_IMAGE_SCORE_TOPK_MEAN, 64);
 *
 * Ownership: every array is the caller's; nothing is allocated that
 * outlives a call.
 */
#ifndef DDAD_REPORT_ANOMALY_MAP_H
#define DDAD_REPORT_ANOMALY_MAP_H

#include <stdint.h>

#include "config.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* pixel/feat/map (H*W each) of one image from its kl_steps (T, H, W) and
 * feat_steps (T, H, W) (NULL: map = pixel, feat untouched and may be NULL). */
void ddad_score_combine(const float *kl_steps, const float *feat_steps, int64_t n_t, int64_t hw, double alpha,
                        float *pixel, float *feat, float *map);

/* In-place separable Gaussian blur of map (H, W); kernel 0 = 2 ceil(4 sigma) + 1
 * (odd, clamped so the reflect padding fits); sigma <= 0 does nothing. */
ddad_status_t ddad_score_smooth(float *map, int64_t h, int64_t w, double sigma, int kernel);

/* Image score of a map of hw values: mean of the k largest (topk_mean, k
 * clamped to hw) or the max. */
float ddad_score_image(const float *map, int64_t hw, ddad_image_score_t how, int k);

struct ddad_score_reference;

/* The whole host side for one image, as ddad_score_images does it: from its
 * raw per-timestep maps kl_steps and feat_steps (T, S, S; feat_steps NULL
 * without a feature branch) to pixel, feat (S*S; feat may be NULL without
 * feat_steps), the smoothed anomaly map (S*S) and *score. ref: the held-out
 * statistics under score.normalize good (NULL: the maps are combined as
 * they are). NUMERIC status naming the pixel when the map is not finite. */
ddad_status_t ddad_score_map_from_steps(const ddad_config_score_t *sc, const struct ddad_score_reference *ref,
                                        int64_t S, const float *kl_steps, const float *feat_steps, int64_t T,
                                        float *pixel, float *feat, float *map, float *score);

/* Bilinear resize (torch's interpolate, align_corners false, no antialias)
 * of in (h, w) to out (oh, ow). */
void ddad_score_resize_bilinear(const float *in, int64_t h, int64_t w, float *out, int64_t oh, int64_t ow);

#ifdef __cplusplus
}
#endif
#endif
