/* experiments/baselines/baselines_run.c - the model side of ddad-baselines
 * (see ddad_baselines.c and baselines_args.h): meandiff and patchnn on every
 * category of the config, the table, CSV or JSON output and the dumps. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "baselines.h"
#include "baselines_args.h"
#include "dataset.h"
#include "ddad_version.h"
#include "h5io.h"
#include "nn/extractor.h"
#include "nn/model.h"
#include "nn/score.h"
#include "nn/tensor_h5.h"
#include "report.h"
#include "run.h"

#define BACKBONE_BATCH 8

/* One (category, method) row of the output. */
typedef struct result {
    ddad_metrics_record_t rec; /* category, images, metrics, notes          */
    const char *method;        /* "meandiff" or "patchnn" (static)          */
    double seconds;            /* fit on the training images + test maps     */
    double load_seconds;       /* decoding both splits (shared by methods)  */
    int64_t n_train, bank;     /* training images; bank vectors (patchnn)   */
    int grid;                  /* patchnn grid, 0 for meandiff              */
    double sigma;              /* smoothing sigma applied                   */
    char image_score[32];      /* "max" or "topk_mean(64)"                  */
    char features[600];        /* patchnn: the extractor's source; else ""  */
} result_t;

typedef struct run {
    const args_t *a;
    ddad_config_t cfg;
    int S, grid;
    bool have_net, tty;
    ddad_effnet_t net;
    ddad_h5_t *dump;
    const char *category; /* current, for progress */
    const char *stage_method;
} run_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- progress (stderr, terminal only) ------------------------------------------------ */

static volatile sig_atomic_t interrupted = 0;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static ddad_status_t on_progress(const char *stage, int64_t done, int64_t total, void *user)
{
    run_t *r = user;
    if (interrupted)
        return ddad_fail(DDAD_STATUS_INTERRUPTED, "interrupted: no results written");
    if (r->tty) {
        fprintf(stderr, "\r%s: %s %s %lld/%lld\033[K", r->category, r->stage_method ? r->stage_method : "", stage,
                (long long)done, (long long)total);
        fflush(stderr);
    }
    return DDAD_OK;
}

static void progress_line(run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress_line(run_t *r, const char *fmt, ...)
{
    if (!r->tty)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("\r\033[K", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- dump ------------------------------------------------------------------------- */

static ddad_status_t dump_f32(run_t *r, const char *cat, const char *name, const float *data, const int64_t *shape,
                              int ndim)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", cat, name);
    return ddad_h5_write(r->dump, path, DDAD_H5_F32, data, shape, ndim, 0);
}

static ddad_status_t dump_metrics(run_t *r, const char *group, const result_t *res)
{
    const struct {
        const char *k;
        double v;
    } v[] = {{"image_auroc", res->rec.image_auroc},   {"pixel_auroc", res->rec.pixel_auroc},
             {"au_pro", res->rec.au_pro},             {"au_pro_limit", res->rec.au_pro_limit},
             {"pixel_f1_max", res->rec.pixel_f1_max}, {"image_f1_max", res->rec.image_f1_max},
             {"sigma", res->sigma},                   {"seconds", res->seconds}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        ddad_status_t st = ddad_h5_set_attr_f64(r->dump, group, v[i].k, v[i].v);
        if (st != DDAD_OK)
            return st;
    }
    return ddad_h5_set_attr_str(r->dump, group, "image_score", res->image_score);
}

static ddad_status_t dump_split(run_t *r, const char *cat, const bl_split_t *test, const ddad_sample_t *const *train,
                                size_t n_train, const ddad_sample_t *const *tests)
{
    const int64_t N = test->n, S = test->S;
    char path[256];
    ddad_status_t st = DDAD_OK;
    const char **paths = malloc((n_train > (size_t)N ? n_train : (size_t)N) * sizeof *paths + 1);
    if (!paths)
        return ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
    int64_t sh_img[4] = {N, 3, S, S}, sh_mask[3] = {N, S, S}, sh_lab[1] = {N};
    DDAD_TRY(dump_f32(r, cat, "test_images", test->images, sh_img, 4));
    snprintf(path, sizeof path, "%s/masks", cat);
    DDAD_TRY(ddad_h5_write(r->dump, path, DDAD_H5_U8, test->masks, sh_mask, 3, 0));
    snprintf(path, sizeof path, "%s/labels", cat);
    DDAD_TRY(ddad_h5_write(r->dump, path, DDAD_H5_U8, test->labels, sh_lab, 1, 0));
    snprintf(path, sizeof path, "%s/test_names", cat);
    DDAD_TRY(ddad_h5_write_strings(r->dump, path, (const char *const *)test->names, (size_t)N));
    for (int64_t i = 0; i < N; i++)
        paths[i] = tests[i]->path;
    snprintf(path, sizeof path, "%s/test_paths", cat);
    DDAD_TRY(ddad_h5_write_strings(r->dump, path, paths, (size_t)N));
    for (size_t i = 0; i < n_train; i++)
        paths[i] = train[i]->path;
    snprintf(path, sizeof path, "%s/train_paths", cat);
    DDAD_TRY(ddad_h5_write_strings(r->dump, path, paths, n_train));
fail:
    free(paths);
    return st;
}

/* ---- the two methods --------------------------------------------------------------- */

static void result_init(result_t *res, const char *category, const char *method, int64_t n_train, double load_s)
{
    memset(res, 0, sizeof *res);
    snprintf(res->rec.category, sizeof res->rec.category, "%s", category);
    res->method = method;
    res->n_train = n_train;
    res->load_seconds = load_s;
}

static ddad_status_t run_meandiff(run_t *r, const bl_split_t *train, const bl_split_t *test, result_t *res)
{
    const ddad_config_score_t *sc = &r->cfg.score;
    const int64_t N = test->n, S = test->S, HW = S * S;
    ddad_status_t st = DDAD_OK;
    float *mean = malloc((size_t)(3 * HW) * sizeof *mean), *maps = malloc((size_t)(N * HW) * sizeof *maps);
    float *scores = malloc((size_t)(N ? N : 1) * sizeof *scores);
    if (!mean || !maps || !scores) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "meandiff: out of memory");
        goto fail;
    }
    r->stage_method = "meandiff";
    double t0 = now_s();
    DDAD_TRY(bl_meandiff_mean(train->images, train->n, S, mean));
    for (int64_t i = 0; i < N; i++) {
        float *m = maps + i * HW;
        bl_meandiff_map(mean, test->images + i * 3 * HW, S, m);
        DDAD_TRY(ddad_score_smooth(m, S, S, sc->smooth_sigma, sc->smooth_kernel));
        scores[i] = ddad_score_image(m, HW, sc->image_score, sc->topk);
    }
    res->seconds = now_s() - t0;
    res->sigma = sc->smooth_sigma;
    if (sc->image_score == DDAD_IMAGE_SCORE_MAX || sc->topk <= 1)
        snprintf(res->image_score, sizeof res->image_score, "max");
    else
        snprintf(res->image_score, sizeof res->image_score, "topk_mean(%d)", sc->topk);
    DDAD_TRY(bl_metrics(maps, test->masks, scores, test->labels, N, S, S, r->cfg.eval.pro_limit, &res->rec));
    char note[128];
    snprintf(note, sizeof note, "image score %s (score.image_score), smoothing sigma %g", res->image_score,
             res->sigma);
    ddad_metrics_add_note(&res->rec, note);
    if (r->dump) {
        char g[160];
        int64_t sh_mean[3] = {3, S, S}, sh_maps[3] = {N, S, S}, sh_sc[1] = {N};
        snprintf(g, sizeof g, "%s/meandiff", res->rec.category);
        DDAD_TRY(dump_f32(r, g, "mean", mean, sh_mean, 3));
        DDAD_TRY(dump_f32(r, g, "maps", maps, sh_maps, 3));
        DDAD_TRY(dump_f32(r, g, "scores", scores, sh_sc, 1));
        DDAD_TRY(dump_metrics(r, g, res));
    }
fail:
    free(mean);
    free(maps);
    free(scores);
    return st;
}

static ddad_status_t run_patchnn(run_t *r, const bl_split_t *train, const bl_split_t *test, result_t *res)
{
    const int64_t N = test->n, S = test->S, HW = S * S, G = r->grid;
    ddad_status_t st = DDAD_OK;
    size_t mark = ddad_scope_begin();
    float *dist = malloc((size_t)(N * G * G) * sizeof *dist), *maps = malloc((size_t)(N * HW) * sizeof *maps);
    float *scores = malloc((size_t)(N ? N : 1) * sizeof *scores);
    ddad_tensor_t *ftrain, *bank, *ftest, *query, *d;
    if (!dist || !maps || !scores) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "patchnn: out of memory");
        goto fail;
    }
    r->stage_method = "patchnn bank";
    double t0 = now_s();
    DDAD_TRY(bl_patch_features(&r->net, train->images, train->n, S, G, BACKBONE_BATCH, on_progress, r, &ftrain));
    DDAD_TRY(bl_patch_vectors(ftrain, &bank)); /* (n_train G G, 272) */
    ddad_tensor_free(ftrain);
    ftrain = NULL;
    r->stage_method = "patchnn test";
    DDAD_TRY(bl_patch_features(&r->net, test->images, N, S, G, BACKBONE_BATCH, on_progress, r, &ftest));
    DDAD_TRY(bl_patch_vectors(ftest, &query)); /* (N G G, 272) */
    DDAD_TRY(bl_nn_distance(query, bank, BL_NN_CHUNK_ELEMS, on_progress, r, &d));
    DDAD_TRY(ddad_to_buffer(d, dist, (size_t)(N * G * G) * sizeof(float), DDAD_DTYPE_F32));
    DDAD_TRY(bl_patchnn_maps(dist, N, G, S, r->a->sigma, maps, scores));
    res->seconds = now_s() - t0;
    res->bank = ddad_tensor_size(bank, 0);
    res->grid = (int)G;
    res->sigma = r->a->sigma;
    snprintf(res->image_score, sizeof res->image_score, "max");
    snprintf(res->features, sizeof res->features, "%s", r->net.source);
    DDAD_TRY(bl_metrics(maps, test->masks, scores, test->labels, N, S, S, r->cfg.eval.pro_limit, &res->rec));
    if (r->net.random_weights)
        ddad_metrics_add_note(&res->rec, "RANDOM feature-extractor weights");
    char note[160];
    snprintf(note, sizeof note, "grid %lld, bank %lld vectors, sigma %g, image score max", (long long)G,
             (long long)res->bank, res->sigma);
    ddad_metrics_add_note(&res->rec, note);
    if (r->dump) {
        char g[160];
        int64_t sh_d[3] = {N, G, G}, sh_maps[3] = {N, S, S}, sh_sc[1] = {N};
        snprintf(g, sizeof g, "%s/patchnn", res->rec.category);
        char path[256];
        snprintf(path, sizeof path, "%s/test_features", g);
        DDAD_TRY(ddad_tensor_h5_write(r->dump, path, ftest, DDAD_DTYPE_F32, 0));
        snprintf(path, sizeof path, "%s/bank", g);
        DDAD_TRY(ddad_tensor_h5_write(r->dump, path, bank, DDAD_DTYPE_F32, 0));
        DDAD_TRY(dump_f32(r, g, "distances", dist, sh_d, 3));
        DDAD_TRY(dump_f32(r, g, "maps", maps, sh_maps, 3));
        DDAD_TRY(dump_f32(r, g, "scores", scores, sh_sc, 1));
        DDAD_TRY(dump_metrics(r, g, res));
        DDAD_TRY(ddad_h5_set_attr_i64(r->dump, g, "grid", G));
        DDAD_TRY(ddad_h5_set_attr_str(r->dump, g, "feature_extractor", r->net.source));
    }
fail:
    ddad_scope_end(mark);
    free(dist);
    free(maps);
    free(scores);
    return st;
}

/* ---- one category ------------------------------------------------------------------ */

static ddad_status_t run_category(run_t *r, const ddad_dataset_t *ds, const char *category, result_t *results,
                                  size_t *n_results)
{
    const ddad_config_t *cfg = &r->cfg;
    const ddad_sample_t **test_s = NULL, **train_s = NULL;
    size_t n_test = 0, n_train = 0;
    bl_split_t train, test;
    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    ddad_status_t st = DDAD_OK;
    r->category = category;
    r->stage_method = NULL;

    DDAD_TRY(ddad_dataset_select(ds, category, DDAD_SPLIT_TEST, &test_s, &n_test));
    DDAD_TRY(ddad_dataset_select(ds, category, DDAD_SPLIT_TRAIN, &train_s, &n_train));
    if (n_test == 0) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s/%s has no test images", cfg->data.root, category);
        goto fail;
    }
    if (n_train == 0) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s/%s has no training images", cfg->data.root, category);
        goto fail;
    }
    double t0 = now_s();
    r->stage_method = "train";
    DDAD_TRY(bl_split_load(&train, train_s, n_train, r->S, ds->mask_threshold, on_progress, r));
    r->stage_method = "test";
    DDAD_TRY(bl_split_load(&test, test_s, n_test, r->S, ds->mask_threshold, on_progress, r));
    const double load_s = now_s() - t0;
    progress_line(r, "%s: %zu training and %zu test images at %d px decoded in %.2f s", category, n_train, n_test,
                  r->S, load_s);
    if (r->dump)
        DDAD_TRY(dump_split(r, category, &test, train_s, n_train, test_s));
    if (r->a->methods & METHOD_MEANDIFF) {
        result_t *res = &results[(*n_results)];
        result_init(res, category, "meandiff", (int64_t)n_train, load_s);
        DDAD_TRY(run_meandiff(r, &train, &test, res));
        (*n_results)++;
        progress_line(r, "%s: meandiff %.2f s", category, res->seconds);
    }
    if (r->a->methods & METHOD_PATCHNN) {
        result_t *res = &results[(*n_results)];
        result_init(res, category, "patchnn", (int64_t)n_train, load_s);
        DDAD_TRY(run_patchnn(r, &train, &test, res));
        (*n_results)++;
        progress_line(r, "%s: patchnn %.2f s (bank %lld vectors)", category, res->seconds, (long long)res->bank);
    }
fail:
    if (r->tty && st != DDAD_OK)
        fputs("\r\033[K", stderr);
    bl_split_free(&train);
    bl_split_free(&test);
    free(test_s);
    free(train_s);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "%s", category);
    return DDAD_OK;
}

/* ---- output ------------------------------------------------------------------------ */

static void pct_cell(FILE *out, double v, int w)
{
    if (isnan(v))
        fprintf(out, " %*s", w, "-");
    else
        fprintf(out, " %*.1f", w, 100.0 * v);
}

static void write_table(FILE *out, const result_t *res, size_t n, const run_t *r)
{
    int cw = 8;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(res[i].rec.category) > cw)
            cw = (int)strlen(res[i].rec.category);
    const int width = cw + 1 + 9 + 7 + 9 * 5 + 2 + 9;
    char pro[32];
    snprintf(pro, sizeof pro, "AU-PRO@%g", n ? res[0].rec.au_pro_limit : 0.3);
    fprintf(out, "%-*s %-9s %6s %8s %8s %10s %8s %8s %8s\n", cw, "category", "method", "images", "I-AUROC", "P-AUROC",
            pro, "P-F1max", "I-F1max", "seconds");
    for (int k = 0; k < width; k++)
        fputc('-', out);
    fputc('\n', out);
    for (size_t i = 0; i < n; i++) {
        const ddad_metrics_record_t *m = &res[i].rec;
        fprintf(out, "%-*s %-9s %6lld", cw, m->category, res[i].method, (long long)m->images);
        pct_cell(out, m->image_auroc, 8);
        pct_cell(out, m->pixel_auroc, 8);
        pct_cell(out, m->au_pro, 10);
        pct_cell(out, m->pixel_f1_max, 8);
        pct_cell(out, m->image_f1_max, 8);
        fprintf(out, " %8.2f\n", res[i].seconds);
    }
    /* a mean row per method when there are several categories */
    const char *methods[2] = {"meandiff", "patchnn"};
    bool rule = false;
    for (int k = 0; k < 2; k++) {
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++)
            cnt += !strcmp(res[i].method, methods[k]);
        if (cnt < 2)
            continue;
        if (!rule) {
            for (int c = 0; c < width; c++)
                fputc('-', out);
            fputc('\n', out);
            rule = true;
        }
        double sum[6] = {0}, num[6] = {0};
        long long images = 0;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(res[i].method, methods[k]))
                continue;
            const ddad_metrics_record_t *m = &res[i].rec;
            double v[6] = {m->image_auroc, m->pixel_auroc, m->au_pro, m->pixel_f1_max, m->image_f1_max,
                           res[i].seconds};
            for (int c = 0; c < 6; c++)
                if (!isnan(v[c]))
                    sum[c] += v[c], num[c] += 1;
            images += m->images;
        }
        fprintf(out, "%-*s %-9s %6lld", cw, "mean", methods[k], images);
        for (int c = 0; c < 5; c++)
            pct_cell(out, num[c] ? sum[c] / num[c] : NAN, c == 2 ? 10 : 8);
        fprintf(out, " %8.2f\n", sum[5]);
    }
    if (n)
        fprintf(out, "values in percent; AU-PRO integrated up to FPR %g; maps at %d x %d, masks nearest; seconds: "
                     "fit on the training images + test maps (decoding excluded%s)\n",
                res[0].rec.au_pro_limit, r->S, r->S, rule ? "; mean row: total" : "");
    for (size_t i = 0; i < n; i++)
        if (res[i].rec.notes[0])
            fprintf(out, "note: %s/%s: %s\n", res[i].rec.category, res[i].method, res[i].rec.notes);
}

static void num_or(FILE *out, double v, const char *missing)
{
    if (isnan(v) || isinf(v))
        fputs(missing, out);
    else
        fprintf(out, "%.10g", v);
}

static void quoted(FILE *out, const char *s, bool json)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (json && (c == '"' || c == '\\'))
            fprintf(out, "\\%c", c);
        else if (json && c < 0x20)
            fprintf(out, "\\u%04x", c);
        else if (!json && c == '"')
            fputs("\"\"", out);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* The numeric fields of a row, in output order (CSV columns, JSON keys). */
static size_t row_numbers(const result_t *res, const run_t *r, const char **names, double *v)
{
    const ddad_metrics_record_t *m = &res->rec;
    size_t k = 0;
#define F(name, value) (names[k] = (name), v[k++] = (value))
    F("images", (double)m->images);
    F("image_auroc", m->image_auroc);
    F("pixel_auroc", m->pixel_auroc);
    F("au_pro", m->au_pro);
    F("au_pro_limit", m->au_pro_limit);
    F("pixel_f1_max", m->pixel_f1_max);
    F("pixel_f1_threshold", m->pixel_f1_threshold);
    F("image_f1_max", m->image_f1_max);
    F("image_f1_threshold", m->image_f1_threshold);
    F("seconds", res->seconds);
    F("load_seconds", res->load_seconds);
    F("image_size", (double)r->S);
    F("train_images", (double)res->n_train);
    F("grid", res->grid ? (double)res->grid : NAN);
    F("bank", res->grid ? (double)res->bank : NAN);
    F("sigma", res->sigma);
#undef F
    return k;
}

static void write_csv(FILE *out, const result_t *res, size_t n, const run_t *r)
{
    const char *names[32];
    double v[32];
    size_t k = row_numbers(&res[0], r, names, v);
    fputs("category,method", out);
    for (size_t j = 0; j < k; j++)
        fprintf(out, ",%s", names[j]);
    fputs(",image_score,feature_extractor,notes\n", out);
    for (size_t i = 0; i < n; i++) {
        k = row_numbers(&res[i], r, names, v);
        quoted(out, res[i].rec.category, false);
        fprintf(out, ",%s", res[i].method);
        for (size_t j = 0; j < k; j++) {
            fputc(',', out);
            num_or(out, v[j], "");
        }
        fputc(',', out);
        quoted(out, res[i].image_score, false);
        fputc(',', out);
        quoted(out, res[i].features, false);
        fputc(',', out);
        quoted(out, res[i].rec.notes, false);
        fputc('\n', out);
    }
}

static void write_json(FILE *out, const result_t *res, size_t n, const run_t *r)
{
    const char *names[32];
    double v[32];
    fputs("[\n", out);
    for (size_t i = 0; i < n; i++) {
        size_t k = row_numbers(&res[i], r, names, v);
        fputs("  {\"category\": ", out);
        quoted(out, res[i].rec.category, true);
        fprintf(out, ", \"method\": \"%s\"", res[i].method);
        for (size_t j = 0; j < k; j++) {
            fprintf(out, ", \"%s\": ", names[j]);
            num_or(out, v[j], "null");
        }
        fputs(", \"image_score\": ", out);
        quoted(out, res[i].image_score, true);
        fputs(", \"feature_extractor\": ", out);
        if (res[i].features[0])
            quoted(out, res[i].features, true);
        else
            fputs("null", out);
        fputs(", \"notes\": ", out);
        quoted(out, res[i].rec.notes, true);
        fputs(i + 1 < n ? "},\n" : "}\n", out);
    }
    fputs("]\n", out);
}

static ddad_status_t write_results(FILE *out, const result_t *res, size_t n, const run_t *r, ddad_report_format_t f)
{
    if (f == DDAD_REPORT_CSV)
        write_csv(out, res, n, r);
    else if (f == DDAD_REPORT_JSON)
        write_json(out, res, n, r);
    else
        write_table(out, res, n, r);
    if (fflush(out) != 0 || ferror(out))
        return ddad_fail(DDAD_STATUS_IO, "writing the results failed: %s", strerror(errno));
    return DDAD_OK;
}

/* ---- main ---------------------------------------------------------------------------- */

static ddad_status_t open_dump(run_t *r, char *tmp, size_t cap)
{
    snprintf(tmp, cap, "%s.tmp", r->a->dump);
    ddad_status_t st = ddad_h5_open(&r->dump, tmp, DDAD_H5_CREATE);
    if (st != DDAD_OK)
        return st;
    char *yaml = NULL;
    if ((st = ddad_h5_set_attr_str(r->dump, "/", "format", "ddad-baselines-dump")) == DDAD_OK &&
        (st = ddad_h5_set_attr_i64(r->dump, "/", "format_version", 1)) == DDAD_OK &&
        (st = ddad_h5_set_attr_i64(r->dump, "/", "image_size", r->S)) == DDAD_OK &&
        (st = ddad_h5_set_attr_str(r->dump, "/", "git_revision", DDAD_GIT_REVISION)) == DDAD_OK &&
        (st = ddad_config_to_yaml(&r->cfg, &yaml)) == DDAD_OK)
        st = ddad_h5_set_attr_str(r->dump, "/", "config", yaml);
    free(yaml);
    return st;
}

int baselines_run(const args_t *a, const ddad_config_t *cfg)
{
    run_t r;
    memset(&r, 0, sizeof r);
    r.a = a;
    r.cfg = *cfg;
    r.tty = !a->quiet && isatty(STDERR_FILENO);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    ddad_status_t st = DDAD_OK;
    r.S = r.cfg.data.image_size;
    r.grid = a->grid > 0 ? a->grid : r.cfg.features.score_size;
    const char *cats[MAX_CATEGORIES];
    size_t nc = ddad_config_categories(&r.cfg, cats, MAX_CATEGORIES);
    if (nc == 0)
        return ddad_cli_fail(&a->cli, ddad_fail(DDAD_STATUS_CONFIG, "data.category names no category"));
    if (nc > MAX_CATEGORIES)
        nc = MAX_CATEGORIES;
    result_t *results = calloc(2 * nc, sizeof *results);
    if (!results)
        return ddad_cli_fail(&a->cli, ddad_fail(DDAD_STATUS_NOMEM, "out of memory"));
    size_t n = 0;
    char dump_tmp[4200] = "", out_tmp[4200] = "";
    FILE *out_fp = NULL;
    ddad_dataset_t *ds = NULL;
    /* every input and output is checked before the long work: the data set
     * (all categories, every image header), the outputs, the device, weights */
    DDAD_TRY(ddad_dataset_index(&ds, r.cfg.data.format, r.cfg.data.root, cats, nc));
    DDAD_TRY(ddad_dataset_validate(ds));
    /* fit on the images ddad trains on: data.val_split's held-out ones are not */
    ddad_dataset_hold_out(ds, r.cfg.data.val_split, NULL);
    if (a->out) {
        snprintf(out_tmp, sizeof out_tmp, "%s.tmp", a->out);
        if (!(out_fp = fopen(out_tmp, "w"))) {
            st = ddad_fail(DDAD_STATUS_IO, "cannot write %s: %s", out_tmp, strerror(errno));
            out_tmp[0] = '\0';
            goto fail;
        }
    }
    if (a->dump)
        DDAD_TRY(open_dump(&r, dump_tmp, sizeof dump_tmp));
    DDAD_TRY(ddad_runtime_setup(&r.cfg));
    if (a->methods & METHOD_PATCHNN) {
        double t0 = now_s();
        DDAD_TRY(ddad_extractor_create(&r.net, &r.cfg));
        r.have_net = true;
        progress_line(&r, "backbone: EfficientNet-B4, %s (%.2f s)", r.net.source, now_s() - t0);
    }
    for (size_t i = 0; i < nc; i++)
        DDAD_TRY(run_category(&r, ds, cats[i], results, &n));
    if (r.dump) {
        ddad_h5_t *f = r.dump;
        r.dump = NULL;
        DDAD_TRY(ddad_h5_close(f));
        if ((st = ddad_run_commit(dump_tmp, a->dump)) != DDAD_OK)
            goto fail;
        dump_tmp[0] = '\0';
    }
    DDAD_TRY(write_results(stdout, results, n, &r, a->format));
    if (out_fp) {
        size_t len = strlen(a->out);
        bool csv = len >= 4 && !strcmp(a->out + len - 4, ".csv");
        st = write_results(out_fp, results, n, &r, csv ? DDAD_REPORT_CSV : DDAD_REPORT_JSON);
        FILE *fp = out_fp;
        out_fp = NULL;
        if (fclose(fp) != 0 && st == DDAD_OK)
            st = ddad_fail(DDAD_STATUS_IO, "writing %s failed", out_tmp);
        if (st != DDAD_OK)
            goto fail;
        if (rename(out_tmp, a->out) != 0) {
            st = ddad_fail(DDAD_STATUS_IO, "cannot rename %s to %s: %s", out_tmp, a->out, strerror(errno));
            goto fail;
        }
        out_tmp[0] = '\0';
    }
fail:
    if (out_fp)
        fclose(out_fp);
    if (out_tmp[0])
        remove(out_tmp);
    ddad_dataset_free(ds);
    if (r.dump)
        ddad_h5_close(r.dump);
    if (dump_tmp[0])
        remove(dump_tmp);
    if (r.have_net)
        ddad_effnet_free(&r.net);
    free(results);
    if (st != DDAD_OK)
        return ddad_cli_fail(&a->cli, st);
    return 0;
}
