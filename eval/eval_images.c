/* eval/eval_images.c - see eval_images.h */
#include "eval_images.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "image.h"

/* Matplotlib-like "jet": v in [0, 1] -> RGB. */
static void jet(double v, uint8_t *rgb)
{
    double r = 1.5 - fabs(4 * v - 3), g = 1.5 - fabs(4 * v - 2), b = 1.5 - fabs(4 * v - 1);
    double c[3] = {r, g, b};
    for (int k = 0; k < 3; k++)
        rgb[k] = (uint8_t)lround(255.0 * (c[k] < 0 ? 0 : c[k] > 1 ? 1 : c[k]));
}

ddad_status_t eval_images_write(const float *map, int64_t h, int64_t w, const char *image_path, const char *dir,
                                const char *stem, const eval_images_opts_t *o)
{
    ddad_image_t heat = {0}, bin = {0}, src = {0}, small = {0};
    char path[4096];
    ddad_status_t st = DDAD_OK;
    DDAD_TRY(ddad_image_alloc(&heat, (int)w, (int)h, 3));
    DDAD_TRY(ddad_image_alloc(&bin, (int)w, (int)h, 1));
    double span = o->hi > o->lo ? (double)o->hi - (double)o->lo : 1.0;
    for (int64_t p = 0; p < h * w; p++) {
        jet(((double)map[p] - o->lo) / span, heat.data + 3 * p);
        bin.data[p] = map[p] > o->threshold ? 255 : 0;
    }
    snprintf(path, sizeof path, "%s/%s_heat.png", dir, stem);
    DDAD_TRY(ddad_image_write_png(&heat, path));
    snprintf(path, sizeof path, "%s/%s_mask.png", dir, stem);
    DDAD_TRY(ddad_image_write_png(&bin, path));
    DDAD_TRY(ddad_image_load(&src, image_path, DDAD_IMAGE_RGB));
    const ddad_image_t *base = &src;
    if (src.w != w || src.h != h) {
        DDAD_TRY(ddad_image_resize_bicubic(&src, (int)w, (int)h, &small));
        base = &small;
    }
    for (int64_t i = 0; i < h * w * 3; i++)
        heat.data[i] = (uint8_t)((heat.data[i] + base->data[i] + 1) / 2);
    snprintf(path, sizeof path, "%s/%s_overlay.png", dir, stem);
    DDAD_TRY(ddad_image_write_png(&heat, path));
fail:
    ddad_image_free(&heat);
    ddad_image_free(&bin);
    ddad_image_free(&src);
    ddad_image_free(&small);
    return st;
}
