/* eval/eval_images.h - per-image PNGs of an anomaly map: heat map, binary
 * mask and overlay (ddad-eval --save-images, ddad-predict --save).
 *
 *     eval_images_opts_t o = {.lo = 0, .hi = 3, .threshold = 1.2};   // raw scale
 *     o.calib = &cal;          // or the run's calibrated fixed scale (core/report/calib.h)
 *     eval_images_write(map, h, w, NULL, "data/x.png", "runs/.../images", "crack_003", &o);
 *
 * Files: <stem>_heat.png (inferno colour map, core/report/figure.h), <stem>_mask.png
 * (255 where the pixel is flagged), <stem>_overlay.png (the image, resized to
 * the map's size with bicubic, blended 50/50 with the heat map).
 * Scale: with a calibration, colours show the normalised map (0 = the
 * calibration minimum, 0.5 = the pixel threshold, 1 = clipped), the same
 * for every image, so a good image looks good and a defect stands out; the
 * mask is map > pixel threshold. Without one, colours span [lo, hi] and the
 * mask is map > threshold.
 */
#ifndef DDAD_EVAL_IMAGES_H
#define DDAD_EVAL_IMAGES_H

#include <stdint.h>

#include "calib.h"
#include "image.h"
#include "status.h"

enum {
    EVAL_IMAGES_HEAT = 1u,
    EVAL_IMAGES_MASK = 2u,
    EVAL_IMAGES_OVERLAY = 4u,
    EVAL_IMAGES_ALL = 7u
};

typedef struct eval_images_opts {
    float lo, hi;                    /* colour range without a calibration      */
    float threshold;                 /* binary-mask threshold without one       */
    const ddad_calibration_t *calib; /* fixed calibrated scale, or NULL         */
    unsigned what;                   /* EVAL_IMAGES_* bits; 0 = all             */
} eval_images_opts_t;

/* map (h, w) at the size the PNGs get; image: the scored image (any size,
 * RGB) or NULL to load image_path for the overlay. */
ddad_status_t eval_images_write(const float *map, int64_t h, int64_t w, const ddad_image_t *image,
                                const char *image_path, const char *dir, const char *stem,
                                const eval_images_opts_t *o);

#endif
