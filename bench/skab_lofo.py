#!/usr/bin/python3
"""SKAB leave-one-folder-out: runs `iotad replay --format skab` once per parameter setting of a
grid, scores every folder (valve1, valve2, other; anomaly-free has no anomalies, so only its
false-alarm rate), and for each folder chooses the setting that is best on the *other* folders
(pooled F1, a setting whose pooled false-alarm rate exceeds --far-max loses 0.02 F1 per point
over), then scores the left-out folder with it; prints the left-out figures pooled over the
labelled folders and their mean (each folder weighing the same). This is how a parameter change is judged (see
docs/detection.md, SKAB): a setting is kept only if the left-out figures hold, never because
one folder or file improved.

Usage: bench/skab_lofo.py [--grid name=v1,v2,...]... [--far-max 12] [--iotad PATH] [--jobs 2]
Prints one JSON object per setting ("setting") and a final "lofo" object; stdlib only."""
import argparse
import csv
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "skab", "data")
FOLDERS = ["valve1", "valve2", "other", "anomaly-free"]
TRAIN = 400


def read_rows(path):
    with open(path, newline="") as fh:
        sample = fh.readline()
        fh.seek(0)
        return list(csv.DictReader(fh, delimiter=";" if sample.count(";") > sample.count(",")
                                   else ","))


def labels():
    out = {}
    for folder in FOLDERS:
        for name in sorted(os.listdir(os.path.join(DATA, folder))):
            if name.endswith(".csv"):
                rows = read_rows(os.path.join(DATA, folder, name))
                out[(folder, name)] = [float(r.get("anomaly") or 0) == 1 for r in rows]
    return out


def run(binary, params, truth):
    tmp = tempfile.mkdtemp(prefix="skab-lofo-")
    try:
        cmd = [binary, "replay", "--format", "skab", "--in", DATA, "--out", tmp, "--quiet",
               "--train-rows", str(TRAIN)]
        for k, v in params.items():
            cmd += ["--param", f"{k}={v}"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        per = {f: [0, 0, 0, 0] for f in FOLDERS}  # tp fp tn fn
        for (folder, name), y in truth.items():
            pred = read_rows(os.path.join(tmp, folder, name))
            assert len(pred) == len(y), (folder, name)
            c = per[folder]
            for t, p in zip(y[TRAIN:], pred[TRAIN:]):
                yhat = float(p["anomaly"]) == 1
                c[(0 if yhat else 2) + (0 if t == yhat else 1)] += 1
        return per
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def metrics(c):
    tp, fp, tn, fn = c
    return {"f1": round(tp / (tp + (fp + fn) / 2), 4) if tp + fp + fn else None,
            "far_pct": round(100 * fp / (fp + tn), 2) if fp + tn else None,
            "mar_pct": round(100 * fn / (fn + tp), 2) if fn + tp else None,
            "tp": tp, "fp": fp, "tn": tn, "fn": fn}


def pooled(per, folders):
    c = [0, 0, 0, 0]
    for f in folders:
        c = [a + b for a, b in zip(c, per[f])]
    return c


def objective(c, far_max):
    m = metrics(c)
    f1 = m["f1"] or 0.0
    far = m["far_pct"] or 0.0
    return f1 - 0.02 * max(0.0, far - far_max)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--grid", action="append", default=[])
    ap.add_argument("--far-max", type=float, default=12.0)
    ap.add_argument("--iotad", default=os.path.join(ROOT, "build", "iotad"))
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    axes = []
    for g in a.grid:
        name, values = g.split("=", 1)
        axes.append([(name, v) for v in values.split(",")])
    settings = [dict(combo) for combo in itertools.product(*axes)] if axes else [{}]
    truth = labels()
    with ThreadPoolExecutor(a.jobs) as ex:
        results = list(ex.map(lambda p: run(a.iotad, p, truth), settings))
    labelled = [f for f in FOLDERS if f != "anomaly-free"]
    for p, per in zip(settings, results):
        print(json.dumps({"setting": p, "all": metrics(pooled(per, labelled)),
                          **{f: metrics(per[f]) for f in FOLDERS}}), flush=True)
    lofo = {}
    left_out_sum = [0, 0, 0, 0]
    for f in FOLDERS:
        train = [g for g in labelled if g != f]
        best = max(range(len(settings)),
                   key=lambda i: objective(pooled(results[i], train), a.far_max))
        lofo[f] = {"chosen": settings[best], "left_out": metrics(results[best][f]),
                   "train": metrics(pooled(results[best], train))}
        if f != "anomaly-free":
            left_out_sum = [x + y for x, y in zip(left_out_sum, results[best][f])]
    best_all = max(range(len(settings)),
                   key=lambda i: objective(pooled(results[i], labelled), a.far_max))
    # the mean over the labelled folders of their left-out figures (each folder weighs the same,
    # however many rows it has): the figure a change is judged by, next to the pooled one
    lo = [lofo[f]["left_out"] for f in labelled]
    mean = {k: round(sum(m[k] for m in lo) / len(lo), 4) for k in ("f1", "far_pct", "mar_pct")}
    print(json.dumps({"lofo": lofo, "left_out_pooled": metrics(left_out_sum),
                      "left_out_mean": mean,
                      "in_sample_best": {"setting": settings[best_all],
                                         "all": metrics(pooled(results[best_all], labelled))}}))


if __name__ == "__main__":
    sys.exit(main())
