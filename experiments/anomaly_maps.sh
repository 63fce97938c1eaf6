#!/usr/bin/env bash
# the anomaly-map figure (input, per-timestep KL and feature maps, combined map, overlay, ground truth)
# for chosen test images of a run, drawn by ddad-vis into <out>/anomaly_maps/.
#
# usage: experiments/anomaly_maps.sh [--out DIR] [--set K=V]... CONFIG [IMAGE...]
#        experiments/anomaly_maps.sh --demo [--out DIR] [--set K=V]... [IMAGE...]
# IMAGEs are image files (test images of the data set show their ground truth);
# without any, ddad-vis takes the first 4 anomalous test images. --demo uses
# configs/demo.yaml. Needs: ddad-vis and the run's checkpoint (ddad-train). A
# missing run exits with 4.
source "$(dirname "$0")/common.sh"
parse_common "$@"
set -- ${args[@]+"${args[@]}"}
draw_figures anomaly_maps maps "$@"
