/* tests/testutil.c - see testutil.h */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "synth.h"

int ddad_test_main(const char *suite, const ddad_test_t *tests)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite(suite, NULL, NULL);
    if (!s) {
        CU_cleanup_registry();
        return 1;
    }
    for (const ddad_test_t *t = tests; t->name; t++)
        if (!CU_add_test(s, t->name, t->fn)) {
            CU_cleanup_registry();
            return 1;
        }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    unsigned run = CU_get_number_of_tests_run();
    unsigned failed_tests = CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    if (run == 0) {
        fprintf(stderr, "%s: no test ran\n", suite);
        return 1;
    }
    return (failures || failed_tests) ? 1 : 0;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return (v && *v) ? v : fallback;
}

const char *ddad_test_fixtures_dir(void) { return env_or("DDAD_FIXTURES", "../shared/fixtures"); }
const char *ddad_test_python(void) { return env_or("DDAD_PYTHON", "/usr/bin/python3"); }
const char *ddad_test_bin_dir(void) { return env_or("DDAD_BIN", "build/bin"); }
const char *ddad_test_source_dir(void) { return env_or("DDAD_SOURCE_DIR", "."); }

const char *ddad_test_fixture(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", ddad_test_fixtures_dir(), name);
    return buf;
}

bool ddad_test_have_fixture(const char *name)
{
    const char *path = ddad_test_fixture(name);
    if (access(path, R_OK) == 0)
        return true;
    fprintf(stderr, "\n  SKIPPED: fixture %s is absent (the authors' outputs are kept beside the repository in "
            "../shared/fixtures; set DDAD_FIXTURES to their folder) ", path);
    return false;
}

char *ddad_test_mkdtemp(const char *tag)
{
    const char *base = env_or("TMPDIR", "/tmp");
    size_t cap = strlen(base) + strlen(tag) + 32;
    char *path = malloc(cap);
    if (!path)
        return NULL;
    snprintf(path, cap, "%s/ddad-%s-XXXXXX", base, tag);
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

void ddad_test_rmtree(const char *path)
{
    if (path && *path && strcmp(path, "/") != 0)
        ddad_test_system("rm -rf '%s'", path);
}

char *ddad_test_read_text(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, cap - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

int ddad_test_synth(const char *root, const char *categories, int size, int n_train, int n_good, int n_defect)
{
    char list[512];
    const char *cats[16];
    size_t n = 0;
    bool fits = strlen(categories) < sizeof list;
    snprintf(list, sizeof list, "%s", categories);
    for (char *t = strtok(list, ","); t && fits; t = strtok(NULL, ","))
        if ((fits = n < sizeof cats / sizeof cats[0]))
            cats[n++] = t;
    if (!fits || n == 0) {
        fprintf(stderr, "\n  ddad_test_synth: '%s' is not a list of 1 to 16 categories", categories);
        return -1;
    }
    ddad_synth_opts_t o = ddad_synth_opts_default();
    o.out = root;
    o.size = size;
    o.n_train = n_train;
    o.n_test_good = n_good;
    o.n_test_defect = n_defect;
    o.categories = cats;
    o.n_categories = n;
    if (ddad_synth_generate(&o, NULL, NULL) != DDAD_OK) {
        fprintf(stderr, "\n  synthetic set in %s: %s", root, ddad_last_error());
        return -1;
    }
    return 0;
}

int ddad_test_system(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fflush(stderr);
    int rc = system(cmd);
    if (rc == -1)
        return -1;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

int ddad_test_python_has(const char *modules)
{
    return ddad_test_system("'%s' -c 'import %s' >/dev/null 2>&1", ddad_test_python(), modules) == 0;
}

double ddad_test_max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m))
            m = d; /* NaN propagates as the max */
    }
    return m;
}

double ddad_test_max_abs(const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(b[i]) > m)
            m = fabs(b[i]);
    return m;
}

uint32_t ddad_test_xorshift(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (uint32_t)(*state >> 11);
}
