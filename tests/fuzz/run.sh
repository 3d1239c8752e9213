#!/usr/bin/env bash
# Builds the libFuzzer targets in BUILD_DIR (configured with -DXGRAD_FUZZ=ON and clang, see
# README.md) and runs each for SECONDS on a copy of its seed corpus (tests/fuzz/corpus/<target>;
# the repository is never written), with memory limits (RSS 512 MB; one allocation at most 32 MB,
# 256 MB for fuzz_dot), a 10 s per-input timeout and leak detection. Prints each target's
# executions; exits non-zero on any crash, leak, timeout or out-of-memory (the reproducer is
# kept in BUILD_DIR/fuzz-artifacts/<target>/).
#   usage: tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}"
seconds="${2:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}"
shift 2
targets=("$@")
((${#targets[@]})) || targets=(fuzz_idx fuzz_idx_gz fuzz_safetensors fuzz_dot fuzz_cli_files)
cmake --build "$build" -j2 --target "${targets[@]}"
shm=/tmp
[ -w /dev/shm ] && shm=/dev/shm
work="$(mktemp -d "$shm/xgrad-fuzz-run.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export XGRAD_FUZZ_SCRATCH="$work"  # the targets' per-input files (in memory where /dev/shm is)
# Graphviz and fontconfig keep caches for the process's life (see .ci/lsan.supp).
export LSAN_OPTIONS="suppressions=$here/../../.ci/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# A smaller quarantine than the 256 MB default keeps RSS under -rss_limit_mb.
export ASAN_OPTIONS="detect_leaks=1:quarantine_size_mb=64"
failed=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t" "$build/fuzz-artifacts/$t"
  cp "$here/corpus/$t/"* "$work/$t/"
  dict=()
  [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
  log="$build/fuzz-artifacts/$t.log"
  # Inputs are at most a few KB, so a file reader that allocates 32 MB at once believed a claim
  # in the file it should have checked first; Graphviz's layout gets the usual 256 MB.
  malloc_mb=32
  [ "$t" = fuzz_dot ] && malloc_mb=256
  echo "fuzz: $t for ${seconds}s"
  rc=0
  "$build/tests/fuzz/$t" "$work/$t" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=512 -malloc_limit_mb=$malloc_mb -print_final_stats=1 \
    -artifact_prefix="$build/fuzz-artifacts/$t/" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  echo "fuzz: $t: ${execs:-?} executions (${rate:-?}/s), exit $rc"
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -20 || true
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (logs and reproducers in $build/fuzz-artifacts/)"
  exit 1
fi
echo "fuzz: ${#targets[@]} passed, 0 failed"
