/* tests/test_nn_train_reference.c - ddad's training step against a PyTorch
 * reference of the authors' training, the way the forward path is checked
 * against ../shared/fixtures.
 *
 * tests/reference/train_step_reference.py (Debian's python3-torch + h5py)
 * builds the UNet of configs/tiny.yaml in PyTorch (experiments/bench/
 * adm_reference.py, guided-diffusion's parameter names) with PyTorch's random
 * initialisation, first checks its loss maths against the authors' training
 * losses in the fixtures (diffusion.h5, bit for bit), then trains three steps
 * on fixed images, labels, timesteps (step 1: t = 0, 437, 999, 1), noise and
 * extractor targets, and writes one HDF5 file: the initial weights, the
 * inputs, and per step the loss terms, the weights after AdamW and the EMA;
 * the gradients of step 1. ddad's trainer starts from those weights
 * (model.init), replays the steps with ddad_trainer_step_batch() and must
 * agree. The reference's settings (lr, weight decay, EMA, schedule, batch,
 * architecture) are taken from the config ddad trains with, so the two
 * cannot drift apart.
 *
 * Weights and EMA are compared as their change since the initial weights
 * (w_k - w_0), relative to the largest change: an absolute comparison would
 * hide a wrong update under the size of the weights. The negative controls at
 * the end show that a wrong VB weight or a wrong EMA decay in ddad's config
 * fails these comparisons. Fails (does not skip) without python3-torch. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "h5io.h"
#include "nn/params.h"
#include "nn/trainer.h"
#include "testutil.h"

/* The training settings of the comparison: ddad's config gets them as --set
 * values, the reference gets them from that config. A large EMA rate and a
 * weight decay make both visible in three steps; iterations 10 makes the
 * linear lr decay visible (lr, 0.9 lr, 0.8 lr). */
static const char *const k_train_sets[] = {
    "train.batch_size=4",    "train.grad_accum=1",    "train.lr=5e-4",      "train.lr_decay=linear",
    "train.iterations=10",   "train.weight_decay=0.05", "train.ema=0.9",    "train.grad_clip=0",
    "train.precision=fp32",  "train.vlb_weight=1",    "train.feature_loss_weight=1", "data.rotation_deg=0",
    "train.target_cache_mb=0"};
#define N_TRAIN_SETS (sizeof k_train_sets / sizeof *k_train_sets)
enum { STEPS = 3 };

/* Tolerances, with what was measured on this machine (libtorch 1.13, one
 * thread, CPU) in brackets:
 *  - batch means of loss, mse, vb, feat_mse: TOL_LOSS relative [step 1: 7e-8,
 *    the forward is bit-identical; steps 2, 3: 4.6e-7; 4.8e-7 with
 *    grad_accum 2]; the lr of each step: 1e-12 [0];
 *  - step-1 gradients: |ours - ref| <= TOL_GRAD * max|ref| per tensor
 *    [2.5e-6; 3.4e-6 with grad_accum 2], except the null-gradient tensors
 *    (see replay_t: ours <= 1e-6 of the largest gradient [3.4e-8]);
 *  - weights and EMA after each step, as changes since the initial weights:
 *    |ours - ref| <= tol * max|ref change| + ULP_FLOOR float32 ulps of the
 *    tensor's largest weight (the update of a weight near 1 cannot be
 *    resolved finer than its ulp; an EMA change is a tenth of a weight
 *    change), tol = TOL_DELTA after step 1 [0.39 of the tolerance] and
 *    TOL_DELTA_LATER after steps 2 and 3 [5e-3 of the largest change; 1.3e-2
 *    with grad_accum 2]: after step 1 the two sides train slightly different
 *    networks (the ill-conditioned elements of replay_t took different
 *    steps), and an element with a small first gradient amplifies that.
 *    Over each tensor, the L2 norm of the differences of the changes <=
 *    TOL_L2 times that of the reference's changes [9.6e-5; 2.2e-4], and
 *    TOL_L2_EMA for the EMA [1.8e-3: float32 rounding of EMA changes of
 *    weights near 1].
 * What errors look like: vlb_weight 0.5 moves the step-1 gradients by 0.14
 * and the weight changes by 2 of the largest change (L2 0.5); EMA decay 0.99
 * for 0.9 the EMA changes by 0.9. Tried once on the library (not kept): the
 * VB term without detaching the eps half (same losses) moved the step-1
 * gradients by 0.94; an EMA rate 5 % off failed the step-1 EMA comparison
 * by 50 times the tolerance and the EMA L2 at every step. */
#define TOL_LOSS 1e-5
#define TOL_GRAD 1e-4
#define TOL_DELTA 1e-3
#define TOL_DELTA_LATER 5e-2
#define ULP_FLOOR 8
#define TOL_L2 2e-3
#define TOL_L2_EMA 1e-2

static char *g_dir;         /* temporary folder, removed by "cleanup"   */
static char g_ref[4300];    /* the reference HDF5 file                 */
static char g_data[4300];   /* synthetic data set (the trainer needs one; its images are not used) */
static bool g_ready;

/* ---- set-up ------------------------------------------------------------------- */

/* tiny.yaml with the comparison's settings, run folder <tmp>/runs/<tag>, plus extra sets. */
static void load_cfg(ddad_config_t *cfg, const char *tag, const char *const *extra, size_t n_extra)
{
    char path[4300], root_set[4400], dir_set[4400], name_set[300], init_set[4400];
    snprintf(path, sizeof path, "%s/configs/tiny.yaml", ddad_test_source_dir());
    snprintf(root_set, sizeof root_set, "data.root=%s", g_data);
    snprintf(dir_set, sizeof dir_set, "run.dir=%s/runs", g_dir);
    snprintf(name_set, sizeof name_set, "run.name=%s", tag);
    snprintf(init_set, sizeof init_set, "model.init=%s", g_ready ? g_ref : "");
    /* one thread: the reference runs on one, and libgomp's spinning second
     * thread is slow on shared cores */
    const char *sets[40] = {root_set, dir_set, name_set, init_set, "threads=1"};
    size_t n = 5;
    for (size_t i = 0; i < N_TRAIN_SETS; i++)
        sets[n++] = k_train_sets[i];
    for (size_t i = 0; i < n_extra && n < 40; i++)
        sets[n++] = extra[i];
    ddad_status_t st = ddad_config_load(cfg, path, sets, n);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  config: %s\n", ddad_last_error());
    CU_ASSERT_FATAL(st == DDAD_OK);
    ddad_runtime_setup(cfg);
}

static void ints_str(char *buf, size_t cap, const ddad_config_ints_t *v)
{
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < v->n && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ",%d" : "%d", v->v[i]);
}

/* Generates the data set and the reference (once). */
static void setup(void)
{
    if (g_ready)
        return;
    if (!ddad_test_python_has("torch,h5py,numpy"))
        fprintf(stderr, "\n  %s cannot import torch, h5py and numpy: install python3-torch, python3-h5py and "
                "python3-numpy (scripts/install-deps.sh)\n", ddad_test_python());
    CU_ASSERT_FATAL(ddad_test_python_has("torch,h5py,numpy"));
    g_dir = ddad_test_mkdtemp("train_ref");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g_dir);
    snprintf(g_data, sizeof g_data, "%s/synthetic", g_dir);
    snprintf(g_ref, sizeof g_ref, "%s/train_reference.h5", g_dir);
    CU_ASSERT_FATAL(ddad_test_synth(g_data, "woven", 32, 4, 1, 1) == 0);

    ddad_config_t cfg;
    load_cfg(&cfg, "settings", NULL, 0);
    CU_ASSERT_FATAL(cfg.model.learn_sigma && cfg.model.resblock_updown && cfg.model.scale_shift_norm &&
                    cfg.model.dropout == 0 && cfg.diffusion.steps == 1000);
    char mult[128], attn[128];
    ints_str(mult, sizeof mult, &cfg.model.channel_mult);
    ints_str(attn, sizeof attn, &cfg.model.attention_resolutions);
    int rc = ddad_test_system(
        "'%s' '%s/tests/reference/train_step_reference.py' '%s' --fixtures '%s' --size %d --channels %d --mult %s "
        "--res-blocks %d --attn %s --head-channels %d --classes %d --tap %d --feat-size %d --batch %d --steps %d "
        "--lr %.17g --lr-decay %s --iterations %d --weight-decay %.17g --ema %.17g --vlb-weight %.17g "
        "--feat-weight %.17g --seed 0 --t0 0,437,999,1 >'%s/reference.log' 2>&1",
        ddad_test_python(), ddad_test_source_dir(), g_ref, ddad_test_fixture("diffusion.h5"), cfg.data.image_size,
        cfg.model.channels, mult, cfg.model.res_blocks, attn, cfg.model.head_channels, cfg.model.num_classes,
        cfg.model.feature_tap, cfg.features.train_size, cfg.train.batch_size, STEPS, cfg.train.lr,
        cfg.train.lr_decay == DDAD_LR_DECAY_CONSTANT ? "constant" : "linear", cfg.train.iterations,
        cfg.train.weight_decay, cfg.train.ema, cfg.train.vlb_weight, cfg.train.feature_loss_weight, g_dir);
    if (rc != 0) {
        fprintf(stderr, "\n  train_step_reference.py exited with %d (3: its loss maths disagree with the fixtures); "
                "its output:\n", rc);
        ddad_test_system("cat '%s/reference.log' >&2", g_dir);
    }
    CU_ASSERT_FATAL(rc == 0);
    g_ready = true;
}

/* ---- reading and comparing ----------------------------------------------------- */

static float *read_f32(ddad_h5_t *f, const char *name, size_t *n)
{
    void *data = NULL;
    int64_t shape[DDAD_H5_MAX_DIMS];
    int nd = 0;
    ddad_status_t st = ddad_h5_read(f, name, DDAD_H5_F32, &data, shape, &nd);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  %s\n", ddad_last_error());
    CU_ASSERT_FATAL(st == DDAD_OK);
    *n = 1;
    for (int i = 0; i < nd; i++)
        *n *= (size_t)shape[i];
    return data;
}

static int64_t *read_i64(ddad_h5_t *f, const char *name)
{
    void *data = NULL;
    int64_t shape[DDAD_H5_MAX_DIMS];
    int nd = 0;
    CU_ASSERT_FATAL(ddad_h5_read(f, name, DDAD_H5_I64, &data, shape, &nd) == DDAD_OK);
    return data;
}

static double read_scalar(ddad_h5_t *f, const char *name)
{
    size_t n;
    float *v = read_f32(f, name, &n);
    CU_ASSERT_FATAL(n == 1);
    double x = v[0];
    free(v);
    return x;
}

static float *host(const ddad_tensor_t *t, size_t n)
{
    CU_ASSERT_FATAL((size_t)ddad_tensor_numel(t) == n);
    float *b = malloc(n * sizeof *b);
    CU_ASSERT_FATAL(b != NULL);
    CU_ASSERT_FATAL(ddad_to_buffer(t, b, n * sizeof *b, DDAD_DTYPE_F32) == DDAD_OK);
    return b;
}

/* The worst tensor of a comparison: max over tensors of max|ours - ref| / max|ref|. */
typedef struct worst {
    double rel;          /* gradients: max|ours - ref| / max|ref|; weights, EMA: the worst ratio to the tolerance */
    double change, ulps; /* weights, EMA: that difference / max|change|, / (FLT_EPSILON max|w|) */
    double l2;           /* weights, EMA: worst tensor's |ours - ref|_2 / |ref|_2 of the changes */
    char l2_name[DDAD_PARAM_NAME_MAX];
    char name[DDAD_PARAM_NAME_MAX + 32];
} worst_t;

static void worst_note(worst_t *w, const char *name, const float *ours, const float *ref, size_t n)
{
    double m = ddad_test_max_abs(ref, n), d = ddad_test_max_abs_diff(ours, ref, n);
    double rel = m > 0 ? d / m : d;
    if (!(rel <= w->rel)) { /* NaN counts as the worst */
        w->rel = rel;
        snprintf(w->name, sizeof w->name, "%s", name);
    }
}

static double rel_diff(double ours, double ref) { return fabs(ours - ref) / fmax(fabs(ref), 1e-12); }

/* What one replay measured against the reference. */
typedef struct replay {
    int steps;
    double loss[STEPS], mse[STEPS], vb[STEPS], feat[STEPS]; /* relative differences of the batch means   */
    double lr[STEPS];                                       /* ours - the reference's                    */
    worst_t grad;                                           /* step-1 gradients                          */
    size_t n_null;                                          /* null-gradient tensors (see below)         */
    double null_grad;                                       /* their max |our gradient| / the largest    */
    worst_t weights[STEPS], ema[STEPS];                     /* changes since the initial weights         */
    size_t n_elems, n_loose[STEPS];                         /* elements compared; only loosely (below)   */
    double loose[STEPS];                                    /* their max |ours - ref| change / sum of lr */
} replay_t;

/* Two kinds of values have no well-defined reference to compare with:
 *
 * Null-gradient tensors: a bias feeding a GroupNorm with one channel per
 * group (32 channels, 32 groups: the in_layers conv bias of a 32-channel
 * ResBlock, the output and skip biases before the final norm) cannot change
 * the output, so its exact gradient is 0 and both sides compute rounding
 * noise (|g| ~ 5e-9 against 0.2 for the largest gradient; the next smallest
 * tensor is at 4e-4). Our gradient must be as null as the reference's.
 *
 * Ill-conditioned elements: AdamW's first step moves each weight by lr *
 * sign(g) whatever |g| (for |g| >> eps), so an element whose gradient is
 * within rounding of 0 (measured: gradients agree to 2.5e-6 of each
 * tensor's largest) takes a step of +-lr in an arbitrary direction on
 * either side, and its later changes carry that step. Elements whose step-1
 * reference gradient is below COND_REL of its tensor's largest (the null
 * tensors included) are compared only loosely, |ours - ref| <= 6 * sum(lr)
 * (two of the largest steps AdamW takes in three); they must be under 1 %
 * of all elements [1469 of 846934: 192 null-tensor biases, the 256
 * embeddings of the classes step 1 does not use, whose gradient is exactly
 * 0 on both sides, and about 1000 small gradients]. Everything else is
 * compared with the tolerances above. */
#define NULL_GRAD_REL 1e-6
#define COND_REL 1e-4

/* A trainer on the comparison's config plus `extra`, starting from the
 * reference's initial weights, replays `steps` steps of the reference. */
static void replay(const char *tag, const char *const *extra, size_t n_extra, int steps, replay_t *r)
{
    setup();
    memset(r, 0, sizeof *r);
    r->steps = steps;
    ddad_config_t cfg;
    load_cfg(&cfg, tag, extra, n_extra);
    ddad_trainer_t *tr = NULL;
    ddad_trainer_opts_t o = ddad_trainer_opts_default();
    ddad_status_t st = ddad_trainer_create(&tr, &cfg, &o);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  create: %s\n", ddad_last_error());
    CU_ASSERT_FATAL(st == DDAD_OK);
    const ddad_model_t *m = ddad_trainer_model(tr);
    ddad_h5_t *f = NULL;
    CU_ASSERT_FATAL(ddad_h5_open(&f, g_ref, DDAD_H5_READ) == DDAD_OK);

    /* per tensor: the initial weights (for the changes) and which elements
     * have had a well-conditioned gradient so far */
    const size_t np = m->params.n;
    float **init = calloc(np, sizeof *init);
    unsigned char **cond = calloc(np, sizeof *cond);
    size_t *numel = calloc(np, sizeof *numel);
    CU_ASSERT_FATAL(init && cond && numel);
    char name[512];
    for (size_t i = 0; i < np; i++) {
        snprintf(name, sizeof name, "weights/%s", m->params.items[i].name);
        init[i] = read_f32(f, name, &numel[i]);
        cond[i] = calloc(numel[i], 1);
        CU_ASSERT_FATAL(cond[i] != NULL);
        r->n_elems += numel[i];
    }

    const int64_t B = cfg.train.batch_size, S = cfg.data.image_size, fs = cfg.features.train_size;
    double lr_sum = 0;
    for (int k = 1; k <= steps; k++) {
        size_t n;
        char g[32];
        snprintf(g, sizeof g, "step_%d", k);
#define AT(leaf) (snprintf(name, sizeof name, "%s/%s", g, (leaf)), name)
        float *x0 = read_f32(f, AT("x0"), &n);
        CU_ASSERT_FATAL(n == (size_t)(B * 3 * S * S));
        float *noise = read_f32(f, AT("noise"), &n);
        CU_ASSERT_FATAL(n == (size_t)(B * 3 * S * S));
        float *target = read_f32(f, AT("target"), &n);
        CU_ASSERT_FATAL(n == (size_t)(B * 272 * fs * fs));
        int64_t *y = read_i64(f, AT("y")), *t = read_i64(f, AT("t"));
        ddad_train_batch_t batch = {.x0 = x0, .y = y, .t = t, .noise = noise, .target = target};
        ddad_train_stats_t s;
        st = ddad_trainer_step_batch(tr, &batch, &s);
        if (st != DDAD_OK)
            fprintf(stderr, "\n  step %d: %s\n", k, ddad_last_error());
        CU_ASSERT_FATAL(st == DDAD_OK);
        r->loss[k - 1] = rel_diff(s.loss, read_scalar(f, AT("loss")));
        r->mse[k - 1] = rel_diff(s.mse, read_scalar(f, AT("mse_mean")));
        r->vb[k - 1] = rel_diff(s.vb, read_scalar(f, AT("vb_mean")));
        r->feat[k - 1] = rel_diff(s.feat, read_scalar(f, AT("feat_mse")));
        double lr_ref = 0;
        CU_ASSERT_FATAL(ddad_h5_read_into(f, AT("lr"), DDAD_H5_F64, &lr_ref, NULL, 0) == DDAD_OK);
        r->lr[k - 1] = s.lr - lr_ref;
        lr_sum += lr_ref;

        /* step 1: the reference's gradients, their scale, the comparison
         * and the well-conditioned elements */
        float **gref = calloc(np, sizeof *gref);
        double gmax_all = 0;
        CU_ASSERT_FATAL(gref != NULL);
        for (size_t i = 0; i < np && k == 1; i++) {
            snprintf(name, sizeof name, "%s/grad/%s", g, m->params.items[i].name);
            gref[i] = read_f32(f, name, &n);
            CU_ASSERT_FATAL(n == numel[i]);
            gmax_all = fmax(gmax_all, ddad_test_max_abs(gref[i], n));
        }
        for (size_t i = 0; i < np; i++) {
            const char *pn = m->params.items[i].name;
            const size_t ne = numel[i];
            if (k == 1) { /* the gradients the update used stay in .grad until the next step */
                const double gmax = ddad_test_max_abs(gref[i], ne);
                const bool null = gmax <= NULL_GRAD_REL * gmax_all;
                for (size_t e = 0; e < ne && !null; e++)
                    cond[i][e] = fabs(gref[i][e]) >= COND_REL * gmax;
                ddad_tensor_t *gt = NULL;
                CU_ASSERT_FATAL(ddad_grad(&gt, m->params.items[i].tensor) == DDAD_OK);
                CU_ASSERT_PTR_NOT_NULL_FATAL(gt);
                float *ours = host(gt, ne);
                if (null) {
                    r->n_null++;
                    r->null_grad = fmax(r->null_grad, ddad_test_max_abs(ours, ne) / gmax_all);
                } else {
                    worst_note(&r->grad, pn, ours, gref[i], ne);
                }
                free(ours);
                ddad_tensor_free(gt);
            }
            /* weights and EMA: changes since the initial weights */
            const ddad_tensor_t *mine[2] = {m->params.items[i].tensor, m->ema_params.items[i].tensor};
            worst_t *w[2] = {&r->weights[k - 1], &r->ema[k - 1]};
            for (int which = 0; which < 2; which++) {
                float *ours = host(mine[which], ne);
                snprintf(name, sizeof name, "%s/%s/%s", g, which ? "ema" : "weights", pn);
                float *ref = read_f32(f, name, &n);
                const double wmax = ddad_test_max_abs(ref, ne); /* before subtracting: the weights */
                for (size_t e = 0; e < ne; e++) {
                    ours[e] -= init[i][e];
                    ref[e] -= init[i][e];
                }
                const double dmax = ddad_test_max_abs(ref, ne);
                const double tol = (k == 1 ? TOL_DELTA : TOL_DELTA_LATER) * dmax + ULP_FLOOR * FLT_EPSILON * wmax;
                double worst = 0, d2 = 0, r2 = 0;
                size_t at = 0;
                for (size_t e = 0; e < ne; e++) {
                    double d = fabs((double)ours[e] - (double)ref[e]);
                    if (cond[i][e]) {
                        d2 += d * d;
                        r2 += (double)ref[e] * ref[e];
                    }
                    if (!cond[i][e]) { /* loosely: at most a few steps of lr apart */
                        r->n_loose[k - 1] += which == 0;
                        double l = d / lr_sum;
                        r->loose[k - 1] = !(l <= r->loose[k - 1]) ? l : r->loose[k - 1];
                    } else if (!(d <= worst)) {
                        worst = d;
                        at = e;
                    }
                }
                double l2 = r2 > 0 ? sqrt(d2 / r2) : sqrt(d2);
                if (!(l2 <= w[which]->l2)) {
                    w[which]->l2 = l2;
                    snprintf(w[which]->l2_name, sizeof w[which]->l2_name, "%s", pn);
                }
                if (!(worst / tol <= w[which]->rel)) {
                    w[which]->rel = worst / tol;
                    w[which]->change = dmax > 0 ? worst / dmax : worst;
                    w[which]->ulps = worst / (FLT_EPSILON * wmax);
                    snprintf(w[which]->name, sizeof w[which]->name, "%s[%zu]", pn, at);
                }
                free(ours);
                free(ref);
            }
        }
#undef AT
        for (size_t i = 0; i < np; i++)
            free(gref[i]);
        free(gref);
        free(x0);
        free(noise);
        free(target);
        free(y);
        free(t);
    }
    for (size_t i = 0; i < np; i++) {
        free(init[i]);
        free(cond[i]);
    }
    free(init);
    free(cond);
    free(numel);
    ddad_h5_close(f);
    ddad_trainer_free(tr);
}

static void print_replay(const char *what, const replay_t *r)
{
    fprintf(stderr, "\n  %s: step-1 gradients %.3g (worst %s); %zu null-gradient tensors, our largest "
            "gradient there %.3g of the largest\n", what, r->grad.rel, r->grad.name, r->n_null, r->null_grad);
    for (int k = 0; k < r->steps; k++)
        fprintf(stderr, "  step %d: loss %.3g mse %.3g vb %.3g feat %.3g (relative); weight change %.3g of tol (%s); "
                "EMA change %.3g (%s); %zu of %zu elements ill-conditioned, %.3g sum(lr) apart\n", k + 1,
                r->loss[k], r->mse[k], r->vb[k], r->feat[k], r->weights[k].rel, r->weights[k].name, r->ema[k].rel,
                r->ema[k].name, r->n_loose[k], r->n_elems, r->loose[k]);
    for (int k = 0; k < r->steps; k++)
        fprintf(stderr, "  step %d: worst weight-change difference %.3g of the largest change = %.3g ulps of the "
                "largest weight; EMA %.3g = %.3g ulps; L2: weights %.3g (%s) EMA %.3g (%s)\n", k + 1,
                r->weights[k].change, r->weights[k].ulps, r->ema[k].change, r->ema[k].ulps, r->weights[k].l2,
                r->weights[k].l2_name, r->ema[k].l2, r->ema[k].l2_name);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_reference(void)
{
    setup();
    ddad_h5_t *f = NULL;
    CU_ASSERT_FATAL(ddad_h5_open(&f, g_ref, DDAD_H5_READ) == DDAD_OK);
    char *fmt = NULL;
    int64_t ver = 0, steps = 0;
    CU_ASSERT_EQUAL(ddad_h5_get_attr_str(f, "/", "format", &fmt), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(fmt ? fmt : "", "ddad-train-reference");
    free(fmt);
    CU_ASSERT_EQUAL(ddad_h5_get_attr_i64(f, "/", "format_version", &ver), DDAD_OK);
    CU_ASSERT_EQUAL(ver, 1);
    CU_ASSERT_EQUAL(ddad_h5_get_attr_i64(f, "/", "steps", &steps), DDAD_OK);
    CU_ASSERT_EQUAL(steps, STEPS);
    /* step 1 covers the decoder NLL (t = 0) and both ends of the schedule */
    int64_t *t = read_i64(f, "step_1/t");
    CU_ASSERT(t[0] == 0 && t[1] == 437 && t[2] == 999 && t[3] == 1);
    free(t);

    /* the reference's initial weights are exactly this model's tensors (no
     * missing or extra names, the same shapes), and model.init loaded all */
    ddad_config_t cfg;
    load_cfg(&cfg, "layout", NULL, 0);
    ddad_model_t m;
    CU_ASSERT_FATAL(ddad_model_create(&m, &cfg, DDAD_MODEL_WITH_EMA) == DDAD_OK);
    ddad_params_t strict;
    CU_ASSERT_FATAL(ddad_params_clone(&strict, &m.params) == DDAD_OK);
    size_t loaded = 0;
    ddad_status_t st = ddad_params_load_h5(&strict, f, "weights", DDAD_PARAMS_STRICT, &loaded);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  strict load: %s\n", ddad_last_error());
    CU_ASSERT_EQUAL(st, DDAD_OK);
    CU_ASSERT_EQUAL(loaded, m.params.n);
    size_t differing = 0;
    for (size_t i = 0; i < m.params.n; i++) {
        size_t n = (size_t)ddad_tensor_numel(m.params.items[i].tensor);
        float *a = host(m.params.items[i].tensor, n), *b = host(strict.items[i].tensor, n),
              *e = host(m.ema_params.items[i].tensor, n);
        differing += memcmp(a, b, n * sizeof *a) != 0 || memcmp(e, b, n * sizeof *e) != 0;
        free(a);
        free(b);
        free(e);
    }
    CU_ASSERT_EQUAL(differing, 0);
    ddad_params_free(&strict);
    ddad_model_free(&m);
    ddad_h5_close(f);
}

static void assert_replay_ok(const replay_t *r)
{
    CU_ASSERT(r->grad.rel <= TOL_GRAD);
    CU_ASSERT(r->n_null <= 8); /* a handful of biases; more means the gradients collapsed */
    CU_ASSERT(r->null_grad <= NULL_GRAD_REL);
    for (int k = 0; k < r->steps; k++) {
        CU_ASSERT(r->loss[k] <= TOL_LOSS);
        CU_ASSERT(r->mse[k] <= TOL_LOSS);
        CU_ASSERT(r->vb[k] <= TOL_LOSS);
        CU_ASSERT(r->feat[k] <= TOL_LOSS);
        CU_ASSERT(fabs(r->lr[k]) <= 1e-12);
        CU_ASSERT(r->weights[k].rel <= 1);
        CU_ASSERT(r->ema[k].rel <= 1);
        CU_ASSERT(r->weights[k].l2 <= TOL_L2);
        CU_ASSERT(r->ema[k].l2 <= TOL_L2_EMA);
        CU_ASSERT(r->n_loose[k] <= r->n_elems / 100);
        CU_ASSERT(r->loose[k] <= 6);
    }
}

static void test_steps_match(void)
{
    replay_t r;
    replay("steps", NULL, 0, STEPS, &r);
    print_replay("ddad vs reference", &r);
    assert_replay_ok(&r);
}

/* The same steps in two micro-batches of two images (train.grad_accum). */
static void test_steps_match_grad_accum(void)
{
    const char *extra[] = {"train.grad_accum=2"};
    replay_t r;
    replay("accum", extra, 1, STEPS, &r);
    print_replay("grad_accum 2 vs reference", &r);
    assert_replay_ok(&r);
}

/* Negative controls: the comparisons see a wrong VB term and a wrong EMA decay. */
static void test_detects_wrong_vb(void)
{
    const char *extra[] = {"train.vlb_weight=0.5"};
    replay_t r;
    replay("wrong_vb", extra, 1, 1, &r);
    print_replay("vlb_weight 0.5 (must disagree)", &r);
    CU_ASSERT(r.loss[0] > 100 * TOL_LOSS);
    CU_ASSERT(r.grad.rel > 10 * TOL_GRAD);
    CU_ASSERT(r.weights[0].rel > 10);
}

static void test_detects_wrong_ema(void)
{
    const char *extra[] = {"train.ema=0.99"};
    replay_t r;
    replay("wrong_ema", extra, 1, 1, &r);
    print_replay("ema 0.99 (must disagree in the EMA only)", &r);
    CU_ASSERT(r.loss[0] <= TOL_LOSS);
    CU_ASSERT(r.weights[0].rel <= 1);
    CU_ASSERT(r.ema[0].rel > 10);
}

/* The hook refuses what it cannot replay. */
static void test_step_batch_checks(void)
{
    setup();
    ddad_config_t cfg;
    load_cfg(&cfg, "checks", NULL, 0);
    ddad_trainer_t *tr = NULL;
    ddad_trainer_opts_t o = ddad_trainer_opts_default();
    CU_ASSERT_FATAL(ddad_trainer_create(&tr, &cfg, &o) == DDAD_OK);
    const size_t n = (size_t)(4 * 3 * 32 * 32);
    float *x = calloc(n, sizeof *x), *noise = calloc(n, sizeof *noise);
    int64_t y[4] = {0, 1, 2, 3}, t[4] = {0, 1, 2, 1000};
    ddad_train_batch_t b = {.x0 = x, .y = y, .t = t, .noise = noise, .target = NULL};
    CU_ASSERT_EQUAL(ddad_trainer_step_batch(tr, &b, NULL), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "t[3] = 1000"));
    t[3] = 999;
    y[0] = 6; /* tiny.yaml: 6 classes */
    CU_ASSERT_EQUAL(ddad_trainer_step_batch(tr, &b, NULL), DDAD_STATUS_USAGE);
    y[0] = 0;
    b.y = NULL;
    CU_ASSERT_EQUAL(ddad_trainer_step_batch(tr, &b, NULL), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_trainer_step_count(tr), 0);
    /* without a target the extractor computes it; the step counts */
    b.y = y;
    ddad_train_stats_t s;
    CU_ASSERT_EQUAL(ddad_trainer_step_batch(tr, &b, &s), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_trainer_step_count(tr), 1);
    CU_ASSERT(isfinite(s.loss) && s.feat > 0);
    free(x);
    free(noise);
    ddad_trainer_free(tr);
}

static void cleanup(void)
{
    if (g_dir)
        ddad_test_rmtree(g_dir);
    free(g_dir);
    g_dir = NULL;
}

int main(void)
{
    static const ddad_test_t tests[] = {
        {"reference generated; its loss maths agree with the fixtures; same parameter layout", test_reference},
        {"three steps: losses, gradients, AdamW weights, EMA agree", test_steps_match},
        {"the same with grad_accum 2", test_steps_match_grad_accum},
        {"a wrong VB weight is detected", test_detects_wrong_vb},
        {"a wrong EMA decay is detected", test_detects_wrong_ema},
        {"ddad_trainer_step_batch checks its inputs", test_step_batch_checks},
        {"cleanup", cleanup},
        {0}};
    if (!ddad_test_have_fixture("diffusion.h5")) { /* the reference trains from the fixtures' settings */
        fputs("\n", stderr);
        return 0;
    }
    return ddad_test_main("nn_train_reference", tests);
}
