"""Security regressions (issue 14): first-Admin password policy, CSRF, settings that apply,
session activity, sign-up enumeration and rate limit, /metrics token, security headers."""
import hashlib
import os
import sqlite3
import subprocess
import time

import pytest
import requests
import websocket

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, BIN, Iotad, wait_for


def serve_once(data_dir, password, timeout=30):
    """Runs `iotad serve` with a first-Admin password; returns (exit code or None, output)."""
    env = dict(os.environ, IOTAD_ADMIN_PASSWORD=password, IOTAD_FAST_HASH="1")
    p = subprocess.Popen([BIN, "serve", "--data-dir", str(data_dir), "--http-listen",
                          "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        return None, out


@pytest.mark.parametrize("weak", ["admin", "password123", "0123456789", "admin@localhost"])
def test_first_admin_password_follows_the_policy(tmp_path, weak):
    rc, out = serve_once(tmp_path, weak)
    assert rc == 1, out
    assert "first Admin's password" in out and "refused" in out
    # nothing was created: a good password on the next start works
    srv = Iotad(data_dir=str(tmp_path))
    try:
        srv.login()
    finally:
        srv.close()


# --- CSRF (item 3) --------------------------------------------------------------------------
def cookie_session(iotad):
    """A requests session authenticated only by the dashboard's session cookie."""
    token = iotad.login().token
    s = requests.Session()
    s.cookies.set("iotad_session", token)
    return s


def test_cookie_post_from_a_foreign_origin_is_refused(iotad):
    s = cookie_session(iotad)
    url = iotad.url + "/api/v1/devices"
    body = '{"name":"csrf"}'
    # the review's reproduction: foreign Origin, text/plain body
    r = s.post(url, data=body, headers={"Origin": "http://evil.example",
                                        "Content-Type": "text/plain"}, timeout=10)
    assert r.status_code == 403 and r.json()["error"] == "cross_origin"
    r = s.post(url, data=body, headers={"Origin": "http://evil.example",
                                        "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 403
    r = s.post(url, data=body, headers={"Sec-Fetch-Site": "cross-site",
                                        "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 403
    r = s.post(url, data=body, headers={"Sec-Fetch-Site": "same-site", "Origin": iotad.url,
                                        "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 403
    r = s.post(url, data=body, headers={"Origin": "null",
                                        "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 403
    # no proof of origin at all: refused too (browsers always send one of the two)
    r = s.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 403
    r = s.delete(iotad.url + "/api/v1/users/nobody", timeout=10)
    assert r.status_code == 403
    admin = iotad.admin()
    assert admin.get("/api/v1/devices").json()["total"] == 0
    m = requests.get(iotad.url + "/metrics", timeout=10).text
    assert "iotad_api_csrf_refused_total 7" in m


def test_cookie_post_with_a_form_content_type_is_refused(iotad):
    s = cookie_session(iotad)
    url = iotad.url + "/api/v1/devices"
    for ct in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x",
               "application/jsonp", "application/json-seq"):
        r = s.post(url, data='{"name":"x"}', headers={"Origin": iotad.url, "Content-Type": ct},
                   timeout=10)
        assert r.status_code == 415, ct
    r = s.post(url, data='{"name":"x"}', headers={"Origin": iotad.url}, timeout=10)
    assert r.status_code == 415  # a body without a type


def test_same_origin_dashboard_requests_work(iotad):
    s = cookie_session(iotad)
    url = iotad.url + "/api/v1/devices"
    r = s.post(url, json={"name": "a"}, headers={"Origin": iotad.url}, timeout=10)
    assert r.status_code == 201, r.text
    r = s.post(url, json={"name": "b"}, headers={"Sec-Fetch-Site": "same-origin"}, timeout=10)
    assert r.status_code == 201, r.text
    r = s.post(url, data='{"name":"c"}', timeout=10,
               headers={"Origin": iotad.url, "Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201, r.text
    dev = r.json()["id"]
    # a body-less state change (key creation, delete) needs no content type
    r = s.post(f"{url}/{dev}/keys", headers={"Sec-Fetch-Site": "same-origin"}, timeout=10)
    assert r.status_code == 201, r.text
    r = s.delete(f"{url}/{dev}", headers={"Origin": iotad.url}, timeout=10)
    assert r.status_code == 204
    # reads are not checked
    assert s.get(url, headers={"Origin": "http://evil.example"}, timeout=10).status_code == 200


def test_bearer_token_clients_are_not_affected(iotad):
    admin = iotad.admin()
    # curl -d sends a form content type; a token is not ambient, so this is not CSRF
    r = admin.s.post(iotad.url + "/api/v1/devices", data='{"name":"curl"}', timeout=10,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 201, r.text
    r = requests.post(iotad.url + "/api/v1/auth/login", timeout=10,
                      data='{"email":"%s","password":"%s"}' % (ADMIN_EMAIL, ADMIN_PASSWORD))
    assert r.status_code == 200


def test_login_from_a_foreign_origin_is_refused(iotad):
    body = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    r = requests.post(iotad.url + "/api/v1/auth/login", json=body, timeout=10,
                      headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = requests.post(iotad.url + "/api/v1/auth/login", json=body, timeout=10,
                      headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    r = requests.post(iotad.url + "/api/v1/auth/login", json=body, timeout=10,
                      headers={"Origin": iotad.url, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200


def test_trusted_origins_admit_a_proxy_origin(tmp_path):
    srv = Iotad(data_dir=str(tmp_path), args=["--trusted-origins", "https://iot.example"])
    try:
        s = cookie_session(srv)
        r = s.post(srv.url + "/api/v1/devices", json={"name": "p"}, timeout=10,
                   headers={"Origin": "https://iot.example"})
        assert r.status_code == 201, r.text
        r = s.post(srv.url + "/api/v1/devices", json={"name": "q"}, timeout=10,
                   headers={"Origin": "https://iot.example.evil"})
        assert r.status_code == 403
    finally:
        srv.close()


def test_websocket_stream_checks_origin_for_cookie_auth(iotad):
    token = iotad.login().token
    ws_url = f"ws://127.0.0.1:{iotad.http_port}/api/v1/stream"
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(ws_url, cookie=f"iotad_session={token}",
                                    origin="http://evil.example", timeout=10)
    assert e.value.status_code == 403
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(ws_url, cookie=f"iotad_session={token}",
                                    suppress_origin=True, timeout=10)
    ws = websocket.create_connection(ws_url, cookie=f"iotad_session={token}",
                                     origin=iotad.url, timeout=10)
    ws.close()
    # a bearer token (non-browser client) is not an ambient credential
    ws = websocket.create_connection(ws_url, header=[f"Authorization: Bearer {token}"],
                                     origin="http://evil.example", timeout=10)
    ws.close()


# --- settings that apply (item 5) -----------------------------------------------------------
def test_settings_patch_applies_each_field_or_refuses_it(iotad):
    admin = iotad.admin()
    r = admin.patch("/api/v1/settings", {"session_idle_s": 120, "retention_days": 9,
                                         "offline_timeout_s": 30, "signup": "invite"})
    assert r.status_code == 200, r.text
    want = {"session_idle_s": 120, "retention_days": 9, "offline_timeout_s": 30,
            "signup": "invite"}
    assert {k: r.json()[k] for k in want} == want
    # a new session reports the new idle limit
    assert iotad.login().get("/api/v1/auth/me").status_code == 200
    login = requests.post(iotad.url + "/api/v1/auth/login", timeout=10,
                          json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).json()
    assert login["idle_timeout_s"] == 120
    for bad in ({"session_idle_s": 5}, {"session_idle_s": "60"}, {"retention_days": -1},
                {"retention_days": 1.5}, {"signup": "maybe"}, {"no_such_setting": 1},
                {"session_max_s": 100}, {"session_idle_s": 60, "bogus": 1}):
        r = admin.patch("/api/v1/settings", bad)
        assert r.status_code == 400, bad
    # nothing of a refused request was applied
    assert admin.get("/api/v1/settings").json()["session_idle_s"] == 120
    # stored: they survive a restart, and win over the configuration
    iotad.restart()
    got = iotad.admin().get("/api/v1/settings").json()
    assert {k: got[k] for k in want} == want
    audit = iotad.admin().get("/api/v1/audit", params={"action": "settings."}).json()["items"]
    assert {a["target"] for a in audit} >= {"session_idle_s", "retention_days", "signup"}


def session_row(iotad, token):
    db = sqlite3.connect(os.path.join(iotad.data_dir, "iotad.db"), timeout=10)
    return db, hashlib.sha256(token.encode()).hexdigest()


def test_session_in_use_does_not_expire_at_a_60s_idle_limit(iotad):
    admin = iotad.admin()
    assert admin.patch("/api/v1/settings", {"session_idle_s": 60}).status_code == 200
    c = iotad.login()
    db, h = session_row(iotad, c.token)
    try:
        # the session was last used 59 s ago: still valid, and the use is recorded at once
        db.execute("UPDATE sessions SET last_seen = last_seen - 59000 WHERE token_hash = ?", (h,))
        db.commit()
        before = db.execute("SELECT last_seen FROM sessions WHERE token_hash = ?",
                            (h,)).fetchone()[0]
        assert c.get("/api/v1/auth/me").status_code == 200
        after = db.execute("SELECT last_seen FROM sessions WHERE token_hash = ?",
                           (h,)).fetchone()[0]
        assert after >= before + 58000
        # two seconds later another request is recorded too (granularity idle/60 = 1 s)
        time.sleep(2.1)
        assert c.get("/api/v1/auth/me").status_code == 200
        later = db.execute("SELECT last_seen FROM sessions WHERE token_hash = ?",
                           (h,)).fetchone()[0]
        assert later >= after + 2000
        # idle for 61 s: expired
        db.execute("UPDATE sessions SET last_seen = last_seen - 61000 WHERE token_hash = ?", (h,))
        db.commit()
        assert c.get("/api/v1/auth/me").status_code == 401
    finally:
        db.close()


def test_retention_days_applies_without_restart(tmp_path):
    srv = Iotad(data_dir=str(tmp_path), args=["--checkpoint-interval-s", "1"])
    try:
        admin = srv.admin()
        old_dev, old_key = admin.device_with_key("old")
        new_dev, new_key = admin.device_with_key("new")
        now = int(time.time() * 1000)
        for key, ts in ((old_key, now - 3 * 86400000), (new_key, now)):
            r = requests.post(srv.url + "/api/v1/ingest", headers={"X-API-Key": key},
                              json=[{"ts": ts, "metrics": {"t": 1.0}}], timeout=10)
            assert r.status_code == 202, r.text
        wait_for(lambda: len(admin.points(old_dev, "t")) == 1)
        assert admin.patch("/api/v1/settings", {"retention_days": 2}).status_code == 200
        wait_for(lambda: admin.points(old_dev, "t") == [], timeout=20)
        assert len(admin.points(new_dev, "t")) == 1
    finally:
        srv.close()


# --- enumeration, sign-up rate limit, /metrics (item 7) -----------------------------------
def signup(srv, email, password="a-long-test-password", **headers):
    return requests.post(srv.url + "/api/v1/auth/signup", headers=headers, timeout=10,
                         json={"email": email, "password": password})


def test_signup_does_not_reveal_whether_an_address_exists(iotad):
    new = signup(iotad, "fresh@example.com")
    known = signup(iotad, ADMIN_EMAIL, "some-other-long-password")
    assert new.status_code == known.status_code == 202
    assert new.json() == known.json() and "token" not in new.json()
    assert "Set-Cookie" not in new.headers and "Set-Cookie" not in known.headers
    # the Admin's password was not changed by the attempt
    iotad.login()
    audit = iotad.admin().get("/api/v1/audit", params={"action": "auth.signup"}).json()["items"]
    assert {a["action"] for a in audit} == {"auth.signup", "auth.signup_existing"}


def test_signup_is_rate_limited_per_source_address(tmp_path):
    srv = Iotad(data_dir=str(tmp_path), args=["--signup-per-hour", "3"])
    try:
        for i in range(3):
            assert signup(srv, f"u{i}@example.com").status_code == 202
        r = signup(srv, "u3@example.com")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert r.json()["error"] == "rate_limited"
        # refused attempts create nothing
        users = srv.admin().get("/api/v1/users").json()["items"]
        assert "u3@example.com" not in {u["email"] for u in users}
        m = requests.get(srv.url + "/metrics", timeout=10).text
        assert 'iotad_signups_total{outcome="created"} 3' in m
        assert 'iotad_signups_total{outcome="rate_limited"} 1' in m
    finally:
        srv.close()


def test_metrics_token_protects_metrics(tmp_path):
    srv = Iotad(data_dir=str(tmp_path), env={"IOTAD_METRICS_TOKEN": "scrape-token-123"})
    try:
        assert requests.get(srv.url + "/metrics", timeout=10).status_code == 401
        r = requests.get(srv.url + "/metrics", timeout=10,
                         headers={"Authorization": "Bearer wrong-token-1"})
        assert r.status_code == 401
        r = requests.get(srv.url + "/metrics", timeout=10,
                         headers={"Authorization": "Bearer scrape-token-123"})
        assert r.status_code == 200 and "iotad_ingest_points_total" in r.text
        # the dashboard (an Analyst or Admin session) reads it too; a DeviceOwner does not
        admin = srv.admin()
        assert admin.get("/metrics").status_code == 200
        admin.create_user("analyst@example.com", "analyst")
        admin.create_user("owner@example.com", "device_owner")
        assert srv.login("analyst@example.com", "a-long-test-password").get(
            "/metrics").status_code == 200
        owner = srv.login("owner@example.com", "a-long-test-password")
        assert owner.get("/metrics").status_code == 401
        # the token is a secret: never printed by `iotad config`
        out = subprocess.run([BIN, "config"], capture_output=True, text=True,
                             env=dict(os.environ, IOTAD_METRICS_TOKEN="scrape-token-123")).stdout
        assert "metrics_token" in out and "scrape-token-123" not in out
    finally:
        srv.close()


# --- files, cookie and headers (item 6) -----------------------------------------------------
def test_data_dir_database_and_keys_are_private(tmp_path):
    data = tmp_path / "fresh" / "data"
    os.makedirs(data.parent)
    env = dict(os.environ, IOTAD_ADMIN_PASSWORD=ADMIN_PASSWORD, IOTAD_FAST_HASH="1")
    p = subprocess.Popen([BIN, "serve", "--data-dir", str(data), "--http-listen", "127.0.0.1:0",
                          "--mqtt-listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, env=env, text=True)
    try:
        for line in p.stdout:
            if "msg=listening" in line:
                break
        else:
            raise AssertionError("iotad did not start")
        assert os.stat(data).st_mode & 0o777 == 0o700
        for name in ("iotad.db", "iotad.db-wal", "iotad.db-shm", "iotad.keys",
                     "audit.checkpoints"):
            mode = os.stat(data / name).st_mode & 0o777
            assert mode == 0o600, f"{name}: {oct(mode)}"
    finally:
        p.terminate()
        p.wait(timeout=30)


def test_dashboard_and_api_send_security_headers(tmp_path):
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>t</title>")
    (tmp_path / "data").mkdir()
    srv = Iotad(data_dir=str(tmp_path / "data"), args=["--web-dir", str(web)])
    try:
        check_security_headers(srv)
    finally:
        srv.close()


def check_security_headers(iotad):
    for path in ("/", "/devices"):  # the page, and a client-side route served as the page
        r = requests.get(iotad.url + path, timeout=10)
        assert r.status_code == 200 and r.text.startswith("<!doctype html>"), path
    csp = r.headers["Content-Security-Policy"]
    for part in ("default-src 'self'", "script-src 'self'", "object-src 'none'",
                 "frame-ancestors 'none'", "base-uri 'self'"):
        assert part in csp, part
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    r = requests.get(iotad.url + "/api/v1/auth/me", timeout=10)
    assert r.status_code == 401
    assert r.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    # plain HTTP: no HSTS (it would be ignored, and wrong behind a plain-HTTP test setup)
    assert "Strict-Transport-Security" not in r.headers


def test_session_cookie_secure_when_configured(tmp_path):
    srv = Iotad(data_dir=str(tmp_path), args=["--cookie-secure", "on"])
    try:
        r = requests.post(srv.url + "/api/v1/auth/login", timeout=10,
                          json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        cookie = r.headers["Set-Cookie"]
        assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    finally:
        srv.close()
    # default (auto) over plain HTTP: not Secure, or the browser would drop it
    srv = Iotad(data_dir=str(tmp_path))
    try:
        r = requests.post(srv.url + "/api/v1/auth/login", timeout=10,
                          json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert "Secure" not in r.headers["Set-Cookie"]
    finally:
        srv.close()
