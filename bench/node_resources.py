#!/usr/bin/env python3
"""A cluster-mode node's memory and CPU, for the Kubernetes cluster overlay's requests
(docs/deploy.md): PostgreSQL and RabbitMQ started on free loopback ports (tests/services.py),
one iotad node (`--store postgresql://... --cluster amqp://...`) with the simulated fleet
(--sim-devices N), then HTTP ingest batches for a while. Prints JSON lines: RSS and CPU share
after the idle wait (fleet only) and peak RSS / CPU share during the ingest phase. The same
figures for the embedded node (SQLite, no bus) are measured in the same run as the reference.

Usage: bench/node_resources.py [--iotad build/iotad] [--devices 60] [--wait 60] [--ingest 30]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import services  # noqa: E402

PASSWORD = "a-bench-password-4711"


def proc_stat(pid):
    with open(f"/proc/{pid}/status") as f:
        st = f.read()
    rss = int(re.search(r"VmRSS:\s+(\d+)", st).group(1))
    hwm = int(re.search(r"VmHWM:\s+(\d+)", st).group(1))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, hwm, cpu_s


def run(label, binary, args, devices, wait, ingest):
    d = tempfile.mkdtemp(prefix="iotad-res-")
    http = services.free_port()
    cmd = [binary, "serve", "--data-dir", d, "--http-listen", f"127.0.0.1:{http}",
           "--mqtt-listen", f"127.0.0.1:{services.free_port()}", "--simulate",
           "--sim-devices", str(devices), *args]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, "IOTAD_ADMIN_PASSWORD": PASSWORD})
    url = f"http://127.0.0.1:{http}"
    try:
        for _ in range(600):
            try:
                if requests.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        _, _, c0 = proc_stat(p.pid)
        t0 = time.time()
        time.sleep(wait)
        rss, hwm, c1 = proc_stat(p.pid)
        t1 = time.time()
        print(json.dumps({"label": label, "phase": "fleet", "devices": devices,
                          "rss_mb": round(rss / 1024, 1), "peak_rss_mb": round(hwm / 1024, 1),
                          "cpu_cores": round((c1 - c0) / (t1 - t0), 3)}), flush=True)
        tok = requests.post(url + "/api/v1/auth/login", json={
            "email": "admin@localhost", "password": PASSWORD}, timeout=10).json()["token"]
        h = {"Authorization": f"Bearer {tok}"}
        dev = requests.post(url + "/api/v1/devices", json={"name": "bench"}, headers=h,
                            timeout=10).json()
        key = requests.post(url + f"/api/v1/devices/{dev['id']}/keys", json={}, headers=h,
                            timeout=10).json()["key"]
        stop = time.time() + ingest
        sent = [0]

        def load():
            s = requests.Session()
            ts = int(time.time() * 1000) - 3600_000
            while time.time() < stop:
                batch = [{"ts": ts + i, "metrics": {"v": float(i % 50)}} for i in range(5000)]
                ts += 5000
                r = s.post(url + "/api/v1/ingest", json=batch, headers={"X-API-Key": key},
                           timeout=30)
                if r.status_code == 202:
                    sent[0] += len(batch)

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rss2, hwm2, c2 = proc_stat(p.pid)
        t2 = time.time()
        print(json.dumps({"label": label, "phase": "ingest", "points_accepted": sent[0],
                          "points_per_s": round(sent[0] / (t2 - t1)),
                          "rss_mb": round(rss2 / 1024, 1), "peak_rss_mb": round(hwm2 / 1024, 1),
                          "cpu_cores": round((c2 - c1) / (t2 - t1), 3)}), flush=True)
    finally:
        p.terminate()
        p.wait(timeout=120)
        subprocess.run(["rm", "-rf", d])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iotad", default=os.path.join(ROOT, "build", "iotad"))
    ap.add_argument("--devices", type=int, default=60)
    ap.add_argument("--wait", type=float, default=60)
    ap.add_argument("--ingest", type=float, default=30)
    a = ap.parse_args()
    run("embedded", a.iotad, [], a.devices, a.wait, a.ingest)
    pg, mq = services.Postgres(), services.RabbitMQ()
    try:
        store = pg.create_db("bench")
        run("cluster-node", a.iotad, ["--store", store, "--cluster", mq.url()], a.devices,
            a.wait, a.ingest)
    finally:
        mq.close()
        pg.close()


if __name__ == "__main__":
    main()
