/* eval/trained_on.h - which of some images a run's model trained on, so that
 * a threshold fitted on them can say it was (threshold.json's
 * seen_in_training), in ddad-eval and in ddad-predict --calib.
 *
 *     size_t hits;
 *     if (eval_trained_on_mark(&cal, ckpt, paths, n, "; ", &hits) != DDAD_OK)
 *         ... cannot tell (ddad_last_error() says why: no config in the
 *             checkpoint, or its data set moved)
 *     if (hits) ... warn: cal is marked seen_in_training, its source says how many
 *
 * The training images are those of the data set named by the config stored
 * in the checkpoint (data.format, data.root, the category), minus the ones
 * data.val_split held out when it trained (ddad_dataset_hold_out, the same
 * deterministic split), compared by real path. A relative data.root is
 * resolved against the current folder, as ddad-train did.
 */
#ifndef DDAD_EVAL_TRAINED_ON_H
#define DDAD_EVAL_TRAINED_ON_H

#include <stddef.h>

#include "calib.h"
#include "status.h"

/* *hits = how many of the n image paths are training images of the
 * checkpoint's model for category. DATA/IO status, with *hits = 0, when the
 * checkpoint's config or its data set cannot be read. */
ddad_status_t eval_trained_on_count(const char *checkpoint, const char *category, const char *const *paths, size_t n,
                                    size_t *hits);

/* eval_trained_on_count for cal's category, and the mark of a threshold
 * fitted on those n images: when any were trained on, cal->seen_in_training
 * is set and "<sep>N of them trained on" is appended to cal->source. cal is
 * left as it was when the count cannot be made (the status says why). */
ddad_status_t eval_trained_on_mark(ddad_calibration_t *cal, const char *checkpoint, const char *const *paths, size_t n,
                                   const char *sep, size_t *hits);

#endif
