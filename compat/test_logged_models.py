"""MLflow 3 logged models through MlflowClient and raw REST: create, get,
finalize, tags, params, delete (soft), search grammar and pagination,
metrics linked by model_id, and the legacy runs/log-model."""
import json
import time

import pytest
import requests

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from conftest import unique

MLFLOW_MAJOR = int(mlflow.__version__.split(".")[0])
LM = "/api/2.0/mlflow/logged-models"
pytestmark_3 = pytest.mark.mlflow3


@pytest.fixture
def exp_id(client):
    return client.create_experiment(unique("lm"))


@pytest.mark.mlflow3
def test_create_get_finalize(client, exp_id):
    run = client.create_run(exp_id)
    m = client.create_logged_model(exp_id, name="clf", source_run_id=run.info.run_id,
                                   params={"alpha": "0.1"}, tags={"team": "a"}, model_type="sklearn")
    assert m.model_id.startswith("m-") and len(m.model_id) == 34
    assert m.artifact_location.endswith(f"/models/{m.model_id}/artifacts")
    assert m.status.to_int() == 1
    assert m.params == {"alpha": "0.1"} and m.tags == {"team": "a"}
    g = client.get_logged_model(m.model_id)
    assert (g.name, g.model_type, g.source_run_id) == ("clf", "sklearn", run.info.run_id)
    from mlflow.entities import LoggedModelStatus
    f = client.finalize_logged_model(m.model_id, LoggedModelStatus.READY)
    assert f.status == LoggedModelStatus.READY
    assert f.last_updated_timestamp >= m.creation_timestamp
    anon = client.create_logged_model(exp_id)
    assert anon.name                               # a generated name


@pytest.mark.mlflow3
def test_errors(client, exp_id, base_url):
    with pytest.raises(MlflowException) as e:
        client.get_logged_model("m-" + "0" * 32)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        client.create_logged_model(exp_id, name="bad/name")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.create_logged_model("999999")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    r = requests.post(base_url + LM, json={"name": "x"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    r = requests.post(base_url + LM + "/search", json={"experiment_ids": [exp_id], "filter": "foo.bar = 'x'"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    r = requests.post(base_url + LM + "/search", json={"experiment_ids": [exp_id], "filter": "metrics.acc LIKE 'x'"})
    assert r.status_code == 400
    r = requests.post(base_url + LM + "/search", json={"experiment_ids": [exp_id],
                                                      "order_by": [{"field_name": "params.x"}]})
    assert r.status_code == 400


@pytest.mark.mlflow3
def test_tags_params_delete(client, exp_id, base_url):
    m = client.create_logged_model(exp_id, name="t")
    client.set_logged_model_tags(m.model_id, {"a": "1", "b": "2"})
    client.set_logged_model_tags(m.model_id, {"a": "3"})
    assert client.get_logged_model(m.model_id).tags == {"a": "3", "b": "2"}
    client.delete_logged_model_tag(m.model_id, "b")
    assert client.get_logged_model(m.model_id).tags == {"a": "3"}
    with pytest.raises(MlflowException) as e:
        client.delete_logged_model_tag(m.model_id, "nope")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.log_model_params(m.model_id, {f"p{i}": str(i) for i in range(150)})
    assert len(client.get_logged_model(m.model_id).params) == 150
    client.delete_logged_model(m.model_id)
    with pytest.raises(MlflowException) as e:
        client.get_logged_model(m.model_id)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    r = requests.get(f"{base_url}{LM}/{m.model_id}", params={"allow_deleted": "true"})
    assert r.status_code == 200 and r.json()["model"]["info"]["model_id"] == m.model_id
    assert client.search_logged_models([exp_id]) == []


@pytest.mark.mlflow3
def test_search_grammar_order_and_pages(client, exp_id):
    run = client.create_run(exp_id)
    ids = []
    for i in range(5):
        m = client.create_logged_model(exp_id, name=f"m{i}", params={"lr": str(i)}, tags={"k": "even" if i % 2 == 0 else "odd"})
        client.log_metric(run.info.run_id, "acc", i / 10, model_id=m.model_id, dataset_name="ds", dataset_digest="d1")
        ids.append(m.model_id)
        time.sleep(0.005)

    def names(**kw):
        return [m.name for m in client.search_logged_models([exp_id], **kw)]

    assert names() == ["m4", "m3", "m2", "m1", "m0"]                   # creation DESC
    assert names(filter_string="metrics.acc >= 0.2") == ["m4", "m3", "m2"]
    assert names(filter_string="params.lr = '1'") == ["m1"]
    assert names(filter_string="tags.k = 'odd' AND metrics.acc > 0.15") == ["m3"]
    assert names(filter_string="name IN ('m0', 'm4')") == ["m4", "m0"]
    assert names(filter_string="name NOT IN ('m0', 'm4')") == ["m3", "m2", "m1"]
    assert names(filter_string="name LIKE 'm%' AND attributes.name != 'm2'") == ["m4", "m3", "m1", "m0"]
    assert names(filter_string="name ILIKE 'M1'") == ["m1"]
    assert names(order_by=[{"field_name": "metrics.acc", "ascending": True}]) == ["m0", "m1", "m2", "m3", "m4"]
    assert names(order_by=[{"field_name": "name", "ascending": False}]) == ["m4", "m3", "m2", "m1", "m0"]
    assert names(datasets=[{"dataset_name": "ds", "dataset_digest": "d1"}],
                 filter_string="metrics.acc < 0.1") == ["m0"]
    # MLflow's handler turns an absent digest into None, which matches only NULL digests
    assert names(datasets=[{"dataset_name": "ds"}], filter_string="metrics.acc < 0.1") == []
    assert names(datasets=[{"dataset_name": "other"}]) == []
    page1 = client.search_logged_models([exp_id], max_results=2)
    assert [m.name for m in page1] == ["m4", "m3"] and page1.token
    page2 = client.search_logged_models([exp_id], max_results=2, page_token=page1.token)
    assert [m.name for m in page2] == ["m2", "m1"]
    m = client.get_logged_model(ids[3])
    assert [(x.key, x.value, x.dataset_name, x.run_id) for x in m.metrics] == [("acc", 0.3, "ds", run.info.run_id)]
    assert client.get_run(run.info.run_id).data.metrics["acc"] == 0.4


@pytest.mark.mlflow3
def test_page_token_bound_to_query(client, exp_id):
    """MLflow's token embeds experiment_ids, filter and order_by; reusing it
    with another query is 400."""
    for i in range(3):
        client.create_logged_model(exp_id, name=f"t{i}")
    other = client.create_experiment(unique("lm2"))
    order = [{"field_name": "name", "ascending": True}]
    first = client.search_logged_models([exp_id], max_results=2, filter_string="name LIKE 't%'", order_by=order)
    assert [m.name for m in first] == ["t0", "t1"] and first.token
    nxt = client.search_logged_models([exp_id], max_results=2, filter_string="name LIKE 't%'", order_by=order,
                                      page_token=first.token)
    assert [m.name for m in nxt] == ["t2"] and not nxt.token
    for kw in ({"experiment_ids": [exp_id, other], "filter_string": "name LIKE 't%'", "order_by": order},
               {"experiment_ids": [exp_id], "filter_string": "name LIKE 'x%'", "order_by": order},
               {"experiment_ids": [exp_id], "filter_string": None, "order_by": order},
               {"experiment_ids": [exp_id], "filter_string": "name LIKE 't%'", "order_by": None},
               {"experiment_ids": [exp_id], "filter_string": "name LIKE 't%'",
                "order_by": [{"field_name": "name", "ascending": False}]}):
        with pytest.raises(MlflowException) as e:
            client.search_logged_models(max_results=2, page_token=first.token, **kw)
        assert e.value.error_code == "INVALID_PARAMETER_VALUE", kw


@pytest.mark.mlflow3
@pytest.mark.cairn_only
def test_bad_page_token_is_400(client, exp_id):
    """MLflow answers 500 for a token that is not base64 (binascii.Error)."""
    for tok in ("not-a-token", "e30", "WzFd"):      # junk, {}, [1]
        with pytest.raises(MlflowException) as e:
            client.search_logged_models([exp_id], page_token=tok)
        assert e.value.error_code == "INVALID_PARAMETER_VALUE", tok


@pytest.mark.mlflow3
def test_run_outputs_and_model_inputs(client, exp_id):
    run = client.create_run(exp_id)
    m = client.create_logged_model(exp_id, name="io", source_run_id=run.info.run_id)
    from mlflow.entities import LoggedModelInput, LoggedModelOutput
    client.log_outputs(run.info.run_id, [LoggedModelOutput(m.model_id, 3)])
    client.log_inputs(run.info.run_id, models=[LoggedModelInput(m.model_id)])
    r = client.get_run(run.info.run_id)
    assert [(o.model_id, o.step) for o in r.outputs.model_outputs] == [(m.model_id, 3)]
    assert [i.model_id for i in r.inputs.model_inputs] == [m.model_id]


def test_legacy_log_model_history(client, exp_id, base_url):
    run = client.create_run(exp_id).info.run_id
    model = {"artifact_path": "m", "flavors": {"python_function": {}}, "utc_time_created": "2024-01-01",
             "run_id": run}
    for _ in range(2):
        r = requests.post(base_url + "/api/2.0/mlflow/runs/log-model",
                          json={"run_id": run, "model_json": json.dumps(model)})
        assert r.status_code == 200 and r.json() == {}
    hist = json.loads(client.get_run(run).data.tags["mlflow.log-model.history"])
    assert len(hist) == 2 and hist[0]["artifact_path"] == "m"
    r = requests.post(base_url + "/api/2.0/mlflow/runs/log-model",
                      json={"run_id": run, "model_json": json.dumps({"artifact_path": "m"})})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    r = requests.post(base_url + "/api/2.0/mlflow/runs/log-model", json={"run_id": run, "model_json": "{nope"})
    assert r.status_code == 400
