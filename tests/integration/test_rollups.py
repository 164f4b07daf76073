"""Rollups of a device's data (GET /api/v1/devices/{id}/data?step=): bounded by
max_rollup_buckets per series, refused with the smallest step that fits, never clamped."""
import time

import requests

from conftest import Iotad


def test_rollup_over_the_bucket_cap_is_400_with_the_step_that_fits():
    srv = Iotad(args=["--max-rollup-buckets", "100"])
    try:
        admin = srv.admin()
        dev, key = admin.device_with_key("roll")
        now = int(time.time() * 1000)
        base = now - now % 60_000 - 3_600_000  # a minute boundary an hour ago
        pts = [{"metric": "v", "ts": base + i * 1000, "value": i % 7} for i in range(3600)]
        r = requests.post(srv.url + "/api/v1/ingest", headers={"X-API-Key": key}, json=pts,
                          timeout=30)
        assert r.status_code == 202, r.text
        url = f"/api/v1/devices/{dev}/data"
        # 100 buckets of 1 s: at the cap, answered
        ok = admin.get(url, params={"metric": "v", "from": base, "to": base + 100_000,
                                    "step": 1000})
        assert ok.status_code == 200 and len(ok.json()["buckets"]) == 100
        # the same 100 s unaligned touches one bucket more: 101 > 100
        over = admin.get(url, params={"metric": "v", "from": base + 500, "to": base + 100_500,
                                      "step": 1000})
        assert over.status_code == 400 and over.json()["buckets"] == 101
        # an hour at 1 s: refused whole, nothing read, with the smallest step that fits
        r = admin.get(url, params={"metric": "v", "from": base, "to": base + 3_600_000,
                                   "step": 1000})
        assert r.status_code == 400, r.text
        e = r.json()
        assert e["error"] == "too_many_buckets" and e["max_buckets"] == 100
        assert e["buckets"] == 3600 and "max_rollup_buckets (100)" in e["message"]
        # the step it names is answered, within the cap, and covers every point
        r = admin.get(url, params={"metric": "v", "from": base, "to": base + 3_600_000,
                                   "step": e["min_step_ms"]})
        assert r.status_code == 200, r.text
        b = r.json()["buckets"]
        assert r.json()["step_ms"] == e["min_step_ms"] and 0 < len(b) <= 100
        assert sum(x["count"] for x in b) == 3600
        # the named presets too: a day at 1m = 1,441 buckets > 100
        r = admin.get(url, params={"metric": "v", "from": "-1d", "step": "1m"})
        assert r.status_code == 400 and r.json()["min_step_ms"] >= 864_000
        # a huge span (from the epoch) is refused, not read or overflowed
        r = admin.get(url, params={"from": 0, "step": "1d"})
        assert r.status_code == 400 and r.json()["error"] == "too_many_buckets"
        # raw reads are bounded by limit, not by this cap
        assert admin.get(url, params={"metric": "v", "from": base}).status_code == 200
        m = requests.get(srv.url + "/metrics", timeout=10).text
        assert "iotad_api_rollups_refused_total 4" in m
    finally:
        srv.close()


def test_default_cap_answers_a_month_at_five_minutes(iotad, admin):
    dev = admin.create_device("d")["id"]
    # 30 days at 5 min = 8,640 buckets: under the default 10,000
    r = admin.get(f"/api/v1/devices/{dev}/data", params={"from": "-30d", "step": "5m"})
    assert r.status_code == 200, r.text
    r = admin.get(f"/api/v1/devices/{dev}/data", params={"from": "-30d", "step": "1m"})
    assert r.status_code == 400 and r.json()["max_buckets"] == 10000
