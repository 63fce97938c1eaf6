#!/usr/bin/env bash
# Builds ddad against a CUDA libtorch (the one inside a pip PyTorch) and runs
# the GPU checks: the tensor-API and fixture tests with that libtorch, the demo
# training and evaluation on the GPU, and the training-step and scoring
# benchmarks against the same PyTorch on the same GPU, and the paper-size
# benchmark (bench_paper.sh: scoring in fp32, fp16 and bf16 and one training
# step at batch 1 and 2 with and without checkpointing, against the PyTorch
# reference, with the peak GPU memory of each). Writes its logs to OUT_DIR.
#
# usage: experiments/bench/gpu_check.sh PYTHON OUT_DIR [DEPS_ROOT] [FIXTURES]
#   PYTHON     an interpreter whose torch is CUDA-enabled
#   DEPS_ROOT  optional folder with Debian packages unpacked (dpkg -x) for
#              libraries the machine lacks (libyaml-dev, libcunit1-dev)
set -uo pipefail
py=$1; out=$2; deps=${3:-}; fixtures=${4:-}
mkdir -p "$out"
src=$(cd "$(dirname "$0")/../.." && pwd)
build="$src/build-cuda"
torch_prefix=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)')
cmake_args=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=$torch_prefix" "-DDDAD_PYTHON=$py")
if [ -n "$deps" ]; then
  lib="$deps/usr/lib/x86_64-linux-gnu"
  export PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$deps" LD_LIBRARY_PATH="$lib:${LD_LIBRARY_PATH:-}"
  cmake_args+=("-DCUNIT_LIBRARY=$lib/libcunit.so" "-DCUNIT_INCLUDE_DIR=$deps/usr/include")
fi
[ -n "$fixtures" ] && cmake_args+=("-DDDAD_FIXTURES_DIR=$fixtures")
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$out/gpu.txt" 2>&1
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' >> "$out/gpu.txt"

t0=$(date +%s)
cmake -S "$src" -B "$build" "${cmake_args[@]}" > "$out/configure.log" 2>&1 &&
  cmake --build "$build" -j"$(nproc)" -- -k > "$out/build.log" 2>&1
echo "build rc=$? in $(( $(date +%s) - t0 )) s" | tee -a "$out/summary.txt"
tail -30 "$out/build.log" > "$out/build.tail"

ctest --test-dir "$build" -R 'test_torch_tensor|test_nn_unet|test_nn_diffusion|test_nn_effnet|test_nn_checkpoint|test_nn_score_precision|test_nn_train_memory' \
  --output-on-failure -j4 > "$out/ctest.log" 2>&1
echo "ctest rc=$?" | tee -a "$out/summary.txt"; tail -15 "$out/ctest.log" >> "$out/summary.txt"

cd "$src"
"$build/bin/ddad-synth" --out datasets/synthetic > "$out/synth.log" 2>&1
t0=$(date +%s)
"$build/bin/ddad-train" configs/demo.yaml --device cuda --force --quiet --set threads=8 > "$out/train.log" 2>&1
echo "demo train on cuda rc=$? in $(( $(date +%s) - t0 )) s" | tee -a "$out/summary.txt"
tail -3 runs/mvtec/woven/train.log >> "$out/summary.txt" 2>/dev/null
t0=$(date +%s)
"$build/bin/ddad-eval" configs/demo.yaml --device cuda > "$out/eval.log" 2>&1
echo "demo eval on cuda rc=$? in $(( $(date +%s) - t0 )) s" | tee -a "$out/summary.txt"
cat "$out/eval.log" >> "$out/summary.txt"

for size in demo mid; do
  if [ $size = demo ]; then sets=(); pyargs=(--size 64 --channels 32 --mult 1,2,2,2 --res-blocks 1 --attn 8 --head-channels 32 --classes 6 --tap 2 --feat 16 --batch 8)
  else sets=(--set data.image_size=128 --set model.channels=64 --set model.head_channels=64 --set model.attention_resolutions=[16] --set features.train_size=32 --set train.batch_size=4)
       pyargs=(--size 128 --channels 64 --mult 1,2,2,2 --res-blocks 1 --attn 16 --head-channels 64 --classes 6 --tap 2 --feat 32 --batch 4); fi
  for dev in cuda; do
    c=$("$build/bin/bench_train_step" configs/demo.yaml --steps 30 --warmup 5 --set device=$dev "${sets[@]}" 2>>"$out/bench.err")
    p=$("$py" experiments/bench/bench_train_step.py --steps 30 --warmup 5 --device $dev "${pyargs[@]}" 2>>"$out/bench.err")
    echo "train step $size $dev: ddad [$c] python [$p]" | tee -a "$out/summary.txt"
  done
done

# scoring: the full anomaly-map computation, ddad vs the authors' procedure, on the GPU
DEVICE=cuda DDAD_PYTHON="$py" THREADS=8 IMAGES=${SCORE_IMAGES:-16} \
  "$src/experiments/bench/bench_score.sh" "$build" > "$out/score.log" 2>&1
echo "scoring benchmark on cuda rc=$?" | tee -a "$out/summary.txt"
cat "$out/score.log" >> "$out/summary.txt"
# the paper's size (configs/default.yaml, 553 M parameters) on the GPU
DEVICE=cuda DDAD_PYTHON="$py" THREADS=8 IMAGES=${PAPER_IMAGES:-4} SCORE="fp32 fp16 bf16" \
  SCORE_BATCH=${PAPER_SCORE_BATCH:-3} TRAIN_BATCHES="1 2" LOCK="$out/paper.lock" \
  "$src/experiments/bench/bench_paper.sh" "$build" > "$out/paper.log" 2>&1
echo "paper-size benchmark on cuda rc=$?" | tee -a "$out/summary.txt"
tail -20 "$out/paper.log" >> "$out/summary.txt"
