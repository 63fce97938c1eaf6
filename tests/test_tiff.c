/* tests/test_tiff.c - the float32 TIFF writer and reader (core/io/tiff.c)
 * against tifffile, the library MVTec AD's evaluation script reads anomaly
 * maps with, and Pillow: they read ddad's files, and write the files ddad
 * reads, with numpy's values dumped as raw little-endian float32 beside
 * them. Broken and mutated files must be refused with a message, never
 * crash (run under -DDDAD_SANITIZE=ON or valgrind to check the bounds). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "tiff.h"

static char *g_dir;

/* Writes the oracle's files into argv[1]: NAME.tif with NAME.raw (numpy's
 * values as '<f4') and NAME.shape ("H W") for the files ddad must read, and
 * the files it must refuse. Sizes are not multiples of strips or tiles. */
static const char *gen_py =
    "import sys, struct, numpy as np, tifffile\n"
    "from PIL import Image\n"
    "d = sys.argv[1]\n"
    "rng = np.random.default_rng(11)\n"
    "H, W = 23, 37\n"
    "def p(name): return d + '/' + name + '.tif'\n"
    "def le_bytes(a): return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder('<')).tobytes()\n"
    "def ref(name, a):\n"
    "    with np.errstate(over='ignore'):\n"
    "        f = np.asarray(a).astype('<f4')\n"
    "    f.tofile(d + '/' + name + '.raw')\n"
    "    open(d + '/' + name + '.shape', 'w').write('%d %d' % a.shape)\n"
    "def check(name, a, compression=None):\n"
    "    # tifffile must read the file back as written, or the oracle is wrong\n"
    "    with tifffile.TiffFile(p(name)) as t:\n"
    "        b = t.pages[0].asarray()\n"
    "        if compression is not None: assert t.pages[0].compression == compression, name\n"
    "    assert b.shape == a.shape and le_bytes(b.astype(a.dtype)) == le_bytes(a), name\n"
    "    ref(name, a)\n"
    "def tf(name, a, **kw):\n"
    "    tifffile.imwrite(p(name), a, **kw)\n"
    "    check(name, a)\n"
    "f32 = (rng.standard_normal((H, W)) * 100).astype(np.float32)\n"
    "f32.flat[:8] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, 3.4028235e38, -1.5]\n"
    "tf('f32_le', f32)\n"
    "tf('f32_be', f32, byteorder='>')\n"
    "tf('f32_strips5', f32, rowsperstrip=5)\n"
    "tf('f32_be_strips1', f32, byteorder='>', rowsperstrip=1)\n"
    "tf('f32_tiled', f32, tile=(16, 16))\n"
    "tf('f32_be_tiled', f32, tile=(16, 32), byteorder='>')\n"
    "f64 = rng.standard_normal((H, W)) / 3\n"
    "f64.flat[:6] = [1e39, -1e39, 1e-50, 0.1, 2.0**-149, 3.4028235677973366e38]\n"
    "tf('f64', f64)\n"
    "tf('f64_be_tiled', f64, tile=(16, 16), byteorder='>')\n"
    "tf('u8', rng.integers(0, 256, (H, W), dtype=np.uint8))\n"
    "tf('i8', rng.integers(-128, 128, (H, W), dtype=np.int8))\n"
    "tf('u16_be_tiled', rng.integers(0, 65536, (H, W), dtype=np.uint16), tile=(16, 32), byteorder='>')\n"
    "tf('i16', rng.integers(-32768, 32768, (H, W), dtype=np.int16))\n"
    "tf('i16_be', rng.integers(-32768, 32768, (H, W), dtype=np.int16), byteorder='>', rowsperstrip=4)\n"
    "u32 = rng.integers(0, 2**32, (H, W), dtype=np.uint32); u32.flat[:3] = [0, 2**32 - 1, 16777217]\n"
    "tf('u32', u32)\n"
    "i32 = rng.integers(-2**31, 2**31, (H, W), dtype=np.int32); i32.flat[:3] = [-2**31, 2**31 - 1, -16777217]\n"
    "tf('i32_be', i32, byteorder='>')\n"
    "# PackBits: tifffile needs imagecodecs to compress, Pillow (libtiff) does not\n"
    "yy, xx = np.mgrid[0:H, 0:W]\n"
    "u8 = np.where((xx // 5 + yy // 3) % 2 == 0, 200, rng.integers(0, 256, (H, W))).astype(np.uint8)\n"
    "Image.fromarray(u8).save(p('u8_packbits'), compression='packbits')\n"
    "check('u8_packbits', u8, 32773)\n"
    "u16 = ((xx // 4) * 1000 + (yy // 6) * 7 + (rng.integers(0, 3, (H, W)) * (xx > 30))).astype(np.uint16)\n"
    "Image.fromarray(u16).save(p('u16_packbits'), compression='packbits')\n"
    "check('u16_packbits', u16, 32773)\n"
    "Image.fromarray(f32, 'F').save(p('pil_f32'))\n"
    "check('pil_f32', f32)\n"
    "# by hand: big-endian uint16 PackBits in strips of 7 rows, SHORT offsets\n"
    "# and byte counts, a no-op header (-128) and runs across rows\n"
    "def packbits(b):\n"
    "    out, i, n = bytearray(b'\\x80'), 0, len(b)\n"
    "    while i < n:\n"
    "        r = 1\n"
    "        while i + r < n and r < 128 and b[i + r] == b[i]: r += 1\n"
    "        if r >= 2:\n"
    "            out += bytes([257 - r, b[i]]); i += r; continue\n"
    "        j = i + 1\n"
    "        while j < n and j - i < 128 and not (j + 1 < n and b[j + 1] == b[j]): j += 1\n"
    "        out += bytes([j - i - 1]) + b[i:j]; i = j\n"
    "    return bytes(out)\n"
    "hb = np.where((xx < 20) | (xx > 33), 514, (xx * 37 + yy * 101) % 65536).astype('>u2')\n"
    "strips = [packbits(hb[y:y + 7].tobytes()) for y in range(0, H, 7)]\n"
    "tags = [(256, W), (257, H), (258, 16), (259, 32773), (262, 1), (273, None), (277, 1), (278, 7),\n"
    "        (279, None), (339, 1)]\n"
    "ns = len(strips); ifd_end = 8 + 2 + 12 * len(tags) + 4\n"
    "offs_at, cnts_at = ifd_end, ifd_end + 2 * ns; data_at = cnts_at + 2 * ns\n"
    "offs, o = [], data_at\n"
    "for s in strips: offs.append(o); o += len(s)\n"
    "b = bytearray(b'MM\\x00\\x2a' + struct.pack('>I', 8) + struct.pack('>H', len(tags)))\n"
    "for code, v in tags:\n"
    "    if v is None: b += struct.pack('>HHII', code, 3, ns, offs_at if code == 273 else cnts_at)\n"
    "    else: b += struct.pack('>HHIHH', code, 3, 1, v, 0)\n"
    "b += struct.pack('>I', 0) + struct.pack('>%dH' % ns, *offs) + struct.pack('>%dH' % ns, *map(len, strips))\n"
    "b += b''.join(strips)\n"
    "open(p('u16_be_packbits_short'), 'wb').write(bytes(b))\n"
    "check('u16_be_packbits_short', hb.astype(np.uint16), 32773)\n"
    "# ---- files to refuse\n"
    "tifffile.imwrite(p('bad_rgb'), rng.integers(0, 256, (H, W, 3), dtype=np.uint8))\n"
    "tifffile.imwrite(p('bad_bigtiff'), f32, bigtiff=True)\n"
    "tifffile.imwrite(p('bad_f16'), rng.standard_normal((H, W)).astype(np.float16))\n"
    "Image.fromarray(u8).save(p('bad_lzw'), compression='tiff_lzw')\n"
    "Image.fromarray(u8).convert('P').save(p('bad_palette'))\n"
    "Image.fromarray(u8).convert('1').save(p('bad_1bit'))\n"
    "open(p('bad_empty'), 'wb').close()\n"
    "open(p('bad_ifd_offset'), 'wb').write(b'II*\\x00' + struct.pack('<I', 100000) + bytes(16))\n"
    "open(p('bad_header_only'), 'wb').write(b'MM\\x00*')\n"
    "open(p('bad_text'), 'wb').write(b'this is not an image\\n')\n"
    "open(p('bad_random'), 'wb').write(b'Q' + rng.integers(0, 256, 999, dtype=np.uint8).tobytes())\n"
    "open(p('bad_random_after_header'), 'wb').write(b'II*\\x00\\x08\\x00\\x00\\x00' +\n"
    "                                          rng.integers(0, 256, 1000, dtype=np.uint8).tobytes())\n"
    "good = open(p('f32_le'), 'rb').read()\n"
    "open(p('bad_truncated'), 'wb').write(good[:-100])\n"
    "open(p('bad_truncated_ifd'), 'wb').write(good[:60])\n"
    "def patched(src, dst, edits):\n"
    "    with tifffile.TiffFile(p(src)) as t:\n"
    "        tg = t.pages[0].tags; byte_order = t.byteorder\n"
    "        b = bytearray(open(p(src), 'rb').read())\n"
    "        for name, v, at in edits:  # at None: the (first) value, else a byte of the entry\n"
    "            fmt = 'I' if at is not None else {3: 'H', 4: 'I'}[int(tg[name].dtype)]\n"
    "            struct.pack_into(byte_order + fmt, b, tg[name].valueoffset if at is None else tg[name].offset + at, v)\n"
    "    open(p(dst), 'wb').write(bytes(b))\n"
    "patched('f32_le', 'bad_compression', [('Compression', 5, None)])\n"
    "with tifffile.TiffFile(p('f32_le')) as t:\n"
    "    sw = t.pages[0].tags['Software'].offset\n"
    "b = bytearray(good); struct.pack_into('<HHIHH', b, sw, 317, 3, 1, 2, 0)\n"
    "open(p('bad_predictor'), 'wb').write(bytes(b))\n"
    "patched('f32_le', 'bad_huge', [('ImageWidth', 100000, None), ('ImageLength', 100000, None)])\n"
    "patched('f32_le', 'bad_zero_width', [('ImageWidth', 0, None)])\n"
    "patched('f32_le', 'bad_strip_offset', [('StripOffsets', 0xfffffff0, None)])\n"
    "patched('f32_le', 'bad_strip_count', [('StripByteCounts', 100, None)])\n"
    "patched('f32_le', 'bad_spp_2', [('SamplesPerPixel', 2, None)])\n"
    "patched('u8_packbits', 'bad_packbits_short', [('StripByteCounts', 40, None)])\n"
    "patched('f32_strips5', 'bad_few_strips', [('StripOffsets', 2, 4)])\n";

static const char *path_of(const char *name, const char *ext)
{
    static char p[4096];
    snprintf(p, sizeof p, "%s/%s%s", g_dir, name, ext);
    return p;
}

static void setup(void)
{
    if (g_dir)
        return;
    g_dir = ddad_test_mkdtemp("tiff");
    CU_ASSERT_FATAL(g_dir != NULL);
    FILE *f = fopen(path_of("gen", ".py"), "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(gen_py, f);
    fclose(f);
    CU_ASSERT_FATAL(ddad_test_system("'%s' '%s' '%s'", ddad_test_python(), path_of("gen", ".py"), g_dir) == 0);
}

static void *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    *n = len > 0 ? (size_t)len : 0;
    void *b = malloc(*n ? *n : 1);
    if (b && fread(b, 1, *n, f) != *n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

/* The raw little-endian floats ddad wrote or numpy dumped (this test runs
 * on little-endian hosts, as the project does). */
static int write_raw(const char *path, const float *x, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(x, sizeof *x, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Map values with the special cases a map writer must keep bit-exactly. */
static void fill_map(float *x, int w, int h, unsigned seed)
{
    for (size_t i = 0; i < (size_t)w * h; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = ((float)(seed >> 8) / 16777216.0f - 0.3f) * 17.0f;
    }
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f, 3.4028235e38f, -1e-45f};
    for (size_t i = 0; i < sizeof special / sizeof special[0] && i < (size_t)w * h; i++)
        x[i] = special[i];
}

static void check_round_trip(int w, int h)
{
    size_t n = (size_t)w * h;
    float *x = malloc(n * sizeof *x);
    CU_ASSERT_FATAL(x != NULL);
    fill_map(x, w, h, (unsigned)(w * 31 + h));
    char p[4096];
    snprintf(p, sizeof p, "%s/rt_%dx%d.tiff", g_dir, w, h);
    ddad_status_t st = ddad_tiff_write_float(p, x, w, h);
    if (st)
        fprintf(stderr, "\n  write %s: %s\n", p, ddad_last_error());
    CU_ASSERT_EQUAL_FATAL(st, DDAD_OK);
    float *y = NULL;
    int rw = -1, rh = -1;
    st = ddad_tiff_read_float(p, &y, &rw, &rh);
    if (st)
        fprintf(stderr, "\n  read %s: %s\n", p, ddad_last_error());
    CU_ASSERT_EQUAL_FATAL(st, DDAD_OK);
    CU_ASSERT_EQUAL(rw, w);
    CU_ASSERT_EQUAL(rh, h);
    CU_ASSERT(y != NULL && memcmp(x, y, n * sizeof *x) == 0); /* bit-exact, NaN and -0 included */
    /* header + IFD + resolutions (+ strip tables) <= 64 KiB, then the pixels */
    struct stat sb;
    CU_ASSERT(stat(p, &sb) == 0 && (size_t)sb.st_size >= n * 4 && (size_t)sb.st_size < n * 4 + 65536);
    strncat(p, ".tmp", sizeof p - strlen(p) - 1);
    CU_ASSERT(stat(p, &sb) != 0); /* no temporary file left */
    free(x);
    free(y);
}

static void test_round_trip(void)
{
    setup();
    check_round_trip(37, 23);
    check_round_trip(1, 1);
    check_round_trip(256, 256); /* exactly one strip of DDAD_TIFF_STRIP_BYTES */
    check_round_trip(300, 500); /* 3 strips, the last one short */
    check_round_trip(70000, 2); /* rows longer than a strip: one row per strip */

    /* overwriting an existing file replaces it */
    float a[6] = {1, 2, 3, 4, 5, 6}, b[2] = {-7, 8}, *y = NULL;
    int w, h;
    const char *p = path_of("overwrite", ".tiff");
    CU_ASSERT_EQUAL(ddad_tiff_write_float(p, a, 3, 2), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_tiff_write_float(p, b, 1, 2), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_tiff_read_float(p, &y, &w, &h), DDAD_OK);
    CU_ASSERT(w == 1 && h == 2 && y[0] == -7.0f && y[1] == 8.0f);
    free(y);
}

/* tifffile (as MVTec AD's evaluate_experiment.py calls it) and Pillow read
 * ddad's files, with every tag the layout promises. */
static const char *read_py =
    "import sys, numpy as np, tifffile\n"
    "from PIL import Image\n"
    "d = sys.argv[1]\n"
    "for name in sys.argv[2:]:\n"
    "    h, w = map(int, open(d + '/' + name + '.shape').read().split())\n"
    "    ref = np.fromfile(d + '/' + name + '.raw', dtype='<f4').reshape(h, w)\n"
    "    f = d + '/' + name + '.tiff'\n"
    "    a = tifffile.imread(f)\n"
    "    assert a.shape == (h, w) and a.dtype == np.float32, (name, a.shape, a.dtype)\n"
    "    assert a.astype('<f4').tobytes() == ref.tobytes(), name + ': tifffile values differ'\n"
    "    with tifffile.TiffFile(f) as t:\n"
    "        assert len(t.pages) == 1 and t.byteorder == '<' and not t.is_bigtiff, name\n"
    "        pg = t.pages[0]\n"
    "        got = (pg.compression, pg.photometric, pg.planarconfig, pg.samplesperpixel, pg.bitspersample,\n"
    "               pg.sampleformat, pg.is_tiled)\n"
    "        assert got == (1, 1, 1, 1, 32, 3, False), (name, got)\n"
    "        assert pg.tags['ImageWidth'].value == w and pg.tags['ImageLength'].value == h, name\n"
    "        for tag in ('StripOffsets', 'RowsPerStrip', 'StripByteCounts', 'XResolution', 'YResolution',\n"
    "                    'ResolutionUnit'):\n"
    "            assert tag in pg.tags, (name, tag)\n"
    "        assert pg.tags['ResolutionUnit'].value == 1 and pg.tags['XResolution'].value == (1, 1), name\n"
    "    im = Image.open(f)\n"
    "    assert im.mode == 'F' and im.size == (w, h), (name, im.mode, im.size)\n"
    "    b = np.asarray(im)\n"
    "    assert b.astype('<f4').tobytes() == ref.tobytes(), name + ': Pillow values differ'\n"
    "    print(name, 'ok')\n";

static void test_read_by_python(void)
{
    setup();
    static const int sizes[][2] = {{37, 23}, {1, 1}, {300, 500}, {256, 256}, {5, 2000}, {2000, 40}};
    char names[1024] = "";
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int w = sizes[k][0], h = sizes[k][1];
        char name[64], p[4096];
        snprintf(name, sizeof name, "ddad_%dx%d", w, h);
        float *x = malloc((size_t)w * h * sizeof *x);
        CU_ASSERT_FATAL(x != NULL);
        fill_map(x, w, h, (unsigned)k + 1);
        CU_ASSERT_EQUAL(ddad_tiff_write_float(path_of(name, ".tiff"), x, w, h), DDAD_OK);
        CU_ASSERT_EQUAL(write_raw(path_of(name, ".raw"), x, (size_t)w * h), 0);
        snprintf(p, sizeof p, "%d %d", h, w);
        FILE *f = fopen(path_of(name, ".shape"), "w");
        CU_ASSERT_FATAL(f != NULL);
        fputs(p, f);
        fclose(f);
        strcat(names, " ");
        strcat(names, name);
        free(x);
    }
    FILE *f = fopen(path_of("read", ".py"), "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(read_py, f);
    fclose(f);
    CU_ASSERT_EQUAL(ddad_test_system("'%s' '%s' '%s' %s", ddad_test_python(), path_of("read", ".py"), g_dir, names),
                    0);
}

static void check_read(const char *name)
{
    size_t n = 0;
    float *ref = read_file(path_of(name, ".raw"), &n);
    int rh = 0, rw = 0;
    FILE *f = fopen(path_of(name, ".shape"), "r");
    int ok_shape = f && fscanf(f, "%d %d", &rh, &rw) == 2;
    if (f)
        fclose(f);
    CU_ASSERT_FATAL(ref != NULL && ok_shape);
    float *x = NULL;
    int w = -1, h = -1;
    ddad_status_t st = ddad_tiff_read_float(path_of(name, ".tif"), &x, &w, &h);
    if (st)
        fprintf(stderr, "\n  %s: %s\n", name, ddad_last_error());
    CU_ASSERT_EQUAL(st, DDAD_OK);
    int same = st == DDAD_OK && w == rw && h == rh && n == (size_t)w * h * sizeof *x && memcmp(x, ref, n) == 0;
    if (!same && st == DDAD_OK) {
        size_t bad = 0;
        for (size_t i = 0; i < n / 4 && i < (size_t)w * h; i++)
            if (memcmp(&x[i], &ref[i], 4) != 0) {
                bad = i;
                break;
            }
        fprintf(stderr, "\n  %s: %dx%d (numpy %dx%d), first difference at %zu: %g vs %g\n", name, w, h, rw, rh,
                bad, bad < (size_t)w * h ? x[bad] : 0.0, bad < n / 4 ? ref[bad] : 0.0);
    }
    CU_ASSERT(same);
    free(x);
    free(ref);
}

static void test_read_python_files(void)
{
    setup();
    static const char *names[] = {
        "f32_le", "f32_be", "f32_strips5", "f32_be_strips1", "f32_tiled", "f32_be_tiled", "f64", "f64_be_tiled",
        "u8",     "i8",     "u16_be_tiled", "i16",           "i16_be",    "u32",          "i32_be",
        "u8_packbits", "u16_packbits", "pil_f32", "u16_be_packbits_short",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        check_read(names[i]);
}

static void check_refused(const char *name, const char *phrase)
{
    float *x = (float *)&x; /* must be reset to NULL */
    int w = -1, h = -1;
    const char *p = path_of(name, ".tif");
    ddad_status_t st = ddad_tiff_read_float(p, &x, &w, &h);
    const char *msg = ddad_last_error();
    int ok = st == DDAD_STATUS_DATA && x == NULL && w == 0 && h == 0 && strstr(msg, p) && strstr(msg, phrase);
    if (!ok)
        fprintf(stderr, "\n  %s: status %s, message \"%s\" (expected data, \"%s\")\n", name, ddad_status_str(st), msg,
                phrase);
    CU_ASSERT(ok);
    if (st == DDAD_OK)
        free(x);
}

static void test_refused(void)
{
    setup();
    check_refused("bad_rgb", "a single-channel map is needed, this file has 3 samples per pixel");
    check_refused("bad_spp_2", "this file has 2 samples per pixel");
    check_refused("bad_bigtiff", "BigTIFF is not supported");
    check_refused("bad_f16", "16-bit samples of SampleFormat 3");
    check_refused("bad_lzw", "compression 5 (LZW) is not supported");
    check_refused("bad_compression", "save the map without compression");
    check_refused("bad_predictor", "Predictor 2");
    check_refused("bad_palette", "palette");
    check_refused("bad_1bit", "1-bit samples");
    check_refused("bad_empty", "empty file");
    check_refused("bad_ifd_offset", "offset 100000 lies outside the file");
    check_refused("bad_header_only", "truncated TIFF");
    check_refused("bad_text", "not a TIFF file");
    check_refused("bad_random", "not a TIFF file");
    check_refused("bad_random_after_header", "TIFF");
    check_refused("bad_truncated", "strip 0");
    check_refused("bad_truncated_ifd", "truncated");
    check_refused("bad_huge", "100000 x 100000 pixels");
    check_refused("bad_zero_width", "0 x 23");
    check_refused("bad_strip_offset", "lies outside the file");
    check_refused("bad_strip_count", "holds 100 bytes, its pixels need 3404");
    check_refused("bad_packbits_short", "PackBits");
    check_refused("bad_few_strips", "one per strip");
    check_refused("no_such_file", "cannot open");
}

static void test_usage(void)
{
    setup();
    float x[4] = {0};
    float *y = NULL;
    int w, h;
    CU_ASSERT_EQUAL(ddad_tiff_write_float(path_of("u", ".tiff"), x, 0, 4), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_tiff_write_float(path_of("u", ".tiff"), x, 4, -1), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_tiff_write_float(path_of("u", ".tiff"), x, 65536, 65536), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_tiff_write_float(path_of("u", ".tiff"), NULL, 2, 2), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_tiff_write_float(NULL, x, 2, 2), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_tiff_read_float(path_of("u", ".tiff"), NULL, &w, &h), DDAD_STATUS_USAGE);
    /* a folder that does not exist: I/O error naming the file, nothing left */
    CU_ASSERT_EQUAL(ddad_tiff_write_float(path_of("no/such/dir", ".tiff"), x, 2, 2), DDAD_STATUS_IO);
    CU_ASSERT(strstr(ddad_last_error(), "no/such/dir.tiff") != NULL);
    /* a failure after the temporary file was written (the target is a
     * folder, so rename fails): I/O error, the temporary file is removed */
    char dir[4096], tmp[4200];
    snprintf(dir, sizeof dir, "%s", path_of("a_folder", ".tiff"));
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
    CU_ASSERT_EQUAL(ddad_tiff_write_float(dir, x, 2, 2), DDAD_STATUS_IO);
    CU_ASSERT(strstr(ddad_last_error(), "cannot move") != NULL);
    struct stat sb;
    CU_ASSERT(stat(tmp, &sb) != 0);
    CU_ASSERT(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode));
    /* a folder: refused as data, not read */
    CU_ASSERT_EQUAL(ddad_tiff_read_float(g_dir, &y, &w, &h), DDAD_STATUS_DATA);
    CU_ASSERT(y == NULL);
    CU_ASSERT_EQUAL(ddad_tiff_decode_float(NULL, 0, NULL, &y, &w, &h), DDAD_STATUS_DATA);
    CU_ASSERT(strstr(ddad_last_error(), "TIFF data: empty file") != NULL);
}

/* Every prefix of a valid file, and thousands of random byte edits of the
 * oracle's files, are accepted or refused with a message: never a crash or
 * an out-of-bounds access (the sanitizer build and valgrind see those). */
static void test_mutations(void)
{
    setup();
    static const char *seeds[] = {"f32_le", "f32_strips5", "f32_be_tiled", "u8_packbits", "u16_be_packbits_short",
                                  "i16_be", "f64_be_tiled"};
    unsigned rng = 12345u, accepted = 0, refused = 0;
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        size_t n = 0;
        uint8_t *orig = read_file(path_of(seeds[s], ".tif"), &n);
        CU_ASSERT_FATAL(orig != NULL && n > 16);
        uint8_t *b = malloc(n);
        CU_ASSERT_FATAL(b != NULL);
        for (int it = 0; it < 1500 + (int)n; it++) {
            size_t len = n;
            memcpy(b, orig, n);
            if (it < (int)n) {
                len = (size_t)it; /* every prefix */
            } else {
                int edits = 1 + (int)((rng >> 16) % 4);
                for (int e = 0; e < edits; e++) {
                    rng = rng * 1103515245u + 12345u;
                    /* mostly the header and IFD, where the offsets are */
                    size_t at = (rng >> 16) % ((rng & 1) ? n : (n < 300 ? n : 300));
                    rng = rng * 1103515245u + 12345u;
                    b[at] = (rng & 3) == 0 ? 0xff : (rng & 3) == 1 ? 0 : (uint8_t)(rng >> 16);
                }
            }
            /* a copy of exactly len bytes, so that reads past it are caught */
            uint8_t *c = malloc(len ? len : 1);
            CU_ASSERT_FATAL(c != NULL);
            memcpy(c, b, len);
            float *x = NULL;
            int w = 0, h = 0;
            ddad_status_t st = ddad_tiff_decode_float(c, len, seeds[s], &x, &w, &h);
            if (st == DDAD_OK) {
                accepted++;
                CU_ASSERT(x != NULL && w > 0 && h > 0 && (int64_t)w * h <= DDAD_TIFF_MAX_PIXELS);
                volatile float sum = 0;
                for (size_t i = 0; x && i < (size_t)w * h; i++)
                    sum += x[i];
                (void)sum;
            } else {
                refused++;
                CU_ASSERT(st == DDAD_STATUS_DATA && x == NULL && ddad_last_error()[0]);
            }
            free(x);
            free(c);
        }
        free(b);
        free(orig);
    }
    /* both outcomes must occur, or the mutations prove nothing */
    CU_ASSERT(accepted > 100);
    CU_ASSERT(refused > 1000);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"round trip", test_round_trip},
                                        {"ddad's files read by tifffile and Pillow", test_read_by_python},
                                        {"tifffile's and Pillow's files read by ddad", test_read_python_files},
                                        {"bad files refused with a message", test_refused},
                                        {"API misuse", test_usage},
                                        {"prefixes and mutations", test_mutations},
                                        {0}};
    if (!ddad_test_python_has("numpy,tifffile,PIL")) {
        fprintf(stderr, "test_tiff: %s cannot import numpy, tifffile and PIL (scripts/install-deps.sh installs "
                        "python3-numpy, python3-tifffile, python3-pil)\n",
                ddad_test_python());
        return 1;
    }
    int rc = ddad_test_main("tiff", tests);
    ddad_test_rmtree(g_dir);
    free(g_dir);
    return rc;
}
