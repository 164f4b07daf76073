"""Monitoring files in deploy/: the Prometheus configuration and alerting rules pass promtool
(syntax and the rules' own unit tests), every metric and label value the Grafana dashboard
and the rules name is exported by a running iotad, and a real Prometheus scraping a real
iotad answers every dashboard query and evaluates every rule without error."""
import json
import os
import re
import shutil
import subprocess
import time

import pytest
import requests

from conftest import ROOT, Iotad, free_port, wait_for

DEPLOY = os.path.join(ROOT, "deploy")
PROM_DIR = os.path.join(DEPLOY, "prometheus")
DASHBOARD = os.path.join(DEPLOY, "grafana", "iotad-dashboard.json")
RULES = os.path.join(PROM_DIR, "iotad-alerts.yml")
BUILTIN = {"up"}
# PromQL words that look like metric names
KEYWORDS = {"sum", "by", "rate", "increase", "histogram_quantile", "and", "on", "or", "unless",
            "predict_linear", "changes", "le", "without", "max", "min", "avg", "count"}


def promtool(*args, cwd=PROM_DIR):
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def dashboard_exprs():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    exprs = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            exprs.append((p["title"], t["expr"]))
    return dash, exprs


def rule_exprs():
    import yaml
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    return [(r["alert"], r["expr"]) for g in doc["groups"] for r in g["rules"]]


def selectors(expr):
    """(metric, {label: (op, value)}) for every metric selector in a PromQL expression."""
    out = []
    for m in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?", expr):
        name = m.group(1)
        if name in KEYWORDS or expr[m.end():m.end() + 1] == "(":
            continue
        if not (name.startswith("iotad_") or name in BUILTIN):
            continue
        labels = {}
        for lm in re.finditer(r'(\w+)\s*(=~|!=|=)\s*"([^"]*)"', m.group(2) or ""):
            labels[lm.group(1)] = (lm.group(2), lm.group(3))
        out.append((name, labels))
    return out


def exposition(text):
    """{metric name: [label dict, ...]} from the Prometheus text format."""
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? ", line)
        assert m, line
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        series.setdefault(m.group(1), []).append(labels)
    return series


def test_promtool_checks_config_rules_and_rule_unit_tests():
    r = promtool("check", "config", "prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    r = promtool("check", "rules", "iotad-alerts.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    r = promtool("test", "rules", "iotad-alerts.test.yml")
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


def bridge_args():
    """Bridge mode on, towards a port where no broker listens: the bridge's series are
    exported (connected 0, failures counting) as on a server whose broker is down."""
    return ["--bridge-url", f"mqtt://127.0.0.1:{free_port()}"]


@pytest.fixture
def bridged_iotad():
    srv = Iotad(args=bridge_args())
    yield srv
    srv.close()


def test_dashboard_and_rules_name_only_exported_metrics(bridged_iotad):
    iotad, admin = bridged_iotad, bridged_iotad.admin()
    # some traffic so that labelled series exist
    dev, key = admin.device_with_key("d1")
    requests.post(iotad.url + "/api/v1/ingest", headers={"X-API-Key": key}, timeout=10,
                  json=[{"ts": int(time.time() * 1000), "metrics": {"t": 1}}])
    exported = exposition(requests.get(iotad.url + "/metrics", timeout=10).text)
    dash, exprs = dashboard_exprs()
    assert dash["uid"] and len(exprs) >= 20
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for topic in ("ingest", "durable ack", "queue", "detector throughput",
                  "anomalies by severity", "outbox", "devices online", "bridge"):
        assert topic in titles, topic
    checked = set()
    for where, expr in exprs + rule_exprs():
        sels = selectors(expr)
        assert sels, (where, expr)
        for name, labels in sels:
            if name in BUILTIN:
                continue
            assert name in exported, f"{where}: {name} is not in /metrics"
            for label, (op, value) in labels.items():
                if op == "=~" or label == "instance":
                    continue
                values = {s.get(label) for s in exported[name]}
                assert value in values, f"{where}: {name}{{{label}{op}\"{value}\"}}: {values}"
            checked.add(name)
    assert len(checked) >= 20, checked


@pytest.fixture
def prometheus(tmp_path):
    """A real Prometheus (Debian package) scraping a real iotad every second, with the
    shipped alerting rules loaded."""
    srv = Iotad(args=["--simulate", "--sim-devices", "5", *bridge_args()])
    port = free_port()
    shutil.copy(RULES, tmp_path / "iotad-alerts.yml")
    (tmp_path / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [iotad-alerts.yml]
scrape_configs:
  - job_name: iotad
    static_configs:
      - targets: ["127.0.0.1:{srv.http_port}"]
""")
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(["prometheus", f"--config.file={tmp_path}/prometheus.yml",
                             f"--storage.tsdb.path={tmp_path}/data",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        yield srv, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        srv.close()


def query(url, expr):
    r = requests.get(url + "/api/v1/query", params={"query": expr}, timeout=10)
    assert r.status_code == 200, (expr, r.text)
    body = r.json()
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]


def test_real_prometheus_answers_every_dashboard_query(prometheus):
    srv, url = prometheus
    def ready():
        try:
            return requests.get(url + "/-/ready", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False
    wait_for(ready, timeout=60, interval=0.2)
    wait_for(lambda: query(url, 'sum(rate(iotad_ingest_points_total[10s])) > 0'),
             timeout=60, interval=0.5)
    _, exprs = dashboard_exprs()
    empty = []
    for title, expr in exprs:
        e = expr.replace("$__rate_interval", "10s").replace("$instance", ".*")
        # a filter such as "> 0" may legitimately select nothing on a healthy server
        if re.search(r"\)\s*>\s*0\s*$", e):
            query(url, e)
            continue
        # a scrape that missed its 1 s timeout on a loaded machine marks every series stale
        # until the next good scrape (empty answers): wait, bounded, for data to be there
        try:
            wait_for(lambda: query(url, e), timeout=30, interval=0.5)
        except AssertionError:
            empty.append((title, e))
    assert not empty, empty
    rules = requests.get(url + "/api/v1/rules", timeout=10).json()["data"]["groups"]
    evaluated = [r for g in rules for r in g["rules"]]
    assert len(evaluated) == len(rule_exprs())
    wait_for(lambda: all(r.get("lastEvaluation", "").startswith("20") for g in
                         requests.get(url + "/api/v1/rules", timeout=10).json()["data"]["groups"]
                         for r in g["rules"]), timeout=30)
    for g in requests.get(url + "/api/v1/rules", timeout=10).json()["data"]["groups"]:
        for r in g["rules"]:
            assert r["health"] == "ok", r
            # a healthy server with a live fleet fires none of them ("pending" can happen:
            # seconds of history make predict_linear noisy, which is what `for:` is for)
            assert r["state"] != "firing", r
