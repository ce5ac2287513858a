"""POST /v1/traces: the real OpenTelemetry OTLP/HTTP exporter (protobuf,
gzip), OTLP JSON, exact nanosecond times and attribute values, a trace of
10,000 spans read back whole, and hostile bodies: malformed and truncated
protobuf, deep nesting, huge attribute maps, unknown fields, bad ids,
oversized and compressed-bomb bodies: each a 4xx, nothing half-stored."""
import gzip
import json
import os

import pytest
import requests

import mlflow
from conftest import TARGET, unique

if int(mlflow.__version__.split(".")[0]) < 3:
    pytest.skip("OTLP ingest is an MLflow 3 feature", allow_module_level=True)

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

pytestmark = pytest.mark.mlflow3
M3 = "/api/3.0/mlflow"


@pytest.fixture
def exp(client):
    return client.create_experiment(unique("otlp"))


def _span(trace_id, span_id, parent=b"", name="s", start=1_700_000_000_123_456_789, end=1_700_000_001_987_654_321,
          attrs=(), status=Status.STATUS_CODE_OK):
    s = Span(trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=name,
             start_time_unix_nano=start, end_time_unix_nano=end)
    for k, v in attrs:
        s.attributes.append(KeyValue(key=k, value=v))
    s.status.code = status
    return s


def _varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _field(number, payload):
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _request(*spans):
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.scope_spans.add().spans.extend(spans)
    return req


def _post(base_url, exp, body, ctype="application/x-protobuf", **headers):
    h = {"Content-Type": ctype, "x-mlflow-experiment-id": str(exp)}
    h.update(headers)
    return requests.post(base_url + "/v1/traces", data=body, headers=h, timeout=60)


def _trace(base_url, trace_id, partial=False):
    return requests.get(f"{base_url}{M3}/traces/get", params={"trace_id": trace_id, "allow_partial": partial},
                        timeout=60)


def _search(base_url, exp):
    r = requests.post(f"{base_url}{M3}/traces/search", json={"locations": [
        {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": str(exp)}}]}, timeout=60)
    return r.json().get("traces", [])


def test_sdk_exporter_protobuf_and_gzip(exp, base_url):
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    for compression in (Compression.NoCompression, Compression.Gzip):
        provider = TracerProvider(resource=Resource.create({"service.name": "compat"}))
        exporter = OTLPSpanExporter(endpoint=base_url + "/v1/traces", compression=compression,
                                    headers={"x-mlflow-experiment-id": str(exp)})
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("compat")
        with tracer.start_as_current_span("root") as root:
            root.set_attribute("answer", 42)
            root.set_attribute("ratio", 0.25)
            root.set_attribute("tags", ["a", "b"])
            with tracer.start_as_current_span("child") as child:
                child.add_event("hello", {"k": "v"})
        provider.shutdown()
        tid = "tr-" + format(root.get_span_context().trace_id, "032x")
        r = _trace(base_url, tid)
        assert r.status_code == 200, r.text
        spans = r.json()["trace"]["spans"]
        assert [s["name"] for s in spans] == ["root", "child"]
        attrs = {a["key"]: a["value"] for a in spans[0]["attributes"]}
        assert attrs["answer"] == {"int_value": 42} and attrs["ratio"] == {"double_value": 0.25}
        assert attrs["tags"] == {"array_value": {"values": [{"string_value": "a"}, {"string_value": "b"}]}}
        assert attrs["mlflow.traceRequestId"] == {"string_value": tid}
        assert spans[0]["start_time_unix_nano"] == root.start_time and spans[0]["end_time_unix_nano"] == root.end_time
        assert spans[1]["events"][0]["name"] == "hello"
        info = r.json()["trace"]["trace_info"]
        assert info["state"] == "OK" and info["tags"]["mlflow.trace.spansLocation"] == "TRACKING_STORE"


def test_exact_values_json_and_client_read(exp, base_url):
    tid, sid, cid = os.urandom(16), os.urandom(8), os.urandom(8)
    big = 2**63 - 1
    root = _span(tid, sid, name="root", start=1_700_000_000_000_000_001, end=1_700_000_000_999_999_999, attrs=[
        ("mlflow.spanInputs", AnyValue(kvlist_value={"values": [KeyValue(key="q", value=AnyValue(string_value="hi"))]})),
        ("mlflow.spanType", AnyValue(string_value="CHAIN")),
        ("big", AnyValue(int_value=big)), ("neg", AnyValue(double_value=-1.5e-300)),
        ("mlflow.traceTag.owner", AnyValue(string_value="ana")),
        ("mlflow.traceRequestId", AnyValue(string_value="tr-forged"))])
    assert _post(base_url, exp, _request(root).SerializeToString()).status_code == 200
    # the child over OTLP JSON: hex ids, camelCase, int64 as strings
    child = {"traceId": tid.hex(), "spanId": cid.hex(), "parentSpanId": sid.hex(), "name": "child",
             "startTimeUnixNano": "1700000000100000000", "endTimeUnixNano": "1700000000200000000",
             "attributes": [{"key": "n", "value": {"intValue": "7"}}], "status": {"code": 2, "message": "bad"}}
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [child]}]}]})
    r = _post(base_url, exp, body, ctype="application/json")
    assert r.status_code == 200, r.text
    mlflow_id = "tr-" + tid.hex()
    t = _trace(base_url, mlflow_id).json()["trace"]
    root_out, child_out = t["spans"]
    assert root_out["start_time_unix_nano"] == 1_700_000_000_000_000_001
    attrs = {a["key"]: a["value"] for a in root_out["attributes"]}
    assert attrs["big"] == {"int_value": big} and attrs["neg"] == {"double_value": -1.5e-300}
    assert attrs["mlflow.traceRequestId"] == {"string_value": mlflow_id}    # the server's id, not the client's
    assert child_out["status"] == {"code": "STATUS_CODE_ERROR", "message": "bad"}
    info = t["trace_info"]
    assert info["tags"]["owner"] == "ana" and info["request_preview"] == '{"q": "hi"}'
    assert info["request_time"] == "2023-11-14T22:13:20Z" and info["execution_duration"] == "0.999s"
    # the real client reads it back
    tr = mlflow.MlflowClient(base_url).get_trace(mlflow_id)
    assert {s.name for s in tr.data.spans} == {"root", "child"}
    assert [s for s in tr.data.spans if s.name == "root"][0].span_type == "CHAIN"


def test_spans_over_several_requests_resent_escaped_and_deleted(exp, base_url, client):
    """A trace's first request copies its spans in; later ones upsert (a
    span sent again replaces its copy); COPY's special characters survive;
    a bad row fails its whole request; deleting the trace deletes its spans."""
    tid, root_id, a_id, b_id = os.urandom(16), os.urandom(8), os.urandom(8), os.urandom(8)
    mlflow_id = "tr-" + tid.hex()
    odd = "tab\there\nnew line\\back\\slash\r\\N end"
    first = _request(_span(tid, root_id, name="root", start=10, end=100),
                     _span(tid, a_id, parent=root_id, name="a-old", start=20, end=30),
                     _span(tid, a_id, parent=root_id, name=odd, start=20, end=30,
                           attrs=[("v", AnyValue(string_value=odd))]))   # same id twice: the last wins
    assert _post(base_url, exp, first.SerializeToString()).status_code == 200
    t = _trace(base_url, mlflow_id).json()["trace"]
    assert [s["name"] for s in t["spans"]] == ["root", odd]
    assert {a["key"]: a["value"] for a in t["spans"][1]["attributes"]}["v"] == {"string_value": odd}
    second = _request(_span(tid, b_id, parent=root_id, name="b", start=40, end=50),
                      _span(tid, a_id, parent=root_id, name="a-new", start=21, end=31))
    assert _post(base_url, exp, second.SerializeToString()).status_code == 200
    t = _trace(base_url, mlflow_id).json()["trace"]
    assert [(s["name"], s["start_time_unix_nano"]) for s in t["spans"]] == [("root", 10), ("a-new", 21), ("b", 40)]
    # a name that is not UTF-8 (protobuf-c does not check; PostgreSQL refuses it): 400, and the
    # new trace beside it in the same request is not stored
    other = os.urandom(16)
    bad = _span(tid, os.urandom(8), parent=root_id).SerializeToString() + _field(5, b"\xc3\x28")
    body = _field(1, _field(2, _field(2, bad) + _field(2, _span(other, os.urandom(8)).SerializeToString())))
    r = _post(base_url, exp, body)
    assert r.status_code == 400, r.text
    assert _trace(base_url, "tr-" + other.hex()).status_code == 404
    assert len(_trace(base_url, mlflow_id).json()["trace"]["spans"]) == 3
    # deleted, then the same trace id sent again: only the new span
    assert client.delete_traces(experiment_id=exp, trace_ids=[mlflow_id]) == 1
    assert _trace(base_url, mlflow_id).status_code == 404
    again = _request(_span(tid, b_id, name="only", start=5, end=6))
    assert _post(base_url, exp, again.SerializeToString()).status_code == 200
    assert [s["name"] for s in _trace(base_url, mlflow_id).json()["trace"]["spans"]] == ["only"]


def test_span_links_kept(exp, base_url):
    """OTLP span links (protobuf from the SDK exporter, and OTLP JSON) are
    stored with the span and read back: as OTLP by traces/get, as MLflow's
    Link by the client, and in get-trace-artifact's traces.json."""
    import base64
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Link

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=base_url + "/v1/traces", headers={"x-mlflow-experiment-id": str(exp)})))
    tracer = provider.get_tracer("links")
    with tracer.start_as_current_span("first") as first:
        pass
    ctx = first.get_span_context()
    with tracer.start_as_current_span("second", links=[Link(ctx, {"why": "follows", "n": 3})]) as second:
        pass
    provider.shutdown()
    first_id, tid = "tr-" + format(ctx.trace_id, "032x"), "tr-" + format(second.get_span_context().trace_id, "032x")
    span = _trace(base_url, tid).json()["trace"]["spans"][0]
    assert span["links"] == [{"trace_id": base64.b64encode(ctx.trace_id.to_bytes(16, "big")).decode(),
                              "span_id": base64.b64encode(ctx.span_id.to_bytes(8, "big")).decode(),
                              "attributes": [{"key": "why", "value": {"string_value": "follows"}},
                                             {"key": "n", "value": {"int_value": 3}}]}]
    link = mlflow.MlflowClient(base_url).get_trace(tid).data.spans[0].links[0]
    assert (link.trace_id, link.span_id) == (first_id, format(ctx.span_id, "016x"))
    assert link.attributes == {"why": "follows", "n": 3}
    r = requests.get(f"{base_url}/ajax-api/2.0/mlflow/get-trace-artifact", params={"request_id": tid})
    assert r.json()["spans"][0]["links"] == [{"trace_id": first_id, "span_id": format(ctx.span_id, "016x"),
                                              "attributes": {"why": "follows", "n": 3}}]
    if TARGET == "mlflow":
        return   # MLflow reads OTLP JSON ids as protobuf JSON's base64, not OTLP/JSON's hex (DIFFERENCES)
    # OTLP JSON: hex ids; a link without attributes; a link with a too-short id is dropped
    t2, s2 = os.urandom(16), os.urandom(8)
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": t2.hex(), "spanId": s2.hex(), "name": "j", "startTimeUnixNano": "1", "endTimeUnixNano": "2",
        "links": [{"traceId": ctx.trace_id.to_bytes(16, "big").hex(), "spanId": ctx.span_id.to_bytes(8, "big").hex()},
                  {"traceId": "ab", "spanId": "cd"}]}]}]}]})
    assert _post(base_url, exp, body, ctype="application/json").status_code == 200
    links = mlflow.MlflowClient(base_url).get_trace("tr-" + t2.hex()).data.spans[0].links
    assert [(x.trace_id, x.span_id, x.attributes) for x in links] == [(first_id, format(ctx.span_id, "016x"), None)]


def test_ten_thousand_spans_read_back_whole(exp, base_url):
    tid, root_id = os.urandom(16), os.urandom(8)
    spans = [_span(tid, root_id, name="root", start=1, end=10**9)]
    for i in range(9999):
        spans.append(_span(tid, (i + 1).to_bytes(8, "big"), parent=root_id, name=f"c{i}", start=2 + i, end=3 + i,
                           attrs=[("i", AnyValue(int_value=i))]))
    body = _request(*spans).SerializeToString()
    r = _post(base_url, exp, gzip.compress(body), **{"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    t = _trace(base_url, "tr-" + tid.hex()).json()["trace"]
    assert len(t["spans"]) == 10000
    assert t["spans"][0]["name"] == "root" and t["spans"][-1]["name"] == "c9998"


def test_hostile_bodies(exp, base_url):
    tid, sid = os.urandom(16), os.urandom(8)
    good = _request(_span(tid, sid)).SerializeToString()
    before = len(_search(base_url, exp))
    # missing experiment header: FastAPI's 422
    r = requests.post(base_url + "/v1/traces", data=good, headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["header", "x-mlflow-experiment-id"]
    assert _post(base_url, exp, good, ctype="text/plain").status_code == 400
    for bad in (b"\xff\xff\xff", good[:-3], b"\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80", b"\x0b\x0c"):
        r = _post(base_url, exp, bad)
        assert r.status_code == 400, (bad, r.text)
    assert _post(base_url, exp, b"").status_code == 400                     # no spans
    assert _post(base_url, exp, b"{not json", ctype="application/json").status_code == 400
    assert _post(base_url, exp, good, **{"Content-Encoding": "gzip"}).status_code == 400
    assert _post(base_url, exp, good, **{"Content-Encoding": "br"}).status_code == 400
    # AnyValue nested 200 deep: refused before protobuf-c recurses
    # (built by hand: Python's protobuf refuses to nest beyond 100)
    v = AnyValue(string_value="x").SerializeToString()
    for _ in range(200):
        arr = _field(1, v)                      # ArrayValue.values
        v = _field(5, arr)                      # AnyValue.array_value
    span = _span(tid, sid).SerializeToString() + _field(9, _field(1, b"deep") + _field(2, v))
    deep = _field(1, _field(2, _field(2, span)))   # request.resource_spans.scope_spans.spans
    assert _post(base_url, exp, deep).status_code == 400
    # a bad span id fails the whole batch: the good span beside it is not stored
    batch = _request(_span(os.urandom(16), os.urandom(8)), _span(tid, b"\x01\x02")).SerializeToString()
    assert _post(base_url, exp, batch).status_code == 422
    # unknown experiment: MLflow's 404, nothing stored
    r = _post(base_url, "987654321", good)
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    # a 40 MiB body and a gzip bomb: 413
    assert _post(base_url, exp, b"\x00" * (40 << 20)).status_code == 413
    bomb = gzip.compress(b"\x00" * (64 << 20))
    assert _post(base_url, exp, bomb, **{"Content-Encoding": "gzip"}).status_code == 413
    assert len(_search(base_url, exp)) == before
    # unknown fields are skipped; a huge attribute map is stored whole
    attrs = [(f"k{i}", AnyValue(string_value="v" * 20)) for i in range(20000)]
    req = _request(_span(tid, sid, attrs=attrs))
    body = req.SerializeToString() + b"\xfa\x3e\x03abc"      # field 999, length-delimited
    assert _post(base_url, exp, body).status_code == 200
    t = _trace(base_url, "tr-" + tid.hex()).json()["trace"]
    assert len(t["spans"][0]["attributes"]) == 20001
