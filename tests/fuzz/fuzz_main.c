/* tests/fuzz/fuzz_main.c - the libFuzzer entry of one harness.
 *
 * Compiled once per target with -DDDAD_FUZZ_ENTRY=ddad_fuzz_<name> (see
 * tests/fuzz/CMakeLists.txt); the harness bodies are in fuzz_targets.c,
 * shared with the ctest replay of the regression inputs. */
#include "fuzz_targets.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)DDAD_FUZZ_ENTRY(data, size);
    return 0;
}
