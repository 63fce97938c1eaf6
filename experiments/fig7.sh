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
source "$(dirname "$0")/common.sh"
parse_common "$@"
set -- ${args[@]+"${args[@]}"}
draw_figures fig7 fig7 "$@"
