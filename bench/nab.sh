#!/usr/bin/env bash
# NAB: replays ../shared/nab/data through `iotad replay --format nab` (the product's default
# pipeline and parameters, the same for every file) and scores the output with NAB's scorer, twice:
#   best   - anomaly_score column, one threshold searched over the corpus (NAB practice)
#   alert  - the product's shipped 0/1 `alert` column (a copy of the results where
#            anomaly_score := alert, scored at the fixed threshold 0.5)
# then, per profile, the per-category table of ../shared/nab/nab_report.py (scores at the best
# threshold, and each category scored at the threshold chosen on the other four: the
# leave-one-category-out check of the threshold; bench/nab_loco.py does the same for parameters).
# Output: JSON lines ("nab": best_threshold | shipped_alert | per_category).
# Usage: [IOTAD=path/to/iotad] bench/nab.sh [OUT_DIR] [extra replay flags...]   (default OUT_DIR: build/nab-results)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$repo/../shared" && pwd)
out=${1:-$repo/build/nab-results}
[ $# -gt 0 ] && shift
bin=${IOTAD:-$repo/build/iotad} # IOTAD=path overrides the binary
if [ ! -x "$bin" ] || ! { "$bin" replay 2>&1 || true; } | grep -q "usage: iotad replay"; then
  # configure only a fresh build dir (Release); an existing one keeps its settings
  [ -f "$repo/build/CMakeCache.txt" ] || cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$repo/build" -j2 --target iotad >/dev/null
fi
rm -rf "$out" "$out-alert"
"$bin" replay --format nab --in "$shared/nab/data" --out "$out" "$@"
# the alert column as a score column
(cd "$out" && find . -name '*.csv') | while read -r f; do
  mkdir -p "$out-alert/$(dirname "$f")"
  awk -F, 'BEGIN{OFS=","} NR==1{print; next} {$3=$4; print}' "$out/$f" > "$out-alert/$f"
done
score() {
  /usr/bin/python3 "$shared/nab/nab_score.py" --data "$shared/nab/data" \
    --labels "$shared/nab/labels/combined_windows.json" --profile all "$@"
}
best=$(score --results "$out")
alert=$(score --results "$out-alert" --threshold 0.5)
/usr/bin/python3 - "$best" "$alert" <<'PY'
import json, sys
for name, text in zip(("best_threshold", "shipped_alert"), sys.argv[1:]):
    d = json.loads(text)
    row = {"nab": name}
    for prof, v in d["profiles"].items():
        row[prof] = round(v["score"], 1)
        row[prof + "_threshold"] = v["threshold"]
        row[prof + "_detected"] = v["detected_windows"]
        row[prof + "_fp_rows"] = v["fp_rows"]
    print(json.dumps(row))
PY
for prof in standard reward_low_FP_rate reward_low_FN_rate; do
  /usr/bin/python3 "$shared/nab/nab_report.py" --data "$shared/nab/data" \
    --labels "$shared/nab/labels/combined_windows.json" --results "$out" --profile "$prof" --json |
    /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
cats = {}
for c, v in d["categories"].items():
    a, o = v["at_total_threshold"], v["left_out"]
    cats[c] = {"score": a["score"], "detected": a["detected"], "windows": a["windows"], "fp_rows": a["fp_rows"],
               "left_out_threshold": v["left_out_threshold"], "left_out": o["score"]}
print(json.dumps({"nab": "per_category", "profile": d["profile"], "threshold": d["threshold"],
                  "total": d["total"]["score"], "categories": cats, "left_out_mean": d["left_out_mean"]}))'
done
