"""Serving the dashboard: hashed assets cached for good, client routes answered with index.html,
and a missing file a plain uncached 404 (a chunk of an older build asked for after an upgrade
must fail cleanly so the dashboard reloads, never be cached or answered with JSON)."""
import requests

from conftest import Iotad


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
