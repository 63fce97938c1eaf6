#!/usr/bin/env bash
# The paper-size benchmark: configs/default.yaml (256 px, 553 M-parameter ADM
# UNet, EfficientNet-B4, random weights), every process under the settings of
# settings.sh (threads, OMP_WAIT_POLICY=PASSIVE, ddad's malloc thresholds).
#
#   scoring     seconds per image (IMAGES timed images after one warm-up image,
#               SCORE_BATCH (image, timestep) pairs per UNet call: 1, the
#               leanest and on 2 CPU cores not slower than 3, an image's 3
#               timesteps in one call) and peak RSS:
#                 ddad fp32, ddad bf16 (score.precision: bf16, from a two-line
#                 config whose `base:` is configs/default.yaml)
#                 python fp32: the authors' procedure (bench_score.py with the
#                 paper's model arguments), when REFERENCE=1
#   training    one step (no warm-up) at each batch size of TRAIN_BATCHES:
#                 ddad plain and with train.checkpointing=true (bench_train_step)
#                 python plain (bench_train_step.py, the same network and
#                 loss), when REFERENCE=1
#
# Peak RSS is /usr/bin/time -v's "Maximum resident set size" (the programs'
# own peak_rss_mb where /usr/bin/time is missing). Each run takes 4 to 17 GB
# at batch 1 (more at batch 2) and holds the lock file LOCK (flock) while it
# runs, so that big runs of other jobs on the machine never overlap it. It takes many minutes (about
# 40 s to 2 min per scored image or training step on 2 cores; run.sh runs it
# only with PAPER=1).
#
# usage: experiments/bench/bench_paper.sh [BUILD_DIR]          (default: build)
#   IMAGES (2)               timed images per scoring run
#   THREADS (2)              threads of every process
#   REFERENCE (1)            0 skips the Python rows (about 50 s per image and
#                            2 min per training step)
#   DEVICE (cpu)             cpu, cuda or cuda:N: every run on that device (a CUDA
#                            build and a CUDA python in DDAD_PYTHON; gpu_check.sh);
#                            on a GPU the table adds the peak GPU memory in use
#                            (nvidia-smi, sampled every 100 ms, less what was in
#                            use before the run)
#   SCORE ("fp32 bf16")      ddad scoring precisions to run ("" skips them; fp16
#                            needs a GPU)
#   SCORE_BATCH (1)          score.batch_size of the ddad scoring rows
#   TRAIN_BATCHES ("1 2")    batch sizes of the training step ("" skips training)
#   CHECKPOINTING ("false true")  train.checkpointing values of the ddad rows
#   LOCK (/tmp/ddad-bigmem.lock)
#   DDAD_PYTHON (/usr/bin/python3)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-build}
py=${DDAD_PYTHON:-/usr/bin/python3}
threads=${THREADS:-2}
images=${IMAGES:-2}
reference=${REFERENCE:-1}
device=${DEVICE:-cpu}
score_precisions=${SCORE-fp32 bf16}
score_batch=${SCORE_BATCH:-1}
train_batches=${TRAIN_BATCHES-1 2}
checkpointing=${CHECKPOINTING-false true}
lock=${LOCK:-/tmp/ddad-bigmem.lock}
. "$here/settings.sh"
BENCH_NO_DEFAULTS_ROW=1   # no user-defaults row in this table
for prog in bench_score bench_train_step; do
    [ -x "$build/bin/$prog" ] || { echo "$prog not built: cmake --build $build --target $prog" >&2; exit 2; }
done
command -v flock >/dev/null || { echo "bench_paper.sh: flock (util-linux) is needed" >&2; exit 2; }
timev=()
[ -x /usr/bin/time ] && timev=(/usr/bin/time -v)

config="$root/configs/default.yaml"
# the paper's model (configs/default.yaml) in the references' arguments
score_ref_args=(256 256 1,1,2,2,4,4 2 32,16,8 64 15 10 16)   # size channels mult res_blocks attn head_channels classes tap score_size
train_ref_args=(--size 256 --channels 256 --mult 1,1,2,2,4,4 --res-blocks 2 --attn 32,16,8 --head-channels 64
                --classes 15 --tap 10 --feat 64)

work=$(mktemp -d "${TMPDIR:-/tmp}/ddad-bench-paper.XXXXXX")
trap 'rm -rf "$work"' EXIT
printf 'base: %s\nscore: {precision: bf16}\n' "$config" > "$work/bf16.yaml"
printf 'base: %s\nscore: {precision: fp16}\n' "$config" > "$work/fp16.yaml"

key() { awk -v k="$1" '$1 == k {print $2; exit}' "$2"; }   # "key value" lines
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' "$2"; }   # "... key value ..." on one line
peak_mb() { # name: on a GPU the peak GPU memory in MB (sampled, less the memory in use before);
           # else time -v's peak RSS in MB, else the program's own
    if [ "$gpu" = 1 ] && [ -s "$work/$1.gpu" ]; then
        awk -v b="$(cat "$work/$1.gpu0" 2>/dev/null)" '$1 + 0 > m { m = $1 + 0 } END { printf "%.0f", m - (b + 0) }' "$work/$1.gpu"
        return
    fi
    local kb
    kb=$(awk -F': *' '/Maximum resident set size/ {print $2}' "$work/$1.err")
    if [ -n "$kb" ]; then awk -v k="$kb" 'BEGIN {printf "%.0f", k / 1024}'
    else { key peak_rss_mb "$work/$1.out"; field peak_rss_mb "$work/$1.out"; } | head -1; fi
}
wall_s() { # name: time -v's elapsed wall clock time in seconds
    awk -F': ' '/Elapsed \(wall clock\) time/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = 60 * s + p[i]; printf "%.0f", s }' "$work/$1.err"
}
# big NAME CMD...: runs CMD under the settings, holding the lock; stdout in
# NAME.out, stderr (and time -v's report) in NAME.err; a failure is reported
# and recorded, the other runs go on
failed=()
gpu=0
[ "$device" = cpu ] || { command -v nvidia-smi >/dev/null && gpu=1; }
gpu_index=0
case $device in cuda:*) gpu_index=${device#cuda:} ;; esac
gpu_used() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$gpu_index" 2>/dev/null | head -1; }
big() {
    local name=$1; shift
    echo "bench_paper.sh: $name ($(date +%H:%M:%S), waiting for $lock if another big run holds it)" >&2
    local sampler=""
    if [ "$gpu" = 1 ]; then # the peak GPU memory in use during the run, less what was in use before
        gpu_used > "$work/$name.gpu0"
        (while :; do gpu_used; sleep 0.1; done) > "$work/$name.gpu" 2>/dev/null &
        sampler=$!
    fi
    local rc=0
    bench_same flock "$lock" "${timev[@]}" "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
    [ -z "$sampler" ] || { kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null; }
    if [ "$rc" != 0 ]; then
        echo "bench_paper.sh: $name failed (its messages follow; on the CPU, out of memory is likely at batch 2): $*" >&2
        { sed '/Command being timed/,$d' "$work/$name.err" | tail -5; grep -E 'Exit status|signal' "$work/$name.err"; } >&2
        failed+=("$name")
        return 1
    fi
}

# ---- runs
for prec in $score_precisions; do
    case $prec in fp32) cfg=$config ;; bf16|fp16) cfg="$work/$prec.yaml" ;;
        *) echo "SCORE: fp32, bf16 and/or fp16, not '$prec'" >&2; exit 2 ;; esac
    big "score_ddad_$prec" "$build/bin/bench_score" "$cfg" "$images" "$threads" same "$score_batch" --device "$device"
done
if [ "$reference" = 1 ] && [ -n "$score_precisions" ]; then
    big score_python "$py" "$here/bench_score.py" "$images" "$threads" "${score_ref_args[@]}" --device "$device"
fi
for b in $train_batches; do
    for ck in $checkpointing; do
        big "train_ddad_b${b}_ck$ck" "$build/bin/bench_train_step" "$config" --steps 1 --warmup 0 \
            --set threads="$threads" --set data.category=woven --set train.batch_size="$b" --set train.checkpointing="$ck" \
            --set device="$device"
    done
    if [ "$reference" = 1 ]; then
        big "train_python_b$b" "$py" "$here/bench_train_step.py" "${train_ref_args[@]}" --batch "$b" \
            --steps 1 --warmup 0 --threads "$threads" --device "$device"
    fi
done

# ---- table
ok() { [ -s "$work/$1.out" ] && ! printf '%s\n' "${failed[@]}" | grep -qx "$1"; }
echo
bench_settings_line
echo "device $device; configs/default.yaml: 256 px, random weights; scoring: $images timed image(s) after one warm-up image, score.batch_size $score_batch ((image, t) pairs per UNet call);"
echo "training: one step, no warm-up, synthetic images (data.category=woven); peak memory: $([ "$gpu" = 1 ] && echo "GPU memory in use (nvidia-smi, every 100 ms) less that before the run" || echo "RSS from ${timev[*]:-getrusage in the programs}")"
fmt='%-46s %12s %12s %12s %14s  %s\n'
memcol="peak RSS MB"; [ "$gpu" = 1 ] && memcol="peak GPU MB"
printf "$fmt" case params "s/image|step" "$memcol" "process wall s" "ratio"
sp=""; spm=""
if ok score_python; then sp=$(key ms_per_image "$work/score_python.out"); spm=$(peak_mb score_python); fi
for prec in $score_precisions; do
    n=score_ddad_$prec
    if ok "$n"; then
        ms=$(key ms_per_image "$work/$n.out"); pm=$(peak_mb "$n")
        r="-"
        [ -n "$sp" ] && r=$(awk -v p="$sp" -v c="$ms" -v pm="$spm" -v cm="$pm" \
            'BEGIN { printf "python fp32 / this: %.2fx time, this / python: %.2f peak memory", p / c, cm / pm }')
        mm=$(key model_peak_rss_mb "$work/$n.out")   # printed by newer bench_score builds
        [ -z "$mm" ] || r="$([ "$r" = - ] || printf '%s; ' "$r")model alone $(printf %.0f "$mm") MB peak"
        printf "$fmt" "score: ddad $prec" "$(key params "$work/$n.out")" "$(awk -v m="$ms" 'BEGIN {printf "%.2f", m / 1000}')" \
            "$pm" "$(wall_s "$n")" "$r"
    else printf "$fmt" "score: ddad $prec" - failed - - ""; fi
done
if [ "$reference" = 1 ] && [ -n "$score_precisions" ]; then
    if ok score_python; then
        printf "$fmt" "score: python fp32 (authors' procedure)" "$(key params "$work/score_python.out")" \
            "$(awk -v m="$sp" 'BEGIN {printf "%.2f", m / 1000}')" "$spm" "$(wall_s score_python)" "reference"
    else printf "$fmt" "score: python fp32 (authors' procedure)" - failed - - ""; fi
elif [ -n "$score_precisions" ]; then
    printf "$fmt" "score: python fp32 (authors' procedure)" - "not run" - - "(REFERENCE=0)"
fi
for b in $train_batches; do
    pn=train_python_b$b; pms=""; ppm=""
    if [ "$reference" = 1 ] && ok "$pn"; then pms=$(field median_ms "$work/$pn.out"); ppm=$(peak_mb "$pn"); fi
    plain_pm=""
    for ck in $checkpointing; do
        n=train_ddad_b${b}_ck$ck
        label="train b$b: ddad"; [ "$ck" = true ] && label="$label, checkpointing"
        if ok "$n"; then
            ms=$(field median_ms "$work/$n.out"); pm=$(peak_mb "$n")
            [ "$ck" = false ] && plain_pm=$pm
            r=""
            [ -n "$pms" ] && r=$(awk -v p="$pms" -v c="$ms" -v pm="$ppm" -v cm="$pm" \
                'BEGIN { printf "this / python: %.2f time, %.2f peak memory", c / p, cm / pm }')
            [ "$ck" = true ] && [ -n "$plain_pm" ] && r="$r${r:+; }peak memory / ddad plain $(awk -v a="$pm" -v b="$plain_pm" 'BEGIN {printf "%.2f", a / b}')"
            printf "$fmt" "$label" "$(field params "$work/$n.out")" "$(awk -v m="$ms" 'BEGIN {printf "%.1f", m / 1000}')" \
                "$pm" "$(wall_s "$n")" "$r"
        else printf "$fmt" "$label" - failed - - ""; fi
    done
    if [ "$reference" != 1 ]; then printf "$fmt" "train b$b: python" - "not run" - - "(REFERENCE=0)"
    elif [ -n "$pms" ]; then
        printf "$fmt" "train b$b: python" "$(field params "$work/$pn.out")" "$(awk -v m="$pms" 'BEGIN {printf "%.1f", m / 1000}')" \
            "$ppm" "$(wall_s "$pn")" "reference"
    else printf "$fmt" "train b$b: python" - failed - - ""; fi
done
ps=$(key params "$work/score_python.out" 2>/dev/null); cs=$(for p in $score_precisions; do key params "$work/score_ddad_$p.out" 2>/dev/null; done | head -1)
[ -z "$ps" ] || [ -z "$cs" ] || [ "$ps" = "$cs" ] || echo "warning: parameter counts differ (ddad $cs, python $ps)"
if [ ${#failed[@]} -gt 0 ]; then echo "failed: ${failed[*]}"; exit 1; fi
