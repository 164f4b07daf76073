"""deploy/kubernetes: every overlay renders offline (`kubectl kustomize`), and what it renders
matches the binary and the image: variables iotad accepts (checked by `iotad config` with the
rendered environment), ports, probe paths that a running iotad answers, Service and PDB
selectors, the non-root user. The demo overlay's pod then runs for real under
`podman kube play` (ConfigMap, Secret, securityContext with a read-only root file system).
Not validated here: anything that needs an API server (admission, the StorageClass behind the
volume claim, the LoadBalancer); `kubectl apply --dry-run=client` also needs one."""
import base64
import copy
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import requests
import yaml

from conftest import (ROOT, curl_tls, free_port, login, make_cert, podman, unique, wait_for,
                      wait_ready)

sys.path.insert(0, os.path.join(ROOT, "tests"))

KUBE = os.path.join(ROOT, "deploy", "kubernetes")
BIN = os.path.join(ROOT, "build", "iotad")
OVERLAYS = ("demo", "production")
DEMO_PASSWORD = "a-demo-password-for-tests"


def render(tmp_path, overlay):
    tree = tmp_path / f"kube-{overlay}"
    if not tree.exists():
        shutil.copytree(KUBE, tree)
        (tree / "overlays" / "demo" / "secrets.env").write_text(
            f"IOTAD_ADMIN_PASSWORD={DEMO_PASSWORD}\n")
    r = subprocess.run(["kubectl", "kustomize", str(tree / "overlays" / overlay)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def one(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and
             (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, [d["metadata"]["name"] for d in docs])
    return found[0]


def pod_env(docs, container):
    """The container's environment as Kubernetes would give it (envFrom, then env)."""
    env = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            env.update(one(docs, "ConfigMap", src["configMapRef"]["name"])["data"])
        elif "secretRef" in src:
            secrets = [d for d in docs if d["kind"] == "Secret" and
                       d["metadata"]["name"] == src["secretRef"]["name"]]
            for s in secrets:
                env.update({k: base64.b64decode(v).decode() for k, v in s["data"].items()})
    for e in container.get("env", []):
        env[e["name"]] = e["value"]
    return env


def test_base_and_overlays_render_offline(tmp_path):
    r = subprocess.run(["kubectl", "kustomize", os.path.join(KUBE, "base")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    kinds = {o: sorted(d["kind"] for d in render(tmp_path, o)) for o in OVERLAYS}
    assert kinds["demo"] == ["ConfigMap", "Namespace", "Secret", "Service", "Service",
                             "ServiceAccount", "StatefulSet"]
    assert kinds["production"] == ["ConfigMap", "PodDisruptionBudget", "Service", "Service",
                                   "Service", "ServiceAccount", "StatefulSet"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_manifests_match_the_binary_and_image(tmp_path, image, overlay):
    docs = render(tmp_path, overlay)
    sts = one(docs, "StatefulSet", "iotad")
    assert sts["spec"]["replicas"] == 1  # embedded mode: one writer per database
    tpl = sts["spec"]["template"]
    spec = tpl["spec"]
    (c,) = spec["containers"]
    # the environment is one iotad accepts: `iotad config` loads it like `serve` would
    env = pod_env(docs, c)
    assert all(k.startswith("IOTAD_") for k in env), env
    if overlay == "demo":
        assert env["IOTAD_ADMIN_PASSWORD"] == DEMO_PASSWORD and env["IOTAD_SIMULATE"] == "true"
    else:  # created out of band, documented in the overlay
        refs = [s["secretRef"]["name"] for s in c["envFrom"] if "secretRef" in s]
        assert refs == ["iotad-secrets"]
        assert not [d for d in docs if d["kind"] == "Secret"]  # no secret in git
    assert c["args"][0] == "serve"
    r = subprocess.run([BIN, "config", *c["args"][1:]], capture_output=True, text=True,
                       env={"PATH": os.environ["PATH"], **env})
    assert r.returncode == 0, r.stderr
    for k, v in env.items():
        if k != "IOTAD_ADMIN_PASSWORD":
            assert f"{k[6:].lower()}" in r.stdout, k
    # ports: the listen addresses are the container ports
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for name in ("http", "mqtt", "https", "mqtts"):
        assert env[f"IOTAD_{name.upper()}_LISTEN"].rsplit(":", 1)[1] == str(ports[name])
    assert env["IOTAD_DATA_DIR"] == c["volumeMounts"][0]["mountPath"]
    # probes on named ports that exist, paths a running iotad answers (checked below)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = c[probe]["httpGet"]
        assert get["port"] in ports, (probe, get)
        assert get["path"] in ("/healthz", "/readyz")
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # the image's user, non-root, read-only root file system, requests and a memory limit
    img = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
    uid = int(img["User"].split(":")[0])
    assert spec["securityContext"]["runAsUser"] == uid and spec["securityContext"]["runAsNonRoot"]
    assert spec["securityContext"]["fsGroup"] == int(img["User"].split(":")[1])
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["volumeMounts"][0]["mountPath"] in img["Volumes"]
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    assert c["resources"]["limits"]["memory"]
    assert spec["terminationGracePeriodSeconds"] >= 30
    want_image = {"demo": "localhost/iotad:latest",
                  "production": "registry.example.com/iotad:0.1.0"}[overlay]
    assert c["image"] == want_image
    # every Service and the PDB select this pod, by ports it has
    labels = tpl["metadata"]["labels"]
    for svc in (d for d in docs if d["kind"] == "Service"):
        sel = svc["spec"]["selector"]
        assert sel and all(labels.get(k) == v for k, v in sel.items()), svc["metadata"]
        for p in svc["spec"]["ports"]:
            assert p["targetPort"] in ports, (svc["metadata"]["name"], p)
    if overlay == "production":
        pdb = one(docs, "PodDisruptionBudget")
        assert all(labels.get(k) == v
                   for k, v in pdb["spec"]["selector"]["matchLabels"].items())
        mqtt = one(docs, "Service", "iotad-mqtt")
        assert mqtt["spec"]["type"] == "LoadBalancer"
        # outside the cluster only MQTT over TLS
        assert [p["targetPort"] for p in mqtt["spec"]["ports"]] == ["mqtts"]
        # the certificate and key iotad is told to load are the kubernetes.io/tls keys of the
        # Secret iotad-tls, mounted read-only and readable by the pod's group (iotad's gid)
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        for var, key in (("IOTAD_TLS_CERT_FILE", "tls.crt"), ("IOTAD_TLS_KEY_FILE", "tls.key")):
            d, f = os.path.split(env[var])
            assert f == key and mounts[d]["readOnly"] is True, (var, env[var])
            secret = volumes[mounts[d]["name"]]["secret"]
            assert secret["secretName"] == "iotad-tls"
            assert secret["defaultMode"] & 0o047 == 0o040, oct(secret["defaultMode"])
    else:  # the self-signed certificate in the data volume
        assert "IOTAD_TLS_CERT_FILE" not in env and "IOTAD_TLS_KEY_FILE" not in env


def test_probe_paths_are_answered_by_iotad(tmp_path):
    http = free_port()
    proc = subprocess.Popen([BIN, "serve", "--data-dir", str(tmp_path / "d"),
                             "--http-listen", f"127.0.0.1:{http}", "--mqtt-listen",
                             f"127.0.0.1:{free_port()}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env={**os.environ, "IOTAD_ADMIN_PASSWORD": DEMO_PASSWORD})
    try:
        url = f"http://127.0.0.1:{http}"
        wait_ready(url, proc_alive=lambda: proc.poll() is None)
        docs = render(tmp_path, "demo")
        (c,) = one(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            r = requests.get(url + c[probe]["httpGet"]["path"], timeout=5)
            assert r.status_code == 200, (probe, r.status_code)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_demo_overlay_pod_runs_under_podman_kube_play(tmp_path, image):
    """The rendered pod, as Kubernetes would run it, under podman: only the image (the one
    built in this run), host ports for the test, and a host directory for the volume claim
    are substituted. podman reads a Secret referenced by envFrom from its own secret store
    (a JSON map of base64 values), so the rendered Secret is loaded there first."""
    docs = render(tmp_path, "demo")
    sts, cm, secret = one(docs, "StatefulSet"), one(docs, "ConfigMap"), one(docs, "Secret")
    name = unique("iotad-kube")
    secret_name = unique("iotad-secrets")
    spec = copy.deepcopy(sts["spec"]["template"]["spec"])
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    os.chown(data_dir, spec["securityContext"]["runAsUser"], spec["securityContext"]["fsGroup"])
    spec["volumes"] = [{"name": "data", "hostPath": {"path": str(data_dir), "type": "Directory"}}]
    (c,) = spec["containers"]
    c["image"] = image
    host_ports = {p["name"]: free_port() for p in c["ports"]}
    for p in c["ports"]:
        p["hostPort"] = host_ports[p["name"]]
    http = host_ports["http"]
    for src in c["envFrom"]:
        if "secretRef" in src:
            src["secretRef"]["name"] = secret_name
    cm = copy.deepcopy(cm)
    cm["metadata"].pop("namespace", None)
    cm["metadata"]["name"] = cm_name = unique("iotad-config")
    for src in c["envFrom"]:
        if "configMapRef" in src:
            src["configMapRef"]["name"] = cm_name
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "labels": sts["spec"]["template"]["metadata"]["labels"]},
           "spec": spec}
    play = tmp_path / "play.yaml"
    play.write_text(yaml.safe_dump_all([cm, pod]))
    podman("secret", "create", secret_name, "-", input=json.dumps(secret["data"]))
    try:
        podman("kube", "play", str(play))
        url = f"http://127.0.0.1:{http}"
        print(f"\nkube pod ready in {wait_ready(url):.1f} s")
        ctr = f"{name}-iotad"
        admin = login(url, password=DEMO_PASSWORD)  # the Secret reached iotad
        # the ConfigMap reached iotad: the simulated fleet runs, logs are JSON
        wait_for(lambda: len(admin.get("/api/v1/devices").json()["items"]) > 0,
                 timeout=30)
        assert podman("exec", ctr, "id", "-u").stdout.strip() == "10001"
        # HTTPS through its container port, with the certificate iotad made on the volume
        r = curl_tls(f"https://127.0.0.1:{host_ports['https']}/readyz",
                     str(data_dir / "tls-cert.pem"))
        assert r.returncode == 0 and "HTTP/1.1 200" in r.stdout, r.stderr
        assert podman("exec", ctr, "touch", "/probe", check=False).returncode != 0
        podman("exec", ctr, "touch", "/var/lib/iotad/probe")
        podman("pod", "stop", "-t", "60", name, timeout=120)
        logs = podman("logs", ctr)
        lines = [json.loads(x) for x in (logs.stdout + logs.stderr).splitlines()
                 if x.startswith("{")]
        assert lines and lines[-1]["event.action"] == "stopped", lines[-3:]
        assert os.path.exists(data_dir / "iotad.db")
    finally:
        podman("kube", "down", str(play), check=False)
        podman("pod", "rm", "-f", name, check=False)
        podman("secret", "rm", secret_name, check=False)


# --- cluster mode (overlays/cluster) ---------------------------------------------------------
# The Secret iotad-secrets is made outside git; these values stand in for it, as documented
# in the overlay's kustomization.yaml (the test checks the two agree).
CLUSTER_SECRET = {"IOTAD_ADMIN_PASSWORD": DEMO_PASSWORD,
                  "IOTAD_STORE": "postgresql://iotad:pw@pg.example.internal:5432/iotad",
                  "IOTAD_CLUSTER": "amqp://iotad:pw@rabbitmq.example.internal:5672/iotad"}


def cluster_pod(tmp_path):
    docs = render(tmp_path, "cluster")
    dep = one(docs, "Deployment", "iotad")
    spec = dep["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    env = pod_env(docs, c)
    env.update(CLUSTER_SECRET)  # envFrom secretRef iotad-secrets, not rendered
    return docs, dep, spec, c, env


def serve_options():
    r = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True)
    return {m.lstrip("-").replace("-", "_") for m in
            (line.split()[0] for line in r.stdout.splitlines() if line.startswith("  --"))}


def test_cluster_overlay_matches_the_binary_and_its_secrets(tmp_path):
    docs, dep, spec, c, env = cluster_pod(tmp_path)
    assert sorted(d["kind"] for d in docs) == ["ConfigMap", "Deployment", "PodDisruptionBudget",
                                              "Service", "Service", "ServiceAccount"]
    assert not [d for d in docs if d["kind"] == "Secret"]  # every secret made outside git
    assert dep["spec"]["replicas"] >= 2
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    # every variable, the Secret's included, is one `iotad serve` accepts, and `iotad config`
    # loads the whole environment
    opts = serve_options()
    assert all(k.startswith("IOTAD_") and k[6:].lower() in opts for k in env), \
        sorted(k for k in env if k[6:].lower() not in opts)
    r = subprocess.run([BIN, "config", *c["args"][1:]], capture_output=True, text=True,
                       env={"PATH": os.environ["PATH"], **env})
    assert r.returncode == 0, r.stderr
    assert c["args"] == ["serve"]
    # the Secret iotad-secrets as the overlay's instructions make it: the keys this test uses
    text = (pathlib.Path(KUBE) / "overlays" / "cluster" / "kustomization.yaml").read_text()
    documented = set(re.findall(r"--from-literal=(IOTAD_[A-Z_]+)=", text))
    assert documented == set(CLUSTER_SECRET), documented
    assert [s["secretRef"]["name"] for s in c["envFrom"] if "secretRef" in s] == ["iotad-secrets"]
    # ports: the listen addresses are the container ports
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for name in ("http", "mqtt", "https", "mqtts"):
        assert env[f"IOTAD_{name.upper()}_LISTEN"].rsplit(":", 1)[1] == str(ports[name])
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["port"] in ports
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # volumes: data on an emptyDir (nothing a node needs survives it), the key file and the
    # certificate from Secrets, read-only, root:fsGroup 0440 (the mode iotad accepts)
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts[env["IOTAD_DATA_DIR"]]["name"]]
    for var, secret_name, key in (("IOTAD_KEY_FILE", "iotad-keys", "iotad.keys"),
                                  ("IOTAD_TLS_CERT_FILE", "iotad-tls", "tls.crt"),
                                  ("IOTAD_TLS_KEY_FILE", "iotad-tls", "tls.key")):
        d, f = os.path.split(env[var])
        assert f == key and mounts[d]["readOnly"] is True, (var, env[var])
        secret = volumes[mounts[d]["name"]]["secret"]
        assert secret["secretName"] == secret_name and secret["defaultMode"] == 0o440
        assert f"secret generic {secret_name}" in text or f"secret tls {secret_name}" in text
    # the pod: the image's user (as the embedded StatefulSet, checked against the image above)
    sts = one(render(tmp_path, "production"), "StatefulSet")["spec"]["template"]["spec"]
    for k in ("runAsUser", "runAsGroup", "fsGroup", "runAsNonRoot"):
        assert spec["securityContext"][k] == sts["securityContext"][k], k
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["terminationGracePeriodSeconds"] >= 30
    req = c["resources"]["requests"]
    assert req["cpu"] and req["memory"] and c["resources"]["limits"]["memory"]
    # Services and the PDB select the pods, by ports they have; outside only MQTT over TLS
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for svc in (d for d in docs if d["kind"] == "Service"):
        sel = svc["spec"]["selector"]
        assert sel and sel.items() <= labels.items(), svc["metadata"]
        for p in svc["spec"]["ports"]:
            assert p["targetPort"] in ports, (svc["metadata"]["name"], p)
    assert [p["targetPort"] for p in one(docs, "Service", "iotad")["spec"]["ports"]] == \
        ["http", "mqtt", "https", "mqtts"]
    lb = one(docs, "Service", "iotad-mqtt")
    assert lb["spec"]["type"] == "LoadBalancer"
    assert [p["targetPort"] for p in lb["spec"]["ports"]] == ["mqtts"]
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 1 <= pdb["spec"]["minAvailable"] < dep["spec"]["replicas"]


def test_cluster_overlay_pods_start_together_on_postgresql_and_rabbitmq(tmp_path):
    """Two nodes with the rendered environment, started at one instant on an empty
    PostgreSQL and a RabbitMQ (tests/services.py); only the URLs, the listen addresses (free
    loopback ports) and the mount paths are substituted: the key file made by `iotad secrets
    init` and mounted as the Secret would be (0440), a certificate for iotad-tls. Both become
    ready, every probe path answers 200, the Secret's password logs in on both, one Admin."""
    import threading
    import services
    docs, dep, spec, c, env = cluster_pod(tmp_path)
    pg, mq = services.Postgres(), services.RabbitMQ()
    procs = []
    try:
        keys = tmp_path / "keys"
        keys.mkdir()
        subprocess.run([BIN, "secrets", "init", "--key-file", str(keys / "iotad.keys")],
                       check=True, capture_output=True)
        os.chmod(keys / "iotad.keys", 0o440)
        tls = tmp_path / "tls"
        tls.mkdir()
        make_cert(str(tls), "tls", "localhost")
        urls, envs = [], []
        for i in range(2):
            e = dict(env, IOTAD_STORE=pg.create_db("iotad") if i == 0 else envs[0]["IOTAD_STORE"],
                     IOTAD_CLUSTER=mq.url(), IOTAD_DATA_DIR=str(tmp_path / f"node{i}"),
                     IOTAD_KEY_FILE=str(keys / "iotad.keys"),
                     IOTAD_TLS_CERT_FILE=str(tls / "tls.pem"),
                     IOTAD_TLS_KEY_FILE=str(tls / "tls.key"))
            port = {}
            for name in ("http", "mqtt", "https", "mqtts"):
                port[name] = free_port()
                e[f"IOTAD_{name.upper()}_LISTEN"] = f"127.0.0.1:{port[name]}"
            envs.append(e)
            urls.append(f"http://127.0.0.1:{port['http']}")
        gate = threading.Barrier(2)

        def start(e):
            gate.wait()
            procs.append(subprocess.Popen([BIN, *c["args"]], env={"PATH": os.environ["PATH"],
                                                                  **e},
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        threads = [threading.Thread(target=start, args=(e,)) for e in envs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for url in urls:
            print(f"\ncluster node ready in {wait_ready(url, timeout=120):.1f} s")
        for url in urls:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                r = requests.get(url + c[probe]["httpGet"]["path"], timeout=5)
                assert r.status_code == 200, (url, probe, r.status_code)
            login(url, email=env["IOTAD_ADMIN_EMAIL"], password=DEMO_PASSWORD)
        n = pg.psql("SELECT count(*) FROM users", db="iotad")
        assert n == [["1"]], n
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            assert p.wait(timeout=90) == 0
        mq.close()
        pg.close()
