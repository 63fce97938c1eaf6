#!/usr/bin/env bash
# Figure 5: image AUROC, pixel AUROC and AU-PRO against alpha (the weight of
# the pixel/KL map; 1 - alpha weighs the feature map) from 0 to 1, recomputed
# from the per-timestep maps stored in the run's maps.h5 (no model is run).
# Writes <out>/fig5_alpha_<category>.dat and, with gnuplot, .png.
#
# usage: experiments/fig5_alpha.sh [--out DIR] [--set K=V]... [--alphas A,B,..] CONFIG
#        experiments/fig5_alpha.sh --demo [--out DIR] [--set K=V]...
# Needs: ddad-vis, ddad-alpha-sweep (experiments/alpha_sweep.c) and the maps.h5
# of ddad-eval (a unified run: one per category). A missing run exits with 4.
source "$(dirname "$0")/common.sh"
alphas=0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1
rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    --alphas) [ $# -ge 2 ] || { echo "fig5_alpha: --alphas needs a list" >&2; exit 2; }; alphas=$2; shift ;;
    *) rest+=("$1") ;;
  esac
  shift
done
parse_common ${rest[@]+"${rest[@]}"}
configs=(${args[@]+"${args[@]}"})
[ ${#configs[@]} -gt 0 ] || { [ $demo = 1 ] && configs=("$root/configs/demo.yaml"); }
[ ${#configs[@]} -eq 1 ] || die 2 "give one CONFIG (or --demo)"
cfg=${configs[0]}
need_prog ddad-alpha-sweep
rd=$(run_dir "$cfg")
files=()
if [ -f "$rd/maps.h5" ]; then files=("$rd/maps.h5"); else
  for f in "$rd"/*/maps.h5; do [ -f "$f" ] && files+=("$f"); done
fi
[ ${#files[@]} -gt 0 ] ||
  die 4 "run $rd has no maps.h5 (missing run or not evaluated): ddad-train $cfg && ddad-eval $cfg"
for f in "${files[@]}"; do
  cat_name=$(basename "$(dirname "$f")")
  [ "$f" = "$rd/maps.h5" ] && cat_name=$(basename "$rd")
  dat="$out/fig5_alpha_$cat_name.dat"
  png="$out/fig5_alpha_$cat_name.png"
  "$bin/ddad-alpha-sweep" "$f" --alphas "$alphas" --png "$png" --title "$cat_name" > "$dat" ||
    die $? "ddad-alpha-sweep failed on $f"
  echo "$prog: wrote $dat" >&2
  [ -f "$png" ] && echo "$prog: wrote $png" >&2
  cat "$dat"
done
