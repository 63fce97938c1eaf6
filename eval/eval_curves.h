/* eval/eval_curves.h - ROC and PRO curve data of a maps file (for plots) and
 * their gnuplot figures.
 *
 *     if (eval_curves_write("runs/.../maps.h5", "runs/...", 0.3, &have_png)) ... error
 *
 * Writes, in out_dir: roc_pixel.dat and roc_image.dat ("fpr tpr" per line),
 * pro.dat ("fpr pro"), and, when gnuplot is on PATH, roc.png and pro.png
 * (a warning is logged and no PNG is written otherwise). The image ROC is
 * exact (every distinct score); the pixel ROC and PRO curves are sampled at
 * 1024 score levels evenly spaced between the smallest and largest map value
 * (the metrics themselves are exact: core/metrics.h). The PRO curve follows
 * MVTec AD's definition (8-connected regions over the whole set, FPR over all
 * normal pixels).
 */
#ifndef DDAD_EVAL_CURVES_H
#define DDAD_EVAL_CURVES_H

#include <stdbool.h>

#include "status.h"

#define EVAL_CURVE_LEVELS 1024

ddad_status_t eval_curves_write(const char *maps_path, const char *out_dir, double pro_limit, bool *pngs_written);

#endif
