/* ddad-import - published PyTorch checkpoints -> ddad's HDF5 weights.
 *
 *   ddad-import [--kind adm256|adm|effnet-b4|wrn50-2|auto] IN.pt OUT.h5
 *   ddad-import --list IN.pt
 *
 * See core/torch/import.h for the rules of each kind. Exit codes: 0 ok,
 * 1 internal, 2 usage, 4 data (legacy/corrupt/foreign file, key or shape
 * mismatch), 5 I/O (missing input, unwritable output).
 *
 * Built in two parts (ddad_add_split_program, core/runtime.h): the front end
 * (DDAD_FRONT_END, no libtorch) answers --help and --version and checks the
 * options; reading a checkpoint is the model side's. */
#include <stdio.h>
#include <string.h>

#include "ddad_version.h"
#include "import_kind.h"
#include "runtime.h"
#include "status.h"
#ifndef DDAD_FRONT_END
#include "torch/import.h"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ddad-import [--kind KIND] IN.pt OUT.h5\n"
            "       ddad-import --list IN.pt\n"
            "Converts a PyTorch checkpoint (zip format, torch.save since 1.6) holding a state_dict\n"
            "(or {'state_dict': ...} / {'model': ...}) into HDF5 weights: weights/<key>, float32.\n"
            "  --kind KIND   auto (default: guessed from the keys), or\n"
            "                adm256     OpenAI 256x256_diffusion.pt; layout checked, label_emb dropped\n"
            "                adm        any guided-diffusion UNet, imported as is\n"
            "                effnet-b4  lukemelas efficientnet-b4-6ed6700e.pth; _fc dropped\n"
            "                wrn50-2    torchvision wide_resnet50_2-95faca4d.pth; fc dropped\n"
            "  --list        print key, shape and dtype of every tensor of IN.pt; write nothing\n"
            "  --version     print the version\n"
            "*.num_batches_tracked is always dropped. Legacy (pre-1.6) checkpoints: re-save them with\n"
            "  /usr/bin/python3 experiments/convert_legacy_checkpoint.py OLD.pth NEW.pt\n"
            "Exit codes: 0 ok, 1 internal error, 2 usage, 4 data (legacy, corrupt or foreign file,\n"
            "missing/unexpected key or wrong shape), 5 I/O (cannot read input or write output).\n");
}

#ifndef DDAD_FRONT_END
static void print_shape(const ddad_checkpoint_entry_t *e)
{
    if (e->ndim == 0)
        printf("scalar");
    for (int d = 0; d < e->ndim; d++)
        printf("%s%lld", d ? "x" : "", (long long)e->shape[d]);
}

static int list(const char *in)
{
    ddad_checkpoint_entry_t *es = NULL;
    size_t n = 0;
    char container[32];
    ddad_status_t st = ddad_checkpoint_list(in, &es, &n, container);
    if (st) {
        fprintf(stderr, "ddad-import: %s\n", ddad_last_error());
        return ddad_status_exit_code(st);
    }
    long long numel = 0;
    for (size_t i = 0; i < n; i++) {
        printf("%s\t", es[i].key);
        print_shape(&es[i]);
        printf("\t%s\n", es[i].dtype);
        numel += es[i].numel;
    }
    ddad_import_kind_t kind;
    const char *guess = ddad_import_guess_kind(es, n, &kind) == DDAD_OK ? ddad_import_kind_str(kind) : "unknown";
    fprintf(stderr, "%zu tensors, %lld elements%s%s%s; kind guessed: %s\n", n, numel, container[0] ? " in '" : "",
            container, container[0] ? "'" : "", guess);
    ddad_checkpoint_list_free(es, n);
    return 0;
}

#endif

int main(int argc, char **argv)
{
    ddad_runtime_reexec(argv);
    ddad_import_kind_t kind = DDAD_IMPORT_AUTO;
    const char *pos[2];
    int npos = 0, do_list = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("ddad-import %s (%s)\n", DDAD_VERSION, DDAD_GIT_REVISION);
            return 0;
        } else if (!strcmp(a, "--list")) {
            do_list = 1;
        } else if (!strcmp(a, "--kind") || !strncmp(a, "--kind=", 7)) {
            const char *v = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v || ddad_import_kind_parse(&kind, v) != DDAD_OK) {
                fprintf(stderr, "ddad-import: %s\n", v ? ddad_last_error() : "--kind needs a value");
                return 2;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "ddad-import: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            fprintf(stderr, "ddad-import: too many arguments ('%s')\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (do_list && npos != 1) {
        fprintf(stderr, "ddad-import: --list takes exactly one checkpoint\n");
        return 2;
    }
    if (!do_list && npos != 2) {
        fprintf(stderr, "ddad-import: expected IN.pt and OUT.h5 (see --help)\n");
        usage(stderr);
        return 2;
    }
#ifdef DDAD_FRONT_END
    (void)kind; /* checked above; the model side parses the same arguments */
    (void)pos;
    return ddad_runtime_exec_model(argv);
#else
    if (do_list)
        return list(pos[0]);
    ddad_import_report_t rep;
    ddad_status_t st = ddad_import_checkpoint(pos[0], pos[1], kind, &rep);
    if (st) {
        fprintf(stderr, "ddad-import: %s\n", ddad_last_error());
        return ddad_status_exit_code(st);
    }
    printf("%s: %s checkpoint%s%s%s, %zu tensors read, %zu dropped; wrote %zu tensors (%lld parameters) to %s\n",
           pos[0], ddad_import_kind_str(rep.kind), rep.container[0] ? " (in '" : "", rep.container,
           rep.container[0] ? "')" : "", rep.n_read, rep.n_dropped, rep.n_written, (long long)rep.n_params, pos[1]);
    return 0;
#endif
}
