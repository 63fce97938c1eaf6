/* tests/test_fanout.c - the category fan-out (docs/fan-out.md).
 *
 * experiments/fanout.mk trains two tiny categories of a synthetic data set
 * (configs/tiny.yaml, a few iterations) with make -j2 and prints the
 * ddad-eval --all-categories table: both runs hold checkpoints, both jobs ran
 * at once with one thread each, the table names both; a rerun skips the
 * finished categories and a forgotten one resumes; a category whose data is
 * missing makes make fail with a summary naming it while the other category's
 * row is still printed. With a stand-in trainer: GPUS hands each concurrent job
 * a GPU of its own. The SLURM scripts, with a stand-in sbatch: the array's size,
 * the task id -> category mapping, the evaluation's afterok dependency on the
 * array's id, the evaluation job run for real on the two categories, and the
 * time-limit signal passed on to the trainer with the task requeued. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

static char *tmp;
static char make_cmd[8192];

/* Contents of <tmp>/<name> (malloc'ed, "" when missing). */
static char *slurp(const char *name)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    FILE *f = fopen(p, "rb");
    char *b = calloc(1, 1 << 20);
    if (!f || !b)
        return b;
    size_t n = fread(b, 1, (1 << 20) - 1, f);
    b[n] = 0;
    fclose(f);
    return b;
}

static int contains(const char *text, const char *what)
{
    int ok = strstr(text, what) != NULL;
    if (!ok)
        fprintf(stderr, "\n  expected '%s' in:\n%s\n", what, text);
    return ok;
}

static int exists(const char *name)
{
    char p[4200];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    return stat(p, &sb) == 0;
}

static void write_file(const char *name, const char *text)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    FILE *f = fopen(p, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

/* A tiny per-category config: configs/tiny.yaml on <tmp>/<root>, run folders in <tmp>/runs. */
static void write_config(const char *category, const char *root)
{
    char name[256], text[8192];
    snprintf(name, sizeof name, "configs/%s.yaml", category);
    snprintf(text, sizeof text,
             "base: %s/configs/tiny.yaml\n"
             "data:\n  root: %s/%s\n  category: %s\n"
             "run:\n  dir: %s/runs\n",
             ddad_test_source_dir(), tmp, root, category, tmp);
    write_file(name, text);
}

/* make -f experiments/fanout.mk in <tmp> with the given CATEGORIES and target;
 * stdout in <tmp>/<tag>.out, stderr in <tmp>/<tag>.err. */
static int fanout(const char *categories, const char *target, const char *tag)
{
    return ddad_test_system("%s CATEGORIES='%s' %s > '%s/%s.out' 2> '%s/%s.err'", make_cmd, categories, target, tmp,
                            tag, tmp, tag);
}

static void setup(void)
{
    tmp = ddad_test_mkdtemp("fanout");
    CU_ASSERT_PTR_NOT_NULL_FATAL(tmp);
    const char *bin = ddad_test_bin_dir();
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("%s/ddad-synth --out '%s/synthetic' --size 32 --train 4 --test-good 1 "
                                           "--test-defect 1 --categories woven,grainy > /dev/null",
                                           bin, tmp),
                          0);
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("mkdir -p '%s/configs'", tmp), 0);
    write_config("woven", "synthetic");
    write_config("grainy", "synthetic");
    write_config("leather", "no-such-data-set");
    /* CORES=2 shared by -j2: one thread per job */
    snprintf(make_cmd, sizeof make_cmd,
             "cd '%s' && make --no-print-directory -f '%s/experiments/fanout.mk' -j2 CORES=2 CONFIG_DIR=configs "
             "BIN='%s' OUT=fanout SETS='--set train.iterations=4 --set train.checkpoint_every=2'",
             tmp, ddad_test_source_dir(), bin);
}

static void test_two_categories(void)
{
    int rc = fanout("woven grainy", "", "run1");
    char *out = slurp("run1.out"), *err = slurp("run1.err");
    if (rc != 0)
        fprintf(stderr, "\n  make exit %d\n%s\n%s\n", rc, out, err);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(exists("runs/mvtec/woven/checkpoints/step_0000004.h5"));
    CU_ASSERT(exists("runs/mvtec/grainy/checkpoints/step_0000004.h5"));
    CU_ASSERT(exists("fanout/woven.done") && exists("fanout/grainy.done"));
    /* both jobs were started before either finished: they ran at once */
    const char *g0 = strstr(err, "fanout: grainy started"), *w1 = strstr(err, "fanout: woven done");
    const char *w0 = strstr(err, "fanout: woven started"), *g1 = strstr(err, "fanout: grainy done");
    CU_ASSERT(g0 && w1 && w0 && g1 && g0 < w1 && w0 < g1);
    CU_ASSERT(contains(err, "fanout: all 2 categories trained"));
    /* the table of ddad-eval --all-categories names both, and is kept */
    CU_ASSERT(contains(out, "woven"));
    CU_ASSERT(contains(out, "grainy"));
    CU_ASSERT(!strstr(out, "NOT EVALUATED"));
    char *table = slurp("fanout/table.txt");
    CU_ASSERT(strcmp(table, out) == 0);
    free(table);
    /* each job had one thread: CORES / jobs */
    char *log = slurp("fanout/woven.log");
    CU_ASSERT(contains(log, "--resume --set threads=1"));
    CU_ASSERT(contains(log, "== exit 0"));
    free(log);
    free(out);
    free(err);
}

static void test_rerun_and_resume(void)
{
    /* everything finished: nothing is trained again */
    int rc = fanout("woven grainy", "train", "run2");
    char *err = slurp("run2.err");
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(!strstr(err, "started"));
    free(err);
    /* a category whose state was forgotten is continued from its checkpoint */
    CU_ASSERT_EQUAL(ddad_test_system("rm '%s/fanout/woven.done'", tmp), 0);
    rc = fanout("woven grainy", "train", "run3");
    err = slurp("run3.err");
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(contains(err, "fanout: woven started"));
    CU_ASSERT(!strstr(err, "grainy started"));
    free(err);
    char *log = slurp("fanout/woven.log");
    CU_ASSERT(contains(log, "resumed from"));
    free(log);
}

static void test_failed_category(void)
{
    int rc = fanout("woven leather", "", "run4");
    char *out = slurp("run4.out"), *err = slurp("run4.err");
    CU_ASSERT_NOT_EQUAL(rc, 0);
    CU_ASSERT(contains(err, "fanout: leather FAILED (ddad-train exit 4)"));
    CU_ASSERT(contains(err, "fanout: 1 of 2 categories FAILED: leather"));
    /* the summary quotes ddad-train's own message (the missing folder) */
    CU_ASSERT(contains(err, "no-such-data-set"));
    CU_ASSERT(exists("fanout/leather.failed"));
    CU_ASSERT(!exists("fanout/leather.done"));
    /* the finished category's row is still printed; the failed one is noted */
    CU_ASSERT(contains(out, "woven"));
    CU_ASSERT(contains(out, "NOT EVALUATED"));
    free(out);
    free(err);
    CU_ASSERT_EQUAL(fanout("woven grainy leather", "status", "status"), 0);
    out = slurp("status.out");
    CU_ASSERT(contains(out, "leather      FAILED (exit 4)"));
    CU_ASSERT(contains(out, "grainy       done"));
    free(out);
    /* `train` alone fails the same way */
    CU_ASSERT_NOT_EQUAL(fanout("woven leather", "train", "run5"), 0);
    err = slurp("run5.err");
    CU_ASSERT(contains(err, "FAILED: leather"));
    free(err);
    /* a category without a config stops make before anything starts */
    CU_ASSERT_NOT_EQUAL(fanout("woven absent", "", "run6"), 0);
    err = slurp("run6.err");
    CU_ASSERT(contains(err, "no config for absent"));
    free(err);
}

/* GPUS: a stand-in trainer claims its GPU by creating a folder and fails if
 * another job holds it; four categories, two GPUs, make -j2. */
static void test_gpu_slots(void)
{
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("mkdir -p '%s/gpu/configs' && cd '%s/gpu' && "
                                           "for c in a b c d; do echo 'threads: 1' > configs/$c.yaml; done",
                                           tmp, tmp),
                          0);
    write_file("gpu/train",
               "#!/bin/sh\n"
               "d=\"$(dirname \"$0\")/busy.$CUDA_VISIBLE_DEVICES\"\n"
               "mkdir \"$d\" || { echo \"GPU $CUDA_VISIBLE_DEVICES is taken\"; exit 1; }\n"
               "echo \"args: $* on $CUDA_VISIBLE_DEVICES\"\n"
               "sleep 1\n"
               "rmdir \"$d\"\n");
    write_file("gpu/eval", "#!/bin/sh\necho \"eval $* on $CUDA_VISIBLE_DEVICES\"\n");
    int rc = ddad_test_system("cd '%s/gpu' && chmod +x train eval && make --no-print-directory -f "
                              "'%s/experiments/fanout.mk' -j2 CORES=4 CATEGORIES='a b c d' CONFIG_DIR=configs "
                              "OUT=out TRAIN=./train EVAL=./eval GPUS='0 1' > out.txt 2> err.txt",
                              tmp, ddad_test_source_dir());
    char *err = slurp("gpu/err.txt"), *out = slurp("gpu/out.txt");
    if (rc)
        fprintf(stderr, "\n%s\n", err);
    CU_ASSERT_EQUAL(rc, 0);
    const char *cats[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "gpu/out/%s.log", cats[i]);
        char *log = slurp(name);
        CU_ASSERT(contains(log, "--resume --set threads=2 --device cuda on "));
        CU_ASSERT(strstr(log, "on 0\n") || strstr(log, "on 1\n"));
        free(log);
    }
    CU_ASSERT(contains(out, "eval --all-categories --config-dir configs --categories a,b,c,d --set threads=4 "
                            "--device cuda --quiet on 0"));
    free(err);
    free(out);
}

static void test_slurm(void)
{
    const char *src = ddad_test_source_dir();
    /* a stand-in sbatch records its arguments and answers job ids 101, 102 */
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("mkdir -p '%s/fakebin'", tmp), 0);
    char text[4096];
    snprintf(text, sizeof text,
             "#!/bin/sh\n"
             "n=$(cat '%s/sbatch.n' 2>/dev/null || echo 100); n=$((n + 1)); echo $n > '%s/sbatch.n'\n"
             "echo \"$* [$DDAD_CATEGORIES]\" >> '%s/sbatch.log'\n"
             "echo \"$n;cluster\"\n",
             tmp, tmp, tmp);
    write_file("fakebin/sbatch", text);
    int rc = ddad_test_system("chmod +x '%s/fakebin/sbatch' && PATH='%s/fakebin':$PATH '%s/scripts/slurm/submit.sh' "
                              "--categories woven,grainy --config-dir '%s/configs' --bin '%s' --cpus 3 --log-dir '%s/slurm' "
                              "--set train.iterations=4 > '%s/submit.out' 2>&1",
                              tmp, tmp, src, tmp, ddad_test_bin_dir(), tmp, tmp);
    char *sub = slurp("sbatch.log"), *so = slurp("submit.out");
    if (rc)
        fprintf(stderr, "\n%s\n", so);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(contains(sub, "--array=0-1 --cpus-per-task=3"));
    CU_ASSERT(contains(sub, "train_categories.sbatch --set train.iterations=4 [woven grainy]"));
    CU_ASSERT(contains(sub, "--dependency=afterok:101 "));
    CU_ASSERT(contains(sub, "eval_categories.sbatch --set train.iterations=4 [woven grainy]"));
    CU_ASSERT(contains(so, "job array 101"));
    free(sub);
    free(so);

    /* task id -> category, and the ids outside the list */
    rc = ddad_test_system("cd '%s' && env -u DDAD_BIN DDAD_CATEGORIES='woven grainy' DDAD_CONFIG_DIR=configs "
                          "SLURM_ARRAY_TASK_ID=1 "
                          "SLURM_CPUS_PER_TASK=3 bash '%s/scripts/slurm/train_categories.sbatch' --dry-run "
                          "--set a=b > map.out 2>&1",
                          tmp, src);
    CU_ASSERT_EQUAL(rc, 0);
    char *map = slurp("map.out");
    CU_ASSERT(contains(map, "task 1 -> grainy: build/bin/ddad-train configs/grainy.yaml --resume --set threads=3 "
                            "--set a=b"));
    free(map);
    rc = ddad_test_system("DDAD_CATEGORIES='woven grainy' SLURM_ARRAY_TASK_ID=2 bash "
                          "'%s/scripts/slurm/train_categories.sbatch' > '%s/map2.out' 2>&1",
                          src, tmp);
    CU_ASSERT_EQUAL(rc, 2);
    map = slurp("map2.out");
    CU_ASSERT(contains(map, "array task 2 has no category"));
    free(map);
    CU_ASSERT_EQUAL(ddad_test_system("test \"$(bash '%s/scripts/slurm/train_categories.sbatch' --list | sed -n 15p)\" "
                                     "= '14 zipper'",
                                     src),
                    0);

    /* the array task and the evaluation job, run as SLURM would (the runs
     * finished above: the task resumes and ends) */
    rc = ddad_test_system("cd '%s' && SLURM_SUBMIT_DIR='%s' SLURM_ARRAY_TASK_ID=0 SLURM_CPUS_PER_TASK=1 "
                          "DDAD_CATEGORIES='woven grainy' DDAD_CONFIG_DIR=configs DDAD_BIN='%s' bash "
                          "'%s/scripts/slurm/train_categories.sbatch' --set train.iterations=4 --set train.checkpoint_every=2 "
                          "> task.out 2>&1",
                          tmp, tmp, ddad_test_bin_dir(), src);
    char *task = slurp("task.out");
    if (rc)
        fprintf(stderr, "\n%s\n", task);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(contains(task, "task 0 -> woven"));
    CU_ASSERT(contains(task, "woven: ddad-train exit 0"));
    free(task);
    rc = ddad_test_system("cd / && SLURM_SUBMIT_DIR='%s' SLURM_CPUS_PER_TASK=2 DDAD_CATEGORIES='woven grainy' "
                          "DDAD_CONFIG_DIR=configs DDAD_BIN='%s' DDAD_LOG_DIR=slurm bash "
                          "'%s/scripts/slurm/eval_categories.sbatch' > '%s/eval.out' 2> '%s/eval.err'",
                          tmp, ddad_test_bin_dir(), src, tmp, tmp);
    char *ev = slurp("eval.out");
    if (rc) {
        char *e = slurp("eval.err");
        fprintf(stderr, "\n%s\n", e);
        free(e);
    }
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(contains(ev, "woven"));
    CU_ASSERT(contains(ev, "grainy"));
    char *table = slurp("slurm/table.txt");
    CU_ASSERT(strcmp(table, ev) == 0);
    free(table);
    free(ev);
}

/* The array task at the time limit: SLURM's SIGUSR1 reaches ddad-train (a
 * stand-in that writes "stopped" and exits 8 on SIGTERM, as ddad-train does)
 * as SIGTERM, and the task requeues itself; scancel's SIGTERM does not requeue. */
static void test_slurm_time_limit(void)
{
    const char *src = ddad_test_source_dir();
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("mkdir -p '%s/stop/bin' '%s/stop/configs' && touch '%s/stop/configs/woven.yaml'",
                                           tmp, tmp, tmp),
                          0);
    write_file("stop/bin/ddad-train", "#!/bin/sh\n"
                                      "trap 'echo stopped >> stopped.txt; exit 8' TERM\n"
                                      "touch running\n"
                                      "while :; do sleep 0.1; done\n");
    write_file("fakebin/scontrol", "#!/bin/sh\necho \"scontrol $*\" >> scontrol.txt\n");
    const char *sig[] = {"USR1", "TERM"};
    for (int i = 0; i < 2; i++) {
        int rc = ddad_test_system(
            "cd '%s/stop' && chmod +x bin/ddad-train '%s/fakebin/scontrol' && rm -f running && { "
            "PATH='%s/fakebin':$PATH SLURM_SUBMIT_DIR=. SLURM_JOB_ID=4%d SLURM_ARRAY_TASK_ID=0 "
            "DDAD_CATEGORIES=woven DDAD_BIN=bin bash '%s/scripts/slurm/train_categories.sbatch' > task%d.out 2>&1 & "
            "pid=$!; while [ ! -f running ]; do sleep 0.1; done; kill -%s $pid; wait $pid; }",
            tmp, tmp, tmp, i, src, i, sig[i]);
        if (rc != 8) {
            char name[64];
            snprintf(name, sizeof name, "stop/task%d.out", i);
            char *t = slurp(name);
            fprintf(stderr, "\n  SIG%s: exit %d\n%s\n", sig[i], rc, t);
            free(t);
        }
        CU_ASSERT_EQUAL(rc, 8);
    }
    char *stopped = slurp("stop/stopped.txt"), *sc = slurp("stop/scontrol.txt");
    CU_ASSERT(contains(stopped, "stopped\nstopped\n"));
    /* only the time-limit signal requeued, and the task's own job */
    CU_ASSERT_STRING_EQUAL(sc, "scontrol requeue 40\n");
    free(stopped);
    free(sc);
}

static void teardown(void)
{
    ddad_test_rmtree(tmp);
    free(tmp);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"set-up: synthetic data, tiny configs", setup},
                                        {"make -j2 over two categories, one table", test_two_categories},
                                        {"rerun skips finished categories, resumes the others", test_rerun_and_resume},
                                        {"a failing category fails make and is named", test_failed_category},
                                        {"GPUS: one GPU per concurrent job", test_gpu_slots},
                                        {"SLURM array, task mapping, dependent evaluation", test_slurm},
                                        {"SLURM time limit: checkpoint and requeue", test_slurm_time_limit},
                                        {"teardown", teardown},
                                        {NULL, NULL}};
    return ddad_test_main("fan-out", tests);
}
