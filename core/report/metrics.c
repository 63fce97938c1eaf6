/* core/report/metrics.c - see metrics.h for the definitions, the algorithm and the
 * memory bounds. Layout of this file:
 *   keys        float <-> order-preserving uint32
 *   sweep       one descending pass over distinct thresholds that updates
 *               AUROC, F1-max and the AU-PRO trapezoid at once
 *   image       image-level metrics (sort the N scores, sweep)
 *   label8      two-pass union-find connected components
 *   pixel       two passes over the source (count, scatter) + bucket sweep
 */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- keys ------------------------------------------------------------ */

uint32_t ddad_metrics_float_key(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if (u == 0x80000000u) /* -0.0 ties with +0.0 */
        u = 0;
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* Inverse of ddad_metrics_float_key. */
static float key_to_float(uint32_t k)
{
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* True for NaN and +-Inf (exponent bits all set). */
static inline int bits_not_finite(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x7f800000u) == 0x7f800000u;
}

/* ---- sweep ------------------------------------------------------------ */

/* State of one pass over distinct thresholds in descending order. */
typedef struct sweep {
    unsigned what;
    uint64_t pos_total, neg_total; /* P and N                                */
    uint64_t tp, fp;               /* counts with score >= current threshold  */
    uint64_t auc2;                 /* sum dFP * (2 TP_prev + dTP) (exact)     */
    double f1_best, f1_thr;
    double pro_cum, pro_norm;      /* sum of 1/area; 1 / #regions            */
    double limit, area, x0, y0;    /* AU-PRO trapezoid up to limit            */
    int pro_done;
} sweep_t;

static void sweep_init(sweep_t *s, unsigned what, uint64_t pos, uint64_t neg, int64_t regions, double limit)
{
    memset(s, 0, sizeof *s);
    s->what = what;
    s->pos_total = pos;
    s->neg_total = neg;
    s->f1_best = -1.0;
    s->f1_thr = NAN;
    s->pro_norm = regions > 0 ? 1.0 / (double)regions : 0.0;
    s->limit = limit;
}

/* Adds the curve point (x1, y1) to the AU-PRO trapezoid; past the limit it
 * interpolates linearly at the limit and stops (MVTec's trapezoid()). */
static void sweep_pro_point(sweep_t *s, double x1, double y1)
{
    if (s->pro_done)
        return;
    if (x1 <= s->limit) {
        s->area += 0.5 * (s->y0 + y1) * (x1 - s->x0);
        s->x0 = x1;
        s->y0 = y1;
        return;
    }
    if (s->x0 < s->limit) {
        double yi = s->y0 + (y1 - s->y0) * (s->limit - s->x0) / (x1 - s->x0);
        s->area += 0.5 * (s->y0 + yi) * (s->limit - s->x0);
    }
    s->pro_done = 1;
}

/* One distinct threshold thr: dneg normal and dpos anomalous samples have
 * exactly this score; dpro is the sum of their 1/area PRO increments. */
static void sweep_step(sweep_t *s, float thr, uint64_t dneg, uint64_t dpos, double dpro)
{
    s->auc2 += dneg * (2 * s->tp + dpos);
    s->tp += dpos;
    s->fp += dneg;
    if ((s->what & DDAD_METRICS_F1) && s->pos_total > 0) {
        double f1 = 2.0 * (double)s->tp / (double)(s->tp + s->fp + s->pos_total);
        if (f1 > s->f1_best) {
            s->f1_best = f1;
            s->f1_thr = thr;
        }
    }
    if ((s->what & DDAD_METRICS_PRO) && !s->pro_done) {
        s->pro_cum += dpro;
        double x = s->neg_total ? (double)s->fp / (double)s->neg_total : 0.0;
        double y = s->pro_cum * s->pro_norm;
        sweep_pro_point(s, x > 1.0 ? 1.0 : x, y > 1.0 ? 1.0 : y);
    }
}

static double sweep_auroc(const sweep_t *s)
{
    if (s->pos_total == 0 || s->neg_total == 0)
        return NAN;
    return (double)s->auc2 / (2.0 * (double)s->pos_total * (double)s->neg_total);
}

/* AU-PRO after the last threshold: the curve ends at (1, 1). */
static double sweep_au_pro(sweep_t *s)
{
    sweep_pro_point(s, 1.0, 1.0);
    return s->area / s->limit;
}

/* ---- image level ------------------------------------------------------ */

typedef struct keyed {
    uint32_t key;
    uint8_t label;
} keyed_t;

static int keyed_desc(const void *a, const void *b)
{
    uint32_t ka = ((const keyed_t *)a)->key, kb = ((const keyed_t *)b)->key;
    return (ka < kb) - (ka > kb);
}

/* Sorts n scores descending by key and sweeps them into s. */
static ddad_status_t sweep_scores(sweep_t *s, const float *scores, const uint8_t *labels, size_t n)
{
    keyed_t *k = malloc((n ? n : 1) * sizeof *k);
    if (!k)
        return ddad_fail(DDAD_STATUS_NOMEM, "metrics: cannot allocate %zu image scores", n);
    for (size_t i = 0; i < n; i++) {
        k[i].key = ddad_metrics_float_key(scores[i]);
        k[i].label = labels[i] != 0;
    }
    qsort(k, n, sizeof *k, keyed_desc);
    for (size_t i = 0; i < n;) {
        uint64_t dpos = 0, dneg = 0;
        size_t j = i;
        for (; j < n && k[j].key == k[i].key; j++)
            dpos += k[j].label, dneg += !k[j].label;
        sweep_step(s, key_to_float(k[i].key), dneg, dpos, 0.0);
        i = j;
    }
    free(k);
    return DDAD_OK;
}

/* NUMERIC failure naming the first non-finite score, or OK. */
static ddad_status_t check_scores(const float *scores, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(scores[i]))
            return ddad_fail(DDAD_STATUS_NUMERIC, "metrics: image score %zu is %g; scores must be finite", i,
                             (double)scores[i]);
    return DDAD_OK;
}

ddad_status_t ddad_metrics_image_eval(const float *scores, const uint8_t *labels, size_t n,
                                      ddad_image_metrics_t *out)
{
    ddad_status_t st;
    uint64_t pos = 0;
    memset(out, 0, sizeof *out);
    out->auroc = out->f1_max = out->f1_threshold = NAN;
    out->note = "";
    if ((st = check_scores(scores, n)) != DDAD_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        pos += labels[i] != 0;
    sweep_t s;
    sweep_init(&s, DDAD_METRICS_AUROC | DDAD_METRICS_F1, pos, n - pos, 0, 1.0);
    if ((st = sweep_scores(&s, scores, labels, n)) != DDAD_OK)
        return st;
    out->num_images = (int64_t)n;
    out->num_defective = (int64_t)pos;
    out->defined = pos > 0 && pos < n;
    if (pos == 0)
        out->note = "no defective image: image AUROC and F1 undefined";
    else if (pos == n)
        out->note = "no good image: image AUROC undefined";
    out->auroc = sweep_auroc(&s);
    if (pos > 0) {
        out->f1_max = s.f1_best;
        out->f1_threshold = s.f1_thr;
    }
    return DDAD_OK;
}

ddad_status_t ddad_metrics_auroc(const float *scores, const uint8_t *labels, size_t n, double *auroc)
{
    ddad_image_metrics_t m;
    ddad_status_t st = ddad_metrics_image_eval(scores, labels, n, &m);
    *auroc = m.auroc;
    if (st != DDAD_OK)
        return st;
    if (!m.defined)
        return ddad_fail(DDAD_STATUS_DATA, "metrics: AUROC of %zu scores is undefined: %s", n,
                         m.num_defective == 0 ? "no positive label" : "no negative label");
    return DDAD_OK;
}

/* ---- connected components --------------------------------------------- */

static inline int32_t uf_find(int32_t *parent, int32_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

/* Unites the sets of a and b keeping the smaller label as root, so that
 * parent[x] <= x always holds. */
static inline void uf_union(int32_t *parent, int32_t a, int32_t b)
{
    a = uf_find(parent, a);
    b = uf_find(parent, b);
    if (a < b)
        parent[b] = a;
    else if (b < a)
        parent[a] = b;
}

/* First pass: provisional labels, unions of 8-neighbours seen so far.
 * Returns the number of provisional labels + 1. */
static int32_t label8_first_pass(const uint8_t *mask, int64_t h, int64_t w, int32_t *lab, int32_t *parent)
{
    int32_t next = 1;
    parent[0] = 0;
    for (int64_t y = 0; y < h; y++) {
        const int32_t *up = y > 0 ? lab + (y - 1) * w : NULL;
        int32_t *row = lab + y * w;
        const uint8_t *m = mask + y * w;
        for (int64_t x = 0; x < w; x++) {
            if (!m[x]) {
                row[x] = 0;
                continue;
            }
            int32_t nb[4] = {x > 0 ? row[x - 1] : 0, up && x > 0 ? up[x - 1] : 0, up ? up[x] : 0,
                             up && x + 1 < w ? up[x + 1] : 0};
            int32_t l = 0;
            for (int k = 0; k < 4; k++) {
                if (!nb[k])
                    continue;
                if (!l)
                    l = nb[k];
                else if (nb[k] != l)
                    uf_union(parent, l, nb[k]);
            }
            if (!l) {
                l = next++;
                parent[l] = l;
            }
            row[x] = l;
        }
    }
    return next;
}

ddad_status_t ddad_metrics_label8(const uint8_t *mask, int64_t h, int64_t w, int32_t *labels, int32_t *parent,
                                  int32_t *num)
{
    if (h < 0 || w < 0 || h * w > INT32_MAX)
        return ddad_fail(DDAD_STATUS_SHAPE, "metrics: label8 of a %lld x %lld mask: size out of range",
                         (long long)h, (long long)w);
    int32_t *own = NULL;
    if (!parent) {
        own = malloc((size_t)(h * ((w + 1) / 2) + 1) * sizeof *own);
        if (!own)
            return ddad_fail(DDAD_STATUS_NOMEM, "metrics: cannot allocate labelling scratch for %lld x %lld",
                             (long long)h, (long long)w);
        parent = own;
    }
    int32_t next = label8_first_pass(mask, h, w, labels, parent);
    /* parent[l] <= l: resolve to consecutive final labels in one ascending
     * pass (roots are the first provisional label of each component, so
     * final labels follow the raster order of the components' first pixel). */
    int32_t count = 0;
    for (int32_t l = 1; l < next; l++) {
        int32_t p = parent[l];
        parent[l] = p == l ? ++count : parent[p];
    }
    for (int64_t i = 0; i < h * w; i++)
        labels[i] = parent[labels[i]];
    *num = count;
    free(own);
    return DDAD_OK;
}

/* ---- pixel level ------------------------------------------------------ */

#define HI_BINS 65536
#define SCAN_MIN 16384 /* buckets at least this large scan all 65536 low values */

static ddad_status_t arrays_get(void *user, int64_t i, const float **map, const uint8_t **mask)
{
    ddad_pixel_arrays_t *a = user;
    *map = a->maps + i * a->hw;
    *mask = a->masks + i * a->hw;
    return DDAD_OK;
}

void ddad_pixel_source_from_arrays(ddad_pixel_source_t *src, ddad_pixel_arrays_t *arrays, const float *maps,
                                   const uint8_t *masks, int64_t n, int64_t h, int64_t w)
{
    arrays->maps = maps;
    arrays->masks = masks;
    arrays->hw = h * w;
    src->n = n;
    src->h = h;
    src->w = w;
    src->get = arrays_get;
    src->user = arrays;
}

/* Working state of ddad_metrics_pixel_eval. */
typedef struct pix {
    const ddad_pixel_source_t *src;
    unsigned what;
    uint64_t *cnt;       /* (65536, 2) counts, then start offsets: [hi][anomalous] */
    uint64_t *cur;       /* (65536, 2) scatter cursors                             */
    uint64_t num_neg, num_pos;
    uint16_t *lo_neg;    /* (num_neg) low key bits of normal pixels, by bucket     */
    uint16_t *lo_pos;    /* (num_pos) low key bits of anomalous pixels             */
    uint32_t *region;    /* (num_pos) global region id (AU-PRO only)               */
    double *inv_area;    /* (num_regions) 1 / area                                 */
    int64_t num_regions, cap_regions;
    int32_t *labels, *parent; /* per-image labelling scratch                       */
    /* sweep tables over the 65536 low values of one bucket */
    uint32_t *tneg, *tpos;
    double *tpro;
    uint16_t *touched, *touched_tmp; /* (SCAN_MIN) distinct low values of a small bucket */
} pix_t;

static void pix_free(pix_t *p)
{
    free(p->cnt);
    free(p->cur);
    free(p->lo_neg);
    free(p->lo_pos);
    free(p->region);
    free(p->inv_area);
    free(p->labels);
    free(p->parent);
    free(p->tneg);
    free(p->tpos);
    free(p->tpro);
    free(p->touched);
    free(p->touched_tmp);
}

ddad_status_t ddad_pixel_source_nonfinite(const char *who, int64_t i, int64_t k, int64_t w, float v)
{
    return ddad_fail(DDAD_STATUS_NUMERIC, "%s: anomaly map %lld has %g at pixel (y=%lld, x=%lld); maps must be finite",
                     who, (long long)i, (double)v, (long long)(k / w), (long long)(k % w));
}

/* Pass 1: per-bucket counts, finiteness, per-image maxima. */
static ddad_status_t pix_count(pix_t *p, float *image_max)
{
    const ddad_pixel_source_t *src = p->src;
    int64_t hw = src->h * src->w;
    for (int64_t i = 0; i < src->n; i++) {
        const float *map;
        const uint8_t *mask;
        ddad_status_t st = src->get(src->user, i, &map, &mask);
        if (st != DDAD_OK)
            return st;
        float mx = -INFINITY;
        for (int64_t k = 0; k < hw; k++) {
            float v = map[k];
            if (bits_not_finite(v))
                return ddad_pixel_source_nonfinite("metrics", i, k, src->w, v);
            mx = v > mx ? v : mx;
            p->cnt[((ddad_metrics_float_key(v) >> 16) << 1) | (mask[k] != 0)]++;
        }
        if (image_max)
            image_max[i] = mx;
    }
    return DDAD_OK;
}

/* Turns counts into start offsets (normal and anomalous arrays separately)
 * and allocates the scatter arrays. */
static ddad_status_t pix_alloc(pix_t *p)
{
    uint64_t on = 0, op = 0;
    for (int b = 0; b < HI_BINS; b++) {
        uint64_t cn = p->cnt[2 * b], cp = p->cnt[2 * b + 1];
        p->cnt[2 * b] = p->cur[2 * b] = on;
        p->cnt[2 * b + 1] = p->cur[2 * b + 1] = op;
        on += cn;
        op += cp;
    }
    p->num_neg = on;
    p->num_pos = op;
    p->lo_neg = malloc((on ? on : 1) * sizeof *p->lo_neg);
    p->lo_pos = malloc((op ? op : 1) * sizeof *p->lo_pos);
    if (p->what & DDAD_METRICS_PRO)
        p->region = malloc((op ? op : 1) * sizeof *p->region);
    if (!p->lo_neg || !p->lo_pos || ((p->what & DDAD_METRICS_PRO) && !p->region))
        return ddad_fail(DDAD_STATUS_NOMEM, "metrics: cannot allocate the sort buffers for %llu pixels (%llu anomalous)",
                         (unsigned long long)(on + op), (unsigned long long)op);
    return DDAD_OK;
}

/* Labels one mask and appends its regions' 1/area; returns the global id of
 * the image's region 1 in *base. */
static ddad_status_t pix_regions(pix_t *p, const uint8_t *mask, int64_t *base)
{
    const ddad_pixel_source_t *src = p->src;
    int64_t hw = src->h * src->w;
    int32_t num;
    ddad_status_t st = ddad_metrics_label8(mask, src->h, src->w, p->labels, p->parent, &num);
    if (st != DDAD_OK)
        return st;
    if (p->num_regions + num > p->cap_regions) {
        int64_t cap = 2 * p->cap_regions + num + 64;
        double *a = realloc(p->inv_area, (size_t)cap * sizeof *a);
        if (!a)
            return ddad_fail(DDAD_STATUS_NOMEM, "metrics: cannot grow the region table to %lld", (long long)cap);
        p->inv_area = a;
        p->cap_regions = cap;
    }
    if (num == 0) { /* no defect region in this mask (inv_area may still be NULL) */
        *base = p->num_regions;
        return DDAD_OK;
    }
    double *area = p->inv_area + p->num_regions;
    memset(area, 0, (size_t)num * sizeof *area);
    for (int64_t k = 0; k < hw; k++)
        if (p->labels[k])
            area[p->labels[k] - 1] += 1.0;
    for (int32_t r = 0; r < num; r++)
        area[r] = 1.0 / area[r];
    *base = p->num_regions;
    p->num_regions += num;
    if (p->num_regions > UINT32_MAX)
        return ddad_fail(DDAD_STATUS_DATA, "metrics: more than 2^32 ground-truth regions");
    return DDAD_OK;
}

static ddad_status_t source_changed_fail(int64_t i)
{
    return ddad_fail(DDAD_STATUS_INTERNAL,
                     "metrics: the pixel source returned different data for image %lld on the second pass",
                     (long long)i);
}

/* Pass 2: scatter low key bits (and region ids) into their buckets. */
static ddad_status_t pix_scatter(pix_t *p)
{
    const ddad_pixel_source_t *src = p->src;
    int64_t hw = src->h * src->w;
    int pro = (p->what & DDAD_METRICS_PRO) != 0;
    for (int64_t i = 0; i < src->n; i++) {
        const float *map;
        const uint8_t *mask;
        int64_t base = 0;
        ddad_status_t st = src->get(src->user, i, &map, &mask);
        if (st == DDAD_OK && pro)
            st = pix_regions(p, mask, &base);
        if (st != DDAD_OK)
            return st;
        for (int64_t k = 0; k < hw; k++) {
            uint32_t key = ddad_metrics_float_key(map[k]);
            uint32_t b = (key >> 16) << 1;
            uint16_t lo = (uint16_t)(key & 0xffffu);
            if (!mask[k]) {
                uint64_t at = p->cur[b]++;
                if (at >= p->num_neg)
                    return source_changed_fail(i);
                p->lo_neg[at] = lo;
            } else {
                uint64_t at = p->cur[b + 1]++;
                if (at >= p->num_pos || (pro && !p->labels[k]))
                    return source_changed_fail(i);
                p->lo_pos[at] = lo;
                if (pro)
                    p->region[at] = (uint32_t)(base + p->labels[k] - 1);
            }
        }
    }
    /* every bucket must end exactly where the next one starts */
    for (int b = 0; b < HI_BINS; b++) {
        uint64_t end_n = b + 1 < HI_BINS ? p->cnt[2 * b + 2] : p->num_neg;
        uint64_t end_p = b + 1 < HI_BINS ? p->cnt[2 * b + 3] : p->num_pos;
        if (p->cur[2 * b] != end_n || p->cur[2 * b + 1] != end_p)
            return source_changed_fail(src->n - 1);
    }
    return DDAD_OK;
}

/* Sorts n uint16 ascending: insertion sort when tiny, else two 8-bit LSD
 * counting passes through tmp. */
static void sort_u16(uint16_t *v, uint16_t *tmp, size_t n)
{
    if (n <= 32) {
        for (size_t i = 1; i < n; i++) {
            uint16_t x = v[i];
            size_t j = i;
            for (; j > 0 && v[j - 1] > x; j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
        return;
    }
    for (int shift = 0; shift < 16; shift += 8) {
        size_t cnt[257] = {0};
        for (size_t i = 0; i < n; i++)
            cnt[((v[i] >> shift) & 0xff) + 1]++;
        for (int b = 0; b < 256; b++)
            cnt[b + 1] += cnt[b];
        for (size_t i = 0; i < n; i++)
            tmp[cnt[(v[i] >> shift) & 0xff]++] = v[i];
        memcpy(v, tmp, n * sizeof *v);
    }
}

/* Sweeps one high bucket: accumulates per low value, visits the values in
 * descending order, and clears the tables again. */
static void pix_sweep_bucket(pix_t *p, sweep_t *s, uint32_t hi)
{
    uint64_t n0 = p->cnt[2 * hi], n1 = p->cur[2 * hi];
    uint64_t a0 = p->cnt[2 * hi + 1], a1 = p->cur[2 * hi + 1];
    uint64_t m = (n1 - n0) + (a1 - a0);
    int scan = m >= SCAN_MIN, pro = (p->what & DDAD_METRICS_PRO) != 0;
    size_t nt = 0;
    for (uint64_t j = n0; j < n1; j++) {
        uint16_t lo = p->lo_neg[j];
        if (!scan && !p->tneg[lo] && !p->tpos[lo])
            p->touched[nt++] = lo;
        p->tneg[lo]++;
    }
    for (uint64_t j = a0; j < a1; j++) {
        uint16_t lo = p->lo_pos[j];
        if (!scan && !p->tneg[lo] && !p->tpos[lo])
            p->touched[nt++] = lo;
        p->tpos[lo]++;
        if (pro)
            p->tpro[lo] += p->inv_area[p->region[j]];
    }
    if (scan) {
        for (int32_t lo = HI_BINS - 1; lo >= 0; lo--) {
            if (!p->tneg[lo] && !p->tpos[lo])
                continue;
            sweep_step(s, key_to_float((hi << 16) | (uint32_t)lo), p->tneg[lo], p->tpos[lo], p->tpro[lo]);
            p->tneg[lo] = p->tpos[lo] = 0;
            p->tpro[lo] = 0.0;
        }
        return;
    }
    sort_u16(p->touched, p->touched_tmp, nt);
    for (size_t t = nt; t-- > 0;) {
        uint16_t lo = p->touched[t];
        sweep_step(s, key_to_float((hi << 16) | lo), p->tneg[lo], p->tpos[lo], p->tpro[lo]);
        p->tneg[lo] = p->tpos[lo] = 0;
        p->tpro[lo] = 0.0;
    }
}

static ddad_status_t pix_alloc_tables(pix_t *p)
{
    const ddad_pixel_source_t *src = p->src;
    p->cnt = calloc(2 * HI_BINS, sizeof *p->cnt);
    p->cur = calloc(2 * HI_BINS, sizeof *p->cur);
    p->tneg = calloc(HI_BINS, sizeof *p->tneg);
    p->tpos = calloc(HI_BINS, sizeof *p->tpos);
    p->tpro = calloc(HI_BINS, sizeof *p->tpro);
    p->touched = malloc(SCAN_MIN * sizeof *p->touched);
    p->touched_tmp = malloc(SCAN_MIN * sizeof *p->touched_tmp);
    int ok = p->cnt && p->cur && p->tneg && p->tpos && p->tpro && p->touched && p->touched_tmp;
    if (ok && (p->what & DDAD_METRICS_PRO)) {
        p->labels = malloc((size_t)(src->h * src->w) * sizeof *p->labels);
        p->parent = malloc((size_t)(src->h * ((src->w + 1) / 2) + 1) * sizeof *p->parent);
        ok = p->labels && p->parent;
    }
    if (!ok)
        return ddad_fail(DDAD_STATUS_NOMEM, "metrics: cannot allocate the sweep tables");
    return DDAD_OK;
}

static ddad_status_t pix_check_args(const ddad_pixel_source_t *src, unsigned what, double pro_limit)
{
    if (!src || !src->get || src->n < 0 || src->h <= 0 || src->w <= 0)
        return ddad_fail(DDAD_STATUS_USAGE, "metrics: invalid pixel source (need n >= 0, h > 0, w > 0, get)");
    if (src->h * src->w > INT32_MAX)
        return ddad_fail(DDAD_STATUS_SHAPE, "metrics: maps of %lld x %lld are too large (max 2^31 pixels per map)",
                         (long long)src->h, (long long)src->w);
    if ((what & DDAD_METRICS_PRO) && !(pro_limit > 0.0 && pro_limit <= 1.0))
        return ddad_fail(DDAD_STATUS_USAGE, "metrics: AU-PRO integration limit %g must be in (0, 1]", pro_limit);
    if (!(what & DDAD_METRICS_ALL))
        return ddad_fail(DDAD_STATUS_USAGE, "metrics: no pixel metric asked for (what = 0x%x)", what);
    return DDAD_OK;
}

static void pix_result(pix_t *p, sweep_t *s, ddad_pixel_metrics_t *out)
{
    out->num_pixels = (int64_t)(p->num_neg + p->num_pos);
    out->num_anomalous = (int64_t)p->num_pos;
    out->num_regions = p->num_regions;
    out->defined = p->num_pos > 0 && p->num_neg > 0;
    if (p->num_pos == 0)
        out->note = "no anomalous pixel: pixel AUROC, AU-PRO and pixel F1 undefined";
    else if (p->num_neg == 0)
        out->note = "no normal pixel: pixel AUROC and AU-PRO undefined";
    if (!out->defined)
        return;
    if (p->what & DDAD_METRICS_AUROC)
        out->auroc = sweep_auroc(s);
    if (p->what & DDAD_METRICS_PRO)
        out->au_pro = sweep_au_pro(s);
    if (p->what & DDAD_METRICS_F1) {
        out->f1_max = s->f1_best;
        out->f1_threshold = s->f1_thr;
    }
}

ddad_status_t ddad_metrics_pixel_eval(const ddad_pixel_source_t *src, unsigned what, double pro_limit,
                                      float *image_max, ddad_pixel_metrics_t *out)
{
    ddad_status_t st = DDAD_OK;
    pix_t p = {0};
    memset(out, 0, sizeof *out);
    out->auroc = out->au_pro = out->f1_max = out->f1_threshold = NAN;
    out->pro_limit = pro_limit;
    out->note = "";
    DDAD_TRY(pix_check_args(src, what, pro_limit));
    p.src = src;
    p.what = what;
    DDAD_TRY(pix_alloc_tables(&p));
    DDAD_TRY(pix_count(&p, image_max));
    DDAD_TRY(pix_alloc(&p));
    DDAD_TRY(pix_scatter(&p));
    sweep_t s;
    sweep_init(&s, what, p.num_pos, p.num_neg, p.num_regions, pro_limit);
    for (int32_t hi = HI_BINS - 1; hi >= 0; hi--)
        if (p.cur[2 * hi] > p.cnt[2 * hi] || p.cur[2 * hi + 1] > p.cnt[2 * hi + 1])
            pix_sweep_bucket(&p, &s, (uint32_t)hi);
    pix_result(&p, &s, out);
fail:
    pix_free(&p);
    return st;
}

/* Runs pixel_eval over arrays and turns "undefined" into a DATA status. */
static ddad_status_t pixel_scalar(const float *maps, const uint8_t *masks, int64_t n, int64_t h, int64_t w,
                                  unsigned what, double pro_limit, ddad_pixel_metrics_t *m)
{
    ddad_pixel_source_t src;
    ddad_pixel_arrays_t arr;
    ddad_pixel_source_from_arrays(&src, &arr, maps, masks, n, h, w);
    ddad_status_t st = ddad_metrics_pixel_eval(&src, what, pro_limit, NULL, m);
    if (st != DDAD_OK)
        return st;
    if (!m->defined)
        return ddad_fail(DDAD_STATUS_DATA, "metrics: over %lld maps of %lld x %lld, %s", (long long)n, (long long)h,
                         (long long)w, m->note);
    return DDAD_OK;
}

ddad_status_t ddad_metrics_pixel_auroc(const float *maps, const uint8_t *masks, int64_t n, int64_t h, int64_t w,
                                       double *auroc)
{
    ddad_pixel_metrics_t m;
    ddad_status_t st = pixel_scalar(maps, masks, n, h, w, DDAD_METRICS_AUROC, 1.0, &m);
    *auroc = m.auroc;
    return st;
}

ddad_status_t ddad_metrics_au_pro(const float *maps, const uint8_t *masks, int64_t n, int64_t h, int64_t w,
                                  double pro_limit, double *au_pro)
{
    ddad_pixel_metrics_t m;
    ddad_status_t st = pixel_scalar(maps, masks, n, h, w, DDAD_METRICS_PRO, pro_limit, &m);
    *au_pro = m.au_pro;
    return st;
}
