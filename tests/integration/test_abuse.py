"""Hostile and overloading clients (issue 11): request targets that are not origin-form,
deeply nested JSON, HTTP ingest overload, slow headers and connection floods. Each test checks
that the server refuses clearly and keeps serving everyone else."""
import json
import socket

import requests


def raw_http(port, data, timeout=5.0):
    """Sends raw bytes, returns everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def test_asterisk_request_target_is_refused_and_the_server_stays_up(iotad):
    # "GET *" and "HEAD *" used to crash the server (NULL from strrchr in the static handler)
    for method in (b"GET", b"HEAD"):
        out = raw_http(iotad.http_port, method + b" * HTTP/1.1\r\nHost: x\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 400 "), out
    out = raw_http(iotad.http_port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 204 ") and b"Allow: GET, HEAD" in out, out
    # absolute-form is served like origin-form; anything else is 400
    out = raw_http(iotad.http_port, b"GET http://x/healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ") and b'"ok"' in out, out
    for target in (b"*index.html", b"ftp://x/healthz", b"http://u:p@x/healthz"):
        out = raw_http(iotad.http_port, b"GET " + target + b" HTTP/1.1\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 400 "), (target, out)
    assert requests.get(iotad.url + "/healthz", timeout=5).json() == {"status": "ok"}


def metric_value(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    line = f"{name}{{{want}}} " if labels else f"{name} "
    for row in text.splitlines():
        if row.startswith(line):
            return float(row.split()[-1])
    raise AssertionError(f"{line!r} not in /metrics")


def test_deeply_nested_json_is_refused_early_on_every_transport(iotad, admin):
    # 200 KB of '[' used to stall the event loop for 10-15 s (jsmn is quadratic in the depth);
    # the nesting is now bounded by a linear pre-scan: 400 / PUBACK 0x99 / disconnect / error
    import websocket
    from mqttraw import RawMqtt
    dev, key = admin.device_with_key("nested")
    doc = "[" * 100000 + "]" * 100000
    r = requests.post(iotad.url + "/api/v1/ingest", data=doc, timeout=30,
                      headers={"X-API-Key": key, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "too_deep", r.text
    assert "nested deeper than 32 levels at offset 32" in r.json()["message"]
    small = "[" * 60000 + "]" * 60000  # under mqtt_max_packet (256 KiB)
    c5 = RawMqtt(iotad.mqtt_port, 5)
    assert c5.connect(username=dev, password=key) == 0
    c5.publish(f"devices/{dev}/telemetry", small, qos=1, packet_id=7)
    assert c5.puback() == (7, 0x99)
    c5.close()
    c4 = RawMqtt(iotad.mqtt_port, 4)
    assert c4.connect(username=dev, password=key) == 0
    c4.publish(f"devices/{dev}/telemetry", small, qos=1, packet_id=8)
    assert c4.puback() is None  # 3.1.1 has no reason codes: the connection is closed
    c4.close()
    w = websocket.create_connection(f"ws://127.0.0.1:{iotad.http_port}/api/v1/stream",
                                    header=[f"X-API-Key: {key}"], timeout=10)
    assert json.loads(w.recv())["mode"] == "device"
    w.send(small)
    err = json.loads(w.recv())
    assert err["type"] == "error" and err["error"] == "too_deep", err
    w.close()
    m = requests.get(iotad.url + "/metrics", timeout=10).text
    for transport in ("http", "mqtt", "websocket"):
        assert metric_value(m, "iotad_ingest_rejected_total", transport=transport,
                            reason="too_deep") >= 1, transport
    assert requests.get(iotad.url + "/healthz", timeout=5).status_code == 200


def test_api_bodies_are_bounded_before_parsing(iotad, admin):
    # unauthenticated login: nesting and size are checked before cJSON sees the body
    r = requests.post(iotad.url + "/api/v1/auth/login", data="[" * 50000 + "]" * 50000,
                      timeout=30)
    assert r.status_code == 400 and "nested deeper than 32 levels" in r.json()["message"]
    r = requests.post(iotad.url + "/api/v1/auth/login", timeout=30,
                      data='{"email":"a@b","password":"' + "x" * (2 << 20) + '"}')
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    m = requests.get(iotad.url + "/metrics", timeout=10).text
    assert metric_value(m, "iotad_api_bodies_refused_total", reason="too_deep") == 1
    assert metric_value(m, "iotad_api_bodies_refused_total", reason="too_large") == 1
    # ordinary bodies still work
    assert admin.create_device("after-nested")["name"] == "after-nested"
