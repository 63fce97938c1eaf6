/* core/runtime.c - see runtime.h */
#include "runtime.h"

#include <stdlib.h>
#include <unistd.h>

void ddad_runtime_reexec(char **argv)
{
    if (getenv("OMP_WAIT_POLICY"))
        return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    /* exec failed: go on with the default policy (the variable stays set,
     * harmlessly, for child processes) */
}
