"""Search during and right after a write burst (issue 19), through the REST API.

A user's training session as the issue measured it: in a fresh experiment,
eight runs take `points` metric points through log-batch (1,000 a request,
eight writers at once) while `small_runs` small runs are logged (a param p,
metrics m1 and m2), and the runs table is searched throughout —
`metrics.m1 < 0.5 and params.p = '3'` ordered by `metrics.m2 DESC`, 100
results. Three latencies per server:

  during   the search's p50 while the burst is being written;
  after    its p50 in the seconds right after the last write (statistics as
           the burst left them: autovacuum has not run yet);
  settled  its p50 after an explicit ANALYZE of the server's tables (what
           autovacuum would give a minute later).

`after / settled` is the plan's sensitivity to stale statistics (1.0: none).
Run on its own: burst.py BASE_URL [--points N --small-runs N]
"""
import http.client
import json
import random
import statistics
import threading
import time
import urllib.parse

BATCH = 1000
WRITERS = 8
FILTER = "metrics.m1 < 0.5 and params.p = '3'"
ORDER = ["metrics.m2 DESC"]
T0 = 1_700_000_000_000


class Client:
    """One keep-alive connection."""

    def __init__(self, base):
        u = urllib.parse.urlparse(base)
        self.host, self.port = u.hostname, u.port
        self.c = None

    def call(self, method, path, body=None):
        for attempt in range(3):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection(self.host, self.port, timeout=300)
                data = json.dumps(body).encode() if body is not None else None
                self.c.request(method, "/api/2.0/mlflow/" + path, body=data,
                               headers={"Content-Type": "application/json"} if data else {})
                r = self.c.getresponse()
                raw = r.read()
                if r.status != 200:
                    raise RuntimeError(f"{method} {path}: HTTP {r.status}: {raw[:200]!r}")
                return json.loads(raw) if raw else {}
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.c = None   # uvicorn recycles workers; retried
                if attempt == 2:
                    raise
                time.sleep(0.2)


def create_run(cl, exp, name):
    return cl.call("POST", "runs/create", {"experiment_id": exp, "run_name": name,
                                            "start_time": int(time.time() * 1000)})["run"]["info"]["run_id"]


def search_body(exp):
    return {"experiment_ids": [exp], "filter": FILTER, "order_by": ORDER, "max_results": 100}


def run(base, points=360_000, small_runs=1_500, after_s=3.0, settle=None, tag=""):
    """One burst against the server at base; settle() runs ANALYZE on its database.
    Returns the three p50s (ms), their sample counts and the burst's duration."""
    cl = Client(base)
    exp = cl.call("POST", "experiments/create", {"name": f"bench-burst{tag}-{time.time_ns()}"})["experiment_id"]
    big = [create_run(cl, exp, f"burst-{i}") for i in range(WRITERS)]
    per_writer = max(1, points // (WRITERS * BATCH))
    errors, done = [], threading.Event()

    def writer(i):
        try:
            w = Client(base)
            for b in range(per_writer):
                ms = [{"key": f"loss{k}", "value": random.random(), "timestamp": T0 + b * 100 + s,
                       "step": b * 100 + s} for s in range(100) for k in range(BATCH // 100)]
                w.call("POST", "runs/log-batch", {"run_id": big[i], "metrics": ms})
        except Exception as e:   # reported by run()
            errors.append(f"writer {i}: {e}")

    def small():
        try:
            w = Client(base)
            rnd = random.Random(19)
            for i in range(small_runs):
                rid = create_run(w, exp, f"small-{i}")
                w.call("POST", "runs/log-batch", {
                    "run_id": rid, "params": [{"key": "p", "value": str(i % 10)}],
                    "metrics": [{"key": k, "value": rnd.random(), "timestamp": T0 + i, "step": 0}
                                for k in ("m1", "m2")]})
        except Exception as e:
            errors.append(f"small runs: {e}")

    during = []

    def reader():
        r = Client(base)
        while not done.is_set():
            t = time.perf_counter()
            r.call("POST", "runs/search", search_body(exp))
            during.append((time.perf_counter() - t) * 1000)
            time.sleep(0.05)

    t0 = time.monotonic()
    ws = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)] + [threading.Thread(target=small)]
    rd = threading.Thread(target=reader)
    for t in ws:
        t.start()
    rd.start()
    for t in ws:
        t.join()
    done.set()
    rd.join()
    burst_s = time.monotonic() - t0
    if errors:
        raise RuntimeError("; ".join(errors[:3]))

    def p50_for(seconds):
        lat, end = [], time.monotonic() + seconds
        while time.monotonic() < end or len(lat) < 5:
            t = time.perf_counter()
            body = cl.call("POST", "runs/search", search_body(exp))
            lat.append((time.perf_counter() - t) * 1000)
        return lat, body

    after, body_after = p50_for(after_s)
    settled, body_settled = [], None
    if settle:
        settle()
        settled, body_settled = p50_for(after_s)
    ids = [r["info"]["run_id"] for r in body_after.get("runs", [])]
    if body_settled is not None and ids != [r["info"]["run_id"] for r in body_settled.get("runs", [])]:
        raise RuntimeError("the search returned different runs before and after ANALYZE")
    med = lambda xs: statistics.median(xs) if xs else None   # noqa: E731
    return {"during_ms": med(during), "after_ms": med(after), "settled_ms": med(settled),
            "n_during": len(during), "n_after": len(after), "n_settled": len(settled),
            "burst_s": round(burst_s, 1), "results": len(ids), "points": per_writer * WRITERS * BATCH,
            "small_runs": small_runs}


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--points", type=int, default=360_000)
    ap.add_argument("--small-runs", type=int, default=1_500)
    ap.add_argument("--dsn", help="libpq DSN of the server's database: ANALYZE it for the settled number")
    a = ap.parse_args()
    settle = None
    if a.dsn:
        import psycopg2

        def settle():
            c = psycopg2.connect(a.dsn)
            c.autocommit = True
            c.cursor().execute("ANALYZE")
            c.close()
    print(json.dumps(run(a.base, a.points, a.small_runs, settle=settle), indent=1))
