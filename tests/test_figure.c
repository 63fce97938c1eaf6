/* tests/test_figure.c - colour maps, heatmaps, scale bars, text and grids:
 *  - the viridis and inferno tables against values of the published
 *    definitions (endpoints and middle, typed in from the published table) and
 *    entry by entry against matplotlib's copy on Debian's python;
 *  - grid canvas sizes from the documented arithmetic, and the PNG written
 *    read back with those sizes and the panel pixels in place;
 *  - scale bar pixels (top = entry 255, bottom = entry 0, monotone ramp);
 *  - text ink inside the documented glyph box. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "colormap.h"
#include "figure.h"
#include "image.h"
#include "testutil.h"

static void expect_entry(ddad_colormap_t cm, int i, float r, float g, float b)
{
    const float(*t)[3] = ddad_colormap_table(cm);
    CU_ASSERT_DOUBLE_EQUAL(t[i][0], r, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(t[i][1], g, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(t[i][2], b, 1e-7);
}

static void test_published_values(void)
{
    /* viridis: first, middle and last entries of the published table */
    expect_entry(DDAD_COLORMAP_VIRIDIS, 0, 0.267004f, 0.004874f, 0.329415f);
    expect_entry(DDAD_COLORMAP_VIRIDIS, 128, 0.127568f, 0.566949f, 0.550556f);
    expect_entry(DDAD_COLORMAP_VIRIDIS, 255, 0.993248f, 0.906157f, 0.143936f);
    /* inferno: first and last */
    expect_entry(DDAD_COLORMAP_INFERNO, 0, 0.001462f, 0.000466f, 0.013866f);
    expect_entry(DDAD_COLORMAP_INFERNO, 255, 0.988362f, 0.998364f, 0.644924f);

    uint8_t rgb[3];
    ddad_colormap_rgb(DDAD_COLORMAP_VIRIDIS, 0.0, rgb);
    CU_ASSERT(rgb[0] == 68 && rgb[1] == 1 && rgb[2] == 84);
    ddad_colormap_rgb(DDAD_COLORMAP_VIRIDIS, 1.0, rgb);
    CU_ASSERT(rgb[0] == 253 && rgb[1] == 231 && rgb[2] == 37);
    ddad_colormap_rgb(DDAD_COLORMAP_VIRIDIS, -3.0, rgb); /* clamps */
    CU_ASSERT(rgb[0] == 68);
    CU_ASSERT_EQUAL(ddad_colormap_index(NAN), 0);
    CU_ASSERT_EQUAL(ddad_colormap_index(0.5), 128);
    CU_ASSERT_EQUAL(ddad_colormap_index(255.5 / 256.0), 255);
    ddad_colormap_t cm;
    CU_ASSERT_EQUAL(ddad_colormap_parse("inferno", &cm), 0);
    CU_ASSERT_EQUAL(cm, DDAD_COLORMAP_INFERNO);
    CU_ASSERT_EQUAL(ddad_colormap_parse("jet", &cm), -1);
    /* perceptual maps rise in lightness: a luma proxy increases end to end */
    for (int m = 0; m < 2; m++) {
        const float(*t)[3] = ddad_colormap_table((ddad_colormap_t)m);
        double l0 = 0.299 * t[0][0] + 0.587 * t[0][1] + 0.114 * t[0][2];
        double l1 = 0.299 * t[255][0] + 0.587 * t[255][1] + 0.114 * t[255][2];
        CU_ASSERT(l1 > l0 + 0.5);
    }
}

static void test_tables_against_matplotlib(void)
{
    CU_ASSERT_FATAL(ddad_test_python_has("matplotlib"));
    char *dir = ddad_test_mkdtemp("cmap");
    char path[1024];
    snprintf(path, sizeof path, "%s/tables.txt", dir);
    int rc = ddad_test_system("%s -c \"import matplotlib._cm_listed as c\n"
                              "for d in (c._viridis_data, c._inferno_data):\n"
                              "    for e in d: print('%%.6f %%.6f %%.6f' %% tuple(e))\" > %s",
                              ddad_test_python(), path);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    int bad = 0, n = 0;
    for (int m = 0; m < 2; m++) {
        const float(*t)[3] = ddad_colormap_table((ddad_colormap_t)m);
        for (int i = 0; i < 256; i++) {
            double v[3];
            if (fscanf(f, "%lf %lf %lf", &v[0], &v[1], &v[2]) != 3) {
                bad++;
                continue;
            }
            n++;
            for (int k = 0; k < 3; k++)
                if (fabs(v[k] - t[i][k]) > 1e-6)
                    bad++;
        }
    }
    fclose(f);
    CU_ASSERT_EQUAL(n, 512);
    CU_ASSERT_EQUAL(bad, 0);
    ddad_test_rmtree(dir);
    free(dir);
}

static void test_scale_bar(void)
{
    ddad_image_t bar = {0};
    CU_ASSERT_EQUAL_FATAL(ddad_figure_scale_bar(&bar, 10, 100, -1.0, 3.0, DDAD_COLORMAP_VIRIDIS, 1), DDAD_OK);
    CU_ASSERT_EQUAL(bar.h, 100);
    /* labels "3", "1", "-1": widest is "-1", 11 px */
    CU_ASSERT_EQUAL(bar.w, 10 + 3 + ddad_figure_text_width("-1", 1));
    uint8_t top[3], bottom[3];
    ddad_colormap_rgb(DDAD_COLORMAP_VIRIDIS, 1.0, top);
    ddad_colormap_rgb(DDAD_COLORMAP_VIRIDIS, 0.0, bottom);
    for (int x = 0; x < 10; x++) {
        CU_ASSERT_EQUAL(memcmp(bar.data + (size_t)x * 3, top, 3), 0);
        CU_ASSERT_EQUAL(memcmp(bar.data + ((size_t)99 * bar.w + x) * 3, bottom, 3), 0);
    }
    /* the green channel of viridis rises monotonically: the bar falls top to bottom */
    for (int r = 1; r < 100; r++)
        CU_ASSERT(bar.data[(size_t)r * bar.w * 3 + 1] <= bar.data[(size_t)(r - 1) * bar.w * 3 + 1]);
    /* some black label ink right of the bar, none in the 3 px gap */
    int ink = 0, gap_ink = 0;
    for (int y = 0; y < bar.h; y++)
        for (int x = 10; x < bar.w; x++) {
            int black = bar.data[((size_t)y * bar.w + x) * 3] == 0;
            if (x < 13)
                gap_ink += black;
            else
                ink += black;
        }
    CU_ASSERT(ink > 20);
    CU_ASSERT_EQUAL(gap_ink, 0);
    CU_ASSERT_NOT_EQUAL(ddad_figure_scale_bar(&bar, 10, 1, 0, 1, DDAD_COLORMAP_VIRIDIS, 1), DDAD_OK);
    ddad_image_free(&bar);
}

static void test_heatmap_overlay(void)
{
    float map[4] = {0.0f, 1.0f, 2.0f, NAN};
    ddad_image_t hm = {0}, base = {0}, ov = {0};
    CU_ASSERT_EQUAL_FATAL(ddad_figure_heatmap(map, 2, 2, 0.0, 2.0, DDAD_COLORMAP_INFERNO, &hm), DDAD_OK);
    uint8_t lo[3], mid[3], hi[3];
    ddad_colormap_rgb(DDAD_COLORMAP_INFERNO, 0.0, lo);
    ddad_colormap_rgb(DDAD_COLORMAP_INFERNO, 0.5, mid);
    ddad_colormap_rgb(DDAD_COLORMAP_INFERNO, 1.0, hi);
    CU_ASSERT_EQUAL(memcmp(hm.data, lo, 3), 0);
    CU_ASSERT_EQUAL(memcmp(hm.data + 3, mid, 3), 0);
    CU_ASSERT_EQUAL(memcmp(hm.data + 6, hi, 3), 0);
    CU_ASSERT_EQUAL(memcmp(hm.data + 9, lo, 3), 0); /* NaN -> lowest */
    double a, b;
    ddad_figure_map_range(map, 4, &a, &b);
    CU_ASSERT_DOUBLE_EQUAL(a, 0.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(b, 2.0, 0);

    float x[3 * 4] = {-1, -1, 1, 1, -1, -1, 1, 1, -1, 0, 1, 1};
    CU_ASSERT_EQUAL_FATAL(ddad_figure_image_from_chw(x, 3, 2, 2, &base), DDAD_OK);
    CU_ASSERT(base.data[0] == 0 && base.data[1] == 0 && base.data[2] == 0);
    CU_ASSERT(base.data[3] == 0 && base.data[4] == 0 && base.data[5] == 128);
    CU_ASSERT_EQUAL_FATAL(ddad_figure_overlay(&base, map, 0.0, 2.0, DDAD_COLORMAP_INFERNO, 0.5, &ov), DDAD_OK);
    CU_ASSERT_EQUAL(ov.data[6], (uint8_t)lrint(0.5 * 255 + 0.5 * hi[0]));
    CU_ASSERT_NOT_EQUAL(ddad_figure_overlay(&base, map, 0, 2, DDAD_COLORMAP_INFERNO, 1.5, &ov), DDAD_OK);

    uint8_t mask[16] = {0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0};
    ddad_image_t m = {0};
    CU_ASSERT_EQUAL_FATAL(ddad_figure_image_from_mask(mask, 4, 4, &m), DDAD_OK);
    CU_ASSERT_EQUAL(m.data[(1 * 4 + 1) * 3], 255);
    CU_ASSERT_EQUAL(m.data[0], 0);
    /* an 8 x 8 canvas with the 4 x 4 mask scaled 2x: the 4 x 4 block at (2, 2)
     * has 12 boundary pixels and 4 interior ones */
    ddad_image_t canvas = {0};
    CU_ASSERT_EQUAL_FATAL(ddad_image_alloc(&canvas, 8, 8, 3), DDAD_OK);
    const uint8_t red[3] = {255, 0, 0};
    ddad_figure_draw_mask_contour(&canvas, mask, 4, 4, red);
    int red_px = 0;
    for (int i = 0; i < 64; i++)
        red_px += canvas.data[i * 3] == 255;
    CU_ASSERT_EQUAL(red_px, 12);
    CU_ASSERT_EQUAL(canvas.data[(3 * 8 + 3) * 3], 0);
    CU_ASSERT_EQUAL(canvas.data[(2 * 8 + 2) * 3], 255);
    ddad_image_free(&canvas);
    ddad_image_free(&m);
    ddad_image_free(&hm);
    ddad_image_free(&base);
    ddad_image_free(&ov);
}

static void test_text(void)
{
    CU_ASSERT_EQUAL(ddad_figure_text_width("", 1), 0);
    CU_ASSERT_EQUAL(ddad_figure_text_width("A", 1), 5);
    CU_ASSERT_EQUAL(ddad_figure_text_width("AB", 2), 22);
    /* lower case uses the upper-case glyphs; unknown characters are '?' */
    CU_ASSERT_PTR_EQUAL(ddad_figure_glyph('a'), ddad_figure_glyph('A'));
    CU_ASSERT_PTR_EQUAL(ddad_figure_glyph('~'), ddad_figure_glyph('?'));
    CU_ASSERT_PTR_NOT_EQUAL(ddad_figure_glyph('0'), ddad_figure_glyph('O'));
    ddad_image_t img = {0};
    CU_ASSERT_EQUAL_FATAL(ddad_image_alloc(&img, 40, 20, 3), DDAD_OK);
    const uint8_t white[3] = {255, 255, 255};
    ddad_figure_draw_text(&img, 3, 4, "T=5", white, 1);
    int ink = 0, outside = 0;
    for (int y = 0; y < 20; y++)
        for (int x = 0; x < 40; x++) {
            int on = img.data[((size_t)y * 40 + x) * 3] == 255;
            int in_box = x >= 3 && x < 3 + ddad_figure_text_width("T=5", 1) && y >= 4 && y < 4 + 7;
            ink += on;
            outside += on && !in_box;
        }
    /* T: 5 + 6 = 11 px, '=': 10 px, '5': 17 px */
    CU_ASSERT_EQUAL(ink, 11 + 10 + 17);
    CU_ASSERT_EQUAL(outside, 0);
    ddad_figure_draw_text(&img, 38, 18, "WWW", white, 3); /* clipped, no crash */
    ddad_image_free(&img);
}

static void test_grid_png(void)
{
    ddad_figure_grid_opts_t o = ddad_figure_grid_opts_default();
    o.title = "a title";
    o.row_label_w = 30;
    int w, h;
    ddad_figure_grid_size(2, 3, 20, 16, &o, &w, &h);
    CU_ASSERT_EQUAL(w, 6 + 30 + 6 + 3 * (20 + 6));
    CU_ASSERT_EQUAL(h, (9 + 6) + 2 * (11 + 16 + 6) + 6);

    ddad_figure_grid_t g;
    CU_ASSERT_EQUAL_FATAL(ddad_figure_grid_init(&g, 2, 3, 20, 16, &o), DDAD_OK);
    CU_ASSERT_EQUAL(g.img.w, w);
    CU_ASSERT_EQUAL(g.img.h, h);
    ddad_image_t small = {0}, big = {0};
    CU_ASSERT_EQUAL_FATAL(ddad_image_alloc(&small, 10, 8, 3), DDAD_OK); /* black, scaled 2x */
    CU_ASSERT_EQUAL_FATAL(ddad_image_alloc(&big, 50, 50, 3), DDAD_OK);
    memset(big.data, 77, (size_t)50 * 50 * 3);
    CU_ASSERT_EQUAL(ddad_figure_grid_put(&g, 1, 2, &small, "a very long label that is cut"), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_figure_grid_put_fit(&g, 0, 0, &big, "fit"), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_figure_grid_row_label(&g, 1, "row"), DDAD_OK);
    CU_ASSERT_NOT_EQUAL(ddad_figure_grid_put(&g, 2, 0, &small, NULL), DDAD_OK);

    char *dir = ddad_test_mkdtemp("grid");
    char path[1024];
    snprintf(path, sizeof path, "%s/grid.png", dir);
    CU_ASSERT_EQUAL_FATAL(ddad_figure_grid_save(&g, path), DDAD_OK);
    ddad_image_t back = {0};
    CU_ASSERT_EQUAL_FATAL(ddad_image_load(&back, path, DDAD_IMAGE_RGB), DDAD_OK);
    CU_ASSERT_EQUAL(back.w, w);
    CU_ASSERT_EQUAL(back.h, h);
    CU_ASSERT_EQUAL(memcmp(back.data, g.img.data, (size_t)w * h * 3), 0);
    int x, y;
    ddad_figure_grid_cell_origin(&g, 1, 2, &x, &y);
    /* panel (1, 2): black over exactly 20 x 16 px, white just outside */
    int black = 0;
    for (int yy = y; yy < y + 16; yy++)
        for (int xx = x; xx < x + 20; xx++)
            black += back.data[((size_t)yy * w + xx) * 3] == 0;
    CU_ASSERT_EQUAL(black, 20 * 16);
    CU_ASSERT_EQUAL(back.data[((size_t)(y + 16) * w + x) * 3], 255);
    CU_ASSERT_EQUAL(back.data[((size_t)y * w + x + 20) * 3], 255);
    ddad_figure_grid_cell_origin(&g, 0, 0, &x, &y);
    CU_ASSERT_EQUAL(back.data[((size_t)(y + 15) * w + x + 19) * 3], 77); /* clipped to the panel */
    CU_ASSERT_EQUAL(back.data[((size_t)(y + 16) * w + x) * 3], 255);
    /* the label line above panel (1, 2) has ink but stays within the panel's width */
    ddad_figure_grid_cell_origin(&g, 1, 2, &x, &y);
    int ink = 0, spill = 0;
    for (int yy = y - g.label_h; yy < y; yy++)
        for (int xx = x; xx < w; xx++) {
            int on = back.data[((size_t)yy * w + xx) * 3] == 0;
            if (xx < x + 20)
                ink += on;
            else
                spill += on;
        }
    CU_ASSERT(ink > 0);
    CU_ASSERT_EQUAL(spill, 0);
    ddad_image_free(&back);
    ddad_image_free(&small);
    ddad_image_free(&big);
    ddad_figure_grid_free(&g);
    ddad_figure_grid_free(&g); /* twice is fine */
    ddad_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"published colour map values", test_published_values},
                                        {"tables against matplotlib", test_tables_against_matplotlib},
                                        {"scale bar pixels", test_scale_bar},
                                        {"heatmap, overlay, mask", test_heatmap_overlay},
                                        {"text", test_text},
                                        {"grid sizes and PNG", test_grid_png},
                                        {NULL, NULL}};
    return ddad_test_main("figure", tests);
}
