/* core/data/synth_common.h - pieces shared by the two data set generators,
 * core/data/synth.c (drawn images) and core/data/synth_images.c (crops of real
 * images): the seeded generator streams, value noise, the irregular blob
 * shape, and the output folder with its .ddad-synthetic marker.
 *
 * Internal to libddad: programs use synth.h and synth_images.h.
 *
 *     ddad_synth_rng_t r = ddad_synth_rng_stream(seed, "woven", 0, "good", 7);
 *     double u = ddad_synth_rng_unif(&r);          // [0, 1)
 *     ddad_synth_blob(region, S, cx, cy, 40.0, &r); // (S, S) 0/1, about 40 px
 *
 * The generators promise byte-identical output for a seed, so none of these
 * may change what it draws or returns.
 */
#ifndef DDAD_SYNTH_COMMON_H
#define DDAD_SYNTH_COMMON_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- generator: splitmix64 ------------------------------------------------ */

typedef struct ddad_synth_rng {
    uint64_t s;
} ddad_synth_rng_t;

static inline uint64_t ddad_synth_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t ddad_synth_rng_next(ddad_synth_rng_t *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    return ddad_synth_mix64(r->s);
}

/* uniform in [0, 1), in [a, b), log-uniform in [a, b), standard normal */
static inline double ddad_synth_rng_unif(ddad_synth_rng_t *r)
{
    return (double)(ddad_synth_rng_next(r) >> 11) * 0x1.0p-53;
}
static inline double ddad_synth_rng_range(ddad_synth_rng_t *r, double a, double b)
{
    return a + (b - a) * ddad_synth_rng_unif(r);
}
static inline double ddad_synth_rng_logrange(ddad_synth_rng_t *r, double a, double b)
{
    return exp(ddad_synth_rng_range(r, log(a), log(b)));
}
static inline double ddad_synth_rng_norm(ddad_synth_rng_t *r)
{
    double u = ddad_synth_rng_unif(r), v = ddad_synth_rng_unif(r);
    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* An independent stream per (seed, category, kind, defect, index). */
ddad_synth_rng_t ddad_synth_rng_stream(uint64_t seed, const char *category, int kind, const char *defect, int index);

/* ---- drawing -------------------------------------------------------------- */

/* Rounds to 8 bits with clamping to [0, 255]. */
static inline uint8_t ddad_synth_q8(double v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lround(v)); }

/* The "hole" and "colour" defects of one pixel: a dark fill; the colour
 * channels rotated (s, d: 3 bytes; n: a standard normal draw; shift: 45..80). */
static inline void ddad_synth_hole_pixel(uint8_t *d, double n)
{
    for (int k = 0; k < 3; k++)
        d[k] = ddad_synth_q8(18 + 6 * k + 3 * n);
}
static inline void ddad_synth_colour_pixel(const uint8_t *s, uint8_t *d, double n, double shift)
{
    d[0] = ddad_synth_q8(s[1] + 2 * n);
    d[1] = ddad_synth_q8(s[2] + shift * 0.3);
    d[2] = ddad_synth_q8(s[0] + shift);
}

/* Lattice value noise in [0, 1], smooth in (x, y), keyed by key. */
double ddad_synth_value_noise(uint64_t key, double x, double y);

/* Irregular blob of about `area` pixels around (cx, cy): region (S, S) gets 1
 * inside, 0 outside. Draws 4 numbers from r. */
void ddad_synth_blob(uint8_t *region, int S, double cx, double cy, double area, ddad_synth_rng_t *r);

/* ---- files ---------------------------------------------------------------- */

/* mkdir -p. DDAD_STATUS_IO with the folder's name on failure. */
ddad_status_t ddad_synth_mkdirs(const char *path);

/* Makes dir ready for a generator: a new folder is created; an existing one
 * must carry the .ddad-synthetic marker (else DDAD_STATUS_IO and nothing is
 * touched), and its PNG files below train/, test/, ground_truth/ and
 * test_source/ are removed. Writes the marker. */
ddad_status_t ddad_synth_prepare_category_dir(const char *dir);

/* Writes (S, S, 3) bytes as an RGB PNG. */
ddad_status_t ddad_synth_write_rgb(const uint8_t *px, int S, const char *path);

#ifdef __cplusplus
}
#endif
#endif
