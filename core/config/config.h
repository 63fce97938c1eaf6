/* core/config/config.h - typed experiment configuration, read from YAML.
 *
 * Overview
 * --------
 * Every setting of a ddad run lives in one plain struct, ddad_config_t, with
 * nested structs per section (data, model, diffusion, features, train, score,
 * recon, eval, run). Strings are fixed-size buffers and lists fixed-capacity
 * arrays with a count, so a config can be copied with `=` and owns nothing.
 *
 * One schema table (ddad_config_schema(), in config_schema.c) lists every key
 * once: its dotted path, type, place in the struct, default, bounds or allowed
 * values and a one-line help. The same table drives parsing, validation,
 * printing, iteration and the Markdown key reference (docs/config-keys.md).
 *
 *     ddad_config_t cfg;
 *     const char *sets[] = {"train.iterations=500", "score.timesteps=[5,50]"};
 *     if (ddad_config_load(&cfg, "configs/bottle.yaml", sets, 2) != DDAD_OK) {
 *         fprintf(stderr, "error: %s\n", ddad_last_error());   // file:line:col: ...
 *         return ddad_status_exit_code(DDAD_STATUS_CONFIG);     // 3
 *     }
 *     ddad_config_print(&cfg, stdout, DDAD_CONFIG_FORMAT_TABLE);
 *     printf("%d px, alpha %g\n", cfg.data.image_size, cfg.score.alpha);
 *
 * Files
 * -----
 * A file is a YAML mapping. Keys may be nested (`model: {channels: 64}`) or
 * written as dotted paths (`model.channels: 64`). A top-level `base: other.yaml`
 * names a file to inherit from, resolved relative to the including file's
 * folder. Values are applied in this order, later ones winning:
 *
 *     defaults < base chain (deepest first) < the file < overrides (--set)
 *
 * Lists replace, never merge. Int lists are written `[1, 2, 3]` (or a YAML
 * block sequence, or the scalar `1,2,3`). data.category is one name, a list
 * of names, or "all".
 *
 * Errors
 * ------
 * Every failure returns DDAD_STATUS_CONFIG with a message that names the file,
 * line and column (1-based) or the --set assignment, the key or value at fault,
 * and what is allowed: unknown keys (with the closest valid key), wrong types,
 * values out of range, unknown enum values, inheritance loops, missing files
 * (naming the including file), malformed YAML (libyaml's problem and position)
 * and bad --set syntax. Cross-field checks (ddad_config_validate) run at the
 * end of every load and point at the file and line that set the key.
 *
 * Ownership: nothing in ddad_config_t is heap-allocated. Strings returned by
 * the helpers below point into the config or into static tables. Text
 * returned through `char **` is malloc'ed and owned by the caller (free()).
 */
#ifndef DDAD_CONFIG_H
#define DDAD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "data_format.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DDAD_CONFIG_PATH_MAX 1024  /* bytes of a path value, including NUL     */
#define DDAD_CONFIG_NAME_MAX 64    /* bytes of a category name, including NUL */
#define DDAD_CONFIG_MAX_NAMES 32   /* capacity of data.category               */
#define DDAD_CONFIG_MAX_INTS 16    /* capacity of an int list                 */
#define DDAD_CONFIG_MAX_DEPTH 16   /* longest base: chain                     */

/* ---- enum-valued keys (value = index into the key's allowed names) ---- */

typedef enum ddad_schedule { DDAD_SCHEDULE_LINEAR = 0, DDAD_SCHEDULE_COSINE } ddad_schedule_t;
/* The eps of q_sample in training and scoring (diffusion.noise). */
typedef enum ddad_noise {
    DDAD_NOISE_WHITE = 0, /* i.i.d. N(0, 1) per pixel and channel (the paper)               */
    DDAD_NOISE_PYRAMID    /* white + upsampled coarser white noise, unit std per image */
} ddad_noise_t;
typedef enum ddad_backbone { DDAD_BACKBONE_EFFICIENTNET_B4 = 0 } ddad_backbone_t;
/* How a backbone without a weights file is initialised (features.random_init). */
typedef enum ddad_random_init {
    DDAD_RANDOM_INIT_TORCH = 0,           /* PyTorch's defaults: U(+-1/sqrt(fan_in))       */
    DDAD_RANDOM_INIT_VARIANCE_PRESERVING  /* He bounds: activations keep their scale       */
} ddad_random_init_t;
typedef enum ddad_lr_decay { DDAD_LR_DECAY_LINEAR = 0, DDAD_LR_DECAY_CONSTANT } ddad_lr_decay_t;
typedef enum ddad_precision {
    DDAD_PRECISION_FP32 = 0,
    DDAD_PRECISION_FP16,
    DDAD_PRECISION_BF16
} ddad_precision_t;
/* the order of ddad_dist_backend_t (core/torch/dist.h) */
typedef enum ddad_dist_backend_choice {
    DDAD_CONFIG_DIST_AUTO = 0,
    DDAD_CONFIG_DIST_GLOO,
    DDAD_CONFIG_DIST_NCCL
} ddad_dist_backend_choice_t;
typedef enum ddad_image_score { DDAD_IMAGE_SCORE_TOPK_MEAN = 0, DDAD_IMAGE_SCORE_MAX } ddad_image_score_t;
typedef enum ddad_score_method { DDAD_SCORE_METHOD_DDAD = 0, DDAD_SCORE_METHOD_RGB } ddad_score_method_t;
/* How the branch maps are brought to one scale before they are combined:
 * image = the authors' per-image z-score of each KL map (feature map raw);
 * good  = per-pixel mean and overall std of each branch over held-out good
 *         images (data.val_split), stored in the run as reference.h5. */
/* data.flip: the random flips of training images; the values are the
 * loader's bits (DDAD_LOADER_FLIP_H = 1, DDAD_LOADER_FLIP_V = 2) */
typedef enum ddad_data_flip {
    DDAD_DATA_FLIP_NONE = 0,
    DDAD_DATA_FLIP_HORIZONTAL = 1,
    DDAD_DATA_FLIP_VERTICAL = 2,
    DDAD_DATA_FLIP_BOTH = 3
} ddad_data_flip_t;
typedef enum ddad_score_normalize { DDAD_SCORE_NORMALIZE_IMAGE = 0, DDAD_SCORE_NORMALIZE_GOOD } ddad_score_normalize_t;
/* score.good_std: the scale of score.normalize good, one number or one per pixel */
typedef enum ddad_score_good_std { DDAD_SCORE_GOOD_STD_GLOBAL = 0, DDAD_SCORE_GOOD_STD_PIXEL } ddad_score_good_std_t;
/* score.good_timesteps: what score.normalize good standardises, the t-averaged
 * map or each timestep's map before the average */
typedef enum ddad_score_good_timesteps {
    DDAD_SCORE_GOOD_TIMESTEPS_AVERAGE = 0,
    DDAD_SCORE_GOOD_TIMESTEPS_EACH
} ddad_score_good_timesteps_t;
typedef enum ddad_feature_timestep {
    DDAD_FEATURE_TIMESTEP_SAME = 0,      /* feature head sees the same t as x_t (ddad)        */
    DDAD_FEATURE_TIMESTEP_RESPACED_QUIRK /* authors' code: respaced index, original noise     */
} ddad_feature_timestep_t;
typedef enum ddad_score_resolution {
    DDAD_SCORE_RESOLUTION_MODEL = 0, /* metrics at data.image_size (masks: nearest)  */
    DDAD_SCORE_RESOLUTION_ORIGINAL   /* maps resized back to the original image size */
} ddad_score_resolution_t;

/* ---- value containers ------------------------------------------------- */
typedef struct ddad_config_ints {
    size_t n;                        /* number of values                     */
    int v[DDAD_CONFIG_MAX_INTS];     /* (n)                                  */
} ddad_config_ints_t;

/* One name, or a list of names (data.category). */
typedef struct ddad_config_names {
    size_t n;                                          /* >= 1 once loaded   */
    bool is_list;                                      /* written as a list  */
    char v[DDAD_CONFIG_MAX_NAMES][DDAD_CONFIG_NAME_MAX]; /* (n)              */
} ddad_config_names_t;

/* ---- sections --------------------------------------------------------- */
typedef struct ddad_config_data {
    ddad_data_format_t format;
    char root[DDAD_CONFIG_PATH_MAX];
    ddad_config_names_t category; /* "all" or a list = unified model         */
    int image_size;               /* square input side, px                   */
    double rotation_deg;          /* random rotation in [-r, r] degrees      */
    ddad_data_flip_t flip;        /* random flips (training augmentation)    */
    double val_split;             /* fraction of train/good held out         */
    int loader_threads;
} ddad_config_data_t;

typedef struct ddad_config_model {
    int channels;                        /* model_channels                  */
    ddad_config_ints_t channel_mult;     /* per level                       */
    int res_blocks;                      /* per level                       */
    ddad_config_ints_t attention_resolutions; /* in px, e.g. 32, 16, 8      */
    int head_channels;
    int num_classes;                     /* 0 = no class embedding          */
    double dropout;
    bool learn_sigma;
    bool resblock_updown;
    bool scale_shift_norm;
    int feature_tap;                     /* output block feeding the head   */
    char init[DDAD_CONFIG_PATH_MAX];     /* ADM weights HDF5, "" = random   */
} ddad_config_model_t;

typedef struct ddad_config_diffusion {
    int steps;                  /* T                                         */
    ddad_schedule_t schedule;
    int respacing;              /* test-time chain length                    */
    ddad_noise_t noise;         /* the eps of q_sample (training and scoring) */
    double noise_discount;      /* pyramid: weight ratio of successive levels */
} ddad_config_diffusion_t;

typedef struct ddad_config_features {
    ddad_backbone_t backbone;
    char weights[DDAD_CONFIG_PATH_MAX]; /* "" = random weights (labelled)   */
    int train_size;             /* feat_size in training                     */
    int score_size;             /* feat_size at test time                    */
    int input_size;             /* backbone input side; 0 = the image's      */
    bool standardize;           /* per-channel training statistics           */
    ddad_random_init_t random_init; /* weights when features.weights is ""  */
} ddad_config_features_t;

typedef struct ddad_config_train {
    int iterations;
    int batch_size;
    int grad_accum;             /* micro-batches per optimizer step          */
    bool checkpointing;         /* recompute UNet block activations in backward */
    double lr;
    ddad_lr_decay_t lr_decay;
    double weight_decay;
    double ema;
    double grad_clip;           /* 0 = off                                   */
    ddad_precision_t precision;
    int checkpoint_every;
    int keep_checkpoints;
    int log_every;
    double feature_loss_weight;
    double vlb_weight;
    int target_cache_mb;        /* extractor targets kept without augmentation */
} ddad_config_train_t;

typedef struct ddad_config_score {
    ddad_config_ints_t timesteps; /* respaced indices                        */
    int noise_draws;            /* noise draws averaged per timestep         */
    ddad_score_normalize_t normalize;
    ddad_score_good_std_t good_std;
    ddad_score_good_timesteps_t good_timesteps;
    double alpha;               /* pixel-map weight                          */
    int topk;
    ddad_image_score_t image_score;
    double smooth_sigma;        /* 0 = off                                   */
    int smooth_kernel;          /* 0 = auto, else odd                        */
    ddad_score_method_t method;
    ddad_feature_timestep_t feature_timestep;
    ddad_score_resolution_t resolution;
    int batch_size;
    ddad_precision_t precision; /* autocast dtype of the UNet / EfficientNet forwards */
} ddad_config_score_t;

typedef struct ddad_config_recon {
    int rounds;
    int grad_steps;
    double step_size;
    int t;                      /* respaced denoising timestep               */
    bool sample;                /* true: sample with sigma; false: mean      */
    ddad_config_ints_t record;  /* rounds whose image is kept                */
    int padim_channels;
    double padim_eps;
    char wrn_weights[DDAD_CONFIG_PATH_MAX];
} ddad_config_recon_t;

typedef struct ddad_config_eval {
    double pro_limit;
    bool save_images;
    char threshold_rule[48];    /* core/report/calib.h rule: max, quantile:Q, fpr:F, f1 */
} ddad_config_eval_t;

typedef struct ddad_config_dist {
    ddad_dist_backend_choice_t backend;
    double timeout_s;           /* rendezvous and every collective           */
    double bucket_mb;           /* gradient all-reduce bucket size           */
} ddad_config_dist_t;

typedef struct ddad_config_run {
    char dir[DDAD_CONFIG_PATH_MAX];
    char name[256];
} ddad_config_run_t;

typedef struct ddad_config {
    int seed;
    char device[32];            /* "cpu", "cuda" or "cuda:N"                 */
    int threads;                /* 0 = all cores                             */
    ddad_config_data_t data;
    ddad_config_model_t model;
    ddad_config_diffusion_t diffusion;
    ddad_config_features_t features;
    ddad_config_train_t train;
    ddad_config_score_t score;
    ddad_config_recon_t recon;
    ddad_config_eval_t eval;
    ddad_config_dist_t dist;
    ddad_config_run_t run;
} ddad_config_t;

/* ---- loading ---------------------------------------------------------- */

/* Fills cfg with the defaults of the schema (the paper's setting). */
void ddad_config_defaults(ddad_config_t *cfg);

/* defaults < base chain < file < overrides ("key.path=value" each), then
 * ddad_config_validate(). path NULL = defaults + overrides only. On failure
 * cfg holds an unspecified partial state. */
ddad_status_t ddad_config_load(ddad_config_t *cfg, const char *path, const char *const *overrides,
                               size_t n_overrides);

/* Same, from YAML text (e.g. a resolved config stored in a checkpoint). name
 * labels error messages (NULL = "<string>"); a `base:` in the text resolves
 * relative to the folder of name. */
ddad_status_t ddad_config_load_string(ddad_config_t *cfg, const char *yaml, const char *name,
                                      const char *const *overrides, size_t n_overrides);

/* Applies one "key.path=value" assignment (no cross-field validation; the
 * value's own type and bounds are checked). Lists are written "[1,2,3]" or
 * "1,2,3"; quotes around a string are optional. cfg is unchanged on failure. */
ddad_status_t ddad_config_set(ddad_config_t *cfg, const char *assignment);

/* Cross-field checks (UNet geometry, timesteps vs respacing, categories vs
 * the data format, ...). Messages name the keys involved. */
ddad_status_t ddad_config_validate(const ddad_config_t *cfg);

/* ---- output ----------------------------------------------------------- */
typedef enum ddad_config_format {
    DDAD_CONFIG_FORMAT_TABLE = 0, /* aligned two-column table for humans     */
    DDAD_CONFIG_FORMAT_YAML       /* the same text as ddad_config_to_yaml    */
} ddad_config_format_t;

void ddad_config_print(const ddad_config_t *cfg, FILE *out, ddad_config_format_t format);

/* Resolved config as YAML that ddad_config_load_string() reads back to an
 * equal config. *out is malloc'ed (caller frees). */
ddad_status_t ddad_config_to_yaml(const ddad_config_t *cfg, char **out);

/* Calls fn(path, value_text, user) for every key in schema order (e.g. to
 * store HDF5 attributes). Values are formatted as in the YAML output, without
 * quotes: "mvtec", "0.0001", "[1, 1, 2]", "[bottle, cable]". A non-zero
 * return from fn stops the iteration and is returned. */
typedef int (*ddad_config_foreach_fn)(const char *path, const char *value, void *user);
int ddad_config_foreach(const ddad_config_t *cfg, ddad_config_foreach_fn fn, void *user);

/* Value of one key as text (same format as foreach). Returns false for an
 * unknown path. */
bool ddad_config_get_text(const ddad_config_t *cfg, const char *path, char *buf, size_t cap);

/* Markdown reference of every key (docs/config-keys.md). */
void ddad_config_schema_markdown(FILE *out);

/* ---- categories ------------------------------------------------------- */

/* Category lists of the public data sets, in the order that defines class
 * labels (MVTec AD: the paper's 15 classes in alphabetical order). */
#define DDAD_MVTEC_CATEGORY_COUNT 15
#define DDAD_VISA_CATEGORY_COUNT 12
#define DDAD_BTAD_CATEGORY_COUNT 3
#define DDAD_SYNTHETIC_CATEGORY_COUNT 6
extern const char *const ddad_mvtec_categories[DDAD_MVTEC_CATEGORY_COUNT];
extern const char *const ddad_visa_categories[DDAD_VISA_CATEGORY_COUNT];
extern const char *const ddad_btad_categories[DDAD_BTAD_CATEGORY_COUNT];
/* The built-in synthetic MVTec-layout data set (datasets/synthetic):
 * textures woven, grainy, striped, tiles, then objects washer, capsule_toy
 * (the generator's order; class labels follow it). */
extern const char *const ddad_synthetic_categories[DDAD_SYNTHETIC_CATEGORY_COUNT];

/* The category list of a data format (NULL, *n = 0 for FOLDER). */
const char *const *ddad_category_list(ddad_data_format_t format, size_t *n);

/* The list that applies to this config, or NULL when names cannot be known
 * in advance: VisA and BTAD always use theirs; mvtec uses the synthetic list
 * when data.root's last component is "synthetic", the MVTec AD list when it
 * starts with "mvtec" (e.g. "mvtec", "mvtec_anomaly_detection"), and none
 * otherwise (names are then checked by the data set indexer). */
const char *const *ddad_config_known_categories(const ddad_config_t *cfg, size_t *n);

/* True for a class-conditional model over several categories: data.category
 * is "all" or written as a list. */
bool ddad_config_is_unified(const ddad_config_t *cfg);

/* The categories of this run ("all" expanded). Writes up to cap borrowed
 * pointers (into cfg or the static lists) and returns the total count (which
 * may exceed cap, like snprintf); 0 when "all" has no known list. */
size_t ddad_config_categories(const ddad_config_t *cfg, const char **names, size_t cap);

/* Class label of a category for the class-conditional model: its index in
 * the known list, else its index in data.category; -1 if not found. */
int ddad_config_category_index(const ddad_config_t *cfg, const char *name);

/* Run folder: run.dir/<data.format>/<category or "unified">[/run.name]. */
ddad_status_t ddad_config_run_dir(const ddad_config_t *cfg, char *buf, size_t cap);

/* ---- the schema ------------------------------------------------------- */
typedef enum ddad_config_type {
    DDAD_CONFIG_INT = 0,
    DDAD_CONFIG_DOUBLE,
    DDAD_CONFIG_BOOL,
    DDAD_CONFIG_STRING,
    DDAD_CONFIG_ENUM,
    DDAD_CONFIG_INT_LIST,
    DDAD_CONFIG_NAMES /* string or list of strings */
} ddad_config_type_t;

/* Bound flags: exclusive ends of [min, max]. */
#define DDAD_CONFIG_MIN_OPEN 1u
#define DDAD_CONFIG_MAX_OPEN 2u

typedef struct ddad_config_key {
    const char *path;            /* "model.channels"                          */
    ddad_config_type_t type;
    size_t offset;               /* into ddad_config_t                        */
    size_t size;                 /* string buffer bytes                       */
    const char *def;             /* default, as YAML text                     */
    double min, max;             /* numbers, list elements                    */
    unsigned bounds;             /* DDAD_CONFIG_MIN_OPEN | ..._MAX_OPEN       */
    size_t min_count, max_count; /* lists                                     */
    const char *const *names;    /* enum values, NULL-terminated              */
    /* Extra per-value check (e.g. "odd"): NULL if fine, else what is allowed. */
    const char *(*check)(const void *value);
    const char *allowed;         /* how check's rule reads in the docs        */
    const char *help;
} ddad_config_key_t;

/* The schema table, in documentation order. */
const ddad_config_key_t *ddad_config_schema(size_t *n);
/* Row of a dotted path, or NULL. */
const ddad_config_key_t *ddad_config_find_key(const char *path);

#ifdef __cplusplus
}
#endif
#endif
