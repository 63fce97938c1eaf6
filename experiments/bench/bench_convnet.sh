#!/usr/bin/env bash
# Times one training step of the same small residual conv net through ddad's
# C API (bench_convnet) and through Debian's python3-torch (bench_convnet.py),
# alternating the two in one run, and prints the ratio C / Python (<= 1.0
# means no overhead from the wrapper).
#
# usage: experiments/bench/bench_convnet.sh [BUILD_DIR]   (default: build)
#   LAYOUT=channels_last puts weights and input of both sides in the
#   channels-last memory format (default: contiguous).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
py=${DDAD_PYTHON:-/usr/bin/python3}
threads=${THREADS:-2}
steps=${STEPS:-20}
layout=${LAYOUT:-contiguous}
case $layout in contiguous) lay=() ;; channels_last) lay=(channels_last) ;;
    *) echo "LAYOUT must be contiguous or channels_last, not '$layout'" >&2; exit 2 ;; esac
[ -x "$build/bin/bench_convnet" ] || { echo "bench_convnet not built: cmake --build $build --target bench_convnet" >&2; exit 2; }
echo "layout $layout"
printf '%-12s %8s %8s %12s %12s %8s\n' case size batch "ddad ms" "python ms" ratio
for cfg in "64 8 64" "128 8 64"; do
    set -- $cfg
    c_ms=(); p_ms=()
    for rep in 1 2; do   # alternate to spread machine noise over both
        c_ms+=("$("$build/bin/bench_convnet" "$1" "$2" "$3" "$steps" "$threads" "${lay[@]}" | awk '{print $3}')")
        p_ms+=("$("$py" "$here/bench_convnet.py" "$1" "$2" "$3" "$steps" "$threads" "${lay[@]}" | awk '{print $3}')")
    done
    c=$(printf '%s\n' "${c_ms[@]}" | sort -g | head -1)
    p=$(printf '%s\n' "${p_ms[@]}" | sort -g | head -1)
    printf '%-12s %8s %8s %12.1f %12.1f %8.3f\n' convnet "$1" "$2" "$c" "$p" "$(awk -v c="$c" -v p="$p" 'BEGIN{print c/p}')"
done
