/* core/status.c - see status.h */
#include "status.h"

#include <stdio.h>
#include <string.h>

#define DDAD_MSG_CAP 4096

static _Thread_local char tl_msg[DDAD_MSG_CAP];

static ddad_log_fn g_log_fn;
static void *g_log_user;
static ddad_log_level_t g_log_level = DDAD_LOG_INFO;

const char *ddad_status_str(ddad_status_t st)
{
    switch (st) {
    case DDAD_OK: return "ok";
    case DDAD_STATUS_USAGE: return "usage";
    case DDAD_STATUS_CONFIG: return "config";
    case DDAD_STATUS_DATA: return "data";
    case DDAD_STATUS_IO: return "io";
    case DDAD_STATUS_NUMERIC: return "numeric";
    case DDAD_STATUS_SHAPE: return "shape";
    case DDAD_STATUS_DEVICE: return "device";
    case DDAD_STATUS_NOMEM: return "nomem";
    case DDAD_STATUS_INTERRUPTED: return "interrupted";
    case DDAD_STATUS_PEER: return "peer";
    case DDAD_STATUS_INTERNAL: return "internal";
    }
    return "unknown";
}

int ddad_status_exit_code(ddad_status_t st)
{
    switch (st) {
    case DDAD_OK: return 0;
    case DDAD_STATUS_USAGE: return 2;
    case DDAD_STATUS_CONFIG: return 3;
    case DDAD_STATUS_DATA: return 4;
    case DDAD_STATUS_IO: return 5;
    case DDAD_STATUS_NOMEM: return 5;
    case DDAD_STATUS_NUMERIC: return 6;
    case DDAD_STATUS_DEVICE: return 7;
    case DDAD_STATUS_INTERRUPTED: return 8;
    case DDAD_STATUS_PEER: return 9;
    case DDAD_STATUS_SHAPE:
    case DDAD_STATUS_INTERNAL: return 1;
    }
    return 1;
}

const char *ddad_last_error(void) { return tl_msg; }

void ddad_clear_error(void) { tl_msg[0] = '\0'; }

ddad_status_t ddad_vfail(ddad_status_t st, const char *fmt, va_list ap)
{
    vsnprintf(tl_msg, sizeof tl_msg, fmt, ap);
    return st;
}

ddad_status_t ddad_fail(ddad_status_t st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ddad_vfail(st, fmt, ap);
    va_end(ap);
    return st;
}

ddad_status_t ddad_fail_context(ddad_status_t st, const char *fmt, ...)
{
    char prefix[1024];
    char old[DDAD_MSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, tl_msg, sizeof old);
    int np = snprintf(tl_msg, sizeof tl_msg, "%s: ", prefix);
    if (np > 0 && (size_t)np < sizeof tl_msg)
        snprintf(tl_msg + np, sizeof tl_msg - (size_t)np, "%.*s", (int)(sizeof tl_msg - (size_t)np - 1), old);
    return st;
}

void ddad_log_set_callback(ddad_log_fn fn, void *user)
{
    g_log_fn = fn;
    g_log_user = user;
}

void ddad_log_set_level(ddad_log_level_t min_level) { g_log_level = min_level; }

void ddad_log(ddad_log_level_t level, const char *fmt, ...)
{
    if (level < g_log_level)
        return;
    char buf[DDAD_MSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (g_log_fn) {
        g_log_fn(level, buf, g_log_user);
        return;
    }
    static const char *const names[] = {"debug", "info", "warning", "error"};
    if (level == DDAD_LOG_INFO)
        fprintf(stderr, "%s\n", buf);
    else
        fprintf(stderr, "%s: %s\n", names[level], buf);
}
