"""MLflow 3 labelling through the real client (issue 21): label schemas
(mlflow.genai.label_schemas), review queues and their items
(mlflow.genai.review_queues), issues (the tracing client and the REST store),
the raw REST routes with hostile input, a fuzz of every route, and a
differential scenario against MLflow's own server.

Runs against Cairn (default) or MLflow's server (CAIRN_TARGET=mlflow);
cairn_only tests check documented choices (compat/DIFFERENCES.md)."""
import json
import os
import random
import re
import time

import pytest
import requests

import mlflow
from conftest import unique

if int(mlflow.__version__.split(".")[0]) < 3:
    pytest.skip("labelling needs the mlflow 3.x client", allow_module_level=True)

from mlflow.exceptions import MlflowException
from mlflow.genai import label_schemas as ls
from mlflow.genai import review_queues as rq
from mlflow.genai.label_schemas import InputCategorical, InputNumeric, InputPassFail, InputText

import differential as D

pytestmark = pytest.mark.mlflow3
os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
M3 = "/api/3.0/mlflow"


@pytest.fixture
def exp(tracking_uri):
    exp_id = mlflow.create_experiment(unique("label"))
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def _store():
    from mlflow.tracking._tracking_service.utils import _get_store
    return _get_store()


def _traces(n):
    @mlflow.trace
    def answer(q):
        return q.upper()

    ids = []
    for i in range(n):
        answer(f"q{i}")
        ids.append(mlflow.get_last_active_trace_id())
    return ids


def _err(r, status, code):
    assert r.status_code == status, r.text
    assert r.json()["error_code"] == code, r.text


def _raises(code, fn, *a, **kw):
    with pytest.raises(MlflowException) as e:
        fn(*a, **kw)
    assert e.value.error_code == code, str(e.value)
    return str(e.value)


# ------------------------------------------------------------------ label schemas
def test_label_schemas(exp):
    pf = ls.create_label_schema("Correct?", type="feedback", input=InputPassFail("Yes", "No"),
                                instruction="Is it right?", enable_comment=True, experiment_id=exp)
    assert pf.schema_id.startswith("ls-") and pf.experiment_id == exp and pf.enable_comment
    assert pf.input == InputPassFail("Yes", "No") and pf.instruction == "Is it right?" and not pf.is_default
    cat = ls.create_label_schema("Tone", type="expectation", input=InputCategorical(["calm", "rude"], True),
                                 experiment_id=exp)
    num = ls.create_label_schema("Score", type="feedback", input=InputNumeric(0, 10), experiment_id=exp)
    txt = ls.create_label_schema("Notes é", type="feedback", input=InputText(max_length=200), experiment_id=exp)
    assert cat.input.multi_select and cat.input.options == ["calm", "rude"]
    assert num.input == InputNumeric(0.0, 10.0) and txt.input == InputText(200)
    assert ls.get_label_schema(schema_id=num.schema_id).name == "Score"
    assert ls.get_label_schema("Tone", experiment_id=exp).schema_id == cat.schema_id
    # list seeds the protected default question
    every = ls.list_label_schemas(experiment_id=exp)
    names = [s.name for s in every]
    assert sorted(names) == sorted(["Correct?", "Tone", "Score", "Notes é", "Feedback"])
    default = [s for s in every if s.is_default][0]
    assert default.name == "Feedback" and default.input == InputText() and default.type == "feedback"
    assert len(ls.list_label_schemas(experiment_id=exp)) == 5   # seeded once
    page = ls.list_label_schemas(experiment_id=exp, max_results=2)
    assert len(page) == 2 and page.token
    rest = ls.list_label_schemas(experiment_id=exp, max_results=10, page_token=page.token)
    assert [s.name for s in page] + [s.name for s in rest] == names
    # sparse update; variant and multi_select are fixed
    up = ls.update_label_schema(cat.schema_id, name="Tone of voice", input=InputCategorical(["calm", "rude", "ok"],
                                                                                             True))
    assert up.name == "Tone of voice" and up.input.options == ["calm", "rude", "ok"] and up.updated_at >= up.created_at
    assert up.instruction is None and up.type == "expectation"
    _raises("INVALID_PARAMETER_VALUE", ls.update_label_schema, cat.schema_id, input=InputText())
    _raises("INVALID_PARAMETER_VALUE", ls.update_label_schema, cat.schema_id, input=InputCategorical(["a"]))
    _raises("RESOURCE_ALREADY_EXISTS", ls.update_label_schema, cat.schema_id, name="Score")
    _raises("INVALID_PARAMETER_VALUE", ls.update_label_schema, default.schema_id, name="x")
    _raises("INVALID_PARAMETER_VALUE", ls.delete_label_schema, schema_id=default.schema_id)
    # creates: duplicates, reserved name, bad inputs, unknown experiment
    _raises("RESOURCE_ALREADY_EXISTS", ls.create_label_schema, "Score", type="feedback", input=InputText(),
            experiment_id=exp)
    _raises("INVALID_PARAMETER_VALUE", ls.create_label_schema, " feedback ", type="feedback", input=InputText(),
            experiment_id=exp)
    for bad in (InputPassFail("a", "a"), InputPassFail("", "b"), InputCategorical([]),
                InputCategorical(["a", "a"]), InputCategorical([str(i) for i in range(11)]),
                InputNumeric(5, 1), InputText(max_length=0)):
        _raises("INVALID_PARAMETER_VALUE", ls.create_label_schema, unique("b"), type="feedback", input=bad,
                experiment_id=exp)
    _raises("INVALID_PARAMETER_VALUE", ls.create_label_schema, "x" * 251, type="feedback", input=InputText(),
            experiment_id=exp)
    _raises("RESOURCE_DOES_NOT_EXIST", ls.create_label_schema, "n", type="feedback", input=InputText(),
            experiment_id="987654321")
    _raises("RESOURCE_DOES_NOT_EXIST", ls.get_label_schema, schema_id="ls-nope")
    _raises("RESOURCE_DOES_NOT_EXIST", ls.get_label_schema, "nope", experiment_id=exp)
    # delete is idempotent
    ls.delete_label_schema(schema_id=txt.schema_id)
    ls.delete_label_schema(schema_id=txt.schema_id)
    assert len(ls.list_label_schemas(experiment_id=exp)) == 4


# ------------------------------------------------------------------ review queues
def test_review_queues(exp):
    traces = _traces(3)
    q1 = ls.create_label_schema("Helpful", type="feedback", input=InputPassFail("yes", "no"), experiment_id=exp)
    q = rq.create_review_queue(" Sprint 1 ", queue_type="custom", users=["Bob", "alice", "bob "],
                               schema_ids=[q1.schema_id], experiment_id=exp)
    assert q.queue_id.startswith("rq-") and q.name == "Sprint 1" and q.queue_type == "custom"
    assert q.users == ["alice", "bob"] and q.schema_ids == [q1.schema_id] and q.created_by is None
    assert rq.get_review_queue(q.queue_id) == q
    assert rq.get_review_queue(name="SPRINT 1", experiment_id=exp).queue_id == q.queue_id
    # a user's own queue: made once
    u = rq.get_or_create_user_queue(" Carol ", experiment_id=exp)
    assert u.queue_type == "user" and u.name == "carol" and u.users == ["carol"] and u.created_by == "carol"
    assert rq.get_or_create_user_queue("carol", experiment_id=exp).queue_id == u.queue_id
    assert [x.queue_id for x in rq.list_review_queues(experiment_id=exp)] == [u.queue_id, q.queue_id]
    assert [x.queue_id for x in rq.list_review_queues(experiment_id=exp, user="ALICE")] == [q.queue_id]
    page = rq.list_review_queues(experiment_id=exp, max_results=1)
    assert len(page) == 1 and page.token
    # names are unique case-insensitively; "default" is reserved; a user queue takes no schemas
    _raises("RESOURCE_ALREADY_EXISTS", rq.create_review_queue, "sprint 1", queue_type="custom", experiment_id=exp)
    _raises("INVALID_PARAMETER_VALUE", rq.create_review_queue, "Default", queue_type="custom", experiment_id=exp)
    _raises("INVALID_PARAMETER_VALUE", rq.create_review_queue, "dave", queue_type="user", users=["erin"],
            experiment_id=exp)
    _raises("INVALID_PARAMETER_VALUE", rq.create_review_queue, "q", queue_type="custom",
            users=[f"u{i}" for i in range(11)], experiment_id=exp)
    _raises("INVALID_PARAMETER_VALUE", rq.create_review_queue, "q", queue_type="custom", schema_ids=["ls-nope"],
            experiment_id=exp)
    _raises("INVALID_PARAMETER_VALUE", rq.update_review_queue, u.queue_id, name="x")
    # items
    items = rq.add_items_to_review_queue(q.queue_id, item_ids=[traces[0], f" {traces[1]} ", traces[0]])
    assert [i.item_id for i in items] == traces[:2] and {i.status for i in items} == {"pending"}
    assert items[0].item_type == "trace" and items[0].completed_by is None
    _raises("RESOURCE_DOES_NOT_EXIST", rq.add_items_to_review_queue, q.queue_id, item_ids=["tr-nope"])
    done = rq.set_review_queue_item_status(q.queue_id, item_id=traces[0], status="complete", completed_by="Alice")
    assert done.status == "complete" and done.completed_by == "alice" and done.completed_time_ms >= done.creation_time_ms
    again = rq.set_review_queue_item_status(q.queue_id, item_id=traces[0], status="complete", completed_by="bob")
    assert again.completed_by == "alice"   # the same status: attribution kept
    _raises("INVALID_PARAMETER_VALUE", rq.set_review_queue_item_status, q.queue_id, item_id=traces[1],
            status="declined")
    _raises("INVALID_PARAMETER_VALUE", rq.set_review_queue_item_status, q.queue_id, item_id=traces[1],
            status="pending", completed_by="bob")
    _raises("RESOURCE_DOES_NOT_EXIST", rq.set_review_queue_item_status, q.queue_id, item_id=traces[2],
            status="complete", completed_by="bob")
    assert [i.item_id for i in rq.list_review_queue_items(q.queue_id, status="complete")] == [traces[0]]
    assert {i.item_id for i in rq.list_review_queue_items(q.queue_id)} == set(traces[:2])
    reopened = rq.set_review_queue_item_status(q.queue_id, item_id=traces[0], status="pending")
    assert reopened.completed_by is None and reopened.completed_time_ms is None
    # re-adding keeps the status; questions are locked while items are attached
    rq.set_review_queue_item_status(q.queue_id, item_id=traces[1], status="declined", completed_by="bob")
    assert rq.add_items_to_review_queue(q.queue_id, item_ids=[traces[1]])[0].status == "declined"
    assert [x.queue_id for x in rq.list_review_queues(experiment_id=exp)] == [u.queue_id, q.queue_id]
    _raises("INVALID_PARAMETER_VALUE", rq.update_review_queue, q.queue_id, schema_ids=[])
    renamed = rq.update_review_queue(q.queue_id, name="Sprint 2", users=["zed"], new_owner="Boss")
    assert renamed.name == "Sprint 2" and renamed.users == ["zed"] and renamed.created_by == "Boss"
    assert renamed.last_update_time_ms >= q.last_update_time_ms
    rq.remove_items_from_review_queue(q.queue_id, item_ids=[traces[1]])
    assert [i.item_id for i in rq.list_review_queue_items(q.queue_id)] == [traces[0]]
    # deleting the trace drops its items; deleting the queue is idempotent
    mlflow.MlflowClient().delete_traces(experiment_id=exp, trace_ids=[traces[0]])
    assert list(rq.list_review_queue_items(q.queue_id)) == []
    rq.delete_review_queue(q.queue_id)
    rq.delete_review_queue(q.queue_id)
    _raises("RESOURCE_DOES_NOT_EXIST", rq.get_review_queue, q.queue_id)


def test_review_queue_item_filter(exp, base_url):
    traces = _traces(2)
    a = rq.create_review_queue("A", queue_type="custom", experiment_id=exp)
    b = rq.create_review_queue("B", queue_type="custom", experiment_id=exp)
    rq.add_items_to_review_queue(a.queue_id, item_ids=traces)
    rq.add_items_to_review_queue(b.queue_id, item_ids=[traces[1]])
    r = requests.get(f"{base_url}{M3}/review-queues/list", params={"experiment_id": exp, "item_id": traces[0]})
    assert [x["queue_id"] for x in r.json()["review_queues"]] == [a.queue_id]
    r = requests.get(f"{base_url}{M3}/review-queues/items/list", params={"queue_id": a.queue_id, "max_results": 1})
    body = r.json()
    assert len(body["items"]) == 1 and body["next_page_token"]
    # a trace of another experiment cannot be attached
    other = mlflow.create_experiment(unique("other"))
    mlflow.set_experiment(experiment_id=other)
    foreign = _traces(1)[0]
    _err(requests.post(f"{base_url}{M3}/review-queues/items/add", json={"queue_id": a.queue_id,
                                                                        "item_ids": [foreign]}),
         404, "RESOURCE_DOES_NOT_EXIST")


# ------------------------------------------------------------------ issues
def test_issues(exp):
    from mlflow.entities.issue import IssueSeverity, IssueStatus
    from mlflow.tracing.client import TracingClient
    tc = TracingClient()
    run = mlflow.MlflowClient().create_run(exp)
    low = tc._create_issue(experiment_id=exp, name="Slow", description="too slow",
                           severity=IssueSeverity.LOW, root_causes=["cold cache"], categories=["latency"])
    high = tc._create_issue(experiment_id=exp, name="Wrong", description="wrong answers é",
                            severity=IssueSeverity.HIGH, source_run_id=run.info.run_id, created_by="judge")
    plain = tc._create_issue(experiment_id=exp, name="Odd", description="odd")
    assert low.issue_id.startswith("iss-") and low.status == IssueStatus.PENDING
    assert low.root_causes == ["cold cache"] and low.categories == ["latency"] and low.severity == IssueSeverity.LOW
    got = tc._get_issue(high.issue_id)
    assert got.source_run_id == run.info.run_id and got.created_by == "judge" and got.description == "wrong answers é"
    store = _store()
    upd = store.update_issue(low.issue_id, status=IssueStatus.RESOLVED, name="Slow!")
    assert upd.status == IssueStatus.RESOLVED and upd.name == "Slow!" and upd.description == "too slow"
    assert upd.last_updated_timestamp >= upd.created_timestamp
    # severity first, then newest
    assert [i.issue_id for i in store.search_issues(experiment_id=exp)] == [high.issue_id, low.issue_id,
                                                                             plain.issue_id]
    assert [i.issue_id for i in store.search_issues(experiment_id=exp, filter_string="status = 'resolved'")] == \
        [low.issue_id]
    assert [i.issue_id for i in store.search_issues(
        experiment_id=exp, filter_string=f"status != 'resolved' AND source_run_id = '{run.info.run_id}'")] == \
        [high.issue_id]
    page = store.search_issues(experiment_id=exp, max_results=2)
    assert len(page) == 2 and page.token
    rest = store.search_issues(experiment_id=exp, max_results=2, page_token=page.token)
    assert [i.issue_id for i in rest] == [plain.issue_id] and rest.token is None
    counted = store.search_issues(experiment_id=exp, include_trace_count=True)
    assert [i.trace_count for i in counted] == [0, 0, 0]
    for f in ("name = 'x'", "status > 'a'", "status = 'a' OR status = 'b'"):
        _raises("INVALID_PARAMETER_VALUE", store.search_issues, experiment_id=exp, filter_string=f)
    _raises("RESOURCE_DOES_NOT_EXIST", tc._get_issue, "iss-nope")
    _raises("RESOURCE_DOES_NOT_EXIST", store.update_issue, "iss-nope", name="x")
    _raises("RESOURCE_DOES_NOT_EXIST", tc._create_issue, experiment_id="987654321", name="n", description="d")


# ------------------------------------------------------------------ raw REST, bad input
def test_bad_input(exp, base_url):
    u = f"{base_url}{M3}"
    _err(requests.post(f"{u}/label-schemas/create", json={"experiment_id": exp, "name": "n", "input": {"text": {}}}),
         400, "INVALID_PARAMETER_VALUE")   # no type
    _err(requests.post(f"{u}/label-schemas/create", json={"experiment_id": exp, "name": "n", "type": "FEEDBACK"}),
         400, "INVALID_PARAMETER_VALUE")   # no input
    _err(requests.post(f"{u}/label-schemas/create", json={"experiment_id": exp, "name": "n", "type": "FEEDBACK",
                                                          "input": {"text": {}}, "instruction": "i" * 1001}),
         400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(f"{u}/label-schemas/create", json={"experiment_id": "x", "name": "n", "type": 1,
                                                          "input": {"text": {}}}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.get(f"{u}/label-schemas/list", params={"experiment_id": exp, "max_results": 0}), 400,
         "INVALID_PARAMETER_VALUE")
    _err(requests.get(f"{u}/label-schemas/list", params={"experiment_id": exp, "max_results": 50001}), 400,
         "INVALID_PARAMETER_VALUE")
    _err(requests.get(f"{u}/label-schemas/list", params={"experiment_id": exp, "page_token": "zz"}), 400,
         "INVALID_PARAMETER_VALUE")
    _err(requests.get(f"{u}/label-schemas/get", params={}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(f"{u}/review-queues/create", json={"experiment_id": exp, "name": "q"}), 400,
         "INVALID_PARAMETER_VALUE")   # no queue_type
    _err(requests.post(f"{u}/review-queues/create", json={"experiment_id": exp, "name": "q", "queue_type": "CUSTOM",
                                                          "users": ["  "]}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(f"{u}/review-queues/create", json={"experiment_id": exp, "name": "q" * 251,
                                                          "queue_type": "CUSTOM"}), 400, "INVALID_PARAMETER_VALUE")
    q = requests.post(f"{u}/review-queues/create", json={"experiment_id": exp, "name": "q",
                                                         "queue_type": "CUSTOM"}).json()["review_queue"]
    _err(requests.post(f"{u}/review-queues/items/add", json={"queue_id": q["queue_id"], "item_ids": []}), 400,
         "INVALID_PARAMETER_VALUE")
    _err(requests.post(f"{u}/review-queues/items/add", json={"queue_id": q["queue_id"], "item_ids": ["x" * 51]}),
         400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(f"{u}/review-queues/items/add", json={"queue_id": "rq-nope", "item_ids": ["t"]}), 404,
         "RESOURCE_DOES_NOT_EXIST")
    _err(requests.post(f"{u}/review-queues/items/set-status", json={"queue_id": q["queue_id"], "item_id": "t"}), 400,
         "INVALID_PARAMETER_VALUE")   # no status
    _err(requests.get(f"{u}/review-queues/items/list", params={"queue_id": q["queue_id"], "status": "NOPE"}), 400,
         "INVALID_PARAMETER_VALUE")
    _err(requests.get(f"{u}/review-queues/list", params={"experiment_id": "987654321"}), 404,
         "RESOURCE_DOES_NOT_EXIST")
    assert requests.post(f"{u}/review-queues/delete", json={"queue_id": "rq-nope"}).json() == {}
    assert requests.delete(f"{u}/label-schemas/delete", json={"schema_id": "ls-nope"}).json() == {}
    _err(requests.post(f"{u}/issues", json={"experiment_id": exp, "name": "n"}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.get(f"{u}/issues/iss-nope"), 404, "RESOURCE_DOES_NOT_EXIST")
    _err(requests.post(f"{u}/issues/search", json={"max_results": 0}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(f"{u}/issues/search", json={"filter_string": "status = "}), 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.cairn_only
def test_where_mlflow_fails_with_500(exp, base_url):
    """MLflow lets these out as 500s (DIFFERENCES.md); Cairn says what is wrong."""
    u = f"{base_url}{M3}"
    _err(requests.post(f"{u}/issues", json={"experiment_id": exp, "name": "n", "description": "d",
                                            "status": "bogus"}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(f"{u}/issues", json={"experiment_id": exp, "name": "n", "description": "d",
                                            "severity": "dire"}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(f"{u}/issues", json={"experiment_id": exp, "name": "n", "description": "d",
                                            "source_run_id": "0" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")
    # nothing half-written
    assert "issues" not in requests.post(f"{u}/issues/search", json={"experiment_id": exp}).json()


@pytest.mark.cairn_only
def test_issue_detection_invoke_without_backend(exp, base_url):
    url = f"{base_url}/ajax-api/3.0/mlflow/issues/invoke"
    body = {"experiment_id": exp, "trace_ids": ["tr-1"], "categories": ["x"], "provider": "openai", "model": "m"}
    _err(requests.post(url, json=body), 501, "NOT_IMPLEMENTED")
    _err(requests.post(url, json={**body, "trace_ids": []}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(url, json={**body, "trace_ids": [1]}), 400, "INVALID_PARAMETER_VALUE")
    _err(requests.post(url, json={k: v for k, v in body.items() if k != "provider"}), 400, "INVALID_PARAMETER_VALUE")
    assert requests.post(f"{base_url}{M3}/issues/invoke", json=body).status_code == 404


ROUTES = [
    ("POST", "/issues"), ("POST", "/issues/search"), ("GET", "/issues/{id}"), ("PATCH", "/issues/{id}"),
    ("POST", "/label-schemas/create"), ("GET", "/label-schemas/get"), ("GET", "/label-schemas/get-by-name"),
    ("GET", "/label-schemas/list"), ("PATCH", "/label-schemas/update"), ("DELETE", "/label-schemas/delete"),
    ("POST", "/review-queues/create"), ("POST", "/review-queues/get-or-create-user"), ("GET", "/review-queues/get"),
    ("GET", "/review-queues/get-by-name"), ("GET", "/review-queues/list"), ("POST", "/review-queues/update"),
    ("POST", "/review-queues/delete"), ("POST", "/review-queues/items/add"), ("POST", "/review-queues/items/remove"),
    ("GET", "/review-queues/items/list"), ("POST", "/review-queues/items/set-status"),
]
FIELDS = ["experiment_id", "name", "description", "status", "severity", "root_causes", "categories",
          "source_run_id", "filter_string", "max_results", "page_token", "include_trace_count", "type", "input",
          "instruction", "enable_comment", "schema_id", "queue_id", "queue_type", "users", "schema_ids", "user",
          "item_id", "item_ids", "item_type", "completed_by", "update_users", "update_schema_ids", "new_owner"]


def _fuzz_value(rnd, ids, depth=0):
    kind = rnd.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return rnd.choice(["", " ", "x", "'", "status = ", "status = 'pending'", "\u0000", "é", "9" * 30, "FEEDBACK",
                           "CUSTOM", "USER", "COMPLETE", "default", "Feedback", "-1", "null"] + ids)
    if kind == 1:
        return rnd.choice([0, -1, 1, 2, 3, 2 ** 63, 1.5, 1e308])
    if kind == 2:
        return rnd.choice([True, False, None])
    if kind == 3:
        return {rnd.choice(["text", "numeric", "pass_fail", "categorical", "x"]): _fuzz_value(rnd, ids, depth + 1)}
    if kind == 4:
        return {rnd.choice(["max_length", "min_value", "max_value", "options", "multi_select", "positive_label"]):
                _fuzz_value(rnd, ids, depth + 1)}
    if kind == 5:
        return "".join(chr(rnd.randrange(1, 0x3000)) for _ in range(rnd.randrange(12)))
    if kind == 6:
        return [_fuzz_value(rnd, ids, depth + 1) for _ in range(rnd.randrange(4))]
    if kind == 7:
        return {rnd.choice(FIELDS): _fuzz_value(rnd, ids, depth + 1) for _ in range(rnd.randrange(3))}
    return rnd.choice(FIELDS)


@pytest.mark.cairn_only
def test_fuzz_routes(exp, base_url):
    """Random bodies and query strings on every labelling route: never a 5xx,
    always a JSON reply, and the server stays up (checked after the test)."""
    rnd = random.Random(2121)
    trace = _traces(1)[0]
    schema = ls.create_label_schema("Fuzz", type="feedback", input=InputText(), experiment_id=exp)
    queue = rq.create_review_queue("Fuzz", queue_type="custom", users=["x"], experiment_id=exp)
    issue = requests.post(f"{base_url}{M3}/issues", json={"experiment_id": exp, "name": "n", "description": "d"}
                          ).json()["issue"]
    ids = [exp, trace, schema.schema_id, queue.queue_id, issue["issue_id"]]
    for i in range(420):
        method, path = ROUTES[i % len(ROUTES)]
        path = path.replace("{id}", issue["issue_id"] if rnd.random() < 0.7 else rnd.choice(["iss-x", "%00", "é"]))
        body = {f: _fuzz_value(rnd, ids) for f in rnd.sample(FIELDS, rnd.randrange(5))}
        if rnd.random() < 0.6:
            body.update(experiment_id=exp, queue_id=queue.queue_id, schema_id=schema.schema_id)
        url = f"{base_url}{M3}{path}"
        if method == "GET":
            params = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in body.items()}
            r = requests.get(url, params=params)
        else:
            r = requests.request(method, url, json=body)
        assert r.status_code < 500, (method, path, body, r.status_code, r.text[:300])
        assert r.headers["Content-Type"].startswith("application/json"), r.headers
    assert requests.get(f"{base_url}{M3}/label-schemas/list", params={"experiment_id": exp}).status_code == 200


# ------------------------------------------------------------------ differential
ID_RE = re.compile(r"\b(ls|rq|iss)-[0-9a-f]{32}\b")
TIME_KEYS = {"created_at", "last_updated_at", "creation_time_ms", "last_update_time_ms", "completed_time_ms",
             "created_timestamp", "last_updated_timestamp"}


def _prepare(exchanges):
    def walk(v, key=None):
        if isinstance(v, dict):
            return {k: ("<time>" if k in TIME_KEYS and isinstance(x, int) else walk(x, k)) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            return ID_RE.sub(lambda m: f"{m.group(1)}-<id>", v)
        return v
    exchanges = [e for e in exchanges if e.path != "/version"]   # the client asks once per process and server
    for e in exchanges:
        e.request, e.response = walk(e.request), walk(e.response)
        e.query = [(k, ID_RE.sub(lambda m: f"{m.group(1)}-<id>", v)) for k, v in e.query]
    return exchanges


def _try(fn, *a, **kw):
    try:
        return fn(*a, **kw)
    except MlflowException:
        return None


def sc_labeling(uid):
    base = mlflow.get_tracking_uri()
    u = f"{base}{M3}"
    exp = mlflow.create_experiment(f"label-{uid}")
    mlflow.set_experiment(experiment_id=exp)

    @mlflow.trace
    def answer(q):
        return q

    answer("a")
    trace = mlflow.get_last_active_trace_id()
    time.sleep(0.01)
    pf = ls.create_label_schema("Correct", type="feedback", input=InputPassFail("Yes", "No"), instruction="i",
                                experiment_id=exp)
    time.sleep(0.01)
    ls.create_label_schema("Tone", type="expectation", input=InputCategorical(["a", "b"]), experiment_id=exp)
    time.sleep(0.01)
    ls.create_label_schema("Score", type="feedback", input=InputNumeric(0.5, 10), enable_comment=True,
                           experiment_id=exp)
    ls.get_label_schema(schema_id=pf.schema_id)
    ls.get_label_schema("Tone", experiment_id=exp)
    requests.get(f"{u}/label-schemas/list", params={"experiment_id": exp, "max_results": 2})
    ls.update_label_schema(pf.schema_id, instruction="better", input=InputPassFail("Right", "Wrong"))
    for bad in (InputPassFail("a", "a"), InputCategorical([]), InputNumeric(3, 1), InputText(max_length=0)):
        _try(ls.create_label_schema, f"bad-{uid}", type="feedback", input=bad, experiment_id=exp)
    _try(ls.create_label_schema, "Correct", type="feedback", input=InputText(), experiment_id=exp)
    _try(ls.create_label_schema, "feedback", type="feedback", input=InputText(), experiment_id=exp)
    _try(ls.update_label_schema, pf.schema_id, input=InputText())
    requests.post(f"{u}/label-schemas/create", json={"experiment_id": exp, "name": "n", "type": "FEEDBACK"})
    requests.post(f"{u}/label-schemas/create", json={"experiment_id": exp, "name": "n", "input": {"text": {}}})
    requests.get(f"{u}/label-schemas/get", params={"schema_id": "ls-nope"})
    requests.get(f"{u}/label-schemas/list", params={"experiment_id": exp, "max_results": 0})
    q = rq.create_review_queue("Sprint", queue_type="custom", users=["Bob", "alice"], schema_ids=[pf.schema_id],
                               experiment_id=exp)
    rq.get_or_create_user_queue("Carol", experiment_id=exp)
    rq.get_or_create_user_queue("carol", experiment_id=exp)
    rq.get_review_queue(q.queue_id)
    rq.get_review_queue(name="sprint", experiment_id=exp)
    rq.list_review_queues(experiment_id=exp)
    rq.list_review_queues(experiment_id=exp, user="bob")
    _try(rq.create_review_queue, "SPRINT", queue_type="custom", experiment_id=exp)
    _try(rq.create_review_queue, "default", queue_type="custom", experiment_id=exp)
    _try(rq.create_review_queue, "x", queue_type="custom", schema_ids=["ls-nope"], experiment_id=exp)
    rq.add_items_to_review_queue(q.queue_id, item_ids=[trace, trace])
    _try(rq.add_items_to_review_queue, q.queue_id, item_ids=["tr-nope"])
    rq.set_review_queue_item_status(q.queue_id, item_id=trace, status="complete", completed_by="Bob")
    _try(rq.set_review_queue_item_status, q.queue_id, item_id=trace, status="declined")
    rq.list_review_queue_items(q.queue_id)
    rq.list_review_queue_items(q.queue_id, status="pending")
    _try(rq.update_review_queue, q.queue_id, schema_ids=[])
    rq.update_review_queue(q.queue_id, name="Sprint 2", users=["zed"])
    rq.set_review_queue_item_status(q.queue_id, item_id=trace, status="pending")
    rq.remove_items_from_review_queue(q.queue_id, item_ids=[trace])
    requests.post(f"{u}/review-queues/create", json={"experiment_id": exp, "name": "q"})
    requests.post(f"{u}/review-queues/items/add", json={"queue_id": q.queue_id, "item_ids": []})
    requests.get(f"{u}/review-queues/get", params={"queue_id": "rq-nope"})
    rq.delete_review_queue(q.queue_id)
    rq.delete_review_queue(q.queue_id)
    r = requests.post(f"{u}/issues", json={"experiment_id": exp, "name": "Slow", "description": "d",
                                           "severity": "low", "root_causes": ["x"], "categories": ["c"]})
    iid = r.json()["issue"]["issue_id"]
    requests.post(f"{u}/issues", json={"experiment_id": exp, "name": "Bad", "description": "d2", "severity": "high"})
    requests.get(f"{u}/issues/{iid}")
    requests.patch(f"{u}/issues/{iid}", json={"status": "resolved", "name": "Slow!"})
    requests.post(f"{u}/issues/search", json={"experiment_id": exp})
    requests.post(f"{u}/issues/search", json={"experiment_id": exp, "filter_string": "status = 'resolved'",
                                              "include_trace_count": True})
    requests.post(f"{u}/issues/search", json={"experiment_id": exp, "max_results": 1})
    requests.get(f"{u}/issues/iss-nope")
    requests.post(f"{u}/issues", json={"experiment_id": exp, "name": "n"})


def test_differential_labeling(server, mlflow_server):
    D.run_and_compare("labeling", sc_labeling, server.url, mlflow_server.url, D.load_allowlist(), prepare=_prepare)
