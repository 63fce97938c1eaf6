/* core/io/mapsfile.c - see mapsfile.h */
#include "mapsfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5io.h"
#include "run.h"

/* ---- writer ------------------------------------------------------------ */

struct ddad_mapsfile_writer {
    ddad_h5_t *h5;
    char *path, *partial;
    int64_t n, h, w, t, rows;
    bool has_scores, finished;
    uint8_t *labels; /* (N) */
    float *scores;   /* (N) */
    char **names;    /* (N) */
};

static char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static ddad_status_t spec_check(const char *path, const ddad_mapsfile_spec_t *s)
{
    if (!s || !s->category || !*s->category)
        return ddad_fail(DDAD_STATUS_USAGE, "maps file %s: a category name is required", path);
    if (!s->resolution || (strcmp(s->resolution, "model") && strcmp(s->resolution, "original")))
        return ddad_fail(DDAD_STATUS_USAGE, "maps file %s: resolution must be \"model\" or \"original\", not \"%s\"",
                         path, s->resolution ? s->resolution : "(null)");
    if (s->n <= 0 || s->h <= 0 || s->w <= 0 || s->num_timesteps < 0)
        return ddad_fail(DDAD_STATUS_SHAPE, "maps file %s: invalid shape N=%lld H=%lld W=%lld T=%lld", path,
                         (long long)s->n, (long long)s->h, (long long)s->w, (long long)s->num_timesteps);
    if (s->num_timesteps > 0 && !s->timesteps)
        return ddad_fail(DDAD_STATUS_USAGE, "maps file %s: %lld timesteps announced but no timestep list", path,
                         (long long)s->num_timesteps);
    return DDAD_OK;
}

/* "5,50,100" for the timesteps attribute (malloc'ed). */
static char *timesteps_str(const int64_t *ts, int64_t t)
{
    size_t cap = (size_t)t * 24 + 1;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    size_t len = 0;
    s[0] = 0;
    for (int64_t i = 0; i < t; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s%lld", i ? "," : "", (long long)ts[i]);
    return s;
}

/* Creates the per-timestep datasets, their attribute and /timesteps. */
static ddad_status_t create_steps(ddad_mapsfile_writer_t *w, const ddad_mapsfile_spec_t *s)
{
    ddad_status_t st = DDAD_OK;
    int64_t shape4[4] = {s->n, s->num_timesteps, s->h, s->w};
    char *ts = timesteps_str(s->timesteps, s->num_timesteps);
    if (!ts)
        return ddad_fail(DDAD_STATUS_NOMEM, "maps file %s: out of memory", w->path);
    const char *which[2] = {"kl_maps", "feat_maps"};
    for (int k = 0; k < 2; k++) {
        DDAD_TRY(ddad_h5_create_dataset(w->h5, which[k], DDAD_H5_F32, shape4, 4, s->compress_level));
        DDAD_TRY(ddad_h5_set_attr_str(w->h5, which[k], "timesteps", ts));
    }
    DDAD_TRY(ddad_h5_write(w->h5, "timesteps", DDAD_H5_I64, s->timesteps, &s->num_timesteps, 1, 0));
fail:
    free(ts);
    return st;
}

/* Writes the root attributes and creates the row datasets. */
static ddad_status_t create_layout(ddad_mapsfile_writer_t *w, const ddad_mapsfile_spec_t *s)
{
    ddad_status_t st = DDAD_OK;
    int64_t shape3[3] = {s->n, s->h, s->w};
    DDAD_TRY(ddad_h5_set_attr_str(w->h5, "/", "format", DDAD_MAPSFILE_FORMAT));
    DDAD_TRY(ddad_h5_set_attr_i64(w->h5, "/", "format_version", DDAD_MAPSFILE_VERSION));
    DDAD_TRY(ddad_h5_set_attr_str(w->h5, "/", "category", s->category));
    DDAD_TRY(ddad_h5_set_attr_str(w->h5, "/", "resolution", s->resolution));
    DDAD_TRY(ddad_h5_create_dataset(w->h5, "maps", DDAD_H5_F32, shape3, 3, s->compress_level));
    DDAD_TRY(ddad_h5_create_dataset(w->h5, "masks", DDAD_H5_U8, shape3, 3, s->compress_level));
    if (s->num_timesteps > 0)
        DDAD_TRY(create_steps(w, s));
fail:
    return st;
}

ddad_status_t ddad_mapsfile_create(ddad_mapsfile_writer_t **out, const char *path, const ddad_mapsfile_spec_t *spec)
{
    ddad_status_t st;
    *out = NULL;
    if ((st = spec_check(path, spec)) != DDAD_OK)
        return st;
    ddad_mapsfile_writer_t *w = calloc(1, sizeof *w);
    if (!w)
        return ddad_fail(DDAD_STATUS_NOMEM, "maps file %s: out of memory", path);
    w->n = spec->n;
    w->h = spec->h;
    w->w = spec->w;
    w->t = spec->num_timesteps;
    w->has_scores = spec->has_scores;
    w->path = str_dup(path);
    w->partial = malloc(strlen(path) + 9);
    w->labels = calloc((size_t)w->n, 1);
    w->scores = calloc((size_t)w->n, sizeof *w->scores);
    w->names = calloc((size_t)w->n, sizeof *w->names);
    if (!w->path || !w->partial || !w->labels || !w->scores || !w->names) {
        ddad_mapsfile_writer_free(w);
        return ddad_fail(DDAD_STATUS_NOMEM, "maps file %s: out of memory", path);
    }
    sprintf(w->partial, "%s.partial", path);
    if ((st = ddad_h5_open(&w->h5, w->partial, DDAD_H5_CREATE)) == DDAD_OK)
        st = create_layout(w, spec);
    if (st != DDAD_OK) {
        ddad_mapsfile_writer_free(w);
        return ddad_fail_context(st, "creating maps file %s", path);
    }
    *out = w;
    return DDAD_OK;
}

ddad_status_t ddad_mapsfile_set_attr(ddad_mapsfile_writer_t *w, const char *key, const char *value)
{
    static const char *reserved[] = {"format", "format_version", "category", "resolution"};
    for (size_t k = 0; k < sizeof reserved / sizeof reserved[0]; k++)
        if (!strcmp(key, reserved[k]))
            return ddad_fail(DDAD_STATUS_USAGE, "maps file %s: attribute \"%s\" is reserved", w->path, key);
    return ddad_h5_set_attr_str(w->h5, "/", key, value);
}

ddad_status_t ddad_mapsfile_append(ddad_mapsfile_writer_t *w, const ddad_mapsfile_row_t *row)
{
    ddad_status_t st = DDAD_OK;
    int64_t i = w->rows;
    if (w->finished || i >= w->n)
        return ddad_fail(DDAD_STATUS_USAGE, "maps file %s: row %lld appended but the file holds %lld images",
                         w->path, (long long)i, (long long)w->n);
    if (!row->map || !row->mask || !row->name || (w->t > 0 && (!row->kl_maps || !row->feat_maps)))
        return ddad_fail(DDAD_STATUS_USAGE, "maps file %s: row %lld lacks its name, map, mask%s", w->path,
                         (long long)i, w->t > 0 ? " or per-timestep maps" : "");
    DDAD_TRY(ddad_h5_write_rows(w->h5, "maps", DDAD_H5_F32, row->map, i, 1));
    DDAD_TRY(ddad_h5_write_rows(w->h5, "masks", DDAD_H5_U8, row->mask, i, 1));
    if (w->t > 0) {
        DDAD_TRY(ddad_h5_write_rows(w->h5, "kl_maps", DDAD_H5_F32, row->kl_maps, i, 1));
        DDAD_TRY(ddad_h5_write_rows(w->h5, "feat_maps", DDAD_H5_F32, row->feat_maps, i, 1));
    }
    if (!(w->names[i] = str_dup(row->name)))
        return ddad_fail(DDAD_STATUS_NOMEM, "maps file %s: out of memory", w->path);
    w->labels[i] = row->label != 0;
    w->scores[i] = row->score;
    w->rows++;
    return DDAD_OK;
fail:
    return ddad_fail_context(st, "maps file %s, row %lld", w->path, (long long)i);
}

ddad_status_t ddad_mapsfile_finish(ddad_mapsfile_writer_t *w)
{
    ddad_status_t st = DDAD_OK;
    if (w->rows != w->n)
        return ddad_fail(DDAD_STATUS_USAGE, "maps file %s: %lld of %lld rows written; the file stays incomplete",
                         w->path, (long long)w->rows, (long long)w->n);
    DDAD_TRY(ddad_h5_write(w->h5, "labels", DDAD_H5_U8, w->labels, &w->n, 1, 0));
    DDAD_TRY(ddad_h5_write_strings(w->h5, "names", (const char *const *)w->names, (size_t)w->n));
    if (w->has_scores)
        DDAD_TRY(ddad_h5_write(w->h5, "scores", DDAD_H5_F32, w->scores, &w->n, 1, 0));
    st = ddad_h5_close(w->h5);
    w->h5 = NULL;
    if (st != DDAD_OK)
        goto fail;
    if ((st = ddad_run_commit(w->partial, w->path)) != DDAD_OK)
        return ddad_fail_context(st, "maps file %s", w->path);
    w->finished = true;
    return DDAD_OK;
fail:
    return ddad_fail_context(st, "finishing maps file %s", w->path);
}

void ddad_mapsfile_writer_free(ddad_mapsfile_writer_t *w)
{
    if (!w)
        return;
    if (w->h5)
        ddad_h5_close(w->h5);
    if (!w->finished && w->partial)
        remove(w->partial);
    for (int64_t i = 0; w->names && i < w->n; i++)
        free(w->names[i]);
    free(w->names);
    free(w->labels);
    free(w->scores);
    free(w->path);
    free(w->partial);
    free(w);
}

/* ---- reader ------------------------------------------------------------ */

struct ddad_mapsfile {
    ddad_h5_t *h5;
    ddad_mapsfile_info_t info;
    float *buf_map;     /* (H, W) pixel-source buffers, allocated on first use */
    uint8_t *buf_mask;  /* (H, W) */
};

/* Checks that dataset `name` has exactly the given shape. */
static ddad_status_t expect_shape(ddad_h5_t *h5, const char *name, const int64_t *want, int nd)
{
    int64_t shape[DDAD_H5_MAX_DIMS];
    int ndim;
    ddad_status_t st = ddad_h5_shape(h5, name, shape, &ndim);
    if (st != DDAD_OK)
        return st;
    int same = ndim == nd;
    for (int k = 0; same && k < nd; k++)
        same = shape[k] == want[k];
    if (!same)
        return ddad_fail(DDAD_STATUS_DATA, "/%s has rank %d shape (%lld, %lld, ...), expected rank %d (%lld, %lld, ...)",
                         name, ndim, (long long)shape[0], (long long)(ndim > 1 ? shape[1] : 0), nd,
                         (long long)want[0], (long long)(nd > 1 ? want[1] : 0));
    return DDAD_OK;
}

/* Format and version attributes: optional (the minimum layout of another
 * method's maps has neither), checked when present. */
static ddad_status_t check_format(ddad_h5_t *h5)
{
    char *fmt = NULL;
    int64_t ver = 0;
    if (!ddad_h5_has_attr(h5, "/", "format")) {
        if (ddad_h5_has_attr(h5, "/", "format_version"))
            return ddad_fail(DDAD_STATUS_DATA, "format_version without a format attribute");
        return DDAD_OK;
    }
    ddad_status_t st = ddad_h5_get_attr_str(h5, "/", "format", &fmt);
    if (st == DDAD_OK && strcmp(fmt, DDAD_MAPSFILE_FORMAT) != 0)
        st = ddad_fail(DDAD_STATUS_DATA, "format attribute is \"%s\", expected \"%s\"", fmt, DDAD_MAPSFILE_FORMAT);
    free(fmt);
    if (st == DDAD_OK)
        st = ddad_h5_get_attr_i64(h5, "/", "format_version", &ver);
    if (st == DDAD_OK && ver != DDAD_MAPSFILE_VERSION)
        st = ddad_fail(DDAD_STATUS_DATA, "format_version %lld is not supported (this build reads version %d)",
                       (long long)ver, DDAD_MAPSFILE_VERSION);
    return st;
}

/* Reads the per-timestep description when /kl_maps is present. */
static ddad_status_t read_steps_info(ddad_mapsfile_t *f)
{
    ddad_mapsfile_info_t *in = &f->info;
    int64_t shape[DDAD_H5_MAX_DIMS];
    int ndim;
    ddad_status_t st = ddad_h5_shape(f->h5, "kl_maps", shape, &ndim);
    if (st != DDAD_OK)
        return st;
    if (ndim != 4)
        return ddad_fail(DDAD_STATUS_DATA, "/kl_maps has rank %d, expected (N, T, H, W)", ndim);
    int64_t want[4] = {in->n, shape[1], in->h, in->w};
    in->num_timesteps = shape[1];
    DDAD_TRY(expect_shape(f->h5, "kl_maps", want, 4));
    DDAD_TRY(expect_shape(f->h5, "feat_maps", want, 4));
    DDAD_TRY(ddad_h5_read(f->h5, "timesteps", DDAD_H5_I64, (void **)&in->timesteps, shape, &ndim));
    if (ndim != 1 || shape[0] != in->num_timesteps)
        return ddad_fail(DDAD_STATUS_DATA, "/timesteps does not hold %lld entries", (long long)in->num_timesteps);
fail:
    return st;
}

/* Reads attributes and small datasets into f->info, validating shapes. */
static ddad_status_t read_info(ddad_mapsfile_t *f)
{
    ddad_status_t st = DDAD_OK;
    ddad_mapsfile_info_t *in = &f->info;
    int64_t shape[DDAD_H5_MAX_DIMS];
    int ndim;
    size_t nnames = 0;
    DDAD_TRY(check_format(f->h5));
    if (!ddad_h5_has_attr(f->h5, "/", "category"))
        return ddad_fail(DDAD_STATUS_DATA, "no root attribute 'category' (the minimum layout: /maps, /masks, /labels, "
                         "/names and a string attribute category on the root group; README \"Maps files\")");
    DDAD_TRY(ddad_h5_get_attr_str(f->h5, "/", "category", &in->category));
    if (ddad_h5_has_attr(f->h5, "/", "resolution")) {
        DDAD_TRY(ddad_h5_get_attr_str(f->h5, "/", "resolution", &in->resolution));
    } else if (!(in->resolution = strdup("unknown"))) {
        return ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
    }
    DDAD_TRY(ddad_h5_shape(f->h5, "maps", shape, &ndim));
    if (ndim != 3)
        return ddad_fail(DDAD_STATUS_DATA, "/maps has rank %d, expected (N, H, W)", ndim);
    in->n = shape[0];
    in->h = shape[1];
    in->w = shape[2];
    if (in->n <= 0 || in->h <= 0 || in->w <= 0)
        return ddad_fail(DDAD_STATUS_DATA, "/maps is empty (%lld, %lld, %lld): no image to evaluate",
                         (long long)in->n, (long long)in->h, (long long)in->w);
    DDAD_TRY(expect_shape(f->h5, "masks", shape, 3));
    DDAD_TRY(ddad_h5_read(f->h5, "labels", DDAD_H5_U8, (void **)&in->labels, shape, &ndim));
    if (ndim != 1 || shape[0] != in->n)
        return ddad_fail(DDAD_STATUS_DATA, "/labels does not hold %lld entries", (long long)in->n);
    DDAD_TRY(ddad_h5_read_strings(f->h5, "names", &in->names, &nnames));
    if ((int64_t)nnames != in->n) {
        ddad_h5_free_strings(in->names, nnames);
        in->names = NULL;
        return ddad_fail(DDAD_STATUS_DATA, "/names holds %zu entries for %lld maps", nnames, (long long)in->n);
    }
    if (ddad_h5_exists(f->h5, "scores")) {
        DDAD_TRY(ddad_h5_read(f->h5, "scores", DDAD_H5_F32, (void **)&in->scores, shape, &ndim));
        if (ndim != 1 || shape[0] != in->n)
            return ddad_fail(DDAD_STATUS_DATA, "/scores does not hold %lld entries", (long long)in->n);
    }
    if (ddad_h5_exists(f->h5, "kl_maps"))
        DDAD_TRY(read_steps_info(f));
fail:
    return st;
}

ddad_status_t ddad_mapsfile_open(ddad_mapsfile_t **out, const char *path)
{
    *out = NULL;
    ddad_mapsfile_t *f = calloc(1, sizeof *f);
    if (!f)
        return ddad_fail(DDAD_STATUS_NOMEM, "maps file %s: out of memory", path);
    ddad_status_t st = ddad_h5_open(&f->h5, path, DDAD_H5_READ);
    if (st == DDAD_OK)
        st = read_info(f);
    if (st != DDAD_OK) {
        ddad_mapsfile_close(f);
        return ddad_fail_context(st, "reading maps file %s", path);
    }
    *out = f;
    return DDAD_OK;
}

const ddad_mapsfile_info_t *ddad_mapsfile_info(const ddad_mapsfile_t *f) { return &f->info; }

static ddad_status_t index_check(ddad_mapsfile_t *f, int64_t i)
{
    if (i < 0 || i >= f->info.n)
        return ddad_fail(DDAD_STATUS_USAGE, "maps file %s: image %lld out of range [0, %lld)", ddad_h5_path(f->h5),
                         (long long)i, (long long)f->info.n);
    return DDAD_OK;
}

ddad_status_t ddad_mapsfile_read_image(ddad_mapsfile_t *f, int64_t i, float *map, uint8_t *mask)
{
    ddad_status_t st = index_check(f, i);
    if (st == DDAD_OK && map)
        st = ddad_h5_read_rows(f->h5, "maps", DDAD_H5_F32, map, i, 1);
    if (st == DDAD_OK && mask)
        st = ddad_h5_read_rows(f->h5, "masks", DDAD_H5_U8, mask, i, 1);
    return st;
}

ddad_status_t ddad_mapsfile_read_steps(ddad_mapsfile_t *f, int64_t i, const char *which, float *out)
{
    ddad_status_t st = index_check(f, i);
    if (st != DDAD_OK)
        return st;
    if (strcmp(which, "kl_maps") && strcmp(which, "feat_maps"))
        return ddad_fail(DDAD_STATUS_USAGE, "maps file: \"%s\" is not kl_maps or feat_maps", which);
    if (f->info.num_timesteps == 0)
        return ddad_fail(DDAD_STATUS_DATA, "maps file %s has no per-timestep maps", ddad_h5_path(f->h5));
    return ddad_h5_read_rows(f->h5, which, DDAD_H5_F32, out, i, 1);
}

ddad_status_t ddad_mapsfile_get_attr(ddad_mapsfile_t *f, const char *key, char **value)
{
    *value = NULL;
    if (!ddad_h5_has_attr(f->h5, "/", key))
        return ddad_fail(DDAD_STATUS_DATA, "maps file %s has no attribute \"%s\"", ddad_h5_path(f->h5), key);
    return ddad_h5_get_attr_str(f->h5, "/", key, value);
}

/* ddad_pixel_source_t.get over the file: reads one row into f's buffers. */
static ddad_status_t source_get(void *user, int64_t i, const float **map, const uint8_t **mask)
{
    ddad_mapsfile_t *f = user;
    size_t hw = (size_t)(f->info.h * f->info.w);
    if (!f->buf_map) {
        f->buf_map = malloc(hw * sizeof *f->buf_map);
        f->buf_mask = malloc(hw);
        if (!f->buf_map || !f->buf_mask)
            return ddad_fail(DDAD_STATUS_NOMEM, "maps file: cannot allocate one %lld x %lld row",
                             (long long)f->info.h, (long long)f->info.w);
    }
    ddad_status_t st = ddad_mapsfile_read_image(f, i, f->buf_map, f->buf_mask);
    *map = f->buf_map;
    *mask = f->buf_mask;
    return st;
}

void ddad_mapsfile_pixel_source(ddad_mapsfile_t *f, ddad_pixel_source_t *src)
{
    src->n = f->info.n;
    src->h = f->info.h;
    src->w = f->info.w;
    src->get = source_get;
    src->user = f;
}

void ddad_mapsfile_close(ddad_mapsfile_t *f)
{
    if (!f)
        return;
    ddad_h5_close(f->h5);
    ddad_mapsfile_info_t *in = &f->info;
    free(in->category);
    free(in->resolution);
    free(in->timesteps);
    free(in->labels);
    ddad_h5_free_strings(in->names, (size_t)in->n);
    free(in->scores);
    free(f->buf_map);
    free(f->buf_mask);
    free(f);
}
