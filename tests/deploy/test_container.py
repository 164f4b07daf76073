"""The container image, built from the Containerfile with podman and run for real: non-root,
data in a volume, configuration from IOTAD_* variables, the health check on /readyz, a device
publishing over MQTT from outside the container, a graceful stop on SIGTERM, and TLS (the
self-signed certificate and the key file in the volume, a mounted certificate renewed on
SIGHUP)."""
import json
import os
import re
import shutil
import subprocess
import time

import requests

from conftest import Container, curl_tls, login, make_cert, podman, wait_for

# The runtime image's size (docker.io/library/debian:bookworm-slim is 75 MB of it);
# a regression guard, not a target.
MAX_IMAGE_BYTES = 260 * 1000 * 1000


def test_image_metadata_non_root_volume_healthcheck_and_size(image):
    info = json.loads(podman("image", "inspect", image).stdout)[0]
    cfg = info["Config"]
    assert cfg["User"] == "10001:10001"
    assert "/var/lib/iotad" in cfg["Volumes"]
    assert set(cfg["ExposedPorts"]) == {"8080/tcp", "1883/tcp", "8443/tcp", "8883/tcp"}
    assert cfg["StopSignal"] == "SIGTERM"
    assert cfg["Entrypoint"] == ["/usr/bin/iotad"] and cfg["Cmd"] == ["serve"]
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert env["IOTAD_DATA_DIR"] == "/var/lib/iotad"
    assert env["IOTAD_HTTPS_LISTEN"] == "0.0.0.0:8443"
    assert env["IOTAD_MQTTS_LISTEN"] == "0.0.0.0:8883"
    hc = info.get("Healthcheck") or cfg.get("Healthcheck")
    assert hc and "/readyz" in " ".join(hc["Test"]), info
    size = info["Size"]
    print(f"\nimage {image}: {size / 1e6:.1f} MB")
    assert size < MAX_IMAGE_BYTES, size
    # nothing from the build stages: no compiler, no Node.js, no Perl
    r = podman("run", "--rm", "--network=host", "--entrypoint", "sh", image, "-c",
               "command -v cc gcc node npm perl cmake || true")
    assert r.stdout.strip() == "", r.stdout


def test_runtime_packages_are_exactly_what_the_binary_links(image):
    """Every library the binary needs resolves, and the optional back-end client libraries
    (libpq5 for --store postgresql://, librabbitmq4 for --cluster amqp://) are installed only
    when the binary links them."""
    r = podman("run", "--rm", "--network=host", "--entrypoint", "sh", image, "-c",
               "ldd /usr/bin/iotad; echo ---; dpkg-query -W -f '${Package}\\n'")
    ldd, pkgs = r.stdout.split("---")
    assert "not found" not in ldd, ldd
    installed = set(pkgs.split())
    for lib, pkg in (("libpq.so", "libpq5"), ("librabbitmq.so", "librabbitmq4"),
                     ("libmosquitto.so", "libmosquitto1"), ("libuv.so", "libuv1")):
        assert (lib in ldd) == (pkg in installed), (lib, pkg)


def test_container_serves_ingests_and_stops_cleanly(image, volume):
    c = Container(image, volume, env={"IOTAD_LOG_FORMAT": "json", "IOTAD_RETENTION_DAYS": "7"})
    try:
        print(f"\ncontainer ready in {c.startup_s:.1f} s")
        # the process runs as the image's user, not root
        assert podman("exec", c.name, "id", "-u").stdout.strip() == "10001"
        # IOTAD_* variables configure it
        cfg = podman("exec", c.name, "iotad", "config").stdout
        assert re.search(r"^retention_days\s*=\s*7\s*#\s*env$", cfg, re.M), cfg
        # the image's HEALTHCHECK passes (podman runs it on demand here: no systemd timers)
        assert podman("healthcheck", "run", c.name, check=False).returncode == 0
        # the dashboard is served
        r = requests.get(c.url + "/", timeout=10)
        assert r.status_code == 200 and "<html" in r.text.lower()
        admin = login(c.url)
        dev, key = admin.device_with_key("boiler-1", type="thermostat")
        # a device outside the container publishes over MQTT, QoS 1
        pub = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(c.mqtt_port),
                              "-q", "1", "-u", dev, "-P", key, "-t", f"devices/{dev}/telemetry",
                              "-m", '{"metrics":{"temp":21.5}}'],
                             capture_output=True, text=True, timeout=20)
        assert pub.returncode == 0, pub.stderr
        points = wait_for(lambda: admin.points(dev, "temp"))
        assert [p["value"] for p in points] == [21.5]
        rc = c.stop()
        assert rc == 0, c.logs()[-3000:]
        logs = c.logs()
        events = [json.loads(line) for line in logs.splitlines() if line.strip()]
        actions = [e["event.action"] for e in events]
        assert "signal" in actions and actions[-1] == "stopped", actions[-10:]
        sig = next(e for e in events if e["event.action"] == "signal")
        assert sig["iotad.signum"] == "15"
        assert not [e for e in events if e["log.level"] == "error"], logs[-3000:]
    finally:
        c.remove()
    # the data lives in the volume: a new container finds the point
    c2 = Container(image, volume)
    try:
        admin = login(c2.url)
        assert [p["value"] for p in admin.points(dev, "temp")] == [21.5]
        assert c2.stop() == 0
        assert "msg=stopped" in c2.logs()  # logfmt is the default
    finally:
        c2.remove()


def test_health_check_fails_without_a_ready_server(image):
    # the same image with iotad not running: the HEALTHCHECK must report unhealthy
    name = f"iotad-test-idle-{time.time_ns()}"
    podman("run", "-d", "--name", name, "--network=host", "--entrypoint", "sleep", image, "300")
    try:
        r = podman("healthcheck", "run", name, check=False, timeout=60)
        assert r.returncode != 0 and "unhealthy" in (r.stdout + r.stderr), r
    finally:
        podman("rm", "-f", "-v", "-t", "0", name, check=False)


def test_container_tls_self_signed_in_the_volume_then_a_mounted_certificate(image, volume,
                                                                            tmp_path):
    # no certificate given: iotad makes one in the data volume, beside the key file
    c = Container(image, volume)
    try:
        ca = tmp_path / "self-signed.pem"
        ca.write_text(podman("exec", c.name, "cat", "/var/lib/iotad/tls-cert.pem").stdout)
        r = curl_tls(f"https://127.0.0.1:{c.https_port}/readyz", str(ca))
        assert r.returncode == 0 and "HTTP/1.1 200" in r.stdout, r.stderr
        assert "Strict-Transport-Security" in r.stdout
        modes = podman("exec", c.name, "stat", "-c", "%n %u %a", "/var/lib/iotad/iotad.keys",
                       "/var/lib/iotad/tls-key.pem").stdout.split("\n")
        assert modes[:2] == ["/var/lib/iotad/iotad.keys 10001 600",
                             "/var/lib/iotad/tls-key.pem 10001 600"], modes
        # a device outside the container publishes over MQTT with TLS
        admin = login(c.url)
        dev, key = admin.device_with_key("tls-boiler")
        pub = subprocess.run(["mosquitto_pub", "--cafile", str(ca), "-h", "127.0.0.1", "-p",
                              str(c.mqtts_port), "-q", "1", "-u", dev, "-P", key, "-t",
                              f"devices/{dev}/telemetry", "-m", '{"metrics":{"temp":19.5}}'],
                             capture_output=True, text=True, timeout=30)
        assert pub.returncode == 0, pub.stderr
        assert [p["value"] for p in wait_for(lambda: admin.points(dev, "temp"))] == [19.5]
        assert c.stop() == 0
    finally:
        c.remove()

    # the operator's certificate, mounted read-only as a Secret would be (root-owned, group
    # readable by the image's gid), renewed in place and reloaded on SIGHUP
    certs = tmp_path / "tls"
    certs.mkdir()
    one = make_cert(str(certs), "one", "one.iotad.test")
    two = make_cert(str(certs), "two", "two.iotad.test")
    os.chmod(certs, 0o750)
    shutil.copy(one, certs / "fullchain.pem")
    shutil.copy(certs / "one.key", certs / "privkey.pem")
    for f in certs.iterdir():
        os.chown(f, 0, 10001)
        os.chmod(f, 0o640)
    os.chown(certs, 0, 10001)
    c = Container(image, volume, mounts=("-v", f"{certs}:/etc/iotad/tls:ro"),
                  env={"IOTAD_TLS_CERT_FILE": "/etc/iotad/tls/fullchain.pem",
                       "IOTAD_TLS_KEY_FILE": "/etc/iotad/tls/privkey.pem"})
    try:
        url = f"https://127.0.0.1:{c.https_port}/healthz"
        assert curl_tls(url, one).returncode == 0
        assert curl_tls(url, str(ca)).returncode != 0  # the self-signed one is not used
        shutil.copy(two, certs / "fullchain.pem")
        shutil.copy(certs / "two.key", certs / "privkey.pem")
        podman("kill", "--signal", "HUP", c.name)
        wait_for(lambda: "msg=tls_reloaded" in c.logs(), timeout=20)
        r = curl_tls(url, two)
        assert r.returncode == 0 and "HTTP/1.1 200" in r.stdout, r.stderr
        assert c.stop() == 0
    finally:
        c.remove()
