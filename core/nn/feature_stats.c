/* core/nn/feature_stats.c - see feature_stats.h */
#include "feature_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "extractor.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Adds one batch of features (B, C, fs, fs) to the per-channel sums. */
static void accumulate(const float *f, int64_t B, int64_t plane, double *sum, double *sq)
{
    for (int64_t b = 0; b < B; b++)
        for (int c = 0; c < DDAD_EFFNET_FEAT_CHANNELS; c++) {
            const float *p = f + (b * DDAD_EFFNET_FEAT_CHANNELS + c) * plane;
            double s = 0, q = 0;
            for (int64_t i = 0; i < plane; i++) {
                s += p[i];
                q += (double)p[i] * p[i];
            }
            sum[c] += s;
            sq[c] += q;
        }
}

ddad_status_t ddad_feature_stats_compute(const ddad_effnet_t *net, const ddad_sample_t *const *samples, size_t n,
                                         const ddad_config_t *cfg, float mean[DDAD_EFFNET_FEAT_CHANNELS],
                                         float std[DDAD_EFFNET_FEAT_CHANNELS])
{
    if (n == 0)
        return ddad_fail(DDAD_STATUS_DATA, "feature statistics: no training images");
    const int64_t S = cfg->data.image_size, fs = cfg->features.train_size, plane = fs * fs;
    const int64_t B = n < 16 ? (int64_t)n : 16;
    /* the standardisation itself must not apply while it is measured */
    ddad_effnet_t raw = *net;
    raw.chan_mean = raw.chan_std = NULL;

    ddad_loader_opts_t lo = ddad_loader_opts_default();
    lo.image_size = (int)S;
    lo.batch_size = (int)B;
    lo.seed = (uint64_t)cfg->seed;
    lo.rotation_deg = 0;
    lo.threads = cfg->data.loader_threads > 0 ? cfg->data.loader_threads : 1;
    ddad_loader_t *L = NULL;
    float *x = malloc((size_t)(B * 3 * S * S) * sizeof *x);
    float *f = malloc((size_t)(B * DDAD_EFFNET_FEAT_CHANNELS * plane) * sizeof *f);
    int64_t *labels = malloc((size_t)B * sizeof *labels);
    double sum[DDAD_EFFNET_FEAT_CHANNELS] = {0}, sq[DDAD_EFFNET_FEAT_CHANNELS] = {0};
    ddad_status_t st = DDAD_OK;
    if (!x || !f || !labels) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory (feature statistics)");
        goto done;
    }
    if ((st = ddad_loader_create(&L, samples, NULL, n, &lo)) != DDAD_OK)
        goto done;
    /* one epoch: every image but the last n mod B (the loader drops an
     * incomplete batch), in the loader's seeded order */
    size_t batches = ddad_loader_batches_per_epoch(L);
    int64_t count = 0;
    for (size_t k = 0; k < batches && st == DDAD_OK; k++) {
        st = ddad_loader_next(L, x, labels);
        const int64_t shape[4] = {B, 3, S, S};
        ddad_tensor_t *host = NULL, *dev = NULL, *feat = NULL;
        if (st == DDAD_OK)
            st = ddad_from_buffer(&host, x, shape, 4, DDAD_DTYPE_F32);
        if (st == DDAD_OK)
            st = ddad_to_device(&dev, host, net->params.device);
        if (st == DDAD_OK)
            st = ddad_extractor_features(&raw, dev, fs, &feat); /* (B, 272, fs, fs) */
        if (st == DDAD_OK)
            st = ddad_to_buffer(feat, f, (size_t)(B * DDAD_EFFNET_FEAT_CHANNELS * plane) * sizeof *f,
                                DDAD_DTYPE_F32);
        if (st == DDAD_OK) {
            accumulate(f, B, plane, sum, sq);
            count += B;
        }
        ddad_tensor_free(feat);
        ddad_tensor_free(dev);
        ddad_tensor_free(host);
    }
    if (st != DDAD_OK)
        goto done;
    double sd[DDAD_EFFNET_FEAT_CHANNELS], sorted[DDAD_EFFNET_FEAT_CHANNELS];
    const double N = (double)count * (double)plane;
    for (int c = 0; c < DDAD_EFFNET_FEAT_CHANNELS; c++) {
        double mu = sum[c] / N, var = sq[c] / N - mu * mu;
        mean[c] = (float)mu;
        sd[c] = sorted[c] = var > 0 ? sqrt(var) : 0;
    }
    qsort(sorted, DDAD_EFFNET_FEAT_CHANNELS, sizeof *sorted, cmp_double);
    double floor_sd = 1e-3 * sorted[DDAD_EFFNET_FEAT_CHANNELS / 2];
    if (!(floor_sd > 0))
        floor_sd = 1e-12;
    for (int c = 0; c < DDAD_EFFNET_FEAT_CHANNELS; c++)
        std[c] = (float)(sd[c] > floor_sd ? sd[c] : floor_sd);
    ddad_log(DDAD_LOG_INFO, "feature statistics over %lld training images: channel std from %.3g to %.3g "
             "(median %.3g)", (long long)count, sorted[0], sorted[DDAD_EFFNET_FEAT_CHANNELS - 1],
             sorted[DDAD_EFFNET_FEAT_CHANNELS / 2]);
done:
    ddad_loader_free(L);
    free(labels);
    free(f);
    free(x);
    if (st != DDAD_OK)
        ddad_fail_context(st, "computing the feature statistics (features.standardize)");
    return st;
}
