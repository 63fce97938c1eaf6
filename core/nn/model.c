/* core/nn/model.c - see model.h */
#include "allocator.h"
#include "model.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "h5io.h"
#include "reference.h"
#include "extractor.h"

ddad_status_t ddad_unet_options_from_config(ddad_unet_options_t *opt, const ddad_config_t *cfg)
{
    const ddad_config_model_t *mc = &cfg->model;
    memset(opt, 0, sizeof *opt);
    opt->image_size = cfg->data.image_size;
    opt->in_channels = 3;
    opt->model_channels = mc->channels;
    opt->out_channels = mc->learn_sigma ? 6 : 3;
    opt->num_res_blocks = mc->res_blocks;
    if (mc->attention_resolutions.n > DDAD_UNET_MAX_ATTN || mc->channel_mult.n > DDAD_UNET_MAX_LEVELS)
        return ddad_fail(DDAD_STATUS_CONFIG, "model: at most %d attention resolutions and %d levels are supported",
                         DDAD_UNET_MAX_ATTN, DDAD_UNET_MAX_LEVELS);
    opt->n_attention_resolutions = (int)mc->attention_resolutions.n;
    for (size_t i = 0; i < mc->attention_resolutions.n; i++)
        opt->attention_resolutions[i] = mc->attention_resolutions.v[i];
    opt->n_channel_mult = (int)mc->channel_mult.n;
    for (size_t i = 0; i < mc->channel_mult.n; i++)
        opt->channel_mult[i] = mc->channel_mult.v[i];
    opt->num_head_channels = mc->head_channels;
    opt->num_heads = 1;
    opt->num_classes = mc->num_classes;
    opt->resblock_updown = mc->resblock_updown;
    opt->use_scale_shift_norm = mc->scale_shift_norm;
    opt->dropout = mc->dropout;
    opt->feature_tap = mc->feature_tap;
    opt->feat_channels = 272;
    opt->init_seed = (uint64_t)cfg->seed;
    opt->skip_random_init = false;
    opt->use_checkpoint = cfg->train.checkpointing;
    ddad_status_t st = ddad_unet_options_check(opt);
    if (st != DDAD_OK)
        return ddad_fail_context(DDAD_STATUS_CONFIG, "model settings");
    return DDAD_OK;
}

ddad_status_t ddad_runtime_setup(const ddad_config_t *cfg)
{
    ddad_allocator_tune();
    int threads = cfg->threads > 0 ? cfg->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads > 0)
        ddad_set_num_threads(threads);
    ddad_manual_seed((uint64_t)cfg->seed);
    return DDAD_OK;
}

void ddad_model_free(ddad_model_t *m)
{
    if (!m)
        return;
    ddad_unet_free(&m->unet);
    ddad_params_free(&m->params);
    if (m->has_ema) {
        ddad_unet_free(&m->ema);
        ddad_params_free(&m->ema_params);
    }
    ddad_diffusion_free(&m->train_diffusion);
    ddad_diffusion_free(&m->score_diffusion);
    if (m->has_features)
        ddad_effnet_free(&m->effnet);
    memset(m, 0, sizeof *m);
}

static ddad_status_t load_init_weights(ddad_model_t *m, ddad_params_t *into, const char *path)
{
    ddad_h5_t *f = NULL;
    ddad_status_t st = ddad_h5_open(&f, path, DDAD_H5_READ);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "model.init");
    size_t loaded = 0;
    st = ddad_params_load_h5(into, f, "weights", DDAD_PARAMS_PARTIAL, &loaded);
    ddad_h5_close(f);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "model.init");
    if (loaded == 0)
        return ddad_fail(DDAD_STATUS_DATA, "model.init: %s holds none of this model's parameters under 'weights/' "
                         "(import it with ddad-import --kind adm256)", path);
    ddad_log(DDAD_LOG_INFO, "model.init: %zu of %zu tensors loaded from %s", loaded, into->n, path);
    m->init_from_weights = true;
    return DDAD_OK;
}

ddad_status_t ddad_model_create(ddad_model_t *m, const ddad_config_t *cfg, unsigned flags)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    ddad_status_t st = ddad_device_parse(&m->device, cfg->device);
    if (st == DDAD_OK)
        st = ddad_device_check(m->device);
    if (st != DDAD_OK)
        return ddad_fail_context(DDAD_STATUS_DEVICE, "device");
    st = ddad_unet_options_from_config(&m->unet_opt, cfg);
    if (st != DDAD_OK)
        return st;
    m->unet_opt.skip_random_init = (flags & DDAD_MODEL_NO_INIT) != 0;

    if (flags & DDAD_MODEL_SCORING_ONLY) {
        /* one registry: the EMA weights, initialised like the training ones */
        ddad_params_init(&m->params, m->device);
        ddad_params_init(&m->ema_params, m->device);
        m->has_ema = true;
        st = ddad_unet_init(&m->ema, &m->unet_opt, &m->ema_params);
        if (st == DDAD_OK && cfg->model.init[0] && !(flags & DDAD_MODEL_NO_INIT))
            st = load_init_weights(m, &m->ema_params, cfg->model.init);
    } else {
        m->has_weights = true;
        ddad_params_init(&m->params, m->device);
        st = ddad_unet_init(&m->unet, &m->unet_opt, &m->params);
        if (st == DDAD_OK && cfg->model.init[0] && !(flags & DDAD_MODEL_NO_INIT))
            st = load_init_weights(m, &m->params, cfg->model.init);
        if (st == DDAD_OK && (flags & DDAD_MODEL_WITH_EMA)) {
            ddad_unet_options_t eo = m->unet_opt;
            eo.skip_random_init = true;
            ddad_params_init(&m->ema_params, m->device);
            m->has_ema = true;
            st = ddad_unet_init(&m->ema, &eo, &m->ema_params);
            if (st == DDAD_OK)
                st = ddad_params_copy(&m->ema_params, &m->params);
        }
    }
    ddad_beta_schedule_t sched =
        cfg->diffusion.schedule == DDAD_SCHEDULE_COSINE ? DDAD_BETA_SCHEDULE_COSINE : DDAD_BETA_SCHEDULE_LINEAR;
    if (st == DDAD_OK)
        st = ddad_diffusion_init(&m->train_diffusion, sched, cfg->diffusion.steps, NULL);
    if (st == DDAD_OK) {
        char spacing[32];
        snprintf(spacing, sizeof spacing, "%d", cfg->diffusion.respacing);
        st = ddad_diffusion_init(&m->score_diffusion, sched, cfg->diffusion.steps, spacing);
    }
    if (st == DDAD_OK && (flags & DDAD_MODEL_WITH_FEATURES)) {
        st = ddad_extractor_create(&m->effnet, cfg);
        m->has_features = st == DDAD_OK;
    }
    if (st != DDAD_OK)
        ddad_model_free(m);
    return st;
}

ddad_status_t ddad_model_prepare_scoring(ddad_model_t *m)
{
    const ddad_precision_t p = m->cfg.score.precision;
    if (p == DDAD_PRECISION_FP32 || m->has_weights || !m->has_ema)
        return DDAD_OK;
    const ddad_dtype_t dt = p == DDAD_PRECISION_FP16 ? DDAD_DTYPE_F16 : DDAD_DTYPE_BF16;
    /* the class embedding is a table lookup, not an autocast op: kept fp32,
     * its sum with the time embedding stays what it is under autocast */
    static const char *const keep[] = {"label_emb.weight", NULL};
    ddad_status_t st = ddad_params_set_dtype_(&m->ema_params, dt, 2, keep, NULL);
    if (st == DDAD_OK && m->has_features)
        st = ddad_params_set_dtype_(&m->effnet.params, dt, 2, NULL, NULL);
    return st == DDAD_OK ? DDAD_OK : ddad_fail_context(st, "score.precision: storing the weights in %s",
                                                         dt == DDAD_DTYPE_F16 ? "fp16" : "bf16");
}

ddad_status_t ddad_model_feature_target(const ddad_model_t *m, const ddad_tensor_t *x0, int64_t fs,
                                        ddad_tensor_t **out)
{
    if (!m->has_features)
        return ddad_fail(DDAD_STATUS_USAGE, "the model was built without the feature extractor");
    bool was = ddad_grad_set_enabled(false);
    ddad_status_t st = ddad_effnet_features(&m->effnet, x0, fs, out);
    ddad_grad_set_enabled(was);
    return st;
}

ddad_status_t ddad_model_labels(const ddad_model_t *m, const int64_t *class_ids, int64_t n, ddad_tensor_t **out)
{
    ddad_tensor_t *host = NULL;
    ddad_status_t st = ddad_from_buffer(&host, class_ids, &n, 1, DDAD_DTYPE_I64);
    if (st != DDAD_OK)
        return st;
    if (m->device.type == DDAD_DEVICE_TYPE_CPU) {
        *out = host;
        return DDAD_OK;
    }
    st = ddad_to_device(out, host, m->device);
    ddad_tensor_free(host);
    return st;
}

ddad_status_t ddad_reference_use(ddad_model_t *m, ddad_score_reference_t *ref, const char *run_dir,
                                 const char *category)
{
    m->reference = NULL;
    ddad_reference_free(ref);
    if (m->cfg.score.normalize != DDAD_SCORE_NORMALIZE_GOOD)
        return DDAD_OK;
    char path[4096];
    ddad_reference_path(path, sizeof path, run_dir, category, ddad_config_is_unified(&m->cfg));
    ddad_status_t st = ddad_reference_load_for(ref, path, m->cfg.data.image_size, &m->cfg.score);
    if (st == DDAD_OK)
        m->reference = ref;
    return st;
}
