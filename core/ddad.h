/* core/ddad.h - the deployment API: score images with a trained ddad run.
 *
 * Plain C (C99 or later, usable from C++); link with libddad.
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
 * threshold.json when present (written by ddad-eval: thresholds fitted on
 * good training images). Each call then scores one image exactly as
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
 * Errors: every function returns a ddad_status_t (0 = DDAD_OK); the message
 * of the last failure on this thread is ddad_scorer_error(). A scorer is not
 * thread-safe: use one per thread.
 *
 * Ownership: the scorer owns the model; a result owns its map
 * (ddad_scorer_result_free, NULL and zeroed results accepted);
 * ddad_scorer_close accepts NULL.
 */
#ifndef DDAD_H
#define DDAD_H

#include <stdbool.h>
#include <stdint.h>

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
} ddad_scorer_result_t;

/* run_dir_or_checkpoint: a run folder (its checkpoints/ holds the
 * checkpoints) or one checkpoint file. device NULL = the run's config. */
ddad_status_t ddad_scorer_open(ddad_scorer_t **out, const char *run_dir_or_checkpoint, const char *device);

/* Scores an image file (PNG, JPEG, BMP). */
ddad_status_t ddad_scorer_score_file(ddad_scorer_t *s, const char *path, ddad_scorer_result_t *result);

/* Scores an 8-bit RGB image (h, w, 3), row-major, interleaved. */
ddad_status_t ddad_scorer_score_rgb(ddad_scorer_t *s, const uint8_t *rgb, int w, int h, ddad_scorer_result_t *result);

/* For a unified (multi-category) run: the category whose class label the
 * next images get (default: the run's first category). */
ddad_status_t ddad_scorer_set_category(ddad_scorer_t *s, const char *category);

/* True when threshold.json was found. */
bool ddad_scorer_has_threshold(const ddad_scorer_t *s);
/* Model input side in pixels, and the checkpoint that was loaded (owned by s). */
int ddad_scorer_image_size(const ddad_scorer_t *s);
const char *ddad_scorer_checkpoint(const ddad_scorer_t *s);

void ddad_scorer_result_free(ddad_scorer_result_t *result);
void ddad_scorer_close(ddad_scorer_t *s);

/* The message of the last failure on this thread ("" if none). */
const char *ddad_scorer_error(void);

#ifdef __cplusplus
}
#endif
#endif
