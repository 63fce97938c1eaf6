/* Tests for core/torch/import.h and the ddad-import program.
 *
 * Oracles: the key/shape listings in the fixtures (adm256_keys.txt section B,
 * effnet_b4_keys.txt), torchvision's wide_resnet50_2 state_dict, and the
 * values python's torch.load reads back from the checkpoints that python's
 * torch.save wrote: every value written to HDF5 is compared with them by
 * h5py/numpy, exactly. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "h5io.h"
#include "testutil.h"
#include "torch/import.h"

static char *g_dir; /* temporary folder with the checkpoints, made once */
static int g_ready;

/* Writes every checkpoint the tests use (one python run). */
static const char *k_make_py =
    "import sys, collections, argparse, zipfile, torch, h5py, torchvision\n"
    "d, fx = sys.argv[1], sys.argv[2]\n"
    "g = torch.Generator().manual_seed(0)\n"
    "def rnd(*s): return torch.randn(*s, generator=g)\n"
    "sd = collections.OrderedDict()\n"
    "for line in open(fx + '/effnet_b4_keys.txt'):\n"
    "    if line.startswith('# per block'): break\n"
    "    if line.startswith('#') or '\\t' not in line: continue\n"
    "    k, s = line.rstrip('\\n').split('\\t')\n"
    "    sd[k] = torch.tensor(5) if s == 'scalar' else rnd(*[int(x) for x in s.split('x')])\n"
    "torch.save(sd, d + '/effnet.pt')\n"
    "torch.save(sd, d + '/effnet_legacy.pt', _use_new_zipfile_serialization=False)\n"
    "torch.save({'epoch': 3, 'args': argparse.Namespace(lr=0.1), 'state_dict': sd}, d + '/effnet_wrapped.pt')\n"
    "v = collections.OrderedDict(sd); del v['_blocks.17._bn1.running_var']; torch.save(v, d + '/effnet_missing.pt')\n"
    "v = collections.OrderedDict(sd); v['_blocks.3._se_reduce.weight'] = rnd(9, 192, 1, 1)\n"
    "torch.save(v, d + '/effnet_shape.pt')\n"
    "v = collections.OrderedDict(sd); v['extra_head.weight'] = rnd(2, 2); torch.save(v, d + '/effnet_extra.pt')\n"
    "m = torchvision.models.wide_resnet50_2()\n"
    "w = m.state_dict()\n"
    "for k, t in w.items():\n"
    "    if 'running' in k: t.uniform_(0.5, 1.5, generator=g)\n"
    "torch.save(w, d + '/wrn.pt')\n"
    "with open(d + '/wrn_keys.txt', 'w') as f:\n"
    "    for k, t in w.items(): f.write('%s\\t%s\\n' % (k, 'x'.join(map(str, t.shape)) or 'scalar'))\n"
    "a = collections.OrderedDict()\n"
    "with h5py.File(fx + '/unet_small.h5', 'r') as h:\n"
    "    names = []; h['weights'].visit(lambda n: names.append(n) if isinstance(h['weights'][n], h5py.Dataset) else None)\n"
    "    for n in names: a[n] = torch.from_numpy(h['weights'][n][()])\n"
    "order = ['time_embed.0.weight'] + [k for k in a if k != 'time_embed.0.weight']\n"
    "a = collections.OrderedDict((k, a[k]) for k in order)\n"
    "a['time_embed.0.bias'] = a['time_embed.0.bias'].double()\n"
    "a['out.0.bias'] = a['out.0.bias'].half()\n"
    "a['out.2.weight'] = a['out.2.weight'].transpose(0, 1).contiguous().transpose(0, 1)\n"
    "n = a['input_blocks.0.0.bias'].numel(); big = rnd(3 * n); a['input_blocks.0.0.bias'] = big[n:2 * n]\n"
    "torch.save(a, d + '/adm_small.pt')\n"
    "torch.save({'model': a}, d + '/adm_model.pt')\n"
    "b = collections.OrderedDict(); sec = False\n"
    "for line in open(fx + '/adm256_keys.txt'):\n"
    "    if line.startswith('[B]'): sec = True; continue\n"
    "    if line.startswith('[C]'): break\n"
    "    if sec and '\\t' in line:\n"
    "        k, s = line.rstrip('\\n').split('\\t')\n"
    "        b[k] = rnd(*[max(1, int(x) // 64) for x in s.split('x')])\n"
    "torch.save(b, d + '/adm256_scaled.pt')\n"
    "torch.save({'time_embed.0.weight': rnd(1024, 256)}, d + '/adm256_partial.pt')\n"
    "with zipfile.ZipFile(d + '/foreign.zip', 'w') as z: z.writestr('hello.txt', 'hello')\n"
    "with zipfile.ZipFile(d + '/foreign2.zip', 'w') as z: z.writestr('a/version', '3\\n'); z.writestr('a/x', 'y')\n"
    "open(d + '/text.pt', 'w').write('not a checkpoint\\n')\n"
    "open(d + '/empty.pt', 'w').close()\n"
    "raw = open(d + '/adm_small.pt', 'rb').read()\n"
    "open(d + '/truncated.pt', 'wb').write(raw[:len(raw) // 2])\n"
    "z = zipfile.ZipFile(d + '/adm_small.pt'); info = [i for i in z.infolist() if i.filename.endswith('/data/5')][0]\n"
    "h = info.header_offset; start = h + 30 + int.from_bytes(raw[h + 26:h + 28], 'little') + int.from_bytes(raw[h + 28:h + 30], 'little')\n"
    "i = start + info.file_size // 2; bad = bytearray(raw); bad[i] ^= 0x40\n"
    "open(d + '/corrupt.pt', 'wb').write(bytes(bad))\n";

/* python compare.py OUT.h5 IN.pt KIND: every kept tensor of IN.pt (after
 * unwrapping) must be in OUT.h5 as float32 with the same shape and exactly the
 * same values, and nothing else; attributes must describe the import. */
static const char *k_compare_py =
    "import sys, os, torch, h5py, numpy as np\n"
    "out, inp, kind, source = sys.argv[1:5]\n"
    "obj = torch.load(inp, map_location='cpu')\n"
    "container = ''\n"
    "if not all(torch.is_tensor(v) for v in obj.values()):\n"
    "    container = 'state_dict' if 'state_dict' in obj else 'model'; obj = obj[container]\n"
    "def dropped(k):\n"
    "    if k.endswith('.num_batches_tracked'): return True\n"
    "    return {'adm256': k == 'label_emb.weight', 'effnet-b4': k.startswith('_fc.'),\n"
    "            'wrn50-2': k.startswith('fc.')}.get(kind, False)\n"
    "want = {k: v for k, v in obj.items() if not dropped(k)}\n"
    "with h5py.File(out, 'r') as h:\n"
    "    w = h['weights']; got = []\n"
    "    w.visit(lambda n: got.append(n) if isinstance(w[n], h5py.Dataset) else None)\n"
    "    assert sorted(got) == sorted(want), 'key sets differ: %s' % sorted(set(got) ^ set(want))[:5]\n"
    "    nparam = 0\n"
    "    for k, t in want.items():\n"
    "        x = w[k]\n"
    "        assert x.dtype == np.float32, (k, x.dtype)\n"
    "        assert x.shape == tuple(t.shape), (k, x.shape, tuple(t.shape))\n"
    "        ref = t.float().numpy()\n"
    "        assert np.array_equal(x[()], ref), 'values of %s differ' % k\n"
    "        nparam += t.numel()\n"
    "    a = h.attrs\n"
    "    s = lambda v: v.decode() if isinstance(v, bytes) else str(v)\n"
    "    assert s(a['format']) == 'ddad-weights' and int(a['format_version']) == 1, dict(a)\n"
    "    assert s(a['kind']) == kind, (s(a['kind']), kind)\n"
    "    assert s(a['source']) == source, s(a['source'])\n"
    "    assert s(a['container']) == container, (s(a['container']), container)\n"
    "    assert int(a['n_tensors']) == len(want) and int(a['n_parameters']) == nparam, dict(a)\n"
    "print('compare: %d tensors, %d values equal' % (len(want), nparam))\n";

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    fclose(f);
}

static const char *tmp_path(const char *name)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static void setup(void)
{
    if (g_ready)
        return;
    CU_ASSERT_FATAL(ddad_test_python_has("torch,torchvision,h5py,numpy"));
    g_dir = ddad_test_mkdtemp("import");
    CU_ASSERT_FATAL(g_dir != NULL);
    write_file(tmp_path("make.py"), k_make_py);
    write_file(tmp_path("compare.py"), k_compare_py);
    int rc = ddad_test_system("'%s' '%s' '%s' '%s'", ddad_test_python(), tmp_path("make.py"), g_dir,
                              ddad_test_fixtures_dir());
    CU_ASSERT_FATAL(rc == 0);
    g_ready = 1;
}

/* Runs ddad-import with args, stdout+stderr to <dir>/log; returns the exit code. */
static int run_import(const char *args)
{
    return ddad_test_system("cd '%s' && '%s/ddad-import' %s >log 2>&1", g_dir, ddad_test_bin_dir(), args);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

/* Asserts that the last log contains every one of the NULL-terminated needles. */
static void log_has(const char *first, ...)
{
    char *log = read_text(tmp_path("log"));
    va_list ap;
    va_start(ap, first);
    for (const char *n = first; n; n = va_arg(ap, const char *)) {
        if (!strstr(log, n))
            fprintf(stderr, "\n  log lacks \"%s\":\n%s\n", n, log);
        CU_ASSERT(strstr(log, n) != NULL);
    }
    va_end(ap);
    free(log);
}

/* source: the file name ddad-import read (NULL: pt) */
static int compare_src(const char *h5, const char *pt, const char *kind, const char *source)
{
    return ddad_test_system("cd '%s' && '%s' compare.py '%s' '%s' '%s' '%s'", g_dir, ddad_test_python(), h5, pt,
                            kind, source ? source : pt);
}

static int compare(const char *h5, const char *pt, const char *kind) { return compare_src(h5, pt, kind, NULL); }

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- listings read from text files ----------------------------------- */

typedef struct {
    char key[160];
    char shape[64];
} line_t;

/* Reads "key<TAB>shape" lines (from the line after a line starting with
 * `start`, when given, up to a line starting with `stop`). */
static line_t *read_listing(const char *path, const char *start, const char *stop, size_t *n)
{
    FILE *f = fopen(path, "r");
    CU_ASSERT_FATAL(f != NULL);
    line_t *v = calloc(4096, sizeof *v);
    char buf[512];
    int on = start == NULL;
    *n = 0;
    while (fgets(buf, sizeof buf, f)) {
        if (start && !strncmp(buf, start, strlen(start))) {
            on = 1;
            continue;
        }
        if (stop && !strncmp(buf, stop, strlen(stop)))
            break;
        char *tab = strchr(buf, '\t');
        if (!on || buf[0] == '#' || !tab || *n >= 4096)
            continue;
        *tab = '\0';
        buf[strcspn(tab + 1, "\n") + (size_t)(tab + 1 - buf)] = '\0';
        snprintf(v[*n].key, sizeof v[*n].key, "%.159s", buf);
        snprintf(v[*n].shape, sizeof v[*n].shape, "%s", tab + 1);
        (*n)++;
    }
    fclose(f);
    return v;
}

static void shape_text(const ddad_checkpoint_entry_t *e, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = '\0';
    if (e->ndim == 0)
        snprintf(buf, cap, "scalar");
    for (int d = 0; d < e->ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", d ? "x" : "", (long long)e->shape[d]);
}

/* Compares a kind's expected layout with a listing minus the keys that the
 * kind drops (drop_prefix, label_emb, num_batches_tracked). */
static void check_expected(ddad_import_kind_t kind, const line_t *ref, size_t nref, const char *drop_prefix,
                           size_t want_optional)
{
    ddad_checkpoint_entry_t *es = NULL;
    size_t n = 0, nreq = 0;
    CU_ASSERT_FATAL(ddad_import_expected(kind, &es, &n, &nreq) == DDAD_OK);
    size_t j = 0, mism = 0;
    for (size_t i = 0; i < nref; i++) {
        const char *k = ref[i].key;
        if (strstr(k, "num_batches_tracked") || !strcmp(k, "label_emb.weight") ||
            (drop_prefix && !strncmp(k, drop_prefix, strlen(drop_prefix))))
            continue;
        char sh[64];
        if (j < n)
            shape_text(&es[j], sh, sizeof sh);
        if (j >= n || strcmp(es[j].key, k) || strcmp(sh, ref[i].shape)) {
            if (mism++ == 0)
                fprintf(stderr, "\n  %s: entry %zu: expected %s %s, got %s %s\n", ddad_import_kind_str(kind), j, k,
                        ref[i].shape, j < n ? es[j].key : "(end)", j < n ? sh : "");
        }
        j++;
    }
    CU_ASSERT_EQUAL(mism, 0);
    CU_ASSERT_EQUAL(j, n);
    CU_ASSERT_EQUAL(n - nreq, want_optional);
    ddad_checkpoint_list_free(es, n);
}

/* ---- tests -------------------------------------------------------------- */

static void test_kind_names(void)
{
    ddad_import_kind_t k;
    for (int i = DDAD_IMPORT_AUTO; i <= DDAD_IMPORT_WRN50_2; i++) {
        CU_ASSERT_EQUAL(ddad_import_kind_parse(&k, ddad_import_kind_str((ddad_import_kind_t)i)), DDAD_OK);
        CU_ASSERT_EQUAL((int)k, i);
    }
    CU_ASSERT_EQUAL(ddad_import_kind_parse(&k, "resnet"), DDAD_STATUS_USAGE);
    CU_ASSERT(strstr(ddad_last_error(), "effnet-b4") != NULL);
    ddad_checkpoint_entry_t *es = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(ddad_import_expected(DDAD_IMPORT_ADM, &es, &n, NULL), DDAD_STATUS_USAGE);
    CU_ASSERT_EQUAL(ddad_import_checkpoint(NULL, "x.h5", DDAD_IMPORT_AUTO, NULL), DDAD_STATUS_USAGE);
}

static void test_expected_layouts(void)
{
    setup();
    size_t n;
    line_t *b = read_listing(ddad_test_fixture("adm256_keys.txt"), "[B]", "[C]", &n);
    CU_ASSERT_EQUAL(n, 567);
    check_expected(DDAD_IMPORT_ADM256, b, n, NULL, 0);
    free(b);
    line_t *e = read_listing(ddad_test_fixture("effnet_b4_keys.txt"), NULL, "# per block", &n);
    CU_ASSERT_EQUAL(n, 706);
    check_expected(DDAD_IMPORT_EFFNET_B4, e, n, "_fc.", 5); /* _conv_head.weight + _bn1.* */
    free(e);
    line_t *w = read_listing(tmp_path("wrn_keys.txt"), NULL, NULL, &n);
    CU_ASSERT(n > 300);
    check_expected(DDAD_IMPORT_WRN50_2, w, n, "fc.", 0);
    free(w);
}

static void test_effnet(void)
{
    setup();
    CU_ASSERT_EQUAL(run_import("--kind effnet-b4 effnet.pt effnet.h5"), 0);
    log_has("effnet-b4 checkpoint", "706 tensors read", NULL);
    CU_ASSERT_EQUAL(compare("effnet.h5", "effnet.pt", "effnet-b4"), 0);

    /* the C API, read back with h5io */
    ddad_import_report_t rep;
    CU_ASSERT_EQUAL_FATAL(ddad_import_checkpoint(tmp_path("effnet.pt"), tmp_path("effnet_api.h5"), DDAD_IMPORT_AUTO,
                                                 &rep),
                          DDAD_OK);
    size_t n;
    line_t *ref = read_listing(ddad_test_fixture("effnet_b4_keys.txt"), NULL, "# per block", &n);
    size_t kept = 0;
    long long params = 0;
    for (size_t i = 0; i < n; i++) {
        if (strstr(ref[i].key, "num_batches_tracked") || !strncmp(ref[i].key, "_fc.", 4))
            continue;
        kept++;
        long long p = 1;
        for (char *s = ref[i].shape; s; s = strchr(s, 'x') ? strchr(s, 'x') + 1 : NULL)
            p *= atoll(s);
        params += p;
    }
    free(ref);
    CU_ASSERT_EQUAL(rep.kind, DDAD_IMPORT_EFFNET_B4);
    CU_ASSERT_EQUAL(rep.n_read, 706);
    CU_ASSERT_EQUAL(rep.n_written, kept);
    CU_ASSERT_EQUAL(rep.n_dropped, 706 - kept);
    CU_ASSERT_EQUAL(rep.n_params, params);
    CU_ASSERT_STRING_EQUAL(rep.container, "");
    ddad_h5_t *f;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&f, tmp_path("effnet_api.h5"), DDAD_H5_READ), DDAD_OK);
    int64_t shape[DDAD_H5_MAX_DIMS];
    int nd;
    CU_ASSERT_EQUAL(ddad_h5_shape(f, "weights/_blocks.6._depthwise_conv.weight", shape, &nd), DDAD_OK);
    CU_ASSERT(nd == 4 && shape[0] == 192 && shape[1] == 1 && shape[2] == 5 && shape[3] == 5);
    CU_ASSERT(!ddad_h5_exists(f, "weights/_fc.weight"));
    CU_ASSERT(!ddad_h5_exists(f, "weights/_bn0.num_batches_tracked"));
    char *s = NULL;
    CU_ASSERT_EQUAL(ddad_h5_get_attr_str(f, "/", "dropped", &s), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(s, "_fc.weight,_fc.bias");
    free(s);
    ddad_h5_close(f);
}

static void test_wrn_auto(void)
{
    setup();
    CU_ASSERT_EQUAL(run_import("wrn.pt wrn.h5"), 0);
    log_has("wrn50-2 checkpoint", NULL);
    CU_ASSERT_EQUAL(compare("wrn.h5", "wrn.pt", "wrn50-2"), 0);
}

static void test_adm_generic(void)
{
    setup();
    /* float64, float16, non-contiguous and offset views, all as python saved them */
    CU_ASSERT_EQUAL(run_import("--kind adm adm_small.pt adm.h5"), 0);
    CU_ASSERT_EQUAL(compare("adm.h5", "adm_small.pt", "adm"), 0);
    /* auto: a 32-channel UNet with a feature head is not the OpenAI layout */
    CU_ASSERT_EQUAL(run_import("adm_model.pt adm_auto.h5"), 0);
    log_has("adm checkpoint (in 'model')", NULL);
    CU_ASSERT_EQUAL(compare("adm_auto.h5", "adm_model.pt", "adm"), 0);

    /* the values also match the fixture the checkpoint was made from */
    ddad_h5_t *a, *b;
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&a, tmp_path("adm.h5"), DDAD_H5_READ), DDAD_OK);
    CU_ASSERT_EQUAL_FATAL(ddad_h5_open(&b, ddad_test_fixture("unet_small.h5"), DDAD_H5_READ), DDAD_OK);
    const char *names[] = {"weights/out.2.weight", "weights/input_blocks.4.1.qkv.weight",
                           "weights/feat_rec1.2.weight"};
    for (size_t i = 0; i < 3; i++) {
        float *x = NULL, *y = NULL;
        int64_t sx[DDAD_H5_MAX_DIMS], sy[DDAD_H5_MAX_DIMS];
        int nx, ny;
        CU_ASSERT_EQUAL_FATAL(ddad_h5_read(a, names[i], DDAD_H5_F32, (void **)&x, sx, &nx), DDAD_OK);
        CU_ASSERT_EQUAL_FATAL(ddad_h5_read(b, names[i], DDAD_H5_F32, (void **)&y, sy, &ny), DDAD_OK);
        CU_ASSERT_EQUAL_FATAL(nx, ny);
        size_t cnt = 1;
        for (int d = 0; d < nx; d++) {
            CU_ASSERT_EQUAL(sx[d], sy[d]);
            cnt *= (size_t)sx[d];
        }
        CU_ASSERT(memcmp(x, y, cnt * sizeof(float)) == 0);
        free(x);
        free(y);
    }
    ddad_h5_close(a);
    ddad_h5_close(b);
}

static void test_container(void)
{
    setup();
    ddad_import_report_t rep;
    CU_ASSERT_EQUAL(ddad_import_checkpoint(tmp_path("effnet_wrapped.pt"), tmp_path("wrapped.h5"), DDAD_IMPORT_AUTO,
                                           &rep),
                    DDAD_OK);
    CU_ASSERT_STRING_EQUAL(rep.container, "state_dict");
    CU_ASSERT_EQUAL(rep.n_read, 706);
    CU_ASSERT_EQUAL(compare("wrapped.h5", "effnet_wrapped.pt", "effnet-b4"), 0);
}

static void test_list(void)
{
    setup();
    CU_ASSERT_EQUAL(run_import("--list effnet.pt"), 0);
    log_has("_conv_stem.weight\t48x3x3x3\tfloat32\n", "_bn0.num_batches_tracked\tscalar\tint64\n",
            "_fc.weight\t1000x1792\tfloat32\n", "706 tensors", "kind guessed: effnet-b4", NULL);
    ddad_checkpoint_entry_t *es = NULL;
    size_t n = 0;
    char container[32];
    CU_ASSERT_EQUAL_FATAL(ddad_checkpoint_list(tmp_path("adm_small.pt"), &es, &n, container), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(container, "");
    CU_ASSERT_STRING_EQUAL(es[0].key, "time_embed.0.weight");
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(es[i].key, "time_embed.0.bias"))
            seen += !strcmp(es[i].dtype, "float64");
        if (!strcmp(es[i].key, "out.0.bias"))
            seen += !strcmp(es[i].dtype, "float16") && es[i].ndim == 1;
    }
    CU_ASSERT_EQUAL(seen, 2);
    ddad_import_kind_t k;
    CU_ASSERT_EQUAL(ddad_import_guess_kind(es, n, &k), DDAD_OK);
    CU_ASSERT_EQUAL(k, DDAD_IMPORT_ADM);
    ddad_checkpoint_list_free(es, n);
    CU_ASSERT(!exists(tmp_path("effnet.pt.h5")));
}

static void test_legacy(void)
{
    setup();
    CU_ASSERT_EQUAL(run_import("--kind effnet-b4 effnet_legacy.pt legacy.h5"), 4);
    log_has("legacy", "experiments/convert_legacy_checkpoint.py", NULL);
    CU_ASSERT(!exists(tmp_path("legacy.h5")));
    int rc = ddad_test_system("cd '%s' && '%s' '%s/experiments/convert_legacy_checkpoint.py' effnet_legacy.pt "
                              "converted.pt >log 2>&1",
                              g_dir, ddad_test_python(), ddad_test_source_dir());
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(run_import("--kind effnet-b4 converted.pt converted.h5"), 0);
    CU_ASSERT_EQUAL(compare_src("converted.h5", "effnet_legacy.pt", "effnet-b4", "converted.pt"), 0);
    /* the converter also unwraps containers into a plain dict */
    rc = ddad_test_system("cd '%s' && '%s' '%s/experiments/convert_legacy_checkpoint.py' adm_model.pt "
                          "unwrapped.pt >log 2>&1",
                          g_dir, ddad_test_python(), ddad_test_source_dir());
    CU_ASSERT_EQUAL(rc, 0);
    log_has("(from 'model')", NULL);
    char container[32] = "x";
    ddad_checkpoint_entry_t *es = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(ddad_checkpoint_list(tmp_path("unwrapped.pt"), &es, &n, container), DDAD_OK);
    CU_ASSERT_STRING_EQUAL(container, "");
    CU_ASSERT(n > 100);
    ddad_checkpoint_list_free(es, n);
}

/* Each case: args, exit code, texts the message must hold. */
static void expect_fail(const char *args, int code, const char *t1, const char *t2)
{
    int rc = run_import(args);
    if (rc != code)
        fprintf(stderr, "\n  ddad-import %s: exit %d, expected %d\n", args, rc, code);
    CU_ASSERT_EQUAL(rc, code);
    log_has(t1, t2, NULL);
}

static void test_layout_errors(void)
{
    setup();
    expect_fail("--kind effnet-b4 effnet_missing.pt o.h5", 4, "missing key '_blocks.17._bn1.running_var'",
                "expected shape 960");
    expect_fail("--kind effnet-b4 effnet_shape.pt o.h5", 4, "'_blocks.3._se_reduce.weight' has shape 9x192x1x1",
                "expected 8x192x1x1");
    expect_fail("effnet_extra.pt o.h5", 4, "unexpected key 'extra_head.weight' (2x2)", "effnet-b4");
    expect_fail("--kind wrn50-2 effnet.pt o.h5", 4, "not a wrn50-2 checkpoint", "look like --kind effnet-b4");
    expect_fail("--kind adm256 adm256_scaled.pt o.h5", 4, "'time_embed.0.weight' has shape 16x4",
                "expected 1024x256");
    expect_fail("--kind adm256 adm256_partial.pt o.h5", 4, "missing key 'time_embed.0.bias'",
                "expected shape 1024)");
    expect_fail("--kind adm effnet.pt o.h5", 4, "key '_conv_stem.weight' is not part of an ADM UNet", "--kind");
    expect_fail("wrn_keys.txt o.h5", 4, "not a PyTorch checkpoint", NULL);
    CU_ASSERT(!exists(tmp_path("o.h5")));
    CU_ASSERT(!exists(tmp_path("o.h5.tmp")));
    /* auto on the scaled ADM listing: a generic ADM UNet, imported as is */
    CU_ASSERT_EQUAL(run_import("adm256_scaled.pt scaled.h5"), 0);
    CU_ASSERT_EQUAL(compare("scaled.h5", "adm256_scaled.pt", "adm"), 0);
}

static void test_file_errors(void)
{
    setup();
    /* an existing output survives every failed import */
    write_file(tmp_path("keep.h5"), "previous result\n");
    expect_fail("truncated.pt keep.h5", 4, "truncated or corrupt", NULL);
    expect_fail("corrupt.pt keep.h5", 4, "record data/5", "fails its CRC-32 check");
    expect_fail("text.pt keep.h5", 4, "not a PyTorch checkpoint", NULL);
    expect_fail("empty.pt keep.h5", 4, "empty file", NULL);
    expect_fail("foreign.zip keep.h5", 4, "not a PyTorch checkpoint written by torch.save", NULL);
    expect_fail("foreign2.zip keep.h5", 4, "without data.pkl", NULL);
    expect_fail("no_such_file.pt keep.h5", 5, "no_such_file.pt", "No such file");
    expect_fail("--kind wrn50-2 effnet_missing.pt keep.h5", 4, "not a wrn50-2", NULL);
    char *s = read_text(tmp_path("keep.h5"));
    CU_ASSERT_STRING_EQUAL(s, "previous result\n");
    free(s);
    CU_ASSERT(!exists(tmp_path("keep.h5.tmp")));
    /* an output folder that does not exist: I/O, naming the output */
    expect_fail("adm_small.pt no_dir/x.h5", 5, "no_dir/x.h5", NULL);
    /* the C API maps the same cases to statuses */
    CU_ASSERT_EQUAL(ddad_import_checkpoint(tmp_path("truncated.pt"), tmp_path("x.h5"), DDAD_IMPORT_AUTO, NULL),
                    DDAD_STATUS_DATA);
    CU_ASSERT_EQUAL(ddad_import_checkpoint(tmp_path("missing.pt"), tmp_path("x.h5"), DDAD_IMPORT_AUTO, NULL),
                    DDAD_STATUS_IO);
    ddad_checkpoint_entry_t *es = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(ddad_checkpoint_list(tmp_path("effnet_legacy.pt"), &es, &n, NULL), DDAD_STATUS_DATA);
    CU_ASSERT(strstr(ddad_last_error(), "convert_legacy_checkpoint.py") != NULL);
    CU_ASSERT(es == NULL);
}

static void test_usage(void)
{
    setup();
    CU_ASSERT_EQUAL(run_import("--help"), 0);
    log_has("Exit codes", "2 usage", "4 data", "5 I/O", "--list", "adm256", "effnet-b4", "wrn50-2", NULL);
    expect_fail("", 2, "expected IN.pt and OUT.h5", NULL);
    expect_fail("effnet.pt", 2, "expected IN.pt and OUT.h5", NULL);
    expect_fail("a.pt b.h5 c", 2, "too many arguments", NULL);
    expect_fail("--kind resnet effnet.pt o.h5", 2, "unknown kind 'resnet'", NULL);
    expect_fail("--kind", 2, "--kind needs a value", NULL);
    expect_fail("--frobnicate a b", 2, "unknown option", NULL);
    expect_fail("--list effnet.pt o.h5", 2, "--list takes exactly one", NULL);
    CU_ASSERT_EQUAL(run_import("--kind=effnet-b4 effnet.pt eq.h5"), 0);
}

static void cleanup(void)
{
    if (g_dir) {
        ddad_test_rmtree(g_dir);
        free(g_dir);
        g_dir = NULL;
    }
}

int main(void)
{
    static const ddad_test_t tests[] = {{"kind names and argument checks", test_kind_names},
                                        {"expected layouts match the published listings", test_expected_layouts},
                                        {"effnet-b4: values, report, dropped keys", test_effnet},
                                        {"wrn50-2 (torchvision state_dict), kind guessed", test_wrn_auto},
                                        {"generic adm: dtypes, views, container", test_adm_generic},
                                        {"container {'state_dict': ...} with other objects", test_container},
                                        {"--list and ddad_checkpoint_list", test_list},
                                        {"legacy checkpoints and the converter", test_legacy},
                                        {"layout errors name the key and shapes", test_layout_errors},
                                        {"file errors keep an existing output", test_file_errors},
                                        {"command line", test_usage},
                                        {0}};
    /* every test but the first builds its inputs from the fixtures (setup) */
    static const ddad_test_t without_fixtures[] = {{"kind names and argument checks", test_kind_names}, {0}};
    int rc = ddad_test_main("torch import",
                            ddad_test_have_fixture("effnet_b4_keys.txt") ? tests : without_fixtures);
    cleanup();
    return rc;
}
