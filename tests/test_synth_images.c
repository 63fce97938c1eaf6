/* tests/test_synth_images.c - ddad-synth --from-images (core/data/synth_images.h)
 * on source images the test writes itself: same inputs and seed -> identical
 * bytes, masks equal the changed pixels, every written image is the crop that
 * crops.csv names, training and test crops follow the documented band split
 * and never overlap, a corrupt source is reported and skipped, bad arguments
 * give the documented exit codes. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset.h"
#include "image.h"
#include "status.h"
#include "synth_images.h"
#include "testutil.h"

static char *g_tmp;
static char g_src[4200], g_foreign[4200], g_out[4200];

#define SIZE 48
#define N_TRAIN 12
#define N_GOOD 4
#define N_DEFECT 5

/* ---- source images ----------------------------------------------------------------------------- */

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* A w x h RGB texture: bilinear-smoothed random grid of cell `cell` plus fine noise (kind 0), or
 * slanted stripes plus noise (kind 1). */
static void write_texture(const char *path, int w, int h, uint32_t seed, int kind, int cell)
{
    ddad_image_t im = {0};
    CU_ASSERT_FATAL(ddad_image_alloc(&im, w, h, 3) == DDAD_OK);
    int gw = w / cell + 2, gh = h / cell + 2;
    float *grid = malloc(sizeof(float) * gw * gh * 3);
    CU_ASSERT_FATAL(grid != NULL);
    uint32_t s = seed;
    for (int i = 0; i < gw * gh * 3; i++)
        grid[i] = (float)(lcg(&s) % 1000) / 1000.0f;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double fx = (double)x / cell, fy = (double)y / cell;
            int gx = (int)fx, gy = (int)fy;
            double ax = fx - gx, ay = fy - gy;
            for (int c = 0; c < 3; c++) {
                double v00 = grid[(gy * gw + gx) * 3 + c], v01 = grid[(gy * gw + gx + 1) * 3 + c];
                double v10 = grid[((gy + 1) * gw + gx) * 3 + c], v11 = grid[((gy + 1) * gw + gx + 1) * 3 + c];
                double v = (1 - ay) * ((1 - ax) * v00 + ax * v01) + ay * ((1 - ax) * v10 + ax * v11);
                double base = kind == 0 ? 60 + 120 * v : 90 + 70 * sin((x + 0.5 * y) * 0.45) + 30 * v;
                base += (double)(lcg(&s) % 21) - 10;
                im.data[((size_t)y * w + x) * 3 + c] = (uint8_t)(base < 0 ? 0 : base > 255 ? 255 : base);
            }
        }
    free(grid);
    CU_ASSERT_FATAL(ddad_image_write_png(&im, path) == DDAD_OK);
    ddad_image_free(&im);
}

static void setup(void)
{
    g_tmp = ddad_test_mkdtemp("synth-images");
    CU_ASSERT_FATAL(g_tmp != NULL);
    snprintf(g_src, sizeof g_src, "%s/src", g_tmp);
    snprintf(g_foreign, sizeof g_foreign, "%s/foreign", g_tmp);
    snprintf(g_out, sizeof g_out, "%s/out", g_tmp);
    char p[4400];
    CU_ASSERT_FATAL(ddad_test_system("mkdir -p '%s/sub' '%s' '%s/only_bad'", g_src, g_foreign, g_tmp) == 0);
    snprintf(p, sizeof p, "%s/a.png", g_src);
    write_texture(p, 300, 200, 11, 0, 9);
    snprintf(p, sizeof p, "%s/sub/b.png", g_src);
    write_texture(p, 180, 260, 12, 0, 5);
    snprintf(p, sizeof p, "%s/x.png", g_foreign);
    write_texture(p, 160, 150, 13, 1, 7);
    /* a truncated PNG among the good ones, and a text file that is not an image */
    snprintf(p, sizeof p, "%s/broken.png", g_src);
    write_texture(p, 120, 120, 14, 0, 6);
    struct stat sb;
    CU_ASSERT_FATAL(stat(p, &sb) == 0);
    CU_ASSERT_FATAL(truncate(p, sb.st_size / 2) == 0);
    CU_ASSERT_FATAL(ddad_test_system("cp '%s' '%s/only_bad/' && echo notes > '%s/readme.txt'", p, g_tmp, g_src) == 0);
}

/* ---- the program ------------------------------------------------------------------------------ */

static int run_synth(const char *out, int seed, const char *log)
{
    return ddad_test_system("'%s/ddad-synth' --from-images '%s' --foreign '%s' --out '%s' --category tex --size %d "
                            "--train %d --test-good %d --test-defect %d --seed %d "
                            "--defects scratch,stain,foreign_texture,missing_material,hole,colour > /dev/null 2> '%s'",
                            ddad_test_bin_dir(), g_src, g_foreign, out, SIZE, N_TRAIN, N_GOOD, N_DEFECT, seed, log);
}

static void test_reproducible_and_skips_corrupt(void)
{
    setup();
    char a[4400], b[4400], c[4400];
    snprintf(a, sizeof a, "%s/a", g_out);
    snprintf(b, sizeof b, "%s/b", g_out);
    snprintf(c, sizeof c, "%s/c", g_out);
    char log[4400];
    snprintf(log, sizeof log, "%s/a.log", g_tmp);
    CU_ASSERT_EQUAL_FATAL(run_synth(a, 9, log), 0);
    /* the corrupt file is reported by name, the two good ones are used */
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'broken.png' '%s'", log), 0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '2 source images' '%s'", log), 0);
    CU_ASSERT_EQUAL(ddad_test_system("test $(ls '%s/tex/train/good' | wc -l) -eq %d", a, N_TRAIN), 0);
    CU_ASSERT_EQUAL(ddad_test_system("test $(ls '%s/tex/test/good' | wc -l) -eq %d", a, N_GOOD), 0);
    CU_ASSERT_EQUAL(ddad_test_system("test $(ls '%s/tex/ground_truth/stain' | wc -l) -eq %d", a, N_DEFECT), 0);
    CU_ASSERT_EQUAL(ddad_test_system("test -f '%s/tex/.ddad-synthetic'", a), 0);
    /* same inputs and seed: the same bytes; another seed: other bytes */
    snprintf(log, sizeof log, "%s/b.log", g_tmp);
    CU_ASSERT_EQUAL(run_synth(b, 9, log), 0);
    CU_ASSERT_EQUAL(ddad_test_system("diff -r '%s' '%s' > /dev/null", a, b), 0);
    CU_ASSERT_EQUAL(run_synth(c, 10, log), 0);
    CU_ASSERT_NOT_EQUAL(ddad_test_system("diff -r '%s' '%s' > /dev/null", a, c), 0);
    /* regenerating over an existing set (it carries the marker) gives the same bytes again */
    CU_ASSERT_EQUAL(run_synth(b, 9, log), 0);
    CU_ASSERT_EQUAL(ddad_test_system("diff -r '%s' '%s' > /dev/null", a, b), 0);
}

static void test_masks_are_changed_pixels(void)
{
    char root[4400];
    snprintf(root, sizeof root, "%s/a", g_out);
    ddad_dataset_t *ds = NULL;
    CU_ASSERT_FATAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_MVTEC, root, NULL, 0) == DDAD_OK);
    CU_ASSERT_EQUAL(ddad_dataset_validate(ds), DDAD_OK);
    size_t nd = 0, ngood = 0;
    double amin = 1, amax = 0;
    for (size_t i = 0; i < ds->n; i++) {
        const ddad_sample_t *s = &ds->samples[i];
        if (s->split != DDAD_SPLIT_TEST)
            continue;
        if (!s->label) {
            ngood++;
            continue;
        }
        nd++;
        CU_ASSERT_PTR_NOT_NULL_FATAL(s->source_path);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s->mask_path);
        ddad_image_t d = {0}, src = {0}, m = {0};
        CU_ASSERT_FATAL(ddad_image_load(&d, s->path, DDAD_IMAGE_RGB) == DDAD_OK);
        CU_ASSERT_FATAL(ddad_image_load(&src, s->source_path, DDAD_IMAGE_RGB) == DDAD_OK);
        CU_ASSERT_FATAL(ddad_image_load(&m, s->mask_path, DDAD_IMAGE_GRAY) == DDAD_OK);
        CU_ASSERT_FATAL(d.w == SIZE && d.h == SIZE && src.w == SIZE && m.w == SIZE && m.h == SIZE);
        size_t N = (size_t)d.w * d.h, ones = 0, bad = 0, not_binary = 0;
        for (size_t k = 0; k < N; k++) {
            int changed = memcmp(d.data + 3 * k, src.data + 3 * k, 3) != 0;
            not_binary += m.data[k] != 0 && m.data[k] != 255;
            bad += changed != (m.data[k] == 255);
            ones += m.data[k] == 255;
        }
        if (bad || not_binary)
            fprintf(stderr, "\n  %s: %zu pixels where mask != changed, %zu not 0/255\n", s->path, bad, not_binary);
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_EQUAL(not_binary, 0);
        double a = (double)ones / N;
        amin = a < amin ? a : amin;
        amax = a > amax ? a : amax;
        ddad_image_free(&d);
        ddad_image_free(&src);
        ddad_image_free(&m);
    }
    CU_ASSERT_EQUAL(ngood, N_GOOD);
    CU_ASSERT_EQUAL(nd, 6 * N_DEFECT);
    fprintf(stderr, "\n  defect areas %.3f%% .. %.3f%% of the image\n", 100 * amin, 100 * amax);
    CU_ASSERT(amin >= 0.0015 && amax <= 0.12);
    ddad_dataset_free(ds);
}

/* ---- crops.csv: the written images are those crops, and the split follows the documented bands --- */

typedef struct row {
    char image[256], source[256], patch_from[32], patch_source[256];
    int x, y, side, px, py, pside, pturn;
} row_t;

/* Splits one CSV line (no quoted fields in this test) into at most max fields. */
static int split_csv(char *line, char **f, int max)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == ',') {
            *p = 0;
            f[n++] = p + 1;
        }
    return n;
}

static size_t read_crops(const char *path, row_t *rows, size_t cap)
{
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[2048];
    CU_ASSERT_FATAL(fgets(line, sizeof line, f) != NULL);
    CU_ASSERT(strncmp(line, "image,source,x,y,side,patch_from", 32) == 0);
    size_t n = 0;
    while (n < cap && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *fld[11];
        CU_ASSERT_EQUAL_FATAL(split_csv(line, fld, 11), 11);
        row_t *r = &rows[n++];
        memset(r, 0, sizeof *r);
        snprintf(r->image, sizeof r->image, "%s", fld[0]);
        snprintf(r->source, sizeof r->source, "%s", fld[1]);
        r->x = atoi(fld[2]);
        r->y = atoi(fld[3]);
        r->side = atoi(fld[4]);
        snprintf(r->patch_from, sizeof r->patch_from, "%s", fld[5]);
        snprintf(r->patch_source, sizeof r->patch_source, "%s", fld[6]);
        r->px = atoi(fld[7]);
        r->py = atoi(fld[8]);
        r->pside = atoi(fld[9]);
        r->pturn = atoi(fld[10]);
    }
    fclose(f);
    return n;
}

/* The documented geometry (synth_images.h), written out again here. */
static void geometry(int w, int h, int S, int *c0, int *c_hi, int *bands)
{
    int s = w < h ? w : h, l = w < h ? h : w;
    double c = s / 4.0;
    c = c > 4.0 * S ? 4.0 * S : c;
    if (c < S)
        c = S < s ? S : s;
    c = c > l / 3.45 ? l / 3.45 : c;
    c = c > s / 1.15 ? s / 1.15 : c;
    *c0 = (int)floor(c);
    *c_hi = (int)floor(*c0 * 1.15);
    *bands = l / *c_hi;
}

static void test_crops_and_split(void)
{
    char dir[4400], path[4800];
    snprintf(dir, sizeof dir, "%s/a/tex", g_out);
    snprintf(path, sizeof path, "%s/crops.csv", dir);
    static row_t rows[256];
    size_t n = read_crops(path, rows, 256);
    CU_ASSERT_EQUAL_FATAL(n, N_TRAIN + N_GOOD + 6 * N_DEFECT);
    const char *names[2] = {"a.png", "sub/b.png"};
    ddad_image_t srcs[2] = {{0}}, cut = {0}, small = {0}, written = {0};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", g_src, names[k]);
        CU_ASSERT_FATAL(ddad_image_load(&srcs[k], path, DDAD_IMAGE_RGB) == DDAD_OK);
    }
    size_t used[2] = {0, 0}, overlaps = 0, misplaced = 0, wrong_pixels = 0, foreign_rows = 0;
    for (size_t i = 0; i < n; i++) {
        const row_t *r = &rows[i];
        int k = !strcmp(r->source, names[0]) ? 0 : !strcmp(r->source, names[1]) ? 1 : -1;
        CU_ASSERT_FATAL(k >= 0);
        used[k]++;
        const ddad_image_t *im = &srcs[k];
        int c0, c_hi, B;
        geometry(im->w, im->h, SIZE, &c0, &c_hi, &B);
        CU_ASSERT(r->side >= (int)floor(c0 / 1.15) && r->side <= c_hi);
        CU_ASSERT_FATAL(r->x >= 0 && r->y >= 0 && r->x + r->side <= im->w && r->y + r->side <= im->h);
        /* which bands the crop covers along the long axis: all training bands, or one test band */
        bool train = !strncmp(r->image, "train/", 6);
        int l = im->w >= im->h ? im->w : im->h, a = im->w >= im->h ? r->x : r->y;
        int tests = 0, trains = 0;
        for (int b = 0; b < B; b++) {
            int lo = (int)((int64_t)b * l / B), hi = (int)((int64_t)(b + 1) * l / B);
            if (a < hi && a + r->side > lo) {
                tests += b % 4 == 2;
                trains += b % 4 != 2;
            }
        }
        misplaced += train ? tests != 0 : (tests != 1 || trains != 0);
        /* the written image (for defects: its source) is that crop, resized */
        CU_ASSERT_FATAL(ddad_image_alloc(&cut, r->side, r->side, 3) == DDAD_OK);
        for (int y = 0; y < r->side; y++)
            memcpy(cut.data + (size_t)y * r->side * 3, im->data + ((size_t)(r->y + y) * im->w + r->x) * 3,
                   (size_t)r->side * 3);
        CU_ASSERT_FATAL(ddad_image_resize_bicubic(&cut, SIZE, SIZE, &small) == DDAD_OK);
        char img[600];
        if (!strncmp(r->image, "test/", 5) && strncmp(r->image, "test/good/", 10))
            snprintf(img, sizeof img, "test_source/%s", r->image + 5);
        else
            snprintf(img, sizeof img, "%s", r->image);
        snprintf(path, sizeof path, "%s/%s", dir, img);
        CU_ASSERT_FATAL(ddad_image_load(&written, path, DDAD_IMAGE_RGB) == DDAD_OK);
        wrong_pixels += memcmp(written.data, small.data, (size_t)3 * SIZE * SIZE) != 0;
        /* foreign patches came from the --foreign folder */
        if (strstr(r->image, "foreign_texture")) {
            foreign_rows++;
            CU_ASSERT_STRING_EQUAL(r->patch_from, "foreign");
            CU_ASSERT_STRING_EQUAL(r->patch_source, "x.png");
            CU_ASSERT(r->px >= 0 && r->py >= 0 && r->px + r->pside <= 160 && r->py + r->pside <= 150);
        } else {
            CU_ASSERT_STRING_EQUAL(r->patch_from, "");
        }
    }
    /* no training crop overlaps a test crop of the same source */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            const row_t *t = &rows[i], *u = &rows[j];
            if (strncmp(t->image, "train/", 6) || !strncmp(u->image, "train/", 6) || strcmp(t->source, u->source))
                continue;
            overlaps += t->x < u->x + u->side && u->x < t->x + t->side && t->y < u->y + u->side &&
                        u->y < t->y + t->side;
        }
    fprintf(stderr, "\n  crops from a.png %zu, sub/b.png %zu\n", used[0], used[1]);
    CU_ASSERT(used[0] > 0 && used[1] > 0);
    CU_ASSERT_EQUAL(overlaps, 0);
    CU_ASSERT_EQUAL(misplaced, 0);
    CU_ASSERT_EQUAL(wrong_pixels, 0);
    CU_ASSERT_EQUAL(foreign_rows, N_DEFECT);
    for (int k = 0; k < 2; k++)
        ddad_image_free(&srcs[k]);
    ddad_image_free(&cut);
    ddad_image_free(&small);
    ddad_image_free(&written);
}

/* ---- the library: one source, no foreign folder; the warning goes through the log callback ----- */

static char g_logged[4096];
static void keep_log(ddad_log_level_t level, const char *msg, void *user)
{
    (void)user;
    if (level >= DDAD_LOG_WARN)
        snprintf(g_logged + strlen(g_logged), sizeof g_logged - strlen(g_logged), "%s\n", msg);
}

static void test_library_single_source(void)
{
    char one[4400], out[4400], path[4800];
    snprintf(one, sizeof one, "%s/one", g_tmp);
    snprintf(out, sizeof out, "%s/lib", g_tmp);
    CU_ASSERT_FATAL(ddad_test_system("mkdir -p '%s' && cp '%s/a.png' '%s/only_bad/broken.png' '%s/'", one, g_src,
                                     g_tmp, one) == 0);
    ddad_synth_images_opts_t o = ddad_synth_images_opts_default();
    o.images = one;
    o.out = out;
    o.size = 32;
    o.n_train = 3;
    o.n_test_good = 1;
    o.n_test_defect = 2;
    o.seed = 4;
    const char *kinds[] = {"foreign_texture"};
    o.defects = kinds;
    o.n_defects = 1;
    g_logged[0] = 0;
    ddad_log_set_callback(keep_log, NULL);
    ddad_status_t st = ddad_synth_images_generate(&o, NULL, NULL);
    ddad_log_set_callback(NULL, NULL);
    CU_ASSERT_EQUAL_FATAL(st, DDAD_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(g_logged, "broken.png"));
    /* the category is named after the folder; the patch is the same image, turned */
    snprintf(path, sizeof path, "%s/one/crops.csv", out);
    static row_t rows[16];
    size_t n = read_crops(path, rows, 16);
    CU_ASSERT_EQUAL_FATAL(n, 6);
    CU_ASSERT_STRING_EQUAL(rows[4].patch_from, "self");
    CU_ASSERT_STRING_EQUAL(rows[4].patch_source, "a.png");
    CU_ASSERT_EQUAL(rows[4].pturn, 1);
    /* an unknown kind and a bad category name are usage errors; a folder with nothing usable is data */
    const char *nope[] = {"nope"};
    o.defects = nope;
    CU_ASSERT_EQUAL(ddad_synth_images_generate(&o, NULL, NULL), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "nope"));
    o.defects = NULL;
    o.category = "../x";
    CU_ASSERT_EQUAL(ddad_synth_images_generate(&o, NULL, NULL), DDAD_STATUS_USAGE);
    o.category = NULL;
    snprintf(path, sizeof path, "%s/only_bad", g_tmp);
    o.images = path;
    ddad_log_set_callback(keep_log, NULL);
    CU_ASSERT_EQUAL(ddad_synth_images_generate(&o, NULL, NULL), DDAD_STATUS_DATA);
    ddad_log_set_callback(NULL, NULL);
}

static void test_bad_arguments(void)
{
    const char *bin = ddad_test_bin_dir();
    char out[4400];
    snprintf(out, sizeof out, "%s/bad", g_tmp);
    /* data: a folder that does not exist, a folder with only a corrupt image */
    CU_ASSERT_EQUAL(
        ddad_test_system("'%s/ddad-synth' --from-images '%s/none' --out '%s' 2> /dev/null", bin, g_tmp, out), 4);
    CU_ASSERT_EQUAL(
        ddad_test_system("'%s/ddad-synth' --from-images '%s/only_bad' --out '%s' 2> /dev/null", bin, g_tmp, out), 4);
    /* usage */
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --from-images '%s' --out '%s' --defects scratch,nope "
                                     "2> /dev/null",
                                     bin, g_src, out),
                    2);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --from-images '%s' --out '%s' --category a/b 2> /dev/null", bin,
                                     g_src, out),
                    2);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --from-images '%s' --out '%s' --size 10 2> /dev/null", bin, g_src,
                                     out),
                    2);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --from-images '%s' --out '%s' --categories woven 2> /dev/null",
                                     bin, g_src, out),
                    2);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --out '%s' --category x 2> /dev/null", bin, out), 2);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --out '%s' --defects scratch 2> /dev/null", bin, out), 2);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --from-images 2> /dev/null", bin), 2);
    /* I/O: an existing folder it did not write is left alone */
    CU_ASSERT_FATAL(ddad_test_system("mkdir -p '%s/mine/train/good' && echo keep > '%s/mine/train/good/x.png'", out,
                                     out) == 0);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --from-images '%s' --out '%s' --category mine 2> /dev/null", bin,
                                     g_src, out),
                    5);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q keep '%s/mine/train/good/x.png'", out), 0);
    /* the built-in generator is unchanged by the new options */
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --out '%s/builtin' --size 32 --train 1 --test-good 0 "
                                     "--test-defect 0 --categories woven > /dev/null",
                                     bin, out),
                    0);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --help | grep -q -- --from-images", bin), 0);
}

int main(void)
{
    static const ddad_test_t tests[] = {
        {"same inputs and seed give identical bytes; a corrupt source is skipped", test_reproducible_and_skips_corrupt},
        {"masks are exactly the changed pixels", test_masks_are_changed_pixels},
        {"crops.csv is true and training crops never overlap test crops", test_crops_and_split},
        {"library: one source, self patches, log callback, statuses", test_library_single_source},
        {"bad arguments give the documented exit codes", test_bad_arguments},
        {0}};
    int rc = ddad_test_main("synth_images", tests);
    ddad_test_rmtree(g_tmp);
    free(g_tmp);
    return rc;
}
