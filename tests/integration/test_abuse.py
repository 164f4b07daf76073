"""Hostile and overloading clients (issue 11): request targets that are not origin-form,
deeply nested JSON, HTTP ingest overload, slow headers and connection floods. Each test checks
that the server refuses clearly and keeps serving everyone else."""
import socket

import requests


def raw_http(port, data, timeout=5.0):
    """Sends raw bytes, returns everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def test_asterisk_request_target_is_refused_and_the_server_stays_up(iotad):
    # "GET *" and "HEAD *" used to crash the server (NULL from strrchr in the static handler)
    for method in (b"GET", b"HEAD"):
        out = raw_http(iotad.http_port, method + b" * HTTP/1.1\r\nHost: x\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 400 "), out
    out = raw_http(iotad.http_port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 204 ") and b"Allow: GET, HEAD" in out, out
    # absolute-form is served like origin-form; anything else is 400
    out = raw_http(iotad.http_port, b"GET http://x/healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ") and b'"ok"' in out, out
    for target in (b"*index.html", b"ftp://x/healthz", b"http://u:p@x/healthz"):
        out = raw_http(iotad.http_port, b"GET " + target + b" HTTP/1.1\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 400 "), (target, out)
    assert requests.get(iotad.url + "/healthz", timeout=5).json() == {"status": "ok"}
