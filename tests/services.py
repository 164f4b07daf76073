#!/usr/bin/python3
"""Real PostgreSQL 15, RabbitMQ 3.10 and HAProxy for tests (Debian packages), each started in a
temporary directory on free loopback ports and stopped by its own PID: nothing fixed, nothing
shared with another test run on the same machine (see ../shared/SERVICES.md for the recipes).

Used two ways:
  - from Python (pytest fixtures in tests/cluster and tests/integration): Postgres(),
    RabbitMQ(), HAProxy(cfg), each with start/stop/kill/restart;
  - from the command line, for ctest fixtures of the C unit tests:
      services.py start postgres|rabbitmq DIR   starts it, writes DIR/env (KEY=VALUE lines:
                                                IOTAD_TEST_PG_URL / IOTAD_TEST_AMQP_URL);
                                                IOTAD_PG_FSYNC=1: PostgreSQL with fsync on
      services.py stop DIR                      stops what start left running there
      services.py hold-port PID [N]             prints N (default 1) free ports, one a line,
                                                reserved (as free_port) until process PID
                                                exits: for shell scripts (bench/), which
                                                start a server on the port later

RabbitMQ takes 4-40 s to boot on these machines (under load): start it once per test session.
Its epmd (the Erlang port mapper) runs on a free port of its own too (ERL_EPMD_PORT), as a
child of this module, so two test runs never share one and none is left behind."""
import fcntl
import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PG_BIN = "/usr/lib/postgresql/15/bin"


_PORT_LOCKS = os.path.join(tempfile.gettempdir(), "iotad-test-ports")
_reserved = {}  # port -> the open lock file that reserves it while this process lives


def _ephemeral_range():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, hi = (int(x) for x in f.read().split())
    return lo, hi


def free_port():
    """A port for a server that something else binds later (another process, a container, a
    server thread): the one free-port helper of the tests (integration and deploy conftests
    re-export it).

    Not one the kernel picks (bind to port 0): those come from the ephemeral range, where any
    outgoing connection on this shared machine may take it before the server binds it
    ("address already in use", "dist port already used"). A random port below that range
    (ip_local_port_range, read, not assumed) can only be taken by another explicit bind; it
    must be free on every address now (bind to 0.0.0.0, without SO_REUSEADDR), and it is
    reserved by an flock on a file per port in a directory shared by every test process on
    the machine, held until this process exits, so two parallel tests (or test runs) never
    hand out the same port even before either has bound it."""
    lo, _ = _ephemeral_range()
    low = max(1024, lo - 20000)
    os.makedirs(_PORT_LOCKS, exist_ok=True)
    try:
        os.chmod(_PORT_LOCKS, 0o1777)
    except PermissionError:
        pass  # made by another user, who made it shared already
    for _ in range(1000):
        port = random.randrange(low, lo)
        if port in _reserved:
            continue
        try:
            fd = os.open(os.path.join(_PORT_LOCKS, str(port)), os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            continue  # another user's reservation file
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # reserved by another test process
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                os.close(fd)
                continue  # in use
        _reserved[port] = fd
        return port
    raise RuntimeError(f"no free port in {low}-{lo - 1}")


def _as_user(user, cmd):
    """cmd run as a system user when we are root (PostgreSQL refuses root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", user, "--"] + cmd
    return cmd


def _chown(path, user):
    if os.geteuid() == 0:
        pw = pwd.getpwnam(user)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _wait_port(port, timeout, alive=None, what="service", log=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        if alive is not None and not alive():
            break
        time.sleep(0.1)
    tail = ""
    if log and os.path.exists(log):
        with open(log, errors="replace") as f:
            tail = f.read()[-3000:]
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port}\n{tail}")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie left to PID 1 counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _wait_gone(pid, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


class Postgres:
    """One PostgreSQL 15 cluster. fsync=False (the default) keeps the tests fast: a killed
    server process still has its WAL in the page cache, only a machine crash would lose it;
    benchmarks pass fsync=True."""

    def __init__(self, fsync=False, base=None, port=None):
        self.dir = base or tempfile.mkdtemp(prefix="iotad-pg-")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        _chown(self.dir, "postgres")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "log")
        self.port = port or free_port()
        self.fsync = fsync
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            subprocess.run(_as_user("postgres", [
                f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                "--no-sync", "-E", "UTF8", "--locale=C"]), check=True,
                stdout=subprocess.DEVNULL)
        self.start()

    def url(self, db="postgres"):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def start(self):
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                f"-c fsync={'on' if self.fsync else 'off'} -c max_connections=300 "
                "-c shared_buffers=128MB")
        subprocess.run(_as_user("postgres", [
            f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "120", "-o",
            opts, "start"]), check=True, stdout=subprocess.DEVNULL)

    def pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def stop(self, mode="fast"):
        """mode: smart | fast | immediate (immediate = a crash: recovery at the next start)."""
        if not os.path.exists(os.path.join(self.data, "postmaster.pid")):
            return
        subprocess.run(_as_user("postgres", [
            f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self):
        """kill -9 of the postmaster (its children end when they notice)."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 30)

    def restart(self):
        self.stop()
        self.start()

    def psql(self, sql, db="postgres"):
        """Runs SQL with psql; the output rows as lists of strings (unaligned, tab-separated)."""
        r = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                            "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db,
                            "-c", sql], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"psql: {r.stderr.strip()}")
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    def create_db(self, name):
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class RabbitMQ:
    """One RabbitMQ 3.10 node. restart() keeps its data (quorum queues survive)."""

    def __init__(self, base=None, port=None, epmd_port=None, dist_port=None):
        self.dir = base or tempfile.mkdtemp(prefix="iotad-rmq-")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o777)
        self.port = port or free_port()
        self.epmd_port = epmd_port or free_port()
        self.dist_port = dist_port or free_port()
        self.node = f"iotadtest{self.port}@localhost"
        self.out = os.path.join(self.dir, "out")
        self.epmd = None
        self.proc = None
        self.start()

    def url(self):
        return f"amqp://guest:guest@127.0.0.1:{self.port}"

    def env(self):
        e = dict(os.environ)
        e.update({
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": os.path.join(self.dir, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(self.dir, "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(self.dir, "plugins"),
            "RABBITMQ_FEATURE_FLAGS_FILE": os.path.join(self.dir, "feature_flags"),
            "RABBITMQ_PID_FILE": os.path.join(self.dir, "beam.pid"),
        })
        return e

    def start(self):
        try:
            if self.epmd is None or self.epmd.poll() is not None:
                self.epmd = subprocess.Popen(
                    ["epmd", "-port", str(self.epmd_port)], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, start_new_session=True)
                _wait_port(self.epmd_port, 30, self._epmd_alive, "epmd")
            self._start_node()
        except BaseException:
            self.close()  # nothing left behind by a start that failed
            raise

    def _start_node(self):
        with open(self.out, "ab") as out:
            self.proc = subprocess.Popen(
                _as_user("rabbitmq", ["/usr/lib/rabbitmq/bin/rabbitmq-server"]),
                env=dict(self.env(), HOME="/var/lib/rabbitmq"), stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, cwd=self.dir)
        # the AMQP listener opens last, once the broker has booted
        _wait_port(self.port, 180, lambda: self.proc.poll() is None, "RabbitMQ", self.out)

    def _epmd_alive(self):
        return self.epmd.poll() is None

    def beam_pid(self):
        try:
            with open(os.path.join(self.dir, "beam.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def ctl(self, *args):
        r = subprocess.run(["rabbitmqctl", "-q", "-n", self.node] + list(args),
                           env=self.env(), capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def queues(self):
        """{name: (messages ready, messages unacknowledged, consumers)}"""
        out = self.ctl("list_queues", "--formatter", "json", "name", "messages_ready",
                       "messages_unacknowledged", "consumers")
        return {q["name"]: (q["messages_ready"], q["messages_unacknowledged"], q["consumers"])
                for q in json.loads(out)}

    def stop_node(self):
        """rabbitmqctl stop (SIGKILL when that fails), then waits until the node's beam is gone."""
        pid = self.beam_pid()
        try:
            self.ctl("stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            if pid:
                os.kill(pid, signal.SIGKILL)
        if pid:
            _wait_gone(pid, 60)

    def stop(self):
        """A clean stop (rabbitmqctl stop), then the node's processes are gone."""
        if self.proc is None:
            return
        self.stop_node()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def kill(self):
        """kill -9 of the broker's VM (a crash)."""
        pid = self.beam_pid()
        if pid:
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 30)
        if self.proc is not None:
            self.proc.wait(timeout=60)
            self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def close(self, keep_dir=False):
        try:
            self.stop()
        finally:
            if self.epmd is not None and self.epmd.poll() is None:
                self.epmd.kill()
                self.epmd.wait()
            if not keep_dir:
                shutil.rmtree(self.dir, ignore_errors=True)


class HAProxy:
    """haproxy -db with the given configuration text, in the foreground, as our child."""

    def __init__(self, cfg, ports=()):
        self.dir = tempfile.mkdtemp(prefix="iotad-haproxy-")
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(cfg)
        self.log = os.path.join(self.dir, "out")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(["haproxy", "-f", self.cfg, "-db"], stdout=out,
                                         stderr=subprocess.STDOUT)
        for p in ports:
            _wait_port(p, 30, lambda: self.proc.poll() is None, "HAProxy", self.log)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- command line, for ctest fixtures -------------------------------------------------------

def _hold_ports(pid, n):
    """Prints n reserved free ports and returns at once; a forked child keeps the reservations
    (the flocks) until process pid is gone, so `port=$(services.py hold-port $$)` holds the
    port for the whole life of the calling shell and no other test or bench takes it."""
    ports = [free_port() for _ in range(n)]
    sys.stdout.write("".join(f"{p}\n" for p in ports))
    sys.stdout.flush()
    if os.fork() > 0:
        os._exit(0)  # the caller's $(...) ends when the child has closed stdout too
    os.setsid()  # not killed with the caller's terminal process group (Ctrl-C)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    while _pid_alive(pid):
        time.sleep(1)
    os._exit(0)  # the flocks go with the process


def _cli(argv):
    if len(argv) in (3, 4) and argv[1] == "hold-port" and argv[2].isdigit() and (
            len(argv) == 3 or argv[3].isdigit()):
        _hold_ports(int(argv[2]), int(argv[3]) if len(argv) == 4 else 1)
        return 0
    if len(argv) == 4 and argv[1] == "start" and argv[2] in ("postgres", "rabbitmq"):
        base = os.path.abspath(argv[3])
        shutil.rmtree(base, ignore_errors=True)
        os.makedirs(base)
        if argv[2] == "postgres":
            pg = Postgres(base=os.path.join(base, "pg"),
                          fsync=os.environ.get("IOTAD_PG_FSYNC") == "1")
            state = {"kind": "postgres", "dir": pg.dir, "port": pg.port}
            env = f"IOTAD_TEST_PG_URL={pg.url()}\n"
        else:
            mq = RabbitMQ(base=os.path.join(base, "rmq"))
            state = {"kind": "rabbitmq", "dir": mq.dir, "port": mq.port,
                     "epmd_port": mq.epmd_port, "dist_port": mq.dist_port,
                     "epmd_pid": mq.epmd.pid}
            env = f"IOTAD_TEST_AMQP_URL={mq.url()}\n"
        with open(os.path.join(base, "state.json"), "w") as f:
            json.dump(state, f)
        with open(os.path.join(base, "env"), "w") as f:
            f.write(env)
        return 0
    if len(argv) == 3 and argv[1] == "stop":
        base = os.path.abspath(argv[2])
        try:
            with open(os.path.join(base, "state.json")) as f:
                state = json.load(f)
        except OSError:
            return 0
        if state["kind"] == "postgres":
            subprocess.run(_as_user("postgres", [
                f"{PG_BIN}/pg_ctl", "-D", os.path.join(state["dir"], "data"), "-m",
                "immediate", "-w", "stop"]), stdout=subprocess.DEVNULL)
        else:
            mq = RabbitMQ.__new__(RabbitMQ)
            mq.dir, mq.port = state["dir"], state["port"]
            mq.epmd_port, mq.dist_port = state["epmd_port"], state["dist_port"]
            mq.node = f"iotadtest{mq.port}@localhost"
            mq.stop_node()
            try:
                os.kill(state["epmd_pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(base, ignore_errors=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_cli(sys.argv))
