/* train/train_args.c - see train_args.h */
#include "train_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

static const char usage_text[] =
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
    "A NaN/Inf loss exits with 6 and keeps the last good checkpoint.\n"
    "\n"
    "Data parallel: with WORLD_SIZE, RANK, MASTER_ADDR and MASTER_PORT set (torchrun's\n"
    "variables; scripts/ddad-launch --nproc N sets them) every process trains on its share\n"
    "of each batch and rank 0 writes the run folder (keys dist.*; README \"Data-parallel\").\n";

void train_args_free(train_args_t *a)
{
    memset(a, 0, sizeof *a);
}

int train_args_parse(train_args_t *a, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->cli = ddad_cli_init("ddad-train", usage_text);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int common = ddad_cli_common(&a->cli, argc, argv, &i);
        if (common == DDAD_CLI_EXIT)
            return a->cli.exit_code;
        if (common == DDAD_CLI_HANDLED)
            continue;
        if (!strcmp(s, "--resume")) {
            a->resume = true;
        } else if (!strcmp(s, "--dry-run")) {
            a->dry_run = true;
        } else if (!strcmp(s, "--force")) {
            a->force = true;
        } else if (!strcmp(s, "--quiet") || !strcmp(s, "-q")) {
            a->quiet = true;
        } else if (s[0] == '-' && s[1] != '\0') {
            return ddad_cli_usage_error(&a->cli, "unknown option %s", s);
        } else if (a->config) {
            return ddad_cli_usage_error(&a->cli, "more than one CONFIG given (%s and %s)", a->config, s);
        } else {
            a->config = s;
        }
    }
    if (!a->config)
        return ddad_cli_usage_error(&a->cli, "no CONFIG given");
    if (a->resume && a->force)
        return ddad_cli_usage_error(&a->cli, "--resume and --force contradict each other: choose one");
    return DDAD_CLI_CONTINUE;
}
