/* tests/test_experiments.c - every experiment script (experiments/NAME.sh) in --demo mode on
 * tiny demo runs made here (configs/demo.yaml and demo_unified.yaml shrunk by
 * --set to 32 px, 2 training steps, two categories for the unified model;
 * trained by ddad-train and evaluated by ddad-eval): the output files exist,
 * and a missing run fails with exit code 4 and a message naming it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

static char *tmp;
static char sets[8192];

static const char *tiny =
    "--set data.image_size=32 --set model.channel_mult=[1,2] --set model.attention_resolutions=[16] "
    "--set model.feature_tap=0 --set features.train_size=8 --set features.score_size=8 "
    "--set train.iterations=2 --set train.batch_size=2 --set train.checkpoint_every=2 "
    "--set recon.rounds=2 --set recon.grad_steps=2 --set recon.record=[0,1,2] --set recon.padim_channels=64";

static int exists(const char *dir, const char *name)
{
    char p[4200];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int ok = stat(p, &sb) == 0 && sb.st_size > 0;
    if (!ok)
        fprintf(stderr, "\n  missing: %s\n", p);
    return ok;
}

static void setup(void)
{
    tmp = ddad_test_mkdtemp("experiments");
    const char *bin = ddad_test_bin_dir(), *src = ddad_test_source_dir();
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("%s/ddad-synth --out %s/synthetic --size 32 --train 4 --test-good 1 "
                                           "--test-defect 1 --categories woven,grainy > /dev/null",
                                           bin, tmp),
                          0);
    snprintf(sets, sizeof sets, "%s --set data.root=%s/synthetic --set run.dir=%s/runs", tiny, tmp, tmp);
    const char *uni = "--set data.category=[woven,grainy]";
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("%s/ddad-train %s/configs/demo.yaml %s --quiet", bin, src, sets), 0);
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("%s/ddad-eval %s/configs/demo.yaml %s --quiet > /dev/null", bin, src, sets),
                          0);
    CU_ASSERT_EQUAL_FATAL(
        ddad_test_system("%s/ddad-train %s/configs/demo_unified.yaml %s %s --quiet", bin, src, sets, uni), 0);
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("%s/ddad-eval %s/configs/demo_unified.yaml %s %s --quiet > /dev/null", bin,
                                           src, sets, uni),
                          0);
}

static int script(const char *name, const char *extra, const char *out)
{
    return ddad_test_system("%s/experiments/%s --demo --bin %s --out %s %s %s > %s/%s.stdout 2> %s/%s.stderr",
                            ddad_test_source_dir(), name, ddad_test_bin_dir(), out, sets, extra, tmp, name, tmp, name);
}

static void test_tables(void)
{
    char out[2048];
    snprintf(out, sizeof out, "%s/results", tmp);
    CU_ASSERT_EQUAL(script("table1.sh", "", out), 0);
    CU_ASSERT(exists(out, "table1.md"));
    CU_ASSERT(exists(out, "table1.tex"));
    /* the woven row and the paper's mean (96.7 / 93.7) */
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '^| woven |' %s/table1.md && grep -q '96.7 | 93.7' %s/table1.md", out,
                                     out),
                    0);
    CU_ASSERT_EQUAL(script("table2.sh", "--unified-set data.category=[woven,grainy]", out), 0);
    CU_ASSERT(exists(out, "table2.md"));
    CU_ASSERT(exists(out, "table2.tex"));
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '^| grainy |' %s/table2.md && grep -q '96.0 | 93.0' %s/table2.md", out,
                                     out),
                    0);
}

static void test_figures(void)
{
    char out[2048];
    snprintf(out, sizeof out, "%s/results", tmp);
    CU_ASSERT_EQUAL(script("fig7.sh", "", out), 0);
    CU_ASSERT(exists(out, "fig7/contact_sheet.png"));
    CU_ASSERT(exists(out, "fig7/fig7_woven_colour_000.png"));
    CU_ASSERT_EQUAL(script("anomaly_maps.sh", "", out), 0);
    CU_ASSERT(exists(out, "anomaly_maps/maps_woven_colour_000.png"));
    /* Figure 5 needs ddad-alpha-sweep: with it, the sweep's data; without it, a
     * clear failure (exit 2) naming the tool */
    char tool[2048];
    struct stat sb;
    snprintf(tool, sizeof tool, "%s/ddad-alpha-sweep", ddad_test_bin_dir());
    int rc = script("fig5_alpha.sh", "", out);
    if (stat(tool, &sb) == 0) {
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT(exists(out, "fig5_alpha_woven.dat"));
        /* 11 alphas from 0 to 1 */
        CU_ASSERT_EQUAL(ddad_test_system("test $(grep -vc '^#' %s/fig5_alpha_woven.dat) -eq 11", out), 0);
        /* the plot is drawn through core/plot when gnuplot is installed */
        if (ddad_test_system("command -v gnuplot >/dev/null") == 0)
            CU_ASSERT(exists(out, "fig5_alpha_woven.png"));
    } else {
        CU_ASSERT_EQUAL(rc, 2);
        CU_ASSERT_EQUAL(ddad_test_system("grep -q 'ddad-alpha-sweep is not built' %s/fig5_alpha.sh.stderr", tmp), 0);
    }
}

/* quality.sh on the tiny synthetic set: trains cpu_real (shrunk), evaluates,
 * runs the scoring ablations and the floors; one CSV row per setting. */
static void test_quality(void)
{
    char out[2048];
    snprintf(out, sizeof out, "%s/quality", tmp);
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("mkdir -p %s", out), 0);
    char extra[4096];
    int n = snprintf(extra, sizeof extra,
                     "--data synth=%s/synthetic:woven --set data.val_split=0.5 --set score.batch_size=8 "
                     "--set score.topk=16",
                     tmp);
    int rc = script("quality.sh", extra, out);
    if (rc != 0)
        ddad_test_system("cat %s/quality.sh.stderr %s/quality.log >&2", tmp, out);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(exists(out, "quality.csv"));
    CU_ASSERT(exists(out, "quality.md"));
    /* header, the main row, 12 ablations (of 15: the three that are cpu_real's own
     * setting are skipped), 2 floors */
    CU_ASSERT_EQUAL(ddad_test_system("test $(wc -l < %s/quality.csv) -eq 16", out), 0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q \"cpu_real's\" %s/quality.csv", out), 1);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q \"timesteps 0/1/3/5/10 (cpu_real_texture's)\" %s/quality.csv", out), 0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '^synth,woven,\"floor: patchnn\",0' %s/quality.csv", out), 0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '| woven | ddad cpu_real |' %s/quality.md", out), 0);
    /* the deployment check of the main run: its counts as metrics.json has them */
    CU_ASSERT_EQUAL(ddad_test_system("test $(wc -l < %s/thresholds.csv) -eq 2", out), 0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -Eq '^synth,woven,max,[0-9]+,[0-9]+,[0-9]+,[0-9]+,[0-9.e-]+,[0-9.e-]+,[0-9.e-]+,[0-9.e+-]+,[0-9.e+-]+,false$' "
                                     "%s/thresholds.csv", out),
                    0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '| synth | woven | max | .* of ' %s/quality.md", out), 0);
    /* calibration_shift.py compares the main run's calibration images with its good test images */
    if (ddad_test_python_has("numpy,scipy,h5py,PIL")) {
        CU_ASSERT_EQUAL(ddad_test_system("d=$(dirname \"$(find %s -path '*/main/calibration.csv' | head -n 1)\") "
                                         "&& '%s' %s/experiments/calibration_shift.py \"$d\" > %s/shift.txt 2>&1 "
                                         "&& test $(grep -c 'Mann-Whitney p' %s/shift.txt) -eq 3 "
                                         "&& grep -q 'Spearman' %s/shift.txt || { cat %s/shift.txt >&2; false; }",
                                         tmp, ddad_test_python(), ddad_test_source_dir(), tmp, tmp, tmp, tmp),
                        0);
        CU_ASSERT_EQUAL(ddad_test_system("'%s' %s/experiments/calibration_shift.py %s > /dev/null 2>&1",
                                         ddad_test_python(), ddad_test_source_dir(), tmp),
                        4);
    }
    /* --ablations keeps the matching rows only (the trained run is resumed, not retrained) */
    snprintf(extra + n, sizeof extra - (size_t)n, " --ablations 'smooth_sigma 4|noise_draws'");
    CU_ASSERT_EQUAL(script("quality.sh", extra, out), 0);
    /* header, the main row, 2 ablations, 2 floors */
    CU_ASSERT_EQUAL(ddad_test_system("test $(wc -l < %s/quality.csv) -eq 6", out), 0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q '\"ablation: smooth_sigma 4\"' %s/quality.csv", out), 0);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'smooth_sigma 0' %s/quality.csv", out), 1);
    /* a data set that is not there: exit 4 */
    CU_ASSERT_EQUAL(ddad_test_system("%s/experiments/quality.sh --bin %s --out %s --data x=%s/nothing > /dev/null 2>&1",
                                     ddad_test_source_dir(), ddad_test_bin_dir(), out, tmp),
                    4);
}

/* bench/conv_bound.py on the demo UNet: every convolution timed, the total line */
static void test_conv_bound(void)
{
    if (!ddad_test_python_has("torch")) {
        fprintf(stderr, "(python3-torch missing: conv_bound.py not run) ");
        return;
    }
    CU_ASSERT_EQUAL(ddad_test_system("OMP_WAIT_POLICY=PASSIVE '%s' %s/experiments/bench/conv_bound.py 2 bf16 1 demo "
                                     "> %s/bound.txt 2>&1 && grep -q 'GroupNorm fp32 on' %s/bound.txt && "
                                     "grep -Eq '^one forward pass, bf16, 2 threads: [0-9.]+ GFLOP' %s/bound.txt "
                                     "|| { cat %s/bound.txt >&2; false; }",
                                     ddad_test_python(), ddad_test_source_dir(), tmp, tmp, tmp, tmp),
                    0);
    CU_ASSERT_EQUAL(ddad_test_system("'%s' %s/experiments/bench/conv_bound.py 2 fp16 > /dev/null 2>&1",
                                     ddad_test_python(), ddad_test_source_dir()),
                    2);
}

static void test_missing_run(void)
{
    char out[2048];
    snprintf(out, sizeof out, "%s/results2", tmp);
    const char *scripts[] = {"table1.sh", "table2.sh", "fig7.sh", "anomaly_maps.sh", "fig5_alpha.sh"};
    char tool[2048];
    struct stat sb;
    snprintf(tool, sizeof tool, "%s/ddad-alpha-sweep", ddad_test_bin_dir());
    for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
        if (!strcmp(scripts[i], "fig5_alpha.sh") && stat(tool, &sb) != 0)
            continue; /* checked above: fails earlier, on the missing tool */
        int rc = script(scripts[i], "--set run.name=absent", out);
        if (rc != 4)
            fprintf(stderr, "\n  %s: exit %d, expected 4\n", scripts[i], rc);
        CU_ASSERT_EQUAL(rc, 4);
        CU_ASSERT_EQUAL(ddad_test_system("grep -q 'absent' %s/%s.stderr", tmp, scripts[i]), 0);
    }
}

static void teardown(void)
{
    ddad_test_rmtree(tmp);
    free(tmp);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"set-up: tiny demo runs", setup},
                                        {"tables", test_tables},
                                        {"figures", test_figures},
                                        {"quality", test_quality},
                                        {"conv_bound.py", test_conv_bound},
                                        {"missing run", test_missing_run},
                                        {"teardown", teardown},
                                        {NULL, NULL}};
    return ddad_test_main("experiments", tests);
}
