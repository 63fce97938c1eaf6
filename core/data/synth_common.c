/* core/data/synth_common.c - see synth_common.h */
#include "synth_common.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

ddad_synth_rng_t ddad_synth_rng_stream(uint64_t seed, const char *cat, int kind, const char *defect, int index)
{
    uint64_t h = ddad_synth_mix64(seed + 0x51u);
    h = ddad_synth_mix64(h ^ hash_str(cat));
    h = ddad_synth_mix64(h ^ (uint64_t)kind * 0x1234567ull);
    h = ddad_synth_mix64(h ^ hash_str(defect));
    h = ddad_synth_mix64(h ^ (uint64_t)index);
    return (ddad_synth_rng_t){h};
}

static double smoothstep01(double t) { return t * t * (3 - 2 * t); }

/* period-free: values from a small hashed grid */
double ddad_synth_value_noise(uint64_t key, double x, double y)
{
    int xi = (int)floor(x), yi = (int)floor(y);
    double fx = smoothstep01(x - xi), fy = smoothstep01(y - yi);
    double v[4];
    for (int k = 0; k < 4; k++) {
        uint64_t h = ddad_synth_mix64(key ^ ddad_synth_mix64((uint64_t)(uint32_t)(xi + (k & 1)) * 73856093ull ^
                                                             (uint64_t)(uint32_t)(yi + (k >> 1)) * 19349663ull));
        v[k] = (double)(h >> 11) * 0x1.0p-53;
    }
    return (1 - fy) * ((1 - fx) * v[0] + fx * v[1]) + fy * ((1 - fx) * v[2] + fx * v[3]);
}

void ddad_synth_blob(uint8_t *region, int S, double cx, double cy, double area, ddad_synth_rng_t *r)
{
    double rad = sqrt(area / M_PI);
    double a1 = ddad_synth_rng_range(r, 0, 2 * M_PI), a2 = ddad_synth_rng_range(r, 0, 2 * M_PI);
    double e = ddad_synth_rng_range(r, 0.6, 1.4);
    double th = ddad_synth_rng_range(r, 0, M_PI), ct = cos(th), st = sin(th);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double dx = x - cx, dy = y - cy;
            double u = (ct * dx + st * dy) / sqrt(e), v = (-st * dx + ct * dy) * sqrt(e);
            double phi = atan2(v, u), d = sqrt(u * u + v * v);
            double rr = rad * (1 + 0.22 * sin(3 * phi + a1) + 0.12 * sin(5 * phi + a2));
            region[(size_t)y * S + x] = d < rr;
        }
}

ddad_status_t ddad_synth_mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char ch = *p;
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return ddad_fail(DDAD_STATUS_IO, "%s: cannot create folder: %s", buf, strerror(errno));
            *p = ch;
            if (!ch)
                break;
        }
    }
    return DDAD_OK;
}

/* Removes *.png files below dir (recursively) and then empty folders. */
static void remove_pngs(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) != 0)
            continue;
        size_t l = strlen(e->d_name);
        if (S_ISDIR(sb.st_mode))
            remove_pngs(p);
        else if (S_ISREG(sb.st_mode) && l > 4 && !strcmp(e->d_name + l - 4, ".png"))
            unlink(p);
    }
    closedir(d);
    rmdir(dir); /* only succeeds when empty */
}

ddad_status_t ddad_synth_write_rgb(const uint8_t *px, int S, const char *path)
{
    ddad_image_t im = {S, S, 3, (uint8_t *)px};
    return ddad_image_write_png(&im, path);
}

ddad_status_t ddad_synth_prepare_category_dir(const char *dir)
{
    struct stat sb;
    char marker[4096];
    snprintf(marker, sizeof marker, "%s/.ddad-synthetic", dir);
    if (stat(dir, &sb) == 0) {
        if (stat(marker, &sb) != 0)
            return ddad_fail(DDAD_STATUS_IO,
                             "%s exists and was not written by the synthetic generator (no .ddad-synthetic "
                             "marker); refusing to overwrite it: choose another --out",
                             dir);
        const char *subs[] = {"train", "test", "ground_truth", "test_source"};
        for (int i = 0; i < 4; i++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", dir, subs[i]);
            remove_pngs(p);
        }
    }
    ddad_status_t st = ddad_synth_mkdirs(dir);
    if (st)
        return st;
    FILE *f = fopen(marker, "w");
    if (!f)
        return ddad_fail(DDAD_STATUS_IO, "%s: cannot write: %s", marker, strerror(errno));
    fputs("written by ddad-synth; this folder may be regenerated\n", f);
    fclose(f);
    return DDAD_OK;
}
