/* core/io/tiff.c - see tiff.h
 *
 * The reader keeps the whole file in memory and reads every value through
 * get16/get32 (the pixels through convert_samples) after checking that it
 * lies inside the file; all sizes
 * and offsets are computed in uint64_t from 32-bit fields, so they cannot
 * overflow. Work and memory are bounded by the file's size: the strip or
 * tile tables must fit in the file, the chunks' byte counts must add up to
 * no more than the file, and a chunk decodes to at most 64 times its bytes
 * (PackBits' best ratio), all checked before the output is allocated. */
#include "tiff.h"

#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    TAG_IMAGE_WIDTH = 256,
    TAG_IMAGE_LENGTH = 257,
    TAG_BITS_PER_SAMPLE = 258,
    TAG_COMPRESSION = 259,
    TAG_PHOTOMETRIC = 262,
    TAG_STRIP_OFFSETS = 273,
    TAG_SAMPLES_PER_PIXEL = 277,
    TAG_ROWS_PER_STRIP = 278,
    TAG_STRIP_BYTE_COUNTS = 279,
    TAG_X_RESOLUTION = 282,
    TAG_Y_RESOLUTION = 283,
    TAG_PLANAR_CONFIG = 284,
    TAG_RESOLUTION_UNIT = 296,
    TAG_PREDICTOR = 317,
    TAG_TILE_WIDTH = 322,
    TAG_TILE_LENGTH = 323,
    TAG_TILE_OFFSETS = 324,
    TAG_TILE_BYTE_COUNTS = 325,
    TAG_SAMPLE_FORMAT = 339,
};

enum { TYPE_BYTE = 1, TYPE_SHORT = 3, TYPE_LONG = 4, TYPE_RATIONAL = 5 };
enum { COMPRESSION_NONE = 1, COMPRESSION_PACKBITS = 32773 };
enum { FORMAT_UINT = 1, FORMAT_INT = 2, FORMAT_FLOAT = 3 };

/* Largest file the reader loads: twice the largest uncompressed float64 map. */
#define TIFF_MAX_FILE_BYTES ((uint64_t)DDAD_TIFF_MAX_PIXELS * 8 * 2)

/* ---- reading ------------------------------------------------------------ */

typedef struct tiff_in {
    const uint8_t *p;
    uint64_t size;
    int be; /* 1: "MM", big-endian */
    const char *name;
} tiff_in_t;

/* The callers have checked off + 2/4/8 <= size. */
static uint32_t ld16(const uint8_t *b, int be) { return be ? (uint32_t)b[0] << 8 | b[1] : (uint32_t)b[1] << 8 | b[0]; }

static uint32_t ld32(const uint8_t *b, int be)
{
    return be ? (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]
              : (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
}

static uint64_t ld64(const uint8_t *b, int be)
{
    uint64_t a = ld32(b, be), c = ld32(b + 4, be);
    return be ? a << 32 | c : c << 32 | a;
}

static uint32_t get16(const tiff_in_t *t, uint64_t off) { return ld16(t->p + off, t->be); }
static uint32_t get32(const tiff_in_t *t, uint64_t off) { return ld32(t->p + off, t->be); }

/* Bytes per value of a TIFF field type, 0 for unknown types. */
static unsigned type_size(unsigned type)
{
    switch (type) {
    case 1: case 2: case 6: case 7: return 1; /* BYTE ASCII SBYTE UNDEFINED */
    case 3: case 8: return 2;                  /* SHORT SSHORT */
    case 4: case 9: case 11: case 13: return 4; /* LONG SLONG FLOAT IFD */
    case 5: case 10: case 12: return 8;        /* RATIONAL SRATIONAL DOUBLE */
    default: return 0;
    }
}

/* The fields the reader uses. */
typedef struct tiff_field {
    unsigned tag;
    const char *name;
} tiff_field_t;

static const tiff_field_t fields[] = {
    {TAG_IMAGE_WIDTH, "ImageWidth"},        {TAG_IMAGE_LENGTH, "ImageLength"},
    {TAG_BITS_PER_SAMPLE, "BitsPerSample"}, {TAG_COMPRESSION, "Compression"},
    {TAG_PHOTOMETRIC, "PhotometricInterpretation"}, {TAG_STRIP_OFFSETS, "StripOffsets"},
    {TAG_SAMPLES_PER_PIXEL, "SamplesPerPixel"}, {TAG_ROWS_PER_STRIP, "RowsPerStrip"},
    {TAG_STRIP_BYTE_COUNTS, "StripByteCounts"}, {TAG_PLANAR_CONFIG, "PlanarConfiguration"},
    {TAG_PREDICTOR, "Predictor"},           {TAG_TILE_WIDTH, "TileWidth"},
    {TAG_TILE_LENGTH, "TileLength"},        {TAG_TILE_OFFSETS, "TileOffsets"},
    {TAG_TILE_BYTE_COUNTS, "TileByteCounts"}, {TAG_SAMPLE_FORMAT, "SampleFormat"},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

enum {
    F_WIDTH, F_LENGTH, F_BITS, F_COMPRESSION, F_PHOTOMETRIC, F_STRIP_OFFSETS, F_SPP, F_RPS,
    F_STRIP_COUNTS, F_PLANAR, F_PREDICTOR, F_TILE_WIDTH, F_TILE_LENGTH, F_TILE_OFFSETS, F_TILE_COUNTS,
    F_SAMPLE_FORMAT
};

typedef struct tiff_entry {
    int present;
    unsigned type;
    uint32_t count;
    uint64_t pos; /* where the values are: inside the entry or at its offset */
} tiff_entry_t;

static int is_uint_type(unsigned type) { return type == TYPE_BYTE || type == TYPE_SHORT || type == TYPE_LONG; }

/* Value i (< count) of an unsigned field whose values lie in the file. */
static uint32_t entry_value(const tiff_in_t *t, const tiff_entry_t *e, uint64_t i)
{
    if (e->type == TYPE_BYTE)
        return t->p[e->pos + i];
    if (e->type == TYPE_SHORT)
        return get16(t, e->pos + 2 * i);
    return get32(t, e->pos + 4 * i);
}

/* Checks that field f holds unsigned integers (at least min_count). */
static ddad_status_t check_uint_field(const tiff_in_t *t, const tiff_entry_t *e, int f, uint64_t min_count)
{
    if (!is_uint_type(e->type))
        return ddad_fail(DDAD_STATUS_DATA,
                         "%s: corrupt TIFF: %s (tag %u) has field type %u, expected BYTE, SHORT or LONG", t->name,
                         fields[f].name, fields[f].tag, e->type);
    if (e->count < min_count)
        return ddad_fail(DDAD_STATUS_DATA, "%s: corrupt TIFF: %s (tag %u) has %u values, expected %llu", t->name,
                         fields[f].name, fields[f].tag, e->count, (unsigned long long)min_count);
    return DDAD_OK;
}

/* The first value of a single-valued field, or dflt when absent. */
static ddad_status_t scalar_field(const tiff_in_t *t, const tiff_entry_t *ent, int f, uint32_t dflt,
                                  uint32_t *v)
{
    const tiff_entry_t *e = &ent[f];
    if (!e->present) {
        *v = dflt;
        return DDAD_OK;
    }
    ddad_status_t st = check_uint_field(t, e, f, 1);
    if (st)
        return st;
    *v = entry_value(t, e, 0);
    return DDAD_OK;
}

static ddad_status_t read_ifd(const tiff_in_t *t, tiff_entry_t ent[NFIELDS])
{
    const uint64_t size = t->size;
    memset(ent, 0, NFIELDS * sizeof *ent);
    if (size == 0)
        return ddad_fail(DDAD_STATUS_DATA, "%s: empty file (expected a TIFF image)", t->name);
    int ii = size >= 2 && t->p[0] == 'I' && t->p[1] == 'I', mm = size >= 2 && t->p[0] == 'M' && t->p[1] == 'M';
    if (!ii && !mm)
        return ddad_fail(DDAD_STATUS_DATA,
                         "%s: not a TIFF file (its first bytes are not \"II\" or \"MM\"); anomaly maps are read "
                         "from TIFF images",
                         t->name);
    if (size < 8)
        return ddad_fail(DDAD_STATUS_DATA, "%s: truncated TIFF: %llu bytes, the header needs 8", t->name,
                         (unsigned long long)size);
    unsigned magic = get16(t, 2);
    if (magic == 43)
        return ddad_fail(DDAD_STATUS_DATA,
                         "%s: BigTIFF is not supported; save the map as a classic TIFF "
                         "(tifffile.imwrite(..., bigtiff=False))",
                         t->name);
    if (magic != 42)
        return ddad_fail(DDAD_STATUS_DATA, "%s: not a TIFF file (version %u after the byte order, expected 42)",
                         t->name, magic);
    uint64_t ifd = get32(t, 4);
    if (ifd == 0)
        return ddad_fail(DDAD_STATUS_DATA, "%s: corrupt TIFF: the header points to no image (IFD offset 0)",
                         t->name);
    if (ifd < 8 || ifd + 2 > size)
        return ddad_fail(DDAD_STATUS_DATA,
                         "%s: truncated or corrupt TIFF: the first IFD's offset %llu lies outside the file "
                         "(%llu bytes)",
                         t->name, (unsigned long long)ifd, (unsigned long long)size);
    uint64_t n = get16(t, ifd);
    if (n == 0)
        return ddad_fail(DDAD_STATUS_DATA, "%s: corrupt TIFF: the first IFD has no tags", t->name);
    if (ifd + 2 + 12 * n > size)
        return ddad_fail(DDAD_STATUS_DATA,
                         "%s: truncated TIFF: the first IFD (%llu tags at offset %llu) ends past the end of the "
                         "file (%llu bytes)",
                         t->name, (unsigned long long)n, (unsigned long long)ifd, (unsigned long long)size);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t at = ifd + 2 + 12 * i;
        unsigned tag = get16(t, at);
        int f = -1;
        for (size_t k = 0; k < NFIELDS; k++)
            if (fields[k].tag == tag)
                f = (int)k;
        if (f < 0 || ent[f].present) /* a field we don't use, or a duplicate (the first one counts) */
            continue;
        tiff_entry_t *e = &ent[f];
        e->present = 1;
        e->type = get16(t, at + 2);
        e->count = get32(t, at + 4);
        uint64_t bytes = (uint64_t)type_size(e->type) * e->count;
        e->pos = bytes <= 4 ? at + 8 : get32(t, at + 8);
        if (e->pos + bytes > size)
            return ddad_fail(DDAD_STATUS_DATA,
                             "%s: truncated or corrupt TIFF: the %u values of %s (tag %u) at offset %llu lie "
                             "outside the file (%llu bytes)",
                             t->name, e->count, fields[f].name, tag, (unsigned long long)e->pos,
                             (unsigned long long)size);
    }
    return DDAD_OK;
}

typedef enum sample_kind { S_U8, S_I8, S_U16, S_I16, S_U32, S_I32, S_F32, S_F64 } sample_kind_t;

static const char *compression_name(uint32_t c)
{
    switch (c) {
    case 2: return "CCITT RLE";
    case 3: return "CCITT Group 3";
    case 4: return "CCITT Group 4";
    case 5: return "LZW";
    case 6: return "old-style JPEG";
    case 7: return "JPEG";
    case 8: case 32946: return "Deflate";
    case 34712: return "JPEG 2000";
    case 34887: return "LERC";
    case 34925: return "LZMA";
    case 50000: return "Zstandard";
    case 50001: return "WebP";
    default: return "unknown";
    }
}

/* The image's format fields: size, sample type, compression. */
typedef struct tiff_format {
    uint32_t w, h;
    sample_kind_t kind;
    unsigned bps; /* bytes per sample */
    uint32_t compression;
} tiff_format_t;

static ddad_status_t read_format(const tiff_in_t *t, const tiff_entry_t *ent, tiff_format_t *fm)
{
    ddad_status_t st;
    uint32_t spp, bits, fmt, compression, predictor, photometric;
    if (!ent[F_WIDTH].present || !ent[F_LENGTH].present)
        return ddad_fail(DDAD_STATUS_DATA, "%s: corrupt TIFF: no %s tag", t->name,
                         ent[F_WIDTH].present ? "ImageLength" : "ImageWidth");
    if ((st = scalar_field(t, ent, F_WIDTH, 0, &fm->w)) || (st = scalar_field(t, ent, F_LENGTH, 0, &fm->h)))
        return st;
    if (fm->w == 0 || fm->h == 0)
        return ddad_fail(DDAD_STATUS_DATA, "%s: corrupt TIFF: the image is %u x %u pixels", t->name, fm->w, fm->h);
    if ((uint64_t)fm->w * fm->h > (uint64_t)DDAD_TIFF_MAX_PIXELS)
        return ddad_fail(DDAD_STATUS_DATA,
                         "%s: the TIFF declares %u x %u pixels, more than the %lld Mpixel this reader accepts "
                         "(corrupt header, or downscale the map first)",
                         t->name, fm->w, fm->h, (long long)(DDAD_TIFF_MAX_PIXELS >> 20));
    if ((st = scalar_field(t, ent, F_SPP, 1, &spp)))
        return st;
    if (spp != 1)
        return ddad_fail(DDAD_STATUS_DATA,
                         "%s: a single-channel map is needed, this file has %u samples per pixel (save the "
                         "anomaly map as one float32 channel, shape (H, W))",
                         t->name, spp);
    if ((st = scalar_field(t, ent, F_BITS, 1, &bits)) || (st = scalar_field(t, ent, F_SAMPLE_FORMAT, 1, &fmt)))
        return st;
    if (fmt == FORMAT_FLOAT && (bits == 32 || bits == 64))
        fm->kind = bits == 32 ? S_F32 : S_F64;
    else if ((fmt == FORMAT_UINT || fmt == FORMAT_INT) && (bits == 8 || bits == 16 || bits == 32))
        fm->kind = (bits == 8 ? S_U8 : bits == 16 ? S_U16 : S_U32) + (fmt == FORMAT_INT);
    else
        return ddad_fail(DDAD_STATUS_DATA,
                         "%s: %u-bit samples of SampleFormat %u (%s) are not supported; save the map as "
                         "float32 (or 8/16/32-bit integers, float64)",
                         t->name, bits, fmt,
                         fmt == FORMAT_UINT ? "unsigned integer" : fmt == FORMAT_INT ? "signed integer"
                         : fmt == FORMAT_FLOAT ? "floating point" : "unknown");
    fm->bps = bits / 8;
    if ((st = scalar_field(t, ent, F_COMPRESSION, COMPRESSION_NONE, &compression)))
        return st;
    if (compression != COMPRESSION_NONE && compression != COMPRESSION_PACKBITS)
        return ddad_fail(DDAD_STATUS_DATA,
                         "%s: TIFF compression %u (%s) is not supported (only none and PackBits); save the map "
                         "without compression (tifffile.imwrite(..., compression=None))",
                         t->name, compression, compression_name(compression));
    fm->compression = compression;
    if ((st = scalar_field(t, ent, F_PREDICTOR, 1, &predictor)))
        return st;
    if (predictor != 1)
        return ddad_fail(DDAD_STATUS_DATA,
                         "%s: TIFF Predictor %u (%s) is not supported; save the map without a predictor or "
                         "compression",
                         t->name, predictor,
                         predictor == 2 ? "horizontal differencing" : predictor == 3 ? "floating point" : "unknown");
    if ((st = scalar_field(t, ent, F_PHOTOMETRIC, 1, &photometric)))
        return st;
    if (photometric == 3)
        return ddad_fail(DDAD_STATUS_DATA,
                         "%s: a palette (indexed colour) TIFF holds colour indices, not map values; save the "
                         "map as a grayscale float32 image",
                         t->name);
    return DDAD_OK;
}

/* One strip or tile: the image rectangle it covers and where it is. */
typedef struct tiff_chunk {
    uint64_t x0, y0, cols, rows; /* the part inside the image                 */
    uint64_t stride;             /* stored pixels per row (tile width or w)   */
    uint64_t need;               /* decoded bytes up to its last image pixel   */
    uint64_t offset, count;      /* its bytes in the file                      */
} tiff_chunk_t;

/* The chunk layout: strips or tiles. */
typedef struct tiff_layout {
    int tiled;
    uint64_t n;                 /* number of chunks                            */
    uint64_t cw, ch;            /* chunk width and height (strip: w, rows)     */
    uint64_t across;            /* chunks per row of chunks                    */
    const tiff_entry_t *offsets, *counts; /* counts may be NULL (uncompressed) */
} tiff_layout_t;

/* A strip or tile table: unsigned values, one per chunk (or more). */
static ddad_status_t check_chunk_table(const tiff_in_t *t, const tiff_entry_t *e, int f, uint64_t n,
                                       const char *what)
{
    if (!is_uint_type(e->type) || e->count < n)
        return ddad_fail(DDAD_STATUS_DATA,
                         "%s: corrupt TIFF: %s (tag %u) holds %u values of field type %u, the image needs %llu "
                         "SHORT or LONG values (one per %s)",
                         t->name, fields[f].name, fields[f].tag, e->count, e->type, (unsigned long long)n, what);
    return DDAD_OK;
}

static ddad_status_t read_layout(const tiff_in_t *t, const tiff_entry_t *ent, const tiff_format_t *fm,
                                 tiff_layout_t *ly)
{
    ddad_status_t st;
    const char *what;
    int f_off, f_cnt;
    memset(ly, 0, sizeof *ly);
    ly->tiled = ent[F_TILE_WIDTH].present || ent[F_TILE_LENGTH].present || ent[F_TILE_OFFSETS].present;
    if (ly->tiled) {
        uint32_t tw, tl;
        if (!ent[F_TILE_WIDTH].present || !ent[F_TILE_LENGTH].present)
            return ddad_fail(DDAD_STATUS_DATA, "%s: corrupt TIFF: a tiled image without %s", t->name,
                             ent[F_TILE_WIDTH].present ? "TileLength" : "TileWidth");
        if ((st = scalar_field(t, ent, F_TILE_WIDTH, 0, &tw)) || (st = scalar_field(t, ent, F_TILE_LENGTH, 0, &tl)))
            return st;
        if (tw == 0 || tl == 0 || (uint64_t)tw * tl > (uint64_t)DDAD_TIFF_MAX_PIXELS)
            return ddad_fail(DDAD_STATUS_DATA, "%s: corrupt TIFF: tiles of %u x %u pixels", t->name, tw, tl);
        ly->cw = tw;
        ly->ch = tl;
        ly->across = (fm->w + ly->cw - 1) / ly->cw;
        ly->n = ly->across * ((fm->h + ly->ch - 1) / ly->ch);
        what = "tile";
        f_off = F_TILE_OFFSETS;
        f_cnt = F_TILE_COUNTS;
    } else {
        uint32_t rps;
        if ((st = scalar_field(t, ent, F_RPS, UINT32_MAX, &rps)))
            return st;
        if (rps == 0)
            return ddad_fail(DDAD_STATUS_DATA, "%s: corrupt TIFF: RowsPerStrip is 0", t->name);
        ly->cw = fm->w;
        ly->ch = rps < fm->h ? rps : fm->h;
        ly->across = 1;
        ly->n = (fm->h + ly->ch - 1) / ly->ch;
        what = "strip";
        f_off = F_STRIP_OFFSETS;
        f_cnt = F_STRIP_COUNTS;
    }
    if (!ent[f_off].present)
        return ddad_fail(DDAD_STATUS_DATA, "%s: corrupt TIFF: no %s tag", t->name, fields[f_off].name);
    if ((st = check_chunk_table(t, &ent[f_off], f_off, ly->n, what)))
        return st;
    ly->offsets = &ent[f_off];
    if (ent[f_cnt].present) {
        if ((st = check_chunk_table(t, &ent[f_cnt], f_cnt, ly->n, what)))
            return st;
        ly->counts = &ent[f_cnt];
    } else if (fm->compression != COMPRESSION_NONE) {
        return ddad_fail(DDAD_STATUS_DATA, "%s: corrupt TIFF: compressed %ss without %s", t->name, what,
                         fields[f_cnt].name);
    }
    return DDAD_OK;
}

static void chunk_at(const tiff_in_t *t, const tiff_format_t *fm, const tiff_layout_t *ly, uint64_t i,
                     tiff_chunk_t *c)
{
    c->x0 = (i % ly->across) * ly->cw;
    c->y0 = (i / ly->across) * ly->ch;
    c->cols = fm->w - c->x0 < ly->cw ? fm->w - c->x0 : ly->cw;
    c->rows = fm->h - c->y0 < ly->ch ? fm->h - c->y0 : ly->ch;
    c->stride = ly->cw;
    c->need = ((c->rows - 1) * c->stride + c->cols) * fm->bps;
    c->offset = entry_value(t, ly->offsets, i);
    c->count = ly->counts ? entry_value(t, ly->counts, i) : c->need;
}

/* Decodes PackBits from src (n bytes) into dst until want bytes are out;
 * returns the number of bytes written (< want when the data ends early). */
static uint64_t unpackbits(const uint8_t *src, uint64_t n, uint8_t *dst, uint64_t want)
{
    uint64_t i = 0, o = 0;
    while (i < n && o < want) {
        int c = (int8_t)src[i++];
        if (c >= 0) { /* c + 1 literal bytes */
            uint64_t len = (uint64_t)c + 1;
            if (len > n - i)
                len = n - i;
            if (len > want - o)
                len = want - o;
            memcpy(dst + o, src + i, len);
            i += len;
            o += len;
        } else if (c != -128) { /* the next byte, 1 - c times */
            if (i >= n)
                break;
            uint64_t len = (uint64_t)(1 - c);
            if (len > want - o)
                len = want - o;
            memset(dst + o, src[i++], len);
            o += len;
        } /* -128: no operation */
    }
    return o;
}

/* n samples of kind k in the file's byte order -> floats. */
static void convert_samples(const uint8_t *s, float *d, uint64_t n, sample_kind_t k, int be)
{
    uint64_t i;
    switch (k) {
    case S_U8:
        for (i = 0; i < n; i++)
            d[i] = (float)s[i];
        break;
    case S_I8:
        for (i = 0; i < n; i++)
            d[i] = (float)(int8_t)s[i];
        break;
    case S_U16:
        for (i = 0; i < n; i++)
            d[i] = (float)ld16(s + 2 * i, be);
        break;
    case S_I16:
        for (i = 0; i < n; i++)
            d[i] = (float)(int16_t)(uint16_t)ld16(s + 2 * i, be);
        break;
    case S_U32:
        for (i = 0; i < n; i++)
            d[i] = (float)ld32(s + 4 * i, be);
        break;
    case S_I32:
        for (i = 0; i < n; i++)
            d[i] = (float)(int32_t)ld32(s + 4 * i, be);
        break;
    case S_F32:
        for (i = 0; i < n; i++) {
            uint32_t u = ld32(s + 4 * i, be);
            memcpy(&d[i], &u, sizeof u);
        }
        break;
    case S_F64:
        for (i = 0; i < n; i++) {
            uint64_t u = ld64(s + 8 * i, be);
            double v;
            memcpy(&v, &u, sizeof v);
            d[i] = (float)v;
        }
        break;
    }
}

ddad_status_t ddad_tiff_decode_float(const void *buf, size_t size, const char *name, float **data, int *w,
                                     int *h)
{
    if (!data || !w || !h)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_tiff_decode_float: NULL output argument");
    *data = NULL;
    *w = *h = 0;
    tiff_in_t t = {.p = buf, .size = size, .be = 0, .name = name ? name : "TIFF data"};
    if (!buf && size)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: ddad_tiff_decode_float: NULL buffer", t.name);
    tiff_entry_t ent[NFIELDS];
    tiff_format_t fm;
    tiff_layout_t ly;
    t.be = size >= 2 && t.p[0] == 'M';
    ddad_status_t st = read_ifd(&t, ent);
    if (!st)
        st = read_format(&t, ent, &fm);
    if (!st)
        st = read_layout(&t, ent, &fm, &ly);
    if (st)
        return st;
    const char *what = ly.tiled ? "tile" : "strip";

    /* Check every chunk against the file before allocating anything. */
    uint64_t total = 0, scratch = 0;
    for (uint64_t i = 0; i < ly.n; i++) {
        tiff_chunk_t c;
        chunk_at(&t, &fm, &ly, i, &c);
        if (c.offset > t.size || c.count > t.size - c.offset)
            return ddad_fail(DDAD_STATUS_DATA,
                             "%s: truncated or corrupt TIFF: %s %llu (%llu bytes at offset %llu) lies outside the "
                             "file (%llu bytes)",
                             t.name, what, (unsigned long long)i, (unsigned long long)c.count,
                             (unsigned long long)c.offset, (unsigned long long)t.size);
        total += c.count;
        if (fm.compression == COMPRESSION_NONE) {
            if (c.count < c.need)
                return ddad_fail(DDAD_STATUS_DATA,
                                 "%s: truncated or corrupt TIFF: %s %llu holds %llu bytes, its pixels need %llu",
                                 t.name, what, (unsigned long long)i, (unsigned long long)c.count,
                                 (unsigned long long)c.need);
        } else {
            if (c.need > 64 * c.count)
                return ddad_fail(DDAD_STATUS_DATA,
                                 "%s: truncated or corrupt TIFF: PackBits %s %llu of %llu bytes cannot hold the "
                                 "%llu bytes of its pixels",
                                 t.name, what, (unsigned long long)i, (unsigned long long)c.count,
                                 (unsigned long long)c.need);
            if (c.need > scratch)
                scratch = c.need;
        }
    }
    if (total > t.size)
        return ddad_fail(DDAD_STATUS_DATA,
                         "%s: corrupt TIFF: the %llu %ss' byte counts add up to %llu, more than the file's %llu "
                         "bytes (overlapping %ss)",
                         t.name, (unsigned long long)ly.n, what, (unsigned long long)total,
                         (unsigned long long)t.size, what);

    uint64_t npix = (uint64_t)fm.w * fm.h;
    float *out = malloc(npix * sizeof *out);
    uint8_t *tmp = scratch ? malloc(scratch) : NULL;
    if (!out || (scratch && !tmp)) {
        free(out);
        free(tmp);
        return ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory for a %u x %u map", t.name, fm.w, fm.h);
    }
    for (uint64_t i = 0; i < ly.n; i++) {
        tiff_chunk_t c;
        chunk_at(&t, &fm, &ly, i, &c);
        const uint8_t *src = t.p + c.offset;
        if (fm.compression == COMPRESSION_PACKBITS) {
            uint64_t got = unpackbits(src, c.count, tmp, c.need);
            if (got < c.need) {
                free(out);
                free(tmp);
                return ddad_fail(DDAD_STATUS_DATA,
                                 "%s: truncated or corrupt TIFF: the PackBits data of %s %llu ends after %llu of "
                                 "%llu bytes",
                                 t.name, what, (unsigned long long)i, (unsigned long long)got,
                                 (unsigned long long)c.need);
            }
            src = tmp;
        }
        for (uint64_t r = 0; r < c.rows; r++)
            convert_samples(src + r * c.stride * fm.bps, out + (c.y0 + r) * fm.w + c.x0, c.cols, fm.kind, t.be);
    }
    free(tmp);
    *data = out;
    *w = (int)fm.w;
    *h = (int)fm.h;
    return DDAD_OK;
}

ddad_status_t ddad_tiff_read_float(const char *path, float **data, int *w, int *h)
{
    if (!path || !data || !w || !h)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_tiff_read_float: NULL argument");
    *data = NULL;
    *w = *h = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ddad_fail(errno == ENOENT ? DDAD_STATUS_DATA : DDAD_STATUS_IO, "%s: cannot open the TIFF: %s", path,
                         strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        int err = errno;
        fclose(f);
        return ddad_fail(DDAD_STATUS_IO, "%s: cannot read the TIFF: %s", path, strerror(err));
    }
    if (!S_ISREG(sb.st_mode)) {
        fclose(f);
        return ddad_fail(DDAD_STATUS_DATA, "%s: not a regular file (%s); expected a TIFF image", path,
                         S_ISDIR(sb.st_mode) ? "a folder" : "a device, pipe or socket");
    }
    if ((uint64_t)sb.st_size > TIFF_MAX_FILE_BYTES) {
        fclose(f);
        return ddad_fail(DDAD_STATUS_DATA,
                         "%s: %lld bytes is larger than any map this reader accepts (%lld Mpixel of float64)",
                         path, (long long)sb.st_size, (long long)(DDAD_TIFF_MAX_PIXELS >> 20));
    }
    size_t size = (size_t)sb.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        fclose(f);
        return ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory for %zu bytes", path, size);
    }
    size_t got = fread(buf, 1, size, f);
    int bad = ferror(f);
    int err = errno;
    fclose(f);
    if (bad || got != size) {
        free(buf);
        return ddad_fail(DDAD_STATUS_IO, "%s: read %zu of %zu bytes: %s", path, got, size,
                         bad ? strerror(err) : "the file shrank while being read");
    }
    ddad_status_t st = ddad_tiff_decode_float(buf, size, path, data, w, h);
    free(buf);
    return st;
}

/* ---- writing ------------------------------------------------------------ */

#define WRITE_NTAGS 14

typedef struct tiff_writer {
    const char *path;
    const float *data;
    uint32_t w, h;
} tiff_writer_t;

static void put16(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *b, uint32_t v)
{
    put16(b, v & 0xffff);
    put16(b + 2, v >> 16);
}

/* IFD entry k of the IFD at b + 8; SHORT and LONG values of count 1 are
 * stored in the entry, others (and RATIONALs) at the offset v. */
static void put_entry(uint8_t *b, int k, unsigned tag, unsigned type, uint32_t count, uint32_t v)
{
    uint8_t *e = b + 8 + 2 + 12 * k;
    put16(e, tag);
    put16(e + 2, type);
    put32(e + 4, count);
    if (type == TYPE_SHORT && count == 1)
        put16(e + 8, v); /* left-justified, the other 2 bytes stay 0 */
    else
        put32(e + 8, v);
}

static ddad_status_t write_tiff(FILE *f, const tiff_writer_t *wr)
{
    uint64_t rowbytes = (uint64_t)wr->w * 4;
    uint64_t rps = DDAD_TIFF_STRIP_BYTES / rowbytes;
    if (rps < 1)
        rps = 1;
    if (rps > wr->h)
        rps = wr->h;
    uint64_t nstrips = (wr->h + rps - 1) / rps;
    /* header (8) | IFD (2 + 12 n + 4) | X/YResolution (8 + 8) | strip
     * offsets and byte counts (4 nstrips each, when nstrips > 1) | pixels at
     * a 16-byte boundary */
    uint64_t ifd_end = 8 + 2 + 12 * WRITE_NTAGS + 4;
    uint64_t xres = (ifd_end + 3) & ~(uint64_t)3, yres = xres + 8;
    uint64_t offs = yres + 8, cnts = offs + (nstrips > 1 ? 4 * nstrips : 0);
    uint64_t pix = (cnts + (nstrips > 1 ? 4 * nstrips : 0) + 15) & ~(uint64_t)15;
    uint8_t *head = calloc(pix, 1);
    if (!head)
        return ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory", wr->path);
    memcpy(head, "II", 2);
    put16(head + 2, 42);
    put32(head + 4, 8);
    put16(head + 8, WRITE_NTAGS);
    uint32_t strip_bytes = (uint32_t)(rps * rowbytes);
    int k = 0;
    put_entry(head, k++, TAG_IMAGE_WIDTH, TYPE_LONG, 1, wr->w);
    put_entry(head, k++, TAG_IMAGE_LENGTH, TYPE_LONG, 1, wr->h);
    put_entry(head, k++, TAG_BITS_PER_SAMPLE, TYPE_SHORT, 1, 32);
    put_entry(head, k++, TAG_COMPRESSION, TYPE_SHORT, 1, COMPRESSION_NONE);
    put_entry(head, k++, TAG_PHOTOMETRIC, TYPE_SHORT, 1, 1); /* BlackIsZero */
    put_entry(head, k++, TAG_STRIP_OFFSETS, TYPE_LONG, (uint32_t)nstrips, (uint32_t)(nstrips > 1 ? offs : pix));
    put_entry(head, k++, TAG_SAMPLES_PER_PIXEL, TYPE_SHORT, 1, 1);
    put_entry(head, k++, TAG_ROWS_PER_STRIP, TYPE_LONG, 1, (uint32_t)rps);
    put_entry(head, k++, TAG_STRIP_BYTE_COUNTS, TYPE_LONG, (uint32_t)nstrips,
              nstrips > 1 ? (uint32_t)cnts : strip_bytes);
    put_entry(head, k++, TAG_X_RESOLUTION, TYPE_RATIONAL, 1, (uint32_t)xres);
    put_entry(head, k++, TAG_Y_RESOLUTION, TYPE_RATIONAL, 1, (uint32_t)yres);
    put_entry(head, k++, TAG_PLANAR_CONFIG, TYPE_SHORT, 1, 1);
    put_entry(head, k++, TAG_RESOLUTION_UNIT, TYPE_SHORT, 1, 1); /* none */
    put_entry(head, k++, TAG_SAMPLE_FORMAT, TYPE_SHORT, 1, FORMAT_FLOAT);
    /* next IFD offset: 0 (calloc) */
    put32(head + xres, 1);
    put32(head + xres + 4, 1);
    put32(head + yres, 1);
    put32(head + yres + 4, 1);
    if (nstrips > 1) {
        for (uint64_t s = 0; s < nstrips; s++) {
            uint64_t rows = wr->h - s * rps < rps ? wr->h - s * rps : rps;
            put32(head + offs + 4 * s, (uint32_t)(pix + s * rps * rowbytes));
            put32(head + cnts + 4 * s, (uint32_t)(rows * rowbytes));
        }
    }
    ddad_status_t st = DDAD_OK;
    uint8_t *row = malloc(rowbytes);
    if (!row)
        st = ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory", wr->path);
    else if (fwrite(head, 1, pix, f) != pix)
        st = ddad_fail(DDAD_STATUS_IO, "%s: cannot write the TIFF header: %s", wr->path, strerror(errno));
    for (uint64_t y = 0; st == DDAD_OK && y < wr->h; y++) {
        const float *src = wr->data + y * wr->w;
        for (uint64_t x = 0; x < wr->w; x++) {
            uint32_t u;
            memcpy(&u, &src[x], sizeof u);
            put32(row + 4 * x, u);
        }
        if (fwrite(row, 1, rowbytes, f) != rowbytes)
            st = ddad_fail(DDAD_STATUS_IO, "%s: cannot write the TIFF pixels: %s", wr->path, strerror(errno));
    }
    free(row);
    free(head);
    return st;
}

static ddad_status_t write_tiff_to(FILE *f, void *user) { return write_tiff(f, user); }

ddad_status_t ddad_tiff_write_float(const char *path, const float *data, int w, int h)
{
    if (!path || !*path || !data)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_tiff_write_float: NULL %s", !data ? "data" : "path");
    if (w <= 0 || h <= 0 || (int64_t)w * h > DDAD_TIFF_MAX_PIXELS)
        return ddad_fail(DDAD_STATUS_USAGE, "%s: cannot write a %d x %d TIFF map (1 to %lld Mpixel)", path, w, h,
                         (long long)(DDAD_TIFF_MAX_PIXELS >> 20));
    tiff_writer_t wr = {.path = path, .data = data, .w = (uint32_t)w, .h = (uint32_t)h};
    return ddad_run_write_atomic(path, write_tiff_to, &wr);
}
