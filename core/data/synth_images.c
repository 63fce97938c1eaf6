/* core/data/synth_images.c - see synth_images.h */
#include "synth_images.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "csv.h"
#include "image.h"
#include "run.h"
#include "synth_common.h"

#define JITTER 1.15                     /* crop sides vary by this factor either way     */
#define VISIBLE 4.0                     /* smallest change (grey levels) that is painted  */
#define MIN_CROP 8                      /* sources whose base crop side is smaller: skip  */
#define MAX_TOTAL_PIXELS ((int64_t)1 << 28)
#define MAX_DEPTH 32                    /* folder nesting (guards against symlink loops)  */

enum { K_SCRATCH, K_STAIN, K_FOREIGN, K_MISSING, K_HOLE, K_COLOUR, N_KINDS };
static const char *const k_kinds[N_KINDS] = {"scratch",          "stain", "foreign_texture",
                                             "missing_material", "hole",  "colour"};
#define N_DEFAULT_KINDS 4

const char *const *ddad_synth_images_defects(size_t *n)
{
    *n = N_KINDS;
    return k_kinds;
}

ddad_synth_images_opts_t ddad_synth_images_opts_default(void)
{
    ddad_synth_images_opts_t o = {.images = NULL,
                                  .foreign = NULL,
                                  .out = "datasets/from_images",
                                  .category = NULL,
                                  .size = 64,
                                  .n_train = 60,
                                  .n_test_good = 10,
                                  .n_test_defect = 6,
                                  .seed = 0,
                                  .defects = NULL,
                                  .n_defects = 0};
    return o;
}

static int kind_index(const char *name)
{
    for (int i = 0; i < N_KINDS; i++)
        if (!strcmp(name, k_kinds[i]))
            return i;
    return -1;
}

/* ---- source images ----------------------------------------------------------------------------- */

typedef struct source {
    char *rel;       /* path relative to its root folder            */
    char *real;      /* canonical path (foreign files that are also sources are dropped) */
    ddad_image_t im; /* (h, w, 3)                                   */
    int c0, c_hi;    /* crop side in source pixels: base, largest   */
    int bands;       /* B: bands along the long axis                */
    int len[2];      /* train (0) / test (1) length along the long axis */
} source_t;

typedef struct source_set {
    source_t *v;
    size_t n, cap;
} source_set_t;

typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec_t;

static void strvec_free(strvec_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    *s = (strvec_t){0};
}

static int strvec_push(strvec_t *s, char *str)
{
    if (!str)
        return -1;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 32;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            free(str);
            return -1;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = str;
    return 0;
}

static void source_set_free(source_set_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].rel);
        free(s->v[i].real);
        ddad_image_free(&s->v[i].im);
    }
    free(s->v);
    *s = (source_set_t){0};
}

static bool has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") ||
                   !strcasecmp(dot, ".bmp"));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Appends the paths (relative to root) of the image files below root/rel. Hidden entries are skipped. */
static ddad_status_t list_images(const char *root, const char *rel, int depth, strvec_t *out)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d)
        return ddad_fail(DDAD_STATUS_DATA, "%s: cannot open folder: %s", dir, strerror(errno));
    ddad_status_t st = DDAD_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char sub[4096], full[8192];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(full, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode) && depth < MAX_DEPTH)
            st = list_images(root, sub, depth + 1, out);
        else if (S_ISREG(sb.st_mode) && has_image_ext(e->d_name) && strvec_push(out, strdup(sub)))
            st = ddad_fail(DDAD_STATUS_NOMEM, "listing %s: out of memory", dir);
    }
    closedir(d);
    return st;
}

/* The base crop side (see synth_images.h), 0 when the image is too small. */
static int base_side(int w, int h, int S)
{
    int s = w < h ? w : h, l = w < h ? h : w;
    double c = s / 4.0;
    if (c > 4.0 * S)
        c = 4.0 * S;
    if (c < S)
        c = S < s ? S : s;
    if (c > l / (3 * JITTER))
        c = l / (3 * JITTER);
    if (c > s / JITTER)
        c = s / JITTER;
    return c < MIN_CROP ? 0 : (int)floor(c);
}

static int band_lo(int l, int B, int i) { return (int)((int64_t)i * l / B); }
static bool band_is_test(int i) { return i % 4 == 2; }

/* Walks the runs of consecutive bands of one split (0 train, 1 test) along the long axis l: with
 * pick < 0 returns the number of positions where a crop of side c fits inside one run; else
 * returns the start of position number `pick` in that order. */
static int64_t split_positions(int l, int B, int split, int c, int64_t pick)
{
    int64_t total = 0;
    for (int i = 0; i < B;) {
        int j = i;
        while (j + 1 < B && band_is_test(j + 1) == band_is_test(i))
            j++;
        int a = band_lo(l, B, i), len = band_lo(l, B, j + 1) - a;
        if (band_is_test(i) == (split == 1) && len >= c) {
            if (pick >= 0 && pick < len - c + 1)
                return a + pick;
            if (pick >= 0)
                pick -= len - c + 1;
            total += len - c + 1;
        }
        i = j + 1;
    }
    return pick >= 0 ? -1 : total;
}

/* Loads every image below root into set, in byte order of the relative path, with its crop geometry
 * for output side S; files that fail to load or are too small are skipped with a warning (counted in
 * *skipped). *pixels accumulates the decoded pixels over calls (the MAX_TOTAL_PIXELS budget). */
static ddad_status_t load_sources(const char *root, int S, source_set_t *set, size_t *skipped, int64_t *pixels)
{
    struct stat sb;
    if (stat(root, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ddad_fail(DDAD_STATUS_DATA, "%s: no such folder (expected a folder of PNG, JPEG or BMP images)", root);
    strvec_t files = {0};
    ddad_status_t st = list_images(root, "", 0, &files);
    if (!st)
        qsort(files.v, files.n, sizeof *files.v, cmp_str);
    for (size_t i = 0; i < files.n && !st; i++) {
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", root, files.v[i]);
        source_t s = {0};
        if (ddad_image_load(&s.im, full, DDAD_IMAGE_RGB) != DDAD_OK) {
            ddad_log(DDAD_LOG_WARN, "skipping %s", ddad_last_error());
            ddad_clear_error();
            ++*skipped;
            continue;
        }
        s.c0 = base_side(s.im.w, s.im.h, S);
        if (!s.c0) {
            ddad_log(DDAD_LOG_WARN, "skipping %s: %dx%d is too small to cut crops from", full, s.im.w, s.im.h);
            ddad_image_free(&s.im);
            ++*skipped;
            continue;
        }
        *pixels += (int64_t)s.im.w * s.im.h;
        if (*pixels > MAX_TOTAL_PIXELS) {
            ddad_image_free(&s.im);
            st = ddad_fail(DDAD_STATUS_DATA,
                           "%s: the source images hold more than %lld Mpixel in all; use fewer or smaller images",
                           root, (long long)(MAX_TOTAL_PIXELS >> 20));
            break;
        }
        int l = s.im.w > s.im.h ? s.im.w : s.im.h;
        s.c_hi = (int)floor(s.c0 * JITTER);
        s.bands = l / s.c_hi;
        for (int b = 0; b < s.bands; b++)
            s.len[band_is_test(b)] += band_lo(l, s.bands, b + 1) - band_lo(l, s.bands, b);
        s.rel = files.v[i];
        files.v[i] = NULL;
        s.real = realpath(full, NULL);
        if (set->n == set->cap) {
            size_t cap = set->cap ? 2 * set->cap : 8;
            source_t *v = realloc(set->v, cap * sizeof *v);
            if (!v) {
                free(s.rel);
                free(s.real);
                ddad_image_free(&s.im);
                st = ddad_fail(DDAD_STATUS_NOMEM, "loading %s: out of memory", root);
                break;
            }
            set->v = v;
            set->cap = cap;
        }
        set->v[set->n++] = s;
    }
    strvec_free(&files);
    return st;
}

/* ---- crops ------------------------------------------------------------------------------------- */

typedef struct crop {
    const source_t *src;
    int x, y, side, turn;
} crop_t;

typedef struct work {
    int S;
    ddad_image_t cut, resized; /* scratch images reused by every crop */
} work_t;

/* Cuts the square (x, y, side) of the crop's source, turned by `turn` quarter turns (0 or 1), and
 * resizes it to S x S into out (S, S, 3). */
static ddad_status_t cut_crop(work_t *w, const crop_t *c, uint8_t *out)
{
    const ddad_image_t *im = &c->src->im;
    ddad_status_t st = ddad_image_alloc(&w->cut, c->side, c->side, 3);
    if (st)
        return st;
    for (int y = 0; y < c->side; y++)
        for (int x = 0; x < c->side; x++) {
            /* a quarter turn: output (x, y) reads source (y, side - 1 - x) of the square */
            int sx = c->turn ? y : x, sy = c->turn ? c->side - 1 - x : y;
            memcpy(w->cut.data + ((size_t)y * c->side + x) * 3,
                   im->data + ((size_t)(c->y + sy) * im->w + (c->x + sx)) * 3, 3);
        }
    if ((st = ddad_image_resize_bicubic(&w->cut, w->S, w->S, &w->resized)))
        return st;
    memcpy(out, w->resized.data, (size_t)3 * w->S * w->S);
    return DDAD_OK;
}

static int jittered_side(int c0, int c_hi, ddad_synth_rng_t *r)
{
    long c = lround(c0 * ddad_synth_rng_logrange(r, 1 / JITTER, JITTER));
    return (int)(c < 1 ? 1 : c > c_hi ? c_hi : c);
}

/* Draws a crop of split (0 train, 1 test): the source with weight = its area in that split, a side,
 * and a position inside one run of that split's bands. */
static crop_t pick_crop(const source_set_t *set, int split, ddad_synth_rng_t *r)
{
    double total = 0;
    for (size_t i = 0; i < set->n; i++)
        total += (double)set->v[i].len[split] * (set->v[i].im.w < set->v[i].im.h ? set->v[i].im.w : set->v[i].im.h);
    double u = ddad_synth_rng_unif(r) * total;
    size_t k = 0;
    for (; k + 1 < set->n; k++) {
        const source_t *s = &set->v[k];
        u -= (double)s->len[split] * (s->im.w < s->im.h ? s->im.w : s->im.h);
        if (u < 0)
            break;
    }
    const source_t *s = &set->v[k];
    crop_t c = {.src = s, .side = jittered_side(s->c0, s->c_hi, r)};
    bool wide = s->im.w >= s->im.h;
    int l = wide ? s->im.w : s->im.h, across = wide ? s->im.h : s->im.w;
    int64_t n = split_positions(l, s->bands, split, c.side, -1);
    int along = (int)split_positions(l, s->bands, split, c.side, (int64_t)(ddad_synth_rng_unif(r) * n));
    int cross = (int)(ddad_synth_rng_unif(r) * (across - c.side + 1));
    c.x = wide ? along : cross;
    c.y = wide ? cross : along;
    return c;
}

/* ---- defects ----------------------------------------------------------------------------------- */

/* Every painter reads the crop src (S, S, 3) bytes and writes all of dst (S, S, 3) doubles, grey
 * levels before rounding and clamping; paint_defect then quantises. Besides the crop, a painter may
 * use the other sources (foreign patches). */
typedef struct paint_ctx {
    work_t *w;
    const source_set_t *own;     /* the category's sources                      */
    const source_set_t *foreign; /* --foreign sources (may be empty)            */
    const crop_t *crop;          /* the crop being painted                      */
    crop_t patch;                /* foreign_texture: the patch that was used    */
    const char *patch_from;      /* "foreign", "images" or "self"               */
} paint_ctx_t;

static double clamp01(double t) { return t < 0 ? 0 : t > 1 ? 1 : t; }
static double smooth01(double t) { return t * t * (3 - 2 * t); }

static void pick_centre(int S, double rad, ddad_synth_rng_t *r, double *cx, double *cy)
{
    double m = rad < S / 4.0 ? rad : S / 4.0;
    *cx = ddad_synth_rng_range(r, m, S - 1 - m);
    *cy = ddad_synth_rng_range(r, m, S - 1 - m);
}

/* An irregular outline around a centre (the blob of synth_common with a rough edge added): signed
 * distance in pixels, approximately, negative inside. */
typedef struct shape {
    double cx, cy, rad, se, ct, st, a1, a2, rough, freq;
    uint64_t key;
} shape_t;

static void shape_init(shape_t *s, int S, double area, double rough, ddad_synth_rng_t *r)
{
    s->rad = sqrt(area / M_PI);
    pick_centre(S, s->rad, r, &s->cx, &s->cy);
    s->a1 = ddad_synth_rng_range(r, 0, 2 * M_PI);
    s->a2 = ddad_synth_rng_range(r, 0, 2 * M_PI);
    s->se = sqrt(ddad_synth_rng_range(r, 0.6, 1.4));
    double th = ddad_synth_rng_range(r, 0, M_PI);
    s->ct = cos(th);
    s->st = sin(th);
    s->rough = rough;
    s->freq = ddad_synth_rng_range(r, 2.5, 5);
    s->key = ddad_synth_rng_next(r);
}

static double shape_sd(const shape_t *s, double x, double y, double *nx, double *ny)
{
    double dx = x - s->cx, dy = y - s->cy;
    double u = (s->ct * dx + s->st * dy) / s->se, v = (-s->st * dx + s->ct * dy) * s->se;
    double phi = atan2(v, u), d = sqrt(u * u + v * v);
    double rr = s->rad * (1 + 0.22 * sin(3 * phi + s->a1) + 0.12 * sin(5 * phi + s->a2) +
                          s->rough * (ddad_synth_value_noise(s->key, s->freq * cos(phi), s->freq * sin(phi)) - 0.5));
    double dd = sqrt(dx * dx + dy * dy);
    if (nx) {
        *nx = dd > 1e-9 ? dx / dd : 1;
        *ny = dd > 1e-9 ? dy / dd : 0;
    }
    return d > 1e-9 ? (d - rr) * dd / d : -rr; /* back to pixel units along the ray */
}

static void mean_rgb(const uint8_t *src, size_t N, double m[3])
{
    double acc[3] = {0, 0, 0};
    for (size_t i = 0; i < N; i++)
        for (int k = 0; k < 3; k++)
            acc[k] += src[3 * i + k];
    for (int k = 0; k < 3; k++)
        m[k] = acc[k] / (double)N;
}

/* 1-3 tapered curved strokes (quadratic Bezier curves), lighter or darker than the surface. */
static ddad_status_t paint_scratch(paint_ctx_t *ctx, const uint8_t *src, double *dst, ddad_synth_rng_t *r)
{
    int S = ctx->w->S;
    size_t N = (size_t)S * S;
    float *a = calloc(N, sizeof *a); /* (S, S) coverage x strength */
    if (!a)
        return ddad_fail(DDAD_STATUS_NOMEM, "scratch: out of memory");
    double k = sqrt(S / 64.0);
    double u = ddad_synth_rng_unif(r);
    int strokes = u < 0.6 ? 1 : u < 0.85 ? 2 : 3;
    double w0 = ddad_synth_rng_range(r, 0.7, 2.2) * k;
    double len = ddad_synth_rng_logrange(r, 0.002, 0.02) * N / (0.8 * w0 * strokes);
    len = len > 0.85 * S ? 0.85 * S : len < 8 * w0 ? 8 * w0 : len; /* a stroke, not a dot */
    double cx, cy, th = ddad_synth_rng_range(r, 0, M_PI);
    pick_centre(S, len / 4, r, &cx, &cy);
    bool light = ddad_synth_rng_unif(r) < 0.5;
    double contrast = ddad_synth_rng_range(r, 0.4, 1.0);
    uint64_t key = ddad_synth_rng_next(r);
    for (int s = 0; s < strokes; s++) {
        double ths = th + (s ? ddad_synth_rng_range(r, -0.1, 0.1) : 0);
        double ls = len * (s ? ddad_synth_rng_range(r, 0.4, 0.9) : 1);
        double off = s ? (ddad_synth_rng_unif(r) < 0.5 ? -1 : 1) * ddad_synth_rng_range(r, 2, 6) * k : 0;
        double along = s ? ddad_synth_rng_range(r, -0.3, 0.3) * len : 0;
        double bend = ddad_synth_rng_range(r, -0.18, 0.18) * ls;
        double ux = cos(ths), uy = sin(ths), mx = cx + along * ux - off * uy, my = cy + along * uy + off * ux;
        double p0x = mx - ls / 2 * ux, p0y = my - ls / 2 * uy, p2x = mx + ls / 2 * ux, p2y = my + ls / 2 * uy;
        double p1x = mx - 2 * bend * uy, p1y = my + 2 * bend * ux; /* the curve's middle is `bend` off the chord */
        uint64_t ks = key + (uint64_t)s * 0x9e37ull;
        int M = (int)(ls * 3) + 8;
        for (int j = 0; j <= M; j++) {
            double t = (double)j / M, q = 1 - t;
            double px = q * q * p0x + 2 * q * t * p1x + t * t * p2x, py = q * q * p0y + 2 * q * t * p1y + t * t * p2y;
            double taper = pow(sin(M_PI * t), 0.35);
            double w = w0 * taper * (0.6 + 0.8 * ddad_synth_value_noise(ks, t * ls / (6 * k), 0.5));
            double str = contrast * (0.45 + 0.55 * ddad_synth_value_noise(ks ^ 0x5555ull, t * ls / (8 * k), 3.5));
            double half = w / 2;
            for (int y = (int)floor(py - half - 1); y <= (int)ceil(py + half + 1); y++)
                for (int x = (int)floor(px - half - 1); x <= (int)ceil(px + half + 1); x++) {
                    if (x < 0 || y < 0 || x >= S || y >= S)
                        continue;
                    double d = sqrt((x - px) * (x - px) + (y - py) * (y - py));
                    double v = clamp01(half + 0.5 - d) * str;
                    size_t i = (size_t)y * S + x;
                    if (v > a[i])
                        a[i] = (float)v;
                }
        }
    }
    for (size_t i = 0; i < N; i++) {
        const uint8_t *s = src + 3 * i;
        double lum = 0.299 * s[0] + 0.587 * s[1] + 0.114 * s[2];
        for (int c = 0; c < 3; c++) {
            double target = light ? 0.5 * (s[c] + lum) + (245 - 0.5 * (s[c] + lum)) * 0.85 : s[c] * 0.3;
            dst[3 * i + c] = s[c] + a[i] * (target - s[c]);
        }
    }
    free(a);
    return DDAD_OK;
}

/* A soft change of brightness and colour with a smooth falloff, sometimes with a tide mark. */
static ddad_status_t paint_stain(paint_ctx_t *ctx, const uint8_t *src, double *dst, ddad_synth_rng_t *r)
{
    int S = ctx->w->S;
    size_t N = (size_t)S * S;
    shape_t sh;
    shape_init(&sh, S, ddad_synth_rng_logrange(r, 0.002, 0.08) * N, 0.15, r);
    double soft = ddad_synth_rng_range(r, 0.3, 0.8), peak = ddad_synth_rng_range(r, 16, 45);
    int type = (int)(ddad_synth_rng_unif(r) * 3); /* 0 water or oil, 1 rust or coffee, 2 bleach */
    double tint[3] = {1.0, ddad_synth_rng_range(r, 0.6, 0.85), 0};
    tint[2] = tint[1] * ddad_synth_rng_range(r, 0.45, 0.8);
    /* strength: a peak change of `peak` grey levels on this crop's mean brightness; bleaching
       needs room above the surface, darkening needs some brightness */
    double m[3];
    mean_rgb(src, N, m);
    double lum = 0.299 * m[0] + 0.587 * m[1] + 0.114 * m[2];
    if (type == 2 && 235 - lum < 40)
        type = 0;
    else if (type != 2 && lum < 40)
        type = 2;
    double strength = peak / (type == 2 ? 0.8 * (235 - lum) : type == 1 ? lum * (1 - tint[2]) : lum);
    strength = strength > 0.8 ? 0.8 : strength;
    bool ring = ddad_synth_rng_unif(r) < 0.35;
    double ring_w = ddad_synth_rng_range(r, 0.05, 0.12);
    uint64_t key = ddad_synth_rng_next(r);
    double nscale = sh.rad * 0.45 + 1;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            size_t i = (size_t)y * S + x;
            double sd = shape_sd(&sh, x, y, NULL, NULL);
            double f = smooth01(clamp01(0.5 - sd / (sh.rad * soft))); /* 1/2 on the outline */
            if (ring) {
                double g = sd / (sh.rad * ring_w);
                f += 0.6 * exp(-g * g);
            }
            f *= 0.7 + 0.3 * ddad_synth_value_noise(key, x / nscale, y / nscale);
            double s = f * strength;
            for (int c = 0; c < 3; c++) {
                double v = src[3 * i + c];
                dst[3 * i + c] = type == 0   ? v * (1 - s)
                                 : type == 1 ? v * (1 - s + s * tint[c])
                                             : v + (235 - v) * 0.8 * s;
            }
        }
    return DDAD_OK;
}

/* A patch of other material in an irregular shape with a blended edge. */
static ddad_status_t paint_foreign(paint_ctx_t *ctx, const uint8_t *src, double *dst, ddad_synth_rng_t *r)
{
    int S = ctx->w->S;
    size_t N = (size_t)S * S;
    double area = ddad_synth_rng_logrange(r, 0.002, 0.08) * N, cx, cy;
    pick_centre(S, sqrt(area / M_PI), r, &cx, &cy);
    uint8_t *region = malloc(N), *patch = malloc(3 * N);
    float *alpha = malloc(N * sizeof *alpha), *tmp = malloc(N * sizeof *tmp);
    ddad_status_t st = DDAD_OK;
    if (!region || !patch || !alpha || !tmp) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "foreign_texture: out of memory");
        goto done;
    }
    ddad_synth_blob(region, S, cx, cy, area, r);
    /* blended edge: the region blurred by 1 + S / 128 box passes of radius 1 */
    for (size_t i = 0; i < N; i++)
        alpha[i] = region[i];
    for (int pass = 0; pass < 1 + S / 128; pass++) {
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                double acc = 0;
                int n = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                        if (x + dx >= 0 && y + dy >= 0 && x + dx < S && y + dy < S) {
                            acc += alpha[(size_t)(y + dy) * S + x + dx];
                            n++;
                        }
                tmp[(size_t)y * S + x] = (float)(acc / n);
            }
        memcpy(alpha, tmp, N * sizeof *alpha);
    }
    /* the patch: another source's own field of view; else the same source at twice it, turned */
    const source_set_t *pool = ctx->foreign->n ? ctx->foreign : ctx->own;
    size_t npool = pool->n - (pool == ctx->own);
    crop_t p = {0};
    if (npool) {
        size_t k = (size_t)(ddad_synth_rng_unif(r) * npool);
        if (pool == ctx->own && &pool->v[k] >= ctx->crop->src)
            k++; /* skip the crop's own source */
        p.src = &pool->v[k];
        p.side = jittered_side(p.src->c0, p.src->c_hi, r);
        ctx->patch_from = pool == ctx->own ? "images" : "foreign";
    } else {
        p.src = ctx->crop->src;
        int s = p.src->im.w < p.src->im.h ? p.src->im.w : p.src->im.h, c = 2 * ctx->crop->side;
        p.side = c < s ? c : s;
        p.turn = 1;
        ctx->patch_from = "self";
    }
    p.x = (int)(ddad_synth_rng_unif(r) * (p.src->im.w - p.side + 1));
    p.y = (int)(ddad_synth_rng_unif(r) * (p.src->im.h - p.side + 1));
    ctx->patch = p;
    if ((st = cut_crop(ctx->w, &p, patch)))
        goto done;
    for (size_t i = 0; i < 3 * N; i++)
        dst[i] = src[i] + alpha[i / 3] * ((double)patch[i] - src[i]);
done:
    free(region);
    free(patch);
    free(alpha);
    free(tmp);
    return st;
}

/* A chip: a dark cavity or a background-like fill, a jagged outline, a rim shaded by a light. */
static ddad_status_t paint_missing(paint_ctx_t *ctx, const uint8_t *src, double *dst, ddad_synth_rng_t *r)
{
    int S = ctx->w->S;
    size_t N = (size_t)S * S;
    double k = sqrt(S / 64.0);
    shape_t sh;
    shape_init(&sh, S, ddad_synth_rng_logrange(r, 0.002, 0.07) * N, ddad_synth_rng_range(r, 0.2, 0.45), r);
    double la = ddad_synth_rng_range(r, 0, 2 * M_PI), lx = cos(la), ly = sin(la);
    double rim = ddad_synth_rng_range(r, 0.8, 1.8) * k;
    bool cavity = ddad_synth_rng_unif(r) < 0.65, lip = ddad_synth_rng_unif(r) < 0.5;
    double m[3], fill[3];
    mean_rgb(src, N, m);
    if (cavity) {
        double dark = ddad_synth_rng_range(r, 0.08, 0.2);
        for (int c = 0; c < 3; c++)
            fill[c] = 6 + m[c] * dark;
    } else {
        static const double backdrops[3][3] = {{22, 22, 25}, {112, 115, 122}, {218, 216, 210}};
        /* the backdrop farthest from the surface's mean colour */
        int best = 0;
        double bd = -1;
        for (int b = 0; b < 3; b++) {
            double d = fabs(backdrops[b][0] - m[0]) + fabs(backdrops[b][1] - m[1]) + fabs(backdrops[b][2] - m[2]);
            if (d > bd) {
                bd = d;
                best = b;
            }
        }
        double g = ddad_synth_rng_range(r, 0.9, 1.1);
        for (int c = 0; c < 3; c++)
            fill[c] = backdrops[best][c] * g;
    }
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            size_t i = (size_t)y * S + x;
            double nx, ny, sd = shape_sd(&sh, x, y, &nx, &ny);
            const uint8_t *s = src + 3 * i;
            double n = ddad_synth_rng_norm(r);
            for (int c = 0; c < 3; c++)
                dst[3 * i + c] = s[c];
            if (sd >= 0.5) {
                if (lip && sd < 0.5 + k) /* a thin bright broken edge just outside */
                    for (int c = 0; c < 3; c++)
                        dst[3 * i + c] = s[c] + (255 - s[c]) * 0.3 * (1 - (sd - 0.5) / k);
                continue;
            }
            double cov = clamp01(0.5 - sd), depth = -sd;
            double face = 0.5 - 0.5 * (nx * lx + ny * ly); /* the wall faces inwards */
            for (int c = 0; c < 3; c++) {
                double v;
                if (depth < rim)
                    v = s[c] * (0.25 + 1.1 * face);
                else if (cavity)
                    v = fill[c] * (0.6 + 0.4 * exp(-(depth - rim) / (2 * rim))) * (0.8 + 0.4 * face) + 2 * n;
                else
                    v = fill[c] + 3 * n;
                dst[3 * i + c] = s[c] + cov * (v - s[c]);
            }
        }
    return DDAD_OK;
}

/* "hole" and "colour" as synth.c paints them, on a blob. */
static ddad_status_t paint_blob_kind(paint_ctx_t *ctx, int kind, const uint8_t *src, double *dst,
                                     ddad_synth_rng_t *r)
{
    int S = ctx->w->S;
    size_t N = (size_t)S * S;
    uint8_t *region = malloc(N);
    if (!region)
        return ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory", k_kinds[kind]);
    double area = ddad_synth_rng_logrange(r, 0.003, kind == K_HOLE ? 0.04 : 0.10) * N;
    double cx, cy, shift = ddad_synth_rng_range(r, 45, 80);
    pick_centre(S, sqrt(area / M_PI), r, &cx, &cy);
    ddad_synth_blob(region, S, cx, cy, area, r);
    for (size_t i = 0; i < N; i++) {
        uint8_t d[3] = {src[3 * i], src[3 * i + 1], src[3 * i + 2]};
        if (region[i]) {
            double n = ddad_synth_rng_norm(r);
            if (kind == K_HOLE)
                ddad_synth_hole_pixel(d, n);
            else
                ddad_synth_colour_pixel(src + 3 * i, d, n, shift);
        }
        for (int c = 0; c < 3; c++)
            dst[3 * i + c] = d[c];
    }
    free(region);
    return DDAD_OK;
}

/* Paints one defect of `kind` and quantises it: out gets the source's bytes wherever the change is
 * under VISIBLE grey levels, region (S, S) = the pixels whose bytes differ. Returns that count in
 * *changed. */
static ddad_status_t paint_defect(paint_ctx_t *ctx, int kind, const uint8_t *src, double *dst, uint8_t *out,
                                  uint8_t *region, size_t *changed, ddad_synth_rng_t *r)
{
    size_t N = (size_t)ctx->w->S * ctx->w->S;
    ddad_status_t st;
    switch (kind) {
    case K_SCRATCH:
        st = paint_scratch(ctx, src, dst, r);
        break;
    case K_STAIN:
        st = paint_stain(ctx, src, dst, r);
        break;
    case K_FOREIGN:
        st = paint_foreign(ctx, src, dst, r);
        break;
    case K_MISSING:
        st = paint_missing(ctx, src, dst, r);
        break;
    default:
        st = paint_blob_kind(ctx, kind, src, dst, r);
        break;
    }
    if (st)
        return st;
    *changed = 0;
    for (size_t i = 0; i < N; i++) {
        double big = 0;
        for (int c = 0; c < 3; c++) {
            double d = fabs(dst[3 * i + c] - src[3 * i + c]);
            big = d > big ? d : big;
        }
        for (int c = 0; c < 3; c++)
            out[3 * i + c] = big < VISIBLE ? src[3 * i + c] : ddad_synth_q8(dst[3 * i + c]);
        region[i] = memcmp(out + 3 * i, src + 3 * i, 3) != 0;
        *changed += region[i];
    }
    return DDAD_OK;
}

/* ---- output ------------------------------------------------------------------------------------ */


static void csv_row(FILE *f, const char *image, const crop_t *c, const char *patch_from, const crop_t *p)
{
    ddad_csv_field(f, image);
    fputc(',', f);
    ddad_csv_field(f, c->src->rel);
    fprintf(f, ",%d,%d,%d,", c->x, c->y, c->side);
    if (p) {
        ddad_csv_field(f, patch_from);
        fputc(',', f);
        ddad_csv_field(f, p->src->rel);
        fprintf(f, ",%d,%d,%d,%d\n", p->x, p->y, p->side, p->turn);
    } else {
        fputs(",,,,,\n", f);
    }
}

static ddad_status_t check_opts(const ddad_synth_images_opts_t *o, char *category, size_t cap, int *kinds,
                                size_t *n_kinds)
{
    if (!o || !o->images || !o->out || o->size < 32 || o->size > 1024 || o->n_train < 1 || o->n_test_good < 0 ||
        o->n_test_defect < 0)
        return ddad_fail(DDAD_STATUS_USAGE,
                         "images data set: bad options (an images folder and an output root are needed; size %d "
                         "must be 32..1024, train %d >= 1, test counts >= 0)",
                         o ? o->size : 0, o ? o->n_train : 0);
    if (o->category) {
        snprintf(category, cap, "%s", o->category);
    } else {
        /* the last component of the images folder */
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", o->images);
        size_t l = strlen(buf);
        while (l > 1 && buf[l - 1] == '/')
            buf[--l] = 0;
        const char *slash = strrchr(buf, '/');
        snprintf(category, cap, "%s", slash ? slash + 1 : buf);
    }
    if (!*category || category[0] == '.' || strchr(category, '/') || strlen(category) > 200)
        return ddad_fail(DDAD_STATUS_USAGE,
                         "images data set: '%s' is not a usable category name (a folder name: no '/', not starting "
                         "with '.'); pass one with --category",
                         category);
    *n_kinds = 0;
    if (!o->defects) {
        for (int i = 0; i < N_DEFAULT_KINDS; i++)
            kinds[(*n_kinds)++] = i;
        return DDAD_OK;
    }
    if (!o->n_defects)
        return ddad_fail(DDAD_STATUS_USAGE, "images data set: the list of defect kinds is empty");
    for (size_t i = 0; i < o->n_defects; i++) {
        int k = kind_index(o->defects[i]);
        if (k < 0)
            return ddad_fail(DDAD_STATUS_USAGE,
                             "images data set: unknown defect kind '%s' (known: scratch, stain, foreign_texture, "
                             "missing_material, hole, colour)",
                             o->defects[i]);
        for (size_t j = 0; j < *n_kinds; j++)
            if (kinds[j] == k)
                return ddad_fail(DDAD_STATUS_USAGE, "images data set: defect kind '%s' given twice", o->defects[i]);
        kinds[(*n_kinds)++] = k;
    }
    return DDAD_OK;
}

ddad_status_t ddad_synth_images_generate(const ddad_synth_images_opts_t *o, ddad_synth_report_fn report, void *user)
{
    char cat[256];
    int kinds[N_KINDS];
    size_t n_kinds = 0;
    ddad_status_t st = check_opts(o, cat, sizeof cat, kinds, &n_kinds);
    if (st)
        return st;
    int S = o->size;
    size_t N = (size_t)S * S, skipped = 0, fskipped = 0;
    int64_t pixels = 0;
    source_set_t own = {0}, foreign = {0};
    work_t w = {.S = S};
    uint8_t *src = malloc(3 * N), *out = malloc(3 * N), *region = malloc(N);
    double *dst = malloc(3 * N * sizeof *dst);
    ddad_image_t mask = {0};
    FILE *csv = NULL;
    char dir[4096], p[4600], csv_path[4600];
    snprintf(dir, sizeof dir, "%s/%s", o->out, cat);
    snprintf(csv_path, sizeof csv_path, "%s/crops.csv", dir);
    if (!src || !out || !region || !dst || ddad_image_alloc(&mask, S, S, 1)) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "images data set: out of memory");
        goto done;
    }
    if ((st = load_sources(o->images, S, &own, &skipped, &pixels)))
        goto done;
    if (!own.n) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: no usable PNG, JPEG or BMP image in this folder or below (%zu skipped)",
                       o->images, skipped);
        goto done;
    }
    if (o->foreign) {
        if ((st = load_sources(o->foreign, S, &foreign, &fskipped, &pixels)))
            goto done;
        /* files that are also sources of the category are not foreign */
        size_t kept = 0;
        for (size_t i = 0; i < foreign.n; i++) {
            bool same = false;
            for (size_t j = 0; j < own.n && !same; j++)
                same = foreign.v[i].real && own.v[j].real && !strcmp(foreign.v[i].real, own.v[j].real);
            if (same) {
                free(foreign.v[i].rel);
                free(foreign.v[i].real);
                ddad_image_free(&foreign.v[i].im);
            } else {
                foreign.v[kept++] = foreign.v[i];
            }
        }
        foreign.n = kept;
    }
    ddad_log(DDAD_LOG_INFO, "%s: %zu source image%s from %s (%zu skipped)%s%s%s", cat, own.n, own.n == 1 ? "" : "s",
             o->images, skipped, o->foreign ? ", foreign patches from " : "", o->foreign ? o->foreign : "",
             o->foreign && !foreign.n ? " (none usable: using the category's own images)" : "");
    if ((st = ddad_synth_prepare_category_dir(dir)))
        goto done;
    snprintf(p, sizeof p, "%s.tmp", csv_path);
    if (!(csv = fopen(p, "w"))) {
        st = ddad_fail(DDAD_STATUS_IO, "%s: cannot write: %s", p, strerror(errno));
        goto done;
    }
    fputs("image,source,x,y,side,patch_from,patch_source,patch_x,patch_y,patch_side,patch_turn\n", csv);
    /* kind 0: train, 1: good test, 2: defective test (as synth.c) */
    for (int kind = 0; kind < 2 && !st; kind++) {
        const char *sub = kind == 0 ? "train/good" : "test/good";
        snprintf(p, sizeof p, "%s/%s", dir, sub);
        if ((st = ddad_synth_mkdirs(p)))
            break;
        for (int i = 0; i < (kind == 0 ? o->n_train : o->n_test_good) && !st; i++) {
            ddad_synth_rng_t r = ddad_synth_rng_stream(o->seed, cat, kind, "good", i);
            crop_t c = pick_crop(&own, kind, &r);
            if ((st = cut_crop(&w, &c, src)))
                break;
            char name[64];
            snprintf(name, sizeof name, "%s/%03d.png", sub, i);
            snprintf(p, sizeof p, "%s/%s", dir, name);
            st = ddad_synth_write_rgb(src, S, p);
            csv_row(csv, name, &c, NULL, NULL);
        }
    }
    double amin = 1, amax = 0;
    for (size_t d = 0; d < n_kinds && !st && o->n_test_defect > 0; d++) {
        const char *name = k_kinds[kinds[d]];
        const char *subs[] = {"test", "ground_truth", "test_source"};
        for (int k = 0; k < 3 && !st; k++) {
            snprintf(p, sizeof p, "%s/%s/%s", dir, subs[k], name);
            st = ddad_synth_mkdirs(p);
        }
        for (int i = 0; i < o->n_test_defect && !st; i++) {
            ddad_synth_rng_t r = ddad_synth_rng_stream(o->seed, cat, 2, name, i);
            crop_t c = pick_crop(&own, 1, &r);
            if ((st = cut_crop(&w, &c, src)))
                break;
            paint_ctx_t ctx = {.w = &w, .own = &own, .foreign = &foreign, .crop = &c};
            size_t changed = 0;
            double frac = 0;
            for (int tries = 0; tries < 50 && !st; tries++) {
                ctx.patch_from = NULL;
                st = paint_defect(&ctx, kinds[d], src, dst, out, region, &changed, &r);
                frac = (double)changed / N;
                if (frac >= 0.0015 && frac <= 0.12)
                    break;
                changed = 0;
            }
            if (st)
                break;
            if (!changed) {
                st = ddad_fail(DDAD_STATUS_INTERNAL, "images data set: could not place a %s defect in %s #%d (%s)",
                               name, cat, i, c.src->rel);
                break;
            }
            amin = frac < amin ? frac : amin;
            amax = frac > amax ? frac : amax;
            for (size_t j = 0; j < N; j++)
                mask.data[j] = region[j] ? 255 : 0;
            char rel[128];
            snprintf(rel, sizeof rel, "test/%s/%03d.png", name, i);
            snprintf(p, sizeof p, "%s/%s", dir, rel);
            if ((st = ddad_synth_write_rgb(out, S, p)))
                break;
            snprintf(p, sizeof p, "%s/test_source/%s/%03d.png", dir, name, i);
            if ((st = ddad_synth_write_rgb(src, S, p)))
                break;
            snprintf(p, sizeof p, "%s/ground_truth/%s/%03d_mask.png", dir, name, i);
            if ((st = ddad_image_write_png(&mask, p)))
                break;
            csv_row(csv, rel, &c, ctx.patch_from, ctx.patch_from ? &ctx.patch : NULL);
        }
    }
    if (!st) {
        bool bad = ferror(csv) != 0;
        bad |= fclose(csv) != 0;
        csv = NULL;
        snprintf(p, sizeof p, "%s.tmp", csv_path);
        if (bad)
            st = ddad_fail(DDAD_STATUS_IO, "%s: cannot write: %s", csv_path, strerror(errno));
        else
            st = ddad_run_commit(p, csv_path);
    }
    if (!st && report)
        report(cat, dir, o->n_train, o->n_test_good, (int)n_kinds * o->n_test_defect, o->n_test_defect ? amin : 0,
               o->n_test_defect ? amax : 0, user);
done:
    if (csv) {
        fclose(csv);
        snprintf(p, sizeof p, "%s.tmp", csv_path);
        remove(p);
    }
    source_set_free(&own);
    source_set_free(&foreign);
    ddad_image_free(&w.cut);
    ddad_image_free(&w.resized);
    ddad_image_free(&mask);
    free(src);
    free(out);
    free(region);
    free(dst);
    return st;
}
