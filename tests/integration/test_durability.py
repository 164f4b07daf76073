"""Nothing acknowledged is lost: kill -9 iotad while 100k QoS 1 points are being published;
after a restart every acknowledged point is in the store. Also a graceful SIGTERM stop."""
import json
import signal
import threading
import time

import paho.mqtt.client as mqtt

from conftest import Iotad, wait_for

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
