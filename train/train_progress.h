/* train/train_progress.h - progress of ddad-train on stderr: a one-line bar
 * (step, loss, it/s, ETA) redrawn in place when stderr is a terminal,
 * otherwise one plain line every train.log_every steps (and at the last).
 *
 *     train_progress_t p;
 *     train_progress_init(&p, log_every, quiet);
 *     opts.on_step = train_progress_step; opts.user = &p;
 *     ... train ...
 *     train_progress_finish(&p);
 */
#ifndef DDAD_TRAIN_PROGRESS_H
#define DDAD_TRAIN_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "nn/trainer.h"

typedef struct train_progress {
    bool tty;           /* stderr is a terminal: redraw one line         */
    bool quiet;         /* print nothing                                 */
    int log_every;
    bool line_open;     /* a bar is on screen without a newline           */
    double loss_avg;    /* smoothed loss for the bar                      */
    int64_t n;
} train_progress_t;

void train_progress_init(train_progress_t *p, int log_every, bool quiet);
/* A ddad_train_step_fn; user is the train_progress_t. */
void train_progress_step(const ddad_train_stats_t *s, void *user);
/* Ends the bar's line (before other output). */
void train_progress_finish(train_progress_t *p);
/* "1h02m", "3m07s", "12s" */
void train_progress_format_eta(char *buf, unsigned cap, double seconds);

#endif
