/* core/config/cli.h - the options every ddad program shares, written once:
 * --set KEY=VALUE, --device D, --print-config, --help, --version, the usage
 * error and failure messages, and the exit-code table.
 *
 *     static int parse_args(int argc, char **argv, args_t *a) {
 *         a->cli = ddad_cli_init("ddad-predict", usage_text);
 *         for (int i = 1; i < argc; i++) {
 *             const char *s = argv[i], *v;  // v: the value of an option in with_value
 *             int r = ddad_cli_next(&a->cli, with_value, argc, argv, &i, &v);
 *             if (r == DDAD_CLI_EXIT) return a->cli.exit_code;  // --help, --version, bad value
 *             if (r == DDAD_CLI_HANDLED) continue;
 *             ... the program's own options; errors: return ddad_cli_usage_error(...) ...
 *         }
 *         return DDAD_CLI_CONTINUE;
 *     }
 *     int rc = parse_args(argc, argv, &a);
 *     if (rc != DDAD_CLI_CONTINUE) return rc;
 *     ddad_config_t cfg;
 *     if ((st = ddad_cli_load_config(&a.cli, path, &cfg))) return ddad_cli_fail(&a.cli, st);
 *     if (a.cli.print_config) return ddad_cli_print_config(&cfg);
 *
 * One return convention: ddad_cli_common says HANDLED (consumed, *i moved
 * past its value), NOT_MINE (the program looks at it) or EXIT (the program
 * returns cli.exit_code now: 0 after --help/--version, 2 after a usage
 * error, already reported). --print-config prints the resolved config (after
 * base: and every --set) as YAML on stdout and touches no data, weights or
 * device. Ownership: the strings stay argv's.
 */
#ifndef DDAD_CLI_H
#define DDAD_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DDAD_CLI_MAX_SETS 64

enum { DDAD_CLI_NOT_MINE = 0, DDAD_CLI_HANDLED = 1, DDAD_CLI_EXIT = 2 };

/* What a program's own parse_args returns to say "go on"; any other value
 * is the exit code to return at once (0 after --help). */
#define DDAD_CLI_CONTINUE (-1)

typedef struct ddad_cli {
    const char *prog;                     /* "ddad-predict"                    */
    const char *usage;                    /* --help text (exit codes appended) */
    const char *sets[DDAD_CLI_MAX_SETS];  /* --set values, in order            */
    size_t n_sets;
    const char *device;                   /* --device, NULL = the config's     */
    bool print_config;
    int exit_code;                        /* with DDAD_CLI_EXIT                */
} ddad_cli_t;

/* The exit-code table printed by --help (README "Exit codes"). */
extern const char ddad_cli_exit_codes[];

ddad_cli_t ddad_cli_init(const char *prog, const char *usage);
int ddad_cli_common(ddad_cli_t *c, int argc, char **argv, int *i);
/* "prog: <message>\n(see prog --help)" on stderr; returns 2. */
int ddad_cli_usage_error(const ddad_cli_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "prog: error: <last error>" on stderr; returns the status's exit code. */
int ddad_cli_fail(const ddad_cli_t *c, ddad_status_t st);
/* ddad_cli_common, then the program's own options that take a value (a
 * NULL-terminated list): HANDLED (a shared option, consumed), EXIT (cli.
 * exit_code to return: --help, --version, or a usage error such as "OPT needs
 * a value"), or NOT_MINE for the program to look at argv[*i] as it was; when
 * that is one of with_value, *value = the next argument and *i has moved past
 * it, else *value = NULL. */
int ddad_cli_next(ddad_cli_t *c, const char *const *with_value, int argc, char **argv, int *i, const char **value);
/* Number values, the whole string or nothing: 0 with *out set, or 2 after the
 * usage error "OPT: 'V' is not an integer in [LO, HI]" (a number in
 * [LO, HI], or (LO, HI] with lo_open). */
int ddad_cli_long(const ddad_cli_t *c, const char *opt, const char *v, long lo, long hi, long *out);
int ddad_cli_double(const ddad_cli_t *c, const char *opt, const char *v, double lo, double hi, bool lo_open,
                    double *out);
/* Loads path with the --set overrides and --device applied. */
ddad_status_t ddad_cli_load_config(const ddad_cli_t *c, const char *path, ddad_config_t *cfg);
/* Prints cfg as YAML on stdout; returns the exit code (0, or 5 on a write error). */
int ddad_cli_print_config(const ddad_config_t *cfg);

#ifdef __cplusplus
}
#endif
#endif
