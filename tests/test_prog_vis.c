/* tests/test_prog_vis.c - ddad-vis on a tiny run (synthetic data, 32 px, a
 * few training steps written by the trainer library): the PNGs exist, have
 * the sizes the grid arithmetic gives and are not constant; usage, a missing
 * run and a missing image fail with the documented exit codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "figure.h"
#include "image.h"
#include "nn/trainer.h"
#include "testutil.h"

static char *tmp;
static char sets[4096];
static char config[1024];

static void setup(void)
{
    tmp = ddad_test_mkdtemp("progvis");
    char root[1024], runs[1024];
    snprintf(root, sizeof root, "%s/synthetic", tmp);
    snprintf(runs, sizeof runs, "%s/runs", tmp);
    CU_ASSERT_EQUAL_FATAL(ddad_test_synth(root, "woven", 32, 8, 1, 1), 0);
    snprintf(config, sizeof config, "%s/configs/tiny.yaml", ddad_test_source_dir());
    char a[1100], b[1100];
    snprintf(a, sizeof a, "data.root=%s", root);
    snprintf(b, sizeof b, "run.dir=%s", runs);
    const char *ov[] = {a, b, "train.iterations=2", "train.checkpoint_every=2"};
    ddad_config_t cfg;
    CU_ASSERT_EQUAL_FATAL(ddad_config_load(&cfg, config, ov, 4), DDAD_OK);
    ddad_trainer_t *tr = NULL;
    ddad_trainer_opts_t to = ddad_trainer_opts_default();
    CU_ASSERT_EQUAL_FATAL(ddad_trainer_create(&tr, &cfg, &to), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_trainer_run(tr), DDAD_OK);
    ddad_trainer_free(tr);
    snprintf(sets, sizeof sets, "--set data.root=%s --set run.dir=%s", root, runs);
}

/* A PNG that exists with the expected size and more than one colour inside
 * its panels. */
static void check_png(const char *path, int w, int h)
{
    ddad_image_t img = {0};
    CU_ASSERT_EQUAL_FATAL(ddad_image_load(&img, path, DDAD_IMAGE_RGB), DDAD_OK);
    if (img.w != w || img.h != h)
        fprintf(stderr, "\n  %s: %d x %d, expected %d x %d\n", path, img.w, img.h, w, h);
    CU_ASSERT_EQUAL(img.w, w);
    CU_ASSERT_EQUAL(img.h, h);
    int distinct = 0;
    uint8_t seen[256] = {0};
    for (int i = 0; i < img.w * img.h; i++) {
        uint8_t g = img.data[i * 3 + 1];
        if (!seen[g]) {
            seen[g] = 1;
            distinct++;
        }
    }
    CU_ASSERT(distinct > 20);
    ddad_image_free(&img);
}

static void test_figures(void)
{
    char out[1100], path[1200];
    snprintf(out, sizeof out, "%s/figs", tmp);
    int rc = ddad_test_system("%s/ddad-vis %s %s --count 2 --out %s > %s/list.txt", ddad_test_bin_dir(), config,
                              sets, out, tmp);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    /* tiny.yaml: 32 px images shown in 96 px cells; records [0, 1, 2] of 2 rounds */
    ddad_figure_grid_opts_t o = ddad_figure_grid_opts_default();
    o.title = "t";
    int w, h;
    /* Figure 7: mask, input, round 1, final, clean source */
    ddad_figure_grid_size(1, 5, 96, 96, &o, &w, &h);
    snprintf(path, sizeof path, "%s/fig7_woven_colour_000.png", out);
    check_png(path, w, h);
    /* maps: 1 + 3 timesteps rows, 5 columns */
    ddad_figure_grid_size(4, 5, 96, 96, &o, &w, &h);
    snprintf(path, sizeof path, "%s/maps_woven_colour_000.png", out);
    check_png(path, w, h);
    snprintf(path, sizeof path, "%s/maps_woven_foreign_texture_000.png", out);
    check_png(path, w, h);
    /* contact sheet: 2 rows, input, mask, map, overlay, reconstruction */
    o.row_label_w = 6 * 22;
    ddad_figure_grid_size(2, 5, 96, 96, &o, &w, &h);
    snprintf(path, sizeof path, "%s/contact_sheet.png", out);
    check_png(path, w, h);
    /* the PaDiM fit is stored in the run folder */
    struct stat sb;
    snprintf(path, sizeof path, "%s/runs/mvtec/woven/padim.h5", tmp);
    CU_ASSERT_EQUAL(stat(path, &sb), 0);
    /* stdout lists the files written */
    snprintf(path, sizeof path, "%s/list.txt", tmp);
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    int lines = 0;
    char line[2048];
    while (fgets(line, sizeof line, f))
        lines += strstr(line, ".png") != NULL;
    fclose(f);
    CU_ASSERT_EQUAL(lines, 5);
}

static void test_errors(void)
{
    const char *bin = ddad_test_bin_dir();
    CU_ASSERT_EQUAL(ddad_test_system("%s/ddad-vis --help > /dev/null", bin), 0);
    CU_ASSERT_EQUAL(ddad_test_system("%s/ddad-vis > /dev/null 2>&1", bin), 2);
    CU_ASSERT_EQUAL(ddad_test_system("%s/ddad-vis %s --bogus > /dev/null 2>&1", bin, config), 2);
    CU_ASSERT_EQUAL(ddad_test_system("%s/ddad-vis %s --figures nope > /dev/null 2>&1", bin, config), 2);
    CU_ASSERT_EQUAL(ddad_test_system("%s/ddad-vis %s --count 2x 2>&1 | grep -q \"'2x' is not an integer in \\[1, 100000\\]\"",
                                     bin, config), 0);
    CU_ASSERT_EQUAL(ddad_test_system("%s/ddad-vis %s --count > /dev/null 2>&1", bin, config), 2);
    CU_ASSERT_EQUAL(ddad_test_system("%s/ddad-vis %s --set nope.key=1 > /dev/null 2>&1", bin, config), 3);
    /* a run that does not exist: data (4), and the message names the run */
    CU_ASSERT_EQUAL(ddad_test_system("%s/ddad-vis %s %s --set run.name=absent 2> %s/err.txt", bin, config, sets, tmp),
                    4);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'absent' %s/err.txt", tmp), 0);
    CU_ASSERT_EQUAL(ddad_test_system("%s/ddad-vis %s %s --image %s/none.png > /dev/null 2>&1", bin, config, sets, tmp),
                    4);
    /* other noise than the run was trained with: config (3), saying what to set */
    CU_ASSERT_EQUAL(ddad_test_system("%s/ddad-vis %s %s --set diffusion.noise=pyramid 2> %s/err.txt >/dev/null", bin,
                                     config, sets, tmp),
                    3);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'set diffusion.noise: white' %s/err.txt", tmp), 0);
}

static void teardown(void)
{
    ddad_test_rmtree(tmp);
    free(tmp);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"set-up: tiny run", setup},
                                        {"figures", test_figures},
                                        {"errors", test_errors},
                                        {"teardown", teardown},
                                        {NULL, NULL}};
    return ddad_test_main("ddad-vis", tests);
}
