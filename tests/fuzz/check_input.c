/* tests/fuzz/check_input.c - feeds one file to one ddad reader the way a
 * program does, and reports the outcome the way a program does: the message
 * on stderr ("error: ...") and the documented exit code
 * (ddad_status_exit_code). bad_inputs.sh runs it over a set of broken
 * inputs to build the table in docs/reliability.md.
 *
 *   check_input config FILE [KEY=VALUE ...]   ddad_config_load (+ --set overrides)
 *   check_input image FILE                    ddad_image_load (RGB)
 *   check_input mask FILE                     ddad_image_load (gray)
 *   check_input h5 FILE DATASET               ddad_h5_open + ddad_h5_read (float32)
 *   check_input maps FILE                     ddad_mapsfile_open
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "h5io.h"
#include "image.h"
#include "mapsfile.h"
#include "status.h"

static ddad_status_t check(int argc, char **argv)
{
    const char *kind = argv[1], *path = argv[2];
    if (!strcmp(kind, "config")) {
        ddad_config_t *cfg = malloc(sizeof *cfg);
        if (!cfg)
            return ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
        ddad_status_t st = ddad_config_load(cfg, path, (const char *const *)argv + 3, (size_t)(argc - 3));
        free(cfg);
        return st;
    }
    if (!strcmp(kind, "image") || !strcmp(kind, "mask")) {
        ddad_image_t img = {0};
        ddad_status_t st = ddad_image_load(&img, path, !strcmp(kind, "image") ? DDAD_IMAGE_RGB : DDAD_IMAGE_GRAY);
        if (!st)
            printf("%d x %d x %d\n", img.w, img.h, img.c);
        ddad_image_free(&img);
        return st;
    }
    if (!strcmp(kind, "h5") && argc == 4) {
        ddad_h5_t *f = NULL;
        float *x = NULL;
        int64_t shape[DDAD_H5_MAX_DIMS];
        int nd = 0;
        ddad_status_t st = ddad_h5_open(&f, path, DDAD_H5_READ);
        if (!st)
            st = ddad_h5_read(f, argv[3], DDAD_H5_F32, (void **)&x, shape, &nd);
        free(x);
        ddad_status_t cst = ddad_h5_close(f);
        return st ? st : cst;
    }
    if (!strcmp(kind, "maps")) {
        ddad_mapsfile_t *f = NULL;
        ddad_status_t st = ddad_mapsfile_open(&f, path);
        if (!st)
            printf("%lld images\n", (long long)ddad_mapsfile_info(f)->n);
        ddad_mapsfile_close(f);
        return st;
    }
    return ddad_fail(DDAD_STATUS_USAGE, "unknown kind '%s' or wrong argument count", kind);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: check_input config|image|mask|h5|maps FILE [ARG...]\n");
        return 2;
    }
    ddad_status_t st = check(argc, argv);
    if (st) {
        fprintf(stderr, "error: %s\n", ddad_last_error());
        return ddad_status_exit_code(st);
    }
    printf("ok\n");
    return 0;
}
