/* core/io/image.h - 8-bit image I/O (PNG, JPEG, BMP), PIL-exact resizing, and
 * conversion to the float layout the models consume.
 *
 *     ddad_image_t img = {0}, small = {0};
 *     if (ddad_image_load(&img, "bottle/test/crack/003.png", DDAD_IMAGE_RGB)) ...
 *     ddad_image_resize_bicubic(&img, 256, 256, &small);   // == PIL Image.resize(BICUBIC)
 *     float *x = malloc(3 * 256 * 256 * sizeof *x);
 *     ddad_image_to_chw(&small, x);                        // (3, 256, 256) in [-1, 1]
 *     ddad_image_free(&img); ddad_image_free(&small);
 *
 * Decoding: PNG (1/2/4/8/16-bit gray, gray+alpha, RGB, RGBA, palette; 16-bit
 * samples keep their high byte), JPEG (gray or YCbCr; CMYK is refused), BMP
 * (uncompressed 24/32-bit, 8-bit paletted, bottom-up or top-down). The format
 * is recognised from the file's first bytes, not its name. Alpha is dropped
 * without compositing (as PIL's convert("RGB")). Truncated or corrupt files
 * fail with DDAD_STATUS_DATA and a message naming the file and the problem;
 * libpng/libjpeg errors are caught with setjmp, never printed. Images larger
 * than DDAD_IMAGE_MAX_PIXELS are refused from their header, before any pixel
 * memory is allocated (a 500-byte file can declare 30000x30000 pixels).
 *
 * Resizing: ddad_image_resize_bicubic reproduces Pillow's Image.resize(size,
 * BICUBIC) (a = -0.5, support scaled by the reduction factor, i.e.
 * antialiased; separable, horizontal pass first, 22-bit fixed-point weights,
 * rounding to 8 bits between the passes), which is what torchvision's Resize
 * does on PIL images. ddad_image_resize_nearest reproduces Image.resize(size,
 * NEAREST) (source index floor((i + 0.5) * in / out)).
 *
 * Ownership: an ddad_image_t owns its data (malloc'ed); ddad_image_free
 * releases it and zeroes the struct (accepts NULL and already-freed images).
 * Functions that fill an output image free its previous content first, so
 * outputs must be zero-initialised or hold a valid image.
 */
#ifndef DDAD_IMAGE_H
#define DDAD_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest image (width * height) that load and probe accept: 64 Mpixel, e.g.
 * 8192x8192, eight times the largest image of MVTec AD, VisA or BTAD. */
#define DDAD_IMAGE_MAX_PIXELS ((int64_t)1 << 26)

typedef struct ddad_image {
    int w, h, c;   /* width, height, channels (1 or 3 after loading)          */
    uint8_t *data; /* (H, W, C), row-major, interleaved channels              */
} ddad_image_t;

typedef enum ddad_image_mode {
    DDAD_IMAGE_RGB = 0, /* always 3 channels: gray is replicated, alpha dropped   */
    DDAD_IMAGE_GRAY     /* always 1 channel (masks): colour is converted with
                           ITU-R 601 weights as PIL's convert("L")                */
} ddad_image_mode_t;

/* Decodes path into img (freed first). DDAD_STATUS_DATA for unknown formats,
 * corrupt or truncated files; DDAD_STATUS_IO when the file can't be opened. */
ddad_status_t ddad_image_load(ddad_image_t *img, const char *path, ddad_image_mode_t mode);

/* Validates a file without decoding its pixels: reads the header (size and
 * channels of the stored image: 1 gray, 2 gray+alpha, 3 RGB / palette, 4 RGBA)
 * and checks the file's structure: every PNG chunk up to IEND is present
 * (lengths, no CRC), a JPEG ends with its EOI marker, a BMP holds all rows.
 * Any of w, h, c may be NULL. */
ddad_status_t ddad_image_probe(const char *path, int *w, int *h, int *c);

/* Writes an 8-bit PNG: c = 1 (gray) or 3 (RGB). Deterministic bytes (no
 * timestamps). Writes to "<path>.tmp" then renames. */
ddad_status_t ddad_image_write_png(const ddad_image_t *img, const char *path);

/* Allocates a zeroed w x h x c image into img (freed first). */
ddad_status_t ddad_image_alloc(ddad_image_t *img, int w, int h, int c);
void ddad_image_free(ddad_image_t *img);

/* Pillow-exact resizes (see above). out may not alias in. */
ddad_status_t ddad_image_resize_bicubic(const ddad_image_t *in, int w, int h, ddad_image_t *out);
ddad_status_t ddad_image_resize_nearest(const ddad_image_t *in, int w, int h, ddad_image_t *out);

/* (H, W, C) uint8 -> (C, H, W) float, v / 127.5 - 1, into out (C*H*W floats). */
void ddad_image_to_chw(const ddad_image_t *img, float *out);

/* Loads an image file as RGB, resizes it to size x size (Pillow-exact
 * bicubic, as the training loader does) and writes (3, size, size) floats in
 * [-1, 1] to out. */
ddad_status_t ddad_image_load_chw(const char *path, int size, float *out);

/* Mask binarisation: out[i] = 1 if channel 0 of pixel i > threshold, else 0.
 * out holds H*W bytes, layout (H, W). Thresholds: 127 for 0/255 masks. */
void ddad_image_binarize(const ddad_image_t *mask, int threshold, uint8_t *out);

#ifdef __cplusplus
}
#endif
#endif
