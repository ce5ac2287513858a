"""Issue 17: a Cairn fleet on this machine — three cairn-servers behind HAProxy
(deploy/haproxy.cfg), PgBouncer in transaction mode in front of the primary
(deploy/pgbouncer.ini, --db-transaction-pooler), one streaming replica made
by pg_basebackup -R (--read-replica-uri). compat/fleet.py starts it all.

- the real mlflow client's tracking, registry and artifact workflows through
  the balancer;
- page tokens from one server accepted by another;
- read-your-writes: a client's reads after its write see it on any server
  while the replica lags; a client without the cookie reads from the
  replica, and from the primary once the replica lags past the bound;
- writers under faults: 8 writers while one server is SIGKILLed and
  restarted and the replica is restarted: zero acknowledged writes lost,
  zero errors other than 503s (retried; a connection error, a reply cut
  short, a 502 or any other status fails the test), every read-after-write
  consistent.
  CAIRN_FLEET_SECONDS sets its length (default 20; `make test-fleet-soak`: 60).

Runs once, under the 3.x client (the fleet is about servers, not clients).
"""
import os
import threading
import time
import uuid

import pytest
import requests

from conftest import SANITIZER_MARKERS, REPO, reset_mlflow_state
from fleet import Fleet

pytestmark = [pytest.mark.cairn_only, pytest.mark.mlflow3]

SOAK_SECONDS = float(os.environ.get("CAIRN_FLEET_SECONDS", "20"))
LAG_BOUND_MS = 1000
API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def fleet():
    binary = os.environ.get("CAIRN_SERVER") or os.path.join(REPO, "build/asan/cairn-server")
    if not os.path.isabs(binary):
        binary = os.path.join(REPO, binary)
    for tool in ("/usr/sbin/haproxy", "/usr/sbin/pgbouncer"):
        if not os.access(tool, os.X_OK):
            pytest.fail(f"{tool} missing: run `make deps`", pytrace=False)
    f = Fleet(binary, replica=True, pgbouncer=True, lag_ms=LAG_BOUND_MS)
    try:
        f.start(3)
    except Exception:
        f.stop()
        raise
    yield f
    logs = {i: f.server_log(i) for i in f.servers}
    statuses = f.stop()
    problems = [f"server {i} exited with {st}" for i, st in statuses.items() if st != 0]
    problems += [f"sanitizer report in server {i}'s log:\n{log[-4000:]}" for i, log in logs.items()
                 if any(m in log for m in SANITIZER_MARKERS)]
    assert not problems, "\n".join(problems)


def post(session, url, path, body):
    return session.post(url + API + path, json=body, timeout=30)


def replica_sessions(f):
    return int(f.psql(f.replica_sock, "cairn",
                      "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cairn-server'"))


# ---------------------------------------------------------------- the real client through the balancer
def test_mlflow_workflows_through_the_balancer(fleet, tmp_path):
    import mlflow
    from mlflow import MlflowClient

    reset_mlflow_state(fleet.lb)
    client = MlflowClient(tracking_uri=fleet.lb, registry_uri=fleet.lb)
    exp = client.create_experiment("fleet-" + uuid.uuid4().hex[:8])
    run = client.create_run(exp)
    rid = run.info.run_id
    client.log_param(rid, "lr", "0.1")
    client.set_tag(rid, "team", "fleet")
    for step in range(20):   # round robin over three servers
        client.log_metric(rid, "loss", 1.0 / (step + 1), step=step)
    client.log_batch(rid, metrics=[mlflow.entities.Metric("acc", 0.5 + i / 100, 0, i) for i in range(10)])
    # read-your-writes: every read right after the writes, on whichever server
    hist = client.get_metric_history(rid, "loss")
    assert [m.step for m in sorted(hist, key=lambda m: m.step)] == list(range(20))
    got = client.get_run(rid)
    assert got.data.params == {"lr": "0.1"} and got.data.tags["team"] == "fleet"
    assert got.data.metrics["acc"] == pytest.approx(0.59)
    found = client.search_runs([exp], "metrics.loss < 0.1")
    assert [r.info.run_id for r in found] == [rid]

    # artifacts: written through one server, listed and read through the others (one shared store)
    src = tmp_path / "model.txt"
    src.write_text("weights " * 1000)
    client.log_artifact(rid, str(src), "model")
    for _ in range(3):
        assert [a.path for a in client.list_artifacts(rid, "model")] == ["model/model.txt"]
    out = client.download_artifacts(rid, "model/model.txt", str(tmp_path / "dl"))
    assert open(out).read() == src.read_text()
    client.set_terminated(rid)

    # registry
    name = "fleet-model-" + uuid.uuid4().hex[:8]
    client.create_registered_model(name, tags={"k": "v"})
    v1 = client.create_model_version(name, f"runs:/{rid}/model", run_id=rid)
    v2 = client.create_model_version(name, f"runs:/{rid}/model", run_id=rid)
    client.set_registered_model_alias(name, "champion", v2.version)
    assert client.get_model_version_by_alias(name, "champion").version == v2.version
    assert {v.version for v in client.search_model_versions(f"name = '{name}'")} == {v1.version, v2.version}
    assert [m.name for m in client.search_registered_models(f"name = '{name}'")] == [name]
    assert client.get_registered_model(name).tags == {"k": "v"}
    client.delete_registered_model(name)
    reset_mlflow_state()


# ---------------------------------------------------------------- page tokens
def test_page_tokens_from_one_server_accepted_by_another(fleet):
    s = requests.Session()
    exp = post(s, fleet.url(1), "/experiments/create", {"name": "pages-" + uuid.uuid4().hex[:8]}).json()
    eid = exp["experiment_id"]
    ids = set()
    for i in range(7):
        r = post(s, fleet.url(1 + i % 3), "/runs/create", {"experiment_id": eid, "run_name": f"r{i}"})
        ids.add(r.json()["run"]["info"]["run_id"])
    seen, token, hops = [], None, 0
    while True:
        body = {"experiment_ids": [eid], "max_results": 2, "order_by": ["attributes.run_name"]}
        if token:
            body["page_token"] = token
        r = post(s, fleet.url(1 + hops % 3), "/runs/search", body)   # each page from the next server
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [x["info"]["run_id"] for x in page.get("runs", [])]
        token = page.get("next_page_token")
        hops += 1
        if not token:
            break
    assert hops == 4 and len(seen) == 7 and set(seen) == ids
    # experiments and registered models page the same way
    for i in range(3):
        post(s, fleet.url(2), "/registered-models/create", {"name": f"pt-{eid}-{i}"})
    r1 = s.get(fleet.url(2) + API + "/registered-models/search",
               params={"filter": f"name LIKE 'pt-{eid}-%'", "max_results": 2}).json()
    r2 = s.get(fleet.url(3) + API + "/registered-models/search",
               params={"filter": f"name LIKE 'pt-{eid}-%'", "max_results": 2,
                       "page_token": r1["next_page_token"]}).json()
    names = [m["name"] for m in r1["registered_models"] + r2["registered_models"]]
    assert sorted(names) == [f"pt-{eid}-{i}" for i in range(3)] and "next_page_token" not in r2


# ---------------------------------------------------------------- replica routing
def test_read_your_writes_while_the_replica_lags(fleet):
    s = requests.Session()            # keeps the cairn_lsn cookie, as the mlflow client's session does
    eid = post(s, fleet.url(1), "/experiments/create", {"name": "ryw-" + uuid.uuid4().hex[:8]}).json()["experiment_id"]
    time.sleep(0.5)                   # the replica has it
    fleet.psql(fleet.replica_sock, "cairn", "SELECT pg_wal_replay_pause()")
    try:
        run = post(s, fleet.url(1), "/runs/create", {"experiment_id": eid}).json()["run"]["info"]["run_id"]
        assert "cairn_lsn" in s.cookies
        for i in (2, 3, 1):           # the writer reads its write on every server
            r = post(s, fleet.url(i), "/runs/search", {"experiment_ids": [eid]})
            assert [x["info"]["run_id"] for x in r.json().get("runs", [])] == [run], f"server {i}"
            h = s.get(fleet.url(i) + API + "/metrics/get-history", params={"run_id": run, "metric_key": "m"})
            assert h.status_code == 200
        # a reader without the cookie is served by the replica, which has not replayed the run yet
        stale = post(requests, fleet.url(2), "/runs/search", {"experiment_ids": [eid]}).json()
        assert stale.get("runs", []) == []
        assert replica_sessions(fleet) > 0
        # past the lag bound the replica is skipped: the primary answers everyone
        time.sleep(LAG_BOUND_MS / 1000 + 0.6)
        fresh = post(requests, fleet.url(2), "/runs/search", {"experiment_ids": [eid]}).json()
        assert [x["info"]["run_id"] for x in fresh["runs"]] == [run]
        assert "read replica 1 skipped (lag over the bound)" in fleet.server_log(2)
    finally:
        fleet.psql(fleet.replica_sock, "cairn", "SELECT pg_wal_replay_resume()")
    time.sleep(0.5)
    assert post(requests, fleet.url(2), "/runs/search", {"experiment_ids": [eid]}).json()["runs"]


# ---------------------------------------------------------------- writers under faults
def test_writers_while_a_server_and_the_replica_restart(fleet):
    s = requests.Session()
    eid = post(s, fleet.lb, "/experiments/create", {"name": "soak-" + uuid.uuid4().hex[:8]}).json()["experiment_id"]
    stop = threading.Event()
    stats = {"ok": 0, "retried_503": 0, "errors": [], "ryw": 0, "ryw_violations": [], "first_503": None,
             "last_503": None}
    lock = threading.Lock()
    acked = {}

    def call(sess, method, path, **kw):
        """One request, 503s (and nothing else: not a connection error, not a 502) retried;
        the final response or None (an error)."""
        for attempt in range(200):
            try:
                r = sess.request(method, fleet.lb + API + path, timeout=30, **kw)
            except requests.RequestException as e:
                with lock:
                    stats["errors"].append(f"{time.monotonic() - t0:.1f}s {path}: {e!r}")
                return None
            if r.status_code != 503:
                if r.status_code != 200:
                    with lock:
                        stats["errors"].append(f"{time.monotonic() - t0:.1f}s {path}: {r.status_code} {r.text[:200]}")
                    return None
                return r
            with lock:
                stats["retried_503"] += 1
                at = round(time.monotonic() - t0, 1)
                stats["first_503"] = stats["first_503"] if stats["first_503"] is not None else at
                stats["last_503"] = at
                if r.headers.get("Content-Type", "").startswith("application/json") and \
                        r.json().get("error_code") != "TEMPORARILY_UNAVAILABLE":
                    stats["errors"].append(f"{at}s {path}: a 503 without TEMPORARILY_UNAVAILABLE: {r.text[:200]}")
            time.sleep(0.05 * min(attempt + 1, 10))
        return None

    def writer(w):
        sess = requests.Session()
        r = call(sess, "POST", "/runs/create", json={"experiment_id": eid, "run_name": f"w{w}"})
        if r is None:
            return
        rid = r.json()["run"]["info"]["run_id"]
        steps = acked[rid] = []
        step = 0
        while not stop.is_set():
            r = call(sess, "POST", "/runs/log-metric",
                     json={"run_id": rid, "key": "m", "value": step, "timestamp": 1, "step": step})
            if r is not None:
                steps.append(step)
                with lock:
                    stats["ok"] += 1
            step += 1
            if step % 10 == 0 and steps:   # read-your-writes through the balancer, on any server
                h = call(sess, "GET", "/metrics/get-history", params={"run_id": rid, "metric_key": "m"})
                if h is not None:
                    have = {m["step"] for m in h.json().get("metrics", [])}
                    with lock:
                        stats["ryw"] += 1
                        if steps[-1] not in have:
                            stats["ryw_violations"].append((rid, steps[-1]))
                q = call(sess, "POST", "/runs/search",
                         json={"experiment_ids": [eid], "filter": f"attributes.run_name = 'w{w}'"})
                if q is not None:
                    with lock:
                        if not q.json().get("runs"):
                            stats["ryw_violations"].append((rid, "search"))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    events = []
    try:
        time.sleep(SOAK_SECONDS * 0.25)
        fleet.kill_server(2)
        events.append(("SIGKILL server 2", time.monotonic() - t0))
        time.sleep(SOAK_SECONDS * 0.2)
        fleet.start_server(2)
        events.append(("server 2 back", time.monotonic() - t0))
        time.sleep(SOAK_SECONDS * 0.15)
        fleet.restart_replica()
        events.append(("replica restarted", time.monotonic() - t0))
        time.sleep(max(0.0, SOAK_SECONDS - (time.monotonic() - t0)))
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    elapsed = time.monotonic() - t0
    # every acknowledged write is in the primary
    lost = 0
    for rid, steps in acked.items():
        rows = fleet.psql(fleet.primary_sock, "cairn",
                          f"SELECT step FROM cairn.metrics WHERE run_uuid = '{rid}' AND key = 'm'")
        got = {int(x) for x in rows.split()}
        lost += len(set(steps) - got)
    print(f"\nfleet soak: {elapsed:.0f}s, 8 writers, {stats['ok']} acknowledged writes "
          f"({stats['ok'] / elapsed:.0f}/s), {stats['retried_503']} 503s retried "
          f"(first at {stats['first_503']}s, last at {stats['last_503']}s), {len(stats['errors'])} errors, "
          f"{stats['ryw']} read-your-writes checks, {lost} acknowledged writes lost, "
          f"events {[(e, round(t, 1)) for e, t in events]}")
    assert len(acked) == 8
    assert stats["errors"] == [], stats["errors"][:10]
    assert lost == 0
    assert stats["ryw_violations"] == []
    assert stats["ok"] > 8 * 10
    # the replica came back into use after its restart
    log = fleet.server_log(1)
    assert log.rfind("read replica 1 in use") > log.find("read replica 1 skipped")
