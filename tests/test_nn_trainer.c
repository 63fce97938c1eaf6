/* tests/test_nn_trainer.c - the training loop as a library (core/nn/trainer.h):
 * the loss falls on the synthetic data, a resumed run is bit-identical to an
 * uninterrupted one, a diverging run stops with NUMERIC keeping its last
 * checkpoint. All on configs/tiny.yaml (32 px) with a few synthetic images. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "nn/checkpoint.h"
#include "nn/trainer.h"
#include "testutil.h"

static char *tmp_root;
static char data_root[4096];

static void make_data(void)
{
    if (tmp_root)
        return;
    tmp_root = ddad_test_mkdtemp("trainer");
    snprintf(data_root, sizeof data_root, "%s/synthetic", tmp_root);
    CU_ASSERT_FATAL(ddad_test_synth(data_root, "woven", 32, 8, 1, 1) == 0);
}

/* tiny.yaml on the generated data, run folder <tmp>/<tag>, plus extra sets. */
static void load_cfg(ddad_config_t *cfg, const char *tag, const char *const *extra, size_t n_extra)
{
    make_data();
    char path[4096], root_set[4200], dir_set[4200], name_set[300];
    snprintf(path, sizeof path, "%s/configs/tiny.yaml", ddad_test_source_dir());
    snprintf(root_set, sizeof root_set, "data.root=%s", data_root);
    snprintf(dir_set, sizeof dir_set, "run.dir=%s/runs", tmp_root);
    snprintf(name_set, sizeof name_set, "run.name=%s", tag);
    /* one thread: libgomp's spinning second thread is slow on shared cores
     * (the program sets OMP_WAIT_POLICY itself; an in-process test can't) */
    const char *sets[16] = {root_set, dir_set, name_set, "threads=1"};
    size_t n = 4;
    for (size_t i = 0; i < n_extra && n < 16; i++)
        sets[n++] = extra[i];
    ddad_status_t st = ddad_config_load(cfg, path, sets, n);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  config: %s\n", ddad_last_error());
    CU_ASSERT_FATAL(st == DDAD_OK);
    ddad_runtime_setup(cfg); /* threads = 1, allocator tuning */
}

static double *losses;
static size_t n_losses;

static void record_loss(const ddad_train_stats_t *s, void *user)
{
    (void)user;
    losses = realloc(losses, (n_losses + 1) * sizeof *losses);
    losses[n_losses++] = s->loss;
}

static void test_loss_falls(void)
{
    const char *extra[] = {"train.iterations=40", "train.batch_size=4", "train.lr=1e-3", "train.checkpoint_every=40",
                           "data.rotation_deg=0"};
    ddad_config_t cfg;
    load_cfg(&cfg, "falls", extra, 5);
    ddad_trainer_opts_t o = ddad_trainer_opts_default();
    o.on_step = record_loss;
    ddad_trainer_t *tr = NULL;
    ddad_status_t st = ddad_trainer_create(&tr, &cfg, &o);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  create: %s\n", ddad_last_error());
    CU_ASSERT_FATAL(st == DDAD_OK);
    n_losses = 0;
    st = ddad_trainer_run(tr);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  run: %s\n", ddad_last_error());
    CU_ASSERT_EQUAL(st, DDAD_OK);
    CU_ASSERT_EQUAL(ddad_trainer_step_count(tr), 40);
    CU_ASSERT_EQUAL_FATAL(n_losses, 40);
    double first = 0, last = 0;
    for (int i = 0; i < 8; i++) {
        first += losses[i] / 8;
        last += losses[32 + i] / 8;
    }
    fprintf(stderr, "\n  mean loss steps 1-8: %.4f, steps 33-40: %.4f\n", first, last);
    CU_ASSERT(last < 0.7 * first);
    /* the log has a header and one line per step; the final checkpoint exists */
    char path[4200];
    snprintf(path, sizeof path, "%s/train.log", ddad_trainer_run_dir(tr));
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[512];
    int lines = 0;
    long long step = 0;
    while (fgets(line, sizeof line, f))
        if (line[0] != '#' && sscanf(line, "%lld", &step) == 1)
            lines++;
    fclose(f);
    CU_ASSERT_EQUAL(lines, 40);
    CU_ASSERT_EQUAL(step, 40);
    ddad_checkpoint_path(path, sizeof path, ddad_trainer_run_dir(tr), 40);
    struct stat sb;
    CU_ASSERT_EQUAL(stat(path, &sb), 0);
    ddad_trainer_free(tr);
    free(losses);
    losses = NULL;
}

/* Exact comparison of two registries. */
static void assert_params_equal(const ddad_params_t *a, const ddad_params_t *b, const char *what)
{
    CU_ASSERT_EQUAL_FATAL(a->n, b->n);
    size_t differing = 0;
    for (size_t i = 0; i < a->n; i++) {
        int64_t n = ddad_tensor_numel(a->items[i].tensor);
        CU_ASSERT_EQUAL_FATAL(n, ddad_tensor_numel(b->items[i].tensor));
        float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
        CU_ASSERT_FATAL(x && y);
        CU_ASSERT(ddad_to_buffer(a->items[i].tensor, x, (size_t)n * sizeof *x, DDAD_DTYPE_F32) == DDAD_OK);
        CU_ASSERT(ddad_to_buffer(b->items[i].tensor, y, (size_t)n * sizeof *y, DDAD_DTYPE_F32) == DDAD_OK);
        if (memcmp(x, y, (size_t)n * sizeof *x) != 0) {
            if (differing++ == 0)
                fprintf(stderr, "\n  %s: %s differs (max |diff| %.3g)\n", what, a->items[i].name,
                        ddad_test_max_abs_diff(x, y, (size_t)n));
        }
        free(x);
        free(y);
    }
    CU_ASSERT_EQUAL(differing, 0);
}

static void test_resume_bit_exact(void)
{
    const char *extra[] = {"train.iterations=8", "train.checkpoint_every=3", "train.lr=5e-4"};
    ddad_config_t cfg;
    load_cfg(&cfg, "straight", extra, 3);
    ddad_trainer_t *a = NULL, *b = NULL;
    ddad_trainer_opts_t o = ddad_trainer_opts_default();
    CU_ASSERT_FATAL(ddad_trainer_create(&a, &cfg, &o) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_trainer_run(a) == DDAD_OK);

    load_cfg(&cfg, "halves", extra, 3);
    o.stop_at = 4; /* not a multiple of checkpoint_every: the stop writes its own checkpoint */
    CU_ASSERT_FATAL(ddad_trainer_create(&b, &cfg, &o) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_trainer_run(b) == DDAD_OK);
    CU_ASSERT_EQUAL(ddad_trainer_step_count(b), 4);
    ddad_trainer_free(b);
    b = NULL;

    o.stop_at = 0;
    o.resume = true;
    ddad_status_t st = ddad_trainer_create(&b, &cfg, &o);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  resume: %s\n", ddad_last_error());
    CU_ASSERT_FATAL(st == DDAD_OK);
    CU_ASSERT_EQUAL(ddad_trainer_step_count(b), 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_trainer_resumed_from(b), "step_0000004.h5"));
    CU_ASSERT_FATAL(ddad_trainer_run(b) == DDAD_OK);
    CU_ASSERT_EQUAL(ddad_trainer_step_count(b), 8);
    {   /* resuming with other noise is refused: the model would be trained half with each */
        ddad_config_t other = cfg;
        other.diffusion.noise = DDAD_NOISE_PYRAMID;
        ddad_trainer_t *c = NULL;
        CU_ASSERT_EQUAL(ddad_trainer_create(&c, &other, &o), DDAD_STATUS_CONFIG);
        CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "trained with diffusion.noise white"));
        CU_ASSERT_PTR_NULL(c);
    }

    const ddad_model_t *ma = ddad_trainer_model(a), *mb = ddad_trainer_model(b);
    assert_params_equal(&ma->params, &mb->params, "weights");
    assert_params_equal(&ma->ema_params, &mb->ema_params, "EMA");

    /* the oracle can fail: one more step on one side breaks equality (of the
     * EMA: the linear schedule's lr is 0 after the last iteration) */
    ddad_train_stats_t s;
    CU_ASSERT_FATAL(ddad_trainer_step(b, &s) == DDAD_OK);
    bool differs = false;
    for (size_t i = 0; i < ma->ema_params.n && !differs; i++) {
        int64_t n = ddad_tensor_numel(ma->ema_params.items[i].tensor);
        float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
        ddad_to_buffer(ma->ema_params.items[i].tensor, x, (size_t)n * 4, DDAD_DTYPE_F32);
        ddad_to_buffer(mb->ema_params.items[i].tensor, y, (size_t)n * 4, DDAD_DTYPE_F32);
        differs = memcmp(x, y, (size_t)n * 4) != 0;
        free(x);
        free(y);
    }
    CU_ASSERT(differs);
    ddad_trainer_free(a);
    ddad_trainer_free(b);
}

/* Without augmentation the extractor targets come from the cache after the
 * first epoch: the losses equal those of a run that computes every target
 * (to rounding: a cached target was computed for one image, not a batch). */
static char cache_line[512];

static void keep_cache_line(ddad_log_level_t level, const char *msg, void *user)
{
    (void)level;
    (void)user;
    if (strstr(msg, "extractor targets:"))
        snprintf(cache_line, sizeof cache_line, "%s", msg);
}

static double *run_losses(const char *tag, const char *extra_set, int64_t steps)
{
    char iters[64];
    snprintf(iters, sizeof iters, "train.iterations=%lld", (long long)steps);
    const char *extra[] = {iters, "train.batch_size=4", "train.checkpoint_every=1000", "data.rotation_deg=0",
                           extra_set};
    ddad_config_t cfg;
    load_cfg(&cfg, tag, extra, 5);
    ddad_trainer_opts_t o = ddad_trainer_opts_default();
    o.on_step = record_loss;
    ddad_trainer_t *tr = NULL;
    CU_ASSERT_FATAL(ddad_trainer_create(&tr, &cfg, &o) == DDAD_OK);
    n_losses = 0;
    cache_line[0] = '\0';
    ddad_log_set_callback(keep_cache_line, NULL);
    CU_ASSERT_EQUAL(ddad_trainer_run(tr), DDAD_OK);
    ddad_log_set_callback(NULL, NULL);
    ddad_trainer_free(tr);
    double *l = losses;
    losses = NULL;
    CU_ASSERT_FATAL(n_losses == (size_t)steps);
    return l;
}

static void test_target_cache_same_losses(void)
{
    enum { STEPS = 6 }; /* 8 images, batch 4: three epochs, the last two from the cache */
    double *cached = run_losses("cached", "train.target_cache_mb=64", STEPS);
    /* 6 steps x 4 images: the first epoch's 8 computed, 16 served */
    CU_ASSERT_PTR_NOT_NULL(strstr(cache_line, "16 served from the cache, 8 computed; 8 images held"));
    double *plain = run_losses("uncached", "train.target_cache_mb=0", STEPS);
    CU_ASSERT_EQUAL(cache_line[0], '\0'); /* no cache */
    double worst = 0;
    for (int i = 0; i < STEPS; i++) {
        double d = fabs(cached[i] - plain[i]) / fabs(plain[i]);
        worst = d > worst ? d : worst;
    }
    fprintf(stderr, "\n  cached vs computed targets: losses differ by %.3g (relative) over %d steps\n", worst, STEPS);
    CU_ASSERT(worst <= 1e-5);
    free(cached);
    free(plain);
}

static void test_nan_stops(void)
{
    const char *extra[] = {"train.iterations=6", "train.checkpoint_every=1", "train.lr_decay=constant"};
    ddad_config_t cfg;
    load_cfg(&cfg, "nan", extra, 3);
    /* the config file refuses lr > 1; the struct takes any value: an lr that
     * makes the weights explode after one step */
    cfg.train.lr = 1e30;
    ddad_trainer_t *tr = NULL;
    ddad_trainer_opts_t o = ddad_trainer_opts_default();
    CU_ASSERT_FATAL(ddad_trainer_create(&tr, &cfg, &o) == DDAD_OK);
    ddad_status_t st = ddad_trainer_run(tr);
    const char *msg = ddad_last_error();
    fprintf(stderr, "\n  %s\n", msg);
    CU_ASSERT_EQUAL(st, DDAD_STATUS_NUMERIC);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "step"));
    int64_t done = ddad_trainer_step_count(tr);
    CU_ASSERT(done < 6);
    char latest[4200];
    CU_ASSERT_FATAL(ddad_checkpoint_latest(ddad_trainer_run_dir(tr), latest, sizeof latest) == DDAD_OK);
    /* the last checkpoint is the last finite state, and it loads */
    ddad_model_t m;
    CU_ASSERT_FATAL(ddad_model_create(&m, &cfg, DDAD_MODEL_WITH_EMA | DDAD_MODEL_NO_INIT) == DDAD_OK);
    ddad_checkpoint_state_t s;
    CU_ASSERT_EQUAL(ddad_checkpoint_load(latest, &m, NULL, NULL, &s), DDAD_OK);
    CU_ASSERT(s.step <= done);
    for (size_t i = 0; i < m.params.n; i++) {
        bool ok = false;
        CU_ASSERT(ddad_all_finite(&ok, m.params.items[i].tensor) == DDAD_OK);
        CU_ASSERT(ok);
    }
    char in_msg[64];
    snprintf(in_msg, sizeof in_msg, "step %lld", (long long)(done + 1));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, in_msg));
    ddad_model_free(&m);
    ddad_trainer_free(tr);
}

/* diffusion.noise reaches the training step: from the same seed, the first
 * losses with pyramid noise differ from those with white noise (same t,
 * same batch), and stay finite. */
static void test_pyramid_noise_trains(void)
{
    double *white = run_losses("noise-white", "diffusion.noise=white", 2);
    double *pyr = run_losses("noise-pyramid", "diffusion.noise=pyramid", 2);
    for (int k = 0; k < 2; k++) {
        CU_ASSERT(isfinite(pyr[k]));
        CU_ASSERT(pyr[k] != white[k]);
    }
    free(white);
    free(pyr);
}

static void test_refuses_existing_run(void)
{
    const char *extra[] = {"train.iterations=2", "train.checkpoint_every=2"};
    ddad_config_t cfg;
    load_cfg(&cfg, "refuse", extra, 2);
    ddad_trainer_t *tr = NULL;
    ddad_trainer_opts_t o = ddad_trainer_opts_default();
    CU_ASSERT_FATAL(ddad_trainer_create(&tr, &cfg, &o) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_trainer_run(tr) == DDAD_OK);
    ddad_trainer_free(tr);
    tr = NULL;
    CU_ASSERT_EQUAL(ddad_trainer_create(&tr, &cfg, &o), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "--force"));
    CU_ASSERT_PTR_NULL(tr);
    o.force = true;
    CU_ASSERT_EQUAL_FATAL(ddad_trainer_create(&tr, &cfg, &o), DDAD_OK);
    char latest[4200];
    CU_ASSERT_NOT_EQUAL(ddad_checkpoint_latest(ddad_trainer_run_dir(tr), latest, sizeof latest), DDAD_OK);
    ddad_trainer_free(tr);
}

static void test_lr_schedule(void)
{
    ddad_config_t cfg;
    ddad_config_defaults(&cfg);
    cfg.train.lr = 1e-4;
    cfg.train.iterations = 100;
    CU_ASSERT_DOUBLE_EQUAL(ddad_trainer_lr_at(&cfg, 0), 1e-4, 1e-18);
    CU_ASSERT_DOUBLE_EQUAL(ddad_trainer_lr_at(&cfg, 25), 0.75e-4, 1e-18);
    CU_ASSERT_DOUBLE_EQUAL(ddad_trainer_lr_at(&cfg, 100), 0.0, 1e-18);
    cfg.train.lr_decay = DDAD_LR_DECAY_CONSTANT;
    CU_ASSERT_DOUBLE_EQUAL(ddad_trainer_lr_at(&cfg, 50), 1e-4, 1e-18);
}

/* features.standardize: the trainer measures per-channel statistics before
 * the first step, the checkpoint carries them, a loaded model applies them,
 * and a checkpoint without them is refused when the config asks for them. */
static void test_feature_standardize(void)
{
    const char *extra[] = {"train.iterations=2", "train.checkpoint_every=2", "features.standardize=true",
                           "features.input_size=64", "train.batch_size=4"};
    ddad_config_t cfg;
    load_cfg(&cfg, "standardize", extra, 5);
    ddad_trainer_t *tr = NULL;
    ddad_trainer_opts_t o = ddad_trainer_opts_default();
    ddad_status_t st = ddad_trainer_create(&tr, &cfg, &o);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  create: %s\n", ddad_last_error());
    CU_ASSERT_FATAL(st == DDAD_OK);
    CU_ASSERT_FATAL(ddad_trainer_run(tr) == DDAD_OK);
    char latest[4200];
    CU_ASSERT_FATAL(ddad_checkpoint_latest(ddad_trainer_run_dir(tr), latest, sizeof latest) == DDAD_OK);
    ddad_trainer_free(tr);

    /* a fresh model reads the statistics back */
    ddad_model_t m;
    CU_ASSERT_FATAL(ddad_model_create(&m, &cfg, DDAD_MODEL_WITH_EMA | DDAD_MODEL_WITH_FEATURES) == DDAD_OK);
    float mean[DDAD_EFFNET_FEAT_CHANNELS], sd[DDAD_EFFNET_FEAT_CHANNELS];
    CU_ASSERT_FALSE(ddad_effnet_get_standardization(&m.effnet, mean, sd));
    CU_ASSERT_FATAL(ddad_checkpoint_load(latest, &m, NULL, NULL, NULL) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_effnet_get_standardization(&m.effnet, mean, sd));
    CU_ASSERT_EQUAL(m.effnet.input_size, 64);
    int positive = 0;
    for (int c = 0; c < DDAD_EFFNET_FEAT_CHANNELS; c++)
        positive += sd[c] > 0 && isfinite(mean[c]);
    CU_ASSERT_EQUAL(positive, DDAD_EFFNET_FEAT_CHANNELS);

    /* standardised features are (raw - mean) / std per channel */
    const int64_t S = cfg.data.image_size, shape[4] = {2, 3, S, S};
    size_t nx = (size_t)(2 * 3 * S * S);
    float *x = malloc(nx * sizeof *x);
    CU_ASSERT_FATAL(x != NULL);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)sin(0.37 * (double)i);
    ddad_tensor_t *xt = NULL, *fz = NULL, *fr = NULL;
    CU_ASSERT_FATAL(ddad_from_buffer(&xt, x, shape, 4, DDAD_DTYPE_F32) == DDAD_OK);
    const int64_t fs = 8, plane = fs * fs, nf = 2 * DDAD_EFFNET_FEAT_CHANNELS * plane;
    CU_ASSERT_FATAL(ddad_model_feature_target(&m, xt, fs, &fz) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_effnet_set_standardization(&m.effnet, NULL, NULL) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_model_feature_target(&m, xt, fs, &fr) == DDAD_OK);
    float *z = malloc((size_t)nf * sizeof *z), *r = malloc((size_t)nf * sizeof *r);
    CU_ASSERT_FATAL(z && r);
    CU_ASSERT(ddad_to_buffer(fz, z, (size_t)nf * sizeof *z, DDAD_DTYPE_F32) == DDAD_OK);
    CU_ASSERT(ddad_to_buffer(fr, r, (size_t)nf * sizeof *r, DDAD_DTYPE_F32) == DDAD_OK);
    double worst = 0;
    for (int64_t i = 0; i < nf; i++) {
        int c = (int)((i / plane) % DDAD_EFFNET_FEAT_CHANNELS);
        double want = ((double)r[i] - mean[c]) / sd[c], d = fabs(z[i] - want) / (1 + fabs(want));
        worst = d > worst ? d : worst;
    }
    CU_ASSERT(worst < 1e-4);
    free(x);
    free(z);
    free(r);
    ddad_tensor_free(xt);
    ddad_tensor_free(fz);
    ddad_tensor_free(fr);
    ddad_model_free(&m);

    /* a run trained without the statistics cannot be scored as if it had them */
    const char *plain_extra[] = {"train.iterations=1", "train.checkpoint_every=1"};
    ddad_config_t plain;
    load_cfg(&plain, "plain_stats", plain_extra, 2);
    CU_ASSERT_FATAL(ddad_trainer_create(&tr, &plain, &o) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_trainer_run(tr) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_checkpoint_latest(ddad_trainer_run_dir(tr), latest, sizeof latest) == DDAD_OK);
    ddad_trainer_free(tr);
    plain.features.standardize = true;
    CU_ASSERT_FATAL(ddad_model_create(&m, &plain, DDAD_MODEL_WITH_EMA | DDAD_MODEL_WITH_FEATURES) == DDAD_OK);
    CU_ASSERT_EQUAL(ddad_checkpoint_load(latest, &m, NULL, NULL, NULL), DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "feature_stats"));
    ddad_model_free(&m);
}

static void cleanup(void)
{
    if (tmp_root)
        ddad_test_rmtree(tmp_root);
    free(tmp_root);
    tmp_root = NULL;
}

int main(void)
{
    static const ddad_test_t tests[] = {{"lr schedule", test_lr_schedule},
                                        {"loss falls on synthetic data", test_loss_falls},
                                        {"resume is bit-exact", test_resume_bit_exact},
                                        {"cached extractor targets give the same losses", test_target_cache_same_losses},
                                        {"NaN stops with NUMERIC, last checkpoint kept", test_nan_stops},
                                        {"existing run refused without force", test_refuses_existing_run},
                                        {"diffusion.noise pyramid reaches the training step",
                                         test_pyramid_noise_trains},
                                        {"feature standardisation is measured, stored and applied",
                                         test_feature_standardize},
                                        {"cleanup", cleanup},
                                        {0}};
    return ddad_test_main("nn_trainer", tests);
}
