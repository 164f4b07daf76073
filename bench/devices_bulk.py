#!/usr/bin/python3
"""Device registration and the device list at scale, one JSON object on stdout:
  1. registration throughput in the same run: one device per request (POST /api/v1/devices,
     64 requests in flight, as bench/dashboard.mjs seeded before), one device + its key (two
     requests), and POST /api/v1/devices/bulk (1,000 per request, keys included, one client);
  2. at --devices devices (default 100,000), the device list queries the dashboard and the
     pickers send (first page by name, a deep page by name, name descending, a search, a
     picker search), median of --reps each, with the devices.name index and without it
     (dropped and re-created through SQLite between rounds, alternating, same server), and the
     query plan of each.
Usage: bench/devices_bulk.py [--devices 100000] [--single 2000] [--reps 5] [--rounds 3]
                             [--bin build/iotad]"""
import argparse
import concurrent.futures
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "bench-password-123"
TYPES = ["thermostat", "meter", "camera", "gateway", "valve"]


def call(url, path, token=None, body=None, method=None):
    req = urllib.request.Request(url + path,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 method=method or ("POST" if body is not None else "GET"))
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.loads(r.read() or b"null")


def device(i):
    return {"name": f"fleet-{i:06d}", "type": TYPES[i % 5], "location": f"Site {i % 97}",
            "firmware": "2.0.0"}


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


def rate(n, fn):
    t0 = time.perf_counter()
    fn()
    return round(n / (time.perf_counter() - t0), 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=100000)
    ap.add_argument("--single", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "iotad"))
    a = ap.parse_args()
    out = {"devices": a.devices, "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    tmp = tempfile.TemporaryDirectory(prefix="iotad-devices-bulk-")
    logp = os.path.join(tmp.name, "log")
    env = dict(os.environ, IOTAD_ADMIN_PASSWORD=PASSWORD, IOTAD_FAST_HASH="1")
    log = open(logp, "w")
    proc = subprocess.Popen([a.bin, "serve", "--data-dir", tmp.name, "--http-listen",
                             "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0"],
                            stdout=log, stderr=log, env=env)
    try:
        url = "http://127.0.0.1:" + wait_log(logp, r"msg=listening http_port=(\d+)", 60,
                                             proc).group(1)
        tok = call(url, "/api/v1/auth/login", body={"email": "admin@localhost",
                                                    "password": PASSWORD})["token"]
        pool = concurrent.futures.ThreadPoolExecutor(64)
        n = a.single
        out["single_devices_per_s"] = rate(n, lambda: list(pool.map(
            lambda i: call(url, "/api/v1/devices", tok, device(i)), range(n))))

        def with_key(i):
            d = call(url, "/api/v1/devices", tok, device(i))
            call(url, f"/api/v1/devices/{d['id']}/keys", tok, {})
        out["single_with_key_devices_per_s"] = rate(n, lambda: list(pool.map(
            with_key, range(n, 2 * n))))
        done = 2 * n
        B = 1000

        def bulk(start, count, keys=True):
            for s in range(start, start + count, B):
                r = call(url, "/api/v1/devices/bulk", tok,
                         {"devices": [device(i) for i in range(s, min(start + count, s + B))],
                          "keys": keys})
                assert r["created"] == min(B, start + count - s)
        out["bulk_no_keys_devices_per_s"] = rate(10 * B, lambda: bulk(done, 10 * B, False))
        done += 10 * B
        rest = max(0, a.devices - done)
        out["bulk_devices_per_s"] = rate(rest, lambda: bulk(done, rest))
        out["bulk_over_single"] = round(out["bulk_devices_per_s"] / out["single_devices_per_s"], 1)
        total = call(url, "/api/v1/devices?limit=1", tok)["total"]
        out["total_devices"] = total

        queries = {
            "first_page_by_name": "sort=name&limit=200",
            "deep_page_by_name": f"sort=name&limit=10000&offset={total // 2}",
            "by_name_desc": "sort=name&order=desc&limit=200",
            "search": "q=fleet-09999&limit=200",
            "picker_search": "q=Site%2042&limit=20",
        }
        sql = ("SELECT id FROM devices WHERE (? = '' OR owner_id = ?) AND (? = '' OR type = ?) "
               "AND (? = '' OR status = ?) AND (? = '' OR name LIKE ? OR location LIKE ? OR "
               "id = ? OR firmware LIKE ?) ORDER BY name ASC LIMIT 200 OFFSET 0")
        db = sqlite3.connect(os.path.join(tmp.name, "iotad.db"), timeout=30, cached_statements=0)

        def plan():  # the plain listing; a search orders by "+name" (store/sqlite/devices.c)
            return {"list": [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql, [""] * 11)],
                    "search": [r[3] for r in db.execute(
                        "EXPLAIN QUERY PLAN " + sql.replace("BY name", "BY +name"),
                        [""] * 6 + ["x", "%x%", "%x%", "x", "%x%"])]}

        res = {"index": {k: [] for k in queries}, "no_index": {k: [] for k in queries}}
        for rnd in range(a.rounds):
            for mode in ("no_index", "index"):
                if mode == "no_index":
                    db.execute("DROP INDEX IF EXISTS devices_name")
                else:
                    db.execute("CREATE INDEX IF NOT EXISTS devices_name ON devices(name)")
                db.commit()
                out[f"plan_{mode}"] = plan()
                for k, q in queries.items():
                    call(url, "/api/v1/devices?" + q, tok)  # warm (statement re-prepared)
                    ts = []
                    for _ in range(a.reps):
                        t0 = time.perf_counter()
                        call(url, "/api/v1/devices?" + q, tok)
                        ts.append((time.perf_counter() - t0) * 1000)
                    res[mode][k].append(statistics.median(ts))
        db.close()
        out["list_ms"] = {m: {k: [round(x, 1) for x in v] for k, v in r.items()}
                          for m, r in res.items()}
        out["list_ms_median"] = {m: {k: round(statistics.median(v), 1) for k, v in r.items()}
                                 for m, r in res.items()}
        out["no_index_over_index"] = {
            k: round(statistics.median(res["no_index"][k]) / statistics.median(res["index"][k]), 2)
            for k in queries}
        out["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(out))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


if __name__ == "__main__":
    main()
