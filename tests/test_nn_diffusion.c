/* tests/test_nn_diffusion.c - schedules, respacing, VB terms, anomaly maps
 * and training losses against diffusion.h5 (computed by the authors' code),
 * plus finite-difference checks of the loss gradient. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5io.h"
#include "nn/diffusion.h"
#include "nn/noise.h"
#include "nn/params.h"
#include "nn/tensor_h5.h"
#include "nn/unet.h"
#include "testutil.h"
#include "testutil_nn.h"

#define REL 1e-4
#define ABS 1e-6

static ddad_h5_t *open_fixture(const char *name)
{
    ddad_h5_t *f = NULL;
    if (ddad_h5_open(&f, ddad_test_fixture(name), DDAD_H5_READ) != DDAD_OK)
        fprintf(stderr, "\n  %s", ddad_last_error());
    return f;
}

static float *host_f32(const ddad_tensor_t *t)
{
    size_t n = (size_t)ddad_tensor_numel(t);
    float *b = malloc((n ? n : 1) * sizeof *b);
    if (ddad_to_buffer(t, b, n * sizeof *b, DDAD_DTYPE_F32) != DDAD_OK) {
        free(b);
        return NULL;
    }
    return b;
}

static void assert_close(const char *what, const ddad_tensor_t *t, ddad_h5_t *f, const char *ref_name)
{
    void *ref = NULL;
    int64_t shape[DDAD_H5_MAX_DIMS];
    int nd = 0;
    if (ddad_h5_read(f, ref_name, DDAD_H5_F32, &ref, shape, &nd) != DDAD_OK)
        fprintf(stderr, "\n  %s", ddad_last_error());
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    size_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= (size_t)shape[i];
    if ((size_t)ddad_tensor_numel(t) != n) {
        fprintf(stderr, "\n  %s: %lld values, reference %s has %zu", what, (long long)ddad_tensor_numel(t), ref_name, n);
        CU_FAIL("element count");
        free(ref);
        return;
    }
    float *ours = host_f32(t);
    DDAD_ASSERT_CLOSE(what, ours, (float *)ref, n, REL, ABS);
    free(ours);
    free(ref);
}

static ddad_tensor_t *load(ddad_h5_t *f, const char *name, ddad_dtype_t dt)
{
    ddad_tensor_t *t = NULL;
    if (ddad_tensor_h5_read(&t, f, name, dt) != DDAD_OK)
        fprintf(stderr, "\n  %s", ddad_last_error());
    return t;
}

/* ---- schedules ------------------------------------------------------------------ */

static void compare_schedule(ddad_h5_t *f, const char *group, const ddad_diffusion_t *d, bool has_map)
{
    struct {
        const char *name;
        const double *arr;
    } arrs[] = {{"betas", d->betas},
                {"alphas_cumprod", d->alphas_cumprod},
                {"alphas_cumprod_prev", d->alphas_cumprod_prev},
                {"alphas_cumprod_next", d->alphas_cumprod_next},
                {"sqrt_alphas_cumprod", d->sqrt_alphas_cumprod},
                {"sqrt_one_minus_alphas_cumprod", d->sqrt_one_minus_alphas_cumprod},
                {"log_one_minus_alphas_cumprod", d->log_one_minus_alphas_cumprod},
                {"sqrt_recip_alphas_cumprod", d->sqrt_recip_alphas_cumprod},
                {"sqrt_recipm1_alphas_cumprod", d->sqrt_recipm1_alphas_cumprod},
                {"posterior_variance", d->posterior_variance},
                {"posterior_log_variance_clipped", d->posterior_log_variance_clipped},
                {"posterior_mean_coef1", d->posterior_mean_coef1},
                {"posterior_mean_coef2", d->posterior_mean_coef2},
                {"log_betas", d->log_betas}};
    size_t n_arrs = sizeof arrs / sizeof arrs[0] - (has_map ? 0 : 1);
    for (size_t k = 0; k < n_arrs; k++) {
        char name[128];
        snprintf(name, sizeof name, "%s/%s", group, arrs[k].name);
        double *ref = NULL;
        int64_t shape[DDAD_H5_MAX_DIMS];
        int nd;
        CU_ASSERT_EQUAL_FATAL(ddad_h5_read(f, name, DDAD_H5_F64, (void **)&ref, shape, &nd), DDAD_OK);
        CU_ASSERT_EQUAL_FATAL(shape[0], d->num_timesteps);
        double worst = 0, mx = 0;
        for (int64_t i = 0; i < shape[0]; i++) {
            double e = fabs(arrs[k].arr[i] - ref[i]);
            if (e > worst)
                worst = e;
            if (fabs(ref[i]) > mx)
                mx = fabs(ref[i]);
        }
        if (!(worst <= 1e-12 * mx + 1e-300))
            fprintf(stderr, "\n  %s: max|diff| %.3g (max|ref| %.3g)", name, worst, mx);
        CU_ASSERT(worst <= 1e-12 * mx + 1e-300);
        free(ref);
    }
    if (has_map) {
        char name[128];
        snprintf(name, sizeof name, "%s/timestep_map", group);
        int64_t *ref = NULL, shape[DDAD_H5_MAX_DIMS];
        int nd;
        CU_ASSERT_EQUAL_FATAL(ddad_h5_read(f, name, DDAD_H5_I64, (void **)&ref, shape, &nd), DDAD_OK);
        CU_ASSERT_EQUAL_FATAL(shape[0], d->num_timesteps);
        CU_ASSERT_EQUAL(memcmp(ref, d->timestep_map, (size_t)shape[0] * sizeof *ref), 0);
        free(ref);
    }
}

static void test_schedules(void)
{
    DDAD_TEST_NEED_FIXTURE("diffusion.h5");
    ddad_h5_t *f = open_fixture("diffusion.h5");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    ddad_diffusion_t d;
    CU_ASSERT_EQUAL_FATAL(ddad_diffusion_init(&d, DDAD_BETA_SCHEDULE_LINEAR, 1000, NULL), DDAD_OK);
    CU_ASSERT_EQUAL(d.num_timesteps, 1000);
    compare_schedule(f, "schedule_1000", &d, true);
    ddad_diffusion_free(&d);
    CU_ASSERT_EQUAL_FATAL(ddad_diffusion_init(&d, DDAD_BETA_SCHEDULE_LINEAR, 1000, "250"), DDAD_OK);
    CU_ASSERT_EQUAL(d.num_timesteps, 250);
    CU_ASSERT_EQUAL(d.base_timesteps, 1000);
    compare_schedule(f, "schedule_250", &d, true);
    for (int k = 0; k < 250; k++) /* round(k * 999 / 249) */
        CU_ASSERT_EQUAL(d.timestep_map[k], (int64_t)nearbyint(k * 999.0 / 249.0));
    CU_ASSERT_EQUAL(d.timestep_map[5], 20);
    CU_ASSERT_EQUAL(d.timestep_map[50], 201);
    CU_ASSERT_EQUAL(d.timestep_map[100], 401);
    ddad_diffusion_free(&d);
    CU_ASSERT_EQUAL_FATAL(ddad_diffusion_init(&d, DDAD_BETA_SCHEDULE_COSINE, 1000, ""), DDAD_OK);
    compare_schedule(f, "schedule_cosine_1000", &d, false);
    ddad_diffusion_free(&d);
    ddad_diffusion_free(NULL);
    ddad_h5_close(f);
}

static void test_space_timesteps(void)
{
    int64_t *k = NULL, n = 0;
    CU_ASSERT_EQUAL_FATAL(ddad_space_timesteps(&k, &n, 1000, "ddim50"), DDAD_OK);
    CU_ASSERT_EQUAL(n, 50);
    CU_ASSERT_EQUAL(k[1], 20);
    CU_ASSERT_EQUAL(k[49], 980);
    free(k);
    /* guided-diffusion's docstring example: 300 steps, "10,15,20" */
    CU_ASSERT_EQUAL_FATAL(ddad_space_timesteps(&k, &n, 300, "10,15,20"), DDAD_OK);
    CU_ASSERT_EQUAL(n, 45);
    CU_ASSERT_EQUAL(k[0], 0);
    CU_ASSERT_EQUAL(k[9], 99);
    CU_ASSERT_EQUAL(k[10], 100);
    CU_ASSERT_EQUAL(k[24], 199);
    CU_ASSERT_EQUAL(k[44], 299);
    free(k);
    CU_ASSERT_EQUAL(ddad_space_timesteps(&k, &n, 1000, "2000"), DDAD_STATUS_CONFIG);
    CU_ASSERT_EQUAL(ddad_space_timesteps(&k, &n, 1000, "25x"), DDAD_STATUS_CONFIG);
    CU_ASSERT_EQUAL(ddad_space_timesteps(&k, &n, 1000, "ddim999"), DDAD_STATUS_CONFIG);
}

/* ---- VB terms from the stored model outputs ---------------------------------------- */

static void test_vb_terms_from_stored_outputs(void)
{
    DDAD_TEST_NEED_FIXTURE("diffusion.h5");
    ddad_h5_t *f = open_fixture("diffusion.h5");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    ddad_diffusion_t d;
    CU_ASSERT_EQUAL_FATAL(ddad_diffusion_init(&d, DDAD_BETA_SCHEDULE_LINEAR, 1000, "250"), DDAD_OK);
    size_t live0 = ddad_tensor_live_count();
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *x0 = load(f, "inputs/x0", DDAD_DTYPE_F32);
    static const int ts[3] = {5, 50, 100};
    for (int i = 0; i < 3; i++) {
        char g[64], name[128];
        snprintf(g, sizeof g, "anomaly/t%03d", ts[i]);
#define P(leaf) (snprintf(name, sizeof name, "%s/%s", g, leaf), name)
        ddad_tensor_t *noise = load(f, P("noise"), DDAD_DTYPE_F32);
        ddad_tensor_t *xt_ref = load(f, P("x_t"), DDAD_DTYPE_F32);
        ddad_tensor_t *mo = load(f, P("model_output"), DDAD_DTYPE_F32);
        ddad_tensor_t *teps = load(f, P("unet_t_eps_pass"), DDAD_DTYPE_I64);
        ddad_tensor_t *t, *tmap, *x_t;
        int64_t two = 2;
        CU_ASSERT_EQUAL_FATAL(ddad_full(&t, &two, 1, ts[i], DDAD_DTYPE_I64, DDAD_CPU), DDAD_OK);
        CU_ASSERT_EQUAL_FATAL(ddad_diffusion_map_timesteps(&d, t, &tmap), DDAD_OK);
        int64_t a[2], b[2];
        ddad_to_buffer(tmap, a, sizeof a, DDAD_DTYPE_I64);
        ddad_to_buffer(teps, b, sizeof b, DDAD_DTYPE_I64);
        CU_ASSERT(a[0] == b[0] && a[1] == b[1]);
        CU_ASSERT_EQUAL_FATAL(ddad_diffusion_q_sample(&d, x0, t, noise, &x_t), DDAD_OK);
        assert_close("x_t", x_t, f, P("x_t"));
        ddad_vb_terms_t v;
        CU_ASSERT_EQUAL_FATAL(ddad_diffusion_vb_terms(&d, x0, xt_ref, t, mo, true, &v), DDAD_OK);
        assert_close("posterior_mean", v.posterior_mean, f, P("posterior_mean"));
        assert_close("posterior_log_variance_clipped", v.posterior_log_var, f, P("posterior_log_variance_clipped"));
        assert_close("model_mean", v.model_mean, f, P("model_mean"));
        assert_close("model_log_variance", v.model_log_var, f, P("model_log_variance"));
        assert_close("pred_xstart", v.pred_xstart, f, P("pred_xstart"));
        assert_close("kl_map_bits", v.kl_bits, f, P("kl_map_bits"));
        assert_close("nll_map_bits", v.nll_bits, f, P("nll_map_bits"));
#undef P
    }
    ddad_scope_end(mark);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live0);
    ddad_diffusion_free(&d);
    ddad_h5_close(f);
}

/* ---- the full scoring with the small UNet --------------------------------------------- */

static void small_options(ddad_unet_options_t *o)
{
    ddad_unet_options_paper(o);
    o->image_size = 32;
    o->model_channels = 32;
    o->n_channel_mult = 4;
    for (int i = 0; i < 4; i++)
        o->channel_mult[i] = 1;
    o->n_attention_resolutions = 2;
    o->attention_resolutions[0] = 16;
    o->attention_resolutions[1] = 8;
    o->num_head_channels = 8;
    o->skip_random_init = true;
}

static int load_small_unet(ddad_unet_t *u, ddad_params_t *p)
{
    ddad_unet_options_t o;
    small_options(&o);
    ddad_params_init(p, DDAD_CPU);
    if (ddad_unet_init(u, &o, p) != DDAD_OK)
        return -1;
    ddad_h5_t *f = open_fixture("unet_small.h5");
    if (!f)
        return -1;
    ddad_status_t st = ddad_params_load_h5(p, f, "weights", DDAD_PARAMS_STRICT, NULL);
    ddad_h5_close(f);
    return st == DDAD_OK ? 0 : -1;
}

static void test_anomaly_scoring(void)
{
    DDAD_TEST_NEED_FIXTURE("diffusion.h5");
    ddad_h5_t *f = open_fixture("diffusion.h5");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    ddad_unet_t u;
    ddad_params_t p;
    CU_ASSERT_EQUAL_FATAL(load_small_unet(&u, &p), 0);
    ddad_diffusion_t d;
    CU_ASSERT_EQUAL_FATAL(ddad_diffusion_init(&d, DDAD_BETA_SCHEDULE_LINEAR, 1000, "250"), DDAD_OK);
    size_t live0 = ddad_tensor_live_count();
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *x0 = load(f, "inputs/x0", DDAD_DTYPE_F32);
    ddad_tensor_t *y = load(f, "inputs/y", DDAD_DTYPE_I64);
    ddad_tensor_t *ft = load(f, "features/x0_feat272", DDAD_DTYPE_F32);
    ddad_anomaly_options_t opt;
    ddad_anomaly_options_default(&opt);
    CU_ASSERT(opt.clip_denoised && !opt.feature_quirk);
    opt.feature_quirk = true; /* the fixtures reproduce the reference's feature pass */
    static const int ts[3] = {5, 50, 100};
    ddad_anomaly_step_t s[3];
    const ddad_tensor_t *nll_std[3], *feat_up[3];
    for (int i = 0; i < 3; i++) {
        char g[64], name[128];
        snprintf(g, sizeof g, "anomaly/t%03d", ts[i]);
#define P(leaf) (snprintf(name, sizeof name, "%s/%s", g, leaf), name)
        ddad_tensor_t *noise = load(f, P("noise"), DDAD_DTYPE_F32);
        CU_ASSERT_EQUAL_FATAL(ddad_anomaly_step(&d, &u, x0, y, ts[i], noise, ft, &opt, &s[i]), DDAD_OK);
        CU_ASSERT_EQUAL(s[i].t_unet, d.timestep_map[ts[i]]);
        CU_ASSERT_EQUAL(s[i].t_unet_feat, ts[i]);
        assert_close("x_t", s[i].x_t, f, P("x_t"));
        assert_close("model_output", s[i].model_output, f, P("model_output"));
        assert_close("model_mean", s[i].vb.model_mean, f, P("model_mean"));
        assert_close("model_log_variance", s[i].vb.model_log_var, f, P("model_log_variance"));
        assert_close("pred_xstart", s[i].vb.pred_xstart, f, P("pred_xstart"));
        assert_close("posterior_mean", s[i].vb.posterior_mean, f, P("posterior_mean"));
        assert_close("kl_map_bits", s[i].vb.kl_bits, f, P("kl_map_bits"));
        assert_close("nll_map_bits", s[i].vb.nll_bits, f, P("nll_map_bits"));
        assert_close("feats_rec", s[i].feats_rec, f, P("feats_rec"));
        assert_close("feat_diff", s[i].feat_diff, f, P("feat_diff"));
        assert_close("feat_diff_up", s[i].feat_diff_up, f, P("feat_diff_up"));
        nll_std[i] = s[i].nll_std;
        feat_up[i] = s[i].feat_diff_up;
#undef P
    }
    ddad_tensor_t *dm, *fm, *pm, *score;
    CU_ASSERT_EQUAL_FATAL(ddad_anomaly_combine(nll_std, feat_up, 3, 1.0, 1.0, &dm, &fm, &pm), DDAD_OK);
    assert_close("diff_mask", dm, f, "anomaly/diff_mask");
    assert_close("feat_mask", fm, f, "anomaly/feat_mask");
    assert_close("pred_mask", pm, f, "anomaly/pred_mask");
    CU_ASSERT_EQUAL_FATAL(ddad_anomaly_image_score(&score, pm, 64), DDAD_OK);
    assert_close("score", score, f, "anomaly/score");

    /* default (no quirk): one UNet call, the feature pass at the original step */
    ddad_anomaly_step_t s2;
    ddad_tensor_t *noise = load(f, "anomaly/t050/noise", DDAD_DTYPE_F32);
    ddad_anomaly_options_default(&opt);
    CU_ASSERT_EQUAL_FATAL(ddad_anomaly_step(&d, &u, x0, y, 50, noise, ft, &opt, &s2), DDAD_OK);
    CU_ASSERT_EQUAL(s2.t_unet_feat, 201);
    assert_close("model_output (no quirk)", s2.model_output, f, "anomaly/t050/model_output");
    assert_close("kl_map_bits (no quirk)", s2.vb.kl_bits, f, "anomaly/t050/kl_map_bits");
    {
        /* the features now come from t = 201 and must differ from the quirk's */
        float *a = host_f32(s2.feats_rec), *b = host_f32(s[1].feats_rec);
        double diff = ddad_test_max_abs_diff(a, b, (size_t)ddad_tensor_numel(s2.feats_rec));
        CU_ASSERT(diff > 1e-3);
        free(a);
        free(b);
        ddad_tensor_t *fr;
        ddad_tensor_t *t201;
        int64_t two = 2;
        ddad_full(&t201, &two, 1, 201, DDAD_DTYPE_I64, DDAD_CPU);
        CU_ASSERT_EQUAL(ddad_unet_forward_ex(&u, s2.x_t, t201, y, 12, NULL, &fr, NULL, NULL), DDAD_OK);
        a = host_f32(s2.feats_rec);
        b = host_f32(fr);
        CU_ASSERT_EQUAL(ddad_test_max_abs_diff(a, b, (size_t)ddad_tensor_numel(fr)), 0.0);
        free(a);
        free(b);
    }
    /* pixel-only combination */
    ddad_tensor_t *pm2;
    CU_ASSERT_EQUAL(ddad_anomaly_combine(nll_std, NULL, 3, 1.0, 1.0, NULL, NULL, &pm2), DDAD_OK);
    assert_close("pred_mask (pixel only) = diff_mask", pm2, f, "anomaly/diff_mask");
    ddad_scope_end(mark);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live0);
    ddad_diffusion_free(&d);
    ddad_unet_free(&u);
    ddad_params_free(&p);
    ddad_h5_close(f);
}

/* respaced t = 0: the decoder NLL replaces the KL */
static void test_t0_decoder_nll(void)
{
    DDAD_TEST_NEED_FIXTURE("diffusion.h5");
    ddad_h5_t *f = open_fixture("diffusion.h5");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    ddad_unet_t u;
    ddad_params_t p;
    CU_ASSERT_EQUAL_FATAL(load_small_unet(&u, &p), 0);
    ddad_diffusion_t d;
    CU_ASSERT_EQUAL_FATAL(ddad_diffusion_init(&d, DDAD_BETA_SCHEDULE_LINEAR, 1000, "250"), DDAD_OK);
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *x0 = load(f, "inputs/x0", DDAD_DTYPE_F32);
    ddad_tensor_t *y = load(f, "inputs/y", DDAD_DTYPE_I64);
    ddad_tensor_t *noise = load(f, "anomaly/t005/noise", DDAD_DTYPE_F32);
    ddad_anomaly_step_t s;
    CU_ASSERT_EQUAL_FATAL(ddad_anomaly_step(&d, &u, x0, y, 0, noise, NULL, NULL, &s), DDAD_OK);
    CU_ASSERT_PTR_NULL(s.feats_rec);
    const char *g = "anomaly_extra/t000";
    char name[128];
#define P(leaf) (snprintf(name, sizeof name, "%s/%s", g, leaf), name)
    assert_close("x_t", s.x_t, f, P("x_t"));
    assert_close("posterior_mean", s.vb.posterior_mean, f, P("posterior_mean"));
    assert_close("posterior_log_variance_clipped", s.vb.posterior_log_var, f, P("posterior_log_variance_clipped"));
    assert_close("model_mean", s.vb.model_mean, f, P("model_mean"));
    assert_close("model_log_variance", s.vb.model_log_var, f, P("model_log_variance"));
    assert_close("pred_xstart", s.vb.pred_xstart, f, P("pred_xstart"));
    assert_close("kl_map_bits", s.vb.kl_bits, f, P("kl_map_bits"));
    assert_close("decoder_nll_map_bits", s.vb.decoder_nll_bits, f, P("decoder_nll_map_bits"));
    assert_close("nll_map_bits", s.vb.nll_bits, f, P("nll_map_bits"));
#undef P
    ddad_anomaly_step_free(&s);
    ddad_scope_end(mark);
    ddad_diffusion_free(&d);
    ddad_unet_free(&u);
    ddad_params_free(&p);
    ddad_h5_close(f);
}

/* ---- training losses ------------------------------------------------------------------ */

static void test_training_losses(void)
{
    DDAD_TEST_NEED_FIXTURE("diffusion.h5");
    ddad_h5_t *f = open_fixture("diffusion.h5");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    ddad_unet_t u;
    ddad_params_t p;
    CU_ASSERT_EQUAL_FATAL(load_small_unet(&u, &p), 0);
    ddad_diffusion_t d;
    CU_ASSERT_EQUAL_FATAL(ddad_diffusion_init(&d, DDAD_BETA_SCHEDULE_LINEAR, 1000, NULL), DDAD_OK);
    size_t live0 = ddad_tensor_live_count();
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *x0 = load(f, "inputs/x0", DDAD_DTYPE_F32);
    ddad_tensor_t *y = load(f, "inputs/y", DDAD_DTYPE_I64);
    ddad_tensor_t *ft = load(f, "features/x0_feat272", DDAD_DTYPE_F32);
    const char *groups[2] = {"train_a", "train_b"};
    for (int i = 0; i < 2; i++) {
        char name[128];
#define P(leaf) (snprintf(name, sizeof name, "%s/%s", groups[i], leaf), name)
        ddad_tensor_t *t = load(f, P("t"), DDAD_DTYPE_I64);
        ddad_tensor_t *noise = load(f, P("noise"), DDAD_DTYPE_F32);
        ddad_tensor_t *mo = load(f, P("model_output"), DDAD_DTYPE_F32);
        ddad_tensor_t *fr = load(f, P("feats_rec"), DDAD_DTYPE_F32);
        ddad_tensor_t *x_t, *tn, *out, *feats;
        CU_ASSERT_EQUAL_FATAL(ddad_diffusion_q_sample(&d, x0, t, noise, &x_t), DDAD_OK);
        assert_close("x_t", x_t, f, P("x_t"));
        /* from the stored outputs */
        ddad_diffusion_losses_t L;
        CU_ASSERT_EQUAL_FATAL(ddad_diffusion_training_losses(&d, mo, x0, x_t, t, noise, fr, ft, &L), DDAD_OK);
        assert_close("mse", L.mse, f, P("mse"));
        assert_close("vb", L.vb, f, P("vb"));
        assert_close("feat_mse", L.feat_mse, f, P("feat_mse"));
        assert_close("loss", L.loss, f, P("loss"));
        ddad_diffusion_losses_free(&L);
        /* end to end through the UNet (it sees the original steps) */
        CU_ASSERT_EQUAL_FATAL(ddad_diffusion_map_timesteps(&d, t, &tn), DDAD_OK);
        CU_ASSERT_EQUAL_FATAL(ddad_unet_forward(&u, x_t, tn, y, 12, &out, &feats), DDAD_OK);
        assert_close("model_output", out, f, P("model_output"));
        assert_close("feats_rec", feats, f, P("feats_rec"));
        CU_ASSERT_EQUAL_FATAL(ddad_diffusion_training_losses(&d, out, x0, x_t, t, noise, feats, ft, &L), DDAD_OK);
        assert_close("loss (end to end)", L.loss, f, P("loss"));
        /* without features: loss = mse + vb */
        ddad_diffusion_losses_t L2;
        CU_ASSERT_EQUAL_FATAL(ddad_diffusion_training_losses(&d, out, x0, x_t, t, noise, NULL, NULL, &L2), DDAD_OK);
        CU_ASSERT_PTR_NULL(L2.feat_mse);
        float *a = host_f32(L.loss), *b = host_f32(L2.loss), fm;
        ddad_to_buffer(L.feat_mse, &fm, sizeof fm, DDAD_DTYPE_F32);
        CU_ASSERT(fabs((a[0] - b[0]) - fm) <= 1e-6 && fabs((a[1] - b[1]) - fm) <= 1e-6);
        free(a);
        free(b);
#undef P
    }
    CU_ASSERT_EQUAL(ddad_diffusion_training_losses(&d, x0, x0, x0, NULL, x0, NULL, NULL, &(ddad_diffusion_losses_t){0}),
                    DDAD_STATUS_SHAPE);
    ddad_scope_end(mark);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live0);
    ddad_diffusion_free(&d);
    ddad_unet_free(&u);
    ddad_params_free(&p);
    ddad_h5_close(f);
}

/* ---- gradients ------------------------------------------------------------------------- */

/* A tiny UNet in float64: image 8, 2 levels, attention at 4x4, tap 1. */
static void tiny_options(ddad_unet_options_t *o)
{
    ddad_unet_options_paper(o);
    o->image_size = 8;
    o->model_channels = 32;
    o->num_res_blocks = 1;
    o->n_channel_mult = 2;
    o->channel_mult[0] = 1;
    o->channel_mult[1] = 1;
    o->n_attention_resolutions = 1;
    o->attention_resolutions[0] = 4;
    o->num_head_channels = 16;
    o->num_classes = 3;
    o->feature_tap = 1;
    o->feat_channels = 8;
    o->init_seed = 3;
}

typedef struct gctx {
    const ddad_unet_t *u;
    const ddad_diffusion_t *d;
    ddad_tensor_t *x0, *noise, *t, *y, *target;
} gctx_t;

/* mean over the batch of mse + feat_mse (the vb term is checked separately
 * because its eps half is detached on purpose). */
static double loss_value(const gctx_t *c, bool backward)
{
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *x_t, *out, *feats, *sum, *m;
    ddad_diffusion_losses_t L;
    double v = NAN;
    if (ddad_diffusion_q_sample(c->d, c->x0, c->t, c->noise, &x_t) != DDAD_OK ||
        ddad_unet_forward(c->u, x_t, c->t, c->y, 4, &out, &feats) != DDAD_OK ||
        ddad_diffusion_training_losses(c->d, out, c->x0, x_t, c->t, c->noise, feats, c->target, &L) != DDAD_OK ||
        ddad_add(&sum, L.mse, L.feat_mse) != DDAD_OK || ddad_mean(&m, sum) != DDAD_OK) {
        fprintf(stderr, "\n  %s", ddad_last_error());
    } else {
        ddad_tensor_item(&v, m);
        if (backward && ddad_backward(m) != DDAD_OK)
            fprintf(stderr, "\n  %s", ddad_last_error());
    }
    ddad_scope_end(mark);
    return v;
}

static void perturb(ddad_tensor_t *p, int64_t index, double h)
{
    size_t n = (size_t)ddad_tensor_numel(p);
    double *buf = calloc(n, sizeof *buf);
    buf[index] = h;
    int64_t shape[DDAD_MAX_DIMS];
    int nd = ddad_tensor_shape(p, shape, DDAD_MAX_DIMS);
    ddad_tensor_t *d;
    bool was = ddad_grad_set_enabled(false);
    CU_ASSERT_EQUAL_FATAL(ddad_from_buffer(&d, buf, shape, nd, DDAD_DTYPE_F64), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_add_scaled_(p, d, 1.0), DDAD_OK);
    ddad_grad_set_enabled(was);
    ddad_tensor_free(d);
    free(buf);
}

static void test_gradient_finite_differences(void)
{
    ddad_unet_options_t o;
    tiny_options(&o);
    ddad_params_t p;
    ddad_params_init(&p, DDAD_CPU);
    p.dtype = DDAD_DTYPE_F64;
    ddad_unet_t u;
    CU_ASSERT_EQUAL_FATAL(ddad_unet_init(&u, &o, &p), DDAD_OK);
    ddad_generator_t *gen;
    CU_ASSERT_EQUAL_FATAL(ddad_generator_create(&gen, 11, DDAD_CPU), DDAD_OK);
    /* move the zero-initialised convs off zero, as the fixtures do */
    for (size_t i = 0; i < p.n; i++) {
        ddad_tensor_t *r;
        int64_t shape[DDAD_MAX_DIMS];
        int nd = ddad_tensor_shape(p.items[i].tensor, shape, DDAD_MAX_DIMS);
        CU_ASSERT_EQUAL_FATAL(ddad_randn(&r, shape, nd, DDAD_DTYPE_F64, DDAD_CPU, gen), DDAD_OK);
        CU_ASSERT_EQUAL(ddad_add_scaled_(p.items[i].tensor, r, 0.05), DDAD_OK);
        ddad_tensor_free(r);
    }
    CU_ASSERT_EQUAL_FATAL(ddad_params_set_requires_grad(&p, true), DDAD_OK);
    ddad_diffusion_t d;
    CU_ASSERT_EQUAL_FATAL(ddad_diffusion_init(&d, DDAD_BETA_SCHEDULE_LINEAR, 1000, NULL), DDAD_OK);
    gctx_t c = {.u = &u, .d = &d};
    int64_t xs[4] = {2, 3, 8, 8}, fs[4] = {2, 8, 4, 4}, two = 2;
    int64_t tv[2] = {0, 437}, yv[2] = {2, 0};
    CU_ASSERT_EQUAL_FATAL(ddad_rand(&c.x0, xs, 4, DDAD_DTYPE_F64, DDAD_CPU, gen), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_randn(&c.noise, xs, 4, DDAD_DTYPE_F64, DDAD_CPU, gen), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_randn(&c.target, fs, 4, DDAD_DTYPE_F64, DDAD_CPU, gen), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_from_buffer(&c.t, tv, &two, 1, DDAD_DTYPE_I64), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_from_buffer(&c.y, yv, &two, 1, DDAD_DTYPE_I64), DDAD_OK);

    double l0 = loss_value(&c, true);
    CU_ASSERT(isfinite(l0));
    static const char *names[] = {"time_embed.0.weight", "label_emb.weight", "input_blocks.0.0.weight",
                                  "input_blocks.1.0.emb_layers.1.weight", "input_blocks.2.0.in_layers.0.weight",
                                  "input_blocks.3.1.qkv.weight", "middle_block.1.proj_out.weight",
                                  "output_blocks.0.0.skip_connection.weight", "out.2.weight", "feat_rec1.2.bias"};
    const double h = 1e-5;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        ddad_tensor_t *w = ddad_params_find(&p, names[k]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(w);
        ddad_tensor_t *g = NULL;
        CU_ASSERT_EQUAL_FATAL(ddad_grad(&g, w), DDAD_OK);
        CU_ASSERT_PTR_NOT_NULL_FATAL(g);
        int64_t n = ddad_tensor_numel(w);
        double *gb = malloc((size_t)n * sizeof *gb);
        ddad_to_buffer(g, gb, (size_t)n * sizeof *gb, DDAD_DTYPE_F64);
        ddad_tensor_free(g);
        int64_t idx[2] = {0, n / 2 + 1};
        for (int j = 0; j < 2; j++) {
            perturb(w, idx[j], h);
            double lp = loss_value(&c, false);
            perturb(w, idx[j], -2 * h);
            double lm = loss_value(&c, false);
            perturb(w, idx[j], h);
            double fd = (lp - lm) / (2 * h);
            double an = gb[idx[j]];
            bool ok = fabs(fd - an) <= 1e-5 * fabs(an) + 1e-8;
            if (!ok)
                fprintf(stderr, "\n  d loss / d %s[%lld]: autograd %.10g, finite difference %.10g", names[k],
                        (long long)idx[j], an, fd);
            CU_ASSERT(ok);
        }
        free(gb);
    }

    /* vb: no gradient into eps, correct gradient into v (t = 0 and t = 437) */
    {
        size_t mark = ddad_scope_begin();
        int64_t ms[4] = {2, 6, 8, 8};
        ddad_tensor_t *mo, *x_t, *s, *g;
        CU_ASSERT_EQUAL_FATAL(ddad_randn(&mo, ms, 4, DDAD_DTYPE_F64, DDAD_CPU, gen), DDAD_OK);
        ddad_tensor_persist(mo);
        CU_ASSERT_EQUAL_FATAL(ddad_set_requires_grad(mo, true), DDAD_OK);
        CU_ASSERT_EQUAL_FATAL(ddad_diffusion_q_sample(&d, c.x0, c.t, c.noise, &x_t), DDAD_OK);
        ddad_diffusion_losses_t L;
        CU_ASSERT_EQUAL_FATAL(ddad_diffusion_training_losses(&d, mo, c.x0, x_t, c.t, c.noise, NULL, NULL, &L), DDAD_OK);
        CU_ASSERT_EQUAL_FATAL(ddad_sum(&s, L.vb), DDAD_OK);
        CU_ASSERT_EQUAL_FATAL(ddad_backward(s), DDAD_OK);
        CU_ASSERT_EQUAL_FATAL(ddad_grad(&g, mo), DDAD_OK);
        double *gb = malloc(2 * 6 * 64 * sizeof *gb);
        ddad_to_buffer(g, gb, 2 * 6 * 64 * sizeof *gb, DDAD_DTYPE_F64);
        double eps_max = 0;
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < 3 * 64; i++)
                eps_max = fmax(eps_max, fabs(gb[b * 384 + i]));
        CU_ASSERT_EQUAL(eps_max, 0.0);
        int64_t probes[2] = {3 * 64 + 5, 384 + 4 * 64 + 17}; /* a v element of image 0 and of image 1 */
        for (int j = 0; j < 2; j++) {
            double vals[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                perturb(mo, probes[j], sgn ? -h : h);
                size_t m2 = ddad_scope_begin();
                ddad_diffusion_losses_t L2;
                ddad_tensor_t *s2;
                bool was = ddad_grad_set_enabled(false);
                CU_ASSERT_EQUAL_FATAL(
                    ddad_diffusion_training_losses(&d, mo, c.x0, x_t, c.t, c.noise, NULL, NULL, &L2), DDAD_OK);
                ddad_sum(&s2, L2.vb);
                ddad_tensor_item(&vals[sgn], s2);
                ddad_grad_set_enabled(was);
                ddad_scope_end(m2);
                perturb(mo, probes[j], sgn ? h : -h);
            }
            double fd = (vals[0] - vals[1]) / (2 * h);
            bool ok = fabs(fd - gb[probes[j]]) <= 1e-5 * fabs(gb[probes[j]]) + 1e-8 && gb[probes[j]] != 0.0;
            if (!ok)
                fprintf(stderr, "\n  d vb / d v[%lld]: autograd %.10g, finite difference %.10g", (long long)probes[j],
                        gb[probes[j]], fd);
            CU_ASSERT(ok);
        }
        free(gb);
        ddad_scope_end(mark);
        ddad_tensor_free(mo);
    }

    ddad_tensor_free(c.x0);
    ddad_tensor_free(c.noise);
    ddad_tensor_free(c.target);
    ddad_tensor_free(c.t);
    ddad_tensor_free(c.y);
    ddad_generator_free(gen);
    ddad_diffusion_free(&d);
    ddad_unet_free(&u);
    ddad_params_free(&p);
}

static void test_bad_arguments(void)
{
    ddad_diffusion_t d;
    CU_ASSERT_EQUAL_FATAL(ddad_diffusion_init(&d, DDAD_BETA_SCHEDULE_LINEAR, 1000, "250"), DDAD_OK);
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *x, *t, *out = NULL;
    int64_t xs[4] = {2, 3, 4, 4}, two = 2;
    ddad_zeros(&x, xs, 4, DDAD_DTYPE_F32, DDAD_CPU);
    ddad_full(&t, &two, 1, 250, DDAD_DTYPE_I64, DDAD_CPU); /* one past the end */
    CU_ASSERT_EQUAL(ddad_diffusion_q_sample(&d, x, t, x, &out), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "outside 0..249"));
    CU_ASSERT_PTR_NULL(out);
    CU_ASSERT_EQUAL(ddad_diffusion_init(&(ddad_diffusion_t){0}, DDAD_BETA_SCHEDULE_LINEAR, 1000, "abc"),
                    DDAD_STATUS_CONFIG);
    ddad_scope_end(mark);
    ddad_diffusion_free(&d);
}

/* diffusion.noise: white is one ddad_randn; pyramid matches the PyTorch
 * reference (tests/reference/pyramid_noise_reference.py) drawn from the
 * same seeds, has unit std per image and more coarse-scale power than white. */
static void test_noise(void)
{
    size_t mark = ddad_scope_begin();
    ddad_generator_t *g = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_generator_create(&g, 11, DDAD_CPU), DDAD_OK);
    ddad_tensor_t *white, *plain, *pyr, *pyr3;
    const int64_t s4[4] = {2, 3, 16, 16}, s3[3] = {3, 12, 10};
    CU_ASSERT_EQUAL_FATAL(ddad_noise_draw(&white, DDAD_NOISE_WHITE, 0.8, s4, 4, DDAD_CPU, g), DDAD_OK);
    ddad_generator_seed(g, 11);
    CU_ASSERT_EQUAL_FATAL(ddad_randn(&plain, s4, 4, DDAD_DTYPE_F32, DDAD_CPU, g), DDAD_OK);
    float *a = host_f32(white), *b = host_f32(plain);
    CU_ASSERT_EQUAL(memcmp(a, b, 2 * 3 * 16 * 16 * sizeof *a), 0); /* white: bit for bit the old noise */
    free(a);
    free(b);

    ddad_generator_seed(g, 7);
    CU_ASSERT_EQUAL_FATAL(ddad_noise_draw(&pyr, DDAD_NOISE_PYRAMID, 0.8, s4, 4, DDAD_CPU, g), DDAD_OK);
    ddad_generator_seed(g, 3);
    CU_ASSERT_EQUAL_FATAL(ddad_noise_draw(&pyr3, DDAD_NOISE_PYRAMID, 0.5, s3, 3, DDAD_CPU, g), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_tensor_dim(pyr3), 3);
    ddad_tensor_t *narrow; /* the width runs out first; no discount */
    const int64_t sn[4] = {1, 3, 16, 4};
    ddad_generator_seed(g, 9);
    CU_ASSERT_EQUAL_FATAL(ddad_noise_draw(&narrow, DDAD_NOISE_PYRAMID, 1.0, sn, 4, DDAD_CPU, g), DDAD_OK);
    CU_ASSERT_FATAL(ddad_test_python_has("torch,h5py"));
    char *dir = ddad_test_mkdtemp("noise");
    char ref[4200];
    snprintf(ref, sizeof ref, "%s/pyramid.h5", dir);
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("'%s' '%s/tests/reference/pyramid_noise_reference.py' '%s' "
                                           "square:7:0.8:2,3,16,16 odd:3:0.5:1,3,12,10 narrow:9:1:1,3,16,4",
                                           ddad_test_python(), ddad_test_source_dir(), ref),
                          0);
    ddad_h5_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, ref, DDAD_H5_READ), DDAD_OK);
    ddad_tensor_t *pyr3_4;
    const int64_t s31[4] = {1, 3, 12, 10};
    CU_ASSERT_EQUAL_FATAL(ddad_reshape(&pyr3_4, pyr3, s31, 4), DDAD_OK);
    ddad_test_assert_tensor_h5(f, "square", pyr, 1e-5, 1e-6);
    ddad_test_assert_tensor_h5(f, "odd", pyr3_4, 1e-5, 1e-6);
    ddad_test_assert_tensor_h5(f, "narrow", narrow, 1e-5, 1e-6);
    ddad_h5_close(f);
    ddad_test_rmtree(dir);
    free(dir);

    /* statistics over a larger draw: unit std per image, and the 8 x 8 block
     * means of pyramid noise vary far more than white noise's (1/8) */
    const int64_t big[4] = {4, 3, 64, 64}, dims[3] = {1, 2, 3};
    ddad_tensor_t *eps[2], *sd, *pooled, *psd;
    double pooled_std[2];
    for (int k = 0; k < 2; k++) {
        ddad_generator_seed(g, 5);
        CU_ASSERT_EQUAL_FATAL(ddad_noise_draw(&eps[k], k ? DDAD_NOISE_PYRAMID : DDAD_NOISE_WHITE, 0.8, big, 4,
                                              DDAD_CPU, g),
                              DDAD_OK);
        CU_ASSERT_EQUAL_FATAL(ddad_std_dims(&sd, eps[k], dims, 3, true, false), DDAD_OK);
        float s[4];
        CU_ASSERT_EQUAL_FATAL(ddad_to_buffer(sd, s, sizeof s, DDAD_DTYPE_F32), DDAD_OK);
        for (int i = 0; i < 4; i++)
            CU_ASSERT(k ? fabs(s[i] - 1.0) < 1e-5 : fabs(s[i] - 1.0) < 0.05);
        CU_ASSERT_EQUAL_FATAL(ddad_avg_pool2d(&pooled, eps[k], 8, 8, 0), DDAD_OK);
        const int64_t all[4] = {0, 1, 2, 3};
        CU_ASSERT_EQUAL_FATAL(ddad_std_dims(&psd, pooled, all, 4, true, false), DDAD_OK);
        float v;
        CU_ASSERT_EQUAL_FATAL(ddad_to_buffer(psd, &v, sizeof v, DDAD_DTYPE_F32), DDAD_OK);
        pooled_std[k] = v;
    }
    printf("\n    8 x 8 block-mean std: white %.3f, pyramid %.3f", pooled_std[0], pooled_std[1]);
    CU_ASSERT(fabs(pooled_std[0] - 0.125) < 0.02);
    CU_ASSERT(pooled_std[1] > 3 * pooled_std[0]);

    ddad_tensor_t *bad = NULL;
    CU_ASSERT_EQUAL(ddad_noise_draw(&bad, DDAD_NOISE_PYRAMID, 0.8, s4, 2, DDAD_CPU, g), DDAD_STATUS_SHAPE);
    CU_ASSERT_EQUAL(ddad_noise_draw(&bad, DDAD_NOISE_PYRAMID, 0.0, s4, 4, DDAD_CPU, g), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "discount"));
    CU_ASSERT_PTR_NULL(bad);
    ddad_generator_free(g);
    ddad_scope_end(mark);
}

int main(void)
{
    static const ddad_test_t tests[] = {
        {"schedules and respacing vs diffusion.h5", test_schedules},
        {"space_timesteps variants and errors", test_space_timesteps},
        {"VB terms from the stored model outputs", test_vb_terms_from_stored_outputs},
        {"anomaly maps, masks and scores with the small UNet", test_anomaly_scoring},
        {"decoder NLL at t = 0", test_t0_decoder_nll},
        {"training losses train_a / train_b", test_training_losses},
        {"loss gradients vs finite differences (float64)", test_gradient_finite_differences},
        {"bad arguments", test_bad_arguments},
        {"white and pyramid noise vs the PyTorch reference", test_noise},
        {0}};
    return ddad_test_main("nn_diffusion", tests);
}
