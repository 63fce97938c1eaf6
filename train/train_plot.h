/* train/train_plot.h - loss.png from train.log, drawn by gnuplot.
 *
 *     train_plot_loss(run_dir);   // <run_dir>/train.log -> <run_dir>/loss.png
 *
 * gnuplot is looked up on PATH; when it is missing or fails, a warning is
 * logged and training still counts as successful (the log holds the numbers).
 */
#ifndef DDAD_TRAIN_PLOT_H
#define DDAD_TRAIN_PLOT_H

#include <stdbool.h>

/* True when loss.png was written. */
bool train_plot_loss(const char *run_dir);
/* True when an executable named gnuplot is on PATH. */
bool train_plot_have_gnuplot(void);

#endif
