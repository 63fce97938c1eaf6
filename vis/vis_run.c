/* vis/vis_run.c - the model side of ddad-vis (see ddad_vis.c and vis.h):
 * the run's checkpoint, the chosen images and every figure. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vis.h"
#include "ddad_version.h"
#include "image.h"
#include "nn/checkpoint.h"
#include "nn/score.h"
#include "run.h"
#include "torch/tensor.h"

int vis_run(const vis_args_t *args_in, const ddad_config_t *cfg)
{
    vis_args_t args = *args_in;
    vis_ctx_t c;
    memset(&c, 0, sizeof c);
    c.args = &args;
    c.cfg = *cfg;
    selection_t sel = {0};
    vis_image_t im = {0};
    float *map = NULL, *final = NULL;
    ddad_status_t st;
    const char *what = NULL;

    if ((st = ddad_runtime_setup(&c.cfg))) {
        what = "runtime";
        goto done;
    }
    if ((st = ddad_config_run_dir(&c.cfg, c.run_dir, sizeof c.run_dir))) {
        what = "run folder";
        goto done;
    }
    char ckpt[PATH_MAX];
    if (args.checkpoint) {
        snprintf(ckpt, sizeof ckpt, "%s", args.checkpoint);
        struct stat sb;
        if (stat(ckpt, &sb) != 0) {
            st = ddad_fail(DDAD_STATUS_DATA, "checkpoint %s not found", ckpt);
            goto done;
        }
    } else if ((st = ddad_checkpoint_latest(c.run_dir, ckpt, sizeof ckpt))) {
        st = ddad_fail(DDAD_STATUS_DATA, "run %s has no checkpoint (train it first: ddad-train %s, or give --checkpoint)",
                       c.run_dir, args.config);
        goto done;
    }
    if (args.out)
        snprintf(c.out_dir, sizeof c.out_dir, "%s", args.out);
    else if ((st = ddad_run_path(c.out_dir, sizeof c.out_dir, c.run_dir, NULL, DDAD_RUN_FIGURES)) != DDAD_OK)
        goto done;
    c.S = c.cfg.data.image_size;
    c.cell = c.S >= 96 ? c.S : c.S * ((96 + c.S - 1) / c.S);

    /* data set */
    const char *cats[DDAD_CONFIG_MAX_NAMES];
    size_t n_cats = ddad_config_categories(&c.cfg, cats, DDAD_CONFIG_MAX_NAMES);
    if (n_cats == 0) {
        st = ddad_fail(DDAD_STATUS_CONFIG, "data.category: no categories to show");
        goto done;
    }
    if (n_cats > DDAD_CONFIG_MAX_NAMES)
        n_cats = DDAD_CONFIG_MAX_NAMES;
    if ((st = ddad_dataset_index(&c.ds, c.cfg.data.format, c.cfg.data.root, cats, n_cats))) {
        what = "data set";
        goto done;
    }
    ddad_dataset_hold_out(c.ds, c.cfg.data.val_split, NULL); /* PaDiM fits the images the model trained on */
    if ((st = vis_select_images(&c, cats, n_cats, &sel))) {
        what = "images";
        goto done;
    }

    /* model */
    vis_progress("run %s, checkpoint %s, %zu image(s), output %s", c.run_dir, ckpt, sel.n, c.out_dir);
    if ((st = ddad_checkpoint_check_noise(ckpt, &c.cfg))) {
        what = "checkpoint";
        goto done;
    }
    if ((st = ddad_model_create(&c.model, &c.cfg,
                                DDAD_MODEL_SCORING_ONLY | DDAD_MODEL_WITH_FEATURES | DDAD_MODEL_NO_INIT))) {
        what = "model";
        goto done;
    }
    if ((st = ddad_checkpoint_load(ckpt, &c.model, NULL, NULL, NULL))) {
        what = "checkpoint";
        goto done;
    }
    if ((st = ddad_run_mkdir_p(c.out_dir))) {
        what = "output";
        goto done;
    }
    if (args.sheet) {
        c.sheet_rows = sel.n < MAX_SHEET_ROWS ? (int)sel.n : MAX_SHEET_ROWS;
        int cols = 4 + (args.fig7 ? 1 : 0); /* input, ground truth, map, overlay [, reconstruction] */
        ddad_figure_grid_opts_t go = ddad_figure_grid_opts_default();
        char title[512];
        snprintf(title, sizeof title, "%.400s - %zu image(s)%s", c.run_dir, sel.n,
                 sel.n > MAX_SHEET_ROWS ? " (first 64 shown)" : "");
        go.title = title;
        go.row_label_w = 6 * 22;
        if ((st = ddad_figure_grid_init(&c.sheet, c.sheet_rows, cols, c.cell, c.cell, &go))) {
            what = "contact sheet";
            goto done;
        }
    }
    map = malloc((size_t)c.S * c.S * sizeof *map);
    final = malloc((size_t)3 * c.S * c.S * sizeof *final);
    if (!map || !final) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "ddad-vis: no memory for the maps");
        goto done;
    }

    for (size_t i = 0; i < sel.n; i++) {
        if ((st = vis_load_image(&c, sel.samples[i], args.image, &im))) {
            what = "image";
            goto done;
        }
        char stem[600];
        vis_file_stem(stem, sizeof stem, im.category, im.name);
        vis_progress("[%zu/%zu] %s %s", i + 1, sel.n, im.category, im.name);
        bool have_map = false, have_final = false;
        if (args.maps || args.sheet) {
            if ((st = vis_maps_figure(&c, &im, stem, args.maps, map))) {
                what = "anomaly maps";
                goto done;
            }
            have_map = true;
        }
        if (args.fig7) {
            if ((st = vis_figure7(&c, &im, stem, final))) {
                what = "figure 7";
                goto done;
            }
            have_final = true;
        }
        if (args.sheet && (st = vis_sheet_row(&c, &im, have_map ? map : NULL, have_final ? final : NULL))) {
            what = "contact sheet";
            goto done;
        }
        vis_image_free(&im);
    }
    if (args.sheet) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/contact_sheet.png", c.out_dir);
        if ((st = ddad_figure_grid_save(&c.sheet, path))) {
            what = "contact sheet";
            goto done;
        }
        printf("%s\n", path);
    }
    st = DDAD_OK;
done:
    free(map);
    free(final);
    vis_image_free(&im);
    free(sel.samples);
    ddad_figure_grid_free(&c.sheet);
    ddad_recon_padim_free(&c.rp);
    ddad_model_free(&c.model);
    ddad_reference_free(&c.ref);
    ddad_dataset_free(c.ds);
    if (st)
        return vis_fail_exit(st, what);
    return 0;
}
