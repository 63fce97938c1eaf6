/* core/nn/checkpoint.c - see checkpoint.h */
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "h5io.h"
#include "run.h"
#include "ddad_version.h"
#include "tensor_h5.h"

static ddad_status_t save_moments(ddad_h5_t *f, const ddad_model_t *m, ddad_adamw_t *opt)
{
    char path[512];
    size_t k = 0; /* index among trainable tensors, the optimizer's order */
    for (size_t i = 0; i < m->params.n; i++) {
        const ddad_param_t *it = &m->params.items[i];
        if (!it->trainable)
            continue;
        snprintf(path, sizeof path, "optim/exp_avg/%s", it->name);
        ddad_status_t st = ddad_tensor_h5_write(f, path, ddad_adamw_exp_avg(opt, k), DDAD_DTYPE_F32, 0);
        snprintf(path, sizeof path, "optim/exp_avg_sq/%s", it->name);
        if (st == DDAD_OK)
            st = ddad_tensor_h5_write(f, path, ddad_adamw_exp_avg_sq(opt, k), DDAD_DTYPE_F32, 0);
        if (st != DDAD_OK)
            return st;
        k++;
    }
    return DDAD_OK;
}

static ddad_status_t load_moments(ddad_h5_t *f, const ddad_model_t *m, ddad_adamw_t *opt)
{
    char path[512];
    size_t k = 0;
    for (size_t i = 0; i < m->params.n; i++) {
        const ddad_param_t *it = &m->params.items[i];
        if (!it->trainable)
            continue;
        for (int which = 0; which < 2; which++) {
            snprintf(path, sizeof path, "optim/%s/%s", which ? "exp_avg_sq" : "exp_avg", it->name);
            ddad_tensor_t *t = NULL;
            ddad_status_t st = ddad_tensor_h5_read(&t, f, path, DDAD_DTYPE_F32);
            if (st == DDAD_OK)
                st = ddad_copy_(which ? ddad_adamw_exp_avg_sq(opt, k) : ddad_adamw_exp_avg(opt, k), t);
            ddad_tensor_free(t);
            if (st != DDAD_OK)
                return st;
        }
        k++;
    }
    return DDAD_OK;
}

static ddad_status_t write_all(ddad_h5_t *f, const ddad_model_t *m, ddad_adamw_t *opt, ddad_generator_t *gen,
                               const ddad_checkpoint_state_t *s)
{
    ddad_status_t st = ddad_params_save_h5(&m->params, f, "weights");
    if (st == DDAD_OK && m->has_ema)
        st = ddad_params_save_h5(&m->ema_params, f, "ema");
    if (st == DDAD_OK && opt)
        st = save_moments(f, m, opt);
    if (st == DDAD_OK && gen) {
        ddad_tensor_t *state = NULL;
        st = ddad_generator_get_state(gen, &state);
        if (st == DDAD_OK)
            st = ddad_tensor_h5_write(f, "rng/noise", state, DDAD_DTYPE_U8, 0);
        ddad_tensor_free(state);
    }
    float mean[DDAD_EFFNET_FEAT_CHANNELS], std[DDAD_EFFNET_FEAT_CHANNELS];
    const int64_t nch = DDAD_EFFNET_FEAT_CHANNELS;
    if (st == DDAD_OK && m->has_features && ddad_effnet_get_standardization(&m->effnet, mean, std)) {
        st = ddad_h5_write(f, "feature_stats/mean", DDAD_H5_F32, mean, &nch, 1, 0);
        if (st == DDAD_OK)
            st = ddad_h5_write(f, "feature_stats/std", DDAD_H5_F32, std, &nch, 1, 0);
    }
    char *yaml = NULL;
    if (st == DDAD_OK)
        st = ddad_config_to_yaml(&m->cfg, &yaml);
    char rng[32], when[64], dev[32];
    snprintf(rng, sizeof rng, "%" PRIu64, s->cursor.rng);
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    ddad_device_str(m->device, dev, sizeof dev);
    struct {
        const char *name, *value;
    } strs[] = {{"format", DDAD_CHECKPOINT_FORMAT},
                {"config", yaml ? yaml : ""},
                {"git_revision", DDAD_GIT_REVISION},
                {"ddad_version", DDAD_VERSION},
                {"torch_version", ddad_torch_version()},
                {"device", dev},
                {"loader_rng", rng},
                {"feature_weights", m->has_features ? m->effnet.source : "none"},
                {"created", when}};
    for (size_t i = 0; st == DDAD_OK && i < sizeof strs / sizeof strs[0]; i++)
        st = ddad_h5_set_attr_str(f, "/", strs[i].name, strs[i].value);
    free(yaml);
    struct {
        const char *name;
        int64_t value;
    } ints[] = {{"format_version", DDAD_CHECKPOINT_VERSION},
                {"step", s->step},
                {"optimizer_step", opt ? ddad_adamw_get_step(opt) : 0},
                {"loader_epoch", s->cursor.epoch},
                {"loader_position", s->cursor.position},
                {"seed", m->cfg.seed}};
    for (size_t i = 0; st == DDAD_OK && i < sizeof ints / sizeof ints[0]; i++)
        st = ddad_h5_set_attr_i64(f, "/", ints[i].name, ints[i].value);
    if (st == DDAD_OK)
        st = ddad_h5_set_attr_f64(f, "/", "lr", s->lr);
    return st;
}

ddad_status_t ddad_checkpoint_save(const char *path, const ddad_model_t *m, ddad_adamw_t *opt,
                                   ddad_generator_t *noise_gen, const ddad_checkpoint_state_t *state)
{
    if (!m->has_weights)
        return ddad_fail(DDAD_STATUS_USAGE, "writing checkpoint %s: the model was built for scoring only "
                         "(DDAD_MODEL_SCORING_ONLY holds no training weights)", path);
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.partial", path) >= sizeof tmp)
        return ddad_fail(DDAD_STATUS_IO, "checkpoint path too long: %s", path);
    ddad_h5_t *f = NULL;
    ddad_status_t st = ddad_h5_open(&f, tmp, DDAD_H5_CREATE);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "writing checkpoint");
    st = write_all(f, m, opt, noise_gen, state);
    ddad_status_t cst = ddad_h5_close(f);
    if (st == DDAD_OK)
        st = cst;
    if (st == DDAD_OK)
        st = ddad_run_commit(tmp, path);
    else
        unlink(tmp);
    if (st != DDAD_OK) { /* the previous checkpoint is untouched */
        return ddad_fail_context(st, "checkpoint %s not written (the previous one is intact)", path);
    }
    return DDAD_OK;
}

static ddad_status_t open_checked(ddad_h5_t **f, const char *path)
{
    ddad_status_t st = ddad_h5_open(f, path, DDAD_H5_READ);
    if (st != DDAD_OK)
        return st;
    char *format = NULL;
    int64_t version = 0;
    st = ddad_h5_get_attr_str(*f, "/", "format", &format);
    if (st == DDAD_OK && strcmp(format, DDAD_CHECKPOINT_FORMAT) != 0)
        st = ddad_fail(DDAD_STATUS_DATA, "%s: not a ddad checkpoint (format '%s')", path, format);
    else if (st != DDAD_OK)
        st = ddad_fail(DDAD_STATUS_DATA, "%s: not a ddad checkpoint (no format attribute)", path);
    if (st == DDAD_OK)
        st = ddad_h5_get_attr_i64(*f, "/", "format_version", &version);
    if (st == DDAD_OK && version != DDAD_CHECKPOINT_VERSION)
        st = ddad_fail(DDAD_STATUS_DATA, "%s: checkpoint format version %lld, this build reads %d", path,
                       (long long)version, DDAD_CHECKPOINT_VERSION);
    free(format);
    if (st != DDAD_OK) {
        ddad_h5_close(*f);
        *f = NULL;
    }
    return st;
}

/* feature_stats/{mean,std} (272 each) into the extractor's standardisation;
 * absent in checkpoints of runs without features.standardize. */
static ddad_status_t load_feature_stats(ddad_h5_t *f, ddad_model_t *m, const char *path)
{
    int64_t shape[DDAD_H5_MAX_DIMS];
    int ndim = 0;
    if (ddad_h5_shape(f, "feature_stats/mean", shape, &ndim) != DDAD_OK) {
        ddad_clear_error();
        if (m->cfg.features.standardize)
            return ddad_fail(DDAD_STATUS_DATA, "%s has no feature_stats/ although its config sets "
                             "features.standardize: true (a damaged or hand-edited checkpoint): retrain", path);
        return ddad_effnet_set_standardization(&m->effnet, NULL, NULL);
    }
    float mean[DDAD_EFFNET_FEAT_CHANNELS], std[DDAD_EFFNET_FEAT_CHANNELS];
    const int64_t nch = DDAD_EFFNET_FEAT_CHANNELS;
    ddad_status_t st = ddad_h5_read_into(f, "feature_stats/mean", DDAD_H5_F32, mean, &nch, 1);
    if (st == DDAD_OK)
        st = ddad_h5_read_into(f, "feature_stats/std", DDAD_H5_F32, std, &nch, 1);
    if (st == DDAD_OK)
        st = ddad_effnet_set_standardization(&m->effnet, mean, std);
    return st;
}

ddad_status_t ddad_checkpoint_load(const char *path, ddad_model_t *m, ddad_adamw_t *opt, ddad_generator_t *noise_gen,
                                   ddad_checkpoint_state_t *state)
{
    ddad_h5_t *f = NULL;
    ddad_status_t st = open_checked(&f, path);
    if (st != DDAD_OK)
        return st;
    if (opt && !m->has_weights)
        st = ddad_fail(DDAD_STATUS_USAGE, "%s: resuming training needs a model with training weights "
                       "(this one was built for scoring only)", path);
    else if (m->has_weights)
        st = ddad_params_load_h5(&m->params, f, "weights", DDAD_PARAMS_STRICT, NULL);
    if (st == DDAD_OK && m->has_ema)
        st = ddad_params_load_h5(&m->ema_params, f, "ema", DDAD_PARAMS_STRICT, NULL);
    if (st == DDAD_OK && m->has_features)
        st = load_feature_stats(f, m, path);
    if (st == DDAD_OK && opt)
        st = load_moments(f, m, opt);
    if (st == DDAD_OK && noise_gen) {
        ddad_tensor_t *t = NULL;
        st = ddad_tensor_h5_read(&t, f, "rng/noise", DDAD_DTYPE_U8);
        if (st == DDAD_OK)
            st = ddad_generator_set_state(noise_gen, t);
        ddad_tensor_free(t);
    }
    if (st == DDAD_OK && (state || opt)) {
        int64_t step = 0, ostep = 0, epoch = 0, pos = 0;
        double lr = 0;
        char *rng = NULL;
        st = ddad_h5_get_attr_i64(f, "/", "step", &step);
        if (st == DDAD_OK)
            st = ddad_h5_get_attr_i64(f, "/", "optimizer_step", &ostep);
        if (st == DDAD_OK)
            st = ddad_h5_get_attr_i64(f, "/", "loader_epoch", &epoch);
        if (st == DDAD_OK)
            st = ddad_h5_get_attr_i64(f, "/", "loader_position", &pos);
        if (st == DDAD_OK)
            st = ddad_h5_get_attr_f64(f, "/", "lr", &lr);
        if (st == DDAD_OK)
            st = ddad_h5_get_attr_str(f, "/", "loader_rng", &rng);
        if (st == DDAD_OK && state) {
            state->step = step;
            state->lr = lr;
            state->cursor.epoch = epoch;
            state->cursor.position = pos;
            state->cursor.rng = strtoull(rng, NULL, 10);
        }
        if (st == DDAD_OK && opt) {
            ddad_adamw_set_step(opt, ostep);
            ddad_adamw_set_lr(opt, lr);
        }
        free(rng);
    }
    ddad_h5_close(f);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "loading checkpoint");
    return DDAD_OK;
}

ddad_status_t ddad_checkpoint_read_config(const char *path, ddad_config_t *cfg)
{
    ddad_h5_t *f = NULL;
    ddad_status_t st = open_checked(&f, path);
    if (st != DDAD_OK)
        return st;
    char *yaml = NULL;
    st = ddad_h5_get_attr_str(f, "/", "config", &yaml);
    ddad_h5_close(f);
    if (st == DDAD_OK)
        st = ddad_config_load_string(cfg, yaml, path, NULL, 0);
    free(yaml);
    return st;
}

ddad_status_t ddad_config_check_noise(const ddad_config_t *trained, const ddad_config_t *cfg, const char *checkpoint)
{
    static const char *const keys[] = {"diffusion.noise", "diffusion.noise_discount"};
    const int n_keys = trained->diffusion.noise == DDAD_NOISE_PYRAMID ? 2 : 1; /* white has no discount */
    for (int k = 0; k < n_keys; k++) {
        char was[64] = "", is[64] = "";
        ddad_config_get_text(trained, keys[k], was, sizeof was);
        ddad_config_get_text(cfg, keys[k], is, sizeof is);
        if (strcmp(was, is))
            return ddad_fail(DDAD_STATUS_CONFIG,
                             "%s was trained with %s %s, the config says %s: a model is scored and trained on with "
                             "the noise it was trained with (set %s: %s)",
                             checkpoint, keys[k], was, is, keys[k], was);
    }
    return DDAD_OK;
}

ddad_status_t ddad_checkpoint_check_noise(const char *checkpoint, const ddad_config_t *cfg)
{
    ddad_config_t trained;
    ddad_status_t st = ddad_checkpoint_read_config(checkpoint, &trained);
    if (st != DDAD_OK)
        return ddad_fail_context(st, "reading the config stored in %s to check diffusion.noise", checkpoint);
    return ddad_config_check_noise(&trained, cfg, checkpoint);
}

void ddad_checkpoint_path(char *buf, size_t cap, const char *run_dir, int64_t step)
{
    char dir[4096];
    ddad_run_path(dir, sizeof dir, run_dir, NULL, DDAD_RUN_CHECKPOINTS);
    snprintf(buf, cap, "%s/step_%07lld.h5", dir, (long long)step);
}

/* Steps of the complete checkpoints in run_dir, sorted ascending (caller frees). */
static ddad_status_t list_steps(const char *run_dir, int64_t **steps, size_t *n)
{
    char dir[4096];
    ddad_run_path(dir, sizeof dir, run_dir, NULL, DDAD_RUN_CHECKPOINTS);
    *steps = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return DDAD_OK;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long long step;
        char tail[8];
        if (sscanf(e->d_name, "step_%lld.%7s", &step, tail) != 2 || strcmp(tail, "h5") != 0)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            int64_t *v = realloc(*steps, cap * sizeof *v);
            if (!v) {
                closedir(d);
                free(*steps);
                *steps = NULL;
                return ddad_fail(DDAD_STATUS_NOMEM, "out of memory listing %s", dir);
            }
            *steps = v;
        }
        (*steps)[(*n)++] = step;
    }
    closedir(d);
    for (size_t i = 1; i < *n; i++) /* insertion sort: a handful of files */
        for (size_t j = i; j > 0 && (*steps)[j - 1] > (*steps)[j]; j--) {
            int64_t t = (*steps)[j];
            (*steps)[j] = (*steps)[j - 1];
            (*steps)[j - 1] = t;
        }
    return DDAD_OK;
}

ddad_status_t ddad_checkpoint_latest(const char *run_dir, char *buf, size_t cap)
{
    int64_t *steps = NULL;
    size_t n = 0;
    ddad_status_t st = list_steps(run_dir, &steps, &n);
    if (st != DDAD_OK)
        return st;
    if (n == 0)
        return ddad_fail(DDAD_STATUS_DATA, "no checkpoint in %s/checkpoints: train first (ddad-train CONFIG)", run_dir);
    ddad_checkpoint_path(buf, cap, run_dir, steps[n - 1]);
    free(steps);
    return DDAD_OK;
}

ddad_status_t ddad_checkpoint_prune(const char *run_dir, int keep)
{
    int64_t *steps = NULL;
    size_t n = 0;
    ddad_status_t st = list_steps(run_dir, &steps, &n);
    if (st != DDAD_OK)
        return st;
    char path[4096];
    for (size_t i = 0; keep >= 1 && i + (size_t)keep < n; i++) {
        ddad_checkpoint_path(path, sizeof path, run_dir, steps[i]);
        if (unlink(path) != 0 && errno != ENOENT) {
            st = ddad_fail(DDAD_STATUS_IO, "cannot delete old checkpoint %s: %s", path, strerror(errno));
            break;
        }
    }
    free(steps);
    return st;
}
