/* tests/test_nn_reference.c - core/report/reference and ddad_reference_use: the statistics of held-out
 * good images' maps behind score.normalize good. Checked by hand on small
 * maps: the per-pixel mean, the global std, the per-pixel std shrunk toward
 * it (score.good_std pixel), normalisation by either, the file round trip,
 * and the clear errors: a file without per-pixel stds (as version 1 wrote)
 * under good_std pixel, a newer format, a non-positive std. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5io.h"
#include "nn/model.h"
#include "report/reference.h"
#include "testutil.h"

enum { T = 2, H = 2, W = 3, HW = H * W, N = 3 };

/* Image i's per-timestep maps (T, H, W) for each branch; their t-average
 * is avg(i, p) below. */
static float step_value(int branch, int i, int k, int p)
{
    return (float)((branch + 1) * (0.5 * i * i + 0.25 * p + (k ? 0.125 : -0.125) * (i + 1) + (p == 4 ? 3.0 * i : 0)));
}

static double avg(int branch, int i, int p) { return 0.5 * (step_value(branch, i, 0, p) + step_value(branch, i, 1, p)); }

static void build(ddad_score_reference_t *ref)
{
    ddad_reference_acc_t *acc = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_reference_acc_create(&acc, T, H, W, true), DDAD_OK);
    float kl[T * HW], ft[T * HW];
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < T; k++)
            for (int p = 0; p < HW; p++) {
                kl[k * HW + p] = step_value(0, i, k, p);
                ft[k * HW + p] = step_value(1, i, k, p);
            }
        ddad_reference_acc_add(acc, kl, ft);
    }
    CU_ASSERT_EQUAL_FATAL(ddad_reference_acc_finish(acc, ref), DDAD_OK);
}

/* The expected statistics of one branch, computed directly. */
static void expected(int branch, double mean[HW], double *sd, double sd_map[HW])
{
    double ss = 0, ss_p[HW];
    for (int p = 0; p < HW; p++) {
        mean[p] = 0;
        for (int i = 0; i < N; i++)
            mean[p] += avg(branch, i, p) / N;
        ss_p[p] = 0;
        for (int i = 0; i < N; i++)
            ss_p[p] += (avg(branch, i, p) - mean[p]) * (avg(branch, i, p) - mean[p]);
        ss += ss_p[p];
    }
    *sd = sqrt(ss / (N * HW - 1.0));
    const double k = DDAD_REFERENCE_SHRINK_IMAGES;
    for (int p = 0; p < HW; p++)
        sd_map[p] = sqrt((ss_p[p] + k * *sd * *sd) / (N + k));
}

static void test_statistics_and_apply(void)
{
    ddad_score_reference_t ref;
    build(&ref);
    CU_ASSERT_EQUAL(ref.n_images, N);
    for (int b = 0; b < 2; b++) {
        double mean[HW], sd, sd_map[HW];
        expected(b, mean, &sd, sd_map);
        const float *got_mean = b ? ref.feat_mean : ref.pixel_mean, *got_map = b ? ref.feat_std_map : ref.pixel_std_map;
        CU_ASSERT_DOUBLE_EQUAL(b ? ref.feat_std : ref.pixel_std, sd, 1e-9 * sd);
        for (int p = 0; p < HW; p++) {
            CU_ASSERT_DOUBLE_EQUAL(got_mean[p], mean[p], 1e-5 * (1 + fabs(mean[p])));
            CU_ASSERT_DOUBLE_EQUAL(got_map[p], sd_map[p], 1e-5 * sd_map[p]);
        }
    }
    /* pixel 4 varies most between images: its per-pixel std is above the
     * global one, and the flat pixels' below it, yet above zero */
    CU_ASSERT(ref.pixel_std_map[4] > ref.pixel_std);
    CU_ASSERT(ref.pixel_std_map[0] < ref.pixel_std && ref.pixel_std_map[0] > 0);

    float px[HW], ft[HW], px2[HW];
    for (int p = 0; p < HW; p++)
        px[p] = px2[p] = ft[p] = 10.0f + (float)p;
    ddad_reference_apply(&ref, false, px, ft);
    ddad_reference_apply(&ref, true, px2, NULL);
    for (int p = 0; p < HW; p++) {
        CU_ASSERT_DOUBLE_EQUAL(px[p], (10.0 + p - ref.pixel_mean[p]) / ref.pixel_std, 1e-5);
        CU_ASSERT_DOUBLE_EQUAL(ft[p], (10.0 + p - ref.feat_mean[p]) / ref.feat_std, 1e-5);
        CU_ASSERT_DOUBLE_EQUAL(px2[p], (10.0 + p - ref.pixel_mean[p]) / ref.pixel_std_map[p], 1e-5);
    }
    ddad_reference_free(&ref);
}

static void assert_same(const float *a, const float *b)
{
    CU_ASSERT_FATAL(a && b);
    CU_ASSERT_EQUAL(memcmp(a, b, HW * sizeof(float)), 0);
}

/* A model struct that ddad_reference_use needs: its config only. */
static void model_for(ddad_model_t *m, ddad_score_good_std_t good_std)
{
    memset(m, 0, sizeof *m);
    ddad_config_defaults(&m->cfg);
    m->cfg.data.image_size = 2; /* square_reference's maps */
    m->cfg.score.normalize = DDAD_SCORE_NORMALIZE_GOOD;
    m->cfg.score.good_std = good_std;
}

static void test_file_round_trip_and_errors(void)
{
    char *dir = ddad_test_mkdtemp("reference");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char path[4200];
    snprintf(path, sizeof path, "%s/reference.h5", dir);
    ddad_score_reference_t ref, back;
    build(&ref);
    CU_ASSERT_EQUAL_FATAL(ddad_reference_save(&ref, path, "1,3", 4, "test"), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_reference_load(&back, path, H, W), DDAD_OK);
    assert_same(back.pixel_mean, ref.pixel_mean);
    assert_same(back.feat_mean, ref.feat_mean);
    assert_same(back.pixel_std_map, ref.pixel_std_map);
    assert_same(back.feat_std_map, ref.feat_std_map);
    CU_ASSERT_EQUAL(back.pixel_std, ref.pixel_std);
    CU_ASSERT_EQUAL(back.n_images, N);
    ddad_reference_free(&back);

    /* a file without the per-pixel maps, as format version 1 wrote it */
    float *pmap = ref.pixel_std_map, *fmap = ref.feat_std_map;
    ref.pixel_std_map = ref.feat_std_map = NULL;
    char old[4200];
    snprintf(old, sizeof old, "%s/old.h5", dir);
    CU_ASSERT_EQUAL_FATAL(ddad_reference_save(&ref, old, "1,3", 4, "test"), DDAD_OK);
    ref.pixel_std_map = pmap;
    ref.feat_std_map = fmap;
    CU_ASSERT_EQUAL_FATAL(ddad_reference_load(&back, old, H, W), DDAD_OK);
    CU_ASSERT_PTR_NULL(back.pixel_std_map);
    ddad_reference_free(&back);

    ddad_test_rmtree(dir);
    free(dir);
    ddad_reference_free(&ref);
}

/* Square maps, so that ddad_reference_use can load them at image_size. */
static void square_reference(ddad_score_reference_t *ref, bool with_maps)
{
    memset(ref, 0, sizeof *ref);
    ref->h = ref->w = 2;
    ref->n_images = 4;
    ref->pixel_std = 2.0;
    ref->pixel_mean = calloc(4, sizeof(float));
    if (with_maps) {
        ref->pixel_std_map = malloc(4 * sizeof(float));
        for (int p = 0; p < 4; p++)
            ref->pixel_std_map[p] = 1.0f + (float)p;
    }
}

static void test_use_checks_per_pixel_maps(void)
{
    char *dir = ddad_test_mkdtemp("reference_use");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char path[4200];
    snprintf(path, sizeof path, "%s/reference.h5", dir);
    ddad_score_reference_t ref, used;
    ddad_model_t m;
    memset(&used, 0, sizeof used);

    /* without per-pixel maps: fine for global, a clear error for pixel */
    square_reference(&ref, false);
    CU_ASSERT_EQUAL_FATAL(ddad_reference_save(&ref, path, "1", 1, "test"), DDAD_OK);
    model_for(&m, DDAD_SCORE_GOOD_STD_GLOBAL);
    CU_ASSERT_EQUAL(ddad_reference_use(&m, &used, dir, "bottle"), DDAD_OK);
    CU_ASSERT_PTR_EQUAL(m.reference, &used);
    model_for(&m, DDAD_SCORE_GOOD_STD_PIXEL);
    CU_ASSERT_EQUAL(ddad_reference_use(&m, &used, dir, "bottle"), DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NULL(m.reference);
    CU_ASSERT(strstr(ddad_last_error(), "rerun ddad-eval") != NULL);
    ddad_reference_free(&ref);

    /* with them: pixel works */
    square_reference(&ref, true);
    CU_ASSERT_EQUAL_FATAL(ddad_reference_save(&ref, path, "1", 1, "test"), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_reference_use(&m, &used, dir, "bottle"), DDAD_OK);
    CU_ASSERT_PTR_NOT_NULL(used.pixel_std_map);

    /* a zero per-pixel std is refused */
    ref.pixel_std_map[2] = 0.0f;
    CU_ASSERT_EQUAL_FATAL(ddad_reference_save(&ref, path, "1", 1, "test"), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_reference_use(&m, &used, dir, "bottle"), DDAD_STATUS_DATA);
    CU_ASSERT(strstr(ddad_last_error(), "not positive") != NULL);

    /* a newer format is refused, not misread */
    ref.pixel_std_map[2] = 1.0f;
    CU_ASSERT_EQUAL_FATAL(ddad_reference_save(&ref, path, "1", 1, "test"), DDAD_OK);
    ddad_h5_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, path, DDAD_H5_RDWR), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_set_attr_i64(f, "/", "format_version", DDAD_REFERENCE_VERSION + 1), DDAD_OK);
    ddad_h5_close(f);
    CU_ASSERT_EQUAL(ddad_reference_use(&m, &used, dir, "bottle"), DDAD_STATUS_DATA);
    CU_ASSERT(strstr(ddad_last_error(), "newer") != NULL);

    ddad_reference_free(&used);
    ddad_reference_free(&ref);
    ddad_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"statistics, global and per-pixel std, apply", test_statistics_and_apply},
                                        {"file round trip", test_file_round_trip_and_errors},
                                        {"per-pixel maps required by good_std pixel", test_use_checks_per_pixel_maps},
                                        {NULL, NULL}};
    return ddad_test_main("nn_reference", tests);
}
