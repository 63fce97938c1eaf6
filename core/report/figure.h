/* core/report/figure.h - figure composition in plain C: 8-bit RGB canvases,
 * heatmaps in a perceptual colour map (colormap.h), a colour scale bar, a
 * labelled grid of panels and a tiny built-in bitmap font; written as PNG
 * through image.h. No libtorch, no fonts or plotting libraries needed.
 *
 *     ddad_figure_grid_t g;
 *     ddad_figure_grid_opts_t o = ddad_figure_grid_opts_default();
 *     o.title = "bottle test/crack/003";
 *     ddad_figure_grid_init(&g, 1, 3, 128, 128, &o);        // 1 row, 3 panels of 128 x 128
 *     ddad_image_t in = {0}, hm = {0}, bar = {0};
 *     ddad_figure_image_from_chw(x, 3, 256, 256, &in);        // x (3, 256, 256) in [-1, 1]
 *     ddad_figure_heatmap(map, 256, 256, lo, hi, DDAD_COLORMAP_VIRIDIS, &hm);
 *     ddad_figure_scale_bar(&bar, 12, 128, lo, hi, DDAD_COLORMAP_VIRIDIS, 1);
 *     ddad_figure_grid_put(&g, 0, 0, &in, "input");          // resized to the cell (nearest)
 *     ddad_figure_grid_put(&g, 0, 1, &hm, "anomaly map");
 *     ddad_figure_grid_put_fit(&g, 0, 2, &bar, "scale");     // pasted unscaled
 *     ddad_figure_grid_save(&g, "figures/003.png");
 *     ddad_figure_grid_free(&g);
 *     ddad_image_free(&in); ddad_image_free(&hm); ddad_image_free(&bar);
 *
 * Font: 5 x 7 pixel glyphs on a 6 x 9 advance (times `scale`) for digits,
 * upper-case letters and common punctuation; lower-case letters are drawn
 * with the upper-case glyphs (small but legible labels; kept deliberately
 * small), anything else as '?'.
 *
 * Ownership: images (ddad_image_t, RGB, c = 3) filled by these functions are
 * owned by the caller (ddad_image_free); outputs must be zero-initialised or
 * hold a valid image, which is freed first. A grid owns its canvas
 * (ddad_figure_grid_free, which accepts a zeroed or freed grid).
 */
#ifndef DDAD_FIGURE_H
#define DDAD_FIGURE_H

#include <stddef.h>
#include <stdint.h>

#include "colormap.h"
#include "image.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DDAD_FIGURE_GLYPH_W 5   /* glyph ink, px (times scale)              */
#define DDAD_FIGURE_GLYPH_H 7
#define DDAD_FIGURE_ADVANCE_X 6 /* horizontal advance per character          */
#define DDAD_FIGURE_LINE_H 9    /* line height                               */

/* ---- text ------------------------------------------------------------- */

/* Width in px of s drawn at scale (0 for ""). */
int ddad_figure_text_width(const char *s, int scale);
/* Draws s with its top-left corner at (x, y), clipped to img (RGB). */
void ddad_figure_draw_text(ddad_image_t *img, int x, int y, const char *s, const uint8_t rgb[3], int scale);
/* The 7 row bit patterns (bit 4 = leftmost column) of the glyph drawn for c. */
const uint8_t *ddad_figure_glyph(char c);

/* ---- panels ----------------------------------------------------------- */

/* (C, H, W) floats in [-1, 1] (values clamp; C = 1 is shown as gray, C = 3
 * as RGB) -> RGB image, v -> round((v + 1) 127.5). */
ddad_status_t ddad_figure_image_from_chw(const float *x, int c, int h, int w, ddad_image_t *out);
/* (H, W) mask, 0 -> black, non-zero -> white. */
ddad_status_t ddad_figure_image_from_mask(const uint8_t *mask, int h, int w, ddad_image_t *out);
/* Min and max of the finite values of map (n); both 0 when none is finite. */
void ddad_figure_map_range(const float *map, size_t n, double *lo, double *hi);
/* (H, W) map -> RGB heatmap: v -> colour of (v - lo) / (hi - lo) (clamped);
 * hi <= lo shows everything in the lowest colour. */
ddad_status_t ddad_figure_heatmap(const float *map, int h, int w, double lo, double hi, ddad_colormap_t cm,
                                  ddad_image_t *out);
/* base (RGB, H x W) blended with the heatmap of map (H, W):
 * out = (1 - opacity) base + opacity colour. */
ddad_status_t ddad_figure_overlay(const ddad_image_t *base, const float *map, double lo, double hi,
                                  ddad_colormap_t cm, double opacity, ddad_image_t *out);
/* Paints the boundary of mask (mh, mw; non-zero = inside; nearest-neighbour
 * scaled to img's size) in rgb: inside pixels with a 4-neighbour outside. */
void ddad_figure_draw_mask_contour(ddad_image_t *img, const uint8_t *mask, int mh, int mw, const uint8_t rgb[3]);
/* A vertical colour bar bar_w x bar_h (top row = hi = table entry 255,
 * bottom row = lo = entry 0; row r shows v = 1 - r / (bar_h - 1)) at (0, 0)
 * of a white image, with the values of hi, the middle and lo printed to its
 * right (%.3g). The image is bar_h high (at least one line of text) and as
 * wide as the bar plus 3 px plus the widest label. bar_h >= 2. */
ddad_status_t ddad_figure_scale_bar(ddad_image_t *out, int bar_w, int bar_h, double lo, double hi, ddad_colormap_t cm,
                                    int scale);
/* Copies src (RGB) into dst (RGB) with its top-left at (x, y), clipped. */
void ddad_figure_paste(ddad_image_t *dst, const ddad_image_t *src, int x, int y);

/* ---- grids ------------------------------------------------------------ */

typedef struct ddad_figure_grid_opts {
    int pad;             /* white space between and around panels, px (6)   */
    int font_scale;      /* 1 = 5 x 7 glyphs (1)                            */
    const char *title;   /* one line above the grid, NULL = none (copied)   */
    int row_label_w;     /* width of a row-label column at the left, px (0) */
} ddad_figure_grid_opts_t;

typedef struct ddad_figure_grid {
    int rows, cols;
    int cell_w, cell_h;  /* panel size, px                                  */
    int pad, scale, row_label_w;
    int title_h;         /* px above the first row (0 without a title)      */
    int label_h;         /* px of the label line above each panel           */
    ddad_image_t img;    /* the canvas (RGB, white background), owned       */
} ddad_figure_grid_t;

ddad_figure_grid_opts_t ddad_figure_grid_opts_default(void);

/* The canvas size of a grid (same arithmetic as _init). */
void ddad_figure_grid_size(int rows, int cols, int cell_w, int cell_h, const ddad_figure_grid_opts_t *opt, int *w,
                           int *h);
/* Allocates the canvas: width = pad + row_label_w (+ pad when > 0) + cols
 * (cell_w + pad), height = title_h + rows (label_h + cell_h + pad) + pad with
 * label_h = 9 scale + 2 and title_h = 9 scale + pad when titled. opt NULL =
 * defaults. */
ddad_status_t ddad_figure_grid_init(ddad_figure_grid_t *g, int rows, int cols, int cell_w, int cell_h,
                                    const ddad_figure_grid_opts_t *opt);
void ddad_figure_grid_free(ddad_figure_grid_t *g);
/* Top-left pixel of panel (row, col) on the canvas. */
void ddad_figure_grid_cell_origin(const ddad_figure_grid_t *g, int row, int col, int *x, int *y);
/* Puts img into panel (row, col), resized to the panel (nearest neighbour)
 * when its size differs, with label (NULL = none; cut with ".." to fit)
 * above it. */
ddad_status_t ddad_figure_grid_put(ddad_figure_grid_t *g, int row, int col, const ddad_image_t *img,
                                   const char *label);
/* Same without resizing: img is pasted at the panel's top-left, clipped. */
ddad_status_t ddad_figure_grid_put_fit(ddad_figure_grid_t *g, int row, int col, const ddad_image_t *img,
                                       const char *label);
/* Writes a row label (left column; needs row_label_w > 0), cut to fit. */
ddad_status_t ddad_figure_grid_row_label(ddad_figure_grid_t *g, int row, const char *label);
/* Writes the canvas as PNG (image.h: written to a temporary name, renamed). */
ddad_status_t ddad_figure_grid_save(const ddad_figure_grid_t *g, const char *path);

#ifdef __cplusplus
}
#endif
#endif
