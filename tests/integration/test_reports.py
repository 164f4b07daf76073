"""Reports and forensic exports against a real iotad: the security, performance and compliance
reports' numbers match fixtures put in through the real interfaces (ingest with device keys,
bad keys and payloads, MQTT ACL violations and connection bursts, rule anomalies with analyst
verdicts, audited admin actions); CSV and PDF carry the same figures (the PDF is rendered to
PNG with pdftoppm and its text read back with pdftotext); a deliberately altered audit row is
pointed out by the compliance report; a streamed export's manifest hash matches the bytes
received; scheduled and queued reports are stored, listed and downloadable; access control."""
import csv
import hashlib
import io
import json
import os
import subprocess
import tempfile
import time

import requests

from conftest import BIN, wait_for
from mqttraw import RawMqtt

HOUR = 3_600_000
# the report queries are one catalog written for both back-ends (store/report_catalog.h)
STORE_BACKENDS = ("sqlite", "postgresql")


def ingest(iotad, key, batch, expect=202, **kw):
    r = requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": key}, json=batch,
                      timeout=30, **kw)
    assert r.status_code == expect, r.text
    return r


def bad_payload(iotad, key):
    r = requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": key,
                      "Content-Type": "application/json"}, data=b'{"metrics": {"t": ', timeout=10)
    assert r.status_code == 400, r.text


def report(client, kind, **params):
    r = client.get(f"/api/v1/reports/{kind}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def section(doc, name):
    """A section as a list of dicts keyed by column."""
    s = doc["sections"][name]
    return [dict(zip(s["columns"], row)) for row in s["rows"]]


def anomalies(client, **params):
    r = client.get("/api/v1/anomalies", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def pdf_text_and_png(pdf_bytes):
    """Renders page 1 to PNG (pdftoppm) and extracts the text (pdftotext)."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "r.pdf")
        with open(path, "wb") as f:
            f.write(pdf_bytes)
        subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", path,
                        os.path.join(d, "page")], check=True)
        pngs = [p for p in os.listdir(d) if p.endswith(".png")]
        assert pngs, "pdftoppm rendered no page"
        with open(os.path.join(d, pngs[0]), "rb") as f:
            png = f.read()
        text = subprocess.run(["pdftotext", "-layout", path, "-"], check=True,
                              capture_output=True).stdout.decode()
        pages = subprocess.run(["pdfinfo", path], check=True, capture_output=True).stdout.decode()
    return text, png, pages


# ---- security ---------------------------------------------------------------------------

def test_security_report_counts_match_the_events_put_in(iotad, admin):
    thermo, tkey = admin.device_with_key("boiler", type="thermo")
    pump, pkey = admin.device_with_key("pump-1", type="pump")
    for rule in ({"name": "hot", "device_type": "thermo", "metric": "temp", "kind": "above",
                  "threshold": 100, "severity": "critical"},
                 {"name": "pressure", "device_type": "pump", "metric": "p", "kind": "above",
                  "threshold": 10, "severity": "warning"}):
        assert admin.post("/api/v1/rules", rule).status_code == 201
    now = int(time.time() * 1000)
    ingest(iotad, tkey, [{"ts": now - 3000, "metrics": {"temp": 20}},
                         {"ts": now - 2000, "metrics": {"temp": 150}}])
    ingest(iotad, pkey, [{"ts": now - 2000, "metrics": {"p": 20}}])
    wait_for(lambda: len(anomalies(admin)) == 2)
    # 3 unknown keys, 1 revoked key, 2 bad payloads, 1 ACL violation
    for i in range(3):
        ingest(iotad, f"iotad_nosuchkey{i}", [{"metrics": {"x": 1}}], expect=401)
    kid = admin.post(f"/api/v1/devices/{pump}/keys").json()
    assert admin.delete(f"/api/v1/devices/{pump}/keys/{kid['id']}").status_code == 204
    ingest(iotad, kid["key"], [{"metrics": {"x": 1}}], expect=401)
    bad_payload(iotad, tkey)
    bad_payload(iotad, tkey)
    c = RawMqtt(iotad.mqtt_port, 5)
    assert c.connect(username=pump, password=pkey) == 0
    c.publish(f"devices/{thermo}/telemetry", '{"metrics":{"x":1}}', packet_id=1)
    assert c.puback() == (1, 0x87)
    c.close()

    doc = report(admin, "security", **{"from": "-1h"})
    s = doc["summary"]
    assert doc["kind"] == "security"
    assert (s["anomalies"], s["anomalies_critical"], s["anomalies_warning"],
            s["anomalies_info"]) == (2, 1, 1, 0)
    assert s["auth_failures"] == 4 and s["bad_payloads"] == 2 and s["acl_violations"] == 1
    assert s["incidents_opened"] >= 0 and s["alerts_failed"] >= 0
    by_sev = {r["severity"]: r["anomalies"] for r in section(doc, "anomalies_by_severity")}
    assert by_sev == {"critical": 1, "warning": 1, "info": 0}
    by_type = section(doc, "anomalies_by_type")
    assert {(r["type"], r["metric"], r["anomalies"]) for r in by_type} == \
        {("rule", "temp", 1), ("rule", "p", 1)}
    kinds = {r["kind"]: r["events"] for r in section(doc, "security_events")}
    assert kinds["auth_failure"] == 3 and kinds["revoked_key"] == 1
    assert kinds["bad_payload"] == 2 and kinds["acl_violation"] == 1
    top_dev = section(doc, "top_offending_devices")
    assert top_dev[0]["device_id"] == thermo and top_dev[0]["bad_payloads"] == 2
    assert top_dev[0]["anomalies"] == 1
    assert {r["device_id"]: r["acl_violations"] for r in top_dev}[pump] == 1
    top_addr = section(doc, "top_offending_addresses")
    assert top_addr[0]["address"] == "127.0.0.1" and top_addr[0]["events"] == 7
    assert top_addr[0]["auth_failures"] == 4

    # a device-type filter keeps that type's anomalies and device-bound events only
    doc = report(admin, "security", **{"from": "-1h", "device_type": "thermo"})
    assert doc["summary"]["anomalies"] == 1 and doc["summary"]["anomalies_critical"] == 1
    assert doc["summary"]["bad_payloads"] == 2 and doc["summary"]["auth_failures"] == 0
    assert doc["filters"]["device_type"] == "thermo"

    # CSV: the same numbers; one section on its own is a plain table
    r = admin.get("/api/v1/reports/security", params={"from": "-1h", "format": "csv"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    summary = {row[1]: row[2] for row in rows if row and row[0] == "summary"}
    assert summary["auth_failures"] == "4" and summary["anomalies_critical"] == "1"
    assert ["security_events", "acl_violation", "1"] in rows
    r = admin.get("/api/v1/reports/security",
                  params={"from": "-1h", "format": "csv", "section": "anomalies_by_severity"})
    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0] == ["severity", "anomalies", "open"] and table[1] == ["critical", "1", "1"]
    assert admin.get("/api/v1/reports/security", params={"format": "csv", "section": "nope"}
                     ).status_code == 404

    # PDF: renders, and its text carries the figures
    r = admin.get("/api/v1/reports/security", params={"from": "-1h", "format": "pdf"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    text, png, _ = pdf_text_and_png(r.content)
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert "Security report" in text and "Security events by kind" in text
    assert "127.0.0.1" in text and "acl_violation" in text


def test_connection_bursts_are_reported_as_floods(iotad, admin):
    dev, key = admin.device_with_key("chatty")
    quiet, qkey = admin.device_with_key("quiet")
    for i in range(12):
        c = RawMqtt(iotad.mqtt_port, 5)
        assert c.connect(client_id=f"c{i}", username=dev, password=key) == 0
        c.close()
    c = RawMqtt(iotad.mqtt_port, 5)
    assert c.connect(client_id="q", username=quiet, password=qkey) == 0
    c.close()

    # the per-device counters are flushed as sys.connects every 10 s
    def flushed():
        doc = report(admin, "security", **{"from": "-1h", "flood_threshold": "5"})
        return doc if doc["summary"]["connects"] == 13 else None
    doc = wait_for(flushed, timeout=25, interval=0.5)
    s = doc["summary"]
    assert s["connection_flood_intervals"] >= 1 and s["devices_with_connection_floods"] == 1
    floods = section(doc, "connection_floods")
    assert floods[0]["device_id"] == dev and floods[0]["connects"] == 12
    assert floods[0]["flood_intervals"] >= 1 and floods[0]["first_flood"]
    assert floods[1]["device_id"] == quiet and floods[1]["flood_intervals"] == 0


# ---- performance ------------------------------------------------------------------------

def test_performance_report_volume_rejections_availability_and_precision(iotad, admin):
    dev, key = admin.device_with_key("meter", type="meter")
    other, okey = admin.device_with_key("other", type="meter")
    assert admin.post("/api/v1/rules", {"name": "over", "device_id": dev, "metric": "temp",
                                        "kind": "above", "threshold": 100,
                                        "severity": "warning"}).status_code == 201
    # the bad payloads are sent before `now` is taken: the report's window ends at now + 1 s,
    # and on a loaded machine the steps below can take longer than that (they were counted 0)
    bad_payload(iotad, key)
    bad_payload(iotad, key)
    bad_payload(iotad, okey)
    now = int(time.time() * 1000)
    base = now - HOUR + 60_000
    ingest(iotad, key, [{"ts": base + i * 10_000, "metrics": {"temp": 20 + (i % 5)}}
                        for i in range(100)])
    ingest(iotad, okey, [{"ts": base + i * 10_000, "metrics": {"a": i, "b": -i}}
                         for i in range(25)])
    # three separate breaches: three anomalies
    ingest(iotad, key, [{"ts": now - 5000 + i * 1000, "metrics": {"temp": v}}
                        for i, v in enumerate([150, 20, 150, 20, 150])])
    found = wait_for(lambda: len(anomalies(admin, device_id=dev)) == 3 and
                     anomalies(admin, device_id=dev))
    for a, verdict in zip(found, ["confirmed", "confirmed", "false_positive"]):
        r = admin.post(f"/api/v1/anomalies/{a['id']}/resolve", {"verdict": verdict})
        assert r.status_code == 200

    # a device with a known status history (fixture rows written into the store): online
    # for 30 of the first 60 minutes and 30 of the next 60 -> 50 %, two outages
    flaky = admin.create_device("flaky", type="meter")["id"]
    # the window is exactly two hours, [to - 2 h, to], once `to` is in the past (availability
    # is measured up to min(to, the report's now): a report built before `to` made the result
    # depend on how long the steps above took)
    t0 = now + 1000 - 2 * HOUR
    iotad.sql("UPDATE devices SET created_at = ? WHERE id = ?", (t0, flaky))
    iotad.sql("INSERT INTO device_events(ts, device_id, category, kind, transport, detail)"
              " VALUES(?, ?, 'status', ?, 'mqtt', 'fixture')",
              (t0, flaky, "online"), (t0 + HOUR // 2, flaky, "offline"),
              (t0 + HOUR, flaky, "online"), (t0 + 3 * HOUR // 2, flaky, "offline"))

    time.sleep(max(0.0, (now + 1000) / 1000 - time.time()) + 0.05)
    params = {"from": str(t0), "to": str(now + 1000), "device_type": "meter"}
    doc = report(admin, "performance", **params)
    s = doc["summary"]
    assert s["points_stored"] == 100 + 5 + 50  # data points only: sys.* series are not ingest
    assert s["series_with_data"] == 3
    assert abs(s["points_per_second"] - 155 / ((now + 1000 - t0) / 1000)) < 1e-6
    assert sum(r["points"] for r in section(doc, "ingest_volume")) == 155
    vol = {r["device_id"]: r["points"] for r in section(doc, "top_devices_by_volume")}
    assert vol == {dev: 105, other: 50}
    rej = {r["reason"]: r["messages"] for r in section(doc, "rejected_by_reason")}
    assert rej["bad payload"] == 3 and rej["authentication"] == 0
    assert s["rejected_messages"] == 3
    since = {r["reason"]: r for r in section(doc, "rejected_since_start")}
    assert since["syntax"]["http"] == 3 and since["syntax"]["total"] == 3
    prec = {r["source"]: r for r in section(doc, "detector_precision")}
    assert prec["rule"]["confirmed"] == 2 and prec["rule"]["false_positive"] == 1
    assert prec["all"]["precision"] == 0.6667 and prec["all"]["unreviewed"] == 0
    assert abs(s["detector_precision"] - 2 / 3) < 1e-9
    assert s["commit_latency_p50_ms"] > 0 and s["commit_latency_p99_ms"] >= \
        s["commit_latency_p50_ms"]
    avail = {r["device_id"]: r for r in section(doc, "least_available_devices")}
    assert avail[flaky]["availability_pct"] == 50.0 and avail[flaky]["outages"] == 2
    assert avail[flaky]["online_seconds"] == 3600
    pcts = [r["availability_pct"] for r in section(doc, "least_available_devices")]
    assert pcts == sorted(pcts)  # least available first
    assert 0 < avail[dev]["availability_pct"] <= 100  # online from its first message on
    assert s["devices"] == 3

    # messages come from the sys.messages counters, flushed every 10 s
    def messages():
        d = report(admin, "performance", **{**params, "to": str(int(time.time() * 1000) + 1)})
        return d["summary"]["messages"] if d["summary"]["messages"] >= 3 else None
    assert wait_for(messages, timeout=25, interval=0.5) == 3  # the accepted requests

    r = admin.get("/api/v1/reports/performance", params={**params, "format": "pdf"})
    text, png, _ = pdf_text_and_png(r.content)
    assert len(png) > 5000 and "Performance report" in text and "Ingest volume" in text


# ---- compliance -------------------------------------------------------------------------

def test_compliance_report_lists_audited_changes_and_verifies_the_chain(iotad, admin):
    analyst = admin.create_user("an@example.com", "analyst")
    assert admin.patch(f"/api/v1/users/{analyst['id']}", {"role": "device_owner"}
                       ).status_code == 200
    for _ in range(2):
        r = requests.post(iotad.url + "/api/v1/auth/login",
                          json={"email": "an@example.com", "password": "wrong-password!"},
                          timeout=10)
        assert r.status_code == 401
    iotad.login("an@example.com", "a-long-test-password")
    dev, key = admin.device_with_key("k")
    kid = admin.get(f"/api/v1/devices/{dev}/keys").json()["items"][0]["id"]
    rot = admin.post(f"/api/v1/devices/{dev}/keys/{kid}/rotate").json()
    assert admin.delete(f"/api/v1/devices/{dev}/keys/{rot['id']}").status_code == 204
    assert admin.patch("/api/v1/settings", {"signup": "invite"}).status_code == 200
    assert admin.get("/api/v1/export", params={"what": "events"}).status_code == 200

    doc = report(admin, "compliance", **{"from": "-1h"})
    s = doc["summary"]
    assert s["login_failures"] == 2 and s["logins"] == 2  # the admin's and the analyst's
    assert s["role_changes"] == 1 and s["users_created"] == 2  # bootstrap admin + analyst
    assert (s["api_keys_created"], s["api_keys_rotated"], s["api_keys_revoked"]) == (1, 1, 1)
    assert s["data_exports"] == 1 and s["configuration_changes"] >= 2  # settings + device
    assert s["audit_chain_intact"] is True and doc["audit_chain"]["first_bad_seq"] is None
    assert s["retention_days"] == 30
    roles = [r for r in section(doc, "user_changes") if r["action"] == "user.role_change"]
    assert roles and roles[0]["target"] == "an@example.com"
    assert "device_owner" in roles[0]["detail"]
    logins = {r["account"]: r for r in section(doc, "logins_by_account")}
    assert logins["an@example.com"]["failures"] == 2 and logins["an@example.com"]["logins"] == 1
    assert [r["action"] for r in section(doc, "api_keys")] == \
        ["apikey.create", "apikey.rotate", "apikey.revoke"]
    assert any(r["action"] == "settings.update" and r["detail"] == "signup=invite"
               for r in section(doc, "configuration_changes"))
    exports = [r["action"] for r in section(doc, "data_exports")]
    assert "export.create" in exports and "export.complete" in exports
    retention = {r["setting"]: r["value"] for r in section(doc, "retention")}
    assert retention["retention_days (time series)"] == "30" and retention["signup"] == "invite"

    # tamper with one row behind the server's back (raw database access, triggers dropped)
    seq = iotad.sql("SELECT seq FROM audit_log WHERE action = 'user.role_change'")[0][0]
    iotad.sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change" if iotad.store else
              "DROP TRIGGER audit_log_no_update")
    iotad.sql("UPDATE audit_log SET detail = '{\"role\":\"analyst\"}' WHERE seq = ?", (seq,))
    doc = report(admin, "compliance", **{"from": "-1h"})
    chain = doc["audit_chain"]
    assert doc["summary"]["audit_chain_intact"] is False
    assert chain["intact"] is False and chain["first_bad_seq"] == seq
    assert chain["reason"] == "hash mismatch" and chain["rows_verified"] == seq - 1
    assert chain["bad_row"]["action"] == "user.role_change"
    assert chain["bad_row"]["detail"] == '{"role":"analyst"}'
    checks = {r["check"]: r["result"] for r in section(doc, "audit_chain")}
    assert checks["status"].startswith("BROKEN") and checks["first bad entry (seq)"] == seq
    r = admin.get("/api/v1/reports/compliance", params={"from": "-1h", "format": "pdf"})
    text, png, _ = pdf_text_and_png(r.content)
    assert len(png) > 5000 and "Compliance audit report" in text
    assert "BROKEN" in text and "hash mismatch" in text
    # the command line agrees
    store = ["--store", iotad.store] if iotad.store else []
    out = subprocess.run([BIN, "audit", "verify", "--data-dir", iotad.data_dir, *store],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and f"seq {seq}" in out.stdout


# ---- forensic export --------------------------------------------------------------------

def split_manifest(body):
    head, last = body.rstrip(b"\n").rsplit(b"\n", 1)
    return head + b"\n", last


def test_export_manifest_hash_matches_the_bytes_and_is_audited(iotad, admin):
    dev, key = admin.device_with_key("src")
    other, okey = admin.device_with_key("other")
    now = int(time.time() * 1000)
    t0 = now - 3 * HOUR
    ingest(iotad, key, [{"ts": t0 + i * 1000, "metrics": {"v": i * 0.1, "w": -i}}
                        for i in range(2000)])
    ingest(iotad, okey, [{"ts": t0 + i * 1000, "metrics": {"v": 1.5}} for i in range(300)])
    bad_payload(iotad, key)
    r = admin.get("/api/v1/export", params={"from": str(t0), "to": str(now - HOUR)},
                  stream=True)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-ndjson"
    export_id = r.headers["X-Export-Id"]
    body = b"".join(r.iter_content(65536))
    content, last = split_manifest(body)
    manifest = json.loads(last)
    assert manifest["type"] == "manifest" and manifest["export_id"] == export_id
    assert manifest["sha256"] == hashlib.sha256(content).hexdigest()
    assert manifest["bytes"] == len(content)
    lines = [json.loads(x) for x in content.splitlines()]
    assert lines[0]["type"] == "header" and lines[0]["export_id"] == export_id
    points = [x for x in lines if x["type"] == "point"]
    assert len(points) == 4000 + 300 == manifest["records"]["point"]
    mine = sorted((p["ts"], p["value"]) for p in points
                  if p["device_id"] == dev and p["metric"] == "v")
    assert mine[0] == (t0, 0.0) and mine[7] == (t0 + 7000, 7 * 0.1)  # exact round trip
    assert len(mine) == 2000
    # the bad payload happened now, outside the range; the audit entries are the range's
    assert manifest["records"]["event"] == 0
    # recorded: the stored manifest, and the audit log anchors the hash in its chain
    rec = admin.get(f"/api/v1/exports/{export_id}").json()
    assert rec["status"] == "done" and rec["sha256"] == manifest["sha256"]
    assert rec["manifest"]["records"]["point"] == 4300 and rec["bytes"] == len(content)
    audit = admin.get("/api/v1/audit", params={"limit": 50}).json()["items"]
    acts = {(a["action"], a["target"]): a for a in audit}
    assert ("export.create", export_id) in acts
    assert manifest["sha256"] in acts[("export.complete", export_id)]["detail"]

    # everything (events included) in CSV, one device
    r = admin.get("/api/v1/export", params={"from": str(t0), "device_id": dev,
                                            "format": "csv"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    content, last = split_manifest(r.content)
    mrow = next(csv.reader(io.StringIO(last.decode())))
    assert mrow[0] == "manifest" and mrow[3] == "sha256"
    assert mrow[4] == hashlib.sha256(content).hexdigest()
    assert json.loads(mrow[5])["sha256"] == mrow[4]
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert {r["record"] for r in rows} >= {"point", "event", "audit"}
    assert sum(1 for r in rows if r["record"] == "point") == 4000
    assert all(r["device_id"] == dev for r in rows if r["record"] == "point")
    ev = [r for r in rows if r["record"] == "event"]
    assert any(r["name"] == "bad_payload" and json.loads(r["detail"])["device_id"] == dev
               for r in ev)

    # point-only export with a what filter
    r = admin.get("/api/v1/export", params={"from": str(t0), "to": str(now - HOUR),
                                            "what": "anomalies,events"})
    _, last = split_manifest(r.content)
    assert json.loads(last)["records"]["point"] == 0
    assert admin.get("/api/v1/export", params={"what": "bogus"}).status_code == 400
    assert admin.get("/api/v1/export", params={"format": "xml"}).status_code == 400
    assert admin.get("/api/v1/export", params={"from": "-1h", "to": "-2h"}).status_code == 400


def test_export_client_that_goes_away_is_recorded_as_aborted(iotad, admin):
    dev, key = admin.device_with_key("big")
    t0 = int(time.time() * 1000) - 2 * HOUR
    for b in range(10):
        ingest(iotad, key, [{"ts": t0 + (b * 5000 + i) * 100, "metrics": {"a": i, "b": i, "c": i}}
                            for i in range(5000)])
    r = admin.get("/api/v1/export", params={"from": str(t0)}, stream=True)
    export_id = r.headers["X-Export-Id"]
    next(r.iter_content(1024))
    r.close()
    rec = wait_for(lambda: (lambda x: x if x["status"] != "running" else None)(
        admin.get(f"/api/v1/exports/{export_id}").json()), timeout=15)
    assert rec["status"] == "aborted" and rec["sha256"] is None
    audit = admin.get("/api/v1/audit", params={"limit": 20}).json()["items"]
    assert any(a["action"] == "export.abort" and a["target"] == export_id for a in audit)
    assert admin.get("/healthz").status_code == 200


def test_export_access_device_owner_only_own_devices(iotad, admin):
    admin.create_user("own@example.com", "device_owner")
    admin.create_user("an@example.com", "analyst")
    owner = iotad.login("own@example.com", "a-long-test-password")
    analyst = iotad.login("an@example.com", "a-long-test-password")
    mine = owner.create_device("mine")["id"]
    mkey = owner.create_key(mine)
    theirs, tkey = admin.device_with_key("theirs")
    t0 = int(time.time() * 1000) - HOUR
    ingest(iotad, mkey, [{"ts": t0 + i, "metrics": {"x": i}} for i in range(10)])
    ingest(iotad, tkey, [{"ts": t0 + i, "metrics": {"x": i}} for i in range(20)])
    for i in range(2):
        ingest(iotad, f"iotad_nosuchkey{i}", [{"metrics": {"x": 1}}], expect=401)

    # one incident per device
    iotad.sql("INSERT INTO incidents(id, status, created_at, device_id) VALUES(?, 'new', ?, ?)",
              ("01900000-0000-7000-8000-0000000000c1", t0 + 5, mine),
              ("01900000-0000-7000-8000-0000000000c2", t0 + 5, theirs))
    r = owner.get("/api/v1/export", params={"from": str(t0 - 1)})
    assert r.status_code == 200
    content, last = split_manifest(r.content)
    assert json.loads(last)["records"]["incident"] == 1
    assert [x["id"] for x in map(json.loads, content.splitlines()[1:])
            if x["type"] == "incident"] == ["01900000-0000-7000-8000-0000000000c1"]
    lines = [json.loads(x) for x in content.splitlines()[1:]]
    assert {x.get("device_id") for x in lines if x["type"] in ("point", "event")} == {mine}
    assert json.loads(last)["records"]["point"] == 10
    assert json.loads(last)["records"]["audit"] == 0
    assert owner.get("/api/v1/export", params={"device_id": theirs}).status_code == 404
    assert owner.get("/api/v1/export", params={"what": "audit"}).status_code == 403
    assert owner.get("/api/v1/exports").json()["items"][0]["created_by"] == \
        owner.get("/api/v1/auth/me").json()["id"]
    # Analysts export every device but not the audit log; Admins get it all
    _, last = split_manifest(analyst.get("/api/v1/export", params={"from": str(t0 - 1)}).content)
    m = json.loads(last)
    assert m["records"]["point"] == 30 and m["records"]["audit"] == 0
    assert m["records"]["event"] >= 2  # unknown-key failures belong to no device
    _, last = split_manifest(admin.get("/api/v1/export", params={"from": str(t0 - 1)}).content)
    assert json.loads(last)["records"]["audit"] > 0
    assert requests.get(iotad.url + "/api/v1/export", timeout=10).status_code == 401


# ---- access, scheduling, queued builds ------------------------------------------------------

def test_report_access_by_role(iotad, admin):
    admin.create_user("own@example.com", "device_owner")
    admin.create_user("an@example.com", "analyst")
    owner = iotad.login("own@example.com", "a-long-test-password")
    analyst = iotad.login("an@example.com", "a-long-test-password")
    for path in ("/api/v1/reports/security", "/api/v1/reports/performance",
                 "/api/v1/reports/compliance", "/api/v1/reports", "/api/v1/reports/schedules",
                 "/api/v1/exports"):
        assert requests.get(iotad.url + path, timeout=10).status_code == 401, path
    for path in ("/api/v1/reports/security", "/api/v1/reports/compliance", "/api/v1/reports"):
        assert owner.get(path).status_code == 403, path
    assert analyst.get("/api/v1/reports/security").status_code == 200
    assert analyst.get("/api/v1/reports/performance").status_code == 200
    assert analyst.get("/api/v1/reports/compliance").status_code == 403
    assert analyst.post("/api/v1/reports", {"kind": "compliance"}).status_code == 403
    assert analyst.post("/api/v1/reports/schedules", {"name": "c", "kind": "compliance",
                                                      "period": "daily"}).status_code == 403
    assert admin.get("/api/v1/reports/security", params={"format": "doc"}).status_code == 400
    # a filter too long to hold is refused, never dropped (which would widen the report)
    assert admin.get("/api/v1/reports/security", params={"device_type": "x" * 100}
                     ).status_code == 400
    assert admin.get("/api/v1/export", params={"device_type": "x" * 100}).status_code == 400
    assert admin.get("/api/v1/export", params={"device_id": "a" * 3000}).status_code == 400
    assert admin.get("/api/v1/reports/security", params={"from": "-1h", "to": "-2h"}
                     ).status_code == 400
    assert admin.get("/api/v1/reports/security",
                     params={"device_id": "01900000-0000-7000-8000-000000000000"}
                     ).status_code == 404
    # analysts do not see stored compliance reports
    r = admin.post("/api/v1/reports", {"kind": "compliance"})
    assert r.status_code == 202
    assert analyst.get(f"/api/v1/reports/{r.json()['id']}").status_code == 404
    assert all(x["kind"] != "compliance" for x in analyst.get("/api/v1/reports").json()["items"])
    # every generated report is audited
    audit = admin.get("/api/v1/audit", params={"limit": 50}).json()["items"]
    assert sum(1 for a in audit if a["action"] == "report.generate") >= 3


def test_queued_report_reports_progress_and_is_stored(iotad, admin):
    dev, key = admin.device_with_key("q", type="meter")
    now = int(time.time() * 1000)
    ingest(iotad, key, [{"ts": now - 20 * 86_400_000 + i * 60_000, "metrics": {"t": i}}
                        for i in range(5000)])
    r = admin.post("/api/v1/reports", {"kind": "performance",
                                       "from": now - 21 * 86_400_000, "to": now})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running", "done") and 0 <= job["progress"] <= 1

    def done():
        x = admin.get(f"/api/v1/reports/{job['id']}").json()
        assert x["status"] != "failed", x
        return x if x["status"] == "done" else None
    x = wait_for(done, timeout=30)
    assert x["progress"] == 1 and len(x["sha256"]) == 64
    doc = admin.get(f"/api/v1/reports/{job['id']}/download").json()
    assert doc["summary"]["points_stored"] == 5000
    assert len(section(doc, "ingest_volume")) >= 3  # daily buckets over ~4 days of data
    r = admin.get(f"/api/v1/reports/{job['id']}/download", params={"format": "csv"})
    assert "summary,points_stored,5000" in r.text
    r = admin.get(f"/api/v1/reports/{job['id']}/download", params={"format": "pdf"})
    assert r.content.startswith(b"%PDF")
    listed = admin.get("/api/v1/reports").json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == job["id"]
    assert admin.get("/api/v1/reports/nope").status_code == 404
    assert admin.post("/api/v1/reports", {"kind": "weather"}).status_code == 400
    assert admin.post("/api/v1/reports", {"kind": "security", "from": "yesterday"}
                      ).status_code == 400


def test_scheduled_report_runs_and_is_downloadable(iotad, admin):
    bad = admin.post("/api/v1/reports/schedules", {"name": "x", "kind": "security",
                                                   "period": "hourly"})
    assert bad.status_code == 400
    r = admin.post("/api/v1/reports/schedules", {"name": "daily security", "kind": "security",
                                                 "period": "daily"})
    assert r.status_code == 201, r.text
    sched = r.json()
    stored = wait_for(lambda: [x for x in admin.get(
        "/api/v1/reports", params={"schedule_id": sched["id"]}).json()["items"]
        if x["status"] == "done"], timeout=15)
    rep = stored[0]
    day = 86_400_000
    assert rep["to"] % day == 0 and rep["to"] - rep["from"] == day  # the last complete UTC day
    assert rep["to"] <= time.time() * 1000 < rep["to"] + day
    pdf = admin.get(f"/api/v1/reports/{rep['id']}/download", params={"format": "pdf"})
    text, png, _ = pdf_text_and_png(pdf.content)
    assert "Security report" in text and len(png) > 5000
    s = [x for x in admin.get("/api/v1/reports/schedules").json()["items"]
         if x["id"] == sched["id"]][0]
    assert s["next_run"] % day == 0 and s["next_run"] > time.time() * 1000
    assert s["last_run"] is not None
    w = admin.post("/api/v1/reports/schedules", {"name": "weekly perf", "kind": "performance",
                                                 "period": "weekly", "run_now": False}).json()
    monday = 4 * day  # 1970-01-05 was a Monday
    assert (w["next_run"] - monday) % (7 * day) == 0
    assert admin.delete(f"/api/v1/reports/schedules/{w['id']}").status_code == 204
    assert admin.delete(f"/api/v1/reports/schedules/{w['id']}").status_code == 404


def test_queued_report_resumes_after_restart(iotad, admin):
    # a build left 'queued' by a previous run (written directly) is started at the next start
    now = int(time.time() * 1000)
    params = json.dumps({"kind": "security", "from": now - HOUR, "to": now})
    iotad.sql("INSERT INTO reports(id, kind, status, params, from_ts, to_ts, created_by, "
              "created_at) VALUES('01900000-0000-7000-8000-0000000000aa', 'security', 'queued',"
              " ?, ?, ?, 'system', ?)", (params, now - HOUR, now, now))
    iotad.restart()
    admin = iotad.admin()
    x = wait_for(lambda: (lambda r: r if r["status"] == "done" else None)(
        admin.get("/api/v1/reports/01900000-0000-7000-8000-0000000000aa").json()), timeout=15)
    assert x["progress"] == 1


def test_security_report_times_incidents_to_acknowledge_and_resolve(iotad, admin):
    dev = admin.create_device("inc")["id"]
    now = int(time.time() * 1000)
    t = now - 30 * 60_000
    # fixtures: incidents with the times they were acknowledged and resolved
    iotad.sql("INSERT INTO incidents(id, status, created_at, device_id, acknowledged_at,"
              " resolved_at) VALUES(?, ?, ?, ?, ?, ?)",
              ("01900000-0000-7000-8000-0000000000b1", "resolved", t, dev, t + 60_000,
               t + 600_000),
              ("01900000-0000-7000-8000-0000000000b2", "investigating", t, dev, t + 120_000,
               None))
    doc = report(admin, "security", **{"from": "-1h", "device_id": dev})
    s = doc["summary"]
    assert s["incidents_opened"] == 2 and s["incidents_resolved"] == 1
    assert s["mean_time_to_acknowledge_s"] == 90 and s["mean_time_to_resolve_s"] == 600
    rows = {r["measure"]: r["value"] for r in section(doc, "incidents")}
    assert rows["still open"] == 1 and rows["max time to acknowledge (s)"] == 120
    # a device without incidents: no times
    other = admin.create_device("calm")["id"]
    doc = report(admin, "security", **{"from": "-1h", "device_id": other})
    assert doc["summary"]["incidents_opened"] == 0
    assert doc["summary"]["mean_time_to_resolve_s"] is None
