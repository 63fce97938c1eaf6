/* core/report/reference.c - see reference.h */
#include "reference.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "h5io.h"
#include "run.h"

struct ddad_reference_acc {
    int64_t n_t, h, w, n;
    bool has_feat;
    double *sum[2];   // (H, W) per branch: sum of m
    double *sum2[2];  // (H, W) per branch: sum of m^2
    float *avg;       // (H, W) scratch: one image's t-average
};

void ddad_reference_acc_free(ddad_reference_acc_t *a)
{
    if (!a)
        return;
    for (int b = 0; b < 2; b++) {
        free(a->sum[b]);
        free(a->sum2[b]);
    }
    free(a->avg);
    free(a);
}

ddad_status_t ddad_reference_acc_create(ddad_reference_acc_t **out, int64_t n_t, int64_t h, int64_t w, bool has_feat)
{
    *out = NULL;
    if (n_t < 1 || h < 1 || w < 1)
        return ddad_fail(DDAD_STATUS_USAGE, "reference statistics: bad map size %lld x %lld x %lld", (long long)n_t,
                         (long long)h, (long long)w);
    ddad_reference_acc_t *a = calloc(1, sizeof *a);
    if (!a)
        return ddad_fail(DDAD_STATUS_NOMEM, "reference statistics: out of memory");
    a->n_t = n_t;
    a->h = h;
    a->w = w;
    a->has_feat = has_feat;
    const size_t hw = (size_t)(h * w);
    bool ok = (a->avg = malloc(hw * sizeof *a->avg)) != NULL;
    for (int b = 0; b < (has_feat ? 2 : 1) && ok; b++)
        ok = (a->sum[b] = calloc(hw, sizeof(double))) && (a->sum2[b] = calloc(hw, sizeof(double)));
    if (!ok) {
        ddad_reference_acc_free(a);
        return ddad_fail(DDAD_STATUS_NOMEM, "reference statistics: out of memory");
    }
    *out = a;
    return DDAD_OK;
}

void ddad_reference_acc_add(ddad_reference_acc_t *a, const float *kl_steps, const float *feat_steps)
{
    const int64_t hw = a->h * a->w;
    for (int b = 0; b < 2; b++) {
        const float *steps = b == 0 ? kl_steps : feat_steps;
        if (b == 1 && (!a->has_feat || !steps))
            continue;
        for (int64_t p = 0; p < hw; p++) {
            double s = 0;
            for (int64_t k = 0; k < a->n_t; k++)
                s += steps[k * hw + p];
            s /= (double)a->n_t;
            a->sum[b][p] += s;
            a->sum2[b][p] += s * s;
        }
    }
    a->n++;
}

ddad_status_t ddad_reference_acc_finish(ddad_reference_acc_t *a, ddad_score_reference_t *out)
{
    memset(out, 0, sizeof *out);
    if (a->n < 2) {
        int64_t n = a->n;
        ddad_reference_acc_free(a);
        return ddad_fail(DDAD_STATUS_DATA, "reference statistics need at least 2 held-out good images, got %lld "
                         "(raise data.val_split or add training images)", (long long)n);
    }
    const int64_t hw = a->h * a->w;
    const double n = (double)a->n;
    ddad_status_t st = DDAD_OK;
    out->h = a->h;
    out->w = a->w;
    out->n_images = a->n;
    const double k = DDAD_REFERENCE_SHRINK_IMAGES;
    for (int b = 0; b < (a->has_feat ? 2 : 1); b++) {
        float *mean = malloc((size_t)hw * sizeof *mean), *sd_map = malloc((size_t)hw * sizeof *sd_map);
        if (!mean || !sd_map) {
            free(mean);
            free(sd_map);
            st = ddad_fail(DDAD_STATUS_NOMEM, "reference statistics: out of memory");
            break;
        }
        double ss = 0; /* sum over images and pixels of (m - mean)^2 */
        for (int64_t p = 0; p < hw; p++) {
            double mu = a->sum[b][p] / n;
            mean[p] = (float)mu;
            double r = a->sum2[b][p] - n * mu * mu;
            r = r > 0 ? r : 0;
            sd_map[p] = (float)r; /* the pixel's sum of squares, scaled below */
            ss += r;
        }
        double sd = sqrt(ss / (n * (double)hw - 1.0));
        if (!(sd > 0) || !isfinite(sd))
            sd = 1.0; /* constant maps: leave the scale alone */
        /* per pixel: (n var_p + k sd^2) / (n + k), var_p = sum of squares / n */
        for (int64_t p = 0; p < hw; p++)
            sd_map[p] = (float)sqrt(((double)sd_map[p] + k * sd * sd) / (n + k));
        if (b == 0) {
            out->pixel_mean = mean;
            out->pixel_std_map = sd_map;
            out->pixel_std = sd;
        } else {
            out->feat_mean = mean;
            out->feat_std_map = sd_map;
            out->feat_std = sd;
        }
    }
    ddad_reference_acc_free(a);
    if (st != DDAD_OK)
        ddad_reference_free(out);
    return st;
}

/* map = (map - mean) / (sd_map ? sd_map : sd), per pixel */
static void normalize_branch(float *map, int64_t hw, const float *mean, const float *sd_map, double sd)
{
    for (int64_t p = 0; p < hw; p++)
        map[p] = (float)(((double)map[p] - mean[p]) / (sd_map ? (double)sd_map[p] : sd));
}

void ddad_reference_apply(const ddad_score_reference_t *ref, bool per_pixel, float *pixel, float *feat)
{
    const int64_t hw = ref->h * ref->w;
    normalize_branch(pixel, hw, ref->pixel_mean, per_pixel ? ref->pixel_std_map : NULL, ref->pixel_std);
    if (feat && ref->feat_mean)
        normalize_branch(feat, hw, ref->feat_mean, per_pixel ? ref->feat_std_map : NULL, ref->feat_std);
}

void ddad_reference_free(ddad_score_reference_t *ref)
{
    if (!ref)
        return;
    free(ref->pixel_mean);
    free(ref->feat_mean);
    free(ref->pixel_std_map);
    free(ref->feat_std_map);
    memset(ref, 0, sizeof *ref);
}

ddad_status_t ddad_reference_save(const ddad_score_reference_t *ref, const char *path, const char *timesteps,
                                  int noise_draws, const char *source)
{
    char partial[4096];
    if (snprintf(partial, sizeof partial, "%s.partial", path) >= (int)sizeof partial)
        return ddad_fail(DDAD_STATUS_IO, "reference file path too long: %s", path);
    ddad_h5_t *f = NULL;
    ddad_status_t st = ddad_h5_open(&f, partial, DDAD_H5_CREATE);
    if (st != DDAD_OK)
        return st;
    int64_t shape[2] = {ref->h, ref->w};
    st = ddad_h5_set_attr_str(f, "/", "format", DDAD_REFERENCE_FORMAT);
    if (st == DDAD_OK)
        st = ddad_h5_set_attr_i64(f, "/", "format_version", DDAD_REFERENCE_VERSION);
    if (st == DDAD_OK)
        st = ddad_h5_write(f, "pixel_mean", DDAD_H5_F32, ref->pixel_mean, shape, 2, 0);
    if (st == DDAD_OK && ref->feat_mean)
        st = ddad_h5_write(f, "feat_mean", DDAD_H5_F32, ref->feat_mean, shape, 2, 0);
    if (st == DDAD_OK && ref->pixel_std_map)
        st = ddad_h5_write(f, "pixel_std_map", DDAD_H5_F32, ref->pixel_std_map, shape, 2, 0);
    if (st == DDAD_OK && ref->feat_std_map)
        st = ddad_h5_write(f, "feat_std_map", DDAD_H5_F32, ref->feat_std_map, shape, 2, 0);
    if (st == DDAD_OK)
        st = ddad_h5_set_attr_f64(f, "/", "pixel_std", ref->pixel_std);
    if (st == DDAD_OK)
        st = ddad_h5_set_attr_f64(f, "/", "feat_std", ref->feat_std);
    if (st == DDAD_OK)
        st = ddad_h5_set_attr_i64(f, "/", "images", ref->n_images);
    if (st == DDAD_OK)
        st = ddad_h5_set_attr_str(f, "/", "timesteps", timesteps ? timesteps : "");
    if (st == DDAD_OK)
        st = ddad_h5_set_attr_i64(f, "/", "noise_draws", noise_draws);
    if (st == DDAD_OK)
        st = ddad_h5_set_attr_str(f, "/", "source", source ? source : "");
    ddad_status_t cst = ddad_h5_close(f);
    if (st == DDAD_OK)
        st = cst;
    if (st == DDAD_OK)
        st = ddad_run_commit(partial, path);
    else
        remove(partial);
    return st;
}

/* Reads the (shape) float map NAME into a new *out when the file has it. */
static ddad_status_t read_optional_map(ddad_h5_t *f, const char *name, const int64_t shape[2], float **out)
{
    if (!ddad_h5_exists(f, name))
        return DDAD_OK;
    if (!(*out = malloc((size_t)(shape[0] * shape[1]) * sizeof(float))))
        return ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
    return ddad_h5_read_into(f, name, DDAD_H5_F32, *out, shape, 2);
}

ddad_status_t ddad_reference_load(ddad_score_reference_t *ref, const char *path, int64_t h, int64_t w)
{
    memset(ref, 0, sizeof *ref);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return ddad_fail(DDAD_STATUS_DATA, "%s: no reference statistics (score.normalize good): run ddad-eval on "
                         "this run first (it computes them from the held-out good images, data.val_split)", path);
    ddad_h5_t *f = NULL;
    ddad_status_t st = ddad_h5_open(&f, path, DDAD_H5_READ);
    if (st != DDAD_OK)
        return st;
    char *fmt = NULL;
    int64_t shape[2] = {h, w};
    st = ddad_h5_get_attr_str(f, "/", "format", &fmt);
    if (st == DDAD_OK && strcmp(fmt, DDAD_REFERENCE_FORMAT) != 0)
        st = ddad_fail(DDAD_STATUS_DATA, "%s: format '%s', expected '%s'", path, fmt, DDAD_REFERENCE_FORMAT);
    free(fmt);
    int64_t version = 0;
    if (st == DDAD_OK)
        st = ddad_h5_get_attr_i64(f, "/", "format_version", &version);
    if (st == DDAD_OK && version > DDAD_REFERENCE_VERSION)
        st = ddad_fail(DDAD_STATUS_DATA, "%s: format_version %lld is newer than this ddad reads (%d)", path,
                       (long long)version, DDAD_REFERENCE_VERSION);
    ref->h = h;
    ref->w = w;
    if (st == DDAD_OK && !(ref->pixel_mean = malloc((size_t)(h * w) * sizeof(float))))
        st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
    if (st == DDAD_OK)
        st = ddad_h5_read_into(f, "pixel_mean", DDAD_H5_F32, ref->pixel_mean, shape, 2);
    if (st == DDAD_OK)
        st = read_optional_map(f, "feat_mean", shape, &ref->feat_mean);
    if (st == DDAD_OK)
        st = read_optional_map(f, "pixel_std_map", shape, &ref->pixel_std_map);
    if (st == DDAD_OK)
        st = read_optional_map(f, "feat_std_map", shape, &ref->feat_std_map);
    for (int64_t p = 0; st == DDAD_OK && p < h * w; p++) {
        bool bad_pixel = ref->pixel_std_map && !(ref->pixel_std_map[p] > 0);
        bool bad_feat = ref->feat_std_map && !(ref->feat_std_map[p] > 0);
        if (bad_pixel || bad_feat)
            st = ddad_fail(DDAD_STATUS_DATA, "%s: a per-pixel standard deviation is not positive (corrupt file?)", path);
    }
    if (st == DDAD_OK)
        st = ddad_h5_get_attr_f64(f, "/", "pixel_std", &ref->pixel_std);
    if (st == DDAD_OK)
        st = ddad_h5_get_attr_f64(f, "/", "feat_std", &ref->feat_std);
    if (st == DDAD_OK)
        st = ddad_h5_get_attr_i64(f, "/", "images", &ref->n_images);
    if (st == DDAD_OK && (!(ref->pixel_std > 0) || (ref->feat_mean && !(ref->feat_std > 0))))
        st = ddad_fail(DDAD_STATUS_DATA, "%s: a standard deviation is not positive (corrupt file?)", path);
    ddad_h5_close(f);
    if (st != DDAD_OK) {
        ddad_fail_context(st, "reading reference statistics %s (remove it and rerun ddad-eval)", path);
        ddad_reference_free(ref);
    }
    return st;
}

void ddad_reference_path(char *buf, size_t cap, const char *run_dir, const char *category, bool unified)
{
    ddad_run_path(buf, cap, run_dir, unified ? category : NULL, DDAD_RUN_REFERENCE);
}

ddad_status_t ddad_reference_load_for(ddad_score_reference_t *ref, const char *path, int64_t size,
                                     ddad_score_good_std_t good_std)
{
    ddad_status_t st = ddad_reference_load(ref, path, size, size);
    if (st == DDAD_OK && good_std == DDAD_SCORE_GOOD_STD_PIXEL &&
        (!ref->pixel_std_map || (ref->feat_mean && !ref->feat_std_map))) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s has no per-pixel standard deviations (score.good_std pixel): it was "
                       "written by an older ddad; rerun ddad-eval on this run to recompute it", path);
        ddad_reference_free(ref);
    }
    return st;
}

void ddad_reference_recombine(const ddad_score_reference_t *ref, ddad_score_good_std_t good_std, double alpha,
                              float *pixel, float *feat, float *map)
{
    ddad_reference_apply(ref, good_std == DDAD_SCORE_GOOD_STD_PIXEL, pixel, feat);
    const int64_t hw = ref->h * ref->w;
    for (int64_t p = 0; p < hw; p++)
        map[p] = feat ? (float)(alpha * pixel[p] + (1.0 - alpha) * feat[p]) : pixel[p];
}
