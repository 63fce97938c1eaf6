/* core/runtime.c - see runtime.h */
#include "runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static bool g_set_early;

/* Runs before any shared library's constructor (ELF preinit_array of the
 * executable), so libgomp sees the policy when it initialises. */
static void set_wait_policy_early(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)argv;
    if (!envp)
        return;
    for (char **e = envp; *e; e++)
        if (!strncmp(*e, "OMP_WAIT_POLICY=", 16))
            return; /* the user's value */
    /* the C library has not set environ yet at this point: start from the
     * process's environment so that setenv keeps every other variable
     * (OMP_NUM_THREADS...) visible to the libraries' constructors */
    if (!environ)
        environ = envp;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 0) == 0)
        g_set_early = true;
}

__attribute__((section(".preinit_array"), used)) static void (*const ddad_preinit_wait_policy)(int, char **,
                                                                                            char **) =
    set_wait_policy_early;

bool ddad_runtime_set_early(void) { return g_set_early; }

void ddad_runtime_reexec(char **argv)
{
    if (getenv("OMP_WAIT_POLICY"))
        return;
    if (g_set_early) {
        /* libgomp has read it already; the C library reset the environment
         * to the original block after the hook, so set it again for child
         * processes */
        setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
        return;
    }
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    /* exec failed: go on with the default policy (the variable stays set,
     * harmlessly, for child processes) */
}

/* The model side's path for this executable into buf (cap bytes); false
 * when /proc/self/exe cannot be read or the path does not fit. */
static bool model_path(char *buf, size_t cap)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return false;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return false;
    *slash = '\0';
    int w = snprintf(buf, cap, "%s/../libexec/ddad/%s", self, slash + 1);
    return w > 0 && (size_t)w < cap;
}

int ddad_runtime_exec_model(char **argv)
{
    const char *prog = argv && argv[0] ? argv[0] : "ddad";
    char path[4200];
    if (!model_path(path, sizeof path)) {
        fprintf(stderr, "%s: error: cannot locate this program (/proc/self/exe) to start its model side\n", prog);
        return 1;
    }
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    execv(path, argv);
    int err = errno;
    fprintf(stderr, "%s: error: cannot start the model side %s: %s (an incomplete build or installation: "
            "build the whole project, or install it again)\n", prog, path, strerror(err));
    return 1;
}
