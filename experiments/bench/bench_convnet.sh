#!/usr/bin/env bash
# Times one training step of the same small residual conv net through ddad's
# C API (bench_convnet) and through Debian's python3-torch (bench_convnet.py),
# alternating the two in one run, both under the same process settings
# (settings.sh: threads, OpenMP wait policy, malloc thresholds), and prints
# the ratio C / Python (<= 1.0 means no overhead from the wrapper). A separate
# row times the Python step under a user's defaults (glibc malloc defaults,
# OMP_WAIT_POLICY unset); its ratio is labelled as such.
#
# usage: experiments/bench/bench_convnet.sh [BUILD_DIR]   (default: build)
#   LAYOUT=channels_last puts weights and input of both sides in the
#   channels-last memory format (default: contiguous).
#   STEPS (20) timed steps per run (after 3 warm-up steps), THREADS (2),
#   REPS (2) alternations per size, SIZES ("64 128") image sizes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
py=${DDAD_PYTHON:-/usr/bin/python3}
threads=${THREADS:-2}
steps=${STEPS:-20}
reps=${REPS:-2}
sizes=${SIZES:-64 128}
layout=${LAYOUT:-contiguous}
. "$here/settings.sh"
case $layout in contiguous) lay=() ;; channels_last) lay=(channels_last) ;;
    *) echo "LAYOUT must be contiguous or channels_last, not '$layout'" >&2; exit 2 ;; esac
[ -x "$build/bin/bench_convnet" ] || { echo "bench_convnet not built: cmake --build $build --target bench_convnet" >&2; exit 2; }
bench_settings_line
echo "layout $layout, batch 8, 64 channels, $steps timed steps per run, best of $reps alternated runs"
fmt='%-8s %-70s %-13s %10s %s\n'
printf "$fmt" size side settings "ms/step" "ratio ddad / this"
for size in $sizes; do
    c_ms=(); p_ms=(); d_ms=()
    for rep in $(seq "$reps"); do   # alternate to spread machine noise over all three
        c_ms+=("$(bench_same "$build/bin/bench_convnet" "$size" 8 64 "$steps" "$threads" "${lay[@]}" | awk '{print $3}')")
        p_ms+=("$(bench_same "$py" "$here/bench_convnet.py" "$size" 8 64 "$steps" "$threads" "${lay[@]}" | awk '{print $3}')")
        d_ms+=("$(bench_user_defaults "$py" "$here/bench_convnet.py" "$size" 8 64 "$steps" "$threads" "${lay[@]}" | awk '{print $3}')")
    done
    c=$(printf '%s\n' "${c_ms[@]}" | sort -g | head -1)
    p=$(printf '%s\n' "${p_ms[@]}" | sort -g | head -1)
    d=$(printf '%s\n' "${d_ms[@]}" | sort -g | head -1)
    printf "$fmt" "$size px" "ddad (C API)" same "$(printf %.1f "$c")" ""
    printf "$fmt" "$size px" "python" same "$(printf %.1f "$p")" "$(awk -v c="$c" -v p="$p" 'BEGIN{printf "%.3f", c/p}')"
    printf "$fmt" "$size px" "$BENCH_USER_DEFAULTS_LABEL" "user defaults" "$(printf %.1f "$d")" \
        "$(awk -v c="$c" -v p="$d" 'BEGIN{printf "%.3f (against the user-defaults reference, not like with like)", c/p}')"
done
