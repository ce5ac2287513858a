"""MLflow 3 tracing through the real client: @mlflow.trace, mlflow.start_span,
error spans, trace tags, traces inside runs, search_traces (filters, order,
pages, pandas and list), get_trace, feedback and expectations, delete, and
the raw REST routes with hostile input. Spans reach the server over OTLP
(/v1/traces) because /version reports the pinned client's version."""
import json
import os
import time
import uuid

import pytest
import requests

import mlflow
from conftest import TARGET, unique

if int(mlflow.__version__.split(".")[0]) < 3:
    pytest.skip("tracing needs the mlflow 3.x client", allow_module_level=True)

from mlflow import MlflowClient
from mlflow.entities import AssessmentSource, AssessmentSourceType, Feedback
from mlflow.exceptions import MlflowException

pytestmark = pytest.mark.mlflow3
os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"   # each trace is on the server when the call returns
M3 = "/api/3.0/mlflow"


@pytest.fixture
def exp(tracking_uri):
    name = unique("traces")
    exp_id = mlflow.create_experiment(name)
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


@mlflow.trace(span_type="LLM")
def _inner(x):
    return {"doubled": x * 2, "items": [1, 2.5, "three", None, True]}


@mlflow.trace(name="outer_fn")
def _outer(x):
    with mlflow.start_span(name="manual", span_type="TOOL") as s:
        s.set_inputs({"q": "hello", "nested": {"a": [1, 2]}})
        s.set_attribute("custom.num", 42)
        s.set_outputs("done")
    return _inner(x)


def _last_trace():
    tid = mlflow.get_last_active_trace_id()
    assert tid
    return mlflow.get_trace(tid)


def test_decorated_and_nested_spans(exp):
    assert _outer(3)["doubled"] == 6
    t = _last_trace()
    assert t.info.state.value == "OK"
    assert t.info.experiment_id == exp
    assert t.info.tags["mlflow.traceName"] == "outer_fn"
    assert t.info.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    spans = {s.name: s for s in t.data.spans}
    assert set(spans) == {"outer_fn", "manual", "_inner"}
    root = spans["outer_fn"]
    assert root.parent_id is None and t.data.spans[0].name == "outer_fn"   # root first
    assert spans["manual"].parent_id == root.span_id == spans["_inner"].parent_id
    assert spans["_inner"].span_type == "LLM" and spans["manual"].span_type == "TOOL"
    assert spans["manual"].inputs == {"q": "hello", "nested": {"a": [1, 2]}}
    assert spans["manual"].get_attribute("custom.num") == 42
    assert spans["_inner"].outputs == {"doubled": 6, "items": [1, 2.5, "three", None, True]}
    assert root.inputs == {"x": 3}
    assert root.start_time_ns <= spans["manual"].start_time_ns <= spans["manual"].end_time_ns <= root.end_time_ns
    assert t.info.request_preview == '{"x": 3}'
    assert t.info.execution_duration >= 0
    for f in ("span.attributes.custom.num = '42'", "span.type = 'TOOL'", "span.name IN ('manual', 'x')",
              "text LIKE '%hello%'"):
        found = mlflow.search_traces(locations=[exp], filter_string=f, return_type="list")
        assert [x.info.trace_id for x in found] == [t.info.trace_id], f


def test_error_span_and_trace_tags(exp):
    @mlflow.trace
    def boom():
        mlflow.update_current_trace(tags={"team": "search", "stage": "dev"})
        raise ValueError("no good")

    with pytest.raises(ValueError):
        boom()
    t = _last_trace()
    assert t.info.state.value == "ERROR"
    assert t.info.tags["team"] == "search" and t.info.tags["stage"] == "dev"
    span = t.data.spans[0]
    assert span.status.status_code.value == "ERROR"
    assert "no good" in (span.status.description or "")
    ev = [e for e in span.events if e.name == "exception"]
    assert ev and ev[0].attributes["exception.type"] == "ValueError"


def test_trace_in_run_is_linked(exp):
    with mlflow.start_run() as run:
        _inner(1)
    tid = mlflow.get_last_active_trace_id()
    assert mlflow.get_trace(tid).info.trace_metadata["mlflow.sourceRun"] == run.info.run_id
    found = mlflow.search_traces(locations=[exp], run_id=run.info.run_id, return_type="list")
    assert [t.info.trace_id for t in found] == [tid]
    # link another trace to the run explicitly
    _inner(2)
    other = mlflow.get_last_active_trace_id()
    MlflowClient().link_traces_to_run([other], run.info.run_id) if hasattr(
        MlflowClient, "link_traces_to_run") else requests.post(
        mlflow.get_tracking_uri() + "/api/2.0/mlflow/traces/link-to-run",
        json={"trace_ids": [other], "run_id": run.info.run_id}).raise_for_status()
    found = mlflow.search_traces(locations=[exp], run_id=run.info.run_id, return_type="list")
    assert {t.info.trace_id for t in found} == {tid, other}


def test_search_filters_order_and_pages(exp):
    ids = []
    for i in range(5):
        @mlflow.trace(name=f"step_{i}")
        def f(v):
            mlflow.update_current_trace(tags={"parity": "even" if v % 2 == 0 else "odd"})
            return v
        f(i)
        ids.append(mlflow.get_last_active_trace_id())
        time.sleep(0.002)
    listed = mlflow.search_traces(locations=[exp], return_type="list")
    assert [t.info.trace_id for t in listed] == ids[::-1]            # newest first
    asc = mlflow.search_traces(locations=[exp], order_by=["timestamp_ms ASC"], return_type="list")
    assert [t.info.trace_id for t in asc] == ids
    even = mlflow.search_traces(locations=[exp], filter_string="tags.parity = 'even'", return_type="list")
    assert {t.info.trace_id for t in even} == {ids[0], ids[2], ids[4]}
    assert len(mlflow.search_traces(locations=[exp], filter_string="trace.name = 'step_3'",
                                    return_type="list")) == 1
    assert len(mlflow.search_traces(locations=[exp], filter_string="trace.status = 'OK'", return_type="list")) == 5
    assert len(mlflow.search_traces(locations=[exp], filter_string="span.name = 'step_1'", return_type="list")) == 1
    assert len(mlflow.search_traces(locations=[exp], filter_string="trace.name LIKE 'step_%' AND tag.parity = 'odd'",
                                    return_type="list")) == 2
    t0 = asc[2].info.request_time
    newer = mlflow.search_traces(locations=[exp], filter_string=f"trace.timestamp_ms >= {t0}", return_type="list")
    assert {t.info.trace_id for t in newer} == set(ids[2:])
    assert len(mlflow.search_traces(locations=[exp], filter_string="metadata.mlflow.user IS NOT NULL",
                                    return_type="list")) == 5
    df = mlflow.search_traces(locations=[exp], filter_string="tags.parity = 'odd'")
    assert len(df) == 2 and "trace_id" in df.columns
    # pages of 2 through the client
    c = MlflowClient()
    seen, token = [], None
    while True:
        page = c.search_traces(locations=[exp], max_results=2, page_token=token)
        seen += [t.info.trace_id for t in page]
        token = page.token
        if not token:
            break
    assert seen == ids[::-1]


def test_assessments(exp, base_url):
    _inner(5)
    tid = mlflow.get_last_active_trace_id()
    fb = mlflow.log_feedback(trace_id=tid, name="relevance", value=0.8, rationale="close",
                             source=AssessmentSource(AssessmentSourceType.LLM_JUDGE, "judge-1"),
                             metadata={"model": "m1"})
    ex = mlflow.log_expectation(trace_id=tid, name="answer", value={"text": "ten"})
    got = mlflow.get_assessment(tid, fb.assessment_id)
    assert got.value == 0.8 and got.rationale == "close" and got.source.source_id == "judge-1"
    assert got.metadata == {"model": "m1"} and got.valid is not False
    assert mlflow.get_assessment(tid, ex.assessment_id).value == {"text": "ten"}
    upd = mlflow.update_assessment(trace_id=tid, assessment_id=fb.assessment_id,
                                   assessment=Feedback(name="relevance", value=0.9))
    assert upd.value == 0.9 and upd.rationale == "close"
    # an override makes the original invalid; deleting the override restores it
    new = mlflow.override_feedback(trace_id=tid, assessment_id=fb.assessment_id, value=0.1,
                                   rationale="human says no")
    assert new.overrides == fb.assessment_id
    assert mlflow.get_assessment(tid, fb.assessment_id).valid is False
    t = mlflow.get_trace(tid)
    assert {a.name for a in t.info.assessments} == {"relevance", "answer"}
    found = mlflow.search_traces(locations=[exp], filter_string="feedback.relevance = '0.1'", return_type="list")
    assert [x.info.trace_id for x in found] == [tid]
    mlflow.delete_assessment(trace_id=tid, assessment_id=new.assessment_id)
    assert mlflow.get_assessment(tid, fb.assessment_id).valid is True
    with pytest.raises(MlflowException) as e:
        mlflow.get_assessment(tid, new.assessment_id)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # wrong kind of value for the assessment
    r = requests.patch(f"{base_url}{M3}/traces/{tid}/assessments/{ex.assessment_id}",
                       json={"assessment": {"feedback": {"value": 1}}, "update_mask": "feedback"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    r = requests.get(f"{base_url}{M3}/traces/tr-nope/assessments/a-nope")
    assert r.status_code == 404


def test_tags_and_delete(exp, base_url):
    c = MlflowClient()
    tids = []
    for i in range(4):
        _inner(i)
        tids.append(mlflow.get_last_active_trace_id())
    c.set_trace_tag(tids[0], "reviewed", "yes")
    assert c.get_trace(tids[0]).info.tags["reviewed"] == "yes"
    c.delete_trace_tag(tids[0], "reviewed")
    assert "reviewed" not in c.get_trace(tids[0]).info.tags
    with pytest.raises(MlflowException) as e:
        c.delete_trace_tag(tids[0], "reviewed")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    r = requests.patch(f"{base_url}{M3}/traces/{tids[0]}/tags", json={"key": "mlflow.trace.spansLocation", "value": "x"})
    assert r.status_code == 400
    r = requests.patch(f"{base_url}{M3}/traces/tr-unknown/tags", json={"key": "a", "value": "b"})
    # MLflow: 400 from the database's foreign-key error (DIFFERENCES.md)
    assert r.status_code == (400 if TARGET == "mlflow" else 404)
    assert c.delete_traces(experiment_id=exp, trace_ids=[tids[0]]) == 1
    with pytest.raises(MlflowException):
        c.get_trace(tids[0])
    # older than a timestamp, at most one of them
    cutoff = int(time.time() * 1000) + 1000
    assert c.delete_traces(experiment_id=exp, max_timestamp_millis=cutoff, max_traces=1) == 1
    left = {t.info.trace_id for t in mlflow.search_traces(locations=[exp], return_type="list")}
    assert left == set(tids[2:])          # the oldest went first
    assert c.delete_traces(experiment_id=exp, max_timestamp_millis=cutoff) == 2


def test_rest_routes_and_errors(exp, base_url):
    _outer(1)
    tid = mlflow.get_last_active_trace_id()
    for prefix in ("/api", "/ajax-api"):
        r = requests.get(f"{base_url}{prefix}/3.0/mlflow/traces/{tid}")
        assert r.status_code == 200 and r.json()["trace"]["trace_info"]["trace_id"] == tid
    r = requests.get(f"{base_url}{M3}/traces/batchGet", params={"trace_ids": [tid, "tr-missing"]})
    body = r.json()
    assert r.status_code == 200 and len(body["traces"]) == 1 and len(body["traces"][0]["spans"]) == 3
    r = requests.post(f"{base_url}{M3}/traces/batchGetInfos", json={"trace_ids": [tid], "experiment_ids": ["0"]})
    assert r.status_code == 200 and r.json() == {}
    r = requests.post(f"{base_url}{M3}/traces/batchGetInfos", json={"trace_ids": [tid], "experiment_ids": [exp]})
    assert [t["trace_id"] for t in r.json()["trace_infos"]] == [tid]
    r = requests.get(f"{base_url}{M3}/traces/get", params={"trace_id": "tr-" + "0" * 32})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    loc = [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}]
    for bad in ("trace.bogus = 'x'", "trace.timestamp_ms = 'abc'", "tag.a > 'b'", "span.foo = 'x'",
                "nope.a = 'b'", "trace.status = 'OK' OR tag.a = 'b'", "(", "feedback. = 'x'"):
        r = requests.post(f"{base_url}{M3}/traces/search", json={"locations": loc, "filter": bad})
        # MLflow lets "timestamp_ms = 'abc'" reach the database: BAD_REQUEST (DIFFERENCES.md)
        assert r.status_code == 400 and r.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"), \
            (bad, r.text)
    for body in ({"locations": loc, "max_results": 501}, {"locations": loc, "order_by": ["bogus DESC"]},
                 {"locations": loc, "page_token": "!!!"}, {"filter": ""}):
        r = requests.post(f"{base_url}{M3}/traces/search", json=body)
        assert r.status_code == 400, (body, r.text)
    r = requests.post(f"{base_url}{M3}/traces", json={"trace": {"trace_info": {"trace_id": "tr-x"}}})
    assert r.status_code == (500 if TARGET == "mlflow" else 400)     # MLflow fails on the missing location
    r = requests.post(f"{base_url}{M3}/traces", json={"trace": {"trace_info": {
        "trace_id": "tr-y", "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {
            "experiment_id": "99999999"}}, "request_time": "2026-01-01T00:00:00Z", "state": "OK"}}})
    assert r.status_code == 404
    r = requests.post(f"{base_url}{M3}/traces", json={"trace": {"trace_info": {
        "trace_id": "tr-z", "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {
            "experiment_id": exp}}, "request_time": "yesterday", "state": "OK"}}})
    assert r.status_code == (200 if TARGET == "mlflow" else 400)   # MLflow lets a bad timestamp through
    r = requests.post(f"{base_url}/api/2.0/mlflow/traces/link-to-run",
                      json={"trace_ids": [tid] * 101, "run_id": "r"})
    assert r.status_code == 400
    r = requests.post(f"{base_url}/api/2.0/mlflow/traces/link-prompts",
                      json={"trace_id": tid, "prompt_versions": [{"name": "qa", "version": "2"}]})
    assert r.status_code == 200 and r.json() == {}
    r = requests.post(f"{base_url}/api/2.0/mlflow/traces/link-prompts",
                      json={"trace_id": "tr-nope", "prompt_versions": [{"name": "qa", "version": "2"}]})
    assert r.status_code == 404


def test_start_trace_v3_without_spans_then_search(exp, base_url):
    """A trace logged through the REST API alone (no spans): it is searchable,
    its info exact, and get_trace reports it incomplete."""
    tid = "tr-" + uuid.uuid4().hex
    info = {"trace_id": tid, "client_request_id": "cr-1",
            "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}},
            "request_time": "2026-05-01T10:20:30.123Z", "execution_duration": "1.250s", "state": "IN_PROGRESS",
            "trace_metadata": {"k": "v"}, "tags": {"t": "1"}}
    r = requests.post(f"{base_url}{M3}/traces", json={"trace": {"trace_info": info}})
    assert r.status_code == 200, r.text
    got = r.json()["trace"]["trace_info"]
    assert got["request_time"] == "2026-05-01T10:20:30.123Z" and got["execution_duration"] == "1.250s"
    assert got["client_request_id"] == "cr-1" and got["trace_metadata"]["k"] == "v"
    assert got["tags"]["mlflow.artifactLocation"].endswith(f"/traces/{tid}/artifacts")
    r = requests.get(f"{base_url}{M3}/traces/get", params={"trace_id": tid})
    if TARGET != "mlflow":   # MLflow: 500 "Trace data not stored in tracking store" (DIFFERENCES.md)
        assert r.status_code == 404 and "not fully exported" in r.json()["message"]
        r = requests.get(f"{base_url}{M3}/traces/get", params={"trace_id": tid, "allow_partial": "true"})
        assert r.status_code == 200 and "spans" not in r.json()["trace"]
    loc = [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}]
    r = requests.post(f"{base_url}{M3}/traces/search",
                      json={"locations": loc, "filter": "trace.client_request_id = 'cr-1' AND metadata.k = 'v'"})
    assert [t["trace_id"] for t in r.json()["traces"]] == [tid]
    r = requests.post(f"{base_url}{M3}/traces/search",
                      json={"locations": loc, "filter": "trace.execution_time_ms > 1000 AND trace.status = 'IN_PROGRESS'"})
    assert [t["trace_id"] for t in r.json()["traces"]] == [tid]


def test_overview_quality_metrics(exp, base_url):
    """issue 12: the Overview tab's Quality view: ASSESSMENTS metrics filtered by
    assessment.type / assessment.name, values as MLflow aggregates and spells them."""
    tids = []
    for i in range(3):
        @mlflow.trace(name="q")
        def f(v):
            return v
        f(i)
        tids.append(mlflow.get_last_active_trace_id())
    for tid, (ok, score, helpful) in zip(tids, [(True, 4, "yes"), (False, 1.5, " NO "), (True, 5, "maybe")]):
        mlflow.log_feedback(trace_id=tid, name="correct", value=ok)
        mlflow.log_feedback(trace_id=tid, name="score", value=score)
        mlflow.log_feedback(trace_id=tid, name="helpful", value=helpful)
        mlflow.log_expectation(trace_id=tid, name="expected", value={"a": [1, 2.5]})
    url = f"{base_url}{M3}/traces/metrics"

    def metrics(status=200, **body):
        r = requests.post(url, json=dict(body, experiment_ids=[exp], view_type="ASSESSMENTS"))
        assert r.status_code == status, r.text
        return r.json().get("data_points", []) if status == 200 else r.json()

    count = [{"aggregation_type": "COUNT"}]
    pts = metrics(metric_name="assessment_count", aggregations=count, filters=['assessment.type = "feedback"'],
                  dimensions=["assessment_name", "assessment_value"])
    got = {(p["dimensions"]["assessment_name"], p["dimensions"]["assessment_value"]): p["values"]["COUNT"]
           for p in pts}
    assert got == {("correct", "true"): 2.0, ("correct", "false"): 1.0, ("score", "4.0"): 1.0,
                   ("score", "1.5"): 1.0, ("score", "5.0"): 1.0, ("helpful", '"yes"'): 1.0,
                   ("helpful", '" NO "'): 1.0, ("helpful", '"maybe"'): 1.0}
    # booleans and "yes"/"no" (trimmed, any case) count as 1/0; other strings have no value
    pts = metrics(metric_name="assessment_value", aggregations=[{"aggregation_type": "AVG"}],
                  filters=['assessment.type = "feedback"'], dimensions=["assessment_name"])
    assert {p["dimensions"]["assessment_name"]: p["values"]["AVG"] for p in pts} == pytest.approx(
        {"correct": 2 / 3, "score": 3.5, "helpful": 0.5})
    pts = metrics(metric_name="assessment_count", aggregations=count, filters=["assessment.type = 'expectation'"],
                  dimensions=["assessment_value"])
    assert pts == [{"metric_name": "assessment_count", "dimensions": {"assessment_value": '{"a": [1, 2.5]}'},
                    "values": {"COUNT": 3.0}}]
    pts = metrics(metric_name="assessment_value", aggregations=[{"aggregation_type": "MAX"}],
                  filters=["assessment.name = 'score'", "trace.status = 'OK'"])
    assert pts == [{"metric_name": "assessment_value", "values": {"MAX": 5.0}}]
    # MLflow's filter grammar: '=' on a quoted string, one clause, the right view
    for flt, msg in [("assessment.type != 'feedback'", "only '=' operator is supported"),
                     ("assessment.kind = 'x'", "Invalid entity 'kind' specified for view type 'assessment'"),
                     ("assessment.name.k = 'x'", "Filtering by name does not require a key"),
                     ("trace.tag = 'x'", "Filtering by tag requires a key"),
                     ("assessment.name = 5", "Expected a quoted string value"),
                     ("span.name = 'x'", "Filtering by span is only supported for SPANS view type"),
                     ("assessment.name = 'a' AND assessment.type = 'feedback'", "Invalid clause(s) in filter string: AND")]:
        body = metrics(400, metric_name="assessment_count", aggregations=count, filters=[flt])
        assert body["error_code"] == "INVALID_PARAMETER_VALUE" and msg in body["message"], (flt, body)
    r = requests.post(url, json={"experiment_ids": [exp], "view_type": "TRACES", "metric_name": "trace_count",
                                 "aggregations": count, "filters": ["assessment.type = 'feedback'"]})
    assert r.status_code == 400 and "only supported for ASSESSMENTS view type, got TRACES" in r.json()["message"]


def test_overview_metrics_and_correlation(exp, base_url):
    """The experiment overview tab: QueryTraceMetrics and the NPMI correlation."""
    for i in range(4):
        @mlflow.trace(name="good" if i < 3 else "bad")
        def f(v):
            mlflow.update_current_trace(tags={"k": "x" if v < 2 else "y"})
            if v == 3:
                raise RuntimeError("bad")
            return v
        try:
            f(i)
        except RuntimeError:
            pass
    tid = mlflow.get_last_active_trace_id()
    mlflow.log_feedback(trace_id=tid, name="ok", value=True)
    url = f"{base_url}{M3}/traces/metrics"

    def metrics(**body):
        body.setdefault("experiment_ids", [exp])
        r = requests.post(url, json=body)
        assert r.status_code == 200, r.text
        return r.json().get("data_points", [])

    pts = metrics(view_type="TRACES", metric_name="trace_count", aggregations=[{"aggregation_type": "COUNT"}])
    assert pts == [{"metric_name": "trace_count", "values": {"COUNT": 4.0}}]
    pts = metrics(view_type="TRACES", metric_name="trace_count", aggregations=[{"aggregation_type": "COUNT"}],
                  dimensions=["trace_status"])
    assert {p["dimensions"]["trace_status"]: p["values"]["COUNT"] for p in pts} == {"OK": 3.0, "ERROR": 1.0}
    now = int(time.time() * 1000)
    pts = metrics(view_type="TRACES", metric_name="latency",
                  aggregations=[{"aggregation_type": "AVG"}, {"aggregation_type": "PERCENTILE", "percentile_value": 50}],
                  dimensions=["trace_name"], time_interval_seconds=3600, start_time_ms=now - 7200_000,
                  end_time_ms=now + 3600_000)
    assert sorted(p["dimensions"]["trace_name"] for p in pts) == ["bad", "good"]
    assert all(p["dimensions"]["time_bucket"].endswith(":00:00+00:00") and "P50.0" in p["values"] for p in pts)
    pts = metrics(view_type="TRACES", metric_name="trace_count", aggregations=[{"aggregation_type": "COUNT"}],
                  filters=["trace.tag.k = 'y'"])
    assert pts[0]["values"]["COUNT"] == 2.0
    pts = metrics(view_type="SPANS", metric_name="span_count", aggregations=[{"aggregation_type": "COUNT"}],
                  dimensions=["span_name"])
    assert {p["dimensions"]["span_name"]: p["values"]["COUNT"] for p in pts} == {"good": 3.0, "bad": 1.0}
    pts = metrics(view_type="ASSESSMENTS", metric_name="assessment_count",
                  aggregations=[{"aggregation_type": "COUNT"}], dimensions=["assessment_name"])
    assert pts == [{"metric_name": "assessment_count", "dimensions": {"assessment_name": "ok"},
                    "values": {"COUNT": 1.0}}]
    for bad in ({"view_type": "TRACES", "metric_name": "nope", "aggregations": [{"aggregation_type": "COUNT"}]},
                {"view_type": "TRACES", "metric_name": "latency", "aggregations": [{"aggregation_type": "COUNT"}]},
                {"view_type": "TRACES", "metric_name": "latency", "aggregations": [{"aggregation_type": "AVG"}],
                 "dimensions": ["trace_status"]},
                {"view_type": "TRACES", "metric_name": "trace_count", "aggregations": [{"aggregation_type": "COUNT"}],
                 "time_interval_seconds": 60},
                *([] if TARGET == "mlflow" else   # MLflow takes an unknown view_type as TRACES
                  [{"view_type": "BOGUS", "metric_name": "trace_count",
                    "aggregations": [{"aggregation_type": "COUNT"}]}])):
        body = dict(bad, experiment_ids=[exp])
        r = requests.post(url, json=body)
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", (bad, r.text)
    r = requests.post(f"{base_url}{M3}/traces/calculate-filter-correlation", json={
        "experiment_ids": [exp], "filter_string1": "trace.status = 'ERROR'", "filter_string2": "tag.k = 'y'"})
    body = r.json()
    assert (body["filter1_count"], body["filter2_count"], body["joint_count"], body["total_count"]) == (1, 2, 1, 4)
    assert abs(body["npmi"] - 0.5) < 1e-9 and -1 <= body["npmi_smoothed"] <= 1
    r = requests.post(f"{base_url}{M3}/traces/calculate-filter-correlation", json={
        "experiment_ids": [exp], "filter_string1": "tag.k = 'nope'", "filter_string2": "tag.k = 'y'"})
    assert "npmi" not in r.json() and r.json()["filter1_count"] == 0      # undefined: left out, as MLflow


def test_v2_routes_and_trace_artifact(exp, base_url):
    """The deprecated v2 routes (start, end, get info, search) and the UI's
    get-trace-artifact download built from the spans in the database."""
    api = base_url + "/api/2.0/mlflow/traces"
    r = requests.post(api, json={"experiment_id": exp, "timestamp_ms": 1700000000000,
                                 "request_metadata": [{"key": "m", "value": "1"}],
                                 "tags": [{"key": "t", "value": "a"}]})
    assert r.status_code == 200, r.text
    info = r.json()["trace_info"]
    rid = info["request_id"]
    assert len(rid) == 32 and info["status"] == "IN_PROGRESS" and info["timestamp_ms"] == 1700000000000
    r = requests.patch(f"{api}/{rid}", json={"timestamp_ms": 1700000001500, "status": "OK",
                                             "tags": [{"key": "t2", "value": "b"}]})
    info = r.json()["trace_info"]
    assert (info["status"], info["execution_time_ms"]) == ("OK", 1500)
    assert {t["key"] for t in info["tags"]} >= {"t", "t2", "mlflow.artifactLocation"}
    assert requests.get(f"{api}/{rid}/info").json()["trace_info"]["request_id"] == rid
    found = requests.get(api, params={"experiment_ids": [exp], "filter": "tag.t2 = 'b'"}).json()["traces"]
    assert [t["request_id"] for t in found] == [rid]
    assert requests.get(api, params={"filter": "x"}).status_code == 400      # experiment_ids required
    assert requests.get(f"{api}/tr-nope/info").status_code == 404
    # get-trace-artifact: MLflow's traces.json from the stored spans
    _outer(7)
    tid = mlflow.get_last_active_trace_id()
    for v in ("2.0", "3.0"):
        r = requests.get(f"{base_url}/ajax-api/{v}/mlflow/get-trace-artifact", params={"request_id": tid})
        assert r.status_code == 200 and "traces.json" in r.headers["Content-Disposition"]
        spans = r.json()["spans"]
        names = [s["name"] for s in spans]
        assert names[0] == "outer_fn" and set(names) == {"outer_fn", "manual", "_inner"}
        manual = spans[names.index("manual")]
        assert manual["attributes"]["mlflow.spanInputs"] == '{"q": "hello", "nested": {"a": [1, 2]}}'
        assert manual["attributes"]["custom.num"] == "42" and manual["status"]["code"] == "STATUS_CODE_OK"
    from mlflow.entities import TraceData
    data = TraceData.from_dict(r.json())                  # the client's own reader accepts it
    assert len(data.spans) == 3
    r = requests.get(f"{base_url}/ajax-api/2.0/mlflow/get-trace-artifact")
    assert r.status_code == 400
    r = requests.get(f"{base_url}/ajax-api/2.0/mlflow/get-trace-artifact", params={"request_id": "tr-nope"})
    assert r.status_code == 404


def test_tag_equality_search_order_pages_and_experiments(exp, base_url):
    """A tag equality in the default order walks the tag index newest first
    (sql/007): several experiments, pages, tags set afterwards, values past
    the indexed 200-character prefix, and a trace whose time changes."""
    other = mlflow.create_experiment(unique("traces-other"))
    long_a, long_b = "L" * 250 + "a", "L" * 250 + "b"

    def start(exp_id, ms, tags):
        tid = "tr-" + uuid.uuid4().hex
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
        info = {"trace_id": tid, "request_time": when, "execution_duration": "0.010s", "state": "OK",
                "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp_id}},
                "tags": tags}
        r = requests.post(f"{base_url}{M3}/traces", json={"trace": {"trace_info": info}})
        assert r.status_code == 200, r.text
        return tid

    base = 1_790_000_000_000
    a = [start(exp, base + i * 10, {"team": "x" if i % 2 == 0 else "y"}) for i in range(6)]
    b = [start(other, base + 5 + i * 10, {"team": "x"}) for i in range(2)]
    la = start(exp, base + 100, {"team": long_a})
    lb = start(other, base + 101, {"team": long_b})

    def search(exps, flt, page=None):
        loc = [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": e}} for e in exps]
        seen, token = [], None
        while True:
            body = {"locations": loc, "filter": flt}
            if page:
                body["max_results"] = page
            if token:
                body["page_token"] = token
            r = requests.post(f"{base_url}{M3}/traces/search", json=body)
            assert r.status_code == 200, r.text
            seen += [t["trace_id"] for t in r.json().get("traces", [])]
            token = r.json().get("next_page_token")
            if not token:
                return seen

    assert search([exp], "tag.team = 'x'") == [a[4], a[2], a[0]]
    assert search([exp], "tag.team = 'x'", page=2) == [a[4], a[2], a[0]]
    both = [a[4], a[2], b[1], b[0], a[0]]
    assert search([exp, other], "tag.team = 'x'") == both
    assert search([exp, other], "tag.team = 'x'", page=2) == both
    assert search([exp, other], "tag.team = 'x' AND trace.timestamp_ms > %d" % (base + 10)) == both[:3]
    assert search([exp, other], f"tag.team = '{long_a}'") == [la]
    assert search([exp, other], f"tag.team = '{long_b}'") == [lb]
    assert search([exp, other], "tag.team = '" + "L" * 250 + "'") == []
    # a tag set afterwards is found in its trace's place
    r = requests.patch(f"{base_url}{M3}/traces/{a[3]}/tags", json={"key": "team", "value": "x"})
    assert r.status_code == 200, r.text
    assert search([exp], "tag.team = 'x'") == [a[4], a[3], a[2], a[0]]
    if TARGET != "mlflow":   # Cairn's start_trace upserts: the trace's time moves, its tags follow
        info = {"trace_id": a[0], "request_time": "2030-01-01T00:00:00.000Z", "execution_duration": "0.010s",
                "state": "OK", "tags": {"team": "x"},
                "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}}
        r = requests.post(f"{base_url}{M3}/traces", json={"trace": {"trace_info": info}})
        assert r.status_code == 200, r.text
        assert search([exp], "tag.team = 'x'") == [a[0], a[4], a[3], a[2]]


def test_rlike_filters(exp):
    """RLIKE (a regular expression, PostgreSQL's ~ as MLflow's SQL store uses
    it) on tags, trace attributes, span names and attributes, metadata and
    assessments; still refused on runs, as MLflow refuses it."""
    ids = []
    for i, team in enumerate(["alpha-1", "beta-22", "alpha-333"]):
        @mlflow.trace(name=f"rx_{team}")
        def f(v):
            with mlflow.start_span(name=f"tool_{v}", span_type="TOOL") as s:
                s.set_attribute("model", f"gpt-{v}-mini")
            mlflow.update_current_trace(tags={"team": team})
            return v
        f(i)
        ids.append(mlflow.get_last_active_trace_id())
    mlflow.log_feedback(trace_id=ids[1], name="verdict", value="looks good")

    def found(flt):
        return {t.info.trace_id for t in mlflow.search_traces(locations=[exp], filter_string=flt,
                                                               return_type="list")}
    assert found("tags.team RLIKE '^alpha-[0-9]+$'") == {ids[0], ids[2]}
    assert found("tag.team RLIKE '[0-9]{2}'") == {ids[1], ids[2]}
    assert found("trace.name RLIKE 'rx_b'") == {ids[1]}
    assert found("trace.status RLIKE '^O'") == set(ids)
    assert found("span.name RLIKE '^tool_[02]$'") == {ids[0], ids[2]}
    assert found("span.attributes.model RLIKE 'gpt-1'") == {ids[1]}
    assert found("metadata.mlflow.user RLIKE '.'") == set(ids)
    assert found("feedback.verdict RLIKE 'good'") == {ids[1]}
    assert found("tags.team RLIKE 'ALPHA'") == set()                 # case-sensitive
    with pytest.raises(MlflowException, match="RLIKE"):
        MlflowClient().search_runs([exp], "params.a RLIKE 'x'")


def test_spans_uploaded_as_traces_json_are_read_in(exp, base_url, monkeypatch):
    """A client that does not send spans over OTLP (a server it takes for
    older than 3.4, as MLflow 3.0-3.3 clients always do) uploads them as the
    trace's traces.json artifact: Cairn reads them into PostgreSQL, so the
    REST get, span filters in search and the UI's get-trace-artifact see them."""
    from packaging.version import Version
    from mlflow.store.tracking.rest_store import RestStore

    monkeypatch.setattr(RestStore, "_get_server_version", lambda self, creds: Version("3.3.2"))
    mlflow.tracing.reset()   # a fresh exporter that asks the server's version
    try:
        _outer(21)
        tid = mlflow.get_last_active_trace_id()
    finally:
        monkeypatch.undo()
        mlflow.tracing.reset()
    r = requests.get(f"{base_url}{M3}/traces/get", params={"trace_id": tid})
    assert r.status_code == 200, r.text
    spans = r.json()["trace"]["spans"]
    assert [s["name"] for s in spans][0] == "outer_fn" and len(spans) == 3
    manual = [s for s in spans if s["name"] == "manual"][0]
    attrs = {a["key"]: a["value"] for a in manual["attributes"]}
    # decoded, as the client's own OTLP export sends them
    assert attrs["custom.num"] == {"int_value": 42}
    assert attrs["mlflow.spanType"] == {"string_value": "TOOL"}
    assert r.json()["trace"]["trace_info"]["tags"]["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    found = mlflow.search_traces(locations=[exp], filter_string="span.name = 'manual'", return_type="list")
    assert tid in [t.info.trace_id for t in found]
    t = mlflow.get_trace(tid)
    inner = [s for s in t.data.spans if s.name == "_inner"][0]
    assert inner.outputs == {"doubled": 42, "items": [1, 2.5, "three", None, True]}
    assert inner.span_type == "LLM"
    art = requests.get(f"{base_url}/ajax-api/3.0/mlflow/get-trace-artifact", params={"request_id": tid}).json()
    assert {s["name"] for s in art["spans"]} == {"outer_fn", "manual", "_inner"}
    # hostile uploads to such paths: stored as artifacts (200, as MLflow), nothing read in, no harm
    proxy = f"{base_url}/api/2.0/mlflow-artifacts/artifacts/{exp}/traces"
    assert requests.put(f"{proxy}/{tid}/artifacts/traces.json", data=b"{not json").status_code == 200
    assert requests.put(f"{proxy}/{tid}/artifacts/traces.json",
                        data=json.dumps({"spans": [{"span_id": "!!", "name": "x"}]})).status_code == 200
    ghost = "tr-" + "ab" * 16
    assert requests.put(f"{proxy}/{ghost}/artifacts/traces.json", data=json.dumps({"spans": []})).status_code == 200
    assert requests.get(f"{base_url}{M3}/traces/get", params={"trace_id": ghost}).status_code == 404
    assert len(requests.get(f"{base_url}{M3}/traces/get", params={"trace_id": tid}).json()["trace"]["spans"]) == 3
