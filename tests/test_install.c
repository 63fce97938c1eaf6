/* tests/test_install.c - the installed package: `cmake --install` into a
 * DESTDIR, then the example outside the tree (examples/score_image) built
 * against it with find_package(ddad) and with pkg-config, run, and the
 * public headers compiled on their own as C99 and C++. The shared library
 * exports the deployment API and nothing of the internals. Skipped (with a
 * note) in builds without libddad.so (sanitizer builds). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char g_build[4096];

static bool have_shared(void)
{
    snprintf(g_build, sizeof g_build, "%s/..", ddad_test_bin_dir());
    if (ddad_test_system("test -e '%s/lib/libddad.so'", g_build) != 0) {
        fprintf(stderr, "\n  SKIPPED: no libddad.so in %s (sanitizer builds have none)", g_build);
        return false;
    }
    return true;
}

static void test_install_and_example(void)
{
    if (!have_shared())
        return;
    char *dir = ddad_test_mkdtemp("install");
    const char *src = ddad_test_source_dir();
    /* make install DESTDIR=... equivalent */
    int rc = ddad_test_system("DESTDIR='%s/root' cmake --install '%s' --prefix /opt/ddad > '%s/install.log' 2>&1", dir,
                              g_build, dir);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    const char *files[] = {"include/ddad/ddad.h", "include/ddad/status.h", "include/ddad/export.h",
                           "lib/libddad.so", "lib/libddad.a", "lib/cmake/ddad/ddadConfig.cmake",
                           "lib/cmake/ddad/ddadTargets.cmake", "lib/pkgconfig/ddad.pc", "bin/ddad-predict",
                           "bin/ddad-train", "bin/ddad-eval", "bin/ddad-vis", "libexec/ddad/ddad-eval",
                           "libexec/ddad/ddad-train", "libexec/ddad/ddad-predict", "libexec/ddad/ddad-vis",
                           "bin/ddad-import", "libexec/ddad/ddad-import",
                           "share/ddad/python/ddad.py"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        rc = ddad_test_system("test -e '%s/root/opt/ddad/%s'", dir, files[i]);
        if (rc != 0)
            fprintf(stderr, "\n  not installed: %s", files[i]);
        CU_ASSERT_EQUAL(rc, 0);
    }
    /* an installed front end starts its installed model side: the model
     * side's "no trained run" (4), not the front end's "cannot start" (1) */
    rc = ddad_test_system("'%s/root/opt/ddad/bin/ddad-eval' '%s/root/opt/ddad/share/ddad/configs/demo.yaml' "
                          "--set run.dir='%s/runs' 2> '%s/eval.err'; test $? -eq 4 && "
                          "grep -q 'no trained run' '%s/eval.err'", dir, dir, dir, dir, dir);
    CU_ASSERT_EQUAL(rc, 0);
    /* the example against the package: configure, build, run. A run that
     * does not exist: the library's message and exit code 5 (I/O) prove it
     * was loaded and called. */
    rc = ddad_test_system("cmake -S '%s/examples/score_image' -B '%s/ex' -DCMAKE_PREFIX_PATH='%s/root/opt/ddad' "
                          "> '%s/ex.log' 2>&1 && cmake --build '%s/ex' >> '%s/ex.log' 2>&1",
                          src, dir, dir, dir, dir, dir);
    if (rc != 0)
        ddad_test_system("cat '%s/ex.log' >&2", dir);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    rc = ddad_test_system("'%s/ex/score_image' '%s/no-such-run' x.png 2> '%s/run.err'", dir, dir, dir);
    CU_ASSERT_EQUAL(rc, 5);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'opening the scorer' '%s/run.err'", dir), 0);
    /* pkg-config (relocatable .pc) */
    rc = ddad_test_system("cc '%s/examples/score_image/score_image.c' $(PKG_CONFIG_PATH='%s/root/opt/ddad/lib/pkgconfig' "
                          "pkg-config --cflags --libs ddad) -o '%s/pc' && LD_LIBRARY_PATH='%s/root/opt/ddad/lib' "
                          "'%s/pc' 2>/dev/null; test $? -eq 2",
                          src, dir, dir, dir, dir);
    CU_ASSERT_EQUAL(rc, 0);
    /* the public headers stand alone, in C99 and C++ */
    rc = ddad_test_system("printf '#include <ddad.h>\\nint main(void){return ddad_scorer_error()==0;}\\n' > '%s/h.c' && "
                          "cc -std=c99 -Wall -Werror -pedantic -fsyntax-only -I'%s/root/opt/ddad/include/ddad' '%s/h.c' && "
                          "c++ -x c++ -Wall -Werror -fsyntax-only -I'%s/root/opt/ddad/include/ddad' '%s/h.c'",
                          dir, dir, dir, dir, dir);
    CU_ASSERT_EQUAL(rc, 0);
    /* exported: the API; hidden: the internals */
    rc = ddad_test_system("nm -D --defined-only '%s/root/opt/ddad/lib/libddad.so' > '%s/syms' && "
                          "grep -q ' ddad_scorer_open$' '%s/syms' && grep -q ' ddad_status_exit_code$' '%s/syms' && "
                          "! grep -q -E ' ddad_(config_load|tensor_|unet_|metrics_)' '%s/syms'",
                          dir, dir, dir, dir, dir);
    CU_ASSERT_EQUAL(rc, 0);
    ddad_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"install, example against the package", test_install_and_example}, {0}};
    return ddad_test_main("install", tests);
}
