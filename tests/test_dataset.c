/* tests/test_dataset.c - each reader on small trees built here, and the
 * validation failures (missing category, empty train set, missing mask,
 * wrong-size mask, truncated image). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "image.h"
#include "testutil.h"

static char *g_tmp;

static void png(const char *root, const char *rel, int w, int h, int c)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", p);
    *strrchr(dir, '/') = 0;
    ddad_test_system("mkdir -p '%s'", dir);
    ddad_image_t im = {0};
    CU_ASSERT_FATAL(ddad_image_alloc(&im, w, h, c) == DDAD_OK);
    for (size_t i = 0; i < (size_t)w * h * c; i++)
        im.data[i] = (uint8_t)(i * 7);
    CU_ASSERT_FATAL(ddad_image_write_png(&im, p) == DDAD_OK);
    ddad_image_free(&im);
}

static char *mk(const char *name)
{
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/%s", g_tmp, name);
    ddad_test_system("mkdir -p '%s'", p);
    return p;
}

static void mvtec_tree(const char *r, const char *cat)
{
    char p[512];
    const char *rels[] = {"train/good/000.png", "train/good/001.png", "test/good/000.png", "test/crack/000.png",
                          "test/crack/001.png", "ground_truth/crack/000_mask.png",
                          "ground_truth/crack/001_mask.png", "test/scratch/000.png",
                          "ground_truth/scratch/000_mask.png"};
    for (int i = 0; i < 9; i++) {
        snprintf(p, sizeof p, "%s/%s", cat, rels[i]);
        png(r, p, 16, 12, strstr(rels[i], "mask") ? 1 : 3);
    }
}

static void test_mvtec(void)
{
    g_tmp = ddad_test_mkdtemp("dataset");
    char *r = mk("mvtec");
    mvtec_tree(r, "zipper");
    mvtec_tree(r, "bottle");
    ddad_dataset_t *ds = NULL;
    CU_ASSERT_FATAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_MVTEC, r, NULL, 0) == DDAD_OK);
    CU_ASSERT_EQUAL(ds->n_categories, 2);
    CU_ASSERT_STRING_EQUAL(ds->categories[0], "bottle");
    CU_ASSERT_EQUAL(ds->n, 12);
    CU_ASSERT_TRUE(ds->has_masks);
    CU_ASSERT_EQUAL(ddad_dataset_validate(ds), DDAD_OK);
    const ddad_sample_t *s = &ds->samples[2]; /* bottle: train 000, 001, then test crack 000 */
    CU_ASSERT_STRING_EQUAL(s->name, "test/crack/000.png");
    CU_ASSERT_STRING_EQUAL(s->defect, "crack");
    CU_ASSERT_EQUAL(s->label, 1);
    CU_ASSERT_PTR_NOT_NULL(s->mask_path && strstr(s->mask_path, "ground_truth/crack/000_mask.png"));
    CU_ASSERT_PTR_NULL(s->source_path);
    CU_ASSERT_EQUAL(s->width, 16);
    CU_ASSERT_EQUAL(ddad_dataset_count(ds, "zipper", DDAD_SPLIT_TEST, 1), 3);
    CU_ASSERT_EQUAL(ddad_dataset_count(ds, NULL, DDAD_SPLIT_TRAIN, -1), 4);
    const ddad_sample_t **sel;
    size_t n;
    CU_ASSERT_EQUAL(ddad_dataset_select(ds, "bottle", DDAD_SPLIT_TEST, &sel, &n), DDAD_OK);
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_STRING_EQUAL(sel[3]->name, "test/scratch/000.png");
    free(sel);
    ddad_dataset_free(ds);

    /* a missing category lists the present ones */
    const char *cats[] = {"bottle", "carpet"};
    CU_ASSERT_EQUAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_MVTEC, r, cats, 2), DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NULL(ds);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "'carpet'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "bottle, zipper"));
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/nowhere", r);
    CU_ASSERT_EQUAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_MVTEC, missing, NULL, 0), DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "nowhere"));

    /* wrong-size mask: found by validation */
    png(r, "zipper/ground_truth/scratch/000_mask.png", 15, 12, 1);
    CU_ASSERT_FATAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_MVTEC, r, NULL, 0) == DDAD_OK);
    CU_ASSERT_EQUAL(ddad_dataset_validate(ds), DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "000_mask.png: mask is 15x12"));
    ddad_dataset_free(ds);
    png(r, "zipper/ground_truth/scratch/000_mask.png", 16, 12, 1);

    /* truncated image: found by validation */
    CU_ASSERT_EQUAL(ddad_test_system("truncate -s 60 '%s/zipper/test/good/000.png'", r), 0);
    CU_ASSERT_FATAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_MVTEC, r, NULL, 0) == DDAD_OK);
    CU_ASSERT_EQUAL(ddad_dataset_validate(ds), DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "zipper/test/good/000.png: truncated"));
    ddad_dataset_free(ds);

    /* missing mask: found by indexing */
    ddad_test_system("rm '%s/bottle/ground_truth/crack/001_mask.png'", r);
    CU_ASSERT_EQUAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_MVTEC, r, cats, 1), DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "bottle/test/crack/001.png: anomalous test image has no mask"));

    /* empty category */
    char *e = mk("mvtec/empty/train/good");
    free(e);
    const char *ec[] = {"empty"};
    CU_ASSERT_EQUAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_MVTEC, r, ec, 1), DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "empty/train/good: no training images"));
    free(r);
}

static void test_btad(void)
{
    char *r = mk("btad");
    png(r, "01/train/ok/0000.bmp", 10, 10, 3); /* a PNG under a .bmp name: sniffed by content */
    png(r, "01/train/ok/0001.png", 10, 10, 3);
    png(r, "01/test/ok/0000.png", 10, 10, 3);
    png(r, "01/test/ko/0003.png", 10, 10, 3);
    png(r, "01/ground_truth/ko/0003.png", 10, 10, 1);
    ddad_dataset_t *ds = NULL;
    CU_ASSERT_FATAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_BTAD, r, NULL, 0) == DDAD_OK);
    CU_ASSERT_EQUAL(ds->n, 4);
    CU_ASSERT_EQUAL(ddad_dataset_validate(ds), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(ds->samples[3].name, "test/ko/0003.png");
    CU_ASSERT_STRING_EQUAL(ds->samples[3].defect, "ko");
    CU_ASSERT_PTR_NOT_NULL(ds->samples[3].mask_path);
    CU_ASSERT_STRING_EQUAL(ds->samples[2].defect, "good");
    ddad_dataset_free(ds);
    free(r);
}

static void test_folder(void)
{
    char *r = mk("folder");
    png(r, "parts/train/a.png", 9, 9, 3);
    png(r, "parts/test/normal/b.png", 9, 9, 3);
    png(r, "parts/test/abnormal/c.png", 9, 9, 3);
    ddad_dataset_t *ds = NULL;
    CU_ASSERT_FATAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_FOLDER, r, NULL, 0) == DDAD_OK);
    CU_ASSERT_EQUAL(ds->n, 3);
    CU_ASSERT_FALSE(ds->has_masks);
    CU_ASSERT_PTR_NULL(ds->samples[1].mask_path);
    CU_ASSERT_EQUAL(ds->samples[1].label, 1);
    ddad_dataset_free(ds);
    png(r, "parts/masks/c.png", 9, 9, 1);
    CU_ASSERT_FATAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_FOLDER, r, NULL, 0) == DDAD_OK);
    CU_ASSERT_TRUE(ds->has_masks);
    CU_ASSERT_PTR_NOT_NULL(ds->samples[1].mask_path);
    ddad_dataset_free(ds);
    free(r);
}

static void test_visa_raw(void)
{
    char *r = mk("visa");
    png(r, "candle/Data/Images/Normal/0000.JPG", 12, 8, 3);
    png(r, "candle/Data/Images/Normal/0001.JPG", 12, 8, 3);
    png(r, "candle/Data/Images/Normal/0002.JPG", 12, 8, 3);
    png(r, "candle/Data/Images/Anomaly/000.JPG", 12, 8, 3);
    png(r, "candle/Data/Masks/Anomaly/000.png", 12, 8, 1);
    png(r, "fryum/Data/Images/Normal/0000.JPG", 12, 8, 3);
    png(r, "fryum/Data/Images/Normal/0001.JPG", 12, 8, 3);
    char p[4200];
    snprintf(p, sizeof p, "%s/split_csv/1cls.csv", r);
    ddad_test_system("mkdir -p '%s/split_csv'", r);
    FILE *f = fopen(p, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs("object,split,label,image,mask\n"
          "candle,train,normal,candle/Data/Images/Normal/0001.JPG,\n"
          "candle,train,normal,candle/Data/Images/Normal/0000.JPG,\n"
          "candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png\n"
          "candle,test,normal,candle/Data/Images/Normal/0002.JPG,\n"
          "fryum,train,normal,fryum/Data/Images/Normal/0000.JPG,\n"
          "fryum,test,normal,fryum/Data/Images/Normal/0001.JPG,\n",
          f);
    fclose(f);
    ddad_dataset_t *ds = NULL;
    const char *cats[] = {"candle"};
    CU_ASSERT_FATAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_VISA, r, cats, 1) == DDAD_OK);
    CU_ASSERT_EQUAL(ds->n, 4);
    CU_ASSERT_EQUAL(ds->mask_threshold, 0);
    CU_ASSERT_STRING_EQUAL(ds->samples[0].name, "train/good/0000.JPG");
    CU_ASSERT_STRING_EQUAL(ds->samples[2].name, "test/bad/000.JPG");
    CU_ASSERT_EQUAL(ds->samples[2].label, 1);
    CU_ASSERT_EQUAL(ddad_dataset_validate(ds), DDAD_OK);
    ddad_dataset_free(ds);

    /* the converter to the MVTec layout, then the MVTec reader on its output */
    char out[4200];
    snprintf(out, sizeof out, "%s/visa_mvtec", g_tmp);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-visa-convert' '%s' '%s' > /dev/null", ddad_test_bin_dir(), r, out), 0);
    CU_ASSERT_FATAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_MVTEC, out, NULL, 0) == DDAD_OK);
    CU_ASSERT_EQUAL(ds->n, 6);
    CU_ASSERT_EQUAL(ddad_dataset_count(ds, "candle", DDAD_SPLIT_TEST, 1), 1);
    CU_ASSERT_EQUAL(ddad_dataset_validate(ds), DDAD_OK);
    ddad_dataset_free(ds);
    free(r);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"MVTec reader and validation errors", test_mvtec},
                                        {"BTAD reader", test_btad},
                                        {"generic folder reader, with and without masks", test_folder},
                                        {"raw VisA reader and converter", test_visa_raw},
                                        {0}};
    int rc = ddad_test_main("dataset", tests);
    ddad_test_rmtree(g_tmp);
    free(g_tmp);
    return rc;
}
