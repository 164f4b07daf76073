"""Devices: CRUD, search/filter/paging, API keys (shown once, hashed, revoke, rotate)."""
import sqlite3

import pytest
import requests

STORE_BACKENDS = ("sqlite", "postgresql")  # conftest: each test on both


def test_device_crud_round_trip(iotad, admin):
    d = admin.create_device("thermo-1", type="thermostat", location="Lab 2", firmware="1.4.2",
                            attributes={"vendor": "Acme", "floor": 2})
    assert d["status"] == "offline" and d["type"] == "thermostat"
    assert d["attributes"] == {"vendor": "Acme", "floor": 2}
    r = admin.patch(f"/api/v1/devices/{d['id']}", {"firmware": "1.5.0", "location": "Lab 3"})
    assert r.status_code == 200
    got = admin.get(f"/api/v1/devices/{d['id']}").json()
    assert got["firmware"] == "1.5.0" and got["location"] == "Lab 3" and got["name"] == "thermo-1"
    assert admin.delete(f"/api/v1/devices/{d['id']}").status_code == 204
    assert admin.get(f"/api/v1/devices/{d['id']}").status_code == 404


def test_bad_device_input_is_400(iotad, admin):
    for body in ({}, {"name": ""}, {"name": 5}, {"name": "x", "attributes": [1]},
                 {"name": "x" * 300}):
        r = admin.post("/api/v1/devices", body)
        assert r.status_code == 400, body
    assert admin.get("/api/v1/devices/not-a-uuid").status_code == 404


def test_list_search_filter_sort_and_page(iotad, admin):
    for i in range(25):
        admin.create_device(f"meter-{i:02d}", type="power_meter" if i % 2 else "camera",
                            location="Hall A" if i < 10 else "Hall B")
    r = admin.get("/api/v1/devices", params={"type": "camera", "limit": 5, "sort": "name"}).json()
    assert r["total"] == 13 and len(r["items"]) == 5
    assert [d["name"] for d in r["items"]] == sorted(d["name"] for d in r["items"])
    page2 = admin.get("/api/v1/devices",
                      params={"type": "camera", "limit": 5, "offset": 5, "sort": "name"}).json()
    assert not {d["id"] for d in r["items"]} & {d["id"] for d in page2["items"]}
    hall_a = admin.get("/api/v1/devices", params={"q": "Hall A"}).json()
    assert hall_a["total"] == 10
    desc = admin.get("/api/v1/devices", params={"sort": "name", "order": "desc", "limit": 1})
    assert desc.json()["items"][0]["name"] == "meter-24"
    assert admin.get("/api/v1/devices", params={"sort": "password"}).status_code == 400
    assert admin.get("/api/v1/devices", params={"limit": 0}).status_code == 400
    assert admin.get("/api/v1/devices", params={"q": "'; DROP TABLE devices; --"}).status_code == 200
    assert admin.get("/api/v1/devices").json()["total"] == 25


@pytest.mark.sqlite_only("reads the SQLite database file directly to check what is stored")
def test_api_key_is_shown_once_and_stored_hashed(iotad, admin):
    d = admin.create_device("k")
    created = admin.post(f"/api/v1/devices/{d['id']}/keys", {"name": "primary"}).json()
    key = created["key"]
    assert key.startswith("iotad_") and created["prefix"] in key
    listed = admin.get(f"/api/v1/devices/{d['id']}/keys").json()["items"]
    assert len(listed) == 1 and "key" not in listed[0] and listed[0]["prefix"] == created["prefix"]
    db = sqlite3.connect(f"{iotad.data_dir}/iotad.db")
    stored = db.execute("SELECT hash FROM api_keys").fetchall()
    db.close()
    assert stored and key not in stored[0][0] and len(stored[0][0]) == 64


def test_revoked_and_rotated_keys_stop_working(iotad, admin):
    dev, key = admin.device_with_key("r")
    ok = requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": key},
                       json={"metrics": {"t": 1}}, timeout=10)
    assert ok.status_code == 202
    kid = admin.get(f"/api/v1/devices/{dev}/keys").json()["items"][0]["id"]
    rot = admin.post(f"/api/v1/devices/{dev}/keys/{kid}/rotate")
    assert rot.status_code == 201
    new_key = rot.json()["key"]
    old = requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": key},
                        json={"metrics": {"t": 1}}, timeout=10)
    assert old.status_code == 401
    new = requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": new_key},
                        json={"metrics": {"t": 1}}, timeout=10)
    assert new.status_code == 202
    new_id = rot.json()["id"]
    assert admin.delete(f"/api/v1/devices/{dev}/keys/{new_id}").status_code == 204
    gone = requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": new_key},
                         json={"metrics": {"t": 1}}, timeout=10)
    assert gone.status_code == 401
    events = admin.get(f"/api/v1/events", params={"kind": "revoked_key"}).json()["items"]
    assert len(events) >= 2


def test_analyst_sees_all_but_cannot_change(iotad, admin):
    d = admin.create_device("x")
    admin.create_user("an@example.com", "analyst")
    an = iotad.login("an@example.com", "a-long-test-password")
    assert an.get(f"/api/v1/devices/{d['id']}").status_code == 200
    assert an.patch(f"/api/v1/devices/{d['id']}", {"name": "y"}).status_code == 403
    assert an.post("/api/v1/devices", {"name": "mine"}).status_code == 403


def test_device_changes_are_audited(iotad, admin):
    d = admin.create_device("audited")
    admin.create_key(d["id"])
    admin.patch(f"/api/v1/devices/{d['id']}", {"name": "renamed"})
    actions = [i["action"] for i in admin.get("/api/v1/audit").json()["items"]]
    for a in ("device.create", "apikey.create", "device.update"):
        assert a in actions


def test_search_takes_percent_and_underscore_literally(iotad, admin):
    # Issue 11 #11: q=% was handed to LIKE as a wildcard and matched every device
    for name in ("sale 50% off", "a_b", "axb", "back\\slash", "plain"):
        admin.create_device(name)

    def names(q, path="/api/v1/devices"):
        r = admin.get(path, params={"q": q})
        assert r.status_code == 200, r.text
        return sorted(d["name"] for d in r.json()["items"])
    assert names("%") == ["sale 50% off"]
    assert names("0%") == ["sale 50% off"]
    assert names("_") == ["a_b"]
    assert names("a_b") == ["a_b"]
    assert names("\\") == ["back\\slash"]
    assert names("x") == ["axb"]
    assert admin.get("/api/v1/devices", params={"q": "%"}).json()["total"] == 1
    # users (name, email) and the audit log's action prefix likewise
    admin.create_user("pct%user@example.com", "analyst")
    users = admin.get("/api/v1/users", params={"q": "%"}).json()
    assert [u["email"] for u in users["items"]] == ["pct%user@example.com"]
    assert admin.get("/api/v1/audit", params={"action": "%"}).json()["items"] == []
    assert admin.get("/api/v1/audit", params={"action": "device.c"}).json()["items"]


def test_prefix_search_matches_the_start_of_names_without_case(iotad, admin):
    # the device pickers' search (match=prefix): an index range at 100,000 devices
    ids = {}
    for name, loc in (("Boiler-1", "Hall B"), ("boiler-2", ""), ("BOILER-10", ""),
                      ("old boiler", "Boiler room"), ("sale 50% off", ""), ("a_b", ""),
                      ("axb", "")):
        ids[name] = admin.create_device(name, location=loc)["id"]

    def names(q, match="prefix", **extra):
        r = admin.get("/api/v1/devices", params={"q": q, "match": match, **extra})
        assert r.status_code == 200, r.text
        return [d["name"] for d in r.json()["items"]]
    assert names("boil") == ["Boiler-1", "BOILER-10", "boiler-2"]  # by name, case ignored
    assert names("BOILER-1") == ["Boiler-1", "BOILER-10"]
    assert names("boil", order="desc", sort="name") == ["boiler-2", "BOILER-10", "Boiler-1"]
    assert names("oiler") == []  # not inside a name, not the location
    assert names("oiler", match="contains") == ["Boiler-1", "BOILER-10", "boiler-2",
                                                "old boiler"]
    assert names("50%") == [] and names("sale 50%") == ["sale 50% off"]
    assert names("a_") == ["a_b"]  # '_' literal
    assert names(ids["axb"]) == ["axb"]  # the exact id
    assert names(ids["axb"][:8]) == []
    assert names("") == sorted(ids, key=str.lower)
    r = admin.get("/api/v1/devices", params={"q": "x", "match": "word"})
    assert r.status_code == 400 and "match contains|prefix" in r.json()["message"]


def test_search_counts_its_matches_up_to_1000(iotad, admin):
    # A search's total stops at 1,000 (total_capped) or past the page asked for; the listing
    # without a search counts exactly; a last page short of the limit is its own count.
    for s in (0, 1000):
        devs = [{"name": f"cap-{i:04d}", "location": f"Row {i % 7}"} for i in range(s, s + 1000)]
        assert admin.post("/api/v1/devices/bulk", {"devices": devs, "keys": False}).status_code == 201
    admin.create_device("other")

    def page(**params):
        r = admin.get("/api/v1/devices", params=params)
        assert r.status_code == 200, r.text
        return r.json()
    for match in ("prefix", "contains"):
        r = page(q="cap-", match=match, limit=10)
        assert (len(r["items"]), r["total"], r["total_capped"]) == (10, 1000, True), match
        assert r["items"][0]["name"] == "cap-0000"
        deep = page(q="cap-", match=match, limit=100, offset=1500)
        assert deep["total"] == 1601 and deep["total_capped"] and len(deep["items"]) == 100
        last = page(q="cap-", match=match, limit=100, offset=1950)
        assert (last["total"], last["total_capped"], len(last["items"])) == (2000, False, 50)
    few = page(q="Row 3", limit=500)
    assert (few["total"], few["total_capped"], len(few["items"])) == (286, False, 286)
    many = page(q="Row 3", limit=10)
    assert (many["total"], many["total_capped"]) == (286, False)
    assert page(limit=10)["total"] == 2001 and not page(limit=10)["total_capped"]
    assert page(limit=10, offset=5000)["total"] == 2001
    assert page(limit=10, type="generic")["total"] == 2001
