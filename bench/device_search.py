#!/usr/bin/python3
"""The device pickers' search at scale, before and after, in the same run; one JSON object.

A reference build (--ref-bin, e.g. main's before the change) and this build (--bin) serve the
same devices side by side: the devices are registered once through the reference build
(POST /api/v1/devices/bulk), then its store is copied (SQLite: the data directory; PostgreSQL:
CREATE DATABASE ... TEMPLATE) and each build opens its own copy (this build migrates its copy
at start). Then --rounds rounds, the two servers' order alternating, --reps requests of each
query (median), end to end over HTTP:
  - picker: what a device picker sends as the user types (50 rows by name): the reference build
    with q= (a substring search, LIKE '%q%', and a COUNT(*) of every match), this build with
    q=&match=prefix (a name prefix: an index range; the count capped at 1,000);
  - contains: the same q= on both builds (this build: its own SQL per filter, count capped);
  - list: the dashboard's first page by name and a deep page (no search).
Ratios are reference / this build (above 1: this build is faster).
Usage: bench/device_search.py --ref-bin DIR/build/iotad [--bin build/iotad]
                              [--store sqlite|postgresql|both] [--devices 100000] [--reps 5]
                              [--rounds 3]"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import services  # noqa: E402  (tests/services.py: a throw-away PostgreSQL)

PASSWORD = "bench-password-123"
TYPES = ["thermostat", "meter", "camera", "gateway", "valve"]

# the keystrokes of a picker search for one device, and a miss
PICKER = ["f", "fleet-0", "fleet-09", "fleet-0999", "fleet-099999", "zzz"]
CONTAINS = ["fleet-09999", "Site 42"]
LIST = {"first_page": "sort=name&limit=200", "deep_page": "sort=name&limit=10000&offset=50000"}


def call(url, path, token=None, body=None):
    req = urllib.request.Request(url + path,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 method="POST" if body is not None else "GET")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read() or b"null")


class Server:
    def __init__(self, binary, data_dir, store=None):
        self.log_path = os.path.join(data_dir, "bench.log")
        args = [binary, "serve", "--data-dir", data_dir, "--http-listen", "127.0.0.1:0",
                "--mqtt-listen", "127.0.0.1:0"] + (["--store", store] if store else [])
        env = dict(os.environ, IOTAD_ADMIN_PASSWORD=PASSWORD, IOTAD_FAST_HASH="1")
        self.log = open(self.log_path, "a")
        start = self.log.tell()  # a restart appends: read its own lines only
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, env=env)
        deadline = time.time() + 300
        while True:
            with open(self.log_path, errors="replace") as f:
                f.seek(start)
                m = re.findall(r"msg=listening http_port=(\d+)", f.read())
            if m:
                break
            if self.proc.poll() is not None or time.time() > deadline:
                sys.exit(f"iotad did not start: see {self.log_path}")
            time.sleep(0.2)
        self.url = "http://127.0.0.1:" + m[-1]
        self.token = call(self.url, "/api/v1/auth/login",
                          body={"email": "admin@localhost", "password": PASSWORD})["token"]

    def get(self, query):
        return call(self.url, "/api/v1/devices?" + query, self.token)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=120)
        self.log.close()


def seed(srv, n):
    for s in range(0, n, 1000):
        devs = [{"name": f"fleet-{i:06d}", "type": TYPES[i % 5], "location": f"Site {i % 97}",
                 "firmware": "2.0.0"} for i in range(s, min(n, s + 1000))]
        assert call(srv.url, "/api/v1/devices/bulk", srv.token,
                    {"devices": devs, "keys": False})["created"] == len(devs)


def timed(srv, query, reps):
    srv.get(query)  # warm
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        r = srv.get(query)
        ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts), r


def queries(kind):
    """(name, query) per build: 'ref' or 'new'."""
    out = []
    for q in PICKER:
        base = "q=" + urllib.parse.quote(q) + "&sort=name&order=asc&limit=50"
        out.append((f"picker q={q}", base if kind == "ref" else base + "&match=prefix"))
    for q in CONTAINS:
        out.append((f"contains q={q}", "q=" + urllib.parse.quote(q) + "&sort=name&limit=50"))
    out += [(k, v) for k, v in LIST.items()]
    out.append(("picker open (no q)", "sort=name&order=asc&limit=50"))
    return out


def run_store(store, a, tmp, pg):
    ref_dir, new_dir = os.path.join(tmp, store + "-ref"), os.path.join(tmp, store + "-new")
    os.makedirs(ref_dir)
    ref_url = new_url = None
    if store == "postgresql":
        ref_url = pg.create_db("search_ref")
    t0 = time.time()
    srv = Server(a.ref_bin, ref_dir, ref_url)
    try:
        seed(srv, a.devices)
    finally:
        srv.stop()
    seeded_s = round(time.time() - t0, 1)
    if store == "postgresql":
        pg.psql("CREATE DATABASE search_new TEMPLATE search_ref")
        new_url = pg.url("search_new")
        os.makedirs(new_dir)
        for f in os.listdir(ref_dir):  # the sealing key and other files beside the store
            p = os.path.join(ref_dir, f)
            if os.path.isfile(p) and not f.startswith("bench"):
                shutil.copy2(p, new_dir)
    else:
        shutil.copytree(ref_dir, new_dir)
    servers = {"ref": Server(a.ref_bin, ref_dir, ref_url)}
    try:
        servers["new"] = Server(a.bin, new_dir, new_url)
    except BaseException:
        servers["ref"].stop()
        raise
    res = {k: {} for k in servers}
    answers = {k: {} for k in servers}
    try:
        for rnd in range(a.rounds):
            for kind in (("ref", "new") if rnd % 2 == 0 else ("new", "ref")):
                for name, q in queries(kind):
                    ms, r = timed(servers[kind], q, a.reps)
                    res[kind].setdefault(name, []).append(ms)
                    answers[kind][name] = {"rows": len(r["items"]), "total": r["total"],
                                           "total_capped": r.get("total_capped", False),
                                           "first": r["items"][0]["name"] if r["items"] else None}
    finally:
        for s in servers.values():
            s.stop()
    med = {k: {n: round(statistics.median(v), 2) for n, v in r.items()} for k, r in res.items()}
    return {"seed_s": seeded_s, "ms_median_of_rounds": med,
            "ms_rounds": {k: {n: [round(x, 1) for x in v] for n, v in r.items()}
                          for k, r in res.items()},
            "ref_over_new": {n: round(med["ref"][n] / med["new"][n], 1) for n in med["ref"]},
            "answers": answers}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref-bin", required=True)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "iotad"))
    ap.add_argument("--store", default="both", choices=["sqlite", "postgresql", "both"])
    ap.add_argument("--devices", type=int, default=100000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    out = {"devices": a.devices, "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    tmp = tempfile.mkdtemp(prefix="iotad-device-search-")
    os.chmod(tmp, 0o755)
    pg = None
    try:
        stores = ["sqlite", "postgresql"] if a.store == "both" else [a.store]
        if "postgresql" in stores:
            pg = services.Postgres(base=os.path.join(tmp, "pg"))
        for store in stores:
            out[store] = run_store(store, a, tmp, pg)
        out["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(out))
    finally:
        if pg:
            pg.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
