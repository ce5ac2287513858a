"""A Cairn fleet on this machine (issue 17), for compat/test_fleet.py and
compat/bench/fleet.py: one PostgreSQL primary, a streaming replica made by
pg_basebackup -R, PgBouncer in transaction mode in front of the primary,
N cairn-servers and HAProxy rendered from deploy/haproxy.cfg.

PostgreSQL and PgBouncer refuse to run as root: as root they run as Debian's
`postgres` user (as tests/pg.sh and server/embedded_pg.c do), in directories
that user owns. Everything listens on 127.0.0.1 / unix sockets, ports picked
free. Every process started here is in its own process group and stopped by
Fleet.stop(), whatever failed.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.geteuid() == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bindir():
    dirs = sorted((d for d in os.listdir("/usr/lib/postgresql") if d.isdigit()), key=int)
    return f"/usr/lib/postgresql/{dirs[-1]}/bin"


def as_pg(args):
    return ["runuser", "-u", "postgres", "--", *args] if ROOT else list(args)


def chown_pg(path):
    if ROOT:
        subprocess.run(["chown", "-R", "postgres:", path], check=True)


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


class Fleet:
    def __init__(self, server_bin, replica=True, pgbouncer=True, workers=None, pool_size=None,
                 lag_ms=None, tmp=None):
        self.server_bin = server_bin
        self.tmp = tmp or tempfile.mkdtemp(prefix="cairn-fleet-")
        os.chmod(self.tmp, 0o755)
        self.bindir = pg_bindir()
        self.want_replica = replica
        self.want_pgbouncer = pgbouncer
        self.workers = workers
        self.pool_size = pool_size
        self.lag_ms = lag_ms
        self.servers = {}      # index -> dict(proc, port, log)
        self.procs = []        # everything else we started (haproxy, pgbouncer)
        self.haproxy = None
        self.pgb = None
        self.artifacts = os.path.join(self.tmp, "artifacts")
        os.makedirs(self.artifacts)
        self.replica_started = False
        self.primary_started = False

    # ---------------------------------------------------------- PostgreSQL
    def _pg_ctl(self, datadir, sock, log, action, extra=""):
        opts = (f"-c listen_addresses='' -c unix_socket_directories='{sock}' -c max_connections=300 "
                f"-c fsync=off -c full_page_writes=off {extra}")
        args = [f"{self.bindir}/pg_ctl", "-D", datadir, "-l", log, "-w", "-t", "60"]
        if action != "stop":
            args += ["-o", opts]
        args += [action] + (["-m", "fast"] if action in ("stop", "restart") else [])
        r = subprocess.run(as_pg(args), capture_output=True, text=True)
        if r.returncode:
            tail = open(log).read()[-3000:] if os.path.exists(log) else ""
            raise RuntimeError(f"pg_ctl {action} {datadir}: {r.stderr}\n{tail}")

    def start_primary(self):
        d = os.path.join(self.tmp, "primary")
        self.primary_sock = os.path.join(d, "sock")
        os.makedirs(self.primary_sock)
        chown_pg(d)
        r = subprocess.run(as_pg([f"{self.bindir}/initdb", "-D", f"{d}/pg", "-E", "UTF8", "--locale=C.UTF-8",
                                  "--auth=trust", "-U", "postgres"]), capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError("initdb: " + r.stderr)
        self.primary_dir = f"{d}/pg"
        self.primary_log = f"{d}/pg.log"
        # synchronous_commit on (the default): an acknowledged write is on disk
        self._pg_ctl(self.primary_dir, self.primary_sock, self.primary_log, "start",
                     "-c wal_level=replica -c max_wal_senders=5 -c wal_keep_size=256MB")
        self.primary_started = True
        self.psql(self.primary_sock, "postgres", "CREATE DATABASE cairn")

    def start_replica(self):
        d = os.path.join(self.tmp, "replica")
        self.replica_sock = os.path.join(d, "sock")
        os.makedirs(self.replica_sock)
        chown_pg(d)
        self.replica_dir = f"{d}/pg"
        self.replica_log = f"{d}/pg.log"
        r = subprocess.run(as_pg([f"{self.bindir}/pg_basebackup", "-h", self.primary_sock, "-U", "postgres",
                                  "-D", self.replica_dir, "-R", "-X", "stream", "-c", "fast"]),
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError("pg_basebackup: " + r.stderr)
        self._pg_ctl(self.replica_dir, self.replica_sock, self.replica_log, "start", "-c hot_standby=on")
        self.replica_started = True
        wait_for(lambda: self.psql(self.replica_sock, "cairn", "SELECT pg_is_in_recovery()") == "t", 30,
                 "the replica")

    def restart_replica(self):
        self._pg_ctl(self.replica_dir, self.replica_sock, self.replica_log, "restart", "-c hot_standby=on")

    def psql(self, sock, db, sql):
        r = subprocess.run(as_pg([f"{self.bindir}/psql", "-h", sock, "-U", "postgres", "-d", db, "-XAtq",
                                  "-v", "ON_ERROR_STOP=1", "-c", sql]), capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"psql {sql!r}: {r.stderr}")
        return r.stdout.strip()

    # ---------------------------------------------------------- PgBouncer
    def start_pgbouncer(self):
        d = os.path.join(self.tmp, "pgbouncer")
        os.makedirs(d)
        self.pgb_port = free_port()
        with open(os.path.join(REPO, "deploy/pgbouncer.ini")) as f:
            ini = f.read()
        ini = re.sub(r"(?m)^cairn = .*$", f"cairn = host={self.primary_sock} dbname=cairn user=postgres", ini)
        ini = re.sub(r"(?m)^listen_addr = .*$", "listen_addr =", ini)
        ini = re.sub(r"(?m)^listen_port = .*$", f"listen_port = {self.pgb_port}", ini)
        ini = re.sub(r"(?m)^unix_socket_dir =.*$", f"unix_socket_dir = {d}", ini)
        ini = re.sub(r"(?m)^auth_file = .*$", f"auth_file = {d}/userlist.txt", ini)
        ini += f"logfile = {d}/pgbouncer.log\npidfile = {d}/pgbouncer.pid\n"
        with open(f"{d}/pgbouncer.ini", "w") as f:
            f.write(ini)
        with open(f"{d}/userlist.txt", "w") as f:
            f.write('"postgres" ""\n')
        chown_pg(d)
        self.pgb = subprocess.Popen(as_pg(["/usr/sbin/pgbouncer", f"{d}/pgbouncer.ini"]),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
        self.procs.append(self.pgb)
        self.pgb_sock = d
        wait_for(lambda: os.path.exists(f"{d}/.s.PGSQL.{self.pgb_port}"), 15, "PgBouncer's socket")

    # ---------------------------------------------------------- cairn-server
    def backend_uri(self):
        if self.want_pgbouncer:
            return f"postgresql://postgres@/cairn?host={self.pgb_sock}&port={self.pgb_port}"
        return f"postgresql://postgres@/cairn?host={self.primary_sock}"

    def replica_uri(self):
        return f"postgresql://postgres@/cairn?host={self.replica_sock}"

    def server_args(self, i, port, replica=None):
        args = [self.server_bin, "--host", "127.0.0.1", "--port", str(port),
                "--backend-store-uri", self.backend_uri(),
                "--data-dir", os.path.join(self.tmp, f"srv{i}"),
                "--artifacts-destination", self.artifacts]
        if self.want_pgbouncer:
            args.append("--db-transaction-pooler")
        if (self.want_replica if replica is None else replica) and self.replica_started:
            args += ["--read-replica-uri", self.replica_uri()]
            if self.lag_ms is not None:
                args += ["--read-replica-max-lag-ms", str(self.lag_ms)]
        if self.workers:
            args += ["--workers", str(self.workers)]
        if self.pool_size:
            args += ["--db-pool-size", str(self.pool_size)]
        return args

    def start_server(self, i, port=None, replica=None):
        port = port or (self.servers[i]["port"] if i in self.servers else free_port())
        os.makedirs(os.path.join(self.tmp, f"srv{i}"), exist_ok=True)
        log = os.path.join(self.tmp, f"srv{i}.log")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        errf = open(log, "ab")
        proc = subprocess.Popen(self.server_args(i, port, replica), stdout=subprocess.DEVNULL, stderr=errf,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        errf.close()
        self.servers[i] = {"proc": proc, "port": port, "log": log}
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: proc.poll() is None and requests.get(url + "/health", timeout=1).status_code == 200,
                 60, f"cairn-server {i} on {port} (log {log})")
        return url

    def url(self, i):
        return f"http://127.0.0.1:{self.servers[i]['port']}"

    def kill_server(self, i):
        p = self.servers[i]["proc"]
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()

    def stop_server(self, i, timeout=30):
        """SIGTERM; the exit status (None if it had to be killed)."""
        p = self.servers[i]["proc"]
        if p.poll() is not None:
            return p.returncode
        p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            return None

    def server_log(self, i):
        with open(self.servers[i]["log"], errors="replace") as f:
            return f.read()

    # ---------------------------------------------------------- HAProxy
    def start_haproxy(self, indexes):
        with open(os.path.join(REPO, "deploy/haproxy.cfg")) as f:
            cfg = f.read()
        self.lb_port = free_port()
        cfg = re.sub(r"(?m)^    bind .*$", f"    bind 127.0.0.1:{self.lb_port}", cfg)
        if os.environ.get("CAIRN_FLEET_HAPROXY_LOG"):   # every request in haproxy.log
            cfg = cfg.replace("global\n", "global\n    log stderr format raw local0\n", 1)
            cfg = cfg.replace("defaults\n", "defaults\n    log global\n", 1)
        cfg = cfg.replace("/etc/haproxy/errors/cairn-503.http", os.path.join(REPO, "deploy/haproxy-503.http"))
        cfg = re.sub(r"(?m)^    server cairn.*\n", "", cfg)
        cfg += "".join(f"    server cairn{i} 127.0.0.1:{self.servers[i]['port']} check\n" for i in indexes)
        path = os.path.join(self.tmp, f"haproxy-{self.lb_port}.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        chk = subprocess.run(["haproxy", "-c", "-f", path], capture_output=True, text=True)
        if chk.returncode:
            raise RuntimeError("haproxy -c: " + chk.stdout + chk.stderr)
        if self.haproxy:
            self.stop_haproxy()
        self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", path], stdout=subprocess.DEVNULL,
                                        stderr=open(os.path.join(self.tmp, "haproxy.log"), "ab"),
                                        start_new_session=True)
        self.procs.append(self.haproxy)
        self.lb = f"http://127.0.0.1:{self.lb_port}"
        wait_for(lambda: requests.get(self.lb + "/health", timeout=1).status_code == 200, 15, "HAProxy")
        return self.lb

    def stop_haproxy(self):
        if self.haproxy and self.haproxy.poll() is None:
            os.killpg(self.haproxy.pid, signal.SIGTERM)
            try:
                self.haproxy.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.haproxy.pid, signal.SIGKILL)
                self.haproxy.wait()
        self.haproxy = None

    # ---------------------------------------------------------- all of it
    def start(self, n_servers=3, haproxy=True):
        self.start_primary()
        if self.want_replica:
            self.start_replica()
        if self.want_pgbouncer:
            self.start_pgbouncer()
        for i in range(1, n_servers + 1):
            self.start_server(i)
        if haproxy:
            self.start_haproxy(range(1, n_servers + 1))
        return self

    def stop(self, keep=False):
        """Stops everything; returns {index: exit status} of the servers still running."""
        statuses = {}
        self.stop_haproxy()
        for i in list(self.servers):
            statuses[i] = self.stop_server(i)
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(10)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    p.wait()
        for started, d, sock, log in ((self.replica_started, getattr(self, "replica_dir", None),
                                       getattr(self, "replica_sock", None), getattr(self, "replica_log", None)),
                                      (self.primary_started, getattr(self, "primary_dir", None),
                                       getattr(self, "primary_sock", None), getattr(self, "primary_log", None))):
            if started:
                try:
                    self._pg_ctl(d, sock, log, "stop")
                except RuntimeError:
                    pass
        self.replica_started = self.primary_started = False
        if not keep and not os.environ.get("CAIRN_FLEET_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        return statuses
