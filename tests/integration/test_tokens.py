"""API tokens (POST/GET/DELETE /api/v1/tokens): users' long-lived credentials for
integrations (MQTT subscriptions, test_mqtt_subscribe.py). Shown once, stored hashed, revocable;
each user manages their own, an Admin everyone's."""
import hashlib
import re
import sqlite3

import requests

STORE_BACKENDS = ("sqlite", "postgresql")

TOKEN_RE = re.compile(r"^iotad_tok_([0-9A-Za-z]{8})_[0-9A-Za-z]{32}$")
PASSWORD = "a-long-test-password"


def users(iotad, admin):
    admin.create_user("owner@example.com", "device_owner")
    admin.create_user("analyst@example.com", "analyst")
    return (iotad.login("owner@example.com", PASSWORD),
            iotad.login("analyst@example.com", PASSWORD))


def test_token_is_shown_once_and_listed_without_its_secret(iotad, admin, store_backend):
    r = admin.post("/api/v1/tokens", {"name": "node-red"})
    assert r.status_code == 201, r.text
    t = r.json()
    m = TOKEN_RE.match(t["token"])
    assert m and m.group(1) == t["prefix"] and t["name"] == "node-red"
    assert "not shown again" in t["note"]
    items = admin.get("/api/v1/tokens").json()["items"]
    assert [i["id"] for i in items] == [t["id"]]
    row = items[0]
    assert row["prefix"] == t["prefix"] and row["name"] == "node-red"
    assert row["revoked"] is False and row["revoked_at"] is None
    assert row["user_email"] == "admin@localhost"
    assert t["token"] not in admin.get("/api/v1/tokens").text
    # a token is no session: it does not open the REST API
    r = requests.get(iotad.url + "/api/v1/auth/me",
                     headers={"Authorization": "Bearer " + t["token"]}, timeout=10)
    assert r.status_code == 401
    # without a body: an unnamed token
    r = admin.post("/api/v1/tokens")
    assert r.status_code == 201 and r.json()["name"] == ""
    assert len(admin.get("/api/v1/tokens").json()["items"]) == 2


def test_token_is_stored_as_prefix_and_sha256(iotad, admin, store_backend, request):
    t = admin.post("/api/v1/tokens", {"name": "ha"}).json()
    sql = "SELECT prefix, hash FROM api_tokens"
    if store_backend == "sqlite":
        db = sqlite3.connect(f"{iotad.data_dir}/iotad.db")
        rows = db.execute(sql).fetchall()
        db.close()
    else:
        pg = request.getfixturevalue("pg_server")
        rows = [tuple(r) for r in pg.psql(sql, db=iotad.store.rsplit("/", 1)[1].split("?")[0])]
    assert rows == [(t["prefix"], hashlib.sha256(t["token"].encode()).hexdigest())]


def test_bad_token_names_are_400(iotad, admin):
    r = admin.post("/api/v1/tokens", {"name": 7})
    assert r.status_code == 400 and "name must be a string" in r.json()["message"]
    r = admin.post("/api/v1/tokens", {"name": "x" * 101})
    assert r.status_code == 400 and "100 characters" in r.json()["message"]
    r = admin.s.post(iotad.url + "/api/v1/tokens", data="[1]",
                     headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400
    assert admin.get("/api/v1/tokens").json()["items"] == []


def test_users_see_and_revoke_only_their_own_tokens(iotad, admin, store_backend):
    owner, analyst = users(iotad, admin)
    to = owner.post("/api/v1/tokens", {"name": "ha"}).json()
    ta = analyst.post("/api/v1/tokens", {"name": "nr"}).json()
    tadm = admin.post("/api/v1/tokens", {"name": "adm"}).json()
    assert [i["id"] for i in owner.get("/api/v1/tokens").json()["items"]] == [to["id"]]
    assert [i["id"] for i in analyst.get("/api/v1/tokens").json()["items"]] == [ta["id"]]
    # only an Admin lists everyone's
    for c in (owner, analyst):
        r = c.get("/api/v1/tokens", params={"all": "true"})
        assert r.status_code == 403 and "Admin" in r.json()["message"]
    every = admin.get("/api/v1/tokens", params={"all": "true"}).json()["items"]
    assert {i["id"] for i in every} == {to["id"], ta["id"], tadm["id"]}
    assert [i["id"] for i in admin.get("/api/v1/tokens").json()["items"]] == [tadm["id"]]
    # someone else's token is not found (its existence is not revealed)
    assert owner.delete(f"/api/v1/tokens/{ta['id']}").status_code == 404
    assert analyst.delete(f"/api/v1/tokens/{tadm['id']}").status_code == 404
    assert owner.delete("/api/v1/tokens/not-a-uuid").status_code == 404
    assert analyst.get("/api/v1/tokens").json()["items"][0]["revoked"] is False
    # own: revoked (and a second revoke keeps the first time)
    assert owner.delete(f"/api/v1/tokens/{to['id']}").status_code == 204
    row = owner.get("/api/v1/tokens").json()["items"][0]
    assert row["revoked"] is True and row["revoked_at"] > 0
    assert owner.delete(f"/api/v1/tokens/{to['id']}").status_code == 204
    assert owner.get("/api/v1/tokens").json()["items"][0]["revoked_at"] == row["revoked_at"]
    # an Admin revokes anyone's
    assert admin.delete(f"/api/v1/tokens/{ta['id']}").status_code == 204
    assert analyst.get("/api/v1/tokens").json()["items"][0]["revoked"] is True


def test_token_actions_are_audited_and_go_with_their_user(iotad, admin, store_backend):
    owner, _ = users(iotad, admin)
    t = owner.post("/api/v1/tokens", {"name": "ha"}).json()
    assert owner.delete(f"/api/v1/tokens/{t['id']}").status_code == 204
    audit = admin.get("/api/v1/audit", params={"action": "token."}).json()["items"]
    actions = [(a["action"], a["detail"]) for a in audit]
    assert ("token.create", t["prefix"]) in actions
    assert ("token.revoke", t["prefix"]) in actions
    owner2 = admin.create_user("gone@example.com", "analyst")
    c = iotad.login("gone@example.com", PASSWORD)
    c.post("/api/v1/tokens", {"name": "x"})
    assert admin.delete(f"/api/v1/users/{owner2['id']}").status_code in (200, 204)
    every = admin.get("/api/v1/tokens", params={"all": "true"}).json()["items"]
    assert all(i["user_email"] != "gone@example.com" for i in every)
