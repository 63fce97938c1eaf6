/* core/nn/extractor.c - see extractor.h */
#include "extractor.h"

ddad_status_t ddad_extractor_options(ddad_effnet_options_t *opt, const ddad_config_t *cfg)
{
    *opt = ddad_effnet_default_options();
    ddad_status_t st = ddad_device_parse(&opt->device, cfg->device);
    if (st == DDAD_OK)
        st = ddad_device_check(opt->device);
    if (st != DDAD_OK)
        return ddad_fail_context(DDAD_STATUS_DEVICE, "device");
    opt->weights_path = cfg->features.weights[0] ? cfg->features.weights : NULL;
    opt->seed = (uint64_t)cfg->seed;
    opt->variance_preserving = cfg->features.random_init == DDAD_RANDOM_INIT_VARIANCE_PRESERVING;
    return DDAD_OK;
}

ddad_status_t ddad_extractor_create(ddad_effnet_t *net, const ddad_config_t *cfg)
{
    ddad_effnet_options_t eo;
    ddad_status_t st = ddad_extractor_options(&eo, cfg);
    if (st != DDAD_OK)
        return st;
    st = ddad_effnet_init(net, &eo);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "features.weights");
    net->input_size = cfg->features.input_size;
    if (net->random_weights)
        ddad_log(DDAD_LOG_WARN, "features.weights is empty: the feature extractor has RANDOM weights "
                 "(%s); results are labelled accordingly (make -f Makefile.data weights)", net->source);
    return DDAD_OK;
}

ddad_status_t ddad_extractor_features(const ddad_effnet_t *net, const ddad_tensor_t *x, int64_t fs,
                                      ddad_tensor_t **out)
{
    bool was = ddad_grad_set_enabled(false);
    ddad_status_t st = ddad_effnet_features(net, x, fs, out);
    ddad_grad_set_enabled(was);
    return st;
}
