/* ddad-vis - figures of a trained run: the paper's Figure 7 (gradient
 * denoising), the anomaly-map figure and a contact sheet.
 *
 *     ddad-vis configs/demo.yaml                         4 anomalous test images
 *     ddad-vis configs/bottle.yaml --image datasets/mvtec/bottle/test/crack/003.png
 *     ddad-vis configs/demo.yaml --all-test --figures maps,sheet --out figs
 *
 * Per image it writes to the output folder (default <run dir>/figures):
 *   fig7_<category>_<defect>_<stem>.png   ground truth, input, the recorded
 *       rounds of the gradient denoising (core/nn/recon.h), the final
 *       reconstruction and, for the synthetic data set, the defect-free source;
 *   maps_<category>_<defect>_<stem>.png   input, ground truth, the combined
 *       anomaly map with its scale bar, the overlay on the input (ground truth
 *       outlined), and per timestep the standardised KL map and the feature
 *       map, each with a scale bar (the scorer of core/nn/score.h);
 * and contact_sheet.png, one row per image. Heatmaps use a perceptual colour
 * map (viridis by default). Random backbone weights are named in the titles.
 * Progress goes to stderr; the list of written files to stdout.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"
#include "colormap.h"
#include "cli.h"
#include "run.h"
#include "config.h"
#include "dataset.h"
#include "ddad_version.h"
#include "figure.h"
#include "image.h"
#include "loader.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "nn/recon.h"
#include "nn/reference.h"
#include "nn/score.h"
#include "status.h"
#include "torch/tensor.h"

#define MAX_SHEET_ROWS 64

static const char *usage_text =
    "usage: ddad-vis CONFIG [options]\n"
    "\n"
    "Figures of a trained run: Figure 7 (gradient denoising), anomaly maps, a contact sheet.\n"
    "\n"
    "options:\n"
    "  --set KEY=VALUE     override a config key (repeatable)\n"
    "  --image PATH        one image (a test image of the data set, or any image file)\n"
    "  --all-test          every test image of the run's categories\n"
    "  --count N           the first N anomalous test images of the first category (default 4;\n"
    "                      good ones fill up when there are fewer anomalous)\n"
    "  --figures LIST      comma-separated: fig7, maps, sheet (default all three)\n"
    "  --out DIR           output folder (default <run dir>/figures)\n"
    "  --checkpoint PATH   checkpoint to load (default the latest of the run)\n"
    "  --device D          cpu, cuda or cuda:N (overrides the config's device)\n"
    "  --colormap NAME     viridis (default) or inferno\n"
    "  --print-run-dir     print the run folder of CONFIG (after --set) and exit\n"
    "  --print-config      print the resolved configuration (YAML) and exit\n"
    "  --help, --version\n"
    "\n"
    "Data errors (4) include a missing run, checkpoint, data set or image.\n";

typedef struct vis_args {
    const char *config;
    ddad_cli_t cli;         /* --set, --device, --print-config, --help, --version */
    const char *image;
    bool all_test;
    int count;
    bool fig7, maps, sheet;
    const char *out;
    const char *checkpoint;
    ddad_colormap_t cm;
    bool print_run_dir;
} vis_args_t;

#define usage_error(...) ddad_cli_usage_error(&a->cli, __VA_ARGS__)

/* DDAD_CLI_CONTINUE, or the exit code to return now. */
static int parse_args(int argc, char **argv, vis_args_t *a)
{
    memset(a, 0, sizeof *a);
    a->cli = ddad_cli_init("ddad-vis", usage_text);
    a->count = 4;
    a->fig7 = a->maps = a->sheet = true;
    a->cm = DDAD_COLORMAP_VIRIDIS;
    int selectors = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int common = ddad_cli_common(&a->cli, argc, argv, &i);
        if (common == DDAD_CLI_EXIT)
            return a->cli.exit_code;
        if (common == DDAD_CLI_HANDLED)
            continue;
        if (!strcmp(s, "--print-run-dir")) {
            a->print_run_dir = true;
        } else if (!strcmp(s, "--all-test")) {
            a->all_test = true;
            selectors++;
        } else if (!strcmp(s, "--image") || !strcmp(s, "--count") || !strcmp(s, "--figures") ||
                   !strcmp(s, "--out") || !strcmp(s, "--checkpoint") || !strcmp(s, "--colormap")) {
            if (!v)
                return usage_error("%s needs a value", s);
            i++;
            if (!strcmp(s, "--image")) {
                a->image = v;
                selectors++;
            } else if (!strcmp(s, "--count")) {
                char *end;
                long n = strtol(v, &end, 10);
                if (*end || n < 1 || n > 100000)
                    return usage_error("--count %s: need a whole number from 1 to 100000", v);
                a->count = (int)n;
                selectors++;
            } else if (!strcmp(s, "--figures")) {
                a->fig7 = a->maps = a->sheet = false;
                char buf[256];
                snprintf(buf, sizeof buf, "%s", v);
                for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
                    if (!strcmp(tok, "fig7"))
                        a->fig7 = true;
                    else if (!strcmp(tok, "maps"))
                        a->maps = true;
                    else if (!strcmp(tok, "sheet"))
                        a->sheet = true;
                    else
                        return usage_error("--figures: unknown figure \"%s\" (fig7, maps, sheet)", tok);
                }
                if (!a->fig7 && !a->maps && !a->sheet)
                    return usage_error("--figures %s: no figure chosen", v);
            } else if (!strcmp(s, "--out")) {
                a->out = v;
            } else if (!strcmp(s, "--checkpoint")) {
                a->checkpoint = v;
            } else if (ddad_colormap_parse(v, &a->cm) != 0) {
                return usage_error("--colormap %s: use viridis or inferno", v);
            }
        } else if (s[0] == '-' && s[1]) {
            return usage_error("unknown option %s", s);
        } else if (!a->config) {
            a->config = s;
        } else {
            return usage_error("unexpected argument %s (one CONFIG only)", s);
        }
    }
    if (!a->config)
        return usage_error("%s", "missing CONFIG");
    if (selectors > 1)
        return usage_error("%s", "--image, --all-test and --count are alternatives: give one");
    return -1;
}

/* ---- helpers ------------------------------------------------------------ */

/* "test/crack/003.png" -> "crack_003" (letters, digits, '-', '_' only). */
static void file_stem(char *buf, size_t cap, const char *category, const char *name)
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

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ddad-vis: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

typedef struct recon_progress {
    int last_pct;
} recon_progress_t;

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

/* ---- one image ------------------------------------------------------------ */

typedef struct vis_image {
    const ddad_sample_t *sample; /* NULL for a foreign image                     */
    char name[512];              /* "test/crack/003.png" or the file name       */
    char category[DDAD_CONFIG_NAME_MAX];
    int64_t class_id;
    int64_t image_id;            /* position in the category's test split       */
    bool has_mask;
    uint8_t *mask;               // (S, S) or NULL
    float *x;                    // (3, S, S)
    float *source;               // (3, S, S) defect-free source, or NULL
} vis_image_t;

typedef struct vis_ctx {
    vis_args_t *args;
    ddad_config_t cfg;
    ddad_model_t model;
    int S, cell;
    char run_dir[PATH_MAX], out_dir[PATH_MAX];
    ddad_dataset_t *ds;
    ddad_recon_padim_t rp;
    char rp_category[DDAD_CONFIG_NAME_MAX];
    bool rp_ready;
    ddad_score_reference_t ref;  /* score.normalize good: statistics of ref_category */
    char ref_category[DDAD_CONFIG_NAME_MAX];
    ddad_figure_grid_t sheet;
    int sheet_rows, sheet_used;
} vis_ctx_t;

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
    if (ddad_config_is_unified(&c->cfg))
        snprintf(path, sizeof path, "%s/padim_%s.h5", c->run_dir, category);
    else
        snprintf(path, sizeof path, "%s/%s", c->run_dir, DDAD_RECON_PADIM_FILE);
    progress("PaDiM for %s (%s)", category, path);
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
static ddad_status_t figure7(vis_ctx_t *c, const vis_image_t *im, const char *stem, float *final)
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
    progress("  gradient denoising: %d rounds of %d steps (s = %g), denoising at t = %d (%s)", o.rounds,
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
            progress("  RMS distance to the defect-free source: inside the defect %.4f -> %.4f, outside %.4f -> %.4f",
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
static ddad_status_t maps_figure(vis_ctx_t *c, const vis_image_t *im, const char *stem, bool write, float *map_out)
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

static ddad_status_t sheet_row(vis_ctx_t *c, const vis_image_t *im, const float *map, const float *final)
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

static void vis_image_free(vis_image_t *im)
{
    free(im->mask);
    free(im->x);
    free(im->source);
    memset(im, 0, sizeof *im);
}

/* ---- selection ------------------------------------------------------------- */

typedef struct selection {
    const ddad_sample_t **samples; /* (n); NULL entry = the foreign --image */
    size_t n;
} selection_t;

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static ddad_status_t select_images(vis_ctx_t *c, const char *const *cats, size_t n_cats, selection_t *sel)
{
    memset(sel, 0, sizeof *sel);
    const ddad_sample_t **test = NULL;
    size_t n_test = 0;
    ddad_status_t st = ddad_dataset_select(c->ds, NULL, DDAD_SPLIT_TEST, &test, &n_test);
    if (st)
        return st;
    sel->samples = calloc(n_test + 1, sizeof *sel->samples);
    if (!sel->samples) {
        free(test);
        return ddad_fail(DDAD_STATUS_NOMEM, "ddad-vis: no memory for the image list");
    }
    const vis_args_t *a = c->args;
    if (a->image) {
        struct stat sb;
        if (stat(a->image, &sb) != 0) {
            free(test);
            return ddad_fail(DDAD_STATUS_DATA, "--image %s: no such file", a->image);
        }
        sel->samples[0] = NULL;
        for (size_t i = 0; i < n_test; i++)
            if (same_file(test[i]->path, a->image)) {
                sel->samples[0] = test[i];
                break;
            }
        sel->n = 1;
    } else if (a->all_test) {
        for (size_t i = 0; i < n_test; i++)
            sel->samples[sel->n++] = test[i];
    } else {
        /* the first anomalous images of the first category, then good ones */
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < n_test && sel->n < (size_t)a->count; i++)
                if (!strcmp(test[i]->category, cats[0]) && test[i]->label == (pass == 0 ? 1 : 0))
                    sel->samples[sel->n++] = test[i];
    }
    (void)n_cats;
    free(test);
    if (sel->n == 0)
        return ddad_fail(DDAD_STATUS_DATA, "ddad-vis: no test images in %s for %s", c->cfg.data.root, cats[0]);
    return DDAD_OK;
}

/* Position of s in its category's test split (the scorer's image id). */
static int64_t test_index(const ddad_dataset_t *ds, const ddad_sample_t *s)
{
    const ddad_sample_t **test = NULL;
    size_t n = 0;
    int64_t id = 0;
    if (ddad_dataset_select(ds, s->category, DDAD_SPLIT_TEST, &test, &n) == DDAD_OK)
        for (size_t i = 0; i < n; i++)
            if (test[i] == s)
                id = (int64_t)i;
    free(test);
    return id;
}

static ddad_status_t load_vis_image(vis_ctx_t *c, const ddad_sample_t *s, const char *foreign, vis_image_t *im)
{
    memset(im, 0, sizeof *im);
    const int S = c->S;
    ddad_status_t st = DDAD_OK;
    ddad_testiter_t *it = NULL;
    im->x = malloc((size_t)3 * S * S * sizeof *im->x);
    if (!im->x)
        return ddad_fail(DDAD_STATUS_NOMEM, "ddad-vis: no memory for an image");
    if (!s) {
        const char *base = strrchr(foreign, '/');
        snprintf(im->name, sizeof im->name, "%s", base ? base + 1 : foreign);
        snprintf(im->category, sizeof im->category, "%s", c->cfg.data.category.v[0]);
        if (!strcmp(im->category, "all")) {
            const char *names[1];
            if (ddad_config_categories(&c->cfg, names, 1) >= 1)
                snprintf(im->category, sizeof im->category, "%s", names[0]);
        }
        DDAD_TRY(ddad_image_load_chw(foreign, S, im->x));
    } else {
        snprintf(im->name, sizeof im->name, "%s", s->name);
        snprintf(im->category, sizeof im->category, "%s", s->category);
        ddad_testiter_opts_t to = {.image_size = S, .mask_original_size = false, .mask_threshold = c->ds->mask_threshold};
        DDAD_TRY(ddad_testiter_create(&it, &s, 1, &to));
        ddad_test_item_t item;
        bool more = false;
        DDAD_TRY(ddad_testiter_next(it, &item, &more));
        if (!more) {
            st = ddad_fail(DDAD_STATUS_INTERNAL, "ddad-vis: the test iterator returned nothing for %s", s->path);
            goto fail;
        }
        memcpy(im->x, item.image, (size_t)3 * S * S * sizeof *im->x);
        if (item.mask) {
            im->mask = malloc((size_t)S * S);
            if (!im->mask) {
                st = ddad_fail(DDAD_STATUS_NOMEM, "ddad-vis: no memory for a mask");
                goto fail;
            }
            memcpy(im->mask, item.mask, (size_t)S * S);
        }
        if (s->source_path) {
            im->source = malloc((size_t)3 * S * S * sizeof *im->source);
            if (!im->source) {
                st = ddad_fail(DDAD_STATUS_NOMEM, "ddad-vis: no memory for the source image");
                goto fail;
            }
            DDAD_TRY(ddad_image_load_chw(s->source_path, S, im->source));
        }
        im->image_id = test_index(c->ds, s);
        im->sample = s;
    }
    int cls = ddad_config_category_index(&c->cfg, im->category);
    im->class_id = cls < 0 ? 0 : cls;
    ddad_testiter_free(it);
    return DDAD_OK;
fail:
    ddad_testiter_free(it);
    vis_image_free(im);
    return st;
}

/* ---- main ---------------------------------------------------------------- */

static int fail_exit(ddad_status_t st, const char *what)
{
    fprintf(stderr, "ddad-vis: %s%s%s\n", what ? what : "", what ? ": " : "", ddad_last_error());
    return ddad_status_exit_code(st);
}

int main(int argc, char **argv)
{
    ddad_runtime_reexec(argv);
    vis_args_t args;
    int rc = parse_args(argc, argv, &args);
    if (rc != DDAD_CLI_CONTINUE)
        return rc;
    vis_ctx_t c;
    memset(&c, 0, sizeof c);
    c.args = &args;
    selection_t sel = {0};
    vis_image_t im = {0};
    float *map = NULL, *final = NULL;
    ddad_status_t st;
    const char *what = NULL;

    if ((st = ddad_cli_load_config(&args.cli, args.config, &c.cfg))) {
        what = "config";
        goto done;
    }
    if (args.cli.print_config)
        return ddad_cli_print_config(&c.cfg);
    if (args.print_run_dir) {
        if ((st = ddad_config_run_dir(&c.cfg, c.run_dir, sizeof c.run_dir))) {
            what = "run folder";
            goto done;
        }
        printf("%s\n", c.run_dir);
        return 0;
    }
    if ((st = ddad_runtime_setup(&c.cfg))) {
        what = "runtime";
        goto done;
    }
    if ((st = ddad_config_run_dir(&c.cfg, c.run_dir, sizeof c.run_dir))) {
        what = "run folder";
        goto done;
    }
    char ckpt[PATH_MAX];
    if (args.checkpoint) {
        snprintf(ckpt, sizeof ckpt, "%s", args.checkpoint);
        struct stat sb;
        if (stat(ckpt, &sb) != 0) {
            st = ddad_fail(DDAD_STATUS_DATA, "checkpoint %s not found", ckpt);
            goto done;
        }
    } else if ((st = ddad_checkpoint_latest(c.run_dir, ckpt, sizeof ckpt))) {
        st = ddad_fail(DDAD_STATUS_DATA, "run %s has no checkpoint (train it first: ddad-train %s, or give --checkpoint)",
                       c.run_dir, args.config);
        goto done;
    }
    snprintf(c.out_dir, sizeof c.out_dir, "%s", args.out ? args.out : c.run_dir);
    if (!args.out)
        strncat(c.out_dir, "/figures", sizeof c.out_dir - strlen(c.out_dir) - 1);
    c.S = c.cfg.data.image_size;
    c.cell = c.S >= 96 ? c.S : c.S * ((96 + c.S - 1) / c.S);

    /* data set */
    const char *cats[DDAD_CONFIG_MAX_NAMES];
    size_t n_cats = ddad_config_categories(&c.cfg, cats, DDAD_CONFIG_MAX_NAMES);
    if (n_cats == 0) {
        st = ddad_fail(DDAD_STATUS_CONFIG, "data.category: no categories to show");
        goto done;
    }
    if (n_cats > DDAD_CONFIG_MAX_NAMES)
        n_cats = DDAD_CONFIG_MAX_NAMES;
    if ((st = ddad_dataset_index(&c.ds, c.cfg.data.format, c.cfg.data.root, cats, n_cats))) {
        what = "data set";
        goto done;
    }
    ddad_dataset_hold_out(c.ds, c.cfg.data.val_split, NULL); /* PaDiM fits the images the model trained on */
    if ((st = select_images(&c, cats, n_cats, &sel))) {
        what = "images";
        goto done;
    }

    /* model */
    progress("run %s, checkpoint %s, %zu image(s), output %s", c.run_dir, ckpt, sel.n, c.out_dir);
    if ((st = ddad_model_create(&c.model, &c.cfg,
                                DDAD_MODEL_WITH_EMA | DDAD_MODEL_WITH_FEATURES | DDAD_MODEL_NO_INIT))) {
        what = "model";
        goto done;
    }
    if ((st = ddad_checkpoint_load(ckpt, &c.model, NULL, NULL, NULL))) {
        what = "checkpoint";
        goto done;
    }
    if ((st = ddad_run_mkdir_p(c.out_dir))) {
        what = "output";
        goto done;
    }
    if (args.sheet) {
        c.sheet_rows = sel.n < MAX_SHEET_ROWS ? (int)sel.n : MAX_SHEET_ROWS;
        int cols = 4 + (args.fig7 ? 1 : 0); /* input, ground truth, map, overlay [, reconstruction] */
        ddad_figure_grid_opts_t go = ddad_figure_grid_opts_default();
        char title[512];
        snprintf(title, sizeof title, "%.400s - %zu image(s)%s", c.run_dir, sel.n,
                 sel.n > MAX_SHEET_ROWS ? " (first 64 shown)" : "");
        go.title = title;
        go.row_label_w = 6 * 22;
        if ((st = ddad_figure_grid_init(&c.sheet, c.sheet_rows, cols, c.cell, c.cell, &go))) {
            what = "contact sheet";
            goto done;
        }
    }
    map = malloc((size_t)c.S * c.S * sizeof *map);
    final = malloc((size_t)3 * c.S * c.S * sizeof *final);
    if (!map || !final) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "ddad-vis: no memory for the maps");
        goto done;
    }

    for (size_t i = 0; i < sel.n; i++) {
        if ((st = load_vis_image(&c, sel.samples[i], args.image, &im))) {
            what = "image";
            goto done;
        }
        char stem[600];
        file_stem(stem, sizeof stem, im.category, im.name);
        progress("[%zu/%zu] %s %s", i + 1, sel.n, im.category, im.name);
        bool have_map = false, have_final = false;
        if (args.maps || args.sheet) {
            if ((st = maps_figure(&c, &im, stem, args.maps, map))) {
                what = "anomaly maps";
                goto done;
            }
            have_map = true;
        }
        if (args.fig7) {
            if ((st = figure7(&c, &im, stem, final))) {
                what = "figure 7";
                goto done;
            }
            have_final = true;
        }
        if (args.sheet && (st = sheet_row(&c, &im, have_map ? map : NULL, have_final ? final : NULL))) {
            what = "contact sheet";
            goto done;
        }
        vis_image_free(&im);
    }
    if (args.sheet) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/contact_sheet.png", c.out_dir);
        if ((st = ddad_figure_grid_save(&c.sheet, path))) {
            what = "contact sheet";
            goto done;
        }
        printf("%s\n", path);
    }
    st = DDAD_OK;
done:
    free(map);
    free(final);
    vis_image_free(&im);
    free(sel.samples);
    ddad_figure_grid_free(&c.sheet);
    ddad_recon_padim_free(&c.rp);
    ddad_model_free(&c.model);
    ddad_reference_free(&c.ref);
    ddad_dataset_free(c.ds);
    if (st)
        return fail_exit(st, what);
    return 0;
}
