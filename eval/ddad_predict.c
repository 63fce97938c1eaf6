/* ddad-predict - score new, unlabelled images with a trained run and its
 * calibrated threshold (see --help). Built on the deployment API
 * (include/ddad/ddad.h) plus the calibration module (core/report/calib.h).
 * Built twice (core/runtime.h): bin/ddad-predict, without libtorch, reads
 * the options and the run's config (--help, --version, --print-config) and
 * starts libexec/ddad/ddad-predict, which adds predict_run.c (and
 * trained_on.c, which reads the checkpoint's config and data set), for the
 * rest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "config.h"
#include "eval_images.h"
#include "predict_args.h"
#include "run.h"
#include "runtime.h"

static const char usage_text[] =
    "usage: ddad-predict RUN_DIR|CONFIG [INPUT...] [options]\n"
    "\n"
    "Scores images that have no labels and no data-set layout with a trained run (the\n"
    "EMA weights of its latest checkpoint) and labels each one with the run's stored\n"
    "threshold (threshold.json, written by ddad-eval or by --calib here).\n"
    "INPUT: image files (PNG, JPEG, BMP), folders (searched recursively) or glob patterns\n"
    "('parts/*.png', quoted). A file that cannot be read is reported and skipped; the others\n"
    "are scored and the exit code is 4.\n"
    "\n"
    "Writes OUT/predictions.csv (or .jsonl): path, score (raw), normalized (0..1, 0.5 at the\n"
    "threshold), threshold, label (anomalous, good, or unknown without a threshold), ms per\n"
    "image. --format table also prints the table on stdout.\n"
    "\n"
    "options:\n"
    "  --out DIR            output folder (default RUN_DIR/predictions)\n"
    "  --category C         the category of a unified run (required there)\n"
    "  --save LIST          per-image files, comma-separated: heat, overlay, mask (PNGs on the\n"
    "                       run's fixed calibrated scale, in OUT/images) and tiff (float maps\n"
    "                       at the input's size, in OUT/maps)\n"
    "  --format F           csv (default), jsonl or table\n"
    "  --calib DIR          fit and store the threshold first, on the images of DIR: every image\n"
    "                       is good, or, when DIR has a good/ folder (an MVTec test folder),\n"
    "                       good/ holds the good images and the other folders labelled defects,\n"
    "                       with masks from DIR/../ground_truth/<defect>/<name>_mask.png\n"
    "  --rule R             threshold rule for --calib: max, quantile:Q, fpr:F, f1 (default\n"
    "                       eval.threshold_rule, max); f1 needs labelled defects\n"
    "  --checkpoint PATH    score with this checkpoint instead of the run's latest\n"
    "  --set KEY=VALUE      override a key of the run's config (score.*), repeatable\n"
    "  --device D           cpu, cuda or cuda:N\n"
    "  --print-config       print the resolved configuration and exit\n"
    "  --quiet              no progress and no summary on stderr\n"
    "  --help, --version\n";

static int parse_save(predict_args_t *a, const char *v)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (!strcmp(tok, "heat"))
            a->save |= EVAL_IMAGES_HEAT;
        else if (!strcmp(tok, "overlay"))
            a->save |= EVAL_IMAGES_OVERLAY;
        else if (!strcmp(tok, "mask"))
            a->save |= EVAL_IMAGES_MASK;
        else if (!strcmp(tok, "tiff"))
            a->save_tiff = true;
        else
            return ddad_cli_usage_error(&a->cli, "--save: unknown item '%s' (heat, overlay, mask, tiff)", tok);
    }
    return 0;
}

/* DDAD_CLI_CONTINUE, or the exit code to return now. */
static int parse_args(int argc, char **argv, predict_args_t *a)
{
    memset(a, 0, sizeof *a);
    a->cli = ddad_cli_init("ddad-predict", usage_text);
    a->inputs = calloc((size_t)argc, sizeof *a->inputs);
    if (!a->inputs)
        return ddad_status_exit_code(DDAD_STATUS_NOMEM);
    static const char *const with_value[] = {"--out", "--category", "--calib", "--rule", "--checkpoint", "--save",
                                             "--format", NULL};
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v;
        int r = ddad_cli_next(&a->cli, with_value, argc, argv, &i, &v);
        if (r == DDAD_CLI_EXIT)
            return a->cli.exit_code;
        if (r == DDAD_CLI_HANDLED)
            continue;
        if (!strcmp(s, "--out")) {
            a->out = v;
        } else if (!strcmp(s, "--category")) {
            a->category = v;
        } else if (!strcmp(s, "--calib")) {
            a->calib = v;
        } else if (!strcmp(s, "--rule")) {
            a->rule = v;
        } else if (!strcmp(s, "--checkpoint")) {
            a->checkpoint = v;
        } else if (!strcmp(s, "--save")) {
            int rc = parse_save(a, v);
            if (rc)
                return rc;
        } else if (!strcmp(s, "--format")) {
            if (!strcmp(v, "csv"))
                a->format = OUT_CSV;
            else if (!strcmp(v, "jsonl"))
                a->format = OUT_JSONL;
            else if (!strcmp(v, "table"))
                a->format = OUT_TABLE;
            else
                return ddad_cli_usage_error(&a->cli, "--format: '%s' is not csv, jsonl or table", v);
        } else if (!strcmp(s, "--quiet") || !strcmp(s, "-q")) {
            a->quiet = true;
        } else if (s[0] == '-' && s[1]) {
            return ddad_cli_usage_error(&a->cli, "unknown option %s", s);
        } else if (!a->target) {
            a->target = s;
        } else {
            a->inputs[a->n_inputs++] = s;
        }
    }
    if (!a->target)
        return ddad_cli_usage_error(&a->cli, "no RUN_DIR or CONFIG given");
    if (a->rule && !a->calib)
        return ddad_cli_usage_error(&a->cli, "--rule %s needs --calib DIR (the images to fit it on)", a->rule);
    if (a->n_inputs == 0 && !a->calib && !a->cli.print_config)
        return ddad_cli_usage_error(&a->cli, "no INPUT given (image files, folders or patterns)");
    return DDAD_CLI_CONTINUE;
}

/* The run folder (or checkpoint) to open, and the overrides to pass. */
static ddad_status_t resolve_target(const predict_args_t *a, char *run, size_t cap, ddad_config_t *cfg, bool *have_cfg)
{
    *have_cfg = false;
    if (ddad_run_is_dir(a->target)) {
        snprintf(run, cap, "%s", a->target);
        char path[4200];
        ddad_run_path(path, sizeof path, a->target, NULL, DDAD_RUN_CONFIG);
        struct stat sb;
        if (stat(path, &sb) == 0) {
            DDAD_TRY_RETURN(ddad_cli_load_config(&a->cli, path, cfg));
            *have_cfg = true;
        }
        return DDAD_OK;
    }
    struct stat sb;
    if (stat(a->target, &sb) != 0)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: no such run folder or config file", a->target);
    DDAD_TRY_RETURN(ddad_cli_load_config(&a->cli, a->target, cfg));
    *have_cfg = true;
    return ddad_config_run_dir(cfg, run, cap);
}

int main(int argc, char **argv)
{
    ddad_runtime_reexec(argv);
    predict_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc != DDAD_CLI_CONTINUE) {
        free(a.inputs);
        return rc;
    }
    ddad_cli_t *cli = &a.cli;
    ddad_config_t cfg;
    bool have_cfg = false;
    char run[4096];
    ddad_status_t st = resolve_target(&a, run, sizeof run, &cfg, &have_cfg);
    if (st != DDAD_OK) {
        free(a.inputs);
        return ddad_cli_fail(cli, st);
    }
    if (cli->print_config) {
        free(a.inputs);
        if (!have_cfg) {
            fprintf(stderr, "ddad-predict: %s has no config.yaml to print\n", run);
            return ddad_status_exit_code(DDAD_STATUS_DATA);
        }
        return ddad_cli_print_config(&cfg);
    }
#ifdef DDAD_FRONT_END
    free(a.inputs);
    return ddad_runtime_exec_model(argv);
#else
    rc = predict_run(&a, run, &cfg, have_cfg);
    free(a.inputs);
    return rc;
#endif
}
