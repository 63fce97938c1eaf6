/* core/io/run.c - see run.h */
#include "run.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const k_names[DDAD_RUN_FILE_COUNT] = {
    [DDAD_RUN_CONFIG] = "config.yaml",         [DDAD_RUN_TRAIN_LOG] = "train.log",
    [DDAD_RUN_LOSS_PLOT] = "loss.png",         [DDAD_RUN_CHECKPOINTS] = "checkpoints",
    [DDAD_RUN_THRESHOLDS] = "threshold.json",  [DDAD_RUN_PREDICTIONS] = "predictions",
    [DDAD_RUN_FIGURES] = "figures",            [DDAD_RUN_CATEGORY_DIR] = "",
    [DDAD_RUN_MAPS] = "maps.h5",               [DDAD_RUN_METRICS_JSON] = "metrics.json",
    [DDAD_RUN_METRICS_CSV] = "metrics.csv",    [DDAD_RUN_REFERENCE] = "reference.h5",
    [DDAD_RUN_PADIM] = "padim.h5",             [DDAD_RUN_IMAGES] = "images",
    [DDAD_RUN_CALIBRATION] = "calibration.csv",
};

const char *ddad_run_file_name(ddad_run_file_t what)
{
    return (unsigned)what < DDAD_RUN_FILE_COUNT ? k_names[what] : "";
}

ddad_status_t ddad_run_path(char *buf, size_t cap, const char *run_dir, const char *category, ddad_run_file_t what)
{
    if ((unsigned)what >= DDAD_RUN_FILE_COUNT)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_run_path: unknown artifact %d", (int)what);
    const bool per_category = what >= DDAD_RUN_CATEGORY_DIR;
    const char *name = k_names[what];
    int len;
    if (per_category && category && *category)
        len = *name ? snprintf(buf, cap, "%s/%s/%s", run_dir, category, name)
                    : snprintf(buf, cap, "%s/%s", run_dir, category);
    else
        len = *name ? snprintf(buf, cap, "%s/%s", run_dir, name) : snprintf(buf, cap, "%s", run_dir);
    if (len < 0 || (size_t)len >= cap)
        return ddad_fail(DDAD_STATUS_USAGE, "run folder path too long: %s/.../%s", run_dir, name);
    return DDAD_OK;
}

bool ddad_run_is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

ddad_status_t ddad_run_mkdir_p(const char *path)
{
    if (!path || !*path)
        return ddad_fail(DDAD_STATUS_USAGE, "mkdir: empty folder name");
    size_t len = strlen(path);
    char *buf = malloc(len + 1);
    if (!buf)
        return ddad_fail(DDAD_STATUS_NOMEM, "mkdir %s: out of memory", path);
    memcpy(buf, path, len + 1);
    ddad_status_t st = DDAD_OK;
    for (char *p = buf + 1; *p && st == DDAD_OK; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            st = ddad_fail(DDAD_STATUS_IO, "cannot create folder %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (st == DDAD_OK && mkdir(buf, 0777) != 0 && errno != EEXIST)
        st = ddad_fail(DDAD_STATUS_IO, "cannot create folder %s: %s", buf, strerror(errno));
    struct stat sb;
    if (st == DDAD_OK && (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        st = ddad_fail(DDAD_STATUS_IO, "%s exists and is not a folder", buf);
    free(buf);
    return st;
}

ddad_status_t ddad_run_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return ddad_fail(DDAD_STATUS_IO, "%s: cannot open to sync: %s", path, strerror(errno));
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    if (rc != 0 && err != EINVAL) /* EINVAL: the file system cannot sync (e.g. a pipe) */
        return ddad_fail(DDAD_STATUS_IO, "%s: fsync failed: %s", path, strerror(err));
    return DDAD_OK;
}

ddad_status_t ddad_run_commit(const char *tmp, const char *path)
{
    ddad_status_t st = ddad_run_fsync_path(tmp);
    if (st == DDAD_OK && rename(tmp, path) != 0)
        st = ddad_fail(DDAD_STATUS_IO, "cannot move %s to %s: %s", tmp, path, strerror(errno));
    if (st != DDAD_OK)
        remove(tmp);
    return st;
}

ddad_status_t ddad_run_write_atomic(const char *path, ddad_run_writer_fn write, void *user)
{
    size_t len = strlen(path);
    char *tmp = malloc(len + 5);
    if (!tmp)
        return ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", 5);
    ddad_status_t st = DDAD_OK;
    FILE *f = fopen(tmp, "w");
    if (!f) {
        st = ddad_fail(DDAD_STATUS_IO, "cannot write %s: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    st = write(f, user);
    if (fflush(f) != 0 && st == DDAD_OK)
        st = ddad_fail(DDAD_STATUS_IO, "writing %s failed: %s", tmp, strerror(errno));
    if (st == DDAD_OK && fsync(fileno(f)) != 0 && errno != EINVAL)
        st = ddad_fail(DDAD_STATUS_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && st == DDAD_OK)
        st = ddad_fail(DDAD_STATUS_IO, "writing %s failed: %s", tmp, strerror(errno));
    if (st == DDAD_OK && rename(tmp, path) != 0)
        st = ddad_fail(DDAD_STATUS_IO, "cannot move %s to %s: %s", tmp, path, strerror(errno));
    if (st != DDAD_OK)
        remove(tmp);
    free(tmp);
    return st;
}

static ddad_status_t put_text(FILE *f, void *user)
{
    if (fputs((const char *)user, f) == EOF)
        return ddad_fail(DDAD_STATUS_IO, "write failed: %s", strerror(errno));
    return DDAD_OK;
}

ddad_status_t ddad_run_write_text_atomic(const char *path, const char *text)
{
    return ddad_run_write_atomic(path, put_text, (void *)text);
}
