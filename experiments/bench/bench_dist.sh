#!/bin/sh
# Data-parallel scaling of ddad-train from 1 to 2 processes (Gloo over
# loopback) at the demo size (configs/demo.yaml: 64 px, batch 8), measured in
# one run of this script:
#
#   1 process  x 1 thread    the reference: the whole batch on one core
#   2 processes x 1 thread   data parallel (scripts/ddad-launch), 4 images each
#   1 process  x 2 threads   the other way to use two cores
#
# Prints steps/s (from train.log's times, after the warm-up steps), images/s,
# the speed-up over the reference and the scaling efficiency (speed-up / 2),
# and rank 0's share of the step in all-reduce. On a
# 2-core machine the two processes also share those cores with the loader and
# Gloo's threads, so the efficiency is a lower bound for machines with more.
# Every run has the process settings of settings.sh (OMP_WAIT_POLICY, malloc
# thresholds), with OMP_NUM_THREADS equal to the run's thread count.
#
#   experiments/bench/bench_dist.sh [BUILD_DIR] [STEPS]
set -eu
BUILD=${1:-build}
STEPS=${2:-40}
WARM=5
SRC=$(cd "$(dirname "$0")/../.." && pwd)
TRAIN="$BUILD/bin/ddad-train"
SYNTH="$BUILD/bin/ddad-synth"
if [ ! -x "$TRAIN" ] || [ ! -x "$SYNTH" ]; then
    echo "build first: cmake --build $BUILD --target ddad-train ddad-synth" >&2
    exit 2
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ddad-bench-dist.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
. "$SRC/experiments/bench/settings.sh"
BENCH_NO_DEFAULTS_ROW=1   # ddad against ddad: no Python reference
bench_same "$SYNTH" --out "$TMP/data" --size 64 --train 32 --test-good 1 --test-defect 1 --categories woven >/dev/null

# steps/s over the steps after the warm-up, from the wall-clock times of train.log's lines
run() { # name, threads, launcher prefix...
    name=$1; threads=$2; shift 2
    BENCH_THREADS=$threads   # run() runs in a subshell: $(run ...)
    bench_same "$@" "$TRAIN" "$SRC/configs/demo.yaml" --set data.root="$TMP/data" --set run.dir="$TMP/runs" \
        --set run.name="$name" --set threads="$threads" --set train.iterations="$STEPS" \
        --set train.checkpoint_every=1000000 --set train.log_every=1000000 --set dist.timeout_s=120 \
        >"$TMP/$name.out" 2>&1 ||
        { cat "$TMP/$name.out" >&2; exit 1; }
    # column 7 is the average it/s since the start; elapsed(step) = step / it_per_s
    awk -v w="$WARM" '!/^#/ { t[$1] = $1 / $7; n = $1 } END { printf "%.4f\n", (n - w) / (t[n] - t[w]) }' \
        "$TMP/runs/mvtec/woven/$name/train.log"
}
ref=$(run one_by_one 1 env)
dp=$(run two_by_one 1 "$SRC/scripts/ddad-launch" --nproc 2)
mt=$(run one_by_two 2 env)
comm=$(grep -o "data parallel: .* in all-reduce" "$TMP/two_by_one.out" || true)
cores=$(nproc)
bench_settings_line "the run's thread count"
echo "machine: $cores cores ($(uname -m)); $STEPS steps, the first $WARM not timed; batch 8 at 64 px"
awk -v r="$ref" -v d="$dp" -v m="$mt" 'BEGIN {
    printf "1 process  x 1 thread : %7.3f steps/s  %6.1f images/s  (reference)\n", r, 8 * r
    printf "2 processes x 1 thread: %7.3f steps/s  %6.1f images/s  speed-up %.2f, scaling efficiency %.0f %%\n", d, 8 * d, d / r, 50 * d / r
    printf "1 process  x 2 threads: %7.3f steps/s  %6.1f images/s  speed-up %.2f\n", m, 8 * m, m / r
}'
echo "rank 0 of the data-parallel run: ${comm:-no report}"
