#!/usr/bin/env python3
"""Measures how much cairn-server's resident memory grows while a 1 GiB
artifact goes up through the proxy and comes back down (release build).
Prints the figures; never asserts on memory or time.

    .venv/bin/python compat/artifact_memory.py [--server build/cairn-server] [--size-mib 1024] [--s3]

--s3 (issue 17): the artifacts go to an S3 store (SeaweedFS, compat/s3_store.py;
`make s3-server` builds it): the upload streams into a multipart upload, the
download streams out of a GET.

Output (one summary line, then details):
    artifact memory: upload +0.4 MiB, download +0.5 MiB (1 GiB each)

Exit status: 0 when both transfers completed and the bytes came back
identical; 1 when a transfer failed or the bytes differ; 2 when the set-up
(PostgreSQL, the server) failed. Uses CAIRN_TEST_PGHOST when set, else starts
its own cluster with tests/pg.sh. RSS is read from /proc/<pid>/status every
20 ms; growth is the peak during a transfer minus the RSS after a small
warm-up transfer (first-request allocations are not the transfer's)."""
import argparse
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = 1 << 20
IO_TIMEOUT = 300          # seconds without progress on one socket operation


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def run(self):
        while not self.done.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            self.done.wait(0.02)

    def finish(self):
        self.done.set()
        self.join()
        self.peak = max(self.peak, rss_kib(self.pid))
        return self.peak


def block(i, base):
    """Block i of the artifact: distinct per block, so a reordered or
    repeated block is caught by a plain comparison."""
    return i.to_bytes(8, "little") + base[8:]


def upload(host, port, path, n_blocks, base):
    conn = http.client.HTTPConnection(host, port, timeout=IO_TIMEOUT)
    try:
        conn.putrequest("PUT", path)
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(n_blocks * BLOCK))
        conn.endheaders()
        for i in range(n_blocks):
            conn.send(block(i, base))
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"upload answered {resp.status}: {body[:300]!r}")
    finally:
        conn.close()


def download(host, port, path, n_blocks, base):
    """Returns None when the bytes match, else a description of the first difference."""
    conn = http.client.HTTPConnection(host, port, timeout=IO_TIMEOUT)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"download answered {resp.status}: {resp.read()[:300]!r}")
        problem = None
        for i in range(n_blocks):
            got = resp.read(BLOCK)
            if len(got) != BLOCK:
                return f"download ended after {i * BLOCK + len(got)} of {n_blocks * BLOCK} bytes"
            if problem is None and got != block(i, base):
                problem = f"bytes differ in MiB block {i}"
        if resp.read(1):
            return "download is longer than the upload"
        return problem
    finally:
        conn.close()


def start_server(binary, sock, db, data_dir, log_path, extra_args=(), env=None):
    errf = open(log_path, "wb")
    proc = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", "0", "--backend-store-uri",
                             f"postgresql://postgres@/{db}?host={sock}", "--data-dir", data_dir, *extra_args],
                            stdout=subprocess.PIPE, stderr=errf, stdin=subprocess.DEVNULL, text=True,
                            env=dict(os.environ, **(env or {})))
    errf.close()
    found = {}

    def pump():
        for line in proc.stdout:
            if line.startswith("listening on http://") and "url" not in found:
                found["url"] = line.split()[-1].rstrip("/")
    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 60
    while "url" not in found and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc, found.get("url")


def tail(path, n=2000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default=os.path.join(REPO, "build/cairn-server"))
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--s3", action="store_true", help="artifacts in an S3 store (SeaweedFS)")
    ap.add_argument("--max-growth-mib", type=float, default=None,
                    help="exit 1 when either transfer grows the RSS by more (issue 17: 16)")
    args = ap.parse_args()
    if not os.access(args.server, os.X_OK):
        print(f"artifact memory: no server binary at {args.server} (make build)", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="cairn-mem-")
    os.chmod(tmp, 0o755)
    sock = os.environ.get("CAIRN_TEST_PGHOST")
    own_pg = not sock
    proc = None
    store = None
    db = "mem_" + uuid.uuid4().hex[:10]
    extra_args, env, label = (), None, ""
    try:
        if args.s3:
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            from s3_store import S3Store
            try:
                store = S3Store.start(os.path.join(tmp, "s3"))
            except RuntimeError as e:
                print(f"artifact memory: the S3 store did not start: {e}", file=sys.stderr)
                return 2
            if store is None:
                print("artifact memory: no S3 store binary (make s3-server)", file=sys.stderr)
                return 2
            store.create_bucket("cairn-mem")
            extra_args, env, label = ("--artifacts-destination", "s3://cairn-mem/m"), store.server_env(), " (S3)"
        if own_pg:
            out = subprocess.run([os.path.join(REPO, "tests/pg.sh"), "start", os.path.join(tmp, "pg")],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                print(f"artifact memory: PostgreSQL did not start:\n{out.stderr[-2000:]}", file=sys.stderr)
                return 2
            sock = out.stdout.strip().splitlines()[-1]
        out = subprocess.run(["psql", "-h", sock, "-U", "postgres", "-qc", f'create database "{db}"'],
                             capture_output=True, text=True)
        if out.returncode != 0:
            print(f"artifact memory: cannot create the database:\n{out.stderr}", file=sys.stderr)
            return 2
        log_path = os.path.join(tmp, "server.log")
        proc, url = start_server(args.server, sock, db, os.path.join(tmp, "data"), log_path, extra_args, env)
        if not url:
            print(f"artifact memory: cairn-server did not start:\n{tail(log_path)}", file=sys.stderr)
            return 2
        host, port = url[len("http://"):].rsplit(":", 1)
        port = int(port)
        base = os.urandom(BLOCK)
        path = "/api/2.0/mlflow-artifacts/artifacts/0/mem/artifacts/big.bin"
        n_blocks = args.size_mib

        # warm-up: the first request touches a worker stack, opens a database
        # connection, … — not part of what a transfer costs
        upload(host, port, "/api/2.0/mlflow-artifacts/artifacts/0/mem/artifacts/warm.bin", 4, base)
        download(host, port, "/api/2.0/mlflow-artifacts/artifacts/0/mem/artifacts/warm.bin", 4, base)
        time.sleep(0.2)
        before = rss_kib(proc.pid)

        try:
            s = Sampler(proc.pid)
            s.start()
            t0 = time.monotonic()
            try:
                upload(host, port, path, n_blocks, base)
            finally:
                up_peak, up_s = s.finish(), time.monotonic() - t0
            between = rss_kib(proc.pid)
            s = Sampler(proc.pid)
            s.start()
            t0 = time.monotonic()
            try:
                problem = download(host, port, path, n_blocks, base)
            finally:
                down_peak, down_s = s.finish(), time.monotonic() - t0
        except (OSError, RuntimeError, http.client.HTTPException) as e:
            print(f"artifact memory: transfer failed: {type(e).__name__}: {e}", file=sys.stderr)
            if proc.poll() is not None:
                print(f"cairn-server exited ({proc.returncode}):\n{tail(log_path)}", file=sys.stderr)
            return 1
        size = f"{args.size_mib // 1024} GiB" if args.size_mib % 1024 == 0 else f"{args.size_mib} MiB"
        print(f"artifact memory{label}: upload {(up_peak - before) / 1024:+.1f} MiB, "
              f"download {(down_peak - between) / 1024:+.1f} MiB ({size} each)")
        print(f"  server RSS {before / 1024:.1f} MiB before; peak {up_peak / 1024:.1f} MiB during the upload "
              f"({up_s:.1f} s), {down_peak / 1024:.1f} MiB during the download ({down_s:.1f} s)")
        if problem:
            print(f"artifact memory: {problem}", file=sys.stderr)
            return 1
        worst = max(up_peak - before, down_peak - between) / 1024
        if args.max_growth_mib is not None and worst > args.max_growth_mib:
            print(f"artifact memory{label}: RSS grew by {worst:.1f} MiB, more than {args.max_growth_mib} MiB",
                  file=sys.stderr)
            return 1
        print("  bytes: identical")
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if store is not None:
            store.stop()
        if own_pg:
            subprocess.run([os.path.join(REPO, "tests/pg.sh"), "stop", os.path.join(tmp, "pg")],
                           capture_output=True)
        elif sock:
            subprocess.run(["psql", "-h", sock, "-U", "postgres", "-qc", f'drop database if exists "{db}"'],
                           capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
