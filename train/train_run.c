/* train/train_run.c - see train_run.h */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/trainer.h"
#include "status.h"
#include "torch/dist.h"
#include "train_plot.h"
#include "train_progress.h"
#include "train_run.h"
#include "train_signals.h"

static char g_who[64] = "ddad-train";

static int fail(ddad_status_t st, const char *what)
{
    fprintf(stderr, "%s: %s%s%s\n", g_who, what ? what : "", what ? ": " : "", ddad_last_error());
    return ddad_status_exit_code(st);
}

/* Data parallel settings from the environment and the config; adapts the
 * config to this process (threads shared with the other local ranks, a CUDA
 * device per local rank). *d stays NULL when WORLD_SIZE is unset. */
static ddad_status_t join_group(ddad_config_t *cfg, ddad_dist_t **d, bool quiet)
{
    *d = NULL;
    ddad_dist_opts_t o = ddad_dist_opts_default();
    bool present = false;
    ddad_status_t st = ddad_dist_opts_from_env(&o, &present);
    if (st != DDAD_OK || !present)
        return st;
    snprintf(g_who, sizeof g_who, "ddad-train[rank %d]", o.rank);
    if (cfg->threads == 0 && o.local_world_size > 1) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->threads = cores > o.local_world_size ? (int)(cores / o.local_world_size) : 1;
    }
    if (strcmp(cfg->device, "cuda") == 0) /* one GPU per process on this machine */
        snprintf(cfg->device, sizeof cfg->device, "cuda:%d", o.local_rank);
    if ((st = ddad_device_parse(&o.device, cfg->device)) != DDAD_OK)
        return ddad_fail_context(DDAD_STATUS_CONFIG, "device");
    o.backend = (ddad_dist_backend_t)cfg->dist.backend;
    o.timeout_s = cfg->dist.timeout_s;
    o.bucket_mb = cfg->dist.bucket_mb;
    if (!quiet && o.rank == 0) {
        printf("data parallel: %d processes, joining at %s (timeout %g s)\n", o.world_size,
               o.store_file[0] ? o.store_file : o.master_addr, o.timeout_s);
        fflush(stdout);
    }
    if ((st = ddad_dist_init(d, &o)) != DDAD_OK)
        return st;
    if (!quiet && o.rank == 0) {
        printf("data parallel: all %d processes joined (backend %s); each trains on %d of the %d images of a "
               "batch\n", o.world_size, ddad_dist_backend_name(ddad_dist_backend(*d)),
               cfg->train.batch_size / o.world_size, cfg->train.batch_size);
        fflush(stdout);
    }
    return DDAD_OK;
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

int train_run(const train_args_t *args, ddad_config_t *cfg)
{
    int rc;
    bool quiet = args->quiet;
    ddad_dist_t *dist = NULL;
    ddad_status_t st = join_group(cfg, &dist, quiet);
    if (st != DDAD_OK) {
        rc = fail(st, NULL);
        return rc;
    }
    if (quiet)
        ddad_log_set_level(DDAD_LOG_WARN);
    if (ddad_dist_rank(dist) != 0) { /* rank 0 speaks for the job; the others report errors */
        quiet = true;
        ddad_log_set_level(DDAD_LOG_ERROR);
    }
    ddad_runtime_setup(cfg);
    if (!quiet) {
        printf("ddad-train %s\n", args->config);
        ddad_config_print(cfg, stdout, DDAD_CONFIG_FORMAT_TABLE);
        fflush(stdout);
    }

    train_progress_t progress;
    train_progress_init(&progress, cfg->train.log_every, quiet);
    train_signals_install();
    ddad_trainer_opts_t o = ddad_trainer_opts_default();
    o.resume = args->resume;
    o.force = args->force;
    o.dry_run = args->dry_run;
    o.stop_flag = train_signals_flag();
    o.on_step = train_progress_step;
    o.user = &progress;
    o.dist = dist;

    ddad_trainer_t *tr = NULL;
    st = ddad_trainer_create(&tr, cfg, &o);
    if (st != DDAD_OK) {
        rc = fail(st, args->dry_run ? "dry run failed" : NULL);
        ddad_dist_free(dist);
        return rc;
    }
    const char *run_dir = ddad_trainer_run_dir(tr);
    if (args->dry_run && ddad_dist_rank(dist) != 0) {
        ddad_trainer_free(tr);
        ddad_dist_free(dist);
        return 0;
    }
    if (args->dry_run) {
        printf("dry run: config, data (%zu training images, every file probed), weights, device %s and run "
               "folder %s are fine\n",
               ddad_trainer_num_images(tr), cfg->device, run_dir);
        print_counts(tr);
        printf("nothing was trained or written\n");
        ddad_trainer_free(tr);
        ddad_dist_free(dist);
        return 0;
    }
    if (!quiet) {
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
    if ((st == DDAD_OK || st == DDAD_STATUS_INTERRUPTED) && ddad_dist_rank(dist) == 0)
        train_plot_loss(run_dir);
    if (st == DDAD_OK) {
        if (!quiet)
            printf("done: %" PRId64 " iterations, last checkpoint in %s/checkpoints, log %s/train.log\n",
                   ddad_trainer_step_count(tr), run_dir, run_dir);
        rc = 0;
    } else {
        rc = fail(st, NULL);
    }
    ddad_trainer_free(tr);
    ddad_dist_free(dist);
    return rc;
}
