/* core/nn/scorer.c - the deployment API of include/ddad/ddad.h on top of score.h. */
#include "ddad.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "calib.h"
#include "image.h"
#include "run.h"
#include "checkpoint.h"
#include "model.h"
#include "reference.h"
#include "score.h"

struct ddad_scorer {
    ddad_model_t model;
    char run_dir[DDAD_CONFIG_PATH_MAX];
    char checkpoint[DDAD_CONFIG_PATH_MAX];
    char category[DDAD_CONFIG_NAME_MAX];
    char category_dir[DDAD_CONFIG_PATH_MAX + DDAD_CONFIG_NAME_MAX + 2]; /* its per-category files */
    int64_t class_id;
    ddad_calib_file_t thresholds;  /* threshold.json, n = 0 when absent   */
    bool has_threshold;
    ddad_calibration_t cal;        /* the current category's entry        */
    ddad_score_reference_t reference; /* score.normalize good: the category's held-out statistics */
};

const char *ddad_scorer_error(void) { return ddad_last_error(); }

static bool is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The run folder of a checkpoint ".../<run>/checkpoints/step_N.h5". */
static void run_dir_of(const char *ckpt, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", ckpt);
    char *slash = strrchr(buf, '/');
    if (!slash) {
        snprintf(buf, cap, ".");
        return;
    }
    *slash = '\0';
    slash = strrchr(buf, '/');
    const char *last = slash ? slash + 1 : buf;
    if (!strcmp(last, ddad_run_file_name(DDAD_RUN_CHECKPOINTS))) {
        if (slash)
            *slash = '\0';
        else
            snprintf(buf, cap, ".");
    }
}

/* The current category's entry of threshold.json. */
static void select_threshold(ddad_scorer_t *s)
{
    const ddad_calibration_t *e = ddad_calib_file_find(&s->thresholds, s->category);
    s->has_threshold = e && isfinite(e->image_threshold);
    memset(&s->cal, 0, sizeof s->cal);
    s->cal.image_threshold = s->cal.pixel_threshold = NAN;
    s->cal.image_min = s->cal.image_max = s->cal.pixel_min = s->cal.pixel_max = NAN;
    if (e)
        s->cal = *e;
}

ddad_status_t ddad_scorer_reload_calibration(ddad_scorer_t *s)
{
    if (!s)
        return ddad_fail(DDAD_STATUS_USAGE, "scorer: NULL scorer");
    ddad_calib_file_free(&s->thresholds);
    char path[DDAD_CONFIG_PATH_MAX + 32];
    ddad_calib_path(path, sizeof path, s->run_dir);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        ddad_status_t st = ddad_calib_file_read(path, &s->thresholds);
        if (st != DDAD_OK)
            return ddad_fail_context(st, "reading the run's thresholds");
    }
    select_threshold(s);
    return DDAD_OK;
}

ddad_status_t ddad_scorer_set_category(ddad_scorer_t *s, const char *category)
{
    int idx = ddad_config_category_index(&s->model.cfg, category);
    if (idx < 0)
        return ddad_fail(DDAD_STATUS_USAGE, "scorer: category '%s' is not one of this run's categories", category);
    ddad_status_t st = ddad_reference_use(&s->model, &s->reference, s->run_dir, category);
    if (st != DDAD_OK)
        return st;
    snprintf(s->category, sizeof s->category, "%s", category);
    if (ddad_run_path(s->category_dir, sizeof s->category_dir, s->run_dir,
                      ddad_config_is_unified(&s->model.cfg) ? s->category : NULL, DDAD_RUN_CATEGORY_DIR) != DDAD_OK)
        snprintf(s->category_dir, sizeof s->category_dir, "%s", s->run_dir);
    s->class_id = idx;
    select_threshold(s);
    return DDAD_OK;
}

ddad_status_t ddad_scorer_open(ddad_scorer_t **out, const char *path, const char *device)
{
    return ddad_scorer_open_with(out, path, device, NULL, 0);
}

ddad_status_t ddad_scorer_open_with(ddad_scorer_t **out, const char *path, const char *device,
                                    const char *const *overrides, int n_overrides)
{
    *out = NULL;
    if (!path || !*path)
        return ddad_fail(DDAD_STATUS_USAGE, "scorer: no run folder or checkpoint given");
    ddad_scorer_t *s = calloc(1, sizeof *s);
    if (!s)
        return ddad_fail(DDAD_STATUS_NOMEM, "scorer: out of memory");
    ddad_status_t st = DDAD_OK;
    if (is_dir(path)) {
        snprintf(s->run_dir, sizeof s->run_dir, "%s", path);
        DDAD_TRY(ddad_checkpoint_latest(path, s->checkpoint, sizeof s->checkpoint));
    } else {
        snprintf(s->checkpoint, sizeof s->checkpoint, "%s", path);
        run_dir_of(path, s->run_dir, sizeof s->run_dir);
    }
    ddad_config_t cfg;
    DDAD_TRY(ddad_checkpoint_read_config(s->checkpoint, &cfg));
    for (int k = 0; k < n_overrides; k++)
        DDAD_TRY(ddad_config_set(&cfg, overrides[k]));
    if (n_overrides > 0) {
        DDAD_TRY(ddad_config_validate(&cfg));
        DDAD_TRY(ddad_checkpoint_check_noise(s->checkpoint, &cfg)); /* the reference maps used its noise */
    }
    if (device && *device) {
        if (strlen(device) >= sizeof cfg.device) {
            st = ddad_fail(DDAD_STATUS_USAGE, "scorer: device name '%s' is too long", device);
            goto fail;
        }
        snprintf(cfg.device, sizeof cfg.device, "%s", device);
    }
    DDAD_TRY(ddad_runtime_setup(&cfg));
    unsigned flags = DDAD_MODEL_SCORING_ONLY | DDAD_MODEL_NO_INIT;
    if (cfg.score.method == DDAD_SCORE_METHOD_DDAD)
        flags |= DDAD_MODEL_WITH_FEATURES;
    DDAD_TRY(ddad_model_create(&s->model, &cfg, flags));
    DDAD_TRY(ddad_checkpoint_load(s->checkpoint, &s->model, NULL, NULL, NULL));
    DDAD_TRY(ddad_model_prepare_scoring(&s->model));
    DDAD_TRY(ddad_scorer_reload_calibration(s));
    const char *first = NULL;
    if (ddad_config_categories(&s->model.cfg, &first, 1) < 1 || !first) {
        st = ddad_fail(DDAD_STATUS_CONFIG, "scorer: the run's config names no category");
        goto fail;
    }
    DDAD_TRY(ddad_scorer_set_category(s, first));
    if (s->model.effnet.random_weights && s->model.has_features)
        ddad_log(DDAD_LOG_WARN, "scorer: the feature extractor of %s has random weights; scores are labelled so",
                 s->checkpoint);
    *out = s;
    return DDAD_OK;
fail:
    ddad_fail_context(st, "opening the scorer on %s", path);
    ddad_scorer_close(s);
    return st;
}

int ddad_scorer_batch_size(const ddad_scorer_t *s)
{
    if (!s)
        return 1;
    const ddad_config_score_t *sc = &s->model.cfg.score;
    int64_t per = (int64_t)sc->timesteps.n * (sc->noise_draws > 0 ? sc->noise_draws : 1);
    int64_t b = per > 0 ? sc->batch_size / per : 1;
    return b < 1 ? 1 : (int)b;
}

/* Fills res from the model-size map of one image scored at size S. */
static ddad_status_t fill_result(const ddad_scorer_t *s, const float *map, float score, int S, int w, int h,
                                 ddad_scorer_result_t *res)
{
    const size_t n = (size_t)w * (size_t)h;
    res->map = malloc(n * sizeof *res->map);
    res->map_normalized = malloc(n * sizeof *res->map_normalized);
    if (!res->map || !res->map_normalized)
        return ddad_fail(DDAD_STATUS_NOMEM, "scorer: out of memory for a %dx%d map", w, h);
    if (w == S && h == S)
        memcpy(res->map, map, (size_t)S * S * sizeof *res->map);
    else
        ddad_score_resize_bilinear(map, S, S, res->map, h, w);
    ddad_calib_normalize_map(&s->cal, res->map, res->map_normalized, n);
    res->w = w;
    res->h = h;
    res->score = score;
    res->threshold = (float)s->cal.image_threshold;
    res->pixel_threshold = (float)s->cal.pixel_threshold;
    res->is_anomalous = s->has_threshold && score > s->cal.image_threshold;
    res->normalized = (float)ddad_calib_normalize_score(&s->cal, score);
    return DDAD_OK;
}

/* Scores n images (any sizes) in batches of ddad_scorer_batch_size. */
static ddad_status_t score_images(ddad_scorer_t *s, const ddad_image_t *imgs, int n, ddad_scorer_result_t *res)
{
    for (int i = 0; i < n; i++)
        memset(&res[i], 0, sizeof res[i]);
    if (n < 1)
        return DDAD_OK;
    const int S = s->model.cfg.data.image_size, B = ddad_scorer_batch_size(s);
    const size_t chw = (size_t)3 * S * S, cap = (size_t)(n < B ? n : B);
    float *x = malloc(cap * chw * sizeof *x);
    int64_t *cls = malloc(cap * sizeof *cls), *ids = calloc(cap, sizeof *ids);
    ddad_image_t small = {0};
    ddad_score_maps_t r;
    memset(&r, 0, sizeof r);
    ddad_status_t st = DDAD_OK;
    if (!x || !cls || !ids) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "scorer: out of memory for a batch of %d images", B);
        goto fail;
    }
    for (int i0 = 0; i0 < n; i0 += B) {
        const int nb = n - i0 < B ? n - i0 : B;
        for (int j = 0; j < nb; j++) {
            const ddad_image_t *img = &imgs[i0 + j], *in = img;
            if (img->w != S || img->h != S) {
                DDAD_TRY(ddad_image_resize_bicubic(img, S, S, &small));
                in = &small;
            }
            ddad_image_to_chw(in, x + (size_t)j * chw);
            ddad_image_free(&small);
            cls[j] = s->class_id;
            ids[j] = 0; /* same noise for every image: a given image always gets the same map */
        }
        DDAD_TRY(ddad_score_images(&s->model, x, cls, ids, nb, &r));
        for (int j = 0; j < nb; j++)
            DDAD_TRY(fill_result(s, r.map + (size_t)j * S * S, r.score[j], S, imgs[i0 + j].w, imgs[i0 + j].h,
                                 &res[i0 + j]));
        ddad_score_maps_free(&r);
    }
fail:
    ddad_score_maps_free(&r);
    ddad_image_free(&small);
    free(x);
    free(cls);
    free(ids);
    if (st != DDAD_OK)
        for (int i = 0; i < n; i++)
            ddad_scorer_result_free(&res[i]);
    return st;
}

static ddad_status_t score_image(ddad_scorer_t *s, const ddad_image_t *img, ddad_scorer_result_t *res)
{
    return score_images(s, img, 1, res);
}

ddad_status_t ddad_scorer_score_rgb_batch(ddad_scorer_t *s, const uint8_t *const *rgb, const int *w, const int *h,
                                          int n, ddad_scorer_result_t *results)
{
    if (!s || !rgb || !w || !h || !results || n < 0)
        return ddad_fail(DDAD_STATUS_USAGE, "scorer: need a scorer, n RGB buffers, their sizes and n results");
    if (n == 0)
        return DDAD_OK;
    ddad_image_t *imgs = calloc((size_t)n, sizeof *imgs);
    if (!imgs)
        return ddad_fail(DDAD_STATUS_NOMEM, "scorer: out of memory");
    for (int i = 0; i < n; i++) {
        if (!rgb[i] || w[i] < 1 || h[i] < 1) {
            free(imgs);
            return ddad_fail(DDAD_STATUS_USAGE, "scorer: image %d has no buffer or a size of %dx%d", i, w[i], h[i]);
        }
        imgs[i] = (ddad_image_t){.w = w[i], .h = h[i], .c = 3, .data = (uint8_t *)rgb[i]};
    }
    ddad_status_t st = score_images(s, imgs, n, results);
    free(imgs);
    return st;
}

ddad_status_t ddad_scorer_score_rgb(ddad_scorer_t *s, const uint8_t *rgb, int w, int h, ddad_scorer_result_t *result)
{
    if (!s || !rgb || !result || w < 1 || h < 1)
        return ddad_fail(DDAD_STATUS_USAGE, "scorer: need a scorer, an RGB buffer and a positive size (got %dx%d)", w, h);
    ddad_image_t img = {.w = w, .h = h, .c = 3, .data = (uint8_t *)rgb};
    return score_image(s, &img, result);
}

ddad_status_t ddad_scorer_score_file(ddad_scorer_t *s, const char *path, ddad_scorer_result_t *result)
{
    if (!s || !path || !result)
        return ddad_fail(DDAD_STATUS_USAGE, "scorer: need a scorer, a path and a result");
    ddad_image_t img = {0};
    ddad_status_t st = ddad_image_load(&img, path, DDAD_IMAGE_RGB);
    if (st == DDAD_OK)
        st = score_image(s, &img, result);
    ddad_image_free(&img);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "scoring %s", path);
    return DDAD_OK;
}

bool ddad_scorer_has_threshold(const ddad_scorer_t *s) { return s && s->has_threshold; }
const char *ddad_scorer_run_dir(const ddad_scorer_t *s) { return s ? s->run_dir : ""; }
const char *ddad_scorer_category(const ddad_scorer_t *s) { return s ? s->category : ""; }
const char *ddad_scorer_category_dir(const ddad_scorer_t *s) { return s ? s->category_dir : ""; }

const char *ddad_scorer_feature_weights(const ddad_scorer_t *s)
{
    if (!s)
        return "";
    return s->model.has_features ? s->model.effnet.source : "none";
}

int ddad_scorer_category_count(const ddad_scorer_t *s)
{
    return s ? (int)ddad_config_categories(&s->model.cfg, NULL, 0) : 0;
}

ddad_status_t ddad_scorer_calibration(const ddad_scorer_t *s, ddad_scorer_calibration_t *out)
{
    if (!s || !out)
        return ddad_fail(DDAD_STATUS_USAGE, "scorer: need a scorer and an output");
    memset(out, 0, sizeof *out);
    out->image_threshold = out->pixel_threshold = NAN;
    if (!s->has_threshold)
        return ddad_fail(DDAD_STATUS_DATA, "%s holds no threshold for %s: run ddad-eval on the run, or "
                         "ddad-predict --calib DIR with good images", s->run_dir, s->category);
    out->image_threshold = (float)s->cal.image_threshold;
    out->pixel_threshold = (float)s->cal.pixel_threshold;
    snprintf(out->rule, sizeof out->rule, "%s", s->cal.rule);
    snprintf(out->source, sizeof out->source, "%s", s->cal.source);
    out->images = s->cal.images;
    out->defect_images = s->cal.defect_images;
    out->optimistic = s->cal.optimistic;
    out->seen_in_training = s->cal.seen_in_training;
    out->normalized = ddad_calib_has_statistics(&s->cal);
    return DDAD_OK;
}
ddad_status_t ddad_scorer_threshold_check(const ddad_scorer_t *s, ddad_scorer_threshold_check_t *out)
{
    if (!s || !out)
        return ddad_fail(DDAD_STATUS_USAGE, "scorer: need a scorer and an output");
    memset(out, 0, sizeof *out);
    out->image_fpr = out->image_recall = out->pixel_fpr_good_images = out->pixel_recall = NAN;
    if (!s->has_threshold || !s->cal.has_test_check)
        return ddad_fail(DDAD_STATUS_DATA, "%s: the thresholds of %s were not checked on a test split (they come "
                         "from ddad-predict --calib, or from an older ddad-eval)", s->run_dir, s->category);
    const ddad_calib_check_t *c = &s->cal.test_check;
    out->good_images = c->good_images;
    out->good_flagged = c->good_flagged;
    out->defective_images = c->defective_images;
    out->defective_flagged = c->defective_flagged;
    out->image_fpr = ddad_calib_rate(c->good_flagged, c->good_images);
    out->image_recall = ddad_calib_rate(c->defective_flagged, c->defective_images);
    out->pixel_fpr_good_images = ddad_calib_rate(c->good_image_flagged, c->good_image_pixels);
    out->pixel_recall = ddad_calib_rate(c->anomalous_flagged, c->anomalous_pixels);
    return DDAD_OK;
}
int ddad_scorer_image_size(const ddad_scorer_t *s) { return s ? s->model.cfg.data.image_size : 0; }
const char *ddad_scorer_checkpoint(const ddad_scorer_t *s) { return s ? s->checkpoint : ""; }

void ddad_scorer_result_free(ddad_scorer_result_t *result)
{
    if (!result)
        return;
    free(result->map);
    free(result->map_normalized);
    memset(result, 0, sizeof *result);
}

void ddad_scorer_close(ddad_scorer_t *s)
{
    if (!s)
        return;
    ddad_model_free(&s->model);
    ddad_reference_free(&s->reference);
    ddad_calib_file_free(&s->thresholds);
    free(s);
}
