/* train/train_args.h - the command line of ddad-train.
 *
 *     train_args_t a;
 *     int rc = train_args_parse(&a, argc, argv);   // DDAD_CLI_CONTINUE: go on; else exit with rc
 *     ... a.config, a.cli (--set, --device, --print-config), a.resume ...
 *     train_args_free(&a);
 */
#ifndef DDAD_TRAIN_ARGS_H
#define DDAD_TRAIN_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"

typedef struct train_args {
    ddad_cli_t cli;      /* --set, --device, --print-config, --help, --version */
    const char *config;  /* borrowed from argv                              */
    bool resume, dry_run, force, quiet;
} train_args_t;

/* Parses argv. Returns DDAD_CLI_CONTINUE when the program should run,
 * otherwise the exit code (0 after --help/--version, 2 after a usage error,
 * already reported on stderr). */
int train_args_parse(train_args_t *a, int argc, char **argv);
void train_args_free(train_args_t *a);

#endif
