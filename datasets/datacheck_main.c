/* ddad-datacheck - index and validate a data set, print per-category counts.
 *
 *   ddad-datacheck [--format mvtec|visa_mvtec|synthetic|visa|btad|folder]
 *                  [--categories a,b,...] [--no-probe] ROOT
 *
 * Every image and mask is probed (header and structure, no full decode) unless
 * --no-probe. Exit codes: 0 ok, 2 usage, 4 data problem (the message names the
 * file), 5 I/O. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "status.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: ddad-datacheck [--format F] [--categories a,b,...] [--no-probe] ROOT\n"
               "  F: mvtec (default), visa_mvtec, synthetic, visa (raw), btad, folder\n");
}

int main(int argc, char **argv)
{
    const char *root = NULL, *format = "mvtec";
    char *catbuf = NULL;
    const char *cats[256];
    size_t ncats = 0;
    int probe = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--format") && i + 1 < argc) {
            format = argv[++i];
        } else if (!strcmp(a, "--categories") && i + 1 < argc) {
            free(catbuf);
            catbuf = strdup(argv[++i]);
            ncats = 0;
            for (char *t = strtok(catbuf, ","); t && ncats < 256; t = strtok(NULL, ","))
                cats[ncats++] = t;
        } else if (!strcmp(a, "--no-probe")) {
            probe = 0;
        } else if (a[0] != '-' && !root) {
            root = a;
        } else {
            fprintf(stderr, "ddad-datacheck: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!root) {
        usage(stderr);
        return 2;
    }
    ddad_data_format_t fmt;
    ddad_dataset_t *ds = NULL;
    ddad_status_t st = ddad_data_format_parse(format, &fmt);
    if (st == DDAD_STATUS_CONFIG)
        st = DDAD_STATUS_USAGE;
    if (!st)
        st = ddad_dataset_index(&ds, fmt, root, ncats ? cats : NULL, ncats);
    if (!st && probe)
        st = ddad_dataset_validate(ds);
    if (st) {
        fprintf(stderr, "ddad-datacheck: %s\n", ddad_last_error());
        free(catbuf);
        ddad_dataset_free(ds);
        return ddad_status_exit_code(st);
    }
    printf("%-16s %7s %9s %9s %7s  %s\n", "category", "train", "test_good", "test_bad", "masks", "defect types");
    size_t tot[4] = {0, 0, 0, 0};
    for (size_t c = 0; c < ds->n_categories; c++) {
        const char *cat = ds->categories[c];
        size_t tr = ddad_dataset_count(ds, cat, DDAD_SPLIT_TRAIN, -1);
        size_t tg = ddad_dataset_count(ds, cat, DDAD_SPLIT_TEST, 0);
        size_t tb = ddad_dataset_count(ds, cat, DDAD_SPLIT_TEST, 1);
        size_t nm = 0;
        char types[1024] = "";
        for (size_t i = 0; i < ds->n; i++) {
            const ddad_sample_t *s = &ds->samples[i];
            if (strcmp(s->category, cat) || s->split != DDAD_SPLIT_TEST || !s->label)
                continue;
            nm += s->mask_path != NULL;
            char tok[300];
            snprintf(tok, sizeof tok, ",%s,", s->defect);
            char have[1100];
            snprintf(have, sizeof have, ",%s,", types);
            if (!strstr(have, tok) && strlen(types) + strlen(s->defect) + 2 < sizeof types) {
                if (types[0])
                    strcat(types, ",");
                strcat(types, s->defect);
            }
        }
        printf("%-16s %7zu %9zu %9zu %7zu  %s\n", cat, tr, tg, tb, nm, types);
        tot[0] += tr;
        tot[1] += tg;
        tot[2] += tb;
        tot[3] += nm;
    }
    printf("%-16s %7zu %9zu %9zu %7zu\n", "total", tot[0], tot[1], tot[2], tot[3]);
    if (!ds->has_masks)
        printf("note: some anomalous images have no masks: pixel-level metrics will be skipped\n");
    printf("%s: %s layout ok (%zu categories, %zu images%s)\n", root, format, ds->n_categories, ds->n,
           probe ? ", all files probed" : ", files not probed");
    free(catbuf);
    ddad_dataset_free(ds);
    return 0;
}
