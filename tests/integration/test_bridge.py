"""Bridge mode against a real Mosquitto 2 started by the test: devices publish to the broker,
not to iotad, and iotad subscribes (an MQTT 5 shared subscription) and ingests with the same
decoding, limits and detection. Points and a rule breach arrive; a topic naming no device and a
bad payload are refused and counted; the session outlives an iotad restart (messages published
while iotad is away arrive); a broker that is down is waited for, a broker restart survived;
TLS with a password (and a wrong one refused); two instances in one group split the messages
without duplicates."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
import requests

from conftest import Iotad, free_port, wait_for

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Mosquitto:
    """A Mosquitto broker on a free loopback port, sessions in memory; anonymous clients unless
    conf (global lines, e.g. a password file) says otherwise; listener_conf follows the
    listener line (e.g. its certificate)."""

    def __init__(self, tmp_path, port=None, conf="", listener_conf=""):
        self.port = port or free_port()
        path = tmp_path / "mosquitto.conf"
        path.write_text("per_listener_settings false\npersistence false\nlog_dest stderr\n"
                        "log_type error\nlog_type warning\n"
                        + (conf or "allow_anonymous true\n")
                        + f"listener {self.port} 127.0.0.1\n" + listener_conf)
        self.log_path = tmp_path / "mosquitto.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(path)], stdout=self.log,
                                     stderr=subprocess.STDOUT)

        def up():
            assert self.proc.poll() is None, self.log_path.read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(up, timeout=10)

    def publish(self, topic, lines, args=()):
        """Publishes each line as one QoS 1 message (MQTT 5), in order."""
        r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-V", "5",
                            "-q", "1", "-t", topic, "-l", *args],
                           input="\n".join(lines) + "\n", capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def broker(tmp_path):
    b = Mosquitto(tmp_path)
    yield b
    b.close()


def bridged(data_dir, broker, client_id, log_path=None):
    return Iotad(data_dir=str(data_dir), log_path=log_path,
                 args=["--bridge-url", f"mqtt://127.0.0.1:{broker.port}",
                       "--bridge-client-id", client_id])


def wait_connected(srv, times=1):
    """Waits for the times-th subscription (SUBACK): from then on the broker routes to iotad."""
    wait_for(lambda: srv.read_log().count("msg=bridge_subscribed") >= times, timeout=20)


def metric(srv, name, **labels):
    text = requests.get(srv.url + "/metrics", timeout=5).text
    sel = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(rf"^{name}{{{sel}}} (\S+)$" if sel else rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_bridged_points_and_a_rule_breach_arrive_and_strangers_are_refused(tmp_path, broker):
    (tmp_path / "d").mkdir()
    srv = bridged(tmp_path / "d", broker, "iotad-test-" + uuid.uuid4().hex[:8])
    try:
        wait_connected(srv)
        admin = srv.admin()
        dev = admin.create_device("bridged-boiler", type="thermostat")["id"]
        r = admin.post("/api/v1/rules", {"name": "too hot", "device_type": "thermostat",
                                          "metric": "temp", "kind": "above", "threshold": 30,
                                          "for_ms": 0, "severity": "critical"})
        assert r.status_code == 201, r.text
        now = int(time.time() * 1000)
        broker.publish(f"devices/{dev}/telemetry",
                       [json.dumps({"ts": now - 2000, "metrics": {"temp": 21.5}}),
                        json.dumps({"ts": now - 1000, "metrics": {"temp": 35.5}})])
        points = wait_for(lambda: len(admin.points(dev, "temp")) == 2 and admin.points(dev, "temp"))
        assert [p["value"] for p in points] == [21.5, 35.5]
        anomalies = wait_for(lambda: [a for a in admin.get(
            "/api/v1/anomalies", params={"device_id": dev}).json()["items"]
            if a["details"].get("source") == "rule"])
        assert anomalies[0]["severity"] == "critical" and anomalies[0]["metric"] == "temp"
        assert admin.get(f"/api/v1/devices/{dev}").json()["status"] == "online"
        # a topic naming no registered device, a payload that is not telemetry
        broker.publish(f"devices/{uuid.uuid4()}/telemetry", ['{"metrics":{"temp":1}}'])
        broker.publish(f"devices/{dev}/telemetry", ["not json"])
        wait_for(lambda: metric(srv, "iotad_bridge_messages_total", result="refused") == 1)
        assert metric(srv, "iotad_bridge_messages_total", result="unknown_device") == 1
        assert metric(srv, "iotad_bridge_messages_total", result="ingested") == 2
        assert metric(srv, "iotad_ingest_rejected_total", transport="mqtt", reason="syntax") == 1
        assert metric(srv, "iotad_bridge_connected") == 1
        assert [p["value"] for p in admin.points(dev, "temp")] == [21.5, 35.5]
        log = srv.read_log()
        assert "msg=security_event kind=unknown_device" in log
        assert 'subscription="$share/iotad/devices/+/telemetry"' in log
    finally:
        srv.close()


def test_the_session_outlives_an_iotad_restart(tmp_path, broker):
    (tmp_path / "d").mkdir()
    client_id = "iotad-test-" + uuid.uuid4().hex[:8]
    srv = bridged(tmp_path / "d", broker, client_id)
    try:
        wait_connected(srv)
        dev = srv.admin().create_device("restarting")["id"]
        assert srv.stop() == 0
        assert "msg=bridge_stopped" in srv.read_log()
        # published while iotad is away: the broker keeps them in iotad's session
        now = int(time.time() * 1000)
        broker.publish(f"devices/{dev}/telemetry",
                       [json.dumps({"ts": now - 3000 + i, "metrics": {"v": i}}) for i in range(3)])
        srv.start()
        admin = srv.admin()
        points = wait_for(lambda: len(admin.points(dev, "v")) == 3 and admin.points(dev, "v"))
        assert [p["value"] for p in points] == [0, 1, 2]
        assert "session_present=1" in srv.read_log()
    finally:
        srv.close()


def test_a_broker_that_is_down_is_waited_for_and_a_lost_connection_comes_back(tmp_path):
    port = free_port()
    (tmp_path / "d").mkdir()
    srv = Iotad(data_dir=str(tmp_path / "d"),
                args=["--bridge-url", f"mqtt://127.0.0.1:{port}", "--bridge-client-id",
                      "iotad-test-" + uuid.uuid4().hex[:8]])
    broker = None
    try:
        # iotad serves without its broker, and says so
        assert requests.get(srv.url + "/readyz", timeout=5).status_code == 200
        wait_for(lambda: (metric(srv, "iotad_bridge_connect_failures_total") or 0) >= 1)
        assert metric(srv, "iotad_bridge_connected") == 0
        assert "msg=bridge_connect_failed" in srv.read_log()
        dev = srv.admin().create_device("patient")["id"]
        broker = Mosquitto(tmp_path, port=port)
        wait_connected(srv)
        broker.publish(f"devices/{dev}/telemetry", ['{"metrics":{"v":1}}'])
        wait_for(lambda: metric(srv, "iotad_bridge_messages_total", result="ingested") == 1)
        # the broker restarts (its sessions are in memory: iotad subscribes again)
        broker.close()
        wait_for(lambda: metric(srv, "iotad_bridge_connected") == 0)
        assert "msg=bridge_disconnected" in srv.read_log()
        broker = Mosquitto(tmp_path, port=port)
        wait_connected(srv, times=2)
        broker.publish(f"devices/{dev}/telemetry", ['{"metrics":{"v":2}}'])
        wait_for(lambda: metric(srv, "iotad_bridge_messages_total", result="ingested") == 2)
        assert metric(srv, "iotad_bridge_connects_total") == 2
    finally:
        srv.close()
        if broker:
            broker.close()


def test_a_tls_broker_with_a_password(tmp_path):
    # Mosquitto started as root drops to its own user: it must be able to read these
    # throw-away files, so they live in a directory of their own that it may enter
    with tempfile.TemporaryDirectory(prefix="iotad-bridge-tls-") as d:
        os.chmod(d, 0o755)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", "key.pem", "-out",
                        "cert.pem", "-subj", "/CN=broker", "-addext",
                        "subjectAltName=IP:127.0.0.1", "-days", "2"],
                       cwd=d, check=True, capture_output=True, timeout=60)
        subprocess.run(["mosquitto_passwd", "-c", "-b", f"{d}/passwd", "iotad", "bridge-secret"],
                       check=True, capture_output=True, timeout=30)
        subprocess.run(["mosquitto_passwd", "-b", f"{d}/passwd", "sensor", "sensor-secret"],
                       check=True, capture_output=True, timeout=30)
        for f in ("cert.pem", "key.pem", "passwd"):
            os.chmod(f"{d}/{f}", 0o644)
        broker = Mosquitto(tmp_path, conf=f"allow_anonymous false\npassword_file {d}/passwd\n",
                           listener_conf=f"certfile {d}/cert.pem\nkeyfile {d}/key.pem\n")
        srv = wrong = None
        try:
            (tmp_path / "d").mkdir()
            (tmp_path / "w").mkdir()
            common = ["--bridge-url", f"mqtts://127.0.0.1:{broker.port}",
                      "--bridge-ca-file", f"{d}/cert.pem", "--bridge-username", "iotad"]
            # a wrong password is refused by the broker, retried, and counted
            wrong = Iotad(data_dir=str(tmp_path / "w"), env={"IOTAD_BRIDGE_PASSWORD": "nope"},
                          args=common + ["--bridge-client-id", "iotad-w-" + uuid.uuid4().hex[:8]])
            wait_for(lambda: "msg=bridge_connect_refused" in wrong.read_log(), timeout=20)
            assert metric(wrong, "iotad_bridge_connected") == 0
            assert (metric(wrong, "iotad_bridge_connect_failures_total") or 0) >= 1
            srv = Iotad(data_dir=str(tmp_path / "d"),
                        env={"IOTAD_BRIDGE_PASSWORD": "bridge-secret"},
                        args=common + ["--bridge-client-id", "iotad-" + uuid.uuid4().hex[:8]])
            wait_connected(srv)
            assert "bridge-secret" not in srv.read_log()
            admin = srv.admin()
            dev = admin.create_device("tls-sensor")["id"]
            broker.publish(f"devices/{dev}/telemetry", ['{"metrics":{"v":42}}'],
                           args=["--cafile", f"{d}/cert.pem", "-u", "sensor", "-P",
                                 "sensor-secret"])
            points = wait_for(lambda: admin.points(dev, "v"))
            assert [p["value"] for p in points] == [42]
        finally:
            for x in (srv, wrong):
                if x:
                    x.close()
            broker.close()


def test_two_instances_in_one_group_split_the_messages_without_duplicates(tmp_path, broker):
    # the second instance is a copy of the first (the same devices), as a site would run two
    (tmp_path / "a").mkdir()
    a = Iotad(data_dir=str(tmp_path / "a"), log_path=str(tmp_path / "a.log"))
    admin = a.admin()
    devices = [admin.create_device(f"split-{i}")["id"] for i in range(4)]
    assert a.stop() == 0
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    a = bridged(tmp_path / "a", broker, "iotad-a-" + uuid.uuid4().hex[:8], str(tmp_path / "a.log"))
    b = bridged(tmp_path / "b", broker, "iotad-b-" + uuid.uuid4().hex[:8], str(tmp_path / "b.log"))
    try:
        wait_connected(a)
        wait_connected(b)
        now = int(time.time() * 1000)
        sent = {}
        for n, dev in enumerate(devices):
            values = [float(n * 1000 + i) for i in range(50)]
            sent[dev] = values
            broker.publish(f"devices/{dev}/telemetry",
                           [json.dumps({"ts": now - 60000 + i, "metrics": {"v": v}})
                            for i, v in enumerate(values)])

        def ingested():
            return sum(metric(s, "iotad_bridge_messages_total", result="ingested") or 0
                       for s in (a, b))
        wait_for(lambda: ingested() == 200, timeout=30)
        admins = (a.admin(), b.admin())
        counts = []
        for dev, values in sent.items():
            got = [[p["value"] for p in adm.points(dev, "v", limit=1000)] for adm in admins]
            assert not set(got[0]) & set(got[1]), dev  # no message went to both
            assert sorted(got[0] + got[1]) == values, dev  # none was lost
            counts.append(len(got[0]))
        # the broker shared the subscription: each instance took part of the load
        assert 0 < sum(counts) < 200, counts
    finally:
        a.close()
        b.close()


def test_bad_bridge_configuration_stops_the_start(tmp_path):
    fifo = str(tmp_path / "ca.fifo")
    os.mkfifo(fifo)  # a CA file that would block its reader forever
    for args, says in ((["--bridge-url", "tcp://broker:1883"], "mqtt://"),
                       (["--bridge-url", "mqtt://127.0.0.1:1", "--bridge-topic", "devices/#"],
                        "'#'"),
                       (["--bridge-url", "mqtts://127.0.0.1:1", "--bridge-ca-file", fifo],
                        "not a regular file")):
        (tmp_path / "d").mkdir(exist_ok=True)
        with pytest.raises(RuntimeError) as e:
            Iotad(data_dir=str(tmp_path / "d"), args=args)
        assert "bridge_config_invalid" in str(e.value) and says in str(e.value)
