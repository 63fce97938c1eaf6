#!/bin/sh
# tests/fuzz/bad_inputs.sh - runs broken inputs through the real readers and
# prints the table of docs/reliability.md (case, command, exit code, message).
#
#   tests/fuzz/bad_inputs.sh BUILD      # BUILD/bin/check_input, BUILD/bin/ddad-datacheck
#
# Data set cases run the ddad-datacheck program; config, image and HDF5 cases
# run check_input (tests/fuzz/check_input.c), which calls the library the way
# the programs do and exits with ddad_status_exit_code(). The inputs are made
# in a temporary folder, shown as D in the table.
set -u
BUILD=$(cd "${1:?usage: bad_inputs.sh BUILD}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CHECK="$BUILD/bin/check_input"
DATACHECK="$BUILD/bin/ddad-datacheck"
PY=${DDAD_PYTHON:-/usr/bin/python3}
SEEDS="$SRC/tests/fuzz/corpus"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT

row() { # row CASE COMMAND...
    name=$1
    shift
    out=$(cd "$D" && "$@" 2>&1)
    rc=$?
    shown=$(echo "$*" | sed "s|$CHECK|check_input|; s|$DATACHECK|ddad-datacheck|; s|$D/||g")
    msg=$(echo "$out" | tail -n 1 | sed "s|$D/||g; s/|/\\\\|/g")
    echo "| $name | \`$shown\` | $rc | $msg |"
}

cd "$D" || exit 1
# ---- config files
printf 'data: {root: [x\n' >malformed.yaml
printf 'model:\n  chanels: 64\n' >unknown_key.yaml
printf 'model:\n  channels: sixty\n' >wrong_type.yaml
printf 'diffusion:\n  steps: -5\n' >out_of_range.yaml
printf 'diffusion:\n  schedule: quadratic\n' >unknown_enum.yaml
printf 'base: loop_b.yaml\nseed: 1\n' >loop_a.yaml
printf 'base: loop_a.yaml\nseed: 2\n' >loop_b.yaml
printf 'base: not_there.yaml\n' >missing_base.yaml
printf 'model:\n  channels: 64\n  channel_mult: [1, 2]\n  attention_resolutions: [512]\n' >cross_field.yaml
printf 'seed: 1\n' >ok.yaml
# ---- images
cp "$SEEDS/image/pil_rgb.png" good.png
cp "$SEEDS/image/pil_rgb.jpg" good.jpg
cp "$SEEDS/image/pil_rgb24.bmp" good.bmp
head -c 60 good.png >truncated.png
head -c 300 good.jpg >truncated.jpg
head -c 100 good.bmp >truncated.bmp
printf 'this is a text file\n' >not_an_image.png
cp "$SRC/tests/fuzz/regressions/image/jpeg-huge-declared-size-progressive" huge.jpg
# ---- HDF5
cp "$SEEDS/mapsfile/maps_4x4.h5" maps.h5
cp "$SEEDS/h5params/checkpoint_small.h5" checkpoint.h5
head -c 4000 maps.h5 >truncated.h5
cp good.png not_hdf5.h5
"$PY" -c "import h5py,shutil; shutil.copy('maps.h5','maps_no_labels.h5'); f=h5py.File('maps_no_labels.h5','a'); del f['labels']; f.close()"
# ---- data sets (MVTec layout, category c; pil_rgb.png is 6x4)
mk() { mkdir -p "$(dirname "$1")" && cp "$2" "$1"; }
"$PY" -c "from PIL import Image; Image.new('L',(6,4),255).save('mask64.png'); Image.new('L',(5,5),255).save('mask55.png')"
mk ok/c/train/good/000.png good.png
mk ok/c/test/good/000.png good.png
mk ok/c/test/crack/000.png good.png
mk ok/c/ground_truth/crack/000_mask.png mask64.png
cp -r ok empty_category && rm empty_category/c/train/good/000.png
cp -r ok mask_size && cp mask55.png mask_size/c/ground_truth/crack/000_mask.png
cp -r ok missing_mask && rm missing_mask/c/ground_truth/crack/000_mask.png
cp -r ok truncated_in_set && cp truncated.png truncated_in_set/c/test/crack/000.png
cp -r ok text_in_set && cp not_an_image.png text_in_set/c/train/good/000.png

echo "| case | command | exit | message (stderr, last line) |"
echo "|---|---|---|---|"
row "valid config (reference)" "$CHECK" config ok.yaml
row "malformed YAML" "$CHECK" config malformed.yaml
row "unknown key" "$CHECK" config unknown_key.yaml
row "wrong type" "$CHECK" config wrong_type.yaml
row "out-of-range value" "$CHECK" config out_of_range.yaml
row "unknown enum value" "$CHECK" config unknown_enum.yaml
row "inheritance loop" "$CHECK" config loop_a.yaml
row "missing config file" "$CHECK" config no_such.yaml
row "missing base file" "$CHECK" config missing_base.yaml
row "cross-field check" "$CHECK" config cross_field.yaml
row "bad --set value" "$CHECK" config ok.yaml train.iterations=abc
row "bad --set syntax" "$CHECK" config ok.yaml train.iterations
row "valid data set (reference)" "$DATACHECK" ok
row "missing data folder" "$DATACHECK" no_such_root
row "missing category" "$DATACHECK" --categories bottle ok
row "empty category (no train images)" "$DATACHECK" empty_category
row "mask size mismatch" "$DATACHECK" mask_size
row "missing mask" "$DATACHECK" missing_mask
row "truncated PNG in a data set" "$DATACHECK" truncated_in_set
row "text file named .png in a data set" "$DATACHECK" text_in_set
row "truncated PNG" "$CHECK" image truncated.png
row "truncated JPEG" "$CHECK" image truncated.jpg
row "JPEG header declaring 30000x30000 pixels" "$CHECK" image huge.jpg
row "truncated BMP" "$CHECK" image truncated.bmp
row "non-image file with .png name" "$CHECK" image not_an_image.png
row "missing image file" "$CHECK" image no_such.png
row "valid maps file (reference)" "$CHECK" maps maps.h5
row "truncated HDF5 file" "$CHECK" maps truncated.h5
row "non-HDF5 file" "$CHECK" h5 not_hdf5.h5 weights/x
row "HDF5: missing dataset" "$CHECK" h5 checkpoint.h5 weights/no_such.weight
row "maps file without /labels" "$CHECK" maps maps_no_labels.h5
row "missing HDF5 file" "$CHECK" h5 no_such.h5 weights/x
