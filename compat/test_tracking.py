"""The real mlflow client's tracking workflows against one server per module.

Runs with both the 3.x (.venv) and the 2.x (.venv-mlflow2) client; 3.x-only
features are marked `mlflow3`. Failure cases assert MlflowException.error_code.
"""
import math
import time

import pytest

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from conftest import unique

MLFLOW_MAJOR = int(mlflow.__version__.split(".")[0])
DBL_MAX = 1.7976931348623157e308


def error_code(excinfo):
    return excinfo.value.error_code


def now_ms():
    return int(time.time() * 1000)


@pytest.fixture
def exp_id(client):
    return client.create_experiment(unique("exp"))


@pytest.fixture
def run_id(client, exp_id):
    return client.create_run(exp_id, run_name=unique("run")).info.run_id


# ------------------------------------------------------------- experiments
def test_set_experiment_creates_then_reuses(tracking_uri):
    name = unique("setexp")
    e1 = mlflow.set_experiment(name)
    assert e1.name == name
    assert e1.lifecycle_stage == "active"
    assert e1.experiment_id.isdigit()
    assert e1.artifact_location
    e2 = mlflow.set_experiment(name)
    assert e2.experiment_id == e1.experiment_id
    by_name = mlflow.get_experiment_by_name(name)
    assert by_name.experiment_id == e1.experiment_id
    assert mlflow.get_experiment(e1.experiment_id).name == name
    assert mlflow.get_experiment_by_name(unique("missing")) is None


def test_default_experiment_exists(client):
    e = client.get_experiment("0")
    assert e.name == "Default"
    assert e.lifecycle_stage == "active"


def test_create_experiment_with_tags_and_duplicate_name(client):
    name = unique("tags")
    eid = client.create_experiment(name, tags={"team": "ml", "ünï": "cödé ✓"})
    e = client.get_experiment(eid)
    assert e.tags["team"] == "ml"
    assert e.tags["ünï"] == "cödé ✓"
    assert e.creation_time > 0 and e.last_update_time >= e.creation_time
    with pytest.raises(MlflowException) as ei:
        client.create_experiment(name)
    assert error_code(ei) == "RESOURCE_ALREADY_EXISTS"
    client.set_experiment_tag(eid, "team", "infra")
    assert client.get_experiment(eid).tags["team"] == "infra"
    if hasattr(client, "delete_experiment_tag"):      # 2.x has no delete_experiment_tag
        client.delete_experiment_tag(eid, "team")
        assert "team" not in client.get_experiment(eid).tags


def test_rename_delete_restore_experiment(client):
    name = unique("life")
    eid = client.create_experiment(name)
    run = client.create_run(eid)
    new_name = unique("renamed")
    client.rename_experiment(eid, new_name)
    assert client.get_experiment(eid).name == new_name
    assert client.get_experiment_by_name(name) is None

    client.delete_experiment(eid)
    e = client.get_experiment(eid)
    assert e.lifecycle_stage == "deleted"
    # get-by-name still finds a deleted experiment
    assert client.get_experiment_by_name(new_name).lifecycle_stage == "deleted"
    # its runs are deleted with it
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    # a deleted experiment's name is still taken
    with pytest.raises(MlflowException) as ei:
        client.create_experiment(new_name)
    assert error_code(ei) == "RESOURCE_ALREADY_EXISTS"
    # no new runs in a deleted experiment
    with pytest.raises(MlflowException) as ei:
        client.create_run(eid)
    assert error_code(ei) == "INVALID_PARAMETER_VALUE"
    # set_experiment refuses a deleted experiment
    with pytest.raises(MlflowException):
        mlflow.set_experiment(new_name)

    client.restore_experiment(eid)
    assert client.get_experiment(eid).lifecycle_stage == "active"
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "active"


def test_unknown_experiment(client):
    with pytest.raises(MlflowException) as ei:
        client.get_experiment("987654321")
    assert error_code(ei) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as ei:
        client.create_run("987654321")
    assert error_code(ei) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as ei:
        client.delete_experiment("987654321")
    assert error_code(ei) == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.mlflow3
def test_delete_missing_experiment_tag(client, exp_id):
    with pytest.raises(MlflowException) as ei:
        client.delete_experiment_tag(exp_id, "nope")
    assert error_code(ei) == "RESOURCE_DOES_NOT_EXIST"


def test_search_experiments_filter_order_pagination(client):
    prefix = unique("sx")
    ids = [client.create_experiment(f"{prefix}-{i:02d}", tags={"i": str(i), "grp": prefix})
           for i in range(7)]
    got = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'",
                                    order_by=["name DESC"])
    assert [e.experiment_id for e in got] == ids[::-1]

    got = client.search_experiments(filter_string=f"tags.grp = '{prefix}' AND tags.i = '3'")
    assert [e.experiment_id for e in got] == [ids[3]]

    got = client.search_experiments(filter_string=f"name ILIKE '{prefix.upper()}-0%'",
                                    order_by=["name ASC"])
    assert [e.experiment_id for e in got] == ids

    # pages of 3: 3 + 3 + 1
    seen, token, pages = [], None, 0
    while True:
        page = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'",
                                         order_by=["name ASC"], max_results=3, page_token=token)
        pages += 1
        seen += [e.experiment_id for e in page]
        token = page.token
        if not token:
            break
    assert pages == 3
    assert seen == ids

    client.delete_experiment(ids[0])
    active = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'")
    assert ids[0] not in {e.experiment_id for e in active}
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY,
                                        filter_string=f"name LIKE '{prefix}-%'")
    assert [e.experiment_id for e in deleted] == [ids[0]]
    allv = client.search_experiments(view_type=ViewType.ALL, filter_string=f"name LIKE '{prefix}-%'")
    assert len(allv) == 7

    with pytest.raises(MlflowException) as ei:
        client.search_experiments(filter_string="name = ")
    assert error_code(ei) == "INVALID_PARAMETER_VALUE"


# ------------------------------------------------------------- runs
def test_start_and_end_run(tracking_uri):
    mlflow.set_experiment(unique("runs"))
    name = unique("r")
    run = mlflow.start_run(run_name=name)
    rid = run.info.run_id
    assert len(rid) == 32 and all(c in "0123456789abcdef" for c in rid)
    assert mlflow.active_run().info.run_id == rid
    assert run.info.status == "RUNNING"
    assert run.info.lifecycle_stage == "active"
    mlflow.end_run()
    assert mlflow.active_run() is None
    r = MlflowClient().get_run(rid)
    assert r.info.status == "FINISHED"
    assert r.info.run_name == name
    assert r.data.tags["mlflow.runName"] == name
    assert r.info.end_time >= r.info.start_time > 0
    assert r.info.artifact_uri.endswith(f"{rid}/artifacts")


def test_run_context_manager_and_failure(tracking_uri):
    mlflow.set_experiment(unique("ctx"))
    with mlflow.start_run() as run:
        mlflow.log_param("p", 1)
    ok = MlflowClient().get_run(run.info.run_id)
    assert ok.info.status == "FINISHED"
    assert ok.info.run_name  # server (or client) generated a name

    with pytest.raises(ZeroDivisionError):
        with mlflow.start_run() as run2:
            1 / 0
    assert MlflowClient().get_run(run2.info.run_id).info.status == "FAILED"


def test_nested_runs(tracking_uri):
    exp = mlflow.set_experiment(unique("nest"))
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(run_name="child", nested=True) as child:
            with mlflow.start_run(run_name="grandchild", nested=True) as grandchild:
                pass
    c = MlflowClient()
    assert c.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert c.get_run(grandchild.info.run_id).data.tags["mlflow.parentRunId"] == child.info.run_id
    assert "mlflow.parentRunId" not in c.get_run(parent.info.run_id).data.tags
    kids = mlflow.search_runs([exp.experiment_id],
                              filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                              output_format="list")
    assert [r.info.run_id for r in kids] == [child.info.run_id]


def test_params_metrics_tags(tracking_uri):
    mlflow.set_experiment(unique("log"))
    t0 = 1_700_000_000_000
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "opt": "adam", "none": None})
        mlflow.log_metric("loss", 1.5, step=0, timestamp=t0)
        mlflow.log_metric("loss", 0.75, step=1, timestamp=t0 + 10)
        mlflow.log_metric("loss", 0.5, step=2, timestamp=t0 + 20)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=5)
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"a": "1", "b": 2})
    c = MlflowClient()
    r = c.get_run(run.info.run_id)
    assert r.data.params == {"lr": "0.01", "layers": "3", "opt": "adam", "none": "None"}
    assert r.data.metrics == {"loss": 0.5, "acc": 0.9, "f1": 0.8}
    assert r.data.tags["stage"] == "dev"
    assert r.data.tags["a"] == "1" and r.data.tags["b"] == "2"
    hist = c.get_metric_history(run.info.run_id, "loss")
    assert [(m.value, m.step, m.timestamp) for m in hist] == [
        (1.5, 0, t0), (0.75, 1, t0 + 10), (0.5, 2, t0 + 20)]
    assert all(m.key == "loss" for m in hist)
    acc = c.get_metric_history(run.info.run_id, "acc")
    assert len(acc) == 1 and acc[0].step == 5
    assert c.get_metric_history(run.info.run_id, "never-logged") == []


def test_latest_metric_is_max_step(client, run_id):
    # latest = max by (step, timestamp, value), whatever the logging order
    client.log_metric(run_id, "m", 3.0, timestamp=100, step=3)
    client.log_metric(run_id, "m", 9.0, timestamp=500, step=1)
    client.log_metric(run_id, "m", 4.0, timestamp=50, step=3)
    client.log_metric(run_id, "m", 2.0, timestamp=100, step=3)
    assert client.get_run(run_id).data.metrics["m"] == 3.0
    hist = client.get_metric_history(run_id, "m")
    assert sorted((m.step, m.timestamp, m.value) for m in hist) == [
        (1, 500, 9.0), (3, 50, 4.0), (3, 100, 2.0), (3, 100, 3.0)]


def test_metric_duplicate_is_ignored(client, run_id):
    for _ in range(3):
        client.log_metric(run_id, "dup", 1.0, timestamp=10, step=1)
    client.log_batch(run_id, metrics=[Metric("dup", 1.0, 10, 1)] * 2)
    assert len(client.get_metric_history(run_id, "dup")) == 1


def test_nan_and_infinity(client, run_id):
    client.log_metric(run_id, "nan", float("nan"), timestamp=1, step=0)
    client.log_metric(run_id, "pinf", float("inf"), timestamp=1, step=0)
    client.log_metric(run_id, "ninf", float("-inf"), timestamp=1, step=0)
    client.log_batch(run_id, metrics=[Metric("bnan", float("nan"), 1, 0),
                                      Metric("binf", float("inf"), 1, 0)])
    m = client.get_run(run_id).data.metrics
    assert math.isnan(m["nan"]) and math.isnan(m["bnan"])
    # MLflow's SQL store keeps +-Inf as +-DBL_MAX; both are accepted here
    assert m["pinf"] in (math.inf, DBL_MAX)
    assert m["binf"] in (math.inf, DBL_MAX)
    assert m["ninf"] in (-math.inf, -DBL_MAX)
    h = client.get_metric_history(run_id, "nan")
    assert len(h) == 1 and math.isnan(h[0].value)
    h = client.get_metric_history(run_id, "pinf")
    assert len(h) == 1 and h[0].value in (math.inf, DBL_MAX)


def test_int64_steps_and_timestamps_exact(client, run_id):
    big = 2 ** 62
    odd = 2 ** 53 + 1          # not representable as a double
    client.log_metric(run_id, "s", 1.0, timestamp=odd, step=big + 1)
    client.log_metric(run_id, "s", 2.0, timestamp=odd + 2, step=-(2 ** 62) - 1)
    client.log_metric(run_id, "s", 3.0, timestamp=1, step=2 ** 63 - 1)
    hist = client.get_metric_history(run_id, "s")
    assert sorted((m.step, m.timestamp) for m in hist) == sorted(
        [(big + 1, odd), (-(2 ** 62) - 1, odd + 2), (2 ** 63 - 1, 1)])
    run = client.get_run(run_id)
    latest = [m for m in run.data._metric_objs if m.key == "s"][0]
    assert latest.step == 2 ** 63 - 1 and latest.value == 3.0
    # an exact double that needs all 17 significant digits
    client.log_metric(run_id, "pi", 0.1 + 0.2, timestamp=1, step=0)
    assert client.get_run(run_id).data.metrics["pi"] == 0.1 + 0.2


def test_unicode_keys_and_values(client, run_id):
    client.log_param(run_id, "größe", "𝛼β γ — 日本語")
    client.set_tag(run_id, "ключ ü_1", "värde ✓ \"quoted\" 'single' \\ back")
    client.log_metric(run_id, "métrique/δ", 1.25, timestamp=5, step=0)
    r = client.get_run(run_id)
    assert r.data.params["größe"] == "𝛼β γ — 日本語"
    assert r.data.tags["ключ ü_1"] == "värde ✓ \"quoted\" 'single' \\ back"
    assert r.data.metrics["métrique/δ"] == 1.25
    hits = client.search_runs([r.info.experiment_id], filter_string="params.`größe` = '𝛼β γ — 日本語'")
    assert [x.info.run_id for x in hits] == [run_id]


def test_long_param_and_tag_values_are_truncated(client, run_id):
    # MLflow's server truncates param values to 6000 and tag values to 8000
    # characters (MLFLOW_TRUNCATE_LONG_VALUES, default on) instead of failing.
    client.log_param(run_id, "long", "p" * 6500)
    client.set_tag(run_id, "longtag", "t" * 9000)
    r = client.get_run(run_id)
    assert r.data.params["long"] == "p" * 6000
    assert r.data.tags["longtag"] == "t" * 8000
    # logging the same long value again is the same (truncated) param: fine
    client.log_param(run_id, "long", "p" * 6500)
    # exactly at the limit round-trips untouched
    client.log_param(run_id, "edge", "e" * 6000)
    assert client.get_run(run_id).data.params["edge"] == "e" * 6000


def test_key_too_long(client, run_id):
    client.log_param(run_id, "k" * 250, "ok")
    with pytest.raises(MlflowException) as ei:
        client.log_param(run_id, "k" * 251, "v")
    assert error_code(ei) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as ei:
        client.log_metric(run_id, "m" * 251, 1.0)
    assert error_code(ei) == "INVALID_PARAMETER_VALUE"


def test_param_relog_same_value_and_change(client, run_id):
    client.log_param(run_id, "p", "a")
    client.log_param(run_id, "p", "a")              # idempotent
    client.log_batch(run_id, params=[Param("p", "a")])
    with pytest.raises(MlflowException) as ei:
        client.log_param(run_id, "p", "b")
    assert error_code(ei) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as ei:
        client.log_batch(run_id, params=[Param("p", "c")])
    assert error_code(ei) == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run_id).data.params["p"] == "a"


def test_tags_upsert_and_delete(client, run_id):
    client.set_tag(run_id, "t", "1")
    client.set_tag(run_id, "t", "2")
    assert client.get_run(run_id).data.tags["t"] == "2"
    client.delete_tag(run_id, "t")
    assert "t" not in client.get_run(run_id).data.tags
    with pytest.raises(MlflowException) as ei:
        client.delete_tag(run_id, "t")
    assert error_code(ei) == "RESOURCE_DOES_NOT_EXIST"


def test_run_name_tag_sync(client, exp_id):
    run = client.create_run(exp_id, run_name="first")
    rid = run.info.run_id
    client.set_tag(rid, "mlflow.runName", "second")
    assert client.get_run(rid).info.run_name == "second"
    client.update_run(rid, name="third")
    r = client.get_run(rid)
    assert r.info.run_name == "third" and r.data.tags["mlflow.runName"] == "third"


def test_update_run_status(client, run_id):
    client.update_run(run_id, status="KILLED")
    r = client.get_run(run_id)
    assert r.info.status == "KILLED"
    client.set_terminated(run_id, status="FINISHED", end_time=1_700_000_000_123)
    r = client.get_run(run_id)
    assert r.info.status == "FINISHED" and r.info.end_time == 1_700_000_000_123


def test_unknown_run(client):
    missing = "0123456789abcdef0123456789abcdef"
    for call in (lambda: client.get_run(missing),
                 lambda: client.log_param(missing, "p", "v"),
                 lambda: client.log_metric(missing, "m", 1.0),
                 lambda: client.set_tag(missing, "t", "v"),
                 lambda: client.delete_run(missing),
                 lambda: client.update_run(missing, status="FINISHED")):
        with pytest.raises(MlflowException) as ei:
            call()
        assert error_code(ei) == "RESOURCE_DOES_NOT_EXIST"


def test_delete_restore_run_and_log_to_deleted(client, exp_id):
    rid = client.create_run(exp_id, run_name="doomed").info.run_id
    client.log_param(rid, "before", "1")
    client.delete_run(rid)
    r = client.get_run(rid)                 # still readable
    assert r.info.lifecycle_stage == "deleted"
    assert r.data.params["before"] == "1"
    for call in (lambda: client.log_param(rid, "p", "v"),
                 lambda: client.log_metric(rid, "m", 1.0),
                 lambda: client.set_tag(rid, "t", "v"),
                 lambda: client.log_batch(rid, metrics=[Metric("m", 1.0, 1, 0)])):
        with pytest.raises(MlflowException) as ei:
            call()
        assert error_code(ei) == "INVALID_PARAMETER_VALUE"
    assert client.search_runs([exp_id]) == []
    dl = client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
    assert [x.info.run_id for x in dl] == [rid]
    client.restore_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "active"
    client.log_param(rid, "after", "2")
    assert [x.info.run_id for x in client.search_runs([exp_id])] == [rid]


def test_rename_run(client, run_id):
    client.update_run(run_id, name="renamed-run")
    assert client.get_run(run_id).info.run_name == "renamed-run"


# ------------------------------------------------------------- log_batch limits
def test_log_batch_at_limits(client, run_id):
    metrics = [Metric(f"m{i}", float(i), 1000 + i, i) for i in range(1000)]
    params = [Param(f"p{i}", f"v{i}") for i in range(100)]
    tags = [RunTag(f"t{i}", f"w{i}") for i in range(100)]
    client.log_batch(run_id, metrics=metrics)
    client.log_batch(run_id, params=params, tags=tags)
    r = client.get_run(run_id)
    assert len(r.data.metrics) == 1000 and r.data.metrics["m999"] == 999.0
    assert len(r.data.params) == 100 and r.data.params["p42"] == "v42"
    assert r.data.tags["t99"] == "w99"
    # the client splits bigger batches itself
    client.log_batch(run_id, metrics=[Metric(f"x{i}", 1.0, 1, 0) for i in range(2500)],
                     params=[Param(f"q{i}", "v") for i in range(250)])
    r = client.get_run(run_id)
    assert len([k for k in r.data.metrics if k.startswith("x")]) == 2500
    assert len([k for k in r.data.params if k.startswith("q")]) == 250


@pytest.mark.parametrize("n_metrics,n_params,n_tags", [
    (1001, 0, 0), (0, 101, 0), (0, 0, 101), (900, 100, 1)])
def test_log_batch_over_limits(client, run_id, n_metrics, n_params, n_tags):
    # MlflowClient.log_batch splits batches; the REST store sends one request.
    store = client._tracking_client.store
    with pytest.raises(MlflowException) as ei:
        store.log_batch(run_id,
                        metrics=[Metric(f"m{i}", 1.0, 1, 0) for i in range(n_metrics)],
                        params=[Param(f"p{i}", "v") for i in range(n_params)],
                        tags=[RunTag(f"t{i}", "v") for i in range(n_tags)])
    assert error_code(ei) == "INVALID_PARAMETER_VALUE"
    r = client.get_run(run_id)
    assert not r.data.metrics and not r.data.params  # nothing written


def test_log_batch_duplicate_param_keys(client, run_id):
    with pytest.raises(MlflowException) as ei:
        client._tracking_client.store.log_batch(run_id, metrics=[], tags=[],
                                                params=[Param("d", "1"), Param("d", "2")])
    assert error_code(ei) == "INVALID_PARAMETER_VALUE"


def test_metric_history_pages(client, run_id):
    # the client pages get-history at 25000 points
    n = 30_000
    batch = 1000
    for start in range(0, n, batch):
        client.log_batch(run_id, metrics=[Metric("h", float(i), 10 + i, i)
                                          for i in range(start, start + batch)])
    hist = client.get_metric_history(run_id, "h")
    assert len(hist) == n
    assert [m.step for m in hist] == list(range(n))
    assert client.get_run(run_id).data.metrics["h"] == float(n - 1)


# ------------------------------------------------------------- inputs
def test_log_input_pandas_and_numpy(tracking_uri):
    import numpy as np
    import pandas as pd
    mlflow.set_experiment(unique("data"))
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "c"]})
    ds = mlflow.data.from_pandas(df, name="train-df", targets="x")
    arr = mlflow.data.from_numpy(np.arange(12, dtype=np.float64).reshape(4, 3), name="np-arr")
    with mlflow.start_run() as run:
        mlflow.log_input(ds, context="training")
        mlflow.log_input(arr, context="eval")
        mlflow.log_input(ds, context="training")   # same dataset again: deduplicated
    r = MlflowClient().get_run(run.info.run_id)
    inputs = r.inputs.dataset_inputs
    by_name = {i.dataset.name: i for i in inputs}
    assert set(by_name) == {"train-df", "np-arr"}
    d = by_name["train-df"]
    assert d.dataset.digest == ds.digest
    assert d.dataset.source_type == ds.source.__class__._get_source_type()
    assert d.dataset.schema and d.dataset.profile
    assert {t.key: t.value for t in d.tags}["mlflow.data.context"] == "training"
    assert {t.key: t.value for t in by_name["np-arr"].tags}["mlflow.data.context"] == "eval"
    hits = mlflow.search_runs([r.info.experiment_id], filter_string="dataset.name = 'np-arr'",
                              output_format="list")
    assert [h.info.run_id for h in hits] == [run.info.run_id]


# ------------------------------------------------------------- search runs
@pytest.fixture
def search_exp(client):
    """Eight finished runs with params, metrics and tags to search."""
    eid = client.create_experiment(unique("search"))
    runs = []
    for i in range(8):
        r = client.create_run(eid, run_name=f"run-{i}", start_time=1_700_000_000_000 + i,
                              tags={"parity": "even" if i % 2 == 0 else "odd",
                                    "Group": "Alpha" if i < 4 else "beta"})
        rid = r.info.run_id
        client.log_batch(rid, metrics=[Metric("loss", 1.0 / (i + 1), 1000 + i, 0),
                                       Metric("acc", i / 10.0, 1000 + i, 0)],
                         params=[Param("model", "rf" if i < 3 else "xgb"),
                                 Param("depth", str(i))])
        client.set_terminated(rid, status="FINISHED" if i != 7 else "FAILED")
        runs.append(rid)
    return eid, runs


def _ids(runs):
    return [r.info.run_id for r in runs]


def test_search_runs_filters(client, search_exp):
    eid, runs = search_exp
    s = lambda f, **kw: set(_ids(client.search_runs([eid], filter_string=f, **kw)))
    assert s("metrics.loss < 0.2") == {runs[5], runs[6], runs[7]}
    assert s("metrics.acc >= 0.5 AND params.model = 'xgb'") == set(runs[5:])
    assert s("params.model != 'xgb'") == set(runs[:3])
    assert s(f"attributes.run_id NOT IN ('{runs[0]}', '{runs[1]}')") == set(runs[2:])
    assert s("attributes.status != 'FINISHED'") == {runs[7]}
    assert s("tags.parity = 'odd'") == {runs[1], runs[3], runs[5], runs[7]}
    assert s("tags.Group LIKE 'Al%'") == set(runs[:4])
    assert s("tags.Group LIKE 'al%'") == set()
    assert s("tags.Group ILIKE 'AL%'") == set(runs[:4])
    assert s("attributes.status = 'FAILED'") == {runs[7]}
    assert s("attributes.run_name = 'run-3'") == {runs[3]}
    assert s("run_name LIKE 'run-%'") == set(runs)
    assert s(f"attributes.run_id = '{runs[2]}'") == {runs[2]}
    assert s(f"attributes.run_id IN ('{runs[2]}', '{runs[4]}')") == {runs[2], runs[4]}
    assert s("attributes.start_time >= 1700000000006") == {runs[6], runs[7]}
    assert s("metrics.missing > 0") == set()
    assert s("") == set(runs)


def test_search_runs_order_and_pagination(client, search_exp):
    eid, runs = search_exp
    got = client.search_runs([eid], order_by=["metrics.acc DESC"])
    assert _ids(got) == runs[::-1]
    got = client.search_runs([eid], order_by=["params.depth ASC"])
    assert _ids(got) == runs
    got = client.search_runs([eid], order_by=["tags.parity ASC", "attributes.start_time DESC"])
    assert _ids(got) == [runs[6], runs[4], runs[2], runs[0], runs[7], runs[5], runs[3], runs[1]]
    # default order: start_time DESC
    assert _ids(client.search_runs([eid])) == runs[::-1]
    seen, token, pages = [], None, 0
    while True:
        page = client.search_runs([eid], order_by=["metrics.loss ASC"], max_results=3,
                                  page_token=token)
        pages += 1
        seen += _ids(page)
        token = page.token
        if not token:
            break
    assert pages == 3
    assert seen == runs[::-1]


def test_search_runs_dataframe_and_list(tracking_uri, search_exp):
    eid, runs = search_exp
    df = mlflow.search_runs([eid], filter_string="params.model = 'rf'",
                            order_by=["params.depth DESC"])
    assert list(df["run_id"]) == [runs[2], runs[1], runs[0]]
    assert list(df["params.depth"]) == ["2", "1", "0"]
    assert "metrics.loss" in df.columns and "tags.parity" in df.columns
    assert list(df["status"]) == ["FINISHED"] * 3
    lst = mlflow.search_runs([eid], filter_string="metrics.loss > 0.4", output_format="list")
    assert {r.info.run_id for r in lst} == {runs[0], runs[1]}
    by_name = mlflow.search_runs(experiment_names=[MlflowClient().get_experiment(eid).name],
                                 output_format="list")
    assert len(by_name) == 8


def test_search_runs_bad_filter(client, search_exp):
    eid, _ = search_exp
    for bad in ("metrics.loss <", "params.model = xgb", "foo.bar = '1'",
                "metrics.loss > 'abc'", "params.model = 'a' OR params.model = 'b'",
                "attributes.nope = 'x'",
                "params.depth IN ('1', '3')",
                "attributes.run_name IN ('run-1')"):
        with pytest.raises(MlflowException) as ei:
            client.search_runs([eid], filter_string=bad)
        assert error_code(ei) == "INVALID_PARAMETER_VALUE", bad
    with pytest.raises(MlflowException) as ei:
        client.search_runs([eid], order_by=["metrics.loss SIDEWAYS"])
    assert error_code(ei) == "INVALID_PARAMETER_VALUE"


def test_search_runs_across_experiments(client):
    a = client.create_experiment(unique("xa"))
    b = client.create_experiment(unique("xb"))
    ra = client.create_run(a).info.run_id
    rb = client.create_run(b).info.run_id
    assert set(_ids(client.search_runs([a, b]))) == {ra, rb}


# ------------------------------------------------------------- 3.x only
@pytest.mark.mlflow3
def test_fluent_metric_roundtrip_3x(tracking_uri):
    mlflow.set_experiment(unique("m3"))
    with mlflow.start_run() as run:
        mlflow.log_metric("acc", 0.5, step=1)
    c = MlflowClient()
    hist = c.get_metric_history(run.info.run_id, "acc")
    assert hist[0].value == 0.5 and hist[0].step == 1
