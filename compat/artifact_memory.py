#!/usr/bin/env python3
"""Measures cairn-server's resident memory while a 1 GiB artifact goes up
and comes back down (release build). Prints the figures; not a timed test.

    .venv/bin/python compat/artifact_memory.py [--server build/cairn-server] [--size-mib 1024]

Starts its own PostgreSQL (tests/pg.sh) unless CAIRN_TEST_PGHOST is set, and
its own server on --port 0. RSS is sampled from /proc/<pid>/status every 50 ms."""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, False

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.05)


class Body:
    def __init__(self, n, chunk=1 << 20):
        self.n, self.left, self.block, self.sha = n, n, os.urandom(chunk), hashlib.sha256()

    def __len__(self):
        return self.n

    def read(self, size=-1):
        size = len(self.block) if size is None or size < 0 else min(size, len(self.block))
        size = min(size, self.left)
        self.left -= size
        data = self.block[:size]
        self.sha.update(data)
        return data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default=os.path.join(REPO, "build/cairn-server"))
    ap.add_argument("--size-mib", type=int, default=1024)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="cairn-mem-")
    os.chmod(tmp, 0o755)
    sock = os.environ.get("CAIRN_TEST_PGHOST")
    own_pg = not sock
    if own_pg:
        sock = subprocess.run([os.path.join(REPO, "tests/pg.sh"), "start", os.path.join(tmp, "pg")],
                              check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    db = "mem_" + uuid.uuid4().hex[:10]
    subprocess.run(["psql", "-h", sock, "-U", "postgres", "-qc", f'create database "{db}"'], check=True)
    proc = subprocess.Popen([args.server, "--port", "0", "--backend-store-uri",
                             f"postgresql://postgres@/{db}?host={sock}", "--data-dir", os.path.join(tmp, "data")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = None
        for line in proc.stdout:
            if line.startswith("listening on "):
                url = line.split()[-1].rstrip("/")
                break
        n = args.size_mib << 20
        path = f"{url}/api/2.0/mlflow-artifacts/artifacts/0/mem/artifacts/big.bin"
        base = rss_kib(proc.pid)
        s = Sampler(proc.pid)
        s.start()
        t0 = time.monotonic()
        body = Body(n)
        r = requests.put(path, data=body, timeout=1200)
        r.raise_for_status()
        up_s, up_peak = time.monotonic() - t0, s.peak
        s.peak = 0
        t0 = time.monotonic()
        sha = hashlib.sha256()
        with requests.get(path, stream=True, timeout=1200) as r:
            r.raise_for_status()
            for chunk in r.iter_content(1 << 20):
                sha.update(chunk)
        down_s, down_peak = time.monotonic() - t0, s.peak
        s.stop = True
        ok = sha.hexdigest() == body.sha.hexdigest()
        print(f"artifact size          {args.size_mib} MiB")
        print(f"server RSS before      {base / 1024:.1f} MiB")
        print(f"upload:   peak RSS {up_peak / 1024:.1f} MiB (growth {(up_peak - base) / 1024:+.1f} MiB), "
              f"{up_s:.1f} s, {args.size_mib / up_s:.0f} MiB/s")
        print(f"download: peak RSS {down_peak / 1024:.1f} MiB (growth {(down_peak - base) / 1024:+.1f} MiB), "
              f"{down_s:.1f} s, {args.size_mib / down_s:.0f} MiB/s")
        print(f"byte-for-byte          {'identical' if ok else 'MISMATCH'}")
        return 0 if ok else 1
    finally:
        proc.terminate()
        proc.wait(30)
        if own_pg:
            subprocess.run([os.path.join(REPO, "tests/pg.sh"), "stop", os.path.join(tmp, "pg")], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
