/* core/report/colormap.h - perceptually uniform colour maps for heatmaps (viridis,
 * inferno), as the 256-entry tables of their published definition.
 *
 *     uint8_t rgb[3];
 *     ddad_colormap_rgb(DDAD_COLORMAP_VIRIDIS, 0.0, rgb);   // (68, 1, 84), dark purple
 *     ddad_colormap_rgb(DDAD_COLORMAP_VIRIDIS, 1.0, rgb);   // (253, 231, 37), yellow
 *
 * A value v in [0, 1] selects entry floor(256 v) (v = 1 -> 255; values
 * outside [0, 1] clamp; NaN -> 0), i.e. 256 equal bins as matplotlib's
 * ListedColormap lookup. Nothing here allocates.
 */
#ifndef DDAD_COLORMAP_H
#define DDAD_COLORMAP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ddad_colormap {
    DDAD_COLORMAP_VIRIDIS = 0,
    DDAD_COLORMAP_INFERNO
} ddad_colormap_t;

/* The table: 256 RGB triples in [0, 1] (static, never NULL). */
const float (*ddad_colormap_table(ddad_colormap_t cm))[3];
/* "viridis" / "inferno" (static). */
const char *ddad_colormap_name(ddad_colormap_t cm);
/* Name -> colour map; 0 on success, -1 for an unknown name. */
int ddad_colormap_parse(const char *name, ddad_colormap_t *out);
/* Table index of v in [0, 1] (clamped; NaN -> 0). */
int ddad_colormap_index(double v);
/* 8-bit colour of v (the table entry rounded to the nearest of 0..255). */
void ddad_colormap_rgb(ddad_colormap_t cm, double v, uint8_t rgb[3]);

#ifdef __cplusplus
}
#endif
#endif
