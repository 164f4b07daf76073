#!/usr/bin/python3
"""Rule anomaly latency: the time from sending a point that crosses a threshold rule (HTTP
ingest) to receiving its "anomaly" event on the WebSocket stream, through the durable write,
the detector shard and the anomaly store. Starts build/iotad itself; prints one JSON object.
Usage: bench/anomaly_latency.py [N]   (default 200 episodes)"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 200


def call(url, path, body=None, token=None, key=None):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode() if body is not None else None,
                                 method="POST" if body is not None else "GET")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if key:
        req.add_header("X-API-Key", key)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def main():
    tmp = tempfile.mkdtemp(prefix="iotad-lat-")
    env = dict(os.environ, IOTAD_ADMIN_PASSWORD="bench-password-123", IOTAD_FAST_HASH="1")
    log = open(os.path.join(tmp, "log"), "w")
    proc = subprocess.Popen([os.path.join(ROOT, "build", "iotad"), "serve", "--data-dir", tmp,
                             "--http-listen", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0"],
                            stdout=log, stderr=log, env=env)
    try:
        for _ in range(200):
            m = re.search(r"http_port=(\d+)", open(os.path.join(tmp, "log")).read())
            if m:
                break
            time.sleep(0.05)
        url = f"http://127.0.0.1:{m.group(1)}"
        token = call(url, "/api/v1/auth/login", {"email": "admin@localhost",
                                                  "password": "bench-password-123"})["token"]
        dev = call(url, "/api/v1/devices", {"name": "lat"}, token)["id"]
        key = call(url, f"/api/v1/devices/{dev}/keys", {}, token)["key"]
        call(url, "/api/v1/rules", {"name": "lat", "metric": "v", "kind": "above", "threshold": 10,
                                    "severity": "warning"}, token)
        ws = websocket.create_connection(url.replace("http", "ws") + "/api/v1/stream",
                                         header=[f"Authorization: Bearer {token}"], timeout=10)
        ws.recv()
        lat, from_ack = [], []
        ts = int(time.time() * 1000) - 600_000
        for i in range(N):
            call(url, "/api/v1/ingest", [{"ts": ts, "metrics": {"v": 1}}], key=key)  # clears
            ts += 1
            t0 = time.perf_counter()
            call(url, "/api/v1/ingest", [{"ts": ts, "metrics": {"v": 50}}], key=key)
            t_ack = time.perf_counter()  # 202: the point is durable
            ts += 1
            while True:
                msg = json.loads(ws.recv())
                if msg.get("type") == "anomaly" and msg["anomaly"]["detected_at"] == ts - 1:
                    now = time.perf_counter()
                    lat.append((now - t0) * 1000)
                    from_ack.append((now - t_ack) * 1000)
                    break
        lat.sort()
        from_ack.sort()
        pct = lambda v, q: round(v[min(len(v) - 1, int(q * len(v)))], 3)
        print(json.dumps({"bench": "anomaly_latency", "episodes": N,
                          "send_p50_ms": pct(lat, 0.5), "send_p99_ms": pct(lat, 0.99),
                          "ack_p50_ms": pct(from_ack, 0.5), "ack_p99_ms": pct(from_ack, 0.99),
                          "max_ms": round(lat[-1], 3),
                          "note": "send_*: from sending the HTTP request (incl. its round trip "
                                  "and the durable commit); ack_*: from the 202 (point ingested "
                                  "and durable) to the anomaly event on the WebSocket"}))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
