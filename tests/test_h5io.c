/* tests/test_h5io.c - the HDF5 layer: round trips of every type and rank,
 * strings, attributes, listing, row slabs, replacement, compression; files
 * written by h5py read here and files written here checked by h5py; the real
 * fixtures; error paths (status + a message naming the file); no id leaks. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "h5io.h"
#include "testutil.h"

static char *g_dir; /* a fresh temporary folder per test */

static const char *tmp_path(const char *name)
{
    static char buf[4][4096];
    static int slot;
    slot = (slot + 1) % 4;
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", g_dir, name);
    return buf[slot];
}

static void begin(const char *tag)
{
    g_dir = ddad_test_mkdtemp(tag);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g_dir);
}

static void end(void)
{
    ddad_test_rmtree(g_dir);
    free(g_dir);
    g_dir = NULL;
}

/* Writes `src` to <dir>/<name> and runs it with the python oracle; returns
 * its exit status. */
static int run_python(const char *name, const char *src)
{
    const char *path = tmp_path(name);
    FILE *fp = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs(src, fp);
    fclose(fp);
    return ddad_test_system("cd '%s' && '%s' '%s'", g_dir, ddad_test_python(), path);
}

static int msg_has(const char *needle)
{
    int ok = strstr(ddad_last_error(), needle) != NULL;
    if (!ok)
        fprintf(stderr, "\n  message '%s' lacks '%s'\n", ddad_last_error(), needle);
    return ok;
}

/* Leak detection. HDF5 1.10 refuses H5Inmembers on its own id types, but ids
 * of one type are numbered by a per-type counter, so the transient ids
 * (dataspaces, datatypes, property lists) created between two marks and
 * still valid are the leaked ones; objects attached to a file (datasets,
 * groups, attributes) are counted by H5Fget_obj_count. */
typedef struct leak_mark {
    hid_t space, type, plist;
} leak_mark_t;

static leak_mark_t leak_mark(void)
{
    leak_mark_t m;
    m.space = H5Screate(H5S_SCALAR);
    H5Sclose(m.space);
    m.type = H5Tcopy(H5T_NATIVE_INT);
    H5Tclose(m.type);
    m.plist = H5Pcreate(H5P_DATASET_XFER);
    H5Pclose(m.plist);
    return m;
}

static long leaks_since(const leak_mark_t *m0)
{
    leak_mark_t m1 = leak_mark();
    long n = 0;
    const hid_t from[3] = {m0->space, m0->type, m0->plist}, to[3] = {m1.space, m1.type, m1.plist};
    for (int k = 0; k < 3; k++)
        for (hid_t id = from[k] + 1; id < to[k]; id++)
            n += H5Iis_valid(id) > 0;
    n += (long)H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR);
    return n;
}

static long open_files(void) { return (long)H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_FILE); }

/* Deterministic test values of type t: element i. */
static void fill(ddad_h5_type_t t, void *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (t) {
        case DDAD_H5_F32: ((float *)buf)[i] = (float)i * 0.25f - 3.125f; break;
        case DDAD_H5_F64: ((double *)buf)[i] = (double)i / 7.0 - 1e10; break;
        case DDAD_H5_I64: ((int64_t *)buf)[i] = (int64_t)i * 1000000007LL - (1LL << 40); break;
        case DDAD_H5_I32: ((int32_t *)buf)[i] = (int32_t)i * 97 - 5000; break;
        case DDAD_H5_U8: ((uint8_t *)buf)[i] = (uint8_t)(i * 37 + 1); break;
        case DDAD_H5_F16: ((uint16_t *)buf)[i] = (uint16_t)(0x3c00 + i * 3); break; /* 1.0 upwards */
        }
    }
}

static const ddad_h5_type_t all_types[] = {DDAD_H5_F32, DDAD_H5_F64, DDAD_H5_I64, DDAD_H5_I32, DDAD_H5_U8, DDAD_H5_F16};
#define NTYPES (sizeof all_types / sizeof all_types[0])

/* ---- round trips ------------------------------------------------------- */

static void test_roundtrip_types_ranks(void)
{
    begin("h5rt");
    const int64_t dims[4] = {2, 3, 4, 5};
    for (int level = 0; level <= 4; level += 4) {
        const char *path = tmp_path(level ? "rt_z.h5" : "rt.h5");
        ddad_h5_t *f = NULL;
        CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, path, DDAD_H5_CREATE), DDAD_OK);
        for (size_t ti = 0; ti < NTYPES; ti++)
            for (int rank = 0; rank <= 4; rank++) {
                size_t n = 1;
                for (int d = 0; d < rank; d++)
                    n *= (size_t)dims[d];
                void *buf = malloc(n * ddad_h5_type_size(all_types[ti]));
                fill(all_types[ti], buf, n);
                char name[64];
                snprintf(name, sizeof name, "t%zu/rank%d.data", ti, rank);
                CU_ASSERT_EQUAL(ddad_h5_write(f, name, all_types[ti], buf, dims, rank, level), DDAD_OK);
                free(buf);
            }
        CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);

        CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, path, DDAD_H5_READ), DDAD_OK);
        CU_ASSERT_STRING_EQUAL(ddad_h5_path(f), path);
        for (size_t ti = 0; ti < NTYPES; ti++)
            for (int rank = 0; rank <= 4; rank++) {
                ddad_h5_type_t t = all_types[ti];
                size_t n = 1;
                for (int d = 0; d < rank; d++)
                    n *= (size_t)dims[d];
                size_t bytes = n * ddad_h5_type_size(t);
                void *ref = malloc(bytes), *got = NULL, *into = malloc(bytes);
                fill(t, ref, n);
                char name[64];
                snprintf(name, sizeof name, "t%zu/rank%d.data", ti, rank);
                int64_t shape[DDAD_H5_MAX_DIMS];
                int ndim = -1;
                CU_ASSERT(ddad_h5_exists(f, name));
                CU_ASSERT_EQUAL(ddad_h5_read(f, name, t, &got, shape, &ndim), DDAD_OK);
                CU_ASSERT_EQUAL(ndim, rank);
                for (int d = 0; d < rank && d < ndim; d++)
                    CU_ASSERT_EQUAL(shape[d], dims[d]);
                CU_ASSERT(got && memcmp(got, ref, bytes) == 0);
                memset(into, 0xAB, bytes);
                CU_ASSERT_EQUAL(ddad_h5_read_into(f, name, t, into, dims, rank), DDAD_OK);
                CU_ASSERT(memcmp(into, ref, bytes) == 0);
                int64_t s2[DDAD_H5_MAX_DIMS];
                int nd2 = -1;
                CU_ASSERT_EQUAL(ddad_h5_shape(f, name, s2, &nd2), DDAD_OK);
                CU_ASSERT_EQUAL(nd2, rank);
                free(ref);
                free(got);
                free(into);
            }
        CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);
    }
    end();
}

static void test_conversions(void)
{
    begin("h5conv");
    const char *path = tmp_path("conv.h5");
    ddad_h5_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, path, DDAD_H5_CREATE), DDAD_OK);
    const int64_t n = 6;
    double d[6] = {0.1, -2.5, 1e-3, 3.0, 65504.0, -0.0};
    int64_t i64[6] = {0, -1, 2147483647LL, -2147483648LL, 42, 7};
    uint16_t h[6] = {0x3c00, 0xc000, 0x3555, 0x0001, 0x7bff, 0x8000}; /* 1, -2, 0.333, min subnormal, 65504, -0 */
    CU_ASSERT_EQUAL(ddad_h5_write(f, "f64", DDAD_H5_F64, d, &n, 1, 0), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_write(f, "i64", DDAD_H5_I64, i64, &n, 1, 0), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_write(f, "f16", DDAD_H5_F16, h, &n, 1, 0), DDAD_OK);

    float got32[6];
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "f64", DDAD_H5_F32, got32, &n, 1), DDAD_OK);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(got32[i], (float)d[i]);
    int32_t got_i32[6];
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "i64", DDAD_H5_I32, got_i32, &n, 1), DDAD_OK);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(got_i32[i], (int32_t)i64[i]);
    int64_t back[6];
    int32_t small[6] = {-3, 0, 5, 1 << 30, -(1 << 30), 9};
    CU_ASSERT_EQUAL(ddad_h5_write(f, "i32", DDAD_H5_I32, small, &n, 1, 0), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "i32", DDAD_H5_I64, back, &n, 1), DDAD_OK);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(back[i], (int64_t)small[i]);

    const float h_as_f32[6] = {1.0f, -2.0f, 0.333251953125f, 5.9604644775390625e-08f, 65504.0f, -0.0f};
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "f16", DDAD_H5_F32, got32, &n, 1), DDAD_OK);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(got32[i], h_as_f32[i]);
    CU_ASSERT(signbit(got32[5]));
    /* and F32 file -> F16 buffer for exactly representable values */
    CU_ASSERT_EQUAL(ddad_h5_write(f, "f32h", DDAD_H5_F32, h_as_f32, &n, 1, 0), DDAD_OK);
    uint16_t hb[6];
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "f32h", DDAD_H5_F16, hb, &n, 1), DDAD_OK);
    CU_ASSERT(memcmp(hb, h, sizeof h) == 0);
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);
    end();
}

static void test_strings(void)
{
    begin("h5str");
    const char *path = tmp_path("str.h5");
    ddad_h5_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, path, DDAD_H5_CREATE), DDAD_OK);
    const char *s[] = {"bottle", "", "metal_nut", "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93", NULL};
    CU_ASSERT_EQUAL(ddad_h5_write_strings(f, "meta/categories", s, 5), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_write_strings(f, "meta/empty", NULL, 0), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);

    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, path, DDAD_H5_READ), DDAD_OK);
    char **got = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(ddad_h5_read_strings(f, "meta/categories", &got, &n), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(n, 5);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_STRING_EQUAL(got[i], s[i]);
    CU_ASSERT_STRING_EQUAL(got[4], ""); /* NULL is stored as "" */
    ddad_h5_free_strings(got, n);
    CU_ASSERT_EQUAL(ddad_h5_read_strings(f, "meta/empty", &got, &n), DDAD_OK);
    CU_ASSERT_EQUAL(n, 0);
    ddad_h5_free_strings(got, n);
    /* strings are not numbers, numbers are not strings */
    void *x = NULL;
    int64_t shape[DDAD_H5_MAX_DIMS];
    int nd;
    CU_ASSERT_EQUAL(ddad_h5_read(f, "meta/categories", DDAD_H5_F32, &x, shape, &nd), DDAD_STATUS_DATA);
    CU_ASSERT(msg_has(path) && msg_has("meta/categories"));
    CU_ASSERT_PTR_NULL(x);
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);

    /* h5py reads them back as the same UTF-8 text */
    CU_ASSERT_EQUAL(run_python("check_str.py",
                               "import h5py\n"
                               "f = h5py.File('str.h5', 'r')\n"
                               "d = f['meta/categories']\n"
                               "assert h5py.check_string_dtype(d.dtype).encoding == 'utf-8', d.dtype\n"
                               "got = [v.decode('utf-8') for v in d[()]]\n"
                               "assert got == ['bottle', '', 'metal_nut', '\\u00e9t\\u00e9 \\u2713', ''], got\n"
                               "assert f['meta/empty'].shape == (0,)\n"),
                    0);
    end();
}

static void test_attributes(void)
{
    begin("h5attr");
    const char *path = tmp_path("attr.h5");
    ddad_h5_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, path, DDAD_H5_CREATE), DDAD_OK);
    float v = 1;
    int64_t one = 1;
    CU_ASSERT_EQUAL(ddad_h5_write(f, "g/sub/d", DDAD_H5_F32, &v, &one, 1, 0), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_set_attr_str(f, "/", "format", "ddad-checkpoint"), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_set_attr_i64(f, "", "version", 3), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_set_attr_f64(f, "g/sub", "lr", 1e-4), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_set_attr_i64(f, "g/sub/d", "step", -(1LL << 50)), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_set_attr_str(f, "g/sub/d", "note", "first"), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_set_attr_str(f, "g/sub/d", "note", "second \xe2\x9c\x93"), DDAD_OK); /* replaces */
    CU_ASSERT_EQUAL(ddad_h5_set_attr_f64(f, "nope", "x", 1.0), DDAD_STATUS_DATA);
    CU_ASSERT(msg_has(path) && msg_has("nope"));
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);

    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, path, DDAD_H5_READ), DDAD_OK);
    char *s = NULL;
    int64_t i = 0;
    double d = 0;
    CU_ASSERT_EQUAL(ddad_h5_get_attr_str(f, "", "format", &s), DDAD_OK);
    CU_ASSERT(s && strcmp(s, "ddad-checkpoint") == 0);
    free(s);
    CU_ASSERT_EQUAL(ddad_h5_get_attr_i64(f, "/", "version", &i), DDAD_OK);
    CU_ASSERT_EQUAL(i, 3);
    CU_ASSERT_EQUAL(ddad_h5_get_attr_f64(f, "/", "version", &d), DDAD_OK); /* int -> double */
    CU_ASSERT_EQUAL(d, 3.0);
    CU_ASSERT_EQUAL(ddad_h5_get_attr_f64(f, "g/sub", "lr", &d), DDAD_OK);
    CU_ASSERT_EQUAL(d, 1e-4);
    CU_ASSERT_EQUAL(ddad_h5_get_attr_i64(f, "g/sub", "lr", &i), DDAD_STATUS_DATA); /* not an integer */
    CU_ASSERT_EQUAL(ddad_h5_get_attr_i64(f, "g/sub/d", "step", &i), DDAD_OK);
    CU_ASSERT_EQUAL(i, -(1LL << 50));
    CU_ASSERT_EQUAL(ddad_h5_get_attr_str(f, "g/sub/d", "note", &s), DDAD_OK);
    CU_ASSERT(s && strcmp(s, "second \xe2\x9c\x93") == 0);
    free(s);
    CU_ASSERT(ddad_h5_has_attr(f, "/", "format"));
    CU_ASSERT(ddad_h5_has_attr(f, "g/sub/d", "step"));
    CU_ASSERT(!ddad_h5_has_attr(f, "g/sub/d", "nope"));
    CU_ASSERT(!ddad_h5_has_attr(f, "missing/obj", "step"));
    CU_ASSERT_EQUAL(ddad_h5_get_attr_f64(f, "/", "missing", &d), DDAD_STATUS_DATA);
    CU_ASSERT(msg_has(path) && msg_has("missing"));
    CU_ASSERT_EQUAL(ddad_h5_get_attr_str(f, "/", "version", &s), DDAD_STATUS_DATA); /* not a string */
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_EQUAL(ddad_h5_set_attr_i64(f, "/", "x", 1), DDAD_STATUS_USAGE); /* read-only */
    CU_ASSERT(msg_has(path));
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);

    CU_ASSERT_EQUAL(run_python("check_attr.py",
                               "import h5py\n"
                               "f = h5py.File('attr.h5', 'r')\n"
                               "assert f.attrs['format'] == 'ddad-checkpoint', f.attrs['format']\n"
                               "assert f.attrs['version'] == 3 and f.attrs['version'].dtype == 'int64'\n"
                               "assert f['g/sub'].attrs['lr'] == 1e-4\n"
                               "assert f['g/sub/d'].attrs['step'] == -(1 << 50)\n"
                               "assert f['g/sub/d'].attrs['note'] == 'second \\u2713'\n"),
                    0);
    end();
}

static void test_list(void)
{
    begin("h5list");
    const char *path = tmp_path("list.h5");
    ddad_h5_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, path, DDAD_H5_CREATE), DDAD_OK);
    float v = 0;
    const char *names[] = {"g/b", "g/a", "g/c.d", "g/sub/x", "top"};
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(ddad_h5_write(f, names[i], DDAD_H5_F32, &v, NULL, 0, 0), DDAD_OK);
    char **got = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(ddad_h5_list(f, "g", &got, &n), DDAD_OK);
    const char *want[] = {"a", "b", "c.d", "sub"};
    CU_ASSERT_EQUAL_FATAL(n, 4);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_STRING_EQUAL(got[i], want[i]);
    ddad_h5_free_strings(got, n);
    CU_ASSERT_EQUAL(ddad_h5_list(f, "/", &got, &n), DDAD_OK);
    CU_ASSERT_EQUAL(n, 2);
    ddad_h5_free_strings(got, n);
    CU_ASSERT_EQUAL(ddad_h5_list(f, "g/sub/x", &got, &n), DDAD_STATUS_DATA); /* a dataset */
    CU_ASSERT_EQUAL(ddad_h5_list(f, "nothing/here", &got, &n), DDAD_STATUS_DATA);
    CU_ASSERT(msg_has(path) && msg_has("nothing/here"));
    CU_ASSERT(ddad_h5_exists(f, "g/sub"));
    CU_ASSERT(ddad_h5_exists(f, "/g/c.d"));
    CU_ASSERT(!ddad_h5_exists(f, "g/c"));
    CU_ASSERT(!ddad_h5_exists(f, "x/y/z"));
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);
    end();
}

static void test_rows_and_replace(void)
{
    begin("h5rows");
    const char *path = tmp_path("rows.h5");
    ddad_h5_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, path, DDAD_H5_CREATE), DDAD_OK);
    const int64_t shape[3] = {10, 3, 4};
    float all[120], got[120];
    fill(DDAD_H5_F32, all, 120);
    for (int level = 0; level <= 6; level += 6) {
        const char *name = level ? "maps/z" : "maps/plain";
        CU_ASSERT_EQUAL(ddad_h5_create_dataset(f, name, DDAD_H5_F32, shape, 3, level), DDAD_OK);
        /* rows out of order: [7,10), [0,3), [3,7) */
        CU_ASSERT_EQUAL(ddad_h5_write_rows(f, name, DDAD_H5_F32, all + 7 * 12, 7, 3), DDAD_OK);
        CU_ASSERT_EQUAL(ddad_h5_write_rows(f, name, DDAD_H5_F32, all, 0, 3), DDAD_OK);
        CU_ASSERT_EQUAL(ddad_h5_write_rows(f, name, DDAD_H5_F32, all + 3 * 12, 3, 4), DDAD_OK);
        CU_ASSERT_EQUAL(ddad_h5_write_rows(f, name, DDAD_H5_F32, all, 9, 2), DDAD_STATUS_DATA);
        CU_ASSERT(msg_has(path) && msg_has(name) && msg_has("(10, 3, 4)"));
        CU_ASSERT_EQUAL(ddad_h5_read_rows(f, name, DDAD_H5_F32, got, -1, 1), DDAD_STATUS_DATA);
        memset(got, 0, sizeof got);
        CU_ASSERT_EQUAL(ddad_h5_read_into(f, name, DDAD_H5_F32, got, shape, 3), DDAD_OK);
        CU_ASSERT(memcmp(got, all, sizeof all) == 0);
        double row5[12];
        CU_ASSERT_EQUAL(ddad_h5_read_rows(f, name, DDAD_H5_F64, row5, 5, 1), DDAD_OK);
        for (int i = 0; i < 12; i++)
            CU_ASSERT_EQUAL(row5[i], (double)all[5 * 12 + i]);
        CU_ASSERT_EQUAL(ddad_h5_read_rows(f, name, DDAD_H5_F32, got, 10, 0), DDAD_OK); /* empty slab */
    }
    /* replacing a dataset with another shape and type */
    const int64_t s2[2] = {2, 2};
    int64_t v2[4] = {1, 2, 3, 4};
    CU_ASSERT_EQUAL(ddad_h5_write(f, "maps/plain", DDAD_H5_I64, v2, s2, 2, 0), DDAD_OK);
    /* a group cannot be replaced by a dataset */
    CU_ASSERT_EQUAL(ddad_h5_write(f, "maps", DDAD_H5_I64, v2, s2, 2, 0), DDAD_STATUS_DATA);
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);

    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, path, DDAD_H5_RDWR), DDAD_OK);
    int64_t *r = NULL, sh[DDAD_H5_MAX_DIMS];
    int nd = 0;
    CU_ASSERT_EQUAL(ddad_h5_read(f, "maps/plain", DDAD_H5_I64, (void **)&r, sh, &nd), DDAD_OK);
    CU_ASSERT(nd == 2 && sh[0] == 2 && sh[1] == 2 && r && memcmp(r, v2, sizeof v2) == 0);
    free(r);
    /* RDWR: change one row in place, then check with h5py */
    float row[12];
    for (int i = 0; i < 12; i++)
        row[i] = 100.0f + (float)i;
    CU_ASSERT_EQUAL(ddad_h5_write_rows(f, "maps/z", DDAD_H5_F32, row, 4, 1), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);
    CU_ASSERT_EQUAL(run_python("check_rows.py",
                               "import h5py, numpy as np\n"
                               "f = h5py.File('rows.h5', 'r')\n"
                               "z = f['maps/z']\n"
                               "ref = (np.arange(120, dtype=np.float32) * np.float32(0.25) - np.float32(3.125)).reshape(10, 3, 4)\n"
                               "ref[4] = 100 + np.arange(12).reshape(3, 4)\n"
                               "assert np.array_equal(z[()], ref)\n"
                               "assert z.compression == 'gzip' and z.compression_opts == 6 and z.chunks is not None\n"
                               "assert f['maps/plain'].dtype == np.int64 and f['maps/plain'].chunks is None\n"),
                    0);
    end();
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static void test_compression(void)
{
    begin("h5zip");
    enum { R = 400, C = 500 };
    float *x = malloc(sizeof(float) * R * C);
    for (int i = 0; i < R * C; i++)
        x[i] = (float)(i % 50); /* very compressible */
    const int64_t shape[2] = {R, C};
    for (int level = 0; level <= 5; level += 5) {
        ddad_h5_t *f = NULL;
        CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, tmp_path(level ? "z.h5" : "raw.h5"), DDAD_H5_CREATE), DDAD_OK);
        CU_ASSERT_EQUAL(ddad_h5_write(f, "x", DDAD_H5_F32, x, shape, 2, level), DDAD_OK);
        CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);
    }
    long raw = file_size(tmp_path("raw.h5")), z = file_size(tmp_path("z.h5"));
    CU_ASSERT(raw >= (long)sizeof(float) * R * C);
    CU_ASSERT(z > 0 && z * 10 < raw);
    ddad_h5_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, tmp_path("z.h5"), DDAD_H5_READ), DDAD_OK);
    float *got = NULL;
    int64_t sh[DDAD_H5_MAX_DIMS];
    int nd;
    CU_ASSERT_EQUAL(ddad_h5_read(f, "x", DDAD_H5_F32, (void **)&got, sh, &nd), DDAD_OK);
    CU_ASSERT(got && memcmp(got, x, sizeof(float) * R * C) == 0);
    free(got);
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);
    ddad_h5_t *g = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&g, tmp_path("bad.h5"), DDAD_H5_CREATE), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_write(g, "x", DDAD_H5_F32, x, shape, 2, 10), DDAD_STATUS_USAGE);
    /* 6 MB rows: chunks are split below one row */
    const int64_t big[3] = {3, 1500, 1000};
    CU_ASSERT_EQUAL(ddad_h5_create_dataset(g, "big", DDAD_H5_F32, big, 3, 1), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_close(g), DDAD_OK);
    free(x);
    CU_ASSERT_EQUAL(run_python("check_zip.py",
                               "import h5py, numpy as np\n"
                               "d = h5py.File('z.h5', 'r')['x']\n"
                               "assert d.compression == 'gzip' and d.shuffle, (d.compression, d.shuffle)\n"
                               "assert d.chunks[1] == 500 and d.chunks[0] >= 1, d.chunks\n"
                               "assert np.array_equal(d[()], (np.arange(200000) % 50).astype(np.float32).reshape(400, 500))\n"
                               "assert h5py.File('raw.h5', 'r')['x'].chunks is None\n"
                               "c = h5py.File('bad.h5', 'r')['big'].chunks\n"
                               "assert c[0] == 1 and 4 * c[0] * c[1] * c[2] <= 4 << 20 and c[1] * c[2] >= 1 << 19, c\n"),
                    0);
    end();
}

/* ---- the python oracle writes, we read --------------------------------- */

static void test_read_h5py_file(void)
{
    begin("h5py");
    CU_ASSERT_EQUAL_FATAL(
        run_python("make.py",
                   "import h5py, numpy as np\n"
                   "rng = np.random.default_rng(7)\n"
                   "with h5py.File('py.h5', 'w') as f:\n"
                   "    x = rng.standard_normal((3, 4, 5)).astype(np.float32)\n"
                   "    f['a/x'] = x\n"
                   "    x.tofile('x.f32')\n"
                   "    f['a/f64'] = np.linspace(-1, 1, 7)\n"
                   "    f['a/i64'] = np.array([[-5, 1 << 40], [3, 700]], dtype=np.int64)\n"
                   "    f['a/i32'] = np.arange(-3, 3, dtype=np.int32)\n"
                   "    f['a/u8'] = np.arange(250, 256, dtype=np.uint8)\n"
                   "    h = (rng.standard_normal(64) * 100).astype(np.float16)\n"
                   "    f['half'] = h\n"
                   "    h.view(np.uint16).tofile('h.u16')\n"
                   "    h.astype(np.float32).tofile('h.f32')\n"
                   "    y = (rng.standard_normal(64) * 100).astype(np.float32)\n"
                   "    f['to_half'] = y\n"
                   "    y.astype(np.float16).view(np.uint16).tofile('y.u16')\n"
                   "    f['s_fixed'] = np.array([b'ab', b'cde', b''], dtype='S5')\n"
                   "    f.create_dataset('s_var', data=['x', 'y\\u00e9z', ''], dtype=h5py.string_dtype())\n"
                   "    f.create_dataset('s_bytes', data=[b'p', b'qr'], dtype=h5py.string_dtype('ascii'))\n"
                   "    f['scalar'] = np.float64(2.75)\n"
                   "    f.attrs['f64'] = np.float64(0.125)\n"
                   "    f.attrs['i64'] = np.int64(-77)\n"
                   "    f.attrs['arr1_f'] = np.array([1.5])\n"
                   "    f.attrs['arr1_i'] = np.array([9], dtype=np.int64)\n"
                   "    f.attrs['i32'] = np.int32(12)\n"
                   "    f.attrs['flag'] = np.bool_(True)\n"
                   "    f.attrs['f32'] = np.float32(0.5)\n"
                   "    f.attrs['arr3'] = np.array([1, 2, 3])\n"
                   "    f.attrs['str'] = 'hello \\u00e9'\n"
                   "    f.attrs['bytes'] = np.bytes_(b'fixed')\n"
                   "    f['a/x'].attrs['unit'] = 'px'\n"
                   "    f['a'].attrs['n'] = 5\n"),
        0);
    ddad_h5_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, tmp_path("py.h5"), DDAD_H5_READ), DDAD_OK);

    float x[60], xr[60];
    FILE *fp = fopen(tmp_path("x.f32"), "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    CU_ASSERT_EQUAL(fread(xr, sizeof(float), 60, fp), 60);
    fclose(fp);
    const int64_t xs[3] = {3, 4, 5};
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "a/x", DDAD_H5_F32, x, xs, 3), DDAD_OK);
    CU_ASSERT(memcmp(x, xr, sizeof x) == 0);

    double *d = NULL;
    int64_t sh[DDAD_H5_MAX_DIMS];
    int nd;
    CU_ASSERT_EQUAL(ddad_h5_read(f, "a/f64", DDAD_H5_F64, (void **)&d, sh, &nd), DDAD_OK);
    CU_ASSERT(nd == 1 && sh[0] == 7);
    if (d)
        for (int i = 0; i < 7; i++)
            CU_ASSERT_DOUBLE_EQUAL(d[i], -1.0 + i / 3.0, 1e-15);
    free(d);
    int64_t *i64 = NULL;
    CU_ASSERT_EQUAL(ddad_h5_read(f, "a/i64", DDAD_H5_I64, (void **)&i64, sh, &nd), DDAD_OK);
    CU_ASSERT(nd == 2 && sh[0] == 2 && sh[1] == 2);
    CU_ASSERT(i64 && i64[0] == -5 && i64[1] == (1LL << 40) && i64[2] == 3 && i64[3] == 700);
    free(i64);
    int64_t i32w[6];
    const int64_t s6 = 6;
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "a/i32", DDAD_H5_I64, i32w, &s6, 1), DDAD_OK);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(i32w[i], i - 3);
    uint8_t u8[6];
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "a/u8", DDAD_H5_U8, u8, &s6, 1), DDAD_OK);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(u8[i], 250 + i);
    double sc = 0;
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "scalar", DDAD_H5_F64, &sc, NULL, 0), DDAD_OK);
    CU_ASSERT_EQUAL(sc, 2.75);

    /* float16: bits as stored, and HDF5's conversion to f32 against numpy's */
    uint16_t hb[64], hr[64], yb[64], yr[64];
    float hf[64], hfr[64];
    fp = fopen(tmp_path("h.u16"), "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    CU_ASSERT_EQUAL(fread(hr, 2, 64, fp), 64);
    fclose(fp);
    fp = fopen(tmp_path("h.f32"), "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    CU_ASSERT_EQUAL(fread(hfr, 4, 64, fp), 64);
    fclose(fp);
    fp = fopen(tmp_path("y.u16"), "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    CU_ASSERT_EQUAL(fread(yr, 2, 64, fp), 64);
    fclose(fp);
    const int64_t s64 = 64;
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "half", DDAD_H5_F16, hb, &s64, 1), DDAD_OK);
    CU_ASSERT(memcmp(hb, hr, sizeof hb) == 0);
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "half", DDAD_H5_F32, hf, &s64, 1), DDAD_OK);
    CU_ASSERT(memcmp(hf, hfr, sizeof hf) == 0);
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "to_half", DDAD_H5_F16, yb, &s64, 1), DDAD_OK);
    int mismatched = 0;
    for (int i = 0; i < 64; i++)
        mismatched += yb[i] != yr[i];
    CU_ASSERT_EQUAL(mismatched, 0);

    /* strings, fixed and variable */
    char **s = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(ddad_h5_read_strings(f, "s_fixed", &s, &n), DDAD_OK);
    CU_ASSERT(n == 3 && !strcmp(s[0], "ab") && !strcmp(s[1], "cde") && !strcmp(s[2], ""));
    ddad_h5_free_strings(s, n);
    CU_ASSERT_EQUAL(ddad_h5_read_strings(f, "s_var", &s, &n), DDAD_OK);
    CU_ASSERT(n == 3 && !strcmp(s[0], "x") && !strcmp(s[1], "y\xc3\xa9z") && !strcmp(s[2], ""));
    ddad_h5_free_strings(s, n);
    CU_ASSERT_EQUAL(ddad_h5_read_strings(f, "s_bytes", &s, &n), DDAD_OK);
    CU_ASSERT(n == 2 && !strcmp(s[0], "p") && !strcmp(s[1], "qr"));
    ddad_h5_free_strings(s, n);

    /* attributes as numpy scalars, 1-element arrays, str and bytes */
    double av = 0;
    int64_t ai = 0;
    CU_ASSERT_EQUAL(ddad_h5_get_attr_f64(f, "/", "f64", &av), DDAD_OK);
    CU_ASSERT_EQUAL(av, 0.125);
    CU_ASSERT_EQUAL(ddad_h5_get_attr_i64(f, "/", "i64", &ai), DDAD_OK);
    CU_ASSERT_EQUAL(ai, -77);
    CU_ASSERT_EQUAL(ddad_h5_get_attr_f64(f, "/", "arr1_f", &av), DDAD_OK);
    CU_ASSERT_EQUAL(av, 1.5);
    CU_ASSERT_EQUAL(ddad_h5_get_attr_i64(f, "/", "arr1_i", &ai), DDAD_OK);
    CU_ASSERT_EQUAL(ai, 9);
    CU_ASSERT_EQUAL(ddad_h5_get_attr_i64(f, "/", "i32", &ai), DDAD_OK);
    CU_ASSERT_EQUAL(ai, 12);
    CU_ASSERT_EQUAL(ddad_h5_get_attr_i64(f, "/", "flag", &ai), DDAD_OK); /* h5py's bool enum */
    CU_ASSERT_EQUAL(ai, 1);
    CU_ASSERT_EQUAL(ddad_h5_get_attr_f64(f, "/", "f32", &av), DDAD_OK);
    CU_ASSERT_EQUAL(av, 0.5);
    CU_ASSERT_EQUAL(ddad_h5_get_attr_f64(f, "/", "str", &av), DDAD_STATUS_DATA);
    CU_ASSERT(msg_has("holds strings"));
    CU_ASSERT_EQUAL(ddad_h5_get_attr_i64(f, "/", "arr3", &ai), DDAD_STATUS_DATA);
    CU_ASSERT(msg_has("arr3") && msg_has("3 values"));
    CU_ASSERT_EQUAL(ddad_h5_get_attr_i64(f, "a", "n", &ai), DDAD_OK);
    CU_ASSERT_EQUAL(ai, 5);
    char *str = NULL;
    CU_ASSERT_EQUAL(ddad_h5_get_attr_str(f, "/", "str", &str), DDAD_OK);
    CU_ASSERT(str && !strcmp(str, "hello \xc3\xa9"));
    free(str);
    CU_ASSERT_EQUAL(ddad_h5_get_attr_str(f, "/", "bytes", &str), DDAD_OK);
    CU_ASSERT(str && !strcmp(str, "fixed"));
    free(str);
    CU_ASSERT_EQUAL(ddad_h5_get_attr_str(f, "a/x", "unit", &str), DDAD_OK);
    CU_ASSERT(str && !strcmp(str, "px"));
    free(str);
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);
    end();
}

/* ---- the real fixtures ------------------------------------------------- */

static void test_fixture_unet_small(void)
{
    DDAD_TEST_NEED_FIXTURE("unet_small.h5");
    begin("h5fix");
    const char *fx = ddad_test_fixture("unet_small.h5");
    /* h5py dumps the oracle values */
    char src[2048];
    snprintf(src, sizeof src,
             "import h5py, numpy as np\n"
             "f = h5py.File('%s', 'r')\n"
             "f['weights/input_blocks.4.1.qkv.weight'][()].astype(np.float32).tofile('qkv.f32')\n"
             "open('names.txt', 'w').write('\\n'.join(f['weights'].keys()) + '\\n')\n",
             fx);
    CU_ASSERT_EQUAL_FATAL(run_python("dump.py", src), 0);

    ddad_h5_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, fx, DDAD_H5_READ), DDAD_OK);
    int64_t shape[DDAD_H5_MAX_DIMS];
    int nd = 0;
    float *w = NULL;
    CU_ASSERT_EQUAL(ddad_h5_read(f, "weights/input_blocks.4.1.qkv.weight", DDAD_H5_F32, (void **)&w, shape, &nd),
                    DDAD_OK);
    CU_ASSERT(nd == 3 && shape[0] == 96 && shape[1] == 32 && shape[2] == 1);
    float ref[96 * 32];
    FILE *fp = fopen(tmp_path("qkv.f32"), "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    CU_ASSERT_EQUAL(fread(ref, sizeof(float), 96 * 32, fp), 96 * 32);
    fclose(fp);
    CU_ASSERT(w && memcmp(w, ref, sizeof ref) == 0);
    CU_ASSERT(ddad_test_max_abs(ref, 96 * 32) > 0);
    free(w);

    int64_t t[2] = {0, 0};
    const int64_t ts = 2;
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "inputs/t", DDAD_H5_I64, t, &ts, 1), DDAD_OK);
    CU_ASSERT(t[0] == 3 && t[1] == 700);

    char **names = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(ddad_h5_list(f, "weights", &names, &n), DDAD_OK);
    CU_ASSERT_EQUAL(n, 385);
    fp = fopen(tmp_path("names.txt"), "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    char line[512];
    size_t i = 0, same = 0;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = '\0';
        if (i < n && strcmp(line, names[i]) == 0)
            same++;
        i++;
    }
    fclose(fp);
    CU_ASSERT_EQUAL(i, 385);
    CU_ASSERT_EQUAL(same, 385);
    ddad_h5_free_strings(names, n);

    char *js = NULL;
    CU_ASSERT_EQUAL(ddad_h5_get_attr_str(f, "/", "config_json", &js), DDAD_OK);
    CU_ASSERT(js && js[0] == '{');
    free(js);
    int64_t fs = 0;
    CU_ASSERT_EQUAL(ddad_h5_get_attr_i64(f, "/", "feat_shape", &fs), DDAD_OK);
    CU_ASSERT_EQUAL(fs, 12);
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);
    end();
}

/* ---- errors ------------------------------------------------------------ */

static void test_errors(void)
{
    begin("h5err");
    leak_mark_t m0 = leak_mark();
    /* the detector itself sees a leak */
    hid_t leak = H5Screate(H5S_SCALAR);
    CU_ASSERT_EQUAL(leaks_since(&m0), 1);
    H5Sclose(leak);
    CU_ASSERT_EQUAL(leaks_since(&m0), 0);
    CU_ASSERT_EQUAL(open_files(), 0);
    ddad_h5_t *f = (ddad_h5_t *)1;

    const char *missing = tmp_path("no_such.h5");
    CU_ASSERT_EQUAL(ddad_h5_open(&f, missing, DDAD_H5_READ), DDAD_STATUS_IO);
    CU_ASSERT_PTR_NULL(f);
    CU_ASSERT(msg_has(missing) && msg_has("No such file"));

    const char *text = tmp_path("text.h5");
    FILE *fp = fopen(text, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs("this is not an HDF5 file\n", fp);
    fclose(fp);
    CU_ASSERT_EQUAL(ddad_h5_open(&f, text, DDAD_H5_READ), DDAD_STATUS_IO);
    CU_ASSERT(msg_has(text) && msg_has("not an HDF5 file"));
    CU_ASSERT_EQUAL(ddad_h5_open(&f, text, DDAD_H5_RDWR), DDAD_STATUS_IO);

    if (ddad_test_have_fixture("unet_small.h5")) { /* a real file, truncated */
        const char *trunc = tmp_path("truncated.h5");
        CU_ASSERT_EQUAL_FATAL(
            ddad_test_system("head -c 1000000 '%s' > '%s'", ddad_test_fixture("unet_small.h5"), trunc), 0);
        CU_ASSERT_EQUAL(ddad_h5_open(&f, trunc, DDAD_H5_READ), DDAD_STATUS_IO);
        CU_ASSERT(msg_has(trunc) && msg_has("truncated"));
    }

    CU_ASSERT_EQUAL(ddad_h5_open(&f, tmp_path("no/such/dir/x.h5"), DDAD_H5_CREATE), DDAD_STATUS_IO);
    CU_ASSERT(msg_has("no/such/dir/x.h5"));
    CU_ASSERT_EQUAL(ddad_h5_close(NULL), DDAD_OK);

    const char *path = tmp_path("e.h5");
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, path, DDAD_H5_CREATE), DDAD_OK);
    const int64_t shape[2] = {2, 3};
    float v[6] = {0};
    CU_ASSERT_EQUAL(ddad_h5_write(f, "weights/foo.bar", DDAD_H5_F32, v, shape, 2, 0), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, path, DDAD_H5_READ), DDAD_OK);

    void *data = (void *)1;
    int64_t sh[DDAD_H5_MAX_DIMS];
    int nd;
    CU_ASSERT_EQUAL(ddad_h5_read(f, "weights/foo", DDAD_H5_F32, &data, sh, &nd), DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NULL(data);
    CU_ASSERT(msg_has(path) && msg_has("dataset 'weights/foo' not found"));
    CU_ASSERT_EQUAL(ddad_h5_read(f, "nothing/at/all", DDAD_H5_F32, &data, sh, &nd), DDAD_STATUS_DATA);
    CU_ASSERT_EQUAL(ddad_h5_shape(f, "weights", sh, &nd), DDAD_STATUS_DATA); /* a group */
    CU_ASSERT(msg_has("group"));
    const int64_t wrong[2] = {3, 2};
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "weights/foo.bar", DDAD_H5_F32, v, wrong, 2), DDAD_STATUS_DATA);
    CU_ASSERT(msg_has(path) && msg_has("weights/foo.bar") && msg_has("(2, 3)") && msg_has("(3, 2)"));
    CU_ASSERT_EQUAL(ddad_h5_read_into(f, "weights/foo.bar", DDAD_H5_F32, v, shape, 1), DDAD_STATUS_DATA);
    CU_ASSERT_EQUAL(ddad_h5_write(f, "x", DDAD_H5_F32, v, shape, 2, 0), DDAD_STATUS_USAGE); /* read-only */
    CU_ASSERT(msg_has(path));
    CU_ASSERT_EQUAL(ddad_h5_read_rows(f, "weights/foo.bar", DDAD_H5_F32, v, 1, 5), DDAD_STATUS_DATA);
    char *s = NULL;
    CU_ASSERT_EQUAL(ddad_h5_get_attr_str(f, "weights/foo.bar", "none", &s), DDAD_STATUS_DATA);
    char **names = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(ddad_h5_read_strings(f, "weights/foo.bar", &names, &n), DDAD_STATUS_DATA);
    CU_ASSERT_EQUAL(ddad_h5_list(f, "weights/foo.bar", &names, &n), DDAD_STATUS_DATA);
    CU_ASSERT_EQUAL(ddad_h5_read(NULL, "x", DDAD_H5_F32, &data, sh, &nd), DDAD_STATUS_USAGE);
    /* no HDF5 id is left behind by any of those failures */
    CU_ASSERT_EQUAL(leaks_since(&m0), 0);
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);
    CU_ASSERT_EQUAL(open_files(), 0);
    end();
}

/* Successful calls leave no id behind either. */
static void test_no_leaks(void)
{
    begin("h5leak");
    leak_mark_t m0 = leak_mark();
    ddad_h5_t *f = NULL;
    const char *path = tmp_path("l.h5");
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, path, DDAD_H5_CREATE), DDAD_OK);
    const int64_t shape[2] = {4, 2};
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const char *s[] = {"a", "b"};
    CU_ASSERT_EQUAL(ddad_h5_write(f, "g/x", DDAD_H5_F32, v, shape, 2, 3), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_write(f, "g/x", DDAD_H5_F32, v, shape, 2, 0), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_create_dataset(f, "g/y", DDAD_H5_F16, shape, 2, 1), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_write_strings(f, "g/s", s, 2), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_set_attr_str(f, "g", "a", "b"), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_h5_set_attr_f64(f, "g/x", "f", 1.5), DDAD_OK);
    CU_ASSERT_EQUAL(leaks_since(&m0), 0);
    for (int rep = 0; rep < 3; rep++) {
        float w[8];
        char **names = NULL, *str = NULL;
        size_t n = 0;
        double d;
        CU_ASSERT_EQUAL(ddad_h5_read_into(f, "g/x", DDAD_H5_F32, w, shape, 2), DDAD_OK);
        CU_ASSERT_EQUAL(ddad_h5_write_rows(f, "g/x", DDAD_H5_F32, v, 1, 2), DDAD_OK);
        CU_ASSERT_EQUAL(ddad_h5_read_rows(f, "g/x", DDAD_H5_F32, w, 1, 2), DDAD_OK);
        CU_ASSERT_EQUAL(ddad_h5_read_strings(f, "g/s", &names, &n), DDAD_OK);
        ddad_h5_free_strings(names, n);
        CU_ASSERT_EQUAL(ddad_h5_list(f, "g", &names, &n), DDAD_OK);
        ddad_h5_free_strings(names, n);
        CU_ASSERT_EQUAL(ddad_h5_get_attr_str(f, "g", "a", &str), DDAD_OK);
        free(str);
        CU_ASSERT_EQUAL(ddad_h5_get_attr_f64(f, "g/x", "f", &d), DDAD_OK);
        CU_ASSERT(ddad_h5_has_attr(f, "g/x", "f"));
        CU_ASSERT(ddad_h5_exists(f, "g/x"));
        CU_ASSERT_EQUAL(leaks_since(&m0), 0);
    }
    CU_ASSERT_EQUAL(ddad_h5_close(f), DDAD_OK);
    CU_ASSERT_EQUAL(open_files(), 0);
    end();
}

int main(void)
{
    static const ddad_test_t tests[] = {
        {"round trip of every type and rank 0..4", test_roundtrip_types_ranks},
        {"type conversion on read", test_conversions},
        {"variable-length UTF-8 strings", test_strings},
        {"attributes on root, groups, datasets", test_attributes},
        {"group listing and existence", test_list},
        {"row slabs and replacement", test_rows_and_replace},
        {"deflate compression", test_compression},
        {"reading a file written by h5py", test_read_h5py_file},
        {"reading the unet_small fixture", test_fixture_unet_small},
        {"error paths name the file", test_errors},
        {"no HDF5 ids leak", test_no_leaks},
        {0},
    };
    return ddad_test_main("h5io", tests);
}
