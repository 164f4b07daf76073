"""WebSocket: devices stream telemetry frames (acknowledged once durable); browsers subscribe
to live points and status events of the devices their role may see."""
import json
import time

import websocket

from conftest import wait_for


def ws_url(iotad):
    return f"ws://127.0.0.1:{iotad.http_port}/api/v1/stream"


def test_device_streams_and_subscriber_sees_points(iotad, admin):
    dev, key = admin.device_with_key("ws-dev")
    sub = websocket.create_connection(ws_url(iotad), header=[f"Authorization: Bearer {admin.token}"],
                                      timeout=10)
    hello = json.loads(sub.recv())
    assert hello["type"] == "hello" and hello["mode"] == "subscriber"
    sub.send(json.dumps({"type": "subscribe", "devices": [dev]}))
    assert json.loads(sub.recv())["type"] == "subscribed"

    d = websocket.create_connection(ws_url(iotad), header=[f"X-API-Key: {key}"], timeout=10)
    assert json.loads(d.recv())["mode"] == "device"
    d.send(json.dumps({"ts": int(time.time() * 1000), "metrics": {"temp": 22.5}}))
    ack = json.loads(d.recv())
    assert ack == {"type": "ack", "seq": 1, "accepted": 1}
    d.send('{"metrics": {"temp": "warm"}}')
    err = json.loads(d.recv())
    assert err["type"] == "error" and err["seq"] == 2 and err["error"] == "type"

    got = []
    deadline = time.time() + 10
    while time.time() < deadline and not got:
        msg = json.loads(sub.recv())
        if msg["type"] == "points":
            got = msg["points"]
    assert got and got[0]["metric"] == "temp" and got[0]["value"] == 22.5
    assert admin.points(dev, "temp")[0]["value"] == 22.5
    d.close()
    sub.close()


def test_owner_subscriber_does_not_receive_other_owners_points(iotad, admin):
    admin.create_user("o@example.com", "device_owner")
    owner = iotad.login("o@example.com", "a-long-test-password")
    mine = owner.create_device("mine")
    my_key = owner.create_key(mine["id"])
    other, other_key = admin.device_with_key("not-mine")
    sub = websocket.create_connection(ws_url(iotad), header=[f"Authorization: Bearer {owner.token}"],
                                      timeout=10)
    sub.recv()
    import requests
    for k in (other_key, my_key):
        r = requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": k},
                          json={"metrics": {"v": 1}}, timeout=10)
        assert r.status_code == 202
    seen = set()
    deadline = time.time() + 5
    while time.time() < deadline and mine["id"] not in seen:
        msg = json.loads(sub.recv())
        if "device_id" in msg:
            seen.add(msg["device_id"])
    assert mine["id"] in seen and other not in seen
    sub.close()


def test_stream_without_credentials_is_refused(iotad):
    try:
        websocket.create_connection(ws_url(iotad), timeout=5)
        assert False, "anonymous WebSocket accepted"
    except websocket.WebSocketBadStatusException as e:
        assert e.status_code == 401
