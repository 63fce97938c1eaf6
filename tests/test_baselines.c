/* tests/test_baselines.c - ddad-baselines (experiments/baselines) on a tiny
 * synthetic set (64-px images evaluated at 32 px, so the resizing path runs):
 *   - command line and exit codes;
 *   - the meandiff maps against numpy on images read and resized by PIL;
 *   - the patchnn nearest-neighbour distances against torch.cdist (float64,
 *     no matmul shortcut) on the dumped features and bank, and the maps
 *     against F.interpolate + a separable Gaussian (scipy, mirror padding);
 *   - the dumped test features and memory bank against the extractor that
 *     ddad_model_create builds for ddad's feature head (same backbone);
 *   - the printed metrics against core/metrics on the dumped maps. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dataset.h"
#include "h5io.h"
#include "loader.h"
#include "metrics.h"
#include "nn/model.h"
#include "testutil.h"

#define CAT "washer"
#define S 32 /* tiny.yaml: data.image_size          */
#define G 8  /* tiny.yaml: features.score_size      */

static char *g_dir;
static char g_cfg[4200], g_dump[4200], g_csv[4200], g_json[4200];
static bool g_ready, g_ran;
static int64_t g_n, g_n_defect, g_n_train; /* test images, defective ones, training images */

#define PROG "'%s/ddad-baselines'"

static bool setup(void)
{
    if (g_ready)
        return true;
    g_dir = ddad_test_mkdtemp("baselines");
    if (!g_dir)
        return false;
    char root[4200];
    snprintf(root, sizeof root, "%s/synthetic", g_dir);
    if (ddad_test_synth(root, CAT, 64, 6, 3, 2) != 0)
        return false;
    snprintf(g_cfg, sizeof g_cfg, "%s/cfg.yaml", g_dir);
    FILE *f = fopen(g_cfg, "w");
    if (!f)
        return false;
    fprintf(f, "base: %s/configs/tiny.yaml\ndata:\n  root: %s\n  category: %s\n", ddad_test_source_dir(), root, CAT);
    fclose(f);
    snprintf(g_dump, sizeof g_dump, "%s/dump.h5", g_dir);
    snprintf(g_csv, sizeof g_csv, "%s/out.csv", g_dir);
    snprintf(g_json, sizeof g_json, "%s/out.json", g_dir);
    g_ready = true;
    return true;
}

/* The full run, once: CSV on stdout, JSON to --out, the dump. */
static bool run_once(void)
{
    if (g_ran)
        return true;
    if (!setup())
        return false;
    int rc = ddad_test_system(PROG " '%s' --format csv --out '%s' --dump '%s' > '%s' 2> '%s/err.txt'",
                              ddad_test_bin_dir(), g_cfg, g_json, g_dump, g_csv, g_dir);
    if (rc != 0) {
        fprintf(stderr, "\n  ddad-baselines exited with %d:\n", rc);
        ddad_test_system("cat '%s/err.txt' >&2", g_dir);
        return false;
    }
    ddad_dataset_t *ds = NULL;
    char root[4200];
    snprintf(root, sizeof root, "%s/synthetic", g_dir);
    const char *cat = CAT;
    if (ddad_dataset_index(&ds, DDAD_DATA_FORMAT_MVTEC, root, &cat, 1) != DDAD_OK)
        return false;
    g_n = (int64_t)ddad_dataset_count(ds, CAT, DDAD_SPLIT_TEST, -1);
    g_n_defect = (int64_t)ddad_dataset_count(ds, CAT, DDAD_SPLIT_TEST, 1);
    g_n_train = (int64_t)ddad_dataset_count(ds, CAT, DDAD_SPLIT_TRAIN, -1);
    ddad_dataset_free(ds);
    g_ran = g_n > g_n_defect && g_n_defect > 0 && g_n_train == 6;
    return g_ran;
}

/* ---- CSV ------------------------------------------------------------------------ */

typedef struct row {
    double image_auroc, pixel_auroc, au_pro, pixel_f1_max, image_f1_max, images, grid;
} row_t;

/* Fills r from the CSV line of `method` (columns found by header name). */
static bool csv_row(const char *path, const char *method, row_t *r)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char header[2048], line[4096];
    bool found = false;
    if (!fgets(header, sizeof header, f)) {
        fclose(f);
        return false;
    }
    char want[64];
    snprintf(want, sizeof want, ",%s,", method);
    while (!found && fgets(line, sizeof line, f)) {
        if (!strstr(line, want))
            continue;
        found = true;
        /* walk header and line in step over the leading unquoted numeric columns */
        char *h = header, *l = strstr(line, want) + strlen(want);
        h = strchr(strchr(h, ',') + 1, ',') + 1; /* skip "category,method," */
        r->grid = NAN;
        for (int k = 0; k < 16 && h && l; k++) {
            char name[64];
            size_t n = strcspn(h, ",\n");
            snprintf(name, sizeof name, "%.*s", (int)n, h);
            double v = *l == ',' ? NAN : strtod(l, NULL);
            if (!strcmp(name, "image_auroc")) r->image_auroc = v;
            else if (!strcmp(name, "pixel_auroc")) r->pixel_auroc = v;
            else if (!strcmp(name, "au_pro")) r->au_pro = v;
            else if (!strcmp(name, "pixel_f1_max")) r->pixel_f1_max = v;
            else if (!strcmp(name, "image_f1_max")) r->image_f1_max = v;
            else if (!strcmp(name, "images")) r->images = v;
            else if (!strcmp(name, "grid")) r->grid = v;
            h = strchr(h, ',');
            l = strchr(l, ',');
            if (h) h++;
            if (l) l++;
        }
    }
    fclose(f);
    return found;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_command_line(void)
{
    CU_ASSERT_FATAL(setup());
    const char *bin = ddad_test_bin_dir();
    /* (each run loads libtorch: about a second, so the list is kept short) */
    CU_ASSERT_EQUAL(ddad_test_system(PROG " >/dev/null 2>&1", bin), 2);
    CU_ASSERT_EQUAL(ddad_test_system(PROG " '%s' --bogus >/dev/null 2>&1", bin, g_cfg), 2);
    CU_ASSERT_EQUAL(ddad_test_system(PROG " '%s' --methods meandiff,nope >/dev/null 2>&1", bin, g_cfg), 2);
    CU_ASSERT_EQUAL(ddad_test_system(PROG " --help | grep -q '7 device'", bin), 0);
    /* configuration errors: 3 */
    CU_ASSERT_EQUAL(ddad_test_system(PROG " /nonexistent/x.yaml >/dev/null 2>&1", bin), 3);
    CU_ASSERT_EQUAL(ddad_test_system(PROG " '%s' --category nosuch >/dev/null 2>&1", bin, g_cfg), 3);
    /* data error: 4 (a category of the set whose folder is not there), named */
    CU_ASSERT_EQUAL(ddad_test_system(PROG " '%s' --category grainy --methods meandiff >/dev/null 2>'%s/e4.txt'",
                                     bin, g_cfg, g_dir), 4);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q grainy '%s/e4.txt'", g_dir), 0);
    /* a device that does not exist: 7 */
    CU_ASSERT_EQUAL(ddad_test_system(PROG " '%s' --device cuda:9 --methods patchnn >/dev/null 2>&1", bin, g_cfg), 7);
    /* an unwritable --out: 5, before any work */
    CU_ASSERT_EQUAL(ddad_test_system(PROG " '%s' --out '%s/no/such/x.json' >/dev/null 2>&1", bin, g_cfg, g_dir), 5);
    /* one method only: one row, in the table and in --out (json) */
    CU_ASSERT_EQUAL(ddad_test_system(PROG " '%s' --methods meandiff --out '%s/md.json' > '%s/md.txt' 2>/dev/null",
                                     bin, g_cfg, g_dir, g_dir), 0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '^washer *meandiff' '%s/md.txt'", g_dir), 0);
    CU_ASSERT_NOT_EQUAL(ddad_test_system("grep -q patchnn '%s/md.txt' '%s/md.json'", g_dir, g_dir), 0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '\"method\": \"meandiff\"' '%s/md.json'", g_dir), 0);
    CU_ASSERT_NOT_EQUAL(ddad_test_system("test -e '%s/md.json.tmp'", g_dir), 0);
    CU_ASSERT_NOT_EQUAL(ddad_test_system("test -e '%s/no'", g_dir), 0);
}

static void test_outputs(void)
{
    CU_ASSERT_FATAL(run_once());
    row_t md, pn;
    memset(&md, 0, sizeof md);
    memset(&pn, 0, sizeof pn);
    CU_ASSERT_FATAL(csv_row(g_csv, "meandiff", &md));
    CU_ASSERT_FATAL(csv_row(g_csv, "patchnn", &pn));
    CU_ASSERT_EQUAL(md.images, (double)g_n);
    CU_ASSERT_EQUAL(pn.images, (double)g_n);
    CU_ASSERT(isnan(md.grid));
    CU_ASSERT_EQUAL(pn.grid, G);
    /* --out FILE.json: the same rows as JSON */
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '\"method\": \"patchnn\"' '%s'", g_json), 0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '\"feature_extractor\": \"random (seed 0)\"' '%s'", g_json), 0);
    CU_ASSERT_EQUAL(ddad_test_system("'%s' -c 'import json,sys; r=json.load(open(sys.argv[1])); "
                                     "assert [x[\"method\"] for x in r] == [\"meandiff\", \"patchnn\"]' '%s'",
                                     ddad_test_python(), g_json), 0);
    /* the random weights are said */
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'RANDOM feature-extractor weights' '%s'", g_csv), 0);
}

/* The printed metrics equal core/metrics on the dumped maps, masks, scores. */
static void test_metrics_match_core(void)
{
    CU_ASSERT_FATAL(run_once());
    ddad_h5_t *f = NULL;
    CU_ASSERT_FATAL(ddad_h5_open(&f, g_dump, DDAD_H5_READ) == DDAD_OK);
    uint8_t *masks = NULL, *labels = NULL;
    int64_t shape[DDAD_H5_MAX_DIMS];
    int nd;
    CU_ASSERT_FATAL(ddad_h5_read(f, CAT "/masks", DDAD_H5_U8, (void **)&masks, shape, &nd) == DDAD_OK);
    const int64_t N = shape[0];
    CU_ASSERT_EQUAL(nd, 3);
    CU_ASSERT_EQUAL(shape[1], S);
    CU_ASSERT_EQUAL(shape[2], S);
    CU_ASSERT_FATAL(ddad_h5_read(f, CAT "/labels", DDAD_H5_U8, (void **)&labels, shape, &nd) == DDAD_OK);
    int64_t defect_px = 0, defective = 0;
    for (int64_t i = 0; i < N * S * S; i++)
        defect_px += masks[i] != 0;
    for (int64_t i = 0; i < N; i++)
        defective += labels[i] != 0;
    CU_ASSERT(defect_px > 0);
    CU_ASSERT_EQUAL(N, g_n);
    CU_ASSERT_EQUAL(defective, g_n_defect);
    const char *methods[2] = {"meandiff", "patchnn"};
    for (int k = 0; k < 2; k++) {
        char name[128];
        float *maps = NULL, *scores = NULL;
        snprintf(name, sizeof name, CAT "/%s/maps", methods[k]);
        CU_ASSERT_FATAL(ddad_h5_read(f, name, DDAD_H5_F32, (void **)&maps, shape, &nd) == DDAD_OK);
        snprintf(name, sizeof name, CAT "/%s/scores", methods[k]);
        CU_ASSERT_FATAL(ddad_h5_read(f, name, DDAD_H5_F32, (void **)&scores, shape, &nd) == DDAD_OK);
        ddad_pixel_arrays_t arr;
        ddad_pixel_source_t src;
        ddad_pixel_source_from_arrays(&src, &arr, maps, masks, N, S, S);
        ddad_pixel_metrics_t pm;
        ddad_image_metrics_t im;
        CU_ASSERT_FATAL(ddad_metrics_pixel_eval(&src, DDAD_METRICS_ALL, 0.3, NULL, &pm) == DDAD_OK);
        CU_ASSERT_FATAL(ddad_metrics_image_eval(scores, labels, (size_t)N, &im) == DDAD_OK);
        row_t r;
        memset(&r, 0, sizeof r);
        CU_ASSERT_FATAL(csv_row(g_csv, methods[k], &r));
        fprintf(stderr, "\n  %s: I-AUROC %.4f P-AUROC %.4f AU-PRO %.4f", methods[k], r.image_auroc, r.pixel_auroc,
                r.au_pro);
        CU_ASSERT(fabs(r.image_auroc - im.auroc) < 1e-9);
        CU_ASSERT(fabs(r.pixel_auroc - pm.auroc) < 1e-9);
        CU_ASSERT(fabs(r.au_pro - pm.au_pro) < 1e-9);
        CU_ASSERT(fabs(r.pixel_f1_max - pm.f1_max) < 1e-9);
        CU_ASSERT(fabs(r.image_f1_max - im.f1_max) < 1e-9);
        /* not a degenerate case: the maps separate something */
        CU_ASSERT(pm.auroc > 0.5 && pm.au_pro > 0.0);
        /* patchnn's image score is the max of its map */
        if (k == 1)
            for (int64_t i = 0; i < N; i++) {
                float m = maps[i * S * S];
                for (int64_t p = 1; p < S * S; p++)
                    m = maps[i * S * S + p] > m ? maps[i * S * S + p] : m;
                CU_ASSERT_EQUAL(scores[i], m);
            }
        free(maps);
        free(scores);
    }
    free(masks);
    free(labels);
    ddad_h5_close(f);
}

static const char oracle_py[] =
    "import sys, math, h5py, numpy as np, torch, torch.nn.functional as F\n"
    "from PIL import Image\n"
    "from scipy.ndimage import correlate1d\n"
    "dump, out, cat, sigma = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])\n"
    "f = h5py.File(dump, 'r'); g = f[cat]; S = int(f.attrs['image_size'])\n"
    "def names(k): return [s.decode() if isinstance(s, bytes) else s for s in g[k][()]]\n"
    "def load(p):\n"
    "    im = Image.open(p).convert('RGB')\n"
    "    if im.size != (S, S): im = im.resize((S, S), Image.BICUBIC)\n"
    "    return np.asarray(im, dtype=np.float64).transpose(2, 0, 1) / 127.5 - 1.0\n"
    "train = np.stack([load(p) for p in names('train_paths')])\n"
    "test = np.stack([load(p) for p in names('test_paths')])\n"
    "mean = train.mean(0)\n"
    "md = np.abs(test - mean[None]).mean(1)\n"
    "feat = torch.from_numpy(g['patchnn/test_features'][()]).double()\n"
    "N, C, G, _ = feat.shape\n"
    "bank = torch.from_numpy(g['patchnn/bank'][()]).double()\n"
    "q = feat.permute(0, 2, 3, 1).reshape(-1, C)\n"
    "d = torch.cdist(q, bank, compute_mode='donot_use_mm_for_euclid_dist').min(1).values.reshape(N, G, G)\n"
    "up = F.interpolate(d[:, None], size=(S, S), mode='bilinear', align_corners=False)[:, 0].numpy()\n"
    "r = math.ceil(4 * sigma); x = np.arange(-r, r + 1); w = np.exp(-0.5 * x * x / sigma ** 2); w /= w.sum()\n"
    "maps = correlate1d(correlate1d(up, w, axis=2, mode='mirror'), w, axis=1, mode='mirror')\n"
    "o = h5py.File(out, 'w')\n"
    "o['test'] = test.astype(np.float32); o['mean'] = mean.astype(np.float32); o['md'] = md.astype(np.float32)\n"
    "o['dist'] = d.numpy().astype(np.float32); o['maps'] = maps.astype(np.float32)\n"
    "o['scores'] = maps.reshape(N, -1).max(1).astype(np.float32)\n"
    "o.close()\n";

static float *read_f32(ddad_h5_t *f, const char *name, int64_t expect_numel)
{
    float *x = NULL;
    int64_t shape[DDAD_H5_MAX_DIMS];
    int nd;
    if (ddad_h5_read(f, name, DDAD_H5_F32, (void **)&x, shape, &nd) != DDAD_OK) {
        fprintf(stderr, "\n  %s", ddad_last_error());
        return NULL;
    }
    int64_t n = 1;
    for (int k = 0; k < nd; k++)
        n *= shape[k];
    if (n != expect_numel) {
        fprintf(stderr, "\n  %s has %lld values, expected %lld", name, (long long)n, (long long)expect_numel);
        free(x);
        return NULL;
    }
    return x;
}

static double spread(const float *x, size_t n)
{
    float lo = x[0], hi = x[0];
    for (size_t i = 1; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    return (double)hi - lo;
}

/* meandiff vs numpy on PIL-decoded images; patchnn vs torch.cdist / scipy. */
static void test_maps_vs_python(void)
{
    CU_ASSERT_FATAL(run_once());
    CU_ASSERT_FATAL(ddad_test_python_has("h5py,numpy,torch,scipy,PIL"));
    char script[4300], out[4300];
    snprintf(script, sizeof script, "%s/oracle.py", g_dir);
    snprintf(out, sizeof out, "%s/oracle.h5", g_dir);
    FILE *fp = fopen(script, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs(oracle_py, fp);
    fclose(fp);
    CU_ASSERT_EQUAL_FATAL(
        ddad_test_system("'%s' '%s' '%s' '%s' " CAT " 4", ddad_test_python(), script, g_dump, out), 0);
    const int64_t N = g_n, HW = S * S;
    ddad_h5_t *a = NULL, *b = NULL;
    CU_ASSERT_FATAL(ddad_h5_open(&a, g_dump, DDAD_H5_READ) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_h5_open(&b, out, DDAD_H5_READ) == DDAD_OK);
    float *x = read_f32(a, CAT "/test_images", N * 3 * HW), *x_py = read_f32(b, "test", N * 3 * HW);
    float *mean = read_f32(a, CAT "/meandiff/mean", 3 * HW), *mean_py = read_f32(b, "mean", 3 * HW);
    float *md = read_f32(a, CAT "/meandiff/maps", N * HW), *md_py = read_f32(b, "md", N * HW);
    float *dist = read_f32(a, CAT "/patchnn/distances", N * G * G), *dist_py = read_f32(b, "dist", N * G * G);
    float *maps = read_f32(a, CAT "/patchnn/maps", N * HW), *maps_py = read_f32(b, "maps", N * HW);
    float *sc = read_f32(a, CAT "/patchnn/scores", N), *sc_py = read_f32(b, "scores", N);
    ddad_h5_close(a);
    ddad_h5_close(b);
    CU_ASSERT_FATAL(x && x_py && mean && mean_py && md && md_py && dist && dist_py && maps && maps_py && sc && sc_py);
    /* inputs as PIL decodes and resizes them (bicubic, 64 -> 32 px) */
    DDAD_ASSERT_CLOSE("test images vs PIL", x, x_py, (size_t)(N * 3 * HW), 0, 1e-6);
    DDAD_ASSERT_CLOSE("mean image vs numpy", mean, mean_py, (size_t)(3 * HW), 0, 1e-6);
    DDAD_ASSERT_CLOSE("meandiff maps vs numpy", md, md_py, (size_t)(N * HW), 0, 1e-6);
    /* float32 (matmul search, distance from the difference) vs float64 direct
     * differences; on this small bank every nearest neighbour is found exactly */
    DDAD_ASSERT_CLOSE("NN distances vs torch.cdist", dist, dist_py, (size_t)(N * G * G), 1e-5, 1e-7);
    DDAD_ASSERT_CLOSE("patchnn maps vs interpolate + Gaussian", maps, maps_py, (size_t)(N * HW), 1e-5, 1e-7);
    DDAD_ASSERT_CLOSE("patchnn scores", sc, sc_py, (size_t)N, 1e-5, 1e-7);
    /* the comparisons are not vacuous */
    CU_ASSERT(spread(md_py, (size_t)(N * HW)) > 0.05);
    CU_ASSERT(spread(dist_py, (size_t)(N * G * G)) > 1e-3);
    CU_ASSERT(spread(maps_py, (size_t)(N * HW)) > 1e-3);
    free(x), free(x_py), free(mean), free(mean_py), free(md), free(md_py);
    free(dist), free(dist_py), free(maps), free(maps_py), free(sc), free(sc_py);
}

/* The dumped test features and bank are what ddad's own model computes as
 * feature-head targets (ddad_model_create + ddad_model_feature_target):
 * same backbone, same seed, same taps, and the bank's row layout. */
static void test_same_backbone_as_ddad(void)
{
    CU_ASSERT_FATAL(run_once());
    ddad_config_t cfg;
    CU_ASSERT_FATAL(ddad_config_load(&cfg, g_cfg, NULL, 0) == DDAD_OK);
    CU_ASSERT_EQUAL(cfg.features.score_size, G);
    ddad_model_t m;
    CU_ASSERT_FATAL(ddad_model_create(&m, &cfg, DDAD_MODEL_WITH_FEATURES) == DDAD_OK);
    const int64_t N = g_n, HW = S * S, C = 272;
    ddad_h5_t *f = NULL;
    CU_ASSERT_FATAL(ddad_h5_open(&f, g_dump, DDAD_H5_READ) == DDAD_OK);
    float *x = read_f32(f, CAT "/test_images", N * 3 * HW);
    float *feat = read_f32(f, CAT "/patchnn/test_features", N * C * G * G);
    int64_t shape[DDAD_H5_MAX_DIMS];
    int nd;
    float *bank = NULL;
    CU_ASSERT_FATAL(ddad_h5_read(f, CAT "/patchnn/bank", DDAD_H5_F32, (void **)&bank, shape, &nd) == DDAD_OK);
    ddad_h5_close(f);
    CU_ASSERT_FATAL(x && feat);
    CU_ASSERT_EQUAL_FATAL(nd, 2);
    CU_ASSERT_EQUAL(shape[1], C);
    const int64_t n_train = shape[0] / (G * G);
    CU_ASSERT_EQUAL_FATAL(shape[0], g_n_train * G * G);

    /* test features */
    float *want = malloc((size_t)(N * C * G * G) * sizeof *want);
    ddad_tensor_t *xt = NULL, *ft = NULL;
    int64_t xs[4] = {N, 3, S, S};
    CU_ASSERT_FATAL(ddad_from_buffer(&xt, x, xs, 4, DDAD_DTYPE_F32) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_model_feature_target(&m, xt, G, &ft) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_to_buffer(ft, want, (size_t)(N * C * G * G) * sizeof *want, DDAD_DTYPE_F32) == DDAD_OK);
    DDAD_ASSERT_CLOSE("test features vs ddad_model_feature_target", feat, want, (size_t)(N * C * G * G), 1e-5, 1e-6);
    ddad_tensor_free(xt);
    ddad_tensor_free(ft);
    free(want);

    /* bank = training images' targets, row (i G + y) G + x, column c */
    ddad_dataset_t *ds = NULL;
    const char *cat = CAT;
    CU_ASSERT_FATAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_MVTEC, cfg.data.root, &cat, 1) == DDAD_OK);
    const ddad_sample_t **train = NULL;
    size_t nt = 0;
    CU_ASSERT_FATAL(ddad_dataset_select(ds, CAT, DDAD_SPLIT_TRAIN, &train, &nt) == DDAD_OK);
    CU_ASSERT_EQUAL_FATAL((int64_t)nt, n_train);
    ddad_testiter_t *it = NULL;
    ddad_testiter_opts_t to = {.image_size = S, .mask_original_size = false, .mask_threshold = ds->mask_threshold};
    CU_ASSERT_FATAL(ddad_testiter_create(&it, train, nt, &to) == DDAD_OK);
    float *imgs = malloc(nt * 3 * HW * sizeof *imgs), *tf = malloc(nt * C * G * G * sizeof *tf);
    float *bank_want = malloc(nt * C * G * G * sizeof *bank_want);
    for (size_t i = 0; i < nt; i++) {
        ddad_test_item_t item;
        bool more;
        CU_ASSERT_FATAL(ddad_testiter_next(it, &item, &more) == DDAD_OK && more);
        memcpy(imgs + i * 3 * HW, item.image, 3 * HW * sizeof(float));
    }
    xs[0] = (int64_t)nt;
    CU_ASSERT_FATAL(ddad_from_buffer(&xt, imgs, xs, 4, DDAD_DTYPE_F32) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_model_feature_target(&m, xt, G, &ft) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_to_buffer(ft, tf, nt * C * G * G * sizeof *tf, DDAD_DTYPE_F32) == DDAD_OK);
    for (int64_t i = 0; i < n_train; i++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < G * G; p++)
                bank_want[(i * G * G + p) * C + c] = tf[(i * C + c) * G * G + p];
    DDAD_ASSERT_CLOSE("bank vs training-image targets", bank, bank_want, (size_t)(n_train * C * G * G), 1e-5, 1e-6);
    ddad_tensor_free(xt);
    ddad_tensor_free(ft);
    ddad_testiter_free(it);
    free(train);
    ddad_dataset_free(ds);
    free(imgs), free(tf), free(bank_want), free(bank), free(x), free(feat);
    ddad_model_free(&m);
}

static void test_cleanup(void)
{
    if (g_dir) {
        ddad_test_rmtree(g_dir);
        free(g_dir);
        g_dir = NULL;
    }
}

int main(void)
{
    static const ddad_test_t tests[] = {{"command line and exit codes", test_command_line},
                                        {"outputs", test_outputs},
                                        {"metrics equal core/metrics on the maps", test_metrics_match_core},
                                        {"maps vs numpy / torch.cdist / scipy", test_maps_vs_python},
                                        {"same backbone as ddad's feature head", test_same_backbone_as_ddad},
                                        {"cleanup", test_cleanup},
                                        {0}};
    return ddad_test_main("baselines", tests);
}
