#!/bin/sh
# One training step (batch from the loader, EfficientNet-B4 target, UNet + feature
# head forward, mse + vb + feat, backward, AdamW, EMA) of ddad's trainer against
# the same network and loss in Debian's python3-torch, at the demo size (64 px,
# configs/demo.yaml's model, batch 8) and a mid size (128 px, 64 channels,
# batch 4). Prints it/s of both and the ratio ddad/python (goal >= 1 in speed,
# i.e. ddad time / python time <= 1).
#
#   experiments/bench/bench_train_step.sh [BUILD_DIR] [STEPS]
#
#   DEVICE=cuda      both sides on the GPU (a CUDA libtorch build and a CUDA
#                    python in DDAD_PYTHON; gpu_check.sh does this)
#   LAYOUT=channels_last   4-D weights of both sides in channels-last
#   EXTRACTOR=1      ddad also reports the frozen extractor's share of a step
set -eu
BUILD=${1:-build}
STEPS=${2:-10}
PY=${DDAD_PYTHON:-/usr/bin/python3}
DEVICE=${DEVICE:-cpu}
case ${LAYOUT:-contiguous} in
    contiguous) CFLAG=""; PFLAG="" ;;
    channels_last) CFLAG="--channels-last"; PFLAG="--channels-last" ;;
    *) echo "LAYOUT must be contiguous or channels_last" >&2; exit 2 ;;
esac
if [ -n "${EXTRACTOR:-}" ]; then CFLAG="$CFLAG --time-extractor"; fi
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH="$BUILD/bin/bench_train_step"
[ -x "$BENCH" ] || { echo "build the target first: cmake --build $BUILD --target bench_train_step" >&2; exit 2; }
# both sides: 2 threads, OpenMP threads sleep instead of spinning (ddad-train does the same)
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=2

run() { # name, ddad --set args, python args
    name=$1; sets=$2; pyargs=$3
    c=$("$BENCH" "$SRC/configs/demo.yaml" --steps "$STEPS" --warmup 2 --set threads=2 --set device="$DEVICE" $sets $CFLAG)
    p=$($PY "$SRC/experiments/bench/bench_train_step.py" --steps "$STEPS" --warmup 2 --threads 2 --device "$DEVICE" $pyargs $PFLAG)
    echo "$name: $c"
    echo "$name: $p"
    printf '%s\n%s\n' "$c" "$p" | awk -v n="$name" 'NR == 1 { ci = $3; cm = $5; cp = $7; cr = $9 }
        NR == 2 { printf "%s: ddad %.3f it/s, python %.3f it/s, step-time ratio ddad/python %.3f (params %s / %s, peak RSS %s / %s MB)\n", n, ci, $3, cm / $5, cp, $7, cr, $9 }'
}

run "demo 64px b8" "" \
    "--size 64 --channels 32 --mult 1,2,2,2 --res-blocks 1 --attn 8 --head-channels 32 --classes 6 --tap 2 --feat 16 --batch 8"
run "mid 128px c64 b4" "--set data.image_size=128 --set model.channels=64 --set model.head_channels=64 --set model.attention_resolutions=[16] --set features.train_size=32 --set train.batch_size=4" \
    "--size 128 --channels 64 --mult 1,2,2,2 --res-blocks 1 --attn 16 --head-channels 64 --classes 6 --tap 2 --feat 32 --batch 4"
