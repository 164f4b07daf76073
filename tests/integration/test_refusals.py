"""Every refusal of a message, on every transport, is counted in iotad_ingest_rejected_total
(by transport and reason), also those decided outside the shared ingest path: a device deleted
while its connections stay open (MQTT 5 PUBACK 0x87, MQTT 3.1.1 disconnect, WebSocket error
frame, HTTP 401), a request without a key, an unsupported Content-Type or precision, an MQTT
payload that is not the UTF-8 it claims (PUBACK 0x99) and an MQTT packet larger than
mqtt_max_packet; and what the servers refuse before a message reaches the application: HTTP
ingest bodies refused before routing (413 over max_body_bytes, 503 for the body budget, 417,
a malformed chunked body), MQTT protocol errors and unsupported CONNECTs, a device's WebSocket
frames that break RFC 6455. Before, each of these was refused but not counted (and a deleted
device's WebSocket frames were stored)."""
import json
import re
import socket
import struct

import requests
import websocket

from mqttraw import RawMqtt, _str


def rejected(iotad):
    out = {}
    for line in requests.get(iotad.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("iotad_ingest_rejected_total{"):
            labels, value = line.rsplit(" ", 1)
            t = labels.split('transport="')[1].split('"')[0]
            r = labels.split('reason="')[1].split('"')[0]
            out[(t, r)] = int(float(value))
    return out


def grown(before, after):
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def test_a_deleted_devices_messages_are_refused_and_counted_on_every_transport(iotad, admin):
    dev, key = admin.device_with_key("doomed")
    c5 = RawMqtt(iotad.mqtt_port, 5)
    assert c5.connect(username=dev, password=key) == 0
    c4 = RawMqtt(iotad.mqtt_port, 4)
    assert c4.connect(username=dev, password=key) == 0
    w = websocket.create_connection(f"ws://127.0.0.1:{iotad.http_port}/api/v1/stream",
                                    header=[f"X-API-Key: {key}"], timeout=10)
    assert json.loads(w.recv())["mode"] == "device"
    assert admin.delete(f"/api/v1/devices/{dev}").status_code == 204
    before = rejected(iotad)
    body = json.dumps({"metrics": {"x": 1}})
    c5.publish(f"devices/{dev}/telemetry", body, packet_id=1)
    assert c5.puback() == (1, 0x87)
    c4.publish(f"devices/{dev}/telemetry", body, packet_id=1)
    assert c4.puback() is None  # 3.1.1 has no reason codes: the connection is closed
    w.send(body)
    err = json.loads(w.recv())
    assert err["type"] == "error" and err["error"] == "unauthorized", err
    assert "no longer exists" in err["message"]
    r = requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": key},
                      json={"metrics": {"x": 1}}, timeout=10)
    assert r.status_code == 401
    for c in (c5, c4):
        c.close()
    w.close()
    assert grown(before, rejected(iotad)) == {
        ("mqtt", "auth"): 2, ("websocket", "auth"): 1, ("http", "auth"): 1}


def test_refusals_outside_the_ingest_path_are_counted(iotad, admin):
    dev, key = admin.device_with_key("refused")
    url = iotad.url + "/api/v1/ingest"
    before = rejected(iotad)
    assert requests.post(url, json={"metrics": {"x": 1}}, timeout=10).status_code == 401
    r = requests.post(url, headers={"X-API-Key": key, "Content-Type": "application/xml"},
                      data="<x/>", timeout=10)
    assert r.status_code == 415
    r = requests.post(url, params={"precision": "h"},
                      headers={"X-API-Key": key, "Content-Type": "text/plain"}, data="m v=1",
                      timeout=10)
    assert r.status_code == 400
    r = requests.post(iotad.url + "/api/v2/write", params={"precision": "h"},
                      headers={"Authorization": f"Token {key}"}, data="m v=1", timeout=10)
    assert r.status_code == 400
    c5 = RawMqtt(iotad.mqtt_port, 5)
    assert c5.connect(username=dev, password=key) == 0
    # payload format indicator 1 (UTF-8) on bytes that are not UTF-8: PUBACK 0x99
    vh = _str(f"devices/{dev}/telemetry") + struct.pack(">H", 1) + b"\x02\x01\x01"
    c5.send_packet(0x32, vh + b"\xff\xfe")
    assert c5.puback() == (1, 0x99)
    # larger than mqtt_max_packet (256 KiB): DISCONNECT 0x95 and the connection closed
    try:
        c5.publish(f"devices/{dev}/telemetry", "x" * (300 * 1024), packet_id=2)
    except OSError:
        pass  # closed while still sending
    pkt = c5.read_packet()
    assert pkt is None or pkt[0] == 14, pkt
    c5.close()
    assert grown(before, rejected(iotad)) == {
        ("http", "auth"): 1, ("http", "syntax"): 3, ("mqtt", "syntax"): 1,
        ("mqtt", "too_large"): 1}
    assert admin.points(dev) == []


def http_raw(port, head, body=b""):
    """Sends a raw request and returns the status of the answer (the server may close)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(head.encode() + body)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return int(data.split(b" ", 2)[1])
    finally:
        s.close()


def api_bodies_too_large(iotad):
    m = requests.get(iotad.url + "/metrics", timeout=10).text
    return int(float(re.search(r'^iotad_api_bodies_refused_total\{reason="too_large"\} (\S+)$',
                               m, re.M).group(1)))


def test_http_refusals_before_routing_are_counted(iotad, admin):
    # The HTTP server answers these itself, before a route is chosen: a body declared over
    # max_body_bytes (413), an Expect it does not know (417), a malformed chunked body (400).
    # On the ingest routes they are refused messages; elsewhere, refused API bodies.
    _, key = admin.device_with_key("framing")
    before, api_before = rejected(iotad), api_bodies_too_large(iotad)
    big = 40 * 1024 * 1024  # over max_body_bytes (32 MiB), refused from the declared length
    for path in ("/api/v1/ingest", "/api/v2/write"):
        assert http_raw(iotad.http_port, f"POST {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n"
                        f"Content-Length: {big}\r\n\r\n") == 413
    assert http_raw(iotad.http_port, "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\n"
                    "Expect: something-else\r\nContent-Length: 2\r\n\r\n", b"{}") == 417
    assert http_raw(iotad.http_port, "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n", b"zz\r\n{}\r\n0\r\n\r\n") == 400
    # not an ingest route: counted as a refused API body, not as a refused message
    assert http_raw(iotad.http_port, "POST /api/v1/devices HTTP/1.1\r\nHost: x\r\n"
                    f"Content-Length: {big}\r\n\r\n") == 413
    assert grown(before, rejected(iotad)) == {("http", "too_large"): 2, ("http", "protocol"): 2}
    assert api_bodies_too_large(iotad) == api_before + 1


def test_http_body_budget_refusals_are_counted():
    # http_bodies_max_bytes (1 MiB here): a first ingest body of 700 KB holds its reservation
    # while its bytes are awaited, a second one does not fit and is answered 503
    from conftest import Iotad
    srv = Iotad(args=["--http-bodies-max-bytes", str(1 << 20)])
    try:
        _, key = srv.admin().device_with_key("budget")
        before = rejected(srv)
        head = (f"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n"
                "Content-Type: application/json\r\nContent-Length: 700000\r\n")
        holder = socket.create_connection(("127.0.0.1", srv.http_port), timeout=10)
        holder.sendall((head + "Expect: 100-continue\r\n\r\n").encode())
        assert holder.recv(100).startswith(b"HTTP/1.1 100")  # reserved, body awaited
        assert http_raw(srv.http_port, head + "\r\n") == 503
        holder.close()
        assert grown(before, rejected(srv)) == {("http", "unavailable"): 1}
    finally:
        srv.stop()


def test_mqtt_protocol_errors_and_unsupported_connects_are_counted(iotad, admin):
    dev, key = admin.device_with_key("mqtt-framing")
    before = rejected(iotad)
    # a first packet that is not CONNECT (PINGREQ): closed without an answer
    c = RawMqtt(iotad.mqtt_port, 5)
    c.sock.sendall(b"\xc0\x00")
    assert c.read_packet() is None
    c.close()
    # a malformed PUBLISH (QoS 3) on an accepted connection: DISCONNECT 0x81 (malformed)
    c = RawMqtt(iotad.mqtt_port, 5)
    assert c.connect(username=dev, password=key) == 0
    c.send_packet(0x36, _str(f"devices/{dev}/telemetry") + b"\x00\x01\x00{}")
    pkt = c.read_packet()
    assert pkt is not None and pkt[0] == 14 and pkt[1][0] == 0x81, pkt
    c.close()
    # protocol level 3 (MQTT 3.1): CONNACK 0x01 (unacceptable protocol version)
    c = RawMqtt(iotad.mqtt_port, 3)
    assert c.connect(username=dev, password=key) == 0x01
    c.close()
    # MQTT 5 with a QoS 2 will: CONNACK 0x9B (QoS not supported)
    c = RawMqtt(iotad.mqtt_port, 5)
    flags = 0x02 | 0x04 | (2 << 3) | 0x80 | 0x40
    vh = _str("MQTT") + bytes([5, flags]) + struct.pack(">H", 30) + b"\x00"
    payload = _str("will-qos2") + b"\x00" + _str(f"devices/{dev}/will") + _str("gone") + \
        _str(dev) + _str(key)
    c.send_packet(0x10, vh + payload)
    pkt = c.read_packet()
    assert pkt is not None and pkt[0] == 2 and pkt[1][1] == 0x9B, pkt
    c.close()
    assert grown(before, rejected(iotad)) == {("mqtt", "protocol"): 2,
                                              ("mqtt", "unsupported"): 2}
    assert admin.points(dev) == []


def test_websocket_protocol_errors_of_a_device_are_counted(iotad, admin):
    dev, key = admin.device_with_key("ws-framing")
    before = rejected(iotad)

    def device_stream():
        w = websocket.create_connection(f"ws://127.0.0.1:{iotad.http_port}/api/v1/stream",
                                        header=[f"X-API-Key: {key}"], timeout=10)
        assert json.loads(w.recv())["mode"] == "device"
        return w

    def close_code(w):
        op, data = w.recv_data(control_frame=True)
        assert op == websocket.ABNF.OPCODE_CLOSE, (op, data)
        return struct.unpack(">H", data[:2])[0]

    w = device_stream()  # a text frame that is not UTF-8: 1007
    w.send(b'{"metrics":{"x":1}}\xff', opcode=websocket.ABNF.OPCODE_TEXT)
    assert close_code(w) == 1007
    w.close()
    w = device_stream()  # a message over ws_max_message (1 MiB): 1009
    w.send_binary(b" " * ((1 << 20) + 1024))
    assert close_code(w) == 1009
    w.close()
    w = device_stream()  # a frame without the client's mask: 1002
    w.sock.sendall(b"\x81\x02{}")
    assert close_code(w) == 1002
    w.close()
    assert grown(before, rejected(iotad)) == {("websocket", "syntax"): 1,
                                              ("websocket", "too_large"): 1,
                                              ("websocket", "protocol"): 1}
    assert admin.points(dev) == []
