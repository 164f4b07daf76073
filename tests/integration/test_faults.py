"""Fault injection: the data directory on a small tmpfs that fills up. Each transport must refuse
what it cannot store (MQTT 5: PUBACK 0x80; MQTT 3.1.1: the connection is closed, never a
PUBACK; HTTP: 507 with Retry-After; WebSocket: an error frame), /readyz must say not ready, the
refusals are counted and the log stays short, nothing acknowledged is lost (counted after a
restart), and ingest resumes by itself when space returns. Also SIGTERM and kill -9 while every
transport is publishing.

The tests mount a tmpfs, so they must run as root (they do in CI and on the dev machines); when
mounting is impossible they fail, they never skip."""
import errno
import json
import os
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time

import pytest
import requests
import websocket

from conftest import BIN, Iotad, wait_for
from mqttraw import RawMqtt

POINTS = 200  # points per batch: one batch = one MQTT message / HTTP request / WS frame
MAX_BATCHES = 20000  # the disk fills long before this


class Tmpfs:
    """A small tmpfs mounted on a fresh directory; fill() takes every free byte of it."""

    def __init__(self, size_mb=48):
        self.path = tempfile.mkdtemp(prefix="iotad-tmpfs-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700",
                            "iotad-test", self.path], capture_output=True, text=True)
        if r.returncode != 0:
            os.rmdir(self.path)
            pytest.fail(f"fault injection needs a tmpfs (run the tests as root): {r.stderr.strip()}")
        self.filler = os.path.join(self.path, "filler")

    def fill(self):
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 4096, 512):
                buf = b"\0" * size
                while True:
                    try:
                        if os.write(fd, buf) < size:
                            break
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        assert os.statvfs(self.path).f_bavail == 0

    def free(self):
        os.unlink(self.filler)

    def close(self):
        if subprocess.run(["umount", self.path]).returncode != 0:
            subprocess.run(["umount", "-l", self.path], check=True)
        os.rmdir(self.path)


@pytest.fixture
def disk():
    """(iotad, tmpfs): iotad with its data directory on a 48 MB tmpfs, its log elsewhere."""
    fs = Tmpfs()
    logs = tempfile.TemporaryDirectory(prefix="iotad-log-")
    srv = None
    try:
        srv = Iotad(data_dir=fs.path, log_path=os.path.join(logs.name, "iotad.log"))
        yield srv, fs
    finally:
        try:
            if srv:
                if os.path.exists(fs.filler):
                    fs.free()
                srv.close()
        finally:
            fs.close()
            logs.cleanup()


def batch(base, i):
    return json.dumps([{"ts": base + i * POINTS + k, "metrics": {"v": k}} for k in range(POINTS)])


def stored_ts(admin, dev, base):
    out, frm = set(), base
    while True:
        r = admin.get(f"/api/v1/devices/{dev}/data",
                      params={"metric": "v", "from": frm, "to": base + MAX_BATCHES * POINTS,
                              "limit": 100000})
        assert r.status_code == 200, r.text
        body = r.json()
        out |= {p["ts"] for p in body["points"]}
        if "next_from" not in body:
            return out
        frm = body["next_from"]


def metric(iotad, line_prefix):
    text = requests.get(iotad.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{line_prefix} not in /metrics")


def readyz(iotad):
    r = requests.get(iotad.url + "/readyz", timeout=10)
    return r.status_code, r.json()


def problem_lines(iotad):
    """Warnings and errors logged so far (device connects and the like are not problems)."""
    return sum(1 for line in iotad.read_log().splitlines()
               if " level=warn " in line or " level=error " in line)


class MqttSender:
    """send(i) -> 'ack' | ('refused', reason) | 'closed'; reconnects after a close."""

    def __init__(self, iotad, dev, key, version):
        self.iotad, self.dev, self.key, self.version = iotad, dev, key, version
        self.c = None
        self.pid = 0

    def send(self, payload):
        if self.c is None:
            self.c = RawMqtt(self.iotad.mqtt_port, self.version, timeout=20)
            assert self.c.connect(client_id=f"fault-{self.version}", username=self.dev,
                                  password=self.key) == 0
        self.pid = self.pid % 65535 + 1
        self.c.publish(f"devices/{self.dev}/telemetry", payload, packet_id=self.pid)
        ack = self.c.puback()
        if ack is None:
            # the server closed the connection (not a timeout: that would be a hang)
            try:
                self.c.sock.settimeout(5)
                assert self.c.sock.recv(1) == b""
            except ConnectionResetError:
                pass
            self.c.close()
            self.c = None
            return "closed"
        assert ack[0] == self.pid
        if self.version == 4:
            assert len(ack) == 2
        return "ack" if ack[1] == 0 else ("refused", ack[1])

    def close(self):
        if self.c:
            self.c.close()


class HttpSender:
    def __init__(self, iotad, dev, key):
        self.url = iotad.url + "/api/v1/ingest"
        self.s = requests.Session()
        self.s.headers["X-API-Key"] = key

    def send(self, payload):
        r = self.s.post(self.url, data=payload, headers={"Content-Type": "application/json"},
                        timeout=30)
        if r.status_code == 202:
            assert r.json() == {"accepted": POINTS}
            return "ack"
        assert r.status_code in (503, 507), r.text
        assert int(r.headers["Retry-After"]) > 0
        return ("refused", r.status_code, r.json()["error"])

    def close(self):
        self.s.close()


class WsSender:
    def __init__(self, iotad, dev, key):
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{iotad.http_port}/api/v1/stream",
                                              header=[f"X-API-Key: {key}"], timeout=30)
        assert json.loads(self.ws.recv())["mode"] == "device"
        self.seq = 0

    def send(self, payload):
        self.ws.send(payload)
        self.seq += 1
        msg = json.loads(self.ws.recv())
        assert msg["seq"] == self.seq, msg
        if msg["type"] == "ack":
            assert msg["accepted"] == POINTS
            return "ack"
        assert msg["type"] == "error" and msg["retry_after"] > 0, msg
        return ("refused", msg["error"])

    def close(self):
        self.ws.close()


def fill_until_refused(iotad, fs, sender, base, transport):
    """Publishes until the first refusal with the disk full, then checks readiness, counters
    and the log while the store fails. Returns (acked batch numbers, the first refusal, next i)."""
    acked = []
    for i in range(5):  # the store works
        assert sender.send(batch(base, i)) == "ack"
        acked.append(i)
    fs.fill()
    i, outcome = 5, "ack"
    while i < MAX_BATCHES:
        outcome = sender.send(batch(base, i))
        if outcome != "ack":
            break
        acked.append(i)
        i += 1
    assert outcome != "ack", "the store never failed on a full disk"
    status, body = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(readyz(iotad)))
    assert body["reason"] == "store_full", body
    assert metric(iotad, "iotad_store_failing") == 1
    assert metric(iotad, f'iotad_ingest_rejected_total{{transport="{transport}",'
                         f'reason="unavailable"}}') >= 1
    # a refusal storm costs a few log lines, not one (or three) per refused batch
    before = problem_lines(iotad)
    for k in range(200):
        assert sender.send(batch(base, i + 1 + k)) != "ack"
    assert problem_lines(iotad) - before < 20, iotad.read_log()[-4000:]
    return acked, outcome, i + 201


def resume_and_verify(iotad, fs, sender_factory, acked, base, start):
    fs.free()
    wait_for(lambda: readyz(iotad)[0] == 200, timeout=20)
    assert metric(iotad, "iotad_store_failing") == 0
    sender = sender_factory()
    for i in range(start, start + 5):
        assert sender.send(batch(base, i)) == "ack"
        acked.append(i)
    sender.close()
    assert "store_recovered" in iotad.read_log()
    iotad.restart()
    admin = iotad.admin()
    have = stored_ts(admin, iotad.dev, base)
    missing = [i for i in acked if any(base + i * POINTS + k not in have for k in range(POINTS))]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged batches lost: {missing[:10]}"


def device(iotad, name):
    admin = iotad.admin()
    dev, key = admin.device_with_key(name)
    iotad.dev = dev
    return dev, key


SENDERS = {
    # name: (transport label in /metrics, sender factory, the refusal it must see)
    "mqtt311": ("mqtt", lambda srv, dev, key: MqttSender(srv, dev, key, 4), "closed"),
    "mqtt5": ("mqtt", lambda srv, dev, key: MqttSender(srv, dev, key, 5), ("refused", 0x80)),
    "http": ("http", HttpSender, ("refused", 507, "storage_full")),
    "websocket": ("websocket", WsSender, ("refused", "storage_full")),
}


@pytest.mark.parametrize("name", list(SENDERS))
def test_full_disk_refuses_and_loses_nothing_acknowledged(disk, name):
    """MQTT 3.1.1 is disconnected (its PUBACK cannot say "not stored"), MQTT 5 gets PUBACK 0x80
    and keeps its connection, HTTP 507 + Retry-After, WebSocket an error frame."""
    iotad, fs = disk
    transport, make, refusal = SENDERS[name]
    dev, key = device(iotad, f"full-{name}")
    base = int(time.time() * 1000) - 3_600_000
    s = make(iotad, dev, key)
    acked, outcome, nxt = fill_until_refused(iotad, fs, s, base, transport)
    assert outcome == refusal, f"{name}: got {outcome}"
    if name == "mqtt5":
        assert s.c is not None, "an MQTT 5 client keeps its connection"
    s.close()
    resume_and_verify(iotad, fs, lambda: make(iotad, dev, key), acked, base, nxt)


# --- SIGTERM and kill -9 while every transport publishes ----------------------------------------
def publish_until_gone(sender, base, acked, stop):
    """Sends batches in a loop, recording the acknowledged ones, until the server is gone."""
    i = 0
    while not stop.is_set():
        try:
            outcome = sender.send(batch(base, i))
        except (OSError, AssertionError, ValueError, requests.RequestException,
                websocket.WebSocketException):
            return
        if outcome != "ack":
            return
        acked.append(i)
        i += 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill9"])
def test_stop_under_load_of_every_transport_loses_nothing_acknowledged(iotad, admin, sig):
    base = int(time.time() * 1000) - 3_600_000
    senders = {}
    for name, (_, make, _) in SENDERS.items():
        dev, key = admin.device_with_key(f"load-{name}")
        senders[name] = (dev, make(iotad, dev, key))
    acked = {name: [] for name in senders}
    stop = threading.Event()
    threads = [threading.Thread(target=publish_until_gone, args=(s, base, acked[n], stop))
               for n, (_, s) in senders.items()]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: all(len(a) >= 30 for a in acked.values()), timeout=60)
        rc = iotad.stop(sig)
        if sig == signal.SIGTERM:
            assert rc == 0
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    iotad.start()
    admin = iotad.admin()
    for name, (dev, _) in senders.items():
        have = stored_ts(admin, dev, base)
        done = list(acked[name])
        missing = [i for i in done if any(base + i * POINTS + k not in have for k in range(POINTS))]
        assert not missing, f"{name}: {len(missing)} of {len(done)} acknowledged batches lost"


# --- the SQLite WAL stays bounded under sustained ingest -----------------------------------------
def test_wal_starts_over_within_wal_max_mb_once_readers_let_go(tmp_path):
    """Back-to-back group commits never let SQLite start its WAL over on its own: the file grew
    with everything written (bench/storage_faults.py --wal: 9.8-13.1 MB for a 4.4-6.1 MB database
    in 24 s of MQTT QoS 1 load). Above wal_max_mb the writer catches the WAL up between two
    groups and the next commit starts it over, the file cut back to the bound. How far past the
    bound the file gets under load depends on the load (a reader's snapshot, the checkpoint
    thread's pass), so the test asserts the mechanism with a reader of its own: while it holds a
    snapshot the WAL grows with what is sent; once it lets go, the writer catches the WAL up
    (counted in /metrics) and the file is back within the bound; nothing acknowledged is lost."""
    bound = 1 << 20
    srv = Iotad(data_dir=str(tmp_path), args=["--wal-max-mb", "1"])
    try:
        admin = srv.admin()
        base = int(time.time() * 1000) - 3_600_000
        senders, acked = [], []
        for n in range(4):
            dev, key = admin.device_with_key(f"wal-{n}")
            senders.append((dev, HttpSender(srv, dev, key)))
            acked.append([])
        wal = os.path.join(str(tmp_path), "iotad.db-wal")
        reader = sqlite3.connect(f"file:{tmp_path}/iotad.db?mode=ro", uri=True,
                                 isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
        stop = threading.Event()
        threads = [threading.Thread(target=publish_until_gone, args=(s, base, acked[n], stop))
                   for n, (_, s) in enumerate(senders)]
        for t in threads:
            t.start()
        try:
            # nothing can start the WAL over while the snapshot is held: it holds all that is
            # sent
            wait_for(lambda: os.path.getsize(wal) > 4 * bound
                     or min(len(a) for a in acked) >= MAX_BATCHES // 4
                     or not any(t.is_alive() for t in threads), timeout=600)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert os.path.getsize(wal) > 4 * bound, "the WAL did not grow past the held snapshot"
        held = metric(srv, "iotad_store_wal_restarts_total")
        reader.execute("COMMIT")
        reader.close()

        # one batch at a time until the writer has caught the WAL up: the first group after the
        # reader let go may find the checkpoint thread copying (SQLITE_BUSY; tried again 20 ms on)
        dev0, sender0 = senders[0]
        def caught_up():
            i = len(acked[0])
            assert sender0.send(batch(base, i)) == "ack"
            acked[0].append(i)
            return metric(srv, "iotad_store_wal_restarts_total") > held
        wait_for(caught_up, timeout=300, interval=0.05)
        # the commit that started the WAL over cut the file back to the bound (journal_size_limit)
        assert os.path.getsize(wal) <= bound
        srv.restart()
        admin = srv.admin()
        for n, (dev, _) in enumerate(senders):
            have = stored_ts(admin, dev, base)
            lost = [i for i in acked[n]
                    if any(base + i * POINTS + k not in have for k in range(POINTS))]
            assert not lost, f"{dev}: {len(lost)} of {len(acked[n])} acknowledged batches lost"
    finally:
        srv.close()


def test_wal_max_mb_out_of_range_is_a_clear_error(tmp_path):
    r = subprocess.run([BIN, "serve", "--data-dir", str(tmp_path), "--wal-max-mb", "0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "wal_max_mb: '0' is not an integer in [1, 65536]" in r.stdout + r.stderr
