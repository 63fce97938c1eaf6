/* train/train_run.h - the model side of ddad-train (core/runtime.h): joins
 * the data-parallel group when WORLD_SIZE is set, then trains the run of
 * the resolved config with core/nn/trainer.h, printing progress and the
 * loss plot; ddad_train.c's main calls it after the options and the config.
 */
#ifndef DDAD_TRAIN_RUN_H
#define DDAD_TRAIN_RUN_H

#include "config.h"
#include "train_args.h"

/* Returns the exit code (ddad_status_exit_code). cfg is adapted to this
 * process (threads per local rank, the rank's CUDA device). */
int train_run(const train_args_t *args, ddad_config_t *cfg);

#endif
