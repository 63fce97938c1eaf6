/* core/nn/scorer.c - the deployment API of core/ddad.h on top of score.h. */
#include "../ddad.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../image.h"
#include "checkpoint.h"
#include "model.h"
#include "reference.h"
#include "score.h"

struct ddad_scorer {
    ddad_model_t model;
    char run_dir[DDAD_CONFIG_PATH_MAX];
    char checkpoint[DDAD_CONFIG_PATH_MAX];
    char category[DDAD_CONFIG_NAME_MAX];
    int64_t class_id;
    char *threshold_json;          /* threshold.json text, NULL when absent */
    bool has_threshold;
    float threshold, pixel_threshold;
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
    if (!strcmp(last, "checkpoints")) {
        if (slash)
            *slash = '\0';
        else
            snprintf(buf, cap, ".");
    }
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (n + 2 > cap) {
            cap = cap ? 2 * cap : 1024;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        buf[n++] = (char)c;
    }
    fclose(f);
    if (!buf)
        buf = calloc(1, 1);
    else
        buf[n] = '\0';
    return buf;
}

/* Reads "key": number after position from (NaN when absent or null). */
static double json_number_after(const char *from, const char *key)
{
    char pat[96];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(from, pat);
    if (!p)
        return NAN;
    p = strchr(p + strlen(pat), ':');
    if (!p)
        return NAN;
    char *end = NULL;
    double v = strtod(p + 1, &end);
    return end == p + 1 ? NAN : v;
}

/* Picks the thresholds of s->category from threshold.json: the entry
 * {"category": "<name>", "image_threshold": x, "pixel_threshold": y, ...}. */
static void select_threshold(ddad_scorer_t *s)
{
    s->has_threshold = false;
    s->threshold = s->pixel_threshold = NAN;
    if (!s->threshold_json)
        return;
    char pat[DDAD_CONFIG_NAME_MAX + 32];
    snprintf(pat, sizeof pat, "\"category\": \"%s\"", s->category);
    const char *p = strstr(s->threshold_json, pat);
    if (!p)
        return;
    const char *end = strchr(p, '}');
    double it = json_number_after(p, "image_threshold"), pt = json_number_after(p, "pixel_threshold");
    const char *ip = strstr(p, "\"image_threshold\"");
    if (!ip || (end && ip > end) || !isfinite(it))
        return;
    s->threshold = (float)it;
    s->pixel_threshold = isfinite(pt) ? (float)pt : NAN;
    s->has_threshold = true;
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
    s->class_id = idx;
    select_threshold(s);
    return DDAD_OK;
}

ddad_status_t ddad_scorer_open(ddad_scorer_t **out, const char *path, const char *device)
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
    if (device && *device) {
        if (strlen(device) >= sizeof cfg.device) {
            st = ddad_fail(DDAD_STATUS_USAGE, "scorer: device name '%s' is too long", device);
            goto fail;
        }
        snprintf(cfg.device, sizeof cfg.device, "%s", device);
    }
    DDAD_TRY(ddad_runtime_setup(&cfg));
    unsigned flags = DDAD_MODEL_WITH_EMA | DDAD_MODEL_NO_INIT;
    if (cfg.score.method == DDAD_SCORE_METHOD_DDAD)
        flags |= DDAD_MODEL_WITH_FEATURES;
    DDAD_TRY(ddad_model_create(&s->model, &cfg, flags));
    DDAD_TRY(ddad_checkpoint_load(s->checkpoint, &s->model, NULL, NULL, NULL));
    char tpath[DDAD_CONFIG_PATH_MAX + 32];
    snprintf(tpath, sizeof tpath, "%s/threshold.json", s->run_dir);
    s->threshold_json = read_text(tpath);
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

static ddad_status_t score_image(ddad_scorer_t *s, const ddad_image_t *img, ddad_scorer_result_t *res)
{
    memset(res, 0, sizeof *res);
    const int S = s->model.cfg.data.image_size;
    ddad_image_t small = {0};
    float *x = NULL;
    ddad_score_maps_t r;
    memset(&r, 0, sizeof r);
    ddad_status_t st = DDAD_OK;
    const ddad_image_t *in = img;
    if (img->w != S || img->h != S) {
        DDAD_TRY(ddad_image_resize_bicubic(img, S, S, &small));
        in = &small;
    }
    if (!(x = malloc((size_t)3 * S * S * sizeof *x))) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "scorer: out of memory");
        goto fail;
    }
    ddad_image_to_chw(in, x);
    int64_t cls = s->class_id, id = 0;
    DDAD_TRY(ddad_score_images(&s->model, x, &cls, &id, 1, &r));
    res->map = malloc((size_t)img->w * (size_t)img->h * sizeof *res->map);
    if (!res->map) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "scorer: out of memory");
        goto fail;
    }
    if (img->w == S && img->h == S)
        memcpy(res->map, r.map, (size_t)S * S * sizeof *res->map);
    else
        ddad_score_resize_bilinear(r.map, S, S, res->map, img->h, img->w);
    res->w = img->w;
    res->h = img->h;
    res->score = r.score[0];
    res->threshold = s->threshold;
    res->pixel_threshold = s->pixel_threshold;
    res->is_anomalous = s->has_threshold && res->score > s->threshold;
fail:
    ddad_score_maps_free(&r);
    ddad_image_free(&small);
    free(x);
    if (st != DDAD_OK)
        ddad_scorer_result_free(res);
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
int ddad_scorer_image_size(const ddad_scorer_t *s) { return s ? s->model.cfg.data.image_size : 0; }
const char *ddad_scorer_checkpoint(const ddad_scorer_t *s) { return s ? s->checkpoint : ""; }

void ddad_scorer_result_free(ddad_scorer_result_t *result)
{
    if (!result)
        return;
    free(result->map);
    memset(result, 0, sizeof *result);
}

void ddad_scorer_close(ddad_scorer_t *s)
{
    if (!s)
        return;
    ddad_model_free(&s->model);
    ddad_reference_free(&s->reference);
    free(s->threshold_json);
    free(s);
}
