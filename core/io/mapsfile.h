/* core/io/mapsfile.h - the anomaly-maps file: one HDF5 file per evaluated
 * category, written image by image and read back for metrics and figures.
 *
 *     ddad_mapsfile_spec_t spec = {.category = "bottle", .resolution = "model",
 *                                  .n = 83, .h = 256, .w = 256, .has_scores = true};
 *     ddad_mapsfile_writer_t *wr;
 *     if (ddad_mapsfile_create(&wr, "runs/bottle/maps.h5", &spec)) ... error
 *     ddad_mapsfile_set_attr(wr, "config.alpha", "0.5");
 *     for (i = 0; i < 83; i++) {
 *         ddad_mapsfile_row_t row = {.name = names[i], .label = labels[i], .score = s[i],
 *                                    .map = map, .mask = mask};
 *         if (ddad_mapsfile_append(wr, &row)) ... error
 *     }
 *     if (ddad_mapsfile_finish(wr)) ... error   // file now complete at its path
 *     ddad_mapsfile_writer_free(wr);
 *
 * Layout (format "ddad-maps", format_version 1):
 *   /maps       float32 (N, H, W)   higher = more anomalous
 *   /masks      uint8   (N, H, W)   != 0 = defect (MVTec stores 255)
 *   /labels     uint8   (N,)        1 = defective image
 *   /names      strings (N,)        e.g. "broken_large/000"
 *   /scores     float32 (N,)        optional image scores
 *   /kl_maps    float32 (N, T, H, W) optional per-timestep maps, and
 *   /feat_maps  float32 (N, T, H, W) with attribute timesteps ("5,50,100")
 *   /timesteps  int64   (T,)        present with the per-timestep maps
 *   root attributes: format, format_version, category, resolution ("model"
 *   or "original"), and any string attributes set with _set_attr (the
 *   resolved configuration; use a "config." prefix by convention).
 *
 * Minimum layout on input (another method's maps, evaluated with ddad's
 * metrics): /maps (any float type), /masks (any integer type), /labels,
 * /names and the root string attribute category; /scores, format,
 * format_version and resolution are optional (resolution reads as
 * "unknown"); format and format_version are checked only when present.
 *
 * The writer writes to "<path>.partial" and renames on _finish, so a maps
 * file is complete or absent; rows go to disk as they come, so no category
 * is ever held in memory. Ownership: handles are freed by their _free/_close
 * (NULL accepted); strings returned through char ** are malloc'ed for the
 * caller.
 */
#ifndef DDAD_MAPSFILE_H
#define DDAD_MAPSFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DDAD_MAPSFILE_FORMAT "ddad-maps"
#define DDAD_MAPSFILE_VERSION 1

typedef struct ddad_mapsfile_spec {
    const char *category;
    const char *resolution;     /* "model" or "original"                       */
    int64_t n, h, w;            /* images, map height and width                */
    bool has_scores;            /* write /scores from the rows' score          */
    int64_t num_timesteps;      /* T; 0 = no /kl_maps, /feat_maps              */
    const int64_t *timesteps;   /* (T) respaced timesteps                      */
    int compress_level;         /* 0 contiguous, 1..9 deflate for the maps     */
} ddad_mapsfile_spec_t;

typedef struct ddad_mapsfile_row {
    const char *name;
    uint8_t label;              /* 1 defective, 0 good                         */
    float score;                /* image score (used when has_scores)          */
    const float *map;           /* (H, W)                                      */
    const uint8_t *mask;        /* (H, W)                                      */
    const float *kl_maps;       /* (T, H, W), required when T > 0              */
    const float *feat_maps;     /* (T, H, W), required when T > 0              */
} ddad_mapsfile_row_t;

typedef struct ddad_mapsfile_writer ddad_mapsfile_writer_t;

/* Creates "<path>.partial" with the datasets sized for spec->n images. */
ddad_status_t ddad_mapsfile_create(ddad_mapsfile_writer_t **out, const char *path, const ddad_mapsfile_spec_t *spec);
/* A string attribute on the root group (e.g. a config key); reserved names
 * (format, format_version, category, resolution) are refused. */
ddad_status_t ddad_mapsfile_set_attr(ddad_mapsfile_writer_t *w, const char *key, const char *value);
/* Writes the next image (rows are written in order 0..N-1). */
ddad_status_t ddad_mapsfile_append(ddad_mapsfile_writer_t *w, const ddad_mapsfile_row_t *row);
/* Checks that N rows were appended, writes labels/names/scores, closes and
 * renames the file into place. */
ddad_status_t ddad_mapsfile_finish(ddad_mapsfile_writer_t *w);
/* Frees the writer; an unfinished file is removed. NULL ok. */
void ddad_mapsfile_writer_free(ddad_mapsfile_writer_t *w);

/* ---- reader ----------------------------------------------------------- */

typedef struct ddad_mapsfile_info {
    char *category, *resolution;
    int64_t n, h, w;
    int64_t num_timesteps;      /* 0 when there are no per-timestep maps       */
    int64_t *timesteps;         /* (T) or NULL                                 */
    uint8_t *labels;            /* (N)                                         */
    char **names;               /* (N)                                         */
    float *scores;              /* (N) or NULL when the file has no /scores    */
} ddad_mapsfile_info_t;

typedef struct ddad_mapsfile ddad_mapsfile_t;

/* Opens and validates a maps file (format, version, shapes); the small
 * datasets are read into the info. */
ddad_status_t ddad_mapsfile_open(ddad_mapsfile_t **out, const char *path);
/* The header; owned by f. */
const ddad_mapsfile_info_t *ddad_mapsfile_info(const ddad_mapsfile_t *f);
/* Reads image i's map (H, W) and/or mask (H, W) (either may be NULL). */
ddad_status_t ddad_mapsfile_read_image(ddad_mapsfile_t *f, int64_t i, float *map, uint8_t *mask);
/* Reads image i's per-timestep maps (T, H, W); which = "kl_maps" or
 * "feat_maps". */
ddad_status_t ddad_mapsfile_read_steps(ddad_mapsfile_t *f, int64_t i, const char *which, float *out);
/* A root string attribute (malloc'ed, caller frees); DATA status if absent. */
ddad_status_t ddad_mapsfile_get_attr(ddad_mapsfile_t *f, const char *key, char **value);
/* A pixel source over the file's maps and masks for ddad_metrics_pixel_eval
 * (streams row by row; valid while f is open). */
void ddad_mapsfile_pixel_source(ddad_mapsfile_t *f, ddad_pixel_source_t *src);
void ddad_mapsfile_close(ddad_mapsfile_t *f);

#ifdef __cplusplus
}
#endif
#endif
