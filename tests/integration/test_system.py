"""Health, readiness, metrics, configuration, command line and the audit chain."""
import os
import re
import socket
import sqlite3
import subprocess

import requests

from conftest import ADMIN_PASSWORD, BIN, Iotad, wait_for


def test_health_ready_and_metrics(iotad):
    assert requests.get(iotad.url + "/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(iotad.url + "/readyz", timeout=5).status_code == 200
    m = requests.get(iotad.url + "/metrics", timeout=5)
    assert m.headers["Content-Type"].startswith("text/plain")
    for name in ("iotad_ingest_points_total", "iotad_ingest_rejected_total",
                 "iotad_queue_points", "iotad_connections", "iotad_commit_latency_seconds_bucket",
                 "iotad_detector_state_saves_total", "iotad_mqtt_keepalive_timeouts_total",
                 "iotad_mqtt_wills_total"):
        assert f"# TYPE {name.replace('_bucket', '')}" in m.text, name


def test_unknown_api_path_is_json_404_and_wrong_method_405(iotad, admin):
    r = requests.get(iotad.url + "/api/v1/nope", timeout=5)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = admin.s.put(iotad.url + "/api/v1/devices", timeout=5)
    assert r.status_code == 405


def test_config_command_shows_sources_and_hides_secrets(tmp_path):
    cfg = tmp_path / "iotad.conf"
    cfg.write_text("http_listen = 127.0.0.1:9999\nretention_days = 7\n")
    env = dict(os.environ, IOTAD_RETENTION_DAYS="9", IOTAD_ADMIN_PASSWORD="sekret-value")
    out = subprocess.run([BIN, "config", "--config", str(cfg), "--mqtt-listen", "127.0.0.1:1"],
                         capture_output=True, text=True, env=env, check=True).stdout
    assert "127.0.0.1:9999    # file" in out.replace("  ", " ").replace("  ", " ") or \
        ("http_listen" in out and "# file" in out)
    assert "retention_days" in out and "9" in out and "# env" in out
    assert "# flag" in out
    assert "sekret-value" not in out


def test_bad_flags_are_refused_with_a_message():
    r = subprocess.run([BIN, "serve", "--no-such-flag"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown flag" in r.stderr
    r = subprocess.run([BIN, "serve", "--retention-days", "-5"], capture_output=True, text=True)
    assert r.returncode == 2 and "retention_days" in r.stderr
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "serve" in r.stdout
    r = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--http-listen" in r.stdout


def test_audit_verify_detects_a_tampered_row(iotad, admin):
    for i in range(5):
        admin.create_device(f"d{i}")
    assert iotad.stop() == 0
    ok = subprocess.run([BIN, "audit", "verify", "--data-dir", iotad.data_dir],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "intact" in ok.stdout
    db = sqlite3.connect(os.path.join(iotad.data_dir, "iotad.db"))
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("UPDATE audit_log SET detail = 'forged' WHERE seq = 3")
    db.commit()
    db.close()
    bad = subprocess.run([BIN, "audit", "verify", "--data-dir", iotad.data_dir],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "seq 3" in bad.stdout
    iotad.start()


def test_audit_log_refuses_updates(iotad, admin):
    db = sqlite3.connect(os.path.join(iotad.data_dir, "iotad.db"))
    try:
        db.execute("DELETE FROM audit_log")
        db.commit()
        assert False, "audit_log rows could be deleted"
    except sqlite3.DatabaseError as e:
        assert "append-only" in str(e)
    finally:
        db.close()


def test_a_listen_address_in_use_is_a_clear_error_and_exit_code_1(tmp_path):
    # Issue 11 #11: a port in use ended in "uv_close: Assertion '0' failed" (abort, 134)
    env = dict(os.environ, IOTAD_ADMIN_PASSWORD=ADMIN_PASSWORD, IOTAD_FAST_HASH="1",
               ASAN_OPTIONS="detect_leaks=1:abort_on_error=0")
    for listener in ("http", "mqtt"):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            addr = "127.0.0.1:%d" % busy.getsockname()[1]
            ports = {"http": "127.0.0.1:0", "mqtt": "127.0.0.1:0", listener: addr}
            r = subprocess.run([BIN, "serve", "--data-dir", str(tmp_path), "--http-listen",
                                ports["http"], "--mqtt-listen", ports["mqtt"]],
                               capture_output=True, text=True, env=env, timeout=120)
        log = r.stdout + r.stderr
        assert r.returncode == 1, (listener, r.returncode, log[-3000:])
        assert f"msg=listen_failed listener={listener} addr={addr} option={listener}_listen" \
            in log, log[-3000:]
        assert 'err="Address already in use"' in log or 'err="address already in use"' in log
        assert "Assertion" not in log and "Sanitizer" not in log and "runtime error" not in log
        assert "msg=stopped" in log
    # nothing in the data directory was harmed: it starts on free ports
    srv = Iotad(data_dir=str(tmp_path))
    try:
        assert requests.get(srv.url + "/readyz", timeout=10).status_code == 200
    finally:
        srv.close()


def lag_metrics(iotad):
    """{loop: (buckets [(le, cumulative)], count, sum, max)} from /metrics."""
    text = requests.get(iotad.url + "/metrics", timeout=10).text
    out = {}
    for loop in ("main", "device"):
        b = [(float("inf") if le == "+Inf" else float(le), int(v)) for le, v in re.findall(
            r'^iotad_event_loop_lag_seconds_bucket\{loop="%s",le="([^"]+)"\} (\d+)$' % loop,
            text, re.M)]
        one = lambda name: float(re.search(r'^%s\{loop="%s"\} (\S+)$' % (name, loop), text,
                                           re.M).group(1))
        out[loop] = (b, int(one("iotad_event_loop_lag_seconds_count")),
                     one("iotad_event_loop_lag_seconds_sum"),
                     one("iotad_event_loop_lag_max_seconds"))
    return text, out


def test_event_loop_lag_is_measured_on_both_loops(iotad):
    # A timer due every 100 ms on the main loop (HTTP, API) and on the device loop (MQTT, the
    # writer's completions): how late each ran it, as a histogram and a recent maximum.
    text, first = lag_metrics(iotad)
    assert "# TYPE iotad_event_loop_lag_seconds histogram" in text
    assert "# TYPE iotad_event_loop_lag_max_seconds gauge" in text
    for loop, (buckets, count, total, most) in first.items():
        assert len(buckets) >= 2 and buckets[-1][0] == float("inf"), loop
        les = [le for le, _ in buckets]
        cums = [c for _, c in buckets]
        assert les == sorted(les) and cums == sorted(cums), (loop, buckets)
        assert cums[-1] == count and total >= 0 and most >= 0, loop
    # both keep measuring: each loop's count grows while the server runs
    wait_for(lambda: all(lag_metrics(iotad)[1][loop][1] >= first[loop][1] + 3
                         for loop in ("main", "device")))
