"""TLS on both listeners (issue 14, item 6) with real clients: curl and requests over HTTPS,
a WebSocket over TLS, mosquitto_pub --cafile and paho with TLS over MQTT, device client
certificates (CN = device id), certificate reload on SIGHUP, refusals of plain or untrusting
clients. Certificates: the self-signed one iotad makes, and a CA made here with openssl."""
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import paho.mqtt.client as mqtt
import pytest
import requests
import websocket

from conftest import Iotad, paho_connect, wait_for


class TlsIotad(Iotad):
    """iotad with an HTTPS and an MQTT-over-TLS listener next to the plain ones."""

    def __init__(self, data_dir, args=()):
        super().__init__(data_dir=data_dir, args=["--https-listen", "127.0.0.1:0",
                                                  "--mqtts-listen", "127.0.0.1:0", *args])
        m = re.findall(r"msg=listening .* https_port=(\d+) mqtts_port=(\d+)", self.read_log())
        self.https_port, self.mqtts_port = int(m[-1][0]), int(m[-1][1])
        self.https = f"https://127.0.0.1:{self.https_port}"
        self.ca = os.path.join(data_dir, "tls-cert.pem")


@pytest.fixture
def tsrv(tmp_path):
    srv = TlsIotad(str(tmp_path))
    yield srv
    srv.close()


def curl(*args):
    return subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, timeout=30)


def login(srv, base=None):
    r = requests.post((base or srv.https) + "/api/v1/auth/login", verify=srv.ca, timeout=10,
                      json={"email": "admin@localhost", "password": "admin-password-for-tests"})
    assert r.status_code == 200, r.text
    return r


def device_with_key(srv):
    token = login(srv).json()["token"]
    h = {"Authorization": "Bearer " + token}
    dev = requests.post(srv.https + "/api/v1/devices", json={"name": "tls-dev"}, headers=h,
                        verify=srv.ca, timeout=10).json()["id"]
    key = requests.post(f"{srv.https}/api/v1/devices/{dev}/keys", headers=h, verify=srv.ca,
                        timeout=10).json()["key"]
    return dev, key, h


def points(srv, dev, h, metric):
    r = requests.get(f"{srv.https}/api/v1/devices/{dev}/data", headers=h, verify=srv.ca,
                     params={"metric": metric, "from": "0"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["points"]


def test_https_with_curl_and_requests(tsrv):
    r = curl("--cacert", tsrv.ca, "-D", "-", f"https://localhost:{tsrv.https_port}/healthz")
    assert r.returncode == 0, r.stderr
    assert "HTTP/1.1 200" in r.stdout and '{"status":"ok"}' in r.stdout
    assert "Strict-Transport-Security: max-age=31536000" in r.stdout
    # the session cookie set over HTTPS is Secure; the plain listener sets none
    assert "; Secure" in login(tsrv).headers["Set-Cookie"]
    assert "Secure" not in login(tsrv, tsrv.url).headers["Set-Cookie"]
    # a device ingests over HTTPS; a large body crosses many TLS records
    dev, key, h = device_with_key(tsrv)
    now = int(time.time() * 1000)
    batch = [{"ts": now - 8000 + i, "metrics": {"t": float(i)}} for i in range(8000)]
    r = requests.post(tsrv.https + "/api/v1/ingest", headers={"X-API-Key": key},
                      data=json.dumps(batch), verify=tsrv.ca, timeout=30)
    assert r.status_code == 202, r.text
    wait_for(lambda: len(points(tsrv, dev, h, "t")) == 8000)
    # nothing is answered to a client that does not trust the certificate, or speaks plain HTTP
    r = curl(f"https://localhost:{tsrv.https_port}/healthz")
    assert r.returncode == 60  # peer certificate cannot be authenticated
    r = curl(f"http://127.0.0.1:{tsrv.https_port}/healthz")
    assert r.returncode != 0 and "200" not in r.stdout
    assert "http_tls_failed" in tsrv.read_log()


def test_websocket_stream_over_tls(tsrv):
    dev, key, h = device_with_key(tsrv)
    token = h["Authorization"].split()[1]
    ws = websocket.create_connection(f"wss://localhost:{tsrv.https_port}/api/v1/stream",
                                     header=[f"Authorization: Bearer {token}"],
                                     sslopt={"ca_certs": tsrv.ca}, timeout=10)
    try:
        ws.send(json.dumps({"type": "subscribe", "devices": [dev]}))
        time.sleep(0.3)
        r = requests.post(tsrv.https + "/api/v1/ingest", headers={"X-API-Key": key},
                          json=[{"ts": int(time.time() * 1000), "metrics": {"w": 1.5}}],
                          verify=tsrv.ca, timeout=10)
        assert r.status_code == 202

        def got_point():
            m = json.loads(ws.recv())
            return m if m.get("type") == "points" else None
        m = wait_for(got_point, timeout=10)
        assert m["device_id"] == dev
    finally:
        ws.close()


def test_mosquitto_pub_with_cafile(tsrv):
    dev, key, h = device_with_key(tsrv)
    for version in ("mqttv311", "mqttv5"):
        r = subprocess.run(["mosquitto_pub", "--cafile", tsrv.ca, "-h", "localhost", "-p",
                            str(tsrv.mqtts_port), "-V", version, "-q", "1", "-u", dev, "-P", key,
                            "-t", f"devices/{dev}/telemetry", "-m",
                            json.dumps({"metrics": {version: 1}})],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
    wait_for(lambda: points(tsrv, dev, h, "mqttv311") and points(tsrv, dev, h, "mqttv5"))
    # the device key never crossed the wire in clear: a plain client gets no CONNACK
    r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(tsrv.mqtts_port), "-q",
                        "1", "-u", dev, "-P", key, "-t", f"devices/{dev}/telemetry", "-m", "{}"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5])
def test_paho_qos1_over_tls(tsrv, protocol):
    dev, key, h = device_with_key(tsrv)
    c, rc = paho_connect("localhost", tsrv.mqtts_port, dev, key, protocol, tls_ca=tsrv.ca)
    try:
        assert rc == 0
        now = int(time.time() * 1000)
        infos = [c.publish(f"devices/{dev}/telemetry",
                           json.dumps({"ts": now + i, "metrics": {"temp": 20 + i}}), qos=1)
                 for i in range(200)]
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
        wait_for(lambda: len(points(tsrv, dev, h, "temp")) == 200)
    finally:
        c.disconnect()
        c.loop_stop()


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca_and_client(d, cn):
    """A CA and a client certificate with the given CN, signed by it (openssl CLI)."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=iotad test device CA",
            "-days", "2", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            f"{cn}.key", "-out", f"{cn}.csr", "-subj", f"/CN={cn}", cwd=d)
    openssl("x509", "-req", "-in", f"{cn}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{cn}.pem", "-days", "2", cwd=d)


def test_device_client_certificate_authenticates_without_a_key(tmp_path):
    (tmp_path / "data").mkdir()
    first = TlsIotad(str(tmp_path / "data"))
    dev, key, h = device_with_key(first)
    first.close()
    certs = tmp_path / "certs"
    certs.mkdir()
    make_ca_and_client(str(certs), dev)
    make_ca_and_client_other = certs / "other"
    make_ca_and_client_other.mkdir()
    make_ca_and_client(str(make_ca_and_client_other), dev)  # same CN, another (untrusted) CA
    srv = TlsIotad(str(tmp_path / "data"),
                   args=["--tls-client-ca-file", str(certs / "ca.pem")])
    try:
        def pub(cert_dir, user, password=None, metric="c"):
            args = ["mosquitto_pub", "--cafile", srv.ca, "-h", "localhost", "-p",
                    str(srv.mqtts_port), "-q", "1", "--cert", f"{cert_dir}/{dev}.pem", "--key",
                    f"{cert_dir}/{dev}.key", "-t", f"devices/{dev}/telemetry", "-m",
                    json.dumps({"metrics": {metric: 1}})]
            if user:
                args += ["-u", user]
            if password:
                args += ["-P", password]
            return subprocess.run(args, capture_output=True, text=True, timeout=30)
        r = pub(str(certs), dev)
        assert r.returncode == 0, r.stderr
        assert points(srv, dev, h, "c")
        r = pub(str(certs), None, metric="no_user")  # the certificate alone names the device
        assert r.returncode == 0, r.stderr
        # a certificate from another CA fails the handshake; one for another device is refused
        r = pub(str(make_ca_and_client_other), dev)
        assert r.returncode != 0
        r = pub(str(certs), "01234567-89ab-7def-8123-456789abcdef")
        assert r.returncode != 0
        # devices without a certificate still use their key
        r = subprocess.run(["mosquitto_pub", "--cafile", srv.ca, "-h", "localhost", "-p",
                            str(srv.mqtts_port), "-q", "1", "-u", dev, "-P", key, "-t",
                            f"devices/{dev}/telemetry", "-m", '{"metrics":{"k":1}}'],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
    finally:
        srv.close()


def server_cert_cn(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            der = s.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem,
                         capture_output=True, text=True, check=True).stdout
    return out.strip()


def test_certificate_reload_on_sighup(tmp_path):
    d = tmp_path / "certs"
    d.mkdir()
    for name in ("one", "two"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj",
                f"/CN={name}.iotad.test", "-addext", "subjectAltName=DNS:localhost",
                "-days", "2", cwd=str(d))
    os.replace(d / "one.pem", d / "cert.pem")
    os.replace(d / "one.key", d / "key.pem")
    (tmp_path / "data").mkdir()
    srv = TlsIotad(str(tmp_path / "data"), args=["--tls-cert-file", str(d / "cert.pem"),
                                                 "--tls-key-file", str(d / "key.pem")])
    try:
        assert "one.iotad.test" in server_cert_cn(srv.https_port)
        # an established connection survives the reload
        ctx = ssl.create_default_context(cafile=str(d / "cert.pem"))
        raw = socket.create_connection(("127.0.0.1", srv.https_port), timeout=10)
        old = ctx.wrap_socket(raw, server_hostname="localhost")
        os.replace(d / "two.pem", d / "cert.pem")
        os.replace(d / "two.key", d / "key.pem")
        srv.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "msg=tls_reloaded" in srv.read_log(), timeout=10)
        assert "two.iotad.test" in server_cert_cn(srv.https_port)
        assert "two.iotad.test" in server_cert_cn(srv.mqtts_port)
        old.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert b'{"status":"ok"}' in old.recv(4096)
        old.close()
        # a broken file is refused and the running certificate stays
        (d / "cert.pem").write_text("garbage\n")
        srv.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "msg=tls_reload_failed" in srv.read_log(), timeout=10)
        assert "two.iotad.test" in server_cert_cn(srv.https_port)
    finally:
        srv.close()


def test_tls_config_errors_stop_the_start(tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(RuntimeError) as e:
        TlsIotad(str(tmp_path / "data"), args=["--tls-cert-file", str(tmp_path / "nope.pem"),
                                               "--tls-key-file", str(tmp_path / "nope.key")])
    assert "nope.pem" in str(e.value)
