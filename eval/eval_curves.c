/* eval/eval_curves.c - see eval_curves.h */
#include "eval_curves.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "curves.h"
#include "mapsfile.h"
#include "plot.h"
#include "run.h"

/* One .dat file: a header line, then "x y" per point. */
typedef struct dat {
    const char *header; /* with its '#' and newline */
    const ddad_curve_t *curve;
} dat_t;

static ddad_status_t put_dat(FILE *f, void *user)
{
    const dat_t *d = user;
    fputs(d->header, f);
    for (size_t k = 0; k < d->curve->n; k++)
        fprintf(f, "%.8g %.8g\n", d->curve->x[k], d->curve->y[k]);
    return ferror(f) ? ddad_fail(DDAD_STATUS_IO, "curves: write failed") : DDAD_OK;
}

static ddad_status_t write_dat(const char *out_dir, const char *name, const char *header, const ddad_curve_t *c)
{
    char path[4096];
    dat_t d = {header, c};
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    return ddad_run_write_atomic(path, put_dat, &d);
}

/* roc.png and pro.png from the .dat files in out_dir. A missing or failing
 * gnuplot is a warning, not an error; true when both PNGs were drawn. */
static bool draw_curves(const char *out_dir, double pro_limit)
{
    if (!ddad_plot_available()) {
        ddad_log(DDAD_LOG_WARN, "gnuplot not found: roc.png and pro.png are not drawn (the .dat files are in %s)",
                 out_dir);
        return false;
    }
    char qdir[DDAD_PLOT_QUOTE_MAX], script[DDAD_PLOT_QUOTE_MAX + 1024];
    if (ddad_plot_quote(qdir, sizeof qdir, out_dir) != DDAD_OK) {
        ddad_log(DDAD_LOG_WARN, "%s; no roc.png / pro.png", ddad_last_error());
        return false;
    }
    snprintf(script, sizeof script,
             "cd %s\n"
             "set output 'roc.png'\nset title 'ROC'\nset xlabel 'false positive rate'\n"
             "set ylabel 'true positive rate'\nset xrange [0:1]\nset yrange [0:1]\nset key bottom right\n"
             "plot 'roc_pixel.dat' using 1:2 with lines title 'pixel', "
             "'roc_image.dat' using 1:2 with steps title 'image', x with dots notitle\n"
             "set output 'pro.png'\nset title 'PRO curve (AU-PRO up to FPR %g)'\nset ylabel 'per-region overlap'\n"
             "set xrange [0:%g]\nset arrow from %g,0 to %g,1 nohead dashtype 2\n"
             "plot 'pro.dat' using 1:2 with lines title 'PRO'\n",
             qdir, pro_limit, pro_limit < 0.5 ? 2 * pro_limit : 1.0, pro_limit, pro_limit);
    if (ddad_plot_run(script, 640, 480, "roc.png and pro.png") != DDAD_OK) {
        ddad_log(DDAD_LOG_WARN, "%s; no roc.png / pro.png", ddad_last_error());
        return false;
    }
    return true;
}

ddad_status_t eval_curves_write(const char *maps_path, const char *out_dir, double pro_limit, bool *pngs_written)
{
    *pngs_written = false;
    ddad_mapsfile_t *mf = NULL;
    float *imax = NULL;
    ddad_pixel_curves_t pc = {0};
    ddad_curve_t roc = {0};
    ddad_pixel_source_t src;
    char pixel_hdr[160], pro_hdr[160];
    ddad_status_t st = DDAD_OK;
    DDAD_TRY(ddad_mapsfile_open(&mf, maps_path));
    const ddad_mapsfile_info_t *in = ddad_mapsfile_info(mf);
    if (!(imax = malloc((size_t)(in->n ? in->n : 1) * sizeof *imax))) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "curves: out of memory");
        goto fail;
    }
    ddad_mapsfile_pixel_source(mf, &src);
    DDAD_TRY(ddad_curves_pixel(&src, EVAL_CURVE_LEVELS, imax, &pc));
    DDAD_TRY(ddad_curves_image_roc(in->scores ? in->scores : imax, in->labels, (size_t)in->n, &roc));
    snprintf(pixel_hdr, sizeof pixel_hdr, "# pixel ROC sampled at %lld score levels in [%g, %g]: fpr tpr\n",
             (long long)pc.levels, (double)pc.lo, (double)pc.hi);
    snprintf(pro_hdr, sizeof pro_hdr, "# PRO curve sampled at %lld score levels (%lld regions): fpr pro\n",
             (long long)pc.levels, (long long)pc.num_regions);
    DDAD_TRY(write_dat(out_dir, "roc_pixel.dat", pixel_hdr, &pc.roc));
    DDAD_TRY(write_dat(out_dir, "pro.dat", pro_hdr, &pc.pro));
    DDAD_TRY(write_dat(out_dir, "roc_image.dat", "# image ROC (exact): fpr tpr\n", &roc));
    *pngs_written = draw_curves(out_dir, pro_limit);
fail:
    ddad_mapsfile_close(mf);
    free(imax);
    ddad_pixel_curves_free(&pc);
    ddad_curve_free(&roc);
    return st;
}
