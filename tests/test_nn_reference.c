/* tests/test_nn_reference.c - core/report/reference and ddad_reference_use: the statistics of held-out
 * good images' maps behind score.normalize good. Checked by hand on small
 * maps: the per-pixel mean, the global std, the per-pixel std shrunk toward
 * it (score.good_std pixel), normalisation by either, the file round trip,
 * the per-timestep statistics of score.good_timesteps each and the map built
 * from them, and the clear errors: a file without per-pixel stds (as
 * version 1 wrote) under good_std pixel, one without per-timestep statistics
 * or of other timesteps under good_timesteps each, a newer format, a
 * non-positive std. */
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

/* Image i's map of one branch at pixel p: the t-average (k < 0) or
 * timestep k's map alone. */
static double value(int branch, int k, int i, int p) { return k < 0 ? avg(branch, i, p) : step_value(branch, i, k, p); }

/* The expected statistics of one branch's t-average (k < 0) or of timestep
 * k, computed directly. */
static void expected_of(int branch, int k, double mean[HW], double *sd, double sd_map[HW])
{
    double ss = 0, ss_p[HW];
    for (int p = 0; p < HW; p++) {
        mean[p] = 0;
        for (int i = 0; i < N; i++)
            mean[p] += value(branch, k, i, p) / N;
        ss_p[p] = 0;
        for (int i = 0; i < N; i++)
            ss_p[p] += (value(branch, k, i, p) - mean[p]) * (value(branch, k, i, p) - mean[p]);
        ss += ss_p[p];
    }
    *sd = sqrt(ss / (N * HW - 1.0));
    const double shrink = DDAD_REFERENCE_SHRINK_IMAGES;
    for (int p = 0; p < HW; p++)
        sd_map[p] = sqrt((ss_p[p] + shrink * *sd * *sd) / (N + shrink));
}

static void test_statistics_and_apply(void)
{
    ddad_score_reference_t ref;
    build(&ref);
    CU_ASSERT_EQUAL(ref.n_images, N);
    for (int b = 0; b < 2; b++) {
        double mean[HW], sd, sd_map[HW];
        expected_of(b, -1, mean, &sd, sd_map);
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

/* score.good_timesteps each: each timestep's own statistics, and the map
 * built from them; average: the t-averaged map normalised as apply does. */
static void test_per_timestep_statistics_and_map(void)
{
    ddad_score_reference_t ref;
    build(&ref);
    CU_ASSERT_EQUAL_FATAL(ref.n_t, T);
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < T; k++) {
            double mean[HW], sd, sd_map[HW];
            expected_of(b, k, mean, &sd, sd_map);
            const float *got_mean = (b ? ref.feat_mean_t : ref.pixel_mean_t) + k * HW;
            const float *got_map = (b ? ref.feat_std_map_t : ref.pixel_std_map_t) + k * HW;
            CU_ASSERT_DOUBLE_EQUAL((b ? ref.feat_std_t : ref.pixel_std_t)[k], sd, 1e-9 * sd);
            for (int p = 0; p < HW; p++) {
                CU_ASSERT_DOUBLE_EQUAL(got_mean[p], mean[p], 1e-5 * (1 + fabs(mean[p])));
                CU_ASSERT_DOUBLE_EQUAL(got_map[p], sd_map[p], 1e-5 * sd_map[p]);
            }
        }
    /* a test image: steps (T, H, W) per branch */
    float kl[T * HW], ft[T * HW];
    for (int k = 0; k < T; k++)
        for (int p = 0; p < HW; p++) {
            kl[k * HW + p] = 4.0f + (float)(p * (k + 1));
            ft[k * HW + p] = 1.0f - 0.5f * (float)p + (float)k;
        }
    const double alpha = 0.25;
    for (int per_pixel = 0; per_pixel < 2; per_pixel++) {
        ddad_score_good_std_t gs = per_pixel ? DDAD_SCORE_GOOD_STD_PIXEL : DDAD_SCORE_GOOD_STD_GLOBAL;
        float px[HW], fe[HW], map[HW], pa[HW], fa[HW], ma[HW];
        ddad_reference_score_map(&ref, gs, DDAD_SCORE_GOOD_TIMESTEPS_EACH, alpha, kl, ft, T, px, fe, map);
        ddad_reference_score_map(&ref, gs, DDAD_SCORE_GOOD_TIMESTEPS_AVERAGE, alpha, kl, ft, T, pa, fa, ma);
        for (int p = 0; p < HW; p++) {
            double zp = 0, zf = 0;
            for (int k = 0; k < T; k++) {
                const int q = k * HW + p;
                zp += (kl[q] - ref.pixel_mean_t[q]) / (per_pixel ? ref.pixel_std_map_t[q] : ref.pixel_std_t[k]) / T;
                zf += (ft[q] - ref.feat_mean_t[q]) / (per_pixel ? ref.feat_std_map_t[q] : ref.feat_std_t[k]) / T;
            }
            CU_ASSERT_DOUBLE_EQUAL(px[p], zp, 1e-5 * (1 + fabs(zp)));
            CU_ASSERT_DOUBLE_EQUAL(fe[p], zf, 1e-5 * (1 + fabs(zf)));
            CU_ASSERT_DOUBLE_EQUAL(map[p], alpha * zp + (1 - alpha) * zf, 1e-5 * (1 + fabs(zp) + fabs(zf)));
            /* average: the t-average through apply */
            double a = 0.5 * (kl[p] + kl[HW + p]), f = 0.5 * (ft[p] + ft[HW + p]);
            double za = (a - ref.pixel_mean[p]) / (per_pixel ? ref.pixel_std_map[p] : ref.pixel_std);
            double zb = (f - ref.feat_mean[p]) / (per_pixel ? ref.feat_std_map[p] : ref.feat_std);
            CU_ASSERT_DOUBLE_EQUAL(pa[p], za, 1e-5 * (1 + fabs(za)));
            CU_ASSERT_DOUBLE_EQUAL(ma[p], alpha * za + (1 - alpha) * zb, 1e-5 * (1 + fabs(za) + fabs(zb)));
        }
        /* the two differ: each timestep weighs the same, not by its raw scale */
        CU_ASSERT(fabs(px[5] - pa[5]) > 1e-3);
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
    CU_ASSERT_EQUAL_FATAL(back.n_t, T);
    CU_ASSERT_FATAL(back.pixel_mean_t && back.pixel_std_map_t && back.pixel_std_t && back.feat_mean_t &&
                    back.feat_std_map_t && back.feat_std_t);
    CU_ASSERT_EQUAL(memcmp(back.pixel_mean_t, ref.pixel_mean_t, T * HW * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(back.feat_std_map_t, ref.feat_std_map_t, T * HW * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(back.pixel_std_t, ref.pixel_std_t, T * sizeof(double)), 0);
    CU_ASSERT_EQUAL(memcmp(back.feat_std_t, ref.feat_std_t, T * sizeof(double)), 0);
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

    /* good_timesteps each: a file without per-timestep statistics (as
     * version 2 wrote it) and one of other timesteps are clear errors */
    ref.pixel_std_map[2] = 1.0f;
    CU_ASSERT_EQUAL_FATAL(ddad_reference_save(&ref, path, "1", 1, "test"), DDAD_OK);
    m.cfg.score.good_timesteps = DDAD_SCORE_GOOD_TIMESTEPS_EACH;
    CU_ASSERT_EQUAL(ddad_reference_use(&m, &used, dir, "bottle"), DDAD_STATUS_DATA);
    CU_ASSERT(strstr(ddad_last_error(), "no per-timestep statistics") != NULL);
    ref.n_t = 1;
    ref.pixel_mean_t = calloc(4, sizeof(float));
    ref.pixel_std_map_t = malloc(4 * sizeof(float));
    ref.pixel_std_t = malloc(sizeof(double));
    CU_ASSERT_FATAL(ref.pixel_mean_t && ref.pixel_std_map_t && ref.pixel_std_t);
    for (int p = 0; p < 4; p++)
        ref.pixel_std_map_t[p] = 0.5f;
    ref.pixel_std_t[0] = 0.5;
    CU_ASSERT_EQUAL_FATAL(ddad_reference_save(&ref, path, "1", 1, "test"), DDAD_OK);
    m.cfg.score.timesteps.n = 1;
    CU_ASSERT_EQUAL(ddad_reference_use(&m, &used, dir, "bottle"), DDAD_OK);
    CU_ASSERT_EQUAL(used.n_t, 1);
    m.cfg.score.timesteps.n = 3;
    CU_ASSERT_EQUAL(ddad_reference_use(&m, &used, dir, "bottle"), DDAD_STATUS_DATA);
    CU_ASSERT(strstr(ddad_last_error(), "of 1 timesteps, score.timesteps has 3") != NULL);
    /* a zero per-timestep std is refused like the others */
    ref.pixel_std_t[0] = 0.0;
    CU_ASSERT_EQUAL_FATAL(ddad_reference_save(&ref, path, "1", 1, "test"), DDAD_OK);
    m.cfg.score.timesteps.n = 1;
    CU_ASSERT_EQUAL(ddad_reference_use(&m, &used, dir, "bottle"), DDAD_STATUS_DATA);
    CU_ASSERT(strstr(ddad_last_error(), "not positive") != NULL);

    ddad_reference_free(&used);
    ddad_reference_free(&ref);
    ddad_test_rmtree(dir);
    free(dir);
}

/* Image i's raw maps of both branches (T, H, W), as build() adds them. */
static void steps_of(int i, float kl[T * HW], float ft[T * HW])
{
    for (int k = 0; k < T; k++)
        for (int p = 0; p < HW; p++) {
            kl[k * HW + p] = step_value(0, i, k, p);
            ft[k * HW + p] = step_value(1, i, k, p);
        }
}

/* Every (T, H, W) or (H, W) array and std of two references agree within tol. */
static void assert_same_reference(const ddad_score_reference_t *a, const ddad_score_reference_t *b, double tol)
{
    CU_ASSERT_EQUAL(a->n_images, b->n_images);
    CU_ASSERT_EQUAL_FATAL(a->n_t, b->n_t);
    const float *fa[] = {a->pixel_mean, a->pixel_std_map, a->feat_mean, a->feat_std_map},
                *fb[] = {b->pixel_mean, b->pixel_std_map, b->feat_mean, b->feat_std_map};
    for (int j = 0; j < 4; j++)
        for (int p = 0; p < HW; p++)
            CU_ASSERT_DOUBLE_EQUAL(fa[j][p], fb[j][p], tol * (1 + fabs(fb[j][p])));
    const float *ta[] = {a->pixel_mean_t, a->pixel_std_map_t, a->feat_mean_t, a->feat_std_map_t},
                *tb[] = {b->pixel_mean_t, b->pixel_std_map_t, b->feat_mean_t, b->feat_std_map_t};
    for (int j = 0; j < 4; j++)
        for (int p = 0; p < T * HW; p++)
            CU_ASSERT_DOUBLE_EQUAL(ta[j][p], tb[j][p], tol * (1 + fabs(tb[j][p])));
    CU_ASSERT_DOUBLE_EQUAL(a->pixel_std, b->pixel_std, tol * b->pixel_std);
    CU_ASSERT_DOUBLE_EQUAL(a->feat_std, b->feat_std, tol * b->feat_std);
    for (int k = 0; k < T; k++) {
        CU_ASSERT_DOUBLE_EQUAL(a->pixel_std_t[k], b->pixel_std_t[k], tol * b->pixel_std_t[k]);
        CU_ASSERT_DOUBLE_EQUAL(a->feat_std_t[k], b->feat_std_t[k], tol * b->feat_std_t[k]);
    }
}

/* Leave one out: the statistics of N images without image i equal those of
 * an accumulator that never saw it; the accumulator itself is unchanged. */
static void test_leave_one_out(void)
{
    enum { N4 = 4 };
    float kl[T * HW], ft[T * HW];
    ddad_reference_acc_t *all = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_reference_acc_create(&all, T, H, W, true), DDAD_OK);
    for (int i = 0; i < N4; i++) {
        steps_of(i, kl, ft);
        ddad_reference_acc_add(all, kl, ft);
    }
    CU_ASSERT_EQUAL(ddad_reference_acc_count(all), N4);
    ddad_score_reference_t before;
    CU_ASSERT_EQUAL_FATAL(ddad_reference_acc_stats(all, &before), DDAD_OK);
    for (int out = 0; out < N4; out++) {
        ddad_reference_acc_t *others = NULL;
        CU_ASSERT_EQUAL_FATAL(ddad_reference_acc_create(&others, T, H, W, true), DDAD_OK);
        for (int i = 0; i < N4; i++)
            if (i != out) {
                steps_of(i, kl, ft);
                ddad_reference_acc_add(others, kl, ft);
            }
        ddad_score_reference_t want, got;
        CU_ASSERT_EQUAL_FATAL(ddad_reference_acc_finish(others, &want), DDAD_OK);
        steps_of(out, kl, ft);
        CU_ASSERT_EQUAL_FATAL(ddad_reference_acc_without(all, kl, ft, &got), DDAD_OK);
        assert_same_reference(&got, &want, 1e-6);
        ddad_reference_free(&got);
        ddad_reference_free(&want);
    }
    /* the accumulator is not changed by the leave-one-out statistics */
    ddad_score_reference_t after;
    CU_ASSERT_EQUAL_FATAL(ddad_reference_acc_stats(all, &after), DDAD_OK);
    assert_same_reference(&after, &before, 0);
    ddad_reference_free(&after);
    ddad_reference_free(&before);
    ddad_reference_acc_free(all);

    /* with 2 images, one left out leaves too few: a DATA error that says so */
    ddad_reference_acc_t *two = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_reference_acc_create(&two, T, H, W, true), DDAD_OK);
    for (int i = 0; i < 2; i++) {
        steps_of(i, kl, ft);
        ddad_reference_acc_add(two, kl, ft);
    }
    ddad_score_reference_t none;
    CU_ASSERT_EQUAL(ddad_reference_acc_without(two, kl, ft, &none), DDAD_STATUS_DATA);
    CU_ASSERT(strstr(ddad_last_error(), "at least 3") != NULL);
    CU_ASSERT_PTR_NULL(none.pixel_mean);
    ddad_reference_acc_free(two);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"statistics, global and per-pixel std, apply", test_statistics_and_apply},
                                        {"per-timestep statistics, good_timesteps each",
                                         test_per_timestep_statistics_and_map},
                                        {"file round trip", test_file_round_trip_and_errors},
                                        {"per-pixel maps required by good_std pixel", test_use_checks_per_pixel_maps},
                                        {"leave-one-out statistics", test_leave_one_out},
                                        {NULL, NULL}};
    return ddad_test_main("nn_reference", tests);
}
