"""Bulk device registration (POST /api/v1/devices/bulk): all or nothing, a result per item, an
API key per device shown once and stored hashed, the same authorization as one registration."""
import hashlib
import sqlite3

import requests

from conftest import Iotad

STORE_BACKENDS = ("sqlite", "postgresql")  # conftest: each test on both


def fleet(n, prefix="bulk"):
    return [{"name": f"{prefix}-{i:03d}", "type": "meter", "location": f"Site {i % 3}",
             "attributes": {"row": i}} for i in range(n)]


def test_bulk_registers_devices_with_working_keys_shown_once(iotad, admin):
    r = admin.post("/api/v1/devices/bulk", {"devices": fleet(50)})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["created"] == 50 and len(body["items"]) == 50
    assert [i["index"] for i in body["items"]] == list(range(50))
    assert all(i["status"] == "created" and i["key"]["key"].startswith("iotad_")
               for i in body["items"])
    assert len({i["id"] for i in body["items"]}) == 50
    listed = admin.get("/api/v1/devices", params={"q": "bulk-", "limit": 100}).json()
    assert listed["total"] == 50
    got = admin.get(f"/api/v1/devices/{body['items'][7]['id']}").json()
    assert got["name"] == "bulk-007" and got["attributes"] == {"row": 7}
    # each key works at once (the device is known to ingest) and is not shown again
    for item in (body["items"][0], body["items"][49]):
        ing = requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": item["key"]["key"]},
                            json={"metrics": {"v": 1.5}}, timeout=10)
        assert ing.status_code == 202, ing.text
        keys = admin.get(f"/api/v1/devices/{item['id']}/keys").json()["items"]
        assert len(keys) == 1 and "key" not in keys[0]
        assert keys[0]["prefix"] == item["key"]["prefix"]
    actions = [a["action"] for a in
               admin.get("/api/v1/audit", params={"limit": 500}).json()["items"]]
    assert actions.count("device.create") == 50 and actions.count("apikey.create") == 50
    m = requests.get(iotad.url + "/metrics", timeout=10).text
    assert 'iotad_devices_bulk_total{outcome="created"} 50' in m
    # "keys": false registers without keys
    r = admin.post("/api/v1/devices/bulk", {"devices": fleet(3, "nokey"), "keys": False})
    assert r.status_code == 201 and all("key" not in i for i in r.json()["items"])
    assert admin.get(f"/api/v1/devices/{r.json()['items'][0]['id']}/keys").json()["items"] == []


def test_one_bad_item_registers_nothing_and_says_which(iotad, admin):
    devs = fleet(5)
    devs[1] = {"name": ""}
    devs[3] = {"name": "x", "attributes": [1]}
    devs.append("not an object")
    r = admin.post("/api/v1/devices/bulk", {"devices": devs})
    assert r.status_code == 400, r.text
    res = r.json()["results"]
    assert [x["status"] for x in res] == ["valid", "error", "valid", "error", "valid", "error"]
    assert "name is required" in res[1]["message"] and "attributes" in res[3]["message"]
    assert "3 of 6" in r.json()["message"]
    assert admin.get("/api/v1/devices").json()["total"] == 0
    for bad in ({}, {"devices": []}, {"devices": {"name": "x"}}, {"devices": fleet(1), "keys": 1}):
        assert admin.post("/api/v1/devices/bulk", bad).status_code == 400, bad
    assert admin.get("/api/v1/devices").json()["total"] == 0
    m = requests.get(iotad.url + "/metrics", timeout=10).text
    assert 'iotad_devices_bulk_total{outcome="refused"} 1' in m


def test_bulk_authorization_for_every_role(iotad, admin):
    owner = admin.create_user("owner@example.com", "device_owner")
    other = admin.create_user("other@example.com", "device_owner")
    admin.create_user("analyst@example.com", "analyst")
    own = iotad.login("owner@example.com", "a-long-test-password")
    ana = iotad.login("analyst@example.com", "a-long-test-password")
    # anonymous and Analyst: refused, nothing registered
    r = requests.post(iotad.url + "/api/v1/devices/bulk", json={"devices": fleet(2)}, timeout=10)
    assert r.status_code == 401
    assert ana.post("/api/v1/devices/bulk", {"devices": fleet(2)}).status_code == 403
    # DeviceOwner: own devices yes, someone else's no (the whole request refused)
    r = own.post("/api/v1/devices/bulk", {"devices": fleet(2, "mine")})
    assert r.status_code == 201 and all(i["owner_id"] == owner["id"] for i in r.json()["items"])
    r = own.post("/api/v1/devices/bulk",
                 {"devices": fleet(1, "mine2") + [{"name": "theirs", "owner_id": other["id"]}]})
    assert r.status_code == 400 and r.json()["results"][1]["error"] == "forbidden"
    # Admin: for anyone who exists
    r = admin.post("/api/v1/devices/bulk",
                   {"devices": [{"name": "given", "owner_id": other["id"]}, {"name": "adm"}]})
    assert r.status_code == 201, r.text
    r = admin.post("/api/v1/devices/bulk", {"devices": [{"name": "x", "owner_id": "nobody"}]})
    assert r.status_code == 400 and "not a user" in r.json()["results"][0]["message"]
    assert sorted(d["name"] for d in own.get("/api/v1/devices").json()["items"]) == \
        ["mine-000", "mine-001"]
    oth = iotad.login("other@example.com", "a-long-test-password")
    assert [d["name"] for d in oth.get("/api/v1/devices").json()["items"]] == ["given"]
    assert admin.get("/api/v1/devices").json()["total"] == 4


def test_bulk_keys_are_stored_hashed():
    srv = Iotad()
    try:
        admin = srv.admin()
        items = admin.post("/api/v1/devices/bulk", {"devices": fleet(3)}).json()["items"]
        db = sqlite3.connect(f"{srv.data_dir}/iotad.db")
        stored = dict(db.execute("SELECT prefix, hash FROM api_keys").fetchall())
        db.close()
        for i in items:
            key = i["key"]["key"]
            assert stored[i["key"]["prefix"]] == hashlib.sha256(key.encode()).hexdigest()
            assert key not in stored.values()
    finally:
        srv.close()


def test_more_devices_than_the_limit_is_413():
    srv = Iotad(args=["--max-bulk-devices", "5"])
    try:
        admin = srv.admin()
        r = admin.post("/api/v1/devices/bulk", {"devices": fleet(6)})
        assert r.status_code == 413 and r.json()["error"] == "too_many"
        assert "max_bulk_devices (5)" in r.json()["message"]
        assert admin.post("/api/v1/devices/bulk", {"devices": fleet(5)}).status_code == 201
        assert admin.get("/api/v1/devices").json()["total"] == 5
    finally:
        srv.close()
