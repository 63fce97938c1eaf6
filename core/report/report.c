/* core/report/report.c - see report.h */
#include "report.h"

#include "calib.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ddad_version.h"
#include "mapsfile.h"
#include "metrics.h"
#include "run.h"

ddad_status_t ddad_report_format_parse(const char *s, ddad_report_format_t *fmt)
{
    static const char *names[] = {"table", "csv", "json"};
    for (int k = 0; k < 3; k++)
        if (s && !strcmp(s, names[k])) {
            *fmt = (ddad_report_format_t)k;
            return DDAD_OK;
        }
    return ddad_fail(DDAD_STATUS_USAGE, "unknown report format \"%s\" (use table, csv or json)", s ? s : "(null)");
}

/* ---- table --------------------------------------------------------------- */

/* The columns shown in percent in the table: offset into the record. */
static const struct {
    const char *title;
    size_t offset;
} pct_cols[] = {
    {"I-AUROC", offsetof(ddad_metrics_record_t, image_auroc)},
    {"P-AUROC", offsetof(ddad_metrics_record_t, pixel_auroc)},
    {"AU-PRO", offsetof(ddad_metrics_record_t, au_pro)},
    {"P-F1max", offsetof(ddad_metrics_record_t, pixel_f1_max)},
    {"I-F1max", offsetof(ddad_metrics_record_t, image_f1_max)},
};
#define NPCT (sizeof pct_cols / sizeof pct_cols[0])

static double col(const ddad_metrics_record_t *r, size_t k)
{
    return *(const double *)((const char *)r + pct_cols[k].offset);
}

static void pct_cell(FILE *out, double v)
{
    if (isnan(v))
        fprintf(out, " %8s", "-");
    else
        fprintf(out, " %8.1f", 100.0 * v);
}

static void table_rule(FILE *out, int name_w)
{
    for (int k = 0; k < name_w + 8 + 9 * (int)NPCT; k++)
        fputc('-', out);
    fputc('\n', out);
}

static void write_table(FILE *out, const ddad_metrics_record_t *recs, size_t n)
{
    int name_w = 8;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(recs[i].category) > name_w)
            name_w = (int)strlen(recs[i].category);
    fprintf(out, "%-*s %6s", name_w, "category", "images");
    for (size_t k = 0; k < NPCT; k++)
        fprintf(out, " %8s", pct_cols[k].title);
    fputc('\n', out);
    table_rule(out, name_w);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%-*s %6lld", name_w, recs[i].category, (long long)recs[i].images);
        for (size_t k = 0; k < NPCT; k++)
            pct_cell(out, col(&recs[i], k));
        fputc('\n', out);
    }
    if (n > 1) {
        long long images = 0;
        for (size_t i = 0; i < n; i++)
            images += recs[i].images;
        table_rule(out, name_w);
        fprintf(out, "%-*s %6lld", name_w, "mean", images);
        for (size_t k = 0; k < NPCT; k++) {
            double sum = 0.0;
            int cnt = 0;
            for (size_t i = 0; i < n; i++)
                if (!isnan(col(&recs[i], k)))
                    sum += col(&recs[i], k), cnt++;
            pct_cell(out, cnt ? sum / cnt : NAN);
        }
        fputc('\n', out);
    }
    double limit = n ? recs[0].au_pro_limit : NAN;
    if (n && !isnan(limit))
        fprintf(out, "AU-PRO integrated up to FPR %g; values in percent\n", limit);
    for (size_t i = 0; i < n; i++)
        if (recs[i].notes[0])
            fprintf(out, "note: %s: %s\n", recs[i].category, recs[i].notes);
}

/* ---- CSV and JSON ----------------------------------------------------------- */

static void num_or(FILE *out, double v, const char *missing)
{
    if (isnan(v) || isinf(v))
        fputs(missing, out);
    else
        fprintf(out, "%.10g", v);
}

/* A CSV field: quoted, with doubled quotes. */
static void csv_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

/* Length of the well-formed UTF-8 character at s (1 to 4 bytes), 0 when
 * the bytes there are not one (a stray continuation byte, an overlong or
 * surrogate form, a sequence cut short). */
static size_t utf8_char_len(const unsigned char *s)
{
    const unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] > 0x8f))
        return 0;
    return n;
}

/* The code point of the well-formed k-byte character at s (k <= 3 here). */
static unsigned long code_point(const unsigned char *s, size_t k)
{
    if (k == 1)
        return s[0];
    if (k == 2)
        return ((unsigned long)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
    return ((unsigned long)(s[0] & 0x0f) << 12) | ((unsigned long)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
}

/* Characters a YAML reader (libyaml reads ddad's JSON files) would refuse
 * or fold when written as they are: DEL, the C1 controls (NEL among them),
 * the line and paragraph separators, the byte-order mark and the
 * non-characters U+FFFE, U+FFFF. As JSON escapes (a backslash, u and
 * four hex digits) they read back unchanged. */
static bool needs_escape(const unsigned char *s, size_t k)
{
    if (k > 3)
        return false;
    const unsigned long c = code_point(s, k);
    return c == 0x7f || (c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 || c == 0xfeff || c == 0xfffe ||
           c == 0xffff;
}

void ddad_text_copy(char *dst, size_t cap, const char *src)
{
    if (cap == 0)
        return;
    size_t n = 0;
    const unsigned char *s = (const unsigned char *)src;
    while (s[n]) {
        size_t k = utf8_char_len(s + n);
        k = k ? k : 1; /* a malformed byte is copied alone: it cannot be split */
        if (n + k > cap - 1)
            break;
        n += k;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void ddad_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        const unsigned char c = *p;
        const size_t k = utf8_char_len(p);
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else if (k == 0) /* not UTF-8: JSON readers would refuse the file */
            fputs("\\ufffd", out);
        else if (needs_escape(p, k))
            fprintf(out, "\\u%04x", (unsigned)code_point(p, k));
        else
            fwrite(p, 1, k, out);
        p += k ? k : 1;
    }
    fputc('"', out);
}

void ddad_json_number(FILE *out, double v)
{
    if (isfinite(v))
        fprintf(out, "%.10g", v);
    else
        fputs("null", out);
}

/* The numeric fields in output order (CSV columns and JSON keys). */
static const struct {
    const char *name;
    size_t offset;
} num_fields[] = {
    {"image_auroc", offsetof(ddad_metrics_record_t, image_auroc)},
    {"pixel_auroc", offsetof(ddad_metrics_record_t, pixel_auroc)},
    {"au_pro", offsetof(ddad_metrics_record_t, au_pro)},
    {"au_pro_limit", offsetof(ddad_metrics_record_t, au_pro_limit)},
    {"pixel_f1_max", offsetof(ddad_metrics_record_t, pixel_f1_max)},
    {"pixel_f1_threshold", offsetof(ddad_metrics_record_t, pixel_f1_threshold)},
    {"image_f1_max", offsetof(ddad_metrics_record_t, image_f1_max)},
    {"image_f1_threshold", offsetof(ddad_metrics_record_t, image_f1_threshold)},
};
#define NNUM (sizeof num_fields / sizeof num_fields[0])

static double field(const ddad_metrics_record_t *r, size_t k)
{
    return *(const double *)((const char *)r + num_fields[k].offset);
}

static void write_csv(FILE *out, const ddad_metrics_record_t *recs, size_t n)
{
    fputs("category,images", out);
    for (size_t k = 0; k < NNUM; k++)
        fprintf(out, ",%s", num_fields[k].name);
    fputs(",notes\n", out);
    for (size_t i = 0; i < n; i++) {
        csv_str(out, recs[i].category);
        fprintf(out, ",%lld", (long long)recs[i].images);
        for (size_t k = 0; k < NNUM; k++) {
            fputc(',', out);
            num_or(out, field(&recs[i], k), "");
        }
        fputc(',', out);
        csv_str(out, recs[i].notes);
        fputc('\n', out);
    }
}

static void write_json(FILE *out, const ddad_metrics_record_t *recs, size_t n)
{
    fputs("[\n", out);
    for (size_t i = 0; i < n; i++) {
        fputs("  {\"category\": ", out);
        ddad_json_string(out, recs[i].category);
        fprintf(out, ", \"images\": %lld", (long long)recs[i].images);
        for (size_t k = 0; k < NNUM; k++) {
            fprintf(out, ", \"%s\": ", num_fields[k].name);
            num_or(out, field(&recs[i], k), "null");
        }
        fputs(", \"notes\": ", out);
        ddad_json_string(out, recs[i].notes);
        fputs(i + 1 < n ? "},\n" : "}\n", out);
    }
    fputs("]\n", out);
}

ddad_status_t ddad_report_write(FILE *out, const ddad_metrics_record_t *recs, size_t n, ddad_report_format_t fmt)
{
    switch (fmt) {
    case DDAD_REPORT_TABLE: write_table(out, recs, n); break;
    case DDAD_REPORT_CSV: write_csv(out, recs, n); break;
    case DDAD_REPORT_JSON: write_json(out, recs, n); break;
    default: return ddad_fail(DDAD_STATUS_USAGE, "report: unknown format %d", (int)fmt);
    }
    if (fflush(out) != 0 || ferror(out))
        return ddad_fail(DDAD_STATUS_IO, "report: writing the %s failed", fmt == DDAD_REPORT_CSV ? "CSV" : fmt == DDAD_REPORT_JSON ? "JSON" : "table");
    return DDAD_OK;
}

/* ---- from a maps file ----------------------------------------------------- */

void ddad_metrics_add_note(ddad_metrics_record_t *rec, const char *note)
{
    size_t len = strlen(rec->notes);
    if (!note || !*note || len + 3 >= sizeof rec->notes)
        return;
    snprintf(rec->notes + len, sizeof rec->notes - len, "%s%s", len ? "; " : "", note);
}

void ddad_metrics_record_init(ddad_metrics_record_t *rec, const char *category, double pro_limit)
{
    memset(rec, 0, sizeof *rec);
    snprintf(rec->category, sizeof rec->category, "%s", category ? category : "");
    rec->image_auroc = rec->pixel_auroc = rec->au_pro = NAN;
    rec->pixel_f1_max = rec->pixel_f1_threshold = rec->image_f1_max = rec->image_f1_threshold = NAN;
    rec->au_pro_limit = pro_limit;
}

ddad_status_t ddad_metrics_from_mapsfile(const char *path, double pro_limit, ddad_metrics_record_t *rec)
{
    ddad_mapsfile_t *f = NULL;
    float *imax = NULL;
    ddad_status_t st = DDAD_OK;
    DDAD_TRY(ddad_mapsfile_open(&f, path));
    const ddad_mapsfile_info_t *in = ddad_mapsfile_info(f);
    ddad_metrics_record_init(rec, in->category, pro_limit);
    rec->images = in->n;
    if (!(imax = malloc((size_t)in->n * sizeof *imax))) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
        goto fail;
    }
    ddad_pixel_source_t src;
    ddad_pixel_metrics_t pm;
    ddad_mapsfile_pixel_source(f, &src);
    DDAD_TRY(ddad_metrics_pixel_eval(&src, DDAD_METRICS_ALL, pro_limit, imax, &pm));
    rec->pixel_auroc = pm.auroc;
    rec->au_pro = pm.au_pro;
    rec->pixel_f1_max = pm.f1_max;
    rec->pixel_f1_threshold = pm.f1_threshold;
    ddad_metrics_add_note(rec, pm.note);

    ddad_image_metrics_t im;
    DDAD_TRY(ddad_metrics_image_eval(in->scores ? in->scores : imax, in->labels, (size_t)in->n, &im));
    rec->image_auroc = im.auroc;
    rec->image_f1_max = im.f1_max;
    rec->image_f1_threshold = im.f1_threshold;
    ddad_metrics_add_note(rec, im.note);
    ddad_metrics_add_note(rec, in->scores ? "image scores from /scores" : "image score = max of each map");
fail:
    free(imax);
    ddad_mapsfile_close(f);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "evaluating %s", path);
    return DDAD_OK;
}

/* ---- metrics.json and report files ------------------------------------- */

typedef struct metrics_json {
    const ddad_config_t *cfg;
    const ddad_metrics_record_t *r;
    const ddad_metrics_provenance_t *x;
} metrics_json_t;

/* "deployment_check": how threshold.json's thresholds do on the test split. */
static void put_deployment_check(FILE *f, const ddad_calibration_t *cal, const ddad_metrics_provenance_t *x)
{
    const ddad_calib_check_t *c = &cal->test_check;
    fputs(",\n  \"deployment_check\": {\"rule\": ", f);
    ddad_json_string(f, cal->rule);
    fprintf(f, ", \"optimistic\": %s, \"seen_in_training\": %s", cal->optimistic ? "true" : "false",
            cal->seen_in_training ? "true" : "false");
    const struct {
        const char *k;
        double v;
    } nums[] = {{"image_threshold", cal->image_threshold},
                {"pixel_threshold", cal->pixel_threshold},
                {"good_images", (double)c->good_images},
                {"good_flagged", (double)c->good_flagged},
                {"image_fpr", ddad_calib_rate(c->good_flagged, c->good_images)},
                {"defective_images", (double)c->defective_images},
                {"defective_flagged", (double)c->defective_flagged},
                {"image_recall", ddad_calib_rate(c->defective_flagged, c->defective_images)},
                {"pixel_fpr", ddad_calib_rate(c->normal_flagged, c->normal_pixels)},
                {"pixel_fpr_good_images", ddad_calib_rate(c->good_image_flagged, c->good_image_pixels)},
                {"pixel_recall", ddad_calib_rate(c->anomalous_flagged, c->anomalous_pixels)},
                {"good_score_median", x->good_score_median},
                {"calibration_score_median", x->calibration_score_median}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        fprintf(f, ", \"%s\": ", nums[i].k);
        ddad_json_number(f, nums[i].v);
    }
    fputs("}", f);
}

static ddad_status_t put_metrics_json(FILE *f, void *user)
{
    const metrics_json_t *m = user;
    const ddad_config_t *cfg = m->cfg;
    const ddad_metrics_record_t *r = m->r;
    const ddad_metrics_provenance_t *x = m->x;
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
    if (x->calibration && x->calibration->has_test_check)
        put_deployment_check(f, x->calibration, x);
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
    return ferror(f) ? ddad_fail(DDAD_STATUS_IO, "metrics.json: write failed") : DDAD_OK;
}

ddad_status_t ddad_report_write_metrics_json(const char *path, const struct ddad_config *cfg,
                                             const ddad_metrics_record_t *rec, const ddad_metrics_provenance_t *x)
{
    metrics_json_t m = {cfg, rec, x};
    return ddad_run_write_atomic(path, put_metrics_json, &m);
}

typedef struct report_file {
    const ddad_metrics_record_t *recs;
    size_t n;
    ddad_report_format_t fmt;
} report_file_t;

static ddad_status_t put_report(FILE *f, void *user)
{
    const report_file_t *r = user;
    return ddad_report_write(f, r->recs, r->n, r->fmt);
}

ddad_status_t ddad_report_write_file(const char *path, const ddad_metrics_record_t *recs, size_t n,
                                     ddad_report_format_t fmt)
{
    report_file_t r = {recs, n, fmt};
    return ddad_run_write_atomic(path, put_report, &r);
}
