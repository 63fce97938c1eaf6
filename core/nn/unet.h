/* core/nn/unet.h - the ADM UNet of guided-diffusion (UNetModel) with the
 * feature-regression head of Lu et al. (AnomalyModel), written on the tensor
 * API.
 *
 * Overview
 * --------
 * ddad_unet_t is a tree of plain structs (blocks -> layers -> ResBlock /
 * attention) holding BORROWED parameter tensors; the tensors are owned by a
 * ddad_params_t registry under guided-diffusion's exact state_dict names
 * ("input_blocks.4.1.qkv.weight", "feat_rec1.2.bias", ...), registered in
 * state_dict order, so published checkpoints load one to one.
 *
 *     ddad_unet_options_t opt;
 *     ddad_unet_options_paper(&opt);              // the 256-px paper model
 *     ddad_params_t p;
 *     ddad_params_init(&p, DDAD_CPU);
 *     ddad_unet_t u;
 *     ddad_unet_init(&u, &opt, &p);               // registers + randomly initialises
 *     ddad_tensor_t *out, *feat;
 *     ddad_unet_forward(&u, x, t, y, 16, &out, &feat);
 *     // x (N, 3, H, W) f32, t (N) i64 (original 0..999 steps), y (N) i64 or NULL
 *     // out (N, 6, H, W): channels 0-2 eps, 3-5 variance value v
 *     // feat (N, 272, 16, 16): feature head at feat_size 16
 *     ddad_tensor_free(out); ddad_tensor_free(feat);
 *     ddad_unet_free(&u);                          // the structs only
 *     ddad_params_free(&p);                        // the tensors
 *
 * Layout (as guided-diffusion's create_model builds it):
 *   time_embed (Linear C->4C, SiLU, Linear 4C->4C), label_emb (classes, 4C),
 *   input_blocks: conv3x3, then per level num_res_blocks x [ResBlock (+ attention
 *   where image_size / res == ds)] and, except on the last level, a down block;
 *   middle_block: ResBlock, attention, ResBlock;
 *   output_blocks: per level (reversed) num_res_blocks + 1 x [ResBlock on
 *   cat(h, skip) (+ attention)], the last of each level (except level 0) with an
 *   up block; out: GroupNorm, SiLU, conv3x3 (zero-initialised);
 *   feat_rec1: GroupNorm(32, tap channels), SiLU, conv1x1 -> feat_channels, applied
 *   to output_blocks[feature_tap] bilinearly resized to feat_size.
 * Attention uses the legacy QKV order (heads first, then q|k|v per head).
 *
 * Activation checkpointing (opt.use_checkpoint, guided-diffusion's
 * use_checkpoint; set from train.checkpointing): when the forward pass is
 * recorded for autograd, every block (each input block, the middle block,
 * each output block) runs through ddad_checkpoint - its activations are not
 * kept but recomputed from the block's input during backward. Outputs and
 * gradients are those of the plain forward (to float rounding); without
 * grad mode the flag changes nothing.
 *
 * Not supported (rejected with DDAD_STATUS_USAGE): dropout != 0 (the paper
 * trains with 0), channel counts that are not multiples of 32 (GroupNorm(32)).
 *
 * Ownership: ddad_unet_init borrows the registry (it must outlive the UNet).
 * Forward outputs follow the scope rules of tensor.h: they land in the
 * caller's innermost open scope, or belong to the caller when no scope is
 * open; ddad_tensor_free on them is always allowed.
 */
#ifndef DDAD_NN_UNET_H
#define DDAD_NN_UNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "../torch/tensor.h"
#include "params.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DDAD_UNET_MAX_LEVELS 8
#define DDAD_UNET_MAX_ATTN 8

typedef struct ddad_unet_options {
    int image_size;                              /* 256; sets attention downsample rates      */
    int in_channels;                             /* 3                                         */
    int model_channels;                          /* 256                                       */
    int out_channels;                            /* 6 with learned sigma, 3 without           */
    int num_res_blocks;                          /* 2                                         */
    int attention_resolutions[DDAD_UNET_MAX_ATTN]; /* pixels: 32, 16, 8 -> ds = image_size / res */
    int n_attention_resolutions;
    int channel_mult[DDAD_UNET_MAX_LEVELS];      /* 1, 1, 2, 2, 4, 4                          */
    int n_channel_mult;
    int num_head_channels;                       /* 64; <= 0: use num_heads                   */
    int num_heads;                               /* used only when num_head_channels <= 0     */
    int num_classes;                             /* 15; 0 = unconditional (no label_emb)      */
    bool resblock_updown;                        /* true: ResBlock(up/down); false: conv resample */
    bool use_scale_shift_norm;                   /* true (AdaGN)                              */
    double dropout;                              /* must be 0                                 */
    int feature_tap;                             /* output block index of the head; 10; -1 = no head */
    int feat_channels;                           /* 272                                       */
    uint64_t init_seed;                          /* seed of the random initialisation         */
    bool skip_random_init;                       /* true: leave zeros (weights loaded next)   */
    bool use_checkpoint;                         /* recompute each block in backward (memory) */
} ddad_unet_options_t;

/* The paper's 256-px model (see fixtures/adm256_keys.txt section A). */
void ddad_unet_options_paper(ddad_unet_options_t *opt);
/* Checks the options (channel counts, divisibility, tap index). */
ddad_status_t ddad_unet_options_check(const ddad_unet_options_t *opt);

typedef enum ddad_unet_layer_kind {
    DDAD_UNET_LAYER_CONV = 0, /* input conv3x3 (input_blocks.0.0)                          */
    DDAD_UNET_LAYER_RES,      /* ResBlock                                                 */
    DDAD_UNET_LAYER_ATTN,     /* AttentionBlock                                           */
    DDAD_UNET_LAYER_DOWN,     /* Downsample: conv3x3 stride 2 ("op")                       */
    DDAD_UNET_LAYER_UP        /* Upsample: nearest x2 then conv3x3 ("conv")                */
} ddad_unet_layer_kind_t;

typedef struct ddad_unet_resblock {
    int64_t in_ch, out_ch;
    int updown;                             /* 0; -1: avg-pool 2x2 (down); +1: nearest x2 (up) */
    bool scale_shift;
    ddad_tensor_t *in_norm_w, *in_norm_b;   // (in_ch)
    ddad_tensor_t *in_conv_w, *in_conv_b;   // (out_ch, in_ch, 3, 3), (out_ch)
    ddad_tensor_t *emb_w, *emb_b;           // (2 out_ch | out_ch, emb_dim), (2 out_ch | out_ch)
    ddad_tensor_t *out_norm_w, *out_norm_b; // (out_ch)
    ddad_tensor_t *out_conv_w, *out_conv_b; // (out_ch, out_ch, 3, 3), (out_ch)
    ddad_tensor_t *skip_w, *skip_b;         // (out_ch, in_ch, 1, 1), (out_ch); NULL = identity
} ddad_unet_resblock_t;

typedef struct ddad_unet_attn {
    int64_t ch, heads;
    ddad_tensor_t *norm_w, *norm_b; // (ch)
    ddad_tensor_t *qkv_w, *qkv_b;   // (3 ch, ch, 1), (3 ch)
    ddad_tensor_t *proj_w, *proj_b; // (ch, ch, 1), (ch)
} ddad_unet_attn_t;

typedef struct ddad_unet_layer {
    ddad_unet_layer_kind_t kind;
    ddad_unet_resblock_t res;       /* RES                                    */
    ddad_unet_attn_t attn;          /* ATTN                                   */
    ddad_tensor_t *conv_w, *conv_b; /* CONV, DOWN, UP: (out, in, 3, 3), (out) */
} ddad_unet_layer_t;

#define DDAD_UNET_MAX_LAYERS 3
typedef struct ddad_unet_block {   /* guided-diffusion's TimestepEmbedSequential */
    int n_layers;
    ddad_unet_layer_t layers[DDAD_UNET_MAX_LAYERS];
    int64_t out_ch;                /* channels of the block output              */
    int ds;                        /* downsample rate of the block output       */
} ddad_unet_block_t;

typedef struct ddad_unet_init_rec ddad_unet_init_rec_t; /* private: how each tensor is initialised */

typedef struct ddad_unet {
    ddad_unet_options_t opt;
    int64_t emb_dim;                             /* 4 * model_channels                 */
    ddad_tensor_t *time_w0, *time_b0;            // (emb_dim, C), (emb_dim)
    ddad_tensor_t *time_w2, *time_b2;            // (emb_dim, emb_dim), (emb_dim)
    ddad_tensor_t *label_emb;                    // (num_classes, emb_dim) or NULL
    ddad_unet_block_t *input_blocks;             // (n_input)
    int n_input;
    ddad_unet_block_t middle;
    ddad_unet_block_t *output_blocks;            // (n_output)
    int n_output;
    ddad_tensor_t *out_norm_w, *out_norm_b;      // (C0)
    ddad_tensor_t *out_conv_w, *out_conv_b;      // (out_channels, C0, 3, 3), (out_channels)
    int64_t tap_channels;                        /* channels of output_blocks[feature_tap] */
    ddad_tensor_t *feat_norm_w, *feat_norm_b;    // (tap_channels)
    ddad_tensor_t *feat_conv_w, *feat_conv_b;    // (feat_channels, tap_channels, 1, 1), (feat_channels)
    ddad_params_t *params;                       /* borrowed registry                  */
    ddad_unet_init_rec_t *inits;                 /* (n_inits) private                  */
    size_t n_inits;
} ddad_unet_t;

/* Builds the layout, registers every tensor in params (state_dict names and
 * order) and, unless opt->skip_random_init, initialises them like PyTorch's
 * defaults (Conv/Linear U(+-1/sqrt(fan_in)), GroupNorm 1/0, Embedding N(0,1))
 * with guided-diffusion's zero_module convs (ResBlock out_layers.3, attention
 * proj_out, out.2) set to zero, from a generator seeded with opt->init_seed.
 * The tensors are created on params->device. On failure u is freed (tensors
 * already registered stay in params). */
ddad_status_t ddad_unet_init(ddad_unet_t *u, const ddad_unet_options_t *opt, ddad_params_t *params);
/* Re-draws every parameter as described above from gen (NULL: libtorch's
 * default generator). */
ddad_status_t ddad_unet_init_weights(ddad_unet_t *u, ddad_generator_t *gen);
/* Frees the structs (not the tensors, which the registry owns). NULL ok. */
void ddad_unet_free(ddad_unet_t *u);

/* Calls fn(user, name, shape, ndim) for every tensor the UNet with these
 * options would register, in state_dict order, without allocating any
 * tensor (same code path as ddad_unet_init). *n_params (may be NULL)
 * receives the total number of elements. */
typedef void (*ddad_unet_param_fn)(void *user, const char *name, const int64_t *shape, int ndim);
ddad_status_t ddad_unet_enumerate_params(const ddad_unet_options_t *opt, ddad_unet_param_fn fn, void *user,
                                         int64_t *n_params);

/* Sinusoidal timestep embedding: t (N) any integer or float dtype ->
 * (N, dim) f32, [cos(t f_i), sin(t f_i)], f_i = exp(-ln(10000) i / (dim/2)). */
ddad_status_t ddad_timestep_embedding(ddad_tensor_t **out, const ddad_tensor_t *t, int64_t dim);

/* Observer of intermediate results (debugging, tests): called with
 * "timestep_embedding", "emb", "input_blocks.<i>", "middle_block",
 * "output_blocks.<i>", "feat_tap" (the tap after resizing). The tensor is
 * borrowed for the duration of the call. */
typedef void (*ddad_unet_hook_fn)(void *user, const char *name, const ddad_tensor_t *t);

/* x (N, in_channels, H, W) with H, W divisible by 2^(levels-1); t (N) i64
 * timesteps as the network sees them (original 1000-step scale); y (N) i64
 * class labels, or NULL for an unconditional model (required when
 * num_classes > 0). feat_size 0: no feature head (feat may be NULL);
 * otherwise *feat (N, feat_channels, feat_size, feat_size).
 * *out (N, out_channels, H, W). Outputs are owned by the caller. Autograd
 * records the forward when grad mode is on and parameters require grad. */
ddad_status_t ddad_unet_forward(const ddad_unet_t *u, const ddad_tensor_t *x, const ddad_tensor_t *t,
                                const ddad_tensor_t *y, int64_t feat_size, ddad_tensor_t **out, ddad_tensor_t **feat);
/* Same, with an observer (hook may be NULL). out may be NULL when only the
 * feature head is wanted (the decoder still runs up to the tap). */
ddad_status_t ddad_unet_forward_ex(const ddad_unet_t *u, const ddad_tensor_t *x, const ddad_tensor_t *t,
                                   const ddad_tensor_t *y, int64_t feat_size, ddad_tensor_t **out, ddad_tensor_t **feat,
                                   ddad_unet_hook_fn hook, void *hook_user);

#ifdef __cplusplus
}
#endif
#endif
