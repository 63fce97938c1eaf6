/* core/data/synth.c - see synth.h */
#include "synth.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "synth_common.h"

/* ---- categories ------------------------------------------------------------------ */

enum { CAT_WOVEN, CAT_GRAINY, CAT_STRIPED, CAT_TILES, CAT_WASHER, CAT_CAPSULE, N_CATS };

static const char *const k_cats[N_CATS] = {"woven", "grainy", "striped", "tiles", "washer", "capsule_toy"};
static const char *const k_defects[N_CATS][3] = {
    {"colour", "foreign_texture", "hole"},          {"extra_material", "scratch", "stain"},
    {"colour", "foreign_texture", "scratch"},       {"hole", "scratch", "stain"},
    {"extra_material", "missing_material", "scratch"}, {"colour", "missing_material", "stain"}};

const char *const *ddad_synth_categories(size_t *n)
{
    *n = N_CATS;
    return k_cats;
}

static int cat_index(const char *name)
{
    for (int i = 0; i < N_CATS; i++)
        if (!strcmp(name, k_cats[i]))
            return i;
    return -1;
}

const char *const *ddad_synth_defects(const char *category, size_t *n)
{
    int c = cat_index(category);
    *n = c < 0 ? 0 : 3;
    return c < 0 ? NULL : k_defects[c];
}

ddad_synth_opts_t ddad_synth_opts_default(void)
{
    ddad_synth_opts_t o = {.out = "datasets/synthetic",
                           .size = 64,
                           .n_train = 60,
                           .n_test_good = 10,
                           .n_test_defect = 6,
                           .seed = 0,
                           .categories = NULL,
                           .n_categories = 0};
    return o;
}

/* ---- rendering of defect-free images -------------------------------------------- */

typedef struct canvas {
    int S;
    float *img;      /* (S, S, 3) in [0, 255] */
    float *bg;       /* (S, S, 3) background without the part (objects) */
    uint8_t *object; /* (S, S) 1 on the part (objects), 0 elsewhere */
    float material[3];
} canvas_t;

static void put(float *p, double r, double g, double b)
{
    p[0] = (float)r;
    p[1] = (float)g;
    p[2] = (float)b;
}

static void render_texture(canvas_t *c, int cat, ddad_synth_rng_t *r)
{
    int S = c->S;
    double px = ddad_synth_rng_range(r, 0, 64), py = ddad_synth_rng_range(r, 0, 64);
    uint64_t key = ddad_synth_rng_next(r);
    double ang = ddad_synth_rng_range(r, -4, 4) * M_PI / 180;
    double period = S / 8.0 * ddad_synth_rng_range(r, 0.95, 1.05);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            float *p = c->img + ((size_t)y * S + x) * 3;
            double u, v, t;
            switch (cat) {
            case CAT_WOVEN: {
                u = (x + px) / period;
                v = (y + py) / period;
                int par = ((int)floor(u) + (int)floor(v)) & 1;
                double sh = par ? sin(M_PI * (v - floor(v))) : sin(M_PI * (u - floor(u)));
                t = 0.55 + 0.45 * sh;
                put(p, 170 * t, 135 * t, 95 * t);
                break;
            }
            case CAT_GRAINY: {
                t = 0.6 * ddad_synth_value_noise(key, (x + px) / 6.0, (y + py) / 6.0) +
                    0.4 * ddad_synth_value_noise(key ^ 0xabcdefull, (x + px) / 2.0, (y + py) / 2.0);
                put(p, 95 + 70 * t, 95 + 68 * t, 100 + 60 * t);
                break;
            }
            case CAT_STRIPED: {
                double d = (x * cos(M_PI / 6 + ang) + y * sin(M_PI / 6 + ang) + px) / period;
                t = 0.5 + 0.5 * sin(2 * M_PI * d);
                put(p, 40 + 170 * t, 70 + 110 * t, 140 - 60 * t);
                break;
            }
            default: { /* tiles */
                double ts = S / 4.0;
                u = (x + px) / ts;
                v = (y + py) / ts;
                double fu = u - floor(u), fv = v - floor(v);
                double g = 1.5 / ts;
                if (fu < g || fv < g) {
                    put(p, 90, 88, 85);
                } else {
                    uint64_t h = ddad_synth_mix64(key ^ (uint64_t)(int64_t)floor(u) * 31 ^
                                                  (uint64_t)(int64_t)floor(v) * 977);
                    double k = 0.9 + 0.2 * ((double)(h >> 11) * 0x1.0p-53);
                    put(p, 205 * k, 200 * k, 185 * k);
                }
                break;
            }
            }
        }
    memcpy(c->bg, c->img, sizeof(float) * 3 * S * S);
    memset(c->object, 0, (size_t)S * S);
    put(c->material, 160, 130, 100);
}

/* Objects: 2x2 supersampled coverage of the part over a background. */
static void render_object(canvas_t *c, int cat, ddad_synth_rng_t *r)
{
    int S = c->S;
    double cx = (S - 1) / 2.0 + ddad_synth_rng_range(r, -0.04, 0.04) * S,
           cy = (S - 1) / 2.0 + ddad_synth_rng_range(r, -0.04, 0.04) * S;
    double rot = ddad_synth_rng_range(r, -8, 8) * M_PI / 180, scale = ddad_synth_rng_range(r, 0.93, 1.07);
    double cr = cos(rot), sr = sin(rot);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            size_t i = (size_t)y * S + x;
            float *b = c->bg + i * 3;
            if (cat == CAT_WASHER)
                put(b, 45 + 10.0 * y / S, 50 + 10.0 * y / S, 58 + 10.0 * y / S);
            else
                put(b, 212 - 8.0 * x / S, 212 - 8.0 * x / S, 206 - 8.0 * x / S);
            double cov = 0, col[3] = {0, 0, 0};
            for (int sy = 0; sy < 2; sy++)
                for (int sx = 0; sx < 2; sx++) {
                    double dx = x + 0.25 + 0.5 * sx - 0.5 - cx, dy = y + 0.25 + 0.5 * sy - 0.5 - cy;
                    double u = (cr * dx + sr * dy) / (scale * S), v = (-sr * dx + cr * dy) / (scale * S);
                    double rgb[3];
                    bool in;
                    if (cat == CAT_WASHER) {
                        double rad = sqrt(u * u + v * v), phi = atan2(v, u);
                        bool notch = fabs(v) < 0.03 && u > 0.15 && u < 0.2;
                        in = rad < 0.36 && (rad > 0.17 || notch);
                        double sh = 0.75 + 0.25 * cos(phi - 0.8);
                        rgb[0] = 190 * sh;
                        rgb[1] = 188 * sh;
                        rgb[2] = 180 * sh;
                    } else {
                        double hl = 0.24, rad = 0.13;
                        double qu = fabs(u) - hl;
                        double d = qu > 0 ? sqrt(qu * qu + v * v) : fabs(v);
                        in = d < rad;
                        double sh = 0.8 + 0.2 * (1 - (v / rad) * (v / rad));
                        if (u < 0) {
                            rgb[0] = 205 * sh;
                            rgb[1] = 55 * sh;
                            rgb[2] = 50 * sh;
                        } else {
                            rgb[0] = 235 * sh;
                            rgb[1] = 225 * sh;
                            rgb[2] = 195 * sh;
                        }
                    }
                    if (in) {
                        cov += 0.25;
                        for (int k = 0; k < 3; k++)
                            col[k] += 0.25 * rgb[k];
                    }
                }
            float *p = c->img + i * 3;
            for (int k = 0; k < 3; k++)
                p[k] = (float)(col[k] + (1 - cov) * b[k]);
            c->object[i] = cov >= 0.5;
        }
    if (cat == CAT_WASHER)
        put(c->material, 180, 178, 170);
    else
        put(c->material, 220, 60, 55);
}

/* lighting (gain + gradient) and sensor noise, then quantisation */
static void finish(canvas_t *c, ddad_synth_rng_t *r, uint8_t *out)
{
    int S = c->S;
    double gain = ddad_synth_rng_range(r, 0.92, 1.08), gx = ddad_synth_rng_range(r, -0.06, 0.06),
           gy = ddad_synth_rng_range(r, -0.06, 0.06);
    double sigma = ddad_synth_rng_range(r, 1.5, 3.0);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double l = gain * (1 + gx * (x / (double)S - 0.5) + gy * (y / (double)S - 0.5));
            for (int k = 0; k < 3; k++) {
                size_t i = ((size_t)y * S + x) * 3 + k;
                double v = c->img[i] * l + sigma * ddad_synth_rng_norm(r);
                double vb = c->bg[i] * l + sigma * ddad_synth_rng_norm(r);
                out[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lround(v));
                c->bg[i] = (float)(vb < 0 ? 0 : vb > 255 ? 255 : vb); /* lit background for missing material */
            }
        }
}

/* ---- defects --------------------------------------------------------------------------------- */

/* A slightly curved scratch of width w through (cx, cy). */
static void scratch(uint8_t *region, int S, double cx, double cy, double area, ddad_synth_rng_t *r)
{
    double w = ddad_synth_rng_range(r, 1.0, 2.2), len = area / w;
    if (len > 0.8 * S)
        len = 0.8 * S;
    double th = ddad_synth_rng_range(r, 0, M_PI), bend = ddad_synth_rng_range(r, -0.15, 0.15) * len;
    double ux = cos(th), uy = sin(th);
    memset(region, 0, (size_t)S * S);
    int steps = (int)(len * 4) + 2;
    for (int k = 0; k <= steps; k++) {
        double t = (double)k / steps - 0.5;
        double off = bend * (1 - 4 * t * t);
        double px = cx + t * len * ux - off * uy, py = cy + t * len * uy + off * ux;
        for (int y = (int)floor(py - w); y <= (int)ceil(py + w); y++)
            for (int x = (int)floor(px - w); x <= (int)ceil(px + w); x++)
                if (x >= 0 && y >= 0 && x < S && y < S && (x - px) * (x - px) + (y - py) * (y - py) <= w * w / 4 + 0.25)
                    region[(size_t)y * S + x] = 1;
        }
}

/* Every pixel of the region must change: nudge the ones the paint left equal. */
static void force_change(const uint8_t *src, uint8_t *dst, const uint8_t *region, int S)
{
    for (size_t i = 0; i < (size_t)S * S; i++)
        if (region[i] && !memcmp(src + 3 * i, dst + 3 * i, 3))
            for (int k = 0; k < 3; k++)
                dst[3 * i + k] = src[3 * i + k] > 127 ? src[3 * i + k] - 40 : src[3 * i + k] + 40;
}

/* Picks a defect centre: on the part for objects (near its edge if edge), anywhere else. */
static void pick_centre(const canvas_t *c, bool object, bool edge, double rad, ddad_synth_rng_t *r, double *cx,
                        double *cy)
{
    int S = c->S;
    for (int tries = 0; tries < 2000; tries++) {
        int x = (int)(ddad_synth_rng_unif(r) * S), y = (int)(ddad_synth_rng_unif(r) * S);
        if (!object) {
            double m = rad < S / 4.0 ? rad : S / 4.0;
            if (x < m || y < m || x > S - 1 - m || y > S - 1 - m)
                continue;
            *cx = x;
            *cy = y;
            return;
        }
        if (!c->object[(size_t)y * S + x])
            continue;
        if (edge) {
            int d = (int)(rad * 0.7) + 1, near_bg = 0;
            const int dirs[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
            for (int k = 0; k < 4; k++) {
                int xx = x + d * dirs[k][0], yy = y + d * dirs[k][1];
                if (xx >= 0 && yy >= 0 && xx < S && yy < S && !c->object[(size_t)yy * S + xx])
                    near_bg = 1;
            }
            if (!near_bg)
                continue;
        }
        *cx = x;
        *cy = y;
        return;
    }
    *cx = *cy = (S - 1) / 2.0;
}

/* Paints defect `name` onto dst (a copy of src). Returns the number of changed pixels. */
static size_t paint_defect(const canvas_t *c, bool object, const char *name, const uint8_t *src, uint8_t *dst,
                           uint8_t *region, ddad_synth_rng_t *r)
{
    int S = c->S;
    size_t N = (size_t)S * S;
    double area, cx, cy;
    bool edge = !strcmp(name, "missing_material") || (object && !strcmp(name, "extra_material"));
    if (!strcmp(name, "scratch"))
        area = ddad_synth_rng_logrange(r, 0.002, 0.02) * N;
    else if (!strcmp(name, "hole"))
        area = ddad_synth_rng_logrange(r, 0.003, 0.04) * N;
    else if (!strcmp(name, "missing_material"))
        area = ddad_synth_rng_logrange(r, 0.01, 0.08) * N;
    else
        area = ddad_synth_rng_logrange(r, 0.003, 0.10) * N;
    pick_centre(c, object, edge, sqrt(area / M_PI), r, &cx, &cy);
    if (!strcmp(name, "scratch"))
        scratch(region, S, cx, cy, area, r);
    else
        ddad_synth_blob(region, S, cx, cy, area, r);
    memcpy(dst, src, 3 * N);
    double tint[3] = {ddad_synth_rng_range(r, 0.45, 0.7), ddad_synth_rng_range(r, 0.4, 0.6),
                      ddad_synth_rng_range(r, 0.25, 0.5)};
    double shift = ddad_synth_rng_range(r, 45, 80), fx = ddad_synth_rng_range(r, 2, 3.5);
    uint64_t key = ddad_synth_rng_next(r);
    bool light = ddad_synth_rng_unif(r) < 0.5;
    for (size_t i = 0; i < N; i++) {
        if (!region[i])
            continue;
        const uint8_t *s = src + 3 * i;
        uint8_t *d = dst + 3 * i;
        int x = (int)(i % S), y = (int)(i / S);
        double n = ddad_synth_rng_norm(r);
        if (!strcmp(name, "scratch")) {
            for (int k = 0; k < 3; k++)
                d[k] = ddad_synth_q8(light ? s[k] * 0.4 + 150 + 4 * n : s[k] * 0.45 + 4 * n);
        } else if (!strcmp(name, "stain")) {
            for (int k = 0; k < 3; k++)
                d[k] = ddad_synth_q8(s[k] * tint[k] + 3 * n);
        } else if (!strcmp(name, "hole")) {
            ddad_synth_hole_pixel(d, n);
        } else if (!strcmp(name, "missing_material")) {
            if (!c->object[i])
                region[i] = 0;
            else
                for (int k = 0; k < 3; k++)
                    d[k] = ddad_synth_q8(c->bg[3 * i + k]);
        } else if (!strcmp(name, "extra_material")) {
            double t = 0.85 + 0.3 * ddad_synth_value_noise(key, x / 2.0, y / 2.0);
            for (int k = 0; k < 3; k++)
                d[k] = ddad_synth_q8(c->material[k] * t * (object ? 0.8 : 1.0) + 3 * n);
        } else if (!strcmp(name, "colour")) {
            ddad_synth_colour_pixel(s, d, n, shift);
        } else { /* foreign_texture */
            int chk = ((int)floor(x / fx) + (int)floor(y / fx)) & 1;
            for (int k = 0; k < 3; k++)
                d[k] = ddad_synth_q8(chk ? 40 + 50 * k + 4 * n : 220 - 40 * k + 4 * n);
        }
    }
    if (strcmp(name, "missing_material"))
        force_change(src, dst, region, S);
    /* the mask is, by definition, the set of changed pixels */
    size_t changed = 0;
    for (size_t i = 0; i < N; i++) {
        region[i] = memcmp(src + 3 * i, dst + 3 * i, 3) != 0;
        changed += region[i];
    }
    return changed;
}

/* ---- files ------------------------------------------------------------------------------------- */

ddad_status_t ddad_synth_generate(const ddad_synth_opts_t *o, ddad_synth_report_fn report, void *user)
{
    if (!o || !o->out || o->size < 32 || o->size > 1024 || o->n_train < 1 || o->n_test_good < 0 ||
        o->n_test_defect < 0)
        return ddad_fail(DDAD_STATUS_USAGE,
                         "synthetic data: bad options (size %d must be 32..1024, train %d >= 1, test counts >= 0)",
                         o ? o->size : 0, o ? o->n_train : 0);
    const char *const *cats = o->categories ? o->categories : k_cats;
    size_t ncat = o->categories ? o->n_categories : N_CATS;
    for (size_t i = 0; i < ncat; i++)
        if (cat_index(cats[i]) < 0)
            return ddad_fail(DDAD_STATUS_USAGE,
                             "synthetic data: unknown category '%s' (known: woven, grainy, striped, tiles, washer, "
                             "capsule_toy)",
                             cats[i]);
    int S = o->size;
    size_t N = (size_t)S * S;
    canvas_t c = {.S = S};
    c.img = malloc(sizeof(float) * 3 * N);
    c.bg = malloc(sizeof(float) * 3 * N);
    c.object = malloc(N);
    uint8_t *src = malloc(3 * N), *dst = malloc(3 * N), *region = malloc(N);
    ddad_image_t mask = {0};
    ddad_status_t st = DDAD_OK;
    if (!c.img || !c.bg || !c.object || !src || !dst || !region || ddad_image_alloc(&mask, S, S, 1)) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "synthetic data: out of memory");
        goto done;
    }
    for (size_t ci = 0; ci < ncat && !st; ci++) {
        int cat = cat_index(cats[ci]);
        bool object = cat >= CAT_WASHER;
        char dir[4096], p[4096];
        snprintf(dir, sizeof dir, "%s/%s", o->out, k_cats[cat]);
        if ((st = ddad_synth_prepare_category_dir(dir)))
            break;
        double amin = 1, amax = 0;
        /* kind 0: train, 1: good test, 2: defective test */
        for (int kind = 0; kind < 2 && !st; kind++) {
            int count = kind == 0 ? o->n_train : o->n_test_good;
            snprintf(p, sizeof p, "%s/%s", dir, kind == 0 ? "train/good" : "test/good");
            if ((st = ddad_synth_mkdirs(p)))
                break;
            for (int i = 0; i < count && !st; i++) {
                ddad_synth_rng_t r = ddad_synth_rng_stream(o->seed, k_cats[cat], kind, "good", i);
                object ? render_object(&c, cat, &r) : render_texture(&c, cat, &r);
                finish(&c, &r, src);
                snprintf(p, sizeof p, "%s/%s/%03d.png", dir, kind == 0 ? "train/good" : "test/good", i);
                st = ddad_synth_write_rgb(src, S, p);
            }
        }
        for (int d = 0; d < 3 && !st && o->n_test_defect > 0; d++) {
            const char *name = k_defects[cat][d];
            const char *subs[] = {"test", "ground_truth", "test_source"};
            for (int k = 0; k < 3 && !st; k++) {
                snprintf(p, sizeof p, "%s/%s/%s", dir, subs[k], name);
                st = ddad_synth_mkdirs(p);
            }
            for (int i = 0; i < o->n_test_defect && !st; i++) {
                ddad_synth_rng_t r = ddad_synth_rng_stream(o->seed, k_cats[cat], 2, name, i);
                object ? render_object(&c, cat, &r) : render_texture(&c, cat, &r);
                finish(&c, &r, src);
                size_t changed = 0;
                for (int tries = 0; tries < 50 && !changed; tries++)
                    changed = paint_defect(&c, object, name, src, dst, region, &r);
                if (!changed) {
                    st = ddad_fail(DDAD_STATUS_INTERNAL, "synthetic data: could not place a %s defect in %s #%d",
                                   name, k_cats[cat], i);
                    break;
                }
                double frac = (double)changed / N;
                amin = frac < amin ? frac : amin;
                amax = frac > amax ? frac : amax;
                for (size_t j = 0; j < N; j++)
                    mask.data[j] = region[j] ? 255 : 0;
                snprintf(p, sizeof p, "%s/test/%s/%03d.png", dir, name, i);
                if ((st = ddad_synth_write_rgb(dst, S, p)))
                    break;
                snprintf(p, sizeof p, "%s/test_source/%s/%03d.png", dir, name, i);
                if ((st = ddad_synth_write_rgb(src, S, p)))
                    break;
                snprintf(p, sizeof p, "%s/ground_truth/%s/%03d_mask.png", dir, name, i);
                st = ddad_image_write_png(&mask, p);
            }
        }
        if (!st && report)
            report(k_cats[cat], dir, o->n_train, o->n_test_good, 3 * o->n_test_defect, o->n_test_defect ? amin : 0,
                   o->n_test_defect ? amax : 0, user);
    }
done:
    free(c.img);
    free(c.bg);
    free(c.object);
    free(src);
    free(dst);
    free(region);
    ddad_image_free(&mask);
    return st;
}
