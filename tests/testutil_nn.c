/* tests/testutil_nn.c - see testutil_nn.h. */
#include "testutil_nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "nn/checkpoint.h"
#include "nn/model.h"

int ddad_test_untrained_run(const char *cfg_path, char *run, size_t cap)
{
    ddad_config_t cfg;
    ddad_model_t m;
    char ck[4400];
    if (ddad_config_load(&cfg, cfg_path, NULL, 0) != DDAD_OK || ddad_config_run_dir(&cfg, run, cap) != DDAD_OK)
        return -1;
    if (ddad_test_system("mkdir -p '%s/checkpoints'", run) != 0)
        return -1;
    if (ddad_model_create(&m, &cfg, DDAD_MODEL_WITH_EMA | DDAD_MODEL_WITH_FEATURES) != DDAD_OK)
        return -1;
    ddad_checkpoint_path(ck, sizeof ck, run, 0);
    ddad_checkpoint_state_t st;
    memset(&st, 0, sizeof st);
    int rc = ddad_checkpoint_save(ck, &m, NULL, NULL, &st) == DDAD_OK ? 0 : -1;
    ddad_model_free(&m);
    return rc;
}

void ddad_test_assert_tensor_h5(ddad_h5_t *f, const char *name, const ddad_tensor_t *t, double rel, double abs_floor)
{
    float *ref = NULL;
    int64_t shape[DDAD_H5_MAX_DIMS], tshape[DDAD_MAX_DIMS];
    int nd = 0;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_read(f, name, DDAD_H5_F32, (void **)&ref, shape, &nd), DDAD_OK);
    int tnd = ddad_tensor_shape(t, tshape, DDAD_MAX_DIMS);
    CU_ASSERT_EQUAL(tnd, nd);
    size_t n = 1;
    for (int i = 0; i < nd && i < tnd; i++) {
        CU_ASSERT_EQUAL(tshape[i], shape[i]);
        n *= (size_t)shape[i];
    }
    if ((size_t)ddad_tensor_numel(t) == n) {
        float *ours = malloc(n * sizeof *ours);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ours);
        CU_ASSERT_EQUAL(ddad_to_buffer(t, ours, n * sizeof *ours, DDAD_DTYPE_F32), DDAD_OK);
        double d = ddad_test_max_abs_diff(ours, ref, n), m = ddad_test_max_abs(ref, n);
        printf("\n    %-30s max|diff| %.3g  max|ref| %.3g  (%.2g of max)", name, d, m, d / m);
        DDAD_ASSERT_CLOSE(name, ours, ref, n, rel, abs_floor);
        free(ours);
    }
    free(ref);
}
