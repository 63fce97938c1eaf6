/* eval/eval_run.h - evaluate a trained run: one model, one or more of its
 * categories (several for a unified run).
 *
 *     eval_ctx_t c;
 *     eval_opts_t o = eval_opts_default();
 *     if (eval_ctx_open(&c, &cfg, &o)) ... error             // run folder, checkpoint, model
 *     ddad_metrics_record_t rec;
 *     if (eval_ctx_category(&c, "bottle", &rec)) ... error   // maps.h5, metrics.json, ...
 *     eval_ctx_write_thresholds(&c);                         // threshold.json
 *     eval_ctx_close(&c);
 *
 * Files per category, in the run folder (per-category run) or in
 * <run folder>/<category> (unified run):
 *   maps.h5        the maps file (core/io/mapsfile.h) with /scores, /kl_maps,
 *                  /feat_maps and the resolved config as config.* attributes
 *   metrics.json   one object: the metrics, threshold and its source, map
 *                  resolution, feature-extractor weights, timing, notes
 *   metrics.csv    the report CSV (core/report/report.h)
 *   roc_*.dat, pro.dat, roc.png, pro.png   curves (eval_curves.h)
 *   images/        heat map, binary mask, overlay per test image (optional)
 * and threshold.json in the run folder: thresholds per category fitted on
 * good training images (the deployment threshold the scoring API reads).
 */
#ifndef DDAD_EVAL_RUN_H
#define DDAD_EVAL_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "calib.h"
#include "config.h"
#include "nn/model.h"
#include "report.h"

typedef struct eval_opts {
    const char *checkpoint;  /* NULL = the latest in the run folder              */
    double pro_limit;        /* AU-PRO integration limit                         */
    bool save_images;        /* per-image PNGs (also eval.save_images)           */
    bool quiet;              /* no per-image lines                               */
    int threshold_images;    /* good training images the threshold is fitted on
                                when no image is held out (data.val_split 0)   */
    bool threshold_f1;       /* binary masks at the test-split F1-max threshold  */
    const char *export_maps; /* TIFF maps in MVTec's layout under this folder, or NULL */
} eval_opts_t;

eval_opts_t eval_opts_default(void);

#define EVAL_MAX_CATEGORIES 32


typedef struct eval_ctx {
    ddad_config_t cfg;
    eval_opts_t opts;
    char run_dir[DDAD_CONFIG_PATH_MAX];
    char checkpoint[DDAD_CONFIG_PATH_MAX];
    long long step;
    ddad_model_t model;
    bool model_ready;
    ddad_calibration_t thresholds[EVAL_MAX_CATEGORIES]; /* fitted per category, written by _write_thresholds */
    size_t n_thresholds;
} eval_ctx_t;

/* Set by the programs' SIGINT/SIGTERM handler; checked between images. */
extern volatile sig_atomic_t eval_interrupted;

/* Finds the run folder and checkpoint, builds the model and loads the EMA
 * weights. DATA status when the run has no checkpoint. */
ddad_status_t eval_ctx_open(eval_ctx_t *c, const ddad_config_t *cfg, const eval_opts_t *o);
/* Evaluates one category of the run and writes its files (see above). */
ddad_status_t eval_ctx_category(eval_ctx_t *c, const char *category, ddad_metrics_record_t *rec);
/* Writes <run>/threshold.json (merging entries of other categories already there). */
ddad_status_t eval_ctx_write_thresholds(eval_ctx_t *c);
void eval_ctx_close(eval_ctx_t *c);

#endif
