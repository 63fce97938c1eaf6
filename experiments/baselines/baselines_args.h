/* experiments/baselines/baselines_args.h - ddad-baselines' command line,
 * shared by its two parts (core/runtime.h): the front end
 * (ddad_baselines.c: options, config, --help, --version, --print-config,
 * without libtorch) and the model side (baselines_run.c: the detectors,
 * tables and dumps). Ownership: the strings are argv's.
 */
#ifndef DDAD_BASELINES_ARGS_H
#define DDAD_BASELINES_ARGS_H

#include <stdbool.h>

#include "cli.h"
#include "config.h"
#include "report.h"

#define PROG "ddad-baselines"
#define MAX_CATEGORIES DDAD_CONFIG_MAX_NAMES

enum { METHOD_MEANDIFF = 1u << 0, METHOD_PATCHNN = 1u << 1 };

typedef struct args {
    ddad_cli_t cli;          /* --set, --device, --print-config, --help, --version */
    const char *config;
    const char *category, *out, *dump;
    unsigned methods;
    int grid;     /* 0 = features.score_size */
    double sigma;
    ddad_report_format_t format;
    bool quiet;
} args_t;

/* The model side: runs the detectors of a on the data of cfg (cfg as
 * loaded, --set, --category and --device applied); returns the exit code. */
int baselines_run(const args_t *a, const ddad_config_t *cfg);

#endif
