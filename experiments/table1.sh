#!/usr/bin/env bash
# Table 1: per-category pixel AUROC and AU-PRO of per-category runs, with the
# mean row, next to the paper's numbers (experiments/paper_numbers.csv), as
# Markdown (<out>/table1.md, also on stdout) and LaTeX (<out>/table1.tex).
#
# usage: experiments/table1.sh [--out DIR] [--set K=V]... [CONFIG...]
#        experiments/table1.sh --demo [--out DIR] [--set K=V]...
# CONFIGs default to configs/<category>.yaml for the 15 MVTec AD categories
# (--demo: configs/demo.yaml). Needs: ddad-vis (to resolve run folders) and
# each run's metrics.json, written by ddad-eval. A missing run exits with 4.
source "$(dirname "$0")/common.sh"
parse_common "$@"

configs=(${args[@]+"${args[@]}"})
if [ ${#configs[@]} -eq 0 ]; then
  if [ $demo = 1 ]; then
    configs=("$root/configs/demo.yaml")
  else
    for c in bottle cable capsule carpet grid hazelnut leather metal_nut pill screw tile toothbrush transistor wood zipper; do
      configs+=("$root/configs/$c.yaml")
    done
  fi
fi

rows=()
for cfg in "${configs[@]}"; do
  rd=$(run_dir "$cfg")
  m=$(metrics_of "$rd" "$cfg")
  rows+=("$(json_str "$m" category) $(json_num "$m" pixel_auroc) $(json_num "$m" au_pro)")
done

md="$out/table1.md"
tex="$out/table1.tex"
{
  echo "| category | pixel AUROC | PRO | paper pixel AUROC | paper PRO |"
  echo "|---|---:|---:|---:|---:|"
  for r in "${rows[@]}"; do
    set -- $r
    echo "| $1 | $(pct "$2") | $(pct "$3") | $(paper table1 per_category "$1" pixel_auroc) | $(paper table1 per_category "$1" pro) |"
  done
  means=$(printf '%s\n' "${rows[@]}" | awk '$2 != "nan" { a += $2; na++ } $3 != "nan" { p += $3; np++ }
    END { printf "%s %s", (na ? a / na : "nan"), (np ? p / np : "nan") }')
  set -- $means
  echo "| **mean** | $(pct "$1") | $(pct "$2") | $(paper table1 per_category mean pixel_auroc) | $(paper table1 per_category mean pro) |"
} > "$md"
{
  echo "\\begin{tabular}{lrrrr}"
  echo "\\hline"
  echo "category & pixel AUROC & PRO & paper pixel AUROC & paper PRO \\\\"
  echo "\\hline"
  sed -n '3,$p' "$md" | sed 's/\*\*//g; s/_/\\_/g; s/^| //; s/ |$/ \\\\/; s/ | / \& /g'
  echo "\\hline"
  echo "\\end{tabular}"
} > "$tex"
cat "$md"
echo "$prog: wrote $md and $tex (values in percent; paper values from experiments/paper_numbers.csv, \"-\" = not listed)" >&2
