/* tests/test_loader.c - batches: determinism, epoch coverage, seek/resume,
 * rotation fill, flips; the test iterator's images, masks and names. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "image.h"
#include "loader.h"
#include "testutil.h"

static char *g_tmp;
static ddad_dataset_t *g_ds;
static const ddad_sample_t **g_train;
static size_t g_ntrain;
enum { S = 24, B = 3 };

static void setup(void)
{
    if (g_ds)
        return;
    g_tmp = ddad_test_mkdtemp("loader");
    CU_ASSERT_FATAL(g_tmp != NULL);
    CU_ASSERT_FATAL(ddad_test_synth(g_tmp, "woven", 40, 8, 2, 2) == 0); /* 40 px: resized to S by the loader */
    CU_ASSERT_FATAL(ddad_dataset_index(&g_ds, DDAD_DATA_FORMAT_MVTEC, g_tmp, NULL, 0) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_dataset_select(g_ds, "woven", DDAD_SPLIT_TRAIN, &g_train, &g_ntrain) == DDAD_OK);
    CU_ASSERT_FATAL(g_ntrain == 8);
}

static ddad_loader_t *make_flip(uint64_t seed, float deg, int flip)
{
    int64_t cls[8];
    for (int i = 0; i < 8; i++)
        cls[i] = 100 + i; /* identifies the sample */
    ddad_loader_opts_t o = {.image_size = S, .batch_size = B, .seed = seed, .rotation_deg = deg, .flip = flip,
                            .threads = 2};
    ddad_loader_t *L = NULL;
    ddad_status_t st = ddad_loader_create(&L, g_train, cls, g_ntrain, &o);
    if (st)
        fprintf(stderr, "\n  %s\n", ddad_last_error());
    CU_ASSERT_FATAL(st == DDAD_OK);
    return L;
}

static ddad_loader_t *make(uint64_t seed, float deg) { return make_flip(seed, deg, 0); }

#define NX (B * 3 * S * S)

static void test_determinism_and_epochs(void)
{
    setup();
    ddad_loader_t *a = make(5, 5), *b = make(5, 5), *c = make(6, 5);
    static float xa[NX], xb[NX], xc[NX];
    int64_t ya[B], yb[B], yc[B];
    int differs = 0;
    CU_ASSERT_EQUAL(ddad_loader_batches_per_epoch(a), 2); /* 8 / 3, last partial dropped */
    for (int k = 0; k < 10; k++) {
        ddad_loader_next(a, xa, ya);
        ddad_loader_next(b, xb, yb);
        ddad_loader_next(c, xc, yc);
        CU_ASSERT(memcmp(xa, xb, sizeof xa) == 0 && memcmp(ya, yb, sizeof ya) == 0);
        differs |= memcmp(xa, xc, sizeof xa) != 0;
        for (int i = 0; i < NX; i++)
            CU_ASSERT_FATAL(xa[i] >= -1.0f && xa[i] <= 1.0f);
    }
    CU_ASSERT(differs);
    ddad_loader_cursor_t cur;
    ddad_loader_get_cursor(a, &cur);
    CU_ASSERT_EQUAL(cur.epoch, 4);
    CU_ASSERT_EQUAL(cur.position, 6);
    ddad_loader_free(a);
    ddad_loader_free(b);
    ddad_loader_free(c);

    /* one epoch of unrotated batches: distinct samples, each equal to the
     * bicubic-resized image (resize itself is checked against Pillow) */
    ddad_loader_t *L = make(11, 0);
    int seen[8] = {0};
    ddad_image_t img = {0}, small = {0};
    static float ref[3 * S * S];
    for (int k = 0; k < 2; k++) {
        ddad_loader_next(L, xa, ya);
        for (int i = 0; i < B; i++) {
            int idx = (int)(ya[i] - 100);
            CU_ASSERT_FATAL(idx >= 0 && idx < 8);
            seen[idx]++;
            CU_ASSERT_FATAL(ddad_image_load(&img, g_train[idx]->path, DDAD_IMAGE_RGB) == DDAD_OK);
            CU_ASSERT_FATAL(ddad_image_resize_bicubic(&img, S, S, &small) == DDAD_OK);
            ddad_image_to_chw(&small, ref);
            CU_ASSERT(memcmp(ref, xa + i * 3 * S * S, sizeof ref) == 0);
        }
    }
    for (int i = 0, tot = 0; i < 8; i++) {
        CU_ASSERT(seen[i] <= 1);
        tot += seen[i];
        if (i == 7)
            CU_ASSERT_EQUAL(tot, 6);
    }
    ddad_image_free(&img);
    ddad_image_free(&small);
    ddad_loader_free(L);
}

static void test_seek(void)
{
    setup();
    ddad_loader_t *a = make(42, 5);
    static float x[NX], after[4][NX], y2[NX];
    int64_t y[B], ly[4][B], yy[B];
    for (int k = 0; k < 5; k++)
        ddad_loader_next(a, x, y);
    ddad_loader_cursor_t cur;
    ddad_loader_get_cursor(a, &cur);
    for (int k = 0; k < 4; k++)
        ddad_loader_next(a, after[k], ly[k]);
    /* a fresh loader resumed from the cursor */
    ddad_loader_t *b = make(42, 5);
    CU_ASSERT_EQUAL(ddad_loader_seek(b, &cur), DDAD_OK);
    for (int k = 0; k < 4; k++) {
        ddad_loader_next(b, y2, yy);
        CU_ASSERT(memcmp(y2, after[k], sizeof y2) == 0);
        CU_ASSERT(memcmp(yy, ly[k], sizeof yy) == 0);
    }
    /* the same loader rewound */
    CU_ASSERT_EQUAL(ddad_loader_seek(a, &cur), DDAD_OK);
    ddad_loader_next(a, y2, yy);
    CU_ASSERT(memcmp(y2, after[0], sizeof y2) == 0);
    /* a cursor from another seed is refused */
    ddad_loader_t *c = make(43, 5);
    CU_ASSERT_EQUAL(ddad_loader_seek(c, &cur), DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "seed"));
    ddad_loader_cursor_t bad = cur;
    bad.position = 99;
    CU_ASSERT_EQUAL(ddad_loader_seek(b, &bad), DDAD_STATUS_DATA);
    ddad_loader_free(a);
    ddad_loader_free(b);
    ddad_loader_free(c);
    ddad_loader_free(NULL);
}

/* Shards of a batch of 4 over 2 processes are exactly the halves of the
 * unsharded batch (rotation included), with the cursor of the whole batch;
 * the sample indices name the images. A batch that does not split is refused. */
static void test_shards(void)
{
    setup();
    enum { BB = 4, K = 2 };
    int64_t cls[8];
    for (int i = 0; i < 8; i++)
        cls[i] = 100 + i;
    ddad_loader_opts_t o = {.image_size = S, .batch_size = BB, .seed = 9, .rotation_deg = 5, .threads = 1};
    ddad_loader_t *whole = NULL, *part[K] = {NULL, NULL};
    CU_ASSERT_FATAL(ddad_loader_create(&whole, g_train, cls, g_ntrain, &o) == DDAD_OK);
    for (int k = 0; k < K; k++) {
        ddad_loader_opts_t ok = o;
        ok.shard_index = k;
        ok.shard_count = K;
        CU_ASSERT_FATAL(ddad_loader_create(&part[k], g_train, cls, g_ntrain, &ok) == DDAD_OK);
        CU_ASSERT_EQUAL(ddad_loader_local_batch(part[k]), BB / K);
    }
    CU_ASSERT_EQUAL(ddad_loader_local_batch(whole), BB);
    static float xw[BB * 3 * S * S], xp[BB / K * 3 * S * S];
    int64_t yw[BB], yp[BB / K];
    const size_t per = (size_t)3 * S * S;
    for (int step = 0; step < 5; step++) { /* crosses two epoch boundaries */
        ddad_loader_next(whole, xw, yw);
        const int64_t *iw = ddad_loader_batch_indices(whole);
        for (int k = 0; k < K; k++) {
            ddad_loader_next(part[k], xp, yp);
            const int64_t *ip = ddad_loader_batch_indices(part[k]);
            CU_ASSERT(memcmp(xp, xw + (size_t)k * (BB / K) * per, sizeof xp) == 0);
            for (int b = 0; b < BB / K; b++) {
                CU_ASSERT_EQUAL(yp[b], yw[k * (BB / K) + b]);
                CU_ASSERT_EQUAL(ip[b], iw[k * (BB / K) + b]);
                CU_ASSERT_EQUAL(yp[b], 100 + ip[b]);
            }
            ddad_loader_cursor_t cw, cp;
            ddad_loader_get_cursor(whole, &cw);
            ddad_loader_get_cursor(part[k], &cp);
            CU_ASSERT(cw.epoch == cp.epoch && cw.position == cp.position && cw.rng == cp.rng);
        }
    }
    ddad_loader_free(whole);
    for (int k = 0; k < K; k++)
        ddad_loader_free(part[k]);
    ddad_loader_opts_t bad = o;
    bad.batch_size = 3;
    bad.shard_count = 2;
    ddad_loader_t *L = NULL;
    CU_ASSERT_EQUAL(ddad_loader_create(&L, g_train, cls, g_ntrain, &bad), DDAD_STATUS_CONFIG);
    CU_ASSERT_PTR_NULL(L);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "multiple of the number of processes"));
}

static void test_rotation_fill(void)
{
    /* a constant image stays constant under rotation with edge replication */
    char dir[4200], p[4300];
    setup();
    snprintf(dir, sizeof dir, "%s/flat", g_tmp);
    ddad_test_system("mkdir -p '%s'", dir);
    snprintf(p, sizeof p, "%s/flat.png", dir);
    ddad_image_t im = {0};
    CU_ASSERT_FATAL(ddad_image_alloc(&im, S, S, 3) == DDAD_OK);
    memset(im.data, 200, (size_t)S * S * 3);
    CU_ASSERT_FATAL(ddad_image_write_png(&im, p) == DDAD_OK);
    ddad_image_free(&im);
    ddad_sample_t s = {.path = p, .name = "flat.png"};
    const ddad_sample_t *sp[1] = {&s};
    ddad_loader_opts_t o = {.image_size = S, .batch_size = 1, .seed = 1, .rotation_deg = 30, .threads = 1};
    ddad_loader_t *L;
    CU_ASSERT_FATAL(ddad_loader_create(&L, sp, NULL, 1, &o) == DDAD_OK);
    static float x[3 * S * S];
    int64_t y;
    float want = 200 / 127.5f - 1;
    for (int k = 0; k < 3; k++) {
        ddad_loader_next(L, x, &y);
        CU_ASSERT_EQUAL(y, 0);
        CU_ASSERT(ddad_test_max_abs_diff(x, (float[]){want}, 1) < 1e-6);
        double m = 0;
        for (int i = 0; i < 3 * S * S; i++)
            m = fmax(m, fabs(x[i] - want));
        CU_ASSERT(m < 1e-5);
    }
    ddad_loader_free(L);
    /* batch larger than the set is a clear error */
    o.batch_size = 2;
    CU_ASSERT_EQUAL(ddad_loader_create(&L, sp, NULL, 1, &o), DDAD_STATUS_CONFIG);
    /* a textured image changes under rotation */
    ddad_loader_t *r = make(3, 20), *n = make(3, 0);
    static float xr[NX], xn[NX];
    int64_t yr[B], yn[B];
    ddad_loader_next(r, xr, yr);
    ddad_loader_next(n, xn, yn);
    CU_ASSERT(memcmp(yr, yn, sizeof yr) == 0); /* same order: rotation draws come after the permutation */
    CU_ASSERT(ddad_test_max_abs_diff(xr, xn, NX) > 0.1);
    ddad_loader_free(r);
    ddad_loader_free(n);
}

/* The (3, S, S) image a, mirrored as flip says, equals b. */
static bool is_flip_of(const float *a, const float *b, int flip)
{
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int sy = flip & DDAD_LOADER_FLIP_V ? S - 1 - y : y, sx = flip & DDAD_LOADER_FLIP_H ? S - 1 - x : x;
                if (a[((size_t)ch * S + sy) * S + sx] != b[((size_t)ch * S + y) * S + x])
                    return false;
            }
    return true;
}

static void test_flips(void)
{
    setup();
    for (int allowed = 1; allowed <= 3; allowed++) {
        /* same seed, same order; each image is the plain one under a flip the
         * option allows, and every allowed flip shows up */
        ddad_loader_t *plain = make(4, 0), *fl = make_flip(4, 0, allowed);
        static float xp[NX], xf[NX];
        int64_t yp[B], yf[B];
        int seen[4] = {0};
        for (int k = 0; k < 40; k++) {
            ddad_loader_next(plain, xp, yp);
            ddad_loader_next(fl, xf, yf);
            CU_ASSERT(memcmp(yp, yf, sizeof yp) == 0);
            for (int b = 0; b < B; b++) {
                int which = -1;
                for (int f = 0; f < 4 && which < 0; f++)
                    if ((f & ~allowed) == 0 && is_flip_of(xp + b * 3 * S * S, xf + b * 3 * S * S, f))
                        which = f;
                CU_ASSERT(which >= 0);
                if (which >= 0)
                    seen[which]++;
            }
        }
        for (int f = 0; f < 4; f++)
            if ((f & ~allowed) == 0)
                CU_ASSERT(seen[f] > 0);
        ddad_loader_free(plain);
        ddad_loader_free(fl);
    }
    /* the first image of a batch keeps its angle (its flip is drawn after it) */
    ddad_loader_t *r = make_flip(8, 10, 0), *rf = make_flip(8, 10, DDAD_LOADER_FLIP_H);
    static float xr[NX], xrf[NX];
    int64_t yr[B], yrf[B];
    ddad_loader_next(r, xr, yr);
    ddad_loader_next(rf, xrf, yrf);
    CU_ASSERT(is_flip_of(xr, xrf, 0) || is_flip_of(xr, xrf, DDAD_LOADER_FLIP_H));
    ddad_loader_free(r);
    ddad_loader_free(rf);
    /* an unknown flip bit is refused */
    ddad_loader_opts_t o = {.image_size = S, .batch_size = B, .seed = 1, .flip = 4, .threads = 1};
    ddad_loader_t *L = NULL;
    CU_ASSERT_EQUAL(ddad_loader_create(&L, g_train, NULL, g_ntrain, &o), DDAD_STATUS_USAGE);
}

static void test_iterator(void)
{
    setup();
    const ddad_sample_t **test;
    size_t n;
    CU_ASSERT_FATAL(ddad_dataset_select(g_ds, "woven", DDAD_SPLIT_TEST, &test, &n) == DDAD_OK);
    CU_ASSERT_EQUAL(n, 8); /* 3 defects x 2 + 2 good */
    for (int orig = 0; orig < 2; orig++) {
        ddad_testiter_opts_t o = {.image_size = S, .mask_original_size = orig, .mask_threshold = 127};
        ddad_testiter_t *it;
        CU_ASSERT_FATAL(ddad_testiter_create(&it, test, n, &o) == DDAD_OK);
        ddad_test_item_t item;
        bool more;
        size_t k = 0;
        while (ddad_testiter_next(it, &item, &more) == DDAD_OK && more) {
            const ddad_sample_t *s = test[k++];
            CU_ASSERT_STRING_EQUAL(item.name, s->name);
            CU_ASSERT_EQUAL(item.orig_w, 40);
            CU_ASSERT_EQUAL(item.mask_w, orig ? 40 : S);
            CU_ASSERT_PTR_NOT_NULL_FATAL(item.mask);
            ddad_image_t m = {0}, ms = {0};
            size_t ones = 0, want = 0;
            if (s->mask_path) {
                CU_ASSERT_FATAL(ddad_image_load(&m, s->mask_path, DDAD_IMAGE_GRAY) == DDAD_OK);
                if (!orig)
                    CU_ASSERT_FATAL(ddad_image_resize_nearest(&m, S, S, &ms) == DDAD_OK);
                const ddad_image_t *r = orig ? &m : &ms;
                for (int i = 0; i < r->w * r->h; i++) {
                    CU_ASSERT_EQUAL(item.mask[i], r->data[i] > 127);
                    want += r->data[i] > 127;
                }
            }
            for (int i = 0; i < item.mask_w * item.mask_h; i++)
                ones += item.mask[i];
            CU_ASSERT_EQUAL(ones, want);
            CU_ASSERT_EQUAL(item.label, s->label);
            if (orig && s->label)
                CU_ASSERT(ones > 0);
            ddad_image_free(&m);
            ddad_image_free(&ms);
        }
        CU_ASSERT_EQUAL(k, n);
        ddad_testiter_free(it);
    }
    free(test);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"deterministic batches and epoch coverage", test_determinism_and_epochs},
                                        {"seek restores the stream bit-exactly", test_seek},
                                        {"shards are slices of the whole batch", test_shards},
                                        {"rotation fills with edge pixels", test_rotation_fill},
                                        {"flips: allowed ones only, each seen, stream kept", test_flips},
                                        {"test iterator images, masks and names", test_iterator},
                                        {0}};
    int rc = ddad_test_main("loader", tests);
    free(g_train);
    ddad_dataset_free(g_ds);
    ddad_test_rmtree(g_tmp);
    free(g_tmp);
    return rc;
}
