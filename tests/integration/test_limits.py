"""Per-device limits on ingest: the number of series (metric names) a device may create, and its
rate in points and messages per second. Every transport refuses what is over a limit as a
whole, with a clear status (HTTP 422 / 429 + Retry-After, MQTT 5 PUBACK 0x97 / DISCONNECT
0x96, MQTT 3.1.1 disconnect, WebSocket error frame), nothing of it is stored, other devices are
not affected, and the refusal is counted in /metrics."""
import json
import time

import pytest
import requests
import websocket

from conftest import Iotad
from mqttraw import RawMqtt


def post(iotad, key, metrics, ts=None):
    body = {"ts": ts or int(time.time() * 1000), "metrics": metrics}
    return requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": key}, json=body,
                         timeout=60)


def rejected(iotad, transport, reason):
    m = requests.get(iotad.url + "/metrics", timeout=10).text
    line = f'iotad_ingest_rejected_total{{transport="{transport}",reason="{reason}"}} '
    return int(next(x for x in m.splitlines() if x.startswith(line)).split()[-1])


def series(admin, dev):
    """The metric names the device sent. iotad adds sys.* series of its own (non-zero
    counters such as sys.messages, written at the next sys interval tick, so whether they are
    there yet depends on timing); they are not the device's names."""
    items = admin.get(f"/api/v1/devices/{dev}/metrics").json()["items"]
    return [m for m in items if not m.startswith("sys.")]


@pytest.fixture
def limited():
    srv = Iotad(args=["--max-series-per-device", "10"])
    yield srv
    srv.close()


def test_default_limit_refuses_a_flood_of_metric_names(iotad, admin):
    """The attack of the issue: tens of thousands of names from one key (the default: 1000)."""
    dev, key = admin.device_with_key("flood")
    r = post(iotad, key, {f"m{i}": 1.0 for i in range(600)})
    assert r.status_code == 202, r.text
    r = post(iotad, key, {f"n{i}": 1.0 for i in range(50_000)})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "series_limit" and "1000" in r.json()["message"]
    assert len(series(admin, dev)) == 600
    assert rejected(iotad, "http", "series_limit") == 1


def test_series_limit_refuses_new_names_whole_over_every_transport(limited):
    admin = limited.admin()
    dev, key = admin.device_with_key("ten")
    other, other_key = admin.device_with_key("other")
    assert post(limited, key, {f"m{i}": i for i in range(8)}).status_code == 202
    # 3 new names would make 11: refused whole, the 2 known ones with them
    r = post(limited, key, {"m0": 1, "m1": 1, "x": 1, "y": 1, "z": 1})
    assert r.status_code == 422 and r.json()["error"] == "series_limit", r.text
    assert "Retry-After" not in r.headers  # retrying cannot help
    assert sorted(series(admin, dev)) == sorted(f"m{i}" for i in range(8))
    assert admin.points(dev, "m0") and len(admin.points(dev, "m0")) == 1
    # up to the limit is fine, and known names go on being accepted
    assert post(limited, key, {"x": 1, "y": 1}).status_code == 202
    assert post(limited, key, {f"m{i}": 2 for i in range(8)}).status_code == 202
    # another device has its own budget
    assert post(limited, other_key, {f"o{i}": 1 for i in range(10)}).status_code == 202
    # MQTT 5: PUBACK 0x97 Quota exceeded, the connection stays
    c = RawMqtt(limited.mqtt_port, 5)
    assert c.connect(username=dev, password=key) == 0
    c.publish(f"devices/{dev}/telemetry", json.dumps({"metrics": {"new1": 1}}), packet_id=1)
    assert c.puback() == (1, 0x97)
    c.publish(f"devices/{dev}/telemetry", json.dumps({"metrics": {"x": 5}}), packet_id=2)
    assert c.puback() == (2, 0)
    c.close()
    # MQTT 3.1.1: no reason codes, so the connection is closed, never a PUBACK
    c = RawMqtt(limited.mqtt_port, 4)
    assert c.connect(username=dev, password=key) == 0
    c.publish(f"devices/{dev}/telemetry", json.dumps({"metrics": {"new2": 1}}), packet_id=1)
    assert c.puback() is None
    c.close()
    # WebSocket: an error frame for the frame
    ws = websocket.create_connection(f"ws://127.0.0.1:{limited.http_port}/api/v1/stream",
                                     header=[f"X-API-Key: {key}"], timeout=10)
    assert json.loads(ws.recv())["mode"] == "device"
    ws.send(json.dumps({"metrics": {"new3": 1}}))
    msg = json.loads(ws.recv())
    assert msg["type"] == "error" and msg["error"] == "series_limit" and "retry_after" not in msg
    ws.close()
    assert len(series(admin, dev)) == 10
    assert rejected(limited, "http", "series_limit") == 1
    assert rejected(limited, "mqtt", "series_limit") == 2
    assert rejected(limited, "websocket", "series_limit") == 1


def test_rate_limit_refuses_a_device_over_its_rate_with_429():
    # 1 point/s after a burst of 100 (= the largest batch); 1 message/s after a burst of 3.
    # Refusals below need tens of seconds of refill to turn into acceptances: no timing race.
    srv = Iotad(args=["--ingest-rate-points", "1", "--ingest-burst-points", "100",
                      "--max-batch-points", "100", "--ingest-rate-messages", "1",
                      "--ingest-burst-messages", "3"])
    try:
        admin = srv.admin()
        dev, key = admin.device_with_key("fast")
        other, other_key = admin.device_with_key("calm")
        fifty = {f"m{i}": 2 for i in range(50)}
        assert post(srv, key, {f"m{i}": 1 for i in range(100)}).status_code == 202
        r = post(srv, key, fifty)
        assert r.status_code == 429 and r.json()["error"] == "rate_limited", r.text
        assert int(r.headers["Retry-After"]) >= 1
        # another device has its own budget; its 4th..10th message in a row meet the limit
        now = int(time.time() * 1000)
        codes = [post(srv, other_key, {"a": i}, ts=now - i).status_code for i in range(10)]
        assert codes[:3] == [202, 202, 202] and 429 in codes[3:], codes
        # MQTT 5: DISCONNECT 0x96 Message rate too high (PUBACK has no such code)
        c = RawMqtt(srv.mqtt_port, 5)
        assert c.connect(username=dev, password=key) == 0
        c.publish(f"devices/{dev}/telemetry", json.dumps({"metrics": fifty}), packet_id=1)
        ptype, body = c.read_packet()
        assert ptype == 14 and body[0] == 0x96
        c.close()
        c = RawMqtt(srv.mqtt_port, 4)
        assert c.connect(username=dev, password=key) == 0
        c.publish(f"devices/{dev}/telemetry", json.dumps({"metrics": fifty}), packet_id=1)
        assert c.puback() is None
        c.close()
        assert [p["value"] for p in admin.points(dev, "m0")] == [1]
        assert rejected(srv, "http", "rate_limited") >= 2
        assert rejected(srv, "mqtt", "rate_limited") == 2
    finally:
        srv.close()
