/* tests/test_metrics.c - core/metrics against sklearn (roc_curve + auc,
 * precision_recall_curve), scipy.ndimage.label (3x3 ones) and a NumPy
 * transcription of MVTec AD's AU-PRO (experiments/bench/metrics_reference.py),
 * plus hand cases with known answers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_state = 88172645463325252ull;

static uint32_t rnd_u32(void) { return ddad_test_xorshift(&rng_state); }

static double rnd_unit(void) { return rnd_u32() / 4294967296.0; }

static int write_file(const char *dir, const char *name, const void *data, size_t bytes)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t ok = fwrite(data, 1, bytes, f);
    fclose(f);
    return ok == bytes ? 0 : -1;
}

/* Reference values "name value" lines; NaN when the name is absent. */
typedef struct ref {
    double pixel_auroc, au_pro, pixel_f1_max, pixel_f1_threshold, num_regions;
    double image_auroc, image_f1_max, image_f1_threshold;
} ref_t;

static int read_ref(const char *path, ref_t *r)
{
    struct {
        const char *name;
        double *v;
    } keys[] = {{"pixel_auroc", &r->pixel_auroc},   {"au_pro", &r->au_pro},
                {"pixel_f1_max", &r->pixel_f1_max}, {"pixel_f1_threshold", &r->pixel_f1_threshold},
                {"num_regions", &r->num_regions},   {"image_auroc", &r->image_auroc},
                {"image_f1_max", &r->image_f1_max}, {"image_f1_threshold", &r->image_f1_threshold}};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        *keys[k].v = NAN;
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char name[64];
    double v;
    while (fscanf(f, "%63s %lf", name, &v) == 2)
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (!strcmp(name, keys[k].name))
                *keys[k].v = v;
    fclose(f);
    return 0;
}

/* Runs metrics_reference.py raw on the arrays; 0 on success. */
static int python_reference(const float *maps, const uint8_t *masks, int64_t n, int64_t h, int64_t w,
                            const float *scores, const uint8_t *labels, double limit, ref_t *r)
{
    char *dir = ddad_test_mkdtemp("metrics");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    size_t px = (size_t)(n * h * w);
    int rc = write_file(dir, "maps.f32", maps, px * 4) || write_file(dir, "masks.u8", masks, px) ||
             write_file(dir, "scores.f32", scores, (size_t)n * 4) || write_file(dir, "labels.u8", labels, (size_t)n);
    if (!rc)
        rc = ddad_test_system("'%s' '%s/experiments/bench/metrics_reference.py' raw --n %lld --h %lld --w %lld "
                              "--maps %s/maps.f32 --masks %s/masks.u8 --scores %s/scores.f32 --labels %s/labels.u8 "
                              "--limit %.17g --out %s/ref.txt",
                              ddad_test_python(), ddad_test_source_dir(), (long long)n, (long long)h, (long long)w,
                              dir, dir, dir, dir, limit, dir);
    if (!rc) {
        char path[1024];
        snprintf(path, sizeof path, "%s/ref.txt", dir);
        rc = read_ref(path, r);
    }
    ddad_test_rmtree(dir);
    free(dir);
    return rc;
}

#define ASSERT_NEAR(what, a, b, tol)                                                              \
    do {                                                                                          \
        double a_ = (a), b_ = (b);                                                                \
        if (!(fabs(a_ - b_) <= (tol)))                                                            \
            fprintf(stderr, "\n  %s: got %.12g, expected %.12g (tol %.1g)\n", (what), a_, b_, (double)(tol)); \
        CU_ASSERT(fabs(a_ - b_) <= (tol));                                                        \
    } while (0)

/* Image scores: max of each map. */
static void image_max(const float *maps, int64_t n, int64_t hw, float *scores)
{
    for (int64_t i = 0; i < n; i++) {
        float m = maps[i * hw];
        for (int64_t k = 1; k < hw; k++)
            m = maps[i * hw + k] > m ? maps[i * hw + k] : m;
        scores[i] = m;
    }
}

/* Compares every metric of C against the python oracle on one data set. */
static void compare_with_reference(const char *what, const float *maps, const uint8_t *masks, int64_t n, int64_t h,
                                   int64_t w, double limit, int check_thresholds)
{
    int64_t hw = h * w;
    float *scores = malloc((size_t)n * sizeof *scores);
    uint8_t *labels = malloc((size_t)n);
    image_max(maps, n, hw, scores);
    for (int64_t i = 0; i < n; i++) {
        labels[i] = 0;
        for (int64_t k = 0; k < hw; k++)
            labels[i] |= masks[i * hw + k] != 0;
    }
    ref_t r;
    int rc = python_reference(maps, masks, n, h, w, scores, labels, limit, &r);
    CU_ASSERT_EQUAL_FATAL(rc, 0);

    ddad_pixel_source_t src;
    ddad_pixel_arrays_t arr;
    ddad_pixel_source_from_arrays(&src, &arr, maps, masks, n, h, w);
    ddad_pixel_metrics_t pm;
    float *imax = malloc((size_t)n * sizeof *imax);
    CU_ASSERT_EQUAL_FATAL(ddad_metrics_pixel_eval(&src, DDAD_METRICS_ALL, limit, imax, &pm), DDAD_OK);
    CU_ASSERT_EQUAL(memcmp(imax, scores, (size_t)n * sizeof *imax), 0);
    CU_ASSERT(pm.defined);
    fprintf(stderr, "\n  %s: pixel AUROC %.6f/%.6f AU-PRO %.6f/%.6f F1 %.6f/%.6f regions %lld/%.0f", what, pm.auroc,
            r.pixel_auroc, pm.au_pro, r.au_pro, pm.f1_max, r.pixel_f1_max, (long long)pm.num_regions, r.num_regions);
    ASSERT_NEAR("pixel AUROC", pm.auroc, r.pixel_auroc, 1e-9);
    ASSERT_NEAR("AU-PRO", pm.au_pro, r.au_pro, 1e-9);
    ASSERT_NEAR("pixel F1-max", pm.f1_max, r.pixel_f1_max, 1e-9);
    CU_ASSERT_EQUAL(pm.num_regions, (int64_t)r.num_regions);
    if (check_thresholds)
        ASSERT_NEAR("pixel F1 threshold", pm.f1_threshold, r.pixel_f1_threshold, 0.0);

    ddad_image_metrics_t im;
    CU_ASSERT_EQUAL_FATAL(ddad_metrics_image_eval(scores, labels, (size_t)n, &im), DDAD_OK);
    CU_ASSERT(im.defined);
    ASSERT_NEAR("image AUROC", im.auroc, r.image_auroc, 1e-12);
    ASSERT_NEAR("image F1-max", im.f1_max, r.image_f1_max, 1e-12);
    free(imax);
    free(scores);
    free(labels);
}

/* Random masks: a few rectangles and ellipses on every other image. */
static void random_blobs(uint8_t *masks, int64_t n, int64_t h, int64_t w)
{
    memset(masks, 0, (size_t)(n * h * w));
    for (int64_t i = 0; i < n; i += 2) {
        int blobs = 1 + (int)(rnd_u32() % 3);
        for (int b = 0; b < blobs; b++) {
            double cy = rnd_unit() * h, cx = rnd_unit() * w, ry = 1 + rnd_unit() * h / 6, rx = 1 + rnd_unit() * w / 6;
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++)
                    if ((y - cy) * (y - cy) / (ry * ry) + (x - cx) * (x - cx) / (rx * rx) <= 1.0)
                        masks[(i * h + y) * w + x] = 255;
        }
    }
}

/* ---- tests -------------------------------------------------------------- */

static void test_float_key_order(void)
{
    float v[] = {-INFINITY, -3e38f, -1.0f, -1e-30f, -1e-45f, 0.0f, 1e-45f, 1e-30f, 0.5f, 1.0f, 3e38f, INFINITY};
    for (size_t i = 0; i + 1 < sizeof v / sizeof v[0]; i++)
        CU_ASSERT(ddad_metrics_float_key(v[i]) < ddad_metrics_float_key(v[i + 1]));
    CU_ASSERT_EQUAL(ddad_metrics_float_key(-0.0f), ddad_metrics_float_key(0.0f));
    for (int k = 0; k < 100000; k++) {
        uint32_t a = rnd_u32(), b = rnd_u32();
        float fa, fb;
        memcpy(&fa, &a, 4);
        memcpy(&fb, &b, 4);
        if (isnan(fa) || isnan(fb))
            continue;
        uint32_t ka = ddad_metrics_float_key(fa), kb = ddad_metrics_float_key(fb);
        CU_ASSERT_EQUAL((fa < fb), (ka < kb));
        CU_ASSERT_EQUAL((fa == fb), (ka == kb));
    }
}

/* Labels against scipy.ndimage.label(mask, ones((3, 3))): same numbering.
 * One python call per shape labels one mask per density. */
static void test_label8_vs_scipy(void)
{
    const int64_t shapes[][2] = {{1, 1}, {1, 40}, {40, 1}, {37, 53}, {64, 64}, {128, 97}};
    const double dens[] = {0.05, 0.3, 0.5, 0.6, 0.9};
    const int64_t nd = sizeof dens / sizeof dens[0];
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t h = shapes[s][0], w = shapes[s][1], hw = h * w;
        uint8_t *mask = malloc((size_t)(nd * hw));
        int32_t *lab = malloc((size_t)hw * sizeof *lab), *ref = malloc((size_t)(nd * hw) * sizeof *ref);
        for (int64_t k = 0; k < nd * hw; k++)
            mask[k] = rnd_unit() < dens[k / hw] ? (uint8_t)(1 + rnd_u32() % 255) : 0;
        char *dir = ddad_test_mkdtemp("label8");
        CU_ASSERT_FATAL(dir != NULL);
        CU_ASSERT_EQUAL_FATAL(write_file(dir, "mask.u8", mask, (size_t)(nd * hw)), 0);
        int rc = ddad_test_system("'%s' '%s/experiments/bench/metrics_reference.py' label --n %lld --h %lld "
                                  "--w %lld --mask %s/mask.u8 --out %s/lab.i32",
                                  ddad_test_python(), ddad_test_source_dir(), (long long)nd, (long long)h,
                                  (long long)w, dir, dir);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        char path[1024];
        snprintf(path, sizeof path, "%s/lab.i32", dir);
        FILE *f = fopen(path, "rb");
        CU_ASSERT_FATAL(f != NULL);
        CU_ASSERT_EQUAL(fread(ref, sizeof *ref, (size_t)(nd * hw), f), (size_t)(nd * hw));
        fclose(f);
        for (int64_t d = 0; d < nd; d++) {
            int32_t num = -1, ref_num = 0;
            CU_ASSERT_EQUAL_FATAL(ddad_metrics_label8(mask + d * hw, h, w, lab, NULL, &num), DDAD_OK);
            for (int64_t k = 0; k < hw; k++)
                ref_num = ref[d * hw + k] > ref_num ? ref[d * hw + k] : ref_num;
            CU_ASSERT_EQUAL(num, ref_num);
            CU_ASSERT_EQUAL(memcmp(lab, ref + d * hw, (size_t)hw * sizeof *ref), 0);
        }
        ddad_test_rmtree(dir);
        free(dir);
        free(mask);
        free(lab);
        free(ref);
    }
}

/* A U-shape joins at the bottom, diagonal-only neighbours join, and a
 * 4-connected-only gap separates. */
static void test_label8_hand(void)
{
    const uint8_t m[5 * 6] = {1, 0, 1, 0, 0, 1,  /* */
                              1, 0, 1, 0, 1, 0,  /* */
                              1, 1, 1, 0, 0, 0,  /* */
                              0, 0, 0, 0, 0, 1,  /* */
                              1, 0, 0, 0, 1, 0};
    const int32_t expect[5 * 6] = {1, 0, 1, 0, 0, 2, 1, 0, 1, 0, 2, 0, 1, 1, 1, 0, 0, 0,
                                   0, 0, 0, 0, 0, 3, 4, 0, 0, 0, 3, 0};
    int32_t lab[30], num;
    CU_ASSERT_EQUAL_FATAL(ddad_metrics_label8(m, 5, 6, lab, NULL, &num), DDAD_OK);
    CU_ASSERT_EQUAL(num, 4);
    CU_ASSERT_EQUAL(memcmp(lab, expect, sizeof lab), 0);
}

static void test_random_continuous(void)
{
    int64_t n = 12, h = 31, w = 45, hw = h * w;
    float *maps = malloc((size_t)(n * hw) * sizeof *maps);
    uint8_t *masks = malloc((size_t)(n * hw));
    random_blobs(masks, n, h, w);
    for (int64_t k = 0; k < n * hw; k++)
        maps[k] = (float)(rnd_unit() * 2.0 - 0.5 + (masks[k] ? 0.6 : 0.0));
    compare_with_reference("continuous, limit 0.3", maps, masks, n, h, w, 0.3, 1);
    compare_with_reference("continuous, limit 1", maps, masks, n, h, w, 1.0, 1);
    compare_with_reference("continuous, limit 0.01", maps, masks, n, h, w, 0.01, 1);
    free(maps);
    free(masks);
}

/* Few distinct values: heavy ties, negative scores, -0 vs +0. */
static void test_random_ties(void)
{
    int64_t n = 10, h = 20, w = 24, hw = h * w;
    float *maps = malloc((size_t)(n * hw) * sizeof *maps);
    uint8_t *masks = malloc((size_t)(n * hw));
    random_blobs(masks, n, h, w);
    for (int64_t k = 0; k < n * hw; k++) {
        int q = (int)(rnd_u32() % 7) - 3 + (masks[k] && rnd_unit() < 0.5 ? 2 : 0);
        maps[k] = q == 0 ? (rnd_u32() & 1 ? -0.0f : 0.0f) : (float)q * 0.25f;
    }
    compare_with_reference("ties", maps, masks, n, h, w, 0.3, 0);
    free(maps);
    free(masks);
}

/* Many pixels inside one 16-bit key bucket: exercises the full-scan path of
 * the bucket sweep (values 1 + k * 2^-23 share their high 16 key bits). */
static void test_random_one_bucket(void)
{
    int64_t n = 6, h = 60, w = 70, hw = h * w;
    float *maps = malloc((size_t)(n * hw) * sizeof *maps);
    uint8_t *masks = malloc((size_t)(n * hw));
    random_blobs(masks, n, h, w);
    for (int64_t k = 0; k < n * hw; k++) {
        uint32_t q = rnd_u32() % 40000 + (masks[k] ? 20000 : 0);
        maps[k] = 1.0f + (float)q * 0x1p-23f;
    }
    compare_with_reference("one bucket", maps, masks, n, h, w, 0.3, 0);
    free(maps);
    free(masks);
}

/* 400 x 7 ramp arange(2800)/2800, defect = column 3. Per row the curve goes
 * right 3/2400, up 1/400, right 3/2400; the limit 1/3 falls after 2 normal
 * pixels of row 133, so area = 3 * 133^2 / 960000 + 266 / 960000 and
 * AU-PRO = 53333 / 320000 = 0.1666656..., i.e. 1/6 up to the staircase. */
static void test_ramp_au_pro(void)
{
    float maps[2800];
    uint8_t masks[2800];
    for (int k = 0; k < 2800; k++) {
        maps[k] = (float)k / 2800.0f;
        masks[k] = (k % 7) == 3;
    }
    double pro;
    CU_ASSERT_EQUAL_FATAL(ddad_metrics_au_pro(maps, masks, 1, 400, 7, 1.0 / 3.0, &pro), DDAD_OK);
    ASSERT_NEAR("ramp AU-PRO exact", pro, 53333.0 / 320000.0, 1e-12);
    ASSERT_NEAR("ramp AU-PRO ~ 1/6", pro, 1.0 / 6.0, 2e-6);
    ref_t r;
    float score = maps[2799];
    uint8_t label = 1;
    CU_ASSERT_EQUAL_FATAL(python_reference(maps, masks, 1, 400, 7, &score, &label, 1.0 / 3.0, &r), 0);
    ASSERT_NEAR("ramp AU-PRO vs reference", pro, r.au_pro, 1e-12);
}

/* Perfect, inverted and constant maps over 4 images of 8 x 8. */
static void test_perfect_inverted_constant(void)
{
    float maps[4 * 64], inv[4 * 64], cst[4 * 64];
    uint8_t masks[4 * 64];
    int64_t pos = 0;
    for (int k = 0; k < 4 * 64; k++) {
        int y = (k % 64) / 8, x = k % 8;
        masks[k] = (k / 64) % 2 == 0 && y >= 2 && y < 5 && x >= 3 && x < 6;
        pos += masks[k];
        maps[k] = masks[k] ? 2.0f + (float)(k % 5) : (float)(k % 7) * 0.1f;
        inv[k] = -maps[k];
        cst[k] = 0.25f;
    }
    ddad_pixel_source_t src;
    ddad_pixel_arrays_t arr;
    ddad_pixel_metrics_t m;
    ddad_pixel_source_from_arrays(&src, &arr, maps, masks, 4, 8, 8);
    CU_ASSERT_EQUAL_FATAL(ddad_metrics_pixel_eval(&src, DDAD_METRICS_ALL, 0.3, NULL, &m), DDAD_OK);
    ASSERT_NEAR("perfect AUROC", m.auroc, 1.0, 0.0);
    ASSERT_NEAR("perfect AU-PRO", m.au_pro, 1.0, 1e-12);
    ASSERT_NEAR("perfect F1", m.f1_max, 1.0, 0.0);
    ASSERT_NEAR("perfect F1 threshold", m.f1_threshold, 2.0, 0.0);
    CU_ASSERT_EQUAL(m.num_regions, 2);
    ddad_pixel_source_from_arrays(&src, &arr, inv, masks, 4, 8, 8);
    CU_ASSERT_EQUAL_FATAL(ddad_metrics_pixel_eval(&src, DDAD_METRICS_ALL, 0.3, NULL, &m), DDAD_OK);
    ASSERT_NEAR("inverted AUROC", m.auroc, 0.0, 0.0);
    ASSERT_NEAR("inverted AU-PRO", m.au_pro, 0.0, 0.0);
    ddad_pixel_source_from_arrays(&src, &arr, cst, masks, 4, 8, 8);
    CU_ASSERT_EQUAL_FATAL(ddad_metrics_pixel_eval(&src, DDAD_METRICS_ALL, 0.3, NULL, &m), DDAD_OK);
    ASSERT_NEAR("constant AUROC", m.auroc, 0.5, 0.0);
    ASSERT_NEAR("constant AU-PRO", m.au_pro, 0.15, 1e-15); /* line (0,0)-(1,1) up to 0.3, / 0.3 */
    ASSERT_NEAR("constant F1", m.f1_max, 2.0 * pos / (2.0 * pos + (256 - pos)), 1e-15);
}

static void test_undefined_cases(void)
{
    float maps[2 * 16];
    uint8_t zeros[2 * 16] = {0}, ones[2 * 16];
    for (int k = 0; k < 32; k++) {
        maps[k] = (float)k;
        ones[k] = 1;
    }
    ddad_pixel_source_t src;
    ddad_pixel_arrays_t arr;
    ddad_pixel_metrics_t m;
    ddad_pixel_source_from_arrays(&src, &arr, maps, zeros, 2, 4, 4);
    CU_ASSERT_EQUAL(ddad_metrics_pixel_eval(&src, DDAD_METRICS_ALL, 0.3, NULL, &m), DDAD_OK);
    CU_ASSERT(!m.defined);
    CU_ASSERT(isnan(m.auroc) && isnan(m.au_pro) && isnan(m.f1_max));
    CU_ASSERT_PTR_NOT_NULL(strstr(m.note, "no anomalous pixel"));
    double v = 0;
    CU_ASSERT_EQUAL(ddad_metrics_pixel_auroc(maps, zeros, 2, 4, 4, &v), DDAD_STATUS_DATA);
    CU_ASSERT(isnan(v));
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "no anomalous pixel"));
    CU_ASSERT_EQUAL(ddad_metrics_au_pro(maps, ones, 2, 4, 4, 0.3, &v), DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "no normal pixel"));

    float scores[3] = {0.1f, 0.5f, 0.2f};
    uint8_t bad[3] = {1, 1, 1}, good[3] = {0, 0, 0};
    ddad_image_metrics_t im;
    CU_ASSERT_EQUAL(ddad_metrics_image_eval(scores, bad, 3, &im), DDAD_OK);
    CU_ASSERT(!im.defined && isnan(im.auroc));
    CU_ASSERT_PTR_NOT_NULL(strstr(im.note, "no good image"));
    ASSERT_NEAR("all-defective image F1", im.f1_max, 1.0, 0.0);
    CU_ASSERT_EQUAL(ddad_metrics_auroc(scores, bad, 3, &v), DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "no negative label"));
    CU_ASSERT_EQUAL(ddad_metrics_auroc(scores, good, 3, &v), DDAD_STATUS_DATA);
    CU_ASSERT_EQUAL(ddad_metrics_image_eval(scores, good, 3, &im), DDAD_OK);
    CU_ASSERT(isnan(im.f1_max));
}

static void test_non_finite(void)
{
    float maps[3 * 20];
    uint8_t masks[3 * 20] = {0};
    for (int k = 0; k < 60; k++)
        maps[k] = (float)k;
    masks[5] = 1;
    maps[20 + 2 * 5 + 3] = NAN; /* image 1, y 2, x 3 of a 4 x 5 map */
    double v;
    CU_ASSERT_EQUAL(ddad_metrics_pixel_auroc(maps, masks, 3, 4, 5, &v), DDAD_STATUS_NUMERIC);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "map 1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "(y=2, x=3)"));
    maps[20 + 2 * 5 + 3] = 0.0f;
    maps[59] = -INFINITY;
    CU_ASSERT_EQUAL(ddad_metrics_au_pro(maps, masks, 3, 4, 5, 0.3, &v), DDAD_STATUS_NUMERIC);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "map 2"));
    float scores[2] = {1.0f, INFINITY};
    uint8_t labels[2] = {0, 1};
    CU_ASSERT_EQUAL(ddad_metrics_auroc(scores, labels, 2, &v), DDAD_STATUS_NUMERIC);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "image score 1"));
}

static void test_bad_arguments(void)
{
    float maps[4] = {0, 1, 2, 3};
    uint8_t masks[4] = {0, 1, 0, 0};
    double v;
    CU_ASSERT_EQUAL(ddad_metrics_au_pro(maps, masks, 1, 2, 2, 0.0, &v), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_metrics_au_pro(maps, masks, 1, 2, 2, 1.5, &v), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_metrics_pixel_auroc(maps, masks, 1, 0, 2, &v), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_metrics_pixel_auroc(maps, masks, 1, 2, 2, &v), DDAD_OK);
    ASSERT_NEAR("2x2 AUROC", v, 1.0 / 3.0, 1e-15);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"float key order", test_float_key_order},
                                        {"label8 hand case", test_label8_hand},
                                        {"label8 vs scipy", test_label8_vs_scipy},
                                        {"random continuous vs sklearn/reference", test_random_continuous},
                                        {"random ties vs sklearn/reference", test_random_ties},
                                        {"one key bucket vs sklearn/reference", test_random_one_bucket},
                                        {"ramp AU-PRO = 1/6", test_ramp_au_pro},
                                        {"perfect, inverted, constant", test_perfect_inverted_constant},
                                        {"undefined metrics", test_undefined_cases},
                                        {"NaN and Inf", test_non_finite},
                                        {"bad arguments", test_bad_arguments},
                                        {0}};
    if (!ddad_test_python_has("numpy,scipy,sklearn")) {
        fprintf(stderr, "test_metrics: %s cannot import numpy, scipy and sklearn\n", ddad_test_python());
        return 1;
    }
    return ddad_test_main("metrics", tests);
}
