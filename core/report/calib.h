/* core/report/calib.h - deployment thresholds and normalised scores, and the run's
 * threshold.json (the one reader and the one writer of that file).
 *
 *     ddad_calib_rule_t rule;
 *     if (ddad_calib_rule_parse("fpr:0.01", &rule)) ... error
 *     ddad_calib_set_t set = {.scores = s, .maps = m, .n = 20, .hw = 64 * 64};   // good images only
 *     ddad_calibration_t cal;
 *     if (ddad_calib_fit(&rule, &set, &cal)) ... error
 *     snprintf(cal.category, sizeof cal.category, "bottle");
 *     snprintf(cal.source, sizeof cal.source, "20 held-out good images");
 *     ddad_calib_file_update("runs/mvtec/bottle/threshold.json", ckpt, &cal, 1);
 *     double u = ddad_calib_normalize_score(&cal, 3.2);   // 0.5 at the threshold
 *
 * Rules (threshold.rule, ddad-predict --rule), always fitted on anomaly
 * scores where higher = more anomalous and an image or pixel is flagged when
 * its value is strictly above the threshold:
 *   max          the largest value among the good calibration images
 *                (no good calibration image is flagged);
 *   quantile:Q   the Q-quantile (0 <= Q <= 1) of the good values, linear
 *                interpolation between order statistics (numpy's default);
 *   fpr:F        the smallest threshold that flags at most a fraction F
 *                (0 <= F < 1) of the good values: sorted ascending, the value
 *                at index n-1-floor(F n);
 *   f1           the F1-maximal threshold over labelled good and defective
 *                images (and, for pixels, their masks); it needs defective
 *                examples and is refused with only good ones, where it would
 *                call every image anomalous. Fitted on the test split it is
 *                optimistic and is labelled so.
 * Image thresholds are fitted on image scores, pixel thresholds on every
 * pixel of the calibration maps (with masks for f1).
 *
 * Normalised score (anomalib's min-max convention): with the threshold t
 * and the min and max of the calibration values,
 *     u = clamp((x - t) / (max - min) + 0.5, 0, 1),
 * so u = 0.5 exactly at the threshold and u > 0.5 means flagged. Image
 * scores use the image statistics and maps the pixel statistics, stored
 * next to the thresholds, so colours and numbers are on one fixed scale for
 * every image.
 *
 * threshold.json (format "ddad-threshold", format_version 2):
 *   {"format": "ddad-threshold", "format_version": 2, "checkpoint": "...",
 *    "thresholds": [{"category": "bottle", "rule": "max",
 *       "image_threshold": 1.2, "pixel_threshold": 3.4,
 *       "image_min": 0.1, "image_max": 1.2, "pixel_min": -2, "pixel_max": 3.4,
 *       "images": 20, "defect_images": 0, "optimistic": false,
 *       "seen_in_training": false,
 *       "source": "20 held-out good images of bottle (data.val_split 0.1)",
 *       "test_check": {"good_images": 20, "good_flagged": 1, ...}}]}
 * test_check (optional; written by ddad-eval) holds the counts of a
 * ddad_calib_check_t under the same names: what the thresholds flagged on
 * the labelled test split, so a deployment can say how they did.
 * seen_in_training is absent from files written before it existed; it is
 * then read as true when the source holds DDAD_CALIB_SEEN_MARK, which
 * ddad-eval wrote there when it fitted on training images.
 * Version 1 files (no rule, no statistics) are read as rule "max" with
 * unknown statistics (normalised scores are then NaN).
 *
 * Ownership: a ddad_calib_file_t owns its entries (ddad_calib_file_free).
 */
#ifndef DDAD_CALIB_H
#define DDAD_CALIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DDAD_CALIB_FORMAT "ddad-threshold"
#define DDAD_CALIB_VERSION 2
#define DDAD_CALIB_FILE "threshold.json"
/* In the source of thresholds fitted on training images (older files have
 * no seen_in_training key but this mark). */
#define DDAD_CALIB_SEEN_MARK "(seen in training)"

typedef enum ddad_calib_rule_kind {
    DDAD_CALIB_RULE_MAX = 0,
    DDAD_CALIB_RULE_QUANTILE,
    DDAD_CALIB_RULE_FPR,
    DDAD_CALIB_RULE_F1
} ddad_calib_rule_kind_t;

typedef struct ddad_calib_rule {
    ddad_calib_rule_kind_t kind;
    double value; /* Q of quantile:Q, F of fpr:F, 0 otherwise */
} ddad_calib_rule_t;

/* Parses "max", "quantile:Q", "fpr:F" or "f1"; CONFIG status with the
 * accepted forms otherwise. */
ddad_status_t ddad_calib_rule_parse(const char *text, ddad_calib_rule_t *out);
/* The canonical text of a rule ("quantile:0.99"). */
void ddad_calib_rule_format(const ddad_calib_rule_t *rule, char *buf, size_t cap);

/* ---- how a threshold does on labelled images --------------------------- */

/* Counts, on a labelled set the thresholds were not fitted on (ddad-eval: the
 * test split), of what the deployment thresholds flag (strictly above, as
 * when deployed): the image threshold on image scores, the pixel threshold
 * on every map pixel. good_flagged / good_images is the image false-positive
 * rate a user will see, defective_flagged / defective_images the share of
 * defective images caught; likewise per pixel against the masks, where
 * the normal pixels of the good images alone say how much of a good part
 * lights up (the normal pixels of defective images include the smoothed
 * halo around each defect). */
typedef struct ddad_calib_check {
    int64_t good_images, good_flagged;
    int64_t defective_images, defective_flagged;
    int64_t normal_pixels, normal_flagged;        /* of all images              */
    int64_t good_image_pixels, good_image_flagged; /* of the good images alone   */
    int64_t anomalous_pixels, anomalous_flagged;
} ddad_calib_check_t;

typedef struct ddad_calibration {
    char category[64];
    char rule[48];                   /* canonical rule text; "f1 (pixels: max, no masks)" when f1 had no masks */
    double image_threshold, pixel_threshold;
    double image_min, image_max;     /* over the calibration scores (NaN: unknown) */
    double pixel_min, pixel_max;     /* over every calibration map pixel           */
    int images;                      /* good calibration images                    */
    int defect_images;               /* labelled defective ones (rule f1)          */
    bool optimistic;                 /* fitted on the images it is evaluated on    */
    bool seen_in_training;           /* fitted on images the model trained on: their
                                        scores run low, so the thresholds do too and
                                        new good images get flagged               */
    char source[512];                /* where the images came from                 */
    bool has_test_check;             /* test_check is known                        */
    ddad_calib_check_t test_check;   /* what these thresholds flagged on the labelled
                                        test split when ddad-eval fitted them (not
                                        for thresholds fitted by ddad-predict --calib) */
} ddad_calibration_t;

/* A calibration set: n images with their image scores and maps (n, hw).
 * labels NULL = all good; masks NULL = no pixel labels. */
typedef struct ddad_calib_set {
    const float *scores;   /* (n)                         */
    const uint8_t *labels; /* (n) != 0 = defective, or NULL */
    const float *maps;     /* (n, hw), or NULL (no pixel threshold) */
    const uint8_t *masks;  /* (n, hw) != 0 = defect, or NULL */
    size_t n, hw;
} ddad_calib_set_t;

/* Fits both thresholds and the statistics; fills every numeric field, the
 * rule text and the counts of out (category and source are the caller's).
 * Needs at least one good image; f1 also one defective image (CONFIG status
 * explaining why otherwise). NUMERIC status on non-finite values. */
ddad_status_t ddad_calib_fit(const ddad_calib_rule_t *rule, const ddad_calib_set_t *set, ddad_calibration_t *out);

/* One threshold of a rule over values v (n) with labels (NULL = all good). */
ddad_status_t ddad_calib_threshold(const ddad_calib_rule_t *rule, const float *v, const uint8_t *labels, size_t n,
                                   double *threshold);

/* u = clamp((x - t) / (hi - lo) + 0.5, 0, 1); hi <= lo uses a range of 1;
 * NaN when t, lo or hi is not finite. */
double ddad_calib_normalize(double x, double t, double lo, double hi);
double ddad_calib_normalize_score(const ddad_calibration_t *c, double score);
/* out[i] = normalised in[i] with the pixel statistics (in == out allowed). */
void ddad_calib_normalize_map(const ddad_calibration_t *c, const float *in, float *out, size_t n);
/* True when the normalised scores are defined (statistics known). */
bool ddad_calib_has_statistics(const ddad_calibration_t *c);


/* Adds one image to check (zero it first): its score and label (!= 0 =
 * defective), and its map and mask (hw each; mask NULL = no defect pixel,
 * map NULL = image level only). A NaN threshold flags nothing. */
/* part / whole, NaN when whole is 0 (e.g. no good test image). */
double ddad_calib_rate(int64_t part, int64_t whole);

void ddad_calib_check_add(const ddad_calibration_t *cal, ddad_calib_check_t *check, float score, uint8_t label,
                          const float *map, const uint8_t *mask, size_t hw);

/* ---- calibration.csv ------------------------------------------------- */

/* Writes, atomically, the images a threshold was fitted on, one row each:
 * name,label,score,above_threshold (label good or defective; above = score
 * strictly above cal's image threshold; names quoted as CSV needs).
 * labels NULL = all good. */
ddad_status_t ddad_calib_write_scores(const char *path, const ddad_calibration_t *cal, const char *const *names,
                                      const uint8_t *labels, const float *scores, size_t n);

/* ---- threshold.json -------------------------------------------------- */

typedef struct ddad_calib_file {
    int format_version;
    char checkpoint[4096];
    ddad_calibration_t *entries; /* (n) */
    size_t n;
} ddad_calib_file_t;

/* "<run_dir>/threshold.json" into buf. */
void ddad_calib_path(char *buf, size_t cap, const char *run_dir);
/* Reads a thresholds file; DATA status naming the file when it is
 * malformed, IO status when it cannot be read. */
ddad_status_t ddad_calib_file_read(const char *path, ddad_calib_file_t *out);
/* The entry of a category, NULL when absent. */
const ddad_calibration_t *ddad_calib_file_find(const ddad_calib_file_t *f, const char *category);
/* Merges entries into the file at path (replacing those of the same
 * categories, keeping the others; a malformed old file is replaced) and
 * writes it atomically. */
ddad_status_t ddad_calib_file_update(const char *path, const char *checkpoint, const ddad_calibration_t *entries,
                                     size_t n);
void ddad_calib_file_free(ddad_calib_file_t *f);

#ifdef __cplusplus
}
#endif
#endif
