/* tests/test_nn_slow_adm256.c - the paper's 256-px model, really allocated
 * (about 2.2 GB of float32 parameters, as much again for the gradients):
 * every registered name and shape against adm256_keys.txt section A, the
 * output-block shapes and attention heads of section D, and one
 * forward + backward training step at batch 1 on the CPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/diffusion.h"
#include "nn/params.h"
#include "nn/unet.h"
#include "testutil.h"

typedef struct block_shape {
    char name[64];
    int64_t shape[4];
} block_shape_t;

typedef struct probe {
    block_shape_t blocks[32];
    int n;
} probe_t;

static void hook(void *user, const char *name, const ddad_tensor_t *t)
{
    probe_t *p = user;
    if (strncmp(name, "output_blocks.", 14) != 0 || p->n >= 32)
        return;
    snprintf(p->blocks[p->n].name, sizeof p->blocks[p->n].name, "%s", name);
    ddad_tensor_shape(t, p->blocks[p->n].shape, 4);
    p->n++;
}

static void test_paper_model(void)
{
    FILE *f = fopen(ddad_test_fixture("adm256_keys.txt"), "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    ddad_unet_options_t o;
    ddad_unet_options_paper(&o);
    ddad_params_t p;
    ddad_params_init(&p, DDAD_CPU);
    ddad_unet_t u;
    CU_ASSERT_EQUAL_FATAL(ddad_unet_init(&u, &o, &p), DDAD_OK);
    CU_ASSERT_EQUAL(p.n, 571);
    CU_ASSERT_EQUAL(ddad_params_numel(&p, true), 552970006LL);

    /* section A, in order; section D shapes and heads */
    char line[512];
    int section = 0;
    size_t i = 0;
    int bad = 0, checked_heads = 0;
    block_shape_t ref_blocks[32];
    int n_ref = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == '[') {
            section = line[1];
            continue;
        }
        if (!line[0] || line[0] == '#')
            continue;
        if (section == 'A') {
            char *tab = strchr(line, '\t');
            if (!tab)
                continue;
            *tab = 0;
            char ours[64] = "";
            if (i < p.n) {
                int64_t shape[8];
                int nd = ddad_tensor_shape(p.items[i].tensor, shape, 8);
                size_t k = 0;
                for (int d = 0; d < nd; d++)
                    k += (size_t)snprintf(ours + k, sizeof ours - k, d ? "x%lld" : "%lld", (long long)shape[d]);
            }
            if (i >= p.n || strcmp(p.items[i].name, line) || strcmp(ours, tab + 1)) {
                if (bad++ < 5)
                    fprintf(stderr, "\n  #%zu: reference %s %s, ours %s %s", i, line, tab + 1,
                            i < p.n ? p.items[i].name : "-", ours);
            }
            i++;
        } else if (section == 'D') {
            char name[64], shape[64];
            int heads;
            long long a, b, c, d;
            if (sscanf(line, "%63s %63s", name, shape) == 2 && !strncmp(name, "output_blocks.", 14) &&
                sscanf(shape, "%lldx%lldx%lldx%lld", &a, &b, &c, &d) == 4 && n_ref < 32) {
                snprintf(ref_blocks[n_ref].name, sizeof ref_blocks[n_ref].name, "%s", name);
                int64_t s[4] = {a, b, c, d};
                memcpy(ref_blocks[n_ref].shape, s, sizeof s);
                n_ref++;
            } else if (sscanf(line, "%63s %lld %d", name, &a, &heads) == 3) {
                /* "input_blocks.10.1  512  8": find that attention layer */
                int blk, layer;
                const ddad_unet_block_t *bk = NULL;
                if (sscanf(name, "input_blocks.%d.%d", &blk, &layer) == 2)
                    bk = &u.input_blocks[blk];
                else if (sscanf(name, "output_blocks.%d.%d", &blk, &layer) == 2)
                    bk = &u.output_blocks[blk];
                else if (sscanf(name, "middle_block.%d", &layer) == 1)
                    bk = &u.middle;
                CU_ASSERT_PTR_NOT_NULL_FATAL(bk);
                CU_ASSERT_EQUAL(bk->layers[layer].kind, DDAD_UNET_LAYER_ATTN);
                CU_ASSERT_EQUAL(bk->layers[layer].attn.ch, a);
                CU_ASSERT_EQUAL(bk->layers[layer].attn.heads, heads);
                checked_heads++;
            }
        }
    }
    fclose(f);
    CU_ASSERT_EQUAL(i, 571);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(n_ref, 18);
    CU_ASSERT_EQUAL(checked_heads, 16);

    /* one training step at batch 1, 256 x 256, feat_size 64 as in training */
    CU_ASSERT_EQUAL_FATAL(ddad_params_set_requires_grad(&p, true), DDAD_OK);
    ddad_diffusion_t d;
    CU_ASSERT_EQUAL_FATAL(ddad_diffusion_init(&d, DDAD_BETA_SCHEDULE_LINEAR, 1000, NULL), DDAD_OK);
    size_t mark = ddad_scope_begin();
    ddad_generator_t *gen;
    CU_ASSERT_EQUAL_FATAL(ddad_generator_create(&gen, 1, DDAD_CPU), DDAD_OK);
    int64_t xs[4] = {1, 3, 256, 256}, fs[4] = {1, 272, 64, 64}, one = 1;
    ddad_tensor_t *x0, *noise, *target, *t, *y, *x_t, *out, *feats, *loss, *g;
    CU_ASSERT_EQUAL_FATAL(ddad_rand(&x0, xs, 4, DDAD_DTYPE_F32, DDAD_CPU, gen), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_randn(&noise, xs, 4, DDAD_DTYPE_F32, DDAD_CPU, gen), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_randn(&target, fs, 4, DDAD_DTYPE_F32, DDAD_CPU, gen), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_full(&t, &one, 1, 321, DDAD_DTYPE_I64, DDAD_CPU), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_full(&y, &one, 1, 14, DDAD_DTYPE_I64, DDAD_CPU), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_diffusion_q_sample(&d, x0, t, noise, &x_t), DDAD_OK);
    probe_t pr;
    memset(&pr, 0, sizeof pr);
    CU_ASSERT_EQUAL_FATAL(ddad_unet_forward_ex(&u, x_t, t, y, 64, &out, &feats, hook, &pr), DDAD_OK);
    CU_ASSERT_EQUAL(pr.n, 18);
    for (int k = 0; k < pr.n && k < n_ref; k++) {
        CU_ASSERT_STRING_EQUAL(pr.blocks[k].name, ref_blocks[k].name);
        CU_ASSERT_EQUAL(pr.blocks[k].shape[1], ref_blocks[k].shape[1]);
        CU_ASSERT_EQUAL(pr.blocks[k].shape[2], 4 * ref_blocks[k].shape[2]); /* listed for a 64 px probe */
        CU_ASSERT_EQUAL(pr.blocks[k].shape[3], 4 * ref_blocks[k].shape[3]);
    }
    CU_ASSERT_EQUAL(ddad_tensor_size(out, 1), 6);
    CU_ASSERT_EQUAL(ddad_tensor_size(out, 2), 256);
    CU_ASSERT_EQUAL(ddad_tensor_size(feats, 1), 272);
    CU_ASSERT_EQUAL(ddad_tensor_size(feats, 2), 64);
    ddad_diffusion_losses_t L;
    CU_ASSERT_EQUAL_FATAL(ddad_diffusion_training_losses(&d, out, x0, x_t, t, noise, feats, target, &L), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_mean(&loss, L.loss), DDAD_OK);
    double lv = NAN;
    ddad_tensor_item(&lv, loss);
    CU_ASSERT(isfinite(lv) && lv > 0);
    CU_ASSERT_EQUAL_FATAL(ddad_backward(loss), DDAD_OK);
    /* every parameter got a finite gradient; the zero-initialised output
     * conv gets a non-zero one */
    int missing = 0;
    for (size_t k = 0; k < p.n; k++) {
        g = NULL;
        bool fin = false;
        if (ddad_grad(&g, p.items[k].tensor) != DDAD_OK || !g || ddad_all_finite(&fin, g) != DDAD_OK || !fin) {
            if (missing++ < 5)
                fprintf(stderr, "\n  no finite gradient for %s", p.items[k].name);
        }
        ddad_tensor_free(g);
    }
    CU_ASSERT_EQUAL(missing, 0);
    ddad_tensor_t *go;
    CU_ASSERT_EQUAL_FATAL(ddad_grad(&go, ddad_params_find(&p, "out.2.weight")), DDAD_OK);
    ddad_tensor_t *mx;
    ddad_unary(&go, go, DDAD_UNARY_ABS);
    ddad_max(&mx, go);
    double gmax = 0;
    ddad_tensor_item(&gmax, mx);
    CU_ASSERT(gmax > 0);
    ddad_scope_end(mark);
    ddad_generator_free(gen);
    ddad_diffusion_free(&d);
    ddad_unet_free(&u);
    ddad_params_free(&p);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"paper model: layout, shapes, one training step", test_paper_model}, {0}};
    return ddad_test_main("nn_slow_adm256", tests);
}
