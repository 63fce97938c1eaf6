#!/bin/sh
# experiments/bench/bench_metrics.sh - pixel metrics: ddad (C) against
# sklearn's roc_curve + auc / precision_recall_curve and the NumPy reference
# AU-PRO (metrics_reference.py), on the same maps file in one run; then the C
# path alone on 150 maps of 1024 x 1024.
#
#   cmake --build build --target bench_metrics
#   experiments/bench/bench_metrics.sh [BUILD_DIR]       (default: build)
#
# Environment: PYTHON (default /usr/bin/python3), N (200), SIZE (256),
# BIG_N (150), BIG_SIZE (1024; BIG_N=0 skips the large run), REPEAT (3).
# Both sides run under the process settings of settings.sh (THREADS,
# OMP_WAIT_POLICY, malloc thresholds; the line above the table says which).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
bench="$build/bin/bench_metrics"
python=${PYTHON:-/usr/bin/python3}
n=${N:-200}
size=${SIZE:-256}
big_n=${BIG_N:-150}
big_size=${BIG_SIZE:-1024}
repeat=${REPEAT:-3}
. "$here/settings.sh"
BENCH_NO_DEFAULTS_ROW=1   # no user-defaults row in this table
[ -x "$bench" ] || { echo "bench_metrics.sh: $bench not built (cmake --build $build --target bench_metrics)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "generating $n maps of $size x $size ..." >&2
bench_same "$python" "$here/metrics_reference.py" gen --out "$work/maps.h5" --n "$n" --size "$size"
bench_same "$bench" file "$work/maps.h5" "$repeat" > "$work/c.txt"
bench_same "$python" "$here/metrics_reference.py" bench --maps "$work/maps.h5" > "$work/py.txt"

bench_settings_line
echo
echo "## Pixel metrics, $n x $size x $size ($(awk '/^pixels/{print $2}' "$work/c.txt") pixels)"
echo
echo "| metric | C cpu (s) | reference cpu (s) | speed-up | C wall (s) | ref. wall (s) | C value | reference value |"
echo "|---|---|---|---|---|---|---|---|"
awk 'NR == FNR { ct[$1] = $2; cv[$1] = $3; cw[$1] = $4; next }
     { printf "| %s | %.3f | %.3f | %.0fx | %.3f | %.3f | %.6f | %.6f |\n", $1, ct[$1], $2, $2 / ct[$1], cw[$1], $4, cv[$1], $3 }' \
    "$work/c.txt" "$work/py.txt"
awk '/^all_three/ { printf "| all three in one pass (C) | %.3f | | | %.3f | | | |\n", $2, $4 }' "$work/c.txt"
echo
echo "reference: sklearn roc_curve+auc (pixel_auroc), NumPy transcription of MVTec's AU-PRO"
echo "(au_pro, limit 0.3), sklearn precision_recall_curve (pixel_f1_max). C: best of $repeat;"
echo "cpu = CPU time of the process (robust when the machine is shared), speed-up on cpu."
awk '/^peak_rss_mb/ { p = $2 } /^maps_masks_mb/ { m = $2 } /^bytes_per_pixel/ { b = $2 }
     END { printf "C peak RSS %.1f MB (maps + masks %.1f MB); %.2f bytes per pixel beyond them\n", p, m, b }' "$work/c.txt"

# End to end: what a user waits for, process start and file reading included
# (the in-process times above leave both out). ddad-eval --maps on the same
# file and on a gzip-chunked copy (one chunk per map, level 4, the way maps
# files of other tools often come), the Python reference as a whole process,
# and --help of the programs (front ends without libtorch, core/runtime.h).
evalbin="$build/bin/ddad-eval"
wall_best() { # runs "$@" REPEAT times, prints the best wall time in seconds
    best=""
    for _ in $(seq "$repeat"); do
        t0=$(date +%s.%N); "$@" > /dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }; t1=$(date +%s.%N)
        best=$(awk -v a="$t0" -v b="$t1" -v c="$best" 'BEGIN { d = b - a; if (c == "" || d < c) c = d; printf "%.3f", c }')
    done
    echo "$best"
}
if [ -x "$evalbin" ]; then
    "$python" -c "
import h5py, sys
s = h5py.File(sys.argv[1], 'r'); d = h5py.File(sys.argv[2], 'w')
for k in s:
    a = s[k][...]
    if a.ndim == 3:
        d.create_dataset(k, data=a, chunks=(1,) + a.shape[1:], compression='gzip', compression_opts=4)
    else:
        d.create_dataset(k, data=a)
for k, v in s.attrs.items():
    d.attrs[k] = v
" "$work/maps.h5" "$work/maps_gz.h5"
    echo
    echo "## End to end (process start and reading included; best of $repeat)"
    echo
    echo "| command | wall (s) |"
    echo "|---|---|"
    echo "| ddad-eval --maps (all three metrics) | $(wall_best bench_same "$evalbin" --maps "$work/maps.h5") |"
    echo "| ddad-eval --maps, gzip-chunked copy | $(wall_best bench_same "$evalbin" --maps "$work/maps_gz.h5") |"
    echo "| python reference (metrics_reference.py bench: all three, one process) | $(wall_best bench_same "$python" "$here/metrics_reference.py" bench --maps "$work/maps.h5") |"
    for prog in ddad-eval ddad-train ddad-predict ddad-vis; do
        [ -x "$build/bin/$prog" ] && echo "| $prog --help | $(wall_best "$build/bin/$prog" --help) |"
    done
    [ -x "$build/libexec/ddad/ddad-eval" ] && \
        echo "| libexec/ddad/ddad-eval --help (the model side, libtorch loaded) | $(wall_best "$build/libexec/ddad/ddad-eval" --help) |"
fi

if [ "$big_n" -gt 0 ]; then
    echo
    echo "## C only, $big_n x $big_size x $big_size (maps made in memory)"
    echo
    bench_same "$bench" synth "$big_n" "$big_size" 1 > "$work/big.txt"
    echo "| metric | C cpu (s) | C wall (s) | value |"
    echo "|---|---|---|---|"
    awk '$1 ~ /^(pixel_auroc|au_pro|pixel_f1_max|all_three)$/ { printf "| %s | %.3f | %.3f | %.6f |\n", $1, $2, $4, $3 }' "$work/big.txt"
    awk '/^pixels/ { n = $2 } /^peak_rss_mb/ { p = $2 } /^maps_masks_mb/ { m = $2 } /^bytes_per_pixel/ { b = $2 }
         END { printf "\n%.0f pixels; peak RSS %.1f MB (maps + masks %.1f MB); %.2f bytes per pixel beyond them\n", n, p, m, b }' \
        "$work/big.txt"
fi
