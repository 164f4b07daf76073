"""Detection in the server: threshold rules managed over the API and applied without restart,
the learned detectors raising one anomaly per episode with an explanation, analyst feedback
reaching the detectors, detector state surviving a restart, and anomalies on the live stream."""
import json
import math
import random
import sqlite3
import time

import pytest
import requests
import websocket

from conftest import wait_for

STORE_BACKENDS = ("sqlite", "postgresql")  # conftest: each test on both


def ingest(iotad, key, batch):
    r = requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": key}, json=batch,
                      timeout=60)
    assert r.status_code == 202, r.text


def normal_series(start_ms, n, step_ms=60_000, seed=1):
    rnd = random.Random(seed)
    return [{"ts": start_ms + i * step_ms,
             "metrics": {"temp": round(20 + 2 * math.sin(i / 30) + rnd.gauss(0, 0.2), 2)}}
            for i in range(n)]


def anomalies(client, **params):
    r = client.get("/api/v1/anomalies", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_threshold_rule_applies_without_restart_and_streams(iotad, admin):
    dev, key = admin.device_with_key("boiler", type="thermostat")
    bad = admin.post("/api/v1/rules", {"name": "x", "kind": "sideways", "severity": "info",
                                        "threshold": 1})
    assert bad.status_code == 400
    r = admin.post("/api/v1/rules", {"name": "too hot", "device_type": "thermostat",
                                      "metric": "temp", "kind": "above", "threshold": 30,
                                      "for_ms": 0, "severity": "critical"})
    assert r.status_code == 201, r.text
    sub = websocket.create_connection(f"ws://127.0.0.1:{iotad.http_port}/api/v1/stream",
                                      header=[f"Authorization: Bearer {admin.token}"], timeout=10)
    sub.recv()
    now = int(time.time() * 1000)
    ingest(iotad, key, [{"ts": now - 2000, "metrics": {"temp": 25}},
                        {"ts": now - 1000, "metrics": {"temp": 35.5}}])
    found = wait_for(lambda: [a for a in anomalies(admin, device_id=dev)
                              if a["details"].get("source") == "rule"])
    a = found[0]
    assert a["severity"] == "critical" and a["metric"] == "temp"
    assert "too hot" in a["description"] and "35.5" in a["description"]
    deadline = time.time() + 10
    streamed = None
    while time.time() < deadline and not streamed:
        msg = json.loads(sub.recv())
        if msg["type"] == "anomaly":
            streamed = msg["anomaly"]
    assert streamed and streamed["id"] == a["id"]
    sub.close()
    # a continuing breach updates the same episode instead of raising new anomalies
    ingest(iotad, key, [{"ts": now - 500, "metrics": {"temp": 36}}])
    time.sleep(0.5)
    assert len([x for x in anomalies(admin, device_id=dev)
                if x["details"].get("source") == "rule"]) == 1
    # back to normal: the episode is closed, its explanation kept as it was at its worst
    ingest(iotad, key, [{"ts": now - 400, "metrics": {"temp": 21}}])
    closed = wait_for(lambda: [x for x in anomalies(admin, device_id=dev)
                               if x["id"] == a["id"] and x["details"].get("ended")])
    assert closed[0]["details"]["value"] == 35.5 and closed[0]["details"]["ended_at"] == now - 400
    # disabling the rule takes effect at once
    rid = r.json()["id"]
    assert admin.patch(f"/api/v1/rules/{rid}", {"enabled": False}).status_code == 200
    ingest(iotad, key, [{"ts": now - 100, "metrics": {"temp": 20}},
                        {"ts": now, "metrics": {"temp": 40}}])
    time.sleep(0.5)
    assert len([x for x in anomalies(admin, device_id=dev)
                if x["details"].get("source") == "rule"]) == 1


def test_detectors_flag_a_spike_with_an_explanation(iotad, admin):
    dev, key = admin.device_with_key("sensor")
    start = int(time.time() * 1000) - 2000 * 60_000
    series = normal_series(start, 1500)
    ingest(iotad, key, series)
    spike_ts = start + 1500 * 60_000
    ingest(iotad, key, [{"ts": spike_ts, "metrics": {"temp": 80.0}}])
    # the spike opens an episode, or (if the learning phase left one open) becomes its latest
    # and worst point: either way the record shows it
    found = wait_for(lambda: [a for a in anomalies(admin, device_id=dev, metric="temp")
                              if a["details"].get("source") == "detectors"
                              and a["details"].get("value") == 80.0])
    a = found[0]
    assert a["details"]["last_ts"] == spike_ts
    assert a["details"]["expected_hi"] < 80.0
    assert a["details"]["detectors"]
    assert a["severity"] in ("warning", "critical")


def test_false_positive_verdict_reaches_the_detector(iotad, admin):
    dev, key = admin.device_with_key("fb")
    start = int(time.time() * 1000) - 2000 * 60_000
    ingest(iotad, key, normal_series(start, 1500, seed=2))
    ingest(iotad, key, [{"ts": start + 1500 * 60_000, "metrics": {"temp": 70.0}}])
    a = wait_for(lambda: anomalies(admin, device_id=dev, metric="temp"))[0]
    admin.create_user("an@example.com", "analyst")
    analyst = iotad.login("an@example.com", "a-long-test-password")
    bad = analyst.post(f"/api/v1/anomalies/{a['id']}/resolve", {"verdict": "maybe"})
    assert bad.status_code == 400
    r = analyst.post(f"/api/v1/anomalies/{a['id']}/resolve", {"verdict": "false_positive"})
    assert r.status_code == 200 and r.json()["resolved"] is True and r.json()["verdict"] == "false_positive"
    wait_for(lambda: "msg=detector_feedback" in iotad.read_log() and "fp_bias=0.1" in iotad.read_log())
    assert anomalies(admin, device_id=dev, resolved="false") == [] or \
        a["id"] not in [x["id"] for x in anomalies(admin, device_id=dev, resolved="false")]


def test_device_owner_sees_only_own_anomalies(iotad, admin):
    admin.create_user("o@example.com", "device_owner")
    owner = iotad.login("o@example.com", "a-long-test-password")
    dev, key = admin.device_with_key("not-owners")
    admin.post("/api/v1/rules", {"name": "any", "metric": "v", "kind": "above", "threshold": 1,
                                 "severity": "warning"})
    ingest(iotad, key, [{"metrics": {"v": 5}}])
    a = wait_for(lambda: anomalies(admin, device_id=dev))[0]
    assert anomalies(owner) == []
    assert owner.get(f"/api/v1/anomalies/{a['id']}").status_code == 404
    assert owner.post(f"/api/v1/anomalies/{a['id']}/resolve", {}).status_code == 403


@pytest.mark.sqlite_only("reads the SQLite database file directly to check what is stored")
def test_detector_state_survives_a_restart(iotad, admin):
    dev, key = admin.device_with_key("persist")
    start = int(time.time() * 1000) - 2000 * 60_000
    ingest(iotad, key, normal_series(start, 1500, seed=3))
    time.sleep(1.0)  # let the shards process the batch before stopping
    iotad.restart()
    db = sqlite3.connect(f"{iotad.data_dir}/iotad.db")
    n = db.execute("SELECT COUNT(*) FROM detector_state WHERE device_id = ? AND metric = 'temp'",
                   (dev,)).fetchone()[0]
    db.close()
    assert n == 1, "the detector state of the series was not saved at shutdown"
    admin = iotad.admin()
    # one spike right after the restart: a detector that had to re-learn would still be
    # warming up and stay silent; a restored one flags it
    ingest(iotad, key, [{"ts": start + 1500 * 60_000, "metrics": {"temp": 90.0}}])
    assert wait_for(lambda: [a for a in anomalies(admin, device_id=dev, metric="temp")
                             if a["details"].get("source") == "detectors"])
    assert "detector_restore_failed" not in iotad.read_log()


def test_multivariate_detector_flags_a_broken_relation_between_metrics(iotad, admin):
    dev, key = admin.device_with_key("hvac")
    rnd = random.Random(5)
    s = requests.Session()
    s.headers["X-API-Key"] = key
    t0 = int(time.time() * 1000) - 3600_000
    for i in range(400):  # humidity follows temperature: one message (one row) each
        temp = 22 + rnd.gauss(0, 1.0)
        hum = 100 - 2 * temp + rnd.gauss(0, 0.2)
        r = s.post(iotad.url + "/api/v1/ingest", timeout=10,
                   json={"ts": t0 + i * 1000, "metrics": {"temp": round(temp, 2),
                                                          "humidity": round(hum, 2)}})
        assert r.status_code == 202
    # each value within its usual range, but together impossible for this device
    for k in range(5):
        r = s.post(iotad.url + "/api/v1/ingest", timeout=10,
                   json={"ts": t0 + (400 + k) * 1000, "metrics": {"temp": 23.0, "humidity": 57.0}})
        assert r.status_code == 202
    found = wait_for(lambda: anomalies(admin, device_id=dev, metric="(multivariate)"))
    assert "joint behaviour" in found[0]["description"]
    assert found[0]["details"]["detectors"][0]["name"] == "multivariate"


def by_population(a):
    return any(d.get("name") == "population" for d in a["details"].get("detectors", []))


def test_a_device_departing_from_its_peers_is_flagged(tmp_path):
    from conftest import Iotad
    srv = Iotad(args=["--peer-interval-s", "1"])
    try:
        admin = srv.admin()
        keys = [admin.device_with_key(f"thermo-{i}", type="thermostat") for i in range(6)]
        rnd = random.Random(9)
        odd_dev = keys[5][0]
        deadline = time.time() + 30
        found = []
        while time.time() < deadline and not found:
            now = int(time.time() * 1000)
            for i, (dev, key) in enumerate(keys):
                v = 35.0 if dev == odd_dev else 21.0 + rnd.gauss(0, 0.3)
                ingest(srv, key, [{"ts": now, "metrics": {"temp": round(v, 2)}}])
            time.sleep(0.5)
            found = [a for a in anomalies(admin, device_id=odd_dev) if by_population(a)]
        assert found, "the odd device was not flagged against its peers"
        assert "peers of type thermostat" in found[0]["description"]
        for dev, _ in keys[:5]:
            assert not [a for a in anomalies(admin, device_id=dev) if by_population(a)]
    finally:
        srv.close()
