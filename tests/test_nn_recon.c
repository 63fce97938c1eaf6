/* tests/test_nn_recon.c - gradient denoising (core/nn/recon.h) on the
 * synthetic data set, after a short training with the trainer library:
 *  - the reconstruction of a defective image moves towards its defect-free
 *    source INSIDE the defect mask, while pixels outside the mask change
 *    little (margins below, from measurements);
 *  - the gradient step is sqrt(1 - s^2) x + s g with g of unit std per image;
 *  - recorded rounds, the stored PaDiM fit (reused when it matches, refitted
 *    when the config changed) and the option errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "dataset.h"
#include "image.h"
#include "loader.h"
#include "nn/recon.h"
#include "nn/trainer.h"
#include "run.h"
#include "testutil.h"

#define S 32

static char *tmp;
static ddad_config_t cfg;
static ddad_trainer_t *trainer;
static ddad_dataset_t *ds;
static const ddad_sample_t **train_s, **test_s;
static size_t n_train, n_test;
static ddad_recon_padim_t rp;
static char padim_path[1024];

static void setup(void)
{
    tmp = ddad_test_mkdtemp("recon");
    char root[1024], rundir[1024], path[1024];
    snprintf(root, sizeof root, "%s/synthetic", tmp);
    snprintf(rundir, sizeof rundir, "%s/runs", tmp);
    CU_ASSERT_EQUAL_FATAL(ddad_test_synth(root, "woven", S, 16, 1, 1), 0);

    char set_root[1100], set_run[1100];
    snprintf(set_root, sizeof set_root, "data.root=%s", root);
    snprintf(set_run, sizeof set_run, "run.dir=%s", rundir);
    const char *sets[] = {set_root, set_run, "train.iterations=16", "train.checkpoint_every=16",
                          "train.batch_size=4", "train.lr=1e-3", "train.ema=0.9", "recon.padim_channels=64"};
    snprintf(path, sizeof path, "%s/configs/tiny.yaml", ddad_test_source_dir());
    CU_ASSERT_EQUAL_FATAL(ddad_config_load(&cfg, path, sets, sizeof sets / sizeof sets[0]), DDAD_OK);
    ddad_trainer_opts_t to = ddad_trainer_opts_default();
    CU_ASSERT_EQUAL_FATAL(ddad_trainer_create(&trainer, &cfg, &to), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_trainer_run(trainer), DDAD_OK);

    CU_ASSERT_EQUAL_FATAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_MVTEC, root, NULL, 0), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_dataset_select(ds, "woven", DDAD_SPLIT_TRAIN, &train_s, &n_train), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_dataset_select(ds, "woven", DDAD_SPLIT_TEST, &test_s, &n_test), DDAD_OK);
    ddad_run_path(padim_path, sizeof padim_path, ddad_trainer_run_dir(trainer), NULL, DDAD_RUN_PADIM);
    CU_ASSERT_EQUAL_FATAL(ddad_recon_padim_prepare(&rp, &cfg, padim_path, train_s, n_train, DDAD_CPU), DDAD_OK);
    CU_ASSERT_FALSE(rp.reused);
    CU_ASSERT(rp.wrn.random_weights); /* no WRN weights in the test: labelled random */
}

static ddad_tensor_t *host_tensor(const float *v, int64_t n)
{
    ddad_tensor_t *t = NULL;
    int64_t shape[4] = {n, 3, S, S};
    CU_ASSERT_EQUAL(ddad_from_buffer(&t, v, shape, 4, DDAD_DTYPE_F32), DDAD_OK);
    return t;
}

static void load_source(const char *path, float *out)
{
    ddad_image_t img = {0};
    CU_ASSERT_EQUAL_FATAL(ddad_image_load(&img, path, DDAD_IMAGE_RGB), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(img.w, S);
    ddad_image_to_chw(&img, out);
    ddad_image_free(&img);
}

/* The reconstruction moves defective pixels towards the defect-free source.
 *
 * Measured on this set-up (seed 0, 16 training steps of batch 4, random WRN,
 * 64 PaDiM channels, 4 rounds of 5 steps, s = 0.02, t = 8), RMS distance to
 * the source over the 3 defective images: inside the defect 0.61 -> 0.47
 * (per image -17 % to -31 %; with 6 rounds and 30 training steps 0.60 ->
 * 0.37), outside 0 -> 0.069 (the denoiser's smoothing of the texture grain
 * and the drift of the gradient steps; 3.5 % of the [-1, 1] range).
 * Margins: inside, every image must end closer to the source than it started
 * and the mean must improve by at least 10 %; outside, the change must stay
 * below 0.15 RMS (about twice the measured value) and below the inside
 * distance after reconstruction. */
static void test_moves_towards_source(void)
{
    const ddad_model_t *m = ddad_trainer_model(trainer);
    ddad_recon_options_t o = ddad_recon_options_from_config(&cfg);
    o.rounds = 4;
    o.grad_steps = 5;
    o.n_record = 2;
    o.record[0] = 0;
    o.record[1] = 4;
    ddad_testiter_opts_t io = {.image_size = S, .mask_original_size = false, .mask_threshold = ds->mask_threshold};
    ddad_testiter_t *it = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_testiter_create(&it, test_s, n_test, &io), DDAD_OK);
    float x[3 * S * S], src[3 * S * S], rec[3 * S * S];
    double sum_in0 = 0, sum_in1 = 0, sum_out1 = 0;
    int n_img = 0, improved = 0;
    ddad_test_item_t item;
    bool more;
    while (ddad_testiter_next(it, &item, &more) == DDAD_OK && more) {
        if (item.label != 1)
            continue;
        CU_ASSERT_PTR_NOT_NULL_FATAL(item.sample->source_path);
        memcpy(x, item.image, sizeof x);
        load_source(item.sample->source_path, src);
        int64_t cls = ddad_config_category_index(&cfg, "woven");
        ddad_tensor_t *xt = host_tensor(x, 1), *y = NULL;
        CU_ASSERT_EQUAL_FATAL(ddad_model_labels(m, &cls, 1, &y), DDAD_OK);
        ddad_recon_result_t r;
        CU_ASSERT_EQUAL_FATAL(ddad_recon_run(&rp, m, xt, y, &o, &r), DDAD_OK);
        CU_ASSERT_EQUAL(r.n, 2);
        CU_ASSERT_EQUAL(r.rounds[1], 4);
        CU_ASSERT(r.grad_std[1] > 0);
        CU_ASSERT_EQUAL(ddad_to_buffer(r.images[1], rec, sizeof rec, DDAD_DTYPE_F32), DDAD_OK);
        float r0[3 * S * S];
        CU_ASSERT_EQUAL(ddad_to_buffer(r.images[0], r0, sizeof r0, DDAD_DTYPE_F32), DDAD_OK);
        CU_ASSERT_EQUAL(memcmp(r0, x, sizeof x), 0); /* round 0 is the input */
        double in0 = 0, in1 = 0, out1 = 0;
        long nin = 0, nout = 0;
        for (int k = 0; k < 3; k++)
            for (int p = 0; p < S * S; p++) {
                double a = x[k * S * S + p] - src[k * S * S + p], b = rec[k * S * S + p] - src[k * S * S + p];
                if (item.mask[p]) {
                    in0 += a * a, in1 += b * b, nin++;
                } else {
                    CU_ASSERT_EQUAL(a, 0.0); /* the synthetic defect changes only mask pixels */
                    out1 += b * b, nout++;
                }
            }
        CU_ASSERT_FATAL(nin > 0 && nout > 0);
        in0 = sqrt(in0 / nin), in1 = sqrt(in1 / nin), out1 = sqrt(out1 / nout);
        fprintf(stderr, "\n  %s: inside %.4f -> %.4f, outside 0 -> %.4f", item.name, in0, in1, out1);
        improved += in1 < in0;
        sum_in0 += in0, sum_in1 += in1, sum_out1 += out1;
        n_img++;
        CU_ASSERT(out1 < 0.15);
        CU_ASSERT(out1 < in1);
        ddad_recon_result_free(&r);
        ddad_tensor_free(xt);
        ddad_tensor_free(y);
    }
    ddad_testiter_free(it);
    CU_ASSERT_FATAL(n_img >= 3);
    fprintf(stderr, "\n  mean over %d images: inside %.4f -> %.4f, outside 0 -> %.4f\n", n_img, sum_in0 / n_img,
            sum_in1 / n_img, sum_out1 / n_img);
    CU_ASSERT_EQUAL(improved, n_img);
    CU_ASSERT(sum_in1 < 0.90 * sum_in0);
}

/* x' = sqrt(1 - s^2) x + s g, g = -grad / std(grad): (x' - sqrt(1 - s^2) x) / s
 * has unit (unbiased) std per image and points down the PaDiM distance. */
static void test_grad_step(void)
{
    float x[2 * 3 * S * S], xn[2 * 3 * S * S];
    ddad_testiter_opts_t io = {.image_size = S, .mask_threshold = ds->mask_threshold};
    ddad_testiter_t *it = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_testiter_create(&it, test_s + n_test - 2, 2, &io), DDAD_OK);
    ddad_test_item_t item;
    bool more;
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL_FATAL(ddad_testiter_next(it, &item, &more), DDAD_OK);
        memcpy(x + i * 3 * S * S, item.image, sizeof(float) * 3 * S * S);
    }
    ddad_testiter_free(it);
    const double s = 0.05;
    ddad_tensor_t *xt = host_tensor(x, 2), *out = NULL, *d0 = NULL, *d1 = NULL;
    double gstd = 0;
    CU_ASSERT_EQUAL_FATAL(ddad_recon_grad_step(&rp, xt, s, &out, &gstd), DDAD_OK);
    CU_ASSERT(gstd > 0);
    CU_ASSERT_EQUAL(ddad_to_buffer(out, xn, sizeof xn, DDAD_DTYPE_F32), DDAD_OK);
    for (int i = 0; i < 2; i++) {
        double sum = 0, sq = 0;
        const int n = 3 * S * S;
        for (int p = 0; p < n; p++) {
            double g = (xn[i * n + p] - sqrt(1 - s * s) * x[i * n + p]) / s;
            sum += g, sq += g * g;
        }
        double var = (sq - sum * sum / n) / (n - 1);
        CU_ASSERT_DOUBLE_EQUAL(sqrt(var), 1.0, 2e-3);
    }
    /* g points down the mean distance: a small move along it (std 2e-3, so
     * that first order dominates) lowers each image's mean distance */
    CU_ASSERT_EQUAL(ddad_padim_distance(&rp.padim, &rp.wrn, xt, false, &d0, NULL), DDAD_OK);
    ddad_tensor_t *xs = NULL;
    CU_ASSERT_EQUAL(ddad_mul_scalar(&xs, xt, sqrt(1 - s * s)), DDAD_OK); /* the shrink alone */
    ddad_tensor_t *g = NULL;
    CU_ASSERT_EQUAL(ddad_sub(&g, out, xs), DDAD_OK);
    ddad_tensor_t *xg = NULL;
    CU_ASSERT_EQUAL(ddad_mul_scalar_(g, 2e-3 / s), DDAD_OK); /* a perturbation of std 2e-3 along g */
    CU_ASSERT_EQUAL(ddad_add(&xg, xt, g), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_padim_distance(&rp.padim, &rp.wrn, xg, false, &d1, NULL), DDAD_OK);
    float a[2 * S * S], b[2 * S * S];
    CU_ASSERT_EQUAL(ddad_to_buffer(d0, a, sizeof a, DDAD_DTYPE_F32), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_to_buffer(d1, b, sizeof b, DDAD_DTYPE_F32), DDAD_OK);
    for (int i = 0; i < 2; i++) {
        double ma = 0, mb = 0;
        for (int p = 0; p < S * S; p++)
            ma += a[i * S * S + p], mb += b[i * S * S + p];
        CU_ASSERT(mb < ma);
    }
    CU_ASSERT_NOT_EQUAL(ddad_recon_grad_step(&rp, xt, 1.0, &out, NULL), DDAD_OK);
    ddad_tensor_free(xt);
    ddad_tensor_free(out);
    ddad_tensor_free(d0);
    ddad_tensor_free(d1);
    ddad_tensor_free(xs);
    ddad_tensor_free(g);
    ddad_tensor_free(xg);
}

static void test_padim_reuse_and_errors(void)
{
    ddad_recon_padim_t again;
    CU_ASSERT_EQUAL_FATAL(ddad_recon_padim_prepare(&again, &cfg, padim_path, train_s, n_train, DDAD_CPU), DDAD_OK);
    CU_ASSERT(again.reused);
    ddad_recon_padim_free(&again);
    /* another channel count: the stored fit does not match and is replaced */
    ddad_config_t c2 = cfg;
    CU_ASSERT_EQUAL_FATAL(ddad_config_set(&c2, "recon.padim_channels=32"), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_recon_padim_prepare(&again, &c2, padim_path, train_s, n_train, DDAD_CPU), DDAD_OK);
    CU_ASSERT_FALSE(again.reused);
    CU_ASSERT_EQUAL(again.padim.d, 32);
    ddad_recon_padim_free(&again);
    ddad_recon_padim_free(&again); /* twice is fine */
    CU_ASSERT_NOT_EQUAL(ddad_recon_padim_prepare(&again, &cfg, NULL, train_s, 1, DDAD_CPU), DDAD_OK);

    const ddad_model_t *m = ddad_trainer_model(trainer);
    float x[3 * S * S];
    memset(x, 0, sizeof x);
    ddad_tensor_t *xt = host_tensor(x, 1);
    ddad_recon_options_t o = ddad_recon_options_from_config(&cfg);
    ddad_recon_result_t r;
    o.record[o.n_record - 1] = o.rounds + 1; /* beyond the last round */
    CU_ASSERT_EQUAL(ddad_recon_run(&rp, m, xt, NULL, &o, &r), DDAD_STATUS_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "recon.record"));
    o = ddad_recon_options_from_config(&cfg);
    o.t = 100000;
    CU_ASSERT_EQUAL(ddad_recon_run(&rp, m, xt, NULL, &o, &r), DDAD_STATUS_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "recon.t"));
    ddad_recon_result_free(&r);
    ddad_tensor_free(xt);
}

static void teardown(void)
{
    ddad_recon_padim_free(&rp);
    free(train_s);
    free(test_s);
    ddad_dataset_free(ds);
    ddad_trainer_free(trainer);
    ddad_test_rmtree(tmp);
    free(tmp);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"set-up: short training, PaDiM fit", setup},
                                        {"reconstruction moves towards the source", test_moves_towards_source},
                                        {"gradient step", test_grad_step},
                                        {"PaDiM reuse and errors", test_padim_reuse_and_errors},
                                        {"teardown", teardown},
                                        {NULL, NULL}};
    return ddad_test_main("gradient denoising", tests);
}
