#!/usr/bin/env bash
# scripts/slurm/submit.sh - submits the per-category training as one SLURM job
# array (scripts/slurm/train_categories.sbatch, task i = category i) and the
# evaluation (scripts/slurm/eval_categories.sbatch) to run after every task
# succeeded (--dependency=afterok). Run it from anywhere: relative paths are
# relative to the repository, where the jobs run. Prints the two job ids. See
# docs/fan-out.md.
#
# usage: scripts/slurm/submit.sh [options] [--set K=V]...
#   --categories "a b c"  categories (space- or comma-separated; default the 15 MVTec AD ones)
#   --config-dir DIR      per-category configs, DIR/<category>.yaml (configs)
#   --bin DIR             the programs (build/bin)
#   --cpus N              CPUs per task, also its thread count (8)
#   --gpu                 one GPU per task (--gres=gpu:1) and --set device=cuda
#   --max-parallel M      at most M tasks running at once (--array=...%M)
#   --log-dir DIR         job output and the table (runs/slurm)
#   --eval-always         evaluate even when some tasks failed (afterany: the
#                         table names what is missing)
#   --dry-run             print the sbatch commands, submit nothing
#   --set K=V             config override for ddad-train and ddad-eval (repeatable)
# Partition, account, QOS, time limits: sbatch's own environment variables
# (SBATCH_PARTITION, SBATCH_ACCOUNT, SBATCH_QOS, SBATCH_TIMELIMIT) or the
# scripts' #SBATCH lines.
# Exit codes: 0 submitted, 2 usage or a missing config, sbatch's on its failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
prog=submit
die() { echo "$prog: $2" >&2; exit "$1"; }

categories=
config_dir=configs
bin=build/bin
cpus=8
gpu=0
max_parallel=
log_dir=runs/slurm
dependency=afterok
dry=0
sets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --categories|--config-dir|--bin|--cpus|--max-parallel|--log-dir|--set)
      [ $# -ge 2 ] || die 2 "$1 needs a value (see --help)" ;;
  esac
  case "$1" in
    --categories) categories=$2; shift ;;
    --config-dir) config_dir=$2; shift ;;
    --bin) bin=$2; shift ;;
    --cpus) cpus=$2; shift ;;
    --max-parallel) max_parallel=$2; shift ;;
    --log-dir) log_dir=$2; shift ;;
    --set) sets+=(--set "$2"); shift ;;
    --gpu) gpu=1 ;;
    --eval-always) dependency=afterany ;;
    --dry-run) dry=1 ;;
    --help|-h) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die 2 "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
case "$cpus" in ''|*[!0-9]*|0) die 2 "--cpus: '$cpus' is not a positive number" ;; esac
case "$max_parallel" in *[!0-9]*) die 2 "--max-parallel: '$max_parallel' is not a number" ;; esac

# The category list and its order come from the array script itself.
train_script="$here/train_categories.sbatch"
eval_script="$here/eval_categories.sbatch"
if [ -n "$categories" ]; then export DDAD_CATEGORIES=$categories; fi
n=$(bash "$train_script" --count)
[ "$n" -gt 0 ] || die 2 "no categories given"
names=$(bash "$train_script" --list | cut -d' ' -f2 | tr '\n' ' ')
names=${names% }
missing=
for c in $names; do
  [ -f "$config_dir/$c.yaml" ] || missing="$missing $c"
done
[ -z "$missing" ] || die 2 "no config for:$missing (looked for $config_dir/<category>.yaml; set --config-dir or --categories)"

export DDAD_CATEGORIES=$names DDAD_CONFIG_DIR=$config_dir DDAD_BIN=$bin DDAD_ROOT=$root DDAD_LOG_DIR=$log_dir
if [ $gpu = 1 ]; then sets+=(--set device=cuda); fi
array="0-$((n - 1))${max_parallel:+%$max_parallel}"
train_cmd=(sbatch --parsable --export=ALL --chdir="$root" --array="$array" --cpus-per-task="$cpus"
  --output="$log_dir/%x-%A_%a.out")
if [ $gpu = 1 ]; then train_cmd+=(--gres=gpu:1); fi
train_cmd+=("$train_script" ${sets[@]+"${sets[@]}"})
eval_cmd=(sbatch --parsable --export=ALL --chdir="$root" --cpus-per-task="$cpus" --output="$log_dir/%x-%j.out")
if [ $gpu = 1 ]; then eval_cmd+=(--gres=gpu:1); fi

if [ $dry = 1 ]; then
  echo "DDAD_CATEGORIES='$names' DDAD_CONFIG_DIR=$config_dir DDAD_BIN=$bin DDAD_LOG_DIR=$log_dir"
  echo "${train_cmd[*]}"
  echo "${eval_cmd[*]} --dependency=$dependency:<array job id> $eval_script ${sets[*]}"
  exit 0
fi
command -v sbatch >/dev/null || die 2 "sbatch not found: run this on a SLURM login node (or use experiments/fanout.mk on one machine)"
mkdir -p "$log_dir"
jid=$("${train_cmd[@]}")
jid=${jid%%;*} # --parsable prints "id" or "id;cluster"
eid=$("${eval_cmd[@]}" --dependency="$dependency:$jid" "$eval_script" ${sets[@]+"${sets[@]}"})
eid=${eid%%;*}
echo "training: job array $jid ($n tasks: $names)"
echo "evaluation: job $eid, after $dependency:$jid; table in $log_dir/table.txt"
echo "follow: squeue -j $jid,$eid; logs in $log_dir/"
