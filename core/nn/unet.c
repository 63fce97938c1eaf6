/* core/nn/unet.c - see unet.h. */
#include "unet.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GN_GROUPS 32
#define GN_EPS 1e-5

/* How ddad_unet_init_weights draws each tensor. */
typedef enum init_kind {
    INIT_UNIFORM = 0, /* Conv/Linear weight or bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    INIT_ZERO,        /* zero_module convs, GroupNorm bias                              */
    INIT_ONE,         /* GroupNorm weight                                               */
    INIT_NORMAL       /* nn.Embedding: N(0, 1)                                          */
} init_kind_t;

struct ddad_unet_init_rec {
    ddad_tensor_t *t;
    init_kind_t kind;
    int64_t fan_in;
};

/* ---- builder: one code path for registration and enumeration ------------ */

typedef struct builder {
    ddad_params_t *params;      /* NULL: dry run (enumeration)              */
    ddad_unet_param_fn fn;      /* dry run sink (may be NULL)               */
    void *user;
    int64_t numel;
    ddad_unet_t *u;             /* init records go here in a real build     */
    size_t inits_cap;
} builder_t;

static ddad_status_t decl(builder_t *b, ddad_tensor_t **slot, init_kind_t kind, int64_t fan_in, const int64_t *shape,
                          int ndim, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static ddad_status_t decl(builder_t *b, ddad_tensor_t **slot, init_kind_t kind, int64_t fan_in, const int64_t *shape,
                          int ndim, const char *fmt, ...)
{
    char name[DDAD_PARAM_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof name)
        return ddad_fail(DDAD_STATUS_INTERNAL, "unet: parameter name too long (%d characters, at most %d)", len,
                         DDAD_PARAM_NAME_MAX - 1);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    b->numel += n;
    *slot = NULL;
    if (!b->params) {
        if (b->fn)
            b->fn(b->user, name, shape, ndim);
        return DDAD_OK;
    }
    ddad_status_t st = ddad_params_new(b->params, slot, name, shape, ndim);
    if (st != DDAD_OK)
        return st;
    ddad_unet_t *u = b->u;
    if (u->n_inits == b->inits_cap) {
        size_t cap = b->inits_cap ? 2 * b->inits_cap : 256;
        ddad_unet_init_rec_t *r = realloc(u->inits, cap * sizeof *r);
        if (!r)
            return ddad_fail(DDAD_STATUS_NOMEM, "unet: out of memory recording parameter %s", name);
        u->inits = r;
        b->inits_cap = cap;
    }
    u->inits[u->n_inits++] = (ddad_unet_init_rec_t){*slot, kind, fan_in};
    return DDAD_OK;
}

/* nn.Conv2d / Conv1d / Linear: weight (out, in, k...) and bias (out). */
static ddad_status_t decl_affine(builder_t *b, ddad_tensor_t **w, ddad_tensor_t **bias, bool zero, int64_t out,
                                 int64_t in, int ksize_dims, int64_t k, const char *prefix)
{
    int64_t shape[4] = {out, in, k, k};
    int ndim = 2 + ksize_dims;
    int64_t fan_in = in;
    for (int i = 0; i < ksize_dims; i++)
        fan_in *= k;
    init_kind_t kind = zero ? INIT_ZERO : INIT_UNIFORM;
    ddad_status_t st = decl(b, w, kind, fan_in, shape, ndim, "%s.weight", prefix);
    if (st == DDAD_OK)
        st = decl(b, bias, kind, fan_in, shape, 1, "%s.bias", prefix);
    return st;
}

static ddad_status_t decl_norm(builder_t *b, ddad_tensor_t **w, ddad_tensor_t **bias, int64_t ch, const char *prefix)
{
    ddad_status_t st = decl(b, w, INIT_ONE, 0, &ch, 1, "%s.weight", prefix);
    if (st == DDAD_OK)
        st = decl(b, bias, INIT_ZERO, 0, &ch, 1, "%s.bias", prefix);
    return st;
}

static ddad_status_t build_res(builder_t *b, ddad_unet_layer_t *l, const char *prefix, int64_t in_ch, int64_t out_ch,
                               int64_t emb_dim, bool scale_shift, int updown)
{
    char p[DDAD_PARAM_NAME_MAX];
    ddad_unet_resblock_t *r = &l->res;
    ddad_status_t st = DDAD_OK;
    l->kind = DDAD_UNET_LAYER_RES;
    r->in_ch = in_ch;
    r->out_ch = out_ch;
    r->updown = updown;
    r->scale_shift = scale_shift;
    snprintf(p, sizeof p, "%s.in_layers.0", prefix);
    DDAD_TRY(decl_norm(b, &r->in_norm_w, &r->in_norm_b, in_ch, p));
    snprintf(p, sizeof p, "%s.in_layers.2", prefix);
    DDAD_TRY(decl_affine(b, &r->in_conv_w, &r->in_conv_b, false, out_ch, in_ch, 2, 3, p));
    snprintf(p, sizeof p, "%s.emb_layers.1", prefix);
    DDAD_TRY(decl_affine(b, &r->emb_w, &r->emb_b, false, scale_shift ? 2 * out_ch : out_ch, emb_dim, 0, 1, p));
    snprintf(p, sizeof p, "%s.out_layers.0", prefix);
    DDAD_TRY(decl_norm(b, &r->out_norm_w, &r->out_norm_b, out_ch, p));
    snprintf(p, sizeof p, "%s.out_layers.3", prefix);
    DDAD_TRY(decl_affine(b, &r->out_conv_w, &r->out_conv_b, true, out_ch, out_ch, 2, 3, p));
    if (out_ch != in_ch) {
        snprintf(p, sizeof p, "%s.skip_connection", prefix);
        DDAD_TRY(decl_affine(b, &r->skip_w, &r->skip_b, false, out_ch, in_ch, 2, 1, p));
    }
fail:
    return st;
}

static ddad_status_t build_attn(builder_t *b, ddad_unet_layer_t *l, const char *prefix, int64_t ch, int head_channels,
                                int num_heads)
{
    char p[DDAD_PARAM_NAME_MAX];
    ddad_unet_attn_t *a = &l->attn;
    ddad_status_t st = DDAD_OK;
    l->kind = DDAD_UNET_LAYER_ATTN;
    a->ch = ch;
    a->heads = head_channels > 0 ? ch / head_channels : num_heads;
    snprintf(p, sizeof p, "%s.norm", prefix);
    DDAD_TRY(decl_norm(b, &a->norm_w, &a->norm_b, ch, p));
    snprintf(p, sizeof p, "%s.qkv", prefix);
    DDAD_TRY(decl_affine(b, &a->qkv_w, &a->qkv_b, false, 3 * ch, ch, 1, 1, p));
    snprintf(p, sizeof p, "%s.proj_out", prefix);
    DDAD_TRY(decl_affine(b, &a->proj_w, &a->proj_b, true, ch, ch, 1, 1, p));
fail:
    return st;
}

static bool attention_at(const ddad_unet_options_t *o, int ds)
{
    for (int i = 0; i < o->n_attention_resolutions; i++)
        if (o->attention_resolutions[i] > 0 && o->image_size / o->attention_resolutions[i] == ds)
            return true;
    return false;
}

void ddad_unet_options_paper(ddad_unet_options_t *o)
{
    memset(o, 0, sizeof *o);
    o->image_size = 256;
    o->in_channels = 3;
    o->model_channels = 256;
    o->out_channels = 6;
    o->num_res_blocks = 2;
    o->n_attention_resolutions = 3;
    o->attention_resolutions[0] = 32;
    o->attention_resolutions[1] = 16;
    o->attention_resolutions[2] = 8;
    static const int mult[6] = {1, 1, 2, 2, 4, 4};
    o->n_channel_mult = 6;
    memcpy(o->channel_mult, mult, sizeof mult);
    o->num_head_channels = 64;
    o->num_heads = 4;
    o->num_classes = 15;
    o->resblock_updown = true;
    o->use_scale_shift_norm = true;
    o->dropout = 0.0;
    o->feature_tap = 10;
    o->feat_channels = 272;
    o->init_seed = 0;
    o->skip_random_init = false;
}

static ddad_status_t check_ch(const char *what, int64_t ch)
{
    if (ch <= 0 || ch % GN_GROUPS != 0)
        return ddad_fail(DDAD_STATUS_USAGE,
                         "unet options: %s has %lld channels; GroupNorm(32) needs a positive multiple of 32 "
                         "(choose model_channels and channel_mult accordingly)",
                         what, (long long)ch);
    return DDAD_OK;
}

ddad_status_t ddad_unet_options_check(const ddad_unet_options_t *o)
{
    if (!o)
        return ddad_fail(DDAD_STATUS_USAGE, "unet options: NULL");
    if (o->n_channel_mult < 1 || o->n_channel_mult > DDAD_UNET_MAX_LEVELS)
        return ddad_fail(DDAD_STATUS_USAGE, "unet options: channel_mult has %d entries (1..%d allowed)",
                         o->n_channel_mult, DDAD_UNET_MAX_LEVELS);
    if (o->n_attention_resolutions < 0 || o->n_attention_resolutions > DDAD_UNET_MAX_ATTN)
        return ddad_fail(DDAD_STATUS_USAGE, "unet options: attention_resolutions has %d entries (0..%d allowed)",
                         o->n_attention_resolutions, DDAD_UNET_MAX_ATTN);
    if (o->image_size <= 0 || o->in_channels <= 0 || o->out_channels <= 0 || o->num_res_blocks < 1)
        return ddad_fail(DDAD_STATUS_USAGE,
                         "unet options: image_size %d, in_channels %d, out_channels %d, num_res_blocks %d must be "
                         "positive",
                         o->image_size, o->in_channels, o->out_channels, o->num_res_blocks);
    if (o->model_channels <= 0 || o->model_channels % 2 != 0)
        return ddad_fail(DDAD_STATUS_USAGE, "unet options: model_channels %d must be positive and even",
                         o->model_channels);
    if (o->dropout != 0.0)
        return ddad_fail(DDAD_STATUS_USAGE,
                         "unet options: dropout %g is not supported (only 0, the paper's setting)", o->dropout);
    if (o->num_classes < 0)
        return ddad_fail(DDAD_STATUS_USAGE, "unet options: num_classes %d < 0", o->num_classes);
    ddad_status_t st;
    for (int l = 0; l < o->n_channel_mult; l++) {
        char what[64];
        snprintf(what, sizeof what, "level %d (channel_mult %d)", l, o->channel_mult[l]);
        if ((st = check_ch(what, (int64_t)o->channel_mult[l] * o->model_channels)) != DDAD_OK)
            return st;
        int64_t ch = (int64_t)o->channel_mult[l] * o->model_channels;
        if (o->num_head_channels > 0 && ch % o->num_head_channels != 0)
            return ddad_fail(DDAD_STATUS_USAGE, "unet options: %lld channels at level %d are not divisible by "
                             "num_head_channels %d", (long long)ch, l, o->num_head_channels);
        if (o->num_head_channels <= 0 && (o->num_heads <= 0 || ch % o->num_heads != 0))
            return ddad_fail(DDAD_STATUS_USAGE, "unet options: %lld channels at level %d are not divisible by "
                             "num_heads %d", (long long)ch, l, o->num_heads);
    }
    int n_output = o->n_channel_mult * (o->num_res_blocks + 1);
    if (o->feature_tap >= n_output || o->feature_tap < -1)
        return ddad_fail(DDAD_STATUS_USAGE,
                         "unet options: feature_tap %d is outside the %d output blocks (use -1 for no feature head)",
                         o->feature_tap, n_output);
    if (o->feature_tap >= 0 && o->feat_channels <= 0)
        return ddad_fail(DDAD_STATUS_USAGE, "unet options: feat_channels %d must be positive", o->feat_channels);
    return DDAD_OK;
}

/* The whole layout, for a real build (b->params set) or a dry run. */
static ddad_status_t unet_build(ddad_unet_t *u, const ddad_unet_options_t *o, builder_t *b)
{
    ddad_status_t st = ddad_unet_options_check(o);
    if (st != DDAD_OK)
        return st;
    u->opt = *o;
    const int64_t C = o->model_channels;
    const int64_t E = 4 * C;
    const int L = o->n_channel_mult, R = o->num_res_blocks;
    char p[DDAD_PARAM_NAME_MAX];
    u->emb_dim = E;
    u->n_input = 1 + L * R + (L - 1);
    u->n_output = L * (R + 1);
    u->input_blocks = calloc((size_t)u->n_input, sizeof *u->input_blocks);
    u->output_blocks = calloc((size_t)u->n_output, sizeof *u->output_blocks);
    int64_t *chans = calloc((size_t)u->n_input, sizeof *chans);
    if (!u->input_blocks || !u->output_blocks || !chans) {
        free(chans);
        return ddad_fail(DDAD_STATUS_NOMEM, "unet: out of memory for %d + %d blocks", u->n_input, u->n_output);
    }

    DDAD_TRY(decl_affine(b, &u->time_w0, &u->time_b0, false, E, C, 0, 1, "time_embed.0"));
    DDAD_TRY(decl_affine(b, &u->time_w2, &u->time_b2, false, E, E, 0, 1, "time_embed.2"));
    if (o->num_classes > 0) {
        int64_t shape[2] = {o->num_classes, E};
        DDAD_TRY(decl(b, &u->label_emb, INIT_NORMAL, 0, shape, 2, "label_emb.weight"));
    }

    /* encoder */
    int64_t ch = (int64_t)o->channel_mult[0] * C;
    const int64_t ch0 = ch;
    int ds = 1, bi = 0, nch = 0;
    {
        ddad_unet_block_t *blk = &u->input_blocks[bi];
        blk->n_layers = 1;
        blk->layers[0].kind = DDAD_UNET_LAYER_CONV;
        DDAD_TRY(decl_affine(b, &blk->layers[0].conv_w, &blk->layers[0].conv_b, false, ch, o->in_channels, 2, 3,
                             "input_blocks.0.0"));
        blk->out_ch = ch;
        blk->ds = ds;
        chans[nch++] = ch;
        bi++;
    }
    for (int level = 0; level < L; level++) {
        int64_t mch = (int64_t)o->channel_mult[level] * C;
        for (int r = 0; r < R; r++) {
            ddad_unet_block_t *blk = &u->input_blocks[bi];
            snprintf(p, sizeof p, "input_blocks.%d.0", bi);
            DDAD_TRY(build_res(b, &blk->layers[0], p, ch, mch, E, o->use_scale_shift_norm, 0));
            blk->n_layers = 1;
            ch = mch;
            if (attention_at(o, ds)) {
                snprintf(p, sizeof p, "input_blocks.%d.1", bi);
                DDAD_TRY(build_attn(b, &blk->layers[1], p, ch, o->num_head_channels, o->num_heads));
                blk->n_layers = 2;
            }
            blk->out_ch = ch;
            blk->ds = ds;
            chans[nch++] = ch;
            bi++;
        }
        if (level != L - 1) {
            ddad_unet_block_t *blk = &u->input_blocks[bi];
            snprintf(p, sizeof p, "input_blocks.%d.0", bi);
            if (o->resblock_updown) {
                DDAD_TRY(build_res(b, &blk->layers[0], p, ch, ch, E, o->use_scale_shift_norm, -1));
            } else {
                char q[DDAD_PARAM_NAME_MAX + 8];
                snprintf(q, sizeof q, "%s.op", p);
                blk->layers[0].kind = DDAD_UNET_LAYER_DOWN;
                DDAD_TRY(decl_affine(b, &blk->layers[0].conv_w, &blk->layers[0].conv_b, false, ch, ch, 2, 3, q));
            }
            blk->n_layers = 1;
            ds *= 2;
            blk->out_ch = ch;
            blk->ds = ds;
            chans[nch++] = ch;
            bi++;
        }
    }

    /* middle */
    {
        ddad_unet_block_t *blk = &u->middle;
        DDAD_TRY(build_res(b, &blk->layers[0], "middle_block.0", ch, ch, E, o->use_scale_shift_norm, 0));
        DDAD_TRY(build_attn(b, &blk->layers[1], "middle_block.1", ch, o->num_head_channels, o->num_heads));
        DDAD_TRY(build_res(b, &blk->layers[2], "middle_block.2", ch, ch, E, o->use_scale_shift_norm, 0));
        blk->n_layers = 3;
        blk->out_ch = ch;
        blk->ds = ds;
    }

    /* decoder */
    bi = 0;
    for (int level = L - 1; level >= 0; level--) {
        int64_t mch = (int64_t)o->channel_mult[level] * C;
        for (int i = 0; i <= R; i++) {
            ddad_unet_block_t *blk = &u->output_blocks[bi];
            int64_t ich = chans[--nch];
            int nl = 0;
            snprintf(p, sizeof p, "output_blocks.%d.%d", bi, nl);
            DDAD_TRY(build_res(b, &blk->layers[nl++], p, ch + ich, mch, E, o->use_scale_shift_norm, 0));
            ch = mch;
            if (attention_at(o, ds)) {
                snprintf(p, sizeof p, "output_blocks.%d.%d", bi, nl);
                DDAD_TRY(build_attn(b, &blk->layers[nl++], p, ch, o->num_head_channels, o->num_heads));
            }
            if (level && i == R) {
                snprintf(p, sizeof p, "output_blocks.%d.%d", bi, nl);
                if (o->resblock_updown) {
                    DDAD_TRY(build_res(b, &blk->layers[nl++], p, ch, ch, E, o->use_scale_shift_norm, +1));
                } else {
                    char q[DDAD_PARAM_NAME_MAX + 8];
                    snprintf(q, sizeof q, "%s.conv", p);
                    blk->layers[nl].kind = DDAD_UNET_LAYER_UP;
                    DDAD_TRY(decl_affine(b, &blk->layers[nl].conv_w, &blk->layers[nl].conv_b, false, ch, ch, 2, 3, q));
                    nl++;
                }
                ds /= 2;
            }
            blk->n_layers = nl;
            blk->out_ch = ch;
            blk->ds = ds;
            bi++;
        }
    }

    DDAD_TRY(decl_norm(b, &u->out_norm_w, &u->out_norm_b, ch, "out.0"));
    DDAD_TRY(decl_affine(b, &u->out_conv_w, &u->out_conv_b, true, o->out_channels, ch0, 2, 3, "out.2"));

    if (o->feature_tap >= 0) {
        u->tap_channels = u->output_blocks[o->feature_tap].out_ch;
        DDAD_TRY(check_ch("the feature tap", u->tap_channels));
        DDAD_TRY(decl_norm(b, &u->feat_norm_w, &u->feat_norm_b, u->tap_channels, "feat_rec1.0"));
        DDAD_TRY(decl_affine(b, &u->feat_conv_w, &u->feat_conv_b, false, o->feat_channels, u->tap_channels, 2, 1,
                             "feat_rec1.2"));
    }
fail:
    free(chans);
    return st;
}

void ddad_unet_free(ddad_unet_t *u)
{
    if (!u)
        return;
    free(u->input_blocks);
    free(u->output_blocks);
    free(u->inits);
    memset(u, 0, sizeof *u);
}

ddad_status_t ddad_unet_enumerate_params(const ddad_unet_options_t *opt, ddad_unet_param_fn fn, void *user,
                                         int64_t *n_params)
{
    ddad_unet_t u;
    memset(&u, 0, sizeof u);
    builder_t b = {.params = NULL, .fn = fn, .user = user, .u = &u};
    ddad_status_t st = unet_build(&u, opt, &b);
    ddad_unet_free(&u);
    if (st == DDAD_OK && n_params)
        *n_params = b.numel;
    return st;
}

ddad_status_t ddad_unet_init_weights(ddad_unet_t *u, ddad_generator_t *gen)
{
    ddad_status_t st = DDAD_OK;
    for (size_t i = 0; i < u->n_inits; i++) {
        const ddad_unet_init_rec_t *r = &u->inits[i];
        switch (r->kind) {
        case INIT_UNIFORM: st = ddad_params_init_uniform(r->t, r->fan_in, gen); break;
        case INIT_ZERO: st = ddad_zero_(r->t); break;
        case INIT_ONE: st = ddad_fill_(r->t, 1.0); break;
        case INIT_NORMAL: st = ddad_normal_(r->t, 0.0, 1.0, gen); break;
        }
        if (st != DDAD_OK)
            return ddad_fail_context(st, "unet: initialising parameter %zu", i);
    }
    return DDAD_OK;
}

ddad_status_t ddad_unet_init(ddad_unet_t *u, const ddad_unet_options_t *opt, ddad_params_t *params)
{
    memset(u, 0, sizeof *u);
    if (!params)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_unet_init: params registry is NULL");
    builder_t b = {.params = params, .u = u};
    ddad_status_t st = unet_build(u, opt, &b);
    if (st != DDAD_OK) {
        ddad_unet_free(u);
        return ddad_fail_context(st, "building the UNet");
    }
    u->params = params;
    if (!opt->skip_random_init) {
        ddad_generator_t *gen = NULL;
        st = ddad_generator_create(&gen, opt->init_seed, params->device);
        if (st == DDAD_OK) {
            st = ddad_unet_init_weights(u, gen);
            ddad_generator_free(gen);
        }
        if (st != DDAD_OK) {
            ddad_unet_free(u);
            return st;
        }
    }
    return DDAD_OK;
}

/* ---- forward ---------------------------------------------------------------- */

ddad_status_t ddad_timestep_embedding(ddad_tensor_t **out, const ddad_tensor_t *t, int64_t dim)
{
    if (dim < 2 || dim % 2 != 0)
        return ddad_fail(DDAD_STATUS_USAGE, "timestep embedding: dim %lld must be even and >= 2", (long long)dim);
    if (ddad_tensor_dim(t) != 1)
        return ddad_fail(DDAD_STATUS_SHAPE, "timestep embedding: t must be 1-D (N), got %d dims", ddad_tensor_dim(t));
    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    const int64_t half = dim / 2;
    ddad_tensor_t *ar, *f, *hs, *fr, *tf, *args, *c, *s, *emb;
    ddad_device_t dev = ddad_tensor_device(t);
    /* freqs = exp(-ln(10000) * arange(half) / half), in float32 as torch does */
    DDAD_TRY(ddad_arange(&ar, 0, (double)half, 1, DDAD_DTYPE_F32, dev));
    DDAD_TRY(ddad_mul_scalar(&f, ar, -log(10000.0)));
    DDAD_TRY(ddad_scalar_tensor(&hs, (double)half, DDAD_DTYPE_F32, dev));
    DDAD_TRY(ddad_div(&fr, f, hs));
    DDAD_TRY(ddad_exp(&f, fr));
    int64_t row[2] = {1, half}, col[2] = {ddad_tensor_size(t, 0), 1};
    DDAD_TRY(ddad_reshape(&fr, f, row, 2));
    DDAD_TRY(ddad_to_dtype(&tf, t, DDAD_DTYPE_F32));
    DDAD_TRY(ddad_reshape(&tf, tf, col, 2));
    DDAD_TRY(ddad_mul(&args, tf, fr));
    DDAD_TRY(ddad_unary(&c, args, DDAD_UNARY_COS));
    DDAD_TRY(ddad_unary(&s, args, DDAD_UNARY_SIN));
    const ddad_tensor_t *parts[2] = {c, s};
    DDAD_TRY(ddad_cat(&emb, parts, 2, 1));
    *out = ddad_tensor_keep(emb);
fail:
    ddad_scope_end(mark);
    return st;
}

static ddad_status_t gn(ddad_tensor_t **out, const ddad_tensor_t *x, const ddad_tensor_t *w, const ddad_tensor_t *b)
{
    return ddad_group_norm(out, x, GN_GROUPS, w, b, GN_EPS);
}

static ddad_status_t resample(ddad_tensor_t **out, const ddad_tensor_t *x, int updown)
{
    if (updown < 0)
        return ddad_avg_pool2d(out, x, 2, 2, 0);
    return ddad_interpolate(out, x, 2 * ddad_tensor_size(x, 2), 2 * ddad_tensor_size(x, 3), DDAD_INTERP_NEAREST,
                            false);
}

/* x (N, in_ch, H, W), emb_act = SiLU(emb) (N, E) -> (N, out_ch, H', W'), owned. */
static ddad_status_t res_forward(ddad_tensor_t **out, const ddad_unet_resblock_t *r, const ddad_tensor_t *x,
                                 const ddad_tensor_t *emb_act)
{
    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *h, *xs = (ddad_tensor_t *)x, *e, *y;
    DDAD_TRY(gn(&h, x, r->in_norm_w, r->in_norm_b));
    DDAD_TRY(ddad_silu(&h, h));
    if (r->updown) {
        DDAD_TRY(resample(&h, h, r->updown));
        DDAD_TRY(resample(&xs, x, r->updown));
    }
    DDAD_TRY(ddad_conv2d(&h, h, r->in_conv_w, r->in_conv_b, 1, 1, 1, 1, 1, 1, 1));
    DDAD_TRY(ddad_linear(&e, emb_act, r->emb_w, r->emb_b)); // (N, 2 out | out)
    int64_t es[4] = {ddad_tensor_size(e, 0), ddad_tensor_size(e, 1), 1, 1};
    DDAD_TRY(ddad_reshape(&e, e, es, 4));
    if (r->scale_shift) {
        ddad_tensor_t *ss[2];
        DDAD_TRY(ddad_chunk(ss, e, 2, 1));
        DDAD_TRY(gn(&h, h, r->out_norm_w, r->out_norm_b));
        ddad_tensor_t *scale1;
        DDAD_TRY(ddad_add_scalar(&scale1, ss[0], 1.0));
        DDAD_TRY(ddad_mul(&h, h, scale1));
        DDAD_TRY(ddad_add(&h, h, ss[1]));
    } else {
        DDAD_TRY(ddad_add(&h, h, e));
        DDAD_TRY(gn(&h, h, r->out_norm_w, r->out_norm_b));
    }
    DDAD_TRY(ddad_silu(&h, h));
    DDAD_TRY(ddad_conv2d(&h, h, r->out_conv_w, r->out_conv_b, 1, 1, 1, 1, 1, 1, 1));
    if (r->skip_w)
        DDAD_TRY(ddad_conv2d(&xs, xs, r->skip_w, r->skip_b, 1, 1, 0, 0, 1, 1, 1));
    DDAD_TRY(ddad_add(&y, xs, h));
    *out = ddad_tensor_keep(y);
fail:
    ddad_scope_end(mark);
    return st;
}

/* Legacy QKV attention: x (N, C, H, W) -> x + proj(attn(qkv(GN(x)))), owned. */
static ddad_status_t attn_forward(ddad_tensor_t **out, const ddad_unet_attn_t *a, const ddad_tensor_t *x)
{
    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    int64_t shape[DDAD_MAX_DIMS];
    int nd = ddad_tensor_shape(x, shape, DDAD_MAX_DIMS);
    const int64_t N = shape[0], C = shape[1], H = a->heads, ch = C / H;
    int64_t T = 1;
    for (int i = 2; i < nd; i++)
        T *= shape[i];
    ddad_tensor_t *xf, *h, *qkv, *q, *k, *v, *w, *y;
    int64_t s3[3] = {N, C, T};
    DDAD_TRY(ddad_reshape(&xf, x, s3, 3));
    DDAD_TRY(gn(&h, xf, a->norm_w, a->norm_b));
    DDAD_TRY(ddad_conv1d(&qkv, h, a->qkv_w, a->qkv_b, 1, 0, 1, 1)); // (N, 3C, T)
    int64_t sh[3] = {N * H, 3 * ch, T};
    DDAD_TRY(ddad_reshape(&qkv, qkv, sh, 3));                      // (N*H, 3ch, T), per head [q|k|v]
    DDAD_TRY(ddad_slice(&q, qkv, 1, 0, ch, 1));
    DDAD_TRY(ddad_slice(&k, qkv, 1, ch, 2 * ch, 1));
    DDAD_TRY(ddad_slice(&v, qkv, 1, 2 * ch, 3 * ch, 1));
    const double scale = 1.0 / sqrt(sqrt((double)ch));
    DDAD_TRY(ddad_mul_scalar(&q, q, scale));
    DDAD_TRY(ddad_mul_scalar(&k, k, scale));
    DDAD_TRY(ddad_transpose(&q, q, 1, 2));                         // (B, T, ch)
    DDAD_TRY(ddad_bmm(&w, q, k));                                  // (B, T, S)
    DDAD_TRY(ddad_softmax(&w, w, -1));
    DDAD_TRY(ddad_transpose(&w, w, 1, 2));                         // (B, S, T)
    DDAD_TRY(ddad_bmm(&h, v, w));                                  // (B, ch, T)
    DDAD_TRY(ddad_reshape(&h, h, s3, 3));                          // (N, C, T)
    DDAD_TRY(ddad_conv1d(&h, h, a->proj_w, a->proj_b, 1, 0, 1, 1));
    DDAD_TRY(ddad_add(&y, xf, h));
    DDAD_TRY(ddad_reshape(&y, y, shape, nd));
    *out = ddad_tensor_keep(y);
fail:
    ddad_scope_end(mark);
    return st;
}

/* One TimestepEmbedSequential; returns an owned tensor. */
static ddad_status_t block_forward(ddad_tensor_t **out, const ddad_unet_block_t *blk, const ddad_tensor_t *x,
                                   const ddad_tensor_t *emb_act)
{
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *h = NULL;
    for (int i = 0; i < blk->n_layers; i++) {
        const ddad_unet_layer_t *l = &blk->layers[i];
        const ddad_tensor_t *in = h ? h : x;
        ddad_tensor_t *y = NULL;
        switch (l->kind) {
        case DDAD_UNET_LAYER_CONV: st = ddad_conv2d(&y, in, l->conv_w, l->conv_b, 1, 1, 1, 1, 1, 1, 1); break;
        case DDAD_UNET_LAYER_RES: st = res_forward(&y, &l->res, in, emb_act); break;
        case DDAD_UNET_LAYER_ATTN: st = attn_forward(&y, &l->attn, in); break;
        case DDAD_UNET_LAYER_DOWN: st = ddad_conv2d(&y, in, l->conv_w, l->conv_b, 2, 2, 1, 1, 1, 1, 1); break;
        case DDAD_UNET_LAYER_UP: {
            ddad_tensor_t *up = NULL;
            st = resample(&up, in, +1);
            if (st == DDAD_OK)
                st = ddad_conv2d(&y, up, l->conv_w, l->conv_b, 1, 1, 1, 1, 1, 1, 1);
            ddad_tensor_free(up);
            break;
        }
        }
        ddad_tensor_free(h); /* intermediate: release its memory now */
        h = y;
        if (st != DDAD_OK) {
            ddad_tensor_free(h);
            return st;
        }
    }
    *out = h;
    return DDAD_OK;
}

/* The parameters a block reads (at most 3 layers of at most 12 tensors). */
#define BLOCK_MAX_PARAMS (DDAD_UNET_MAX_LAYERS * 12)

static size_t block_params(const ddad_unet_block_t *blk, ddad_tensor_t **p)
{
    size_t n = 0;
    for (int i = 0; i < blk->n_layers; i++) {
        const ddad_unet_layer_t *l = &blk->layers[i];
        ddad_tensor_t *cand[12] = {NULL};
        switch (l->kind) {
        case DDAD_UNET_LAYER_CONV:
        case DDAD_UNET_LAYER_DOWN:
        case DDAD_UNET_LAYER_UP:
            cand[0] = l->conv_w;
            cand[1] = l->conv_b;
            break;
        case DDAD_UNET_LAYER_RES: {
            const ddad_unet_resblock_t *r = &l->res;
            ddad_tensor_t *rp[12] = {r->in_norm_w, r->in_norm_b, r->in_conv_w,  r->in_conv_b,  r->emb_w,  r->emb_b,
                                     r->out_norm_w, r->out_norm_b, r->out_conv_w, r->out_conv_b, r->skip_w, r->skip_b};
            memcpy(cand, rp, sizeof rp);
            break;
        }
        case DDAD_UNET_LAYER_ATTN: {
            const ddad_unet_attn_t *a = &l->attn;
            ddad_tensor_t *ap[6] = {a->norm_w, a->norm_b, a->qkv_w, a->qkv_b, a->proj_w, a->proj_b};
            memcpy(cand, ap, sizeof ap);
            break;
        }
        }
        for (int k = 0; k < 12; k++)
            if (cand[k])
                p[n++] = cand[k];
    }
    return n;
}

/* ddad_checkpoint_fn of one block: inputs {x, emb_act}, user the block. */
static ddad_status_t block_checkpoint_fn(void *user, const ddad_tensor_t *const *in, size_t n_in, ddad_tensor_t **out)
{
    (void)n_in;
    return block_forward(out, (const ddad_unet_block_t *)user, in[0], in[1]);
}

/* block_forward, through ddad_checkpoint when the UNet asks for it. */
static ddad_status_t block_run(const ddad_unet_t *u, ddad_tensor_t **out, const ddad_unet_block_t *blk,
                               const ddad_tensor_t *x, const ddad_tensor_t *emb_act)
{
    if (!u->opt.use_checkpoint)
        return block_forward(out, blk, x, emb_act);
    ddad_tensor_t *params[BLOCK_MAX_PARAMS];
    size_t np = block_params(blk, params);
    const ddad_tensor_t *in[2] = {x, emb_act};
    return ddad_checkpoint(out, block_checkpoint_fn, (void *)blk, in, 2, params, np);
}

ddad_status_t ddad_unet_forward(const ddad_unet_t *u, const ddad_tensor_t *x, const ddad_tensor_t *t,
                                const ddad_tensor_t *y, int64_t feat_size, ddad_tensor_t **out, ddad_tensor_t **feat)
{
    return ddad_unet_forward_ex(u, x, t, y, feat_size, out, feat, NULL, NULL);
}

static ddad_status_t check_inputs(const ddad_unet_t *u, const ddad_tensor_t *x, const ddad_tensor_t *t,
                                  const ddad_tensor_t *y, int64_t feat_size, ddad_tensor_t **out, ddad_tensor_t **feat)
{
    char d[128];
    const ddad_unet_options_t *o = &u->opt;
    ddad_tensor_describe(x, d, sizeof d);
    int64_t div = (int64_t)1 << (o->n_channel_mult - 1);
    if (ddad_tensor_dim(x) != 4 || ddad_tensor_size(x, 1) != o->in_channels || ddad_tensor_size(x, 2) % div != 0 ||
        ddad_tensor_size(x, 3) % div != 0)
        return ddad_fail(DDAD_STATUS_SHAPE,
                         "unet forward: x is %s; expected (N, %d, H, W) with H and W divisible by %lld", d,
                         o->in_channels, (long long)div);
    const int64_t N = ddad_tensor_size(x, 0);
    if (ddad_tensor_dim(t) != 1 || ddad_tensor_size(t, 0) != N)
        return ddad_fail(DDAD_STATUS_SHAPE, "unet forward: t must have shape (%lld), x is %s", (long long)N, d);
    if (o->num_classes > 0) {
        if (!y || ddad_tensor_dim(y) != 1 || ddad_tensor_size(y, 0) != N || ddad_tensor_dtype(y) != DDAD_DTYPE_I64)
            return ddad_fail(DDAD_STATUS_SHAPE,
                             "unet forward: class-conditional model (%d classes) needs y as an i64 tensor of shape "
                             "(%lld)",
                             o->num_classes, (long long)N);
    } else if (y) {
        return ddad_fail(DDAD_STATUS_USAGE, "unet forward: y given to an unconditional model (num_classes 0)");
    }
    if (feat_size < 0 || (feat_size > 0 && (o->feature_tap < 0 || !feat)))
        return ddad_fail(DDAD_STATUS_USAGE,
                         "unet forward: feat_size %lld needs a feature head (feature_tap %d) and a feat pointer",
                         (long long)feat_size, o->feature_tap);
    if (!out && feat_size == 0)
        return ddad_fail(DDAD_STATUS_USAGE, "unet forward: nothing requested (out NULL and feat_size 0)");
    return DDAD_OK;
}

ddad_status_t ddad_unet_forward_ex(const ddad_unet_t *u, const ddad_tensor_t *x, const ddad_tensor_t *t,
                                   const ddad_tensor_t *y, int64_t feat_size, ddad_tensor_t **out, ddad_tensor_t **feat,
                                   ddad_unet_hook_fn hook, void *hook_user)
{
    ddad_status_t st = check_inputs(u, x, t, y, feat_size, out, feat);
    if (st != DDAD_OK)
        return st;
    const int n_in = u->n_input;
    ddad_tensor_t **hs = calloc((size_t)n_in, sizeof *hs);
    if (!hs)
        return ddad_fail(DDAD_STATUS_NOMEM, "unet forward: out of memory");
    int nhs = 0;
    ddad_tensor_t *h = NULL, *emb_act = NULL, *fe = NULL, *o = NULL;
    char name[64];
    size_t mark = ddad_scope_begin();

    /* embeddings (temporaries live in this scope) */
    {
        ddad_tensor_t *te, *e, *le;
        DDAD_TRY(ddad_timestep_embedding(&te, t, u->opt.model_channels));
        if (hook)
            hook(hook_user, "timestep_embedding", te);
        if (ddad_tensor_dtype(u->time_w0) != DDAD_DTYPE_F32)
            DDAD_TRY(ddad_to_dtype(&te, te, ddad_tensor_dtype(u->time_w0)));
        DDAD_TRY(ddad_linear(&e, te, u->time_w0, u->time_b0));
        DDAD_TRY(ddad_silu(&e, e));
        DDAD_TRY(ddad_linear(&e, e, u->time_w2, u->time_b2));
        if (u->label_emb) {
            DDAD_TRY(ddad_embedding(&le, u->label_emb, y));
            DDAD_TRY(ddad_add(&e, e, le));
        }
        if (hook)
            hook(hook_user, "emb", e);
        DDAD_TRY(ddad_silu(&emb_act, e));
    }

    for (int i = 0; i < n_in; i++) {
        DDAD_TRY(block_run(u, &h, &u->input_blocks[i], i == 0 ? x : hs[i - 1], emb_act));
        hs[nhs++] = h;
        h = NULL;
        if (hook) {
            snprintf(name, sizeof name, "input_blocks.%d", i);
            hook(hook_user, name, hs[nhs - 1]);
        }
    }
    DDAD_TRY(block_run(u, &h, &u->middle, hs[nhs - 1], emb_act));
    if (hook)
        hook(hook_user, "middle_block", h);
    const int last = out ? u->n_output - 1 : u->opt.feature_tap;
    for (int i = 0; i <= last; i++) {
        ddad_tensor_t *cat, *nh;
        const ddad_tensor_t *parts[2] = {h, hs[nhs - 1]};
        DDAD_TRY(ddad_cat(&cat, parts, 2, 1));
        ddad_tensor_free(hs[--nhs]);
        hs[nhs] = NULL;
        ddad_tensor_free(h);
        h = NULL;
        DDAD_TRY(block_run(u, &nh, &u->output_blocks[i], cat, emb_act));
        ddad_tensor_free(cat);
        h = nh;
        if (hook) {
            snprintf(name, sizeof name, "output_blocks.%d", i);
            hook(hook_user, name, h);
        }
        if (i == u->opt.feature_tap && feat_size > 0) {
            ddad_tensor_t *r;
            DDAD_TRY(ddad_interpolate(&r, h, feat_size, feat_size, DDAD_INTERP_BILINEAR, false));
            if (hook)
                hook(hook_user, "feat_tap", r);
            DDAD_TRY(gn(&r, r, u->feat_norm_w, u->feat_norm_b));
            DDAD_TRY(ddad_silu(&r, r));
            DDAD_TRY(ddad_conv2d(&r, r, u->feat_conv_w, u->feat_conv_b, 1, 1, 0, 0, 1, 1, 1));
            fe = ddad_tensor_keep(r);
        }
    }
    if (out) {
        ddad_tensor_t *r;
        DDAD_TRY(gn(&r, h, u->out_norm_w, u->out_norm_b));
        DDAD_TRY(ddad_silu(&r, r));
        DDAD_TRY(ddad_conv2d(&r, r, u->out_conv_w, u->out_conv_b, 1, 1, 1, 1, 1, 1, 1));
        o = ddad_tensor_keep(r);
    }
    if (out)
        *out = o;
    if (feat)
        *feat = fe;
    o = fe = NULL;
fail:
    ddad_tensor_free(h);
    for (int i = 0; i < nhs; i++)
        ddad_tensor_free(hs[i]);
    ddad_scope_end(mark);
    free(hs);
    ddad_tensor_free(o); /* non-NULL only on failure after a keep */
    ddad_tensor_free(fe);
    return st;
}
