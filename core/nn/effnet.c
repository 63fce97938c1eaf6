/* core/nn/effnet.c - EfficientNet-B4 feature extractor, see effnet.h. */
#include "effnet.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const int ddad_effnet_tap_blocks[DDAD_EFFNET_NUM_TAPS] = {1, 5, 9, 21};
const int ddad_effnet_tap_channels[DDAD_EFFNET_NUM_TAPS] = {24, 32, 56, 160};

/* The B4 block table (width 1.4, depth 1.8), blocks 0..21: input and output
 * channels, kernel, stride, expansion ratio, squeeze width
 * (int(in_ch * 0.25)) and the static "same" padding (left, right, top, bottom)
 * of the depthwise conv computed by Conv2dStaticSamePadding for image size
 * 380 at that stage: pad = max((ceil(i/s) - 1) s + k - i, 0), left = pad / 2. */
static const struct {
    int in_ch, out_ch, kernel, stride, expand, se_ch;
    int pad[4];
} effnet_b4_table[DDAD_EFFNET_NUM_BLOCKS] = {
    {48, 24, 3, 1, 1, 12, {1, 1, 1, 1}},    /*  0  190 px */
    {24, 24, 3, 1, 1, 6, {1, 1, 1, 1}},     /*  1  tap    */
    {24, 32, 3, 2, 6, 6, {0, 1, 0, 1}},     /*  2  190 -> 95 */
    {32, 32, 3, 1, 6, 8, {1, 1, 1, 1}},     /*  3 */
    {32, 32, 3, 1, 6, 8, {1, 1, 1, 1}},     /*  4 */
    {32, 32, 3, 1, 6, 8, {1, 1, 1, 1}},     /*  5  tap    */
    {32, 56, 5, 2, 6, 8, {2, 2, 2, 2}},     /*  6  95 -> 48 */
    {56, 56, 5, 1, 6, 14, {2, 2, 2, 2}},    /*  7 */
    {56, 56, 5, 1, 6, 14, {2, 2, 2, 2}},    /*  8 */
    {56, 56, 5, 1, 6, 14, {2, 2, 2, 2}},    /*  9  tap    */
    {56, 112, 3, 2, 6, 14, {0, 1, 0, 1}},   /* 10  48 -> 24 */
    {112, 112, 3, 1, 6, 28, {1, 1, 1, 1}},  /* 11 */
    {112, 112, 3, 1, 6, 28, {1, 1, 1, 1}},  /* 12 */
    {112, 112, 3, 1, 6, 28, {1, 1, 1, 1}},  /* 13 */
    {112, 112, 3, 1, 6, 28, {1, 1, 1, 1}},  /* 14 */
    {112, 112, 3, 1, 6, 28, {1, 1, 1, 1}},  /* 15 */
    {112, 160, 5, 1, 6, 28, {2, 2, 2, 2}},  /* 16 */
    {160, 160, 5, 1, 6, 40, {2, 2, 2, 2}},  /* 17 */
    {160, 160, 5, 1, 6, 40, {2, 2, 2, 2}},  /* 18 */
    {160, 160, 5, 1, 6, 40, {2, 2, 2, 2}},  /* 19 */
    {160, 160, 5, 1, 6, 40, {2, 2, 2, 2}},  /* 20 */
    {160, 160, 5, 1, 6, 40, {2, 2, 2, 2}},  /* 21  tap    */
};

#define STEM_CH 48

ddad_effnet_options_t ddad_effnet_default_options(void)
{
    ddad_effnet_options_t o;
    o.device = DDAD_CPU;
    o.weights_path = NULL;
    o.weights_group = "weights";
    o.seed = 0;
    return o;
}

/* ---- construction ---------------------------------------------------------- */

/* Buffer "_blocks.<block>.<leaf>", or "<leaf>" when block < 0. */
static ddad_status_t new_buf(ddad_params_t *p, ddad_tensor_t **out, const int64_t *shape, int ndim, const char *leaf,
                             int block)
{
    char name[DDAD_PARAM_NAME_MAX];
    if (block >= 0)
        snprintf(name, sizeof name, "_blocks.%d.%s", block, leaf);
    else
        snprintf(name, sizeof name, "%s", leaf);
    return ddad_params_new_buffer(p, out, name, shape, ndim);
}

/* BatchNorm of c channels under prefix ("_bn0", or "_blocks.<block>._bn1" for prefix "_bn1"). */
static ddad_status_t new_bn(ddad_params_t *p, ddad_effnet_bn_t *bn, int64_t c, const char *prefix, int block)
{
    char pre[64], name[96];
    if (block >= 0)
        snprintf(pre, sizeof pre, "_blocks.%d.%s", block, prefix);
    else
        snprintf(pre, sizeof pre, "%s", prefix);
    ddad_tensor_t **slots[4] = {&bn->weight, &bn->bias, &bn->running_mean, &bn->running_var};
    static const char *suffix[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.%s", pre, suffix[i]);
        ddad_status_t st = ddad_params_new_buffer(p, slots[i], name, &c, 1);
        if (st != DDAD_OK)
            return st;
    }
    return DDAD_OK;
}

static ddad_status_t init_bn_identity(const ddad_effnet_bn_t *bn)
{
    ddad_status_t st;
    if ((st = ddad_fill_(bn->weight, 1.0)) != DDAD_OK)
        return st;
    if ((st = ddad_zero_(bn->bias)) != DDAD_OK)
        return st;
    if ((st = ddad_zero_(bn->running_mean)) != DDAD_OK)
        return st;
    return ddad_fill_(bn->running_var, 1.0);
}

static ddad_status_t build(ddad_effnet_t *net)
{
    ddad_params_t *p = &net->params;
    ddad_status_t st;
    int64_t stem_shape[4] = {STEM_CH, 3, 3, 3};
    if ((st = new_buf(p, &net->stem_w, stem_shape, 4, "_conv_stem.weight", -1)) != DDAD_OK)
        return st;
    if ((st = new_bn(p, &net->bn0, STEM_CH, "_bn0", -1)) != DDAD_OK)
        return st;
    for (int i = 0; i < DDAD_EFFNET_NUM_BLOCKS; i++) {
        ddad_effnet_block_t *b = &net->blocks[i];
        b->in_ch = effnet_b4_table[i].in_ch;
        b->out_ch = effnet_b4_table[i].out_ch;
        b->kernel = effnet_b4_table[i].kernel;
        b->stride = effnet_b4_table[i].stride;
        b->expand = effnet_b4_table[i].expand;
        b->se_ch = effnet_b4_table[i].se_ch;
        memcpy(b->pad, effnet_b4_table[i].pad, sizeof b->pad);
        b->residual = b->stride == 1 && b->in_ch == b->out_ch;
        int64_t mid = (int64_t)b->in_ch * b->expand;
        if (b->expand != 1) {
            int64_t s[4] = {mid, b->in_ch, 1, 1};
            if ((st = new_buf(p, &b->expand_w, s, 4, "_expand_conv.weight", i)) != DDAD_OK)
                return st;
            if ((st = new_bn(p, &b->bn0, mid, "_bn0", i)) != DDAD_OK)
                return st;
        }
        int64_t dw[4] = {mid, 1, b->kernel, b->kernel};
        if ((st = new_buf(p, &b->depthwise_w, dw, 4, "_depthwise_conv.weight", i)) != DDAD_OK)
            return st;
        if ((st = new_bn(p, &b->bn1, mid, "_bn1", i)) != DDAD_OK)
            return st;
        int64_t sr[4] = {b->se_ch, mid, 1, 1}, se = b->se_ch;
        int64_t sx[4] = {mid, b->se_ch, 1, 1};
        if ((st = new_buf(p, &b->se_reduce_w, sr, 4, "_se_reduce.weight", i)) != DDAD_OK ||
            (st = new_buf(p, &b->se_reduce_b, &se, 1, "_se_reduce.bias", i)) != DDAD_OK ||
            (st = new_buf(p, &b->se_expand_w, sx, 4, "_se_expand.weight", i)) != DDAD_OK ||
            (st = new_buf(p, &b->se_expand_b, &mid, 1, "_se_expand.bias", i)) != DDAD_OK)
            return st;
        int64_t pr[4] = {b->out_ch, mid, 1, 1};
        if ((st = new_buf(p, &b->project_w, pr, 4, "_project_conv.weight", i)) != DDAD_OK)
            return st;
        if ((st = new_bn(p, &b->bn2, b->out_ch, "_bn2", i)) != DDAD_OK)
            return st;
    }
    return DDAD_OK;
}

/* A convolution's weights, U(+-gain/sqrt(fan_in)). */
static ddad_status_t init_conv(ddad_tensor_t *w, int64_t fan_in, double gain, ddad_generator_t *gen)
{
    double bound = gain / sqrt((double)fan_in);
    return ddad_uniform_(w, -bound, bound, gen);
}

/* PyTorch's defaults for nn.Conv2d (weight and bias U(+-1/sqrt(fan_in))) and
 * nn.BatchNorm2d (identity), which is what the reference gets before any
 * weights are loaded. With variance_preserving, the convolutions that feed
 * SiLU (stem, expand, depthwise) get He bounds sqrt(6/fan_in) (variance
 * 2/fan_in) and the linear projections sqrt(3/fan_in) (variance 1/fan_in),
 * so the activations keep their scale through the 32 blocks instead of
 * shrinking by about 3x per convolution; the squeeze-excitation layers keep
 * PyTorch's bounds (their sigmoid gate stays near 0.5). */
static ddad_status_t init_random(ddad_effnet_t *net, uint64_t seed, bool variance_preserving)
{
    const double act_gain = variance_preserving ? sqrt(6.0) : 1.0, lin_gain = variance_preserving ? sqrt(3.0) : 1.0;
    ddad_generator_t *gen = NULL;
    ddad_status_t st = ddad_generator_create(&gen, seed, net->params.device);
    if (st != DDAD_OK)
        return st;
    DDAD_TRY(init_conv(net->stem_w, 3 * 3 * 3, act_gain, gen));
    DDAD_TRY(init_bn_identity(&net->bn0));
    for (int i = 0; i < DDAD_EFFNET_NUM_BLOCKS; i++) {
        const ddad_effnet_block_t *b = &net->blocks[i];
        int64_t mid = (int64_t)b->in_ch * b->expand;
        if (b->expand_w) {
            DDAD_TRY(init_conv(b->expand_w, b->in_ch, act_gain, gen));
            DDAD_TRY(init_bn_identity(&b->bn0));
        }
        DDAD_TRY(init_conv(b->depthwise_w, (int64_t)b->kernel * b->kernel, act_gain, gen));
        DDAD_TRY(init_bn_identity(&b->bn1));
        DDAD_TRY(ddad_params_init_uniform(b->se_reduce_w, mid, gen));
        DDAD_TRY(ddad_params_init_uniform(b->se_reduce_b, mid, gen));
        DDAD_TRY(ddad_params_init_uniform(b->se_expand_w, b->se_ch, gen));
        DDAD_TRY(ddad_params_init_uniform(b->se_expand_b, b->se_ch, gen));
        DDAD_TRY(init_conv(b->project_w, mid, lin_gain, gen));
        DDAD_TRY(init_bn_identity(&b->bn2));
    }
fail:
    ddad_generator_free(gen);
    return st;
}

ddad_status_t ddad_effnet_init(ddad_effnet_t *net, const ddad_effnet_options_t *opt)
{
    ddad_effnet_options_t def = ddad_effnet_default_options();
    if (!opt)
        opt = &def;
    memset(net, 0, sizeof *net);
    ddad_params_init(&net->params, opt->device);
    ddad_status_t st = build(net);
    if (st != DDAD_OK) {
        ddad_fail_context(st, "building EfficientNet-B4");
        goto fail;
    }
    if (opt->weights_path) {
        ddad_h5_t *f = NULL;
        st = ddad_h5_open(&f, opt->weights_path, DDAD_H5_READ);
        if (st != DDAD_OK) {
            ddad_fail_context(st, "EfficientNet-B4 weights");
            goto fail;
        }
        st = ddad_effnet_load_h5(net, f, opt->weights_group ? opt->weights_group : "weights");
        ddad_h5_close(f);
        if (st != DDAD_OK)
            goto fail;
    } else {
        st = init_random(net, opt->seed, opt->variance_preserving);
        if (st != DDAD_OK) {
            ddad_fail_context(st, "initialising EfficientNet-B4 randomly");
            goto fail;
        }
        net->random_weights = true;
        snprintf(net->source, sizeof net->source, "random (seed %llu%s)", (unsigned long long)opt->seed,
                 opt->variance_preserving ? ", variance-preserving init" : "");
        ddad_log(DDAD_LOG_WARN, "EfficientNet-B4: no weights file given, using random weights (seed %llu); "
                 "feature losses and scores are not those of the ImageNet network",
                 (unsigned long long)opt->seed);
    }
    return DDAD_OK;
fail:
    ddad_effnet_free(net);
    return st;
}

void ddad_effnet_free(ddad_effnet_t *net)
{
    if (!net)
        return;
    ddad_params_free(&net->params);
    ddad_tensor_free(net->chan_mean);
    ddad_tensor_free(net->chan_std);
    memset(net, 0, sizeof *net);
}

size_t ddad_effnet_required_count(const ddad_effnet_t *net) { return net->params.n; }

const char *ddad_effnet_required_name(const ddad_effnet_t *net, size_t i)
{
    return i < net->params.n ? net->params.items[i].name : NULL;
}

ddad_status_t ddad_effnet_load_h5(ddad_effnet_t *net, ddad_h5_t *f, const char *group)
{
    if (!group)
        group = "weights";
    ddad_status_t st = ddad_params_load_h5(&net->params, f, group, DDAD_PARAMS_REQUIRE_ALL, NULL);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "loading EfficientNet-B4 (stem and blocks 0..21 are required; "
                                     "convert a lukemelas efficientnet-b4 state_dict with ddad-import)");
    net->random_weights = false;
    snprintf(net->source, sizeof net->source, "%s", ddad_h5_path(f));
    return DDAD_OK;
}

/* ---- forward --------------------------------------------------------------- */

static ddad_status_t bn_eval(ddad_tensor_t **out, const ddad_tensor_t *x, const ddad_effnet_bn_t *bn)
{
    return ddad_batch_norm_eval(out, x, bn->weight, bn->bias, bn->running_mean, bn->running_var, DDAD_EFFNET_BN_EPS);
}

/* Conv2dStaticSamePadding: zero padding (l, r, t, b) then an unpadded conv;
 * symmetric padding goes straight to the conv. */
static ddad_status_t conv_static_same(ddad_tensor_t **out, const ddad_tensor_t *x, const ddad_tensor_t *w,
                                      const ddad_tensor_t *b, int stride, const int pad[4], int64_t groups)
{
    if (pad[0] == pad[1] && pad[2] == pad[3])
        return ddad_conv2d(out, x, w, b, stride, stride, pad[2], pad[0], 1, 1, groups);
    ddad_tensor_t *xp = NULL;
    ddad_status_t st = ddad_pad2d(&xp, x, pad[0], pad[1], pad[2], pad[3], DDAD_PAD_CONSTANT, 0.0);
    if (st != DDAD_OK)
        return st;
    st = ddad_conv2d(out, xp, w, b, stride, stride, 0, 0, 1, 1, groups);
    ddad_tensor_free(xp);
    return st;
}

/* One MBConv block inside the caller's scope. x (N, in, H, W) -> (N, out, H/s, W/s). */
static ddad_status_t mbconv(ddad_tensor_t **out, const ddad_tensor_t *x, const ddad_effnet_block_t *b, int index)
{
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *h = (ddad_tensor_t *)x, *t, *s;
    static const int zero_pad[4] = {0, 0, 0, 0};
    if (b->expand_w) {
        DDAD_TRY(conv_static_same(&t, h, b->expand_w, NULL, 1, zero_pad, 1)); /* (N, mid, H, W) */
        DDAD_TRY(bn_eval(&h, t, &b->bn0));
        DDAD_TRY(ddad_silu(&h, h));
    }
    int64_t mid = (int64_t)b->in_ch * b->expand;
    DDAD_TRY(conv_static_same(&t, h, b->depthwise_w, NULL, b->stride, b->pad, mid)); /* (N, mid, H/s, W/s) */
    DDAD_TRY(bn_eval(&h, t, &b->bn1));
    DDAD_TRY(ddad_silu(&h, h));
    /* squeeze-excitation */
    int64_t hw[2] = {2, 3};
    DDAD_TRY(ddad_mean_dims(&s, h, hw, 2, true)); /* (N, mid, 1, 1) */
    DDAD_TRY(ddad_conv2d(&s, s, b->se_reduce_w, b->se_reduce_b, 1, 1, 0, 0, 1, 1, 1)); /* (N, se, 1, 1) */
    DDAD_TRY(ddad_silu(&s, s));
    DDAD_TRY(ddad_conv2d(&s, s, b->se_expand_w, b->se_expand_b, 1, 1, 0, 0, 1, 1, 1)); /* (N, mid, 1, 1) */
    DDAD_TRY(ddad_sigmoid(&s, s));
    DDAD_TRY(ddad_mul(&h, h, s));
    DDAD_TRY(conv_static_same(&t, h, b->project_w, NULL, 1, zero_pad, 1)); /* (N, out, H/s, W/s) */
    DDAD_TRY(bn_eval(&h, t, &b->bn2));
    if (b->residual)
        DDAD_TRY(ddad_add(&h, h, x));
    *out = h;
    return DDAD_OK;
fail:
    return ddad_fail_context(st, "EfficientNet-B4 block %d", index);
}

ddad_status_t ddad_effnet_forward(const ddad_effnet_t *net, const ddad_tensor_t *x,
                                  ddad_tensor_t *taps[DDAD_EFFNET_NUM_TAPS], ddad_tensor_t **stem)
{
    if (!net || !net->stem_w)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_effnet_forward: network not initialised");
    if (ddad_tensor_dim(x) != 4 || ddad_tensor_size(x, 1) != 3) {
        char d[128];
        ddad_tensor_describe(x, d, sizeof d);
        return ddad_fail(DDAD_STATUS_SHAPE, "ddad_effnet_forward: input must be (N, 3, H, W), got %s", d);
    }
    static const int stem_pad[4] = {0, 1, 0, 1};
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *found[DDAD_EFFNET_NUM_TAPS] = {0}, *stem_out = NULL;
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *h, *t;
    DDAD_TRY(conv_static_same(&t, x, net->stem_w, NULL, 2, stem_pad, 1)); /* (N, 48, H/2, W/2) */
    DDAD_TRY(bn_eval(&h, t, &net->bn0));
    DDAD_TRY(ddad_silu(&h, h));
    stem_out = h;
    int k = 0;
    for (int i = 0; i < DDAD_EFFNET_NUM_BLOCKS; i++) {
        DDAD_TRY(mbconv(&h, h, &net->blocks[i], i));
        if (k < DDAD_EFFNET_NUM_TAPS && i == ddad_effnet_tap_blocks[k])
            found[k++] = h;
    }
    for (k = 0; k < DDAD_EFFNET_NUM_TAPS; k++)
        taps[k] = ddad_tensor_keep(found[k]);
    if (stem)
        *stem = ddad_tensor_keep(stem_out);
fail:
    ddad_scope_end(mark);
    return st;
}

ddad_status_t ddad_effnet_concat_taps(ddad_tensor_t *const taps[DDAD_EFFNET_NUM_TAPS], int64_t fs, ddad_tensor_t **out)
{
    if (fs <= 0)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_effnet_concat_taps: feature size must be positive, got %lld",
                         (long long)fs);
    ddad_status_t st = DDAD_OK;
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *r[DDAD_EFFNET_NUM_TAPS], *cat;
    for (int k = 0; k < DDAD_EFFNET_NUM_TAPS; k++)
        DDAD_TRY(ddad_interpolate(&r[k], taps[k], fs, fs, DDAD_INTERP_BILINEAR, false)); /* (N, C_k, fs, fs) */
    DDAD_TRY(ddad_cat(&cat, (const ddad_tensor_t *const *)r, DDAD_EFFNET_NUM_TAPS, 1)); /* (N, 272, fs, fs) */
    *out = ddad_tensor_keep(cat);
fail:
    ddad_scope_end(mark);
    return st;
}

ddad_status_t ddad_effnet_set_standardization(ddad_effnet_t *net, const float *mean, const float *std)
{
    ddad_tensor_free(net->chan_mean);
    ddad_tensor_free(net->chan_std);
    net->chan_mean = net->chan_std = NULL;
    if (!mean || !std)
        return DDAD_OK;
    for (int c = 0; c < DDAD_EFFNET_FEAT_CHANNELS; c++)
        if (!(std[c] > 0) || !isfinite(mean[c]) || !isfinite(std[c]))
            return ddad_fail(DDAD_STATUS_DATA, "feature standardisation: channel %d has mean %g, std %g (the std "
                             "must be positive and both finite)", c, mean[c], std[c]);
    ddad_status_t st = DDAD_OK;
    size_t mark = ddad_scope_begin();
    const int64_t shape[4] = {1, DDAD_EFFNET_FEAT_CHANNELS, 1, 1};
    ddad_tensor_t *hm, *hs, *dm, *ds;
    DDAD_TRY(ddad_from_buffer(&hm, mean, shape, 4, DDAD_DTYPE_F32));
    DDAD_TRY(ddad_from_buffer(&hs, std, shape, 4, DDAD_DTYPE_F32));
    DDAD_TRY(ddad_to_device(&dm, hm, net->params.device));
    DDAD_TRY(ddad_to_device(&ds, hs, net->params.device));
    net->chan_mean = ddad_tensor_persist(dm);
    net->chan_std = ddad_tensor_persist(ds);
fail:
    ddad_scope_end(mark);
    return st;
}

bool ddad_effnet_get_standardization(const ddad_effnet_t *net, float *mean, float *std)
{
    if (!net->chan_mean)
        return false;
    size_t nb = DDAD_EFFNET_FEAT_CHANNELS * sizeof(float);
    return ddad_to_buffer(net->chan_mean, mean, nb, DDAD_DTYPE_F32) == DDAD_OK &&
           ddad_to_buffer(net->chan_std, std, nb, DDAD_DTYPE_F32) == DDAD_OK;
}

ddad_status_t ddad_effnet_features(const ddad_effnet_t *net, const ddad_tensor_t *x, int64_t fs, ddad_tensor_t **out)
{
    ddad_status_t st = DDAD_OK;
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *taps[DDAD_EFFNET_NUM_TAPS] = {0}, *f;
    if (net->input_size > 0 && (ddad_tensor_size(x, 2) != net->input_size || ddad_tensor_size(x, 3) != net->input_size)) {
        ddad_tensor_t *big; /* (N, 3, input_size, input_size) */
        DDAD_TRY(ddad_interpolate(&big, x, net->input_size, net->input_size, DDAD_INTERP_BILINEAR, false));
        x = big;
    }
    DDAD_TRY(ddad_effnet_forward(net, x, taps, NULL)); /* kept: owned here */
    DDAD_TRY(ddad_effnet_concat_taps(taps, fs, &f));   /* (N, 272, fs, fs) */
    if (net->chan_mean) {
        DDAD_TRY(ddad_sub(&f, f, net->chan_mean));
        DDAD_TRY(ddad_div(&f, f, net->chan_std));
    }
    *out = ddad_tensor_keep(f);
fail:
    for (int k = 0; k < DDAD_EFFNET_NUM_TAPS; k++)
        ddad_tensor_free(taps[k]);
    ddad_scope_end(mark);
    return st;
}
