/* core/run.h - file-system helpers for a run folder: folders created on
 * demand and files that are either complete or absent.
 *
 *     if (ddad_run_mkdir_p("runs/mvtec/bottle/predictions")) ... error
 *     char *text = ...;                     // the whole new content
 *     if (ddad_run_write_text_atomic("runs/mvtec/bottle/threshold.json", text)) ... error
 *
 * Atomic writes go to "<path>.tmp", are flushed and fsync'ed, then renamed
 * over <path>, so a crash or a full disk never leaves a half-written file
 * in place of the previous one. Errors are DDAD_STATUS_IO with the path and
 * the system's reason.
 */
#ifndef DDAD_RUN_H
#define DDAD_RUN_H

#include <stddef.h>
#include <stdio.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates path and its missing parents (like mkdir -p); OK when it exists. */
ddad_status_t ddad_run_mkdir_p(const char *path);

/* fsyncs an existing file (for writers that rename themselves). */
ddad_status_t ddad_run_fsync_path(const char *path);

/* Replaces path with the NUL-terminated text, atomically (see above). */
ddad_status_t ddad_run_write_text_atomic(const char *path, const char *text);

/* The same with a writer callback: write(f, user) fills the temporary
 * file and returns DDAD_OK; on any failure the temporary file is removed
 * and path is untouched. */
typedef ddad_status_t (*ddad_run_writer_fn)(FILE *f, void *user);
ddad_status_t ddad_run_write_atomic(const char *path, ddad_run_writer_fn write, void *user);

#ifdef __cplusplus
}
#endif
#endif
