/* tests/test_prog_runtime.c - the OpenMP wait policy (core/runtime.h): set
 * before libgomp starts, without re-executing the program, and a value the
 * user set is left alone. libgomp's OMP_DISPLAY_ENV report shows what it
 * read at its start; a re-executed program would report twice. */
#include <stdio.h>

#include "runtime.h"
#include "testutil.h"

static void test_policy_set_before_libgomp(void)
{
    const char *bin = ddad_test_bin_dir();
    int rc = ddad_test_system("n=$(env -u OMP_WAIT_POLICY OMP_DISPLAY_ENV=TRUE '%s/ddad-eval' --version 2>&1 | "
                              "grep -c \"OMP_WAIT_POLICY = 'PASSIVE'\"); test \"$n\" = 1",
                              bin);
    CU_ASSERT_EQUAL(rc, 0);
    rc = ddad_test_system("env OMP_WAIT_POLICY=ACTIVE OMP_DISPLAY_ENV=TRUE '%s/ddad-eval' --version 2>&1 | "
                          "grep -q \"OMP_WAIT_POLICY = 'ACTIVE'\"",
                          bin);
    CU_ASSERT_EQUAL(rc, 0);
    /* the other OpenMP variables stay visible to libgomp */
    rc = ddad_test_system("env -u OMP_WAIT_POLICY OMP_NUM_THREADS=1 OMP_DISPLAY_ENV=TRUE '%s/ddad-eval' --version 2>&1 | "
                          "grep -q \"OMP_NUM_THREADS = '1'\"",
                          bin);
    CU_ASSERT_EQUAL(rc, 0);
    /* this test program itself was started by ctest with the variable set */
    CU_ASSERT(!ddad_runtime_set_early());
}

int main(void)
{
    static const ddad_test_t tests[] = {{"wait policy set early, no re-exec", test_policy_set_before_libgomp}, {0}};
    return ddad_test_main("runtime", tests);
}
