/* tests/testutil.h - shared helpers for the CUnit test programs.
 *
 * A test program defines its suites and calls ddad_test_main():
 *
 *     static void test_something(void) { CU_ASSERT_EQUAL(1 + 1, 2); }
 *     int main(void) {
 *         static const ddad_test_t tests[] = {{"something", test_something}, {0}};
 *         return ddad_test_main("suite name", tests);
 *     }
 *
 * The exit code comes from CU_get_number_of_failures() (CU_basic_run_tests()
 * alone returns success even when assertions fail).
 */
#ifndef DDAD_TESTUTIL_H
#define DDAD_TESTUTIL_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct ddad_test {
    const char *name;
    void (*fn)(void);
} ddad_test_t;

/* Runs one suite made of the NULL-terminated tests; returns the exit code. */
int ddad_test_main(const char *suite, const ddad_test_t *tests);

/* Paths from the environment set by ctest (with sensible fallbacks). Static
 * strings, never NULL. */
const char *ddad_test_fixtures_dir(void);
const char *ddad_test_python(void);
const char *ddad_test_bin_dir(void);
const char *ddad_test_source_dir(void);

/* xorshift64 step on *state (a fixed, seedable sequence for test data):
 * returns bits 11..42 of the new state. */
uint32_t ddad_test_xorshift(uint64_t *state);

/* "<fixtures>/<name>" in a static buffer. */
const char *ddad_test_fixture(const char *name);
/* True when fixture `name` exists; otherwise says on stderr that the test
 * is skipped and why (the fixtures, outputs of the authors' code, live
 * beside the repository in ../shared/fixtures, or in $DDAD_FIXTURES) and
 * returns false. */
bool ddad_test_have_fixture(const char *name);
/* The first line of a test that reads fixture `name`: returns from the
 * test, skipped with that note, where the fixtures are absent. */
#define DDAD_TEST_NEED_FIXTURE(name)                                                                                \
    do {                                                                                                           \
        if (!ddad_test_have_fixture(name))                                                                          \
            return;                                                                                                \
    } while (0)

/* Creates a fresh empty temporary folder; returns a malloc'ed path (caller
 * frees) and removes it (recursively) with ddad_test_rmtree. */
char *ddad_test_mkdtemp(const char *tag);
void ddad_test_rmtree(const char *path);

/* The text of a file in buf (at most cap - 1 bytes, NUL-terminated; "" when
 * it cannot be opened). Returns buf. */
char *ddad_test_read_text(const char *path, char *buf, size_t cap);

/* Writes ddad-synth's synthetic set (seed 0) under root: the comma-separated
 * categories, size x size px, n_train training images, n_good good test
 * images and n_defect test images per defect kind. Returns 0, or -1 after
 * printing the error. */
int ddad_test_synth(const char *root, const char *categories, int size, int n_train, int n_good, int n_defect);

/* True when the python oracle can import all comma-separated modules
 * (e.g. "torch,sklearn"). Tests that need it fail (not skip) when it is
 * missing: the README's set-up installs it. */
int ddad_test_python_has(const char *modules);

/* Runs a shell command, returns its exit status (-1 on failure to run). */
int ddad_test_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Max |a - b| and max |b| over n floats. */
double ddad_test_max_abs_diff(const float *a, const float *b, size_t n);
double ddad_test_max_abs(const float *b, size_t n);

/* Asserts |a - ref| <= rel * max|ref| + abs_floor elementwise, with a message
 * naming what and the worst element. */
#define DDAD_ASSERT_CLOSE(what, a, ref, n, rel, abs_floor)                                   \
    do {                                                                                     \
        double d_ = ddad_test_max_abs_diff((a), (ref), (n));                                 \
        double m_ = ddad_test_max_abs((ref), (n));                                           \
        double tol_ = (rel) * m_ + (abs_floor);                                              \
        if (!(d_ <= tol_))                                                                   \
            fprintf(stderr, "\n  %s: max|diff| %.3g > tol %.3g (max|ref| %.3g)\n", (what), d_, \
                    tol_, m_);                                                               \
        CU_ASSERT(d_ <= tol_);                                                               \
    } while (0)

#endif
