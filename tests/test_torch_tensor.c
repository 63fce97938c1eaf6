/* tests/test_torch_tensor.c - the C API over libtorch: values against known
 * results and against Debian's python3-torch, gradients against finite
 * differences, every error path returning a status and a message, scopes,
 * generators, AdamW against torch.optim.AdamW, no growth of memory in long
 * create/free loops, and a small conv net that learns. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "testutil.h"
#include "torch/tensor.h"

#define OK(call) CU_ASSERT_EQUAL_FATAL((call), DDAD_OK)

static float *host(const ddad_tensor_t *t)
{
    int64_t n = ddad_tensor_numel(t);
    float *buf = malloc((size_t)n * sizeof *buf + 1);
    CU_ASSERT_FATAL(buf != NULL);
    CU_ASSERT_EQUAL_FATAL(ddad_to_buffer(t, buf, (size_t)n * sizeof *buf, DDAD_DTYPE_F32), DDAD_OK);
    return buf;
}

static double scalar(const ddad_tensor_t *t)
{
    double v = NAN;
    CU_ASSERT_EQUAL(ddad_tensor_item(&v, t), DDAD_OK);
    return v;
}

static void test_creation_and_buffers(void)
{
    size_t s = ddad_scope_begin();
    int64_t shape[2] = {2, 3};
    ddad_tensor_t *z, *o, *f, *a, *b;
    OK(ddad_zeros(&z, shape, 2, DDAD_DTYPE_F32, DDAD_CPU));
    OK(ddad_ones(&o, shape, 2, DDAD_DTYPE_F32, DDAD_CPU));
    OK(ddad_full(&f, shape, 2, 2.5, DDAD_DTYPE_F32, DDAD_CPU));
    OK(ddad_arange(&a, 0, 6, 1, DDAD_DTYPE_F32, DDAD_CPU));
    CU_ASSERT_EQUAL(ddad_tensor_dim(z), 2);
    CU_ASSERT_EQUAL(ddad_tensor_size(z, -1), 3);
    CU_ASSERT_EQUAL(ddad_tensor_numel(o), 6);
    double dummy;
    CU_ASSERT_EQUAL(ddad_tensor_item(&dummy, f), DDAD_STATUS_SHAPE); /* not one element */
    float *hf = host(f), *ha = host(a);
    for (int i = 0; i < 6; i++) {
        CU_ASSERT_EQUAL(hf[i], 2.5f);
        CU_ASSERT_EQUAL(ha[i], (float)i);
    }
    free(hf);
    free(ha);
    /* round trips through every dtype */
    const double vals[4] = {-1.5, 0.0, 2.0, 255.0};
    OK(ddad_from_buffer(&b, vals, (int64_t[]){4}, 1, DDAD_DTYPE_F64));
    const ddad_dtype_t dts[] = {DDAD_DTYPE_F32, DDAD_DTYPE_F16, DDAD_DTYPE_BF16, DDAD_DTYPE_I64};
    for (size_t k = 0; k < sizeof dts / sizeof dts[0]; k++) {
        ddad_tensor_t *c;
        OK(ddad_to_dtype(&c, b, dts[k]));
        CU_ASSERT_EQUAL(ddad_tensor_dtype(c), dts[k]);
        double back[4];
        OK(ddad_to_buffer(c, back, sizeof back, DDAD_DTYPE_F64));
        for (int i = 0; i < 4; i++)
            CU_ASSERT_DOUBLE_EQUAL(back[i], dts[k] == DDAD_DTYPE_I64 ? trunc(vals[i]) : vals[i], 1e-9);
    }
    uint8_t u8[4];
    ddad_tensor_t *c8;
    OK(ddad_clamp(&c8, b, 0, 255));
    OK(ddad_to_buffer(c8, u8, sizeof u8, DDAD_DTYPE_U8));
    CU_ASSERT(u8[0] == 0 && u8[2] == 2 && u8[3] == 255);
    char desc[128];
    ddad_tensor_describe(z, desc, sizeof desc);
    CU_ASSERT_STRING_EQUAL(desc, "(2, 3) f32 cpu");
    ddad_scope_end(s);
}

static ddad_tensor_t *vec(const float *v, int64_t n)
{
    ddad_tensor_t *t = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_from_buffer(&t, v, &n, 1, DDAD_DTYPE_F32), DDAD_OK);
    return t;
}

static void test_arithmetic_and_reductions(void)
{
    size_t s = ddad_scope_begin();
    const float av[4] = {1, 2, 3, 4}, bv[4] = {10, 20, 30, 40};
    ddad_tensor_t *a = vec(av, 4), *b = vec(bv, 4), *r, *m, *v, *sd, *sum, *mx, *vals, *idx, *e, *l, *w, *cond;
    OK(ddad_add(&r, a, b));
    float *h = host(r);
    CU_ASSERT_EQUAL(h[3], 44.0f);
    free(h);
    OK(ddad_add_scaled(&r, a, b, -0.5));
    h = host(r);
    CU_ASSERT_EQUAL(h[1], -8.0f);
    free(h);
    OK(ddad_mean(&m, a));
    CU_ASSERT_DOUBLE_EQUAL(scalar(m), 2.5, 1e-7);
    int64_t d0 = 0;
    OK(ddad_var_dims(&v, a, &d0, 1, true, false));
    CU_ASSERT_DOUBLE_EQUAL(scalar(v), 5.0 / 3.0, 1e-6);
    OK(ddad_std_dims(&sd, a, &d0, 1, false, false));
    CU_ASSERT_DOUBLE_EQUAL(scalar(sd), sqrt(1.25), 1e-6);
    OK(ddad_sum(&sum, b));
    CU_ASSERT_DOUBLE_EQUAL(scalar(sum), 100.0, 1e-6);
    OK(ddad_max(&mx, b));
    CU_ASSERT_DOUBLE_EQUAL(scalar(mx), 40.0, 0);
    OK(ddad_topk(&vals, &idx, a, 2, 0, true));
    float *hv = host(vals);
    int64_t hi[2];
    OK(ddad_to_buffer(idx, hi, sizeof hi, DDAD_DTYPE_I64));
    CU_ASSERT(hv[0] == 4.0f && hv[1] == 3.0f && hi[0] == 3 && hi[1] == 2);
    free(hv);
    OK(ddad_exp(&e, a));
    OK(ddad_tensor_log(&l, e));
    h = host(l);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_DOUBLE_EQUAL(h[i], av[i], 1e-5);
    free(h);
    OK(ddad_compare_scalar(&cond, a, DDAD_CMP_GT, 2.5));
    OK(ddad_where(&w, cond, a, b));
    h = host(w);
    CU_ASSERT(h[0] == 10 && h[1] == 20 && h[2] == 3 && h[3] == 4);
    free(h);
    ddad_tensor_t *sq;
    OK(ddad_unary(&sq, a, DDAD_UNARY_SQUARE));
    h = host(sq);
    CU_ASSERT_EQUAL(h[3], 16.0f);
    free(h);
    ddad_scope_end(s);
}

static void test_conv_and_norm_known_values(void)
{
    size_t s = ddad_scope_begin();
    int64_t xs[4] = {1, 1, 3, 3}, ws[4] = {1, 1, 3, 3};
    ddad_tensor_t *x, *w, *y, *g, *gn, *m;
    OK(ddad_ones(&x, xs, 4, DDAD_DTYPE_F32, DDAD_CPU));
    OK(ddad_ones(&w, ws, 4, DDAD_DTYPE_F32, DDAD_CPU));
    OK(ddad_conv2d(&y, x, w, NULL, 1, 1, 1, 1, 1, 1, 1));
    float *h = host(y);
    const float want[9] = {4, 6, 4, 6, 9, 6, 4, 6, 4};
    for (int i = 0; i < 9; i++)
        CU_ASSERT_EQUAL(h[i], want[i]);
    free(h);
    /* group norm: zero mean, unit variance per group */
    int64_t gs[4] = {2, 8, 5, 5};
    ddad_generator_t *gen;
    OK(ddad_generator_create(&gen, 7, DDAD_CPU));
    OK(ddad_randn(&g, gs, 4, DDAD_DTYPE_F32, DDAD_CPU, gen));
    OK(ddad_group_norm(&gn, g, 4, NULL, NULL, 1e-5));
    int64_t rs[3] = {2, 4, 50}, dims[1] = {2};
    ddad_tensor_t *r, *var;
    OK(ddad_reshape(&r, gn, rs, 3));
    OK(ddad_mean_dims(&m, r, dims, 1, false));
    OK(ddad_var_dims(&var, r, dims, 1, false, false));
    float *hm = host(m), *hv = host(var);
    for (int i = 0; i < 8; i++) {
        CU_ASSERT_DOUBLE_EQUAL(hm[i], 0.0, 1e-5);
        CU_ASSERT_DOUBLE_EQUAL(hv[i], 1.0, 1e-3);
    }
    free(hm);
    free(hv);
    ddad_generator_free(gen);
    ddad_scope_end(s);
}

/* Writes a float32 raw file. */
static void write_raw(const char *path, const float *v, size_t n)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_EQUAL(fwrite(v, sizeof *v, n, f), n);
    fclose(f);
}

static float *read_raw(const char *path, size_t n)
{
    float *v = malloc(n * sizeof *v);
    FILE *f = fopen(path, "rb");
    CU_ASSERT_FATAL(f != NULL && v != NULL);
    size_t got = fread(v, sizeof *v, n, f);
    CU_ASSERT_EQUAL(got, n);
    fclose(f);
    return v;
}

/* Interpolation modes, pooling, padding, attention, softmax and a grouped
 * dilated strided convolution against python3-torch on the same inputs. */
static void test_ops_against_pytorch(void)
{
    CU_ASSERT_FATAL(ddad_test_python_has("torch,numpy"));
    char *dir = ddad_test_mkdtemp("ops");
    size_t s = ddad_scope_begin();
    ddad_generator_t *gen;
    OK(ddad_generator_create(&gen, 3, DDAD_CPU));
    int64_t xs[4] = {2, 4, 7, 5}, ws[4] = {6, 2, 3, 3}, qs[3] = {3, 10, 8};
    ddad_tensor_t *x, *w, *b, *q, *k, *v;
    OK(ddad_randn(&x, xs, 4, DDAD_DTYPE_F32, DDAD_CPU, gen));
    OK(ddad_randn(&w, ws, 4, DDAD_DTYPE_F32, DDAD_CPU, gen));
    OK(ddad_randn(&b, (int64_t[]){6}, 1, DDAD_DTYPE_F32, DDAD_CPU, gen));
    OK(ddad_randn(&q, qs, 3, DDAD_DTYPE_F32, DDAD_CPU, gen));
    OK(ddad_randn(&k, qs, 3, DDAD_DTYPE_F32, DDAD_CPU, gen));
    OK(ddad_randn(&v, qs, 3, DDAD_DTYPE_F32, DDAD_CPU, gen));
    const ddad_tensor_t *ins[] = {x, w, b, q, k, v};
    const char *names[] = {"x", "w", "b", "q", "k", "v"};
    char path[1024];
    for (int i = 0; i < 6; i++) {
        float *h = host(ins[i]);
        snprintf(path, sizeof path, "%s/%s.f32", dir, names[i]);
        write_raw(path, h, (size_t)ddad_tensor_numel(ins[i]));
        free(h);
    }
    ddad_tensor_t *outs[10];
    OK(ddad_interpolate(&outs[0], x, 11, 3, DDAD_INTERP_BILINEAR, false));
    OK(ddad_interpolate(&outs[1], x, 11, 3, DDAD_INTERP_BILINEAR, true));
    OK(ddad_interpolate(&outs[2], x, 9, 12, DDAD_INTERP_BICUBIC, false));
    OK(ddad_interpolate(&outs[3], x, 14, 10, DDAD_INTERP_NEAREST, false));
    OK(ddad_avg_pool2d(&outs[4], x, 2, 2, 0));
    OK(ddad_max_pool2d(&outs[5], x, 3, 2, 1));
    OK(ddad_pad2d(&outs[6], x, 1, 2, 0, 1, DDAD_PAD_REFLECT, 0));
    OK(ddad_conv2d(&outs[7], x, w, b, 2, 1, 2, 1, 2, 1, 2));
    OK(ddad_attention(&outs[8], q, k, v, 0));
    OK(ddad_softmax(&outs[9], x, 1));
    FILE *py = NULL;
    snprintf(path, sizeof path, "%s/oracle.py", dir);
    py = fopen(path, "w");
    CU_ASSERT_FATAL(py != NULL);
    fprintf(py,
            "import numpy as np, torch, torch.nn.functional as F, sys\n"
            "d=sys.argv[1]\n"
            "def ld(n, s): return torch.from_numpy(np.fromfile(f'{d}/{n}.f32', dtype=np.float32).reshape(s))\n"
            "x=ld('x',(2,4,7,5)); w=ld('w',(6,2,3,3)); b=ld('b',(6,)); q=ld('q',(3,10,8)); k=ld('k',(3,10,8)); v=ld('v',(3,10,8))\n"
            "outs=[F.interpolate(x,(11,3),mode='bilinear',align_corners=False),\n"
            " F.interpolate(x,(11,3),mode='bilinear',align_corners=True),\n"
            " F.interpolate(x,(9,12),mode='bicubic',align_corners=False),\n"
            " F.interpolate(x,(14,10),mode='nearest'),\n"
            " F.avg_pool2d(x,2,2), F.max_pool2d(x,3,2,1), F.pad(x,(1,2,0,1),mode='reflect'),\n"
            " F.conv2d(x,w,b,stride=(2,1),padding=(2,1),dilation=(2,1),groups=2),\n"
            " torch.softmax(torch.bmm(q,k.transpose(1,2))/8**0.5,-1)@v, torch.softmax(x,1)]\n"
            "for i,o in enumerate(outs): o.contiguous().numpy().astype(np.float32).tofile(f'{d}/out{i}.f32')\n");
    fclose(py);
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("'%s' '%s/oracle.py' '%s'", ddad_test_python(), dir, dir), 0);
    const char *what[10] = {"bilinear", "bilinear align_corners", "bicubic", "nearest", "avg_pool",
                            "max_pool", "reflect pad", "conv2d grouped/strided/dilated", "attention", "softmax"};
    for (int i = 0; i < 10; i++) {
        size_t n = (size_t)ddad_tensor_numel(outs[i]);
        float *ours = host(outs[i]);
        snprintf(path, sizeof path, "%s/out%d.f32", dir, i);
        float *ref = read_raw(path, n);
        DDAD_ASSERT_CLOSE(what[i], ours, ref, n, 1e-5, 1e-6);
        free(ours);
        free(ref);
    }
    ddad_generator_free(gen);
    ddad_scope_end(s);
    ddad_test_rmtree(dir);
    free(dir);
}

/* f(w) = sum(silu(group_norm(conv(x, w) + b))^2) in float64: autograd against
 * central finite differences. */
static double objective(const ddad_tensor_t *x, const ddad_tensor_t *w, const ddad_tensor_t *b, ddad_tensor_t **loss)
{
    ddad_tensor_t *c, *g, *a, *sq, *l;
    CU_ASSERT_EQUAL_FATAL(ddad_conv2d(&c, x, w, b, 1, 1, 1, 1, 1, 1, 1), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_group_norm(&g, c, 2, NULL, NULL, 1e-5), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_silu(&a, g), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_unary(&sq, a, DDAD_UNARY_SQUARE), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_sum(&l, sq), DDAD_OK);
    if (loss)
        *loss = l;
    return scalar(l);
}

static void test_gradients_finite_differences(void)
{
    size_t s = ddad_scope_begin();
    ddad_generator_t *gen;
    OK(ddad_generator_create(&gen, 11, DDAD_CPU));
    int64_t xs[4] = {2, 3, 5, 5}, ws[4] = {4, 3, 3, 3};
    ddad_tensor_t *x, *w, *b, *loss, *gw, *gb;
    OK(ddad_randn(&x, xs, 4, DDAD_DTYPE_F64, DDAD_CPU, gen));
    OK(ddad_randn(&w, ws, 4, DDAD_DTYPE_F64, DDAD_CPU, gen));
    OK(ddad_randn(&b, (int64_t[]){4}, 1, DDAD_DTYPE_F64, DDAD_CPU, gen));
    OK(ddad_set_requires_grad(w, true));
    OK(ddad_set_requires_grad(b, true));
    objective(x, w, b, &loss);
    OK(ddad_backward(loss));
    OK(ddad_grad(&gw, w));
    OK(ddad_grad(&gb, b));
    CU_ASSERT_FATAL(gw != NULL && gb != NULL);
    double hw[108], hb[4];
    OK(ddad_to_buffer(gw, hw, sizeof hw, DDAD_DTYPE_F64));
    OK(ddad_to_buffer(gb, hb, sizeof hb, DDAD_DTYPE_F64));
    bool was = ddad_grad_set_enabled(false);
    const double eps = 1e-6;
    double worst = 0;
    for (int i = 0; i < 108; i += 7) {
        double wv[108];
        OK(ddad_to_buffer(w, wv, sizeof wv, DDAD_DTYPE_F64));
        ddad_tensor_t *wp, *wm;
        wv[i] += eps;
        OK(ddad_from_buffer(&wp, wv, ws, 4, DDAD_DTYPE_F64));
        wv[i] -= 2 * eps;
        OK(ddad_from_buffer(&wm, wv, ws, 4, DDAD_DTYPE_F64));
        double fd = (objective(x, wp, b, NULL) - objective(x, wm, b, NULL)) / (2 * eps);
        double err = fabs(fd - hw[i]) / (1e-6 + fabs(fd));
        if (err > worst)
            worst = err;
    }
    for (int i = 0; i < 4; i++) {
        float bv_unused = 0;
        (void)bv_unused;
        double bv[4];
        OK(ddad_to_buffer(b, bv, sizeof bv, DDAD_DTYPE_F64));
        ddad_tensor_t *bp, *bm;
        bv[i] += eps;
        OK(ddad_from_buffer(&bp, bv, (int64_t[]){4}, 1, DDAD_DTYPE_F64));
        bv[i] -= 2 * eps;
        OK(ddad_from_buffer(&bm, bv, (int64_t[]){4}, 1, DDAD_DTYPE_F64));
        double fd = (objective(x, w, bp, NULL) - objective(x, w, bm, NULL)) / (2 * eps);
        double err = fabs(fd - hb[i]) / (1e-6 + fabs(fd));
        if (err > worst)
            worst = err;
    }
    ddad_grad_set_enabled(was);
    CU_ASSERT(worst < 1e-5);
    if (!(worst < 1e-5))
        fprintf(stderr, "\n  worst relative gradient error %.3g\n", worst);
    /* zero_grad drops the gradient */
    ddad_zero_grad(w);
    ddad_tensor_t *none;
    OK(ddad_grad(&none, w));
    CU_ASSERT_PTR_NULL(none);
    ddad_generator_free(gen);
    ddad_scope_end(s);
}

static void expect_fail(ddad_status_t got, ddad_status_t want, const char *needle)
{
    CU_ASSERT_EQUAL(got, want);
    const char *msg = ddad_last_error();
    CU_ASSERT(strstr(msg, needle) != NULL);
    if (got != want || !strstr(msg, needle))
        fprintf(stderr, "\n  status %s, message '%s' (wanted %s, '%s')\n", ddad_status_str(got), msg,
                ddad_status_str(want), needle);
}

static void test_error_paths(void)
{
    size_t s = ddad_scope_begin();
    size_t live = ddad_tensor_live_count();
    int64_t xs[4] = {1, 3, 8, 8}, ws[4] = {4, 5, 3, 3};
    ddad_tensor_t *x, *w, *out = (ddad_tensor_t *)0x1, *a, *b;
    OK(ddad_zeros(&x, xs, 4, DDAD_DTYPE_F32, DDAD_CPU));
    OK(ddad_zeros(&w, ws, 4, DDAD_DTYPE_F32, DDAD_CPU));
    live = ddad_tensor_live_count();
    /* channel mismatch: message names the op and both shapes */
    expect_fail(ddad_conv2d(&out, x, w, NULL, 1, 1, 1, 1, 1, 1, 1), DDAD_STATUS_SHAPE, "ddad_conv2d");
    CU_ASSERT(strstr(ddad_last_error(), "(1, 3, 8, 8)") && strstr(ddad_last_error(), "(4, 5, 3, 3)"));
    CU_ASSERT_EQUAL(out, (ddad_tensor_t *)0x1); /* untouched on failure */
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live);
    OK(ddad_zeros(&a, (int64_t[]){2, 3}, 2, DDAD_DTYPE_F32, DDAD_CPU));
    OK(ddad_zeros(&b, (int64_t[]){4, 5}, 2, DDAD_DTYPE_F32, DDAD_CPU));
    expect_fail(ddad_matmul(&out, a, b), DDAD_STATUS_SHAPE, "(2, 3)");
    expect_fail(ddad_add(&out, a, b), DDAD_STATUS_SHAPE, "ddad_add");
    expect_fail(ddad_reshape(&out, a, (int64_t[]){7}, 1), DDAD_STATUS_SHAPE, "ddad_reshape");
    expect_fail(ddad_add(&out, a, NULL), DDAD_STATUS_USAGE, "'b' is NULL");
    expect_fail(ddad_chunk((ddad_tensor_t *[4]){0}, a, 4, 1), DDAD_STATUS_USAGE, "equal chunks");
    expect_fail(ddad_topk(&out, NULL, a, 9, 1, true), DDAD_STATUS_USAGE, "outside [1, 3]");
    expect_fail(ddad_group_norm(&out, x, 2, NULL, NULL, 1e-5), DDAD_STATUS_USAGE, "divisible by groups");
    /* wrong dtype: float indices to an embedding */
    expect_fail(ddad_embedding(&out, a, b), DDAD_STATUS_USAGE, "indices must be i64");
    ddad_tensor_t *idx;
    OK(ddad_full(&idx, (int64_t[]){1}, 1, 5, DDAD_DTYPE_I64, DDAD_CPU));
    expect_fail(ddad_embedding(&out, a, idx), DDAD_STATUS_USAGE, "out of range");
    /* a device that does not exist */
    ddad_device_t dev;
    expect_fail(ddad_device_parse(&dev, "gpu0"), DDAD_STATUS_USAGE, "cpu, cuda or cuda:N");
    OK(ddad_device_parse(&dev, "cuda:3"));
    CU_ASSERT(dev.type == DDAD_DEVICE_TYPE_CUDA && dev.index == 3);
    if (!ddad_cuda_is_available()) {
        expect_fail(ddad_device_check(dev), DDAD_STATUS_DEVICE, "cuda");
        expect_fail(ddad_to_device(&out, a, dev), DDAD_STATUS_DEVICE, "ddad_to_device");
        ddad_generator_t *g;
        expect_fail(ddad_generator_create(&g, 1, dev), DDAD_STATUS_DEVICE, "cuda");
    }
    /* NaN input where it matters */
    ddad_tensor_t *nan, *lg;
    OK(ddad_full(&nan, (int64_t[]){3}, 1, -1.0, DDAD_DTYPE_F32, DDAD_CPU));
    OK(ddad_tensor_log(&lg, nan));
    bool finite = true;
    OK(ddad_all_finite(&finite, lg));
    CU_ASSERT_FALSE(finite);
    /* buffer of the wrong size */
    float small[2];
    expect_fail(ddad_to_buffer(a, small, sizeof small, DDAD_DTYPE_F32), DDAD_STATUS_USAGE, "buffer holds 8 bytes");
    /* backward on something without grad */
    ddad_tensor_t *sum;
    OK(ddad_sum(&sum, a));
    expect_fail(ddad_backward(sum), DDAD_STATUS_USAGE, "requires grad");
    expect_fail(ddad_backward(a), DDAD_STATUS_USAGE, "exactly one element");
    /* using a freed handle */
    ddad_tensor_t *tmp;
    OK(ddad_zeros(&tmp, (int64_t[]){2}, 1, DDAD_DTYPE_F32, DDAD_CPU));
    ddad_tensor_free(tmp);
    expect_fail(ddad_add(&out, tmp, tmp), DDAD_STATUS_USAGE, "already freed");
    /* invalid optimizer options */
    ddad_adamw_t *opt;
    expect_fail(ddad_adamw_create(&opt, &a, 1, (ddad_adamw_options_t){-1, 0.9, 0.999, 1e-8, 0}), DDAD_STATUS_USAGE,
                "invalid options");
    ddad_scope_end(s);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * 4;
}

static void test_no_memory_growth(void)
{
    size_t live0 = ddad_tensor_live_count();
    int64_t shape[2] = {64, 64};
    long before = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 20000; i++) {
            ddad_tensor_t *t, *u;
            CU_ASSERT_EQUAL_FATAL(ddad_ones(&t, shape, 2, DDAD_DTYPE_F32, DDAD_CPU), DDAD_OK);
            size_t s = ddad_scope_begin();
            CU_ASSERT_EQUAL_FATAL(ddad_mul_scalar(&u, t, 2.0), DDAD_OK);
            ddad_tensor_t *v;
            CU_ASSERT_EQUAL_FATAL(ddad_add(&v, u, t), DDAD_OK);
            ddad_scope_end(s);
            ddad_tensor_free(t);
            /* an error path must not leak either */
            ddad_tensor_t *bad;
            ddad_reshape(&bad, t == NULL ? NULL : NULL, shape, 1);
        }
        if (round == 0)
            before = rss_kb(); /* after warm-up: allocator pools filled */
    }
    long after = rss_kb();
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live0);
    CU_ASSERT(after - before < 8 * 1024);
    if (after - before >= 8 * 1024)
        fprintf(stderr, "\n  resident memory grew by %ld kB over 40000 iterations\n", after - before);
}

static void test_scopes(void)
{
    size_t live0 = ddad_tensor_live_count();
    ddad_tensor_t *kept, *persisted, *inner_kept;
    size_t outer = ddad_scope_begin();
    OK(ddad_zeros(&persisted, (int64_t[]){3}, 1, DDAD_DTYPE_F32, DDAD_CPU));
    ddad_tensor_persist(persisted);
    size_t inner = ddad_scope_begin();
    ddad_tensor_t *tmp;
    OK(ddad_zeros(&tmp, (int64_t[]){3}, 1, DDAD_DTYPE_F32, DDAD_CPU));
    OK(ddad_ones(&inner_kept, (int64_t[]){3}, 1, DDAD_DTYPE_F32, DDAD_CPU));
    ddad_tensor_keep(inner_kept); /* moves to the outer scope */
    ddad_scope_end(inner);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live0 + 2);
    CU_ASSERT(ddad_tensor_defined(inner_kept));
    OK(ddad_add(&kept, inner_kept, inner_kept));
    ddad_tensor_keep(kept); /* no enclosing scope: caller owns it */
    ddad_scope_end(outer);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live0 + 2);
    float *h = host(kept);
    CU_ASSERT_EQUAL(h[0], 2.0f);
    free(h);
    ddad_tensor_free(kept);
    ddad_tensor_free(persisted);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live0);
}

static void test_generators(void)
{
    size_t s = ddad_scope_begin();
    ddad_generator_t *g1, *g2;
    OK(ddad_generator_create(&g1, 42, DDAD_CPU));
    OK(ddad_generator_create(&g2, 42, DDAD_CPU));
    ddad_tensor_t *a, *b, *state, *c, *d;
    OK(ddad_randn(&a, (int64_t[]){16}, 1, DDAD_DTYPE_F32, DDAD_CPU, g1));
    OK(ddad_randn(&b, (int64_t[]){16}, 1, DDAD_DTYPE_F32, DDAD_CPU, g2));
    float *ha = host(a), *hb = host(b);
    CU_ASSERT_EQUAL(memcmp(ha, hb, 16 * sizeof(float)), 0);
    free(ha);
    free(hb);
    OK(ddad_generator_get_state(g1, &state));
    OK(ddad_rand(&c, (int64_t[]){16}, 1, DDAD_DTYPE_F32, DDAD_CPU, g1));
    OK(ddad_generator_set_state(g1, state));
    OK(ddad_rand(&d, (int64_t[]){16}, 1, DDAD_DTYPE_F32, DDAD_CPU, g1));
    float *hc = host(c), *hd = host(d);
    CU_ASSERT_EQUAL(memcmp(hc, hd, 16 * sizeof(float)), 0);
    free(hc);
    free(hd);
    /* the same numbers as torch.Generator().manual_seed(42) in python */
    CU_ASSERT_FATAL(ddad_test_python_has("torch"));
    char *dir = ddad_test_mkdtemp("gen");
    char path[1024];
    snprintf(path, sizeof path, "%s/ref.f32", dir);
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("'%s' -c \"import torch; g=torch.Generator().manual_seed(42); "
                                           "torch.randn(16, generator=g).numpy().tofile('%s')\"",
                                           ddad_test_python(), path),
                          0);
    float *ref = read_raw(path, 16);
    ha = host(a);
    CU_ASSERT_EQUAL(memcmp(ha, ref, 16 * sizeof(float)), 0);
    free(ha);
    free(ref);
    ddad_test_rmtree(dir);
    free(dir);
    ddad_generator_free(g1);
    ddad_generator_free(g2);
    ddad_scope_end(s);
}

/* Five AdamW steps on a quadratic, with weight decay: same numbers as
 * torch.optim.AdamW. */
static void test_adamw_matches_pytorch(void)
{
    CU_ASSERT_FATAL(ddad_test_python_has("torch"));
    size_t s = ddad_scope_begin();
    const float w0[6] = {0.5f, -1.0f, 2.0f, 0.0f, 3.0f, -0.25f};
    const float tv[6] = {1.0f, 1.0f, -1.0f, 0.5f, 0.0f, 2.0f};
    ddad_tensor_t *w, *target;
    OK(ddad_from_buffer(&w, w0, (int64_t[]){6}, 1, DDAD_DTYPE_F32));
    ddad_tensor_persist(w);
    OK(ddad_from_buffer(&target, tv, (int64_t[]){6}, 1, DDAD_DTYPE_F32));
    OK(ddad_set_requires_grad(w, true));
    ddad_adamw_t *opt;
    OK(ddad_adamw_create(&opt, &w, 1, (ddad_adamw_options_t){0.1, 0.9, 0.999, 1e-8, 0.05}));
    for (int step = 0; step < 5; step++) {
        size_t s2 = ddad_scope_begin();
        ddad_tensor_t *d, *sq, *loss;
        OK(ddad_sub(&d, w, target));
        OK(ddad_unary(&sq, d, DDAD_UNARY_SQUARE));
        OK(ddad_sum(&loss, sq));
        ddad_adamw_zero_grad(opt);
        OK(ddad_backward(loss));
        OK(ddad_adamw_step(opt));
        ddad_scope_end(s2);
    }
    CU_ASSERT_EQUAL(ddad_adamw_get_step(opt), 5);
    float *ours = host(w);
    char *dir = ddad_test_mkdtemp("adamw");
    char path[1024];
    snprintf(path, sizeof path, "%s/ref.f32", dir);
    CU_ASSERT_EQUAL_FATAL(
        ddad_test_system("'%s' -c \"import torch\n"
                         "w=torch.tensor([0.5,-1.0,2.0,0.0,3.0,-0.25],requires_grad=True)\n"
                         "t=torch.tensor([1.0,1.0,-1.0,0.5,0.0,2.0])\n"
                         "o=torch.optim.AdamW([w],lr=0.1,betas=(0.9,0.999),eps=1e-8,weight_decay=0.05)\n"
                         "for _ in range(5):\n"
                         "  o.zero_grad(); ((w-t)**2).sum().backward(); o.step()\n"
                         "w.detach().numpy().tofile('%s')\"",
                         ddad_test_python(), path),
        0);
    float *ref = read_raw(path, 6);
    DDAD_ASSERT_CLOSE("adamw weights", ours, ref, 6, 1e-6, 1e-7);
    free(ours);
    free(ref);
    ddad_test_rmtree(dir);
    free(dir);
    ddad_adamw_free(opt);
    ddad_tensor_free(w);
    ddad_scope_end(s);
}

/* A two-layer conv net learns to denoise smooth images: the loss after 300
 * AdamW steps is well below the loss at the start. */
static void test_small_convnet_trains(void)
{
    ddad_set_num_threads(2);
    ddad_generator_t *gen;
    OK(ddad_generator_create(&gen, 5, DDAD_CPU));
    int64_t w1s[4] = {16, 3, 3, 3}, w2s[4] = {3, 16, 3, 3};
    ddad_tensor_t *w1, *b1, *w2, *b2;
    OK(ddad_randn(&w1, w1s, 4, DDAD_DTYPE_F32, DDAD_CPU, gen));
    OK(ddad_zeros(&b1, (int64_t[]){16}, 1, DDAD_DTYPE_F32, DDAD_CPU));
    OK(ddad_randn(&w2, w2s, 4, DDAD_DTYPE_F32, DDAD_CPU, gen));
    OK(ddad_zeros(&b2, (int64_t[]){3}, 1, DDAD_DTYPE_F32, DDAD_CPU));
    OK(ddad_mul_scalar_(w1, 0.2));
    OK(ddad_mul_scalar_(w2, 0.1));
    ddad_tensor_t *params[4] = {w1, b1, w2, b2};
    for (int i = 0; i < 4; i++)
        OK(ddad_set_requires_grad(params[i], true));
    ddad_adamw_t *opt;
    OK(ddad_adamw_create(&opt, params, 4, (ddad_adamw_options_t){3e-3, 0.9, 0.999, 1e-8, 0.0}));
    double first = 0, last = 0;
    for (int step = 0; step < 300; step++) {
        size_t s = ddad_scope_begin();
        ddad_tensor_t *base, *clean, *noise, *noisy, *h, *a, *y, *d, *sq, *loss;
        int64_t bs[4] = {8, 3, 4, 4}, ns[4] = {8, 3, 16, 16};
        OK(ddad_randn(&base, bs, 4, DDAD_DTYPE_F32, DDAD_CPU, gen));
        OK(ddad_interpolate(&clean, base, 16, 16, DDAD_INTERP_BILINEAR, false));
        OK(ddad_randn(&noise, ns, 4, DDAD_DTYPE_F32, DDAD_CPU, gen));
        OK(ddad_add_scaled(&noisy, clean, noise, 0.5));
        OK(ddad_conv2d(&h, noisy, w1, b1, 1, 1, 1, 1, 1, 1, 1));
        OK(ddad_silu(&a, h));
        OK(ddad_conv2d(&y, a, w2, b2, 1, 1, 1, 1, 1, 1, 1));
        OK(ddad_sub(&d, y, noise));
        OK(ddad_unary(&sq, d, DDAD_UNARY_SQUARE));
        OK(ddad_mean(&loss, sq));
        double l = scalar(loss);
        if (step < 10)
            first += l / 10;
        if (step >= 290)
            last += l / 10;
        ddad_adamw_zero_grad(opt);
        OK(ddad_backward(loss));
        OK(ddad_adamw_step(opt));
        ddad_scope_end(s);
    }
    fprintf(stderr, "\n  conv net loss: first 10 steps %.4f, last 10 steps %.4f\n", first, last);
    CU_ASSERT(last < 0.5 * first);
    ddad_adamw_free(opt);
    for (int i = 0; i < 4; i++)
        ddad_tensor_free(params[i]);
    ddad_generator_free(gen);
}

static void test_clip_grad_norm(void)
{
    size_t s = ddad_scope_begin();
    const float v[2] = {3, 4};
    ddad_tensor_t *w = vec(v, 2), *sq, *half, *loss, *g;
    ddad_tensor_persist(w);
    OK(ddad_set_requires_grad(w, true));
    OK(ddad_unary(&sq, w, DDAD_UNARY_SQUARE));
    OK(ddad_sum(&half, sq));
    OK(ddad_mul_scalar(&loss, half, 0.5)); /* grad = w = (3, 4), norm 5 */
    OK(ddad_backward(loss));
    double total = 0;
    OK(ddad_clip_grad_norm(&w, 1, 1.0, &total));
    CU_ASSERT_DOUBLE_EQUAL(total, 5.0, 1e-5);
    OK(ddad_grad(&g, w));
    float *h = host(g);
    CU_ASSERT_DOUBLE_EQUAL(h[0], 0.6, 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(h[1], 0.8, 1e-5);
    free(h);
    ddad_tensor_free(w);
    ddad_scope_end(s);
}

int main(void)
{
    ddad_set_num_threads(2);
    static const ddad_test_t tests[] = {
        {"creation and buffers", test_creation_and_buffers},
        {"arithmetic and reductions", test_arithmetic_and_reductions},
        {"conv and group norm known values", test_conv_and_norm_known_values},
        {"ops against python3-torch", test_ops_against_pytorch},
        {"gradients against finite differences", test_gradients_finite_differences},
        {"error paths return status and message", test_error_paths},
        {"no memory growth in create/free loops", test_no_memory_growth},
        {"scopes", test_scopes},
        {"generators", test_generators},
        {"AdamW matches torch.optim.AdamW", test_adamw_matches_pytorch},
        {"clip grad norm", test_clip_grad_norm},
        {"small conv net trains", test_small_convnet_trains},
        {NULL, NULL},
    };
    return ddad_test_main("torch tensor API", tests);
}
