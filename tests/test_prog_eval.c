/* tests/test_prog_eval.c - the ddad-eval program on a tiny run: synthetic
 * data at 32 px, the tiny model, a run made of one saved checkpoint (a
 * freshly created model), and, when the trainer is built in, a short
 * training whose model must localise clearly better than an untrained one. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil_nn.h"

static char *g_dir;            /* temporary root                          */
static char g_cfg_dir[4096];   /* per-category configs                    */
static bool g_ready;

static bool exists(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool exists(const char *fmt, ...)
{
    char p[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p, sizeof p, fmt, ap);
    va_end(ap);
    struct stat sb;
    return stat(p, &sb) == 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = '\0';
    fclose(f);
    return b;
}

static void write_config(const char *category, const char *extra)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/%s.yaml", g_cfg_dir, category);
    FILE *f = fopen(p, "w");
    fprintf(f, "base: %s/configs/tiny.yaml\ndata:\n  root: %s/synthetic\n  category: %s\nrun:\n  dir: %s/runs\n%s",
            ddad_test_source_dir(), g_dir, category, g_dir, extra ? extra : "");
    fclose(f);
}

/* A run = a saved checkpoint of a freshly created model. */
static int make_run(const char *category)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/%s.yaml", g_cfg_dir, category);
    char run[4096];
    return ddad_test_untrained_run(p, run, sizeof run);
}

static bool setup(void)
{
    if (g_ready)
        return true;
    g_dir = ddad_test_mkdtemp("prog-eval");
    snprintf(g_cfg_dir, sizeof g_cfg_dir, "%s/configs", g_dir);
    if (ddad_test_system("mkdir -p '%s'", g_cfg_dir) != 0)
        return false;
    char root[4200];
    snprintf(root, sizeof root, "%s/synthetic", g_dir);
    if (ddad_test_synth(root, "woven,grainy", 32, 6, 3, 2) != 0)
        return false;
    write_config("woven", NULL);
    write_config("grainy", NULL);
    if (make_run("woven") != 0) {
        fprintf(stderr, "\n  %s", ddad_last_error());
        return false;
    }
    g_ready = true;
    return true;
}

#define EVAL "'%s/ddad-eval'"

static void test_usage_and_help(void)
{
    const char *bin = ddad_test_bin_dir();
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " >/dev/null 2>&1", bin), 2);
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " x.yaml --bogus >/dev/null 2>&1", bin), 2);
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " x.yaml --pro-limit 2 >/dev/null 2>&1", bin), 2);
    /* number values are checked whole: an empty count is not 0 */
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " x.yaml --threshold-images '' 2>&1 | "
                                          "grep -q \"'' is not an integer in \\[0, 100000\\]\"", bin), 0);
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " x.yaml --threshold-images >/dev/null 2>&1", bin), 2);
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " --help | grep -q '8 interrupted'", bin), 0);
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " --help | grep -q -- '--all-categories'", bin), 0);
    /* a config that does not exist: config error, 3 */
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " /nonexistent/x.yaml >/dev/null 2>&1", bin), 3);
}

static void test_one_run(void)
{
    CU_ASSERT_FATAL(setup());
    const char *bin = ddad_test_bin_dir();
    char out[4200], run[4200];
    snprintf(out, sizeof out, "%s/one.txt", g_dir);
    snprintf(run, sizeof run, "%s/runs/mvtec/woven", g_dir);
    int rc = ddad_test_system(EVAL " '%s/woven.yaml' --quiet --save-images > '%s' 2>'%s.err'", bin, g_cfg_dir, out, out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    char *txt = slurp(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(txt);
    CU_ASSERT(strstr(txt, "P-AUROC") != NULL);
    CU_ASSERT(strstr(txt, "woven") != NULL);
    CU_ASSERT(strstr(txt, "RANDOM feature-extractor weights") != NULL);
    free(txt);
    char err_path[4300];
    snprintf(err_path, sizeof err_path, "%s.err", out);
    txt = slurp(err_path);
    CU_ASSERT(txt && strstr(txt, "images/s") != NULL);
    CU_ASSERT(txt && strstr(txt, "fitted on 6 good images the model trained on") != NULL); /* no data.val_split */
    free(txt);
    CU_ASSERT(exists("%s/maps.h5", run));
    CU_ASSERT(exists("%s/metrics.json", run));
    CU_ASSERT(exists("%s/metrics.csv", run));
    CU_ASSERT(exists("%s/threshold.json", run));
    CU_ASSERT(exists("%s/roc_pixel.dat", run));
    CU_ASSERT(exists("%s/pro.dat", run));
    CU_ASSERT(exists("%s/roc_image.dat", run));
    if (ddad_test_system("command -v gnuplot >/dev/null 2>&1") == 0) {
        CU_ASSERT(exists("%s/roc.png", run));
        CU_ASSERT(exists("%s/pro.png", run));
    }
    CU_ASSERT(exists("%s/images/test_good_000_heat.png", run));
    CU_ASSERT(exists("%s/images/test_good_000_mask.png", run));
    CU_ASSERT(exists("%s/images/test_good_000_overlay.png", run));

    /* metrics.json: valid JSON with the documented keys; --maps on the maps
     * file gives the same numbers */
    CU_ASSERT_FATAL(ddad_test_python_has("json,h5py"));
    rc = ddad_test_system(EVAL " --maps '%s/maps.h5' --format json > '%s/maps.json'", bin, run, g_dir);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    rc = ddad_test_system(
        "'%s' -c \"import json, h5py, math, sys\n"
        "m = json.load(open('%s/metrics.json'))\n"
        "r = json.load(open('%s/maps.json'))[0]\n"
        "keys = ['category', 'images', 'image_auroc', 'pixel_auroc', 'au_pro', 'au_pro_limit', 'pixel_f1_max',\n"
        "        'threshold', 'threshold_source', 'resolution', 'feature_extractor', 'seconds_per_image',\n"
        "        'images_per_s', 'checkpoint', 'score', 'notes']\n"
        "missing = [k for k in keys if k not in m]\n"
        "assert not missing, missing\n"
        "assert m['category'] == 'woven' and m['images'] == 9, m\n"
        "assert m['resolution'] == 'model' and 'random' in m['feature_extractor']\n"
        "assert 'training images' in m['threshold_source'], m['threshold_source']\n"
        "assert 'RANDOM' in m['notes']\n"
        "for k in ['image_auroc', 'pixel_auroc', 'au_pro', 'pixel_f1_max']:\n"
        "    assert abs(m[k] - r[k]) < 1e-9, (k, m[k], r[k])\n"
        "    assert 0 <= m[k] <= 1\n"
        "f = h5py.File('%s/maps.h5', 'r')\n"
        "assert f['maps'].shape == (9, 32, 32) and f['kl_maps'].shape == (9, 3, 32, 32), f['kl_maps'].shape\n"
        "assert f['feat_maps'].shape == (9, 3, 32, 32) and f['scores'].shape == (9,)\n"
        "assert list(f['timesteps'][:]) == [5, 50, 100]\n"
        "assert f.attrs['config.score.alpha'] in ('0.5', b'0.5'), f.attrs['config.score.alpha']\n"
        "# the map is the documented combination of the stored per-timestep maps\n"
        "import numpy as np\n"
        "a = 0.5 * f['kl_maps'][:].mean(1) + 0.5 * f['feat_maps'][:].mean(1)\n"
        "assert np.abs(a - f['maps'][:]).max() < 1e-5 * (1 + np.abs(a).max())\n"
        "# and the score is the mean of its 64 largest pixels\n"
        "s = np.sort(f['maps'][:].reshape(9, -1), 1)[:, -64:].mean(1)\n"
        "assert np.abs(s - f['scores'][:]).max() < 1e-5 * (1 + np.abs(s).max())\n"
        "t = json.load(open('%s/threshold.json'))['thresholds']\n"
        "assert t[0]['category'] == 'woven' and t[0]['images'] == 6 and t[0]['seen_in_training'] is True, t\n"
        "# the deployment check: threshold.json's thresholds counted on the maps file\n"
        "d = m['deployment_check']\n"
        "assert d['rule'] == 'max' and d['optimistic'] is False, d\n"
        "assert d['image_threshold'] == t[0]['image_threshold'] and d['pixel_threshold'] == t[0]['pixel_threshold']\n"
        "y, sc, mp, mk = f['labels'][:], f['scores'][:].astype(float), f['maps'][:].astype(float), f['masks'][:] > 0\n"
        "assert d['good_images'] == (y == 0).sum() and d['defective_images'] == (y != 0).sum(), d\n"
        "assert d['good_flagged'] == (sc[y == 0] > d['image_threshold']).sum(), d\n"
        "assert d['defective_flagged'] == (sc[y != 0] > d['image_threshold']).sum(), d\n"
        "assert abs(d['image_fpr'] - d['good_flagged'] / d['good_images']) < 1e-9, d\n"
        "assert abs(d['pixel_fpr'] - (mp[~mk] > d['pixel_threshold']).mean()) < 1e-3, d\n"
        "assert abs(d['pixel_recall'] - (mp[mk] > d['pixel_threshold']).mean()) < 1e-3, d\n"
        "assert abs(d['pixel_fpr_good_images'] - (mp[y == 0] > d['pixel_threshold']).mean()) < 1e-3, d\n"
        "assert abs(d['good_score_median'] - np.median(sc[y == 0])) < 1e-6 * (1 + abs(d['good_score_median'])), d\n"
        "import csv\n"
        "cs = [float(r['score']) for r in csv.DictReader(open('%s/calibration.csv'))]\n"
        "assert len(cs) == 6 and abs(d['calibration_score_median'] - np.median(cs)) < 1e-5 * (1 + max(cs)), d\n\"",
        ddad_test_python(), run, g_dir, run, run, run);
    CU_ASSERT_EQUAL(rc, 0);

    /* the same maps in table and CSV form */
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " --maps '%s/maps.h5' | grep -q woven", bin, run), 0);
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " --maps '%s/maps.h5' --format csv | grep -q '^category,images'", bin, run), 0);

    /* the example program scores with the run's threshold */
    rc = ddad_test_system("'%s/ddad-score-example' '%s' '%s/synthetic/woven/test/good/000.png' "
                          "'%s/synthetic/woven/train/good/000.png' | grep -c -E 'score .*(ok|ANOMALOUS)' | grep -q 2",
                          bin, run, g_dir, g_dir);
    CU_ASSERT_EQUAL(rc, 0);
}

static void test_test_split_threshold_and_original(void)
{
    CU_ASSERT_FATAL(setup());
    const char *bin = ddad_test_bin_dir();
    char run[4200];
    snprintf(run, sizeof run, "%s/runs/mvtec/woven", g_dir);
    int rc = ddad_test_system(EVAL " '%s/woven.yaml' --quiet --threshold-f1 --set score.resolution=original "
                              "--format json > /dev/null 2>&1", bin, g_cfg_dir);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    rc = ddad_test_system("grep -q 'test-split F1-max (optimistic)' '%s/metrics.json' && "
                          "grep -q '\"resolution\": \"original\"' '%s/metrics.json'", run, run);
    CU_ASSERT_EQUAL(rc, 0);
}

static void test_all_categories(void)
{
    CU_ASSERT_FATAL(setup());
    const char *bin = ddad_test_bin_dir();
    char out[4200];
    snprintf(out, sizeof out, "%s/all.txt", g_dir);
    /* woven has a run, grainy has none, carpet has no config */
    int rc = ddad_test_system(EVAL " --all-categories --config-dir '%s' --categories woven,grainy,carpet --quiet "
                              "> '%s' 2>/dev/null", bin, g_cfg_dir, out);
    CU_ASSERT_EQUAL(rc, 0);
    char *txt = slurp(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(txt);
    CU_ASSERT(strstr(txt, "woven") != NULL);
    CU_ASSERT(strstr(txt, "mean") != NULL);
    CU_ASSERT(strstr(txt, "note: grainy: NOT EVALUATED") != NULL);
    CU_ASSERT(strstr(txt, "note: carpet: NOT EVALUATED: no config") != NULL);
    free(txt);
    /* nothing evaluable: nonzero (data) */
    rc = ddad_test_system(EVAL " --all-categories --config-dir '%s' --categories grainy --quiet >/dev/null 2>&1", bin,
                          g_cfg_dir);
    CU_ASSERT_EQUAL(rc, 4);
    /* a single missing run: exit code 4 with a message naming the run folder */
    rc = ddad_test_system(EVAL " '%s/grainy.yaml' --quiet 2>&1 >/dev/null | grep -q 'checkpoints holds no checkpoint'",
                          bin, g_cfg_dir);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " '%s/grainy.yaml' --quiet >/dev/null 2>&1", bin, g_cfg_dir), 4);
}

/* A model trained with pyramid noise is scored with pyramid noise; a config
 * that asks for other noise is refused (config error, 3) with what to set. */
static void test_noise_must_match(void)
{
    CU_ASSERT_FATAL(setup());
    const char *bin = ddad_test_bin_dir();
    char p[8192], run[4096];
    snprintf(p, sizeof p, "%s/pyramid.yaml", g_dir);
    FILE *f = fopen(p, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fprintf(f, "base: %s/configs/tiny.yaml\ndata:\n  root: %s/synthetic\n  category: woven\nrun:\n  dir: %s/runs-pyr\n"
               "diffusion:\n  noise: pyramid\n  noise_discount: 0.7\n",
            ddad_test_source_dir(), g_dir, g_dir);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(ddad_test_untrained_run(p, run, sizeof run), 0);
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " '%s' --quiet >/dev/null 2>&1", bin, p), 0);
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " '%s' --quiet --set diffusion.noise=white 2>&1 >/dev/null | "
                                          "grep -q 'trained with diffusion.noise pyramid, the config says white'",
                                     bin, p),
                    0);
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " '%s' --quiet --set diffusion.noise=white >/dev/null 2>&1", bin, p), 3);
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " '%s' --quiet --set diffusion.noise_discount=0.8 2>&1 >/dev/null | "
                                          "grep -q 'set diffusion.noise_discount: 0.7'",
                                     bin, p),
                    0);
}

static void test_unified_run(void)
{
    CU_ASSERT_FATAL(setup());
    const char *bin = ddad_test_bin_dir();
    char p[8192];
    snprintf(p, sizeof p, "%s/uni.yaml", g_cfg_dir);
    FILE *f = fopen(p, "w");
    fprintf(f, "base: %s/configs/tiny.yaml\ndata:\n  root: %s/synthetic\n  category: [woven, grainy]\n"
               "run:\n  dir: %s/runs\n", ddad_test_source_dir(), g_dir, g_dir);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(make_run("uni"), 0);
    char out[4200];
    snprintf(out, sizeof out, "%s/uni.txt", g_dir);
    int rc = ddad_test_system(EVAL " --all-categories '%s' --quiet --threshold-images 2 > '%s' 2>/dev/null", bin, p, out);
    CU_ASSERT_EQUAL(rc, 0);
    char *txt = slurp(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(txt);
    CU_ASSERT(strstr(txt, "woven") && strstr(txt, "grainy") && strstr(txt, "mean"));
    free(txt);
    char run[4200];
    snprintf(run, sizeof run, "%s/runs/mvtec/unified", g_dir);
    CU_ASSERT(exists("%s/woven/maps.h5", run));
    CU_ASSERT(exists("%s/grainy/metrics.json", run));
    rc = ddad_test_system("grep -q '\"category\": \"woven\"' '%s/threshold.json' && "
                          "grep -q '\"category\": \"grainy\"' '%s/threshold.json'", run, run);
    CU_ASSERT_EQUAL(rc, 0);
}

static void test_bad_maps_file(void)
{
    CU_ASSERT_FATAL(setup());
    const char *bin = ddad_test_bin_dir();
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/bad.h5", g_dir);
    FILE *f = fopen(bad, "w");
    fputs("this is not an HDF5 file\n", f);
    fclose(f);
    int rc = ddad_test_system(EVAL " --maps '%s' >/dev/null 2>&1", bin, bad);
    CU_ASSERT(rc == 4 || rc == 5);
    rc = ddad_test_system(EVAL " --maps '%s' 2>&1 >/dev/null | grep -q 'error: .*bad.h5'", bin, bad);
    CU_ASSERT_EQUAL(rc, 0);
    rc = ddad_test_system(EVAL " --maps '%s/none.h5' >/dev/null 2>&1", bin, g_dir);
    CU_ASSERT(rc == 4 || rc == 5);
    /* an HDF5 file of another layout */
    CU_ASSERT_FATAL(ddad_test_python_has("h5py"));
    rc = ddad_test_system("'%s' -c \"import h5py; f = h5py.File('%s/other.h5', 'w'); f['maps'] = [1, 2, 3]\"",
                          ddad_test_python(), g_dir);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    rc = ddad_test_system(EVAL " --maps '%s/other.h5' >/dev/null 2>&1", bin, g_dir);
    CU_ASSERT(rc == 4 || rc == 5);
}

int main(void)
{
    static const ddad_test_t tests[] = {
        {"usage and help", test_usage_and_help},
        {"one run: table, maps.h5, metrics.json, --maps agrees", test_one_run},
        {"test-split threshold, original resolution", test_test_split_threshold_and_original},
        {"--all-categories with a missing run", test_all_categories},
        {"the scoring noise must be the training's", test_noise_must_match},
        {"unified run, per category", test_unified_run},
        {"bad maps file", test_bad_maps_file},
        {NULL, NULL}};
    int rc = ddad_test_main("prog_eval", tests);
    if (g_dir) {
        ddad_test_rmtree(g_dir);
        free(g_dir);
    }
    return rc;
}
