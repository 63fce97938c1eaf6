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

/* Per branch, 1 + T slices of (H, W) sums: slice 0 the t-averaged map,
 * slice 1 + k timestep k's map alone. */
struct ddad_reference_acc {
    int64_t n_t, h, w, n;
    bool has_feat;
    double *sum[2];   // (1 + T, H, W) per branch: sum of m
    double *sum2[2];  // (1 + T, H, W) per branch: sum of m^2
};

void ddad_reference_acc_free(ddad_reference_acc_t *a)
{
    if (!a)
        return;
    for (int b = 0; b < 2; b++) {
        free(a->sum[b]);
        free(a->sum2[b]);
    }
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
    const size_t n = (size_t)((1 + n_t) * h * w);
    bool ok = true;
    for (int b = 0; b < (has_feat ? 2 : 1) && ok; b++)
        ok = (a->sum[b] = calloc(n, sizeof(double))) && (a->sum2[b] = calloc(n, sizeof(double)));
    if (!ok) {
        ddad_reference_acc_free(a);
        return ddad_fail(DDAD_STATUS_NOMEM, "reference statistics: out of memory");
    }
    *out = a;
    return DDAD_OK;
}

/* Adds (sign 1) or removes (sign -1) one image's raw maps to the sums sum,
 * sum2 (per branch, (1 + T, H, W)) of an accumulator of a's geometry. */
static void update_sums(const ddad_reference_acc_t *a, double *const sum_b[2], double *const sum2_b[2],
                        const float *kl_steps, const float *feat_steps, double sign)
{
    const int64_t hw = a->h * a->w;
    for (int b = 0; b < 2; b++) {
        const float *steps = b == 0 ? kl_steps : feat_steps;
        if (b == 1 && (!a->has_feat || !steps))
            continue;
        double *sum = sum_b[b], *sum2 = sum2_b[b];
        for (int64_t p = 0; p < hw; p++) {
            double s = 0;
            for (int64_t k = 0; k < a->n_t; k++) {
                double v = steps[k * hw + p];
                sum[(1 + k) * hw + p] += sign * v;
                sum2[(1 + k) * hw + p] += sign * v * v;
                s += v;
            }
            s /= (double)a->n_t;
            sum[p] += sign * s;
            sum2[p] += sign * s * s;
        }
    }
}

void ddad_reference_acc_add(ddad_reference_acc_t *a, const float *kl_steps, const float *feat_steps)
{
    update_sums(a, a->sum, a->sum2, kl_steps, feat_steps, 1.0);
    a->n++;
}

/* One slice's statistics from its sums over n images: mean (HW), the
 * shrunk per-pixel std sd_map (HW) and the global std *sd. */
static void slice_stats(const double *sum, const double *sum2, double n, int64_t hw, float *mean, float *sd_map,
                        double *sd)
{
    const double k = DDAD_REFERENCE_SHRINK_IMAGES;
    double ss = 0; /* sum over images and pixels of (m - mean)^2 */
    for (int64_t p = 0; p < hw; p++) {
        double mu = sum[p] / n;
        mean[p] = (float)mu;
        double r = sum2[p] - n * mu * mu;
        r = r > 0 ? r : 0;
        sd_map[p] = (float)r; /* the pixel's sum of squares, scaled below */
        ss += r;
    }
    double g = sqrt(ss / (n * (double)hw - 1.0));
    if (!(g > 0) || !isfinite(g))
        g = 1.0; /* constant maps: leave the scale alone */
    /* per pixel: (n var_p + k g^2) / (n + k), var_p = sum of squares / n */
    for (int64_t p = 0; p < hw; p++)
        sd_map[p] = (float)sqrt(((double)sd_map[p] + k * g * g) / (n + k));
    *sd = g;
}

/* The statistics of n images from their sums (per branch, (1 + T, H, W)). */
static ddad_status_t stats_from_sums(const ddad_reference_acc_t *a, double *const sum_b[2], double *const sum2_b[2],
                                     int64_t n_images, ddad_score_reference_t *out)
{
    memset(out, 0, sizeof *out);
    const int64_t hw = a->h * a->w, T = a->n_t;
    const double n = (double)n_images;
    ddad_status_t st = DDAD_OK;
    out->h = a->h;
    out->w = a->w;
    out->n_images = n_images;
    out->n_t = T;
    for (int b = 0; b < (a->has_feat ? 2 : 1); b++) {
        float *mean = malloc((size_t)hw * sizeof *mean), *sd_map = malloc((size_t)hw * sizeof *sd_map);
        float *mean_t = malloc((size_t)(T * hw) * sizeof *mean_t), *sd_map_t = malloc((size_t)(T * hw) * sizeof *sd_map_t);
        double *sd_t = malloc((size_t)T * sizeof *sd_t), sd = 0;
        /* owned by out from here: ddad_reference_free releases them on failure */
        if (b == 0) {
            out->pixel_mean = mean, out->pixel_std_map = sd_map;
            out->pixel_mean_t = mean_t, out->pixel_std_map_t = sd_map_t, out->pixel_std_t = sd_t;
        } else {
            out->feat_mean = mean, out->feat_std_map = sd_map;
            out->feat_mean_t = mean_t, out->feat_std_map_t = sd_map_t, out->feat_std_t = sd_t;
        }
        if (!mean || !sd_map || !mean_t || !sd_map_t || !sd_t) {
            st = ddad_fail(DDAD_STATUS_NOMEM, "reference statistics: out of memory");
            break;
        }
        slice_stats(sum_b[b], sum2_b[b], n, hw, mean, sd_map, &sd);
        for (int64_t k = 0; k < T; k++)
            slice_stats(sum_b[b] + (1 + k) * hw, sum2_b[b] + (1 + k) * hw, n, hw, mean_t + k * hw,
                        sd_map_t + k * hw, &sd_t[k]);
        if (b == 0)
            out->pixel_std = sd;
        else
            out->feat_std = sd;
    }
    if (st != DDAD_OK)
        ddad_reference_free(out);
    return st;
}

ddad_status_t ddad_reference_acc_stats(const ddad_reference_acc_t *a, ddad_score_reference_t *out)
{
    memset(out, 0, sizeof *out);
    if (a->n < 2)
        return ddad_fail(DDAD_STATUS_DATA, "reference statistics need at least 2 held-out good images, got %lld "
                         "(raise data.val_split or add training images)", (long long)a->n);
    return stats_from_sums(a, a->sum, a->sum2, a->n, out);
}

ddad_status_t ddad_reference_acc_finish(ddad_reference_acc_t *a, ddad_score_reference_t *out)
{
    ddad_status_t st = ddad_reference_acc_stats(a, out);
    ddad_reference_acc_free(a);
    return st;
}

int64_t ddad_reference_acc_count(const ddad_reference_acc_t *a) { return a->n; }

ddad_status_t ddad_reference_acc_without(const ddad_reference_acc_t *a, const float *kl_steps,
                                         const float *feat_steps, ddad_score_reference_t *out)
{
    memset(out, 0, sizeof *out);
    if (a->n < 3)
        return ddad_fail(DDAD_STATUS_DATA, "leave-one-out reference statistics need at least 3 held-out good "
                         "images, got %lld (raise data.val_split or add training images)", (long long)a->n);
    const size_t n = (size_t)((1 + a->n_t) * a->h * a->w);
    double *sum[2] = {NULL, NULL}, *sum2[2] = {NULL, NULL};
    ddad_status_t st = DDAD_OK;
    for (int b = 0; b < (a->has_feat ? 2 : 1) && st == DDAD_OK; b++) {
        sum[b] = malloc(n * sizeof(double));
        sum2[b] = malloc(n * sizeof(double));
        if (!sum[b] || !sum2[b])
            st = ddad_fail(DDAD_STATUS_NOMEM, "reference statistics: out of memory");
        else {
            memcpy(sum[b], a->sum[b], n * sizeof(double));
            memcpy(sum2[b], a->sum2[b], n * sizeof(double));
        }
    }
    if (st == DDAD_OK) {
        update_sums(a, sum, sum2, kl_steps, feat_steps, -1.0);
        st = stats_from_sums(a, sum, sum2, a->n - 1, out);
    }
    for (int b = 0; b < 2; b++) {
        free(sum[b]);
        free(sum2[b]);
    }
    return st;
}

void ddad_reference_free(ddad_score_reference_t *ref)
{
    if (!ref)
        return;
    free(ref->pixel_mean);
    free(ref->feat_mean);
    free(ref->pixel_std_map);
    free(ref->feat_std_map);
    free(ref->pixel_mean_t);
    free(ref->pixel_std_map_t);
    free(ref->pixel_std_t);
    free(ref->feat_mean_t);
    free(ref->feat_std_map_t);
    free(ref->feat_std_t);
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
    int64_t shape_t[3] = {ref->n_t, ref->h, ref->w};
    const struct {
        const char *name;
        ddad_h5_type_t type;
        const void *data;
        int rank;
    } per_t[] = {{"pixel_mean_t", DDAD_H5_F32, ref->pixel_mean_t, 3}, {"pixel_std_map_t", DDAD_H5_F32, ref->pixel_std_map_t, 3},
                 {"pixel_std_t", DDAD_H5_F64, ref->pixel_std_t, 1},   {"feat_mean_t", DDAD_H5_F32, ref->feat_mean_t, 3},
                 {"feat_std_map_t", DDAD_H5_F32, ref->feat_std_map_t, 3}, {"feat_std_t", DDAD_H5_F64, ref->feat_std_t, 1}};
    for (size_t i = 0; ref->n_t > 0 && i < sizeof per_t / sizeof per_t[0]; i++)
        if (st == DDAD_OK && per_t[i].data)
            st = ddad_h5_write(f, per_t[i].name, per_t[i].type, per_t[i].data, shape_t, per_t[i].rank, 0);
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

/* The per-timestep statistics of a version 3 file, when it has them:
 * /pixel_mean_t (T, H, W) fixes T; the others must match it. */
static ddad_status_t read_per_timestep(ddad_h5_t *f, const char *path, ddad_score_reference_t *ref)
{
    if (!ddad_h5_exists(f, "pixel_mean_t"))
        return DDAD_OK;
    int64_t shape[DDAD_H5_MAX_DIMS];
    int nd = 0;
    ddad_status_t st = ddad_h5_shape(f, "pixel_mean_t", shape, &nd);
    if (st != DDAD_OK)
        return st;
    if (nd != 3 || shape[0] < 1 || shape[0] > DDAD_CONFIG_MAX_INTS || shape[1] != ref->h || shape[2] != ref->w)
        return ddad_fail(DDAD_STATUS_DATA, "%s: pixel_mean_t is not (T <= %d, %lld, %lld)", path, DDAD_CONFIG_MAX_INTS,
                         (long long)ref->h, (long long)ref->w);
    const int64_t T = shape[0], n = T * ref->h * ref->w;
    ref->n_t = T;
    const bool feat = ref->feat_mean != NULL;
    struct {
        const char *name;
        void **dst;
        ddad_h5_type_t type;
        int rank;
    } items[] = {{"pixel_mean_t", (void **)&ref->pixel_mean_t, DDAD_H5_F32, 3},
                 {"pixel_std_map_t", (void **)&ref->pixel_std_map_t, DDAD_H5_F32, 3},
                 {"pixel_std_t", (void **)&ref->pixel_std_t, DDAD_H5_F64, 1},
                 {"feat_mean_t", (void **)&ref->feat_mean_t, DDAD_H5_F32, 3},
                 {"feat_std_map_t", (void **)&ref->feat_std_map_t, DDAD_H5_F32, 3},
                 {"feat_std_t", (void **)&ref->feat_std_t, DDAD_H5_F64, 1}};
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        if (i >= 3 && !feat)
            break;
        size_t count = (size_t)(items[i].rank == 3 ? n : T);
        size_t size = items[i].type == DDAD_H5_F64 ? sizeof(double) : sizeof(float);
        if (!(*items[i].dst = malloc(count * size)))
            return ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
        if ((st = ddad_h5_read_into(f, items[i].name, items[i].type, *items[i].dst, shape, items[i].rank)) != DDAD_OK)
            return st;
    }
    for (int64_t i = 0; i < n; i++) {
        const int64_t k = i / (ref->h * ref->w);
        if (!(ref->pixel_std_map_t[i] > 0 && ref->pixel_std_t[k] > 0) ||
            (feat && !(ref->feat_std_map_t[i] > 0 && ref->feat_std_t[k] > 0)))
            return ddad_fail(DDAD_STATUS_DATA, "%s: a per-timestep standard deviation is not positive (corrupt file?)",
                             path);
    }
    return DDAD_OK;
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
    if (st == DDAD_OK)
        st = read_per_timestep(f, path, ref);
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
                                     const ddad_config_score_t *sc)
{
    ddad_status_t st = ddad_reference_load(ref, path, size, size);
    if (st == DDAD_OK && sc->good_std == DDAD_SCORE_GOOD_STD_PIXEL &&
        (!ref->pixel_std_map || (ref->feat_mean && !ref->feat_std_map))) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s has no per-pixel standard deviations (score.good_std pixel): it was "
                       "written by an older ddad; rerun ddad-eval on this run to recompute it", path);
        ddad_reference_free(ref);
    } else if (st == DDAD_OK && sc->good_timesteps == DDAD_SCORE_GOOD_TIMESTEPS_EACH &&
               ref->n_t != (int64_t)sc->timesteps.n) {
        if (ref->n_t == 0)
            st = ddad_fail(DDAD_STATUS_DATA, "%s has no per-timestep statistics (score.good_timesteps each): it was "
                           "written by an older ddad; rerun ddad-eval on this run to recompute it", path);
        else
            st = ddad_fail(DDAD_STATUS_DATA, "%s holds statistics of %lld timesteps, score.timesteps has %d "
                           "(score.good_timesteps each): rerun ddad-eval with these timesteps to recompute it",
                           path, (long long)ref->n_t, (int)sc->timesteps.n);
        ddad_reference_free(ref);
    }
    return st;
}

/* One branch's statistics (b 0: pixel, 1: feat), of the t-averaged map and
 * of each timestep's (the latter NULL when the file has none). */
typedef struct branch_stats {
    const float *mean, *sd_map; // (H, W)
    double sd;
    const float *mean_t, *sd_map_t; // (T, H, W)
    const double *sd_t;             // (T)
} branch_stats_t;

static branch_stats_t branch_stats(const ddad_score_reference_t *ref, int b)
{
    if (b == 0)
        return (branch_stats_t){ref->pixel_mean,   ref->pixel_std_map,   ref->pixel_std,
                                ref->pixel_mean_t, ref->pixel_std_map_t, ref->pixel_std_t};
    return (branch_stats_t){ref->feat_mean,   ref->feat_std_map,   ref->feat_std,
                            ref->feat_mean_t, ref->feat_std_map_t, ref->feat_std_t};
}

/* z = (v - mean) / (sd_map ? sd_map[p] : sd) */
static inline double standardize(double v, double mean, const float *sd_map, int64_t p, double sd)
{
    return (v - mean) / (sd_map ? (double)sd_map[p] : sd);
}

/* The normalised t-average of one branch's raw steps (T, H, W) into out
 * (H, W); out may be steps when T is 1. */
static void branch_map(const ddad_score_reference_t *ref, int b, bool per_pixel, bool each, const float *steps,
                       int64_t T, float *out)
{
    const int64_t hw = ref->h * ref->w;
    const branch_stats_t s = branch_stats(ref, b);
    for (int64_t p = 0; p < hw; p++) {
        double a = 0;
        for (int64_t k = 0; k < T; k++) {
            double v = steps[k * hw + p];
            a += each ? standardize(v, s.mean_t[k * hw + p], per_pixel ? s.sd_map_t + k * hw : NULL, p, s.sd_t[k]) : v;
        }
        a /= (double)T;
        out[p] = (float)(each ? a : standardize(a, s.mean[p], per_pixel ? s.sd_map : NULL, p, s.sd));
    }
}

void ddad_reference_apply(const ddad_score_reference_t *ref, bool per_pixel, float *pixel, float *feat)
{
    branch_map(ref, 0, per_pixel, false, pixel, 1, pixel);
    if (feat && ref->feat_mean)
        branch_map(ref, 1, per_pixel, false, feat, 1, feat);
}

void ddad_reference_score_map(const ddad_score_reference_t *ref, ddad_score_good_std_t good_std,
                              ddad_score_good_timesteps_t good_timesteps, double alpha, const float *kl_steps,
                              const float *feat_steps, int64_t n_t, float *pixel, float *feat, float *map)
{
    const bool per_pixel = good_std == DDAD_SCORE_GOOD_STD_PIXEL;
    const bool each = good_timesteps == DDAD_SCORE_GOOD_TIMESTEPS_EACH;
    const bool has_feat = feat_steps && ref->feat_mean;
    branch_map(ref, 0, per_pixel, each, kl_steps, n_t, pixel);
    if (has_feat)
        branch_map(ref, 1, per_pixel, each, feat_steps, n_t, feat);
    const int64_t hw = ref->h * ref->w;
    for (int64_t p = 0; p < hw; p++)
        map[p] = has_feat ? (float)(alpha * pixel[p] + (1.0 - alpha) * feat[p]) : pixel[p];
}
