/* core/io/tiff.h - float32 single-channel TIFF, the anomaly-map files of MVTec
 * AD's official evaluation script (it reads one map per test image with
 * tifffile.imread, e.g. anomaly_maps/bottle/test/broken_large/000.tiff).
 * Plain C, no libtiff.
 *
 *     float map[256 * 256];                       // (H, W), row-major
 *     if (ddad_tiff_write_float("000.tiff", map, 256, 256)) ... error
 *     float *m = NULL;
 *     int w, h;
 *     if (ddad_tiff_read_float("000.tiff", &m, &w, &h)) ... error
 *     ...                                         // m[y * w + x]
 *     free(m);
 *
 * Writing: an uncompressed little-endian baseline TIFF ("II"), one IFD:
 * 1 sample per pixel, BitsPerSample 32, SampleFormat 3 (IEEE float),
 * PhotometricInterpretation 1 (BlackIsZero), PlanarConfiguration 1,
 * Compression 1, X/YResolution 1/1 with ResolutionUnit 1 (none), and the
 * pixels in strips of at most DDAD_TIFF_STRIP_BYTES (one strip for maps up
 * to 256 x 256). The bytes are deterministic (no date, no software tag).
 * The file goes to "<path>.tmp", is flushed and fsync'ed, then renamed over
 * path (complete or absent; the temporary file is removed on failure).
 *
 * Reading: the first image (IFD) of a classic TIFF, either byte order
 * ("II" or "MM"), stored in strips (any RowsPerStrip; offsets and byte
 * counts as SHORT or LONG) or tiles (TileWidth / TileLength / TileOffsets /
 * TileByteCounts), uncompressed (Compression 1) or PackBits (32773), with
 * one sample per pixel of these types, converted to float as their value
 * (no rescaling: a uint8 255 reads as 255.0f):
 *   SampleFormat 3 (IEEE float)    32 or 64 bits (float64 rounded to float)
 *   SampleFormat 1 (unsigned)      8, 16 or 32 bits (default when absent)
 *   SampleFormat 2 (signed)        8, 16 or 32 bits
 * Refused with DDAD_STATUS_DATA and a message naming the file, the problem
 * and a remedy: not a TIFF, a truncated file, BigTIFF, several samples per
 * pixel (RGB, gray + alpha), palette images, other compressions (LZW,
 * Deflate, JPEG, ...), a Predictor other than 1, other bit depths (1-bit,
 * float16, 12-bit, ...), offsets or byte counts outside the file, strips
 * or tiles whose byte counts add up to more than the file (overlapping),
 * and sizes of zero or over DDAD_TIFF_MAX_PIXELS. A missing file is DDAD_STATUS_DATA,
 * another failure to read it DDAD_STATUS_IO. The reader checks every offset
 * and length against the file before use and allocates the output only
 * once all pixel data has been found in the file, so that a corrupt header
 * cannot make it read out of bounds or allocate far more than the file
 * holds (PackBits expands at most 64 times). The file is read into memory
 * whole.
 *
 * Ownership: on success *data is a malloc'ed (h, w) row-major array that
 * the caller frees with free(); on failure *data is NULL and *w = *h = 0.
 */
#ifndef DDAD_TIFF_H
#define DDAD_TIFF_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest image (w * h) that reading and writing accept: 256 Mpixel
 * (1 GiB of floats), e.g. 16384 x 16384. */
#define DDAD_TIFF_MAX_PIXELS ((int64_t)1 << 28)

/* Largest strip the writer makes (bytes); a strip holds at least one row. */
#define DDAD_TIFF_STRIP_BYTES ((size_t)1 << 18)

/* Writes data, (h, w) row-major, as a float32 TIFF at path (see above).
 * DDAD_STATUS_USAGE for NULL arguments or a size out of range,
 * DDAD_STATUS_IO when the file can't be written. */
ddad_status_t ddad_tiff_write_float(const char *path, const float *data, int w, int h);

/* Reads the first image of the TIFF at path into a new float array
 * (see above for what is supported and who frees it). */
ddad_status_t ddad_tiff_read_float(const char *path, float **data, int *w, int *h);

/* The same from the size bytes of a TIFF file held in memory; name is the
 * file's name in messages (NULL: "TIFF data"). */
ddad_status_t ddad_tiff_decode_float(const void *buf, size_t size, const char *name, float **data, int *w,
                                     int *h);

#ifdef __cplusplus
}
#endif
#endif
