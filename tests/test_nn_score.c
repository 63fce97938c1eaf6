/* tests/test_nn_score.c - anomaly maps and scores (core/nn/score.h) and the
 * deployment API (include/ddad/ddad.h), on the tiny 32-px model with random weights.
 *
 * Oracles: ddad_anomaly_step (tested against the authors' code in
 * test_nn_diffusion) for one timestep with the same noise; hand-computed
 * combinations (METHOD.md section 5); ddad_anomaly_combine and
 * ddad_anomaly_image_score; torch's bilinear interpolation; scipy's
 * gaussian_filter (python oracle). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddad.h"
#include "image.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "nn/noise.h"
#include "nn/score.h"
#include "testutil.h"

static ddad_config_t g_cfg;
static ddad_model_t g_model;
static bool g_ready;

static ddad_model_t *model(void)
{
    if (g_ready)
        return &g_model;
    char path[4096];
    snprintf(path, sizeof path, "%s/configs/tiny.yaml", ddad_test_source_dir());
    const char *sets[] = {"score.timesteps=[5,50,100]", "score.batch_size=6", "features.score_size=8"};
    if (ddad_config_load(&g_cfg, path, sets, 3) != DDAD_OK ||
        ddad_model_create(&g_model, &g_cfg, DDAD_MODEL_WITH_EMA | DDAD_MODEL_WITH_FEATURES) != DDAD_OK) {
        fprintf(stderr, "\n  %s", ddad_last_error());
        return NULL;
    }
    ddad_set_num_threads(2);
    g_ready = true;
    return &g_model;
}

/* Two deterministic test images (2, 3, 32, 32) in [-1, 1]. */
static float *images(int n)
{
    const int S = 32;
    float *x = malloc((size_t)n * 3 * S * S * sizeof *x);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < S; y++)
                for (int xx = 0; xx < S; xx++)
                    x[((i * 3 + c) * S + y) * S + xx] =
                        (float)(0.8 * sin(0.3 * xx + 0.2 * y * (c + 1) + i) * ((xx > 10 && xx < 16 && y > 8 && y < 14 && i) ? -1 : 1));
    return x;
}

static void test_same_seed(void)
{
    ddad_model_t *m = model();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    float *x = images(2);
    ddad_score_maps_t a, b, c;
    CU_ASSERT_EQUAL_FATAL(ddad_score_images(m, x, NULL, NULL, 2, &a), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_score_images(m, x, NULL, NULL, 2, &b), DDAD_OK);
    size_t n = (size_t)(2 * 32 * 32);
    CU_ASSERT(memcmp(a.map, b.map, n * sizeof(float)) == 0);
    CU_ASSERT(memcmp(a.kl_steps, b.kl_steps, 3 * n * sizeof(float)) == 0);
    CU_ASSERT(memcmp(a.feat_steps, b.feat_steps, 3 * n * sizeof(float)) == 0);
    CU_ASSERT(a.score[0] == b.score[0] && a.score[1] == b.score[1]);
    /* another seed gives other noise, hence other KL maps */
    int old = m->cfg.seed;
    m->cfg.seed = old + 1;
    CU_ASSERT_EQUAL_FATAL(ddad_score_images(m, x, NULL, NULL, 2, &c), DDAD_OK);
    m->cfg.seed = old;
    CU_ASSERT(ddad_test_max_abs_diff(a.kl_steps, c.kl_steps, 3 * n) > 1e-3);
    /* shapes and bookkeeping */
    CU_ASSERT_EQUAL(a.n, 2);
    CU_ASSERT_EQUAL(a.h, 32);
    CU_ASSERT_EQUAL(a.n_t, 3);
    CU_ASSERT_EQUAL(a.timesteps[1], 50);
    CU_ASSERT_EQUAL(a.unet_calls, 1); /* 2 images x 3 timesteps in one batch of 6 */
    ddad_score_maps_free(&a);
    ddad_score_maps_free(&b);
    ddad_score_maps_free(&c);
    free(x);
}

static void test_batching(void)
{
    ddad_model_t *m = model();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    float *x = images(2);
    const size_t hw = 32 * 32;
    ddad_score_maps_t all, one, second;
    m->cfg.score.batch_size = 6;
    CU_ASSERT_EQUAL_FATAL(ddad_score_images(m, x, NULL, NULL, 2, &all), DDAD_OK);
    m->cfg.score.batch_size = 1;
    CU_ASSERT_EQUAL_FATAL(ddad_score_images(m, x, NULL, NULL, 2, &one), DDAD_OK);
    CU_ASSERT_EQUAL(one.unet_calls, 6);
    /* image 1 alone, with its id */
    int64_t id = 1;
    m->cfg.score.batch_size = 4;
    CU_ASSERT_EQUAL_FATAL(ddad_score_images(m, x + 3 * hw, NULL, &id, 1, &second), DDAD_OK);
    m->cfg.score.batch_size = 6;
    DDAD_ASSERT_CLOSE("kl batched vs one at a time", one.kl_steps, all.kl_steps, 6 * hw, 1e-4, 1e-5);
    DDAD_ASSERT_CLOSE("feat batched vs one at a time", one.feat_steps, all.feat_steps, 6 * hw, 1e-4, 1e-7);
    DDAD_ASSERT_CLOSE("map batched vs one at a time", one.map, all.map, 2 * hw, 1e-4, 1e-5);
    DDAD_ASSERT_CLOSE("image 1 alone", second.map, all.map + hw, hw, 1e-4, 1e-5);
    CU_ASSERT(fabsf(one.score[1] - all.score[1]) <= 1e-4f * fabsf(all.score[1]) + 1e-5f);
    ddad_score_maps_free(&all);
    ddad_score_maps_free(&one);
    ddad_score_maps_free(&second);
    free(x);
}

static float *host(const ddad_tensor_t *t)
{
    size_t n = (size_t)ddad_tensor_numel(t);
    float *b = malloc(n * sizeof *b);
    if (ddad_to_buffer(t, b, n * sizeof *b, DDAD_DTYPE_F32) != DDAD_OK) {
        free(b);
        return NULL;
    }
    return b;
}

/* One timestep t against ddad_anomaly_step with the same noise (quirk off /
 * on, white or pyramid noise) and the rgb ablation against the step's
 * pred_xstart. At t = 0 the map is the decoder NLL (cpu_real_texture.yaml
 * scores there). */
static void check_against_step(bool quirk, bool rgb, ddad_noise_t kind, int64_t t)
{
    ddad_model_t *m = model();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    ddad_config_score_t saved = m->cfg.score;
    ddad_config_diffusion_t saved_diffusion = m->cfg.diffusion;
    m->cfg.diffusion.noise = kind;
    m->cfg.score.timesteps.n = 1;
    m->cfg.score.timesteps.v[0] = (int)t;
    m->cfg.score.feature_timestep = quirk ? DDAD_FEATURE_TIMESTEP_RESPACED_QUIRK : DDAD_FEATURE_TIMESTEP_SAME;
    m->cfg.score.method = rgb ? DDAD_SCORE_METHOD_RGB : DDAD_SCORE_METHOD_DDAD;
    float *x = images(1);
    int64_t cls = 3, id = 7;
    ddad_score_maps_t r;
    CU_ASSERT_EQUAL_FATAL(ddad_score_images(m, x, &cls, &id, 1, &r), DDAD_OK);
    m->cfg.score = saved;
    m->cfg.diffusion = saved_diffusion;
    CU_ASSERT_EQUAL(r.unet_calls, quirk ? 2 : 1);

    size_t mark = ddad_scope_begin();
    ddad_generator_t *gen = NULL;
    ddad_tensor_t *x0, *noise, *y, *target;
    int64_t sh4[4] = {1, 3, 32, 32}, sh3[3] = {3, 32, 32};
    CU_ASSERT_EQUAL_FATAL(ddad_generator_create(&gen, ddad_score_noise_seed((uint64_t)m->cfg.seed, 7, t), DDAD_CPU), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_noise_draw(&noise, kind, m->cfg.diffusion.noise_discount, sh3, 3, DDAD_CPU, gen),
                          DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_reshape(&noise, noise, sh4, 4), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_from_buffer(&x0, x, sh4, 4, DDAD_DTYPE_F32), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_model_labels(m, &cls, 1, &y), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_model_feature_target(m, x0, 8, &target), DDAD_OK);
    ddad_anomaly_options_t opt;
    ddad_anomaly_options_default(&opt);
    opt.feature_quirk = quirk;
    ddad_anomaly_step_t s;
    CU_ASSERT_EQUAL_FATAL(ddad_anomaly_step(&m->score_diffusion, &m->ema, x0, y, t, noise, rgb ? NULL : target, &opt, &s),
                          DDAD_OK);
    int64_t one = 1;
    ddad_tensor_t *ref;
    if (rgb) {
        ddad_tensor_t *e;
        CU_ASSERT_EQUAL_FATAL(ddad_sub(&e, s.vb.pred_xstart, x0), DDAD_OK);
        CU_ASSERT_EQUAL_FATAL(ddad_unary(&e, e, DDAD_UNARY_SQUARE), DDAD_OK);
        CU_ASSERT_EQUAL_FATAL(ddad_mean_dims(&ref, e, &one, 1, false), DDAD_OK);
        CU_ASSERT_PTR_NULL(r.feat_steps);
        CU_ASSERT_PTR_NULL(r.feat);
    } else {
        CU_ASSERT_EQUAL_FATAL(ddad_mean_dims(&ref, s.nll_std, &one, 1, false), DDAD_OK);
        float *fref = host(s.feat_diff_up);
        DDAD_ASSERT_CLOSE("feature map vs anomaly_step", r.feat_steps, fref, 1024, 1e-4, 1e-7);
        free(fref);
    }
    float *kref = host(ref);
    DDAD_ASSERT_CLOSE(rgb ? "rgb error vs pred_xstart" : "KL map vs anomaly_step", r.kl_steps, kref, 1024, 1e-4, 1e-6);
    /* with one timestep: rgb map = pixel map; ddad map = alpha kl + (1 - alpha) feat */
    for (int p = 0; p < 1024; p++) {
        double want = rgb ? r.kl_steps[p] : 0.5 * r.kl_steps[p] + 0.5 * r.feat_steps[p];
        if (fabs(r.map[p] - want) > 1e-5 * (1 + fabs(want))) {
            CU_FAIL("map is not the combination of the steps");
            break;
        }
    }
    free(kref);
    ddad_anomaly_step_free(&s);
    ddad_generator_free(gen);
    ddad_scope_end(mark);
    ddad_score_maps_free(&r);
    free(x);
}

static void test_matches_anomaly_step(void) { check_against_step(false, false, DDAD_NOISE_WHITE, 50); }
static void test_quirk_matches_anomaly_step(void) { check_against_step(true, false, DDAD_NOISE_WHITE, 50); }
static void test_rgb_ablation(void) { check_against_step(false, true, DDAD_NOISE_WHITE, 50); }
static void test_pyramid_matches_anomaly_step(void) { check_against_step(false, false, DDAD_NOISE_PYRAMID, 50); }
static void test_t0_matches_anomaly_step(void) { check_against_step(false, false, DDAD_NOISE_PYRAMID, 0); }

/* METHOD.md section 5 on numbers small enough to do by hand. */
static void test_combination_hand_case(void)
{
    /* T = 2 timesteps, 2 x 2 pixels */
    const float kl[8] = {1, 2, 3, 4, /* t0 */ 3, 2, 1, 0};
    const float ft[8] = {0, 0, 4, 8, /* t0 */ 2, 0, 0, 0};
    float pixel[4], feat[4], map[4];
    ddad_score_combine(kl, ft, 2, 4, 0.25, pixel, feat, map);
    /* pixel = (2, 2, 2, 2); feat = (1, 0, 2, 4); map = 0.25 pixel + 0.75 feat */
    const float want_map[4] = {1.25f, 0.5f, 2.0f, 3.5f};
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_DOUBLE_EQUAL(pixel[i], 2.0, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(map[i], want_map[i], 1e-6);
    }
    CU_ASSERT_DOUBLE_EQUAL(feat[3], 4.0, 1e-6);
    /* top-2 mean = (3.5 + 2) / 2; max = 3.5; k beyond the map = mean of all */
    CU_ASSERT_DOUBLE_EQUAL(ddad_score_image(map, 4, DDAD_IMAGE_SCORE_TOPK_MEAN, 2), 2.75, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(ddad_score_image(map, 4, DDAD_IMAGE_SCORE_MAX, 2), 3.5, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(ddad_score_image(map, 4, DDAD_IMAGE_SCORE_TOPK_MEAN, 64), 7.25 / 4, 1e-6);
    /* no feature map: map = pixel */
    ddad_score_combine(kl, NULL, 2, 4, 0.25, pixel, NULL, map);
    CU_ASSERT_DOUBLE_EQUAL(map[0], 2.0, 1e-6);

    /* the same through ddad_anomaly_combine (w_pixel = alpha, w_feat = 1 - alpha)
     * on per-channel maps whose channel mean is kl */
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *nll[2], *fu[2], *pred, *score;
    for (int t = 0; t < 2; t++) {
        float c3[12];
        for (int ch = 0; ch < 3; ch++)
            for (int p = 0; p < 4; p++)
                c3[ch * 4 + p] = kl[t * 4 + p] + (float)(ch - 1) * (float)(p + 1); /* channel mean = kl */
        int64_t s4[4] = {1, 3, 2, 2}, f4[4] = {1, 1, 2, 2};
        CU_ASSERT_EQUAL_FATAL(ddad_from_buffer(&nll[t], c3, s4, 4, DDAD_DTYPE_F32), DDAD_OK);
        CU_ASSERT_EQUAL_FATAL(ddad_from_buffer(&fu[t], ft + t * 4, f4, 4, DDAD_DTYPE_F32), DDAD_OK);
    }
    CU_ASSERT_EQUAL_FATAL(ddad_anomaly_combine((const ddad_tensor_t *const *)nll, (const ddad_tensor_t *const *)fu, 2,
                                               0.25, 0.75, NULL, NULL, &pred), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_anomaly_image_score(&score, pred, 2), DDAD_OK);
    float *pm = host(pred);
    ddad_score_combine(kl, ft, 2, 4, 0.25, pixel, feat, map);
    DDAD_ASSERT_CLOSE("combine vs ddad_anomaly_combine", map, pm, 4, 1e-6, 1e-6);
    double sv = 0;
    ddad_tensor_item(&sv, score);
    CU_ASSERT_DOUBLE_EQUAL(sv, ddad_score_image(map, 4, DDAD_IMAGE_SCORE_TOPK_MEAN, 2), 1e-6);
    free(pm);
    ddad_scope_end(mark);
}

static void test_resize_matches_torch(void)
{
    float in[5 * 7], out[13 * 9];
    for (int i = 0; i < 35; i++)
        in[i] = (float)sin(0.7 * i) + 0.1f * (float)i;
    ddad_score_resize_bilinear(in, 5, 7, out, 13, 9);
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *t, *u;
    int64_t s4[4] = {1, 1, 5, 7};
    CU_ASSERT_EQUAL_FATAL(ddad_from_buffer(&t, in, s4, 4, DDAD_DTYPE_F32), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_interpolate(&u, t, 13, 9, DDAD_INTERP_BILINEAR, false), DDAD_OK);
    float *ref = host(u);
    DDAD_ASSERT_CLOSE("bilinear resize vs torch", out, ref, 13 * 9, 1e-6, 1e-6);
    free(ref);
    /* downsizing too */
    float small[3 * 2];
    ddad_score_resize_bilinear(in, 5, 7, small, 3, 2);
    CU_ASSERT_EQUAL_FATAL(ddad_interpolate(&u, t, 3, 2, DDAD_INTERP_BILINEAR, false), DDAD_OK);
    ref = host(u);
    DDAD_ASSERT_CLOSE("bilinear downsize vs torch", small, ref, 6, 1e-6, 1e-6);
    free(ref);
    ddad_scope_end(mark);
}

static void test_smoothing_matches_scipy(void)
{
    CU_ASSERT_FATAL(ddad_test_python_has("scipy,numpy"));
    const int H = 12, W = 10;
    float m[12 * 10];
    for (int i = 0; i < H * W; i++)
        m[i] = (float)((i * 37) % 11) - 5.0f;
    float sm[12 * 10];
    memcpy(sm, m, sizeof m);
    CU_ASSERT_EQUAL_FATAL(ddad_score_smooth(sm, H, W, 1.0, 0), DDAD_OK);
    char *dir = ddad_test_mkdtemp("smooth");
    char in[4096], out[4096];
    snprintf(in, sizeof in, "%s/in.f32", dir);
    snprintf(out, sizeof out, "%s/out.f32", dir);
    FILE *f = fopen(in, "wb");
    fwrite(m, sizeof m, 1, f);
    fclose(f);
    /* radius int(4 sigma + 0.5) = 4 = ceil(4 sigma); mirror = reflect without repeating the edge */
    int rc = ddad_test_system("'%s' -c \"import numpy as n, scipy.ndimage as s; "
                              "a = n.fromfile('%s', n.float32).reshape(%d, %d).astype(n.float64); "
                              "s.gaussian_filter(a, 1.0, mode='mirror', truncate=4.0).astype(n.float32).tofile('%s')\"",
                              ddad_test_python(), in, H, W, out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    float ref[12 * 10];
    f = fopen(out, "rb");
    CU_ASSERT_FATAL(f && fread(ref, sizeof ref, 1, f) == 1);
    fclose(f);
    DDAD_ASSERT_CLOSE("gaussian smoothing vs scipy", sm, ref, (size_t)(H * W), 1e-5, 1e-6);
    CU_ASSERT_EQUAL(ddad_score_smooth(sm, H, W, 1.0, 4), DDAD_STATUS_CONFIG); /* even kernel */
    ddad_test_rmtree(dir);
    free(dir);
}

static void write_threshold(const char *run, double thr)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/threshold.json", run);
    FILE *f = fopen(p, "w");
    fprintf(f, "{\n  \"format\": \"ddad-threshold\", \"format_version\": 1,\n  \"thresholds\": [\n"
               "    {\"category\": \"grainy\", \"image_threshold\": -100, \"pixel_threshold\": -100, \"images\": 1},\n"
               "    {\"category\": \"woven\", \"image_threshold\": %.9g, \"pixel_threshold\": 7, \"images\": 8}\n  ]\n}\n",
            thr);
    fclose(f);
}

static void test_scorer_round_trip(void)
{
    ddad_model_t *m = model();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    char *dir = ddad_test_mkdtemp("scorer");
    char ckpt[4096];
    ddad_checkpoint_path(ckpt, sizeof ckpt, dir, 0);
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/checkpoints", dir);
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("mkdir -p '%s'", sub), 0);
    ddad_checkpoint_state_t state;
    memset(&state, 0, sizeof state);
    CU_ASSERT_EQUAL_FATAL(ddad_checkpoint_save(ckpt, m, NULL, NULL, &state), DDAD_OK);

    /* an RGB image of 40 x 36 (not the model size) */
    const int w = 40, h = 36;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++)
        rgb[i] = (uint8_t)((i * 7919) % 251);
    /* expected: resize (bicubic) + ddad_score_images with image id 0 + bilinear back */
    ddad_image_t img = {.w = w, .h = h, .c = 3, .data = rgb}, small = {0};
    CU_ASSERT_EQUAL_FATAL(ddad_image_resize_bicubic(&img, 32, 32, &small), DDAD_OK);
    float x[3 * 32 * 32];
    ddad_image_to_chw(&small, x);
    ddad_image_free(&small);
    int64_t cls = ddad_config_category_index(&m->cfg, "woven"), id = 0;
    ddad_score_maps_t ref;
    CU_ASSERT_EQUAL_FATAL(ddad_score_images(m, x, &cls, &id, 1, &ref), DDAD_OK);
    float *ref_up = malloc((size_t)w * h * sizeof *ref_up);
    ddad_score_resize_bilinear(ref.map, 32, 32, ref_up, h, w);

    /* no threshold.json: no verdict */
    ddad_scorer_t *s = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_scorer_open(&s, dir, "cpu"), DDAD_OK);
    CU_ASSERT_FALSE(ddad_scorer_has_threshold(s));
    CU_ASSERT_EQUAL(ddad_scorer_image_size(s), 32);
    CU_ASSERT_STRING_EQUAL(ddad_scorer_checkpoint(s), ckpt);
    ddad_scorer_result_t r;
    CU_ASSERT_EQUAL_FATAL(ddad_scorer_score_rgb(s, rgb, w, h, &r), DDAD_OK);
    CU_ASSERT_EQUAL(r.w, w);
    CU_ASSERT_EQUAL(r.h, h);
    CU_ASSERT(isnan(r.threshold));
    CU_ASSERT_FALSE(r.is_anomalous);
    CU_ASSERT_DOUBLE_EQUAL(r.score, ref.score[0], 1e-5 * fabs(ref.score[0]) + 1e-6);
    DDAD_ASSERT_CLOSE("scorer map vs score_images", r.map, ref_up, (size_t)(w * h), 1e-5, 1e-6);
    float score = r.score;
    ddad_scorer_result_free(&r);
    ddad_scorer_result_free(&r); /* zeroed: harmless */
    ddad_scorer_close(s);

    /* a threshold just below the score -> anomalous; just above -> ok; the
     * category's entry is used (grainy's -100 is not) */
    write_threshold(dir, score - 1e-3);
    CU_ASSERT_EQUAL_FATAL(ddad_scorer_open(&s, ckpt, NULL), DDAD_OK); /* a checkpoint file finds its run folder */
    CU_ASSERT_TRUE(ddad_scorer_has_threshold(s));
    CU_ASSERT_EQUAL_FATAL(ddad_scorer_score_rgb(s, rgb, w, h, &r), DDAD_OK);
    CU_ASSERT_TRUE(r.is_anomalous);
    CU_ASSERT_DOUBLE_EQUAL(r.threshold, score - 1e-3, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(r.pixel_threshold, 7.0, 1e-6);
    ddad_scorer_result_free(&r);
    ddad_scorer_close(s);
    write_threshold(dir, score + 1e-3);
    CU_ASSERT_EQUAL_FATAL(ddad_scorer_open(&s, dir, NULL), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_scorer_score_rgb(s, rgb, w, h, &r), DDAD_OK);
    CU_ASSERT_FALSE(r.is_anomalous);
    ddad_scorer_result_free(&r);

    /* a PNG file gives the same result as its pixels */
    char png[4200];
    snprintf(png, sizeof png, "%s/img.png", dir);
    CU_ASSERT_EQUAL_FATAL(ddad_image_write_png(&img, png), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_scorer_score_file(s, png, &r), DDAD_OK);
    CU_ASSERT_DOUBLE_EQUAL(r.score, score, 1e-6 * fabs(score) + 1e-7);
    ddad_scorer_result_free(&r);
    /* errors: a missing file, a bad category */
    snprintf(png, sizeof png, "%s/missing.png", dir);
    ddad_status_t st = ddad_scorer_score_file(s, png, &r);
    CU_ASSERT(st == DDAD_STATUS_IO || st == DDAD_STATUS_DATA);
    CU_ASSERT(strstr(ddad_scorer_error(), "missing.png") != NULL);
    CU_ASSERT_EQUAL(ddad_scorer_set_category(s, "no_such_category"), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_scorer_set_category(s, "grainy"), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_scorer_score_rgb(s, rgb, w, h, &r), DDAD_OK);
    CU_ASSERT_TRUE(r.is_anomalous); /* grainy's threshold is -100 */
    ddad_scorer_result_free(&r);
    ddad_scorer_close(s);
    ddad_scorer_close(NULL);

    /* a folder without checkpoints */
    char empty[4200];
    snprintf(empty, sizeof empty, "%s/empty", dir);
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("mkdir -p '%s'", empty), 0);
    s = NULL;
    CU_ASSERT_EQUAL(ddad_scorer_open(&s, empty, NULL), DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT(strlen(ddad_scorer_error()) > 0);

    /* an override of the noise the run was trained with is refused */
    const char *other_noise[] = {"diffusion.noise=pyramid"};
    CU_ASSERT_EQUAL(ddad_scorer_open_with(&s, dir, NULL, other_noise, 1), DDAD_STATUS_CONFIG);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_scorer_error(), "set diffusion.noise: white"));

    ddad_score_maps_free(&ref);
    free(ref_up);
    free(rgb);
    ddad_test_rmtree(dir);
    free(dir);
}

static void test_example_program(void)
{
    /* the example links, reports usage errors with exit code 2 and answers --help on stdout */
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-score-example' >/dev/null 2>&1", ddad_test_bin_dir()), 2);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-score-example' --help 2>/dev/null | grep -q '^usage: .*IMAGE'",
                                     ddad_test_bin_dir()),
                    0);
}

int main(void)
{
    static const ddad_test_t tests[] = {
        {"same seed, same maps", test_same_seed},
        {"batched timesteps = one at a time", test_batching},
        {"one timestep = ddad_anomaly_step", test_matches_anomaly_step},
        {"quirk mode = ddad_anomaly_step with feature_quirk", test_quirk_matches_anomaly_step},
        {"pyramid noise: one timestep = ddad_anomaly_step with that noise", test_pyramid_matches_anomaly_step},
        {"respaced t = 0 (decoder NLL) = ddad_anomaly_step", test_t0_matches_anomaly_step},
        {"rgb ablation = x0-prediction error", test_rgb_ablation},
        {"combination and top-k by hand", test_combination_hand_case},
        {"bilinear resize = torch", test_resize_matches_torch},
        {"gaussian smoothing = scipy", test_smoothing_matches_scipy},
        {"scorer API round trip", test_scorer_round_trip},
        {"example program", test_example_program},
        {NULL, NULL}};
    int rc = ddad_test_main("nn_score", tests);
    if (g_ready)
        ddad_model_free(&g_model);
    return rc;
}
