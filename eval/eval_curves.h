/* eval/eval_curves.h - the ROC and PRO curves of a maps file as data files
 * and gnuplot figures (the points come from core/report/curves.h).
 *
 *     if (eval_curves_write("runs/.../maps.h5", "runs/...", 0.3, &have_png)) ... error
 *
 * Writes, in out_dir: roc_pixel.dat and roc_image.dat ("fpr tpr" per line),
 * pro.dat ("fpr pro"), each after a '#' header line and complete or absent
 * (core/io/run.h), and, when gnuplot is on PATH, roc.png and pro.png (a warning
 * is logged and no PNG is written otherwise, or when gnuplot fails). The
 * image ROC is exact (every distinct score; the file's /scores, else the max
 * of each map); the pixel ROC and PRO curves are sampled at
 * EVAL_CURVE_LEVELS score levels evenly spaced between the smallest and
 * largest map value (the metrics themselves are exact: core/report/metrics.h). The
 * PRO curve follows MVTec AD's definition (core/report/curves.h).
 */
#ifndef DDAD_EVAL_CURVES_H
#define DDAD_EVAL_CURVES_H

#include <stdbool.h>

#include "status.h"

#define EVAL_CURVE_LEVELS 1024

/* *pngs_written: true when roc.png and pro.png were drawn. */
ddad_status_t eval_curves_write(const char *maps_path, const char *out_dir, double pro_limit, bool *pngs_written);

#endif
