/* tests/test_nn_train_memory.c - the two ways of training in less memory:
 * activation checkpointing (ddad_checkpoint in the shim, the UNet's
 * use_checkpoint, train.checkpointing) and gradient accumulation
 * (train.grad_accum). Both must give the gradients and weights of plain
 * full-batch training, to float rounding. Tiny models (configs/tiny.yaml,
 * 32 px) on a few synthetic images. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "nn/trainer.h"
#include "nn/unet.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------ */

static float *to_host(const ddad_tensor_t *t, size_t *n)
{
    *n = (size_t)ddad_tensor_numel(t);
    float *b = malloc((*n ? *n : 1) * sizeof *b);
    CU_ASSERT_FATAL(b != NULL);
    CU_ASSERT_FATAL(ddad_to_buffer(t, b, *n * sizeof *b, DDAD_DTYPE_F32) == DDAD_OK);
    return b;
}

/* Asserts |a - b| <= rel * max|b| + abs_floor elementwise; returns max|a - b| / max|b|. */
static double compare(const char *what, const ddad_tensor_t *a, const ddad_tensor_t *b, double rel, double abs_floor)
{
    size_t na, nb;
    float *x = to_host(a, &na), *y = to_host(b, &nb);
    CU_ASSERT_EQUAL_FATAL(na, nb);
    DDAD_ASSERT_CLOSE(what, x, y, na, rel, abs_floor);
    double m = ddad_test_max_abs(y, nb), d = ddad_test_max_abs_diff(x, y, na);
    free(x);
    free(y);
    return m > 0 ? d / m : d;
}

static ddad_tensor_t *randn(const int64_t *shape, int nd, ddad_generator_t *g)
{
    ddad_tensor_t *t = NULL;
    CU_ASSERT_FATAL(ddad_randn(&t, shape, nd, DDAD_DTYPE_F32, DDAD_CPU, g) == DDAD_OK);
    return t;
}

/* The gradient of t (a copy, owned by the caller); fails when there is none. */
static ddad_tensor_t *grad_of(const ddad_tensor_t *t)
{
    ddad_tensor_t *g = NULL, *c = NULL;
    CU_ASSERT_FATAL(ddad_grad(&g, t) == DDAD_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_FATAL(ddad_clone(&c, g) == DDAD_OK);
    ddad_tensor_free(g);
    return c;
}

/* ---- ddad_checkpoint in the shim ------------------------------------------------- */

typedef struct toy {
    const ddad_tensor_t *w, *b; /* (4, 6), (4) */
    int calls;                  /* times fn ran                     */
    int fail_on;                /* > 0: this call fails with NOMEM  */
} toy_t;

/* y = silu(x0 W^T + b) * x1 */
static ddad_status_t toy_fn(void *user, const ddad_tensor_t *const *in, size_t n_in, ddad_tensor_t **out)
{
    toy_t *c = user;
    CU_ASSERT_EQUAL(n_in, 2);
    if (++c->calls == c->fail_on)
        return ddad_fail(DDAD_STATUS_NOMEM, "toy function gives up on call %d", c->calls);
    size_t mark = ddad_scope_begin();
    ddad_status_t st = DDAD_OK;
    ddad_tensor_t *h, *y;
    DDAD_TRY(ddad_linear(&h, in[0], c->w, c->b));
    DDAD_TRY(ddad_silu(&h, h));
    DDAD_TRY(ddad_mul(&y, h, in[1]));
    *out = ddad_tensor_keep(y);
fail:
    ddad_scope_end(mark);
    return st;
}

static ddad_tensor_t *sq_mean(const ddad_tensor_t *y)
{
    ddad_tensor_t *s = NULL, *m = NULL;
    CU_ASSERT_FATAL(ddad_mul(&s, y, y) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_mean(&m, s) == DDAD_OK);
    ddad_tensor_free(s);
    return m;
}

static void test_checkpoint_shim(void)
{
    size_t live0 = ddad_tensor_live_count();
    ddad_generator_t *g = NULL;
    CU_ASSERT_FATAL(ddad_generator_create(&g, 7, DDAD_CPU) == DDAD_OK);
    const int64_t xs[2] = {5, 6}, ys[2] = {5, 4}, ws[2] = {4, 6}, bs[1] = {4};
    ddad_tensor_t *x0 = randn(xs, 2, g), *x1 = randn(ys, 2, g), *w = randn(ws, 2, g), *b = randn(bs, 1, g);
    ddad_tensor_t *params[2] = {w, b};
    for (int i = 0; i < 2; i++)
        CU_ASSERT_FATAL(ddad_set_requires_grad(params[i], true) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_set_requires_grad(x0, true) == DDAD_OK);
    const ddad_tensor_t *in[2] = {x0, x1}; /* x1 needs no gradient */
    toy_t c = {w, b, 0, 0};

    /* plain */
    ddad_tensor_t *y_ref = NULL;
    CU_ASSERT_FATAL(toy_fn(&c, in, 2, &y_ref) == DDAD_OK);
    ddad_tensor_t *l_ref = sq_mean(y_ref);
    CU_ASSERT_FATAL(ddad_backward(l_ref) == DDAD_OK);
    ddad_tensor_t *gx = grad_of(x0), *gw = grad_of(w), *gb = grad_of(b);
    ddad_zero_grad(x0);
    ddad_zero_grad(w);
    ddad_zero_grad(b);

    /* checkpointed: fn once in the forward pass, once more in backward */
    c.calls = 0;
    ddad_tensor_t *y = NULL;
    CU_ASSERT_FATAL(ddad_checkpoint(&y, toy_fn, &c, in, 2, params, 2) == DDAD_OK);
    CU_ASSERT_EQUAL(c.calls, 1);
    CU_ASSERT(ddad_requires_grad(y));
    compare("checkpointed output", y, y_ref, 0, 0);
    ddad_tensor_t *l = sq_mean(y);
    CU_ASSERT_EQUAL(c.calls, 1);
    CU_ASSERT_FATAL(ddad_backward(l) == DDAD_OK);
    CU_ASSERT_EQUAL(c.calls, 2);
    ddad_tensor_t *cx = grad_of(x0), *cw = grad_of(w), *cb = grad_of(b);
    compare("grad x0", cx, gx, 1e-6, 0);
    compare("grad w", cw, gw, 1e-6, 0);
    compare("grad b", cb, gb, 1e-6, 0);
    ddad_tensor_t *g1 = NULL;
    CU_ASSERT_EQUAL(ddad_grad(&g1, x1), DDAD_OK);
    CU_ASSERT_PTR_NULL(g1);
    ddad_tensor_free(cx);
    ddad_tensor_free(cw);
    ddad_tensor_free(cb);
    ddad_tensor_free(y);
    ddad_tensor_free(l);

    /* only the parameters need gradients (the UNet's first block): they get them */
    ddad_zero_grad(x0);
    ddad_zero_grad(w);
    ddad_zero_grad(b);
    CU_ASSERT_FATAL(ddad_set_requires_grad(x0, false) == DDAD_OK);
    c.calls = 0;
    CU_ASSERT_FATAL(ddad_checkpoint(&y, toy_fn, &c, in, 2, params, 2) == DDAD_OK);
    l = sq_mean(y);
    CU_ASSERT_FATAL(ddad_backward(l) == DDAD_OK);
    CU_ASSERT_EQUAL(c.calls, 2);
    cw = grad_of(w);
    compare("grad w (input without grad)", cw, gw, 1e-6, 0);
    ddad_tensor_free(cw);
    ddad_tensor_free(y);
    ddad_tensor_free(l);
    ddad_zero_grad(w);
    ddad_zero_grad(b);

    /* grad mode off: a plain call */
    bool was = ddad_grad_set_enabled(false);
    c.calls = 0;
    CU_ASSERT_FATAL(ddad_checkpoint(&y, toy_fn, &c, in, 2, params, 2) == DDAD_OK);
    CU_ASSERT_EQUAL(c.calls, 1);
    CU_ASSERT_FALSE(ddad_requires_grad(y));
    ddad_tensor_free(y);
    ddad_grad_set_enabled(was);

    /* failures keep fn's status and message: in the forward pass ... */
    c.calls = 0;
    c.fail_on = 1;
    y = NULL;
    CU_ASSERT_EQUAL(ddad_checkpoint(&y, toy_fn, &c, in, 2, params, 2), DDAD_STATUS_NOMEM);
    CU_ASSERT_PTR_NULL(y);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "gives up on call 1"));
    /* ... and in the recomputation during backward */
    c.calls = 0;
    c.fail_on = 2;
    CU_ASSERT_FATAL(ddad_checkpoint(&y, toy_fn, &c, in, 2, params, 2) == DDAD_OK);
    l = sq_mean(y);
    CU_ASSERT_EQUAL(ddad_backward(l), DDAD_STATUS_NOMEM);
    fprintf(stderr, "\n  %s\n", ddad_last_error());
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "gives up on call 2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "checkpointed"));
    ddad_tensor_free(y);
    ddad_tensor_free(l);

    ddad_tensor_free(gx);
    ddad_tensor_free(gw);
    ddad_tensor_free(gb);
    ddad_tensor_free(l_ref);
    ddad_tensor_free(y_ref);
    ddad_tensor_free(x0);
    ddad_tensor_free(x1);
    ddad_tensor_free(w);
    ddad_tensor_free(b);
    ddad_generator_free(g);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live0); /* no handle of the callbacks left behind */
}

/* ---- the UNet with use_checkpoint ----------------------------------------------- */

/* The UNet of configs/tiny.yaml (32 px, levels 32/16 px, attention at 16). */
static void tiny_options(ddad_unet_options_t *o)
{
    ddad_unet_options_paper(o);
    o->image_size = 32;
    o->model_channels = 32;
    o->num_res_blocks = 1;
    o->n_channel_mult = 2;
    o->channel_mult[0] = 1;
    o->channel_mult[1] = 2;
    o->n_attention_resolutions = 1;
    o->attention_resolutions[0] = 16;
    o->num_head_channels = 32;
    o->num_classes = 6;
    o->feature_tap = 0;
    o->init_seed = 3;
}

static void test_unet_checkpoint_grads(void)
{
    ddad_unet_options_t opt;
    tiny_options(&opt);
    ddad_params_t P;
    ddad_params_init(&P, DDAD_CPU);
    ddad_unet_t u;
    CU_ASSERT_FATAL(ddad_unet_init(&u, &opt, &P) == DDAD_OK);
    ddad_generator_t *g = NULL;
    CU_ASSERT_FATAL(ddad_generator_create(&g, 11, DDAD_CPU) == DDAD_OK);
    /* guided-diffusion zero-initialises the last conv of every residual
     * branch: perturb every weight so that every gradient is non-zero */
    for (size_t i = 0; i < P.n; i++) {
        int64_t shape[DDAD_MAX_DIMS];
        int nd = ddad_tensor_shape(P.items[i].tensor, shape, DDAD_MAX_DIMS);
        ddad_tensor_t *r = randn(shape, nd, g);
        CU_ASSERT_FATAL(ddad_add_scaled_(P.items[i].tensor, r, 0.05) == DDAD_OK);
        ddad_tensor_free(r);
    }
    CU_ASSERT_FATAL(ddad_params_set_requires_grad(&P, true) == DDAD_OK);
    const int64_t xs[4] = {2, 3, 32, 32};
    ddad_tensor_t *x = randn(xs, 4, g), *t = NULL, *y = NULL;
    const int64_t tv[2] = {17, 640}, yv[2] = {1, 4}, n2 = 2;
    CU_ASSERT_FATAL(ddad_from_buffer(&t, tv, &n2, 1, DDAD_DTYPE_I64) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_from_buffer(&y, yv, &n2, 1, DDAD_DTYPE_I64) == DDAD_OK);

    ddad_tensor_t *out[2], *feat[2], *loss[2], **grads[2];
    for (int k = 0; k < 2; k++) { /* 0 plain, 1 checkpointed */
        u.opt.use_checkpoint = k == 1;
        CU_ASSERT_FATAL(ddad_unet_forward(&u, x, t, y, 8, &out[k], &feat[k]) == DDAD_OK);
        ddad_tensor_t *a = sq_mean(out[k]), *b = sq_mean(feat[k]);
        CU_ASSERT_FATAL(ddad_add(&loss[k], a, b) == DDAD_OK);
        ddad_tensor_free(a);
        ddad_tensor_free(b);
        CU_ASSERT_FATAL(ddad_backward(loss[k]) == DDAD_OK);
        grads[k] = calloc(P.n, sizeof *grads[k]);
        for (size_t i = 0; i < P.n; i++) {
            grads[k][i] = grad_of(P.items[i].tensor);
            ddad_zero_grad(P.items[i].tensor);
        }
    }
    compare("output", out[1], out[0], 0, 0);
    compare("feature head", feat[1], feat[0], 0, 0);
    compare("loss", loss[1], loss[0], 0, 0);
    /* every gradient, to the rounding of a different summation order: 1e-5
     * of each tensor's largest gradient, plus 1e-6 of the model's largest
     * for the conv biases right before a GroupNorm (exact gradient 0, so
     * theirs are rounding noise) */
    double global = 0, worst = 0, worst_abs = 0;
    size_t zero = 0;
    float *mx = calloc(P.n, sizeof *mx);
    for (size_t i = 0; i < P.n; i++) {
        size_t n;
        float *h = to_host(grads[0][i], &n);
        mx[i] = (float)ddad_test_max_abs(h, n);
        global = mx[i] > global ? mx[i] : global;
        zero += mx[i] == 0;
        free(h);
    }
    for (size_t i = 0; i < P.n; i++) {
        double r = compare(P.items[i].name, grads[1][i], grads[0][i], 1e-5, 1e-6 * global);
        if (mx[i] > 1e-3 * global)
            worst = r > worst ? r : worst;
        worst_abs = r * mx[i] / global > worst_abs ? r * mx[i] / global : worst_abs;
    }
    fprintf(stderr, "\n  %zu parameter tensors: gradients differ by at most %.3g of the tensor's largest (tensors "
            "above 1e-3 of the model's largest), %.3g of the model's largest\n", P.n, worst, worst_abs);
    CU_ASSERT_EQUAL(zero, 0); /* the comparison is not between zeros */
    free(mx);
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < P.n; i++)
            ddad_tensor_free(grads[k][i]);
        free(grads[k]);
        ddad_tensor_free(out[k]);
        ddad_tensor_free(feat[k]);
        ddad_tensor_free(loss[k]);
    }
    ddad_tensor_free(x);
    ddad_tensor_free(t);
    ddad_tensor_free(y);
    ddad_generator_free(g);
    ddad_unet_free(&u);
    ddad_params_free(&P);
}

/* ---- the trainer: grad_accum and checkpointing ---------------------------------- */

static char *tmp_root;
static char data_root[4096];

static void make_data(void)
{
    if (tmp_root)
        return;
    tmp_root = ddad_test_mkdtemp("train_memory");
    snprintf(data_root, sizeof data_root, "%s/synthetic", tmp_root);
    CU_ASSERT_FATAL(ddad_test_synth(data_root, "woven", 32, 8, 1, 1) == 0);
}

/* tiny.yaml on the generated data, batch 4, constant lr 1e-3, 3 steps. */
static void load_cfg(ddad_config_t *cfg, const char *tag, int accum, bool checkpointing)
{
    make_data();
    char path[4096], root_set[4200], dir_set[4200], name_set[300], accum_set[64], ckpt_set[64];
    snprintf(path, sizeof path, "%s/configs/tiny.yaml", ddad_test_source_dir());
    snprintf(root_set, sizeof root_set, "data.root=%s", data_root);
    snprintf(dir_set, sizeof dir_set, "run.dir=%s/runs", tmp_root);
    snprintf(name_set, sizeof name_set, "run.name=%s", tag);
    snprintf(accum_set, sizeof accum_set, "train.grad_accum=%d", accum);
    snprintf(ckpt_set, sizeof ckpt_set, "train.checkpointing=%s", checkpointing ? "true" : "false");
    const char *sets[] = {root_set, dir_set, name_set, "threads=1", "train.batch_size=4", "train.iterations=3",
                          "train.lr=1e-3" /* LR */, "train.lr_decay=constant", "train.ema=0.5", accum_set, ckpt_set};
    ddad_status_t st = ddad_config_load(cfg, path, sets, sizeof sets / sizeof sets[0]);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  config: %s\n", ddad_last_error());
    CU_ASSERT_FATAL(st == DDAD_OK);
    ddad_runtime_setup(cfg);
}

static ddad_trainer_t *make_trainer(const char *tag, int accum, bool checkpointing)
{
    ddad_config_t cfg;
    load_cfg(&cfg, tag, accum, checkpointing);
    ddad_trainer_opts_t o = ddad_trainer_opts_default();
    ddad_trainer_t *tr = NULL;
    ddad_status_t st = ddad_trainer_create(&tr, &cfg, &o);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  create %s: %s\n", tag, ddad_last_error());
    CU_ASSERT_FATAL(st == DDAD_OK);
    return tr;
}

/* Tolerances. Gradients of the first step (same weights on both sides):
 * the rounding of summing micro-batches or recomputed blocks in another
 * order, GRAD_REL of each tensor's largest gradient, plus GRAD_FLOOR of the
 * largest gradient of the model for the few tensors whose exact gradient is
 * 0 (conv biases right before a GroupNorm: their gradients are rounding
 * noise). AdamW turns even such noise into a step of up to lr per element,
 * so the weights drift apart by a fraction of lr after that: weights and
 * EMA must agree to WEIGHT_LR * lr (absolute; measured: at most 0.13 lr
 * after 3 steps), losses to LOSS_REL. A second optimizer update per step
 * (about lr more) or a gradient scaled by grad_accum is outside these. */
#define GRAD_REL 1e-4
#define GRAD_FLOOR 1e-6
#define WEIGHT_LR 0.5
#define LOSS_REL 1e-5
#define LR 1e-3

typedef struct worst {
    double grad, weight, ema, loss; /* gradients: of the model's largest; weights, EMA: in units of lr */
} worst_t;

static double max_abs_diff(const ddad_tensor_t *a, const ddad_tensor_t *b, double *max_b)
{
    size_t na, nb;
    float *x = to_host(a, &na), *y = to_host(b, &nb);
    CU_ASSERT_EQUAL_FATAL(na, nb);
    double d = ddad_test_max_abs_diff(x, y, na);
    if (max_b)
        *max_b = ddad_test_max_abs(y, nb);
    free(x);
    free(y);
    return d;
}

/* Compares the gradients of b's parameters with those of the reference a,
 * each against GRAD_REL of its largest plus GRAD_FLOOR of the model's largest. */
static double compare_grads(const char *what, const ddad_params_t *a, const ddad_params_t *b)
{
    CU_ASSERT_EQUAL_FATAL(a->n, b->n);
    double global = 0, worst = 0;
    for (size_t i = 0; i < a->n; i++) {
        ddad_tensor_t *g = grad_of(a->items[i].tensor);
        size_t n;
        float *h = to_host(g, &n);
        double m = ddad_test_max_abs(h, n);
        global = m > global ? m : global;
        free(h);
        ddad_tensor_free(g);
    }
    char name[512];
    for (size_t i = 0; i < a->n; i++) {
        ddad_tensor_t *ga = grad_of(a->items[i].tensor), *gb = grad_of(b->items[i].tensor);
        snprintf(name, sizeof name, "%s: gradient of %s", what, a->items[i].name);
        compare(name, gb, ga, GRAD_REL, GRAD_FLOOR * global);
        double d = max_abs_diff(gb, ga, NULL) / global;
        worst = d > worst ? d : worst;
        ddad_tensor_free(ga);
        ddad_tensor_free(gb);
    }
    return worst;
}

/* Weights and EMA of b against a, to WEIGHT_LR * lr. */
static void compare_weights(const char *what, ddad_trainer_t *a, ddad_trainer_t *b, worst_t *w)
{
    const ddad_model_t *ma = ddad_trainer_model(a), *mb = ddad_trainer_model(b);
    CU_ASSERT_EQUAL_FATAL(ma->params.n, mb->params.n);
    char name[512];
    for (size_t i = 0; i < ma->params.n; i++) {
        snprintf(name, sizeof name, "%s: weight %s", what, ma->params.items[i].name);
        compare(name, mb->params.items[i].tensor, ma->params.items[i].tensor, 0, WEIGHT_LR * LR);
        double d = max_abs_diff(mb->params.items[i].tensor, ma->params.items[i].tensor, NULL) / LR;
        w->weight = d > w->weight ? d : w->weight;
        snprintf(name, sizeof name, "%s: EMA %s", what, ma->params.items[i].name);
        compare(name, mb->ema_params.items[i].tensor, ma->ema_params.items[i].tensor, 0, WEIGHT_LR * LR);
        d = max_abs_diff(mb->ema_params.items[i].tensor, ma->ema_params.items[i].tensor, NULL) / LR;
        w->ema = d > w->ema ? d : w->ema;
    }
}

/* Steps the reference and the others together, comparing after each step:
 * losses always, gradients after the first (from equal weights), weights
 * and EMA after each. */
static void train_alike(ddad_trainer_t *ref, ddad_trainer_t **others, const char *const *names, int n_others)
{
    worst_t w[4];
    memset(w, 0, sizeof w);
    for (int step = 1; step <= 3; step++) {
        ddad_train_stats_t s_ref;
        CU_ASSERT_FATAL(ddad_trainer_step(ref, &s_ref) == DDAD_OK);
        for (int k = 0; k < n_others; k++) {
            ddad_train_stats_t s;
            ddad_status_t st = ddad_trainer_step(others[k], &s);
            if (st != DDAD_OK)
                fprintf(stderr, "\n  %s: %s\n", names[k], ddad_last_error());
            CU_ASSERT_FATAL(st == DDAD_OK);
            CU_ASSERT_EQUAL(s.step, step); /* a step is one optimizer step, whatever the micro-batches */
            CU_ASSERT_EQUAL(ddad_trainer_step_count(others[k]), step);
            double dl = fabs(s.loss - s_ref.loss) / fabs(s_ref.loss);
            w[k].loss = dl > w[k].loss ? dl : w[k].loss;
            CU_ASSERT(dl <= LOSS_REL);
            CU_ASSERT(fabs(s.mse - s_ref.mse) <= LOSS_REL * fabs(s_ref.mse));
            CU_ASSERT(fabs(s.vb - s_ref.vb) <= LOSS_REL * fabs(s_ref.vb));
            CU_ASSERT(fabs(s.feat - s_ref.feat) <= LOSS_REL * fabs(s_ref.feat));
            if (step == 1)
                w[k].grad = compare_grads(names[k], &ddad_trainer_model(ref)->params,
                                          &ddad_trainer_model(others[k])->params);
            compare_weights(names[k], ref, others[k], &w[k]);
        }
    }
    for (int k = 0; k < n_others; k++)
        fprintf(stderr, "\n  %s vs the plain full batch: losses (3 steps) %.2g relative; gradients (step 1) %.2g "
                "of the largest; weights %.2g lr, EMA %.2g lr (3 steps)", names[k], w[k].loss, w[k].grad,
                w[k].weight, w[k].ema);
    fprintf(stderr, "\n");
}

/* The tolerances can fail: in three steps most weights moved by more than
 * 2 WEIGHT_LR lr = one AdamW step. */
static void check_weights_moved(ddad_trainer_t *tr, const ddad_model_t *fresh)
{
    const ddad_model_t *m = ddad_trainer_model(tr);
    size_t moved = 0;
    for (size_t i = 0; i < m->params.n; i++)
        moved += max_abs_diff(m->params.items[i].tensor, fresh->params.items[i].tensor, NULL) > 2 * WEIGHT_LR * LR;
    fprintf(stderr, "  %zu of %zu weight tensors moved by more than %g (3 steps at lr %g)\n", moved, m->params.n,
            2 * WEIGHT_LR * LR, LR);
    CU_ASSERT(moved > m->params.n / 2);
}

static void test_grad_accum(void)
{
    ddad_trainer_t *ref = make_trainer("accum1", 1, false);
    ddad_trainer_t *o[2] = {make_trainer("accum2", 2, false), make_trainer("accum4", 4, false)};
    const char *names[2] = {"grad_accum 2", "grad_accum 4"};
    train_alike(ref, o, names, 2);

    /* the comparison can fail: the full-batch gradient is not the mean of
     * the micro-batch gradients scaled by 1 (the bug it guards against) */
    const ddad_model_t *ma = ddad_trainer_model(ref), *mb = ddad_trainer_model(o[0]);
    ddad_tensor_t *ga = grad_of(ma->params.items[0].tensor), *gb = grad_of(mb->params.items[0].tensor), *g2;
    CU_ASSERT_FATAL(ddad_mul_scalar(&g2, gb, 2.0) == DDAD_OK);
    size_t n;
    float *x = to_host(g2, &n), *y = to_host(ga, &n);
    CU_ASSERT(ddad_test_max_abs_diff(x, y, n) > 0.1 * ddad_test_max_abs(y, n));
    free(x);
    free(y);
    ddad_tensor_free(ga);
    ddad_tensor_free(gb);
    ddad_tensor_free(g2);

    ddad_config_t cfg;
    load_cfg(&cfg, "fresh", 1, false);
    ddad_model_t fresh;
    CU_ASSERT_FATAL(ddad_model_create(&fresh, &cfg, 0) == DDAD_OK);
    check_weights_moved(ref, &fresh);
    ddad_model_free(&fresh);
    ddad_trainer_free(ref);
    ddad_trainer_free(o[0]);
    ddad_trainer_free(o[1]);
}

static void test_checkpointing_trainer(void)
{
    ddad_trainer_t *ref = make_trainer("plain", 1, false);
    ddad_trainer_t *o[2] = {make_trainer("ckpt", 1, true), make_trainer("ckpt_accum2", 2, true)};
    CU_ASSERT(ddad_trainer_model(o[0])->unet.opt.use_checkpoint);
    CU_ASSERT_FALSE(ddad_trainer_model(ref)->unet.opt.use_checkpoint);
    const char *names[2] = {"checkpointing", "checkpointing + grad_accum 2"};
    train_alike(ref, o, names, 2);
    ddad_trainer_free(ref);
    ddad_trainer_free(o[0]);
    ddad_trainer_free(o[1]);
}

static void test_refuses_bad_accum(void)
{
    ddad_config_t cfg;
    load_cfg(&cfg, "bad_accum", 1, false);
    ddad_trainer_opts_t o = ddad_trainer_opts_default();
    o.dry_run = true;
    ddad_trainer_t *tr = NULL;
    /* the file and --set are checked by ddad_config_load (tests/test_config.c);
     * a config struct set in code is checked by the trainer */
    cfg.train.grad_accum = 3; /* batch 4 */
    CU_ASSERT_EQUAL(ddad_trainer_create(&tr, &cfg, &o), DDAD_STATUS_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "train.grad_accum 3 does not divide the 4 images"));
    CU_ASSERT_PTR_NULL(tr);
    cfg.train.grad_accum = 0;
    CU_ASSERT_EQUAL(ddad_trainer_create(&tr, &cfg, &o), DDAD_STATUS_CONFIG);
    CU_ASSERT_PTR_NULL(tr);
    const char *bad[] = {"train.batch_size=6", "train.grad_accum=4"};
    CU_ASSERT_EQUAL(ddad_config_load(&cfg, NULL, bad, 2), DDAD_STATUS_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "train.grad_accum = 4 does not divide train.batch_size = 6"));
    const char *zero[] = {"train.grad_accum=0"};
    CU_ASSERT_EQUAL(ddad_config_load(&cfg, NULL, zero, 1), DDAD_STATUS_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "train.grad_accum"));
}

static void cleanup(void)
{
    if (tmp_root)
        ddad_test_rmtree(tmp_root);
    free(tmp_root);
    tmp_root = NULL;
}

int main(void)
{
    static const ddad_test_t tests[] = {
        {"ddad_checkpoint: recomputed in backward, same gradients, errors kept", test_checkpoint_shim},
        {"UNet use_checkpoint: same output, loss and gradients", test_unet_checkpoint_grads},
        {"grad_accum 2 and 4: the full batch's gradients, weights and EMA", test_grad_accum},
        {"train.checkpointing: the plain run's gradients, weights and EMA", test_checkpointing_trainer},
        {"grad_accum that does not divide the batch is refused", test_refuses_bad_accum},
        {"cleanup", cleanup},
        {0}};
    return ddad_test_main("nn_train_memory", tests);
}
