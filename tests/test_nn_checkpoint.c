/* tests/test_nn_checkpoint.c - training checkpoints (core/nn/checkpoint.h):
 * bit-exact round trip of weights, EMA, AdamW moments and step, generator
 * state and loader cursor; truncated files and other model sizes give clear
 * errors; *.partial files are ignored; pruning keeps the newest K. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "nn/checkpoint.h"
#include "testutil.h"

static void load_tiny(ddad_config_t *cfg, const char *const *extra, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/configs/tiny.yaml", ddad_test_source_dir());
    ddad_status_t st = ddad_config_load(cfg, path, extra, n);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  %s\n", ddad_last_error());
    CU_ASSERT_FATAL(st == DDAD_OK);
}

static float *host(const ddad_tensor_t *t, size_t *n)
{
    *n = (size_t)ddad_tensor_numel(t);
    float *v = malloc(*n * sizeof *v + 1);
    CU_ASSERT_FATAL(v != NULL);
    CU_ASSERT_FATAL(ddad_to_buffer(t, v, *n * sizeof *v, DDAD_DTYPE_F32) == DDAD_OK);
    return v;
}

static int tensors_equal(const ddad_tensor_t *a, const ddad_tensor_t *b)
{
    size_t na, nb;
    float *x = host(a, &na), *y = host(b, &nb);
    int eq = na == nb && memcmp(x, y, na * sizeof *x) == 0;
    free(x);
    free(y);
    return eq;
}

static ddad_adamw_t *make_opt(ddad_model_t *m)
{
    ddad_tensor_t *ps[512];
    size_t n = ddad_params_trainable(&m->params, ps, 512);
    CU_ASSERT_FATAL(n > 0 && n <= 512);
    ddad_adamw_options_t o = {.lr = 1e-4, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0};
    ddad_adamw_t *opt = NULL;
    CU_ASSERT_FATAL(ddad_adamw_create(&opt, ps, n, o) == DDAD_OK);
    return opt;
}

static void test_round_trip(void)
{
    char *dir = ddad_test_mkdtemp("ckpt");
    ddad_config_t cfg;
    load_tiny(&cfg, NULL, 0);
    ddad_model_t a, b;
    CU_ASSERT_FATAL(ddad_model_create(&a, &cfg, DDAD_MODEL_WITH_EMA) == DDAD_OK);
    ddad_adamw_t *oa = make_opt(&a);
    ddad_generator_t *ga = NULL, *gb = NULL, *gfill = NULL;
    CU_ASSERT_FATAL(ddad_generator_create(&ga, 11, DDAD_CPU) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_generator_create(&gfill, 5, DDAD_CPU) == DDAD_OK);
    /* non-trivial state everywhere: EMA != weights, moments random, generator advanced */
    for (size_t i = 0; i < a.ema_params.n; i++)
        CU_ASSERT(ddad_normal_(a.ema_params.items[i].tensor, 0, 1, gfill) == DDAD_OK);
    size_t n_tr = ddad_params_trainable(&a.params, NULL, 0);
    for (size_t i = 0; i < n_tr; i++) {
        CU_ASSERT(ddad_normal_(ddad_adamw_exp_avg(oa, i), 0, 1, gfill) == DDAD_OK);
        CU_ASSERT(ddad_uniform_(ddad_adamw_exp_avg_sq(oa, i), 0, 1, gfill) == DDAD_OK);
    }
    ddad_adamw_set_step(oa, 37);
    ddad_tensor_t *r = NULL;
    int64_t shape[1] = {1000};
    CU_ASSERT(ddad_randn(&r, shape, 1, DDAD_DTYPE_F32, DDAD_CPU, ga) == DDAD_OK);
    ddad_tensor_free(r);
    ddad_checkpoint_state_t s = {.step = 37, .lr = 3.25e-5, .cursor = {.epoch = 4, .position = 6,
                                                                      .rng = 0xfedcba9876543210ull}};
    char path[4200];
    ddad_checkpoint_path(path, sizeof path, dir, 37);
    CU_ASSERT_PTR_NOT_NULL(strstr(path, "checkpoints/step_0000037.h5"));
    char ckdir[4200];
    snprintf(ckdir, sizeof ckdir, "%s/checkpoints", dir);
    mkdir(ckdir, 0777);
    ddad_status_t st = ddad_checkpoint_save(path, &a, oa, ga, &s);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  save: %s\n", ddad_last_error());
    CU_ASSERT_FATAL(st == DDAD_OK);

    /* a different model (other seed, no init) loads it back exactly */
    const char *other_seed[] = {"seed=123"};
    ddad_config_t cfg2;
    load_tiny(&cfg2, other_seed, 1);
    CU_ASSERT_FATAL(ddad_model_create(&b, &cfg2, DDAD_MODEL_WITH_EMA) == DDAD_OK);
    CU_ASSERT(!tensors_equal(a.params.items[0].tensor, b.params.items[0].tensor)); /* the check can fail */
    ddad_adamw_t *ob = make_opt(&b);
    CU_ASSERT_FATAL(ddad_generator_create(&gb, 999, DDAD_CPU) == DDAD_OK);
    ddad_checkpoint_state_t s2;
    memset(&s2, 0, sizeof s2);
    st = ddad_checkpoint_load(path, &b, ob, gb, &s2);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  load: %s\n", ddad_last_error());
    CU_ASSERT_FATAL(st == DDAD_OK);
    size_t bad = 0;
    for (size_t i = 0; i < a.params.n; i++) {
        bad += !tensors_equal(a.params.items[i].tensor, b.params.items[i].tensor);
        bad += !tensors_equal(a.ema_params.items[i].tensor, b.ema_params.items[i].tensor);
    }
    for (size_t i = 0; i < n_tr; i++) {
        bad += !tensors_equal(ddad_adamw_exp_avg(oa, i), ddad_adamw_exp_avg(ob, i));
        bad += !tensors_equal(ddad_adamw_exp_avg_sq(oa, i), ddad_adamw_exp_avg_sq(ob, i));
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(ddad_adamw_get_step(ob), 37);
    CU_ASSERT_EQUAL(s2.step, 37);
    CU_ASSERT_EQUAL(s2.lr, 3.25e-5);
    CU_ASSERT_EQUAL(s2.cursor.epoch, 4);
    CU_ASSERT_EQUAL(s2.cursor.position, 6);
    CU_ASSERT(s2.cursor.rng == 0xfedcba9876543210ull);
    /* the generators continue identically */
    ddad_tensor_t *ra = NULL, *rb = NULL;
    CU_ASSERT(ddad_randn(&ra, shape, 1, DDAD_DTYPE_F32, DDAD_CPU, ga) == DDAD_OK);
    CU_ASSERT(ddad_randn(&rb, shape, 1, DDAD_DTYPE_F32, DDAD_CPU, gb) == DDAD_OK);
    CU_ASSERT(tensors_equal(ra, rb));
    ddad_tensor_free(ra);
    ddad_tensor_free(rb);
    /* the stored config reads back equal */
    ddad_config_t cfg3;
    CU_ASSERT_EQUAL(ddad_checkpoint_read_config(path, &cfg3), DDAD_OK);
    CU_ASSERT_EQUAL(cfg3.model.channels, cfg.model.channels);
    CU_ASSERT_EQUAL(cfg3.data.image_size, 32);

    /* a scoring-only model holds the EMA weights alone: they load exactly,
     * and it refuses to resume training or to be saved */
    ddad_model_t sc;
    CU_ASSERT_FATAL(ddad_model_create(&sc, &cfg2, DDAD_MODEL_SCORING_ONLY | DDAD_MODEL_NO_INIT) == DDAD_OK);
    CU_ASSERT(!sc.has_weights && sc.has_ema);
    CU_ASSERT_EQUAL(sc.params.n, 0);
    CU_ASSERT_EQUAL(sc.ema_params.n, a.ema_params.n);
    CU_ASSERT_EQUAL(ddad_params_numel(&sc.ema_params, false), ddad_params_numel(&a.ema_params, false));
    CU_ASSERT_EQUAL_FATAL(ddad_checkpoint_load(path, &sc, NULL, NULL, NULL), DDAD_OK);
    size_t bad_ema = 0;
    for (size_t i = 0; i < a.ema_params.n; i++)
        bad_ema += !tensors_equal(a.ema_params.items[i].tensor, sc.ema_params.items[i].tensor);
    CU_ASSERT_EQUAL(bad_ema, 0);
    CU_ASSERT_EQUAL(ddad_checkpoint_load(path, &sc, ob, NULL, NULL), DDAD_STATUS_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "scoring"));
    char sc_path[4300];
    snprintf(sc_path, sizeof sc_path, "%s/checkpoints/step_0000099.h5", dir);
    CU_ASSERT_EQUAL(ddad_checkpoint_save(sc_path, &sc, NULL, NULL, &s), DDAD_STATUS_USAGE);
    CU_ASSERT(access(sc_path, F_OK) != 0);
    ddad_model_free(&sc);

    /* truncated: a clear error naming the file, the model is not half-loaded silently */
    char trunc[4300];
    snprintf(trunc, sizeof trunc, "%s/checkpoints/step_0000038.h5", dir);
    CU_ASSERT_FATAL(ddad_test_system("head -c 20000 '%s' > '%s'", path, trunc) == 0);
    st = ddad_checkpoint_load(trunc, &b, ob, gb, &s2);
    fprintf(stderr, "\n  truncated: %s\n", ddad_last_error());
    CU_ASSERT(st == DDAD_STATUS_DATA || st == DDAD_STATUS_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), trunc));
    unlink(trunc);
    /* not a checkpoint at all */
    CU_ASSERT_FATAL(ddad_test_system("echo hello > '%s'", trunc) == 0);
    st = ddad_checkpoint_load(trunc, &b, NULL, NULL, NULL);
    CU_ASSERT(st == DDAD_STATUS_DATA || st == DDAD_STATUS_IO);
    unlink(trunc);

    ddad_adamw_free(oa);
    ddad_adamw_free(ob);
    ddad_generator_free(ga);
    ddad_generator_free(gb);
    ddad_generator_free(gfill);
    ddad_model_free(&a);
    ddad_model_free(&b);
    ddad_test_rmtree(dir);
    free(dir);
}

static void test_other_model_size(void)
{
    char *dir = ddad_test_mkdtemp("ckpt_size");
    ddad_config_t cfg, big;
    load_tiny(&cfg, NULL, 0);
    const char *wide[] = {"model.channels=64", "model.head_channels=64"};
    load_tiny(&big, wide, 2);
    ddad_model_t a, b;
    CU_ASSERT_FATAL(ddad_model_create(&a, &cfg, 0) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_model_create(&b, &big, DDAD_MODEL_NO_INIT) == DDAD_OK);
    char path[4200];
    snprintf(path, sizeof path, "%s/small.h5", dir);
    ddad_checkpoint_state_t s;
    memset(&s, 0, sizeof s);
    CU_ASSERT_FATAL(ddad_checkpoint_save(path, &a, NULL, NULL, &s) == DDAD_OK);
    ddad_status_t st = ddad_checkpoint_load(path, &b, NULL, NULL, NULL);
    const char *msg = ddad_last_error();
    fprintf(stderr, "\n  other size: %s\n", msg);
    CU_ASSERT_NOT_EQUAL(st, DDAD_OK);
    /* names the parameter and both shapes */
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "'time_embed.0.weight'")); /* the first tensor in state_dict order */
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "(128, 32)"));               /* in the file  */
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "(256, 64)"));               /* in the model */
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "small.h5"));
    ddad_model_free(&a);
    ddad_model_free(&b);
    ddad_test_rmtree(dir);
    free(dir);
}

static void touch(const char *dir, const char *name)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/checkpoints/%s", dir, name);
    FILE *f = fopen(p, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("x", f);
    fclose(f);
}

static int exists(const char *dir, const char *name)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/checkpoints/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void test_latest_and_prune(void)
{
    char *dir = ddad_test_mkdtemp("ckpt_list");
    char buf[4300];
    CU_ASSERT_EQUAL(ddad_checkpoint_latest(dir, buf, sizeof buf), DDAD_STATUS_DATA); /* none yet */
    snprintf(buf, sizeof buf, "%s/checkpoints", dir);
    mkdir(buf, 0777);
    touch(dir, "step_0000010.h5");
    touch(dir, "step_0000002.h5");
    touch(dir, "step_0000030.h5");
    touch(dir, "step_0000020.h5");
    touch(dir, "step_0000040.h5.partial"); /* an interrupted write */
    touch(dir, "notes.txt");
    CU_ASSERT_EQUAL(ddad_checkpoint_latest(dir, buf, sizeof buf), DDAD_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "step_0000030.h5"));
    CU_ASSERT_PTR_NULL(strstr(buf, "partial"));
    CU_ASSERT_EQUAL(ddad_checkpoint_prune(dir, 2), DDAD_OK);
    CU_ASSERT(!exists(dir, "step_0000002.h5"));
    CU_ASSERT(!exists(dir, "step_0000010.h5"));
    CU_ASSERT(exists(dir, "step_0000020.h5"));
    CU_ASSERT(exists(dir, "step_0000030.h5"));
    CU_ASSERT(exists(dir, "notes.txt"));
    CU_ASSERT_EQUAL(ddad_checkpoint_prune(dir, 1), DDAD_OK);
    CU_ASSERT(!exists(dir, "step_0000020.h5"));
    CU_ASSERT(exists(dir, "step_0000030.h5"));
    ddad_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"round trip is bit-exact", test_round_trip},
                                        {"other model size is refused by name and shape", test_other_model_size},
                                        {"latest ignores partial files, prune keeps K", test_latest_and_prune},
                                        {0}};
    return ddad_test_main("nn_checkpoint", tests);
}
