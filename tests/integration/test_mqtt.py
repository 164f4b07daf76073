"""MQTT ingest with real clients: paho (3.1.1 and 5), mosquitto_pub, and a raw client for
exact reason codes. Covers authentication, the per-device topic ACL, bad payloads, QoS 0/1,
and online/offline status from the MQTT session."""
import json
import subprocess
import time

import paho.mqtt.client as mqtt
import pytest

STORE_BACKENDS = ("sqlite", "postgresql")

from conftest import paho_connect, sample_value, wait_for
from mqttraw import RawMqtt


@pytest.fixture
def iotad(shared_iotad):
    """One server per back-end for the module (conftest shared_iotad): each test uses devices
    of its own, reads events of its devices and counters as differences."""
    return shared_iotad


def security_events(admin):
    r = admin.get("/api/v1/events", params={"category": "security", "limit": 10000})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def paho_client(iotad, dev, key, protocol):
    return paho_connect("127.0.0.1", iotad.mqtt_port, dev, key, protocol)


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5])
def test_paho_qos1_publish_is_stored(iotad, admin, protocol):
    dev, key = admin.device_with_key("paho")
    c, rc = paho_client(iotad, dev, key, protocol)
    assert rc == 0
    now = int(time.time() * 1000)
    infos = [c.publish(f"devices/{dev}/telemetry",
                       json.dumps({"ts": now + i, "metrics": {"temp": 20 + i}}), qos=1)
             for i in range(50)]
    for info in infos:
        info.wait_for_publish(10)
        assert info.is_published()
    c.publish(f"devices/{dev}/telemetry", json.dumps({"ts": now + 99, "metrics": {"q0": 1}}),
              qos=0)
    pts = wait_for(lambda: len(admin.points(dev, "temp")) == 50 and admin.points(dev, "q0"))
    assert pts
    assert admin.get(f"/api/v1/devices/{dev}").json()["status"] == "online"
    c.disconnect()
    c.loop_stop()
    wait_for(lambda: admin.get(f"/api/v1/devices/{dev}").json()["status"] == "offline")
    kinds = [e["kind"] for e in admin.get(f"/api/v1/devices/{dev}/events").json()["items"]]
    assert "online" in kinds and "offline" in kinds


def test_mosquitto_pub_works(iotad, admin):
    dev, key = admin.device_with_key("mosq")
    for version in ("mqttv311", "mqttv5"):
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(iotad.mqtt_port),
                        "-V", version, "-q", "1", "-u", dev, "-P", key, "-i", f"mp-{version}",
                        "-t", f"devices/{dev}/telemetry",
                        "-m", json.dumps({"metrics": {version: 1.5}})],
                       check=True, timeout=20)
    wait_for(lambda: admin.points(dev, "mqttv311") and admin.points(dev, "mqttv5"))


@pytest.mark.parametrize("version,bad_code", [(4, 4), (5, 0x86)])
def test_bad_credentials_get_the_right_connack(iotad, admin, version, bad_code):
    dev, key = admin.device_with_key("creds")
    before = len(security_events(admin))
    c = RawMqtt(iotad.mqtt_port, version)
    assert c.connect(username=dev, password=key[:-1] + ("A" if key[-1] != "A" else "B")) == bad_code
    c.close()
    c = RawMqtt(iotad.mqtt_port, version)
    assert c.connect(username="00000000-0000-0000-0000-000000000000", password=key) == bad_code
    c.close()
    c = RawMqtt(iotad.mqtt_port, version)
    assert c.connect(username=dev, password=key) == 0
    c.close()
    assert len(security_events(admin)) >= before + 2


def test_revoked_key_is_not_authorized(iotad, admin):
    dev, key = admin.device_with_key("rev")
    kid = admin.get(f"/api/v1/devices/{dev}/keys").json()["items"][0]["id"]
    admin.delete(f"/api/v1/devices/{dev}/keys/{kid}")
    c = RawMqtt(iotad.mqtt_port, 5)
    assert c.connect(username=dev, password=key) == 0x87
    c.close()


def test_v5_acl_violation_and_bad_payload_get_puback_reasons(iotad, admin):
    dev, key = admin.device_with_key("acl")
    other, _ = admin.device_with_key("other")
    acl = 'iotad_ingest_rejected_total{transport="mqtt",reason="acl"}'
    acl_before = sample_value(iotad.url, acl)
    c = RawMqtt(iotad.mqtt_port, 5)
    assert c.connect(username=dev, password=key) == 0
    c.publish(f"devices/{other}/telemetry", '{"metrics":{"x":1}}', packet_id=1)
    assert c.puback() == (1, 0x87)
    c.publish(f"devices/{dev}/telemetry", '{"metrics":{"x":"oops"}}', packet_id=2)
    assert c.puback() == (2, 0x99)
    c.publish(f"devices/{dev}/telemetry", '{"metrics":{"x":2}}', packet_id=3)
    assert c.puback() == (3, 0)
    c.close()
    assert [p["value"] for p in admin.points(dev, "x")] == [2]
    assert admin.points(other) == []
    assert sample_value(iotad.url, acl) == acl_before + 1
    events = admin.get("/api/v1/events", params={"device_id": dev}).json()["items"]
    kinds = [e["kind"] for e in events]
    assert "acl_violation" in kinds and "bad_payload" in kinds


def test_v311_acl_violation_disconnects(iotad, admin):
    dev, key = admin.device_with_key("acl3")
    c = RawMqtt(iotad.mqtt_port, 4)
    assert c.connect(username=dev, password=key) == 0
    c.publish("devices/someone-else/telemetry", '{"metrics":{"x":1}}', packet_id=1)
    assert c.puback() is None, "3.1.1 has no PUBACK reason codes: the server must disconnect"
    c.close()


def test_qos2_is_refused(iotad, admin):
    dev, key = admin.device_with_key("q2")
    c = RawMqtt(iotad.mqtt_port, 5)
    assert c.connect(username=dev, password=key) == 0
    c.publish(f"devices/{dev}/telemetry", '{"metrics":{"x":1}}', qos=2, packet_id=1)
    pkt = c.read_packet()
    assert pkt is None or pkt[0] == 14  # DISCONNECT (QoS not supported) then close
    c.close()
    assert admin.points(dev) == []
