/* tests/fuzz/make_seeds.c - writes the seed inputs that only ddad's own
 * writers make: PNGs (ddad_image_write_png), maps files (ddad_mapsfile_*),
 * a checkpoint-shaped HDF5 file (ddad_h5_*) and a float32 TIFF map
 * (ddad_tiff_write_float). Run by make_seeds.py:
 *
 *     fuzz_make_seeds OUT_CORPUS_DIR      (writes OUT/image, OUT/mapsfile, OUT/h5params, OUT/tiff)
 *
 * It also writes OUT/../config.dict, the libFuzzer dictionary of the config
 * target: every key of the schema (dotted and as its last part) and every
 * enum value, so that mutations reach the typed checks, not only the parser.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "h5io.h"
#include "reference.h"
#include "image.h"
#include "mapsfile.h"
#include "status.h"
#include "tiff.h"

static int fail(const char *what)
{
    fprintf(stderr, "fuzz_make_seeds: %s: %s\n", what, ddad_last_error());
    return 1;
}

static int write_png(const char *dir, const char *name, int w, int h, int c)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ddad_image_t img = {0};
    if (ddad_image_alloc(&img, w, h, c))
        return fail("alloc");
    for (size_t i = 0; i < (size_t)w * h * c; i++)
        img.data[i] = (uint8_t)(i * 29 + 7);
    ddad_status_t st = ddad_image_write_png(&img, path);
    ddad_image_free(&img);
    return st ? fail(path) : 0;
}

static int write_maps(const char *dir, const char *name, int64_t h, int64_t w, int64_t t, int level)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int64_t ts[2] = {5, 50};
    ddad_mapsfile_spec_t spec = {.category = "bottle", .resolution = "model", .n = 2, .h = h, .w = w,
                                 .has_scores = true, .num_timesteps = t, .timesteps = ts,
                                 .compress_level = level};
    ddad_mapsfile_writer_t *wr = NULL;
    float map[64], steps[2 * 64];
    uint8_t mask[64];
    for (int i = 0; i < 64; i++) {
        map[i] = (float)i / 64.0f;
        mask[i] = i % 5 == 0 ? 255 : 0;
    }
    for (int i = 0; i < 128; i++)
        steps[i] = (float)i * 0.5f;
    ddad_status_t st = ddad_mapsfile_create(&wr, path, &spec);
    if (!st)
        st = ddad_mapsfile_set_attr(wr, "config.alpha", "0.5");
    const char *names[2] = {"good/000", "crack/001"};
    for (int i = 0; i < 2 && !st; i++) {
        ddad_mapsfile_row_t row = {.name = names[i], .label = (uint8_t)i, .score = 0.25f * (float)(i + 1),
                                   .map = map, .mask = mask, .kl_maps = steps, .feat_maps = steps};
        st = ddad_mapsfile_append(wr, &row);
    }
    if (!st)
        st = ddad_mapsfile_finish(wr);
    ddad_mapsfile_writer_free(wr);
    return st ? fail(path) : 0;
}

static int write_params(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ddad_h5_t *f = NULL;
    float w[2 * 3 * 3 * 3], b[2] = {0.5f, -0.5f};
    for (int i = 0; i < 54; i++)
        w[i] = (float)i / 54.0f - 0.5f;
    int64_t ws[4] = {2, 3, 3, 3}, bs[1] = {2}, one[1] = {1};
    int64_t step = 20;
    uint8_t rng[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    int64_t rs[1] = {16};
    const char *cfg[1] = {"seed: 0\ndata:\n  category: bottle\n"};
    ddad_status_t st = ddad_h5_open(&f, path, DDAD_H5_CREATE);
    if (!st)
        st = ddad_h5_set_attr_str(f, "/", "format", "ddad-checkpoint");
    if (!st)
        st = ddad_h5_set_attr_i64(f, "/", "format_version", 1);
    if (!st)
        st = ddad_h5_set_attr_i64(f, "/", "step", step);
    if (!st)
        st = ddad_h5_write(f, "weights/input_blocks.0.0.weight", DDAD_H5_F32, w, ws, 4, 0);
    if (!st)
        st = ddad_h5_write(f, "weights/input_blocks.0.0.bias", DDAD_H5_F32, b, bs, 1, 0);
    if (!st)
        st = ddad_h5_write(f, "ema/input_blocks.0.0.weight", DDAD_H5_F32, w, ws, 4, 1);
    if (!st)
        st = ddad_h5_write(f, "optimizer/step", DDAD_H5_I64, &step, one, 1, 0);
    if (!st)
        st = ddad_h5_write(f, "rng/state", DDAD_H5_U8, rng, rs, 1, 0);
    if (!st)
        st = ddad_h5_write_strings(f, "config", cfg, 1);
    ddad_status_t cst = ddad_h5_close(f);
    return st || cst ? fail(path) : 0;
}

/* score.normalize good's reference statistics of 4 x 4 maps, both branches,
 * with the per-pixel std maps and the per-timestep statistics of two
 * timesteps (format version 3). */
static int write_reference(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    float pm[16], fm[16], ps[16], fs[16];
    for (int i = 0; i < 16; i++) {
        pm[i] = 0.25f * (float)i;
        fm[i] = 1.0f - 0.0625f * (float)i;
        ps[i] = 0.5f + 0.03125f * (float)i;
        fs[i] = 2.0f - 0.0625f * (float)i;
    }
    float pm_t[32], fm_t[32], ps_t[32], fs_t[32];
    for (int i = 0; i < 32; i++) {
        pm_t[i] = pm[i % 16] + (i < 16 ? 0.5f : -0.5f);
        fm_t[i] = fm[i % 16];
        ps_t[i] = ps[i % 16] * (i < 16 ? 2.0f : 0.5f);
        fs_t[i] = fs[i % 16];
    }
    double pstd_t[2] = {1.5, 0.375}, fstd_t[2] = {1.5, 1.5};
    ddad_score_reference_t ref = {.h = 4, .w = 4, .n_images = 6, .pixel_mean = pm, .feat_mean = fm,
                                  .pixel_std_map = ps, .feat_std_map = fs, .pixel_std = 0.75, .feat_std = 1.5,
                                  .n_t = 2, .pixel_mean_t = pm_t, .pixel_std_map_t = ps_t, .pixel_std_t = pstd_t,
                                  .feat_mean_t = fm_t, .feat_std_map_t = fs_t, .feat_std_t = fstd_t};
    return ddad_reference_save(&ref, path, "1,3", 4, "fuzz seed") ? fail(path) : 0;
}

static int write_tiff(const char *dir, const char *name, int w, int h)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    float map[64];
    for (int i = 0; i < 64; i++)
        map[i] = (float)i * 0.375f - 3.0f;
    return w * h > 64 || ddad_tiff_write_float(path, map, w, h) ? fail(path) : 0;
}

static int write_dict(const char *corpus)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/../config.dict", corpus);
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    fprintf(f, "# libFuzzer dictionary for fuzz_config, written by fuzz_make_seeds.\n");
    fprintf(f, "\"base: \"\n\"#@@\"\n\": \"\n\"- \"\n\"[\"\n\"]\"\n\"{\"\n\"}\"\n\"=\"\n\"all\"\n");
    size_t n = 0;
    const ddad_config_key_t *keys = ddad_config_schema(&n);
    for (size_t i = 0; i < n; i++) {
        const char *leaf = strrchr(keys[i].path, '.');
        fprintf(f, "\"%s\"\n", keys[i].path);
        if (leaf)
            fprintf(f, "\"%s\"\n", leaf + 1);
        for (const char *const *e = keys[i].names; e && *e; e++)
            fprintf(f, "\"%s\"\n", *e);
    }
    return fclose(f) != 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_make_seeds OUT_CORPUS_DIR\n");
        return 2;
    }
    char d[1024];
    int bad = 0;
    snprintf(d, sizeof d, "%s/image", argv[1]);
    mkdir(d, 0755);
    bad |= write_png(d, "ddad_rgb_7x5.png", 7, 5, 3);
    bad |= write_png(d, "ddad_gray_4x9.png", 4, 9, 1);
    snprintf(d, sizeof d, "%s/mapsfile", argv[1]);
    mkdir(d, 0755);
    bad |= write_maps(d, "maps_4x4.h5", 4, 4, 0, 0);
    bad |= write_maps(d, "maps_3x5_steps_deflate.h5", 3, 5, 2, 1);
    snprintf(d, sizeof d, "%s/h5params", argv[1]);
    mkdir(d, 0755);
    bad |= write_params(d, "checkpoint_small.h5");
    bad |= write_reference(d, "reference_4x4.h5");
    snprintf(d, sizeof d, "%s/tiff", argv[1]);
    mkdir(d, 0755);
    bad |= write_tiff(d, "ddad_f32_7x5.tif", 7, 5);
    bad |= write_dict(argv[1]);
    return bad;
}
