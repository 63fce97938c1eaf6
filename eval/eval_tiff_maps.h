/* eval/eval_tiff_maps.h - anomaly maps as one float TIFF per test image, in
 * the layout MVTec AD's official evaluation script reads:
 *     DIR/<category>/test/<defect>/<image stem>.tiff
 * at the original image resolution (ddad-eval --export-maps DIR), and the
 * way back: a folder of such TIFFs (ddad's or another method's) evaluated
 * against a data set's ground truth with ddad's metrics (ddad-eval
 * --maps-dir DIR --data ROOT).
 *
 *     eval_export_tiffs("runs/.../maps.h5", test, n_test, "export", "bottle");
 *     eval_maps_dir("export", "datasets/mvtec", DDAD_DATA_FORMAT_MVTEC, "bottle", 0.3, &rec);
 *
 * Import: the test images of the category come from the data set (the same
 * list ddad-eval uses); each needs its TIFF (DATA status naming the missing
 * file), of the size of its ground truth (the mask, or the image for good
 * ones; a mismatch is an error, as in MVTec's script). Image scores are the
 * max of each map (MVTec's protocol). The maps go through a temporary maps
 * file in $TMPDIR (removed afterwards) and ddad_metrics_from_mapsfile, so the
 * numbers are exactly those of ddad-eval --maps.
 */
#ifndef DDAD_EVAL_TIFF_MAPS_H
#define DDAD_EVAL_TIFF_MAPS_H

#include <stddef.h>

#include "dataset.h"
#include "report.h"
#include "status.h"

/* test (n) are the maps file's rows in order (ddad-eval's test split). Maps
 * at model resolution are resized bilinearly to each image's original size. */
ddad_status_t eval_export_tiffs(const char *maps_path, const ddad_sample_t *const *test, size_t n, const char *dir,
                                const char *category);

ddad_status_t eval_maps_dir(const char *dir, const char *data_root, ddad_data_format_t format,
                            const char *category, double pro_limit, ddad_metrics_record_t *rec);

#endif
