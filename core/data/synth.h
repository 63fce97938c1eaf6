/* core/data/synth.h - a seeded synthetic data set in the MVTec AD layout.
 *
 *     ddad_synth_opts_t o = ddad_synth_opts_default();   // 64 px, 60 train, 10 good, 6 per defect
 *     o.out = "datasets/synthetic";
 *     o.seed = 1;
 *     if (ddad_synth_generate(&o, NULL, NULL)) ...
 *
 * Six categories: textures woven, grainy, striped, tiles; objects washer (a
 * centred ring-shaped part with a notch) and capsule_toy (a centred two-colour
 * capsule). Objects get pose jitter (shift, rotation, scale); every image gets
 * mild lighting (gain, gradient) and sensor noise variation. Each category has
 * three defect types out of scratch, stain, hole, missing_material (objects),
 * extra_material, colour, foreign_texture, with areas from about 0.2% to 10%
 * of the image.
 *
 * Written per category C (file names %03d.png):
 *   C/train/good/            defect-free training images
 *   C/test/good/             defect-free test images
 *   C/test/<defect>/         defective test images
 *   C/ground_truth/<defect>/ <id>_mask.png: 255 exactly where the defective
 *                            image differs from its source, 0 elsewhere
 *   C/test_source/<defect>/  <id>.png: the defect-free image the defect was
 *                            painted on
 *   C/.ddad-synthetic        marker: a folder carrying it may be regenerated
 *                            (its old PNG files are removed first); an existing
 *                            folder without it is never touched.
 *
 * Every image draws from its own generator stream keyed by (seed, category,
 * split, defect, index), so output is byte-identical for a seed and does not
 * depend on which other categories are generated.
 *
 * synth_images.h writes the same layout from the user's own images instead of
 * drawn ones.
 */
#ifndef DDAD_SYNTH_H
#define DDAD_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ddad_synth_opts {
    const char *out;                /* output root (created)                       */
    int size;                       /* image side in pixels (>= 32)                */
    int n_train;                    /* training images per category                */
    int n_test_good;                /* good test images per category               */
    int n_test_defect;              /* test images per defect type                 */
    uint64_t seed;
    const char *const *categories;  /* NULL = all six                              */
    size_t n_categories;
} ddad_synth_opts_t;

ddad_synth_opts_t ddad_synth_opts_default(void);

/* The six category names, in generation order. */
const char *const *ddad_synth_categories(size_t *n);

/* The defect types of a category (NULL and *n = 0 if unknown). */
const char *const *ddad_synth_defects(const char *category, size_t *n);

/* Called once per finished category, e.g. to print a summary. */
typedef void (*ddad_synth_report_fn)(const char *category, const char *dir, int n_train, int n_test_good,
                                     int n_test_defect, double min_area, double max_area, void *user);

ddad_status_t ddad_synth_generate(const ddad_synth_opts_t *o, ddad_synth_report_fn report, void *user);

#ifdef __cplusplus
}
#endif
#endif
