/* core/report/figure.c - canvases, heatmaps, scale bars, labelled grids and a 5 x 7
 * bitmap font (see figure.h). */
#include "figure.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- font ------------------------------------------------------------- */

typedef struct glyph {
    char c;
    uint8_t rows[DDAD_FIGURE_GLYPH_H]; /* bit 4 = leftmost column */
} glyph_t;

static const glyph_t font[] = {
    {' ', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
    {'0', {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}},
    {'1', {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}},
    {'2', {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}},
    {'3', {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e}},
    {'4', {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}},
    {'5', {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}},
    {'6', {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}},
    {'7', {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}},
    {'9', {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}},
    {'A', {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}},
    {'B', {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e}},
    {'C', {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e}},
    {'D', {0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c}},
    {'E', {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f}},
    {'F', {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10}},
    {'G', {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f}},
    {'H', {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}},
    {'I', {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f}},
    {'M', {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}},
    {'P', {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10}},
    {'Q', {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d}},
    {'R', {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11}},
    {'S', {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e}},
    {'T', {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a}},
    {'X', {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04}},
    {'Z', {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}},
    {',', {0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08}},
    {':', {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00}},
    {';', {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x04, 0x08}},
    {'-', {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00}},
    {'+', {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00}},
    {'=', {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00}},
    {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f}},
    {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'[', {0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e}},
    {']', {0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'#', {0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a}},
    {'\'', {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00}},
    {'*', {0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00}},
    {'<', {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}},
    {'>', {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}},
    {'!', {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04}},
    {'?', {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}},
    {'|', {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'^', {0x04, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x00}},
};

const uint8_t *ddad_figure_glyph(char c)
{
    if (c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    const glyph_t *unknown = NULL;
    for (size_t i = 0; i < sizeof font / sizeof font[0]; i++) {
        if (font[i].c == c)
            return font[i].rows;
        if (font[i].c == '?')
            unknown = &font[i];
    }
    return unknown->rows;
}

int ddad_figure_text_width(const char *s, int scale)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0)
        return 0;
    if (scale < 1)
        scale = 1;
    return (int)((n - 1) * DDAD_FIGURE_ADVANCE_X + DDAD_FIGURE_GLYPH_W) * scale;
}

static void put_pixel(ddad_image_t *img, int x, int y, const uint8_t rgb[3])
{
    if (x < 0 || y < 0 || x >= img->w || y >= img->h)
        return;
    uint8_t *p = img->data + ((size_t)y * img->w + x) * 3;
    p[0] = rgb[0];
    p[1] = rgb[1];
    p[2] = rgb[2];
}

void ddad_figure_draw_text(ddad_image_t *img, int x, int y, const char *s, const uint8_t rgb[3], int scale)
{
    if (!img || !img->data || img->c != 3 || !s)
        return;
    if (scale < 1)
        scale = 1;
    for (int k = 0; s[k]; k++) {
        const uint8_t *rows = ddad_figure_glyph(s[k]);
        int gx = x + k * DDAD_FIGURE_ADVANCE_X * scale;
        for (int r = 0; r < DDAD_FIGURE_GLYPH_H; r++)
            for (int col = 0; col < DDAD_FIGURE_GLYPH_W; col++)
                if (rows[r] & (1u << (DDAD_FIGURE_GLYPH_W - 1 - col)))
                    for (int dy = 0; dy < scale; dy++)
                        for (int dx = 0; dx < scale; dx++)
                            put_pixel(img, gx + col * scale + dx, y + r * scale + dy, rgb);
    }
}

/* Copies s into buf, cut with ".." so that it is at most max_w px wide. */
static void fit_text(char *buf, size_t cap, const char *s, int max_w, int scale)
{
    snprintf(buf, cap, "%s", s ? s : "");
    size_t n = strlen(buf);
    if (ddad_figure_text_width(buf, scale) <= max_w)
        return;
    while (n > 0) {
        n--;
        buf[n] = '\0';
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s..", buf);
        if (ddad_figure_text_width(tmp, scale) <= max_w || n == 0) {
            snprintf(buf, cap, "%s", ddad_figure_text_width(tmp, scale) <= max_w ? tmp : "");
            return;
        }
    }
}

/* ---- panels ----------------------------------------------------------- */

static ddad_status_t alloc_rgb(ddad_image_t *out, int w, int h, const char *what)
{
    if (w <= 0 || h <= 0)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: image size %d x %d must be positive", what, w, h);
    return ddad_image_alloc(out, w, h, 3);
}

static uint8_t to_u8(double v)
{
    double q = floor((v + 1.0) * 127.5 + 0.5);
    if (!(q >= 0.0))
        return 0; /* also NaN */
    return q > 255.0 ? 255 : (uint8_t)q;
}

ddad_status_t ddad_figure_image_from_chw(const float *x, int c, int h, int w, ddad_image_t *out)
{
    if (!x || (c != 1 && c != 3))
        return ddad_fail(DDAD_STATUS_USAGE, "figure image: need 1 or 3 channels of data (got %d)", c);
    ddad_status_t st = alloc_rgb(out, w, h, "figure image");
    if (st)
        return st;
    size_t plane = (size_t)h * w;
    for (size_t i = 0; i < plane; i++)
        for (int k = 0; k < 3; k++)
            out->data[i * 3 + k] = to_u8(x[(c == 3 ? (size_t)k * plane : 0) + i]);
    return DDAD_OK;
}

ddad_status_t ddad_figure_image_from_mask(const uint8_t *mask, int h, int w, ddad_image_t *out)
{
    if (!mask)
        return ddad_fail(DDAD_STATUS_USAGE, "figure mask: no data");
    ddad_status_t st = alloc_rgb(out, w, h, "figure mask");
    if (st)
        return st;
    for (size_t i = 0; i < (size_t)h * w; i++)
        memset(out->data + i * 3, mask[i] ? 255 : 0, 3);
    return DDAD_OK;
}

void ddad_figure_map_range(const float *map, size_t n, double *lo, double *hi)
{
    double a = INFINITY, b = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(map[i])) {
            if (map[i] < a)
                a = map[i];
            if (map[i] > b)
                b = map[i];
        }
    if (a > b)
        a = b = 0.0;
    *lo = a;
    *hi = b;
}

static double unit(double v, double lo, double hi)
{
    return hi > lo ? (v - lo) / (hi - lo) : 0.0;
}

ddad_status_t ddad_figure_heatmap(const float *map, int h, int w, double lo, double hi, ddad_colormap_t cm,
                                  ddad_image_t *out)
{
    if (!map)
        return ddad_fail(DDAD_STATUS_USAGE, "figure heatmap: no data");
    ddad_status_t st = alloc_rgb(out, w, h, "figure heatmap");
    if (st)
        return st;
    for (size_t i = 0; i < (size_t)h * w; i++)
        ddad_colormap_rgb(cm, unit(map[i], lo, hi), out->data + i * 3);
    return DDAD_OK;
}

ddad_status_t ddad_figure_overlay(const ddad_image_t *base, const float *map, double lo, double hi,
                                  ddad_colormap_t cm, double opacity, ddad_image_t *out)
{
    if (!base || !base->data || base->c != 3 || !map || base == out)
        return ddad_fail(DDAD_STATUS_USAGE, "figure overlay: need an RGB base image, a map and a distinct output");
    if (!(opacity >= 0.0 && opacity <= 1.0))
        return ddad_fail(DDAD_STATUS_USAGE, "figure overlay: opacity %g is not in [0, 1]", opacity);
    ddad_status_t st = alloc_rgb(out, base->w, base->h, "figure overlay");
    if (st)
        return st;
    for (size_t i = 0; i < (size_t)base->w * base->h; i++) {
        uint8_t rgb[3];
        ddad_colormap_rgb(cm, unit(map[i], lo, hi), rgb);
        for (int k = 0; k < 3; k++)
            out->data[i * 3 + k] =
                (uint8_t)lrint((1.0 - opacity) * base->data[i * 3 + k] + opacity * rgb[k]);
    }
    return DDAD_OK;
}

void ddad_figure_draw_mask_contour(ddad_image_t *img, const uint8_t *mask, int mh, int mw, const uint8_t rgb[3])
{
    if (!img || !img->data || img->c != 3 || !mask || mh <= 0 || mw <= 0)
        return;
#define INSIDE(xx, yy)                                                                            \
    ((xx) >= 0 && (yy) >= 0 && (xx) < img->w && (yy) < img->h &&                                 \
     mask[(size_t)((int64_t)(yy) * mh / img->h) * mw + (size_t)((int64_t)(xx) * mw / img->w)])
    uint8_t *edge = calloc((size_t)img->w * img->h, 1);
    if (!edge)
        return;
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++)
            if (INSIDE(x, y) && !(INSIDE(x - 1, y) && INSIDE(x + 1, y) && INSIDE(x, y - 1) && INSIDE(x, y + 1)))
                edge[(size_t)y * img->w + x] = 1;
#undef INSIDE
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++)
            if (edge[(size_t)y * img->w + x])
                put_pixel(img, x, y, rgb);
    free(edge);
}

static void fmt_value(char *buf, size_t cap, double v)
{
    snprintf(buf, cap, "%.3g", v);
}

ddad_status_t ddad_figure_scale_bar(ddad_image_t *out, int bar_w, int bar_h, double lo, double hi, ddad_colormap_t cm,
                                    int scale)
{
    if (bar_w < 1 || bar_h < 2)
        return ddad_fail(DDAD_STATUS_USAGE, "figure scale bar: size %d x %d (need width >= 1, height >= 2)", bar_w,
                         bar_h);
    if (scale < 1)
        scale = 1;
    char t_hi[32], t_mid[32], t_lo[32];
    fmt_value(t_hi, sizeof t_hi, hi);
    fmt_value(t_mid, sizeof t_mid, 0.5 * (lo + hi));
    fmt_value(t_lo, sizeof t_lo, lo);
    int tw = ddad_figure_text_width(t_hi, scale);
    int t2 = ddad_figure_text_width(t_mid, scale), t3 = ddad_figure_text_width(t_lo, scale);
    if (t2 > tw)
        tw = t2;
    if (t3 > tw)
        tw = t3;
    int glyph_h = DDAD_FIGURE_GLYPH_H * scale;
    int h = bar_h > glyph_h ? bar_h : glyph_h;
    ddad_status_t st = alloc_rgb(out, bar_w + 3 + tw, h, "figure scale bar");
    if (st)
        return st;
    memset(out->data, 255, (size_t)out->w * out->h * 3);
    for (int r = 0; r < bar_h; r++) {
        uint8_t rgb[3];
        ddad_colormap_rgb(cm, 1.0 - (double)r / (bar_h - 1), rgb);
        for (int x = 0; x < bar_w; x++)
            put_pixel(out, x, r, rgb);
    }
    const uint8_t black[3] = {0, 0, 0};
    int x = bar_w + 3;
    ddad_figure_draw_text(out, x, 0, t_hi, black, scale);
    if (h >= 3 * glyph_h + 4)
        ddad_figure_draw_text(out, x, (h - glyph_h) / 2, t_mid, black, scale);
    if (h >= 2 * glyph_h + 2)
        ddad_figure_draw_text(out, x, h - glyph_h, t_lo, black, scale);
    return DDAD_OK;
}

void ddad_figure_paste(ddad_image_t *dst, const ddad_image_t *src, int x, int y)
{
    if (!dst || !src || !dst->data || !src->data || dst->c != 3 || src->c != 3)
        return;
    for (int r = 0; r < src->h; r++) {
        int yy = y + r;
        if (yy < 0 || yy >= dst->h)
            continue;
        int x0 = x < 0 ? -x : 0, x1 = src->w;
        if (x + x1 > dst->w)
            x1 = dst->w - x;
        if (x1 <= x0)
            continue;
        memcpy(dst->data + ((size_t)yy * dst->w + x + x0) * 3, src->data + ((size_t)r * src->w + x0) * 3,
               (size_t)(x1 - x0) * 3);
    }
}

/* ---- grids ------------------------------------------------------------ */

ddad_figure_grid_opts_t ddad_figure_grid_opts_default(void)
{
    ddad_figure_grid_opts_t o = {.pad = 6, .font_scale = 1, .title = NULL, .row_label_w = 0};
    return o;
}

static void grid_geometry(const ddad_figure_grid_opts_t *o, int *title_h, int *label_h)
{
    int scale = o->font_scale < 1 ? 1 : o->font_scale;
    *label_h = DDAD_FIGURE_LINE_H * scale + 2;
    *title_h = o->title ? DDAD_FIGURE_LINE_H * scale + o->pad : 0;
}

void ddad_figure_grid_size(int rows, int cols, int cell_w, int cell_h, const ddad_figure_grid_opts_t *opt, int *w,
                           int *h)
{
    ddad_figure_grid_opts_t o = opt ? *opt : ddad_figure_grid_opts_default();
    int title_h, label_h;
    grid_geometry(&o, &title_h, &label_h);
    *w = o.pad + (o.row_label_w > 0 ? o.row_label_w + o.pad : 0) + cols * (cell_w + o.pad);
    *h = title_h + rows * (label_h + cell_h + o.pad) + o.pad;
}

ddad_status_t ddad_figure_grid_init(ddad_figure_grid_t *g, int rows, int cols, int cell_w, int cell_h,
                                    const ddad_figure_grid_opts_t *opt)
{
    memset(g, 0, sizeof *g);
    ddad_figure_grid_opts_t o = opt ? *opt : ddad_figure_grid_opts_default();
    if (rows < 1 || cols < 1 || cell_w < 1 || cell_h < 1 || o.pad < 0 || o.row_label_w < 0)
        return ddad_fail(DDAD_STATUS_USAGE,
                         "figure grid: %d x %d panels of %d x %d px, pad %d, row labels %d px "
                         "(counts and sizes must be positive)",
                         rows, cols, cell_w, cell_h, o.pad, o.row_label_w);
    int w, h;
    ddad_figure_grid_size(rows, cols, cell_w, cell_h, &o, &w, &h);
    ddad_status_t st = ddad_image_alloc(&g->img, w, h, 3);
    if (st)
        return st;
    memset(g->img.data, 255, (size_t)w * h * 3);
    g->rows = rows;
    g->cols = cols;
    g->cell_w = cell_w;
    g->cell_h = cell_h;
    g->pad = o.pad;
    g->scale = o.font_scale < 1 ? 1 : o.font_scale;
    g->row_label_w = o.row_label_w;
    grid_geometry(&o, &g->title_h, &g->label_h);
    if (o.title) {
        const uint8_t black[3] = {0, 0, 0};
        char buf[512];
        fit_text(buf, sizeof buf, o.title, w - 2 * o.pad, g->scale);
        ddad_figure_draw_text(&g->img, o.pad, o.pad, buf, black, g->scale);
    }
    return DDAD_OK;
}

void ddad_figure_grid_free(ddad_figure_grid_t *g)
{
    if (!g)
        return;
    ddad_image_free(&g->img);
    memset(g, 0, sizeof *g);
}

void ddad_figure_grid_cell_origin(const ddad_figure_grid_t *g, int row, int col, int *x, int *y)
{
    *x = g->pad + (g->row_label_w > 0 ? g->row_label_w + g->pad : 0) + col * (g->cell_w + g->pad);
    *y = g->title_h + g->pad + row * (g->label_h + g->cell_h + g->pad) + g->label_h;
}

static ddad_status_t check_cell(const ddad_figure_grid_t *g, int row, int col, const ddad_image_t *img)
{
    if (!g->img.data)
        return ddad_fail(DDAD_STATUS_USAGE, "figure grid: not initialised");
    if (row < 0 || row >= g->rows || col < 0 || col >= g->cols)
        return ddad_fail(DDAD_STATUS_USAGE, "figure grid: panel (%d, %d) outside the %d x %d grid", row, col,
                         g->rows, g->cols);
    if (img && (!img->data || img->c != 3))
        return ddad_fail(DDAD_STATUS_USAGE, "figure grid: panel (%d, %d) needs an RGB image", row, col);
    return DDAD_OK;
}

static void put_label(ddad_figure_grid_t *g, int x, int y, const char *label)
{
    if (!label)
        return;
    const uint8_t black[3] = {0, 0, 0};
    char buf[512];
    fit_text(buf, sizeof buf, label, g->cell_w, g->scale);
    ddad_figure_draw_text(&g->img, x, y - g->label_h, buf, black, g->scale);
}

ddad_status_t ddad_figure_grid_put(ddad_figure_grid_t *g, int row, int col, const ddad_image_t *img,
                                   const char *label)
{
    ddad_status_t st = check_cell(g, row, col, img);
    if (st)
        return st;
    int x, y;
    ddad_figure_grid_cell_origin(g, row, col, &x, &y);
    if (img->w == g->cell_w && img->h == g->cell_h) {
        ddad_figure_paste(&g->img, img, x, y);
    } else {
        ddad_image_t r = {0};
        st = ddad_image_resize_nearest(img, g->cell_w, g->cell_h, &r);
        if (st)
            return st;
        ddad_figure_paste(&g->img, &r, x, y);
        ddad_image_free(&r);
    }
    put_label(g, x, y, label);
    return DDAD_OK;
}

ddad_status_t ddad_figure_grid_put_fit(ddad_figure_grid_t *g, int row, int col, const ddad_image_t *img,
                                       const char *label)
{
    ddad_status_t st = check_cell(g, row, col, img);
    if (st)
        return st;
    int x, y;
    ddad_figure_grid_cell_origin(g, row, col, &x, &y);
    ddad_image_t clip = {0};
    int w = img->w < g->cell_w ? img->w : g->cell_w, h = img->h < g->cell_h ? img->h : g->cell_h;
    if ((st = ddad_image_alloc(&clip, w, h, 3)))
        return st;
    for (int r = 0; r < h; r++)
        memcpy(clip.data + (size_t)r * w * 3, img->data + (size_t)r * img->w * 3, (size_t)w * 3);
    ddad_figure_paste(&g->img, &clip, x, y);
    ddad_image_free(&clip);
    put_label(g, x, y, label);
    return DDAD_OK;
}

ddad_status_t ddad_figure_grid_row_label(ddad_figure_grid_t *g, int row, const char *label)
{
    ddad_status_t st = check_cell(g, row, 0, NULL);
    if (st)
        return st;
    if (g->row_label_w <= 0)
        return ddad_fail(DDAD_STATUS_USAGE, "figure grid: row labels need row_label_w > 0");
    int x, y;
    ddad_figure_grid_cell_origin(g, row, 0, &x, &y);
    const uint8_t black[3] = {0, 0, 0};
    char buf[512];
    fit_text(buf, sizeof buf, label ? label : "", g->row_label_w, g->scale);
    ddad_figure_draw_text(&g->img, g->pad, y + (g->cell_h - DDAD_FIGURE_GLYPH_H * g->scale) / 2, buf, black,
                          g->scale);
    return DDAD_OK;
}

ddad_status_t ddad_figure_grid_save(const ddad_figure_grid_t *g, const char *path)
{
    if (!g || !g->img.data)
        return ddad_fail(DDAD_STATUS_USAGE, "figure grid: nothing to save to %s", path ? path : "(null)");
    return ddad_image_write_png(&g->img, path);
}
