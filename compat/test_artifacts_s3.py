"""issue 17: artifacts in S3-compatible object storage. Every test of
compat/test_artifacts.py runs again with `--artifacts-destination
s3://bucket/prefix` on a real S3 store (SeaweedFS, compat/s3_store.py),
then what only object storage does: multipart uploads streamed from the
client (and aborted, leaving no parts, when the client goes away), chunked
uploads, listings past one page, recursive deletes, the 3.x client's direct
multipart upload on presigned URLs, --no-serve-artifacts with an s3://
default root, the registry and logged-model flows, and the store's errors
(a missing bucket at start-up, 403 → PERMISSION_DENIED)."""
import hashlib
import json
import os
import subprocess
import time
import urllib.parse

import pytest
import requests

import mlflow
from mlflow import MlflowClient

from conftest import TARGET, reset_mlflow_state, unique
import test_artifacts
from test_artifacts import *  # noqa: F401,F403  (the same suite, on S3)
from test_artifacts import PROXY, proxy_path, raw_request

pytestmark = pytest.mark.skipif(TARGET == "mlflow", reason="the reference server runs on a local directory")
MLFLOW_MAJOR = int(mlflow.__version__.split(".")[0])


@pytest.fixture(scope="module")
def s3_bucket(s3_store):
    name = "cairn-" + unique("b").replace("_", "-").lower()[:40]
    s3_store.create_bucket(name)
    return name


@pytest.fixture(scope="module")
def server(cairn_launcher, s3_store, s3_bucket):
    """This module's cairn-server: artifacts in s3://<bucket>/store."""
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
    if parts:   # an S3 multipart object's ETag ends in -<number of parts>
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
