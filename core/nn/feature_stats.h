/* core/nn/feature_stats.h - per-channel statistics of the frozen
 * extractor's features over the training images (features.standardize).
 *
 * The random EfficientNet's taps differ in scale by orders of magnitude (the
 * deepest, 160 of the 272 channels, are near zero), so a plain mean over
 * channels of (F_theta - f)^2 hears mostly the largest channels. With
 * features.standardize the trainer computes each channel's mean and std over
 * the training images once, before the first step, and the extractor
 * standardises its features with them from then on (targets in training,
 * f(x0) when scoring); the checkpoint stores them (feature_stats/).
 *
 *     float mean[272], std[272];
 *     ddad_feature_stats_compute(&model.effnet, train, n, &cfg, mean, std);
 *     ddad_effnet_set_standardization(&model.effnet, mean, std);
 *
 * Images: all training images once, without augmentation, at
 * data.image_size, features at features.train_size; the extractor's own
 * standardisation is ignored while computing. A channel's std is floored at
 * 1e-3 of the median channel std, so a dead channel cannot divide by zero.
 *
 * Ownership: nothing is kept; samples are borrowed.
 */
#ifndef DDAD_NN_FEATURE_STATS_H
#define DDAD_NN_FEATURE_STATS_H

#include "config.h"
#include "dataset.h"
#include "effnet.h"

#ifdef __cplusplus
extern "C" {
#endif

ddad_status_t ddad_feature_stats_compute(const ddad_effnet_t *net, const ddad_sample_t *const *samples, size_t n,
                                         const ddad_config_t *cfg, float mean[DDAD_EFFNET_FEAT_CHANNELS],
                                         float std[DDAD_EFFNET_FEAT_CHANNELS]);

#ifdef __cplusplus
}
#endif
#endif
