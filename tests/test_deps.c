/* tests/test_deps.c - scripts/check-deps.py: every Python module and program the
 * tests, benchmarks and scripts use is installed by scripts/install-deps.sh,
 * so a fresh machine passes `make test` (a module that only happens to be on
 * the developer's machine fails here instead of on users' machines).
 * The checker itself is tested on small trees made here: an import or a
 * program missing from a given package list must be reported, and the same
 * tree with the package listed must pass. */
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

static int checker(const char *root, const char *packages, const char *log)
{
    if (packages)
        return ddad_test_system("'%s' '%s/scripts/check-deps.py' --root '%s' --packages '%s' --python '%s' > '%s' 2>&1",
                                ddad_test_python(), ddad_test_source_dir(), root, packages, ddad_test_python(), log);
    return ddad_test_system("'%s' '%s/scripts/check-deps.py' --root '%s' --python '%s' > '%s' 2>&1",
                            ddad_test_python(), ddad_test_source_dir(), root, ddad_test_python(), log);
}

/* The repository itself: everything it uses is provided. */
static void test_repository_is_covered(void)
{
    char *tmp = ddad_test_mkdtemp("deps");
    char log[4200];
    snprintf(log, sizeof log, "%s/log", tmp);
    int rc = checker(ddad_test_source_dir(), NULL, log);
    if (rc != 0)
        ddad_test_system("cat '%s' >&2", log);
    CU_ASSERT_EQUAL(rc, 0);
    ddad_test_rmtree(tmp);
    free(tmp);
}

/* A python import inside a C test string, and a python script: reported
 * when the owning package is not listed, accepted when it is. */
static void test_missing_module_is_reported(void)
{
    CU_ASSERT_FATAL(ddad_test_python_has("numpy"));
    char *tmp = ddad_test_mkdtemp("deps-module");
    char log[4200];
    snprintf(log, sizeof log, "%s/log", tmp);
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("mkdir -p '%s/tests' '%s/experiments' && "
                                           "printf 'int f(void) { return system(\"python3 -c \\\\\"import numpy as np\\\\\"\"); }\\n' "
                                           "> '%s/tests/test_x.c' && "
                                           "printf 'import json\\nimport numpy\\n' > '%s/experiments/y.py'",
                                           tmp, tmp, tmp, tmp),
                          0);
    /* python3-pil does not depend on numpy: numpy must be reported */
    CU_ASSERT_EQUAL(checker(tmp, "python3-pil", log), 1);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'python module numpy (package python3-numpy) is not installed' '%s'", log),
                    0);
    /* json is the standard library: never reported */
    CU_ASSERT_NOT_EQUAL(ddad_test_system("grep -q 'module json' '%s'", log), 0);
    CU_ASSERT_EQUAL(checker(tmp, "python3-numpy", log), 0);
    ddad_test_rmtree(tmp);
    free(tmp);
}

/* A program run by a benchmark script that no listed package provides. */
static void test_missing_program_is_reported(void)
{
    char *tmp = ddad_test_mkdtemp("deps-program");
    char log[4200];
    snprintf(log, sizeof log, "%s/log", tmp);
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("mkdir -p '%s/experiments' && "
                                           "printf '#!/usr/bin/env bash\\nset -e\\necho x | gnuplot -e \"print 1\"\\n' "
                                           "> '%s/experiments/plot.sh'",
                                           tmp, tmp),
                          0);
    CU_ASSERT_EQUAL(checker(tmp, "python3-numpy", log), 1);
    CU_ASSERT_EQUAL(ddad_test_system("grep -q 'program gnuplot (package gnuplot-nox) is not installed' '%s'", log), 0);
    CU_ASSERT_EQUAL(checker(tmp, "gnuplot-nox", log), 0);
    /* the same program probed with `command -v` first is optional */
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("printf '#!/usr/bin/env bash\\ncommand -v gnuplot || exit 0\\ngnuplot -e 1\\n' "
                                           "> '%s/experiments/plot.sh'",
                                           tmp),
                          0);
    CU_ASSERT_EQUAL(checker(tmp, "python3-numpy", log), 0);
    ddad_test_rmtree(tmp);
    free(tmp);
}

int main(void)
{
    static const ddad_test_t tests[] = {
        {"the repository uses only what install-deps.sh installs", test_repository_is_covered},
        {"an unlisted python module is reported", test_missing_module_is_reported},
        {"an unlisted program is reported", test_missing_program_is_reported},
        {0},
    };
    return ddad_test_main("dependency coverage", tests);
}
