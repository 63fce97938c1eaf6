/* core/data/dataset.c - see dataset.h */
#include "dataset.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "image.h"

/* ---- small helpers ------------------------------------------------------ */

static char *joinf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *joinf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static bool is_dir(const char *p)
{
    struct stat sb;
    return p && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_file(const char *p)
{
    struct stat sb;
    return p && stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return false;
    return !strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") ||
           !strcasecmp(dot, ".bmp");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist_t;

static void strlist_free(strlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int strlist_push(strlist_t *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

enum { LIST_DIRS = 1, LIST_IMAGES = 2 };

/* Sorted entries of dir (folders or image files). Missing dir -> empty list. */
static ddad_status_t list_dir(const char *dir, int what, strlist_t *out)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d)
        return DDAD_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *full = joinf("%s/%s", dir, e->d_name);
        if (!full) {
            closedir(d);
            strlist_free(out);
            return ddad_fail(DDAD_STATUS_NOMEM, "listing %s: out of memory", dir);
        }
        bool keep = what == LIST_DIRS ? is_dir(full) : (has_image_ext(e->d_name) && is_file(full));
        free(full);
        if (keep && strlist_push(out, e->d_name)) {
            closedir(d);
            strlist_free(out);
            return ddad_fail(DDAD_STATUS_NOMEM, "listing %s: out of memory", dir);
        }
    }
    closedir(d);
    if (out->n)
        qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return DDAD_OK;
}

/* name without its extension, into buf */
static void stem_of(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", name);
    char *dot = strrchr(buf, '.');
    if (dot)
        *dot = 0;
}

/* First image file in dir (sorted listing) whose stem is stem+suffix. */
static char *find_by_stem(const char *dir, const strlist_t *files, const char *stem, const char *suffix)
{
    char want[1024], s[1024];
    snprintf(want, sizeof want, "%s%s", stem, suffix);
    for (size_t i = 0; i < files->n; i++) {
        stem_of(files->v[i], s, sizeof s);
        if (!strcmp(s, want))
            return joinf("%s/%s", dir, files->v[i]);
    }
    return NULL;
}

/* ---- the table ------------------------------------------------------------ */

typedef struct builder {
    ddad_dataset_t *ds;
    size_t cap;
} builder_t;

static ddad_status_t add_sample(builder_t *b, const char *path, const char *name, const char *category,
                                const char *defect, int label, const char *mask, const char *source,
                                ddad_split_t split)
{
    ddad_dataset_t *ds = b->ds;
    if (ds->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        ddad_sample_t *v = realloc(ds->samples, cap * sizeof *v);
        if (!v)
            return ddad_fail(DDAD_STATUS_NOMEM, "data set index: out of memory");
        ds->samples = v;
        b->cap = cap;
    }
    ddad_sample_t *s = &ds->samples[ds->n];
    memset(s, 0, sizeof *s);
    s->path = strdup(path);
    s->name = strdup(name);
    s->category = strdup(category);
    s->defect = strdup(defect);
    s->mask_path = mask ? strdup(mask) : NULL;
    s->source_path = source ? strdup(source) : NULL;
    s->label = label;
    s->split = split;
    ds->n++;
    if (!s->path || !s->name || !s->category || !s->defect || (mask && !s->mask_path) ||
        (source && !s->source_path))
        return ddad_fail(DDAD_STATUS_NOMEM, "data set index: out of memory");
    return DDAD_OK;
}

static void sample_clear(ddad_sample_t *s)
{
    free(s->path);
    free(s->name);
    free(s->category);
    free(s->defect);
    free(s->mask_path);
    free(s->source_path);
}

void ddad_dataset_free(ddad_dataset_t *ds)
{
    if (!ds)
        return;
    for (size_t i = 0; i < ds->n; i++)
        sample_clear(&ds->samples[i]);
    free(ds->samples);
    ddad_dataset_free_names(ds->categories, ds->n_categories);
    free(ds->root);
    free(ds);
}

void ddad_dataset_free_names(char **names, size_t n)
{
    if (!names)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ---- formats ---------------------------------------------------------------- */

static const struct {
    const char *name;
    ddad_data_format_t fmt;
} k_formats[] = {{"mvtec", DDAD_DATA_FORMAT_MVTEC},   {"visa_mvtec", DDAD_DATA_FORMAT_MVTEC},
                 {"synthetic", DDAD_DATA_FORMAT_MVTEC}, {"visa", DDAD_DATA_FORMAT_VISA},
                 {"btad", DDAD_DATA_FORMAT_BTAD},       {"folder", DDAD_DATA_FORMAT_FOLDER}};

ddad_status_t ddad_data_format_parse(const char *name, ddad_data_format_t *fmt)
{
    for (size_t i = 0; i < sizeof k_formats / sizeof *k_formats; i++)
        if (name && !strcmp(name, k_formats[i].name)) {
            *fmt = k_formats[i].fmt;
            return DDAD_OK;
        }
    return ddad_fail(DDAD_STATUS_CONFIG,
                     "unknown data set format '%s' (use mvtec, visa_mvtec, synthetic, visa, btad or folder)",
                     name ? name : "(null)");
}

const char *ddad_data_format_name(ddad_data_format_t fmt)
{
    switch (fmt) {
    case DDAD_DATA_FORMAT_MVTEC: return "mvtec";
    case DDAD_DATA_FORMAT_VISA: return "visa";
    case DDAD_DATA_FORMAT_BTAD: return "btad";
    case DDAD_DATA_FORMAT_FOLDER: return "folder";
    }
    return "?";
}

/* The sub-folder whose presence makes a folder a category of this format. */
static const char *marker_of(ddad_data_format_t fmt)
{
    return fmt == DDAD_DATA_FORMAT_VISA ? "Data" : "train";
}

ddad_status_t ddad_dataset_list_categories(ddad_data_format_t fmt, const char *root, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    if (!is_dir(root))
        return ddad_fail(DDAD_STATUS_DATA,
                         "data set root '%s' does not exist or is not a folder (fetch it with "
                         "`make -f Makefile.data <name>` or point data.root at it)",
                         root);
    strlist_t dirs, keep = {0};
    ddad_status_t st = list_dir(root, LIST_DIRS, &dirs);
    if (st)
        return st;
    for (size_t i = 0; i < dirs.n; i++) {
        char *m = joinf("%s/%s/%s", root, dirs.v[i], marker_of(fmt));
        bool ok = is_dir(m);
        free(m);
        if (ok && strlist_push(&keep, dirs.v[i])) {
            strlist_free(&dirs);
            strlist_free(&keep);
            return ddad_fail(DDAD_STATUS_NOMEM, "listing %s: out of memory", root);
        }
    }
    strlist_free(&dirs);
    *names = keep.v;
    *n = keep.n;
    return DDAD_OK;
}

static char *categories_text(ddad_data_format_t fmt, const char *root)
{
    char **names;
    size_t n;
    if (ddad_dataset_list_categories(fmt, root, &names, &n))
        return strdup("(none)");
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(names[i]) + 2;
    char *s = malloc(len + 8);
    if (s) {
        s[0] = 0;
        for (size_t i = 0; i < n; i++) {
            if (i)
                strcat(s, ", ");
            strcat(s, names[i]);
        }
        if (!n)
            strcpy(s, "(none)");
    }
    ddad_dataset_free_names(names, n);
    return s;
}

/* Adds every image of dir as samples of one (split, defect, label). For
 * anomalies, looks up the mask in mask_dir (stem + each suffix in turn). */
static ddad_status_t add_folder(builder_t *b, const char *cat_dir, const char *category, const char *rel_dir,
                                const char *defect, int label, ddad_split_t split, const char *mask_dir,
                                const char *const *mask_suffixes, bool mask_required, const char *source_dir,
                                size_t *count)
{
    char *dir = joinf("%s/%s", cat_dir, rel_dir);
    strlist_t files, masks = {0}, sources = {0};
    ddad_status_t st = list_dir(dir, LIST_IMAGES, &files);
    if (!st && mask_dir)
        st = list_dir(mask_dir, LIST_IMAGES, &masks);
    if (!st && source_dir)
        st = list_dir(source_dir, LIST_IMAGES, &sources);
    for (size_t i = 0; !st && i < files.n; i++) {
        char stem[1024];
        stem_of(files.v[i], stem, sizeof stem);
        char *path = joinf("%s/%s", dir, files.v[i]);
        char *name = joinf("%s/%s", rel_dir, files.v[i]);
        char *mask = NULL, *source = NULL;
        if (mask_dir)
            for (const char *const *sfx = mask_suffixes; *sfx && !mask; sfx++)
                mask = find_by_stem(mask_dir, &masks, stem, *sfx);
        if (source_dir)
            source = find_by_stem(source_dir, &sources, stem, "");
        if (mask_dir && !mask && mask_required)
            st = ddad_fail(DDAD_STATUS_DATA,
                           "%s: anomalous test image has no mask (looked for %s/%s%s.png and other image "
                           "extensions); restore the mask or remove the image",
                           path, mask_dir, stem, mask_suffixes[0]);
        else
            st = add_sample(b, path, name, category, defect, label, mask, source, split);
        free(path);
        free(name);
        free(mask);
        free(source);
        if (!st && count)
            (*count)++;
    }
    free(dir);
    strlist_free(&files);
    strlist_free(&masks);
    strlist_free(&sources);
    return st;
}

static ddad_status_t empty_train(const char *where)
{
    return ddad_fail(DDAD_STATUS_DATA, "%s: no training images (.png/.jpg/.bmp) found; the category is empty",
                     where);
}

static ddad_status_t index_mvtec(builder_t *b, const char *cat_dir, const char *cat)
{
    static const char *const sfx[] = {"_mask", "", NULL};
    size_t n = 0;
    ddad_status_t st = add_folder(b, cat_dir, cat, "train/good", "good", 0, DDAD_SPLIT_TRAIN, NULL, sfx, false,
                                  NULL, &n);
    if (st)
        return st;
    if (!n) {
        char *w = joinf("%s/train/good", cat_dir);
        st = empty_train(w);
        free(w);
        return st;
    }
    char *test = joinf("%s/test", cat_dir);
    if (!is_dir(test)) {
        st = ddad_fail(DDAD_STATUS_DATA, "%s: missing test folder (expected test/good and test/<defect>)", test);
        free(test);
        return st;
    }
    strlist_t defects;
    st = list_dir(test, LIST_DIRS, &defects);
    for (size_t i = 0; !st && i < defects.n; i++) {
        const char *d = defects.v[i];
        bool good = !strcmp(d, "good");
        char *rel = joinf("test/%s", d);
        char *mdir = good ? NULL : joinf("%s/ground_truth/%s", cat_dir, d);
        char *sdir = joinf("%s/test_source/%s", cat_dir, d);
        st = add_folder(b, cat_dir, cat, rel, good ? "good" : d, good ? 0 : 1, DDAD_SPLIT_TEST, mdir, sfx, true,
                        (!good && is_dir(sdir)) ? sdir : NULL, NULL);
        free(rel);
        free(mdir);
        free(sdir);
    }
    strlist_free(&defects);
    free(test);
    return st;
}

static ddad_status_t index_btad(builder_t *b, const char *cat_dir, const char *cat)
{
    static const char *const sfx[] = {"", "_mask", NULL};
    size_t n = 0;
    ddad_status_t st =
        add_folder(b, cat_dir, cat, "train/ok", "good", 0, DDAD_SPLIT_TRAIN, NULL, sfx, false, NULL, &n);
    if (st)
        return st;
    if (!n) {
        char *w = joinf("%s/train/ok", cat_dir);
        st = empty_train(w);
        free(w);
        return st;
    }
    char *mdir = joinf("%s/ground_truth/ko", cat_dir);
    st = add_folder(b, cat_dir, cat, "test/ok", "good", 0, DDAD_SPLIT_TEST, NULL, sfx, false, NULL, NULL);
    if (!st)
        st = add_folder(b, cat_dir, cat, "test/ko", "ko", 1, DDAD_SPLIT_TEST, mdir, sfx, true, NULL, NULL);
    free(mdir);
    return st;
}

static ddad_status_t index_folder(builder_t *b, const char *cat_dir, const char *cat, bool *has_masks)
{
    static const char *const sfx[] = {"", "_mask", NULL};
    size_t n = 0;
    ddad_status_t st = add_folder(b, cat_dir, cat, "train", "good", 0, DDAD_SPLIT_TRAIN, NULL, sfx, false, NULL, &n);
    if (st)
        return st;
    if (!n) {
        char *w = joinf("%s/train", cat_dir);
        st = empty_train(w);
        free(w);
        return st;
    }
    char *mdir = joinf("%s/masks", cat_dir);
    bool masks = is_dir(mdir);
    if (!masks)
        *has_masks = false;
    st = add_folder(b, cat_dir, cat, "test/abnormal", "abnormal", 1, DDAD_SPLIT_TEST, masks ? mdir : NULL, sfx,
                    true, NULL, NULL);
    if (!st)
        st = add_folder(b, cat_dir, cat, "test/normal", "good", 0, DDAD_SPLIT_TEST, NULL, sfx, false, NULL, NULL);
    free(mdir);
    return st;
}

/* ---- raw VisA ------------------------------------------------------------- */

typedef struct visa_row {
    char *split, *label, *image, *mask, *name;
} visa_row_t;

static int cmp_visa(const void *pa, const void *pb)
{
    const visa_row_t *a = pa, *b = pb;
    int c = strcmp(a->split, b->split);
    if (c)
        return -c; /* "train" before "test" */
    return strcmp(a->name, b->name);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    return s;
}

static ddad_status_t index_visa(builder_t *b, const char *root, const char *cat)
{
    char *csv = joinf("%s/split_csv/1cls.csv", root);
    FILE *f = fopen(csv, "r");
    if (!f) {
        ddad_status_t st = ddad_fail(DDAD_STATUS_DATA,
                                     "%s: cannot open the VisA split file (%s); raw VisA needs split_csv/1cls.csv "
                                     "from the VisA archive",
                                     csv, strerror(errno));
        free(csv);
        return st;
    }
    visa_row_t *rows = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    char line[4096];
    ddad_status_t st = DDAD_OK;
    while (!st && fgets(line, sizeof line, f)) {
        lineno++;
        char *fields[5] = {0};
        int nf = 0;
        char *p = line;
        for (; nf < 5; nf++) {
            fields[nf] = p;
            char *comma = strchr(p, ',');
            if (!comma) {
                nf++;
                break;
            }
            *comma = 0;
            p = comma + 1;
        }
        for (int i = 0; i < nf; i++)
            fields[i] = trim(fields[i]);
        if (lineno == 1 && !strcmp(fields[0], "object"))
            continue; /* header */
        if (nf == 1 && !fields[0][0])
            continue; /* blank line */
        if (nf < 4) {
            st = ddad_fail(DDAD_STATUS_DATA, "%s:%zu: expected object,split,label,image,mask", csv, lineno);
            break;
        }
        if (strcmp(fields[0], cat))
            continue;
        if (strcmp(fields[1], "train") && strcmp(fields[1], "test")) {
            st = ddad_fail(DDAD_STATUS_DATA, "%s:%zu: split '%s' is neither train nor test", csv, lineno, fields[1]);
            break;
        }
        if (strcmp(fields[2], "normal") && strcmp(fields[2], "anomaly")) {
            st = ddad_fail(DDAD_STATUS_DATA, "%s:%zu: label '%s' is neither normal nor anomaly", csv, lineno,
                           fields[2]);
            break;
        }
        bool anomaly = !strcmp(fields[2], "anomaly");
        if (anomaly && (nf < 5 || !fields[4][0])) {
            st = ddad_fail(DDAD_STATUS_DATA, "%s:%zu: anomalous image %s has no mask", csv, lineno, fields[3]);
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            visa_row_t *r = realloc(rows, cap * sizeof *r);
            if (!r) {
                st = ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory", csv);
                break;
            }
            rows = r;
        }
        const char *base = strrchr(fields[3], '/');
        base = base ? base + 1 : fields[3];
        visa_row_t *r = &rows[n++];
        r->split = strdup(fields[1]);
        r->label = strdup(anomaly ? "bad" : "good");
        r->image = joinf("%s/%s", root, fields[3]);
        r->mask = anomaly ? joinf("%s/%s", root, fields[4]) : NULL;
        r->name = joinf("%s/%s/%s", fields[1], r->label, base);
    }
    fclose(f);
    size_t ntrain = 0;
    if (!st) {
        if (n)
            qsort(rows, n, sizeof *rows, cmp_visa);
        for (size_t i = 0; !st && i < n; i++) {
            ddad_split_t split = strcmp(rows[i].split, "train") ? DDAD_SPLIT_TEST : DDAD_SPLIT_TRAIN;
            ntrain += split == DDAD_SPLIT_TRAIN;
            st = add_sample(b, rows[i].image, rows[i].name, cat, rows[i].label, strcmp(rows[i].label, "good") != 0,
                            rows[i].mask, NULL, split);
        }
        if (!st && !ntrain)
            st = ddad_fail(DDAD_STATUS_DATA, "%s: no training rows for category '%s'", csv, cat);
    }
    for (size_t i = 0; i < n; i++) {
        free(rows[i].split);
        free(rows[i].label);
        free(rows[i].image);
        free(rows[i].mask);
        free(rows[i].name);
    }
    free(rows);
    free(csv);
    return st;
}

/* ---- entry points ------------------------------------------------------------ */

ddad_status_t ddad_dataset_index(ddad_dataset_t **out, ddad_data_format_t fmt, const char *root,
                                 const char *const *categories, size_t n_categories)
{
    *out = NULL;
    char **present = NULL;
    size_t n_present = 0;
    ddad_status_t st = ddad_dataset_list_categories(fmt, root, &present, &n_present);
    if (st)
        return st;
    ddad_dataset_t *ds = calloc(1, sizeof *ds);
    builder_t b = {ds, 0};
    if (!ds) {
        ddad_dataset_free_names(present, n_present);
        return ddad_fail(DDAD_STATUS_NOMEM, "data set index: out of memory");
    }
    ds->format = fmt;
    ds->root = strdup(root);
    ds->has_masks = true;
    ds->mask_threshold = fmt == DDAD_DATA_FORMAT_VISA ? 0 : 127;
    if (!categories) {
        categories = (const char *const *)present;
        n_categories = n_present;
        if (!n_present) {
            st = ddad_fail(DDAD_STATUS_DATA, "%s: no category folders (a category needs a '%s' sub-folder)", root,
                           marker_of(fmt));
            goto fail;
        }
    }
    ds->categories = calloc(n_categories ? n_categories : 1, sizeof *ds->categories);
    if (!ds->categories) {
        st = ddad_fail(DDAD_STATUS_NOMEM, "data set index: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n_categories; i++) {
        const char *cat = categories[i];
        char *cat_dir = joinf("%s/%s", root, cat);
        char *marker = joinf("%s/%s", cat_dir, marker_of(fmt));
        bool ok = is_dir(marker);
        free(marker);
        if (!ok) {
            char *have = categories_text(fmt, root);
            st = ddad_fail(DDAD_STATUS_DATA,
                           "category '%s' not found: %s/%s is missing under data set root %s (format %s); "
                           "categories present: %s",
                           cat, cat_dir, marker_of(fmt), root, ddad_data_format_name(fmt), have ? have : "?");
            free(have);
            free(cat_dir);
            goto fail;
        }
        ds->categories[ds->n_categories++] = strdup(cat);
        switch (fmt) {
        case DDAD_DATA_FORMAT_MVTEC: st = index_mvtec(&b, cat_dir, cat); break;
        case DDAD_DATA_FORMAT_BTAD: st = index_btad(&b, cat_dir, cat); break;
        case DDAD_DATA_FORMAT_FOLDER: st = index_folder(&b, cat_dir, cat, &ds->has_masks); break;
        case DDAD_DATA_FORMAT_VISA: st = index_visa(&b, root, cat); break;
        }
        free(cat_dir);
        if (st)
            goto fail;
    }
    ddad_dataset_free_names(present, n_present);
    *out = ds;
    return DDAD_OK;
fail:
    ddad_dataset_free_names(present, n_present);
    ddad_dataset_free(ds);
    return st;
}

ddad_status_t ddad_dataset_validate(ddad_dataset_t *ds)
{
    for (size_t i = 0; i < ds->n; i++) {
        ddad_sample_t *s = &ds->samples[i];
        int w, h, mw, mh;
        ddad_status_t st = ddad_image_probe(s->path, &w, &h, NULL);
        if (st)
            return st;
        s->width = w;
        s->height = h;
        if (s->mask_path) {
            if ((st = ddad_image_probe(s->mask_path, &mw, &mh, NULL)))
                return st;
            if (mw != w || mh != h)
                return ddad_fail(DDAD_STATUS_DATA, "%s: mask is %dx%d but its image %s is %dx%d", s->mask_path, mw,
                                 mh, s->path, w, h);
        }
        if (s->source_path) {
            if ((st = ddad_image_probe(s->source_path, &mw, &mh, NULL)))
                return st;
            if (mw != w || mh != h)
                return ddad_fail(DDAD_STATUS_DATA, "%s: source image is %dx%d but its test image %s is %dx%d",
                                 s->source_path, mw, mh, s->path, w, h);
        }
    }
    return DDAD_OK;
}

static bool matches(const ddad_sample_t *s, const char *category, ddad_split_t split, int label)
{
    return s->split == split && (!category || !strcmp(s->category, category)) && (label < 0 || s->label == label);
}

ddad_status_t ddad_dataset_select(const ddad_dataset_t *ds, const char *category, ddad_split_t split,
                                  const ddad_sample_t ***out, size_t *n)
{
    size_t k = ddad_dataset_count(ds, category, split, -1);
    *out = malloc((k ? k : 1) * sizeof **out);
    *n = 0;
    if (!*out)
        return ddad_fail(DDAD_STATUS_NOMEM, "data set select: out of memory");
    for (size_t i = 0; i < ds->n; i++)
        if (matches(&ds->samples[i], category, split, -1))
            (*out)[(*n)++] = &ds->samples[i];
    return DDAD_OK;
}

void ddad_dataset_hold_out(ddad_dataset_t *ds, double fraction, size_t *n_val)
{
    size_t held = 0;
    if (n_val)
        *n_val = 0;
    if (!(fraction > 0) || fraction >= 1)
        return;
    /* categories one at a time: the first training sample of a category not
     * yet done starts its pass over the table */
    for (size_t i = 0; i < ds->n; i++) {
        const char *cat = ds->samples[i].category;
        if (ds->samples[i].split != DDAD_SPLIT_TRAIN || ddad_dataset_count(ds, cat, DDAD_SPLIT_VAL, -1) > 0)
            continue;
        size_t total = ddad_dataset_count(ds, cat, DDAD_SPLIT_TRAIN, -1), pos = 0, cat_held = 0;
        for (size_t j = i; j < ds->n; j++) {
            ddad_sample_t *s = &ds->samples[j];
            if (s->split != DDAD_SPLIT_TRAIN || strcmp(s->category, cat) != 0)
                continue;
            if (floor((double)(pos + 1) * fraction) > floor((double)pos * fraction) && cat_held + 1 < total) {
                s->split = DDAD_SPLIT_VAL;
                cat_held++;
            }
            pos++;
        }
        held += cat_held;
    }
    if (n_val)
        *n_val = held;
}

size_t ddad_dataset_count(const ddad_dataset_t *ds, const char *category, ddad_split_t split, int label)
{
    size_t k = 0;
    for (size_t i = 0; i < ds->n; i++)
        k += matches(&ds->samples[i], category, split, label);
    return k;
}
