#!/usr/bin/python3
"""A new user's first run, measured: starts build/iotad with a fresh temporary data directory
and the simulated fleet (`serve --simulate`, default 60 devices, 7 days of backfilled history),
waits for the backfill, lets the fleet run live for LIVE seconds (the opening scenario; random
faults only start after 5 minutes), then counts through the API the anomalies raised on the
backfilled history and live, per metric and per detector member (a member counts when its score
in the anomaly's details is >= 0.45, the alert threshold), the automatic incidents, and which of
the scenario's injected data faults (logged as msg=sim_fault ... trigger=opening) were found.
Prints one JSON object.
Usage: bench/first_run.py [--devices 60] [--days 7] [--live 240] [--bin build/iotad]"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "bench-password-123"


def call(url, path, token=None, body=None):
    req = urllib.request.Request(url + path,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 method="POST" if body is not None else "GET")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


def all_items(url, path, token, limit, **params):
    items, offset = [], 0
    while True:
        q = urllib.parse.urlencode(dict(params, limit=limit, offset=offset))
        page = call(url, f"{path}?{q}", token)["items"]
        items += page
        if len(page) < limit:
            return items
        offset += limit


def wait_log(path, pattern, timeout, proc):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(path, errors="replace") as f:
            m = re.search(pattern, f.read())
        if m:
            return m
        if proc.poll() is not None:
            sys.exit(f"iotad exited with {proc.returncode}")
        time.sleep(0.2)
    sys.exit(f"timed out waiting for {pattern}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=60)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--live", type=float, default=240)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "iotad"))
    a = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="iotad-first-run-")
    logp = os.path.join(tmp.name, "log")
    env = dict(os.environ, IOTAD_ADMIN_PASSWORD=PASSWORD, IOTAD_FAST_HASH="1",
               IOTAD_LOG_LEVEL="info")
    log = open(logp, "w")
    t0 = time.time()
    proc = subprocess.Popen([a.bin, "serve", "--data-dir", tmp.name, "--http-listen",
                             "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0", "--simulate",
                             "--sim-devices", str(a.devices), "--sim-backfill-days", str(a.days)],
                            stdout=log, stderr=log, env=env)
    try:
        port = wait_log(logp, r"msg=listening http_port=(\d+)", 60, proc).group(1)
        url = f"http://127.0.0.1:{port}"
        done = wait_log(logp, r"msg=sim_backfilled devices=\d+ days=\d+ samples=(\d+)", 900, proc)
        live_ms = int(time.time() * 1000)
        backfill_s = time.time() - t0
        time.sleep(a.live)
        token = call(url, "/api/v1/auth/login", body={"email": "admin@localhost",
                                                       "password": PASSWORD})["token"]
        anomalies = all_items(url, "/api/v1/anomalies", token, 1000)
        incidents = all_items(url, "/api/v1/incidents", token, 500)
        with open(logp, errors="replace") as f:
            text = f.read()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()

    def ts_of(x):
        return x["detected_at"]

    faults = [dict(device=m.group(1), kind=m.group(2), metric=m.group(3))
              for m in re.finditer(r"msg=sim_fault device=(\S+) name=\"[^\"]*\" kind=(\w+)"
                                   r"(?: metric=(\S+))?.*trigger=opening", text)]
    phase = {"backfill": collections.Counter(), "live": collections.Counter()}
    members = {"backfill": collections.Counter(), "live": collections.Counter()}
    live_list = []
    per_day = collections.Counter()
    examples = collections.defaultdict(list)
    for x in anomalies:
        p = "live" if ts_of(x) >= live_ms - 2000 else "backfill"
        metric = x.get("metric") or "?"
        phase[p][metric] += 1
        if p == "backfill":
            per_day[f"day -{(live_ms - ts_of(x)) // 86400000 + 1}"] += 1
            if len(examples[metric]) < 3:
                examples[metric].append(f"{(ts_of(x) - live_ms) / 3.6e6:.1f} h: {x.get('description')}")
        det = (x.get("details") or {}).get("detectors") or []
        names = [d["name"] for d in det if d.get("score", 0) >= 0.45] or ["(none >= 0.45)"]
        for n in names:
            members[p][n] += 1
        if p == "live":
            live_list.append({"device": x.get("device_id"), "metric": metric,
                              "severity": x.get("severity"),
                              "t_s": round((ts_of(x) - live_ms) / 1000, 1),
                              "description": x.get("description")})
    for f in faults:
        f["found"] = any(y["device"] == f["device"] and
                         (f["metric"] is None or y["metric"] == f["metric"] or
                          y["metric"].startswith("sys.") or y["metric"] == "(multivariate)")
                         for y in live_list)
    explained = 0
    for y in live_list:
        y["scenario"] = any(f["device"] == y["device"] for f in faults)
        explained += y["scenario"]
    out = {
        "devices": a.devices, "days": a.days, "live_s": a.live,
        "samples": int(done.group(1)), "backfill_wall_s": round(backfill_s, 1),
        "anomalies_backfill": sum(phase["backfill"].values()),
        "anomalies_live": sum(phase["live"].values()),
        "anomalies_live_on_scenario_devices": explained,
        "incidents": len(incidents),
        "backfill_per_day": dict(sorted(per_day.items(), reverse=True)),
        "backfill_per_metric": dict(phase["backfill"].most_common()),
        "live_per_metric": dict(phase["live"].most_common()),
        "backfill_per_member": dict(members["backfill"].most_common()),
        "backfill_examples": examples,
        "live_per_member": dict(members["live"].most_common()),
        "scenario_faults": faults,
        "live_anomalies": sorted(live_list, key=lambda y: y["t_s"]),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
