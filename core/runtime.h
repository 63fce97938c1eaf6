/* core/runtime.h - process set-up that must happen before libtorch's
 * OpenMP runtime starts.
 *
 * libgomp's worker threads spin-wait between parallel regions. On a machine
 * whose cores are shared (two cores, other jobs) a spinning thread takes the
 * core the working one needs: a training step of configs/tiny.yaml measured
 * 20x slower with 2 spinning threads than with OMP_WAIT_POLICY=PASSIVE. libgomp
 * reads the variable once, when it is loaded, so the program sets it and
 * re-executes itself. A value the user set is left alone. Every program
 * (ddad-train, ddad-eval, ddad-vis) calls it first thing in main().
 *
 *     int main(int argc, char **argv) { ddad_runtime_reexec(argv); ... }
 */
#ifndef DDAD_RUNTIME_H
#define DDAD_RUNTIME_H

/* Returns only when no re-execution was needed or possible. */
void ddad_runtime_reexec(char **argv);

#endif
