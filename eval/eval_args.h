/* eval/eval_args.h - ddad-eval's parsed command line, shared by its two
 * parts (core/runtime.h): the front end (ddad_eval.c: --help, --version,
 * --print-config, --maps, --maps-dir, without libtorch) and the model side
 * (ddad_eval.c built again with eval_configs.c: the evaluations).
 * Ownership: the strings are argv's.
 */
#ifndef DDAD_EVAL_ARGS_H
#define DDAD_EVAL_ARGS_H

#include <stdbool.h>

#include "cli.h"
#include "data_format.h"
#include "report.h"

typedef struct eval_args {
    ddad_cli_t cli;          /* --set, --device, --print-config, --help, --version */
    const char *config;
    const char *checkpoint, *maps, *config_dir, *categories, *export_maps, *maps_dir, *data_root;
    ddad_data_format_t data_format;
    ddad_report_format_t format;
    double pro_limit;        /* NaN = from the config */
    bool save_images, quiet, all, threshold_f1;
    int threshold_images;
} eval_args_t;

/* The model side (eval_configs.c); each returns the exit code. */
int eval_configs_one(const eval_args_t *a);      /* CONFIG: its run (every category of a unified run) */
int eval_configs_all(const eval_args_t *a);      /* --all-categories                                  */

#endif
