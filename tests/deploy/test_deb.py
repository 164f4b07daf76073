"""The Debian package on a clean Debian 12 (a container from the base image, no systemd as
PID 1, as in CI): dpkg -i with its dependencies from the archive, the user, files and unit it
installs, the unit's ExecStart run the way systemd would run it (its User, Group, UMask,
Environment and EnvironmentFile), TLS with the self-signed certificate, then an upgrade that
keeps the operator's configuration and the data, the operator's certificate renewed through
the unit's ExecReload, remove, and a purge that leaves nothing behind outside the data
directory.
Not covered here: systemd itself starting the unit (no systemd runs in CI); the unit's
sandboxing directives (ProtectSystem, ...) are systemd's to apply."""
import configparser
import os
import shlex
import subprocess
import time

import requests

from conftest import (ADMIN_PASSWORD, curl_tls, free_port, login, make_cert, podman, unique,
                      wait_for, wait_ready)

UNIT = "/lib/systemd/system/iotad.service"
# what a package install and purge may leave changed outside the data directory: dpkg's own
# database and logs, apt's caches, and the shadow tools' backup copies
IGNORED = ("/var/lib/dpkg/", "/var/log/", "/var/cache/", "/var/lib/apt/", "/etc/passwd-",
           "/etc/group-", "/etc/shadow-", "/etc/gshadow-", "/var/lib/iotad", "/etc/ld.so.cache")


def deb_path():
    path = os.environ.get("IOTAD_DEB")
    assert path and os.path.exists(path), "IOTAD_DEB is not set: run `make deploy-test`"
    return path


class Debian:
    """A Debian 12 container on the host network (apt reaches the archive), idle, into
    which the test installs the package."""

    def __init__(self, base, debdir):
        self.name = unique("iotad-deb")
        podman("run", "-d", "--name", self.name, "--network=host", "-v", f"{debdir}:/pkgs:ro",
               base, "sleep", "3600")

    def sh(self, script, check=True, timeout=300):
        r = podman("exec", self.name, "sh", "-c", script, check=False, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"{script}\n-> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def files(self):
        out = self.sh("find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run "
                      "-o -path /tmp -o -path /pkgs \\) -prune -o -print").stdout
        return set(out.split())

    def read(self, path):
        return self.sh(f"cat {path}").stdout

    def remove(self):
        podman("rm", "-f", "-v", "-t", "0", self.name, check=False)


def unit_service(text):
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    # systemd allows repeated keys (Environment=): collect them
    env, rest = [], []
    for line in text.splitlines():
        if line.startswith("Environment="):
            env.append(line.split("=", 1)[1])
        else:
            rest.append(line)
    cp.read_string("\n".join(rest))
    return cp["Service"], dict(e.split("=", 1) for e in env)


def run_unit(deb, http):
    """Starts ExecStart as the unit's User and Group with its UMask and environment, as
    systemd would; returns the podman exec process (its output is the journal)."""
    svc, env = unit_service(deb.read(UNIT))
    assert svc["Type"] == "simple" and svc["KillSignal"] == "SIGTERM"
    env_file = svc["EnvironmentFile"].lstrip("-")
    assert env_file == "/etc/iotad/env"
    user, group, umask = svc["User"], svc["Group"], svc["UMask"]
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    script = (f"set -a; . {env_file}; set +a; umask {umask}; "
              f"exec setpriv --reuid={user} --regid={group} --init-groups "
              f"env {exports} {svc['ExecStart']}")
    proc = subprocess.Popen(["podman", "exec", deb.name, "sh", "-c", script],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{http}"
    wait_ready(url, proc_alive=lambda: proc.poll() is None)
    return proc, url


def stop_unit(deb, proc):
    deb.sh("kill -TERM $(pidof iotad)")
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, out[-3000:]
    assert "msg=stopped" in out, out[-3000:]
    return out


def test_deb_install_start_upgrade_remove_purge(tmp_path):
    deb_file = deb_path()
    base = os.environ.get("IOTAD_BASE_IMAGE", "localhost/debian:bookworm-slim")
    debdir = os.path.dirname(os.path.abspath(deb_file))
    name = os.path.basename(deb_file)
    # the upgrade: the same package as the next Debian revision
    v1 = subprocess.run(["dpkg-deb", "-f", deb_file, "Version"], capture_output=True,
                        text=True, check=True).stdout.strip()
    v2 = v1.rsplit("-", 1)[0] + "-" + str(int(v1.rsplit("-", 1)[1]) + 1)
    tree = tmp_path / "v2"
    subprocess.run(["dpkg-deb", "-R", deb_file, str(tree)], check=True)
    control = (tree / "DEBIAN" / "control").read_text().replace(f"Version: {v1}",
                                                                 f"Version: {v2}")
    (tree / "DEBIAN" / "control").write_text(control)
    upgrade = os.path.join(debdir, name.replace(v1, v2))
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tree), upgrade], check=True,
                   capture_output=True)
    depends = subprocess.run(["dpkg-deb", "-f", deb_file, "Depends"], capture_output=True,
                             text=True, check=True).stdout
    pkgs = [d.split("(")[0].strip() for d in depends.split(",")]
    deb = Debian(base, debdir)
    try:
        deb.sh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
               "--no-install-recommends " + " ".join(pkgs), timeout=600)
        before = deb.files()
        accounts = {f: deb.read(f) for f in ("/etc/passwd", "/etc/group", "/etc/shadow")}

        # install
        r = deb.sh(f"dpkg -i /pkgs/{name}")
        assert "journalctl -u iotad" in r.stdout
        pw = deb.sh("getent passwd iotad").stdout.strip().split(":")
        assert int(pw[2]) < 1000 and pw[5] == "/var/lib/iotad" and pw[6] == "/usr/sbin/nologin"
        assert deb.sh("stat -c '%U:%G %a' /var/lib/iotad").stdout.strip() == "iotad:iotad 750"
        assert deb.sh("stat -c '%U %a' /etc/iotad/env").stdout.strip() == "root 600"
        assert deb.sh("dpkg-query -W -f '${Conffiles}' iotad").stdout.strip().startswith(
            "/etc/iotad/iotad.conf")
        assert deb.sh("stat -c '%U:%G %a' /etc/iotad/tls").stdout.strip() == "root:iotad 750"
        deb.sh(f"test -x /usr/bin/iotad && test -f {UNIT} && "
               "test -f /usr/share/iotad/web/index.html && "
               "test -L /etc/systemd/system/multi-user.target.wants/iotad.service")
        # the operator's secrets and (for this shared test machine) free ports
        http, mqtt, https, mqtts = free_port(), free_port(), free_port(), free_port()
        deb.sh(f"printf 'IOTAD_ADMIN_PASSWORD={ADMIN_PASSWORD}\\n"
               f"IOTAD_HTTP_LISTEN=127.0.0.1:{http}\\nIOTAD_MQTT_LISTEN=127.0.0.1:{mqtt}\\n"
               f"IOTAD_HTTPS_LISTEN=127.0.0.1:{https}\\nIOTAD_MQTTS_LISTEN=127.0.0.1:{mqtts}\\n'"
               " >> /etc/iotad/env")
        https_url = f"https://127.0.0.1:{https}/readyz"

        # start the way systemd would
        proc, url = run_unit(deb, http)
        uid = deb.sh("awk '/^Uid:/ {print $2}' /proc/$(pidof iotad)/status").stdout.strip()
        assert uid == pw[2]
        admin = login(url)
        dev, key = admin.device_with_key("deb-device")
        now = int(time.time() * 1000)
        r = requests.post(url + "/api/v1/ingest", headers={"X-API-Key": key}, timeout=10,
                          json=[{"ts": now, "metrics": {"t": 7.5}}])
        assert r.status_code == 202
        wait_for(lambda: admin.points(dev, "t"))
        assert requests.get(url + "/", timeout=10).status_code == 200  # dashboard files
        # TLS as shipped: a self-signed certificate made in the data directory
        (tmp_path / "self-signed.pem").write_text(deb.read("/var/lib/iotad/tls-cert.pem"))
        r = curl_tls(https_url, str(tmp_path / "self-signed.pem"))
        assert r.returncode == 0 and "HTTP/1.1 200" in r.stdout, r.stderr
        stop_unit(deb, proc)
        for f in ("iotad.db", "iotad.keys", "tls-key.pem"):
            assert deb.sh(f"stat -c '%U %a' /var/lib/iotad/{f}").stdout.strip() == "iotad 600"

        # upgrade: the operator's configuration change and the data survive
        deb.sh("sed -i 's/^retention_days = .*/retention_days = 45/; s/^#tls_/tls_/' "
               "/etc/iotad/iotad.conf")
        # ... and the operator's certificate in /etc/iotad/tls, readable by the iotad group
        one = make_cert(str(tmp_path), "one", "one.iotad.test")
        two = make_cert(str(tmp_path), "two", "two.iotad.test")

        def install_cert(name):
            for src, dst in ((f"{name}.pem", "fullchain.pem"), (f"{name}.key", "privkey.pem")):
                podman("cp", str(tmp_path / src), f"{deb.name}:/etc/iotad/tls/{dst}")
            deb.sh("cd /etc/iotad/tls && chown root:iotad fullchain.pem privkey.pem && "
                   "chmod 0640 fullchain.pem privkey.pem")
        install_cert("one")
        deb.sh(f"dpkg -i /pkgs/{os.path.basename(upgrade)}")
        assert deb.sh("dpkg-query -W -f '${Version}' iotad").stdout == v2
        assert "retention_days = 45" in deb.read("/etc/iotad/iotad.conf")
        assert deb.sh("getent passwd iotad").stdout.strip().split(":")[2] == pw[2]
        proc, url = run_unit(deb, http)
        admin = login(url)
        assert [p["value"] for p in admin.points(dev, "t")] == [7.5]
        assert curl_tls(https_url, one).returncode == 0
        # a renewed certificate, then `systemctl reload iotad` (the unit's ExecReload as root)
        install_cert("two")
        svc, _ = unit_service(deb.read(UNIT))
        assert "$MAINPID" in svc["ExecReload"]
        deb.sh("MAINPID=$(pidof iotad); " + svc["ExecReload"])  # the shell expands $MAINPID
        wait_for(lambda: curl_tls(https_url, two).returncode == 0, timeout=20)
        cfg = deb.sh("set -a; . /etc/iotad/env; set +a; IOTAD_CONFIG=/etc/iotad/iotad.conf "
                     "iotad config").stdout
        assert any(line.split()[:3] == ["retention_days", "=", "45"] for line in
                   cfg.splitlines()), cfg
        stop_unit(deb, proc)

        # remove: the program goes, configuration and data stay
        deb.sh("dpkg -r iotad")
        deb.sh("test ! -e /usr/bin/iotad && test -f /etc/iotad/iotad.conf && "
               "test -f /var/lib/iotad/iotad.db")
        # purge: nothing left outside the data directory
        r = deb.sh("dpkg --purge iotad")
        assert "/var/lib/iotad" in r.stdout
        deb.sh("test ! -e /etc/iotad && ! getent passwd iotad && ! getent group iotad && "
               "test -f /var/lib/iotad/iotad.db")
        left = sorted(p for p in deb.files() - before if not p.startswith(IGNORED))
        assert left == [], left
        gone = sorted(p for p in before - deb.files() if not p.startswith(IGNORED))
        assert gone == [], gone
        for f, text in accounts.items():
            assert deb.read(f) == text, f
    finally:
        deb.remove()
        os.unlink(upgrade)
