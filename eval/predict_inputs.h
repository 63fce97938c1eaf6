/* eval/predict_inputs.h - the image files named on ddad-predict's command
 * line: files, folders (recursively) and glob patterns.
 *
 *     predict_inputs_t in = {0};
 *     for (i = 0; i < n_args; i++) predict_inputs_add(&in, args[i]);
 *     for (k = 0; k < in.n; k++) use(in.v[k].path, in.v[k].stem);
 *     predict_inputs_free(&in);
 *
 * A folder contributes its files with an image extension (.png, .jpg,
 * .jpeg, .bmp, any case), sorted by path; a file named explicitly is taken
 * whatever its extension (so a bad one is reported, not ignored); a pattern
 * with * ? or [ that names no existing path is expanded with glob(3). Names
 * that match nothing are kept as entries with an error (exists = false) so
 * the caller reports them with the other failures. Each entry gets a
 * unique output stem: its path relative to the folder it came from (or its
 * file name), '/' replaced by '_', extension dropped, "_2", "_3" appended on
 * collisions. Ownership: every string is owned by the list.
 */
#ifndef DDAD_PREDICT_INPUTS_H
#define DDAD_PREDICT_INPUTS_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

typedef struct predict_input {
    char *path;
    char *stem;
    char *error;   /* why it cannot be used before reading it, or NULL */
} predict_input_t;

typedef struct predict_inputs {
    predict_input_t *v;
    size_t n, cap;
} predict_inputs_t;

/* Adds the files of one command-line argument (NOMEM is the only failure). */
ddad_status_t predict_inputs_add(predict_inputs_t *in, const char *arg);
/* Adds the files with an image extension under dir (recursively), sorted;
 * good_only: only those below a folder named "good" when want_good, only the
 * others when !want_good (used for calibration folders); NULL = all. */
ddad_status_t predict_inputs_add_folder(predict_inputs_t *in, const char *dir, const bool *want_good);
bool predict_has_image_extension(const char *path);
void predict_inputs_free(predict_inputs_t *in);

#endif
