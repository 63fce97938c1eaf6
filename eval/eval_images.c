/* eval/eval_images.c - see eval_images.h */
#include "eval_images.h"

#include <stdio.h>
#include <stdlib.h>

#include "colormap.h"
#include "figure.h"

ddad_status_t eval_images_write(const float *map, int64_t h, int64_t w, const ddad_image_t *image,
                                const char *image_path, const char *dir, const char *stem,
                                const eval_images_opts_t *o)
{
    ddad_image_t heat = {0}, bin = {0}, src = {0}, small = {0}, over = {0};
    char path[4096];
    ddad_status_t st = DDAD_OK;
    const unsigned what = o->what ? o->what : EVAL_IMAGES_ALL;
    const size_t n = (size_t)h * (size_t)w;
    float *shown = NULL;
    const float *colours = map;
    double lo = o->lo, hi = o->hi, thr = o->threshold;
    if (o->calib) {
        if (!(shown = malloc(n * sizeof *shown)))
            return ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory for its heat map", stem);
        ddad_calib_normalize_map(o->calib, map, shown, n);
        colours = shown;
        lo = 0.0;
        hi = 1.0;
        thr = o->calib->pixel_threshold;
    }
    if (what & (EVAL_IMAGES_HEAT | EVAL_IMAGES_OVERLAY))
        DDAD_TRY(ddad_figure_heatmap(colours, (int)h, (int)w, lo, hi, DDAD_COLORMAP_INFERNO, &heat));
    if (what & EVAL_IMAGES_HEAT) {
        snprintf(path, sizeof path, "%s/%s_heat.png", dir, stem);
        DDAD_TRY(ddad_image_write_png(&heat, path));
    }
    if (what & EVAL_IMAGES_MASK) {
        DDAD_TRY(ddad_image_alloc(&bin, (int)w, (int)h, 1));
        for (size_t p = 0; p < n; p++)
            bin.data[p] = map[p] > thr ? 255 : 0;
        snprintf(path, sizeof path, "%s/%s_mask.png", dir, stem);
        DDAD_TRY(ddad_image_write_png(&bin, path));
    }
    if (what & EVAL_IMAGES_OVERLAY) {
        if (!image) {
            DDAD_TRY(ddad_image_load(&src, image_path, DDAD_IMAGE_RGB));
            image = &src;
        }
        if (image->c != 3) {
            st = ddad_fail(DDAD_STATUS_USAGE, "%s: the overlay needs an RGB image", stem);
            goto fail;
        }
        if (image->w != w || image->h != h) {
            DDAD_TRY(ddad_image_resize_bicubic(image, (int)w, (int)h, &small));
            image = &small;
        }
        DDAD_TRY(ddad_figure_overlay(image, colours, lo, hi, DDAD_COLORMAP_INFERNO, 0.5, &over));
        snprintf(path, sizeof path, "%s/%s_overlay.png", dir, stem);
        DDAD_TRY(ddad_image_write_png(&over, path));
    }
fail:
    free(shown);
    ddad_image_free(&heat);
    ddad_image_free(&bin);
    ddad_image_free(&src);
    ddad_image_free(&small);
    ddad_image_free(&over);
    return st;
}
