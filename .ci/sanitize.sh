#!/bin/sh
# .ci/sanitize.sh - build everything with AddressSanitizer + LeakSanitizer +
# UndefinedBehaviorSanitizer (-DDDAD_SANITIZE=ON) in its own build folder and
# run the test suite there (ctest -LE slow).
#
#   .ci/sanitize.sh                 # build-asan, every test but the slow ones
#   .ci/sanitize.sh -R test_config  # extra arguments go to ctest
#
# Environment: DDAD_SANITIZE_BUILD (build folder, default build-asan).
#
# Cost, measured on the 2-core development machine while other builds kept
# its load at 10-12 (expect less on a quiet CI runner):
#   build from scratch: more than 20 min, almost all of it the libtorch shim
#     (core/torch/*.cpp) compiled with ASan; ddad_base and its tests: ~2 min;
#   ctest of the ten ddad_base test programs: 3 min 50 s (test_metrics 86 s,
#     test_fuzz_regressions 53 s: one forked child per replayed input);
#   the libtorch-linked tests (test_torch_*, test_nn_*) add their own run time,
#     several times their plain-build time.
#
# The sanitizer runtime: with GCC, -fsanitize=address in the link flags puts
# libasan first in the executable's needed libraries, so programs linked with
# libtorch (not built with ASan) start without LD_PRELOAD; libtorch's own
# memory is intercepted too (malloc/free), its code is not instrumented.
# Runtime options, each for a reason:
#   detect_leaks=1                 LeakSanitizer on (the default on x86_64 Linux;
#                                  said explicitly because the C code relies on it)
#   allocator_may_return_null=1    a corrupt HDF5 file makes libhdf5 request
#                                  absurd sizes; glibc returns NULL and HDF5
#                                  reports an error, so ASan must do the same
#                                  (tests/fuzz/regressions/mapsfile/hdf5-huge-alloc-*)
#   strict_string_checks=1, check_initialization_order=1   stricter checks, no cost
#   halt_on_error=1 (UBSan)        with -fno-sanitize-recover, any UB fails the test
# No ODR or libtorch-specific option is set: none was needed so far; if
# libtorch's static initialisers ever trip detect_odr_violation, add
# detect_odr_violation=0 here with the report that justified it.
# tests/sanitizer/lsan.supp lists, with reasons, the leaks of other libraries
# that are suppressed; none is in ddad's code.
set -eu

cd "$(dirname "$0")/.."
BUILD=${DDAD_SANITIZE_BUILD:-build-asan}
SUPP="$PWD/tests/sanitizer"

start=$(date +%s)
mkdir -p "$BUILD"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDDAD_SANITIZE=ON >"$BUILD/configure.log" 2>&1 ||
    { cat "$BUILD/configure.log" >&2; exit 2; }
cmake --build "$BUILD" -j2
built=$(date +%s)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:strict_string_checks=1:check_initialization_order=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$SUPP/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
ctest --test-dir "$BUILD" -LE slow --output-on-failure "$@" || status=$?
end=$(date +%s)
echo "sanitize.sh: build $((built - start)) s, tests $((end - built)) s"
exit $status
