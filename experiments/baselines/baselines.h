/* experiments/baselines/baselines.h - the two "floor" detectors that
 * ddad-baselines measures next to ddad (see README.md beside this file).
 *
 *   meandiff  map(y, x) = mean over RGB of |x - m|, m the mean training image
 *             (all images in ddad's [-1, 1] scaling at the model size S).
 *   patchnn   PatchCore without coreset on ddad's own frozen backbone: every
 *             training image's 272-channel feature map (EfficientNet-B4 taps,
 *             ddad_extractor_features at a G x G grid) goes into a memory
 *             bank of n_train * G * G vectors; a test location's score is
 *             the L2 distance to its nearest bank vector; the G x G distance
 *             map is bilinearly upsampled (align_corners false) to S x S and
 *             Gaussian-smoothed.
 *
 *     bl_split_t train, test;
 *     bl_split_load(&train, samples, n, S, ds->mask_threshold, NULL, NULL);
 *     float mean[3 * S * S];
 *     bl_meandiff_mean(train.images, train.n, S, mean);
 *     bl_meandiff_map(mean, test.images + i * 3 * S * S, S, map);
 *
 *     ddad_tensor_t *bank, *feat, *dist;                      // on the backbone's device
 *     bl_patch_features(&net, train.images, train.n, S, G, 8, NULL, NULL, &feat);  // (n, 272, G, G)
 *     bl_patch_vectors(feat, &bank);                          // (n G G, 272)
 *     bl_nn_distance(queries, bank, BL_NN_CHUNK_ELEMS, NULL, NULL, &dist); // (Q)
 *     bl_patchnn_maps(dist_host, n, G, S, sigma, maps, scores);
 *
 * Ownership: bl_split_t owns its arrays (bl_split_free); tensors returned
 * through out-pointers belong to the caller (or to the innermost open scope).
 */
#ifndef DDAD_EXPERIMENTS_BASELINES_H
#define DDAD_EXPERIMENTS_BASELINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "metrics.h"
#include "nn/effnet.h"
#include "report.h"
#include "torch/tensor.h"

/* Elements of one (query chunk x bank) distance block: 2^24 floats, 64 MB. */
#define BL_NN_CHUNK_ELEMS ((int64_t)1 << 24)

/* Progress callback: done of total units of the named stage. A status other
 * than DDAD_OK (e.g. DDAD_STATUS_INTERRUPTED) stops the work and is returned. */
typedef ddad_status_t (*bl_progress_fn)(const char *stage, int64_t done, int64_t total, void *user);

/* One split of one category, decoded and resized exactly as ddad-eval does
 * (ddad_testiter at S, masks nearest-resized to S x S and thresholded). */
typedef struct bl_split {
    int64_t n, S;
    float *images;    // (n, 3, S, S) in [-1, 1]
    uint8_t *masks;   // (n, S, S) in {0, 1}; zeros for good images and anomalies without a mask
    uint8_t *labels;  // (n) 0 good, 1 anomalous
    char **names;     // (n) "test/crack/003.png"
} bl_split_t;

ddad_status_t bl_split_load(bl_split_t *s, const ddad_sample_t *const *samples, size_t n, int S, int mask_threshold,
                            bl_progress_fn progress, void *user);
void bl_split_free(bl_split_t *s);

/* ---- meandiff ---------------------------------------------------------------- */

/* mean (3, S, S) of images (n, 3, S, S), accumulated in double. */
ddad_status_t bl_meandiff_mean(const float *images, int64_t n, int64_t S, float *mean);
/* map (S, S) = mean over the 3 channels of |x - mean|, x and mean (3, S, S). */
void bl_meandiff_map(const float *mean, const float *x, int64_t S, float *map);

/* ---- patchnn ----------------------------------------------------------------- */

/* Feature maps of images (n, 3, S, S) (host) in batches of `batch`:
 * *out (n, 272, G, G) on the backbone's device. */
ddad_status_t bl_patch_features(const ddad_effnet_t *net, const float *images, int64_t n, int64_t S, int64_t G,
                                int64_t batch, bl_progress_fn progress, void *user, ddad_tensor_t **out);

/* (n, C, G, G) -> (n G G, C), row (i G + y) G + x = image i, location (y, x). */
ddad_status_t bl_patch_vectors(const ddad_tensor_t *feat, ddad_tensor_t **out);

/* Distance of each query (Q, C) to its nearest bank vector (M, C), *out (Q).
 * The nearest vector is found in the matmul form: argmax_m (q.b_m -
 * ||b_m||^2 / 2) = argmin_m ||q||^2 - 2 q.b_m + ||b_m||^2, one addmm per
 * chunk of at most chunk_elems (query x bank) entries, on vectors centred by
 * the bank mean (no distance changes, less cancellation); its distance is
 * then recomputed as ||q - b_m|| from the difference vector, because the
 * float32 matmul form alone loses the small distances (errors of 0.2 % of
 * the largest distance, i.e. up to 30x on the smallest, on MVTec bottle). */
ddad_status_t bl_nn_distance(const ddad_tensor_t *query, const ddad_tensor_t *bank, int64_t chunk_elems,
                             bl_progress_fn progress, void *user, ddad_tensor_t **out);

/* dist (n, G, G) host -> maps (n, S, S): bilinear upsampling (torch's
 * interpolate, align_corners false), then ddad_score_smooth with sigma
 * (kernel 2 ceil(4 sigma) + 1, reflect padding; sigma 0 = none); scores (n)
 * = max of each map. */
ddad_status_t bl_patchnn_maps(const float *dist, int64_t n, int64_t G, int64_t S, double sigma, float *maps,
                              float *scores);

/* ---- metrics ----------------------------------------------------------------- */

/* The metrics ddad-eval reports (core/report/report.c's ddad_metrics_from_mapsfile
 * calls the same two functions): pixel AUROC, AU-PRO up to pro_limit and
 * pixel F1-max over every pixel of maps (n, H, W) against masks, image AUROC
 * and F1-max of scores against labels. Fills rec (category, images, the
 * metrics, notes of undefined metrics). */
ddad_status_t bl_metrics(const float *maps, const uint8_t *masks, const float *scores, const uint8_t *labels,
                         int64_t n, int64_t h, int64_t w, double pro_limit, ddad_metrics_record_t *rec);

#endif
