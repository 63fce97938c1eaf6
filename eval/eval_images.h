/* eval/eval_images.h - per-image PNGs of an evaluation: heat map, binary
 * mask and overlay.
 *
 *     eval_images_opts_t o = {.lo = 0, .hi = 3, .threshold = 1.2};
 *     eval_images_write(map, h, w, "data/x.png", "runs/.../images", "crack_003", &o);
 *
 * Files: <stem>_heat.png (jet colour map of the anomaly map clipped to
 * [lo, hi]), <stem>_mask.png (255 where map > threshold), <stem>_overlay.png
 * (the image, resized to the map's size with bicubic, blended 50/50 with the
 * heat map).
 */
#ifndef DDAD_EVAL_IMAGES_H
#define DDAD_EVAL_IMAGES_H

#include <stdint.h>

#include "status.h"

typedef struct eval_images_opts {
    float lo, hi;     /* colour range of the heat map (the category's map range) */
    float threshold;  /* binary-mask threshold                                   */
} eval_images_opts_t;

ddad_status_t eval_images_write(const float *map, int64_t h, int64_t w, const char *image_path, const char *dir,
                                const char *stem, const eval_images_opts_t *o);

#endif
