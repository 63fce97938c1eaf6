/* ddad-synth - write the seeded synthetic data set (MVTec AD layout), or cut
 * one from the user's own defect-free images and plant defects into it.
 *
 *   ddad-synth [--out DIR] [--size N] [--train N] [--test-good N]
 *              [--test-defect N] [--seed N] [--categories a,b,...]
 *   ddad-synth --from-images DIR [--out ROOT] [--category NAME] [--size N]
 *              [--train N] [--test-good N] [--test-defect N] [--seed N]
 *              [--defects a,b,...] [--foreign DIR]
 *
 * Exit codes: 0 ok, 2 usage, 4 data (--from-images: no usable image), 5 I/O
 * (see include/ddad/status.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "status.h"
#include "synth.h"
#include "synth_images.h"

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
    const char *const *kinds = ddad_synth_images_defects(&n);
    fprintf(f,
            "\n"
            "\n"
            "usage: ddad-synth --from-images DIR [options]\n"
            "  Cuts one category from your own defect-free images (every PNG, JPEG or BMP\n"
            "  below DIR; files that cannot be read are reported and skipped) and plants\n"
            "  defects with exact masks into its test images, to validate a model and\n"
            "  calibrate its threshold without labelled defects. Square crops of about a\n"
            "  quarter of each image's short side (at most 4x the output size), resized to\n"
            "  N x N; training crops come from about three quarters of each image, test\n"
            "  crops from the disjoint rest (see core/data/synth_images.h). Also writes\n"
            "  <ROOT>/<NAME>/crops.csv (where every image was cut).\n"
            "  --out ROOT         output root (default datasets/from_images)\n"
            "  --category NAME    category folder name (default: the last part of DIR)\n"
            "  --defects LIST     comma-separated defect kinds (default: the first four):");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%s", i ? ", " : "\n                     ", kinds[i]);
    fprintf(f,
            "\n"
            "  --foreign DIR      images to cut foreign_texture patches from (default: the\n"
            "                     other images of DIR; with a single image, itself turned)\n"
            "  --size, --train, --test-good, --test-defect, --seed: as above\n"
            "\n"
            "exit codes: 0 ok, 2 usage, 4 data (--from-images: DIR missing or no usable\n"
            "image), 5 I/O (cannot write, or the output folder exists and was not written\n"
            "by ddad-synth)\n");
}

/* Splits a comma-separated list into at most max items pointing into a copy (*buf, caller frees). */
static size_t split_list(const char *v, char **buf, const char **items, size_t max)
{
    size_t n = 0;
    free(*buf);
    *buf = strdup(v);
    for (char *t = *buf ? strtok(*buf, ",") : NULL; t; t = strtok(NULL, ","))
        if (n < max)
            items[n++] = t;
    return n;
}

/* 0 with *out set, or 2 after the shared usage message (core/config/cli.h). */
static int parse_int(const char *opt, const char *v, long lo, long hi, long *out)
{
    ddad_cli_t cli = ddad_cli_init("ddad-synth", "");
    if (!v)
        return ddad_cli_usage_error(&cli, "%s needs a value", opt);
    return ddad_cli_long(&cli, opt, v, lo, hi, out);
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
    ddad_synth_images_opts_t io = ddad_synth_images_opts_default();
    const char *cats[16], *defects[16];
    char *catbuf = NULL, *defbuf = NULL;
    const char *image_only = NULL; /* an option that needs --from-images */
    bool out_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--out") && v) {
            o.out = v;
            out_given = true;
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
            o.n_categories = split_list(v, &catbuf, cats, 16);
            o.categories = cats;
        } else if (!strcmp(a, "--from-images") && v) {
            io.images = v;
        } else if (!strcmp(a, "--category") && v) {
            io.category = v;
            image_only = a;
        } else if (!strcmp(a, "--foreign") && v) {
            io.foreign = v;
            image_only = a;
        } else if (!strcmp(a, "--defects") && v) {
            io.n_defects = split_list(v, &defbuf, defects, 16);
            io.defects = defects;
            image_only = a;
        } else {
            fprintf(stderr, "ddad-synth: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (io.images && o.categories) {
        fprintf(stderr, "ddad-synth: --categories selects built-in categories; with --from-images use --category\n");
        free(catbuf);
        free(defbuf);
        return 2;
    }
    if (!io.images && image_only) {
        fprintf(stderr, "ddad-synth: %s needs --from-images DIR\n", image_only);
        free(catbuf);
        free(defbuf);
        return 2;
    }
    ddad_status_t st;
    if (io.images) {
        io.out = out_given ? o.out : io.out;
        io.size = o.size;
        io.n_train = o.n_train;
        io.n_test_good = o.n_test_good;
        io.n_test_defect = o.n_test_defect;
        io.seed = o.seed;
        st = ddad_synth_images_generate(&io, report, NULL);
    } else {
        st = ddad_synth_generate(&o, report, NULL);
    }
    free(catbuf);
    free(defbuf);
    if (st) {
        fprintf(stderr, "ddad-synth: %s\n", ddad_last_error());
        return ddad_status_exit_code(st);
    }
    if (io.images)
        printf("data set from %s (seed %llu, %dx%d) written to %s\n", io.images, (unsigned long long)o.seed, o.size,
               o.size, io.out);
    else
        printf("synthetic data set (seed %llu, %dx%d) written to %s\n", (unsigned long long)o.seed, o.size, o.size,
               o.out);
    return 0;
}
