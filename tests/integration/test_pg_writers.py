"""Two iotad nodes writing one PostgreSQL database (docs/scaling.md, "Several nodes on one
database"): both ingest (HTTP, devices of their own) at the same time, each checkpoints on its
own schedule, one is killed (-9) after the other's checkpoint, then both restart; every
acknowledged point of both is readable, from either node.

What it guards: each node's log rows take their ids from the database's sequence (a counter per
node collided: the second node's commits failed), and a checkpoint cuts only its own node's
log rows (cutting every node's lost the points another node had only in its log), and a node
replays only its own log rows at open (replaying another's made its checkpoint write a stale
copy of that node's open chunk over the newer one)."""
import os
import shutil
import signal
import tempfile
import threading
import time

import pytest
import requests

from conftest import Iotad, wait_for

BATCH = 20


@pytest.fixture
def db(pg_server):
    return pg_server.create_db(f"iotad_w{os.getpid()}_{int(time.time() * 1000) % 10**9}")


class Ingest:
    """HTTP batches of unique timestamps from each device to its node, in a thread per device,
    until stopped. Records acknowledged (202) timestamps and every other answer."""

    def __init__(self, devs):
        self.devs = devs  # [(node, device id, key)]
        self.acked = {d: set() for _, d, _ in devs}
        self.other = []
        self.stop = threading.Event()
        self.base = int(time.time() * 1000) - 7_200_000
        self.next = {d: self.base + i * 1_000_000 for i, (_, d, _) in enumerate(devs)}

    def run(self, batches, devs=None, until=None):
        """Each device (of devs, default all) posts `batches` batches, or until the event
        `until` is set, all at once; returns when all did."""
        threads = [threading.Thread(target=self._dev, args=(n, d, k, batches, until),
                                    daemon=True) for n, d, k in devs or self.devs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)

    def _dev(self, node, dev, key, batches, until):
        http = requests.Session()
        sent = 0
        while (until.is_set() is False) if until else sent < batches:
            sent += 1
            if until:
                time.sleep(0.02)
            ts = self.next[dev]
            self.next[dev] += BATCH
            body = [{"ts": ts + i, "metrics": {"v": i, "w": -i}} for i in range(BATCH)]
            try:
                r = http.post(node.url + "/api/v1/ingest", headers={"X-API-Key": key},
                              json=body, timeout=30)
            except requests.RequestException as e:
                self.other.append((dev, repr(e)))
                continue
            if r.status_code == 202:
                self.acked[dev].update(ts + i for i in range(BATCH))
            else:
                self.other.append((dev, r.status_code, r.text[:200]))


def test_two_nodes_share_one_database_and_lose_no_acknowledged_point(db):
    # node A checkpoints every second, node B only when it stops: A's checkpoints run while
    # B's points are only in its log rows
    a = Iotad(store=db, args=["--checkpoint-interval-s", "1"])
    b_dir = tempfile.TemporaryDirectory(prefix="iotad-test-b-")
    b = None
    try:
        # the key file belongs to the database: every node of it has a copy
        shutil.copy(os.path.join(a.data_dir, "iotad.keys"), b_dir.name)
        b = Iotad(data_dir=b_dir.name, store=db, args=["--checkpoint-interval-s", "3600"])
        node_ids = {open(os.path.join(n.data_dir, "node.id")).read().strip() for n in (a, b)}
        assert len(node_ids) == 2, node_ids
        admin_a, admin_b = a.admin(), b.admin()
        devs = [(a, *admin_a.device_with_key(f"a{i}")) for i in range(2)] + \
               [(b, *admin_b.device_with_key(f"b{i}")) for i in range(2)]
        load = Ingest(devs)

        load.run(40)  # 800 points per device and metric: full chunks and open ones
        assert not load.other, load.other[:5]
        time.sleep(2.5)  # A checkpoints (twice at least); B does not
        # B's points are in its log rows only (and its memory): a crash keeps the log. A goes
        # on ingesting meanwhile: B opens while A's log has rows that are A's to keep
        b_back = threading.Event()
        on_a = threading.Thread(target=load.run, args=(0, devs[:2], b_back), daemon=True)
        on_a.start()
        time.sleep(0.5)
        assert b.stop(signal.SIGKILL) == -signal.SIGKILL
        b.start()
        load.run(13, devs[2:])  # B goes on from what it recovered
        b_back.set()
        on_a.join(300)
        assert not load.other, load.other[:5]
        # both checkpoint at a clean stop, then start again on the same database
        a.stop()
        b.stop()
        rows = a.sql("SELECT COUNT(*) FROM points_log")[0][0]
        assert rows == 0, f"{rows} log rows left after both nodes stopped cleanly"
        a.start()
        b.start()
        for client in (a.admin(), b.admin()):
            for _, dev, _ in devs:
                for metric in ("v", "w"):
                    stored = {p["ts"] for p in client.points(dev, metric, limit=100000)}
                    lost = load.acked[dev] - stored
                    assert not lost, f"{len(lost)} of {len(load.acked[dev])} acknowledged " \
                                     f"points of {dev}/{metric} lost (read on {client.url})"
                    assert len(stored) == len(load.acked[dev])
    finally:
        if b:
            b.close()
        b_dir.cleanup()
        a.close()
