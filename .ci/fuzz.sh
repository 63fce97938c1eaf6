#!/bin/sh
# .ci/fuzz.sh - build the libFuzzer harnesses (tests/fuzz) with clang and run
# each one for a short while; fails on any crash, leak, timeout or
# out-of-memory report.
#
#   .ci/fuzz.sh                      # every target, 60 s each
#   DDAD_FUZZ_SECONDS=3600 .ci/fuzz.sh config image   # longer, chosen targets
#
# Environment: DDAD_FUZZ_BUILD (build folder, default build-fuzz),
# DDAD_FUZZ_SECONDS (per target, default 60), DDAD_FUZZ_JOBS (fuzzing
# processes per target through libFuzzer's -fork, default 1), DDAD_FUZZ_SEED
# (libFuzzer's -seed, default 1; 0 draws a new one each run).
#
# The fixed default seed keeps CI's short runs close to one another: from a
# fresh build folder they start from the same mutations, so a failure seen in
# CI is usually found again by a local run with the same seed, and a longer
# local run on a fresh folder covers what the 60-second CI run explores. It is
# not exact replay (two runs of 30000 inputs reach slightly different feature
# counts). Long campaigns should use DDAD_FUZZ_SEED=0.
#
# Cost on a 2-core machine: configure + build from scratch about 2 minutes,
# then DDAD_FUZZ_SECONDS per target (5 targets: about 5 minutes at 60 s), so
# about 7 minutes in all; an incremental rebuild takes seconds.
#
# A failing input is kept as BUILD/fuzz-artifacts/<target>/crash-* (or leak-,
# timeout-, oom-); reproduce with BUILD/bin/fuzz_<target> FILE, fix, and add it
# to tests/fuzz/regressions/<target>/ so that ctest (test_fuzz_regressions)
# replays it from then on. New inputs found during the run stay in
# BUILD/fuzz-corpus/<target>; the committed seeds in tests/fuzz/corpus are not
# modified. See docs/reliability.md.
set -eu

cd "$(dirname "$0")/.."
BUILD=${DDAD_FUZZ_BUILD:-build-fuzz}
SECONDS_EACH=${DDAD_FUZZ_SECONDS:-60}
JOBS=${DDAD_FUZZ_JOBS:-1}
SEED=${DDAD_FUZZ_SEED:-1}
TARGETS=${*:-config image mapslayout dataset thresholds}

command -v clang >/dev/null || { echo "fuzz.sh: clang not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }

mkdir -p "$BUILD"
cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDDAD_FUZZ=ON >"$BUILD/configure.log" 2>&1 ||
    { cat "$BUILD/configure.log" >&2; exit 2; }
cmake --build "$BUILD" -j2 --target ddad_fuzzers

# Leaks are checked after every input (-detect_leaks=1, the default with
# ASan). allocator_may_return_null=1: a corrupt HDF5 file makes libhdf5 ask
# for absurd sizes (0x60b000006280 bytes); glibc's malloc returns NULL and
# HDF5 reports an error, so the sanitizer must do the same instead of
# aborting (regressions/mapsfile/hdf5-huge-alloc-*). lsan.supp explains its
# one entry (small leaks inside libhdf5's error paths).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/sanitizer/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=""
for t in $TARGETS; do
    corpus="$BUILD/fuzz-corpus/$t"
    artifacts="$BUILD/fuzz-artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    echo "== fuzz_$t for ${SECONDS_EACH}s"
    parallel=""
    [ "$JOBS" -gt 1 ] && parallel="-fork=$JOBS"
    [ -f "tests/fuzz/$t.dict" ] && parallel="$parallel -dict=tests/fuzz/$t.dict"
    # The first folder receives new inputs; the committed seeds are read only.
    # shellcheck disable=SC2086
    if ! "$BUILD/bin/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
            -seed="$SEED" $parallel -print_final_stats=1 \
            -artifact_prefix="$artifacts/" "$corpus" "tests/fuzz/corpus/$t" >"$BUILD/fuzz-$t.log" 2>&1; then
        tail -n 60 "$BUILD/fuzz-$t.log" >&2
        failed="$failed $t"
    else
        grep -E "^stat::number_of_executed_units|^Done|cov:" "$BUILD/fuzz-$t.log" | tail -n 2
    fi
done

if [ -n "$failed" ]; then
    echo "fuzz.sh: failures in:$failed; inputs in $BUILD/fuzz-artifacts/<target>/" >&2
    exit 1
fi
echo "fuzz.sh: all targets ran ${SECONDS_EACH}s without a failure"
