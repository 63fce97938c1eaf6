/* tests/test_nn_wrn.c - WideResNet-50-2 layer1..layer3 against torchvision's
 * wide_resnet50_2 (Debian's python3-torchvision) with seeded random weights
 * and non-trivial BatchNorm statistics, loaded through the state_dict names. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/wrn.h"
#include "testutil_nn.h"

#define REL_TOL 1e-4
#define ABS_FLOOR 1e-6

/* Writes a torchvision wide_resnet50_2 (seed 0 default init; BN running
 * statistics measured on random images then perturbed; BN affine
 * randomised) to argv[1]: every state_dict entry except layer4 (one layer4
 * tensor is kept to check that the loader ignores it), the input x (1, 3, 64,
 * 64) in [-1, 1] and the outputs of layer1..layer3 for the ImageNet-normalised
 * (x + 1) / 2. argv[2] receives a file holding only conv1 and bn1. */
static const char *oracle_py =
    "import sys, torch, torchvision, h5py\n"
    "torch.manual_seed(0)\n"
    "m = torchvision.models.wide_resnet50_2(weights=None)\n"
    "g = torch.Generator().manual_seed(1)\n"
    "bns = [b for b in m.modules() if isinstance(b, torch.nn.BatchNorm2d)]\n"
    "for b in bns:\n"
    "    b.momentum = None\n"
    "    b.reset_running_stats()\n"
    "m.train()\n"
    "with torch.no_grad():\n"
    "    m(torch.rand(4, 3, 64, 64, generator=g) * 4 - 2)\n"
    "    for b in bns:\n"
    "        c = b.num_features\n"
    "        b.weight.copy_(1 + 0.1 * torch.randn(c, generator=g))\n"
    "        b.bias.copy_(0.1 * torch.randn(c, generator=g))\n"
    "        b.running_var.mul_(torch.exp(0.1 * torch.randn(c, generator=g)))\n"
    "        b.running_mean.add_(0.1 * b.running_var.sqrt() * torch.randn(c, generator=g))\n"
    "m.eval()\n"
    "x = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1\n"
    "mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)\n"
    "std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)\n"
    "with torch.no_grad():\n"
    "    h = ((x + 1) / 2 - mean) / std\n"
    "    h = m.maxpool(m.relu(m.bn1(m.conv1(h))))\n"
    "    l1 = m.layer1(h); l2 = m.layer2(l1); l3 = m.layer3(l2)\n"
    "sd = m.state_dict()\n"
    "with h5py.File(sys.argv[1], 'w') as f:\n"
    "    for k, v in sd.items():\n"
    "        if k.startswith('layer4.') and k != 'layer4.0.conv1.weight':\n"
    "            continue\n"
    "        f['weights/' + k] = v.numpy()\n"
    "    f['input/x'] = x.numpy()\n"
    "    f['outputs/layer1'] = l1.numpy()\n"
    "    f['outputs/layer2'] = l2.numpy()\n"
    "    f['outputs/layer3'] = l3.numpy()\n"
    "with h5py.File(sys.argv[2], 'w') as f:\n"
    "    for k, v in sd.items():\n"
    "        if k.startswith('conv1.') or k.startswith('bn1.'):\n"
    "            f['weights/' + k] = v.numpy()\n";

static char *g_dir;
static char g_ref[4096], g_partial[4096];

static int make_oracle(void)
{
    if (!ddad_test_python_has("torch,torchvision,h5py"))
        return 0;
    g_dir = ddad_test_mkdtemp("wrn");
    if (!g_dir)
        return 0;
    char script[4096];
    snprintf(script, sizeof script, "%s/oracle.py", g_dir);
    snprintf(g_ref, sizeof g_ref, "%s/wrn_ref.h5", g_dir);
    snprintf(g_partial, sizeof g_partial, "%s/wrn_stem_only.h5", g_dir);
    FILE *fp = fopen(script, "w");
    if (!fp)
        return 0;
    fputs(oracle_py, fp);
    fclose(fp);
    return ddad_test_system("'%s' '%s' '%s' '%s'", ddad_test_python(), script, g_ref, g_partial) == 0;
}

static void test_against_torchvision(void)
{
    CU_ASSERT_FATAL(make_oracle());
    ddad_wrn_t net;
    ddad_wrn_options_t opt = ddad_wrn_default_options();
    opt.weights_path = g_ref;
    ddad_status_t st = ddad_wrn_init(&net, &opt);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  %s\n", ddad_last_error());
    CU_ASSERT_EQUAL_FATAL(st, DDAD_OK);
    CU_ASSERT_FALSE(net.random_weights);
    /* conv1 + bn1 (5) + 13 blocks x 3 (conv + 4 BN) + 3 downsample x 5 */
    CU_ASSERT_EQUAL(net.params.n, 5 + 13 * 15 + 3 * 5);

    ddad_h5_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, g_ref, DDAD_H5_READ), DDAD_OK);
    float *xb = NULL;
    int64_t shape[DDAD_H5_MAX_DIMS];
    int nd = 0;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_read(f, "input/x", DDAD_H5_F32, (void **)&xb, shape, &nd), DDAD_OK);
    ddad_tensor_t *x = NULL, *l[DDAD_WRN_NUM_LAYERS] = {0};
    CU_ASSERT_EQUAL_FATAL(ddad_from_buffer(&x, xb, shape, nd, DDAD_DTYPE_F32), DDAD_OK);
    free(xb);
    st = ddad_wrn_forward(&net, x, l);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  %s\n", ddad_last_error());
    CU_ASSERT_EQUAL_FATAL(st, DDAD_OK);
    ddad_test_assert_tensor_h5(f, "outputs/layer1", l[0], REL_TOL, ABS_FLOOR);
    ddad_test_assert_tensor_h5(f, "outputs/layer2", l[1], REL_TOL, ABS_FLOOR);
    ddad_test_assert_tensor_h5(f, "outputs/layer3", l[2], REL_TOL, ABS_FLOOR);
    for (int i = 0; i < DDAD_WRN_NUM_LAYERS; i++) {
        CU_ASSERT_EQUAL(ddad_tensor_size(l[i], 1), ddad_wrn_layer_channels[i]);
        CU_ASSERT_FALSE(ddad_requires_grad(l[i]));
        ddad_tensor_free(l[i]);
    }
    for (size_t i = 0; i < net.params.n; i++)
        CU_ASSERT_FALSE(net.params.items[i].trainable);

    /* a forward inside an open scope: results belong to that scope, the
     * network's own tensors survive it */
    size_t live = ddad_tensor_live_count();
    size_t mark = ddad_scope_begin();
    CU_ASSERT_EQUAL(ddad_wrn_forward(&net, x, l), DDAD_OK);
    ddad_scope_end(mark);
    CU_ASSERT_EQUAL(ddad_tensor_live_count(), live);
    CU_ASSERT_EQUAL(ddad_wrn_forward(&net, x, l), DDAD_OK);
    for (int i = 0; i < DDAD_WRN_NUM_LAYERS; i++)
        ddad_tensor_free(l[i]);

    ddad_tensor_free(x);
    ddad_h5_close(f);
    ddad_wrn_free(&net);
    ddad_wrn_free(&net);
}

static void test_loading_rules(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(g_dir);
    ddad_wrn_t net;
    ddad_wrn_options_t opt = ddad_wrn_default_options();
    opt.weights_path = g_partial;
    CU_ASSERT_EQUAL(ddad_wrn_init(&net, &opt), DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "layer1.0.conv1.weight"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "wrn_stem_only.h5"));
    CU_ASSERT_PTR_NULL(net.conv1_w);
    ddad_wrn_free(&net);

    opt.weights_path = NULL;
    opt.seed = 3;
    CU_ASSERT_EQUAL_FATAL(ddad_wrn_init(&net, &opt), DDAD_OK);
    CU_ASSERT_TRUE(net.random_weights);
    CU_ASSERT_PTR_NOT_NULL(strstr(net.source, "seed 3"));
    ddad_tensor_t *x = NULL, *l[3] = {0};
    int64_t shape[4] = {2, 3, 40, 40};
    CU_ASSERT_EQUAL_FATAL(ddad_zeros(&x, shape, 4, DDAD_DTYPE_F32, DDAD_CPU), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_wrn_forward(&net, x, l), DDAD_OK);
    int64_t s[4];
    ddad_tensor_shape(l[2], s, 4);
    CU_ASSERT(s[0] == 2 && s[1] == 1024 && s[2] == 3 && s[3] == 3);
    bool finite = false;
    CU_ASSERT_EQUAL(ddad_all_finite(&finite, l[2]), DDAD_OK);
    CU_ASSERT_TRUE(finite);
    for (int i = 0; i < 3; i++)
        ddad_tensor_free(l[i]);
    ddad_tensor_t *bad = NULL;
    int64_t bshape[3] = {3, 40, 40};
    CU_ASSERT_EQUAL(ddad_zeros(&bad, bshape, 3, DDAD_DTYPE_F32, DDAD_CPU), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_wrn_forward(&net, bad, l), DDAD_STATUS_SHAPE);
    ddad_tensor_free(bad);
    ddad_tensor_free(x);
    ddad_wrn_free(&net);

    ddad_test_rmtree(g_dir);
    free(g_dir);
    g_dir = NULL;
}

int main(void)
{
    ddad_set_num_threads(2);
    static const ddad_test_t tests[] = {
        {"layer1..layer3 match torchvision wide_resnet50_2", test_against_torchvision},
        {"weights: missing names refused, random init flagged", test_loading_rules},
        {0},
    };
    return ddad_test_main("nn_wrn", tests);
}
