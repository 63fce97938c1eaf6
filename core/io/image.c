/* core/io/image.c - see image.h */
#include "image.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "run.h"

void ddad_image_free(ddad_image_t *img)
{
    if (!img)
        return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

ddad_status_t ddad_image_alloc(ddad_image_t *img, int w, int h, int c)
{
    ddad_image_free(img);
    if (w <= 0 || h <= 0 || c <= 0 || c > 4 || (size_t)w * h > ((size_t)1 << 30))
        return ddad_fail(DDAD_STATUS_USAGE, "image allocation: bad size %dx%dx%d", w, h, c);
    img->data = calloc((size_t)w * h * c, 1);
    if (!img->data)
        return ddad_fail(DDAD_STATUS_NOMEM, "image allocation: out of memory for %dx%dx%d", w, h, c);
    img->w = w;
    img->h = h;
    img->c = c;
    return DDAD_OK;
}

/* ---- channel conversion ---------------------------------------------- */

/* src (H, W, sc) with sc in 1..4 (2 = gray+alpha, 4 = RGBA) -> img in mode. */
static ddad_status_t convert_channels(ddad_image_t *img, const uint8_t *src, int w, int h, int sc,
                                      ddad_image_mode_t mode)
{
    int dc = mode == DDAD_IMAGE_GRAY ? 1 : 3;
    ddad_status_t st = ddad_image_alloc(img, w, h, dc);
    if (st)
        return st;
    size_t n = (size_t)w * h;
    uint8_t *d = img->data;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = src + i * sc;
        if (sc <= 2) {
            if (dc == 1)
                d[i] = p[0];
            else
                d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = p[0];
        } else if (dc == 3) {
            d[3 * i] = p[0];
            d[3 * i + 1] = p[1];
            d[3 * i + 2] = p[2];
        } else { /* PIL's L = R * 299/1000 + G * 587/1000 + B * 114/1000 */
            d[i] = (uint8_t)((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
        }
    }
    return DDAD_OK;
}

static long file_size(FILE *f)
{
    if (fseek(f, 0, SEEK_END) != 0)
        return -1;
    long n = ftell(f);
    if (fseek(f, 0, SEEK_SET) != 0)
        return -1;
    return n;
}

typedef enum { FMT_UNKNOWN, FMT_PNG, FMT_JPEG, FMT_BMP } file_format_t;

static file_format_t sniff(const uint8_t *b, size_t n)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && memcmp(b, png_sig, 8) == 0)
        return FMT_PNG;
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        return FMT_JPEG;
    if (n >= 2 && b[0] == 'B' && b[1] == 'M')
        return FMT_BMP;
    return FMT_UNKNOWN;
}

static ddad_status_t open_and_sniff(const char *path, FILE **fp, file_format_t *fmt, long *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ddad_fail(errno == ENOENT ? DDAD_STATUS_DATA : DDAD_STATUS_IO, "%s: cannot open image: %s",
                         path, strerror(errno));
    uint8_t b[8] = {0};
    *size = file_size(f);
    size_t n = fread(b, 1, sizeof b, f);
    rewind(f);
    *fmt = sniff(b, n);
    if (*fmt == FMT_UNKNOWN) {
        fclose(f);
        if (n == 0)
            return ddad_fail(DDAD_STATUS_DATA, "%s: empty file (expected a PNG, JPEG or BMP image)", path);
        return ddad_fail(DDAD_STATUS_DATA, "%s: not a PNG, JPEG or BMP image (unrecognised first bytes)", path);
    }
    *fp = f;
    return DDAD_OK;
}

/* Refuses a declared size over DDAD_IMAGE_MAX_PIXELS (or a non-positive one)
 * before the decoder allocates anything for it. */
static ddad_status_t check_declared_size(const char *path, const char *format, int64_t w, int64_t h)
{
    if (w <= 0 || h <= 0)
        return ddad_fail(DDAD_STATUS_DATA, "%s: bad %s size %lldx%lld", path, format, (long long)w, (long long)h);
    if (w * h > DDAD_IMAGE_MAX_PIXELS)
        return ddad_fail(DDAD_STATUS_DATA,
                         "%s: %s declares %lldx%lld pixels, more than the %lld Mpixel this loader accepts "
                         "(corrupt header, or downscale the image first)",
                         path, format, (long long)w, (long long)h, (long long)(DDAD_IMAGE_MAX_PIXELS >> 20));
    return DDAD_OK;
}

/* ---- PNG -------------------------------------------------------------- */

typedef struct png_err {
    jmp_buf jb;
    char msg[256];
} png_err_t;

static void png_error_cb(png_structp png, png_const_charp msg)
{
    png_err_t *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jb, 1);
}

static void png_warning_cb(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* benign ancillary-chunk warnings (e.g. iCCP) are ignored */
}

static ddad_status_t load_png(ddad_image_t *img, FILE *f, const char *path, ddad_image_mode_t mode)
{
    png_err_t err = {.msg = ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, png_error_cb, png_warning_cb);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile buf = NULL;
    png_bytep *volatile rows = NULL;
    if (!png || !info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        return ddad_fail(DDAD_STATUS_NOMEM, "%s: cannot create PNG decoder", path);
    }
    if (setjmp(err.jb)) {
        png_destroy_read_struct(&png, &info, NULL);
        free(buf);
        free(rows);
        return ddad_fail(DDAD_STATUS_DATA, "%s: corrupt or truncated PNG: %s", path, err.msg);
    }
    png_init_io(png, f);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (check_declared_size(path, "PNG", w, h)) {
        png_destroy_read_struct(&png, &info, NULL);
        return DDAD_STATUS_DATA; /* message set by check_declared_size */
    }
    png_set_expand(png);   /* palette -> RGB, gray < 8 bits -> 8, tRNS -> alpha */
    png_set_strip_16(png); /* 16-bit samples keep their high byte */
    int passes = png_set_interlace_handling(png);
    (void)passes;
    png_read_update_info(png, info);
    int sc = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)w * sc)
        png_error(png, "unexpected row layout after expansion");
    buf = malloc(rowbytes * h);
    rows = malloc(sizeof(png_bytep) * h);
    if (!buf || !rows)
        png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = buf + y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    ddad_status_t st = convert_channels(img, buf, (int)w, (int)h, sc, mode);
    free(buf);
    free(rows);
    return st;
}

/* ---- JPEG ------------------------------------------------------------- */

typedef struct jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err_t;

static void jpeg_error_exit_cb(j_common_ptr cinfo)
{
    jpeg_err_t *e = (jpeg_err_t *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jb, 1);
}

static void jpeg_emit_cb(j_common_ptr cinfo, int level)
{
    jpeg_err_t *e = (jpeg_err_t *)cinfo->err;
    if (level >= 0)
        return; /* trace messages */
    /* A premature end of file is only a warning to libjpeg (it pads the image
     * with gray); for a data set it is a truncated file, i.e. an error. */
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
        (*cinfo->err->format_message)(cinfo, e->msg);
        longjmp(e->jb, 1);
    }
    char m[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, m);
    ddad_log(DDAD_LOG_WARN, "JPEG warning: %s", m);
}

static ddad_status_t load_jpeg(ddad_image_t *img, FILE *f, const char *path, ddad_image_mode_t mode)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_err_t err;
    uint8_t *volatile buf = NULL;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_error_exit_cb;
    err.mgr.emit_message = jpeg_emit_cb;
    err.msg[0] = 0;
    if (setjmp(err.jb)) {
        jpeg_destroy_decompress(&cinfo);
        free(buf);
        return ddad_fail(DDAD_STATUS_DATA, "%s: corrupt or truncated JPEG: %s", path, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    /* before jpeg_start_decompress, which allocates whole-image coefficient
     * buffers for progressive files */
    if (check_declared_size(path, "JPEG", cinfo.image_width, cinfo.image_height)) {
        jpeg_destroy_decompress(&cinfo);
        return DDAD_STATUS_DATA;
    }
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        snprintf(err.msg, sizeof err.msg, "CMYK JPEG images are not supported (convert to RGB)");
        longjmp(err.jb, 1);
    }
    cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, sc = cinfo.output_components;
    buf = malloc((size_t)w * h * sc);
    if (!buf) {
        snprintf(err.msg, sizeof err.msg, "out of memory");
        longjmp(err.jb, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = buf + (size_t)cinfo.output_scanline * w * sc;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    ddad_status_t st = convert_channels(img, buf, w, h, sc, mode);
    free(buf);
    return st;
}

/* ---- BMP -------------------------------------------------------------- */

typedef struct bmp_info {
    int w, h, bpp, topdown, ncolors;
    uint32_t offset, dibsize;
    uint8_t palette[256][3]; /* RGB */
    int gray_palette;
} bmp_info_t;

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static ddad_status_t bmp_header(FILE *f, const char *path, long size, bmp_info_t *bi)
{
    uint8_t h[54 + 1024];
    size_t n = fread(h, 1, sizeof h, f);
    if (n < 54)
        return ddad_fail(DDAD_STATUS_DATA, "%s: truncated BMP header (%zu bytes)", path, n);
    bi->offset = rd32(h + 10);
    bi->dibsize = rd32(h + 14);
    if (bi->dibsize < 40)
        return ddad_fail(DDAD_STATUS_DATA, "%s: unsupported BMP header (DIB header size %u; need >= 40)", path,
                         bi->dibsize);
    int32_t w = (int32_t)rd32(h + 18), hh = (int32_t)rd32(h + 22);
    bi->bpp = rd16(h + 28);
    uint32_t comp = rd32(h + 30);
    bi->ncolors = (int)rd32(h + 46);
    if (w <= 0 || hh == 0 || hh == INT32_MIN || w > 65535 || abs(hh) > 65535)
        return ddad_fail(DDAD_STATUS_DATA, "%s: bad BMP size %dx%d", path, w, hh);
    bi->w = w;
    bi->topdown = hh < 0;
    bi->h = hh < 0 ? -hh : hh;
    ddad_status_t st = check_declared_size(path, "BMP", bi->w, bi->h);
    if (st)
        return st;
    if (!(bi->bpp == 24 || bi->bpp == 32 || bi->bpp == 8))
        return ddad_fail(DDAD_STATUS_DATA, "%s: unsupported BMP depth %d bits (need 8, 24 or 32)", path, bi->bpp);
    if (!(comp == 0 || (comp == 3 && bi->bpp == 32)))
        return ddad_fail(DDAD_STATUS_DATA, "%s: compressed BMP (method %u) is not supported", path, comp);
    if (bi->bpp == 8) {
        if (bi->ncolors <= 0 || bi->ncolors > 256)
            bi->ncolors = 256;
        size_t pal = 14 + bi->dibsize;
        if (pal + 4 * (size_t)bi->ncolors > n)
            return ddad_fail(DDAD_STATUS_DATA, "%s: truncated BMP palette", path);
        bi->gray_palette = 1;
        for (int i = 0; i < bi->ncolors; i++) {
            const uint8_t *p = h + pal + 4 * i;
            bi->palette[i][0] = p[2];
            bi->palette[i][1] = p[1];
            bi->palette[i][2] = p[0];
            if (p[0] != p[1] || p[1] != p[2])
                bi->gray_palette = 0;
        }
        for (int i = bi->ncolors; i < 256; i++)
            bi->palette[i][0] = bi->palette[i][1] = bi->palette[i][2] = 0;
    }
    size_t stride = (((size_t)bi->w * bi->bpp + 31) / 32) * 4;
    if (size >= 0 && (size_t)size < bi->offset + stride * bi->h)
        return ddad_fail(DDAD_STATUS_DATA, "%s: truncated BMP: %ld bytes, pixel data needs %zu", path, size,
                         bi->offset + stride * bi->h);
    return DDAD_OK;
}

static ddad_status_t load_bmp(ddad_image_t *img, FILE *f, const char *path, long size, ddad_image_mode_t mode)
{
    bmp_info_t bi;
    ddad_status_t st = bmp_header(f, path, size, &bi);
    if (st)
        return st;
    size_t stride = (((size_t)bi.w * bi.bpp + 31) / 32) * 4;
    uint8_t *row = malloc(stride);
    uint8_t *rgb = malloc((size_t)bi.w * bi.h * 3);
    if (!row || !rgb) {
        free(row);
        free(rgb);
        return ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory", path);
    }
    if (fseek(f, bi.offset, SEEK_SET) != 0) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: bad BMP pixel offset %u", path, bi.offset);
        goto done;
    }
    for (int r = 0; r < bi.h; r++) {
        if (fread(row, 1, stride, f) != stride) {
            st = ddad_fail(DDAD_STATUS_DATA, "%s: truncated BMP at row %d of %d", path, r, bi.h);
            goto done;
        }
        int y = bi.topdown ? r : bi.h - 1 - r;
        uint8_t *o = rgb + (size_t)y * bi.w * 3;
        for (int x = 0; x < bi.w; x++) {
            if (bi.bpp == 8) {
                const uint8_t *p = bi.palette[row[x]];
                o[3 * x] = p[0];
                o[3 * x + 1] = p[1];
                o[3 * x + 2] = p[2];
            } else {
                const uint8_t *p = row + (size_t)x * (bi.bpp / 8);
                o[3 * x] = p[2];
                o[3 * x + 1] = p[1];
                o[3 * x + 2] = p[0];
            }
        }
    }
    st = convert_channels(img, rgb, bi.w, bi.h, 3, mode);
    if (!st && mode == DDAD_IMAGE_GRAY && bi.bpp == 8 && bi.gray_palette) {
        /* gray palette: take the value itself (convert_channels' weights
         * would give the same result up to rounding; be exact) */
        for (size_t i = 0; i < (size_t)bi.w * bi.h; i++)
            img->data[i] = rgb[3 * i];
    }
done:
    free(row);
    free(rgb);
    return st;
}

ddad_status_t ddad_image_load(ddad_image_t *img, const char *path, ddad_image_mode_t mode)
{
    FILE *f = NULL;
    file_format_t fmt;
    long size;
    ddad_image_free(img);
    ddad_status_t st = open_and_sniff(path, &f, &fmt, &size);
    if (st)
        return st;
    if (fmt == FMT_PNG)
        st = load_png(img, f, path, mode);
    else if (fmt == FMT_JPEG)
        st = load_jpeg(img, f, path, mode);
    else
        st = load_bmp(img, f, path, size, mode);
    fclose(f);
    return st;
}

/* ---- probe ------------------------------------------------------------ */

static ddad_status_t probe_png(FILE *f, const char *path, long size, int *w, int *h, int *c)
{
    uint8_t b[33];
    if (fread(b, 1, 33, f) != 33 || memcmp(b + 12, "IHDR", 4) != 0)
        return ddad_fail(DDAD_STATUS_DATA, "%s: truncated PNG header", path);
    *w = (int)((uint32_t)b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19]);
    *h = (int)((uint32_t)b[20] << 24 | b[21] << 16 | b[22] << 8 | b[23]);
    int color = b[25];
    *c = color == 0 ? 1 : color == 4 ? 2 : color == 6 ? 4 : 3;
    ddad_status_t st = check_declared_size(path, "PNG", *w, *h);
    if (st)
        return st;
    /* walk the chunks: length (4, big endian) + type (4) + data + CRC (4) */
    long pos = 8;
    int seen_idat = 0;
    for (;;) {
        uint8_t ch[8];
        if (fseek(f, pos, SEEK_SET) != 0 || fread(ch, 1, 8, f) != 8)
            return ddad_fail(DDAD_STATUS_DATA, "%s: truncated PNG: chunk list ends at byte %ld without IEND",
                             path, pos);
        uint32_t len = (uint32_t)ch[0] << 24 | ch[1] << 16 | ch[2] << 8 | ch[3];
        if (len > 0x7fffffffu)
            return ddad_fail(DDAD_STATUS_DATA, "%s: corrupt PNG: chunk length %u at byte %ld", path, len, pos);
        long end = pos + 12 + (long)len;
        if (end > size)
            return ddad_fail(DDAD_STATUS_DATA,
                             "%s: truncated PNG: chunk '%.4s' at byte %ld needs %ld bytes, file has %ld", path,
                             (const char *)ch + 4, pos, end, size);
        if (memcmp(ch + 4, "IDAT", 4) == 0)
            seen_idat = 1;
        if (memcmp(ch + 4, "IEND", 4) == 0) {
            if (!seen_idat)
                return ddad_fail(DDAD_STATUS_DATA, "%s: corrupt PNG: no image data (IDAT)", path);
            return DDAD_OK;
        }
        pos = end;
    }
}

static ddad_status_t probe_jpeg(FILE *f, const char *path, long size, int *w, int *h, int *c)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_err_t err;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_error_exit_cb;
    err.mgr.emit_message = jpeg_emit_cb;
    err.msg[0] = 0;
    if (setjmp(err.jb)) {
        jpeg_destroy_decompress(&cinfo);
        return ddad_fail(DDAD_STATUS_DATA, "%s: corrupt or truncated JPEG header: %s", path, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    *w = (int)cinfo.image_width;
    *h = (int)cinfo.image_height;
    *c = cinfo.num_components == 1 ? 1 : 3;
    jpeg_destroy_decompress(&cinfo);
    ddad_status_t st = check_declared_size(path, "JPEG", *w, *h);
    if (st)
        return st;
    /* a complete JPEG ends with EOI (FF D9), possibly followed by padding */
    uint8_t tail[64];
    long n = size < (long)sizeof tail ? size : (long)sizeof tail;
    if (fseek(f, size - n, SEEK_SET) != 0 || fread(tail, 1, (size_t)n, f) != (size_t)n)
        return ddad_fail(DDAD_STATUS_IO, "%s: cannot read the end of the file", path);
    for (long i = n - 2; i >= 0; i--)
        if (tail[i] == 0xff && tail[i + 1] == 0xd9)
            return DDAD_OK;
    return ddad_fail(DDAD_STATUS_DATA, "%s: truncated JPEG: no end-of-image marker in the last %ld bytes", path,
                     n);
}

ddad_status_t ddad_image_probe(const char *path, int *w, int *h, int *c)
{
    FILE *f = NULL;
    file_format_t fmt;
    long size;
    int ww = 0, hh = 0, cc = 0;
    ddad_status_t st = open_and_sniff(path, &f, &fmt, &size);
    if (st)
        return st;
    if (fmt == FMT_PNG) {
        st = probe_png(f, path, size, &ww, &hh, &cc);
    } else if (fmt == FMT_JPEG) {
        st = probe_jpeg(f, path, size, &ww, &hh, &cc);
    } else {
        bmp_info_t bi;
        st = bmp_header(f, path, size, &bi);
        if (!st) {
            ww = bi.w;
            hh = bi.h;
            cc = (bi.bpp == 8 && bi.gray_palette) ? 1 : 3;
        }
    }
    fclose(f);
    if (st)
        return st;
    if (w)
        *w = ww;
    if (h)
        *h = hh;
    if (c)
        *c = cc;
    return DDAD_OK;
}

/* ---- PNG writer ------------------------------------------------------- */

ddad_status_t ddad_image_write_png(const ddad_image_t *img, const char *path)
{
    if (!img || !img->data || (img->c != 1 && img->c != 3))
        return ddad_fail(DDAD_STATUS_USAGE, "%s: write_png needs a 1- or 3-channel image", path);
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp)
        return ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        ddad_status_t st = ddad_fail(DDAD_STATUS_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    png_err_t err = {.msg = ""};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, png_error_cb, png_warning_cb);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info)
        snprintf(err.msg, sizeof err.msg, "out of memory");
    else if (setjmp(err.jb)) { /* libpng error during encoding */
        if (!err.msg[0])
            snprintf(err.msg, sizeof err.msg, "libpng error");
    }
    if (err.msg[0]) {
        png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
        fclose(f);
        remove(tmp);
        ddad_status_t st = ddad_fail(DDAD_STATUS_IO, "%s: PNG encoding failed: %s", path, err.msg);
        free(tmp);
        return st;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8,
                 img->c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 6);
    png_write_info(png, info);
    for (int y = 0; y < img->h; y++)
        png_write_row(png, img->data + (size_t)y * img->w * img->c);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        ddad_status_t st = ddad_fail(DDAD_STATUS_IO, "%s: cannot write: %s", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return st;
    }
    ddad_status_t st = ddad_run_commit(tmp, path);
    free(tmp);
    return st;
}

/* ---- resizing (Pillow's Resample.c, 8-bit path) -------------------------- */

#define PRECISION_BITS (32 - 8 - 2)

static double bicubic_filter(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Integer weights for one axis: bounds (out, 2) = (first input index, count),
 * kk (out, ksize). Returns ksize, 0 on allocation failure. */
static int precompute_coeffs(int in_size, int out_size, int **bounds_out, int **kk_out)
{
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *k = malloc(sizeof(double) * ksize);
    int *kk = malloc(sizeof(int) * (size_t)out_size * ksize);
    int *bounds = malloc(sizeof(int) * 2 * (size_t)out_size);
    if (!k || !kk || !bounds) {
        free(k);
        free(kk);
        free(bounds);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double w = bicubic_filter((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (int x = 0; x < ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? k[x] / ww : k[x]) : 0.0;
            kk[xx * ksize + x] = v < 0 ? (int)(-0.5 + v * (1 << PRECISION_BITS))
                                       : (int)(0.5 + v * (1 << PRECISION_BITS));
        }
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    free(k);
    *bounds_out = bounds;
    *kk_out = kk;
    return ksize;
}

static inline uint8_t clip8(int v)
{
    v >>= PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

ddad_status_t ddad_image_resize_bicubic(const ddad_image_t *in, int w, int h, ddad_image_t *out)
{
    if (!in || !in->data || w <= 0 || h <= 0 || out == in)
        return ddad_fail(DDAD_STATUS_USAGE, "resize_bicubic: bad arguments (target %dx%d)", w, h);
    int c = in->c;
    ddad_image_t tmp = {0};
    ddad_status_t st;
    const ddad_image_t *src = in;
    if (w != in->w) { /* horizontal pass */
        int *bounds, *kk;
        int ks = precompute_coeffs(in->w, w, &bounds, &kk);
        if (!ks)
            return ddad_fail(DDAD_STATUS_NOMEM, "resize_bicubic: out of memory");
        if ((st = ddad_image_alloc(&tmp, w, in->h, c))) {
            free(bounds);
            free(kk);
            return st;
        }
        for (int y = 0; y < in->h; y++) {
            const uint8_t *row = in->data + (size_t)y * in->w * c;
            uint8_t *o = tmp.data + (size_t)y * w * c;
            for (int xx = 0; xx < w; xx++) {
                int xmin = bounds[2 * xx], xmax = bounds[2 * xx + 1];
                const int *k = kk + xx * ks;
                for (int ch = 0; ch < c; ch++) {
                    int ss = 1 << (PRECISION_BITS - 1);
                    for (int x = 0; x < xmax; x++)
                        ss += row[(x + xmin) * c + ch] * k[x];
                    o[xx * c + ch] = clip8(ss);
                }
            }
        }
        free(bounds);
        free(kk);
        src = &tmp;
    }
    if (h != in->h) { /* vertical pass */
        int *bounds, *kk;
        int ks = precompute_coeffs(in->h, h, &bounds, &kk);
        if (!ks) {
            ddad_image_free(&tmp);
            return ddad_fail(DDAD_STATUS_NOMEM, "resize_bicubic: out of memory");
        }
        ddad_image_t o2 = {0};
        if ((st = ddad_image_alloc(&o2, w, h, c))) {
            free(bounds);
            free(kk);
            ddad_image_free(&tmp);
            return st;
        }
        size_t rs = (size_t)w * c;
        for (int yy = 0; yy < h; yy++) {
            int ymin = bounds[2 * yy], ymax = bounds[2 * yy + 1];
            const int *k = kk + yy * ks;
            uint8_t *o = o2.data + yy * rs;
            for (size_t i = 0; i < rs; i++) {
                int ss = 1 << (PRECISION_BITS - 1);
                for (int y = 0; y < ymax; y++)
                    ss += src->data[(size_t)(y + ymin) * rs + i] * k[y];
                o[i] = clip8(ss);
            }
        }
        free(bounds);
        free(kk);
        ddad_image_free(&tmp);
        ddad_image_free(out);
        *out = o2;
        return DDAD_OK;
    }
    if (src == &tmp) {
        ddad_image_free(out);
        *out = tmp;
        return DDAD_OK;
    }
    /* same size: copy */
    if ((st = ddad_image_alloc(out, in->w, in->h, c)))
        return st;
    memcpy(out->data, in->data, (size_t)in->w * in->h * c);
    return DDAD_OK;
}

ddad_status_t ddad_image_resize_nearest(const ddad_image_t *in, int w, int h, ddad_image_t *out)
{
    if (!in || !in->data || w <= 0 || h <= 0 || out == in)
        return ddad_fail(DDAD_STATUS_USAGE, "resize_nearest: bad arguments (target %dx%d)", w, h);
    int c = in->c;
    int *xin = malloc(sizeof(int) * w);
    if (!xin)
        return ddad_fail(DDAD_STATUS_NOMEM, "resize_nearest: out of memory");
    ddad_status_t st = ddad_image_alloc(out, w, h, c);
    if (st) {
        free(xin);
        return st;
    }
    /* Pillow's ImagingScaleAffine: accumulated double coordinates */
    double ax = (double)in->w / w, ay = (double)in->h / h;
    double xo = ax * 0.5;
    for (int x = 0; x < w; x++) {
        int xi = xo < 0.0 ? -1 : (int)xo;
        xin[x] = xi < 0 ? 0 : xi >= in->w ? in->w - 1 : xi;
        xo += ax;
    }
    double yo = ay * 0.5;
    for (int y = 0; y < h; y++) {
        int yi = yo < 0.0 ? -1 : (int)yo;
        if (yi < 0)
            yi = 0;
        if (yi >= in->h)
            yi = in->h - 1;
        const uint8_t *row = in->data + (size_t)yi * in->w * c;
        uint8_t *o = out->data + (size_t)y * w * c;
        for (int x = 0; x < w; x++)
            memcpy(o + (size_t)x * c, row + (size_t)xin[x] * c, c);
        yo += ay;
    }
    free(xin);
    return DDAD_OK;
}

void ddad_image_to_chw(const ddad_image_t *img, float *out)
{
    size_t hw = (size_t)img->w * img->h;
    for (int ch = 0; ch < img->c; ch++)
        for (size_t i = 0; i < hw; i++)
            out[ch * hw + i] = (float)img->data[i * img->c + ch] / 127.5f - 1.0f;
}

void ddad_image_binarize(const ddad_image_t *mask, int threshold, uint8_t *out)
{
    size_t hw = (size_t)mask->w * mask->h;
    for (size_t i = 0; i < hw; i++)
        out[i] = mask->data[i * mask->c] > threshold ? 1 : 0;
}

ddad_status_t ddad_image_load_chw(const char *path, int size, float *out)
{
    ddad_image_t img = {0}, small = {0};
    ddad_status_t st = ddad_image_load(&img, path, DDAD_IMAGE_RGB);
    if (st != DDAD_OK)
        return st;
    if (img.w != size || img.h != size) {
        st = ddad_image_resize_bicubic(&img, size, size, &small);
        if (st == DDAD_OK)
            ddad_image_to_chw(&small, out);
    } else {
        ddad_image_to_chw(&img, out);
    }
    ddad_image_free(&img);
    ddad_image_free(&small);
    return st;
}
