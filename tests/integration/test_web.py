"""Serving the dashboard: hashed assets cached for good, client routes answered with index.html,
a missing file a plain uncached 404 (a chunk of an older build asked for after an upgrade
must fail cleanly so the dashboard reloads, never be cached or answered with JSON); compression:
precompressed assets (br, gzip) and gzip'ed JSON by Accept-Encoding."""
import gzip
import json
import re

import requests

from conftest import Iotad


def raw_get(url, accept_encoding, headers=None):
    """GET without requests' own Accept-Encoding and without decoding the body."""
    h = dict(headers or {})
    h["Accept-Encoding"] = accept_encoding if accept_encoding is not None else "identity"
    r = requests.get(url, headers=h, timeout=10, stream=True)
    r._content = r.raw.read(decode_content=False)
    return r


def make_dist(root):
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>iotad</title><div id=root></div>")
    (root / "assets" / "index-abc123.js").write_text("console.log('entry')\n" * 50)
    return root


def test_static_files_routes_and_missing_assets(tmp_path):
    dist = make_dist(tmp_path / "dist")
    srv = Iotad(args=["--web-dir", str(dist)])
    try:
        r = requests.get(srv.url + "/assets/index-abc123.js", timeout=5)
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/javascript")
        assert "immutable" in r.headers["Cache-Control"]

        # a client-side route gets the app, never cached
        r = requests.get(srv.url + "/reports/schedules", timeout=5)
        assert r.status_code == 200 and "<div id=root>" in r.text
        assert r.headers["Cache-Control"] == "no-cache"

        for path in ("/assets/DevicesPage-0ld0ld.js", "/assets/nested/x.css", "/favicon-missing.ico"):
            r = requests.get(srv.url + path, timeout=5)
            assert r.status_code == 404, path
            assert r.headers["Content-Type"].startswith("text/plain"), path
            assert r.headers["Cache-Control"] == "no-store", path
            assert "application/json" not in r.headers["Content-Type"]
            assert r.text == "404 not found\n"
        # the API keeps its JSON errors
        r = requests.get(srv.url + "/api/v1/nope", timeout=5)
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        # and the server is still fine afterwards
        assert requests.get(srv.url + "/healthz", timeout=5).json() == {"status": "ok"}
    finally:
        srv.stop()


def test_precompressed_assets_follow_accept_encoding(tmp_path):
    dist = make_dist(tmp_path / "dist")
    js = (dist / "assets" / "index-abc123.js").read_bytes()
    (dist / "assets" / "index-abc123.js.gz").write_bytes(gzip.compress(js))
    (dist / "assets" / "index-abc123.js.br").write_bytes(b"brotli-bytes")  # served as they are
    (dist / "index.html.gz").write_bytes(gzip.compress((dist / "index.html").read_bytes()))
    srv = Iotad(args=["--web-dir", str(dist)])
    try:
        url = srv.url + "/assets/index-abc123.js"
        r = raw_get(url, "br, gzip")
        assert r.headers["Content-Encoding"] == "br" and r.content == b"brotli-bytes"
        assert r.headers["Vary"] == "Accept-Encoding"
        assert "immutable" in r.headers["Cache-Control"]
        r = raw_get(url, "gzip, deflate")
        assert r.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(r.content) == js
        r = raw_get(url, "br;q=0, gzip;q=0")
        assert "Content-Encoding" not in r.headers and r.content == js
        r = raw_get(url, None)
        assert "Content-Encoding" not in r.headers and r.content == js
        # a client route gets index.html, compressed too, with the page headers
        r = raw_get(srv.url + "/devices/42", "gzip")
        assert r.headers["Content-Encoding"] == "gzip"
        assert b"<div id=root>" in gzip.decompress(r.content)
        assert "Content-Security-Policy" in r.headers
    finally:
        srv.stop()


def test_json_is_gzipped_when_asked_and_large_enough(iotad, admin):
    for i in range(60):
        admin.create_device(f"gz-{i:03d}", type="meter", location="Plant 7")
    url = iotad.url + "/api/v1/devices?limit=100"
    auth = {"Authorization": "Bearer " + admin.token}
    plain = raw_get(url, None, auth)
    assert "Content-Encoding" not in plain.headers
    z = raw_get(url, "gzip", auth)
    assert z.headers["Content-Encoding"] == "gzip" and z.headers["Vary"] == "Accept-Encoding"
    body = gzip.decompress(z.content)
    assert len(z.content) < len(body) / 4
    assert json.loads(body)["total"] == json.loads(plain.content)["total"] == 60
    # q=0 refuses; small answers stay plain
    assert "Content-Encoding" not in raw_get(url, "gzip;q=0", auth).headers
    small = raw_get(iotad.url + "/api/v1/auth/me", "gzip", auth)
    assert "Content-Encoding" not in small.headers and small.json()["email"]
    m = requests.get(iotad.url + "/metrics", headers=auth, timeout=5).text
    assert re.search(r"^iotad_api_gzip_responses_total [1-9]", m, re.M), m
    assert re.search(r"^iotad_api_gzip_saved_bytes_total [1-9]", m, re.M)
