/* core/allocator.h - glibc malloc tuned for tensor-sized buffers.
 *
 * With glibc's defaults every block above the dynamic mmap threshold is
 * mapped on malloc and unmapped on free, so a program that allocates the
 * same large buffers again and again (a training step's activations, the
 * next map of a metrics pass) faults every page in again each time (a 64 MB
 * buffer: 16,385 page faults and about 0.2 s per round, experiments/bench).
 * ddad_allocator_tune keeps large freed blocks in the heap instead:
 * M_MMAP_THRESHOLD and M_TRIM_THRESHOLD 1 GiB, M_TOP_PAD 64 MiB
 * (experiments/bench/settings.sh gives a Python reference the same values).
 * The programs call it once at start-up (ddad_runtime_setup, and
 * ddad-eval's metrics-only paths); harmless elsewhere.
 */
#ifndef DDAD_ALLOCATOR_H
#define DDAD_ALLOCATOR_H

void ddad_allocator_tune(void);

#endif
