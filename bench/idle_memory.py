#!/usr/bin/python3
"""Server memory per connected idle MQTT device: starts iotad (build/iotad), registers N
devices with keys, measures the server's RSS, connects all N over MQTT 3.1.1 with their
credentials and keeps them idle, measures again. Prints one JSON object.
Usage: bench/idle_memory.py [N]   (default 2000; raises RLIMIT_NOFILE as needed)"""
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
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def api(url, path, body=None, token=None, method=None):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode() if body is not None else None,
                                 method=method or ("POST" if body is not None else "GET"))
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def mqtt_connect(port, user, password):
    s = socket.create_connection(("127.0.0.1", port))
    def st(x):
        b = x.encode()
        return struct.pack(">H", len(b)) + b
    vh = st("MQTT") + bytes([4, 0xC2]) + struct.pack(">H", 600)
    body = vh + st(user) + st(user) + st(password)
    s.sendall(bytes([0x10, len(body)]) if len(body) < 128 else bytes([0x10, (len(body) & 127) | 128, len(body) >> 7]))
    s.sendall(body)
    ack = s.recv(4)
    assert ack[:2] == b"\x20\x02" and ack[3] == 0, ack
    return s


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, N + 1024), hard))
    tmp = tempfile.mkdtemp(prefix="iotad-mem-")
    env = dict(os.environ, IOTAD_ADMIN_PASSWORD="bench-password-123", IOTAD_FAST_HASH="1")
    log = open(os.path.join(tmp, "log"), "w")
    proc = subprocess.Popen([os.path.join(ROOT, "build", "iotad"), "serve", "--data-dir", tmp,
                             "--http-listen", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0"],
                            stderr=log, stdout=log, env=env)
    try:
        for _ in range(200):
            text = open(os.path.join(tmp, "log")).read()
            m = re.search(r"http_port=(\d+) mqtt_port=(\d+)", text)
            if m:
                break
            time.sleep(0.05)
        http, mqtt = int(m.group(1)), int(m.group(2))
        url = f"http://127.0.0.1:{http}"
        token = api(url, "/api/v1/auth/login", {"email": "admin@localhost",
                                                 "password": "bench-password-123"})["token"]
        creds = []
        for i in range(N):
            d = api(url, "/api/v1/devices", {"name": f"idle-{i}"}, token)
            creds.append((d["id"], api(url, f"/api/v1/devices/{d['id']}/keys", {}, token)["key"]))
        time.sleep(1)
        before = rss_kb(proc.pid)
        socks = [mqtt_connect(mqtt, dev, key) for dev, key in creds]
        time.sleep(2)
        after = rss_kb(proc.pid)
        print(json.dumps({"bench": "idle_memory", "devices": N, "rss_before_kb": before,
                          "rss_after_kb": after,
                          "bytes_per_idle_device": round((after - before) * 1024 / N)}))
        for s in socks:
            s.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
