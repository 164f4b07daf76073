"""Nodes of a cluster on one PostgreSQL database (issue 13: "sessions valid on every node",
alert channel secrets): two nodes started at the same moment on an empty database both come
up, with one first Admin, one key binding and an audit chain that verifies; they share one key
file (a running node holds a shared lock, `iotad secrets rotate` needs the exclusive one and is
refused while any node runs); a channel secret set through node A is opened by node B, which
signs a webhook with it; a session made on node A works on node B, and its logout on A ends it
on B. The key file is either written by the first node (both name one path) or made
beforehand with `iotad secrets init` and mounted like a Kubernetes Secret (root-owned, 0440)."""
import os
import subprocess
import threading

import pytest

from conftest import BIN, Client, Iotad
from test_alerts import Receiver, channel, verify_signature, wait_for


def start_together(n, store, key_file, tmp_path):
    """n nodes started from n threads released at one instant; the nodes, in start order."""
    gate = threading.Barrier(n)
    out = [None] * n

    def run(i):
        gate.wait()
        try:
            out[i] = Iotad(data_dir=str(tmp_path / f"node{i}"), store=store,
                           env={"IOTAD_ALERT_ALLOW_PRIVATE": "1"},
                           args=["--key-file", key_file])
        except Exception as e:  # noqa: BLE001 (reported below, with the node's log)
            out[i] = e

    for i in range(n):
        os.makedirs(tmp_path / f"node{i}", mode=0o700)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = [e for e in out if isinstance(e, Exception)]
    if failed:
        for node in out:
            if isinstance(node, Iotad):
                node.close()
        raise AssertionError(f"{len(failed)} of {n} nodes did not start: {failed[0]}")
    return out


@pytest.fixture
def hook():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.mark.parametrize("keys", ["first-node-writes", "secrets-init-as-k8s-secret"])
def test_two_nodes_start_together_and_share_keys_secrets_and_sessions(pg_server, tmp_path,
                                                                      hook, keys):
    store = pg_server.create_db(f"nodes_{keys.replace('-', '_')}")
    key_file = str(tmp_path / "shared" / "iotad.keys")
    os.makedirs(os.path.dirname(key_file), mode=0o700)
    if keys == "secrets-init-as-k8s-secret":
        r = subprocess.run([BIN, "secrets", "init", "--key-file", key_file],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "key file written" in r.stdout
        r = subprocess.run([BIN, "secrets", "init", "--key-file", key_file],
                           capture_output=True, text=True)
        assert r.returncode == 2 and "exists" in r.stderr  # never replaces keys
        os.chmod(key_file, 0o440)  # a Secret volume for a pod with an fsGroup: root:fsGroup 0440
    a, b = start_together(2, store, key_file, tmp_path)
    try:
        # one first Admin, made by one node; the other found it
        assert a.sql("SELECT count(*) FROM users") == [(1,)]
        logs = a.read_log() + b.read_log()
        assert logs.count("admin_created") == 1, logs[-3000:]
        assert a.sql("SELECT count(*) FROM audit_log WHERE action = 'audit.keyed'") == [(1,)]
        assert logs.count("key_file_created") == (1 if keys == "first-node-writes" else 0)

        # a session made on A works on B; logging out on A ends it on B
        adm_a = a.admin()
        on_b = Client(b.url, adm_a.token)
        assert on_b.get("/api/v1/devices").status_code == 200
        assert on_b.get("/api/v1/auth/me").json()["role"] == "admin"
        s2 = a.admin()
        assert s2.post("/api/v1/auth/logout", {}).status_code in (200, 204)
        assert Client(b.url, s2.token).get("/api/v1/devices").status_code == 401

        # the shared key file is in use: rotate needs every node stopped
        r = subprocess.run([BIN, "secrets", "rotate", "--store", store, "--key-file", key_file],
                           capture_output=True, text=True)
        assert r.returncode == 2 and "in use" in r.stderr, r.stderr

        # a webhook secret set through A, A stopped: B opens it and signs with it
        ch = channel(adm_a, name="ops", kind="webhook", url=hook.url,
                     secret="shared-hmac-secret-42")
        assert a.stop() == 0
        adm_b = b.admin()
        r = adm_b.post(f"/api/v1/alert-channels/{ch['id']}/test", {})
        assert r.status_code == 202, r.text
        wait_for(lambda: hook.got(), timeout=20)
        assert verify_signature(hook.got()[-1], "shared-hmac-secret-42")
        assert "secret_open_failed" not in b.read_log()

        # the audit chain both nodes appended to verifies with the shared key file
        assert b.stop() == 0
        r = subprocess.run([BIN, "audit", "verify", "--store", store, "--key-file", key_file,
                            "--data-dir", b.data_dir], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        a.close()
        b.close()


def test_a_node_without_the_shared_key_file_is_refused_with_a_reason(pg_server, tmp_path):
    store = pg_server.create_db("nodes_other_key")
    for d in ("a", "b", "c"):
        os.makedirs(tmp_path / d, mode=0o700)
    first = Iotad(data_dir=str(tmp_path / "a"), store=store)
    try:
        with pytest.raises(RuntimeError):
            Iotad(data_dir=str(tmp_path / "b"), store=store)  # no key file
        log = (tmp_path / "b" / "iotad.log").read_text()
        assert "is missing, but this database was created with one" in log, log
        assert "The nodes of a cluster share one key file" in log, log
        other = str(tmp_path / "other.keys")
        subprocess.run([BIN, "secrets", "init", "--key-file", other], check=True,
                       capture_output=True)
        with pytest.raises(RuntimeError):
            Iotad(data_dir=str(tmp_path / "c"), store=store, args=["--key-file", other])
        log = (tmp_path / "c" / "iotad.log").read_text()
        assert "does not belong to this database" in log and "iotad secrets init" in log, log
    finally:
        first.close()
