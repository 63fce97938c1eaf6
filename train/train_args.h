/* train/train_args.h - the command line of ddad-train.
 *
 *     train_args_t a;
 *     int rc = train_args_parse(&a, argc, argv);   // -1: go on; else exit with rc
 *     ... a.config, a.sets (a.n_sets), a.resume ...
 *     train_args_free(&a);
 */
#ifndef DDAD_TRAIN_ARGS_H
#define DDAD_TRAIN_ARGS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct train_args {
    const char *config;  /* borrowed from argv                              */
    const char **sets;   /* (n_sets) "key=value" borrowed from argv; malloc'ed array */
    size_t n_sets;
    const char *device;  /* --device D, or NULL                             */
    bool resume, dry_run, force, quiet, print_config;
} train_args_t;

/* Parses argv. Returns -1 when the program should run, otherwise the exit
 * code (0 after --help/--version, 2 after a usage error, already reported on
 * stderr). */
int train_args_parse(train_args_t *a, int argc, char **argv);
void train_args_free(train_args_t *a);

#endif
