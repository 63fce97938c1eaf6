#!/bin/sh
# One training step (batch from the loader, EfficientNet-B4 target, UNet + feature
# head forward, mse + vb + feat, backward, AdamW, EMA) of ddad's trainer against
# the same network and loss in Debian's python3-torch, at the demo size (64 px,
# configs/demo.yaml's model, batch 8) and a mid size (128 px, 64 channels,
# batch 4). Both sides run under the same process settings (settings.sh:
# threads, OpenMP wait policy, malloc thresholds); a separate row runs the
# Python step under a user's defaults (glibc malloc defaults, OMP_WAIT_POLICY
# unset). Prints a table of it/s, median step time and peak RSS, and the
# step-time ratio ddad / python (same settings; <= 1 means ddad is faster);
# the user-defaults row's ratio is printed apart and labelled.
#
#   experiments/bench/bench_train_step.sh [BUILD_DIR] [STEPS]
#
#   STEPS=N          timed steps (after 2 warm-up steps; the second argument wins)
#   THREADS=N        threads of both sides (default 2)
#   DEVICE=cuda      both sides on the GPU (a CUDA libtorch build and a CUDA
#                    python in DDAD_PYTHON; gpu_check.sh does this)
#   LAYOUT=channels_last   4-D weights of both sides in channels-last
#   EXTRACTOR=1      ddad also reports the frozen extractor's share of a step
set -eu
BUILD=${1:-build}
STEPS=${2:-${STEPS:-10}}
THREADS=${THREADS:-2}
PY=${DDAD_PYTHON:-/usr/bin/python3}
DEVICE=${DEVICE:-cpu}
case ${LAYOUT:-contiguous} in
    contiguous) CFLAG=""; PFLAG="" ;;
    channels_last) CFLAG="--channels-last"; PFLAG="--channels-last" ;;
    *) echo "LAYOUT must be contiguous or channels_last" >&2; exit 2 ;;
esac
if [ -n "${EXTRACTOR:-}" ]; then CFLAG="$CFLAG --time-extractor"; fi
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/experiments/bench/settings.sh"
BENCH="$BUILD/bin/bench_train_step"
[ -x "$BENCH" ] || { echo "build the target first: cmake --build $BUILD --target bench_train_step" >&2; exit 2; }

bench_settings_line
echo "device $DEVICE, layout ${LAYOUT:-contiguous}, $STEPS timed steps after 2 warm-up steps, $THREADS threads; times are medians"
FMT='%-18s %-70s %-13s %9s %10s %10s %12s\n'
printf "$FMT" size side settings "it/s" "median ms" params "peak RSS MB"
RATIOS=""

run() { # name, ddad --set args, python args
    name=$1; sets=$2; pyargs=$3
    c=$(bench_same "$BENCH" "$SRC/configs/demo.yaml" --steps "$STEPS" --warmup 2 --set threads="$THREADS" --set device="$DEVICE" $sets $CFLAG)
    p=$(bench_same "$PY" "$SRC/experiments/bench/bench_train_step.py" --steps "$STEPS" --warmup 2 --threads "$THREADS" --device "$DEVICE" $pyargs $PFLAG)
    d=$(bench_user_defaults "$PY" "$SRC/experiments/bench/bench_train_step.py" --steps "$STEPS" --warmup 2 --threads "$THREADS" --device "$DEVICE" $pyargs $PFLAG)
    # lines: "<side> it/s X median_ms Y params P peak_rss_mb R [extractor_ms ...]"
    printf '%s\n%s\n%s\n' "$c" "$p" "$d" | awk -v n="$name" -v f="$FMT" -v ul="$BENCH_USER_DEFAULTS_LABEL" '
        { side = NR == 1 ? "ddad" : NR == 2 ? "python" : ul; set = NR == 3 ? "user defaults" : "same"
          printf f, n, side, set, $3, $5, $7, $9
          if (NF > 9) { extra = ""; for (i = 10; i <= NF; i++) extra = extra " " $i; printf "%-18s   ddad:%s\n", "", extra } }'
    RATIOS="$RATIOS$(printf '%s\n%s\n%s\n' "$c" "$p" "$d" | awk -v n="$name" '{ ms[NR] = $5 } END {
        printf "  %-18s ddad / python %.3f   |   ddad / python user defaults %.3f (reference under user defaults, not like with like)\n", n, ms[1] / ms[2], ms[1] / ms[3] }')
"
}

run "demo 64px b8" "" \
    "--size 64 --channels 32 --mult 1,2,2,2 --res-blocks 1 --attn 8 --head-channels 32 --classes 6 --tap 2 --feat 16 --batch 8"
run "mid 128px c64 b4" "--set data.image_size=128 --set model.channels=64 --set model.head_channels=64 --set model.attention_resolutions=[16] --set features.train_size=32 --set train.batch_size=4" \
    "--size 128 --channels 64 --mult 1,2,2,2 --res-blocks 1 --attn 16 --head-channels 64 --classes 6 --tap 2 --feat 32 --batch 4"
echo "step-time ratios (same settings on both sides unless labelled; below 1 means ddad is faster):"
printf '%s' "$RATIOS"
