/* core/runtime.h - process set-up that must happen before libtorch's
 * OpenMP runtime starts.
 *
 * libgomp's worker threads spin-wait between parallel regions. On a machine
 * whose cores are shared (two cores, other jobs) a spinning thread takes the
 * core the working one needs: a training step of configs/tiny.yaml measured
 * 20x slower with 2 spinning threads than with OMP_WAIT_POLICY=PASSIVE.
 * libgomp reads the variable once, in its constructor, when it is loaded.
 *
 * A program that links this module sets OMP_WAIT_POLICY=PASSIVE (unless
 * the user set a value) from the executable's .preinit_array, which the
 * dynamic loader runs before the constructors of any shared library
 * (libgomp's included), so no second process start is needed (checked
 * with OMP_DISPLAY_ENV=TRUE: libgomp reports PASSIVE at its start). Every
 * program calls ddad_runtime_reexec first thing in main(): it pulls this
 * module into the executable and, where the early hook could not run (the
 * variable is still unset), falls back to setting it and re-executing.
 *
 *     int main(int argc, char **argv) { ddad_runtime_reexec(argv); ... }
 *
 * Programs in two parts. libtorch takes about a second to load (289 shared
 * libraries and their static initialisers), which --help, --version,
 * --print-config and the metrics-only paths of ddad-eval do not need. Such a
 * program is built twice from the same main(): the front end (bin/, built
 * with DDAD_FRONT_END, linked without libtorch) answers those paths itself
 * and hands everything else to its model side (libexec/ddad/<same name>,
 * the whole program) with ddad_runtime_exec_model, which replaces the
 * process: one process start, arguments and environment unchanged, the
 * wait policy already set for the model side's libgomp.
 *
 *     #ifdef DDAD_FRONT_END
 *         return ddad_runtime_exec_model(argv);
 *     #else
 *         return train(&args, &cfg);
 *     #endif
 */
#ifndef DDAD_RUNTIME_H
#define DDAD_RUNTIME_H

#include <stdbool.h>

/* Returns only when no re-execution was needed or possible. */
void ddad_runtime_reexec(char **argv);

/* Replaces the process with the model side of this program,
 * <directory of this executable>/../libexec/ddad/<its name>, with the same
 * argv (OMP_WAIT_POLICY=PASSIVE set unless the user set it). Returns only
 * on failure, after saying so on stderr: the exit code to return (1). */
int ddad_runtime_exec_model(char **argv);

/* True when the wait policy was set by the early hook of this process
 * (for tests). */
bool ddad_runtime_set_early(void);

#endif
