/* ddad-baselines - the two floor detectors every quality table reports next
 * to ddad, measured with ddad-eval's metrics on the same data and at the
 * same resolution (see --help and experiments/baselines/README.md).
 *
 * Built twice (core/runtime.h): bin/ddad-baselines, without libtorch,
 * answers --help, --version and --print-config and starts
 * libexec/ddad/ddad-baselines (adding baselines_run.c) for the rest. */#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baselines_args.h"
#include "cli.h"
#include "config.h"
#include "ddad_version.h"
#include "report.h"
#include "runtime.h"

static const char usage_text[] =
    "usage: ddad-baselines CONFIG [options]\n"
    "\n"
    "Two floor detectors on the data set of CONFIG (data.root, data.format, data.category:\n"
    "one name, a list or all, evaluated per category), at data.image_size, with ddad-eval's\n"
    "metrics (image AUROC, pixel AUROC, AU-PRO, F1-max; masks resized to the image size with\n"
    "nearest neighbour, as ddad-eval does for score.resolution model):\n"
    "  meandiff  mean over RGB of |x - mean training image| (x in [-1, 1]); image score as\n"
    "            score.image_score / score.topk, smoothing as score.smooth_sigma\n"
    "  patchnn   nearest-neighbour patch distance (PatchCore without coreset) on ddad's frozen\n"
    "            EfficientNet-B4 (features.weights, or the same seeded random weights ddad\n"
    "            uses), 272 channels at a G x G grid; map upsampled bilinearly, Gaussian\n"
    "            smoothing, image score = max of the map\n"
    "\n"
    "options:\n"
    "  --set KEY=VALUE   override a config key (repeatable), e.g. --set data.image_size=128\n"
    "  --device D        cpu, cuda or cuda:N (same as --set device=D)\n"
    "  --category LIST   categories, comma-separated, or all (same as --set data.category=...)\n"
    "  --methods LIST    meandiff,patchnn (default: both)\n"
    "  --grid N          patchnn feature grid (default features.score_size)\n"
    "  --sigma S         patchnn Gaussian smoothing sigma in pixels (default 4; 0 = none)\n"
    "  --format F        table (default), csv or json on stdout\n"
    "  --out FILE        also write the results to FILE (csv when it ends in .csv, else json)\n"
    "  --dump FILE       HDF5 with the test images, masks, mean image, maps, scores, the\n"
    "                    patchnn feature maps, memory bank and nearest-neighbour distances\n"
    "  --quiet           no progress on stderr (progress is shown only on a terminal)\n"
    "  --print-config    print the resolved configuration (YAML) and exit\n"
    "  --help, --version\n"
    "\n"
    "Data errors (4) include a missing or malformed data set or weights file; when\n"
    "interrupted (8) nothing is written.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ddad_cli_t cli = ddad_cli_init(PROG, "");
    return ddad_cli_usage_error(&cli, "%s", msg);
}

static int parse_methods(const char *s, unsigned *out)
{
    *out = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (!strcmp(tok, "meandiff"))
            *out |= METHOD_MEANDIFF;
        else if (!strcmp(tok, "patchnn"))
            *out |= METHOD_PATCHNN;
        else
            return usage_error("--methods: unknown method '%s' (meandiff, patchnn)", tok);
    }
    if (!*out)
        return usage_error("--methods: '%s' names no method (meandiff, patchnn)", s);
    return 0;
}

/* DDAD_CLI_CONTINUE, or the exit code to return now. */
static int parse_args(int argc, char **argv, args_t *a)
{
    memset(a, 0, sizeof *a);
    a->cli = ddad_cli_init(PROG, usage_text);
    a->methods = METHOD_MEANDIFF | METHOD_PATCHNN;
    a->sigma = 4.0;
    a->format = DDAD_REPORT_TABLE;
    static const char *const with_value[] = {"--category", "--categories", "--methods", "--grid", "--sigma",
                                             "--format", "--out", "--dump", NULL};
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v;
        int r = ddad_cli_next(&a->cli, with_value, argc, argv, &i, &v);
        if (r == DDAD_CLI_EXIT)
            return a->cli.exit_code;
        if (r == DDAD_CLI_HANDLED)
            continue;
        long grid;
        if (!strcmp(s, "--category") || !strcmp(s, "--categories")) {
            a->category = v;
            if (!*a->category || strlen(a->category) > 900)
                return usage_error("--category: '%s' is not a category list", a->category);
        } else if (!strcmp(s, "--methods")) {
            int rc = parse_methods(v, &a->methods);
            if (rc)
                return rc;
        } else if (!strcmp(s, "--grid")) {
            if (ddad_cli_long(&a->cli, s, v, 1, 1024, &grid))
                return 2;
            a->grid = (int)grid;
        } else if (!strcmp(s, "--sigma")) {
            if (ddad_cli_double(&a->cli, s, v, 0, 256, false, &a->sigma))
                return 2;
        } else if (!strcmp(s, "--format")) {
            if (ddad_report_format_parse(v, &a->format) != DDAD_OK)
                return usage_error("--format: '%s' is not table, csv or json", v);
        } else if (!strcmp(s, "--out")) {
            a->out = v;
        } else if (!strcmp(s, "--dump")) {
            a->dump = v;
        } else if (!strcmp(s, "--quiet") || !strcmp(s, "-q")) {
            a->quiet = true;
        } else if (s[0] == '-' && s[1]) {
            return usage_error("unknown option %s", s);
        } else if (!a->config) {
            a->config = s;
        } else {
            return usage_error("more than one CONFIG given ('%s')", s);
        }
    }
    if (!a->config)
        return usage_error("%s", "no CONFIG given");
    return DDAD_CLI_CONTINUE;
}

/* The config with --set, --category and --device applied, in that order. */
static ddad_status_t load_config(const args_t *a, ddad_config_t *cfg)
{
    ddad_cli_t cli = a->cli;
    char catset[1024];
    if (a->category && cli.n_sets < DDAD_CLI_MAX_SETS) {
        if (strchr(a->category, ','))
            snprintf(catset, sizeof catset, "data.category=[%s]", a->category);
        else
            snprintf(catset, sizeof catset, "data.category=%s", a->category);
        cli.sets[cli.n_sets++] = catset;
    }
    return ddad_cli_load_config(&cli, a->config, cfg);
}

int main(int argc, char **argv)
{
    ddad_runtime_reexec(argv);
    args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc != DDAD_CLI_CONTINUE)
        return rc;
    ddad_config_t cfg;
    ddad_status_t st = load_config(&a, &cfg);
    if (st != DDAD_OK)
        return ddad_cli_fail(&a.cli, st);
    if (a.cli.print_config)
        return ddad_cli_print_config(&cfg);
#ifdef DDAD_FRONT_END
    return ddad_runtime_exec_model(argv);
#else
    return baselines_run(&a, &cfg);
#endif
}
