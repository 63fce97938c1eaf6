/* core/data/loader.h - training batches and the test-set iterator.
 *
 * Training (an endless stream of full batches, epoch after epoch):
 *
 *     const ddad_sample_t **train; size_t n;
 *     ddad_dataset_select(ds, "bottle", DDAD_SPLIT_TRAIN, &train, &n);
 *     int64_t *cls = calloc(n, sizeof *cls);              // class index per sample
 *     ddad_loader_opts_t o = ddad_loader_opts_default();   // 256 px, batch 2, +-5 deg
 *     ddad_loader_t *L;
 *     if (ddad_loader_create(&L, train, cls, n, &o)) ...   // decodes + resizes all images once
 *     float *x = malloc(o.batch_size * 3 * o.image_size * o.image_size * sizeof *x);
 *     int64_t y[2];
 *     ddad_loader_next(L, x, y);                           // x: (B, 3, S, S) in [-1, 1]
 *     ddad_loader_cursor_t c; ddad_loader_get_cursor(L, &c);   // store in a checkpoint
 *     ... ddad_loader_seek(L, &c);                         // resume bit-exactly
 *     ddad_loader_free(L);
 *
 * Order: epoch e visits the samples in a permutation drawn (Fisher-Yates) from
 * a generator seeded by (seed, e); batches hold B consecutive entries of it and
 * the last incomplete batch of an epoch is dropped (as a DataLoader with
 * drop_last). Each sample then takes one draw for its rotation angle, uniform
 * in [-rotation_deg, rotation_deg] (positive = counter-clockwise, about the
 * image centre ((S-1)/2, (S-1)/2), bilinear, pixels that fall outside take the
 * value of the nearest edge pixel, i.e. border replication). With
 * rotation_deg = 0 images are passed through unchanged. With flip set, each
 * sample takes a second draw u after its angle, and the rotated image is
 * mirrored left-right when bit 0 of floor(4 u) is set and flip has
 * DDAD_LOADER_FLIP_H, upside down when bit 1 is set and flip has
 * DDAD_LOADER_FLIP_V (each with probability 1/2, independently); with flip 0
 * no second draw is made, so the stream is that of a loader without flips.
 * The generator is splitmix64, so the cursor's rng is its 64-bit state.
 *
 * Sharding (data-parallel training over K = shard_count processes): the
 * order, the rotation draws and the cursor stay those of the whole batch B,
 * and process k receives entries [k B/K, (k+1) B/K) of every batch, so the K
 * slices together are exactly the batch a single process would get (B must
 * be a multiple of K). A cursor therefore means the same for any K.
 *
 * Images are decoded, converted to RGB and resized (Pillow-exact bicubic) once,
 * by `threads` threads, at creation; the cache holds n * S * S * 3 bytes.
 * A background thread prepares the next batch while the caller trains.
 *
 * Test set (one image at a time, in table order):
 *
 *     ddad_testiter_t *it;
 *     ddad_testiter_opts_t to = {.image_size = 256, .mask_threshold = ds->mask_threshold};
 *     ddad_testiter_create(&it, test, n_test, &to);
 *     ddad_test_item_t item; bool more;
 *     while (!ddad_testiter_next(it, &item, &more) && more) { ... }
 *     ddad_testiter_free(it);
 *
 * Ownership: the loader and iterator keep pointers to the samples (keep the
 * data set alive) and copy the class ids. Item buffers belong to the iterator
 * and stay valid until the next call to ddad_testiter_next.
 */
#ifndef DDAD_LOADER_H
#define DDAD_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { DDAD_LOADER_FLIP_H = 1, DDAD_LOADER_FLIP_V = 2 };

typedef struct ddad_loader_opts {
    int image_size;     /* S: images are resized to S x S                  */
    int batch_size;     /* B: 1 <= B <= number of samples                  */
    uint64_t seed;
    float rotation_deg; /* 0 disables the augmentation                     */
    int flip;           /* DDAD_LOADER_FLIP_H | DDAD_LOADER_FLIP_V, or 0   */
    int threads;        /* decoding threads for the cache (>= 1)           */
    int shard_index;    /* data parallel: this process's slice of every    */
    int shard_count;    /* batch (0 or 1 = the whole batch); see below     */
} ddad_loader_opts_t;

/* 256, 2, seed 0, 5 degrees, no flips, 2 threads, no sharding (the paper's setting). */
ddad_loader_opts_t ddad_loader_opts_default(void);

typedef struct ddad_loader_cursor {
    int64_t epoch;    /* epoch of the next batch                               */
    int64_t position; /* index in that epoch's permutation of its first sample */
    uint64_t rng;     /* generator state before the next batch's draws         */
} ddad_loader_cursor_t;

typedef struct ddad_loader ddad_loader_t;

/* samples (n) and class_ids (n); class_ids may be NULL (all 0). */
ddad_status_t ddad_loader_create(ddad_loader_t **out, const ddad_sample_t *const *samples, const int64_t *class_ids,
                                 size_t n, const ddad_loader_opts_t *opts);

/* Fills images (b, 3, S, S) and labels (b) with the next batch, b = B, or
 * B / shard_count with sharding. */
ddad_status_t ddad_loader_next(ddad_loader_t *L, float *images, int64_t *labels);

/* Borrowed (b): the training-set indices (into the samples given at creation)
 * of the batch the last ddad_loader_next returned; valid until the next call. */
const int64_t *ddad_loader_batch_indices(const ddad_loader_t *L);

/* b: the images one ddad_loader_next call returns. */
int ddad_loader_local_batch(const ddad_loader_t *L);

/* The position of the next batch ddad_loader_next will return. */
void ddad_loader_get_cursor(const ddad_loader_t *L, ddad_loader_cursor_t *c);

/* Restores a cursor from ddad_loader_get_cursor (of a loader with the same
 * samples, seed and batch size): the following batches are bit-identical to
 * those the original loader returned after that point. A cursor that does not
 * belong to this loader (other seed or data) fails with DDAD_STATUS_DATA. */
ddad_status_t ddad_loader_seek(ddad_loader_t *L, const ddad_loader_cursor_t *c);

size_t ddad_loader_batches_per_epoch(const ddad_loader_t *L);

void ddad_loader_free(ddad_loader_t *L);

/* ---- test set ------------------------------------------------------------ */

typedef struct ddad_testiter_opts {
    int image_size;          /* S for the image                                      */
    bool mask_original_size; /* masks at the image's original size (else S x S,
                                resized with nearest neighbour before thresholding) */
    int mask_threshold;      /* mask pixel > threshold is defective (ds->mask_threshold) */
} ddad_testiter_opts_t;

typedef struct ddad_test_item {
    const float *image;   /* (3, S, S) in [-1, 1]                                    */
    const uint8_t *mask;  /* (mask_h, mask_w) in {0, 1}; zeros for good images;
                             NULL for an anomaly without mask (has_masks = false)    */
    int mask_w, mask_h;
    int label;            /* 0 good, 1 anomalous                                     */
    const char *name;     /* "test/crack/003.png" (relative to the category)       */
    const char *category;
    const char *defect;
    int orig_w, orig_h;   /* size of the file on disk                                */
    const ddad_sample_t *sample;
} ddad_test_item_t;

typedef struct ddad_testiter ddad_testiter_t;

ddad_status_t ddad_testiter_create(ddad_testiter_t **out, const ddad_sample_t *const *samples, size_t n,
                                   const ddad_testiter_opts_t *opts);
/* *more = false (and DDAD_OK) after the last item. */
ddad_status_t ddad_testiter_next(ddad_testiter_t *it, ddad_test_item_t *item, bool *more);
void ddad_testiter_rewind(ddad_testiter_t *it);
size_t ddad_testiter_count(const ddad_testiter_t *it);
void ddad_testiter_free(ddad_testiter_t *it);

#ifdef __cplusplus
}
#endif
#endif
