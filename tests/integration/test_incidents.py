"""Incident workflow: automatic incidents for critical anomalies (one per device while open),
incidents by hand from several anomalies, the status machine with reopen and 409 on invalid
transitions, assignment to Analysts/Admins only, timeline and audit of every change, verdicts
reaching the anomalies, filters and paging, DeviceOwner restrictions, live stream events, and
one open incident per anomaly (anomalies name it; resolving the last open anomaly of an
incident, or an incident sharing it, settles it)."""
import json
import os
import sqlite3
import time

import pytest
import requests
import websocket

from conftest import wait_for

STORE_BACKENDS = ("sqlite", "postgresql")  # conftest: each test on both

PW = "a-long-test-password"


def ingest(iotad, key, batch):
    r = requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": key}, json=batch,
                      timeout=30)
    assert r.status_code == 202, r.text


def rule(client, device_type, severity="critical", metric="temp", threshold=30):
    r = client.post("/api/v1/rules", {"name": f"{metric} high", "device_type": device_type,
                                       "metric": metric, "kind": "above",
                                       "threshold": threshold, "for_ms": 0,
                                       "severity": severity})
    assert r.status_code == 201, r.text


def breach(iotad, key, metric="temp", value=35.0):
    now = int(time.time() * 1000)
    ingest(iotad, key, [{"ts": now - 2, "metrics": {metric: 20}},
                        {"ts": now - 1, "metrics": {metric: value}}])


def anomalies(client, **params):
    r = client.get("/api/v1/anomalies", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def incidents(client, **params):
    r = client.get("/api/v1/incidents", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_critical_anomalies_open_one_incident_per_device(iotad, admin):
    rule(admin, "boiler")
    rule(admin, "boiler", severity="warning", metric="hum", threshold=90)
    dev, key = admin.device_with_key("b1", type="boiler")
    breach(iotad, key)
    inc = wait_for(lambda: incidents(admin)["items"])[0]
    assert inc["status"] == "new" and inc["severity"] == "critical"
    assert inc["origin"] == "auto" and inc["device_id"] == dev and "b1" in inc["title"]
    breach(iotad, key, value=40)  # a second critical episode on the same device
    wait_for(lambda: incidents(admin)["items"][0]["anomaly_count"] == 2)
    breach(iotad, key, metric="hum", value=95)  # warning: below auto_incident=critical
    wait_for(lambda: len(anomalies(admin, device_id=dev)) == 3)
    time.sleep(0.3)
    listed = incidents(admin)
    assert listed["total"] == 1
    full = admin.get(f"/api/v1/incidents/{inc['id']}").json()
    assert len(full["anomalies"]) == 2
    assert [e["kind"] for e in full["timeline"]] == ["created", "anomaly_linked",
                                                     "anomaly_linked"]
    assert full["timeline"][0]["actor"] == "system"


def test_manual_incident_from_several_anomalies_takes_the_highest_severity(iotad, admin):
    admin.patch("/api/v1/alert-settings", {"auto_incident": "off"})
    rule(admin, "m", severity="warning")
    rule(admin, "m", severity="critical", metric="p", threshold=5)
    dev, key = admin.device_with_key("m1", type="m")
    breach(iotad, key)
    breach(iotad, key, metric="p", value=9)
    ans = wait_for(lambda: len(anomalies(admin)) == 2 and anomalies(admin))
    assert incidents(admin)["total"] == 0
    r = admin.post("/api/v1/incidents", {"anomaly_ids": [a["id"] for a in ans],
                                         "title": "pressure and temperature"})
    assert r.status_code == 201, r.text
    inc = r.json()
    assert inc["severity"] == "critical" and inc["origin"] == "manual"
    assert inc["title"] == "pressure and temperature" and len(inc["anomalies"]) == 2
    assert admin.post("/api/v1/incidents", {"anomaly_ids": []}).status_code == 400
    assert admin.post("/api/v1/incidents",
                      {"anomaly_ids": ["01a00000-0000-7000-8000-000000000000"]}).status_code == 404
    # linking again is a conflict; comments land on the timeline
    r = admin.post(f"/api/v1/incidents/{inc['id']}/anomalies", {"anomaly_id": ans[0]["id"]})
    assert r.status_code == 409
    r = admin.post(f"/api/v1/incidents/{inc['id']}/comments", {"text": "looking at the valve"})
    assert r.status_code == 201 and r.json()["detail"]["text"] == "looking at the valve"
    tl = admin.get(f"/api/v1/incidents/{inc['id']}").json()["timeline"]
    assert tl[-1]["kind"] == "comment" and tl[-1]["actor"]


def test_status_machine_refuses_invalid_transitions_and_records_times(iotad, admin):
    rule(admin, "s")
    dev, key = admin.device_with_key("s1", type="s")
    breach(iotad, key)
    inc = wait_for(lambda: incidents(admin)["items"])[0]
    url = f"/api/v1/incidents/{inc['id']}"
    r = admin.patch(url, {"status": "resolved"})
    assert r.status_code == 409 and r.json()["error"] == "invalid_transition"
    assert admin.patch(url, {"status": "new"}).status_code == 409
    assert admin.patch(url, {"status": "closed"}).status_code == 400
    assert admin.patch(url, {"status": "investigating", "verdict": "confirmed"}).status_code == 400
    time.sleep(0.05)
    r = admin.patch(url, {"status": "investigating"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["acknowledged_at"] and body["time_to_acknowledge_ms"] >= 50
    assert admin.patch(url, {"status": "investigating"}).status_code == 409
    assert admin.patch(url, {"status": "new"}).status_code == 409
    r = admin.patch(url, {"status": "resolved", "verdict": "false_positive"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "resolved" and body["verdict"] == "false_positive"
    assert body["time_to_resolve_ms"] >= body["time_to_acknowledge_ms"]
    a = anomalies(admin, device_id=dev)[0]
    assert a["resolved"] is True and a["verdict"] == "false_positive"
    assert admin.patch(url, {"status": "resolved"}).status_code == 409
    r = admin.patch(url, {"status": "investigating"})  # reopen
    assert r.status_code == 200 and r.json()["resolved_at"] is None
    kinds = [e["kind"] for e in r.json()["timeline"]]
    assert kinds[-3:] == ["status_changed", "status_changed", "reopened"]
    audit = admin.get("/api/v1/audit", params={"limit": 100}).json()
    actions = [e["action"] for e in (audit["items"] if isinstance(audit, dict) else audit)]
    for act in ("incident.status", "incident.reopen", "anomaly.resolve"):
        assert act in actions, actions


def test_only_analysts_and_admins_are_assigned_and_assign(iotad, admin):
    analyst = admin.create_user("an@example.com", "analyst")
    owner = admin.create_user("ow@example.com", "device_owner")
    rule(admin, "a")
    dev, key = admin.device_with_key("a1", type="a", owner_id=owner["id"])
    breach(iotad, key)
    inc = wait_for(lambda: incidents(admin)["items"])[0]
    url = f"/api/v1/incidents/{inc['id']}"
    r = admin.patch(url, {"assigned_to": owner["id"]})
    assert r.status_code == 422 and r.json()["error"] == "invalid_assignee"
    assert admin.patch(url, {"assigned_to": "01a00000-0000-7000-8000-000000000000"}
                       ).status_code == 422
    oc = iotad.login("ow@example.com", PW)
    assert oc.patch(url, {"assigned_to": analyst["id"]}).status_code == 403
    assert oc.post(f"{url}/comments", {"text": "hi"}).status_code == 403
    r = admin.patch(url, {"assigned_to": analyst["id"]})
    assert r.status_code == 200 and r.json()["assigned_to"] == analyst["id"]
    assert r.json()["assignee_name"] == "an"
    ac = iotad.login("an@example.com", PW)
    mine = incidents(ac, assigned_to="me")
    assert [i["id"] for i in mine["items"]] == [inc["id"]]
    r = ac.patch(url, {"status": "investigating", "assigned_to": None})
    assert r.status_code == 200 and r.json()["assigned_to"] is None
    kinds = [e["kind"] for e in r.json()["timeline"]]
    assert "assigned" in kinds and "unassigned" in kinds
    assert incidents(admin, assigned_to="none")["total"] == 1


def test_device_owner_sees_only_incidents_of_own_devices(iotad, admin):
    o1 = admin.create_user("o1@example.com", "device_owner")
    admin.create_user("o2@example.com", "device_owner")
    rule(admin, "o")
    d1, k1 = admin.device_with_key("mine", type="o", owner_id=o1["id"])
    d2, k2 = admin.device_with_key("other", type="o")
    breach(iotad, k1)
    breach(iotad, k2)
    wait_for(lambda: incidents(admin)["total"] == 2)
    c1 = iotad.login("o1@example.com", PW)
    c2 = iotad.login("o2@example.com", PW)
    seen = incidents(c1)
    assert seen["total"] == 1 and seen["items"][0]["device_id"] == d1
    other = [i for i in incidents(admin)["items"] if i["device_id"] == d2][0]
    assert c1.get(f"/api/v1/incidents/{other['id']}").status_code == 404
    assert c1.get(f"/api/v1/incidents/{seen['items'][0]['id']}").status_code == 200
    assert incidents(c2)["total"] == 0
    assert c1.post("/api/v1/incidents", {"anomaly_ids": []}).status_code == 403


def test_filters_and_paging(iotad, admin):
    rule(admin, "f")
    rule(admin, "g", severity="warning")
    admin.patch("/api/v1/alert-settings", {"auto_incident": "warning"})
    devs = []
    for i in range(5):
        d, k = admin.device_with_key(f"f{i}", type="f" if i < 3 else "g")
        devs.append(d)
        breach(iotad, k)
    wait_for(lambda: incidents(admin)["total"] == 5)
    assert incidents(admin, severity="critical")["total"] == 3
    assert incidents(admin, severity="warning")["total"] == 2
    assert [i["device_id"] for i in incidents(admin, device_id=devs[4])["items"]] == [devs[4]]
    page1 = incidents(admin, limit=2)
    page2 = incidents(admin, limit=2, offset=2)
    assert page1["total"] == 5 and len(page1["items"]) == 2
    assert not {i["id"] for i in page1["items"]} & {i["id"] for i in page2["items"]}
    first = page1["items"][0]["id"]
    admin.patch(f"/api/v1/incidents/{first}", {"status": "investigating"})
    assert incidents(admin, status="investigating")["total"] == 1
    assert incidents(admin, status="open")["total"] == 5
    assert incidents(admin, status="new")["total"] == 4
    assert incidents(admin, **{"from": "-1h"})["total"] == 5
    assert incidents(admin, to=str(int(time.time() * 1000) - 3600_000))["total"] == 0
    assert admin.get("/api/v1/incidents", params={"status": "bogus"}).status_code == 400


def test_incident_changes_are_streamed(iotad, admin):
    rule(admin, "w")
    _, key = admin.device_with_key("w", type="w")
    ws = websocket.create_connection(f"ws://127.0.0.1:{iotad.http_port}/api/v1/stream",
                                     header=[f"Authorization: Bearer {admin.token}"], timeout=10)
    ws.recv()
    breach(iotad, key)
    inc = None
    deadline = time.time() + 10
    while time.time() < deadline and not inc:
        msg = json.loads(ws.recv())
        if msg["type"] == "incident":
            inc = msg["incident"]
    assert inc and inc["status"] == "new"
    admin.patch(f"/api/v1/incidents/{inc['id']}", {"status": "investigating"})
    status = None
    while time.time() < deadline and status != "investigating":
        msg = json.loads(ws.recv())
        if msg["type"] == "incident":
            status = msg["incident"]["status"]
    ws.close()
    assert status == "investigating"


def test_an_anomaly_names_its_incident_and_gets_no_second_open_one(iotad, admin):
    rule(admin, "one")  # critical: opens an incident by itself
    rule(admin, "two", severity="warning")
    dev, key = admin.device_with_key("one1", type="one")
    _, key2 = admin.device_with_key("two1", type="two")
    breach(iotad, key)
    breach(iotad, key2)
    inc = wait_for(lambda: incidents(admin)["items"])[0]
    a = wait_for(lambda: [x for x in anomalies(admin, device_id=dev) if x["incident_id"]])[0]
    assert (a["incident_id"], a["incident_status"], a["incident_title"]) == (
        inc["id"], "new", inc["title"])
    assert admin.get(f"/api/v1/anomalies/{a['id']}").json()["incident_id"] == inc["id"]
    warn = wait_for(lambda: [x for x in anomalies(admin) if x["device_id"] != dev])[0]
    assert warn["incident_id"] is None and warn["incident_status"] is None
    # opening another incident with it is refused, naming the open one
    r = admin.post("/api/v1/incidents", {"anomaly_ids": [warn["id"], a["id"]], "title": "again"})
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "anomaly_in_incident"
    assert (r.json()["incident_id"], r.json()["anomaly_id"]) == (inc["id"], a["id"])
    assert incidents(admin)["total"] == 1
    # so is linking it into another open incident; linking the free one to it works
    other = admin.post("/api/v1/incidents", {"anomaly_ids": [warn["id"]]}).json()
    r = admin.post(f"/api/v1/incidents/{other['id']}/anomalies", {"anomaly_id": a["id"]})
    assert r.status_code == 409 and r.json()["incident_id"] == inc["id"]
    # once its incident is resolved, the anomaly may go into a new one
    admin.patch(f"/api/v1/incidents/{inc['id']}", {"status": "investigating"})
    admin.patch(f"/api/v1/incidents/{inc['id']}", {"status": "resolved", "verdict": "confirmed"})
    r = admin.post(f"/api/v1/incidents/{other['id']}/anomalies", {"anomaly_id": a["id"]})
    assert r.status_code == 200, r.text
    assert admin.get(f"/api/v1/anomalies/{a['id']}").json()["incident_id"] == other["id"]


def test_resolving_the_last_open_anomaly_resolves_its_incident(iotad, admin):
    owner = admin.create_user("own@example.com", "device_owner")
    rule(admin, "s2")
    dev, key = admin.device_with_key("s2", type="s2", owner_id=owner["id"])
    me = admin.get("/api/v1/auth/me").json()["id"]
    breach(iotad, key)
    breach(iotad, key, value=41)  # a second episode joins the open automatic incident
    inc = wait_for(lambda: [i for i in incidents(admin)["items"] if i["anomaly_count"] == 2])[0]
    first, second = sorted(anomalies(admin, device_id=dev), key=lambda x: x["detected_at"])
    oc = iotad.login("own@example.com", PW)
    assert incidents(oc, status="open")["total"] == 1
    r = admin.post(f"/api/v1/anomalies/{first['id']}/resolve", {"verdict": "false_positive"})
    assert r.status_code == 200 and r.json()["incident_status"] == "new"  # one still open
    r = admin.post(f"/api/v1/anomalies/{second['id']}/resolve", {"verdict": "confirmed"})
    assert r.status_code == 200 and r.json()["incident_status"] == "resolved"
    full = admin.get(f"/api/v1/incidents/{inc['id']}").json()
    assert full["status"] == "resolved" and full["verdict"] == "confirmed"
    last = full["timeline"][-1]
    assert (last["kind"], last["actor"]) == ("status_changed", me)
    assert last["detail"] == {"from": "new", "to": "resolved", "verdict": "confirmed",
                              "reason": "anomalies_resolved"}
    # counted as open by nobody, the owner included
    assert incidents(admin, status="open")["total"] == 0
    assert incidents(oc, status="open")["total"] == 0
    actions = [e["action"] for e in admin.get("/api/v1/audit", params={"limit": 50}).json()["items"]]
    assert "incident.status" in actions


@pytest.mark.sqlite_only("reads the SQLite database file directly to check what is stored")
def test_resolving_an_incident_settles_an_older_one_sharing_its_anomaly(iotad, admin):
    """Data from before one-open-incident-per-anomaly: an automatic and a manual incident both
    hold the anomaly. Resolving the manual one as a false positive must not leave the automatic
    one open (and counted) with nothing open in it."""
    rule(admin, "dup")
    dev, key = admin.device_with_key("dup1", type="dup")
    breach(iotad, key)
    auto = wait_for(lambda: incidents(admin)["items"])[0]
    a = anomalies(admin, device_id=dev)[0]
    iotad.stop()
    db = sqlite3.connect(os.path.join(iotad.data_dir, "iotad.db"))
    now = int(time.time() * 1000)
    db.execute("INSERT INTO incidents(id, anomaly_id, status, created_at, title, severity, "
               "device_id, origin, updated_at) VALUES('01b00000-0000-7000-8000-000000000001', ?, "
               "'new', ?, 'manual twin', 'critical', ?, 'manual', ?)", (a["id"], now, dev, now))
    db.execute("INSERT INTO incident_anomalies(incident_id, anomaly_id, added_at) "
               "VALUES('01b00000-0000-7000-8000-000000000001', ?, ?)", (a["id"], now))
    db.commit()
    db.close()
    iotad.start()
    admin = iotad.admin()
    assert incidents(admin, status="open")["total"] == 2
    twin = "/api/v1/incidents/01b00000-0000-7000-8000-000000000001"
    admin.patch(twin, {"status": "investigating"})
    r = admin.patch(twin, {"status": "resolved", "verdict": "false_positive"})
    assert r.status_code == 200, r.text
    settled = admin.get(f"/api/v1/incidents/{auto['id']}").json()
    assert settled["status"] == "resolved" and settled["verdict"] == "false_positive"
    assert incidents(admin, status="open")["total"] == 0
