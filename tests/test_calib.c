/* tests/test_calib.c - threshold rules, normalised scores and threshold.json
 * (core/report/calib.h); quantiles against numpy, F1 against scikit-learn. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "report.h"
#include "testutil.h"

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 65536.0f;
}

static void test_rule_parse(void)
{
    ddad_calib_rule_t r;
    char buf[64];
    CU_ASSERT_EQUAL(ddad_calib_rule_parse("max", &r), DDAD_OK);
    CU_ASSERT_EQUAL(r.kind, DDAD_CALIB_RULE_MAX);
    CU_ASSERT_EQUAL(ddad_calib_rule_parse("quantile:0.99", &r), DDAD_OK);
    CU_ASSERT_EQUAL(r.kind, DDAD_CALIB_RULE_QUANTILE);
    CU_ASSERT_DOUBLE_EQUAL(r.value, 0.99, 1e-12);
    ddad_calib_rule_format(&r, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "quantile:0.99");
    CU_ASSERT_EQUAL(ddad_calib_rule_parse("fpr:0", &r), DDAD_OK);
    CU_ASSERT_EQUAL(r.kind, DDAD_CALIB_RULE_FPR);
    CU_ASSERT_EQUAL(ddad_calib_rule_parse("f1", &r), DDAD_OK);
    CU_ASSERT_EQUAL(r.kind, DDAD_CALIB_RULE_F1);
    const char *bad[] = {"", "mean", "quantile:", "quantile:1.5", "quantile:-0.1", "fpr:1", "fpr:x", "fpr:0.1x",
                         "quantile:nan", "F1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CU_ASSERT_EQUAL(ddad_calib_rule_parse(bad[i], &r), DDAD_STATUS_CONFIG);
        CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "threshold rule"));
    }
}

static void test_max_fpr_semantics(void)
{
    float v[10] = {5, 1, 9, 3, 7, 2, 8, 4, 6, 0};
    ddad_calib_rule_t r;
    double t;
    ddad_calib_rule_parse("max", &r);
    CU_ASSERT_EQUAL(ddad_calib_threshold(&r, v, NULL, 10, &t), DDAD_OK);
    CU_ASSERT_DOUBLE_EQUAL(t, 9, 0);
    /* fpr:F flags at most floor(F n) good values (strictly above t) */
    const double fprs[] = {0, 0.05, 0.1, 0.19, 0.2, 0.5, 0.95};
    const double want[] = {9, 9, 8, 8, 7, 4, 0};
    for (size_t k = 0; k < sizeof fprs / sizeof fprs[0]; k++) {
        r.kind = DDAD_CALIB_RULE_FPR;
        r.value = fprs[k];
        CU_ASSERT_EQUAL(ddad_calib_threshold(&r, v, NULL, 10, &t), DDAD_OK);
        CU_ASSERT_DOUBLE_EQUAL(t, want[k], 0);
        int flagged = 0;
        for (int i = 0; i < 10; i++)
            flagged += v[i] > t;
        CU_ASSERT(flagged <= (int)floor(fprs[k] * 10 + 1e-9));
    }
    /* labelled defects are ignored by max/quantile/fpr */
    uint8_t lab[10] = {0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    r.kind = DDAD_CALIB_RULE_MAX;
    CU_ASSERT_EQUAL(ddad_calib_threshold(&r, v, lab, 10, &t), DDAD_OK);
    CU_ASSERT_DOUBLE_EQUAL(t, 8, 0);
    /* non-finite values are refused */
    v[3] = NAN;
    CU_ASSERT_EQUAL(ddad_calib_threshold(&r, v, NULL, 10, &t), DDAD_STATUS_NUMERIC);
}

static void test_quantile_numpy(void)
{
    if (!ddad_test_python_has("numpy")) {
        CU_FAIL("python3 with numpy is needed (scripts/install-deps.sh installs it)");
        return;
    }
    char *dir = ddad_test_mkdtemp("calib");
    char path[512], cmd[2048];
    snprintf(path, sizeof path, "%s/v.txt", dir);
    FILE *f = fopen(path, "w");
    unsigned s = 7;
    float v[37];
    for (int i = 0; i < 37; i++) {
        v[i] = frand(&s) * 10 - 3;
        fprintf(f, "%.9g\n", (double)v[i]);
    }
    fclose(f);
    const double qs[] = {0, 0.1, 0.5, 0.9, 0.95, 0.99, 1};
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
        snprintf(cmd, sizeof cmd,
                 "%s -c \"import numpy as np; v=np.loadtxt('%s',dtype=np.float32); print(repr(float(np.quantile("
                 "v.astype(np.float64), %g))))\" > %s/q.txt",
                 ddad_test_python(), path, qs[k], dir);
        CU_ASSERT_EQUAL_FATAL(ddad_test_system("%s", cmd), 0);
        char qp[600];
        snprintf(qp, sizeof qp, "%s/q.txt", dir);
        FILE *q = fopen(qp, "r");
        double want = NAN;
        CU_ASSERT_EQUAL(fscanf(q, "%lf", &want), 1);
        fclose(q);
        ddad_calib_rule_t r = {.kind = DDAD_CALIB_RULE_QUANTILE, .value = qs[k]};
        double t;
        CU_ASSERT_EQUAL(ddad_calib_threshold(&r, v, NULL, 37, &t), DDAD_OK);
        CU_ASSERT_DOUBLE_EQUAL(t, want, 1e-6 * fabs(want) + 1e-9);
    }
    ddad_test_rmtree(dir);
    free(dir);
}

static void test_f1_sklearn_and_refusal(void)
{
    if (!ddad_test_python_has("numpy,sklearn")) {
        CU_FAIL("python3 with numpy and scikit-learn is needed (scripts/install-deps.sh installs them)");
        return;
    }
    enum { N = 60 };
    float v[N];
    uint8_t lab[N];
    unsigned s = 11;
    char *dir = ddad_test_mkdtemp("calibf1");
    char path[512], out[600];
    snprintf(path, sizeof path, "%s/v.txt", dir);
    snprintf(out, sizeof out, "%s/f1.txt", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < N; i++) {
        lab[i] = i % 3 == 0;
        v[i] = frand(&s) + (lab[i] ? 0.6f : 0.0f);
        fprintf(f, "%.9g %d\n", (double)v[i], lab[i]);
    }
    fclose(f);
    /* the best F1 over scikit-learn's precision-recall curve, and the F1 of
     * the flags "score > t" for our threshold t must reach it */
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("%s -c \"import numpy as np; from sklearn.metrics import "
                                           "precision_recall_curve as c; d=np.loadtxt('%s'); "
                                           "p,r,t=c(d[:,1],d[:,0].astype(np.float32)); f=2*p*r/np.maximum(p+r,1e-12); "
                                           "print(repr(float(f.max())))\" > %s",
                                           ddad_test_python(), path, out),
                          0);
    FILE *q = fopen(out, "r");
    double best = NAN;
    CU_ASSERT_EQUAL(fscanf(q, "%lf", &best), 1);
    fclose(q);
    ddad_calib_rule_t r = {.kind = DDAD_CALIB_RULE_F1};
    double t;
    CU_ASSERT_EQUAL_FATAL(ddad_calib_threshold(&r, v, lab, N, &t), DDAD_OK);
    int tp = 0, fp = 0, fn = 0;
    for (int i = 0; i < N; i++) {
        bool flag = v[i] > t;
        tp += flag && lab[i];
        fp += flag && !lab[i];
        fn += !flag && lab[i];
    }
    double f1 = 2.0 * tp / (2.0 * tp + fp + fn);
    CU_ASSERT_DOUBLE_EQUAL(f1, best, 1e-6);
    /* only good images: refused with the reason */
    CU_ASSERT_EQUAL(ddad_calib_threshold(&r, v, NULL, N, &t), DDAD_STATUS_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "every"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "fpr:F"));
    ddad_calib_set_t set = {.scores = v, .n = N};
    ddad_calibration_t cal = {.category = "c"};
    CU_ASSERT_EQUAL(ddad_calib_fit(&r, &set, &cal), DDAD_STATUS_CONFIG);
    ddad_test_rmtree(dir);
    free(dir);
}

static void test_fit_and_normalize(void)
{
    enum { N = 6, HW = 16 };
    float scores[N], maps[N * HW];
    uint8_t lab[N] = {0, 0, 0, 0, 1, 1}, masks[N * HW];
    unsigned s = 3;
    memset(masks, 0, sizeof masks);
    for (int i = 0; i < N; i++) {
        scores[i] = (float)i;
        for (int p = 0; p < HW; p++) {
            maps[i * HW + p] = frand(&s) + (lab[i] && p < 4 ? 2.0f : 0.0f);
            masks[i * HW + p] = lab[i] && p < 4;
        }
    }
    ddad_calib_rule_t r = {.kind = DDAD_CALIB_RULE_MAX};
    ddad_calib_set_t set = {.scores = scores, .labels = lab, .maps = maps, .masks = masks, .n = N, .hw = HW};
    ddad_calibration_t cal = {.category = "bottle", .source = "test"};
    CU_ASSERT_EQUAL_FATAL(ddad_calib_fit(&r, &set, &cal), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(cal.category, "bottle");
    CU_ASSERT_STRING_EQUAL(cal.source, "test");
    CU_ASSERT_EQUAL(cal.images, 4);
    CU_ASSERT_EQUAL(cal.defect_images, 2);
    CU_ASSERT_DOUBLE_EQUAL(cal.image_threshold, 3, 0);
    CU_ASSERT_DOUBLE_EQUAL(cal.image_min, 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(cal.image_max, 5, 0);
    float gmax = -1;
    for (int i = 0; i < 4 * HW; i++)
        gmax = maps[i] > gmax ? maps[i] : gmax;
    CU_ASSERT_DOUBLE_EQUAL(cal.pixel_threshold, gmax, 0);
    CU_ASSERT(ddad_calib_has_statistics(&cal));
    /* 0.5 at the threshold, clipped, monotone */
    CU_ASSERT_DOUBLE_EQUAL(ddad_calib_normalize_score(&cal, 3), 0.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(ddad_calib_normalize_score(&cal, 4), 0.7, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(ddad_calib_normalize_score(&cal, 100), 1, 0);
    CU_ASSERT_DOUBLE_EQUAL(ddad_calib_normalize_score(&cal, -100), 0, 0);
    float nm[N * HW];
    ddad_calib_normalize_map(&cal, maps, nm, N * HW);
    for (int i = 0; i < N * HW; i++) {
        CU_ASSERT(nm[i] >= 0 && nm[i] <= 1);
        CU_ASSERT_EQUAL(nm[i] > 0.5f, maps[i] > (float)cal.pixel_threshold);
    }
    CU_ASSERT(isnan(ddad_calib_normalize(1, NAN, 0, 1)));
    CU_ASSERT_DOUBLE_EQUAL(ddad_calib_normalize(2, 1, 1, 1), 1, 0); /* degenerate range: width 1 */
    /* f1 with masks: pixel threshold separates the planted pixels */
    r.kind = DDAD_CALIB_RULE_F1;
    CU_ASSERT_EQUAL_FATAL(ddad_calib_fit(&r, &set, &cal), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(cal.rule, "f1");
    for (int i = 0; i < N * HW; i++)
        CU_ASSERT_EQUAL(maps[i] > (float)cal.pixel_threshold, masks[i] != 0);
    CU_ASSERT(cal.image_threshold >= 3 && cal.image_threshold < 4);
    set.masks = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_calib_fit(&r, &set, &cal), DDAD_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(cal.rule, "no masks"));
    CU_ASSERT_DOUBLE_EQUAL(cal.pixel_threshold, gmax, 0);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_file_round_trip(void)
{
    char *dir = ddad_test_mkdtemp("calibfile");
    char path[512];
    ddad_calib_path(path, sizeof path, dir);
    ddad_calibration_t a = {.category = "bottle", .rule = "fpr:0.01", .image_threshold = 1.25, .pixel_threshold = 3.5,
                            .image_min = 0.5, .image_max = 1.5, .pixel_min = -1, .pixel_max = 4, .images = 20,
                            .defect_images = 0, .optimistic = false, .source = "20 held-out \"good\" images\\x"};
    a.has_test_check = true; /* ddad-eval's check travels with the thresholds, count for count */
    a.test_check = (ddad_calib_check_t){.good_images = 20, .good_flagged = 1, .defective_images = 63,
                                        .defective_flagged = 62, .normal_pixels = 5000000000LL,
                                        .normal_flagged = 7, .good_image_pixels = 81920,
                                        .good_image_flagged = 3, .anomalous_pixels = 12345,
                                        .anomalous_flagged = 12000};
    ddad_calibration_t b = a;
    snprintf(b.category, sizeof b.category, "cable");
    b.pixel_threshold = NAN;
    b.optimistic = true;
    b.seen_in_training = true;
    b.has_test_check = false; /* thresholds of ddad-predict --calib: never checked */
    memset(&b.test_check, 0, sizeof b.test_check);
    ddad_calibration_t both[2] = {a, b};
    CU_ASSERT_EQUAL_FATAL(ddad_calib_file_update(path, "ck/step_1.h5", both, 2), DDAD_OK);
    ddad_calib_file_t f;
    CU_ASSERT_EQUAL_FATAL(ddad_calib_file_read(path, &f), DDAD_OK);
    CU_ASSERT_EQUAL(f.format_version, DDAD_CALIB_VERSION);
    CU_ASSERT_EQUAL(f.n, 2);
    CU_ASSERT_STRING_EQUAL(f.checkpoint, "ck/step_1.h5");
    const ddad_calibration_t *e = ddad_calib_file_find(&f, "bottle");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(e->rule, "fpr:0.01");
    CU_ASSERT_STRING_EQUAL(e->source, a.source);
    CU_ASSERT_DOUBLE_EQUAL(e->image_threshold, 1.25, 0);
    CU_ASSERT_DOUBLE_EQUAL(e->pixel_max, 4, 0);
    CU_ASSERT_EQUAL(e->images, 20);
    CU_ASSERT(!e->optimistic);
    CU_ASSERT(!e->seen_in_training);
    CU_ASSERT(e->has_test_check);
    CU_ASSERT_EQUAL(memcmp(&e->test_check, &a.test_check, sizeof a.test_check), 0);
    e = ddad_calib_file_find(&f, "cable");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT(isnan(e->pixel_threshold));
    CU_ASSERT(e->optimistic);
    CU_ASSERT(e->seen_in_training);
    CU_ASSERT(!e->has_test_check);
    CU_ASSERT_EQUAL(e->test_check.good_images, 0);
    CU_ASSERT_PTR_NULL(ddad_calib_file_find(&f, "zipper"));
    ddad_calib_file_free(&f);
    /* update replaces one category and keeps the other */
    a.image_threshold = 9;
    CU_ASSERT_EQUAL_FATAL(ddad_calib_file_update(path, "ck/step_2.h5", &a, 1), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_calib_file_read(path, &f), DDAD_OK);
    CU_ASSERT_EQUAL(f.n, 2);
    CU_ASSERT_DOUBLE_EQUAL(ddad_calib_file_find(&f, "bottle")->image_threshold, 9, 0);
    CU_ASSERT_PTR_NOT_NULL(ddad_calib_file_find(&f, "cable"));
    ddad_calib_file_free(&f);
    /* python's json reads it */
    if (ddad_test_python_has("json"))
        CU_ASSERT_EQUAL(ddad_test_system("%s -c \"import json; d=json.load(open('%s')); "
                                         "assert d['thresholds'][0]['rule']=='fpr:0.01'; "
                                         "c=d['thresholds'][0]['test_check']; "
                                         "assert (c['good_flagged'], c['normal_pixels']) == (1, 5000000000); "
                                         "assert 'test_check' not in d['thresholds'][1]\"",
                                         ddad_test_python(), path),
                        0);
    /* version 1 (older ddad-eval): rule max, statistics unknown */
    FILE *o = fopen(path, "w");
    fputs("{\n  \"format\": \"ddad-threshold\", \"format_version\": 1,\n  \"source\": \"max over good training "
          "images (seen in training)\",\n  \"checkpoint\": \"x.h5\",\n  \"thresholds\": [\n    {\"category\": "
          "\"bottle\", \"image_threshold\": 2.5, \"pixel_threshold\": null, \"images\": 8}\n  ]\n}\n",
          o);
    fclose(o);
    CU_ASSERT_EQUAL_FATAL(ddad_calib_file_read(path, &f), DDAD_OK);
    e = ddad_calib_file_find(&f, "bottle");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(e->rule, "max");
    CU_ASSERT_STRING_EQUAL(e->source, "max over good training images (seen in training)");
    CU_ASSERT_DOUBLE_EQUAL(e->image_threshold, 2.5, 0);
    CU_ASSERT(isnan(e->pixel_threshold));
    CU_ASSERT(!ddad_calib_has_statistics(e));
    CU_ASSERT(e->seen_in_training); /* no key: the source's mark says so */
    ddad_calib_file_free(&f);
    /* version 2 written before seen_in_training existed: read from the source */
    o = fopen(path, "w");
    fputs("{\"format\": \"ddad-threshold\", \"format_version\": 2, \"thresholds\": [\n"
          " {\"category\": \"a\", \"image_threshold\": 1, \"source\": \"the last 8 good training images of a "
          "(seen in training)\"},\n"
          " {\"category\": \"b\", \"image_threshold\": 1, \"source\": \"20 held-out good images of b\"},\n"
          " {\"category\": \"c\", \"image_threshold\": 1, \"seen_in_training\": false, \"source\": \"(seen in "
          "training)\"}]}\n",
          o);
    fclose(o);
    CU_ASSERT_EQUAL_FATAL(ddad_calib_file_read(path, &f), DDAD_OK);
    CU_ASSERT(ddad_calib_file_find(&f, "a") && ddad_calib_file_find(&f, "a")->seen_in_training);
    CU_ASSERT(ddad_calib_file_find(&f, "b") && !ddad_calib_file_find(&f, "b")->seen_in_training);
    CU_ASSERT(ddad_calib_file_find(&f, "c") && !ddad_calib_file_find(&f, "c")->seen_in_training); /* the key wins */
    ddad_calib_file_free(&f);
    /* malformed files: DATA with the path; an update replaces them */
    const char *bad[] = {"", "[1, 2]", "{\"format\": \"other\", \"format_version\": 2, \"thresholds\": []}",
                         "{\"format\": \"ddad-threshold\", \"format_version\": 3, \"thresholds\": []}",
                         "{\"format\": \"ddad-threshold\", \"format_version\": 2, \"thresholds\": [{\"x\": 1}]}",
                         "{\"format\": \"ddad-threshold\", \"format_version\": 2, \"thresholds\": [",
                         "{\"format\": \"ddad-threshold\", \"format_version\": 2}",
                         "{\"format\": \"ddad-threshold\", \"format_version\": 2, \"thresholds\": [{\"category\": "
                         "\"a\", \"test_check\": {\"good_images\": -1}}]}",
                         "{\"format\": \"ddad-threshold\", \"format_version\": 2, \"thresholds\": [{\"category\": "
                         "\"a\", \"test_check\": {\"good_images\": \"x\"}}]}",
                         "{\"format\": \"ddad-threshold\", \"format_version\": 2, \"thresholds\": [{\"category\": "
                         "\"a\", \"test_check\": 3}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = fopen(path, "w");
        fputs(bad[i], o);
        fclose(o);
        CU_ASSERT_EQUAL(ddad_calib_file_read(path, &f), DDAD_STATUS_DATA);
        CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), path));
    }
    CU_ASSERT_EQUAL(ddad_calib_file_update(path, "c.h5", &a, 1), DDAD_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(slurp(path), "\"fpr:0.01\""));
    CU_ASSERT_EQUAL(ddad_calib_file_read("/nonexistent/threshold.json", &f), DDAD_STATUS_IO);
    ddad_test_rmtree(dir);
    free(dir);
}

/* Text cut to fit never splits a UTF-8 character, and JSON strings stay
 * valid UTF-8 whatever bytes they are given: a long non-ASCII --calib path
 * in `source` must not make threshold.json unreadable. */
static void test_utf8_text(void)
{
    char buf[8];
    ddad_text_copy(buf, sizeof buf, "abcdef\xc3\xa9"); /* "abcdefé": é would need bytes 7 and 8 */
    CU_ASSERT_STRING_EQUAL(buf, "abcdef");
    ddad_text_copy(buf, sizeof buf, "ab\xc3\xa9");
    CU_ASSERT_STRING_EQUAL(buf, "ab\xc3\xa9");
    ddad_text_copy(buf, 3, "\xe2\x82\xac"); /* the euro sign needs 3 bytes + NUL */
    CU_ASSERT_STRING_EQUAL(buf, "");
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    ddad_json_string(f, "a\xff\xc3\xa9\xc3\"\x01");
    fclose(f);
    CU_ASSERT_STRING_EQUAL(out, "\"a\\ufffd\xc3\xa9\\ufffd\\\"\\u0001\"");
    free(out);
    f = open_memstream(&out, &len); /* characters a YAML reader would fold or refuse: escaped */
    ddad_json_string(f, "n\xc2\x85\x7f\xe2\x80\xa8\xef\xbb\xbf\xf0\x9f\x98\x80");
    fclose(f);
    CU_ASSERT_STRING_EQUAL(out, "\"n\\u0085\\u007f\\u2028\\ufeff\xf0\x9f\x98\x80\"");
    free(out);
    /* a source cut at 511 bytes inside "é" still reads back */
    char *dir = ddad_test_mkdtemp("calibutf8");
    char path[512];
    ddad_calib_path(path, sizeof path, dir);
    ddad_calibration_t a = {.category = "bottle", .rule = "max", .image_threshold = 1, .pixel_threshold = 2,
                            .images = 3};
    char src[1200];
    memset(src, 0, sizeof src);
    for (size_t i = 0; i + 2 < 1000; i += 2)
        memcpy(src + i, "\xc3\xa9", 2);
    snprintf(a.source, sizeof a.source, "%s", src); /* 511 bytes kept: the cut falls inside a character */
    CU_ASSERT_EQUAL_FATAL(ddad_calib_file_update(path, "c.h5", &a, 1), DDAD_OK);
    ddad_calib_file_t file;
    CU_ASSERT_EQUAL_FATAL(ddad_calib_file_read(path, &file), DDAD_OK);
    CU_ASSERT_EQUAL(file.n, 1);
    CU_ASSERT_EQUAL_FATAL(ddad_calib_file_update(path, "c.h5", file.entries, file.n), DDAD_OK);
    ddad_calib_file_free(&file);
    CU_ASSERT_EQUAL(ddad_calib_file_read(path, &file), DDAD_OK);
    ddad_calib_file_free(&file);
    ddad_test_rmtree(dir);
    free(dir);
}

/* The deployment check counts what is strictly above each threshold, by
 * label and by mask; a NaN threshold flags nothing. */
static void test_deployment_check(void)
{
    ddad_calibration_t cal = {.image_threshold = 1.0, .pixel_threshold = 0.5};
    ddad_calib_check_t c;
    memset(&c, 0, sizeof c);
    const float map_a[4] = {0.5f, 0.6f, 0.1f, 0.9f}, map_b[4] = {0.7f, 0.2f, 0.5f, 0.5f};
    const uint8_t mask_a[4] = {0, 255, 0, 255};
    ddad_calib_check_add(&cal, &c, 1.0f, 0, map_b, NULL, 4);    /* good, at the threshold: not flagged */
    ddad_calib_check_add(&cal, &c, 1.5f, 0, map_b, NULL, 4);    /* good, above: flagged                */
    ddad_calib_check_add(&cal, &c, 2.0f, 1, map_a, mask_a, 4);  /* defective, flagged                  */
    ddad_calib_check_add(&cal, &c, 0.5f, 1, NULL, NULL, 0);     /* defective, missed; no map           */
    CU_ASSERT_EQUAL(c.good_images, 2);
    CU_ASSERT_EQUAL(c.good_flagged, 1);
    CU_ASSERT_EQUAL(c.defective_images, 2);
    CU_ASSERT_EQUAL(c.defective_flagged, 1);
    /* normal pixels: map_b twice (0.7 above, 0.2, 0.5, 0.5 not) and map_a's 0.5 and 0.1 */
    CU_ASSERT_EQUAL(c.normal_pixels, 10);
    CU_ASSERT_EQUAL(c.normal_flagged, 2);
    CU_ASSERT_EQUAL(c.good_image_pixels, 8);
    CU_ASSERT_EQUAL(c.good_image_flagged, 2);
    CU_ASSERT_EQUAL(c.anomalous_pixels, 2);
    CU_ASSERT_EQUAL(c.anomalous_flagged, 2);
    CU_ASSERT_DOUBLE_EQUAL(ddad_calib_rate(c.normal_flagged, c.normal_pixels), 0.2, 1e-12);
    CU_ASSERT(isnan(ddad_calib_rate(0, 0)));

    ddad_calibration_t none = {.image_threshold = NAN, .pixel_threshold = NAN};
    memset(&c, 0, sizeof c);
    ddad_calib_check_add(&none, &c, 1e30f, 1, map_a, mask_a, 4);
    CU_ASSERT_EQUAL(c.defective_flagged, 0);
    CU_ASSERT_EQUAL(c.anomalous_flagged + c.normal_flagged, 0);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"rule parse", test_rule_parse},
                                        {"max and fpr semantics", test_max_fpr_semantics},
                                        {"quantile vs numpy", test_quantile_numpy},
                                        {"f1 vs scikit-learn, refused with good images only", test_f1_sklearn_and_refusal},
                                        {"fit and normalise", test_fit_and_normalize},
                                        {"threshold.json round trip, version 1, malformed", test_file_round_trip},
                                        {"deployment check on labelled images", test_deployment_check},
                                        {"UTF-8 text cut and JSON strings", test_utf8_text},
                                        {0}};
    return ddad_test_main("calib", tests);
}
