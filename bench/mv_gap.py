#!/usr/bin/python3
"""A gap in a device's data, at every time of day: a synthetic thermostat (temperature on a daily
cycle, humidity following it, power as noise; one row a minute) runs 7 hours, stops for
--gap-min minutes, runs one more hour, then its power goes 25% up for 10 rows. Once per hour of
the day at which the rows start (24 phases), through `iotad replay --format skab` (the device
detector the server runs, 300 warm-up rows as the server's). Counts the alarmed rows in the hour
after the resume (all normal) and in the fault. --gap-min 0: no gap (the hour after row 420,
the same 24 phases). Extra arguments go to replay (e.g. --param gap_k=1e9: a build's gap
handling off).

Usage: bench/mv_gap.py [--gap-min 120] [--iotad PATH] [replay args...]
Prints one JSON line per phase and a summary line; stdlib only."""
import argparse
import datetime
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAY_MS = 86_400_000
STEP = 60_000
BEFORE, AFTER, FAULT = 420, 60, 10


def write(path, t0, gap):
    rnd = random.Random(21)
    with open(path, "w") as f:
        f.write("datetime;temp;humidity;power;anomaly;changepoint\n")
        for k in range(BEFORE + gap + AFTER + FAULT):
            if BEFORE <= k < BEFORE + gap:
                continue
            ts = t0 + k * STEP
            temp = 21 + 3 * math.sin(2 * math.pi * (ts % DAY_MS) / DAY_MS) + rnd.gauss(0, 0.03)
            hum = 45 - 0.8 * (temp - 21) + rnd.gauss(0, 0.09)
            power = 100 + rnd.gauss(0, 1.45)
            if k >= BEFORE + gap + AFTER:
                power *= 1.25
            d = datetime.datetime.fromtimestamp(ts / 1000, datetime.timezone.utc)
            f.write(f"{d:%Y-%m-%d %H:%M:%S};{temp:.3f};{hum:.3f};{power:.2f};0;0\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gap-min", type=int, default=120)
    ap.add_argument("--iotad", default=os.path.join(ROOT, "build", "iotad"))
    a, extra = ap.parse_known_args()
    tmp = tempfile.mkdtemp(prefix="mv-gap-")
    try:
        rows = []
        for hour in range(24):
            t0 = hour * 3_600_000  # 1970-01-01 at that hour: only the time of day matters
            src = os.path.join(tmp, f"in/{hour}.csv")
            os.makedirs(os.path.dirname(src), exist_ok=True)
            write(src, t0, a.gap_min)
            out = os.path.join(tmp, f"out/{hour}.csv")
            subprocess.run([a.iotad, "replay", "--format", "skab", "--in", src, "--out", out,
                            "--train-rows", "300", "--quiet", *extra], check=True,
                           stdout=subprocess.DEVNULL)
            with open(out) as fh:
                alarm = [line.rstrip().endswith(",1") for line in fh.readlines()[1:]]
            resume = BEFORE
            after = sum(alarm[resume:resume + AFTER])
            fault = sum(alarm[resume + AFTER:])
            rows.append({"bench": "mv_gap", "start_hour": hour, "gap_min": a.gap_min,
                         "alarmed_in_hour_after_resume": after, "of": AFTER,
                         "fault_rows_alarmed": fault, "of_fault": FAULT})
            print(json.dumps(rows[-1]), flush=True)
        print(json.dumps({"bench": "mv_gap", "gap_min": a.gap_min,
                          "phases_alarmed_after_resume": sum(1 for r in rows
                                                             if r["alarmed_in_hour_after_resume"]),
                          "rows_alarmed_after_resume": sum(r["alarmed_in_hour_after_resume"]
                                                           for r in rows),
                          "of": 24 * AFTER,
                          "phases_fault_found": sum(1 for r in rows if r["fault_rows_alarmed"])}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
