/* experiments/bench/bench_score.c - images/s of the full anomaly-map
 * computation (KL + feature maps over the config's timesteps, EfficientNet-B4
 * targets) through core/nn/score.h, with random weights.
 *
 *     bench_score CONFIG N_IMAGES THREADS MODE BATCH [--device DEV]
 *
 * MODE same (one UNet forward per (image, t)) or quirk (the authors' second
 * forward for the feature head); BATCH = score.batch_size, (image, t) pairs
 * per UNet call; DEV cpu (default), cuda or cuda:N (the config's `device`).
 * Prints "key value" lines: device, params, unet_calls, ms_per_image,
 * images_per_s, peak_rss_mb (whole process, model included), model_peak_rss_mb
 * (the peak before the first image: model creation alone). One untimed
 * image first (warm-up). The maps come back to the host at the end of every
 * ddad_score_images call, so on CUDA each timed call includes its kernels.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <math.h>

#include "config.h"
#include "nn/model.h"
#include "nn/score.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *device = "cpu";
    if (argc == 8 && !strcmp(argv[6], "--device"))
        device = argv[7];
    else if (argc != 6) {
        fprintf(stderr, "usage: %s CONFIG N_IMAGES THREADS same|quirk BATCH [--device cpu|cuda|cuda:N]\n", argv[0]);
        return 2;
    }
    char threads[64], mode[96], batch[64], dev[96];
    snprintf(threads, sizeof threads, "threads=%s", argv[3]);
    snprintf(mode, sizeof mode, "score.feature_timestep=%s", !strcmp(argv[4], "quirk") ? "respaced_quirk" : "same");
    snprintf(batch, sizeof batch, "score.batch_size=%s", argv[5]);
    snprintf(dev, sizeof dev, "device=%s", device);
    const char *sets[] = {threads, mode, batch, dev};
    ddad_config_t cfg;
    ddad_model_t m;
    if (ddad_config_load(&cfg, argv[1], sets, 4) != DDAD_OK || ddad_runtime_setup(&cfg) != DDAD_OK ||
        ddad_model_create(&m, &cfg, DDAD_MODEL_SCORING_ONLY | DDAD_MODEL_WITH_FEATURES) != DDAD_OK ||
        ddad_model_prepare_scoring(&m) != DDAD_OK) {
        fprintf(stderr, "bench_score: %s\n", ddad_last_error());
        return 1;
    }
    struct rusage ru_model;
    getrusage(RUSAGE_SELF, &ru_model); /* peak so far: model creation alone */
    const int n = atoi(argv[2]), S = cfg.data.image_size, T = (int)cfg.score.timesteps.n;
    int B = cfg.score.batch_size / T;
    if (B < 1)
        B = 1;
    if (B > 64)
        B = 64;
    float *x = malloc((size_t)n * 3 * S * S * sizeof *x);
    for (size_t i = 0; i < (size_t)n * 3 * S * S; i++)
        x[i] = (float)sin(0.37 * (double)i);
    ddad_score_maps_t r;
    if (ddad_score_images(&m, x, NULL, NULL, 1, &r) != DDAD_OK) {
        fprintf(stderr, "bench_score: %s\n", ddad_last_error());
        return 1;
    }
    ddad_score_maps_free(&r);
    int64_t calls = 0;
    double t0 = now_s();
    for (int i = 0; i < n; i += B) {
        int nb = n - i < B ? n - i : B;
        int64_t ids[64];
        for (int k = 0; k < nb && k < 64; k++)
            ids[k] = i + k;
        if (ddad_score_images(&m, x + (size_t)i * 3 * S * S, NULL, ids, nb, &r) != DDAD_OK) {
            fprintf(stderr, "bench_score: %s\n", ddad_last_error());
            return 1;
        }
        calls += r.unet_calls;
        ddad_score_maps_free(&r);
    }
    double dt = now_s() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("device %s\nparams %lld\nunet_calls %lld\nms_per_image %.3f\nimages_per_s %.4f\npeak_rss_mb %.1f\nmodel_peak_rss_mb %.1f\n",
           device, (long long)ddad_params_numel(&m.ema_params, false), (long long)calls, 1000.0 * dt / n, n / dt,
           ru.ru_maxrss / 1024.0, ru_model.ru_maxrss / 1024.0);
    free(x);
    ddad_model_free(&m);
    return 0;
}
