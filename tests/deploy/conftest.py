"""Fixtures for the deployment tests: the container image (built once per run by
`make deploy-test`, named in IOTAD_IMAGE), podman helpers, and the integration tests' API
client and helpers (loaded from tests/integration/conftest.py under another module name)."""
import importlib.util
import json
import os
import subprocess
import time
import uuid

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location(
    "iotad_itest", os.path.join(ROOT, "tests", "integration", "conftest.py"))
itest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(itest)
wait_for, Client, free_port = itest.wait_for, itest.Client, itest.free_port
ADMIN_EMAIL, ADMIN_PASSWORD = itest.ADMIN_EMAIL, itest.ADMIN_PASSWORD
os.environ.setdefault("CONTAINERS_CONF", os.path.join(ROOT, "tests", "deploy", "containers.conf"))


def podman(*args, check=True, timeout=180, input=None):
    r = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                       input=input)
    if check and r.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def image():
    name = os.environ.get("IOTAD_IMAGE")
    assert name, "IOTAD_IMAGE is not set: run these tests with `make deploy-test`"
    podman("image", "exists", name)
    return name


def login(url, email=ADMIN_EMAIL, password=ADMIN_PASSWORD):
    r = requests.post(url + "/api/v1/auth/login", json={"email": email, "password": password},
                      timeout=10)
    assert r.status_code == 200, r.text
    return Client(url, r.json()["token"])


def wait_ready(url, timeout=90, proc_alive=None):
    """Waits for /readyz to answer 200; returns the seconds it took."""
    t0 = time.monotonic()

    def ready():
        if proc_alive is not None:
            assert proc_alive(), "the server exited before it was ready"
        try:
            return requests.get(url + "/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False
    wait_for(ready, timeout=timeout, interval=0.2)
    return time.monotonic() - t0


class Container:
    """One iotad container on the host network (the only network in this sandbox), on free
    loopback ports, with its data in a named volume."""

    def __init__(self, image, volume, env=None, args=(), name=None, mounts=()):
        self.name = name or unique("iotad-test")
        self.http_port, self.mqtt_port = free_port(), free_port()
        self.https_port, self.mqtts_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        e = {"IOTAD_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
             "IOTAD_MQTT_LISTEN": f"127.0.0.1:{self.mqtt_port}",
             "IOTAD_HTTPS_LISTEN": f"127.0.0.1:{self.https_port}",
             "IOTAD_MQTTS_LISTEN": f"127.0.0.1:{self.mqtts_port}",
             "IOTAD_ADMIN_PASSWORD": ADMIN_PASSWORD}
        e.update(env or {})
        cmd = ["run", "-d", "--name", self.name, "--network=host",
               "-v", f"{volume}:/var/lib/iotad", *mounts]
        for k, v in e.items():
            cmd += ["-e", f"{k}={v}"]
        podman(*cmd, image, *args)
        self.startup_s = wait_ready(self.url, proc_alive=self.running)

    def running(self):
        return self.inspect()["State"]["Running"]

    def inspect(self):
        return json.loads(podman("inspect", self.name).stdout)[0]

    def logs(self):
        r = podman("logs", self.name)
        return r.stdout + r.stderr

    def stop(self, timeout=60):
        podman("stop", "-t", str(timeout), self.name, timeout=timeout + 30)
        return self.inspect()["State"]["ExitCode"]

    def remove(self):
        podman("rm", "-f", "-v", self.name, check=False)


@pytest.fixture
def volume():
    name = unique("iotad-test-data")
    podman("volume", "create", name)
    yield name
    podman("volume", "rm", "-f", name, check=False)


def make_cert(directory, name, cn):
    """A self-signed server certificate `<name>.pem` and its key `<name>.key` (EC P-256) for
    localhost and 127.0.0.1, made with the openssl CLI; returns the certificate's path."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key", "-out",
                    f"{name}.pem", "-subj", f"/CN={cn}", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "2"],
                   cwd=directory, check=True, capture_output=True, timeout=60)
    return os.path.join(directory, f"{name}.pem")


def curl_tls(url, cafile):
    """GET over TLS trusting only `cafile`; the completed process (stdout: headers and body)."""
    return subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", cafile, "-D", "-",
                           url], capture_output=True, text=True, timeout=30)
