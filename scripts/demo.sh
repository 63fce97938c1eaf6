#!/usr/bin/env bash
# The one-command demo on the built-in synthetic data set: generate the data,
# train the CPU-sized model of configs/demo.yaml, evaluate it (prints the
# metrics table) and draw the figures. Re-running it resumes or reuses what is
# already there.
#
# usage: scripts/demo.sh [BUILD_DIR]      (default: build; `make demo` calls it)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bin="$build/bin"
config=${DDAD_DEMO_CONFIG:-configs/demo.yaml}
for prog in ddad-synth ddad-train ddad-eval ddad-vis; do
  [ -x "$bin/$prog" ] || { echo "demo: $bin/$prog is missing: build first (make build)" >&2; exit 2; }
done
start=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - start )) s) =="; }

step "1/4 synthetic data set"
make -s -f Makefile.data synthetic BIN="$bin"

run_dir=$("$bin/ddad-vis" "$config" --print-run-dir)
step "2/4 training $config into $run_dir"
if ls "$run_dir"/checkpoints/step_*.h5 >/dev/null 2>&1; then
  "$bin/ddad-train" "$config" --resume --quiet
else
  "$bin/ddad-train" "$config" --quiet
fi

step "3/4 evaluation"
"$bin/ddad-eval" "$config" --quiet

step "4/4 figures"
"$bin/ddad-vis" "$config" --count 4

echo
echo "demo finished in $(( $(date +%s) - start )) s"
echo "  metrics:  $run_dir/metrics.json (table above), $run_dir/metrics.csv"
echo "  curves:   $run_dir/roc.png $run_dir/pro.png"
echo "  training: $run_dir/train.log $run_dir/loss.png"
echo "  figures:  $run_dir/figures/"
