/* experiments/bench/bench_train_step.c - time of one training step of ddad's
 * trainer (loader batch, EfficientNet target, UNet forward, mse + vb + feat,
 * backward, AdamW, EMA) on a config, for comparison with the same network and
 * loss in PyTorch (bench_train_step.py; bench_train_step.sh runs both).
 *
 *   bench_train_step CONFIG [--steps N] [--warmup W] [--set k=v ...]
 *
 * Prints "ddad it/s X median_ms Y params P". Training data: a synthetic set
 * of the config's image size generated into a temporary folder. */
#include <inttypes.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "nn/trainer.h"
#include "synth.h"

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

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_train_step CONFIG [--steps N] [--warmup W] [--set k=v ...]\n");
        return 2;
    }
    int steps = 10, warmup = 2;
    const char *sets[64];
    size_t n_sets = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
            warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--set") && i + 1 < argc && n_sets < 60)
            sets[n_sets++] = argv[++i];
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
    qsort(ms, (size_t)steps, sizeof *ms, cmp_d);
    double med = ms[steps / 2];
    ddad_trainer_counts_t c;
    ddad_trainer_counts(tr, &c);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru); /* ru_maxrss in kB on Linux */
    printf("ddad it/s %.4f median_ms %.1f params %" PRId64 " peak_rss_mb %.0f\n", 1e3 / med, med, c.unet,
           ru.ru_maxrss / 1024.0);
    ddad_trainer_free(tr);
    free(ms);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
    return system(cmd) == 0 ? 0 : 1;
}
