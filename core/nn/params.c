/* core/nn/params.c - see params.h */
#include "params.h"
#include "../torch/tensor_layout.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ddad_params_init(ddad_params_t *p, ddad_device_t device)
{
    memset(p, 0, sizeof *p);
    p->device = device;
    p->dtype = DDAD_DTYPE_F32;
}

void ddad_params_free(ddad_params_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        ddad_tensor_free(p->items[i].tensor);
    free(p->items);
    p->items = NULL;
    p->n = p->cap = 0;
}

ddad_tensor_t *ddad_params_find(const ddad_params_t *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->items[i].name, name))
            return p->items[i].tensor;
    return NULL;
}

static ddad_status_t params_add(ddad_params_t *p, ddad_tensor_t **out, const char *name, const int64_t *shape,
                                int ndim, bool trainable)
{
    if (strlen(name) >= DDAD_PARAM_NAME_MAX)
        return ddad_fail(DDAD_STATUS_USAGE, "parameter name too long: %s", name);
    if (ddad_params_find(p, name))
        return ddad_fail(DDAD_STATUS_INTERNAL, "parameter '%s' registered twice", name);
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        ddad_param_t *items = realloc(p->items, cap * sizeof *items);
        if (!items)
            return ddad_fail(DDAD_STATUS_NOMEM, "out of memory registering parameter '%s'", name);
        p->items = items;
        p->cap = cap;
    }
    ddad_tensor_t *t = NULL;
    ddad_status_t st = ddad_zeros(&t, shape, ndim, p->dtype, p->device);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "creating parameter '%s'", name);
    /* parameters outlive any scope the model code may have open */
    ddad_tensor_persist(t);
    ddad_param_t *it = &p->items[p->n++];
    snprintf(it->name, sizeof it->name, "%s", name);
    it->tensor = t;
    it->trainable = trainable;
    if (out)
        *out = t;
    return DDAD_OK;
}

ddad_status_t ddad_params_new(ddad_params_t *p, ddad_tensor_t **out, const char *name, const int64_t *shape, int ndim)
{
    return params_add(p, out, name, shape, ndim, true);
}

ddad_status_t ddad_params_new_buffer(ddad_params_t *p, ddad_tensor_t **out, const char *name, const int64_t *shape,
                                     int ndim)
{
    return params_add(p, out, name, shape, ndim, false);
}

ddad_status_t ddad_params_newf(ddad_params_t *p, ddad_tensor_t **out, const int64_t *shape, int ndim, const char *fmt,
                               ...)
{
    char name[DDAD_PARAM_NAME_MAX + 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return params_add(p, out, name, shape, ndim, true);
}

int64_t ddad_params_numel(const ddad_params_t *p, bool trainable_only)
{
    int64_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        if (!trainable_only || p->items[i].trainable)
            n += ddad_tensor_numel(p->items[i].tensor);
    return n;
}

ddad_status_t ddad_params_set_requires_grad(ddad_params_t *p, bool on)
{
    for (size_t i = 0; i < p->n; i++) {
        ddad_status_t st = ddad_set_requires_grad(p->items[i].tensor, on && p->items[i].trainable);
        if (st != DDAD_OK)
            return st;
    }
    return DDAD_OK;
}

static bool name_listed(const char *const *list, const char *name)
{
    for (; list && *list; list++)
        if (!strcmp(*list, name))
            return true;
    return false;
}

ddad_status_t ddad_params_set_dtype_(ddad_params_t *p, ddad_dtype_t dt, int min_ndim, const char *const *keep,
                                     size_t *converted)
{
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++) {
        ddad_tensor_t *t = p->items[i].tensor;
        if (ddad_tensor_dim(t) < min_ndim || ddad_tensor_dtype(t) == dt || name_listed(keep, p->items[i].name))
            continue;
        ddad_status_t st = ddad_tensor_set_dtype_(t, dt);
        if (st != DDAD_OK)
            return ddad_fail_context(st, "parameter '%s'", p->items[i].name);
        k++;
    }
    if (converted)
        *converted = k;
    return DDAD_OK;
}

size_t ddad_params_trainable(const ddad_params_t *p, ddad_tensor_t **out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->items[i].trainable) {
            if (out && k < cap)
                out[k] = p->items[i].tensor;
            k++;
        }
    return k;
}

ddad_status_t ddad_params_init_uniform(ddad_tensor_t *t, int64_t fan_in, ddad_generator_t *gen)
{
    double bound = fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0.0;
    return ddad_uniform_(t, -bound, bound, gen);
}

static ddad_status_t check_same_layout(const ddad_params_t *dst, const ddad_params_t *src)
{
    if (dst->n != src->n)
        return ddad_fail(DDAD_STATUS_SHAPE, "parameter sets differ in size (%zu vs %zu tensors)", dst->n, src->n);
    for (size_t i = 0; i < dst->n; i++)
        if (strcmp(dst->items[i].name, src->items[i].name))
            return ddad_fail(DDAD_STATUS_SHAPE, "parameter %zu is '%s' in one set and '%s' in the other", i,
                             dst->items[i].name, src->items[i].name);
    return DDAD_OK;
}

ddad_status_t ddad_params_copy(ddad_params_t *dst, const ddad_params_t *src)
{
    ddad_status_t st = check_same_layout(dst, src);
    for (size_t i = 0; st == DDAD_OK && i < dst->n; i++)
        st = ddad_copy_(dst->items[i].tensor, src->items[i].tensor);
    return st;
}

ddad_status_t ddad_params_ema_update(ddad_params_t *dst, const ddad_params_t *src, double decay)
{
    ddad_status_t st = check_same_layout(dst, src);
    for (size_t i = 0; st == DDAD_OK && i < dst->n; i++) {
        if (dst->items[i].trainable)
            st = ddad_lerp_(dst->items[i].tensor, src->items[i].tensor, 1.0 - decay);
        else
            st = ddad_copy_(dst->items[i].tensor, src->items[i].tensor);
    }
    return st;
}

ddad_status_t ddad_params_clone(ddad_params_t *out, const ddad_params_t *src)
{
    ddad_params_init(out, src->device);
    out->dtype = src->dtype;
    for (size_t i = 0; i < src->n; i++) {
        int64_t shape[DDAD_MAX_DIMS];
        int nd = ddad_tensor_shape(src->items[i].tensor, shape, DDAD_MAX_DIMS);
        ddad_tensor_t *t = NULL;
        ddad_status_t st = params_add(out, &t, src->items[i].name, shape, nd, src->items[i].trainable);
        if (st == DDAD_OK)
            st = ddad_copy_(t, src->items[i].tensor);
        if (st != DDAD_OK) {
            ddad_params_free(out);
            return st;
        }
    }
    return DDAD_OK;
}

static void shape_str(const int64_t *shape, int nd, char *buf, size_t cap)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "(");
    for (int i = 0; i < nd && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (k < cap)
        snprintf(buf + k, cap - k, ")");
}

ddad_status_t ddad_params_load_h5(ddad_params_t *p, ddad_h5_t *f, const char *group, ddad_params_load_mode_t mode,
                                  size_t *n_loaded)
{
    size_t loaded = 0;
    char path[512];
    ddad_status_t st = DDAD_OK;
    if (mode == DDAD_PARAMS_REQUIRE_ALL) {
        size_t missing = 0;
        const char *first = NULL;
        for (size_t i = 0; i < p->n; i++) {
            snprintf(path, sizeof path, "%s/%s", group, p->items[i].name);
            if (!ddad_h5_exists(f, path)) {
                if (!first)
                    first = p->items[i].name;
                missing++;
            }
        }
        if (missing)
            return ddad_fail(DDAD_STATUS_DATA, "%s: %zu of the %zu required tensors are missing from group '%s', "
                             "first '%s'", ddad_h5_path(f), missing, p->n, group, first);
    }
    for (size_t i = 0; i < p->n && st == DDAD_OK; i++) {
        ddad_param_t *it = &p->items[i];
        snprintf(path, sizeof path, "%s/%s", group, it->name);
        if (!ddad_h5_exists(f, path)) {
            if (mode == DDAD_PARAMS_PARTIAL)
                continue;
            return ddad_fail(DDAD_STATUS_DATA, "%s: parameter '%s' is missing (expected dataset '%s'); "
                             "the file was written for another model or model size",
                             ddad_h5_path(f), it->name, path);
        }
        int64_t want[DDAD_MAX_DIMS], have[DDAD_H5_MAX_DIMS];
        int nd_want = ddad_tensor_shape(it->tensor, want, DDAD_MAX_DIMS), nd_have = 0;
        st = ddad_h5_shape(f, path, have, &nd_have);
        if (st != DDAD_OK)
            return st;
        bool same = nd_want == nd_have;
        for (int d = 0; same && d < nd_want; d++)
            same = want[d] == have[d];
        if (!same) {
            char a[128], b[128];
            shape_str(want, nd_want, a, sizeof a);
            shape_str(have, nd_have, b, sizeof b);
            return ddad_fail(DDAD_STATUS_DATA, "%s: parameter '%s' has shape %s in the file but the model expects %s "
                             "(check the model.* settings against the ones the file was made with)",
                             ddad_h5_path(f), it->name, b, a);
        }
        int64_t n = ddad_tensor_numel(it->tensor);
        float *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof *buf);
        if (!buf)
            return ddad_fail(DDAD_STATUS_NOMEM, "out of memory loading '%s'", it->name);
        st = ddad_h5_read_into(f, path, DDAD_H5_F32, buf, want, nd_want);
        ddad_tensor_t *host = NULL;
        if (st == DDAD_OK)
            st = ddad_from_buffer(&host, buf, want, nd_want, DDAD_DTYPE_F32);
        if (st == DDAD_OK)
            st = ddad_copy_(it->tensor, host);
        ddad_tensor_free(host);
        free(buf);
        if (st == DDAD_OK)
            loaded++;
    }
    if (st != DDAD_OK)
        return st;
    if (mode == DDAD_PARAMS_STRICT) {
        char **names = NULL;
        size_t n = 0;
        st = ddad_h5_list(f, group, &names, &n);
        if (st != DDAD_OK)
            return st;
        for (size_t i = 0; i < n && st == DDAD_OK; i++)
            if (!ddad_params_find(p, names[i]))
                st = ddad_fail(DDAD_STATUS_DATA, "%s: unexpected parameter '%s/%s' (not part of this model); "
                               "the file was written for another model or model size",
                               ddad_h5_path(f), group, names[i]);
        ddad_h5_free_strings(names, n);
    }
    if (n_loaded)
        *n_loaded = loaded;
    return st;
}

ddad_status_t ddad_params_save_h5(const ddad_params_t *p, ddad_h5_t *f, const char *group)
{
    char path[512];
    for (size_t i = 0; i < p->n; i++) {
        const ddad_param_t *it = &p->items[i];
        int64_t shape[DDAD_MAX_DIMS];
        int nd = ddad_tensor_shape(it->tensor, shape, DDAD_MAX_DIMS);
        int64_t n = ddad_tensor_numel(it->tensor);
        float *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof *buf);
        if (!buf)
            return ddad_fail(DDAD_STATUS_NOMEM, "out of memory saving '%s'", it->name);
        ddad_status_t st = ddad_to_buffer(it->tensor, buf, (size_t)n * sizeof *buf, DDAD_DTYPE_F32);
        snprintf(path, sizeof path, "%s/%s", group, it->name);
        if (st == DDAD_OK)
            st = ddad_h5_write(f, path, DDAD_H5_F32, buf, shape, nd, 0);
        free(buf);
        if (st != DDAD_OK)
            return st;
    }
    return DDAD_OK;
}
