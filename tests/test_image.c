/* tests/test_image.c - image readers, writer and resizing against Pillow
 * (the python oracle decodes/resizes the same files and dumps raw bytes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "testutil.h"

static char *g_dir;

static const char *gen_py =
    "import sys, numpy as np\n"
    "from PIL import Image\n"
    "d = sys.argv[1]\n"
    "rng = np.random.default_rng(7)\n"
    "def dump(name, im):\n"
    "    a = np.asarray(im, dtype=np.uint8)\n"
    "    open(d + '/' + name + '.raw', 'wb').write(a.tobytes())\n"
    "    open(d + '/' + name + '.shape', 'w').write(' '.join(map(str, a.shape)))\n"
    "rgb = Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8))\n"
    "yy, xx = np.mgrid[0:83, 0:97]\n"
    "smooth = np.stack([128 + 100*np.sin(xx/7.0), 128 + 100*np.cos(yy/5.0), (xx*yy) % 256], -1)\n"
    "smooth = Image.fromarray(smooth.astype(np.uint8))\n"
    "rgb.save(d + '/rgb.png'); dump('rgb', rgb)\n"
    "smooth.save(d + '/smooth.png'); dump('smooth', smooth)\n"
    "g = Image.fromarray(rng.integers(0, 256, (20, 31), dtype=np.uint8))\n"
    "g.save(d + '/gray.png'); dump('gray_rgb', g.convert('RGB')); dump('gray_l', g)\n"
    "a16 = rng.integers(0, 65536, (19, 23)).astype(np.uint16)\n"
    "Image.fromarray(a16).save(d + '/gray16.png')\n"
    "dump('gray16_hi', Image.fromarray((a16 >> 8).astype(np.uint8)))\n"
    "rgba = Image.fromarray(rng.integers(0, 256, (21, 17, 4), dtype=np.uint8), 'RGBA')\n"
    "rgba.save(d + '/rgba.png'); dump('rgba_rgb', rgba.convert('RGB'))\n"
    "pal = smooth.convert('P', palette=Image.ADAPTIVE, colors=50)\n"
    "pal.save(d + '/pal.png'); dump('pal_rgb', pal.convert('RGB'))\n"
    "smooth.save(d + '/smooth.jpg', quality=90)\n"
    "dump('smooth_jpg', Image.open(d + '/smooth.jpg').convert('RGB'))\n"
    "g.save(d + '/gray.jpg', quality=90)\n"
    "dump('gray_jpg', Image.open(d + '/gray.jpg').convert('RGB'))\n"
    "rgb.save(d + '/rgb24.bmp')\n"
    "rgba.save(d + '/rgba32.bmp'); dump('rgba32_rgb', Image.open(d + '/rgba32.bmp').convert('RGB'))\n"
    "pal.save(d + '/pal8.bmp'); dump('pal8_rgb', Image.open(d + '/pal8.bmp').convert('RGB'))\n"
    "g.save(d + '/gray8.bmp')\n"
    "col = Image.fromarray(rng.integers(0, 256, (9, 11, 3), dtype=np.uint8))\n"
    "col.save(d + '/col.png'); dump('col_l', col.convert('L'))\n"
    "for src in ['rgb', 'smooth', 'gray']:\n"
    "    im = Image.open(d + '/' + src + '.png')\n"
    "    for (w, h) in [(64, 64), (16, 12), (100, 90), (53, 20), (7, 129), (256, 256)]:\n"
    "        dump('%s_bic_%dx%d' % (src, w, h), im.resize((w, h), Image.BICUBIC))\n"
    "        dump('%s_nn_%dx%d' % (src, w, h), im.resize((w, h), Image.NEAREST))\n"
    "blob = open(d + '/smooth.png', 'rb').read(); open(d + '/trunc.png', 'wb').write(blob[:len(blob)//2])\n"
    "blob = open(d + '/smooth.jpg', 'rb').read(); open(d + '/trunc.jpg', 'wb').write(blob[:len(blob)//2])\n"
    "blob = open(d + '/rgb24.bmp', 'rb').read(); open(d + '/trunc.bmp', 'wb').write(blob[:len(blob)-100])\n"
    "bad = bytearray(open(d + '/smooth.png', 'rb').read()); bad[60:90] = b'\\x00' * 30\n"
    "open(d + '/corrupt.png', 'wb').write(bytes(bad))\n"
    "open(d + '/text.png', 'w').write('not an image at all')\n"
    "import io, struct, zlib\n"
    "def declare(src, dst, w, h):\n"
    "    b = bytearray(open(d + '/' + src, 'rb').read())\n"
    "    if b[:4] == b'\\x89PNG':\n"
    "        struct.pack_into('>II', b, 16, w, h)\n"
    "        struct.pack_into('>I', b, 29, zlib.crc32(bytes(b[12:29])))\n"
    "    elif b[:2] == b'BM':\n"
    "        struct.pack_into('<ii', b, 18, w, h)\n"
    "    else:\n"
    "        i = max(b.find(b'\\xff\\xc0'), b.find(b'\\xff\\xc2'))\n"
    "        struct.pack_into('>HH', b, i + 5, h, w)\n"
    "    open(d + '/' + dst, 'wb').write(bytes(b))\n"
    "smooth.save(d + '/prog.jpg', quality=90, progressive=True)\n"
    "declare('prog.jpg', 'huge_prog.jpg', 30000, 30000)\n"
    "declare('smooth.jpg', 'huge.jpg', 30000, 30000)\n"
    "declare('smooth.png', 'huge.png', 8192, 8193)\n"
    "declare('smooth.png', 'limit.png', 8192, 8192)\n"
    "declare('rgb24.bmp', 'huge.bmp', 65535, 65535)\n";

static void setup(void)
{
    if (g_dir)
        return;
    g_dir = ddad_test_mkdtemp("image");
    CU_ASSERT_FATAL(g_dir != NULL);
    char py[4096];
    snprintf(py, sizeof py, "%s/gen.py", g_dir);
    FILE *f = fopen(py, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(gen_py, f);
    fclose(f);
    CU_ASSERT_FATAL(ddad_test_system("'%s' '%s' '%s'", ddad_test_python(), py, g_dir) == 0);
}

static uint8_t *read_raw(const char *name, size_t *n)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s.raw", g_dir, name);
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    uint8_t *b = malloc(*n ? *n : 1);
    if (fread(b, 1, *n, f) != *n)
        *n = 0;
    fclose(f);
    return b;
}

/* max |img - raw(name)|, or 999 on size mismatch */
static int diff_raw(const ddad_image_t *img, const char *name)
{
    size_t n = 0;
    uint8_t *ref = read_raw(name, &n);
    if (!ref || n != (size_t)img->w * img->h * img->c) {
        fprintf(stderr, "\n  %s: size %zu vs %d*%d*%d\n", name, n, img->w, img->h, img->c);
        free(ref);
        return 999;
    }
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)img->data[i] - (int)ref[i]);
        if (d > m)
            m = d;
    }
    free(ref);
    return m;
}

static const char *path(const char *name)
{
    static char p[4096];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return p;
}

static void check_load(const char *file, ddad_image_mode_t mode, const char *ref, int tol)
{
    ddad_image_t img = {0};
    ddad_status_t st = ddad_image_load(&img, path(file), mode);
    if (st)
        fprintf(stderr, "\n  %s: %s\n", file, ddad_last_error());
    CU_ASSERT_EQUAL(st, DDAD_OK);
    CU_ASSERT_EQUAL(img.c, mode == DDAD_IMAGE_GRAY ? 1 : 3);
    int d = diff_raw(&img, ref);
    if (d > tol)
        fprintf(stderr, "\n  %s vs %s: max diff %d > %d\n", file, ref, d, tol);
    CU_ASSERT(d <= tol);
    int w, h, c;
    CU_ASSERT_EQUAL(ddad_image_probe(path(file), &w, &h, &c), DDAD_OK);
    CU_ASSERT_EQUAL(w, img.w);
    CU_ASSERT_EQUAL(h, img.h);
    ddad_image_free(&img);
}

static void test_readers(void)
{
    setup();
    check_load("rgb.png", DDAD_IMAGE_RGB, "rgb", 0);
    check_load("gray.png", DDAD_IMAGE_RGB, "gray_rgb", 0);
    check_load("gray.png", DDAD_IMAGE_GRAY, "gray_l", 0);
    check_load("gray16.png", DDAD_IMAGE_GRAY, "gray16_hi", 0);
    check_load("rgba.png", DDAD_IMAGE_RGB, "rgba_rgb", 0);
    check_load("pal.png", DDAD_IMAGE_RGB, "pal_rgb", 0);
    check_load("col.png", DDAD_IMAGE_GRAY, "col_l", 0);
    check_load("smooth.jpg", DDAD_IMAGE_RGB, "smooth_jpg", 1);
    check_load("gray.jpg", DDAD_IMAGE_RGB, "gray_jpg", 1);
    check_load("rgb24.bmp", DDAD_IMAGE_RGB, "rgb", 0);
    check_load("rgba32.bmp", DDAD_IMAGE_RGB, "rgba32_rgb", 0);
    check_load("pal8.bmp", DDAD_IMAGE_RGB, "pal8_rgb", 0);
    check_load("gray8.bmp", DDAD_IMAGE_GRAY, "gray_l", 0);
    check_load("gray8.bmp", DDAD_IMAGE_RGB, "gray_rgb", 0);
}

static void expect_fail(const char *file, const char *needle, int probe_too)
{
    ddad_image_t img = {0};
    ddad_status_t st = ddad_image_load(&img, path(file), DDAD_IMAGE_RGB);
    CU_ASSERT_EQUAL(st, DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NULL(img.data);
    const char *msg = ddad_last_error();
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, file));
    if (needle && !strstr(msg, needle))
        fprintf(stderr, "\n  message for %s lacks '%s': %s\n", file, needle, msg);
    CU_ASSERT(needle == NULL || strstr(msg, needle) != NULL);
    if (probe_too) {
        st = ddad_image_probe(path(file), NULL, NULL, NULL);
        CU_ASSERT_EQUAL(st, DDAD_STATUS_DATA);
        CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "truncated"));
    }
}

static void test_corrupt(void)
{
    setup();
    expect_fail("trunc.png", "truncated", 1);
    expect_fail("trunc.jpg", "truncated", 1);
    expect_fail("trunc.bmp", "truncated", 1);
    expect_fail("corrupt.png", "PNG", 0);
    expect_fail("text.png", "not a PNG, JPEG or BMP", 0);
    /* a header that declares more than DDAD_IMAGE_MAX_PIXELS is refused before
     * anything is allocated for it (a 1 kB progressive JPEG declaring
     * 30000x30000 used to take 2.7 GB); 8192x8192 is still accepted */
    const char *huge[] = {"huge_prog.jpg", "huge.jpg", "huge.png", "huge.bmp"};
    for (int i = 0; i < 4; i++) {
        expect_fail(huge[i], "Mpixel", 0);
        CU_ASSERT_EQUAL(ddad_image_probe(path(huge[i]), NULL, NULL, NULL), DDAD_STATUS_DATA);
        CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "more than the 64 Mpixel"));
    }
    int w = 0, h = 0, c = 0;
    CU_ASSERT_EQUAL(ddad_image_probe(path("limit.png"), &w, &h, &c), DDAD_OK);
    CU_ASSERT(w == 8192 && h == 8192);
    ddad_image_t img = {0};
    CU_ASSERT_EQUAL(ddad_image_load(&img, path("missing.png"), DDAD_IMAGE_RGB), DDAD_STATUS_DATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(ddad_last_error(), "missing.png"));
}

static void test_resize_vs_pil(void)
{
    setup();
    static const int sizes[][2] = {{64, 64}, {16, 12}, {100, 90}, {53, 20}, {7, 129}, {256, 256}};
    const char *srcs[] = {"rgb", "smooth", "gray"};
    int worst_bic = 0, worst_nn = 0;
    for (int s = 0; s < 3; s++) {
        char file[64];
        snprintf(file, sizeof file, "%s.png", srcs[s]);
        ddad_image_t img = {0}, out = {0};
        CU_ASSERT_FATAL(ddad_image_load(&img, path(file), s == 2 ? DDAD_IMAGE_GRAY : DDAD_IMAGE_RGB) == DDAD_OK);
        for (int k = 0; k < 6; k++) {
            char ref[128];
            snprintf(ref, sizeof ref, "%s_bic_%dx%d", srcs[s], sizes[k][0], sizes[k][1]);
            CU_ASSERT_EQUAL(ddad_image_resize_bicubic(&img, sizes[k][0], sizes[k][1], &out), DDAD_OK);
            int d = diff_raw(&out, ref);
            if (d > worst_bic)
                worst_bic = d;
            snprintf(ref, sizeof ref, "%s_nn_%dx%d", srcs[s], sizes[k][0], sizes[k][1]);
            CU_ASSERT_EQUAL(ddad_image_resize_nearest(&img, sizes[k][0], sizes[k][1], &out), DDAD_OK);
            d = diff_raw(&out, ref);
            if (d > worst_nn)
                worst_nn = d;
        }
        ddad_image_free(&img);
        ddad_image_free(&out);
    }
    fprintf(stderr, "\n  max |C - PIL|: bicubic %d, nearest %d levels\n", worst_bic, worst_nn);
    CU_ASSERT(worst_bic <= 1);
    CU_ASSERT_EQUAL(worst_nn, 0);
}

static void test_write_roundtrip(void)
{
    setup();
    ddad_image_t img = {0}, back = {0};
    CU_ASSERT_FATAL(ddad_image_load(&img, path("smooth.png"), DDAD_IMAGE_RGB) == DDAD_OK);
    CU_ASSERT_EQUAL(ddad_image_write_png(&img, path("written.png")), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_image_load(&back, path("written.png"), DDAD_IMAGE_RGB), DDAD_OK);
    CU_ASSERT_EQUAL(diff_raw(&back, "smooth"), 0);
    /* Pillow reads what we wrote */
    char written[4096];
    snprintf(written, sizeof written, "%s", path("written.png"));
    CU_ASSERT_EQUAL(ddad_test_system("'%s' -c \"import numpy as np; from PIL import Image; "
                                     "a=np.asarray(Image.open('%s')); "
                                     "assert a.shape==(83,97,3) and a.tobytes()==open('%s','rb').read()\"",
                                     ddad_test_python(), written, path("smooth.raw")),
                    0);
    ddad_image_t g = {0};
    CU_ASSERT_EQUAL(ddad_image_load(&g, path("gray.png"), DDAD_IMAGE_GRAY), DDAD_OK);
    CU_ASSERT_EQUAL(ddad_image_write_png(&g, path("written_gray.png")), DDAD_OK);
    int w, h, c;
    CU_ASSERT_EQUAL(ddad_image_probe(path("written_gray.png"), &w, &h, &c), DDAD_OK);
    CU_ASSERT(w == 31 && h == 20 && c == 1);
    /* unwritable destination: a clear I/O error, no crash */
    CU_ASSERT_EQUAL(ddad_image_write_png(&g, path("no/such/dir/x.png")), DDAD_STATUS_IO);
    ddad_image_free(&img);
    ddad_image_free(&back);
    ddad_image_free(&g);
    ddad_image_free(NULL);
}

static void test_float_and_mask(void)
{
    ddad_image_t img = {0};
    CU_ASSERT_FATAL(ddad_image_alloc(&img, 2, 1, 3) == DDAD_OK);
    const uint8_t px[6] = {0, 255, 128, 10, 127, 200};
    memcpy(img.data, px, 6);
    float x[6];
    ddad_image_to_chw(&img, x);
    /* (C, H, W): channel 0 = pixels' R values */
    CU_ASSERT_DOUBLE_EQUAL(x[0], -1.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(x[1], 10 / 127.5 - 1, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(x[2], 1.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(x[5], 200 / 127.5 - 1, 1e-6);
    uint8_t m[2];
    ddad_image_binarize(&img, 127, m); /* channel 0: 0, 10 */
    CU_ASSERT(m[0] == 0 && m[1] == 0);
    img.data[3] = 128;
    ddad_image_binarize(&img, 127, m);
    CU_ASSERT(m[0] == 0 && m[1] == 1);
    ddad_image_free(&img);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"readers match Pillow", test_readers},
                                        {"truncated and corrupt files", test_corrupt},
                                        {"bicubic and nearest resize match Pillow", test_resize_vs_pil},
                                        {"PNG writer round trip", test_write_roundtrip},
                                        {"float CHW and mask binarisation", test_float_and_mask},
                                        {0}};
    int rc = ddad_test_main("image", tests);
    ddad_test_rmtree(g_dir);
    free(g_dir);
    return rc;
}
