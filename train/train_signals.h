/* train/train_signals.h - SIGINT/SIGTERM ask the training loop to stop after
 * the current step (it then writes a checkpoint and exits with code 8). A
 * second signal while stopping is ignored: the checkpoint is being written.
 *
 *     train_signals_install();
 *     opts.stop_flag = train_signals_flag();
 */
#ifndef DDAD_TRAIN_SIGNALS_H
#define DDAD_TRAIN_SIGNALS_H

#include <signal.h>

void train_signals_install(void);
volatile sig_atomic_t *train_signals_flag(void);
/* The signal that set the flag (0 if none). */
int train_signals_which(void);

#endif
