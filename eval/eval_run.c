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
#include "dataset.h"
#include "eval_curves.h"
#include "eval_images.h"
#include "eval_tiff_maps.h"
#include "loader.h"
#include "mapsfile.h"
#include "report.h"
#include "run.h"
#include "nn/checkpoint.h"
#include "nn/reference.h"
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
    unsigned flags = DDAD_MODEL_WITH_EMA | DDAD_MODEL_NO_INIT;
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

typedef struct metrics_extra {
    const char *resolution;
    int64_t map_h, map_w;
    double threshold;
    const char *threshold_source;
    const char *feature_weights;
    double seconds_per_image;
    const char *checkpoint;
    long long step;
    const char *notes;
} metrics_extra_t;

static ddad_status_t write_metrics_json(const char *path, const ddad_config_t *cfg, const ddad_metrics_record_t *r,
                                        const metrics_extra_t *x)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return ddad_fail(DDAD_STATUS_IO, "cannot write %s: %s", path, strerror(errno));
    char buf[512];
    fputs("{\n  \"category\": ", f);
    ddad_json_string(f, r->category);
    fprintf(f, ",\n  \"images\": %lld", (long long)r->images);
    const struct {
        const char *k;
        double v;
    } nums[] = {{"image_auroc", r->image_auroc},       {"pixel_auroc", r->pixel_auroc},
                {"au_pro", r->au_pro},                 {"au_pro_limit", r->au_pro_limit},
                {"pixel_f1_max", r->pixel_f1_max},     {"pixel_f1_threshold", r->pixel_f1_threshold},
                {"image_f1_max", r->image_f1_max},     {"image_f1_threshold", r->image_f1_threshold},
                {"threshold", x->threshold},           {"seconds_per_image", x->seconds_per_image},
                {"images_per_s", x->seconds_per_image > 0 ? 1.0 / x->seconds_per_image : NAN}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        fprintf(f, ",\n  \"%s\": ", nums[i].k);
        ddad_json_number(f, nums[i].v);
    }
    fputs(",\n  \"threshold_source\": ", f);
    ddad_json_string(f, x->threshold_source);
    fputs(",\n  \"resolution\": ", f);
    ddad_json_string(f, x->resolution);
    fprintf(f, ",\n  \"map_size\": [%lld, %lld]", (long long)x->map_h, (long long)x->map_w);
    fputs(",\n  \"feature_extractor\": ", f);
    ddad_json_string(f, x->feature_weights);
    fputs(",\n  \"checkpoint\": ", f);
    ddad_json_string(f, x->checkpoint);
    fprintf(f, ",\n  \"step\": %lld", x->step);
    fputs(",\n  \"score\": {", f);
    const char *keys[] = {"score.method",       "score.timesteps", "score.alpha",    "score.topk",
                          "score.image_score",  "score.smooth_sigma", "score.feature_timestep",
                          "features.score_size", "seed"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        ddad_config_get_text(cfg, keys[i], buf, sizeof buf);
        fprintf(f, "%s\"%s\": ", i ? ", " : "", keys[i]);
        ddad_json_string(f, buf);
    }
    fputs("}", f);
    fprintf(f, ",\n  \"ddad_version\": \"%s\", \"git_revision\": \"%s\"", DDAD_VERSION, DDAD_GIT_REVISION);
    fputs(",\n  \"notes\": ", f);
    ddad_json_string(f, x->notes);
    fputs("\n}\n", f);
    if (fclose(f) != 0)
        return ddad_fail(DDAD_STATUS_IO, "writing %s failed", path);
    return DDAD_OK;
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

static ddad_status_t on_reference_row(void *user, const ddad_score_row_t *row)
{
    if (eval_interrupted)
        return ddad_fail(DDAD_STATUS_INTERRUPTED, "interrupted");
    ddad_reference_acc_add(user, row->kl_steps, row->feat_steps);
    return DDAD_OK;
}

/* Scores the held-out good images with the raw maps (c->model.reference is
 * NULL), accumulates their statistics into *ref and writes reference.h5. */
static ddad_status_t compute_reference(eval_ctx_t *c, const char *category, int class_id, const ddad_dataset_t *ds,
                                       const ddad_sample_t **val, size_t n_val, ddad_score_reference_t *ref)
{
    const ddad_config_t *cfg = &c->cfg;
    const int64_t S = cfg->data.image_size, T = (int64_t)cfg->score.timesteps.n;
    const bool rgb = cfg->score.method == DDAD_SCORE_METHOD_RGB;
    ddad_reference_acc_t *acc = NULL;
    ddad_testiter_t *it = NULL;
    ddad_status_t st = ddad_reference_acc_create(&acc, T, S, S, !rgb);
    if (st != DDAD_OK)
        return st;
    ddad_testiter_opts_t to = {.image_size = (int)S, .mask_original_size = false, .mask_threshold = ds->mask_threshold};
    st = ddad_testiter_create(&it, val, n_val, &to);
    if (st == DDAD_OK)
        st = ddad_score_split(&c->model, it, class_id, on_reference_row, acc);
    ddad_testiter_free(it);
    if (st != DDAD_OK) {
        ddad_reference_acc_free(acc);
        return ddad_fail_context(st, "reference statistics of %s's held-out good images", category);
    }
    st = ddad_reference_acc_finish(acc, ref);
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

ddad_status_t eval_ctx_category(eval_ctx_t *c, const char *category, ddad_metrics_record_t *rec)
{
    const ddad_config_t *cfg = &c->cfg;
    const eval_opts_t *o = &c->opts;
    ddad_dataset_t *ds = NULL;
    const ddad_sample_t **test = NULL, **train = NULL, **val = NULL;
    size_t n_test = 0, n_train = 0, n_val = 0;
    ddad_score_reference_t ref;
    memset(&ref, 0, sizeof ref);
    ddad_testiter_t *it = NULL;
    pass_t p;
    memset(&p, 0, sizeof p);
    char out_dir[DDAD_CONFIG_PATH_MAX + 128], path[DDAD_CONFIG_PATH_MAX + 256], maps_path[DDAD_CONFIG_PATH_MAX + 256];
    char notes[1024] = "";
    ddad_status_t st = DDAD_OK;
    ddad_metrics_record_init(rec, category, o->pro_limit);

    const bool unified = ddad_config_is_unified(cfg);
    int class_id = ddad_config_category_index(cfg, category);
    if (class_id < 0) {
        st = ddad_fail(DDAD_STATUS_CONFIG, "category '%s' is not one of the run's categories (data.category)", category);
        goto fail;
    }
    if (unified)
        snprintf(out_dir, sizeof out_dir, "%s/%s", c->run_dir, category);
    else
        snprintf(out_dir, sizeof out_dir, "%s", c->run_dir);
    DDAD_TRY(ddad_run_mkdir_p(out_dir));
    DDAD_TRY(open_split(cfg, category, &ds, &test, &n_test, &train, &n_train, &val, &n_val));

    const int64_t S = cfg->data.image_size, T = (int64_t)cfg->score.timesteps.n;
    const bool rgb = cfg->score.method == DDAD_SCORE_METHOD_RGB;
    p.c = c;
    p.S = S;
    p.T = T;
    p.quiet = o->quiet;

    /* 1a. score.normalize good: statistics of the held-out good images' maps */
    c->model.reference = NULL;
    if (cfg->score.normalize == DDAD_SCORE_NORMALIZE_GOOD) {
        if (n_val < 2) {
            st = ddad_fail(DDAD_STATUS_CONFIG, "score.normalize good needs held-out good images: data.val_split %g "
                           "holds out %zu of %s's training images, at least 2 are needed (set data.val_split, e.g. "
                           "0.1, and retrain: held-out images must not be trained on)",
                           cfg->data.val_split, n_val, category);
            goto fail;
        }
        DDAD_TRY(compute_reference(c, category, class_id, ds, val, n_val, &ref));
        c->model.reference = &ref;
    }

    /* 1b. deployment threshold (eval.threshold_rule) on the calibration images:
     * the held-out good ones when there are (data.val_split), else the last
     * good training images; rule f1 is fitted on the test split in step 4 */
    ddad_calib_rule_t rule;
    DDAD_TRY(ddad_calib_rule_parse(cfg->eval.threshold_rule, &rule));
    const bool held_out = n_val > 0;
    const ddad_sample_t **thr_pool = held_out ? val : train;
    size_t n_pool = held_out ? n_val : n_train;
    int n_thr = held_out ? (int)n_val : (o->threshold_images < (int)n_train ? o->threshold_images : (int)n_train);
    ddad_calibration_t cal;
    memset(&cal, 0, sizeof cal);
    snprintf(cal.category, sizeof cal.category, "%s", category);
    cal.image_threshold = cal.pixel_threshold = NAN;
    bool have_cal = false;
    if (n_thr > 0 && rule.kind != DDAD_CALIB_RULE_F1) {
        ddad_testiter_opts_t to = {.image_size = (int)S, .mask_original_size = false,
                                   .mask_threshold = ds->mask_threshold};
        DDAD_TRY(ddad_testiter_create(&it, thr_pool + (n_pool - (size_t)n_thr), (size_t)n_thr, &to));
        p.cal_scores = malloc((size_t)n_thr * sizeof *p.cal_scores);
        p.cal_maps = malloc((size_t)n_thr * (size_t)(S * S) * sizeof *p.cal_maps);
        if (!p.cal_scores || !p.cal_maps) {
            st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory for %d calibration maps", n_thr);
            goto fail;
        }
        p.n = n_thr;
        p.min_score = p.lo = INFINITY;
        p.max_score = p.hi = -INFINITY;
        DDAD_TRY(ddad_score_split(&c->model, it, class_id, on_row, &p));
        ddad_testiter_free(it);
        it = NULL;
        ddad_calib_set_t set = {.scores = p.cal_scores, .maps = p.cal_maps, .n = (size_t)n_thr,
                                .hw = (size_t)(S * S)};
        if (held_out)
            snprintf(cal.source, sizeof cal.source, "%d held-out good images of %s (data.val_split %g; not trained on)",
                     n_thr, category, cfg->data.val_split);
        else
            snprintf(cal.source, sizeof cal.source, "the last %d good training images of %s (seen in training)",
                     n_thr, category);
        DDAD_TRY(ddad_calib_fit(&rule, &set, &cal));
        have_cal = true;
    }
    /* 2. the test split */
    p.original = cfg->score.resolution == DDAD_SCORE_RESOLUTION_ORIGINAL;
    p.oh = p.ow = S;
    if (p.original) {
        p.oh = test[0]->height;
        p.ow = test[0]->width;
    }
    const int64_t OHW = p.oh * p.ow;
    p.n = (int64_t)n_test;
    p.paths = calloc(n_test, sizeof *p.paths);
    p.stems = calloc(n_test, sizeof *p.stems);
    p.zeros = calloc((size_t)OHW, 1);
    if (p.original) {
        p.map_o = malloc((size_t)OHW * sizeof(float));
        p.kl_o = malloc((size_t)(T * OHW) * sizeof(float));
        p.feat_o = malloc((size_t)(T * OHW) * sizeof(float));
    }
    if (!p.paths || !p.stems || !p.zeros || (p.original && (!p.map_o || !p.kl_o || !p.feat_o))) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
        goto fail;
    }
    ddad_testiter_opts_t to = {.image_size = (int)S, .mask_original_size = p.original,
                               .mask_threshold = ds->mask_threshold};
    DDAD_TRY(ddad_testiter_create(&it, test, n_test, &to));
    snprintf(maps_path, sizeof maps_path, "%s/maps.h5", out_dir);
    ddad_mapsfile_spec_t spec = {.category = category, .resolution = p.original ? "original" : "model",
                                 .n = (int64_t)n_test, .h = p.oh, .w = p.ow, .has_scores = true,
                                 .num_timesteps = rgb ? 0 : T, .timesteps = NULL, .compress_level = p.original ? 1 : 0};
    int64_t ts[DDAD_CONFIG_MAX_INTS];
    for (int64_t k = 0; k < T; k++)
        ts[k] = cfg->score.timesteps.v[k];
    spec.timesteps = ts;
    DDAD_TRY(ddad_mapsfile_create(&p.wr, maps_path, &spec));
    attr_ctx_t ac = {.wr = p.wr, .st = DDAD_OK};
    if (ddad_config_foreach(cfg, put_attr, &ac) != 0) {
        st = ac.st;
        goto fail;
    }
    const char *feat_src = rgb ? "none (score.method rgb)" : c->model.effnet.source;
    DDAD_TRY(ddad_mapsfile_set_attr(p.wr, "checkpoint", c->checkpoint));
    DDAD_TRY(ddad_mapsfile_set_attr(p.wr, "feature_weights", feat_src));
    DDAD_TRY(ddad_mapsfile_set_attr(p.wr, "git_revision", DDAD_GIT_REVISION));
    DDAD_TRY(ddad_mapsfile_set_attr(p.wr, "torch_version", ddad_torch_version()));
    DDAD_TRY(ddad_mapsfile_set_attr(p.wr, "kl_maps", "mean over RGB of the KL map in bits, standardised per image "
                                                    "and timestep"));
    DDAD_TRY(ddad_mapsfile_set_attr(p.wr, "feat_maps", "feature error at features.score_size, bilinear to the map size"));
    p.min_score = p.lo = INFINITY;
    p.max_score = -INFINITY;
    p.hi = -INFINITY;
    p.seconds = 0;
    double t0 = now_s();
    DDAD_TRY(ddad_score_split(&c->model, it, class_id, on_row, &p));
    double wall = now_s() - t0;
    DDAD_TRY(ddad_mapsfile_finish(p.wr));
    ddad_mapsfile_writer_free(p.wr);
    p.wr = NULL;

    /* 3. metrics from the file just written (exactly what --maps reports) */
    DDAD_TRY(ddad_metrics_from_mapsfile(maps_path, o->pro_limit, rec));
    snprintf(rec->category, sizeof rec->category, "%s", category);
    double spi = wall / (double)n_test;
    fprintf(stderr, "%s: %zu images in %.2f s: %.1f ms per image, %.2f images/s (model forward share %.1f ms)\n",
            category, n_test, wall, 1000.0 * spi, 1.0 / spi, 1000.0 * p.seconds / (double)n_test);

    /* notes: what the numbers are */
    rec->notes[0] = '\0';
    if (!rgb && c->model.effnet.random_weights)
        ddad_metrics_add_note(rec, "RANDOM feature-extractor weights");
    if (rgb)
        ddad_metrics_add_note(rec, "rgb ablation (x0-prediction error)");
    ddad_metrics_add_note(rec, p.original ? "maps at original resolution" : "maps at model resolution, masks nearest");
    snprintf(notes, sizeof notes, "%s%s; features at %d px, feature_timestep %s; maps at %s resolution (%lldx%lld)%s",
             c->model.effnet.random_weights && !rgb ? "results computed with RANDOM feature-extractor weights "
                                                      "(features.weights empty); "
                                                    : "",
             rgb ? "score.method rgb: plain x0-prediction error, no feature map" : "score.method ddad",
             cfg->features.score_size,
             cfg->score.feature_timestep == DDAD_FEATURE_TIMESTEP_SAME ? "same" : "respaced_quirk",
             p.original ? "original" : "model", (long long)p.oh, (long long)p.ow,
             p.original ? "" : ", masks resized with nearest neighbour");

    /* 4. rule f1: both thresholds from the labelled test split (optimistic) */
    if (rule.kind == DDAD_CALIB_RULE_F1 && isfinite(rec->image_f1_threshold) && isfinite(rec->pixel_f1_threshold)) {
        cal.image_threshold = (double)nextafterf((float)rec->image_f1_threshold, -INFINITY);
        cal.pixel_threshold = (double)nextafterf((float)rec->pixel_f1_threshold, -INFINITY);
        cal.image_min = p.min_score;
        cal.image_max = p.max_score;
        cal.pixel_min = p.lo;
        cal.pixel_max = p.hi;
        cal.images = (int)((int64_t)n_test - p.n_defective);
        cal.defect_images = (int)p.n_defective;
        cal.optimistic = true;
        snprintf(cal.rule, sizeof cal.rule, "f1");
        snprintf(cal.source, sizeof cal.source, "the labelled test split of %s (%zu images): optimistic, the "
                 "threshold is fitted on the images it is evaluated on", category, n_test);
        have_cal = true;
    } else if (rule.kind == DDAD_CALIB_RULE_F1) {
        ddad_log(DDAD_LOG_WARN, "%s: threshold rule f1 needs defective and good test images; no threshold stored",
                 category);
    }
    if (have_cal && c->n_thresholds < EVAL_MAX_CATEGORIES)
        c->thresholds[c->n_thresholds++] = cal;

    /* binary masks of the images: the calibrated pixel threshold, or the
     * test split's F1-max with --threshold-f1 (or when there is none) */
    double thr;
    char thr_src[600];
    if (o->threshold_f1 || !isfinite(cal.pixel_threshold)) {
        thr = rec->pixel_f1_threshold;
        snprintf(thr_src, sizeof thr_src, "test-split F1-max (optimistic)");
    } else {
        thr = cal.pixel_threshold;
        snprintf(thr_src, sizeof thr_src, "rule %s over %s", cal.rule, cal.source);
    }

    /* 5. files */
    metrics_extra_t x = {.resolution = p.original ? "original" : "model", .map_h = p.oh, .map_w = p.ow,
                         .threshold = thr, .threshold_source = thr_src, .feature_weights = feat_src,
                         .seconds_per_image = spi, .checkpoint = c->checkpoint, .step = c->step, .notes = notes};
    snprintf(path, sizeof path, "%s/metrics.json", out_dir);
    DDAD_TRY(write_metrics_json(path, cfg, rec, &x));
    snprintf(path, sizeof path, "%s/metrics.csv", out_dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        st = ddad_fail(DDAD_STATUS_IO, "cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    st = ddad_report_write(f, rec, 1, DDAD_REPORT_CSV);
    if (fclose(f) != 0 && st == DDAD_OK)
        st = ddad_fail(DDAD_STATUS_IO, "writing %s failed", path);
    if (st != DDAD_OK)
        goto fail;
    bool pngs = false;
    DDAD_TRY(eval_curves_write(maps_path, out_dir, o->pro_limit, &pngs));

    if (o->save_images || cfg->eval.save_images) {
        char img_dir[DDAD_CONFIG_PATH_MAX + 160];
        snprintf(img_dir, sizeof img_dir, "%s/images", out_dir);
        DDAD_TRY(ddad_run_mkdir_p(img_dir));
        ddad_mapsfile_t *mf = NULL;
        float *map = malloc((size_t)OHW * sizeof *map);
        if (!map) {
            st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
            goto fail;
        }
        st = ddad_mapsfile_open(&mf, maps_path);
        /* colours on the calibrated fixed scale (0.5 = pixel threshold) when
         * known, so a good image looks good; else the split's own range */
        eval_images_opts_t io = {.lo = p.lo, .hi = p.hi, .threshold = (float)thr};
        if (!o->threshold_f1 && ddad_calib_has_statistics(&cal))
            io.calib = &cal;
        for (size_t i = 0; st == DDAD_OK && i < n_test; i++) {
            st = ddad_mapsfile_read_image(mf, (int64_t)i, map, NULL);
            if (st == DDAD_OK)
                st = eval_images_write(map, p.oh, p.ow, NULL, p.paths[i], img_dir, p.stems[i], &io);
        }
        ddad_mapsfile_close(mf);
        free(map);
        if (st != DDAD_OK)
            goto fail;
        fprintf(stderr, "%s: heat maps, binary masks (threshold %.4g: %s) and overlays in %s\n", category, thr, thr_src,
                img_dir);
    }
    fprintf(stderr, "%s: wrote %s, metrics.json, metrics.csv, curves%s in %s\n", category, "maps.h5",
            pngs ? " (roc.png, pro.png)" : "", out_dir);
    if (o->export_maps) {
        DDAD_TRY(eval_export_tiffs(maps_path, test, n_test, o->export_maps, category));
        fprintf(stderr, "%s: TIFF maps at the original resolution in %s/%s/test\n", category, o->export_maps,
                category);
    }
fail:
    ddad_testiter_free(it);
    ddad_mapsfile_writer_free(p.wr);
    if (p.paths)
        for (size_t i = 0; i < n_test; i++)
            free(p.paths[i]);
    if (p.stems)
        for (size_t i = 0; i < n_test; i++)
            free(p.stems[i]);
    free(p.paths);
    free(p.stems);
    free(p.zeros);
    free(p.map_o);
    free(p.kl_o);
    free(p.feat_o);
    free(p.cal_scores);
    free(p.cal_maps);
    free(test);
    free(train);
    free(val);
    c->model.reference = NULL;
    ddad_reference_free(&ref);
    ddad_dataset_free(ds);
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
