"""Run each scenario with the 3.x client against a fresh cairn-server and
against MLflow's reference server; compare the HTTP exchanges.

With CAIRN_TARGET=mlflow both sides are the reference server, which checks the
recording and the normalisation (expect 0 mismatches).
"""
import pytest

import mlflow

if int(mlflow.__version__.split(".")[0]) < 3:
    pytest.skip("differential tests use the mlflow 3.x client", allow_module_level=True)

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

import differential as D

T0 = 1_700_000_000_000


def expect_error(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except MlflowException:
        return
    raise AssertionError(f"{getattr(fn, '__name__', fn)} did not fail")


# ------------------------------------------------------------------ scenarios
def sc_experiments(uid):
    c = MlflowClient()
    e = mlflow.set_experiment(f"exp-{uid}")
    mlflow.set_experiment(f"exp-{uid}")
    assert mlflow.get_experiment_by_name(f"missing-{uid}") is None
    eid = c.create_experiment(f"tagged-{uid}", tags={"team": "ml", "ü": "✓"})
    c.get_experiment(eid)
    expect_error(c.create_experiment, f"tagged-{uid}")
    c.set_experiment_tag(eid, "team", "infra")
    c.delete_experiment_tag(eid, "team")
    expect_error(c.delete_experiment_tag, eid, "team")
    c.rename_experiment(eid, f"renamed-{uid}")
    c.get_experiment_by_name(f"renamed-{uid}")
    for i in range(5):
        c.create_experiment(f"page-{uid}-{i}")
    token, pages = None, 0
    while True:
        page = c.search_experiments(filter_string=f"name LIKE 'page-{uid}-%'",
                                    order_by=["name DESC"], max_results=2, page_token=token)
        pages += 1
        token = page.token
        if not token:
            break
    c.search_experiments(filter_string=f"tags.`ü` = '✓' AND name ILIKE '%{uid}%'")
    expect_error(c.search_experiments, filter_string="name = ")
    c.delete_experiment(e.experiment_id)
    c.get_experiment(e.experiment_id)
    c.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=f"name LIKE '%{uid}%'")
    expect_error(c.create_run, e.experiment_id)
    c.restore_experiment(e.experiment_id)
    expect_error(c.get_experiment, "987654321")
    expect_error(c.get_experiment, "not-a-number")


def sc_run_lifecycle(uid):
    c = MlflowClient()
    mlflow.set_experiment(f"runs-{uid}")
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_param("lr", 0.1)
        mlflow.log_params({"layers": 3, "opt": "adam"})
        mlflow.log_metric("loss", 1.5, step=0, timestamp=T0)
        mlflow.log_metric("loss", 0.5, step=1, timestamp=T0 + 5)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=2, timestamp=T0 + 6)
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"a": "1", "b": "2"})
        with mlflow.start_run(run_name="child", nested=True):
            mlflow.log_metric("inner", 1.0, timestamp=T0)
    try:
        with mlflow.start_run(run_name="fails"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    rid = parent.info.run_id
    c.get_run(rid)
    c.update_run(rid, name="renamed")
    c.set_tag(rid, "mlflow.runName", "renamed-again")
    c.get_run(rid)
    c.delete_tag(rid, "stage")
    expect_error(c.delete_tag, rid, "stage")
    c.delete_run(rid)
    c.get_run(rid)
    expect_error(c.log_param, rid, "p", "v")
    expect_error(c.log_metric, rid, "m", 1.0, timestamp=T0)
    expect_error(c.set_tag, rid, "t", "v")
    c.restore_run(rid)
    c.get_run(rid)
    missing = "0123456789abcdef0123456789abcdef"
    expect_error(c.get_run, missing)
    expect_error(c.log_param, missing, "p", "v")
    expect_error(c.update_run, missing, status="FINISHED")


def sc_values(uid):
    c = MlflowClient()
    eid = c.create_experiment(f"values-{uid}")
    rid = c.create_run(eid, run_name="values", start_time=T0).info.run_id
    c.log_metric(rid, "nan", float("nan"), timestamp=T0, step=0)
    c.log_metric(rid, "pinf", float("inf"), timestamp=T0, step=0)
    c.log_metric(rid, "ninf", float("-inf"), timestamp=T0, step=0)
    c.log_metric(rid, "big", 1.0, timestamp=2 ** 53 + 1, step=2 ** 62 + 1)
    c.log_metric(rid, "big", 2.0, timestamp=1, step=-(2 ** 62))
    c.log_metric(rid, "exact", 0.1 + 0.2, timestamp=T0, step=0)
    c.log_metric(rid, "dup", 1.0, timestamp=T0, step=1)
    c.log_metric(rid, "dup", 1.0, timestamp=T0, step=1)
    c.log_param(rid, "größe", "𝛼β γ — 日本語")
    c.set_tag(rid, "ключ ü_1", "värde ✓ \"q\" 'single' \\ back")
    c.log_param(rid, "long", "p" * 6500)
    c.log_param(rid, "long", "p" * 6500)
    c.set_tag(rid, "longtag", "t" * 9000)
    c.log_param(rid, "same", "a")
    c.log_param(rid, "same", "a")
    expect_error(c.log_param, rid, "same", "b")
    expect_error(c.log_param, rid, "k" * 251, "v")
    expect_error(c.log_metric, rid, "a//b", 1.0)
    c.get_run(rid)
    for key in ("nan", "pinf", "big", "dup"):
        c.get_metric_history(rid, key)


def sc_log_batch(uid):
    c = MlflowClient()
    eid = c.create_experiment(f"batch-{uid}")
    rid = c.create_run(eid, run_name="batch", start_time=T0).info.run_id
    c.log_batch(rid, metrics=[Metric(f"m{i}", float(i), T0 + i, i) for i in range(1000)])
    c.log_batch(rid, params=[Param(f"p{i}", f"v{i}") for i in range(100)],
                tags=[RunTag(f"t{i}", f"w{i}") for i in range(100)])
    store = c._tracking_client.store
    expect_error(store.log_batch, rid, metrics=[Metric("x", 1.0, T0, 0)] * 1001, params=[], tags=[])
    expect_error(store.log_batch, rid, metrics=[], params=[Param(f"q{i}", "v") for i in range(101)],
                 tags=[])
    expect_error(store.log_batch, rid, metrics=[], params=[],
                 tags=[RunTag(f"u{i}", "v") for i in range(101)])
    expect_error(store.log_batch, rid, metrics=[Metric("y", 1.0, T0, 0)] * 900,
                 params=[Param(f"r{i}", "v") for i in range(100)], tags=[RunTag("z", "v")])
    expect_error(store.log_batch, rid, metrics=[], params=[Param("d", "1"), Param("d", "2")], tags=[])
    expect_error(c.log_batch, rid, params=[Param("p1", "changed")])
    c.log_batch(rid, metrics=[Metric("h", float(i), T0 + i, i) for i in range(300)])
    c.get_metric_history(rid, "h")
    c.get_run(rid)


def sc_search_runs(uid):
    c = MlflowClient()
    eid = c.create_experiment(f"search-{uid}")
    for i in range(6):
        rid = c.create_run(eid, run_name=f"run-{i}", start_time=T0 + i,
                           tags={"parity": "even" if i % 2 == 0 else "odd",
                                 "Group": "Alpha" if i < 3 else "beta"}).info.run_id
        c.log_batch(rid, metrics=[Metric("loss", 1.0 / (i + 1), T0 + i, 0)],
                    params=[Param("model", "rf" if i < 2 else "xgb"), Param("depth", str(i))])
        c.set_terminated(rid, status="FINISHED" if i != 5 else "FAILED", end_time=T0 + 100 + i)
    for f in ("metrics.loss < 0.3", "params.model = 'xgb' AND metrics.loss > 0.2",
              "tags.Group LIKE 'Al%'", "tags.Group ILIKE 'AL%'", "attributes.status = 'FAILED'",
              "run_name = 'run-3'", "attributes.run_name LIKE 'run-%'", "params.model != 'rf'",
              "attributes.start_time > 1700000000003", "metrics.missing > 0"):
        c.search_runs([eid], filter_string=f)
    c.search_runs([eid], order_by=["metrics.loss ASC"])
    c.search_runs([eid], order_by=["params.depth DESC"])
    c.search_runs([eid], order_by=["tags.parity ASC", "attributes.start_time DESC"])
    token = None
    while True:
        page = c.search_runs([eid], order_by=["metrics.loss DESC"], max_results=4, page_token=token)
        token = page.token
        if not token:
            break
    mlflow.search_runs([eid], filter_string="params.model = 'rf'", output_format="list")
    mlflow.search_runs([eid], order_by=["params.depth ASC"])      # DataFrame form
    for bad in ("metrics.loss <", "params.model = xgb", "foo.bar = '1'",
                "params.model = 'a' OR params.model = 'b'", "metrics.loss > 'x'"):
        expect_error(c.search_runs, [eid], filter_string=bad)
    expect_error(c.search_runs, [eid], order_by=["metrics.loss SIDEWAYS"])
    c.search_runs([eid], run_view_type=ViewType.ALL, max_results=2)


def sc_inputs(uid):
    import numpy as np
    import pandas as pd
    mlflow.set_experiment(f"inputs-{uid}")
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "c"]})
    with mlflow.start_run(run_name="inputs") as run:
        mlflow.log_input(mlflow.data.from_pandas(df, name="train-df", targets="x"), context="training")
        mlflow.log_input(mlflow.data.from_numpy(np.arange(6.0).reshape(2, 3), name="arr"),
                         context="eval")
    MlflowClient().get_run(run.info.run_id)
    mlflow.search_runs(filter_string="dataset.name = 'arr'", output_format="list")


def sc_traces(uid):
    """issue 14: spans over OTLP, start_trace, get/search/batch-get, tags, assessments, delete."""
    import os
    os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
    exp = mlflow.set_experiment(f"traces-{uid}").experiment_id

    @mlflow.trace(span_type="LLM")
    def inner(x):
        return {"y": x * 2, "l": [1, 2.5, "s"]}

    @mlflow.trace(name="outer")
    def outer(x):
        mlflow.update_current_trace(tags={"team": "a"})
        with mlflow.start_span("manual") as s:
            s.set_inputs({"q": x})
            s.set_attribute("n", 7)
        return inner(x)

    @mlflow.trace
    def boom():
        raise ValueError("no")

    outer(1)
    tid = mlflow.get_last_active_trace_id()
    try:
        boom()
    except ValueError:
        pass
    c = MlflowClient()
    mlflow.get_trace(tid)
    mlflow.search_traces(locations=[exp], filter_string="tag.team = 'a'", return_type="list")
    mlflow.search_traces(locations=[exp], filter_string="trace.status = 'ERROR'", order_by=["timestamp_ms ASC"],
                         return_type="list")
    mlflow.search_traces(locations=[exp], filter_string="span.type = 'LLM' AND trace.name = 'outer'",
                         return_type="list")
    expect_error(mlflow.search_traces, locations=[exp], filter_string="trace.bogus = 'x'")
    fb = mlflow.log_feedback(trace_id=tid, name="rel", value=0.5, rationale="r")
    ex = mlflow.log_expectation(trace_id=tid, name="ans", value={"k": [1]})
    mlflow.get_assessment(tid, fb.assessment_id)
    from mlflow.entities import Feedback
    mlflow.update_assessment(trace_id=tid, assessment_id=fb.assessment_id, assessment=Feedback(name="rel", value=0.9))
    mlflow.override_feedback(trace_id=tid, assessment_id=fb.assessment_id, value=0.1)
    mlflow.delete_assessment(trace_id=tid, assessment_id=ex.assessment_id)
    c.set_trace_tag(tid, "k", "v")
    c.delete_trace_tag(tid, "k")
    expect_error(c.delete_trace_tag, tid, "k")
    mlflow.get_trace(tid)
    c.delete_traces(experiment_id=exp, trace_ids=[tid])
    mlflow.search_traces(locations=[exp], return_type="list")


def sc_trace_metrics(uid):
    """issue 12: the experiment Overview tab's traces/metrics queries (Usage, Quality, Tool calls),
    as the UI sends them, over traces with feedback (bool, number, "yes"/"no") and expectations."""
    import os
    import requests
    os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
    exp = mlflow.set_experiment(f"trace-metrics-{uid}").experiment_id

    @mlflow.trace(span_type="TOOL")
    def lookup(q):
        return q.upper()

    @mlflow.trace(name="agent", span_type="CHAIN")
    def agent(q):
        return lookup(q)

    for i, (ok, score, helpful) in enumerate([(True, 4, "yes"), (False, 2, " No "), (True, 5, "maybe")]):
        agent(f"q{i}")
        tid = mlflow.get_last_active_trace_id()
        mlflow.log_feedback(trace_id=tid, name="correct", value=ok)
        mlflow.log_feedback(trace_id=tid, name="score", value=score)
        mlflow.log_feedback(trace_id=tid, name="helpful", value=helpful)
        mlflow.log_expectation(trace_id=tid, name="expected", value={"answer": f"Q{i} ✓", "n": i, "w": 0.5})
    url = mlflow.get_tracking_uri() + "/ajax-api/3.0/mlflow/traces/metrics"
    span = {"start_time_ms": T0, "end_time_ms": 4_000_000_000_000}   # the same request on both servers
    count = [{"aggregation_type": "COUNT"}]
    feedback = ['assessment.type = "feedback"']
    bodies = [
        # Quality tab
        dict(view_type="ASSESSMENTS", metric_name="assessment_count", aggregations=count, filters=feedback,
             dimensions=["assessment_name", "assessment_value"], **span),
        dict(view_type="ASSESSMENTS", metric_name="assessment_value", aggregations=[{"aggregation_type": "AVG"}],
             filters=feedback, dimensions=["assessment_name"], **span),
        dict(view_type="ASSESSMENTS", metric_name="assessment_count", aggregations=count, filters=feedback,
             dimensions=["assessment_name"]),
        dict(view_type="ASSESSMENTS", metric_name="assessment_count", aggregations=count,
             filters=["assessment.type = 'expectation'"], dimensions=["assessment_value"]),
        dict(view_type="ASSESSMENTS", metric_name="assessment_value",
             aggregations=[{"aggregation_type": "MIN"}, {"aggregation_type": "MAX"},
                           {"aggregation_type": "PERCENTILE", "percentile_value": 50}],
             filters=["assessment.name = 'score'", "trace.status = 'OK'"]),
        # Usage and Tool calls tabs
        dict(view_type="TRACES", metric_name="trace_count", aggregations=count, dimensions=["trace_status"], **span),
        dict(view_type="SPANS", metric_name="span_count", aggregations=count, filters=['span.type = "TOOL"'],
             dimensions=["span_name", "span_status"], **span),
        # refused filters (400 with MLflow's messages)
        dict(view_type="TRACES", metric_name="trace_count", aggregations=count, filters=feedback),
        dict(view_type="TRACES", metric_name="trace_count", aggregations=count, filters=["span.name = 'x'"]),
    ] + [dict(view_type="ASSESSMENTS", metric_name="assessment_count", aggregations=count, filters=[flt])
         for flt in ("assessment.type != 'feedback'", "assessment.kind = 'feedback'", "assessment.type.x = 'feedback'",
                     "trace.tag = 'x'", "run.name = 'x'", "assessment.name = 5")]
    for body in bodies:
        requests.post(url, json=dict(body, experiment_ids=[exp]), timeout=15)


def sc_mcp_servers(uid):
    """issue 12: the MCP server registry (the UI's #/mcp-registry page), client and raw REST."""
    import os
    import requests
    from urllib.parse import quote
    from mlflow.entities.mcp_server import MCPStatus, MCPTool

    os.environ["MLFLOW_ENABLE_MCP_TOOL_DISCOVERY"] = "false"
    c = MlflowClient()
    base = mlflow.get_tracking_uri() + "/api/3.0/mlflow/mcp-servers"
    name = f"com.diff/mcp-{uid}"
    q = quote(name, safe="")
    c.create_mcp_server(name, description="first")
    expect_error(c.create_mcp_server, name)
    c.create_mcp_server_version({"name": name, "version": "1.0.0", "description": "v1",
                                 "remotes": [{"type": "sse", "url": "https://e.example.com/sse"}]},
                                source="https://src.example.com", tools=[MCPTool(name="t", description="d")])
    c.create_mcp_server_version({"name": name, "version": "1.2.0-rc.1"}, tools=None)
    c.create_mcp_server_version({"name": name, "version": "1.10.0"}, status=MCPStatus.ACTIVE, tools=None)
    c.get_mcp_server(name)
    c.get_latest_mcp_server_version(name)
    c.search_mcp_server_versions(name, order_by=["`version` DESC"])
    expect_error(c.search_mcp_server_versions, name, order_by=["version DESC"])
    c.search_mcp_server_versions(name, filter_string="version > '1.1.0'", order_by=["created_at DESC"])
    c.update_mcp_server(name, display_name="Diff server")
    c.set_mcp_server_tag(name, "team", "x")
    c.set_mcp_server_version_tag(name, "1.0.0", "ok", "yes")
    c.set_mcp_server_alias(name, "prod", "1.0.0")
    c.get_mcp_server_version_by_alias(name, "prod")
    e1 = c.create_mcp_access_endpoint(name, "https://gw.example.com/a", server_alias="prod")
    c.create_mcp_access_endpoint(name, "https://gw.example.com/b", server_alias="latest", transport_type="sse")
    c.get_mcp_access_endpoint(name, e1.id)
    c.search_mcp_access_endpoints(server_name=name, filter_string="status = 'active'")
    c.update_mcp_access_endpoint(name, e1.id, server_version="1.2.0-rc.1")
    c.update_mcp_server_version(name, "1.0.0", status=MCPStatus.ACTIVE)
    c.search_mcp_servers(filter_string=f"name = '{name}' AND tags.team = 'x'")
    c.search_mcp_servers(filter_string=f"name = '{name}'", max_results=1)
    expect_error(c.update_mcp_server_version, name, "1.2.0-rc.1", status=MCPStatus.DEPRECATED)
    expect_error(c.delete_mcp_server_version, name, "1.10.0")
    expect_error(c.set_mcp_server_alias, name, "latest", "1.0.0")
    expect_error(c.create_mcp_access_endpoint, name, "https://x.example.com")
    expect_error(c.get_mcp_server_version, name, "9.9.9")
    requests.post(base, json={"name": "noslash"}, timeout=15)
    requests.post(base, json={"name": name + "x", "description": 3}, timeout=15)
    requests.post(base, json={}, timeout=15)
    requests.post(f"{base}/{q}/versions", json={"server_json": {"name": name, "version": "1.0"}}, timeout=15)
    requests.post(f"{base}/{q}/versions", json={"server_json": {"name": name, "version": "3.0.0"},
                                                "status": "deleted"}, timeout=15)
    requests.get(base, params={"max_results": 0}, timeout=15)
    requests.get(base, params={"max_results": 1001}, timeout=15)
    requests.get(base, params={"filter_string": "name like 'x'"}, timeout=15)
    requests.get(f"{base}/{q}/versions", params={"filter_string": "version LIKE '1%'"}, timeout=15)
    requests.get(f"{base}/{q}/versions", params={"order_by": "name"}, timeout=15)
    requests.get(f"{base}/{q}/endpoints", params={"server_alias": "latest"}, timeout=15)
    c.delete_mcp_server_alias(name, "prod")
    c.delete_mcp_access_endpoint(name, e1.id)
    c.update_mcp_server_version(name, "1.0.0", status=MCPStatus.DEPRECATED)
    c.update_mcp_server_version(name, "1.10.0", status=MCPStatus.DEPRECATED)
    c.delete_mcp_server_version(name, "1.0.0")
    c.search_mcp_access_endpoints(server_name=name)
    c.delete_mcp_server(name)
    expect_error(c.get_mcp_server, name)


SCENARIOS = {
    "traces": sc_traces,
    "trace_metrics": sc_trace_metrics,   # issue 12: the Overview tab
    "experiments": sc_experiments,
    "run_lifecycle": sc_run_lifecycle,
    "values": sc_values,
    "log_batch": sc_log_batch,
    "search_runs": sc_search_runs,
    "inputs": sc_inputs,
    "mcp_servers": sc_mcp_servers,   # issue 12: the MCP registry page
}


@pytest.fixture(scope="module")
def allowlist():
    return D.load_allowlist()


def _without_version_probe(exchanges):
    """The tracing client asks a server's /version once per process and URL: a scenario after
    another one that traced sees it only on the fresh cairn-server, not on the shared MLflow one."""
    return [e for e in exchanges if e.label() != "GET /version"]


def _mcp_endpoints_by_url(exchanges):
    """A server's endpoints (and an endpoint search without order_by) come in id order, and ids are
    random: list them by url on both sides."""
    def walk(v):
        if isinstance(v, dict):
            return {k: (sorted((walk(x) for x in y), key=lambda e: str(e.get("url")))
                        if k in ("access_endpoints", "mcp_access_endpoints") and isinstance(y, list) else walk(y))
                    for k, y in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v
    for e in exchanges:
        e.response = walk(e.response)
    return exchanges


# scenarios whose exchanges are filtered before the comparison
PREPARE = {"trace_metrics": _without_version_probe, "mcp_servers": _mcp_endpoints_by_url}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_differential(name, cairn_factory, mlflow_server, allowlist):
    D.run_and_compare(name, SCENARIOS[name], cairn_factory().url, mlflow_server.url, allowlist,
                      prepare=PREPARE.get(name))


def test_compare_self_check():
    """The normaliser hides ids/timestamps but not real differences."""
    def ex(eid, rid, value, status=200, extra=None):
        resp = {"run": {"info": {"run_id": rid, "run_uuid": rid, "experiment_id": eid,
                                 "start_time": int(D.time.time() * 1000),
                                 "artifact_uri": f"mlflow-artifacts:/{eid}/{rid}/artifacts"},
                        "data": {"metrics": [{"key": "m", "value": value, "timestamp": 5, "step": 2 ** 62}]}}}
        resp["run"]["info"].update(extra or {})
        return D.Exchange("GET", "/api/2.0/mlflow/runs/get", [("run_id", rid)], None, status, resp,
                          "application/json")
    a = D.normalise([ex("3", "a" * 32, 1.0)], "u1")
    b = D.normalise([ex("17", "b" * 32, 1.0)], "u2")
    assert D.compare("s", a, b) == []
    c = D.normalise([ex("3", "a" * 32, "Infinity", extra={"workspace": "default"})], "u1")
    out = D.compare("s", c, b)
    assert any("value: type cairn=str mlflow=float" in m for m in out), out
    assert any("info.workspace: only on cairn" in m for m in out), out
    d = D.normalise([ex("3", "a" * 32, 1.0, status=404)], "u1")
    assert any("status: cairn=404 mlflow=200" in m for m in D.compare("s", d, b))
    pats = [D.re.compile(r"info\.workspace: only on cairn")]
    bad, ok = D.split_accepted(out, pats)
    assert len(ok) == 1 and len(bad) == len(out) - 1
