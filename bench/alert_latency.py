#!/usr/bin/env python3
"""Alert delivery benchmark against a real iotad on loopback (prints one JSON object).

1. latency: anomaly -> webhook received. One threshold-rule breach at a time (grouping off);
   t0 is taken just before the ingest request is sent, t1 when the local webhook receiver has
   read the request, so the figure includes ingest, the durable commit, detection, the policy
   engine, the outbox and the HTTP delivery (an upper bound of anomaly -> webhook).
2. storm with grouping on: many anomaly episodes as fast as ingest allows; reports anomalies
   per second through the policy engine and how many messages the storm became.
3. outbox throughput with grouping off: every anomaly is one webhook; alerts delivered/s.

Usage: IOTAD_BIN=build/iotad bench/alert_latency.py [--samples 200] [--storm 2000]
Use a Release build without sanitizers for figures (bench/README.md)."""
import argparse
import json
import os
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from conftest import Iotad, free_port  # noqa: E402


class Hook:
    def __init__(self):
        self.port = free_port()
        self.got = []  # (time, body)
        self.cv = threading.Condition()
        hook = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                t = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with hook.cv:
                    hook.got.append((t, body))
                    hook.cv.notify_all()

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def wait_count(self, n, timeout=60):
        deadline = time.time() + timeout
        with self.cv:
            while len(self.got) < n and time.time() < deadline:
                self.cv.wait(0.5)
            return len(self.got) >= n


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--storm", type=int, default=2000)
    ap.add_argument("--devices", type=int, default=50)
    args = ap.parse_args()
    srv = Iotad(env={"IOTAD_ALERT_ALLOW_PRIVATE": "1"})
    hook = Hook()
    out = {"bench": "alert_latency"}
    try:
        adm = srv.admin()
        adm.patch("/api/v1/alert-settings", {"flap_threshold": 0, "auto_incident": "off"})
        ch = adm.post("/api/v1/alert-channels", {"name": "bench", "kind": "webhook",
                                                 "url": f"http://127.0.0.1:{hook.port}/h",
                                                 "secret": "k", "rate_per_min": 0}).json()
        pol = adm.post("/api/v1/alert-policies", {"name": "all", "channel_id": ch["id"],
                                                  "severities": ["critical"],
                                                  "group_window_ms": 0}).json()
        adm.post("/api/v1/rules", {"name": "hot", "metric": "temp", "kind": "above",
                                   "threshold": 30, "for_ms": 0, "severity": "critical"})
        dev, key = adm.device_with_key("lat")
        s = requests.Session()
        s.headers["X-API-Key"] = key
        ts = int(time.time() * 1000) - 10_000_000
        # 1. latency, one anomaly at a time
        lat = []
        for i in range(args.samples):
            ts += 2
            s.post(srv.url + "/api/v1/ingest", json=[{"ts": ts, "metrics": {"temp": 20}}])
            n = len(hook.got)
            ts += 2
            t0 = time.perf_counter()
            s.post(srv.url + "/api/v1/ingest", json=[{"ts": ts, "metrics": {"temp": 40}}])
            if not hook.wait_count(n + 1, timeout=10):
                raise SystemExit("webhook did not arrive")
            lat.append((hook.got[n][0] - t0) * 1000)
        out["latency_ms"] = {"samples": len(lat), "p50": round(statistics.median(lat), 2),
                             "p90": round(pct(lat, 90), 2), "p99": round(pct(lat, 99), 2),
                             "max": round(max(lat), 2)}
        print(f"latency p50={out['latency_ms']['p50']} p99={out['latency_ms']['p99']} ms",
              file=sys.stderr)

        keys = [adm.device_with_key(f"storm{i}")[1] for i in range(args.devices)]

        def storm(n):
            """n anomaly episodes: alternating normal/breach points over the devices."""
            nonlocal ts
            per = max(1, n // len(keys))
            t0 = time.perf_counter()
            for k in keys:
                batch = []
                for _ in range(per):
                    ts += 2
                    batch.append({"ts": ts, "metrics": {"temp": 20}})
                    batch.append({"ts": ts + 1, "metrics": {"temp": 40}})
                requests.post(srv.url + "/api/v1/ingest", headers={"X-API-Key": k}, json=batch,
                              timeout=60)
            return per * len(keys), t0

        def alerts_total():
            return adm.get("/api/v1/alerts", params={"limit": 1}).json()["total"]

        # 2. storm with grouping on (a fresh policy, so no earlier message shares its group):
        # one message per group window
        adm.patch(f"/api/v1/alert-policies/{pol['id']}", {"enabled": False})
        ch2 = adm.post("/api/v1/alert-channels", {"name": "storm", "kind": "webhook",
                                                  "url": f"http://127.0.0.1:{hook.port}/storm",
                                                  "rate_per_min": 0}).json()
        pol2 = adm.post("/api/v1/alert-policies", {"name": "grouped", "channel_id": ch2["id"],
                                                   "severities": ["critical"],
                                                   "group_wait_ms": 1000,
                                                   "group_window_ms": 30000}).json()
        before_msgs, before_alerts = len(hook.got), alerts_total()
        before_anoms = adm.get("/api/v1/anomalies", params={"limit": 1}).json()["total"]
        n, t0 = storm(args.storm)
        deadline = time.time() + 120
        while time.time() < deadline:
            total = adm.get("/api/v1/anomalies", params={"limit": 1}).json()["total"]
            if total - before_anoms >= n:
                break
            time.sleep(0.05)
        t_anoms = time.perf_counter() - t0
        hook.wait_count(before_msgs + 1, timeout=10)
        time.sleep(1.5)
        msgs = hook.got[before_msgs:]
        counts = [json.loads(b)["count"] for _, b in msgs]
        out["storm_grouped"] = {"anomalies": n, "seconds": round(t_anoms, 3),
                                "anomalies_per_s": round(n / t_anoms, 1),
                                "messages": len(msgs), "counted_in_messages": sum(counts),
                                "outbox_rows": alerts_total() - before_alerts}
        print(f"storm: {n} anomalies -> {len(msgs)} message(s), {n / t_anoms:.0f} anomalies/s",
              file=sys.stderr)

        # 3. outbox throughput, grouping off: one webhook per anomaly
        adm.patch(f"/api/v1/alert-policies/{pol2['id']}", {"enabled": False})
        adm.patch(f"/api/v1/alert-policies/{pol['id']}", {"enabled": True})
        before = len(hook.got)
        n, t0 = storm(args.storm // 2)
        if not hook.wait_count(before + n, timeout=180):
            raise SystemExit(f"only {len(hook.got) - before} of {n} webhooks arrived")
        dt = hook.got[before + n - 1][0] - t0
        out["outbox_ungrouped"] = {"alerts": n, "seconds": round(dt, 3),
                                   "delivered_per_s": round(n / dt, 1)}
        print(f"outbox: {n} webhooks in {dt:.2f} s = {n / dt:.0f}/s", file=sys.stderr)
    finally:
        hook.srv.shutdown()
        srv.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
