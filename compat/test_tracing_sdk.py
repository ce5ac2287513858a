"""The mlflow-tracing package (MLflow's lightweight tracing SDK, pinned in
compat/requirements-tracing.lock) as a client of the server under test. It
installs the same `mlflow` module as the full client, so it runs from its own
venv (.venv-tracing, made by `make venv`) in a subprocess; what it read back
is checked here against the server through the full client as well."""
import json
import os
import subprocess

import pytest

import mlflow
from conftest import unique

HERE = os.path.dirname(os.path.abspath(__file__))
SDK_PY = os.path.join(HERE, "..", ".venv-tracing", "bin", "python")

if int(mlflow.__version__.split(".")[0]) < 3:
    pytest.skip("tracing needs the mlflow 3.x client", allow_module_level=True)
pytestmark = pytest.mark.mlflow3


def test_mlflow_tracing_sdk_against_server(tracking_uri):
    assert os.path.exists(SDK_PY), "no .venv-tracing: run `make venv` (compat/requirements-tracing.lock)"
    env = dict(os.environ, MLFLOW_ENABLE_ASYNC_TRACE_LOGGING="false", PYTHONPATH="")
    name = unique("tracing-sdk")
    r = subprocess.run([SDK_PY, os.path.join(HERE, "tracing_sdk", "client.py"), tracking_uri, name],
                       capture_output=True, text=True, env=env, timeout=240, cwd="/")
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    # the SDK is the lightweight package, not the full client
    probe = subprocess.run([SDK_PY, "-c", "import importlib.util as u; print(u.find_spec('mlflow.server'))"],
                           capture_output=True, text=True, env=env, cwd="/")
    assert probe.stdout.strip() == "None" and out["version"] == mlflow.__version__
    ok, err = out["ok"], out["err"]
    assert ok["state"].endswith("OK") and ok["tags"] == "mlflow-tracing"
    assert ok["spans"] == ["answer", "pipeline", "retrieve"]
    assert ok["llm_outputs"] == [{"answer": "HELLO", "tokens": [1, 2, 3]}]
    assert ok["request_preview"] and "hello" in ok["request_preview"]
    assert err["state"].endswith("ERROR") and "exception" in err["events"]
    assert out["search"] == [ok["id"]] and out["search_all"] == 2
    assert out["assessments"] == [["helpful", "clear"]]
    # the full client sees the same traces the SDK wrote
    c = mlflow.MlflowClient(tracking_uri)
    t = c.get_trace(ok["id"])
    assert {s.name for s in t.data.spans} == {"answer", "pipeline", "retrieve"}
    assert [a.assessment_id for a in t.info.assessments] == [out["feedback_id"]]
    assert c.get_trace(err["id"]).info.state.value == "ERROR"
