"""Nothing acknowledged is lost: kill -9 iotad while 100k QoS 1 points are being published;
after a restart every acknowledged point is in the store. Also a graceful SIGTERM stop, and
read-your-writes: what a device was acknowledged is readable by the next query."""
import json
import random
import signal
import threading
import time

import paho.mqtt.client as mqtt
import pytest
import requests

from conftest import Iotad, wait_for
from mqttraw import RawMqtt

TOTAL = 100_000
PER_MSG = 50


def test_kill_9_loses_no_acknowledged_point(iotad, admin):
    dev, key = admin.device_with_key("crash")
    acked = set()
    lock = threading.Lock()
    c = mqtt.Client(client_id="crash-test", protocol=mqtt.MQTTv311)
    c.username_pw_set(dev, key)
    c.max_inflight_messages_set(200)
    c.max_queued_messages_set(0)
    mids = {}

    def on_publish(client, userdata, mid):
        with lock:
            if mid in mids:
                acked.add(mids.pop(mid))

    c.on_publish = on_publish
    c.connect("127.0.0.1", iotad.mqtt_port, keepalive=30)
    c.loop_start()
    base = int(time.time() * 1000) - 600_000
    msg = 0
    killed = False
    deadline = time.time() + 120
    while msg * PER_MSG < TOTAL and time.time() < deadline:
        metrics = {f"m{j}": float(msg) for j in range(PER_MSG)}
        info = c.publish(f"devices/{dev}/telemetry",
                         json.dumps({"ts": base + msg, "metrics": metrics}), qos=1)
        with lock:
            mids[info.mid] = msg
        msg += 1
        if not killed and msg * PER_MSG >= TOTAL // 2:
            with lock:
                n_acked = len(acked)
            if n_acked > 100:
                iotad.stop(signal.SIGKILL)
                killed = True
                break
        if msg % 200 == 0:
            time.sleep(0.01)
    time.sleep(0.5)
    c.loop_stop()
    assert killed, "the server was not killed mid-stream"
    with lock:
        acked_msgs = sorted(acked)
    assert acked_msgs, "nothing was acknowledged before the kill"
    iotad.start()
    admin = iotad.admin()
    stored = set()
    for j in (0, PER_MSG - 1):
        frm = base
        while True:
            r = admin.get(f"/api/v1/devices/{dev}/data",
                          params={"metric": f"m{j}", "from": frm, "to": base + msg + 1,
                                  "limit": 100000}).json()
            stored |= {(j, p["ts"] - base) for p in r["points"]}
            if "next_from" not in r:
                break
            frm = r["next_from"]
    missing = [m for m in acked_msgs for j in (0, PER_MSG - 1) if (j, m) not in stored]
    assert not missing, f"{len(missing)} acknowledged points lost, e.g. {missing[:5]}"


def test_sigterm_stops_cleanly_and_keeps_data(iotad, admin):
    import requests
    dev, key = admin.device_with_key("term")
    now = int(time.time() * 1000)
    r = requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": key},
                      json=[{"ts": now - i, "metrics": {"v": i}} for i in range(1000)], timeout=30)
    assert r.status_code == 202
    assert iotad.stop(signal.SIGTERM) == 0
    iotad.start()
    assert len(iotad.admin().points(dev, "v", limit=5000)) == 1000


# --- read-your-writes ----------------------------------------------------------------------
RYW_POINTS = 200


def send_ahead(iotad, dev, key, transport, metric):
    """Sends RYW_POINTS points stamped now, now+1 ms, ... as fast as the transport acks them (a
    device faster than one point per ms, or with a clock slightly ahead), returns after the
    last ack."""
    base = int(time.time() * 1000)
    points = [{"ts": base + i, "metrics": {metric: i}} for i in range(RYW_POINTS)]
    if transport == "http":
        r = requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": key}, json=points,
                          timeout=30)
        assert r.status_code == 202 and r.json()["accepted"] == RYW_POINTS, r.text
        return
    c = RawMqtt(iotad.mqtt_port, 4 if transport == "mqtt311" else 5, timeout=20)
    try:
        assert c.connect(client_id=f"ryw-{transport}", username=dev, password=key) == 0
        for i, p in enumerate(points):  # pipelined, like a device with a send window
            c.publish(f"devices/{dev}/telemetry", json.dumps(p), packet_id=i + 1)
        for i in range(RYW_POINTS):
            assert c.puback() == (i + 1, 0)
    finally:
        c.close()


@pytest.mark.parametrize("transport", ["mqtt311", "mqtt5", "http"])
def test_acknowledged_points_are_readable_by_the_next_default_query(iotad, admin, transport):
    """Regression: the data API's default window ended at the server's now, so points the
    store had acknowledged with timestamps a few ms ahead of it (accepted up to
    ts_max_future_s) were missing from the read right after the last ack (20-47 of 200) and
    appeared a second later."""
    dev, key = admin.device_with_key(f"ryw-{transport}")
    send_ahead(iotad, dev, key, transport, "v")
    got = admin.points(dev, "v", limit=10000)  # the dashboard's query: from only
    assert [p["value"] for p in got] == list(range(RYW_POINTS))
    assert len(admin.points(dev, limit=10000)) == RYW_POINTS  # every metric
    r = admin.get(f"/api/v1/devices/{dev}/data", params={"metric": "v", "step": "1m"})
    assert sum(b["count"] for b in r.json()["buckets"]) == RYW_POINTS


def test_every_ack_is_readable_at_once_across_chunks_and_checkpoints(tmp_path):
    """The store side of read-your-writes: after each 202 the whole series reads back, while
    batches cross chunk boundaries (120 points), the head is sealed into chunks, written as an
    open chunk by checkpoints (every second here) and unloaded when idle."""
    srv = Iotad(data_dir=str(tmp_path), args=["--checkpoint-interval-s", "1"])
    try:
        admin = srv.admin()
        dev, key = admin.device_with_key("ryw-chunks")
        s = requests.Session()
        s.headers["X-API-Key"] = key
        rnd = random.Random(11)
        base = int(time.time() * 1000) - 1_800_000
        total = 0
        for step in range(60):
            n = rnd.choice([1, 7, 119, 120, 121, 250])
            r = s.post(srv.url + "/api/v1/ingest", timeout=30,
                       json=[{"ts": base + total + k, "metrics": {"v": total + k}} for k in range(n)])
            assert r.status_code == 202, r.text
            total += n
            got = admin.points(dev, "v", **{"from": base, "limit": 100000})
            assert len(got) == total, f"step {step}: {len(got)} of {total} readable after the ack"
            if step % 15 == 14:
                time.sleep(2.2)  # two checkpoints: the idle head is written out and unloaded
    finally:
        srv.close()


def test_sigterm_with_many_devices_connected_records_each_one_offline(iotad, admin):
    # Issue 11 #11: a stop wrote each device's offline status and event in its own commit, one
    # fsync after another (11-12 s with 5,000 connections, 42 s on this machine; bench/abuse.py
    # stop). They are now one transaction: every one of them must still be there afterwards.
    import sqlite3
    n = 150
    clients = []
    for i in range(n):
        dev, key = admin.device_with_key(f"many-{i}")
        c = RawMqtt(iotad.mqtt_port, version=4)
        assert c.connect(client_id=dev, username=dev, password=key) == 0
        clients.append(c)
    assert wait_for(lambda: f'iotad_devices{{status="online"}} {n}\n' in admin.get("/metrics").text)
    assert iotad.stop(signal.SIGTERM) == 0
    db = sqlite3.connect(f"{iotad.data_dir}/iotad.db")
    assert db.execute("SELECT COUNT(*) FROM devices WHERE name LIKE 'many-%' AND status = "
                      "'offline'").fetchone()[0] == n
    assert db.execute("SELECT COUNT(DISTINCT device_id) FROM device_events WHERE kind = 'offline' "
                      "AND detail = 'mqtt closed (server_stop)'").fetchone()[0] == n
    db.close()
    for c in clients:
        c.sock.close()
    # the stop says that the detectors' state was saved
    assert "msg=detector_state_saved series=" in iotad.read_log()
    assert " failed=0 " in iotad.read_log().split("msg=detector_state_saved")[-1].split("\n")[0]
    iotad.start()
