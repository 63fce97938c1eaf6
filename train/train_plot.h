/* train/train_plot.h - loss.png from train.log, drawn by gnuplot (core/io/plot.h).
 *
 *     train_plot_loss(run_dir);   // <run_dir>/train.log -> <run_dir>/loss.png
 *
 * gnuplot is looked up on PATH; when it is missing or fails, a warning is
 * logged and training still counts as successful (the log holds the numbers).
 * The plot goes to loss.partial.png and is renamed, so loss.png is complete
 * or absent.
 */
#ifndef DDAD_TRAIN_PLOT_H
#define DDAD_TRAIN_PLOT_H

#include <stdbool.h>

/* True when loss.png was written. */
bool train_plot_loss(const char *run_dir);

#endif
