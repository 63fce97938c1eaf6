/* vis/vis_figures.c - the figures of ddad-vis: Figure 7, the anomaly-map figure, the
 * contact sheet (see vis.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vis.h"
#include "image.h"
#include "nn/checkpoint.h"
#include "nn/score.h"
#include "run.h"
#include "torch/tensor.h"

/* ---- helpers ------------------------------------------------------------ */

/* "test/crack/003.png" -> "crack_003" (letters, digits, '-', '_' only). */
void vis_file_stem(char *buf, size_t cap, const char *category, const char *name)
{
    const char *n = name;
    if (!strncmp(n, "test/", 5))
        n += 5;
    snprintf(buf, cap, "%.63s_%.500s", category ? category : "image", n);
    char *dot = strrchr(buf, '.');
    if (dot && !strchr(dot, '/'))
        *dot = '\0';
    for (char *p = buf; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_'))
            *p = '_';
}

static ddad_status_t tensor_to_host(const ddad_tensor_t *t, float *buf, size_t n)
{
    ddad_tensor_t *c = NULL;
    ddad_status_t st = ddad_to_device(&c, t, DDAD_CPU);
    if (!st)
        st = ddad_to_buffer(c, buf, n * sizeof *buf, DDAD_DTYPE_F32);
    ddad_tensor_free(c);
    return st;
}

void vis_progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ddad-vis: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}


static void on_round(int round, int rounds, void *user)
{
    recon_progress_t *p = user;
    int pct = rounds > 0 ? 100 * round / rounds : 100;
    if (isatty(2)) {
        fprintf(stderr, "\r  gradient denoising: round %d/%d", round, rounds);
        if (round == rounds)
            fputc('\n', stderr);
    } else if (pct / 25 != p->last_pct / 25 || round == rounds) {
        fprintf(stderr, "  gradient denoising: round %d/%d\n", round, rounds);
    }
    p->last_pct = pct;
}

static const uint8_t red[3] = {255, 40, 40};

static ddad_status_t ensure_padim(vis_ctx_t *c, const char *category)
{
    if (c->rp_ready && !strcmp(c->rp_category, category))
        return DDAD_OK;
    ddad_recon_padim_free(&c->rp);
    c->rp_ready = false;
    const ddad_sample_t **train = NULL;
    size_t n_train = 0;
    ddad_status_t st = ddad_dataset_select(c->ds, category, DDAD_SPLIT_TRAIN, &train, &n_train);
    if (st)
        return st;
    char path[PATH_MAX + 128];
    const char *cat_dir = ddad_config_is_unified(&c->cfg) ? category : NULL;
    char dir[PATH_MAX + 64];
    if ((st = ddad_run_path(dir, sizeof dir, c->run_dir, cat_dir, DDAD_RUN_CATEGORY_DIR)) != DDAD_OK ||
        (st = ddad_run_mkdir_p(dir)) != DDAD_OK ||
        (st = ddad_run_path(path, sizeof path, c->run_dir, cat_dir, DDAD_RUN_PADIM)) != DDAD_OK) {
        free(train);
        return st;
    }
    vis_progress("PaDiM for %s (%s)", category, path);
    st = ddad_recon_padim_prepare(&c->rp, &c->cfg, path, train, n_train, c->model.device);
    free(train);
    if (st)
        return st;
    snprintf(c->rp_category, sizeof c->rp_category, "%s", category);
    c->rp_ready = true;
    return DDAD_OK;
}

static ddad_status_t heat_panel(const float *map, int S, ddad_colormap_t cm, ddad_image_t *hm, ddad_image_t *bar,
                                int cell)
{
    double lo, hi;
    ddad_figure_map_range(map, (size_t)S * S, &lo, &hi);
    ddad_status_t st = ddad_figure_heatmap(map, S, S, lo, hi, cm, hm);
    if (!st)
        st = ddad_figure_scale_bar(bar, cell / 8 > 6 ? cell / 8 : 6, cell, lo, hi, cm, 1);
    return st;
}

static ddad_status_t gt_panel(const vis_image_t *im, int S, ddad_image_t *out)
{
    if (im->mask)
        return ddad_figure_image_from_mask(im->mask, S, S, out);
    ddad_status_t st = ddad_image_alloc(out, S, S, 3);
    if (!st)
        memset(out->data, 128, (size_t)S * S * 3); /* gray: no ground truth */
    return st;
}

static const char *gt_label(const vis_image_t *im)
{
    return im->mask ? "ground truth" : "no ground truth";
}

/* Figure 7: one row. Returns the final reconstruction (3, S, S) in *final. */
ddad_status_t vis_figure7(vis_ctx_t *c, const vis_image_t *im, const char *stem, float *final)
{
    const int S = c->S;
    ddad_status_t st = ensure_padim(c, im->category);
    if (st)
        return st;
    ddad_recon_options_t o = ddad_recon_options_from_config(&c->cfg);
    /* the final round is always kept */
    if (o.n_record == 0 || o.record[o.n_record - 1] != o.rounds) {
        if (o.n_record == DDAD_CONFIG_MAX_INTS)
            o.n_record--;
        o.record[o.n_record++] = o.rounds;
    }
    recon_progress_t rpg = {-1};
    o.progress = on_round;
    o.progress_user = &rpg;

    ddad_recon_result_t r = {0};
    ddad_figure_grid_t g = {0};
    ddad_image_t panel = {0};
    ddad_tensor_t *x = NULL, *xd = NULL, *y = NULL;
    float *buf = malloc((size_t)3 * S * S * sizeof *buf);
    if (!buf)
        return ddad_fail(DDAD_STATUS_NOMEM, "figure 7: no memory");
    int64_t shape[4] = {1, 3, S, S};
    DDAD_TRY(ddad_from_buffer(&x, im->x, shape, 4, DDAD_DTYPE_F32));
    DDAD_TRY(ddad_to_device(&xd, x, c->model.device));
    if (c->model.unet_opt.num_classes > 0)
        DDAD_TRY(ddad_model_labels(&c->model, &im->class_id, 1, &y));
    vis_progress("  gradient denoising: %d rounds of %d steps (s = %g), denoising at t = %d (%s)", o.rounds,
             o.grad_steps, o.step_size, (int)o.t, o.sample ? "sampled" : "posterior mean");
    DDAD_TRY(ddad_recon_run(&c->rp, &c->model, xd, y, &o, &r));

    /* panels: mask, input, recorded rounds except 0 and the last, final, [source] */
    int n_mid = 0;
    for (size_t i = 0; i < r.n; i++)
        n_mid += r.rounds[i] != 0 && r.rounds[i] != o.rounds;
    int cols = 2 + n_mid + 1 + (im->source ? 1 : 0);
    char title[768];
    snprintf(title, sizeof title, "%s %s - gradient denoising (PaDiM on WRN-50-2%s)", im->category, im->name,
             c->rp.wrn.random_weights ? ", RANDOM weights" : "");
    ddad_figure_grid_opts_t go = ddad_figure_grid_opts_default();
    go.title = title;
    DDAD_TRY(ddad_figure_grid_init(&g, 1, cols, c->cell, c->cell, &go));
    int col = 0;
    DDAD_TRY(gt_panel(im, S, &panel));
    DDAD_TRY(ddad_figure_grid_put(&g, 0, col++, &panel, gt_label(im)));
    DDAD_TRY(ddad_figure_image_from_chw(im->x, 3, S, S, &panel));
    DDAD_TRY(ddad_figure_grid_put(&g, 0, col++, &panel, "input"));
    for (size_t i = 0; i < r.n; i++) {
        DDAD_TRY(tensor_to_host(r.images[i], buf, (size_t)3 * S * S));
        if (r.rounds[i] == o.rounds)
            memcpy(final, buf, (size_t)3 * S * S * sizeof *buf);
        if (r.rounds[i] == 0 || r.rounds[i] == o.rounds)
            continue;
        char label[64];
        snprintf(label, sizeof label, "round %d", r.rounds[i]);
        DDAD_TRY(ddad_figure_image_from_chw(buf, 3, S, S, &panel));
        DDAD_TRY(ddad_figure_grid_put(&g, 0, col++, &panel, label));
    }
    char label[64];
    snprintf(label, sizeof label, "final (%d)", o.rounds);
    DDAD_TRY(ddad_figure_image_from_chw(final, 3, S, S, &panel));
    DDAD_TRY(ddad_figure_grid_put(&g, 0, col++, &panel, label));
    if (im->source) {
        DDAD_TRY(ddad_figure_image_from_chw(im->source, 3, S, S, &panel));
        DDAD_TRY(ddad_figure_grid_put(&g, 0, col++, &panel, "clean source"));
    }
    char path[PATH_MAX + 600];
    snprintf(path, sizeof path, "%s/fig7_%s.png", c->out_dir, stem);
    DDAD_TRY(ddad_figure_grid_save(&g, path));
    printf("%s\n", path);
    /* a measurement the figure does not show: distance to the source inside/outside the defect */
    if (im->source && im->mask) {
        double din0 = 0, din1 = 0, dout0 = 0, dout1 = 0;
        long nin = 0, nout = 0;
        for (int k = 0; k < 3; k++)
            for (int p = 0; p < S * S; p++) {
                double a = im->x[k * S * S + p] - im->source[k * S * S + p];
                double b = final[k * S * S + p] - im->source[k * S * S + p];
                if (im->mask[p]) {
                    din0 += a * a, din1 += b * b, nin++;
                } else {
                    dout0 += a * a, dout1 += b * b, nout++;
                }
            }
        if (nin > 0 && nout > 0)
            vis_progress("  RMS distance to the defect-free source: inside the defect %.4f -> %.4f, outside %.4f -> %.4f",
                     sqrt(din0 / nin), sqrt(din1 / nin), sqrt(dout0 / nout), sqrt(dout1 / nout));
    }
fail:
    free(buf);
    ddad_tensor_free(x);
    ddad_tensor_free(xd);
    ddad_tensor_free(y);
    ddad_image_free(&panel);
    ddad_figure_grid_free(&g);
    ddad_recon_result_free(&r);
    return st;
}

/* The anomaly-map figure. Returns the combined map (S, S) in *map_out. */
ddad_status_t vis_maps_figure(vis_ctx_t *c, const vis_image_t *im, const char *stem, bool write, float *map_out)
{
    const int S = c->S;
    const size_t HW = (size_t)S * S;
    ddad_score_maps_t r = {0};
    ddad_figure_grid_t g = {0};
    ddad_image_t panel = {0}, bar = {0}, base = {0};
    ddad_status_t st = DDAD_OK;
    if (strcmp(c->ref_category, im->category) != 0) {
        c->ref_category[0] = '\0';
        if ((st = ddad_reference_use(&c->model, &c->ref, c->run_dir, im->category)))
            return st;
        snprintf(c->ref_category, sizeof c->ref_category, "%s", im->category);
    }
    st = ddad_score_images(&c->model, im->x, &im->class_id, &im->image_id, 1, &r);
    if (st)
        return st;
    memcpy(map_out, r.map, HW * sizeof *map_out);
    if (write) {
        const int T = (int)r.n_t;
        char title[768];
        snprintf(title, sizeof title, "%s %s - score %.4g, alpha %g%s", im->category, im->name, r.score[0],
                 c->cfg.score.alpha, c->model.effnet.random_weights ? " (RANDOM EfficientNet weights)" : "");
        ddad_figure_grid_opts_t go = ddad_figure_grid_opts_default();
        go.title = title;
        DDAD_TRY(ddad_figure_grid_init(&g, 1 + T, 5, c->cell, c->cell, &go));
        DDAD_TRY(ddad_figure_image_from_chw(im->x, 3, S, S, &base));
        DDAD_TRY(ddad_figure_grid_put(&g, 0, 0, &base, "input"));
        DDAD_TRY(gt_panel(im, S, &panel));
        DDAD_TRY(ddad_figure_grid_put(&g, 0, 1, &panel, gt_label(im)));
        DDAD_TRY(heat_panel(r.map, S, c->args->cm, &panel, &bar, c->cell));
        DDAD_TRY(ddad_figure_grid_put(&g, 0, 2, &panel, "anomaly map"));
        DDAD_TRY(ddad_figure_grid_put_fit(&g, 0, 3, &bar, "scale"));
        double lo, hi;
        ddad_figure_map_range(r.map, HW, &lo, &hi);
        DDAD_TRY(ddad_figure_overlay(&base, r.map, lo, hi, c->args->cm, 0.5, &panel));
        if (im->mask)
            ddad_figure_draw_mask_contour(&panel, im->mask, S, S, red);
        DDAD_TRY(ddad_figure_grid_put(&g, 0, 4, &panel, "overlay"));
        for (int k = 0; k < T; k++) {
            char label[64];
            snprintf(label, sizeof label, "KL t=%lld", (long long)r.timesteps[k]);
            DDAD_TRY(heat_panel(r.kl_steps + (size_t)k * HW, S, c->args->cm, &panel, &bar, c->cell));
            DDAD_TRY(ddad_figure_grid_put(&g, 1 + k, 0, &panel, c->cfg.score.method == DDAD_SCORE_METHOD_RGB
                                                                     ? "sq. error"
                                                                     : label));
            DDAD_TRY(ddad_figure_grid_put_fit(&g, 1 + k, 1, &bar, "scale"));
            if (r.feat_steps) {
                snprintf(label, sizeof label, "feature t=%lld", (long long)r.timesteps[k]);
                DDAD_TRY(heat_panel(r.feat_steps + (size_t)k * HW, S, c->args->cm, &panel, &bar, c->cell));
                DDAD_TRY(ddad_figure_grid_put(&g, 1 + k, 2, &panel, label));
                DDAD_TRY(ddad_figure_grid_put_fit(&g, 1 + k, 3, &bar, "scale"));
            }
        }
        char path[PATH_MAX + 600];
        snprintf(path, sizeof path, "%s/maps_%s.png", c->out_dir, stem);
        DDAD_TRY(ddad_figure_grid_save(&g, path));
        printf("%s\n", path);
    }
fail:
    ddad_score_maps_free(&r);
    ddad_image_free(&panel);
    ddad_image_free(&bar);
    ddad_image_free(&base);
    ddad_figure_grid_free(&g);
    return st;
}

ddad_status_t vis_sheet_row(vis_ctx_t *c, const vis_image_t *im, const float *map, const float *final)
{
    if (c->sheet_used >= c->sheet_rows)
        return DDAD_OK;
    const int S = c->S;
    int row = c->sheet_used++;
    ddad_image_t base = {0}, panel = {0};
    ddad_status_t st = DDAD_OK;
    DDAD_TRY(ddad_figure_image_from_chw(im->x, 3, S, S, &base));
    DDAD_TRY(ddad_figure_grid_put(&c->sheet, row, 0, &base, "input"));
    DDAD_TRY(gt_panel(im, S, &panel));
    DDAD_TRY(ddad_figure_grid_put(&c->sheet, row, 1, &panel, gt_label(im)));
    int col = 2;
    if (map) {
        double lo, hi;
        ddad_figure_map_range(map, (size_t)S * S, &lo, &hi);
        DDAD_TRY(ddad_figure_heatmap(map, S, S, lo, hi, c->args->cm, &panel));
        DDAD_TRY(ddad_figure_grid_put(&c->sheet, row, col++, &panel, "anomaly map"));
        DDAD_TRY(ddad_figure_overlay(&base, map, lo, hi, c->args->cm, 0.5, &panel));
        if (im->mask)
            ddad_figure_draw_mask_contour(&panel, im->mask, S, S, red);
        DDAD_TRY(ddad_figure_grid_put(&c->sheet, row, col++, &panel, "overlay"));
    }
    if (final) {
        DDAD_TRY(ddad_figure_image_from_chw(final, 3, S, S, &panel));
        DDAD_TRY(ddad_figure_grid_put(&c->sheet, row, col++, &panel, "reconstruction"));
    }
    char label[600];
    snprintf(label, sizeof label, "%s", im->name);
    DDAD_TRY(ddad_figure_grid_row_label(&c->sheet, row, label));
fail:
    ddad_image_free(&base);
    ddad_image_free(&panel);
    return st;
}

