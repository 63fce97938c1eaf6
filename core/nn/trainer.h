/* core/nn/trainer.h - the training loop of ddad-train as a library, so that
 * tests and other programs can train (small) models in-process.
 *
 * Overview
 * --------
 * A trainer owns everything one run needs: the data set index and the batch
 * loader, the model (UNet + EMA + diffusion + frozen EfficientNet), AdamW,
 * the seeded noise generator on the model's device and the run folder
 * (ddad_config_run_dir, or opts.run_dir):
 *
 *   <run>/config.yaml          the resolved config (written atomically)
 *   <run>/train.log            "step loss mse vb feat lr it_per_s" per step
 *                              (a '#' header line; gnuplot reads it as is)
 *   <run>/checkpoints/step_NNNNNNN.h5   every train.checkpoint_every steps
 *                              and at the end; the newest keep_checkpoints kept
 *
 * Without augmentation (data.rotation_deg 0) the extractor's target of each
 * training image is computed once and kept (core/nn/target_cache.h, up to
 * train.target_cache_mb).
 *
 * One step: t ~ U{0 .. steps-1} and noise ~ N(0, I) (or pyramid noise,
 * diffusion.noise; noise.h) from the noise generator,
 * x_t = q_sample(x0, t, noise), the UNet (with the feature head at
 * features.train_size), the frozen extractor's features of x0 as the target,
 * loss = mean_batch(mse + vlb_weight * vb) + feature_loss_weight * feat_mse
 * (the terms of ddad_diffusion_training_losses), backward, optional gradient
 * clipping, AdamW at the scheduled lr (linear decay to 0 over
 * train.iterations, or constant), EMA update. A non-finite loss stops the
 * run with DDAD_STATUS_NUMERIC naming the step, before any update; no
 * checkpoint is ever written from non-finite weights. The gradients the
 * update used (after clipping) stay in the .grad of the trainable
 * parameters until the next step starts (for inspection; a failed step
 * leaves none).
 *
 * Memory (train.grad_accum, train.checkpointing): with grad_accum A > 1 the
 * step draws t and the noise for the whole batch as above, then runs A
 * micro-batches of batch_size / A consecutive images of the loader's batch
 * (with data parallel: A slices of this process's batch_size / processes;
 * the same rows of t and noise): forward, loss, backward of loss / A, each
 * freeing its activations before the next. The summed gradients are those
 * of the whole batch's mean loss (to float rounding), and clipping, AdamW,
 * the EMA and the lr schedule act once, so a step counts as one iteration
 * (train.log, checkpoints, stats) whatever A. Images, timesteps and noise
 * are exactly those of the same step with A = 1; extractor targets
 * computed without the cache see a micro-batch instead of the batch (equal
 * to rounding). train.checkpointing recomputes the UNet's block activations
 * in backward (ddad_unet_options_t.use_checkpoint).
 *
 *     ddad_trainer_opts_t o = ddad_trainer_opts_default();
 *     o.resume = true;                              // continue from the latest checkpoint
 *     ddad_trainer_t *tr;
 *     if (ddad_trainer_create(&tr, &cfg, &o)) ...   // checks data, weights, device, folder
 *     ddad_status_t st = ddad_trainer_run(tr);      // to train.iterations (or o.stop_at)
 *     const ddad_model_t *m = ddad_trainer_model(tr);   // weights, EMA
 *     ddad_trainer_free(tr);
 *
 * Resuming (opts.resume) restores weights, EMA, AdamW moments and step, the
 * loader cursor and the noise generator: on the same device and thread count
 * (CPU runs are deterministic) the continued run is bit-identical to an
 * uninterrupted one.
 *
 * Data parallel (opts.dist, one trainer per process, all with the same
 * config): every rank trains on its slice of each batch of train.batch_size
 * (which must be a multiple of the number of processes; the loader shards
 * it, and t and the noise are drawn for the whole batch from one generator
 * stream that every rank advances alike, each keeping its rows), the
 * gradients are averaged over the ranks in buckets (dist.bucket_mb) before
 * clipping and AdamW, and the logged losses are the whole batch's. So the
 * ranks hold identical weights, equal (to float rounding) to one process
 * training on the same batches. Rank 0 alone owns the run folder (train.log,
 * config.yaml, checkpoints) and the EMA; at creation its state - fresh or
 * resumed - is broadcast to the others, so a run resumes on any number of
 * processes. Setup failures on any rank make every rank fail
 * (DDAD_STATUS_PEER on the others, naming the rank); a stop request on any
 * rank stops all after the same step; a rank that dies makes the others
 * fail with DDAD_STATUS_PEER within dist.timeout_s. ddad_trainer_save is a
 * no-op on ranks other than 0.
 *
 * Ownership: the trainer copies the config and owns everything it creates;
 * ddad_trainer_free accepts NULL. Progress goes to opts.on_step, messages
 * through ddad_log().
 */
#ifndef DDAD_NN_TRAINER_H
#define DDAD_NN_TRAINER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "status.h"
#include "../torch/dist.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ddad_trainer ddad_trainer_t; /* opaque */

/* What one step did (also a line of train.log). */
typedef struct ddad_train_stats {
    int64_t step;       /* iterations completed, 1-based after the first step     */
    int64_t iterations; /* train.iterations                                       */
    double loss;        /* the optimised batch loss                               */
    double mse, vb;     /* batch means of the unweighted terms                    */
    double feat;        /* feature MSE (unweighted; 0 without extractor)          */
    double lr;          /* learning rate used for this step                       */
    double it_per_s;    /* steps per second, averaged since the run (re)started   */
    double elapsed_s;   /* seconds since the run (re)started                      */
} ddad_train_stats_t;

typedef void (*ddad_train_step_fn)(const ddad_train_stats_t *stats, void *user);

typedef struct ddad_trainer_opts {
    bool resume;              /* continue from the latest checkpoint (fresh start if none) */
    bool force;               /* delete existing checkpoints and start over                */
    bool dry_run;             /* check everything, build the model, write nothing          */
    const char *run_dir;      /* NULL: ddad_config_run_dir(cfg)                            */
    int64_t stop_at;          /* > 0: ddad_trainer_run returns after this step (with a
                                 checkpoint), as if interrupted there but with DDAD_OK     */
    volatile sig_atomic_t *stop_flag; /* non-zero: finish the step, checkpoint,
                                 return DDAD_STATUS_INTERRUPTED (e.g. set by SIGINT)       */
    ddad_train_step_fn on_step; /* called after every step (may be NULL)                   */
    void *user;
    ddad_dist_t *dist;        /* data parallel over this process group (borrowed; NULL:
                                 one process); see "Data parallel" above                   */
} ddad_trainer_opts_t;

/* resume/force/dry_run false, run_dir NULL, stop_at 0, no flag, no callback. */
ddad_trainer_opts_t ddad_trainer_opts_default(void);

/* Checks and builds everything before the first step: the device, the data set
 * (indexed, every image header probed), the weights files, the run folder
 * (created and probed for writing; with dry_run only probed). Refuses
 * (DDAD_STATUS_USAGE) a run folder that already holds checkpoints unless
 * resume or force. On failure *out is NULL and nothing was deleted. */
ddad_status_t ddad_trainer_create(ddad_trainer_t **out, const ddad_config_t *cfg, const ddad_trainer_opts_t *opts);
void ddad_trainer_free(ddad_trainer_t *tr);

/* One training step (see the overview); stats may be NULL. Does not write
 * checkpoints or the log. */
ddad_status_t ddad_trainer_step(ddad_trainer_t *tr, ddad_train_stats_t *stats);

/* A batch chosen by the caller, for ddad_trainer_step_batch. Host memory,
 * C-contiguous; B = train.batch_size, S = data.image_size, fs =
 * features.train_size. Borrowed for the duration of the call. */
typedef struct ddad_train_batch {
    const float *x0;     // (B, 3, S, S) clean images in [-1, 1]
    const int64_t *y;    // (B) class ids; may be NULL when model.num_classes is 0
    const int64_t *t;    // (B) timesteps in 0 .. diffusion.steps - 1
    const float *noise;  // (B, 3, S, S) the eps of q_sample
    const float *target; // (B, 272, fs, fs) extractor features of x0, or NULL: the extractor computes them
} ddad_train_batch_t;

/* ddad_trainer_step on the caller's batch instead of the loader's, with the
 * caller's t and noise instead of the generator's: the same forward, loss,
 * backward (in grad_accum micro-batches), clipping, AdamW at the scheduled
 * lr, EMA update and step count. The loader, the noise generator and the
 * target cache are neither used nor advanced. For replaying a reference
 * implementation's steps (tests/test_nn_train_reference.c). One process only
 * (DDAD_STATUS_USAGE with opts.dist, a missing input, or t or y out of
 * range). */
ddad_status_t ddad_trainer_step_batch(ddad_trainer_t *tr, const ddad_train_batch_t *batch, ddad_train_stats_t *stats);

/* Steps to train.iterations: appends train.log, checkpoints every
 * checkpoint_every steps and at the end (pruned to keep_checkpoints), honours
 * stop_at and stop_flag. Returns DDAD_OK, DDAD_STATUS_INTERRUPTED (after a
 * checkpoint), DDAD_STATUS_NUMERIC (last good checkpoint kept) or an error. */
ddad_status_t ddad_trainer_run(ddad_trainer_t *tr);

/* Writes the checkpoint of the current step (atomically) and prunes. */
ddad_status_t ddad_trainer_save(ddad_trainer_t *tr);

/* Iterations completed so far (after a resume: the checkpoint's step). */
int64_t ddad_trainer_step_count(const ddad_trainer_t *tr);
/* Borrowed: the model being trained. */
const ddad_model_t *ddad_trainer_model(const ddad_trainer_t *tr);
/* Borrowed: the run folder, the resolved config. */
const char *ddad_trainer_run_dir(const ddad_trainer_t *tr);
const ddad_config_t *ddad_trainer_config(const ddad_trainer_t *tr);
/* Number of training images and the checkpoint resumed from ("" if none). */
size_t ddad_trainer_num_images(const ddad_trainer_t *tr);
const char *ddad_trainer_resumed_from(const ddad_trainer_t *tr);

/* Parameter counts: UNet trainable, EMA copy, feature extractor (0 when absent). */
typedef struct ddad_trainer_counts {
    int64_t unet, ema, extractor;
} ddad_trainer_counts_t;
void ddad_trainer_counts(const ddad_trainer_t *tr, ddad_trainer_counts_t *c);

/* Learning rate at 0-based step for the config's schedule (linear: lr *
 * (1 - step / iterations); constant: lr). */
double ddad_trainer_lr_at(const ddad_config_t *cfg, int64_t step);

#ifdef __cplusplus
}
#endif
#endif
