/* tests/test_nn_effnet.c - EfficientNet-B4 against the taps the authors' code
 * computed (fixtures/effnet_b4.h5, README.txt sections 2 and 5), the weight
 * loading rules (exact required names, extras ignored, missing ones named)
 * and the labelled random initialisation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/effnet.h"
#include "testutil_nn.h"

/* README.txt section 7: back ends differ by <= 5.2e-6 of the tensor max. */
#define REL_TOL 1e-4
#define ABS_FLOOR 1e-6

static ddad_tensor_t *read_tensor(ddad_h5_t *f, const char *name, int64_t *shape, int *nd)
{
    float *buf = NULL;
    ddad_tensor_t *t = NULL;
    if (ddad_h5_read(f, name, DDAD_H5_F32, (void **)&buf, shape, nd) != DDAD_OK) {
        fprintf(stderr, "\n  %s\n", ddad_last_error());
        return NULL;
    }
    if (ddad_from_buffer(&t, buf, shape, *nd, DDAD_DTYPE_F32) != DDAD_OK)
        fprintf(stderr, "\n  %s\n", ddad_last_error());
    free(buf);
    return t;
}

static double max_abs_diff_tensors(const ddad_tensor_t *a, const ddad_tensor_t *b);

static void test_fixture_taps(void)
{
    DDAD_TEST_NEED_FIXTURE("effnet_b4.h5");
    const char *path = ddad_test_fixture("effnet_b4.h5");
    ddad_effnet_t net;
    ddad_effnet_options_t opt = ddad_effnet_default_options();
    opt.weights_path = path;
    ddad_status_t st = ddad_effnet_init(&net, &opt);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  %s\n", ddad_last_error());
    CU_ASSERT_EQUAL_FATAL(st, DDAD_OK);
    CU_ASSERT_FALSE(net.random_weights);
    CU_ASSERT_EQUAL(ddad_effnet_required_count(&net), 413); /* README: 413 tensors */

    ddad_h5_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, path, DDAD_H5_READ), DDAD_OK);
    int64_t shape[DDAD_H5_MAX_DIMS];
    int nd;
    ddad_tensor_t *x = read_tensor(f, "input/x", shape, &nd); /* (1, 3, 64, 64) */
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);

    ddad_tensor_t *taps[DDAD_EFFNET_NUM_TAPS] = {0}, *stem = NULL, *feat = NULL;
    st = ddad_effnet_forward(&net, x, taps, &stem);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  %s\n", ddad_last_error());
    CU_ASSERT_EQUAL_FATAL(st, DDAD_OK);
    ddad_test_assert_tensor_h5(f, "outputs/stem", stem, REL_TOL, ABS_FLOOR);
    static const char *names[DDAD_EFFNET_NUM_TAPS] = {"outputs/block_01", "outputs/block_05", "outputs/block_09",
                                                      "outputs/block_21"};
    for (int k = 0; k < DDAD_EFFNET_NUM_TAPS; k++) {
        CU_ASSERT_EQUAL(ddad_tensor_size(taps[k], 1), ddad_effnet_tap_channels[k]);
        ddad_test_assert_tensor_h5(f, names[k], taps[k], REL_TOL, ABS_FLOOR);
    }
    CU_ASSERT_EQUAL(ddad_effnet_features(&net, x, 16, &feat), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_tensor_size(feat, 1), DDAD_EFFNET_FEAT_CHANNELS);
    ddad_test_assert_tensor_h5(f, "outputs/feat272_resized_16", feat, REL_TOL, ABS_FLOOR);

    /* the helper on precomputed taps gives the same map */
    ddad_tensor_t *feat2 = NULL;
    CU_ASSERT_EQUAL(ddad_effnet_concat_taps(taps, 16, &feat2), DDAD_OK);
    CU_ASSERT_EQUAL(max_abs_diff_tensors(feat, feat2), 0.0);
    ddad_tensor_free(feat2);


    /* no parameter takes part in autograd: frozen */
    for (size_t i = 0; i < net.params.n; i++) {
        CU_ASSERT_FALSE(net.params.items[i].trainable);
        CU_ASSERT_FALSE(ddad_requires_grad(net.params.items[i].tensor));
    }
    CU_ASSERT_FALSE(ddad_requires_grad(taps[3]));

    for (int k = 0; k < DDAD_EFFNET_NUM_TAPS; k++)
        ddad_tensor_free(taps[k]);
    ddad_tensor_free(stem);
    ddad_tensor_free(feat);
    ddad_tensor_free(x);
    ddad_h5_close(f);
    ddad_effnet_free(&net);
    ddad_effnet_free(&net); /* twice is harmless */
}

/* A full checkpoint (later blocks, head, num_batches_tracked) loads; a file
 * missing one required tensor is refused with its name. */
static void test_loading_rules(void)
{
    DDAD_TEST_NEED_FIXTURE("effnet_b4.h5");
    CU_ASSERT_FATAL(ddad_test_python_has("h5py,numpy"));
    char *dir = ddad_test_mkdtemp("effnet");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char script[4096];
    snprintf(script, sizeof script, "%s/make.py", dir);
    FILE *fp = fopen(script, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs("import sys, h5py, numpy as np\n"
          "src, full, miss = sys.argv[1:4]\n"
          "with h5py.File(src, 'r') as s, h5py.File(full, 'w') as a, h5py.File(miss, 'w') as b:\n"
          "    for k in s['weights']:\n"
          "        a['weights/' + k] = s['weights/' + k][()]\n"
          "        if k != '_blocks.9._se_expand.bias':\n"
          "            b['weights/' + k] = s['weights/' + k][()]\n"
          "    a['weights/_blocks.22._depthwise_conv.weight'] = np.zeros((960, 1, 5, 5), np.float32)\n"
          "    a['weights/_bn0.num_batches_tracked'] = np.int64(7)\n"
          "    a['weights/_conv_head.weight'] = np.zeros((1792, 448, 1, 1), np.float32)\n"
          "    a['weights/_fc.weight'] = np.zeros((1000, 1792), np.float32)\n",
          fp);
    fclose(fp);
    char full[4096], miss[4096];
    snprintf(full, sizeof full, "%s/full.h5", dir);
    snprintf(miss, sizeof miss, "%s/missing.h5", dir);
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("'%s' '%s' '%s' '%s' '%s'", ddad_test_python(), script,
                                           ddad_test_fixture("effnet_b4.h5"), full, miss),
                          0);

    ddad_effnet_t net;
    ddad_effnet_options_t opt = ddad_effnet_default_options();
    opt.weights_path = full;
    ddad_status_t st = ddad_effnet_init(&net, &opt);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  %s\n", ddad_last_error());
    CU_ASSERT_EQUAL(st, DDAD_OK);
    CU_ASSERT_FALSE(net.random_weights);
    CU_ASSERT_PTR_NOT_NULL(strstr(net.source, "full.h5"));
    ddad_effnet_free(&net);

    opt.weights_path = miss;
    st = ddad_effnet_init(&net, &opt);
    CU_ASSERT_EQUAL(st, DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "_blocks.9._se_expand.bias"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "missing.h5"));
    CU_ASSERT_PTR_NULL(net.stem_w);
    ddad_effnet_free(&net);

    opt.weights_path = "no/such/effnet.h5";
    CU_ASSERT_NOT_EQUAL(ddad_effnet_init(&net, &opt), DDAD_OK);
    ddad_effnet_free(&net);

    ddad_test_rmtree(dir);
    free(dir);
}

static double max_abs_diff_tensors(const ddad_tensor_t *a, const ddad_tensor_t *b)
{
    ddad_tensor_t *d = NULL, *ad = NULL, *m = NULL;
    double v = INFINITY;
    if (ddad_sub(&d, a, b) == DDAD_OK && ddad_unary(&ad, d, DDAD_UNARY_ABS) == DDAD_OK && ddad_max(&m, ad) == DDAD_OK)
        ddad_tensor_item(&v, m);
    ddad_tensor_free(d);
    ddad_tensor_free(ad);
    ddad_tensor_free(m);
    return v;
}

/* Median over channels of each channel's std, for channels [c0, c1) of
 * features (N, 272, fs, fs). */
static double median_channel_std(const ddad_tensor_t *f, int c0, int c1)
{
    int64_t sh[4];
    ddad_tensor_shape(f, sh, 4);
    const size_t n = (size_t)(sh[0] * sh[1] * sh[2] * sh[3]), hw = (size_t)(sh[2] * sh[3]);
    float *v = malloc(n * sizeof *v);
    double stds[272];
    int k = 0;
    if (!v || ddad_to_buffer(f, v, n * sizeof *v, DDAD_DTYPE_F32) != DDAD_OK) {
        free(v);
        return NAN;
    }
    for (int c = c0; c < c1; c++, k++) {
        double s = 0, s2 = 0, m = 0;
        for (int64_t i = 0; i < sh[0]; i++)
            for (size_t q = 0; q < hw; q++) {
                double x = v[((size_t)i * (size_t)sh[1] + (size_t)c) * hw + q];
                s += x;
                s2 += x * x;
                m++;
            }
        double var = s2 / m - (s / m) * (s / m);
        stds[k] = sqrt(var > 0 ? var : 0);
    }
    free(v);
    for (int i = 1; i < k; i++) /* insertion sort: 272 at most */
        for (int j = i; j > 0 && stds[j] < stds[j - 1]; j--) {
            double t = stds[j];
            stds[j] = stds[j - 1];
            stds[j - 1] = t;
        }
    return stds[k / 2];
}

/* features.random_init variance_preserving: labelled, and the deepest tap
 * keeps a usable scale where PyTorch's defaults shrink it to ~1e-8. */
static void test_variance_preserving_init(void)
{
    ddad_effnet_t a, b;
    ddad_effnet_options_t opt = ddad_effnet_default_options();
    opt.seed = 3;
    CU_ASSERT_EQUAL_FATAL(ddad_effnet_init(&a, &opt), DDAD_OK);
    opt.variance_preserving = true;
    CU_ASSERT_EQUAL_FATAL(ddad_effnet_init(&b, &opt), DDAD_OK);
    CU_ASSERT_PTR_NULL(strstr(a.source, "variance-preserving"));
    CU_ASSERT_PTR_NOT_NULL(strstr(b.source, "variance-preserving"));
    ddad_generator_t *g = NULL;
    ddad_tensor_t *x = NULL, *fa = NULL, *fb = NULL;
    int64_t shape[4] = {2, 3, 64, 64};
    CU_ASSERT_EQUAL_FATAL(ddad_generator_create(&g, 9, DDAD_CPU), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_rand(&x, shape, 4, DDAD_DTYPE_F32, DDAD_CPU, g), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_effnet_features(&a, x, 4, &fa), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_effnet_features(&b, x, 4, &fb), DDAD_OK);
    /* the last 160 channels are the deepest tap (block 21) */
    double deep_torch = median_channel_std(fa, 112, 272), deep_vp = median_channel_std(fb, 112, 272);
    double first_vp = median_channel_std(fb, 0, 24);
    CU_ASSERT(deep_torch < 1e-4);
    CU_ASSERT(deep_vp > 1e3 * deep_torch);
    CU_ASSERT(deep_vp > 1e-3 * first_vp); /* within three decades of the first tap */
    ddad_tensor_free(x);
    ddad_tensor_free(fa);
    ddad_tensor_free(fb);
    ddad_generator_free(g);
    ddad_effnet_free(&a);
    ddad_effnet_free(&b);
}

/* Without a file: flagged, seeded (same seed, same network), finite. */
static void test_random_init(void)
{
    ddad_effnet_t a, b, c;
    ddad_effnet_options_t opt = ddad_effnet_default_options();
    opt.seed = 11;
    CU_ASSERT_EQUAL_FATAL(ddad_effnet_init(&a, &opt), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_effnet_init(&b, &opt), DDAD_OK);
    opt.seed = 12;
    CU_ASSERT_EQUAL_FATAL(ddad_effnet_init(&c, &opt), DDAD_OK);
    CU_ASSERT_TRUE(a.random_weights);
    CU_ASSERT_PTR_NOT_NULL(strstr(a.source, "random"));

    ddad_generator_t *g = NULL;
    ddad_tensor_t *x = NULL, *fa = NULL, *fb = NULL, *fc = NULL;
    int64_t shape[4] = {2, 3, 48, 48};
    CU_ASSERT_EQUAL_FATAL(ddad_generator_create(&g, 5, DDAD_CPU), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_rand(&x, shape, 4, DDAD_DTYPE_F32, DDAD_CPU, g), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_effnet_features(&a, x, 8, &fa), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_effnet_features(&b, x, 8, &fb), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_effnet_features(&c, x, 8, &fc), DDAD_OK);
    int64_t fs[4];
    CU_ASSERT_EQUAL(ddad_tensor_shape(fa, fs, 4), 4);
    CU_ASSERT(fs[0] == 2 && fs[1] == 272 && fs[2] == 8 && fs[3] == 8);
    bool finite = false;
    CU_ASSERT_EQUAL(ddad_all_finite(&finite, fa), DDAD_OK);
    CU_ASSERT_TRUE(finite);
    CU_ASSERT_EQUAL(max_abs_diff_tensors(fa, fb), 0.0);
    CU_ASSERT(max_abs_diff_tensors(fa, fc) > 0.0);

    /* wrong input shape is refused with a message */
    ddad_tensor_t *bad = NULL, *taps[4];
    int64_t bshape[4] = {1, 4, 32, 32};
    CU_ASSERT_EQUAL(ddad_zeros(&bad, bshape, 4, DDAD_DTYPE_F32, DDAD_CPU), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_effnet_forward(&a, bad, taps, NULL), DDAD_STATUS_SHAPE);
    CU_ASSERT_EQUAL(ddad_effnet_features(&a, x, 0, &fb), DDAD_STATUS_USAGE);

    size_t live = ddad_tensor_live_count();
    ddad_tensor_t *fd = NULL;
    CU_ASSERT_EQUAL(ddad_effnet_features(&a, x, 8, &fd), DDAD_OK);
    ddad_tensor_free(fd);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live); /* no handle leaks per call */

    ddad_tensor_free(bad);
    ddad_tensor_free(x);
    ddad_tensor_free(fa);
    ddad_tensor_free(fb);
    ddad_tensor_free(fc);
    ddad_generator_free(g);
    ddad_effnet_free(&a);
    ddad_effnet_free(&b);
    ddad_effnet_free(&c);
}

int main(void)
{
    ddad_set_num_threads(2);
    static const ddad_test_t tests[] = {
        {"taps and 272-channel map match the authors' code", test_fixture_taps},
        {"weights: required names checked, extra names ignored", test_loading_rules},
        {"random initialisation: flagged, seeded, finite", test_random_init},
        {"variance-preserving random initialisation", test_variance_preserving_init},
        {0},
    };
    return ddad_test_main("nn_effnet", tests);
}
