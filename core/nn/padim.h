/* core/nn/padim.h - PaDiM on WideResNet-50-2 features: the Mahalanobis
 * distance whose gradient drives the gradient denoising (METHOD.md section 6).
 *
 * Embedding: layer1, layer2, layer3 of the WRN (256 + 512 + 1024 = 1792
 * channels) bilinearly resized (align_corners false) to the layer1 grid
 * (H/4 x W/4), concatenated in that order, then a fixed random subset of d
 * channels (default 500) chosen by a seeded permutation (indices stored).
 * Statistics per grid location l (L = grid_h * grid_w locations):
 * mean_l and covariance_l (unbiased, over the training images) + eps I
 * (eps 0.01), stored as the inverse covariance. The fit streams: each batch
 * adds to a float64 running sum and sum of outer products per location, so
 * memory does not grow with the number of images (it is L d^2 8 bytes for the
 * accumulator, L d^2 4 bytes for the result: 8.2 GB and 4.1 GB for a 256-px
 * image and d = 500; choose d or the image size accordingly).
 * Distance map: sqrt((e_l - mean_l)^T inv_cov_l (e_l - mean_l)) per location,
 * bilinearly upsampled (align_corners false) to the image size.
 *
 *     ddad_padim_t pd;
 *     ddad_padim_options_t o = ddad_padim_default_options();
 *     ddad_padim_init(&pd, &o, DDAD_CPU);
 *     for each batch of training images x (N, 3, H, W) in [-1, 1]:
 *         ddad_padim_fit_add(&pd, &wrn, x);
 *     ddad_padim_fit_end(&pd);                    // mean, inv_cov
 *     ddad_padim_save_h5(&pd, "runs/.../padim.h5");
 *     ddad_tensor_t *d, *g;                       // (N, 1, H, W), (N, 3, H, W)
 *     ddad_padim_distance(&pd, &wrn, x, true, &d, &g);
 *     ddad_tensor_free(d); ddad_tensor_free(g);
 *     ddad_padim_free(&pd);
 *
 * File format (HDF5, root attributes format = "ddad-padim", format_version =
 * 1, backbone, backbone_source, layers, c_total, d, eps, seed, n_train,
 * grid_h, grid_w, image_h, image_w): datasets indices (d) i64, mean (L, d)
 * f32, inv_cov (L, d, d) f32, with l = row * grid_w + col.
 */
#ifndef DDAD_NN_PADIM_H
#define DDAD_NN_PADIM_H

#include <stdbool.h>
#include <stdint.h>

#include "h5io.h"
#include "../torch/tensor.h"
#include "wrn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DDAD_PADIM_FORMAT "ddad-padim"
#define DDAD_PADIM_FORMAT_VERSION 1
#define DDAD_PADIM_CHANNELS 1792 /* 256 + 512 + 1024 */

typedef struct ddad_padim_options {
    int64_t d;     /* channels kept out of 1792 (500)                           */
    uint64_t seed; /* seed of the channel permutation (0)                       */
    double eps;    /* ridge added to every covariance (0.01)                    */
} ddad_padim_options_t;

typedef struct ddad_padim {
    int64_t c_total;          /* 1792                                          */
    int64_t d;                /* kept channels                                 */
    double eps;
    uint64_t seed;
    int64_t *indices;         /* (d) channel indices into the 1792, owned      */
    ddad_tensor_t *index;     /* (d) i64 on device, owned                      */
    ddad_device_t device;
    int64_t grid_h, grid_w;   /* layer1 grid; 0 until the first fit batch      */
    int64_t image_h, image_w; /* image size of the fit (0 for embeddings)      */
    int64_t n_train;          /* images seen by the fit                         */
    char backbone_source[512];/* the WRN's source ("random (seed N)", a file)  */
    bool backbone_random;     /* the fit used random WRN weights: label results */
    ddad_tensor_t *mean;      /* (L, d) f32 after fit_end / load, owned        */
    ddad_tensor_t *inv_cov;   /* (L, d, d) f32 after fit_end / load, owned     */
    ddad_tensor_t *acc_sum;   /* (L, d) f64 during the fit, owned              */
    ddad_tensor_t *acc_outer; /* (L, d, d) f64 during the fit, owned           */
} ddad_padim_t;

ddad_padim_options_t ddad_padim_default_options(void);

/* Draws the channel subset (the first d of a permutation of 0..1791 from a
 * generator seeded with opt->seed) and prepares an empty model on dev.
 * opt NULL = defaults. */
ddad_status_t ddad_padim_init(ddad_padim_t *p, const ddad_padim_options_t *opt, ddad_device_t dev);
/* Frees everything; p may be NULL or already freed. */
void ddad_padim_free(ddad_padim_t *p);

/* x (N, 3, H, W) in [-1, 1] -> *emb (N, d, H/4, W/4): the selected channels of
 * the resized, concatenated WRN layers. Differentiable with respect to x. */
ddad_status_t ddad_padim_embed(const ddad_padim_t *p, const ddad_wrn_t *wrn, const ddad_tensor_t *x,
                               ddad_tensor_t **emb);

/* Adds a batch of training images to the running statistics (the first batch
 * fixes the grid and image size; later batches must match). */
ddad_status_t ddad_padim_fit_add(ddad_padim_t *p, const ddad_wrn_t *wrn, const ddad_tensor_t *x);
/* Same with embeddings computed elsewhere: emb (N, d, grid_h, grid_w). */
ddad_status_t ddad_padim_fit_add_embedding(ddad_padim_t *p, const ddad_tensor_t *emb);
/* mean = sum / n, cov = (sum_outer - n mean mean^T) / (n - 1) + eps I (in
 * float64), inv_cov by Cholesky, both stored as f32; frees the accumulators.
 * Needs n_train >= 2. */
ddad_status_t ddad_padim_fit_end(ddad_padim_t *p);

/* emb (N, d, grid_h, grid_w) -> *dist (N, 1, grid_h, grid_w), the square root
 * of the Mahalanobis form per location. Differentiable with respect to emb. */
ddad_status_t ddad_padim_distance_embedding(const ddad_padim_t *p, const ddad_tensor_t *emb, ddad_tensor_t **dist);

/* x (N, 3, H, W) in [-1, 1] (H/4, W/4 must equal the fitted grid) ->
 * *dist_map (N, 1, H, W), the distance map upsampled to the image size; and,
 * when need_grad_wrt_input, *grad (N, 3, H, W): for each image n the gradient
 * of mean_{h,w} dist_map[n] with respect to x[n] (autograd through the WRN;
 * images do not interact, so the result does not depend on the batch).
 * Otherwise no graph is built and *grad (grad may then be NULL) is NULL. Both
 * outputs are detached and owned by the caller (or the innermost open scope).
 * The grad mode of the caller is restored. */
ddad_status_t ddad_padim_distance(const ddad_padim_t *p, const ddad_wrn_t *wrn, const ddad_tensor_t *x,
                                  bool need_grad_wrt_input, ddad_tensor_t **dist_map, ddad_tensor_t **grad);

/* Writes the fitted model (see the format above), replacing the file. */
ddad_status_t ddad_padim_save_h5(const ddad_padim_t *p, const char *path);
/* Reads a model written by ddad_padim_save_h5 onto dev (p is initialised
 * here; on failure it is left freed). Checks the format, version and shapes. */
ddad_status_t ddad_padim_load_h5(ddad_padim_t *p, const char *path, ddad_device_t dev);

#ifdef __cplusplus
}
#endif
#endif
