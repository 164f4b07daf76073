"""Three iotad nodes on one PostgreSQL and one RabbitMQ, behind HAProxy (MQTT and HTTP), with
devices publishing MQTT 5 QoS 1 through HAProxy; a node is killed (-9) mid-stream
(docs/scaling.md, "tests/cluster"). Every service is real and started by the test on free
loopback ports (tests/services.py).

Killing a node that only ingests (the first node started holds every partition): its devices'
connections drop, they reconnect through HAProxy to the survivors and resend what was not
acknowledged; every acknowledged point is stored once, nothing is stored that was not sent,
every rule breach (one per device before the kill, one after) raised exactly one anomaly, and
the surviving nodes answer the same."""
import json
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid

import pytest
import requests

from conftest import Iotad, wait_for
from mqttraw import RawMqtt

import services

PARTITIONS = 4
DEVICES = int(os.environ.get("IOTAD_CLUSTER_DEVICES", "60"))
HOT = 150.0


@pytest.fixture(scope="module")
def rabbit():
    mq = services.RabbitMQ()
    yield mq
    mq.close()


def haproxy_cfg(mqtt_port, http_port, nodes):
    """MQTT (TCP, fewest connections) and HTTP over the nodes, as in deploy/compose/cluster:
    a node is in both pools while its /readyz answers 200, checked often (a test's time)."""
    mqtt = "\n".join(f"    server n{i} 127.0.0.1:{n.mqtt_port} check port {n.http_port} "
                     "inter 300ms fall 1 rise 2" for i, n in enumerate(nodes))
    http = "\n".join(f"    server n{i} 127.0.0.1:{n.http_port} check inter 300ms fall 1 rise 2"
                     for i, n in enumerate(nodes))
    return f"""global
    maxconn 4096
defaults
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout tunnel 1h
    retries 3
    option redispatch
frontend mqtt
    mode tcp
    bind 127.0.0.1:{mqtt_port}
    default_backend mqtt_nodes
backend mqtt_nodes
    mode tcp
    balance leastconn
    option httpchk GET /readyz
    http-check expect status 200
{mqtt}
frontend http
    mode http
    bind 127.0.0.1:{http_port}
    default_backend http_nodes
backend http_nodes
    mode http
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{http}
"""


class Devices:
    """A thread per device: MQTT 5 QoS 1 through HAProxy, one message at a time with a
    unique timestamp, the next after the PUBACK; a message not acknowledged (connection
    closed, refused) is sent again after reconnecting, as a device does. One breach (HOT) at
    its 5th message, one more at its first message after `breach_again` is set."""

    def __init__(self, port, devs, base):
        self.port = port
        self.devs = devs
        self.base = base
        self.acked = {d: set() for d, _ in devs}
        self.sent = {d: set() for d, _ in devs}
        self.hot = {d: [] for d, _ in devs}  # timestamps of the breaches acknowledged
        self.reconnects = {d: 0 for d, _ in devs}
        self.refusals = []
        self.errors = []
        self.breach_again = threading.Event()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._guard, args=(i, d, k), daemon=True)
                        for i, (d, k) in enumerate(devs)]
        for t in self.threads:
            t.start()

    def _guard(self, i, dev, key):
        try:
            self._run(i, dev, key)
        except Exception as e:  # reported by finish()
            self.errors.append(f"{dev}: {e!r}")

    def _connect(self, dev, key):
        while not self.stop.is_set():
            try:
                c = RawMqtt(self.port, version=5, timeout=10)
                if c.connect(client_id=dev, username=dev, password=key) == 0:
                    return c
                c.close()
            except (OSError, AssertionError, TypeError):
                # TypeError: closed before the CONNACK (RawMqtt.connect reads None): HAProxy
                # accepted for the killed node before its health check marked it down
                pass
            time.sleep(0.2)
        return None

    def _run(self, i, dev, key):
        c = self._connect(dev, key)
        n, pid, hot_again = 0, 0, False
        pending = None  # (ts, value) not yet acknowledged
        while c and not self.stop.is_set():
            if pending is None:
                n += 1
                value = 20.0 + n % 7
                if n == 5 or (self.breach_again.is_set() and not hot_again):
                    value, hot_again = HOT, n != 5 or hot_again
                pending = (self.base + n * 10, value)
            ts, value = pending
            pid = pid % 65535 + 1
            self.sent[dev].add(ts)
            try:
                c.publish(f"devices/{dev}/telemetry",
                          json.dumps({"ts": ts, "metrics": {"temp": value}}), packet_id=pid)
                ack = c.puback()
            except OSError:
                ack = None
            if ack is None:  # the node went away: reconnect (through HAProxy), send it again
                c.close()
                self.reconnects[dev] += 1
                c = self._connect(dev, key)
                continue
            if ack[1] != 0:
                self.refusals.append((dev, ack[1]))
                time.sleep(0.1)
                continue
            self.acked[dev].add(ts)
            if value == HOT:
                self.hot[dev].append(ts)
            pending = None
            time.sleep(0.05)
        if c:
            c.close()

    def summary(self):
        counts = sorted(len(a) for a in self.acked.values())
        return (f"acked per device min={counts[0]} max={counts[-1]} "
                f"reconnects={sum(self.reconnects.values())} refusals={self.refusals[:3]} "
                f"errors={self.errors[:3]}")

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        assert not self.errors, self.errors[:5]


def metric(url, name, labels=""):
    text = requests.get(url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + labels + " "):
            return float(line.split()[-1])
    return None


def rule_anomalies(client, dev):
    r = client.get("/api/v1/anomalies", params={"device_id": dev, "limit": 1000})
    assert r.status_code == 200, r.text
    return sorted((a["id"], a["detected_at"], a["details"].get("value"))
                  for a in r.json()["items"] if a["details"].get("source") == "rule")


def test_kill_an_ingest_node_devices_reconnect_through_haproxy_nothing_lost_or_doubled(
        rabbit, pg_server):
    t0 = time.time()
    vhost = "c" + uuid.uuid4().hex[:12]
    rabbit.ctl("add_vhost", vhost)
    rabbit.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    db = pg_server.create_db(f"iotad_c{os.getpid()}_{uuid.uuid4().hex[:8]}")
    args = ["--cluster", f"{rabbit.url()}/{vhost}", "--cluster-partitions", str(PARTITIONS),
            "--checkpoint-interval-s", "1"]
    nodes, dirs, proxy, load = [], [], None, None
    try:
        # node 0 first: it makes the schema and the admin, and holds every partition
        nodes.append(Iotad(store=db, args=args))
        admin = nodes[0].admin()
        r = admin.post("/api/v1/rules", {"name": "too hot", "device_type": "boiler",
                                          "metric": "temp", "kind": "above", "threshold": 100,
                                          "for_ms": 0, "severity": "critical"})
        assert r.status_code == 201, r.text
        devs = [admin.device_with_key(f"boiler{i}", type="boiler") for i in range(DEVICES)]
        wait_for(lambda: admin.get("/readyz").status_code == 200, timeout=30)
        for _ in range(2):  # the others: same database (a copy of its key file), same bus
            d = tempfile.TemporaryDirectory(prefix="iotad-node-")
            dirs.append(d)
            shutil.copy(os.path.join(nodes[0].data_dir, "iotad.keys"), d.name)
            nodes.append(Iotad(data_dir=d.name, store=db, args=args))
        mqtt_port, http_port = services.free_port(), services.free_port()
        proxy = services.HAProxy(haproxy_cfg(mqtt_port, http_port, nodes),
                                 ports=(mqtt_port, http_port))
        t_ready = time.time()
        base = int(time.time() * 1000) - 3_600_000
        load = Devices(mqtt_port, devs, base)
        # everyone publishing, every breach before the kill acknowledged
        try:
            wait_for(lambda: all(len(a) >= 10 for a in load.acked.values()), timeout=120,
                     interval=0.2)
        except AssertionError:
            raise AssertionError(load.summary() + "\n" + "\n".join(
                n.read_log()[-2000:] for n in nodes))
        assert all(len(h) == 1 for h in load.hot.values())
        # node 1 only ingests: it consumed nothing; its devices are connected through HAProxy
        assert not metric(nodes[1].url, "iotad_bus_consumed_total", '{outcome="delivered"}')
        on_victim = metric(nodes[1].url, "iotad_connections", '{listener="mqtt"}')
        victim = nodes[1]
        victim.stop(signal.SIGKILL)
        killed_at = {d: len(a) for d, a in load.acked.items()}
        load.breach_again.set()
        # every device goes on (those of node 1 after reconnecting), its second breach acked
        wait_for(lambda: all(len(load.hot[d]) == 2 and len(load.acked[d]) >= killed_at[d] + 10
                             for d, _ in devs), timeout=120, interval=0.2)
        load.finish()
        survivors = [nodes[0], nodes[2]]

        # the bus drained, the consumer's heads checkpointed (every second): every node reads
        # the same chunks
        def drained():
            q = json.loads(rabbit.ctl("list_queues", "-p", vhost, "--formatter", "json",
                                      "name", "messages_ready", "messages_unacknowledged"))
            return len(q) == PARTITIONS and all(
                x["messages_ready"] == 0 and x["messages_unacknowledged"] == 0 for x in q)
        wait_for(drained, timeout=60, interval=0.5)
        time.sleep(2.5)

        acked = sum(len(a) for a in load.acked.values())
        resent = sum(len(load.sent[d] - load.acked[d]) for d, _ in devs)
        moved = sum(1 for d, _ in devs if load.reconnects[d])
        stored_total, dup = 0, 0
        clients = [n.admin() for n in survivors]
        via_proxy = requests.Session()
        r = via_proxy.post(f"http://127.0.0.1:{http_port}/api/v1/auth/login",
                           json={"email": "admin@localhost",
                                 "password": "admin-password-for-tests"}, timeout=10)
        assert r.status_code == 200, r.text
        via_proxy.headers["Authorization"] = "Bearer " + r.json()["token"]
        for dev, _ in devs:
            answers = []
            for c in clients:
                pts = c.points(dev, "temp", limit=100000)
                answers.append([(p["ts"], p["value"]) for p in pts])
            r = via_proxy.get(f"http://127.0.0.1:{http_port}/api/v1/devices/{dev}/data",
                              params={"metric": "temp", "from": "0", "limit": 100000},
                              timeout=30)
            assert r.status_code == 200, r.text
            answers.append([(p["ts"], p["value"]) for p in r.json()["points"]])
            assert all(a == answers[0] for a in answers), \
                f"nodes differ on {dev}: {[len(a) for a in answers]} points, " \
                f"{[sorted(set(answers[0]) ^ set(a))[:6] for a in answers[1:]]}"
            stamps = [t for t, _ in answers[0]]
            dup += len(stamps) - len(set(stamps))
            stored = set(stamps)
            stored_total += len(stored)
            lost = load.acked[dev] - stored
            assert not lost, f"{len(lost)} acknowledged points of {dev} lost"
            assert stored <= load.sent[dev], f"{dev}: stored what was never sent"
            # one anomaly per breach: the two acknowledged (and a breach sent, not acked and
            # sent again is the same point: the same anomaly)
            found = [rule_anomalies(c, dev) for c in clients]
            assert found[0] == found[1], f"nodes differ on {dev}'s anomalies"
            assert sorted(ts for _, ts, _ in found[0]) == sorted(load.hot[dev]), \
                f"{dev}: anomalies {found[0]} for breaches {load.hot[dev]}"
        assert dup == 0
        assert moved > 0 and on_victim, "no device was on the killed node"
        assert not load.refusals, load.refusals[:5]
        print(f"\ncluster: devices={DEVICES} acked={acked} stored={stored_total} "
              f"resent_unacked={resent} duplicates={dup} moved={moved} "
              f"anomalies={2 * DEVICES} setup_s={t_ready - t0:.1f} "
              f"total_s={time.time() - t0:.1f}")
    finally:
        if load:
            load.finish()
        if proxy:
            proxy.close()
        for n in nodes:
            if n.proc is not None:
                n.close()
            elif n.tmp:
                n.tmp.cleanup()
        for d in dirs:
            d.cleanup()
