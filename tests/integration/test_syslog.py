"""The syslog/CEF alert channel against real receivers started here: a UDP and a TCP syslog
server (socketserver) and a TLS one (ssl, a CA made with openssl). Parses what arrives as
RFC 5424 + CEF the way a SIEM does and checks severity, device, metric, value, anomaly id and
link; escaping of hostile names; TLS verification; retries and dead letters; SSRF refusal;
validation of the channel."""
import re
import socket
import socketserver
import ssl
import threading
from datetime import datetime

import pytest

from conftest import Iotad, free_port, wait_for
from test_alerts import alerts, anomalies, breach, channel, policy, rule
from test_tls import openssl


# --- a real syslog receiver -----------------------------------------------------------------
class SyslogSink:
    """Records every message received over udp, tcp or tls (octet counting or LF framing)."""

    def __init__(self, proto, port=None, tls_dir=None):
        self.proto, self.port, self.tls_dir = proto, port or free_port(), tls_dir
        self.messages, self.lock, self.srv = [], threading.Lock(), None

    def add(self, raw):
        with self.lock:
            self.messages.append(raw.decode("utf-8"))

    def start(self):
        sink = self
        if self.proto == "udp":
            class H(socketserver.BaseRequestHandler):
                def handle(self):
                    sink.add(self.request[0])

            self.srv = socketserver.ThreadingUDPServer(("127.0.0.1", self.port), H)
        else:
            ctx = None
            if self.proto == "tls":
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(f"{self.tls_dir}/server.pem", f"{self.tls_dir}/server.key")

            class H(socketserver.StreamRequestHandler):
                def handle(self):
                    if ctx:
                        self.request = ctx.wrap_socket(self.request, server_side=True)
                        self.rfile = self.request.makefile("rb")
                    while True:
                        first = self.rfile.read(1)
                        if not first:
                            return
                        if first.isdigit():  # octet counting: "LEN SP MSG"
                            n = first
                            while (c := self.rfile.read(1)) != b" ":
                                assert c.isdigit()
                                n += c
                            sink.add(self.rfile.read(int(n)))
                        else:  # non-transparent framing: up to LF
                            sink.add((first + self.rfile.readline()).rstrip(b"\n"))

            self.srv = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), H)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()

    def got(self):
        with self.lock:
            return list(self.messages)


# --- parsing as a SIEM does -----------------------------------------------------------------
RFC5424 = re.compile(r"^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) (.*)$", re.S)


def parse_cef(text):
    """CEF header (7 fields, \\| and \\\\ escaped) and extension (\\= \\\\ \\n \\r escaped)."""
    assert text.startswith("CEF:"), text
    fields, cur, i = [], "", 4
    while len(fields) < 7:
        c = text[i]
        if c == "\\":
            assert text[i + 1] in "\\|", text
            cur += text[i + 1]
            i += 2
            continue
        if c == "|":
            fields.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    ext, tokens = text[i:], []  # (char, escaped)
    j = 0
    while j < len(ext):
        if ext[j] == "\\":
            tokens.append(({"n": "\n", "r": "\r"}.get(ext[j + 1], ext[j + 1]), True))
            assert ext[j + 1] in "\\=nr", ext
            j += 2
        else:
            tokens.append((ext[j], False))
            j += 1
    eqs = [k for k, (c, esc) in enumerate(tokens) if c == "=" and not esc]
    out, starts = {}, []
    for k in eqs:  # the key is the word before an unescaped '='
        s = k
        while s > 0 and tokens[s - 1][0] != " ":
            s -= 1
        key = "".join(c for c, _ in tokens[s:k])
        assert re.fullmatch(r"[A-Za-z0-9]+", key), key
        starts.append((s, k, key))
    for n, (s, k, key) in enumerate(starts):
        end = starts[n + 1][0] - 1 if n + 1 < len(starts) else len(tokens)
        out[key] = "".join(c for c, _ in tokens[k + 1:end])
    names = dict(zip(["version", "vendor", "product", "dversion", "signature", "name",
                      "severity"], [fields[0]] + fields[1:]))
    for key in list(out):
        if key.endswith("Label"):
            out[out.pop(key)] = out.pop(key[:-5], None)
    return names, out


def parse(msg):
    m = RFC5424.match(msg)
    assert m, msg
    pri, ts, host, app, procid, msgid, sd, body = m.groups()
    head, ext = parse_cef(body)
    return {"pri": int(pri), "ts": ts, "host": host, "app": app, "msgid": msgid}, head, ext


# --- fixtures -------------------------------------------------------------------------------
@pytest.fixture
def srv():
    s = Iotad(env={"IOTAD_ALERT_ALLOW_PRIVATE": "1"})
    yield s
    s.close()


@pytest.fixture
def adm(srv):
    c = srv.admin()
    r = c.patch("/api/v1/alert-settings", {"retry_base_ms": 100, "retry_max_ms": 400,
                                            "max_attempts": 3, "timeout_ms": 3000})
    assert r.status_code == 200, r.text
    return c


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA and a server certificate for 127.0.0.1 signed by it, and an unrelated CA."""
    d = tmp_path_factory.mktemp("syslog-pki")
    for ca in ("ca", "other"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-subj", f"/CN=syslog test {ca}",
                "-days", "2", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            "server.key", "-out", "server.csr", "-subj", "/CN=siem", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return d


def syslog_policy(adm, url, config=None, device="pump|7=a\\b", value=35.5):
    ch = channel(adm, name="siem", kind="syslog", url=url, config=config or {})
    policy(adm, name="all to siem", channel_id=ch["id"], severities=["critical", "warning"],
           group_window_ms=0)
    dev, key = adm.device_with_key(device, type="pump", location="Hall = 2 | east")
    rule(adm, "pump")
    return ch, dev, key


# --- tests ----------------------------------------------------------------------------------
@pytest.mark.parametrize("proto,framing", [("udp", None), ("tcp", None), ("tcp", "newline")])
def test_syslog_delivers_cef_a_siem_parses(srv, adm, proto, framing):
    sink = SyslogSink(proto).start()
    try:
        config = {"facility": "local3", "hostname": "iotad-test"}
        if framing:
            config["framing"] = framing
        ch, dev, key = syslog_policy(adm, f"{proto}://127.0.0.1:{sink.port}", config)
        breach(srv, key, value=35.5)
        wait_for(lambda: sink.got(), timeout=10)
        hdr, head, ext = parse(sink.got()[0])
        assert hdr["pri"] == 19 * 8 + 2  # local3, crit
        assert hdr["host"] == "iotad-test" and hdr["app"] == "iotad" and hdr["msgid"] == "anomaly"
        assert head["version"] == "0" and head["vendor"] == "iotad" and head["product"] == "iotad"
        assert head["signature"] == "anomaly" and head["severity"] == "10"
        assert "pump|7=a\\b" in head["name"]
        an = wait_for(lambda: anomalies(adm, device_id=dev))[0]
        a = wait_for(lambda: [x for x in alerts(adm) if x["status"] == "sent"])[0]
        assert ext["externalId"] == a["id"] and a["method"] == "syslog"
        assert ext["anomalyId"] == an["id"]
        assert ext["deviceName"] == "pump|7=a\\b" and ext["deviceId"] == dev
        assert ext["location"] == "Hall = 2 | east" and ext["deviceType"] == "pump"
        assert ext["metric"] == "temp" and float(ext["value"]) == 35.5
        assert ext["request"] == f"http://127.0.0.1:{srv.http_port}/anomalies?id={an['id']}"
        assert ext["cat"] == "anomaly" and ext["cnt"] == "1" and "35.5" in ext["msg"]
        det = an["detected_at"]
        if isinstance(det, str):
            det = round(datetime.fromisoformat(det.replace("Z", "+00:00")).timestamp() * 1000)
        assert int(ext["start"]) == det
        assert a["recipient"] == f"{proto}://127.0.0.1:{sink.port}"
        # the channel test message goes to the endpoint too, at Info
        r = adm.post(f"/api/v1/alert-channels/{ch['id']}/test", {})
        assert r.status_code == 202, r.text
        wait_for(lambda: len(sink.got()) == 2, timeout=10)
        hdr, head, ext = parse(sink.got()[1])
        assert head["severity"] == "3" and head["signature"] == "test" and hdr["pri"] == 19 * 8 + 6
    finally:
        sink.stop()


def test_warning_maps_to_cef_6_and_long_text_stays_within_max_bytes(srv, adm):
    sink = SyslogSink("udp").start()
    try:
        ch, dev, key = syslog_policy(adm, f"udp://127.0.0.1:{sink.port}",
                                     {"max_bytes": 600}, device="d" * 60)
        rule(adm, "pump", severity="warning", metric="volts", threshold=250)
        breach(srv, key, value=260, metric="volts")
        wait_for(lambda: sink.got(), timeout=10)
        raw = sink.got()[0]
        assert len(raw.encode()) <= 600
        hdr, head, ext = parse(raw)
        assert head["severity"] == "6" and hdr["pri"] == 16 * 8 + 4  # default local0, warning
        assert ext["deviceName"] == "d" * 60 and ext["metric"] == "volts"
        assert ext["externalId"] and ext["anomalyId"] and float(ext["value"]) == 260
    finally:
        sink.stop()


def test_tls_verifies_the_receiver_and_retries_until_dead(srv, adm, pki):
    sink = SyslogSink("tls", tls_dir=pki).start()
    try:
        ca = (pki / "ca.pem").read_text()
        ch, dev, key = syslog_policy(adm, f"tls://127.0.0.1:{sink.port}", {"ca_pem": ca})
        breach(srv, key)
        wait_for(lambda: sink.got(), timeout=10)
        hdr, head, ext = parse(sink.got()[0])
        assert head["severity"] == "10" and ext["metric"] == "temp"
        wait_for(lambda: [x for x in alerts(adm) if x["status"] == "sent"])
        # a receiver whose certificate the channel does not trust gets nothing, and the alert
        # is retried (max_attempts 3), then dead-lettered with the reason
        other = (pki / "other.pem").read_text()
        r = adm.patch(f"/api/v1/alert-channels/{ch['id']}", {"config": {"ca_pem": other}})
        assert r.status_code == 200, r.text
        adm.post(f"/api/v1/alert-channels/{ch['id']}/test", {})
        dead = wait_for(lambda: alerts(adm, status="dead"), timeout=15)[0]
        assert dead["attempts"] == 3 and "certificate verify failed" in dead["last_error"]
        assert len(sink.got()) == 1
    finally:
        sink.stop()


def test_unreachable_receiver_is_retried_then_delivered(srv, adm):
    port = free_port()
    ch, dev, key = syslog_policy(adm, f"tcp://127.0.0.1:{port}")
    r = adm.patch("/api/v1/alert-settings", {"retry_base_ms": 300, "retry_max_ms": 600,
                                              "max_attempts": 30})
    assert r.status_code == 200
    breach(srv, key)
    a = wait_for(lambda: [x for x in alerts(adm) if x["attempts"] >= 2], timeout=15)[0]
    assert a["status"] == "pending" and "connect" in a["last_error"]
    sink = SyslogSink("tcp", port=port).start()
    try:
        wait_for(lambda: sink.got(), timeout=15)
        done = wait_for(lambda: [x for x in alerts(adm) if x["status"] == "sent"], timeout=10)[0]
        assert done["id"] == a["id"] and parse(sink.got()[0])[2]["externalId"] == a["id"]
    finally:
        sink.stop()


def test_channel_validation_and_ssrf(iotad):
    adm = iotad.admin()
    adm.patch("/api/v1/alert-settings", {"retry_base_ms": 100, "max_attempts": 2})
    bad = [
        {"url": "http://siem.example.com:514"},
        {"url": "syslog://siem.example.com"},
        {"url": "udp://127.0.0.1:514"},  # loopback literal: refused when saved
        {"url": "tcp://10.0.0.5:601"},
        {"url": "udp://siem.example.com", "config": {"facility": "local9"}},
        {"url": "udp://siem.example.com", "config": {"facility": 24}},
        {"url": "udp://siem.example.com", "config": {"framing": "crlf"}},
        {"url": "udp://siem.example.com", "config": {"max_bytes": 100}},
        {"url": "udp://siem.example.com", "config": {"hostname": "a b"}},
        {"url": "tls://siem.example.com", "config": {"ca_pem": "not a certificate"}},
        {"url": "udp://siem.example.com", "config": {"body_template": "{body}"}},
    ]
    for b in bad:
        r = adm.post("/api/v1/alert-channels", {"name": "s", "kind": "syslog", **b})
        assert r.status_code == 400, (b, r.text)
    ok = adm.post("/api/v1/alert-channels", {"name": "s", "kind": "syslog",
                                             "url": "udp://siem.example.com",
                                             "config": {"facility": 4}})
    assert ok.status_code == 201, ok.text
    # an analyst may not create channels
    adm.create_user("an@example.com", "analyst")
    an = iotad.login("an@example.com", "a-long-test-password")
    r = an.post("/api/v1/alert-channels", {"name": "s", "kind": "syslog",
                                           "url": "udp://siem.example.com"})
    assert r.status_code == 403
    # a name resolving to loopback is refused at delivery, nothing is sent
    sink = SyslogSink("udp").start()
    try:
        ch = channel(adm, name="by name", kind="syslog", url=f"udp://localhost:{sink.port}")
        policy(adm, name="p", channel_id=ch["id"], severities=["critical"], group_window_ms=0)
        dev, key = adm.device_with_key("d", type="t")
        rule(adm, "t")
        breach(iotad, key)
        dead = wait_for(lambda: alerts(adm, status="dead"), timeout=10)[0]
        assert "ssrf" in dead["last_error"] and "loopback" in dead["last_error"]
        assert dead["attempts"] == 1 and sink.got() == []
    finally:
        sink.stop()
