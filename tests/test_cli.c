/* tests/test_cli.c - the options every program shares (core/config/cli.h):
 * --set/--device/--help in both spellings, option values that are missing,
 * and number values checked whole (an empty string, trailing characters,
 * overflow, NaN and out-of-range values are usage errors that name the
 * option and the range; exit code 2).
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "testutil.h"

/* ---- stderr capture: the usage messages are what a user reads ------------ */

static char g_err[4096];
static int g_saved_stderr = -1;
static char g_err_path[4096];

static void capture_begin(void)
{
    fflush(stderr);
    g_saved_stderr = dup(2);
    int fd = open(g_err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    dup2(fd, 2);
    close(fd);
}

/* Returns what was written to stderr since capture_begin. */
static const char *capture_end(void)
{
    fflush(stderr);
    dup2(g_saved_stderr, 2);
    close(g_saved_stderr);
    return ddad_test_read_text(g_err_path, g_err, sizeof g_err);
}

/* ---- ddad_cli_common ------------------------------------------------------ */

static void test_common_options(void)
{
    char *argv[] = {"prog", "--set", "a.b=1", "--set=c.d=2", "--device", "cpu", "--print-config", "--other", NULL};
    int argc = 8;
    ddad_cli_t c = ddad_cli_init("prog", "usage");
    int i = 1;
    CU_ASSERT_EQUAL(ddad_cli_common(&c, argc, argv, &i), DDAD_CLI_HANDLED);
    CU_ASSERT_EQUAL(i, 2);
    i = 3;
    CU_ASSERT_EQUAL(ddad_cli_common(&c, argc, argv, &i), DDAD_CLI_HANDLED);
    CU_ASSERT_EQUAL(i, 3);
    i = 4;
    CU_ASSERT_EQUAL(ddad_cli_common(&c, argc, argv, &i), DDAD_CLI_HANDLED);
    CU_ASSERT_EQUAL(i, 5);
    i = 6;
    CU_ASSERT_EQUAL(ddad_cli_common(&c, argc, argv, &i), DDAD_CLI_HANDLED);
    i = 7;
    CU_ASSERT_EQUAL(ddad_cli_common(&c, argc, argv, &i), DDAD_CLI_NOT_MINE);
    CU_ASSERT_EQUAL(i, 7);
    CU_ASSERT_EQUAL(c.n_sets, 2);
    CU_ASSERT_STRING_EQUAL(c.sets[0], "a.b=1");
    CU_ASSERT_STRING_EQUAL(c.sets[1], "c.d=2");
    CU_ASSERT_STRING_EQUAL(c.device, "cpu");
    CU_ASSERT_TRUE(c.print_config);
}

static void test_common_errors(void)
{
    char *no_equals[] = {"prog", "--set", "alpha", NULL};
    ddad_cli_t c = ddad_cli_init("prog", "usage");
    int i = 1;
    capture_begin();
    CU_ASSERT_EQUAL(ddad_cli_common(&c, 3, no_equals, &i), DDAD_CLI_EXIT);
    const char *err = capture_end();
    CU_ASSERT_EQUAL(c.exit_code, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "prog: --set alpha: expected KEY=VALUE"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "(see prog --help)"));

    char *missing[] = {"prog", "--device", NULL};
    c = ddad_cli_init("prog", "usage");
    i = 1;
    capture_begin();
    CU_ASSERT_EQUAL(ddad_cli_common(&c, 2, missing, &i), DDAD_CLI_EXIT);
    err = capture_end();
    CU_ASSERT_EQUAL(c.exit_code, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "--device needs a value"));
}

/* ---- ddad_cli_next: shared options, then the program's with values ------- */

static void test_option_value(void)
{
    static const char *const with_value[] = {"--out", "--grid", NULL};
    char *argv[] = {"prog", "--out", "dir", "--quiet", "--set", "a.b=1", "--grid", NULL};
    int argc = 7;
    ddad_cli_t c = ddad_cli_init("prog", "usage");
    const char *v = "stale";
    int i = 1;
    CU_ASSERT_EQUAL(ddad_cli_next(&c, with_value, argc, argv, &i, &v), DDAD_CLI_NOT_MINE);
    CU_ASSERT_EQUAL(i, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_STRING_EQUAL(v, "dir");

    i = 3; /* a flag without a value: untouched, no value */
    CU_ASSERT_EQUAL(ddad_cli_next(&c, with_value, argc, argv, &i, &v), DDAD_CLI_NOT_MINE);
    CU_ASSERT_EQUAL(i, 3);
    CU_ASSERT_PTR_NULL(v);

    i = 4; /* a shared option: consumed with its value */
    CU_ASSERT_EQUAL(ddad_cli_next(&c, with_value, argc, argv, &i, &v), DDAD_CLI_HANDLED);
    CU_ASSERT_EQUAL(i, 5);
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL(c.n_sets, 1);

    i = 6; /* the last argument, its value missing */
    capture_begin();
    CU_ASSERT_EQUAL(ddad_cli_next(&c, with_value, argc, argv, &i, &v), DDAD_CLI_EXIT);
    const char *err = capture_end();
    CU_ASSERT_EQUAL(c.exit_code, 2);
    CU_ASSERT_EQUAL(i, 6);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "prog: --grid needs a value"));
}

/* ---- number values -------------------------------------------------------- */

/* After capture_begin and a call that returned rc: a usage error (2) whose
 * message holds `message`. */
static void expect_usage_error(int rc, const char *v, const char *message)
{
    const char *err = capture_end();
    CU_ASSERT_EQUAL(rc, 2);
    if (!strstr(err, message))
        fprintf(stdout, "\n  '%s': expected \"%s\" in \"%s\"\n", v, message, err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, message));
}

static void expect_long_error(const char *v, long lo, long hi, const char *message)
{
    ddad_cli_t c = ddad_cli_init("prog", "usage");
    long out = 77;
    capture_begin();
    expect_usage_error(ddad_cli_long(&c, "--count", v, lo, hi, &out), v, message);
    CU_ASSERT_EQUAL(out, 77); /* untouched */
}

static void test_long_values(void)
{
    ddad_cli_t c = ddad_cli_init("prog", "usage");
    long out = -1;
    CU_ASSERT_EQUAL(ddad_cli_long(&c, "--count", "12", 0, 100, &out), 0);
    CU_ASSERT_EQUAL(out, 12);
    CU_ASSERT_EQUAL(ddad_cli_long(&c, "--count", "0", 0, 100, &out), 0);
    CU_ASSERT_EQUAL(out, 0);
    CU_ASSERT_EQUAL(ddad_cli_long(&c, "--count", "100", 0, 100, &out), 0);
    CU_ASSERT_EQUAL(out, 100);
    CU_ASSERT_EQUAL(ddad_cli_long(&c, "--count", "-3", -5, 5, &out), 0);
    CU_ASSERT_EQUAL(out, -3);

    expect_long_error("", 0, 100, "prog: --count: '' is not an integer in [0, 100]");
    expect_long_error("12x", 0, 100, "--count: '12x' is not an integer in [0, 100]");
    expect_long_error("1.5", 0, 100, "'1.5' is not an integer");
    expect_long_error("-1", 0, 100, "'-1' is not an integer in [0, 100]");
    expect_long_error("101", 0, 100, "'101' is not an integer in [0, 100]");
    expect_long_error("99999999999999999999999", 0, 100, "is not an integer in [0, 100]");
}

static void expect_double_error(const char *v, double lo, double hi, bool lo_open, const char *message)
{
    ddad_cli_t c = ddad_cli_init("prog", "usage");
    double out = 77;
    capture_begin();
    expect_usage_error(ddad_cli_double(&c, "--limit", v, lo, hi, lo_open, &out), v, message);
    CU_ASSERT_EQUAL(out, 77); /* untouched */
}

static void test_double_values(void)
{
    ddad_cli_t c = ddad_cli_init("prog", "usage");
    double out = -1;
    CU_ASSERT_EQUAL(ddad_cli_double(&c, "--limit", "0.3", 0, 1, true, &out), 0);
    CU_ASSERT_DOUBLE_EQUAL(out, 0.3, 1e-15);
    CU_ASSERT_EQUAL(ddad_cli_double(&c, "--limit", "1", 0, 1, true, &out), 0);
    CU_ASSERT_DOUBLE_EQUAL(out, 1.0, 0);
    CU_ASSERT_EQUAL(ddad_cli_double(&c, "--limit", "0", 0, 256, false, &out), 0); /* closed: 0 is in */
    CU_ASSERT_DOUBLE_EQUAL(out, 0.0, 0);
    CU_ASSERT_EQUAL(ddad_cli_double(&c, "--limit", "2e2", 0, 256, false, &out), 0);
    CU_ASSERT_DOUBLE_EQUAL(out, 200.0, 0);

    expect_double_error("0", 0, 1, true, "prog: --limit: '0' is not a number in (0, 1]");
    expect_double_error("", 0, 1, true, "--limit: '' is not a number in (0, 1]");
    expect_double_error("0.5 ", 0, 1, true, "'0.5 ' is not a number");
    expect_double_error("1.01", 0, 1, true, "'1.01' is not a number in (0, 1]");
    expect_double_error("-0.5", 0, 256, false, "'-0.5' is not a number in [0, 256]");
    expect_double_error("nan", 0, 256, false, "'nan' is not a number in [0, 256]");
    expect_double_error("inf", 0, 256, false, "'inf' is not a number in [0, 256]");
    expect_double_error("1e999", 0, 256, false, "is not a number in [0, 256]");
}

int main(void)
{
    char *dir = ddad_test_mkdtemp("cli");
    if (!dir)
        return 1;
    snprintf(g_err_path, sizeof g_err_path, "%s/stderr.txt", dir);
    static const ddad_test_t tests[] = {
        {"--set, --device, --print-config", test_common_options},
        {"errors of the shared options", test_common_errors},
        {"a program's options with values", test_option_value},
        {"integer values", test_long_values},
        {"real values", test_double_values},
        {NULL, NULL},
    };
    int rc = ddad_test_main("cli", tests);
    ddad_test_rmtree(dir);
    free(dir);
    return rc;
}
