"""MQTT subscriptions for integrations: a stock MQTT client (paho, mosquitto_sub) logs in to
iotad's own MQTT listener with user name "token" and an API token, and subscribes to the
read-only iotad/... topics (anomalies, alerts, incidents, device status and points), seeing
what the token's user may see. Devices cannot subscribe; tokens cannot publish."""
import json
import queue
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import requests

from conftest import Iotad, paho_connect, wait_for
from mqttraw import RawMqtt

STORE_BACKENDS = ("sqlite", "postgresql")
PASSWORD = "a-long-test-password"


class Subscriber:
    """A paho client logged in with an API token; messages land in a queue with their
    arrival time."""

    def __init__(self, port, token, protocol=mqtt.MQTTv5, client_id="integration"):
        self.msgs = queue.Queue()
        self.suback = queue.Queue()
        self.connack = queue.Queue()
        self.gone = threading.Event()
        self.disconnect_rc = None
        c = mqtt.Client(client_id=client_id, protocol=protocol)
        c.username_pw_set("token", token)
        v5 = protocol == mqtt.MQTTv5

        def on_connect(client, userdata, flags, rc, properties=None):
            self.connack.put(rc if isinstance(rc, int) else rc.value)

        def on_subscribe(client, userdata, mid, codes, properties=None):
            self.suback.put([x.value if v5 else x for x in codes])

        def on_message(client, userdata, msg):
            self.msgs.put((time.monotonic(), msg.topic, msg.payload))

        def on_disconnect(client, userdata, rc, properties=None):
            self.disconnect_rc = rc if isinstance(rc, int) else rc.value
            self.gone.set()

        c.on_connect, c.on_subscribe = on_connect, on_subscribe
        c.on_message, c.on_disconnect = on_message, on_disconnect
        c.connect("127.0.0.1", port, keepalive=30)
        c.loop_start()
        self.c = c
        self.rc = self.connack.get(timeout=10)

    def subscribe(self, *filters):
        self.c.subscribe([(f, 0) for f in filters])
        return self.suback.get(timeout=10)

    def get(self, timeout=10):
        t, topic, payload = self.msgs.get(timeout=timeout)
        return t, topic, json.loads(payload)

    def drain(self):
        out = []
        while True:
            try:
                out.append(self.msgs.get_nowait())
            except queue.Empty:
                return out

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def token_for(client, name="integration"):
    r = client.post("/api/v1/tokens", {"name": name})
    assert r.status_code == 201, r.text
    return r.json()


def rule(client, device_type="boiler"):
    r = client.post("/api/v1/rules", {"name": "too hot", "device_type": device_type,
                                       "metric": "temp", "kind": "above", "threshold": 30,
                                       "for_ms": 0, "severity": "critical"})
    assert r.status_code == 201, r.text


def breach(iotad, key):
    now = int(time.time() * 1000)
    r = requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": key},
                      json=[{"ts": now - 2, "metrics": {"temp": 20}},
                            {"ts": now - 1, "metrics": {"temp": 35}}], timeout=30)
    assert r.status_code == 202, r.text


def metric(iotad, name):
    text = requests.get(iotad.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def test_analyst_token_receives_an_anomaly_right_after_the_breach(iotad, admin, store_backend):
    admin.create_user("analyst@example.com", "analyst")
    analyst = iotad.login("analyst@example.com", PASSWORD)
    tok = token_for(analyst)["token"]
    rule(admin)
    dev, key = admin.device_with_key("b1", type="boiler")
    sub = Subscriber(iotad.mqtt_port, tok)
    try:
        assert sub.rc == 0
        assert sub.subscribe("iotad/anomalies/#") == [0]
        t0 = time.monotonic()
        breach(iotad, key)
        t_ack = time.monotonic()  # 202: the points are durable
        t1, topic, a = sub.get()
        latency_ms = (t1 - t0) * 1000
        print(f"breach -> MQTT anomaly: {latency_ms:.1f} ms, of which after the 202 "
              f"{max(0.0, t1 - t_ack) * 1000:.1f} ms ({store_backend})")
        assert topic == f"iotad/anomalies/{dev}"
        assert a["device_id"] == dev and a["metric"] == "temp" and a["severity"] == "critical"
        # the anomaly the API shows, same id; the ingest request itself is part of the latency
        listed = admin.get("/api/v1/anomalies", params={"device_id": dev}).json()["items"]
        assert a["id"] in [x["id"] for x in listed]
        assert latency_ms < 1000, latency_ms  # issue 16 asks 100 ms: measured in the notes
        assert metric(iotad, "iotad_mqtt_subscribers") == 1
        assert metric(iotad, 'iotad_mqtt_sub_messages_total{outcome="sent"}') >= 1
        last_used = analyst.get("/api/v1/tokens").json()["items"][0]["last_used_at"]
        assert last_used is not None
    finally:
        sub.close()


def test_device_owner_token_receives_only_its_own_devices(iotad, admin, store_backend):
    admin.create_user("a@example.com", "device_owner")
    admin.create_user("b@example.com", "device_owner")
    a = iotad.login("a@example.com", PASSWORD)
    b = iotad.login("b@example.com", PASSWORD)
    rule(admin)
    dev_a, key_a = a.device_with_key("a-boiler", type="boiler")
    dev_b, key_b = b.device_with_key("b-boiler", type="boiler")
    sub = Subscriber(iotad.mqtt_port, token_for(a)["token"], protocol=mqtt.MQTTv311)
    staff = Subscriber(iotad.mqtt_port, token_for(admin)["token"], client_id="staff")
    try:
        assert sub.rc == 0 and staff.rc == 0
        # a filter naming another owner's device (or an unknown one) is refused: 0x80 in 3.1.1
        assert sub.subscribe(f"iotad/anomalies/{dev_b}") == [0x80]
        assert sub.subscribe("iotad/anomalies/00000000-0000-7000-8000-000000000000") == [0x80]
        assert sub.subscribe("iotad/#", f"iotad/anomalies/{dev_a}") == [0, 0]
        assert staff.subscribe("iotad/anomalies/+") == [0]
        breach(iotad, key_b)
        wait_for(lambda: admin.get("/api/v1/anomalies",
                                   params={"device_id": dev_b}).json()["items"])
        breach(iotad, key_a)
        got = []
        deadline = time.time() + 10
        while not any(t == f"iotad/anomalies/{dev_a}" for t, _ in got) and time.time() < deadline:
            _, topic, body = sub.get()
            got.append((topic, body))
        assert any(t == f"iotad/anomalies/{dev_a}" for t, _ in got)
        time.sleep(0.2)
        got += [(t, json.loads(p)) for _, t, p in sub.drain()]
        assert all(dev_b not in t and body.get("device_id") != dev_b for t, body in got), got
        # the Admin's token sees both owners' anomalies
        seen = set()
        while len(seen) < 2:
            seen.add(staff.get()[1])
        assert seen == {f"iotad/anomalies/{dev_a}", f"iotad/anomalies/{dev_b}"}
    finally:
        sub.close()
        staff.close()


def test_devices_cannot_subscribe(iotad, admin):
    dev, key = admin.device_with_key("d1")
    for version in (5, 4):
        raw = RawMqtt(iotad.mqtt_port, version=version)
        try:
            assert raw.connect(client_id=f"d-{version}", username=dev, password=key) == 0
            codes = raw.subscribe(["iotad/#", f"iotad/anomalies/{dev}"])
            assert codes == ([0xA2, 0x87] if version == 5 else [0x80, 0x80])
        finally:
            raw.close()


def test_a_token_connection_may_not_publish(iotad, admin):
    tok = token_for(admin)["token"]
    raw = RawMqtt(iotad.mqtt_port, version=5)
    try:
        assert raw.connect(client_id="nr", username="token", password=tok) == 0
        raw.publish("iotad/anomalies/x", "{}", qos=1, packet_id=3)
        assert raw.puback() == (3, 0x87)
        raw.publish("iotad/anomalies/x", "{}", qos=0)
        ptype, body = raw.read_packet()
        assert ptype == 14 and body[0] == 0x87  # DISCONNECT Not authorized
        assert raw.read_packet() is None
    finally:
        raw.close()
    raw = RawMqtt(iotad.mqtt_port, version=4)
    try:
        assert raw.connect(client_id="nr3", username="token", password=tok) == 0
        raw.publish("devices/x/telemetry", "{}", qos=1, packet_id=4)
        assert raw.read_packet() is None  # 3.1.1: the connection is closed
    finally:
        raw.close()
    assert metric(iotad, 'iotad_mqtt_sub_refused_total{reason="publish"}') == 3


def test_bad_filters_get_reason_codes(iotad, admin):
    raw = RawMqtt(iotad.mqtt_port, version=5)
    try:
        assert raw.connect(client_id="f", username="token",
                           password=token_for(admin)["token"]) == 0
        codes = raw.subscribe(["devices/+/telemetry", "$share/g/iotad/#", "iotad/#/x", "iotad",
                               "iotad/alerts/+", "+/+/+"])
        assert codes == [0x87, 0x9E, 0x8F, 0x87, 0x00, 0x00]
        codes = raw.subscribe([f"iotad/devices/{i}/status" for i in range(31)])
        assert codes == [0] * 30 + [0x97]  # at most 32 filters per connection
    finally:
        raw.close()


def test_unknown_revoked_and_disabled_tokens_are_refused(iotad, admin, store_backend):
    admin.create_user("an@example.com", "analyst")
    analyst = iotad.login("an@example.com", PASSWORD)
    t = token_for(analyst)
    wrong = t["token"][:-1] + ("A" if t["token"][-1] != "A" else "B")
    for version, bad in ((5, 0x86), (4, 4)):
        for pw in (wrong, "iotad_tok_short", "not-a-token", t["token"].replace("_tok_", "_")):
            raw = RawMqtt(iotad.mqtt_port, version=version)
            assert raw.connect(client_id="x", username="token", password=pw) == bad
            raw.close()
    # a live subscriber is disconnected when its token is revoked ...
    sub = Subscriber(iotad.mqtt_port, t["token"])
    assert sub.rc == 0 and sub.subscribe("iotad/#") == [0]
    assert analyst.delete(f"/api/v1/tokens/{t['id']}").status_code == 204
    assert sub.gone.wait(10) and sub.disconnect_rc == 0x87
    sub.c.loop_stop()
    raw = RawMqtt(iotad.mqtt_port)
    assert raw.connect(client_id="again", username="token", password=t["token"]) == 0x86
    raw.close()
    # ... and when its user is disabled (then the token no longer logs in)
    t2 = token_for(analyst)
    sub = Subscriber(iotad.mqtt_port, t2["token"])
    assert sub.rc == 0
    users = admin.get("/api/v1/users").json()["items"]
    uid = next(u["id"] for u in users if u["email"] == "an@example.com")
    assert admin.patch(f"/api/v1/users/{uid}", {"disabled": True}).status_code == 200
    assert sub.gone.wait(10) and sub.disconnect_rc == 0x87
    sub.c.loop_stop()
    raw = RawMqtt(iotad.mqtt_port)
    assert raw.connect(client_id="again", username="token", password=t2["token"]) == 0x86
    raw.close()
    assert metric(iotad, 'iotad_mqtt_sub_refused_total{reason="auth"}') == 10


def test_mosquitto_sub_follows_device_status_and_points(iotad, admin):
    tok = token_for(admin)["token"]
    dev, key = admin.device_with_key("t1", type="thermostat")
    out = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(iotad.mqtt_port),
                            "-V", "mqttv311", "-u", "token", "-P", tok, "-v", "-C", "2",
                            "-W", "20", "-t", f"iotad/devices/{dev}/status",
                            "-t", "iotad/devices/+/points"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: iotad.read_log().count("msg=mqtt_subscribed") >= 2)
        c, rc = paho_connect("127.0.0.1", iotad.mqtt_port, dev, key, mqtt.MQTTv311)
        assert rc == 0
        now = int(time.time() * 1000)
        c.publish(f"devices/{dev}/telemetry",
                  json.dumps({"ts": now, "metrics": {"temp": 21.5}}), qos=1).wait_for_publish()
        stdout, stderr = out.communicate(timeout=30)
        c.loop_stop()
        c.disconnect()
    finally:
        if out.poll() is None:
            out.kill()
    lines = [ln.split(" ", 1) for ln in stdout.splitlines()]
    assert out.returncode == 0, stderr
    topics = {t: json.loads(p) for t, p in lines}
    status = topics[f"iotad/devices/{dev}/status"]
    assert status["device_id"] == dev and status["status"] == "online"
    points = topics[f"iotad/devices/{dev}/points"]
    assert points["points"] == [{"metric": "temp", "ts": now, "value": 21.5}]


def test_a_subscriber_that_does_not_read_loses_messages_not_memory():
    srv = Iotad(args=["--mqtt-sub-queue-bytes", "65536"])
    try:
        admin = srv.admin()
        tok = token_for(admin)["token"]
        dev, key = admin.device_with_key("fast")
        raw = RawMqtt(srv.mqtt_port, version=5, rcvbuf=4096)
        assert raw.connect(client_id="slow", username="token", password=tok, keepalive=0) == 0
        assert raw.subscribe(["iotad/devices/+/points"]) == [0]
        # ~45 KB per message; the socket buffers fill, then the 64 KiB queue, then drops
        base = int(time.time() * 1000) - 3_600_000
        dropped = 0
        for i in range(400):
            batch = [{"ts": base + i * 1000 + j, "metrics": {"v": j}} for j in range(1000)]
            r = requests.post(srv.url + "/api/v1/ingest", headers={"X-API-Key": key},
                              json=batch, timeout=30)
            assert r.status_code == 202, r.text
            if i % 20 == 19:
                dropped = metric(srv, 'iotad_mqtt_sub_messages_total{outcome="dropped"}')
                if dropped:
                    break
        assert dropped > 0
        assert "mqtt_subscriber_behind" in srv.read_log()
        # the subscriber is still connected and, reading again, gets what was queued
        assert metric(srv, "iotad_mqtt_subscribers") == 1
        ptype, body = raw.read_packet()
        assert ptype == 3 and b"iotad/devices/" in body[:64]
        raw.close()
    finally:
        srv.close()
