#!/usr/bin/python3
"""Server memory per connected idle MQTT device: starts iotad (build/iotad), registers N
devices with keys, measures the server's RSS, connects all N over MQTT 3.1.1 with their
credentials (spread over loopback source addresses 127.1.x.y, PER_ADDR connections each, so
neither the ephemeral port range nor a per-address connection cap limits N), keeps them idle
for WAIT seconds, and measures again. Prints one JSON object per sample time.

Usage: bench/idle_memory.py [N] [--wait S[,S...]] [--per-addr K] [--iotad PATH]
  N          devices (default 2000)
  --wait     seconds after the last CONNACK at which RSS is read (default 2,30)
  --per-addr connections per source address (default 50)

Both this process and iotad need N + some file descriptors: RLIMIT_NOFILE is raised up to the
hard limit, and N is refused above it (raising the hard limit needs CAP_SYS_RESOURCE).
The RSS delta also holds what the idle devices made the server store and learn in the wait
(the sys.* security series), which is the point: an idle device should cost almost nothing."""
import argparse
import http.client
import json
import os
import re
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


class Api:
    """One keep-alive HTTP connection (registering 50k devices one connection each is slow)."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.token = None

    def call(self, path, body=None):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        for attempt in range(2):
            try:
                self.conn.request("POST" if body is not None else "GET", path,
                                  json.dumps(body) if body is not None else None, headers)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (http.client.HTTPException, OSError):
                if attempt:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        if r.status >= 300:
            raise RuntimeError(f"{path}: {r.status} {data[:200]!r}")
        return json.loads(data or b"null")


def source_address(i, per_addr):
    k = i // per_addr
    return f"127.1.{(k >> 8) & 255}.{(k & 255) or 1}" if k < 65536 else "127.0.0.1"


def mqtt_connect(port, user, password, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))

    def st(x):
        b = x.encode()
        return struct.pack(">H", len(b)) + b
    body = st("MQTT") + bytes([4, 0xC2]) + struct.pack(">H", 600) + st(user) + st(user) + \
        st(password)
    n = len(body)
    s.sendall((bytes([0x10, n]) if n < 128 else bytes([0x10, (n & 127) | 128, n >> 7])) + body)
    ack = s.recv(4)
    assert ack[:2] == b"\x20\x02" and ack[3] == 0, ack
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=2000)
    ap.add_argument("--wait", default="2,30")
    ap.add_argument("--per-addr", type=int, default=50)
    ap.add_argument("--iotad", default=os.path.join(ROOT, "build", "iotad"))
    a = ap.parse_args()
    waits = sorted(float(x) for x in a.wait.split(","))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if a.n + 512 > hard:
        sys.exit(f"N={a.n} needs {a.n + 512} file descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = tempfile.mkdtemp(prefix="iotad-mem-")
    env = dict(os.environ, IOTAD_ADMIN_PASSWORD="bench-password-123", IOTAD_FAST_HASH="1")
    log = open(os.path.join(tmp, "log"), "w")
    proc = subprocess.Popen([a.iotad, "serve", "--data-dir", tmp, "--http-listen",
                             "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0"],
                            stderr=log, stdout=log, env=env)
    socks = []
    try:
        m = None
        for _ in range(600):
            m = re.search(r"http_port=(\d+) mqtt_port=(\d+)", open(os.path.join(tmp, "log")).read())
            if m:
                break
            time.sleep(0.05)
        http_port, mqtt_port = int(m.group(1)), int(m.group(2))
        api = Api(http_port)
        api.token = api.call("/api/v1/auth/login", {"email": "admin@localhost",
                                                    "password": "bench-password-123"})["token"]
        creds = []
        t0 = time.time()
        for i in range(a.n):
            d = api.call("/api/v1/devices", {"name": f"idle-{i}", "type": "sensor"})
            creds.append((d["id"], api.call(f"/api/v1/devices/{d['id']}/keys", {})["key"]))
        print(f"registered {a.n} devices in {time.time() - t0:.0f} s", file=sys.stderr)
        time.sleep(2)
        before = rss_kb(proc.pid)
        t0 = time.time()
        for i, (dev, key) in enumerate(creds):
            socks.append(mqtt_connect(mqtt_port, dev, key, source_address(i, a.per_addr)))
        connected = time.time()
        print(f"connected {a.n} in {connected - t0:.1f} s", file=sys.stderr)
        for w in waits:
            time.sleep(max(0.0, connected + w - time.time()))
            after = rss_kb(proc.pid)
            print(json.dumps({"bench": "idle_memory", "devices": a.n, "wait_s": w,
                              "rss_before_kb": before, "rss_after_kb": after,
                              "bytes_per_idle_device": round((after - before) * 1024 / a.n)}),
                  flush=True)
        alive = sum(1 for s in socks if s.fileno() >= 0)
        assert alive == a.n
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        proc.wait(timeout=120)


if __name__ == "__main__":
    main()
