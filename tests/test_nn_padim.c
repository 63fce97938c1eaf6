/* tests/test_nn_padim.c - PaDiM statistics and distances:
 *  - a hand-built case with a known answer: two training embeddings per
 *    location make the covariance rank one plus eps I, whose inverse is known
 *    in closed form (Sherman-Morrison); checked against that formula and
 *    against numpy (np.cov, np.linalg.inv) on Debian's python;
 *  - the gradient of the mean distance map with respect to the input image
 *    (autograd through the WideResNet) against central finite differences;
 *  - the HDF5 save / load round trip and the error paths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/padim.h"
#include "testutil.h"
#include "torch/tensor_backbone_extra.h"

#define D 6
#define GH 3
#define GW 2
#define L (GH * GW)
#define NZ 3

static double eps_ridge = 0.01;

/* Deterministic pseudo-random values in [-1, 1] (no library RNG involved). */
static double lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / (double)(1ULL << 53) * 2.0 - 1.0;
}

static ddad_tensor_t *tensor_of(const float *v, int64_t n, int64_t c, int64_t h, int64_t w)
{
    ddad_tensor_t *t = NULL;
    int64_t s[4] = {n, c, h, w};
    CU_ASSERT_EQUAL(ddad_from_buffer(&t, v, s, 4, DDAD_DTYPE_F32), DDAD_OK);
    return t;
}

static void write_f32(ddad_h5_t *f, const char *name, const float *v, int64_t n0, int64_t n1, int64_t n2)
{
    int64_t s[3] = {n0, n1, n2};
    CU_ASSERT_EQUAL(ddad_h5_write(f, name, DDAD_H5_F32, v, s, 3, 0), DDAD_OK);
}

static const char *numpy_py =
    "import sys, h5py, numpy as np\n"
    "with h5py.File(sys.argv[1], 'r') as f:\n"
    "    tr = f['train'][()].astype(np.float64)   # (n, d, L)\n"
    "    z = f['test'][()].astype(np.float64)     # (m, d, L)\n"
    "    eps = float(f.attrs['eps'])\n"
    "n, d, L = tr.shape\n"
    "mean = tr.mean(axis=0).T                     # (L, d)\n"
    "inv = np.stack([np.linalg.inv(np.cov(tr[:, :, l], rowvar=False) + eps * np.eye(d)) for l in range(L)])\n"
    "diff = z.transpose(2, 0, 1) - mean[:, None, :]   # (L, m, d)\n"
    "dist = np.sqrt(np.einsum('lmi,lij,lmj->ml', diff, inv, diff))\n"
    "with h5py.File(sys.argv[2], 'w') as f:\n"
    "    f['mean'] = mean; f['inv_cov'] = inv; f['dist'] = dist\n";

static void test_known_answer(void)
{
    uint64_t seed = 42;
    float a[D * L], b[D * L], z[NZ * D * L];
    for (int i = 0; i < D * L; i++) {
        a[i] = (float)lcg(&seed);
        b[i] = (float)(0.5 * lcg(&seed));
    }
    for (int i = 0; i < NZ * D * L; i++)
        z[i] = (float)(1.5 * lcg(&seed));

    ddad_padim_t pd;
    ddad_padim_options_t opt = ddad_padim_default_options();
    opt.d = D;
    opt.eps = eps_ridge;
    CU_ASSERT_EQUAL_FATAL(ddad_padim_init(&pd, &opt, DDAD_CPU), DDAD_OK);
    ddad_tensor_t *ta = tensor_of(a, 1, D, GH, GW), *tb = tensor_of(b, 1, D, GH, GW);
    ddad_tensor_t *tz = tensor_of(z, NZ, D, GH, GW), *dist = NULL;
    CU_ASSERT_EQUAL(ddad_padim_fit_add_embedding(&pd, ta), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_padim_fit_end(&pd), DDAD_STATUS_DATA); /* one image: no covariance */
    CU_ASSERT_EQUAL(ddad_padim_fit_add_embedding(&pd, tb), DDAD_OK);
    ddad_tensor_t *wrong = tensor_of(z, 1, D, GW, GH);          /* transposed grid */
    CU_ASSERT_EQUAL(ddad_padim_fit_add_embedding(&pd, wrong), DDAD_STATUS_SHAPE);
    CU_ASSERT_EQUAL(ddad_padim_distance_embedding(&pd, tz, &dist), DDAD_STATUS_USAGE); /* not fitted */
    CU_ASSERT_EQUAL_FATAL(ddad_padim_fit_end(&pd), DDAD_OK);
    CU_ASSERT_EQUAL(pd.n_train, 2);
    CU_ASSERT_EQUAL_FATAL(ddad_padim_distance_embedding(&pd, tz, &dist), DDAD_OK);

    float mean[L * D], inv[L * D * D], ours[NZ * L];
    CU_ASSERT_EQUAL(ddad_to_buffer(pd.mean, mean, sizeof mean, DDAD_DTYPE_F32), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_to_buffer(pd.inv_cov, inv, sizeof inv, DDAD_DTYPE_F32), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_to_buffer(dist, ours, sizeof ours, DDAD_DTYPE_F32), DDAD_OK);

    /* closed form: cov = u u^T + eps I with u = (a - b) / sqrt(2) (unbiased,
     * n = 2), inverse = I / eps - u u^T / (eps (eps + u.u)) */
    float want_mean[L * D], want_inv[L * D * D], want_dist[NZ * L];
    for (int l = 0; l < L; l++) {
        double u[D], uu = 0;
        for (int i = 0; i < D; i++) {
            u[i] = ((double)a[i * L + l] - b[i * L + l]) / sqrt(2.0);
            uu += u[i] * u[i];
            want_mean[l * D + i] = (float)(0.5 * ((double)a[i * L + l] + b[i * L + l]));
        }
        double e = eps_ridge;
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++)
                want_inv[(l * D + i) * D + j] = (float)((i == j ? 1.0 / e : 0.0) - u[i] * u[j] / (e * (e + uu)));
        for (int m = 0; m < NZ; m++) {
            double q = 0, du = 0, dd = 0;
            for (int i = 0; i < D; i++) {
                double di = (double)z[(m * D + i) * L + l] - 0.5 * ((double)a[i * L + l] + b[i * L + l]);
                dd += di * di;
                du += di * u[i];
            }
            q = dd / e - du * du / (e * (e + uu));
            want_dist[m * L + l] = (float)sqrt(q);
        }
    }
    DDAD_ASSERT_CLOSE("mean vs closed form", mean, want_mean, L * D, 1e-6, 1e-7);
    DDAD_ASSERT_CLOSE("inv_cov vs Sherman-Morrison", inv, want_inv, L * D * D, 1e-5, 1e-6);
    DDAD_ASSERT_CLOSE("distance vs closed form", ours, want_dist, NZ * L, 1e-5, 1e-6);

    /* numpy: np.cov + eps I, np.linalg.inv, the quadratic form */
    CU_ASSERT_FATAL(ddad_test_python_has("h5py,numpy"));
    char *dir = ddad_test_mkdtemp("padim-np");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char in[4096], out[4096], script[4096];
    snprintf(in, sizeof in, "%s/in.h5", dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    snprintf(script, sizeof script, "%s/oracle.py", dir);
    FILE *fp = fopen(script, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs(numpy_py, fp);
    fclose(fp);
    ddad_h5_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, in, DDAD_H5_CREATE), DDAD_OK);
    float ab[2 * D * L];
    memcpy(ab, a, sizeof a);
    memcpy(ab + D * L, b, sizeof b);
    write_f32(f, "train", ab, 2, D, L);
    write_f32(f, "test", z, NZ, D, L);
    CU_ASSERT_EQUAL(ddad_h5_set_attr_f64(f, "/", "eps", eps_ridge), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("'%s' '%s' '%s' '%s'", ddad_test_python(), script, in, out), 0);
    float np_mean[L * D], np_inv[L * D * D], np_dist[NZ * L];
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, out, DDAD_H5_READ), DDAD_OK);
    int64_t sm[2] = {L, D}, si[3] = {L, D, D}, sd[2] = {NZ, L};
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "mean", DDAD_H5_F32, np_mean, sm, 2), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "inv_cov", DDAD_H5_F32, np_inv, si, 3), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "dist", DDAD_H5_F32, np_dist, sd, 2), DDAD_OK);
    ddad_h5_close(f);
    DDAD_ASSERT_CLOSE("mean vs numpy", mean, np_mean, L * D, 1e-6, 1e-7);
    DDAD_ASSERT_CLOSE("inv_cov vs numpy", inv, np_inv, L * D * D, 1e-5, 1e-6);
    DDAD_ASSERT_CLOSE("distance vs numpy", ours, np_dist, NZ * L, 1e-5, 1e-6);
    /* the two oracles agree with each other too (guards the test itself) */
    DDAD_ASSERT_CLOSE("numpy vs closed form", np_dist, want_dist, NZ * L, 1e-5, 1e-6);
    ddad_test_rmtree(dir);
    free(dir);

    ddad_tensor_free(ta);
    ddad_tensor_free(tb);
    ddad_tensor_free(tz);
    ddad_tensor_free(wrong);
    ddad_tensor_free(dist);
    ddad_padim_free(&pd);
    ddad_padim_free(&pd);
}

/* The batched SPD inverse behind fit_end: values, symmetry, and a matrix
 * that is not positive definite named by its batch index. */
static void test_inverse(void)
{
    double a[3][2][2] = {{{4, 2}, {2, 3}}, {{2, 0}, {0, 0.5}}, {{1, 2}, {2, 1}}};
    double want[2][2][2] = {{{3.0 / 8, -2.0 / 8}, {-2.0 / 8, 4.0 / 8}}, {{0.5, 0}, {0, 2}}};
    ddad_tensor_t *t = NULL, *ok = NULL, *inv = NULL;
    int64_t s[3] = {3, 2, 2};
    CU_ASSERT_EQUAL_FATAL(ddad_from_buffer(&t, a, s, 3, DDAD_DTYPE_F64), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_slice(&ok, t, 0, 0, 2, 1), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_linalg_inv_spd(&inv, ok), DDAD_OK);
    double got[2][2][2];
    CU_ASSERT_EQUAL(ddad_to_buffer(inv, got, sizeof got, DDAD_DTYPE_F64), DDAD_OK);
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                CU_ASSERT_DOUBLE_EQUAL(got[b][i][j], want[b][i][j], 1e-12);
    ddad_tensor_t *bad = NULL;
    CU_ASSERT_EQUAL(ddad_linalg_inv_spd(&bad, t), DDAD_STATUS_NUMERIC);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "matrix 2"));
    CU_ASSERT_PTR_NULL(bad);
    ddad_tensor_t *g = NULL;
    CU_ASSERT_EQUAL(ddad_linalg_inv(&g, t), DDAD_OK); /* indefinite but invertible */
    double gi[3][2][2];
    CU_ASSERT_EQUAL(ddad_to_buffer(g, gi, sizeof gi, DDAD_DTYPE_F64), DDAD_OK);
    CU_ASSERT_DOUBLE_EQUAL(gi[2][0][1], 2.0 / 3.0, 1e-12); /* [[1,2],[2,1]]^-1 = [[-1,2],[2,-1]] / 3 */
    ddad_tensor_free(t);
    ddad_tensor_free(ok);
    ddad_tensor_free(inv);
    ddad_tensor_free(g);
}

/* ---- WRN-backed model: gradient and files ---------------------------------- */

#define IMG 32
#define DSUB 24

static ddad_wrn_t g_wrn;
static ddad_padim_t g_pd;
static bool g_ready;

static ddad_tensor_t *random_images(int64_t n, uint64_t seed)
{
    ddad_generator_t *g = NULL;
    ddad_tensor_t *x = NULL, *y = NULL;
    int64_t s[4] = {n, 3, IMG, IMG};
    CU_ASSERT_EQUAL(ddad_generator_create(&g, seed, DDAD_CPU), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_rand(&x, s, 4, DDAD_DTYPE_F32, DDAD_CPU, g), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_mul_scalar(&y, x, 2.0), DDAD_OK);
    ddad_tensor_free(x);
    CU_ASSERT_EQUAL(ddad_add_scalar(&x, y, -1.0), DDAD_OK);
    ddad_tensor_free(y);
    ddad_generator_free(g);
    return x;
}

static void fit_small_model(void)
{
    ddad_wrn_options_t wo = ddad_wrn_default_options();
    wo.seed = 7;
    CU_ASSERT_EQUAL_FATAL(ddad_wrn_init(&g_wrn, &wo), DDAD_OK);
    ddad_padim_options_t po = ddad_padim_default_options();
    po.d = DSUB;
    po.seed = 5;
    CU_ASSERT_EQUAL_FATAL(ddad_padim_init(&g_pd, &po, DDAD_CPU), DDAD_OK);
    /* indices: distinct, in range, seeded */
    for (int i = 0; i < DSUB; i++) {
        CU_ASSERT(g_pd.indices[i] >= 0 && g_pd.indices[i] < DDAD_PADIM_CHANNELS);
        for (int j = 0; j < i; j++)
            CU_ASSERT(g_pd.indices[i] != g_pd.indices[j]);
    }
    /* streaming: two batches (3 + 2 images) */
    ddad_tensor_t *x1 = random_images(3, 100), *x2 = random_images(2, 101);
    CU_ASSERT_EQUAL_FATAL(ddad_padim_fit_add(&g_pd, &g_wrn, x1), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_padim_fit_add(&g_pd, &g_wrn, x2), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_padim_fit_end(&g_pd), DDAD_OK);
    CU_ASSERT_EQUAL(g_pd.n_train, 5);
    CU_ASSERT_EQUAL(g_pd.grid_h, IMG / 4);
    CU_ASSERT_EQUAL(g_pd.grid_w, IMG / 4);
    CU_ASSERT_TRUE(g_pd.backbone_random);
    ddad_tensor_free(x1);
    ddad_tensor_free(x2);
    g_ready = true;
}

/* float64 oracle: loads the WRN weights the C side used (its state_dict
 * names), recomputes the PaDiM statistics of the same training images with
 * numpy (np.cov + eps I, np.linalg.inv) over the channel indices stored in
 * the C model file, then the upsampled distance map of x, the gradient of
 * its mean by autograd, and central differences (h = 1e-6) along v. */
static const char *torch_py =
    "import sys, h5py, numpy as np, torch, torchvision\n"
    "import torch.nn.functional as F\n"
    "wfile, pfile, dfile, ofile = sys.argv[1:5]\n"
    "m = torchvision.models.wide_resnet50_2(weights=None)\n"
    "with h5py.File(wfile, 'r') as f:\n"
    "    sd = {k: torch.from_numpy(f['weights'][k][()]) for k in f['weights']}\n"
    "r = m.load_state_dict(sd, strict=False)\n"
    "assert not r.unexpected_keys, r.unexpected_keys\n"
    "assert all(k.startswith(('layer4.', 'fc.')) or k.endswith('num_batches_tracked') for k in r.missing_keys)\n"
    "m = m.double().eval()\n"
    "with h5py.File(pfile, 'r') as f:\n"
    "    idx = torch.from_numpy(f['indices'][()]); eps = float(f.attrs['eps'])\n"
    "with h5py.File(dfile, 'r') as f:\n"
    "    train = torch.from_numpy(f['train'][()]).double(); x = torch.from_numpy(f['x'][()]).double()\n"
    "    v = torch.from_numpy(f['v'][()]).double()\n"
    "mu_in = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)\n"
    "sd_in = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)\n"
    "def embed(x):\n"
    "    h = ((x + 1) / 2 - mu_in) / sd_in\n"
    "    h = m.maxpool(m.relu(m.bn1(m.conv1(h))))\n"
    "    l1 = m.layer1(h); l2 = m.layer2(l1); l3 = m.layer3(l2)\n"
    "    g = l1.shape[2:]\n"
    "    e = torch.cat([l1, F.interpolate(l2, g, mode='bilinear', align_corners=False),\n"
    "                   F.interpolate(l3, g, mode='bilinear', align_corners=False)], 1)\n"
    "    return e[:, idx]\n"
    "with torch.no_grad():\n"
    "    E = embed(train)\n"
    "n, d, gh, gw = E.shape\n"
    "E = E.reshape(n, d, -1).numpy()\n"
    "mean = E.mean(0).T\n"
    "inv = np.stack([np.linalg.inv(np.cov(E[:, :, l], rowvar=False) + eps * np.eye(d)) for l in range(gh * gw)])\n"
    "tmean = torch.from_numpy(mean); tinv = torch.from_numpy(inv)\n"
    "def dmap(x):\n"
    "    e = embed(x).reshape(x.shape[0], d, -1).permute(2, 0, 1)\n"
    "    diff = e - tmean[:, None, :]\n"
    "    q = torch.einsum('lni,lij,lnj->ln', diff, tinv, diff)\n"
    "    dist = q.clamp_min(0).sqrt().T.reshape(x.shape[0], 1, gh, gw)\n"
    "    return F.interpolate(dist, x.shape[2:], mode='bilinear', align_corners=False)\n"
    "xg = x.clone().requires_grad_(True)\n"
    "up = dmap(xg)\n"
    "up.mean().backward()\n"
    "h = 1e-6\n"
    "with torch.no_grad():\n"
    "    fd = [float((dmap(x + h * v[k:k + 1]).mean() - dmap(x - h * v[k:k + 1]).mean()) / (2 * h)) for k in range(2)]\n"
    "with h5py.File(ofile, 'w') as f:\n"
    "    f['mean'] = mean; f['inv_cov'] = inv; f['dist'] = up.detach().numpy()\n"
    "    f['grad'] = xg.grad.numpy(); f['fd'] = np.array(fd)\n";

/* mean over the map of image 0 */
static double mean_distance(const ddad_tensor_t *x)
{
    ddad_tensor_t *d = NULL, *m = NULL;
    double v = NAN;
    CU_ASSERT_EQUAL(ddad_padim_distance(&g_pd, &g_wrn, x, false, &d, NULL), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_mean(&m, d), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_tensor_item(&v, m), DDAD_OK);
    ddad_tensor_free(d);
    ddad_tensor_free(m);
    return v;
}

static void test_gradient(void)
{
    fit_small_model();
    CU_ASSERT_FATAL(g_ready);
    ddad_tensor_t *x = random_images(1, 200), *dist = NULL, *grad = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_padim_distance(&g_pd, &g_wrn, x, true, &dist, &grad), DDAD_OK);
    int64_t s[4];
    ddad_tensor_shape(dist, s, 4);
    CU_ASSERT(s[0] == 1 && s[1] == 1 && s[2] == IMG && s[3] == IMG);
    ddad_tensor_shape(grad, s, 4);
    CU_ASSERT(s[0] == 1 && s[1] == 3 && s[2] == IMG && s[3] == IMG);
    CU_ASSERT_FALSE(ddad_requires_grad(dist));
    CU_ASSERT_FALSE(ddad_requires_grad(grad));
    CU_ASSERT_TRUE(ddad_grad_is_enabled()); /* the caller's grad mode is restored */

    /* the distance of an image near the training distribution is smaller
     * than that of a far one */
    double near = mean_distance(x);
    ddad_tensor_t *far = NULL;
    CU_ASSERT_EQUAL(ddad_mul_scalar(&far, x, 3.0), DDAD_OK);
    CU_ASSERT(mean_distance(far) > near);
    ddad_tensor_free(far);

    /* the oracle: the same network and statistics in float64 (torchvision +
     * numpy), autograd gradient and central differences with h = 1e-6 */
    const int n = 3 * IMG * IMG;
    float *g = malloc(n * sizeof *g), *v = malloc(2 * n * sizeof *v);
    CU_ASSERT_EQUAL(ddad_to_buffer(grad, g, n * sizeof *g, DDAD_DTYPE_F32), DDAD_OK);
    uint64_t seed = 9;
    for (int i = 0; i < n; i++) {
        int r = (i / IMG) % IMG, col = i % IMG;
        v[i] = (float)lcg(&seed);                                                  /* dense random  */
        v[n + i] = (r >= 4 && r < 8 && col >= 20 && col < 24) ? (float)lcg(&seed) : 0.0f; /* a 4x4 patch */
    }
    char *dir = ddad_test_mkdtemp("padim-grad");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char wpath[4096], ppath[4096], dpath[4096], opath[4096], script[4096];
    snprintf(wpath, sizeof wpath, "%s/wrn.h5", dir);
    snprintf(ppath, sizeof ppath, "%s/padim.h5", dir);
    snprintf(dpath, sizeof dpath, "%s/data.h5", dir);
    snprintf(opath, sizeof opath, "%s/ref.h5", dir);
    snprintf(script, sizeof script, "%s/oracle.py", dir);
    FILE *fp = fopen(script, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs(torch_py, fp);
    fclose(fp);
    ddad_h5_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, wpath, DDAD_H5_CREATE), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_params_save_h5(&g_wrn.params, f, "weights"), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_padim_save_h5(&g_pd, ppath), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, dpath, DDAD_H5_CREATE), DDAD_OK);
    {
        ddad_tensor_t *x1 = random_images(3, 100), *x2 = random_images(2, 101), *tr = NULL;
        const ddad_tensor_t *parts[2] = {x1, x2};
        CU_ASSERT_EQUAL(ddad_cat(&tr, parts, 2, 0), DDAD_OK);
        float *buf = malloc(5 * n * sizeof *buf);
        int64_t s5[4] = {5, 3, IMG, IMG}, s1[4] = {1, 3, IMG, IMG}, s2[4] = {2, 3, IMG, IMG};
        CU_ASSERT_EQUAL(ddad_to_buffer(tr, buf, 5 * n * sizeof *buf, DDAD_DTYPE_F32), DDAD_OK);
        CU_ASSERT_EQUAL(ddad_h5_write(f, "train", DDAD_H5_F32, buf, s5, 4, 0), DDAD_OK);
        CU_ASSERT_EQUAL(ddad_to_buffer(x, buf, n * sizeof *buf, DDAD_DTYPE_F32), DDAD_OK);
        CU_ASSERT_EQUAL(ddad_h5_write(f, "x", DDAD_H5_F32, buf, s1, 4, 0), DDAD_OK);
        CU_ASSERT_EQUAL(ddad_h5_write(f, "v", DDAD_H5_F32, v, s2, 4, 0), DDAD_OK);
        free(buf);
        ddad_tensor_free(x1);
        ddad_tensor_free(x2);
        ddad_tensor_free(tr);
    }
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);
    CU_ASSERT_FATAL(ddad_test_python_has("torch,torchvision,h5py,numpy"));
    CU_ASSERT_EQUAL_FATAL(
        ddad_test_system("'%s' '%s' '%s' '%s' '%s' '%s'", ddad_test_python(), script, wpath, ppath, dpath, opath), 0);

    int64_t L2 = (IMG / 4) * (IMG / 4);
    float *ref_mean = malloc(L2 * DSUB * sizeof(float)), *ref_inv = malloc(L2 * DSUB * DSUB * sizeof(float));
    float *mean = malloc(L2 * DSUB * sizeof(float)), *inv = malloc(L2 * DSUB * DSUB * sizeof(float));
    float *ref_dist = malloc(IMG * IMG * sizeof(float)), *ours_dist = malloc(IMG * IMG * sizeof(float));
    float *ref_grad = malloc(n * sizeof(float)), ref_fd[2];
    int64_t sm[2] = {L2, DSUB}, si[3] = {L2, DSUB, DSUB}, sdm[4] = {1, 1, IMG, IMG}, sg[4] = {1, 3, IMG, IMG};
    int64_t sf[1] = {2};
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, opath, DDAD_H5_READ), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "mean", DDAD_H5_F32, ref_mean, sm, 2), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "inv_cov", DDAD_H5_F32, ref_inv, si, 3), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "dist", DDAD_H5_F32, ref_dist, sdm, 4), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "grad", DDAD_H5_F32, ref_grad, sg, 4), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "fd", DDAD_H5_F32, ref_fd, sf, 1), DDAD_OK);
    ddad_h5_close(f);
    CU_ASSERT_EQUAL(ddad_to_buffer(g_pd.mean, mean, L2 * DSUB * sizeof(float), DDAD_DTYPE_F32), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_to_buffer(g_pd.inv_cov, inv, L2 * DSUB * DSUB * sizeof(float), DDAD_DTYPE_F32), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_to_buffer(dist, ours_dist, IMG * IMG * sizeof(float), DDAD_DTYPE_F32), DDAD_OK);
    printf("\n    mean     max|diff| %.3g of max", ddad_test_max_abs_diff(mean, ref_mean, L2 * DSUB) /
                                                    ddad_test_max_abs(ref_mean, L2 * DSUB));
    printf("\n    inv_cov  max|diff| %.3g of max", ddad_test_max_abs_diff(inv, ref_inv, L2 * DSUB * DSUB) /
                                                    ddad_test_max_abs(ref_inv, L2 * DSUB * DSUB));
    printf("\n    distance max|diff| %.3g of max", ddad_test_max_abs_diff(ours_dist, ref_dist, IMG * IMG) /
                                                    ddad_test_max_abs(ref_dist, IMG * IMG));
    printf("\n    gradient max|diff| %.3g of max", ddad_test_max_abs_diff(g, ref_grad, n) /
                                                    ddad_test_max_abs(ref_grad, n));
    DDAD_ASSERT_CLOSE("mean vs float64 oracle", mean, ref_mean, L2 * DSUB, 1e-4, 1e-6);
    DDAD_ASSERT_CLOSE("inv_cov vs float64 oracle", inv, ref_inv, L2 * DSUB * DSUB, 1e-3, 1e-6);
    DDAD_ASSERT_CLOSE("distance vs float64 oracle", ours_dist, ref_dist, IMG * IMG, 1e-3, 1e-6);
    DDAD_ASSERT_CLOSE("gradient vs float64 autograd", g, ref_grad, n, 1e-3, 1e-7);
    for (int k = 0; k < 2; k++) {
        double analytic = 0;
        for (int i = 0; i < n; i++)
            analytic += (double)g[i] * v[k * n + i];
        printf("\n    direction %d: ours %.6g  float64 central difference %.6g", k, analytic, ref_fd[k]);
        CU_ASSERT(fabs(analytic - ref_fd[k]) <= 2e-3 * fabs(ref_fd[k]) + 1e-6);
        CU_ASSERT(fabs(ref_fd[k]) > 1e-3); /* a zero gradient would pass trivially */
    }
    free(ref_mean);
    free(ref_inv);
    free(mean);
    free(inv);
    free(ref_dist);
    free(ours_dist);
    free(ref_grad);
    ddad_test_rmtree(dir);
    free(dir);

    /* batches do not mix: image 1 of a batch gets the gradient it gets alone */
    ddad_tensor_t *x2 = random_images(1, 201), *pair = NULL, *gd = NULL, *dd = NULL, *g1 = NULL, *diff = NULL,
                  *mx = NULL;
    const ddad_tensor_t *xs[2] = {x2, x};
    CU_ASSERT_EQUAL(ddad_cat(&pair, xs, 2, 0), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_padim_distance(&g_pd, &g_wrn, pair, true, &dd, &gd), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_slice(&g1, gd, 0, 1, 2, 1), DDAD_OK);
    ddad_tensor_t *absdiff = NULL;
    CU_ASSERT_EQUAL(ddad_sub(&diff, g1, grad), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_unary(&absdiff, diff, DDAD_UNARY_ABS), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_max(&mx, absdiff), DDAD_OK);
    ddad_tensor_free(absdiff);
    double dmax = 1, gmax = ddad_test_max_abs(g, n);
    CU_ASSERT_EQUAL(ddad_tensor_item(&dmax, mx), DDAD_OK);
    CU_ASSERT(dmax <= 1e-4 * gmax);

    /* a wrong image size is refused, naming the fitted grid */
    ddad_tensor_t *big = NULL, *bd = NULL;
    int64_t bs[4] = {1, 3, 64, 64};
    CU_ASSERT_EQUAL(ddad_zeros(&big, bs, 4, DDAD_DTYPE_F32, DDAD_CPU), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_padim_distance(&g_pd, &g_wrn, big, false, &bd, NULL), DDAD_STATUS_SHAPE);

    free(g);
    free(v);
    ddad_tensor_free(big);
    ddad_tensor_free(x2);
    ddad_tensor_free(pair);
    ddad_tensor_free(gd);
    ddad_tensor_free(dd);
    ddad_tensor_free(g1);
    ddad_tensor_free(diff);
    ddad_tensor_free(mx);
    ddad_tensor_free(x);
    ddad_tensor_free(dist);
    ddad_tensor_free(grad);
}

static double max_diff(const ddad_tensor_t *a, const ddad_tensor_t *b)
{
    ddad_tensor_t *d = NULL, *ad = NULL, *m = NULL;
    double v = INFINITY;
    if (ddad_sub(&d, a, b) == DDAD_OK && ddad_unary(&ad, d, DDAD_UNARY_ABS) == DDAD_OK && ddad_max(&m, ad) == DDAD_OK)
        ddad_tensor_item(&v, m);
    ddad_tensor_free(d);
    ddad_tensor_free(ad);
    ddad_tensor_free(m);
    return v;
}

static void test_save_load(void)
{
    CU_ASSERT_FATAL(g_ready);
    char *dir = ddad_test_mkdtemp("padim-io");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/padim.h5", dir);
    CU_ASSERT_EQUAL_FATAL(ddad_padim_save_h5(&g_pd, path), DDAD_OK);

    ddad_padim_t back;
    ddad_status_t st = ddad_padim_load_h5(&back, path, DDAD_CPU);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  %s\n", ddad_last_error());
    CU_ASSERT_EQUAL_FATAL(st, DDAD_OK);
    CU_ASSERT_EQUAL(back.d, g_pd.d);
    CU_ASSERT_EQUAL(back.grid_h, g_pd.grid_h);
    CU_ASSERT_EQUAL(back.grid_w, g_pd.grid_w);
    CU_ASSERT_EQUAL(back.n_train, g_pd.n_train);
    CU_ASSERT_EQUAL(back.image_h, IMG);
    CU_ASSERT_EQUAL(back.seed, g_pd.seed);
    CU_ASSERT_DOUBLE_EQUAL(back.eps, g_pd.eps, 0.0);
    CU_ASSERT_TRUE(back.backbone_random);
    CU_ASSERT_STRING_EQUAL(back.backbone_source, g_wrn.source);
    CU_ASSERT_EQUAL(memcmp(back.indices, g_pd.indices, (size_t)g_pd.d * sizeof *g_pd.indices), 0);
    CU_ASSERT_EQUAL(max_diff(back.mean, g_pd.mean), 0.0);
    CU_ASSERT_EQUAL(max_diff(back.inv_cov, g_pd.inv_cov), 0.0);

    ddad_tensor_t *x = random_images(2, 300), *d0 = NULL, *d1 = NULL;
    CU_ASSERT_EQUAL(ddad_padim_distance(&g_pd, &g_wrn, x, false, &d0, NULL), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_padim_distance(&back, &g_wrn, x, false, &d1, NULL), DDAD_OK);
    CU_ASSERT_EQUAL(max_diff(d0, d1), 0.0);

    /* the file carries its format and a checkable layout */
    ddad_h5_t *f = NULL;
    char *fmt = NULL;
    int64_t shape[DDAD_H5_MAX_DIMS];
    int nd = 0;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, path, DDAD_H5_READ), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_get_attr_str(f, "/", "format", &fmt), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(fmt, DDAD_PADIM_FORMAT);
    CU_ASSERT_EQUAL(ddad_h5_shape(f, "inv_cov", shape, &nd), DDAD_OK);
    CU_ASSERT(nd == 3 && shape[0] == (IMG / 4) * (IMG / 4) && shape[1] == DSUB && shape[2] == DSUB);
    free(fmt);
    ddad_h5_close(f);

    /* not a PaDiM file; a missing file */
    ddad_padim_t bad;
    if (ddad_test_have_fixture("effnet_b4.h5")) { /* an HDF5 file of another kind */
        CU_ASSERT_EQUAL(ddad_padim_load_h5(&bad, ddad_test_fixture("effnet_b4.h5"), DDAD_CPU), DDAD_STATUS_DATA);
        CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "ddad-padim"));
        CU_ASSERT_PTR_NULL(bad.mean);
        ddad_padim_free(&bad);
    }
    snprintf(path, sizeof path, "%s/none.h5", dir);
    CU_ASSERT_NOT_EQUAL(ddad_padim_load_h5(&bad, path, DDAD_CPU), DDAD_OK);
    ddad_padim_free(&bad);

    ddad_tensor_free(x);
    ddad_tensor_free(d0);
    ddad_tensor_free(d1);
    ddad_padim_free(&back);
    ddad_padim_free(&g_pd);
    ddad_wrn_free(&g_wrn);
    ddad_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    ddad_set_num_threads(2);
    static const ddad_test_t tests[] = {
        {"batched SPD inverse", test_inverse},
        {"two images per location: closed form and numpy", test_known_answer},
        {"gradient of the mean distance vs finite differences", test_gradient},
        {"save / load round trip and bad files", test_save_load},
        {0},
    };
    return ddad_test_main("nn_padim", tests);
}
