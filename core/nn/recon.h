/* core/nn/recon.h - gradient denoising (METHOD.md section 6, the paper's
 * Figure 7): an anomalous image is walked towards the normal data by small
 * steps down the gradient of a PaDiM Mahalanobis distance, and cleaned by the
 * diffusion model every few steps.
 *
 * From x = x0, each of R rounds (recon.rounds) is
 *     recon.grad_steps times:  g = -grad_x mean(distance map(x)), divided by
 *                              its standard deviation (per image, over C, H, W,
 *                              unbiased); x <- sqrt(1 - s^2) x + s g  (s = recon.step_size)
 *     then the denoising step: x is treated as x_t at respaced timestep
 *                              t = recon.t (as the authors' code does, without
 *                              noising it first), the EMA UNet is run at
 *                              timestep_map[t] and x <- the model's posterior
 *                              mean p_mean_variance(x, t) (x0_hat clipped), or
 *                              with recon.sample a draw mean + exp(logvar / 2) z
 *                              (the paper's Algorithm 1; no noise at t = 0).
 * The image after round r is recorded for every r in recon.record (round 0 is
 * the input itself).
 *
 * PaDiM is fitted on the category's training images with the WideResNet-50-2
 * of recon.wrn_weights (or seeded random weights: then pd.backbone_random is
 * set and every figure must say so) and stored in the run folder; a stored
 * fit is reused when its channels, eps, seed, image size, backbone source and
 * number of training images match the config.
 *
 *     ddad_recon_padim_t rp;
 *     ddad_recon_padim_prepare(&rp, &cfg, "runs/.../padim.h5", train, n_train, dev);
 *     ddad_recon_options_t o = ddad_recon_options_from_config(&cfg);
 *     ddad_recon_result_t r;
 *     ddad_recon_run(&rp, &model, x0, y, &o, &r);       // x0 (N, 3, H, W), y (N) or NULL
 *     for (size_t i = 0; i < r.n; i++) use r.rounds[i], r.images[i];   // (N, 3, H, W)
 *     ddad_recon_result_free(&r);
 *     ddad_recon_padim_free(&rp);
 *
 * Ownership: the result owns its arrays and tensors (ddad_recon_result_free,
 * NULL and zeroed results accepted); tensors are kept out of any open scope.
 */
#ifndef DDAD_NN_RECON_H
#define DDAD_NN_RECON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dataset.h"
#include "../torch/tensor.h"
#include "model.h"
#include "padim.h"
#include "wrn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The WideResNet and the fitted PaDiM a reconstruction needs. */
typedef struct ddad_recon_padim {
    ddad_wrn_t wrn;
    ddad_padim_t padim;
    bool reused;        /* loaded from an existing padim.h5              */
    char path[1100];    /* the padim.h5 used                             */
} ddad_recon_padim_t;

/* Builds the WRN (recon.wrn_weights or random, seed = cfg->seed), then loads
 * padim_path (a per-category run's <run dir>/padim.h5; ddad-vis uses
 * <run dir>/padim_<category>.h5 for a unified run) when it matches the config
 * (see above), or fits PaDiM on the n_train training samples (images resized
 * as the loader does, batches of 8) and saves it there (replacing a stale
 * file). padim_path NULL: fit and do not save. Progress through
 * ddad_log. On failure *rp is freed. */
ddad_status_t ddad_recon_padim_prepare(ddad_recon_padim_t *rp, const ddad_config_t *cfg, const char *padim_path,
                                       const ddad_sample_t *const *train, size_t n_train, ddad_device_t dev);
void ddad_recon_padim_free(ddad_recon_padim_t *rp);

/* Called after every round with (round, rounds, user). */
typedef void (*ddad_recon_progress_fn)(int round, int rounds, void *user);

typedef struct ddad_recon_options {
    int rounds;                 /* R                                          */
    int grad_steps;             /* gradient steps per round                   */
    double step_size;           /* s, in (0, 1)                               */
    int64_t t;                  /* respaced denoising timestep                */
    bool sample;                /* sample with sigma instead of the mean      */
    int record[DDAD_CONFIG_MAX_INTS]; /* increasing rounds to keep, each <= R */
    size_t n_record;
    uint64_t seed;              /* noise of the sampling variant              */
    ddad_recon_progress_fn progress; /* may be NULL                           */
    void *progress_user;
} ddad_recon_options_t;

/* recon.* keys and the run seed. */
ddad_recon_options_t ddad_recon_options_from_config(const ddad_config_t *cfg);

typedef struct ddad_recon_result {
    size_t n;                   /* recorded rounds                            */
    int *rounds;                // (n)
    ddad_tensor_t **images;     // (n) x (N, 3, H, W), not clipped
    double *grad_std;           // (n) mean over images of the last raw gradient std before that round's record (0 for round 0)
} ddad_recon_result_t;

/* Runs the reconstruction of x0 (N, 3, H, W) in [-1, 1] with the class
 * labels y (N) i64 (NULL when the model has no classes) on the EMA weights
 * of m (its training weights when it has none), the scoring diffusion of m.
 * Fails (NUMERIC) when the image or gradient stops being finite. */
ddad_status_t ddad_recon_run(const ddad_recon_padim_t *rp, const ddad_model_t *m, const ddad_tensor_t *x0,
                             const ddad_tensor_t *y, const ddad_recon_options_t *opt, ddad_recon_result_t *out);
void ddad_recon_result_free(ddad_recon_result_t *r);

/* One gradient step for a batch: x (N, 3, H, W) -> *out = sqrt(1 - s^2) x +
 * s g with g = -grad / std(grad) per image; *grad_std (may be NULL) gets the
 * batch mean of the raw gradient std. */
ddad_status_t ddad_recon_grad_step(const ddad_recon_padim_t *rp, const ddad_tensor_t *x, double s, ddad_tensor_t **out,
                                   double *grad_std);
/* The denoising step at respaced t: *out = posterior mean (or a sample with
 * gen when sample) of the model's p(x_{t-1} | x_t = x). */
ddad_status_t ddad_recon_denoise_step(const ddad_model_t *m, const ddad_tensor_t *x, const ddad_tensor_t *y, int64_t t,
                                      bool sample, ddad_generator_t *gen, ddad_tensor_t **out);

#ifdef __cplusplus
}
#endif
#endif
