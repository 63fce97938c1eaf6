/* tests/test_prog_runtime.c - process start-up (core/runtime.h).
 * The OpenMP wait policy: set before libgomp starts, without re-executing
 * the program, and a value the user set is left alone. libgomp's
 * OMP_DISPLAY_ENV report shows what it read at its start; a re-executed
 * program would report twice. A CONFIG makes the front end bin/ddad-eval
 * start its model side, so the report also shows that the hand-over costs
 * no second libgomp start. The split programs: front ends without
 * libtorch, and a clear error when the model side is missing. */
#include <stdio.h>
#include <stdlib.h>

#include "runtime.h"
#include "testutil.h"

static void test_policy_set_before_libgomp(void)
{
    const char *bin = ddad_test_bin_dir();
    char demo[4096]; /* a valid config whose run does not exist: the model side starts, then exits 4 */
    snprintf(demo, sizeof demo, "%s/configs/demo.yaml", ddad_test_source_dir());
    int rc = ddad_test_system("n=$(env -u OMP_WAIT_POLICY OMP_DISPLAY_ENV=TRUE '%s/ddad-eval' '%s' --set run.dir=/nonexistent/runs 2>&1 | "
                              "grep -c \"OMP_WAIT_POLICY = 'PASSIVE'\"); test \"$n\" = 1",
                              bin, demo);
    CU_ASSERT_EQUAL(rc, 0);
    rc = ddad_test_system("env OMP_WAIT_POLICY=ACTIVE OMP_DISPLAY_ENV=TRUE '%s/ddad-eval' '%s' --set run.dir=/nonexistent/runs 2>&1 | "
                          "grep -q \"OMP_WAIT_POLICY = 'ACTIVE'\"",
                          bin, demo);
    CU_ASSERT_EQUAL(rc, 0);
    /* the other OpenMP variables stay visible to libgomp */
    rc = ddad_test_system("env -u OMP_WAIT_POLICY OMP_NUM_THREADS=1 OMP_DISPLAY_ENV=TRUE '%s/ddad-eval' '%s' --set run.dir=/nonexistent/runs 2>&1 | "
                          "grep -q \"OMP_NUM_THREADS = '1'\"",
                          bin, demo);
    CU_ASSERT_EQUAL(rc, 0);
    /* this test program itself was started by ctest with the variable set */
    CU_ASSERT(!ddad_runtime_set_early());
}

static void test_split_programs(void)
{
    const char *bin = ddad_test_bin_dir();
    static const char *const progs[] = {"ddad-eval", "ddad-train", "ddad-predict", "ddad-vis", "ddad-baselines",
                                        "ddad-import"};
    for (size_t i = 0; i < sizeof progs / sizeof *progs; i++) {
        /* the front end links no libtorch (nor libgomp); its model side does */
        CU_ASSERT_EQUAL(ddad_test_system("! ldd '%s/%s' | grep -E -q 'libtorch|libgomp'", bin, progs[i]), 0);
        CU_ASSERT_EQUAL(ddad_test_system("ldd '%s/../libexec/ddad/%s' | grep -q libtorch", bin, progs[i]), 0);
        /* --help, --version and --print-config are answered by the front end */
        CU_ASSERT_EQUAL(ddad_test_system("env OMP_DISPLAY_ENV=TRUE '%s/%s' --help 2>&1 | grep -q usage && "
                                         "! env OMP_DISPLAY_ENV=TRUE '%s/%s' --version 2>&1 | grep -q OPENMP",
                                         bin, progs[i], bin, progs[i]), 0);
    }
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-vis' '%s/configs/demo.yaml' --print-config | grep -q '^data:'", bin,
                                     ddad_test_source_dir()), 0);
    /* a front end whose model side is missing says so (exit 1), no crash */
    char *dir = ddad_test_mkdtemp("split");
    CU_ASSERT_EQUAL(ddad_test_system("mkdir -p '%s/bin' && cp '%s/ddad-eval' '%s/bin/' && "
                                     "'%s/bin/ddad-eval' '%s/configs/demo.yaml' > '%s/err' 2>&1; test $? = 1 && "
                                     "grep -q 'cannot start the model side' '%s/err'",
                                     dir, bin, dir, dir, ddad_test_source_dir(), dir, dir), 0);
    ddad_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"wait policy set early, no re-exec", test_policy_set_before_libgomp},
                                        {"front ends without libtorch, model sides", test_split_programs},
                                        {0}};
    return ddad_test_main("runtime", tests);
}
