#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, starting from its seed corpus
# (tests/fuzz/corpus/<name>/), JOBS targets at a time (default 2: the machine's cores; each
# target is one process, so two at once take half the wall time for the same runs).
# New inputs go to a temporary directory, not into the tree.
# Exits non-zero if any target crashed, leaked or timed out (its log tail is printed).
set -euo pipefail
build=${1:-build-fuzz}
seconds=${2:-20}
jobs=${JOBS:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
shopt -s nullglob
targets=("$build"/fuzz_*)
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets in $build"; exit 1; }
mkdir -p "$root/tests/fuzz/artifacts"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

fuzz_one() { # TARGET: runs it, exits with its status; log in $logs/<name>.log
  local t=$1 name work seeds rc=0
  name=$(basename "$t"); name=${name#fuzz_}
  work=$(mktemp -d)
  seeds="$root/tests/fuzz/corpus/$name"
  "$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
    -artifact_prefix="$root/tests/fuzz/artifacts/" "$work" ${seeds:+$( [ -d "$seeds" ] && echo "$seeds")} \
    >"$logs/$name.log" 2>&1 || rc=$?
  rm -rf "$work"
  return $rc
}

report() { # NAME STATUS
  local name=$1 rc=$2
  if [ "$rc" -ne 0 ]; then
    tail -40 "$logs/$name.log"
    echo "fuzz: $name FAILED (artifact in tests/fuzz/artifacts/)"
    failed+=("$name")
  else
    echo "fuzz: $name passed $(grep -E "^#[0-9]+.*(DONE|pulse)" "$logs/$name.log" | tail -1 || true)"
  fi
}

declare -A running=() # pid -> target name
failed=()
for t in "${targets[@]}"; do
  name=$(basename "$t"); name=${name#fuzz_}
  while [ ${#running[@]} -ge "$jobs" ]; do
    rc=0; wait -n -p done_pid "${!running[@]}" || rc=$?
    report "${running[$done_pid]}" "$rc"; unset "running[$done_pid]"
  done
  echo "fuzz: $name for ${seconds}s"
  fuzz_one "$t" &
  running[$!]=$name
done
while [ ${#running[@]} -gt 0 ]; do
  rc=0; wait -n -p done_pid "${!running[@]}" || rc=$?
  report "${running[$done_pid]}" "$rc"; unset "running[$done_pid]"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} of ${#targets[@]} targets FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets passed"
