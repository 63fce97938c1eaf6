/* core/report/report.h - metrics records per category and their output as a human
 * table (percent, one decimal, with a mean row, like the paper's Table 1),
 * CSV and JSON; metrics.json files with their provenance.
 *
 *     ddad_metrics_record_t rec;
 *     if (ddad_metrics_from_mapsfile("runs/bottle/maps.h5", 0.3, &rec)) ... error
 *     ddad_report_write(stdout, &rec, 1, DDAD_REPORT_TABLE);
 *
 * Undefined metrics are NaN in a record; the table prints "-", CSV an empty
 * field, JSON null, and the record's notes say why. The mean row averages
 * the defined values of each column; its images column is the total.
 */
#ifndef DDAD_REPORT_H
#define DDAD_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ddad_metrics_record {
    char category[64];
    int64_t images;
    double image_auroc;        /* fractions in [0, 1]; NaN when undefined      */
    double pixel_auroc;
    double au_pro;             /* normalised by au_pro_limit                    */
    double au_pro_limit;
    double pixel_f1_max, pixel_f1_threshold;
    double image_f1_max, image_f1_threshold;
    char notes[256];           /* why a metric is undefined, where scores came from */
} ddad_metrics_record_t;

typedef enum ddad_report_format {
    DDAD_REPORT_TABLE = 0,
    DDAD_REPORT_CSV,
    DDAD_REPORT_JSON
} ddad_report_format_t;

/* Parses "table", "csv" or "json" (USAGE status otherwise). */
ddad_status_t ddad_report_format_parse(const char *s, ddad_report_format_t *fmt);

/* Writes n records to out; the table adds a mean row when n > 1. IO status
 * when the stream reports an error. */
ddad_status_t ddad_report_write(FILE *out, const ddad_metrics_record_t *recs, size_t n, ddad_report_format_t fmt);

/* Sets rec to category's record before any result: images 0, every metric
 * NaN (undefined), au_pro_limit = pro_limit, no notes. Every record starts
 * here (category is cut to fit). */
void ddad_metrics_record_init(ddad_metrics_record_t *rec, const char *category, double pro_limit);

/* Appends "; note" to rec->notes (nothing when note is empty or it would
 * not fit). */
void ddad_metrics_add_note(ddad_metrics_record_t *rec, const char *note);

/* JSON output: a string with escapes (quotes included; a byte that is not
 * part of well-formed UTF-8 becomes U+FFFD, so the file stays valid JSON),
 * and a number with 10 significant digits (null for NaN and infinities). */
void ddad_json_string(FILE *out, const char *s);
void ddad_json_number(FILE *out, double v);
/* Copies src into dst (cap bytes, NUL included), cut before the character
 * that would not fit: a UTF-8 sequence is never split. */
void ddad_text_copy(char *dst, size_t cap, const char *src);

/* What a metrics.json says besides the metrics: how they were obtained. */
typedef struct ddad_metrics_provenance {
    const char *resolution;       /* "model" or "original"                    */
    int64_t map_h, map_w;
    double threshold;             /* pixel threshold of the binary masks      */
    const char *threshold_source; /* where it came from                       */
    const char *feature_weights;  /* the feature extractor's weights          */
    double seconds_per_image;
    const char *checkpoint;
    long long step;
    const char *notes;
    const struct ddad_calibration *calibration; /* the deployment thresholds, with how they do on the
                                                   test split (test_check), or NULL */
    double calibration_score_median;            /* median image score of the calibration images ...  */
    double good_score_median;                   /* ... and of the good test images (NaN: unknown)    */
} ddad_metrics_provenance_t;

struct ddad_config;

/* Writes path atomically (core/io/run.h) as one JSON object: rec's metrics,
 * the provenance x, cfg's score.* settings and the version. */
ddad_status_t ddad_report_write_metrics_json(const char *path, const struct ddad_config *cfg,
                                             const ddad_metrics_record_t *rec, const ddad_metrics_provenance_t *x);

/* ddad_report_write into the file path, atomically. */
ddad_status_t ddad_report_write_file(const char *path, const ddad_metrics_record_t *recs, size_t n,
                                     ddad_report_format_t fmt);

/* Evaluates a maps file (core/io/mapsfile.h): pixel AUROC, AU-PRO up to
 * pro_limit, pixel F1-max over every pixel, and image AUROC / F1-max from
 * the file's /scores or, when absent, the max of each map (MVTec AD's
 * official protocol). Streams the maps (see metrics.h for the memory).
 * Undefined metrics become NaN with a note; errors return a status. */
ddad_status_t ddad_metrics_from_mapsfile(const char *path, double pro_limit, ddad_metrics_record_t *rec);

#ifdef __cplusplus
}
#endif
#endif
