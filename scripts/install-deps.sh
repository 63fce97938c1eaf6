#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages ddad needs to build, test and run its
# demo. Idempotent: packages already present are not touched, and apt is not
# called at all when nothing is missing. Uses sudo when not run as root.
#
#   scripts/install-deps.sh            # build + tests + demo
#   scripts/install-deps.sh --fuzz     # also clang and its sanitizer runtime
#   scripts/install-deps.sh --textures # also the photographs that
#                                      # `make -f Makefile.data textures` cuts
#                                      # (datasets/README.md lists the files)
#   scripts/install-deps.sh --list     # print every package named here (all
#                                      # groups) and exit; scripts/check-deps.py
#                                      # checks the tests use nothing else
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config git
  libtorch-dev            # libtorch C++ API (CPU, oneDNN, OpenMP, Gloo)
  libgloo-dev             # headers of c10d's Gloo backend (data-parallel training)
  libopenblas0-pthread    # fast BLAS behind libtorch's matmul (attention, linear)
  libhdf5-dev libyaml-dev libpng-dev libjpeg-dev libcunit1-dev
  gnuplot-nox             # loss, ROC and PRO plots
  curl ca-certificates xz-utils unzip tar   # Makefile.data downloads
  python3-torch python3-torchvision python3-sklearn python3-scipy
  python3-h5py python3-numpy python3-pil    # independent oracles for the tests
  python3-tifffile        # MVTec AD's evaluation reads anomaly maps with tifffile (test_tiff's oracle)
  python3-matplotlib      # its colour-map tables are test_figure's oracle
)
fuzz_pkgs=(clang libclang-rt-14-dev)
texture_pkgs=(
  mypaint-data-extras     # scanned paper, canvas and cork (CC0-1.0), 2.9 MB
  qgo                     # wood veneer photographs (GPL-2+), 2.2 MB
)
if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${pkgs[@]}" "${fuzz_pkgs[@]}" "${texture_pkgs[@]}"
  exit 0
fi
for arg in "$@"; do
  case "$arg" in
    --fuzz) pkgs+=("${fuzz_pkgs[@]}") ;;
    --textures) pkgs+=("${texture_pkgs[@]}") ;;
    *) echo "install-deps: unknown option $arg (use --fuzz, --textures or --list)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages already installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
