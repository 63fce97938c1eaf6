/* ddad-alpha-sweep - image AUROC, pixel AUROC and AU-PRO against the weight
 * alpha of the pixel (KL) map, recomputed from the per-timestep maps stored
 * in a maps file (ddad-eval's maps.h5), without running the model: the
 * paper's Figure 5.
 *
 *     ddad-alpha-sweep runs/mvtec/bottle/maps.h5 [--alphas 0,0.1,...,1] [--pro-limit 0.3]
 *                      [--png fig5.png [--title bottle]]
 *
 * For each alpha every image's map is rebuilt with the scorer's own
 * combination (ddad_score_combine: alpha * mean_t KL + (1 - alpha) *
 * mean_t feature), smoothed and scored as the file's config says
 * (config.score.smooth_sigma, smooth_kernel, image_score, topk; defaults
 * when absent). When the file was scored with score.normalize good, its maps
 * are raw and each image's two t-averages are normalised by the held-out
 * statistics first, as the scorer does (ddad_reference_score_map, with the
 * file's score.good_std and score.good_timesteps): reference.h5 beside the
 * maps file, or --reference.
 * Output on stdout, one line per alpha, gnuplot-ready:
 *     # alpha image_auroc pixel_auroc au_pro
 * --png draws the three curves in percent through gnuplot (core/io/plot.h; a
 * missing gnuplot is a warning, the numbers are still printed).
 * Exit codes: 0 ok, 1 internal, 2 usage, 4 data (no per-timestep maps, one
 * class missing), 5 I/O.
 */
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapsfile.h"
#include "metrics.h"
#include "anomaly_map.h"
#include "plot.h"
#include "reference.h"
#include "status.h"

#define MAX_ALPHAS 256

static double attr_num(ddad_mapsfile_t *f, const char *key, double def)
{
    char *v = NULL;
    if (ddad_mapsfile_get_attr(f, key, &v) != DDAD_OK)
        return def;
    char *end;
    double x = strtod(v, &end);
    bool ok = end != v;
    free(v);
    return ok ? x : def;
}

/* The figure: the rows (alpha, image AUROC, pixel AUROC, AU-PRO) inline as
 * a gnuplot data block, so no data file path enters the script. */
static void draw(const char *png, const char *title, const double (*rows)[4], int n)
{
    if (!ddad_plot_available()) {
        ddad_log(DDAD_LOG_WARN, "gnuplot not found: %s not drawn (the numbers are on stdout)", png);
        return;
    }
    char qpng[DDAD_PLOT_QUOTE_MAX], qtitle[1100], full[512];
    snprintf(full, sizeof full, "%s%smetrics against alpha (pixel-map weight)", title ? title : "",
             title ? ": " : "");
    if (ddad_plot_quote(qpng, sizeof qpng, png) != DDAD_OK || ddad_plot_quote(qtitle, sizeof qtitle, full) != DDAD_OK) {
        ddad_log(DDAD_LOG_WARN, "%s; %s not drawn", ddad_last_error(), png);
        return;
    }
    size_t cap = (size_t)n * 64 + 2 * DDAD_PLOT_QUOTE_MAX + 1024, len = 0;
    char *script = malloc(cap);
    if (!script)
        return;
    len += (size_t)snprintf(script + len, cap - len, "$rows << EOD\n");
    for (int a = 0; a < n; a++)
        len += (size_t)snprintf(script + len, cap - len, "%g %.6f %.6f %.6f\n", rows[a][0], rows[a][1], rows[a][2],
                                rows[a][3]);
    snprintf(script + len, cap - len,
             "EOD\nset output %s\nset title %s\nset xlabel 'alpha'\nset ylabel 'percent'\nset xrange [0:1]\n"
             "set key bottom right\nset grid\n"
             "plot $rows using 1:($2*100) with linespoints title 'image AUROC', "
             "$rows using 1:($3*100) with linespoints title 'pixel AUROC', "
             "$rows using 1:($4*100) with linespoints title 'AU-PRO'\n",
             qpng, qtitle);
    if (ddad_plot_run(script, 640, 420, png) != DDAD_OK)
        ddad_log(DDAD_LOG_WARN, "%s; %s not drawn", ddad_last_error(), png);
    free(script);
}

/* The file's config.KEY attribute equals VALUE. */
static bool attr_is(ddad_mapsfile_t *f, const char *key, const char *value)
{
    char *v = NULL;
    if (ddad_mapsfile_get_attr(f, key, &v) != DDAD_OK)
        return false;
    bool eq = !strcmp(v, value);
    free(v);
    return eq;
}

/* For a file scored with score.normalize good: its reference statistics
 * (ref_path, or reference.h5 beside maps_path) into *ref, for the file's
 * score.good_std and score.good_timesteps and its n_t timesteps (set in
 * *sc); *used false (and OK) for any other normalisation. */
static ddad_status_t load_reference(ddad_mapsfile_t *f, const char *maps_path, const char *ref_path, int64_t h,
                                    int64_t w, int64_t n_t, ddad_score_reference_t *ref, ddad_config_score_t *sc,
                                    bool *used)
{
    *used = false;
    if (!attr_is(f, "config.score.normalize", "good"))
        return DDAD_OK;
    sc->good_std = attr_is(f, "config.score.good_std", "pixel") ? DDAD_SCORE_GOOD_STD_PIXEL : DDAD_SCORE_GOOD_STD_GLOBAL;
    sc->good_timesteps = attr_is(f, "config.score.good_timesteps", "each") ? DDAD_SCORE_GOOD_TIMESTEPS_EACH
                                                                            : DDAD_SCORE_GOOD_TIMESTEPS_AVERAGE;
    sc->timesteps.n = (size_t)n_t;
    char path[4096];
    if (ref_path) {
        snprintf(path, sizeof path, "%s", ref_path);
    } else {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", maps_path);
        snprintf(path, sizeof path, "%s/reference.h5", dirname(dir));
    }
    if (h != w)
        return ddad_fail(DDAD_STATUS_DATA, "%s: maps of %lld x %lld cannot be normalised by %s (square maps at the "
                         "model resolution only: score.resolution model)", maps_path, (long long)h, (long long)w, path);
    ddad_status_t st = ddad_reference_load_for(ref, path, h, sc);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "%s was scored with score.normalize good", maps_path);
    *used = true;
    return DDAD_OK;
}

static int fail(ddad_status_t st)
{
    fprintf(stderr, "ddad-alpha-sweep: %s\n", ddad_last_error());
    return ddad_status_exit_code(st);
}

int main(int argc, char **argv)
{
    const char *path = NULL, *png = NULL, *title = NULL, *ref_path = NULL;
    double alphas[MAX_ALPHAS];
    int n_alpha = 11;
    double pro_limit = 0.3;
    for (int i = 0; i < 11; i++)
        alphas[i] = i / 10.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: ddad-alpha-sweep MAPS.h5 [--alphas A,B,...] [--pro-limit L] [--png FILE [--title T]]\n"
                   "                        [--reference FILE]\n"
                   "image AUROC, pixel AUROC and AU-PRO per alpha from stored per-timestep maps;\n"
                   "--png also draws them (gnuplot). Maps scored with score.normalize good are\n"
                   "normalised by the held-out statistics: reference.h5 beside MAPS.h5, or --reference\n"
                   "exit codes: 0 ok, 1 internal, 2 usage, 4 data, 5 I/O\n");
            return 0;
        } else if (!strcmp(argv[i], "--alphas") && i + 1 < argc) {
            n_alpha = 0;
            char *s = argv[++i], *end;
            while (*s && n_alpha < MAX_ALPHAS) {
                double a = strtod(s, &end);
                if (end == s || a < 0 || a > 1) {
                    fprintf(stderr, "ddad-alpha-sweep: --alphas %s: need numbers in [0, 1]\n", argv[i]);
                    return 2;
                }
                alphas[n_alpha++] = a;
                s = *end == ',' ? end + 1 : end;
                if (*end && *end != ',') {
                    fprintf(stderr, "ddad-alpha-sweep: --alphas %s: separate values with commas\n", argv[i]);
                    return 2;
                }
            }
        } else if (!strcmp(argv[i], "--png") && i + 1 < argc) {
            png = argv[++i];
        } else if (!strcmp(argv[i], "--reference") && i + 1 < argc) {
            ref_path = argv[++i];
        } else if (!strcmp(argv[i], "--title") && i + 1 < argc) {
            title = argv[++i];
        } else if (!strcmp(argv[i], "--pro-limit") && i + 1 < argc) {
            pro_limit = atof(argv[++i]);
            if (!(pro_limit > 0 && pro_limit <= 1)) {
                fprintf(stderr, "ddad-alpha-sweep: --pro-limit must be in (0, 1]\n");
                return 2;
            }
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "ddad-alpha-sweep: unexpected argument %s (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!path || n_alpha == 0) {
        fprintf(stderr, "usage: ddad-alpha-sweep MAPS.h5 [--alphas A,B,...] [--pro-limit L] [--png FILE [--title T]]\n");
        return 2;
    }
    ddad_mapsfile_t *f = NULL;
    ddad_status_t st = ddad_mapsfile_open(&f, path);
    if (st)
        return fail(st);
    const ddad_mapsfile_info_t *info = ddad_mapsfile_info(f);
    const int64_t N = info->n, H = info->h, W = info->w, T = info->num_timesteps, HW = H * W;
    if (T == 0) {
        ddad_mapsfile_close(f);
        return fail(ddad_fail(DDAD_STATUS_DATA, "%s has no per-timestep maps (/kl_maps, /feat_maps)", path));
    }
    double sigma = attr_num(f, "config.score.smooth_sigma", 0.0);
    int kernel = (int)attr_num(f, "config.score.smooth_kernel", 0.0);
    int topk = (int)attr_num(f, "config.score.topk", 64.0);
    char *how_s = NULL;
    ddad_image_score_t how = DDAD_IMAGE_SCORE_TOPK_MEAN;
    if (ddad_mapsfile_get_attr(f, "config.score.image_score", &how_s) == DDAD_OK && !strcmp(how_s, "max"))
        how = DDAD_IMAGE_SCORE_MAX;
    free(how_s);
    ddad_score_reference_t ref;
    memset(&ref, 0, sizeof ref);
    ddad_config_score_t sc;
    memset(&sc, 0, sizeof sc);
    bool use_ref = false;
    if ((st = load_reference(f, path, ref_path, H, W, T, &ref, &sc, &use_ref))) {
        ddad_mapsfile_close(f);
        return fail(st);
    }
    float *kl = malloc(sizeof(float) * N * T * HW), *fe = malloc(sizeof(float) * N * T * HW);
    float *maps = malloc(sizeof(float) * N * HW), *pixel = malloc(sizeof(float) * HW), *feat = malloc(sizeof(float) * HW);
    float *scores = malloc(sizeof(float) * N);
    double(*rows)[4] = malloc(sizeof *rows * (size_t)n_alpha);
    uint8_t *masks = malloc((size_t)N * HW);
    if (!kl || !fe || !maps || !pixel || !feat || !scores || !masks || !rows) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "no memory for %lld maps of %lld x %lld", (long long)N, (long long)H,
                       (long long)W);
        goto done;
    }
    for (int64_t i = 0; i < N && !st; i++) {
        st = ddad_mapsfile_read_steps(f, i, "kl_maps", kl + i * T * HW);
        if (!st)
            st = ddad_mapsfile_read_steps(f, i, "feat_maps", fe + i * T * HW);
        if (!st)
            st = ddad_mapsfile_read_image(f, i, NULL, masks + i * HW);
    }
    if (st)
        goto done;
    printf("# %s: %lld images, %lld x %lld, timesteps %lld, smoothing sigma %g, image score %s (k = %d), "
           "AU-PRO limit %g, maps normalised %s%s\n",
           path, (long long)N, (long long)H, (long long)W, (long long)T, sigma,
           how == DDAD_IMAGE_SCORE_MAX ? "max" : "topk_mean", topk, pro_limit,
           !use_ref ? "per image (score.normalize image)"
           : sc.good_std == DDAD_SCORE_GOOD_STD_PIXEL ? "by held-out good images, per-pixel std"
                                                      : "by held-out good images, global std",
           !use_ref ? "" : sc.good_timesteps == DDAD_SCORE_GOOD_TIMESTEPS_EACH ? ", each timestep" : ", t-average");
    printf("# alpha image_auroc pixel_auroc au_pro\n");
    for (int a = 0; a < n_alpha; a++) {
        for (int64_t i = 0; i < N; i++) {
            float *m = maps + i * HW;
            if (use_ref)
                ddad_reference_score_map(&ref, sc.good_std, sc.good_timesteps, alphas[a], kl + i * T * HW,
                                         fe + i * T * HW, T, pixel, feat, m);
            else
                ddad_score_combine(kl + i * T * HW, fe + i * T * HW, T, HW, alphas[a], pixel, feat, m);
            if (sigma > 0 && (st = ddad_score_smooth(m, H, W, sigma, kernel)))
                goto done;
            scores[i] = ddad_score_image(m, HW, how, topk);
        }
        double img = NAN, pix = NAN, pro = NAN;
        if (ddad_metrics_auroc(scores, info->labels, (size_t)N, &img) != DDAD_OK)
            img = NAN;
        if (ddad_metrics_pixel_auroc(maps, masks, N, H, W, &pix) != DDAD_OK)
            pix = NAN;
        if (ddad_metrics_au_pro(maps, masks, N, H, W, pro_limit, &pro) != DDAD_OK)
            pro = NAN;
        printf("%g %.6f %.6f %.6f\n", alphas[a], img, pix, pro);
        rows[a][0] = alphas[a];
        rows[a][1] = img;
        rows[a][2] = pix;
        rows[a][3] = pro;
    }
    fflush(stdout);
    if (png)
        draw(png, title, (const double(*)[4])rows, n_alpha);
done:
    free(kl);
    free(fe);
    free(maps);
    free(pixel);
    free(feat);
    free(scores);
    free(masks);
    free(rows);
    ddad_reference_free(&ref);
    ddad_mapsfile_close(f);
    return st ? fail(st) : 0;
}
