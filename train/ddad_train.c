/* ddad-train - trains the diffusion model of a config.
 *
 *     ddad-train configs/demo.yaml
 *     ddad-train configs/bottle.yaml --set train.iterations=500 --device cuda
 *     ddad-train configs/demo.yaml --resume        (after Ctrl-C or a crash)
 *
 * A thin main: options (train_args.c), config, the training loop of
 * core/nn/trainer.h, progress (train_progress.c), signals (train_signals.c)
 * the loss plot (train_plot.c) and the OpenMP wait policy (core/runtime.c). Exit codes: ddad_status_exit_code.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "nn/trainer.h"
#include "status.h"
#include "torch/tensor.h"
#include "train_args.h"
#include "train_plot.h"
#include "train_progress.h"
#include "runtime.h"
#include "train_signals.h"

static int fail(ddad_status_t st, const char *what)
{
    fprintf(stderr, "ddad-train: %s%s%s\n", what ? what : "", what ? ": " : "", ddad_last_error());
    return ddad_status_exit_code(st);
}

static void print_counts(const ddad_trainer_t *tr)
{
    ddad_trainer_counts_t c;
    ddad_trainer_counts(tr, &c);
    const ddad_model_t *m = ddad_trainer_model(tr);
    printf("parameters: UNet %" PRId64 " trainable (%.2f M), EMA %" PRId64 ", feature extractor %" PRId64
           " (frozen, %s)\n",
           c.unet, (double)c.unet / 1e6, c.ema, c.extractor, m->has_features ? m->effnet.source : "none");
}

int main(int argc, char **argv)
{
    ddad_runtime_reexec(argv);
    train_args_t args;
    int rc = train_args_parse(&args, argc, argv);
    if (rc >= 0) {
        train_args_free(&args);
        return rc;
    }
    char device_set[64 + 32];
    if (args.device) {
        snprintf(device_set, sizeof device_set, "device=%s", args.device);
        args.sets[args.n_sets++] = device_set;
    }
    ddad_config_t cfg;
    ddad_status_t st = ddad_config_load(&cfg, args.config, args.sets, args.n_sets);
    if (st != DDAD_OK) {
        rc = fail(st, NULL);
        train_args_free(&args);
        return rc;
    }
    if (args.quiet)
        ddad_log_set_level(DDAD_LOG_WARN);
    ddad_runtime_setup(&cfg);
    if (!args.quiet) {
        printf("ddad-train %s\n", args.config);
        ddad_config_print(&cfg, stdout, DDAD_CONFIG_FORMAT_TABLE);
        fflush(stdout);
    }

    train_progress_t progress;
    train_progress_init(&progress, cfg.train.log_every, args.quiet);
    train_signals_install();
    ddad_trainer_opts_t o = ddad_trainer_opts_default();
    o.resume = args.resume;
    o.force = args.force;
    o.dry_run = args.dry_run;
    o.stop_flag = train_signals_flag();
    o.on_step = train_progress_step;
    o.user = &progress;

    ddad_trainer_t *tr = NULL;
    st = ddad_trainer_create(&tr, &cfg, &o);
    if (st != DDAD_OK) {
        rc = fail(st, args.dry_run ? "dry run failed" : NULL);
        train_args_free(&args);
        return rc;
    }
    const char *run_dir = ddad_trainer_run_dir(tr);
    if (args.dry_run) {
        printf("dry run: config, data (%zu training images, every file probed), weights, device %s and run "
               "folder %s are fine\n",
               ddad_trainer_num_images(tr), cfg.device, run_dir);
        print_counts(tr);
        printf("nothing was trained or written\n");
        ddad_trainer_free(tr);
        train_args_free(&args);
        return 0;
    }
    if (!args.quiet) {
        printf("run folder: %s\n", run_dir);
        printf("training images: %zu\n", ddad_trainer_num_images(tr));
        print_counts(tr);
        if (*ddad_trainer_resumed_from(tr))
            printf("resumed from %s at step %" PRId64 "\n", ddad_trainer_resumed_from(tr),
                   ddad_trainer_step_count(tr));
        fflush(stdout);
    }
    st = ddad_trainer_run(tr);
    train_progress_finish(&progress);
    if (st == DDAD_OK || st == DDAD_STATUS_INTERRUPTED)
        train_plot_loss(run_dir);
    if (st == DDAD_OK) {
        if (!args.quiet)
            printf("done: %" PRId64 " iterations, last checkpoint in %s/checkpoints, log %s/train.log\n",
                   ddad_trainer_step_count(tr), run_dir, run_dir);
        rc = 0;
    } else {
        rc = fail(st, NULL);
    }
    ddad_trainer_free(tr);
    train_args_free(&args);
    return rc;
}
