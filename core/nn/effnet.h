/* core/nn/effnet.h - the frozen EfficientNet-B4 feature extractor of the
 * feature loss and the feature score (METHOD.md section 3).
 *
 * The network is the lukemelas "efficientnet_pytorch" B4 that the authors use,
 * parameter for parameter under its state_dict names (`_conv_stem.weight`,
 * `_bn0.*`, `_blocks.N._expand_conv.weight`, `_blocks.N._bn0.*`,
 * `_blocks.N._depthwise_conv.weight`, `_blocks.N._bn1.*`, `_blocks.N._se_reduce.*`,
 * `_blocks.N._se_expand.*`, `_blocks.N._project_conv.weight`, `_blocks.N._bn2.*`).
 * Only the stem and MBConv blocks 0..21 are built: nothing after block 21
 * influences the taps. Numerics follow the reference exactly:
 *   - TensorFlow-style "same" padding computed once for the nominal image size
 *     380 and applied unchanged to any input size (the per-block table in
 *     effnet.c; e.g. (0, 1, 0, 1) for every stride-2 3x3 conv, (2, 2, 2, 2) for
 *     the stride-2 5x5 conv of block 6);
 *   - BatchNorm in eval mode with eps 1e-3; swish = x * sigmoid(x);
 *   - MBConv = [expand 1x1, BN, swish] (blocks with expand ratio > 1),
 *     depthwise conv, BN, swish, squeeze-excitation (global mean, 1x1 conv with
 *     bias, swish, 1x1 conv with bias, sigmoid, multiply), project 1x1, BN, and
 *     the residual add when stride is 1 and in/out channels match.
 * The input is the [-1, 1] image as it is, without ImageNet normalisation (as
 * the authors do).
 *
 * The extractor is frozen: every tensor is registered as a non-trainable
 * buffer, so no gradient is ever accumulated into it and no optimizer sees
 * it. Gradients still flow to the input if the input requires grad.
 *
 *     ddad_effnet_t net;
 *     ddad_effnet_options_t opt = ddad_effnet_default_options();
 *     opt.weights_path = "weights/efficientnet-b4.h5";   // or NULL: random
 *     if (ddad_effnet_init(&net, &opt) != DDAD_OK) ...
 *     if (net.random_weights) label the results "random EfficientNet";
 *     ddad_tensor_t *f;                                   // (N, 272, 16, 16)
 *     ddad_effnet_features(&net, x, 16, &f);              // x (N, 3, H, W) in [-1, 1]
 *     ddad_tensor_free(f);
 *     ddad_effnet_free(&net);
 *
 * Weight files: HDF5, one float32 dataset per state_dict key under a group
 * (default "weights"), as ddad_params_load_h5 reads them. Exactly the names of
 * the stem and blocks 0..21 (ddad_effnet_required_names) are required; every
 * other name in the group (later blocks, _conv_head, _bn1, _fc,
 * num_batches_tracked) is ignored, so a converted full checkpoint loads as is.
 */
#ifndef DDAD_NN_EFFNET_H
#define DDAD_NN_EFFNET_H

#include <stdbool.h>
#include <stdint.h>

#include "h5io.h"
#include "../torch/tensor.h"
#include "params.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DDAD_EFFNET_NUM_BLOCKS 22       /* blocks 0..21 are built               */
#define DDAD_EFFNET_NUM_TAPS 4          /* outputs of blocks 1, 5, 9, 21        */
#define DDAD_EFFNET_FEAT_CHANNELS 272   /* 24 + 32 + 56 + 160                   */
#define DDAD_EFFNET_BN_EPS 1e-3

/* Block index and channel count of each tap, in tap order. */
extern const int ddad_effnet_tap_blocks[DDAD_EFFNET_NUM_TAPS];   /* 1, 5, 9, 21    */
extern const int ddad_effnet_tap_channels[DDAD_EFFNET_NUM_TAPS]; /* 24, 32, 56, 160 */

/* Eval-mode BatchNorm (all four borrowed from the registry). */
typedef struct ddad_effnet_bn {
    ddad_tensor_t *weight, *bias, *running_mean, *running_var; /* (C) each */
} ddad_effnet_bn_t;

/* One MBConv block; its configuration is the B4 table. */
typedef struct ddad_effnet_block {
    int in_ch, out_ch, kernel, stride, expand, se_ch;
    bool residual;        /* stride 1 and in_ch == out_ch                       */
    int pad[4];           /* static padding of the depthwise conv (l, r, t, b)  */
    ddad_tensor_t *expand_w;    /* (in*e, in, 1, 1); NULL when expand == 1       */
    ddad_effnet_bn_t bn0;       /* after the expansion (unset when expand == 1)  */
    ddad_tensor_t *depthwise_w; /* (mid, 1, k, k)                               */
    ddad_effnet_bn_t bn1;
    ddad_tensor_t *se_reduce_w, *se_reduce_b; /* (se, mid, 1, 1), (se)          */
    ddad_tensor_t *se_expand_w, *se_expand_b; /* (mid, se, 1, 1), (mid)         */
    ddad_tensor_t *project_w;   /* (out, mid, 1, 1)                             */
    ddad_effnet_bn_t bn2;
} ddad_effnet_block_t;

typedef struct ddad_effnet_options {
    ddad_device_t device;       /* where the weights live (CPU)                  */
    const char *weights_path;   /* HDF5 file, or NULL for random weights        */
    const char *weights_group;  /* group inside it ("weights")                   */
    uint64_t seed;              /* random initialisation when no file (0)        */
    bool variance_preserving;   /* He bounds instead of PyTorch's defaults       */
} ddad_effnet_options_t;

typedef struct ddad_effnet {
    ddad_params_t params;       /* owns every tensor (all buffers, frozen)       */
    ddad_tensor_t *stem_w;      /* (48, 3, 3, 3), stride 2, pad (0, 1, 0, 1)     */
    ddad_effnet_bn_t bn0;       /* (48)                                          */
    ddad_effnet_block_t blocks[DDAD_EFFNET_NUM_BLOCKS];
    /* true when the weights are the seeded random initialisation (no file):
     * every result computed with them must say so. */
    bool random_weights;
    char source[512];           /* the weights file, or "random (seed N)"       */
    /* Input and output transforms of ddad_effnet_features (not of
     * ddad_effnet_forward), both off after init:
     * input_size > 0: x is resized (bilinear) to input_size x input_size
     * before the stem (features.input_size);
     * chan_mean / chan_std (1, 272, 1, 1), owned, on the weights' device:
     * when set, features are (f - mean) / std per channel
     * (features.standardize; ddad_effnet_set_standardization). */
    int64_t input_size;
    ddad_tensor_t *chan_mean, *chan_std;
} ddad_effnet_t;

ddad_effnet_options_t ddad_effnet_default_options(void);

/* Builds the network on opt->device and loads opt->weights_path (or draws the
 * random initialisation of PyTorch's defaults: convs U(+-1/sqrt(fan_in)), BN
 * identity, from a generator seeded with opt->seed). On failure *net is left
 * freed (calling ddad_effnet_free on it is still safe). */
ddad_status_t ddad_effnet_init(ddad_effnet_t *net, const ddad_effnet_options_t *opt);
/* Frees every tensor; net may be NULL or already freed. */
void ddad_effnet_free(ddad_effnet_t *net);

/* Loads group/<name> for exactly the required names (shape-checked), ignoring
 * every other dataset in the group. A missing required name is a DATA error
 * naming it and the file. Clears random_weights and sets source. */
ddad_status_t ddad_effnet_load_h5(ddad_effnet_t *net, ddad_h5_t *f, const char *group);

/* Number of required state_dict names (stem and blocks 0..21: 413) and the
 * i-th of them (borrowed from the registry, registration order). */
size_t ddad_effnet_required_count(const ddad_effnet_t *net);
const char *ddad_effnet_required_name(const ddad_effnet_t *net, size_t i);

/* x (N, 3, H, W) in [-1, 1] on the weights' device ->
 * taps[i] (N, ddad_effnet_tap_channels[i], H/2^k, W/2^k) for k = 1, 2, 3, 4:
 * the outputs of blocks 1, 5, 9, 21. stem (may be NULL) receives
 * swish(bn0(conv_stem(x))) (N, 48, H/2, W/2). The caller owns the new
 * handles (or, when a scope is open, the innermost open scope does). An
 * autograd graph is built only if x requires grad (and grad mode is on). */
ddad_status_t ddad_effnet_forward(const ddad_effnet_t *net, const ddad_tensor_t *x,
                                  ddad_tensor_t *taps[DDAD_EFFNET_NUM_TAPS], ddad_tensor_t **stem);

/* The 272-channel feature map: each tap bilinearly resized (align_corners
 * false, no antialias) to (fs, fs) and concatenated in tap order; with
 * net->input_size and the standardisation applied when they are set.
 * x (N, 3, H, W) -> *out (N, 272, fs, fs), owned by the caller. */
ddad_status_t ddad_effnet_features(const ddad_effnet_t *net, const ddad_tensor_t *x, int64_t fs, ddad_tensor_t **out);

/* Per-channel standardisation of ddad_effnet_features: mean[272], std[272]
 * (std > 0) are copied to the weights' device; NULL for both turns it off. */
ddad_status_t ddad_effnet_set_standardization(ddad_effnet_t *net, const float *mean, const float *std);
/* Copies the standardisation into mean[272], std[272]; false when off. */
bool ddad_effnet_get_standardization(const ddad_effnet_t *net, float *mean, float *std);

/* Same, from taps already computed by ddad_effnet_forward. */
ddad_status_t ddad_effnet_concat_taps(ddad_tensor_t *const taps[DDAD_EFFNET_NUM_TAPS], int64_t fs, ddad_tensor_t **out);

#ifdef __cplusplus
}
#endif
#endif
