/* core/nn/recon.c - gradient denoising (see recon.h). */
#include "recon.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "h5io.h"
#include "image.h"

/* ---- PaDiM preparation -------------------------------------------------- */

void ddad_recon_padim_free(ddad_recon_padim_t *rp)
{
    if (!rp)
        return;
    ddad_padim_free(&rp->padim);
    ddad_wrn_free(&rp->wrn);
    memset(rp, 0, sizeof *rp);
}

/* True when the stored fit at path was made with these settings. *why says
 * what differs otherwise. Reads attributes only. */
static bool padim_file_matches(const char *path, const ddad_config_t *cfg, const ddad_wrn_t *wrn, size_t n_train,
                               char *why, size_t cap)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        snprintf(why, cap, "no stored fit");
        return false;
    }
    ddad_h5_t *f = NULL;
    if (ddad_h5_open(&f, path, DDAD_H5_READ) != DDAD_OK) {
        snprintf(why, cap, "unreadable (%s)", ddad_last_error());
        return false;
    }
    bool ok = false;
    int64_t d = 0, seed = 0, n = 0, ih = 0, iw = 0;
    double eps = 0;
    char *src = NULL, *fmt = NULL;
    if (ddad_h5_get_attr_str(f, "/", "format", &fmt) || strcmp(fmt, DDAD_PADIM_FORMAT) ||
        ddad_h5_get_attr_i64(f, "/", "d", &d) || ddad_h5_get_attr_i64(f, "/", "seed", &seed) ||
        ddad_h5_get_attr_i64(f, "/", "n_train", &n) || ddad_h5_get_attr_i64(f, "/", "image_h", &ih) ||
        ddad_h5_get_attr_i64(f, "/", "image_w", &iw) || ddad_h5_get_attr_f64(f, "/", "eps", &eps) ||
        ddad_h5_get_attr_str(f, "/", "backbone_source", &src)) {
        snprintf(why, cap, "not a complete PaDiM file");
    } else if (d != cfg->recon.padim_channels) {
        snprintf(why, cap, "%lld channels stored, recon.padim_channels is %d", (long long)d, cfg->recon.padim_channels);
    } else if (fabs(eps - cfg->recon.padim_eps) > 1e-12 * (1 + fabs(eps))) {
        snprintf(why, cap, "eps %g stored, recon.padim_eps is %g", eps, cfg->recon.padim_eps);
    } else if (seed != cfg->seed) {
        snprintf(why, cap, "seed %lld stored, seed is %d", (long long)seed, cfg->seed);
    } else if (ih != cfg->data.image_size || iw != cfg->data.image_size) {
        snprintf(why, cap, "fitted at %lld x %lld px, data.image_size is %d", (long long)ih, (long long)iw,
                 cfg->data.image_size);
    } else if (n != (int64_t)n_train) {
        snprintf(why, cap, "fitted on %lld images, the training set has %zu", (long long)n, n_train);
    } else if (strcmp(src, wrn->source)) {
        snprintf(why, cap, "backbone \"%.200s\" stored, now \"%.200s\"", src, wrn->source);
    } else {
        ok = true;
    }
    free(src);
    free(fmt);
    ddad_h5_close(f);
    return ok;
}

ddad_status_t ddad_recon_padim_prepare(ddad_recon_padim_t *rp, const ddad_config_t *cfg, const char *padim_path,
                                       const ddad_sample_t *const *train, size_t n_train, ddad_device_t dev)
{
    memset(rp, 0, sizeof *rp);
    ddad_status_t st = DDAD_OK;
    float *buf = NULL;
    ddad_wrn_options_t wo = ddad_wrn_default_options();
    wo.device = dev;
    wo.weights_path = cfg->recon.wrn_weights[0] ? cfg->recon.wrn_weights : NULL;
    wo.seed = (uint64_t)cfg->seed;
    if ((st = ddad_wrn_init(&rp->wrn, &wo)) != DDAD_OK)
        return ddad_fail_context(st, "gradient denoising: building the WideResNet-50-2 (recon.wrn_weights)");
    if (rp->wrn.random_weights)
        ddad_log(DDAD_LOG_WARN,
                 "gradient denoising: WideResNet-50-2 with RANDOM weights (%s); set recon.wrn_weights for the "
                 "published setting, and label results accordingly",
                 rp->wrn.source);

    if (padim_path) {
        snprintf(rp->path, sizeof rp->path, "%s", padim_path);
        char why[512];
        if (padim_file_matches(rp->path, cfg, &rp->wrn, n_train, why, sizeof why)) {
            if ((st = ddad_padim_load_h5(&rp->padim, rp->path, dev)) == DDAD_OK) {
                rp->reused = true;
                ddad_log(DDAD_LOG_INFO, "gradient denoising: reusing PaDiM fit %s", rp->path);
                return DDAD_OK;
            }
            ddad_log(DDAD_LOG_WARN, "gradient denoising: %s does not load (%s); fitting again", rp->path,
                     ddad_last_error());
        } else if (strcmp(why, "no stored fit")) {
            ddad_log(DDAD_LOG_INFO, "gradient denoising: %s does not match the config (%s); fitting again",
                     rp->path, why);
        }
    }
    if (n_train < 2) {
        st = ddad_fail(DDAD_STATUS_DATA, "gradient denoising: PaDiM needs at least 2 training images (got %zu)",
                       n_train);
        goto fail;
    }

    ddad_padim_options_t po = ddad_padim_default_options();
    po.d = cfg->recon.padim_channels;
    po.eps = cfg->recon.padim_eps;
    po.seed = (uint64_t)cfg->seed;
    DDAD_TRY(ddad_padim_init(&rp->padim, &po, dev));
    const int S = cfg->data.image_size;
    const size_t B = 8, per = (size_t)3 * S * S;
    buf = malloc(B * per * sizeof *buf);
    if (!buf) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "gradient denoising: no memory for a batch of %zu images", B);
        goto fail;
    }
    ddad_log(DDAD_LOG_INFO, "gradient denoising: fitting PaDiM (%d of 1792 channels) on %zu training images",
             cfg->recon.padim_channels, n_train);
    for (size_t i0 = 0; i0 < n_train; i0 += B) {
        size_t nb = n_train - i0 < B ? n_train - i0 : B;
        for (size_t k = 0; k < nb; k++) {
            ddad_status_t s2 = ddad_image_load_chw(train[i0 + k]->path, S, buf + k * per);
            if (s2) {
                st = ddad_fail_context(s2, "PaDiM fit");
                goto fail;
            }
        }
        size_t mark = ddad_scope_begin();
        ddad_tensor_t *x = NULL, *xd = NULL;
        int64_t shape[4] = {(int64_t)nb, 3, S, S};
        st = ddad_from_buffer(&x, buf, shape, 4, DDAD_DTYPE_F32);
        if (!st)
            st = ddad_to_device(&xd, x, dev);
        if (!st)
            st = ddad_padim_fit_add(&rp->padim, &rp->wrn, xd);
        ddad_scope_end(mark);
        if (st)
            goto fail;
    }
    DDAD_TRY(ddad_padim_fit_end(&rp->padim));
    if (padim_path)
        DDAD_TRY(ddad_padim_save_h5(&rp->padim, rp->path));
    free(buf);
    return DDAD_OK;
fail:
    free(buf);
    ddad_recon_padim_free(rp);
    return st;
}

/* ---- the steps ---------------------------------------------------------- */

ddad_recon_options_t ddad_recon_options_from_config(const ddad_config_t *cfg)
{
    ddad_recon_options_t o;
    memset(&o, 0, sizeof o);
    o.rounds = cfg->recon.rounds;
    o.grad_steps = cfg->recon.grad_steps;
    o.step_size = cfg->recon.step_size;
    o.t = cfg->recon.t;
    o.sample = cfg->recon.sample;
    o.n_record = cfg->recon.record.n;
    for (size_t i = 0; i < o.n_record; i++)
        o.record[i] = cfg->recon.record.v[i];
    o.seed = (uint64_t)cfg->seed;
    return o;
}

ddad_status_t ddad_recon_grad_step(const ddad_recon_padim_t *rp, const ddad_tensor_t *x, double s, ddad_tensor_t **out,
                                   double *grad_std)
{
    if (!(s > 0.0 && s < 1.0))
        return ddad_fail(DDAD_STATUS_USAGE, "gradient step: step size %g is not in (0, 1) (recon.step_size)", s);
    ddad_status_t st = DDAD_OK;
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *dist = NULL, *grad = NULL, *sd = NULL, *g = NULL, *res = NULL, *mstd = NULL;
    DDAD_TRY(ddad_padim_distance(&rp->padim, &rp->wrn, x, true, &dist, &grad)); // (N, 1, H, W), (N, 3, H, W)
    const int64_t dims[3] = {1, 2, 3};
    DDAD_TRY(ddad_std_dims(&sd, grad, dims, 3, true, true)); // (N, 1, 1, 1)
    double v = 0;
    DDAD_TRY(ddad_mean(&mstd, sd));
    DDAD_TRY(ddad_tensor_item(&v, mstd));
    if (!isfinite(v) || v <= 0.0) {
        st = ddad_fail(DDAD_STATUS_NUMERIC,
                       "gradient step: the PaDiM gradient has standard deviation %g (need a finite, positive value; "
                       "a constant image or a degenerate PaDiM fit?)",
                       v);
        goto fail;
    }
    DDAD_TRY(ddad_div(&g, grad, sd));                           // unit std per image
    DDAD_TRY(ddad_mul_scalar(&res, x, sqrt(1.0 - s * s)));
    DDAD_TRY(ddad_add_scaled_(res, g, -s));                     // g = -grad / std
    if (grad_std)
        *grad_std = v;
    *out = ddad_tensor_keep(res);
fail:
    ddad_scope_end(mark);
    return st;
}

ddad_status_t ddad_recon_denoise_step(const ddad_model_t *m, const ddad_tensor_t *x, const ddad_tensor_t *y, int64_t t,
                                      bool sample, ddad_generator_t *gen, ddad_tensor_t **out)
{
    const ddad_diffusion_t *d = &m->score_diffusion;
    if (t < 0 || t >= d->num_timesteps)
        return ddad_fail(DDAD_STATUS_CONFIG, "denoising step: recon.t = %lld outside the respaced process 0..%lld",
                         (long long)t, (long long)d->num_timesteps - 1);
    const ddad_unet_t *u = m->has_ema ? &m->ema : &m->unet;
    ddad_status_t st = DDAD_OK;
    bool was = ddad_grad_set_enabled(false);
    size_t mark = ddad_scope_begin();
    ddad_tensor_t *tt = NULL, *tnet = NULL, *mo = NULL, *mean = NULL, *logvar = NULL, *z = NULL, *sd = NULL,
                  *res = NULL;
    int64_t n = ddad_tensor_size(x, 0);
    int64_t shape[1] = {n};
    DDAD_TRY(ddad_full(&tt, shape, 1, (double)t, DDAD_DTYPE_I64, m->device));
    DDAD_TRY(ddad_diffusion_map_timesteps(d, tt, &tnet));
    DDAD_TRY(ddad_unet_forward(u, x, tnet, y, 0, &mo, NULL));            // (N, 6, H, W)
    DDAD_TRY(ddad_diffusion_p_mean_variance(d, mo, x, tt, true, &mean, &logvar, NULL));
    if (sample && t > 0) {
        int64_t xs[4] = {n, ddad_tensor_size(x, 1), ddad_tensor_size(x, 2), ddad_tensor_size(x, 3)};
        DDAD_TRY(ddad_randn(&z, xs, 4, DDAD_DTYPE_F32, m->device, gen));
        DDAD_TRY(ddad_mul_scalar(&sd, logvar, 0.5));
        DDAD_TRY(ddad_exp(&sd, sd));
        DDAD_TRY(ddad_mul(&res, sd, z));
        DDAD_TRY(ddad_add(&res, mean, res));
    } else {
        res = mean;
    }
    *out = ddad_tensor_keep(res);
fail:
    ddad_scope_end(mark);
    ddad_grad_set_enabled(was);
    return st;
}

/* ---- the whole process --------------------------------------------------- */

void ddad_recon_result_free(ddad_recon_result_t *r)
{
    if (!r)
        return;
    if (r->images)
        for (size_t i = 0; i < r->n; i++)
            ddad_tensor_free(r->images[i]);
    free(r->images);
    free(r->rounds);
    free(r->grad_std);
    memset(r, 0, sizeof *r);
}

static ddad_status_t check_options(const ddad_recon_options_t *o)
{
    if (o->rounds < 0 || o->grad_steps < 0)
        return ddad_fail(DDAD_STATUS_CONFIG, "gradient denoising: recon.rounds %d and recon.grad_steps %d must be >= 0",
                         o->rounds, o->grad_steps);
    if (o->n_record == 0)
        return ddad_fail(DDAD_STATUS_CONFIG, "gradient denoising: recon.record lists no round to keep");
    for (size_t i = 0; i < o->n_record; i++) {
        if (o->record[i] < 0 || o->record[i] > o->rounds || (i > 0 && o->record[i] <= o->record[i - 1]))
            return ddad_fail(DDAD_STATUS_CONFIG,
                             "gradient denoising: recon.record[%zu] = %d (need increasing rounds in 0..recon.rounds "
                             "= %d)",
                             i, o->record[i], o->rounds);
    }
    return DDAD_OK;
}

static ddad_status_t record_image(ddad_recon_result_t *r, const ddad_tensor_t *x, int round, double gstd)
{
    ddad_tensor_t *c = NULL;
    ddad_status_t st = ddad_clone(&c, x);
    if (st)
        return st;
    r->images[r->n] = ddad_tensor_persist(c);
    r->rounds[r->n] = round;
    r->grad_std[r->n] = gstd;
    r->n++;
    return DDAD_OK;
}

ddad_status_t ddad_recon_run(const ddad_recon_padim_t *rp, const ddad_model_t *m, const ddad_tensor_t *x0,
                             const ddad_tensor_t *y, const ddad_recon_options_t *opt, ddad_recon_result_t *out)
{
    memset(out, 0, sizeof *out);
    ddad_status_t st = check_options(opt);
    if (st)
        return st;
    if (!rp->padim.inv_cov)
        return ddad_fail(DDAD_STATUS_USAGE, "gradient denoising: PaDiM is not fitted (ddad_recon_padim_prepare)");
    ddad_generator_t *gen = NULL;
    ddad_tensor_t *x = NULL;
    out->images = calloc(opt->n_record, sizeof *out->images);
    out->rounds = calloc(opt->n_record, sizeof *out->rounds);
    out->grad_std = calloc(opt->n_record, sizeof *out->grad_std);
    if (!out->images || !out->rounds || !out->grad_std) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "gradient denoising: no memory for %zu records", opt->n_record);
        goto fail;
    }
    if (opt->sample)
        DDAD_TRY(ddad_generator_create(&gen, opt->seed, m->device));
    DDAD_TRY(ddad_clone(&x, x0));
    ddad_tensor_persist(x);
    size_t next = 0;
    double gstd = 0.0;
    if (opt->record[0] == 0) {
        DDAD_TRY(record_image(out, x, 0, 0.0));
        next = 1;
    }
    for (int r = 1; r <= opt->rounds && next < opt->n_record; r++) {
        for (int k = 0; k < opt->grad_steps; k++) {
            ddad_tensor_t *nx = NULL;
            DDAD_TRY(ddad_recon_grad_step(rp, x, opt->step_size, &nx, &gstd));
            ddad_tensor_free(x);
            x = ddad_tensor_persist(nx);
        }
        ddad_tensor_t *nx = NULL;
        DDAD_TRY(ddad_recon_denoise_step(m, x, y, opt->t, opt->sample, gen, &nx));
        ddad_tensor_free(x);
        x = ddad_tensor_persist(nx);
        bool finite = false;
        DDAD_TRY(ddad_all_finite(&finite, x));
        if (!finite) {
            st = ddad_fail(DDAD_STATUS_NUMERIC, "gradient denoising: the image is not finite after round %d", r);
            goto fail;
        }
        if (r == opt->record[next]) {
            DDAD_TRY(record_image(out, x, r, gstd));
            next++;
        }
        if (opt->progress)
            opt->progress(r, opt->rounds, opt->progress_user);
    }
    ddad_tensor_free(x);
    ddad_generator_free(gen);
    return DDAD_OK;
fail:
    ddad_tensor_free(x);
    ddad_generator_free(gen);
    ddad_recon_result_free(out);
    return st;
}
