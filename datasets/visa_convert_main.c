/* ddad-visa-convert - raw VisA to the MVTec AD layout with the 1cls split.
 *
 *   ddad-visa-convert RAW_ROOT OUT_ROOT
 *
 * RAW_ROOT holds <category>/Data/... and split_csv/1cls.csv (the published
 * archive). Writes OUT_ROOT/<category>/train/good, test/good, test/bad (images
 * copied byte for byte) and ground_truth/bad/<stem>_mask.png (VisA masks hold
 * defect ids; they become 0/255). Exit codes: 0 ok, 2 usage, 4 data, 5 I/O. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "image.h"
#include "status.h"

static ddad_status_t mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++)
        if (*p == '/' || !*p) {
            char ch = *p;
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return ddad_fail(DDAD_STATUS_IO, "%s: cannot create folder: %s", buf, strerror(errno));
            *p = ch;
            if (!ch)
                return DDAD_OK;
        }
}

static ddad_status_t copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        return ddad_fail(DDAD_STATUS_DATA, "%s: cannot open: %s", from, strerror(errno));
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", to);
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        fclose(in);
        return ddad_fail(DDAD_STATUS_IO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            break;
    int bad = ferror(in) || ferror(out);
    fclose(in);
    if (fclose(out) != 0 || bad || rename(tmp, to) != 0) {
        remove(tmp);
        return ddad_fail(DDAD_STATUS_IO, "%s: cannot write", to);
    }
    return DDAD_OK;
}

int main(int argc, char **argv)
{
    if (argc != 3 || argv[1][0] == '-') {
        fprintf(stderr, "usage: ddad-visa-convert RAW_ROOT OUT_ROOT\n");
        return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    const char *raw = argv[1], *out = argv[2];
    ddad_dataset_t *ds = NULL;
    ddad_image_t mask = {0};
    ddad_status_t st = ddad_dataset_index(&ds, DDAD_DATA_FORMAT_VISA, raw, NULL, 0);
    size_t nimg = 0, nmask = 0;
    for (size_t i = 0; !st && i < ds->n; i++) {
        const ddad_sample_t *s = &ds->samples[i];
        /* s->name is "<split>/<good|bad>/<file>" */
        char dir[4096], dst[4096];
        snprintf(dst, sizeof dst, "%s/%s/%s", out, s->category, s->name);
        snprintf(dir, sizeof dir, "%s", dst);
        *strrchr(dir, '/') = 0;
        if ((st = mkdirs(dir)) || (st = copy_file(s->path, dst)))
            break;
        nimg++;
        if (s->mask_path) {
            const char *base = strrchr(s->name, '/') + 1;
            char stem[1024];
            snprintf(stem, sizeof stem, "%s", base);
            char *dot = strrchr(stem, '.');
            if (dot)
                *dot = 0;
            snprintf(dir, sizeof dir, "%s/%s/ground_truth/bad", out, s->category);
            snprintf(dst, sizeof dst, "%s/%s_mask.png", dir, stem);
            if ((st = mkdirs(dir)) || (st = ddad_image_load(&mask, s->mask_path, DDAD_IMAGE_GRAY)))
                break;
            for (size_t k = 0; k < (size_t)mask.w * mask.h; k++)
                mask.data[k] = mask.data[k] > ds->mask_threshold ? 255 : 0;
            if ((st = ddad_image_write_png(&mask, dst)))
                break;
            nmask++;
        }
    }
    if (st) {
        fprintf(stderr, "ddad-visa-convert: %s\n", ddad_last_error());
    } else {
        printf("converted %zu categories, %zu images, %zu masks from %s to %s\n", ds->n_categories, nimg, nmask,
               raw, out);
    }
    ddad_image_free(&mask);
    ddad_dataset_free(ds);
    return st ? ddad_status_exit_code(st) : 0;
}
