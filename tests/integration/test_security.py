"""Security regressions (issue 14): first-Admin password policy, CSRF, settings that apply,
session activity, sign-up enumeration and rate limit, /metrics token, security headers."""
import os
import subprocess

import pytest
import requests

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, BIN, Iotad


def serve_once(data_dir, password, timeout=30):
    """Runs `iotad serve` with a first-Admin password; returns (exit code or None, output)."""
    env = dict(os.environ, IOTAD_ADMIN_PASSWORD=password, IOTAD_FAST_HASH="1")
    p = subprocess.Popen([BIN, "serve", "--data-dir", str(data_dir), "--http-listen",
                          "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        return None, out


@pytest.mark.parametrize("weak", ["admin", "password123", "0123456789", "admin@localhost"])
def test_first_admin_password_follows_the_policy(tmp_path, weak):
    rc, out = serve_once(tmp_path, weak)
    assert rc == 1, out
    assert "first Admin's password" in out and "refused" in out
    # nothing was created: a good password on the next start works
    srv = Iotad(data_dir=str(tmp_path))
    try:
        srv.login()
    finally:
        srv.close()
