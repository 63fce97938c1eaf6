/* tests/test_curves.c - core/curves: the exact image ROC and the sampled pixel
 * ROC against sklearn.metrics.roc_curve, the sampled PRO curve integrated to
 * AU-PRO (and the ROC to AUROC) against core/metrics, and hand cases whose
 * points are known (levels, clamping, PRO as a mean over regions, FPR over
 * every normal pixel of every image). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curves.h"
#include "metrics.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd_u32(void) { return ddad_test_xorshift(&rng_state); }

#define ASSERT_NEAR(what, a, b, tol)                                                                          \
    do {                                                                                                      \
        double a_ = (a), b_ = (b);                                                                            \
        if (!(fabs(a_ - b_) <= (tol)))                                                                        \
            fprintf(stderr, "\n  %s: got %.12g, expected %.12g (tol %.1g)\n", (what), a_, b_, (double)(tol)); \
        CU_ASSERT(fabs(a_ - b_) <= (tol));                                                                    \
    } while (0)

/* sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False) of n
 * (score, label) pairs, without its first point (the +inf threshold, always
 * (0, 0)); malloc'ed fpr and tpr (caller frees), count in *m. 0 on success. */
static int sklearn_roc(const float *scores, const uint8_t *labels, size_t n, double **fpr, double **tpr, size_t *m)
{
    char *dir = ddad_test_mkdtemp("curves");
    char in[512], out[512];
    int rc = -1;
    *fpr = *tpr = NULL;
    *m = 0;
    if (!dir)
        return -1;
    snprintf(in, sizeof in, "%s/scores.txt", dir);
    snprintf(out, sizeof out, "%s/roc.txt", dir);
    FILE *f = fopen(in, "w");
    if (!f)
        goto done;
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%.9g %d\n", (double)scores[i], labels[i] != 0);
    fclose(f);
    if (ddad_test_system("'%s' -c \"import numpy as np; from sklearn.metrics import roc_curve; "
                         "d = np.loadtxt('%s', ndmin=2); "
                         "f, t, _ = roc_curve(d[:, 1].astype(int), d[:, 0].astype(np.float32), drop_intermediate=False); "
                         "open('%s', 'w').write(''.join('%%r %%r\\n' %% (float(a), float(b)) for a, b in zip(f[1:], t[1:])))\"",
                         ddad_test_python(), in, out) != 0)
        goto done;
    if (!(f = fopen(out, "r")))
        goto done;
    size_t cap = n + 1;
    *fpr = malloc(cap * sizeof **fpr);
    *tpr = malloc(cap * sizeof **tpr);
    double a, b;
    while (*fpr && *tpr && *m < cap && fscanf(f, "%lf %lf", &a, &b) == 2) {
        (*fpr)[*m] = a;
        (*tpr)[*m] = b;
        (*m)++;
    }
    fclose(f);
    rc = *m > 0 ? 0 : -1;
done:
    ddad_test_rmtree(dir);
    free(dir);
    return rc;
}

/* Trapezoid area under the curve up to x = limit (linear interpolation at
 * the limit, as MVTec's trapezoid()), divided by limit. */
static double area_to(const ddad_curve_t *c, double limit)
{
    double area = 0.0;
    for (size_t k = 1; k < c->n; k++) {
        double x0 = c->x[k - 1], y0 = c->y[k - 1], x1 = c->x[k], y1 = c->y[k];
        if (x0 >= limit)
            break;
        if (x1 > limit) {
            y1 = y0 + (y1 - y0) * (limit - x0) / (x1 - x0);
            x1 = limit;
        }
        area += 0.5 * (y0 + y1) * (x1 - x0);
    }
    return area / limit;
}

/* Random masks: up to three rectangles on every other image (regions may
 * touch and merge, which the 8-connected labelling must handle). */
static void random_rects(uint8_t *masks, int64_t n, int64_t h, int64_t w)
{
    memset(masks, 0, (size_t)(n * h * w));
    for (int64_t i = 0; i < n; i += 2)
        for (int r = 0, nr = 1 + (int)(rnd_u32() % 3); r < nr; r++) {
            int64_t y0 = rnd_u32() % h, x0 = rnd_u32() % w, dy = 1 + rnd_u32() % 5, dx = 1 + rnd_u32() % 6;
            for (int64_t y = y0; y < y0 + dy && y < h; y++)
                for (int64_t x = x0; x < x0 + dx && x < w; x++)
                    masks[(i * h + y) * w + x] = 1;
        }
}

/* ---- image ROC -------------------------------------------------------- */

static void test_image_roc_hand(void)
{
    /* scores 0.9 (bad), 0.8 (good), 0.8 (bad), 0.3 (good): the tie at 0.8
     * is one point */
    const float s[4] = {0.8f, 0.3f, 0.9f, 0.8f};
    const uint8_t y[4] = {0, 0, 1, 1};
    const double fx[] = {0, 0, 0.5, 1}, fy[] = {0, 0.5, 1, 1};
    ddad_curve_t c;
    CU_ASSERT_EQUAL_FATAL(ddad_curves_image_roc(s, y, 4, &c), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(c.n, 4);
    for (size_t k = 0; k < 4; k++) {
        CU_ASSERT_DOUBLE_EQUAL(c.x[k], fx[k], 1e-15);
        CU_ASSERT_DOUBLE_EQUAL(c.y[k], fy[k], 1e-15);
    }
    ddad_curve_free(&c);
    CU_ASSERT_PTR_NULL(c.x);

    /* -0 and +0 tie; no defective image: TPR stays 0 */
    const float z[3] = {-0.0f, 0.0f, 1.0f};
    const uint8_t g[3] = {0, 0, 0};
    CU_ASSERT_EQUAL_FATAL(ddad_curves_image_roc(z, g, 3, &c), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(c.n, 3);
    CU_ASSERT_DOUBLE_EQUAL(c.x[1], 1.0 / 3.0, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(c.x[2], 1.0, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(c.y[2], 0.0, 0.0);
    ddad_curve_free(&c);

    /* no score: only (0, 0) */
    CU_ASSERT_EQUAL_FATAL(ddad_curves_image_roc(NULL, NULL, 0, &c), DDAD_OK);
    CU_ASSERT_EQUAL(c.n, 1);
    ddad_curve_free(&c);
}

static void test_image_roc_sklearn(void)
{
    enum { N = 300 };
    float s[N];
    uint8_t y[N];
    for (int i = 0; i < N; i++) {
        y[i] = rnd_u32() % 3 == 0;
        /* coarse values: many ties, some shared by both classes */
        s[i] = (float)(rnd_u32() % 60) * 0.05f + (y[i] ? 0.7f : 0.0f) - 1.0f;
    }
    double *fpr, *tpr;
    size_t m;
    CU_ASSERT_EQUAL_FATAL(sklearn_roc(s, y, N, &fpr, &tpr, &m), 0);
    ddad_curve_t c;
    CU_ASSERT_EQUAL_FATAL(ddad_curves_image_roc(s, y, N, &c), DDAD_OK);
    fprintf(stderr, "\n  image ROC: %zu points, sklearn %zu + (0, 0)", c.n, m);
    CU_ASSERT_EQUAL_FATAL(c.n, m + 1);
    CU_ASSERT(c.n < N); /* the ties were merged */
    CU_ASSERT_EQUAL(c.x[0], 0.0);
    CU_ASSERT_EQUAL(c.y[0], 0.0);
    for (size_t k = 0; k < m; k++) {
        ASSERT_NEAR("image ROC fpr", c.x[k + 1], fpr[k], 1e-12);
        ASSERT_NEAR("image ROC tpr", c.y[k + 1], tpr[k], 1e-12);
    }
    ddad_curve_free(&c);
    free(fpr);
    free(tpr);
}

/* ---- pixel curves ----------------------------------------------------- */

/* Integer scores 0..K-1 (each in a level of its own when K <= levels + 1)
 * over random maps and rectangles: the sampled pixel ROC without its
 * repeated points is sklearn's exact ROC; the sampled curves integrate to
 * core/metrics' pixel AUROC and AU-PRO. */
static void test_pixel_curves_vs_oracles(void)
{
    enum { N = 4, H = 24, W = 20, K = 40, L = 1024 };
    const int64_t HW = H * W;
    float *maps = malloc(N * HW * sizeof *maps);
    uint8_t *masks = malloc(N * HW);
    CU_ASSERT_PTR_NOT_NULL_FATAL(maps);
    CU_ASSERT_PTR_NOT_NULL_FATAL(masks);
    random_rects(masks, N, H, W);
    for (int64_t k = 0; k < N * HW; k++)
        maps[k] = (float)(rnd_u32() % (K / 2) + (masks[k] ? K / 4 : 0));
    maps[0] = 0.0f;
    maps[1] = (float)(K - 1);

    ddad_pixel_source_t src;
    ddad_pixel_arrays_t arr;
    ddad_pixel_source_from_arrays(&src, &arr, maps, masks, N, H, W);
    ddad_pixel_curves_t pc;
    float imax[N];
    CU_ASSERT_EQUAL_FATAL(ddad_curves_pixel(&src, L, imax, &pc), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(pc.roc.n, L + 1);
    CU_ASSERT_EQUAL_FATAL(pc.pro.n, L + 1);
    CU_ASSERT_EQUAL(pc.levels, L);
    CU_ASSERT_EQUAL(pc.lo, 0.0f);
    CU_ASSERT_EQUAL(pc.hi, (float)(K - 1));
    CU_ASSERT_EQUAL(pc.num_normal + pc.num_anomalous, N * HW);
    for (int i = 0; i < N; i++) {
        float mx = maps[i * HW];
        for (int64_t k = 1; k < HW; k++)
            mx = maps[i * HW + k] > mx ? maps[i * HW + k] : mx;
        CU_ASSERT_EQUAL(imax[i], mx);
    }
    /* both curves run from (0, 0) to (1, 1) and never go down */
    CU_ASSERT_EQUAL(pc.roc.x[0], 0.0);
    CU_ASSERT_EQUAL(pc.pro.y[0], 0.0);
    ASSERT_NEAR("ROC end", pc.roc.y[L], 1.0, 1e-15);
    ASSERT_NEAR("PRO end fpr", pc.pro.x[L], 1.0, 1e-15);
    ASSERT_NEAR("PRO end", pc.pro.y[L], 1.0, 1e-12);
    for (int k = 1; k <= L; k++)
        CU_ASSERT(pc.roc.x[k] >= pc.roc.x[k - 1] && pc.roc.y[k] >= pc.roc.y[k - 1] &&
                  pc.pro.y[k] >= pc.pro.y[k - 1] - 1e-12 && pc.pro.x[k] == pc.roc.x[k]);

    /* sklearn's ROC over every pixel */
    double *fpr, *tpr;
    size_t m;
    CU_ASSERT_EQUAL_FATAL(sklearn_roc(maps, masks, (size_t)(N * HW), &fpr, &tpr, &m), 0);
    size_t d = 0, bad = 0;
    for (int k = 1; k <= L; k++) {
        if (pc.roc.x[k] == pc.roc.x[k - 1] && pc.roc.y[k] == pc.roc.y[k - 1])
            continue; /* an empty level repeats the point */
        if (d >= m || fabs(pc.roc.x[k] - fpr[d]) > 1e-12 || fabs(pc.roc.y[k] - tpr[d]) > 1e-12)
            bad++;
        d++;
    }
    fprintf(stderr, "\n  pixel ROC: %zu distinct sampled points, sklearn %zu, %zu differ", d, m, bad);
    CU_ASSERT_EQUAL(d, m);
    CU_ASSERT_EQUAL(bad, 0);
    free(fpr);
    free(tpr);

    /* areas against the exact metrics */
    ddad_pixel_metrics_t pm;
    CU_ASSERT_EQUAL_FATAL(ddad_metrics_pixel_eval(&src, DDAD_METRICS_ALL, 0.3, NULL, &pm), DDAD_OK);
    CU_ASSERT_FATAL(pm.defined);
    CU_ASSERT_EQUAL(pc.num_regions, pm.num_regions);
    CU_ASSERT_EQUAL(pc.num_anomalous, pm.num_anomalous);
    CU_ASSERT(pc.num_regions >= 2);
    ASSERT_NEAR("pixel AUROC from the sampled ROC", area_to(&pc.roc, 1.0), pm.auroc, 1e-12);
    const double limits[] = {0.02, 0.3, 0.77, 1.0};
    for (size_t j = 0; j < sizeof limits / sizeof limits[0]; j++) {
        double au_pro;
        CU_ASSERT_EQUAL_FATAL(ddad_metrics_au_pro(maps, masks, N, H, W, limits[j], &au_pro), DDAD_OK);
        fprintf(stderr, "\n  AU-PRO up to %.2f: sampled curve %.10f, metrics %.10f", limits[j],
                area_to(&pc.pro, limits[j]), au_pro);
        ASSERT_NEAR("AU-PRO from the sampled PRO curve", area_to(&pc.pro, limits[j]), au_pro, 1e-9);
    }
    ddad_pixel_curves_free(&pc);
    CU_ASSERT_PTR_NULL(pc.roc.x);
    free(maps);
    free(masks);
}

/* Two 4 x 4 maps, 10 levels over [0, 10]. Image 0 holds region A (area 2,
 * scores 10 and 1) and region B (area 4, scores 10, 1, 1, 1); its normal
 * pixels score 0 except one at 5. Image 1 is all normal: zeros and one 10.
 * Normal pixels: 10 + 16 = 26. */
static void test_pixel_curves_hand(void)
{
    float maps[2][16] = {{10, 1, 0, 0,
                          0, 0, 0, 5,
                          0, 0, 10, 1,
                          0, 0, 1, 1},
                         {0, 0, 0, 0,
                          0, 0, 0, 0,
                          0, 10, 0, 0,
                          0, 0, 0, 0}};
    uint8_t masks[2][16] = {{1, 1, 0, 0,
                             0, 0, 0, 0,
                             0, 0, 1, 1,
                             0, 0, 1, 1}};
    ddad_pixel_source_t src;
    ddad_pixel_arrays_t arr;
    ddad_pixel_source_from_arrays(&src, &arr, &maps[0][0], &masks[0][0], 2, 4, 4);
    ddad_pixel_curves_t pc;
    CU_ASSERT_EQUAL_FATAL(ddad_curves_pixel(&src, 10, NULL, &pc), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(pc.pro.n, 11);
    CU_ASSERT_EQUAL(pc.num_regions, 2);
    CU_ASSERT_EQUAL(pc.num_normal, 26);
    CU_ASSERT_EQUAL(pc.num_anomalous, 6);
    /* point k counts levels >= 10 - k; score 10 is level 10, clamped to 9 */
    const double fx[11] = {0, 1.0 / 26, 1.0 / 26, 1.0 / 26, 1.0 / 26, 2.0 / 26, 2.0 / 26, 2.0 / 26, 2.0 / 26,
                           2.0 / 26, 1};
    const double tp[11] = {0, 2.0 / 6, 2.0 / 6, 2.0 / 6, 2.0 / 6, 2.0 / 6, 2.0 / 6, 2.0 / 6, 2.0 / 6, 1, 1};
    /* PRO: mean of the regions' fractions, (1/2 + 1/4) / 2 at the top */
    const double pro[11] = {0, 0.375, 0.375, 0.375, 0.375, 0.375, 0.375, 0.375, 0.375, 1, 1};
    for (int k = 0; k <= 10; k++) {
        ASSERT_NEAR("hand FPR", pc.roc.x[k], fx[k], 1e-15);
        ASSERT_NEAR("hand TPR", pc.roc.y[k], tp[k], 1e-15);
        ASSERT_NEAR("hand PRO", pc.pro.y[k], pro[k], 1e-15);
    }
    ddad_pixel_curves_free(&pc);

    /* a constant map: one level holds everything (span taken as 1) */
    float flat[4] = {2, 2, 2, 2};
    uint8_t fm[4] = {0, 1, 0, 0};
    ddad_pixel_source_from_arrays(&src, &arr, flat, fm, 1, 2, 2);
    CU_ASSERT_EQUAL_FATAL(ddad_curves_pixel(&src, 4, NULL, &pc), DDAD_OK);
    CU_ASSERT_EQUAL(pc.lo, 2.0f);
    CU_ASSERT_EQUAL(pc.hi, 2.0f);
    for (int k = 1; k < 4; k++)
        CU_ASSERT(pc.roc.x[k] == 0.0 && pc.roc.y[k] == 0.0 && pc.pro.y[k] == 0.0);
    CU_ASSERT(pc.roc.x[4] == 1.0 && pc.roc.y[4] == 1.0 && pc.pro.y[4] == 1.0);
    ddad_pixel_curves_free(&pc);
}

static void test_errors(void)
{
    float maps[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    uint8_t masks[8] = {0, 0, 1, 0, 0, 0, 0, 0};
    ddad_pixel_source_t src;
    ddad_pixel_arrays_t arr;
    ddad_pixel_curves_t pc;
    ddad_pixel_source_from_arrays(&src, &arr, maps, masks, 2, 2, 2);
    CU_ASSERT_EQUAL(ddad_curves_pixel(&src, 0, NULL, &pc), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "levels"));
    maps[6] = NAN;
    CU_ASSERT_EQUAL(ddad_curves_pixel(&src, 16, NULL, &pc), DDAD_STATUS_NUMERIC);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "anomaly map 1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "(y=1, x=0)"));
    CU_ASSERT_PTR_NULL(pc.roc.x);
    src.h = 0;
    CU_ASSERT_EQUAL(ddad_curves_pixel(&src, 16, NULL, &pc), DDAD_STATUS_USAGE);
    ddad_curve_t c;
    const float s[3] = {1, INFINITY, 0};
    const uint8_t y[3] = {1, 0, 0};
    CU_ASSERT_EQUAL(ddad_curves_image_roc(s, y, 3, &c), DDAD_STATUS_NUMERIC);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "image score 1"));
    CU_ASSERT_PTR_NULL(c.x);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"image ROC, hand cases", test_image_roc_hand},
                                        {"image ROC vs sklearn roc_curve", test_image_roc_sklearn},
                                        {"pixel ROC vs sklearn, PRO vs AU-PRO", test_pixel_curves_vs_oracles},
                                        {"pixel curves, hand case", test_pixel_curves_hand},
                                        {"errors", test_errors},
                                        {0}};
    if (!ddad_test_python_has("numpy,sklearn")) {
        fprintf(stderr, "test_curves: %s cannot import numpy and sklearn (scripts/install-deps.sh installs them)\n",
                ddad_test_python());
        return 1;
    }
    return ddad_test_main("curves", tests);
}
