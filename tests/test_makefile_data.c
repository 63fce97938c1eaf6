/* tests/test_makefile_data.c - Makefile.data's download + verify + unpack path,
 * driven through file:// URLs to a small tarball built here, and its failures
 * (checksum mismatch, recorded checksum mismatch, unreachable URL). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "image.h"
#include "testutil.h"

static char *g_tmp;

static int exists(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int exists(const char *fmt, ...)
{
    char p[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p, sizeof p, fmt, ap);
    va_end(ap);
    struct stat sb;
    return stat(p, &sb) == 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    char *b = calloc(1, 65536);
    size_t n = fread(b, 1, 65535, f);
    b[n] = 0;
    fclose(f);
    return b;
}

static void write_png(const char *dir, const char *name, int c, int v)
{
    char p[4096];
    ddad_test_system("mkdir -p '%s'", dir);
    snprintf(p, sizeof p, "%s/%s", dir, name);
    ddad_image_t im = {0};
    CU_ASSERT_FATAL(ddad_image_alloc(&im, 8, 8, c) == DDAD_OK);
    memset(im.data, v, 64 * (size_t)c);
    CU_ASSERT(ddad_image_write_png(&im, p) == DDAD_OK);
    ddad_image_free(&im);
}

/* builds <tmp>/mvtec.tar.xz holding mvtec_anomaly_detection/bottle/... ; returns its SHA-256 */
static void build_archive(char *sha, size_t cap)
{
    char d[4096];
    const char *t = g_tmp;
    snprintf(d, sizeof d, "%s/pkg/mvtec_anomaly_detection/bottle/train/good", t);
    write_png(d, "000.png", 3, 100);
    write_png(d, "001.png", 3, 120);
    snprintf(d, sizeof d, "%s/pkg/mvtec_anomaly_detection/bottle/test/good", t);
    write_png(d, "000.png", 3, 110);
    snprintf(d, sizeof d, "%s/pkg/mvtec_anomaly_detection/bottle/test/broken", t);
    write_png(d, "000.png", 3, 30);
    snprintf(d, sizeof d, "%s/pkg/mvtec_anomaly_detection/bottle/ground_truth/broken", t);
    write_png(d, "000_mask.png", 1, 255);
    CU_ASSERT_FATAL(ddad_test_system("cd '%s/pkg' && tar -cJf ../mvtec.tar.xz mvtec_anomaly_detection", t) == 0);
    char out[4096];
    snprintf(out, sizeof out, "%s/sum.txt", t);
    CU_ASSERT_FATAL(ddad_test_system("sha256sum '%s/mvtec.tar.xz' | cut -d' ' -f1 > '%s'", t, out) == 0);
    char *s = slurp(out);
    snprintf(sha, cap, "%.64s", s);
    free(s);
    CU_ASSERT_EQUAL(strlen(sha), 64);
}

/* runs `make -f Makefile.data TARGET DATA_DIR=<tmp>/<data> MVTEC_URL=... EXTRA`; returns rc, log in <tmp>/log */
static int run_make(const char *target, const char *data, const char *url, const char *extra)
{
    return ddad_test_system("make --no-print-directory -C '%s' -f Makefile.data %s DATA_DIR='%s/%s' "
                            "MVTEC_URL='%s' BIN='%s' %s > '%s/log' 2>&1",
                            ddad_test_source_dir(), target, g_tmp, data, url, ddad_test_bin_dir(), extra, g_tmp);
}

static char *log_text(void)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/log", g_tmp);
    return slurp(p);
}

static void test_download_verify_unpack(void)
{
    g_tmp = ddad_test_mkdtemp("mkdata");
    CU_ASSERT_FATAL(g_tmp != NULL);
    char sha[80], url[4200], extra[256];
    build_archive(sha, sizeof sha);
    snprintf(url, sizeof url, "file://%s/mvtec.tar.xz", g_tmp);

    /* 1. correct checksum given: unpacked, top folder stripped, indexable */
    snprintf(extra, sizeof extra, "MVTEC_SHA256=%s", sha);
    int rc = run_make("mvtec", "d1", url, extra);
    char *log = log_text();
    if (rc)
        fprintf(stderr, "\n%s\n", log);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "SHA-256 ok"));
    free(log);
    CU_ASSERT(exists("%s/d1/mvtec/bottle/%s", g_tmp, "train/good/001.png"));
    CU_ASSERT(exists("%s/d1/mvtec/bottle/%s", g_tmp, "ground_truth/broken/000_mask.png"));
    char root[4096];
    snprintf(root, sizeof root, "%s/d1/mvtec", g_tmp);
    ddad_dataset_t *ds = NULL;
    CU_ASSERT_EQUAL(ddad_dataset_index(&ds, DDAD_DATA_FORMAT_MVTEC, root, NULL, 0), DDAD_OK);
    if (ds) {
        CU_ASSERT_EQUAL(ds->n, 4);
        CU_ASSERT_EQUAL(ddad_dataset_validate(ds), DDAD_OK);
    }
    ddad_dataset_free(ds);

    /* 2. the check target on the unpacked tree */
    char ex2[4300];
    snprintf(ex2, sizeof ex2, "ROOT='%s'", root);
    rc = run_make("check", "d1", url, ex2);
    log = log_text();
    if (rc)
        fprintf(stderr, "\n%s\n", log);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "layout ok"));
    free(log);
}

static void test_checksum_mismatch(void)
{
    char url[4200];
    snprintf(url, sizeof url, "file://%s/mvtec.tar.xz", g_tmp);
    int rc = run_make("mvtec", "d2", url,
                      "MVTEC_SHA256=0000000000000000000000000000000000000000000000000000000000000000");
    char *log = log_text();
    CU_ASSERT_NOT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "SHA-256 mismatch"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "MVTEC_SHA256"));
    free(log);
    CU_ASSERT(!exists("%s/d2/mvtec/%s", g_tmp, "bottle"));
}

static void test_recorded_checksum(void)
{
    char url[4200];
    snprintf(url, sizeof url, "file://%s/mvtec.tar.xz", g_tmp);
    /* first use: the checksum is recorded */
    CU_ASSERT_EQUAL(run_make("mvtec", "d3", url, ""), 0);
    CU_ASSERT(exists("%s/d3/%s", g_tmp, "mvtec.sha256"));
    char *log = log_text();
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "recorded SHA-256"));
    free(log);
    /* a second run verifies against the record */
    CU_ASSERT_EQUAL(run_make("mvtec", "d3", url, ""), 0);
    log = log_text();
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "SHA-256 ok"));
    free(log);
    /* a damaged archive no longer matches the record */
    CU_ASSERT_EQUAL(ddad_test_system("echo junk >> '%s/d3/downloads/mvtec_anomaly_detection.tar.xz'", g_tmp), 0);
    CU_ASSERT_NOT_EQUAL(run_make("mvtec", "d3", url, ""), 0);
    log = log_text();
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "SHA-256 mismatch"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "mvtec.sha256"));
    free(log);
}

static void test_offline(void)
{
    char url[4200];
    snprintf(url, sizeof url, "file://%s/no-such-archive.tar.xz", g_tmp);
    CU_ASSERT_NOT_EQUAL(run_make("mvtec", "d4", url, ""), 0);
    char *log = log_text();
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "download of"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "offline"));
    free(log);
    CU_ASSERT(!exists("%s/d4/%s", g_tmp, "mvtec"));
}

int main(void)
{
    static const ddad_test_t tests[] = {{"download, verify, unpack via file:// URL", test_download_verify_unpack},
                                        {"checksum mismatch fails clearly", test_checksum_mismatch},
                                        {"checksum recorded on first use, verified after", test_recorded_checksum},
                                        {"unreachable URL fails clearly", test_offline},
                                        {0}};
    int rc = ddad_test_main("Makefile.data", tests);
    ddad_test_rmtree(g_tmp);
    free(g_tmp);
    return rc;
}
