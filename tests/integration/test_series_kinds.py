"""Series kinds recognised from the data, through the server: a byte counter (with a reset) and
a 0/1 door state behaving normally raise no anomaly; a jump of the counter's rate does, with a
text about the rate, and so do a door stuck open and a door flapping open/closed."""
import math
import random
import time

import requests

from conftest import wait_for

MIN = 60_000


def ingest(iotad, key, rows):
    for i in range(0, len(rows), 1000):
        r = requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": key},
                          json=rows[i:i + 1000], timeout=60)
        assert r.status_code == 202, r.text


def detector_anomalies(admin, dev):
    r = admin.get("/api/v1/anomalies", params={"device_id": dev})
    assert r.status_code == 200, r.text
    return [a for a in r.json()["items"] if a["details"].get("source") == "detectors"]


def counter_rows(start, n, rnd, total, rate=lambda i: 2e4, reset_at=None):
    rows = []
    for i in range(n):
        if i == reset_at:
            total = 0  # the gateway rebooted: its counter starts over
        total += math.floor(60 * rate(i) * (1 + 0.2 * abs(rnd.gauss(0, 1))))
        rows.append({"ts": start + i * MIN, "metrics": {"rx_bytes": total}})
    return rows, total


def door_rows(start, n, rnd, state=None):
    rows = []
    for i in range(n):
        hour = (i / 60) % 24
        x = 1 if rnd.random() < (0.1 if 8 <= hour < 18 else 0.005) else 0
        rows.append({"ts": start + i * MIN, "metrics": {"door_open": state(i) if state else x}})
    return rows


def test_normal_counter_and_door_are_quiet_and_their_faults_are_found(iotad, admin):
    n = 3 * 1440  # three days a minute apart
    start = int(time.time() * 1000) // MIN * MIN - (n + 240) * MIN
    rnd = random.Random(7)
    gw, gw_key = admin.device_with_key("gw")
    door, door_key = admin.device_with_key("door")
    flap, flap_key = admin.device_with_key("door2")
    rows, total = counter_rows(start, n, rnd, 7e10, reset_at=n // 2)
    ingest(iotad, gw_key, rows)
    ingest(iotad, door_key, door_rows(start, n, rnd))
    ingest(iotad, flap_key, door_rows(start, n, random.Random(8)))
    # everything has been learned (the last point of each series is in the store) ...
    for dev, metric in ((gw, "rx_bytes"), (door, "door_open"), (flap, "door_open")):
        wait_for(lambda: len(admin.points(dev, metric, **{"from": str(start + (n - 1) * MIN)}))
                 == 1, timeout=60)
    time.sleep(1)  # the detector shard works after the durable write
    # ... and nothing of it was an anomaly
    for dev in (gw, door, flap):
        assert detector_anomalies(admin, dev) == [], dev

    t = start + n * MIN
    jump, _ = counter_rows(t, 60, rnd, total, rate=lambda i: 2e5)  # ten times the bytes per s
    ingest(iotad, gw_key, jump)
    ingest(iotad, door_key, door_rows(t, 120, rnd, state=lambda i: 1))  # stuck open 2 hours
    ingest(iotad, flap_key, door_rows(t, 60, rnd, state=lambda i: i % 2))  # flapping

    a = wait_for(lambda: detector_anomalies(admin, gw), timeout=30)[0]
    assert a["metric"] == "rx_bytes" and "rx_bytes rate = " in a["description"], a
    assert "/s" in a["description"]
    assert "expected_lo" not in a["details"]  # the range is about the rate, not the value
    a = wait_for(lambda: detector_anomalies(admin, door), timeout=30)[0]
    assert a["metric"] == "door_open" and "longer than its longest usual run" in a["description"]
    assert a["details"]["detectors"][1]["name"] == "stuck_state", a
    a = wait_for(lambda: detector_anomalies(admin, flap), timeout=30)[0]
    assert "changes state far more often than usual" in a["description"], a
