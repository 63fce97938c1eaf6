/* eval/predict_run.c - see predict_args.h: the model side of ddad-predict,
 * calibration on --calib images and the scoring of the inputs, through the
 * deployment API (include/ddad/ddad.h) and core/report/calib.h; whether the
 * calibration images are training images comes from trained_on.h. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "calib.h"
#include "cli.h"
#include "config.h"
#include "csv.h"
#include "ddad.h"
#include "eval_images.h"
#include "image.h"
#include "predict_args.h"
#include "predict_inputs.h"
#include "report.h"
#include "run.h"
#include "tiff.h"
#include "trained_on.h"

/* Above this share of good test images flagged, ddad-predict warns: the
 * max rule on n held-out images should flag about 1 in n + 1. */
#define PREDICT_FALSE_ALARM_WARN 0.10

static volatile sig_atomic_t interrupted = 0;
static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- calibration ------------------------------------------------------- */

/* MVTec's mask of a test image DIR/<defect>/<name>.<ext>:
 * DIR/../ground_truth/<defect>/<name>_mask.png, if present. */
static bool mask_path_of(const char *calib_dir, const char *image, char *buf, size_t cap)
{
    const char *rel = image + strlen(calib_dir);
    while (*rel == '/')
        rel++;
    char stem[4096];
    snprintf(stem, sizeof stem, "%s", rel);
    char *dot = strrchr(stem, '.');
    if (dot)
        *dot = '\0';
    snprintf(buf, cap, "%s/../ground_truth/%s_mask.png", calib_dir, stem);
    struct stat sb;
    return stat(buf, &sb) == 0;
}

static ddad_status_t calibrate(const predict_args_t *a, ddad_scorer_t *sc, const ddad_config_t *cfg, bool have_cfg)
{
    ddad_calib_rule_t rule;
    const char *rule_text = a->rule ? a->rule : have_cfg ? cfg->eval.threshold_rule : "max";
    ddad_status_t st = ddad_calib_rule_parse(rule_text, &rule);
    if (st != DDAD_OK)
        return st;
    if (!ddad_run_is_dir(a->calib))
        return ddad_fail(DDAD_STATUS_USAGE, "--calib %s: not a folder", a->calib);
    predict_inputs_t good = {0}, bad = {0};
    char gdir[4200];
    snprintf(gdir, sizeof gdir, "%s/good", a->calib);
    const bool layout = ddad_run_is_dir(gdir);
    const bool want_good = true, want_bad = false;
    float *scores = NULL, *maps = NULL;
    uint8_t *labels = NULL, *masks = NULL;
    const char **names = NULL; /* (n) the scored images' paths, for calibration.csv */
    size_t used = 0, n_bad_used = 0;
    st = predict_inputs_add_folder(&good, a->calib, layout ? &want_good : NULL);
    if (st == DDAD_OK && layout)
        st = predict_inputs_add_folder(&bad, a->calib, &want_bad);
    if (st != DDAD_OK)
        goto done;
    const size_t n = good.n + bad.n;
    const int S = ddad_scorer_image_size(sc);
    const size_t hw = (size_t)S * S;
    scores = malloc((n ? n : 1) * sizeof *scores);
    maps = malloc((n ? n : 1) * hw * sizeof *maps);
    labels = calloc(n ? n : 1, 1);
    masks = calloc((n ? n : 1) * hw, 1);
    names = calloc(n ? n : 1, sizeof *names);
    bool all_masks = bad.n > 0;
    if (!scores || !maps || !labels || !masks || !names) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory for %zu calibration maps", n);
        goto done;
    }
    if (good.n == 0) {
        st = ddad_fail(DDAD_STATUS_DATA, "--calib %s: no good image found (%s)", a->calib,
                       layout ? "its good/ folder holds no .png, .jpg, .jpeg or .bmp file"
                              : "it holds no .png, .jpg, .jpeg or .bmp file");
        goto done;
    }
    if (rule.kind == DDAD_CALIB_RULE_F1 && bad.n == 0) {
        /* refuse before scoring anything: the same message as the fit */
        float one = 0.0f;
        st = ddad_calib_threshold(&rule, &one, NULL, 1, &(double){0});
        ddad_fail_context(st, "--calib %s holds only good images", a->calib);
        goto done;
    }
    if (!a->quiet)
        fprintf(stderr, "ddad-predict: calibrating on %zu good%s images of %s (rule %s)\n", good.n,
                bad.n ? " and labelled defective" : "", a->calib, rule_text);
    for (size_t k = 0; k < n && !interrupted; k++) {
        const predict_input_t *e = k < good.n ? &good.v[k] : &bad.v[k - good.n];
        ddad_image_t img = {0}, small = {0};
        ddad_scorer_result_t r;
        memset(&r, 0, sizeof r);
        st = ddad_image_load(&img, e->path, DDAD_IMAGE_RGB);
        if (st == DDAD_OK && (img.w != S || img.h != S))
            st = ddad_image_resize_bicubic(&img, S, S, &small);
        if (st == DDAD_OK)
            st = ddad_scorer_score_rgb(sc, small.data ? small.data : img.data, S, S, &r);
        ddad_image_free(&img);
        ddad_image_free(&small);
        if (st != DDAD_OK) {
            fprintf(stderr, "ddad-predict: skipping calibration image %s: %s\n", e->path, ddad_last_error());
            st = DDAD_OK;
            continue;
        }
        scores[used] = r.score;
        names[used] = e->path;
        memcpy(maps + used * hw, r.map, hw * sizeof *maps);
        ddad_scorer_result_free(&r);
        if (k >= good.n) {
            labels[used] = 1;
            n_bad_used++;
            char mpath[8400];
            ddad_image_t m = {0}, ms = {0};
            if (mask_path_of(a->calib, e->path, mpath, sizeof mpath) &&
                ddad_image_load(&m, mpath, DDAD_IMAGE_GRAY) == DDAD_OK &&
                (m.w == S && m.h == S ? DDAD_OK : ddad_image_resize_nearest(&m, S, S, &ms)) == DDAD_OK)
                ddad_image_binarize(ms.data ? &ms : &m, 127, masks + used * hw);
            else
                all_masks = false;
            ddad_image_free(&m);
            ddad_image_free(&ms);
        }
        used++;
        if (!a->quiet && isatty(STDERR_FILENO))
            fprintf(stderr, "\r  calibration [%zu/%zu]", k + 1, n);
    }
    if (!a->quiet && isatty(STDERR_FILENO))
        fputc('\n', stderr);
    if (interrupted) {
        st = ddad_fail(DDAD_STATUS_INTERRUPTED, "interrupted during calibration: nothing was stored");
        goto done;
    }
    ddad_calib_set_t set = {.scores = scores, .labels = n_bad_used ? labels : NULL, .maps = maps,
                            .masks = all_masks ? masks : NULL, .n = used, .hw = hw};
    ddad_calibration_t cal;
    memset(&cal, 0, sizeof cal);
    snprintf(cal.category, sizeof cal.category, "%s", ddad_scorer_category(sc));
    snprintf(cal.source, sizeof cal.source, "--calib %s: %zu good%s images", a->calib, used - n_bad_used,
             n_bad_used ? " and labelled defective" : "");
    if (n_bad_used) {
        size_t len = strlen(cal.source);
        snprintf(cal.source + len, sizeof cal.source - len, " (%zu defective%s)", n_bad_used,
                 all_masks ? ", with masks" : ", masks missing: pixel threshold from good images");
    }
    st = ddad_calib_fit(&rule, &set, &cal);
    if (st != DDAD_OK)
        goto done;
    const size_t n_good_used = used - n_bad_used; /* names[0..n_good_used): the good images scored */
    size_t trained_on = 0;
    if (eval_trained_on_mark(&cal, ddad_scorer_checkpoint(sc), names, n_good_used, "; ", &trained_on) != DDAD_OK) {
        fprintf(stderr, "ddad-predict: note: cannot tell whether the --calib images are images the model trained "
                "on (%s)\n", ddad_last_error());
        ddad_clear_error();
    }
    if (trained_on)
        fprintf(stderr, "ddad-predict: warning: %zu of the %zu good --calib images are images the model trained on "
                "(%s): their scores run low, so the threshold is too low and good images will be flagged; "
                "calibrate on good images it never saw\n", trained_on, n_good_used, a->calib);
    char path[4200];
    ddad_calib_path(path, sizeof path, ddad_scorer_run_dir(sc));
    st = ddad_calib_file_update(path, ddad_scorer_checkpoint(sc), &cal, 1);
    if (st == DDAD_OK) /* the images behind the new threshold, in place of ddad-eval's */
        st = ddad_run_mkdir_p(ddad_scorer_category_dir(sc));
    if (st == DDAD_OK)
        st = ddad_run_path(path, sizeof path, ddad_scorer_category_dir(sc), NULL, DDAD_RUN_CALIBRATION);
    if (st == DDAD_OK)
        st = ddad_calib_write_scores(path, &cal, names, labels, scores, used);
    if (st == DDAD_OK)
        st = ddad_scorer_reload_calibration(sc);
    if (st == DDAD_OK && !a->quiet)
        fprintf(stderr, "ddad-predict: %s: image threshold %.6g, pixel threshold %.6g (rule %s, %d good, %d defective "
                "images) stored in %s\n", cal.category, cal.image_threshold, cal.pixel_threshold, cal.rule,
                cal.images, cal.defect_images, path);
done:
    free(names);
    free(scores);
    free(maps);
    free(labels);
    free(masks);
    predict_inputs_free(&good);
    predict_inputs_free(&bad);
    return st;
}

/* ---- prediction output --------------------------------------------------- */

typedef struct out {
    FILE *f;
    out_format_t format;
    size_t scored, anomalous, failed;
} out_t;

static void write_header(out_t *o)
{
    if (o->format != OUT_JSONL)
        fputs("path,score,normalized,threshold,label,ms_per_image,feature_weights\n", o->f);
}

static void csv_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6g", v);
}

static void write_row(out_t *o, const char *path, const ddad_scorer_result_t *r, bool has_thr, double ms,
                      const char *features)
{
    const char *label = !has_thr ? "unknown" : r->is_anomalous ? "anomalous" : "good";
    if (o->format == OUT_JSONL) {
        fputs("{\"path\": ", o->f);
        ddad_json_string(o->f, path);
        fputs(", \"score\": ", o->f);
        ddad_json_number(o->f, r->score);
        fputs(", \"normalized\": ", o->f);
        ddad_json_number(o->f, r->normalized);
        fputs(", \"threshold\": ", o->f);
        ddad_json_number(o->f, r->threshold);
        fprintf(o->f, ", \"label\": \"%s\", \"ms_per_image\": %.2f, \"feature_weights\": ", label, ms);
        ddad_json_string(o->f, features);
        fputs("}\n", o->f);
    } else {
        ddad_csv_field(o->f, path);
        fputc(',', o->f);
        csv_num(o->f, r->score);
        fputc(',', o->f);
        csv_num(o->f, r->normalized);
        fputc(',', o->f);
        csv_num(o->f, r->threshold);
        fprintf(o->f, ",%s,%.2f,", label, ms);
        ddad_csv_field(o->f, features);
        fputc('\n', o->f);
    }
    o->scored++;
    o->anomalous += has_thr && r->is_anomalous;
}

/* The per-image files of one result. */
static ddad_status_t save_files(const predict_args_t *a, const char *out_dir, const predict_input_t *e,
                                const ddad_image_t *img, const ddad_scorer_result_t *r, const ddad_calibration_t *cal)
{
    char path[8400];
    if (a->save) {
        snprintf(path, sizeof path, "%s/images", out_dir);
        eval_images_opts_t io = {.calib = cal, .what = a->save};
        DDAD_TRY_RETURN(eval_images_write(r->map, r->h, r->w, img, e->path, path, e->stem, &io));
    }
    if (a->save_tiff) {
        snprintf(path, sizeof path, "%s/maps/%s.tiff", out_dir, e->stem);
        DDAD_TRY_RETURN(ddad_tiff_write_float(path, r->map, r->w, r->h));
    }
    return DDAD_OK;
}

/* Scores every input in batches; failures are reported and counted. */
static ddad_status_t predict(const predict_args_t *a, ddad_scorer_t *sc, const predict_inputs_t *in, const char *out_dir,
                             out_t *o)
{
    const int B = ddad_scorer_batch_size(sc);
    const bool has_thr = ddad_scorer_has_threshold(sc);
    ddad_calibration_t cal;
    memset(&cal, 0, sizeof cal);
    cal.image_threshold = cal.pixel_threshold = NAN;
    cal.image_min = cal.image_max = cal.pixel_min = cal.pixel_max = NAN;
    ddad_scorer_calibration_t info;
    if (has_thr && ddad_scorer_calibration(sc, &info) == DDAD_OK) {
        /* the fixed colour scale of the PNGs: the same statistics as r.map_normalized */
        char path[4200];
        ddad_calib_file_t f;
        ddad_calib_path(path, sizeof path, ddad_scorer_run_dir(sc));
        if (ddad_calib_file_read(path, &f) == DDAD_OK) {
            const ddad_calibration_t *e = ddad_calib_file_find(&f, ddad_scorer_category(sc));
            if (e)
                cal = *e;
            ddad_calib_file_free(&f);
        }
    }
    if (a->save && !ddad_calib_has_statistics(&cal))
        return ddad_fail(DDAD_STATUS_DATA, "--save heat/overlay/mask draws maps on the run's calibrated scale, and "
                         "%s has no calibration for %s with statistics: run ddad-eval on the run, or give --calib DIR "
                         "with good images (--save tiff needs none)", ddad_scorer_run_dir(sc),
                         ddad_scorer_category(sc));
    ddad_image_t *imgs = calloc((size_t)B, sizeof *imgs);
    const predict_input_t **ents = calloc((size_t)B, sizeof *ents);
    const uint8_t **rgb = calloc((size_t)B, sizeof *rgb);
    int *ws = calloc((size_t)B, sizeof *ws), *hs = calloc((size_t)B, sizeof *hs);
    ddad_scorer_result_t *res = calloc((size_t)B, sizeof *res);
    ddad_status_t st = DDAD_OK;
    if (!imgs || !ents || !rgb || !ws || !hs || !res) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory for a batch of %d images", B);
        goto done;
    }
    const bool tty = !a->quiet && isatty(STDERR_FILENO);
    const double t0 = now_s();
    size_t k = 0;
    while (k < in->n && !interrupted) {
        int nb = 0;
        for (; k < in->n && nb < B; k++) {
            const predict_input_t *e = &in->v[k];
            if (e->error) {
                fprintf(stderr, "%sddad-predict: skipping %s: %s\n", tty ? "\r" : "", e->path, e->error);
                o->failed++;
                continue;
            }
            if (ddad_image_load(&imgs[nb], e->path, DDAD_IMAGE_RGB) != DDAD_OK) {
                fprintf(stderr, "%sddad-predict: skipping %s: %s\n", tty ? "\r" : "", e->path, ddad_last_error());
                o->failed++;
                continue;
            }
            ents[nb] = e;
            rgb[nb] = imgs[nb].data;
            ws[nb] = imgs[nb].w;
            hs[nb] = imgs[nb].h;
            nb++;
        }
        if (nb == 0)
            continue;
        const double tb = now_s();
        st = ddad_scorer_score_rgb_batch(sc, rgb, ws, hs, nb, res);
        const double ms = 1000.0 * (now_s() - tb) / nb;
        for (int j = 0; j < nb && st == DDAD_OK; j++) {
            write_row(o, ents[j]->path, &res[j], has_thr, ms, ddad_scorer_feature_weights(sc));
            st = save_files(a, out_dir, ents[j], &imgs[j], &res[j], &cal);
        }
        for (int j = 0; j < nb; j++) {
            ddad_scorer_result_free(&res[j]);
            ddad_image_free(&imgs[j]);
        }
        if (st != DDAD_OK)
            goto done;
        if (tty) {
            double el = now_s() - t0;
            fprintf(stderr, "\r  [%zu/%zu] %.2f images/s", o->scored + o->failed, in->n,
                    el > 0 ? (double)o->scored / el : 0.0);
        }
    }
    if (tty)
        fputc('\n', stderr);
    double el = now_s() - t0;
    if (!a->quiet && o->scored)
        fprintf(stderr, "ddad-predict: scored %zu images in %.2f s (%.2f images/s)\n", o->scored, el,
                el > 0 ? (double)o->scored / el : 0.0);
    if (interrupted)
        st = ddad_fail(DDAD_STATUS_INTERRUPTED, "interrupted after %zu images (their rows are written)", o->scored);
done:
    free(imgs);
    free(ents);
    free(rgb);
    free(ws);
    free(hs);
    free(res);
    return st;
}

static void print_table(FILE *out, const char *csv_path, const char *features)
{
    FILE *f = fopen(csv_path, "r");
    if (!f)
        return;
    /* the last column (the same feature weights on every row) is said once,
     * below the table: its CSV form is cut from the end of each line */
    char suffix[1200] = ",";
    FILE *mf = fmemopen(suffix + 1, sizeof suffix - 1, "w");
    if (mf) {
        ddad_csv_field(mf, features);
        fclose(mf);
    }
    char line[8192];
    bool header = true;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        size_t n = strlen(line), k = header ? strlen(",feature_weights") : strlen(suffix);
        if (n >= k && !strcmp(line + n - k, header ? ",feature_weights" : suffix))
            line[n - k] = '\0';
        /* path may be quoted; split from the right: 5 numeric/label fields */
        char *fields[6];
        char *p = line + strlen(line);
        int nf = 0;
        while (nf < 5 && p > line) {
            char *c = p;
            while (c > line && c[-1] != ',')
                c--;
            if (c == line)
                break;
            fields[6 - ++nf] = c;
            c[-1] = '\0';
            p = c - 1;
        }
        if (nf < 5)
            continue;
        fields[0] = line;
        fprintf(out, "%-48s %10s %10s %10s %-9s %8s\n", fields[0], fields[1], fields[2], fields[3], fields[4],
                fields[5]);
        if (header) {
            fprintf(out, "%.*s\n", 100, "----------------------------------------------------------------------"
                                        "------------------------------");
            header = false;
        }
    }
    fclose(f);
    fprintf(out, "feature weights: %s\n", features);
}

/* What the stored thresholds flagged on the labelled test split (ddad-eval's
 * check, in threshold.json), and a warning when good parts would often be
 * rejected. Silent for thresholds that were never checked (--calib). */
static void print_threshold_check(const ddad_scorer_t *sc)
{
    ddad_scorer_threshold_check_t c;
    if (ddad_scorer_threshold_check(sc, &c) != DDAD_OK)
        return;
    fprintf(stderr, "ddad-predict: on the labelled test split of %s these thresholds flagged %lld of %lld good "
            "images and %lld of %lld defective ones\n", ddad_scorer_category(sc), (long long)c.good_flagged,
            (long long)c.good_images, (long long)c.defective_flagged, (long long)c.defective_images);
    if (c.image_fpr > PREDICT_FALSE_ALARM_WARN)
        fprintf(stderr, "ddad-predict: warning: %.0f%% of the good test images were above the image threshold: "
                "good parts may be rejected; calibrate on recent good images from the line (ddad-predict RUN "
                "--calib DIR)\n", 100.0 * c.image_fpr);
}

int predict_run(const predict_args_t *a, const char *run, const ddad_config_t *cfg, bool have_cfg)
{
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    ddad_status_t st;
    ddad_scorer_t *sc = NULL;
    predict_inputs_t in = {0};
    out_t o = {.format = a->format};
    char out_dir[4200], out_path[4300];
    st = ddad_scorer_open_with(&sc, a->checkpoint ? a->checkpoint : run, a->cli.device, a->cli.sets, (int)a->cli.n_sets);
    if (st != DDAD_OK)
        goto fail;
    if (a->category) {
        st = ddad_scorer_set_category(sc, a->category);
        if (st != DDAD_OK)
            goto fail;
    } else if (ddad_scorer_category_count(sc) > 1) {
        st = ddad_fail(DDAD_STATUS_USAGE, "%s is a unified run of %d categories: say which one the images are with "
                       "--category C", run, ddad_scorer_category_count(sc));
        goto fail;
    }
    if (a->calib) {
        st = calibrate(a, sc, cfg, have_cfg);
        if (st != DDAD_OK)
            goto fail;
    }
    if (a->n_inputs == 0) {
        ddad_scorer_close(sc);
        return 0;
    }
    if (!ddad_scorer_has_threshold(sc))
        fprintf(stderr, "ddad-predict: warning: %s has no threshold for %s: labels are \"unknown\" and normalized "
                "scores empty (run ddad-eval on the run, or give --calib DIR with good images)\n", run,
                ddad_scorer_category(sc));
    else {
        ddad_scorer_calibration_t info;
        const bool known = ddad_scorer_calibration(sc, &info) == DDAD_OK;
        if (known && !a->quiet)
            fprintf(stderr, "ddad-predict: threshold %.6g (rule %s on %s%s)\n", info.image_threshold, info.rule,
                    info.source, info.optimistic ? "; OPTIMISTIC: fitted on the test split" : "");
        if (known && info.seen_in_training && !a->calib) /* calibrate() said it, with the count */
            fprintf(stderr, "ddad-predict: warning: the threshold of %s was fitted on images the model trained on "
                    "(%s): it is too low and good images will be flagged (refit with --calib DIR on good images "
                    "it never saw)\n", ddad_scorer_category(sc), info.source);
        if (!a->quiet)
            print_threshold_check(sc);
    }
    for (int i = 0; i < a->n_inputs; i++)
        if ((st = predict_inputs_add(&in, a->inputs[i])) != DDAD_OK)
            goto fail;
    if (a->out)
        st = snprintf(out_dir, sizeof out_dir, "%s", a->out) < (int)sizeof out_dir
                 ? DDAD_OK
                 : ddad_fail(DDAD_STATUS_USAGE, "--out %s: path too long", a->out);
    else
        st = ddad_run_path(out_dir, sizeof out_dir, run, NULL, DDAD_RUN_PREDICTIONS);
    if (st == DDAD_OK)
        st = ddad_run_mkdir_p(out_dir);
    if (st == DDAD_OK && a->save) {
        snprintf(out_path, sizeof out_path, "%s/images", out_dir);
        st = ddad_run_mkdir_p(out_path);
    }
    if (st == DDAD_OK && a->save_tiff) {
        snprintf(out_path, sizeof out_path, "%s/maps", out_dir);
        st = ddad_run_mkdir_p(out_path);
    }
    if (st != DDAD_OK)
        goto fail;
    snprintf(out_path, sizeof out_path, "%s/predictions.%s", out_dir, a->format == OUT_JSONL ? "jsonl" : "csv");
    if (!(o.f = fopen(out_path, "w"))) {
        st = ddad_fail(DDAD_STATUS_IO, "cannot write %s", out_path);
        goto fail;
    }
    write_header(&o);
    st = predict(a, sc, &in, out_dir, &o);
    if (fclose(o.f) != 0 && st == DDAD_OK)
        st = ddad_fail(DDAD_STATUS_IO, "writing %s failed", out_path);
    o.f = NULL;
    if (st != DDAD_OK)
        goto fail;
    if (a->format == OUT_TABLE)
        print_table(stdout, out_path, ddad_scorer_feature_weights(sc));
    if (!a->quiet || a->format == OUT_TABLE)
        fprintf(a->format == OUT_TABLE ? stdout : stderr, "%zu scored, %zu anomalous, %zu failed -> %s\n", o.scored,
                o.anomalous, o.failed, out_path);
    ddad_scorer_close(sc);
    predict_inputs_free(&in);
    if (o.failed) {
        fprintf(stderr, "ddad-predict: %zu input%s could not be scored (listed above)\n", o.failed,
                o.failed == 1 ? "" : "s");
        return ddad_status_exit_code(DDAD_STATUS_DATA);
    }
    return 0;
fail:
    if (o.f)
        fclose(o.f);
    ddad_scorer_close(sc);
    predict_inputs_free(&in);
    return ddad_cli_fail(&a->cli, st);
}
