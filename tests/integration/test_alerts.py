"""Alert delivery with real parts: a real SMTP server (aiosmtpd) and real local HTTP receivers
for webhooks and the SMS gateway. Asserts what arrives (recipient, subject, severity, body,
signature), retries and dead letters, SSRF refusal, grouping, flapping, rate limits,
escalation, per-user preferences and device-owner routing, and that alerts due when iotad is
killed -9 are all delivered after a restart, duplicates carrying the same idempotency key."""
import base64
import email
import email.policy
import hashlib
import hmac
import ipaddress
import concurrent.futures
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

STORE_BACKENDS = ("sqlite", "postgresql")
import requests
import websocket
from aiosmtpd.controller import Controller

from conftest import BIN, Iotad, free_port, wait_for


# --- real receivers -------------------------------------------------------------------------
class Receiver:
    """A local HTTP server recording every request; answers `status` (settable)."""

    def __init__(self, port=None, status=200):
        self.port = port or free_port()
        self.status = status
        self.requests = []
        self.lock = threading.Lock()
        self.srv = None

    def start(self):
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with rec.lock:
                    rec.requests.append({"path": self.path, "headers": dict(self.headers),
                                         "body": body, "t": time.time()})
                self.send_response(rec.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def got(self):
        with self.lock:
            return list(self.requests)

    def json_bodies(self):
        return [json.loads(r["body"]) for r in self.got()]


class SmtpSink:
    """A real SMTP server (aiosmtpd) collecting messages."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.messages = []
        self.controller = None

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "msg": email.message_from_bytes(envelope.content,
                                                              policy=email.policy.default)})
        return "250 OK"

    def start(self):
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def hook():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def smtp():
    s = SmtpSink().start()
    yield s
    s.stop()


@pytest.fixture
def srv():
    s = Iotad(env={"IOTAD_ALERT_ALLOW_PRIVATE": "1"})
    yield s
    s.close()


@pytest.fixture
def adm(srv):
    c = srv.admin()
    # fast retries for tests
    r = c.patch("/api/v1/alert-settings", {"retry_base_ms": 100, "retry_max_ms": 400,
                                            "max_attempts": 4, "timeout_ms": 3000})
    assert r.status_code == 200, r.text
    return c


# --- helpers --------------------------------------------------------------------------------
def ingest(srv, key, batch):
    r = requests.post(srv.url + "/api/v1/ingest", headers={"X-API-Key": key}, json=batch,
                      timeout=30)
    assert r.status_code == 202, r.text


def rule(client, device_type, severity="critical", threshold=30.0, metric="temp"):
    r = client.post("/api/v1/rules", {"name": f"{metric} too high", "device_type": device_type,
                                       "metric": metric, "kind": "above",
                                       "threshold": threshold, "for_ms": 0,
                                       "severity": severity})
    assert r.status_code == 201, r.text
    return r.json()


def breach(srv, key, value=35.5, metric="temp", normal=20.0):
    """A normal point then a breaching one: opens a new anomaly episode."""
    now = int(time.time() * 1000)
    ingest(srv, key, [{"ts": now - 2, "metrics": {metric: normal}},
                      {"ts": now - 1, "metrics": {metric: value}}])


def channel(client, **body):
    r = client.post("/api/v1/alert-channels", body)
    assert r.status_code == 201, r.text
    return r.json()


def policy(client, **body):
    r = client.post("/api/v1/alert-policies", body)
    assert r.status_code == 201, r.text
    return r.json()


def alerts(client, **params):
    r = client.get("/api/v1/alerts", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def anomalies(client, **params):
    r = client.get("/api/v1/anomalies", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def verify_signature(req, secret):
    sig = req["headers"]["X-Iotad-Signature"]
    parts = dict(p.split("=", 1) for p in sig.split(","))
    t = parts["t"]
    mac = hmac.new(secret.encode(), t.encode() + b"." + req["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, parts["v1"]) and abs(time.time() - int(t)) < 300


# --- tests ----------------------------------------------------------------------------------
def test_webhook_delivers_signed_json_with_idempotency_key(srv, adm, hook):
    ch = channel(adm, name="ops hook", kind="webhook", url=hook.url, secret="s3cret-key")
    policy(adm, name="critical to ops", channel_id=ch["id"], severities=["critical"],
           group_window_ms=0)
    dev, key = adm.device_with_key("boiler-1", type="boiler")
    rule(adm, "boiler")
    breach(srv, key)
    wait_for(lambda: hook.got(), timeout=10)
    req = hook.got()[0]
    assert req["headers"]["Content-Type"] == "application/json"
    assert verify_signature(req, "s3cret-key")
    assert not verify_signature(dict(req, body=req["body"] + b" "), "s3cret-key")
    body = json.loads(req["body"])
    assert body["severity"] == "critical" and body["kind"] == "anomaly"
    assert body["device"]["name"] == "boiler-1" and body["anomaly"]["metric"] == "temp"
    assert "35.5" in body["anomaly"]["description"]
    assert body["anomaly"]["details"]["value"] == 35.5
    assert body["url"].startswith(f"http://127.0.0.1:{srv.http_port}/anomalies?id=")
    a = wait_for(lambda: [x for x in alerts(adm) if x["status"] == "sent"])[0]
    assert req["headers"]["Idempotency-Key"] == a["id"] == body["id"]
    assert a["method"] == "webhook" and a["attempts"] == 1 and a["device_id"] == dev
    full = adm.get(f"/api/v1/alerts/{a['id']}").json()
    assert [x["ok"] for x in full["attempts_log"]] == [True]
    assert full["attempts_log"][0]["code"] == 200
    assert full["anomaly_ids"] == [body["anomaly"]["id"]]


def test_email_reaches_smtp_server_with_text_and_html(srv, adm, smtp):
    analyst = adm.create_user("ana@example.com", "analyst")
    ch = channel(adm, name="mail", kind="email", url=f"smtp://127.0.0.1:{smtp.port}",
                 config={"from": "iotad@example.com", "starttls": "off"})
    policy(adm, name="analysts by mail", channel_id=ch["id"], severities=["critical"],
           roles=["analyst"], group_window_ms=0)
    dev, key = adm.device_with_key("pump-7", type="pump")
    rule(adm, "pump")
    breach(srv, key, value=41)
    wait_for(lambda: smtp.messages, timeout=10)
    m = smtp.messages[0]
    assert m["to"] == ["ana@example.com"] and m["from"] == "iotad@example.com"
    msg = m["msg"]
    assert "CRITICAL" in msg["Subject"] and "pump-7" in msg["Subject"]
    assert msg["X-Iotad-Severity"] == "critical"
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "41" in text and "Measured value: 41" in text
    assert f"http://127.0.0.1:{srv.http_port}/anomalies?id=" in text
    assert "<a href=" in html and "pump-7" in html
    a = wait_for(lambda: [x for x in alerts(adm) if x["status"] == "sent"])[0]
    assert a["recipient"] == "ana@example.com" and a["user_id"] == analyst["id"]
    assert msg["Message-ID"] == f"<{a['id']}@iotad>"


def test_sms_goes_to_owner_by_preference_as_twilio_form_within_160_chars(srv, adm):
    gw = Receiver().start()
    try:
        owner = adm.create_user("olga@example.com", "device_owner")
        oc = srv.login("olga@example.com", "a-long-test-password")
        r = oc.put("/api/v1/me/contacts", json={"contacts": [
            {"kind": "sms", "address": "+15551234567", "min_severity": "critical"}]}) \
            if hasattr(oc, "put") else oc.s.put(oc.url + "/api/v1/me/contacts", json={
                "contacts": [{"kind": "sms", "address": "+15551234567",
                              "min_severity": "critical"}]}, timeout=10)
        assert r.status_code == 200, r.text
        bad = oc.s.put(oc.url + "/api/v1/me/contacts",
                       json={"contacts": [{"kind": "sms", "address": "5551234"}]}, timeout=10)
        assert bad.status_code == 400
        ch = channel(adm, name="twilio", kind="sms", url=gw.url,
                     config={"from": "+15550000000", "username": "AC123"}, secret="tok")
        policy(adm, name="owners by sms", channel_id=ch["id"], severities=["warning", "critical"],
               device_owner=True, group_window_ms=0)
        dev, key = adm.device_with_key("a-device-with-a-really-quite-long-name-for-sms",
                                       type="meter", owner_id=owner["id"])
        rule(adm, "meter", severity="warning", metric="volts", threshold=250)
        rule(adm, "meter", severity="critical", metric="temp")
        breach(srv, key, value=260, metric="volts")  # warning: below the owner's preference
        wait_for(lambda: anomalies(adm, device_id=dev))
        breach(srv, key, value=99.25)
        wait_for(lambda: gw.got(), timeout=10)
        time.sleep(0.5)
        assert len(gw.got()) == 1
        req = gw.got()[0]
        assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
        assert req["headers"]["Authorization"] == "Basic " + base64.b64encode(b"AC123:tok").decode()
        form = urllib.parse.parse_qs(req["body"].decode())
        assert form["From"] == ["+15550000000"] and form["To"] == ["+15551234567"]
        text = form["Body"][0]
        assert len(text) <= 160 and text.startswith("iotad CRITICAL")
        assert "99.25" in text or "..." in text
        # the owner sees the alert of their device
        mine = alerts(oc)
        assert len(mine) == 1 and mine[0]["recipient"] == "+15551234567"
    finally:
        gw.stop()


def test_sms_gateway_with_custom_json_template(srv, adm):
    gw = Receiver().start()
    try:
        bad = adm.post("/api/v1/alert-channels", {"name": "x", "kind": "sms", "url": gw.url,
                                                   "config": {"body_template": "{nope}"}})
        assert bad.status_code == 400
        ch = channel(adm, name="json gw", kind="sms", url=gw.url,
                     config={"body_template": '{{"to":"{to}","text":"{body}"}}',
                             "content_type": "application/json"})
        policy(adm, name="p", channel_id=ch["id"], severities=["critical"],
               addresses=["+4915112345678"], group_window_ms=0)
        dev, key = adm.device_with_key('quote"dev', type="q")
        rule(adm, "q")
        breach(srv, key)
        wait_for(lambda: gw.got(), timeout=10)
        body = json.loads(gw.got()[0]["body"])
        assert body["to"] == "+4915112345678" and 'quote"dev' in body["text"]
    finally:
        gw.stop()


def test_failing_receiver_is_retried_with_backoff_then_dead_lettered_and_requeued(srv, adm):
    hook = Receiver(status=503).start()
    try:
        ch = channel(adm, name="flaky", kind="webhook", url=hook.url)
        policy(adm, name="p", channel_id=ch["id"], severities=["critical"], group_window_ms=0)
        dev, key = adm.device_with_key("d", type="t")
        rule(adm, "t")
        breach(srv, key)
        dead = wait_for(lambda: alerts(adm, status="dead"), timeout=15)[0]
        got = hook.got()
        assert len(got) == 4  # max_attempts
        assert len({r["headers"]["Idempotency-Key"] for r in got}) == 1
        assert len({r["body"] for r in got}) == 1  # the same payload every time
        gaps = [b["t"] - a["t"] for a, b in zip(got, got[1:])]
        assert all(g >= 0.04 for g in gaps)  # backed off, not hammered
        full = adm.get(f"/api/v1/alerts/{dead['id']}").json()
        assert len(full["attempts_log"]) == 4
        assert all(x["code"] == 503 and not x["ok"] for x in full["attempts_log"])
        assert "503" in full["last_error"]
        # an Analyst may not requeue; an Admin may, and then it is delivered
        adm.create_user("an@example.com", "analyst")
        an = srv.login("an@example.com", "a-long-test-password")
        assert an.post(f"/api/v1/alerts/{dead['id']}/retry").status_code == 403
        hook.status = 200
        r = adm.post(f"/api/v1/alerts/{dead['id']}/retry")
        assert r.status_code == 200, r.text
        wait_for(lambda: alerts(adm, status="sent"), timeout=10)
        assert adm.post(f"/api/v1/alerts/{dead['id']}/retry").status_code == 409
    finally:
        hook.stop()


def test_client_error_is_dead_lettered_at_once(srv, adm):
    hook = Receiver(status=401).start()
    try:
        ch = channel(adm, name="wrong auth", kind="webhook", url=hook.url)
        policy(adm, name="p", channel_id=ch["id"], severities=["critical"], group_window_ms=0)
        dev, key = adm.device_with_key("d", type="t")
        rule(adm, "t")
        breach(srv, key)
        wait_for(lambda: alerts(adm, status="dead"), timeout=10)
        assert len(hook.got()) == 1
    finally:
        hook.stop()


def test_private_destinations_are_refused_unless_allowed(iotad, hook):
    adm = iotad.admin()
    adm.patch("/api/v1/alert-settings", {"retry_base_ms": 100, "max_attempts": 2})
    for url in ["http://127.0.0.1:9/x", "http://169.254.169.254/latest/meta-data",
                "http://10.1.2.3/", "http://[::1]:80/", "http://[::ffff:127.0.0.1]/",
                "ftp://example.com/", "file:///etc/passwd"]:
        r = adm.post("/api/v1/alert-channels", {"name": "x", "kind": "webhook", "url": url})
        assert r.status_code == 400, url
    # a name is resolved and checked at delivery time
    ch = channel(adm, name="by name", kind="webhook",
                 url=f"http://localhost:{hook.port}/hook")
    policy(adm, name="p", channel_id=ch["id"], severities=["critical"], group_window_ms=0)
    dev, key = adm.device_with_key("d", type="t")
    rule(adm, "t")
    breach(iotad, key)
    dead = wait_for(lambda: alerts(adm, status="dead"), timeout=10)[0]
    assert "ssrf" in dead["last_error"] and "loopback" in dead["last_error"]
    assert hook.got() == []
    # allowing the network explicitly lets it through
    r = adm.patch("/api/v1/alert-settings", {"allow_nets": "127.0.0.0/8, ::1"})
    assert r.status_code == 200 and r.json()["allow_nets"] == "127.0.0.0/8, ::1"
    assert adm.post(f"/api/v1/alerts/{dead['id']}/retry").status_code == 200
    wait_for(lambda: hook.got(), timeout=10)
    assert adm.patch("/api/v1/alert-settings", {"allow_nets": "not-a-net"}).status_code == 400


def own_addresses():
    """The host's interface addresses (IPv4 and IPv6), read from the kernel like getifaddrs."""
    out = ["127.0.0.1"]
    try:
        out += subprocess.run(["hostname", "-I"], capture_output=True, text=True,
                              timeout=5).stdout.split()
    except (OSError, subprocess.SubprocessError):
        pass
    with open("/proc/net/if_inet6") as f:  # IPv6: 32 hex digits per line
        for line in f:
            h = line.split()[0]
            out.append(str(ipaddress.IPv6Address(int(h, 16))))
    return sorted(set(out))


def test_special_purpose_and_own_addresses_are_refused(iotad):
    """Issue 14 item 4: documentation, 6to4/NAT64 forms of private addresses, IPv4-translated,
    discard-only, and the host's own interface addresses are refused as channel targets."""
    adm = iotad.admin()
    urls = ["http://192.0.2.10/", "http://198.51.100.1/", "http://203.0.113.5/",
            "http://192.88.99.1/", "http://[100::1]/", "http://[2002:a00:1::1]/",
            "http://[2002:7f00:1::]/", "http://[64:ff9b::a9fe:a9fe]/",
            "http://[::ffff:0:127.0.0.1]/", "http://[::ffff:10.1.2.3]/", "http://[3fff::1]/"]
    hosts = own_addresses()
    assert len(hosts) >= 2  # at least 127.0.0.1 and ::1
    urls += [f"http://[{h}]:8080/" if ":" in h else f"http://{h}:8080/" for h in hosts]
    for url in urls:
        r = adm.post("/api/v1/alert-channels", {"name": "x", "kind": "webhook", "url": url})
        assert r.status_code == 400, (url, r.text)
        assert "address" in r.json()["message"], url


def test_channel_secrets_are_never_returned(srv, adm, hook):
    ch = channel(adm, name="h", kind="webhook", url=hook.url, secret="top-secret")
    assert "secret" not in ch and ch["has_secret"] is True
    listed = adm.get("/api/v1/alert-channels").json()["items"]
    assert "top-secret" not in json.dumps(listed)
    r = adm.patch(f"/api/v1/alert-channels/{ch['id']}", {"name": "renamed"})
    assert r.status_code == 200 and r.json()["has_secret"] is True
    audit = adm.get("/api/v1/audit", params={"limit": 50}).json()
    assert "top-secret" not in json.dumps(audit)
    assert adm.patch(f"/api/v1/alert-channels/{ch['id']}", {"kind": "sms"}).status_code == 400


def test_storm_is_grouped_into_one_message_with_a_count(srv, adm, hook):
    adm.patch("/api/v1/alert-settings", {"flap_threshold": 0})
    ch = channel(adm, name="h", kind="webhook", url=hook.url)
    policy(adm, name="grouped", channel_id=ch["id"], severities=["critical"],
           group_wait_ms=4000, group_window_ms=60000)
    rule(adm, "storm")
    keys = [adm.device_with_key(f"s{i}", type="storm")[1] for i in range(8)]
    # the 8 breaches at once (a storm): sent one after another on a loaded machine they
    # spread over more than the group wait and the first message carried 7
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: breach(srv, k), keys))
    wait_for(lambda: len(anomalies(adm)) == 8, timeout=10)
    wait_for(lambda: hook.got(), timeout=20)
    time.sleep(1.0)
    got = hook.json_bodies()
    assert len(got) == 1, got
    assert got[0]["count"] == 8 and len(got[0]["anomalies"]) == 8
    # the next anomaly inside the window waits for the window's digest
    breach(srv, keys[0], value=50)
    time.sleep(1.0)
    assert len(hook.got()) == 1
    pending = alerts(adm, status="pending")
    assert len(pending) == 1 and pending[0]["due_at"] > time.time() * 1000 + 30000


def test_flapping_series_is_notified_once(srv, adm, hook):
    adm.patch("/api/v1/alert-settings", {"flap_threshold": 3, "flap_window_ms": 600000})
    ch = channel(adm, name="h", kind="webhook", url=hook.url)
    policy(adm, name="p", channel_id=ch["id"], severities=["critical"], group_window_ms=0)
    dev, key = adm.device_with_key("flappy", type="f")
    rule(adm, "f")
    for i in range(6):
        breach(srv, key, value=31 + i)
        wait_for(lambda: len(anomalies(adm, device_id=dev)) == i + 1, timeout=10)
    time.sleep(0.8)
    bodies = sorted(hook.json_bodies(), key=lambda b: b["anomaly"]["detected_at"])
    assert [b["kind"] for b in bodies] == ["anomaly", "anomaly", "flapping"]
    assert [b["anomaly"]["flapping"] for b in bodies] == [False, False, True]
    assert "FLAPPING" in bodies[2]["summary"] or bodies[2]["kind"] == "flapping"


def test_rate_limit_per_channel_delays_without_dropping(srv, adm, hook):
    adm.patch("/api/v1/alert-settings", {"flap_threshold": 0})
    ch = channel(adm, name="h", kind="webhook", url=hook.url, rate_per_min=2)
    policy(adm, name="p", channel_id=ch["id"], severities=["critical"], group_window_ms=0)
    rule(adm, "r")
    for i in range(4):
        _, k = adm.device_with_key(f"r{i}", type="r")
        breach(srv, k)
    wait_for(lambda: len(alerts(adm)) == 4, timeout=10)
    time.sleep(1.0)
    assert len(hook.got()) == 2
    held = alerts(adm, status="pending")
    assert len(held) == 2 and all(a["due_at"] > time.time() * 1000 + 30000 for a in held)


def test_unacknowledged_critical_is_escalated_and_acknowledged_is_not(srv, adm, hook, smtp):
    adm.patch("/api/v1/alert-settings", {"auto_incident": "off"})
    boss = adm.create_user("boss@example.com", "admin")
    mail = channel(adm, name="mail", kind="email", url=f"smtp://127.0.0.1:{smtp.port}",
                   config={"starttls": "off"})
    policy(adm, name="oncall", channel_id=mail["id"], severities=["critical"],
           addresses=["oncall@example.com"], group_window_ms=0, escalate_after_ms=1500,
           escalate_users=[boss["id"]])
    rule(adm, "e")
    _, k1 = adm.device_with_key("e1", type="e")
    _, k2 = adm.device_with_key("e2", type="e")
    breach(srv, k1)
    wait_for(lambda: len(smtp.messages) == 1, timeout=10)
    first = wait_for(lambda: alerts(adm, status="sent"))[0]
    assert adm.post(f"/api/v1/alerts/{first['id']}/ack").json()["acked_at"] is not None
    breach(srv, k2)
    wait_for(lambda: len(smtp.messages) == 2, timeout=10)
    wait_for(lambda: len(smtp.messages) == 3, timeout=10)
    time.sleep(2.0)
    assert len(smtp.messages) == 3  # only the unacknowledged one escalated
    esc = smtp.messages[2]
    assert esc["to"] == ["boss@example.com"] and "ESCALATED" in esc["msg"]["Subject"]
    assert "e2" in esc["msg"]["Subject"]
    assert [a["kind"] for a in alerts(adm, kind="escalation")] == ["escalation"]


def test_device_owner_sees_only_alerts_of_own_devices(srv, adm, hook):
    ch = channel(adm, name="h", kind="webhook", url=hook.url)
    policy(adm, name="p", channel_id=ch["id"], severities=["critical"], group_window_ms=0)
    o1 = adm.create_user("o1@example.com", "device_owner")
    adm.create_user("o2@example.com", "device_owner")
    rule(adm, "x")
    dev, key = adm.device_with_key("mine", type="x", owner_id=o1["id"])
    breach(srv, key)
    a = wait_for(lambda: alerts(adm))[0]
    c1 = srv.login("o1@example.com", "a-long-test-password")
    c2 = srv.login("o2@example.com", "a-long-test-password")
    assert [x["id"] for x in alerts(c1)] == [a["id"]]
    assert alerts(c2) == []
    assert c2.get(f"/api/v1/alerts/{a['id']}").status_code == 404
    assert c1.get(f"/api/v1/alerts/{a['id']}").status_code == 200
    assert c1.get("/api/v1/alert-channels").status_code == 403
    assert c1.post(f"/api/v1/alerts/{a['id']}/ack").status_code == 403


def test_alerts_are_pushed_on_the_live_stream(srv, adm, hook):
    ch = channel(adm, name="h", kind="webhook", url=hook.url)
    policy(adm, name="p", channel_id=ch["id"], severities=["critical"], group_window_ms=0)
    rule(adm, "w")
    _, key = adm.device_with_key("w", type="w")
    ws = websocket.create_connection(f"ws://127.0.0.1:{srv.http_port}/api/v1/stream",
                                     header=[f"Authorization: Bearer {adm.token}"], timeout=10)
    ws.recv()
    breach(srv, key)
    statuses = []
    deadline = time.time() + 10
    while time.time() < deadline and "sent" not in statuses:
        msg = json.loads(ws.recv())
        if msg["type"] == "alert":
            statuses.append(msg["alert"]["status"])
    ws.close()
    assert statuses[0] == "pending" and "sent" in statuses


def test_channel_test_message_is_delivered(srv, adm, smtp):
    ch = channel(adm, name="mail", kind="email", url=f"smtp://127.0.0.1:{smtp.port}",
                 config={"starttls": "off"})
    r = adm.post(f"/api/v1/alert-channels/{ch['id']}/test", {"to": "me@example.com"})
    assert r.status_code == 202, r.text
    wait_for(lambda: smtp.messages, timeout=10)
    assert smtp.messages[0]["to"] == ["me@example.com"]
    assert "TEST" in smtp.messages[0]["msg"]["Subject"]


def test_alerts_due_at_a_crash_are_all_delivered_after_restart(adm, srv):
    """kill -9 with alerts due and both receivers down; restart; bring receivers up."""
    adm.patch("/api/v1/alert-settings", {"flap_threshold": 0, "max_attempts": 100,
                                         "retry_base_ms": 200, "retry_max_ms": 500})
    hook = Receiver()  # port reserved, not listening yet
    smtp = SmtpSink()
    wh = channel(adm, name="h", kind="webhook", url=hook.url, secret="k")
    mail = channel(adm, name="m", kind="email", url=f"smtp://127.0.0.1:{smtp.port}",
                   config={"starttls": "off"})
    policy(adm, name="hooks", channel_id=wh["id"], severities=["critical"], group_window_ms=0)
    policy(adm, name="mails", channel_id=mail["id"], severities=["critical"],
           addresses=["ops@example.com"], group_window_ms=0)
    rule(adm, "k")
    for i in range(5):
        _, k = adm.device_with_key(f"k{i}", type="k")
        breach(srv, k)
    wait_for(lambda: len(alerts(adm)) == 10 and
             all(a["attempts"] >= 1 for a in alerts(adm)), timeout=15)
    ids = {a["id"] for a in alerts(adm)}
    srv.stop(sig=signal.SIGKILL)
    srv.start()
    hook.start()
    smtp.start()
    try:
        c = srv.admin()
        wait_for(lambda: len(alerts(c, status="sent")) == 10, timeout=30)
        keys = [r["headers"]["Idempotency-Key"] for r in hook.got()]
        mids = [m["msg"]["Message-ID"].strip("<>").split("@")[0] for m in smtp.messages]
        assert set(keys) | set(mids) == ids  # none lost
        assert len(set(keys)) == 5 and len(set(mids)) == 5
        for r in hook.got():
            assert verify_signature(r, "k")
    finally:
        hook.stop()
        smtp.stop()


# --- secrets at rest (issue 14, item 6) -----------------------------------------------------
def db_bytes(data_dir):
    """Every byte iotad keeps in its database files (main file, WAL, shared memory)."""
    out = b""
    for suffix in ("", "-wal", "-shm"):
        p = os.path.join(data_dir, "iotad.db" + suffix)
        if os.path.exists(p):
            with open(p, "rb") as f:
                out += f.read()
    return out


def stored_secret(data_dir, channel_id):
    db = sqlite3.connect(os.path.join(data_dir, "iotad.db"))
    v = db.execute("SELECT secret FROM alert_channels WHERE id = ?", (channel_id,)).fetchone()[0]
    db.close()
    return v


def deliver_and_check_signature(srv, adm, hook, ch_id, secret, name):
    policy(adm, name=f"p-{name}", channel_id=ch_id, severities=["critical"], group_window_ms=0)
    _, key = adm.device_with_key(name, type=name)
    rule(adm, name)
    before = len(hook.got())
    breach(srv, key)
    wait_for(lambda: len(hook.got()) > before, timeout=10)
    assert verify_signature(hook.got()[-1], secret)


def test_channel_secrets_are_encrypted_at_rest_and_rotated(tmp_path, hook):
    data_dir = str(tmp_path)
    srv = Iotad(data_dir=data_dir, env={"IOTAD_ALERT_ALLOW_PRIVATE": "1"})
    try:
        adm = srv.admin()
        ch = channel(adm, name="h", kind="webhook", url=hook.url,
                     secret="webhook-hmac-secret-4711")
        sealed = stored_secret(data_dir, ch["id"])
        assert sealed.startswith("enc:v1:1:")
        deliver_and_check_signature(srv, adm, hook, ch["id"], "webhook-hmac-secret-4711", "a")
        # rotation refuses to run under a live server (the key file is locked)
        r = subprocess.run([BIN, "secrets", "rotate", "--data-dir", data_dir],
                           capture_output=True, text=True)
        assert r.returncode == 2 and "stop iotad first" in r.stderr
        assert srv.stop() == 0
        # nowhere in the database files, and the files are private
        assert b"webhook-hmac-secret-4711" not in db_bytes(data_dir)
        assert os.stat(os.path.join(data_dir, "iotad.db")).st_mode & 0o777 == 0o600
        assert os.stat(data_dir).st_mode & 0o077 == 0
        r = subprocess.run([BIN, "secrets", "rotate", "--data-dir", data_dir],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "1 re-encrypted with key 2" in r.stdout
        assert stored_secret(data_dir, ch["id"]).startswith("enc:v1:2:")
        with open(os.path.join(data_dir, "iotad.keys")) as f:
            keys = f.read()
        assert "secret.2 " in keys and "secret.1 " not in keys  # the old key is gone
        srv.start()
        adm = srv.admin()
        deliver_and_check_signature(srv, adm, hook, ch["id"], "webhook-hmac-secret-4711", "b")
        audit = adm.get("/api/v1/audit", params={"action": "secrets."}).json()["items"]
        assert audit and audit[0]["action"] == "secrets.rotate"
    finally:
        srv.close()


def test_plaintext_secrets_from_before_are_sealed_at_start(tmp_path, hook):
    data_dir = str(tmp_path)
    srv = Iotad(data_dir=data_dir, env={"IOTAD_ALERT_ALLOW_PRIVATE": "1"})
    try:
        adm = srv.admin()
        ch = channel(adm, name="h", kind="webhook", url=hook.url, secret="x")
        assert srv.stop() == 0
        db = sqlite3.connect(os.path.join(data_dir, "iotad.db"))  # as an older iotad stored it
        db.execute("UPDATE alert_channels SET secret = 'legacy-plain-secret' WHERE id = ?",
                   (ch["id"],))
        db.commit()
        db.close()
        srv.start()
        adm = srv.admin()
        assert stored_secret(data_dir, ch["id"]).startswith("enc:v1:")
        assert "channel_secrets_sealed count=1" in srv.read_log()
        deliver_and_check_signature(srv, adm, hook, ch["id"], "legacy-plain-secret", "c")
    finally:
        srv.close()


def test_breaches_acknowledged_before_kill_9_give_exactly_one_anomaly_and_alert_each(hook):
    """Detection runs after the ack: points acknowledged right before a crash must still be
    detected (replayed from the store at the next start), once: no anomaly lost, none doubled,
    and one alert each. One detector shard busy with a 100k-point batch when 100 devices'
    breaches are acknowledged at once, then kill -9: without the replay most are lost."""
    srv = Iotad(env={"IOTAD_ALERT_ALLOW_PRIVATE": "1"}, args=["--shards", "1"])
    try:
        adm = srv.admin()
        adm.patch("/api/v1/alert-settings", {"flap_threshold": 0})
        ch = channel(adm, name="h", kind="webhook", url=hook.url, rate_per_min=0)
        policy(adm, name="p", channel_id=ch["id"], severities=["critical"], group_window_ms=0,
               device_type="crash")
        rule(adm, "crash")
        devices = [adm.device_with_key(f"c{i}", type="crash") for i in range(100)]
        crash = {d for d, _ in devices}
        _, bulk = adm.device_with_key("bulk", type="bulk")
        url = f"ws://127.0.0.1:{srv.http_port}/api/v1/stream"
        socks = [websocket.create_connection(url, header=[f"X-API-Key: {k}"], timeout=30)
                 for _, k in devices]
        for ws in socks:
            assert json.loads(ws.recv())["mode"] == "device"
        now = int(time.time() * 1000)
        ingest(srv, bulk, [{"ts": now - 200_000 + i, "metrics": {"v": i % 7}}
                           for i in range(100_000)])
        frame = json.dumps([{"ts": now - 2, "metrics": {"temp": 20.0}},
                            {"ts": now - 1, "metrics": {"temp": 35.5}}])
        for ws in socks:
            ws.send(frame)
        for ws in socks:
            assert json.loads(ws.recv())["type"] == "ack"
        srv.stop(sig=signal.SIGKILL)  # right after the last ack
        for ws in socks:
            ws.close()
        srv.start()
        c = srv.admin()

        def breaches():  # the bulk device's series may have anomalies of their own
            return [a for a in anomalies(c, limit=1000) if a["device_id"] in crash]

        wait_for(lambda: len(breaches()) >= 100, timeout=60)
        wait_for(lambda: len({r["headers"]["Idempotency-Key"] for r in hook.got()}) >= 100,
                 timeout=30)
        time.sleep(2)  # anything doubled would have arrived by now
        got = breaches()
        assert len(got) == 100, f"{len(got)} anomalies for 100 breaches"
        assert {a["device_id"] for a in got} == crash
        assert len(alerts(c, limit=1000)) == 100
        # deliveries at the crash may be repeated (at least once), always with the alert's key
        assert len({r["headers"]["Idempotency-Key"] for r in hook.got()}) == 100
    finally:
        srv.close()
