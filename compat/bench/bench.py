#!/usr/bin/env python3
"""make bench: Cairn and MLflow's own server side by side on one PostgreSQL.

One private cluster (tests/pg.sh), two databases (mlflow_ref, cairn_bench),
the same data seeded into both (seed.py) and checked through the REST API,
then every workload against each server in turn, rounds alternating the
order, one server under load at a time, the load from build/bench/loadgen
(C, libcurl multi). PostgreSQL ceilings are measured in the same run with
pgbench on Cairn's database. Prints one table and writes results/*.json and
*.svg. Run with .venv/bin/python (psycopg2).
"""
import argparse
import datetime
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import seed  # noqa: E402
import report  # noqa: E402
import burst  # noqa: E402

LOADGEN = os.path.join(ROOT, "build", "bench", "loadgen")
CAIRN = os.path.join(ROOT, "build", "cairn-server")
MLFLOW = os.path.join(ROOT, ".venv", "bin", "mlflow")

PROFILES = {
    # runs in the search experiment, points of the history metric, seconds per
    # workload run, warm-up seconds, rounds, registered models
    "quick": dict(runs=5_000, hist=100_000, duration=1.5, warmup=0.3, rounds=1, models=1_000,
                  page_offset=100, history_reads=2, cold_starts=3, burst_points=80_000, burst_runs=300),
    "full": dict(runs=100_000, hist=1_000_000, duration=15.0, warmup=3.0, rounds=3, models=10_000,
                 page_offset=900, history_reads=2, cold_starts=5, burst_points=360_000, burst_runs=1_500),
}
SEARCH_FILTER = "metrics.m0 < 0.5 and params.p3 = '7'"
# W5 (registry): 1 model in 30 has both tags; the name prefix picks 11 (quick) / 111 (full) models
REG_TAG_FILTER = "tags.team = 'team-3' AND tags.tier = 'tier-1'"
REG_LIKE_FILTER = "name LIKE 'model-12%'"
REG_PAGE = 100
REG_LOOKUPS = 64   # distinct models the point lookups cycle through
SEARCH_ORDER = ["metrics.m1 DESC"]


def qs(**kw):
    return urllib.parse.urlencode(kw, quote_via=urllib.parse.quote)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


PHASES = {}
_T_START = time.monotonic()


def progress(msg):
    PHASES[msg] = round(time.monotonic() - _T_START, 1)
    sys.stderr.write("\r\033[K" + msg if sys.stderr.isatty() else msg + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------- processes

def tree_rss_kb(pid):
    """RSS of pid and all its descendants (PostgreSQL is not a descendant)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
            ppid = int(st[st.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (OSError, ValueError):
            pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class RssSampler(threading.Thread):
    def __init__(self, pid, period=0.25):
        super().__init__(daemon=True)
        self.pid, self.period, self.peak, self.stop_ev = pid, period, 0, threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
            self.peak = max(self.peak, tree_rss_kb(self.pid))
            self.stop_ev.wait(self.period)

    def stop(self):
        self.stop_ev.set()
        self.join()
        self.peak = max(self.peak, tree_rss_kb(self.pid))
        return self.peak


def http_get(port, path, timeout=5.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def http_json(port, method, path, body=None, timeout=120.0, tries=3):
    """One JSON exchange; a dropped connection is retried (uvicorn recycles workers)."""
    for attempt in range(tries):
        try:
            return _http_json(port, method, path, body, timeout)
        except (http.client.RemoteDisconnected, ConnectionResetError) as e:
            if attempt == tries - 1:
                raise
            log(f"warning: port {port}: {method} {path}: {e}; retrying")
            time.sleep(0.5)


def _http_json(port, method, path, body, timeout):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        c.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        raw = r.read()
        try:
            return r.status, (json.loads(raw) if raw else {})
        except ValueError:
            return r.status, {"raw": raw[:200].decode(errors="replace")}
    finally:
        c.close()


def wait_200(port, path, deadline):
    while time.monotonic() < deadline:
        try:
            if http_get(port, path, timeout=2.0)[0] == 200:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.001)
    raise RuntimeError(f"no 200 on {path} from port {port}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    def __init__(self, name, argv, env=None, port=None, log_path=None):
        self.name, self.argv, self.env, self.port, self.log_path = name, argv, env, port, log_path
        self.proc = None

    def start(self, timeout=120.0):
        """Starts and waits for the first 200 on /health and experiments/get; returns those times in ms."""
        logf = open(self.log_path, "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=subprocess.PIPE if self.port is None else logf,
                                     stderr=logf, start_new_session=True)
        deadline = t0 + timeout
        if self.port is None:   # cairn --port 0 prints "listening on http://HOST:PORT"
            line = self.proc.stdout.readline().decode()
            if "listening on" not in line:
                raise RuntimeError(f"{self.name} did not start: {line!r}; see {self.log_path}")
            self.port = int(line.rsplit(":", 1)[1])
            threading.Thread(target=shutil.copyfileobj, args=(self.proc.stdout, logf), daemon=True).start()
        t_health = wait_200(self.port, "/health", deadline)
        t_api = wait_200(self.port, "/api/2.0/mlflow/experiments/get?experiment_id=0", deadline)
        return (t_health - t0) * 1000, (t_api - t0) * 1000

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"


# ---------------------------------------------------------------- harness

class Bench:
    def __init__(self, args):
        self.args = args
        self.p = dict(PROFILES["quick" if args.quick else "full"])
        for k in ("duration", "rounds"):
            if getattr(args, k):
                self.p[k] = getattr(args, k)
        self.tmp = tempfile.mkdtemp(prefix="cairn-bench-")
        os.chmod(self.tmp, 0o755)
        self.results = {"profile": "quick" if args.quick else "full", "params": self.p, "workloads": [],
                        "ceilings": {}, "memory": {}, "cold_start": {}, "data_check": {}, "sql_profile": {}}
        self.sock = None
        self.servers = {}
        self.reg_tokens = {}
        self.registry_compared = 0
        self.samplers = {}

    # -- setup
    def start_pg(self):
        progress("starting PostgreSQL")
        pg = os.path.join(ROOT, "tests", "pg.sh")
        self.sock = subprocess.check_output([pg, "start", self.tmp], text=True).strip()
        self.psql("postgres", "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        self.psql("postgres", "ALTER SYSTEM SET shared_buffers = '1GB'")
        self.psql("postgres", "ALTER SYSTEM SET max_wal_size = '4GB'")
        subprocess.check_call([pg, "restart", self.tmp])
        for db in ("mlflow_ref", "cairn_bench"):
            self.psql("postgres", f"CREATE DATABASE {db}")
            self.psql(db, "CREATE EXTENSION pg_stat_statements")
        self.results["postgres"] = {k: self.psql("postgres", f"SHOW {k}", fetch=True)[0][0] for k in
                                    ("server_version", "shared_buffers", "synchronous_commit", "fsync",
                                     "max_wal_size")}

    def conn(self, db):
        c = psycopg2.connect(host=self.sock, user="postgres", dbname=db)
        c.autocommit = True
        return c

    def psql(self, db, sql, fetch=False):
        c = self.conn(db)
        try:
            with c.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if fetch else None
        finally:
            c.close()

    def start_servers(self):
        progress("migrating MLflow's schema, starting MLflow's server and cairn-server (migrates)")
        env = dict(os.environ, MLFLOW_SQLALCHEMYSTORE_POOL_SIZE="16", MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW="16",
                   MLFLOW_SQLALCHEMYSTORE_ECHO="false")
        self.servers["mlflow"] = Server(
            "mlflow", [MLFLOW, "server", "--backend-store-uri",
                       f"postgresql+psycopg2://postgres@/mlflow_ref?host={self.sock}", "--host", "127.0.0.1",
                       "--port", str(free_port()), "--workers", str(self.args.mlflow_workers),
                       "--artifacts-destination", os.path.join(self.tmp, "mlflow-art")],
            env=env, log_path=os.path.join(self.tmp, "mlflow.log"))
        self.servers["mlflow"].port = int(self.servers["mlflow"].argv[7])
        self.servers["cairn"] = self.cairn_server()
        # schema first, so that the server's first start is a cold start against a migrated database
        subprocess.run([MLFLOW, "db", "upgrade", f"postgresql+psycopg2://postgres@/mlflow_ref?host={self.sock}"],
                       env=env, check=True, capture_output=True)
        t = self.servers["mlflow"].start(timeout=300)
        self.results["cold_start"]["mlflow"] = {"health_ms": t[0], "api_ms": t[1], "all": [t]}
        t = self.servers["cairn"].start()
        self.results["cold_start"]["cairn_empty_db"] = {"health_ms": t[0], "api_ms": t[1]}

    def cairn_server(self):
        data = os.path.join(self.tmp, "cairn-data")
        os.makedirs(data, exist_ok=True)
        argv = [CAIRN, "--port", "0", "--backend-store-uri", f"postgresql://postgres@/cairn_bench?host={self.sock}",
                "--data-dir", data] + self.args.cairn_args.split()
        return Server("cairn", argv, log_path=os.path.join(self.tmp, "cairn.log"))

    def seed(self):
        p = self.p
        progress(f"seeding both databases: {p['runs']:,} runs x 100 metric rows, a {p['hist']:,}-point metric,"
                 f" {p['models']:,} registered models x 5 versions")
        t0 = time.monotonic()
        errors = []

        def one(db, fn, fn_registry):
            try:
                c = self.conn(db)
                with c.cursor() as cur:
                    fn(cur, p["runs"], p["hist"], "mlflow-artifacts:/bench")
                    fn_registry(cur, p["models"])
                    cur.execute("VACUUM ANALYZE")
                c.close()
            except Exception as e:   # reported below
                errors.append(f"{db}: {e}")

        ts = [threading.Thread(target=one, args=("cairn_bench", seed.seed_cairn, seed.seed_registry_cairn)),
              threading.Thread(target=one, args=("mlflow_ref", seed.seed_mlflow, seed.seed_registry_mlflow))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise RuntimeError("seeding failed: " + "; ".join(errors))
        self.results["seed_seconds"] = round(time.monotonic() - t0, 1)
        with open(os.path.join(self.tmp, "write_runs.txt"), "w") as f:
            f.write("".join(seed.write_run_id(i) + "\n" for i in range(seed.WRITE_RUNS)))
        with open(os.path.join(self.tmp, "same_run.txt"), "w") as f:
            f.write(seed.write_run_id(seed.WRITE_RUNS - 1) + "\n")

    # -- identical data, checked through the API
    def check_data(self):
        progress("checking the two data sets through the REST API")
        import random
        rnd = random.Random(7)
        ids = [seed.run_id(rnd.randrange(self.p["runs"])) for _ in range(20)] + [seed.hist_run_id()]
        mismatches, warnings = [], []

        def norm_run(r):
            d = r["run"]["data"]
            i = r["run"]["info"]
            return ({k: i.get(k) for k in ("run_id", "experiment_id", "status", "start_time", "end_time",
                                           "lifecycle_stage", "run_name", "user_id", "artifact_uri")},
                    sorted((m["key"], m["value"], m["step"], m["timestamp"]) for m in d.get("metrics", [])),
                    sorted((x["key"], x["value"]) for x in d.get("params", [])),
                    sorted((x["key"], x["value"]) for x in d.get("tags", []) if not x["key"].startswith("mlflow.")
                           or x["key"] == "mlflow.runName"))

        for rid in ids:
            got = {}
            for name, s in self.servers.items():
                st, body = http_json(s.port, "GET", f"/api/2.0/mlflow/runs/get?run_id={rid}")
                got[name] = norm_run(body) if st == 200 else ("HTTP", st)
            if got["mlflow"] != got["cairn"]:
                mismatches.append({"run_id": rid, "mlflow": repr(got["mlflow"])[:400],
                                   "cairn": repr(got["cairn"])[:400]})
        q = {"experiment_ids": ["1"], "filter": SEARCH_FILTER, "order_by": SEARCH_ORDER, "max_results": 100}
        res = {}
        for name, s in self.servers.items():
            st, body = http_json(s.port, "POST", "/api/2.0/mlflow/runs/search", q)
            res[name] = [r["info"]["run_id"] for r in body.get("runs", [])] if st == 200 else ("HTTP", st)
        if res["mlflow"] != res["cairn"]:
            warnings.append("runs/search (filter + metric order) returns different run ids")
        h = {}
        path = f"/api/2.0/mlflow/metrics/get-history?run_id={seed.hist_run_id()}&metric_key=loss&max_results=50"
        for name, s in self.servers.items():
            st, body = http_json(s.port, "GET", path)
            h[name] = sorted((m["step"], m["value"], m["timestamp"]) for m in body.get("metrics", []))
        if h["mlflow"] != h["cairn"]:
            warnings.append("get-history first page differs")
        mismatches += self.check_registry(rnd)
        self.results["data_check"] = {"runs_compared": len(ids), "mismatches": mismatches, "warnings": warnings,
                                      "search_results": len(res["mlflow"]) if isinstance(res["mlflow"], list) else 0,
                                      "registry_requests_compared": self.registry_compared}
        if mismatches:
            raise RuntimeError(f"seeded data differ between the servers: {mismatches[0]}")
        for w in warnings:
            log(f"warning: {w}")

    def check_registry(self, rnd):
        """The registry through the API: models, searches (and their second page), alias and latest lookups.
        Aliases are compared as sets: MLflow lists them in table order, Cairn by name (compat/DIFFERENCES.md)."""
        def norm(x):
            if isinstance(x, dict):
                return {k: (sorted(map(json.dumps, v)) if k == "aliases" else norm(v)) for k, v in x.items()
                        if k != "next_page_token"}
            return [norm(v) for v in x] if isinstance(x, list) else x

        names = [seed.model_name(rnd.randrange(self.p["models"])) for _ in range(8)]
        paths = [f"registered-models/get?{qs(name=n)}" for n in names]
        paths += [f"registered-models/alias?{qs(name=n, alias=a)}" for n in names[:4] for a in ("champion", "challenger")]
        paths += [f"registered-models/get-latest-versions?{qs(name=n)}" for n in names[:4]]
        paths += [f"model-versions/search?{qs(filter=f'name = {n!r}')}" for n in names[:4]]
        for f in (REG_TAG_FILTER, REG_LIKE_FILTER, None):
            paths += [f"registered-models/search?{qs(filter=f, max_results=REG_PAGE)}" if f else
                      f"registered-models/search?{qs(max_results=REG_PAGE)}"]
        mismatches = []
        for path in paths:
            got = {}
            for name, s in self.servers.items():
                st, body = http_json(s.port, "GET", "/api/2.0/mlflow/" + path)
                got[name] = norm(body) if st == 200 else ("HTTP", st, body)
            if got["mlflow"] != got["cairn"]:
                mismatches.append({"path": path, "mlflow": repr(got["mlflow"])[:400], "cairn": repr(got["cairn"])[:400]})
        # the second page of the tag search, each server with its own token
        pages = {}
        for name, s in self.servers.items():
            st, body = http_json(s.port, "GET", "/api/2.0/mlflow/" + self.registry_page_path(name))
            pages[name] = [m["name"] for m in body.get("registered_models", [])] if st == 200 else ("HTTP", st)
        if pages["mlflow"] != pages["cairn"] or not pages["cairn"]:
            mismatches.append({"path": "registered-models/search page 2", "mlflow": repr(pages["mlflow"])[:400],
                               "cairn": repr(pages["cairn"])[:400]})
        self.registry_compared = len(paths) + 1
        return mismatches

    def registry_page_path(self, server):
        """registered-models/search with the tag filter, second page (token from this server's first page)."""
        if server not in self.reg_tokens:
            st, body = http_json(self.servers[server].port, "GET", "/api/2.0/mlflow/registered-models/search?"
                                 + qs(filter=REG_TAG_FILTER, max_results=REG_PAGE))
            self.reg_tokens[server] = body.get("next_page_token") if st == 200 else None
        return "registered-models/search?" + qs(filter=REG_TAG_FILTER, max_results=REG_PAGE,
                                                page_token=self.reg_tokens[server] or "")

    # -- PostgreSQL ceilings (pgbench on Cairn's database, schema "ceiling")
    def pgbench(self, script, clients, seconds=None, transactions=None):
        path = os.path.join(self.tmp, f"pgb-{abs(hash(script))}.sql")
        with open(path, "w") as f:
            f.write(script)
        cmd = ["pgbench", "-n", "-h", self.sock, "-U", "postgres", "-c", str(clients), "-j", str(min(clients, 2)),
               "-f", path]
        cmd += ["-T", str(max(1, int(round(seconds))))] if seconds else ["-t", str(transactions)]
        out = subprocess.run(cmd + ["cairn_bench"], capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"pgbench failed: {out.stderr[-500:]}")
        tps = lat = None
        for line in out.stdout.splitlines():
            if line.startswith("tps ="):
                tps = float(line.split()[2])
            elif line.startswith("latency average ="):
                lat = float(line.split()[3])
        return {"tps": tps, "latency_ms": lat}

    def ceilings(self):
        p, d = self.p, 1.0 if self.args.quick else self.p["duration"]
        progress("measuring PostgreSQL ceilings (pgbench)")
        hist = seed.hist_run_id()
        self.psql("cairn_bench", f"""
            CREATE SCHEMA ceiling;
            CREATE TABLE ceiling.metrics (LIKE cairn.metrics INCLUDING ALL);
            CREATE TABLE ceiling.latest_metrics (LIKE cairn.latest_metrics INCLUDING ALL);
            CREATE TABLE ceiling.hist AS SELECT * FROM cairn.metrics WHERE run_uuid = '{hist}' AND key = 'loss';
            CREATE INDEX ON ceiling.hist (run_uuid, key, step);
            ANALYZE ceiling.hist;""")
        c = self.results["ceilings"]
        log_metric = (
            "\\set s random(1, 2000000000)\nBEGIN;\n"
            "INSERT INTO ceiling.metrics VALUES ('r' || :client_id, 'loss', 0.5, 1700000000000, :s)"
            " ON CONFLICT DO NOTHING;\n"
            "INSERT INTO ceiling.latest_metrics AS l VALUES ('r' || :client_id, 'loss', 0.5, 1700000000000, :s)"
            " ON CONFLICT (run_uuid, key) DO UPDATE SET value = EXCLUDED.value, timestamp = EXCLUDED.timestamp,"
            " step = EXCLUDED.step WHERE (EXCLUDED.step, EXCLUDED.timestamp, EXCLUDED.value)"
            " > (l.step, l.timestamp, l.value);\nCOMMIT;\n")
        for n in (1, 8, 32, 64):
            c[f"log_metric_c{n}"] = self.pgbench(log_metric, n, seconds=d)
        rows = ",".join(f"('b' || :client_id, 'm{k}', 0.5, 1700000000000, :s * 100 + {s})"
                        for s in range(100) for k in range(10))
        batch = f"\\set s random(1, 20000000)\nINSERT INTO ceiling.metrics VALUES {rows} ON CONFLICT DO NOTHING;\n"
        r = self.pgbench(batch, 8, seconds=d)
        c["log_batch_rows_s"] = {"tps": r["tps"], "rows_s": r["tps"] * 1000, "latency_ms": r["latency_ms"]}
        # issue 19: log_batch_same's own shape, the history alone: 8 clients insert 1,000 keys at one step
        # each into one run (1,000 index positions per statement instead of 10; no latest value)
        same = ("\\set s random(1, 2000000000)\n"
                "INSERT INTO ceiling.metrics SELECT 'same', 'k' || lpad(i::text, 3, '0'), 0.5, 1700000000000, :s"
                " FROM generate_series(0, 999) i ON CONFLICT DO NOTHING;\n")
        r = self.pgbench(same, 8, seconds=d)
        c["log_batch_same_rows_s"] = {"tps": r["tps"], "rows_s": r["tps"] * 1000, "latency_ms": r["latency_ms"]}
        for name, sql in self.search_sql().items():
            c[name] = self.pgbench(sql + ";\n", 1, seconds=d)
        # issue 19: the least any plan of the filtered search does that does not walk the order
        # metric's index (here m1 tracks m0: walking m1 DESC passes ~45% of the runs before the first
        # match): find the runs the filter keeps, their order value and their experiment, and count them
        c["search_filter_floor"] = self.pgbench(
            "SELECT count(o.value) FROM cairn.params p"
            " JOIN cairn.latest_metrics f ON f.run_uuid = p.run_uuid AND f.key = 'm0' AND f.value < 0.5"
            " JOIN cairn.runs r ON r.run_uuid = p.run_uuid AND r.experiment_id = 1"
            " LEFT JOIN cairn.latest_metrics o ON o.run_uuid = p.run_uuid AND o.key = 'm1'"
            " WHERE p.key = 'p3' AND left(p.value, 200) = '7';\n", 1, seconds=d)
        c["history_full"] = self.pgbench(
            f"SELECT value, timestamp, step FROM cairn.metrics WHERE run_uuid = '{hist}' AND key = 'loss'"
            " ORDER BY timestamp, step, value;\n", 1, transactions=2)
        n = p["hist"]
        c["history_sampled"] = self.pgbench(
            f"SELECT value, timestamp, step FROM ceiling.hist WHERE run_uuid = '{hist}' AND key = 'loss'"
            f" AND step = ANY (ARRAY(SELECT (g::bigint * {n} / 320) FROM generate_series(0, 319) g)"
            f" || (SELECT max(step) FROM ceiling.hist WHERE run_uuid = '{hist}' AND key = 'loss'))"
            " ORDER BY step;\n", 1, seconds=d)

    def search_sql(self):
        """The searches as hand-written SQL on Cairn's schema: find the page and hydrate it in one statement."""
        def hydrate(page):
            ids = "ANY (ARRAY(SELECT run_uuid FROM page))"
            return (f"WITH page AS MATERIALIZED ({page}) SELECT 'r', run_uuid, NULL, NULL FROM page"
                    f" UNION ALL SELECT 'p', run_uuid, key, value FROM cairn.params WHERE run_uuid = {ids}"
                    f" UNION ALL SELECT 't', run_uuid, key, value FROM cairn.tags WHERE run_uuid = {ids}"
                    " UNION ALL SELECT 'm', run_uuid, key, value::text FROM cairn.latest_metrics"
                    f" WHERE run_uuid = {ids}")
        default = ("SELECT run_uuid FROM cairn.runs WHERE experiment_id = 1 AND lifecycle_stage = 'active'"
                   " ORDER BY start_time DESC, run_uuid LIMIT 100")
        filt = ("SELECT r.run_uuid FROM cairn.runs r"
                " JOIN cairn.latest_metrics f ON f.run_uuid = r.run_uuid AND f.key = 'm0' AND f.value < 0.5"
                " JOIN cairn.params p ON p.run_uuid = r.run_uuid AND p.key = 'p3' AND p.value = '7'"
                " LEFT JOIN cairn.latest_metrics o ON o.run_uuid = r.run_uuid AND o.key = 'm1'"
                " WHERE r.experiment_id = 1 AND r.lifecycle_stage = 'active'"
                " ORDER BY o.value DESC NULLS LAST, r.start_time DESC, r.run_uuid LIMIT {limit} OFFSET {offset}")
        return {"search_default": hydrate(default),
                "search_filter": hydrate(filt.format(limit=100, offset=0)),
                "search_1000": hydrate(filt.format(limit=1000, offset=0)),
                "search_page": hydrate(filt.format(limit=100, offset=self.p["page_offset"]))}

    # -- workloads
    def request_file(self, server, name, lines):
        path = os.path.join(self.tmp, f"req-{server}-{name}.txt")
        with open(path, "w") as f:
            for method, p, body, expect in lines:
                f.write(f"{method}\t{p}\t{json.dumps(body) if body is not None else ''}\t{expect}\n")
        return path

    def page_token(self, server):
        q = {"experiment_ids": ["1"], "filter": SEARCH_FILTER, "order_by": SEARCH_ORDER,
             "max_results": self.p["page_offset"]}
        st, body = http_json(self.servers[server].port, "POST", "/api/2.0/mlflow/runs/search", q)
        return body.get("next_page_token") if st == 200 else None

    def workloads(self):
        p, runs, same = self.p, os.path.join(self.tmp, "write_runs.txt"), os.path.join(self.tmp, "same_run.txt")
        hist = seed.hist_run_id()
        search = "/api/2.0/mlflow/runs/search"
        q_filter = {"experiment_ids": ["1"], "filter": SEARCH_FILTER, "order_by": SEARCH_ORDER}
        tokens = {s: self.page_token(s) for s in self.servers}

        def reqs(lines):
            return lambda server: ["--mode", "requests", "--requests", self.request_file(server, id(lines), lines)]

        def search_page(server):
            body = dict(q_filter, max_results=100, page_token=tokens[server])
            return ["--mode", "requests", "--requests",
                    self.request_file(server, "page", [("POST", search, body, '"runs"')])]

        wl = []
        for n in (1, 8, 32, 64):
            wl.append(dict(id=f"log_metric_c{n}", label=f"log-metric, {n} client{'s' if n > 1 else ''}",
                           kind="write", unit="req/s", metric="req_s", clients=n,
                           args=lambda s: ["--mode", "log-metric", "--runs", runs],
                           ceiling=("log_metric_c%d" % n, "tps"), target=10))
        wl.append(dict(id="log_batch", label="log-batch 1000, 8 clients, distinct runs", kind="write",
                       unit="points/s", metric="points_s", clients=8,
                       args=lambda s: ["--mode", "log-batch", "--runs", runs],
                       ceiling=("log_batch_rows_s", "rows_s"), target=10, share_target=0.6))
        wl.append(dict(id="log_batch_same", label="log-batch 1000, 8 clients, one run, shuffled", kind="write",
                       unit="points/s", metric="points_s", clients=8,
                       args=lambda s: ["--mode", "log-batch-same", "--runs", same],
                       ceiling=("log_batch_same_rows_s", "rows_s"), target=10))
        for wid, label, body, ceil in (
                ("search_default", "runs/search default page (100)", {"experiment_ids": ["1"], "max_results": 100},
                 "search_default"),
                ("search_filter", "runs/search metric+param filter, metric order (100)",
                 dict(q_filter, max_results=100), "search_filter"),
                ("search_1000", "runs/search filter, 1000 results", dict(q_filter, max_results=1000),
                 "search_1000")):
            wl.append(dict(id=wid, label=label, kind="read", unit="ms p50", metric="p50_ms", clients=1,
                           args=reqs([("POST", search, body, '"runs"')]), ceiling=(ceil, "latency_ms"),
                           target=10, share_target=2.0))
        wl.append(dict(id="search_page", label=f"runs/search later page (offset {p['page_offset']})", kind="read",
                       unit="ms p50", metric="p50_ms", clients=1, args=search_page,
                       ceiling=("search_page", "latency_ms"), target=10, share_target=2.0))
        wl.append(dict(id="history_full", label=f"get-history, full {p['hist']:,} points", kind="read",
                       unit="ms mean", metric="mean_ms", clients=1, max_requests=p["history_reads"],
                       args=reqs([("GET", f"/api/2.0/mlflow/metrics/get-history?run_id={hist}&metric_key=loss",
                                   None, '"metrics"')]),
                       ceiling=("history_full", "latency_ms"), target=10, after_rss=True))
        wl.append(dict(id="history_sampled", label="get-history-bulk-interval, 320 points", kind="read",
                       unit="ms p50", metric="p50_ms", clients=1,
                       args=reqs([("GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids="
                                   f"{hist}&metric_key=loss&max_results=320", None, '"metrics"')]),
                       ceiling=("history_sampled", "latency_ms"), target=10, abs_target_ms=20))
        wl += self.registry_workloads()
        only = set(self.args.only.split(",")) if self.args.only else None
        wl = [w for w in wl if not only or w["id"] in only or any(w["id"].startswith(o) for o in only)]
        order = ["mlflow", "cairn"]
        for w in wl:
            if w.get("skip"):
                self.results["workloads"].append({"id": w["id"], "label": w["label"], "skipped": w["skip"]})
                continue
            per = {s: [] for s in order}
            for rnd in range(p["rounds"]):
                for s in (order if rnd % 2 == 0 else order[::-1]):
                    progress(f"[{w['id']}] round {rnd + 1}/{p['rounds']} on {s}")
                    per[s].append(self.run_load(s, w, rnd))
            self.results["workloads"].append(self.summarise(w, per))
            if w.get("after_rss"):
                time.sleep(1.0)
                for s in order:
                    self.results["memory"].setdefault(s, {})["after_history_kb"] = \
                        tree_rss_kb(self.servers[s].proc.pid)
        if not only or any("search_burst".startswith(o) for o in only):
            self.search_burst()

    def search_burst(self):
        """issue 19: search during and right after a write burst (burst.py), each server in turn, last
        (the burst's runs live in an experiment of their own; the other workloads never see them)."""
        out = self.results["burst"] = {}
        for s in ("mlflow", "cairn"):
            progress(f"[search_burst] {s}: {self.p['burst_points']:,} points + {self.p['burst_runs']:,} runs,"
                     " searching throughout")
            db = "cairn_bench" if s == "cairn" else "mlflow_ref"
            out[s] = burst.run(self.servers[s].base, self.p["burst_points"], self.p["burst_runs"],
                               settle=lambda: self.psql(db, "ANALYZE"), tag=f"-{s}")

    def registry_workloads(self):
        """W5 on the seeded registry (§8.2): (a) name LIKE, (b) two tag filters and their second page,
        (c) model-versions/search by name, (d) alias and latest-version lookups over REG_LOOKUPS models."""
        base = "/api/2.0/mlflow/"
        n = self.p["models"]
        names = [seed.model_name(i * n // REG_LOOKUPS) for i in range(REG_LOOKUPS)]

        def reqs(name, paths, expect):
            return lambda server: ["--mode", "requests", "--requests", self.request_file(
                server, name, [("GET", base + (p(server) if callable(p) else p), None, expect) for p in paths])]

        search = "registered-models/search?"
        wl = [("registry_like", f"registry search name LIKE (100 of {n:,})",
               [search + qs(filter=REG_LIKE_FILTER, max_results=REG_PAGE)], '"registered_models"', 15),
              ("registry_tags", "registry search 2 tag filters (100)",
               [search + qs(filter=REG_TAG_FILTER, max_results=REG_PAGE)], '"registered_models"', 25),
              ("registry_page", "registry search 2 tag filters, page 2", [self.registry_page_path],
               '"registered_models"', 25),
              ("registry_versions", "model-versions/search name = (5 versions)",
               [f"model-versions/search?{qs(filter=f'name = {m!r}')}" for m in names], '"model_versions"', 5),
              ("registry_alias", "registered-models/alias lookup",
               [f"registered-models/alias?{qs(name=m, alias='champion')}" for m in names], '"model_version"', 2),
              ("registry_latest", "get-latest-versions",
               [f"registered-models/get-latest-versions?{qs(name=m)}" for m in names], '"model_versions"', 2)]
        return [dict(id=wid, label=label, kind="read", unit="ms p50", metric="p50_ms", clients=1,
                     args=reqs(wid, paths, expect), ceiling=("registry", "latency_ms"), target=30,
                     abs_target_ms=abs_ms)
                for wid, label, paths, expect, abs_ms in wl]

    def run_load(self, server, w, rnd):
        s = self.servers[server]
        cmd = [LOADGEN, "--base", s.base, "--clients", str(w["clients"]), "--step-base", str((rnd + 1) * 10_000_000)]
        if w.get("max_requests"):   # at least one request; no more once the duration is spent
            cmd += ["--max-requests", str(w["max_requests"]), "--verify-every", "1",
                    "--duration", str(self.p["duration"])]
        else:
            cmd += ["--duration", str(self.p["duration"]), "--warmup", str(self.p["warmup"])]
        cmd += w["args"](server)
        db = "cairn_bench" if server == "cairn" else "mlflow_ref"
        self.psql(db, "SELECT pg_stat_statements_reset()")
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"loadgen failed: {out.stderr}")
        r = json.loads(out.stdout)
        sql = self.psql(db, "SELECT coalesce(sum(total_exec_time), 0), coalesce(sum(calls), 0) FROM"
                            " pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname ="
                            f" '{db}')", fetch=True)[0]
        r["sql_ms_per_req"] = float(sql[0]) / max(1, r["requests"] or 1)
        r["sql_calls_per_req"] = float(sql[1]) / max(1, r["requests"] or 1)
        if rnd == 0 and server == "cairn":
            self.results["sql_profile"][w["id"]] = [
                {"ms_total": round(t, 2), "calls": c, "ms_mean": round(m, 3), "query": q[:300]}
                for t, c, m, q in self.psql(db, "SELECT total_exec_time, calls, mean_exec_time, query FROM"
                                                " pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE"
                                                f" datname = '{db}') ORDER BY total_exec_time DESC LIMIT 5",
                                            fetch=True)]
        if r["errors"]:
            log(f"\n{w['id']} on {server}: {r['errors']} errors; first: {r['first_error']}")
        return r

    def summarise(self, w, per):
        out = {"id": w["id"], "label": w["label"], "kind": w["kind"], "unit": w["unit"], "clients": w["clients"],
               "target_ratio": w.get("target"), "rounds": per}
        for s, rs in per.items():
            out[s] = statistics.median(r[w["metric"]] for r in rs)
            out[f"{s}_errors"] = sum(r["errors"] for r in rs)
            out[f"{s}_requests"] = sum(r["requests"] for r in rs)
            out[f"{s}_sql_ms_per_req"] = statistics.median(r["sql_ms_per_req"] for r in rs)
        m, c = out["mlflow"], out["cairn"]
        higher_better = w["kind"] == "write"
        out["ratio"] = (c / m if m else None) if higher_better else (m / c if c else None)
        name, field = w["ceiling"]
        ceil = self.results["ceilings"].get(name, {}).get(field)
        out["ceiling"] = ceil
        if ceil:
            out["share"] = c / ceil if higher_better else c / ceil   # write: fraction of ceiling; read: x SQL time
        out["share_target"] = w.get("share_target")
        out["abs_target_ms"] = w.get("abs_target_ms")
        return out

    # -- memory and cold start
    def idle_memory(self):
        time.sleep(1.0)
        for s, srv in self.servers.items():
            self.results["memory"].setdefault(s, {})["idle_kb"] = tree_rss_kb(srv.proc.pid)

    def start_samplers(self):
        for s, srv in self.servers.items():
            self.samplers[s] = RssSampler(srv.proc.pid)
            self.samplers[s].start()

    def stop_samplers(self):
        for s, smp in self.samplers.items():
            self.results["memory"].setdefault(s, {})["peak_kb"] = smp.stop()

    def cold_starts(self):
        cs = self.results["cold_start"]
        self.servers["cairn"].stop()
        times = []
        for i in range(self.p["cold_starts"]):
            progress(f"[cold start] cairn {i + 1}/{self.p['cold_starts']}")
            srv = self.cairn_server()
            times.append(srv.start())
            srv.stop()
        cs["cairn"] = {"health_ms": statistics.median(t[0] for t in times),
                       "api_ms": statistics.median(t[1] for t in times), "all": times}
        # MLflow's cold start is its first start, after `mlflow db upgrade` (start_servers)

    # -- W8: mixed soak
    def soak(self):
        secs = float(os.environ.get("SOAK_SECONDS", "120" if self.args.quick else "600"))
        servers = os.environ.get("SOAK_SERVERS", "mlflow,cairn").split(",")
        hist = seed.hist_run_id()
        q = {"experiment_ids": ["1"], "filter": SEARCH_FILTER, "order_by": SEARCH_ORDER, "max_results": 100}
        soak = self.results["soak"] = {"seconds": secs}
        for s in servers:
            srv = self.servers[s]
            ui = self.request_file(s, "ui", [
                ("POST", "/api/2.0/mlflow/runs/search", q, '"runs"'),
                ("GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids="
                        f"{hist}&metric_key=loss&max_results=320", None, '"metrics"')])
            base = [LOADGEN, "--base", srv.base, "--duration", str(secs), "--timeout", "60"]
            loggers = subprocess.Popen(base + ["--mode", "soak-logger", "--clients", "64", "--interval-ms", "100",
                                               "--runs", os.path.join(self.tmp, "write_runs.txt"),
                                               "--step-base", "900000000"], stdout=subprocess.PIPE, text=True)
            readers = subprocess.Popen(base + ["--mode", "requests", "--clients", "2", "--interval-ms", "1000",
                                               "--requests", ui, "--verify-every", "1"],
                                       stdout=subprocess.PIPE, text=True)
            rss, t0 = [], time.monotonic()
            while loggers.poll() is None:
                rss.append((round(time.monotonic() - t0, 1), tree_rss_kb(srv.proc.pid)))
                progress(f"[soak] {s}: {time.monotonic() - t0:.0f}/{secs:.0f} s, RSS {rss[-1][1] / 1024:.1f} MB")
                time.sleep(1.0)
            lg, rd = json.loads(loggers.communicate()[0]), json.loads(readers.communicate()[0])
            tenth = rss[max(0, len(rss) // 10)][1] if rss else 0
            soak[s] = {"loggers": lg, "readers": rd, "rss_kb": rss,
                       "rss_drift": (rss[-1][1] - tenth) / tenth if tenth else None}
        lines = ["| server | logger req/s | logger p50 ms | logger p99 ms | UI p50 ms | UI p99 ms | errors | "
                 "RSS MB (10% -> end) | drift |", "|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
        for s in servers:
            x = soak[s]
            lg, rd, rss = x["loggers"], x["readers"], x["rss_kb"]
            lines.append(f"| {s} | {lg['req_s']:.0f} | {lg['p50_ms']:.2f} | {lg['p99_ms']:.2f} | {rd['p50_ms']:.1f} | "
                         f"{rd['p99_ms']:.1f} | {lg['errors'] + rd['errors']} | "
                         f"{rss[len(rss) // 10][1] / 1024:.1f} -> {rss[-1][1] / 1024:.1f} | "
                         f"{(x['rss_drift'] or 0) * 100:+.1f}% |")
        return "\n".join([f"W8 mixed soak, {secs:.0f} s per server: 64 loggers (log-batch 10 metrics every "
                          "100 ms) + 2 UI readers (search + bulk-interval every 1 s). Targets: logger p99 <= 25 ms, "
                          "UI p99 <= 200 ms, 0 errors, flat RSS.", ""] + lines)

    # -- driver
    def run(self):
        t0 = time.monotonic()
        try:
            self.start_pg()
            self.start_servers()
            self.seed()
            self.check_data()
            self.idle_memory()
            if self.args.soak:
                self.results["profile"] = "soak"
                table = self.soak()
            else:
                self.ceilings()
                self.start_samplers()
                self.workloads()
                self.stop_samplers()
                if not self.args.only:
                    self.cold_starts()
        finally:
            for s in self.servers.values():
                s.stop()
            subprocess.run([os.path.join(ROOT, "tests", "pg.sh"), "stop", self.tmp])
        self.results["seconds"] = round(time.monotonic() - t0, 1)
        self.results["phases_started_at_s"] = PHASES
        self.results["git"] = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                             capture_output=True, text=True).stdout.strip()
        self.results["date"] = datetime.datetime.now().isoformat(timespec="seconds")
        self.results["load"] = os.getloadavg()
        progress("")
        if not self.args.soak:
            table = report.table(self.results)
        print(table)
        out = os.path.join(HERE, "results")
        os.makedirs(out, exist_ok=True)
        stem = "bench-" + self.results["profile"]
        with open(os.path.join(out, stem + ".json"), "w") as f:
            json.dump(self.results, f, indent=1)
        with open(os.path.join(out, stem + ".txt"), "w") as f:
            f.write(table + "\n")
        if not self.args.soak:
            with open(os.path.join(out, stem + ".svg"), "w") as f:
                f.write(report.svg(self.results))
        log(f"wrote {out}/{stem}.{{json,txt,svg}} in {self.results['seconds']} s")
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            log(f"kept {self.tmp}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small data, short runs (< 3 min)")
    ap.add_argument("--duration", type=float, help="seconds per workload run")
    ap.add_argument("--rounds", type=int, help="rounds per workload")
    ap.add_argument("--only", help="comma-separated workload ids (or prefixes)")
    ap.add_argument("--mlflow-workers", type=int, default=int(os.environ.get("MLFLOW_WORKERS", "2")))
    ap.add_argument("--cairn-args", default=os.environ.get("CAIRN_ARGS", ""), help="extra cairn-server flags")
    ap.add_argument("--soak", action="store_true", help="W8: the mixed soak only (SOAK_SECONDS, SOAK_SERVERS)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, cluster)")
    Bench(ap.parse_args()).run()


if __name__ == "__main__":
    main()
