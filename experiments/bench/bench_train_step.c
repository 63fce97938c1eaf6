/* experiments/bench/bench_train_step.c - time of one training step of ddad's
 * trainer (loader batch, EfficientNet target, UNet forward, mse + vb + feat,
 * backward, AdamW, EMA) on a config, for comparison with the same network and
 * loss in PyTorch (bench_train_step.py; bench_train_step.sh runs both).
 *
 *   bench_train_step CONFIG [--steps N] [--warmup W] [--set k=v ...]
 *                    [--channels-last] [--time-extractor]
 *
 * Prints "ddad it/s X median_ms Y params P peak_rss_mb R". Training data: a
 * synthetic set of the config's image size generated into a temporary folder.
 *
 * --channels-last   converts every 4-D weight of the UNet, its EMA and the
 *                   extractor to the channels-last memory format before the
 *                   first step (what module.to(memory_format=channels_last)
 *                   does in PyTorch: activations follow the weights through
 *                   the convolutions); bench_train_step.py has the same flag.
 * --time-extractor  after the steps, times the frozen extractor's target of
 *                   one training batch (ddad_model_feature_target, as the
 *                   trainer computes it), a batch of cache hits
 *                   (ddad_target_cache_get) and one training step again, in
 *                   alternation, and appends "extractor_ms E cache_hit_ms H
 *                   step_ms T extractor_share F" (medians; F = E / T). */
#include <inttypes.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "nn/target_cache.h"
#include "nn/trainer.h"
#include "synth.h"
#include "torch/tensor_layout.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

static ddad_status_t params_channels_last(ddad_params_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (ddad_tensor_dim(p->items[i].tensor) == 4) {
            ddad_status_t st = ddad_tensor_set_memory_format_(p->items[i].tensor, DDAD_MEMORY_FORMAT_CHANNELS_LAST);
            if (st != DDAD_OK)
                return ddad_fail_context(st, "channels-last: %s", p->items[i].name);
        }
    return DDAD_OK;
}

/* Medians over `reps` alternations of: the extractor on a (B, 3, S, S) batch,
 * the same batch through a cache holding all its targets, one training step. */
static ddad_status_t time_extractor(ddad_trainer_t *tr, int reps, double *ext_ms, double *hit_ms, double *step_ms)
{
    const ddad_model_t *m = ddad_trainer_model(tr);
    const ddad_config_t *cfg = ddad_trainer_config(tr);
    const int64_t B = cfg->train.batch_size, S = cfg->data.image_size, fs = cfg->features.train_size;
    double *e = calloc((size_t)reps, sizeof *e), *h = calloc((size_t)reps, sizeof *h),
           *t = calloc((size_t)reps, sizeof *t);
    int64_t idx[256];
    for (int64_t i = 0; i < B && i < 256; i++)
        idx[i] = i;
    ddad_target_cache_t *tc = NULL;
    ddad_status_t st = ddad_target_cache_create(&tc, (size_t)B, (size_t)-1);
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *x = NULL, *target;
    if (st == DDAD_OK)
        st = ddad_rand(&x, (int64_t[]){B, 3, S, S}, 4, DDAD_DTYPE_F32, m->device, NULL);
    if (st == DDAD_OK) /* fill the cache */
        st = ddad_target_cache_get(tc, m, x, idx, B, fs, &target);
    for (int r = 0; r < reps && st == DDAD_OK; r++) {
        double t0 = now_ms();
        st = ddad_model_feature_target(m, x, fs, &target);
        if (st == DDAD_OK && m->device.type != DDAD_DEVICE_TYPE_CPU)
            st = ddad_cuda_synchronize();
        double t1 = now_ms();
        if (st == DDAD_OK)
            st = ddad_target_cache_get(tc, m, x, idx, B, fs, &target);
        if (st == DDAD_OK && m->device.type != DDAD_DEVICE_TYPE_CPU)
            st = ddad_cuda_synchronize();
        double t2 = now_ms();
        if (st == DDAD_OK)
            st = ddad_trainer_step(tr, NULL);
        double t3 = now_ms();
        e[r] = t1 - t0;
        h[r] = t2 - t1;
        t[r] = t3 - t2;
    }
    ddad_scope_end(mark);
    ddad_target_cache_free(tc);
    if (st == DDAD_OK) {
        *ext_ms = median(e, reps);
        *hit_ms = median(h, reps);
        *step_ms = median(t, reps);
    }
    free(e);
    free(h);
    free(t);
    return st;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_train_step CONFIG [--steps N] [--warmup W] [--set k=v ...]\n");
        return 2;
    }
    int steps = 10, warmup = 2;
    bool channels_last = false, extractor = false;
    const char *sets[64];
    size_t n_sets = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
            warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--set") && i + 1 < argc && n_sets < 60)
            sets[n_sets++] = argv[++i];
        else if (!strcmp(argv[i], "--channels-last"))
            channels_last = true;
        else if (!strcmp(argv[i], "--time-extractor"))
            extractor = true;
        else {
            fprintf(stderr, "bench_train_step: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    char tmpl[] = "/tmp/ddad-bench-train-XXXXXX";
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 1;
    }
    char root[256], rootset[300], dirset[300];
    snprintf(root, sizeof root, "%s/synthetic", tmpl);
    snprintf(rootset, sizeof rootset, "data.root=%s", root);
    snprintf(dirset, sizeof dirset, "run.dir=%s/runs", tmpl);
    sets[n_sets++] = rootset;
    sets[n_sets++] = dirset;
    ddad_config_t cfg;
    if (ddad_config_load(&cfg, argv[1], sets, n_sets) != DDAD_OK) {
        fprintf(stderr, "config: %s\n", ddad_last_error());
        return 3;
    }
    ddad_synth_opts_t so = ddad_synth_opts_default();
    static const char *cats[1];
    cats[0] = cfg.data.category.v[0];
    so.out = root;
    so.size = cfg.data.image_size;
    so.n_train = 2 * cfg.train.batch_size;
    so.n_test_good = 1;
    so.n_test_defect = 1;
    so.categories = cats;
    so.n_categories = 1;
    ddad_log_set_level(DDAD_LOG_ERROR);
    ddad_status_t st = ddad_synth_generate(&so, NULL, NULL);
    ddad_runtime_setup(&cfg);
    ddad_trainer_t *tr = NULL;
    if (st == DDAD_OK)
        st = ddad_trainer_create(&tr, &cfg, NULL);
    if (st == DDAD_OK && channels_last) {
        /* the benchmark changes the layout of the trainer's own weights (the
         * optimizer and EMA share the handles, see tensor_layout.h) */
        ddad_model_t *m = (ddad_model_t *)ddad_trainer_model(tr);
        st = params_channels_last(&m->params);
        if (st == DDAD_OK && m->has_ema)
            st = params_channels_last(&m->ema_params);
        if (st == DDAD_OK && m->has_features)
            st = params_channels_last(&m->effnet.params);
    }
    if (st != DDAD_OK) {
        fprintf(stderr, "%s\n", ddad_last_error());
        return 1;
    }
    double *ms = calloc((size_t)steps, sizeof *ms);
    for (int i = 0; i < warmup + steps && st == DDAD_OK; i++) {
        double t0 = now_ms();
        st = ddad_trainer_step(tr, NULL);
        if (i >= warmup)
            ms[i - warmup] = now_ms() - t0;
    }
    if (st != DDAD_OK) {
        fprintf(stderr, "%s\n", ddad_last_error());
        return 1;
    }
    double med = median(ms, steps);
    double ext_ms = 0, hit_ms = 0, step_ms = 0;
    if (extractor && (st = time_extractor(tr, steps, &ext_ms, &hit_ms, &step_ms)) != DDAD_OK) {
        fprintf(stderr, "%s\n", ddad_last_error());
        return 1;
    }
    ddad_trainer_counts_t c;
    ddad_trainer_counts(tr, &c);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru); /* ru_maxrss in kB on Linux */
    printf("ddad it/s %.4f median_ms %.1f params %" PRId64 " peak_rss_mb %.0f", 1e3 / med, med, c.unet,
           ru.ru_maxrss / 1024.0);
    if (extractor)
        printf(" extractor_ms %.1f cache_hit_ms %.2f step_ms %.1f extractor_share %.3f", ext_ms, hit_ms, step_ms,
               ext_ms / step_ms);
    printf("\n");
    ddad_trainer_free(tr);
    free(ms);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
    return system(cmd) == 0 ? 0 : 1;
}
