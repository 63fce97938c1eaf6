/* tests/test_nn_target_cache.c - the per-image cache of the extractor's
 * feature targets (core/nn/target_cache.h), on the tiny 32-px model with a
 * random EfficientNet.
 *
 * Oracle: ddad_model_feature_target of each image alone, compared bit for
 * bit with what the cache returns on first visits, on hits and on mixed
 * batches; a hit is shown to come from memory by passing another image under
 * a cached index. Also: the byte budget, the counters, every error path, and
 * that free (NULL included) releases every tensor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "nn/target_cache.h"
#include "testutil.h"

#define OK(call) CU_ASSERT_EQUAL_FATAL((call), DDAD_OK)
#define S 32
#define N_IMG 6

static ddad_config_t g_cfg;
static ddad_model_t g_model;
static bool g_ready;
static ddad_tensor_t *g_images; /* (N_IMG, 3, S, S) */
static int64_t g_fs;

static ddad_model_t *model(void)
{
    if (g_ready)
        return &g_model;
    char path[4096];
    snprintf(path, sizeof path, "%s/configs/tiny.yaml", ddad_test_source_dir());
    if (ddad_config_load(&g_cfg, path, NULL, 0) != DDAD_OK ||
        ddad_model_create(&g_model, &g_cfg, DDAD_MODEL_WITH_FEATURES) != DDAD_OK) {
        fprintf(stderr, "\n  %s", ddad_last_error());
        return NULL;
    }
    ddad_set_num_threads(2);
    ddad_generator_t *gen;
    ddad_tensor_t *u, *u2;
    if (ddad_generator_create(&gen, 11, DDAD_CPU) != DDAD_OK ||
        ddad_rand(&u, (int64_t[]){N_IMG, 3, S, S}, 4, DDAD_DTYPE_F32, DDAD_CPU, gen) != DDAD_OK ||
        ddad_mul_scalar(&u2, u, 2.0) != DDAD_OK || ddad_add_scalar(&g_images, u2, -1.0) != DDAD_OK)
        return NULL; /* [-1, 1) like the loader's images */
    ddad_generator_free(gen);
    ddad_tensor_free(u);
    ddad_tensor_free(u2);
    ddad_tensor_persist(g_images);
    g_fs = g_cfg.features.train_size;
    g_ready = true;
    return &g_model;
}

static size_t row_bytes(void) { return (size_t)272 * (size_t)(g_fs * g_fs) * sizeof(float); }

/* (n, 3, S, S): the images rows[0], rows[1], ... */
static ddad_tensor_t *batch_of(const int *rows, int n)
{
    ddad_tensor_t *parts[8], *out;
    for (int i = 0; i < n; i++)
        CU_ASSERT_EQUAL_FATAL(ddad_slice(&parts[i], g_images, 0, rows[i], rows[i] + 1, 1), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_cat(&out, (const ddad_tensor_t *const *)parts, (size_t)n, 0), DDAD_OK);
    return out;
}

static float *host(const ddad_tensor_t *t, size_t *n)
{
    *n = (size_t)ddad_tensor_numel(t);
    float *buf = malloc(*n * sizeof *buf);
    CU_ASSERT_EQUAL_FATAL(ddad_to_buffer(t, buf, *n * sizeof *buf, DDAD_DTYPE_F32), DDAD_OK);
    return buf;
}

/* Asserts that row r of got equals ddad_model_feature_target of image img
 * alone, bit for bit. */
static void assert_row_exact(const ddad_tensor_t *got, int r, int img)
{
    ddad_tensor_t *x, *want, *row;
    OK(ddad_slice(&x, g_images, 0, img, img + 1, 1));
    OK(ddad_model_feature_target(&g_model, x, g_fs, &want));
    OK(ddad_slice(&row, got, 0, r, r + 1, 1));
    size_t nw, ng;
    float *w = host(want, &nw), *g = host(row, &ng);
    CU_ASSERT_EQUAL(nw, ng);
    CU_ASSERT_EQUAL(nw, row_bytes() / sizeof(float));
    int same = nw == ng && memcmp(w, g, nw * sizeof *w) == 0;
    if (!same)
        fprintf(stderr, "\n  row %d (image %d): max|diff| %g\n", r, img, ddad_test_max_abs_diff(g, w, nw));
    CU_ASSERT_TRUE(same);
    free(w);
    free(g);
}

static void test_exact_on_miss_hit_and_mixed(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(model());
    size_t mark = ddad_scope_begin();
    const size_t live0 = ddad_tensor_live_count();
    ddad_target_cache_t *tc;
    OK(ddad_target_cache_create(&tc, 10, (size_t)64 << 20));
    ddad_target_cache_stats_t s;

    /* first visits: images 0, 1, 2 as training samples 4, 1, 7 */
    const int rows_a[3] = {0, 1, 2};
    const int64_t idx_a[3] = {4, 1, 7};
    ddad_tensor_t *xa = batch_of(rows_a, 3), *ta;
    OK(ddad_target_cache_get(tc, &g_model, xa, idx_a, 3, g_fs, &ta));
    int64_t shape[4];
    CU_ASSERT_EQUAL(ddad_tensor_shape(ta, shape, 4), 4);
    CU_ASSERT(shape[0] == 3 && shape[1] == 272 && shape[2] == g_fs && shape[3] == g_fs);
    for (int r = 0; r < 3; r++)
        assert_row_exact(ta, r, rows_a[r]);
    ddad_target_cache_stats(tc, &s);
    CU_ASSERT_EQUAL(s.hits, 0);
    CU_ASSERT_EQUAL(s.misses, 3);
    CU_ASSERT_EQUAL(s.entries, 3);
    CU_ASSERT_EQUAL(s.bytes, 3 * row_bytes());
    CU_ASSERT_EQUAL(s.refused, 0);

    /* the same targets as the extractor on the whole batch, up to the
     * rounding of another batch size */
    ddad_tensor_t *tb_ref;
    OK(ddad_model_feature_target(&g_model, xa, g_fs, &tb_ref));
    size_t n1, n2;
    float *h1 = host(ta, &n1), *h2 = host(tb_ref, &n2);
    CU_ASSERT_EQUAL_FATAL(n1, n2);
    DDAD_ASSERT_CLOSE("cache vs whole-batch extractor", h1, h2, n1, 1e-5, 1e-6);
    free(h1);
    free(h2);

    /* mixed: sample 1 (hit), sample 9 = image 3 (miss), sample 4 (hit), in another order */
    const int rows_b[3] = {1, 3, 0};
    const int64_t idx_b[3] = {1, 9, 4};
    ddad_tensor_t *xb = batch_of(rows_b, 3), *tb;
    OK(ddad_target_cache_get(tc, &g_model, xb, idx_b, 3, g_fs, &tb));
    for (int r = 0; r < 3; r++)
        assert_row_exact(tb, r, rows_b[r]);
    ddad_target_cache_stats(tc, &s);
    CU_ASSERT_EQUAL(s.hits, 2);
    CU_ASSERT_EQUAL(s.misses, 4);
    CU_ASSERT_EQUAL(s.entries, 4);

    /* a hit comes from memory: image 5 under the cached index 7 (image 2)
     * returns image 2's target */
    const int rows_c[1] = {5};
    const int64_t idx_c[1] = {7};
    ddad_tensor_t *xc = batch_of(rows_c, 1), *tcx;
    OK(ddad_target_cache_get(tc, &g_model, xc, idx_c, 1, g_fs, &tcx));
    assert_row_exact(tcx, 0, 2);
    ddad_target_cache_stats(tc, &s);
    CU_ASSERT_EQUAL(s.hits, 3);
    CU_ASSERT_EQUAL(s.misses, 4);

    /* the returned tensor is the caller's: changing it leaves the cache intact */
    OK(ddad_mul_scalar_(tcx, 0.0));
    OK(ddad_target_cache_get(tc, &g_model, xc, idx_c, 1, g_fs, &tcx));
    assert_row_exact(tcx, 0, 2);

    /* clear: everything recomputed */
    ddad_target_cache_clear(tc);
    ddad_target_cache_stats(tc, &s);
    CU_ASSERT(s.hits == 0 && s.misses == 0 && s.entries == 0 && s.bytes == 0);
    OK(ddad_target_cache_get(tc, &g_model, xc, idx_c, 1, g_fs, &tcx));
    assert_row_exact(tcx, 0, 5);
    ddad_scope_end(mark);
    ddad_target_cache_free(tc);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live0);
}

static void test_budget(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(model());
    size_t mark = ddad_scope_begin();
    const size_t live0 = ddad_tensor_live_count();
    const size_t budget = 2 * row_bytes() + row_bytes() / 2; /* room for two targets */
    ddad_target_cache_t *tc;
    OK(ddad_target_cache_create(&tc, N_IMG, budget));
    const int rows[4] = {0, 1, 2, 3};
    const int64_t idx[4] = {0, 1, 2, 3};
    ddad_tensor_t *x = batch_of(rows, 4), *t;
    ddad_target_cache_stats_t s;
    for (int epoch = 0; epoch < 3; epoch++) {
        OK(ddad_target_cache_get(tc, &g_model, x, idx, 4, g_fs, &t));
        for (int r = 0; r < 4; r++)
            assert_row_exact(t, r, rows[r]);
        ddad_target_cache_stats(tc, &s);
        CU_ASSERT(s.bytes <= budget);
        CU_ASSERT_EQUAL(s.entries, 2);             /* the first two kept */
        CU_ASSERT_EQUAL(s.bytes, 2 * row_bytes());
        CU_ASSERT_EQUAL(s.hits, 2 * epoch);
        CU_ASSERT_EQUAL(s.misses, 4 + 2 * epoch);  /* images 2 and 3 every time */
        CU_ASSERT_EQUAL(s.refused, 2 + 2 * epoch);
        CU_ASSERT_EQUAL(s.budget, budget);
    }
    ddad_target_cache_free(tc);

    /* budget 0: nothing kept, targets still right */
    OK(ddad_target_cache_create(&tc, N_IMG, 0));
    OK(ddad_target_cache_get(tc, &g_model, x, idx, 4, g_fs, &t));
    OK(ddad_target_cache_get(tc, &g_model, x, idx, 4, g_fs, &t));
    assert_row_exact(t, 3, 3);
    ddad_target_cache_stats(tc, &s);
    CU_ASSERT(s.entries == 0 && s.bytes == 0 && s.hits == 0 && s.misses == 8 && s.refused == 8);
    ddad_target_cache_free(tc);
    ddad_scope_end(mark);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live0);
}

static void test_errors_and_free(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(model());
    ddad_target_cache_free(NULL); /* accepted */
    ddad_target_cache_clear(NULL);
    ddad_target_cache_stats_t s = {.hits = 5};
    ddad_target_cache_stats(NULL, &s);
    CU_ASSERT(s.hits == 0 && s.entries == 0 && s.budget == 0);
    CU_ASSERT_EQUAL(ddad_target_cache_create(NULL, 4, 0), DDAD_STATUS_USAGE);

    size_t mark = ddad_scope_begin();
    ddad_target_cache_t *tc;
    OK(ddad_target_cache_create(&tc, 3, (size_t)16 << 20));
    const int rows[2] = {0, 1};
    ddad_tensor_t *x = batch_of(rows, 2), *t = NULL;
    const int64_t bad[2] = {0, 3}, neg[2] = {-1, 0}, good[2] = {0, 1};
    CU_ASSERT_EQUAL(ddad_target_cache_get(tc, &g_model, x, bad, 2, g_fs, &t), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "sample index 3"));
    CU_ASSERT_EQUAL(ddad_target_cache_get(tc, &g_model, x, neg, 2, g_fs, &t), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_target_cache_get(tc, &g_model, x, good, 1, g_fs, &t), DDAD_STATUS_USAGE); /* N != n */
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "(2, 3, 32, 32)"));
    CU_ASSERT_EQUAL(ddad_target_cache_get(tc, &g_model, x, good, 2, 0, &t), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_target_cache_get(tc, &g_model, NULL, good, 2, g_fs, &t), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_target_cache_get(tc, &g_model, x, NULL, 2, g_fs, &t), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_target_cache_get(tc, &g_model, x, good, 2, g_fs, NULL), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_target_cache_get(NULL, &g_model, x, good, 2, g_fs, &t), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NULL(t);
    ddad_model_t no_feat = g_model;
    no_feat.has_features = false;
    CU_ASSERT_EQUAL(ddad_target_cache_get(tc, &no_feat, x, good, 2, g_fs, &t), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "extractor"));
    /* the first good call fixes fs; another fs is refused until cleared */
    OK(ddad_target_cache_get(tc, &g_model, x, good, 2, g_fs, &t));
    CU_ASSERT_EQUAL(ddad_target_cache_get(tc, &g_model, x, good, 2, g_fs / 2, &t), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "clear"));
    ddad_target_cache_clear(tc);
    OK(ddad_target_cache_get(tc, &g_model, x, good, 2, g_fs / 2, &t));
    CU_ASSERT_EQUAL(ddad_tensor_size(t, 2), g_fs / 2);
    ddad_target_cache_free(tc);
    ddad_scope_end(mark);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"bit-exact on misses, hits and mixed batches", test_exact_on_miss_hit_and_mixed},
                                        {"byte budget", test_budget},
                                        {"errors and free", test_errors_and_free},
                                        {0}};
    int rc = ddad_test_main("nn target cache", tests);
    ddad_tensor_free(g_images);
    if (g_ready)
        ddad_model_free(&g_model);
    return rc;
}
