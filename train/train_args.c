/* train/train_args.c - see train_args.h */
#include "train_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddad_version.h"
#include "status.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ddad-train CONFIG [--set key=value ...] [--resume] [--device D] [--dry-run] [--force] [--quiet]\n"
            "\n"
            "Trains the diffusion model of a config (per category, or one class-conditional model\n"
            "when data.category is a list or \"all\") into the run folder\n"
            "run.dir/<data.format>/<category or unified>[/run.name]: config.yaml, train.log,\n"
            "checkpoints/step_NNNNNNN.h5, loss.png (when gnuplot is installed).\n"
            "\n"
            "options:\n"
            "  --set key=value  override a config key (repeatable), e.g. --set train.iterations=500\n"
            "  --resume         continue from the newest checkpoint of the run folder (bit-exact on the\n"
            "                   same device); starts from scratch when there is none\n"
            "  --device D       cpu, cuda or cuda:N (same as --set device=D)\n"
            "  --dry-run        check config, data (every image header), weights files, run folder and\n"
            "                   device; print the config and parameter counts; train nothing\n"
            "  --print-config   print the resolved configuration (YAML) and exit; touches nothing else\n"
            "  --force          delete the run folder's old checkpoints and start over\n"
            "  --quiet          no config table, no progress; warnings and errors only\n"
            "  --help, -h       this text\n"
            "  --version        version and git revision\n"
            "\n"
            "SIGINT/SIGTERM finish the current step, write a checkpoint and exit with code 8.\n"
            "\n"
            "Data parallel: with WORLD_SIZE, RANK, MASTER_ADDR and MASTER_PORT set (torchrun's\n"
            "variables; scripts/ddad-launch --nproc N sets them) every process trains on its share\n"
            "of each batch and rank 0 writes the run folder (keys dist.*; README \"Data-parallel\").\n"
            "\n"
            "exit codes:\n"
            "  0 ok, 1 internal error, 2 usage, 3 config, 4 data, 5 I/O, 6 numeric (NaN/Inf loss;\n"
            "  the last good checkpoint is kept), 7 device, 8 interrupted (checkpoint written),\n"
            "  9 peer (another process of a data-parallel job failed, exited or timed out)\n");
}

void train_args_free(train_args_t *a)
{
    free(a->sets);
    memset(a, 0, sizeof *a);
}

int train_args_parse(train_args_t *a, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->sets = calloc((size_t)argc + 1, sizeof *a->sets);
    if (!a->sets) {
        fprintf(stderr, "ddad-train: out of memory\n");
        return ddad_status_exit_code(DDAD_STATUS_NOMEM);
    }
    const int usage_rc = ddad_status_exit_code(DDAD_STATUS_USAGE);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(s, "--version")) {
            printf("ddad-train %s (%s)\n", DDAD_VERSION, DDAD_GIT_REVISION);
            return 0;
        } else if (!strcmp(s, "--resume")) {
            a->resume = true;
        } else if (!strcmp(s, "--dry-run")) {
            a->dry_run = true;
        } else if (!strcmp(s, "--print-config")) {
            a->print_config = true;
        } else if (!strcmp(s, "--force")) {
            a->force = true;
        } else if (!strcmp(s, "--quiet") || !strcmp(s, "-q")) {
            a->quiet = true;
        } else if (!strcmp(s, "--set") || !strcmp(s, "--device")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ddad-train: %s needs a value (see --help)\n", s);
                return usage_rc;
            }
            if (!strcmp(s, "--set"))
                a->sets[a->n_sets++] = argv[++i];
            else
                a->device = argv[++i];
        } else if (!strncmp(s, "--set=", 6)) {
            a->sets[a->n_sets++] = s + 6;
        } else if (!strncmp(s, "--device=", 9)) {
            a->device = s + 9;
        } else if (s[0] == '-' && s[1] != '\0') {
            fprintf(stderr, "ddad-train: unknown option %s (see --help)\n", s);
            return usage_rc;
        } else if (a->config) {
            fprintf(stderr, "ddad-train: more than one CONFIG given (%s and %s)\n", a->config, s);
            return usage_rc;
        } else {
            a->config = s;
        }
    }
    if (!a->config) {
        fprintf(stderr, "usage: ddad-train CONFIG [options] (see --help)\n");
        return usage_rc;
    }
    if (a->resume && a->force) {
        fprintf(stderr, "ddad-train: --resume and --force contradict each other: choose one\n");
        return usage_rc;
    }
    return -1;
}
