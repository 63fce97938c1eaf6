/* ddad-eval - anomaly maps and metrics of trained runs (see --help). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "runtime.h"
#include "cli.h"
#include "config.h"
#include "ddad_version.h"
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

typedef struct args {
    ddad_cli_t cli;          /* --set, --device, --print-config, --help, --version */
    const char *config;
    const char *checkpoint, *maps, *config_dir, *categories, *export_maps, *maps_dir, *data_root;
    ddad_data_format_t data_format;
    ddad_report_format_t format;
    double pro_limit;        /* NaN = from the config */
    bool save_images, quiet, all, threshold_f1;
    int threshold_images;
} args_t;

static void on_signal(int sig)
{
    (void)sig;
    eval_interrupted = 1;
}

#define usage_error(...) ddad_cli_usage_error(&a->cli, __VA_ARGS__)

/* DDAD_CLI_CONTINUE, or the exit code to return now. */
static int parse_args(int argc, char **argv, args_t *a)
{
    memset(a, 0, sizeof *a);
    a->cli = ddad_cli_init("ddad-eval", usage_text);
    a->pro_limit = NAN;
    a->config_dir = "configs";
    a->threshold_images = 8;
    a->format = DDAD_REPORT_TABLE;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
#define NEXT()                                                   \
    do {                                                         \
        if (i + 1 >= argc)                                       \
            return usage_error("%s needs a value", s);           \
    } while (0)
        int common = ddad_cli_common(&a->cli, argc, argv, &i);
        if (common == DDAD_CLI_EXIT)
            return a->cli.exit_code;
        if (common == DDAD_CLI_HANDLED)
            continue;
        if (!strcmp(s, "--checkpoint")) {
            NEXT();
            a->checkpoint = argv[++i];
        } else if (!strcmp(s, "--format")) {
            NEXT();
            if (ddad_report_format_parse(argv[++i], &a->format) != DDAD_OK)
                return usage_error("--format: '%s' is not table, csv or json", argv[i]);
        } else if (!strcmp(s, "--pro-limit")) {
            NEXT();
            char *end;
            a->pro_limit = strtod(argv[++i], &end);
            if (*end || !(a->pro_limit > 0 && a->pro_limit <= 1))
                return usage_error("--pro-limit: '%s' is not a number in (0, 1]", argv[i]);
        } else if (!strcmp(s, "--threshold-images")) {
            NEXT();
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v > 100000)
                return usage_error("--threshold-images: '%s' is not a count >= 0", argv[i]);
            a->threshold_images = (int)v;
        } else if (!strcmp(s, "--save-images")) {
            a->save_images = true;
        } else if (!strcmp(s, "--threshold-f1")) {
            a->threshold_f1 = true;
        } else if (!strcmp(s, "--export-maps")) {
            NEXT();
            a->export_maps = argv[++i];
        } else if (!strcmp(s, "--maps-dir")) {
            NEXT();
            a->maps_dir = argv[++i];
        } else if (!strcmp(s, "--data")) {
            NEXT();
            a->data_root = argv[++i];
        } else if (!strcmp(s, "--data-format")) {
            NEXT();
            if (ddad_data_format_parse(argv[++i], &a->data_format) != DDAD_OK)
                return usage_error("--data-format: '%s' is not mvtec, visa, btad or folder", argv[i]);
        } else if (!strcmp(s, "--quiet") || !strcmp(s, "-q")) {
            a->quiet = true;
        } else if (!strcmp(s, "--all-categories")) {
            a->all = true;
        } else if (!strcmp(s, "--config-dir")) {
            NEXT();
            a->config_dir = argv[++i];
        } else if (!strcmp(s, "--categories")) {
            NEXT();
            a->categories = argv[++i];
        } else if (!strcmp(s, "--maps")) {
            NEXT();
            a->maps = argv[++i];
        } else if (s[0] == '-' && s[1]) {
            return usage_error("unknown option %s", s);
        } else if (!a->config) {
            a->config = s;
        } else {
            return usage_error("more than one CONFIG given ('%s')", s);
        }
#undef NEXT
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

static int fail_exit(ddad_status_t st)
{
    fprintf(stderr, "ddad-eval: error: %s\n", ddad_last_error());
    return ddad_status_exit_code(st);
}

static int cmp_names(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int run_maps(const args_t *a)
{
    ddad_metrics_record_t rec;
    double limit = isnan(a->pro_limit) ? 0.3 : a->pro_limit;
    ddad_status_t st = ddad_metrics_from_mapsfile(a->maps, limit, &rec);
    if (st != DDAD_OK)
        return fail_exit(st);
    st = ddad_report_write(stdout, &rec, 1, a->format);
    return st == DDAD_OK ? 0 : fail_exit(st);
}

/* Metrics of a folder of TIFF maps in MVTec's layout against ROOT's ground
 * truth, one row per category (every sub-folder of DIR, or --categories). */
static int run_maps_dir(const args_t *a)
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
            return fail_exit(st);
    }
    return last == DDAD_OK ? 0 : ddad_status_exit_code(last);
}

static ddad_status_t load_config(const args_t *a, const char *path, ddad_config_t *cfg)
{
    return ddad_cli_load_config(&a->cli, path, cfg);
}

static eval_opts_t opts_of(const args_t *a, const ddad_config_t *cfg)
{
    eval_opts_t o = eval_opts_default();
    o.checkpoint = a->checkpoint;
    o.pro_limit = isnan(a->pro_limit) ? cfg->eval.pro_limit : a->pro_limit;
    o.save_images = a->save_images;
    o.quiet = a->quiet;
    o.threshold_images = a->threshold_images;
    o.threshold_f1 = a->threshold_f1;
    o.export_maps = a->export_maps;
    return o;
}

/* A record that says why a category was not evaluated. */
static void missing_record(ddad_metrics_record_t *r, const char *category, double limit, const char *why)
{
    ddad_metrics_record_init(r, category, limit);
    snprintf(r->notes, sizeof r->notes, "NOT EVALUATED: %s", why);
}

static bool wanted(const char *list, const char *name)
{
    if (!list)
        return true;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n))
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

/* Evaluates categories of one run (one config); appends records. Returns
 * the number evaluated; *last_st the last failure. keep_going: record
 * failures per category instead of stopping. */
static size_t eval_config(const args_t *a, const ddad_config_t *cfg, const char *only, ddad_metrics_record_t *recs,
                          size_t *n_recs, size_t cap, bool keep_going, ddad_status_t *last_st)
{
    const char *cats[EVAL_MAX_CATEGORIES];
    size_t nc = ddad_config_categories(cfg, cats, EVAL_MAX_CATEGORIES);
    if (nc > EVAL_MAX_CATEGORIES)
        nc = EVAL_MAX_CATEGORIES;
    eval_opts_t o = opts_of(a, cfg);
    eval_ctx_t ctx;
    size_t done = 0;
    ddad_status_t st = eval_ctx_open(&ctx, cfg, &o);
    if (st != DDAD_OK) {
        *last_st = st;
        fprintf(stderr, "ddad-eval: %s\n", ddad_last_error());
        for (size_t i = 0; i < nc && *n_recs < cap; i++)
            if (wanted(only, cats[i]))
                missing_record(&recs[(*n_recs)++], cats[i], o.pro_limit, ddad_last_error());
        return 0;
    }
    for (size_t i = 0; i < nc && *n_recs < cap; i++) {
        if (!wanted(only, cats[i]))
            continue;
        st = eval_ctx_category(&ctx, cats[i], &recs[*n_recs]);
        if (st == DDAD_OK) {
            (*n_recs)++;
            done++;
            continue;
        }
        *last_st = st;
        fprintf(stderr, "ddad-eval: %s\n", ddad_last_error());
        if (!keep_going || st == DDAD_STATUS_INTERRUPTED)
            break;
        missing_record(&recs[(*n_recs)++], cats[i], o.pro_limit, ddad_last_error());
    }
    ddad_status_t ts = eval_ctx_write_thresholds(&ctx);
    if (ts != DDAD_OK) {
        *last_st = ts;
        fprintf(stderr, "ddad-eval: %s\n", ddad_last_error());
    }
    eval_ctx_close(&ctx);
    return done;
}

static int run_all(const args_t *a)
{
    ddad_metrics_record_t recs[EVAL_MAX_CATEGORIES + DDAD_MVTEC_CATEGORY_COUNT];
    const size_t cap = sizeof recs / sizeof recs[0];
    size_t n = 0, done = 0;
    ddad_status_t last = DDAD_OK;
    double limit = isnan(a->pro_limit) ? 0.3 : a->pro_limit;
    if (a->config) {
        ddad_config_t cfg;
        ddad_status_t st = load_config(a, a->config, &cfg);
        if (st != DDAD_OK)
            return fail_exit(st);
        done = eval_config(a, &cfg, a->categories, recs, &n, cap, true, &last);
    } else {
        const char *names[EVAL_MAX_CATEGORIES + DDAD_MVTEC_CATEGORY_COUNT];
        size_t nn = 0;
        char list[4096];
        if (a->categories) {
            snprintf(list, sizeof list, "%s", a->categories);
            for (char *tok = strtok(list, ","); tok && nn < cap; tok = strtok(NULL, ","))
                if (*tok)
                    names[nn++] = tok;
        } else {
            for (size_t i = 0; i < DDAD_MVTEC_CATEGORY_COUNT; i++)
                names[nn++] = ddad_mvtec_categories[i];
        }
        for (size_t i = 0; i < nn && n < cap && !eval_interrupted; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s.yaml", a->config_dir, names[i]);
            ddad_config_t cfg;
            struct stat sb;
            if (stat(path, &sb) != 0) {
                char why[4200];
                snprintf(why, sizeof why, "no config %s", path);
                missing_record(&recs[n++], names[i], limit, why);
                continue;
            }
            ddad_status_t st = load_config(a, path, &cfg);
            if (st != DDAD_OK) {
                last = st;
                fprintf(stderr, "ddad-eval: %s\n", ddad_last_error());
                missing_record(&recs[n++], names[i], limit, ddad_last_error());
                continue;
            }
            done += eval_config(a, &cfg, names[i], recs, &n, cap, true, &last);
        }
    }
    ddad_status_t st = ddad_report_write(stdout, recs, n, a->format);
    if (st != DDAD_OK)
        return fail_exit(st);
    if (eval_interrupted)
        return ddad_status_exit_code(DDAD_STATUS_INTERRUPTED);
    if (done == 0) {
        fprintf(stderr, "ddad-eval: nothing could be evaluated\n");
        return ddad_status_exit_code(last != DDAD_OK ? last : DDAD_STATUS_DATA);
    }
    return 0;
}

static int run_one(const args_t *a)
{
    ddad_config_t cfg;
    ddad_status_t st = load_config(a, a->config, &cfg);
    if (st != DDAD_OK)
        return fail_exit(st);
    if (a->cli.print_config)
        return ddad_cli_print_config(&cfg);
    if (!a->quiet)
        ddad_config_print(&cfg, stderr, DDAD_CONFIG_FORMAT_TABLE);
    ddad_metrics_record_t recs[EVAL_MAX_CATEGORIES];
    size_t n = 0;
    ddad_status_t last = DDAD_OK;
    size_t done = eval_config(a, &cfg, a->categories, recs, &n, EVAL_MAX_CATEGORIES, false, &last);
    if (done == 0 || last != DDAD_OK) {
        fprintf(stderr, "ddad-eval: error: %s\n", ddad_last_error());
        return ddad_status_exit_code(last != DDAD_OK ? last : DDAD_STATUS_DATA);
    }
    st = ddad_report_write(stdout, recs, n, a->format);
    return st == DDAD_OK ? 0 : fail_exit(st);
}

int main(int argc, char **argv)
{
    ddad_runtime_reexec(argv);
    args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc != DDAD_CLI_CONTINUE)
        return rc;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (a.maps)
        return run_maps(&a);
    if (a.maps_dir)
        return run_maps_dir(&a);
    if (a.all)
        return run_all(&a);
    return run_one(&a);
}
