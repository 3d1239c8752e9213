#!/usr/bin/env bash
# Installs the build in BUILD_DIR into a temporary prefix, then configures, builds and runs a
# separate project that uses find_package(xgrad). Checks that only public headers are installed
# and that xgrad's own compile flags (-march=native, -fno-math-errno, xsimd, warnings) do not
# reach the consumer.
set -euo pipefail
build="$1"
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > /dev/null
inc="$tmp/prefix/include/xgrad"
test -f "$inc/autograd/tensor.hpp"
test -f "$inc/autograd/extend.hpp"
if [ -e "$inc/autograd/detail" ]; then
  echo "install: private headers installed: $inc/autograd/detail" >&2
  exit 1
fi
if grep -rn '#include "autograd/detail/' "$inc"; then
  echo "install: an installed header includes a private detail/ header" >&2
  exit 1
fi
leaked='march=native|fno-math-errno|XTENSOR_USE_XSIMD|-Wall|-Wextra'
if grep -rEn "$leaked" "$tmp/prefix/lib"*/cmake/xgrad; then
  echo "install: the exported targets carry xgrad's own compile flags" >&2
  exit 1
fi
cmake -S "$here" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$tmp/build" -- VERBOSE=1 > "$tmp/build.log"
if grep -En -- "$leaked" "$tmp/build.log"; then
  echo "install: the consumer was compiled with xgrad's own flags" >&2
  exit 1
fi
grep -q 'consumer.cpp' "$tmp/build.log"  # the grep above saw the compile line
"$tmp/build/consumer"
