/* core/nn/target_cache.h - the frozen extractor's feature targets of the
 * training images, computed once per image and kept for later epochs.
 *
 * Overview
 * --------
 * A training step's target is the frozen EfficientNet's features of the clean
 * image x0 (ddad_model_feature_target). Without augmentation
 * (data.rotation_deg = 0) a training image reaches the model unchanged in
 * every epoch, so its target never changes: the cache computes it the first
 * time the image is seen and serves it from memory afterwards. Entries are
 * keyed by the image's index in the training set (the loader's sample index).
 *
 *     ddad_target_cache_t *tc;
 *     if (ddad_target_cache_create(&tc, n_train, (size_t)1 << 30)) ...   // 1 GiB
 *     ...                                                  // every step:
 *     ddad_tensor_t *target;                               // (B, 272, fs, fs)
 *     if (ddad_target_cache_get(tc, m, x0, idx, B, fs, &target)) ...  // x0 (B, 3, S, S), idx (B)
 *     ddad_target_cache_stats_t s; ddad_target_cache_stats(tc, &s);   // hits, misses, bytes
 *     ddad_target_cache_free(tc);
 *
 * Exactness: an image that is not cached is sent through the extractor on its
 * own (a batch of one), so that its target depends on the image only and not
 * on which other images shared its batch (oneDNN and cuDNN may round
 * differently for another batch size). A cached target is therefore
 * bit-identical to ddad_model_feature_target of that image alone, whatever
 * mix of hits and misses a batch holds, and a resumed run (which starts with
 * an empty cache) gets the same targets as an uninterrupted one.
 *
 * Budget: targets are kept, first come first kept, while their bytes fit in
 * the budget; later images are computed on every visit (counted as misses
 * and as `refused`). Nothing is evicted: the loader visits every image once
 * per epoch, so an evicting policy would throw out each image just before it
 * comes back. One target takes 272 * fs * fs * 4 bytes (278 kB at fs 16,
 * 4.5 MB at fs 64). Targets live on the model's device.
 *
 * The caller must only use the cache when the images do not change between
 * epochs (no augmentation) and the extractor and fs stay the same; the cache
 * refuses another fs or device than the first call's.
 *
 * Ownership: the cache owns its targets; the tensor returned by _get is a new
 * tensor owned by the caller (or by the caller's open scope).
 * ddad_target_cache_free accepts NULL.
 */
#ifndef DDAD_NN_TARGET_CACHE_H
#define DDAD_NN_TARGET_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "../torch/tensor.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ddad_target_cache ddad_target_cache_t; /* opaque */

typedef struct ddad_target_cache_stats {
    int64_t hits;    /* targets served from the cache                          */
    int64_t misses;  /* targets computed (first visits and refused images)     */
    int64_t refused; /* computed targets not kept because the budget was full  */
    int64_t entries; /* targets held                                           */
    size_t bytes;    /* bytes of the held targets                              */
    size_t budget;   /* the byte budget                                        */
} ddad_target_cache_stats_t;

/* A cache for the images 0 .. n_samples-1 holding at most budget_bytes of
 * targets (0: keep nothing, every target is computed). */
ddad_status_t ddad_target_cache_create(ddad_target_cache_t **out, size_t n_samples, size_t budget_bytes);
void ddad_target_cache_free(ddad_target_cache_t *c);

/* The targets (N, 272, fs, fs) of the images x0 (N, 3, S, S) on m's device,
 * whose training-set indices are sample_idx (N): cached rows for images
 * seen before, the extractor (one image at a time, no autograd) for the
 * others, which are then kept if the budget allows. Errors: an index outside
 * 0 .. n_samples-1, N != n, fs or device other than the first call's (USAGE);
 * a model without extractor (USAGE); the extractor's own errors. */
ddad_status_t ddad_target_cache_get(ddad_target_cache_t *c, const ddad_model_t *m, const ddad_tensor_t *x0,
                                    const int64_t *sample_idx, int64_t n, int64_t fs, ddad_tensor_t **out);

/* Counters since creation (or the last _clear). c NULL: all zero. */
void ddad_target_cache_stats(const ddad_target_cache_t *c, ddad_target_cache_stats_t *s);

/* Frees every held target and resets the counters (e.g. after the extractor
 * or the training images changed). */
void ddad_target_cache_clear(ddad_target_cache_t *c);

#ifdef __cplusplus
}
#endif
#endif
