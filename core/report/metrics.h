/* core/report/metrics.h - exact anomaly-detection metrics: image and pixel AUROC,
 * AU-PRO (MVTec AD's official definition), F1-max, 8-connected components.
 *
 *     // maps (N, H, W) float32, higher = more anomalous; masks (N, H, W), != 0 = defect
 *     ddad_pixel_source_t src;
 *     ddad_pixel_source_from_arrays(&src, &arrays, maps, masks, n, h, w);
 *     ddad_pixel_metrics_t pm;
 *     if (ddad_metrics_pixel_eval(&src, DDAD_METRICS_ALL, 0.3, NULL, &pm)) ... error
 *     if (!pm.defined) printf("undefined: %s\n", pm.note);
 *     else printf("pixel AUROC %.4f  AU-PRO %.4f\n", pm.auroc, pm.au_pro);
 *
 * Everything is exact: no binning, every distinct score is a threshold, ties
 * are merged (a threshold t predicts "anomalous" for score >= t).
 *
 * Definitions
 *   AUROC    trapezoid area under (FPR, TPR) over all distinct thresholds,
 *            starting at (0, 0) - what sklearn's roc_curve + auc give. Computed
 *            with exact integer sums: area = sum dFP * (2 TP_prev + dTP) /
 *            (2 P N). A constant score gives 0.5.
 *   AU-PRO   MVTec AD's evaluate_experiment.py / pro_curve_util.py: ground-truth
 *            regions are 8-connected components of each mask, counted over the
 *            whole set; FPR = false positives over all normal pixels of all
 *            images (good images included); PRO(t) = mean over regions of the
 *            fraction of the region's pixels with score >= t. The curve is
 *            (0,0), one point per distinct threshold, (1,1); it is integrated
 *            with the trapezoid rule up to FPR = limit (linear interpolation at
 *            the limit) and divided by the limit. Streamed: per pixel, FP
 *            increment 1 (normal) or PRO increment 1/area(region) (anomalous);
 *            divided by #normal pixels and #regions.
 *   F1-max   max over distinct thresholds t of 2 TP / (TP + FP + P); the
 *            threshold reported is the score t (the highest one on ties).
 *
 * Algorithm and memory (pixel metrics)
 *   A float maps to an order-preserving uint32 key (-0 folded into +0). Pass 1
 *   counts pixels per (high 16 key bits, normal/anomalous): 2 x 65536 bins.
 *   Pass 2 scatters each pixel's low 16 key bits (uint16) into its bucket,
 *   and, for anomalous pixels only, its global region id (uint32). The sweep
 *   walks high buckets from the top; inside one it accumulates per low-16
 *   value (#normal, #anomalous, sum of 1/area) and visits the touched values in
 *   descending order (two 8-bit radix passes over the touched list for
 *   buckets under 16384 pixels, a scan of all 65536 values for larger ones,
 *   i.e. at most 4 steps per pixel). Cost O(P) for P pixels, two reads of
 *   the maps; single-threaded.
 *   Memory beyond the maps: 2 bytes per pixel + 4 bytes per anomalous pixel
 *   (only when AU-PRO is asked for) + ~3 MB of tables + per-image scratch of
 *   8 bytes per pixel of ONE image for component labelling.
 *   The maps are read twice through a ddad_pixel_source_t, so they need not be
 *   in memory at once (ddad_metrics_from_mapsfile streams them from HDF5).
 *
 * Undefined metrics
 *   The *_eval functions return DDAD_OK, set the undefined fields to NaN,
 *   defined = false and note = a static sentence saying why (no anomalous
 *   pixel, no normal pixel, no good image, no defective image). The scalar
 *   convenience functions (ddad_metrics_auroc, ddad_metrics_pixel_auroc,
 *   ddad_metrics_au_pro) return DDAD_STATUS_DATA with that sentence instead.
 *   NaN or Inf in a map or score is an error: DDAD_STATUS_NUMERIC naming the
 *   image index and pixel (y, x).
 */
#ifndef DDAD_METRICS_H
#define DDAD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DDAD_METRICS_DEFAULT_PRO_LIMIT 0.3

/* Which pixel metrics to compute (bit set). Asking for fewer saves time and,
 * without AU-PRO, the component labelling and its 4 bytes per defect pixel. */
enum {
    DDAD_METRICS_AUROC = 1u << 0,
    DDAD_METRICS_PRO = 1u << 1,
    DDAD_METRICS_F1 = 1u << 2,
    DDAD_METRICS_ALL = 7u
};

/* ---- image level ---------------------------------------------------- */

typedef struct ddad_image_metrics {
    double auroc;        /* NaN when undefined                              */
    double f1_max;       /* NaN when there is no defective image            */
    double f1_threshold; /* score reaching f1_max (NaN when undefined)      */
    int64_t num_images, num_defective;
    bool defined;        /* false: auroc is NaN, note says why              */
    const char *note;    /* static string, "" when everything is defined    */
} ddad_image_metrics_t;

/* scores (n) float32, labels (n) uint8 (!= 0 = defective). */
ddad_status_t ddad_metrics_image_eval(const float *scores, const uint8_t *labels, size_t n,
                                      ddad_image_metrics_t *out);

/* Plain AUROC of scores vs labels; DATA status when one class is absent. */
ddad_status_t ddad_metrics_auroc(const float *scores, const uint8_t *labels, size_t n, double *auroc);

/* ---- pixel level ---------------------------------------------------- */

/* A set of N maps of H x W read image by image (each image is asked for
 * twice, in order 0..N-1 both times). get() returns pointers valid until
 * the next call: map (H, W) float32 and mask (H, W) uint8, != 0 = defect. */
typedef struct ddad_pixel_source {
    int64_t n, h, w;
    ddad_status_t (*get)(void *user, int64_t i, const float **map, const uint8_t **mask);
    void *user;
} ddad_pixel_source_t;

/* The NUMERIC error for a non-finite value v at flat index k of map i (of
 * width w), naming the caller ("metrics", "curves"). */
ddad_status_t ddad_pixel_source_nonfinite(const char *who, int64_t i, int64_t k, int64_t w, float v);

/* Backing store for ddad_pixel_source_from_arrays (caller-owned, must
 * outlive the source). */
typedef struct ddad_pixel_arrays {
    const float *maps;    /* (N, H, W) */
    const uint8_t *masks; /* (N, H, W) */
    int64_t hw;
} ddad_pixel_arrays_t;

/* A source over in-memory arrays (no copy). */
void ddad_pixel_source_from_arrays(ddad_pixel_source_t *src, ddad_pixel_arrays_t *arrays, const float *maps,
                                   const uint8_t *masks, int64_t n, int64_t h, int64_t w);

typedef struct ddad_pixel_metrics {
    double auroc;            /* NaN when undefined or not asked for         */
    double au_pro;           /* normalised by pro_limit, in [0, 1]          */
    double pro_limit;
    double f1_max, f1_threshold;
    int64_t num_pixels, num_anomalous, num_regions;
    bool defined;            /* false when no anomalous or no normal pixel  */
    const char *note;        /* static string, "" when defined              */
} ddad_pixel_metrics_t;

/* Computes the metrics in `what` over every pixel of the source. If
 * image_max is not NULL it receives the max of each map (N floats: MVTec's
 * image score). pro_limit in (0, 1]. */
ddad_status_t ddad_metrics_pixel_eval(const ddad_pixel_source_t *src, unsigned what, double pro_limit,
                                      float *image_max, ddad_pixel_metrics_t *out);

/* Scalar conveniences over arrays maps (N, H, W), masks (N, H, W); DATA
 * status when undefined. */
ddad_status_t ddad_metrics_pixel_auroc(const float *maps, const uint8_t *masks, int64_t n, int64_t h, int64_t w,
                                       double *auroc);
ddad_status_t ddad_metrics_au_pro(const float *maps, const uint8_t *masks, int64_t n, int64_t h, int64_t w,
                                  double pro_limit, double *au_pro);

/* ---- connected components ------------------------------------------- */

/* Labels the 8-connected components of mask (H, W) (!= 0 = foreground) with
 * a two-pass union-find: labels (H, W) receives 0 for background and 1..n in
 * raster order of each component's first pixel (as scipy.ndimage.label with
 * a 3x3 ones structure). parent is scratch of at least h * ((w + 1) / 2) + 1
 * int32 (NULL: allocated here). *num receives n. */
ddad_status_t ddad_metrics_label8(const uint8_t *mask, int64_t h, int64_t w, int32_t *labels, int32_t *parent,
                                  int32_t *num);

/* The order-preserving key of a finite float (-0 and +0 map to one key). */
uint32_t ddad_metrics_float_key(float x);

#ifdef __cplusplus
}
#endif
#endif
