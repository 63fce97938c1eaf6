/* eval/predict_args.h - ddad-predict's parsed command line, shared by its
 * two parts (core/runtime.h): the front end (ddad_predict.c: options, the
 * run's config, --help, --version, --print-config, without libtorch) and
 * the model side (predict_run.c: calibration and scoring).
 * Ownership: the strings are argv's; inputs is malloc'ed (free it).
 */
#ifndef DDAD_PREDICT_ARGS_H
#define DDAD_PREDICT_ARGS_H

#include <stdbool.h>

#include "cli.h"
#include "config.h"

typedef enum out_format { OUT_CSV = 0, OUT_JSONL, OUT_TABLE } out_format_t;

typedef struct predict_args {
    ddad_cli_t cli;
    const char *target;        /* RUN_DIR or CONFIG           */
    const char **inputs;       /* (n_inputs) argv entries     */
    int n_inputs;
    const char *out, *category, *calib, *rule, *checkpoint;
    unsigned save;             /* EVAL_IMAGES_* bits          */
    bool save_tiff, quiet;
    out_format_t format;
} predict_args_t;

/* The model side: scores the inputs with the run (folder or checkpoint
 * `run`; cfg is its config when have_cfg). Returns the exit code; frees
 * nothing of a. */
int predict_run(const predict_args_t *a, const char *run, const ddad_config_t *cfg, bool have_cfg);

#endif
