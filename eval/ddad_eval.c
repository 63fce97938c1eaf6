/* ddad-eval - anomaly maps and metrics of trained runs (see --help).
 *
 * Built twice (core/runtime.h): bin/ddad-eval, the front end without
 * libtorch (DDAD_FRONT_END), answers --help, --version, --print-config,
 * --maps and --maps-dir and hands evaluations to libexec/ddad/ddad-eval,
 * this file again with the model side (eval_configs.c, eval_run.c). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "allocator.h"
#include "runtime.h"
#include "cli.h"
#include "config.h"
#include "ddad_version.h"
#include "eval_args.h"
#include "eval_run.h"
#include "eval_tiff_maps.h"
#include "report.h"


static const char usage_text[] =
    "usage: ddad-eval CONFIG [options]                    evaluate one trained run\n"
    "       ddad-eval --all-categories [CONFIG] [options]  evaluate many runs, one table\n"
    "       ddad-eval --maps FILE [--pro-limit L] [--format F]   metrics of a maps file\n"
    "       ddad-eval --maps-dir DIR --data ROOT [--categories a,b]  metrics of TIFF maps\n"
    "\n"
    "Evaluates the EMA weights of the latest checkpoint in the run folder of CONFIG\n"
    "(run.dir/<format>/<category>[/run.name]) on the test split and writes, in the run\n"
    "folder: maps.h5 (maps, masks, scores, per-timestep /kl_maps and /feat_maps, the\n"
    "config), metrics.json, metrics.csv, roc/pro curve data (.dat) and roc.png / pro.png\n"
    "(gnuplot), threshold.json (deployment thresholds by eval.threshold_rule, default max,\n"
    "on the held-out good images of data.val_split, else on good training images, with\n"
    "their provenance; ddad-predict and the scoring API use it) and, with --save-images,\n"
    "heat map / binary mask / overlay PNGs on the calibrated scale. A unified run\n"
    "(data.category a list or \"all\") is evaluated per category, into <run>/<category>/.\n"
    "\n"
    "options:\n"
    "  --set KEY=VALUE      override a config key (repeatable), e.g. --set score.alpha=0.3\n"
    "  --checkpoint PATH    evaluate this checkpoint instead of the run's latest\n"
    "  --device D           cpu, cuda or cuda:N (same as --set device=D)\n"
    "  --format F           table (default), csv or json: the metrics on stdout\n"
    "  --pro-limit L        AU-PRO integration limit (default eval.pro_limit, 0.3)\n"
    "  --save-images        per-image PNGs (also eval.save_images: true)\n"
    "  --threshold-images N good training images the deployment threshold is fitted on when\n"
    "                       data.val_split holds none out (8)\n"
    "  --threshold-f1       binary masks at the test-split pixel F1-max threshold\n"
    "                       (optimistic: tuned on the test split; labelled so)\n"
    "  --quiet              no per-image lines on stderr\n"
    "  --all-categories     evaluate every category (see below) and print one table\n"
    "  --config-dir DIR     where the per-category configs are (default configs)\n"
    "  --categories a,b,c   categories to evaluate (default: the 15 MVTec AD categories,\n"
    "                       <config-dir>/<category>.yaml each; with a unified CONFIG: its\n"
    "                       categories, all from the one unified run)\n"
    "  --maps FILE          metrics of an existing maps file (ddad's, or any HDF5 file with\n"
    "                       the minimum layout: README \"Maps files\"), without the model\n"
    "  --export-maps DIR    also write every test map as a float TIFF at the image's original\n"
    "                       size, DIR/<category>/test/<defect>/<image>.tiff (MVTec's evaluation\n"
    "                       script reads this layout)\n"
    "  --maps-dir DIR       evaluate such a folder of TIFF maps (any method's) against the\n"
    "                       ground truth of --data ROOT (--data-format mvtec, visa, btad,\n"
    "                       folder; default mvtec) with ddad's metrics; image score = max\n"
    "  --print-config       print the resolved configuration (YAML) and exit\n"
    "  --help, --version\n"
    "\n"
    "With --all-categories, runs or data that are missing are reported in the table notes\n"
    "and do not stop the others; the exit code is nonzero only when no category could be\n"
    "evaluated. Data errors (4) include a missing run or data set and a bad maps file.\n";

#ifndef DDAD_FRONT_END
static void on_signal(int sig)
{
    (void)sig;
    eval_interrupted = 1;
}
#endif

#define usage_error(...) ddad_cli_usage_error(&a->cli, __VA_ARGS__)

/* DDAD_CLI_CONTINUE, or the exit code to return now. */
static int parse_args(int argc, char **argv, eval_args_t *a)
{
    memset(a, 0, sizeof *a);
    a->cli = ddad_cli_init("ddad-eval", usage_text);
    a->pro_limit = NAN;
    a->config_dir = "configs";
    a->threshold_images = 8;
    a->format = DDAD_REPORT_TABLE;
    static const char *const with_value[] = {"--checkpoint", "--format", "--pro-limit", "--threshold-images",
                                             "--export-maps", "--maps-dir", "--data", "--data-format",
                                             "--config-dir", "--categories", "--maps", NULL};
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v;
        int r = ddad_cli_next(&a->cli, with_value, argc, argv, &i, &v);
        if (r == DDAD_CLI_EXIT)
            return a->cli.exit_code;
        if (r == DDAD_CLI_HANDLED)
            continue;
        long count;
        if (!strcmp(s, "--checkpoint")) {
            a->checkpoint = v;
        } else if (!strcmp(s, "--format")) {
            if (ddad_report_format_parse(v, &a->format) != DDAD_OK)
                return usage_error("--format: '%s' is not table, csv or json", v);
        } else if (!strcmp(s, "--pro-limit")) {
            if (ddad_cli_double(&a->cli, s, v, 0, 1, true, &a->pro_limit))
                return 2;
        } else if (!strcmp(s, "--threshold-images")) {
            if (ddad_cli_long(&a->cli, s, v, 0, 100000, &count))
                return 2;
            a->threshold_images = (int)count;
        } else if (!strcmp(s, "--save-images")) {
            a->save_images = true;
        } else if (!strcmp(s, "--threshold-f1")) {
            a->threshold_f1 = true;
        } else if (!strcmp(s, "--export-maps")) {
            a->export_maps = v;
        } else if (!strcmp(s, "--maps-dir")) {
            a->maps_dir = v;
        } else if (!strcmp(s, "--data")) {
            a->data_root = v;
        } else if (!strcmp(s, "--data-format")) {
            if (ddad_data_format_parse(v, &a->data_format) != DDAD_OK)
                return usage_error("--data-format: '%s' is not mvtec, visa, btad or folder", v);
        } else if (!strcmp(s, "--quiet") || !strcmp(s, "-q")) {
            a->quiet = true;
        } else if (!strcmp(s, "--all-categories")) {
            a->all = true;
        } else if (!strcmp(s, "--config-dir")) {
            a->config_dir = v;
        } else if (!strcmp(s, "--categories")) {
            a->categories = v;
        } else if (!strcmp(s, "--maps")) {
            a->maps = v;
        } else if (s[0] == '-' && s[1]) {
            return usage_error("unknown option %s", s);
        } else if (!a->config) {
            a->config = s;
        } else {
            return usage_error("more than one CONFIG given ('%s')", s);
        }
    }
    if (a->maps_dir && (a->maps || a->config || a->all))
        return usage_error("%s", "--maps-dir takes no CONFIG, --maps or --all-categories");
    if (a->maps_dir && !a->data_root)
        return usage_error("%s", "--maps-dir needs --data ROOT (the data set with the ground truth)");
    if (a->data_root && !a->maps_dir)
        return usage_error("%s", "--data goes with --maps-dir");
    if (a->export_maps && (a->maps || a->maps_dir))
        return usage_error("%s", "--export-maps writes the maps of an evaluation: give a CONFIG or --all-categories");
    if (!a->maps && !a->all && !a->config && !a->maps_dir)
        return usage_error("%s", "no CONFIG given");
    if (a->maps && (a->config || a->all))
        return usage_error("%s", "--maps takes no CONFIG and no --all-categories");
    if (a->cli.print_config && (a->maps || a->all))
        return usage_error("%s", "--print-config prints the configuration of one CONFIG (not with --maps or "
                                 "--all-categories)");
    return DDAD_CLI_CONTINUE;
}

static int cmp_names(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int run_maps(const eval_args_t *a)
{
    ddad_metrics_record_t rec;
    double limit = isnan(a->pro_limit) ? 0.3 : a->pro_limit;
    ddad_status_t st = ddad_metrics_from_mapsfile(a->maps, limit, &rec);
    if (st != DDAD_OK)
        return ddad_cli_fail(&a->cli, st);
    st = ddad_report_write(stdout, &rec, 1, a->format);
    return st == DDAD_OK ? 0 : ddad_cli_fail(&a->cli, st);
}

/* Metrics of a folder of TIFF maps in MVTec's layout against ROOT's ground
 * truth, one row per category (every sub-folder of DIR, or --categories). */
static int run_maps_dir(const eval_args_t *a)
{
    ddad_metrics_record_t recs[EVAL_MAX_CATEGORIES];
    size_t n = 0;
    double limit = isnan(a->pro_limit) ? 0.3 : a->pro_limit;
    const char *names[EVAL_MAX_CATEGORIES];
    size_t nn = 0;
    char list[4096];
    DIR *d = NULL;
    if (a->categories) {
        snprintf(list, sizeof list, "%s", a->categories);
        for (char *tok = strtok(list, ","); tok && nn < EVAL_MAX_CATEGORIES; tok = strtok(NULL, ","))
            if (*tok)
                names[nn++] = tok;
    } else if ((d = opendir(a->maps_dir))) {
        static char found[EVAL_MAX_CATEGORIES][256];
        struct dirent *de;
        while ((de = readdir(d)) && nn < EVAL_MAX_CATEGORIES) {
            char p[8192];
            struct stat sb;
            snprintf(p, sizeof p, "%s/%s/test", a->maps_dir, de->d_name);
            if (de->d_name[0] != '.' && strlen(de->d_name) < 256 && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
                snprintf(found[nn], sizeof found[nn], "%s", de->d_name);
                names[nn] = found[nn];
                nn++;
            }
        }
        closedir(d);
        qsort(names, nn, sizeof *names, cmp_names);
    }
    if (nn == 0) {
        fprintf(stderr, "ddad-eval: %s holds no <category>/test folder of TIFF maps (MVTec's layout "
                "DIR/<category>/test/<defect>/<image>.tiff)\n", a->maps_dir);
        return ddad_status_exit_code(DDAD_STATUS_DATA);
    }
    ddad_status_t last = DDAD_OK;
    for (size_t i = 0; i < nn; i++) {
        ddad_status_t st = eval_maps_dir(a->maps_dir, a->data_root, a->data_format, names[i], limit, &recs[n]);
        if (st == DDAD_OK) {
            n++;
            continue;
        }
        last = st;
        fprintf(stderr, "ddad-eval: %s\n", ddad_last_error());
    }
    if (n > 0) {
        ddad_status_t st = ddad_report_write(stdout, recs, n, a->format);
        if (st != DDAD_OK)
            return ddad_cli_fail(&a->cli, st);
    }
    return last == DDAD_OK ? 0 : ddad_status_exit_code(last);
}

int main(int argc, char **argv)
{
    ddad_runtime_reexec(argv);
    eval_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc != DDAD_CLI_CONTINUE)
        return rc;
    if (a.maps || a.maps_dir) /* whole maps pass through malloc, one after the other */
        ddad_allocator_tune();
    if (a.maps)
        return run_maps(&a);
    if (a.maps_dir)
        return run_maps_dir(&a);
    if (a.config) { /* a bad config is reported before the model side starts */
        ddad_config_t cfg;
        ddad_status_t st = ddad_cli_load_config(&a.cli, a.config, &cfg);
        if (st != DDAD_OK)
            return ddad_cli_fail(&a.cli, st);
        if (a.cli.print_config)
            return ddad_cli_print_config(&cfg);
    }
#ifdef DDAD_FRONT_END
    return ddad_runtime_exec_model(argv);
#else
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    return a.all ? eval_configs_all(&a) : eval_configs_one(&a);
#endif
}
