/* core/config/cli.c - see cli.h */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddad_version.h"

const char ddad_cli_exit_codes[] =
    "exit codes: 0 ok, 1 internal error, 2 usage, 3 config, 4 data, 5 I/O, 6 numeric (NaN/Inf),\n"
    "7 device, 8 interrupted (after a clean save), 9 peer process of a data-parallel job failed.\n";

ddad_cli_t ddad_cli_init(const char *prog, const char *usage)
{
    ddad_cli_t c;
    memset(&c, 0, sizeof c);
    c.prog = prog;
    c.usage = usage;
    return c;
}

int ddad_cli_usage_error(const ddad_cli_t *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", c->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see %s --help)\n", c->prog);
    return 2;
}

int ddad_cli_fail(const ddad_cli_t *c, ddad_status_t st)
{
    fprintf(stderr, "%s: error: %s\n", c->prog, ddad_last_error());
    return ddad_status_exit_code(st);
}

/* The value of option s: "--opt=v" or the next argument. */
static const char *value_of(ddad_cli_t *c, int argc, char **argv, int *i, const char *opt)
{
    const char *s = argv[*i];
    size_t n = strlen(opt);
    if (s[n] == '=')
        return s + n + 1;
    if (*i + 1 >= argc) {
        c->exit_code = ddad_cli_usage_error(c, "%s needs a value", opt);
        return NULL;
    }
    return argv[++*i];
}

static bool is_opt(const char *s, const char *opt)
{
    size_t n = strlen(opt);
    return !strncmp(s, opt, n) && (s[n] == '\0' || s[n] == '=');
}

int ddad_cli_common(ddad_cli_t *c, int argc, char **argv, int *i)
{
    const char *s = argv[*i];
    if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
        fputs(c->usage, stdout);
        fputs("\n", stdout);
        fputs(ddad_cli_exit_codes, stdout);
        c->exit_code = 0;
        return DDAD_CLI_EXIT;
    }
    if (!strcmp(s, "--version")) {
        printf("%s %s (git %s)\n", c->prog, DDAD_VERSION, DDAD_GIT_REVISION);
        c->exit_code = 0;
        return DDAD_CLI_EXIT;
    }
    if (!strcmp(s, "--print-config")) {
        c->print_config = true;
        return DDAD_CLI_HANDLED;
    }
    if (is_opt(s, "--set")) {
        const char *v = value_of(c, argc, argv, i, "--set");
        if (!v)
            return DDAD_CLI_EXIT;
        if (!strchr(v, '=')) {
            c->exit_code = ddad_cli_usage_error(c, "--set %s: expected KEY=VALUE, e.g. --set score.alpha=0.3", v);
            return DDAD_CLI_EXIT;
        }
        if (c->n_sets >= DDAD_CLI_MAX_SETS) {
            c->exit_code = ddad_cli_usage_error(c, "more than %d --set options", DDAD_CLI_MAX_SETS);
            return DDAD_CLI_EXIT;
        }
        c->sets[c->n_sets++] = v;
        return DDAD_CLI_HANDLED;
    }
    if (is_opt(s, "--device")) {
        const char *v = value_of(c, argc, argv, i, "--device");
        if (!v)
            return DDAD_CLI_EXIT;
        c->device = v;
        return DDAD_CLI_HANDLED;
    }
    return DDAD_CLI_NOT_MINE;
}

int ddad_cli_next(ddad_cli_t *c, const char *const *with_value, int argc, char **argv, int *i, const char **value)
{
    *value = NULL;
    int r = ddad_cli_common(c, argc, argv, i);
    if (r != DDAD_CLI_NOT_MINE)
        return r;
    const char *s = argv[*i];
    for (const char *const *w = with_value; *w; w++) {
        if (strcmp(s, *w) != 0)
            continue;
        if (*i + 1 >= argc) {
            c->exit_code = ddad_cli_usage_error(c, "%s needs a value", s);
            return DDAD_CLI_EXIT;
        }
        *value = argv[++*i];
        break;
    }
    return DDAD_CLI_NOT_MINE;
}

int ddad_cli_long(const ddad_cli_t *c, const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi)
        return ddad_cli_usage_error(c, "%s: '%s' is not an integer in [%ld, %ld]", opt, v, lo, hi);
    *out = x;
    return 0;
}

int ddad_cli_double(const ddad_cli_t *c, const char *opt, const char *v, double lo, double hi, bool lo_open,
                    double *out)
{
    char *end;
    double x = strtod(v, &end);
    bool above_lo = lo_open ? x > lo : x >= lo; /* false for NaN */
    if (end == v || *end || !above_lo || !(x <= hi))
        return ddad_cli_usage_error(c, "%s: '%s' is not a number in %c%g, %g]", opt, v, lo_open ? '(' : '[', lo, hi);
    *out = x;
    return 0;
}

ddad_status_t ddad_cli_load_config(const ddad_cli_t *c, const char *path, ddad_config_t *cfg)
{
    const char *sets[DDAD_CLI_MAX_SETS + 1];
    size_t n = 0;
    for (size_t k = 0; k < c->n_sets; k++)
        sets[n++] = c->sets[k];
    char devset[160];
    if (c->device) {
        if (strlen(c->device) > 100)
            return ddad_fail(DDAD_STATUS_USAGE, "--device: '%.40s...' is too long", c->device);
        snprintf(devset, sizeof devset, "device=%s", c->device);
        sets[n++] = devset;
    }
    return ddad_config_load(cfg, path, sets, n);
}

int ddad_cli_print_config(const ddad_config_t *cfg)
{
    char *yaml = NULL;
    ddad_status_t st = ddad_config_to_yaml(cfg, &yaml);
    if (st != DDAD_OK) {
        fprintf(stderr, "error: %s\n", ddad_last_error());
        return ddad_status_exit_code(st);
    }
    int rc = fputs(yaml, stdout) == EOF || fflush(stdout) != 0 ? 5 : 0;
    free(yaml);
    return rc;
}
