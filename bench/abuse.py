#!/usr/bin/python3
"""Hostile-client benchmarks for issue 11 (network half). Starts build/iotad (Release) on free
loopback ports with a temporary data directory and prints one JSON object per scenario.

  bench/abuse.py nested [KB]        /healthz latency while 200 KB of '[' arrive over HTTP,
                                    MQTT and WebSocket, against an idle reference in the
                                    same run
  bench/abuse.py overload [C] [P] [S]  C clients (64) loop HTTP batches of P points (100000)
                                    for S seconds (30): peak RSS, status counts, /metrics
                                    latency against an idle reference
  bench/abuse.py slowloris [N] [R]  QoS 1 ack latency of 20 normal devices (bench_loadgen,
                                    R msgs/s, default 1000) without, then during, N (10000)
                                    slow-header HTTP connections kept open from 127.0.2.x
                                    (ratios during/without), the load average, and the
                                    server's CPU per slow connection per second (attack
                                    alone, less idle), and in each window what the event
                                    loops' lag and the commit latency histograms gained
                                    (when the binary has them); IOTAD_BIN picks the binary
  bench/abuse.py slowloris-order [N] [R]  the same attack: slow-connection reads the loop
                                    thread does between two reads of device sockets
                                    (traced with perf; root), a count the load cannot blur
  bench/abuse.py slowloris-instructions [N] [S]  user-space instructions of the server per
                                    slow connection per second (callgrind, N 1000, S 10 s)
  bench/abuse.py offline [N] [K]    N (20) silent MQTT devices with keepalive K s (4): time
                                    from their last packet to the server closing them (and
                                    marking them offline), as a multiple of K
  bench/abuse.py stop [N]           SIGTERM to exit with N (5000) connected MQTT devices
                                    (and N/10 HTTP keep-alive connections), against a stop
                                    of the same server with none, in the same run
"""
import atexit
import json
import os
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("IOTAD_BIN", os.path.join(ROOT, "build", "iotad"))
PASSWORD = "bench-password-123"


class Server:
    def __init__(self, args=(), env=None, wrap=()):
        self.tmp = tempfile.mkdtemp(prefix="iotad-abuse-")
        self.wrap = list(wrap)  # a command to run iotad under (valgrind)
        atexit.register(shutil.rmtree, self.tmp, True)
        self.env = dict(os.environ, IOTAD_ADMIN_PASSWORD=PASSWORD, IOTAD_FAST_HASH="1")
        self.env.update(env or {})
        self.args = args
        self.start()

    def start(self):
        self.logf = open(os.path.join(self.tmp, "log"), "a")
        offset = os.path.getsize(os.path.join(self.tmp, "log"))
        self.proc = subprocess.Popen([*self.wrap, BIN, "serve", "--data-dir", self.tmp,
                                      "--http-listen",
                                      "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0",
                                      *self.args],
                                     stdout=self.logf, stderr=self.logf, env=self.env)
        for _ in range(6000 if self.wrap else 600):
            m = re.search(r"http_port=(\d+) mqtt_port=(\d+)", self.log()[offset:])
            if m:
                break
            time.sleep(0.05)
        self.http, self.mqtt = int(m.group(1)), int(m.group(2))
        self.url = f"http://127.0.0.1:{self.http}"
        self.token = self.api("/api/v1/auth/login", {"email": "admin@localhost",
                                                      "password": PASSWORD})["token"]

    def log(self):
        with open(os.path.join(self.tmp, "log")) as f:
            return f.read()

    def api(self, path, body=None, method=None):
        req = urllib.request.Request(self.url + path,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     method=method or ("POST" if body is not None else "GET"))
        req.add_header("Content-Type", "application/json")
        if getattr(self, "token", None):
            req.add_header("Authorization", "Bearer " + self.token)
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read() or b"null")

    def device(self, name):
        d = self.api("/api/v1/devices", {"name": name})
        return d["id"], self.api(f"/api/v1/devices/{d['id']}/keys", {})["key"]

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def stop(self):
        t = time.time()
        self.proc.terminate()
        rc = self.proc.wait(timeout=120)
        return rc, time.time() - t


def get_latency(port, path="/healthz", timeout=60):
    """One GET on a fresh connection; seconds until the whole answer is in, or None."""
    t = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            while s.recv(65536):
                pass
    except OSError:
        return None
    return time.perf_counter() - t


def mqtt_packet(ptype, body):
    n, enc = len(body), b""
    while True:
        b = n & 127
        n >>= 7
        enc += bytes([b | (128 if n else 0)])
        if not n:
            break
    return bytes([ptype]) + enc + body


def mqtt_str(x):
    b = x.encode() if isinstance(x, str) else x
    return struct.pack(">H", len(b)) + b


def mqtt_connect(port, user, password, keepalive=60, src=None, timeout=30):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(src, 0) if src else None)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = mqtt_str("MQTT") + bytes([4, 0xC2]) + struct.pack(">H", keepalive) + \
        mqtt_str(user) + mqtt_str(user) + mqtt_str(password)
    s.sendall(mqtt_packet(0x10, body))
    ack = s.recv(4)
    assert ack[:2] == b"\x20\x02" and ack[3] == 0, ack
    return s


def sample_latency(port, stop, out, every=0.1):
    while not stop.is_set():
        out.append(get_latency(port))
        time.sleep(every)


def nested(kb=200):
    doc = b"[" * (kb * 1024 // 2) + b"]" * (kb * 1024 // 2)
    srv = Server(["--mqtt-max-packet", str(len(doc) + 1024)])
    dev, key = srv.device("nested")
    res = {"bench": "abuse_nested", "payload_bytes": len(doc)}
    ref = [get_latency(srv.http) for _ in range(20)]
    res["healthz_idle_ms"] = round(statistics.median(ref) * 1000, 2)

    def http_send():
        with socket.create_connection(("127.0.0.1", srv.http), timeout=120) as s:
            s.sendall(b"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nX-API-Key: " + key.encode() +
                      b"\r\nContent-Type: application/json\r\nContent-Length: " +
                      str(len(doc)).encode() + b"\r\nConnection: close\r\n\r\n" + doc)
            return s.recv(200).split(b"\r\n")[0].decode()

    def mqtt_send():
        s = mqtt_connect(srv.mqtt, dev, key)
        s.sendall(mqtt_packet(0x32, mqtt_str(f"devices/{dev}/telemetry") + b"\x00\x01" + doc))
        s.settimeout(120)
        try:
            r = s.recv(16)
        except OSError as e:
            r = repr(e).encode()
        s.close()
        return "closed" if not r else r.hex()

    for name, fn in (("http", http_send), ("mqtt", mqtt_send)):
        lat, stop, answer = [], threading.Event(), {}
        th = threading.Thread(target=sample_latency, args=(srv.http, stop, lat, 0.02))
        th.start()
        t = time.perf_counter()
        answer["r"] = fn()
        took = time.perf_counter() - t
        time.sleep(0.2)
        stop.set()
        th.join()
        lat = [x for x in lat if x is not None]
        res[name] = {"answer": answer["r"], "answer_s": round(took, 3),
                     "healthz_max_ms": round(max(lat) * 1000, 1), "healthz_samples": len(lat)}
    rc, _ = srv.stop()
    res["exit_code"] = rc
    print(json.dumps(res))


def batch_body(points, ts0):
    objs, per = [], 10
    for i in range(points // per):
        ms = ",".join(f'"m{k}":{20 + (i * 7 + k) % 50}.{k}5' for k in range(per))
        objs.append(f'{{"ts":{ts0 + i},"metrics":{{{ms}}}}}')
    return ("[" + ",".join(objs) + "]").encode()


def overload(clients=64, points=100000, seconds=30):
    import http.client
    srv = Server()
    creds = [srv.device(f"ov-{i}") for i in range(clients)]
    body = batch_body(points, int(time.time() * 1000) - 3600 * 1000)
    res = {"bench": "abuse_overload", "clients": clients, "points_per_batch": points,
           "body_bytes": len(body), "seconds": seconds}
    res["rss_idle_kb"] = srv.rss_kb()
    ref = [get_latency(srv.http, "/metrics") for _ in range(10)]
    res["metrics_idle_ms"] = round(statistics.median(ref) * 1000, 2)
    stop, lock, status = threading.Event(), threading.Lock(), {}

    def client(key):
        conn = None
        while not stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", srv.http, timeout=120)
                conn.request("POST", "/api/v1/ingest", body=body,
                             headers={"X-API-Key": key, "Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                code = str(r.status)
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
                if r.status == 503:
                    time.sleep(float(r.getheader("Retry-After", "1")) * 0.1)
            except (OSError, http.client.HTTPException) as e:
                code = type(e).__name__
                if conn:
                    conn.close()
                conn = None
            with lock:
                status[code] = status.get(code, 0) + 1

    threads = [threading.Thread(target=client, args=(k,)) for _, k in creds]
    for t in threads:
        t.start()
    rss, t_end = [], time.time() + seconds
    # /metrics is sampled from another process: this one's threads share one GIL
    prober = subprocess.Popen([sys.executable, os.path.abspath(__file__), "probe",
                               str(srv.http), "/metrics", str(seconds)], stdout=subprocess.PIPE)
    while time.time() < t_end:
        rss.append(srv.rss_kb())
        time.sleep(0.2)
    lat = json.loads(prober.communicate()[0])
    stop.set()
    for t in threads:
        t.join()
    ok = [x for x in lat if x is not None]
    res.update({"rss_peak_kb": max(rss), "status_counts": status,
                "metrics_samples": len(lat), "metrics_failed": len(lat) - len(ok),
                "metrics_p50_ms": round(statistics.median(ok) * 1000, 1) if ok else None,
                "metrics_max_ms": round(max(ok) * 1000, 1) if ok else None})
    rc, took = srv.stop()
    res["exit_code"], res["stop_s"] = rc, round(took, 2)
    print(json.dumps(res))


def slow_attacker(port, n, seconds, ready_file):
    """Child process: keeps n slow-header HTTP connections open from 127.0.2.x (one header
    line per connection every 2 s), reopening those the server closes. Prints counts."""
    import resource
    import select
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    conns, opened, closed_by_server, t_end = {}, 0, 0, time.time() + seconds
    per_addr, ep = 900, select.epoll()

    def open_one(i):
        nonlocal opened
        s = socket.socket()
        s.setblocking(False)
        s.bind((f"127.0.2.{i // per_addr + 1}", 0))
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        conns[s.fileno()] = (s, i, False)
        ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        opened += 1

    for i in range(n):
        open_one(i)
    open(ready_file, "w").close()
    last_tick = 0.0
    while time.time() < t_end:
        now = time.time()
        if now - last_tick >= 2:
            last_tick = now
            for fd, (s, i, started) in list(conns.items()):
                try:
                    s.send(b"X-a: b\r\n" if started else b"GET / HTTP/1.1\r\n")
                    conns[fd] = (s, i, True)
                except OSError:
                    pass
        for fd, ev in ep.poll(0.5):
            s, i, _ = conns.pop(fd)
            closed_by_server += 1
            ep.unregister(fd)
            s.close()
            open_one(i)
    print(json.dumps({"opened": opened, "closed_by_server": closed_by_server,
                      "open_at_end": len(conns)}))


def loadgen(srv, creds_file, rate, seconds, lag, label):
    out = subprocess.run([os.path.join(ROOT, "build", "bench_loadgen"), "mqtt", "--port",
                          str(srv.mqtt), "--creds", creds_file, "--connections", "20", "--qos",
                          "1", "--rate", str(rate), "--duration", str(seconds), "--ts-lag",
                          str(lag), "--label", label], capture_output=True, text=True)
    return json.loads(out.stdout)


def proc_cpu_s(pid, tid=None):
    """CPU seconds (user + system) of a process, or of one of its threads."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_window(srv, seconds):
    """CPU seconds of the whole server and of its event-loop thread over seconds."""
    a, am = proc_cpu_s(srv.proc.pid), proc_cpu_s(srv.proc.pid, srv.proc.pid)
    time.sleep(seconds)
    return proc_cpu_s(srv.proc.pid) - a, proc_cpu_s(srv.proc.pid, srv.proc.pid) - am


def slowloris_server():
    """A server with 20 normal devices (their credentials in a file for bench_loadgen), the
    descriptor limit raised for the attacker's connections."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    srv = Server()
    creds = os.path.join(srv.tmp, "creds.txt")
    with open(creds, "w") as f:
        for i in range(20):
            f.write("%s %s\n" % srv.device(f"normal-{i}"))
    return srv, creds


def scrape(srv):
    return urllib.request.urlopen(srv.url + "/metrics", timeout=60).read().decode()


def hist_delta(before, after, name, label=""):
    """What a Prometheus histogram gained between two scrapes (label: e.g. 'loop="device"'):
    samples, the bucket bound under which 50/99 % of them fell, the share over 20 ms."""
    def buckets(text):
        out = {}
        for m in re.finditer(r"^%s_bucket\{(.*)\} (\S+)$" % name, text, re.M):
            if label and label not in m.group(1):
                continue
            le = re.search(r'le="([^"]+)"', m.group(1)).group(1)
            out[float("inf") if le == "+Inf" else float(le)] = float(m.group(2))
        return out
    a, b = buckets(before), buckets(after)
    if not b:
        return None
    d = sorted((le, b[le] - a.get(le, 0)) for le in b)
    n = d[-1][1]
    res = {"samples": int(n)}
    for q in (0.5, 0.99):
        res[f"p{int(q * 100)}_le_s"] = next((le for le, c in d if c >= q * n), None) if n else None
    under20 = max((c for le, c in d if le <= 0.02), default=0)
    res["share_over_20ms"] = round(1 - under20 / n, 4) if n else None
    return res


def schedstat(pid):
    """The loop thread's time on a CPU and waiting for one (runqueue), ns (/proc schedstat)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            run, wait, _ = (int(x) for x in f.read().split())
        return run, wait
    except OSError:
        return None


def sched_window(a, b):
    if not a or not b:
        return None
    return {"loop_thread_run_ms": round((b[0] - a[0]) / 1e6, 1),
            "loop_thread_runqueue_wait_ms": round((b[1] - a[1]) / 1e6, 1)}


def lag_window(before, after):
    """Event-loop lag and commit latency gained in a window, and the loops' recent maxima."""
    out = {"commit": hist_delta(before, after, "iotad_commit_latency_seconds")}
    for loop in ("main", "device"):
        out[f"lag_{loop}"] = hist_delta(before, after, "iotad_event_loop_lag_seconds",
                                        f'loop="{loop}"')
        m = re.search(r'^iotad_event_loop_lag_max_seconds\{loop="%s"\} (\S+)$' % loop, after,
                      re.M)
        out[f"lag_{loop}_max_s"] = float(m.group(1)) if m else None
    return out


def slowloris(n=10000, rate=1000):
    srv, creds = slowloris_server()
    res = {"bench": "abuse_slowloris", "slow_connections": n, "rate": rate,
           "binary": os.path.relpath(BIN, ROOT), "loadavg_start": os.getloadavg()}
    window = 10
    idle_cpu, idle_loop = cpu_window(srv, window)
    m0, s0 = scrape(srv), schedstat(srv.proc.pid)
    ref = loadgen(srv, creds, rate, 10, 3600, "reference")
    res["reference_loops"] = lag_window(m0, scrape(srv))
    res["reference_loops"]["sched"] = sched_window(s0, schedstat(srv.proc.pid))
    ready = os.path.join(srv.tmp, "attacker-ready")
    att = subprocess.Popen([sys.executable, os.path.abspath(__file__), "attacker", str(srv.http),
                            str(n), str(30 + window), ready], stdout=subprocess.PIPE)
    while not os.path.exists(ready):
        time.sleep(0.1)
    time.sleep(5)  # let the server accept them all
    # the server's CPU with the attack alone (lines every 2 s, deadline closes every 10 s, the
    # reconnects), less its idle CPU over as long: what slow connections cost
    att_cpu, att_loop = cpu_window(srv, window)
    res["cpu_idle_s"], res["cpu_attack_s"] = round(idle_cpu, 3), round(att_cpu, 3)
    res["cpu_us_per_slow_conn_s"] = round((att_cpu - idle_cpu) / n / window * 1e6, 3)
    res["loop_cpu_us_per_slow_conn_s"] = round((att_loop - idle_loop) / n / window * 1e6, 3)
    res["metrics_during_ms"] = round((get_latency(srv.http, "/metrics") or -1) * 1000, 1)
    m = urllib.request.urlopen(srv.url + "/metrics", timeout=30).read().decode()
    res["http_connections_during"] = int(float(re.search(
        r'iotad_connections\{listener="http"\} (\S+)', m).group(1)))
    m0, s0 = scrape(srv), schedstat(srv.proc.pid)
    during = loadgen(srv, creds, rate, 10, 1800, "during")
    res["during_loops"] = lag_window(m0, scrape(srv))
    res["during_loops"]["sched"] = sched_window(s0, schedstat(srv.proc.pid))
    res["attacker"] = json.loads(att.communicate()[0])
    for k, r in (("reference", ref), ("during", during)):
        res[k] = {x: r.get(x) for x in ("p50_ms", "p99_ms", "p999_ms", "max_ms", "acked",
                                         "unacked", "conn_lost", "msgs_per_s")}
    res["p50_ratio"] = round(during["p50_ms"] / max(ref["p50_ms"], 1e-3), 2)
    res["p99_ratio"] = round(during["p99_ms"] / max(ref["p99_ms"], 1e-3), 2)
    m = urllib.request.urlopen(srv.url + "/metrics", timeout=30).read().decode()
    res["header_timeouts"] = int(float(re.search(
        r"^iotad_http_header_timeouts_total (\S+)$", m, re.M).group(1)))
    res["loadavg_end"] = os.getloadavg()
    rc, took = srv.stop()
    res["exit_code"], res["stop_s"] = rc, round(took, 2)
    print(json.dumps(res))


def slowloris_order(n=10000, rate=1000, seconds=8):
    """Work queued ahead of devices during the slowloris, counted rather than timed: the
    loop thread's read(2) calls are traced (perf, root) while the devices publish, and each
    run of slow-connection reads between two reads of device sockets is counted. A figure the
    machine's load does not change: before the device loop, a device's packet waited behind
    every slow connection that became readable before it."""
    srv, creds = slowloris_server()
    ready = os.path.join(srv.tmp, "attacker-ready")
    att = subprocess.Popen([sys.executable, os.path.abspath(__file__), "attacker", str(srv.http),
                            str(n), str(seconds + 20), ready], stdout=subprocess.PIPE)
    while not os.path.exists(ready):
        time.sleep(0.1)
    time.sleep(5)
    lg = subprocess.Popen([os.path.join(ROOT, "build", "bench_loadgen"), "mqtt", "--port",
                           str(srv.mqtt), "--creds", creds, "--connections", "20", "--qos", "1",
                           "--rate", str(rate), "--duration", str(seconds + 3), "--ts-lag",
                           "1800", "--label", "order"], stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    ss = subprocess.run(["ss", "-tnpH", "state", "established", f"sport = :{srv.mqtt}"],
                        capture_output=True, text=True).stdout
    device_fds = {int(x) for x in re.findall(rf"pid={srv.proc.pid},fd=(\d+)", ss)}
    trace = os.path.join(srv.tmp, "perf.data")
    subprocess.run(["perf", "record", "-q", "-e", "syscalls:sys_enter_read", "-t",
                    str(srv.proc.pid), "-o", trace, "--", "sleep", str(seconds)], check=True)
    acks = json.loads(lg.communicate()[0])
    script = subprocess.run(["perf", "script", "-i", trace, "-F", "trace"], capture_output=True,
                            text=True).stdout
    runs, cur, device_reads, slow_reads = [], 0, 0, 0
    for line in script.splitlines():
        m = re.search(r"fd: 0x([0-9a-f]+)", line)
        if not m:
            continue
        fd = int(m.group(1), 16)
        if fd in device_fds:
            device_reads += 1
            runs.append(cur)
            cur = 0
        elif fd > 20:  # the listeners, the database and the loops' own descriptors are below
            slow_reads += 1
            cur += 1
    runs.sort()
    att.communicate()
    rc, _ = srv.stop()
    print(json.dumps({
        "bench": "abuse_slowloris_order", "binary": os.path.relpath(BIN, ROOT),
        "slow_connections": n, "rate": rate, "loadavg": os.getloadavg(),
        "device_sockets": len(device_fds), "device_reads": device_reads,
        "slow_reads": slow_reads,
        "slow_reads_between_device_reads": {
            "p50": runs[len(runs) // 2], "p99": runs[int(len(runs) * 0.99)],
            "p999": runs[int(len(runs) * 0.999)], "max": runs[-1]},
        "ack_p50_ms": acks["p50_ms"], "ack_p99_ms": acks["p99_ms"], "exit_code": rc}))


def slowloris_instructions(n=1000, seconds=10):
    """User-space instructions the server executes per slow connection per second (callgrind,
    every thread): n slow connections (a line every 2 s, reconnected at the deadline) for
    seconds, less an idle window as long. A figure the machine's load does not blur; the
    server's kernel time (reads, accepts, closes) is not in it."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = tempfile.mkdtemp(prefix="iotad-callgrind-")
    atexit.register(shutil.rmtree, tmp, True)
    out = os.path.join(tmp, "callgrind.out")
    srv = Server(wrap=["valgrind", "--tool=callgrind", "--instr-atstart=no",
                       f"--callgrind-out-file={out}"])
    pid = str(srv.proc.pid)

    def window():
        """Instructions over seconds of instrumentation (every thread)."""
        subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
        time.sleep(seconds)
        subprocess.run(["callgrind_control", "-i", "off", pid], check=True,
                       capture_output=True)
        before = set(os.listdir(tmp))
        subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
        total = 0
        for f in set(os.listdir(tmp)) - before:
            with open(os.path.join(tmp, f)) as fh:
                m = re.search(r"^totals: (\d+)", fh.read(), re.M)
                total += int(m.group(1)) if m else 0
        return total

    idle = window()
    ready = os.path.join(srv.tmp, "attacker-ready")
    att = subprocess.Popen([sys.executable, os.path.abspath(__file__), "attacker", str(srv.http),
                            str(n), str(seconds + 40), ready], stdout=subprocess.PIPE)
    while not os.path.exists(ready):
        time.sleep(0.1)
    time.sleep(15)  # accepted (slowly, under valgrind), and through a first deadline
    attack = window()
    att.kill()
    att.wait()
    rc, _ = srv.stop()
    print(json.dumps({"bench": "abuse_slowloris_instructions", "binary": os.path.relpath(BIN, ROOT),
                      "slow_connections": n, "seconds": seconds, "instructions_idle": idle,
                      "instructions_attack": attack,
                      "instructions_per_slow_conn_s": round((attack - idle) / n / seconds, 1),
                      "loadavg": os.getloadavg(), "exit_code": rc}))


def offline(n=20, keepalive=4):
    srv = Server()
    creds = [srv.device(f"silent-{i}") for i in range(n)]
    socks, ratios = [], []
    for dev, key in creds:
        socks.append((mqtt_connect(srv.mqtt, dev, key, keepalive=keepalive), time.time()))
        time.sleep(0.05)  # spread over the server's clock
    for s, t0 in socks:
        s.settimeout(keepalive * 3)
        assert s.recv(1) == b""
        ratios.append((time.time() - t0) / keepalive)
        s.close()
    ratios.sort()
    print(json.dumps({"bench": "abuse_offline", "devices": n, "keepalive_s": keepalive,
                      "ratio_min": round(ratios[0], 3), "ratio_median":
                      round(ratios[len(ratios) // 2], 3), "ratio_max": round(ratios[-1], 3)}))
    srv.stop()


def stop(n=5000):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    srv = Server()
    creds = [srv.device(f"stop-{i}") for i in range(n)]
    res = {"bench": "abuse_stop", "mqtt_connections": n, "http_connections": n // 10}
    rc, took = srv.stop()  # the reference: the same data, no connections
    res["reference_exit_code"], res["reference_stop_s"] = rc, round(took, 3)
    srv.start()
    socks, t0 = [], time.time()
    for i, (dev, key) in enumerate(creds):  # 900 per source address (the cap is 1000)
        socks.append(mqtt_connect(srv.mqtt, dev, key, src=f"127.0.4.{i // 900 + 1}"))
    for i in range(n // 10):
        s = socket.create_connection(("127.0.0.1", srv.http), source_address=("127.0.5.1", 0))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(4096)
        socks.append(s)
    res["connect_s"] = round(time.time() - t0, 2)
    rc, took = srv.stop()
    res["exit_code"], res["stop_s"] = rc, round(took, 3)
    res["ratio"] = round(took / max(res["reference_stop_s"], 1e-3), 2)
    for s in socks:
        s.close()
    print(json.dumps(res))


def probe(port, path, seconds):
    """Child process: GET path every 0.2 s for seconds; prints the latencies (null = failed)."""
    out, t_end = [], time.time() + seconds
    while time.time() < t_end:
        out.append(get_latency(port, path, timeout=seconds + 60))
        time.sleep(0.2)
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "attacker":
        slow_attacker(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
        sys.exit(0)
    if sys.argv[1] == "probe":
        probe(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]))
        sys.exit(0)
    cmd = sys.argv[1] if len(sys.argv) > 1 else "nested"
    args = [int(a) for a in sys.argv[2:]]
    {"nested": nested, "overload": overload, "slowloris": slowloris,
     "slowloris-order": slowloris_order, "slowloris-instructions": slowloris_instructions,
     "offline": offline, "stop": stop}[cmd](*args)
