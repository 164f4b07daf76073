#!/usr/bin/env bash
# SKAB: replays ../shared/skab/data through `iotad replay --format skab` (multivariate device
# detector, learning online; each file's first 400 rows are its warm-up/calibration period as
# SKAB's protocol allows) and scores the per-row 0/1 output with SKAB's outlier scorer.
# Usage: [IOTAD=path/to/iotad] bench/skab.sh [OUT_DIR] [extra replay flags...]   (default OUT_DIR: build/skab-results)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$repo/../shared" && pwd)
out=${1:-$repo/build/skab-results}
[ $# -gt 0 ] && shift
bin=${IOTAD:-$repo/build/iotad} # IOTAD=path overrides the binary
if [ ! -x "$bin" ] || ! { "$bin" replay 2>&1 || true; } | grep -q "usage: iotad replay"; then
  # configure only a fresh build dir (Release); an existing one keeps its settings
  [ -f "$repo/build/CMakeCache.txt" ] || cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$repo/build" -j2 --target iotad >/dev/null
fi
rm -rf "$out"
"$bin" replay --format skab --in "$shared/skab/data" --out "$out" --train-rows 400 "$@"
/usr/bin/python3 "$shared/skab/skab_score.py" --data "$shared/skab/data" --results "$out" --train-rows 400 \
  | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"skab": "outlier", "f1": d["f1"], "far_pct": d["far_pct"], "mar_pct": d["mar_pct"], "tp": d["tp"], "fp": d["fp"], "tn": d["tn"], "fn": d["fn"]}))'
