/* eval/eval_tiff_maps.c - see eval_tiff_maps.h */
#include "eval_tiff_maps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image.h"
#include "mapsfile.h"
#include "anomaly_map.h"
#include "run.h"
#include "tiff.h"

/* "test/crack/003.png" -> "<dir>/<category>/test/crack/003.tiff"; the folder
 * part (without the file) into folder when not NULL. */
static void tiff_path_of(const char *dir, const char *category, const char *name, char *buf, size_t cap,
                         char *folder, size_t fcap)
{
    snprintf(buf, cap, "%s/%s/%s", dir, category, name);
    char *dot = strrchr(buf, '.'), *slash = strrchr(buf, '/');
    if (dot && dot > slash)
        *dot = '\0';
    if (folder) {
        snprintf(folder, fcap, "%s", buf);
        char *s = strrchr(folder, '/');
        if (s)
            *s = '\0';
    }
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, ".tiff");
}

ddad_status_t eval_export_tiffs(const char *maps_path, const ddad_sample_t *const *test, size_t n, const char *dir,
                                const char *category)
{
    ddad_mapsfile_t *mf = NULL;
    ddad_status_t st = ddad_mapsfile_open(&mf, maps_path);
    if (st != DDAD_OK)
        return st;
    const ddad_mapsfile_info_t *in = ddad_mapsfile_info(mf);
    float *map = NULL, *big = NULL;
    if ((size_t)in->n != n) {
        st = ddad_fail(DDAD_STATUS_INTERNAL, "%s holds %lld maps for %zu test images", maps_path, (long long)in->n, n);
        goto fail;
    }
    if (!(map = malloc((size_t)(in->h * in->w) * sizeof *map))) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        char path[8192], folder[8192];
        tiff_path_of(dir, category, test[i]->name, path, sizeof path, folder, sizeof folder);
        DDAD_TRY(ddad_run_mkdir_p(folder));
        DDAD_TRY(ddad_mapsfile_read_image(mf, (int64_t)i, map, NULL));
        const int W = test[i]->width > 0 ? test[i]->width : (int)in->w;
        const int H = test[i]->height > 0 ? test[i]->height : (int)in->h;
        const float *out = map;
        if (W != in->w || H != in->h) {
            free(big);
            if (!(big = malloc((size_t)W * (size_t)H * sizeof *big))) {
                st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory for a %dx%d map", W, H);
                goto fail;
            }
            ddad_score_resize_bilinear(map, in->h, in->w, big, H, W);
            out = big;
        }
        DDAD_TRY(ddad_tiff_write_float(path, out, W, H));
    }
fail:
    free(map);
    free(big);
    ddad_mapsfile_close(mf);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "exporting %s's maps to %s", category, dir);
    return DDAD_OK;
}

ddad_status_t eval_maps_dir(const char *dir, const char *data_root, ddad_data_format_t format,
                            const char *category, double pro_limit, ddad_metrics_record_t *rec)
{
    ddad_dataset_t *ds = NULL;
    const ddad_sample_t **test = NULL;
    size_t n = 0;
    ddad_mapsfile_writer_t *wr = NULL;
    float *map = NULL;
    uint8_t *mask = NULL;
    ddad_image_t mimg = {0};
    char tmp[4096] = "";
    int W = 0, H = 0;
    ddad_metrics_record_init(rec, category, pro_limit);
    ddad_status_t st = ddad_dataset_index(&ds, format, data_root, &category, 1);
    if (st == DDAD_OK)
        st = ddad_dataset_validate(ds);
    if (st == DDAD_OK)
        st = ddad_dataset_select(ds, category, DDAD_SPLIT_TEST, &test, &n);
    if (st != DDAD_OK)
        goto fail;
    if (n == 0) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s/%s has no test images", data_root, category);
        goto fail;
    }
    const char *td = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/ddad-maps-dir-XXXXXX", td && *td ? td : "/tmp");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = ddad_fail(DDAD_STATUS_IO, "cannot create a temporary file in %s", td && *td ? td : "/tmp");
        tmp[0] = '\0';
        goto fail;
    }
    close(fd);
    for (size_t i = 0; i < n; i++) {
        char path[8192];
        tiff_path_of(dir, category, test[i]->name, path, sizeof path, NULL, 0);
        int w = 0, h = 0;
        free(map);
        map = NULL;
        DDAD_TRY(ddad_tiff_read_float(path, &map, &w, &h));
        const int gw = test[i]->width, gh = test[i]->height;
        if (w != gw || h != gh) {
            st = ddad_fail(DDAD_STATUS_DATA, "%s is %dx%d but %s is %dx%d: maps must have the size of the image and "
                           "its ground truth", path, w, h, test[i]->path, gw, gh);
            goto fail;
        }
        if (i == 0) {
            W = w;
            H = h;
            if (!(mask = malloc((size_t)W * (size_t)H))) {
                st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
                goto fail;
            }
            ddad_mapsfile_spec_t spec = {.category = category, .resolution = "original", .n = (int64_t)n, .h = H,
                                         .w = W, .has_scores = false, .compress_level = 0};
            DDAD_TRY(ddad_mapsfile_create(&wr, tmp, &spec));
        } else if (w != W || h != H) {
            st = ddad_fail(DDAD_STATUS_DATA, "%s is %dx%d, the category's first map %dx%d: one map size per category",
                           path, w, h, W, H);
            goto fail;
        }
        memset(mask, 0, (size_t)W * (size_t)H);
        if (test[i]->mask_path) {
            DDAD_TRY(ddad_image_load(&mimg, test[i]->mask_path, DDAD_IMAGE_GRAY));
            if (mimg.w != W || mimg.h != H) {
                st = ddad_fail(DDAD_STATUS_DATA, "mask %s is %dx%d, its map %dx%d", test[i]->mask_path, mimg.w,
                               mimg.h, W, H);
                goto fail;
            }
            ddad_image_binarize(&mimg, ds->mask_threshold, mask);
            ddad_image_free(&mimg);
        }
        ddad_mapsfile_row_t row = {.name = test[i]->name, .label = (uint8_t)(test[i]->label != 0), .map = map, .mask = mask};
        DDAD_TRY(ddad_mapsfile_append(wr, &row));
    }
    DDAD_TRY(ddad_mapsfile_set_attr(wr, "source", dir));
    DDAD_TRY(ddad_mapsfile_finish(wr));
    ddad_mapsfile_writer_free(wr);
    wr = NULL;
    DDAD_TRY(ddad_metrics_from_mapsfile(tmp, pro_limit, rec));
    snprintf(rec->category, sizeof rec->category, "%s", category);
fail:
    ddad_mapsfile_writer_free(wr);
    if (tmp[0])
        remove(tmp);
    ddad_image_free(&mimg);
    free(map);
    free(mask);
    free(test);
    ddad_dataset_free(ds);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "evaluating the maps of %s in %s", category, dir);
    return DDAD_OK;
}
