/* tests/test_mapsfile.c - the maps file (core/io/mapsfile.h) round trip, its
 * layout as h5py sees it, complete-or-absent writing, and the report
 * (core/report/report.h): metrics from a maps file against the NumPy/sklearn
 * reference (experiments/bench/metrics_reference.py), table/CSV/JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5io.h"
#include "mapsfile.h"
#include "report.h"
#include "testutil.h"

enum { N = 6, H = 12, W = 10, T = 3 };

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static double rnd_unit(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Test data: maps (N,H,W), masks (N,H,W) with a rectangle on odd images,
 * kl/feat (N,T,H,W). */
typedef struct data {
    float maps[N * H * W];
    uint8_t masks[N * H * W];
    float kl[N * T * H * W], feat[N * T * H * W];
    float scores[N];
    uint8_t labels[N];
    char names[N][32];
} data_t;

static void make_data(data_t *d)
{
    for (int i = 0; i < N; i++) {
        d->labels[i] = i % 2;
        d->scores[i] = (float)rnd_unit();
        snprintf(d->names[i], sizeof d->names[i], "%s/%03d", i % 2 ? "crack" : "good", i);
        for (int k = 0; k < H * W; k++) {
            int y = k / W, x = k % W;
            uint8_t m = (i % 2) && y >= 3 && y < 3 + i && x >= 2 && x < 6;
            d->masks[i * H * W + k] = m ? 255 : 0;
            d->maps[i * H * W + k] = (float)(rnd_unit() + (m ? 0.5 : 0.0));
        }
    }
    for (int k = 0; k < N * T * H * W; k++) {
        d->kl[k] = (float)rnd_unit();
        d->feat[k] = (float)-rnd_unit();
    }
}

static ddad_status_t write_file(const char *path, const data_t *d, bool scores, int64_t timesteps, int rows,
                                int compress)
{
    static const int64_t ts[T] = {5, 50, 100};
    ddad_mapsfile_spec_t spec = {.category = "screw", .resolution = "model", .n = N, .h = H, .w = W,
                                 .has_scores = scores, .num_timesteps = timesteps, .timesteps = ts,
                                 .compress_level = compress};
    ddad_mapsfile_writer_t *w;
    ddad_status_t st = ddad_mapsfile_create(&w, path, &spec);
    if (st != DDAD_OK)
        return st;
    if ((st = ddad_mapsfile_set_attr(w, "config.alpha", "0.5")) != DDAD_OK)
        goto done;
    for (int i = 0; i < rows && st == DDAD_OK; i++) {
        ddad_mapsfile_row_t row = {.name = d->names[i], .label = d->labels[i], .score = d->scores[i],
                                   .map = d->maps + i * H * W, .mask = d->masks + i * H * W,
                                   .kl_maps = d->kl + i * T * H * W, .feat_maps = d->feat + i * T * H * W};
        st = ddad_mapsfile_append(w, &row);
    }
    if (st == DDAD_OK)
        st = ddad_mapsfile_finish(w);
done:
    ddad_mapsfile_writer_free(w);
    return st;
}

static char *tmp_path(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static void test_round_trip(void)
{
    static data_t d;
    make_data(&d);
    char *dir = ddad_test_mkdtemp("mapsfile");
    char *path = tmp_path(dir, "maps.h5");
    for (int compress = 0; compress <= 4; compress += 4) {
        CU_ASSERT_EQUAL_FATAL(write_file(path, &d, true, T, N, compress), DDAD_OK);
        ddad_mapsfile_t *f;
        CU_ASSERT_EQUAL_FATAL(ddad_mapsfile_open(&f, path), DDAD_OK);
        const ddad_mapsfile_info_t *in = ddad_mapsfile_info(f);
        CU_ASSERT_STRING_EQUAL(in->category, "screw");
        CU_ASSERT_STRING_EQUAL(in->resolution, "model");
        CU_ASSERT(in->n == N && in->h == H && in->w == W && in->num_timesteps == T);
        CU_ASSERT(in->timesteps && in->timesteps[0] == 5 && in->timesteps[2] == 100);
        CU_ASSERT_PTR_NOT_NULL_FATAL(in->scores);
        CU_ASSERT_EQUAL(memcmp(in->scores, d.scores, sizeof d.scores), 0);
        CU_ASSERT_EQUAL(memcmp(in->labels, d.labels, sizeof d.labels), 0);
        for (int i = 0; i < N; i++)
            CU_ASSERT_STRING_EQUAL(in->names[i], d.names[i]);
        float map[H * W], steps[T * H * W];
        uint8_t mask[H * W];
        for (int i = 0; i < N; i++) {
            CU_ASSERT_EQUAL(ddad_mapsfile_read_image(f, i, map, mask), DDAD_OK);
            CU_ASSERT_EQUAL(memcmp(map, d.maps + i * H * W, sizeof map), 0);
            CU_ASSERT_EQUAL(memcmp(mask, d.masks + i * H * W, sizeof mask), 0);
            CU_ASSERT_EQUAL(ddad_mapsfile_read_steps(f, i, "kl_maps", steps), DDAD_OK);
            CU_ASSERT_EQUAL(memcmp(steps, d.kl + i * T * H * W, sizeof steps), 0);
            CU_ASSERT_EQUAL(ddad_mapsfile_read_steps(f, i, "feat_maps", steps), DDAD_OK);
            CU_ASSERT_EQUAL(memcmp(steps, d.feat + i * T * H * W, sizeof steps), 0);
        }
        CU_ASSERT_EQUAL(ddad_mapsfile_read_image(f, N, map, mask), DDAD_STATUS_USAGE);
        CU_ASSERT_EQUAL(ddad_mapsfile_read_steps(f, 0, "maps", steps), DDAD_STATUS_USAGE);
        char *v = NULL;
        CU_ASSERT_EQUAL(ddad_mapsfile_get_attr(f, "config.alpha", &v), DDAD_OK);
        CU_ASSERT(v && !strcmp(v, "0.5"));
        free(v);
        CU_ASSERT_EQUAL(ddad_mapsfile_get_attr(f, "config.nope", &v), DDAD_STATUS_DATA);
        ddad_mapsfile_close(f);
    }
    /* without scores and timesteps */
    CU_ASSERT_EQUAL_FATAL(write_file(path, &d, false, 0, N, 0), DDAD_OK);
    ddad_mapsfile_t *f;
    CU_ASSERT_EQUAL_FATAL(ddad_mapsfile_open(&f, path), DDAD_OK);
    CU_ASSERT_PTR_NULL(ddad_mapsfile_info(f)->scores);
    CU_ASSERT_EQUAL(ddad_mapsfile_info(f)->num_timesteps, 0);
    float steps[T * H * W];
    CU_ASSERT_EQUAL(ddad_mapsfile_read_steps(f, 0, "kl_maps", steps), DDAD_STATUS_DATA);
    ddad_mapsfile_close(f);
    ddad_test_rmtree(dir);
    free(path);
    free(dir);
}

/* h5py reads the documented layout. */
static void test_layout_with_h5py(void)
{
    static data_t d;
    make_data(&d);
    char *dir = ddad_test_mkdtemp("mapsfile");
    char *path = tmp_path(dir, "maps.h5"), *script = tmp_path(dir, "check.py");
    CU_ASSERT_EQUAL_FATAL(write_file(path, &d, true, T, N, 0), DDAD_OK);
    FILE *s = fopen(script, "w");
    CU_ASSERT_FATAL(s != NULL);
    fprintf(s, "import sys, h5py, numpy as np\n"
               "f = h5py.File(sys.argv[1], 'r')\n"
               "a = lambda k: f.attrs[k].decode() if isinstance(f.attrs[k], bytes) else f.attrs[k]\n"
               "assert a('format') == 'ddad-maps' and int(a('format_version')) == 1\n"
               "assert a('category') == 'screw' and a('resolution') == 'model' and a('config.alpha') == '0.5'\n"
               "assert f['maps'].dtype == np.float32 and f['maps'].shape == (%d, %d, %d)\n"
               "assert f['masks'].dtype == np.uint8 and f['masks'].shape == (%d, %d, %d)\n"
               "assert f['labels'].dtype == np.uint8 and list(f['labels'][()]) == [0, 1, 0, 1, 0, 1]\n"
               "assert f['scores'].dtype == np.float32 and f['scores'].shape == (%d,)\n"
               "assert f['kl_maps'].shape == (%d, %d, %d, %d) and f['feat_maps'].dtype == np.float32\n"
               "t = f['kl_maps'].attrs['timesteps']\n"
               "assert (t.decode() if isinstance(t, bytes) else t) == '5,50,100'\n"
               "assert list(f['timesteps'][()]) == [5, 50, 100]\n"
               "n = [x.decode() if isinstance(x, bytes) else x for x in f['names'][()]]\n"
               "assert n[1] == 'crack/001', n\n"
               "assert f['masks'][3].max() == 255 and abs(float(f['maps'][2, 4, 5]) - %.9g) < 1e-7\n",
            N, H, W, N, H, W, N, N, T, H, W, (double)d.maps[2 * H * W + 4 * W + 5]);
    fclose(s);
    CU_ASSERT_EQUAL(ddad_test_system("'%s' '%s' '%s'", ddad_test_python(), script, path), 0);
    ddad_test_rmtree(dir);
    free(path);
    free(script);
    free(dir);
}

/* An unfinished writer leaves no file; a short file refuses to finish; a
 * foreign HDF5 file is refused with a clear message. */
static void test_complete_or_absent(void)
{
    static data_t d;
    make_data(&d);
    char *dir = ddad_test_mkdtemp("mapsfile");
    char *path = tmp_path(dir, "maps.h5"), *partial = tmp_path(dir, "maps.h5.partial");
    CU_ASSERT_EQUAL(write_file(path, &d, true, 0, N - 1, 0), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "5 of 6 rows"));
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
    CU_ASSERT_NOT_EQUAL(access(partial, F_OK), 0);
    ddad_mapsfile_spec_t bad = {.category = "screw", .resolution = "native", .n = 1, .h = 1, .w = 1};
    ddad_mapsfile_writer_t *w = NULL;
    CU_ASSERT_EQUAL(ddad_mapsfile_create(&w, path, &bad), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NULL(w);
    bad.resolution = "original";
    CU_ASSERT_EQUAL_FATAL(ddad_mapsfile_create(&w, path, &bad), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_mapsfile_set_attr(w, "format", "x"), DDAD_STATUS_USAGE);
    ddad_mapsfile_writer_free(w);
    CU_ASSERT_NOT_EQUAL(access(partial, F_OK), 0);

    ddad_h5_t *h5;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&h5, path, DDAD_H5_CREATE), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_set_attr_str(h5, "/", "format", "ddad-checkpoint"), DDAD_OK);
    ddad_h5_close(h5);
    ddad_mapsfile_t *f = NULL;
    CU_ASSERT_EQUAL(ddad_mapsfile_open(&f, path), DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "ddad-checkpoint"));
    CU_ASSERT_PTR_NULL(f);
    ddad_test_rmtree(dir);
    free(path);
    free(partial);
    free(dir);
}

static double ref_value(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    char name[64];
    double v, out = NAN;
    while (f && fscanf(f, "%63s %lf", name, &v) == 2)
        if (!strcmp(name, key))
            out = v;
    if (f)
        fclose(f);
    return out;
}

/* ddad_metrics_from_mapsfile vs the reference on the same file, with and
 * without /scores. */
static void test_metrics_from_mapsfile(void)
{
    static data_t d;
    make_data(&d);
    char *dir = ddad_test_mkdtemp("mapsfile");
    char *path = tmp_path(dir, "maps.h5"), *ref = tmp_path(dir, "ref.txt");
    for (int with_scores = 0; with_scores < 2; with_scores++) {
        CU_ASSERT_EQUAL_FATAL(write_file(path, &d, with_scores, 0, N, 0), DDAD_OK);
        ddad_metrics_record_t rec;
        CU_ASSERT_EQUAL_FATAL(ddad_metrics_from_mapsfile(path, 0.3, &rec), DDAD_OK);
        int rc = ddad_test_system("'%s' '%s/experiments/bench/metrics_reference.py' h5 --maps %s --limit 0.3 --out %s",
                                  ddad_test_python(), ddad_test_source_dir(), path, ref);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT_STRING_EQUAL(rec.category, "screw");
        CU_ASSERT_EQUAL(rec.images, N);
        CU_ASSERT(fabs(rec.pixel_auroc - ref_value(ref, "pixel_auroc")) < 1e-9);
        CU_ASSERT(fabs(rec.au_pro - ref_value(ref, "au_pro")) < 1e-9);
        CU_ASSERT(fabs(rec.pixel_f1_max - ref_value(ref, "pixel_f1_max")) < 1e-9);
        CU_ASSERT(fabs(rec.image_auroc - ref_value(ref, "image_auroc")) < 1e-12);
        CU_ASSERT(fabs(rec.image_f1_max - ref_value(ref, "image_f1_max")) < 1e-12);
        CU_ASSERT_PTR_NOT_NULL(strstr(rec.notes, with_scores ? "/scores" : "max of each map"));
    }
    ddad_test_rmtree(dir);
    free(path);
    free(ref);
    free(dir);
}

/* Table, CSV and JSON of two records, one with undefined metrics; JSON and
 * CSV are parsed by python. */
static void test_report_formats(void)
{
    ddad_metrics_record_t r[2] = {{.category = "bottle", .images = 83, .image_auroc = 0.99512, .pixel_auroc = 0.9812,
                                   .au_pro = 0.9304, .au_pro_limit = 0.3, .pixel_f1_max = 0.7, .pixel_f1_threshold = 1.5,
                                   .image_f1_max = 0.98, .image_f1_threshold = 2.0},
                                  {.category = "cable \"x\"", .images = 10, .image_auroc = NAN, .pixel_auroc = 0.9,
                                   .au_pro = 0.8, .au_pro_limit = 0.3, .pixel_f1_max = 0.5, .pixel_f1_threshold = 1.0,
                                   .image_f1_max = 1.0, .image_f1_threshold = 0.5, .notes = "no good image"}};
    char *dir = ddad_test_mkdtemp("report");
    char *tab = tmp_path(dir, "t.txt"), *csv = tmp_path(dir, "t.csv"), *json = tmp_path(dir, "t.json");
    const char *paths[3] = {tab, csv, json};
    for (int k = 0; k < 3; k++) {
        FILE *f = fopen(paths[k], "w");
        CU_ASSERT_FATAL(f != NULL);
        CU_ASSERT_EQUAL(ddad_report_write(f, r, 2, (ddad_report_format_t)k), DDAD_OK);
        fclose(f);
    }
    char buf[4096] = {0};
    FILE *f = fopen(tab, "r");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT(fread(buf, 1, sizeof buf - 1, f) > 0);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "99.5")); /* bottle image AUROC in percent */
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "86.5")); /* mean AU-PRO (93.04 + 80) / 2 */
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "mean"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "no good image"));
    int rc = ddad_test_system(
        "'%s' -c \"import json, csv, math, sys; j = json.load(open('%s')); "
        "assert len(j) == 2 and j[1]['image_auroc'] is None and j[0]['au_pro'] == 0.9304, j; "
        "assert j[1]['category'] == 'cable \\\"x\\\"' and j[0]['au_pro_limit'] == 0.3 and j[0]['pixel_f1_max'] == 0.7; "
        "rows = list(csv.DictReader(open('%s'))); "
        "assert rows[1]['image_auroc'] == '' and float(rows[0]['pixel_auroc']) == 0.9812 and rows[1]['notes'] == 'no good image', rows\"",
        ddad_test_python(), json, csv);
    CU_ASSERT_EQUAL(rc, 0);
    ddad_report_format_t fmt;
    CU_ASSERT_EQUAL(ddad_report_format_parse("json", &fmt), DDAD_OK);
    CU_ASSERT_EQUAL(fmt, DDAD_REPORT_JSON);
    CU_ASSERT_EQUAL(ddad_report_format_parse("xml", &fmt), DDAD_STATUS_USAGE);
    ddad_test_rmtree(dir);
    free(tab);
    free(csv);
    free(json);
    free(dir);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"round trip", test_round_trip},
                                        {"layout read by h5py", test_layout_with_h5py},
                                        {"complete or absent, foreign files", test_complete_or_absent},
                                        {"metrics from a maps file vs reference", test_metrics_from_mapsfile},
                                        {"report table, CSV, JSON", test_report_formats},
                                        {0}};
    if (!ddad_test_python_has("numpy,scipy,sklearn,h5py")) {
        fprintf(stderr, "test_mapsfile: %s cannot import numpy, scipy, sklearn and h5py\n", ddad_test_python());
        return 1;
    }
    return ddad_test_main("mapsfile", tests);
}
