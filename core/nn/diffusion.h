/* core/nn/diffusion.h - Gaussian diffusion (guided-diffusion's
 * GaussianDiffusion / SpacedDiffusion with learned-range variance and epsilon
 * prediction), the training loss of Lu et al., and the per-timestep anomaly
 * maps.
 *
 * Overview
 * --------
 * Schedules live on the host in float64 (as the reference keeps them). A
 * coefficient for a batch of timesteps is looked up in float64, cast to
 * float32 and broadcast as an (N, 1, 1, 1) tensor (README of the fixtures,
 * section 5). Timestep arguments `t` are always indices into THIS process's
 * arrays (respaced indices for a respaced process); the UNet must be given
 * timestep_map[t] (ddad_diffusion_map_timesteps), which is the identity for
 * an unrespaced process.
 *
 * Training (1000-step process):
 *     ddad_diffusion_t d;
 *     ddad_diffusion_init(&d, DDAD_BETA_SCHEDULE_LINEAR, 1000, NULL);
 *     ddad_diffusion_q_sample(&d, x0, t, noise, &x_t);            // (N, 3, H, W)
 *     ddad_diffusion_map_timesteps(&d, t, &t_net);
 *     ddad_unet_forward(&unet, x_t, t_net, y, 64, &out, &feats);   // (N, 6, H, W), (N, 272, 64, 64)
 *     ddad_diffusion_losses_t L;
 *     ddad_diffusion_training_losses(&d, out, x0, x_t, t, noise, feats, feat_target, &L);
 *     ddad_mean(&loss, L.loss); ddad_backward(loss);               // batch mean, as the reference
 *     ddad_diffusion_losses_free(&L);
 *
 * Scoring (250-step process, respaced t = 5, 50, 100):
 *     ddad_diffusion_init(&d, DDAD_BETA_SCHEDULE_LINEAR, 1000, "250");
 *     for each t: ddad_anomaly_step(&d, &unet, x0, y, t, noise_t, feat_target, &opt, &step[i]);
 *     ddad_anomaly_combine(nll_std[], feat_up[], 3, 1.0, 1.0, &diff, &feat, &pred);
 *     ddad_anomaly_image_score(&score, pred, 64);
 *
 * Ownership: arrays in ddad_diffusion_t belong to it (ddad_diffusion_free).
 * Tensors returned through out-pointers or result structs follow the scope
 * rules of tensor.h: they land in the caller's innermost open scope, or
 * belong to the caller when no scope is open; the _free functions of the
 * result structs (NULL accepted) may always be used. On failure nothing is
 * returned.
 */
#ifndef DDAD_NN_DIFFUSION_H
#define DDAD_NN_DIFFUSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "../torch/tensor.h"
#include "unet.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ddad_beta_schedule {
    DDAD_BETA_SCHEDULE_LINEAR = 0, /* linspace(1e-4, 0.02) scaled by 1000/T (Ho et al.) */
    DDAD_BETA_SCHEDULE_COSINE      /* Nichol & Dhariwal, max beta 0.999                  */
} ddad_beta_schedule_t;

typedef struct ddad_diffusion {
    int64_t num_timesteps;                    /* T of this process (e.g. 1000 or 250) */
    int64_t base_timesteps;                   /* T of the process it was spaced from  */
    int64_t *timestep_map;                    // (T) original step of each index
    double *betas;                            // (T)
    double *log_betas;                        // (T)
    double *alphas_cumprod;                   // (T)
    double *alphas_cumprod_prev;              // (T)
    double *alphas_cumprod_next;              // (T)
    double *sqrt_alphas_cumprod;              // (T)
    double *sqrt_one_minus_alphas_cumprod;    // (T)
    double *log_one_minus_alphas_cumprod;     // (T)
    double *sqrt_recip_alphas_cumprod;        // (T)
    double *sqrt_recipm1_alphas_cumprod;      // (T)
    double *posterior_variance;               // (T)
    double *posterior_log_variance_clipped;   // (T) [0] = log(posterior_variance[1])
    double *posterior_mean_coef1;             // (T)
    double *posterior_mean_coef2;             // (T)
} ddad_diffusion_t;

/* The named beta schedule over `steps` steps (malloc'ed, caller frees). */
ddad_status_t ddad_beta_schedule_make(double **betas, ddad_beta_schedule_t schedule, int64_t steps);

/* guided-diffusion's space_timesteps: section_counts "250" or "10,15,20"
 * (per-section counts) or "ddimN". *kept (malloc'ed, sorted ascending, caller
 * frees) receives *n_kept original steps. */
ddad_status_t ddad_space_timesteps(int64_t **kept, int64_t *n_kept, int64_t num_timesteps, const char *section_counts);

/* Builds the process from the schedule over `steps` steps, respaced by
 * `respacing` (NULL or "" keeps every step; the betas are still recomputed
 * from the kept alpha_bars as the reference always does). */
ddad_status_t ddad_diffusion_init(ddad_diffusion_t *d, ddad_beta_schedule_t schedule, int64_t steps,
                                  const char *respacing);
/* Builds the process from explicit betas (T values) with the identity map. */
ddad_status_t ddad_diffusion_init_betas(ddad_diffusion_t *d, const double *betas, int64_t n);
void ddad_diffusion_free(ddad_diffusion_t *d);

/* arr[t] for each t (N) i64 as an f32 tensor of shape (N, 1, ..., 1) with
 * ndim dims on device dev. arr is one of d's arrays (length T). */
ddad_status_t ddad_diffusion_extract(ddad_tensor_t **out, const ddad_diffusion_t *d, const double *arr,
                                     const ddad_tensor_t *t, int ndim, ddad_device_t dev);
/* timestep_map[t] (N) i64, on t's device: the timesteps the UNet sees. */
ddad_status_t ddad_diffusion_map_timesteps(const ddad_diffusion_t *d, const ddad_tensor_t *t, ddad_tensor_t **out);

/* x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise; all (N, C, H, W). */
ddad_status_t ddad_diffusion_q_sample(const ddad_diffusion_t *d, const ddad_tensor_t *x0, const ddad_tensor_t *t,
                                      const ddad_tensor_t *noise, ddad_tensor_t **x_t);
/* q(x_{t-1} | x_t, x0): mean (N, C, H, W) and clipped log-variance
 * (N, 1, 1, 1). Either output may be NULL. */
ddad_status_t ddad_diffusion_q_posterior(const ddad_diffusion_t *d, const ddad_tensor_t *x0, const ddad_tensor_t *x_t,
                                         const ddad_tensor_t *t, ddad_tensor_t **mean, ddad_tensor_t **log_var);
/* p(x_{t-1} | x_t) from the raw model output (N, 2C, H, W) = [eps | v]
 * (LEARNED_RANGE, EPSILON): mean, log-variance (N, C, H, W) and pred_xstart
 * (clamped to [-1, 1] when clip). Outputs may be NULL. */
ddad_status_t ddad_diffusion_p_mean_variance(const ddad_diffusion_t *d, const ddad_tensor_t *model_output,
                                             const ddad_tensor_t *x_t, const ddad_tensor_t *t, bool clip,
                                             ddad_tensor_t **mean, ddad_tensor_t **log_var,
                                             ddad_tensor_t **pred_xstart);

/* Elementwise KL(N(m1, e^lv1) || N(m2, e^lv2)) in nats (broadcasting). */
ddad_status_t ddad_normal_kl(ddad_tensor_t **out, const ddad_tensor_t *m1, const ddad_tensor_t *lv1,
                             const ddad_tensor_t *m2, const ddad_tensor_t *lv2);
/* Elementwise -log p(x) in nats of x (in [-1, 1], 256 levels) under a
 * Gaussian discretised to bins of width 2/255 (tanh CDF approximation, open
 * end bins, log clamped at 1e-12). */
ddad_status_t ddad_discretized_gaussian_nll(ddad_tensor_t **out, const ddad_tensor_t *x, const ddad_tensor_t *means,
                                            const ddad_tensor_t *log_scales);

/* The variational-bound terms at t (guided-diffusion's _vb_terms_bpd). */
typedef struct ddad_vb_terms {
    ddad_tensor_t *posterior_mean;        // (N, C, H, W)
    ddad_tensor_t *posterior_log_var;     // (N, 1, 1, 1)
    ddad_tensor_t *model_mean;            // (N, C, H, W)
    ddad_tensor_t *model_log_var;         // (N, C, H, W)
    ddad_tensor_t *pred_xstart;           // (N, C, H, W)
    ddad_tensor_t *kl_bits;               // (N, C, H, W) KL map in bits
    ddad_tensor_t *decoder_nll_bits;      // (N, C, H, W) decoder NLL map in bits
    ddad_tensor_t *nll_bits;              // (N, C, H, W) decoder NLL where t == 0, else KL
    ddad_tensor_t *output;                // (N) mean over C, H, W of nll (bits)
} ddad_vb_terms_t;

ddad_status_t ddad_diffusion_vb_terms(const ddad_diffusion_t *d, const ddad_tensor_t *x0, const ddad_tensor_t *x_t,
                                      const ddad_tensor_t *t, const ddad_tensor_t *model_output, bool clip,
                                      ddad_vb_terms_t *out);
void ddad_vb_terms_free(ddad_vb_terms_t *v);

/* Training loss of Lu et al. (guided-diffusion's training_losses with
 * LossType.MSE, learned range, plus the feature term). */
typedef struct ddad_diffusion_losses {
    ddad_tensor_t *mse;      // (N) mean over C, H, W of (noise - eps)^2
    ddad_tensor_t *vb;       // (N) bits; eps detached, clip off; decoder NLL at t == 0
    ddad_tensor_t *feat_mse; // () mean over all elements of (target - feats)^2; NULL without features
    ddad_tensor_t *loss;     // (N) mse + vb (+ feat_mse)
} ddad_diffusion_losses_t;

/* model_output (N, 2C, H, W); x0, x_t, noise (N, C, H, W); t (N) i64 indices
 * of d; feats_rec and feat_target (N, F, s, s) or both NULL. */
ddad_status_t ddad_diffusion_training_losses(const ddad_diffusion_t *d, const ddad_tensor_t *model_output,
                                             const ddad_tensor_t *x0, const ddad_tensor_t *x_t,
                                             const ddad_tensor_t *t, const ddad_tensor_t *noise,
                                             const ddad_tensor_t *feats_rec, const ddad_tensor_t *feat_target,
                                             ddad_diffusion_losses_t *out);
void ddad_diffusion_losses_free(ddad_diffusion_losses_t *l);

/* ---- anomaly maps --------------------------------------------------------- */

typedef struct ddad_anomaly_options {
    bool clip_denoised;   /* true (the reference's scoring)                                    */
    bool feature_quirk;   /* false: both maps from one UNet call at timestep_map[t]; true: the
                             reference's feature pass with the respaced index t (second call)  */
} ddad_anomaly_options_t;

/* Defaults: clip_denoised true, feature_quirk false. */
void ddad_anomaly_options_default(ddad_anomaly_options_t *opt);

typedef struct ddad_anomaly_step {
    int64_t t;                    /* respaced index                                   */
    int64_t t_unet;               /* timestep the UNet saw in the KL pass             */
    int64_t t_unet_feat;          /* timestep of the feature pass                     */
    ddad_tensor_t *x_t;           // (N, C, H, W)
    ddad_tensor_t *model_output;  // (N, 2C, H, W)
    ddad_vb_terms_t vb;           /* nll_bits is the map the scoring uses             */
    ddad_tensor_t *nll_std;       // (N, C, H, W) nll_bits standardised per image (unbiased std)
    ddad_tensor_t *feats_rec;     // (N, F, s, s) or NULL without feat_target
    ddad_tensor_t *feat_diff;     // (N, 1, s, s) mean over F of (feats_rec - target)^2
    ddad_tensor_t *feat_diff_up;  // (N, 1, H, W) bilinear (align_corners false)
} ddad_anomaly_step_t;

/* One timestep of the scoring for a batch: x_t = q_sample(x0, t, noise),
 * the UNet at timestep_map[t], the VB terms (clip per opt) and the maps.
 * feat_target (N, F, s, s) (the frozen extractor's features of x0) may be
 * NULL to skip the feature map. Runs without autograd. opt NULL = defaults. */
ddad_status_t ddad_anomaly_step(const ddad_diffusion_t *d, const ddad_unet_t *u, const ddad_tensor_t *x0,
                                const ddad_tensor_t *y, int64_t t, const ddad_tensor_t *noise,
                                const ddad_tensor_t *feat_target, const ddad_anomaly_options_t *opt,
                                ddad_anomaly_step_t *out);
void ddad_anomaly_step_free(ddad_anomaly_step_t *s);

/* (map - mean) / std per image over (C, H, W), unbiased std. */
ddad_status_t ddad_anomaly_standardize(ddad_tensor_t **out, const ddad_tensor_t *map);

/* Averages over n_t timesteps: diff_mask = mean over t of nll_std[i], then
 * over channels -> (N, 1, H, W); feat_mask = mean over t of feat_up[i]
 * (N, 1, H, W); pred_mask = w_pixel * diff_mask + w_feat * feat_mask (the
 * reference's test script: 1, 1; the paper: alpha, 1 - alpha). feat_up may
 * be NULL (then feat_mask is NULL and pred_mask = w_pixel * diff_mask).
 * Any output pointer may be NULL. */
ddad_status_t ddad_anomaly_combine(const ddad_tensor_t *const *nll_std, const ddad_tensor_t *const *feat_up,
                                   size_t n_t, double w_pixel, double w_feat, ddad_tensor_t **diff_mask,
                                   ddad_tensor_t **feat_mask, ddad_tensor_t **pred_mask);

/* Image score: mean of the k largest values of each image's map
 * (N, ...) -> (N); k is clamped to the map size. */
ddad_status_t ddad_anomaly_image_score(ddad_tensor_t **score, const ddad_tensor_t *map, int64_t k);

#ifdef __cplusplus
}
#endif
#endif
