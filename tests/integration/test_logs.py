"""Log formats: `--log-format json` writes one Elastic Common Schema object per line for every
event a real session produces (start, logins, MQTT, HTTP ingest, a rule breach, a refused
device, a stop); key=value stays the default."""
import json
import re
import socket
import subprocess
import time
from datetime import datetime

import pytest
import requests

from conftest import Iotad, wait_for

LEVELS = {"debug", "info", "warn", "error"}


def parse_json_lines(text):
    events = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            e = json.loads(line)
        except ValueError:
            pytest.fail(f"line {n} is not JSON: {line!r}")
        assert isinstance(e, dict), line
        for field in ("@timestamp", "log.level", "message", "event.action", "ecs.version"):
            assert isinstance(e.get(field), str) and e[field], (field, line)
        assert e["log.level"] in LEVELS, line
        assert datetime.strptime(e["@timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ"), line
        assert isinstance(e.get("process.pid"), int), line
        assert e["message"].startswith(e["event.action"]), line
        for k, v in e.items():
            # custom fields are always strings, so an Elasticsearch mapping never conflicts
            if k.startswith("iotad."):
                assert isinstance(v, str), (k, line)
        events.append(e)
    return events


@pytest.fixture
def json_iotad():
    srv = Iotad(args=["--log-format", "json", "--log-level", "debug"])
    yield srv
    srv.close()


def test_every_json_log_line_parses_with_ecs_fields(json_iotad):
    iotad = json_iotad
    admin = iotad.admin()
    r = requests.post(iotad.url + "/api/v1/auth/login",
                      json={"email": "admin@localhost", "password": "wrong"}, timeout=10)
    assert r.status_code == 401
    dev, key = admin.device_with_key("boiler", type="thermostat")
    assert admin.post("/api/v1/rules", {"name": "too hot", "metric": "temp", "kind": "above",
                                        "threshold": 30, "for_ms": 0,
                                        "severity": "critical"}).status_code == 201
    now = int(time.time() * 1000)
    r = requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": key}, timeout=10,
                      json=[{"ts": now - 1000, "metrics": {"temp": 21}},
                            {"ts": now, "metrics": {"temp": 35.5}}])
    assert r.status_code == 202, r.text
    # a device with a wrong key over MQTT, and one that speaks no MQTT at all
    pub = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(iotad.mqtt_port),
                          "-u", dev, "-P", "wrong-key", "-t", f"devices/{dev}/telemetry",
                          "-m", '{"metrics":{"temp":1}}'], capture_output=True, timeout=10)
    assert pub.returncode != 0
    with socket.create_connection(("127.0.0.1", iotad.mqtt_port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        s.recv(16)
    wait_for(lambda: '"event.action":"anomaly"' in iotad.read_log())
    wait_for(lambda: '"event.action":"mqtt_first_packet_not_connect"' in iotad.read_log())
    assert iotad.stop() == 0
    events = parse_json_lines(iotad.read_log())
    actions = [e["event.action"] for e in events]
    for a in ("migration_applied", "http_listening", "listening", "anomaly", "signal",
              "stopped"):
        assert a in actions, (a, actions)
    # ECS names for what a SIEM correlates on
    listening = next(e for e in events if e["event.action"] == "listening")
    assert int(listening["iotad.http_port"]) == iotad.http_port
    anomaly = next(e for e in events if e["event.action"] == "anomaly")
    assert anomaly["device.id"] == dev and anomaly["iotad.severity"] == "critical"
    assert "too hot" in anomaly["iotad.description"]
    bad = next(e for e in events if e["event.action"] == "mqtt_first_packet_not_connect")
    assert bad["source.ip"] == "127.0.0.1" and isinstance(bad["source.port"], int)
    assert bad["log.level"] == "info"


def test_generated_admin_password_is_one_json_line_on_stdout(tmp_path):
    srv = Iotad(data_dir=str(tmp_path), env={"IOTAD_ADMIN_PASSWORD": ""},
                args=["--log-format", "json"])
    try:
        events = parse_json_lines(srv.read_log())
        notice = [e for e in events if e["event.action"] == "admin_password_generated"]
        assert len(notice) == 1 and notice[0]["user.email"] == "admin@localhost"
        assert notice[0]["log.level"] == "warn"
        password = notice[0]["iotad.password"]
        assert re.fullmatch(r"[0-9a-f]{24}", password)
        r = requests.post(srv.url + "/api/v1/auth/login",
                          json={"email": "admin@localhost", "password": password}, timeout=10)
        assert r.status_code == 200
        # the password is on that one line only
        assert len([line for line in srv.read_log().splitlines() if password in line]) == 1
    finally:
        srv.close()


def test_logfmt_stays_the_default(iotad):
    first = iotad.read_log().splitlines()[0]
    assert re.match(r"ts=\S+Z level=(debug|info|warn|error) msg=\w+", first), first


def test_unknown_log_format_is_refused():
    from conftest import BIN
    r = subprocess.run([BIN, "serve", "--log-format", "xml"], capture_output=True, text=True)
    assert r.returncode == 2 and "log_format" in r.stderr and "logfmt|json" in r.stderr


def test_filebeat_config_reads_what_iotad_writes(iotad, admin, tmp_path):
    """deploy/filebeat/filebeat.yml (Filebeat itself is not packaged for Debian: not run here):
    its inputs parse iotad's JSON log lines and forensic export lines as iotad writes them."""
    import yaml
    from conftest import ROOT
    with open(f"{ROOT}/deploy/filebeat/filebeat.yml") as f:
        cfg = yaml.safe_load(f)
    inputs = {i["id"]: i for i in cfg["filebeat.inputs"]}
    assert set(inputs) == {"iotad-journald", "iotad-containers", "iotad-forensic-exports"}
    assert inputs["iotad-journald"]["include_matches.match"] == ["_SYSTEMD_UNIT=iotad.service"]
    # a Kubernetes container log file of the StatefulSet's pod iotad-0
    import fnmatch
    assert fnmatch.fnmatch("/var/log/containers/iotad-0_iotad_iotad-0123abcd.log",
                           inputs["iotad-containers"]["paths"][0])
    # exports: every line is one JSON document with a type, and a time Filebeat can read
    dev, key = admin.device_with_key("exp")
    now = int(time.time() * 1000)
    assert requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": key}, timeout=10,
                         json=[{"ts": now - i * 1000, "metrics": {"t": i}}
                               for i in range(5)]).status_code == 202
    wait_for(lambda: len(admin.points(dev, "t")) == 5)
    r = admin.get("/api/v1/export", params={"from": now - 60000, "to": now + 1000,
                                            "format": "ndjson", "what": "points,audit"})
    assert r.status_code == 200
    ts_fields = {p["timestamp"]["field"].split(".")[-1]
                 for p in inputs["iotad-forensic-exports"]["processors"] if "timestamp" in p}
    assert inputs["iotad-forensic-exports"]["parsers"][0]["ndjson"]["target"] == "iotad.export"
    lines = r.text.splitlines()
    types = []
    for line in lines:
        doc = json.loads(line)
        types.append(doc["type"])
        stamps = [doc[f] for f in ts_fields if f in doc]
        assert stamps and all(isinstance(s, int) and s > 1e12 for s in stamps), doc
    assert types[0] == "header" and types[-1] == "manifest" and types.count("point") == 5
