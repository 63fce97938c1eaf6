/* eval/trained_on.c - see trained_on.h. */
#include "trained_on.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dataset.h"
#include "nn/checkpoint.h"

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

ddad_status_t eval_trained_on_count(const char *checkpoint, const char *category, const char *const *paths, size_t n,
                                    size_t *hits)
{
    *hits = 0;
    ddad_config_t cfg;
    DDAD_TRY_RETURN(ddad_checkpoint_read_config(checkpoint, &cfg));
    ddad_dataset_t *ds = NULL;
    DDAD_TRY_RETURN(ddad_dataset_index(&ds, cfg.data.format, cfg.data.root, &category, 1));
    ddad_dataset_hold_out(ds, cfg.data.val_split, NULL);
    const ddad_sample_t **train = NULL; /* (n_train) pointers into ds */
    size_t n_train = 0;
    ddad_status_t st = ddad_dataset_select(ds, category, DDAD_SPLIT_TRAIN, &train, &n_train);
    char **seen = NULL; /* (n_seen) sorted real paths of the training images, owned */
    size_t n_seen = 0;
    if (st == DDAD_OK && !(seen = calloc(n_train ? n_train : 1, sizeof *seen)))
        st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory for %zu paths", n_train);
    for (size_t i = 0; st == DDAD_OK && i < n_train; i++)
        if ((seen[n_seen] = realpath(train[i]->path, NULL)))
            n_seen++;
    if (st == DDAD_OK) {
        qsort(seen, n_seen, sizeof *seen, cmp_str);
        for (size_t k = 0; k < n; k++) {
            char *real = realpath(paths[k], NULL);
            if (real && bsearch(&real, seen, n_seen, sizeof *seen, cmp_str))
                (*hits)++;
            free(real);
        }
    }
    for (size_t i = 0; i < n_seen; i++)
        free(seen[i]);
    free(seen);
    free(train);
    ddad_dataset_free(ds);
    return st;
}

ddad_status_t eval_trained_on_mark(ddad_calibration_t *cal, const char *checkpoint, const char *const *paths, size_t n,
                                   const char *sep, size_t *hits)
{
    DDAD_TRY_RETURN(eval_trained_on_count(checkpoint, cal->category, paths, n, hits));
    if (*hits) {
        cal->seen_in_training = true;
        size_t len = strlen(cal->source);
        snprintf(cal->source + len, sizeof cal->source - len, "%s%zu of them trained on", sep, *hits);
    }
    return DDAD_OK;
}
