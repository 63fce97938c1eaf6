/* core/report/calib.c - see calib.h */
#include "calib.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "csv.h"
#include "metrics.h"
#include "report.h"
#include "run.h"

/* ---- rules ------------------------------------------------------------ */

static const char RULE_FORMS[] = "max, quantile:Q (0 <= Q <= 1), fpr:F (0 <= F < 1) or f1";

static bool parse_fraction(const char *s, double *v)
{
    char *end = NULL;
    errno = 0;
    *v = strtod(s, &end);
    return *s && end && !*end && errno == 0 && isfinite(*v);
}

ddad_status_t ddad_calib_rule_parse(const char *text, ddad_calib_rule_t *out)
{
    memset(out, 0, sizeof *out);
    if (!text)
        text = "";
    double v = 0;
    if (!strcmp(text, "max")) {
        out->kind = DDAD_CALIB_RULE_MAX;
    } else if (!strcmp(text, "f1")) {
        out->kind = DDAD_CALIB_RULE_F1;
    } else if (!strncmp(text, "quantile:", 9)) {
        if (!parse_fraction(text + 9, &v) || v < 0 || v > 1)
            return ddad_fail(DDAD_STATUS_CONFIG, "threshold rule '%s': Q must be a number from 0 to 1 (e.g. "
                             "quantile:0.99)", text);
        out->kind = DDAD_CALIB_RULE_QUANTILE;
        out->value = v;
    } else if (!strncmp(text, "fpr:", 4)) {
        if (!parse_fraction(text + 4, &v) || v < 0 || v >= 1)
            return ddad_fail(DDAD_STATUS_CONFIG, "threshold rule '%s': F must be a false-positive rate in [0, 1) "
                             "(e.g. fpr:0.01)", text);
        out->kind = DDAD_CALIB_RULE_FPR;
        out->value = v;
    } else {
        return ddad_fail(DDAD_STATUS_CONFIG, "unknown threshold rule '%s' (use %s)", text, RULE_FORMS);
    }
    return DDAD_OK;
}

void ddad_calib_rule_format(const ddad_calib_rule_t *rule, char *buf, size_t cap)
{
    switch (rule->kind) {
    case DDAD_CALIB_RULE_QUANTILE:
        snprintf(buf, cap, "quantile:%.6g", rule->value);
        break;
    case DDAD_CALIB_RULE_FPR:
        snprintf(buf, cap, "fpr:%.6g", rule->value);
        break;
    case DDAD_CALIB_RULE_F1:
        snprintf(buf, cap, "f1");
        break;
    default:
        snprintf(buf, cap, "max");
    }
}

/* ---- fitting ---------------------------------------------------------- */

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static ddad_status_t check_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return ddad_fail(DDAD_STATUS_NUMERIC, "calibration: value %zu is %g; anomaly scores must be finite", i,
                             (double)v[i]);
    return DDAD_OK;
}

ddad_status_t ddad_calib_threshold(const ddad_calib_rule_t *rule, const float *v, const uint8_t *labels, size_t n,
                                   double *threshold)
{
    *threshold = NAN;
    ddad_status_t st = check_finite(v, n);
    if (st != DDAD_OK)
        return st;
    size_t n_good = 0, n_bad = 0;
    for (size_t i = 0; i < n; i++) {
        bool bad = labels && labels[i];
        n_bad += bad;
        n_good += !bad;
    }
    if (rule->kind == DDAD_CALIB_RULE_F1) {
        if (n_bad == 0)
            return ddad_fail(DDAD_STATUS_CONFIG,
                             "threshold rule f1 needs labelled defective examples, and the calibration set has only "
                             "good ones: the F1-maximal threshold over good images alone is the one that calls every "
                             "image anomalous (F1 of an empty positive class). Use max, quantile:Q or fpr:F with good "
                             "images, or give defective images with masks (ddad-predict --calib DIR with DIR/good and "
                             "DIR/<defect> folders, or eval.threshold_rule f1 in ddad-eval, fitted on the test split and labelled optimistic)");
        if (n_good == 0)
            return ddad_fail(DDAD_STATUS_CONFIG, "threshold rule f1 needs good images as well as defective ones");
        ddad_image_metrics_t m;
        st = ddad_metrics_image_eval(v, labels, n, &m);
        if (st != DDAD_OK)
            return st;
        /* the sweep flags values >= its threshold; stored thresholds flag values > t */
        *threshold = (double)nextafterf((float)m.f1_threshold, -INFINITY);
        return DDAD_OK;
    }
    if (n_good == 0)
        return ddad_fail(DDAD_STATUS_DATA, "calibration: no good image to fit a threshold on");
    float *g = malloc(n_good * sizeof *g);
    if (!g)
        return ddad_fail(DDAD_STATUS_NOMEM, "calibration: out of memory for %zu values", n_good);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!(labels && labels[i]))
            g[k++] = v[i];
    qsort(g, n_good, sizeof *g, cmp_float);
    if (rule->kind == DDAD_CALIB_RULE_QUANTILE) {
        double pos = rule->value * (double)(n_good - 1);
        size_t lo = (size_t)floor(pos);
        if (lo >= n_good - 1)
            *threshold = g[n_good - 1];
        else
            *threshold = (double)g[lo] + (pos - (double)lo) * ((double)g[lo + 1] - (double)g[lo]);
    } else if (rule->kind == DDAD_CALIB_RULE_FPR) {
        size_t allowed = (size_t)floor(rule->value * (double)n_good + 1e-9);
        if (allowed > n_good - 1)
            allowed = n_good - 1;
        *threshold = g[n_good - 1 - allowed];
    } else {
        *threshold = g[n_good - 1];
    }
    free(g);
    return DDAD_OK;
}

static void min_max(const float *v, size_t n, double *lo, double *hi)
{
    float a = INFINITY, b = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < a)
            a = v[i];
        if (v[i] > b)
            b = v[i];
    }
    *lo = n ? a : NAN;
    *hi = n ? b : NAN;
}

ddad_status_t ddad_calib_fit(const ddad_calib_rule_t *rule, const ddad_calib_set_t *set, ddad_calibration_t *out)
{
    char category[sizeof out->category], source[sizeof out->source];
    snprintf(category, sizeof category, "%s", out->category);
    snprintf(source, sizeof source, "%s", out->source);
    memset(out, 0, sizeof *out);
    snprintf(out->category, sizeof out->category, "%s", category);
    snprintf(out->source, sizeof out->source, "%s", source);
    out->image_threshold = out->pixel_threshold = NAN;
    out->image_min = out->image_max = out->pixel_min = out->pixel_max = NAN;
    ddad_calib_rule_format(rule, out->rule, sizeof out->rule);
    if (!set || !set->scores || set->n == 0)
        return ddad_fail(DDAD_STATUS_DATA, "calibration: no image to fit a threshold on");
    for (size_t i = 0; i < set->n; i++) {
        bool bad = set->labels && set->labels[i];
        out->defect_images += bad;
        out->images += !bad;
    }
    ddad_status_t st = ddad_calib_threshold(rule, set->scores, set->labels, set->n, &out->image_threshold);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "image threshold");
    min_max(set->scores, set->n, &out->image_min, &out->image_max);
    if (!set->maps || set->hw == 0)
        return DDAD_OK;
    const size_t total = set->n * set->hw;
    if ((st = check_finite(set->maps, total)) != DDAD_OK)
        return ddad_fail_context(st, "anomaly maps");
    min_max(set->maps, total, &out->pixel_min, &out->pixel_max);
    if (rule->kind == DDAD_CALIB_RULE_F1 && set->masks) {
        st = ddad_calib_threshold(rule, set->maps, set->masks, total, &out->pixel_threshold);
    } else {
        /* pixel thresholds of max/quantile/fpr over the good images' pixels;
         * f1 without masks falls back to max over the good maps */
        ddad_calib_rule_t pr = *rule;
        if (rule->kind == DDAD_CALIB_RULE_F1) {
            pr.kind = DDAD_CALIB_RULE_MAX;
            snprintf(out->rule, sizeof out->rule, "f1 (pixels: max, no masks)");
        }
        uint8_t *good_px = NULL;
        if (set->labels) {
            if (!(good_px = malloc(total)))
                return ddad_fail(DDAD_STATUS_NOMEM, "calibration: out of memory");
            for (size_t i = 0; i < set->n; i++)
                memset(good_px + i * set->hw, set->labels[i] ? 1 : 0, set->hw);
        }
        st = ddad_calib_threshold(&pr, set->maps, good_px, total, &out->pixel_threshold);
        free(good_px);
    }
    if (st != DDAD_OK)
        return ddad_fail_context(st, "pixel threshold");
    return DDAD_OK;
}

/* ---- normalisation ---------------------------------------------------- */

double ddad_calib_normalize(double x, double t, double lo, double hi)
{
    if (!isfinite(t) || !isfinite(lo) || !isfinite(hi) || isnan(x))
        return NAN;
    double range = hi > lo ? hi - lo : 1.0;
    double u = (x - t) / range + 0.5;
    return u < 0 ? 0 : u > 1 ? 1 : u;
}

double ddad_calib_normalize_score(const ddad_calibration_t *c, double score)
{
    return ddad_calib_normalize(score, c->image_threshold, c->image_min, c->image_max);
}

void ddad_calib_normalize_map(const ddad_calibration_t *c, const float *in, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (float)ddad_calib_normalize(in[i], c->pixel_threshold, c->pixel_min, c->pixel_max);
}

bool ddad_calib_has_statistics(const ddad_calibration_t *c)
{
    return c && isfinite(c->image_threshold) && isfinite(c->image_min) && isfinite(c->image_max) &&
           isfinite(c->pixel_threshold) && isfinite(c->pixel_min) && isfinite(c->pixel_max);
}

/* ---- how a threshold does on labelled images ---------------------------- */

double ddad_calib_rate(int64_t part, int64_t whole)
{
    return whole > 0 ? (double)part / (double)whole : NAN;
}

void ddad_calib_check_add(const ddad_calibration_t *cal, ddad_calib_check_t *check, float score, uint8_t label,
                          const float *map, const uint8_t *mask, size_t hw)
{
    /* a comparison with NaN is false: a NaN threshold flags nothing */
    const bool flagged = (double)score > cal->image_threshold;
    if (label) {
        check->defective_images++;
        check->defective_flagged += flagged;
    } else {
        check->good_images++;
        check->good_flagged += flagged;
    }
    if (!map)
        return;
    const double t = cal->pixel_threshold;
    for (size_t q = 0; q < hw; q++) {
        const bool hit = (double)map[q] > t;
        if (mask && mask[q]) {
            check->anomalous_pixels++;
            check->anomalous_flagged += hit;
        } else {
            check->normal_pixels++;
            check->normal_flagged += hit;
            if (!label) {
                check->good_image_pixels++;
                check->good_image_flagged += hit;
            }
        }
    }
}

/* ---- calibration.csv --------------------------------------------------- */

typedef struct score_rows {
    const ddad_calibration_t *cal;
    const char *const *names;
    const uint8_t *labels;
    const float *scores;
    size_t n;
} score_rows_t;

static ddad_status_t write_score_rows(FILE *f, void *user)
{
    const score_rows_t *r = user;
    fputs("name,label,score,above_threshold\n", f);
    for (size_t i = 0; i < r->n; i++) {
        ddad_csv_field(f, r->names[i]);
        fprintf(f, ",%s,%.9g,%d\n", r->labels && r->labels[i] ? "defective" : "good", (double)r->scores[i],
                (double)r->scores[i] > r->cal->image_threshold);
    }
    return ferror(f) ? ddad_fail(DDAD_STATUS_IO, "write failed") : DDAD_OK;
}

ddad_status_t ddad_calib_write_scores(const char *path, const ddad_calibration_t *cal, const char *const *names,
                                      const uint8_t *labels, const float *scores, size_t n)
{
    score_rows_t rows = {.cal = cal, .names = names, .labels = labels, .scores = scores, .n = n};
    return ddad_run_write_atomic(path, write_score_rows, &rows);
}

/* ---- threshold.json --------------------------------------------------- */

/* threshold.json's "test_check" keys: the counts of a ddad_calib_check_t. */
static const struct {
    const char *key;
    size_t offset;
} check_fields[] = {
    {"good_images", offsetof(ddad_calib_check_t, good_images)},
    {"good_flagged", offsetof(ddad_calib_check_t, good_flagged)},
    {"defective_images", offsetof(ddad_calib_check_t, defective_images)},
    {"defective_flagged", offsetof(ddad_calib_check_t, defective_flagged)},
    {"normal_pixels", offsetof(ddad_calib_check_t, normal_pixels)},
    {"normal_flagged", offsetof(ddad_calib_check_t, normal_flagged)},
    {"good_image_pixels", offsetof(ddad_calib_check_t, good_image_pixels)},
    {"good_image_flagged", offsetof(ddad_calib_check_t, good_image_flagged)},
    {"anomalous_pixels", offsetof(ddad_calib_check_t, anomalous_pixels)},
    {"anomalous_flagged", offsetof(ddad_calib_check_t, anomalous_flagged)},
};
#define N_CHECK_FIELDS (sizeof check_fields / sizeof check_fields[0])

static int64_t *check_field(ddad_calib_check_t *c, size_t i) { return (int64_t *)((char *)c + check_fields[i].offset); }


void ddad_calib_path(char *buf, size_t cap, const char *run_dir)
{
    ddad_run_path(buf, cap, run_dir, NULL, DDAD_RUN_THRESHOLDS);
}

void ddad_calib_file_free(ddad_calib_file_t *f)
{
    if (!f)
        return;
    free(f->entries);
    memset(f, 0, sizeof *f);
}

const ddad_calibration_t *ddad_calib_file_find(const ddad_calib_file_t *f, const char *category)
{
    for (size_t i = 0; f && i < f->n; i++)
        if (!strcmp(f->entries[i].category, category))
            return &f->entries[i];
    return NULL;
}

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static double number(const char *s)
{
    if (!s || !strcmp(s, "null"))
        return NAN;
    char *end = NULL;
    double v = strtod(s, &end);
    return end != s ? v : NAN;
}

/* Fills a test_check object; false when it is not an object of counts. */
static bool read_check(yaml_document_t *doc, yaml_node_t *obj, ddad_calib_check_t *c)
{
    memset(c, 0, sizeof *c);
    if (!obj || obj->type != YAML_MAPPING_NODE)
        return false;
    for (yaml_node_pair_t *p = obj->data.mapping.pairs.start; p < obj->data.mapping.pairs.top; p++) {
        const char *k = scalar(yaml_document_get_node(doc, p->key));
        const char *v = scalar(yaml_document_get_node(doc, p->value));
        for (size_t i = 0; k && i < N_CHECK_FIELDS; i++) {
            if (strcmp(k, check_fields[i].key))
                continue;
            char *end = NULL;
            long long n = v ? strtoll(v, &end, 10) : -1;
            if (!v || end == v || *end || n < 0)
                return false;
            *check_field(c, i) = n;
        }
    }
    return true;
}

/* Fills one entry from its JSON object; returns false when malformed. */
static bool read_entry(yaml_document_t *doc, yaml_node_t *obj, ddad_calibration_t *e, const char *default_source)
{
    if (!obj || obj->type != YAML_MAPPING_NODE)
        return false;
    memset(e, 0, sizeof *e);
    e->image_threshold = e->pixel_threshold = NAN;
    e->image_min = e->image_max = e->pixel_min = e->pixel_max = NAN;
    snprintf(e->rule, sizeof e->rule, "max");
    ddad_text_copy(e->source, sizeof e->source, default_source);
    bool has_category = false, has_seen = false;
    for (yaml_node_pair_t *p = obj->data.mapping.pairs.start; p < obj->data.mapping.pairs.top; p++) {
        const char *k = scalar(yaml_document_get_node(doc, p->key));
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        const char *v = scalar(vn);
        if (k && !strcmp(k, "test_check")) {
            if (!read_check(doc, vn, &e->test_check))
                return false;
            e->has_test_check = true;
            continue;
        }
        if (!k || !v)
            continue;
        if (!strcmp(k, "category")) {
            ddad_text_copy(e->category, sizeof e->category, v);
            has_category = *v != '\0';
        } else if (!strcmp(k, "rule"))
            ddad_text_copy(e->rule, sizeof e->rule, v);
        else if (!strcmp(k, "source"))
            ddad_text_copy(e->source, sizeof e->source, v);
        else if (!strcmp(k, "image_threshold"))
            e->image_threshold = number(v);
        else if (!strcmp(k, "pixel_threshold"))
            e->pixel_threshold = number(v);
        else if (!strcmp(k, "image_min"))
            e->image_min = number(v);
        else if (!strcmp(k, "image_max"))
            e->image_max = number(v);
        else if (!strcmp(k, "pixel_min"))
            e->pixel_min = number(v);
        else if (!strcmp(k, "pixel_max"))
            e->pixel_max = number(v);
        else if (!strcmp(k, "images"))
            e->images = atoi(v);
        else if (!strcmp(k, "defect_images"))
            e->defect_images = atoi(v);
        else if (!strcmp(k, "optimistic"))
            e->optimistic = !strcmp(v, "true");
        else if (!strcmp(k, "seen_in_training")) {
            e->seen_in_training = !strcmp(v, "true");
            has_seen = true;
        }
    }
    if (!has_seen) /* written before the key existed: ddad-eval said so in the source */
        e->seen_in_training = strstr(e->source, DDAD_CALIB_SEEN_MARK) != NULL;
    return has_category;
}

ddad_status_t ddad_calib_file_read(const char *path, ddad_calib_file_t *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return ddad_fail(DDAD_STATUS_IO, "cannot read %s: %s", path, strerror(errno));
    yaml_parser_t parser;
    yaml_document_t doc;
    memset(&doc, 0, sizeof doc);
    ddad_status_t st = DDAD_OK;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return ddad_fail(DDAD_STATUS_NOMEM, "%s: cannot start the JSON parser", path);
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: not valid JSON (line %zu: %s); delete it and run ddad-eval or "
                       "ddad-predict --calib again", path, parser.problem_mark.line + 1,
                       parser.problem ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        fclose(f);
        return st;
    }
    yaml_parser_delete(&parser);
    fclose(f);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *list = NULL;
    const char *format = NULL, *version = NULL, *source = NULL, *checkpoint = NULL;
    if (!root || root->type != YAML_MAPPING_NODE) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: not a thresholds file (expected a JSON object)", path);
        goto done;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        const char *k = scalar(yaml_document_get_node(&doc, p->key));
        yaml_node_t *vn = yaml_document_get_node(&doc, p->value);
        if (!k)
            continue;
        if (!strcmp(k, "format"))
            format = scalar(vn);
        else if (!strcmp(k, "format_version"))
            version = scalar(vn);
        else if (!strcmp(k, "source"))
            source = scalar(vn);
        else if (!strcmp(k, "checkpoint"))
            checkpoint = scalar(vn);
        else if (!strcmp(k, "thresholds"))
            list = vn;
    }
    if (!format || strcmp(format, DDAD_CALIB_FORMAT)) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: format is \"%s\", expected \"%s\"", path, format ? format : "(none)",
                       DDAD_CALIB_FORMAT);
        goto done;
    }
    out->format_version = version ? atoi(version) : 0;
    if (out->format_version < 1 || out->format_version > DDAD_CALIB_VERSION) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: format_version %s is not supported (this build reads 1 to %d)", path,
                       version ? version : "(none)", DDAD_CALIB_VERSION);
        goto done;
    }
    ddad_text_copy(out->checkpoint, sizeof out->checkpoint, checkpoint ? checkpoint : "");
    if (!list || list->type != YAML_SEQUENCE_NODE) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: no \"thresholds\" list", path);
        goto done;
    }
    size_t cap = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    out->entries = calloc(cap ? cap : 1, sizeof *out->entries);
    if (!out->entries) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
        if (!read_entry(&doc, yaml_document_get_node(&doc, *it), &out->entries[out->n],
                        source ? source : "good images")) {
            st = ddad_fail(DDAD_STATUS_DATA, "%s: threshold entry %zu has no category, or a test_check that "
                           "is not an object of counts", path, out->n + 1);
            goto done;
        }
        out->n++;
    }
done:
    yaml_document_delete(&doc);
    if (st != DDAD_OK)
        ddad_calib_file_free(out);
    return st;
}

typedef struct writer_ctx {
    const char *checkpoint;
    const ddad_calibration_t *entries;
    size_t n;
} writer_ctx_t;

static ddad_status_t write_file(FILE *f, void *user)
{
    const writer_ctx_t *w = user;
    fprintf(f, "{\n  \"format\": \"%s\", \"format_version\": %d,\n  \"checkpoint\": ", DDAD_CALIB_FORMAT,
            DDAD_CALIB_VERSION);
    ddad_json_string(f, w->checkpoint ? w->checkpoint : "");
    fputs(",\n  \"thresholds\": [\n", f);
    for (size_t i = 0; i < w->n; i++) {
        const ddad_calibration_t *e = &w->entries[i];
        fputs("    {\"category\": ", f);
        ddad_json_string(f, e->category);
        fputs(", \"rule\": ", f);
        ddad_json_string(f, e->rule);
        const struct {
            const char *k;
            double v;
        } nums[] = {{"image_threshold", e->image_threshold}, {"pixel_threshold", e->pixel_threshold},
                    {"image_min", e->image_min},             {"image_max", e->image_max},
                    {"pixel_min", e->pixel_min},             {"pixel_max", e->pixel_max}};
        for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++) {
            fprintf(f, ",\n     \"%s\": ", nums[k].k);
            ddad_json_number(f, nums[k].v);
        }
        fprintf(f, ",\n     \"images\": %d, \"defect_images\": %d, \"optimistic\": %s, \"seen_in_training\": %s,"
                   "\n     \"source\": ",
                e->images, e->defect_images, e->optimistic ? "true" : "false", e->seen_in_training ? "true" : "false");
        ddad_json_string(f, e->source);
        if (e->has_test_check) {
            ddad_calib_check_t c = e->test_check;
            fputs(",\n     \"test_check\": {", f);
            for (size_t k = 0; k < N_CHECK_FIELDS; k++)
                fprintf(f, "%s\"%s\": %lld", k ? ", " : "", check_fields[k].key, (long long)*check_field(&c, k));
            fputc('}', f);
        }
        fprintf(f, "}%s\n", i + 1 < w->n ? "," : "");
    }
    fputs("  ]\n}\n", f);
    return ferror(f) ? ddad_fail(DDAD_STATUS_IO, "write failed") : DDAD_OK;
}

ddad_status_t ddad_calib_file_update(const char *path, const char *checkpoint, const ddad_calibration_t *entries,
                                     size_t n)
{
    ddad_calib_file_t old;
    memset(&old, 0, sizeof old);
    FILE *probe = fopen(path, "rb");
    if (probe) {
        fclose(probe);
        if (ddad_calib_file_read(path, &old) != DDAD_OK) {
            ddad_log(DDAD_LOG_WARN, "%s is not a readable thresholds file (%s); it is replaced", path,
                     ddad_last_error());
            memset(&old, 0, sizeof old);
        }
    }
    ddad_calibration_t *all = calloc(old.n + n + 1, sizeof *all);
    if (!all) {
        ddad_calib_file_free(&old);
        return ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory", path);
    }
    size_t m = 0;
    for (size_t i = 0; i < old.n; i++)
        all[m++] = old.entries[i];
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < m && strcmp(all[j].category, entries[i].category))
            j++;
        all[j] = entries[i];
        if (j == m)
            m++;
    }
    writer_ctx_t w = {.checkpoint = checkpoint, .entries = all, .n = m};
    ddad_status_t st = ddad_run_write_atomic(path, write_file, &w);
    free(all);
    ddad_calib_file_free(&old);
    return st;
}
