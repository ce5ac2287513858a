#!/usr/bin/env python3
"""Fetch MLflow's built web UI for cairn-server (standard library only).

Downloads the pinned `mlflow` wheel (a download, not an install), checks its
sha256, then unpacks mlflow/server/js/build/ into DEST, checking every file
against the hash the wheel's RECORD lists. Compressible files also get a
precompressed `.gz` sibling that cairn-server sends to clients accepting gzip.
DEST is replaced atomically: a failed run leaves no half-written UI.

usage: fetch-ui.py --url URL --sha256 HEX --dest build/ui [--cache DIR]
"""
import argparse
import base64
import csv
import gzip
import hashlib
import io
import os
import shutil
import sys
import tempfile
import urllib.request
import zipfile

PREFIX = "mlflow/server/js/build/"
COMPRESS = (".js", ".css", ".html", ".json", ".svg", ".txt", ".map", ".mjs", ".cjs", ".ico", ".ttf", ".eot")
MIN_GZIP = 1024


def fail(msg):
    sys.exit(f"fetch-ui: {msg}")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_wheel(url, sha256, cache):
    name = url.rsplit("/", 1)[-1]
    path = os.path.join(cache, name)
    if os.path.exists(path) and sha256_file(path) == sha256:
        return path
    # pip's --find-links directory may already hold it (offline machines)
    for d in filter(None, os.environ.get("PIP_FIND_LINKS", "").split()):
        local = os.path.join(d, name)
        if os.path.exists(local) and sha256_file(local) == sha256:
            return local
    os.makedirs(cache, exist_ok=True)
    print(f"fetch-ui: downloading {url}", file=sys.stderr)
    tmp = path + ".part"
    try:
        with urllib.request.urlopen(url, timeout=120) as r, open(tmp, "wb") as out:
            shutil.copyfileobj(r, out, 1 << 20)
    except OSError as e:
        fail(f"cannot download {url}: {e}")
    got = sha256_file(tmp)
    if got != sha256:
        os.unlink(tmp)
        fail(f"{name}: sha256 {got} does not match the pinned {sha256}")
    os.replace(tmp, path)
    return path


def record_hashes(zf):
    records = [n for n in zf.namelist() if n.endswith(".dist-info/RECORD")]
    if len(records) != 1:
        fail("the wheel has no single RECORD file")
    hashes = {}
    for row in csv.reader(io.TextIOWrapper(zf.open(records[0]), encoding="utf-8")):
        if len(row) >= 2 and row[1].startswith("sha256="):
            hashes[row[0]] = row[1][len("sha256="):]
    return hashes


def safe_target(root, rel):
    parts = rel.split("/")
    if not rel or rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in parts):
        fail(f"refusing the archive member path {rel!r}")
    return os.path.join(root, *parts)


def unpack(wheel, dest):
    with zipfile.ZipFile(wheel) as zf:
        hashes = record_hashes(zf)
        members = [n for n in zf.namelist() if n.startswith(PREFIX) and not n.endswith("/")]
        if not any(n == PREFIX + "index.html" for n in members):
            fail("the wheel holds no mlflow/server/js/build/index.html")
        parent = os.path.dirname(os.path.abspath(dest))
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".ui-", dir=parent)
        try:
            for name in members:
                data = zf.read(name)
                want = hashes.get(name)
                got = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                if want is None or got != want:
                    fail(f"{name}: not in RECORD or hash mismatch")
                target = safe_target(tmp, name[len(PREFIX):])
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as f:
                    f.write(data)
                if name.endswith(COMPRESS) and len(data) >= MIN_GZIP:
                    packed = gzip.compress(data, compresslevel=9, mtime=0)
                    if len(packed) < len(data):
                        with open(target + ".gz", "wb") as f:
                            f.write(packed)
            os.chmod(tmp, 0o755)
            if os.path.exists(dest):
                shutil.rmtree(dest)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return len(members)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--sha256", required=True)
    ap.add_argument("--dest", required=True)
    ap.add_argument("--cache", default=os.path.join("build", "wheels"))
    args = ap.parse_args()
    wheel = fetch_wheel(args.url, args.sha256.lower(), args.cache)
    n = unpack(wheel, args.dest)
    print(f"fetch-ui: {n} files of MLflow's UI in {args.dest}", file=sys.stderr)


if __name__ == "__main__":
    main()
