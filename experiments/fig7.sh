#!/usr/bin/env bash
# Figure 7: gradient denoising (ground truth, input, recorded rounds, final reconstruction, clean source)
# for chosen test images of a run, drawn by ddad-vis into <out>/fig7/.
#
# usage: experiments/fig7.sh [--out DIR] [--set K=V]... CONFIG [IMAGE...]
#        experiments/fig7.sh --demo [--out DIR] [--set K=V]... [IMAGE...]
# IMAGEs are image files (test images of the data set show their ground truth);
# without any, ddad-vis takes the first 4 anomalous test images. --demo uses
# configs/demo.yaml. Needs: ddad-vis and the run's checkpoint (ddad-train). A
# missing run exits with 4.
usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
source "$(dirname "$0")/common.sh"
parse_common "$@"
set -- ${args[@]+"${args[@]}"}
if [ $demo = 1 ]; then cfg="$root/configs/demo.yaml"; else
  [ $# -ge 1 ] || die 2 "give a CONFIG (or --demo)"
  cfg=$1; shift
fi
rd=$(run_dir "$cfg")
ls "$rd"/checkpoints/step_*.h5 >/dev/null 2>&1 ||
  die 4 "run $rd has no checkpoint (missing run): train it first (ddad-train $cfg)"
dest="$out/fig7"
mkdir -p "$dest"
if [ $# -eq 0 ]; then
  "$bin/ddad-vis" "$cfg" ${sets[@]+"${sets[@]}"} --figures fig7,sheet --out "$dest" --count 4 || exit $?
else
  for img in "$@"; do
    [ -f "$img" ] || die 4 "image $img not found"
    "$bin/ddad-vis" "$cfg" ${sets[@]+"${sets[@]}"} --figures fig7 --out "$dest" --image "$img" || exit $?
  done
fi
echo "$prog: figures in $dest" >&2
