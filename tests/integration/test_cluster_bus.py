"""Cluster mode's bus (`iotad serve --cluster amqp://...`, docs/scaling.md) against a real
RabbitMQ 3.10 (tests/services.py, free loopback ports): MQTT QoS 1 and HTTP ingest go through
the partition queues and end up stored and detected exactly once; a consumer killed before it
acked gets its messages redelivered and raises no second anomaly; RabbitMQ stopped under load:
ingest refused cleanly (MQTT 5 reason code, 3.1.1 connection closed, HTTP 503 + Retry-After,
/readyz not ready, counted in /metrics), then resumed by itself, every acknowledged point
stored; a partition queue at its bound (cluster_queue_max_mb) refuses ingest as bus_full until
it drains."""
import json
import os
import re
import signal
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
import requests

from conftest import Iotad, wait_for
from mqttraw import RawMqtt

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from services import RabbitMQ  # noqa: E402

PARTITIONS = 4


@pytest.fixture(scope="module")
def rabbit():
    mq = RabbitMQ()
    yield mq
    mq.close()


def fresh_vhost(mq):
    """A vhost of its own per test: its partition queues start empty."""
    name = "t" + uuid.uuid4().hex[:12]
    mq.ctl("add_vhost", name)
    mq.ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return f"{mq.url()}/{name}", name


def queues(mq, vhost):
    """{queue: (ready, unacked)} of the vhost."""
    out = mq.ctl("list_queues", "-p", vhost, "--formatter", "json", "name", "messages_ready",
                 "messages_unacknowledged")
    return {q["name"]: (q["messages_ready"], q["messages_unacknowledged"])
            for q in json.loads(out)}


def drained_n(mq, vhost, partitions):
    q = queues(mq, vhost)
    return len(q) == partitions and all(r == 0 and u == 0 for r, u in q.values())


def drained(mq, vhost):
    return drained_n(mq, vhost, PARTITIONS)


def cluster_node(url, **kw):
    return Iotad(args=["--cluster", url, "--cluster-partitions", str(PARTITIONS)], **kw)


def metric(iotad, name, labels=""):
    text = requests.get(iotad.url + "/metrics", timeout=10).text
    m = re.search(r"^" + re.escape(name + labels) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def rule_anomalies(admin, dev):
    r = admin.get("/api/v1/anomalies", params={"device_id": dev})
    assert r.status_code == 200, r.text
    return [a for a in r.json()["items"] if a["details"].get("source") == "rule"]


def ingest(iotad, key, body):
    return requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": key}, json=body,
                         timeout=30)


def hot_rule(admin):
    r = admin.post("/api/v1/rules", {"name": "too hot", "device_type": "boiler",
                                      "metric": "temp", "kind": "above", "threshold": 100,
                                      "for_ms": 0, "severity": "critical"})
    assert r.status_code == 201, r.text


def test_mqtt_and_http_through_the_bus_are_stored_and_detected_once(rabbit):
    url, vhost = fresh_vhost(rabbit)
    node = cluster_node(url)
    try:
        admin = node.admin()
        hot_rule(admin)
        wait_for(lambda: admin.get("/readyz").status_code == 200, timeout=30)
        assert metric(node, "iotad_bus_connected") == 1
        base = int(time.time() * 1000) - 60_000
        # MQTT 5 QoS 1, one breach among 200 messages
        d5, k5 = admin.device_with_key("mqtt5", type="boiler")
        c5 = mqtt.Client(client_id="bus-v5", protocol=mqtt.MQTTv5)
        c5.username_pw_set(d5, k5)
        c5.connect("127.0.0.1", node.mqtt_port)
        c5.loop_start()
        infos = [c5.publish(f"devices/{d5}/telemetry",
                            json.dumps({"ts": base + i,
                                        "metrics": {"temp": 150.0 if i == 120 else 20.0 + i % 5}}),
                            qos=1) for i in range(200)]
        for info in infos:
            info.wait_for_publish(30)
        # MQTT 3.1.1 QoS 1
        d3, k3 = admin.device_with_key("mqtt3", type="boiler")
        c3 = mqtt.Client(client_id="bus-v3", protocol=mqtt.MQTTv311)
        c3.username_pw_set(d3, k3)
        c3.connect("127.0.0.1", node.mqtt_port)
        c3.loop_start()
        infos = [c3.publish(f"devices/{d3}/telemetry",
                            json.dumps({"ts": base + i, "metrics": {"temp": 30.0 + i % 3}}),
                            qos=1) for i in range(100)]
        for info in infos:
            info.wait_for_publish(30)
        for c in (c5, c3):
            c.loop_stop()
            c.disconnect()
        # HTTP: one batch of 300 points, then a single point
        dh, kh = admin.device_with_key("http", type="boiler")
        r = ingest(node, kh, [{"ts": base + i, "metrics": {"temp": 40.0, "hum": i}}
                              for i in range(150)])
        assert r.status_code == 202 and r.json()["accepted"] == 300, r.text
        assert ingest(node, kh, {"ts": base + 500, "metrics": {"temp": 41}}).status_code == 202

        wait_for(lambda: drained(rabbit, vhost), timeout=60, interval=0.5)
        assert len(admin.points(d5, "temp")) == 200
        assert len(admin.points(d3, "temp")) == 100
        assert len(admin.points(dh, "temp")) == 151 and len(admin.points(dh, "hum")) == 150
        found = wait_for(lambda: rule_anomalies(admin, d5), timeout=20)
        assert len(found) == 1 and found[0]["details"]["value"] == 150
        assert rule_anomalies(admin, d3) == [] and rule_anomalies(admin, dh) == []
        messages = 200 + 100 + 2
        assert metric(node, "iotad_bus_published_total", '{outcome="confirmed"}') == messages
        assert metric(node, "iotad_bus_published_total", '{outcome="unconfirmed"}') == 0
        assert metric(node, "iotad_bus_consumed_total", '{outcome="delivered"}') == messages
        assert metric(node, "iotad_bus_consumed_total", '{outcome="acked"}') == messages
        # batches of one partition published in one round travel as one AMQP message
        sent = metric(node, "iotad_bus_messages_total", '{direction="published"}')
        assert 1 <= sent <= messages
        assert metric(node, "iotad_bus_messages_total", '{direction="delivered"}') == sent
        # every partition queue is a quorum queue with a single active consumer
        info = json.loads(rabbit.ctl("list_queues", "-p", vhost, "--formatter", "json", "name",
                                     "type", "arguments"))
        assert sorted(q["name"] for q in info) == [f"iotad.p{k}" for k in range(PARTITIONS)]
        for q in info:
            assert q["type"] == "quorum"
            # rabbitmqctl's JSON: a list of [key, type, value]
            args = {a[0]: a[-1] for a in q["arguments"]}
            assert args.get("x-single-active-consumer") is True, q
    finally:
        node.close()


def test_a_consumer_killed_before_acking_gets_its_messages_again_without_a_second_anomaly(
        rabbit):
    url, vhost = fresh_vhost(rabbit)
    # the consumer stores and detects, but never acks: a crash right before the ack
    node = cluster_node(url, env={"IOTAD_TEST_BUS_HOLD_ACKS": "1"})
    try:
        admin = node.admin()
        hot_rule(admin)
        dev, key = admin.device_with_key("kiln", type="boiler")
        wait_for(lambda: admin.get("/readyz").status_code == 200, timeout=30)
        base = int(time.time() * 1000) - 60_000
        batches = [[{"ts": base + b * 10 + i,
                     "metrics": {"temp": 180.0 if (b, i) == (2, 5) else 50.0}}
                    for i in range(10)] for b in range(5)]
        for body in batches:
            r = ingest(node, key, body)
            assert r.status_code == 202, r.text
        found = wait_for(lambda: rule_anomalies(admin, dev), timeout=30)
        assert len(found) == 1
        # the anomaly is in batch 2: batches 3 and 4 may still be on their way to the store
        # (through the bus, a point is readable a moment after its ack, not at it)
        wait_for(lambda: len(admin.points(dev, "temp")) == 50, timeout=30, interval=0.2)
        held = wait_for(lambda: sum(u for _, u in queues(rabbit, vhost).values()) == 5 or None,
                        timeout=30, interval=0.5)
        assert held
        node.stop(signal.SIGKILL)
        node.extra_env.pop("IOTAD_TEST_BUS_HOLD_ACKS")
        node.start()
        wait_for(lambda: drained(rabbit, vhost), timeout=60, interval=0.5)
        # the five messages came again, were stored again (same series and ms: no new points)
        # and detected again (same anomaly id: not a second anomaly)
        assert metric(node, "iotad_bus_consumed_total", '{outcome="delivered"}') == 5
        assert metric(node, "iotad_bus_consumed_total", '{outcome="acked"}') == 5
        admin = node.admin()
        assert len(admin.points(dev, "temp")) == 50
        again = rule_anomalies(admin, dev)
        assert [a["id"] for a in again] == [found[0]["id"]]
    finally:
        node.close()


class Load:
    """Devices publishing with unique timestamps while the test does things to the broker:
    MQTT 5 QoS 1 (raw client: the PUBACK reason code), MQTT 3.1.1 QoS 1 (reconnects when
    closed) and HTTP batches. Records what was acknowledged and how refusals looked."""

    def __init__(self, node, devs):
        self.node = node
        self.devs = devs  # [(id, key)] x 3
        self.acked = {d: set() for d, _ in devs}
        self.refused = {"mqtt5": 0, "mqtt3_closed": 0, "http": 0}
        self.v5_reasons = set()
        self.http_retry_after = set()
        self.stop = threading.Event()
        self.errors = []
        self.ts = int(time.time() * 1000) - 3_600_000
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._guard, args=(f,), daemon=True)
                        for f in (self._mqtt5, self._mqtt3, self._http)]
        for t in self.threads:
            t.start()

    def next_ts(self, n=1):
        with self.lock:
            self.ts += n
            return self.ts - n + 1

    def _guard(self, fn):
        try:
            fn()
        except Exception as e:  # reported by finish()
            self.errors.append(repr(e))

    def _raw(self, version, dev, key):
        while not self.stop.is_set():
            try:
                c = RawMqtt(self.node.mqtt_port, version=version)
                if c.connect(client_id=f"load-{version}", username=dev, password=key) == 0:
                    return c
                c.close()
            except OSError:
                pass
            time.sleep(0.1)
        return None

    def _mqtt(self, version, dev, key, refused_key):
        c = self._raw(version, dev, key)
        pid = 0
        while c and not self.stop.is_set():
            pid = pid % 65535 + 1
            ts = self.next_ts()
            c.publish(f"devices/{dev}/telemetry", json.dumps({"ts": ts, "metrics": {"v": 1}}),
                      packet_id=pid)
            ack = c.puback()
            if ack is None:  # closed: refused (3.1.1), or the server is gone
                self.refused[refused_key] += 1
                c.close()
                time.sleep(0.05)
                c = self._raw(version, dev, key)
                continue
            if ack[1] == 0:
                self.acked[dev].add(ts)
            else:
                self.refused[refused_key] += 1
                self.v5_reasons.add(ack[1])
                time.sleep(0.02)
        if c:
            c.close()

    def _mqtt5(self):
        self._mqtt(5, *self.devs[0], "mqtt5")

    def _mqtt3(self):
        self._mqtt(4, *self.devs[1], "mqtt3_closed")

    def _http(self):
        dev, key = self.devs[2]
        http = requests.Session()  # keep-alive: few ports taken
        while not self.stop.is_set():
            ts = self.next_ts(20)
            try:
                r = http.post(self.node.url + "/api/v1/ingest", headers={"X-API-Key": key},
                              json=[{"ts": ts + i, "metrics": {"v": i}} for i in range(20)],
                              timeout=30)
            except requests.RequestException:
                time.sleep(0.1)
                continue
            if r.status_code == 202:
                self.acked[dev].update(ts + i for i in range(20))
            else:
                assert r.status_code == 503, r.text
                self.refused["http"] += 1
                self.http_retry_after.add(r.headers.get("Retry-After"))
                time.sleep(0.02)

    def total(self):
        return sum(len(v) for v in self.acked.values())

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        assert not self.errors, self.errors


def test_rabbitmq_stopped_under_load_refuses_cleanly_then_resumes_losing_nothing(rabbit):
    url, vhost = fresh_vhost(rabbit)
    node = cluster_node(url)
    load = None
    try:
        admin = node.admin()
        devs = [admin.device_with_key(f"load{i}") for i in range(3)]
        wait_for(lambda: admin.get("/readyz").status_code == 200, timeout=30)
        load = Load(node, devs)
        wait_for(lambda: all(len(v) > 20 for v in load.acked.values()), timeout=60)
        rabbit.stop()
        # refusals: /readyz not ready, counted, and each transport's signal
        r = wait_for(lambda: [x for x in [admin.get("/readyz")] if x.status_code == 503],
                     timeout=30)[0]
        assert r.json()["reason"] == "cluster_bus_unavailable"
        assert metric(node, "iotad_bus_connected") == 0
        wait_for(lambda: all(n > 0 for n in load.refused.values()), timeout=30)
        before = load.total()
        time.sleep(1)
        assert load.total() == before, "acknowledged while RabbitMQ was down"
        assert load.v5_reasons == {0x80}
        assert load.http_retry_after == {"5"}
        rejected = sum(metric(node, "iotad_ingest_rejected_total",
                              f'{{transport="{t}",reason="unavailable"}}') or 0
                       for t in ("mqtt", "http"))
        assert rejected >= sum(load.refused.values()) - 2  # a close in flight may be uncounted
        rabbit.start()
        # back by itself: ready again, and acknowledgements resume on every transport
        wait_for(lambda: admin.get("/readyz").status_code == 200, timeout=60, interval=0.2)
        resumed = {d: len(v) for d, v in load.acked.items()}
        wait_for(lambda: all(len(load.acked[d]) > resumed[d] + 20 for d in resumed), timeout=60)
        load.finish()
        wait_for(lambda: drained(rabbit, vhost), timeout=120, interval=0.5)
        for dev, acked in load.acked.items():
            stored = {p["ts"] for p in admin.points(dev, "v", limit=100000)}
            assert acked <= stored, f"{len(acked - stored)} acknowledged points of {dev} lost"
        assert metric(node, "iotad_bus_connects_total") >= 2
    finally:
        if load:
            load.finish()
        node.close()


def test_a_full_partition_queue_refuses_ingest_cleanly_then_resumes(rabbit):
    """cluster_queue_max_mb bounds each partition queue (x-overflow reject-publish): with the
    consumer stalled (it holds one message, never acks) the queue fills, the broker nacks, and
    ingest is refused as bus_full (HTTP 503 + Retry-After, MQTT 5 PUBACK 0x97, MQTT 3.1.1
    connection closed without a PUBACK), counted; a consumer that acks again drains it and
    every acknowledged point is stored."""
    url, vhost = fresh_vhost(rabbit)
    args = ["--cluster", url, "--cluster-partitions", "1", "--cluster-prefetch", "1",
            "--cluster-queue-max-mb", "1"]
    node = Iotad(args=args, env={"IOTAD_TEST_BUS_HOLD_ACKS": "1"})
    try:
        admin = node.admin()
        dh, kh = admin.device_with_key("bulk")
        d5, k5 = admin.device_with_key("v5")
        d3, k3 = admin.device_with_key("v3")
        wait_for(lambda: admin.get("/readyz").status_code == 200, timeout=30)
        n, base, accepted, refused = 10_000, int(time.time() * 1000) - 3_600_000, 0, None
        for i in range(30):  # 10k points of raw doubles: ~120 KB a message, 1 MiB holds ~9
            body = [{"ts": base + i * n + j, "metrics": {"v": j / 7.0 + 0.1}} for j in range(n)]
            r = ingest(node, kh, body)
            if r.status_code != 202:
                refused = r
                break
            accepted += 1
        assert refused is not None, "the bounded queue never filled"
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == "bus_full"
        assert refused.headers.get("Retry-After") == "5"
        assert accepted >= 2
        c5 = RawMqtt(node.mqtt_port, version=5)
        assert c5.connect(client_id="full-v5", username=d5, password=k5) == 0
        c5.publish(f"devices/{d5}/telemetry", json.dumps({"metrics": {"v": 1}}), packet_id=7)
        assert c5.puback() == (7, 0x97)
        c5.close()
        c3 = RawMqtt(node.mqtt_port, version=4)
        assert c3.connect(client_id="full-v3", username=d3, password=k3) == 0
        c3.publish(f"devices/{d3}/telemetry", json.dumps({"metrics": {"v": 1}}), packet_id=8)
        assert c3.puback() is None  # closed, no PUBACK
        c3.close()
        assert metric(node, "iotad_ingest_rejected_total",
                      '{transport="http",reason="bus_full"}') >= 1
        assert metric(node, "iotad_ingest_rejected_total",
                      '{transport="mqtt",reason="bus_full"}') >= 2
        assert metric(node, "iotad_bus_published_total", '{outcome="bus_full"}') >= 3
        assert metric(node, "iotad_bus_published_total", '{outcome="unconfirmed"}') == 0
        # the consumer comes back acking: the queue drains, ingest resumes
        node.stop(signal.SIGKILL)
        node.extra_env.pop("IOTAD_TEST_BUS_HOLD_ACKS")
        node.start()
        admin = node.admin()
        wait_for(lambda: drained_n(rabbit, vhost, 1), timeout=120, interval=0.5)
        r = ingest(node, kh, {"ts": base + accepted * n, "metrics": {"v": 1}})
        assert r.status_code == 202, r.text
        mid = str(base + accepted * n // 2)  # two reads: a read returns 100,000 at most

        def stored():
            return (len(admin.points(dh, "v", to=mid, limit=100000)) +
                    len(admin.points(dh, "v", **{"from": mid}, limit=100000)))
        wait_for(lambda: stored() == accepted * n + 1, timeout=60, interval=0.5)
    finally:
        node.close()
