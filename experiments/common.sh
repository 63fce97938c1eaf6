# experiments/common.sh - shared by the experiment scripts (sourced, not run).
#
# Options every script accepts:
#   --demo          use the demo runs of the built-in synthetic data set
#                   (configs/demo.yaml, configs/demo_unified.yaml)
#   --set KEY=VAL   config override, passed to every ddad program (repeatable)
#   --out DIR       where tables and figures go (default results/)
#   --bin DIR       the programs' folder (default $DDAD_BIN, else build/bin)
# Exit codes: 0 ok, 2 usage or a program not built, 4 a run or its results
# missing (the message names the run and the command that makes it).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prog=$(basename "$0" .sh)
demo=0
out=results
bin=${DDAD_BIN:-$root/build/bin}
sets=()
args=()

die() { local code=$1; shift; echo "$prog: $*" >&2; exit "$code"; }

# usage: the script's header comment (from line 2 to the first line that is not
# a comment), without the leading "# "
usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }

parse_common() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --demo) demo=1 ;;
      --set) [ $# -ge 2 ] || die 2 "--set needs KEY=VALUE"; sets+=(--set "$2"); shift ;;
      --out) [ $# -ge 2 ] || die 2 "--out needs a folder"; out=$2; shift ;;
      --bin) [ $# -ge 2 ] || die 2 "--bin needs a folder"; bin=$2; shift ;;
      --help|-h) usage; exit 0 ;;
      *) args+=("$1") ;;
    esac
    shift
  done
  mkdir -p "$out"
}

need_prog() {
  [ -x "$bin/$1" ] || die 2 "$bin/$1 is not built (build it: cmake --build build --target $1, or pass --bin DIR)"
}

# run_dir CONFIG -> the run folder of CONFIG under the --set overrides
run_dir() {
  need_prog ddad-vis
  [ -f "$1" ] || die 4 "config $1 not found"
  "$bin/ddad-vis" "$1" --print-run-dir ${sets[@]+"${sets[@]}"}
}

# json_num FILE KEY -> the number (or nan) of a top-level key of metrics.json
json_num() {
  local v
  v=$(sed -n "s/^ *\"$2\": *\([^,}]*\).*/\1/p" "$1" | head -n1)
  case "$v" in ''|null|NaN|nan) echo nan ;; *) echo "$v" ;; esac
}
json_str() {
  sed -n "s/^ *\"$2\": *\"\([^\"]*\)\".*/\1/p" "$1" | head -n1
}

# pct X -> X * 100 with one decimal ("-" for nan)
pct() { awk -v x="$1" 'BEGIN { if (x == "nan" || x == "") print "-"; else printf "%.1f", 100 * x }'; }

# paper KEY_TABLE SETTING CATEGORY COLUMN -> the published value or "-"
paper() {
  awk -F, -v t="$1" -v s="$2" -v c="$3" -v col="$4" '
    /^#/ { next }
    !hdr { for (i = 1; i <= NF; i++) h[$i] = i; hdr = 1; next }
    $1 == t && $2 == s && $3 == c { v = $(h[col]); print (v == "" ? "-" : v); found = 1; exit }
    END { if (!found) print "-" }' "$root/experiments/paper_numbers.csv"
}

# metrics_of RUN_DIR CONFIG -> the metrics.json path, or exit 4 naming the run
metrics_of() {
  [ -f "$1/metrics.json" ] ||
    die 4 "run $1 has no metrics.json (missing run or not evaluated): train and evaluate it first (ddad-train $2 && ddad-eval $2)"
  echo "$1/metrics.json"
}

# draw_figures SUBDIR FIGURE [CONFIG] [IMAGE...]   (after parse_common; no CONFIG with --demo)
# The body of fig7.sh and anomaly_maps.sh: ddad-vis draws FIGURE (fig7 or
# maps) into $out/SUBDIR, for the given images or, without any, for the
# first 4 anomalous test images (plus the contact sheet). Exits 4 when the
# run has no checkpoint or an image is missing.
draw_figures() {
  local subdir=$1 figure=$2 cfg rd dest img
  shift 2
  if [ $demo = 1 ]; then cfg="$root/configs/demo.yaml"; else
    [ $# -ge 1 ] || die 2 "give a CONFIG (or --demo)"
    cfg=$1; shift
  fi
  rd=$(run_dir "$cfg")
  ls "$rd"/checkpoints/step_*.h5 >/dev/null 2>&1 ||
    die 4 "run $rd has no checkpoint (missing run): train it first (ddad-train $cfg)"
  dest="$out/$subdir"
  mkdir -p "$dest"
  if [ $# -eq 0 ]; then
    "$bin/ddad-vis" "$cfg" ${sets[@]+"${sets[@]}"} --figures "$figure,sheet" --out "$dest" --count 4 || exit $?
  else
    for img in "$@"; do
      [ -f "$img" ] || die 4 "image $img not found"
      "$bin/ddad-vis" "$cfg" ${sets[@]+"${sets[@]}"} --figures "$figure" --out "$dest" --image "$img" || exit $?
    done
  fi
  echo "$prog: figures in $dest" >&2
}
