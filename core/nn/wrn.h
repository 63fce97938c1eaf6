/* core/nn/wrn.h - the frozen WideResNet-50-2 backbone of PaDiM (METHOD.md
 * section 6), in torchvision's wide_resnet50_2 state_dict layout.
 *
 * Built: conv1 (7x7, stride 2, pad 3), bn1, ReLU, max-pool (3, stride 2, pad
 * 1), layer1..layer3 of Bottleneck blocks (3, 4, 6 blocks; bottleneck width
 * twice ResNet-50's: 128, 256, 512; outputs 256, 512, 1024 channels; the
 * stride sits on the 3x3 conv as in torchvision; the first block of each
 * layer has the 1x1 conv + BN "downsample" shortcut). BatchNorm in eval mode
 * with eps 1e-5. layer4, avgpool and fc are not needed by PaDiM and are not
 * built: ddad_wrn_load_h5 requires exactly the names of conv1, bn1 and
 * layer1..layer3 and ignores every other name in the file (layer4.*, fc.*,
 * num_batches_tracked), so a converted full torchvision checkpoint loads as is.
 *
 * Input convention: callers pass images in [-1, 1] (the toolkit's range); the
 * module maps them to [0, 1] and applies the ImageNet normalisation
 * ((x - mean) / std with mean (0.485, 0.456, 0.406), std (0.229, 0.224,
 * 0.225)) that torchvision's weights and PaDiM expect.
 *
 * All tensors are registered as non-trainable buffers (frozen); gradients
 * still flow to the input when it requires grad (the gradient denoising of
 * PaDiM's distance needs that).
 *
 *     ddad_wrn_t net;
 *     ddad_wrn_options_t opt = ddad_wrn_default_options();
 *     opt.weights_path = "weights/wide_resnet50_2.h5";   // or NULL: random
 *     if (ddad_wrn_init(&net, &opt) != DDAD_OK) ...
 *     ddad_tensor_t *l[3];                // (N,256,H/4,W/4) (N,512,H/8,W/8) (N,1024,H/16,W/16)
 *     ddad_wrn_forward(&net, x, l);       // x (N, 3, H, W) in [-1, 1]
 *     for (int i = 0; i < 3; i++) ddad_tensor_free(l[i]);
 *     ddad_wrn_free(&net);
 */
#ifndef DDAD_NN_WRN_H
#define DDAD_NN_WRN_H

#include <stdbool.h>
#include <stdint.h>

#include "h5io.h"
#include "../torch/tensor.h"
#include "params.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DDAD_WRN_NUM_LAYERS 3      /* layer1..layer3                            */
#define DDAD_WRN_NUM_BLOCKS 13     /* 3 + 4 + 6 Bottleneck blocks               */
#define DDAD_WRN_BN_EPS 1e-5

/* Output channels of layer1..layer3: 256, 512, 1024 (sum 1792). */
extern const int ddad_wrn_layer_channels[DDAD_WRN_NUM_LAYERS];

typedef struct ddad_wrn_bn {
    ddad_tensor_t *weight, *bias, *running_mean, *running_var; /* (C) each, borrowed */
} ddad_wrn_bn_t;

typedef struct ddad_wrn_block {
    int layer;                  /* 1..3                                          */
    int index;                  /* block index inside its layer                  */
    int64_t in_ch, width, out_ch, stride;
    ddad_tensor_t *conv1_w;     /* (width, in, 1, 1)                              */
    ddad_wrn_bn_t bn1;
    ddad_tensor_t *conv2_w;     /* (width, width, 3, 3), stride, pad 1           */
    ddad_wrn_bn_t bn2;
    ddad_tensor_t *conv3_w;     /* (out, width, 1, 1)                             */
    ddad_wrn_bn_t bn3;
    ddad_tensor_t *down_w;      /* (out, in, 1, 1) with stride; NULL: identity   */
    ddad_wrn_bn_t down_bn;
} ddad_wrn_block_t;

typedef struct ddad_wrn_options {
    ddad_device_t device;       /* where the weights live (CPU)                  */
    const char *weights_path;   /* HDF5 file, or NULL for random weights         */
    const char *weights_group;  /* group inside it ("weights")                    */
    uint64_t seed;              /* random initialisation when no file (0)         */
} ddad_wrn_options_t;

typedef struct ddad_wrn {
    ddad_params_t params;       /* owns every registered tensor (frozen)         */
    ddad_tensor_t *conv1_w;     /* (64, 3, 7, 7)                                 */
    ddad_wrn_bn_t bn1;          /* (64)                                          */
    ddad_wrn_block_t blocks[DDAD_WRN_NUM_BLOCKS];
    ddad_tensor_t *in_scale;    /* (1, 3, 1, 1) 0.5 / std, owned                 */
    ddad_tensor_t *in_shift;    /* (1, 3, 1, 1) (0.5 - mean) / std, owned        */
    bool random_weights;        /* true: seeded random init, label results       */
    char source[512];           /* the weights file, or "random (seed N)"        */
} ddad_wrn_t;

ddad_wrn_options_t ddad_wrn_default_options(void);

/* Builds the network on opt->device and loads opt->weights_path, or draws
 * torchvision's initialisation (convs N(0, 2 / fan_out), BN identity) from a
 * generator seeded with opt->seed. On failure *net is left freed. */
ddad_status_t ddad_wrn_init(ddad_wrn_t *net, const ddad_wrn_options_t *opt);
void ddad_wrn_free(ddad_wrn_t *net); /* net may be NULL or already freed */

/* Loads group/<name> for exactly the required names (see above), ignoring the
 * rest of the group; a missing name is a DATA error naming it. */
ddad_status_t ddad_wrn_load_h5(ddad_wrn_t *net, ddad_h5_t *f, const char *group);

/* x (N, 3, H, W) in [-1, 1] -> out[0] (N, 256, H/4, W/4), out[1] (N, 512,
 * H/8, W/8), out[2] (N, 1024, H/16, W/16) (sizes rounded as the convs do):
 * the outputs of layer1, layer2, layer3. New handles owned by the caller (kept
 * out of any open scope). */
ddad_status_t ddad_wrn_forward(const ddad_wrn_t *net, const ddad_tensor_t *x, ddad_tensor_t *out[DDAD_WRN_NUM_LAYERS]);

#ifdef __cplusplus
}
#endif
#endif
