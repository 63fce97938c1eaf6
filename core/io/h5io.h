/* core/io/h5io.h - a small, typed layer over the HDF5 C library for ddad's
 * artifacts (checkpoints, maps files, PaDiM statistics) and for reading the
 * fixtures.
 *
 *     ddad_h5_t *f;
 *     if (ddad_h5_open(&f, "fixtures/unet_small.h5", DDAD_H5_READ)) ...
 *     float *x; int64_t shape[8]; int ndim;
 *     ddad_h5_read(f, "inputs/x", DDAD_H5_F32, (void **)&x, shape, &ndim);  // caller frees x
 *     ddad_h5_close(f);
 *
 * Names are paths inside the file ("weights/input_blocks.4.1.qkv.weight":
 * only '/' separates groups; dots are part of the name). Writers create the
 * intermediate groups. Errors name the file and the object. HDF5's own error
 * printing is switched off; its messages are folded into ddad_last_error().
 *
 * Ownership: buffers returned through void ** / char *** are malloc'ed and
 * owned by the caller (free(), or ddad_h5_free_strings for string lists).
 */
#ifndef DDAD_H5IO_H
#define DDAD_H5IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ddad_h5 ddad_h5_t;

typedef enum ddad_h5_mode {
    DDAD_H5_READ = 0,   /* existing file, read-only                        */
    DDAD_H5_RDWR,       /* existing file, read-write                       */
    DDAD_H5_CREATE      /* new file, truncating any existing one           */
} ddad_h5_mode_t;

typedef enum ddad_h5_type {
    DDAD_H5_F32 = 0,
    DDAD_H5_F64,
    DDAD_H5_I64,
    DDAD_H5_I32,
    DDAD_H5_U8,
    DDAD_H5_F16      /* stored as IEEE half; memory buffer holds uint16_t */
} ddad_h5_type_t;

#define DDAD_H5_MAX_DIMS 8

size_t ddad_h5_type_size(ddad_h5_type_t t);

ddad_status_t ddad_h5_open(ddad_h5_t **out, const char *path, ddad_h5_mode_t mode);
/* Flushes and closes; returns an I/O status if the flush failed (NULL ok). */
ddad_status_t ddad_h5_close(ddad_h5_t *f);
const char *ddad_h5_path(const ddad_h5_t *f);

/* True if a dataset or group of that name exists. */
bool ddad_h5_exists(ddad_h5_t *f, const char *name);

/* Shape of a dataset (returns DATA status if missing). */
ddad_status_t ddad_h5_shape(ddad_h5_t *f, const char *name, int64_t *shape, int *ndim);

/* Reads a whole dataset converted to type t into a new buffer. shape must
 * hold DDAD_H5_MAX_DIMS entries; ndim receives the rank (0 for a scalar). */
ddad_status_t ddad_h5_read(ddad_h5_t *f, const char *name, ddad_h5_type_t t, void **data, int64_t *shape, int *ndim);

/* Reads into a caller buffer of exactly the expected shape (error naming
 * both shapes when they differ). */
ddad_status_t ddad_h5_read_into(ddad_h5_t *f, const char *name, ddad_h5_type_t t, void *data, const int64_t *shape, int ndim);

/* Writes (replacing any existing dataset of that name). compress_level 0 =
 * contiguous, 1..9 = chunked + deflate. */
ddad_status_t ddad_h5_write(ddad_h5_t *f, const char *name, ddad_h5_type_t t, const void *data,
                            const int64_t *shape, int ndim, int compress_level);

/* Creates a dataset of the given shape to be filled by slabs along dim 0. */
ddad_status_t ddad_h5_create_dataset(ddad_h5_t *f, const char *name, ddad_h5_type_t t, const int64_t *shape, int ndim,
                                     int compress_level);
/* Writes rows [row0, row0 + nrows) along dim 0 of an existing dataset. */
ddad_status_t ddad_h5_write_rows(ddad_h5_t *f, const char *name, ddad_h5_type_t t, const void *data, int64_t row0,
                                 int64_t nrows);
/* Reads rows [row0, row0 + nrows) along dim 0 into a caller buffer. */
ddad_status_t ddad_h5_read_rows(ddad_h5_t *f, const char *name, ddad_h5_type_t t, void *data, int64_t row0, int64_t nrows);

/* 1-D dataset of variable-length UTF-8 strings. */
ddad_status_t ddad_h5_write_strings(ddad_h5_t *f, const char *name, const char *const *strings, size_t n);
ddad_status_t ddad_h5_read_strings(ddad_h5_t *f, const char *name, char ***strings, size_t *n);
void ddad_h5_free_strings(char **strings, size_t n);

/* Attributes on an object ("/" or "" = the root group). Strings are
 * variable-length UTF-8 when written; fixed-length ones are read too. */
ddad_status_t ddad_h5_set_attr_str(ddad_h5_t *f, const char *obj, const char *attr, const char *value);
ddad_status_t ddad_h5_set_attr_f64(ddad_h5_t *f, const char *obj, const char *attr, double value);
ddad_status_t ddad_h5_set_attr_i64(ddad_h5_t *f, const char *obj, const char *attr, int64_t value);
/* *value is malloc'ed (caller frees). */
ddad_status_t ddad_h5_get_attr_str(ddad_h5_t *f, const char *obj, const char *attr, char **value);
ddad_status_t ddad_h5_get_attr_f64(ddad_h5_t *f, const char *obj, const char *attr, double *value);
ddad_status_t ddad_h5_get_attr_i64(ddad_h5_t *f, const char *obj, const char *attr, int64_t *value);
bool ddad_h5_has_attr(ddad_h5_t *f, const char *obj, const char *attr);

/* Names of the direct members of a group, in creation/name order
 * (caller frees with ddad_h5_free_strings). */
ddad_status_t ddad_h5_list(ddad_h5_t *f, const char *group, char ***names, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
