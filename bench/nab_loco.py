#!/usr/bin/python3
"""NAB leave-one-category-out (LOCO) selection over a grid of detector settings.

Every candidate setting (a set of `iotad replay --param k=v`) is replayed once over
../shared/nab/data. Then, for each of the five categories in turn, the setting AND the threshold
are chosen on the other four categories (best total NAB score there), and the left-out category
is scored with them. The protocol (docs/detection.md) keeps a change only if the mean of the
left-out scores improves.

Usage:
  bench/nab_loco.py [--grid name=v1,v2,...]... [--set "k=v k=v"]... [--iotad PATH]
                    [--cache DIR] [--profile standard|reward_low_FP_rate|reward_low_FN_rate|all]
                    [--per-file] [--keep]

  --grid    a parameter and its candidate values; several --grid flags span their product
  --set     one whole candidate setting ("" = the defaults); may be combined with --grid
            (each --set is crossed with the grid)
  Without --grid/--set: the defaults alone (then LOCO only selects the threshold, as
  ../shared/nab/nab_report.py does).

Prints JSON lines: one per setting (in-sample: best threshold on all 31 files, per-category
scores, shipped `alert` column at 0.5), then one per profile with the LOCO folds
(chosen setting, threshold, left-out score, in-sample score of that category) and the LOCO mean.
With --per-file, each setting line carries per-file raw scores (to show where a change acts).
Stdlib only; imports ../shared/nab/nab_score.py.
"""
import argparse
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(REPO, "..", "shared"))
NAB = os.path.join(SHARED, "nab")
sys.path.insert(0, NAB)
import nab_score as ns  # noqa: E402

DATA = os.path.join(NAB, "data")
LABELS = os.path.join(NAB, "labels", "combined_windows.json")


def settings_from(args):
    grid = []
    for g in args.grid or []:
        name, _, vals = g.partition("=")
        if not name or not vals:
            raise SystemExit(f"bad --grid {g!r}: expected name=v1,v2,...")
        grid.append([(name, v) for v in vals.split(",")])
    bases = []
    for s in args.set or []:
        kv = [tuple(x.split("=", 1)) for x in s.split()]
        if any(len(x) != 2 for x in kv):
            raise SystemExit(f"bad --set {s!r}: expected 'k=v k=v'")
        bases.append(kv)
    if not bases:
        bases = [[]]
    out = []
    for base in bases:
        for combo in itertools.product(*grid) if grid else [()]:
            d = dict(base)
            d.update(dict(combo))
            key = " ".join(f"{k}={v}" for k, v in sorted(d.items()))
            if key not in [o[0] for o in out]:
                out.append((key, d))
    return out


def binary_id(path):
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def replay(iotad, params, out):
    cmd = [iotad, "replay", "--format", "nab", "--in", DATA, "--out", out, "--quiet"]
    for k, v in sorted(params.items()):
        cmd += ["--param", f"{k}={v}"]
    subprocess.run(cmd, check=True)


def load(results, labels, column="anomaly_score"):
    files = {}
    for rel, wins in sorted(labels.items()):
        res = ns.find_result(results, rel)
        if res is None:
            raise SystemExit(f"{results}: no result for {rel}")
        times = [ns.parse_time(t) for t in ns.read_column(os.path.join(DATA, rel), "timestamp")]
        scores = [float(s) for s in ns.read_column(res, column)]
        files[rel] = (times, scores, [(ns.parse_time(a), ns.parse_time(b)) for a, b in wins])
    return files


def category(rel):
    return rel.split("/")[0]


def subset_score(points, windows_by_file, weights, threshold):
    """Normalised NAB score of a subset of files at one threshold (None if it has no windows)."""
    raw, _, fp, fn, per_file = ns.total_at(points, weights, threshold)
    scorable = sum(len({w for _, _, w in p if w is not None}) for p in points.values())
    windows = sum(windows_by_file[r] for r in points)
    null, perfect = -weights["fn"] * scorable, weights["tp"] * windows
    score = None if perfect == null else 100.0 * (raw - null) / (perfect - null)
    return {"score": None if score is None else round(score, 2), "raw": raw, "fp_rows": fp,
            "detected": scorable - fn, "windows": scorable, "per_file": per_file}


class Setting:
    def __init__(self, key, files, alert_files, weights_all):
        self.key = key
        self.points = {}  # profile -> rel -> points
        self.alert_points = {}
        for prof, w in weights_all.items():
            self.points[prof] = {r: ns.points_for_file(t, s, wi, w) for r, (t, s, wi) in files.items()}
            self.alert_points[prof] = {r: ns.points_for_file(t, s, wi, w)
                                       for r, (t, s, wi) in alert_files.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", action="append")
    ap.add_argument("--set", action="append")
    ap.add_argument("--iotad", default=os.environ.get("IOTAD", os.path.join(REPO, "build", "iotad")))
    ap.add_argument("--cache", help="keep replays here, keyed by binary and setting (reused)")
    ap.add_argument("--profile", default="all", choices=list(ns.PROFILES) + ["all"])
    ap.add_argument("--per-file", action="store_true")
    args = ap.parse_args()

    profiles = {p: ns.PROFILES[p] for p in (ns.PROFILES if args.profile == "all" else [args.profile])}
    with open(LABELS) as fh:
        labels = json.load(fh)
    windows_by_file = {r: len(w) for r, w in labels.items()}
    cats = sorted({category(r) for r in labels})
    bid = binary_id(args.iotad)
    tmp = None
    cache = args.cache
    if not cache:
        tmp = cache = tempfile.mkdtemp(prefix="nab_loco.")
    settings = []
    try:
        for key, params in settings_from(args):
            out = os.path.join(cache, hashlib.sha1(f"{bid} {key}".encode()).hexdigest()[:16])
            if not os.path.exists(os.path.join(out, ".done")):
                shutil.rmtree(out, ignore_errors=True)
                replay(args.iotad, params, out)
                with open(os.path.join(out, ".done"), "w") as fh:
                    fh.write(f"{bid} {key}\n")
            files = load(out, labels)
            alert_files = load(out, labels, "alert")
            settings.append(Setting(key, files, alert_files, profiles))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    for st in settings:
        row = {"nab_setting": st.key or "(defaults)", "profiles": {}}
        for prof, w in profiles.items():
            pts = st.points[prof]
            t = ns.best_threshold(pts, w)
            tot = subset_score(pts, windows_by_file, w, t)
            alert = subset_score(st.alert_points[prof], windows_by_file, w, 0.5)
            cat_scores = {}
            for c in cats:
                sub = {r: p for r, p in pts.items() if category(r) == c}
                s = subset_score(sub, windows_by_file, w, t)
                cat_scores[c] = {"score": s["score"], "detected": s["detected"], "windows": s["windows"],
                                 "fp_rows": s["fp_rows"]}
            entry = {"threshold": t, "score": tot["score"], "detected": tot["detected"],
                     "windows": tot["windows"], "fp_rows": tot["fp_rows"], "alert_score": alert["score"],
                     "alert_detected": alert["detected"], "alert_fp_rows": alert["fp_rows"],
                     "categories": cat_scores}
            if args.per_file:
                entry["per_file"] = {r: v["raw"] for r, v in tot["per_file"].items()}
            row["profiles"][prof] = entry
        print(json.dumps(row), flush=True)

    for prof, w in profiles.items():
        folds = {}
        for c in cats:
            best = None
            for st in settings:
                train = {r: p for r, p in st.points[prof].items() if category(r) != c}
                t = ns.best_threshold(train, w)
                s = subset_score(train, windows_by_file, w, t)["raw"]
                if best is None or s > best[0] + 1e-9:
                    best = (s, st, t)
            _, st, t = best
            test = {r: p for r, p in st.points[prof].items() if category(r) == c}
            res = subset_score(test, windows_by_file, w, t)
            # the same category in-sample: best setting and threshold chosen on all five
            folds[c] = {"setting": st.key or "(defaults)", "threshold": t, "left_out": res["score"],
                        "detected": res["detected"], "windows": res["windows"], "fp_rows": res["fp_rows"]}
        best_all = None
        for st in settings:
            t = ns.best_threshold(st.points[prof], w)
            s = subset_score(st.points[prof], windows_by_file, w, t)
            if best_all is None or s["raw"] > best_all[0]["raw"] + 1e-9:
                best_all = (s, st, t)
        s_all, st_all, t_all = best_all
        for c in cats:
            sub = {r: p for r, p in st_all.points[prof].items() if category(r) == c}
            folds[c]["in_sample"] = subset_score(sub, windows_by_file, w, t_all)["score"]
        scored = [f["left_out"] for f in folds.values() if f["left_out"] is not None]
        print(json.dumps({"nab_loco": prof, "left_out_mean": round(sum(scored) / len(scored), 2),
                          "in_sample_setting": st_all.key or "(defaults)", "in_sample_threshold": t_all,
                          "in_sample_score": s_all["score"], "folds": folds}), flush=True)


if __name__ == "__main__":
    main()
