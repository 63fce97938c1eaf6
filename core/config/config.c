/* core/config/config.c - loading, validating and printing ddad_config_t (see
 * config.h). Everything here is driven by the schema table in
 * config_schema.c: a key is found by its dotted path, parsed according to its
 * type into the struct at its offset, then checked against its bounds.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define PATH_TEXT_MAX 256 /* longest dotted path we look at                   */
#define MSG_MAX 1024

/* ======================================================================== */
/* small helpers                                                            */
/* ======================================================================== */

static void *key_ptr(ddad_config_t *cfg, const ddad_config_key_t *k) { return (char *)cfg + k->offset; }
static const void *key_cptr(const ddad_config_t *cfg, const ddad_config_key_t *k)
{
    return (const char *)cfg + k->offset;
}

static size_t key_index(const ddad_config_key_t *k)
{
    size_t n;
    const ddad_config_key_t *keys = ddad_config_schema(&n);
    return (size_t)(k - keys);
}

static size_t enum_count(const ddad_config_key_t *k)
{
    size_t n = 0;
    while (k->names[n])
        n++;
    return n;
}

/* Shortest "%.*g" text that reads back to exactly d. */
static void format_double(double d, char *buf, size_t cap)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    /* Keep it recognisably a real number ("5" -> "5.0") unless it has an
     * exponent or a point already. */
    if (!strpbrk(buf, ".eEn") && strlen(buf) + 3 <= cap)
        strcat(buf, ".0");
}

static void format_interval(const ddad_config_key_t *k, char *buf, size_t cap)
{
    if (k->max >= (double)INT_MAX)
        snprintf(buf, cap, "%s %g", (k->bounds & DDAD_CONFIG_MIN_OPEN) ? ">" : ">=", k->min);
    else
        snprintf(buf, cap, "%c%g, %g%c", (k->bounds & DDAD_CONFIG_MIN_OPEN) ? '(' : '[', k->min, k->max,
                 (k->bounds & DDAD_CONFIG_MAX_OPEN) ? ')' : ']');
}

static bool in_bounds(const ddad_config_key_t *k, double v)
{
    bool lo = (k->bounds & DDAD_CONFIG_MIN_OPEN) ? v > k->min : v >= k->min;
    bool hi = (k->bounds & DDAD_CONFIG_MAX_OPEN) ? v < k->max : v <= k->max;
    return lo && hi;
}

static void enum_list(const ddad_config_key_t *k, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 0; k->names[i]; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", k->names[i]);
    }
}

static void names_list(const char *const *names, size_t n, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", names[i]);
    }
}

/* Levenshtein distance (short strings only). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > PATH_TEXT_MAX || lb > PATH_TEXT_MAX)
        return SIZE_MAX / 2;
    size_t prev[PATH_TEXT_MAX + 1], cur[PATH_TEXT_MAX + 1];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

static const char *leaf_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

/* The valid key closest to an unknown path: by the whole path, or by the
 * last component alone (a key written in the wrong section). */
static const char *closest_key(const char *path)
{
    size_t n;
    const ddad_config_key_t *keys = ddad_config_schema(&n);
    const char *best = keys[0].path;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(path, keys[i].path);
        size_t dl = edit_distance(leaf_of(path), leaf_of(keys[i].path)) + 2;
        if (dl < d)
            d = dl;
        if (d < best_d) {
            best_d = d;
            best = keys[i].path;
        }
    }
    return best;
}

static const char *closest_name(const char *s, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(s, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    return best;
}

/* True when some key lies below `path` ("model" for "model.channels"). */
static bool is_section(const char *path)
{
    size_t n, len = strlen(path);
    const ddad_config_key_t *keys = ddad_config_schema(&n);
    for (size_t i = 0; i < n; i++)
        if (strncmp(keys[i].path, path, len) == 0 && keys[i].path[len] == '.')
            return true;
    return false;
}

static const char *first_key_in(const char *section)
{
    size_t n, len = strlen(section);
    const ddad_config_key_t *keys = ddad_config_schema(&n);
    for (size_t i = 0; i < n; i++)
        if (strncmp(keys[i].path, section, len) == 0 && keys[i].path[len] == '.')
            return keys[i].path;
    return "";
}

/* ======================================================================== */
/* value text                                                               */
/* ======================================================================== */

static void append(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t cap, const char *fmt, ...)
{
    size_t len = strlen(buf);
    if (len + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

/* A YAML double-quoted scalar. */
static void quote_yaml(const char *s, char *buf, size_t cap)
{
    buf[0] = '\0';
    append(buf, cap, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            append(buf, cap, "\\%c", *c);
        else if (*c == '\n')
            append(buf, cap, "\\n");
        else if (*c == '\t')
            append(buf, cap, "\\t");
        else if (*c < 0x20 || *c == 0x7f)
            append(buf, cap, "\\x%02x", *c);
        else
            append(buf, cap, "%c", *c);
    }
    append(buf, cap, "\"");
}

/* Value of key k as text; yaml = true quotes strings for a YAML file. */
static void value_text(const ddad_config_t *cfg, const ddad_config_key_t *k, bool yaml, char *buf, size_t cap)
{
    const void *p = key_cptr(cfg, k);
    buf[0] = '\0';
    switch (k->type) {
    case DDAD_CONFIG_INT: snprintf(buf, cap, "%d", *(const int *)p); break;
    case DDAD_CONFIG_DOUBLE: format_double(*(const double *)p, buf, cap); break;
    case DDAD_CONFIG_BOOL: snprintf(buf, cap, "%s", *(const bool *)p ? "true" : "false"); break;
    case DDAD_CONFIG_STRING:
        if (yaml)
            quote_yaml(p, buf, cap);
        else
            snprintf(buf, cap, "%s", (const char *)p);
        break;
    case DDAD_CONFIG_ENUM: {
        int v = *(const int *)p;
        snprintf(buf, cap, "%s", (v >= 0 && (size_t)v < enum_count(k)) ? k->names[v] : "?");
        break;
    }
    case DDAD_CONFIG_INT_LIST: {
        const ddad_config_ints_t *l = p;
        append(buf, cap, "[");
        for (size_t i = 0; i < l->n; i++)
            append(buf, cap, "%s%d", i ? ", " : "", l->v[i]);
        append(buf, cap, "]");
        break;
    }
    case DDAD_CONFIG_NAMES: {
        const ddad_config_names_t *l = p;
        char q[2 * DDAD_CONFIG_NAME_MAX + 8];
        if (!l->is_list && l->n == 1) {
            if (yaml)
                quote_yaml(l->v[0], buf, cap);
            else
                snprintf(buf, cap, "%s", l->v[0]);
            break;
        }
        append(buf, cap, "[");
        for (size_t i = 0; i < l->n; i++) {
            if (yaml)
                quote_yaml(l->v[i], q, sizeof q);
            else
                snprintf(q, sizeof q, "%s", l->v[i]);
            append(buf, cap, "%s%s", i ? ", " : "", q);
        }
        append(buf, cap, "]");
        break;
    }
    }
}

/* ======================================================================== */
/* parsing one value                                                        */
/* ======================================================================== */

#define VIEW_MAX (DDAD_CONFIG_MAX_NAMES + 1)

/* A value as found in YAML or in --set text: one scalar or a list of them. */
typedef struct vview {
    bool is_seq;
    const char *scalar;  /* !is_seq                                          */
    bool null;           /* !is_seq: plain empty, ~ or null                   */
    size_t n;            /* is_seq: items seen (may exceed VIEW_MAX)          */
    const char *item[VIEW_MAX];
    char *scratch;       /* owned storage for split scalars, freed by caller  */
} vview_t;

static bool is_null_text(const char *s)
{
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';
    return s;
}

/* Strips one pair of matching quotes; returns true if there were some. */
static bool unquote(char **s)
{
    size_t len = strlen(*s);
    if (len >= 2 && ((*s)[0] == '"' || (*s)[0] == '\'') && (*s)[len - 1] == (*s)[0]) {
        (*s)[len - 1] = '\0';
        (*s)++;
        return true;
    }
    return false;
}

/* Splits "a, b, c" (optionally in [ ]) into v's items, in place in text. */
static void split_list(char *text, vview_t *v)
{
    char *s = trim(text);
    size_t len = strlen(s);
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s[len - 1] = '\0';
        s = trim(s + 1);
    }
    v->is_seq = true;
    v->n = 0;
    if (!*s)
        return;
    for (;;) {
        char *comma = strchr(s, ',');
        if (comma)
            *comma = '\0';
        char *item = trim(s);
        unquote(&item);
        if (v->n < VIEW_MAX)
            v->item[v->n] = item;
        v->n++;
        if (!comma)
            break;
        s = comma + 1;
    }
}

static bool parse_int(const char *s, int *out)
{
    if (!*s || isspace((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || errno || v < INT_MIN || v > INT_MAX)
        return false;
    *out = (int)v;
    return true;
}

static bool parse_double(const char *s, double *out)
{
    if (!*s || isspace((unsigned char)*s))
        return false;
    char *end;
    double v = strtod(s, &end);
    if (*end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = true, true;
        if (strcasecmp(s, no[i]) == 0)
            return *out = false, true;
    }
    return false;
}

/* Checks the value of k in cfg against its bounds, count, enum range and
 * extra check. Returns true if fine, else writes "<path>: <problem>" to msg. */
static bool check_value(const ddad_config_t *cfg, const ddad_config_key_t *k, char *msg, size_t cap)
{
    const void *p = key_cptr(cfg, k);
    char range[96], val[128];
    format_interval(k, range, sizeof range);
    switch (k->type) {
    case DDAD_CONFIG_INT:
    case DDAD_CONFIG_DOUBLE: {
        double v = k->type == DDAD_CONFIG_INT ? *(const int *)p : *(const double *)p;
        if (!in_bounds(k, v)) {
            value_text(cfg, k, false, val, sizeof val);
            snprintf(msg, cap, "%s = %s is out of range; allowed %s", k->path, val, range);
            return false;
        }
        break;
    }
    case DDAD_CONFIG_ENUM: {
        int v = *(const int *)p;
        if (v < 0 || (size_t)v >= enum_count(k)) {
            char all[256];
            enum_list(k, all, sizeof all);
            snprintf(msg, cap, "%s: invalid enum value %d; allowed %s", k->path, v, all);
            return false;
        }
        break;
    }
    case DDAD_CONFIG_STRING:
        if (strnlen(p, k->size) >= k->size) {
            snprintf(msg, cap, "%s: longer than %zu characters", k->path, k->size - 1);
            return false;
        }
        break;
    case DDAD_CONFIG_INT_LIST: {
        const ddad_config_ints_t *l = p;
        if (l->n < k->min_count || l->n > k->max_count) {
            snprintf(msg, cap, "%s: %zu values; allowed %zu to %zu values", k->path, l->n, k->min_count,
                     k->max_count);
            return false;
        }
        for (size_t i = 0; i < l->n; i++)
            if (!in_bounds(k, l->v[i])) {
                snprintf(msg, cap, "%s: value %d is out of range; allowed %s", k->path, l->v[i], range);
                return false;
            }
        break;
    }
    case DDAD_CONFIG_NAMES: {
        const ddad_config_names_t *l = p;
        if (l->n < k->min_count || l->n > k->max_count) {
            snprintf(msg, cap, "%s: %zu names; allowed %zu to %zu names", k->path, l->n, k->min_count,
                     k->max_count);
            return false;
        }
        break;
    }
    case DDAD_CONFIG_BOOL: break;
    }
    const char *why = k->check ? k->check(p) : NULL;
    if (why) {
        value_text(cfg, k, false, val, sizeof val);
        snprintf(msg, cap, "%s: '%s' is not allowed; expected %s", k->path, val, why);
        return false;
    }
    return true;
}

/* Parses view v into key k of cfg. loc ("file:3:7" or "--set 'a=b'") starts
 * every error message. */
static ddad_status_t apply_view(ddad_config_t *cfg, const ddad_config_key_t *k, vview_t *v, const char *loc)
{
    void *p = key_ptr(cfg, k);
    char msg[MSG_MAX];
    static const char *const what[] = {"an integer", "a number", "a boolean (true or false)", "a string",
                                       "one name", "a list of integers", "a name or a list of names"};
    if (v->is_seq && k->type != DDAD_CONFIG_INT_LIST && k->type != DDAD_CONFIG_NAMES)
        return ddad_fail(DDAD_STATUS_CONFIG, "%s: %s: expected %s, got a list", loc, k->path, what[k->type]);
    if (!v->is_seq && v->null && k->type != DDAD_CONFIG_STRING)
        return ddad_fail(DDAD_STATUS_CONFIG, "%s: %s: missing value; expected %s", loc, k->path, what[k->type]);

    switch (k->type) {
    case DDAD_CONFIG_INT:
        if (!parse_int(v->scalar, p))
            return ddad_fail(DDAD_STATUS_CONFIG, "%s: %s: expected an integer, got '%s'", loc, k->path, v->scalar);
        break;
    case DDAD_CONFIG_DOUBLE:
        if (!parse_double(v->scalar, p))
            return ddad_fail(DDAD_STATUS_CONFIG, "%s: %s: expected a finite number, got '%s'", loc, k->path,
                             v->scalar);
        break;
    case DDAD_CONFIG_BOOL:
        if (!parse_bool(v->scalar, p))
            return ddad_fail(DDAD_STATUS_CONFIG, "%s: %s: expected true or false, got '%s'", loc, k->path,
                             v->scalar);
        break;
    case DDAD_CONFIG_STRING: {
        const char *s = v->null ? "" : v->scalar;
        if (strlen(s) >= k->size)
            return ddad_fail(DDAD_STATUS_CONFIG, "%s: %s: value is %zu characters long; at most %zu allowed", loc,
                             k->path, strlen(s), k->size - 1);
        memcpy(p, s, strlen(s) + 1);
        break;
    }
    case DDAD_CONFIG_ENUM: {
        size_t n = enum_count(k);
        size_t i = 0;
        while (i < n && strcmp(k->names[i], v->scalar) != 0)
            i++;
        if (i == n) {
            char all[256];
            enum_list(k, all, sizeof all);
            return ddad_fail(DDAD_STATUS_CONFIG, "%s: %s: unknown value '%s'; allowed: %s (did you mean '%s'?)", loc,
                             k->path, v->scalar, all, closest_name(v->scalar, k->names, n));
        }
        *(int *)p = (int)i;
        break;
    }
    case DDAD_CONFIG_INT_LIST: {
        if (!v->is_seq) {
            v->scratch = strdup(v->scalar);
            if (!v->scratch)
                return ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory", loc);
            split_list(v->scratch, v);
        }
        if (v->n > DDAD_CONFIG_MAX_INTS || v->n > k->max_count)
            return ddad_fail(DDAD_STATUS_CONFIG, "%s: %s: %zu values; at most %zu allowed", loc, k->path, v->n,
                             k->max_count);
        ddad_config_ints_t *l = p;
        for (size_t i = 0; i < v->n; i++)
            if (!parse_int(v->item[i], &l->v[i]))
                return ddad_fail(DDAD_STATUS_CONFIG, "%s: %s: item %zu: expected an integer, got '%s'", loc, k->path,
                                 i + 1, v->item[i]);
        l->n = v->n;
        break;
    }
    case DDAD_CONFIG_NAMES: {
        bool listed = v->is_seq;
        if (!v->is_seq) {
            v->scratch = strdup(v->scalar);
            if (!v->scratch)
                return ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory", loc);
            listed = strchr(v->scratch, ',') != NULL || v->scratch[0] == '[';
            if (listed) {
                split_list(v->scratch, v);
            } else {
                v->n = 1;
                v->item[0] = v->scratch;
            }
        }
        if (v->n > DDAD_CONFIG_MAX_NAMES)
            return ddad_fail(DDAD_STATUS_CONFIG, "%s: %s: %zu names; at most %d allowed", loc, k->path, v->n,
                             DDAD_CONFIG_MAX_NAMES);
        ddad_config_names_t *l = p;
        for (size_t i = 0; i < v->n; i++)
            if (strlen(v->item[i]) >= DDAD_CONFIG_NAME_MAX)
                return ddad_fail(DDAD_STATUS_CONFIG, "%s: %s: name '%s' is longer than %d characters", loc, k->path,
                                 v->item[i], DDAD_CONFIG_NAME_MAX - 1);
        for (size_t i = 0; i < v->n; i++)
            snprintf(l->v[i], DDAD_CONFIG_NAME_MAX, "%s", v->item[i]);
        l->n = v->n;
        l->is_list = listed;
        break;
    }
    }
    if (!check_value(cfg, k, msg, sizeof msg))
        return ddad_fail(DDAD_STATUS_CONFIG, "%s: %s", loc, msg);
    return DDAD_OK;
}

/* ======================================================================== */
/* defaults                                                                 */
/* ======================================================================== */

void ddad_config_defaults(ddad_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    size_t n;
    const ddad_config_key_t *keys = ddad_config_schema(&n);
    for (size_t i = 0; i < n; i++) {
        char loc[PATH_TEXT_MAX + 32];
        snprintf(loc, sizeof loc, "default of %s", keys[i].path);
        char *text = strdup(keys[i].def);
        vview_t v = {0};
        if (text && (keys[i].def[0] == '[')) {
            split_list(text, &v);
        } else if (text) {
            v.scalar = text;
            v.null = is_null_text(text);
        }
        /* Defaults are checked by tests/test_config.c; a failure here is a
         * bug in the schema table. */
        ddad_status_t ok = text ? apply_view(cfg, &keys[i], &v, loc) : DDAD_STATUS_NOMEM;
        assert(ok == DDAD_OK);
        (void)ok;
        free(v.scratch);
        free(text);
    }
    ddad_clear_error();
}

/* ======================================================================== */
/* loading                                                                  */
/* ======================================================================== */

/* Where a key's current value came from (for cross-field error messages). */
typedef struct origin {
    const char *file;   /* display name (owned by the loader), or NULL        */
    int line, col;      /* 1-based                                            */
    const char *set;    /* the --set assignment, or NULL                      */
} origin_t;

typedef struct loader {
    ddad_config_t *cfg;
    origin_t *origins;                        /* (n_keys)                    */
    char *names[DDAD_CONFIG_MAX_DEPTH + 2];   /* display names, owned        */
    size_t n_names;
    char *chain[DDAD_CONFIG_MAX_DEPTH + 2];   /* canonical paths being read  */
    char *chain_display[DDAD_CONFIG_MAX_DEPTH + 2];
    int depth;
} loader_t;

static ddad_status_t load_path(loader_t *L, const char *path, const char *includer_loc);

static void mark_loc(char *buf, size_t cap, const char *file, yaml_mark_t m)
{
    snprintf(buf, cap, "%s:%zu:%zu", file, m.line + 1, m.column + 1);
}

/* Fills v from a YAML value node; errors at the node. */
static ddad_status_t view_from_node(vview_t *v, yaml_document_t *doc, yaml_node_t *node, const char *file,
                                    const char *path)
{
    char loc[MSG_MAX];
    memset(v, 0, sizeof *v);
    if (node->type == YAML_SCALAR_NODE) {
        v->scalar = (const char *)node->data.scalar.value;
        v->null = node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && is_null_text(v->scalar);
        return DDAD_OK;
    }
    if (node->type == YAML_SEQUENCE_NODE) {
        v->is_seq = true;
        for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++) {
            yaml_node_t *item = yaml_document_get_node(doc, *it);
            if (!item || item->type != YAML_SCALAR_NODE) {
                mark_loc(loc, sizeof loc, file, item ? item->start_mark : node->start_mark);
                return ddad_fail(DDAD_STATUS_CONFIG, "%s: %s: list items must be plain values, not lists or mappings",
                                 loc, path);
            }
            if (v->n < VIEW_MAX)
                v->item[v->n] = (const char *)item->data.scalar.value;
            v->n++;
        }
        return DDAD_OK;
    }
    mark_loc(loc, sizeof loc, file, node->start_mark);
    const ddad_config_key_t *k = ddad_config_find_key(path);
    return ddad_fail(DDAD_STATUS_CONFIG, "%s: %s: expected %s, got a mapping", loc, path,
                     k && (k->type == DDAD_CONFIG_INT_LIST || k->type == DDAD_CONFIG_NAMES) ? "a value or a list"
                                                                                           : "a single value");
}

/* Applies every key of a mapping node, recursing into sections. */
static ddad_status_t apply_mapping(loader_t *L, yaml_document_t *doc, yaml_node_t *map, const char *prefix,
                                   const char *file, int *seen_line)
{
    char loc[MSG_MAX];
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = yaml_document_get_node(doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(doc, pr->value);
        if (!kn || !vn)
            continue;
        if (kn->type != YAML_SCALAR_NODE) {
            mark_loc(loc, sizeof loc, file, kn->start_mark);
            return ddad_fail(DDAD_STATUS_CONFIG, "%s: keys must be plain names like model.channels", loc);
        }
        const char *name = (const char *)kn->data.scalar.value;
        if (!*prefix && strcmp(name, "base") == 0)
            continue; /* handled by load_document */
        char path[PATH_TEXT_MAX];
        int len = snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", name);
        mark_loc(loc, sizeof loc, file, kn->start_mark);
        if (len < 0 || (size_t)len >= sizeof path)
            return ddad_fail(DDAD_STATUS_CONFIG, "%s: unknown key '%.60s...' (too long)", loc, path);

        const ddad_config_key_t *k = ddad_config_find_key(path);
        if (k) {
            size_t idx = key_index(k);
            if (seen_line[idx])
                return ddad_fail(DDAD_STATUS_CONFIG, "%s: key '%s' is set twice in this file (first at line %d)", loc,
                                 path, seen_line[idx]);
            seen_line[idx] = (int)kn->start_mark.line + 1;
            vview_t v;
            ddad_status_t st = view_from_node(&v, doc, vn, file, path);
            if (st == DDAD_OK) {
                mark_loc(loc, sizeof loc, file, vn->start_mark);
                st = apply_view(L->cfg, k, &v, loc);
            }
            free(v.scratch);
            if (st != DDAD_OK)
                return st;
            L->origins[idx] = (origin_t){.file = file, .line = (int)vn->start_mark.line + 1,
                                         .col = (int)vn->start_mark.column + 1};
            continue;
        }
        if (is_section(path)) {
            if (vn->type != YAML_MAPPING_NODE)
                return ddad_fail(DDAD_STATUS_CONFIG,
                                 "%s: '%s' is a section, not a key: write its keys under it (e.g. %s: ...)", loc, path,
                                 first_key_in(path));
            ddad_status_t st = apply_mapping(L, doc, vn, path, file, seen_line);
            if (st != DDAD_OK)
                return st;
            continue;
        }
        if (vn->type == YAML_MAPPING_NODE && vn->data.mapping.pairs.top > vn->data.mapping.pairs.start &&
            strcmp(name, "base") != 0) {
            /* An unknown section: report its first key with the full path,
             * which finds the best suggestion ("modle.channels"). */
            ddad_status_t st = apply_mapping(L, doc, vn, path, file, seen_line);
            if (st != DDAD_OK)
                return st;
            continue;
        }
        if (strcmp(path, "base") == 0 || strcmp(leaf_of(path), "base") == 0)
            return ddad_fail(DDAD_STATUS_CONFIG, "%s: 'base' is only allowed at the top level of a file", loc);
        return ddad_fail(DDAD_STATUS_CONFIG, "%s: unknown key '%s'; did you mean '%s'? (docs/config-keys.md lists all keys)",
                         loc, path, closest_key(path));
    }
    return DDAD_OK;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Parses YAML text (file = display name, basedir = where base: resolves),
 * applies its base chain, then its keys. */
static ddad_status_t load_document(loader_t *L, const char *text, size_t len, const char *file, const char *basedir)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    char loc[MSG_MAX];
    ddad_status_t st = DDAD_OK;
    if (!yaml_parser_initialize(&parser))
        return ddad_fail(DDAD_STATUS_NOMEM, "%s: cannot initialise the YAML parser", file);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_mark_t m = parser.problem_mark;
        mark_loc(loc, sizeof loc, file, m);
        if (parser.context)
            st = ddad_fail(DDAD_STATUS_CONFIG, "%s: malformed YAML: %s %s (line %zu, column %zu)", loc,
                           parser.problem ? parser.problem : "syntax error", parser.context,
                           parser.context_mark.line + 1, parser.context_mark.column + 1);
        else
            st = ddad_fail(DDAD_STATUS_CONFIG, "%s: malformed YAML: %s", loc,
                           parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        return st;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root)
        goto done; /* empty file: nothing to change */
    {
        /* A second document would be silently ignored: refuse it. */
        yaml_document_t extra;
        if (!yaml_parser_load(&parser, &extra)) {
            mark_loc(loc, sizeof loc, file, parser.problem_mark);
            st = ddad_fail(DDAD_STATUS_CONFIG, "%s: malformed YAML: %s", loc,
                           parser.problem ? parser.problem : "syntax error");
            goto done;
        }
        bool more = yaml_document_get_root_node(&extra) != NULL;
        yaml_mark_t m = extra.start_mark;
        yaml_document_delete(&extra);
        if (more) {
            mark_loc(loc, sizeof loc, file, m);
            st = ddad_fail(DDAD_STATUS_CONFIG, "%s: a config file holds one YAML document; found a second one", loc);
            goto done;
        }
    }
    if (root->type != YAML_MAPPING_NODE) {
        mark_loc(loc, sizeof loc, file, root->start_mark);
        st = ddad_fail(DDAD_STATUS_CONFIG, "%s: expected a mapping of keys (key: value) at the top level", loc);
        goto done;
    }
    /* base: first, so that this file's keys override it. */
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(&doc, pr->value);
        if (!kn || !vn || kn->type != YAML_SCALAR_NODE || strcmp((const char *)kn->data.scalar.value, "base") != 0)
            continue;
        mark_loc(loc, sizeof loc, file, vn->start_mark);
        if (vn->type != YAML_SCALAR_NODE || !vn->data.scalar.length) {
            st = ddad_fail(DDAD_STATUS_CONFIG, "%s: base: expected the path of a config file to inherit from", loc);
            goto done;
        }
        const char *rel = (const char *)vn->data.scalar.value;
        size_t cap = strlen(basedir) + strlen(rel) + 2;
        char *full = malloc(cap);
        if (!full) {
            st = ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory", loc);
            goto done;
        }
        if (rel[0] == '/' || strcmp(basedir, ".") == 0)
            snprintf(full, cap, "%s", rel);
        else
            snprintf(full, cap, "%s/%s", basedir, rel);
        char where[2 * MSG_MAX];
        snprintf(where, sizeof where, "%s: base '%.*s'", loc, MSG_MAX / 2, rel);
        st = load_path(L, full, where);
        free(full);
        if (st != DDAD_OK)
            goto done;
        break; /* duplicates are reported by apply_mapping's callers below */
    }
    {
        size_t n;
        ddad_config_schema(&n);
        int *seen = calloc(n, sizeof *seen);
        if (!seen) {
            st = ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory", file);
            goto done;
        }
        st = apply_mapping(L, &doc, root, "", file, seen);
        free(seen);
    }
done:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return st;
}

static const char *intern_name(loader_t *L, const char *name)
{
    if (L->n_names >= sizeof L->names / sizeof L->names[0])
        return "?";
    L->names[L->n_names] = strdup(name);
    return L->names[L->n_names] ? L->names[L->n_names++] : "?";
}

static ddad_status_t read_file(const char *path, char **text, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return DDAD_STATUS_IO;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf)
        return DDAD_STATUS_NOMEM;
    if (err) {
        free(buf);
        return DDAD_STATUS_IO;
    }
    *text = buf;
    *len = n;
    return DDAD_OK;
}

static void chain_text(const loader_t *L, const char *last, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (int i = 0; i < L->depth; i++)
        append(buf, cap, "%s -> ", L->chain_display[i]);
    append(buf, cap, "%s", last);
}

/* Loads one file of the chain. includer_loc is "file:l:c: base 'x'" for a
 * base file, NULL for the top file. */
static ddad_status_t load_path(loader_t *L, const char *path, const char *includer_loc)
{
    char *canon = realpath(path, NULL);
    if (!canon) {
        int e = errno;
        if (includer_loc)
            return ddad_fail(DDAD_STATUS_CONFIG, "%s: cannot open '%s': %s", includer_loc, path, strerror(e));
        return ddad_fail(DDAD_STATUS_CONFIG, "%s: cannot open config file: %s", path, strerror(e));
    }
    for (int i = 0; i < L->depth; i++)
        if (strcmp(L->chain[i], canon) == 0) {
            char chain[MSG_MAX];
            chain_text(L, path, chain, sizeof chain);
            free(canon);
            return ddad_fail(DDAD_STATUS_CONFIG, "%s: inheritance loop: %s", includer_loc ? includer_loc : path, chain);
        }
    if (L->depth >= DDAD_CONFIG_MAX_DEPTH) {
        free(canon);
        return ddad_fail(DDAD_STATUS_CONFIG, "%s: base chain deeper than %d files", includer_loc ? includer_loc : path,
                         DDAD_CONFIG_MAX_DEPTH);
    }
    char *text = NULL;
    size_t len = 0;
    ddad_status_t st = read_file(path, &text, &len);
    if (st != DDAD_OK) {
        int e = errno;
        free(canon);
        if (st == DDAD_STATUS_NOMEM)
            return ddad_fail(st, "%s: out of memory reading the config", path);
        if (includer_loc)
            return ddad_fail(DDAD_STATUS_CONFIG, "%s: cannot read '%s': %s", includer_loc, path, strerror(e));
        return ddad_fail(DDAD_STATUS_CONFIG, "%s: cannot read config file: %s", path, strerror(e));
    }
    const char *display = intern_name(L, path);
    char *basedir = dir_of(path);
    L->chain[L->depth] = canon;
    L->chain_display[L->depth] = (char *)display;
    L->depth++;
    st = basedir ? load_document(L, text, len, display, basedir) : ddad_fail(DDAD_STATUS_NOMEM, "out of memory");
    L->depth--;
    free(basedir);
    free(canon);
    free(text);
    return st;
}

/* "key.path=value" -> key and value view; errors name the assignment. */
static ddad_status_t apply_assignment(ddad_config_t *cfg, const char *assignment, size_t *key_idx)
{
    char loc[MSG_MAX];
    if (!assignment)
        return ddad_fail(DDAD_STATUS_CONFIG, "--set: missing assignment; expected key.path=value");
    snprintf(loc, sizeof loc, "--set '%s'", assignment);
    const char *eq = strchr(assignment, '=');
    if (!eq)
        return ddad_fail(DDAD_STATUS_CONFIG, "%s: expected key.path=value (e.g. --set train.iterations=500)", loc);
    char path[PATH_TEXT_MAX];
    size_t klen = (size_t)(eq - assignment);
    if (klen >= sizeof path)
        return ddad_fail(DDAD_STATUS_CONFIG, "%s: key too long", loc);
    memcpy(path, assignment, klen);
    path[klen] = '\0';
    char *key = trim(path);
    if (!*key)
        return ddad_fail(DDAD_STATUS_CONFIG, "%s: missing key before '='; expected key.path=value", loc);
    const ddad_config_key_t *k = ddad_config_find_key(key);
    if (!k) {
        if (is_section(key))
            return ddad_fail(DDAD_STATUS_CONFIG, "%s: '%s' is a section, not a key (e.g. %s=...)", loc, key,
                             first_key_in(key));
        return ddad_fail(DDAD_STATUS_CONFIG, "%s: unknown key '%s'; did you mean '%s'? (docs/config-keys.md lists all keys)",
                         loc, key, closest_key(key));
    }
    char *text = strdup(eq + 1);
    if (!text)
        return ddad_fail(DDAD_STATUS_NOMEM, "%s: out of memory", loc);
    vview_t v = {0};
    char *s = trim(text);
    size_t len = strlen(s);
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        split_list(s, &v);
    } else {
        bool quoted = unquote(&s);
        v.scalar = s;
        v.null = !quoted && !*s;
    }
    ddad_status_t st = apply_view(cfg, k, &v, loc);
    free(v.scratch);
    free(text);
    if (st == DDAD_OK && key_idx)
        *key_idx = key_index(k);
    return st;
}

ddad_status_t ddad_config_set(ddad_config_t *cfg, const char *assignment)
{
    if (!cfg)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_config_set: cfg is NULL");
    ddad_config_t *tmp = malloc(sizeof *tmp); /* cfg stays unchanged on failure */
    if (!tmp)
        return ddad_fail(DDAD_STATUS_NOMEM, "--set: out of memory");
    *tmp = *cfg;
    ddad_status_t st = apply_assignment(tmp, assignment, NULL);
    if (st == DDAD_OK)
        *cfg = *tmp;
    free(tmp);
    return st;
}

static ddad_status_t validate_impl(const ddad_config_t *cfg, const origin_t *origins);

static ddad_status_t load_common(ddad_config_t *cfg, const char *path, const char *yaml, const char *name,
                                 const char *const *overrides, size_t n_overrides)
{
    size_t n;
    ddad_config_schema(&n);
    loader_t L = {.cfg = cfg};
    L.origins = calloc(n, sizeof *L.origins);
    if (!L.origins)
        return ddad_fail(DDAD_STATUS_NOMEM, "loading the config: out of memory");
    ddad_config_defaults(cfg);
    ddad_status_t st = DDAD_OK;
    if (path) {
        st = load_path(&L, path, NULL);
    } else if (yaml) {
        const char *display = intern_name(&L, name ? name : "<string>");
        char *basedir = name ? dir_of(name) : strdup(".");
        if (!basedir) {
            st = ddad_fail(DDAD_STATUS_NOMEM, "loading the config: out of memory");
        } else {
            L.chain[0] = strdup(display);
            L.chain_display[0] = (char *)display;
            L.depth = 1;
            st = load_document(&L, yaml, strlen(yaml), display, basedir);
            L.depth = 0;
            free(L.chain[0]);
            free(basedir);
        }
    }
    for (size_t i = 0; st == DDAD_OK && i < n_overrides; i++) {
        size_t idx = 0;
        st = apply_assignment(cfg, overrides[i], &idx);
        if (st == DDAD_OK)
            L.origins[idx] = (origin_t){.set = overrides[i]};
    }
    if (st == DDAD_OK)
        st = validate_impl(cfg, L.origins);
    for (size_t i = 0; i < L.n_names; i++)
        free(L.names[i]);
    free(L.origins);
    return st;
}

ddad_status_t ddad_config_load(ddad_config_t *cfg, const char *path, const char *const *overrides, size_t n_overrides)
{
    return load_common(cfg, path, NULL, NULL, overrides, n_overrides);
}

ddad_status_t ddad_config_load_string(ddad_config_t *cfg, const char *yaml, const char *name,
                                      const char *const *overrides, size_t n_overrides)
{
    return load_common(cfg, NULL, yaml ? yaml : "", name, overrides, n_overrides);
}

/* ======================================================================== */
/* validation                                                               */
/* ======================================================================== */

/* Fails with "<where path was set>: <message>". */
static ddad_status_t vfail(const origin_t *origins, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ddad_status_t vfail(const origin_t *origins, const char *path, const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const ddad_config_key_t *k = ddad_config_find_key(path);
    const origin_t *o = (origins && k) ? &origins[key_index(k)] : NULL;
    if (o && o->file)
        return ddad_fail(DDAD_STATUS_CONFIG, "%s:%d:%d: %s", o->file, o->line, o->col, msg);
    if (o && o->set)
        return ddad_fail(DDAD_STATUS_CONFIG, "--set '%s': %s", o->set, msg);
    return ddad_fail(DDAD_STATUS_CONFIG, "%s", msg);
}

static const char *format_name(const ddad_config_t *cfg)
{
    return ddad_config_find_key("data.format")->names[cfg->data.format];
}

static const char *known_list_name(const ddad_config_t *cfg)
{
    size_t n;
    const char *const *list = ddad_config_known_categories(cfg, &n);
    if (list == ddad_mvtec_categories)
        return "MVTec AD";
    if (list == ddad_visa_categories)
        return "VisA";
    if (list == ddad_btad_categories)
        return "BTAD";
    if (list == ddad_synthetic_categories)
        return "synthetic";
    return "data.category";
}

static ddad_status_t validate_categories(const ddad_config_t *cfg, const origin_t *o)
{
    const ddad_config_names_t *c = &cfg->data.category;
    size_t nk;
    const char *const *known = ddad_config_known_categories(cfg, &nk);
    char all[512];
    if (known)
        names_list(known, nk, all, sizeof all);
    if (!c->is_list && c->n == 1 && strcmp(c->v[0], "all") == 0) {
        if (!known)
            return vfail(o, "data.category",
                         "data.category 'all' needs a known category list, and data.root '%s' with data.format %s has "
                         "none (known: mvtec* and synthetic roots, visa, btad); list the categories instead",
                         cfg->data.root, format_name(cfg));
    } else if (known) {
        for (size_t i = 0; i < c->n; i++) {
            size_t j = 0;
            while (j < nk && strcmp(known[j], c->v[i]) != 0)
                j++;
            if (j == nk)
                return vfail(o, "data.category",
                             "data.category: '%s' is not one of the %s categories (did you mean '%s'?); allowed: %s, or all",
                             c->v[i], known_list_name(cfg), closest_name(c->v[i], known, nk), all);
        }
    }
    const char *names[DDAD_CONFIG_MAX_NAMES];
    size_t n = ddad_config_categories(cfg, names, DDAD_CONFIG_MAX_NAMES);
    if (ddad_config_is_unified(cfg) && cfg->model.num_classes == 0) {
        int need = 0;
        for (size_t i = 0; i < n && i < DDAD_CONFIG_MAX_NAMES; i++) {
            int label = ddad_config_category_index(cfg, names[i]);
            if (label + 1 > need)
                need = label + 1;
        }
        return vfail(o, "model.num_classes",
                     "model.num_classes = 0, but a unified model (data.category a list or all) is class-conditional; "
                     "set model.num_classes to at least %d",
                     need);
    }
    if (cfg->model.num_classes > 0)
        for (size_t i = 0; i < n && i < DDAD_CONFIG_MAX_NAMES; i++) {
            int label = ddad_config_category_index(cfg, names[i]);
            if (label >= cfg->model.num_classes)
                return vfail(o, "model.num_classes",
                             "model.num_classes = %d is too small: category '%s' has class label %d (its index in the "
                             "%s list); use at least %d",
                             cfg->model.num_classes, names[i], label, known_list_name(cfg), label + 1);
        }
    return DDAD_OK;
}

static ddad_status_t validate_impl(const ddad_config_t *cfg, const origin_t *o)
{
    size_t n;
    const ddad_config_key_t *keys = ddad_config_schema(&n);
    char msg[MSG_MAX];
    for (size_t i = 0; i < n; i++)
        if (!check_value(cfg, &keys[i], msg, sizeof msg))
            return vfail(o, keys[i].path, "%s", msg);

    const ddad_config_model_t *m = &cfg->model;
    const int size = cfg->data.image_size;
    const int levels = (int)m->channel_mult.n;

    if (m->channels % 32 != 0)
        return vfail(o, "model.channels", "model.channels = %d must be a multiple of 32 (GroupNorm with 32 groups)",
                     m->channels);
    if (levels - 1 >= 30 || size % (1 << (levels - 1)) != 0)
        return vfail(o, "data.image_size",
                     "data.image_size = %d must be divisible by 2^(len(model.channel_mult) - 1) = %d: the UNet halves "
                     "the resolution %d times",
                     size, 1 << (levels - 1), levels - 1);
    for (size_t i = 0; i < m->attention_resolutions.n; i++) {
        int r = m->attention_resolutions.v[i];
        int level = -1;
        for (int l = 0; l < levels; l++)
            if (size >> l == r)
                level = l;
        if (level < 0) {
            char res[256] = "";
            for (int l = 0; l < levels; l++)
                append(res, sizeof res, "%s%d", l ? ", " : "", size >> l);
            return vfail(o, "model.attention_resolutions",
                         "model.attention_resolutions: %d px is not a resolution of this UNet (data.image_size %d, %d "
                         "levels); allowed: %s",
                         r, size, levels, res);
        }
        int ch = m->channels * m->channel_mult.v[level];
        if (ch % m->head_channels != 0)
            return vfail(o, "model.head_channels",
                         "model.head_channels = %d does not divide the %d channels of the %d px level that has "
                         "attention",
                         m->head_channels, ch, r);
    }
    int out_blocks = levels * (m->res_blocks + 1);
    if (m->feature_tap >= out_blocks)
        return vfail(o, "model.feature_tap",
                     "model.feature_tap = %d, but the decoder has only %d output blocks (len(model.channel_mult) x "
                     "(model.res_blocks + 1)); allowed 0 to %d",
                     m->feature_tap, out_blocks, out_blocks - 1);
    if (cfg->diffusion.respacing > cfg->diffusion.steps)
        return vfail(o, "diffusion.respacing", "diffusion.respacing = %d is larger than diffusion.steps = %d",
                     cfg->diffusion.respacing, cfg->diffusion.steps);
    for (size_t i = 0; i < cfg->score.timesteps.n; i++)
        if (cfg->score.timesteps.v[i] >= cfg->diffusion.respacing)
            return vfail(o, "score.timesteps",
                         "score.timesteps: %d is not a respaced timestep; each must be < diffusion.respacing = %d",
                         cfg->score.timesteps.v[i], cfg->diffusion.respacing);
    if (cfg->recon.t >= cfg->diffusion.respacing)
        return vfail(o, "recon.t", "recon.t = %d must be < diffusion.respacing = %d", cfg->recon.t,
                     cfg->diffusion.respacing);
    if ((long long)cfg->score.topk > (long long)size * size)
        return vfail(o, "score.topk", "score.topk = %d is more than the %lld pixels of a %d x %d image",
                     cfg->score.topk, (long long)size * size, size, size);
    for (size_t i = 0; i < cfg->recon.record.n; i++)
        if (cfg->recon.record.v[i] > cfg->recon.rounds)
            return vfail(o, "recon.record", "recon.record: round %d is after the last round (recon.rounds = %d)",
                         cfg->recon.record.v[i], cfg->recon.rounds);
    if (cfg->train.batch_size % cfg->train.grad_accum != 0)
        return vfail(o, "train.grad_accum",
                     "train.grad_accum = %d does not divide train.batch_size = %d: each optimizer step runs "
                     "grad_accum micro-batches of batch_size / grad_accum images",
                     cfg->train.grad_accum, cfg->train.batch_size);
    if (cfg->train.precision == DDAD_PRECISION_FP16 && strncmp(cfg->device, "cuda", 4) != 0)
        return vfail(o, "train.precision",
                     "train.precision fp16 needs a CUDA device (device is '%s'); use fp32 or bf16", cfg->device);
    if (cfg->score.precision == DDAD_PRECISION_FP16 && strncmp(cfg->device, "cuda", 4) != 0)
        return vfail(o, "score.precision",
                     "score.precision fp16 needs a CUDA device (device is '%s'); use fp32 or bf16", cfg->device);
    return validate_categories(cfg, o);
}

ddad_status_t ddad_config_validate(const ddad_config_t *cfg) { return validate_impl(cfg, NULL); }

/* ======================================================================== */
/* output                                                                   */
/* ======================================================================== */

#define VALUE_TEXT_MAX (DDAD_CONFIG_MAX_NAMES * (2 * DDAD_CONFIG_NAME_MAX + 4) + 2 * DDAD_CONFIG_PATH_MAX + 16)

static void write_yaml(const ddad_config_t *cfg, FILE *out)
{
    size_t n;
    const ddad_config_key_t *keys = ddad_config_schema(&n);
    char *val = malloc(VALUE_TEXT_MAX);
    if (!val)
        return;
    char section[PATH_TEXT_MAX] = "";
    fputs("# ddad configuration (resolved; every key, see docs/config-keys.md)\n", out);
    for (size_t i = 0; i < n; i++) {
        const char *path = keys[i].path;
        const char *dot = strchr(path, '.');
        char sec[PATH_TEXT_MAX] = "";
        if (dot)
            snprintf(sec, sizeof sec, "%.*s", (int)(dot - path), path);
        if (strcmp(sec, section) != 0 && *sec)
            fprintf(out, "%s:\n", sec);
        snprintf(section, sizeof section, "%s", sec);
        value_text(cfg, &keys[i], true, val, VALUE_TEXT_MAX);
        fprintf(out, "%s%s: %s\n", *sec ? "  " : "", dot ? dot + 1 : path, val);
    }
    free(val);
}

void ddad_config_print(const ddad_config_t *cfg, FILE *out, ddad_config_format_t format)
{
    if (format == DDAD_CONFIG_FORMAT_YAML) {
        write_yaml(cfg, out);
        return;
    }
    size_t n;
    const ddad_config_key_t *keys = ddad_config_schema(&n);
    char *val = malloc(VALUE_TEXT_MAX);
    if (!val)
        return;
    size_t kw = strlen("key"), vw = strlen("value");
    for (size_t i = 0; i < n; i++) {
        value_text(cfg, &keys[i], false, val, VALUE_TEXT_MAX);
        if (strlen(keys[i].path) > kw)
            kw = strlen(keys[i].path);
        if (strlen(val) > vw)
            vw = strlen(val);
    }
    char *rule = malloc(kw + vw + 8);
    if (!rule) {
        free(val);
        return;
    }
    size_t r = 0;
    rule[r++] = '+';
    for (size_t i = 0; i < kw + 2; i++)
        rule[r++] = '-';
    rule[r++] = '+';
    for (size_t i = 0; i < vw + 2; i++)
        rule[r++] = '-';
    rule[r++] = '+';
    rule[r] = '\0';
    fprintf(out, "%s\n| %-*s | %-*s |\n%s\n", rule, (int)kw, "key", (int)vw, "value", rule);
    for (size_t i = 0; i < n; i++) {
        value_text(cfg, &keys[i], false, val, VALUE_TEXT_MAX);
        if (!*val) /* show an empty string as "" */
            snprintf(val, VALUE_TEXT_MAX, "\"\"");
        fprintf(out, "| %-*s | %-*s |\n", (int)kw, keys[i].path, (int)vw, val);
    }
    fprintf(out, "%s\n", rule);
    free(rule);
    free(val);
}

ddad_status_t ddad_config_to_yaml(const ddad_config_t *cfg, char **out)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return ddad_fail(DDAD_STATUS_NOMEM, "config to YAML: out of memory");
    write_yaml(cfg, f);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        return ddad_fail(DDAD_STATUS_NOMEM, "config to YAML: out of memory");
    }
    *out = buf;
    return DDAD_OK;
}

int ddad_config_foreach(const ddad_config_t *cfg, ddad_config_foreach_fn fn, void *user)
{
    size_t n;
    const ddad_config_key_t *keys = ddad_config_schema(&n);
    char *val = malloc(VALUE_TEXT_MAX);
    if (!val)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        value_text(cfg, &keys[i], false, val, VALUE_TEXT_MAX);
        rc = fn(keys[i].path, val, user);
    }
    free(val);
    return rc;
}

bool ddad_config_get_text(const ddad_config_t *cfg, const char *path, char *buf, size_t cap)
{
    const ddad_config_key_t *k = ddad_config_find_key(path);
    if (!k || !cap)
        return false;
    value_text(cfg, k, false, buf, cap);
    return true;
}

/* ======================================================================== */
/* categories and run folder                                                */
/* ======================================================================== */

const char *const *ddad_config_known_categories(const ddad_config_t *cfg, size_t *n)
{
    *n = 0;
    if (cfg->data.format != DDAD_DATA_FORMAT_MVTEC)
        return ddad_category_list(cfg->data.format, n);
    /* Last path component of data.root, ignoring trailing slashes. */
    char root[DDAD_CONFIG_PATH_MAX];
    snprintf(root, sizeof root, "%s", cfg->data.root);
    size_t len = strlen(root);
    while (len > 1 && root[len - 1] == '/')
        root[--len] = '\0';
    const char *last = strrchr(root, '/');
    last = last ? last + 1 : root;
    if (strcasecmp(last, "synthetic") == 0) {
        *n = DDAD_SYNTHETIC_CATEGORY_COUNT;
        return ddad_synthetic_categories;
    }
    if (strncasecmp(last, "mvtec", 5) == 0)
        return ddad_category_list(DDAD_DATA_FORMAT_MVTEC, n);
    return NULL;
}

bool ddad_config_is_unified(const ddad_config_t *cfg)
{
    const ddad_config_names_t *c = &cfg->data.category;
    return c->n > 0 && (c->is_list || strcmp(c->v[0], "all") == 0);
}

size_t ddad_config_categories(const ddad_config_t *cfg, const char **names, size_t cap)
{
    const ddad_config_names_t *c = &cfg->data.category;
    if (!c->is_list && c->n == 1 && strcmp(c->v[0], "all") == 0) {
        size_t nk;
        const char *const *known = ddad_config_known_categories(cfg, &nk);
        if (!known)
            return 0;
        for (size_t i = 0; i < nk && i < cap; i++)
            names[i] = known[i];
        return nk;
    }
    for (size_t i = 0; i < c->n && i < cap; i++)
        names[i] = c->v[i];
    return c->n;
}

int ddad_config_category_index(const ddad_config_t *cfg, const char *name)
{
    size_t nk;
    const char *const *known = ddad_config_known_categories(cfg, &nk);
    if (known) {
        for (size_t i = 0; i < nk; i++)
            if (strcmp(known[i], name) == 0)
                return (int)i;
        return -1;
    }
    const ddad_config_names_t *c = &cfg->data.category;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->v[i], name) == 0)
            return (int)i;
    return -1;
}

ddad_status_t ddad_config_run_dir(const ddad_config_t *cfg, char *buf, size_t cap)
{
    const char *fmt = format_name(cfg);
    const char *what = ddad_config_is_unified(cfg) ? "unified" : cfg->data.category.v[0];
    int len = *cfg->run.name ? snprintf(buf, cap, "%s/%s/%s/%s", cfg->run.dir, fmt, what, cfg->run.name)
                             : snprintf(buf, cap, "%s/%s/%s", cfg->run.dir, fmt, what);
    if (len < 0 || (size_t)len >= cap)
        return ddad_fail(DDAD_STATUS_CONFIG, "run folder under run.dir '%s' is longer than %zu characters",
                         cfg->run.dir, cap ? cap - 1 : 0);
    return DDAD_OK;
}
