"""PostgreSQL restarted under ingest (docs/scaling.md): iotad on `--store postgresql://...`
with devices publishing on MQTT 5 QoS 1, MQTT 3.1.1 QoS 1 and HTTP while the server crashes
(immediate stop: recovery at the next start) or stops cleanly, then starts again. While it is
down ingest is refused cleanly (MQTT 5 PUBACK 0x80, MQTT 3.1.1 connection closed, HTTP 503 +
Retry-After, /readyz 503 store_failing, counted), nothing is acknowledged; once it is back
ingest resumes by itself, the API answers again on its own connection, and every acknowledged
point is stored."""
import time

import pytest

import services
from conftest import Iotad, wait_for
from test_cluster_bus import Load


@pytest.fixture
def pg():
    """A PostgreSQL of its own: the test stops and starts it."""
    server = services.Postgres()
    yield server
    server.close()


@pytest.mark.parametrize("mode", ["immediate", "fast"], ids=["crash", "clean-stop"])
def test_postgresql_restarted_under_ingest_refuses_cleanly_then_resumes_losing_nothing(pg, mode):
    node = Iotad(store=pg.create_db("iotad"))
    load = None
    try:
        admin = node.admin()
        devs = [admin.device_with_key(f"load{i}") for i in range(3)]
        load = Load(node, devs)
        wait_for(lambda: all(len(v) > 20 for v in load.acked.values()), timeout=60)
        pg.stop(mode)
        r = wait_for(lambda: [x for x in [admin.get("/readyz")] if x.status_code == 503],
                     timeout=30)[0]
        assert r.json()["reason"] == "store_failing", r.text
        wait_for(lambda: all(n > 0 for n in load.refused.values()), timeout=30)
        before = load.total()
        time.sleep(1)
        assert load.total() == before, "acknowledged while PostgreSQL was down"
        assert load.v5_reasons == {0x80}
        assert load.http_retry_after and all(int(x) > 0 for x in load.http_retry_after)
        # the API says the store is away (not "log in": the session is fine), and when to retry
        r = admin.get("/api/v1/devices")
        assert r.status_code == 503 and r.json()["error"] == "store_unavailable", r.text
        assert int(r.headers["Retry-After"]) > 0

        pg.start()
        # back by itself: ready, the API's own connection works again, acks resume everywhere
        wait_for(lambda: admin.get("/readyz").status_code == 200, timeout=60, interval=0.2)
        wait_for(lambda: admin.get("/api/v1/devices").status_code == 200, timeout=10)
        resumed = {d: len(v) for d, v in load.acked.items()}
        wait_for(lambda: all(len(load.acked[d]) > resumed[d] + 20 for d in resumed), timeout=60)
        load.finish()
        for dev, acked in load.acked.items():
            stored = {p["ts"] for p in admin.points(dev, "v", limit=100000)}
            assert acked <= stored, f"{len(acked - stored)} acknowledged points of {dev} lost"
        assert "pg_reconnected" in node.read_log()
    finally:
        if load:
            load.finish()
        node.close()
