/* eval/eval_run.c - see eval_run.h */
#include "eval_run.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ddad_version.h"
#include "anomaly_map.h"
#include "dataset.h"
#include "eval_curves.h"
#include "eval_images.h"
#include "eval_tiff_maps.h"
#include "loader.h"
#include "mapsfile.h"
#include "report.h"
#include "run.h"
#include "trained_on.h"
#include "nn/checkpoint.h"
#include "report/reference.h"
#include "nn/score.h"

volatile sig_atomic_t eval_interrupted = 0;

eval_opts_t eval_opts_default(void)
{
    eval_opts_t o = {.checkpoint = NULL, .pro_limit = 0.3, .save_images = false, .quiet = false,
                     .threshold_images = 8, .threshold_f1 = false};
    return o;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

ddad_status_t eval_ctx_open(eval_ctx_t *c, const ddad_config_t *cfg, const eval_opts_t *o)
{
    memset(c, 0, sizeof *c);
    c->cfg = *cfg;
    c->opts = *o;
    ddad_status_t st = DDAD_OK;
    DDAD_TRY(ddad_config_run_dir(cfg, c->run_dir, sizeof c->run_dir));
    if (o->checkpoint) {
        snprintf(c->checkpoint, sizeof c->checkpoint, "%s", o->checkpoint);
    } else if (ddad_checkpoint_latest(c->run_dir, c->checkpoint, sizeof c->checkpoint) != DDAD_OK) {
        st = ddad_fail(DDAD_STATUS_DATA, "no trained run: %s/checkpoints holds no checkpoint (train it with "
                       "ddad-train, or pass --checkpoint)", c->run_dir);
        goto fail;
    }
    DDAD_TRY(ddad_runtime_setup(cfg));
    unsigned flags = DDAD_MODEL_SCORING_ONLY | DDAD_MODEL_NO_INIT;
    if (cfg->score.method == DDAD_SCORE_METHOD_DDAD)
        flags |= DDAD_MODEL_WITH_FEATURES;
    DDAD_TRY(ddad_model_create(&c->model, cfg, flags));
    c->model_ready = true;
    ddad_checkpoint_state_t state;
    memset(&state, 0, sizeof state);
    st = ddad_checkpoint_load(c->checkpoint, &c->model, NULL, NULL, &state);
    if (st != DDAD_OK) {
        ddad_fail_context(st, "loading the checkpoint (the config's model.* keys must match the run's)");
        goto fail;
    }
    st = ddad_checkpoint_check_noise(c->checkpoint, cfg);
    if (st != DDAD_OK)
        goto fail;
    st = ddad_model_prepare_scoring(&c->model);
    if (st != DDAD_OK)
        goto fail;
    c->step = (long long)state.step;
    return DDAD_OK;
fail:
    eval_ctx_close(c);
    return st;
}

void eval_ctx_close(eval_ctx_t *c)
{
    if (!c)
        return;
    if (c->model_ready)
        ddad_model_free(&c->model);
    c->model_ready = false;
}

/* ---- one category --------------------------------------------------------------- */

typedef struct pass {
    eval_ctx_t *c;
    ddad_mapsfile_writer_t *wr;       /* NULL: threshold pass                      */
    int64_t n, T, S, oh, ow;          /* images, timesteps, model size, map size  */
    bool original;
    float *map_o, *kl_o, *feat_o;     /* resized buffers (original resolution)    */
    uint8_t *zeros;                   /* mask for anomalies without one            */
    char **paths;                     /* (n) image files, for the PNGs             */
    char **stems;                     /* (n) "defect_stem"                         */
    double seconds;
    float min_score, max_score, lo, hi;  /* over the pass: scores, map values */
    float *cal_scores, *cal_maps;        /* (n), (n, S, S): calibration pass only */
    int64_t n_defective;                 /* labelled defective images seen */
    bool quiet;
} pass_t;

static ddad_status_t on_row(void *user, const ddad_score_row_t *row)
{
    pass_t *p = user;
    if (eval_interrupted)
        return ddad_fail(DDAD_STATUS_INTERRUPTED, "interrupted: the partial maps file was removed");
    const int64_t S = p->S, T = p->T, HW = S * S;
    p->seconds += row->seconds;
    if (row->score > p->max_score)
        p->max_score = row->score;
    if (row->score < p->min_score)
        p->min_score = row->score;
    for (int64_t q = 0; q < HW; q++) {
        if (row->map[q] < p->lo)
            p->lo = row->map[q];
        if (row->map[q] > p->hi)
            p->hi = row->map[q];
    }
    if (!p->wr) {
        p->cal_scores[row->index] = row->score;
        memcpy(p->cal_maps + row->index * HW, row->map, (size_t)HW * sizeof *p->cal_maps);
        return DDAD_OK;
    }
    const ddad_test_item_t *it = row->item;
    p->n_defective += it->label != 0;
    const float *map = row->map, *kl = row->kl_steps, *fe = row->feat_steps;
    if (p->original) {
        if (it->orig_w != p->ow || it->orig_h != p->oh)
            return ddad_fail(DDAD_STATUS_DATA, "%s is %dx%d but the category's maps are %lldx%lld: "
                             "score.resolution=original needs one image size per category (use model)",
                             it->sample->path, it->orig_w, it->orig_h, (long long)p->ow, (long long)p->oh);
        const int64_t OW = p->oh * p->ow;
        ddad_score_resize_bilinear(row->map, S, S, p->map_o, p->oh, p->ow);
        for (int64_t k = 0; k < T; k++) {
            ddad_score_resize_bilinear(row->kl_steps + k * HW, S, S, p->kl_o + k * OW, p->oh, p->ow);
            if (fe)
                ddad_score_resize_bilinear(row->feat_steps + k * HW, S, S, p->feat_o + k * OW, p->oh, p->ow);
        }
        map = p->map_o;
        kl = p->kl_o;
        fe = fe ? p->feat_o : NULL;
    }
    const uint8_t *mask = it->mask;
    if (!mask)
        mask = p->zeros;
    else if (it->mask_w != p->ow || it->mask_h != p->oh)
        return ddad_fail(DDAD_STATUS_DATA, "%s: mask is %dx%d, expected %lldx%lld", it->name, it->mask_w, it->mask_h,
                         (long long)p->ow, (long long)p->oh);
    ddad_mapsfile_row_t r = {.name = it->name, .label = (uint8_t)(it->label != 0), .score = row->score,
                             .map = map, .mask = mask, .kl_maps = T ? kl : NULL, .feat_maps = T ? fe : NULL};
    ddad_status_t st = ddad_mapsfile_append(p->wr, &r);
    if (st != DDAD_OK)
        return st;
    p->paths[row->index] = strdup(it->sample->path);
    char stem[512];
    snprintf(stem, sizeof stem, "%s", it->name);
    for (char *s = stem; *s; s++)
        if (*s == '/')
            *s = '_';
    char *dot = strrchr(stem, '.');
    if (dot)
        *dot = '\0';
    p->stems[row->index] = strdup(stem);
    if (!p->quiet)
        fprintf(stderr, "[%lld/%lld] %-32s score %10.4f  %7.1f ms\n", (long long)row->index + 1, (long long)p->n,
                it->name, row->score, 1000.0 * row->seconds);
    return DDAD_OK;
}

static ddad_status_t open_split(const ddad_config_t *cfg, const char *category, ddad_dataset_t **ds,
                                const ddad_sample_t ***test, size_t *n_test, const ddad_sample_t ***train,
                                size_t *n_train, const ddad_sample_t ***val, size_t *n_val)
{
    ddad_data_format_t fmt = cfg->data.format;
    ddad_status_t st = ddad_dataset_index(ds, fmt, cfg->data.root, &category, 1);
    if (st == DDAD_OK)
        st = ddad_dataset_validate(*ds);
    if (st == DDAD_OK)
        ddad_dataset_hold_out(*ds, cfg->data.val_split, NULL);
    if (st == DDAD_OK)
        st = ddad_dataset_select(*ds, category, DDAD_SPLIT_TEST, test, n_test);
    if (st == DDAD_OK)
        st = ddad_dataset_select(*ds, category, DDAD_SPLIT_TRAIN, train, n_train);
    if (st == DDAD_OK)
        st = ddad_dataset_select(*ds, category, DDAD_SPLIT_VAL, val, n_val);
    if (st == DDAD_OK && *n_test == 0)
        st = ddad_fail(DDAD_STATUS_DATA, "%s/%s has no test images", cfg->data.root, category);
    return st;
}

typedef struct attr_ctx {
    ddad_mapsfile_writer_t *wr;
    ddad_status_t st;
} attr_ctx_t;

static int put_attr(const char *path, const char *value, void *user)
{
    attr_ctx_t *a = user;
    char key[256];
    snprintf(key, sizeof key, "config.%s", path);
    a->st = ddad_mapsfile_set_attr(a->wr, key, value);
    return a->st != DDAD_OK;
}

/* The held-out good images' raw maps and their statistics' sums: the
 * reference statistics, and the cross-fitted calibration (each image scored
 * with the statistics of the others). Freed by held_out_free. */
typedef struct held_out {
    ddad_reference_acc_t *acc;
    int64_t n, T, hw;
    float *kl;   // (n, T, H, W) raw per-timestep KL maps
    float *feat; // (n, T, H, W) or NULL (score.method rgb)
} held_out_t;

static void held_out_free(held_out_t *h)
{
    ddad_reference_acc_free(h->acc);
    free(h->kl);
    free(h->feat);
    memset(h, 0, sizeof *h);
}

static ddad_status_t on_reference_row(void *user, const ddad_score_row_t *row)
{
    held_out_t *h = user;
    if (eval_interrupted)
        return ddad_fail(DDAD_STATUS_INTERRUPTED, "interrupted");
    ddad_reference_acc_add(h->acc, row->kl_steps, row->feat_steps);
    const size_t step = (size_t)(h->T * h->hw);
    memcpy(h->kl + (size_t)row->index * step, row->kl_steps, step * sizeof *h->kl);
    if (h->feat && row->feat_steps)
        memcpy(h->feat + (size_t)row->index * step, row->feat_steps, step * sizeof *h->feat);
    return DDAD_OK;
}

/* Scores the held-out good images with the raw maps (c->model.reference is
 * NULL), keeps them in *h, computes their statistics into *ref and writes
 * reference.h5. */
static ddad_status_t compute_reference(eval_ctx_t *c, const char *category, int class_id, const ddad_dataset_t *ds,
                                       const ddad_sample_t **val, size_t n_val, held_out_t *h,
                                       ddad_score_reference_t *ref)
{
    const ddad_config_t *cfg = &c->cfg;
    const int64_t S = cfg->data.image_size, T = (int64_t)cfg->score.timesteps.n;
    const bool rgb = cfg->score.method == DDAD_SCORE_METHOD_RGB;
    ddad_testiter_t *it = NULL;
    memset(h, 0, sizeof *h);
    h->n = (int64_t)n_val;
    h->T = T;
    h->hw = S * S;
    ddad_status_t st = ddad_reference_acc_create(&h->acc, T, S, S, !rgb);
    if (st != DDAD_OK)
        return st;
    h->kl = malloc(n_val * (size_t)(T * S * S) * sizeof *h->kl);
    h->feat = rgb ? NULL : malloc(n_val * (size_t)(T * S * S) * sizeof *h->feat);
    if (!h->kl || (!rgb && !h->feat))
        return ddad_fail(DDAD_STATUS_NOMEM, "out of memory for the maps of %zu held-out images", n_val);
    ddad_testiter_opts_t to = {.image_size = (int)S, .mask_original_size = false, .mask_threshold = ds->mask_threshold};
    st = ddad_testiter_create(&it, val, n_val, &to);
    if (st == DDAD_OK)
        st = ddad_score_split(&c->model, it, class_id, on_reference_row, h);
    ddad_testiter_free(it);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "reference statistics of %s's held-out good images", category);
    st = ddad_reference_acc_stats(h->acc, ref);
    if (st != DDAD_OK)
        return st;
    char path[DDAD_CONFIG_PATH_MAX + 256], ts[256] = "", src[256];
    for (int64_t k = 0; k < T; k++)
        snprintf(ts + strlen(ts), sizeof ts - strlen(ts), "%s%lld", k ? "," : "", (long long)cfg->score.timesteps.v[k]);
    snprintf(src, sizeof src, "%zu images of %s's train/good held out by data.val_split %g", n_val, category,
             cfg->data.val_split);
    ddad_reference_path(path, sizeof path, c->run_dir, category, ddad_config_is_unified(cfg));
    st = ddad_reference_save(ref, path, ts, cfg->score.noise_draws, src);
    if (st == DDAD_OK && !c->opts.quiet)
        fprintf(stderr, "%s: reference statistics of %zu held-out good images -> %s\n", category, n_val, path);
    return st;
}

/* One category's evaluation: what the steps below hand to each other. */
typedef struct category {
    eval_ctx_t *c;
    const char *name;
    int class_id;
    const char *dir_name;                /* category folder name in a unified run, else NULL */
    char dir[DDAD_CONFIG_PATH_MAX + 128];      /* where its files go             */
    char maps[DDAD_CONFIG_PATH_MAX + 256];     /* its maps.h5                    */
    ddad_dataset_t *ds;
    const ddad_sample_t **test, **train, **val; /* (n_test), (n_train), (n_val) */
    size_t n_test, n_train, n_val;
    ddad_score_reference_t ref;          /* score.normalize good: held-out statistics */
    held_out_t held;                     /* ... and the held-out images' raw maps */
    ddad_calib_rule_t rule;              /* eval.threshold_rule                */
    ddad_calibration_t cal;              /* the fitted deployment threshold    */
    bool have_cal;
    double calib_score_median;           /* median score of its calibration images, NaN if none */
    double good_score_median;            /* ... and of the good test images, NaN if none         */
    pass_t p;                            /* the calibration and test passes    */
    double seconds_per_image;            /* wall time of the test pass         */
    double mask_threshold;               /* pixel threshold of the binary masks */
    char mask_threshold_source[600];
    char notes[1024];                    /* metrics.json's long notes          */
} category_t;

/* Resolves the category, creates its folder and opens its data split. */
static ddad_status_t category_open(category_t *k, eval_ctx_t *c, const char *category)
{
    memset(k, 0, sizeof *k);
    k->c = c;
    k->name = category;
    k->cal.image_threshold = k->cal.pixel_threshold = NAN;
    k->calib_score_median = k->good_score_median = NAN;
    k->p.c = c;
    k->p.S = c->cfg.data.image_size;
    k->p.T = (int64_t)c->cfg.score.timesteps.n;
    k->p.quiet = c->opts.quiet;
    k->class_id = ddad_config_category_index(&c->cfg, category);
    if (k->class_id < 0)
        return ddad_fail(DDAD_STATUS_CONFIG, "category '%s' is not one of the run's categories (data.category)",
                         category);
    k->dir_name = ddad_config_is_unified(&c->cfg) ? category : NULL;
    DDAD_TRY_RETURN(ddad_run_path(k->dir, sizeof k->dir, c->run_dir, k->dir_name, DDAD_RUN_CATEGORY_DIR));
    DDAD_TRY_RETURN(ddad_run_path(k->maps, sizeof k->maps, c->run_dir, k->dir_name, DDAD_RUN_MAPS));
    DDAD_TRY_RETURN(ddad_run_mkdir_p(k->dir));
    return open_split(&c->cfg, category, &k->ds, &k->test, &k->n_test, &k->train, &k->n_train, &k->val, &k->n_val);
}

static void category_close(category_t *k)
{
    pass_t *p = &k->p;
    ddad_mapsfile_writer_free(p->wr);
    if (p->paths)
        for (int64_t i = 0; i < p->n; i++)
            free(p->paths[i]);
    if (p->stems)
        for (int64_t i = 0; i < p->n; i++)
            free(p->stems[i]);
    free(p->paths);
    free(p->stems);
    free(p->zeros);
    free(p->map_o);
    free(p->kl_o);
    free(p->feat_o);
    free(p->cal_scores);
    free(p->cal_maps);
    free(k->test);
    free(k->train);
    free(k->val);
    k->c->model.reference = NULL;
    ddad_reference_free(&k->ref);
    held_out_free(&k->held);
    ddad_dataset_free(k->ds);
}

/* Step 1a, score.normalize good: statistics of the held-out good images'
 * maps, which then normalise every map of this category. */
static ddad_status_t fit_reference(category_t *k)
{
    const ddad_config_t *cfg = &k->c->cfg;
    k->c->model.reference = NULL;
    if (cfg->score.normalize != DDAD_SCORE_NORMALIZE_GOOD)
        return DDAD_OK;
    if (k->n_val < 2)
        return ddad_fail(DDAD_STATUS_CONFIG, "score.normalize good needs held-out good images: data.val_split %g "
                         "holds out %zu of %s's training images, at least 2 are needed (set data.val_split, e.g. "
                         "0.1, and retrain: held-out images must not be trained on)",
                         cfg->data.val_split, k->n_val, k->name);
    DDAD_TRY_RETURN(compute_reference(k->c, k->name, k->class_id, k->ds, k->val, k->n_val, &k->held, &k->ref));
    k->c->model.reference = &k->ref;
    return DDAD_OK;
}

/* numpy's median of v (n), NaN when n is 0. */
static double median_of(const float *v, size_t n)
{
    const ddad_calib_rule_t half = {.kind = DDAD_CALIB_RULE_QUANTILE, .value = 0.5};
    double m = NAN;
    if (n == 0 || ddad_calib_threshold(&half, v, NULL, n, &m) != DDAD_OK)
        return NAN;
    return m;
}

/* Keeps the calibration images' scores, as the threshold saw them: their
 * median for the deployment check, and calibration.csv, so the
 * distribution behind threshold.json can be compared with the test images'
 * scores (maps.h5) or a production batch's. */
static ddad_status_t record_calibration_scores(category_t *k, const ddad_sample_t **samples, size_t n,
                                               const float *scores)
{
    k->calib_score_median = median_of(scores, n);
    char path[DDAD_CONFIG_PATH_MAX + 160];
    DDAD_TRY_RETURN(ddad_run_path(path, sizeof path, k->c->run_dir, k->dir_name, DDAD_RUN_CALIBRATION));
    const char **names = malloc((n ? n : 1) * sizeof *names);
    if (!names)
        return ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        names[i] = samples[i]->name;
    ddad_status_t st = ddad_calib_write_scores(path, &k->cal, names, NULL, scores, n);
    free(names);
    return st;
}

/* The held-out images a threshold was fitted on are the ones the model never
 * saw only when this evaluation splits the data as training did (same
 * data.root and data.val_split): counted against the checkpoint's own
 * config; any it trained on mark the threshold seen_in_training. */
static void check_held_out(category_t *k, const ddad_sample_t **samples, size_t n)
{
    const char **paths = malloc((n ? n : 1) * sizeof *paths);
    size_t hits = 0;
    if (!paths)
        return;
    for (size_t i = 0; i < n; i++)
        paths[i] = samples[i]->path;
    if (eval_trained_on_mark(&k->cal, k->c->checkpoint, paths, n, "; but ", &hits) != DDAD_OK) {
        ddad_log(DDAD_LOG_INFO, "%s: cannot tell whether the held-out images were held out in training too (%s)",
                 k->name, ddad_last_error());
        ddad_clear_error();
    }
    free(paths);
    if (!hits)
        return;
    ddad_log(DDAD_LOG_WARN, "%s: %zu of the %zu held-out images the threshold is fitted on are images the model "
             "trained on (this evaluation's data.root or data.val_split differ from the training's, %s): the "
             "threshold is too low; evaluate with the run's own data settings", k->name, hits, n, k->c->checkpoint);
}

/* Step 1b under score.normalize good: each held-out image's map made with
 * the statistics of the other held-out images (leave one out), so that its
 * score is that of an image the statistics were not fitted on - what every
 * new image is. With the in-sample statistics the held-out images are
 * standardised too well, and their max flagged 45-95% of the good test
 * images of the real textures (docs/quality.md). No network call: the raw
 * maps are kept from the reference pass. */
static ddad_status_t calibrate_cross_fitted(category_t *k)
{
    const ddad_config_t *cfg = &k->c->cfg;
    const held_out_t *h = &k->held;
    const int64_t S = k->p.S, HW = S * S, T = h->T;
    const size_t n = (size_t)h->n;
    float *scores = malloc(n * sizeof *scores), *maps = malloc(n * (size_t)HW * sizeof *maps);
    float *pixel = malloc((size_t)HW * sizeof *pixel), *feat = malloc((size_t)HW * sizeof *feat);
    ddad_status_t st = DDAD_OK;
    if (!scores || !maps || !pixel || !feat)
        st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory for %zu calibration maps", n);
    for (size_t i = 0; st == DDAD_OK && i < n; i++) {
        const float *kl = h->kl + i * (size_t)(T * HW), *fe = h->feat ? h->feat + i * (size_t)(T * HW) : NULL;
        ddad_score_reference_t others;
        st = ddad_reference_acc_without(h->acc, kl, fe, &others);
        if (st == DDAD_OK)
            st = ddad_score_map_from_steps(&cfg->score, &others, S, kl, fe, T, pixel, fe ? feat : NULL,
                                           maps + i * (size_t)HW, &scores[i]);
        ddad_reference_free(&others);
        if (st != DDAD_OK)
            st = ddad_fail_context(st, "calibrating %s on held-out image %zu", k->name, i);
    }
    if (st == DDAD_OK) {
        ddad_calib_set_t set = {.scores = scores, .maps = maps, .n = n, .hw = (size_t)HW};
        snprintf(k->cal.source, sizeof k->cal.source,
                 "%zu held-out good images of %s (data.val_split %g; not trained on; each scored with the "
                 "reference statistics of the other %zu)", n, k->name, cfg->data.val_split, n - 1);
        st = ddad_calib_fit(&k->rule, &set, &k->cal);
        k->have_cal = st == DDAD_OK;
        if (k->have_cal)
            check_held_out(k, k->val, n);
    }
    if (st == DDAD_OK) /* held-out image i is k->val[i]: the reference pass went through them in order */
        st = record_calibration_scores(k, k->val, n, scores);
    free(scores);
    free(maps);
    free(pixel);
    free(feat);
    return st;
}

/* Step 1b: the deployment threshold (eval.threshold_rule) on the
 * calibration images: the held-out good ones when there are
 * (data.val_split), else the last good training images. Rule f1 is fitted
 * on the test split later (choose_thresholds). */
static ddad_status_t calibrate(category_t *k)
{
    const ddad_config_t *cfg = &k->c->cfg;
    pass_t *p = &k->p;
    const int64_t S = p->S;
    DDAD_TRY_RETURN(ddad_calib_rule_parse(cfg->eval.threshold_rule, &k->rule));
    snprintf(k->cal.category, sizeof k->cal.category, "%s", k->name);
    const bool held_out = k->n_val > 0;
    const ddad_sample_t **pool = held_out ? k->val : k->train;
    const size_t n_pool = held_out ? k->n_val : k->n_train;
    const int max_train = k->c->opts.threshold_images;
    const int n = held_out ? (int)k->n_val : (max_train < (int)k->n_train ? max_train : (int)k->n_train);
    if (n <= 0 || k->rule.kind == DDAD_CALIB_RULE_F1) {
        char stale[DDAD_CONFIG_PATH_MAX + 160]; /* an earlier evaluation's: not this threshold's images */
        if (ddad_run_path(stale, sizeof stale, k->c->run_dir, k->dir_name, DDAD_RUN_CALIBRATION) == DDAD_OK)
            remove(stale);
        return DDAD_OK;
    }
    if (k->held.acc && n >= 3) /* score.normalize good: held.n == n_val == n */
        return calibrate_cross_fitted(k);
    if (k->held.acc)
        ddad_log(DDAD_LOG_WARN, "%s: only %d held-out good images: the threshold is fitted on the images the "
                 "reference statistics came from, and will flag many new good images (hold out at least 3, "
                 "data.val_split)", k->name, n);
    ddad_testiter_t *it = NULL;
    ddad_testiter_opts_t to = {.image_size = (int)S, .mask_original_size = false,
                               .mask_threshold = k->ds->mask_threshold};
    DDAD_TRY_RETURN(ddad_testiter_create(&it, pool + (n_pool - (size_t)n), (size_t)n, &to));
    p->cal_scores = malloc((size_t)n * sizeof *p->cal_scores);
    p->cal_maps = malloc((size_t)n * (size_t)(S * S) * sizeof *p->cal_maps);
    ddad_status_t st = DDAD_OK;
    if (!p->cal_scores || !p->cal_maps)
        st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory for %d calibration maps", n);
    p->n = n;
    p->min_score = p->lo = INFINITY;
    p->max_score = p->hi = -INFINITY;
    if (st == DDAD_OK)
        st = ddad_score_split(&k->c->model, it, k->class_id, on_row, p);
    ddad_testiter_free(it);
    p->n = 0;
    if (st != DDAD_OK)
        return st;
    ddad_calib_set_t set = {.scores = p->cal_scores, .maps = p->cal_maps, .n = (size_t)n, .hw = (size_t)(S * S)};
    if (held_out)
        snprintf(k->cal.source, sizeof k->cal.source,
                 "%d held-out good images of %s (data.val_split %g; not trained on)", n, k->name, cfg->data.val_split);
    else
        snprintf(k->cal.source, sizeof k->cal.source, "the last %d good training images of %s " DDAD_CALIB_SEEN_MARK, n,
                 k->name);
    DDAD_TRY_RETURN(ddad_calib_fit(&k->rule, &set, &k->cal));
    k->have_cal = true;
    k->cal.seen_in_training = !held_out;
    if (held_out)
        check_held_out(k, pool + (n_pool - (size_t)n), (size_t)n);
    else
        ddad_log(DDAD_LOG_WARN, "%s: the deployment threshold is fitted on %d good images the model trained on: "
                 "their scores run low, so new good images will be flagged. Hold out good images "
                 "(data.val_split, e.g. 0.1) and retrain, or refit on new good images with "
                 "ddad-predict RUN --calib DIR", k->name, n);
    return record_calibration_scores(k, pool + (n_pool - (size_t)n), (size_t)n, p->cal_scores);
}

/* The feature extractor's weights as the outputs name them. */
static const char *feature_weights(const eval_ctx_t *c)
{
    return c->cfg.score.method == DDAD_SCORE_METHOD_RGB ? "none (score.method rgb)" : c->model.effnet.source;
}

/* Writes the maps file's provenance attributes. */
static ddad_status_t maps_provenance(category_t *k)
{
    eval_ctx_t *c = k->c;
    attr_ctx_t ac = {.wr = k->p.wr, .st = DDAD_OK};
    if (ddad_config_foreach(&c->cfg, put_attr, &ac) != 0)
        return ac.st;
    DDAD_TRY_RETURN(ddad_mapsfile_set_attr(k->p.wr, "checkpoint", c->checkpoint));
    DDAD_TRY_RETURN(ddad_mapsfile_set_attr(k->p.wr, "feature_weights", feature_weights(c)));
    DDAD_TRY_RETURN(ddad_mapsfile_set_attr(k->p.wr, "git_revision", DDAD_GIT_REVISION));
    DDAD_TRY_RETURN(ddad_mapsfile_set_attr(k->p.wr, "torch_version", ddad_torch_version()));
    const ddad_config_score_t *sc = &c->cfg.score;
    const char *kl_what =
        sc->method == DDAD_SCORE_METHOD_RGB ? "mean over RGB of (x0_hat - x0)^2 (score.method rgb), averaged over noise draws"
        : sc->normalize == DDAD_SCORE_NORMALIZE_GOOD
            ? (sc->good_timesteps == DDAD_SCORE_GOOD_TIMESTEPS_EACH
                   ? "mean over RGB of the KL map in bits, raw (score.normalize good: reference.h5 normalises "
                     "each timestep's map, score.good_timesteps each), averaged over noise draws"
                   : "mean over RGB of the KL map in bits, raw (score.normalize good: reference.h5 normalises the "
                     "t-average), averaged over noise draws")
            : "mean over RGB of the KL map in bits, standardised per image and timestep, averaged over noise draws";
    DDAD_TRY_RETURN(ddad_mapsfile_set_attr(k->p.wr, "kl_maps", kl_what));
    return ddad_mapsfile_set_attr(k->p.wr, "feat_maps", "feature error at features.score_size, bilinear to the map "
                                                        "size");
}

/* Step 2: scores the test split into the maps file. */
static ddad_status_t score_test_split(category_t *k)
{
    const ddad_config_t *cfg = &k->c->cfg;
    pass_t *p = &k->p;
    const int64_t S = p->S, T = p->T;
    const size_t n = k->n_test;
    p->original = cfg->score.resolution == DDAD_SCORE_RESOLUTION_ORIGINAL;
    p->oh = p->original ? k->test[0]->height : S;
    p->ow = p->original ? k->test[0]->width : S;
    const int64_t OHW = p->oh * p->ow;
    p->n = (int64_t)n;
    p->paths = calloc(n, sizeof *p->paths);
    p->stems = calloc(n, sizeof *p->stems);
    p->zeros = calloc((size_t)OHW, 1);
    if (p->original) {
        p->map_o = malloc((size_t)OHW * sizeof(float));
        p->kl_o = malloc((size_t)(T * OHW) * sizeof(float));
        p->feat_o = malloc((size_t)(T * OHW) * sizeof(float));
    }
    if (!p->paths || !p->stems || !p->zeros || (p->original && (!p->map_o || !p->kl_o || !p->feat_o)))
        return ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
    int64_t ts[DDAD_CONFIG_MAX_INTS];
    for (int64_t i = 0; i < T; i++)
        ts[i] = cfg->score.timesteps.v[i];
    ddad_mapsfile_spec_t spec = {.category = k->name, .resolution = p->original ? "original" : "model",
                                 .n = (int64_t)n, .h = p->oh, .w = p->ow, .has_scores = true,
                                 .num_timesteps = cfg->score.method == DDAD_SCORE_METHOD_RGB ? 0 : T,
                                 .timesteps = ts, .compress_level = p->original ? 1 : 0};
    DDAD_TRY_RETURN(ddad_mapsfile_create(&p->wr, k->maps, &spec));
    DDAD_TRY_RETURN(maps_provenance(k));
    p->min_score = p->lo = INFINITY;
    p->max_score = p->hi = -INFINITY;
    p->seconds = 0;
    ddad_testiter_t *it = NULL;
    ddad_testiter_opts_t to = {.image_size = (int)S, .mask_original_size = p->original,
                               .mask_threshold = k->ds->mask_threshold};
    DDAD_TRY_RETURN(ddad_testiter_create(&it, k->test, n, &to));
    double t0 = now_s();
    ddad_status_t st = ddad_score_split(&k->c->model, it, k->class_id, on_row, p);
    ddad_testiter_free(it);
    if (st != DDAD_OK)
        return st;
    const double wall = now_s() - t0;
    DDAD_TRY_RETURN(ddad_mapsfile_finish(p->wr));
    ddad_mapsfile_writer_free(p->wr);
    p->wr = NULL;
    k->seconds_per_image = wall / (double)n;
    fprintf(stderr, "%s: %zu images in %.2f s: %.1f ms per image, %.2f images/s (model forward share %.1f ms)\n",
            k->name, n, wall, 1000.0 * k->seconds_per_image, 1.0 / k->seconds_per_image,
            1000.0 * p->seconds / (double)n);
    return DDAD_OK;
}

/* Step 3: the metrics, from the file just written (exactly what --maps
 * reports), and the notes that say what they are. */
static ddad_status_t measure(category_t *k, ddad_metrics_record_t *rec)
{
    const ddad_config_t *cfg = &k->c->cfg;
    const pass_t *p = &k->p;
    const bool rgb = cfg->score.method == DDAD_SCORE_METHOD_RGB;
    const bool random_weights = !rgb && k->c->model.effnet.random_weights;
    DDAD_TRY_RETURN(ddad_metrics_from_mapsfile(k->maps, k->c->opts.pro_limit, rec));
    snprintf(rec->category, sizeof rec->category, "%s", k->name);
    rec->notes[0] = '\0';
    if (random_weights)
        ddad_metrics_add_note(rec, "RANDOM feature-extractor weights");
    if (rgb)
        ddad_metrics_add_note(rec, "rgb ablation (x0-prediction error)");
    ddad_metrics_add_note(rec, p->original ? "maps at original resolution" : "maps at model resolution, masks nearest");
    snprintf(k->notes, sizeof k->notes, "%s%s; features at %d px, feature_timestep %s; maps at %s resolution "
             "(%lldx%lld)%s",
             random_weights ? "results computed with RANDOM feature-extractor weights (features.weights empty); " : "",
             rgb ? "score.method rgb: plain x0-prediction error, no feature map" : "score.method ddad",
             cfg->features.score_size,
             cfg->score.feature_timestep == DDAD_FEATURE_TIMESTEP_SAME ? "same" : "respaced_quirk",
             p->original ? "original" : "model", (long long)p->oh, (long long)p->ow,
             p->original ? "" : ", masks resized with nearest neighbour");
    return DDAD_OK;
}

/* Step 4: rule f1 takes both thresholds from the labelled test split
 * (optimistic); then the binary masks' threshold is chosen: the calibrated
 * pixel threshold, or the test split's F1-max with --threshold-f1 (or when
 * there is none). */
static void choose_thresholds(category_t *k, const ddad_metrics_record_t *rec)
{
    eval_ctx_t *c = k->c;
    const pass_t *p = &k->p;
    ddad_calibration_t *cal = &k->cal;
    if (k->rule.kind == DDAD_CALIB_RULE_F1 && isfinite(rec->image_f1_threshold) &&
        isfinite(rec->pixel_f1_threshold)) {
        cal->image_threshold = (double)nextafterf((float)rec->image_f1_threshold, -INFINITY);
        cal->pixel_threshold = (double)nextafterf((float)rec->pixel_f1_threshold, -INFINITY);
        cal->image_min = p->min_score;
        cal->image_max = p->max_score;
        cal->pixel_min = p->lo;
        cal->pixel_max = p->hi;
        cal->images = (int)((int64_t)k->n_test - p->n_defective);
        cal->defect_images = (int)p->n_defective;
        cal->optimistic = true;
        snprintf(cal->rule, sizeof cal->rule, "f1");
        snprintf(cal->source, sizeof cal->source, "the labelled test split of %s (%zu images): optimistic, the "
                 "threshold is fitted on the images it is evaluated on", k->name, k->n_test);
        k->have_cal = true;
    } else if (k->rule.kind == DDAD_CALIB_RULE_F1) {
        ddad_log(DDAD_LOG_WARN, "%s: threshold rule f1 needs defective and good test images; no threshold stored",
                 k->name);
    }
    if (c->opts.threshold_f1 || !isfinite(cal->pixel_threshold)) {
        k->mask_threshold = rec->pixel_f1_threshold;
        snprintf(k->mask_threshold_source, sizeof k->mask_threshold_source, "test-split F1-max (optimistic)");
    } else {
        k->mask_threshold = cal->pixel_threshold;
        snprintf(k->mask_threshold_source, sizeof k->mask_threshold_source, "rule %s over %s", cal->rule,
                 cal->source);
    }
}

static double percent(int64_t part, int64_t whole) { return 100.0 * ddad_calib_rate(part, whole); }

/* Step 4b: how the deployment thresholds do on the test split (which they
 * were not fitted on, except under rule f1): what a user of threshold.json
 * will see, image by image and pixel by pixel. */
static ddad_status_t check_thresholds(category_t *k)
{
    const pass_t *p = &k->p;
    const size_t hw = (size_t)(p->oh * p->ow);
    float *map = malloc(hw * sizeof *map);
    uint8_t *mask = malloc(hw);
    if (!map || !mask) {
        free(map);
        free(mask);
        return ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
    }
    ddad_mapsfile_t *mf = NULL;
    ddad_status_t st = ddad_mapsfile_open(&mf, k->maps);
    const ddad_mapsfile_info_t *info = st == DDAD_OK ? ddad_mapsfile_info(mf) : NULL;
    ddad_calib_check_t *check = &k->cal.test_check;
    memset(check, 0, sizeof *check);
    float *good = st == DDAD_OK ? malloc(((size_t)info->n + 1) * sizeof *good) : NULL;
    size_t n_good = 0;
    if (st == DDAD_OK && !good)
        st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
    for (int64_t i = 0; st == DDAD_OK && i < info->n; i++) {
        if (!info->labels[i] && info->scores)
            good[n_good++] = info->scores[i];
        st = ddad_mapsfile_read_image(mf, i, map, mask);
        if (st == DDAD_OK)
            ddad_calib_check_add(&k->cal, check, info->scores ? info->scores[i] : NAN, info->labels[i], map,
                                 mask, hw);
    }
    ddad_mapsfile_close(mf);
    free(map);
    free(mask);
    k->good_score_median = median_of(good, n_good);
    free(good);
    k->cal.has_test_check = st == DDAD_OK; /* stored with the thresholds in threshold.json */
    if (st != DDAD_OK || k->c->opts.quiet)
        return st;
    const ddad_calib_check_t *c = check;
    fprintf(stderr, "%s: at the deployment thresholds (rule %s%s): %lld of %lld good test images flagged (%.1f%%), "
            "%lld of %lld defective (%.1f%%); pixels: %.2f%% of normal flagged (%.2f%% on good images), %.1f%% of "
            "defect pixels; median score of the good test images %.4g, of the calibration images %.4g\n",
            k->name, k->cal.rule,
            k->cal.optimistic         ? ", fitted on this test split: optimistic"
            : k->cal.seen_in_training ? ", fitted on training images: too low"
                                      : "",
            (long long)c->good_flagged, (long long)c->good_images, percent(c->good_flagged, c->good_images),
            (long long)c->defective_flagged, (long long)c->defective_images,
            percent(c->defective_flagged, c->defective_images), percent(c->normal_flagged, c->normal_pixels),
            percent(c->good_image_flagged, c->good_image_pixels), percent(c->anomalous_flagged, c->anomalous_pixels),
            k->good_score_median, k->calib_score_median);
    return DDAD_OK;
}

/* Heat maps, binary masks and overlays of the test images, from the maps
 * file, on the calibrated fixed scale (0.5 = pixel threshold) when known,
 * so a good image looks good; else the split's own range. */
static ddad_status_t write_images(category_t *k)
{
    const pass_t *p = &k->p;
    char dir[DDAD_CONFIG_PATH_MAX + 160];
    DDAD_TRY_RETURN(ddad_run_path(dir, sizeof dir, k->c->run_dir, k->dir_name, DDAD_RUN_IMAGES));
    DDAD_TRY_RETURN(ddad_run_mkdir_p(dir));
    float *map = malloc((size_t)(p->oh * p->ow) * sizeof *map);
    if (!map)
        return ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
    ddad_mapsfile_t *mf = NULL;
    ddad_status_t st = ddad_mapsfile_open(&mf, k->maps);
    eval_images_opts_t io = {.lo = p->lo, .hi = p->hi, .threshold = (float)k->mask_threshold};
    if (!k->c->opts.threshold_f1 && ddad_calib_has_statistics(&k->cal))
        io.calib = &k->cal;
    for (size_t i = 0; st == DDAD_OK && i < k->n_test; i++) {
        st = ddad_mapsfile_read_image(mf, (int64_t)i, map, NULL);
        if (st == DDAD_OK)
            st = eval_images_write(map, p->oh, p->ow, NULL, p->paths[i], dir, p->stems[i], &io);
    }
    ddad_mapsfile_close(mf);
    free(map);
    if (st == DDAD_OK)
        fprintf(stderr, "%s: heat maps, binary masks (threshold %.4g: %s) and overlays in %s\n", k->name,
                k->mask_threshold, k->mask_threshold_source, dir);
    return st;
}

/* Step 5: metrics.json, metrics.csv, curves, and the optional images and
 * MVTec TIFF maps. */
static ddad_status_t write_outputs(category_t *k, const ddad_metrics_record_t *rec)
{
    eval_ctx_t *c = k->c;
    const ddad_config_t *cfg = &c->cfg;
    const pass_t *p = &k->p;
    char path[DDAD_CONFIG_PATH_MAX + 256];
    ddad_metrics_provenance_t x = {.resolution = p->original ? "original" : "model", .map_h = p->oh, .map_w = p->ow,
                         .threshold = k->mask_threshold, .threshold_source = k->mask_threshold_source,
                         .feature_weights = feature_weights(c),
                         .seconds_per_image = k->seconds_per_image, .checkpoint = c->checkpoint, .step = c->step,
                         .notes = k->notes, .calibration = k->have_cal ? &k->cal : NULL,
                         .calibration_score_median = k->calib_score_median,
                         .good_score_median = k->good_score_median};
    DDAD_TRY_RETURN(ddad_run_path(path, sizeof path, c->run_dir, k->dir_name, DDAD_RUN_METRICS_JSON));
    DDAD_TRY_RETURN(ddad_report_write_metrics_json(path, cfg, rec, &x));
    DDAD_TRY_RETURN(ddad_run_path(path, sizeof path, c->run_dir, k->dir_name, DDAD_RUN_METRICS_CSV));
    DDAD_TRY_RETURN(ddad_report_write_file(path, rec, 1, DDAD_REPORT_CSV));
    bool pngs = false;
    DDAD_TRY_RETURN(eval_curves_write(k->maps, k->dir, c->opts.pro_limit, &pngs));
    if (c->opts.save_images || cfg->eval.save_images)
        DDAD_TRY_RETURN(write_images(k));
    fprintf(stderr, "%s: wrote maps.h5, metrics.json, metrics.csv, curves%s in %s\n", k->name,
            pngs ? " (roc.png, pro.png)" : "", k->dir);
    if (c->opts.export_maps) {
        DDAD_TRY_RETURN(eval_export_tiffs(k->maps, k->test, k->n_test, c->opts.export_maps, k->name));
        fprintf(stderr, "%s: TIFF maps at the original resolution in %s/%s/test\n", k->name, c->opts.export_maps,
                k->name);
    }
    return DDAD_OK;
}

ddad_status_t eval_ctx_category(eval_ctx_t *c, const char *category, ddad_metrics_record_t *rec)
{
    category_t k;
    ddad_metrics_record_init(rec, category, c->opts.pro_limit);
    ddad_status_t st = category_open(&k, c, category);
    if (st == DDAD_OK)
        st = fit_reference(&k);
    if (st == DDAD_OK)
        st = calibrate(&k);
    if (st == DDAD_OK)
        st = score_test_split(&k);
    if (st == DDAD_OK)
        st = measure(&k, rec);
    if (st == DDAD_OK) {
        choose_thresholds(&k, rec);
        if (k.have_cal)
            st = check_thresholds(&k);
        if (st == DDAD_OK && k.have_cal && c->n_thresholds < EVAL_MAX_CATEGORIES)
            c->thresholds[c->n_thresholds++] = k.cal; /* threshold.json, with what it flagged on the test split */
    }
    if (st == DDAD_OK) {
        st = write_outputs(&k, rec);
    }
    category_close(&k);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "evaluating %s", category);
    return DDAD_OK;
}

/* ---- threshold.json ------------------------------------------------------------ */

ddad_status_t eval_ctx_write_thresholds(eval_ctx_t *c)
{
    if (c->n_thresholds == 0)
        return DDAD_OK;
    char path[DDAD_CONFIG_PATH_MAX + 32];
    ddad_calib_path(path, sizeof path, c->run_dir);
    return ddad_calib_file_update(path, c->checkpoint, c->thresholds, c->n_thresholds);
}
