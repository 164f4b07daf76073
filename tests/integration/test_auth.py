"""Users and sessions: login, logout, lockout, sign-up modes, password change, audit."""
import pytest
import requests

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD

STORE_BACKENDS = ("sqlite", "postgresql")  # conftest: each test on both


def test_login_returns_token_and_httponly_cookie(iotad):
    r = requests.post(iotad.url + "/api/v1/auth/login",
                      json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert len(body["token"]) >= 32
    assert body["user"]["role"] == "admin"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    # the cookie alone authenticates a browser
    s = requests.Session()
    s.cookies.set("iotad_session", body["token"])
    assert s.get(iotad.url + "/api/v1/auth/me", timeout=10).json()["email"] == ADMIN_EMAIL


def test_wrong_password_is_refused_without_revealing_which_part(iotad):
    for email in (ADMIN_EMAIL, "nobody@example.com"):
        r = requests.post(iotad.url + "/api/v1/auth/login",
                          json={"email": email, "password": "wrong-password!"}, timeout=10)
        assert r.status_code == 401
        assert r.json()["error"] == "invalid_credentials"


def test_login_with_malformed_body_is_400(iotad):
    for body in ("not json", "[]", '{"email": 1}'):
        r = requests.post(iotad.url + "/api/v1/auth/login", data=body, timeout=10)
        assert r.status_code == 400, body


def test_repeated_failures_lock_the_account(iotad):
    for _ in range(5):
        r = requests.post(iotad.url + "/api/v1/auth/login",
                          json={"email": ADMIN_EMAIL, "password": "wrong-password!"}, timeout=10)
        assert r.status_code == 401
    r = requests.post(iotad.url + "/api/v1/auth/login",
                      json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, timeout=10)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    metrics = requests.get(iotad.url + "/metrics", timeout=10).text
    assert 'iotad_logins_total{outcome="locked"} 1' in metrics


def test_logout_ends_the_session(iotad, admin):
    assert admin.get("/api/v1/auth/me").status_code == 200
    assert admin.post("/api/v1/auth/logout").status_code == 204
    assert admin.get("/api/v1/auth/me").status_code == 401


def test_signup_creates_device_owner_and_admin_can_close_it(iotad, admin):
    r = requests.post(iotad.url + "/api/v1/auth/signup",
                      json={"email": "new@example.com", "password": "a-long-test-password"},
                      timeout=10)
    assert r.status_code == 202, r.text
    assert iotad.login("new@example.com", "a-long-test-password").get(
        "/api/v1/auth/me").json()["role"] == "device_owner"
    # a taken address gets the same answer (no account enumeration) and changes nothing
    dup = requests.post(iotad.url + "/api/v1/auth/signup",
                        json={"email": "NEW@example.com", "password": "other-long-password"},
                        timeout=10)
    assert dup.status_code == 202 and dup.json() == r.json()
    iotad.login("new@example.com", "a-long-test-password")
    weak = requests.post(iotad.url + "/api/v1/auth/signup",
                         json={"email": "weak@example.com", "password": "short"}, timeout=10)
    assert weak.status_code == 400 and weak.json()["error"] == "weak_password"

    assert admin.patch("/api/v1/settings", {"signup": "off"}).status_code == 200
    r = requests.post(iotad.url + "/api/v1/auth/signup",
                      json={"email": "late@example.com", "password": "a-long-test-password"},
                      timeout=10)
    assert r.status_code == 403

    assert admin.patch("/api/v1/settings", {"signup": "invite"}).status_code == 200
    r = requests.post(iotad.url + "/api/v1/auth/signup",
                      json={"email": "late@example.com", "password": "a-long-test-password"},
                      timeout=10)
    assert r.status_code == 403 and r.json()["error"] == "invite_required"
    invite = admin.post("/api/v1/invites", {"role": "analyst"}).json()["invite"]
    r = requests.post(iotad.url + "/api/v1/auth/signup",
                      json={"email": "late@example.com", "password": "a-long-test-password",
                            "invite": invite}, timeout=10)
    assert r.status_code == 202
    assert iotad.login("late@example.com", "a-long-test-password").get(
        "/api/v1/auth/me").json()["role"] == "analyst"
    again = requests.post(iotad.url + "/api/v1/auth/signup",
                          json={"email": "late2@example.com", "password": "a-long-test-password",
                                "invite": invite}, timeout=10)
    assert again.status_code == 403, "an invitation is single-use"


def test_password_change_requires_current_and_ends_other_sessions(iotad, admin):
    other = iotad.admin()
    r = admin.post("/api/v1/auth/password",
                   {"current_password": "wrong", "new_password": "another-long-password"})
    assert r.status_code == 403
    r = admin.post("/api/v1/auth/password",
                   {"current_password": ADMIN_PASSWORD, "new_password": "another-long-password"})
    assert r.status_code == 204
    assert admin.get("/api/v1/auth/me").status_code == 200
    assert other.get("/api/v1/auth/me").status_code == 401
    iotad.login(ADMIN_EMAIL, "another-long-password")


def test_disabled_user_cannot_log_in_and_loses_sessions(iotad, admin):
    u = admin.create_user("an@example.com", "analyst")
    c = iotad.login("an@example.com", "a-long-test-password")
    assert admin.patch(f"/api/v1/users/{u['id']}", {"disabled": True}).status_code == 200
    assert c.get("/api/v1/auth/me").status_code == 401
    r = requests.post(iotad.url + "/api/v1/auth/login",
                      json={"email": "an@example.com", "password": "a-long-test-password"},
                      timeout=10)
    assert r.status_code == 401


def test_last_admin_cannot_be_demoted(iotad, admin):
    me = admin.get("/api/v1/auth/me").json()
    r = admin.patch(f"/api/v1/users/{me['id']}", {"role": "analyst"})
    assert r.status_code == 409


@pytest.mark.sqlite_only("reads the SQLite database file directly to check what is stored")
def test_passwords_are_stored_as_argon2id(iotad, admin):
    import sqlite3
    admin.create_user("x@example.com", "analyst")
    db = sqlite3.connect(f"{iotad.data_dir}/iotad.db")
    rows = db.execute("SELECT password FROM users").fetchall()
    assert rows and all(r[0].startswith("$argon2id$") for r in rows)
    assert not db.execute("SELECT 1 FROM users WHERE password LIKE '%a-long-test%'").fetchall()
    db.close()


def test_auth_events_are_in_the_hash_chained_audit_log(iotad, admin):
    requests.post(iotad.url + "/api/v1/auth/login",
                  json={"email": ADMIN_EMAIL, "password": "wrong-password!"}, timeout=10)
    admin.create_user("y@example.com", "analyst")
    items = admin.get("/api/v1/audit").json()["items"]
    actions = [i["action"] for i in items]
    assert "auth.login" in actions and "auth.login_failed" in actions and "user.create" in actions
    v = admin.get("/api/v1/audit/verify").json()
    assert v["intact"] is True and v["rows"] >= 4


@pytest.mark.sqlite_only("reads the SQLite database file directly to check what is stored")
def test_expired_and_idle_sessions_are_refused(iotad, admin):
    import sqlite3
    other = iotad.admin()
    assert admin.get("/api/v1/auth/me").status_code == 200
    db = sqlite3.connect(f"{iotad.data_dir}/iotad.db")
    # one session past its absolute lifetime, the other idle for longer than session_idle_s
    rows = db.execute("SELECT token_hash FROM sessions ORDER BY created_at").fetchall()
    assert len(rows) == 2
    db.execute("UPDATE sessions SET expires_at = 1 WHERE token_hash = ?", rows[0])
    db.execute("UPDATE sessions SET last_seen = 1 WHERE token_hash = ?", rows[1])
    db.commit()
    db.close()
    assert admin.get("/api/v1/auth/me").status_code == 401
    assert other.get("/api/v1/auth/me").status_code == 401


def test_analysts_can_list_the_users_incidents_can_be_assigned_to(iotad, admin):
    admin.create_user("an@example.com", "analyst")
    admin.create_user("own@example.com", "device_owner")
    analyst = iotad.login("an@example.com", "a-long-test-password")
    items = analyst.get("/api/v1/users/assignable").json()["items"]
    assert {u["role"] for u in items} == {"admin", "analyst"}
    assert "own@example.com" not in {u["email"] for u in items}
    assert set(items[0]) == {"id", "name", "email", "role"}  # nothing more than a picker needs
    assert analyst.get("/api/v1/users").status_code == 403
    owner = iotad.login("own@example.com", "a-long-test-password")
    assert owner.get("/api/v1/users/assignable").status_code == 403
