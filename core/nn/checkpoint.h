/* core/nn/checkpoint.h - training checkpoints in HDF5.
 *
 * A checkpoint is complete or absent: it is written to "<path>.partial",
 * flushed, fsync'ed and renamed over <path>, so a kill at any moment leaves
 * the previous checkpoint intact. Layout (format "ddad-checkpoint", v1):
 *
 *   /weights/<state_dict name>          f32   training weights
 *   /ema/<state_dict name>              f32   EMA weights (evaluation uses these)
 *   /optim/exp_avg/<name>, /optim/exp_avg_sq/<name>   f32   AdamW moments
 *   /rng/noise                          u8    state of the training noise generator
 *   root attributes: format, format_version, step, optimizer_step, lr,
 *     loader_epoch, loader_position, loader_rng (text, 64-bit), config (the
 *     resolved YAML), git_revision, ddad_version, torch_version, device, seed,
 *     feature_weights ("random (seed N)" or the file), created (UTC time)
 *
 *     ddad_checkpoint_state_t s = {.step = 1000, ...};
 *     ddad_checkpoint_save("runs/.../checkpoints/step_0001000.h5", &model, opt, gen, &s);
 *     ddad_checkpoint_load(path, &model, opt, gen, &s);   // opt, gen may be NULL
 *
 * A model built with DDAD_MODEL_SCORING_ONLY loads /ema alone (plus the
 * feature statistics); it cannot be saved or resume training.
 *
 * Ownership: nothing returned needs freeing except through the arguments.
 */
#ifndef DDAD_NN_CHECKPOINT_H
#define DDAD_NN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "loader.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DDAD_CHECKPOINT_FORMAT "ddad-checkpoint"
#define DDAD_CHECKPOINT_VERSION 1

typedef struct ddad_checkpoint_state {
    int64_t step;                /* training iterations completed              */
    double lr;                   /* learning rate of the last step             */
    ddad_loader_cursor_t cursor; /* data position of the next batch            */
} ddad_checkpoint_state_t;

/* Writes model (weights, EMA), optimizer (may be NULL), generator state (may
 * be NULL) and state atomically to path. */
ddad_status_t ddad_checkpoint_save(const char *path, const ddad_model_t *m, ddad_adamw_t *opt,
                                   ddad_generator_t *noise_gen, const ddad_checkpoint_state_t *state);

/* Reads a checkpoint into an already created model of the same layout:
 * weights (strict names and shapes), EMA when the model has one, and, when
 * given, the optimizer moments, generator state and state. Errors name the
 * file and say whether it is truncated, of another format, or of another
 * model size. */
ddad_status_t ddad_checkpoint_load(const char *path, ddad_model_t *m, ddad_adamw_t *opt, ddad_generator_t *noise_gen,
                                   ddad_checkpoint_state_t *state);

/* Reads the resolved config stored in a checkpoint. */
ddad_status_t ddad_checkpoint_read_config(const char *path, ddad_config_t *cfg);

/* CONFIG status, naming the key and the value to set, when cfg would score
 * or resume training with other noise (diffusion.noise, and noise_discount
 * for pyramid noise) than the checkpoint at path was trained with. Loading
 * the weights cannot tell: these are not model.* keys. Checkpoints saved
 * before the keys existed read as white noise. */
ddad_status_t ddad_checkpoint_check_noise(const char *path, const ddad_config_t *cfg);
/* The same check on the checkpoint's config when it has been read already
 * (checkpoint names it in the message). */
ddad_status_t ddad_config_check_noise(const ddad_config_t *trained, const ddad_config_t *cfg, const char *checkpoint);

/* "<run_dir>/checkpoints/step_<step, 7 digits>.h5" */
void ddad_checkpoint_path(char *buf, size_t cap, const char *run_dir, int64_t step);

/* The checkpoint with the highest step in <run_dir>/checkpoints (ignoring
 * *.partial files). DATA status when there is none. */
ddad_status_t ddad_checkpoint_latest(const char *run_dir, char *buf, size_t cap);

/* Deletes all but the newest `keep` checkpoints of run_dir (keep >= 1). */
ddad_status_t ddad_checkpoint_prune(const char *run_dir, int keep);

#ifdef __cplusplus
}
#endif
#endif
