"""cairn-train against a tracking server (cairn-server, and MLflow's own server):
runs, params, metrics, dataset inputs and the model visible through the Python
client; mlflow.pyfunc.load_model parity with `cairn-train predict`; onnxruntime
parity; bad input (exit 2, nothing logged) and an unreachable server (exit 3).

The trainer binary comes from $CAIRN_TRAIN (default build/cairn-train)."""
import io
import os
import subprocess
import warnings

import pytest

from conftest import REPO, unique

mlflow = pytest.importorskip("mlflow")
pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")
if int(mlflow.__version__.split(".")[0]) < 3:
    pytest.skip("cairn-train models are MLflow 3 logged models", allow_module_level=True)
ort = pytest.importorskip("onnxruntime")

TRAIN = os.environ.get("CAIRN_TRAIN") or os.path.join(REPO, "build/cairn-train")
DATA = os.path.join(REPO, "tests/data")
# (dataset, target, regression?)
SETS = {"iris": ("target", False), "breast_cancer": ("target", False), "diabetes": ("target", True),
        "mixed": ("label", False), "wine": ("target", False)}
ALGOS = {"dummy": ["iris", "diabetes"], "linear": ["diabetes"], "ridge": ["diabetes"],
         "logreg": ["iris", "breast_cancer", "mixed"], "gbdt": ["wine", "breast_cancer", "diabetes", "mixed"],
         "rf": ["iris", "breast_cancer", "diabetes", "mixed"], "extra_trees": ["wine", "diabetes"],
         "mlp": ["iris", "breast_cancer", "diabetes", "mixed"], "knn": ["iris", "wine", "diabetes", "mixed"],
         "gaussian_nb": ["iris", "breast_cancer", "wine"]}
CASES = [(a, d) for a, ds in ALGOS.items() for d in ds]


def train(args, uri=None, env_extra=None, check=True):
    if not os.access(TRAIN, os.X_OK):
        pytest.fail(f"{TRAIN} not built (make build)", pytrace=False)
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0.2",
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"})
    env.update(env_extra or {})
    cmd = [TRAIN] + args + (["--tracking-uri", uri] if uri else [])
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if check and out.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}", pytrace=False)
    return out


def run_id_of(stdout):
    for line in stdout.splitlines():
        if line.startswith("run "):
            return line.split()[1]
    raise AssertionError(f"no run id in:\n{stdout}")


def features(name):
    target, _ = SETS[name]
    df = pd.read_csv(os.path.join(DATA, f"{name}.csv"))
    X = df.drop(columns=[target])
    # mlflow.onnx feeds each column's .values to onnxruntime, which wants a
    # numpy object array of str for a string input: not pandas 3's default
    # string dtype (an Arrow-backed array), and no NaN in it.
    for c in X.columns:
        if not pd.api.types.is_numeric_dtype(X[c]):
            X[c] = X[c].fillna("").astype(object)
    return X


def native_predict(model, data, uri=None):
    out = train(["predict", "--model", model, "--data", data], uri=uri)
    return pd.read_csv(io.StringIO(out.stdout), dtype={"prediction": str})


def assert_parity(native, other, regression):
    """Same class on ≥ 99.9 % of rows; values within 1e-4 relative (float32 in ONNX)."""
    if regression:
        np.testing.assert_allclose(np.asarray(other["prediction"], float), native["prediction"].astype(float),
                                   rtol=1e-4, atol=1e-6)
        return
    same = np.mean(np.asarray(other["prediction"]).astype(str) == native["prediction"].astype(str).values)
    assert same >= 0.999, same
    for col in native.columns[1:]:
        np.testing.assert_allclose(np.asarray(other[col], float), native[col].astype(float), rtol=1e-4, atol=1e-6,
                                   err_msg=col)


@pytest.fixture(params=["server", "mlflow_server"])
def any_server(request):
    """The module's server (cairn-server by default) and MLflow's reference server."""
    srv = request.getfixturevalue(request.param)
    mlflow.set_tracking_uri(srv.url)
    return srv


def artifacts_supported(srv):
    import requests
    r = requests.put(f"{srv.url}/api/2.0/mlflow-artifacts/artifacts/0/probe-{unique()}.txt", data=b"x",
                     headers={"Content-Type": "text/plain"}, timeout=10)
    return r.status_code == 200


def test_fit_logs_run(any_server, tmp_path):
    exp = unique("trainer")
    out = train(["fit", "--data", f"{DATA}/iris.csv", "--target", "target", "--algo", "gbdt", "--seed", "3",
                 "--param", "n_estimators=20", "--experiment", exp, "--run-name", "iris-gbdt",
                 "--output-dir", str(tmp_path / "m")], uri=any_server.url)
    run_id = run_id_of(out.stdout)
    client = mlflow.MlflowClient(any_server.url)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "iris-gbdt"
    assert run.data.params["n_estimators"] == "20"
    assert run.data.params["num_leaves"] == "31"       # defaults are logged too
    assert run.data.params["algorithm"] == "gbdt"
    assert run.data.tags["estimator_class"] == "cairn.gbdt.HistGradientBoosting"
    m = run.data.metrics
    for key in ("training_accuracy_score", "val_accuracy_score", "val_f1_score", "val_log_loss", "val_roc_auc",
                "training_score", "fit_time_s", "peak_rss_mb"):
        assert key in m, key
    assert m["val_accuracy_score"] >= 0.9
    hist = client.get_metric_history(run_id, "val_loss")
    assert sorted(h.step for h in hist) == list(range(1, 21))
    (ds,) = run.inputs.dataset_inputs
    assert ds.dataset.name == "iris"
    assert len(ds.dataset.digest) == 8
    assert '"num_rows": 150' in ds.dataset.profile
    assert "sepal length (cm)" in ds.dataset.schema
    assert {t.key: t.value for t in ds.tags}["mlflow.data.context"] == "training"


@pytest.mark.parametrize("algo,dataset", CASES)
def test_pyfunc_parity(any_server, tmp_path, algo, dataset):
    if not artifacts_supported(any_server):
        pytest.xfail(f"{any_server.kind} server does not accept artifact uploads yet")
    target, regression = SETS[dataset]
    name = unique(f"{algo}-{dataset}")
    out = train(["fit", "--data", f"{DATA}/{dataset}.csv", "--target", target, "--algo", algo, "--seed", "1",
                 "--experiment", unique("parity"), "--output-dir", str(tmp_path / "m"),
                 "--register-model", name, "--alias", "champion"], uri=any_server.url)
    run_id = run_id_of(out.stdout)
    run = mlflow.MlflowClient(any_server.url).get_run(run_id)
    (output,) = run.outputs.model_outputs
    lm = mlflow.MlflowClient(any_server.url).get_logged_model(output.model_id)
    assert lm.status in ("READY", "LOGGED_MODEL_READY") or str(lm.status).endswith("READY")
    assert lm.source_run_id == run_id
    native = native_predict(str(tmp_path / "m"), f"{DATA}/{dataset}.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
        pred = model.predict(features(dataset))
    assert_parity(native, pred, regression)
    # predict from the registry gives the same as from the local directory
    remote = native_predict(f"models:/{name}@champion", f"{DATA}/{dataset}.csv", uri=any_server.url)
    pd.testing.assert_frame_equal(remote, native)


@pytest.mark.parametrize("algo,dataset", CASES)
def test_onnxruntime_equals_native(tmp_path, algo, dataset):
    target, regression = SETS[dataset]
    train(["fit", "--data", f"{DATA}/{dataset}.csv", "--target", target, "--algo", algo, "--seed", "2",
           "--output-dir", str(tmp_path / "m")])
    import onnx
    onnx.checker.check_model(str(tmp_path / "m" / "model.onnx"), full_check=True)
    sess = ort.InferenceSession(str(tmp_path / "m" / "model.onnx"), providers=["CPUExecutionProvider"])
    X = features(dataset)
    feed = {}
    for inp in sess.get_inputs():
        col = X[inp.name].values
        feed[inp.name] = (col.astype(np.float32) if inp.type == "tensor(float)" else
                          col.astype(np.int64) if inp.type == "tensor(int64)" else col.astype(object))
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(None, feed)))
    assert_parity(native_predict(str(tmp_path / "m"), f"{DATA}/{dataset}.csv"), got, regression)


def test_same_seed_same_model(tmp_path):
    for d in ("a", "b"):
        train(["fit", "--data", f"{DATA}/mixed.csv", "--target", "label", "--algo", "gbdt", "--seed", "5",
               "--param", "feature_fraction=0.6", "--param", "bagging_fraction=0.8", "--param", "bagging_freq=1",
               "--output-dir", str(tmp_path / d)])
    for f in ("model.onnx", "model.cairn"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


@pytest.mark.parametrize("args,message", [
    (["--target", "nope", "--algo", "gbdt"], "target column"),
    (["--target", "target", "--algo", "xgboost"], "unknown algorithm"),
    (["--target", "target", "--algo", "gbdt", "--param", "nope=1"], "unknown parameter"),
    (["--target", "target", "--algo", "gbdt", "--param", "learning_rate=-1"], "out of range"),
    (["--target", "target", "--algo", "logreg", "--task", "regression"], "regression"),
])
def test_bad_input_exit_2_nothing_logged(server, tmp_path, args, message):
    exp = unique("bad")
    out = train(["fit", "--data", f"{DATA}/iris.csv", "--experiment", exp, "--output-dir", str(tmp_path / "m")]
                + args, uri=server.url, check=False)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    client = mlflow.MlflowClient(server.url)
    e = client.get_experiment_by_name(exp)
    assert e is None or not [r for r in client.search_runs([e.experiment_id]) if r.info.status == "FINISHED"]


def test_bad_csv_exit_2(tmp_path):
    (tmp_path / "ragged.csv").write_text("a,b,y\n1,2,3\n4,5\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "text.csv").write_text("a,y\n1,x\n2,y\n3,z\n")
    for f, extra in (("ragged.csv", []), ("empty.csv", []), ("text.csv", ["--task", "regression"])):
        out = train(["fit", "--data", str(tmp_path / f), "--target", "y", "--algo", "linear"] + extra, check=False)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, (f, out.stderr)


def test_unreachable_server_exit_3_model_written(tmp_path):
    out = train(["fit", "--data", f"{DATA}/iris.csv", "--target", "target", "--algo", "logreg",
                 "--output-dir", str(tmp_path / "m")], uri="http://127.0.0.1:9",
                env_extra={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0.05"},
                check=False)
    assert out.returncode == 3, out.stderr
    assert (tmp_path / "m" / "MLmodel").exists() and (tmp_path / "m" / "model.onnx").exists()
    native = native_predict(str(tmp_path / "m"), f"{DATA}/iris.csv")
    assert len(native) == 150


@pytest.mark.parametrize("algo,steps,params", [("mlp", None, ["--param", "max_iter=15", "--param", "tol=0"]),
                                               ("rf", 12, ["--param", "n_estimators=12"])])
def test_step_metrics_and_evaluation_artifacts(any_server, tmp_path, algo, steps, params):
    """Per-epoch (mlp) / per-tree (rf) losses with steps; fit time and peak
    memory; evaluation SVG + JSON uploaded with the run."""
    import json
    import xml.etree.ElementTree as ET
    out = train(["fit", "--data", f"{DATA}/iris.csv", "--target", "target", "--algo", algo, "--seed", "4",
                 "--experiment", unique("steps"), "--output-dir", str(tmp_path / "m")] + params, uri=any_server.url)
    run_id = run_id_of(out.stdout)
    client = mlflow.MlflowClient(any_server.url)
    expected = list(range(1, (steps or 15) + 1))
    for key in ("train_loss", "val_loss"):
        hist = client.get_metric_history(run_id, key)
        assert sorted(h.step for h in hist) == expected, key
    m = client.get_run(run_id).data.metrics
    assert m["fit_time_s"] > 0 and m["peak_rss_mb"] > 1
    names = ["confusion_matrix", "roc_curve", "precision_recall_curve", "permutation_importance"]
    local = tmp_path / "m" / "evaluation"
    for stem in names:
        ET.parse(local / f"{stem}.svg")
        json.loads((local / f"{stem}.json").read_text())
    cm = json.loads((local / "confusion_matrix.json").read_text())
    assert cm["labels"] == ["0", "1", "2"] and sum(map(sum, cm["matrix"])) == cm["n"] == 30
    imp = json.loads((local / "permutation_importance.json").read_text())
    assert {f["feature"] for f in imp["features"]} == {"sepal length (cm)", "sepal width (cm)",
                                                        "petal length (cm)", "petal width (cm)"}
    if not artifacts_supported(any_server):
        return
    listed = {f.path for f in client.list_artifacts(run_id, "evaluation")}
    assert listed == {f"evaluation/{s}.{ext}" for s in names for ext in ("svg", "json")}
    got = client.download_artifacts(run_id, "evaluation/roc_curve.json", str(tmp_path / "dl"))
    roc = json.loads(open(got).read())
    assert [c["class"] for c in roc["curves"]] == ["0", "1", "2"] and all(0.5 <= c["auc"] <= 1 for c in roc["curves"])


def test_regression_residuals_and_explain(any_server, tmp_path):
    import json
    import xml.etree.ElementTree as ET
    if not artifacts_supported(any_server):
        pytest.xfail(f"{any_server.kind} server does not accept artifact uploads yet")
    name = unique("explain")
    out = train(["fit", "--data", f"{DATA}/diabetes.csv", "--target", "target", "--algo", "rf", "--seed", "1",
                 "--param", "n_estimators=20", "--experiment", unique("explain"), "--output-dir", str(tmp_path / "m"),
                 "--register-model", name], uri=any_server.url)
    run_id = run_id_of(out.stdout)
    client = mlflow.MlflowClient(any_server.url)
    listed = {f.path for f in client.list_artifacts(run_id, "evaluation")}
    assert {"evaluation/residuals.svg", "evaluation/residuals.json"} <= listed
    res = json.loads((tmp_path / "m" / "evaluation" / "residuals.json").read_text())
    assert res["n"] == len(res["residual"]) == 89
    # explain from the registry and from the local directory: the same numbers
    train(["explain", "--model", f"models:/{name}/1", "--data", f"{DATA}/diabetes.csv", "--output-dir",
           str(tmp_path / "x1"), "--n-repeats", "3"], uri=any_server.url)
    train(["explain", "--model", str(tmp_path / "m"), "--data", f"{DATA}/diabetes.csv", "--output-dir",
           str(tmp_path / "x2"), "--n-repeats", "3"])
    a = json.loads((tmp_path / "x1" / "permutation_importance.json").read_text())
    b = json.loads((tmp_path / "x2" / "permutation_importance.json").read_text())
    assert a == b and a["scoring"] == "r2" and a["n_repeats"] == 3 and a["n_rows"] == 442
    assert a["features"][0]["importance_mean"] >= a["features"][-1]["importance_mean"]
    assert a["features"][0]["feature"] in ("bmi", "s5")
    ET.parse(tmp_path / "x1" / "permutation_importance.svg")


def test_explain_bad_input(tmp_path):
    train(["fit", "--data", f"{DATA}/iris.csv", "--target", "target", "--algo", "knn", "--output-dir",
           str(tmp_path / "m"), "--no-evaluation"])
    assert not (tmp_path / "m" / "evaluation").exists()
    (tmp_path / "nolabel.csv").write_text("sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n"
                                          "5.1,3.5,1.4,0.2\n")
    out = train(["explain", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "nolabel.csv"),
                 "--output-dir", str(tmp_path / "x")], check=False)
    assert out.returncode == 2 and "target column" in out.stderr


def test_folds_file_no_refit(tmp_path):
    folds = tmp_path / "folds.csv"
    folds.write_text("fold\n" + "".join(f"{i % 3}\n" for i in range(150)))
    out = train(["fit", "--data", f"{DATA}/iris.csv", "--target", "target", "--algo", "gaussian_nb",
                 "--folds", str(folds), "--no-refit", "--output-dir", str(tmp_path / "m")])
    lines = [l for l in out.stdout.splitlines() if l.startswith("fold ")]
    assert len(lines) == 3 and "cv accuracy_score=" in out.stdout
    assert not (tmp_path / "m").exists()
    folds.write_text("0\n1\n")
    out = train(["fit", "--data", f"{DATA}/iris.csv", "--target", "target", "--algo", "gaussian_nb",
                 "--folds", str(folds)], check=False)
    assert out.returncode == 2 and "2 folds for 150 data rows" in out.stderr
