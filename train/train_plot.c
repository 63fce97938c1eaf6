/* train/train_plot.c - see train_plot.h */
#include "train_plot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "status.h"

bool train_plot_have_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/bin:/bin";
    char dir[4096];
    while (*path) {
        size_t n = strcspn(path, ":");
        if (n > 0 && n < sizeof dir - 16) {
            memcpy(dir, path, n);
            snprintf(dir + n, sizeof dir - n, "/gnuplot");
            if (access(dir, X_OK) == 0)
                return true;
        }
        path += n;
        if (*path == ':')
            path++;
    }
    return false;
}

/* gnuplot string literal: single quotes, doubled inside. */
static void quote(char *buf, size_t cap, const char *s)
{
    size_t k = 0;
    if (cap < 3)
        return;
    buf[k++] = '\'';
    for (; *s && k + 3 < cap; s++) {
        if (*s == '\'')
            buf[k++] = '\'';
        buf[k++] = *s;
    }
    buf[k++] = '\'';
    buf[k] = '\0';
}

bool train_plot_loss(const char *run_dir)
{
    if (!train_plot_have_gnuplot()) {
        ddad_log(DDAD_LOG_WARN, "gnuplot not found: loss.png not drawn (train.log holds the numbers; "
                 "install gnuplot to get the plot)");
        return false;
    }
    char log[4200], png[4200], tmp[4300], qlog[8500], qtmp[8700];
    snprintf(log, sizeof log, "%s/train.log", run_dir);
    snprintf(png, sizeof png, "%s/loss.png", run_dir);
    snprintf(tmp, sizeof tmp, "%s/loss.partial.png", run_dir);
    quote(qlog, sizeof qlog, log);
    quote(qtmp, sizeof qtmp, tmp);
    FILE *gp = popen("gnuplot 2>/dev/null", "w");
    if (!gp) {
        ddad_log(DDAD_LOG_WARN, "cannot start gnuplot: loss.png not drawn");
        return false;
    }
    fprintf(gp,
            "set terminal png size 960,600\n"
            "set output %s\n"
            "set title 'training loss'\n"
            "set xlabel 'step'\n"
            "set ylabel 'loss'\n"
            "set logscale y\n"
            "set grid\n"
            "set key top right\n"
            "plot %s using 1:2 with lines lw 2 title 'loss', "
            "'' using 1:3 with lines title 'mse', "
            "'' using 1:4 with lines title 'vb', "
            "'' using 1:5 with lines title 'feat'\n"
            "set output\n",
            qtmp, qlog);
    int rc = pclose(gp);
    if (rc != 0 || access(tmp, R_OK) != 0 || rename(tmp, png) != 0) {
        unlink(tmp);
        ddad_log(DDAD_LOG_WARN, "gnuplot failed (status %d): loss.png not drawn", WIFEXITED(rc) ? WEXITSTATUS(rc) : rc);
        return false;
    }
    return true;
}
