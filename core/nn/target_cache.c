/* core/nn/target_cache.c - per-image cache of the extractor's feature
 * targets (see target_cache.h). */
#include "target_cache.h"

#include <inttypes.h>
#include <stdlib.h>

struct ddad_target_cache {
    ddad_tensor_t **rows;      /* (n) one (1, C, fs, fs) target per image, NULL if not held */
    size_t n;
    size_t budget;
    int64_t fs;                /* 0 until the first call                                  */
    ddad_device_t device;
    ddad_target_cache_stats_t st;
};

ddad_status_t ddad_target_cache_create(ddad_target_cache_t **out, size_t n_samples, size_t budget_bytes)
{
    if (!out)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_target_cache_create: output pointer is NULL");
    *out = NULL;
    ddad_target_cache_t *c = calloc(1, sizeof *c);
    ddad_tensor_t **rows = calloc(n_samples ? n_samples : 1, sizeof *rows);
    if (!c || !rows) {
        free(c);
        free(rows);
        return ddad_fail(DDAD_STATUS_NOMEM, "ddad_target_cache_create: no memory for %zu entries", n_samples);
    }
    c->rows = rows;
    c->n = n_samples;
    c->budget = budget_bytes;
    c->st.budget = budget_bytes;
    *out = c;
    return DDAD_OK;
}

void ddad_target_cache_clear(ddad_target_cache_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        ddad_tensor_free(c->rows[i]);
        c->rows[i] = NULL;
    }
    c->fs = 0;
    c->st = (ddad_target_cache_stats_t){.budget = c->budget};
}

void ddad_target_cache_free(ddad_target_cache_t *c)
{
    if (!c)
        return;
    ddad_target_cache_clear(c);
    free(c->rows);
    free(c);
}

void ddad_target_cache_stats(const ddad_target_cache_t *c, ddad_target_cache_stats_t *s)
{
    if (!s)
        return;
    *s = c ? c->st : (ddad_target_cache_stats_t){0};
}

static ddad_status_t check_args(const ddad_target_cache_t *c, const ddad_model_t *m, const ddad_tensor_t *x0,
                                const int64_t *idx, int64_t n, int64_t fs, ddad_tensor_t **out)
{
    if (!c || !m || !x0 || !idx || !out)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_target_cache_get: NULL argument (cache %p, model %p, x0 %p, "
                         "indices %p, out %p)", (const void *)c, (const void *)m, (const void *)x0,
                         (const void *)idx, (void *)out);
    if (!m->has_features)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_target_cache_get: the model was built without the feature "
                         "extractor (DDAD_MODEL_WITH_FEATURES)");
    char d[128];
    ddad_tensor_describe(x0, d, sizeof d);
    if (n < 1 || ddad_tensor_dim(x0) != 4 || ddad_tensor_size(x0, 0) != n)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_target_cache_get: x0 must be (N, 3, S, S) with N = %" PRId64
                         " indices, got %s", n, d);
    if (fs < 1)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_target_cache_get: feature size %" PRId64 " must be >= 1", fs);
    ddad_device_t dev = ddad_tensor_device(x0);
    if (c->fs && (fs != c->fs || dev.type != c->device.type || dev.index != c->device.index))
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_target_cache_get: the cache holds targets of size %" PRId64
                         " on device type %d index %d, asked for size %" PRId64 " on %s; clear it first "
                         "(ddad_target_cache_clear)", c->fs, c->device.type, c->device.index, fs, d);
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || (uint64_t)idx[i] >= c->n)
            return ddad_fail(DDAD_STATUS_USAGE, "ddad_target_cache_get: sample index %" PRId64 " (batch row %"
                             PRId64 ") is outside 0 .. %zu (the cache was created for %zu images)",
                             idx[i], i, c->n ? c->n - 1 : 0, c->n);
    return DDAD_OK;
}

ddad_status_t ddad_target_cache_get(ddad_target_cache_t *c, const ddad_model_t *m, const ddad_tensor_t *x0,
                                    const int64_t *sample_idx, int64_t n, int64_t fs, ddad_tensor_t **out)
{
    ddad_status_t st = check_args(c, m, x0, sample_idx, n, fs, out);
    if (st != DDAD_OK)
        return st;
    ddad_tensor_t **rows = calloc((size_t)n, sizeof *rows);
    if (!rows)
        return ddad_fail(DDAD_STATUS_NOMEM, "ddad_target_cache_get: no memory for %" PRId64 " rows", n);
    if (!c->fs) { /* the first call fixes the size and device of every later one */
        c->fs = fs;
        c->device = ddad_tensor_device(x0);
    }
    int64_t hits = 0, misses = 0;
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *all = NULL;
    for (int64_t i = 0; i < n; i++) {
        ddad_tensor_t *held = c->rows[sample_idx[i]];
        if (held) {
            rows[i] = held; /* borrowed: the cat below copies it */
            hits++;
            continue;
        }
        ddad_tensor_t *xi, *ti;
        DDAD_TRY(ddad_slice(&xi, x0, 0, i, i + 1, 1));
        DDAD_TRY(ddad_model_feature_target(m, xi, fs, &ti)); /* (1, C, fs, fs), its own storage */
        rows[i] = ti;
        misses++;
        size_t bytes = (size_t)ddad_tensor_numel(ti) * ddad_dtype_size(ddad_tensor_dtype(ti));
        if (c->st.bytes + bytes <= c->budget) {
            c->rows[sample_idx[i]] = ddad_tensor_persist(ti); /* now owned by the cache */
            c->st.bytes += bytes;
            c->st.entries++;
        } else {
            c->st.refused++;
        }
    }
    DDAD_TRY(ddad_cat(&all, (const ddad_tensor_t *const *)rows, (size_t)n, 0));
    ddad_tensor_keep(all);
fail:
    ddad_scope_end(mark);
    free(rows);
    if (st == DDAD_OK) {
        c->st.hits += hits;
        c->st.misses += misses;
        *out = all;
    }
    return st;
}
