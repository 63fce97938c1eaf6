#!/usr/bin/env bash
# Quality on real photographs: for each data set and category, trains ddad with
# CONFIG (default configs/cpu_real.yaml), evaluates it, re-scores the same model
# under ablations of the scoring levers, and measures the two floors
# (experiments/baselines: |x - mean training image| and a nearest-neighbour
# patch detector on ddad's frozen backbone) on the same images in the same run
# (under the same config: meandiff gets its score.smooth_sigma, like ddad).
# Writes <out>/quality.csv (one row per data set, category, setting),
# <out>/thresholds.csv (how each main run's threshold.json does on the test
# split: ddad-eval's deployment check) and <out>/quality.md (a Markdown table
# per data set and one of the thresholds, also on stdout).
#
# usage: experiments/quality.sh [--out DIR] [--bin DIR] [--config CONFIG]
#                               [--data NAME=ROOT[:CAT,CAT...]]... [--quick]
#                               [--train-ablations] [--ablations REGEX]
#                               [--set K=V]...
# --data   data sets in MVTec layout (repeatable). Default: mvtec_bottle =
#          ../shared/data/mvtec_ad_256:bottle when that folder exists, and
#          real_textures = datasets/real_textures (every category in it) when it
#          exists (make -f Makefile.data textures).
# --quick  the main setting and the floors only (no scoring ablations).
# --train-ablations  also retrain with the training levers (white noise,
#          iterations, rotation augmentation, flips, learning rate and its decay,
#          model width, image size 128) - each
#          one is a full training run.
# --ablations REGEX  only the ablations whose label matches REGEX (grep -E),
#          e.g. --ablations 'smooth_sigma|paper' for a shorter run. An ablation
#          that resolves to the main setting of CONFIG is skipped.
# Runs go to <out>/runs (resumed when a checkpoint is there: delete it to retrain).
# Exit codes: 0 ok, 2 usage or a program not built, 4 no data set found.
source "$(dirname "$0")/common.sh"
config="$root/configs/cpu_real.yaml"
datas=()
quick=0
train_abl=0
only=""
rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    --config) [ $# -ge 2 ] || die 2 "--config needs a file"; config=$2; shift ;;
    --data) [ $# -ge 2 ] || die 2 "--data needs NAME=ROOT[:CATS]"; datas+=("$2"); shift ;;
    --quick) quick=1 ;;
    --train-ablations) train_abl=1 ;;
    --ablations) [ $# -ge 2 ] || die 2 "--ablations needs a regular expression"; only=$2; shift ;;
    *) rest+=("$1") ;;
  esac
  shift
done
parse_common ${rest[@]+"${rest[@]}"}
[ ${#args[@]} -eq 0 ] || die 2 "unexpected argument ${args[0]} (see --help)"
[ -f "$config" ] || die 2 "config $config not found"
for p in ddad-train ddad-eval ddad-baselines; do need_prog $p; done

if [ ${#datas[@]} -eq 0 ]; then
  [ -d "$root/../shared/data/mvtec_ad_256/bottle" ] && datas+=("mvtec_bottle=$root/../shared/data/mvtec_ad_256:bottle")
  [ -d "$root/datasets/real_textures" ] && datas+=("real_textures=$root/datasets/real_textures")
fi
[ ${#datas[@]} -gt 0 ] ||
  die 4 "no data set: pass --data NAME=ROOT[:CATS], or build the textures (make -f Makefile.data textures)"

out=$(cd "$out" && pwd)
csv="$out/quality.csv"
echo "dataset,category,setting,image_auroc,pixel_auroc,au_pro,train_s,eval_s" > "$csv"
log="$out/quality.log"
: > "$log"

# The scoring ablations: each changes one lever of the main setting (same model).
ablations=(
  "paper scoring (image z-score, t 5/50/100, 1 draw, no smoothing, alpha 0.5)|--set score.normalize=image --set score.timesteps=[5,50,100] --set score.noise_draws=1 --set score.smooth_sigma=0 --set score.alpha=0.5"
  "normalize image (per-image z-score, the authors')|--set score.normalize=image"
  "good_std global (one std over all held-out pixels)|--set score.good_std=global"
  "good_timesteps average (the t-averaged map standardised, not each timestep's)|--set score.good_timesteps=average"
  "timesteps 5/50/100 (the paper's)|--set score.timesteps=[5,50,100]"
  "timesteps 1/3/5/10 (small only)|--set score.timesteps=[1,3,5,10]"
  "timesteps 1/3/5/10/50/100 (cpu_real's)|--set score.timesteps=[1,3,5,10,50,100]"
  "timesteps 0/1/3/5/10 (cpu_real_texture's)|--set score.timesteps=[0,1,3,5,10]"
  "noise_draws 1|--set score.noise_draws=1"
  "smooth_sigma 0|--set score.smooth_sigma=0"
  "smooth_sigma 1 (cpu_real_texture's)|--set score.smooth_sigma=1"
  "smooth_sigma 2 (cpu_real's)|--set score.smooth_sigma=2"
  "cpu_real's scoring (t 1/3/5/10/50/100, smooth_sigma 2)|--set score.timesteps=[1,3,5,10,50,100] --set score.smooth_sigma=2"
  "smooth_sigma 4|--set score.smooth_sigma=4"
  "alpha 0.5 (feature branch on, random backbone)|--set score.alpha=0.5"
)
train_ablations=(
  "white noise (the paper's; diffusion.noise white)|--set diffusion.noise=white"
  "iterations 250|--set train.iterations=250"
  "iterations 500|--set train.iterations=500"
  "rotation +-5 degrees (the paper's augmentation)|--set data.rotation_deg=5"
  "flips both ways (data.flip both)|--set data.flip=both"
  "learning rate 6e-4 (3x)|--set train.lr=6e-4"
  "constant learning rate (no linear decay)|--set train.lr_decay=constant"
  "model channels 64 (4x the UNet work)|--set model.channels=64"
  "image size 128, 250 iterations (2x the UNet work)|--set data.image_size=128 --set model.attention_resolutions=[16] --set score.smooth_sigma=4 --set train.iterations=250"
)

# wanted LABEL: true when --ablations was not given or LABEL matches it
wanted() { [ -z "$only" ] || printf '%s\n' "$1" | grep -Eq -- "$only"; }

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }

# metrics CSV line of `ddad-eval --format csv` -> "i p pro"
eval_metrics() { awk -F, 'NR == 2 { print $3, $4, $5 }'; }

row() { echo "$1,$2,\"$3\",$4,$5,$6,$7,$8" >> "$csv"; }

# run_args NAME ROOT CAT RUN_NAME: the options that point a program at one
# run of CAT (with the user's --set options) -> the array ra
run_args() {
  ra=(--set "data.root=$2" --set "data.category=$3" --set "run.dir=$out/runs/$1" --set "run.name=$4"
      ${sets[@]+"${sets[@]}"})
}

# train_eval NAME ROOT CAT RUN_NAME SETS... : trains (or resumes), evaluates; appends a row
train_eval() {
  local name=$1 droot=$2 cat=$3 rname=$4 setting=$5
  shift 5
  run_args "$name" "$droot" "$cat" "$rname"
  local s=("${ra[@]}" "$@")
  local t0 t1 t2 m
  t0=$(now)
  "$bin/ddad-train" "$config" "${s[@]}" --resume --quiet >> "$log" 2>&1 ||
    { echo "quality: training $name/$cat ($setting) failed: see $log" >&2; return 1; }
  t1=$(now)
  m=$("$bin/ddad-eval" "$config" "${s[@]}" --quiet --format csv 2>> "$log" | eval_metrics) ||
    { echo "quality: evaluating $name/$cat ($setting) failed: see $log" >&2; return 1; }
  t2=$(now)
  [ "$rname" = main ] && deploy_row "$name" "$cat" "${s[@]}"
  set -- $m
  row "$name" "$cat" "$setting" "$1" "$2" "$3" "$(secs "$t0" "$t1")" "$(secs "$t1" "$t2")"
  echo "quality: $name/$cat $setting: I-AUROC $1 P-AUROC $2 AU-PRO $3 (train $(secs "$t0" "$t1") s, eval $(secs "$t1" "$t2") s)" >&2
}

# deploy_row NAME CAT SETS...: the main run's deployment check (metrics.json:
# how threshold.json's thresholds do on the test split) -> thresholds.csv; the
# run folder is <run.dir>/<data format>/CAT/main (run.dir as SETS resolve it)
deploy_row() {
  local name=$1 cat=$2 rdir m
  shift 2
  rdir=$("$bin/ddad-eval" "$config" "$@" --print-config 2>/dev/null |
         awk '/^run:/ { r = 1; next } /^[^ ]/ { r = 0 } r && $1 == "dir:" { $1 = ""; sub(/^ /, ""); gsub(/"/, ""); print; exit }')
  m=$(ls "$rdir"/*/"$cat"/main/metrics.json 2>/dev/null | head -n 1)
  [ -n "$m" ] || { echo "quality: no metrics.json of $name/$cat under $rdir: no deployment check" >&2; return 0; }
  grep '"deployment_check"' "$m" | head -n 1 |
    awk -v ds="$name" -v cat="$cat" '{
      n = split("rule good_flagged good_images defective_flagged defective_images pixel_fpr pixel_fpr_good_images pixel_recall good_score_median calibration_score_median seen_in_training", k, " ")
      line = ds "," cat
      for (i = 1; i <= n; i++) {
        v = ""
        if (match($0, "\"" k[i] "\": (\"[^\"]*\"|[^,}]*)")) {
          v = substr($0, RSTART, RLENGTH); sub(/^[^:]*: /, "", v); gsub(/"/, "", v)
        }
        line = line "," v
      }
      print line
    }' >> "$tcsv"
}

tcsv="$out/thresholds.csv"
echo "dataset,category,rule,good_flagged,good_images,defective_flagged,defective_images,pixel_fpr,pixel_fpr_good_images,pixel_recall,good_score_median,calibration_score_median,seen_in_training" > "$tcsv"

for d in "${datas[@]}"; do
  name=${d%%=*}
  spec=${d#*=}
  droot=${spec%%:*}
  cats=""
  [ "$spec" != "$droot" ] && cats=${spec#*:}
  [ -d "$droot" ] || die 4 "data set $name: $droot is not a folder"
  if [ -z "$cats" ]; then
    cats=$(find "$droot" -mindepth 1 -maxdepth 1 -type d -exec test -d {}/train \; -printf '%f\n' | sort | paste -sd, -)
  fi
  [ -n "$cats" ] || die 4 "data set $name: no category folders with train/ under $droot"
  for cat in ${cats//,/ }; do
    train_eval "$name" "$droot" "$cat" main "ddad $(basename "$config" .yaml)" || continue
    if [ $quick = 0 ]; then
      run_args "$name" "$droot" "$cat" main
      base=("${ra[@]}")
      main_cfg=$("$bin/ddad-eval" "$config" "${base[@]}" --print-config 2>/dev/null)
      for a in "${ablations[@]}"; do
        label=${a%%|*}
        wanted "$label" || continue
        read -r -a extra <<< "${a#*|}"
        s=("${base[@]}" "${extra[@]}")
        # an ablation that is the main setting of this config (e.g. cpu_real's
        # timesteps under cpu_real) would only repeat the main row
        [ "$("$bin/ddad-eval" "$config" "${s[@]}" --print-config 2>/dev/null)" = "$main_cfg" ] && continue
        t1=$(now)
        m=$("$bin/ddad-eval" "$config" "${s[@]}" --quiet --format csv 2>> "$log" | eval_metrics) || m="nan nan nan"
        t2=$(now)
        set -- $m
        row "$name" "$cat" "ablation: $label" "$1" "$2" "$3" "" "$(secs "$t1" "$t2")"
      done
    fi
    if [ $train_abl = 1 ]; then
      k=0
      for a in "${train_ablations[@]}"; do
        k=$((k + 1))
        label=${a%%|*}
        wanted "$label" || continue
        read -r -a extra <<< "${a#*|}"
        train_eval "$name" "$droot" "$cat" "abl$k" "ablation: $label" "${extra[@]}" || true
      done
    fi
    # the floors, on the same images at the same size, with the same metrics code
    t1=$(now)
    "$bin/ddad-baselines" "$config" --set "data.root=$droot" --set "data.category=$cat" \
      ${sets[@]+"${sets[@]}"} --format csv 2>> "$log" |
      awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
               { gsub(/"/, ""); print $h["method"], $h["image_auroc"], $h["pixel_auroc"], $h["au_pro"], $h["seconds"] }' |
      while read -r method i p pro s; do
        row "$name" "$cat" "floor: $method" "$i" "$p" "$pro" "" "$s"
      done
  done
done

# Markdown: one table per data set, then the mean over its categories for each setting.
md="$out/quality.md"
awk '
  function pct(x) { return (x == "nan" || x == "") ? "-" : sprintf("%.1f", 100 * x) }
  function sec(x) { return x == "" ? "" : (x < 10 ? sprintf("%.1f", x) : sprintf("%.0f", x)) }
  # splits a CSV line into f[1..n]; a field in double quotes may hold commas
  function csv_split(line, f,    n, i, c, q, cur) {
    n = 0; q = 0; cur = ""
    for (i = 1; i <= length(line); i++) {
      c = substr(line, i, 1)
      if (c == "\"") q = !q
      else if (c == "," && !q) { f[++n] = cur; cur = "" }
      else cur = cur c
    }
    f[++n] = cur
    return n
  }
  NR == 1 { next }
  {
    csv_split($0, f)
    ds = f[1]; cat = f[2]; set = f[3]
    rows[ds] = rows[ds] sprintf("| %s | %s | %s | %s | %s | %s | %s |\n", cat, set, pct(f[4]), pct(f[5]), pct(f[6]), sec(f[7]), sec(f[8]))
    if (!(ds in seen)) { seen[ds] = 1; order[++nd] = ds }
    key = ds SUBSEP set
    if (!(key in cnt)) { sorder[ds, ++ns[ds]] = set }
    cnt[key]++; si[key] += f[4]; sp[key] += f[5]; sr[key] += f[6]
  }
  END {
    for (k = 1; k <= nd; k++) {
      ds = order[k]
      printf "### %s\n\n| category | setting | I-AUROC | P-AUROC | AU-PRO@0.3 | train s | eval s |\n|---|---|---:|---:|---:|---:|---:|\n%s\n", ds, rows[ds]
      printf "Mean over the categories of %s:\n\n| setting | I-AUROC | P-AUROC | AU-PRO@0.3 |\n|---|---:|---:|---:|\n", ds
      for (j = 1; j <= ns[ds]; j++) {
        set = sorder[ds, j]; key = ds SUBSEP set
        printf "| %s | %s | %s | %s |\n", set, pct(si[key] / cnt[key]), pct(sp[key] / cnt[key]), pct(sr[key] / cnt[key])
      }
      printf "\n"
    }
  }' "$csv" > "$md"
# The deployment thresholds (threshold.json of each main run) on the test split.
awk -F, 'NR == 1 { next }
  function pct(a, b) { return b > 0 ? sprintf("%d of %d (%.0f%%)", a, b, 100 * a / b) : "-" }
  function rate(x) { return x == "" || x == "null" ? "-" : sprintf("%.1f%%", 100 * x) }
  function num(x) { return x == "" || x == "null" ? "-" : sprintf("%.3g", x) }
  { if (!hdr) { printf "### Deployment thresholds on the test split\n\nthreshold.json of each ddad run (eval.threshold_rule, fitted on the held-out good images; on training images where the rule says so, which makes it too low), applied to the test images:\n\n| data set | category | rule | good images flagged | defective images flagged | normal pixels flagged | ... of good images | defect pixels flagged | median score: good test images | ... calibration images |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n"; hdr = 1 }
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3 ($13 == "true" ? " (on training images)" : ""), pct($4, $5), pct($6, $7), rate($8), rate($9), rate($10), num($11), num($12) }
  END { if (hdr) printf "\n" }' "$tcsv" >> "$md"
cat "$md"
echo "quality: $csv, $tcsv, $md (log: $log)" >&2
