/* eval/predict_inputs.c - see predict_inputs.h */
#include "predict_inputs.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

bool predict_has_image_extension(const char *path)
{
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return false;
    return !strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") ||
           !strcasecmp(dot, ".bmp");
}

static bool stem_taken(const predict_inputs_t *in, const char *stem)
{
    for (size_t i = 0; i < in->n; i++)
        if (!strcmp(in->v[i].stem, stem))
            return true;
    return false;
}

/* rel: the part of path that names it in the output ("a/b.png"). */
static ddad_status_t push(predict_inputs_t *in, const char *path, const char *rel, const char *error)
{
    if (in->n == in->cap) {
        size_t cap = in->cap ? 2 * in->cap : 64;
        predict_input_t *v = realloc(in->v, cap * sizeof *v);
        if (!v)
            return ddad_fail(DDAD_STATUS_NOMEM, "out of memory listing the inputs");
        in->v = v;
        in->cap = cap;
    }
    size_t len = strlen(rel);
    char *stem = malloc(len + 16);
    if (!stem)
        return ddad_fail(DDAD_STATUS_NOMEM, "out of memory listing the inputs");
    snprintf(stem, len + 1, "%s", rel);
    char *dot = strrchr(stem, '.'), *slash = strrchr(stem, '/');
    if (dot && (!slash || dot > slash) && dot != stem)
        *dot = '\0';
    for (char *p = stem; *p; p++)
        if (*p == '/' || *p == ' ' || *p == '\\')
            *p = '_';
    if (!*stem)
        snprintf(stem, len + 16, "image");
    if (stem_taken(in, stem)) {
        size_t base = strlen(stem);
        for (int k = 2; stem_taken(in, stem); k++)
            snprintf(stem + base, 16, "_%d", k);
    }
    predict_input_t *e = &in->v[in->n];
    e->path = strdup(path);
    e->stem = stem;
    e->error = error ? strdup(error) : NULL;
    if (!e->path || (error && !e->error)) {
        free(e->path);
        free(e->error);
        free(stem);
        return ddad_fail(DDAD_STATUS_NOMEM, "out of memory listing the inputs");
    }
    in->n++;
    return DDAD_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct walk {
    char **paths;
    size_t n, cap;
} walk_t;

static ddad_status_t walk(walk_t *w, const char *dir, int depth)
{
    if (depth > 64)
        return DDAD_OK; /* a loop of symbolic links */
    DIR *d = opendir(dir);
    if (!d)
        return DDAD_OK;
    struct dirent *de;
    ddad_status_t st = DDAD_OK;
    while (st == DDAD_OK && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        char *p = malloc(len);
        if (!p) {
            st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory listing %s", dir);
            break;
        }
        snprintf(p, len, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (stat(p, &sb) != 0) {
            free(p);
            continue;
        }
        if (S_ISDIR(sb.st_mode)) {
            st = walk(w, p, depth + 1);
            free(p);
        } else if (S_ISREG(sb.st_mode) && predict_has_image_extension(p)) {
            if (w->n == w->cap) {
                size_t cap = w->cap ? 2 * w->cap : 256;
                char **v = realloc(w->paths, cap * sizeof *v);
                if (!v) {
                    free(p);
                    st = ddad_fail(DDAD_STATUS_NOMEM, "out of memory listing %s", dir);
                    break;
                }
                w->paths = v;
                w->cap = cap;
            }
            w->paths[w->n++] = p;
        } else {
            free(p);
        }
    }
    closedir(d);
    return st;
}

/* Whether the path below root has a folder named "good". */
static bool under_good(const char *rel)
{
    for (const char *p = rel; (p = strstr(p, "good/")); p++)
        if (p == rel || p[-1] == '/')
            return true;
    return false;
}

ddad_status_t predict_inputs_add_folder(predict_inputs_t *in, const char *dir, const bool *want_good)
{
    walk_t w = {0};
    ddad_status_t st = walk(&w, dir, 0);
    if (st == DDAD_OK)
        qsort(w.paths, w.n, sizeof *w.paths, cmp_str);
    size_t root = strlen(dir);
    while (root > 1 && dir[root - 1] == '/')
        root--;
    for (size_t i = 0; i < w.n && st == DDAD_OK; i++) {
        const char *rel = w.paths[i] + root + 1;
        if (want_good && under_good(rel) != *want_good)
            continue;
        st = push(in, w.paths[i], rel, NULL);
    }
    for (size_t i = 0; i < w.n; i++)
        free(w.paths[i]);
    free(w.paths);
    return st;
}

ddad_status_t predict_inputs_add(predict_inputs_t *in, const char *arg)
{
    struct stat sb;
    if (stat(arg, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            size_t before = in->n;
            ddad_status_t st = predict_inputs_add_folder(in, arg, NULL);
            if (st == DDAD_OK && in->n == before)
                st = push(in, arg, arg, "the folder holds no .png, .jpg, .jpeg or .bmp file");
            return st;
        }
        const char *base = strrchr(arg, '/');
        return push(in, arg, base ? base + 1 : arg, NULL);
    }
    if (strpbrk(arg, "*?[")) {
        glob_t g;
        int rc = glob(arg, 0, NULL, &g);
        ddad_status_t st = DDAD_OK;
        if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
            st = push(in, arg, arg, "the pattern matches no file");
        } else if (rc != 0) {
            st = push(in, arg, arg, "the pattern could not be expanded");
        } else {
            for (size_t i = 0; i < g.gl_pathc && st == DDAD_OK; i++) {
                if (stat(g.gl_pathv[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
                    st = predict_inputs_add_folder(in, g.gl_pathv[i], NULL);
                } else {
                    const char *base = strrchr(g.gl_pathv[i], '/');
                    st = push(in, g.gl_pathv[i], base ? base + 1 : g.gl_pathv[i], NULL);
                }
            }
        }
        if (rc == 0)
            globfree(&g);
        return st;
    }
    char why[256];
    snprintf(why, sizeof why, "no such file or folder (%s)", strerror(errno));
    return push(in, arg, arg, why);
}

void predict_inputs_free(predict_inputs_t *in)
{
    for (size_t i = 0; i < in->n; i++) {
        free(in->v[i].path);
        free(in->v[i].stem);
        free(in->v[i].error);
    }
    free(in->v);
    memset(in, 0, sizeof *in);
}
