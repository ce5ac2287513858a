"""Run by compat/test_tracing_sdk.py with .venv-tracing's python: the
mlflow-tracing package (the lightweight SDK, no full mlflow installed)
traces against the server given as argv[1] in experiment argv[2], reads its
traces back, logs assessments, and prints one JSON line of what it saw."""
import json
import sys

import mlflow
from mlflow.entities import AssessmentSource, AssessmentSourceType

uri, exp_name = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(uri)
exp = mlflow.set_experiment(exp_name)
out = {"version": mlflow.__version__, "experiment_id": exp.experiment_id}


@mlflow.trace(span_type="LLM")
def answer(question):
    return {"answer": question.upper(), "tokens": [1, 2, 3]}


@mlflow.trace(name="pipeline")
def pipeline(q):
    mlflow.update_current_trace(tags={"sdk": "mlflow-tracing"})
    with mlflow.start_span(name="retrieve", span_type="RETRIEVER") as s:
        s.set_inputs({"q": q})
        s.set_outputs(["doc-1", "doc-2"])
    return answer(q)


@mlflow.trace
def fails():
    raise ValueError("boom")


pipeline("hello")
ok_id = mlflow.get_last_active_trace_id()
try:
    fails()
except ValueError:
    pass
err_id = mlflow.get_last_active_trace_id()
mlflow.flush_trace_async_logging() if hasattr(mlflow, "flush_trace_async_logging") else None

t = mlflow.get_trace(ok_id)
out["ok"] = {"id": ok_id, "state": str(t.info.state), "tags": t.info.tags.get("sdk"),
             "spans": sorted(s.name for s in t.data.spans),
             "llm_outputs": [s.outputs for s in t.data.spans if s.name == "answer"],
             "request_preview": t.info.request_preview}
e = mlflow.get_trace(err_id)
out["err"] = {"id": err_id, "state": str(e.info.state),
              "events": [ev.name for s in e.data.spans for ev in s.events]}
found = mlflow.search_traces(locations=[exp.experiment_id], filter_string="tags.sdk = 'mlflow-tracing'",
                             return_type="list")
out["search"] = [x.info.trace_id for x in found]
out["search_all"] = len(mlflow.search_traces(locations=[exp.experiment_id], return_type="list"))
fb = mlflow.log_feedback(trace_id=ok_id, name="helpful", value=True, rationale="clear",
                         source=AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="ana"))
ex = mlflow.log_expectation(trace_id=ok_id, name="expected", value="HELLO")
mlflow.delete_assessment(trace_id=ok_id, assessment_id=ex.assessment_id)
t = mlflow.get_trace(ok_id)
out["assessments"] = sorted((a.name, a.rationale) for a in t.info.assessments)
out["feedback_id"] = fb.assessment_id
print(json.dumps(out, default=str))
