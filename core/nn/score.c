/* core/nn/score.c - see score.h */
#include "score.h"

#include "noise.h"
#include "reference.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t ddad_score_noise_seed(uint64_t seed, int64_t image_id, int64_t t)
{
    return splitmix64(splitmix64(splitmix64(seed) ^ (uint64_t)image_id) ^ (uint64_t)t);
}

uint64_t ddad_score_noise_seed_draw(uint64_t seed, int64_t image_id, int64_t t, int64_t draw)
{
    uint64_t s = ddad_score_noise_seed(seed, image_id, t);
    return draw == 0 ? s : splitmix64(s ^ (0xD1B54A32D192ED03ull * (uint64_t)draw));
}

void ddad_score_maps_free(ddad_score_maps_t *r)
{
    if (!r)
        return;
    free(r->kl_steps);
    free(r->feat_steps);
    free(r->pixel);
    free(r->feat);
    free(r->map);
    free(r->score);
    memset(r, 0, sizeof *r);
}

/* ---- the model part ------------------------------------------------------------ */

/* score.precision: whether the network forwards run under autocast, and in
 * which dtype. fp32 touches no autocast state at all (the maps are those of a
 * build without the key, bit for bit). */
typedef struct score_amp {
    bool on;
    ddad_dtype_t dtype; /* f16 or bf16 when on */
} score_amp_t;

static ddad_status_t score_amp_open(const ddad_model_t *m, score_amp_t *a)
{
    ddad_precision_t p = m->cfg.score.precision;
    a->on = p != DDAD_PRECISION_FP32;
    a->dtype = p == DDAD_PRECISION_FP16 ? DDAD_DTYPE_F16 : DDAD_DTYPE_BF16;
    if (p == DDAD_PRECISION_FP16 && m->device.type != DDAD_DEVICE_TYPE_CUDA)
        return ddad_fail(DDAD_STATUS_CONFIG,
                         "score.precision fp16 needs a CUDA device (device is %s); use fp32 or bf16", m->cfg.device);
    return DDAD_OK;
}

/* Turns autocast on (on = true) or off for the model's device; a no-op for fp32. */
static ddad_status_t score_amp_set(const ddad_model_t *m, const score_amp_t *a, bool on)
{
    if (!a->on)
        return DDAD_OK;
    ddad_status_t st = ddad_autocast_set(on, m->device, a->dtype, NULL);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "score.precision %s on %s", a->dtype == DDAD_DTYPE_F16 ? "fp16" : "bf16",
                                 m->cfg.device);
    return DDAD_OK;
}

/* After an autocast region: *t (if any, and not float32 already) to float32;
 * the new handle lands in the current scope. A no-op for fp32. */
static ddad_status_t score_amp_to_f32(const score_amp_t *a, ddad_tensor_t **t)
{
    if (!a->on || !t || !*t || ddad_tensor_dtype(*t) == DDAD_DTYPE_F32)
        return DDAD_OK;
    return ddad_to_dtype(t, *t, DDAD_DTYPE_F32);
}

/* The context of a failure inside an autocast region. */
static ddad_status_t score_amp_fail(const ddad_model_t *m, const score_amp_t *a, ddad_status_t st)
{
    if (!a->on)
        return st;
    return ddad_fail_context(st, "scoring under score.precision %s autocast on %s (fp32 is the fallback)",
                             a->dtype == DDAD_DTYPE_F16 ? "fp16" : "bf16", m->cfg.device);
}

/* dst[slot[k]] += src[k] / D for the pc maps of HW values in src (pc, HW). */
static void accumulate_draws(float *dst, const float *src, const int64_t *slot, int64_t pc, int64_t hw, int64_t D)
{
    const float w = 1.0f / (float)D;
    for (int64_t k = 0; k < pc; k++) {
        float *d = dst + slot[k] * hw;
        const float *x = src + k * hw;
        if (D == 1)
            memcpy(d, x, (size_t)hw * sizeof *d);
        else
            for (int64_t q = 0; q < hw; q++)
                d[q] += w * x[q];
    }
}

/* One chunk of (image, t, draw) triples p0 .. p0 + pc - 1 (triple p = image
 * p / (T D), timestep index (p / D) % T, noise draw p % D): adds 1/D of each
 * triple's maps to kl_steps / feat_steps at (image, t) (zeroed by the caller),
 * so a timestep's maps are the mean over its D draws. */
static ddad_status_t score_chunk(const ddad_model_t *m, const ddad_tensor_t *x0, const ddad_tensor_t *target,
                                 const int64_t *class_ids, const int64_t *image_ids, int64_t p0, int64_t pc,
                                 const score_amp_t *amp, ddad_generator_t *gen, ddad_score_maps_t *r)
{
    const ddad_config_score_t *sc = &m->cfg.score;
    const ddad_diffusion_t *d = &m->score_diffusion;
    const ddad_unet_t *u = &m->ema;
    const int64_t T = r->n_t, D = r->n_draws, H = r->h, W = r->w, HW = H * W;
    const bool rgb = sc->method == DDAD_SCORE_METHOD_RGB;
    const bool quirk = !rgb && sc->feature_timestep == DDAD_FEATURE_TIMESTEP_RESPACED_QUIRK;
    const int64_t fs = rgb ? 0 : m->cfg.features.score_size;
    ddad_device_t dev = m->device;
    int64_t *img = malloc((size_t)pc * sizeof *img), *tv = malloc((size_t)pc * sizeof *tv),
            *yv = malloc((size_t)pc * sizeof *yv), *slot = malloc((size_t)pc * sizeof *slot);
    ddad_tensor_t **noise = calloc((size_t)pc, sizeof *noise);
    float *buf = malloc((size_t)(pc * HW) * sizeof *buf);
    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    bool amp_active = false;
    if (!img || !tv || !yv || !slot || !noise || !buf) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "scoring: out of memory");
        goto fail;
    }
    for (int64_t k = 0; k < pc; k++) {
        int64_t p = p0 + k;
        img[k] = p / (T * D);
        slot[k] = p / D; /* (image, t) index into kl_steps / feat_steps */
        tv[k] = r->timesteps[slot[k] % T];
        yv[k] = class_ids ? class_ids[img[k]] : 0;
        int64_t id = image_ids ? image_ids[img[k]] : img[k];
        int64_t shape[3] = {3, H, W};
        DDAD_TRY(ddad_generator_seed(gen, ddad_score_noise_seed_draw((uint64_t)m->cfg.seed, id, tv[k], p % D)));
        DDAD_TRY(ddad_noise_draw(&noise[k], m->cfg.diffusion.noise, m->cfg.diffusion.noise_discount, shape, 3,
                                 DDAD_CPU, gen));
    }
    ddad_tensor_t *idx, *tt, *tnet, *x0c, *nz, *xt, *y = NULL, *out = NULL, *feat = NULL, *kl;
    DDAD_TRY(ddad_from_buffer(&idx, img, &pc, 1, DDAD_DTYPE_I64));
    DDAD_TRY(ddad_from_buffer(&tt, tv, &pc, 1, DDAD_DTYPE_I64));
    DDAD_TRY(ddad_stack(&nz, (const ddad_tensor_t *const *)noise, (size_t)pc, 0));
    if (dev.type != DDAD_DEVICE_TYPE_CPU) {
        DDAD_TRY(ddad_to_device(&idx, idx, dev));
        DDAD_TRY(ddad_to_device(&tt, tt, dev));
        DDAD_TRY(ddad_to_device(&nz, nz, dev));
    }
    if (m->unet_opt.num_classes > 0)
        DDAD_TRY(ddad_model_labels(m, yv, pc, &y));
    DDAD_TRY(ddad_index_select(&x0c, x0, 0, idx));
    DDAD_TRY(ddad_diffusion_q_sample(d, x0c, tt, nz, &xt));
    DDAD_TRY(ddad_diffusion_map_timesteps(d, tt, &tnet));
    /* the UNet under autocast (score.precision); everything after in fp32 */
    DDAD_TRY(score_amp_set(m, amp, true));
    amp_active = amp->on;
    if (quirk) {
        DDAD_TRY(ddad_unet_forward(u, xt, tnet, y, 0, &out, NULL));
        DDAD_TRY(ddad_unet_forward_ex(u, xt, tt, y, fs, NULL, &feat, NULL, NULL));
        r->unet_calls += 2;
    } else {
        DDAD_TRY(ddad_unet_forward(u, xt, tnet, y, fs, &out, fs > 0 ? &feat : NULL));
        r->unet_calls += 1;
    }
    amp_active = false;
    DDAD_TRY(score_amp_set(m, amp, false));
    DDAD_TRY(score_amp_to_f32(amp, &out));
    DDAD_TRY(score_amp_to_f32(amp, &feat));
    ddad_vb_terms_t vb;
    memset(&vb, 0, sizeof vb);
    DDAD_TRY(ddad_diffusion_vb_terms(d, x0c, xt, tt, out, true, &vb)); /* lands in this scope */
    int64_t one = 1;
    if (rgb) {
        ddad_tensor_t *e;
        DDAD_TRY(ddad_sub(&e, vb.pred_xstart, x0c));
        DDAD_TRY(ddad_unary(&e, e, DDAD_UNARY_SQUARE));
        DDAD_TRY(ddad_mean_dims(&kl, e, &one, 1, false)); // (pc, H, W)
    } else {
        ddad_tensor_t *z = vb.nll_bits; // (pc, 3, H, W) bits
        if (sc->normalize == DDAD_SCORE_NORMALIZE_IMAGE)
            DDAD_TRY(ddad_anomaly_standardize(&z, vb.nll_bits));
        DDAD_TRY(ddad_mean_dims(&kl, z, &one, 1, false)); // (pc, H, W)
    }
    DDAD_TRY(ddad_to_buffer(kl, buf, (size_t)(pc * HW) * sizeof(float), DDAD_DTYPE_F32));
    accumulate_draws(r->kl_steps, buf, slot, pc, HW, D);
    if (!rgb) {
        ddad_tensor_t *tg, *fd, *up;
        DDAD_TRY(ddad_index_select(&tg, target, 0, idx));
        DDAD_TRY(ddad_sub(&fd, feat, tg));
        DDAD_TRY(ddad_unary(&fd, fd, DDAD_UNARY_SQUARE));
        DDAD_TRY(ddad_mean_dims(&fd, fd, &one, 1, true));                       // (pc, 1, fs, fs)
        DDAD_TRY(ddad_interpolate(&up, fd, H, W, DDAD_INTERP_BILINEAR, false)); // (pc, 1, H, W)
        DDAD_TRY(ddad_to_buffer(up, buf, (size_t)(pc * HW) * sizeof(float), DDAD_DTYPE_F32));
        accumulate_draws(r->feat_steps, buf, slot, pc, HW, D);
    }
fail:
    if (amp_active) {
        st = score_amp_fail(m, amp, st);
        score_amp_set(m, amp, false);
    }
    ddad_scope_end(mark);
    free(img);
    free(tv);
    free(yv);
    free(slot);
    free(noise);
    free(buf);
    return st;
}

ddad_status_t ddad_score_images(const ddad_model_t *m, const float *images, const int64_t *class_ids,
                                const int64_t *image_ids, int64_t n, ddad_score_maps_t *out)
{
    memset(out, 0, sizeof *out);
    const ddad_config_t *cfg = &m->cfg;
    const ddad_config_score_t *sc = &cfg->score;
    const bool rgb = sc->method == DDAD_SCORE_METHOD_RGB;
    if (n < 1)
        return ddad_fail(DDAD_STATUS_USAGE, "scoring: no images given");
    if (!m->has_ema)
        return ddad_fail(DDAD_STATUS_USAGE, "scoring: the model was created without EMA weights (DDAD_MODEL_WITH_EMA)");
    if (!rgb && !m->has_features)
        return ddad_fail(DDAD_STATUS_USAGE, "scoring: method ddad needs the feature extractor (DDAD_MODEL_WITH_FEATURES)");
    if (!m->cfg.model.learn_sigma)
        return ddad_fail(DDAD_STATUS_CONFIG, "scoring: model.learn_sigma is false; the KL map needs the learned variance");
    if (sc->normalize == DDAD_SCORE_NORMALIZE_GOOD && m->reference &&
        (m->reference->h != cfg->data.image_size || m->reference->w != cfg->data.image_size))
        return ddad_fail(DDAD_STATUS_CONFIG, "scoring: the reference statistics are %lldx%lld, the maps %dx%d "
                         "(rerun ddad-eval to recompute them)", (long long)m->reference->h, (long long)m->reference->w,
                         cfg->data.image_size, cfg->data.image_size);
    if (sc->normalize == DDAD_SCORE_NORMALIZE_GOOD && m->reference &&
        sc->good_timesteps == DDAD_SCORE_GOOD_TIMESTEPS_EACH && m->reference->n_t != (int64_t)sc->timesteps.n)
        return ddad_fail(DDAD_STATUS_CONFIG, "scoring: the reference statistics are of %lld timesteps, score.timesteps "
                         "has %d (score.good_timesteps each; rerun ddad-eval to recompute them)",
                         (long long)m->reference->n_t, (int)sc->timesteps.n);
    if (sc->timesteps.n < 1)
        return ddad_fail(DDAD_STATUS_CONFIG, "score.timesteps is empty");
    const int64_t S = cfg->data.image_size, HW = S * S, T = (int64_t)sc->timesteps.n;
    ddad_score_maps_t r;
    memset(&r, 0, sizeof r);
    r.n = n;
    r.h = r.w = S;
    r.n_t = T;
    r.n_draws = sc->noise_draws > 0 ? sc->noise_draws : 1;
    for (int64_t k = 0; k < T; k++) {
        r.timesteps[k] = sc->timesteps.v[k];
        if (r.timesteps[k] < 0 || r.timesteps[k] >= m->score_diffusion.num_timesteps)
            return ddad_fail(DDAD_STATUS_CONFIG, "score.timesteps: %lld is outside 0..%lld (diffusion.respacing)",
                             (long long)r.timesteps[k], (long long)m->score_diffusion.num_timesteps - 1);
    }
    size_t nt = (size_t)(n * T * HW), nm = (size_t)(n * HW);
    r.kl_steps = calloc(nt, sizeof(float));
    r.feat_steps = rgb ? NULL : calloc(nt, sizeof(float));
    r.pixel = malloc(nm * sizeof(float));
    r.feat = rgb ? NULL : malloc(nm * sizeof(float));
    r.map = malloc(nm * sizeof(float));
    r.score = malloc((size_t)n * sizeof(float));
    if (!r.kl_steps || (!rgb && (!r.feat_steps || !r.feat)) || !r.pixel || !r.map || !r.score) {
        ddad_score_maps_free(&r);
        return ddad_fail(DDAD_STATUS_NOMEM, "scoring %lld images at %lld px: out of memory", (long long)n, (long long)S);
    }
    score_amp_t amp;
    ddad_status_t ast = score_amp_open(m, &amp);
    if (ast != DDAD_OK) {
        ddad_score_maps_free(&r);
        return ast;
    }
    bool grad_was = ddad_grad_set_enabled(false);
    bool amp_active = false;
    ddad_generator_t *gen = NULL;
    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *x0, *target = NULL;
    int64_t shape[4] = {n, 3, S, S};
    DDAD_TRY(ddad_generator_create(&gen, (uint64_t)cfg->seed, DDAD_CPU));
    DDAD_TRY(ddad_from_buffer(&x0, images, shape, 4, DDAD_DTYPE_F32));
    if (m->device.type != DDAD_DEVICE_TYPE_CPU)
        DDAD_TRY(ddad_to_device(&x0, x0, m->device));
    if (!rgb) { /* the EfficientNet under autocast too; the target in fp32 */
        DDAD_TRY(score_amp_set(m, &amp, true));
        amp_active = amp.on;
        DDAD_TRY(ddad_model_feature_target(m, x0, cfg->features.score_size, &target));
        amp_active = false;
        DDAD_TRY(score_amp_set(m, &amp, false));
        DDAD_TRY(score_amp_to_f32(&amp, &target));
    }
    const int64_t P = n * T * r.n_draws, chunk = sc->batch_size > 0 ? sc->batch_size : 1;
    for (int64_t p0 = 0; p0 < P; p0 += chunk)
        DDAD_TRY(score_chunk(m, x0, target, class_ids, image_ids, p0, P - p0 < chunk ? P - p0 : chunk, &amp, gen,
                             &r));
    for (int64_t i = 0; i < n; i++) {
        st = ddad_score_map_from_steps(sc, m->reference, S, r.kl_steps + i * T * HW,
                                       rgb ? NULL : r.feat_steps + i * T * HW, T, r.pixel + i * HW,
                                       rgb ? NULL : r.feat + i * HW, r.map + i * HW, &r.score[i]);
        if (st != DDAD_OK) {
            st = ddad_fail_context(st, "scoring image %lld", (long long)(image_ids ? image_ids[i] : i));
            goto fail;
        }
    }
fail:
    if (amp_active) {
        st = score_amp_fail(m, &amp, st);
        score_amp_set(m, &amp, false);
    }
    ddad_scope_end(mark);
    ddad_generator_free(gen);
    ddad_grad_set_enabled(grad_was);
    if (st != DDAD_OK) {
        ddad_score_maps_free(&r);
        return st;
    }
    *out = r;
    return DDAD_OK;
}

/* ---- a whole split ------------------------------------------------------------- */

typedef struct pending {
    ddad_test_item_t item;
    char *name, *category, *defect;
    uint8_t *mask;
} pending_t;

static void pending_clear(pending_t *p)
{
    free(p->name);
    free(p->category);
    free(p->defect);
    free(p->mask);
    memset(p, 0, sizeof *p);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

ddad_status_t ddad_score_split(const ddad_model_t *m, ddad_testiter_t *it, int64_t class_id, ddad_score_row_fn fn,
                               void *user)
{
    const ddad_config_t *cfg = &m->cfg;
    const int64_t S = cfg->data.image_size, CHW = 3 * S * S, T = (int64_t)cfg->score.timesteps.n;
    const int64_t D = cfg->score.noise_draws > 0 ? cfg->score.noise_draws : 1;
    int64_t B = T > 0 ? cfg->score.batch_size / (T * D) : 1;
    if (B < 1)
        B = 1;
    float *images = malloc((size_t)(B * CHW) * sizeof *images);
    int64_t *cls = malloc((size_t)B * sizeof *cls), *ids = malloc((size_t)B * sizeof *ids);
    pending_t *pend = calloc((size_t)B, sizeof *pend);
    if (!images || !cls || !ids || !pend) {
        free(images);
        free(cls);
        free(ids);
        free(pend);
        return ddad_fail(DDAD_STATUS_NOMEM, "scoring: out of memory");
    }
    ddad_status_t st = DDAD_OK;
    ddad_testiter_rewind(it);
    int64_t index = 0;
    bool more = true;
    while (more) {
        int64_t nb = 0;
        while (nb < B) {
            ddad_test_item_t item;
            DDAD_TRY(ddad_testiter_next(it, &item, &more));
            if (!more)
                break;
            memcpy(images + nb * CHW, item.image, (size_t)CHW * sizeof *images);
            pending_t *p = &pend[nb];
            p->item = item;
            p->name = dup_or_null(item.name);
            p->category = dup_or_null(item.category);
            p->defect = dup_or_null(item.defect);
            if (item.mask) {
                size_t mb = (size_t)item.mask_w * (size_t)item.mask_h;
                p->mask = malloc(mb ? mb : 1);
                if (!p->mask) {
                    st = ddad_fail(DDAD_STATUS_NOMEM, "scoring: out of memory");
                    goto fail;
                }
                memcpy(p->mask, item.mask, mb);
            }
            p->item.image = NULL; /* the iterator's buffer moves on */
            p->item.mask = p->mask;
            p->item.name = p->name;
            p->item.category = p->category;
            p->item.defect = p->defect;
            cls[nb] = class_id;
            ids[nb] = index + nb;
            nb++;
        }
        if (nb == 0)
            break;
        double t0 = now_s();
        ddad_score_maps_t r;
        st = ddad_score_images(m, images, cls, ids, nb, &r);
        if (st != DDAD_OK)
            goto fail;
        double per = (now_s() - t0) / (double)nb;
        const int64_t HW = r.h * r.w;
        for (int64_t i = 0; i < nb && st == DDAD_OK; i++) {
            ddad_score_row_t row = {
                .index = index + i,
                .item = &pend[i].item,
                .kl_steps = r.kl_steps + i * T * HW,
                .feat_steps = r.feat_steps ? r.feat_steps + i * T * HW : NULL,
                .map = r.map + i * HW,
                .score = r.score[i],
                .seconds = per,
            };
            st = fn(user, &row);
        }
        ddad_score_maps_free(&r);
        for (int64_t i = 0; i < nb; i++)
            pending_clear(&pend[i]);
        if (st != DDAD_OK)
            goto fail;
        index += nb;
    }
fail:
    for (int64_t i = 0; i < B; i++)
        pending_clear(&pend[i]);
    free(images);
    free(cls);
    free(ids);
    free(pend);
    return st;
}
