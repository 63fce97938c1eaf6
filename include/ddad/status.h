/* include/ddad/status.h - status codes, the thread-local error message, logging.
 *
 * Every fallible library call returns a ddad_status_t. On failure the call also
 * leaves a human-readable message (what failed, where, and a hint) in a
 * thread-local slot that the next failure replaces:
 *
 *     ddad_status_t st = ddad_config_load(&cfg, "configs/bottle.yaml", ...);
 *     if (st != DDAD_OK) {
 *         fprintf(stderr, "error: %s\n", ddad_last_error());
 *         return ddad_status_exit_code(st);
 *     }
 *
 * The library never calls exit() and never prints except through the log
 * callback (default: stderr, level >= DDAD_LOG_INFO).
 */
#ifndef DDAD_STATUS_H
#define DDAD_STATUS_H

#include <stdarg.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ddad_status {
    DDAD_OK = 0,
    DDAD_STATUS_USAGE,       /* bad command line or API misuse by the caller      */
    DDAD_STATUS_CONFIG,      /* bad configuration file or override                */
    DDAD_STATUS_DATA,        /* bad or missing data set, image, mask              */
    DDAD_STATUS_IO,          /* file system / HDF5 / write failures               */
    DDAD_STATUS_NUMERIC,     /* NaN/Inf where a finite number is required         */
    DDAD_STATUS_SHAPE,       /* tensor shape, dtype or argument mismatch          */
    DDAD_STATUS_DEVICE,      /* device not available or not compiled in          */
    DDAD_STATUS_NOMEM,       /* allocation failed                                 */
    DDAD_STATUS_INTERRUPTED, /* stopped by SIGINT/SIGTERM after a clean save      */
    DDAD_STATUS_PEER,        /* another process of a distributed job failed,
                                exited or timed out                               */
    DDAD_STATUS_INTERNAL     /* a bug: an unexpected exception or invariant       */
} ddad_status_t;

/* Stable short name of a status, e.g. "config". Never NULL. */
DDAD_API const char *ddad_status_str(ddad_status_t st);

/* Documented process exit code for a status (README "Exit codes"):
 * 0 ok, 1 internal, 2 usage, 3 config, 4 data, 5 I/O, 6 numeric,
 * 7 device, 8 interrupted, 9 peer (distributed job). SHAPE maps to 1 (a programming error), NOMEM to 5. */
DDAD_API int ddad_status_exit_code(ddad_status_t st);

/* The thread-local message of the last failure ("" if none). Owned by the
 * library, valid until the next failure on this thread. */
DDAD_API const char *ddad_last_error(void);

/* Records a failure message (printf-style) and returns st, so that callers can
 * write: return ddad_fail(DDAD_STATUS_DATA, "%s: not a PNG file", path); */
ddad_status_t ddad_fail(ddad_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
ddad_status_t ddad_vfail(ddad_status_t st, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Prefixes the current message with more context ("loading x.h5: <old>"),
 * keeps st. */
ddad_status_t ddad_fail_context(ddad_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void ddad_clear_error(void);

/* ---- logging ---------------------------------------------------------- */
typedef enum ddad_log_level {
    DDAD_LOG_DEBUG = 0,
    DDAD_LOG_INFO,
    DDAD_LOG_WARN,
    DDAD_LOG_ERROR
} ddad_log_level_t;

typedef void (*ddad_log_fn)(ddad_log_level_t level, const char *msg, void *user);

/* Replace the log sink (NULL restores the default stderr sink). */
DDAD_API void ddad_log_set_callback(ddad_log_fn fn, void *user);
DDAD_API void ddad_log_set_level(ddad_log_level_t min_level);
void ddad_log(ddad_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define DDAD_TRY(call)                                   \
    do {                                                 \
        ddad_status_t ddad_try_st_ = (call);             \
        if (ddad_try_st_ != DDAD_OK) {                   \
            st = ddad_try_st_;                           \
            goto fail;                                   \
        }                                                \
    } while (0)

/* Returns the status of call from the enclosing function when it fails. */
#define DDAD_TRY_RETURN(call)                            \
    do {                                                 \
        ddad_status_t ddad_try_st_ = (call);             \
        if (ddad_try_st_ != DDAD_OK)                     \
            return ddad_try_st_;                         \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
