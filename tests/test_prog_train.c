/* tests/test_prog_train.c - the ddad-train program end to end: options, exit
 * codes, dry run, refusing an existing run, SIGINT (exit 8 with a checkpoint)
 * and SIGKILL at random moments followed by --resume until the run completes
 * with exactly the weights of an uninterrupted run. Tiny model, 32 px. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "nn/checkpoint.h"
#include "testutil.h"

static char *tmp_root;
static char data_root[4096];
static char tiny[4096];

static void setup(void)
{
    if (tmp_root)
        return;
    tmp_root = ddad_test_mkdtemp("prog_train");
    snprintf(data_root, sizeof data_root, "%s/synthetic", tmp_root);
    snprintf(tiny, sizeof tiny, "%s/configs/tiny.yaml", ddad_test_source_dir());
    CU_ASSERT_FATAL(ddad_test_system("'%s/ddad-synth' --out '%s' --size 32 --train 6 --test-good 1 "
                                     "--test-defect 1 --categories woven > /dev/null",
                                     ddad_test_bin_dir(), data_root) == 0);
}

/* Runs ddad-train with the tiny config on the test data plus args; output to
 * <tmp>/out.txt. Returns the exit code. */
static int train(const char *args)
{
    setup();
    return ddad_test_system("'%s/ddad-train' '%s' --set data.root='%s' --set run.dir='%s/runs' %s "
                            "> '%s/out.txt' 2>&1",
                            ddad_test_bin_dir(), tiny, data_root, tmp_root, args, tmp_root);
}

static char *read_out(void)
{
    static char buf[1 << 16];
    char p[4200];
    snprintf(p, sizeof p, "%s/out.txt", tmp_root);
    return ddad_test_read_text(p, buf, sizeof buf);
}

static void test_help_version(void)
{
    setup();
    char out[4300];
    snprintf(out, sizeof out, "%s/out.txt", tmp_root);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-train' --help > '%s'", ddad_test_bin_dir(), out), 0);
    const char *o = read_out();
    CU_ASSERT_PTR_NOT_NULL(strstr(o, "--resume"));
    CU_ASSERT_PTR_NOT_NULL(strstr(o, "--dry-run"));
    CU_ASSERT_PTR_NOT_NULL(strstr(o, "8 interrupted"));
    CU_ASSERT_PTR_NOT_NULL(strstr(o, "6 numeric"));
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-train' --version > '%s'", ddad_test_bin_dir(), out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(read_out(), "ddad-train "));
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-train' > /dev/null 2>&1", ddad_test_bin_dir()), 2);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-train' x.yaml --bogus > /dev/null 2>&1", ddad_test_bin_dir()), 2);
}

static void test_dry_run(void)
{
    int rc = train("--set run.name=dry --dry-run");
    CU_ASSERT_EQUAL(rc, 0);
    const char *o = read_out();
    if (rc != 0)
        fprintf(stderr, "\n%s\n", o);
    CU_ASSERT_PTR_NOT_NULL(strstr(o, "parameters: UNet"));
    CU_ASSERT_PTR_NOT_NULL(strstr(o, "model.channels")); /* the config table */
    CU_ASSERT_PTR_NOT_NULL(strstr(o, "6 training images"));
    char p[4300];
    snprintf(p, sizeof p, "%s/runs/mvtec/woven/dry", tmp_root);
    CU_ASSERT_NOT_EQUAL(access(p, F_OK), 0); /* nothing written */
}

static void test_errors(void)
{
    setup();
    char bad[4300];
    snprintf(bad, sizeof bad, "%s/bad.yaml", tmp_root);
    FILE *f = fopen(bad, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("model:\n  chanels: 32\n", f);
    fclose(f);
    CU_ASSERT_EQUAL(ddad_test_system("'%s/ddad-train' '%s' --dry-run > /dev/null 2>&1", ddad_test_bin_dir(), bad), 3);
    CU_ASSERT_EQUAL(train("--set train.lr=-1 --dry-run"), 3);
    /* missing data folder */
    CU_ASSERT_EQUAL(train("--set data.root=/nonexistent/synthetic --dry-run"), 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(read_out(), "/nonexistent/synthetic"));
    CU_ASSERT_EQUAL(train("--set data.root=/nonexistent/synthetic"), 4);
    /* a run folder that cannot be created: below a file. Tests run as root,
     * for whom permission bits do not stop writes; a path under a regular
     * file fails for everyone (ENOTDIR). */
    char file[4300], args[8700];
    snprintf(file, sizeof file, "%s/plainfile", tmp_root);
    f = fopen(file, "w");
    fclose(f);
    snprintf(args, sizeof args, "--set run.dir='%s/x' --dry-run", file);
    CU_ASSERT_EQUAL(train(args), 5);
    CU_ASSERT_PTR_NOT_NULL(strstr(read_out(), "not a folder"));
    snprintf(args, sizeof args, "--set run.dir='%s/x'", file);
    CU_ASSERT_EQUAL(train(args), 5);
    if (geteuid() != 0) { /* permission bits work for other users */
        char ro[4300];
        snprintf(ro, sizeof ro, "%s/readonly", tmp_root);
        mkdir(ro, 0500);
        snprintf(args, sizeof args, "--set run.dir='%s' --dry-run", ro);
        CU_ASSERT_EQUAL(train(args), 5);
    }
    /* a weights file that is not one */
    char w[4300];
    snprintf(w, sizeof w, "%s/bad_weights.h5", tmp_root);
    f = fopen(w, "w");
    fputs("not hdf5\n", f);
    fclose(f);
    snprintf(args, sizeof args, "--set features.weights='%s' --dry-run", w);
    int rc = train(args);
    CU_ASSERT(rc == 4 || rc == 5);
    CU_ASSERT_PTR_NOT_NULL(strstr(read_out(), "bad_weights.h5"));
    snprintf(args, sizeof args, "--set model.init='%s/none.h5' --dry-run", tmp_root);
    rc = train(args);
    CU_ASSERT(rc == 4 || rc == 5);
    /* precision: fp16 needs CUDA (refused by the config); bf16 on the CPU
     * runs where libtorch's CPU autocast handles the UNet's layers, and is
     * refused before training where it does not (libtorch 1.13) */
    CU_ASSERT_EQUAL(train("--set train.precision=fp16 --dry-run"), 3);
    rc = train("--set train.precision=bf16 --dry-run");
    CU_ASSERT(rc == 0 || (rc == 3 && strstr(read_out(), "bf16") != NULL));
    /* a device that does not exist */
    CU_ASSERT_EQUAL(train("--device cuda:7 --dry-run"), 7);
}

static void test_refuse_existing(void)
{
    CU_ASSERT_EQUAL_FATAL(train("--set run.name=again --set train.iterations=2 --quiet"), 0);
    CU_ASSERT_EQUAL(train("--set run.name=again --set train.iterations=2 --quiet"), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(read_out(), "--force"));
    CU_ASSERT_EQUAL(train("--set run.name=again --set train.iterations=2 --dry-run"), 2);
    CU_ASSERT_EQUAL(train("--set run.name=again --set train.iterations=2 --force"), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(read_out(), "deleted"));
    /* resume of a finished run: nothing to do, success */
    CU_ASSERT_EQUAL(train("--set run.name=again --set train.iterations=2 --resume --quiet"), 0);
    char p[4300];
    snprintf(p, sizeof p, "%s/runs/mvtec/woven/again/config.yaml", tmp_root);
    CU_ASSERT_EQUAL(access(p, R_OK), 0);
    snprintf(p, sizeof p, "%s/runs/mvtec/woven/again/train.log", tmp_root);
    CU_ASSERT_EQUAL(access(p, R_OK), 0);
}

/* Starts ddad-train in the background (stdout/stderr to out.txt). */
static pid_t spawn(const char *name, int iterations, bool resume)
{
    setup();
    char it[64], rn[300], dr[4200], rd[4300], out[4300];
    snprintf(it, sizeof it, "train.iterations=%d", iterations);
    snprintf(rn, sizeof rn, "run.name=%s", name);
    snprintf(dr, sizeof dr, "data.root=%s", data_root);
    snprintf(rd, sizeof rd, "run.dir=%s/runs", tmp_root);
    snprintf(out, sizeof out, "%s/out_%s.txt", tmp_root, name);
    char bin[4200];
    snprintf(bin, sizeof bin, "%s/ddad-train", ddad_test_bin_dir());
    pid_t pid = fork();
    if (pid == 0) {
        FILE *o = freopen(out, "a", stdout);
        (void)o;
        dup2(STDOUT_FILENO, STDERR_FILENO);
        execl(bin, bin, tiny, "--set", dr, "--set", rd, "--set", rn, "--set", it, "--set",
              "train.checkpoint_every=1", "--set", "train.keep_checkpoints=2", "--set", "train.log_every=1",
              resume ? "--resume" : "--quiet", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid, int *sig)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    *sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int count_log_steps(const char *name)
{
    char p[4300], line[512];
    snprintf(p, sizeof p, "%s/runs/mvtec/woven/%s/train.log", tmp_root, name);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += line[0] != '#';
    fclose(f);
    return n;
}

static void test_sigint(void)
{
    pid_t pid = spawn("sigint", 100000, false);
    for (int i = 0; i < 600 && count_log_steps("sigint") < 2; i++)
        usleep(50000);
    CU_ASSERT(count_log_steps("sigint") >= 2);
    kill(pid, SIGINT);
    int sig = 0, rc = wait_exit(pid, &sig);
    CU_ASSERT_EQUAL(rc, 8);
    char dir[4300], latest[4400];
    snprintf(dir, sizeof dir, "%s/runs/mvtec/woven/sigint", tmp_root);
    CU_ASSERT_EQUAL(ddad_checkpoint_latest(dir, latest, sizeof latest), DDAD_OK);
    /* the checkpoint is of the last step the log shows */
    char want[64];
    snprintf(want, sizeof want, "step_%07d.h5", count_log_steps("sigint"));
    CU_ASSERT_PTR_NOT_NULL(strstr(latest, want));
    char p[4300];
    snprintf(p, sizeof p, "%s/out_sigint.txt", tmp_root);
    char buf[8192];
    ddad_test_read_text(p, buf, sizeof buf);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "interrupted"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "--resume"));
}

static ddad_config_t tiny_cfg;

/* Every checkpoint file present loads completely. Returns how many. */
static int check_all_loadable(const char *dir, ddad_model_t *m, bool *all_ok)
{
    char ck[4300];
    snprintf(ck, sizeof ck, "%s/checkpoints", dir);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "ls '%s' 2>/dev/null", ck);
    FILE *ls = popen(cmd, "r");
    int n = 0;
    char name[512];
    while (ls && fgets(name, sizeof name, ls)) {
        name[strcspn(name, "\n")] = '\0';
        if (strstr(name, ".partial"))
            continue; /* an interrupted write: ignored by design */
        char p[4900];
        snprintf(p, sizeof p, "%s/%s", ck, name);
        ddad_checkpoint_state_t s;
        ddad_status_t st = ddad_checkpoint_load(p, m, NULL, NULL, &s);
        if (st != DDAD_OK) {
            /* pruned between the listing and the load is fine */
            if (access(p, F_OK) == 0) {
                fprintf(stderr, "\n  %s does not load: %s\n", p, ddad_last_error());
                *all_ok = false;
            }
        } else {
            n++;
        }
    }
    if (ls)
        pclose(ls);
    return n;
}

static void load_final(const char *name, int step, ddad_model_t *m)
{
    char dir[4300], p[4400];
    snprintf(dir, sizeof dir, "%s/runs/mvtec/woven/%s", tmp_root, name);
    ddad_checkpoint_path(p, sizeof p, dir, step);
    ddad_status_t st = ddad_checkpoint_load(p, m, NULL, NULL, NULL);
    if (st != DDAD_OK)
        fprintf(stderr, "\n  %s\n", ddad_last_error());
    CU_ASSERT_FATAL(st == DDAD_OK);
}

static void test_sigkill_resume(void)
{
    const int iters = 16;
    setup();
    char cfgset[4200];
    snprintf(cfgset, sizeof cfgset, "data.root=%s", data_root);
    const char *sets[] = {cfgset};
    CU_ASSERT_FATAL(ddad_config_load(&tiny_cfg, tiny, sets, 1) == DDAD_OK);
    ddad_model_t probe, ref;
    CU_ASSERT_FATAL(ddad_model_create(&probe, &tiny_cfg, DDAD_MODEL_WITH_EMA | DDAD_MODEL_NO_INIT) == DDAD_OK);
    CU_ASSERT_FATAL(ddad_model_create(&ref, &tiny_cfg, DDAD_MODEL_WITH_EMA | DDAD_MODEL_NO_INIT) == DDAD_OK);

    /* the uninterrupted reference (also times a run to spread the kills over it) */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int sig = 0;
    CU_ASSERT_EQUAL_FATAL(wait_exit(spawn("straight", iters, false), &sig), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double full_ms = 1e3 * (double)(t1.tv_sec - t0.tv_sec) + 1e-6 * (double)(t1.tv_nsec - t0.tv_nsec);

    char dir[4300];
    snprintf(dir, sizeof dir, "%s/runs/mvtec/woven/killed", tmp_root);
    srand(20240607);
    int kills = 0, rc = -1;
    bool all_ok = true;
    /* Kill points follow the run's progress, so that timing noise on a busy
     * machine cannot let the run finish early: the first kill lands during
     * start-up, each later one a random part of a step (every step writes a
     * checkpoint) after the log has grown by 1-3 steps. */
    double step_ms = 0.5 * full_ms / iters;
    for (int attempt = 0; attempt < 3 * iters && rc != 0; attempt++) {
        int have = count_log_steps("killed");
        int target = have + 1 + rand() % 3;
        pid_t pid = spawn("killed", iters, true);
        if (attempt > 0 && target >= iters) { /* let the last stretch complete */
            rc = wait_exit(pid, &sig);
            check_all_loadable(dir, &probe, &all_ok);
            break;
        }
        int status = 0;
        pid_t done = 0;
        if (attempt == 0) {
            usleep((useconds_t)(1000.0 * 0.3 * full_ms * rand() / RAND_MAX));
        } else {
            while (count_log_steps("killed") < target && (done = waitpid(pid, &status, WNOHANG)) == 0)
                usleep(5000);
            if (!done)
                usleep((useconds_t)(1000.0 * step_ms * rand() / RAND_MAX));
        }
        if (done == pid) { /* ended before the kill */
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        } else {
            if (kill(pid, SIGKILL) == 0)
                kills++;
            rc = wait_exit(pid, &sig);
        }
        check_all_loadable(dir, &probe, &all_ok);
    }
    if (rc != 0) /* finish without interruption */
        rc = wait_exit(spawn("killed", iters, true), &sig);
    fprintf(stderr, "\n  %d SIGKILLs (full run %.0f ms)\n", kills, full_ms);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(all_ok);
    CU_ASSERT(kills >= 3);
    /* every step appears exactly once in the log of the killed run */
    CU_ASSERT_EQUAL(count_log_steps("killed"), iters);

    load_final("straight", iters, &ref);
    load_final("killed", iters, &probe);
    size_t bad = 0;
    for (int k = 0; k < 2; k++) {
        const ddad_params_t *a = k ? &ref.ema_params : &ref.params, *b = k ? &probe.ema_params : &probe.params;
        for (size_t i = 0; i < a->n; i++) {
            size_t n = (size_t)ddad_tensor_numel(a->items[i].tensor);
            float *x = malloc(n * 4), *y = malloc(n * 4);
            ddad_to_buffer(a->items[i].tensor, x, n * 4, DDAD_DTYPE_F32);
            ddad_to_buffer(b->items[i].tensor, y, n * 4, DDAD_DTYPE_F32);
            if (memcmp(x, y, n * 4) != 0) {
                if (!bad)
                    fprintf(stderr, "\n  %s%s differs after kill/resume\n", k ? "EMA " : "", a->items[i].name);
                bad++;
            }
            free(x);
            free(y);
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    ddad_model_free(&probe);
    ddad_model_free(&ref);
}

static void cleanup(void)
{
    if (tmp_root)
        ddad_test_rmtree(tmp_root);
    free(tmp_root);
    tmp_root = NULL;
}

int main(void)
{
    static const ddad_test_t tests[] = {{"help, version, usage errors", test_help_version},
                                        {"dry run", test_dry_run},
                                        {"config, data, folder, weights, device errors", test_errors},
                                        {"existing run refused without --force", test_refuse_existing},
                                        {"SIGINT: exit 8 with a checkpoint", test_sigint},
                                        {"SIGKILL at random moments, then resume", test_sigkill_resume},
                                        {"cleanup", cleanup},
                                        {0}};
    return ddad_test_main("prog_train", tests);
}
