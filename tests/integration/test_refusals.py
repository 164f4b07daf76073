"""Every refusal of a message, on every transport, is counted in iotad_ingest_rejected_total
(by transport and reason), also those decided outside the shared ingest path: a device deleted
while its connections stay open (MQTT 5 PUBACK 0x87, MQTT 3.1.1 disconnect, WebSocket error
frame, HTTP 401), a request without a key, an unsupported Content-Type or precision, an MQTT
payload that is not the UTF-8 it claims (PUBACK 0x99) and an MQTT packet larger than
mqtt_max_packet. Before, each of these was refused but not counted (and a deleted device's
WebSocket frames were stored)."""
import json
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
