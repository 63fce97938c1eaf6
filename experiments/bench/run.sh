#!/usr/bin/env bash
# Runs every benchmark of experiments/bench in one go (`make bench`). Each
# prints its own table with ratios against a reference measured in the same
# run; README.md beside this file keeps the latest numbers and the machine.
#
# usage: experiments/bench/run.sh [BUILD_DIR]     (default: build)
#   PAPER=1 also runs bench_paper.sh, the paper-size benchmark (many minutes,
#   4 to 22 GB per process; its options are described in that script)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
cmake --build "$build" --target bench_convnet bench_train_step bench_score bench_metrics ddad-train ddad-synth -j2 >/dev/null
echo "== wrapper overhead: small conv net training step (bench_convnet.sh) =="
"$here/bench_convnet.sh" "$build"
echo; echo "== UNet training step (bench_train_step.sh) =="
"$here/bench_train_step.sh" "$build"
echo; echo "== anomaly-map scoring (bench_score.sh) =="
"$here/bench_score.sh" "$build"
echo; echo "== metrics on a 200 x 256 x 256 maps file (bench_metrics.sh) =="
BIG_N=${BIG_N:-0} "$here/bench_metrics.sh" "$build"
echo; echo "== data-parallel scaling from 1 to 2 processes (bench_dist.sh) =="
"$here/bench_dist.sh" "$build"
if [ "${PAPER:-0}" = 1 ]; then
    echo; echo "== paper size: configs/default.yaml scoring and training step (bench_paper.sh) =="
    "$here/bench_paper.sh" "$build"
fi
