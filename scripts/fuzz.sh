#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, starting from its seed corpus
# (tests/fuzz/corpus/<name>/). New inputs go to a temporary directory, not into the tree.
# Exits non-zero on the first crash, leak or timeout.
set -euo pipefail
build=${1:-build-fuzz}
seconds=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
shopt -s nullglob
targets=("$build"/fuzz_*)
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets in $build"; exit 1; }
mkdir -p "$root/tests/fuzz/artifacts"
for t in "${targets[@]}"; do
  name=$(basename "$t"); name=${name#fuzz_}
  work=$(mktemp -d)
  seeds="$root/tests/fuzz/corpus/$name"
  echo "fuzz: $name for ${seconds}s"
  if ! "$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
      -artifact_prefix="$root/tests/fuzz/artifacts/" "$work" ${seeds:+$( [ -d "$seeds" ] && echo "$seeds")} \
      >"$work.log" 2>&1; then
    tail -40 "$work.log"
    echo "fuzz: $name FAILED (artifact in tests/fuzz/artifacts/)"
    exit 1
  fi
  grep -E "^#[0-9]+.*(DONE|pulse)" "$work.log" | tail -1 || true
  rm -rf "$work" "$work.log"
done
echo "fuzz: ${#targets[@]} targets passed"
