#!/usr/bin/env bash
# Table 2: per-category models against the unified (class-conditional) model,
# pixel AUROC and AU-PRO per category with mean rows and the paper's means,
# as Markdown (<out>/table2.md, also on stdout) and LaTeX (<out>/table2.tex).
#
# usage: experiments/table2.sh [--unified CONFIG] [--unified-set K=V]... [--out DIR] [--set K=V]... [PER_CATEGORY_CONFIG...]
#        experiments/table2.sh --demo [--out DIR] [--set K=V]...
# Defaults: --unified configs/unified.yaml and configs/<category>.yaml for each
# category the unified run evaluated (--demo: configs/demo_unified.yaml and
# configs/demo.yaml). Needs ddad-vis and the metrics.json files of ddad-eval
# (<unified run>/<category>/metrics.json). A missing run exits with 4.
# --set applies to every config, --unified-set to the unified one only.
source "$(dirname "$0")/common.sh"
unified=""
usets=()
rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    --unified) [ $# -ge 2 ] || { echo "table2: --unified needs a config" >&2; exit 2; }; unified=$2; shift ;;
    --unified-set) [ $# -ge 2 ] || { echo "table2: --unified-set needs KEY=VALUE" >&2; exit 2; }; usets+=(--set "$2"); shift ;;
    *) rest+=("$1") ;;
  esac
  shift
done
parse_common ${rest[@]+"${rest[@]}"}
[ -n "$unified" ] || unified=$([ $demo = 1 ] && echo "$root/configs/demo_unified.yaml" || echo "$root/configs/unified.yaml")

base_sets=(${sets[@]+"${sets[@]}"})
sets=(${sets[@]+"${sets[@]}"} ${usets[@]+"${usets[@]}"})
urd=$(run_dir "$unified")
sets=(${base_sets[@]+"${base_sets[@]}"})
cats=()
for m in "$urd"/*/metrics.json; do
  [ -f "$m" ] && cats+=("$(basename "$(dirname "$m")")")
done
[ ${#cats[@]} -gt 0 ] ||
  die 4 "unified run $urd has no <category>/metrics.json (missing run or not evaluated): ddad-train $unified && ddad-eval $unified"

configs=(${args[@]+"${args[@]}"})
if [ ${#configs[@]} -eq 0 ]; then
  if [ $demo = 1 ]; then
    configs=("$root/configs/demo.yaml")
  else
    for c in "${cats[@]}"; do [ -f "$root/configs/$c.yaml" ] && configs+=("$root/configs/$c.yaml"); done
  fi
fi
declare -A per_pix per_pro
for cfg in "${configs[@]}"; do
  rd=$(run_dir "$cfg")
  m=$(metrics_of "$rd" "$cfg")
  c=$(json_str "$m" category)
  per_pix[$c]=$(json_num "$m" pixel_auroc)
  per_pro[$c]=$(json_num "$m" au_pro)
done

md="$out/table2.md"
tex="$out/table2.tex"
sums="0 0 0 0 0 0 0 0"
{
  echo "| category | per-category pixel AUROC | per-category PRO | unified pixel AUROC | unified PRO |"
  echo "|---|---:|---:|---:|---:|"
  for c in "${cats[@]}"; do
    m="$urd/$c/metrics.json"
    up=$(json_num "$m" pixel_auroc); uo=$(json_num "$m" au_pro)
    pp=${per_pix[$c]:-nan}; po=${per_pro[$c]:-nan}
    echo "| $c | $(pct "$pp") | $(pct "$po") | $(pct "$up") | $(pct "$uo") |"
    sums=$(echo "$sums $pp $po $up $uo" | awk '{ for (k = 0; k < 4; k++) { v = $(9 + k);
      if (v != "nan") { $(1 + 2 * k) += v; $(2 + 2 * k)++ } } print $1, $2, $3, $4, $5, $6, $7, $8 }')
  done
  set -- $sums
  mean() { awk -v s="$1" -v n="$2" 'BEGIN { if (n > 0) print s / n; else print "nan" }'; }
  echo "| **mean** | $(pct "$(mean "$1" "$2")") | $(pct "$(mean "$3" "$4")") | $(pct "$(mean "$5" "$6")") | $(pct "$(mean "$7" "$8")") |"
  echo "| paper mean | $(paper table1 per_category mean pixel_auroc) | $(paper table1 per_category mean pro) | $(paper table2 unified mean pixel_auroc) | $(paper table2 unified mean pro) |"
} > "$md"
{
  echo "\\begin{tabular}{lrrrr}"
  echo "\\hline"
  echo "category & per-cat. pixel AUROC & per-cat. PRO & unified pixel AUROC & unified PRO \\\\"
  echo "\\hline"
  sed -n '3,$p' "$md" | sed 's/\*\*//g; s/_/\\_/g; s/^| //; s/ |$/ \\\\/; s/ | / \& /g'
  echo "\\hline"
  echo "\\end{tabular}"
} > "$tex"
cat "$md"
echo "$prog: wrote $md and $tex (percent; \"-\" = no run of that kind for the category)" >&2
