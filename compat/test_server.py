"""Server life: the embedded default, a PostgreSQL restart under load, drain on
SIGTERM, the data-dir lock, header limits. Cairn-only (MLflow's server has no
embedded database), and run once, with the 3.x client."""
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest
import requests

from conftest import REPO, SANITIZER_MARKERS, create_database, pg_uri, reset_mlflow_state, unique

pytestmark = [pytest.mark.cairn_only, pytest.mark.mlflow3]

JSON = {"Content-Type": "application/json"}


def binary():
    b = os.environ.get("CAIRN_SERVER") or os.path.join(REPO, "build/asan/cairn-server")
    return b if os.path.isabs(b) else os.path.join(REPO, b)


def start(args, env=None, timeout=60):
    """Starts cairn-server, returns (proc, url, stderr_path)."""
    errdir = tempfile.mkdtemp(prefix="cairn-srv-")
    os.chmod(errdir, 0o755)
    err_path = os.path.join(errdir, "stderr.log")
    errf = open(err_path, "wb")
    proc = subprocess.Popen([binary(), "--port", "0", *args], stdout=subprocess.PIPE, stderr=errf,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, **(env or {})})
    errf.close()
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        if not line:
            break
        if line.startswith("listening on "):
            url = line.split()[-1].strip()
            break
    if url is None:
        proc.kill()
        pytest.fail("cairn-server did not start:\n" + open(err_path).read()[-3000:])
    return proc, url, err_path


def stop(proc, err_path, sig=signal.SIGTERM):
    proc.send_signal(sig)
    rc = proc.wait(60)
    err = open(err_path).read()
    assert rc == 0, f"exit status {rc}\n{err[-3000:]}"
    for marker in SANITIZER_MARKERS:
        assert marker not in err, err[-6000:]
    return err


def pg(cmd, d):
    out = subprocess.run([os.path.join(REPO, "tests/pg.sh"), cmd, d], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def small_workflow(uri):
    import mlflow
    reset_mlflow_state()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(unique("emb"))
    with mlflow.start_run() as run:
        mlflow.log_param("p", "1")
        for i in range(5):
            mlflow.log_metric("m", i * 0.5, step=i)
    return run.info.run_id


def test_embedded_default_survives_restart():
    """No --backend-store-uri: a private cluster under --data-dir, created on
    first start, stopped on SIGINT, reused (with its data) on the next."""
    from mlflow import MlflowClient
    data_dir = tempfile.mkdtemp(prefix="cairn-emb-")
    os.chmod(data_dir, 0o755)
    proc, url, err = start(["--data-dir", data_dir])
    try:
        run_id = small_workflow(url)
        # a second server on the same data dir refuses to start
        second = subprocess.run([binary(), "--port", "0", "--data-dir", data_dir],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert "already using the data directory" in second.stderr
    finally:
        stop(proc, err, signal.SIGINT)
    assert os.path.exists(os.path.join(data_dir, "pg", "PG_VERSION"))
    assert not os.path.exists(os.path.join(data_dir, "pg", "postmaster.pid")), "postgres left running"
    proc, url, err = start(["--data-dir", data_dir])
    try:
        run = MlflowClient(url).get_run(run_id)
        assert run.data.params == {"p": "1"}
        assert run.data.metrics == {"m": 2.0}
    finally:
        stop(proc, err)


@pytest.fixture
def own_cluster():
    d = tempfile.mkdtemp(prefix="cairn-pgr-")
    os.chmod(d, 0o755)
    sock = pg("start", os.path.join(d, "pg"))
    yield d, sock
    subprocess.run([os.path.join(REPO, "tests/pg.sh"), "stop", os.path.join(d, "pg")])


def test_postgres_restart_gives_503_then_recovers(own_cluster):
    d, sock = own_cluster
    create_database(sock, "restart")
    proc, url, err = start(["--backend-store-uri", pg_uri(sock, "restart"), "--data-dir", os.path.join(d, "data")])
    api = url + "/api/2.0/mlflow"
    try:
        r = requests.post(api + "/runs/create", json={"experiment_id": "0", "start_time": 1}, headers=JSON)
        run_id = r.json()["run"]["info"]["run_id"]
        acked = []
        stop_flag = threading.Event()
        statuses = []

        def writer(k):
            i = 0
            while not stop_flag.is_set():
                body = {"run_id": run_id, "key": f"w{k}", "value": i, "timestamp": i, "step": i}
                try:
                    resp = requests.post(api + "/runs/log-metric", json=body, headers=JSON, timeout=10)
                    statuses.append(resp.status_code)
                    if resp.status_code == 200:
                        acked.append((f"w{k}", i))
                    else:
                        assert resp.status_code == 503, resp.text
                        assert resp.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
                except requests.ConnectionError:
                    statuses.append(-1)
                i += 1
                time.sleep(0.01)

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        pg("stop", os.path.join(d, "pg"))
        time.sleep(1.0)
        r = requests.get(api + "/experiments/get", params={"experiment_id": "0"})
        assert r.status_code == 503 and r.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        pg("start", os.path.join(d, "pg"))
        time.sleep(1.0)
        stop_flag.set()
        for t in threads:
            t.join()
        assert 503 in statuses and statuses.count(-1) == 0
        # the server reconnected by itself
        r = requests.get(api + "/experiments/get", params={"experiment_id": "0"})
        assert r.status_code == 200
        # no acknowledged write was lost
        for k in range(4):
            h = requests.get(api + "/metrics/get-history", params={"run_id": run_id, "metric_key": f"w{k}"}).json()
            have = {int(m["step"]) for m in h.get("metrics", [])}
            want = {i for key, i in acked if key == f"w{k}"}
            assert want <= have
    finally:
        stop(proc, err)


def test_sigterm_drains_in_flight_requests(own_cluster):
    d, sock = own_cluster
    create_database(sock, "drain")
    proc, url, err = start(["--backend-store-uri", pg_uri(sock, "drain"), "--data-dir", os.path.join(d, "data")])
    api = url + "/api/2.0/mlflow"
    r = requests.post(api + "/runs/create", json={"experiment_id": "0", "start_time": 1}, headers=JSON)
    run_id = r.json()["run"]["info"]["run_id"]
    results = []

    def batch(k):
        metrics = [{"key": f"k{k}-{i}", "value": i, "timestamp": 1, "step": 0} for i in range(1000)]
        try:
            resp = requests.post(api + "/runs/log-batch", json={"run_id": run_id, "metrics": metrics},
                                 headers=JSON, timeout=30)
            results.append((k, resp.status_code))
        except requests.ConnectionError:
            results.append((k, -1))

    threads = [threading.Thread(target=batch, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    stop(proc, err)
    for t in threads:
        t.join()
    # every request got an answer: done (200) or told to retry (503) or refused before it was accepted
    assert all(status in (200, 503, -1) for _, status in results), results
    done = [k for k, status in results if status == 200]
    proc, url, err = start(["--backend-store-uri", pg_uri(sock, "drain"), "--data-dir", os.path.join(d, "data")])
    try:
        run = requests.get(url + "/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"]
        keys = {m["key"] for m in run["data"].get("metrics", [])}
        for k in done:
            assert all(f"k{k}-{i}" in keys for i in range(1000)), f"acknowledged batch {k} lost"
    finally:
        stop(proc, err)


def test_oversized_head_is_431(base_url):
    r = requests.get(base_url + "/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"},
                     headers={"X-Pad": "a" * 20000})
    assert r.status_code == 431


def test_unknown_flags_and_refused_stores():
    out = subprocess.run([binary(), "--backend-store-uri", "sqlite:///mlflow.db"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 2 and "PostgreSQL" in out.stderr
    # basic-auth is served (compat/test_auth.py); any other app is refused, never ignored
    out = subprocess.run([binary(), "--app-name", "my-plugin-app"], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "--app-name" in out.stderr


def test_two_servers_migrate_one_database_at_once(own_cluster):
    """Migrations run under an advisory lock: servers started together on a
    fresh database both come up, and the schema is applied once."""
    import psycopg2
    d, sock = own_cluster
    create_database(sock, "together")
    uri = pg_uri(sock, "together")
    procs = []
    for i in range(3):
        procs.append(subprocess.Popen([binary(), "--port", "0", "--backend-store-uri", uri,
                                       "--data-dir", os.path.join(d, f"data{i}")],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True))
    try:
        urls = []
        for p in procs:
            line = p.stdout.readline().decode()
            assert line.startswith("listening on "), p.stderr.read().decode()[-2000:]
            urls.append(line.split()[-1])
        names = set()
        for u in urls:
            r = requests.post(u + "/api/2.0/mlflow/experiments/create", json={"name": unique("t")}, headers=JSON)
            assert r.status_code == 200, r.text
            names.add(r.json()["experiment_id"])
        assert len(names) == 3
        conn = psycopg2.connect(uri)
        cur = conn.cursor()
        cur.execute("SELECT version, count(*) FROM cairn.schema_migrations GROUP BY version HAVING count(*) > 1")
        assert cur.fetchall() == []
        cur.execute("SELECT count(*) FROM cairn.experiments WHERE experiment_id = 0")
        assert cur.fetchone()[0] == 1
        conn.close()
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            assert p.wait(60) == 0
