"""Artifact and logged-model scenarios for the differential comparison
(compat/differential.py): each runs with the 3.x client against a fresh
cairn-server and against MLflow's reference server, and the HTTP exchanges
must match after normalisation (accepted differences: compat/DIFFERENCES.md).

Besides the client's own calls, the scenarios fetch the UI's artifact routes
(/get-artifact, /model-versions/get-artifact, the ajax logged-model files
route, tracking artifacts/list) with plain requests, which the recording
layer captures the same way.
"""
import os
import tempfile
import warnings

import pytest

import mlflow

if int(mlflow.__version__.split(".")[0]) < 3:
    pytest.skip("differential tests use the mlflow 3.x client", allow_module_level=True)

import requests
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException

import differential as D

warnings.filterwarnings("ignore")


def expect_error(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except MlflowException:
        return
    raise AssertionError(f"{getattr(fn, '__name__', fn)} did not fail")


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def _get(route, **params):
    """A UI-style GET on the current tracking server (recorded)."""
    return requests.get(mlflow.get_tracking_uri() + route, params=params, timeout=15)


def sc_artifacts(uid):
    c = MlflowClient()
    tmp = tempfile.mkdtemp(prefix="diff-art-")
    _write(f"{tmp}/a.txt", "hello artifacts\n")
    _write(f"{tmp}/empty.txt", b"")
    _write(f"{tmp}/tree/b.json", '{"b": 1}')
    _write(f"{tmp}/tree/sub/c.csv", "x,y\n1,2\n")
    _write(f"{tmp}/tree/sub/deep/d.bin", bytes(range(256)) * 4)
    _write(f"{tmp}/tree/sub/space name.txt", "spaces")
    mlflow.set_experiment(f"art-{uid}")
    with mlflow.start_run(run_name="artifacts") as run:
        mlflow.log_artifact(f"{tmp}/a.txt")
        mlflow.log_artifact(f"{tmp}/a.txt", artifact_path="figs")
        mlflow.log_artifact(f"{tmp}/empty.txt")
        mlflow.log_artifacts(f"{tmp}/tree", artifact_path="tree")
        mlflow.log_text("some notes", "notes/n.txt")
        mlflow.log_dict({"k": [1, 2]}, "cfg.json")
    rid = run.info.run_id
    for path in (None, "tree", "tree/sub", "tree/sub/deep", "figs/", "a.txt", "missing", "tree/missing"):
        c.list_artifacts(rid, path)
    dst = tempfile.mkdtemp(prefix="diff-dl-")
    c.download_artifacts(rid, "a.txt", dst)
    c.download_artifacts(rid, "tree", dst)
    c.download_artifacts(rid, "", tempfile.mkdtemp(prefix="diff-dl-"))
    mlflow.artifacts.load_text(f"runs:/{rid}/notes/n.txt")
    mlflow.artifacts.load_dict(f"runs:/{rid}/cfg.json")
    mlflow.artifacts.list_artifacts(run_id=rid, artifact_path="tree/sub")
    # the UI's routes
    _get("/api/2.0/mlflow/artifacts/list", run_id=rid)
    _get("/api/2.0/mlflow/artifacts/list", run_id=rid, path="tree/sub")
    _get("/api/2.0/mlflow/artifacts/list", run_id=rid, path="tree", page_token="abc")
    _get("/ajax-api/2.0/mlflow/artifacts/list", run_id=rid, path="missing")
    _get("/api/2.0/mlflow/artifacts/list", run_id=rid, path="../x")
    _get("/get-artifact", run_id=rid, path="a.txt")
    _get("/get-artifact", run_id=rid, path="tree/b.json")
    _get("/get-artifact", run_uuid=rid, path="tree/sub/c.csv")
    _get("/get-artifact", run_id=rid, path="tree/../../x")
    _get("/get-artifact", run_id=rid, path="/etc/passwd")
    # delete through the artifact repository (DELETE on the proxy), then list
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    get_artifact_repository(run.info.artifact_uri).delete_artifacts("figs")
    c.list_artifacts(rid)
    get_artifact_repository(run.info.artifact_uri).delete_artifacts("tree/sub/deep/d.bin")
    c.list_artifacts(rid, "tree/sub/deep")


def _sk_model():
    import numpy as np
    from sklearn.linear_model import LinearRegression
    X = np.arange(12, dtype=float).reshape(-1, 2)
    return LinearRegression().fit(X, X @ [1.0, 2.0] + 1.0), X


def sc_log_model(uid):
    c = MlflowClient()
    exp = mlflow.set_experiment(f"lm-{uid}")
    model, X = _sk_model()
    with mlflow.start_run(run_name="train") as run:
        mlflow.log_params({"alpha": "0.5", "fit_intercept": "True"})
        mlflow.log_metric("rmse", 0.25, step=0)
        info = mlflow.sklearn.log_model(model, name="model", input_example=X[:2],
                                        pip_requirements=["scikit-learn"])
    mid, rid = info.model_id, run.info.run_id
    c.get_logged_model(mid)
    c.get_run(rid)
    c.list_logged_model_artifacts(mid)
    mlflow.sklearn.load_model(f"models:/{mid}")
    mlflow.pyfunc.load_model(f"runs:/{rid}/model")
    _get(f"/ajax-api/2.0/mlflow/logged-models/{mid}/artifacts/files", artifact_file_path="MLmodel")
    _get(f"/ajax-api/2.0/mlflow/logged-models/{mid}/artifacts/files", artifact_file_path="nope.txt")
    _get(f"/ajax-api/2.0/mlflow/logged-models/{mid}/artifacts/files", artifact_file_path="../../x")
    _get(f"/ajax-api/2.0/mlflow/logged-models/{mid}/artifacts/files")
    _get(f"/api/2.0/mlflow/logged-models/{mid}/artifacts/directories")
    _get(f"/api/2.0/mlflow/logged-models/{mid}/artifacts/directories", artifact_directory_path="missing")
    _get(f"/api/2.0/mlflow/logged-models/{mid}/artifacts/directories", artifact_directory_path="../x")
    # the registry's artifact route for a version made from the logged model
    mv = mlflow.register_model(f"models:/{mid}", f"reg-{uid}")
    c.get_model_version_download_uri(f"reg-{uid}", mv.version)
    _get("/model-versions/get-artifact", name=f"reg-{uid}", version=mv.version, path="MLmodel")
    _get("/model-versions/get-artifact", name=f"reg-{uid}", version=mv.version, path="input_example.json")
    _get("/model-versions/get-artifact", name=f"reg-{uid}", version=mv.version, path="missing.txt")
    _get("/model-versions/get-artifact", name=f"reg-{uid}", version=mv.version, path="../../etc/passwd")
    _get("/model-versions/get-artifact", name=f"reg-{uid}", version="99", path="MLmodel")
    mlflow.pyfunc.load_model(f"models:/reg-{uid}/{mv.version}")
    # tags, params, finalize
    c.set_logged_model_tags(mid, {"team": "ml", "tmp": "x"})
    c.delete_logged_model_tag(mid, "tmp")
    c.log_model_params(mid, {"extra": "1"})
    c.get_logged_model(mid)
    m2 = c.create_logged_model(exp.experiment_id, name=f"manual-{uid}", model_type="sklearn",
                               params={"depth": "3"}, tags={"team": "infra"})
    c.finalize_logged_model(m2.model_id, LoggedModelStatus.FAILED)
    expect_error(c.get_logged_model, "m-0123456789abcdef0123456789abcdef")
    expect_error(c.create_logged_model, exp.experiment_id, name="bad/name")
    c.delete_logged_model(m2.model_id)
    expect_error(c.get_logged_model, m2.model_id)


def sc_search_logged_models(uid):
    c = MlflowClient()
    eid = c.create_experiment(f"slm-{uid}")
    ids = []
    for i in range(5):
        m = c.create_logged_model(eid, name=f"m{i}", params={"p": str(i % 2)},
                                  tags={"parity": "even" if i % 2 == 0 else "odd"},
                                  model_type="typeA" if i < 3 else "typeB")
        ids.append(m.model_id)
        if i % 2 == 0:
            c.finalize_logged_model(m.model_id, LoggedModelStatus.READY)
    rid = c.create_run(eid).info.run_id
    from mlflow.entities import Metric
    c.log_batch(rid, metrics=[Metric("acc", 0.5 + i / 10, 1_700_000_000_000 + i, 0, model_id=ids[i])
                              for i in range(5)])
    c.search_logged_models([eid])
    for f in ("name = 'm1'", "name LIKE 'm%'", "params.p = '1'", "tags.parity = 'even'",
              "metrics.acc > 0.65", "model_type IN ('typeB')", "model_type NOT IN ('typeB')",
              "name != 'm0' AND tags.parity = 'even'", "metrics.acc >= 0.6 AND params.p = '0'"):
        c.search_logged_models([eid], filter_string=f)
    c.search_logged_models([eid], order_by=[{"field_name": "name", "ascending": True}])
    c.search_logged_models([eid], order_by=[{"field_name": "metrics.acc", "ascending": False}])
    c.search_logged_models([eid], order_by=[{"field_name": "creation_timestamp", "ascending": True}])
    token = None
    while True:
        page = c.search_logged_models([eid], max_results=2, page_token=token,
                                      order_by=[{"field_name": "name", "ascending": False}])
        token = page.token
        if not token:
            break
    # MLflow's token embeds experiment ids, filter and order: a token reused
    # with another query is refused
    first = c.search_logged_models([eid], max_results=2, filter_string="name LIKE 'm%'")
    expect_error(c.search_logged_models, [eid], max_results=2, filter_string="name LIKE 'x%'",
                 page_token=first.token)
    expect_error(c.search_logged_models, [eid, "0"], max_results=2, filter_string="name LIKE 'm%'",
                 page_token=first.token)
    expect_error(c.search_logged_models, [eid], max_results=2, filter_string="name LIKE 'm%'",
                 order_by=[{"field_name": "name", "ascending": True}], page_token=first.token)
    c.search_logged_models([eid], max_results=2, filter_string="name LIKE 'm%'", page_token=first.token)
    # (a token that is not base64 is 400 on Cairn, 500 on MLflow: test_logged_models.py)
    expect_error(c.search_logged_models, [eid], filter_string="foo.bar = '1'")
    expect_error(c.search_logged_models, [eid], filter_string="metrics.acc LIKE 'x'")
    c.delete_logged_model(ids[0])
    c.search_logged_models([eid])
    mlflow.search_logged_models(experiment_ids=[eid], output_format="list")


def _proxy_get(e):
    return e.method == "GET" and "/mlflow-artifacts/artifacts" in e.path


def stable_order(log):
    """Directory downloads list and fetch on a thread pool while the main
    thread keeps listing: sort each run of consecutive proxy GETs."""
    out, i = [], 0
    while i < len(log):
        j = i
        while j < len(log) and _proxy_get(log[j]):
            j += 1
        if j > i:
            out += sorted(log[i:j], key=lambda e: (e.path, sorted(e.query)))
            i = j
        else:
            out.append(log[i])
            i += 1
    return out


SCENARIOS = {
    "artifacts": sc_artifacts,
    "log_model": sc_log_model,
    "search_logged_models": sc_search_logged_models,
}


@pytest.fixture(scope="module")
def allowlist():
    return D.load_allowlist()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_artifacts_differential(name, cairn_factory, mlflow_server, allowlist, monkeypatch):
    from mlflow.store.artifact.artifact_repo import ArtifactRepository
    # one download thread: directory downloads then go file by file in order
    monkeypatch.setattr(ArtifactRepository, "max_workers", property(lambda self: 1))

    def prepare(rec):
        # the client probes server-info once per process and host (artifact
        # downloads ask for the workspace): where it lands depends on history
        return stable_order([e for e in rec if e.path != "/api/3.0/mlflow/server-info"])

    D.run_and_compare(name, SCENARIOS[name], cairn_factory().url, mlflow_server.url, allowlist,
                      prepare=prepare, max_lines=120)
