"""The data the web-UI suite (compat/test_ui.py) browses, logged with the real
mlflow client: one experiment with several runs (params, metric histories,
tags, system metrics, a text file, a JSON file, a PNG, an SVG, an sklearn
model with its logged model), a registered model with two versions (from two
runs' models with different signatures), tags and an alias, and a prompt."""
import json
import os
import struct
import tempfile
import time
import uuid
import zlib

PNG_W, PNG_H = 24, 16
SVG_W, SVG_H = 40, 30
RUNS = [("ui-run-alpha", "0.1"), ("ui-run-beta", "0.01"), ("ui-run-gamma", "0.001")]   # name, learning_rate
YAML = "model:\n  kind: logistic\n  penalty: l2\nsteps: [scale, fit]\n"
CSV = "city,population,area\nOslo,709037,454\nBergen,291940,465\nTromso,77544,2521\n"
# An HTML report whose script tries to reach the UI's page: the preview must keep it
# in an opaque-origin sandbox (the script runs, the parent stays out of reach).
HTML = ("<html><body><h1>HTML report body</h1><p id='r'>probe pending</p><script>"
        "var r = document.getElementById('r');"
        "try { parent.document.title = 'pwned'; r.textContent = 'probe reached the UI'; }"
        " catch (e) { r.textContent = 'probe sandboxed'; }</script></body></html>\n")
BIG_LINES = 100_000       # 4.5 MB: fetched and shown whole (the UI previews up to 50 MiB)


def big_log():
    return "".join(f"big line {i:06d} of the streamed preview test\n" for i in range(BIG_LINES))


SVG = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_W}" height="{SVG_H}">'
       f'<rect width="{SVG_W}" height="{SVG_H}" fill="#3a7"/></svg>\n')


def png_bytes(w=PNG_W, h=PNG_H):
    """A small RGB PNG, written with the standard library."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    rows = b"".join(b"\x00" + b"".join(bytes((x * 10 % 256, y * 15 % 256, 128)) for x in range(w))
                    for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def seed(uri):
    """Logs everything against the server at uri; returns the names and ids."""
    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    tag = uuid.uuid4().hex[:6]
    out = {"experiment_name": f"ui-experiment-{tag}", "runs": {}}
    exp_id = client.create_experiment(out["experiment_name"], tags={"team": "cairn-ui"})
    out["experiment_id"] = exp_id

    tmp = tempfile.mkdtemp(prefix="ui-seed-")
    with open(os.path.join(tmp, "notes.txt"), "w") as f:
        f.write("hello from the UI suite\nsecond line\n")
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump({"alpha": 0.5, "layers": [64, 32]}, f)
    with open(os.path.join(tmp, "plot.png"), "wb") as f:
        f.write(png_bytes())
    with open(os.path.join(tmp, "shape.svg"), "w") as f:
        f.write(SVG)
    extra = {"params.yaml": YAML, "table.csv": CSV, "report.html": HTML, "big.log": big_log()}
    for name, text in extra.items():
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)

    t0 = int(time.time() * 1000) - 60_000
    for i, (name, lr) in enumerate(RUNS):
        run = client.create_run(exp_id, run_name=name, start_time=t0 + i * 1000,
                                tags={"stage": "dev" if i else "prod"})
        rid = run.info.run_id
        out["runs"][name] = rid
        client.log_param(rid, "learning_rate", lr)
        client.log_param(rid, "optimizer", "adam")
        for step in range(10):
            client.log_metric(rid, "loss", 1.0 / (step + 1 + i), timestamp=t0 + step * 100, step=step)
            client.log_metric(rid, "accuracy", 0.5 + step * 0.04 - i * 0.01, timestamp=t0 + step * 100, step=step)
            client.log_metric(rid, "system/cpu_utilization_percentage", 20.0 + step, timestamp=t0 + step * 100,
                              step=step)
        client.log_artifact(rid, os.path.join(tmp, "notes.txt"))
        client.log_artifact(rid, os.path.join(tmp, "config.json"))
        client.log_artifact(rid, os.path.join(tmp, "plot.png"), "images")
        client.log_artifact(rid, os.path.join(tmp, "shape.svg"), "images")
        if i == 0:
            for name in extra:
                client.log_artifact(rid, os.path.join(tmp, name), "previews")
        client.set_terminated(rid, end_time=t0 + i * 1000 + 5000)

    # an sklearn model logged from the first run (an MLflow 3 logged model)
    first = out["runs"]["ui-run-alpha"]
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.2]])
    y = np.array([0, 1, 0, 1])
    model = LogisticRegression().fit(X, y)
    mlflow.set_experiment(experiment_id=exp_id)
    with mlflow.start_run(run_id=first):
        info = mlflow.sklearn.log_model(model, name="model", input_example=X[:2],
                                        pip_requirements=["scikit-learn"])  # no slow inference
    out["logged_model_id"] = info.model_id
    out["model_uri"] = info.model_uri

    # a second model from the second run, on named columns (a column-based signature), for
    # the second version: comparing the versions shows different params, metrics and schemas
    import pandas as pd
    second = out["runs"]["ui-run-beta"]
    frame = pd.DataFrame({"height": X[:, 0], "width": X[:, 1]})
    with mlflow.start_run(run_id=second):
        info2 = mlflow.sklearn.log_model(LogisticRegression().fit(frame, y), name="model", input_example=frame[:2],
                                         pip_requirements=["scikit-learn"])
    out["logged_model_id_2"] = info2.model_id

    rm = f"ui-model-{tag}"
    out["registered_model"] = rm
    client.create_registered_model(rm, tags={"owner": "ui-suite"}, description="a model for the UI suite")
    v1 = mlflow.register_model(info.model_uri, rm, tags={"quality": "good"})
    v2 = mlflow.register_model(info2.model_uri, rm)
    client.update_model_version(rm, v2.version, description="second version")
    client.set_registered_model_alias(rm, "champion", v2.version)
    out["versions"] = [v1.version, v2.version]

    prompt = f"ui-prompt-{tag}"
    mlflow.genai.register_prompt(name=prompt, template="Summarise {{text}} in {{n}} words.",
                                 commit_message="first")
    out["prompt"] = prompt
    mlflow.end_run()
    return out


if __name__ == "__main__":
    import sys
    print(json.dumps(seed(sys.argv[1]), indent=1))
