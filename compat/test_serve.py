"""`cairn-train serve` against `mlflow models serve --env-manager local` on the same registered models.

- Real `mlflow models serve` processes (one per model, started once per module) for gbdt and logreg
  on a long-typed, string-labelled set (a slice of letter) and on iris: every input format
  (dataframe_split, dataframe_records, instances, inputs, text/csv) gives the same classes and
  probabilities (within 1e-4 relative or 1e-6 absolute), and the error cases give the same status and
  error_code.
- Every algorithm through MLflow's own scoring function (mlflow.pyfunc.scoring_server.invocations, the
  code `mlflow models serve` runs per request) in process, every input format.
- models:/name/N, runs:/id/model; /ping, /health, /version, /metrics; the alias swap under load loses no
  request, and a version that fails to load is not swapped in.

String inputs are left out of the comparisons: MLflow 3.17's onnx flavor cannot feed a pandas 3 string
column to onnxruntime (its own server answers 400), see DIFFERENCES.md.
The serving binary is $CAIRN_TRAIN_SERVE (default build/asan/cairn-train); training uses $CAIRN_TRAIN
(default build/cairn-train). CAIRN_SERVE_FULL=1 runs the real-server comparison for every algorithm."""
import csv
import io
import json
import os
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import REPO, SANITIZER_MARKERS, free_port, unique, wait_http_ok

mlflow = pytest.importorskip("mlflow")
pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")
if int(mlflow.__version__.split(".")[0]) < 3:
    pytest.skip("cairn-train models are MLflow 3 logged models", allow_module_level=True)
pytest.importorskip("onnxruntime")

TRAIN = os.environ.get("CAIRN_TRAIN") or os.path.join(REPO, "build/cairn-train")
SERVE = os.environ.get("CAIRN_TRAIN_SERVE") or os.path.join(REPO, "build/asan/cairn-train")
MLFLOW_BIN = os.path.join(REPO, ".venv/bin/mlflow")
DATA = os.path.join(REPO, "tests/data")
FULL = os.environ.get("CAIRN_SERVE_FULL") == "1"
FORMATS = ["dataframe_split", "dataframe_records", "instances", "inputs", "csv"]
# algorithm -> (dataset, target) for the in-process comparison with MLflow's scoring function
ALGO_SETS = {"dummy": ("iris", "target"), "linear": ("diabetes", "target"), "ridge": ("diabetes", "target"),
             "logreg": ("wine", "target"), "gbdt": ("letter2k", "lettr"), "rf": ("iris", "target"),
             "extra_trees": ("diabetes", "target"), "mlp": ("breast_cancer", "target"),
             "knn": ("wine", "target"), "gaussian_nb": ("iris", "target")}
REAL = [("gbdt", "letter2k"), ("logreg", "iris")] + (
    [(a, d) for a, (d, _) in ALGO_SETS.items()] if FULL else [])


def dataset_path(tmp_dir, name):
    if name != "letter2k":
        return os.path.join(DATA, f"{name}.csv")
    path = os.path.join(tmp_dir, "letter2k.csv")
    if not os.path.exists(path):
        with open(os.path.join(DATA, "letter.csv")) as f:
            lines = [next(f) for _ in range(2001)]
        with open(path, "w") as f:
            f.writelines(lines)
    return path


def run(cmd, env=None, timeout=300):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if out.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}", pytrace=False)
    return out


def train_register(uri, tmp_dir, algo, dataset, name, alias="champion", extra=()):
    target = dict(ALGO_SETS.values()).get(dataset, "target")
    if dataset == "letter2k":
        target = "lettr"
    params = ["--param", "n_estimators=30"] if algo in ("gbdt", "rf", "extra_trees") else []
    out = run([TRAIN, "fit", "--data", dataset_path(tmp_dir, dataset), "--target", target, "--algo", algo,
               "--seed", "1", "--experiment", "serve-tests", "--no-evaluation", "--output-dir",
               os.path.join(tmp_dir, unique("m")), "--register-model", name, "--alias", alias, "--tracking-uri", uri,
               *params, *extra])
    return next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("run "))


class Proc:
    def __init__(self, proc, url, log):
        self.proc, self.url, self.log = proc, url, log

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()


# Every server process this module starts, each in its own process group (mlflow models serve runs
# uvicorn under it): the module's finalizer kills whatever a failed test or fixture left running.
STARTED = []


def launch(cmd, **kw):
    proc = subprocess.Popen(cmd, start_new_session=True, **kw)
    STARTED.append(proc)
    return proc


def kill_group(proc, sig=signal.SIGKILL, timeout=30):
    """sig to proc's whole process group, then wait; SIGKILL if it outlives timeout."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
    try:   # children that outlived their leader
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module", autouse=True)
def reap_servers():
    yield
    while STARTED:
        kill_group(STARTED.pop())


def start_cairn(model, uri, tmp_dir, *extra):
    log = os.path.join(tmp_dir, unique("serve") + ".log")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    with open(log, "w") as err:
        proc = launch([SERVE, "serve", "--model", model, "--port", "0", "--tracking-uri", uri, *extra],
                      stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("listening on "):
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return Proc(proc, line.split()[-1].strip(), log)
    kill_group(proc)
    pytest.fail(f"cairn-train serve did not start:\n{open(log).read()}", pytrace=False)


def stop_cairn(p):
    """SIGTERM, as an operator stops it: it must drain and exit 0 with no sanitizer report."""
    kill_group(p.proc, signal.SIGTERM)
    text = p.text()
    assert p.proc.returncode == 0, text[-3000:]
    assert not any(m in text for m in SANITIZER_MARKERS), text[-4000:]


def start_mlflow(model, uri, tmp_dir):
    port = free_port()
    log = os.path.join(tmp_dir, unique("mlflow-serve") + ".log")
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri, PATH=os.path.join(REPO, ".venv/bin") + ":" + os.environ["PATH"])
    with open(log, "w") as out:
        proc = launch([MLFLOW_BIN, "models", "serve", "-m", model, "--env-manager", "local", "--host",
                       "127.0.0.1", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env)
    return Proc(proc, f"http://127.0.0.1:{port}", log)


# ---------------------------------------------------------------- requests in every format
def features(tmp_dir, dataset, n=40):
    target = "lettr" if dataset == "letter2k" else "target"
    df = pd.read_csv(dataset_path(tmp_dir, dataset)).drop(columns=[target])
    # spread the rows over the set so every class shows up
    return df.iloc[np.linspace(0, len(df) - 1, n).astype(int)].reset_index(drop=True)


def py(v):
    return v.item() if hasattr(v, "item") else v


def body(df, fmt):
    cols = list(df.columns)
    rows = [[py(v) for v in r] for r in df.itertuples(index=False)]
    if fmt == "csv":
        return df.to_csv(index=False), "text/csv"
    if fmt == "dataframe_split":
        doc = {"dataframe_split": {"columns": cols, "data": rows}}
    elif fmt in ("dataframe_records", "instances"):
        doc = {fmt: [dict(zip(cols, r)) for r in rows]}
    else:
        doc = {"inputs": {c: [r[i] for r in rows] for i, c in enumerate(cols)}}
    doc["params"] = {"unused": 1}
    return json.dumps(doc), "application/json"


def assert_same_predictions(ours, theirs, where=""):
    assert isinstance(ours, dict) and isinstance(theirs, dict), (ours, theirs)
    a, b = ours["predictions"], theirs["predictions"]
    assert len(a) == len(b), where
    for i, (ra, rb) in enumerate(zip(a, b)):
        assert set(ra) == set(rb), (where, i, ra.keys(), rb.keys())
        probs = sorted((v for k, v in rb.items() if k.startswith("prob_")), reverse=True)
        for k in ra:
            if k != "prediction" or not probs:
                np.testing.assert_allclose(float(ra[k]), float(rb[k]), rtol=1e-4, atol=1e-6, err_msg=f"{where} {i} {k}")
        if probs and probs[0] - probs[1] >= 1e-5:   # the same class unless the top two are within float32 noise
            assert ra["prediction"] == rb["prediction"], (where, i, ra, rb)
            assert type(ra["prediction"]) is type(rb["prediction"]), (where, i)


# ---------------------------------------------------------------- module fixtures
@pytest.fixture(scope="module")
def uri(server):
    return server.url


@pytest.fixture(scope="module")
def tmp_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def real_pairs(uri, tmp_dir):
    """(algo, dataset) -> (cairn-train serve, mlflow models serve) on one registered model each."""
    pairs, ok = {}, False
    try:
        for algo, dataset in REAL:
            name = unique(f"serve-{algo}-{dataset}")
            train_register(uri, tmp_dir, algo, dataset, name)
            model = f"models:/{name}@champion"
            ours = start_cairn(model, uri, tmp_dir)
            pairs[(algo, dataset)] = (ours, start_mlflow(model, uri, tmp_dir))
        for ours, theirs in pairs.values():
            if not wait_http_ok(theirs.url + "/ping", 240, theirs.proc):
                pytest.fail("mlflow models serve did not start:\n" + theirs.text()[-3000:], pytrace=False)
        yield pairs
        ok = True
    finally:
        # every process is stopped whatever failed; a clean exit is checked only when nothing else failed
        errors = []
        for ours, theirs in pairs.values():
            kill_group(theirs.proc, signal.SIGTERM)
            try:
                stop_cairn(ours)
            except AssertionError as e:
                errors.append(e)
        if ok and errors:
            raise errors[0]


def post(url, data, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    return requests.post(url + "/invocations", data=data.encode() if isinstance(data, str) else data,
                         headers=headers, timeout=60)


# ---------------------------------------------------------------- tests
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("algo,dataset", REAL)
def test_predictions_match_mlflow_models_serve(real_pairs, tmp_dir, algo, dataset, fmt):
    ours, theirs = real_pairs[(algo, dataset)]
    data, ct = body(features(tmp_dir, dataset), fmt)
    a, b = post(ours.url, data, ct), post(theirs.url, data, ct)
    assert b.status_code == 200, b.text[:2000]
    assert a.status_code == 200, a.text[:2000]
    assert a.headers["Content-Type"].startswith("application/json")
    assert_same_predictions(a.json(), b.json(), f"{algo}/{dataset}/{fmt}")


def error_cases(cols, row):
    split = lambda c, r: json.dumps({"dataframe_split": {"columns": c, "data": r}})  # noqa: E731
    bad = list(row)
    bad[0] = "not a number"
    null = list(row)
    null[0] = None
    return [
        ("missing column", split(cols[1:], [row[1:]]), "application/json"),
        ("missing column csv", ",".join(cols[1:]) + "\n" + ",".join(map(str, row[1:])) + "\n", "text/csv"),
        ("wrong type", split(cols, [bad]), "application/json"),
        ("wrong type csv", ",".join(cols) + "\n" + ",".join(map(str, bad)) + "\n", "text/csv"),
        ("null", split(cols, [null]), "application/json"),
        ("bad json", '{"dataframe_split": ', "application/json"),
        ("two input keys", json.dumps({"dataframe_split": {"columns": cols, "data": [row]},
                                       "inputs": {c: [v] for c, v in zip(cols, row)}}), "application/json"),
        ("no input key", json.dumps({"data": [row]}), "application/json"),
        ("a list", json.dumps([row]), "application/json"),
        ("unnamed rows", json.dumps({"instances": [row]}), "application/json"),
        ("row too short", split(cols, [row[1:]]), "application/json"),
        ("split extra key", json.dumps({"dataframe_split": {"columns": cols, "data": [row], "x": 1}}),
         "application/json"),
        ("records not a list", json.dumps({"dataframe_records": {"a": 1}}), "application/json"),
        ("unsupported content type", "x", "text/plain"),
        ("charset", json.dumps({}), "application/json; charset=latin-1"),
        ("content type parameter", json.dumps({}), "application/json; format=pandas-split"),
        ("empty frame", split(cols, []), "application/json"),
        ("extra column", json.dumps({"dataframe_split": {"columns": cols + ["zz"], "data": [row + [1]]}}),
         "application/json"),
        ("numeric strings", split(cols, [[str(v) for v in row]]), "application/json"),
    ]


@pytest.mark.parametrize("algo,dataset", REAL[:2])
def test_errors_match_mlflow_models_serve(real_pairs, tmp_dir, algo, dataset):
    ours, theirs = real_pairs[(algo, dataset)]
    df = features(tmp_dir, dataset, 1)
    cols, row = list(df.columns), [py(v) for v in df.iloc[0]]
    seen = set()
    for what, data, ct in error_cases(cols, row):
        a, b = post(ours.url, data, ct), post(theirs.url, data, ct)
        assert a.status_code == b.status_code, (what, a.text[:500], b.text[:500])
        seen.add(a.status_code)
        if b.headers["Content-Type"].startswith("application/json") and b.status_code != 200:
            assert a.json()["error_code"] == b.json()["error_code"], (what, a.text[:500], b.text[:500])
            assert a.json()["message"], what
        elif b.status_code == 200:
            assert_same_predictions(a.json(), b.json(), what)
        else:
            assert a.headers["Content-Type"].startswith("text/plain"), what
    assert seen >= {200, 400, 415}


def test_ping_health_version(real_pairs):
    ours, theirs = real_pairs[REAL[0]]
    for path in ("/ping", "/health", "/version"):
        a, b = requests.get(ours.url + path, timeout=10), requests.get(theirs.url + path, timeout=10)
        assert (a.status_code, a.text) == (b.status_code, b.text), path
    for method, path in (("GET", "/invocations"), ("POST", "/ping"), ("GET", "/nope")):
        a = requests.request(method, ours.url + path, timeout=10)
        b = requests.request(method, theirs.url + path, timeout=10)
        assert (a.status_code, a.json()) == (b.status_code, b.json()), (method, path)


def mlflow_invocations(model, data, content_type):
    """What `mlflow models serve` answers, through the function its /invocations route runs."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server
    try:
        r = scoring_server.invocations(data, content_type, model, model.metadata.get_input_schema())
        return r.status, json.loads(r.response) if r.mimetype == "application/json" else r.response
    except MlflowException as e:
        return e.get_http_status_code(), json.loads(e.serialize_as_json())


@pytest.mark.parametrize("algo", sorted(ALGO_SETS))
def test_every_algorithm_matches_mlflow_scoring(uri, tmp_dir, algo):
    import warnings
    dataset, _ = ALGO_SETS[algo]
    name = unique(f"serve-{algo}")
    train_register(uri, tmp_dir, algo, dataset, name)
    ours = start_cairn(f"models:/{name}/1", uri, tmp_dir)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlflow.set_tracking_uri(uri)
            model = mlflow.pyfunc.load_model(f"models:/{name}/1")
        df = features(tmp_dir, dataset)
        for fmt in FORMATS:
            data, ct = body(df, fmt)
            status, theirs = mlflow_invocations(model, data, ct)
            a = post(ours.url, data, ct)
            assert (a.status_code, status) == (200, 200), (fmt, a.text[:1000], str(theirs)[:1000])
            assert_same_predictions(a.json(), theirs, f"{algo}/{fmt}")
        # a missing input: the same status and error code
        data = json.dumps({"dataframe_split": {"columns": list(df.columns[1:]), "data": df.iloc[:2, 1:].values.tolist()}})
        status, theirs = mlflow_invocations(model, data, "application/json")
        a = post(ours.url, data, "application/json")
        assert (a.status_code, a.json()["error_code"]) == (status, theirs["error_code"])
    finally:
        stop_cairn(ours)


def test_runs_uri_and_metrics(uri, tmp_dir):
    name = unique("serve-runs")
    run_id = train_register(uri, tmp_dir, "logreg", "iris", name)
    ours = start_cairn(f"runs:/{run_id}/model", uri, tmp_dir)
    try:
        df = features(tmp_dir, "iris", 7)
        data, ct = body(df, "dataframe_split")
        r = post(ours.url, data, ct)
        assert r.status_code == 200 and len(r.json()["predictions"]) == 7
        post(ours.url, "{", "application/json")
        m = requests.get(ours.url + "/metrics", timeout=10)
        assert m.status_code == 200 and m.headers["Content-Type"].startswith("text/plain")
        text = m.text
        assert 'cairn_serve_requests_total{path="/invocations",status="200"} 1' in text
        assert 'cairn_serve_requests_total{path="/invocations",status="400"} 1' in text
        assert "cairn_serve_rows_scored_total 7" in text
        assert 'cairn_serve_request_duration_seconds_bucket{le="+Inf"} 2' in text
        assert 'cairn_serve_model_info{model="runs:/' in text and 'algorithm="logreg"} 1' in text
    finally:
        stop_cairn(ours)


def test_alias_swap_under_load_loses_no_request(uri, tmp_dir):
    from mlflow import MlflowClient
    client = MlflowClient(uri)
    name = unique("serve-swap")
    train_register(uri, tmp_dir, "logreg", "iris", name)          # version 1, @champion
    train_register(uri, tmp_dir, "gbdt", "iris", name, alias="next")   # version 2
    # version 3: a run artifact that is not a Cairn model
    run = client.create_run(client.get_experiment_by_name("serve-tests").experiment_id)
    bad_dir = os.path.join(tmp_dir, unique("broken"))
    os.makedirs(bad_dir)
    with open(os.path.join(bad_dir, "model.cairn"), "w") as f:
        f.write("# not a model\nformat_version i 1 99\n")
    client.log_artifact(run.info.run_id, os.path.join(bad_dir, "model.cairn"), "broken")
    client.set_terminated(run.info.run_id)
    v3 = client.create_model_version(name, f"{run.info.artifact_uri}/broken", run.info.run_id)
    ours = start_cairn(f"models:/{name}@champion", uri, tmp_dir, "--reload-alias", "1", "--workers", "8")
    data, ct = body(features(tmp_dir, "iris", 5), "dataframe_split")
    stop = threading.Event()
    results, failures = [], []

    def hammer():
        s = requests.Session()
        while not stop.is_set():
            try:
                r = s.post(ours.url + "/invocations", data=data, headers={"Content-Type": ct}, timeout=30)
                (results if r.status_code == 200 else failures).append(r.json() if r.status_code == 200 else r.text)
            except requests.RequestException as e:
                failures.append(repr(e))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    try:
        v1 = post(ours.url, data, ct).json()
        for t in threads:
            t.start()
        time.sleep(0.5)
        client.set_registered_model_alias(name, "champion", "2")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (results and results[-1] != v1):
            time.sleep(0.2)
        client.set_registered_model_alias(name, "champion", v3.version)
        time.sleep(3)
        stop.set()
        for t in threads:
            t.join()
        assert not failures, failures[:3]
        assert len(results) > 20
        assert results[0] == v1 and results[-1] != v1          # swapped to version 2, still serving it
        assert all(r in (v1, results[-1]) for r in results)    # every reply from one model or the other
        metrics = requests.get(ours.url + "/metrics", timeout=10).text
        assert "cairn_serve_model_swaps_total 1" in metrics
        assert "cairn_serve_model_load_failures_total 1" in metrics
        assert f'version="2",algorithm="gbdt"' in metrics
    finally:
        stop.set()
        for t in threads:
            if t.is_alive():
                t.join(timeout=60)
        stop_cairn(ours)
    log = ours.text()
    assert "from version 1 to version 2" in log
    assert f"version {v3.version}, which failed to load" in log
