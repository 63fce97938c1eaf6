/* core/nn/wrn.c - WideResNet-50-2 (layer1..layer3), see wrn.h. */
#include "wrn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const int ddad_wrn_layer_channels[DDAD_WRN_NUM_LAYERS] = {256, 512, 1024};

static const int wrn_layer_blocks[DDAD_WRN_NUM_LAYERS] = {3, 4, 6};
static const double imagenet_mean[3] = {0.485, 0.456, 0.406};
static const double imagenet_std[3] = {0.229, 0.224, 0.225};

ddad_wrn_options_t ddad_wrn_default_options(void)
{
    ddad_wrn_options_t o;
    o.device = DDAD_CPU;
    o.weights_path = NULL;
    o.weights_group = "weights";
    o.seed = 0;
    return o;
}

/* ---- construction ---------------------------------------------------------- */

static ddad_status_t new_conv(ddad_params_t *p, ddad_tensor_t **out, const char *name, int64_t cout, int64_t cin,
                              int64_t k)
{
    int64_t s[4] = {cout, cin, k, k};
    return ddad_params_new_buffer(p, out, name, s, 4);
}

static ddad_status_t new_bn(ddad_params_t *p, ddad_wrn_bn_t *bn, const char *prefix, int64_t c)
{
    char name[DDAD_PARAM_NAME_MAX + 32];
    ddad_tensor_t **slots[4] = {&bn->weight, &bn->bias, &bn->running_mean, &bn->running_var};
    static const char *suffix[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, suffix[i]);
        ddad_status_t st = ddad_params_new_buffer(p, slots[i], name, &c, 1);
        if (st != DDAD_OK)
            return st;
    }
    return DDAD_OK;
}

static ddad_status_t build(ddad_wrn_t *net)
{
    ddad_params_t *p = &net->params;
    ddad_status_t st;
    char name[DDAD_PARAM_NAME_MAX];
    if ((st = new_conv(p, &net->conv1_w, "conv1.weight", 64, 3, 7)) != DDAD_OK ||
        (st = new_bn(p, &net->bn1, "bn1", 64)) != DDAD_OK)
        return st;
    int64_t in_ch = 64;
    int nb = 0;
    for (int l = 0; l < DDAD_WRN_NUM_LAYERS; l++) {
        int64_t planes = 64LL << l;          /* 64, 128, 256                 */
        int64_t width = planes * 2;          /* wide: 128, 256, 512          */
        int64_t out_ch = planes * 4;         /* expansion 4: 256, 512, 1024  */
        for (int i = 0; i < wrn_layer_blocks[l]; i++, nb++) {
            ddad_wrn_block_t *b = &net->blocks[nb];
            b->layer = l + 1;
            b->index = i;
            b->in_ch = in_ch;
            b->width = width;
            b->out_ch = out_ch;
            b->stride = (i == 0 && l > 0) ? 2 : 1;
            char pre[64];
            snprintf(pre, sizeof pre, "layer%d.%d", l + 1, i);
            snprintf(name, sizeof name, "%s.conv1.weight", pre);
            if ((st = new_conv(p, &b->conv1_w, name, width, in_ch, 1)) != DDAD_OK)
                return st;
            snprintf(name, sizeof name, "%s.bn1", pre);
            if ((st = new_bn(p, &b->bn1, name, width)) != DDAD_OK)
                return st;
            snprintf(name, sizeof name, "%s.conv2.weight", pre);
            if ((st = new_conv(p, &b->conv2_w, name, width, width, 3)) != DDAD_OK)
                return st;
            snprintf(name, sizeof name, "%s.bn2", pre);
            if ((st = new_bn(p, &b->bn2, name, width)) != DDAD_OK)
                return st;
            snprintf(name, sizeof name, "%s.conv3.weight", pre);
            if ((st = new_conv(p, &b->conv3_w, name, out_ch, width, 1)) != DDAD_OK)
                return st;
            snprintf(name, sizeof name, "%s.bn3", pre);
            if ((st = new_bn(p, &b->bn3, name, out_ch)) != DDAD_OK)
                return st;
            if (i == 0) { /* stride or channel change: 1x1 conv + BN shortcut */
                snprintf(name, sizeof name, "%s.downsample.0.weight", pre);
                if ((st = new_conv(p, &b->down_w, name, out_ch, in_ch, 1)) != DDAD_OK)
                    return st;
                snprintf(name, sizeof name, "%s.downsample.1", pre);
                if ((st = new_bn(p, &b->down_bn, name, out_ch)) != DDAD_OK)
                    return st;
            }
            in_ch = out_ch;
        }
    }
    return DDAD_OK;
}

static ddad_status_t init_bn_identity(const ddad_wrn_bn_t *bn)
{
    ddad_status_t st;
    if ((st = ddad_fill_(bn->weight, 1.0)) != DDAD_OK || (st = ddad_zero_(bn->bias)) != DDAD_OK ||
        (st = ddad_zero_(bn->running_mean)) != DDAD_OK)
        return st;
    return ddad_fill_(bn->running_var, 1.0);
}

/* kaiming_normal_(mode="fan_out", nonlinearity="relu"): N(0, 2 / (cout k k)). */
static ddad_status_t init_conv(ddad_tensor_t *w, ddad_generator_t *gen)
{
    int64_t fan_out = ddad_tensor_size(w, 0) * ddad_tensor_size(w, 2) * ddad_tensor_size(w, 3);
    return ddad_normal_(w, 0.0, sqrt(2.0 / (double)fan_out), gen);
}

static ddad_status_t init_random(ddad_wrn_t *net, uint64_t seed)
{
    ddad_generator_t *gen = NULL;
    ddad_status_t st = ddad_generator_create(&gen, seed, net->params.device);
    if (st != DDAD_OK)
        return st;
    DDAD_TRY(init_conv(net->conv1_w, gen));
    DDAD_TRY(init_bn_identity(&net->bn1));
    for (int i = 0; i < DDAD_WRN_NUM_BLOCKS; i++) {
        const ddad_wrn_block_t *b = &net->blocks[i];
        DDAD_TRY(init_conv(b->conv1_w, gen));
        DDAD_TRY(init_bn_identity(&b->bn1));
        DDAD_TRY(init_conv(b->conv2_w, gen));
        DDAD_TRY(init_bn_identity(&b->bn2));
        DDAD_TRY(init_conv(b->conv3_w, gen));
        DDAD_TRY(init_bn_identity(&b->bn3));
        if (b->down_w) {
            DDAD_TRY(init_conv(b->down_w, gen));
            DDAD_TRY(init_bn_identity(&b->down_bn));
        }
    }
fail:
    ddad_generator_free(gen);
    return st;
}

/* The input map [-1, 1] -> ImageNet-normalised as one affine per channel:
 * ((x + 1) / 2 - mean) / std = x * (0.5 / std) + (0.5 - mean) / std. */
static ddad_status_t make_input_affine(ddad_wrn_t *net)
{
    float scale[3], shift[3];
    for (int c = 0; c < 3; c++) {
        scale[c] = (float)(0.5 / imagenet_std[c]);
        shift[c] = (float)((0.5 - imagenet_mean[c]) / imagenet_std[c]);
    }
    int64_t shape[4] = {1, 3, 1, 1};
    ddad_tensor_t *a = NULL, *b = NULL;
    ddad_status_t st = ddad_from_buffer(&a, scale, shape, 4, DDAD_DTYPE_F32);
    if (st == DDAD_OK)
        st = ddad_from_buffer(&b, shift, shape, 4, DDAD_DTYPE_F32);
    if (st == DDAD_OK)
        st = ddad_to_device(&net->in_scale, a, net->params.device);
    if (st == DDAD_OK)
        st = ddad_to_device(&net->in_shift, b, net->params.device);
    ddad_tensor_free(a);
    ddad_tensor_free(b);
    /* owned by the struct, whatever scope the caller has open */
    ddad_tensor_persist(net->in_scale);
    ddad_tensor_persist(net->in_shift);
    return st;
}

ddad_status_t ddad_wrn_init(ddad_wrn_t *net, const ddad_wrn_options_t *opt)
{
    ddad_wrn_options_t def = ddad_wrn_default_options();
    if (!opt)
        opt = &def;
    memset(net, 0, sizeof *net);
    ddad_params_init(&net->params, opt->device);
    ddad_status_t st = build(net);
    if (st != DDAD_OK) {
        ddad_fail_context(st, "building WideResNet-50-2");
        goto fail;
    }
    if ((st = make_input_affine(net)) != DDAD_OK)
        goto fail;
    if (opt->weights_path) {
        ddad_h5_t *f = NULL;
        st = ddad_h5_open(&f, opt->weights_path, DDAD_H5_READ);
        if (st != DDAD_OK) {
            ddad_fail_context(st, "WideResNet-50-2 weights");
            goto fail;
        }
        st = ddad_wrn_load_h5(net, f, opt->weights_group ? opt->weights_group : "weights");
        ddad_h5_close(f);
        if (st != DDAD_OK)
            goto fail;
    } else {
        st = init_random(net, opt->seed);
        if (st != DDAD_OK) {
            ddad_fail_context(st, "initialising WideResNet-50-2 randomly");
            goto fail;
        }
        net->random_weights = true;
        snprintf(net->source, sizeof net->source, "random (seed %llu)", (unsigned long long)opt->seed);
        ddad_log(DDAD_LOG_WARN, "WideResNet-50-2: no weights file given, using random weights (seed %llu); "
                 "PaDiM distances are not those of the ImageNet network",
                 (unsigned long long)opt->seed);
    }
    return DDAD_OK;
fail:
    ddad_wrn_free(net);
    return st;
}

void ddad_wrn_free(ddad_wrn_t *net)
{
    if (!net)
        return;
    ddad_params_free(&net->params);
    ddad_tensor_free(net->in_scale);
    ddad_tensor_free(net->in_shift);
    memset(net, 0, sizeof *net);
}

ddad_status_t ddad_wrn_load_h5(ddad_wrn_t *net, ddad_h5_t *f, const char *group)
{
    if (!group)
        group = "weights";
    ddad_status_t st = ddad_params_load_h5(&net->params, f, group, DDAD_PARAMS_REQUIRE_ALL, NULL);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "loading WideResNet-50-2 (conv1, bn1 and layer1..layer3 are required; "
                                     "convert a torchvision wide_resnet50_2 state_dict with ddad-import)");
    net->random_weights = false;
    snprintf(net->source, sizeof net->source, "%s", ddad_h5_path(f));
    return DDAD_OK;
}

/* ---- forward --------------------------------------------------------------- */

static ddad_status_t bn_eval(ddad_tensor_t **out, const ddad_tensor_t *x, const ddad_wrn_bn_t *bn)
{
    return ddad_batch_norm_eval(out, x, bn->weight, bn->bias, bn->running_mean, bn->running_var, DDAD_WRN_BN_EPS);
}

/* One Bottleneck inside the caller's scope: x (N, in, H, W) -> (N, out, H/s, W/s). */
static ddad_status_t bottleneck(ddad_tensor_t **out, const ddad_tensor_t *x, const ddad_wrn_block_t *b)
{
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *h, *t, *id = (ddad_tensor_t *)x;
    DDAD_TRY(ddad_conv2d(&t, x, b->conv1_w, NULL, 1, 1, 0, 0, 1, 1, 1));               /* (N, w, H, W) */
    DDAD_TRY(bn_eval(&h, t, &b->bn1));
    DDAD_TRY(ddad_relu(&h, h));
    DDAD_TRY(ddad_conv2d(&t, h, b->conv2_w, NULL, b->stride, b->stride, 1, 1, 1, 1, 1)); /* (N, w, H/s, W/s) */
    DDAD_TRY(bn_eval(&h, t, &b->bn2));
    DDAD_TRY(ddad_relu(&h, h));
    DDAD_TRY(ddad_conv2d(&t, h, b->conv3_w, NULL, 1, 1, 0, 0, 1, 1, 1));               /* (N, out, H/s, W/s) */
    DDAD_TRY(bn_eval(&h, t, &b->bn3));
    if (b->down_w) {
        DDAD_TRY(ddad_conv2d(&t, x, b->down_w, NULL, b->stride, b->stride, 0, 0, 1, 1, 1));
        DDAD_TRY(bn_eval(&id, t, &b->down_bn));
    }
    DDAD_TRY(ddad_add(&h, h, id));
    DDAD_TRY(ddad_relu(out, h));
    return DDAD_OK;
fail:
    return ddad_fail_context(st, "WideResNet-50-2 layer%d.%d", b->layer, b->index);
}

ddad_status_t ddad_wrn_forward(const ddad_wrn_t *net, const ddad_tensor_t *x, ddad_tensor_t *out[DDAD_WRN_NUM_LAYERS])
{
    if (!net || !net->conv1_w)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_wrn_forward: network not initialised");
    if (ddad_tensor_dim(x) != 4 || ddad_tensor_size(x, 1) != 3) {
        char d[128];
        ddad_tensor_describe(x, d, sizeof d);
        return ddad_fail(DDAD_STATUS_SHAPE, "ddad_wrn_forward: input must be (N, 3, H, W) in [-1, 1], got %s", d);
    }
    ddad_status_t st = DDAD_OK;
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *h, *t, *layer_out[DDAD_WRN_NUM_LAYERS] = {0};
    DDAD_TRY(ddad_mul(&t, x, net->in_scale));            /* ImageNet-normalised input */
    DDAD_TRY(ddad_add(&h, t, net->in_shift));
    DDAD_TRY(ddad_conv2d(&t, h, net->conv1_w, NULL, 2, 2, 3, 3, 1, 1, 1)); /* (N, 64, H/2, W/2) */
    DDAD_TRY(bn_eval(&h, t, &net->bn1));
    DDAD_TRY(ddad_relu(&h, h));
    DDAD_TRY(ddad_max_pool2d(&h, h, 3, 2, 1));            /* (N, 64, H/4, W/4) */
    for (int i = 0; i < DDAD_WRN_NUM_BLOCKS; i++) {
        const ddad_wrn_block_t *b = &net->blocks[i];
        DDAD_TRY(bottleneck(&h, h, b));
        if (b->index == wrn_layer_blocks[b->layer - 1] - 1)
            layer_out[b->layer - 1] = h;
    }
    for (int l = 0; l < DDAD_WRN_NUM_LAYERS; l++)
        out[l] = ddad_tensor_keep(layer_out[l]);
fail:
    ddad_scope_end(mark);
    return st;
}
