/* core/nn/trainer.c - see trainer.h */
#include "trainer.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dataset.h"
#include "loader.h"
#include "run.h"
#include "../torch/dist.h"
#include "checkpoint.h"
#include "feature_stats.h"
#include "noise.h"
#include "target_cache.h"

#define TRAINER_PATH_MAX 4096

struct ddad_trainer {
    ddad_config_t cfg;
    ddad_trainer_opts_t opts;
    char run_dir[TRAINER_PATH_MAX];
    char resumed_from[TRAINER_PATH_MAX];

    ddad_dataset_t *ds;
    const ddad_sample_t **train; /* (n_train) borrowed from ds */
    size_t n_train;
    int64_t *class_ids;          /* (n_train) */
    ddad_loader_t *loader;       /* NULL in a dry run */

    ddad_model_t model;
    bool has_model;
    ddad_tensor_t **trainable;   /* (n_trainable) borrowed from model.params */
    size_t n_trainable;
    ddad_adamw_t *opt;
    ddad_generator_t *gen;       /* noise and timesteps, on the model's device */
    ddad_target_cache_t *targets; /* extractor targets per image (no augmentation only), or NULL */

    float *x_host;               // (B, 3, S, S)
    int64_t *y_host;             // (B)
    int64_t batch, size;

    bool amp;                    /* autocast on (CUDA only, or bf16 where it works) */
    ddad_dtype_t amp_dtype;
    double loss_scale;           /* fp16: dynamic loss scale; 1 otherwise */
    int64_t scale_good_steps;

    ddad_dist_t *dist;           /* borrowed; NULL = one process */
    int rank, world;             /* this process, number of processes (0, 1 alone) */
    int64_t local_batch;         /* batch / world: the images this process trains on */
    bool stop_agreed;            /* data parallel: some rank asked to stop (agreed in the step) */
    double comm_s;               /* data parallel: seconds in collectives (waiting included) */

    int64_t step;                /* iterations completed */
    double last_lr;
    int64_t run_step0;           /* step when ddad_trainer_run started */
    double run_t0;
};

ddad_trainer_opts_t ddad_trainer_opts_default(void)
{
    ddad_trainer_opts_t o;
    memset(&o, 0, sizeof o);
    return o;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double ddad_trainer_lr_at(const ddad_config_t *cfg, int64_t step)
{
    if (cfg->train.lr_decay == DDAD_LR_DECAY_CONSTANT || cfg->train.iterations <= 0)
        return cfg->train.lr;
    double frac = (double)step / (double)cfg->train.iterations; /* guided-diffusion's _anneal_lr */
    return cfg->train.lr * (1.0 - (frac > 1.0 ? 1.0 : frac));
}

/* ---- run folder ------------------------------------------------------------- */

/* Creates and deletes a file in dir: proves writes work, also for root, for
 * whom permission bits do not. */
static ddad_status_t probe_writable(const char *dir, const char *what)
{
    char tmp[TRAINER_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/.ddad-write-probe.XXXXXX", dir);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return ddad_fail(DDAD_STATUS_IO, "%s %s is not writable: %s (set run.dir to a writable folder)", what, dir,
                         strerror(errno));
    close(fd);
    unlink(tmp);
    return DDAD_OK;
}

/* Dry run: the run folder must exist as a writable folder, or its nearest
 * existing ancestor must be one. Nothing is created. */
static ddad_status_t check_run_dir_dry(const char *run_dir)
{
    char buf[TRAINER_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", run_dir);
    for (;;) {
        struct stat sb;
        if (stat(buf, &sb) == 0) {
            if (!S_ISDIR(sb.st_mode))
                return ddad_fail(DDAD_STATUS_IO, "cannot create run folder %s: %s exists and is not a folder",
                                 run_dir, buf);
            return probe_writable(buf, strcmp(buf, run_dir) ? "run folder parent" : "run folder");
        }
        if (errno != ENOENT && errno != ENOTDIR)
            return ddad_fail(DDAD_STATUS_IO, "cannot create run folder %s: %s: %s", run_dir, buf, strerror(errno));
        char *slash = strrchr(buf, '/');
        if (!slash) {
            snprintf(buf, sizeof buf, ".");
        } else if (slash == buf) {
            buf[1] = '\0';
        } else {
            *slash = '\0';
        }
    }
}

/* Deletes every checkpoint (complete or partial) of run_dir. */
static ddad_status_t delete_checkpoints(const char *run_dir, int *n_deleted)
{
    char dir[TRAINER_PATH_MAX], path[TRAINER_PATH_MAX + 256];
    ddad_run_path(dir, sizeof dir, run_dir, NULL, DDAD_RUN_CHECKPOINTS);
    *n_deleted = 0;
    DIR *d = opendir(dir);
    if (!d)
        return DDAD_OK;
    struct dirent *e;
    ddad_status_t st = DDAD_OK;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "step_", 5) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0) {
            st = ddad_fail(DDAD_STATUS_IO, "cannot delete old checkpoint %s: %s", path, strerror(errno));
            break;
        }
        if (!strstr(e->d_name, ".partial"))
            (*n_deleted)++;
    }
    closedir(d);
    return st;
}

/* Keeps the header and the lines of train.log with step <= last (steps after
 * the checkpoint resumed from are trained again). */
static ddad_status_t truncate_log(const char *run_dir, int64_t last)
{
    char path[TRAINER_PATH_MAX + 16], tmp[TRAINER_PATH_MAX + 32];
    ddad_run_path(path, sizeof path, run_dir, NULL, DDAD_RUN_TRAIN_LOG);
    snprintf(tmp, sizeof tmp, "%s.partial", path);
    FILE *in = fopen(path, "r");
    if (!in)
        return DDAD_OK;
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fclose(in);
        return ddad_fail(DDAD_STATUS_IO, "cannot write %s: %s", tmp, strerror(errno));
    }
    char line[1024];
    while (fgets(line, sizeof line, in)) {
        long long s;
        bool whole = strchr(line, '\n') != NULL; /* a kill may have cut the last line */
        if (whole && (line[0] == '#' || (sscanf(line, "%lld", &s) == 1 && s <= last)))
            fputs(line, out);
    }
    fclose(in);
    if (fclose(out) != 0) {
        unlink(tmp);
        return ddad_fail(DDAD_STATUS_IO, "cannot rewrite %s: %s", path, strerror(errno));
    }
    return ddad_run_commit(tmp, path);
}

/* ---- data ------------------------------------------------------------------- */

static ddad_status_t open_data(ddad_trainer_t *tr)
{
    const ddad_config_t *cfg = &tr->cfg;
    const ddad_data_format_t fmt = cfg->data.format;
    ddad_status_t st = DDAD_OK;

    const char *names[DDAD_CONFIG_MAX_NAMES];
    size_t n_cat = ddad_config_categories(cfg, names, DDAD_CONFIG_MAX_NAMES);
    bool all_unknown = n_cat == 0; /* "all" without a known list: every folder */
    if (n_cat > DDAD_CONFIG_MAX_NAMES)
        n_cat = DDAD_CONFIG_MAX_NAMES;
    struct stat sb;
    if (stat(cfg->data.root, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ddad_fail(DDAD_STATUS_DATA, "data.root %s: no such folder (generate the synthetic set with "
                         "ddad-synth --out %s, or fetch a data set with make -f Makefile.data)",
                         cfg->data.root, cfg->data.root);
    st = ddad_dataset_index(&tr->ds, fmt, cfg->data.root, all_unknown ? NULL : names, n_cat);
    if (st == DDAD_OK)
        st = ddad_dataset_validate(tr->ds);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "data set %s", cfg->data.root);
    size_t n_val = 0;
    ddad_dataset_hold_out(tr->ds, cfg->data.val_split, &n_val); /* never trained on: see data.val_split */
    if (n_val > 0)
        ddad_log(DDAD_LOG_INFO, "data.val_split %g: %zu good training images held out (not trained on)",
                 cfg->data.val_split, n_val);
    st = ddad_dataset_select(tr->ds, NULL, DDAD_SPLIT_TRAIN, &tr->train, &tr->n_train);
    if (st != DDAD_OK)
        return st;
    if ((int64_t)tr->n_train < cfg->train.batch_size)
        return ddad_fail(DDAD_STATUS_DATA, "%s: %zu training images, fewer than train.batch_size %d", cfg->data.root,
                         tr->n_train, cfg->train.batch_size);
    tr->class_ids = calloc(tr->n_train, sizeof *tr->class_ids);
    if (!tr->class_ids)
        return ddad_fail(DDAD_STATUS_NOMEM, "out of memory (class ids)");
    for (size_t i = 0; i < tr->n_train; i++) {
        int c = ddad_config_category_index(cfg, tr->train[i]->category);
        if (c < 0)
            c = 0;
        if (cfg->model.num_classes > 0 && c >= cfg->model.num_classes)
            return ddad_fail(DDAD_STATUS_CONFIG, "category %s has class label %d but model.num_classes is %d "
                             "(raise model.num_classes)", tr->train[i]->category, c, cfg->model.num_classes);
        tr->class_ids[i] = c;
    }
    return DDAD_OK;
}

static ddad_status_t open_loader(ddad_trainer_t *tr)
{
    const ddad_config_t *cfg = &tr->cfg;
    ddad_loader_opts_t lo = ddad_loader_opts_default();
    lo.image_size = cfg->data.image_size;
    lo.batch_size = cfg->train.batch_size;
    lo.seed = (uint64_t)cfg->seed;
    lo.rotation_deg = (float)cfg->data.rotation_deg;
    lo.flip = (int)cfg->data.flip; /* the config's values are the loader's bits */
    lo.threads = cfg->data.loader_threads > 0 ? cfg->data.loader_threads : 1;
    lo.shard_index = tr->rank;
    lo.shard_count = tr->world;
    ddad_status_t st = ddad_loader_create(&tr->loader, tr->train, tr->class_ids, tr->n_train, &lo);
    if (st != DDAD_OK)
        return st;
    tr->batch = cfg->train.batch_size;
    tr->local_batch = ddad_loader_local_batch(tr->loader);
    tr->size = cfg->data.image_size;
    tr->x_host = malloc((size_t)(tr->local_batch * 3 * tr->size * tr->size) * sizeof *tr->x_host);
    tr->y_host = malloc((size_t)tr->local_batch * sizeof *tr->y_host);
    if (!tr->x_host || !tr->y_host)
        return ddad_fail(DDAD_STATUS_NOMEM, "out of memory (batch buffers)");
    return DDAD_OK;
}

/* ---- model, optimizer, precision ------------------------------------------------ */

/* features.standardize: every rank measures the statistics on all training
 * images (the same on every rank); a resumed run replaces them with the
 * checkpoint's. */
static ddad_status_t open_feature_stats(ddad_trainer_t *tr)
{
    float mean[DDAD_EFFNET_FEAT_CHANNELS], std[DDAD_EFFNET_FEAT_CHANNELS];
    ddad_status_t st = ddad_feature_stats_compute(&tr->model.effnet, tr->train, tr->n_train, &tr->cfg, mean, std);
    if (st == DDAD_OK)
        st = ddad_effnet_set_standardization(&tr->model.effnet, mean, std);
    return st;
}

static ddad_status_t open_precision(ddad_trainer_t *tr)
{
    tr->loss_scale = 1.0;
    ddad_precision_t p = tr->cfg.train.precision;
    if (p == DDAD_PRECISION_FP32)
        return DDAD_OK;
    tr->amp = true;
    tr->amp_dtype = p == DDAD_PRECISION_FP16 ? DDAD_DTYPE_F16 : DDAD_DTYPE_BF16;
    if (p == DDAD_PRECISION_FP16) {
        if (tr->model.device.type != DDAD_DEVICE_TYPE_CUDA)
            return ddad_fail(DDAD_STATUS_CONFIG, "train.precision fp16 needs a CUDA device (device is %s)",
                             tr->cfg.device);
        tr->loss_scale = 65536.0; /* torch.cuda.amp.GradScaler's initial scale */
    }
    bool was = false;
    ddad_status_t st = ddad_autocast_set(true, tr->model.device, tr->amp_dtype, &was);
    if (st == DDAD_OK) {
        /* the pattern of every UNet layer (conv -> GroupNorm with f32 affine):
         * libtorch 1.13's CPU autocast has no bf16 GroupNorm; the shim's
         * ddad_group_norm normalises such inputs in f32, so this probe now
         * passes there and guards other libtorch builds */
        size_t mark = ddad_scope_begin();
        const int64_t xs[4] = {1, 32, 4, 4}, ws[4] = {32, 32, 3, 3}, cs[1] = {32};
        ddad_tensor_t *x, *w, *g, *b, *h;
        st = ddad_ones(&x, xs, 4, DDAD_DTYPE_F32, tr->model.device);
        if (st == DDAD_OK)
            st = ddad_ones(&w, ws, 4, DDAD_DTYPE_F32, tr->model.device);
        if (st == DDAD_OK)
            st = ddad_ones(&g, cs, 1, DDAD_DTYPE_F32, tr->model.device);
        if (st == DDAD_OK)
            st = ddad_zeros(&b, cs, 1, DDAD_DTYPE_F32, tr->model.device);
        if (st == DDAD_OK)
            st = ddad_conv2d(&h, x, w, b, 1, 1, 1, 1, 1, 1, 1);
        if (st == DDAD_OK)
            st = ddad_group_norm(&h, h, 32, g, b, 1e-5);
        ddad_scope_end(mark);
        ddad_autocast_set(false, tr->model.device, tr->amp_dtype, NULL);
    }
    if (st != DDAD_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", ddad_last_error()); /* the message slot is rewritten below */
        return ddad_fail(DDAD_STATUS_CONFIG, "train.precision %s does not work on %s with this libtorch (%s): "
                         "use train.precision=fp32", p == DDAD_PRECISION_FP16 ? "fp16" : "bf16", tr->cfg.device, why);
    }
    return DDAD_OK;
}

static ddad_status_t open_optimizer(ddad_trainer_t *tr)
{
    ddad_model_t *m = &tr->model;
    ddad_status_t st = ddad_params_set_requires_grad(&m->params, true);
    if (st != DDAD_OK)
        return st;
    size_t n = ddad_params_trainable(&m->params, NULL, 0);
    tr->trainable = calloc(n ? n : 1, sizeof *tr->trainable);
    if (!tr->trainable)
        return ddad_fail(DDAD_STATUS_NOMEM, "out of memory (parameter list)");
    tr->n_trainable = ddad_params_trainable(&m->params, tr->trainable, n);
    ddad_adamw_options_t ao = {.lr = tr->cfg.train.lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                               .weight_decay = tr->cfg.train.weight_decay};
    st = ddad_adamw_create(&tr->opt, tr->trainable, tr->n_trainable, ao);
    if (st == DDAD_OK)
        st = ddad_generator_create(&tr->gen, (uint64_t)tr->cfg.seed, m->device);
    return st;
}

static ddad_status_t resume_from(ddad_trainer_t *tr, const char *path)
{
    ddad_config_t saved;
    ddad_status_t st = ddad_checkpoint_read_config(path, &saved);
    if (st == DDAD_OK) {
        /* other noise would leave a model trained half with one noise, half
         * with the other, and stored as the second */
        DDAD_TRY_RETURN(ddad_config_check_noise(&saved, &tr->cfg, path));
        saved.run = tr->cfg.run; /* the folder may have moved: not part of the experiment */
        char *a = NULL, *b = NULL;
        if (ddad_config_to_yaml(&saved, &a) == DDAD_OK && ddad_config_to_yaml(&tr->cfg, &b) == DDAD_OK &&
            strcmp(a, b) != 0)
            ddad_log(DDAD_LOG_WARN, "the config differs from the one stored in %s: the resumed run is not "
                     "the continuation of the same experiment", path);
        free(a);
        free(b);
    }
    ddad_checkpoint_state_t s;
    memset(&s, 0, sizeof s);
    st = ddad_checkpoint_load(path, &tr->model, tr->opt, tr->gen, &s);
    if (st != DDAD_OK)
        return st;
    st = ddad_loader_seek(tr->loader, &s.cursor);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "resuming from %s", path);
    tr->step = s.step;
    tr->last_lr = s.lr;
    snprintf(tr->resumed_from, sizeof tr->resumed_from, "%s", path);
    ddad_log(DDAD_LOG_INFO, "resuming from %s (step %" PRId64 ")", path, s.step);
    return DDAD_OK;
}

void ddad_trainer_free(ddad_trainer_t *tr)
{
    if (!tr)
        return;
    ddad_generator_free(tr->gen);
    ddad_target_cache_free(tr->targets);
    ddad_adamw_free(tr->opt);
    free(tr->trainable);
    if (tr->has_model)
        ddad_model_free(&tr->model);
    ddad_loader_free(tr->loader);
    free(tr->x_host);
    free(tr->y_host);
    free(tr->class_ids);
    free(tr->train);
    ddad_dataset_free(tr->ds);
    free(tr);
}

/* ---- data parallel: agreeing and sharing the state --------------------------------- */

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* 52 bits (exact in a double) of a hash over what must be the same on every
 * rank: the experiment's config and the training images (their paths below
 * data.root, in order). Left out, because they may differ per machine: the
 * threads, the device index (a GPU per rank) and the run folder. */
static double setup_fingerprint(const ddad_trainer_t *tr)
{
    ddad_config_t c = tr->cfg;
    char *colon = strchr(c.device, ':');
    if (colon)
        *colon = '\0';
    c.threads = 0;
    c.data.loader_threads = 1;
    memset(&c.run, 0, sizeof c.run);
    char *yaml = NULL;
    if (ddad_config_to_yaml(&c, &yaml) != DDAD_OK)
        return -1;
    uint64_t h = fnv1a(1469598103934665603ull, yaml);
    free(yaml);
    size_t root = strlen(tr->cfg.data.root);
    for (size_t i = 0; i < tr->n_train; i++) {
        const char *p = tr->train[i]->path;
        h = fnv1a(h, strncmp(p, tr->cfg.data.root, root) == 0 ? p + root : p);
        h = fnv1a(h, "\n");
    }
    return (double)(h >> 12);
}

/* Every rank calls this once with the outcome of its own setup; all return
 * the same verdict: this rank's own error, or DDAD_STATUS_PEER naming the
 * rank that failed, or DDAD_STATUS_CONFIG when the configs differ. */
static ddad_status_t agree_setup(ddad_trainer_t *tr, ddad_status_t mine)
{
    char why[1024];
    snprintf(why, sizeof why, "%s", ddad_last_error());
    double fp = mine == DDAD_OK ? setup_fingerprint(tr) : 0;
    /* min over ranks of: first failing rank, fingerprint, -fingerprint */
    double v[3] = {mine != DDAD_OK ? tr->rank : tr->world, fp, -fp};
    ddad_status_t st = ddad_dist_allreduce_f64(tr->dist, v, 3, DDAD_DIST_MIN);
    if (mine != DDAD_OK)
        return ddad_fail(mine, "%s", why); /* this rank's own message, whatever the others did */
    if (st != DDAD_OK)
        return st;
    if (v[0] < tr->world)
        return ddad_fail(DDAD_STATUS_PEER, "rank %d of %d failed while setting up (its own output says why); rank %d "
                         "stops too", (int)v[0], tr->world, tr->rank);
    if (v[1] != -v[2])
        return ddad_fail(DDAD_STATUS_CONFIG, "the %d processes were started with different configs or see "
                         "different training images (or run different ddad versions): start every rank with the "
                         "same config file and --set options, on the same data", tr->world);
    return DDAD_OK;
}

static int64_t f64_bits(double x)
{
    int64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

static double bits_f64(int64_t b)
{
    double x;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* Rank 0's state (fresh or resumed) becomes every rank's: step, loader
 * cursor, schedule, weights, AdamW moments and the noise generator. The EMA
 * lives on rank 0 only. */
static ddad_status_t share_state(ddad_trainer_t *tr)
{
    ddad_loader_cursor_t cur;
    ddad_loader_get_cursor(tr->loader, &cur);
    int64_t s[8] = {tr->step, cur.epoch, cur.position, (int64_t)cur.rng, ddad_adamw_get_step(tr->opt),
                    f64_bits(tr->last_lr), f64_bits(tr->loss_scale), tr->scale_good_steps};
    ddad_status_t st = ddad_dist_broadcast_i64(tr->dist, s, 8, 0);
    if (st != DDAD_OK)
        return st;
    if (tr->rank != 0) {
        cur = (ddad_loader_cursor_t){.epoch = s[1], .position = s[2], .rng = (uint64_t)s[3]};
        if ((st = ddad_loader_seek(tr->loader, &cur)) != DDAD_OK)
            return ddad_fail_context(st, "rank %d: rank 0's loader position", tr->rank);
        tr->step = s[0];
        ddad_adamw_set_step(tr->opt, s[4]);
        tr->last_lr = bits_f64(s[5]);
        tr->loss_scale = bits_f64(s[6]);
        tr->scale_good_steps = s[7];
    }
    const ddad_params_t *P = &tr->model.params;
    size_t n = P->n + 2 * tr->n_trainable + 1;
    ddad_tensor_t **ts = calloc(n, sizeof *ts);
    if (!ts)
        return ddad_fail(DDAD_STATUS_NOMEM, "out of memory (state list)");
    size_t k = 0;
    for (size_t i = 0; i < P->n; i++)
        ts[k++] = P->items[i].tensor;
    for (size_t i = 0; i < tr->n_trainable; i++) {
        ts[k++] = ddad_adamw_exp_avg(tr->opt, i);
        ts[k++] = ddad_adamw_exp_avg_sq(tr->opt, i);
    }
    ddad_tensor_t *gen_state = NULL;
    st = ddad_generator_get_state(tr->gen, &gen_state);
    if (st == DDAD_OK) {
        ts[k++] = gen_state;
        st = ddad_dist_broadcast(tr->dist, ts, k, 0);
    }
    if (st == DDAD_OK && tr->rank != 0)
        st = ddad_generator_set_state(tr->gen, gen_state);
    ddad_tensor_free(gen_state);
    free(ts);
    return st;
}

/* ---- creation ------------------------------------------------------------------- */

/* Everything one process checks and builds; rank 0 alone owns the run folder. */
static ddad_status_t create_local(ddad_trainer_t *tr, const ddad_config_t *cfg)
{
    ddad_status_t st = DDAD_OK;
    char latest[TRAINER_PATH_MAX];
    bool has_ckpt = false;
    const bool root = tr->rank == 0;

    if (tr->opts.run_dir) {
        if ((size_t)snprintf(tr->run_dir, sizeof tr->run_dir, "%s", tr->opts.run_dir) >= sizeof tr->run_dir)
            return ddad_fail(DDAD_STATUS_IO, "run folder path too long");
    } else {
        DDAD_TRY(ddad_config_run_dir(cfg, tr->run_dir, sizeof tr->run_dir));
    }
    tr->opts.run_dir = NULL; /* not kept: the caller's string may go */
    if (tr->world > 1 && cfg->train.batch_size % tr->world != 0)
        return ddad_fail(DDAD_STATUS_CONFIG, "train.batch_size %d cannot be split over %d processes: use a multiple "
                         "of %d (each process trains on batch_size / processes images per step)",
                         cfg->train.batch_size, tr->world, tr->world);
    if (cfg->train.grad_accum < 1 || (cfg->train.batch_size / tr->world) % cfg->train.grad_accum != 0)
        return ddad_fail(DDAD_STATUS_CONFIG, "train.grad_accum %d does not divide the %d images per step%s: each "
                         "optimizer step runs grad_accum equal micro-batches (use a divisor of %d)",
                         cfg->train.grad_accum, cfg->train.batch_size / tr->world,
                         tr->world > 1 ? " of each process" : "", cfg->train.batch_size / tr->world);

    /* 1. device and run folder: cheap checks first */
    ddad_device_t dev;
    if (ddad_device_parse(&dev, cfg->device) != DDAD_OK || ddad_device_check(dev) != DDAD_OK)
        return ddad_fail_context(DDAD_STATUS_DEVICE, "device %s", cfg->device);
    if (dev.type == DDAD_DEVICE_TYPE_CPU)
        DDAD_TRY(ddad_set_deterministic(true));
    if (root) {
        if (tr->opts.dry_run)
            DDAD_TRY(check_run_dir_dry(tr->run_dir));
        has_ckpt = ddad_checkpoint_latest(tr->run_dir, latest, sizeof latest) == DDAD_OK;
        ddad_clear_error();
        if (has_ckpt && !tr->opts.resume && !tr->opts.force)
            return ddad_fail(DDAD_STATUS_USAGE, "run folder %s already holds checkpoints (latest %s): pass --resume "
                             "to continue that run, or --force to delete its checkpoints and start over",
                             tr->run_dir, latest);
        if (!tr->opts.dry_run) {
            char ck[TRAINER_PATH_MAX + 16];
            ddad_run_path(ck, sizeof ck, tr->run_dir, NULL, DDAD_RUN_CHECKPOINTS);
            if ((st = ddad_run_mkdir_p(ck)) != DDAD_OK) {
                ddad_fail_context(st, "creating the run folder");
                goto fail;
            }
            DDAD_TRY(probe_writable(ck, "checkpoint folder"));
        }
    }

    /* 2. data */
    DDAD_TRY(open_data(tr));

    /* 3. model (weights files are read here); the EMA is rank 0's */
    unsigned flags = DDAD_MODEL_WITH_FEATURES;
    if (!tr->opts.dry_run && root)
        flags |= DDAD_MODEL_WITH_EMA;
    bool resume = tr->opts.resume && has_ckpt && !tr->opts.force;
    if (resume)
        flags |= DDAD_MODEL_NO_INIT;
    DDAD_TRY(ddad_model_create(&tr->model, cfg, flags));
    tr->has_model = true;
    DDAD_TRY(open_precision(tr));
    if (tr->opts.dry_run)
        return DDAD_OK;

    /* 4. loader (decodes every image once), optimizer, generator */
    DDAD_TRY(open_loader(tr));
    DDAD_TRY(open_optimizer(tr));
    if (tr->model.has_features && cfg->features.standardize)
        DDAD_TRY(open_feature_stats(tr)); /* a resumed run then reads the stored ones */
    if (tr->model.has_features && cfg->data.rotation_deg == 0 && cfg->data.flip == DDAD_DATA_FLIP_NONE &&
        cfg->train.target_cache_mb > 0)
        DDAD_TRY(ddad_target_cache_create(&tr->targets, tr->n_train, (size_t)cfg->train.target_cache_mb << 20));
    tr->last_lr = ddad_trainer_lr_at(cfg, 0);
    if (!root)
        return DDAD_OK; /* the state comes from rank 0 (share_state) */

    /* 5. the state of the run folder: resume, or start (over) */
    char *yaml = NULL;
    char path[TRAINER_PATH_MAX + 32];
    if (resume) {
        DDAD_TRY(resume_from(tr, latest));
        DDAD_TRY(truncate_log(tr->run_dir, tr->step));
    } else {
        if (has_ckpt) {
            int n_del = 0;
            DDAD_TRY(delete_checkpoints(tr->run_dir, &n_del));
            ddad_log(DDAD_LOG_WARN, "--force: deleted %d old checkpoint(s) of %s", n_del, tr->run_dir);
        }
        ddad_run_path(path, sizeof path, tr->run_dir, NULL, DDAD_RUN_TRAIN_LOG);
        DDAD_TRY(ddad_run_write_text_atomic(path, "# step loss mse vb feat lr it_per_s\n"));
    }
    DDAD_TRY(ddad_config_to_yaml(cfg, &yaml));
    ddad_run_path(path, sizeof path, tr->run_dir, NULL, DDAD_RUN_CONFIG);
    st = ddad_run_write_text_atomic(path, yaml);
    free(yaml);
fail:
    return st;
}

ddad_status_t ddad_trainer_create(ddad_trainer_t **out, const ddad_config_t *cfg, const ddad_trainer_opts_t *opts)
{
    *out = NULL;
    ddad_trainer_t *tr = calloc(1, sizeof *tr);
    if (!tr)
        return ddad_fail(DDAD_STATUS_NOMEM, "out of memory (trainer)");
    tr->cfg = *cfg;
    tr->opts = opts ? *opts : ddad_trainer_opts_default();
    tr->dist = tr->opts.dist;
    tr->rank = ddad_dist_rank(tr->dist);
    tr->world = ddad_dist_world_size(tr->dist);
    ddad_status_t st = create_local(tr, cfg);
    if (tr->dist) {
        st = agree_setup(tr, st);
        if (st == DDAD_OK && !tr->opts.dry_run)
            st = share_state(tr);
    }
    if (st != DDAD_OK) {
        ddad_trainer_free(tr);
        return st;
    }
    *out = tr;
    return DDAD_OK;
}

/* ---- one step ----------------------------------------------------------------- */

/* fp16: gradients carry the loss scale. Unscales them; *finite says whether
 * all are finite (else the step is skipped and the scale halved). */
static ddad_status_t unscale_grads(ddad_trainer_t *tr, bool *finite)
{
    *finite = true;
    for (size_t i = 0; i < tr->n_trainable; i++) {
        ddad_tensor_t *g = NULL;
        ddad_status_t st = ddad_grad(&g, tr->trainable[i]);
        if (st == DDAD_OK && g)
            st = ddad_mul_scalar_(g, 1.0 / tr->loss_scale);
        bool ok = true;
        if (st == DDAD_OK && g && *finite)
            st = ddad_all_finite(&ok, g);
        ddad_tensor_free(g);
        if (st != DDAD_OK)
            return st;
        if (!ok)
            *finite = false;
    }
    return DDAD_OK;
}

/* Data parallel: gradients := their mean over the ranks (timed). */
static ddad_status_t average_grads(ddad_trainer_t *tr)
{
    if (!tr->dist)
        return DDAD_OK;
    double t0 = now_s();
    ddad_status_t st = ddad_dist_allreduce_grads(tr->dist, tr->trainable, tr->n_trainable);
    tr->comm_s += now_s() - t0;
    return st;
}

/* Data parallel: vals[0..n) := their sum over the ranks (timed). */
static ddad_status_t sum_over_ranks(ddad_trainer_t *tr, double *vals, size_t n)
{
    double t0 = now_s();
    ddad_status_t st = ddad_dist_allreduce_f64(tr->dist, vals, n, DDAD_DIST_SUM);
    tr->comm_s += now_s() - t0;
    return st;
}

/* One micro-batch: rows [k Bm, (k + 1) Bm) of this process's slice of the
 * batch in tr->x_host / y_host, with t and the noise drawn for the whole
 * batch (rows offset by the rank's slice). Forward, loss, and backward of
 * loss * grad_scale (1 / grad_accum, times the fp16 loss scale), which adds
 * this micro-batch's share of the whole batch's gradient to .grad. mv
 * receives the micro-batch's loss, mse, vb, feat (unscaled means). Every
 * tensor it makes is freed before it returns. given_target (one process's
 * whole batch, or NULL): the caller's extractor targets
 * (ddad_trainer_step_batch), whose images are not the loader's, so the
 * target cache is not used for them either way. */
static ddad_status_t micro_step(ddad_trainer_t *tr, int64_t k, int64_t Bm, const ddad_tensor_t *t_all,
                                const ddad_tensor_t *noise_all, const ddad_tensor_t *given_target, bool given,
                                double grad_scale, double mv[4])
{
    const ddad_config_t *cfg = &tr->cfg;
    ddad_model_t *m = &tr->model;
    const int64_t B = tr->batch, S = tr->size;
    const int64_t shape[4] = {Bm, 3, S, S};
    const int64_t fs = cfg->features.train_size;
    const int64_t row0 = tr->rank * tr->local_batch + k * Bm; /* this micro-batch's rows of t and the noise */

    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    bool amp_on = false;
    ddad_tensor_t *x0, *y = NULL, *t = (ddad_tensor_t *)t_all, *noise = (ddad_tensor_t *)noise_all, *x_t, *t_net;
    ddad_tensor_t *target = NULL, *out, *feat = NULL;
    DDAD_TRY(ddad_from_buffer(&x0, tr->x_host + k * Bm * 3 * S * S, shape, 4, DDAD_DTYPE_F32));
    if (m->device.type != DDAD_DEVICE_TYPE_CPU)
        DDAD_TRY(ddad_to_device(&x0, x0, m->device));
    if (cfg->model.num_classes > 0)
        DDAD_TRY(ddad_model_labels(m, tr->y_host + k * Bm, Bm, &y));
    if (Bm != B) {
        DDAD_TRY(ddad_slice(&t, t_all, 0, row0, row0 + Bm, 1));
        DDAD_TRY(ddad_slice(&noise, noise_all, 0, row0, row0 + Bm, 1));
    }
    {
        bool was = ddad_grad_set_enabled(false);
        st = ddad_diffusion_q_sample(&m->train_diffusion, x0, t, noise, &x_t);
        if (st == DDAD_OK)
            st = ddad_diffusion_map_timesteps(&m->train_diffusion, t, &t_net);
        ddad_grad_set_enabled(was);
        if (st != DDAD_OK)
            goto fail;
    }
    if (m->has_features && given_target)
        DDAD_TRY(ddad_slice(&target, given_target, 0, k * Bm, (k + 1) * Bm, 1));
    else if (m->has_features && tr->targets && !given) /* unaugmented images: each image's target once */
        DDAD_TRY(ddad_target_cache_get(tr->targets, m, x0, ddad_loader_batch_indices(tr->loader) + k * Bm, Bm, fs,
                                       &target));
    else if (m->has_features)
        DDAD_TRY(ddad_model_feature_target(m, x0, fs, &target));

    if (tr->amp) {
        DDAD_TRY(ddad_autocast_set(true, m->device, tr->amp_dtype, NULL));
        amp_on = true;
    }
    DDAD_TRY(ddad_unet_forward(&m->unet, x_t, t_net, y, m->has_features ? fs : 0, &out, target ? &feat : NULL));
    if (amp_on) {
        ddad_autocast_set(false, m->device, tr->amp_dtype, NULL);
        amp_on = false;
        DDAD_TRY(ddad_to_dtype(&out, out, DDAD_DTYPE_F32));
        if (feat)
            DDAD_TRY(ddad_to_dtype(&feat, feat, DDAD_DTYPE_F32));
    }

    ddad_diffusion_losses_t L;
    DDAD_TRY(ddad_diffusion_training_losses(&m->train_diffusion, out, x0, x_t, t, noise, feat, target, &L));
    ddad_tensor_t *mse_m, *vb_m, *loss, *parts[4], *logv;
    DDAD_TRY(ddad_mean(&mse_m, L.mse));
    DDAD_TRY(ddad_mean(&vb_m, L.vb));
    DDAD_TRY(ddad_add_scaled(&loss, mse_m, vb_m, cfg->train.vlb_weight));
    if (L.feat_mse)
        DDAD_TRY(ddad_add_scaled(&loss, loss, L.feat_mse, cfg->train.feature_loss_weight));
    /* one device-to-host copy for the four numbers */
    parts[0] = loss;
    parts[1] = mse_m;
    parts[2] = vb_m;
    parts[3] = L.feat_mse ? L.feat_mse : vb_m;
    DDAD_TRY(ddad_stack(&logv, (const ddad_tensor_t *const *)parts, 4, 0));
    DDAD_TRY(ddad_detach(&logv, logv));
    DDAD_TRY(ddad_to_buffer(logv, mv, 4 * sizeof *mv, DDAD_DTYPE_F64));
    if (!L.feat_mse)
        mv[3] = 0;
    /* a non-finite loss is reported by the caller, after the ranks agree on it */
    if (grad_scale != 1.0)
        DDAD_TRY(ddad_mul_scalar(&loss, loss, grad_scale));
    DDAD_TRY(ddad_backward(loss));
fail:
    if (amp_on)
        ddad_autocast_set(false, m->device, tr->amp_dtype, NULL);
    ddad_scope_end(mark);
    return st;
}

/* The inputs of a step from the caller (ddad_trainer_step_batch): images and
 * labels into x_host / y_host, t, the noise and the targets as tensors on the
 * model's device (scope-owned: the caller holds the scope). */
static ddad_status_t take_batch(ddad_trainer_t *tr, const ddad_train_batch_t *b, ddad_tensor_t **t,
                                ddad_tensor_t **noise, ddad_tensor_t **target)
{
    const ddad_model_t *m = &tr->model;
    const int64_t B = tr->batch, S = tr->size, T = m->train_diffusion.num_timesteps;
    const int64_t fs = tr->cfg.features.train_size;
    const int64_t shape[4] = {B, 3, S, S}, tshape[4] = {B, DDAD_EFFNET_FEAT_CHANNELS, fs, fs};
    if (tr->local_batch != B) /* one process holds the whole batch */
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_trainer_step_batch: not with data parallel training");
    if (!b->x0 || !b->t || !b->noise || (tr->cfg.model.num_classes > 0 && !b->y))
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_trainer_step_batch: x0, t, noise%s must be given",
                         tr->cfg.model.num_classes > 0 ? " and y (the model has a class embedding)" : "");
    for (int64_t i = 0; i < B; i++) {
        if (b->t[i] < 0 || b->t[i] >= T)
            return ddad_fail(DDAD_STATUS_USAGE, "ddad_trainer_step_batch: t[%" PRId64 "] = %" PRId64
                             " is outside 0 .. %" PRId64, i, b->t[i], T - 1);
        if (b->y && tr->cfg.model.num_classes > 0 && (b->y[i] < 0 || b->y[i] >= tr->cfg.model.num_classes))
            return ddad_fail(DDAD_STATUS_USAGE, "ddad_trainer_step_batch: y[%" PRId64 "] = %" PRId64
                             " is outside 0 .. %d", i, b->y[i], tr->cfg.model.num_classes - 1);
    }
    memcpy(tr->x_host, b->x0, (size_t)(B * 3 * S * S) * sizeof *tr->x_host);
    for (int64_t i = 0; i < B; i++)
        tr->y_host[i] = b->y ? b->y[i] : 0;
    ddad_status_t st = DDAD_OK;
    DDAD_TRY(ddad_from_buffer(t, b->t, &B, 1, DDAD_DTYPE_I64));
    DDAD_TRY(ddad_from_buffer(noise, b->noise, shape, 4, DDAD_DTYPE_F32));
    if (b->target && m->has_features)
        DDAD_TRY(ddad_from_buffer(target, b->target, tshape, 4, DDAD_DTYPE_F32));
    if (m->device.type != DDAD_DEVICE_TYPE_CPU) {
        DDAD_TRY(ddad_to_device(t, *t, m->device));
        DDAD_TRY(ddad_to_device(noise, *noise, m->device));
        if (*target)
            DDAD_TRY(ddad_to_device(target, *target, m->device));
    }
fail:
    return st;
}

/* One step on the loader's batch with t and noise from the generator, or
 * (given != NULL) on the caller's batch. */
static ddad_status_t step_on(ddad_trainer_t *tr, const ddad_train_batch_t *given, ddad_train_stats_t *stats)
{
    if (!tr->loader)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_trainer_step: a dry-run trainer cannot train");
    if (given && tr->dist)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_trainer_step_batch: not with data parallel training");
    const ddad_config_t *cfg = &tr->cfg;
    ddad_model_t *m = &tr->model;
    const int64_t B = tr->batch, S = tr->size;
    const int64_t shape[4] = {B, 3, S, S}; /* the whole batch: noise and t are drawn for it */
    const int64_t A = cfg->train.grad_accum > 1 ? cfg->train.grad_accum : 1;
    const int64_t Bm = tr->local_batch / A; /* images per micro-batch (create checked the division) */
    const double lr = ddad_trainer_lr_at(cfg, tr->step);
    double vals[5] = {0}; /* loss, mse, vb, feat (means over the batch), stop requests */

    ddad_adamw_zero_grad(tr->opt); /* the last step's gradients, kept for inspection until now */
    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *t, *noise, *given_target = NULL;
    if (given) {
        DDAD_TRY(take_batch(tr, given, &t, &noise, &given_target));
    } else {
        DDAD_TRY(ddad_loader_next(tr->loader, tr->x_host, tr->y_host));
        /* t and the noise of the whole batch (diffusion.noise: white or
         * pyramid, noise.h), drawn for the batch at once: the same numbers
         * whatever the number of processes and micro-batches */
        DDAD_TRY(ddad_randint(&t, 0, m->train_diffusion.num_timesteps, &B, 1, m->device, tr->gen));
        DDAD_TRY(ddad_noise_draw(&noise, cfg->diffusion.noise, cfg->diffusion.noise_discount, shape, 4, m->device,
                                 tr->gen));
    }
    for (int64_t k = 0; k < A; k++) {
        /* equal micro-batches: the mean loss of the batch is the mean of their
         * means, so each backward of loss / A adds its share of the gradient */
        double mv[4];
        DDAD_TRY(micro_step(tr, k, Bm, t, noise, given_target, given != NULL, tr->loss_scale / (double)A, mv));
        for (int j = 0; j < 4; j++)
            vals[j] += mv[j] / (double)A;
    }
    if (tr->dist) { /* the whole batch's means, and one verdict on stopping, for every rank */
        vals[4] = tr->opts.stop_flag && *tr->opts.stop_flag ? 1 : 0;
        DDAD_TRY(sum_over_ranks(tr, vals, 5));
        for (int k = 0; k < 4; k++)
            vals[k] /= tr->world;
        tr->stop_agreed = vals[4] > 0;
    }
    if (!isfinite(vals[0]))
        DDAD_TRY(ddad_fail(DDAD_STATUS_NUMERIC,
                           "non-finite loss at step %" PRId64 " (loss %g = mse %g, vb %g, feat %g); no update "
                           "was made and the last checkpoint is kept: lower train.lr or set train.grad_clip",
                           tr->step + 1, vals[0], vals[1], vals[2], vals[3]));

    DDAD_TRY(average_grads(tr)); /* the mean over ranks is the gradient of the whole batch's loss */
    bool apply = true;
    if (tr->loss_scale != 1.0)
        DDAD_TRY(unscale_grads(tr, &apply));
    if (apply && cfg->train.grad_clip > 0) {
        double norm = 0;
        DDAD_TRY(ddad_clip_grad_norm(tr->trainable, tr->n_trainable, cfg->train.grad_clip, &norm));
        if (!isfinite(norm) && tr->loss_scale == 1.0)
            DDAD_TRY(ddad_fail(DDAD_STATUS_NUMERIC, "non-finite gradient norm at step %" PRId64
                               "; no update was made and the last checkpoint is kept: lower train.lr",
                               tr->step + 1));
        apply = isfinite(norm);
    }
    if (apply) {
        ddad_adamw_set_lr(tr->opt, lr);
        DDAD_TRY(ddad_adamw_step(tr->opt));
        if (m->has_ema) {
            bool was = ddad_grad_set_enabled(false);
            st = ddad_params_ema_update(&m->ema_params, &m->params, cfg->train.ema);
            ddad_grad_set_enabled(was);
            if (st != DDAD_OK)
                goto fail;
        }
    }
    if (tr->loss_scale != 1.0) { /* GradScaler's schedule: halve on overflow, double after 2000 good steps */
        if (!apply) {
            tr->loss_scale *= 0.5;
            tr->scale_good_steps = 0;
            ddad_log(DDAD_LOG_DEBUG, "fp16 gradient overflow at step %" PRId64 ": step skipped, loss scale %g",
                     tr->step + 1, tr->loss_scale);
        } else if (++tr->scale_good_steps >= 2000) {
            tr->loss_scale *= 2.0;
            tr->scale_good_steps = 0;
        }
    }
    tr->step++;
    tr->last_lr = lr;
fail:
    if (st != DDAD_OK)
        ddad_adamw_zero_grad(tr->opt); /* a failed step leaves no gradients behind */
    ddad_scope_end(mark);
    if (st == DDAD_OK && stats) {
        memset(stats, 0, sizeof *stats);
        stats->step = tr->step;
        stats->iterations = cfg->train.iterations;
        stats->loss = vals[0];
        stats->mse = vals[1];
        stats->vb = vals[2];
        stats->feat = vals[3];
        stats->lr = lr;
    }
    return st;
}

ddad_status_t ddad_trainer_step(ddad_trainer_t *tr, ddad_train_stats_t *stats) { return step_on(tr, NULL, stats); }

ddad_status_t ddad_trainer_step_batch(ddad_trainer_t *tr, const ddad_train_batch_t *batch, ddad_train_stats_t *stats)
{
    if (!batch)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_trainer_step_batch: batch is NULL");
    return step_on(tr, batch, stats);
}

/* ---- checkpoints and the loop ------------------------------------------------------- */

ddad_status_t ddad_trainer_save(ddad_trainer_t *tr)
{
    if (!tr->loader)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_trainer_save: a dry-run trainer has nothing to save");
    if (tr->rank != 0)
        return DDAD_OK; /* data parallel: rank 0 writes, the weights are the same everywhere */
    const ddad_params_t *sets[2] = {&tr->model.params, tr->model.has_ema ? &tr->model.ema_params : NULL};
    for (int k = 0; k < 2 && sets[k]; k++)
        for (size_t i = 0; i < sets[k]->n; i++) {
            bool ok = true;
            ddad_status_t st = ddad_all_finite(&ok, sets[k]->items[i].tensor);
            if (st != DDAD_OK)
                return st;
            if (!ok)
                return ddad_fail(DDAD_STATUS_NUMERIC, "%s weight %s is not finite after step %" PRId64
                                 ": no checkpoint written, the last one is kept; lower train.lr",
                                 k ? "EMA" : "training", sets[k]->items[i].name, tr->step);
        }
    ddad_checkpoint_state_t s;
    memset(&s, 0, sizeof s);
    s.step = tr->step;
    s.lr = tr->last_lr;
    ddad_loader_get_cursor(tr->loader, &s.cursor);
    char path[TRAINER_PATH_MAX + 64];
    ddad_checkpoint_path(path, sizeof path, tr->run_dir, tr->step);
    ddad_status_t st = ddad_checkpoint_save(path, &tr->model, tr->opt, tr->gen, &s);
    if (st == DDAD_OK)
        st = ddad_checkpoint_prune(tr->run_dir, tr->cfg.train.keep_checkpoints);
    return st;
}

/* Data parallel: the verdict all ranks agreed on in the last step (so that
 * they stop after the same step); alone: the flag itself. */
static bool stop_requested(const ddad_trainer_t *tr)
{
    if (tr->dist)
        return tr->stop_agreed;
    return tr->opts.stop_flag && *tr->opts.stop_flag;
}

ddad_status_t ddad_trainer_run(ddad_trainer_t *tr)
{
    if (!tr->loader)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_trainer_run: a dry-run trainer cannot train");
    const ddad_config_t *cfg = &tr->cfg;
    char path[TRAINER_PATH_MAX + 16];
    ddad_run_path(path, sizeof path, tr->run_dir, NULL, DDAD_RUN_TRAIN_LOG);
    FILE *log = NULL; /* rank 0's */
    if (tr->rank == 0 && !(log = fopen(path, "a")))
        return ddad_fail(DDAD_STATUS_IO, "cannot append to %s: %s", path, strerror(errno));
    tr->run_step0 = tr->step;
    tr->run_t0 = now_s();
    tr->comm_s = 0;
    const int64_t iters = cfg->train.iterations;
    const int64_t every = cfg->train.checkpoint_every > 0 ? cfg->train.checkpoint_every : iters;
    ddad_status_t st = DDAD_OK;
    bool saved = true; /* the state at tr->step is on disk (or nothing was trained) */
    while (tr->step < iters) {
        if (tr->opts.stop_at > 0 && tr->step >= tr->opts.stop_at)
            break;
        ddad_train_stats_t s;
        st = ddad_trainer_step(tr, &s);
        if (st != DDAD_OK)
            break;
        saved = false;
        s.elapsed_s = now_s() - tr->run_t0;
        s.it_per_s = s.elapsed_s > 0 ? (double)(tr->step - tr->run_step0) / s.elapsed_s : 0;
        if (log) {
            fprintf(log, "%" PRId64 " %.6g %.6g %.6g %.6g %.6g %.4g\n", s.step, s.loss, s.mse, s.vb, s.feat, s.lr,
                    s.it_per_s);
            fflush(log);
        }
        if (tr->opts.on_step)
            tr->opts.on_step(&s, tr->opts.user);
        if (tr->step % every == 0 || tr->step == iters) {
            st = ddad_trainer_save(tr);
            if (st != DDAD_OK)
                break;
            saved = true;
        }
        if (stop_requested(tr))
            break;
    }
    if (st == DDAD_OK && !saved)
        st = ddad_trainer_save(tr);
    if (tr->dist && tr->step > tr->run_step0) {
        double total = now_s() - tr->run_t0;
        ddad_log(DDAD_LOG_INFO, "data parallel: %.1f ms of a %.1f ms step (%.0f %%) in all-reduce on rank %d, "
                 "waiting for the slowest rank included", 1e3 * tr->comm_s / (double)(tr->step - tr->run_step0),
                 1e3 * total / (double)(tr->step - tr->run_step0), 100 * tr->comm_s / total, tr->rank);
    }
    if (tr->targets) {
        ddad_target_cache_stats_t cs;
        ddad_target_cache_stats(tr->targets, &cs);
        ddad_log(DDAD_LOG_INFO, "extractor targets: %lld served from the cache, %lld computed; %lld images held "
                 "(%.1f MB)", (long long)cs.hits, (long long)cs.misses, (long long)cs.entries, (double)cs.bytes / 1e6);
    }
    if (log && fclose(log) != 0 && st == DDAD_OK)
        st = ddad_fail(DDAD_STATUS_IO, "writing %s: %s", path, strerror(errno));
    if (st == DDAD_OK && tr->dist) /* the others finish once rank 0's checkpoint is on disk */
        st = ddad_dist_barrier(tr->dist);
    if (st == DDAD_OK && tr->step < iters && stop_requested(tr)) {
        char ck[TRAINER_PATH_MAX + 64];
        ddad_checkpoint_path(ck, sizeof ck, tr->run_dir, tr->step);
        st = ddad_fail(DDAD_STATUS_INTERRUPTED, "interrupted after step %" PRId64 " of %" PRId64
                       "; checkpoint %s written: continue with --resume", tr->step, iters, ck);
    }
    return st;
}

/* ---- accessors -------------------------------------------------------------------- */

int64_t ddad_trainer_step_count(const ddad_trainer_t *tr) { return tr->step; }
const ddad_model_t *ddad_trainer_model(const ddad_trainer_t *tr) { return &tr->model; }
const char *ddad_trainer_run_dir(const ddad_trainer_t *tr) { return tr->run_dir; }
const ddad_config_t *ddad_trainer_config(const ddad_trainer_t *tr) { return &tr->cfg; }
size_t ddad_trainer_num_images(const ddad_trainer_t *tr) { return tr->n_train; }
const char *ddad_trainer_resumed_from(const ddad_trainer_t *tr) { return tr->resumed_from; }

void ddad_trainer_counts(const ddad_trainer_t *tr, ddad_trainer_counts_t *c)
{
    const ddad_model_t *m = &tr->model;
    c->unet = ddad_params_numel(&m->params, true);
    c->ema = m->has_ema ? ddad_params_numel(&m->ema_params, false) : c->unet;
    c->extractor = m->has_features ? ddad_params_numel(&m->effnet.params, false) : 0;
}
