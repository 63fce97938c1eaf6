/* tests/fuzz/fuzz_targets.c - the bodies of ddad's fuzz harnesses.
 *
 * Each ddad_fuzz_<name>(data, size) feeds one input to one reader of
 * ddad_base and checks what must hold for any input: no crash, no leak, no
 * undefined behaviour (the sanitizers), a message for every rejection, and a
 * few consistency properties (below). It returns DDAD_FUZZ_ACCEPTED when the
 * reader accepted the input and DDAD_FUZZ_REJECTED when it refused it
 * cleanly; a broken property calls abort() after printing what broke.
 *
 * The same code runs in two places:
 *   tests/fuzz/fuzz_main.c         the libFuzzer programs (fuzz_config, ...)
 *   tests/test_fuzz_regressions.c  ctest: replays tests/fuzz/regressions/
 *                                  <name>/ and the seed corpora
 * so that every input the fuzzer ever broke stays a test.
 *
 *   target    reader                                         input
 *   config    ddad_config_load_string (+ base files, --set)  text, sections split by "#@@" lines
 *   image     ddad_image_probe / ddad_image_load (RGB, gray)  an image file's bytes
 *   mapsfile  ddad_mapsfile_open / read_image / read_steps   an HDF5 file's bytes
 *   mapslayout  the same reader on a valid HDF5 file         a layout description (below)
 *   h5params  ddad_h5_open / list / shape / read (checkpoint), an HDF5 file's bytes
 *             ddad_reference_load (4 x 4 reference statistics)
 *   dataset   ddad_dataset_index / validate / select         a folder tree, encoded (below)
 *   tiff      ddad_tiff_read_float / ddad_tiff_decode_float  a TIFF file's bytes
 *   thresholds  ddad_calib_file_read / ddad_calib_file_update  a threshold.json file's bytes
 *
 * Files the readers need are written to one scratch folder per process
 * (under /dev/shm when it is writable, else $TMPDIR or /tmp), removed at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calib.h"
#include "config.h"
#include "dataset.h"
#include "reference.h"
#include "h5io.h"
#include "image.h"
#include "mapsfile.h"
#include "status.h"
#include "tiff.h"

#define DDAD_FUZZ_REJECTED 0
#define DDAD_FUZZ_ACCEPTED 1

/* Largest array a harness asks a reader to materialise (elements); a file may
 * declare any shape without storing it, so bigger ones are only probed. */
#define DDAD_FUZZ_MAX_ELEMS ((int64_t)1 << 20)

typedef int (*ddad_fuzz_fn)(const uint8_t *data, size_t size);

typedef struct ddad_fuzz_target {
    const char *name;
    ddad_fuzz_fn fn;
} ddad_fuzz_target_t;

int ddad_fuzz_config(const uint8_t *data, size_t size);
int ddad_fuzz_image(const uint8_t *data, size_t size);
int ddad_fuzz_mapsfile(const uint8_t *data, size_t size);
int ddad_fuzz_mapslayout(const uint8_t *data, size_t size);
int ddad_fuzz_h5params(const uint8_t *data, size_t size);
int ddad_fuzz_dataset(const uint8_t *data, size_t size);
int ddad_fuzz_tiff(const uint8_t *data, size_t size);
int ddad_fuzz_thresholds(const uint8_t *data, size_t size);
void ddad_fuzz_shutdown(void);

/* ---- shared helpers ---------------------------------------------------- */

static char ddad_fuzz_dir_[512];

static int ddad_fuzz_rm_cb_(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

static void ddad_fuzz_rmtree_(const char *path)
{
    nftw(path, ddad_fuzz_rm_cb_, 16, FTW_DEPTH | FTW_PHYS);
}

static void ddad_fuzz_cleanup_(void)
{
    if (ddad_fuzz_dir_[0])
        ddad_fuzz_rmtree_(ddad_fuzz_dir_);
    ddad_fuzz_dir_[0] = '\0';
}

static void ddad_fuzz_quiet_log_(ddad_log_level_t level, const char *msg, void *user)
{
    (void)level;
    (void)msg;
    (void)user;
}

static void ddad_fuzz_die_(const char *what, const char *detail)
{
    fprintf(stderr, "ddad fuzz: property broken: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

/* The per-process scratch folder (created on first use). */
static const char *ddad_fuzz_dir(void)
{
    if (ddad_fuzz_dir_[0])
        return ddad_fuzz_dir_;
    const char *base = getenv("DDAD_FUZZ_TMP");
    if (!base || !*base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(ddad_fuzz_dir_, sizeof ddad_fuzz_dir_, "%s/ddad-fuzz-XXXXXX", base);
    if (!mkdtemp(ddad_fuzz_dir_)) {
        fprintf(stderr, "ddad fuzz: cannot create a scratch folder under %s: %s\n", base, strerror(errno));
        abort();
    }
    atexit(ddad_fuzz_cleanup_);
    ddad_log_set_callback(ddad_fuzz_quiet_log_, NULL);
    return ddad_fuzz_dir_;
}

/* "<scratch>/<name>" in buf. */
static const char *ddad_fuzz_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", ddad_fuzz_dir(), name);
    return buf;
}

static void ddad_fuzz_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        fprintf(stderr, "ddad fuzz: cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
}

/* A rejection must say why: a status in range and a non-empty message. */
static int ddad_fuzz_rejected(ddad_status_t st, const char *where)
{
    if (st <= DDAD_OK || st > DDAD_STATUS_INTERNAL)
        ddad_fuzz_die_("status out of range", where);
    if (!ddad_last_error()[0])
        ddad_fuzz_die_("failure without a message", where);
    if (st == DDAD_STATUS_INTERNAL)
        ddad_fuzz_die_("internal error on bad input", ddad_last_error());
    return DDAD_FUZZ_REJECTED;
}

/* Reads every byte so that the sanitizers see short buffers. */
static unsigned ddad_fuzz_touch(const void *p, size_t n)
{
    const volatile uint8_t *b = p;
    unsigned s = 0;
    for (size_t i = 0; i < n; i++)
        s += b[i];
    return s;
}

/* ---- config ------------------------------------------------------------
 * Input: YAML text. Lines reading exactly "#@@" split it into sections:
 * section 0 is the file under test (loaded as "<scratch>/cfg/main.yaml"),
 * sections 1..3 are written to cfg/1.yaml .. cfg/3.yaml (for base: chains and
 * loops), section 4 holds --set overrides, one per line (at most 8).
 * Properties: an accepted config validates, and its YAML dump loads back to
 * the same dump. */
#define DDAD_FUZZ_CFG_SECTIONS 5
#define DDAD_FUZZ_CFG_SETS 8

static int ddad_fuzz_config_foreach_cb_(const char *path, const char *value, void *user)
{
    (void)user;
    if (!path || !value)
        ddad_fuzz_die_("config foreach gave NULL", path);
    return 0;
}

int ddad_fuzz_config(const uint8_t *data, size_t size)
{
    char dir[600], path[700];
    ddad_fuzz_path(dir, sizeof dir, "cfg");
    ddad_fuzz_rmtree_(dir);
    if (mkdir(dir, 0700) != 0)
        ddad_fuzz_die_("cannot create the config folder", dir);

    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';

    char *sec[DDAD_FUZZ_CFG_SECTIONS] = {text};
    int nsec = 1;
    for (char *p = text; nsec < DDAD_FUZZ_CFG_SECTIONS && (p = strstr(p, "#@@")) != NULL;) {
        bool line_start = p == text || p[-1] == '\n';
        bool line_end = p[3] == '\n' || p[3] == '\0';
        if (line_start && line_end) {
            *p = '\0';
            p += p[3] ? 4 : 3;
            sec[nsec++] = p;
        } else {
            p += 3;
        }
    }
    for (int i = 1; i < nsec && i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "cfg/%d.yaml", i);
        ddad_fuzz_path(path, sizeof path, name);
        ddad_fuzz_write_file(path, sec[i], strlen(sec[i]));
    }
    const char *sets[DDAD_FUZZ_CFG_SETS];
    size_t nsets = 0;
    if (nsec > 4) {
        for (char *line = strtok(sec[4], "\n"); line && nsets < DDAD_FUZZ_CFG_SETS; line = strtok(NULL, "\n"))
            sets[nsets++] = line;
    }

    int result = DDAD_FUZZ_ACCEPTED;
    char *yaml = NULL, *yaml2 = NULL;
    ddad_config_t *cfg = malloc(sizeof *cfg), *cfg2 = malloc(sizeof *cfg2);
    if (!cfg || !cfg2)
        abort();
    ddad_fuzz_path(path, sizeof path, "cfg/main.yaml");
    ddad_status_t st = ddad_config_load_string(cfg, sec[0], path, sets, nsets);
    if (st) {
        result = ddad_fuzz_rejected(st, "ddad_config_load_string");
        goto done;
    }
    if ((st = ddad_config_validate(cfg)) != DDAD_OK)
        ddad_fuzz_die_("a loaded config does not validate", ddad_last_error());
    if ((st = ddad_config_to_yaml(cfg, &yaml)) != DDAD_OK)
        ddad_fuzz_die_("ddad_config_to_yaml failed on a loaded config", ddad_last_error());
    if ((st = ddad_config_load_string(cfg2, yaml, path, NULL, 0)) != DDAD_OK) {
        fprintf(stderr, "---- dump ----\n%s---- end ----\n", yaml);
        ddad_fuzz_die_("the YAML dump of a loaded config does not load back", ddad_last_error());
    }
    if ((st = ddad_config_to_yaml(cfg2, &yaml2)) != DDAD_OK)
        ddad_fuzz_die_("ddad_config_to_yaml failed on a reloaded config", ddad_last_error());
    if (strcmp(yaml, yaml2) != 0) {
        fprintf(stderr, "---- first ----\n%s---- reloaded ----\n%s---- end ----\n", yaml, yaml2);
        ddad_fuzz_die_("config dump -> load -> dump changed the config", NULL);
    }

    /* Everything a program does with a config once loaded. */
    FILE *null = fopen("/dev/null", "w");
    if (null) {
        ddad_config_print(cfg, null, DDAD_CONFIG_FORMAT_TABLE);
        ddad_config_print(cfg, null, DDAD_CONFIG_FORMAT_YAML);
        fclose(null);
    }
    ddad_config_foreach(cfg, ddad_fuzz_config_foreach_cb_, NULL);
    size_t nkeys = 0;
    const ddad_config_key_t *keys = ddad_config_schema(&nkeys);
    for (size_t i = 0; i < nkeys; i++) {
        char buf[4096];
        if (!ddad_config_get_text(cfg, keys[i].path, buf, sizeof buf))
            ddad_fuzz_die_("ddad_config_get_text refused a schema key", keys[i].path);
    }
    char run[2048];
    st = ddad_config_run_dir(cfg, run, sizeof run);
    if (st)
        ddad_fuzz_rejected(st, "ddad_config_run_dir");
    const char *names[64];
    size_t nc = ddad_config_categories(cfg, names, 64);
    for (size_t i = 0; i < nc && i < 64; i++) {
        if (!names[i])
            ddad_fuzz_die_("ddad_config_categories gave NULL", NULL);
        ddad_config_category_index(cfg, names[i]);
    }
    ddad_config_is_unified(cfg);
    size_t nknown = 0;
    ddad_config_known_categories(cfg, &nknown);
done:
    free(yaml);
    free(yaml2);
    free(cfg);
    free(cfg2);
    free(text);
    return result;
}

/* ---- image -------------------------------------------------------------
 * Input: the bytes of an image file (PNG, JPEG, BMP or anything else).
 * Properties: a decoded image has w, h > 0, the channels asked for and
 * w*h*c readable bytes; when both probe and load accept a file they agree
 * on its size. */
int ddad_fuzz_image(const uint8_t *data, size_t size)
{
    char path[700];
    ddad_fuzz_path(path, sizeof path, "image.bin");
    ddad_fuzz_write_file(path, data, size);

    int pw = 0, ph = 0, pc = 0;
    ddad_status_t pst = ddad_image_probe(path, &pw, &ph, &pc);
    if (pst)
        ddad_fuzz_rejected(pst, "ddad_image_probe");
    else if (pw <= 0 || ph <= 0 || pc < 1 || pc > 4)
        ddad_fuzz_die_("ddad_image_probe accepted a file with a bad size or channel count", NULL);

    int result = DDAD_FUZZ_REJECTED;
    static const ddad_image_mode_t modes[2] = {DDAD_IMAGE_RGB, DDAD_IMAGE_GRAY};
    for (int m = 0; m < 2; m++) {
        ddad_image_t img = {0}, small = {0};
        ddad_status_t st = ddad_image_load(&img, path, modes[m]);
        if (st) {
            ddad_fuzz_rejected(st, "ddad_image_load");
            if (img.data)
                ddad_fuzz_die_("ddad_image_load failed but left pixels", NULL);
            continue;
        }
        result = DDAD_FUZZ_ACCEPTED;
        int want_c = modes[m] == DDAD_IMAGE_RGB ? 3 : 1;
        if (img.w <= 0 || img.h <= 0 || img.c != want_c || !img.data)
            ddad_fuzz_die_("ddad_image_load returned a malformed image", NULL);
        if (!pst && (img.w != pw || img.h != ph))
            ddad_fuzz_die_("ddad_image_probe and ddad_image_load disagree on the size", NULL);
        ddad_fuzz_touch(img.data, (size_t)img.w * img.h * img.c);
        if ((int64_t)img.w * img.h <= 4096) {
            if (ddad_image_resize_bicubic(&img, 3, 5, &small) == DDAD_OK)
                ddad_fuzz_touch(small.data, (size_t)small.w * small.h * small.c);
            if (ddad_image_resize_nearest(&img, 5, 3, &small) == DDAD_OK)
                ddad_fuzz_touch(small.data, (size_t)small.w * small.h * small.c);
        }
        ddad_image_free(&small);
        ddad_image_free(&img);
    }
    return result;
}

/* ---- mapsfile ----------------------------------------------------------
 * Input: the bytes of an HDF5 file, opened as a maps file. When it opens,
 * every header field is checked for consistency and the first and last
 * images (maps, masks and per-timestep maps) are read. */
static int64_t ddad_fuzz_numel_(const int64_t *shape, int nd)
{
    int64_t n = 1;
    for (int i = 0; i < nd; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] && n > DDAD_FUZZ_MAX_ELEMS / shape[i])
            return DDAD_FUZZ_MAX_ELEMS + 1;
        n *= shape[i];
    }
    return n;
}

static int ddad_fuzz_read_mapsfile_(const char *path)
{
    ddad_mapsfile_t *f = NULL;
    ddad_status_t st = ddad_mapsfile_open(&f, path);
    if (st) {
        if (f)
            ddad_fuzz_die_("ddad_mapsfile_open failed but returned a handle", NULL);
        return ddad_fuzz_rejected(st, "ddad_mapsfile_open");
    }
    const ddad_mapsfile_info_t *info = ddad_mapsfile_info(f);
    if (!info || !info->category || !info->resolution || info->n < 0 || info->h <= 0 || info->w <= 0 ||
        info->num_timesteps < 0 || (info->n > 0 && (!info->labels || !info->names)) ||
        (info->num_timesteps > 0 && !info->timesteps))
        ddad_fuzz_die_("ddad_mapsfile_open accepted an inconsistent header", NULL);
    for (int64_t i = 0; i < info->n; i++) {
        if (!info->names[i])
            ddad_fuzz_die_("ddad_mapsfile_open gave a NULL image name", NULL);
        ddad_fuzz_touch(info->names[i], strlen(info->names[i]));
    }
    ddad_fuzz_touch(info->labels, (size_t)info->n);
    if (info->scores)
        ddad_fuzz_touch(info->scores, (size_t)info->n * sizeof *info->scores);
    if (info->timesteps)
        ddad_fuzz_touch(info->timesteps, (size_t)info->num_timesteps * sizeof *info->timesteps);

    int64_t hw[2] = {info->h, info->w}, thw[3] = {info->num_timesteps, info->h, info->w};
    int64_t npix = ddad_fuzz_numel_(hw, 2), nsteps = ddad_fuzz_numel_(thw, 3);
    if (npix > 0 && npix <= DDAD_FUZZ_MAX_ELEMS && info->n > 0) {
        float *map = malloc((size_t)npix * sizeof *map);
        uint8_t *mask = malloc((size_t)npix);
        float *steps = nsteps > 0 && nsteps <= DDAD_FUZZ_MAX_ELEMS ? malloc((size_t)nsteps * sizeof *steps) : NULL;
        if (!map || !mask)
            abort();
        int64_t rows[2] = {0, info->n - 1};
        for (int r = 0; r < 2; r++) {
            if ((st = ddad_mapsfile_read_image(f, rows[r], map, mask)))
                ddad_fuzz_rejected(st, "ddad_mapsfile_read_image");
            if (steps) {
                if ((st = ddad_mapsfile_read_steps(f, rows[r], "kl_maps", steps)))
                    ddad_fuzz_rejected(st, "ddad_mapsfile_read_steps kl_maps");
                if ((st = ddad_mapsfile_read_steps(f, rows[r], "feat_maps", steps)))
                    ddad_fuzz_rejected(st, "ddad_mapsfile_read_steps feat_maps");
            }
        }
        /* Out-of-range rows must be refused, not read. */
        if (ddad_mapsfile_read_image(f, info->n, map, mask) == DDAD_OK ||
            ddad_mapsfile_read_image(f, -1, map, mask) == DDAD_OK)
            ddad_fuzz_die_("ddad_mapsfile_read_image accepted an out-of-range row", NULL);
        free(steps);
        free(mask);
        free(map);
    }
    static const char *const attrs[] = {"format", "category", "config.alpha", "config", "git_rev"};
    for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++) {
        char *v = NULL;
        if ((st = ddad_mapsfile_get_attr(f, attrs[i], &v)) == DDAD_OK) {
            if (!v)
                ddad_fuzz_die_("ddad_mapsfile_get_attr succeeded with NULL", attrs[i]);
            ddad_fuzz_touch(v, strlen(v));
        } else {
            ddad_fuzz_rejected(st, "ddad_mapsfile_get_attr");
        }
        free(v);
    }
    ddad_mapsfile_close(f);
    return DDAD_FUZZ_ACCEPTED;
}

int ddad_fuzz_mapsfile(const uint8_t *data, size_t size)
{
    char path[700];
    ddad_fuzz_path(path, sizeof path, "maps.h5");
    ddad_fuzz_write_file(path, data, size);
    return ddad_fuzz_read_mapsfile_(path);
}

/* ---- mapslayout --------------------------------------------------------
 * Input: a description of a maps file's layout, which the harness writes as
 * a valid HDF5 file with ddad_h5_* and then reads like the mapsfile target.
 * This reaches ddad's own layout checks without fuzzing libhdf5's parser
 * (the raw targets do that). Bytes, read in order (0 once exhausted):
 *   n % 5, h % 6, w % 6, T % 3; a bitmask of datasets to leave out (maps,
 *   masks, labels, names, scores, kl_maps, feat_maps, timesteps); per
 *   dataset a type byte (< 128: the right type, else one of the six) and a
 *   shape byte (bit 0/1/2: one more/one less along dim 0/last dim, bit 7:
 *   drop the last dim); attribute bytes for format, format_version,
 *   category, resolution and the timesteps attribute; the rest fills the
 *   values. */
typedef struct ddad_fuzz_bytes {
    const uint8_t *p;
    size_t n, i;
} ddad_fuzz_bytes_t;

static uint8_t ddad_fuzz_byte_(ddad_fuzz_bytes_t *b)
{
    return b->i < b->n ? b->p[b->i++] : 0;
}

int ddad_fuzz_mapslayout(const uint8_t *data, size_t size)
{
    ddad_fuzz_bytes_t b = {data, size, 0};
    int64_t n = ddad_fuzz_byte_(&b) % 5, h = ddad_fuzz_byte_(&b) % 6, w = ddad_fuzz_byte_(&b) % 6;
    int64_t t = ddad_fuzz_byte_(&b) % 3;
    unsigned omit = ddad_fuzz_byte_(&b);
    static const char *const names[8] = {"maps", "masks", "labels", "names", "scores", "kl_maps", "feat_maps",
                                         "timesteps"};
    static const ddad_h5_type_t right[8] = {DDAD_H5_F32, DDAD_H5_U8,  DDAD_H5_U8,  DDAD_H5_U8,
                                            DDAD_H5_F32, DDAD_H5_F32, DDAD_H5_F32, DDAD_H5_I64};
    char path[700];
    ddad_fuzz_path(path, sizeof path, "layout.h5");
    ddad_h5_t *f = NULL;
    if (ddad_h5_open(&f, path, DDAD_H5_CREATE))
        ddad_fuzz_die_("cannot create the layout file", ddad_last_error());
    uint8_t fill[8 * 4 * 6 * 6 * 8];
    for (size_t i = 0; i < sizeof fill; i++)
        fill[i] = b.i + i < b.n ? b.p[b.i + i] : (uint8_t)i;
    for (int k = 0; k < 8; k++) {
        uint8_t tb = ddad_fuzz_byte_(&b), sb = ddad_fuzz_byte_(&b);
        if (omit & (1u << k))
            continue;
        int64_t shape[4];
        int nd;
        if (k <= 1) {
            shape[0] = n, shape[1] = h, shape[2] = w, nd = 3;
        } else if (k <= 4) {
            shape[0] = n, nd = 1;
        } else if (k <= 6) {
            shape[0] = n, shape[1] = t, shape[2] = h, shape[3] = w, nd = 4;
        } else {
            shape[0] = t, nd = 1;
        }
        if (sb & 1)
            shape[0]++;
        if ((sb & 2) && shape[0] > 0)
            shape[0]--;
        if (sb & 4)
            shape[nd - 1]++;
        if ((sb & 0x80) && nd > 1)
            nd--;
        ddad_status_t st;
        if (k == 3 && tb < 128) {
            const char *strs[6] = {"good/000", "", "crack/001", "x/\xff", "a", "b"};
            st = shape[0] <= 6 ? ddad_h5_write_strings(f, "names", strs, (size_t)shape[0]) : DDAD_OK;
        } else {
            ddad_h5_type_t ty = tb < 128 ? right[k] : (ddad_h5_type_t)(tb % 6);
            st = ddad_h5_write(f, names[k], ty, fill, shape, nd, sb & 0x40 ? 1 : 0);
        }
        if (st)
            ddad_clear_error(); /* a layout the writer refuses is simply absent */
    }
    static const char *const formats[4] = {DDAD_MAPSFILE_FORMAT, "ddad-checkpoint", "", "ddad-maps "};
    static const char *const resolutions[4] = {"model", "original", "", "MODEL"};
    static const char *const steps[4] = {"5,50", "5", "", "x,y"};
    uint8_t a = ddad_fuzz_byte_(&b);
    ddad_status_t st = DDAD_OK;
    if (!(a & 0x10))
        st = st ? st : ddad_h5_set_attr_str(f, "/", "format", formats[a & 3]);
    if (!(a & 0x20))
        st = st ? st : ddad_h5_set_attr_i64(f, "/", "format_version", (a >> 2) & 3 ? (a >> 2) & 3 : 1);
    if (!(a & 0x40))
        st = st ? st : ddad_h5_set_attr_str(f, "/", "category", "bottle");
    uint8_t r = ddad_fuzz_byte_(&b);
    if (!(r & 0x10))
        st = st ? st : ddad_h5_set_attr_str(f, "/", "resolution", resolutions[r & 3]);
    if (!(r & 0x20) && ddad_h5_exists(f, "kl_maps"))
        st = st ? st : ddad_h5_set_attr_str(f, "kl_maps", "timesteps", steps[(r >> 2) & 3]);
    if (!(r & 0x40) && ddad_h5_exists(f, "feat_maps"))
        st = st ? st : ddad_h5_set_attr_str(f, "feat_maps", "timesteps", steps[(r >> 6) & 3]);
    ddad_status_t cst = ddad_h5_close(f);
    if (st || cst)
        ddad_fuzz_die_("cannot write the layout file", ddad_last_error());
    return ddad_fuzz_read_mapsfile_(path);
}

/* ---- h5params ----------------------------------------------------------
 * Input: the bytes of an HDF5 file, read the way a checkpoint or weights
 * file is: open, walk every group from the root (depth <= 6, <= 256
 * objects), read each dataset whose shape is at most DDAD_FUZZ_MAX_ELEMS
 * elements as float32 (and as strings when that fails), read its first row,
 * and read the usual root attributes. */
typedef struct ddad_fuzz_walk {
    ddad_h5_t *f;
    int objects;
    int datasets_read;
} ddad_fuzz_walk_t;

static void ddad_fuzz_h5_dataset_(ddad_fuzz_walk_t *w, const char *name)
{
    int64_t shape[DDAD_H5_MAX_DIMS];
    int nd = -1;
    ddad_status_t st = ddad_h5_shape(w->f, name, shape, &nd);
    if (st) {
        ddad_fuzz_rejected(st, "ddad_h5_shape");
        return;
    }
    if (nd < 0 || nd > DDAD_H5_MAX_DIMS)
        ddad_fuzz_die_("ddad_h5_shape gave a bad rank", name);
    int64_t numel = ddad_fuzz_numel_(shape, nd);
    if (numel < 0)
        ddad_fuzz_die_("ddad_h5_shape gave a negative extent", name);
    if (numel > DDAD_FUZZ_MAX_ELEMS)
        return;
    float *x = NULL;
    int64_t s2[DDAD_H5_MAX_DIMS];
    int nd2 = -1;
    st = ddad_h5_read(w->f, name, DDAD_H5_F32, (void **)&x, s2, &nd2);
    if (st == DDAD_OK) {
        if (nd2 != nd || memcmp(s2, shape, (size_t)nd * sizeof *shape) != 0)
            ddad_fuzz_die_("ddad_h5_read and ddad_h5_shape disagree", name);
        if (numel && !x)
            ddad_fuzz_die_("ddad_h5_read succeeded without data", name);
        ddad_fuzz_touch(x, (size_t)numel * sizeof *x);
        w->datasets_read++;
        if (nd >= 1 && shape[0] > 0) {
            float *row = malloc((size_t)(numel / shape[0] + 1) * sizeof *row);
            if (!row)
                abort();
            if ((st = ddad_h5_read_rows(w->f, name, DDAD_H5_F32, row, 0, 1)))
                ddad_fuzz_rejected(st, "ddad_h5_read_rows");
            free(row);
        }
        if ((st = ddad_h5_read_into(w->f, name, DDAD_H5_F32, x, shape, nd)))
            ddad_fuzz_rejected(st, "ddad_h5_read_into");
    } else {
        ddad_fuzz_rejected(st, "ddad_h5_read");
        char **strs = NULL;
        size_t ns = 0;
        st = ddad_h5_read_strings(w->f, name, &strs, &ns);
        if (st == DDAD_OK) {
            for (size_t i = 0; i < ns; i++)
                if (strs[i])
                    ddad_fuzz_touch(strs[i], strlen(strs[i]));
        } else {
            ddad_fuzz_rejected(st, "ddad_h5_read_strings");
        }
        ddad_h5_free_strings(strs, ns);
    }
    free(x);
}

static void ddad_fuzz_h5_walk_(ddad_fuzz_walk_t *w, const char *group, int depth)
{
    char **names = NULL;
    size_t n = 0;
    ddad_status_t st = ddad_h5_list(w->f, group, &names, &n);
    if (st) {
        ddad_fuzz_rejected(st, "ddad_h5_list");
        return;
    }
    for (size_t i = 0; i < n && w->objects < 256; i++, w->objects++) {
        if (!names[i])
            ddad_fuzz_die_("ddad_h5_list gave a NULL name", group);
        char child[1024];
        snprintf(child, sizeof child, "%s/%s", strcmp(group, "/") ? group : "", names[i]);
        if (!ddad_h5_exists(w->f, child))
            continue; /* names with '/' or '.' parts are not reachable by path */
        int64_t shape[DDAD_H5_MAX_DIMS];
        int nd;
        if (ddad_h5_shape(w->f, child, shape, &nd) == DDAD_OK)
            ddad_fuzz_h5_dataset_(w, child);
        else if (depth < 6)
            ddad_fuzz_h5_walk_(w, child, depth + 1);
    }
    ddad_h5_free_strings(names, n);
}

int ddad_fuzz_h5params(const uint8_t *data, size_t size)
{
    char path[700];
    ddad_fuzz_path(path, sizeof path, "params.h5");
    ddad_fuzz_write_file(path, data, size);

    ddad_h5_t *f = NULL;
    ddad_status_t st = ddad_h5_open(&f, path, DDAD_H5_READ);
    if (st) {
        if (f)
            ddad_fuzz_die_("ddad_h5_open failed but returned a handle", NULL);
        return ddad_fuzz_rejected(st, "ddad_h5_open");
    }
    ddad_fuzz_walk_t w = {f, 0, 0};
    ddad_fuzz_h5_walk_(&w, "/", 0);
    static const char *const attrs[] = {"format", "format_version", "config", "step", "git_rev"};
    for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++) {
        if (!ddad_h5_has_attr(f, "/", attrs[i]))
            continue;
        char *s = NULL;
        double d;
        int64_t v;
        if ((st = ddad_h5_get_attr_str(f, "/", attrs[i], &s)) == DDAD_OK)
            ddad_fuzz_touch(s, strlen(s));
        else
            ddad_fuzz_rejected(st, "ddad_h5_get_attr_str");
        free(s);
        if ((st = ddad_h5_get_attr_f64(f, "/", attrs[i], &d)))
            ddad_fuzz_rejected(st, "ddad_h5_get_attr_f64");
        if ((st = ddad_h5_get_attr_i64(f, "/", attrs[i], &v)))
            ddad_fuzz_rejected(st, "ddad_h5_get_attr_i64");
    }
    st = ddad_h5_close(f);
    if (st)
        ddad_fuzz_rejected(st, "ddad_h5_close");
    /* the same bytes as score.normalize good's reference statistics */
    ddad_score_reference_t ref;
    if ((st = ddad_reference_load(&ref, path, 4, 4)) == DDAD_OK) {
        if (!ref.pixel_mean || !(ref.pixel_std > 0))
            ddad_fuzz_die_("ddad_reference_load accepted a reference without a mean or a positive std", path);
        ddad_fuzz_touch(ref.pixel_mean, 16 * sizeof(float));
        if (ref.n_t > 0) {
            if (!ref.pixel_mean_t || !ref.pixel_std_map_t || !ref.pixel_std_t)
                ddad_fuzz_die_("ddad_reference_load set n_t without the per-timestep arrays", path);
            ddad_fuzz_touch(ref.pixel_std_map_t, (size_t)ref.n_t * 16 * sizeof(float));
            ddad_fuzz_touch(ref.pixel_std_t, (size_t)ref.n_t * sizeof(double));
        }
        ddad_reference_free(&ref);
    } else {
        if (ref.pixel_mean || ref.pixel_std_map || ref.feat_mean || ref.feat_std_map || ref.pixel_mean_t ||
            ref.pixel_std_t || ref.feat_mean_t || ref.feat_std_t)
            ddad_fuzz_die_("ddad_reference_load failed but kept arrays", path);
        ddad_fuzz_rejected(st, "ddad_reference_load");
    }
    return DDAD_FUZZ_ACCEPTED;
}

/* ---- dataset -----------------------------------------------------------
 * Input: a data set tree, encoded as
 *   byte 0   format: value % 4 = mvtec, visa, btad, folder
 *   byte 1   bit 0: also validate (probe every file); bits 1-2: categories
 *            asked for: 0 all present, 1 {"c"}, 2 {"c", "d"}, 3 {"d"}
 *   records  [u8 path length][path][u16 little-endian content length][content]
 * A path is relative to the data root; bytes other than [A-Za-z0-9._-/] read
 * as '_', "." and ".." components are dropped, parent folders are created.
 * Content lengths 0xFFFF, 0xFFFE, 0xFFFD stand for (and carry no bytes) a
 * valid 4x4 RGB PNG, a 4x4 gray mask PNG, a 6x6 gray PNG; 0xFFFC makes the
 * path a folder. At most 64 records.
 * Properties: sample fields are filled, good images have no mask, validated
 * samples have a size, selections and counts agree with the table. */
static uint8_t *ddad_fuzz_png_[3];
static size_t ddad_fuzz_png_size_[3];

static void ddad_fuzz_builtin_pngs_(void)
{
    if (ddad_fuzz_png_[0])
        return;
    static const int dims[3][3] = {{4, 4, 3}, {4, 4, 1}, {6, 6, 1}};
    for (int k = 0; k < 3; k++) {
        char path[700], name[32];
        snprintf(name, sizeof name, "builtin%d.png", k);
        ddad_fuzz_path(path, sizeof path, name);
        ddad_image_t img = {0};
        if (ddad_image_alloc(&img, dims[k][0], dims[k][1], dims[k][2]))
            abort();
        for (size_t i = 0; i < (size_t)img.w * img.h * img.c; i++)
            img.data[i] = k == 1 ? (i % 3 ? 0 : 255) : (uint8_t)(i * 37 + k);
        if (ddad_image_write_png(&img, path))
            ddad_fuzz_die_("cannot write a built-in PNG", ddad_last_error());
        ddad_image_free(&img);
        FILE *f = fopen(path, "rb");
        if (!f)
            abort();
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        rewind(f);
        ddad_fuzz_png_[k] = malloc((size_t)n);
        if (!ddad_fuzz_png_[k] || fread(ddad_fuzz_png_[k], 1, (size_t)n, f) != (size_t)n)
            abort();
        ddad_fuzz_png_size_[k] = (size_t)n;
        fclose(f);
        remove(path);
    }
}

static void ddad_fuzz_free_builtin_pngs_(void)
{
    for (int k = 0; k < 3; k++) {
        free(ddad_fuzz_png_[k]);
        ddad_fuzz_png_[k] = NULL;
    }
}

/* Cleans a record path into rel (relative, no "."/".." parts); false if empty. */
static bool ddad_fuzz_clean_path_(const uint8_t *p, size_t n, char *rel, size_t cap)
{
    char raw[256];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sizeof raw; i++) {
        char c = (char)p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-' || c == '/';
        raw[k++] = ok ? c : '_';
    }
    raw[k] = '\0';
    size_t out = 0;
    rel[0] = '\0';
    for (char *save = NULL, *t = strtok_r(raw, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (!strcmp(t, ".") || !strcmp(t, ".."))
            continue;
        int w = snprintf(rel + out, cap - out, "%s%s", out ? "/" : "", t);
        if (w < 0 || (size_t)w >= cap - out)
            break;
        out += (size_t)w;
    }
    return out > 0;
}

static void ddad_fuzz_mkdirs_(char *path)
{
    for (char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(path, 0700);
        *s = '/';
    }
}

static void ddad_fuzz_check_sample_(const ddad_dataset_t *ds, const ddad_sample_t *s, bool validated)
{
    if (!s->path || !s->name || !s->category || !s->defect)
        ddad_fuzz_die_("a sample without path, name, category or defect", s->path);
    if (s->label != 0 && s->label != 1)
        ddad_fuzz_die_("a sample label other than 0/1", s->path);
    if (s->label == 0 && s->mask_path)
        ddad_fuzz_die_("a good sample with a mask", s->path);
    if (s->split != DDAD_SPLIT_TRAIN && s->split != DDAD_SPLIT_TEST)
        ddad_fuzz_die_("a sample with a bad split", s->path);
    if (validated && (s->width <= 0 || s->height <= 0))
        ddad_fuzz_die_("a validated sample without a size", s->path);
    (void)ds;
}

int ddad_fuzz_dataset(const uint8_t *data, size_t size)
{
    ddad_fuzz_builtin_pngs_();
    char root[600];
    ddad_fuzz_path(root, sizeof root, "ds");
    ddad_fuzz_rmtree_(root);
    if (mkdir(root, 0700) != 0)
        ddad_fuzz_die_("cannot create the data root", root);
    if (size < 2)
        return DDAD_FUZZ_REJECTED;
    static const ddad_data_format_t formats[4] = {DDAD_DATA_FORMAT_MVTEC, DDAD_DATA_FORMAT_VISA, DDAD_DATA_FORMAT_BTAD,
                                                     DDAD_DATA_FORMAT_FOLDER};
    ddad_data_format_t fmt = formats[data[0] % 4];
    bool validate = data[1] & 1;
    int catsel = (data[1] >> 1) & 3;
    size_t pos = 2;
    for (int rec = 0; rec < 64 && pos < size; rec++) {
        size_t plen = data[pos++];
        if (pos + plen + 2 > size)
            break;
        const uint8_t *p = data + pos;
        pos += plen;
        size_t clen = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
        pos += 2;
        const uint8_t *content;
        size_t csize;
        bool is_dir = false;
        if (clen >= 0xFFFD) {
            int k = (int)(0xFFFF - clen);
            content = ddad_fuzz_png_[k];
            csize = ddad_fuzz_png_size_[k];
        } else if (clen == 0xFFFC) {
            content = NULL;
            csize = 0;
            is_dir = true;
        } else {
            if (pos + clen > size)
                clen = size - pos;
            content = data + pos;
            csize = clen;
            pos += clen;
        }
        char rel[300], full[1000];
        if (!ddad_fuzz_clean_path_(p, plen, rel, sizeof rel))
            continue;
        snprintf(full, sizeof full, "%s/%s", root, rel);
        ddad_fuzz_mkdirs_(full);
        /* A record may name a folder below a file, or a file where a folder
         * is: such records are skipped (the tree is what could be made). */
        if (is_dir) {
            mkdir(full, 0700);
        } else {
            FILE *f = fopen(full, "wb");
            if (!f)
                continue;
            if (csize)
                fwrite(content, 1, csize, f);
            fclose(f);
        }
    }

    static const char *const catsets[4][2] = {{NULL, NULL}, {"c", NULL}, {"c", "d"}, {"d", NULL}};
    static const size_t ncats[4] = {0, 1, 2, 1};
    char **present = NULL;
    size_t npresent = 0;
    ddad_status_t st = ddad_dataset_list_categories(fmt, root, &present, &npresent);
    if (st)
        ddad_fuzz_rejected(st, "ddad_dataset_list_categories");
    else
        for (size_t i = 0; i < npresent; i++)
            if (!present[i])
                ddad_fuzz_die_("ddad_dataset_list_categories gave NULL", NULL);
    ddad_dataset_free_names(present, npresent);

    ddad_dataset_t *ds = NULL;
    st = ddad_dataset_index(&ds, fmt, root, ncats[catsel] ? catsets[catsel] : NULL, ncats[catsel]);
    if (st) {
        if (ds)
            ddad_fuzz_die_("ddad_dataset_index failed but returned a table", NULL);
        return ddad_fuzz_rejected(st, "ddad_dataset_index");
    }
    int result = DDAD_FUZZ_ACCEPTED;
    bool validated = false;
    if (validate) {
        st = ddad_dataset_validate(ds);
        if (st)
            result = ddad_fuzz_rejected(st, "ddad_dataset_validate");
        else
            validated = true;
    }
    for (size_t i = 0; i < ds->n; i++)
        ddad_fuzz_check_sample_(ds, &ds->samples[i], validated);
    for (size_t c = 0; c <= ds->n_categories; c++) {
        const char *cat = c < ds->n_categories ? ds->categories[c] : NULL;
        for (int split = 0; split < 2; split++) {
            const ddad_sample_t **sel = NULL;
            size_t n = 0;
            st = ddad_dataset_select(ds, cat, (ddad_split_t)split, &sel, &n);
            if (st) {
                ddad_fuzz_rejected(st, "ddad_dataset_select");
                continue;
            }
            if (n != ddad_dataset_count(ds, cat, (ddad_split_t)split, -1))
                ddad_fuzz_die_("ddad_dataset_select and ddad_dataset_count disagree", cat);
            for (size_t i = 0; i < n; i++)
                if ((int)sel[i]->split != split || (cat && strcmp(sel[i]->category, cat)))
                    ddad_fuzz_die_("ddad_dataset_select returned a sample of another split or category", cat);
            free(sel);
        }
    }
    ddad_dataset_free(ds);
    return result;
}

/* ---- tiff --------------------------------------------------------------
 * Input: the bytes of a TIFF file (or anything else), read as an anomaly map.
 * Properties: reading the file and decoding the same bytes in memory agree
 * (status, size and every bit); an accepted map has 0 < w * h <=
 * DDAD_TIFF_MAX_PIXELS readable floats, and when small, ddad's writer
 * writes it back to a file that reads back bit for bit; a refusal leaves no
 * output. */
int ddad_fuzz_tiff(const uint8_t *data, size_t size)
{
    char path[700], out[700];
    ddad_fuzz_path(path, sizeof path, "map.tif");
    ddad_fuzz_write_file(path, data, size);
    float *x = NULL, *m = NULL;
    int w = -1, h = -1, mw = -1, mh = -1;
    ddad_status_t st = ddad_tiff_read_float(path, &x, &w, &h);
    if (st) {
        ddad_fuzz_rejected(st, "ddad_tiff_read_float");
        if (x || w || h)
            ddad_fuzz_die_("ddad_tiff_read_float failed but left an output", NULL);
    }
    ddad_status_t mst = ddad_tiff_decode_float(data, size, "fuzz input", &m, &mw, &mh);
    if (mst) {
        ddad_fuzz_rejected(mst, "ddad_tiff_decode_float");
        if (m || mw || mh)
            ddad_fuzz_die_("ddad_tiff_decode_float failed but left an output", NULL);
    }
    if ((st == DDAD_OK) != (mst == DDAD_OK) || (st && st != mst))
        ddad_fuzz_die_("reading the file and decoding its bytes disagree", ddad_last_error());
    if (st)
        return DDAD_FUZZ_REJECTED;
    int64_t n = (int64_t)w * h;
    if (!x || w <= 0 || h <= 0 || n > DDAD_TIFF_MAX_PIXELS)
        ddad_fuzz_die_("ddad_tiff_read_float returned a malformed map", NULL);
    if (mw != w || mh != h || memcmp(x, m, (size_t)n * sizeof *x) != 0)
        ddad_fuzz_die_("reading the file and decoding its bytes give different maps", NULL);
    ddad_fuzz_touch(x, (size_t)n * sizeof *x);
    if (n <= 65536) { /* 256 KiB written and read back per input at most */
        float *y = NULL;
        int yw = 0, yh = 0;
        ddad_fuzz_path(out, sizeof out, "map_out.tif");
        if ((st = ddad_tiff_write_float(out, x, w, h)) != DDAD_OK)
            ddad_fuzz_die_("ddad_tiff_write_float refused an accepted map", ddad_last_error());
        if ((st = ddad_tiff_read_float(out, &y, &yw, &yh)) != DDAD_OK)
            ddad_fuzz_die_("a map written by ddad_tiff_write_float does not read back", ddad_last_error());
        if (yw != w || yh != h || memcmp(x, y, (size_t)n * sizeof *x) != 0)
            ddad_fuzz_die_("write -> read changed the map", NULL);
        free(y);
    }
    free(x);
    free(m);
    return DDAD_FUZZ_ACCEPTED;
}

/* ---- thresholds ----------------------------------------------------------
 * Input: the bytes of a threshold.json (or anything else).
 * Properties: a refusal says why and leaves an empty file struct; an
 * accepted file has entries with a non-empty category and test_check counts
 * >= 0, and ddad's writer (ddad_calib_file_update into a new file) writes it
 * back to a file that reads back with the same entries: the same text
 * fields, counts and flags, and the same numbers up to the writer's 10
 * significant digits (NaN stays NaN). */
static bool ddad_fuzz_same_number_(double a, double b)
{
    if (isinf(a)) /* written as null: read back as NaN */
        return isnan(b);
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return fabs(a - b) <= 1e-9 * fmax(1.0, fmax(fabs(a), fabs(b)));
}

int ddad_fuzz_thresholds(const uint8_t *data, size_t size)
{
    char path[700], out[700];
    ddad_fuzz_path(path, sizeof path, "threshold.json");
    ddad_fuzz_write_file(path, data, size);
    ddad_calib_file_t f;
    ddad_status_t st = ddad_calib_file_read(path, &f);
    if (st) {
        ddad_fuzz_rejected(st, "ddad_calib_file_read");
        if (f.entries || f.n)
            ddad_fuzz_die_("ddad_calib_file_read failed but left entries", NULL);
        return DDAD_FUZZ_REJECTED;
    }
    for (size_t i = 0; i < f.n; i++) {
        const ddad_calibration_t *e = &f.entries[i];
        if (!e->category[0] || !memchr(e->category, 0, sizeof e->category) || !memchr(e->rule, 0, sizeof e->rule) ||
            !memchr(e->source, 0, sizeof e->source))
            ddad_fuzz_die_("an accepted entry has an empty or unterminated text field", NULL);
        const int64_t *c = &e->test_check.good_images;
        for (size_t k = 0; k < sizeof e->test_check / sizeof *c; k++)
            if (c[k] < 0)
                ddad_fuzz_die_("an accepted test_check has a negative count", NULL);
    }
    ddad_fuzz_path(out, sizeof out, "threshold_out.json");
    unlink(out);
    if (f.n > 0) {
        /* a category named twice is merged by the writer: compare with the last of each name */
        if ((st = ddad_calib_file_update(out, f.checkpoint, f.entries, f.n)) != DDAD_OK)
            ddad_fuzz_die_("ddad_calib_file_update refused an accepted file", ddad_last_error());
        ddad_calib_file_t g;
        if ((st = ddad_calib_file_read(out, &g)) != DDAD_OK)
            ddad_fuzz_die_("a file written by ddad_calib_file_update does not read back", ddad_last_error());
        for (size_t i = 0; i < f.n; i++) {
            const ddad_calibration_t *a = &f.entries[i];
            bool last = true;
            for (size_t j = i + 1; j < f.n; j++)
                last = last && strcmp(f.entries[j].category, a->category) != 0;
            if (!last)
                continue;
            const ddad_calibration_t *b = ddad_calib_file_find(&g, a->category);
            if (!b)
                ddad_fuzz_die_("write -> read lost a category", a->category);
            if (strcmp(a->rule, b->rule) || strcmp(a->source, b->source) || a->images != b->images ||
                a->defect_images != b->defect_images || a->optimistic != b->optimistic ||
                a->seen_in_training != b->seen_in_training ||
                a->has_test_check != b->has_test_check ||
                memcmp(&a->test_check, &b->test_check, sizeof a->test_check))
                ddad_fuzz_die_("write -> read changed an entry's text, counts or flags", a->category);
            const double an[6] = {a->image_threshold, a->pixel_threshold, a->image_min,
                                  a->image_max,       a->pixel_min,       a->pixel_max};
            const double bn[6] = {b->image_threshold, b->pixel_threshold, b->image_min,
                                  b->image_max,       b->pixel_min,       b->pixel_max};
            for (int k = 0; k < 6; k++)
                if (!ddad_fuzz_same_number_(an[k], bn[k]))
                    ddad_fuzz_die_("write -> read changed a number beyond 10 digits", a->category);
        }
        if (strcmp(f.checkpoint, g.checkpoint))
            ddad_fuzz_die_("write -> read changed the checkpoint", NULL);
        ddad_calib_file_free(&g);
    }
    ddad_calib_file_free(&f);
    return DDAD_FUZZ_ACCEPTED;
}

/* ---- the table ---------------------------------------------------------- */
const ddad_fuzz_target_t ddad_fuzz_targets[] = {
    {"config", ddad_fuzz_config},     {"image", ddad_fuzz_image},     {"mapsfile", ddad_fuzz_mapsfile},
    {"mapslayout", ddad_fuzz_mapslayout}, {"h5params", ddad_fuzz_h5params}, {"dataset", ddad_fuzz_dataset},
    {"tiff", ddad_fuzz_tiff},         {"thresholds", ddad_fuzz_thresholds}, {NULL, NULL},
};

/* Frees the harnesses' process-wide state (for leak checks at exit). */
void ddad_fuzz_shutdown(void)
{
    ddad_fuzz_free_builtin_pngs_();
    ddad_fuzz_cleanup_();
}
