/* include/ddad/ddad.h - the deployment API: score images with a trained ddad run.
 *
 * Plain C (C99 or later, usable from C++); link with libddad (the shared
 * library: -lddad, pkg-config ddad, or find_package(ddad) and ddad::ddad).
 *
 *     ddad_scorer_t *s = NULL;
 *     if (ddad_scorer_open(&s, "runs/mvtec/bottle", NULL) != DDAD_OK) {   // or a checkpoint .h5
 *         fprintf(stderr, "error: %s\n", ddad_scorer_error());
 *         return 1;
 *     }
 *     ddad_scorer_result_t r;
 *     if (ddad_scorer_score_file(s, "part.png", &r) == DDAD_OK) {
 *         printf("score %.4f threshold %.4f -> %s\n", r.score, r.threshold,
 *                r.is_anomalous ? "ANOMALOUS" : "ok");
 *         // r.map (r.h, r.w): anomaly map at the input's size
 *         ddad_scorer_result_free(&r);
 *     }
 *     ddad_scorer_close(s);
 *
 * Opening loads the run's resolved config and the EMA weights of its latest
 * checkpoint (or of the checkpoint file given) once, on `device` ("cpu",
 * "cuda", "cuda:N"; NULL = the config's device), and the run folder's
 * threshold.json when present (written by ddad-eval or ddad-predict --calib:
 * thresholds fitted by a rule on calibration images, with the statistics of
 * the normalised scores). Each call then scores one image exactly as
 * ddad-eval does (core/nn/score.h): the image is resized (bicubic, as the
 * loader) to the model size, the map is computed there and resized
 * bilinearly back to the input's size; the score is taken on the
 * model-size map. Noise is seeded by the run's seed and image id 0, so the
 * same image always gets the same map.
 *
 * Verdict: is_anomalous = score > threshold, where threshold is the image
 * threshold of threshold.json; without that file threshold is NaN and
 * is_anomalous is false (ddad_scorer_has_threshold says which).
 *
 * Normalised scores (core/report/calib.h): normalized = clamp((score - t) /
 * (max - min) + 0.5, 0, 1) with the image threshold t and the min and max
 * image scores of the calibration images, so 0.5 is the threshold and
 * > 0.5 is anomalous; map_normalized is the same per pixel with the pixel
 * threshold and statistics, one fixed scale for every image. Both are NaN
 * when the run has no calibration (or one written before they existed).
 *
 * Errors: every function returns a ddad_status_t (0 = DDAD_OK); the message
 * of the last failure on this thread is ddad_scorer_error(). A scorer is not
 * thread-safe: use one per thread.
 *
 * Ownership: the scorer owns the model; a result owns its maps
 * (ddad_scorer_result_free, NULL and zeroed results accepted);
 * ddad_scorer_close accepts NULL.
 */
#ifndef DDAD_H
#define DDAD_H

#include <stdbool.h>
#include <stdint.h>

#include "export.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ddad_scorer ddad_scorer_t; /* opaque */

typedef struct ddad_scorer_result {
    float *map;            /* (h, w) anomaly map at the input's size (malloc'ed)   */
    int w, h;
    float score;           /* image score (score.image_score on the model-size map) */
    float threshold;       /* image threshold from threshold.json, NaN if none      */
    float pixel_threshold; /* pixel threshold for binary masks, NaN if none         */
    bool is_anomalous;     /* score > threshold (false without a threshold)         */
    float normalized;      /* score on the calibrated [0, 1] scale, NaN if none     */
    float *map_normalized; /* (h, w) map on that scale (malloc'ed)                  */
} ddad_scorer_result_t;

/* Where the stored thresholds came from (threshold.json). */
typedef struct ddad_scorer_calibration {
    float image_threshold, pixel_threshold; /* NaN when absent                        */
    char rule[48];          /* "max", "quantile:0.99", "fpr:0.01", "f1"                */
    char source[512];       /* the calibration images, e.g. "20 good images of ..."    */
    int images;             /* good calibration images                                 */
    int defect_images;      /* labelled defective ones (rule f1)                       */
    bool optimistic;        /* fitted on the images it was evaluated on (test split)   */
    bool normalized;        /* the statistics of the normalised scores are known       */
    bool seen_in_training;  /* fitted on images the model trained on: the thresholds
                               are too low and new good images will be flagged (files
                               older than the key: from ddad-eval's source text)      */
} ddad_scorer_calibration_t;

/* What the stored thresholds flagged on the labelled test split when
 * ddad-eval fitted them (strictly above each threshold, as deployed). The
 * rates are the counts' ratios, NaN when the denominator is 0. */
typedef struct ddad_scorer_threshold_check {
    int64_t good_images, good_flagged;           /* image false alarms: good_flagged of good_images   */
    int64_t defective_images, defective_flagged; /* defective images caught                            */
    double image_fpr, image_recall;              /* good_flagged / good_images, and of the defective   */
    double pixel_fpr_good_images;                /* pixels of the good test images above the threshold */
    double pixel_recall;                         /* defect pixels above the pixel threshold            */
} ddad_scorer_threshold_check_t;

/* run_dir_or_checkpoint: a run folder (its checkpoints/ holds the
 * checkpoints) or one checkpoint file. device NULL = the run's config. */
DDAD_API ddad_status_t ddad_scorer_open(ddad_scorer_t **out, const char *run_dir_or_checkpoint, const char *device);

/* The same with configuration overrides ("score.batch_size=8", applied to
 * the run's own config before the model is built; model.* keys must still
 * match the checkpoint, and diffusion.noise / noise_discount are refused
 * (DDAD_STATUS_CONFIG) when they differ from the noise it was trained with). */
DDAD_API ddad_status_t ddad_scorer_open_with(ddad_scorer_t **out, const char *run_dir_or_checkpoint, const char *device,
                                    const char *const *overrides, int n_overrides);

/* Scores an image file (PNG, JPEG, BMP). */
DDAD_API ddad_status_t ddad_scorer_score_file(ddad_scorer_t *s, const char *path, ddad_scorer_result_t *result);

/* Scores an 8-bit RGB image (h, w, 3), row-major, interleaved. */
DDAD_API ddad_status_t ddad_scorer_score_rgb(ddad_scorer_t *s, const uint8_t *rgb, int w, int h, ddad_scorer_result_t *result);

/* Scores n images in one batch (faster than n calls; the maps are the same
 * as image by image). rgb[i] is (h[i], w[i], 3); results (n) are filled. */
DDAD_API ddad_status_t ddad_scorer_score_rgb_batch(ddad_scorer_t *s, const uint8_t *const *rgb, const int *w, const int *h,
                                          int n, ddad_scorer_result_t *results);
/* Images per batch that use the run's score.batch_size fully. */
DDAD_API int ddad_scorer_batch_size(const ddad_scorer_t *s);

/* For a unified (multi-category) run: the category whose class label the
 * next images get (default: the run's first category). */
DDAD_API ddad_status_t ddad_scorer_set_category(ddad_scorer_t *s, const char *category);

/* True when threshold.json holds thresholds for the current category. */
DDAD_API bool ddad_scorer_has_threshold(const ddad_scorer_t *s);
/* The stored thresholds and their provenance for the current category
 * (DATA status when there are none: run ddad-eval or ddad-predict --calib). */
DDAD_API ddad_status_t ddad_scorer_calibration(const ddad_scorer_t *s, ddad_scorer_calibration_t *out);
/* How the stored thresholds did on the test split of the current category
 * (threshold.json's test_check, written by ddad-eval). DATA status when it
 * was not measured: thresholds from ddad-predict --calib, or from a
 * ddad-eval older than the check. */
DDAD_API ddad_status_t ddad_scorer_threshold_check(const ddad_scorer_t *s, ddad_scorer_threshold_check_t *out);
/* Re-reads threshold.json (after a new calibration was stored). */
DDAD_API ddad_status_t ddad_scorer_reload_calibration(ddad_scorer_t *s);
/* The run folder (owned by s) and the current category. */
DDAD_API const char *ddad_scorer_run_dir(const ddad_scorer_t *s);
DDAD_API const char *ddad_scorer_category(const ddad_scorer_t *s);
/* Where the current category's files are (maps.h5, calibration.csv; owned
 * by s): the run folder, or <run>/<category> in a unified run. */
DDAD_API const char *ddad_scorer_category_dir(const ddad_scorer_t *s);
/* How many categories the run was trained on (1, or more for a unified run). */
DDAD_API int ddad_scorer_category_count(const ddad_scorer_t *s);
/* Model input side in pixels, and the checkpoint that was loaded (owned by s). */
DDAD_API int ddad_scorer_image_size(const ddad_scorer_t *s);
DDAD_API const char *ddad_scorer_checkpoint(const ddad_scorer_t *s);
/* The feature extractor's weights (owned by s): the weights file, or
 * "random (seed N...)" when the run has none (scores are then not those of
 * the ImageNet network), or "none" for a method without features. */
DDAD_API const char *ddad_scorer_feature_weights(const ddad_scorer_t *s);

DDAD_API void ddad_scorer_result_free(ddad_scorer_result_t *result);
DDAD_API void ddad_scorer_close(ddad_scorer_t *s);

/* The message of the last failure on this thread ("" if none). */
DDAD_API const char *ddad_scorer_error(void);

#ifdef __cplusplus
}
#endif
#endif
