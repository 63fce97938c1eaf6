/* ddad-train - trains the diffusion model of a config.
 *
 *     ddad-train configs/demo.yaml
 *     ddad-train configs/bottle.yaml --set train.iterations=500 --device cuda
 *     ddad-train configs/demo.yaml --resume        (after Ctrl-C or a crash)
 *     scripts/ddad-launch --nproc 2 ddad-train configs/demo.yaml   (data parallel)
 *
 * Data parallel when WORLD_SIZE is set (torchrun's variables, see
 * core/torch/dist.h): every rank runs this same program; rank 0 prints and
 * writes, the others only report errors, prefixed with their rank.
 *
 * A thin main: options (train_args.c) and config; then the model side
 * (train_run.c: the training loop of core/nn/trainer.h, progress
 * train_progress.c, signals train_signals.c, the loss plot train_plot.c).
 * Built twice (core/runtime.h): bin/ddad-train, without libtorch, answers
 * --help, --version and --print-config and starts libexec/ddad/ddad-train
 * for the rest. Exit codes: ddad_status_exit_code.
 */
#include <signal.h>
#include <stdio.h>

#include "cli.h"
#include "config.h"
#include "runtime.h"
#include "status.h"
#include "train_args.h"
#ifndef DDAD_FRONT_END
#include "train_run.h"
#endif

int main(int argc, char **argv)
{
    ddad_runtime_reexec(argv);
    /* Started in the background by a shell script (ddad-launch), SIGINT
     * arrives ignored: restore it, so that Ctrl-C works before training
     * starts (train_signals_install takes over then). A closed output pipe
     * must not kill a training run: writes fail, training goes on. */
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    train_args_t args;
    int rc = train_args_parse(&args, argc, argv);
    if (rc != DDAD_CLI_CONTINUE) {
        train_args_free(&args);
        return rc;
    }
    ddad_config_t cfg;
    ddad_status_t st = ddad_cli_load_config(&args.cli, args.config, &cfg);
    if (st != DDAD_OK) {
        fprintf(stderr, "ddad-train: %s\n", ddad_last_error());
        train_args_free(&args);
        return ddad_status_exit_code(st);
    }
    if (args.cli.print_config) {
        train_args_free(&args);
        return ddad_cli_print_config(&cfg);
    }
#ifdef DDAD_FRONT_END
    train_args_free(&args);
    return ddad_runtime_exec_model(argv);
#else
    rc = train_run(&args, &cfg);
    train_args_free(&args);
    return rc;
#endif
}
