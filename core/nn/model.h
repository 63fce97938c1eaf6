/* core/nn/model.h - everything a run needs, built from one resolved config:
 * the UNet with its feature head (training weights and EMA weights), the
 * 1000-step training diffusion, the respaced scoring diffusion and the frozen
 * EfficientNet-B4 feature extractor. Shared by ddad-train, ddad-eval,
 * ddad-vis and the scoring API, so that all of them build the same model.
 *
 *     ddad_model_t m;
 *     if (ddad_model_create(&m, &cfg, DDAD_MODEL_WITH_EMA | DDAD_MODEL_WITH_FEATURES)) ...
 *     ddad_unet_forward(&m.unet, x, t, y, cfg.features.train_size, &out, &feat);
 *     ddad_model_free(&m);
 *
 * Ownership: the model owns its registries, diffusions and extractor; the
 * config is copied. ddad_model_free accepts a zeroed or already freed model.
 */
#ifndef DDAD_NN_MODEL_H
#define DDAD_NN_MODEL_H

#include <stdbool.h>

#include "config.h"
#include "diffusion.h"
#include "effnet.h"
#include "params.h"
#include "unet.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    DDAD_MODEL_WITH_EMA = 1 << 0,      /* a second registry for the EMA weights        */
    DDAD_MODEL_WITH_FEATURES = 1 << 1, /* the frozen EfficientNet-B4                    */
    DDAD_MODEL_NO_INIT = 1 << 2,       /* leave zeros (a checkpoint is loaded next)     */
    /* Scoring only: the EMA registry alone (no training weights), so a
     * scoring process holds one copy of the UNet instead of two; with
     * DDAD_MODEL_WITH_EMA implied. The random init (or model.init) goes to
     * the EMA weights; checkpoints load /ema only; not for training. */
    DDAD_MODEL_SCORING_ONLY = 1 << 3
};

typedef struct ddad_model {
    ddad_config_t cfg;               /* resolved config (copy)                        */
    ddad_device_t device;
    ddad_unet_options_t unet_opt;
    bool has_weights;                /* false with DDAD_MODEL_SCORING_ONLY            */
    ddad_params_t params;            /* training weights (owned; empty if !has_weights) */
    ddad_unet_t unet;                /* bound to params                               */
    bool has_ema;
    ddad_params_t ema_params;        /* EMA weights, same names (owned)               */
    ddad_unet_t ema;                 /* bound to ema_params                           */
    ddad_diffusion_t train_diffusion; /* diffusion.steps, every step                  */
    ddad_diffusion_t score_diffusion; /* respaced to diffusion.respacing              */
    bool has_features;
    ddad_effnet_t effnet;            /* frozen; effnet.random_weights says if labelled */
    bool init_from_weights;          /* model.init was loaded                         */
    /* score.normalize good: statistics of held-out good images' maps, set by
     * the caller (borrowed, not freed by the model); NULL = raw maps. */
    const struct ddad_score_reference *reference;
} ddad_model_t;

/* UNet options from the model.* / data.* keys (learn_sigma -> 6 outputs). */
ddad_status_t ddad_unet_options_from_config(ddad_unet_options_t *opt, const ddad_config_t *cfg);

/* Builds everything on cfg->device (checked first). Loads model.init (the
 * imported ADM weights: every tensor of the same name and shape; the
 * ImageNet label embedding and the feature head keep their random values)
 * and features.weights when set. On failure *m is freed. */
ddad_status_t ddad_model_create(ddad_model_t *m, const ddad_config_t *cfg, unsigned flags);
void ddad_model_free(ddad_model_t *m);

/* For score.normalize good: loads the category's reference statistics
 * (<run_dir>/reference.h5, or <run_dir>/<category>/reference.h5 for a unified
 * run; core/report/reference.h) into *ref, freeing what it held, and points
 * m->reference at it; for any other score.normalize it only clears
 * m->reference. *ref must outlive the model's use of it. */
struct ddad_score_reference;
ddad_status_t ddad_reference_use(ddad_model_t *m, struct ddad_score_reference *ref, const char *run_dir,
                                 const char *category);

/* For a scoring-only model (DDAD_MODEL_SCORING_ONLY) scored under
 * score.precision bf16 or fp16: stores the convolution and linear weights of
 * the EMA UNet and of the extractor in that dtype once (biases and
 * normalisation parameters stay fp32), instead of autocast casting every
 * fp32 weight again on every call: half the weight memory, no per-call
 * cast, the same maps (autocast rounds the same weights the same way).
 * Afterwards the model serves ddad_score_* (which run under autocast) only.
 * A no-op for fp32 and for a model with training weights. Call it after the
 * checkpoint is loaded. */
ddad_status_t ddad_model_prepare_scoring(ddad_model_t *m);

/* The feature target of x0 (N, 3, H, W): (N, 272, fs, fs) without autograd. */
ddad_status_t ddad_model_feature_target(const ddad_model_t *m, const ddad_tensor_t *x0, int64_t fs,
                                        ddad_tensor_t **out);

/* Class labels (N) i64 on the model's device for the given class ids. */
ddad_status_t ddad_model_labels(const ddad_model_t *m, const int64_t *class_ids, int64_t n, ddad_tensor_t **out);

/* Applies threads, deterministic mode (CPU) and the allocator tuning the
 * config asks for; call once at program start. */
ddad_status_t ddad_runtime_setup(const ddad_config_t *cfg);

#ifdef __cplusplus
}
#endif
#endif
