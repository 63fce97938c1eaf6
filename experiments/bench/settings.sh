# experiments/bench/settings.sh - the process settings of every benchmark,
# sourced (". settings.sh") by the bench_*.sh scripts; POSIX sh.
#
# Both sides of a comparison (ddad and its Python reference) run under the
# same settings, which are the ones ddad's programs give themselves:
#
#   OMP_NUM_THREADS   $THREADS (default 2); the programs also set their
#                     thread count from their own THREADS argument
#   OMP_WAIT_POLICY   PASSIVE: idle OpenMP workers sleep instead of spinning
#                     (ddad sets it at start-up unless the user did,
#                     core/runtime.c)
#   GLIBC_TUNABLES    glibc.malloc.mmap_threshold=1 GiB, trim_threshold=1 GiB,
#                     top_pad=64 MiB: freed tensor buffers stay in the heap
#                     instead of going back to the kernel and being faulted in
#                     again (ddad calls mallopt(M_MMAP_THRESHOLD, 1 << 30),
#                     mallopt(M_TRIM_THRESHOLD, 1 << 30), mallopt(M_TOP_PAD,
#                     64 << 20) at start-up: ddad_allocator_tune in
#                     core/allocator.c). The tunables replace the
#                     environment's GLIBC_TUNABLES and the older MALLOC_*_
#                     variables are removed, so both sides get exactly these.
#
# The "user defaults" reference is the same command with those variables
# removed from the environment (glibc's default malloc thresholds, libgomp's
# default wait policy); it is a separate, labelled row of the tables, never
# the denominator of a ratio. ddad itself is not run that way: it applies its
# settings itself, whatever the environment says.
#
#   bench_same CMD ARGS...           runs CMD under the benchmark settings
#   bench_user_defaults CMD ARGS...  runs CMD under a user's defaults
#   bench_settings_line [THREADS]    one line describing both (print it above each table;
#                                    BENCH_NO_DEFAULTS_ROW=1: a table without the defaults row)
#   bench_settings_check [PYTHON]    shows that the malloc settings take effect in
#                                    a Python process (page faults of 64 MB buffers)
#
# CMD must be a program (env runs it), not a shell function.

BENCH_THREADS=${THREADS:-2}
BENCH_MMAP_THRESHOLD=1073741824   # 1 << 30, M_MMAP_THRESHOLD
BENCH_TRIM_THRESHOLD=1073741824   # 1 << 30, M_TRIM_THRESHOLD
BENCH_TOP_PAD=67108864            # 64 << 20, M_TOP_PAD
BENCH_OMP_WAIT_POLICY=PASSIVE
BENCH_GLIBC_TUNABLES="glibc.malloc.mmap_threshold=$BENCH_MMAP_THRESHOLD:glibc.malloc.trim_threshold=$BENCH_TRIM_THRESHOLD:glibc.malloc.top_pad=$BENCH_TOP_PAD"
BENCH_USER_DEFAULTS_LABEL="python, user defaults (glibc malloc defaults, OMP_WAIT_POLICY unset)"

bench_same() {
    env -u MALLOC_MMAP_THRESHOLD_ -u MALLOC_TRIM_THRESHOLD_ -u MALLOC_TOP_PAD_ \
        GLIBC_TUNABLES="$BENCH_GLIBC_TUNABLES" OMP_WAIT_POLICY="$BENCH_OMP_WAIT_POLICY" \
        OMP_NUM_THREADS="$BENCH_THREADS" "$@"
}

bench_user_defaults() {
    env -u GLIBC_TUNABLES -u MALLOC_MMAP_THRESHOLD_ -u MALLOC_TRIM_THRESHOLD_ -u MALLOC_TOP_PAD_ \
        -u OMP_WAIT_POLICY -u OMP_NUM_THREADS "$@"
}

bench_settings_line() {  # [text in place of the thread count]
    if [ -n "${BENCH_NO_DEFAULTS_ROW:-}" ]; then _rows="no user-defaults row in this table"
    else _rows="'user defaults' row: those variables unset, threads from the program's argument"; fi
    echo "settings, both sides: OMP_NUM_THREADS=${1:-$BENCH_THREADS} OMP_WAIT_POLICY=$BENCH_OMP_WAIT_POLICY" \
        "GLIBC_TUNABLES=$BENCH_GLIBC_TUNABLES (= ddad's mallopt at start-up); $_rows;" \
        "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

# Minor page faults and time of allocating, filling and freeing a 64 MB torch
# buffer in a Python process, under the benchmark settings and under the
# user's defaults, after 20 warm-up rounds (1 thread; with the settings the
# buffer is reused from the heap: no faults).
bench_settings_check() {
    _py=${1:-${DDAD_PYTHON:-/usr/bin/python3}}
    _check='
import resource, time, torch
torch.set_num_threads(1)
def faults(): return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def step(): torch.empty(16 << 20).fill_(1.0)
for _ in range(20): step()
f0, t0 = faults(), time.perf_counter()
for _ in range(20): step()
print("minor faults per 64 MB alloc/fill/free %.0f, ms %.1f" % ((faults() - f0) / 20, (time.perf_counter() - t0) / 20 * 1e3))'
    printf '%-15s ' "same settings:"; bench_same "$_py" -c "$_check"
    printf '%-15s ' "user defaults:"; bench_user_defaults "$_py" -c "$_check"
}
