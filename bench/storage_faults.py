#!/usr/bin/python3
"""Full disk, per transport (issue 11 #1/#3): points acknowledged against points stored. For each
transport, mounts a fresh SIZE MB tmpfs as the data directory of build/iotad (Release; the log
outside it), and has DEVICES devices (one connection each) publish BATCH-point batches until
the disk is full and every sender has been refused REFUSALS times (MQTT 3.1.1 is disconnected:
it reconnects and publishes again). Then SIGTERM, the tmpfs grown so that iotad can start,
a restart, and every device's stored points counted through the data API. Prints one JSON
object per transport: points acknowledged, acknowledged but not stored (must be 0), stored
without an acknowledgement (refused or unanswered; allowed: the device retries), points
stored when the disk filled, the WAL and database sizes then, and the refusals seen.

Usage (as root: it mounts tmpfs): bench/storage_faults.py [--size-mb 40] [--batch 1000]
  [--devices 4] [--window 16] [--refusals 20] [--transports mqtt311,mqtt5,http,websocket]
  [-- extra iotad serve arguments, e.g. --wal-max-mb 4]
MQTT senders keep WINDOW QoS 1 publishes in flight (a pipelining device); HTTP and WebSocket
send one batch at a time per device.

bench/storage_faults.py --wal [--seconds 24] [-- iotad arguments]: the largest WAL file under
sustained MQTT 5 QoS 1 load from bench_loadgen (compare --wal-max-mb 65536, i.e. no bound, with
the default in the same run)."""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import requests
import websocket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from mqttraw import RawMqtt  # noqa: E402

BIN = os.environ.get("IOTAD_BIN", os.path.join(ROOT, "build", "iotad"))
PASSWORD = "bench-password-123"


class Server:
    def __init__(self, data_dir, log_path, args):
        self.data_dir, self.log_path, self.args = data_dir, log_path, args
        self.start()

    def start(self):
        env = dict(os.environ, IOTAD_ADMIN_PASSWORD=PASSWORD, IOTAD_FAST_HASH="1")
        self.logf = open(self.log_path, "a")
        offset = os.path.getsize(self.log_path)
        self.proc = subprocess.Popen([BIN, "serve", "--data-dir", self.data_dir, "--http-listen",
                                      "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0", *self.args],
                                     stdout=self.logf, stderr=self.logf, env=env)
        for _ in range(1200):
            with open(self.log_path) as f:
                m = re.search(r"http_port=(\d+) mqtt_port=(\d+)", f.read()[offset:])
            if m:
                break
            if self.proc.poll() is not None:
                raise RuntimeError("iotad exited at start")
            time.sleep(0.05)
        self.http, self.mqtt = int(m.group(1)), int(m.group(2))
        self.url = f"http://127.0.0.1:{self.http}"
        r = requests.post(self.url + "/api/v1/auth/login",
                          json={"email": "admin@localhost", "password": PASSWORD}, timeout=60)
        self.s = requests.Session()
        self.s.headers["Authorization"] = "Bearer " + r.json()["token"]

    def device(self, name):
        d = self.s.post(self.url + "/api/v1/devices", json={"name": name}, timeout=60).json()
        return d["id"], self.s.post(self.url + f"/api/v1/devices/{d['id']}/keys", json={},
                                    timeout=60).json()["key"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=300)
        self.logf.close()
        return rc

    def stored(self, dev, frm, to):
        have, n = set(), 0
        while True:
            r = self.s.get(self.url + f"/api/v1/devices/{dev}/data",
                           params={"metric": "v", "from": frm, "to": to, "limit": 100000},
                           timeout=300)
            r.raise_for_status()
            body = r.json()
            have.update(p["ts"] for p in body["points"])
            n += 1
            if "next_from" not in body:
                return have
            frm = body["next_from"]


def batch(base, i, size):
    t = base + i * size
    return "[" + ",".join('{"ts":%d,"metrics":{"v":%d}}' % (t + k, k) for k in range(size)) + "]"


class Mqtt:
    def __init__(self, srv, dev, key, version, window):
        self.srv, self.dev, self.key, self.version, self.window = srv, dev, key, version, window
        self.c, self.pid, self.reconnects = None, 0, 0

    def send(self, payloads):
        """payloads: [(i, body)] -> {i: 'ack' | reason | 'closed'} (missing: unanswered)."""
        if self.c is None:
            self.c = RawMqtt(self.srv.mqtt, self.version, timeout=60)
            assert self.c.connect(client_id=f"sf-{self.dev}", username=self.dev,
                                  password=self.key) == 0
        pending, out = {}, {}
        for i, body in payloads:
            self.pid = self.pid % 65535 + 1
            pending[self.pid] = i
            try:
                self.c.publish(f"devices/{self.dev}/telemetry", body, packet_id=self.pid)
            except OSError:
                break
        while pending:
            ack = self.c.puback()
            if ack is None:
                for i in pending.values():
                    out[i] = "closed"
                self.c.close()
                self.c = None
                self.reconnects += 1
                break
            i = pending.pop(ack[0])
            out[i] = "ack" if ack[1] == 0 else f"puback 0x{ack[1]:02x}"
        return out

    def close(self):
        if self.c:
            self.c.close()


class Http:
    window = 1

    def __init__(self, srv, dev, key):
        self.url = srv.url + "/api/v1/ingest"
        self.s = requests.Session()
        self.s.headers.update({"X-API-Key": key, "Content-Type": "application/json"})

    def send(self, payloads):
        (i, body), = payloads
        r = self.s.post(self.url, data=body, timeout=120)
        return {i: "ack" if r.status_code == 202 else f"http {r.status_code}"}

    def close(self):
        self.s.close()


class Ws:
    window = 1

    def __init__(self, srv, dev, key):
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{srv.http}/api/v1/stream",
                                              header=[f"X-API-Key: {key}"], timeout=120)
        assert json.loads(self.ws.recv())["mode"] == "device"

    def send(self, payloads):
        (i, body), = payloads
        self.ws.send(body)
        msg = json.loads(self.ws.recv())
        return {i: "ack" if msg["type"] == "ack" else f"ws {msg.get('error')}"}

    def close(self):
        self.ws.close()


def publish(sender, base, size, acked, refusals, want_refusals, stop):
    i = 0
    while not stop.is_set() and sum(refusals.values()) < want_refusals:
        payloads = [(i + k, batch(base, i + k, size)) for k in range(sender.window)]
        i += sender.window
        for j, outcome in sender.send(payloads).items():
            if outcome == "ack":
                acked.append(j)
            else:
                refusals[outcome] = refusals.get(outcome, 0) + 1


def run(transport, a):
    mnt = tempfile.mkdtemp(prefix="iotad-sf-")
    logs = tempfile.mkdtemp(prefix="iotad-sf-log-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={a.size_mb}m,mode=0700", "tmpfs", mnt],
                   check=True)
    srv = None
    try:
        srv = Server(mnt, os.path.join(logs, "iotad.log"), a.iotad_args)
        base = int(time.time() * 1000) - 6 * 3600 * 1000
        devs, threads, acked, refusals, senders = [], [], [], [], []
        stop = threading.Event()
        for n in range(a.devices):
            dev, key = srv.device(f"sf-{transport}-{n}")
            s = {"mqtt311": lambda: Mqtt(srv, dev, key, 4, a.window),
                 "mqtt5": lambda: Mqtt(srv, dev, key, 5, a.window),
                 "http": lambda: Http(srv, dev, key),
                 "websocket": lambda: Ws(srv, dev, key)}[transport]()
            devs.append(dev)
            senders.append(s)
            acked.append([])
            refusals.append({})
            threads.append(threading.Thread(target=publish, args=(
                s, base, a.batch, acked[n], refusals[n], a.refusals, stop)))
        t0 = time.time()
        for t in threads:
            t.start()
        # sizes when the store first reports failing
        full = {}
        while any(t.is_alive() for t in threads):
            if not full and any(refusals):
                full = {"wal_bytes": os.path.getsize(os.path.join(mnt, "iotad.db-wal")),
                        "db_bytes": os.path.getsize(os.path.join(mnt, "iotad.db")),
                        "acked_points_at_first_refusal": sum(map(len, acked)) * a.batch,
                        "seconds_to_full": round(time.time() - t0, 1)}
            if time.time() - t0 > a.timeout:
                stop.set()
            time.sleep(0.01)
        for s in senders:
            s.close()
        rc = srv.stop()
        subprocess.run(["mount", "-o", f"remount,size={a.size_mb * 4}m", mnt], check=True)
        srv.start()
        acked_pts = lost = stored_pts = 0
        for n, dev in enumerate(devs):
            have = srv.stored(dev, base, base + 10 ** 9)
            want = {base + i * a.batch + k for i in acked[n] for k in range(a.batch)}
            acked_pts += len(want)
            lost += len(want - have)
            stored_pts += len(have)
        srv.stop()
        all_refusals = {}
        for r in refusals:
            for k, v in r.items():
                all_refusals[k] = all_refusals.get(k, 0) + v
        return {"transport": transport, "tmpfs_mb": a.size_mb, "devices": a.devices,
                "batch_points": a.batch, "window": getattr(senders[0], "window", 1),
                "iotad_args": a.iotad_args, "acked_points": acked_pts,
                "acked_points_lost": lost, "stored_points": stored_pts,
                "stored_not_acked": stored_pts - (acked_pts - lost), "refusals": all_refusals,
                "sigterm_rc_on_full_disk": rc, **full}
    finally:
        if srv and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
        subprocess.run(["umount", mnt])
        os.rmdir(mnt)
        shutil.rmtree(logs, ignore_errors=True)


def wal(a):
    """bench_loadgen (MQTT 5, QoS 1, 16 connections x 100 in flight, 1 point per message) for
    SECONDS against iotad on a temporary directory: the largest WAL file seen (sampled every
    20 ms), the database size and the rate, for the given iotad arguments."""
    tmp = tempfile.mkdtemp(prefix="iotad-wal-")
    srv = None
    try:
        srv = Server(tmp, os.path.join(tmp, "iotad.log"), a.iotad_args)
        creds = os.path.join(tmp, "creds")
        with open(creds, "w") as f:
            for n in range(16):
                f.write("%s %s\n" % srv.device(f"wal-{n}"))
        lg = subprocess.Popen([os.path.join(os.path.dirname(BIN), "bench_loadgen"), "mqtt",
                               "--port", str(srv.mqtt), "--creds", creds, "--protocol", "5",
                               "--qos", "1", "--connections", "16", "--inflight", "100",
                               "--duration", str(a.seconds)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
        most = 0
        path = os.path.join(tmp, "iotad.db-wal")
        while lg.poll() is None:
            if os.path.exists(path):
                most = max(most, os.path.getsize(path))
            time.sleep(0.02)
        out = json.loads(lg.stdout.read().strip().splitlines()[-1])
        restarts = 0
        for line in srv.s.get(srv.url + "/metrics", timeout=60).text.splitlines():
            if line.startswith("iotad_store_wal_restarts_total "):
                restarts = int(float(line.split()[1]))
        res = {"mode": "wal", "iotad_args": a.iotad_args, "seconds": a.seconds,
               "acked_total": out.get("acked_total"), "msgs_per_s": out.get("msgs_per_s"),
               "wal_max_bytes_seen": most, "db_bytes": os.path.getsize(os.path.join(tmp,
                                                                                 "iotad.db")),
               "wal_restarts": restarts}
        srv.stop()
        return res
    finally:
        if srv and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        k = argv.index("--")
        argv, extra = argv[:k], argv[k + 1:]
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size-mb", type=int, default=40)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--devices", type=int, default=4)
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--refusals", type=int, default=20)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--transports", default="mqtt311,mqtt5,http,websocket")
    p.add_argument("--wal", action="store_true",
                   help="instead: the WAL size under sustained MQTT QoS 1 (bench_loadgen)")
    p.add_argument("--seconds", type=int, default=24)
    a = p.parse_args(argv)
    a.iotad_args = extra
    if a.wal:
        print(json.dumps(wal(a)), flush=True)
        return
    for t in a.transports.split(","):
        print(json.dumps(run(t, a)), flush=True)


if __name__ == "__main__":
    main()
