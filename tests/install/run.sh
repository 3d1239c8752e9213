#!/usr/bin/env bash
# Installs the build in BUILD_DIR into a temporary prefix, then configures, builds and runs a
# separate project that uses find_package(xgrad).
set -euo pipefail
build="$1"
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > /dev/null
test -f "$tmp/prefix/include/xgrad/autograd/tensor.hpp"
cmake -S "$here" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$tmp/build" > /dev/null
"$tmp/build/consumer"
