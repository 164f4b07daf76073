"""The audit log an intruder cannot rewrite unseen (issue 14, item 1): the chain is keyed with a
key outside the database and anchored by Ed25519-signed checkpoints written outside it.
The forgeries are done the way an intruder with write access to the database file would:
drop the triggers, edit, recompute every later hash, or cut the tail."""
import hashlib
import hmac
import os
import sqlite3
import subprocess

import pytest
import requests

from conftest import BIN, Iotad


def canonical(row):
    """The chain's canonical encoding of (seq, ts, actor, action, target, detail, peer)."""
    out = b""
    for v in row:
        if v is None:
            out += b"-;"
            continue
        b = str(v).encode()
        out += str(len(b)).encode() + b":" + b + b";"
    return out


def rehash(db_path, from_seq, key=None):
    """Recomputes prev_hash/hash of every row from from_seq on: plain SHA-256 (the old, unkeyed
    chain) or, with key, HMAC-SHA-256 (an intruder who stole the key file)."""
    db = sqlite3.connect(db_path)
    db.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    rows = db.execute("SELECT seq, ts, actor, action, target, detail, peer FROM audit_log "
                      "WHERE seq >= ? ORDER BY seq", (from_seq,)).fetchall()
    prev = db.execute("SELECT hash FROM audit_log WHERE seq = ?", (from_seq - 1,)).fetchone()
    prev = prev[0] if prev else "0" * 64
    for r in rows:
        data = prev.encode() + b"\n" + canonical(r)
        h = hmac.new(key, data, hashlib.sha256).hexdigest() if key else \
            hashlib.sha256(data).hexdigest()
        db.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, r[0]))
        prev = h
    db.commit()
    db.close()


def read_key(data_dir, name):
    with open(os.path.join(data_dir, "iotad.keys")) as f:
        for line in f:
            if line.startswith(name + " "):
                return bytes.fromhex(line.split("=")[1].strip())
    raise AssertionError(name + " not in the key file")


def verify(data_dir, *extra):
    return subprocess.run([BIN, "audit", "verify", "--data-dir", data_dir, *extra],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def stopped(tmp_path):
    """A server that wrote some history, including a role change, then stopped cleanly."""
    srv = Iotad(data_dir=str(tmp_path))
    admin = srv.admin()
    u = admin.create_user("mallory@example.com", "device_owner")
    for i in range(4):
        admin.create_device(f"d{i}")
    r = admin.patch(f"/api/v1/users/{u['id']}", {"role": "analyst"})
    assert r.status_code == 200
    assert srv.stop() == 0
    srv.log.close()
    yield srv, str(tmp_path), os.path.join(str(tmp_path), "iotad.db")


def role_change_seq(db_path):
    db = sqlite3.connect(db_path)
    seq = db.execute("SELECT seq FROM audit_log WHERE action = 'user.role_change'").fetchone()[0]
    db.close()
    return seq


def test_keyed_chain_with_checkpoints_verifies(stopped):
    _, data_dir, db_path = stopped
    r = verify(data_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "intact" in r.stdout and "keyed (HMAC) from seq 1" in r.stdout
    assert "signed checkpoints" in r.stdout
    # files outside the database hold what the database must not: keys, checkpoints
    assert os.stat(os.path.join(data_dir, "iotad.keys")).st_mode & 0o777 == 0o600
    assert os.stat(os.path.join(data_dir, "audit.checkpoints")).st_mode & 0o077 == 0
    db = sqlite3.connect(db_path)
    head = db.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    db.close()
    with open(os.path.join(data_dir, "audit.checkpoints")) as f:
        last = f.read().splitlines()[-1]
    assert f"seq={head[0]} head={head[1]} sig=" in last


def edit_role_change(db_path, detail):
    """Rewrites the detail of the role change row (as raw file access allows); its seq."""
    seq = role_change_seq(db_path)
    db = sqlite3.connect(db_path)
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("UPDATE audit_log SET detail = ? WHERE seq = ?", (detail, seq))
    db.commit()
    db.close()
    return seq


def test_edit_and_unkeyed_rehash_is_detected(stopped):
    """The review's forgery: edit a role change and recompute the hashes after it."""
    _, data_dir, db_path = stopped
    seq = edit_role_change(db_path, '{"role":"device_owner"}')
    rehash(db_path, seq)
    r = verify(data_dir)
    assert r.returncode == 1, r.stdout
    assert f"BROKEN at seq {seq}" in r.stdout and "hash mismatch" in r.stdout


def test_rehash_with_a_stolen_key_is_caught_by_the_checkpoints(stopped):
    _, data_dir, db_path = stopped
    seq = edit_role_change(db_path, "{}")
    rehash(db_path, seq, key=read_key(data_dir, "audit_mac"))
    r = verify(data_dir)
    assert r.returncode == 1, r.stdout
    assert "signed checkpoint" in r.stdout and "rewritten" in r.stdout


def test_tail_cut_is_detected(stopped):
    _, data_dir, db_path = stopped
    db = sqlite3.connect(db_path)
    n = db.execute("SELECT MAX(seq) FROM audit_log").fetchone()[0]
    db.execute("DROP TRIGGER audit_log_no_delete")
    db.execute("DELETE FROM audit_log WHERE seq > ?", (n - 3,))
    db.commit()
    db.close()
    r = verify(data_dir)
    assert r.returncode == 1, r.stdout
    assert f"BROKEN at seq {n - 2}" in r.stdout and "tail cut" in r.stdout


def test_checkpoint_copy_and_public_key_verify_elsewhere(stopped, tmp_path_factory):
    _, data_dir, db_path = stopped
    pub = subprocess.run([BIN, "audit", "public-key", "--data-dir", data_dir],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert len(pub) == 64
    copy = tmp_path_factory.mktemp("offsite") / "checkpoints"
    with open(os.path.join(data_dir, "audit.checkpoints")) as f:
        copy.write_text(f.read())
    r = verify(data_dir, "--checkpoint", str(copy), "--public-key", pub)
    assert r.returncode == 0, r.stdout + r.stderr
    # the intruder also rewrites the local checkpoint file: the copy still finds the cut
    db = sqlite3.connect(db_path)
    n = db.execute("SELECT MAX(seq) FROM audit_log").fetchone()[0]
    db.execute("DROP TRIGGER audit_log_no_delete")
    db.execute("DELETE FROM audit_log WHERE seq = ?", (n,))
    db.commit()
    db.close()
    os.remove(os.path.join(data_dir, "audit.checkpoints"))
    r = verify(data_dir, "--checkpoint", str(copy), "--public-key", pub)
    assert r.returncode == 1 and "tail cut" in r.stdout
    # a checkpoint signed with another key is refused
    other = "11" * 32
    r = verify(data_dir, "--checkpoint", str(copy), "--public-key", other)
    assert r.returncode == 1 and "bad signature" in r.stdout


def test_forged_checkpoint_line_is_refused(stopped):
    _, data_dir, _ = stopped
    path = os.path.join(data_dir, "audit.checkpoints")
    with open(path) as f:
        lines = f.read().splitlines()
    forged = lines[-1].replace("seq=", "seq=9")  # a later head the intruder cannot sign
    with open(path, "a") as f:
        f.write(forged + "\n")
    r = verify(data_dir)
    assert r.returncode == 1 and "bad signature" in r.stdout


def test_moved_key_binding_is_detected(stopped):
    """keyed_from cannot be moved to pass keyed rows off as old unkeyed ones."""
    _, data_dir, db_path = stopped
    db = sqlite3.connect(db_path)
    v = db.execute("SELECT value FROM settings WHERE key = 'audit.binding'").fetchone()[0]
    db.execute("UPDATE settings SET value = ? WHERE key = 'audit.binding'",
               ("1000" + v[v.index(":"):],))
    db.commit()
    db.close()
    r = verify(data_dir)
    assert r.returncode == 1 and "binding" in r.stdout


def test_missing_or_foreign_key_file_refuses_to_start(stopped, tmp_path_factory):
    srv, data_dir, _ = stopped
    keys = os.path.join(data_dir, "iotad.keys")
    os.rename(keys, keys + ".bak")
    with pytest.raises(RuntimeError) as e:
        Iotad(data_dir=data_dir)
    assert "key file" in str(e.value) and "missing" in str(e.value)
    r = verify(data_dir)
    assert r.returncode == 2
    # a key file from another installation does not fit either
    other = Iotad(data_dir=str(tmp_path_factory.mktemp("other")))
    other.close()
    os.replace(os.path.join(other.data_dir, "iotad.keys"), keys)
    with pytest.raises(RuntimeError) as e:
        Iotad(data_dir=data_dir)
    assert "does not belong" in str(e.value)
    # the right one works again
    os.replace(keys + ".bak", keys)
    again = Iotad(data_dir=data_dir)
    try:
        r = again.admin().get("/api/v1/audit/verify").json()
        assert r["intact"] is True and r["checkpoints"] >= 2 and r["keyed_from"] == 1
    finally:
        again.close()


def test_api_verify_reports_a_cut_tail(tmp_path):
    srv = Iotad(data_dir=str(tmp_path), args=["--audit-checkpoint-s", "1"])
    try:
        admin = srv.admin()
        admin.create_device("a")
        cp = os.path.join(str(tmp_path), "audit.checkpoints")
        db_path = os.path.join(str(tmp_path), "iotad.db")

        def checkpointed():
            db = sqlite3.connect(db_path)
            n = db.execute("SELECT MAX(seq) FROM audit_log").fetchone()[0]
            db.close()
            with open(cp) as f:
                return n if f"seq={n} " in f.read() else None

        import time
        deadline = time.time() + 10
        n = None
        while time.time() < deadline and not n:
            n = checkpointed()
            time.sleep(0.1)
        assert n, "no checkpoint of the head within 10 s"
        db = sqlite3.connect(db_path)
        db.execute("DROP TRIGGER audit_log_no_delete")
        db.execute("DELETE FROM audit_log WHERE seq = ?", (n,))
        db.commit()
        db.close()
        r = requests.get(srv.url + "/api/v1/audit/verify", timeout=10,
                         headers={"Authorization": "Bearer " + admin.token}).json()
        assert r["intact"] is False and "tail cut" in r["reason"]
    finally:
        srv.close()


def test_a_fifo_as_checkpoint_file_refuses_to_start_instead_of_hanging(tmp_path):
    # open(O_WRONLY) of a FIFO without a reader blocks: at start, and on the event loop at
    # every checkpoint. It is refused as not a regular file, and `audit verify` says the same.
    fifo = str(tmp_path / "checkpoints.fifo")
    os.mkfifo(fifo)
    (tmp_path / "d").mkdir()
    with pytest.raises(RuntimeError) as e:
        Iotad(data_dir=str(tmp_path / "d"), args=["--audit-checkpoint-file", fifo])
    assert "audit_checkpoint_failed" in str(e.value) and "not a regular file" in str(e.value)
    r = subprocess.run([BIN, "audit", "verify", "--data-dir", str(tmp_path / "d"),
                        "--checkpoint", fifo], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "not a regular file" in r.stdout + r.stderr, r
