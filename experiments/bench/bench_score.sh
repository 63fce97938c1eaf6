#!/usr/bin/env bash
# Images/s of the full anomaly-map computation (3 timesteps, KL + feature
# maps, EfficientNet-B4 targets) at the demo size (configs/demo.yaml, 64 px,
# random weights), in one run:
#   ddad same     one UNet forward per (image, t), (image, t) pairs batched (score.batch_size 8)
#   ddad quirk/1  the authors' two forwards per (image, t), one pair per call:
#                 the same UNet calls as the reference
#   python        the authors' procedure in PyTorch (bench_score.py), one image at a time
# all three under the same process settings (settings.sh: threads, OpenMP
# wait policy, malloc thresholds), and the ratios: python / ddad same (total
# gain), python / ddad quirk/1 (implementation), ddad quirk/1 / ddad same
# (algorithm + batching). A fourth, separate row runs the reference under a
# user's defaults (glibc malloc defaults, OMP_WAIT_POLICY unset); its ratio is
# printed apart and labelled. Also the peak RSS of each process (model
# included).
#
# usage: experiments/bench/bench_score.sh [BUILD_DIR]   (IMAGES=8 THREADS=2 DEVICE=cpu)
#   DEVICE=cuda (or cuda:N) runs both sides on that GPU: build BUILD_DIR against
#   a CUDA libtorch and point DDAD_PYTHON at the matching CUDA-enabled python
#   (experiments/bench/gpu_check.sh does both).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-build}
py=${DDAD_PYTHON:-/usr/bin/python3}
threads=${THREADS:-2}
images=${IMAGES:-8}
device=${DEVICE:-cpu}
. "$here/settings.sh"
[ -x "$build/bin/bench_score" ] || { echo "bench_score not built: cmake --build $build --target bench_score" >&2; exit 2; }
key() { awk -v k="$1" '$1 == k {print $2}'; }
err=$(mktemp); trap 'rm -f "$err"' EXIT
# stderr (the random-weights warning) is shown only when a side fails
side() { "$@" 2>"$err" || { echo "bench_score.sh: failed: $*" >&2; cat "$err" >&2; exit 1; }; }
same=$(side bench_same "$build/bin/bench_score" "$root/configs/demo.yaml" "$images" "$threads" same 8 --device "$device")
quirk=$(side bench_same "$build/bin/bench_score" "$root/configs/demo.yaml" "$images" "$threads" quirk 1 --device "$device")
pyout=$(side bench_same "$py" "$here/bench_score.py" "$images" "$threads" --device "$device")
pydef=$(side bench_user_defaults "$py" "$here/bench_score.py" "$images" "$threads" --device "$device")
bench_settings_line
echo "device $device, $images images after one warm-up image, $threads threads"
fmt='%-70s %-13s %10s %10s %9s %12s %12s\n'
printf "$fmt" case settings unet_calls "ms/image" "images/s" "peak RSS MB" "peak GPU MB"
for name in same quirk pyout pydef; do
    out=${!name}
    case $name in
        same) label="ddad same"; set_=same ;;
        quirk) label="ddad quirk/1"; set_=same ;;
        pyout) label="python"; set_=same ;;
        pydef) label=$BENCH_USER_DEFAULTS_LABEL; set_="user defaults" ;;
    esac
    gpu=$(key peak_gpu_mb <<<"$out"); [ -n "$gpu" ] || gpu=-
    printf "$fmt" "$label" "$set_" "$(key unet_calls <<<"$out")" "$(key ms_per_image <<<"$out")" \
        "$(key images_per_s <<<"$out")" "$(key peak_rss_mb <<<"$out")" "$gpu"
done
s=$(key ms_per_image <<<"$same"); q=$(key ms_per_image <<<"$quirk"); p=$(key ms_per_image <<<"$pyout")
d=$(key ms_per_image <<<"$pydef")
[ "$(key params <<<"$same")" = "$(key params <<<"$pyout")" ] || echo "warning: parameter counts differ (C $(key params <<<"$same"), python $(key params <<<"$pyout"))"
awk -v s="$s" -v q="$q" -v p="$p" -v d="$d" 'BEGIN {
    print "ratios, same settings on both sides:";
    printf "  speed-up python / ddad same:        %.2f (total)\n", p / s;
    printf "  speed-up python / ddad quirk/1:     %.2f (same UNet calls: implementation)\n", p / q;
    printf "  speed-up ddad quirk/1 / ddad same:  %.2f (one forward per t + batching: algorithm)\n", q / s;
    print "reference under user defaults (separate row, not like with like):";
    printf "  python user defaults / ddad same:   %.2f\n", d / s;
    printf "  python user defaults / python:      %.2f (what the settings are worth to the reference)\n", d / p }'
