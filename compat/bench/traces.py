#!/usr/bin/env python3
"""make bench-traces: Cairn's trace store against MLflow's own server, side
by side on one private PostgreSQL (tests/pg.sh), one server under load at a
time. Three rows, as issue 14 asks:

  ingest   spans per second over OTLP/HTTP (POST /v1/traces, protobuf),
           8 client threads, each request one 100-span trace; and PostgreSQL's
           own COPY ceiling for the same span rows (psycopg2 copy_expert)
  search   search_traces with a tag filter over N traces (p50 of one page of 100)
  get      GET /api/3.0/mlflow/traces/get of one trace of 1,000 spans (p50)

The N traces for search are written straight into each server's own tables
(same rows, same tags) so that seeding MLflow does not take an hour.
QUICK=1 (or --quick): 10,000 traces and short runs. Prints a table and writes
compat/bench/results/bench-traces-{quick,full}.json. Run with .venv/bin/python.
"""
import argparse
import datetime
import http.client
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psycopg2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CAIRN = os.path.join(ROOT, "build", "cairn-server")
MLFLOW = os.path.join(ROOT, ".venv", "bin", "mlflow")
PROFILES = {
    "quick": dict(traces=10_000, ingest_s=4.0, lookups=20),
    "full": dict(traces=100_000, ingest_s=15.0, lookups=50),
}
CLIENTS = 8
SPANS_PER_TRACE = 100


def log(msg):
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, headers=None, timeout=300):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = {"Content-Type": "application/json"} if isinstance(body, (dict, list)) else {}
    h.update(headers or {})
    data = json.dumps(body) if isinstance(body, (dict, list)) else body
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    out = r.read()
    c.close()
    return r.status, out


def wait_ok(port, deadline):
    while time.time() < deadline:
        try:
            if request(port, "GET", "/health", timeout=2)[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def trace_body(trace_no, n_spans, payload="x" * 64):
    """One trace of n_spans spans (root + children) as an OTLP protobuf body."""
    tid = trace_no.to_bytes(16, "big")
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    t0 = 1_800_000_000_000_000_000 + trace_no * 1_000_000
    for i in range(n_spans):
        s = Span(trace_id=tid, span_id=(i + 1).to_bytes(8, "big"), name=f"span-{i}",
                 start_time_unix_nano=t0 + i * 1000, end_time_unix_nano=t0 + i * 1000 + 500)
        if i:
            s.parent_span_id = (1).to_bytes(8, "big")
        s.attributes.extend([
            KeyValue(key="mlflow.spanType", value=AnyValue(string_value="LLM" if i % 3 else "TOOL")),
            KeyValue(key="mlflow.spanInputs", value=AnyValue(string_value=payload)),
            KeyValue(key="step", value=AnyValue(int_value=i)),
        ])
        s.status.code = 1
        spans.append(s)
    return req.SerializeToString()


class Server:
    def __init__(self, name, argv, port, logdir):
        self.name, self.argv, self.port = name, argv, port
        self.log = open(os.path.join(logdir, f"{name}.log"), "wb")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, cwd=tempfile.gettempdir())
        if not wait_ok(self.port, time.time() + 600):   # MLflow's workers start slowly on a loaded machine
            raise SystemExit(f"{self.name} did not start (see {self.log.name})")

    def stop(self):
        if self.proc:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


def create_experiment(port, name):
    st, out = request(port, "POST", "/api/2.0/mlflow/experiments/create", {"name": name})
    assert st == 200, out
    return json.loads(out)["experiment_id"]


def ingest(port, exp, seconds, first_trace):
    """8 threads posting 100-span traces for `seconds`: spans/s accepted."""
    bodies = [trace_body(first_trace + i, SPANS_PER_TRACE) for i in range(CLIENTS * 4)]
    counter = [first_trace + len(bodies)]
    lock = threading.Lock()
    done = [0] * CLIENTS
    errors = [0]
    stop_at = time.time() + seconds

    def worker(k):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.time() < stop_at:
            with lock:
                n = counter[0]
                counter[0] += 1
            # a fresh trace id each request: patch the 16 id bytes in a template body
            body = bodies[k].replace((first_trace + k).to_bytes(16, "big"), n.to_bytes(16, "big"))
            c.request("POST", "/v1/traces", body=body, headers={
                "Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": str(exp)})
            r = c.getresponse()
            r.read()
            if r.status == 200:
                done[k] += SPANS_PER_TRACE
            else:
                errors[0] += 1
        c.close()

    t0 = time.time()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    return sum(done) / elapsed, errors[0]


def p50_ms(fn, n, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def seed_sql(conn, kind, exp, n):
    """n traces in one experiment, tag team = team-(i % 50), straight into the server's tables."""
    cur = conn.cursor()
    base = 1_790_000_000_000
    if kind == "cairn":
        cur.execute("SET search_path TO cairn")
        cur.execute("INSERT INTO trace_info (trace_id, experiment_id, request_time, execution_duration, state)"
                    " SELECT 'tr-' || md5('s' || i), %s, %s + i, 10, 'OK' FROM generate_series(1, %s) i",
                    (int(exp), base, n))
        cur.execute("INSERT INTO trace_tags (trace_id, key, value) SELECT 'tr-' || md5('s' || i), k, v FROM"
                    " generate_series(1, %s) i, LATERAL (VALUES ('team', 'team-' || (i %% 50)),"
                    " ('mlflow.traceName', 'bench')) t(k, v)", (n,))
    else:
        cur.execute("INSERT INTO trace_info (request_id, experiment_id, timestamp_ms, execution_time_ms, status,"
                    " trace_name) SELECT 'tr-' || md5('s' || i), %s, %s + i, 10, 'OK', 'bench'"
                    " FROM generate_series(1, %s) i", (int(exp), base, n))
        cur.execute("INSERT INTO trace_tags (request_id, key, value) SELECT 'tr-' || md5('s' || i), 'team',"
                    " 'team-' || (i %% 50) FROM generate_series(1, %s) i", (n,))
    cur.execute("ANALYZE")
    conn.commit()


def copy_ceiling(conn, seconds):
    """PostgreSQL's own COPY rate for span rows like the ones ingested (spans/s)."""
    cur = conn.cursor()
    # a logged table with the spans table's indexes, in the same cluster Cairn writes to
    cur.execute("CREATE TABLE copy_spans (trace_id text, span_id text, parent_span_id text, name text,"
                " span_type text, status text, start_time_ns bigint, end_time_ns bigint, content text,"
                " PRIMARY KEY (trace_id, span_id))")
    cur.execute("CREATE INDEX ON copy_spans (name, trace_id)")
    cur.execute("CREATE INDEX ON copy_spans (span_type, trace_id)")
    conn.commit()
    content = json.dumps({"name": "span", "attributes": [{"key": "mlflow.spanInputs",
                                                         "value": {"string_value": "x" * 64}}] * 3})
    rows = io.StringIO()
    for t in range(100):
        for s in range(SPANS_PER_TRACE):
            rows.write(f"tr-{t:032x}\t{s:016x}\t\\N\tspan-{s}\tLLM\tOK\t{t * 1000 + s}\t{t * 1000 + s + 1}\t"
                       f"{content}\n")
    data = rows.getvalue()
    n = 0
    t0 = time.time()
    batch = 0
    while time.time() - t0 < seconds:
        cur.execute("TRUNCATE copy_spans") if batch % 10 == 0 else None
        cur.copy_expert("COPY copy_spans FROM STDIN", io.StringIO(data.replace("tr-", f"b{batch}-")))
        conn.commit()
        n += 100 * SPANS_PER_TRACE
        batch += 1
    rate = n / (time.time() - t0)
    cur.execute("DROP TABLE copy_spans")
    conn.commit()
    return rate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", default=bool(os.environ.get("QUICK")))
    ap.add_argument("--mlflow-workers", type=int, default=int(os.environ.get("MLFLOW_WORKERS", "2")))
    args = ap.parse_args()
    prof = PROFILES["quick" if args.quick else "full"]
    tmp = tempfile.mkdtemp(prefix="cairn-bench-traces-")
    os.chmod(tmp, 0o755)
    sock = subprocess.check_output([os.path.join(ROOT, "tests", "pg.sh"), "start", os.path.join(tmp, "pg")],
                                   text=True).strip()
    servers = []
    results = {"profile": "quick" if args.quick else "full", "traces": prof["traces"], "clients": CLIENTS,
               "spans_per_trace": SPANS_PER_TRACE, "rows": {}}
    try:
        admin = psycopg2.connect(f"postgresql://postgres@/postgres?host={sock}")
        admin.autocommit = True
        for db in ("cairn_tr", "mlflow_tr"):
            admin.cursor().execute(f'CREATE DATABASE "{db}"')
        cport, mport = free_port(), free_port()
        art = os.path.join(tmp, "art")
        os.makedirs(art)
        cairn = Server("cairn", [CAIRN, "--backend-store-uri", f"postgresql://postgres@/cairn_tr?host={sock}",
                                 "--host", "127.0.0.1", "--port", str(cport), "--artifacts-destination", art],
                       cport, tmp)
        mlflow = Server("mlflow", [MLFLOW, "server", "--backend-store-uri",
                                   f"postgresql+psycopg2://postgres@/mlflow_tr?host={sock}", "--host", "127.0.0.1",
                                   "--port", str(mport), "--artifacts-destination", art,
                                   "--workers", str(args.mlflow_workers)], mport, tmp)
        servers = [cairn, mlflow]
        for s in servers:
            log(f"starting {s.name}")
            s.start()
        rows = results["rows"]
        for s, kind, db in ((cairn, "cairn", "cairn_tr"), (mlflow, "mlflow", "mlflow_tr")):
            exp_ingest = create_experiment(s.port, "ingest")
            exp_search = create_experiment(s.port, "search")
            exp_get = create_experiment(s.port, "get")
            log(f"{s.name}: OTLP ingest, {CLIENTS} clients x {SPANS_PER_TRACE}-span traces, {prof['ingest_s']} s")
            rate, errs = ingest(s.port, exp_ingest, prof["ingest_s"], 1_000_000)
            rows.setdefault("ingest_spans_per_s", {})[kind] = rate
            rows.setdefault("ingest_errors", {})[kind] = errs
            log(f"{s.name}: seeding {prof['traces']} traces for search")
            conn = psycopg2.connect(f"postgresql://postgres@/{db}?host={sock}")
            seed_sql(conn, kind, exp_search, prof["traces"])
            conn.close()
            body = {"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp_search}}],
                    "filter": "tag.team = 'team-7'", "max_results": 100}

            def search():
                st, out = request(s.port, "POST", "/api/3.0/mlflow/traces/search", body)
                assert st == 200 and len(json.loads(out)["traces"]) == 100, out[:300]
            rows.setdefault("search_p50_ms", {})[kind] = p50_ms(search, prof["lookups"])
            log(f"{s.name}: one 1,000-span trace")
            st, out = request(s.port, "POST", "/v1/traces", trace_body(77, 1000),
                              {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": str(exp_get)})
            assert st == 200, out
            tid = "tr-" + (77).to_bytes(16, "big").hex()

            def get():
                st, out = request(s.port, "GET", f"/api/3.0/mlflow/traces/get?trace_id={tid}&allow_partial=true")
                assert st == 200 and len(json.loads(out)["trace"]["spans"]) == 1000, out[:300]
            rows.setdefault("get_1000_spans_p50_ms", {})[kind] = p50_ms(get, prof["lookups"])
        conn = psycopg2.connect(f"postgresql://postgres@/cairn_tr?host={sock}")
        rows["copy_ceiling_spans_per_s"] = copy_ceiling(conn, prof["ingest_s"])
        conn.close()
    finally:
        for s in servers:
            s.stop()
        subprocess.call([os.path.join(ROOT, "tests", "pg.sh"), "stop", os.path.join(tmp, "pg")],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)
    r = results["rows"]
    ing, srch, get = r["ingest_spans_per_s"], r["search_p50_ms"], r["get_1000_spans_p50_ms"]
    ceiling = r["copy_ceiling_spans_per_s"]
    lines = [
        f"Cairn vs MLflow (traces, {results['profile']} profile: {results['traces']} traces for search, "
        f"{CLIENTS} OTLP clients x {SPANS_PER_TRACE}-span traces; {datetime.datetime.now():%Y-%m-%d %H:%M})",
        "",
        "| workload | unit | MLflow | Cairn | Cairn/MLflow | target | PG COPY ceiling | Cairn vs ceiling |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        f"| OTLP span ingest | spans/s | {ing['mlflow']:,.0f} | {ing['cairn']:,.0f} | "
        f"{ing['cairn'] / max(ing['mlflow'], 1e-9):.1f}x | 10x | {ceiling:,.0f} | {ing['cairn'] / ceiling:.0%} |",
        f"| search_traces, tag filter, {results['traces']:,} traces (p50) | ms | {srch['mlflow']:.1f} | "
        f"{srch['cairn']:.1f} | {srch['mlflow'] / srch['cairn']:.1f}x | 10x | | |",
        f"| get one trace of 1,000 spans (p50) | ms | {get['mlflow']:.1f} | {get['cairn']:.1f} | "
        f"{get['mlflow'] / get['cairn']:.1f}x | 10x | | |",
    ]
    print("\n".join(lines))
    if r["ingest_errors"]["cairn"] or r["ingest_errors"]["mlflow"]:
        print(f"ingest errors: {r['ingest_errors']}")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", f"bench-traces-{results['profile']}.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
