/* experiments/bench/bench_convnet.c - one training step (forward, backward,
 * AdamW) of a small residual conv net through ddad's C API. The same network
 * is timed in python3-torch by bench_convnet.py; bench_convnet.sh runs both
 * and prints the ratio.
 *
 * usage: bench_convnet SIZE BATCH CHANNELS STEPS THREADS [channels_last]
 * prints: "c median_ms <ms> steps <n>"
 * channels_last: the 4-D weights and the input in the channels-last memory
 * format (core/torch/tensor_layout.h; bench_convnet.py has the same option).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "allocator.h"
#include "torch/tensor.h"
#include "torch/tensor_layout.h"

#define CHECK(call)                                                              \
    do {                                                                         \
        if ((call) != DDAD_OK) {                                                 \
            fprintf(stderr, "bench_convnet: %s\n", ddad_last_error());           \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

#define LAYERS 4

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 6 && !(argc == 7 && !strcmp(argv[6], "channels_last"))) {
        fprintf(stderr, "usage: bench_convnet SIZE BATCH CHANNELS STEPS THREADS [channels_last]\n");
        return 2;
    }
    const ddad_memory_format_t fmt = argc == 7 ? DDAD_MEMORY_FORMAT_CHANNELS_LAST : DDAD_MEMORY_FORMAT_CONTIGUOUS;
    int64_t size = atoi(argv[1]), batch = atoi(argv[2]), ch = atoi(argv[3]);
    int steps = atoi(argv[4]);
    ddad_allocator_tune();
    ddad_set_num_threads(atoi(argv[5]));
    ddad_generator_t *gen;
    CHECK(ddad_generator_create(&gen, 0, DDAD_CPU));

    /* parameters: stem conv, LAYERS residual convs with group norm, head */
    ddad_tensor_t *params[2 * LAYERS + 4];
    int np = 0;
    int64_t stem_w[4] = {ch, 3, 3, 3}, mid_w[4] = {ch, ch, 3, 3}, head_w[4] = {3, ch, 3, 3}, bias[1] = {ch};
    CHECK(ddad_randn(&params[np++], stem_w, 4, DDAD_DTYPE_F32, DDAD_CPU, gen));
    CHECK(ddad_zeros(&params[np++], bias, 1, DDAD_DTYPE_F32, DDAD_CPU));
    for (int l = 0; l < LAYERS; l++) {
        CHECK(ddad_randn(&params[np++], mid_w, 4, DDAD_DTYPE_F32, DDAD_CPU, gen));
        CHECK(ddad_zeros(&params[np++], bias, 1, DDAD_DTYPE_F32, DDAD_CPU));
    }
    CHECK(ddad_randn(&params[np++], head_w, 4, DDAD_DTYPE_F32, DDAD_CPU, gen));
    CHECK(ddad_zeros(&params[np++], (int64_t[]){3}, 1, DDAD_DTYPE_F32, DDAD_CPU));
    for (int i = 0; i < np; i++) {
        CHECK(ddad_mul_scalar_(params[i], 0.05));
        if (ddad_tensor_dim(params[i]) == 4)
            CHECK(ddad_tensor_set_memory_format_(params[i], fmt));
        CHECK(ddad_set_requires_grad(params[i], true));
    }
    ddad_adamw_t *opt;
    CHECK(ddad_adamw_create(&opt, params, (size_t)np, (ddad_adamw_options_t){1e-4, 0.9, 0.999, 1e-8, 0.0}));

    int64_t xs[4] = {batch, 3, size, size};
    ddad_tensor_t *x, *noise;
    CHECK(ddad_randn(&x, xs, 4, DDAD_DTYPE_F32, DDAD_CPU, gen));
    CHECK(ddad_randn(&noise, xs, 4, DDAD_DTYPE_F32, DDAD_CPU, gen));
    CHECK(ddad_tensor_set_memory_format_(x, fmt));

    double *times = calloc((size_t)steps, sizeof *times);
    for (int s = -3; s < steps; s++) {
        double t0 = now_ms();
        size_t scope = ddad_scope_begin();
        ddad_tensor_t *h, *a, *loss, *d, *sq, *y;
        CHECK(ddad_conv2d(&h, x, params[0], params[1], 1, 1, 1, 1, 1, 1, 1));
        for (int l = 0; l < LAYERS; l++) {
            ddad_tensor_t *g, *c;
            CHECK(ddad_group_norm(&g, h, 32, NULL, NULL, 1e-5));
            CHECK(ddad_silu(&a, g));
            CHECK(ddad_conv2d(&c, a, params[2 + 2 * l], params[3 + 2 * l], 1, 1, 1, 1, 1, 1, 1));
            CHECK(ddad_add(&h, h, c));
        }
        CHECK(ddad_conv2d(&y, h, params[np - 2], params[np - 1], 1, 1, 1, 1, 1, 1, 1));
        CHECK(ddad_sub(&d, y, noise));
        CHECK(ddad_unary(&sq, d, DDAD_UNARY_SQUARE));
        CHECK(ddad_mean(&loss, sq));
        ddad_adamw_zero_grad(opt);
        CHECK(ddad_backward(loss));
        CHECK(ddad_adamw_step(opt));
        ddad_scope_end(scope);
        if (s >= 0)
            times[s] = now_ms() - t0;
    }
    qsort(times, (size_t)steps, sizeof *times, cmp_double);
    printf("c median_ms %.3f steps %d\n", times[steps / 2], steps);
    free(times);
    ddad_adamw_free(opt);
    for (int i = 0; i < np; i++)
        ddad_tensor_free(params[i]);
    ddad_tensor_free(x);
    ddad_tensor_free(noise);
    ddad_generator_free(gen);
    return 0;
}
