/* core/nn/extractor.h - the frozen EfficientNet-B4 feature extractor of a
 * config, on its own (without the UNet and the diffusions that
 * ddad_model_create also builds).
 *
 * ddad_extractor_create builds exactly the extractor that
 * ddad_model_create(..., DDAD_MODEL_WITH_FEATURES) builds for the same
 * config: on cfg->device, with cfg->features.weights, or, when that key is
 * empty, with the random initialisation seeded by cfg->seed, and with
 * features.input_size (the standardisation of features.standardize comes
 * from the training statistics: trainer, checkpoint). Its features
 * are therefore the targets ddad's feature head regresses. For programs that
 * need the backbone and nothing else (baselines, feature dumps).
 *
 *     ddad_effnet_t net;
 *     if (ddad_extractor_create(&net, &cfg)) ... error (DEVICE, DATA, IO)
 *     if (net.random_weights) label the results;
 *     ddad_tensor_t *f;                                         // (N, 272, fs, fs)
 *     ddad_extractor_features(&net, x, cfg.features.score_size, &f);  // x (N, 3, S, S) in [-1, 1]
 *     ddad_tensor_free(f);
 *     ddad_effnet_free(&net);
 */
#ifndef DDAD_NN_EXTRACTOR_H
#define DDAD_NN_EXTRACTOR_H

#include "config.h"
#include "effnet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The effnet options of cfg: device (parsed and checked: DEVICE status when
 * it does not exist), weights_path = features.weights or NULL (random),
 * seed = cfg->seed. opt->weights_path points into cfg. */
ddad_status_t ddad_extractor_options(ddad_effnet_options_t *opt, const ddad_config_t *cfg);

/* Builds and loads the extractor of cfg (see above); logs a warning when
 * the weights are random. On failure *net is freed. */
ddad_status_t ddad_extractor_create(ddad_effnet_t *net, const ddad_config_t *cfg);

/* ddad_effnet_features without autograd (grad mode restored afterwards):
 * x (N, 3, H, W) in [-1, 1] -> *out (N, 272, fs, fs), owned by the caller. */
ddad_status_t ddad_extractor_features(const ddad_effnet_t *net, const ddad_tensor_t *x, int64_t fs,
                                      ddad_tensor_t **out);

#ifdef __cplusplus
}
#endif
#endif
