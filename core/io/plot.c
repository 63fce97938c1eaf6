/* core/io/plot.c - see plot.h */
#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The first executable regular file PATH-dir/gnuplot into buf; false when
 * there is none. */
static bool find_gnuplot(char *buf, size_t cap)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        if (n > 0 && n + sizeof "/gnuplot" <= cap) {
            struct stat sb;
            memcpy(buf, path, n);
            memcpy(buf + n, "/gnuplot", sizeof "/gnuplot");
            if (stat(buf, &sb) == 0 && S_ISREG(sb.st_mode) && access(buf, X_OK) == 0)
                return true;
        }
        path += n;
        if (*path == ':')
            path++;
    }
    if (cap)
        buf[0] = '\0';
    return false;
}

bool ddad_plot_available(void)
{
    char exe[4200];
    return find_gnuplot(exe, sizeof exe);
}

ddad_status_t ddad_plot_quote(char *buf, size_t cap, const char *s)
{
    size_t need = 3;
    for (const char *c = s; *c; c++) {
        if (*c == '\n' || *c == '\r') {
            if (cap)
                buf[0] = '\0';
            return ddad_fail(DDAD_STATUS_USAGE, "plot: '%s' holds a line break; gnuplot cannot take it as a string",
                             s);
        }
        need += *c == '\'' ? 2 : 1;
    }
    if (need > cap) {
        if (cap)
            buf[0] = '\0';
        return ddad_fail(DDAD_STATUS_USAGE, "plot: quoting '%.60s...' for gnuplot needs %zu bytes, the buffer has %zu",
                         s, need, cap);
    }
    size_t k = 0;
    buf[k++] = '\'';
    for (; *s; s++) {
        if (*s == '\'')
            buf[k++] = '\'';
        buf[k++] = *s;
    }
    buf[k++] = '\'';
    buf[k] = '\0';
    return DDAD_OK;
}

/* The last non-empty line of f (at most its last 4 KiB), leading blanks
 * removed, into buf ("" when there is none). */
static void last_line(FILE *f, char *buf, size_t cap)
{
    char tail[4096];
    buf[0] = '\0';
    if (fseek(f, 0, SEEK_END) != 0)
        return;
    long size = ftell(f);
    if (size <= 0 || fseek(f, size > (long)sizeof tail - 1 ? size - (long)sizeof tail + 1 : 0, SEEK_SET) != 0)
        return;
    size_t n = fread(tail, 1, sizeof tail - 1, f);
    while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r' || tail[n - 1] == ' '))
        n--;
    tail[n] = '\0';
    char *line = strrchr(tail, '\n');
    line = line ? line + 1 : tail;
    line += strspn(line, " \t");
    snprintf(buf, cap, "%s", line);
}

/* One gnuplot run: "set terminal <terminal> size W,H noenhanced" + script on
 * its stdin. OK when gnuplot exits with status 0; IO with gnuplot's last
 * error line otherwise. */
static ddad_status_t run_once(const char *exe, const char *terminal, int width, int height, const char *script,
                              const char *what)
{
    ddad_status_t st = DDAD_OK;
    FILE *in = tmpfile(), *err = tmpfile();
    posix_spawn_file_actions_t fa;
    bool fa_ready = false;
    char arg0[] = "gnuplot";
    char *argv[] = {arg0, NULL};
    pid_t pid = 0, waited;
    int rc, ws = 0;
    size_t len = strlen(script);
    if (!in || !err) {
        st = ddad_fail(DDAD_STATUS_IO, "plot: cannot create a temporary file for gnuplot: %s", strerror(errno));
        goto fail;
    }
    fprintf(in, "set terminal %s size %d,%d noenhanced\n%s%s", terminal, width, height, script,
            len && script[len - 1] == '\n' ? "" : "\n");
    if (fflush(in) != 0 || ferror(in) || fseek(in, 0, SEEK_SET) != 0) {
        st = ddad_fail(DDAD_STATUS_IO, "plot: cannot write the gnuplot script to a temporary file: %s",
                       strerror(errno));
        goto fail;
    }
    rc = posix_spawn_file_actions_init(&fa);
    fa_ready = rc == 0;
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, fileno(in), STDIN_FILENO);
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, fileno(err), STDERR_FILENO);
    if (rc == 0)
        rc = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
    if (rc != 0) {
        st = ddad_fail(DDAD_STATUS_IO, "plot: cannot start %s: %s", exe, strerror(rc));
        goto fail;
    }
    while ((waited = waitpid(pid, &ws, 0)) < 0 && errno == EINTR)
        ;
    if (waited < 0) {
        st = ddad_fail(DDAD_STATUS_IO, "plot: waiting for gnuplot (pid %ld) failed: %s", (long)pid, strerror(errno));
        goto fail;
    }
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        char why[64], line[256];
        if (WIFEXITED(ws))
            snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(ws));
        else
            snprintf(why, sizeof why, "killed by signal %d", WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
        last_line(err, line, sizeof line);
        st = ddad_fail(DDAD_STATUS_IO, "gnuplot failed drawing %s (%s with the %s terminal)%s%s", what, why, terminal,
                       line[0] ? ": " : "", line);
    }
fail:
    if (fa_ready)
        posix_spawn_file_actions_destroy(&fa);
    if (in)
        fclose(in);
    if (err)
        fclose(err);
    return st;
}

ddad_status_t ddad_plot_run(const char *script, int width, int height, const char *what)
{
    if (!what || !*what)
        what = "the plot";
    if (width <= 0 || height <= 0 || width > 65536 || height > 65536)
        return ddad_fail(DDAD_STATUS_USAGE, "plot: %s of %d x %d pixels: size out of range", what, width, height);
    char exe[4200];
    if (!find_gnuplot(exe, sizeof exe))
        return ddad_fail(DDAD_STATUS_IO, "gnuplot not found on PATH: %s not drawn", what);
    ddad_status_t st = run_once(exe, "pngcairo", width, height, script, what);
    if (st == DDAD_OK)
        return DDAD_OK;
    ddad_log(DDAD_LOG_DEBUG, "%s; trying the png terminal", ddad_last_error());
    return run_once(exe, "png", width, height, script, what);
}
