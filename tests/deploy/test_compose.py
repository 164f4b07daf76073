"""deploy/compose: the embedded compose file run as shipped with podman-compose (bridge
network, published ports, a named volume, the simulated fleet) from `up` to a stopped
project; the monitoring overlay's mounts, ports and images checked against the files they
name (its Grafana and Prometheus images cannot be pulled here: no registry)."""
import os
import re
import subprocess
import time

import requests
import yaml

from conftest import (ADMIN_PASSWORD, ROOT, curl_tls, free_port, login, podman, unique, wait_for,
                      wait_ready)

COMPOSE_DIR = os.path.join(ROOT, "deploy", "compose")


def compose(project, *args, env=None, timeout=180, check=True):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run(["podman-compose", "-p", project, "-f", "compose.yaml", *args],
                       cwd=COMPOSE_DIR, env=e, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"podman-compose {' '.join(args)}: {r.returncode}\n"
                             f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def online_devices(url):
    text = requests.get(url + "/metrics", timeout=5).text
    m = re.search(r'^iotad_devices\{status="online"\} (\d+)$', text, re.M)
    return int(m.group(1)) if m else 0


def test_embedded_compose_runs_the_simulated_fleet(image, tmp_path):
    project = unique("iotadci")
    http_port, mqtt_port, https_port = free_port(), free_port(), free_port()
    env = {"IOTAD_IMAGE": image, "IOTAD_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "IOTAD_HTTP_PORT": str(http_port), "IOTAD_MQTT_PORT": str(mqtt_port),
           "IOTAD_HTTPS_PORT": str(https_port), "IOTAD_MQTTS_PORT": str(free_port()),
           "IOTAD_SIM_DEVICES": "20", "IOTAD_LOG_FORMAT": "json"}
    url = f"http://127.0.0.1:{http_port}"
    try:
        t0 = time.monotonic()
        compose(project, "up", "-d", env=env)
        ready_s = time.monotonic() - t0 + wait_ready(url)
        wait_for(lambda: online_devices(url) == 20, timeout=60, interval=0.5)
        fleet_s = time.monotonic() - t0
        print(f"\ncompose up -> /readyz {ready_s:.1f} s, 20 simulated devices online {fleet_s:.1f} s")
        admin = login(url)
        devices = admin.get("/api/v1/devices", params={"limit": 100}).json()
        assert len(devices["items"]) == 20, devices
        # the simulated fleet's points arrive over the published MQTT port too
        wait_for(lambda: requests.get(url + "/metrics", timeout=5).text.count(
            'iotad_ingest_points_total{transport="mqtt"} 0') == 0, timeout=60)
        container = f"{project}_iotad_1"
        assert podman("healthcheck", "run", container, check=False).returncode == 0
        # HTTPS on its published port, with the self-signed certificate from the volume
        ca = tmp_path / "ca.pem"
        ca.write_text(podman("exec", container, "cat", "/var/lib/iotad/tls-cert.pem").stdout)
        r = curl_tls(f"https://127.0.0.1:{https_port}/readyz", str(ca))
        assert r.returncode == 0 and "HTTP/1.1 200" in r.stdout, r.stderr
        compose(project, "down", "-t", "60", env=env)
        assert podman("container", "exists", container, check=False).returncode != 0
        # the data stays in the named volume until `down -v`
        assert podman("volume", "exists", f"{project}_iotad-data", check=False).returncode == 0
    finally:
        compose(project, "down", "-v", "-t", "5", env=env, check=False)
        podman("volume", "rm", "-f", f"{project}_iotad-data", check=False)
        podman("network", "rm", "-f", f"{project}_default", check=False)


def test_compose_refuses_to_start_without_an_admin_password(image):
    e = {k: v for k, v in os.environ.items() if k != "IOTAD_ADMIN_PASSWORD"}
    e["IOTAD_IMAGE"] = image
    r = subprocess.run(["podman-compose", "-p", unique("iotadci"), "-f", "compose.yaml",
                        "up", "-d", "--no-start"], cwd=COMPOSE_DIR, env=e, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "IOTAD_ADMIN_PASSWORD" in r.stdout + r.stderr


def load(name):
    with open(os.path.join(COMPOSE_DIR, name)) as f:
        return yaml.safe_load(f)


def test_compose_files_match_the_image_and_the_files_they_mount():
    base = load("compose.yaml")
    svc = base["services"]["iotad"]
    assert svc["build"]["dockerfile"] == "Containerfile"
    assert os.path.exists(os.path.join(COMPOSE_DIR, svc["build"]["context"], "Containerfile"))
    assert "/var/lib/iotad" in svc["volumes"][0]
    assert svc["stop_grace_period"] == "60s"
    published = {p.rsplit(":", 1)[1] for p in svc["ports"]}
    assert published == {"8080", "1883", "8443", "8883"}
    # every variable is one iotad accepts (`iotad serve --help` lists the keys)
    keys = iotad_keys()
    for name in svc["environment"]:
        assert name.startswith("IOTAD_") and name[6:].lower() in keys, name
    mon = load("compose.monitoring.yaml")
    prom, graf = mon["services"]["prometheus"], mon["services"]["grafana"]
    for svc_ in (prom, graf):
        for v in svc_["volumes"]:
            src = v.split(":")[0]
            if src.startswith("."):
                assert os.path.exists(os.path.join(COMPOSE_DIR, src)), v
    # Prometheus scrapes the compose service by name on iotad's container port
    with open(os.path.join(ROOT, "deploy", "prometheus", "prometheus.yml")) as f:
        pcfg = yaml.safe_load(f)
    targets = pcfg["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["iotad:8080"]
    assert any("iotad-alerts.yml" in v for v in prom["volumes"])
    # Grafana: the provisioned dashboard path is where the dashboard is mounted
    with open(os.path.join(ROOT, "deploy", "grafana", "provisioning", "dashboards",
                           "iotad.yml")) as f:
        provider = yaml.safe_load(f)["providers"][0]
    mount = next(v for v in graf["volumes"] if "iotad-dashboard.json" in v).split(":")[1]
    assert os.path.dirname(mount) == provider["options"]["path"]
    with open(os.path.join(ROOT, "deploy", "grafana", "provisioning", "datasources",
                           "prometheus.yml")) as f:
        ds = yaml.safe_load(f)["datasources"][0]
    assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"


def iotad_keys():
    from conftest import ROOT as root
    binary = os.path.join(root, "build", "iotad")
    out = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True,
                         check=True).stdout
    return {m.replace("-", "_") for m in re.findall(r"--([a-z][a-z0-9-]*)", out)}


def test_cluster_compose_matches_the_binary_and_its_config_files(tmp_path):
    """compose.cluster.yaml: two nodes on PostgreSQL and RabbitMQ behind HAProxy, Prometheus
    and Grafana. Its images cannot be pulled here (no registry), so it is checked against what
    it names: the variables the binary accepts, the URLs against the services that serve them,
    HAProxy's configuration (`haproxy -c`) against the nodes, Prometheus' (`promtool check
    config`) against the nodes' metrics port."""
    from urllib.parse import urlsplit
    doc = load("compose.cluster.yaml")
    svcs = doc["services"]
    nodes = sorted(n for n in svcs if n.startswith("iotad-"))
    assert nodes == ["iotad-1", "iotad-2"]
    assert set(svcs) == set(nodes) | {"postgres", "rabbitmq", "haproxy", "prometheus", "grafana"}
    keys = iotad_keys()
    pg, rabbit = svcs["postgres"]["environment"], svcs["rabbitmq"]["environment"]
    volumes = set()
    for n in nodes:
        node = svcs[n]
        env = node["environment"]
        for name in env:
            assert name.startswith("IOTAD_") and name[6:].lower() in keys, name
        assert node["stop_grace_period"] == "60s"
        assert node["image"] == svcs["iotad-1"]["image"]
        (vol,) = node["volumes"]
        assert vol.endswith(":/var/lib/iotad")
        volumes.add(vol.split(":")[0])
        assert env["IOTAD_SIMULATE"] == "false"
        store = urlsplit(env["IOTAD_STORE"].replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}",
                                                    "pw"))
        assert store.scheme == "postgresql" and store.hostname == "postgres" and store.port == 5432
        assert store.username == pg["POSTGRES_USER"] and store.path == "/" + pg["POSTGRES_DB"]
        bus = urlsplit(env["IOTAD_CLUSTER"].replace("${RABBITMQ_PASSWORD:?set RABBITMQ_PASSWORD}",
                                                    "pw"))
        assert bus.scheme == "amqp" and bus.hostname == "rabbitmq" and bus.port == 5672
        assert bus.username == rabbit["RABBITMQ_DEFAULT_USER"]
        assert bus.path == "/" + rabbit["RABBITMQ_DEFAULT_VHOST"]
        # one key file for every node (docs/deploy.md, "Cluster nodes share one key file")
        (secret,) = node["secrets"]
        assert env["IOTAD_KEY_FILE"] == "/run/secrets/" + secret["target"]
        assert secret["source"] in doc["secrets"]
    assert len(volumes) == len(nodes), "each node has a data volume of its own"
    assert set(volumes) <= set(doc["volumes"])
    # the first node waits for healthy PostgreSQL and RabbitMQ, the second for the first
    assert svcs["iotad-1"]["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                            "rabbitmq": {"condition": "service_healthy"}}
    assert svcs["iotad-2"]["depends_on"] == {"iotad-1": {"condition": "service_healthy"}}
    for dep in ("postgres", "rabbitmq"):
        assert svcs[dep]["healthcheck"]["test"][0] == "CMD"
    # HAProxy: a valid configuration whose servers are the nodes, on iotad's ports, checked on
    # /readyz; it publishes HTTP and MQTT
    hp = svcs["haproxy"]
    src, dst = hp["volumes"][0].split(":")[:2]
    cfg_path = os.path.join(COMPOSE_DIR, src)
    assert dst == "/usr/local/etc/haproxy/haproxy.cfg"
    r = subprocess.run(["haproxy", "-c", "-f", cfg_path], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    cfg = open(cfg_path).read()
    servers = re.findall(r"^\s*server (\S+) (\S+):(\d+)(.*)$", cfg, re.M)
    assert sorted({(name, host) for name, host, _, _ in servers}) == [(n, n) for n in nodes]
    assert {port for _, _, port, _ in servers} == {"8080", "1883"}
    assert all(port == "8080" or "check port 8080" in rest for _, _, port, rest in servers)
    assert cfg.count("option httpchk GET /readyz") == 2
    binds = set(re.findall(r"^\s*bind :(\d+)", cfg, re.M))
    assert {p.rsplit(":", 1)[1] for p in hp["ports"]} == binds == {"8080", "1883", "8404"}
    # Prometheus scrapes every node itself; its configuration and the rules it loads check out
    prom = svcs["prometheus"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prom["volumes"] if v.startswith(".")}
    for s in mounts.values():
        assert os.path.exists(os.path.join(COMPOSE_DIR, s)), s
    with open(os.path.join(COMPOSE_DIR, mounts["/etc/prometheus/prometheus.yml"])) as f:
        pcfg = yaml.safe_load(f)
    targets = pcfg["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == [f"{n}:8080" for n in nodes]
    for dst_, src_ in mounts.items():
        (tmp_path / os.path.basename(dst_)).write_bytes(
            open(os.path.join(COMPOSE_DIR, src_), "rb").read())
    r = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # Grafana as in the monitoring overlay
    mon = load("compose.monitoring.yaml")["services"]["grafana"]
    assert svcs["grafana"]["volumes"] == mon["volumes"]
