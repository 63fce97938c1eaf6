/* vis/vis_select.c - which images ddad-vis draws, and loading one (see vis.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vis.h"
#include "image.h"
#include "loader.h"

/* ---- selection ------------------------------------------------------------- */


static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

ddad_status_t vis_select_images(vis_ctx_t *c, const char *const *cats, size_t n_cats, selection_t *sel)
{
    memset(sel, 0, sizeof *sel);
    const ddad_sample_t **test = NULL;
    size_t n_test = 0;
    ddad_status_t st = ddad_dataset_select(c->ds, NULL, DDAD_SPLIT_TEST, &test, &n_test);
    if (st)
        return st;
    sel->samples = calloc(n_test + 1, sizeof *sel->samples);
    if (!sel->samples) {
        free(test);
        return ddad_fail(DDAD_STATUS_NOMEM, "ddad-vis: no memory for the image list");
    }
    const vis_args_t *a = c->args;
    if (a->image) {
        struct stat sb;
        if (stat(a->image, &sb) != 0) {
            free(test);
            return ddad_fail(DDAD_STATUS_DATA, "--image %s: no such file", a->image);
        }
        sel->samples[0] = NULL;
        for (size_t i = 0; i < n_test; i++)
            if (same_file(test[i]->path, a->image)) {
                sel->samples[0] = test[i];
                break;
            }
        sel->n = 1;
    } else if (a->all_test) {
        for (size_t i = 0; i < n_test; i++)
            sel->samples[sel->n++] = test[i];
    } else {
        /* the first anomalous images of the first category, then good ones */
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < n_test && sel->n < (size_t)a->count; i++)
                if (!strcmp(test[i]->category, cats[0]) && test[i]->label == (pass == 0 ? 1 : 0))
                    sel->samples[sel->n++] = test[i];
    }
    (void)n_cats;
    free(test);
    if (sel->n == 0)
        return ddad_fail(DDAD_STATUS_DATA, "ddad-vis: no test images in %s for %s", c->cfg.data.root, cats[0]);
    return DDAD_OK;
}

/* Position of s in its category's test split (the scorer's image id). */
static int64_t test_index(const ddad_dataset_t *ds, const ddad_sample_t *s)
{
    const ddad_sample_t **test = NULL;
    size_t n = 0;
    int64_t id = 0;
    if (ddad_dataset_select(ds, s->category, DDAD_SPLIT_TEST, &test, &n) == DDAD_OK)
        for (size_t i = 0; i < n; i++)
            if (test[i] == s)
                id = (int64_t)i;
    free(test);
    return id;
}

ddad_status_t vis_load_image(vis_ctx_t *c, const ddad_sample_t *s, const char *foreign, vis_image_t *im)
{
    memset(im, 0, sizeof *im);
    const int S = c->S;
    ddad_status_t st = DDAD_OK;
    ddad_testiter_t *it = NULL;
    im->x = malloc((size_t)3 * S * S * sizeof *im->x);
    if (!im->x)
        return ddad_fail(DDAD_STATUS_NOMEM, "ddad-vis: no memory for an image");
    if (!s) {
        const char *base = strrchr(foreign, '/');
        snprintf(im->name, sizeof im->name, "%s", base ? base + 1 : foreign);
        snprintf(im->category, sizeof im->category, "%s", c->cfg.data.category.v[0]);
        if (!strcmp(im->category, "all")) {
            const char *names[1];
            if (ddad_config_categories(&c->cfg, names, 1) >= 1)
                snprintf(im->category, sizeof im->category, "%s", names[0]);
        }
        DDAD_TRY(ddad_image_load_chw(foreign, S, im->x));
    } else {
        snprintf(im->name, sizeof im->name, "%s", s->name);
        snprintf(im->category, sizeof im->category, "%s", s->category);
        ddad_testiter_opts_t to = {.image_size = S, .mask_original_size = false, .mask_threshold = c->ds->mask_threshold};
        DDAD_TRY(ddad_testiter_create(&it, &s, 1, &to));
        ddad_test_item_t item;
        bool more = false;
        DDAD_TRY(ddad_testiter_next(it, &item, &more));
        if (!more) {
            st = ddad_fail(DDAD_STATUS_INTERNAL, "ddad-vis: the test iterator returned nothing for %s", s->path);
            goto fail;
        }
        memcpy(im->x, item.image, (size_t)3 * S * S * sizeof *im->x);
        if (item.mask) {
            im->mask = malloc((size_t)S * S);
            if (!im->mask) {
                st = ddad_fail(DDAD_STATUS_NOMEM, "ddad-vis: no memory for a mask");
                goto fail;
            }
            memcpy(im->mask, item.mask, (size_t)S * S);
        }
        if (s->source_path) {
            im->source = malloc((size_t)3 * S * S * sizeof *im->source);
            if (!im->source) {
                st = ddad_fail(DDAD_STATUS_NOMEM, "ddad-vis: no memory for the source image");
                goto fail;
            }
            DDAD_TRY(ddad_image_load_chw(s->source_path, S, im->source));
        }
        im->image_id = test_index(c->ds, s);
        im->sample = s;
    }
    int cls = ddad_config_category_index(&c->cfg, im->category);
    im->class_id = cls < 0 ? 0 : cls;
    ddad_testiter_free(it);
    return DDAD_OK;
fail:
    ddad_testiter_free(it);
    vis_image_free(im);
    return st;
}

void vis_image_free(vis_image_t *im)
{
    free(im->mask);
    free(im->x);
    free(im->source);
    memset(im, 0, sizeof *im);
}
