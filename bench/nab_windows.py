#!/usr/bin/python3
"""NAB per window and per false positive: where a detector's score is won and lost.

For every labelled file of ../shared/nab (or the --category ones) and one threshold (by default the
best one over all 31 files, as bench/nab.sh finds it), prints one JSON line per file:
  windows: per window its rows, the first detection (row, time, score, NAB value of that row) or
           null (a missed window), and the highest score inside it (how far from the threshold a
           miss is, or how safely a hit is found);
  fps:     the false-positive rows (outside windows, after the probationary period) with score and
           NAB cost; runs of rows within 5 of each other are one entry;
  raw:     the file's raw NAB score at that threshold.
With --base OTHER_RESULTS, only files whose windows or false positives differ are printed, each with
"base" holding the same fields for OTHER_RESULTS at the same threshold (what a change moved).
The NAB values come from ../shared/nab/nab_score.py (the scorer itself), so they add up to its total.

Usage: bench/nab_windows.py RESULTS [--base RESULTS] [--threshold T]
                                    [--profile standard|reward_low_FP_rate|reward_low_FN_rate]
                                    [--category realAdExchange,realTraffic]
Stdlib only.
"""
import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAB = os.path.normpath(os.path.join(REPO, "..", "shared", "nab"))
sys.path.insert(0, NAB)
import nab_score as ns  # noqa: E402

DATA = os.path.join(NAB, "data")
LABELS = os.path.join(NAB, "labels", "combined_windows.json")


def load(results, labels, weights):
    """rel -> (times, scores, rows) where rows = [(row index, score, value, window)] after probation."""
    out = {}
    for rel, wins in sorted(labels.items()):
        path = ns.find_result(results, rel)
        if path is None:
            raise SystemExit(f"{results}: no result for {rel}")
        raw_times = ns.read_column(os.path.join(DATA, rel), "timestamp")
        times = [ns.parse_time(t) for t in raw_times]
        scores = [float(s) for s in ns.read_column(path, "anomaly_score")]
        windows = [(ns.parse_time(a), ns.parse_time(b)) for a, b in wins]
        points = ns.points_for_file(times, scores, windows, weights)
        first = len(times) - len(points)  # rows before this are the probationary period
        out[rel] = (raw_times, [(first + k, s, v, w) for k, (s, v, w) in enumerate(points)], points)
    return out


def describe(raw_times, rows, threshold, miss_cost):
    wins = {}
    for i, s, v, w in rows:
        if w is None:
            continue
        d = wins.setdefault(w, {"rows": [i, i], "first": None, "max_score": -1.0, "max_row": i})
        d["rows"][1] = i
        if s > d["max_score"]:
            d["max_score"], d["max_row"] = round(s, 4), i
        if d["first"] is None and s >= threshold:
            d["first"] = {"row": i, "time": raw_times[i], "score": round(s, 4), "value": round(v, 3)}
    fps = []
    for i, s, v, w in rows:
        if w is not None or s < threshold:
            continue
        if fps and i - fps[-1]["rows"][1] <= 5:
            fps[-1]["rows"][1] = i
            fps[-1]["n"] += 1
            fps[-1]["max_score"] = max(fps[-1]["max_score"], round(s, 4))
            fps[-1]["cost"] = round(fps[-1]["cost"] + v, 3)
        else:
            fps.append({"rows": [i, i], "time": raw_times[i], "n": 1, "max_score": round(s, 4),
                        "cost": round(v, 3)})
    raw = sum(f["cost"] for f in fps)
    for d in wins.values():
        raw += d["first"]["value"] if d["first"] else -miss_cost
    return {"windows": [wins[k] for k in sorted(wins)], "fps": fps}, raw


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--base")
    ap.add_argument("--threshold", type=float)
    ap.add_argument("--profile", default="standard", choices=sorted(ns.PROFILES))
    ap.add_argument("--category", help="comma-separated categories (default: all)")
    args = ap.parse_args()
    weights = ns.PROFILES[args.profile]
    with open(LABELS) as fh:
        labels = json.load(fh)
    files = load(args.results, labels, weights)
    threshold = args.threshold
    if threshold is None:
        threshold = ns.best_threshold({rel: f[2] for rel, f in files.items()}, weights)
    base = load(args.base, labels, weights) if args.base else None
    cats = set(args.category.split(",")) if args.category else None
    for rel, (raw_times, rows, _) in files.items():
        if cats and rel.split("/")[0] not in cats:
            continue
        d, raw = describe(raw_times, rows, threshold, weights["fn"])
        line = {"file": rel, "threshold": threshold, "raw": round(raw, 3), **d}
        if base:
            b, braw = describe(base[rel][0], base[rel][1], threshold, weights["fn"])
            if b == d:
                continue
            line["base"] = {"raw": round(braw, 3), **b}
        print(json.dumps(line))


if __name__ == "__main__":
    main()
