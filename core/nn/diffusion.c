/* core/nn/diffusion.c - see diffusion.h. */
#include "diffusion.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- schedules -------------------------------------------------------------- */

ddad_status_t ddad_beta_schedule_make(double **betas, ddad_beta_schedule_t schedule, int64_t steps)
{
    if (steps < 2)
        return ddad_fail(DDAD_STATUS_USAGE, "beta schedule: %lld steps (at least 2 needed)", (long long)steps);
    double *b = malloc((size_t)steps * sizeof *b);
    if (!b)
        return ddad_fail(DDAD_STATUS_NOMEM, "beta schedule: out of memory for %lld steps", (long long)steps);
    if (schedule == DDAD_BETA_SCHEDULE_LINEAR) {
        /* np.linspace(start, end, steps): i * step + start, last = end */
        const double scale = 1000.0 / (double)steps;
        const double start = scale * 0.0001, end = scale * 0.02;
        const double step = (end - start) / (double)(steps - 1);
        for (int64_t i = 0; i < steps; i++) {
            double y = (double)i * step;
            b[i] = y + start;
        }
        b[steps - 1] = end;
    } else if (schedule == DDAD_BETA_SCHEDULE_COSINE) {
        for (int64_t i = 0; i < steps; i++) {
            double t1 = (double)i / (double)steps, t2 = (double)(i + 1) / (double)steps;
            double c1 = cos((t1 + 0.008) / 1.008 * M_PI / 2), c2 = cos((t2 + 0.008) / 1.008 * M_PI / 2);
            double v = 1 - (c2 * c2) / (c1 * c1);
            b[i] = v < 0.999 ? v : 0.999;
        }
    } else {
        free(b);
        return ddad_fail(DDAD_STATUS_USAGE, "beta schedule: unknown schedule %d (linear or cosine)", (int)schedule);
    }
    *betas = b;
    return DDAD_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

ddad_status_t ddad_space_timesteps(int64_t **kept, int64_t *n_kept, int64_t T, const char *spec)
{
    if (!spec || !*spec)
        return ddad_fail(DDAD_STATUS_USAGE, "timestep respacing: empty specification");
    int64_t *out = NULL;
    int64_t n = 0;
    if (strncmp(spec, "ddim", 4) == 0) {
        char *end;
        long long want = strtoll(spec + 4, &end, 10);
        if (*end || want <= 0)
            return ddad_fail(DDAD_STATUS_CONFIG, "timestep respacing \"%s\": expected ddimN with N > 0", spec);
        for (int64_t stride = 1; stride < T; stride++) {
            if ((T + stride - 1) / stride == want) {
                out = malloc((size_t)want * sizeof *out);
                if (!out)
                    return ddad_fail(DDAD_STATUS_NOMEM, "timestep respacing: out of memory");
                for (int64_t i = 0; i < want; i++)
                    out[i] = i * stride;
                *kept = out;
                *n_kept = want;
                return DDAD_OK;
            }
        }
        return ddad_fail(DDAD_STATUS_CONFIG, "timestep respacing \"%s\": no integer stride of %lld steps gives %lld",
                         spec, (long long)T, want);
    }
    /* comma-separated section counts */
    int64_t counts[64];
    int ns = 0;
    const char *p = spec;
    while (*p) {
        char *end;
        long long c = strtoll(p, &end, 10);
        if (end == p || c <= 0 || ns == 64 || (*end && *end != ','))
            return ddad_fail(DDAD_STATUS_CONFIG,
                             "timestep respacing \"%s\": expected positive counts separated by commas (or ddimN)",
                             spec);
        counts[ns++] = c;
        p = *end ? end + 1 : end;
    }
    int64_t total = 0;
    for (int i = 0; i < ns; i++)
        total += counts[i];
    out = malloc((size_t)total * sizeof *out);
    if (!out)
        return ddad_fail(DDAD_STATUS_NOMEM, "timestep respacing: out of memory");
    const int64_t size_per = T / ns, extra = T % ns;
    int64_t start = 0;
    for (int i = 0; i < ns; i++) {
        int64_t size = size_per + (i < extra ? 1 : 0);
        if (size < counts[i]) {
            free(out);
            return ddad_fail(DDAD_STATUS_CONFIG, "timestep respacing \"%s\": cannot take %lld steps from a section "
                             "of %lld", spec, (long long)counts[i], (long long)size);
        }
        double stride = counts[i] <= 1 ? 1.0 : (double)(size - 1) / (double)(counts[i] - 1);
        double cur = 0.0;
        for (int64_t k = 0; k < counts[i]; k++) {
            out[n++] = start + (int64_t)nearbyint(cur); /* Python's round: half to even */
            cur += stride;
        }
        start += size;
    }
    /* the reference returns a set: sort and drop duplicates */
    qsort(out, (size_t)n, sizeof *out, cmp_i64);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (m == 0 || out[m - 1] != out[i])
            out[m++] = out[i];
    *kept = out;
    *n_kept = m;
    return DDAD_OK;
}

void ddad_diffusion_free(ddad_diffusion_t *d)
{
    if (!d)
        return;
    double **arrs[] = {&d->betas, &d->log_betas, &d->alphas_cumprod, &d->alphas_cumprod_prev,
                       &d->alphas_cumprod_next, &d->sqrt_alphas_cumprod, &d->sqrt_one_minus_alphas_cumprod,
                       &d->log_one_minus_alphas_cumprod, &d->sqrt_recip_alphas_cumprod,
                       &d->sqrt_recipm1_alphas_cumprod, &d->posterior_variance, &d->posterior_log_variance_clipped,
                       &d->posterior_mean_coef1, &d->posterior_mean_coef2};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++)
        free(*arrs[i]);
    free(d->timestep_map);
    memset(d, 0, sizeof *d);
}

/* GaussianDiffusion.__init__: every derived array from the betas, float64. */
static ddad_status_t derive(ddad_diffusion_t *d, const double *betas, int64_t T)
{
    d->num_timesteps = T;
    double **arrs[] = {&d->betas, &d->log_betas, &d->alphas_cumprod, &d->alphas_cumprod_prev,
                       &d->alphas_cumprod_next, &d->sqrt_alphas_cumprod, &d->sqrt_one_minus_alphas_cumprod,
                       &d->log_one_minus_alphas_cumprod, &d->sqrt_recip_alphas_cumprod,
                       &d->sqrt_recipm1_alphas_cumprod, &d->posterior_variance, &d->posterior_log_variance_clipped,
                       &d->posterior_mean_coef1, &d->posterior_mean_coef2};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++)
        if (!(*arrs[i] = malloc((size_t)T * sizeof(double))))
            return ddad_fail(DDAD_STATUS_NOMEM, "diffusion: out of memory for %lld steps", (long long)T);
    for (int64_t i = 0; i < T; i++) {
        if (!(betas[i] > 0 && betas[i] <= 1))
            return ddad_fail(DDAD_STATUS_USAGE, "diffusion: beta[%lld] = %g outside (0, 1]", (long long)i, betas[i]);
        d->betas[i] = betas[i];
        d->log_betas[i] = log(betas[i]);
    }
    double acc = 1.0;
    for (int64_t i = 0; i < T; i++) {
        acc *= 1.0 - d->betas[i];
        d->alphas_cumprod[i] = acc;
    }
    for (int64_t i = 0; i < T; i++) {
        const double ac = d->alphas_cumprod[i];
        const double prev = i ? d->alphas_cumprod[i - 1] : 1.0;
        d->alphas_cumprod_prev[i] = prev;
        d->alphas_cumprod_next[i] = i + 1 < T ? d->alphas_cumprod[i + 1] : 0.0;
        d->sqrt_alphas_cumprod[i] = sqrt(ac);
        d->sqrt_one_minus_alphas_cumprod[i] = sqrt(1.0 - ac);
        d->log_one_minus_alphas_cumprod[i] = log(1.0 - ac);
        d->sqrt_recip_alphas_cumprod[i] = sqrt(1.0 / ac);
        d->sqrt_recipm1_alphas_cumprod[i] = sqrt(1.0 / ac - 1);
        d->posterior_variance[i] = d->betas[i] * (1.0 - prev) / (1.0 - ac);
        d->posterior_mean_coef1[i] = d->betas[i] * sqrt(prev) / (1.0 - ac);
        d->posterior_mean_coef2[i] = (1.0 - prev) * sqrt(1.0 - d->betas[i]) / (1.0 - ac);
    }
    for (int64_t i = 0; i < T; i++)
        d->posterior_log_variance_clipped[i] = log(i ? d->posterior_variance[i] : d->posterior_variance[1]);
    return DDAD_OK;
}

ddad_status_t ddad_diffusion_init_betas(ddad_diffusion_t *d, const double *betas, int64_t n)
{
    memset(d, 0, sizeof *d);
    if (n < 2)
        return ddad_fail(DDAD_STATUS_USAGE, "diffusion: %lld betas (at least 2 needed)", (long long)n);
    ddad_status_t st = derive(d, betas, n);
    if (st == DDAD_OK && !(d->timestep_map = malloc((size_t)n * sizeof(int64_t))))
        st = ddad_fail(DDAD_STATUS_NOMEM, "diffusion: out of memory");
    if (st != DDAD_OK) {
        ddad_diffusion_free(d);
        return st;
    }
    for (int64_t i = 0; i < n; i++)
        d->timestep_map[i] = i;
    d->base_timesteps = n;
    return DDAD_OK;
}

ddad_status_t ddad_diffusion_init(ddad_diffusion_t *d, ddad_beta_schedule_t schedule, int64_t steps,
                                  const char *respacing)
{
    memset(d, 0, sizeof *d);
    double *base = NULL, *nb = NULL;
    int64_t *kept = NULL, nk = 0;
    ddad_status_t st = ddad_beta_schedule_make(&base, schedule, steps);
    if (st != DDAD_OK)
        return st;
    if (respacing && *respacing) {
        st = ddad_space_timesteps(&kept, &nk, steps, respacing);
        if (st != DDAD_OK) {
            free(base);
            return st;
        }
    } else {
        nk = steps;
        kept = malloc((size_t)steps * sizeof *kept);
        if (kept)
            for (int64_t i = 0; i < steps; i++)
                kept[i] = i;
    }
    nb = malloc((size_t)(nk ? nk : 1) * sizeof *nb);
    if (!kept || !nb) {
        free(base);
        free(kept);
        free(nb);
        return ddad_fail(DDAD_STATUS_NOMEM, "diffusion: out of memory");
    }
    /* SpacedDiffusion: alpha_bar of the base process, new betas from the kept ones */
    double acc = 1.0, last = 1.0;
    int64_t j = 0;
    for (int64_t i = 0; i < steps && j < nk; i++) {
        acc *= 1.0 - base[i];
        if (kept[j] == i) {
            nb[j++] = 1 - acc / last;
            last = acc;
        }
    }
    free(base);
    st = derive(d, nb, nk);
    free(nb);
    if (st != DDAD_OK) {
        free(kept);
        ddad_diffusion_free(d);
        return st;
    }
    d->timestep_map = kept;
    d->base_timesteps = steps;
    return DDAD_OK;
}

/* ---- coefficient lookup ------------------------------------------------------ */

static ddad_status_t host_timesteps(int64_t **out, int64_t *n, const ddad_diffusion_t *d, const ddad_tensor_t *t)
{
    if (ddad_tensor_dim(t) != 1)
        return ddad_fail(DDAD_STATUS_SHAPE, "diffusion: timesteps must be a 1-D tensor (N), got %d dims",
                         ddad_tensor_dim(t));
    const int64_t N = ddad_tensor_size(t, 0);
    int64_t *h = malloc((size_t)(N ? N : 1) * sizeof *h);
    if (!h)
        return ddad_fail(DDAD_STATUS_NOMEM, "diffusion: out of memory");
    ddad_status_t st = ddad_to_buffer(t, h, (size_t)N * sizeof *h, DDAD_DTYPE_I64);
    if (st != DDAD_OK) {
        free(h);
        return st;
    }
    for (int64_t i = 0; i < N; i++)
        if (h[i] < 0 || h[i] >= d->num_timesteps) {
            long long bad = h[i];
            free(h);
            return ddad_fail(DDAD_STATUS_USAGE, "diffusion: timestep %lld at position %lld is outside 0..%lld", bad,
                             (long long)i, (long long)d->num_timesteps - 1);
        }
    *out = h;
    *n = N;
    return DDAD_OK;
}

ddad_status_t ddad_diffusion_extract(ddad_tensor_t **out, const ddad_diffusion_t *d, const double *arr,
                                     const ddad_tensor_t *t, int ndim, ddad_device_t dev)
{
    if (ndim < 1 || ndim > DDAD_MAX_DIMS)
        return ddad_fail(DDAD_STATUS_USAGE, "diffusion: extract to %d dims", ndim);
    int64_t *h, N;
    ddad_status_t st = host_timesteps(&h, &N, d, t);
    if (st != DDAD_OK)
        return st;
    float *v = malloc((size_t)(N ? N : 1) * sizeof *v);
    if (!v) {
        free(h);
        return ddad_fail(DDAD_STATUS_NOMEM, "diffusion: out of memory");
    }
    for (int64_t i = 0; i < N; i++)
        v[i] = (float)arr[h[i]]; /* looked up in float64, then cast */
    free(h);
    int64_t shape[DDAD_MAX_DIMS];
    shape[0] = N;
    for (int i = 1; i < ndim; i++)
        shape[i] = 1;
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *c;
    DDAD_TRY(ddad_from_buffer(&c, v, shape, ndim, DDAD_DTYPE_F32));
    if (dev.type != DDAD_DEVICE_TYPE_CPU)
        DDAD_TRY(ddad_to_device(&c, c, dev));
    *out = ddad_tensor_keep(c);
fail:
    ddad_scope_end(mark);
    free(v);
    return st;
}

ddad_status_t ddad_diffusion_map_timesteps(const ddad_diffusion_t *d, const ddad_tensor_t *t, ddad_tensor_t **out)
{
    int64_t *h, N;
    ddad_status_t st = host_timesteps(&h, &N, d, t);
    if (st != DDAD_OK)
        return st;
    for (int64_t i = 0; i < N; i++)
        h[i] = d->timestep_map[h[i]];
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *c;
    ddad_device_t dev = ddad_tensor_device(t);
    DDAD_TRY(ddad_from_buffer(&c, h, &N, 1, DDAD_DTYPE_I64));
    if (dev.type != DDAD_DEVICE_TYPE_CPU)
        DDAD_TRY(ddad_to_device(&c, c, dev));
    *out = ddad_tensor_keep(c);
fail:
    ddad_scope_end(mark);
    free(h);
    return st;
}

/* arr[t] shaped to broadcast against x, in the caller's scope. */
static ddad_status_t coef(ddad_tensor_t **out, const ddad_diffusion_t *d, const double *arr, const ddad_tensor_t *t,
                          const ddad_tensor_t *x)
{
    return ddad_diffusion_extract(out, d, arr, t, ddad_tensor_dim(x), ddad_tensor_device(x));
}

static ddad_status_t check_batch(const char *what, const ddad_tensor_t *x, const ddad_tensor_t *t)
{
    if (ddad_tensor_dim(x) < 1 || ddad_tensor_dim(t) != 1 || ddad_tensor_size(t, 0) != ddad_tensor_size(x, 0)) {
        char a[96], b[96];
        ddad_tensor_describe(x, a, sizeof a);
        ddad_tensor_describe(t, b, sizeof b);
        return ddad_fail(DDAD_STATUS_SHAPE, "%s: batch of %s does not match timesteps %s", what, a, b);
    }
    return DDAD_OK;
}

/* ---- the process ---------------------------------------------------------------- */

ddad_status_t ddad_diffusion_q_sample(const ddad_diffusion_t *d, const ddad_tensor_t *x0, const ddad_tensor_t *t,
                                      const ddad_tensor_t *noise, ddad_tensor_t **x_t)
{
    ddad_status_t st = check_batch("q_sample", x0, t);
    if (st != DDAD_OK)
        return st;
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *a, *b, *ax, *bn, *y;
    DDAD_TRY(coef(&a, d, d->sqrt_alphas_cumprod, t, x0));
    DDAD_TRY(coef(&b, d, d->sqrt_one_minus_alphas_cumprod, t, x0));
    DDAD_TRY(ddad_mul(&ax, a, x0));
    DDAD_TRY(ddad_mul(&bn, b, noise));
    DDAD_TRY(ddad_add(&y, ax, bn));
    *x_t = ddad_tensor_keep(y);
fail:
    ddad_scope_end(mark);
    return st;
}

ddad_status_t ddad_diffusion_q_posterior(const ddad_diffusion_t *d, const ddad_tensor_t *x0, const ddad_tensor_t *x_t,
                                         const ddad_tensor_t *t, ddad_tensor_t **mean, ddad_tensor_t **log_var)
{
    ddad_status_t st = check_batch("q_posterior", x_t, t);
    if (st != DDAD_OK)
        return st;
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *c1, *c2, *a, *b, *m = NULL, *lv = NULL;
    if (mean) {
        DDAD_TRY(coef(&c1, d, d->posterior_mean_coef1, t, x_t));
        DDAD_TRY(coef(&c2, d, d->posterior_mean_coef2, t, x_t));
        DDAD_TRY(ddad_mul(&a, c1, x0));
        DDAD_TRY(ddad_mul(&b, c2, x_t));
        DDAD_TRY(ddad_add(&m, a, b));
    }
    if (log_var)
        DDAD_TRY(coef(&lv, d, d->posterior_log_variance_clipped, t, x_t));
    if (mean)
        *mean = ddad_tensor_keep(m);
    if (log_var)
        *log_var = ddad_tensor_keep(lv);
fail:
    ddad_scope_end(mark);
    return st;
}

ddad_status_t ddad_diffusion_p_mean_variance(const ddad_diffusion_t *d, const ddad_tensor_t *model_output,
                                             const ddad_tensor_t *x_t, const ddad_tensor_t *t, bool clip,
                                             ddad_tensor_t **mean, ddad_tensor_t **log_var,
                                             ddad_tensor_t **pred_xstart)
{
    ddad_status_t st = check_batch("p_mean_variance", x_t, t);
    if (st != DDAD_OK)
        return st;
    const int64_t C = ddad_tensor_size(x_t, 1);
    if (ddad_tensor_dim(model_output) != ddad_tensor_dim(x_t) || ddad_tensor_size(model_output, 1) != 2 * C) {
        char a[96], b[96];
        ddad_tensor_describe(model_output, a, sizeof a);
        ddad_tensor_describe(x_t, b, sizeof b);
        return ddad_fail(DDAD_STATUS_SHAPE,
                         "p_mean_variance: model output %s must have twice the channels of x_t %s (eps | v)", a, b);
    }
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *eps, *v, *minl, *maxl, *frac, *omf, *a, *b, *lv = NULL, *r1, *r2, *px = NULL, *m = NULL;
    DDAD_TRY(ddad_slice(&eps, model_output, 1, 0, C, 1));
    DDAD_TRY(ddad_slice(&v, model_output, 1, C, 2 * C, 1));
    if (log_var) {
        DDAD_TRY(coef(&minl, d, d->posterior_log_variance_clipped, t, x_t));
        DDAD_TRY(coef(&maxl, d, d->log_betas, t, x_t));
        DDAD_TRY(ddad_add_scalar(&frac, v, 1.0));
        DDAD_TRY(ddad_mul_scalar(&frac, frac, 0.5));
        DDAD_TRY(ddad_rsub_scalar(&omf, frac, 1.0));
        DDAD_TRY(ddad_mul(&a, frac, maxl));
        DDAD_TRY(ddad_mul(&b, omf, minl));
        DDAD_TRY(ddad_add(&lv, a, b));
    }
    if (pred_xstart || mean) {
        DDAD_TRY(coef(&r1, d, d->sqrt_recip_alphas_cumprod, t, x_t));
        DDAD_TRY(coef(&r2, d, d->sqrt_recipm1_alphas_cumprod, t, x_t));
        DDAD_TRY(ddad_mul(&a, r1, x_t));
        DDAD_TRY(ddad_mul(&b, r2, eps));
        DDAD_TRY(ddad_sub(&px, a, b));
        if (clip)
            DDAD_TRY(ddad_clamp(&px, px, -1.0, 1.0));
    }
    if (mean)
        DDAD_TRY(ddad_diffusion_q_posterior(d, px, x_t, t, &m, NULL));
    if (mean)
        *mean = ddad_tensor_keep(m);
    if (log_var)
        *log_var = ddad_tensor_keep(lv);
    if (pred_xstart)
        *pred_xstart = ddad_tensor_keep(px);
fail:
    ddad_scope_end(mark);
    return st;
}

ddad_status_t ddad_normal_kl(ddad_tensor_t **out, const ddad_tensor_t *m1, const ddad_tensor_t *lv1,
                             const ddad_tensor_t *m2, const ddad_tensor_t *lv2)
{
    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *a, *e, *dm, *en, *q, *y;
    /* 0.5 * (-1 + lv2 - lv1 + exp(lv1 - lv2) + (m1 - m2)^2 * exp(-lv2)) */
    DDAD_TRY(ddad_add_scalar(&a, lv2, -1.0));
    DDAD_TRY(ddad_sub(&a, a, lv1));
    DDAD_TRY(ddad_sub(&e, lv1, lv2));
    DDAD_TRY(ddad_exp(&e, e));
    DDAD_TRY(ddad_add(&a, a, e));
    DDAD_TRY(ddad_sub(&dm, m1, m2));
    DDAD_TRY(ddad_unary(&dm, dm, DDAD_UNARY_SQUARE));
    DDAD_TRY(ddad_unary(&en, lv2, DDAD_UNARY_NEG));
    DDAD_TRY(ddad_exp(&en, en));
    DDAD_TRY(ddad_mul(&q, dm, en));
    DDAD_TRY(ddad_add(&a, a, q));
    DDAD_TRY(ddad_mul_scalar(&y, a, 0.5));
    *out = ddad_tensor_keep(y);
fail:
    ddad_scope_end(mark);
    return st;
}

/* 0.5 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) */
static ddad_status_t approx_cdf(ddad_tensor_t **out, const ddad_tensor_t *x)
{
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *c, *s;
    DDAD_TRY(ddad_pow_scalar(&c, x, 3.0));
    DDAD_TRY(ddad_mul_scalar(&c, c, 0.044715));
    DDAD_TRY(ddad_add(&s, x, c));
    DDAD_TRY(ddad_mul_scalar(&s, s, sqrt(2.0 / M_PI)));
    DDAD_TRY(ddad_unary(&s, s, DDAD_UNARY_TANH));
    DDAD_TRY(ddad_add_scalar(&s, s, 1.0));
    DDAD_TRY(ddad_mul_scalar(out, s, 0.5));
fail:
    return st;
}

ddad_status_t ddad_discretized_gaussian_nll(ddad_tensor_t **out, const ddad_tensor_t *x, const ddad_tensor_t *means,
                                            const ddad_tensor_t *log_scales)
{
    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *cx, *inv, *pin, *min, *cp, *cm, *lcp, *lom, *cd, *ld, *lo, *hi, *lp, *y;
    DDAD_TRY(ddad_sub(&cx, x, means));
    DDAD_TRY(ddad_unary(&inv, log_scales, DDAD_UNARY_NEG));
    DDAD_TRY(ddad_exp(&inv, inv));
    DDAD_TRY(ddad_add_scalar(&pin, cx, 1.0 / 255.0));
    DDAD_TRY(ddad_mul(&pin, inv, pin));
    DDAD_TRY(approx_cdf(&cp, pin));
    DDAD_TRY(ddad_add_scalar(&min, cx, -1.0 / 255.0));
    DDAD_TRY(ddad_mul(&min, inv, min));
    DDAD_TRY(approx_cdf(&cm, min));
    DDAD_TRY(ddad_clamp_min(&lcp, cp, 1e-12));
    DDAD_TRY(ddad_tensor_log(&lcp, lcp));
    DDAD_TRY(ddad_rsub_scalar(&lom, cm, 1.0));
    DDAD_TRY(ddad_clamp_min(&lom, lom, 1e-12));
    DDAD_TRY(ddad_tensor_log(&lom, lom));
    DDAD_TRY(ddad_sub(&cd, cp, cm));
    DDAD_TRY(ddad_clamp_min(&ld, cd, 1e-12));
    DDAD_TRY(ddad_tensor_log(&ld, ld));
    DDAD_TRY(ddad_compare_scalar(&lo, x, DDAD_CMP_LT, -0.999));
    DDAD_TRY(ddad_compare_scalar(&hi, x, DDAD_CMP_GT, 0.999));
    DDAD_TRY(ddad_where(&lp, hi, lom, ld));
    DDAD_TRY(ddad_where(&lp, lo, lcp, lp));
    DDAD_TRY(ddad_unary(&y, lp, DDAD_UNARY_NEG));
    *out = ddad_tensor_keep(y);
fail:
    ddad_scope_end(mark);
    return st;
}

void ddad_vb_terms_free(ddad_vb_terms_t *v)
{
    if (!v)
        return;
    ddad_tensor_t **ts[] = {&v->posterior_mean, &v->posterior_log_var, &v->model_mean, &v->model_log_var,
                            &v->pred_xstart, &v->kl_bits, &v->decoder_nll_bits, &v->nll_bits, &v->output};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        ddad_tensor_free(*ts[i]);
        *ts[i] = NULL;
    }
}

/* Moves every member to the enclosing scope (or to the caller). */
static void keep_vb(ddad_vb_terms_t *v)
{
    ddad_tensor_t **ts[] = {&v->posterior_mean, &v->posterior_log_var, &v->model_mean, &v->model_log_var,
                            &v->pred_xstart, &v->kl_bits, &v->decoder_nll_bits, &v->nll_bits, &v->output};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        ddad_tensor_keep(*ts[i]);
}

static ddad_status_t mean_flat(ddad_tensor_t **out, const ddad_tensor_t *x)
{
    int64_t dims[DDAD_MAX_DIMS];
    int nd = ddad_tensor_dim(x);
    for (int i = 1; i < nd; i++)
        dims[i - 1] = i;
    return ddad_mean_dims(out, x, dims, nd - 1, false);
}

ddad_status_t ddad_diffusion_vb_terms(const ddad_diffusion_t *d, const ddad_tensor_t *x0, const ddad_tensor_t *x_t,
                                      const ddad_tensor_t *t, const ddad_tensor_t *model_output, bool clip,
                                      ddad_vb_terms_t *out)
{
    memset(out, 0, sizeof *out);
    ddad_vb_terms_t v;
    memset(&v, 0, sizeof v);
    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    const double ln2 = log(2.0);
    ddad_tensor_t *kl, *ls, *dn, *klm, *dnm, *t0, *tb;
    DDAD_TRY(ddad_diffusion_q_posterior(d, x0, x_t, t, &v.posterior_mean, &v.posterior_log_var));
    DDAD_TRY(ddad_diffusion_p_mean_variance(d, model_output, x_t, t, clip, &v.model_mean, &v.model_log_var,
                                            &v.pred_xstart));
    DDAD_TRY(ddad_normal_kl(&kl, v.posterior_mean, v.posterior_log_var, v.model_mean, v.model_log_var));
    DDAD_TRY(ddad_mul_scalar(&ls, v.model_log_var, 0.5));
    DDAD_TRY(ddad_discretized_gaussian_nll(&dn, x0, v.model_mean, ls));
    DDAD_TRY(ddad_mul_scalar(&v.kl_bits, kl, 1.0 / ln2));
    DDAD_TRY(ddad_mul_scalar(&v.decoder_nll_bits, dn, 1.0 / ln2));
    /* per-sample choice: decoder NLL at t == 0, KL otherwise */
    DDAD_TRY(ddad_compare_scalar(&t0, t, DDAD_CMP_EQ, 0.0));
    {
        int64_t shape[DDAD_MAX_DIMS];
        int nd = ddad_tensor_dim(x0);
        shape[0] = ddad_tensor_size(t, 0);
        for (int i = 1; i < nd; i++)
            shape[i] = 1;
        DDAD_TRY(ddad_reshape(&tb, t0, shape, nd));
        DDAD_TRY(ddad_where(&v.nll_bits, tb, v.decoder_nll_bits, v.kl_bits));
    }
    DDAD_TRY(mean_flat(&klm, kl));
    DDAD_TRY(ddad_mul_scalar(&klm, klm, 1.0 / ln2));
    DDAD_TRY(mean_flat(&dnm, dn));
    DDAD_TRY(ddad_mul_scalar(&dnm, dnm, 1.0 / ln2));
    DDAD_TRY(ddad_where(&v.output, t0, dnm, klm));
    keep_vb(&v);
    *out = v;
fail:
    ddad_scope_end(mark); /* on failure this frees whatever v holds */
    return st;
}

/* ---- training loss ------------------------------------------------------------- */

void ddad_diffusion_losses_free(ddad_diffusion_losses_t *l)
{
    if (!l)
        return;
    ddad_tensor_free(l->mse);
    ddad_tensor_free(l->vb);
    ddad_tensor_free(l->feat_mse);
    ddad_tensor_free(l->loss);
    memset(l, 0, sizeof *l);
}

ddad_status_t ddad_diffusion_training_losses(const ddad_diffusion_t *d, const ddad_tensor_t *model_output,
                                             const ddad_tensor_t *x0, const ddad_tensor_t *x_t,
                                             const ddad_tensor_t *t, const ddad_tensor_t *noise,
                                             const ddad_tensor_t *feats_rec, const ddad_tensor_t *feat_target,
                                             ddad_diffusion_losses_t *out)
{
    memset(out, 0, sizeof *out);
    if ((feats_rec == NULL) != (feat_target == NULL))
        return ddad_fail(DDAD_STATUS_USAGE, "training losses: give both feats_rec and feat_target, or neither");
    const int64_t C = ddad_tensor_size(x_t, 1);
    if (ddad_tensor_dim(model_output) != 4 || ddad_tensor_size(model_output, 1) != 2 * C)
        return ddad_fail(DDAD_STATUS_SHAPE, "training losses: model output must be (N, %lld, H, W) (eps | v)",
                         (long long)(2 * C));
    ddad_diffusion_losses_t L;
    memset(&L, 0, sizeof L);
    ddad_vb_terms_t vb;
    memset(&vb, 0, sizeof vb);
    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *eps, *v, *eps_d, *frozen, *dif, *mse, *loss, *fd, *fm;
    DDAD_TRY(ddad_slice(&eps, model_output, 1, 0, C, 1));
    DDAD_TRY(ddad_slice(&v, model_output, 1, C, 2 * C, 1));
    DDAD_TRY(ddad_detach(&eps_d, eps));
    const ddad_tensor_t *parts[2] = {eps_d, v};
    DDAD_TRY(ddad_cat(&frozen, parts, 2, 1));
    DDAD_TRY(ddad_diffusion_vb_terms(d, x0, x_t, t, frozen, false, &vb));
    DDAD_TRY(ddad_sub(&dif, noise, eps));
    DDAD_TRY(ddad_unary(&dif, dif, DDAD_UNARY_SQUARE));
    DDAD_TRY(mean_flat(&mse, dif));
    DDAD_TRY(ddad_add(&loss, mse, vb.output));
    if (feats_rec) {
        DDAD_TRY(ddad_sub(&fd, feat_target, feats_rec));
        DDAD_TRY(ddad_unary(&fd, fd, DDAD_UNARY_SQUARE));
        DDAD_TRY(ddad_mean(&fm, fd));
        DDAD_TRY(ddad_add(&loss, loss, fm));
        L.feat_mse = ddad_tensor_keep(fm);
    }
    L.mse = ddad_tensor_keep(mse);
    L.vb = ddad_tensor_keep(vb.output);
    L.loss = ddad_tensor_keep(loss);
    *out = L;
fail:
    ddad_scope_end(mark); /* frees the other VB terms, and everything on failure */
    return st;
}

/* ---- anomaly maps --------------------------------------------------------------- */

void ddad_anomaly_options_default(ddad_anomaly_options_t *opt)
{
    opt->clip_denoised = true;
    opt->feature_quirk = false;
}

void ddad_anomaly_step_free(ddad_anomaly_step_t *s)
{
    if (!s)
        return;
    ddad_tensor_free(s->x_t);
    ddad_tensor_free(s->model_output);
    ddad_vb_terms_free(&s->vb);
    ddad_tensor_free(s->nll_std);
    ddad_tensor_free(s->feats_rec);
    ddad_tensor_free(s->feat_diff);
    ddad_tensor_free(s->feat_diff_up);
    memset(s, 0, sizeof *s);
}

ddad_status_t ddad_anomaly_standardize(ddad_tensor_t **out, const ddad_tensor_t *map)
{
    int64_t dims[DDAD_MAX_DIMS];
    int nd = ddad_tensor_dim(map);
    if (nd < 2)
        return ddad_fail(DDAD_STATUS_SHAPE, "anomaly standardize: map must be (N, ...), got %d dims", nd);
    for (int i = 1; i < nd; i++)
        dims[i - 1] = i;
    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *m, *s, *c, *y;
    DDAD_TRY(ddad_mean_dims(&m, map, dims, nd - 1, true));
    DDAD_TRY(ddad_std_dims(&s, map, dims, nd - 1, true, true));
    DDAD_TRY(ddad_sub(&c, map, m));
    DDAD_TRY(ddad_div(&y, c, s));
    *out = ddad_tensor_keep(y);
fail:
    ddad_scope_end(mark);
    return st;
}

ddad_status_t ddad_anomaly_step(const ddad_diffusion_t *d, const ddad_unet_t *u, const ddad_tensor_t *x0,
                                const ddad_tensor_t *y, int64_t t, const ddad_tensor_t *noise,
                                const ddad_tensor_t *feat_target, const ddad_anomaly_options_t *opt,
                                ddad_anomaly_step_t *out)
{
    memset(out, 0, sizeof *out);
    ddad_anomaly_options_t defaults;
    ddad_anomaly_options_default(&defaults);
    if (!opt)
        opt = &defaults;
    if (t < 0 || t >= d->num_timesteps)
        return ddad_fail(DDAD_STATUS_USAGE, "anomaly step: t %lld outside 0..%lld", (long long)t,
                         (long long)d->num_timesteps - 1);
    if (ddad_tensor_dim(x0) != 4)
        return ddad_fail(DDAD_STATUS_SHAPE, "anomaly step: x0 must be (N, C, H, W)");
    const int64_t N = ddad_tensor_size(x0, 0), H = ddad_tensor_size(x0, 2), W = ddad_tensor_size(x0, 3);
    int64_t fs = 0;
    if (feat_target) {
        if (ddad_tensor_dim(feat_target) != 4 || ddad_tensor_size(feat_target, 0) != N ||
            ddad_tensor_size(feat_target, 2) != ddad_tensor_size(feat_target, 3))
            return ddad_fail(DDAD_STATUS_SHAPE, "anomaly step: feat_target must be (N, F, s, s) with N = %lld",
                             (long long)N);
        fs = ddad_tensor_size(feat_target, 2);
    }
    ddad_anomaly_step_t s;
    memset(&s, 0, sizeof s);
    s.t = t;
    s.t_unet = d->timestep_map[t];
    s.t_unet_feat = opt->feature_quirk ? t : s.t_unet;
    bool grad_was = ddad_grad_set_enabled(false);
    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *tt, *tn, *tf, *fd, *up;
    ddad_device_t dev = ddad_tensor_device(x0);
    int64_t n1 = N;
    DDAD_TRY(ddad_full(&tt, &n1, 1, (double)t, DDAD_DTYPE_I64, dev));
    DDAD_TRY(ddad_full(&tn, &n1, 1, (double)s.t_unet, DDAD_DTYPE_I64, dev));
    DDAD_TRY(ddad_diffusion_q_sample(d, x0, tt, noise, &s.x_t));
    if (fs > 0 && s.t_unet_feat != s.t_unet) {
        DDAD_TRY(ddad_unet_forward(u, s.x_t, tn, y, 0, &s.model_output, NULL));
        DDAD_TRY(ddad_full(&tf, &n1, 1, (double)s.t_unet_feat, DDAD_DTYPE_I64, dev));
        DDAD_TRY(ddad_unet_forward_ex(u, s.x_t, tf, y, fs, NULL, &s.feats_rec, NULL, NULL));
    } else {
        DDAD_TRY(ddad_unet_forward(u, s.x_t, tn, y, fs, &s.model_output, fs > 0 ? &s.feats_rec : NULL));
    }
    DDAD_TRY(ddad_diffusion_vb_terms(d, x0, s.x_t, tt, s.model_output, opt->clip_denoised, &s.vb));
    DDAD_TRY(ddad_anomaly_standardize(&s.nll_std, s.vb.nll_bits));
    if (fs > 0) {
        int64_t one = 1;
        DDAD_TRY(ddad_sub(&fd, s.feats_rec, feat_target));
        DDAD_TRY(ddad_unary(&fd, fd, DDAD_UNARY_SQUARE));
        DDAD_TRY(ddad_mean_dims(&fd, fd, &one, 1, true));
        DDAD_TRY(ddad_interpolate(&up, fd, H, W, DDAD_INTERP_BILINEAR, false));
        s.feat_diff = ddad_tensor_keep(fd);
        s.feat_diff_up = ddad_tensor_keep(up);
    }
    ddad_tensor_keep(s.x_t);
    ddad_tensor_keep(s.model_output);
    keep_vb(&s.vb);
    ddad_tensor_keep(s.nll_std);
    ddad_tensor_keep(s.feats_rec);
    *out = s;
fail:
    ddad_scope_end(mark); /* on failure this frees whatever s holds */
    ddad_grad_set_enabled(grad_was);
    return st;
}

ddad_status_t ddad_anomaly_combine(const ddad_tensor_t *const *nll_std, const ddad_tensor_t *const *feat_up,
                                   size_t n_t, double w_pixel, double w_feat, ddad_tensor_t **diff_mask,
                                   ddad_tensor_t **feat_mask, ddad_tensor_t **pred_mask)
{
    if (n_t == 0 || !nll_std)
        return ddad_fail(DDAD_STATUS_USAGE, "anomaly combine: no timesteps given");
    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *acc = (ddad_tensor_t *)nll_std[0], *dm, *fm = NULL, *pm, *a, *b;
    int64_t one = 1;
    for (size_t i = 1; i < n_t; i++)
        DDAD_TRY(ddad_add(&acc, acc, nll_std[i]));
    {
        ddad_tensor_t *nt;
        DDAD_TRY(ddad_scalar_tensor(&nt, (double)n_t, ddad_tensor_dtype(acc), ddad_tensor_device(acc)));
        DDAD_TRY(ddad_div(&acc, acc, nt));
    }
    DDAD_TRY(ddad_mean_dims(&dm, acc, &one, 1, true));
    if (feat_up) {
        ddad_tensor_t *f = (ddad_tensor_t *)feat_up[0], *nt;
        for (size_t i = 1; i < n_t; i++)
            DDAD_TRY(ddad_add(&f, f, feat_up[i]));
        DDAD_TRY(ddad_scalar_tensor(&nt, (double)n_t, ddad_tensor_dtype(f), ddad_tensor_device(f)));
        DDAD_TRY(ddad_div(&fm, f, nt));
    }
    DDAD_TRY(ddad_mul_scalar(&a, dm, w_pixel));
    if (fm) {
        DDAD_TRY(ddad_mul_scalar(&b, fm, w_feat));
        DDAD_TRY(ddad_add(&pm, b, a));
    } else {
        pm = a;
    }
    if (diff_mask)
        *diff_mask = ddad_tensor_keep(dm);
    if (feat_mask)
        *feat_mask = fm ? ddad_tensor_keep(fm) : NULL;
    if (pred_mask)
        *pred_mask = ddad_tensor_keep(pm);
fail:
    ddad_scope_end(mark);
    return st;
}

ddad_status_t ddad_anomaly_image_score(ddad_tensor_t **score, const ddad_tensor_t *map, int64_t k)
{
    if (ddad_tensor_dim(map) < 1 || k < 1)
        return ddad_fail(DDAD_STATUS_USAGE, "anomaly score: need a (N, ...) map and k >= 1 (k = %lld)", (long long)k);
    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *f, *v, *m;
    DDAD_TRY(ddad_flatten(&f, map, 1, -1));
    int64_t n = ddad_tensor_size(f, 1);
    DDAD_TRY(ddad_topk(&v, NULL, f, k < n ? k : n, 1, true));
    int64_t one = 1;
    DDAD_TRY(ddad_mean_dims(&m, v, &one, 1, false));
    *score = ddad_tensor_keep(m);
fail:
    ddad_scope_end(mark);
    return st;
}
