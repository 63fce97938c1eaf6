/* core/io/run.h - the one owner of the run-folder layout: where each artifact
 * lives, folders created on demand and files that are either complete or
 * absent.
 *
 *     char maps[4096];
 *     ddad_run_path(maps, sizeof maps, run_dir, unified ? "bottle" : NULL, DDAD_RUN_MAPS);
 *     if (ddad_run_mkdir_p("runs/mvtec/bottle/predictions")) ... error
 *     char *text = ...;                     // the whole new content
 *     if (ddad_run_write_text_atomic("runs/mvtec/bottle/threshold.json", text)) ... error
 *
 * Atomic writes go to "<path>.tmp", are flushed and fsync'ed, then renamed
 * over <path>, so a crash or a full disk never leaves a half-written file
 * in place of the previous one. Errors are DDAD_STATUS_IO with the path and
 * the system's reason.
 */
#ifndef DDAD_RUN_H
#define DDAD_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The artifacts of a run folder (README "Outputs"). Run-level files live in
 * the run folder itself. Per-category files live in the category folder:
 * the run folder of a per-category run, <run>/<category> of a unified run;
 * the names are the same in both. */
typedef enum ddad_run_file {
    /* run level */
    DDAD_RUN_CONFIG = 0,   /* config.yaml: the resolved configuration (ddad-train) */
    DDAD_RUN_TRAIN_LOG,    /* train.log (ddad-train)                             */
    DDAD_RUN_LOSS_PLOT,    /* loss.png (ddad-train)                              */
    DDAD_RUN_CHECKPOINTS,  /* checkpoints/ (ddad-train)                          */
    DDAD_RUN_THRESHOLDS,   /* threshold.json: one entry per category             */
    DDAD_RUN_PREDICTIONS,  /* predictions/ (ddad-predict's default --out)        */
    DDAD_RUN_FIGURES,      /* figures/ (ddad-vis's default output)               */
    /* per category */
    DDAD_RUN_CATEGORY_DIR, /* the category folder itself                         */
    DDAD_RUN_MAPS,         /* maps.h5 (ddad-eval)                                */
    DDAD_RUN_METRICS_JSON, /* metrics.json (ddad-eval)                           */
    DDAD_RUN_METRICS_CSV,  /* metrics.csv (ddad-eval)                            */
    DDAD_RUN_REFERENCE,    /* reference.h5: held-out good maps' statistics       */
    DDAD_RUN_PADIM,        /* padim.h5: PaDiM statistics (ddad-vis)              */
    DDAD_RUN_IMAGES,       /* images/: heat maps, masks, overlays (ddad-eval)    */
    DDAD_RUN_CALIBRATION,  /* calibration.csv: the calibration images' scores    */
    DDAD_RUN_FILE_COUNT
} ddad_run_file_t;

/* The file or folder name of an artifact ("maps.h5", "checkpoints"). */
const char *ddad_run_file_name(ddad_run_file_t what);

/* Writes the path of an artifact of the run in run_dir to buf. category
 * names the category folder of a unified run; NULL for a per-category run
 * and ignored for run-level files. USAGE status when buf is too small. */
ddad_status_t ddad_run_path(char *buf, size_t cap, const char *run_dir, const char *category, ddad_run_file_t what);

/* Creates path and its missing parents (like mkdir -p); OK when it exists. */
ddad_status_t ddad_run_mkdir_p(const char *path);
/* True when path names a directory (after symbolic links). */
bool ddad_run_is_dir(const char *path);

/* fsyncs an existing file. */
ddad_status_t ddad_run_fsync_path(const char *path);

/* Puts a finished temporary file in place: fsyncs tmp and renames it over
 * path; on failure tmp is removed and path is untouched. For writers that
 * must write a named file themselves (HDF5, libpng, gnuplot): write to
 * "<path>.tmp" (or any name in the same folder), close, then commit. */
ddad_status_t ddad_run_commit(const char *tmp, const char *path);

/* Replaces path with the NUL-terminated text, atomically (see above). */
ddad_status_t ddad_run_write_text_atomic(const char *path, const char *text);

/* The same with a writer callback: write(f, user) fills the temporary
 * file and returns DDAD_OK; on any failure the temporary file is removed
 * and path is untouched. */
typedef ddad_status_t (*ddad_run_writer_fn)(FILE *f, void *user);
ddad_status_t ddad_run_write_atomic(const char *path, ddad_run_writer_fn write, void *user);

#ifdef __cplusplus
}
#endif
#endif
