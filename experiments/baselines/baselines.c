/* experiments/baselines/baselines.c - see baselines.h */
#include "baselines.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "nn/extractor.h"
#include "nn/score.h"
#include "report.h"

/* ---- data ---------------------------------------------------------------------- */

void bl_split_free(bl_split_t *s)
{
    if (!s)
        return;
    if (s->names)
        for (int64_t i = 0; i < s->n; i++)
            free(s->names[i]);
    free(s->names);
    free(s->images);
    free(s->masks);
    free(s->labels);
    memset(s, 0, sizeof *s);
}

ddad_status_t bl_split_load(bl_split_t *s, const ddad_sample_t *const *samples, size_t n, int S, int mask_threshold,
                            bl_progress_fn progress, void *user)
{
    memset(s, 0, sizeof *s);
    const int64_t HW = (int64_t)S * S;
    ddad_status_t st = DDAD_OK;
    ddad_testiter_t *it = NULL;
    s->n = (int64_t)n;
    s->S = S;
    s->images = malloc((size_t)(s->n * 3 * HW) * sizeof *s->images);
    s->masks = calloc((size_t)(s->n * HW), 1);
    s->labels = calloc(n ? n : 1, 1);
    s->names = calloc(n ? n : 1, sizeof *s->names);
    if (!s->images || !s->masks || !s->labels || !s->names) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "no memory for %zu images of %d x %d", n, S, S);
        goto fail;
    }
    /* masks at S x S, nearest: what ddad-eval does for score.resolution model */
    ddad_testiter_opts_t to = {.image_size = S, .mask_original_size = false, .mask_threshold = mask_threshold};
    DDAD_TRY(ddad_testiter_create(&it, samples, n, &to));
    for (int64_t i = 0; i < s->n; i++) {
        ddad_test_item_t item;
        bool more = false;
        DDAD_TRY(ddad_testiter_next(it, &item, &more));
        if (!more) {
            st = ddad_fail(DDAD_STATUS_INTERNAL, "test iterator ended after %lld of %zu images", (long long)i, n);
            goto fail;
        }
        memcpy(s->images + i * 3 * HW, item.image, (size_t)(3 * HW) * sizeof(float));
        if (item.mask) {
            if (item.mask_w != S || item.mask_h != S) {
                st = ddad_fail(DDAD_STATUS_INTERNAL, "%s: mask is %dx%d, expected %dx%d", item.name, item.mask_w,
                               item.mask_h, S, S);
                goto fail;
            }
            memcpy(s->masks + i * HW, item.mask, (size_t)HW);
        }
        s->labels[i] = (uint8_t)(item.label != 0);
        if (!(s->names[i] = strdup(item.name))) {
            st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
            goto fail;
        }
        if (progress)
            DDAD_TRY(progress("decoding", i + 1, s->n, user));
    }
fail:
    ddad_testiter_free(it);
    if (st != DDAD_OK)
        bl_split_free(s);
    return st;
}

/* ---- meandiff ------------------------------------------------------------------ */

ddad_status_t bl_meandiff_mean(const float *images, int64_t n, int64_t S, float *mean)
{
    const int64_t P = 3 * S * S;
    double *acc = calloc((size_t)P, sizeof *acc);
    if (!acc)
        return ddad_fail(DDAD_STATUS_NOMEM, "mean image: out of memory");
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < P; p++)
            acc[p] += images[i * P + p];
    for (int64_t p = 0; p < P; p++)
        mean[p] = (float)(n > 0 ? acc[p] / (double)n : 0.0);
    free(acc);
    return DDAD_OK;
}

void bl_meandiff_map(const float *mean, const float *x, int64_t S, float *map)
{
    const int64_t HW = S * S;
    for (int64_t p = 0; p < HW; p++) {
        double a = 0;
        for (int c = 0; c < 3; c++)
            a += fabs((double)x[c * HW + p] - (double)mean[c * HW + p]);
        map[p] = (float)(a / 3.0);
    }
}

/* ---- patchnn ------------------------------------------------------------------- */

ddad_status_t bl_patch_features(const ddad_effnet_t *net, const float *images, int64_t n, int64_t S, int64_t G,
                                int64_t batch, bl_progress_fn progress, void *user, ddad_tensor_t **out)
{
    if (n <= 0 || batch <= 0 || G <= 0)
        return ddad_fail(DDAD_STATUS_USAGE, "patch features: %lld images, batch %lld, grid %lld", (long long)n,
                         (long long)batch, (long long)G);
    const int64_t P = 3 * S * S;
    const int64_t nb = (n + batch - 1) / batch;
    ddad_device_t dev = net->params.device;
    ddad_status_t st = DDAD_OK;
    size_t mark = ddad_scope_begin();
    ddad_tensor_t **parts = calloc((size_t)nb, sizeof *parts), *all;
    if (!parts) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
        goto fail;
    }
    for (int64_t b = 0; b < nb; b++) {
        const int64_t i0 = b * batch, m = (i0 + batch <= n ? batch : n - i0);
        size_t inner = ddad_scope_begin();
        ddad_tensor_t *host, *x, *f;
        int64_t shape[4] = {m, 3, S, S};
        st = ddad_from_buffer(&host, images + i0 * P, shape, 4, DDAD_DTYPE_F32);
        if (st == DDAD_OK)
            st = dev.type == DDAD_DEVICE_TYPE_CPU ? ddad_tensor_ref(&x, host) : ddad_to_device(&x, host, dev);
        if (st == DDAD_OK)
            st = ddad_extractor_features(net, x, G, &f); /* (m, 272, G, G) */
        if (st == DDAD_OK)
            parts[b] = ddad_tensor_keep(f);
        ddad_scope_end(inner);
        if (st != DDAD_OK)
            goto fail;
        if (progress)
            DDAD_TRY(progress("features", i0 + m, n, user));
    }
    DDAD_TRY(ddad_cat(&all, (const ddad_tensor_t *const *)parts, (size_t)nb, 0));
    *out = ddad_tensor_keep(all);
fail:
    ddad_scope_end(mark);
    free(parts);
    return st;
}

ddad_status_t bl_patch_vectors(const ddad_tensor_t *feat, ddad_tensor_t **out)
{
    if (ddad_tensor_dim(feat) != 4)
        return ddad_fail(DDAD_STATUS_SHAPE, "patch vectors: features must be (n, C, G, G)");
    const int64_t n = ddad_tensor_size(feat, 0), C = ddad_tensor_size(feat, 1), H = ddad_tensor_size(feat, 2),
                  W = ddad_tensor_size(feat, 3);
    ddad_status_t st = DDAD_OK;
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *p, *c, *r;
    const int64_t perm[4] = {0, 2, 3, 1}, shape[2] = {n * H * W, C};
    DDAD_TRY(ddad_permute(&p, feat, perm, 4)); /* (n, G, G, C) */
    DDAD_TRY(ddad_contiguous(&c, p));
    DDAD_TRY(ddad_reshape(&r, c, shape, 2));
    *out = ddad_tensor_keep(r);
fail:
    ddad_scope_end(mark);
    return st;
}

ddad_status_t bl_nn_distance(const ddad_tensor_t *query, const ddad_tensor_t *bank, int64_t chunk_elems,
                             bl_progress_fn progress, void *user, ddad_tensor_t **out)
{
    if (ddad_tensor_dim(query) != 2 || ddad_tensor_dim(bank) != 2 ||
        ddad_tensor_size(query, 1) != ddad_tensor_size(bank, 1))
        return ddad_fail(DDAD_STATUS_SHAPE, "nearest-neighbour distance: query (Q, C) and bank (M, C) needed");
    const int64_t Q = ddad_tensor_size(query, 0), M = ddad_tensor_size(bank, 0);
    if (M <= 0)
        return ddad_fail(DDAD_STATUS_DATA, "nearest-neighbour distance: the memory bank is empty");
    int64_t rows = chunk_elems / M;
    if (rows < 1)
        rows = 1;
    if (rows > Q)
        rows = Q > 0 ? Q : 1;
    const int64_t nc = Q > 0 ? (Q + rows - 1) / rows : 0;
    ddad_status_t st = DDAD_OK;
    size_t mark = ddad_scope_begin();
    ddad_tensor_t **parts = calloc((size_t)(nc ? nc : 1), sizeof *parts);
    ddad_tensor_t *mu, *b, *q, *bb, *b2, *bias, *res;
    if (!parts) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
        goto fail;
    }
    const int64_t dim0 = 0, dim1 = 1;
    DDAD_TRY(ddad_mean_dims(&mu, bank, &dim0, 1, true)); /* (1, C) */
    DDAD_TRY(ddad_sub(&b, bank, mu));                    /* (M, C) centred */
    DDAD_TRY(ddad_sub(&q, query, mu));                   /* (Q, C) centred */
    DDAD_TRY(ddad_mul(&bb, b, b));
    DDAD_TRY(ddad_sum_dims(&b2, bb, &dim1, 1, false));   /* (M)  ||b||^2 */
    DDAD_TRY(ddad_mul_scalar(&bias, b2, -0.5));          /* (M) -||b||^2 / 2 */
    for (int64_t k = 0; k < nc; k++) {
        const int64_t r0 = k * rows, r1 = r0 + rows < Q ? r0 + rows : Q;
        size_t inner = ddad_scope_begin();
        ddad_tensor_t *qc, *u, *umax, *arg, *nb, *diff, *sq, *d2, *d;
        /* nearest neighbour by max_m (q.b_m - ||b_m||^2 / 2), one matrix
         * product with a bias (addmm); its distance is then recomputed from
         * the difference vector, so that no cancellation error is left in it */
        st = ddad_slice(&qc, q, 0, r0, r1, 1);                          /* (r, C) */
        if (st == DDAD_OK)
            st = ddad_linear(&u, qc, b, bias);                          /* (r, M) */
        if (st == DDAD_OK)
            st = ddad_max_dim(&umax, &arg, u, 1, false);                /* (r) */
        if (st == DDAD_OK)
            st = ddad_index_select(&nb, b, 0, arg);                     /* (r, C) */
        if (st == DDAD_OK)
            st = ddad_sub(&diff, qc, nb);
        if (st == DDAD_OK)
            st = ddad_mul(&sq, diff, diff);
        if (st == DDAD_OK)
            st = ddad_sum_dims(&d2, sq, &dim1, 1, false);               /* (r) */
        if (st == DDAD_OK)
            st = ddad_sqrt(&d, d2);
        if (st == DDAD_OK)
            parts[k] = ddad_tensor_keep(d);
        ddad_scope_end(inner);
        if (st != DDAD_OK)
            goto fail;
        if (progress)
            DDAD_TRY(progress("search", r1, Q, user));
    }
    if (nc == 0) {
        const int64_t zero = 0;
        DDAD_TRY(ddad_zeros(&res, &zero, 1, DDAD_DTYPE_F32, ddad_tensor_device(query)));
    } else {
        DDAD_TRY(ddad_cat(&res, (const ddad_tensor_t *const *)parts, (size_t)nc, 0));
    }
    *out = ddad_tensor_keep(res);
fail:
    ddad_scope_end(mark);
    free(parts);
    return st;
}

ddad_status_t bl_patchnn_maps(const float *dist, int64_t n, int64_t G, int64_t S, double sigma, float *maps,
                              float *scores)
{
    const int64_t HW = S * S;
    ddad_status_t st = DDAD_OK;
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *d, *up;
    int64_t shape[4] = {n, 1, G, G};
    DDAD_TRY(ddad_from_buffer(&d, dist, shape, 4, DDAD_DTYPE_F32));
    DDAD_TRY(ddad_interpolate(&up, d, S, S, DDAD_INTERP_BILINEAR, false)); /* (n, 1, S, S) */
    DDAD_TRY(ddad_to_buffer(up, maps, (size_t)(n * HW) * sizeof(float), DDAD_DTYPE_F32));
    for (int64_t i = 0; i < n; i++) {
        DDAD_TRY(ddad_score_smooth(maps + i * HW, S, S, sigma, 0));
        scores[i] = ddad_score_image(maps + i * HW, HW, DDAD_IMAGE_SCORE_MAX, 1);
    }
fail:
    ddad_scope_end(mark);
    return st;
}

/* ---- metrics ------------------------------------------------------------------- */

ddad_status_t bl_metrics(const float *maps, const uint8_t *masks, const float *scores, const uint8_t *labels,
                         int64_t n, int64_t h, int64_t w, double pro_limit, ddad_metrics_record_t *rec)
{
    char category[sizeof rec->category];
    snprintf(category, sizeof category, "%s", rec->category);
    ddad_metrics_record_init(rec, category, pro_limit);
    rec->images = n;
    ddad_pixel_arrays_t arrays;
    ddad_pixel_source_t src;
    ddad_pixel_source_from_arrays(&src, &arrays, maps, masks, n, h, w);
    ddad_pixel_metrics_t pm;
    ddad_status_t st = ddad_metrics_pixel_eval(&src, DDAD_METRICS_ALL, pro_limit, NULL, &pm);
    if (st != DDAD_OK)
        return st;
    rec->pixel_auroc = pm.auroc;
    rec->au_pro = pm.au_pro;
    rec->pixel_f1_max = pm.f1_max;
    rec->pixel_f1_threshold = pm.f1_threshold;
    ddad_metrics_add_note(rec, pm.note);
    ddad_image_metrics_t im;
    st = ddad_metrics_image_eval(scores, labels, (size_t)n, &im);
    if (st != DDAD_OK)
        return st;
    rec->image_auroc = im.auroc;
    rec->image_f1_max = im.f1_max;
    rec->image_f1_threshold = im.f1_threshold;
    ddad_metrics_add_note(rec, im.note);
    return DDAD_OK;
}
