/* tests/test_prog_dist.c - data-parallel training on c10d/Gloo over loopback.
 *
 * - Two ranks (this program re-executed as workers that train in-process and
 *   dump their weights) end with bit-identical weights; their first-step
 *   gradient equals one process's on the same global batch (read from the
 *   AdamW first moment, 0.1 g, of the step-1 checkpoints) and their weights
 *   after several steps match one process's within float tolerance.
 * - A run resumes on another number of processes (2 -> 1 and 1 -> 2).
 * - ddad-train: a rank killed with SIGKILL makes the other exit with code 9
 *   and a message instead of hanging; setup failures and differing configs
 *   stop every rank; bad environments are usage errors.
 * - scripts/ddad-launch: sets the torchrun variables, runs ddad-train, and
 *   passes the first failure's exit code on after stopping the others.
 * - torchrun's own engine (python3-torch) launches ddad-train as well. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "nn/model.h"
#include "nn/trainer.h"
#include "testutil.h"
#include "torch/dist.h"
#include "torch/tensor.h"

enum { ITERS = 6 };
static const double LR = 1e-4; /* tiny.yaml's (default.yaml's) train.lr */

static char *tmp_root;
static char data_root[4096];
static char tiny[4096];
static char self_exe[4096];

static void setup(void)
{
    if (tmp_root)
        return;
    tmp_root = ddad_test_mkdtemp("prog_dist");
    snprintf(data_root, sizeof data_root, "%s/synthetic", tmp_root);
    snprintf(tiny, sizeof tiny, "%s/configs/tiny.yaml", ddad_test_source_dir());
    CU_ASSERT_FATAL(ddad_test_system("'%s/ddad-synth' --out '%s' --size 32 --train 8 --test-good 1 "
                                     "--test-defect 1 --categories woven > /dev/null",
                                     ddad_test_bin_dir(), data_root) == 0);
}

/* ---- the worker: one rank training in-process --------------------------------- */

/* argv: --worker RANK WORLD STORE_FILE RUN_NAME STOP_AT RESUME OUT TMP DATA */
static int worker_main(char **argv)
{
    int rank = atoi(argv[2]), world = atoi(argv[3]);
    const char *store = argv[4], *name = argv[5], *out = argv[8], *tmp = argv[9], *data = argv[10];
    int64_t stop_at = atoll(argv[6]);
    bool resume = atoi(argv[7]) != 0;
    char cfg_path[4096], s_root[4200], s_dir[4200], s_name[300], s_iters[64];
    snprintf(cfg_path, sizeof cfg_path, "%s/configs/tiny.yaml", ddad_test_source_dir());
    snprintf(s_root, sizeof s_root, "data.root=%s", data);
    snprintf(s_dir, sizeof s_dir, "run.dir=%s/runs", tmp);
    snprintf(s_name, sizeof s_name, "run.name=%s", name);
    snprintf(s_iters, sizeof s_iters, "train.iterations=%d", ITERS);
    const char *sets[] = {s_root, s_dir, s_name, s_iters, "threads=1", "train.batch_size=4",
                          "train.checkpoint_every=1", "train.keep_checkpoints=100"};
    ddad_log_set_level(DDAD_LOG_ERROR); /* the random-weights warnings, once per worker */
    ddad_config_t cfg;
    ddad_status_t st = ddad_config_load(&cfg, cfg_path, sets, sizeof sets / sizeof *sets);
    if (st == DDAD_OK)
        st = ddad_runtime_setup(&cfg);
    ddad_dist_t *d = NULL;
    if (st == DDAD_OK && world > 1) {
        ddad_dist_opts_t o = ddad_dist_opts_default();
        o.rank = rank;
        o.world_size = world;
        o.local_world_size = world; /* all on this machine: Gloo over loopback */
        snprintf(o.store_file, sizeof o.store_file, "%s", store);
        o.timeout_s = 120;
        o.bucket_mb = 0.05; /* several buckets even for the tiny model */
        st = ddad_dist_init(&d, &o);
    }
    ddad_trainer_t *tr = NULL;
    if (st == DDAD_OK) {
        ddad_trainer_opts_t to = ddad_trainer_opts_default();
        to.dist = d;
        to.resume = resume;
        to.stop_at = stop_at;
        st = ddad_trainer_create(&tr, &cfg, &to);
    }
    if (st == DDAD_OK)
        st = ddad_trainer_run(tr);
    FILE *f = NULL;
    if (st == DDAD_OK && !(f = fopen(out, "wb")))
        st = ddad_fail(DDAD_STATUS_IO, "cannot write %s", out);
    if (st == DDAD_OK) {
        const ddad_params_t *P = &ddad_trainer_model(tr)->params;
        for (size_t i = 0; i < P->n && st == DDAD_OK; i++) {
            size_t n = (size_t)ddad_tensor_numel(P->items[i].tensor);
            float *buf = malloc(n * sizeof *buf);
            st = buf ? ddad_to_buffer(P->items[i].tensor, buf, n * sizeof *buf, DDAD_DTYPE_F32) : DDAD_STATUS_NOMEM;
            if (st == DDAD_OK && fwrite(buf, sizeof *buf, n, f) != n)
                st = ddad_fail(DDAD_STATUS_IO, "short write to %s", out);
            free(buf);
        }
    }
    if (f && fclose(f) != 0 && st == DDAD_OK)
        st = ddad_fail(DDAD_STATUS_IO, "closing %s", out);
    if (st != DDAD_OK)
        fprintf(stderr, "worker rank %d of %d: %s\n", rank, world, ddad_last_error());
    ddad_trainer_free(tr);
    ddad_dist_free(d);
    return ddad_status_exit_code(st);
}

/* Starts `world` workers (world 1: a plain single process) and waits; returns
 * true when all exited 0. Weights go to <tmp>/<name>.rank<r>.bin. */
static bool run_workers(const char *name, int world, int64_t stop_at, bool resume)
{
    char store[4300];
    static int n_stores;
    snprintf(store, sizeof store, "%s/store.%d", tmp_root, n_stores++);
    pid_t pids[4];
    for (int r = 0; r < world; r++) {
        char rs[16], ws[16], ss[32], rz[8], out[4400];
        snprintf(rs, sizeof rs, "%d", r);
        snprintf(ws, sizeof ws, "%d", world);
        snprintf(ss, sizeof ss, "%lld", (long long)stop_at);
        snprintf(rz, sizeof rz, "%d", resume ? 1 : 0);
        snprintf(out, sizeof out, "%s/%s.rank%d.bin", tmp_root, name, r);
        pids[r] = fork();
        if (pids[r] == 0) {
            execl(self_exe, self_exe, "--worker", rs, ws, store, name, ss, rz, out, tmp_root, data_root, (char *)NULL);
            _exit(127);
        }
    }
    bool ok = true;
    for (int r = 0; r < world; r++) {
        int status = 0;
        waitpid(pids[r], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "\n  %s: worker %d of %d ended with status %d\n", name, r, world, status);
            ok = false;
        }
    }
    return ok;
}

static float *read_floats(const char *name, int rank, size_t *n)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/%s.rank%d.bin", tmp_root, name, rank);
    FILE *f = fopen(p, "rb");
    *n = 0;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *v = malloc((size_t)bytes);
    if (v && fread(v, 1, (size_t)bytes, f) == (size_t)bytes)
        *n = (size_t)bytes / sizeof *v;
    fclose(f);
    return v;
}

/* Weights of a data-parallel run against one process's: gradients agree to
 * float rounding, but AdamW divides by sqrt(v), so a weight whose gradient
 * is ~0 (rounding noise) can move by up to ~lr per step either way. Bulk:
 * 99.9 % of the weights within 1e-5 of max|w|; every weight within the
 * AdamW bound 4 lr steps. */
static void assert_weights_match(const char *what, const float *a, const float *ref, size_t n, int steps)
{
    double scale = ddad_test_max_abs(ref, n), worst = 0;
    size_t far = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        if (d > worst)
            worst = d;
        if (d > 1e-5 * scale)
            far++;
    }
    double frac = (double)far / (double)n;
    printf("\n  %s: %.4f %% of %zu weights differ by more than 1e-5 max|w|; worst %.3g (bound %.3g)", what,
           100 * frac, n, worst, 4 * LR * steps);
    CU_ASSERT(frac <= 0.001);
    CU_ASSERT(worst <= 4 * LR * steps);
}

/* ---- library level ---------------------------------------------------------------- */

static void test_two_ranks_match_one_process(void)
{
    setup();
    CU_ASSERT_FATAL(run_workers("dp", 2, ITERS, false));
    CU_ASSERT_FATAL(run_workers("single", 1, ITERS, false));
    size_t n0, n1, ns;
    float *w0 = read_floats("dp", 0, &n0), *w1 = read_floats("dp", 1, &n1), *ws = read_floats("single", 0, &ns);
    CU_ASSERT_FATAL(w0 && w1 && ws && n0 > 100000 && n0 == n1 && n0 == ns);
    CU_ASSERT(memcmp(w0, w1, n0 * sizeof *w0) == 0); /* replicas are bit-identical */
    size_t moved = 0;
    for (size_t i = 0; i < n0; i++)
        moved += w0[i] != ws[i];
    CU_ASSERT(moved > 0); /* a different summation order: not trivially the same run */
    assert_weights_match("2 ranks vs 1 process", w0, ws, n0, ITERS);
    free(w0);
    free(w1);
    free(ws);

    /* the first step's gradient (AdamW's first moment after step 1 is 0.1 g)
     * and the logged whole-batch losses, read by an independent reader */
    char runs[4300];
    snprintf(runs, sizeof runs, "%s/runs/mvtec/woven", tmp_root);
    int rc = ddad_test_system(
        "'%s' - '%s' <<'EOF'\n"
        "import sys, h5py, numpy as np\n"
        "runs = sys.argv[1]\n"
        "a = h5py.File(runs + '/dp/checkpoints/step_0000001.h5', 'r')\n"
        "b = h5py.File(runs + '/single/checkpoints/step_0000001.h5', 'r')\n"
        "ga = []; gb = []\n"
        "a['optim/exp_avg'].visititems(lambda k, o: ga.append(o[()].ravel()) if isinstance(o, h5py.Dataset) else None)\n"
        "b['optim/exp_avg'].visititems(lambda k, o: gb.append(o[()].ravel()) if isinstance(o, h5py.Dataset) else None)\n"
        "ga = np.concatenate(ga) / 0.1; gb = np.concatenate(gb) / 0.1\n"
        "err = np.abs(ga - gb).max(); scale = np.abs(gb).max()\n"
        "la = np.loadtxt(runs + '/dp/train.log')[:, 1]; lb = np.loadtxt(runs + '/single/train.log')[:, 1]\n"
        "lerr = np.abs(la - lb).max() / np.abs(lb).max()\n"
        "print('gradient max|diff| %%.3g of max|g| %%.3g; loss rel diff %%.3g over %%d steps' %% (err, scale, lerr, len(la)))\n"
        "sys.exit(0 if ga.size > 100000 and scale > 0 and err <= 1e-5 * scale and len(la) == %d and lerr <= 1e-5 else 1)\n"
        "EOF",
        ddad_test_python(), runs, ITERS);
    CU_ASSERT_EQUAL(rc, 0);
}

static void test_resume_on_other_world_size(void)
{
    setup();
    /* 2 processes for 3 steps, then 1 process to the end; and the reverse */
    CU_ASSERT_FATAL(run_workers("two_then_one", 2, ITERS / 2, false));
    CU_ASSERT_FATAL(run_workers("two_then_one", 1, ITERS, true));
    CU_ASSERT_FATAL(run_workers("one_then_two", 1, ITERS / 2, false));
    CU_ASSERT_FATAL(run_workers("one_then_two", 2, ITERS, true));
    char ref[4400];
    snprintf(ref, sizeof ref, "%s/single.rank0.bin", tmp_root);
    if (access(ref, F_OK) != 0) /* the first test did not run */
        CU_ASSERT_FATAL(run_workers("single", 1, ITERS, false));
    size_t na, nb, nc, ns;
    float *a = read_floats("two_then_one", 0, &na), *b = read_floats("one_then_two", 0, &nb),
          *c = read_floats("one_then_two", 1, &nc), *s = read_floats("single", 0, &ns);
    CU_ASSERT_FATAL(a && b && c && s && na == ns && nb == ns && nc == ns);
    assert_weights_match("2 then 1 process vs 1 process", a, s, ns, ITERS);
    assert_weights_match("1 then 2 processes vs 1 process", b, s, ns, ITERS);
    CU_ASSERT(memcmp(b, c, nb * sizeof *b) == 0);
    free(a);
    free(b);
    free(c);
    free(s);
}

/* ---- ddad-train as a program ----------------------------------------------------------- */

/* Ports below Linux's ephemeral range (32768-60999 by default), which the
 * Gloo connections of earlier jobs use: a port taken from there can still
 * be held by one of them (the store then fails to bind, "Address already in
 * use"). The tests add at most 21 to the base. */
static int port_base(void) { return 20000 + (int)(getpid() % 12000); }

/* Starts ddad-train as RANK of WORLD on 127.0.0.1:port with the tiny config,
 * run name `name`, output to <tmp>/<name>.<rank>.txt, plus extra args. */
static pid_t start_rank(const char *name, int rank, int world, int port, const char *extra)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "exec env WORLD_SIZE=%d RANK=%d LOCAL_RANK=%d LOCAL_WORLD_SIZE=%d MASTER_ADDR=127.0.0.1 MASTER_PORT=%d "
             "'%s/ddad-train' '%s' --set data.root='%s' --set run.dir='%s/runs' --set run.name=%s "
             "--set train.batch_size=4 --set dist.timeout_s=60 %s > '%s/%s.%d.txt' 2>&1",
             world, rank, rank, world, port, ddad_test_bin_dir(), tiny, data_root, tmp_root, name, extra, tmp_root,
             name, rank);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Exit code of pid, or -1 if it did not end within `seconds` (then killed). */
static int wait_code(pid_t pid, int seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static const char *read_text(const char *name, int rank)
{
    static char buf[1 << 16];
    char p[4400];
    snprintf(p, sizeof p, "%s/%s.%d.txt", tmp_root, name, rank);
    return ddad_test_read_text(p, buf, sizeof buf);
}

static int log_lines(const char *name)
{
    char p[4400], line[512];
    snprintf(p, sizeof p, "%s/runs/mvtec/woven/%s/train.log", tmp_root, name);
    FILE *f = fopen(p, "r");
    int n = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        n += line[0] != '#';
    fclose(f);
    return n;
}

static void test_killed_rank_stops_the_other(void)
{
    setup();
    int port = port_base() + 1;
    pid_t r0 = start_rank("killed", 0, 2, port, "--set train.iterations=100000 --set train.checkpoint_every=100000");
    pid_t r1 = start_rank("killed", 1, 2, port, "--set train.iterations=100000 --set train.checkpoint_every=100000");
    int waited = 0;
    while (log_lines("killed") < 3 && waited++ < 600)
        usleep(100000);
    CU_ASSERT_FATAL(log_lines("killed") >= 3);
    kill(r1, SIGKILL);
    waitpid(r1, NULL, 0);
    time_t t0 = time(NULL);
    int rc = wait_code(r0, 90);
    const char *out = read_text("killed", 0);
    if (rc != 9)
        fprintf(stderr, "\n  rank 0 exit %d after %ld s:\n%s\n", rc, (long)(time(NULL) - t0), out);
    CU_ASSERT_EQUAL(rc, 9);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "ddad-train[rank 0]: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "failed on rank 0 of 2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "exited, was killed or did not answer"));
}

static void test_setup_failures_stop_every_rank(void)
{
    setup();
    int port = port_base() + 2;
    /* rank 1 cannot read its data: it says why (4), rank 0 names it (9) */
    pid_t r0 = start_rank("setup", 0, 2, port, "--set train.iterations=4");
    pid_t r1 = start_rank("setup", 1, 2, port, "--set train.iterations=4 --set data.root=/nonexistent/data");
    CU_ASSERT_EQUAL(wait_code(r1, 120), 4);
    CU_ASSERT_EQUAL(wait_code(r0, 120), 9);
    CU_ASSERT_PTR_NOT_NULL(strstr(read_text("setup", 1), "ddad-train[rank 1]: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(read_text("setup", 1), "/nonexistent/data"));
    CU_ASSERT_PTR_NOT_NULL(strstr(read_text("setup", 0), "rank 1 of 2 failed while setting up"));

    /* different configs: both refuse */
    port++;
    r0 = start_rank("mismatch", 0, 2, port, "--set train.iterations=4");
    r1 = start_rank("mismatch", 1, 2, port, "--set train.iterations=4 --set train.lr=2e-4");
    CU_ASSERT_EQUAL(wait_code(r0, 120), 3);
    CU_ASSERT_EQUAL(wait_code(r1, 120), 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(read_text("mismatch", 0), "different configs"));

    /* a batch that does not split over the processes */
    port++;
    r0 = start_rank("split", 0, 2, port, "--set train.iterations=4 --set train.batch_size=3");
    r1 = start_rank("split", 1, 2, port, "--set train.iterations=4 --set train.batch_size=3");
    CU_ASSERT_EQUAL(wait_code(r0, 120), 3);
    CU_ASSERT_EQUAL(wait_code(r1, 120), 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(read_text("split", 0), "multiple of 2"));

    /* environments that cannot work are usage errors, before anything starts */
    const char *bin = ddad_test_bin_dir();
    CU_ASSERT_EQUAL(ddad_test_system("WORLD_SIZE=2 '%s/ddad-train' '%s' --dry-run > /dev/null 2>&1", bin, tiny), 2);
    CU_ASSERT_EQUAL(ddad_test_system("WORLD_SIZE=2 RANK=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=1 '%s/ddad-train' '%s' "
                                     "--dry-run > /dev/null 2>&1", bin, tiny), 2);
    CU_ASSERT_EQUAL(ddad_test_system("WORLD_SIZE=2 RANK=1 '%s/ddad-train' '%s' --dry-run > /dev/null 2>&1", bin, tiny),
                    2);
    CU_ASSERT_EQUAL(ddad_test_system("WORLD_SIZE=x '%s/ddad-train' '%s' --dry-run > /dev/null 2>&1", bin, tiny), 2);
    /* a rank whose peer never comes: the rendezvous gives up after dist.timeout_s */
    CU_ASSERT_EQUAL(ddad_test_system("WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=%d '%s/ddad-train' '%s' "
                                     "--set data.root='%s' --set dist.timeout_s=3 > '%s/alone.txt' 2>&1",
                                     port_base() + 9, bin, tiny, data_root, tmp_root),
                    9);
}

static void test_launcher(void)
{
    setup();
    char launch[4200];
    snprintf(launch, sizeof launch, "%s/scripts/ddad-launch", ddad_test_source_dir());
    /* a whole job: 2 processes, 4 steps, rank 0's checkpoint */
    int rc = ddad_test_system("'%s' --nproc 2 '%s/ddad-train' '%s' --set data.root='%s' --set run.dir='%s/runs' "
                              "--set run.name=launched --set train.batch_size=4 --set train.iterations=4 "
                              "> '%s/launched.0.txt' 2>&1",
                              launch, ddad_test_bin_dir(), tiny, data_root, tmp_root, tmp_root);
    const char *out = read_text("launched", 0);
    if (rc != 0)
        fprintf(stderr, "\n%s\n", out);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "data parallel: all 2 processes joined (backend gloo)"));
    char ck[4400];
    snprintf(ck, sizeof ck, "%s/runs/mvtec/woven/launched/checkpoints/step_0000004.h5", tmp_root);
    CU_ASSERT_EQUAL(access(ck, F_OK), 0);
    CU_ASSERT_EQUAL(log_lines("launched"), 4);

    /* the variables, the rank prefix, and the first failure's code: rank 1
     * fails with 3 at once, rank 0 would sleep for a minute; with bash's
     * wait -n -p, and with the /proc polling older bash versions use */
    for (int poll = 0; poll < 2; poll++) {
        time_t t0 = time(NULL);
        rc = ddad_test_system("%s '%s' --nproc 2 --grace 1 sh -c 'echo \"vars $WORLD_SIZE $RANK $LOCAL_RANK "
                              "$LOCAL_WORLD_SIZE $MASTER_ADDR\"; if [ \"$RANK\" = 1 ]; then exit 3; fi; sleep 60' "
                              "> '%s/launchfail.0.txt' 2>&1",
                              poll ? "DDAD_LAUNCH_POLL=1" : "", launch, tmp_root);
        out = read_text("launchfail", 0);
        CU_ASSERT_EQUAL(rc, 3);
        CU_ASSERT(time(NULL) - t0 < 30);
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "vars 2 0 0 2 127.0.0.1"));
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "[rank 1] vars 2 1 1 2 127.0.0.1"));
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "failed with exit code 3"));
        rc = ddad_test_system("%s '%s' --nproc 2 sh -c 'exit 0' > /dev/null 2>&1", poll ? "DDAD_LAUNCH_POLL=1" : "",
                              launch);
        CU_ASSERT_EQUAL(rc, 0);
    }
    CU_ASSERT_EQUAL(ddad_test_system("timeout 20 '%s' --nproc > /dev/null 2>&1", launch), 2); /* no value: no hang */

    /* Ctrl-C (SIGINT to the launcher): every rank stops after the same step,
     * rank 0 writes its checkpoint, all exit 8 */
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "exec '%s' --nproc 2 '%s/ddad-train' '%s' --set data.root='%s' --set run.dir='%s/runs' "
             "--set run.name=stopped --set train.batch_size=4 --set train.iterations=100000 "
             "--set train.checkpoint_every=100000 > '%s/stopped.0.txt' 2>&1",
             launch, ddad_test_bin_dir(), tiny, data_root, tmp_root, tmp_root);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int waited = 0;
    while (log_lines("stopped") < 3 && waited++ < 600)
        usleep(100000);
    CU_ASSERT_FATAL(log_lines("stopped") >= 3);
    kill(pid, SIGINT);
    rc = wait_code(pid, 120);
    if (rc != 8)
        fprintf(stderr, "\n  launcher exit %d:\n%s\n", rc, read_text("stopped", 0));
    CU_ASSERT_EQUAL(rc, 8);
    int steps = log_lines("stopped");
    snprintf(ck, sizeof ck, "%s/runs/mvtec/woven/stopped/checkpoints/step_%07d.h5", tmp_root, steps);
    CU_ASSERT_EQUAL(access(ck, F_OK), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(read_text("stopped", 0), "interrupted after step"));
    CU_ASSERT_EQUAL(ddad_test_system("'%s' --nproc 0 true > /dev/null 2>&1", launch), 2);
    CU_ASSERT_EQUAL(ddad_test_system("'%s' --nnodes 2 true > /dev/null 2>&1", launch), 2);
    CU_ASSERT_EQUAL(ddad_test_system("'%s' > /dev/null 2>&1", launch), 2);
}

/* torchrun's engine (torch.distributed.launcher, python3-torch) as the
 * launcher, with its two rendezvous kinds: c10d (rank 0 hosts the store) and
 * static (the agent hosts it, TORCHELASTIC_USE_AGENT_STORE=True). */
static void test_torchrun_launcher(void)
{
    setup();
    const char *kinds[2] = {"c10d", "static"};
    for (int k = 0; k < 2; k++) {
        int rc = ddad_test_system(
            "cd '%s' && OMP_NUM_THREADS=1 '%s' - '%s/ddad-train' '%s' --set data.root='%s' --set run.dir='%s/runs' "
            "--set run.name=torchrun_%s --set train.batch_size=4 --set train.iterations=3 --set dist.timeout_s=60 "
            "-q > '%s/torchrun_%s.0.txt' 2>&1 <<'EOF'\n"
            "import sys\n"
            "from torch.distributed.launcher.api import LaunchConfig, elastic_launch\n"
            "from torch.distributed.elastic.multiprocessing import Std\n"
            "cfg = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=2, run_id='ddad', rdzv_backend='%s',\n"
            "                   rdzv_endpoint='127.0.0.1:%d', rdzv_configs={'rank': 0}, max_restarts=0,\n"
            "                   monitor_interval=1, start_method='spawn', redirects=Std.NONE, tee=Std.NONE)\n"
            "elastic_launch(cfg, entrypoint=sys.argv[1])(*sys.argv[2:])\n"
            "EOF",
            tmp_root, ddad_test_python(), ddad_test_bin_dir(), tiny, data_root, tmp_root, kinds[k], tmp_root, kinds[k],
            kinds[k], port_base() + 20 + k);
        char name[64], ck[4400];
        snprintf(name, sizeof name, "torchrun_%s", kinds[k]);
        if (rc != 0)
            fprintf(stderr, "\n  %s: exit %d\n%s\n", name, rc, read_text(name, 0));
        CU_ASSERT_EQUAL(rc, 0);
        snprintf(ck, sizeof ck, "%s/runs/mvtec/woven/%s/checkpoints/step_0000003.h5", tmp_root, name);
        CU_ASSERT_EQUAL(access(ck, F_OK), 0);
    }
}

int main(int argc, char **argv)
{
    ssize_t len = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (len > 0)
        self_exe[len] = '\0';
    if (argc == 11 && strcmp(argv[1], "--worker") == 0)
        return worker_main(argv);
    if (!ddad_dist_backend_available(DDAD_DIST_GLOO)) {
        fprintf(stderr, "test_prog_dist: this build has no Gloo backend (install libgloo-dev and re-run cmake)\n");
        return 1;
    }
    static const ddad_test_t tests[] = {
        {"two Gloo ranks: identical weights, equal to one process", test_two_ranks_match_one_process},
        {"resume on another number of processes", test_resume_on_other_world_size},
        {"a killed rank makes the other exit with code 9", test_killed_rank_stops_the_other},
        {"setup failures and config mismatches stop every rank", test_setup_failures_stop_every_rank},
        {"ddad-launch runs a job and passes failures on", test_launcher},
        {"torchrun's launcher (both rendezvous kinds) runs a job", test_torchrun_launcher},
        {0}};
    int rc = ddad_test_main("data-parallel training", tests);
    ddad_test_rmtree(tmp_root);
    free(tmp_root);
    return rc;
}
