/* tests/testutil_nn.h - helpers for the test programs that link the full
 * libddad (test_torch_*, test_nn_*, test_prog_*; tests/CMakeLists.txt):
 * what needs the model or tensors, beside testutil.h's plain helpers.
 *
 *     char run[4096];
 *     if (ddad_test_untrained_run("cfg.yaml", run, sizeof run)) ... error
 *     ddad_test_assert_tensor_h5(f, "stem", t, 1e-4, 1e-6);   // t against dataset "stem"
 */
#ifndef DDAD_TESTUTIL_NN_H
#define DDAD_TESTUTIL_NN_H

#include <stddef.h>

#include "h5io.h"
#include "torch/tensor.h"
#include "testutil.h"

/* The run folder of the config at cfg_path (in run, cap bytes) with one
 * checkpoint, step 0, of a freshly initialised model with EMA and feature
 * head: a run to evaluate without training. 0, or -1 (ddad_last_error()
 * may say why). */
int ddad_test_untrained_run(const char *cfg_path, char *run, size_t cap);

/* Asserts that t has the shape of float dataset `name` of f and that its
 * values are within rel * max|ref| + abs_floor of it; prints the distance. */
void ddad_test_assert_tensor_h5(ddad_h5_t *f, const char *name, const ddad_tensor_t *t, double rel, double abs_floor);

#endif
