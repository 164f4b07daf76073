"""Fixtures for integration tests: a real iotad process on free loopback ports with a
temporary data directory, and helpers to talk to it with real clients (requests, paho).

Store back-ends: the `iotad` fixture runs each test on SQLite, and also on PostgreSQL in the
modules that set STORE_BACKENDS = ("sqlite", "postgresql") (the core files: ingest, query,
rules and anomalies, alerts, incidents, auth). PostgreSQL is started once per session
(tests/services.py, a free loopback port) and every test gets a database of its own. A test
that is about SQLite itself (a file-level fault, the database file) is marked
@pytest.mark.sqlite_only("why") and runs on SQLite only. IOTAD_TEST_STORES=sqlite (or
postgresql) narrows every module to that back-end.

Server per test or per module: the `iotad` fixture starts a server for each test (~0.4 s of
CPU, a few seconds of wall time on the loaded CI machine). A module whose tests only create
and read devices of their own, and read server-wide counters as differences (sample_value
before and after), overrides `iotad` with `shared_iotad`: one server per module and back-end
(test_ingest_http, test_mqtt). Not for tests that change settings, rules, users or the admin's
session, restart the server, or count anything server-wide: those keep a server each."""
import itertools
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("IOTAD_BIN", os.path.join(ROOT, "build-test", "iotad"))
ADMIN_EMAIL = "admin@localhost"
ADMIN_PASSWORD = "admin-password-for-tests"

sys.path.insert(0, os.path.join(ROOT, "tests"))
import services  # noqa: E402  (tests/services.py: the real PostgreSQL)
from services import free_port  # noqa: E402,F401  (the one free-port helper, re-exported)


class Iotad:
    """One iotad server process. Ports are chosen by the kernel (port 0) and read back from
    the server's 'listening' log line, so parallel tests never collide."""

    def __init__(self, data_dir=None, env=None, args=(), log_path=None, nofile=None, store=None):
        self.tmp = None
        self.store = store  # None: SQLite in data_dir; else a postgresql:// URL
        self.nofile = nofile  # RLIMIT_NOFILE (soft and hard) of the server process
        if data_dir is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="iotad-test-")
            data_dir = self.tmp.name
        self.data_dir = data_dir
        self.extra_env = dict(env or {})
        self.args = list(args)
        self.proc = None
        # a log outside the data directory survives a data directory that is full
        self.log_path = log_path or os.path.join(data_dir, "iotad.log")
        self.start()

    def start(self):
        env = dict(os.environ)
        env.update({
            "IOTAD_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "IOTAD_FAST_HASH": "1",
            "IOTAD_LOG_LEVEL": "info",
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
        })
        env.update(self.extra_env)
        cmd = [BIN, "serve", "--data-dir", self.data_dir, "--http-listen", "127.0.0.1:0",
               "--mqtt-listen", "127.0.0.1:0", "--web-dir", os.path.join(ROOT, "web", "dist")]
        if self.store:
            cmd += ["--store", self.store]
        cmd += self.args
        self.log = open(self.log_path, "ab")
        offset = os.path.getsize(self.log_path)
        limit = None
        if self.nofile:
            import resource
            n = self.nofile

            def limit():
                resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=limit)
        deadline = time.time() + 30
        while time.time() < deadline:
            text = self.read_log()[offset:]
            m = re.findall(r"msg=listening http_port=(\d+) mqtt_port=(\d+)", text) or re.findall(
                r'"event.action":"listening".*"iotad.http_port":"(\d+)","iotad.mqtt_port":"(\d+)"',
                text)
            if m:
                self.http_port, self.mqtt_port = int(m[-1][0]), int(m[-1][1])
                self.url = f"http://127.0.0.1:{self.http_port}"
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"iotad exited with {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError("iotad did not start within 30 s:\n" + self.read_log()[-3000:])

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the server; returns its exit code. SIGKILL simulates a crash."""
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("iotad did not stop in time:\n" + self.read_log()[-3000:])
        finally:
            self.log.close()
            self.proc = None
        log = self.read_log()
        assert "ERROR: AddressSanitizer" not in log, log[-5000:]
        assert "runtime error:" not in log, log[-5000:]
        if sig == signal.SIGTERM:
            assert "LeakSanitizer" not in log, log[-5000:]
        return rc

    def restart(self):
        self.stop()
        self.start()

    def sql(self, statement, *rows):
        """Runs one statement with ? parameters behind the server's back (fixtures, tampering)
        on its store, the SQLite file or the PostgreSQL database, committed; each of rows is
        one execution (none: once without parameters). The last execution's rows."""
        if self.store:
            import psycopg2
            db = psycopg2.connect(self.store)
            try:
                with db, db.cursor() as cur:
                    for params in rows or [None]:
                        cur.execute(statement.replace("%", "%%").replace("?", "%s")
                                    if params is not None else statement, params)
                    return cur.fetchall() if cur.description else []
            finally:
                db.close()
        import sqlite3
        db = sqlite3.connect(os.path.join(self.data_dir, "iotad.db"), timeout=10)
        try:
            for params in rows or [()]:
                cur = db.execute(statement, params)
            out = cur.fetchall()
            db.commit()
            return out
        finally:
            db.close()

    def close(self):
        if self.proc is not None:
            rc = self.stop()
            assert rc == 0, f"iotad exit code {rc}:\n{self.read_log()[-3000:]}"
        if self.tmp:
            self.tmp.cleanup()

    # --- API helpers -----------------------------------------------------------------
    def login(self, email=ADMIN_EMAIL, password=ADMIN_PASSWORD):
        r = requests.post(self.url + "/api/v1/auth/login",
                          json={"email": email, "password": password}, timeout=10)
        assert r.status_code == 200, r.text
        return Client(self.url, r.json()["token"])

    def admin(self):
        return self.login()


class Client:
    """A logged-in API client (bearer token)."""

    def __init__(self, url, token):
        self.url = url
        self.token = token
        self.s = requests.Session()
        self.s.headers["Authorization"] = "Bearer " + token

    def get(self, path, **kw):
        return self.s.get(self.url + path, timeout=30, **kw)

    def post(self, path, json=None, **kw):
        return self.s.post(self.url + path, json=json, timeout=30, **kw)

    def patch(self, path, json=None, **kw):
        return self.s.patch(self.url + path, json=json, timeout=30, **kw)

    def delete(self, path, **kw):
        return self.s.delete(self.url + path, timeout=30, **kw)

    def create_device(self, name="dev", **fields):
        r = self.post("/api/v1/devices", {"name": name, **fields})
        assert r.status_code == 201, r.text
        return r.json()

    def create_key(self, device_id):
        r = self.post(f"/api/v1/devices/{device_id}/keys")
        assert r.status_code == 201, r.text
        return r.json()["key"]

    def device_with_key(self, name="dev", **fields):
        d = self.create_device(name, **fields)
        return d["id"], self.create_key(d["id"])

    def create_user(self, email, role, password="a-long-test-password"):
        r = self.post("/api/v1/users", {"email": email, "password": password, "role": role,
                                         "name": email.split("@")[0]})
        assert r.status_code == 201, r.text
        return r.json()

    def points(self, device_id, metric=None, **params):
        q = dict(params)
        if metric:
            q["metric"] = metric
        q.setdefault("from", "0")
        r = self.get(f"/api/v1/devices/{device_id}/data", params=q)
        assert r.status_code == 200, r.text
        return r.json()["points"]


def paho_connect(host, port, dev, key, protocol, tls_ca=None, client_id=None):
    """A started paho client (TLS with tls_ca) and the CONNACK return code."""
    import threading

    import paho.mqtt.client as mqtt
    c = mqtt.Client(client_id=client_id or f"t-{dev[:8]}-{protocol}", protocol=protocol)
    if tls_ca:
        c.tls_set(ca_certs=tls_ca)
    c.username_pw_set(dev, key)
    result = {}
    connected = threading.Event()

    def on_connect(client, userdata, flags, rc, properties=None):
        result["rc"] = rc if isinstance(rc, int) else rc.value
        connected.set()

    c.on_connect = on_connect
    c.connect(host, port, keepalive=30)
    c.loop_start()
    assert connected.wait(10), "no CONNACK"
    return c, result["rc"]


def wait_for(fn, timeout=10.0, interval=0.05):
    """Polls fn until it returns a truthy value; returns it or raises on timeout."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last={last!r})")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "sqlite_only(reason): the test is about SQLite itself; not run on PostgreSQL")


def pytest_generate_tests(metafunc):
    if "store_backend" not in metafunc.fixturenames:
        return
    backends = getattr(metafunc.module, "STORE_BACKENDS", ("sqlite",))
    if metafunc.definition.get_closest_marker("sqlite_only"):
        backends = ("sqlite",)
    only = os.environ.get("IOTAD_TEST_STORES")
    if only:
        backends = tuple(b for b in backends if b in only.split(",")) or ("sqlite",)
    # module scope: a module's tests run grouped by back-end, so a module-scoped server
    # (shared_iotad) starts once per back-end
    metafunc.parametrize("store_backend", backends, indirect=True, scope="module")


@pytest.fixture(scope="module")
def store_backend(request):
    return getattr(request, "param", "sqlite")


_pg_dbs = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL for the session, started by the first test that needs it."""
    pg = services.Postgres()
    yield pg
    pg.close()


@pytest.fixture
def store_url(store_backend, request):
    """The --store value of the test's iotad: None (SQLite) or a fresh PostgreSQL database."""
    if store_backend == "sqlite":
        return None
    pg = request.getfixturevalue("pg_server")
    return pg.create_db(f"iotad_t{os.getpid()}_{next(_pg_dbs)}")


@pytest.fixture
def iotad(store_url):
    srv = Iotad(store=store_url)
    yield srv
    srv.close()


@pytest.fixture
def admin(iotad):
    return iotad.admin()


@pytest.fixture(scope="module")
def shared_iotad(store_backend, request):
    """One server for every test of a module on one back-end. A module opts in by overriding
    `iotad` with a fixture returning it (see test_ingest_http); only for tests that create
    their own devices, read only those, and read server-wide counters as differences
    (sample_value before and after), so that no order between them matters. Saves a server
    start and stop per test (~0.4 s of CPU; ~3 s of wall time on the loaded CI machine)."""
    url = None
    if store_backend != "sqlite":
        url = request.getfixturevalue("pg_server").create_db(
            f"iotad_m{os.getpid()}_{next(_pg_dbs)}")
    srv = Iotad(store=url)
    yield srv
    srv.close()


def sample_value(url, sample):
    """The value of one /metrics sample (`name{labels}` as printed), 0 when absent."""
    text = requests.get(url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0
