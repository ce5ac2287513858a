"""issue 17: artifacts in S3-compatible object storage. Every test of
compat/test_artifacts.py runs again with `--artifacts-destination
s3://bucket/prefix` on a real S3 store (SeaweedFS, compat/s3_store.py),
then what only object storage does: multipart uploads streamed from the
client (and aborted, leaving no parts, when the client goes away), chunked
uploads, listings past one page, recursive deletes, the 3.x client's direct
multipart upload on presigned URLs, --no-serve-artifacts with an s3://
default root, the registry and logged-model flows, and the store's errors
(a missing bucket at start-up, 403 → PERMISSION_DENIED), a fuzz of the
multipart and presigned routes, abandoned uploads swept after a crash, and
temporary credentials (AWS_SESSION_TOKEN) from the store's STS.

With CAIRN_TARGET=mlflow the same tests run against MLflow's own server
with `--artifacts-destination s3://…` on the same SeaweedFS store (`make
test-s3-mlflow`); the accepted differences are in compat/DIFFERENCES.md."""
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import pytest
import requests

import mlflow
from mlflow import MlflowClient

from conftest import (REPO, TARGET, SANITIZER_MARKERS, Server, create_database, drop_database, free_port, pg_uri,
                      reset_mlflow_state, unique, wait_http_ok)
import test_artifacts
from test_artifacts import *  # noqa: F401,F403  (the same suite, on S3)
from test_artifacts import PROXY, proxy_path, raw_request

MLFLOW_MAJOR = int(mlflow.__version__.split(".")[0])
MA = "/api/2.0/mlflow-artifacts"


@pytest.fixture(scope="module")
def s3_bucket(s3_store):
    name = "cairn-" + unique("b").replace("_", "-").lower()[:40]
    s3_store.create_bucket(name)
    return name


def start_mlflow_s3(pg_socket, env, extra_args):
    """MLflow's own server (the pinned .venv's `mlflow server`) with the store's settings in its environment."""
    db = "mlflow_s3_" + uuid.uuid4().hex[:12]
    create_database(pg_socket, db)
    tmp = tempfile.mkdtemp(prefix="mlflow-s3-")
    port = free_port()
    log_path = os.path.join(tmp, "server.log")
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(
            [os.path.join(REPO, ".venv/bin/mlflow"), "server", "--backend-store-uri", pg_uri(pg_socket, db, "psycopg2"),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1", *extra_args],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp, start_new_session=True,
            env=dict(os.environ, **env))
    url = f"http://127.0.0.1:{port}"
    srv = Server("mlflow", url, proc=proc, db=db, data_dir=tmp, stderr_path=log_path)
    if not wait_http_ok(url + "/health", 180, proc):
        stop_mlflow_s3(srv, pg_socket)
        pytest.fail("MLflow's server (S3 destination) did not become healthy:\n" + srv.stderr_text()[-4000:],
                    pytrace=False)
    return srv


def stop_mlflow_s3(srv, pg_socket):
    try:
        os.killpg(srv.proc.pid, signal.SIGTERM)
        srv.proc.wait(10)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait()
    shutil.rmtree(srv.data_dir, ignore_errors=True)
    drop_database(pg_socket, srv.db)


@pytest.fixture(scope="module")
def server(request, cairn_launcher, s3_store, s3_bucket):
    """This module's server: artifacts in s3://<bucket>/store. A cairn-server,
    or with CAIRN_TARGET=mlflow MLflow's own server on the same store."""
    if TARGET == "mlflow":
        pg_socket = request.getfixturevalue("pg_socket")
        srv = start_mlflow_s3(pg_socket, s3_store.server_env(),
                              ["--artifacts-destination", f"s3://{s3_bucket}/store"])
        srv.s3_root = f"s3://{s3_bucket}/store"
        yield srv
        stop_mlflow_s3(srv, pg_socket)
        return
    srv = cairn_launcher.start(["--artifacts-destination", f"s3://{s3_bucket}/store"],
                               env_extra=s3_store.server_env())
    srv.artifacts_dir = None       # nothing on the local disk to look at
    srv.s3_root = f"s3://{s3_bucket}/store"
    yield srv
    problems = cairn_launcher.stop(srv)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def s3(s3_store):
    pytest.importorskip("boto3")
    return s3_store.client()


def keys(s3, bucket, prefix):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


def open_uploads(s3, bucket):
    return s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


# ------------------------------------------------------------ the local suite's checks that need a local disk
@pytest.mark.skip(reason="looks at the local artifacts directory; the S3 variant is test_truncated_multipart_*")
def test_encoded_nul_refused():
    pass


@pytest.mark.skip(reason="1 GiB through S3 runs in scripts/test.sh's artifact memory check (--s3)")
def test_one_gib_round_trip():
    pass


def test_multipart_and_presigned_not_supported():
    pytest.skip("supported on S3: test_proxy_multipart_protocol")


# model logging on S3: test_sklearn_log_model_then_load (runs:/ and models:/m-…) and
# test_registry_and_logged_model_flows below; these two add nothing about storage
@pytest.mark.skip(reason="storage-wise the same as test_sklearn_log_model_then_load")
def test_custom_pyfunc_model():
    pass


@pytest.mark.skip(reason="a search over PostgreSQL rows, not artifacts (test_artifacts.py runs it)")
def test_search_logged_models_after_log_model():
    pass


# ------------------------------------------------------------ where the bytes are
def test_objects_land_under_the_prefix(run, client, tmp_path, s3, s3_bucket):
    f = tmp_path / "hello.txt"
    f.write_text("hello s3")
    mlflow.log_artifact(str(f), "deep/er")
    root = proxy_path(client, run.info.run_id)
    key = f"store/{root}/deep/er/hello.txt"
    assert s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == b"hello s3"
    assert [x.path for x in client.list_artifacts(run.info.run_id, "deep")] == ["deep/er"]


def _stream(n, seed=b"s3"):
    """n bytes in 1 MiB blocks, each distinct, and their sha256"""
    block = hashlib.sha256(seed).digest() * (1 << 15)
    sha = hashlib.sha256()

    def gen():
        left, i = n, 0
        while left:
            b = (i.to_bytes(8, "little") + block[8:])[:min(left, len(block))]
            sha.update(b)
            left -= len(b)
            i += 1
            yield b
    return gen, sha


def _download_sha(url):
    sha, got = hashlib.sha256(), 0
    with requests.get(url, stream=True, timeout=120) as r:
        assert r.status_code == 200, r.text
        for chunk in r.iter_content(1 << 20):
            sha.update(chunk)
            got += len(chunk)
    return sha.hexdigest(), got


class _Sized:
    """A body with a length (Content-Length) from a generator."""

    def __init__(self, gen, n):
        self.it, self.n, self.buf = gen(), n, b""

    def __len__(self):
        return self.n

    def read(self, size=-1):
        while (size < 0 or len(self.buf) < size):
            try:
                self.buf += next(self.it)
            except StopIteration:
                break
        size = len(self.buf) if size < 0 else size
        out, self.buf = self.buf[:size], self.buf[size:]
        return out


@pytest.mark.parametrize("n, chunked", [(40 << 20, False), (12 << 20, True), (3 << 20, True), (0, False)])
def test_streamed_upload_sizes(run, client, base_url, n, chunked, s3, s3_bucket):
    """One PUT up to 16 MiB, multipart (16 MiB parts, streamed) above; a
    chunked body in 5 MiB parts; empty files."""
    root = proxy_path(client, run.info.run_id)
    gen, sha = _stream(n)
    body = gen() if chunked else _Sized(gen, n)
    r = requests.put(f"{base_url}{PROXY}/{root}/big/f{n}.bin", data=body, timeout=120)
    assert r.status_code == 200, r.text
    head = s3.head_object(Bucket=s3_bucket, Key=f"store/{root}/big/f{n}.bin")
    assert head["ContentLength"] == n
    parts = 3 if n == 40 << 20 else 3 if n == 12 << 20 else 0
    if parts and TARGET == "cairn":   # an S3 multipart object's ETag ends in -<number of parts> (Cairn's parts)
        assert head["ETag"].strip('"').endswith(f"-{parts}"), head["ETag"]
    assert _download_sha(f"{base_url}{PROXY}/{root}/big/f{n}.bin") == (sha.hexdigest(), n)
    assert open_uploads(s3, s3_bucket) == []


@pytest.mark.parametrize("declared, sent", [(40 << 20, 20 << 20), (40 << 20, 0), (1 << 20, 1000)])
def test_truncated_multipart_upload_leaves_no_parts(run, client, base_url, declared, sent, s3, s3_bucket):
    """A client that goes away mid-upload: the multipart upload is aborted
    (list-multipart-uploads is empty) and no object appears."""
    root = proxy_path(client, run.info.run_id)
    gen, _ = _stream(sent)
    body = b"".join(gen())
    raw_request(base_url, "PUT", f"{PROXY}/{root}/cut.bin", body=body, declared_length=declared,
                close_early=True)
    # the server may start its multipart upload only after the client has gone
    # (it reads the headers first): wait until none is open and none has been
    # for 3 s, so an upload started late and never aborted is still caught
    deadline, quiet_since = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        if open_uploads(s3, s3_bucket):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 3:
            break
        time.sleep(0.2)
    assert open_uploads(s3, s3_bucket) == []
    assert keys(s3, s3_bucket, f"store/{root}/cut") == []
    assert requests.get(f"{base_url}{PROXY}/{root}/cut.bin").status_code == 404


def test_listing_past_one_page_and_recursive_delete(run, client, base_url, s3, s3_bucket):
    """ListObjectsV2 gives 1000 keys a page: Cairn follows the continuation
    tokens; a directory delete removes every key under it (and only those)."""
    root = proxy_path(client, run.info.run_id)
    prefix = f"store/{root}/many"
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda i: s3.put_object(Bucket=s3_bucket, Key=f"{prefix}/f{i:04d}.txt", Body=b"x"),
                    range(1050)))
    s3.put_object(Bucket=s3_bucket, Key=f"{prefix}/sub/deep.txt", Body=b"yy")
    s3.put_object(Bucket=s3_bucket, Key=f"store/{root}/many-sibling.txt", Body=b"keep")
    files = requests.get(f"{base_url}{PROXY}", params={"path": f"{root}/many"}, timeout=60).json()["files"]
    assert len(files) == 1051
    assert files[0] == {"path": "f0000.txt", "is_dir": False, "file_size": 1}
    assert {"path": "sub", "is_dir": True} in files
    listed = client.list_artifacts(run.info.run_id, "many")
    assert len(listed) == 1051
    assert requests.delete(f"{base_url}{PROXY}/{root}/many", timeout=120).status_code == 200
    assert keys(s3, s3_bucket, f"{prefix}/") == []
    assert keys(s3, s3_bucket, f"store/{root}/many-sibling.txt") == [f"store/{root}/many-sibling.txt"]


def test_proxy_multipart_protocol(run, client, base_url, s3, s3_bucket):
    """mlflow-artifacts/mpu/create|complete|abort and presigned/: parts PUT
    straight to the store on the presigned URLs."""
    root = proxy_path(client, run.info.run_id)
    r = requests.post(f"{base_url}/api/2.0/mlflow-artifacts/mpu/create/{root}/mp",
                      json={"path": "/local/dir/data.bin", "num_parts": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [c["part_number"] for c in body["credentials"]] == [1, 2]
    part1, part2 = os.urandom(5 << 20), os.urandom(1000)
    parts = []
    for cred, data in zip(body["credentials"], (part1, part2)):
        assert "X-Amz-Signature=" in cred["url"]
        p = requests.put(cred["url"], data=data, timeout=60)
        assert p.status_code == 200, p.text
        parts.append({"part_number": cred["part_number"], "etag": p.headers["ETag"], "url": cred["url"]})
    r = requests.post(f"{base_url}/api/2.0/mlflow-artifacts/mpu/complete/{root}/mp",
                      json={"path": "/local/dir/data.bin", "upload_id": body["upload_id"], "parts": parts})
    assert r.status_code == 200 and r.json() == {}, r.text
    got = requests.get(f"{base_url}{PROXY}/{root}/mp/data.bin").content
    assert got == part1 + part2
    # presigned download: a URL the client fetches from the store itself
    r = requests.get(f"{base_url}/api/2.0/mlflow-artifacts/presigned/{root}/mp/data.bin")
    assert r.status_code == 200, r.text
    pre = r.json()
    assert pre["file_size"] == len(got) and pre["headers"] == {}
    d = requests.get(pre["url"], timeout=60)
    assert d.status_code == 200 and d.content == got
    assert "data.bin" in d.headers.get("Content-Disposition", "")
    # abort: the parts go away
    r = requests.post(f"{base_url}/api/2.0/mlflow-artifacts/mpu/create/{root}/mp",
                      json={"path": "gone.bin", "num_parts": 1})
    up = r.json()
    assert requests.put(up["credentials"][0]["url"], data=b"abc").status_code == 200
    r = requests.post(f"{base_url}/api/2.0/mlflow-artifacts/mpu/abort/{root}/mp",
                      json={"path": "gone.bin", "upload_id": up["upload_id"]})
    assert r.status_code == 200, r.text
    assert open_uploads(s3, s3_bucket) == []
    # a forged signature is refused by the store
    bad = up["credentials"][0]["url"].replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert requests.put(bad, data=b"x").status_code == 403
    # bad input
    r = requests.post(f"{base_url}/api/2.0/mlflow-artifacts/mpu/create/{root}/mp",
                      json={"path": "a/..", "num_parts": 1})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    r = requests.post(f"{base_url}/api/2.0/mlflow-artifacts/mpu/create/{root}/mp",
                      json={"path": "x", "num_parts": 10001})
    assert r.status_code == 400
    r = requests.get(f"{base_url}/api/2.0/mlflow-artifacts/presigned/{root}/mp/missing.bin")
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    info = requests.get(f"{base_url}/api/3.0/mlflow/server-info").json()
    assert info["multipart_uploads_enabled"] is True and info["multipart_downloads_enabled"] is True


@pytest.mark.mlflow3
def test_client_direct_multipart_upload(run, client, tmp_path, monkeypatch, s3, s3_bucket):
    """The 3.x client, told by server-info, uploads a large file in parts
    straight to the store and downloads it on a presigned URL."""
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(6 << 20))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 << 20))
    monkeypatch.setenv("MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE", str(5 << 20))
    data = os.urandom(12 << 20)
    f = tmp_path / "weights.bin"
    f.write_bytes(data)
    mlflow.log_artifact(str(f), "direct")
    root = proxy_path(client, run.info.run_id)
    head = s3.head_object(Bucket=s3_bucket, Key=f"store/{root}/direct/weights.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]     # three 5 MiB parts: the client's own
    out = client.download_artifacts(run.info.run_id, "direct/weights.bin", str(tmp_path / "dl"))
    assert open(out, "rb").read() == data


# ------------------------------------------------------------ registry and logged models on S3
def test_registry_and_logged_model_flows(run, client, base_url):
    from sklearn.linear_model import LogisticRegression
    import numpy as np
    X = np.random.default_rng(1).random((30, 3))
    y = (X[:, 0] > 0.5).astype(int)
    clf = LogisticRegression().fit(X, y)
    name = unique("s3model")
    kwargs = {"name": "m"} if MLFLOW_MAJOR >= 3 else {"artifact_path": "m"}
    info = mlflow.sklearn.log_model(clf, registered_model_name=name, **kwargs)
    mv = client.get_model_version(name, "1")
    loaded = mlflow.pyfunc.load_model(f"models:/{name}/1")
    assert (loaded.predict(X) == clf.predict(X)).all()
    r = requests.get(f"{base_url}/model-versions/get-artifact",
                     params={"name": name, "version": "1", "path": "MLmodel"})
    assert r.status_code == 200 and b"sklearn" in r.content, (mv.source, r.text[:300])
    if MLFLOW_MAJOR >= 3:
        files = {f.path for f in client.list_logged_model_artifacts(info.model_id)}
        assert "MLmodel" in files
        assert (mlflow.pyfunc.load_model(info.model_uri).predict(X) == clf.predict(X)).all()


# ------------------------------------------------------------ --no-serve-artifacts: clients talk to S3 themselves
@pytest.mark.cairn_only
def test_no_serve_artifacts_with_s3_default_root(cairn_factory, s3_store, s3_bucket, tmp_path, monkeypatch):
    pytest.importorskip("boto3")
    for k, v in s3_store.server_env().items():   # the server's and the client's settings alike
        monkeypatch.setenv(k, v)
    srv = cairn_factory(["--no-serve-artifacts", "--default-artifact-root", f"s3://{s3_bucket}/nsa"])
    reset_mlflow_state(srv.url)
    try:
        mlflow.set_experiment(unique("nsa"))
        with mlflow.start_run() as r:
            assert r.info.artifact_uri.startswith(f"s3://{s3_bucket}/nsa/")
            (tmp_path / "d").mkdir()
            (tmp_path / "d" / "a.txt").write_text("direct")
            mlflow.log_artifacts(str(tmp_path / "d"), "out")
        c = MlflowClient(srv.url)
        assert [f.path for f in c.list_artifacts(r.info.run_id, "out")] == ["out/a.txt"]
        # the tracking server lists the run's S3 location itself, as MLflow's does
        body = requests.get(f"{srv.url}/api/2.0/mlflow/artifacts/list",
                            params={"run_id": r.info.run_id, "path": "out"}).json()
        assert body["files"] == [{"path": "out/a.txt", "is_dir": False, "file_size": 6}]
        g = requests.get(f"{srv.url}/get-artifact", params={"run_id": r.info.run_id, "path": "out/a.txt"})
        assert g.status_code == 200 and g.content == b"direct"
        assert requests.get(f"{srv.url}{PROXY}").status_code in (404, 503)
    finally:
        reset_mlflow_state()


# ------------------------------------------------------------ the store's errors
@pytest.mark.cairn_only
def test_permission_denied_from_the_store(cairn_launcher, s3_store, s3_bucket):
    """A server whose credentials may only read: an upload is 403 PERMISSION_DENIED, reads work."""
    from s3_store import READER_KEY, READER_SECRET
    srv = cairn_launcher.start(["--artifacts-destination", f"s3://{s3_bucket}/store"],
                               env_extra=s3_store.server_env(READER_KEY, READER_SECRET))
    try:
        r = requests.put(f"{srv.url}{PROXY}/0/ro/x.txt", data=b"nope")
        assert r.status_code == 403, r.text
        assert r.json()["error_code"] == "PERMISSION_DENIED"
        assert requests.get(f"{srv.url}{PROXY}", params={"path": "0"}).status_code == 200
    finally:
        problems = cairn_launcher.stop(srv)
        assert not problems, problems


@pytest.mark.cairn_only
@pytest.mark.parametrize("dest, env, needle", [
    ("s3://no-such-bucket-cairn/p", {}, "no-such-bucket-cairn"),
    ("s3://whatever/p", {"MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9"}, "cannot reach"),
    ("s3://whatever/p", {"MLFLOW_S3_ENDPOINT_URL": "ftp://x"}, "MLFLOW_S3_ENDPOINT_URL"),
])
def test_store_problems_stop_the_start(cairn_launcher, s3_store, tmp_path, dest, env, needle):
    full = dict(os.environ, **{**s3_store.server_env(), **env})
    r = subprocess.run([cairn_launcher.binary, "--host", "127.0.0.1", "--port", "0", "--backend-store-uri",
                        "postgresql://postgres@/none?host=/nonexistent", "--data-dir", str(tmp_path / "d"),
                        "--artifacts-destination", dest], capture_output=True, text=True, timeout=60, env=full)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0] and "--artifacts-destination" in lines[0], r.stderr


# ------------------------------------------------------------ fuzz: the multipart and presigned routes' bodies
FUZZ_FIELDS = ["path", "num_parts", "upload_id", "parts", "part_number", "etag", "url", "run_id", "model_id",
               "expiration"]
FUZZ_PATHS = ["", "x", "..", "a/..", "%2e%2e", "..%2f..%2fetc", "%00", "x%00y", "é/ü/名", "a%2Fb", "a//b", "/abs",
              "x" * 300, "y" * 1100, "d/" * 300 + "f", "%25%32%65", "C:%5cx", "a%0d%0ab", "sp ace", "q?x=1", "h#f"]


def _fuzz_value(rnd, pool, depth=0):
    kind = rnd.randrange(10 if depth < 3 else 7)
    if kind == 0:
        return rnd.choice(pool + FUZZ_PATHS)
    if kind == 1:
        return rnd.choice([0, -1, 1, 2, 3, 10000, 10001, 604800, 604801, 2 ** 31, 2 ** 63, -2 ** 63, 1.5, 1e308])
    if kind == 2:
        return rnd.choice([True, False, None])
    if kind == 3:
        return "".join(chr(rnd.randrange(1, 0x3000)) for _ in range(rnd.randrange(16)))
    if kind == 4:
        return rnd.choice(['"etag"', '"' + "f" * 32 + '"', "<ETag>", "&amp;", "]]>", "\u0000", "a\r\nb", "\x7f"])
    if kind == 5:
        return rnd.choice(pool)
    if kind == 6:
        return rnd.choice(FUZZ_FIELDS)
    if kind == 7:
        return [_fuzz_part(rnd, pool, depth + 1) for _ in range(rnd.randrange(4))]
    if kind == 8:
        return [_fuzz_value(rnd, pool, depth + 1) for _ in range(rnd.randrange(3))]
    return {rnd.choice(FUZZ_FIELDS): _fuzz_value(rnd, pool, depth + 1) for _ in range(rnd.randrange(3))}


def _fuzz_part(rnd, pool, depth):
    part = {"part_number": rnd.choice([1, 2, 3, 0, -1, 10001, "1", 1.5, None]),
            "etag": rnd.choice(pool[-2:] + ["", None, 5, "x" * 2000, '"a"'])}
    if rnd.random() < 0.3:
        part[rnd.choice(FUZZ_FIELDS)] = _fuzz_value(rnd, pool, depth + 1)
    if rnd.random() < 0.2:
        del part[rnd.choice(list(part))]
    return part


@pytest.mark.cairn_only
def test_fuzz_multipart_and_presigned_routes(run, client, base_url, s3, s3_bucket):
    """Random bodies, paths and query strings on mpu/create|complete|abort,
    presigned/, and the tracking presigned-upload-url/presigned-download-url:
    never a 5xx (bad input never reaches the store as something it answers
    with a 5xx, which the client would retry for minutes), always a JSON
    error, no upload opened outside the destination prefix, and the ASan
    server stays up (checked after the module)."""
    rnd = random.Random(int(os.environ.get("CAIRN_FUZZ_SEED", "1717")))
    rid = run.info.run_id
    root = proxy_path(client, rid)
    real = requests.post(f"{base_url}{MA}/mpu/create/{root}/fz", json={"path": "real.bin", "num_parts": 2}).json()
    etag = requests.put(real["credentials"][0]["url"], data=b"x" * 10, timeout=30).headers["ETag"]
    requests.put(f"{base_url}{PROXY}/{root}/fz/file.txt", data=b"present")
    pool = [root, f"{root}/fz", f"{root}/fz/file.txt", "file.txt", rid, "real.bin", real["upload_id"], etag]
    routes = [("POST", "/mpu/create/"), ("POST", "/mpu/complete/"), ("POST", "/mpu/abort/"), ("GET", "/presigned/"),
              ("POST", "/presigned-upload-url"), ("POST", "/presigned-download-url")]
    statuses = {}
    for i in range(720):
        method, route = routes[i % len(routes)]
        body = {f: _fuzz_value(rnd, pool) for f in rnd.sample(FUZZ_FIELDS, rnd.randrange(6))}
        if rnd.random() < 0.6:     # mostly well-formed, so the checks past the first are reached
            body.setdefault("path", rnd.choice(["real.bin", "f.bin", "file.txt"] + FUZZ_PATHS))
            if "complete" in route or "abort" in route:
                body.setdefault("upload_id", real["upload_id"] if rnd.random() < 0.7 else _fuzz_value(rnd, pool))
            if "complete" in route:
                body.setdefault("parts", [_fuzz_part(rnd, pool, 1) for _ in range(rnd.randrange(1, 4))])
            if "presigned-" in route:
                body.setdefault("run_id", rid if rnd.random() < 0.8 else _fuzz_value(rnd, pool))
        if route.startswith("/presigned-"):
            url = f"{base_url}/api/2.0/mlflow/artifacts{route}"
        else:
            where = f"{root}/fz" if rnd.random() < 0.7 else rnd.choice(FUZZ_PATHS + pool)
            if route == "/presigned/" and rnd.random() < 0.5:
                where = f"{root}/fz/file.txt"
            url = f"{base_url}{MA}{route}{where}"
        if method == "GET":
            params = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in body.items()}
            r = requests.get(url, params=params, timeout=60)
        elif rnd.random() < 0.08:    # not JSON at all, or cut short
            r = requests.post(url, data=json.dumps(body)[: rnd.randrange(1, 40)],
                              headers={"Content-Type": "application/json"}, timeout=60)
        else:
            r = requests.post(url, json=body, timeout=60)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        assert r.status_code < 500, (method, url, body, r.status_code, r.text[:300])
        if r.url.startswith(f"{base_url}{MA}{route}") or route.startswith("/presigned-"):
            assert r.headers["Content-Type"].startswith("application/json"), (url, r.status_code, r.headers)
        else:     # the client removed a dot segment ("presigned/.."): another route, or none
            assert r.status_code in (404, 405), (url, r.url, r.status_code)
    # the real upload is still usable after all that (unless the fuzz aborted it), and nothing opened
    # by the fuzz lies outside the destination's prefix
    uploads = open_uploads(s3, s3_bucket)
    assert all(u["Key"].startswith("store/") for u in uploads), [u["Key"] for u in uploads]
    for u in uploads:
        s3.abort_multipart_upload(Bucket=s3_bucket, Key=u["Key"], UploadId=u["UploadId"])
    assert statuses.get(200, 0) > 20 and sum(v for k, v in statuses.items() if 400 <= k < 500) > 200, statuses


# ------------------------------------------------------------ abandoned multipart uploads after a crash
def _upload_parts(s3, bucket, key_prefix):
    """{(key, upload_id): number of parts} of the open uploads under key_prefix"""
    out = {}
    for u in s3.list_multipart_uploads(Bucket=bucket, Prefix=key_prefix).get("Uploads", []):
        parts = s3.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]).get("Parts", [])
        out[(u["Key"], u["UploadId"])] = len(parts)
    return out


@pytest.mark.cairn_only
def test_crash_mid_upload_parts_swept_at_restart(cairn_launcher, s3_store, s3_bucket, s3):
    """A server SIGKILLed while it streams a multipart upload cannot abort
    it: the upload and its parts stay in the bucket. The next server on that
    destination aborts uploads under its prefix older than
    --s3-upload-max-age (at start-up, then every max-age/2), never one it
    is streaming itself, and never one outside its prefix."""
    prefix = unique("crash")
    dest = f"s3://{s3_bucket}/{prefix}"
    env = s3_store.server_env()
    # an old upload outside the prefix (a sibling "crash-…x" prefix): never touched
    outside = s3.create_multipart_upload(Bucket=s3_bucket, Key=f"{prefix}x/keep.bin")["UploadId"]
    s3.upload_part(Bucket=s3_bucket, Key=f"{prefix}x/keep.bin", UploadId=outside, PartNumber=1, Body=b"k" * 100)
    srv = cairn_launcher.start(["--artifacts-destination", dest], env_extra=env)
    u = urllib.parse.urlparse(srv.url)
    sock = socket.create_connection((u.hostname, u.port), timeout=30)
    try:
        sock.sendall(f"PUT {PROXY}/0/big/crash.bin HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
                     f"Content-Length: {64 << 20}\r\n\r\n".encode())
        chunk = os.urandom(1 << 20)
        for _ in range(40):      # two 16 MiB parts up, the third on its way
            sock.sendall(chunk)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(n >= 2 for n in _upload_parts(s3, s3_bucket, prefix + "/").values()):
            time.sleep(0.2)
        os.killpg(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait()
    finally:
        sock.close()
    left = _upload_parts(s3, s3_bucket, prefix + "/")
    assert len(left) == 1 and list(left.values())[0] >= 2, left      # what a crash leaves
    cairn_launcher.stop(srv)      # "exited early": it was killed; its data dir and database go

    # a server whose bound the upload is not past yet leaves it (it may be another server's, in progress)
    srv2 = cairn_launcher.start(["--artifacts-destination", dest, "--s3-upload-max-age", "3600"], env_extra=env)
    try:
        time.sleep(2)
        assert _upload_parts(s3, s3_bucket, prefix + "/") == left
    finally:
        problems = cairn_launcher.stop(srv2)
        assert not problems, problems

    time.sleep(2)
    srv3 = cairn_launcher.start(["--artifacts-destination", dest, "--s3-upload-max-age", "2"], env_extra=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _upload_parts(s3, s3_bucket, prefix + "/"):
            time.sleep(0.2)
        assert _upload_parts(s3, s3_bucket, prefix + "/") == {}
        key, upload_id = list(left)[0]
        with pytest.raises(s3.exceptions.NoSuchUpload):
            s3.list_parts(Bucket=s3_bucket, Key=key, UploadId=upload_id)
        assert keys(s3, s3_bucket, prefix + "/") == []
        assert "aborted 1 multipart upload under" in srv3.stderr_text()
        # its own upload, streamed slowly for longer than the bound and swept around, goes through
        gen, sha = _stream(20 << 20, b"slow")

        def slow():
            for i, b in enumerate(gen()):
                if i % 2 == 0:
                    time.sleep(0.5)
                yield b
        r = requests.put(f"{srv3.url}{PROXY}/0/slow.bin", data=_Sized(slow, 20 << 20), timeout=120)
        assert r.status_code == 200, r.text
        assert _download_sha(f"{srv3.url}{PROXY}/0/slow.bin") == (sha.hexdigest(), 20 << 20)
        # the sibling prefix's upload is still there
        assert _upload_parts(s3, s3_bucket, f"{prefix}x/") == {(f"{prefix}x/keep.bin", outside): 1}
    finally:
        s3.abort_multipart_upload(Bucket=s3_bucket, Key=f"{prefix}x/keep.bin", UploadId=outside)
        problems = cairn_launcher.stop(srv3)
        assert not problems, problems


# ------------------------------------------------------------ temporary credentials: AWS_SESSION_TOKEN
def _federation_token(s3_store, name):
    """Temporary credentials from the store's own STS (SeaweedFS's GetFederationToken, signed by the
    long-term key): an access key, a secret and a session token the store checks on every request."""
    import boto3
    from s3_store import FEDERATOR_KEY, FEDERATOR_SECRET
    sts = boto3.client("sts", endpoint_url=s3_store.endpoint, region_name="us-east-1",
                       aws_access_key_id=FEDERATOR_KEY, aws_secret_access_key=FEDERATOR_SECRET)
    return sts.get_federation_token(Name=name, DurationSeconds=3600)["Credentials"]


def _start_fails(cairn_launcher, tmp_path, dest, env):
    r = subprocess.run([cairn_launcher.binary, "--host", "127.0.0.1", "--port", "0", "--backend-store-uri",
                        "postgresql://postgres@/none?host=/nonexistent", "--data-dir", str(tmp_path / "d"),
                        "--artifacts-destination", dest], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, **env))
    return r.returncode, r.stderr


def test_session_token_from_the_stores_sts(request, cairn_launcher, s3_store, s3_bucket, tmp_path, s3):
    """AWS_SESSION_TOKEN against a store that enforces it: temporary
    credentials issued by SeaweedFS's STS. Without the token, or with
    another session's token, the store refuses the temporary key (so the
    token really is sent, as x-amz-security-token, and signed); with it,
    uploads (one PUT and multipart), listings, downloads, deletes, the
    direct multipart protocol and presigned URLs (X-Amz-Security-Token in
    the query) all work. With CAIRN_TARGET=mlflow, MLflow's server (boto3)
    runs on the same temporary credentials."""
    creds = _federation_token(s3_store, "cairn-sts")
    other = _federation_token(s3_store, "cairn-other")
    dest = f"s3://{s3_bucket}/sts"
    env = dict(s3_store.server_env(creds["AccessKeyId"], creds["SecretAccessKey"]),
               AWS_SESSION_TOKEN=creds["SessionToken"])
    if TARGET == "cairn":
        code, err = _start_fails(cairn_launcher, tmp_path, dest, {**env, "AWS_SESSION_TOKEN": ""})
        assert code == 2 and "denied" in err, err            # the temporary key alone is refused
        code, err = _start_fails(cairn_launcher, tmp_path, dest,
                                 {**env, "AWS_SESSION_TOKEN": other["SessionToken"]})
        assert code == 2 and "denied" in err, err            # so is another session's token
        srv = cairn_launcher.start(["--artifacts-destination", dest], env_extra=env)
    else:
        pg_socket = request.getfixturevalue("pg_socket")
        srv = start_mlflow_s3(pg_socket, env, ["--artifacts-destination", dest])
    try:
        base = srv.url
        small, big = os.urandom(1000), os.urandom(20 << 20)
        assert requests.put(f"{base}{PROXY}/0/t/small.bin", data=small).status_code == 200
        assert requests.put(f"{base}{PROXY}/0/t/big.bin", data=big, timeout=120).status_code == 200
        assert requests.get(f"{base}{PROXY}/0/t/big.bin", timeout=120).content == big
        files = requests.get(f"{base}{PROXY}", params={"path": "0/t"}).json()["files"]
        assert sorted(f["path"] for f in files) == ["big.bin", "small.bin"]
        assert s3.get_object(Bucket=s3_bucket, Key="sts/0/t/small.bin")["Body"].read() == small
        # the direct multipart protocol: part URLs and the download URL carry the token
        r = requests.post(f"{base}{MA}/mpu/create/0/t", json={"path": "direct.bin", "num_parts": 1})
        assert r.status_code == 200, r.text
        up = r.json()
        url = up["credentials"][0]["url"]
        if TARGET == "cairn":
            assert "X-Amz-Security-Token=" in url
        p = requests.put(url, data=b"direct bytes", timeout=60)
        assert p.status_code == 200, p.text
        r = requests.post(f"{base}{MA}/mpu/complete/0/t", json={
            "path": "direct.bin", "upload_id": up["upload_id"],
            "parts": [{"part_number": 1, "etag": p.headers["ETag"], "url": url}]})
        assert r.status_code == 200, r.text
        pre = requests.get(f"{base}{MA}/presigned/0/t/direct.bin").json()
        assert requests.get(pre["url"], timeout=60).content == b"direct bytes"
        # a presigned URL whose token was swapped for another session's is refused by the store
        if TARGET == "cairn":
            forged = pre["url"].replace(urllib.parse.quote(creds["SessionToken"], safe=""),
                                        urllib.parse.quote(other["SessionToken"], safe=""))
            assert forged != pre["url"] and requests.get(forged, timeout=60).status_code == 403
        assert requests.delete(f"{base}{PROXY}/0/t").status_code == 200
        assert keys(s3, s3_bucket, "sts/0/t") == []
    finally:
        if TARGET == "cairn":
            problems = cairn_launcher.stop(srv)
            assert not problems, problems
        else:
            stop_mlflow_s3(srv, request.getfixturevalue("pg_socket"))
