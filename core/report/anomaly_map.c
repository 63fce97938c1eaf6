/* core/report/anomaly_map.c - see anomaly_map.h */
#include "anomaly_map.h"

#include "reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ddad_score_combine(const float *kl_steps, const float *feat_steps, int64_t n_t, int64_t hw, double alpha,
                        float *pixel, float *feat, float *map)
{
    for (int64_t p = 0; p < hw; p++) {
        double a = 0, b = 0;
        for (int64_t k = 0; k < n_t; k++) {
            a += kl_steps[k * hw + p];
            if (feat_steps)
                b += feat_steps[k * hw + p];
        }
        a /= (double)n_t;
        b /= (double)n_t;
        pixel[p] = (float)a;
        if (feat_steps) {
            if (feat)
                feat[p] = (float)b;
            map[p] = (float)(alpha * a + (1.0 - alpha) * b);
        } else {
            map[p] = (float)a;
        }
    }
}

static int64_t reflect_index(int64_t i, int64_t n)
{
    if (n == 1)
        return 0;
    while (i < 0 || i >= n) {
        if (i < 0)
            i = -i;
        if (i >= n)
            i = 2 * (n - 1) - i;
    }
    return i;
}

ddad_status_t ddad_score_smooth(float *map, int64_t h, int64_t w, double sigma, int kernel)
{
    if (!(sigma > 0))
        return DDAD_OK;
    int64_t k = kernel > 0 ? kernel : 2 * (int64_t)ceil(4.0 * sigma) + 1;
    if (k % 2 == 0)
        return ddad_fail(DDAD_STATUS_CONFIG, "score.smooth_kernel: %lld is even; use an odd size or 0 (auto)",
                         (long long)k);
    int64_t r = k / 2;
    double *g = malloc((size_t)k * sizeof *g);
    float *tmp = malloc((size_t)(h * w) * sizeof *tmp);
    if (!g || !tmp) {
        free(g);
        free(tmp);
        return ddad_fail(DDAD_STATUS_NOMEM, "smoothing a %lldx%lld map: out of memory", (long long)h, (long long)w);
    }
    double s = 0;
    for (int64_t i = 0; i < k; i++) {
        double x = (double)(i - r);
        g[i] = exp(-0.5 * x * x / (sigma * sigma));
        s += g[i];
    }
    for (int64_t i = 0; i < k; i++)
        g[i] /= s;
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            double a = 0;
            for (int64_t i = 0; i < k; i++)
                a += g[i] * map[y * w + reflect_index(x + i - r, w)];
            tmp[y * w + x] = (float)a;
        }
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            double a = 0;
            for (int64_t i = 0; i < k; i++)
                a += g[i] * tmp[reflect_index(y + i - r, h) * w + x];
            map[y * w + x] = (float)a;
        }
    free(g);
    free(tmp);
    return DDAD_OK;
}

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

float ddad_score_image(const float *map, int64_t hw, ddad_image_score_t how, int k)
{
    if (hw <= 0)
        return NAN;
    if (how == DDAD_IMAGE_SCORE_MAX || k <= 1) {
        float m = map[0];
        for (int64_t i = 1; i < hw; i++)
            if (map[i] > m)
                m = map[i];
        return m;
    }
    int64_t kk = k < hw ? k : hw;
    float *c = malloc((size_t)hw * sizeof *c);
    if (!c)
        return NAN;
    memcpy(c, map, (size_t)hw * sizeof *c);
    qsort(c, (size_t)hw, sizeof *c, cmp_desc);
    double s = 0;
    for (int64_t i = 0; i < kk; i++)
        s += c[i];
    free(c);
    return (float)(s / (double)kk);
}

void ddad_score_resize_bilinear(const float *in, int64_t h, int64_t w, float *out, int64_t oh, int64_t ow)
{
    const double sy = (double)h / (double)oh, sx = (double)w / (double)ow;
    for (int64_t y = 0; y < oh; y++) {
        double fy = ((double)y + 0.5) * sy - 0.5;
        if (fy < 0)
            fy = 0;
        int64_t y0 = (int64_t)fy;
        if (y0 > h - 1)
            y0 = h - 1;
        int64_t y1 = y0 + (y0 < h - 1);
        double ly = fy - (double)y0;
        for (int64_t x = 0; x < ow; x++) {
            double fx = ((double)x + 0.5) * sx - 0.5;
            if (fx < 0)
                fx = 0;
            int64_t x0 = (int64_t)fx;
            if (x0 > w - 1)
                x0 = w - 1;
            int64_t x1 = x0 + (x0 < w - 1);
            double lx = fx - (double)x0;
            double v = (1 - ly) * ((1 - lx) * in[y0 * w + x0] + lx * in[y0 * w + x1]) +
                       ly * ((1 - lx) * in[y1 * w + x0] + lx * in[y1 * w + x1]);
            out[y * ow + x] = (float)v;
        }
    }
}

ddad_status_t ddad_score_map_from_steps(const ddad_config_score_t *sc, const ddad_score_reference_t *ref, int64_t S,
                                        const float *kl_steps, const float *feat_steps, int64_t T, float *pixel,
                                        float *feat, float *map, float *score)
{
    const int64_t hw = S * S;
    if (sc->normalize == DDAD_SCORE_NORMALIZE_GOOD && ref)
        ddad_reference_score_map(ref, sc->good_std, sc->good_timesteps, sc->alpha, kl_steps, feat_steps, T, pixel,
                                 feat, map);
    else
        ddad_score_combine(kl_steps, feat_steps, T, hw, sc->alpha, pixel, feat, map);
    DDAD_TRY_RETURN(ddad_score_smooth(map, S, S, sc->smooth_sigma, sc->smooth_kernel));
    for (int64_t p = 0; p < hw; p++)
        if (!isfinite(map[p]))
            return ddad_fail(DDAD_STATUS_NUMERIC, "the anomaly map is not finite at (%lld, %lld) (diverged "
                             "weights? check the checkpoint's losses)", (long long)(p / S), (long long)(p % S));
    *score = ddad_score_image(map, hw, sc->image_score, sc->topk);
    return DDAD_OK;
}
