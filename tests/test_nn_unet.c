/* tests/test_nn_unet.c - the ADM UNet + feature head against the fixtures
 * computed by the authors' code (unet_small.h5), and its parameter layout
 * against the paper model's state_dict listing (adm256_keys.txt). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5io.h"
#include "nn/params.h"
#include "nn/tensor_h5.h"
#include "nn/unet.h"
#include "testutil.h"

#define REL 1e-4
#define ABS 1e-6

/* The options of unet_small.h5 (README section 1). */
static void small_options(ddad_unet_options_t *o)
{
    ddad_unet_options_paper(o);
    o->image_size = 32;
    o->model_channels = 32;
    o->num_res_blocks = 2;
    o->n_channel_mult = 4;
    for (int i = 0; i < 4; i++)
        o->channel_mult[i] = 1;
    o->n_attention_resolutions = 2;
    o->attention_resolutions[0] = 16;
    o->attention_resolutions[1] = 8;
    o->num_head_channels = 8;
    o->num_classes = 15;
    o->feature_tap = 10;
    o->feat_channels = 272;
}

/* ---- names and shapes --------------------------------------------------------- */

typedef struct entry {
    char name[DDAD_PARAM_NAME_MAX];
    int64_t shape[4];
    int ndim;
} entry_t;

typedef struct list {
    entry_t *e;
    size_t n, cap;
} list_t;

static void collect(void *user, const char *name, const int64_t *shape, int ndim)
{
    list_t *l = user;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 512;
        l->e = realloc(l->e, l->cap * sizeof *l->e);
    }
    entry_t *e = &l->e[l->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->ndim = ndim;
    for (int i = 0; i < ndim && i < 4; i++)
        e->shape[i] = shape[i];
}

static void shape_str(const entry_t *e, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < e->ndim; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? "x%lld" : "%lld", (long long)e->shape[i]);
}

/* Section `tag` ("[A]" or "[B]") of adm256_keys.txt into a list. */
static list_t read_keys_section(const char *tag, long long *declared_tensors, long long *declared_params)
{
    list_t l = {0};
    FILE *f = fopen(ddad_test_fixture("adm256_keys.txt"), "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[512];
    int in = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!in) {
            if (strncmp(line, tag, strlen(tag)) == 0) {
                in = 1;
                const char *p = strstr(line, "): ");
                if (p)
                    sscanf(p, "): %lld tensors, %lld parameters", declared_tensors, declared_params);
            }
            continue;
        }
        if (!line[0] || line[0] == '[')
            break;
        char *tab = strchr(line, '\t');
        CU_ASSERT_PTR_NOT_NULL_FATAL(tab);
        *tab = 0;
        int64_t shape[4];
        int nd = 0;
        for (char *p = tab + 1; *p && nd < 4;) {
            shape[nd++] = strtoll(p, &p, 10);
            if (*p == 'x')
                p++;
        }
        collect(&l, line, shape, nd);
    }
    fclose(f);
    return l;
}

static void compare_lists(const list_t *ours, const list_t *ref)
{
    CU_ASSERT_EQUAL(ours->n, ref->n);
    size_t n = ours->n < ref->n ? ours->n : ref->n;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        char a[64], b[64];
        shape_str(&ours->e[i], a, sizeof a);
        shape_str(&ref->e[i], b, sizeof b);
        if (strcmp(ours->e[i].name, ref->e[i].name) != 0 || strcmp(a, b) != 0) {
            if (bad++ < 5)
                fprintf(stderr, "\n  #%zu: ours %s %s, reference %s %s", i, ours->e[i].name, a, ref->e[i].name, b);
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_paper_layout(void)
{
    DDAD_TEST_NEED_FIXTURE("adm256_keys.txt");
    long long nt = 0, np = 0;
    list_t ref = read_keys_section("[A]", &nt, &np);
    CU_ASSERT_EQUAL(nt, 571);
    CU_ASSERT_EQUAL(np, 552970006LL);
    CU_ASSERT_EQUAL(ref.n, 571);
    ddad_unet_options_t o;
    ddad_unet_options_paper(&o);
    list_t ours = {0};
    int64_t total = 0;
    size_t live = ddad_tensor_live_count();
    CU_ASSERT_EQUAL_FATAL(ddad_unet_enumerate_params(&o, collect, &ours, &total), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live); /* nothing allocated */
    CU_ASSERT_EQUAL(total, 552970006LL);
    compare_lists(&ours, &ref);
    free(ours.e);
    free(ref.e);

    /* section B: the unmodified OpenAI model (1000 classes, no feature head) */
    ref = read_keys_section("[B]", &nt, &np);
    CU_ASSERT_EQUAL(ref.n, 567);
    o.num_classes = 1000;
    o.feature_tap = -1;
    ours = (list_t){0};
    CU_ASSERT_EQUAL_FATAL(ddad_unet_enumerate_params(&o, collect, &ours, &total), DDAD_OK);
    CU_ASSERT_EQUAL(total, 553838086LL);
    CU_ASSERT_EQUAL(total, np);
    compare_lists(&ours, &ref);
    free(ours.e);
    free(ref.e);
}

static void test_small_layout_matches_file(void)
{
    DDAD_TEST_NEED_FIXTURE("unet_small.h5");
    ddad_unet_options_t o;
    small_options(&o);
    list_t ours = {0};
    int64_t total = 0;
    CU_ASSERT_EQUAL_FATAL(ddad_unet_enumerate_params(&o, collect, &ours, &total), DDAD_OK);
    CU_ASSERT_EQUAL(ours.n, 385);
    CU_ASSERT_EQUAL(total, 970518);
    ddad_h5_t *f;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, ddad_test_fixture("unet_small.h5"), DDAD_H5_READ), DDAD_OK);
    int bad = 0;
    for (size_t i = 0; i < ours.n; i++) {
        char path[256];
        int64_t shape[DDAD_H5_MAX_DIMS];
        int nd = 0;
        snprintf(path, sizeof path, "weights/%s", ours.e[i].name);
        if (ddad_h5_shape(f, path, shape, &nd) != DDAD_OK || nd != ours.e[i].ndim ||
            memcmp(shape, ours.e[i].shape, (size_t)nd * sizeof(int64_t)) != 0) {
            if (bad++ < 5)
                fprintf(stderr, "\n  %s: missing or wrong shape in the file", ours.e[i].name);
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    ddad_h5_close(f);
    free(ours.e);
}

/* ---- the forward against the fixture ----------------------------------------------- */

typedef struct taps {
    float *te, *emb, *in_last, *mid, *tap_h;
    double stats[25][4];
    int64_t shapes[25][4];
    int n_blocks;
} taps_t;

static float *host_copy(const ddad_tensor_t *t)
{
    size_t n = (size_t)ddad_tensor_numel(t);
    float *b = malloc(n * sizeof *b);
    if (ddad_to_buffer(t, b, n * sizeof *b, DDAD_DTYPE_F32) != DDAD_OK) {
        free(b);
        return NULL;
    }
    return b;
}

static void hook(void *user, const char *name, const ddad_tensor_t *t)
{
    taps_t *tp = user;
    if (!strcmp(name, "timestep_embedding"))
        tp->te = host_copy(t);
    else if (!strcmp(name, "emb"))
        tp->emb = host_copy(t);
    if (!strcmp(name, "input_blocks.11"))
        tp->in_last = host_copy(t);
    if (!strcmp(name, "middle_block"))
        tp->mid = host_copy(t);
    if (!strcmp(name, "output_blocks.10"))
        tp->tap_h = host_copy(t);
    if (!strncmp(name, "input_blocks.", 13) || !strcmp(name, "middle_block") || !strncmp(name, "output_blocks.", 14)) {
        int i = tp->n_blocks++;
        if (i >= 25)
            return;
        float *b = host_copy(t);
        size_t n = (size_t)ddad_tensor_numel(t);
        double s = 0, s2 = 0, mx = 0, as = 0;
        for (size_t k = 0; k < n; k++)
            s += b[k];
        double mean = s / (double)n;
        for (size_t k = 0; k < n; k++) {
            double d = b[k] - mean;
            s2 += d * d;
            as += fabs(b[k]);
            if (fabs(b[k]) > mx)
                mx = fabs(b[k]);
        }
        tp->stats[i][0] = mean;
        tp->stats[i][1] = sqrt(s2 / (double)(n - 1));
        tp->stats[i][2] = mx;
        tp->stats[i][3] = as;
        ddad_tensor_shape(t, tp->shapes[i], 4);
        free(b);
    }
}

static float *read_f32(ddad_h5_t *f, const char *name, size_t *n)
{
    void *d = NULL;
    int64_t shape[DDAD_H5_MAX_DIMS];
    int nd = 0;
    if (ddad_h5_read(f, name, DDAD_H5_F32, &d, shape, &nd) != DDAD_OK) {
        fprintf(stderr, "\n  reading %s: %s", name, ddad_last_error());
        return NULL;
    }
    size_t k = 1;
    for (int i = 0; i < nd; i++)
        k *= (size_t)shape[i];
    *n = k;
    return d;
}

static void assert_tensor_close(const char *what, const ddad_tensor_t *t, ddad_h5_t *f, const char *ref_name)
{
    size_t n = 0;
    float *ref = read_f32(f, ref_name, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    CU_ASSERT_EQUAL_FATAL((size_t)ddad_tensor_numel(t), n);
    float *ours = host_copy(t);
    DDAD_ASSERT_CLOSE(what, ours, ref, n, REL, ABS);
    free(ours);
    free(ref);
}

static void assert_host_close(const char *what, const float *ours, ddad_h5_t *f, const char *ref_name)
{
    size_t n = 0;
    float *ref = read_f32(f, ref_name, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ours);
    DDAD_ASSERT_CLOSE(what, ours, ref, n, REL, ABS);
    free(ref);
}

static void test_fixture_forward(void)
{
    DDAD_TEST_NEED_FIXTURE("unet_small.h5");
    ddad_h5_t *f;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, ddad_test_fixture("unet_small.h5"), DDAD_H5_READ), DDAD_OK);
    size_t live0 = ddad_tensor_live_count();
    ddad_unet_options_t o;
    small_options(&o);
    o.skip_random_init = true;
    ddad_params_t p;
    ddad_params_init(&p, DDAD_CPU);
    ddad_unet_t u;
    CU_ASSERT_EQUAL_FATAL(ddad_unet_init(&u, &o, &p), DDAD_OK);
    CU_ASSERT_EQUAL(u.tap_channels, 32);
    size_t nl = 0;
    CU_ASSERT_EQUAL_FATAL(ddad_params_load_h5(&p, f, "weights", DDAD_PARAMS_STRICT, &nl), DDAD_OK);
    CU_ASSERT_EQUAL(nl, 385);

    ddad_tensor_t *x, *t, *y, *out = NULL, *feat = NULL, *feat8 = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_tensor_h5_read(&x, f, "inputs/x", DDAD_DTYPE_F32), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_tensor_h5_read(&t, f, "inputs/t", DDAD_DTYPE_I64), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_tensor_h5_read(&y, f, "inputs/y", DDAD_DTYPE_I64), DDAD_OK);
    bool was = ddad_grad_set_enabled(false);
    size_t live1 = ddad_tensor_live_count();
    taps_t tp;
    memset(&tp, 0, sizeof tp);
    CU_ASSERT_EQUAL_FATAL(ddad_unet_forward_ex(&u, x, t, y, 12, &out, &feat, hook, &tp), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live1 + 2); /* exactly the two outputs */
    assert_tensor_close("outputs/out", out, f, "outputs/out");
    assert_tensor_close("outputs/feat", feat, f, "outputs/feat");
    assert_host_close("debug/timestep_embedding", tp.te, f, "debug/timestep_embedding");
    assert_host_close("debug/emb", tp.emb, f, "debug/emb");
    assert_host_close("debug/input_blocks_last", tp.in_last, f, "debug/input_blocks_last");
    assert_host_close("debug/middle_block", tp.mid, f, "debug/middle_block");
    assert_host_close("debug/tap_h", tp.tap_h, f, "debug/tap_h");

    /* per-block statistics and shapes of all 25 blocks */
    CU_ASSERT_EQUAL(tp.n_blocks, 25);
    double *stats = NULL;
    int64_t *shapes = NULL, sh[DDAD_H5_MAX_DIMS];
    int nd;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_read(f, "debug/block_stats", DDAD_H5_F64, (void **)&stats, sh, &nd), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_h5_read(f, "debug/block_shapes", DDAD_H5_I64, (void **)&shapes, sh, &nd), DDAD_OK);
    for (int i = 0; i < 25; i++) {
        double amax = stats[i * 4 + 2], n = 1;
        for (int k = 0; k < 4; k++) {
            CU_ASSERT_EQUAL(tp.shapes[i][k], shapes[i * 4 + k]);
            n *= (double)shapes[i * 4 + k];
        }
        CU_ASSERT(fabs(tp.stats[i][0] - stats[i * 4 + 0]) <= REL * amax);
        CU_ASSERT(fabs(tp.stats[i][1] - stats[i * 4 + 1]) <= REL * amax);
        CU_ASSERT(fabs(tp.stats[i][2] - stats[i * 4 + 2]) <= REL * amax);
        CU_ASSERT(fabs(tp.stats[i][3] - stats[i * 4 + 3]) <= REL * amax * n);
    }
    free(stats);
    free(shapes);

    /* the same inputs with feat_size 8 */
    ddad_tensor_t *out2 = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_unet_forward(&u, x, t, y, 8, &out2, &feat8), DDAD_OK);
    assert_tensor_close("outputs/feat_fs8", feat8, f, "outputs/feat_fs8");
    assert_tensor_close("outputs/out (feat 8)", out2, f, "outputs/out");
    /* the feature head alone (decoder stopped at the tap) */
    ddad_tensor_t *feat_only = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_unet_forward_ex(&u, x, t, y, 12, NULL, &feat_only, NULL, NULL), DDAD_OK);
    assert_tensor_close("outputs/feat (tap only)", feat_only, f, "outputs/feat");
    ddad_grad_set_enabled(was);

    free(tp.te);
    free(tp.emb);
    free(tp.in_last);
    free(tp.mid);
    free(tp.tap_h);
    ddad_tensor_free(out);
    ddad_tensor_free(feat);
    ddad_tensor_free(out2);
    ddad_tensor_free(feat8);
    ddad_tensor_free(feat_only);
    ddad_tensor_free(x);
    ddad_tensor_free(t);
    ddad_tensor_free(y);
    ddad_unet_free(&u);
    ddad_params_free(&p);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live0);
    ddad_h5_close(f);
}

/* Forward inside a caller's scope: outputs land in it, nothing else survives. */
static void test_forward_in_scope(void)
{
    ddad_unet_options_t o;
    small_options(&o);
    ddad_params_t p;
    ddad_params_init(&p, DDAD_CPU);
    ddad_unet_t u;
    CU_ASSERT_EQUAL_FATAL(ddad_unet_init(&u, &o, &p), DDAD_OK);
    size_t live0 = ddad_tensor_live_count();
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *x, *t, *y, *out, *feat;
    int64_t xs[4] = {1, 3, 32, 32}, one = 1;
    CU_ASSERT_EQUAL_FATAL(ddad_randn(&x, xs, 4, DDAD_DTYPE_F32, DDAD_CPU, NULL), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_full(&t, &one, 1, 10, DDAD_DTYPE_I64, DDAD_CPU), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_full(&y, &one, 1, 3, DDAD_DTYPE_I64, DDAD_CPU), DDAD_OK);
    size_t live1 = ddad_tensor_live_count();
    CU_ASSERT_EQUAL_FATAL(ddad_unet_forward(&u, x, t, y, 4, &out, &feat), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live1 + 2);
    CU_ASSERT_EQUAL(ddad_tensor_size(out, 1), 6);
    CU_ASSERT_EQUAL(ddad_tensor_size(feat, 1), 272);
    CU_ASSERT_EQUAL(ddad_tensor_size(feat, 3), 4);
    ddad_scope_end(mark);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live0);
    ddad_unet_free(&u);
    ddad_params_free(&p);
}

static double tensor_absmax(const ddad_tensor_t *t)
{
    float *b = host_copy(t);
    double m = 0;
    for (int64_t i = 0; i < ddad_tensor_numel(t); i++)
        if (fabs(b[i]) > m)
            m = fabs(b[i]);
    free(b);
    return m;
}

static void test_random_init(void)
{
    ddad_unet_options_t o;
    small_options(&o);
    o.init_seed = 7;
    ddad_params_t p, q;
    ddad_params_init(&p, DDAD_CPU);
    ddad_params_init(&q, DDAD_CPU);
    ddad_unet_t u, v;
    CU_ASSERT_EQUAL_FATAL(ddad_unet_init(&u, &o, &p), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_unet_init(&v, &o, &q), DDAD_OK);
    /* zero_module convs are zero, GroupNorm is identity, the rest is bounded */
    CU_ASSERT_EQUAL(tensor_absmax(ddad_params_find(&p, "out.2.weight")), 0.0);
    CU_ASSERT_EQUAL(tensor_absmax(ddad_params_find(&p, "out.2.bias")), 0.0);
    CU_ASSERT_EQUAL(tensor_absmax(ddad_params_find(&p, "input_blocks.1.0.out_layers.3.weight")), 0.0);
    CU_ASSERT_EQUAL(tensor_absmax(ddad_params_find(&p, "middle_block.1.proj_out.weight")), 0.0);
    double m = tensor_absmax(ddad_params_find(&p, "input_blocks.1.0.in_layers.2.weight"));
    CU_ASSERT(m > 0.5 / sqrt(32 * 9.0) && m <= 1.0 / sqrt(32 * 9.0));
    m = tensor_absmax(ddad_params_find(&p, "input_blocks.1.0.in_layers.0.weight"));
    CU_ASSERT_EQUAL(m, 1.0);
    CU_ASSERT_EQUAL(tensor_absmax(ddad_params_find(&p, "input_blocks.1.0.in_layers.0.bias")), 0.0);
    m = tensor_absmax(ddad_params_find(&p, "label_emb.weight"));
    CU_ASSERT(m > 2.0 && m < 8.0); /* N(0, 1) over 1920 values */
    /* same seed -> same values; another seed -> different */
    float *a = host_copy(ddad_params_find(&p, "time_embed.0.weight"));
    float *b = host_copy(ddad_params_find(&q, "time_embed.0.weight"));
    size_t n = (size_t)ddad_tensor_numel(ddad_params_find(&p, "time_embed.0.weight"));
    CU_ASSERT_EQUAL(memcmp(a, b, n * sizeof *a), 0);
    ddad_generator_t *g;
    CU_ASSERT_EQUAL_FATAL(ddad_generator_create(&g, 8, DDAD_CPU), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_unet_init_weights(&v, g), DDAD_OK);
    ddad_generator_free(g);
    free(b);
    b = host_copy(ddad_params_find(&q, "time_embed.0.weight"));
    CU_ASSERT_NOT_EQUAL(memcmp(a, b, n * sizeof *a), 0);
    free(a);
    free(b);
    ddad_unet_free(&u);
    ddad_unet_free(&v);
    ddad_params_free(&p);
    ddad_params_free(&q);
}

static void test_bad_options_and_inputs(void)
{
    ddad_unet_options_t o;
    small_options(&o);
    o.model_channels = 48; /* not a multiple of 32 */
    CU_ASSERT_EQUAL(ddad_unet_enumerate_params(&o, NULL, NULL, NULL), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "GroupNorm"));
    small_options(&o);
    o.feature_tap = 12; /* only 12 output blocks: 0..11 */
    CU_ASSERT_EQUAL(ddad_unet_enumerate_params(&o, NULL, NULL, NULL), DDAD_STATUS_USAGE);
    small_options(&o);
    o.dropout = 0.1;
    CU_ASSERT_EQUAL(ddad_unet_enumerate_params(&o, NULL, NULL, NULL), DDAD_STATUS_USAGE);
    small_options(&o);
    o.num_head_channels = 12; /* 32 channels are not divisible by 12 */
    CU_ASSERT_EQUAL(ddad_unet_enumerate_params(&o, NULL, NULL, NULL), DDAD_STATUS_USAGE);

    small_options(&o);
    ddad_params_t p;
    ddad_params_init(&p, DDAD_CPU);
    ddad_unet_t u;
    CU_ASSERT_EQUAL_FATAL(ddad_unet_init(&u, &o, &p), DDAD_OK);
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *x, *xbad, *t, *y, *out = NULL, *feat = NULL;
    int64_t xs[4] = {1, 3, 32, 32}, xb[4] = {1, 3, 30, 30}, one = 1;
    ddad_zeros(&x, xs, 4, DDAD_DTYPE_F32, DDAD_CPU);
    ddad_zeros(&xbad, xb, 4, DDAD_DTYPE_F32, DDAD_CPU);
    ddad_zeros(&t, &one, 1, DDAD_DTYPE_I64, DDAD_CPU);
    ddad_zeros(&y, &one, 1, DDAD_DTYPE_I64, DDAD_CPU);
    CU_ASSERT_EQUAL(ddad_unet_forward(&u, xbad, t, y, 0, &out, NULL), DDAD_STATUS_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "divisible by 8"));
    CU_ASSERT_EQUAL(ddad_unet_forward(&u, x, t, NULL, 0, &out, NULL), DDAD_STATUS_SHAPE);
    CU_ASSERT_EQUAL(ddad_unet_forward(&u, x, t, y, 8, &out, NULL), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NULL(out);
    CU_ASSERT_PTR_NULL(feat);
    ddad_scope_end(mark);
    ddad_unet_free(&u);
    ddad_params_free(&p);
    ddad_unet_free(NULL);
}

/* The non-BigGAN variant (conv resampling) registers op / conv layers. */
static void test_conv_resample_layout(void)
{
    ddad_unet_options_t o;
    small_options(&o);
    o.resblock_updown = false;
    o.use_scale_shift_norm = false;
    list_t l = {0};
    CU_ASSERT_EQUAL_FATAL(ddad_unet_enumerate_params(&o, collect, &l, NULL), DDAD_OK);
    int op = 0, conv = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (!strcmp(l.e[i].name, "input_blocks.3.0.op.weight"))
            op++;
        if (!strcmp(l.e[i].name, "output_blocks.2.1.conv.weight"))
            conv++;
        if (!strcmp(l.e[i].name, "input_blocks.1.0.emb_layers.1.weight"))
            CU_ASSERT_EQUAL(l.e[i].shape[0], 32); /* no scale-shift: out channels only */
    }
    CU_ASSERT_EQUAL(op, 1);
    CU_ASSERT_EQUAL(conv, 1);
    free(l.e);
    /* and it runs */
    ddad_params_t p;
    ddad_params_init(&p, DDAD_CPU);
    ddad_unet_t u;
    CU_ASSERT_EQUAL_FATAL(ddad_unet_init(&u, &o, &p), DDAD_OK);
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *x, *t, *y, *out;
    int64_t xs[4] = {2, 3, 16, 16}, two = 2;
    ddad_randn(&x, xs, 4, DDAD_DTYPE_F32, DDAD_CPU, NULL);
    ddad_full(&t, &two, 1, 5, DDAD_DTYPE_I64, DDAD_CPU);
    ddad_full(&y, &two, 1, 1, DDAD_DTYPE_I64, DDAD_CPU);
    CU_ASSERT_EQUAL(ddad_unet_forward(&u, x, t, y, 0, &out, NULL), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_tensor_size(out, 2), 16);
    ddad_scope_end(mark);
    ddad_unet_free(&u);
    ddad_params_free(&p);
}

int main(void)
{
    static const ddad_test_t tests[] = {
        {"paper model layout = adm256_keys.txt sections A and B", test_paper_layout},
        {"small model layout = unet_small.h5 weights", test_small_layout_matches_file},
        {"forward, feature head and debug taps vs unet_small.h5", test_fixture_forward},
        {"forward inside a scope leaves only its outputs", test_forward_in_scope},
        {"random initialisation", test_random_init},
        {"bad options and inputs", test_bad_options_and_inputs},
        {"conv resampling variant", test_conv_resample_layout},
        {0}};
    return ddad_test_main("nn_unet", tests);
}
