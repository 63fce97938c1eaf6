/* vis/vis.h - ddad-vis, split by concern: the command line (vis_args.c),
 * which images to draw (vis_select.c), the figures (vis_figures.c) and the
 * program (ddad_vis.c). Shared types and the functions between the files.
 *
 * Ownership: vis_ctx_t owns the model, the data set index, the PaDiM
 * statistics, the reference and the contact sheet; vis_image_t owns its
 * buffers (vis_image_free); a selection owns its array (free(samples)).
 */
#ifndef DDAD_VIS_H
#define DDAD_VIS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "colormap.h"
#include "config.h"
#include "dataset.h"
#include "figure.h"
#include "nn/model.h"
#include "nn/recon.h"
#include "report/reference.h"
#include "status.h"

#define MAX_SHEET_ROWS 64

typedef struct vis_args {
    const char *config;
    ddad_cli_t cli;         /* --set, --device, --print-config, --help, --version */
    const char *image;
    bool all_test;
    int count;
    bool fig7, maps, sheet;
    const char *out;
    const char *checkpoint;
    ddad_colormap_t cm;
    bool print_run_dir;
} vis_args_t;

typedef struct vis_image {
    const ddad_sample_t *sample; /* NULL for a foreign image                     */
    char name[512];              /* "test/crack/003.png" or the file name       */
    char category[DDAD_CONFIG_NAME_MAX];
    int64_t class_id;
    int64_t image_id;            /* position in the category's test split       */
    bool has_mask;
    uint8_t *mask;               // (S, S) or NULL
    float *x;                    // (3, S, S)
    float *source;               // (3, S, S) defect-free source, or NULL
} vis_image_t;

typedef struct vis_ctx {
    vis_args_t *args;
    ddad_config_t cfg;
    ddad_model_t model;
    int S, cell;
    char run_dir[PATH_MAX], out_dir[PATH_MAX];
    ddad_dataset_t *ds;
    ddad_recon_padim_t rp;
    char rp_category[DDAD_CONFIG_NAME_MAX];
    bool rp_ready;
    ddad_score_reference_t ref;  /* score.normalize good: statistics of ref_category */
    char ref_category[DDAD_CONFIG_NAME_MAX];
    ddad_figure_grid_t sheet;
    int sheet_rows, sheet_used;
} vis_ctx_t;

typedef struct selection {
    const ddad_sample_t **samples; /* (n); NULL entry = the foreign --image */
    size_t n;
} selection_t;

typedef struct recon_progress {
    int last_pct;
} recon_progress_t;

/* vis_args.c: DDAD_CLI_CONTINUE, or the exit code to return now. */
int vis_parse_args(int argc, char **argv, vis_args_t *a);
/* vis_args.c: "ddad-vis: <what>: <last error>"; returns the exit code. */
int vis_fail_exit(ddad_status_t st, const char *what);

/* vis_run.c, the model side: the figures of the run of cfg; the exit code. */
int vis_run(const vis_args_t *args, const ddad_config_t *cfg);

/* vis_select.c */
ddad_status_t vis_select_images(vis_ctx_t *c, const char *const *cats, size_t n_cats, selection_t *sel);
ddad_status_t vis_load_image(vis_ctx_t *c, const ddad_sample_t *s, const char *foreign, vis_image_t *im);
void vis_image_free(vis_image_t *im);

/* vis_figures.c: each writes its PNG into c->out_dir and prints its path */
void vis_file_stem(char *buf, size_t cap, const char *category, const char *name);
void vis_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
ddad_status_t vis_figure7(vis_ctx_t *c, const vis_image_t *im, const char *stem, float *final);
ddad_status_t vis_maps_figure(vis_ctx_t *c, const vis_image_t *im, const char *stem, bool write, float *map_out);
ddad_status_t vis_sheet_row(vis_ctx_t *c, const vis_image_t *im, const float *map, const float *final);

#endif
