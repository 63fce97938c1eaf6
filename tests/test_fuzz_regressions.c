/* tests/test_fuzz_regressions.c - replays the fuzz harnesses' inputs.
 *
 * For every target of tests/fuzz/fuzz_targets.c (the same code the libFuzzer
 * programs run), each file of
 *   tests/fuzz/regressions/<target>/   an input that once crashed, leaked or
 *                                      broke a property: it must now pass
 *                                      through cleanly (accepted or refused);
 *   tests/fuzz/corpus/<target>/        the seeds: each must be accepted, except
 *                                      files named bad_* which must be refused
 *                                      with a message.
 * Each input runs in a forked child, so one crash names its file and the
 * others still run; under -DDDAD_SANITIZE=ON the child's AddressSanitizer,
 * LeakSanitizer and UBSan reports turn into a failure too. */
#include <dirent.h>
#include <sys/wait.h>

#include "fuzz/fuzz_targets.c"
#include "testutil.h"

#define CHILD_REJECTED 10
#define CHILD_ACCEPTED 11

static int read_whole(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    *data = malloc(n > 0 ? (size_t)n : 1);
    *size = n > 0 ? (size_t)n : 0;
    int ok = *data && fread(*data, 1, *size, f) == *size;
    fclose(f);
    return ok ? 0 : -1;
}

/* Runs target on the file in a child; returns the child's wait status. */
static int run_one(const ddad_fuzz_target_t *t, const char *path)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        uint8_t *data = NULL;
        size_t size = 0;
        if (read_whole(path, &data, &size) != 0)
            _exit(3);
        int r = t->fn(data, size);
        free(data);
        ddad_fuzz_shutdown();
        exit(r == DDAD_FUZZ_ACCEPTED ? CHILD_ACCEPTED : CHILD_REJECTED); /* exit(): LeakSanitizer runs */
    }
    int status = -1;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return status;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Replays every file of tests/fuzz/<kind>/<target>/; returns the count. */
static size_t replay(const char *kind, bool seeds)
{
    size_t count = 0;
    for (const ddad_fuzz_target_t *t = ddad_fuzz_targets; t->name; t++) {
        char dir[2048];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/%s/%s", ddad_test_source_dir(), kind, t->name);
        struct dirent **ents = NULL;
        int n = scandir(dir, &ents, NULL, by_name);
        if (n < 0) {
            if (seeds) {
                fprintf(stderr, "\n  no seed corpus at %s\n", dir);
                CU_FAIL("missing seed corpus");
            }
            continue;
        }
        for (int i = 0; i < n; i++) {
            const char *name = ents[i]->d_name;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, name);
            struct stat sb;
            if (name[0] == '.' || strcmp(name, "README.md") == 0 || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
                free(ents[i]);
                continue;
            }
            int status = run_one(t, path);
            int want = !seeds ? -1 : strncmp(name, "bad_", 4) == 0 ? CHILD_REJECTED : CHILD_ACCEPTED;
            bool clean = status >= 0 && WIFEXITED(status) &&
                         (WEXITSTATUS(status) == CHILD_ACCEPTED || WEXITSTATUS(status) == CHILD_REJECTED);
            bool ok = clean && (want < 0 || WEXITSTATUS(status) == want);
            if (!ok) {
                if (!clean)
                    fprintf(stderr, "\n  %s %s: %s %d\n", t->name, path,
                            status >= 0 && WIFSIGNALED(status) ? "killed by signal" : "exit status",
                            status < 0 ? -1 : WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
                else
                    fprintf(stderr, "\n  %s %s: %s, expected %s\n", t->name, path,
                            WEXITSTATUS(status) == CHILD_ACCEPTED ? "accepted" : "refused",
                            want == CHILD_ACCEPTED ? "accepted" : "refused");
            }
            CU_ASSERT(ok);
            count++;
            free(ents[i]);
        }
        free(ents);
    }
    return count;
}

static void test_seed_corpora(void)
{
    /* Five targets, several seeds each: an empty replay would prove nothing. */
    CU_ASSERT(replay("corpus", true) >= 30);
}

static void test_regressions(void)
{
    replay("regressions", false);
}

/* The replay's verdicts mean something: a valid PNG is accepted, the same
 * file cut short is refused with a message, an HDF5 reader refuses a PNG. */
static void test_verdicts(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/image/ddad_rgb_7x5.png", ddad_test_source_dir());
    uint8_t *png = NULL;
    size_t n = 0;
    CU_ASSERT_FATAL(read_whole(path, &png, &n) == 0);
    CU_ASSERT(n > 40);
    CU_ASSERT_EQUAL(ddad_fuzz_image(png, n), DDAD_FUZZ_ACCEPTED);
    CU_ASSERT_EQUAL(ddad_fuzz_image(png, n / 2), DDAD_FUZZ_REJECTED);
    CU_ASSERT(strstr(ddad_last_error(), "image.bin") != NULL);
    CU_ASSERT_EQUAL(ddad_fuzz_h5params(png, n), DDAD_FUZZ_REJECTED);
    CU_ASSERT_EQUAL(ddad_fuzz_mapsfile(png, n), DDAD_FUZZ_REJECTED);
    const char *yaml = "seed: 1\nmodel: {channels: 64}\n";
    CU_ASSERT_EQUAL(ddad_fuzz_config((const uint8_t *)yaml, strlen(yaml)), DDAD_FUZZ_ACCEPTED);
    const char *bad = "seed: 1\nmodel: {chanels: 64}\n";
    CU_ASSERT_EQUAL(ddad_fuzz_config((const uint8_t *)bad, strlen(bad)), DDAD_FUZZ_REJECTED);
    CU_ASSERT(strstr(ddad_last_error(), "channels") != NULL);
    free(png);
    ddad_fuzz_shutdown();
}

int main(void)
{
    static const ddad_test_t tests[] = {
        {"verdicts", test_verdicts},
        {"seed corpora", test_seed_corpora},
        {"regressions", test_regressions},
        {0},
    };
    return ddad_test_main("fuzz regressions", tests);
}
