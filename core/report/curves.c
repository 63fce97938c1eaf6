/* core/report/curves.c - see curves.h for the definitions. Layout of this file:
 *   curve       allocation and release of point arrays
 *   image ROC   sort the scores descending, one point per distinct score
 *   pixel       pass 1 (range, image maxima), pass 2 (level histograms of
 *               normal pixels, anomalous pixels and each region), then one
 *               descending walk over the levels
 */
#include "curves.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- curve ------------------------------------------------------------ */

static ddad_status_t curve_alloc(ddad_curve_t *c, size_t n)
{
    c->n = n;
    c->x = calloc(n ? n : 1, sizeof *c->x);
    c->y = calloc(n ? n : 1, sizeof *c->y);
    if (!c->x || !c->y) {
        ddad_curve_free(c);
        return ddad_fail(DDAD_STATUS_NOMEM, "curves: cannot allocate a curve of %zu points", n);
    }
    return DDAD_OK;
}

void ddad_curve_free(ddad_curve_t *c)
{
    if (!c)
        return;
    free(c->x);
    free(c->y);
    memset(c, 0, sizeof *c);
}

void ddad_pixel_curves_free(ddad_pixel_curves_t *c)
{
    if (!c)
        return;
    ddad_curve_free(&c->roc);
    ddad_curve_free(&c->pro);
}

/* ---- image ROC -------------------------------------------------------- */

typedef struct scored {
    float s;
    uint8_t y;
} scored_t;

static int cmp_scored_desc(const void *a, const void *b)
{
    float x = ((const scored_t *)a)->s, y = ((const scored_t *)b)->s;
    return (x < y) - (x > y);
}

ddad_status_t ddad_curves_image_roc(const float *scores, const uint8_t *labels, size_t n, ddad_curve_t *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(scores[i]))
            return ddad_fail(DDAD_STATUS_NUMERIC, "curves: image score %zu is %g; scores must be finite", i,
                             (double)scores[i]);
    scored_t *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return ddad_fail(DDAD_STATUS_NOMEM, "curves: cannot allocate %zu image scores", n);
    int64_t P = 0, N = 0;
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        v[i].s = scores[i];
        v[i].y = labels[i] != 0;
        P += v[i].y;
        N += !v[i].y;
    }
    qsort(v, n, sizeof *v, cmp_scored_desc);
    for (size_t i = 0; i < n; i++)
        distinct += i + 1 == n || v[i + 1].s != v[i].s;
    ddad_status_t st = curve_alloc(out, distinct + 1);
    if (st != DDAD_OK) {
        free(v);
        return st;
    }
    /* point 0 is (0, 0) (calloc) */
    int64_t tp = 0, fp = 0;
    size_t k = 1;
    for (size_t i = 0; i < n; i++) {
        tp += v[i].y;
        fp += !v[i].y;
        if (i + 1 == n || v[i + 1].s != v[i].s) {
            out->x[k] = N ? (double)fp / (double)N : 0.0;
            out->y[k] = P ? (double)tp / (double)P : 0.0;
            k++;
        }
    }
    free(v);
    return DDAD_OK;
}

/* ---- pixel ------------------------------------------------------------ */

/* Working state of ddad_curves_pixel. */
typedef struct pixcurves {
    const ddad_pixel_source_t *src;
    int64_t L;
    float lo, hi;
    int64_t *nhist, *ahist;  /* (L) normal and anomalous pixels per level       */
    int64_t *rhist;          /* (cap, L) pixels of each region per level         */
    int64_t *rarea;          /* (cap) pixels of each region                      */
    int64_t nreg, cap;
    int32_t *labels, *parent; /* per-map labelling scratch                       */
    double *cum;             /* (nreg) pixels of each region counted so far      */
} pixcurves_t;

static void pixcurves_free(pixcurves_t *p)
{
    free(p->nhist);
    free(p->ahist);
    free(p->rhist);
    free(p->rarea);
    free(p->labels);
    free(p->parent);
    free(p->cum);
}

/* Pass 1: finiteness, the score range and the per-image maxima. */
static ddad_status_t pixcurves_range(pixcurves_t *p, float *image_max)
{
    const ddad_pixel_source_t *src = p->src;
    const int64_t hw = src->h * src->w;
    p->lo = INFINITY;
    p->hi = -INFINITY;
    for (int64_t i = 0; i < src->n; i++) {
        const float *map;
        const uint8_t *mask;
        ddad_status_t st = src->get(src->user, i, &map, &mask);
        if (st != DDAD_OK)
            return st;
        float mx = -INFINITY;
        for (int64_t k = 0; k < hw; k++) {
            float v = map[k];
            if (!isfinite(v))
                return ddad_pixel_source_nonfinite("curves", i, k, src->w, v);
            if (v < p->lo)
                p->lo = v;
            if (v > p->hi)
                p->hi = v;
            if (v > mx)
                mx = v;
        }
        if (image_max)
            image_max[i] = mx;
    }
    return DDAD_OK;
}

/* Makes room for nr more regions (zeroed histograms and areas). */
static ddad_status_t pixcurves_grow(pixcurves_t *p, int64_t nr)
{
    if (p->nreg + nr <= p->cap)
        return DDAD_OK;
    const int64_t L = p->L, nc = (p->nreg + nr) * 2;
    int64_t *a = realloc(p->rhist, (size_t)(nc * L) * sizeof *a);
    if (a)
        p->rhist = a;
    int64_t *b = realloc(p->rarea, (size_t)nc * sizeof *b);
    if (b)
        p->rarea = b;
    if (!a || !b)
        return ddad_fail(DDAD_STATUS_NOMEM, "curves: cannot grow the region table to %lld regions x %lld levels",
                         (long long)nc, (long long)L);
    memset(p->rhist + p->cap * L, 0, (size_t)((nc - p->cap) * L) * sizeof *p->rhist);
    memset(p->rarea + p->cap, 0, (size_t)(nc - p->cap) * sizeof *p->rarea);
    p->cap = nc;
    return DDAD_OK;
}

/* Pass 2: level histograms of normal pixels, anomalous pixels and regions. */
static ddad_status_t pixcurves_count(pixcurves_t *p)
{
    const ddad_pixel_source_t *src = p->src;
    const int64_t hw = src->h * src->w, L = p->L;
    const double lo = p->lo, span = p->hi > p->lo ? (double)p->hi - (double)p->lo : 1.0;
    for (int64_t i = 0; i < src->n; i++) {
        const float *map;
        const uint8_t *mask;
        int32_t nr = 0;
        ddad_status_t st = src->get(src->user, i, &map, &mask);
        if (st == DDAD_OK)
            st = ddad_metrics_label8(mask, src->h, src->w, p->labels, p->parent, &nr);
        if (st == DDAD_OK)
            st = pixcurves_grow(p, nr);
        if (st != DDAD_OK)
            return st;
        for (int64_t k = 0; k < hw; k++) {
            int64_t b = (int64_t)(((double)map[k] - lo) / span * (double)L);
            if (b >= L)
                b = L - 1;
            if (b < 0)
                b = 0;
            if (p->labels[k] == 0) {
                p->nhist[b]++;
            } else {
                int64_t r = p->nreg + p->labels[k] - 1;
                p->ahist[b]++;
                p->rhist[r * L + b]++;
                p->rarea[r]++;
            }
        }
        p->nreg += nr;
    }
    return DDAD_OK;
}

/* Walks the levels from the top and fills the L + 1 points of both curves. */
static ddad_status_t pixcurves_points(pixcurves_t *p, ddad_pixel_curves_t *out)
{
    const int64_t L = p->L;
    int64_t totN = 0, totA = 0;
    for (int64_t b = 0; b < L; b++)
        totN += p->nhist[b], totA += p->ahist[b];
    out->num_normal = totN;
    out->num_anomalous = totA;
    if (!(p->cum = calloc((size_t)(p->nreg ? p->nreg : 1), sizeof *p->cum)))
        return ddad_fail(DDAD_STATUS_NOMEM, "curves: cannot allocate %lld region counters", (long long)p->nreg);
    ddad_status_t st = curve_alloc(&out->roc, (size_t)L + 1);
    if (st == DDAD_OK)
        st = curve_alloc(&out->pro, (size_t)L + 1);
    if (st != DDAD_OK)
        return st;
    /* point 0 is (0, 0) (calloc) */
    int64_t cn = 0, ca = 0;
    for (int64_t b = L - 1, k = 1; b >= 0; b--, k++) {
        cn += p->nhist[b];
        ca += p->ahist[b];
        double pro = 0;
        for (int64_t r = 0; r < p->nreg; r++) {
            p->cum[r] += (double)p->rhist[r * L + b];
            pro += p->cum[r] / (double)p->rarea[r];
        }
        double fpr = totN ? (double)cn / (double)totN : 0.0;
        out->roc.x[k] = out->pro.x[k] = fpr;
        out->roc.y[k] = totA ? (double)ca / (double)totA : 0.0;
        out->pro.y[k] = p->nreg ? pro / (double)p->nreg : 0.0;
    }
    return DDAD_OK;
}

ddad_status_t ddad_curves_pixel(const ddad_pixel_source_t *src, int64_t levels, float *image_max,
                                ddad_pixel_curves_t *out)
{
    ddad_status_t st = DDAD_OK;
    pixcurves_t p = {0};
    memset(out, 0, sizeof *out);
    if (!src || !src->get || src->n < 0 || src->h <= 0 || src->w <= 0)
        return ddad_fail(DDAD_STATUS_USAGE, "curves: invalid pixel source (need n >= 0, h > 0, w > 0, get)");
    if (src->h * src->w > INT32_MAX)
        return ddad_fail(DDAD_STATUS_SHAPE, "curves: maps of %lld x %lld are too large (max 2^31 pixels per map)",
                         (long long)src->h, (long long)src->w);
    if (levels < 1 || levels > (1 << 24))
        return ddad_fail(DDAD_STATUS_USAGE, "curves: %lld score levels; need 1 to 2^24", (long long)levels);
    p.src = src;
    p.L = levels;
    p.nhist = calloc((size_t)levels, sizeof *p.nhist);
    p.ahist = calloc((size_t)levels, sizeof *p.ahist);
    p.labels = malloc((size_t)(src->h * src->w) * sizeof *p.labels);
    p.parent = malloc((size_t)(src->h * ((src->w + 1) / 2) + 1) * sizeof *p.parent);
    if (!p.nhist || !p.ahist || !p.labels || !p.parent) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "curves: cannot allocate the level histograms");
        goto fail;
    }
    DDAD_TRY(pixcurves_range(&p, image_max));
    DDAD_TRY(pixcurves_count(&p));
    DDAD_TRY(pixcurves_points(&p, out));
    out->levels = levels;
    out->lo = p.lo;
    out->hi = p.hi;
    out->num_regions = p.nreg;
fail:
    pixcurves_free(&p);
    if (st != DDAD_OK)
        ddad_pixel_curves_free(out);
    return st;
}
