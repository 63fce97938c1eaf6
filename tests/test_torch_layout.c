/* tests/test_torch_layout.c - memory formats (core/torch/tensor_layout.h):
 * strides against the NCHW / NHWC formulas, values unchanged by a
 * conversion, in-place conversion of a parameter shared with an optimizer
 * (same handle, still a leaf, AdamW keeps working), the operations a UNet
 * uses giving the same results and keeping channels-last on the output, and
 * every error path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "torch/tensor.h"
#include "torch/tensor_layout.h"

#define OK(call) CU_ASSERT_EQUAL_FATAL((call), DDAD_OK)

static float *host(const ddad_tensor_t *t)
{
    int64_t n = ddad_tensor_numel(t);
    float *buf = malloc((size_t)n * sizeof *buf + 1);
    CU_ASSERT_FATAL(buf != NULL);
    CU_ASSERT_EQUAL_FATAL(ddad_to_buffer(t, buf, (size_t)n * sizeof *buf, DDAD_DTYPE_F32), DDAD_OK);
    return buf;
}

static void assert_strides(const ddad_tensor_t *t, const int64_t *expect, int n)
{
    int64_t s[DDAD_MAX_DIMS] = {0};
    CU_ASSERT_EQUAL_FATAL(ddad_tensor_strides(t, s, DDAD_MAX_DIMS), n);
    for (int i = 0; i < n; i++) {
        if (s[i] != expect[i])
            fprintf(stderr, "\n  stride %d: %lld, expected %lld\n", i, (long long)s[i], (long long)expect[i]);
        CU_ASSERT_EQUAL(s[i], expect[i]);
    }
}

static void test_strides_and_values(void)
{
    size_t mark = ddad_scope_begin();
    const int64_t N = 2, C = 3, H = 4, W = 5;
    ddad_tensor_t *a, *x, *cl, *back, *same;
    OK(ddad_arange(&a, 0, (double)(N * C * H * W), 1, DDAD_DTYPE_F32, DDAD_CPU));
    OK(ddad_reshape(&x, a, (int64_t[]){N, C, H, W}, 4));
    assert_strides(x, (int64_t[]){C * H * W, H * W, W, 1}, 4);
    CU_ASSERT_TRUE(ddad_tensor_is_memory_format(x, DDAD_MEMORY_FORMAT_CONTIGUOUS));
    CU_ASSERT_FALSE(ddad_tensor_is_memory_format(x, DDAD_MEMORY_FORMAT_CHANNELS_LAST));

    OK(ddad_to_memory_format(&cl, x, DDAD_MEMORY_FORMAT_CHANNELS_LAST));
    /* NHWC in memory: C varies fastest, then W, then H, then N */
    assert_strides(cl, (int64_t[]){H * W * C, 1, W * C, C}, 4);
    CU_ASSERT_TRUE(ddad_tensor_is_memory_format(cl, DDAD_MEMORY_FORMAT_CHANNELS_LAST));
    CU_ASSERT_FALSE(ddad_tensor_is_memory_format(cl, DDAD_MEMORY_FORMAT_CONTIGUOUS));
    int64_t shape[4];
    CU_ASSERT_EQUAL(ddad_tensor_shape(cl, shape, 4), 4);
    CU_ASSERT(shape[0] == N && shape[1] == C && shape[2] == H && shape[3] == W);
    float *hv = host(cl); /* to_buffer writes the logical (N, C, H, W) order */
    for (int64_t i = 0; i < N * C * H * W; i++)
        CU_ASSERT_EQUAL(hv[i], (float)i);
    free(hv);

    OK(ddad_to_memory_format(&back, cl, DDAD_MEMORY_FORMAT_CONTIGUOUS));
    assert_strides(back, (int64_t[]){C * H * W, H * W, W, 1}, 4);
    /* the existing ddad_channels_last of tensor.h gives the same layout */
    OK(ddad_channels_last(&same, x));
    assert_strides(same, (int64_t[]){H * W * C, 1, W * C, C}, 4);

    /* contiguous works for any rank */
    ddad_tensor_t *v, *vc;
    OK(ddad_reshape(&v, a, (int64_t[]){N * C, H * W}, 2));
    OK(ddad_to_memory_format(&vc, v, DDAD_MEMORY_FORMAT_CONTIGUOUS));
    assert_strides(vc, (int64_t[]){H * W, 1}, 2);
    CU_ASSERT_STRING_EQUAL(ddad_memory_format_str(DDAD_MEMORY_FORMAT_CHANNELS_LAST), "channels_last");
    CU_ASSERT_STRING_EQUAL(ddad_memory_format_str(DDAD_MEMORY_FORMAT_CONTIGUOUS), "contiguous");
    CU_ASSERT_STRING_EQUAL(ddad_memory_format_str((ddad_memory_format_t)9), "unknown");
    ddad_scope_end(mark);
}

static void test_errors(void)
{
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *x3, *x4, *out = NULL;
    OK(ddad_zeros(&x3, (int64_t[]){2, 3, 4}, 3, DDAD_DTYPE_F32, DDAD_CPU));
    OK(ddad_zeros(&x4, (int64_t[]){1, 2, 3, 4}, 4, DDAD_DTYPE_F32, DDAD_CPU));
    CU_ASSERT_EQUAL(ddad_to_memory_format(&out, x3, DDAD_MEMORY_FORMAT_CHANNELS_LAST), DDAD_STATUS_SHAPE);
    CU_ASSERT_PTR_NULL(out);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "ddad_to_memory_format"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "4-D"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "(2, 3, 4)"));
    CU_ASSERT_EQUAL(ddad_tensor_set_memory_format_(x3, DDAD_MEMORY_FORMAT_CHANNELS_LAST), DDAD_STATUS_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "ddad_tensor_set_memory_format_"));
    CU_ASSERT_EQUAL(ddad_to_memory_format(&out, x4, (ddad_memory_format_t)7), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "unknown memory format 7"));
    CU_ASSERT_EQUAL(ddad_tensor_set_memory_format_(x4, (ddad_memory_format_t)7), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_to_memory_format(&out, NULL, DDAD_MEMORY_FORMAT_CONTIGUOUS), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_to_memory_format(NULL, x4, DDAD_MEMORY_FORMAT_CONTIGUOUS), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_tensor_set_memory_format_(NULL, DDAD_MEMORY_FORMAT_CONTIGUOUS), DDAD_STATUS_USAGE);
    CU_ASSERT_FALSE(ddad_tensor_is_memory_format(NULL, DDAD_MEMORY_FORMAT_CONTIGUOUS));
    CU_ASSERT_FALSE(ddad_tensor_is_memory_format(x3, DDAD_MEMORY_FORMAT_CHANNELS_LAST));
    CU_ASSERT_FALSE(ddad_tensor_is_memory_format(x4, (ddad_memory_format_t)7));
    int64_t s[4];
    CU_ASSERT_EQUAL(ddad_tensor_strides(NULL, s, 4), 0);
    ddad_scope_end(mark);
}

/* A parameter converted in place after the optimizer took it: the optimizer
 * and a second handle see the new layout, the parameter stays a trainable
 * leaf, and the updates equal those of an unconverted twin. */
static void test_in_place_parameter(void)
{
    size_t mark = ddad_scope_begin();
    ddad_generator_t *gen;
    OK(ddad_generator_create(&gen, 7, DDAD_CPU));
    ddad_tensor_t *w0, *w, *twin, *alias, *x;
    OK(ddad_randn(&w0, (int64_t[]){8, 4, 3, 3}, 4, DDAD_DTYPE_F32, DDAD_CPU, gen));
    OK(ddad_randn(&x, (int64_t[]){2, 4, 6, 6}, 4, DDAD_DTYPE_F32, DDAD_CPU, gen));
    OK(ddad_clone(&w, w0));
    OK(ddad_clone(&twin, w0));
    ddad_tensor_persist(w);
    ddad_tensor_persist(twin);
    OK(ddad_set_requires_grad(w, true));
    OK(ddad_set_requires_grad(twin, true));
    ddad_adamw_t *opt_w, *opt_t;
    const ddad_adamw_options_t o = {1e-2, 0.9, 0.999, 1e-8, 0.01};
    OK(ddad_adamw_create(&opt_w, &w, 1, o));
    OK(ddad_adamw_create(&opt_t, &twin, 1, o));
    OK(ddad_tensor_ref(&alias, w));

    OK(ddad_tensor_set_memory_format_(w, DDAD_MEMORY_FORMAT_CHANNELS_LAST));
    CU_ASSERT_TRUE(ddad_tensor_is_memory_format(w, DDAD_MEMORY_FORMAT_CHANNELS_LAST));
    CU_ASSERT_TRUE(ddad_tensor_is_memory_format(alias, DDAD_MEMORY_FORMAT_CHANNELS_LAST));
    CU_ASSERT_TRUE(ddad_requires_grad(w));
    /* converting again is a no-op */
    OK(ddad_tensor_set_memory_format_(w, DDAD_MEMORY_FORMAT_CHANNELS_LAST));

    for (int step = 0; step < 3; step++) {
        size_t s2 = ddad_scope_begin();
        ddad_tensor_t *y, *yt, *sq, *sqt, *l, *lt;
        OK(ddad_conv2d(&y, x, w, NULL, 1, 1, 1, 1, 1, 1, 1));
        OK(ddad_conv2d(&yt, x, twin, NULL, 1, 1, 1, 1, 1, 1, 1));
        OK(ddad_unary(&sq, y, DDAD_UNARY_SQUARE));
        OK(ddad_unary(&sqt, yt, DDAD_UNARY_SQUARE));
        OK(ddad_mean(&l, sq));
        OK(ddad_mean(&lt, sqt));
        ddad_adamw_zero_grad(opt_w);
        ddad_adamw_zero_grad(opt_t);
        OK(ddad_backward(l));
        OK(ddad_backward(lt));
        OK(ddad_adamw_step(opt_w));
        OK(ddad_adamw_step(opt_t));
        ddad_scope_end(s2);
    }
    /* the update went to the converted tensor through the optimizer's handle */
    float *hw = host(w), *ht = host(twin), *h0 = host(w0);
    DDAD_ASSERT_CLOSE("AdamW on a channels-last parameter", hw, ht, 8 * 4 * 9, 1e-5, 1e-6);
    CU_ASSERT(ddad_test_max_abs_diff(hw, h0, 8 * 4 * 9) > 1e-3); /* it did move */
    free(hw);
    free(ht);
    free(h0);
    CU_ASSERT_TRUE(ddad_tensor_is_memory_format(w, DDAD_MEMORY_FORMAT_CHANNELS_LAST));
    ddad_adamw_free(opt_w);
    ddad_adamw_free(opt_t);
    ddad_tensor_free(w);
    ddad_tensor_free(twin);
    ddad_generator_free(gen);
    ddad_scope_end(mark);
}

/* conv -> group norm -> silu -> upsample -> avg pool, and the gradients of
 * input and weight: same values in both formats, and the activations stay
 * channels-last once the input is (what makes the format pay off). */
static void test_unet_ops_same_values(void)
{
    size_t mark = ddad_scope_begin();
    ddad_generator_t *gen;
    OK(ddad_generator_create(&gen, 3, DDAD_CPU));
    ddad_tensor_t *x, *w, *b;
    OK(ddad_randn(&x, (int64_t[]){2, 32, 8, 8}, 4, DDAD_DTYPE_F32, DDAD_CPU, gen));
    OK(ddad_randn(&w, (int64_t[]){64, 32, 3, 3}, 4, DDAD_DTYPE_F32, DDAD_CPU, gen));
    OK(ddad_randn(&b, (int64_t[]){64}, 1, DDAD_DTYPE_F32, DDAD_CPU, gen));
    float *res[2], *gx[2], *gw[2];
    bool out_cl[2] = {false, false};
    for (int k = 0; k < 2; k++) {
        size_t s2 = ddad_scope_begin();
        ddad_tensor_t *xi, *wi, *h, *y, *loss, *sq, *g;
        ddad_memory_format_t f = k ? DDAD_MEMORY_FORMAT_CHANNELS_LAST : DDAD_MEMORY_FORMAT_CONTIGUOUS;
        OK(ddad_to_memory_format(&xi, x, f));
        OK(ddad_to_memory_format(&wi, w, f));
        OK(ddad_detach(&xi, xi));
        OK(ddad_detach(&wi, wi));
        OK(ddad_set_requires_grad(xi, true));
        OK(ddad_set_requires_grad(wi, true));
        OK(ddad_conv2d(&h, xi, wi, b, 1, 1, 1, 1, 1, 1, 1));
        OK(ddad_group_norm(&h, h, 32, NULL, NULL, 1e-5));
        OK(ddad_silu(&h, h));
        OK(ddad_interpolate(&h, h, 16, 16, DDAD_INTERP_NEAREST, false));
        OK(ddad_avg_pool2d(&y, h, 2, 2, 0));
        out_cl[k] = ddad_tensor_is_memory_format(y, DDAD_MEMORY_FORMAT_CHANNELS_LAST);
        res[k] = host(y);
        OK(ddad_unary(&sq, y, DDAD_UNARY_SQUARE));
        OK(ddad_sum(&loss, sq));
        OK(ddad_backward(loss));
        OK(ddad_grad(&g, xi));
        gx[k] = host(g);
        OK(ddad_grad(&g, wi));
        gw[k] = host(g);
        ddad_scope_end(s2);
    }
    CU_ASSERT_FALSE(out_cl[0]);
    CU_ASSERT_TRUE(out_cl[1]);
    DDAD_ASSERT_CLOSE("forward, channels-last vs contiguous", res[1], res[0], 2 * 64 * 8 * 8, 1e-5, 1e-6);
    DDAD_ASSERT_CLOSE("input gradient", gx[1], gx[0], 2 * 32 * 8 * 8, 1e-4, 1e-6);
    DDAD_ASSERT_CLOSE("weight gradient", gw[1], gw[0], 64 * 32 * 9, 1e-4, 1e-6);
    for (int k = 0; k < 2; k++) {
        free(res[k]);
        free(gx[k]);
        free(gw[k]);
    }
    ddad_generator_free(gen);
    ddad_scope_end(mark);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), 0);
}

int main(void)
{
    ddad_set_num_threads(2);
    static const ddad_test_t tests[] = {{"strides and values", test_strides_and_values},
                                        {"errors", test_errors},
                                        {"in-place parameter with AdamW", test_in_place_parameter},
                                        {"UNet operations in both formats", test_unet_ops_same_values},
                                        {0}};
    return ddad_test_main("torch tensor layout", tests);
}
