"""MLflow 3 GenAI evaluation through the real client (issue 21): evaluation
datasets (mlflow.genai.datasets create/get/search/merge_records/delete, tags,
records from mlflow.search_traces output), mlflow.genai.evaluate with
code-based scorers over a dataset and a predict function, the raw REST routes
with hostile input, and a differential scenario against MLflow's own server.

Runs against Cairn (default) or MLflow's server (CAIRN_TARGET=mlflow);
cairn_only tests check documented choices (compat/DIFFERENCES.md)."""
import base64
import json
import os
import random
import re
import time

import pytest
import requests

import mlflow
from conftest import TARGET, reset_mlflow_state, unique

if int(mlflow.__version__.split(".")[0]) < 3:
    pytest.skip("GenAI evaluation needs the mlflow 3.x client", allow_module_level=True)

from mlflow.exceptions import MlflowException
from mlflow.genai import datasets as gd
from mlflow.genai.scorers import scorer

import differential as D

pytestmark = pytest.mark.mlflow3
os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
os.environ.setdefault("MLFLOW_GENAI_EVAL_MAX_WORKERS", "2")
M3 = "/api/3.0/mlflow"


@pytest.fixture
def exp(tracking_uri):
    exp_id = mlflow.create_experiment(unique("genai"))
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def _records(base, ds_id, **params):
    r = requests.get(f"{base}{M3}/datasets/{ds_id}/records", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    return json.loads(body["records"]), body.get("next_page_token")


# ------------------------------------------------------------------ the client
def test_dataset_lifecycle(exp, base_url):
    name = unique("qa")
    ds = gd.create_dataset(name=name, experiment_id=exp, tags={"team": "search", "stage": "dev"})
    assert ds.dataset_id.startswith("d-") and ds.name == name
    assert ds.tags["team"] == "search" and ds.experiment_ids == [exp]
    ds.merge_records([
        {"inputs": {"question": "2+2", "n": 1}, "expectations": {"answer": "4"}, "tags": {"k": "a"}},
        {"inputs": {"question": "capital of France"}, "expectations": {"answer": "Paris"}},
        {"inputs": {"question": "é ✓ \u2028", "nested": {"a": [1, 2.5, None, True]}}, "outputs": "x"},
    ])
    df = gd.get_dataset(dataset_id=ds.dataset_id).to_df()
    assert len(df) == 3
    # the same inputs (keys in another order) merge into one record: expectations and tags update
    ds.merge_records([{"inputs": {"n": 1, "question": "2+2"}, "expectations": {"why": "arith"},
                       "tags": {"k": "b", "z": "1"}}])
    recs, _ = _records(base_url, ds.dataset_id)
    assert len(recs) == 3
    merged = [r for r in recs if r["inputs"].get("question") == "2+2"][0]
    assert merged["expectations"] == {"answer": "4", "why": "arith"}
    assert {k: v for k, v in merged["tags"].items() if k != "mlflow.user"} == {"k": "b", "z": "1"}
    assert merged["last_update_time"] >= merged["created_time"]
    exotic = [r for r in recs if "nested" in r["inputs"]][0]
    assert exotic["inputs"] == {"question": "é ✓ \u2028", "nested": {"a": [1, 2.5, None, True]}}
    assert exotic["outputs"] == "x"
    got = gd.get_dataset(dataset_id=ds.dataset_id)
    assert json.loads(got.profile) == {"num_records": 3}
    schema = json.loads(got.schema)
    assert schema["inputs"] == {"question": "string", "n": "integer", "nested": "object"}
    assert schema["expectations"] == {"answer": "string", "why": "string"}
    assert got.digest != ds.digest and got.last_update_time >= ds.last_update_time
    # by name, tags, search
    assert gd.get_dataset(name=name).dataset_id == ds.dataset_id
    gd.set_dataset_tags(ds.dataset_id, {"stage": "prod", "extra": 7})
    gd.delete_dataset_tag(ds.dataset_id, "team")
    tags = gd.get_dataset(dataset_id=ds.dataset_id).tags
    assert tags["stage"] == "prod" and tags["extra"] == "7" and "team" not in tags
    other = gd.create_dataset(name=unique("zz"), experiment_id=exp)
    found = gd.search_datasets(experiment_ids=[exp], order_by=["name ASC"])
    assert [d.dataset_id for d in found] == [ds.dataset_id, other.dataset_id]
    found = gd.search_datasets(experiment_ids=exp, filter_string=f"name = '{name}' AND tags.stage = 'prod'")
    assert [d.dataset_id for d in found] == [ds.dataset_id]
    assert gd.search_datasets(experiment_ids=exp, filter_string="tags.stage LIKE 'de%'") == []
    gd.delete_dataset(dataset_id=ds.dataset_id)
    with pytest.raises(MlflowException, match="not found"):
        gd.get_dataset(dataset_id=ds.dataset_id)
    assert [d.dataset_id for d in gd.search_datasets(experiment_ids=exp)] == [other.dataset_id]


def test_dataset_from_search_traces(exp):
    @mlflow.trace
    def answer(question):
        return question.upper()

    for q in ("alpha", "beta", "gamma"):
        answer(q)
    traces_df = mlflow.search_traces(locations=[exp])
    assert len(traces_df) == 3
    ds = gd.create_dataset(name=unique("from-traces"), experiment_id=exp)
    ds.merge_records(traces_df)
    df = gd.get_dataset(dataset_id=ds.dataset_id).to_df()
    assert len(df) == 3
    assert sorted(r["question"] for r in df["inputs"]) == ["alpha", "beta", "gamma"]
    assert set(df["source_type"]) == {"TRACE"}
    assert set(df["source_id"]) == set(traces_df["trace_id"])
    # merging the same traces again adds nothing
    ds.merge_records(traces_df)
    assert len(gd.get_dataset(dataset_id=ds.dataset_id).to_df()) == 3


@scorer
def exact_match(outputs, expectations):
    return outputs == expectations["expected_response"]


@scorer
def response_length(outputs):
    return len(outputs)


def _evaluate_three_questions(ds):
    """Three records, a predict function that gets one wrong, two code scorers."""
    ds.merge_records([
        {"inputs": {"question": "2+2"}, "expectations": {"expected_response": "4"}},
        {"inputs": {"question": "capital of France"}, "expectations": {"expected_response": "Paris"}},
        {"inputs": {"question": "colour of the sky"}, "expectations": {"expected_response": "blue"}},
    ])

    def predict(question):
        return {"2+2": "4", "capital of France": "Lyon", "colour of the sky": "blue"}[question]

    return mlflow.genai.evaluate(data=ds, predict_fn=predict, scorers=[exact_match, response_length])


def test_genai_evaluate_over_dataset(exp):
    ds = gd.create_dataset(name=unique("eval"), experiment_id=exp)
    res = _evaluate_three_questions(ds)
    assert res.metrics["exact_match/mean"] == pytest.approx(2 / 3)
    assert res.metrics["response_length/mean"] == pytest.approx((1 + 4 + 4) / 3)
    run = mlflow.get_run(res.run_id)
    assert run.info.experiment_id == exp and run.info.status == "FINISHED"
    assert run.data.metrics["exact_match/mean"] == pytest.approx(2 / 3)
    inputs = run.inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == [ds.name]
    assert ds.dataset_id in inputs[0].dataset.source
    traces = mlflow.search_traces(run_id=res.run_id, return_type="list")
    assert len(traces) == 3
    seen = {}
    for t in traces:
        by_name = {a.name: a for a in t.info.assessments}
        assert {"exact_match", "response_length", "expected_response"} <= set(by_name)
        seen[t.data.spans[0].inputs["question"]] = by_name["exact_match"].value
    assert seen == {"2+2": True, "capital of France": False, "colour of the sky": True}


def test_records_pages_and_links(exp, base_url):
    ds = gd.create_dataset(name=unique("pages"), experiment_id=exp)
    ds.merge_records([{"inputs": {"i": i}, "expectations": {"sq": i * i}} for i in range(7)])
    seen, token, pages = [], None, 0
    while True:
        params = {"max_results": 3}
        if token:
            params["page_token"] = token
        recs, token = _records(base_url, ds.dataset_id, **params)
        seen += recs
        pages += 1
        if not token:
            break
    assert pages == 3 and sorted(r["inputs"]["i"] for r in seen) == list(range(7))
    assert len({r["dataset_record_id"] for r in seen}) == 7
    # experiment links
    other = mlflow.create_experiment(unique("other"))
    r = requests.post(f"{base_url}{M3}/datasets/{ds.dataset_id}/add-experiments", json={"experiment_ids": [other]})
    assert r.status_code == 200 and r.json()["dataset"]["dataset_id"] == ds.dataset_id
    ids = requests.get(f"{base_url}{M3}/datasets/{ds.dataset_id}/experiment-ids").json()["experiment_ids"]
    assert sorted(ids) == sorted([exp, other])
    r = requests.post(f"{base_url}{M3}/datasets/{ds.dataset_id}/add-experiments",
                      json={"experiment_ids": ["987654321"]})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    r = requests.post(f"{base_url}{M3}/datasets/{ds.dataset_id}/remove-experiments",
                      json={"experiment_ids": [exp, "424242"]})
    assert r.status_code == 200
    assert requests.get(f"{base_url}{M3}/datasets/{ds.dataset_id}/experiment-ids").json()["experiment_ids"] == [other]
    # delete records
    r = requests.delete(f"{base_url}{M3}/datasets/{ds.dataset_id}/records",
                        json={"dataset_record_ids": [seen[0]["dataset_record_id"], "dr-nope"]})
    assert r.json()["deleted_count"] == 1
    assert json.loads(requests.get(f"{base_url}{M3}/datasets/{ds.dataset_id}").json()["dataset"]["profile"]) \
        == {"num_records": 6}


# ------------------------------------------------------------------ bad input
def _err(r, status, code):
    assert r.status_code == status, r.text
    assert r.json()["error_code"] == code, r.text


def test_bad_input_mlflow_errors(exp, base_url):
    ds = gd.create_dataset(name=unique("bad"), experiment_id=exp)
    url = f"{base_url}{M3}/datasets"
    _err(requests.get(f"{url}/d-0000"), 404, "RESOURCE_DOES_NOT_EXIST")
    _err(requests.patch(f"{url}/d-0000/tags", json={"tags": "{}"}), 404, "RESOURCE_DOES_NOT_EXIST")
    _err(requests.post(f"{url}/d-0000/add-experiments", json={"experiment_ids": [exp]}), 404,
         "RESOURCE_DOES_NOT_EXIST")
    _err(requests.post(f"{url}/create", json={}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(f"{url}/{ds.dataset_id}/records", json={}), 400, "INVALID_PARAMETER_VALUE")
    for f in ("name = ", "foo = 'x'", "x.y = 'a'", "created_time > 5.5", "created_time = 'a'",
              "name NOT IN ('a')", "created_by IN ('a')", "tags.a > 'x'", "name = 'a' OR name = 'b'"):
        _err(requests.post(f"{url}/search", json={"filter_string": f}), 400, "INVALID_PARAMETER_VALUE")
    for o in ("foo", "tags.a", "name sideways"):
        _err(requests.post(f"{url}/search", json={"order_by": [o]}), 400, "INVALID_PARAMETER_VALUE")
    for m in (0, -1, 50001):
        _err(requests.post(f"{url}/search", json={"max_results": m}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(f"{url}/search", json={"page_token": "zz"}), 400, "INVALID_PARAMETER_VALUE")
    # nothing half-written: a bad record after good ones leaves the dataset as it was
    good = [{"inputs": {"q": i}} for i in range(3)]
    bad = {"inputs": {"q": "x"}, "source": {"source_type": "weird"}}
    _err(requests.post(f"{url}/{ds.dataset_id}/records", json={"records": json.dumps(good + [bad])}), 400,
         "INVALID_PARAMETER_VALUE")
    assert _records(base_url, ds.dataset_id)[0] == []
    before = requests.get(f"{url}/{ds.dataset_id}").json()["dataset"]
    assert "profile" not in before and "schema" not in before
    # unknown ids elsewhere answer as MLflow: empty, idempotent
    assert requests.get(f"{url}/d-0000/records").json() == {"records": "[]"}
    assert requests.get(f"{url}/d-0000/experiment-ids").json() == {}
    assert requests.delete(f"{url}/d-0000").json() == {}
    assert requests.delete(f"{url}/d-0000/tags/k").json() == {}
    assert requests.delete(f"{url}/{ds.dataset_id}/records", json={"dataset_record_ids": ["dr-x"]}).json() \
        == {"deleted_count": 0}


@pytest.mark.cairn_only
def test_bad_input_where_mlflow_fails_with_500(exp, base_url):
    """MLflow answers these with a 500 (an unhandled Python exception); Cairn
    says what is wrong with a 400 (DIFFERENCES.md)."""
    ds = gd.create_dataset(name=unique("bad500"), experiment_id=exp)
    url = f"{base_url}{M3}/datasets"
    for body in ({"records": "[{"}, {"records": json.dumps({"inputs": {}})},
                 {"records": json.dumps([{"inputs": {"x": 1}, "source": "str"}])},
                 {"records": json.dumps(["not an object"])},
                 {"records": json.dumps([{"inputs": [1, 2]}])},
                 {"records": json.dumps([{"inputs": {"x": 1}, "source": {"source_type": "TRACE", "bogus": 1}}])}):
        _err(requests.post(f"{url}/{ds.dataset_id}/records", json=body), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.patch(f"{url}/{ds.dataset_id}/tags", json={"tags": "notjson"}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(f"{url}/create", json={"name": "x", "tags": "nope"}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.get(f"{url}/{ds.dataset_id}/records", params={"page_token": "zzz"}), 400,
         "INVALID_PARAMETER_VALUE")
    # limits: more than 50,000 records in one upsert, names past MLflow's column sizes
    many = json.dumps([{"inputs": {"i": i}} for i in range(50001)])
    _err(requests.post(f"{url}/{ds.dataset_id}/records", json={"records": many}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(f"{url}/create", json={"name": "x" * 256}), 400, "BAD_REQUEST")
    _err(requests.patch(f"{url}/{ds.dataset_id}/tags", json={"tags": json.dumps({"k": "v" * 5001})}), 400,
         "BAD_REQUEST")
    # a record past the body limit: 413, nothing written
    huge = json.dumps([{"inputs": {"blob": "x" * (17 << 20)}}])
    r = requests.post(f"{url}/{ds.dataset_id}/records", json={"records": huge})
    assert r.status_code == 413
    assert _records(base_url, ds.dataset_id)[0] == []
    # deep nesting inside the records string
    deep = '[{"inputs": {"a": ' + "[" * 100 + "]" * 100 + "}}]"
    _err(requests.post(f"{url}/{ds.dataset_id}/records", json={"records": deep}), 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.cairn_only
def test_evaluate_invoke_without_backend(exp, base_url):
    """The UI's "Run evaluation": validated as MLflow does, then 501 (no job
    runner); MLflow with jobs off creates a run and answers 500."""
    url = f"{base_url}/ajax-api/3.0/mlflow/genai/evaluate/invoke"
    body = {"experiment_id": exp, "trace_ids": ["tr-1"], "serialized_scorers": ["{}"]}
    _err(requests.post(url, json=body), 501, "NOT_IMPLEMENTED")
    assert mlflow.search_runs([exp]).empty   # no run left behind
    _err(requests.post(url, json={**body, "trace_ids": []}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(url, json={**body, "serialized_scorers": []}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(url, json={**body, "scorer_versions": [1, 2]}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(url, json={"trace_ids": ["t"]}), 400, "INVALID_PARAMETER_VALUE")
    assert requests.post(f"{base_url}{M3}/genai/evaluate/invoke", json=body).status_code == 404


# ------------------------------------------------------------------ fuzz
ROUTES = [
    ("POST", "/datasets/create"), ("GET", "/datasets/search"), ("POST", "/datasets/search"),
    ("GET", "/datasets/{id}"), ("DELETE", "/datasets/{id}"), ("PATCH", "/datasets/{id}/tags"),
    ("DELETE", "/datasets/{id}/tags/k"), ("POST", "/datasets/{id}/records"), ("GET", "/datasets/{id}/records"),
    ("DELETE", "/datasets/{id}/records"), ("GET", "/datasets/{id}/experiment-ids"),
    ("POST", "/datasets/{id}/add-experiments"), ("POST", "/datasets/{id}/remove-experiments"),
    ("POST", "/scorers/register"), ("GET", "/scorers/list"), ("GET", "/scorers/versions"), ("GET", "/scorers/get"),
    ("DELETE", "/scorers/delete"), ("GET", "/scorers/online-configs"), ("PUT", "/scorers/online-config"),
]
FIELDS = ["name", "experiment_ids", "tags", "filter_string", "max_results", "order_by", "page_token", "records",
          "dataset_record_ids", "experiment_id", "serialized_scorer", "version", "scorer_ids", "sample_rate"]


def _fuzz_value(rnd, depth=0):
    kind = rnd.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return rnd.choice(["", "x", "'", "name = ", "tags.a = 'b'", "\u0000", "é", "9" * 30, "d-0000",
                           "[{", '[{"inputs": {}}]', '{"a": 1}', "null", "-1"])
    if kind == 1:
        return rnd.choice([0, -1, 1, 2 ** 63, 1.5, 1e308])
    if kind == 2:
        return rnd.choice([True, False, None])
    if kind == 3:
        return json.dumps([{"inputs": {"q": rnd.random()}, rnd.choice(["outputs", "tags", "source", "expectations"]):
                            _fuzz_value(rnd, depth + 1)}])
    if kind == 4:
        return json.dumps({rnd.choice(["a", "mlflow.user", ""]): _fuzz_value(rnd, depth + 1)})
    if kind == 5:
        return "".join(chr(rnd.randrange(1, 0x3000)) for _ in range(rnd.randrange(12)))
    if kind == 6:
        return [_fuzz_value(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    if kind == 7:
        return {rnd.choice(FIELDS): _fuzz_value(rnd, depth + 1) for _ in range(rnd.randrange(3))}
    return rnd.choice(FIELDS)


@pytest.mark.cairn_only
def test_fuzz_routes(exp, base_url):
    """Random bodies and query strings on every dataset route: never a 5xx,
    always a JSON reply, and the server stays up (checked after the test)."""
    rnd = random.Random(21)
    ds = gd.create_dataset(name=unique("fuzz"), experiment_id=exp)
    for i in range(400):
        method, path = ROUTES[i % len(ROUTES)]
        path = path.replace("{id}", ds.dataset_id if rnd.random() < 0.8 else rnd.choice(["d-x", "%00", "é"]))
        body = {f: _fuzz_value(rnd) for f in rnd.sample(FIELDS, rnd.randrange(4))}
        if "scorers" in path and rnd.random() < 0.5:
            body.update(experiment_id=exp, name=rnd.choice(["s", "é", ""]))
        url = f"{base_url}{M3}{path}"
        if method == "GET":
            params = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in body.items()}
            r = requests.get(url, params=params)
        else:
            r = requests.request(method, url, json=body)
        assert r.status_code < 500, (method, path, body, r.status_code, r.text[:300])
        assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert requests.get(f"{base_url}{M3}/datasets/{ds.dataset_id}").status_code in (200, 404)


# ------------------------------------------------------------------ scorers
def test_scorers_register_list_get_delete(exp, base_url):
    from mlflow.genai.scorers import Guidelines, delete_scorer, get_scorer, list_scorers
    Guidelines(name="polite", guidelines=["be polite"]).register(experiment_id=exp)
    Guidelines(name="polite", guidelines=["be very polite"]).register(experiment_id=exp)
    Guidelines(name="brief", guidelines=["be brief"]).register(experiment_id=exp)
    assert sorted(s.name for s in list_scorers(experiment_id=exp)) == ["brief", "polite"]
    assert get_scorer(name="polite", experiment_id=exp).guidelines == ["be very polite"]
    assert get_scorer(name="polite", experiment_id=exp, version=1).guidelines == ["be polite"]
    url = f"{base_url}{M3}/scorers"
    vers = requests.get(f"{url}/versions", params={"experiment_id": exp, "name": "polite"}).json()["scorers"]
    assert [v["scorer_version"] for v in vers] == [1, 2] and vers[0]["experiment_id"] == int(exp)
    assert json.loads(vers[1]["serialized_scorer"])["builtin_scorer_pydantic_data"]["guidelines"] == ["be very polite"]
    sid = vers[0]["scorer_id"]
    # online scoring: a rate of 0 is stored, a positive one needs a gateway model
    r = requests.put(f"{url}/online-config", json={"experiment_id": exp, "name": "polite", "sample_rate": 0.0,
                                                   "filter_string": "trace.status = 'OK'"})
    assert r.status_code == 200 and r.json()["config"]["scorer_id"] == sid
    cfgs = requests.get(f"{url}/online-configs", params={"scorer_ids": [sid, "nope"]}).json()["configs"]
    assert [(c["sample_rate"], c["filter_string"]) for c in cfgs] == [(0.0, "trace.status = 'OK'")]
    _err(requests.put(f"{url}/online-config", json={"experiment_id": exp, "name": "polite", "sample_rate": 0.5}),
         400, "INVALID_PARAMETER_VALUE")
    _err(requests.put(f"{url}/online-config", json={"experiment_id": exp, "name": "polite", "sample_rate": 2}),
         400, "INVALID_PARAMETER_VALUE")
    _err(requests.put(f"{url}/online-config", json={"experiment_id": exp, "name": "polite", "sample_rate": 0,
                                                   "filter_string": "nonsense = "}), 400, "INVALID_PARAMETER_VALUE")
    # errors
    _err(requests.get(f"{url}/get", params={"experiment_id": exp, "name": "nope"}), 404, "RESOURCE_DOES_NOT_EXIST")
    _err(requests.get(f"{url}/get", params={"experiment_id": "987654", "name": "x"}), 404, "RESOURCE_DOES_NOT_EXIST")
    _err(requests.post(f"{url}/register", json={"experiment_id": exp, "name": " ", "serialized_scorer": "{}"}),
         400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(f"{url}/register", json={"experiment_id": exp, "name": "c", "serialized_scorer": "x"}),
         400, "INVALID_PARAMETER_VALUE")
    custom = json.dumps({"name": "c", "call_source": "return 1", "original_func_name": "c"})
    _err(requests.post(f"{url}/register", json={"experiment_id": exp, "name": "c", "serialized_scorer": custom}),
         400, "INVALID_PARAMETER_VALUE")
    # delete one version, then all
    delete_scorer(name="polite", experiment_id=exp, version=1)
    _err(requests.delete(f"{url}/delete", json={"experiment_id": exp, "name": "polite", "version": 1}), 404,
         "RESOURCE_DOES_NOT_EXIST")
    delete_scorer(name="polite", experiment_id=exp, version="all")
    assert [s.name for s in list_scorers(experiment_id=exp)] == ["brief"]
    assert requests.get(f"{url}/online-configs", params={"scorer_ids": [sid]}).json() == {"configs": []}


@pytest.mark.cairn_only
def test_scorer_invoke_without_backend(exp, base_url):
    url = f"{base_url}/ajax-api/3.0/mlflow/scorer/invoke"
    body = {"experiment_id": exp, "serialized_scorer": json.dumps({"name": "g"}), "trace_ids": ["tr-1"]}
    _err(requests.post(url, json=body), 501, "NOT_IMPLEMENTED")
    _err(requests.post(url, json={**body, "trace_ids": []}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(url, json={**body, "scorer_name": "g"}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(url, json={**body, "serialized_scorer": "{}"}), 400, "INVALID_PARAMETER_VALUE")
    assert requests.post(f"{base_url}{M3}/scorer/invoke", json=body).status_code == 404


# ------------------------------------------------------------------ differential
DR = re.compile(r"\bdr-[0-9a-f]{32}\b")
JSON_STRING_KEYS = {"tags", "schema", "profile", "records"}


def _normalise_json_fields(v, key=None):
    """JSON held in strings parsed; record ids, times, digests and users made comparable."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if k in JSON_STRING_KEYS and isinstance(x, str):
                try:
                    x = json.loads(x)
                except ValueError:
                    pass
            if k == "digest" and isinstance(x, str):
                x = "<digest>"
            elif k in ("created_time", "last_update_time") and isinstance(x, int):
                x = "<time>"
            elif k in ("created_by", "last_updated_by", "mlflow.user") and isinstance(x, str):
                x = "<user>"
            elif k == "dataset_record_id" and isinstance(x, str):
                x = "<record>"
            out[k] = _normalise_json_fields(x, k)
        return out
    if isinstance(v, list):
        items = [_normalise_json_fields(x, key) for x in v]
        if key == "records":   # same created_time: the order follows random record ids
            items.sort(key=lambda d: json.dumps(d, sort_keys=True, default=str))
        return items
    if isinstance(v, str):
        return DR.sub("dr-<id>", v)
    return v


def _prepare(exchanges):
    for e in exchanges:
        e.request = _normalise_json_fields(e.request) if isinstance(e.request, dict) else e.request
        e.response = _normalise_json_fields(e.response) if isinstance(e.response, dict) else e.response
        e.query = [(k, DR.sub("dr-<id>", v)) for k, v in e.query]
    return exchanges


def sc_eval_datasets(uid):
    base = mlflow.get_tracking_uri()
    exp = mlflow.create_experiment(f"genai-{uid}")
    ds = gd.create_dataset(name=f"qa-{uid}", experiment_id=exp, tags={"team": "ml", "ü": "✓"})
    # one record per call: distinct created_time, so pages split the same way on both servers
    for rec in ({"inputs": {"question": "2+2", "n": 1}, "expectations": {"answer": "4"}, "tags": {"k": "a"}},
                {"inputs": {"question": "sky"}, "outputs": {"text": "blue"}, "expectations": {"answer": "blue"},
                 "source": {"source_type": "human", "source_data": {"source_id": "u1"}}},
                {"inputs": {"z": None}, "outputs": None}):
        ds.merge_records([rec])
        time.sleep(0.01)
    ds.merge_records([{"inputs": {"n": 1, "question": "2+2"}, "expectations": {"why": "arith"}}])
    gd.get_dataset(dataset_id=ds.dataset_id).to_df()
    gd.get_dataset(name=f"qa-{uid}")
    gd.set_dataset_tags(ds.dataset_id, {"stage": "prod", "n": 3})
    gd.delete_dataset_tag(ds.dataset_id, "team")
    gd.search_datasets(experiment_ids=[exp], filter_string=f"name LIKE 'qa-{uid}%'", order_by=["created_time DESC"])
    gd.search_datasets(experiment_ids=[exp], filter_string="tags.stage = 'prod' AND created_time > 0")
    for f in ("name = ", "foo = 1", "created_time > 5.5", "name NOT IN ('a')"):
        try:
            gd.search_datasets(experiment_ids=[exp], filter_string=f)
        except MlflowException:
            pass
    url = f"{base}{M3}/datasets/{ds.dataset_id}"
    page = requests.get(f"{url}/records", params={"max_results": 2}).json()
    requests.get(f"{url}/records", params={"max_results": 2, "page_token": page["next_page_token"]})
    requests.get(f"{url}/experiment-ids")
    requests.post(f"{url}/add-experiments", json={"experiment_ids": ["0"]})
    requests.post(f"{url}/add-experiments", json={"experiment_ids": ["987654321"]})
    requests.post(f"{url}/remove-experiments", json={"experiment_ids": ["0", "777"]})
    requests.post(f"{base}{M3}/datasets/search", json={"max_results": 0})
    requests.post(f"{base}{M3}/datasets/search", json={"order_by": ["tags.a"]})
    requests.get(f"{base}{M3}/datasets/d-{uid}")
    requests.patch(f"{base}{M3}/datasets/d-{uid}/tags", json={"tags": "{}"})
    recs = json.loads(requests.get(f"{url}/records").json()["records"])
    requests.delete(f"{url}/records", json={"dataset_record_ids": [recs[0]["dataset_record_id"], "dr-x"]})
    requests.get(url)
    gd.delete_dataset(dataset_id=ds.dataset_id)
    requests.delete(url)
    try:
        gd.get_dataset(dataset_id=ds.dataset_id)
    except MlflowException:
        pass


def sc_scorers(uid):
    from mlflow.genai.scorers import Guidelines, delete_scorer, get_scorer, list_scorers
    base = mlflow.get_tracking_uri()
    exp = mlflow.create_experiment(f"scorers-{uid}")
    Guidelines(name="polite", guidelines=["be polite"]).register(experiment_id=exp)
    Guidelines(name="polite", guidelines=["be very polite"]).register(experiment_id=exp)
    Guidelines(name="brief", guidelines=["be brief"]).register(experiment_id=exp)
    list_scorers(experiment_id=exp)
    get_scorer(name="polite", experiment_id=exp)
    get_scorer(name="polite", experiment_id=exp, version=1)
    url = f"{base}{M3}/scorers"
    requests.get(f"{url}/versions", params={"experiment_id": exp, "name": "polite"})
    requests.get(f"{url}/get", params={"experiment_id": exp, "name": "nope"})
    requests.get(f"{url}/get", params={"experiment_id": exp, "name": "polite", "version": 9})
    requests.post(f"{url}/register", json={"experiment_id": exp, "name": " ", "serialized_scorer": "{}"})
    requests.post(f"{url}/register", json={"experiment_id": exp, "name": "c", "serialized_scorer": "nope"})
    requests.put(f"{url}/online-config", json={"experiment_id": exp, "name": "polite", "sample_rate": 0.5})
    requests.put(f"{url}/online-config", json={"experiment_id": exp, "name": "polite", "sample_rate": 2})
    requests.get(f"{url}/online-configs")
    delete_scorer(name="polite", experiment_id=exp, version=1)
    requests.delete(f"{url}/delete", json={"experiment_id": exp, "name": "polite", "version": 1})
    delete_scorer(name="polite", experiment_id=exp, version="all")
    list_scorers(experiment_id=exp)


def _prepare_scorers(exchanges):
    """scorer ids are uuids with dashes; creation times are times"""
    uuid_re = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")

    def walk(v, key=None):
        if isinstance(v, dict):
            return {k: ("<time>" if k == "creation_time" else walk(x, k)) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            return uuid_re.sub("<uuid>", v)
        return v
    for e in exchanges:
        e.request, e.response = walk(e.request), walk(e.response)
        e.query = [(k, uuid_re.sub("<uuid>", v)) for k, v in e.query]
    return exchanges


def test_differential_scorers(server, mlflow_server):
    D.run_and_compare("scorers", sc_scorers, server.url, mlflow_server.url, D.load_allowlist(),
                      prepare=_prepare_scorers)


def test_differential_eval_datasets(server, mlflow_server):
    D.run_and_compare("eval_datasets", sc_eval_datasets, server.url, mlflow_server.url, D.load_allowlist(),
                      prepare=_prepare)


# ------------------------------------------------------- evaluate, both servers
def _evaluate_outcome(uri):
    """Runs one mlflow.genai.evaluate over a dataset against `uri` and returns
    what a user sees afterwards, without the ids and times that differ between
    runs: the metrics, the run, its dataset input, and per question the trace's
    spans and assessments (name, value, source type)."""
    reset_mlflow_state(uri)
    exp_id = mlflow.create_experiment(unique("genai-diff"))
    mlflow.set_experiment(experiment_id=exp_id)
    ds = gd.create_dataset(name=unique("eval-diff"), experiment_id=exp_id)
    res = _evaluate_three_questions(ds)
    run = mlflow.get_run(res.run_id)
    traces = mlflow.search_traces(run_id=res.run_id, return_type="list")
    per_question = {}
    for t in traces:
        per_question[t.data.spans[0].inputs["question"]] = {
            "state": str(t.info.state),
            "spans": sorted(s.name for s in t.data.spans),
            "assessments": sorted((a.name, repr(a.value), a.source.source_type) for a in t.info.assessments),
        }
    return {
        "metrics": {k: round(v, 9) for k, v in res.metrics.items()},
        "run_metrics": {k: round(v, 9) for k, v in run.data.metrics.items()},
        "status": run.info.status,
        "run_tag_keys": sorted(run.data.tags),
        "dataset_inputs": [(i.dataset.name == ds.name, i.dataset.source_type) for i in run.inputs.dataset_inputs],
        "records": len(gd.get_dataset(dataset_id=ds.dataset_id).to_df()),
        "traces": per_question,
    }


def test_differential_evaluate(server, mlflow_server):
    """mlflow.genai.evaluate run the same way against Cairn and MLflow's server
    leaves the same outcome (its requests carry random ids and run on worker
    threads, so the outcome is compared, not the exchange order)."""
    try:
        cairn = _evaluate_outcome(server.url)
        ref = _evaluate_outcome(mlflow_server.url)
    finally:
        reset_mlflow_state(server.url)
    assert len(ref["traces"]) == 3 and ref["metrics"]
    diff = {k: (cairn[k], ref[k]) for k in ref if cairn.get(k) != ref[k]}
    assert not diff, f"evaluate differs from MLflow's server: {diff}"
