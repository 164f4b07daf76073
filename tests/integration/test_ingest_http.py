"""HTTP ingest: iotad JSON (single, batch), SenML, line protocol, InfluxDB v2 write path.
Bad input gets a clear 4xx, is counted in /metrics, is recorded as a security event, and
nothing of it is stored."""
import time

import pytest
import requests

from conftest import sample_value

STORE_BACKENDS = ("sqlite", "postgresql")  # conftest: each test on both


@pytest.fixture
def iotad(shared_iotad):
    """One server per back-end for the module (conftest shared_iotad): each test uses devices
    of its own and reads counters as differences."""
    return shared_iotad


def post(iotad, key, body=None, json=None, ctype=None, path="/api/v1/ingest", params=None):
    headers = {"X-API-Key": key}
    if ctype:
        headers["Content-Type"] = ctype
    return requests.post(iotad.url + path, headers=headers, data=body, json=json, params=params,
                         timeout=30)


def test_json_single_and_batch_are_stored_after_202(iotad, admin):
    dev, key = admin.device_with_key()
    now = int(time.time() * 1000)
    r = post(iotad, key, json={"ts": now, "metrics": {"temp": 21.5, "hum": 40}})
    assert r.status_code == 202 and r.json() == {"accepted": 2}
    batch = [{"ts": now - i * 1000, "metrics": {"temp": 20 + i / 10}} for i in range(1, 101)]
    r = post(iotad, key, json=batch)
    assert r.status_code == 202 and r.json()["accepted"] == 100
    rfc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now / 1000 - 60))
    r = post(iotad, key, json={"metric": "power", "value": 230.1, "ts": rfc})
    assert r.status_code == 202, r.text
    assert admin.points(dev, "power")[0]["ts"] == (now // 1000 - 60) * 1000
    pts = admin.points(dev, "temp")
    assert len(pts) == 101
    assert pts[-1]["value"] == 21.5 and pts[-1]["ts"] == now
    assert admin.points(dev, "hum")[0]["value"] == 40
    metrics = admin.get(f"/api/v1/devices/{dev}/metrics").json()["items"]
    assert "temp" in metrics and "hum" in metrics


def test_bad_payloads_are_refused_and_nothing_is_stored(iotad, admin):
    dev, key = admin.device_with_key()
    now = int(time.time() * 1000)
    cases = [
        ("{not json", "syntax"),
        ('{"metrics": {"temp": "hot"}}', "type"),
        ('{"metrics": {"temp": NaN}}', "syntax"),
        ('{"metrics": {"temp": 1e999}}', "nonfinite"),
        ('{"ts": 1, "metrics": {"temp": 1}}', "timestamp"),
        ('{"ts": %d, "metrics": {"temp": 1}}' % (now + 3600_000), "timestamp"),
        ('{"metrics": {"sys.auth_failures": 1}}', "metric"),
        ('[{"metrics": {"ok": 1}}, {"metrics": {"bad": "x"}}]', "type"),
        ('{"metrics": {}}', "empty"),
    ]
    rejected = {reason: sample_value(
        iotad.url, f'iotad_ingest_rejected_total{{transport="http",reason="{reason}"}}')
        for reason in ("type", "timestamp")}
    for body, kind in cases:
        r = post(iotad, key, body=body, ctype="application/json")
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert r.json()["message"], body
        if kind != "syntax":
            assert r.json()["error"] in (kind, "syntax", "nonfinite"), (body, r.json())
    assert admin.points(dev) == []
    for reason in ("type", "timestamp"):
        assert sample_value(
            iotad.url, f'iotad_ingest_rejected_total{{transport="http",reason="{reason}"}}') \
            == rejected[reason] + 2, reason
    events = admin.get("/api/v1/events", params={"kind": "bad_payload",
                                                 "device_id": dev}).json()["items"]
    assert len(events) == len(cases)
    assert all(e["device_id"] == dev and e["kind"] == "bad_payload" for e in events)


def test_unknown_or_missing_key_is_401_and_recorded(iotad, admin):
    auth = 'iotad_ingest_rejected_total{transport="http",reason="auth"}'
    before = sample_value(iotad.url, auth)
    for headers in ({}, {"X-API-Key": "iotad_deadbeef_" + "x" * 32}, {"X-API-Key": "junk"}):
        r = requests.post(iotad.url + "/api/v1/ingest", headers=headers,
                          json={"metrics": {"t": 1}}, timeout=10)
        assert r.status_code == 401
    assert sample_value(iotad.url, auth) == before + 3


def test_oversized_body_is_413(iotad, admin):
    _, key = admin.device_with_key()
    r = post(iotad, key, body=b"[" + b" " * (33 * 1024 * 1024) + b"]", ctype="application/json")
    assert r.status_code == 413


def test_senml(iotad, admin):
    dev, key = admin.device_with_key()
    now = time.time()
    senml = [{"bn": "urn:dev:", "bt": now, "n": "temp", "u": "Cel", "v": 23.1},
             {"n": "temp", "t": 1, "v": 23.2}, {"n": "door", "vb": True}]
    r = post(iotad, key, json=senml, ctype="application/senml+json")
    assert r.status_code == 202, r.text
    names = admin.get(f"/api/v1/devices/{dev}/metrics").json()["items"]
    assert any(n.endswith("temp") for n in names)


def test_line_protocol_and_influx_v2_write(iotad, admin):
    dev, key = admin.device_with_key()
    ns = int(time.time() * 1e9)
    lines = (f"cpu,host=h1 usage_idle=97.5,usage_user=1.25 {ns}\n"
             f"mem,host=h1 used_percent=41i {ns}\n"
             f'sys,host=h1 uptime_format="1 day" {ns}\n')
    r = requests.post(iotad.url + "/api/v2/write", params={"org": "o", "bucket": "b",
                                                          "precision": "ns"},
                      headers={"Authorization": "Token " + key}, data=lines, timeout=10)
    assert r.status_code == 204, r.text
    names = set(admin.get(f"/api/v1/devices/{dev}/metrics").json()["items"])
    assert {"cpu.usage_idle", "cpu.usage_user", "mem.used_percent"} <= names
    assert admin.points(dev, "cpu.usage_idle")[0]["value"] == 97.5
    bad = requests.post(iotad.url + "/api/v2/write", params={"precision": "ns"},
                        headers={"Authorization": "Token " + key}, data="cpu usage=", timeout=10)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"
    r = post(iotad, key, body=f"plain value=1 {ns // 1_000_000}", ctype="text/plain")
    assert r.status_code == 202


def test_unsupported_content_type_is_415(iotad, admin):
    _, key = admin.device_with_key()
    assert post(iotad, key, body="x", ctype="application/xml").status_code == 415


def test_rollups_and_paging(iotad, admin):
    dev, key = admin.device_with_key()
    base = (int(time.time() * 1000) // 3600_000) * 3600_000 - 3600_000
    batch = [{"ts": base + i * 10_000, "metrics": {"v": float(i)}} for i in range(360)]
    assert post(iotad, key, json=batch).status_code == 202
    r = admin.get(f"/api/v1/devices/{dev}/data",
                  params={"metric": "v", "from": base, "to": base + 3600_000, "step": "1m"}).json()
    b = r["buckets"]
    assert len(b) == 60 and b[0]["count"] == 6 and b[0]["min"] == 0 and b[0]["max"] == 5
    assert abs(b[0]["avg"] - 2.5) < 1e-9
    page = admin.get(f"/api/v1/devices/{dev}/data",
                     params={"metric": "v", "from": base, "limit": 100}).json()
    assert len(page["points"]) == 100 and page["next_from"] == base + 100 * 10_000
    assert admin.get(f"/api/v1/devices/{dev}/data", params={"from": "yesterday"}).status_code == 400


def test_one_point_per_series_and_ms_the_response_says_what_replaced_or_was_too_old(iotad,
                                                                                    admin):
    dev, key = admin.device_with_key()
    now = int(time.time() * 1000)
    # two values for the same series and millisecond in one batch: the last one is kept
    r = post(iotad, key, json=[{"ts": now, "metrics": {"t": 1}}, {"ts": now, "metrics": {"t": 2}}])
    assert r.status_code == 202 and r.json() == {"accepted": 2, "replaced": 1}, r.text
    assert [(p["ts"], p["value"]) for p in admin.points(dev, "t")] == [(now, 2)]
    # and across requests
    r = post(iotad, key, json={"ts": now, "metrics": {"t": 3}})
    assert r.json() == {"accepted": 1, "replaced": 1}
    assert [p["value"] for p in admin.points(dev, "t")] == [3]
    # 130 points close a 120-point chunk; a point older than it is not stored, and said so
    base = now - 600_000
    r = post(iotad, key, json=[{"ts": base + i, "metrics": {"c": i}} for i in range(130)])
    assert r.json() == {"accepted": 130}
    r = post(iotad, key, json=[{"ts": base + 5, "metrics": {"c": -1}},
                               {"ts": now, "metrics": {"c": 7}}])
    assert r.json() == {"accepted": 1, "too_old": 1}, r.text
    assert -1 not in [p["value"] for p in admin.points(dev, "c", limit=1000)]


def test_a_boolean_is_not_a_number_and_a_metric_is_named_once_per_object(iotad, admin):
    # Issue 11 #11: `true` was stored as 1, and {"t":1,"t":2} gave two points of which one
    # remained. Now both are 400, the same on every format, and nothing of the batch is stored.
    dev, key = admin.device_with_key()
    now = int(time.time() * 1000)
    cases = [
        ('{"metrics": {"door": true}}', "application/json", "type", "got a boolean"),
        ('[{"metric": "door", "value": false}]', "application/json", "type", "got a boolean"),
        ('[{"n": "door", "v": true}]', "application/senml+json", "type", "got a boolean"),
        ('{"metrics": {"t": 1, "u": 2, "t": 3}}', "application/json", "syntax",
         'duplicate metric "t"'),
        (f"m t=1,u=2,t=3 {now}", "text/plain", "syntax", 'duplicate field (metric "m.t")'),
    ]
    for body, ctype, error, message in cases:
        r = post(iotad, key, body=body, ctype=ctype)
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert r.json()["error"] == error and message in r.json()["message"], (body, r.json())
    assert admin.points(dev) == []
    # where the format has a boolean type it stays one: SenML "vb", line protocol t/f
    r = post(iotad, key, body='[{"n": "door", "vb": true, "t": %.3f}]' % (now / 1000),
             ctype="application/senml+json")
    assert r.status_code == 202, r.text
    r = post(iotad, key, body=f"gate open=f {now}", ctype="text/plain")
    assert r.status_code == 202, r.text
    assert [p["value"] for p in admin.points(dev, "door")] == [1]
    assert [p["value"] for p in admin.points(dev, "gate.open")] == [0]
    # one series in two objects, lines or records is two points: the later one stays
    r = post(iotad, key, json=[{"ts": now, "metrics": {"t": 1}}, {"ts": now, "metrics": {"t": 2}}])
    assert r.json() == {"accepted": 2, "replaced": 1}


def test_data_queries_include_from_and_exclude_to(iotad, admin):
    # Issue 11 #11: the bounds are [from, to), as documented in docs/guide.md
    dev, key = admin.device_with_key()
    base = int(time.time() * 1000) - 60_000
    assert post(iotad, key, json=[{"ts": base + i * 1000, "metrics": {"v": i}}
                                  for i in range(3)]).status_code == 202
    got = admin.get(f"/api/v1/devices/{dev}/data",
                    params={"metric": "v", "from": base, "to": base + 2000}).json()["points"]
    assert [p["ts"] for p in got] == [base, base + 1000]
    got = admin.get(f"/api/v1/devices/{dev}/data",
                    params={"metric": "v", "from": base + 2000, "to": base + 3000}).json()
    assert [p["ts"] for p in got["points"]] == [base + 2000]
