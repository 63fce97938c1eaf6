/* tests/test_run.c - core/run: the run-folder layout (every artifact's path
 * for a per-category and a unified run, the README's table naming each of
 * them), mkdir -p, and atomic writes (complete or absent, the previous file
 * intact after a failed write, no temporary file left behind). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "csv.h"
#include "run.h"
#include "testutil.h"

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_paths(void)
{
    char p[256];
    /* per-category run: everything in the run folder */
    CU_ASSERT_EQUAL(ddad_run_path(p, sizeof p, "runs/mvtec/bottle", NULL, DDAD_RUN_MAPS), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(p, "runs/mvtec/bottle/maps.h5");
    CU_ASSERT_EQUAL(ddad_run_path(p, sizeof p, "runs/mvtec/bottle", NULL, DDAD_RUN_CATEGORY_DIR), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(p, "runs/mvtec/bottle");
    CU_ASSERT_EQUAL(ddad_run_path(p, sizeof p, "runs/mvtec/bottle", NULL, DDAD_RUN_CHECKPOINTS), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(p, "runs/mvtec/bottle/checkpoints");
    /* unified run: per-category files in <run>/<category>, same names */
    CU_ASSERT_EQUAL(ddad_run_path(p, sizeof p, "runs/mvtec/unified", "screw", DDAD_RUN_MAPS), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(p, "runs/mvtec/unified/screw/maps.h5");
    CU_ASSERT_EQUAL(ddad_run_path(p, sizeof p, "runs/mvtec/unified", "screw", DDAD_RUN_PADIM), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(p, "runs/mvtec/unified/screw/padim.h5");
    CU_ASSERT_EQUAL(ddad_run_path(p, sizeof p, "runs/mvtec/unified", "screw", DDAD_RUN_REFERENCE), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(p, "runs/mvtec/unified/screw/reference.h5");
    CU_ASSERT_EQUAL(ddad_run_path(p, sizeof p, "runs/mvtec/unified", "screw", DDAD_RUN_CATEGORY_DIR), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(p, "runs/mvtec/unified/screw");
    /* run-level files ignore the category */
    CU_ASSERT_EQUAL(ddad_run_path(p, sizeof p, "runs/mvtec/unified", "screw", DDAD_RUN_THRESHOLDS), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(p, "runs/mvtec/unified/threshold.json");
    CU_ASSERT_EQUAL(ddad_run_path(p, sizeof p, "runs/mvtec/unified", "screw", DDAD_RUN_CONFIG), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(p, "runs/mvtec/unified/config.yaml");
    /* too small a buffer, an unknown artifact */
    char small[12];
    CU_ASSERT_EQUAL(ddad_run_path(small, sizeof small, "runs/mvtec/bottle", NULL, DDAD_RUN_MAPS), DDAD_STATUS_USAGE);
    CU_ASSERT(strstr(ddad_last_error(), "too long") != NULL);
    CU_ASSERT_EQUAL(ddad_run_path(p, sizeof p, "r", NULL, DDAD_RUN_FILE_COUNT), DDAD_STATUS_USAGE);
    CU_ASSERT_STRING_EQUAL(ddad_run_file_name(DDAD_RUN_FILE_COUNT), "");
}

/* Every named artifact appears in the README's "Outputs" table. */
static void test_readme_lists_every_artifact(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/README.md", ddad_test_source_dir());
    char *readme = slurp(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(readme);
    const char *table = strstr(readme, "## Outputs");
    CU_ASSERT_PTR_NOT_NULL_FATAL(table);
    for (int i = 0; i < DDAD_RUN_FILE_COUNT; i++) {
        const char *name = ddad_run_file_name((ddad_run_file_t)i);
        if (!*name)
            continue;
        char needle[64];
        snprintf(needle, sizeof needle, "`%s", name);
        if (!strstr(table, needle))
            fprintf(stderr, "README's Outputs table does not name %s\n", name);
        CU_ASSERT(strstr(table, needle) != NULL);
    }
}

static void test_mkdir_p(void)
{
    char *dir = ddad_test_mkdtemp("run");
    char p[4200];
    snprintf(p, sizeof p, "%s/a/b/c", dir);
    CU_ASSERT_EQUAL(ddad_run_mkdir_p(p), DDAD_OK);
    CU_ASSERT(exists(p));
    CU_ASSERT_EQUAL(ddad_run_mkdir_p(p), DDAD_OK); /* exists: fine */
    snprintf(p, sizeof p, "%s/file", dir);
    CU_ASSERT_EQUAL(ddad_run_write_text_atomic(p, "x"), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_run_mkdir_p(p), DDAD_STATUS_IO); /* a file in the way */
    CU_ASSERT(strstr(ddad_last_error(), "not a folder") != NULL);
    CU_ASSERT_EQUAL(ddad_run_mkdir_p(""), DDAD_STATUS_USAGE);
    ddad_test_rmtree(dir);
    free(dir);
}

static ddad_status_t failing_writer(FILE *f, void *user)
{
    fputs((const char *)user, f);
    return ddad_fail(DDAD_STATUS_IO, "the writer gave up");
}

static void test_atomic_writes(void)
{
    char *dir = ddad_test_mkdtemp("run");
    char p[4200], tmp[4300];
    snprintf(p, sizeof p, "%s/threshold.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    CU_ASSERT_EQUAL(ddad_run_write_text_atomic(p, "first\n"), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(slurp(p), "first\n");
    CU_ASSERT_EQUAL(ddad_run_write_text_atomic(p, "second\n"), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(slurp(p), "second\n");
    CU_ASSERT_FALSE(exists(tmp));
    /* a failing writer leaves the previous file and no temporary */
    CU_ASSERT_EQUAL(ddad_run_write_atomic(p, failing_writer, "half"), DDAD_STATUS_IO);
    CU_ASSERT_STRING_EQUAL(slurp(p), "second\n");
    CU_ASSERT_FALSE(exists(tmp));
    /* a folder that does not exist: IO error naming the path */
    char missing[4300];
    snprintf(missing, sizeof missing, "%s/no/such/file", dir);
    CU_ASSERT_EQUAL(ddad_run_write_text_atomic(missing, "x"), DDAD_STATUS_IO);
    CU_ASSERT(strstr(ddad_last_error(), "no/such") != NULL);
    /* commit: a finished temporary moves into place */
    FILE *f = fopen(tmp, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("third\n", f);
    fclose(f);
    CU_ASSERT_EQUAL(ddad_run_commit(tmp, p), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(slurp(p), "third\n");
    CU_ASSERT_FALSE(exists(tmp));
    /* commit of a missing temporary: IO error, the file untouched */
    CU_ASSERT_EQUAL(ddad_run_commit(tmp, p), DDAD_STATUS_IO);
    CU_ASSERT_STRING_EQUAL(slurp(p), "third\n");
    ddad_test_rmtree(dir);
    free(dir);
}

/* CSV fields are quoted only when they must be, as RFC 4180 says, and
 * Python's csv module reads them back. */
static void test_csv_field(void)
{
    const char *in[] = {"train/good/009.png", "a,b.png", "say \"hi\"", "two\nlines", "cr\r", ""};
    const char *want[] = {"train/good/009.png", "\"a,b.png\"", "\"say \"\"hi\"\"\"", "\"two\nlines\"",
                          "\"cr\r\"", ""};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        ddad_csv_field(f, in[i]);
        fclose(f);
        CU_ASSERT_STRING_EQUAL(buf, want[i]);
        free(buf);
    }
    char *dir = ddad_test_mkdtemp("csv");
    char path[4200];
    snprintf(path, sizeof path, "%s/fields.csv", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        ddad_csv_field(f, in[i]);
        fputs(i + 1 < sizeof in / sizeof in[0] ? "," : "\r\n", f);
    }
    fclose(f);
    if (ddad_test_python_has("csv"))
        CU_ASSERT_EQUAL(ddad_test_system("'%s' -c \"import csv; r = next(csv.reader(open('%s', newline=''))); "
                                         "assert r == ['train/good/009.png', 'a,b.png', 'say \\\"hi\\\"', "
                                         "'two\\nlines', 'cr\\r', ''], r\"",
                                         ddad_test_python(), path),
                        0);
    ddad_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"artifact paths", test_paths},
                                        {"README names every artifact", test_readme_lists_every_artifact},
                                        {"mkdir -p", test_mkdir_p},
                                        {"atomic writes and commit", test_atomic_writes},
                                        {"CSV fields", test_csv_field},
                                        {0}};
    return ddad_test_main("run", tests);
}
