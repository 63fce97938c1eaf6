#!/bin/sh
# One training step (batch from the loader, EfficientNet-B4 target, UNet + feature
# head forward, mse + vb + feat, backward, AdamW, EMA) of ddad's trainer against
# the same network and loss in Debian's python3-torch, at the demo size (64 px,
# configs/demo.yaml's model, batch 8) and a mid size (128 px, 64 channels,
# batch 4). Prints it/s of both and the ratio ddad/python (goal >= 1 in speed,
# i.e. ddad time / python time <= 1).
#
#   experiments/bench/bench_train_step.sh [BUILD_DIR] [STEPS]
set -eu
BUILD=${1:-build}
STEPS=${2:-10}
PY=/usr/bin/python3
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH="$BUILD/bin/bench_train_step"
[ -x "$BENCH" ] || { echo "build the target first: cmake --build $BUILD --target bench_train_step" >&2; exit 2; }
# both sides: 2 threads, OpenMP threads sleep instead of spinning (ddad-train does the same)
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=2

run() { # name, ddad --set args, python args
    name=$1; sets=$2; pyargs=$3
    c=$("$BENCH" "$SRC/configs/demo.yaml" --steps "$STEPS" --warmup 2 --set threads=2 $sets)
    p=$($PY "$SRC/experiments/bench/bench_train_step.py" --steps "$STEPS" --warmup 2 --threads 2 $pyargs)
    echo "$name: $c"
    echo "$name: $p"
    echo "$c" "$p" | awk -v n="$name" '{ printf "%s: ddad %.3f it/s, python %.3f it/s, step-time ratio ddad/python %.3f (params %s / %s, peak RSS %s / %s MB)\n", n, $3, $12, $5 / $14, $7, $16, $9, $18 }'
}

run "demo 64px b8" "" \
    "--size 64 --channels 32 --mult 1,2,2,2 --res-blocks 1 --attn 8 --head-channels 32 --classes 6 --tap 2 --feat 16 --batch 8"
run "mid 128px c64 b4" "--set data.image_size=128 --set model.channels=64 --set model.head_channels=64 --set model.attention_resolutions=[16] --set features.train_size=32 --set train.batch_size=4" \
    "--size 128 --channels 64 --mult 1,2,2,2 --res-blocks 1 --attn 16 --head-channels 64 --classes 6 --tap 2 --feat 32 --batch 4"
