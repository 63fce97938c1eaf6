/* train/train_plot.c - see train_plot.h */
#include "train_plot.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "plot.h"
#include "run.h"
#include "status.h"

bool train_plot_loss(const char *run_dir)
{
    if (!ddad_plot_available()) {
        ddad_log(DDAD_LOG_WARN, "gnuplot not found: loss.png not drawn (train.log holds the numbers; "
                 "install gnuplot to get the plot)");
        return false;
    }
    char log[4200], png[4200], tmp[4300], qlog[DDAD_PLOT_QUOTE_MAX], qtmp[DDAD_PLOT_QUOTE_MAX];
    char script[2 * DDAD_PLOT_QUOTE_MAX + 1024];
    ddad_run_path(log, sizeof log, run_dir, NULL, DDAD_RUN_TRAIN_LOG);
    ddad_run_path(png, sizeof png, run_dir, NULL, DDAD_RUN_LOSS_PLOT);
    snprintf(tmp, sizeof tmp, "%s.tmp", png);
    if (ddad_plot_quote(qlog, sizeof qlog, log) != DDAD_OK || ddad_plot_quote(qtmp, sizeof qtmp, tmp) != DDAD_OK) {
        ddad_log(DDAD_LOG_WARN, "%s; loss.png not drawn", ddad_last_error());
        return false;
    }
    snprintf(script, sizeof script,
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
    if (ddad_plot_run(script, 960, 600, "loss.png") != DDAD_OK) {
        unlink(tmp);
        ddad_log(DDAD_LOG_WARN, "%s; loss.png not drawn", ddad_last_error());
        return false;
    }
    if (access(tmp, R_OK) != 0) {
        ddad_log(DDAD_LOG_WARN, "gnuplot wrote no %s: loss.png not drawn", tmp);
        return false;
    }
    if (ddad_run_commit(tmp, png) != DDAD_OK) {
        ddad_log(DDAD_LOG_WARN, "%s; loss.png not drawn", ddad_last_error());
        return false;
    }
    return true;
}
