"""The simulated fleet of `iotad serve --simulate` on a first run: a new fleet first sends its
history through the server's own ingest (so the learning detectors have learned and the charts
are not empty), then goes live with an opening scenario whose data fault a learned detector -
not a rule - finds within the first minutes."""
import re
import time

from conftest import Iotad, wait_for


def anomalies(client, **params):
    r = client.get("/api/v1/anomalies", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def from_detectors(a):
    details = a.get("details") or {}
    return details.get("source") == "detectors" and not a["description"].startswith("rule ")


def test_a_new_fleet_has_history_and_a_learned_detector_finds_its_opening_spike():
    srv = Iotad(args=["--simulate", "--sim-devices", "6", "--sim-backfill-days", "1"])
    try:
        admin = srv.admin()
        done = wait_for(lambda: re.search(
            r"msg=sim_backfilled devices=6 days=1 samples=(\d+)", srv.read_log()), timeout=120)
        live_ms = int(time.time() * 1000)
        # a day at one sample a minute, the last two hours at the live rate (5 s)
        assert int(done.group(1)) >= 6 * (22 * 60 + 2 * 720) * 0.95

        spike = wait_for(lambda: re.search(
            r'msg=sim_fault device=(\S+) name="[^"]*" kind=spike metric=(\S+) .*trigger=opening',
            srv.read_log()), timeout=90, interval=0.5)
        dev, metric = spike.groups()

        # history: the metric has points from about a day ago, a minute apart
        day_ago = live_ms - 24 * 3600 * 1000
        old = admin.points(dev, metric, **{"from": str(day_ago), "to": str(day_ago + 3600 * 1000)})
        assert 50 <= len(old) <= 65, old[:3]

        # the spike is found by the detectors (they learned the metric's normal range)
        found = wait_for(lambda: [a for a in anomalies(admin, device_id=dev, metric=metric)
                                  if from_detectors(a) and a["detected_at"] >= live_ms - 5000],
                         timeout=60, interval=0.5)
        assert found[0]["severity"] in ("warning", "critical"), found[0]

        # the fleet did not learn the simulator's own address while backfilling: a device's
        # live connections come from the address its history came from (no new-source alert
        # but the one the opening scenario makes on purpose)
        new_sources = [a for a in anomalies(admin, metric="sys.new_sources")]
        assert len(new_sources) <= 1, new_sources
    finally:
        srv.close()
