"""Artifacts through the tracking URI only: the mlflow-artifacts proxy,
tracking ListArtifacts, model logging and loading, concurrency, truncated
uploads, and a path-traversal corpus. Runs with the 3.x and 2.x clients;
the 1 GiB round trip runs once per test run (3.x client only)."""
import concurrent.futures
import hashlib
import json
import os
import socket
import tempfile
import urllib.parse

import numpy as np
import pytest
import requests

import mlflow
from mlflow import MlflowClient

from conftest import TARGET, unique

MLFLOW_MAJOR = int(mlflow.__version__.split(".")[0])
PROXY = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def run(tracking_uri):
    mlflow.set_experiment(unique("art"))
    with mlflow.start_run() as r:
        yield r


def proxy_path(client, run_id):
    """The run's artifact root as a path under the proxy."""
    uri = client.get_run(run_id).info.artifact_uri
    assert uri.startswith("mlflow-artifacts:")
    return urllib.parse.urlparse(uri).path.lstrip("/")


def raw_request(base_url, method, path, body=b"", headers=None, declared_length=None, close_early=False):
    """One HTTP request over a raw socket: the path goes out exactly as given."""
    u = urllib.parse.urlparse(base_url)
    s = socket.create_connection((u.hostname, u.port), timeout=15)
    try:
        length = len(body) if declared_length is None else declared_length
        head = f"{method} {path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nConnection: close\r\n"
        head += f"Content-Length: {length}\r\n"
        for k, v in (headers or {}).items():
            head += f"{k}: {v}\r\n"
        s.sendall(head.encode("latin-1") + b"\r\n" + body)
        if close_early:
            return None
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        status = int(data.split(b" ", 2)[1])
        return status, data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    finally:
        s.close()


# ------------------------------------------------------------ client workflows
def test_log_artifact_and_list_every_level(run, client, tmp_path):
    f = tmp_path / "hello.txt"
    f.write_text("hello")
    mlflow.log_artifact(str(f))
    mlflow.log_artifact(str(f), artifact_path="a/b")
    nested = tmp_path / "tree"
    (nested / "x" / "y").mkdir(parents=True)
    (nested / "top.bin").write_bytes(b"\0\1\2")
    (nested / "x" / "mid.txt").write_text("mid")
    (nested / "x" / "y" / "deep.txt").write_text("deep")
    (nested / "empty.txt").write_text("")
    mlflow.log_artifacts(str(nested), artifact_path="tree")
    mlflow.log_text("some text", "texts/t.txt")
    mlflow.log_dict({"k": [1, 2]}, "dicts/d.json")
    mlflow.log_image(np.zeros((4, 4, 3), dtype=np.uint8), "images/img.png")

    rid = run.info.run_id
    top = {f.path: f for f in client.list_artifacts(rid)}
    assert set(top) == {"hello.txt", "a", "tree", "texts", "dicts", "images"}
    assert top["hello.txt"].file_size == 5 and not top["hello.txt"].is_dir
    assert top["a"].is_dir and top["a"].file_size is None
    assert [f.path for f in client.list_artifacts(rid, "a")] == ["a/b"]
    assert [f.path for f in client.list_artifacts(rid, "a/b")] == ["a/b/hello.txt"]
    tree = {f.path: f for f in client.list_artifacts(rid, "tree")}
    assert set(tree) == {"tree/top.bin", "tree/x", "tree/empty.txt"}
    assert tree["tree/top.bin"].file_size == 3
    assert not tree["tree/empty.txt"].file_size          # 0-byte: no file_size
    assert [f.path for f in client.list_artifacts(rid, "tree/x/y")] == ["tree/x/y/deep.txt"]
    assert client.list_artifacts(rid, "missing") == []
    assert mlflow.artifacts.load_text(f"runs:/{rid}/texts/t.txt") == "some text"
    assert mlflow.artifacts.load_dict(f"runs:/{rid}/dicts/d.json") == {"k": [1, 2]}


def test_download_file_and_dir(run, client, tmp_path):
    src = tmp_path / "src"
    (src / "d" / "e").mkdir(parents=True)
    (src / "d" / "one.txt").write_text("1")
    (src / "d" / "e" / "two.txt").write_text("22")
    mlflow.log_artifacts(str(src))
    rid = run.info.run_id
    dst = tmp_path / "dst"
    dst.mkdir()
    p = client.download_artifacts(rid, "d/one.txt", str(dst))
    assert open(p).read() == "1"
    d = mlflow.artifacts.download_artifacts(run_id=rid, artifact_path="d", dst_path=str(tmp_path / "dst2"))
    assert open(os.path.join(d, "e", "two.txt")).read() == "22"
    assert open(os.path.join(d, "one.txt")).read() == "1"


def test_proxy_http_details(run, client, base_url):
    root = proxy_path(client, run.info.run_id)
    r = requests.put(f"{base_url}{PROXY}/{root}/dir/report.csv", data=b"a,b\n1,2\n")
    assert r.status_code == 200
    r = requests.get(f"{base_url}{PROXY}/{root}/dir/report.csv")
    assert r.status_code == 200 and r.content == b"a,b\n1,2\n"
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.headers["Content-Disposition"] == "attachment; filename=report.csv"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Length"] == "8"
    r = requests.get(f"{base_url}{PROXY}", params={"path": f"{root}/dir"})
    assert r.json() == {"files": [{"path": "report.csv", "is_dir": False, "file_size": 8}]}
    # a file or a missing path lists as empty
    assert requests.get(f"{base_url}{PROXY}", params={"path": f"{root}/dir/report.csv"}).json() == {}
    assert requests.get(f"{base_url}{PROXY}", params={"path": f"{root}/nope"}).json() == {}
    # a directory is not a download
    r = requests.get(f"{base_url}{PROXY}/{root}/dir")
    assert r.status_code == 400
    if TARGET == "cairn":
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # tracking ListArtifacts: paths relative to the run root
    r = requests.get(f"{base_url}/api/2.0/mlflow/artifacts/list",
                     params={"run_id": run.info.run_id, "path": "dir"})
    body = r.json()
    assert body["root_uri"] == client.get_run(run.info.run_id).info.artifact_uri
    assert body["files"] == [{"path": "dir/report.csv", "is_dir": False, "file_size": 8}]
    # delete
    assert requests.delete(f"{base_url}{PROXY}/{root}/dir/report.csv").json() == {}
    assert requests.get(f"{base_url}{PROXY}", params={"path": f"{root}/dir"}).json() == {}


def test_multipart_and_presigned_not_supported(run, client, base_url):
    root = proxy_path(client, run.info.run_id)
    for op, body in (("create", {"path": "f", "num_parts": 2}),
                     ("complete", {"path": "f", "upload_id": "u", "parts": []}),
                     ("abort", {"path": "f", "upload_id": "u"})):
        r = requests.post(f"{base_url}/api/2.0/mlflow-artifacts/mpu/{op}/{root}/f", json=body)
        assert r.status_code == 501, (op, r.text)
        assert r.json() == {"error_code": "NOT_IMPLEMENTED",
                            "message": "Multipart upload is not supported for the current artifact repository"}
    r = requests.post(f"{base_url}/api/2.0/mlflow-artifacts/mpu/create/..%2f..%2fetc", json={"path": "f"})
    assert r.status_code == 400


def test_concurrent_uploads_one_run(run, client, tmp_path):
    files = []
    for i in range(16):
        p = tmp_path / f"f{i}.bin"
        p.write_bytes(os.urandom(50_000 + i))
        files.append(p)
    rid = run.info.run_id
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda p: MlflowClient().log_artifact(rid, str(p), "conc/sub"), files))
    listed = {f.path: f.file_size for f in client.list_artifacts(rid, "conc/sub")}
    assert listed == {f"conc/sub/{p.name}": p.stat().st_size for p in files}
    # the same file from many writers at once: one complete copy wins
    same = tmp_path / "same.bin"
    same.write_bytes(os.urandom(200_000))
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda _: MlflowClient().log_artifact(rid, str(same), "conc"), range(8)))
    (tmp_path / "dl").mkdir()
    d = client.download_artifacts(rid, "conc/same.bin", str(tmp_path / "dl"))
    assert open(d, "rb").read() == same.read_bytes()


def test_truncated_upload_leaves_nothing(run, client, base_url, server):
    root = proxy_path(client, run.info.run_id)
    raw_request(base_url, "PUT", f"{PROXY}/{root}/partial.bin", body=b"x" * 1000,
                declared_length=100_000, close_early=True)
    import time
    time.sleep(1.0)
    r = requests.get(f"{base_url}{PROXY}", params={"path": root})
    assert "partial.bin" not in json.dumps(r.json())
    assert requests.get(f"{base_url}{PROXY}/{root}/partial.bin").status_code >= 400
    if server.artifacts_dir:
        for dirpath, _, names in os.walk(server.artifacts_dir):
            assert not [n for n in names if "partial" in n or "uploading" in n], (dirpath, names)


# ------------------------------------------------------------ traversal corpus
CANARY = "CANARY-CONTENT-7f3a9d"
TRAVERSAL = [
    "../canary.txt", "../../canary.txt", "..%2fcanary.txt", "..%2Fcanary.txt", "%2e%2e/canary.txt",
    "%2e%2e%2fcanary.txt", "%2E%2E%2Fcanary.txt", "%252e%252e/canary.txt", "%252e%252e%252fcanary.txt",
    "%25252e%25252e%25252fcanary.txt", "..%252fcanary.txt", "..%25252fcanary.txt", "x/../../canary.txt",
    "x/%2e%2e/%2e%2e/canary.txt", "x/%252e%252e/%252e%252e/canary.txt", "..\\canary.txt", "..%5ccanary.txt",
    "..%255ccanary.txt", "x\\..\\..\\canary.txt", "x%5c..%5c..%5ccanary.txt", "%2fetc%2fpasswd",
    "%252fetc%252fpasswd", "/etc/passwd", "//etc/passwd", "%2f%2fetc%2fpasswd", "C:/Windows/win.ini",
    "C:%5cWindows%5cwin.ini", "c%3a%2fwindows", "file:///etc/passwd", "file%3a%2f%2f%2fetc%2fpasswd",
    "x%23/../../canary.txt", "x%2523/../canary.txt", "%23/../canary.txt", "x/..%00/canary.txt",
    "x%2500.txt", "%2500", "a/%2500/b", "x%0a.txt", "x%0d%0aSet-Cookie:%20a=b", "x%01", "x%7f", "./../canary.txt",
    ".%2e/canary.txt", "%2e./canary.txt", "x/./../../canary.txt", "x/.%2e/.%2e/canary.txt",
    "%2e%2e%5c%2e%2e%5ccanary.txt", "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", "%%32%65%%32%65/canary.txt",
    "..././canary.txt/../..", "....//....//canary.txt/../../..", "%25%32%65%25%32%65/canary.txt",
    "%2525252525252525252525252e%2e/canary.txt",
]


@pytest.fixture
def canary(server):
    """A file just outside the artifact root, and a symlink inside the root pointing at it."""
    if not server.artifacts_dir:
        pytest.skip("needs a local artifacts dir")
    parent = os.path.dirname(os.path.abspath(server.artifacts_dir))
    path = os.path.join(parent, "canary.txt")
    with open(path, "w") as f:
        f.write(CANARY)
    link = os.path.join(server.artifacts_dir, unique("escape"))
    os.symlink(parent, link)
    yield path, os.path.basename(link)
    if os.path.islink(link):
        os.unlink(link)


def test_traversal_corpus_rejected(base_url, canary):
    canary_path, link = canary
    before = os.stat(canary_path)
    assert len(TRAVERSAL) >= 50
    accepted = []
    for p in TRAVERSAL:
        for method, body in (("GET", b""), ("PUT", b"pwned"), ("DELETE", b"")):
            status, resp = raw_request(base_url, method, f"{PROXY}/{p}", body=body)
            if status < 400 and method != "DELETE":
                accepted.append((method, p, status))
            assert CANARY.encode() not in resp
        status, resp = raw_request(base_url, "GET", f"{PROXY}?path={p}")
        assert CANARY.encode() not in resp, p
    # odd but legal names stay inside the root (MLflow accepts them too)
    for p in ("%c0%ae%c0%ae/canary.txt", "..;/canary.txt", "x/..;/..;/canary.txt", "x%00.txt"):
        raw_request(base_url, "PUT", f"{PROXY}/{p}", body=b"inside")
    assert open(canary_path).read() == CANARY
    # MLflow 3.17's server answers 200 to some of these PUTs (e.g. backslashes,
    # stored as odd names inside its root); Cairn rejects every one
    if TARGET == "cairn":
        assert not accepted, accepted


@pytest.mark.cairn_only
def test_symlink_escape_rejected(base_url, canary):
    """MLflow 3.17's proxy PUT follows a symlink inside the root (checked against it:
    it answers 200); Cairn resolves the real path and refuses."""
    canary_path, link = canary
    before = os.stat(canary_path)
    for method, body in (("GET", b""), ("PUT", b"pwned")):
        status, resp = raw_request(base_url, method, f"{PROXY}/{link}/canary.txt", body=body)
        assert status >= 400, (method, status, resp)
        assert CANARY.encode() not in resp
    status, resp = raw_request(base_url, "GET", f"{PROXY}?path={link}")
    assert b"canary.txt" not in resp          # the listing must not show the outside dir
    assert open(canary_path).read() == CANARY
    assert os.stat(canary_path).st_mtime == before.st_mtime


@pytest.mark.cairn_only
def test_traversal_answer_is_invalid_path(base_url):
    for p in ("..%2fx", "%252e%252e/x", "x%5cy", "%2fetc", "C:%2fx", "x%23y"):
        status, body = raw_request(base_url, "GET", f"{PROXY}/{p}")
        assert status == 400, p
        b = json.loads(body)
        assert (b["error_code"], b["message"]) == ("INVALID_PARAMETER_VALUE", "Invalid path")


@pytest.mark.cairn_only
def test_encoded_nul_refused(run, client, base_url, server):
    """civetweb would decode x%00.txt to "x" before the validator sees it; Cairn
    decodes the path itself and refuses an escaped NUL (MLflow: 400 or a 500
    from open()). Nothing is stored, also not under the cut name."""
    root = proxy_path(client, run.info.run_id)
    for method, target in (("PUT", f"{PROXY}/{root}/x%00.txt"), ("GET", f"{PROXY}/{root}/x%00.txt"),
                           ("DELETE", f"{PROXY}/{root}/x%00"), ("GET", f"{PROXY}?path={root}/x%00y"),
                           ("GET", f"/get-artifact?run_id={run.info.run_id}&path=x%00.txt"),
                           ("PUT", f"{PROXY}/{root}/x%2500.txt")):
        status, body = raw_request(base_url, method, target, body=b"cut" if method == "PUT" else b"")
        assert status == 400, (method, target, status, body)
        assert json.loads(body)["error_code"] == "INVALID_PARAMETER_VALUE"
    assert client.list_artifacts(run.info.run_id) == []
    assert not os.path.exists(os.path.join(server.artifacts_dir, root, "x"))


def test_ui_get_artifact_routes(run, client, base_url, tmp_path):
    """/get-artifact (run files) and /model-versions/get-artifact (the version's
    storage location), as the UI fetches them: attachments, 404 for a missing
    file, 400 Invalid path for traversal."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.txt").write_text("ui bytes")
    mlflow.log_artifacts(str(tmp_path / "d"), "sub")
    rid = run.info.run_id
    r = requests.get(f"{base_url}/get-artifact", params={"run_id": rid, "path": "sub/f.txt"}, timeout=15)
    assert r.status_code == 200 and r.content == b"ui bytes"
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    r = requests.get(f"{base_url}/get-artifact", params={"run_uuid": rid, "path": "sub/f.txt"}, timeout=15)
    assert r.status_code == 200 and r.content == b"ui bytes"
    r = requests.get(f"{base_url}/get-artifact", params={"run_id": rid, "path": "sub/nope"}, timeout=15)
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    for bad in ("../../etc/passwd", "/etc/passwd", "sub/%2e%2e/%2e%2e/x"):
        r = requests.get(f"{base_url}/get-artifact", params={"run_id": rid, "path": bad}, timeout=15)
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", bad
    name = unique("uireg")
    client.create_registered_model(name)
    art = client.get_run(rid).info.artifact_uri
    mv = client.create_model_version(name, f"{art}/sub", run_id=rid)
    q = {"name": name, "version": mv.version}
    r = requests.get(f"{base_url}/model-versions/get-artifact", params={**q, "path": "f.txt"}, timeout=15)
    assert r.status_code == 200 and r.content == b"ui bytes"
    assert r.headers["Content-Disposition"].startswith("attachment")
    r = requests.get(f"{base_url}/model-versions/get-artifact", params={**q, "path": "missing"}, timeout=15)
    assert r.status_code == 404
    r = requests.get(f"{base_url}/model-versions/get-artifact", params={**q, "path": "../../../x"}, timeout=15)
    assert r.status_code == 400
    r = requests.get(f"{base_url}/model-versions/get-artifact",
                     params={"name": name, "version": "42", "path": "f.txt"}, timeout=15)
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_tracking_list_page_token_ignored(run, client, base_url, tmp_path):
    """ListArtifacts takes a page_token but MLflow's server lists everything."""
    (tmp_path / "a.txt").write_text("a")
    mlflow.log_artifact(str(tmp_path / "a.txt"))
    r = requests.get(f"{base_url}/api/2.0/mlflow/artifacts/list",
                     params={"run_id": run.info.run_id, "page_token": "whatever"}, timeout=15)
    assert r.status_code == 200
    assert [f["path"] for f in r.json()["files"]] == ["a.txt"] and "next_page_token" not in r.json()


def test_experiment_artifact_location_rules(client, server):
    assert client.get_experiment(client.create_experiment(unique("s3"), artifact_location="s3://bucket/p")) \
        .artifact_location == "s3://bucket/p"
    from mlflow.exceptions import MlflowException
    with pytest.raises(MlflowException) as e:
        client.create_experiment(unique("frag"), artifact_location="http:///#/../../../../etc/")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.cairn_only
def test_local_artifact_location_outside_roots_refused(client):
    from mlflow.exceptions import MlflowException
    # (a relative location is resolved under the artifact root since issue 20: test_compat_gaps.py)
    for loc in ("/etc", "file:///etc", "file:///tmp/../etc", "../relative/dir"):
        with pytest.raises(MlflowException) as e:
            client.create_experiment(unique("loc"), artifact_location=loc)
        assert e.value.error_code == "INVALID_PARAMETER_VALUE", loc


# ------------------------------------------------------------ models
def _data():
    rng = np.random.default_rng(0)
    X = rng.random((40, 4))
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    return X, y


def test_sklearn_log_model_then_load(run, client):
    from sklearn.linear_model import LogisticRegression
    from mlflow.models import infer_signature
    X, y = _data()
    clf = LogisticRegression().fit(X, y)
    sig = infer_signature(X, clf.predict(X))
    kwargs = {"name": "model"} if MLFLOW_MAJOR >= 3 else {"artifact_path": "model"}
    info = mlflow.sklearn.log_model(clf, signature=sig, input_example=X[:3], **kwargs)
    expected = clf.predict(X)
    m1 = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert (m1.predict(X) == expected).all()
    assert m1.metadata.signature == sig
    m2 = mlflow.pyfunc.load_model(info.model_uri)
    assert (m2.predict(X) == expected).all()
    if MLFLOW_MAJOR >= 3:
        assert info.model_uri.startswith("models:/m-")
        lm = mlflow.get_logged_model(info.model_id)
        assert lm.status.to_int() == 2   # READY
        assert lm.source_run_id == run.info.run_id
        files = {f.path for f in client.list_logged_model_artifacts(info.model_id)}
        assert "MLmodel" in files and any(f.startswith("model.") for f in files), files
        assert any("input_example" in f for f in files), files
    else:
        hist = json.loads(client.get_run(run.info.run_id).data.tags["mlflow.log-model.history"])
        assert hist[-1]["artifact_path"] == "model"


class AddN(mlflow.pyfunc.PythonModel):
    def __init__(self, n):
        self.n = n

    def predict(self, context, model_input, params=None):
        return model_input.apply(lambda c: c + self.n)


def test_custom_pyfunc_model(run):
    import pandas as pd
    kwargs = {"name": "addn"} if MLFLOW_MAJOR >= 3 else {"artifact_path": "addn"}
    info = mlflow.pyfunc.log_model(python_model=AddN(5), **kwargs)
    df = pd.DataFrame({"a": [1, 2, 3]})
    out = mlflow.pyfunc.load_model(info.model_uri).predict(df)
    assert list(out["a"]) == [6, 7, 8]
    out = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/addn").predict(df)
    assert list(out["a"]) == [6, 7, 8]


@pytest.mark.mlflow3
def test_search_logged_models_after_log_model(run):
    from sklearn.linear_model import LogisticRegression
    X, y = _data()
    mlflow.log_metric("acc", 0.75)
    info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="searched")
    found = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    assert [m.model_id for m in found] == [info.model_id]
    found = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id],
                                        filter_string="name = 'searched' AND metrics.acc > 0.5",
                                        output_format="list")
    assert [m.model_id for m in found] == [info.model_id]
    assert mlflow.search_logged_models(experiment_ids=[run.info.experiment_id],
                                       filter_string="metrics.acc > 0.9", output_format="list") == []
    metrics = mlflow.get_logged_model(info.model_id).metrics
    assert [(m.key, m.value, m.run_id) for m in metrics] == [("acc", 0.75, run.info.run_id)]


# ------------------------------------------------------------ 1 GiB, once per run
class _Stream:
    """A file-like body of n pseudo-random bytes (with a length, so requests
    sends Content-Length), hashing what it hands out."""

    def __init__(self, n, chunk=1 << 20):
        self.left = n
        self.n = n
        self.block = os.urandom(chunk)
        self.i = 0
        self.sha = hashlib.sha256()

    def __len__(self):
        return self.n

    def read(self, size=-1):
        if self.left <= 0:
            return b""
        size = len(self.block) if size is None or size < 0 else min(size, len(self.block))
        size = min(size, self.left)
        self.i += 1
        rot = self.i % len(self.block)
        data = (self.block[rot:] + self.block[:rot])[:size]
        self.left -= size
        self.sha.update(data)
        return data


@pytest.mark.skipif(MLFLOW_MAJOR < 3 or os.environ.get("CAIRN_SKIP_BIG") == "1",
                    reason="the 1 GiB round trip runs once per test run, under the 3.x client")
def test_one_gib_round_trip(run, client, base_url):
    root = proxy_path(client, run.info.run_id)
    n = 1 << 30
    body = _Stream(n)
    r = requests.put(f"{base_url}{PROXY}/{root}/big/one_gib.bin", data=body, timeout=600)
    assert r.status_code == 200, r.text
    listed = requests.get(f"{base_url}{PROXY}", params={"path": f"{root}/big"}).json()
    assert listed == {"files": [{"path": "one_gib.bin", "is_dir": False, "file_size": n}]}
    sha = hashlib.sha256()
    got = 0
    with requests.get(f"{base_url}{PROXY}/{root}/big/one_gib.bin", stream=True, timeout=600) as r:
        assert r.status_code == 200
        assert int(r.headers["Content-Length"]) == n
        for chunk in r.iter_content(1 << 20):
            sha.update(chunk)
            got += len(chunk)
    assert got == n
    assert sha.hexdigest() == body.sha.hexdigest()
    requests.delete(f"{base_url}{PROXY}/{root}/big")
