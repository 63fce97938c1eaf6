/* core/report/reference.h - statistics of the anomaly maps of good images the
 * model did not train on (data.val_split), for score.normalize = good.
 *
 *     ddad_reference_acc_t *acc;
 *     if (ddad_reference_acc_create(&acc, T, H, W, true)) ...
 *     for each held-out good image: ddad_reference_acc_add(acc, kl_steps, feat_steps);  // (T, H, W) raw maps
 *     ddad_score_reference_t ref;
 *     if (ddad_reference_acc_finish(acc, &ref)) ...       // acc freed in any case
 *     ddad_reference_save(&ref, "runs/mvtec/bottle/reference.h5", "20 images of train/good held out");
 *     m.reference = &ref;                                  // ddad_score_images normalises with it
 *     ...
 *     ddad_reference_free(&ref);
 *
 * What is stored, per branch b (pixel = the KL map, feat = the feature map),
 * where m_b is an image's map of that branch averaged over the timesteps (the
 * raw KL in bits, not the per-image z-score):
 *   mean_b (H, W)  per-pixel mean of m_b over the n reference images;
 *   std_b          the standard deviation of m_b - mean_b over all pixels of
 *                  all reference images (one number; score.good_std global);
 *   std_map_b (H, W) one standard deviation per pixel (score.good_std pixel),
 *                  shrunk toward std_b: var = (n var_p + k std_b^2) / (n + k)
 *                  with k = DDAD_REFERENCE_SHRINK_IMAGES, so that a pixel seen
 *                  in a few dozen images does not get a noisy scale.
 * The same three statistics of each timestep's map alone (the raw KL of
 * timestep t, not averaged), stored as (T, H, W) / (T) arrays:
 *   mean_t_b, std_t_b, std_map_t_b   for score.good_timesteps each.
 * Normalised map of a test image: z_b = (m_b - mean_b) / std_b (or / std_map_b);
 * with score.good_timesteps each, z_b = mean over t of (m_b,t - mean_t_b[t]) /
 * std_t_b[t] (or / std_map_t_b[t]), so that each timestep weighs the same.
 * For an aligned object the per-pixel mean removes what every good image has
 * (rims, edges, the feature extractor's border effects), and the per-pixel
 * std damps what varies from one good image to the next (a highlight that
 * moves); for a texture both are nearly flat. Dividing by the std brings
 * both branches to one scale, so that score.alpha weighs them as it says.
 *
 * File (format "ddad-reference", format_version 3): /pixel_mean and
 * /pixel_std_map float32 (H, W), /feat_mean and /feat_std_map float32 (H, W)
 * (absent for score.method rgb), /pixel_mean_t, /pixel_std_map_t float32
 * (T, H, W) and /pixel_std_t float64 (T) (the feat_ ones likewise), root
 * attributes pixel_std, feat_std, images (count), timesteps ("5,50,100"),
 * noise_draws, source (where the images came from). Version 1 files (no std
 * maps) load, and serve score.good_std global only; version 1 and 2 files (no
 * per-timestep statistics) serve score.good_timesteps average only. Written
 * to "<path>.partial" and renamed, so it is complete or absent.
 *
 * Ownership: a ddad_score_reference_t owns its arrays (ddad_reference_free,
 * which accepts a zeroed struct). The accumulator is freed by _finish or
 * _acc_free.
 */
#ifndef DDAD_REPORT_REFERENCE_H
#define DDAD_REPORT_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DDAD_REFERENCE_FORMAT "ddad-reference"
#define DDAD_REFERENCE_VERSION 3
/* pseudo-images of the global variance in each pixel's variance (std_map) */
#define DDAD_REFERENCE_SHRINK_IMAGES 5

typedef struct ddad_score_reference {
    int64_t h, w;
    int64_t n_images;
    float *pixel_mean;   // (H, W)
    float *feat_mean;    // (H, W) or NULL (no feature branch)
    float *pixel_std_map; // (H, W); NULL when read from a version 1 file
    float *feat_std_map;  // (H, W) or NULL (no feature branch, version 1)
    double pixel_std;
    double feat_std;     /* 0 without a feature branch                    */
    int64_t n_t;         /* timesteps of the per-timestep statistics; 0 when absent (version 1-2 file) */
    float *pixel_mean_t;    // (T, H, W) or NULL
    float *pixel_std_map_t; // (T, H, W) or NULL
    double *pixel_std_t;    // (T) or NULL
    float *feat_mean_t;     // (T, H, W) or NULL (no feature branch)
    float *feat_std_map_t;  // (T, H, W) or NULL
    double *feat_std_t;     // (T) or NULL
} ddad_score_reference_t;

typedef struct ddad_reference_acc ddad_reference_acc_t;

ddad_status_t ddad_reference_acc_create(ddad_reference_acc_t **out, int64_t n_t, int64_t h, int64_t w, bool has_feat);
/* One image's raw per-timestep maps kl_steps (T, H, W) and feat_steps
 * (T, H, W) (NULL without a feature branch). */
void ddad_reference_acc_add(ddad_reference_acc_t *acc, const float *kl_steps, const float *feat_steps);
/* Needs at least 2 images; frees acc. */
ddad_status_t ddad_reference_acc_finish(ddad_reference_acc_t *acc, ddad_score_reference_t *out);
/* The same statistics, keeping acc (for ddad_reference_acc_without). */
ddad_status_t ddad_reference_acc_stats(const ddad_reference_acc_t *acc, ddad_score_reference_t *out);
/* Images added so far. */
int64_t ddad_reference_acc_count(const ddad_reference_acc_t *acc);
/* The statistics of the accumulated images without one of them, given by
 * the raw maps it was added with (kl_steps, feat_steps as for _add): what
 * that image is normalised by when it must be scored as one the statistics
 * were not fitted on (the deployment threshold's calibration: in-sample
 * statistics standardise their own images too well, and a threshold fitted
 * on them flags most new good images). Needs at least 3 images. Rounding of
 * the subtracted sums aside, equal to the statistics of the other images. */
ddad_status_t ddad_reference_acc_without(const ddad_reference_acc_t *acc, const float *kl_steps,
                                         const float *feat_steps, ddad_score_reference_t *out);
void ddad_reference_acc_free(ddad_reference_acc_t *acc);

/* Normalises one image's t-averaged maps in place: pixel (H, W) and feat
 * (H, W) (NULL: skipped), by the per-pixel std maps when per_pixel (which
 * the reference must have: ddad_reference_use checks) else by the global std. */
void ddad_reference_apply(const ddad_score_reference_t *ref, bool per_pixel, float *pixel, float *feat);

ddad_status_t ddad_reference_save(const ddad_score_reference_t *ref, const char *path, const char *timesteps,
                                  int noise_draws, const char *source);
/* Loads and checks a reference file; DDAD_STATUS_DATA when it is absent
 * (with a hint to run ddad-eval) or of the wrong size. */
ddad_status_t ddad_reference_load(ddad_score_reference_t *ref, const char *path, int64_t h, int64_t w);
void ddad_reference_free(ddad_score_reference_t *ref);

/* The reference file of a category in a run folder: <run>/reference.h5, or
 * <run>/<category>/reference.h5 for a unified run (where ddad-eval writes it). */
void ddad_reference_path(char *buf, size_t cap, const char *run_dir, const char *category, bool unified);

/* Loads PATH (a size x size reference) for scoring with sc (its good_std,
 * good_timesteps and the number of its timesteps): a file without per-pixel
 * stds under good_std pixel, or without per-timestep statistics for as many
 * timesteps under good_timesteps each, is a DATA error with a hint to rerun
 * ddad-eval. */
ddad_status_t ddad_reference_load_for(ddad_score_reference_t *ref, const char *path, int64_t size,
                                     const ddad_config_score_t *sc);

/* One image's score.normalize good map from its raw per-timestep maps:
 * kl_steps (T, H, W) and feat_steps (T, H, W) (NULL without a feature
 * branch), T = ref's timesteps under good_timesteps each. Writes the
 * normalised t-averages pixel (H, W) and feat (H, W) (when feat_steps) and
 * map = alpha * pixel + (1 - alpha) * feat (pixel alone without feat). The
 * scorer and ddad-alpha-sweep both build their maps with it. */
void ddad_reference_score_map(const ddad_score_reference_t *ref, ddad_score_good_std_t good_std,
                              ddad_score_good_timesteps_t good_timesteps, double alpha, const float *kl_steps,
                              const float *feat_steps, int64_t n_t, float *pixel, float *feat, float *map);

#ifdef __cplusplus
}
#endif
#endif
