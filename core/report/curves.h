/* core/report/curves.h - ROC and PRO curve points for plots: the exact image ROC and
 * the pixel ROC and PRO curves sampled at a fixed number of score levels.
 * The metrics themselves (areas, F1) are exact and live in core/report/metrics.h;
 * this module only gives the points to draw.
 *
 *     // scores (n) float32, labels (n) uint8 (!= 0 = defective)
 *     ddad_curve_t roc;
 *     if (ddad_curves_image_roc(scores, labels, n, &roc)) ... error
 *     for (size_t k = 0; k < roc.n; k++) printf("%g %g\n", roc.x[k], roc.y[k]);
 *     ddad_curve_free(&roc);
 *
 *     ddad_pixel_curves_t pc;   // maps and masks through a pixel source (metrics.h)
 *     if (ddad_curves_pixel(&src, 1024, image_max, &pc)) ... error
 *     ... pc.roc (FPR, TPR), pc.pro (FPR, PRO) ...
 *     ddad_pixel_curves_free(&pc);
 *
 * Definitions (a threshold predicts "anomalous" for the samples at or above it)
 *   image ROC  exact: (0, 0), then one point (FPR, TPR) per distinct score in
 *              descending order (ties merged), ending at (1, 1) when both
 *              classes are present - sklearn.metrics.roc_curve(drop_intermediate=False) without its
 *              +inf threshold. FPR (TPR) is 0 when there is no good
 *              (defective) image.
 *   levels     the pixel curves are sampled: with lo and hi the smallest and
 *              largest map value and span = hi - lo (1 when hi == lo), a
 *              pixel of score s falls into level floor((s - lo) / span * L),
 *              clamped to [0, L - 1], for L = levels. Point 0 is (0, 0);
 *              point k (k = 1..L) counts the pixels whose level is >= L - k,
 *              i.e. a threshold near lo + (L - k) span / L; point L counts
 *              every pixel. Where every distinct score has a level of its
 *              own, the points are those of the exact curve (a point
 *              repeats for each empty level).
 *   pixel ROC  FPR = normal pixels counted / all normal pixels, TPR =
 *              anomalous pixels counted / all anomalous pixels (0 when there
 *              is none).
 *   PRO        MVTec AD's definition, as AU-PRO in core/report/metrics.h: ground-truth
 *              regions are the 8-connected components of each mask (counted
 *              over the whole set); PRO = mean over regions of the fraction of
 *              the region's pixels counted (0 when there is no region); FPR
 *              as for the pixel ROC (all normal pixels of all images).
 *   Integrating the PRO curve with the trapezoid rule up to FPR = limit and
 *   dividing by limit gives core/metrics' AU-PRO whenever every distinct map
 *   value has a level of its own (tests/test_curves.c checks this).
 *
 * Who owns what: the curves own their arrays (malloc'ed here, released by
 * ddad_curve_free / ddad_pixel_curves_free, which accept zeroed structs).
 * The inputs are only read. Memory of ddad_curves_pixel: 4 x (L + 1)
 * doubles of output, 2 x L counts, 8 x L bytes per ground-truth region (a
 * table that grows by doubling) and 8 bytes per pixel of one map for the
 * component labelling.
 *
 * Errors: USAGE for levels outside 1..2^24 or a bad source, NUMERIC naming the
 * image (and pixel) of a non-finite score, NOMEM, and whatever the source
 * returns; the output is then left zeroed (nothing to free).
 */
#ifndef DDAD_CURVES_H
#define DDAD_CURVES_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* n points (x[k], y[k]); x and y are non-decreasing. */
typedef struct ddad_curve {
    size_t n;
    double *x; /* (n) false positive rate                        */
    double *y; /* (n) true positive rate or per-region overlap   */
} ddad_curve_t;

typedef struct ddad_pixel_curves {
    ddad_curve_t roc;     /* (levels + 1) points: FPR, TPR                  */
    ddad_curve_t pro;     /* (levels + 1) points: FPR, PRO (same FPR)       */
    int64_t levels;       /* L                                              */
    float lo, hi;         /* smallest and largest map value (+inf, -inf
                             when there is no pixel)                         */
    int64_t num_regions;  /* ground-truth regions over the whole set        */
    int64_t num_normal, num_anomalous; /* pixels                            */
} ddad_pixel_curves_t;

/* The exact image ROC of scores (n) float32 vs labels (n) uint8. */
ddad_status_t ddad_curves_image_roc(const float *scores, const uint8_t *labels, size_t n, ddad_curve_t *out);

/* The pixel ROC and PRO curves of every pixel of src (read twice, in order,
 * like ddad_metrics_pixel_eval) sampled at `levels` score levels. If
 * image_max is not NULL it receives the max of each map (src->n floats). */
ddad_status_t ddad_curves_pixel(const ddad_pixel_source_t *src, int64_t levels, float *image_max,
                                ddad_pixel_curves_t *out);

void ddad_curve_free(ddad_curve_t *c);
void ddad_pixel_curves_free(ddad_pixel_curves_t *c);

#ifdef __cplusplus
}
#endif
#endif
