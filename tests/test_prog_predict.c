/* tests/test_prog_predict.c - inspecting new images: ddad-eval's calibrated
 * thresholds (every rule, provenance), ddad-predict (folders, patterns, a
 * corrupt file among good ones, --calib, --save, formats, unified runs), the
 * normalised scores, the Python binding against ddad-predict, TIFF map
 * export and re-import, a foreign minimal maps file and --print-config.
 * A tiny run at 32 px on synthetic data: one saved checkpoint of a freshly
 * created model (the plumbing does not need a trained one). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "testutil_nn.h"

static char *g_dir;
static char g_run[4200];
static bool g_ready;

#define PREDICT "'%s/ddad-predict'"
#define EVAL "'%s/ddad-eval'"

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static bool setup(void)
{
    if (g_ready)
        return true;
    g_dir = ddad_test_mkdtemp("prog-predict");
    char root[4200], cfg[4200];
    snprintf(root, sizeof root, "%s/synthetic", g_dir);
    if (ddad_test_synth(root, "woven", 32, 8, 3, 2) != 0)
        return false;
    snprintf(cfg, sizeof cfg, "%s/woven.yaml", g_dir);
    FILE *f = fopen(cfg, "w");
    if (!f)
        return false;
    fprintf(f, "base: %s/configs/tiny.yaml\ndata:\n  root: %s\n  category: woven\n  val_split: 0.25\n"
               "run:\n  dir: %s/runs\n",
            ddad_test_source_dir(), root, g_dir);
    fclose(f);
    if (ddad_test_untrained_run(cfg, g_run, sizeof g_run) != 0) {
        fprintf(stderr, "\n  %s", ddad_last_error());
        return false;
    }
    /* the calibration of ddad-eval (rule max on the 2 held-out images) */
    if (ddad_test_system(EVAL " '%s' --quiet > /dev/null 2>&1", ddad_test_bin_dir(), cfg) != 0)
        return false;
    g_ready = true;
    return true;
}

/* Runs python with the test's folder, the run and the binaries in the
 * environment; returns its exit status. */
static int py(const char *code)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/check.py", g_dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(code, f);
    fclose(f);
    return ddad_test_system("cd '%s' && DIR='%s' RUN='%s' BIN='%s' DDAD_LIBRARY='%s/../lib/libddad.so' "
                            "PYTHONPATH='%s/python' '%s' '%s'",
                            g_dir, g_dir, g_run, ddad_test_bin_dir(), ddad_test_bin_dir(), ddad_test_source_dir(),
                            ddad_test_python(), path);
}

static void test_usage(void)
{
    const char *bin = ddad_test_bin_dir();
    CU_ASSERT_EQUAL(ddad_test_system(PREDICT " > /dev/null 2>&1", bin), 2);
    CU_ASSERT_EQUAL(ddad_test_system(PREDICT " --help | grep -q -- '--calib DIR'", bin), 0);
    CU_ASSERT_EQUAL(ddad_test_system(PREDICT " --help | grep -q '4 data'", bin), 0);
    CU_ASSERT_EQUAL(ddad_test_system(PREDICT " run > /dev/null 2>&1", bin), 2);              /* no INPUT */
    CU_ASSERT_EQUAL(ddad_test_system(PREDICT " run x.png --save bogus > /dev/null 2>&1", bin), 2);
    CU_ASSERT_EQUAL(ddad_test_system(PREDICT " run x.png --format xml > /dev/null 2>&1", bin), 2);
    CU_ASSERT_EQUAL(ddad_test_system(PREDICT " run x.png --calib 2>&1 | grep -q -- '--calib needs a value'", bin), 0);
    CU_ASSERT_EQUAL(ddad_test_system(PREDICT " run x.png --rule max > /dev/null 2>&1", bin), 2); /* no --calib */
    CU_ASSERT_EQUAL(ddad_test_system(PREDICT " /nonexistent/run x.png > /dev/null 2>&1", bin), 2);
}

/* --print-config on every program that reads a config: the resolved YAML
 * (after base: and --set), exit 0, without data, weights or device. */
static void test_print_config(void)
{
    const char *bin = ddad_test_bin_dir();
    char *dir = ddad_test_mkdtemp("print-config");
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/c.yaml", dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "base: %s/configs/tiny.yaml\ndata:\n  root: /nonexistent/data\nfeatures:\n  weights: /nonexistent/w.h5\n"
               "run:\n  dir: %s/runs\n",
            ddad_test_source_dir(), dir);
    fclose(f);
    const char *progs[] = {"ddad-train", "ddad-eval", "ddad-vis", "ddad-baselines", "ddad-predict"};
    for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++) {
        int rc = ddad_test_system("'%s/%s' '%s' --print-config --set score.alpha=0.25 --device cuda:7 > '%s/out.yaml' "
                                  "2>/dev/null && grep -q '^  alpha: 0.25' '%s/out.yaml' && "
                                  "grep -q 'cuda:7' '%s/out.yaml' && grep -q '/nonexistent/data' '%s/out.yaml'",
                                  bin, progs[i], cfg, dir, dir, dir, dir);
        if (rc != 0)
            fprintf(stderr, "\n  %s --print-config failed (%d)", progs[i], rc);
        CU_ASSERT_EQUAL(rc, 0);
        /* the printed config loads back */
        ddad_config_t c;
        char out[4300];
        snprintf(out, sizeof out, "%s/out.yaml", dir);
        CU_ASSERT_EQUAL(ddad_config_load(&c, out, NULL, 0), DDAD_OK);
    }
    /* nothing was created: no run folder */
    char runs[4300];
    snprintf(runs, sizeof runs, "%s/runs", dir);
    CU_ASSERT(!exists(runs));
    ddad_test_rmtree(dir);
    free(dir);
}

/* ddad-eval's calibration: every rule, with its provenance. */
static void test_eval_rules(void)
{
    CU_ASSERT_FATAL(setup());
    CU_ASSERT_FATAL(ddad_test_python_has("json,numpy,h5py"));
    const char *bin = ddad_test_bin_dir();
    char cfg[4300];
    snprintf(cfg, sizeof cfg, "%s/woven.yaml", g_dir);
    const char *rules[] = {"max", "quantile:0.5", "fpr:0.5", "f1"};
    for (size_t i = 0; i < 4; i++) {
        int rc = ddad_test_system(EVAL " '%s' --quiet --set eval.threshold_rule=%s > /dev/null 2>&1 && "
                                  "cp '%s/threshold.json' '%s/thr_%zu.json' && rm -f '%s/cal_%zu.csv' && "
                                  "{ ! test -e '%s/calibration.csv' || cp '%s/calibration.csv' '%s/cal_%zu.csv'; }",
                                  bin, cfg, rules[i], g_run, g_dir, i, g_dir, i, g_run, g_run, g_dir, i);
        CU_ASSERT_EQUAL(rc, 0);
    }
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " '%s' --set eval.threshold_rule=fpr:2 > /dev/null 2>&1", bin, cfg), 3);
    int rc = py("import json, os, h5py, numpy as np\n"
                "D = os.environ['DIR']\n"
                "t = [json.load(open(D + '/thr_%d.json' % i))['thresholds'][0] for i in range(4)]\n"
                "for e in t: assert json.load(open(D + '/thr_0.json'))['format_version'] == 2\n"
                "m, q, f, f1 = t\n"
                "assert m['rule'] == 'max' and q['rule'] == 'quantile:0.5' and f['rule'] == 'fpr:0.5', t\n"
                "assert m['images'] == 2 and m['defect_images'] == 0 and not m['optimistic'], m\n"
                "assert 'held-out good images of woven (data.val_split 0.25' in m['source'], m['source']\n"
                "# max = the largest held-out score; quantile 0.5 of two values = their mean;\n"
                "# fpr:0.5 over 2 images flags at most one: the smaller value\n"
                "lo, hi = m['image_min'], m['image_max']\n"
                "assert m['image_threshold'] == hi, m\n"
                "assert abs(q['image_threshold'] - (lo + hi) / 2) < 1e-6 * (1 + abs(hi)), q\n"
                "assert f['image_threshold'] == lo, f\n"
                "assert m['pixel_threshold'] == m['pixel_max'] and q['pixel_threshold'] < m['pixel_threshold']\n"
                "# f1: fitted on the labelled test split, marked optimistic\n"
                "assert f1['rule'] == 'f1' and f1['optimistic'] and f1['defect_images'] > 0, f1\n"
                "assert 'optimistic' in f1['source'], f1\n"
                "# calibration.csv: the held-out images' scores behind each threshold (none for f1)\n"
                "import csv\n"
                "for i, e in enumerate(t[:3]):\n"
                "    rows = list(csv.DictReader(open(D + '/cal_%d.csv' % i)))\n"
                "    sc = [float(r['score']) for r in rows]\n"
                "    assert len(rows) == 2 and all(r['name'].startswith('train/good/') for r in rows), rows\n"
                "    assert abs(min(sc) - e['image_min']) < 1e-6 and abs(max(sc) - e['image_max']) < 1e-6, (sc, e)\n"
                "    tol = 1e-6 * (1 + abs(e['image_threshold']))  # scores are printed with 9 digits\n"
                "    for r, v in zip(rows, sc):\n"
                "        assert (v > e['image_threshold'] - tol) if int(r['above_threshold']) else "
                "(v < e['image_threshold'] + tol), (r, e)\n"
                "assert sum(int(r['above_threshold']) for r in csv.DictReader(open(D + '/cal_2.csv'))) == 1\n"
                "assert not os.path.exists(D + '/cal_3.csv')\n"
                "mf = h5py.File(os.environ['RUN'] + '/maps.h5', 'r')\n"
                "s, y = mf['scores'][:], mf['labels'][:]\n"
                "flag = s > f1['image_threshold']\n"
                "tp = (flag & (y == 1)).sum(); fp = (flag & (y == 0)).sum(); fn = (~flag & (y == 1)).sum()\n"
                "best = 0\n"
                "for th in np.unique(s):\n"
                "    fl = s >= th; a = (fl & (y == 1)).sum(); b = (fl & (y == 0)).sum(); c = (~fl & (y == 1)).sum()\n"
                "    best = max(best, 2 * a / (2 * a + b + c))\n"
                "assert abs(2 * tp / (2 * tp + fp + fn) - best) < 1e-9, (tp, fp, fn, best)\n");
    CU_ASSERT_EQUAL(rc, 0);
    /* back to the default calibration for the other tests */
    CU_ASSERT_EQUAL(ddad_test_system("cp '%s/thr_0.json' '%s/threshold.json'", g_dir, g_run), 0);
}

/* ddad-predict on a folder with a corrupt image, a pattern and a missing
 * file; --save; formats; the Python binding gives the same numbers. */
static void test_predict_folder(void)
{
    CU_ASSERT_FATAL(setup());
    CU_ASSERT_FATAL(ddad_test_python_has("json,numpy,tifffile,PIL"));
    const char *bin = ddad_test_bin_dir();
    char in[4300];
    snprintf(in, sizeof in, "%s/new", g_dir);
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("mkdir -p '%s/sub' && cp '%s/synthetic/woven/test/good/'*.png '%s/' && "
                                           "cp '%s/synthetic/woven/test/hole/000.png' '%s/sub/h.png' && "
                                           "printf 'not an image' > '%s/broken.png' && "
                                           "printf 'x' > '%s/notes.txt'",
                                           in, g_dir, in, g_dir, in, in, in),
                          0);
    /* 3 good + 1 defect + 1 corrupt in the folder (notes.txt is not an
     * image: ignored), one more via a pattern, one missing file */
    int rc = ddad_test_system(PREDICT " '%s' '%s' '%s/synthetic/woven/test/colour/*.png' '%s/missing.png' "
                              "--out '%s/pred' --save heat,overlay,mask,tiff --quiet > /dev/null 2> '%s/pred.err'",
                              bin, g_run, in, g_dir, g_dir, g_dir, g_dir);
    CU_ASSERT_EQUAL(rc, 4); /* some inputs failed, the rest scored */
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'broken.png' '%s/pred.err' && grep -q 'missing.png' '%s/pred.err'",
                                     g_dir, g_dir),
                    0);
    /* thresholds fitted on images held out in training too: no warning */
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'trained on' '%s/pred.err'", g_dir), 1);
    rc = py("import csv, json, os, numpy as np, tifffile\n"
            "from PIL import Image\n"
            "from ddad import Scorer\n"
            "D, RUN = os.environ['DIR'], os.environ['RUN']\n"
            "rows = list(csv.DictReader(open(D + '/pred/predictions.csv')))\n"
            "names = sorted(os.path.basename(r['path']) for r in rows)\n"
            "assert len(rows) == 6, names\n"
            "assert not any('broken' in r['path'] or 'notes' in r['path'] for r in rows), names\n"
            "thr = json.load(open(RUN + '/threshold.json'))['thresholds'][0]\n"
            "s = Scorer(RUN)\n"
            "assert s.feature_weights == rows[0]['feature_weights'] and s.feature_weights.startswith('random'), "
            "s.feature_weights\n"
            "cal = s.calibration\n"
            "assert cal['rule'] == 'max' and cal['images'] == 2 and cal['normalized'], cal\n"
            "assert cal['seen_in_training'] is False and cal['optimistic'] is False, cal  # held out\n"
            "# output stems: the path below the folder given (or the file name), '/' -> '_', '_2' on collisions\n"
            "stems, used = {}, set()\n"
            "for r in rows:\n"
            "    p = r['path']\n"
            "    st = os.path.splitext(os.path.relpath(p, D + '/new') if p.startswith(D + '/new/') else os.path.basename(p))[0]\n"
            "    st = st.replace('/', '_'); b, k = st, 2\n"
            "    while st in used: st = '%s_%d' % (b, k); k += 1\n"
            "    used.add(st); stems[p] = st\n"
            "for r in rows:\n"
            "    assert r['label'] in ('good', 'anomalous'), r\n"
            "    sc = float(r['score'])\n"
            "    assert (r['label'] == 'anomalous') == (sc > thr['image_threshold']), r\n"
            "    u = min(1, max(0, (sc - thr['image_threshold']) / (thr['image_max'] - thr['image_min']) + 0.5))\n"
            "    assert abs(float(r['normalized']) - u) < 1e-4, (r, u)\n"
            "    assert float(r['threshold']) == float('%.6g' % thr['image_threshold'])\n"
            "    # the binding scores image by image what ddad-predict scored in batches\n"
            "    b = s.score(np.array(Image.open(r['path']).convert('RGB')))\n"
            "    assert abs(b.score - sc) <= 1e-5 * (1 + abs(sc)), (b.score, sc)\n"
            "    assert b.label == (r['label'] == 'anomalous')\n"
            "    assert abs(b.normalized - float(r['normalized'])) < 1e-4\n"
            "    stem = stems[r['path']]\n"
            "    t = tifffile.imread(D + '/pred/maps/' + stem + '.tiff')\n"
            "    assert t.dtype == np.float32 and t.shape == b.map.shape, (t.dtype, t.shape)\n"
            "    assert np.abs(t - b.map).max() <= 1e-4 * (1 + np.abs(t).max()), np.abs(t - b.map).max()\n"
            "    # the normalised map: 0.5 at the pixel threshold, same scale for every image\n"
            "    un = np.clip((b.map - thr['pixel_threshold']) / (thr['pixel_max'] - thr['pixel_min']) + 0.5, 0, 1)\n"
            "    assert np.abs(un - b.map_normalized).max() < 1e-5\n"
            "    mask = np.array(Image.open(D + '/pred/images/' + stem + '_mask.png'))\n"
            "    assert ((mask > 0) == (t > thr['pixel_threshold'])).mean() > 0.999\n"
            "    for k in ('heat', 'overlay'):\n"
            "        im = Image.open(D + '/pred/images/%s_%s.png' % (stem, k))\n"
            "        assert im.size == (t.shape[1], t.shape[0]) and im.mode == 'RGB', (k, im.size, im.mode)\n"
            "s.close()\n");
    if (ddad_test_system("test -e '%s/../lib/libddad.so'", bin) != 0) {
        fprintf(stderr, "\n  note: no libddad.so in this build (sanitizer builds have none): binding not checked");
    } else {
        CU_ASSERT_EQUAL(rc, 0);
    }
    /* jsonl and the table */
    rc = ddad_test_system(PREDICT " '%s' '%s/new' --out '%s/pj' --format jsonl --quiet > /dev/null 2>&1", bin,
                          g_run, g_dir, g_dir);
    CU_ASSERT_EQUAL(rc, 4);
    CU_ASSERT_EQUAL(py("import json, os\n"
                       "L = [json.loads(l) for l in open(os.environ['DIR'] + '/pj/predictions.jsonl')]\n"
                       "assert len(L) == 4 and all(set(x) == {'path', 'score', 'normalized', 'threshold', 'label',\n"
                       "    'ms_per_image', 'feature_weights'} for x in L), L\n"
                       "# the run has no features.weights: every row says its scores come from random weights\n"
                       "assert all(x['feature_weights'].startswith('random (seed ') for x in L), L[0]\n"
                       "import csv\n"
                       "R = list(csv.DictReader(open(os.environ['DIR'] + '/pred/predictions.csv')))\n"
                       "assert R and all(r['feature_weights'] == L[0]['feature_weights'] for r in R), R[0]\n"),
                    0);
    rc = ddad_test_system(PREDICT " '%s' '%s/new/sub/h.png' --out '%s/pt' --format table 2>/dev/null > '%s/pt.txt'",
                          bin, g_run, g_dir, g_dir, g_dir);
    CU_ASSERT_EQUAL(rc, 0);
    /* the table: the counts, and the feature weights once below it (not as a column) */
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '1 scored, .* 0 failed' '%s/pt.txt' && "
                                     "grep -q '^feature weights: random (seed ' '%s/pt.txt' && "
                                     "! grep -q 'feature_weights' '%s/pt.txt'", g_dir, g_dir, g_dir), 0);
}

/* --calib: rules on good images, f1 refused with good images only, f1 with
 * labelled defects and masks (an MVTec test folder). */
static void test_predict_calib(void)
{
    CU_ASSERT_FATAL(setup());
    const char *bin = ddad_test_bin_dir();
    char good[4300];
    snprintf(good, sizeof good, "%s/synthetic/woven/train/good", g_dir);
    /* max on good images: none of them is flagged, and the largest sits at
     * exactly 0.5 on the normalised scale */
    int rc = ddad_test_system(PREDICT " '%s' '%s' --calib '%s' --rule max --out '%s/pc' --quiet > /dev/null "
                              "2> '%s/pc.err'", bin, g_run, good, good, g_dir, g_dir);
    CU_ASSERT_EQUAL(rc, 0);
    /* train/good: data.val_split 0.25 held 2 of its 8 images out of training */
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '6 of the 8 good --calib images are images the model trained on' "
                                     "'%s/pc.err'", g_dir),
                    0);
    rc = py("import csv, json, os\n"
            "D, RUN = os.environ['DIR'], os.environ['RUN']\n"
            "t = json.load(open(RUN + '/threshold.json'))['thresholds'][0]\n"
            "assert t['rule'] == 'max' and t['images'] == 8 and '--calib' in t['source'], t\n"
            "assert t['seen_in_training'] and t['source'].endswith('; 6 of them trained on'), t\n"
            "assert 'test_check' not in t, t  # new thresholds: ddad-eval's check no longer applies\n"
            "if os.path.exists(os.environ['DDAD_LIBRARY']):  # sanitizer builds have no libddad.so\n"
            "    from ddad import Scorer\n"
            "    assert Scorer(RUN).threshold_check is None\n"
            "cal = list(csv.DictReader(open(RUN + '/calibration.csv')))  # the images behind the new threshold\n"
            "assert len(cal) == 8 and all(r['label'] == 'good' and r['above_threshold'] == '0' for r in cal), cal\n"
            "assert all(r['name'].startswith(os.environ['DIR']) for r in cal), cal\n"
            "assert abs(max(float(r['score']) for r in cal) - t['image_threshold']) < 1e-6 * (1 + abs(t['image_threshold']))\n"
            "rows = list(csv.DictReader(open(D + '/pc/predictions.csv')))\n"
            "# scored in batches here, one by one for the calibration: equal up to float rounding\n"
            "tol = 1e-5 * (1 + abs(t['image_threshold']))\n"
            "assert len(rows) == 8, rows\n"
            "assert all(r['label'] == 'good' or float(r['score']) - t['image_threshold'] < tol for r in rows), rows\n"
            "assert abs(max(float(r['normalized']) for r in rows) - 0.5) < 1e-4, rows\n");
    CU_ASSERT_EQUAL(rc, 0);
    /* fpr:0.25 on the same 8 images flags at most 2 of them */
    rc = ddad_test_system(PREDICT " '%s' '%s' --calib '%s' --rule fpr:0.25 --out '%s/pf' --quiet > /dev/null 2>&1",
                          bin, g_run, good, good, g_dir);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(py("import csv, os\n"
                       "rows = list(csv.DictReader(open(os.environ['DIR'] + '/pf/predictions.csv')))\n"
                       "n = sum(r['label'] == 'anomalous' for r in rows)\n"
                       "assert 0 < n <= 2, n\n"),
                    0);
    /* f1 with only good images: refused before scoring, with the reason */
    rc = ddad_test_system(PREDICT " '%s' --calib '%s' --rule f1 > /dev/null 2> '%s/f1.err'", bin, g_run, good, g_dir);
    CU_ASSERT_EQUAL(rc, 3);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'calls every' '%s/f1.err'", g_dir), 0);
    /* f1 on an MVTec test folder: good/ and labelled defects with masks */
    rc = ddad_test_system(PREDICT " '%s' --calib '%s/synthetic/woven/test' --rule f1 --quiet > /dev/null 2>&1", bin,
                          g_run, g_dir);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(py("import json, os\n"
                       "t = json.load(open(os.environ['RUN'] + '/threshold.json'))['thresholds'][0]\n"
                       "assert t['rule'] == 'f1' and t['images'] == 3 and t['defect_images'] > 0, t\n"
                       "assert 'with masks' in t['source'], t\n"),
                    0);
    /* no calibration at all: labels unknown, heat maps refused */
    CU_ASSERT_EQUAL(ddad_test_system("mv '%s/threshold.json' '%s/thr_saved.json'", g_run, g_dir), 0);
    rc = ddad_test_system(PREDICT " '%s' '%s' --out '%s/pn' --quiet > /dev/null 2>&1", bin, g_run, good, g_dir);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q ',unknown,' '%s/pn/predictions.csv'", g_dir), 0);
    rc = ddad_test_system(PREDICT " '%s' '%s' --save heat --out '%s/pn' > /dev/null 2>&1", bin, g_run, good, g_dir);
    CU_ASSERT_EQUAL(rc, 4);
    CU_ASSERT_EQUAL(ddad_test_system("mv '%s/thr_saved.json' '%s/threshold.json'", g_dir, g_run), 0);
}

/* A unified run needs --category. */
static void test_predict_unified(void)
{
    CU_ASSERT_FATAL(setup());
    const char *bin = ddad_test_bin_dir();
    char cfg[4300], run[4300];
    snprintf(cfg, sizeof cfg, "%s/unified.yaml", g_dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "base: %s/configs/tiny.yaml\ndata:\n  root: %s/synthetic\n  category: [woven, grainy]\n"
               "run:\n  dir: %s/runs\n",
            ddad_test_source_dir(), g_dir, g_dir);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(ddad_test_untrained_run(cfg, run, sizeof run), 0);
    char img[4300];
    snprintf(img, sizeof img, "%s/synthetic/woven/test/good/000.png", g_dir);
    CU_ASSERT_EQUAL(ddad_test_system(PREDICT " '%s' '%s' --quiet > /dev/null 2>&1", bin, run, img), 2);
    CU_ASSERT_EQUAL(ddad_test_system(PREDICT " '%s' '%s' --category nope --quiet > /dev/null 2>&1", bin, run, img), 2);
    CU_ASSERT_EQUAL(ddad_test_system(PREDICT " '%s' '%s' --category woven --out '%s/pu' --quiet > /dev/null 2>&1",
                                     bin, run, img, g_dir),
                    0);
    /* a CONFIG names the run too */
    CU_ASSERT_EQUAL(ddad_test_system(PREDICT " '%s' '%s' --category grainy --out '%s/pu2' --quiet > /dev/null 2>&1",
                                     bin, cfg, img, g_dir),
                    0);
    /* --calib on a run never evaluated: calibration.csv goes to the category's folder */
    CU_ASSERT_EQUAL(ddad_test_system(PREDICT " '%s' --category grainy --calib '%s/synthetic/woven/test/good' "
                                     "--quiet > /dev/null 2>&1",
                                     bin, run, g_dir),
                    0);
    CU_ASSERT_EQUAL(ddad_test_system("test $(wc -l < '%s/grainy/calibration.csv') -gt 2 && "
                                     "! test -e '%s/calibration.csv'", run, run),
                    0);
    /* no data.val_split: ddad-eval fits woven's thresholds on training images (the
     * test data has no grainy, whose --calib thresholds stay), which threshold.json
     * records and ddad-predict warns about even with --quiet */
    CU_ASSERT_EQUAL_FATAL(ddad_test_system(EVAL " '%s' --all-categories --quiet > /dev/null 2>&1", bin, cfg), 0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '\"seen_in_training\": true,' '%s/threshold.json' && "
                                     "grep -q '\"seen_in_training\": false,' '%s/threshold.json'", run, run),
                    0);
    CU_ASSERT_EQUAL(ddad_test_system(PREDICT " '%s' '%s' --category woven --out '%s/pu3' --quiet > /dev/null "
                                     "2> '%s/pu.err'", bin, run, img, g_dir, g_dir),
                    0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'woven was fitted on images the model trained on' '%s/pu.err'", g_dir),
                    0);
    /* --calib on the training folder itself: counted, recorded and warned about */
    CU_ASSERT_EQUAL(ddad_test_system(PREDICT " '%s' --category woven --calib '%s/synthetic/woven/train/good' --quiet "
                                     "> /dev/null 2> '%s/pt.err'", bin, run, g_dir, g_dir),
                    0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '8 of the 8 good --calib images are images the model trained on' "
                                     "'%s/pt.err' && grep -B1 '8 good images; 8 of them trained on' '%s/threshold.json' | "
                                     "grep -q '\"seen_in_training\": true,'", g_dir, run),
                    0);
    /* the deployment example reads the flag through the API and says so */
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-score-example' '%s' '%s' 2>&1 >/dev/null | grep -q 'fitted on images "
                                     "the model trained on, so it is too low'", bin, run, img),
                    0);
}

/* TIFF maps: export in MVTec's layout, re-import, same metrics; and a
 * foreign maps file with only the minimum layout. */
static void test_maps_round_trip(void)
{
    CU_ASSERT_FATAL(setup());
    CU_ASSERT_FATAL(ddad_test_python_has("json,numpy,h5py,tifffile"));
    const char *bin = ddad_test_bin_dir();
    char cfg[4300];
    snprintf(cfg, sizeof cfg, "%s/woven.yaml", g_dir);
    int rc = ddad_test_system(EVAL " '%s' --quiet --export-maps '%s/export' > /dev/null 2>&1", bin, cfg, g_dir);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    rc = ddad_test_system(EVAL " --maps-dir '%s/export' --data '%s/synthetic' --format json > '%s/dir.json'", bin,
                          g_dir, g_dir, g_dir);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    /* the reference: the maps file with the image score of MVTec's protocol
     * (max of each map, i.e. without /scores) */
    rc = py("import h5py, json, os, shutil, subprocess, numpy as np, tifffile\n"
            "D, RUN, BIN = os.environ['DIR'], os.environ['RUN'], os.environ['BIN']\n"
            "shutil.copy(RUN + '/maps.h5', D + '/noscores.h5')\n"
            "with h5py.File(D + '/noscores.h5', 'a') as f:\n"
            "    del f['scores']\n"
            "    names = [n.decode() if isinstance(n, bytes) else n for n in f['names'][:]]\n"
            "    maps = f['maps'][:]\n"
            "ref = json.loads(subprocess.check_output([BIN + '/ddad-eval', '--maps', D + '/noscores.h5', '--format',\n"
            "                                          'json']))[0]\n"
            "got = json.load(open(D + '/dir.json'))[0]\n"
            "for k in ('image_auroc', 'pixel_auroc', 'au_pro', 'pixel_f1_max', 'images'):\n"
            "    assert abs(ref[k] - got[k]) < 1e-9, (k, ref[k], got[k])\n"
            "# layout: DIR/<category>/test/<defect>/<stem>.tiff, float32, the map's values\n"
            "for i, n in enumerate(names):\n"
            "    p = D + '/export/woven/' + os.path.splitext(n)[0] + '.tiff'\n"
            "    t = tifffile.imread(p)\n"
            "    assert t.dtype == np.float32 and np.array_equal(t, maps[i]), p\n"
            "# a foreign file with only the minimum layout\n"
            "rng = np.random.default_rng(0)\n"
            "m = np.zeros((6, 16, 16), np.int64); m[3:, 4:8, 4:8] = 1\n"
            "with h5py.File(D + '/foreign.h5', 'w') as f:\n"
            "    f['maps'] = rng.random((6, 16, 16)) + 0.8 * m\n"
            "    f['masks'] = m\n"
            "    f['labels'] = np.array([0, 0, 0, 1, 1, 1], np.int32)\n"
            "    f['names'] = np.array([b'good/0', b'good/1', b'good/2', b'crack/0', b'crack/1', b'crack/2'])\n"
            "    f.attrs['category'] = 'thing'\n"
            "r = json.loads(subprocess.check_output([BIN + '/ddad-eval', '--maps', D + '/foreign.h5', '--format',\n"
            "                                        'json']))[0]\n"
            "from sklearn.metrics import roc_auc_score\n"
            "with h5py.File(D + '/foreign.h5', 'r') as f:\n"
            "    mp, mk = f['maps'][:].astype(np.float32), f['masks'][:]\n"
            "assert r['category'] == 'thing' and abs(r['pixel_auroc'] - roc_auc_score(mk.ravel(), mp.ravel())) < 1e-9\n"
            "assert abs(r['image_auroc'] - roc_auc_score([0, 0, 0, 1, 1, 1], mp.reshape(6, -1).max(1))) < 1e-9\n");
    CU_ASSERT_EQUAL(rc, 0);
    /* a missing TIFF and a missing category attribute are data errors */
    CU_ASSERT_EQUAL(ddad_test_system("rm '%s/export/woven/test/good/000.tiff' && " EVAL " --maps-dir '%s/export' "
                                     "--data '%s/synthetic' > /dev/null 2> '%s/md.err'",
                                     g_dir, bin, g_dir, g_dir, g_dir),
                    4);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '000.tiff' '%s/md.err'", g_dir), 0);
    CU_ASSERT_EQUAL(py("import h5py, os\n"
                       "with h5py.File(os.environ['DIR'] + '/foreign.h5', 'a') as f: del f.attrs['category']\n"),
                    0);
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " --maps '%s/foreign.h5' > /dev/null 2> '%s/fm.err'", bin, g_dir, g_dir), 4);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'minimum layout' '%s/fm.err'", g_dir), 0);
    CU_ASSERT_EQUAL(ddad_test_system(EVAL " --maps-dir '%s/export' > /dev/null 2>&1", bin, g_dir), 2);
}

/* ddad-alpha-sweep on a run scored with score.normalize good: the maps file
 * holds raw maps, and the sweep must normalise them with the run's
 * reference.h5 as the scorer did, so that at the file's own alpha it
 * reproduces ddad-eval's metrics; without the reference it stops (exit 4). */
static void test_alpha_sweep_good(void)
{
    CU_ASSERT_FATAL(setup());
    const char *bin = ddad_test_bin_dir();
    char cfg[4300];
    snprintf(cfg, sizeof cfg, "%s/woven.yaml", g_dir);
    const char *sets = "--set score.normalize=good --set score.good_std=pixel --set score.alpha=0.7 "
                       "--set score.smooth_sigma=1";
    int rc = ddad_test_system(EVAL " '%s' %s --quiet --format csv > '%s/good.csv' 2>/dev/null", bin, cfg, sets, g_dir);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    rc = ddad_test_system("'%s/ddad-alpha-sweep' '%s/maps.h5' --alphas 0.7,1 > '%s/sweep.txt'", bin, g_run, g_dir);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    rc = py("import csv, os\n"
            "D = os.environ['DIR']\n"
            "m = next(csv.DictReader(open(D + '/good.csv')))\n"
            "lines = open(D + '/sweep.txt').read().splitlines()\n"
            "assert 'by held-out good images, per-pixel std' in lines[0], lines[0]\n"
            "rows = [l.split() for l in lines if not l.startswith('#')]\n"
            "a = [float(x) for x in rows[0]]\n"
            "assert a[0] == 0.7\n"
            "for k, v in zip(('image_auroc', 'pixel_auroc', 'au_pro'), a[1:]):\n"
            "    assert abs(float(m[k]) - v) < 2e-6, (k, m[k], v)\n");
    CU_ASSERT_EQUAL(rc, 0);
    rc = ddad_test_system("mv '%s/reference.h5' '%s/ref.h5' && '%s/ddad-alpha-sweep' '%s/maps.h5' > /dev/null "
                          "2> '%s/sweep.err'", g_run, g_dir, bin, g_run, g_dir);
    CU_ASSERT_EQUAL(rc, 4);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'score.normalize good' '%s/sweep.err'", g_dir), 0);
    rc = ddad_test_system("'%s/ddad-alpha-sweep' '%s/maps.h5' --reference '%s/ref.h5' > /dev/null", bin, g_run, g_dir);
    CU_ASSERT_EQUAL(rc, 0);
    ddad_test_system("mv '%s/ref.h5' '%s/reference.h5'", g_dir, g_run);
}

/* score.normalize good with 3 or more held-out images: the threshold is
 * fitted on each held-out image scored with the statistics of the others
 * (cross-fitted, said in threshold.json), and metrics.json says how it does
 * on the test split; with 2 held-out images eval warns that it cannot. The
 * model is untrained, so holding out other images than in training is
 * harmless here. */
static void test_cross_fitted_threshold(void)
{
    CU_ASSERT_FATAL(setup());
    const char *bin = ddad_test_bin_dir();
    char cfg[4300];
    snprintf(cfg, sizeof cfg, "%s/woven.yaml", g_dir);
    int rc = ddad_test_system(EVAL " '%s' --set score.normalize=good --set data.val_split=0.4 > /dev/null "
                              "2> '%s/cross.err'", bin, cfg, g_dir);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'at the deployment thresholds (rule max, fitted on training images: "
                                     "too low): .* good test images flagged' '%s/cross.err'", g_dir),
                    0);
    rc = py("import json, os\n"
            "R = os.environ['RUN']\n"
            "t = json.load(open(R + '/threshold.json'))['thresholds'][0]\n"
            "assert t['images'] == 3, t\n"
            "# the checkpoint was saved with data.val_split 0.25, which held out images 3 and 7;\n"
            "# this evaluation's 0.4 holds out 2, 4 and 7: two of them were trained on\n"
            "assert t['seen_in_training'] and t['source'].endswith('; but 2 of them trained on'), t\n"
            "assert 'each scored with the reference statistics of the other 2' in t['source'], t['source']\n"
            "m = json.load(open(R + '/metrics.json'))\n"
            "d = m['deployment_check']\n"
            "assert d['image_threshold'] == t['image_threshold'] and d['good_images'] + d['defective_images'] == "
            "m['images'], d\n"
            "import csv\n"
            "rows = list(csv.DictReader(open(R + '/calibration.csv')))\n"
            "assert len(rows) == 3 and abs(max(float(r['score']) for r in rows) - t['image_threshold']) < "
            "1e-6 * (1 + abs(t['image_threshold'])), (rows, t)\n"
            "c = t['test_check']\n"
            "for k in ('good_images', 'good_flagged', 'defective_images', 'defective_flagged'):\n"
            "    assert c[k] == d[k], (k, c, d)\n"
            "assert c['good_image_flagged'] / c['good_image_pixels'] == d['pixel_fpr_good_images'], (c, d)\n"
            "if os.path.exists(os.environ['DDAD_LIBRARY']):  # sanitizer builds have no libddad.so\n"
            "    from ddad import Scorer\n"
            "    k = Scorer(R).threshold_check\n"
            "    assert (k['good_flagged'], k['good_images'], k['defective_flagged']) == (c['good_flagged'], "
            "c['good_images'], c['defective_flagged']) and k['image_fpr'] == d['image_fpr'], (k, d)\n"
            "open(os.environ['DIR'] + '/check.txt', 'w').write('these thresholds flagged %d of %d good images and "
            "%d of %d defective ones' % (c['good_flagged'], c['good_images'], c['defective_flagged'], "
            "c['defective_images']))\n");
    CU_ASSERT_EQUAL(rc, 0);
    /* ddad-predict tells the deployment what the thresholds flagged on the test split */
    rc = ddad_test_system(PREDICT " '%s' '%s/synthetic/woven/test/good' --out '%s/pcheck' > /dev/null "
                          "2> '%s/pcheck.err'", bin, g_run, g_dir, g_dir, g_dir);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -qF -f '%s/check.txt' '%s/pcheck.err'", g_dir, g_dir), 0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '2 of the 3 held-out images the threshold is fitted on are images "
                                     "the model trained on' '%s/cross.err' && grep -q 'fitted on images the model "
                                     "trained on' '%s/pcheck.err'", g_dir, g_dir),
                    0);
    rc = ddad_test_system(EVAL " '%s' --set score.normalize=good --quiet > /dev/null 2> '%s/two.err'", bin, cfg, g_dir);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'only 2 held-out good images' '%s/two.err'", g_dir), 0);
}

/* --export-maps at the images' original size: the maps of a 32 px model
 * evaluated on 48 px images are written as 48 x 48 TIFFs, torch's bilinear
 * upsampling (align_corners false) of the stored 32 px maps. Runs last: it
 * re-evaluates the run on other data (maps.h5 and threshold.json change). */
static void test_export_upsamples(void)
{
    CU_ASSERT_FATAL(setup());
    CU_ASSERT_FATAL(ddad_test_python_has("numpy,h5py,tifffile,torch"));
    char root[4300], cfg[4300];
    snprintf(root, sizeof root, "%s/synthetic48", g_dir);
    snprintf(cfg, sizeof cfg, "%s/woven.yaml", g_dir);
    CU_ASSERT_EQUAL_FATAL(ddad_test_synth(root, "woven", 48, 8, 2, 2), 0);
    int rc = ddad_test_system(EVAL " '%s' --quiet --set data.root='%s' --export-maps '%s/export48' > /dev/null 2>&1",
                              ddad_test_bin_dir(), cfg, root, g_dir);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    rc = py("import h5py, os, numpy as np, tifffile, torch\n"
            "import torch.nn.functional as F\n"
            "D, RUN = os.environ['DIR'], os.environ['RUN']\n"
            "with h5py.File(RUN + '/maps.h5', 'r') as f:\n"
            "    names = [n.decode() if isinstance(n, bytes) else n for n in f['names'][:]]\n"
            "    maps = f['maps'][:]\n"
            "assert maps.shape[1:] == (32, 32) and len(names) == maps.shape[0] >= 4, maps.shape\n"
            "for i, n in enumerate(names):\n"
            "    t = tifffile.imread(D + '/export48/woven/' + os.path.splitext(n)[0] + '.tiff')\n"
            "    ref = F.interpolate(torch.from_numpy(maps[i])[None, None], size=(48, 48), mode='bilinear',\n"
            "                        align_corners=False)[0, 0].numpy()\n"
            "    assert t.shape == (48, 48) and t.dtype == np.float32, (n, t.shape)\n"
            "    err = np.abs(t - ref).max() / max(1.0, np.abs(ref).max())\n"
            "    assert err < 1e-5, (n, err)\n");
    CU_ASSERT_EQUAL(rc, 0);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"usage", test_usage},
                                        {"--print-config everywhere", test_print_config},
                                        {"ddad-eval threshold rules and provenance", test_eval_rules},
                                        {"predict a folder: corrupt file, --save, formats, binding", test_predict_folder},
                                        {"predict --calib rules", test_predict_calib},
                                        {"predict a unified run", test_predict_unified},
                                        {"TIFF export/import, foreign maps file", test_maps_round_trip},
                                        {"alpha sweep of a score.normalize good run", test_alpha_sweep_good},
                                        {"cross-fitted threshold under score.normalize good", test_cross_fitted_threshold},
                                        {"TIFF export at the original size (upsampled)", test_export_upsamples},
                                        {0}};
    int rc = ddad_test_main("prog_predict", tests);
    if (g_dir && rc == 0) {
        ddad_test_rmtree(g_dir);
        free(g_dir);
    }
    return rc;
}
