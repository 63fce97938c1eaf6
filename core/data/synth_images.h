/* core/data/synth_images.h - a seeded MVTec-layout data set cut from real
 * defect-free images, with defects planted into them.
 *
 *     ddad_synth_images_opts_t o = ddad_synth_images_opts_default();
 *     o.images = "photos/carpet";          // every PNG/JPEG/BMP below it
 *     o.out = "datasets/planted";          // writes datasets/planted/carpet/...
 *     o.seed = 1;
 *     if (ddad_synth_images_generate(&o, NULL, NULL)) ... ddad_last_error() ...
 *
 * What it is for: validating a model, and calibrating its threshold, on the
 * user's own material when no labelled defects exist.
 *
 * Sources. Every file below `images` (recursively, in byte order of the
 * relative path) whose name ends in .png, .jpg, .jpeg or .bmp (any case) is
 * loaded with ddad_image_load; a file that fails (corrupt, truncated, too
 * large, too small) is logged at DDAD_LOG_WARN with its name and the reason
 * and skipped. No usable image at all is DDAD_STATUS_DATA.
 *
 * Crops. Each output image is a square crop of a source, resized to
 * size x size (Pillow-exact bicubic, antialiased). The crop side in source
 * pixels ("field of view") is, per source image with short side s and long
 * side l:
 *     c0 = s / 4, at most 4 * size (at most 4x downsampling), and when that
 *          is under size, min(size, s) (no upsampling while the image allows);
 *          then at most l / 3.45 and s / 1.15 (see the split below);
 * and every crop draws its own side log-uniformly in [c0 / 1.15, c0 * 1.15]
 * (rounded, at most floor(1.15 c0)): a camera at a roughly fixed distance. Images that give c0 < 8 are skipped.
 *
 * Train/test split (train crops never overlap test crops). The long axis of
 * each source is cut into B = floor(l / floor(1.15 c0)) >= 3 bands of equal
 * width (pixel borders floor(i * l / B)); band i is a test band when
 * i % 4 == 2, a training band otherwise. Training crops lie inside one run
 * of consecutive training bands, test crops (good and defective) inside one
 * test band, so about a quarter to a third of every source is test-only.
 * Which source a crop comes from is drawn with weights proportional to the
 * area of that split in each source.
 *
 * Defects (areas from about 0.3% to 11% of the image at 64 px; a draw
 * outside 0.15%..12% is repeated):
 *   scratch           1-3 thin curved strokes, tapered, width and contrast
 *                     varying along the stroke, lighter or darker
 *   stain             soft change of brightness and colour (darkening, rust
 *                     or coffee tint, bleaching) with a smooth falloff and
 *                     sometimes a tide-mark rim
 *   foreign_texture   an irregular patch of other material with a blended
 *                     edge: cut from the images of `foreign` (files that are
 *                     also below `images` excluded) when set, else from the
 *                     other images below `images`; with neither, from the
 *                     same image turned by 90 degrees at about twice the
 *                     field of view
 *   missing_material  a chip: a dark cavity or a background-like fill with
 *                     a jagged edge and a rim shaded by a random light
 *   hole              (as in synth.c) a dark hard-edged blob
 *   colour            (as in synth.c) a blob with its colour channels rotated
 * The default set is the first four. Change below 4 grey levels (largest
 * channel difference) counts as invisible: such pixels keep the source's
 * bytes exactly, so the mask is 255 exactly where the written defective PNG
 * differs from the written source PNG.
 *
 * Written (category C = o.category, or the last component of o.images):
 * C/train/good, C/test/good, C/test/<defect>, C/ground_truth/<defect>/
 * <id>_mask.png, C/test_source/<defect>/<id>.png and the .ddad-synthetic
 * marker exactly as in synth.h (a folder without the marker is never
 * touched), plus C/crops.csv: one row per written image,
 *     image,source,x,y,side,patch_from,patch_source,patch_x,patch_y,patch_side,patch_turn
 * (image relative to C; source relative to o.images; the patch_ columns only
 * for foreign_texture: patch_from is "images", "foreign" or "self", turn is
 * 0 or 1 quarter turn).
 *
 * Reproducible: the same files (by relative path and content), options and
 * seed give byte-identical output. Every image draws from its own stream
 * keyed by (seed, category, split, defect, index).
 *
 * Memory: all sources are held decoded (3 bytes per pixel), 256 Mpixel in
 * total at most (DDAD_STATUS_DATA beyond).
 */
#ifndef DDAD_SYNTH_IMAGES_H
#define DDAD_SYNTH_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "synth.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ddad_synth_images_opts {
    const char *images;            /* folder of defect-free source images                  */
    const char *foreign;           /* folder of foreign_texture patch sources, or NULL     */
    const char *out;               /* output root (created)                                */
    const char *category;          /* output category name; NULL = last part of images     */
    int size;                      /* output side in pixels (32..1024)                     */
    int n_train;                   /* training images (>= 1)                               */
    int n_test_good;               /* good test images                                     */
    int n_test_defect;             /* test images per defect kind                          */
    uint64_t seed;
    const char *const *defects;    /* kinds to plant; NULL = the default four              */
    size_t n_defects;
} ddad_synth_images_opts_t;

/* 64 px, 60 train, 10 good, 6 per defect, seed 0, out "datasets/from_images". */
ddad_synth_images_opts_t ddad_synth_images_opts_default(void);

/* Every defect kind it can plant (*n of them; the first four are the
 * default set). Static strings. */
const char *const *ddad_synth_images_defects(size_t *n);

/* Generates one category. report (may be NULL) is called once when done,
 * with the overall defect area range. Statuses: USAGE (bad options, unknown
 * defect kind, bad category name), DATA (images folder missing, no usable
 * image, too many pixels), IO (output folder), NOMEM. */
ddad_status_t ddad_synth_images_generate(const ddad_synth_images_opts_t *o, ddad_synth_report_fn report,
                                         void *user);

#ifdef __cplusplus
}
#endif
#endif
