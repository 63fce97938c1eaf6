#!/usr/bin/env bash
# The one-command demo on the built-in synthetic data set: generate the data,
# train the CPU-sized model of configs/demo.yaml, evaluate it (prints the
# metrics table), draw the figures and inspect a folder of images with the
# calibrated threshold (ddad-predict). Re-running it resumes or reuses what is
# already there.
#
# usage: scripts/demo.sh [BUILD_DIR]      (default: build; `make demo` calls it)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bin="$build/bin"
config=${DDAD_DEMO_CONFIG:-configs/demo.yaml}
for prog in ddad-synth ddad-train ddad-eval ddad-vis ddad-predict; do
  [ -x "$bin/$prog" ] || { echo "demo: $bin/$prog is missing: build first (make build)" >&2; exit 2; }
done
start=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - start )) s) =="; }

step "1/5 synthetic data set"
make -s -f Makefile.data synthetic BIN="$bin"

run_dir=$("$bin/ddad-vis" "$config" --print-run-dir)
step "2/5 training $config into $run_dir"
if ls "$run_dir"/checkpoints/step_*.h5 >/dev/null 2>&1; then
  "$bin/ddad-train" "$config" --resume --quiet
else
  "$bin/ddad-train" "$config" --quiet
fi

step "3/5 evaluation"
"$bin/ddad-eval" "$config" --quiet

step "4/5 figures"
"$bin/ddad-vis" "$config" --count 4

# the first category's test images, as a user's unlabelled folder would be
root=$("$bin/ddad-predict" "$config" --print-config | sed -n 's/^  root: "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' | head -1)
category=$("$bin/ddad-predict" "$config" --print-config | sed -n 's/^  category: "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' | head -1)
step "5/5 inspecting $root/$category/test with ddad-predict"
"$bin/ddad-predict" "$config" "$root/$category/test" --save heat,overlay --quiet \
  --out "$run_dir/predictions"

echo
echo "demo finished in $(( $(date +%s) - start )) s"
echo "  metrics:  $run_dir/metrics.json (table above), $run_dir/metrics.csv"
echo "  curves:   $run_dir/roc.png $run_dir/pro.png"
echo "  training: $run_dir/train.log $run_dir/loss.png"
echo "  figures:  $run_dir/figures/"
echo "  inspect:  $run_dir/predictions/predictions.csv, images/ (threshold: $run_dir/threshold.json)"
