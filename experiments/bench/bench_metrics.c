/* experiments/bench/bench_metrics.c - times ddad's pixel metrics.
 *
 *   bench_metrics file MAPS.h5 [REPEAT]   maps file held in memory; times
 *                                          pixel AUROC, AU-PRO, F1-max alone
 *                                          and all three in one pass
 *   bench_metrics synth N SIZE [REPEAT]    N smooth SIZE x SIZE maps made in
 *                                          memory (blob defects on half)
 *
 * Prints "metric cpu_seconds value wall_seconds" lines (best of REPEAT,
 * default 3; CPU time of the process, robust on a shared machine), then the
 * peak RSS (getrusage) and the memory beyond the maps and masks in bytes
 * per pixel. Driven by bench_metrics.sh.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "mapsfile.h"
#include "metrics.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_bytes(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return 1024.0 * (double)ru.ru_maxrss;
}

static double rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

static int die(ddad_status_t st)
{
    fprintf(stderr, "bench_metrics: %s\n", ddad_last_error());
    return ddad_status_exit_code(st);
}

/* Loads a whole maps file: maps (N, H, W), masks (N, H, W). */
static ddad_status_t load_file(const char *path, float **maps, uint8_t **masks, int64_t *n, int64_t *h, int64_t *w)
{
    ddad_mapsfile_t *f;
    ddad_status_t st = ddad_mapsfile_open(&f, path);
    if (st != DDAD_OK)
        return st;
    const ddad_mapsfile_info_t *in = ddad_mapsfile_info(f);
    *n = in->n, *h = in->h, *w = in->w;
    size_t hw = (size_t)(in->h * in->w);
    *maps = malloc((size_t)in->n * hw * sizeof **maps);
    *masks = malloc((size_t)in->n * hw);
    if (!*maps || !*masks)
        st = ddad_fail(DDAD_STATUS_NOMEM, "cannot hold %s in memory", path);
    for (int64_t i = 0; st == DDAD_OK && i < in->n; i++)
        st = ddad_mapsfile_read_image(f, i, *maps + (size_t)i * hw, *masks + (size_t)i * hw);
    ddad_mapsfile_close(f);
    return st;
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static double unit(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* Smooth maps: a sum of a few random low-frequency waves plus small noise;
 * on even images 1..3 elliptic defects that also raise the map. */
static void synth(float *maps, uint8_t *masks, int64_t n, int64_t s)
{
    for (int64_t i = 0; i < n; i++) {
        float *m = maps + i * s * s;
        uint8_t *g = masks + i * s * s;
        double a[3], fy[3], fx[3], ph[3];
        for (int k = 0; k < 3; k++)
            a[k] = unit(), fy[k] = 6.0 * unit() / s, fx[k] = 6.0 * unit() / s, ph[k] = 6.28 * unit();
        for (int64_t y = 0; y < s; y++)
            for (int64_t x = 0; x < s; x++) {
                double v = 0.05 * unit();
                for (int k = 0; k < 3; k++)
                    v += a[k] * sin(fy[k] * y + fx[k] * x + ph[k]);
                m[y * s + x] = (float)v;
                g[y * s + x] = 0;
            }
        if (i % 2)
            continue;
        int blobs = 1 + (int)(3 * unit());
        for (int b = 0; b < blobs; b++) {
            double cy = s * (0.1 + 0.8 * unit()), cx = s * (0.1 + 0.8 * unit());
            double ry = s * (0.02 + 0.08 * unit()), rx = s * (0.02 + 0.08 * unit());
            for (int64_t y = 0; y < s; y++)
                for (int64_t x = 0; x < s; x++) {
                    double d = (y - cy) * (y - cy) / (ry * ry) + (x - cx) * (x - cx) / (rx * rx);
                    if (d <= 1.0)
                        g[y * s + x] = 255;
                    if (d < 9.0)
                        m[y * s + x] += (float)(1.5 * exp(-d / 2.25));
                }
        }
    }
}

/* Best-of-repeat CPU and wall time of one pixel_eval. */
static ddad_status_t time_eval(const ddad_pixel_source_t *src, unsigned what, int repeat, double *cpu, double *wall,
                               ddad_pixel_metrics_t *m)
{
    *cpu = *wall = INFINITY;
    for (int r = 0; r < repeat; r++) {
        double c0 = cpu_now(), t0 = now();
        ddad_status_t st = ddad_metrics_pixel_eval(src, what, DDAD_METRICS_DEFAULT_PRO_LIMIT, NULL, m);
        double c = cpu_now() - c0, t = now() - t0;
        if (st != DDAD_OK)
            return st;
        *cpu = c < *cpu ? c : *cpu;
        *wall = t < *wall ? t : *wall;
    }
    return DDAD_OK;
}

int main(int argc, char **argv)
{
    float *maps = NULL;
    uint8_t *masks = NULL;
    int64_t n, h, w;
    int repeat = 3;
    ddad_status_t st;
    double rss0 = rss_bytes();
    if (argc >= 3 && !strcmp(argv[1], "file")) {
        if ((st = load_file(argv[2], &maps, &masks, &n, &h, &w)) != DDAD_OK)
            return die(st);
        if (argc > 3)
            repeat = atoi(argv[3]);
    } else if (argc >= 4 && !strcmp(argv[1], "synth")) {
        n = atoll(argv[2]);
        h = w = atoll(argv[3]);
        maps = malloc((size_t)(n * h * w) * sizeof *maps);
        masks = malloc((size_t)(n * h * w));
        if (!maps || !masks || n <= 0 || h <= 0) {
            fprintf(stderr, "bench_metrics: cannot make %lld maps of %lld x %lld\n", (long long)n, (long long)h,
                    (long long)w);
            return 2;
        }
        synth(maps, masks, n, h);
        if (argc > 4)
            repeat = atoi(argv[4]);
    } else {
        fprintf(stderr, "usage: bench_metrics file MAPS.h5 [REPEAT] | synth N SIZE [REPEAT]\n");
        return 2;
    }
    double rss_data = rss_bytes();
    double pixels = (double)n * (double)h * (double)w;
    ddad_pixel_source_t src;
    ddad_pixel_arrays_t arr;
    ddad_pixel_source_from_arrays(&src, &arr, maps, masks, n, h, w);
    struct {
        const char *name;
        unsigned what;
    } runs[] = {{"pixel_auroc", DDAD_METRICS_AUROC},
                {"au_pro", DDAD_METRICS_PRO},
                {"pixel_f1_max", DDAD_METRICS_F1},
                {"all_three", DDAD_METRICS_ALL}};
    printf("pixels %.0f\n", pixels);
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        double cpu, wall;
        ddad_pixel_metrics_t m;
        if ((st = time_eval(&src, runs[k].what, repeat, &cpu, &wall, &m)) != DDAD_OK)
            return die(st);
        double v = runs[k].what == DDAD_METRICS_PRO ? m.au_pro : runs[k].what == DDAD_METRICS_F1 ? m.f1_max : m.auroc;
        printf("%s %.4f %.10f %.4f\n", runs[k].name, cpu, v, wall);
    }
    double peak = peak_rss_bytes();
    printf("peak_rss_mb %.1f\n", peak / 1048576.0);
    printf("maps_masks_mb %.1f\n", (rss_data - rss0) / 1048576.0);
    printf("bytes_per_pixel_beyond_maps %.2f\n", (peak - rss_data) / pixels);
    free(maps);
    free(masks);
    return 0;
}
