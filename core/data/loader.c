/* core/data/loader.c - see loader.h */
#include "loader.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

#define SPLITMIX_GAMMA 0x9e3779b97f4a7c15ull

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t splitmix_next(uint64_t *state)
{
    *state += SPLITMIX_GAMMA;
    return mix64(*state);
}

/* uniform in [0, 1) with 53 bits */
static double rng_uniform(uint64_t *state) { return (double)(splitmix_next(state) >> 11) * 0x1.0p-53; }

ddad_loader_opts_t ddad_loader_opts_default(void)
{
    ddad_loader_opts_t o = {.image_size = 256, .batch_size = 2, .seed = 0, .rotation_deg = 5.0f, .threads = 2};
    return o;
}

struct ddad_loader {
    ddad_loader_opts_t o;
    size_t n;
    int64_t *classes;       /* (n) */
    uint8_t *cache;         /* (n, S, S, 3) */
    size_t *perm;           /* (n) permutation of perm_epoch (worker only) */
    int64_t perm_epoch;
    uint64_t perm_rng_end;  /* generator state after drawing perm */
    ddad_loader_cursor_t cur;
    /* prefetch */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool pending, done, stop;
    ddad_loader_cursor_t job, job_next;
    float *buf;             /* (b, 3, S, S), b = local batch */
    int64_t *lbuf;          /* (b) labels */
    int64_t *ibuf;          /* (b) sample indices (worker) */
    int64_t *last_idx;      /* (b) sample indices of the batch last returned */
    int lo, hi;             /* this shard's entries [lo, hi) of every batch */
};

/* Generator state after drawing epoch e's permutation; fills perm if given. */
static uint64_t epoch_permutation(uint64_t seed, int64_t epoch, size_t n, size_t *perm)
{
    uint64_t s = mix64(seed ^ mix64((uint64_t)epoch + 0x5eedull));
    if (perm)
        for (size_t i = 0; i < n; i++)
            perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(splitmix_next(&s) % (uint64_t)(i + 1));
        if (perm) {
            size_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
    }
    return s;
}

static void ensure_perm(ddad_loader_t *L, int64_t epoch)
{
    if (L->perm_epoch != epoch) {
        L->perm_rng_end = epoch_permutation(L->o.seed, epoch, L->n, L->perm);
        L->perm_epoch = epoch;
    }
}

/* Bilinear rotation of one cached (S, S, 3) image into (3, S, S) floats. */
static void rotate_to_chw(const uint8_t *src, int S, double deg, float *out)
{
    size_t hw = (size_t)S * S;
    if (deg == 0.0) {
        for (int ch = 0; ch < 3; ch++)
            for (size_t i = 0; i < hw; i++)
                out[ch * hw + i] = (float)src[i * 3 + ch] / 127.5f - 1.0f;
        return;
    }
    double th = deg * M_PI / 180.0, cs = cos(th), sn = sin(th), c0 = (S - 1) / 2.0;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double dx = x - c0, dy = y - c0;
            double xs = c0 + cs * dx - sn * dy, ys = c0 + sn * dx + cs * dy;
            if (xs < 0)
                xs = 0;
            if (xs > S - 1)
                xs = S - 1;
            if (ys < 0)
                ys = 0;
            if (ys > S - 1)
                ys = S - 1;
            int x0 = (int)xs, y0 = (int)ys;
            int x1 = x0 + 1 < S ? x0 + 1 : x0, y1 = y0 + 1 < S ? y0 + 1 : y0;
            double fx = xs - x0, fy = ys - y0;
            for (int ch = 0; ch < 3; ch++) {
                double v = (1 - fy) * ((1 - fx) * src[((size_t)y0 * S + x0) * 3 + ch] +
                                       fx * src[((size_t)y0 * S + x1) * 3 + ch]) +
                           fy * ((1 - fx) * src[((size_t)y1 * S + x0) * 3 + ch] +
                                 fx * src[((size_t)y1 * S + x1) * 3 + ch]);
                out[ch * hw + (size_t)y * S + x] = (float)(v / 127.5 - 1.0);
            }
        }
}

/* Mirrors a (3, S, S) image in place: left-right (FLIP_H), upside down (FLIP_V). */
static void flip_chw(float *img, int S, int flip)
{
    for (int ch = 0; ch < 3; ch++) {
        float *p = img + (size_t)ch * S * S;
        if (flip & DDAD_LOADER_FLIP_H)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S / 2; x++) {
                    float t = p[(size_t)y * S + x];
                    p[(size_t)y * S + x] = p[(size_t)y * S + (S - 1 - x)];
                    p[(size_t)y * S + (S - 1 - x)] = t;
                }
        if (flip & DDAD_LOADER_FLIP_V)
            for (int y = 0; y < S / 2; y++)
                for (int x = 0; x < S; x++) {
                    float t = p[(size_t)y * S + x];
                    p[(size_t)y * S + x] = p[(size_t)(S - 1 - y) * S + x];
                    p[(size_t)(S - 1 - y) * S + x] = t;
                }
    }
}

static void compute_batch(ddad_loader_t *L, ddad_loader_cursor_t c, float *images, int64_t *labels,
                          int64_t *indices, ddad_loader_cursor_t *next)
{
    int B = L->o.batch_size, S = L->o.image_size;
    if (c.position + B > (int64_t)L->n) {
        c.epoch++;
        c.position = 0;
        c.rng = epoch_permutation(L->o.seed, c.epoch, L->n, NULL);
    }
    ensure_perm(L, c.epoch);
    size_t per = (size_t)3 * S * S;
    for (int b = 0; b < B; b++) {
        size_t idx = L->perm[c.position + b];
        double u = rng_uniform(&c.rng); /* drawn for every entry: the stream is the whole batch's */
        int flip = L->o.flip ? (int)(4.0 * rng_uniform(&c.rng)) & L->o.flip : 0;
        if (b < L->lo || b >= L->hi)
            continue;
        double deg = L->o.rotation_deg > 0 ? (2.0 * u - 1.0) * L->o.rotation_deg : 0.0;
        rotate_to_chw(L->cache + idx * (size_t)S * S * 3, S, deg, images + (b - L->lo) * per);
        if (flip)
            flip_chw(images + (b - L->lo) * per, S, flip);
        labels[b - L->lo] = L->classes[idx];
        indices[b - L->lo] = (int64_t)idx;
    }
    c.position += B;
    *next = c;
}

static void *worker(void *arg)
{
    ddad_loader_t *L = arg;
    pthread_mutex_lock(&L->mu);
    for (;;) {
        while (!L->pending && !L->stop)
            pthread_cond_wait(&L->cv, &L->mu);
        if (L->stop)
            break;
        ddad_loader_cursor_t job = L->job, next;
        pthread_mutex_unlock(&L->mu);
        compute_batch(L, job, L->buf, L->lbuf, L->ibuf, &next);
        pthread_mutex_lock(&L->mu);
        L->job_next = next;
        L->pending = false;
        L->done = true;
        pthread_cond_broadcast(&L->cv);
    }
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

/* ---- cache filling --------------------------------------------------------- */

typedef struct fill_job {
    const ddad_sample_t *const *samples;
    size_t n;
    int S, threads, index;
    uint8_t *cache;
    ddad_status_t st;
    char msg[1024];
} fill_job_t;

static ddad_status_t load_resized(const char *path, int S, ddad_image_mode_t mode, bool nearest, ddad_image_t *out)
{
    ddad_image_t img = {0};
    ddad_status_t st = ddad_image_load(&img, path, mode);
    if (st)
        return st;
    if (img.w == S && img.h == S) {
        ddad_image_free(out);
        *out = img;
        return DDAD_OK;
    }
    st = nearest ? ddad_image_resize_nearest(&img, S, S, out) : ddad_image_resize_bicubic(&img, S, S, out);
    ddad_image_free(&img);
    return st;
}

static void *fill_worker(void *arg)
{
    fill_job_t *j = arg;
    ddad_image_t img = {0};
    size_t bytes = (size_t)j->S * j->S * 3;
    for (size_t i = (size_t)j->index; i < j->n; i += (size_t)j->threads) {
        ddad_status_t st = load_resized(j->samples[i]->path, j->S, DDAD_IMAGE_RGB, false, &img);
        if (st) {
            j->st = st;
            snprintf(j->msg, sizeof j->msg, "%s", ddad_last_error());
            break;
        }
        memcpy(j->cache + i * bytes, img.data, bytes);
    }
    ddad_image_free(&img);
    return NULL;
}

ddad_status_t ddad_loader_create(ddad_loader_t **out, const ddad_sample_t *const *samples, const int64_t *class_ids,
                                 size_t n, const ddad_loader_opts_t *opts)
{
    *out = NULL;
    if (!opts || opts->image_size <= 0 || opts->image_size > 4096 || opts->batch_size <= 0 ||
        !(opts->rotation_deg >= 0 && opts->rotation_deg <= 180) ||
        (opts->flip & ~(DDAD_LOADER_FLIP_H | DDAD_LOADER_FLIP_V)) != 0)
        return ddad_fail(DDAD_STATUS_USAGE, "loader: bad options (image_size %d, batch_size %d, rotation %g, flip %d)",
                         opts ? opts->image_size : 0, opts ? opts->batch_size : 0, opts ? opts->rotation_deg : 0.0,
                         opts ? opts->flip : 0);
    if (n == 0)
        return ddad_fail(DDAD_STATUS_DATA, "loader: the training set is empty");
    if ((size_t)opts->batch_size > n)
        return ddad_fail(DDAD_STATUS_CONFIG,
                         "loader: batch size %d is larger than the training set (%zu images); lower train.batch_size",
                         opts->batch_size, n);
    int K = opts->shard_count > 1 ? opts->shard_count : 1;
    if (opts->shard_count > 1 && (opts->batch_size % K != 0 || opts->shard_index < 0 || opts->shard_index >= K))
        return ddad_fail(DDAD_STATUS_CONFIG,
                         "loader: batch size %d cannot be split into %d equal shards (shard %d): use a "
                         "train.batch_size that is a multiple of the number of processes",
                         opts->batch_size, K, opts->shard_index);
    ddad_loader_t *L = calloc(1, sizeof *L);
    if (!L)
        return ddad_fail(DDAD_STATUS_NOMEM, "loader: out of memory");
    L->o = *opts;
    if (L->o.threads < 1)
        L->o.threads = 1;
    L->n = n;
    int S = opts->image_size, b = opts->batch_size / K;
    L->lo = (opts->shard_count > 1 ? opts->shard_index : 0) * b;
    L->hi = L->lo + b;
    L->classes = malloc(n * sizeof *L->classes);
    L->perm = malloc(n * sizeof *L->perm);
    L->cache = malloc(n * (size_t)S * S * 3);
    L->buf = malloc((size_t)b * 3 * S * S * sizeof *L->buf);
    L->lbuf = malloc((size_t)b * sizeof *L->lbuf);
    L->ibuf = malloc((size_t)b * sizeof *L->ibuf);
    L->last_idx = calloc((size_t)b, sizeof *L->last_idx);
    L->perm_epoch = -1;
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv, NULL);
    if (!L->classes || !L->perm || !L->cache || !L->buf || !L->lbuf || !L->ibuf || !L->last_idx) {
        ddad_loader_free(L);
        return ddad_fail(DDAD_STATUS_NOMEM, "loader: out of memory for %zu images of %dx%d", n, S, S);
    }
    for (size_t i = 0; i < n; i++)
        L->classes[i] = class_ids ? class_ids[i] : 0;

    int T = L->o.threads < (int)n ? L->o.threads : (int)n;
    fill_job_t *jobs = calloc((size_t)T, sizeof *jobs);
    pthread_t *th = calloc((size_t)T, sizeof *th);
    bool *started = calloc((size_t)T, sizeof *started);
    ddad_status_t st = DDAD_OK;
    if (!jobs || !th || !started)
        st = ddad_fail(DDAD_STATUS_NOMEM, "loader: out of memory");
    for (int t = 0; !st && t < T; t++) {
        jobs[t] = (fill_job_t){.samples = samples, .n = n, .S = S, .threads = T, .index = t, .cache = L->cache};
        if (t > 0)
            started[t] = pthread_create(&th[t], NULL, fill_worker, &jobs[t]) == 0;
        if (t > 0 && !started[t])
            fill_worker(&jobs[t]); /* no thread: do it here */
    }
    if (!st)
        fill_worker(&jobs[0]);
    for (int t = 1; t < T; t++)
        if (started && started[t])
            pthread_join(th[t], NULL);
    for (int t = 0; !st && t < T; t++)
        if (jobs[t].st)
            st = ddad_fail(jobs[t].st, "loader: %s", jobs[t].msg);
    free(jobs);
    free(th);
    free(started);
    if (st) {
        ddad_loader_free(L);
        return st;
    }
    L->cur = (ddad_loader_cursor_t){0, 0, epoch_permutation(L->o.seed, 0, n, NULL)};
    L->job = L->cur;
    L->pending = true;
    if (pthread_create(&L->thread, NULL, worker, L) != 0) {
        ddad_loader_free(L);
        return ddad_fail(DDAD_STATUS_INTERNAL, "loader: cannot start the prefetch thread");
    }
    L->thread_started = true;
    *out = L;
    return DDAD_OK;
}

ddad_status_t ddad_loader_next(ddad_loader_t *L, float *images, int64_t *labels)
{
    int b = L->hi - L->lo, S = L->o.image_size;
    pthread_mutex_lock(&L->mu);
    while (!L->done)
        pthread_cond_wait(&L->cv, &L->mu);
    memcpy(images, L->buf, (size_t)b * 3 * S * S * sizeof *images);
    memcpy(labels, L->lbuf, (size_t)b * sizeof *labels);
    memcpy(L->last_idx, L->ibuf, (size_t)b * sizeof *L->last_idx);
    L->cur = L->job_next;
    L->done = false;
    L->job = L->cur;
    L->pending = true;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
    return DDAD_OK;
}

void ddad_loader_get_cursor(const ddad_loader_t *L, ddad_loader_cursor_t *c) { *c = L->cur; }

const int64_t *ddad_loader_batch_indices(const ddad_loader_t *L) { return L->last_idx; }

int ddad_loader_local_batch(const ddad_loader_t *L) { return L->hi - L->lo; }

size_t ddad_loader_batches_per_epoch(const ddad_loader_t *L) { return L->n / (size_t)L->o.batch_size; }

ddad_status_t ddad_loader_seek(ddad_loader_t *L, const ddad_loader_cursor_t *c)
{
    if (c->epoch < 0 || c->position < 0 || c->position > (int64_t)L->n)
        return ddad_fail(DDAD_STATUS_DATA, "loader: cursor (epoch %lld, position %lld) out of range for %zu images",
                         (long long)c->epoch, (long long)c->position, L->n);
    uint64_t expect = epoch_permutation(L->o.seed, c->epoch, L->n, NULL) + (uint64_t)c->position * SPLITMIX_GAMMA;
    if (expect != c->rng)
        return ddad_fail(DDAD_STATUS_DATA,
                         "loader: cursor (epoch %lld, position %lld, rng %016llx) was not made by a loader with "
                         "this seed and training set; resume with the same data and seed",
                         (long long)c->epoch, (long long)c->position, (unsigned long long)c->rng);
    pthread_mutex_lock(&L->mu);
    while (L->pending)
        pthread_cond_wait(&L->cv, &L->mu);
    L->cur = *c;
    L->job = *c;
    L->done = false;
    L->pending = true;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
    return DDAD_OK;
}

void ddad_loader_free(ddad_loader_t *L)
{
    if (!L)
        return;
    if (L->thread_started) {
        pthread_mutex_lock(&L->mu);
        L->stop = true;
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
        pthread_join(L->thread, NULL);
    }
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->cv);
    free(L->classes);
    free(L->perm);
    free(L->cache);
    free(L->buf);
    free(L->lbuf);
    free(L->ibuf);
    free(L->last_idx);
    free(L);
}

/* ---- test iterator ------------------------------------------------------------ */

struct ddad_testiter {
    const ddad_sample_t *const *samples;
    size_t n, next;
    ddad_testiter_opts_t o;
    float *image;  /* (3, S, S) */
    uint8_t *mask; /* (mh, mw) */
    size_t mask_cap;
};

ddad_status_t ddad_testiter_create(ddad_testiter_t **out, const ddad_sample_t *const *samples, size_t n,
                                   const ddad_testiter_opts_t *opts)
{
    *out = NULL;
    if (!opts || opts->image_size <= 0 || opts->image_size > 4096)
        return ddad_fail(DDAD_STATUS_USAGE, "test iterator: bad image size %d", opts ? opts->image_size : 0);
    ddad_testiter_t *it = calloc(1, sizeof *it);
    if (!it)
        return ddad_fail(DDAD_STATUS_NOMEM, "test iterator: out of memory");
    it->samples = samples;
    it->n = n;
    it->o = *opts;
    it->image = malloc((size_t)3 * opts->image_size * opts->image_size * sizeof *it->image);
    if (!it->image) {
        ddad_testiter_free(it);
        return ddad_fail(DDAD_STATUS_NOMEM, "test iterator: out of memory");
    }
    *out = it;
    return DDAD_OK;
}

static ddad_status_t ensure_mask(ddad_testiter_t *it, size_t bytes)
{
    if (bytes <= it->mask_cap)
        return DDAD_OK;
    uint8_t *m = realloc(it->mask, bytes);
    if (!m)
        return ddad_fail(DDAD_STATUS_NOMEM, "test iterator: out of memory");
    it->mask = m;
    it->mask_cap = bytes;
    return DDAD_OK;
}

ddad_status_t ddad_testiter_next(ddad_testiter_t *it, ddad_test_item_t *item, bool *more)
{
    memset(item, 0, sizeof *item);
    *more = false;
    if (it->next >= it->n)
        return DDAD_OK;
    const ddad_sample_t *s = it->samples[it->next];
    int S = it->o.image_size;
    ddad_image_t img = {0}, small = {0}, mask = {0}, msmall = {0};
    ddad_status_t st = ddad_image_load(&img, s->path, DDAD_IMAGE_RGB);
    if (st)
        return st;
    int W = img.w, H = img.h;
    if (W == S && H == S)
        ddad_image_to_chw(&img, it->image);
    else if (!(st = ddad_image_resize_bicubic(&img, S, S, &small)))
        ddad_image_to_chw(&small, it->image);
    ddad_image_free(&img);
    ddad_image_free(&small);
    if (st)
        return st;
    int mw = it->o.mask_original_size ? W : S, mh = it->o.mask_original_size ? H : S;
    if ((st = ensure_mask(it, (size_t)mw * mh)))
        return st;
    if (s->mask_path) {
        if ((st = ddad_image_load(&mask, s->mask_path, DDAD_IMAGE_GRAY)))
            return st;
        if (mask.w != W || mask.h != H) {
            st = ddad_fail(DDAD_STATUS_DATA, "%s: mask is %dx%d but its image %s is %dx%d", s->mask_path, mask.w,
                           mask.h, s->path, W, H);
            ddad_image_free(&mask);
            return st;
        }
        if (mw == W && mh == H) {
            ddad_image_binarize(&mask, it->o.mask_threshold, it->mask);
        } else {
            st = ddad_image_resize_nearest(&mask, mw, mh, &msmall);
            if (!st)
                ddad_image_binarize(&msmall, it->o.mask_threshold, it->mask);
        }
        ddad_image_free(&mask);
        ddad_image_free(&msmall);
        if (st)
            return st;
        item->mask = it->mask;
    } else if (s->label == 0) {
        memset(it->mask, 0, (size_t)mw * mh);
        item->mask = it->mask;
    }
    item->image = it->image;
    item->mask_w = mw;
    item->mask_h = mh;
    item->label = s->label;
    item->name = s->name;
    item->category = s->category;
    item->defect = s->defect;
    item->orig_w = W;
    item->orig_h = H;
    item->sample = s;
    it->next++;
    *more = true;
    return DDAD_OK;
}

void ddad_testiter_rewind(ddad_testiter_t *it) { it->next = 0; }
size_t ddad_testiter_count(const ddad_testiter_t *it) { return it->n; }

void ddad_testiter_free(ddad_testiter_t *it)
{
    if (!it)
        return;
    free(it->image);
    free(it->mask);
    free(it);
}
