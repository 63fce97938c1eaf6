/* eval/eval_curves.c - see eval_curves.h */
#include "eval_curves.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapsfile.h"
#include "metrics.h"

typedef struct {
    float s;
    uint8_t y;
} scored_t;

static int cmp_scored_desc(const void *a, const void *b)
{
    float x = ((const scored_t *)a)->s, y = ((const scored_t *)b)->s;
    return (x < y) - (x > y);
}

static ddad_status_t write_image_roc(const ddad_mapsfile_info_t *in, const float *imax, const char *path)
{
    scored_t *v = malloc((size_t)in->n * sizeof *v);
    if (!v)
        return ddad_fail(DDAD_STATUS_NOMEM, "curves: out of memory");
    int64_t P = 0, N = 0;
    for (int64_t i = 0; i < in->n; i++) {
        v[i].s = in->scores ? in->scores[i] : imax[i];
        v[i].y = in->labels[i] != 0;
        P += v[i].y;
        N += !v[i].y;
    }
    qsort(v, (size_t)in->n, sizeof *v, cmp_scored_desc);
    FILE *f = fopen(path, "w");
    if (!f) {
        free(v);
        return ddad_fail(DDAD_STATUS_IO, "curves: cannot write %s", path);
    }
    fprintf(f, "# image ROC (exact): fpr tpr\n0 0\n");
    int64_t tp = 0, fp = 0;
    for (int64_t i = 0; i < in->n; i++) {
        tp += v[i].y;
        fp += !v[i].y;
        if (i + 1 == in->n || v[i + 1].s != v[i].s)
            fprintf(f, "%.8g %.8g\n", N ? (double)fp / (double)N : 0.0, P ? (double)tp / (double)P : 0.0);
    }
    free(v);
    if (fclose(f) != 0)
        return ddad_fail(DDAD_STATUS_IO, "curves: writing %s failed", path);
    return DDAD_OK;
}

static ddad_status_t run_gnuplot(const char *out_dir, double pro_limit, bool *pngs)
{
    *pngs = false;
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        ddad_log(DDAD_LOG_WARN, "gnuplot not found: roc.png and pro.png are not drawn (the .dat files are in %s)",
                 out_dir);
        return DDAD_OK;
    }
    char gp[4096];
    snprintf(gp, sizeof gp, "%s/curves.gp", out_dir);
    FILE *f = fopen(gp, "w");
    if (!f)
        return ddad_fail(DDAD_STATUS_IO, "curves: cannot write %s", gp);
    fprintf(f,
            "set terminal pngcairo size 640,480 noenhanced\n"
            "cd '%s'\n"
            "set output 'roc.png'\nset title 'ROC'\nset xlabel 'false positive rate'\n"
            "set ylabel 'true positive rate'\nset xrange [0:1]\nset yrange [0:1]\nset key bottom right\n"
            "plot 'roc_pixel.dat' using 1:2 with lines title 'pixel', "
            "'roc_image.dat' using 1:2 with steps title 'image', x with dots notitle\n"
            "set output 'pro.png'\nset title 'PRO curve (AU-PRO up to FPR %g)'\nset ylabel 'per-region overlap'\n"
            "set xrange [0:%g]\nset arrow from %g,0 to %g,1 nohead dashtype 2\n"
            "plot 'pro.dat' using 1:2 with lines title 'PRO'\n",
            out_dir, pro_limit, pro_limit < 0.5 ? 2 * pro_limit : 1.0, pro_limit, pro_limit);
    if (fclose(f) != 0)
        return ddad_fail(DDAD_STATUS_IO, "curves: writing %s failed", gp);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "gnuplot '%s' >/dev/null 2>&1", gp);
    if (system(cmd) != 0) {
        /* pngcairo may be missing: fall back to the plain png terminal */
        snprintf(cmd, sizeof cmd, "sed -i 's/^set terminal pngcairo/set terminal png/' '%s' && gnuplot '%s' >/dev/null 2>&1",
                 gp, gp);
        if (system(cmd) != 0) {
            ddad_log(DDAD_LOG_WARN, "gnuplot failed on %s: no roc.png / pro.png", gp);
            return DDAD_OK;
        }
    }
    *pngs = true;
    return DDAD_OK;
}

ddad_status_t eval_curves_write(const char *maps_path, const char *out_dir, double pro_limit, bool *pngs_written)
{
    *pngs_written = false;
    ddad_mapsfile_t *mf = NULL;
    float *map = NULL, *imax = NULL;
    uint8_t *mask = NULL;
    int32_t *labels = NULL;
    int64_t *nhist = NULL, *ahist = NULL, *rhist = NULL, *rarea = NULL;
    double *cum_r = NULL;
    FILE *f = NULL;
    char path[4096];
    ddad_status_t st = DDAD_OK;
    const int64_t L = EVAL_CURVE_LEVELS;
    DDAD_TRY(ddad_mapsfile_open(&mf, maps_path));
    const ddad_mapsfile_info_t *in = ddad_mapsfile_info(mf);
    const int64_t HW = in->h * in->w;
    map = malloc((size_t)HW * sizeof *map);
    mask = malloc((size_t)HW);
    labels = malloc((size_t)HW * sizeof *labels);
    imax = malloc((size_t)in->n * sizeof *imax);
    nhist = calloc((size_t)L, sizeof *nhist);
    ahist = calloc((size_t)L, sizeof *ahist);
    if (!map || !mask || !labels || !imax || !nhist || !ahist) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "curves: out of memory");
        goto fail;
    }
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < in->n; i++) {
        DDAD_TRY(ddad_mapsfile_read_image(mf, i, map, NULL));
        imax[i] = -INFINITY;
        for (int64_t p = 0; p < HW; p++) {
            if (map[p] < lo)
                lo = map[p];
            if (map[p] > hi)
                hi = map[p];
            if (map[p] > imax[i])
                imax[i] = map[p];
        }
    }
    double span = hi > lo ? (double)hi - (double)lo : 1.0;
    int64_t nreg = 0, cap = 0;
    for (int64_t i = 0; i < in->n; i++) {
        DDAD_TRY(ddad_mapsfile_read_image(mf, i, map, mask));
        int32_t nr = 0;
        DDAD_TRY(ddad_metrics_label8(mask, in->h, in->w, labels, NULL, &nr));
        if (nreg + nr > cap) {
            int64_t nc = (nreg + nr) * 2;
            int64_t *a = realloc(rhist, (size_t)(nc * L) * sizeof *a), *b;
            if (a)
                rhist = a;
            b = realloc(rarea, (size_t)nc * sizeof *b);
            if (b)
                rarea = b;
            if (!a || !b) {
                st = ddad_fail(DDAD_STATUS_NOMEM, "curves: out of memory");
                goto fail;
            }
            memset(rhist + cap * L, 0, (size_t)((nc - cap) * L) * sizeof *rhist);
            memset(rarea + cap, 0, (size_t)(nc - cap) * sizeof *rarea);
            cap = nc;
        }
        for (int64_t p = 0; p < HW; p++) {
            int64_t b = (int64_t)(((double)map[p] - lo) / span * (double)L);
            if (b >= L)
                b = L - 1;
            if (b < 0)
                b = 0;
            if (labels[p] == 0) {
                nhist[b]++;
            } else {
                int64_t r = nreg + labels[p] - 1;
                ahist[b]++;
                rhist[r * L + b]++;
                rarea[r]++;
            }
        }
        nreg += nr;
    }
    int64_t totN = 0, totA = 0;
    for (int64_t b = 0; b < L; b++)
        totN += nhist[b], totA += ahist[b];
    if (!(cum_r = calloc((size_t)(nreg ? nreg : 1), sizeof *cum_r))) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "curves: out of memory");
        goto fail;
    }
    snprintf(path, sizeof path, "%s/roc_pixel.dat", out_dir);
    FILE *fr = fopen(path, "w");
    snprintf(path, sizeof path, "%s/pro.dat", out_dir);
    f = fopen(path, "w");
    if (!fr || !f) {
        if (fr)
            fclose(fr);
        st = ddad_fail(DDAD_STATUS_IO, "curves: cannot write the curve files in %s", out_dir);
        goto fail;
    }
    fprintf(fr, "# pixel ROC sampled at %lld score levels in [%g, %g]: fpr tpr\n0 0\n", (long long)L, lo, hi);
    fprintf(f, "# PRO curve sampled at %lld score levels (%lld regions): fpr pro\n0 0\n", (long long)L, (long long)nreg);
    int64_t cn = 0, ca = 0;
    for (int64_t b = L - 1; b >= 0; b--) {
        cn += nhist[b];
        ca += ahist[b];
        double pro = 0;
        for (int64_t r = 0; r < nreg; r++) {
            cum_r[r] += (double)rhist[r * L + b];
            pro += cum_r[r] / (double)rarea[r];
        }
        double fpr = totN ? (double)cn / (double)totN : 0.0;
        fprintf(fr, "%.8g %.8g\n", fpr, totA ? (double)ca / (double)totA : 0.0);
        fprintf(f, "%.8g %.8g\n", fpr, nreg ? pro / (double)nreg : 0.0);
    }
    int e1 = fclose(fr), e2 = fclose(f);
    f = NULL;
    if (e1 || e2) {
        st = ddad_fail(DDAD_STATUS_IO, "curves: writing the curve files in %s failed", out_dir);
        goto fail;
    }
    snprintf(path, sizeof path, "%s/roc_image.dat", out_dir);
    DDAD_TRY(write_image_roc(in, imax, path));
    DDAD_TRY(run_gnuplot(out_dir, pro_limit, pngs_written));
fail:
    if (f)
        fclose(f);
    ddad_mapsfile_close(mf);
    free(map);
    free(mask);
    free(labels);
    free(imax);
    free(nhist);
    free(ahist);
    free(rhist);
    free(rarea);
    free(cum_r);
    return st;
}
