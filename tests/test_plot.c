/* tests/test_plot.c - core/plot: gnuplot string literals, the PATH lookup,
 * the script on stdin with its terminal line and the pngcairo -> png fallback
 * (through a fake gnuplot that logs its input), failure messages, and one
 * real plot into a folder whose name needs quoting (when gnuplot is
 * installed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "plot.h"
#include "testutil.h"

static char saved_path[8192];

static void set_path(const char *p)
{
    setenv("PATH", p, 1);
}

static void restore_path(void)
{
    set_path(saved_path);
}

static int write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    fclose(f);
    return chmod(path, mode);
}

/* A fake gnuplot: logs its stdin to $FAKE_LOG/run.<pid>, fails like a
 * gnuplot without cairo on "set terminal pngcairo", and fails with an error
 * line when FAKE_FAIL is set. */
static const char fake_gnuplot[] =
    "#!/bin/sh\n"
    "log=\"$FAKE_LOG/run.$$\"\n"
    "/bin/cat > \"$log\"\n"
    "read -r first < \"$log\"\n"
    "echo 'output nobody should see'\n"
    "case \"$first\" in *pngcairo*) printf '\\nset terminal pngcairo\\n  ^\\n  line 0: unknown terminal\\n\\n' >&2; exit 1;; esac\n"
    "if [ -n \"$FAKE_FAIL\" ]; then printf 'gnuplot> plot x\\n      line 3: boom  \\n\\n' >&2; exit 3; fi\n"
    "exit 0\n";

/* The logged scripts of the fake gnuplot, in no particular order. */
static int read_logs(const char *dir, char logs[][256], int max)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) && n < max) {
        if (strncmp(de->d_name, "run.", 4) != 0)
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        FILE *f = fopen(p, "r");
        size_t k = f ? fread(logs[n], 1, 255, f) : 0;
        logs[n][k] = '\0';
        if (f)
            fclose(f);
        remove(p);
        n++;
    }
    if (d)
        closedir(d);
    return n;
}

static void test_quote(void)
{
    char buf[64];
    CU_ASSERT_EQUAL(ddad_plot_quote(buf, sizeof buf, "runs/a b/loss.png"), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(buf, "'runs/a b/loss.png'");
    CU_ASSERT_EQUAL(ddad_plot_quote(buf, sizeof buf, "it's \"x\" \\n $HOME `id`"), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(buf, "'it''s \"x\" \\n $HOME `id`'");
    CU_ASSERT_EQUAL(ddad_plot_quote(buf, sizeof buf, ""), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(buf, "''");
    /* exactly fits: 2 quotes + "a''b" + NUL = 7 bytes */
    CU_ASSERT_EQUAL(ddad_plot_quote(buf, 7, "a'b"), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(buf, "'a''b'");
    CU_ASSERT_EQUAL(ddad_plot_quote(buf, 6, "a'b"), DDAD_STATUS_USAGE);
    CU_ASSERT_STRING_EQUAL(buf, "");
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "needs 7 bytes"));
    CU_ASSERT_EQUAL(ddad_plot_quote(buf, sizeof buf, "a\nb"), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "line break"));
}

static void test_available(void)
{
    char *dir = ddad_test_mkdtemp("plot");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char a[512], b[512], c[512], p[2048];
    snprintf(a, sizeof a, "%s/empty", dir);
    snprintf(b, sizeof b, "%s/notexec", dir);
    snprintf(c, sizeof c, "%s/isdir", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(a, 0755) || mkdir(b, 0755) || mkdir(c, 0755), 0);
    snprintf(p, sizeof p, "%s/gnuplot", b);
    CU_ASSERT_EQUAL(write_text(p, "#!/bin/sh\nexit 0\n", 0644), 0);
    snprintf(p, sizeof p, "%s/gnuplot", c);
    CU_ASSERT_EQUAL(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s:%s:%s", a, b, c);
    set_path(p);
    CU_ASSERT_FALSE(ddad_plot_available());
    CU_ASSERT_EQUAL(ddad_plot_run("plot x\n", 10, 10, "x.png"), DDAD_STATUS_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "gnuplot not found"));
    snprintf(p, sizeof p, "%s/gnuplot", b);
    chmod(p, 0755);
    snprintf(p, sizeof p, "::%s:%s", a, b); /* empty entries are skipped */
    set_path(p);
    CU_ASSERT_TRUE(ddad_plot_available());
    restore_path();
    ddad_test_rmtree(dir);
    free(dir);
}

static void test_run_fallback_and_failure(void)
{
    char *dir = ddad_test_mkdtemp("plot");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char bin[512], log[512], p[1024];
    char logs[4][256];
    snprintf(bin, sizeof bin, "%s/bin", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(bin, 0755) || mkdir(log, 0755), 0);
    snprintf(p, sizeof p, "%s/gnuplot", bin);
    CU_ASSERT_EQUAL_FATAL(write_text(p, fake_gnuplot, 0755), 0);
    set_path(bin);
    setenv("FAKE_LOG", log, 1);
    unsetenv("FAKE_FAIL");

    /* pngcairo fails, png succeeds: OK after two runs; a newline is added */
    CU_ASSERT_EQUAL(ddad_plot_run("set output 'a.png'\nplot x", 30, 20, "a.png"), DDAD_OK);
    int n = read_logs(log, logs, 4);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    int cairo = !strncmp(logs[0], "set terminal pngcairo ", 22) ? 0 : 1;
    CU_ASSERT_STRING_EQUAL(logs[cairo], "set terminal pngcairo size 30,20 noenhanced\nset output 'a.png'\nplot x\n");
    CU_ASSERT_STRING_EQUAL(logs[1 - cairo], "set terminal png size 30,20 noenhanced\nset output 'a.png'\nplot x\n");

    /* both fail: IO, naming the plot, the status and gnuplot's last line */
    setenv("FAKE_FAIL", "1", 1);
    CU_ASSERT_EQUAL(ddad_plot_run("plot x\n", 30, 20, "b.png"), DDAD_STATUS_IO);
    const char *msg = ddad_last_error();
    fprintf(stderr, "\n  failure message: %s", msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "b.png"));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "exit status 3"));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "png terminal"));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, ": line 3: boom"));
    CU_ASSERT_EQUAL(read_logs(log, logs, 4), 2);
    unsetenv("FAKE_FAIL");

    CU_ASSERT_EQUAL(ddad_plot_run("plot x\n", 0, 20, "c.png"), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(read_logs(log, logs, 4), 0);
    unsetenv("FAKE_LOG");
    restore_path();
    ddad_test_rmtree(dir);
    free(dir);
}

static void test_real_gnuplot(void)
{
    if (!ddad_plot_available()) {
        fprintf(stderr, "\n  gnuplot is not on PATH: real plot not tried (scripts/install-deps.sh installs it)");
        return;
    }
    char *dir = ddad_test_mkdtemp("plot");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char sub[512], png[600], q[DDAD_PLOT_QUOTE_MAX], script[DDAD_PLOT_QUOTE_MAX + 256];
    snprintf(sub, sizeof sub, "%s/it's a \"dir\" $(x)", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(sub, 0755), 0);
    snprintf(png, sizeof png, "%s/p.png", sub);
    CU_ASSERT_EQUAL_FATAL(ddad_plot_quote(q, sizeof q, png), DDAD_OK);
    snprintf(script, sizeof script, "set output %s\nplot x*x title 'x_1'\nset output\n", q);
    CU_ASSERT_EQUAL(ddad_plot_run(script, 200, 150, "p.png"), DDAD_OK);
    unsigned char sig[8] = {0};
    FILE *f = fopen(png, "rb");
    CU_ASSERT_PTR_NOT_NULL(f);
    if (f) {
        CU_ASSERT_EQUAL(fread(sig, 1, 8, f), 8);
        fclose(f);
    }
    CU_ASSERT_EQUAL(memcmp(sig, "\x89PNG\r\n\x1a\n", 8), 0);
    /* a script error is a failure with gnuplot's message */
    CU_ASSERT_EQUAL(ddad_plot_run("plot no_such_function(x)\n", 200, 150, "bad.png"), DDAD_STATUS_IO);
    fprintf(stderr, "\n  real failure message: %s", ddad_last_error());
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "bad.png"));
    ddad_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const char *p = getenv("PATH");
    snprintf(saved_path, sizeof saved_path, "%s", p ? p : "/usr/bin:/bin");
    static const ddad_test_t tests[] = {{"gnuplot string literals", test_quote},
                                        {"PATH lookup", test_available},
                                        {"stdin script, png fallback, failures", test_run_fallback_and_failure},
                                        {"real gnuplot", test_real_gnuplot},
                                        {0}};
    return ddad_test_main("plot", tests);
}
