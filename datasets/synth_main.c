/* ddad-synth - write the seeded synthetic data set (MVTec AD layout).
 *
 *   ddad-synth [--out DIR] [--size N] [--train N] [--test-good N]
 *              [--test-defect N] [--seed N] [--categories a,b,...]
 *
 * Exit codes: 0 ok, 2 usage, 5 I/O (see core/status.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "synth.h"

static void usage(FILE *f)
{
    size_t n;
    const char *const *cats = ddad_synth_categories(&n);
    fprintf(f,
            "usage: ddad-synth [options]\n"
            "  --out DIR          output root (default datasets/synthetic)\n"
            "  --size N           image side in pixels (default 64)\n"
            "  --train N          training images per category (default 60)\n"
            "  --test-good N      good test images per category (default 10)\n"
            "  --test-defect N    test images per defect type (default 6)\n"
            "  --seed N           generator seed (default 0); same seed, same bytes\n"
            "  --categories LIST  comma-separated subset of:");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%s", i ? ", " : " ", cats[i]);
    fprintf(f, "\n");
}

static int parse_int(const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v ? v : "", &end, 10);
    if (!v || !*v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "ddad-synth: %s needs an integer in [%ld, %ld], got '%s'\n", opt, lo, hi, v ? v : "");
        return -1;
    }
    *out = x;
    return 0;
}

static void report(const char *cat, const char *dir, int ntr, int ngood, int ndef, double amin, double amax,
                   void *user)
{
    (void)user;
    printf("%-12s %-40s train %4d  test good %3d  test defective %3d  defect area %.2f%%..%.2f%%\n", cat, dir, ntr,
           ngood, ndef, 100 * amin, 100 * amax);
}

int main(int argc, char **argv)
{
    ddad_synth_opts_t o = ddad_synth_opts_default();
    const char *cats[16];
    char *catbuf = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--out") && v) {
            o.out = v;
        } else if (!strcmp(a, "--size")) {
            if (parse_int(a, v, 32, 1024, &x))
                return 2;
            o.size = (int)x;
        } else if (!strcmp(a, "--train")) {
            if (parse_int(a, v, 1, 100000, &x))
                return 2;
            o.n_train = (int)x;
        } else if (!strcmp(a, "--test-good")) {
            if (parse_int(a, v, 0, 100000, &x))
                return 2;
            o.n_test_good = (int)x;
        } else if (!strcmp(a, "--test-defect")) {
            if (parse_int(a, v, 0, 100000, &x))
                return 2;
            o.n_test_defect = (int)x;
        } else if (!strcmp(a, "--seed") && v) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (!*v || *end || errno) {
                fprintf(stderr, "ddad-synth: --seed needs a non-negative integer, got '%s'\n", v);
                return 2;
            }
            o.seed = s;
        } else if (!strcmp(a, "--categories") && v) {
            free(catbuf);
            catbuf = strdup(v);
            o.n_categories = 0;
            for (char *t = strtok(catbuf, ","); t; t = strtok(NULL, ","))
                if (o.n_categories < 16)
                    cats[o.n_categories++] = t;
            o.categories = cats;
        } else {
            fprintf(stderr, "ddad-synth: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    ddad_status_t st = ddad_synth_generate(&o, report, NULL);
    free(catbuf);
    if (st) {
        fprintf(stderr, "ddad-synth: %s\n", ddad_last_error());
        return ddad_status_exit_code(st);
    }
    printf("synthetic data set (seed %llu, %dx%d) written to %s\n", (unsigned long long)o.seed, o.size, o.size,
           o.out);
    return 0;
}
