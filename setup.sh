#!/usr/bin/env bash
# Installs every Debian package xgrad needs, by name. Idempotent: only missing packages are
# installed, so a second run does nothing and needs no network.
set -euo pipefail
packages=(
  build-essential cmake pkg-config ccache            # toolchain
  xtensor-dev libxtensor-blas-dev libxsimd-dev       # arrays
  libopenblas-dev                                     # GEMM
  doctest-dev                                         # tests
  graphviz libgraphviz-dev                            # computation-graph rendering
  libexpat1-dev                                       # tests: SVG parsed as XML
  libplplot-dev plplot-driver-cairo                   # plots (PNG/SVG/PDF, headless)
  libcli11-dev                                        # the xgrad command line
  zlib1g-dev nlohmann-json3-dev                       # datasets (gzip IDX) and checkpoints
  dataset-fashion-mnist                               # the course's data set
  clang-14 libfuzzer-14-dev                           # fuzzing (CI)
  openmpi-bin libopenmpi-dev                          # dist: multi-process training (Open MPI)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "setup: all ${#packages[@]} packages present"
