/* tests/test_config.c - the YAML configuration: defaults equal the paper's
 * setting (METHOD.md), every kind of error carries file:line:col and the key,
 * base chains and --set apply in order, every shipped config loads, the key
 * reference in docs/ is current, and YAML output reads back to an equal config.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------ */

static char *g_dir; /* temporary folder for the files written by the tests */

static const char *tmp_path(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static void write_file(const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    char *slash = strrchr(path, '/');
    if (slash && slash > path + strlen(g_dir)) {
        *slash = '\0';
        ddad_test_system("mkdir -p '%s'", path);
        *slash = '/';
    }
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

/* Asserts that msg contains every NULL-terminated needle; prints it if not. */
static void expect_msg(const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *)) {
        if (!strstr(msg, s))
            fprintf(stderr, "\n  message \"%s\"\n  lacks \"%s\"\n", msg, s);
        CU_ASSERT_PTR_NOT_NULL(strstr(msg, s));
    }
    va_end(ap);
}

/* Loads text as file `name` in the temp folder; expects a config error whose
 * message contains all needles. */
#define EXPECT_FILE_ERROR(name, text, ...)                                        \
    do {                                                                          \
        ddad_config_t c_;                                                         \
        write_file(name, text);                                                   \
        ddad_status_t st_ = ddad_config_load(&c_, tmp_path(name), NULL, 0);       \
        CU_ASSERT_EQUAL(st_, DDAD_STATUS_CONFIG);                                 \
        expect_msg(ddad_last_error(), __VA_ARGS__, (const char *)NULL);           \
    } while (0)

static int collect(const char *path, const char *value, void *user)
{
    FILE *f = user;
    fprintf(f, "%s=%s\n", path, value);
    return 0;
}

/* All keys as "path=value" lines (the text form is exact: doubles are
 * printed with the shortest text that reads back to the same bits). */
static char *dump(const ddad_config_t *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ddad_config_foreach(cfg, collect, f);
    fclose(f);
    return buf;
}

static ddad_config_t load_ok(const char *path, const char *const *sets, size_t n)
{
    ddad_config_t cfg;
    ddad_status_t st = ddad_config_load(&cfg, path, sets, n);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  %s: %s\n", path ? path : "(defaults)", ddad_last_error());
    CU_ASSERT_EQUAL(st, DDAD_OK);
    return cfg;
}

/* ---- defaults ----------------------------------------------------------- */

static void test_defaults_match_paper(void)
{
    ddad_config_t c;
    ddad_config_defaults(&c);
    CU_ASSERT_EQUAL(ddad_config_validate(&c), DDAD_OK);
    CU_ASSERT_EQUAL(c.seed, 0);
    CU_ASSERT_STRING_EQUAL(c.device, "cpu");
    CU_ASSERT_EQUAL(c.threads, 0);
    CU_ASSERT_EQUAL(c.data.format, DDAD_DATA_FORMAT_MVTEC);
    CU_ASSERT_STRING_EQUAL(c.data.root, "datasets/mvtec");
    CU_ASSERT_EQUAL(c.data.category.n, 1);
    CU_ASSERT_FALSE(c.data.category.is_list);
    CU_ASSERT_STRING_EQUAL(c.data.category.v[0], "bottle");
    CU_ASSERT_EQUAL(c.data.image_size, 256);
    CU_ASSERT_EQUAL(c.data.rotation_deg, 5.0);
    CU_ASSERT_EQUAL(c.data.loader_threads, 1);
    /* Section 2: ADM UNet */
    CU_ASSERT_EQUAL(c.model.channels, 256);
    const int mult[] = {1, 1, 2, 2, 4, 4};
    CU_ASSERT_EQUAL_FATAL(c.model.channel_mult.n, 6);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(c.model.channel_mult.v[i], mult[i]);
    CU_ASSERT_EQUAL(c.model.res_blocks, 2);
    CU_ASSERT_EQUAL_FATAL(c.model.attention_resolutions.n, 3);
    CU_ASSERT_EQUAL(c.model.attention_resolutions.v[0], 32);
    CU_ASSERT_EQUAL(c.model.attention_resolutions.v[1], 16);
    CU_ASSERT_EQUAL(c.model.attention_resolutions.v[2], 8);
    CU_ASSERT_EQUAL(c.model.head_channels, 64);
    CU_ASSERT_EQUAL(c.model.num_classes, 15);
    CU_ASSERT_EQUAL(c.model.dropout, 0.0);
    CU_ASSERT_TRUE(c.model.learn_sigma);
    CU_ASSERT_TRUE(c.model.resblock_updown);
    CU_ASSERT_TRUE(c.model.scale_shift_norm);
    CU_ASSERT_EQUAL(c.model.feature_tap, 10); /* "output block 10 of 18" */
    CU_ASSERT_STRING_EQUAL(c.model.init, "");
    /* Section 1 */
    CU_ASSERT_EQUAL(c.diffusion.steps, 1000);
    CU_ASSERT_EQUAL(c.diffusion.schedule, DDAD_SCHEDULE_LINEAR);
    CU_ASSERT_EQUAL(c.diffusion.respacing, 250);
    CU_ASSERT_EQUAL(c.diffusion.noise, DDAD_NOISE_WHITE); /* the paper: i.i.d. Gaussian noise */
    /* Section 3 */
    CU_ASSERT_EQUAL(c.features.backbone, DDAD_BACKBONE_EFFICIENTNET_B4);
    CU_ASSERT_STRING_EQUAL(c.features.weights, "");
    CU_ASSERT_EQUAL(c.features.train_size, 64);
    CU_ASSERT_EQUAL(c.features.score_size, 16);
    /* Section 4 */
    CU_ASSERT_EQUAL(c.train.iterations, 10000);
    CU_ASSERT_EQUAL(c.train.batch_size, 2);
    CU_ASSERT_EQUAL(c.train.grad_accum, 1);          /* the whole batch at once */
    CU_ASSERT_FALSE(c.train.checkpointing);          /* activations kept        */
    CU_ASSERT_EQUAL(c.train.lr, 1e-4);
    CU_ASSERT_EQUAL(c.train.lr_decay, DDAD_LR_DECAY_LINEAR);
    CU_ASSERT_EQUAL(c.train.weight_decay, 0.0);
    CU_ASSERT_EQUAL(c.train.ema, 0.997);
    CU_ASSERT_EQUAL(c.train.grad_clip, 0.0);
    CU_ASSERT_EQUAL(c.train.precision, DDAD_PRECISION_FP32);
    CU_ASSERT_EQUAL(c.train.checkpoint_every, 1000);
    CU_ASSERT_EQUAL(c.train.keep_checkpoints, 3);
    CU_ASSERT_EQUAL(c.train.log_every, 50);
    CU_ASSERT_EQUAL(c.train.feature_loss_weight, 1.0);
    CU_ASSERT_EQUAL(c.train.vlb_weight, 1.0);
    /* Section 5 */
    CU_ASSERT_EQUAL_FATAL(c.score.timesteps.n, 3);
    CU_ASSERT_EQUAL(c.score.timesteps.v[0], 5);
    CU_ASSERT_EQUAL(c.score.timesteps.v[1], 50);
    CU_ASSERT_EQUAL(c.score.timesteps.v[2], 100);
    CU_ASSERT_EQUAL(c.score.alpha, 0.5);
    CU_ASSERT_EQUAL(c.score.topk, 64);
    CU_ASSERT_EQUAL(c.score.image_score, DDAD_IMAGE_SCORE_TOPK_MEAN);
    CU_ASSERT_EQUAL(c.score.smooth_sigma, 0.0);
    CU_ASSERT_EQUAL(c.score.smooth_kernel, 0);
    CU_ASSERT_EQUAL(c.score.method, DDAD_SCORE_METHOD_DDAD);
    CU_ASSERT_EQUAL(c.score.feature_timestep, DDAD_FEATURE_TIMESTEP_SAME);
    CU_ASSERT_EQUAL(c.score.resolution, DDAD_SCORE_RESOLUTION_MODEL);
    CU_ASSERT_EQUAL(c.score.batch_size, 1);
    /* Section 6 */
    CU_ASSERT_EQUAL(c.recon.rounds, 100);
    CU_ASSERT_EQUAL(c.recon.grad_steps, 5);
    CU_ASSERT_EQUAL(c.recon.step_size, 0.02);
    CU_ASSERT_EQUAL(c.recon.t, 8);
    CU_ASSERT_FALSE(c.recon.sample);
    const int rec[] = {0, 1, 5, 10, 25, 50, 100};
    CU_ASSERT_EQUAL_FATAL(c.recon.record.n, 7);
    for (int i = 0; i < 7; i++)
        CU_ASSERT_EQUAL(c.recon.record.v[i], rec[i]);
    CU_ASSERT_EQUAL(c.recon.padim_channels, 500);
    CU_ASSERT_EQUAL(c.recon.padim_eps, 0.01);
    CU_ASSERT_STRING_EQUAL(c.recon.wrn_weights, "");
    /* Section 7 */
    CU_ASSERT_EQUAL(c.eval.pro_limit, 0.3);
    CU_ASSERT_FALSE(c.eval.save_images);
    CU_ASSERT_STRING_EQUAL(c.run.dir, "runs");
    CU_ASSERT_STRING_EQUAL(c.run.name, "");

    /* load(NULL) = defaults; and configs/default.yaml spells out the same. */
    ddad_config_t d = load_ok(NULL, NULL, 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/configs/default.yaml", ddad_test_source_dir());
    ddad_config_t f = load_ok(path, NULL, 0);
    char *a = dump(&c), *b = dump(&d), *e = dump(&f);
    CU_ASSERT_STRING_EQUAL(a, b);
    CU_ASSERT_STRING_EQUAL(a, e);
    free(a);
    free(b);
    free(e);
}

static void test_schema_table(void)
{
    size_t n;
    const ddad_config_key_t *keys = ddad_config_schema(&n);
    CU_ASSERT_EQUAL(n, 83); /* the keys of the design, section by section: 3+8+12+5+7+16+3+15+9+3+2 */
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_PTR_NOT_NULL(keys[i].help);
        CU_ASSERT(keys[i].help && strlen(keys[i].help) > 10);
        CU_ASSERT_PTR_EQUAL(ddad_config_find_key(keys[i].path), &keys[i]);
        for (size_t j = 0; j < i; j++)
            CU_ASSERT(strcmp(keys[i].path, keys[j].path) != 0);
        /* Setting a key to its documented default through --set must give
         * the default value: the docs column and the parser agree. */
        ddad_config_t c;
        ddad_config_defaults(&c);
        char want[4096], got[4096], set[1024];
        ddad_config_get_text(&c, keys[i].path, want, sizeof want);
        snprintf(set, sizeof set, "%s=%s", keys[i].path, keys[i].def);
        memset(&c, 0, sizeof c);
        CU_ASSERT_EQUAL(ddad_config_set(&c, set), DDAD_OK);
        ddad_config_get_text(&c, keys[i].path, got, sizeof got);
        CU_ASSERT_STRING_EQUAL(got, want);
    }
    CU_ASSERT_PTR_NULL(ddad_config_find_key("model"));
    CU_ASSERT_PTR_NULL(ddad_config_find_key("model.nope"));
}

/* ---- errors -------------------------------------------------------------- */

static void test_error_unknown_key(void)
{
    EXPECT_FILE_ERROR("unknown.yaml", "seed: 1\nmodel:\n  chanels: 64\n", "unknown.yaml:3:3", "model.chanels",
                      "did you mean 'model.channels'");
    /* dotted form, and a key put in the wrong section */
    EXPECT_FILE_ERROR("unknown2.yaml", "\ntrain.learning_rate: 1\n", "unknown2.yaml:2:1", "train.learning_rate");
    EXPECT_FILE_ERROR("unknown3.yaml", "data:\n  alpha: 0.3\n", "unknown3.yaml:2:3", "did you mean 'score.alpha'");
    EXPECT_FILE_ERROR("unknown4.yaml", "modle:\n  channels: 64\n", "unknown4.yaml:2:3", "modle.channels",
                      "did you mean 'model.channels'");
    EXPECT_FILE_ERROR("unknown5.yaml", "modle: {}\n", "unknown5.yaml:1:1", "unknown key 'modle'");
    EXPECT_FILE_ERROR("section.yaml", "model: 5\n", "section.yaml:1:1", "'model' is a section");
    EXPECT_FILE_ERROR("dup.yaml", "seed: 1\nseed: 2\n", "dup.yaml:2:1", "'seed' is set twice", "line 1");
    EXPECT_FILE_ERROR("dup2.yaml", "model.channels: 64\nmodel:\n  channels: 32\n", "dup2.yaml:3:3",
                      "model.channels");
    EXPECT_FILE_ERROR("nested_base.yaml", "model:\n  base: x.yaml\n", "nested_base.yaml:2:3", "top level");
}

static void test_error_wrong_type(void)
{
    EXPECT_FILE_ERROR("t1.yaml", "train:\n  iterations: many\n", "t1.yaml:2:15", "train.iterations",
                      "expected an integer", "'many'");
    EXPECT_FILE_ERROR("t2.yaml", "train:\n  iterations: 1.5\n", "t2.yaml:2:15", "expected an integer");
    EXPECT_FILE_ERROR("t3.yaml", "score:\n  alpha: half\n", "t3.yaml:2:10", "score.alpha", "expected a finite number");
    EXPECT_FILE_ERROR("t4.yaml", "model:\n  learn_sigma: maybe\n", "t4.yaml:2:16", "model.learn_sigma",
                      "expected true or false");
    EXPECT_FILE_ERROR("t5.yaml", "seed: [1, 2]\n", "t5.yaml:1:7", "seed", "got a list");
    EXPECT_FILE_ERROR("t6.yaml", "model:\n  channel_mult: [1, two]\n", "t6.yaml:2:17", "model.channel_mult", "item 2",
                      "'two'");
    EXPECT_FILE_ERROR("t7.yaml", "model:\n  channel_mult: {a: 1}\n", "t7.yaml:2:17", "got a mapping");
    EXPECT_FILE_ERROR("t8.yaml", "seed:\n", "t8.yaml:1:", "seed", "missing value");
    EXPECT_FILE_ERROR("t9.yaml", "score:\n  timesteps: [[5], 50]\n", "t9.yaml:2:15", "score.timesteps",
                      "list items must be plain values");
    EXPECT_FILE_ERROR("t10.yaml", "score.alpha: nan\n", "t10.yaml:1:14", "score.alpha");
}

static void test_error_out_of_range(void)
{
    EXPECT_FILE_ERROR("r1.yaml", "data:\n  image_size: 8\n", "r1.yaml:2:15", "data.image_size = 8", "out of range",
                      "[16, 2048]");
    EXPECT_FILE_ERROR("r2.yaml", "eval:\n  pro_limit: 0\n", "r2.yaml:2:14", "eval.pro_limit", "(0, 1]");
    EXPECT_FILE_ERROR("r3.yaml", "train.ema: 1.5\n", "r3.yaml:1:12", "train.ema = 1.5", "[0, 1]");
    EXPECT_FILE_ERROR("r4.yaml", "model:\n  channel_mult: [1, 2, 0]\n", "r4.yaml:2:17", "model.channel_mult",
                      "value 0", "[1, 16]");
    EXPECT_FILE_ERROR("r5.yaml", "model.channel_mult: []\n", "r5.yaml:1:21", "model.channel_mult", "0 values",
                      "1 to 8");
    EXPECT_FILE_ERROR("r6.yaml", "score.smooth_kernel: 4\n", "r6.yaml:1:22", "score.smooth_kernel", "odd");
    EXPECT_FILE_ERROR("r7.yaml", "device: gpu\n", "r7.yaml:1:9", "device", "'gpu'", "cuda:N");
    EXPECT_FILE_ERROR("r8.yaml", "score:\n  timesteps: [5, 5]\n", "r8.yaml:2:14", "score.timesteps", "repeats");
    EXPECT_FILE_ERROR("r9.yaml", "seed: 99999999999\n", "r9.yaml:1:7", "expected an integer");
    EXPECT_FILE_ERROR("r10.yaml", "run.name: a/b\n", "r10.yaml:1:11", "run.name");
    EXPECT_FILE_ERROR("r11.yaml", "data.category: [bottle, all]\n", "r11.yaml:1:16", "data.category",
                      "\"all\" on its own");
    EXPECT_FILE_ERROR("r12.yaml", "data.category: [bottle, bottle]\n", "r12.yaml:1:16", "repeated");
    EXPECT_FILE_ERROR("r13.yaml", "train.grad_accum: 0\n", "r13.yaml:1:19", "train.grad_accum = 0", "[1, 4096]");
}

static void test_error_unknown_enum(void)
{
    EXPECT_FILE_ERROR("e1.yaml", "data:\n  format: mvtech\n", "e1.yaml:2:11", "data.format", "'mvtech'",
                      "mvtec, visa, btad, folder", "did you mean 'mvtec'");
    EXPECT_FILE_ERROR("e2.yaml", "train.precision: fp8\n", "e2.yaml:1:18", "train.precision", "fp32, fp16, bf16");
}

static void test_error_files(void)
{
    /* missing top file */
    ddad_config_t c;
    CU_ASSERT_EQUAL(ddad_config_load(&c, tmp_path("nope.yaml"), NULL, 0), DDAD_STATUS_CONFIG);
    expect_msg(ddad_last_error(), "nope.yaml", "cannot open", (const char *)NULL);
    /* missing base: names the including file and line */
    EXPECT_FILE_ERROR("inc.yaml", "seed: 3\nbase: missing/base.yaml\n", "inc.yaml:2:7", "missing/base.yaml",
                      "cannot open");
    /* loops: self and a -> b -> a */
    EXPECT_FILE_ERROR("self.yaml", "base: self.yaml\n", "self.yaml:1:7", "inheritance loop");
    write_file("loop_b.yaml", "base: loop_a.yaml\nseed: 2\n");
    EXPECT_FILE_ERROR("loop_a.yaml", "base: loop_b.yaml\n", "loop_b.yaml:1:7", "inheritance loop", "loop_a.yaml ->",
                      "loop_b.yaml ->");
    /* malformed YAML: libyaml's problem and position */
    EXPECT_FILE_ERROR("bad1.yaml", "seed: 1\nmodel:\n  channels: [1, 2\n", "bad1.yaml:", "malformed YAML");
    EXPECT_FILE_ERROR("bad2.yaml", "seed: 1\n  model: 2\n", "bad2.yaml:2:", "malformed YAML",
                      "mapping values are not allowed");
    EXPECT_FILE_ERROR("bad3.yaml", "- 1\n- 2\n", "bad3.yaml:1:1", "expected a mapping");
    EXPECT_FILE_ERROR("bad4.yaml", "seed: 1\n---\nseed: 2\n", "bad4.yaml:2:1", "second");
    EXPECT_FILE_ERROR("bad5.yaml", "base: [a, b]\n", "bad5.yaml:1:7", "base");
    /* an empty file is the defaults */
    write_file("empty.yaml", "# nothing\n");
    ddad_config_t e = load_ok(tmp_path("empty.yaml"), NULL, 0), d;
    ddad_config_defaults(&d);
    char *a = dump(&e), *b = dump(&d);
    CU_ASSERT_STRING_EQUAL(a, b);
    free(a);
    free(b);
}

static void test_error_set_syntax(void)
{
    ddad_config_t c;
    const char *bad[][4] = {
        {"train.iterations", "expected key.path=value", "--set 'train.iterations'", NULL},
        {"=5", "missing key", NULL, NULL},
        {"train.iteratons=5", "unknown key 'train.iteratons'", "did you mean 'train.iterations'", NULL},
        {"train=5", "'train' is a section", NULL, NULL},
        {"train.iterations=", "missing value", "train.iterations", NULL},
        {"train.iterations=ten", "expected an integer", "'ten'", NULL},
        {"model.channel_mult=[1,x]", "item 2", "'x'", NULL},
        {"score.method=rbg", "unknown value 'rbg'", "did you mean 'rgb'", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ddad_config_defaults(&c);
        CU_ASSERT_EQUAL(ddad_config_set(&c, bad[i][0]), DDAD_STATUS_CONFIG);
        expect_msg(ddad_last_error(), bad[i][1], bad[i][2] ? bad[i][2] : bad[i][1],
                   bad[i][3] ? bad[i][3] : bad[i][1], (const char *)NULL);
        /* the same through load, which must not validate past it */
        const char *sets[] = {"seed=4", bad[i][0]};
        CU_ASSERT_EQUAL(ddad_config_load(&c, NULL, sets, 2), DDAD_STATUS_CONFIG);
        expect_msg(ddad_last_error(), "--set", bad[i][1], (const char *)NULL);
    }
}

static void test_error_cross_field(void)
{
    ddad_config_t c0;
    struct {
        const char *set, *needle, *needle2;
    } cases[] = {
        {"model.channels=48", "model.channels = 48", "multiple of 32"},
        {"data.image_size=100", "data.image_size = 100", "divisible by 2^(len(model.channel_mult) - 1) = 32"},
        {"model.attention_resolutions=[32,48]", "48 px", "256, 128, 64, 32, 16, 8"},
        {"model.head_channels=48", "model.head_channels = 48", "channels"},
        {"model.feature_tap=18", "model.feature_tap = 18", "18 output blocks"},
        {"score.timesteps=[5,250]", "score.timesteps: 250", "diffusion.respacing = 250"},
        {"recon.t=300", "recon.t = 300", "respacing"},
        {"diffusion.respacing=2000", "diffusion.respacing = 2000", "diffusion.steps = 1000"},
        {"score.topk=70000", "score.topk = 70000", "65536 pixels"},
        {"recon.record=[0,200]", "recon.record: round 200", "recon.rounds = 100"},
        {"train.precision=fp16", "fp16 needs a CUDA device", "'cpu'"},
        {"train.grad_accum=3", "train.grad_accum = 3 does not divide", "train.batch_size = 2"},
        {"data.category=botle", "'botle' is not one of the MVTec AD categories", "did you mean 'bottle'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ddad_config_t c;
        const char *sets[] = {cases[i].set};
        CU_ASSERT_EQUAL(ddad_config_load(&c, NULL, sets, 1), DDAD_STATUS_CONFIG);
        char where[256];
        snprintf(where, sizeof where, "--set '%s'", cases[i].set);
        expect_msg(ddad_last_error(), where, cases[i].needle, cases[i].needle2, (const char *)NULL);
        /* and without origins, through the public validate */
        ddad_config_defaults(&c);
        CU_ASSERT_EQUAL(ddad_config_set(&c, cases[i].set), DDAD_OK);
        CU_ASSERT_EQUAL(ddad_config_validate(&c), DDAD_STATUS_CONFIG);
        expect_msg(ddad_last_error(), cases[i].needle, (const char *)NULL);
    }
    const char *few[] = {"data.category=zipper", "model.num_classes=3"};
    CU_ASSERT_EQUAL(ddad_config_load(&c0, NULL, few, 2), DDAD_STATUS_CONFIG);
    expect_msg(ddad_last_error(), "--set 'model.num_classes=3'", "model.num_classes = 3", "'zipper' has class label 14",
               "at least 15", (const char *)NULL);
    /* grad_accum: any divisor of the batch */
    const char *accum[] = {"train.batch_size=8", "train.grad_accum=4"};
    ddad_config_t ca = load_ok(NULL, accum, 2);
    CU_ASSERT_EQUAL(ca.train.grad_accum, 4);
    const char *accum_bad[] = {"train.batch_size=8", "train.grad_accum=3"};
    CU_ASSERT_EQUAL(ddad_config_load(&c0, NULL, accum_bad, 2), DDAD_STATUS_CONFIG);
    expect_msg(ddad_last_error(), "--set 'train.grad_accum=3'", "train.batch_size = 8", (const char *)NULL);
    /* fp16 is fine on CUDA */
    const char *cuda[] = {"device=cuda:1", "train.precision=fp16"};
    load_ok(NULL, cuda, 2);
    /* A validation error points at the file and line that set the key. */
    write_file("geom.yaml", "seed: 1\nmodel:\n  channels: 40\n");
    ddad_config_t c;
    CU_ASSERT_EQUAL(ddad_config_load(&c, tmp_path("geom.yaml"), NULL, 0), DDAD_STATUS_CONFIG);
    expect_msg(ddad_last_error(), "geom.yaml:3:13", "model.channels = 40", (const char *)NULL);
    /* "all" needs a known category list */
    const char *folder[] = {"data.format=folder", "data.root=/data/parts", "data.category=all"};
    CU_ASSERT_EQUAL(ddad_config_load(&c, NULL, folder, 3), DDAD_STATUS_CONFIG);
    expect_msg(ddad_last_error(), "data.category 'all'", "list the categories", (const char *)NULL);
}

/* ---- order of application ----------------------------------------------- */

static void test_base_chain_order(void)
{
    /* top.yaml -> sub/mid.yaml -> ../deep.yaml (paths relative to each
     * including file). Each level sets some keys; deeper ones must lose. */
    write_file("deep.yaml", "seed: 1\nthreads: 1\ntrain:\n  iterations: 1\n  batch_size: 1\nscore.alpha: 0.1\n");
    write_file("sub/mid.yaml", "base: ../deep.yaml\nseed: 2\ntrain:\n  iterations: 2\nscore:\n  alpha: 0.2\n");
    write_file("top.yaml", "seed: 3\nbase: sub/mid.yaml\nscore.alpha: 0.3\n");
    ddad_config_t c = load_ok(tmp_path("top.yaml"), NULL, 0);
    CU_ASSERT_EQUAL(c.threads, 1);            /* deep only                 */
    CU_ASSERT_EQUAL(c.train.batch_size, 1);   /* deep only                 */
    CU_ASSERT_EQUAL(c.train.iterations, 2);   /* mid over deep             */
    CU_ASSERT_EQUAL(c.seed, 3);               /* top over mid over deep    */
    CU_ASSERT_EQUAL(c.score.alpha, 0.3);
    CU_ASSERT_EQUAL(c.train.lr, 1e-4);        /* untouched default         */

    /* --set wins over the file, repeated --set: the last wins */
    const char *sets[] = {"seed=7", "train.batch_size=4", "seed=9"};
    c = load_ok(tmp_path("top.yaml"), sets, 3);
    CU_ASSERT_EQUAL(c.seed, 9);
    CU_ASSERT_EQUAL(c.train.batch_size, 4);
    CU_ASSERT_EQUAL(c.train.iterations, 2);

    /* an error in a base file names the base file */
    write_file("badbase.yaml", "model.channels: x\n");
    write_file("usesbad.yaml", "base: badbase.yaml\n");
    CU_ASSERT_EQUAL(ddad_config_load(&c, tmp_path("usesbad.yaml"), NULL, 0), DDAD_STATUS_CONFIG);
    expect_msg(ddad_last_error(), "badbase.yaml:1:17", "model.channels", (const char *)NULL);
}

static void test_set_overrides(void)
{
    ddad_config_t c;
    ddad_config_defaults(&c);
    CU_ASSERT_EQUAL(ddad_config_set(&c, "train.lr=3e-5"), DDAD_OK);
    CU_ASSERT_EQUAL(c.train.lr, 3e-5);
    CU_ASSERT_EQUAL(ddad_config_set(&c, " model.learn_sigma = false "), DDAD_OK);
    CU_ASSERT_FALSE(c.model.learn_sigma);
    CU_ASSERT_EQUAL(ddad_config_set(&c, "eval.save_images=yes"), DDAD_OK);
    CU_ASSERT_TRUE(c.eval.save_images);
    CU_ASSERT_EQUAL(ddad_config_set(&c, "run.name=\"ablation_1\""), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(c.run.name, "ablation_1");
    CU_ASSERT_EQUAL(ddad_config_set(&c, "model.init="), DDAD_OK); /* empty string */
    CU_ASSERT_STRING_EQUAL(c.model.init, "");
    CU_ASSERT_EQUAL(ddad_config_set(&c, "model.init=w/adm=1.h5"), DDAD_OK); /* '=' inside the value */
    CU_ASSERT_STRING_EQUAL(c.model.init, "w/adm=1.h5");
    CU_ASSERT_EQUAL(ddad_config_set(&c, "score.method=rgb"), DDAD_OK);
    CU_ASSERT_EQUAL(c.score.method, DDAD_SCORE_METHOD_RGB);
    /* a rejected value leaves the config as it was */
    CU_ASSERT_EQUAL(ddad_config_set(&c, "data.image_size=4"), DDAD_STATUS_CONFIG);
    CU_ASSERT_EQUAL(c.data.image_size, 256);
    CU_ASSERT_EQUAL(ddad_config_set(&c, "score.timesteps=[1,2,x]"), DDAD_STATUS_CONFIG);
    CU_ASSERT_EQUAL(c.score.timesteps.n, 3);
    CU_ASSERT_EQUAL(c.score.timesteps.v[0], 5);
    CU_ASSERT_EQUAL(ddad_config_set(&c, "data.format=visa"), DDAD_OK);
    CU_ASSERT_EQUAL(c.data.format, DDAD_DATA_FORMAT_VISA);
}

static void test_lists(void)
{
    ddad_config_t c;
    ddad_config_defaults(&c);
    /* --set: [a,b] and a,b */
    CU_ASSERT_EQUAL(ddad_config_set(&c, "score.timesteps=[10, 20,30]"), DDAD_OK);
    CU_ASSERT_EQUAL(c.score.timesteps.n, 3);
    CU_ASSERT_EQUAL(c.score.timesteps.v[2], 30);
    CU_ASSERT_EQUAL(ddad_config_set(&c, "score.timesteps=7,8"), DDAD_OK);
    CU_ASSERT_EQUAL(c.score.timesteps.n, 2);
    CU_ASSERT_EQUAL(c.score.timesteps.v[0], 7);
    CU_ASSERT_EQUAL(ddad_config_set(&c, "score.timesteps=12"), DDAD_OK);
    CU_ASSERT_EQUAL(c.score.timesteps.n, 1);
    CU_ASSERT_EQUAL(c.score.timesteps.v[0], 12);
    CU_ASSERT_EQUAL(ddad_config_set(&c, "model.attention_resolutions=[]"), DDAD_OK);
    CU_ASSERT_EQUAL(c.model.attention_resolutions.n, 0);
    CU_ASSERT_EQUAL(ddad_config_set(&c, "score.timesteps=[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]"),
                    DDAD_STATUS_CONFIG);
    expect_msg(ddad_last_error(), "17 values", "at most 16", (const char *)NULL);
    CU_ASSERT_EQUAL(ddad_config_set(&c, "data.category=[cable, 'pill']"), DDAD_OK);
    CU_ASSERT_EQUAL(c.data.category.n, 2);
    CU_ASSERT_TRUE(c.data.category.is_list);
    CU_ASSERT_STRING_EQUAL(c.data.category.v[1], "pill");
    CU_ASSERT_EQUAL(ddad_config_set(&c, "data.category=screw"), DDAD_OK);
    CU_ASSERT_EQUAL(c.data.category.n, 1);
    CU_ASSERT_FALSE(c.data.category.is_list);

    /* YAML: flow, block, scalar with commas; lists replace inherited lists */
    write_file("lists_base.yaml", "recon:\n  record: [0, 1, 2, 3, 4, 5]\n");
    write_file("lists.yaml",
               "base: lists_base.yaml\n"
               "data.image_size: 32\nmodel.feature_tap: 4\n"
               "model:\n  channel_mult:\n    - 1\n    - 2\n    - 2\n"
               "score:\n  timesteps: 3, 6\n"
               "recon:\n  record: [0, 50]\n"
               "data:\n  category:\n    - zipper\n    - bottle\n");
    c = load_ok(tmp_path("lists.yaml"), NULL, 0);
    CU_ASSERT_EQUAL(c.model.channel_mult.n, 3);
    CU_ASSERT_EQUAL(c.model.channel_mult.v[2], 2);
    CU_ASSERT_EQUAL(c.score.timesteps.n, 2);
    CU_ASSERT_EQUAL(c.score.timesteps.v[1], 6);
    CU_ASSERT_EQUAL(c.recon.record.n, 2);
    CU_ASSERT_EQUAL(c.recon.record.v[1], 50);
    CU_ASSERT_TRUE(ddad_config_is_unified(&c));
    const char *names[4];
    CU_ASSERT_EQUAL(ddad_config_categories(&c, names, 4), 2);
    CU_ASSERT_STRING_EQUAL(names[0], "zipper");
    /* class labels stay the paper's: index in the 15 MVTec categories */
    CU_ASSERT_EQUAL(ddad_config_category_index(&c, "zipper"), 14);
    CU_ASSERT_EQUAL(ddad_config_category_index(&c, "bottle"), 0);
}

/* ---- categories ---------------------------------------------------------- */

static void test_categories(void)
{
    size_t n;
    const char *const *l = ddad_category_list(DDAD_DATA_FORMAT_MVTEC, &n);
    CU_ASSERT_EQUAL(n, 15);
    for (size_t i = 1; i < n; i++)
        CU_ASSERT(strcmp(l[i - 1], l[i]) < 0); /* alphabetical = class labels */
    CU_ASSERT_STRING_EQUAL(l[7], "metal_nut");
    l = ddad_category_list(DDAD_DATA_FORMAT_VISA, &n);
    CU_ASSERT_EQUAL(n, 12);
    CU_ASSERT_STRING_EQUAL(l[11], "pipe_fryum");
    l = ddad_category_list(DDAD_DATA_FORMAT_BTAD, &n);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_STRING_EQUAL(l[0], "01");
    CU_ASSERT_PTR_NULL(ddad_category_list(DDAD_DATA_FORMAT_FOLDER, &n));
    CU_ASSERT_EQUAL(n, 0);

    ddad_config_t c = load_ok(NULL, (const char *[]){"data.category=all"}, 1);
    const char *names[DDAD_CONFIG_MAX_NAMES];
    CU_ASSERT_TRUE(ddad_config_is_unified(&c));
    CU_ASSERT_EQUAL(ddad_config_categories(&c, names, DDAD_CONFIG_MAX_NAMES), 15);
    CU_ASSERT_STRING_EQUAL(names[14], "zipper");
    CU_ASSERT_EQUAL(ddad_config_categories(&c, names, 2), 15); /* count beyond cap */
    CU_ASSERT_EQUAL(ddad_config_category_index(&c, "toothbrush"), 11);
    CU_ASSERT_EQUAL(ddad_config_category_index(&c, "candle"), -1);

    /* the official MVTec archive folder name counts as an mvtec root */
    c = load_ok(NULL, (const char *[]){"data.root=/data/mvtec_anomaly_detection/", "data.category=wood"}, 2);
    CU_ASSERT_FALSE(ddad_config_is_unified(&c));
    CU_ASSERT_EQUAL(ddad_config_category_index(&c, "wood"), 13);

    /* synthetic root: the synthetic list */
    c = load_ok(NULL,
                (const char *[]){"data.root=datasets/synthetic", "data.category=all", "model.num_classes=6"}, 3);
    CU_ASSERT_EQUAL(ddad_config_categories(&c, names, DDAD_CONFIG_MAX_NAMES), 6);
    CU_ASSERT_STRING_EQUAL(names[0], "woven");
    CU_ASSERT_EQUAL(ddad_config_category_index(&c, "capsule_toy"), 5);

    /* VisA unified needs 12 classes */
    ddad_config_t d;
    const char *visa[] = {"data.format=visa", "data.category=all", "model.num_classes=11"};
    CU_ASSERT_EQUAL(ddad_config_load(&d, NULL, visa, 3), DDAD_STATUS_CONFIG);
    expect_msg(ddad_last_error(), "model.num_classes = 11", "pipe_fryum", "at least 12", (const char *)NULL);
    const char *visa_bad[] = {"data.format=visa", "data.category=candel"};
    CU_ASSERT_EQUAL(ddad_config_load(&d, NULL, visa_bad, 2), DDAD_STATUS_CONFIG);
    expect_msg(ddad_last_error(), "'candel' is not one of the VisA categories", "did you mean 'candle'", (const char *)NULL);

    /* any other mvtec-layout root: names are checked later by the indexer */
    c = load_ok(NULL, (const char *[]){"data.root=/data/parts", "data.category=[gear, bolt]", "model.num_classes=2"},
                3);
    CU_ASSERT_EQUAL(ddad_config_category_index(&c, "bolt"), 1);
    CU_ASSERT_EQUAL(ddad_config_category_index(&c, "nut"), -1);
    CU_ASSERT_PTR_NULL(ddad_config_known_categories(&c, &n));

    /* unified without class embedding */
    const char *uncond[] = {"data.category=all", "model.num_classes=0"};
    CU_ASSERT_EQUAL(ddad_config_load(&d, NULL, uncond, 2), DDAD_STATUS_CONFIG);
    expect_msg(ddad_last_error(), "model.num_classes = 0", "class-conditional", "at least 15", (const char *)NULL);
    const char *uncond2[] = {"data.category=[bottle, pill]", "model.num_classes=0"};
    CU_ASSERT_EQUAL(ddad_config_load(&d, NULL, uncond2, 2), DDAD_STATUS_CONFIG);
    expect_msg(ddad_last_error(), "at least 9", (const char *)NULL); /* pill = label 8 */
}

static void test_run_dir(void)
{
    char buf[256];
    ddad_config_t c = load_ok(NULL, NULL, 0);
    CU_ASSERT_EQUAL(ddad_config_run_dir(&c, buf, sizeof buf), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(buf, "runs/mvtec/bottle");
    c = load_ok(NULL, (const char *[]){"data.category=all", "run.name=a1", "run.dir=/srv/r"}, 3);
    CU_ASSERT_EQUAL(ddad_config_run_dir(&c, buf, sizeof buf), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(buf, "/srv/r/mvtec/unified/a1");
    CU_ASSERT_EQUAL(ddad_config_run_dir(&c, buf, 8), DDAD_STATUS_CONFIG);
}

/* ---- shipped configs ----------------------------------------------------- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_all_configs_load(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/configs", ddad_test_source_dir());
    DIR *d = opendir(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char *files[256];
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 256;) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0)
            files[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(files, n, sizeof files[0], cmp_str);
    CU_ASSERT(n >= 22); /* default, 15 categories, unified, visa, btad, demo x2, tiny */
    int categories_seen = 0;
    for (size_t i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        ddad_config_t c = load_ok(path, NULL, 0);
        CU_ASSERT_EQUAL(ddad_config_validate(&c), DDAD_OK);
        for (size_t k = 0; k < DDAD_MVTEC_CATEGORY_COUNT; k++) {
            char want[128];
            snprintf(want, sizeof want, "%s.yaml", ddad_mvtec_categories[k]);
            if (strcmp(files[i], want) == 0) {
                categories_seen++;
                CU_ASSERT_STRING_EQUAL(c.data.category.v[0], ddad_mvtec_categories[k]);
                CU_ASSERT_FALSE(ddad_config_is_unified(&c));
                CU_ASSERT_EQUAL(c.train.iterations, 10000);
                CU_ASSERT_EQUAL(c.model.channels, 256);
            }
        }
        free(files[i]);
    }
    CU_ASSERT_EQUAL(categories_seen, 15);

    char path[8192];
    snprintf(path, sizeof path, "%s/unified.yaml", dir);
    ddad_config_t u = load_ok(path, NULL, 0);
    CU_ASSERT_TRUE(ddad_config_is_unified(&u));
    CU_ASSERT_EQUAL(u.train.iterations, 20000);
    const char *names[DDAD_CONFIG_MAX_NAMES];
    CU_ASSERT_EQUAL(ddad_config_categories(&u, names, DDAD_CONFIG_MAX_NAMES), 15);

    /* demo: the feature tap sits at the 16 px stage (1/4 of 64, as the
     * paper's block 10 sits at 64 of 256). Output block i belongs to level
     * L-1-i/(res_blocks+1); the last block of a level upsamples. */
    snprintf(path, sizeof path, "%s/demo.yaml", dir);
    ddad_config_t m = load_ok(path, NULL, 0);
    int L = (int)m.model.channel_mult.n, rb = m.model.res_blocks, tap = m.model.feature_tap;
    int level = L - 1 - tap / (rb + 1);
    int res = m.data.image_size >> level;
    if (tap % (rb + 1) == rb && level > 0)
        res *= 2;
    CU_ASSERT_EQUAL(res, m.data.image_size / 4);
    CU_ASSERT_EQUAL(m.data.image_size, 64);
    CU_ASSERT_EQUAL(m.model.num_classes, 6);
    CU_ASSERT_EQUAL(m.train.iterations, 600);
    CU_ASSERT_EQUAL(ddad_config_category_index(&m, "woven"), 0);
    /* the paper's setting by the same formula: block 10 is at 64 px */
    ddad_config_t p = load_ok(NULL, NULL, 0);
    level = 6 - 1 - 10 / 3;
    CU_ASSERT_EQUAL(256 >> level, 64);
    CU_ASSERT_EQUAL(p.model.feature_tap, 10);

    snprintf(path, sizeof path, "%s/demo_unified.yaml", dir);
    ddad_config_t du = load_ok(path, NULL, 0);
    CU_ASSERT_EQUAL(ddad_config_categories(&du, names, DDAD_CONFIG_MAX_NAMES), 6);
    CU_ASSERT_EQUAL(du.model.channels, 32);

    snprintf(path, sizeof path, "%s/tiny.yaml", dir);
    ddad_config_t t = load_ok(path, NULL, 0);
    CU_ASSERT_EQUAL(t.data.image_size, 32);
    CU_ASSERT_EQUAL(t.model.channel_mult.n, 2);
    CU_ASSERT_EQUAL(t.train.iterations, 20);
}

/* ---- generated docs ------------------------------------------------------ */

static void test_docs_up_to_date(void)
{
    char *gen = NULL;
    size_t gen_len = 0;
    FILE *f = open_memstream(&gen, &gen_len);
    ddad_config_schema_markdown(f);
    fclose(f);

    char path[4096];
    snprintf(path, sizeof path, "%s/docs/config-keys.md", ddad_test_source_dir());
    const char *update = getenv("DDAD_UPDATE_DOCS");
    if (update && *update && strcmp(update, "0") != 0) {
        FILE *out = fopen(path, "w");
        CU_ASSERT_PTR_NOT_NULL_FATAL(out);
        fwrite(gen, 1, gen_len, out);
        fclose(out);
        fprintf(stderr, "\n  wrote %s\n", path);
    }
    FILE *in = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    char *doc = malloc(gen_len + 2);
    size_t got = fread(doc, 1, gen_len + 1, in);
    fclose(in);
    bool same = got == gen_len && memcmp(doc, gen, gen_len) == 0;
    if (!same)
        fprintf(stderr, "\n  %s is out of date: run DDAD_UPDATE_DOCS=1 ctest -R test_config\n", path);
    CU_ASSERT_TRUE(same);
    /* every key is documented */
    size_t n;
    const ddad_config_key_t *keys = ddad_config_schema(&n);
    for (size_t i = 0; i < n; i++) {
        char needle[128];
        snprintf(needle, sizeof needle, "| `%s` |", keys[i].path);
        CU_ASSERT_PTR_NOT_NULL(strstr(gen, needle));
    }
    free(doc);
    free(gen);
}

/* ---- output and round trip ----------------------------------------------- */

static void test_round_trip(void)
{
    ddad_config_t a;
    const char *sets[] = {
        "seed=12345", "device=cuda:2", "data.format=folder", "data.root=/data/my parts: \"A\"\\b #1",
        "data.category=[gear, bolt-2, nut.v1]", "data.rotation_deg=0.1", "model.channels=64",
        "model.channel_mult=[1,2,4]", "model.attention_resolutions=[16]", "data.image_size=64", "model.num_classes=3",
        "model.dropout=0.30000000000000004", "model.learn_sigma=false", "model.feature_tap=5",
        "model.init='weights/it''s.h5'", "train.lr=1.2345678901234567e-05", "train.ema=0.9999",
        "train.precision=bf16", "score.timesteps=[1,2,3]", "score.alpha=0.7", "score.method=rgb",
        "score.feature_timestep=respaced_quirk", "score.smooth_sigma=4", "score.smooth_kernel=33",
        "recon.record=[]", "recon.sample=true", "eval.pro_limit=1", "run.name=x_1",
    };
    size_t nsets = sizeof sets / sizeof sets[0];
    a = load_ok(NULL, sets, nsets);
    char *yaml = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_config_to_yaml(&a, &yaml), DDAD_OK);
    ddad_config_t b;
    ddad_status_t st = ddad_config_load_string(&b, yaml, "checkpoint.h5:/config", NULL, 0);
    if (st != DDAD_OK)
        fprintf(stderr, "\n%s\n%s\n", yaml, ddad_last_error());
    CU_ASSERT_EQUAL_FATAL(st, DDAD_OK);
    char *da = dump(&a), *db = dump(&b);
    CU_ASSERT_STRING_EQUAL(da, db);
    /* field by field where text could hide a difference */
    CU_ASSERT_EQUAL(a.train.lr, b.train.lr);
    CU_ASSERT_EQUAL(b.model.dropout, 0.1 + 0.2);
    CU_ASSERT_STRING_EQUAL(b.data.root, "/data/my parts: \"A\"\\b #1");
    CU_ASSERT_STRING_EQUAL(b.model.init, "weights/it''s.h5");
    CU_ASSERT_TRUE(b.data.category.is_list);
    CU_ASSERT_EQUAL(b.data.category.n, 3);
    CU_ASSERT_EQUAL(b.recon.record.n, 0);
    CU_ASSERT_EQUAL(b.data.format, DDAD_DATA_FORMAT_FOLDER);
    /* a single name stays a single name (not a unified list) */
    ddad_config_t s = load_ok(NULL, (const char *[]){"data.category=carpet"}, 1), s2;
    char *ys = NULL;
    CU_ASSERT_EQUAL(ddad_config_to_yaml(&s, &ys), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_config_load_string(&s2, ys, NULL, NULL, 0), DDAD_OK);
    CU_ASSERT_FALSE(s2.data.category.is_list);
    CU_ASSERT_STRING_EQUAL(s2.data.category.v[0], "carpet");
    /* print(YAML) is the same text */
    char *pbuf = NULL;
    size_t plen = 0;
    FILE *f = open_memstream(&pbuf, &plen);
    ddad_config_print(&a, f, DDAD_CONFIG_FORMAT_YAML);
    fclose(f);
    CU_ASSERT_STRING_EQUAL(pbuf, yaml);
    /* load_string errors carry the given name */
    CU_ASSERT_EQUAL(ddad_config_load_string(&b, "seed: 1\nmodle: 2\n", "ckpt.h5", NULL, 0), DDAD_STATUS_CONFIG);
    expect_msg(ddad_last_error(), "ckpt.h5:2:1", "modle", (const char *)NULL);
    free(pbuf);
    free(ys);
    free(da);
    free(db);
    free(yaml);
}

static int stop_at_third(const char *path, const char *value, void *user)
{
    int *count = user;
    return ++*count == 3 ? 42 : 0;
}

struct expect_kv {
    const char *path, *value;
    int found;
};

static int find_kv(const char *path, const char *value, void *user)
{
    struct expect_kv *e = user;
    for (; e->path; e++)
        if (strcmp(path, e->path) == 0) {
            if (strcmp(value, e->value) != 0)
                fprintf(stderr, "\n  %s: '%s' != '%s'\n", path, value, e->value);
            e->found += strcmp(value, e->value) == 0;
        }
    return 0;
}

static void test_foreach_and_print(void)
{
    ddad_config_t c = load_ok(NULL, NULL, 0);
    size_t n;
    ddad_config_schema(&n);
    int count = 0;
    CU_ASSERT_EQUAL(ddad_config_foreach(&c, stop_at_third, &count), 42);
    CU_ASSERT_EQUAL(count, 3);
    struct expect_kv kv[] = {
        {"data.format", "mvtec", 0},           {"data.category", "bottle", 0}, {"train.lr", "0.0001", 0},
        {"model.channel_mult", "[1, 1, 2, 2, 4, 4]", 0}, {"model.learn_sigma", "true", 0},
        {"data.rotation_deg", "5.0", 0},       {"model.init", "", 0},          {"features.backbone", "efficientnet-b4", 0},
        {NULL, NULL, 0},
    };
    ddad_config_foreach(&c, find_kv, kv);
    for (struct expect_kv *e = kv; e->path; e++)
        CU_ASSERT_EQUAL(e->found, 1);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ddad_config_print(&c, f, DDAD_CONFIG_FORMAT_TABLE);
    fclose(f);
    expect_msg(buf, "| key ", "| model.attention_resolutions |", "| [32, 16, 8]", "| score.alpha ", "0.5", "| \"\" ",
               (const char *)NULL);
    size_t lines = 0;
    for (char *p = buf; *p; p++)
        lines += *p == '\n';
    CU_ASSERT_EQUAL(lines, n + 4); /* rule, header, rule, rows, rule */
    free(buf);
}

int main(void)
{
    g_dir = ddad_test_mkdtemp("config");
    if (!g_dir)
        return 1;
    static const ddad_test_t tests[] = {
        {"defaults match the paper", test_defaults_match_paper},
        {"schema table", test_schema_table},
        {"error: unknown key", test_error_unknown_key},
        {"error: wrong type", test_error_wrong_type},
        {"error: out of range", test_error_out_of_range},
        {"error: unknown enum value", test_error_unknown_enum},
        {"error: files (missing, loop, malformed)", test_error_files},
        {"error: --set syntax", test_error_set_syntax},
        {"error: cross-field validation", test_error_cross_field},
        {"base chain order", test_base_chain_order},
        {"--set overrides", test_set_overrides},
        {"lists", test_lists},
        {"categories", test_categories},
        {"run folder", test_run_dir},
        {"every file in configs/ loads", test_all_configs_load},
        {"docs/config-keys.md is up to date", test_docs_up_to_date},
        {"to_yaml -> load_string round trip", test_round_trip},
        {"foreach and print", test_foreach_and_print},
        {NULL, NULL},
    };
    int rc = ddad_test_main("config", tests);
    ddad_test_rmtree(g_dir);
    free(g_dir);
    return rc;
}
