/* core/nn/padim.c - PaDiM statistics and distances, see padim.h. */
#include "padim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../torch/tensor_backbone_extra.h"

/* Locations processed at once by the fit and the file I/O, so that temporary
 * (chunk, d, d) tensors stay near 256 MB whatever the grid. */
static int64_t location_chunk(int64_t d, size_t elem_size)
{
    int64_t per = d * d * (int64_t)elem_size;
    int64_t c = ((int64_t)256 << 20) / (per > 0 ? per : 1);
    return c < 1 ? 1 : c;
}

ddad_padim_options_t ddad_padim_default_options(void)
{
    ddad_padim_options_t o;
    o.d = 500;
    o.seed = 0;
    o.eps = 0.01;
    return o;
}

static ddad_status_t set_indices(ddad_padim_t *p, const int64_t *idx)
{
    p->indices = malloc((size_t)p->d * sizeof *p->indices);
    if (!p->indices)
        return ddad_fail(DDAD_STATUS_NOMEM, "PaDiM: cannot allocate %lld channel indices", (long long)p->d);
    memcpy(p->indices, idx, (size_t)p->d * sizeof *p->indices);
    for (int64_t i = 0; i < p->d; i++)
        if (idx[i] < 0 || idx[i] >= p->c_total)
            return ddad_fail(DDAD_STATUS_DATA, "PaDiM: channel index %lld at position %lld is outside [0, %lld)",
                             (long long)idx[i], (long long)i, (long long)p->c_total);
    ddad_tensor_t *cpu = NULL;
    ddad_status_t st = ddad_from_buffer(&cpu, idx, &p->d, 1, DDAD_DTYPE_I64);
    if (st == DDAD_OK)
        st = ddad_to_device(&p->index, cpu, p->device);
    ddad_tensor_free(cpu);
    ddad_tensor_persist(p->index);
    return st;
}

static void padim_clear(ddad_padim_t *p, ddad_device_t dev)
{
    memset(p, 0, sizeof *p);
    p->device = dev;
    p->c_total = DDAD_PADIM_CHANNELS;
}

ddad_status_t ddad_padim_init(ddad_padim_t *p, const ddad_padim_options_t *opt, ddad_device_t dev)
{
    ddad_padim_options_t def = ddad_padim_default_options();
    if (!opt)
        opt = &def;
    padim_clear(p, dev);
    if (opt->d < 1 || opt->d > DDAD_PADIM_CHANNELS)
        return ddad_fail(DDAD_STATUS_USAGE, "PaDiM: d = %lld channels, must be in [1, %d]", (long long)opt->d,
                         DDAD_PADIM_CHANNELS);
    if (!(opt->eps > 0))
        return ddad_fail(DDAD_STATUS_USAGE, "PaDiM: eps = %g, must be > 0 (covariances need a ridge)", opt->eps);
    p->d = opt->d;
    p->eps = opt->eps;
    p->seed = opt->seed;
    ddad_generator_t *gen = NULL;
    ddad_tensor_t *perm = NULL;
    int64_t *buf = malloc(DDAD_PADIM_CHANNELS * sizeof *buf);
    ddad_status_t st = buf ? DDAD_OK : ddad_fail(DDAD_STATUS_NOMEM, "PaDiM: out of memory");
    if (st == DDAD_OK)
        st = ddad_generator_create(&gen, opt->seed, DDAD_CPU);
    if (st == DDAD_OK)
        st = ddad_randperm(&perm, DDAD_PADIM_CHANNELS, gen);
    if (st == DDAD_OK)
        st = ddad_to_buffer(perm, buf, DDAD_PADIM_CHANNELS * sizeof *buf, DDAD_DTYPE_I64);
    if (st == DDAD_OK)
        st = set_indices(p, buf);
    ddad_tensor_free(perm);
    ddad_generator_free(gen);
    free(buf);
    if (st != DDAD_OK)
        ddad_padim_free(p);
    return st;
}

void ddad_padim_free(ddad_padim_t *p)
{
    if (!p)
        return;
    free(p->indices);
    ddad_tensor_free(p->index);
    ddad_tensor_free(p->mean);
    ddad_tensor_free(p->inv_cov);
    ddad_tensor_free(p->acc_sum);
    ddad_tensor_free(p->acc_outer);
    ddad_device_t dev = p->device;
    padim_clear(p, dev);
}

/* ---- embedding ---------------------------------------------------------- */

ddad_status_t ddad_padim_embed(const ddad_padim_t *p, const ddad_wrn_t *wrn, const ddad_tensor_t *x,
                               ddad_tensor_t **emb)
{
    if (!p->index)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_padim_embed: PaDiM model not initialised");
    ddad_status_t st = DDAD_OK;
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *l[DDAD_WRN_NUM_LAYERS] = {0}, *r[DDAD_WRN_NUM_LAYERS], *cat, *sel;
    DDAD_TRY(ddad_wrn_forward(wrn, x, l));
    int64_t gh = ddad_tensor_size(l[0], 2), gw = ddad_tensor_size(l[0], 3);
    r[0] = l[0];
    for (int i = 1; i < DDAD_WRN_NUM_LAYERS; i++)
        DDAD_TRY(ddad_interpolate(&r[i], l[i], gh, gw, DDAD_INTERP_BILINEAR, false));
    DDAD_TRY(ddad_cat(&cat, (const ddad_tensor_t *const *)r, DDAD_WRN_NUM_LAYERS, 1)); /* (N, 1792, gh, gw) */
    DDAD_TRY(ddad_index_select(&sel, cat, 1, p->index));                              /* (N, d, gh, gw) */
    *emb = ddad_tensor_keep(sel);
fail:
    ddad_scope_end(mark);
    return st;
}

/* ---- fit ------------------------------------------------------------------ */

static ddad_status_t check_embedding(const ddad_padim_t *p, const ddad_tensor_t *emb, const char *op)
{
    if (ddad_tensor_dim(emb) != 4 || ddad_tensor_size(emb, 1) != p->d ||
        (p->grid_h && (ddad_tensor_size(emb, 2) != p->grid_h || ddad_tensor_size(emb, 3) != p->grid_w))) {
        char d[128];
        ddad_tensor_describe(emb, d, sizeof d);
        return ddad_fail(DDAD_STATUS_SHAPE,
                         "%s: embedding must be (N, %lld, %lld, %lld) (d, grid of the model; grid 0 = not fixed yet), "
                         "got %s; images must have the size used for the fit",
                         op, (long long)p->d, (long long)p->grid_h, (long long)p->grid_w, d);
    }
    return DDAD_OK;
}

ddad_status_t ddad_padim_fit_add_embedding(ddad_padim_t *p, const ddad_tensor_t *emb)
{
    const char *op = "ddad_padim_fit_add";
    if (!p->index)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: PaDiM model not initialised", op);
    if (p->mean)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: the model is already fitted (fit_end was called or it was loaded)",
                         op);
    ddad_status_t st = check_embedding(p, emb, op);
    if (st != DDAD_OK)
        return st;
    int64_t n = ddad_tensor_size(emb, 0), d = p->d;
    if (!p->acc_sum) {
        int64_t gh = ddad_tensor_size(emb, 2), gw = ddad_tensor_size(emb, 3), L = gh * gw;
        int64_t s2[2] = {L, d}, s3[3] = {L, d, d};
        if ((st = ddad_zeros(&p->acc_sum, s2, 2, DDAD_DTYPE_F64, p->device)) != DDAD_OK)
            return st;
        if ((st = ddad_zeros(&p->acc_outer, s3, 3, DDAD_DTYPE_F64, p->device)) != DDAD_OK) {
            ddad_tensor_free(p->acc_sum);
            p->acc_sum = NULL;
            return ddad_fail_context(st, "PaDiM: allocating the (%lld, %lld, %lld) f64 accumulator", (long long)L,
                                     (long long)d, (long long)d);
        }
        ddad_tensor_persist(p->acc_sum);
        ddad_tensor_persist(p->acc_outer);
        p->grid_h = gh;
        p->grid_w = gw;
    }
    int64_t L = p->grid_h * p->grid_w;
    size_t mark = ddad_scope_begin();
    bool prev_grad = ddad_grad_set_enabled(false);
    ddad_tensor_t *e, *s, *et, *ett, *part, *acc;
    DDAD_TRY(ddad_detach(&e, emb));
    DDAD_TRY(ddad_to_dtype(&e, e, DDAD_DTYPE_F64));
    int64_t s3[3] = {n, d, L};
    DDAD_TRY(ddad_reshape(&e, e, s3, 3));           /* (N, d, L) */
    int64_t perm[3] = {2, 1, 0};
    DDAD_TRY(ddad_permute(&et, e, perm, 3));        /* (L, d, N) */
    DDAD_TRY(ddad_contiguous(&et, et));
    int64_t dim_n = 2;
    DDAD_TRY(ddad_sum_dims(&s, et, &dim_n, 1, false)); /* (L, d) */
    DDAD_TRY(ddad_add_scaled_(p->acc_sum, s, 1.0));
    int64_t chunk = location_chunk(d, 8);
    for (int64_t l0 = 0; l0 < L; l0 += chunk) {
        size_t m2 = ddad_scope_begin();
        int64_t l1 = l0 + chunk < L ? l0 + chunk : L;
        DDAD_TRY(ddad_slice(&part, et, 0, l0, l1, 1));        /* (c, d, N) */
        DDAD_TRY(ddad_transpose(&ett, part, 1, 2));           /* (c, N, d) */
        DDAD_TRY(ddad_bmm(&ett, part, ett));                  /* (c, d, d) */
        DDAD_TRY(ddad_slice(&acc, p->acc_outer, 0, l0, l1, 1));
        DDAD_TRY(ddad_add_scaled_(acc, ett, 1.0));
        ddad_scope_end(m2);
    }
    p->n_train += n;
fail:
    ddad_grad_set_enabled(prev_grad);
    ddad_scope_end(mark);
    return st;
}

ddad_status_t ddad_padim_fit_add(ddad_padim_t *p, const ddad_wrn_t *wrn, const ddad_tensor_t *x)
{
    if (p->image_h && (ddad_tensor_size(x, 2) != p->image_h || ddad_tensor_size(x, 3) != p->image_w))
        return ddad_fail(DDAD_STATUS_SHAPE, "ddad_padim_fit_add: images are %lldx%lld, the fit started with %lldx%lld",
                         (long long)ddad_tensor_size(x, 2), (long long)ddad_tensor_size(x, 3), (long long)p->image_h,
                         (long long)p->image_w);
    /* no scope here: the first batch allocates the accumulators the model keeps */
    bool prev_grad = ddad_grad_set_enabled(false);
    ddad_tensor_t *emb = NULL;
    ddad_status_t st = ddad_padim_embed(p, wrn, x, &emb);
    if (st == DDAD_OK)
        st = ddad_padim_fit_add_embedding(p, emb);
    ddad_tensor_free(emb);
    ddad_grad_set_enabled(prev_grad);
    if (st != DDAD_OK)
        return st;
    p->image_h = ddad_tensor_size(x, 2);
    p->image_w = ddad_tensor_size(x, 3);
    snprintf(p->backbone_source, sizeof p->backbone_source, "%s", wrn->source);
    p->backbone_random = wrn->random_weights;
    return DDAD_OK;
}

/* eps I (d, d) f64 on dev. */
static ddad_status_t make_ridge(ddad_tensor_t **out, int64_t d, double eps, ddad_device_t dev)
{
    double *eye = calloc((size_t)(d * d), sizeof *eye);
    if (!eye)
        return ddad_fail(DDAD_STATUS_NOMEM, "PaDiM: out of memory");
    for (int64_t i = 0; i < d; i++)
        eye[i * d + i] = eps;
    int64_t s2[2] = {d, d};
    ddad_tensor_t *cpu = NULL;
    ddad_status_t st = ddad_from_buffer(&cpu, eye, s2, 2, DDAD_DTYPE_F64);
    free(eye);
    if (st == DDAD_OK)
        st = ddad_to_device(out, cpu, dev);
    ddad_tensor_free(cpu);
    return st;
}

ddad_status_t ddad_padim_fit_end(ddad_padim_t *p)
{
    if (!p->acc_sum)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_padim_fit_end: no training images were added");
    if (p->n_train < 2)
        return ddad_fail(DDAD_STATUS_DATA,
                         "ddad_padim_fit_end: %lld training image(s); a covariance needs at least 2",
                         (long long)p->n_train);
    int64_t L = p->grid_h * p->grid_w, d = p->d, n = p->n_train;
    int64_t s3[3] = {L, d, d};
    ddad_tensor_t *mu = NULL, *ridge = NULL, *mean = NULL, *inv = NULL;
    bool prev_grad = ddad_grad_set_enabled(false);
    ddad_status_t st = ddad_mul_scalar(&mu, p->acc_sum, 1.0 / (double)n); /* (L, d) f64 */
    if (st == DDAD_OK)
        st = make_ridge(&ridge, d, p->eps, p->device);
    if (st == DDAD_OK)
        st = ddad_to_dtype(&mean, mu, DDAD_DTYPE_F32);
    if (st == DDAD_OK)
        st = ddad_zeros(&inv, s3, 3, DDAD_DTYPE_F32, p->device);
    int64_t chunk = location_chunk(d, 8);
    for (int64_t l0 = 0; l0 < L && st == DDAD_OK; l0 += chunk) {
        int64_t l1 = l0 + chunk < L ? l0 + chunk : L;
        size_t mark = ddad_scope_begin();
        ddad_tensor_t *part, *m3, *mmt, *cov, *ic, *dst;
        DDAD_TRY(ddad_slice(&part, mu, 0, l0, l1, 1));          /* (c, d) */
        DDAD_TRY(ddad_unsqueeze(&m3, part, 2));                 /* (c, d, 1) */
        DDAD_TRY(ddad_transpose(&mmt, m3, 1, 2));               /* (c, 1, d) */
        DDAD_TRY(ddad_bmm(&mmt, m3, mmt));                      /* (c, d, d) mean mean^T */
        DDAD_TRY(ddad_slice(&cov, p->acc_outer, 0, l0, l1, 1)); /* (c, d, d) sum x x^T */
        DDAD_TRY(ddad_add_scaled(&cov, cov, mmt, -(double)n));
        DDAD_TRY(ddad_mul_scalar(&cov, cov, 1.0 / (double)(n - 1)));
        DDAD_TRY(ddad_add(&cov, cov, ridge));
        st = ddad_linalg_inv_spd(&ic, cov);
        if (st != DDAD_OK) {
            ddad_fail_context(st, "PaDiM: inverting the covariances of locations %lld..%lld", (long long)l0,
                              (long long)(l1 - 1));
            goto fail;
        }
        DDAD_TRY(ddad_slice(&dst, inv, 0, l0, l1, 1));
        DDAD_TRY(ddad_copy_(dst, ic)); /* f64 -> f32 */
    fail:
        ddad_scope_end(mark);
    }
    ddad_grad_set_enabled(prev_grad);
    ddad_tensor_free(mu);
    ddad_tensor_free(ridge);
    if (st != DDAD_OK) {
        ddad_tensor_free(mean);
        ddad_tensor_free(inv);
        return st;
    }
    ddad_tensor_free(p->acc_sum);
    ddad_tensor_free(p->acc_outer);
    p->acc_sum = p->acc_outer = NULL;
    p->mean = ddad_tensor_persist(mean);
    p->inv_cov = ddad_tensor_persist(inv);
    return DDAD_OK;
}

/* ---- distance ------------------------------------------------------------- */

ddad_status_t ddad_padim_distance_embedding(const ddad_padim_t *p, const ddad_tensor_t *emb, ddad_tensor_t **dist)
{
    const char *op = "ddad_padim_distance";
    if (!p->mean || !p->inv_cov)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: the PaDiM model is not fitted (call fit_end or load a file)", op);
    ddad_status_t st = check_embedding(p, emb, op);
    if (st != DDAD_OK)
        return st;
    int64_t n = ddad_tensor_size(emb, 0), d = p->d, gh = p->grid_h, gw = p->grid_w, L = gh * gw;
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *e, *diff, *mu, *t, *m, *out;
    int64_t s3[3] = {n, d, L};
    DDAD_TRY(ddad_reshape(&e, emb, s3, 3));          /* (N, d, L) */
    int64_t perm[3] = {2, 0, 1};
    DDAD_TRY(ddad_permute(&e, e, perm, 3));          /* (L, N, d) */
    DDAD_TRY(ddad_unsqueeze(&mu, p->mean, 1));       /* (L, 1, d) */
    DDAD_TRY(ddad_sub(&diff, e, mu));                /* (L, N, d) */
    DDAD_TRY(ddad_bmm(&t, diff, p->inv_cov));        /* (L, N, d) */
    DDAD_TRY(ddad_mul(&t, t, diff));
    int64_t last = 2;
    DDAD_TRY(ddad_sum_dims(&m, t, &last, 1, false)); /* (L, N) */
    DDAD_TRY(ddad_clamp_min(&m, m, 0.0));            /* rounding can make ~0 negative */
    DDAD_TRY(ddad_sqrt(&m, m));
    DDAD_TRY(ddad_transpose(&m, m, 0, 1));           /* (N, L) */
    int64_t s4[4] = {n, 1, gh, gw};
    DDAD_TRY(ddad_reshape(&out, m, s4, 4));          /* (N, 1, gh, gw) */
    *dist = ddad_tensor_keep(out);
fail:
    ddad_scope_end(mark);
    return st;
}

ddad_status_t ddad_padim_distance(const ddad_padim_t *p, const ddad_wrn_t *wrn, const ddad_tensor_t *x,
                                  bool need_grad_wrt_input, ddad_tensor_t **dist_map, ddad_tensor_t **grad)
{
    if (ddad_tensor_dim(x) != 4) {
        char d[128];
        ddad_tensor_describe(x, d, sizeof d);
        return ddad_fail(DDAD_STATUS_SHAPE, "ddad_padim_distance: images must be (N, 3, H, W), got %s", d);
    }
    if (need_grad_wrt_input && !grad)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_padim_distance: need_grad_wrt_input without a grad output");
    int64_t n = ddad_tensor_size(x, 0), h = ddad_tensor_size(x, 2), w = ddad_tensor_size(x, 3);
    ddad_status_t st = DDAD_OK;
    bool prev_grad = ddad_grad_set_enabled(need_grad_wrt_input);
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *xi, *emb, *dist, *up, *loss, *g = NULL, *map;
    DDAD_TRY(ddad_detach(&xi, x));
    if (need_grad_wrt_input)
        DDAD_TRY(ddad_set_requires_grad(xi, true));
    DDAD_TRY(ddad_padim_embed(p, wrn, xi, &emb));                                  /* (N, d, gh, gw) */
    DDAD_TRY(ddad_padim_distance_embedding(p, emb, &dist));                        /* (N, 1, gh, gw) */
    DDAD_TRY(ddad_interpolate(&up, dist, h, w, DDAD_INTERP_BILINEAR, false));      /* (N, 1, H, W) */
    if (need_grad_wrt_input) {
        /* sum over images of each image's mean: per-image gradients */
        DDAD_TRY(ddad_mean(&loss, up));
        DDAD_TRY(ddad_mul_scalar(&loss, loss, (double)n));
        DDAD_TRY(ddad_backward(loss));
        DDAD_TRY(ddad_grad(&g, xi));
        if (!g) {
            st = ddad_fail(DDAD_STATUS_INTERNAL, "ddad_padim_distance: no gradient reached the input");
            goto fail;
        }
        DDAD_TRY(ddad_detach(&g, g));
    }
    DDAD_TRY(ddad_detach(&map, up));
    ddad_grad_set_enabled(prev_grad);
    *dist_map = ddad_tensor_keep(map);
    if (grad)
        *grad = g ? ddad_tensor_keep(g) : NULL;
fail:
    ddad_grad_set_enabled(prev_grad);
    ddad_scope_end(mark);
    return st;
}

/* ---- files ------------------------------------------------------------------ */

/* Writes a (L, ...) f32 tensor as dataset name, chunk by chunk of rows. */
static ddad_status_t write_rows_chunked(ddad_h5_t *f, const char *name, const ddad_tensor_t *t, int64_t chunk)
{
    int64_t shape[DDAD_MAX_DIMS];
    int nd = ddad_tensor_shape(t, shape, DDAD_MAX_DIMS);
    int64_t row = 1;
    for (int i = 1; i < nd; i++)
        row *= shape[i];
    ddad_status_t st = ddad_h5_create_dataset(f, name, DDAD_H5_F32, shape, nd, 0);
    if (st != DDAD_OK)
        return st;
    float *buf = malloc((size_t)(chunk * row) * sizeof *buf);
    if (!buf)
        return ddad_fail(DDAD_STATUS_NOMEM, "PaDiM: out of memory writing %s", name);
    for (int64_t r0 = 0; r0 < shape[0] && st == DDAD_OK; r0 += chunk) {
        int64_t r1 = r0 + chunk < shape[0] ? r0 + chunk : shape[0];
        ddad_tensor_t *part = NULL;
        st = ddad_slice(&part, t, 0, r0, r1, 1);
        if (st == DDAD_OK)
            st = ddad_to_buffer(part, buf, (size_t)((r1 - r0) * row) * sizeof *buf, DDAD_DTYPE_F32);
        if (st == DDAD_OK)
            st = ddad_h5_write_rows(f, name, DDAD_H5_F32, buf, r0, r1 - r0);
        ddad_tensor_free(part);
    }
    free(buf);
    return st;
}

ddad_status_t ddad_padim_save_h5(const ddad_padim_t *p, const char *path)
{
    if (!p->mean || !p->inv_cov)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_padim_save_h5: the PaDiM model is not fitted");
    ddad_h5_t *f = NULL;
    ddad_status_t st = ddad_h5_open(&f, path, DDAD_H5_CREATE);
    if (st != DDAD_OK)
        return st;
    int64_t L = p->grid_h * p->grid_w;
    DDAD_TRY(ddad_h5_set_attr_str(f, "/", "format", DDAD_PADIM_FORMAT));
    DDAD_TRY(ddad_h5_set_attr_i64(f, "/", "format_version", DDAD_PADIM_FORMAT_VERSION));
    DDAD_TRY(ddad_h5_set_attr_str(f, "/", "backbone", "wide_resnet50_2"));
    DDAD_TRY(ddad_h5_set_attr_str(f, "/", "backbone_source", p->backbone_source));
    DDAD_TRY(ddad_h5_set_attr_i64(f, "/", "backbone_random", p->backbone_random ? 1 : 0));
    DDAD_TRY(ddad_h5_set_attr_str(f, "/", "layers", "layer1,layer2,layer3 bilinear to the layer1 grid"));
    DDAD_TRY(ddad_h5_set_attr_i64(f, "/", "c_total", p->c_total));
    DDAD_TRY(ddad_h5_set_attr_i64(f, "/", "d", p->d));
    DDAD_TRY(ddad_h5_set_attr_f64(f, "/", "eps", p->eps));
    DDAD_TRY(ddad_h5_set_attr_i64(f, "/", "seed", (int64_t)p->seed));
    DDAD_TRY(ddad_h5_set_attr_i64(f, "/", "n_train", p->n_train));
    DDAD_TRY(ddad_h5_set_attr_i64(f, "/", "grid_h", p->grid_h));
    DDAD_TRY(ddad_h5_set_attr_i64(f, "/", "grid_w", p->grid_w));
    DDAD_TRY(ddad_h5_set_attr_i64(f, "/", "image_h", p->image_h));
    DDAD_TRY(ddad_h5_set_attr_i64(f, "/", "image_w", p->image_w));
    DDAD_TRY(ddad_h5_write(f, "indices", DDAD_H5_I64, p->indices, &p->d, 1, 0));
    DDAD_TRY(write_rows_chunked(f, "mean", p->mean, L));
    DDAD_TRY(write_rows_chunked(f, "inv_cov", p->inv_cov, location_chunk(p->d, 4)));
    return ddad_h5_close(f);
fail:
    ddad_h5_close(f);
    return ddad_fail_context(st, "writing PaDiM model %s", path);
}

static ddad_status_t get_i64(ddad_h5_t *f, const char *attr, int64_t *v)
{
    return ddad_h5_get_attr_i64(f, "/", attr, v);
}

ddad_status_t ddad_padim_load_h5(ddad_padim_t *p, const char *path, ddad_device_t dev)
{
    padim_clear(p, dev);
    ddad_h5_t *f = NULL;
    ddad_status_t st = ddad_h5_open(&f, path, DDAD_H5_READ);
    if (st != DDAD_OK)
        return st;
    char *fmt = NULL, *src = NULL;
    int64_t *idx = NULL, version = 0, c_total = 0, seed = 0, brand = 0;
    float *buf = NULL;
    int64_t shape[DDAD_H5_MAX_DIMS];
    int nd = 0;
    ddad_tensor_t *mean = NULL, *inv = NULL;
    if (ddad_h5_get_attr_str(f, "/", "format", &fmt) != DDAD_OK || strcmp(fmt, DDAD_PADIM_FORMAT) != 0) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: not a PaDiM model (root attribute format is not '%s')", path,
                       DDAD_PADIM_FORMAT);
        goto fail;
    }
    DDAD_TRY(get_i64(f, "format_version", &version));
    if (version != DDAD_PADIM_FORMAT_VERSION) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: PaDiM format version %lld, this build reads version %d", path,
                       (long long)version, DDAD_PADIM_FORMAT_VERSION);
        goto fail;
    }
    DDAD_TRY(get_i64(f, "c_total", &c_total));
    DDAD_TRY(get_i64(f, "d", &p->d));
    DDAD_TRY(ddad_h5_get_attr_f64(f, "/", "eps", &p->eps));
    DDAD_TRY(get_i64(f, "seed", &seed));
    DDAD_TRY(get_i64(f, "n_train", &p->n_train));
    DDAD_TRY(get_i64(f, "grid_h", &p->grid_h));
    DDAD_TRY(get_i64(f, "grid_w", &p->grid_w));
    DDAD_TRY(get_i64(f, "image_h", &p->image_h));
    DDAD_TRY(get_i64(f, "image_w", &p->image_w));
    DDAD_TRY(get_i64(f, "backbone_random", &brand));
    DDAD_TRY(ddad_h5_get_attr_str(f, "/", "backbone_source", &src));
    snprintf(p->backbone_source, sizeof p->backbone_source, "%s", src);
    p->backbone_random = brand != 0;
    p->seed = (uint64_t)seed;
    if (c_total != DDAD_PADIM_CHANNELS || p->d < 1 || p->d > c_total || p->grid_h < 1 || p->grid_w < 1) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: inconsistent PaDiM attributes (c_total %lld, d %lld, grid %lldx%lld)",
                       path, (long long)c_total, (long long)p->d, (long long)p->grid_h, (long long)p->grid_w);
        goto fail;
    }
    int64_t L = p->grid_h * p->grid_w, d = p->d;
    DDAD_TRY(ddad_h5_read(f, "indices", DDAD_H5_I64, (void **)&idx, shape, &nd));
    if (nd != 1 || shape[0] != d) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: indices has %d dims / %lld entries, expected (%lld)", path, nd,
                       (long long)(nd ? shape[0] : 0), (long long)d);
        goto fail;
    }
    DDAD_TRY(set_indices(p, idx));
    /* mean (L, d) */
    int64_t ms[2] = {L, d};
    buf = malloc((size_t)(L * d) * sizeof *buf);
    if (!buf) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    DDAD_TRY(ddad_h5_read_into(f, "mean", DDAD_H5_F32, buf, ms, 2));
    {
        ddad_tensor_t *cpu = NULL;
        st = ddad_from_buffer(&cpu, buf, ms, 2, DDAD_DTYPE_F32);
        if (st == DDAD_OK)
            st = ddad_to_device(&mean, cpu, dev);
        ddad_tensor_free(cpu);
        if (st != DDAD_OK)
            goto fail;
    }
    free(buf);
    buf = NULL;
    /* inv_cov (L, d, d), chunk by chunk */
    DDAD_TRY(ddad_h5_shape(f, "inv_cov", shape, &nd));
    if (nd != 3 || shape[0] != L || shape[1] != d || shape[2] != d) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: inv_cov must be (%lld, %lld, %lld)", path, (long long)L, (long long)d,
                       (long long)d);
        goto fail;
    }
    int64_t s3[3] = {L, d, d};
    DDAD_TRY(ddad_zeros(&inv, s3, 3, DDAD_DTYPE_F32, dev));
    int64_t chunk = location_chunk(d, 4);
    buf = malloc((size_t)((chunk < L ? chunk : L) * d * d) * sizeof *buf);
    if (!buf) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (int64_t l0 = 0; l0 < L; l0 += chunk) {
        int64_t l1 = l0 + chunk < L ? l0 + chunk : L;
        int64_t cs[3] = {l1 - l0, d, d};
        ddad_tensor_t *cpu = NULL, *dst = NULL;
        st = ddad_h5_read_rows(f, "inv_cov", DDAD_H5_F32, buf, l0, l1 - l0);
        if (st == DDAD_OK)
            st = ddad_from_buffer(&cpu, buf, cs, 3, DDAD_DTYPE_F32);
        if (st == DDAD_OK)
            st = ddad_slice(&dst, inv, 0, l0, l1, 1);
        if (st == DDAD_OK)
            st = ddad_copy_(dst, cpu);
        ddad_tensor_free(cpu);
        ddad_tensor_free(dst);
        if (st != DDAD_OK)
            goto fail;
    }
    p->mean = ddad_tensor_persist(mean);
    p->inv_cov = ddad_tensor_persist(inv);
    free(buf);
    free(idx);
    free(fmt);
    free(src);
    return ddad_h5_close(f);
fail:
    free(buf);
    free(idx);
    free(fmt);
    free(src);
    ddad_tensor_free(mean);
    ddad_tensor_free(inv);
    ddad_h5_close(f);
    ddad_padim_free(p);
    return ddad_fail_context(st, "loading PaDiM model %s", path);
}
