/* tests/test_synth.c - the synthetic generator: same seed -> identical bytes,
 * masks equal the changed pixels, defect areas, and the ddad-synth program. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "image.h"
#include "synth.h"
#include "testutil.h"

static char *g_tmp;

static void test_determinism(void)
{
    g_tmp = ddad_test_mkdtemp("synth");
    CU_ASSERT_FATAL(g_tmp != NULL);
    const char *bin = ddad_test_bin_dir();
    const char *args = "--size 48 --train 3 --test-good 2 --test-defect 3";
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --out '%s/a' --seed 9 %s > '%s/a.log'", bin, g_tmp, args, g_tmp), 0);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --out '%s/b' --seed 9 %s > /dev/null", bin, g_tmp, args), 0);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --out '%s/c' --seed 10 %s > /dev/null", bin, g_tmp, args), 0);
    CU_ASSERT_EQUAL(ddad_test_system("diff -r '%s/a' '%s/b' > /dev/null", g_tmp, g_tmp), 0);
    CU_ASSERT_NOT_EQUAL(ddad_test_system("diff -r '%s/a' '%s/c' > /dev/null", g_tmp, g_tmp), 0);
    /* regenerating over an existing set gives the same bytes again */
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --out '%s/b' --seed 9 %s > /dev/null", bin, g_tmp, args), 0);
    CU_ASSERT_EQUAL(ddad_test_system("diff -r '%s/a' '%s/b' > /dev/null", g_tmp, g_tmp), 0);
    /* it prints what it wrote */
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'capsule_toy.*train *3' '%s/a.log'", g_tmp), 0);
    /* bad options */
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --out '%s/d' --categories nope 2> /dev/null", bin, g_tmp), 2);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --size x 2> /dev/null", bin), 2);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --size '' 2>&1 | grep -q \"'' is not an integer in \\[32, 1024\\]\"",
                                     bin), 0);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-synth' --train 2>&1 | grep -q -- '--train needs a value'", bin), 0);
}

static void test_masks_are_changed_pixels(void)
{
    char root[4200];
    snprintf(root, sizeof root, "%s/a", g_tmp);
    ddad_dataset_t *ds = NULL;
    CU_ASSERT_FATAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_MVTEC, root, NULL, 0) == DDAD_OK);
    CU_ASSERT_EQUAL(ddad_dataset_validate(ds), DDAD_OK);
    CU_ASSERT_EQUAL(ds->n_categories, 6);
    size_t nd = 0;
    double amin = 1, amax = 0;
    for (size_t i = 0; i < ds->n; i++) {
        const ddad_sample_t *s = &ds->samples[i];
        if (!s->label) {
            CU_ASSERT_PTR_NULL(s->source_path);
            continue;
        }
        nd++;
        CU_ASSERT_PTR_NOT_NULL_FATAL(s->source_path);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s->mask_path);
        ddad_image_t d = {0}, src = {0}, m = {0};
        CU_ASSERT_FATAL(ddad_image_load(&d, s->path, DDAD_IMAGE_RGB) == DDAD_OK);
        CU_ASSERT_FATAL(ddad_image_load(&src, s->source_path, DDAD_IMAGE_RGB) == DDAD_OK);
        CU_ASSERT_FATAL(ddad_image_load(&m, s->mask_path, DDAD_IMAGE_GRAY) == DDAD_OK);
        size_t N = (size_t)d.w * d.h, ones = 0, bad = 0;
        for (size_t k = 0; k < N; k++) {
            int changed = memcmp(d.data + 3 * k, src.data + 3 * k, 3) != 0;
            CU_ASSERT_FATAL(m.data[k] == 0 || m.data[k] == 255);
            bad += changed != (m.data[k] == 255);
            ones += m.data[k] == 255;
        }
        if (bad)
            fprintf(stderr, "\n  %s: %zu pixels where mask != changed\n", s->path, bad);
        CU_ASSERT_EQUAL(bad, 0);
        double a = (double)ones / N;
        amin = a < amin ? a : amin;
        amax = a > amax ? a : amax;
        ddad_image_free(&d);
        ddad_image_free(&src);
        ddad_image_free(&m);
    }
    CU_ASSERT_EQUAL(nd, 6 * 3 * 3);
    fprintf(stderr, "\n  defect areas %.3f%% .. %.3f%% of the image\n", 100 * amin, 100 * amax);
    CU_ASSERT(amin > 0 && amax <= 0.12);
    /* every category has three defect types, objects include missing_material */
    size_t n;
    const char *const *d = ddad_synth_defects("washer", &n);
    CU_ASSERT_EQUAL(n, 3);
    int has_missing = 0;
    for (size_t i = 0; i < n; i++)
        has_missing |= !strcmp(d[i], "missing_material");
    CU_ASSERT(has_missing);
    CU_ASSERT_EQUAL(ddad_dataset_count(ds, "washer", DDAD_SPLIT_TEST, 1), 9);
    ddad_dataset_free(ds);
}

static void test_area_range(void)
{
    /* the default 64 px set spans "well under 1%" to about 10% */
    ddad_synth_opts_t o = ddad_synth_opts_default();
    char out[4200];
    snprintf(out, sizeof out, "%s/big", g_tmp);
    o.out = out;
    o.n_train = 1;
    o.n_test_good = 0;
    o.n_test_defect = 12;
    o.seed = 3;
    double lo = 1, hi = 0;
    CU_ASSERT_FATAL(ddad_synth_generate(&o, NULL, NULL) == DDAD_OK);
    ddad_dataset_t *ds = NULL;
    CU_ASSERT_FATAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_MVTEC, out, NULL, 0) == DDAD_OK);
    for (size_t i = 0; i < ds->n; i++) {
        if (!ds->samples[i].mask_path)
            continue;
        ddad_image_t m = {0};
        CU_ASSERT_FATAL(ddad_image_load(&m, ds->samples[i].mask_path, DDAD_IMAGE_GRAY) == DDAD_OK);
        size_t ones = 0;
        for (int k = 0; k < m.w * m.h; k++)
            ones += m.data[k] > 127;
        double a = (double)ones / (m.w * m.h);
        lo = a < lo ? a : lo;
        hi = a > hi ? a : hi;
        ddad_image_free(&m);
    }
    fprintf(stderr, "\n  64 px: defect areas %.3f%% .. %.3f%%\n", 100 * lo, 100 * hi);
    CU_ASSERT(lo < 0.005);
    CU_ASSERT(hi > 0.05 && hi <= 0.12);
    ddad_dataset_free(ds);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"same seed gives identical bytes", test_determinism},
                                        {"masks are exactly the changed pixels", test_masks_are_changed_pixels},
                                        {"defect areas span under 1% to about 10%", test_area_range},
                                        {0}};
    int rc = ddad_test_main("synth", tests);
    ddad_test_rmtree(g_tmp);
    free(g_tmp);
    return rc;
}
