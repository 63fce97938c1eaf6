/* core/config/config_schema.c - the table of configuration keys, the category lists
 * of the public data sets, and the Markdown key reference generated from the
 * table. Parsing, validation and printing live in config.c; both read only
 * this table, so adding a key is one row here plus one field in config.h
 * (and `DDAD_UPDATE_DOCS=1 ctest -R test_config` to refresh the docs).
 */
#include "calib.h"
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* ---- category lists ----------------------------------------------------
 * These orders define the class labels of the class-conditional UNet
 * (ddad_config_category_index). MVTec AD: the 15 categories in alphabetical
 * order, as in the paper and the authors' code. VisA: the 12 folder names of
 * the official release (split_csv/1cls.csv), alphabetical. BTAD: the three
 * product folders. Synthetic: ddad's generated MVTec-layout set, textures
 * first, then objects, in the generator's order (core/data/synth.c). */
const char *const ddad_mvtec_categories[DDAD_MVTEC_CATEGORY_COUNT] = {
    "bottle", "cable", "capsule", "carpet", "grid", "hazelnut", "leather", "metal_nut",
    "pill", "screw", "tile", "toothbrush", "transistor", "wood", "zipper",
};
const char *const ddad_visa_categories[DDAD_VISA_CATEGORY_COUNT] = {
    "candle", "capsules", "cashew", "chewinggum", "fryum", "macaroni1",
    "macaroni2", "pcb1", "pcb2", "pcb3", "pcb4", "pipe_fryum",
};
const char *const ddad_btad_categories[DDAD_BTAD_CATEGORY_COUNT] = {"01", "02", "03"};
const char *const ddad_synthetic_categories[DDAD_SYNTHETIC_CATEGORY_COUNT] = {
    "woven", "grainy", "striped", "tiles", "washer", "capsule_toy",
};

const char *const *ddad_category_list(ddad_data_format_t format, size_t *n)
{
    switch (format) {
    case DDAD_DATA_FORMAT_MVTEC: *n = DDAD_MVTEC_CATEGORY_COUNT; return ddad_mvtec_categories;
    case DDAD_DATA_FORMAT_VISA: *n = DDAD_VISA_CATEGORY_COUNT; return ddad_visa_categories;
    case DDAD_DATA_FORMAT_BTAD: *n = DDAD_BTAD_CATEGORY_COUNT; return ddad_btad_categories;
    case DDAD_DATA_FORMAT_FOLDER: break;
    }
    *n = 0;
    return NULL;
}

/* ---- enum value names (index = enum value) ---------------------------- */
static const char *const k_formats[] = {"mvtec", "visa", "btad", "folder", NULL};
static const char *const k_schedules[] = {"linear", "cosine", NULL};
static const char *const k_noises[] = {"white", "pyramid", NULL};
static const char *const k_backbones[] = {"efficientnet-b4", NULL};
static const char *const k_random_inits[] = {"torch", "variance_preserving", NULL};
static const char *const k_lr_decays[] = {"linear", "constant", NULL};
static const char *const k_precisions[] = {"fp32", "fp16", "bf16", NULL};
static const char *const k_image_scores[] = {"topk_mean", "max", NULL};
static const char *const k_methods[] = {"ddad", "rgb", NULL};
static const char *const k_flips[] = {"none", "horizontal", "vertical", "both", NULL};
static const char *const k_normalizes[] = {"image", "good", NULL};
static const char *const k_good_stds[] = {"global", "pixel", NULL};
static const char *const k_good_timesteps[] = {"average", "each", NULL};
static const char *const k_feature_timesteps[] = {"same", "respaced_quirk", NULL};
static const char *const k_resolutions[] = {"model", "original", NULL};
static const char *const k_dist_backends[] = {"auto", "gloo", "nccl", NULL};

/* ---- per-value checks --------------------------------------------------
 * Each returns NULL when the value is fine, else a phrase saying what is
 * allowed (used verbatim in error messages). */
static const char *check_device(const void *p)
{
    const char *s = p;
    if (strcmp(s, "cpu") == 0 || strcmp(s, "cuda") == 0)
        return NULL;
    if (strncmp(s, "cuda:", 5) == 0 && s[5] && strlen(s + 5) <= 3) {
        for (const char *c = s + 5; *c; c++)
            if (!isdigit((unsigned char)*c))
                return "cpu, cuda or cuda:N (N = device index)";
        return NULL;
    }
    return "cpu, cuda or cuda:N (N = device index)";
}

static const char *check_odd_or_zero(const void *p)
{
    int v = *(const int *)p;
    return (v == 0 || v % 2 == 1) ? NULL : "0 (automatic) or an odd number";
}

static bool is_folder_name(const char *s)
{
    if (!*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (const char *c = s; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.')
            return false;
    return true;
}

static const char *check_run_name(const void *p)
{
    const char *s = p;
    return (!*s || is_folder_name(s)) ? NULL : "\"\" or one folder name of letters, digits, '_', '-', '.'";
}

static const char *check_categories(const void *p)
{
    const ddad_config_names_t *c = p;
    for (size_t i = 0; i < c->n; i++) {
        if (!is_folder_name(c->v[i]))
            return "folder names made of letters, digits, '_', '-', '.'";
        if (strcmp(c->v[i], "all") == 0 && (c->is_list || c->n != 1))
            return "\"all\" on its own, not inside a list";
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->v[i], c->v[j]) == 0)
                return "a list without repeated names";
    }
    return NULL;
}

static const char *check_sorted_unique(const void *p)
{
    const ddad_config_ints_t *l = p;
    for (size_t i = 1; i < l->n; i++)
        if (l->v[i] <= l->v[i - 1])
            return "strictly increasing values";
    return NULL;
}

static const char *check_unique(const void *p)
{
    const ddad_config_ints_t *l = p;
    for (size_t i = 0; i < l->n; i++)
        for (size_t j = 0; j < i; j++)
            if (l->v[i] == l->v[j])
                return "values without repeats";
    return NULL;
}

static const char *check_threshold_rule(const void *p)
{
    ddad_calib_rule_t r;
    if (ddad_calib_rule_parse((const char *)p, &r) != DDAD_OK)
        return "max, quantile:Q (0 <= Q <= 1), fpr:F (0 <= F < 1) or f1";
    return NULL;
}

/* ---- the table ---------------------------------------------------------- */
#define OFF(f) offsetof(ddad_config_t, f)
#define SZ(f) sizeof(((ddad_config_t *)0)->f)
#define IMAX ((double)INT_MAX)

#define K_INT(p, f, d, lo, hi, h) \
    {.path = p, .type = DDAD_CONFIG_INT, .offset = OFF(f), .size = SZ(f), .def = d, .min = lo, .max = hi, .help = h}
#define K_INTC(p, f, d, lo, hi, chk, al, h)                                                                  \
    {.path = p, .type = DDAD_CONFIG_INT, .offset = OFF(f), .size = SZ(f), .def = d, .min = lo, .max = hi, \
     .check = chk, .allowed = al, .help = h}
#define K_DBL(p, f, d, lo, hi, b, h)                                                                            \
    {.path = p, .type = DDAD_CONFIG_DOUBLE, .offset = OFF(f), .size = SZ(f), .def = d, .min = lo, .max = hi, \
     .bounds = b, .help = h}
#define K_BOOL(p, f, d, h) {.path = p, .type = DDAD_CONFIG_BOOL, .offset = OFF(f), .size = SZ(f), .def = d, .help = h}
#define K_STR(p, f, d, chk, al, h)                                                                        \
    {.path = p, .type = DDAD_CONFIG_STRING, .offset = OFF(f), .size = SZ(f), .def = d, .check = chk, \
     .allowed = al, .help = h}
#define K_ENUM(p, f, d, nm, h) \
    {.path = p, .type = DDAD_CONFIG_ENUM, .offset = OFF(f), .size = SZ(f), .def = d, .names = nm, .help = h}
#define K_INTS(p, f, d, lo, hi, cmin, cmax, chk, al, h)                                                             \
    {.path = p, .type = DDAD_CONFIG_INT_LIST, .offset = OFF(f), .size = SZ(f), .def = d, .min = lo, .max = hi, \
     .min_count = cmin, .max_count = cmax, .check = chk, .allowed = al, .help = h}

static const ddad_config_key_t k_schema[] = {
    K_INT("seed", seed, "0", 0, IMAX, "Seed of every random stream (weights, noise, batches, PaDiM channels)."),
    K_STR("device", device, "cpu", check_device, "cpu, cuda or cuda:N", "Where tensors live."),
    K_INT("threads", threads, "0", 0, 1024, "CPU threads for libtorch (0 = all cores)."),

    K_ENUM("data.format", data.format, "mvtec", k_formats, "Data set layout."),
    K_STR("data.root", data.root, "datasets/mvtec", NULL, NULL, "Folder holding the category folders."),
    {.path = "data.category", .type = DDAD_CONFIG_NAMES, .offset = OFF(data.category), .size = SZ(data.category),
     .def = "bottle", .min_count = 1, .max_count = DDAD_CONFIG_MAX_NAMES, .check = check_categories,
     .allowed = "a category, a list of categories, or all",
     .help = "Category to train on; a list or \"all\" trains one class-conditional (unified) model."},
    K_INT("data.image_size", data.image_size, "256", 16, 2048, "Images are resized to image_size x image_size."),
    K_DBL("data.rotation_deg", data.rotation_deg, "5", 0, 180, 0,
          "Training augmentation: random rotation in [-r, r] degrees (0 = off)."),
    K_ENUM("data.flip", data.flip, "none", k_flips,
           "Random flips of training images, each with probability 1/2 (both = horizontal and vertical "
           "independently); none = the paper."),
    K_DBL("data.val_split", data.val_split, "0.0", 0, 0.5, 0,
          "Fraction of each category's training images held out from training (evenly spread, no seed): "
          "good images for score.normalize good and the deployment threshold (0 = none, the paper)."),
    K_INT("data.loader_threads", data.loader_threads, "1", 1, 64, "Threads decoding images."),

    K_INT("model.channels", model.channels, "256", 1, 4096, "UNet base channels (a multiple of 32 for GroupNorm(32))."),
    K_INTS("model.channel_mult", model.channel_mult, "[1, 1, 2, 2, 4, 4]", 1, 16, 1, 8, NULL, NULL,
           "Channel multiplier per UNet level; each level after the first halves the resolution."),
    K_INT("model.res_blocks", model.res_blocks, "2", 1, 16, "Residual blocks per level."),
    K_INTS("model.attention_resolutions", model.attention_resolutions, "[32, 16, 8]", 1, 2048, 0, 8, check_unique,
           "no repeats; each a UNet resolution",
           "Resolutions (px) with self-attention, as guided-diffusion's flag."),
    K_INT("model.head_channels", model.head_channels, "64", 1, 4096, "Channels per attention head."),
    K_INT("model.num_classes", model.num_classes, "15", 0, 1000,
          "Class embedding size (0 = none); labels are indices in the data set's category list."),
    K_DBL("model.dropout", model.dropout, "0.0", 0, 1, DDAD_CONFIG_MAX_OPEN, "Dropout in residual blocks."),
    K_BOOL("model.learn_sigma", model.learn_sigma, "true", "Predict the variance interpolation (6 output channels)."),
    K_BOOL("model.resblock_updown", model.resblock_updown, "true", "BigGAN-style residual up/down-sampling."),
    K_BOOL("model.scale_shift_norm", model.scale_shift_norm, "true", "Scale-shift (AdaGN) time conditioning."),
    K_INT("model.feature_tap", model.feature_tap, "10", 0, 1024,
          "Decoder output block that feeds the feature head (10 = the 64x64 stage in the paper)."),
    K_STR("model.init", model.init, "", NULL, NULL, "ADM weights (HDF5) to start from; \"\" = random init."),

    K_INT("diffusion.steps", diffusion.steps, "1000", 2, 100000, "Diffusion steps T."),
    K_ENUM("diffusion.schedule", diffusion.schedule, "linear", k_schedules, "Beta schedule."),
    K_INT("diffusion.respacing", diffusion.respacing, "250", 1, 100000,
          "Test-time chain length (evenly strided timesteps)."),
    K_ENUM("diffusion.noise", diffusion.noise, "white", k_noises,
           "The noise eps of q_sample, in training and scoring alike: white (i.i.d. per pixel, the paper) or "
           "pyramid (white noise plus white noise drawn at 1/2, 1/4, ... of the size and upsampled bilinearly, "
           "weighted noise_discount^k, scaled to unit std per image). Pyramid noise has low-frequency power, so "
           "small timesteps already bury soft, large defects such as stains. A model is scored (and its training "
           "resumed) with the noise it was trained with: ddad-predict takes it from the checkpoint, and every "
           "program refuses a config or --set that says otherwise."),
    K_DBL("diffusion.noise_discount", diffusion.noise_discount, "0.8", 0, 1, DDAD_CONFIG_MIN_OPEN,
          "Pyramid noise: the weight of level k (1/2^k of the size) is noise_discount^k."),

    K_ENUM("features.backbone", features.backbone, "efficientnet-b4", k_backbones,
           "Frozen feature extractor regressed by the feature head."),
    K_STR("features.weights", features.weights, "", NULL, NULL,
          "Backbone weights (HDF5); \"\" = random weights, labelled as such in every output."),
    K_INT("features.train_size", features.train_size, "64", 1, 1024, "Feature map size in training."),
    K_INT("features.score_size", features.score_size, "16", 1, 1024,
          "Feature map size when scoring (the authors' test script uses 16)."),
    K_INT("features.input_size", features.input_size, "0", 0, 1024,
          "Side the image is resized to (bilinear) before the backbone; 0 = the image as it is. A 64 px image "
          "fed at 256 puts the deepest tap at 16 x 16 instead of 4 x 4."),
    K_BOOL("features.standardize", features.standardize, "false",
           "Standardise each of the 272 feature channels by its mean and std over the training images "
           "(computed when training starts, stored in the checkpoint), so that every tap weighs in the feature "
           "error; the authors' method compares raw features."),
    K_ENUM("features.random_init", features.random_init, "torch", k_random_inits,
           "Initialisation of a backbone without weights: torch (PyTorch's defaults, under which the deep "
           "channels shrink to ~1e-8) or variance_preserving (He bounds, so every tap keeps its scale); "
           "named in every output's feature-extractor label."),

    K_INT("train.iterations", train.iterations, "10000", 1, IMAX, "Optimizer steps."),
    K_INT("train.batch_size", train.batch_size, "2", 1, 4096, "Images per step."),
    K_INT("train.grad_accum", train.grad_accum, "1", 1, 4096,
          "Micro-batches per optimizer step, of batch_size / grad_accum images each (must divide batch_size); their "
          "gradients add up to the whole batch's, in the memory of one micro-batch."),
    K_BOOL("train.checkpointing", train.checkpointing, "false",
           "Recompute the UNet blocks' activations in backward instead of keeping them (guided-diffusion's "
           "use_checkpoint): less memory, about one more forward pass of compute per step."),
    K_DBL("train.lr", train.lr, "1e-4", 0, 1, DDAD_CONFIG_MIN_OPEN, "AdamW learning rate."),
    K_ENUM("train.lr_decay", train.lr_decay, "linear", k_lr_decays, "Learning-rate schedule (linear = to 0 at the end)."),
    K_DBL("train.weight_decay", train.weight_decay, "0.0", 0, 1, 0, "AdamW weight decay."),
    K_DBL("train.ema", train.ema, "0.997", 0, 1, 0, "EMA decay of the weights used for evaluation."),
    K_DBL("train.grad_clip", train.grad_clip, "0.0", 0, 1e6, 0, "Gradient norm clip (0 = off)."),
    K_ENUM("train.precision", train.precision, "fp32", k_precisions, "Autocast precision (fp16 needs CUDA)."),
    K_INT("train.checkpoint_every", train.checkpoint_every, "1000", 1, IMAX, "Iterations between checkpoints."),
    K_INT("train.keep_checkpoints", train.keep_checkpoints, "3", 1, 1000, "Checkpoints kept on disk (newest)."),
    K_INT("train.log_every", train.log_every, "50", 1, IMAX, "Iterations between log lines."),
    K_DBL("train.feature_loss_weight", train.feature_loss_weight, "1.0", 0, 1000, 0, "Weight of L_feat."),
    K_DBL("train.vlb_weight", train.vlb_weight, "1.0", 0, 1000, 0, "Weight of L_vlb."),
    K_INT("train.target_cache_mb", train.target_cache_mb, "1024", 0, 1048576,
          "With data.rotation_deg 0 and data.flip none: memory for the frozen extractor's targets, computed once per image (0 = off)."),

    K_ENUM("dist.backend", dist.backend, "auto", k_dist_backends,
           "Data-parallel backend when WORLD_SIZE is set (auto = nccl on CUDA if built in, else gloo)."),
    K_DBL("dist.timeout_s", dist.timeout_s, "600", 1, 86400, 0,
          "Seconds a rank waits for the others (rendezvous, every all-reduce) before it gives up."),
    K_DBL("dist.bucket_mb", dist.bucket_mb, "25", 0.01, 4096, 0, "Size of the buffers gradients are all-reduced in."),

    K_INTS("score.timesteps", score.timesteps, "[5, 50, 100]", 0, 100000, 1, DDAD_CONFIG_MAX_INTS, check_unique,
           "no repeats; each < diffusion.respacing", "Respaced timesteps averaged into the anomaly map."),
    K_INT("score.noise_draws", score.noise_draws, "1", 1, 64,
          "Noise draws per timestep; the maps of a timestep are averaged over them (1 = the paper)."),
    K_ENUM("score.normalize", score.normalize, "image", k_normalizes,
           "Scale of the maps before alpha combines them: image = per-image z-score of the KL map (the authors'); "
           "good = per-pixel mean and overall std of each map over held-out good images (needs data.val_split)."),
    K_ENUM("score.good_std", score.good_std, "global", k_good_stds,
           "With score.normalize good, the std each map is divided by: global = one over all pixels of the held-out "
           "images; pixel = one per pixel, shrunk toward the global one as if 5 more images had it (aligned objects)."),
    K_ENUM("score.good_timesteps", score.good_timesteps, "average", k_good_timesteps,
           "With score.normalize good, what is standardised: average = the map averaged over the timesteps; each = "
           "each timestep's map by its own held-out statistics, then averaged, so that every timestep weighs the "
           "same (the raw KL of the smallest timestep is otherwise the largest)."),
    K_DBL("score.alpha", score.alpha, "0.5", 0, 1, 0, "Anomaly map = alpha * pixel map + (1 - alpha) * feature map."),
    K_INT("score.topk", score.topk, "64", 1, IMAX, "Image score = mean of the top-k pixels."),
    K_ENUM("score.image_score", score.image_score, "topk_mean", k_image_scores, "Image score from the anomaly map."),
    K_DBL("score.smooth_sigma", score.smooth_sigma, "0.0", 0, 100, 0, "Gaussian smoothing of the map, px (0 = off)."),
    K_INTC("score.smooth_kernel", score.smooth_kernel, "0", 0, 255, check_odd_or_zero, "0 or odd",
           "Smoothing kernel size (0 = automatic from sigma)."),
    K_ENUM("score.method", score.method, "ddad", k_methods, "ddad, or rgb = plain reconstruction-error ablation."),
    K_ENUM("score.feature_timestep", score.feature_timestep, "same", k_feature_timesteps,
           "Feature head timestep: same as x_t, or the authors' respaced-index quirk."),
    K_ENUM("score.resolution", score.resolution, "model", k_resolutions,
           "Evaluate at the model resolution (masks: nearest) or the original image size."),
    K_INT("score.batch_size", score.batch_size, "1", 1, 4096,
          "(image, timestep, noise draw) pairs per UNet call when scoring (the authors' code: 1); images go "
          "through max(1, batch_size / (timesteps x noise_draws)) at a time. Activation memory grows with it: "
          "at the paper size on 2 CPU cores, 1 scores in 4.3 GB at 22.7 s per image (fp32) and 3 in 8.1 GB at "
          "31.9 s; on a GPU larger batches are faster where memory allows."),
    K_ENUM("score.precision", score.precision, "fp32", k_precisions,
           "Autocast precision of the UNet and EfficientNet forwards when scoring (fp16 needs CUDA; "
           "bf16 on the CPU through oneDNN); the KL and feature-error maths stay fp32."),

    K_INT("recon.rounds", recon.rounds, "100", 0, 100000, "Gradient-denoising rounds."),
    K_INT("recon.grad_steps", recon.grad_steps, "5", 0, 10000, "PaDiM gradient steps per round."),
    K_DBL("recon.step_size", recon.step_size, "0.02", 0, 1, DDAD_CONFIG_MIN_OPEN, "Gradient step s."),
    K_INT("recon.t", recon.t, "8", 0, 100000, "Respaced timestep of the denoising step."),
    K_BOOL("recon.sample", recon.sample, "false", "Sample with sigma (paper) instead of the mean (authors' code)."),
    K_INTS("recon.record", recon.record, "[0, 1, 5, 10, 25, 50, 100]", 0, 100000, 0, DDAD_CONFIG_MAX_INTS,
           check_sorted_unique, "increasing; each <= recon.rounds", "Rounds whose images are kept (Figure 7)."),
    K_INT("recon.padim_channels", recon.padim_channels, "500", 1, 1792, "Random PaDiM channel subset."),
    K_DBL("recon.padim_eps", recon.padim_eps, "0.01", 0, 1000, DDAD_CONFIG_MIN_OPEN, "Covariance regulariser."),
    K_STR("recon.wrn_weights", recon.wrn_weights, "", NULL, NULL, "WideResNet-50-2 weights (HDF5); \"\" = random."),

    K_DBL("eval.pro_limit", eval.pro_limit, "0.3", 0, 1, DDAD_CONFIG_MIN_OPEN, "AU-PRO integration limit (FPR)."),
    K_BOOL("eval.save_images", eval.save_images, "false", "Write anomaly map images."),
    K_STR("eval.threshold_rule", eval.threshold_rule, "max", check_threshold_rule,
          "max, quantile:Q, fpr:F or f1",
          "Deployment threshold rule on the calibration images (held-out good ones, data.val_split, else good "
          "training images); f1 fits on the labelled test split and is marked optimistic."),

    K_STR("run.dir", run.dir, "runs", NULL, NULL, "Root of run folders."),
    K_STR("run.name", run.name, "", check_run_name, "\"\" or a folder name",
          "Run folder = run.dir/<data.format>/<category or unified>[/run.name]."),
};

const ddad_config_key_t *ddad_config_schema(size_t *n)
{
    *n = sizeof k_schema / sizeof k_schema[0];
    return k_schema;
}

const ddad_config_key_t *ddad_config_find_key(const char *path)
{
    for (size_t i = 0; i < sizeof k_schema / sizeof k_schema[0]; i++)
        if (strcmp(k_schema[i].path, path) == 0)
            return &k_schema[i];
    return NULL;
}

/* ---- Markdown reference ------------------------------------------------- */
static const char *type_name(ddad_config_type_t t)
{
    switch (t) {
    case DDAD_CONFIG_INT: return "int";
    case DDAD_CONFIG_DOUBLE: return "double";
    case DDAD_CONFIG_BOOL: return "bool";
    case DDAD_CONFIG_STRING: return "string";
    case DDAD_CONFIG_ENUM: return "enum";
    case DDAD_CONFIG_INT_LIST: return "int list";
    case DDAD_CONFIG_NAMES: return "string or list";
    }
    return "?";
}

static void md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else
            fputc(*s, out);
    }
}

static void md_interval(FILE *out, const ddad_config_key_t *k)
{
    if (k->max >= (double)INT_MAX)
        fprintf(out, "%s %g", (k->bounds & DDAD_CONFIG_MIN_OPEN) ? ">" : ">=", k->min);
    else
        fprintf(out, "%c%g, %g%c", (k->bounds & DDAD_CONFIG_MIN_OPEN) ? '(' : '[', k->min, k->max,
                (k->bounds & DDAD_CONFIG_MAX_OPEN) ? ')' : ']');
}

static void md_allowed(FILE *out, const ddad_config_key_t *k)
{
    switch (k->type) {
    case DDAD_CONFIG_INT:
    case DDAD_CONFIG_DOUBLE: md_interval(out, k); break;
    case DDAD_CONFIG_BOOL: fputs("true, false", out); break;
    case DDAD_CONFIG_ENUM:
        for (size_t i = 0; k->names[i]; i++)
            fprintf(out, "%s`%s`", i ? ", " : "", k->names[i]);
        break;
    case DDAD_CONFIG_INT_LIST:
        if (k->min_count == k->max_count)
            fprintf(out, "%zu values in ", k->min_count);
        else
            fprintf(out, "%zu to %zu values in ", k->min_count, k->max_count);
        md_interval(out, k);
        break;
    case DDAD_CONFIG_STRING:
    case DDAD_CONFIG_NAMES:
        if (!k->allowed)
            fputs("any", out);
        break;
    }
    if (k->allowed) {
        if (k->type != DDAD_CONFIG_STRING && k->type != DDAD_CONFIG_NAMES)
            fputs("; ", out);
        md_cell(out, k->allowed);
    }
}

void ddad_config_schema_markdown(FILE *out)
{
    fputs("# Configuration keys\n"
          "\n"
          "<!-- Generated by ddad_config_schema_markdown() from the schema table in\n"
          "     core/config/config_schema.c; do not edit by hand. After changing the table run\n"
          "     `DDAD_UPDATE_DOCS=1 ctest -R test_config` (tests/test_config.c fails while\n"
          "     this file is out of date). -->\n"
          "\n"
          "An experiment is a YAML file in `configs/`. Keys are written nested\n"
          "(`model: {channels: 64}`) or as dotted paths (`model.channels: 64`); an unknown\n"
          "key, a value of the wrong type, a value out of range or an unknown choice is\n"
          "an error that names the file, line and column.\n"
          "\n"
          "Values are applied in this order, later ones winning:\n"
          "\n"
          "1. the defaults below (the paper's setting);\n"
          "2. the `base:` chain: a top-level `base: other.yaml` names a file to inherit\n"
          "   from, resolved relative to the including file; the deepest base is applied\n"
          "   first;\n"
          "3. the file itself;\n"
          "4. `--set key.path=value` options, in order (repeatable; the value is parsed\n"
          "   with the key's type, lists written `[1,2,3]` or `1,2,3`).\n"
          "\n"
          "Lists replace the inherited list, they are never merged. After loading, the\n"
          "configuration is checked as a whole: every attention resolution must be a\n"
          "resolution of the UNet, `model.channels` a multiple of 32, `data.image_size`\n"
          "divisible by 2^(levels-1), `model.feature_tap` smaller than the number of\n"
          "decoder blocks (levels x (res_blocks + 1)), every timestep smaller than\n"
          "`diffusion.respacing`, `score.topk` at most the number of pixels, and the\n"
          "categories known to the data format (MVTec AD when the last component of\n"
          "`data.root` starts with `mvtec`, the synthetic set when it is `synthetic`,\n"
          "VisA and BTAD always). Class labels are indices in that list.\n"
          "\n"
          "Intervals: `[a, b]` includes both ends, `(a, b]` excludes a.\n",
          out);

    size_t n;
    const ddad_config_key_t *keys = ddad_config_schema(&n);
    char section[64] = "#";
    for (size_t i = 0; i < n; i++) {
        const ddad_config_key_t *k = &keys[i];
        const char *dot = strchr(k->path, '.');
        char sec[64] = "";
        if (dot)
            snprintf(sec, sizeof sec, "%.*s", (int)(dot - k->path), k->path);
        if (strcmp(sec, section) != 0) {
            snprintf(section, sizeof section, "%s", sec);
            fprintf(out, "\n## %s\n\n", *sec ? sec : "Top level");
            fputs("| Key | Type | Default | Allowed | Description |\n", out);
            fputs("|---|---|---|---|---|\n", out);
        }
        fprintf(out, "| `%s` | %s | ", k->path, type_name(k->type));
        if (*k->def) {
            fputc('`', out);
            md_cell(out, k->def);
            fputc('`', out);
        } else {
            fputs("`\"\"`", out);
        }
        fputs(" | ", out);
        md_allowed(out, k);
        fputs(" | ", out);
        md_cell(out, k->help);
        fputs(" |\n", out);
    }
}
